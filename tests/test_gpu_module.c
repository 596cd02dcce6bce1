/* test_gpu_module.c — the Module on gpu(0) against the same Module on cpu(0)
 * (label gpu; exits 77, "skipped", when the build has no CUDA or no device
 * is visible). The model is the tutorial MLP (fc1 64, relu, fc2 10,
 * SoftmaxOutput) on the tutorial's synthetic data (10 classes, 128
 * features, batches of 32), both modules initialised from the same
 * initializer and seed.
 *
 *  - one context gpu(0): after forward_backward the outputs and every
 *    parameter gradient equal the CPU module's (1e-4 relative, values below
 *    0.1 compared absolutely at 1e-5).
 *  - one context gpu(0), 20 steps of forward_backward + mt_module_update,
 *    once with sgd (learning_rate 0.1, momentum 0.9, wd 1e-4) and once with
 *    adam (learning_rate 0.01, wd 1e-4), each optimizer's update running on
 *    the GPU (kernels/cuda/optimizer.cu): outputs agree with the CPU
 *    module's at every step and the parameters after step 20 agree (sgd to
 *    the tolerance above; adam to 1e-3, because Adam's step m/sqrt(v) is
 *    scale-free, so where a gradient is near zero the GPU's other summation
 *    order moves the step by a larger fraction of the learning rate). A
 *    third module on gpu(0), stepped by a CPU optimizer of the same settings
 *    (gradients copied off the device, weights copied back), must end with
 *    the GPU-updated module's parameters to 1e-6: there the gradients are
 *    the same GPU gradients, so the comparison isolates the update kernels.
 *  - contexts {gpu(0), gpu(0)} (the same GPU twice, the way the
 *    multi-context path is tested on a one-GPU machine): forward outputs,
 *    merged, equal the one-context CPU module's; the two slots' gradients
 *    sum to the CPU gradients; then a training step (local kvstore, summed
 *    on the device) matches the CPU step.
 *  - contexts {gpu(0), gpu(0)} with each executor on a CUDA stream of its
 *    own (the default for several GPU contexts) against the same module
 *    with MODTRAIN_GPU_STREAMS=0 (everything on the legacy default stream):
 *    20 steps of sgd with momentum on a 128-4096-10 net at batch 2048 (wide
 *    enough that a missing wait shows), gradients reduced in small buckets
 *    that start during backward, and a rebind to batch 1024 and back in the
 *    middle. The streams are there (absent for one context or with the
 *    variable set; kept across the rebind), and outputs at every step and
 *    the parameters after step 20 are the same bits: the streams change when
 *    work runs, never what it computes.
 *  - contexts {gpu(0), gpu(1)} where two GPUs are visible (skipped, saying
 *    so, with one): each slot on its own device and stream, 20 steps with
 *    the local kvstore (peer copies, summed on gpu(0)) and with nccl; the
 *    local run gives the {gpu(0), gpu(0)} run's bits (the same sums in the
 *    same order), the nccl run agrees with it to 1e-4. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "src/executor.h"
#include "src/module.h"
#include "testutil.h"

#ifdef MT_HAVE_CUDA

enum { CLASSES = 10, FEATURES = 128, SAMPLES = 640, BATCH = 32, STEPS = 20 };
#define OPT_PARAMS "learning_rate=0.1 momentum=0.9 wd=0.0001"
#define TOL 1e-4
#define FLOOR 0.1

/* The tolerance of expect_close: TOL unless a test sets another. */
static double tol = TOL;

/* A bound module with parameters from xavier(magnitude=2, seed 0); with the
 * optimizer `opt_name` (opt_params) when with_opt. */
static mt_module *make_module_opt(mt_symbol *net, int nctx, const mt_context *ctxs,
                                  mt_data_iter *it, int with_opt, const char *opt_name,
                                  const char *opt_params) {
  mt_module *m;
  MT_ASSERT_OK(mt_module_create(net, 0, NULL, 0, NULL, nctx, ctxs, &m));
  int nd, nl;
  const mt_data_desc *dd, *ld;
  MT_ASSERT_OK(mt_data_iter_provide_data(it, &nd, &dd));
  MT_ASSERT_OK(mt_data_iter_provide_label(it, &nl, &ld));
  MT_ASSERT_OK(mt_module_bind(m, nd, dd, nl, ld, 1, 0, 0, MT_REQ_WRITE));
  mt_initializer *init;
  MT_ASSERT_OK(mt_initializer_create("xavier magnitude=2", 0, &init));
  MT_ASSERT_OK(mt_module_init_params(m, init, NULL, NULL, 0, 0, 0));
  mt_initializer_free(init);
  if (with_opt) MT_ASSERT_OK(mt_module_init_optimizer(m, "local", opt_name, opt_params, 0));
  return m;
}

static mt_module *make_module(mt_symbol *net, int nctx, const mt_context *ctxs, mt_data_iter *it,
                              int with_opt) {
  return make_module_opt(net, nctx, ctxs, it, with_opt, "sgd", OPT_PARAMS);
}

static float *host_copy(const mt_ndarray *a) {
  float *h = malloc(sizeof(float) * (size_t)(a->size > 0 ? a->size : 1));
  assert_non_null(h);
  MT_ASSERT_OK(mt_ndarray_copy_to(a, h, a->size));
  return h;
}

/* Worst |g - c| / max(|c|, FLOOR); fails above tol. g and c are host values. */
static double expect_close(const char *what, const float *g, const float *c, int64_t n) {
  double worst = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = fabs((double)g[i] - (double)c[i]) / fmax(fabs((double)c[i]), FLOOR);
    if (isnan(d)) d = INFINITY;
    if (d > tol)
      fail_msg("%s: element %lld: gpu %.9g cpu %.9g (error %.3g > %.1g)", what, (long long)i,
               (double)g[i], (double)c[i], d, tol);
    worst = fmax(worst, d);
  }
  return worst;
}

static double compare_arrays(const char *what, const mt_ndarray *gpu, const mt_ndarray *cpu) {
  assert_int_equal(gpu->size, cpu->size);
  float *g = host_copy(gpu), *c = host_copy(cpu);
  double w = expect_close(what, g, c, cpu->size);
  free(g);
  free(c);
  return w;
}

static double compare_outputs(const char *what, mt_module *gm, mt_module *cm) {
  int ng, nc;
  mt_ndarray *const *go, *const *co;
  MT_ASSERT_OK(mt_module_get_outputs(gm, &ng, &go));
  MT_ASSERT_OK(mt_module_get_outputs(cm, &nc, &co));
  assert_int_equal(ng, nc);
  double w = 0;
  for (int i = 0; i < ng; i++) w = fmax(w, compare_arrays(what, go[i], co[i]));
  return w;
}

static double compare_params(const char *what, mt_module *gm, mt_module *cm, int exact) {
  const mt_arena *ga, *ca;
  MT_ASSERT_OK(mt_module_get_params(gm, &ga, NULL));
  MT_ASSERT_OK(mt_module_get_params(cm, &ca, NULL));
  assert_int_equal(mt_arena_count(ga), mt_arena_count(ca));
  double w = 0;
  char msg[160];
  for (int i = 0; i < mt_arena_count(ca); i++) {
    const mt_ndarray *g = mt_arena_at(ga, i), *c = mt_arena_at(ca, i);
    assert_string_equal(mt_arena_name(ga, i), mt_arena_name(ca, i));
    snprintf(msg, sizeof msg, "%s: %s", what, mt_arena_name(ca, i));
    if (exact) {
      if (memcmp(mt_ndarray_data(g), mt_ndarray_data(c), sizeof(float) * (size_t)c->size))
        fail_msg("%s differs", msg);
    } else {
      w = fmax(w, compare_arrays(msg, g, c));
    }
  }
  return w;
}

/* Gradients of every parameter: the sum over the module's slots (host
 * values, nparam arrays) — the gradient of the whole batch. */
static float **slot_grad_sum(mt_module *m) {
  float **sum = calloc((size_t)m->nparam, sizeof *sum);
  for (int i = 0; i < m->nparam; i++)
    for (int s = 0; s < m->group.nslots; s++) {
      float *h = host_copy(mt_arena_at(m->group.slots[s].grads, i));
      if (!sum[i]) {
        sum[i] = h;
        continue;
      }
      for (int64_t j = 0; j < mt_arena_at(m->group.slots[s].grads, i)->size; j++) sum[i][j] += h[j];
      free(h);
    }
  return sum;
}

static double compare_grads(const char *what, mt_module *gm, mt_module *cm) {
  assert_int_equal(gm->nparam, cm->nparam);
  float **g = slot_grad_sum(gm), **c = slot_grad_sum(cm);
  double w = 0;
  char msg[160];
  for (int i = 0; i < cm->nparam; i++) {
    snprintf(msg, sizeof msg, "%s: gradient of %s", what, cm->param_names[i]);
    w = fmax(w, expect_close(msg, g[i], c[i], mt_arena_at(cm->group.slots[0].grads, i)->size));
    free(g[i]);
    free(c[i]);
  }
  free(g);
  free(c);
  return w;
}

static void next_batch(mt_data_iter *it, mt_batch *b) {
  int rc = mt_data_iter_next(it, b);
  if (rc == 0) {
    MT_ASSERT_OK(mt_data_iter_reset(it));
    rc = mt_data_iter_next(it, b);
  }
  MT_ASSERT_OK(rc);
  assert_int_equal(rc, 1);
}

static void test_single_gpu_gradients_match_cpu(void **state) {
  mt_symbol *net = tu_mlp(64, "relu", 10);
  mt_data_iter *it;
  MT_ASSERT_OK(mt_synthetic_iter_create(CLASSES, FEATURES, SAMPLES, BATCH, 0, 0, 0, &it));
  mt_module *cm = make_module(net, 1, (mt_context[]){mt_cpu(0)}, it, 0);
  mt_module *gm = make_module(net, 1, (mt_context[]){mt_gpu(0)}, it, 0);
  compare_params("initial parameters", gm, cm, 1);
  mt_batch b;
  next_batch(it, &b);
  MT_ASSERT_OK(mt_module_forward_backward(cm, &b));
  MT_ASSERT_OK(mt_module_forward_backward(gm, &b));
  double wo = compare_outputs("gpu(0) outputs", gm, cm);
  double wg = compare_grads("gpu(0)", gm, cm);
  print_message("  gpu(0) module, one step: outputs %.2e, gradients %.2e\n", wo, wg);
  mt_module_free(gm);
  mt_module_free(cm);
  mt_data_iter_free(it);
  mt_symbol_free(net);
}

/* What mt_module_update does for one context, with a CPU optimizer: the
 * GPU's gradients come to the host, the updated weights go back. */
static void host_update(mt_module *gm, mt_optimizer *opt) {
  mt_exec_slot *s0 = &gm->group.slots[0];
  for (int i = 0; i < gm->nparam; i++) {
    mt_ndarray *w = mt_arena_at(s0->params, i), *g = mt_arena_at(s0->grads, i), *hw, *hg;
    MT_ASSERT_OK(mt_ndarray_create(w->shape, mt_cpu(0), &hw));
    MT_ASSERT_OK(mt_ndarray_create(g->shape, mt_cpu(0), &hg));
    MT_ASSERT_OK(mt_ndarray_copy(hw, w));
    MT_ASSERT_OK(mt_ndarray_copy(hg, g));
    MT_ASSERT_OK(mt_optimizer_update(opt, i, gm->param_names[i], hw, hg));
    MT_ASSERT_OK(mt_ndarray_copy(w, hw));
    mt_ndarray_free(hw);
    mt_ndarray_free(hg);
  }
  gm->params_dirty = 1;
}

/* STEPS steps of forward_backward + update with optimizer `opt_name` on a
 * CPU module (cm), a gpu(0) module updated by mt_module_update, i.e. on the
 * GPU (gm), and a gpu(0) module stepped by a CPU optimizer (hm); see the
 * file comment. `step_tol`: gm against cm. */
static void train_and_compare(const char *opt_name, const char *opt_params, double step_tol) {
  mt_symbol *net = tu_mlp(64, "relu", 10);
  mt_data_iter *it;
  MT_ASSERT_OK(mt_synthetic_iter_create(CLASSES, FEATURES, SAMPLES, BATCH, 0, 0, 0, &it));
  mt_module *cm = make_module_opt(net, 1, (mt_context[]){mt_cpu(0)}, it, 1, opt_name, opt_params);
  mt_module *gm = make_module_opt(net, 1, (mt_context[]){mt_gpu(0)}, it, 1, opt_name, opt_params);
  mt_module *hm = make_module_opt(net, 1, (mt_context[]){mt_gpu(0)}, it, 0, NULL, NULL);
  /* the module's own settings: rescale_grad = 1 / batch */
  char params[256];
  snprintf(params, sizeof params, "%s rescale_grad=0.03125", opt_params);
  mt_optimizer *host_opt = NULL;
  MT_ASSERT_OK(mt_optimizer_create(opt_name, params, &host_opt));
  double wo = 0;
  tol = step_tol;
  for (int step = 0; step < STEPS; step++) {
    mt_batch b;
    next_batch(it, &b);
    MT_ASSERT_OK(mt_module_forward_backward(gm, &b));
    MT_ASSERT_OK(mt_module_update(gm));
    MT_ASSERT_OK(mt_module_forward_backward(hm, &b));
    host_update(hm, host_opt);
    MT_ASSERT_OK(mt_module_forward_backward(cm, &b));
    MT_ASSERT_OK(mt_module_update(cm));
    char what[64];
    snprintf(what, sizeof what, "%s: outputs at step %d", opt_name, step);
    wo = fmax(wo, compare_outputs(what, gm, cm));
  }
  char what[96];
  snprintf(what, sizeof what, "%s: parameters after %d steps", opt_name, STEPS);
  double wp = compare_params(what, gm, cm, 0);
  tol = 1e-6;
  snprintf(what, sizeof what, "%s: GPU update against CPU update of the GPU gradients", opt_name);
  double wh = compare_params(what, gm, hm, 0);
  tol = TOL;
  print_message(
      "  gpu(0) module, %d steps of %s with mt_module_update: outputs %.2e, parameters "
      "%.2e (tolerance %.0e); against the CPU optimizer on the same gradients %.2e\n",
      STEPS, opt_name, wo, wp, step_tol, wh);
  mt_optimizer_free(host_opt);
  mt_module_free(hm);
  mt_module_free(gm);
  mt_module_free(cm);
  mt_data_iter_free(it);
  mt_symbol_free(net);
}

static void test_single_gpu_training_matches_cpu(void **state) {
  train_and_compare("sgd", OPT_PARAMS, TOL);
}

static void test_single_gpu_adam_matches_cpu(void **state) {
  train_and_compare("adam", "learning_rate=0.01 wd=0.0001", 1e-3);
}

static void test_same_gpu_twice(void **state) {
  mt_symbol *net = tu_mlp(64, "relu", 10);
  mt_data_iter *it;
  MT_ASSERT_OK(mt_synthetic_iter_create(CLASSES, FEATURES, SAMPLES, BATCH, 0, 0, 0, &it));
  const mt_context two[2] = {mt_gpu(0), mt_gpu(0)};
  mt_module *cm = make_module(net, 1, (mt_context[]){mt_cpu(0)}, it, 0);
  mt_module *gm = make_module(net, 2, two, it, 0);
  assert_int_equal(gm->group.nslots, 2);
  mt_batch b;
  next_batch(it, &b);
  /* no optimizer yet: backward only computes, nothing is reduced */
  MT_ASSERT_OK(mt_module_forward_backward(cm, &b));
  MT_ASSERT_OK(mt_module_forward_backward(gm, &b));
  double wo = compare_outputs("{gpu(0), gpu(0)} merged outputs", gm, cm);
  double wg = compare_grads("{gpu(0), gpu(0)} summed slots", gm, cm);
  print_message("  {gpu(0), gpu(0)} module: outputs %.2e, gradients %.2e\n", wo, wg);

  /* a training step: the local kvstore sums the slots on the device */
  MT_ASSERT_OK(mt_module_init_optimizer(cm, "local", "sgd", OPT_PARAMS, 0));
  MT_ASSERT_OK(mt_module_init_optimizer(gm, "local", "sgd", OPT_PARAMS, 0));
  MT_ASSERT_OK(mt_module_forward_backward(gm, &b));
  MT_ASSERT_OK(mt_module_update(gm));
  MT_ASSERT_OK(mt_module_forward_backward(cm, &b));
  MT_ASSERT_OK(mt_module_update(cm));
  double wp = compare_params("{gpu(0), gpu(0)} parameters after one step", gm, cm, 0);
  print_message("  {gpu(0), gpu(0)} training step: parameters %.2e\n", wp);
  mt_module_free(gm);
  mt_module_free(cm);
  mt_data_iter_free(it);
  mt_symbol_free(net);
}

/* Host copies of two modules' arrays must be the same bits. */
static void expect_same_bits(const char *what, const mt_ndarray *a, const mt_ndarray *b) {
  assert_int_equal(a->size, b->size);
  float *ha = host_copy(a), *hb = host_copy(b);
  for (int64_t i = 0; i < a->size; i++)
    if (memcmp(&ha[i], &hb[i], sizeof(float)))
      fail_msg("%s: element %lld: %.9g with streams, %.9g without", what, (long long)i,
               (double)ha[i], (double)hb[i]);
  free(ha);
  free(hb);
}

/* {gpu(0), gpu(0)}, optimizer sgd with momentum, 1 KiB buckets (several
 * start during backward); MODTRAIN_GPU_STREAMS as given while binding (read
 * at the first bind only: the later rebinds keep the choice). */
static mt_module *make_two_slot_module(mt_symbol *net, mt_data_iter *it, const char *streams) {
  const mt_context two[2] = {mt_gpu(0), mt_gpu(0)};
  if (streams) setenv("MODTRAIN_GPU_STREAMS", streams, 1);
  else unsetenv("MODTRAIN_GPU_STREAMS");
  mt_module *m = make_module(net, 2, two, it, 0);
  unsetenv("MODTRAIN_GPU_STREAMS");
  MT_ASSERT_OK(mt_module_set_bucket_bytes(m, 1024));
  MT_ASSERT_OK(mt_module_init_optimizer(m, "local", "sgd", OPT_PARAMS, 0));
  return m;
}

static void test_same_gpu_twice_streams(void **state) {
  /* wide enough that a slot's kernels are still running when the host
   * queues the next call: a missing wait shows as other bits */
  mt_symbol *net = tu_mlp(4096, "relu", 10);
  mt_data_iter *it;
  MT_ASSERT_OK(mt_synthetic_iter_create(CLASSES, FEATURES, 4 * 2048, 2048, 0, 0, 0, &it));
  mt_module *sm = make_two_slot_module(net, it, NULL);
  mt_module *lm = make_two_slot_module(net, it, "0");
  mt_module *one = make_module(net, 1, (mt_context[]){mt_gpu(0)}, it, 0);
  assert_int_equal(sm->group.streams, 1);
  for (int s = 0; s < 2; s++) assert_true(mt_executor_has_stream(sm->group.slots[s].exec));
  assert_int_equal(lm->group.streams, 0);
  for (int s = 0; s < 2; s++) assert_false(mt_executor_has_stream(lm->group.slots[s].exec));
  assert_int_equal(one->group.streams, 0);
  assert_false(mt_executor_has_stream(one->group.slots[0].exec));
  struct mtk_cuda_stream *first = sm->group.slots[1].stream;
  assert_non_null(first);
  for (int step = 0; step < STEPS; step++) {
    mt_batch b;
    next_batch(it, &b);
    if (step == STEPS / 2) { /* a rebind for another batch size, then back on the next forward */
      int nd, nl;
      const mt_data_desc *dd, *ld;
      MT_ASSERT_OK(mt_data_iter_provide_data(it, &nd, &dd));
      MT_ASSERT_OK(mt_data_iter_provide_label(it, &nl, &ld));
      mt_data_desc d2 = dd[0], l2 = ld[0];
      d2.shape.dim[0] = l2.shape.dim[0] = 1024;
      MT_ASSERT_OK(mt_module_reshape(sm, 1, &d2, 1, &l2));
      MT_ASSERT_OK(mt_module_reshape(lm, 1, &d2, 1, &l2));
      assert_true(sm->group.slots[1].stream == first); /* kept across the rebind */
      assert_int_equal(lm->group.streams, 0);          /* the first bind's choice holds */
    }
    MT_ASSERT_OK(mt_module_forward_backward(sm, &b));
    MT_ASSERT_OK(mt_module_update(sm));
    MT_ASSERT_OK(mt_module_forward_backward(lm, &b));
    MT_ASSERT_OK(mt_module_update(lm));
    int ns, nl;
    mt_ndarray *const *so, *const *lo;
    MT_ASSERT_OK(mt_module_get_outputs(sm, &ns, &so));
    MT_ASSERT_OK(mt_module_get_outputs(lm, &nl, &lo));
    assert_int_equal(ns, nl);
    char what[64];
    snprintf(what, sizeof what, "outputs at step %d", step);
    for (int i = 0; i < ns; i++) expect_same_bits(what, so[i], lo[i]);
  }
  const mt_arena *sa, *la;
  MT_ASSERT_OK(mt_module_get_params(sm, &sa, NULL));
  MT_ASSERT_OK(mt_module_get_params(lm, &la, NULL));
  for (int i = 0; i < mt_arena_count(sa); i++)
    expect_same_bits(mt_arena_name(sa, i), mt_arena_at(sa, i), mt_arena_at(la, i));
  print_message(
      "  {gpu(0), gpu(0)} on two streams: %d steps, outputs and parameters the same "
      "bits as on the legacy stream\n",
      STEPS);
  mt_module_free(one);
  mt_module_free(lm);
  mt_module_free(sm);
  mt_data_iter_free(it);
  mt_symbol_free(net);
}

/* 20 steps of sgd with momentum on contexts `ctxs` with kvstore `kv`;
 * returns the parameters (host copies, nparam arrays of sizes[i] values;
 * sizes holds room for 8). */
static float **train_two(mt_symbol *net, const mt_context *ctxs, const char *kv, int *nparam,
                         int64_t *sizes) {
  mt_data_iter *it;
  MT_ASSERT_OK(mt_synthetic_iter_create(CLASSES, FEATURES, SAMPLES, BATCH, 0, 0, 0, &it));
  mt_module *m = make_module(net, 2, ctxs, it, 0);
  MT_ASSERT_OK(mt_module_init_optimizer(m, kv, "sgd", OPT_PARAMS, 0));
  for (int step = 0; step < STEPS; step++) {
    mt_batch b;
    next_batch(it, &b);
    MT_ASSERT_OK(mt_module_forward_backward(m, &b));
    MT_ASSERT_OK(mt_module_update(m));
  }
  const mt_arena *pa;
  MT_ASSERT_OK(mt_module_get_params(m, &pa, NULL));
  *nparam = mt_arena_count(pa);
  assert_true(*nparam <= 8);
  float **out = calloc((size_t)*nparam, sizeof *out);
  for (int i = 0; i < *nparam; i++) {
    out[i] = host_copy(mt_arena_at(pa, i));
    sizes[i] = mt_arena_at(pa, i)->size;
  }
  mt_module_free(m);
  mt_data_iter_free(it);
  return out;
}

static void test_two_gpus(void **state) {
  if (mtk_cuda_device_count() < 2) {
    print_message("  one GPU visible: contexts {gpu(0), gpu(1)} not exercised\n");
    skip();
  }
  mt_symbol *net = tu_mlp(64, "relu", 10);
  const mt_context same[2] = {mt_gpu(0), mt_gpu(0)}, two[2] = {mt_gpu(0), mt_gpu(1)};
  int n0, n1, n2;
  int64_t sizes[8], s1[8], s2[8];
  float **ref = train_two(net, same, "local", &n0, sizes);
  float **loc = train_two(net, two, "local", &n1, s1);
  float **nccl = train_two(net, two, "nccl", &n2, s2);
  assert_int_equal(n0, n1);
  assert_int_equal(n0, n2);
  double worst = 0;
  tol = TOL;
  for (int i = 0; i < n0; i++) {
    if (memcmp(ref[i], loc[i], sizeof(float) * (size_t)sizes[i]))
      fail_msg("{gpu(0), gpu(1)} local: parameter %d differs from {gpu(0), gpu(0)}", i);
    worst = fmax(worst, expect_close("{gpu(0), gpu(1)} nccl", nccl[i], ref[i], sizes[i]));
    free(ref[i]), free(loc[i]), free(nccl[i]);
  }
  free(ref), free(loc), free(nccl);
  print_message("  {gpu(0), gpu(1)}: local the same bits as {gpu(0), gpu(0)}; nccl within %.2e\n",
                worst);
  mt_symbol_free(net);
}

#endif /* MT_HAVE_CUDA */

int main(void) {
#ifndef MT_HAVE_CUDA
  printf("SKIP: no CUDA device visible (test_gpu_module needs a GPU; this build has no CUDA)\n");
  return 77;
#else
  int ndev = mtk_cuda_device_count();
  if (ndev == 0) {
    printf("SKIP: no CUDA device visible (test_gpu_module needs a GPU)\n");
    return 77;
  }
  printf("test_gpu_module: %d CUDA device(s) visible; testing gpu(0)\n", ndev);
  mt_blas_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_single_gpu_gradients_match_cpu),
      cmocka_unit_test(test_single_gpu_training_matches_cpu),
      cmocka_unit_test(test_single_gpu_adam_matches_cpu),
      cmocka_unit_test(test_same_gpu_twice),
      cmocka_unit_test(test_same_gpu_twice_streams),
      cmocka_unit_test(test_two_gpus),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
#endif
}
