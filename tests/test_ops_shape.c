/* test_ops_shape.c — the shape and elementwise ops (Reshape, transpose,
 * expand_dims, SliceChannel, softmax, log_softmax, MakeLoss, BlockGrad,
 * elemwise_mul, elemwise_sub, the scalar ops) and Dropout, Activation,
 * LeakyReLU, Flatten on 4-D input, on CPU:
 *   shapes    every Reshape code on MXNet's docstring examples; errors are
 *             MT_E_SHAPE / MT_E_INVAL naming the node and the bad value
 *   forward   against plain reference loops in this file (double);
 *             max |out - ref| / max(1, |ref|) <= 1e-5
 *   backward  against central finite differences (tu_gradcheck_run, which
 *             also checks req=add onto a prefill); <= 2e-2
 *   heads     MakeLoss's constant gradients (null / batch / valid),
 *             BlockGrad's zeros (req=add adds nothing), and an executor
 *             that ends in MakeLoss (and Group(MakeLoss, BlockGrad)) running
 *             backward with no out_grads
 *   names     aliases, SliceChannel's list_outputs (<node>_output<i>). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "src/executor.h"
#include "src/symbol.h"
#include "testutil.h"

#define FWD_TOL 1e-5
#define GRAD_TOL 2e-2
#define S(...) MT_SHAPE(__VA_ARGS__)

/* ------------------------------------------------------------ helpers */

/* Parses attrs for node `node` and infers the output shapes of one-input
 * ops (out[0..]); returns the status. */
static int infer1(const char *opname, const char *attrs, const char *node, mt_shape in,
                  mt_shape *out) {
  const mt_op *op = mt_op_find(opname);
  assert_non_null(op);
  mt_attrs a;
  MT_ASSERT_OK(mt_attrs_parse(attrs, &a));
  void *param = calloc(1, op->param_size);
  assert_non_null(param);
  int rc = op->parse(&a, node, param);
  mt_attrs_free(&a);
  if (rc == MT_OK) {
    mt_shape ins[2] = {in, {0}}, aux[4];
    memset(aux, 0, sizeof aux);
    memset(out, 0, sizeof(mt_shape) * 8);
    rc = op->infer_shape(param, node, ins, out, aux);
  }
  free(param);
  return rc;
}

static void expect_shape(const char *op, const char *attrs, mt_shape in, mt_shape want) {
  mt_shape out[64];
  int rc = infer1(op, attrs, "n1", in, out);
  char a[128], b[128], c[128];
  if (rc < 0)
    fail_msg("%s %s on %s: %s", op, attrs, mt_shape_str(&in, a, sizeof a), mt_last_error());
  if (!mt_shape_equal(&out[0], &want))
    fail_msg("%s %s on %s: got %s, want %s", op, attrs, mt_shape_str(&in, a, sizeof a),
             mt_shape_str(&out[0], b, sizeof b), mt_shape_str(&want, c, sizeof c));
}

/* The op fails with `code` and a message holding each of the fragments
 * (and always the node's name 'bad1'). */
static void expect_error(const char *op, const char *attrs, mt_shape in, int code,
                         const char *frag1, const char *frag2) {
  mt_shape out[64];
  int rc = infer1(op, attrs, "bad1", in, out);
  if (rc != code)
    fail_msg("%s %s: status %d, want %d (%s)", op, attrs, rc, code, rc < 0 ? mt_last_error() : "");
  const char *m = mt_last_error();
  if (!strstr(m, "'bad1'") || (frag1 && !strstr(m, frag1)) || (frag2 && !strstr(m, frag2)))
    fail_msg("%s %s: message '%s' lacks 'bad1' / '%s' / '%s'", op, attrs, m, frag1 ? frag1 : "",
             frag2 ? frag2 : "");
}

static void setup_forward(tu_op *t, const char *name, const char *attrs, int nargs,
                          const mt_shape *shapes, float lo, float hi) {
  if (tu_op_setup(t, name, attrs, nargs, shapes) < 0)
    fail_msg("setup %s %s: %s", name, attrs, mt_last_error());
  for (int i = 0; i < t->nargs; i++)
    tu_fill_uniform(t->in[i]->data, t->in[i]->size, lo, hi, 10 + (uint64_t)i);
  MT_ASSERT_OK(tu_op_forward(t, 1));
}

static void expect_close(const float *got, const double *ref, int64_t n, const char *what) {
  double worst = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = fabs(got[i] - ref[i]) / fmax(1.0, fabs(ref[i]));
    if (!(d <= worst)) worst = isnan(d) ? INFINITY : d;
  }
  if (!(worst <= FWD_TOL)) fail_msg("%s: forward max rel diff %g > %g", what, worst, FWD_TOL);
}

static void gradcheck(const char *op, const char *attrs, int nargs, const mt_shape *shapes) {
  tu_gradcheck g = {.op = op, .attrs = attrs, .nargs = nargs, .is_train = 1};
  memcpy(g.shapes, shapes, sizeof(mt_shape) * (size_t)nargs);
  double worst = tu_gradcheck_run(&g);
  print_message("  gradcheck %-14s %-28s worst %.3g\n", op, attrs, worst);
  if (!(worst <= GRAD_TOL)) fail_msg("%s %s: gradient error %g > %g", op, attrs, worst, GRAD_TOL);
}

/* Row-major strides of s. */
static void strides(const mt_shape *s, int64_t *st) {
  int64_t k = 1;
  for (int d = s->ndim - 1; d >= 0; d--) {
    st[d] = k;
    k *= s->dim[d];
  }
}

/* ------------------------------------------------------------ Reshape */

/* MXNet's docstring examples for Reshape, every special code. */
static void test_reshape_codes(void **state) {
  (void)state;
  mt_shape d = S(2, 3, 4);
  expect_shape("Reshape", "shape=(4,0,2)", d, S(4, 3, 2));
  expect_shape("Reshape", "shape=(2,0,0)", d, S(2, 3, 4));
  expect_shape("Reshape", "shape=(6,1,-1)", d, S(6, 1, 4));
  expect_shape("Reshape", "shape=(3,-1,8)", d, S(3, 1, 8));
  expect_shape("Reshape", "shape=(-1,)", d, S(24));
  expect_shape("Reshape", "shape=(-2,)", d, S(2, 3, 4));
  expect_shape("Reshape", "shape=(2,-2)", d, S(2, 3, 4));
  expect_shape("Reshape", "shape=(-2,1,1)", d, S(2, 3, 4, 1, 1));
  expect_shape("Reshape", "shape=(-3,4)", d, S(6, 4));
  expect_shape("Reshape", "shape=(-3,-3)", S(2, 3, 4, 5), S(6, 20));
  expect_shape("Reshape", "shape=(0,-3)", d, S(2, 12));
  expect_shape("Reshape", "shape=(-3,-2)", d, S(6, 4));
  expect_shape("Reshape", "shape=(-4,1,2,-2)", d, S(1, 2, 3, 4));
  expect_shape("Reshape", "shape=(2,-4,-1,3,-2)", d, S(2, 1, 3, 4));
  expect_shape("Reshape", "shape=(-4,-1,2,0,0)", S(4, 3, 5), S(2, 2, 3, 5));
  /* reverse: the codes apply right to left */
  expect_shape("Reshape", "shape=(-1,0)", S(10, 5, 4), S(40, 5));
  expect_shape("Reshape", "shape=(-1,0) reverse=false", S(10, 5, 4), S(40, 5));
  expect_shape("Reshape", "shape=(-1,0) reverse=true", S(10, 5, 4), S(50, 4));
  /* MXNet's algorithm: reversed, -1 also consumes an input dimension, so
   * the 0 copies the middle one */
  expect_shape("Reshape", "shape=(0,-1) reverse=True", S(10, 5, 4), S(5, 40));
  expect_shape("Reshape", "shape=(-2,-3) reverse=true", S(2, 3, 4, 5), S(2, 3, 20));
  /* the alias and MXNet's tuple spellings */
  expect_shape("reshape", "shape=[0,-1]", S(8, 3, 2), S(8, 6));
  expect_shape("Reshape", "shape=(-1)", S(8, 3, 2), S(48));
  expect_shape("Reshape", "shape=(4,-1)", S(8, 3, 2), S(4, 12));
  expect_shape("Reshape", "shape=(-2,1,1)", S(5), S(5, 1, 1));
}

static void test_reshape_errors(void **state) {
  (void)state;
  mt_shape d = S(2, 3, 4);
  expect_error("Reshape", "shape=(-1,-1)", d, MT_E_SHAPE, "more than one -1", "(2, 3, 4)");
  expect_error("Reshape", "shape=(5,-1)", d, MT_E_SHAPE, "-1 cannot be inferred", NULL);
  /* a positive value consumes an input dimension too (MXNet): -2 finds none left */
  expect_error("Reshape", "shape=(1,1,-2)", S(5), MT_E_SHAPE, "has 1 elements", "(5,)");
  expect_error("Reshape", "shape=(5,5)", d, MT_E_SHAPE, "25 elements", "24");
  expect_error("Reshape", "shape=(0,0,0,0)", d, MT_E_SHAPE, "0 at position 3", NULL);
  expect_error("Reshape", "shape=(0,0,-3)", d, MT_E_SHAPE, "-3 needs two", NULL);
  expect_error("Reshape", "shape=(-4,2)", d, MT_E_SHAPE, "-4 must be followed", NULL);
  expect_error("Reshape", "shape=(-4,-1,-1,-2)", d, MT_E_SHAPE, "cannot both be -1", NULL);
  expect_error("Reshape", "shape=(-4,4,-1,-2)", d, MT_E_SHAPE, "does not multiply back", NULL);
  expect_error("Reshape", "shape=(-2,1,1,1,1)", d, MT_E_SHAPE, "more than 6", NULL);
  expect_error("Reshape", "shape=(-5,2)", d, MT_E_INVAL, "shape", "-5");
  expect_error("Reshape", "", d, MT_E_INVAL, "shape is required", NULL);
  expect_error("Reshape", "target_shape=(4,6)", d, MT_E_UNSUPPORTED, "deprecated", NULL);
  expect_error("Reshape", "shape=(4,6) keep_highest=true", d, MT_E_UNSUPPORTED, "keep_highest",
               NULL);
  expect_error("Reshape", "shape=(4,6) shap=1", d, MT_E_INVAL, "shap", NULL);
  /* reverse names itself in the message */
  expect_error("Reshape", "shape=(7,-1) reverse=true", d, MT_E_SHAPE, "(reverse)", NULL);
}

/* Forward keeps the elements in order; the gradient is the reshaped dy. */
static void test_reshape_values(void **state) {
  (void)state;
  mt_shape s[1] = {S(2, 3, 4)};
  const char *codes[] = {"shape=(4,0,2)", "shape=(-3,-1)", "shape=(-4,1,2,-2)",
                         "shape=(-1,0) reverse=true"};
  for (size_t k = 0; k < 4; k++) {
    tu_op t;
    setup_forward(&t, "Reshape", codes[k], 1, s, -1.0f, 1.0f);
    assert_int_equal(t.out[0]->size, 24);
    assert_memory_equal(t.out[0]->data, t.in[0]->data, 24 * sizeof(float));
    tu_op_free(&t);
    gradcheck("Reshape", codes[k], 1, s);
  }
  gradcheck("expand_dims", "axis=1", 1, (mt_shape[]){S(3, 5)});
}

/* ---------------------------------------------------------- transpose */

static void check_transpose(mt_shape in, const char *attrs, const int *perm) {
  tu_op t;
  setup_forward(&t, "transpose", attrs, 1, &in, -1.0f, 1.0f);
  int nd = in.ndim;
  mt_shape want = {.ndim = nd};
  for (int i = 0; i < nd; i++) want.dim[i] = in.dim[perm[i]];
  assert_true(mt_shape_equal(&t.out[0]->shape, &want));
  int64_t ist[MT_MAX_DIM], n = t.in[0]->size;
  strides(&in, ist);
  double *ref = malloc(sizeof(double) * (size_t)n);
  /* walk the output's index, read the input at the permuted index */
  int64_t idx[MT_MAX_DIM] = {0};
  for (int64_t e = 0; e < n; e++) {
    int64_t off = 0;
    for (int d = 0; d < nd; d++) off += idx[d] * ist[perm[d]];
    ref[e] = t.in[0]->data[off];
    for (int d = nd - 1; d >= 0; d--) {
      if (++idx[d] < want.dim[d]) break;
      idx[d] = 0;
    }
  }
  expect_close(t.out[0]->data, ref, n, attrs);
  free(ref);
  tu_op_free(&t);
  gradcheck("transpose", attrs, 1, &in);
}

static void test_transpose(void **state) {
  (void)state;
  check_transpose(S(3, 4), "", (int[]){1, 0});
  check_transpose(S(2, 3, 4), "axes=(1,0,2)", (int[]){1, 0, 2});
  check_transpose(S(2, 3, 4), "axes=(2,0,1)", (int[]){2, 0, 1});
  check_transpose(S(2, 3, 4), "axes=(0,-1,-2)", (int[]){0, 2, 1});
  check_transpose(S(2, 3, 2, 5), "", (int[]){3, 2, 1, 0});
  check_transpose(S(2, 3, 2, 5), "axes=(0,2,3,1)", (int[]){0, 2, 3, 1});
  check_transpose(S(7), "axes=(0,)", (int[]){0});
  expect_error("transpose", "axes=(0,1)", S(2, 3, 4), MT_E_SHAPE, "2 values", "(2, 3, 4)");
  expect_error("transpose", "axes=(0,0,1)", S(2, 3, 4), MT_E_SHAPE, "repeated", NULL);
  expect_error("transpose", "axes=(0,1,5)", S(2, 3, 4), MT_E_SHAPE, "out of range", NULL);
  expect_error("transpose", "axes=(0,x)", S(2, 3, 4), MT_E_INVAL, "axes", NULL);
}

/* -------------------------------------------------------- expand_dims */

static void test_expand_dims(void **state) {
  (void)state;
  mt_shape d = S(2, 3, 4);
  expect_shape("expand_dims", "axis=0", d, S(1, 2, 3, 4));
  expect_shape("expand_dims", "axis=2", d, S(2, 3, 1, 4));
  expect_shape("expand_dims", "axis=3", d, S(2, 3, 4, 1));
  expect_shape("expand_dims", "axis=-1", d, S(2, 3, 4, 1));
  expect_shape("expand_dims", "axis=-4", d, S(1, 2, 3, 4));
  expect_shape("expand_dims", "axis=-2", d, S(2, 3, 1, 4));
  expect_error("expand_dims", "axis=4", d, MT_E_SHAPE, "axis=4", "[-4, 3]");
  expect_error("expand_dims", "axis=-5", d, MT_E_SHAPE, "axis=-5", NULL);
  expect_error("expand_dims", "", d, MT_E_INVAL, "axis", NULL);
  expect_error("expand_dims", "axis=0", S(1, 1, 1, 1, 1, 1), MT_E_SHAPE, "at most 6", NULL);
  tu_op t;
  setup_forward(&t, "expand_dims", "axis=-1", 1, &d, -1.0f, 1.0f);
  assert_memory_equal(t.out[0]->data, t.in[0]->data, 24 * sizeof(float));
  tu_op_free(&t);
  gradcheck("expand_dims", "axis=-2", 1, &d);
}

/* ------------------------------------------------------- SliceChannel */

static void check_slice(mt_shape in, const char *attrs, int nout, int axis, int squeeze) {
  tu_op t;
  setup_forward(&t, "SliceChannel", attrs, 1, &in, -1.0f, 1.0f);
  assert_int_equal(t.nout, nout);
  assert_int_equal(mt_op_num_visible_outputs(t.op, t.param), nout);
  int64_t outer = 1, inner = 1, cols = in.dim[axis], k = cols / nout;
  for (int i = 0; i < axis; i++) outer *= in.dim[i];
  for (int i = axis + 1; i < in.ndim; i++) inner *= in.dim[i];
  mt_shape want = in;
  want.dim[axis] = k;
  if (squeeze) {
    for (int i = axis; i < in.ndim - 1; i++) want.dim[i] = in.dim[i + 1];
    want.ndim--;
  }
  for (int o = 0; o < nout; o++) {
    assert_true(mt_shape_equal(&t.out[o]->shape, &want));
    double *ref = malloc(sizeof(double) * (size_t)(outer * k * inner));
    for (int64_t a = 0; a < outer; a++)
      for (int64_t c = 0; c < k; c++)
        for (int64_t i = 0; i < inner; i++)
          ref[(a * k + c) * inner + i] = t.in[0]->data[(a * cols + o * k + c) * inner + i];
    expect_close(t.out[o]->data, ref, outer * k * inner, attrs);
    free(ref);
  }
  tu_op_free(&t);
  gradcheck("SliceChannel", attrs, 1, &in);
}

static void test_slice_channel(void **state) {
  (void)state;
  check_slice(S(4, 6), "num_outputs=3", 3, 1, 0);
  check_slice(S(2, 6, 5), "num_outputs=2", 2, 1, 0);
  check_slice(S(4, 6, 5), "num_outputs=4 axis=0", 4, 0, 0);
  check_slice(S(2, 3, 6), "num_outputs=3 axis=-1", 3, 2, 0);
  check_slice(S(2, 3, 4), "num_outputs=3 squeeze_axis=true", 3, 1, 1);
  check_slice(S(2, 3, 2, 2), "num_outputs=2 axis=2 squeeze_axis=1", 2, 2, 1);
  check_slice(S(5, 4), "num_outputs=1", 1, 1, 0);
  expect_shape("split", "num_outputs=2", S(4, 6), S(4, 3));
  expect_error("SliceChannel", "num_outputs=4", S(2, 6), MT_E_SHAPE, "not a multiple", "(2, 6)");
  expect_error("SliceChannel", "num_outputs=2 squeeze_axis=true", S(2, 6), MT_E_SHAPE,
               "squeeze_axis", NULL);
  expect_error("SliceChannel", "num_outputs=2 axis=2", S(2, 6), MT_E_SHAPE, "axis=2", NULL);
  expect_error("SliceChannel", "axis=1", S(2, 6), MT_E_INVAL, "num_outputs is required", NULL);
  expect_error("SliceChannel", "num_outputs=0", S(2, 6), MT_E_INVAL, "num_outputs", NULL);
  expect_error("SliceChannel", "num_outputs=65", S(2, 65), MT_E_INVAL, "num_outputs", NULL);
}

/* An output without a gradient (NULL: unused) counts as zeros: req=write
 * clears its block, req=add leaves it. */
static void test_slice_channel_missing_grad(void **state) {
  (void)state;
  tu_op t;
  mt_shape in = S(2, 6);
  setup_forward(&t, "SliceChannel", "num_outputs=3", 1, &in, -1.0f, 1.0f);
  mt_ndarray *og[3] = {0}, *ig;
  MT_ASSERT_OK(mt_ndarray_create(t.out[0]->shape, mt_cpu(0), &og[0]));
  MT_ASSERT_OK(mt_ndarray_create(t.out[2]->shape, mt_cpu(0), &og[2]));
  mtk_fill(og[0]->data, 4, 1.0f);
  mtk_fill(og[2]->data, 4, 3.0f);
  MT_ASSERT_OK(mt_ndarray_create(in, mt_cpu(0), &ig));
  mtk_fill(ig->data, 12, 9.0f);
  mt_op_ctx c = {.ctx = mt_cpu(0), .is_train = 1};
  mt_grad_req req = MT_REQ_WRITE;
  MT_ASSERT_OK(mt_op_backward(t.op, t.param, &c, og, t.in, t.out, &req, &ig, t.aux));
  const float want[12] = {1, 1, 0, 0, 3, 3, 1, 1, 0, 0, 3, 3};
  assert_memory_equal(ig->data, want, sizeof want);
  req = MT_REQ_ADD;
  MT_ASSERT_OK(mt_op_backward(t.op, t.param, &c, og, t.in, t.out, &req, &ig, t.aux));
  const float want2[12] = {2, 2, 0, 0, 6, 6, 2, 2, 0, 0, 6, 6};
  assert_memory_equal(ig->data, want2, sizeof want2);
  mt_ndarray_free(og[0]);
  mt_ndarray_free(og[2]);
  mt_ndarray_free(ig);
  tu_op_free(&t);
}

/* list_outputs names SliceChannel's outputs as MXNet: <node>_output<i>; one
 * output is taken as a symbol of its own and feeds another op. */
static void test_slice_channel_symbol(void **state) {
  (void)state;
  mt_symbol *data, *sp, *o1, *fl;
  MT_ASSERT_OK(mt_symbol_variable("data", &data));
  MT_ASSERT_OK(mt_symbol_create("SliceChannel", "split0", "num_outputs=3", 1, &data, &sp));
  int n;
  const char *const *names;
  MT_ASSERT_OK(mt_symbol_list_outputs(sp, &n, &names));
  assert_int_equal(n, 3);
  assert_string_equal(names[0], "split0_output0");
  assert_string_equal(names[1], "split0_output1");
  assert_string_equal(names[2], "split0_output2");
  MT_ASSERT_OK(mt_symbol_from_entries(1, &sp->outputs[1], &o1));
  MT_ASSERT_OK(mt_symbol_create("Flatten", "fl", NULL, 1, &o1, &fl));
  const char *kn[] = {"data"};
  mt_shape ks[] = {S(4, 6, 2)}, as[1], os[1], xs[1];
  MT_ASSERT_OK(mt_symbol_infer_shape(fl, 1, kn, ks, as, os, xs));
  mt_shape want = S(4, 4);
  assert_true(mt_shape_equal(&os[0], &want));
  /* a shape error from inference names the node */
  mt_shape bad[] = {S(4, 7)};
  mt_shape os3[3];
  assert_int_equal(mt_symbol_infer_shape(sp, 1, kn, bad, as, os3, xs), MT_E_SHAPE);
  assert_non_null(strstr(mt_last_error(), "'split0'"));
  /* 40 outputs: all listed */
  mt_symbol *big;
  MT_ASSERT_OK(mt_symbol_create("SliceChannel", "s40", "num_outputs=40 axis=0", 1, &data, &big));
  MT_ASSERT_OK(mt_symbol_list_outputs(big, &n, &names));
  assert_int_equal(n, 40);
  assert_string_equal(names[39], "s40_output39");
  mt_symbol_free(big);
  mt_symbol_free(fl);
  mt_symbol_free(o1);
  mt_symbol_free(sp);
  mt_symbol_free(data);
}

/* ------------------------------------------------ softmax, log_softmax */

static void check_softmax(const char *op, mt_shape in, const char *attrs, int axis, double T) {
  int use_log = !strcmp(op, "log_softmax");
  tu_op t;
  setup_forward(&t, op, attrs, 1, &in, -3.0f, 3.0f);
  int64_t outer = 1, inner = 1, C = in.dim[axis], n = t.in[0]->size;
  for (int i = 0; i < axis; i++) outer *= in.dim[i];
  for (int i = axis + 1; i < in.ndim; i++) inner *= in.dim[i];
  double *ref = malloc(sizeof(double) * (size_t)n);
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      double s = 0;
      for (int64_t c = 0; c < C; c++) s += exp(t.in[0]->data[(o * C + c) * inner + i] / T);
      for (int64_t c = 0; c < C; c++) {
        int64_t j = (o * C + c) * inner + i;
        ref[j] = use_log ? t.in[0]->data[j] / T - log(s) : exp(t.in[0]->data[j] / T) / s;
      }
    }
  char what[128];
  snprintf(what, sizeof what, "%s %s", op, attrs);
  expect_close(t.out[0]->data, ref, n, what);
  free(ref);
  tu_op_free(&t);
  gradcheck(op, attrs, 1, &in);
}

static void test_softmax(void **state) {
  (void)state;
  const char *ops[] = {"softmax", "log_softmax"};
  for (int k = 0; k < 2; k++) {
    check_softmax(ops[k], S(4, 7), "", 1, 1.0);
    check_softmax(ops[k], S(3, 5, 4), "axis=1", 1, 1.0);
    check_softmax(ops[k], S(3, 5, 4), "axis=-3", 0, 1.0);
    check_softmax(ops[k], S(2, 3, 2, 5), "axis=-1 temperature=2.5", 3, 2.5);
    check_softmax(ops[k], S(2, 3, 2, 2), "axis=1 temperature=None", 1, 1.0);
    check_softmax(ops[k], S(6, 3), "temperature=0.5 dtype=None use_length=False", 1, 0.5);
    expect_error(ops[k], "axis=3", S(2, 3), MT_E_SHAPE, "axis=3", "(2, 3)");
    expect_error(ops[k], "temperature=0", S(2, 3), MT_E_INVAL, "temperature", NULL);
    expect_error(ops[k], "use_length=true", S(2, 3), MT_E_UNSUPPORTED, "use_length", NULL);
    expect_error(ops[k], "dtype=float16", S(2, 3), MT_E_UNSUPPORTED, "dtype", NULL);
  }
  /* large logits do not overflow */
  tu_op t;
  mt_shape s = S(1, 3);
  MT_ASSERT_OK(tu_op_setup(&t, "softmax", "", 1, &s));
  t.in[0]->data[0] = 1000.0f;
  t.in[0]->data[1] = 999.0f;
  t.in[0]->data[2] = -1000.0f;
  MT_ASSERT_OK(tu_op_forward(&t, 0));
  assert_true(fabs(t.out[0]->data[0] - 1.0 / (1.0 + exp(-1.0))) < 1e-6);
  assert_true(t.out[0]->data[2] == 0.0f);
  tu_op_free(&t);
}

/* ------------------------------------------------ MakeLoss, BlockGrad */

/* MakeLoss's constant gradient under each normalization; req=add adds it. */
static void check_make_loss(const char *attrs, mt_shape in, float want) {
  tu_op t;
  setup_forward(&t, "make_loss", attrs, 1, &in, -1.0f, 1.0f);
  assert_true(t.op->flags & MT_OP_LOSS);
  assert_memory_equal(t.out[0]->data, t.in[0]->data, sizeof(float) * (size_t)t.in[0]->size);
  mt_ndarray *g;
  MT_ASSERT_OK(mt_ndarray_create(in, mt_cpu(0), &g));
  mtk_fill(g->data, g->size, NAN);
  mt_ndarray *og[1] = {NULL};
  mt_op_ctx c = {.ctx = mt_cpu(0), .is_train = 1};
  mt_grad_req req = MT_REQ_WRITE;
  MT_ASSERT_OK(mt_op_backward(t.op, t.param, &c, og, t.in, t.out, &req, &g, t.aux));
  for (int64_t i = 0; i < g->size; i++)
    if (g->data[i] != want) fail_msg("MakeLoss %s: grad %g, want %g", attrs, g->data[i], want);
  req = MT_REQ_ADD;
  MT_ASSERT_OK(mt_op_backward(t.op, t.param, &c, og, t.in, t.out, &req, &g, t.aux));
  for (int64_t i = 0; i < g->size; i++) assert_true(g->data[i] == want + want);
  req = MT_REQ_NULL;
  mt_ndarray *none = NULL;
  MT_ASSERT_OK(mt_op_backward(t.op, t.param, &c, og, t.in, t.out, &req, &none, t.aux));
  mt_ndarray_free(g);
  tu_op_free(&t);
}

static void test_make_loss(void **state) {
  (void)state;
  check_make_loss("", S(4, 3), 1.0f);
  check_make_loss("grad_scale=0.5", S(4, 3), 0.5f);
  check_make_loss("grad_scale=2 normalization=null", S(4, 3), 2.0f);
  check_make_loss("grad_scale=2 normalization=batch", S(4, 3), 2.0f / 4.0f);
  /* batch: rows of MXNet's FlatTo2D, every dimension but the last */
  check_make_loss("normalization=batch", S(2, 5, 3), 1.0f / 10.0f);
  check_make_loss("normalization=batch", S(6), 1.0f);
  /* valid: the count of data > valid_thresh (setup_forward's U(-1, 1), seed 10) */
  for (int k = 0; k < 2; k++) {
    float thresh = k ? 0.5f : 0.0f;
    float x[12];
    tu_fill_uniform(x, 12, -1.0f, 1.0f, 10);
    int cnt = 0;
    for (int i = 0; i < 12; i++) cnt += x[i] > thresh;
    assert_true(cnt > 0 && cnt < 12);
    char attrs[64];
    snprintf(attrs, sizeof attrs, "normalization=valid grad_scale=3 valid_thresh=%g",
             (double)thresh);
    check_make_loss(attrs, S(4, 3), 3.0f / (float)cnt);
  }
  /* no valid element: divided by 1 */
  check_make_loss("normalization=valid valid_thresh=5", S(4, 3), 1.0f);
  expect_error("MakeLoss", "normalization=full", S(4, 3), MT_E_INVAL, "normalization", NULL);
  expect_error("MakeLoss", "grad_scale=x", S(4, 3), MT_E_INVAL, "grad_scale", NULL);
}

static void test_block_grad(void **state) {
  (void)state;
  const char *names[] = {"BlockGrad", "stop_gradient"};
  for (int k = 0; k < 2; k++) {
    tu_op t;
    mt_shape in = S(2, 3, 2, 2);
    setup_forward(&t, names[k], "", 1, &in, -1.0f, 1.0f);
    assert_string_equal(t.op->name, "BlockGrad");
    assert_memory_equal(t.out[0]->data, t.in[0]->data, 24 * sizeof(float));
    mt_ndarray *g;
    MT_ASSERT_OK(mt_ndarray_create(in, mt_cpu(0), &g));
    mtk_fill(g->data, 24, 5.0f);
    mt_ndarray *og[1] = {NULL};
    mt_op_ctx c = {.ctx = mt_cpu(0), .is_train = 1};
    mt_grad_req req = MT_REQ_ADD; /* adds nothing */
    MT_ASSERT_OK(mt_op_backward(t.op, t.param, &c, og, t.in, t.out, &req, &g, t.aux));
    for (int i = 0; i < 24; i++) assert_true(g->data[i] == 5.0f);
    req = MT_REQ_WRITE;
    MT_ASSERT_OK(mt_op_backward(t.op, t.param, &c, og, t.in, t.out, &req, &g, t.aux));
    for (int i = 0; i < 24; i++) assert_true(g->data[i] == 0.0f);
    mt_ndarray_free(g);
    tu_op_free(&t);
  }
  expect_error("BlockGrad", "x=1", S(2), MT_E_INVAL, "x", NULL);
}

/* A net ending in MakeLoss runs backward without out_grads (as Module's
 * backward()): loss = MakeLoss(FullyConnected(data), grad_scale=g), so
 * d fc = g everywhere and d weight[h, :] = g * column sums of data. The
 * same with Group(MakeLoss, BlockGrad(fc)), and the BlockGrad in the middle
 * of a net stops the gradient (data's is zero). */
static void test_make_loss_executor(void **state) {
  (void)state;
  enum { N = 4, D = 3, H = 2 };
  mt_symbol *data, *fc, *loss, *bg, *grp, *bg2, *fc2, *loss2;
  MT_ASSERT_OK(mt_symbol_variable("data", &data));
  MT_ASSERT_OK(mt_symbol_create("FullyConnected", "fc", "num_hidden=2", 1, &data, &fc));
  MT_ASSERT_OK(mt_symbol_create("MakeLoss", "loss", "grad_scale=0.5", 1, &fc, &loss));
  MT_ASSERT_OK(mt_symbol_create("BlockGrad", "pred", NULL, 1, &fc, &bg));
  mt_symbol *two[2] = {loss, bg};
  MT_ASSERT_OK(mt_symbol_group(2, two, &grp));
  MT_ASSERT_OK(mt_symbol_create("stop_gradient", "sg", NULL, 1, &data, &bg2));
  MT_ASSERT_OK(mt_symbol_create("FullyConnected", "fc2", "num_hidden=2", 1, &bg2, &fc2));
  MT_ASSERT_OK(mt_symbol_create("MakeLoss", "loss2", NULL, 1, &fc2, &loss2));
  mt_symbol *nets[3] = {loss, grp, loss2};
  for (int k = 0; k < 3; k++) {
    const char *kn[] = {"data"};
    mt_shape ks[] = {S(N, D)};
    mt_executor *ex;
    MT_ASSERT_OK(mt_executor_simple_bind(nets[k], mt_cpu(0), MT_REQ_WRITE, 1, kn, ks, 1, &ex));
    const char *w = k == 2 ? "fc2_weight" : "fc_weight", *b = k == 2 ? "fc2_bias" : "fc_bias";
    mt_ndarray *x = mt_executor_arg(ex, "data");
    tu_fill_uniform(x->data, N * D, -1.0f, 1.0f, 3);
    tu_fill_uniform(mt_executor_arg(ex, w)->data, H * D, -1.0f, 1.0f, 4);
    mtk_fill(mt_executor_arg(ex, b)->data, H, 0.0f);
    MT_ASSERT_OK(mt_executor_forward(ex, 1));
    MT_ASSERT_OK(mt_executor_backward(ex, 0, NULL));
    float gs = k == 2 ? 1.0f : 0.5f;
    mt_ndarray *gw = mt_executor_grad(ex, w), *gb = mt_executor_grad(ex, b);
    assert_non_null(gw);
    for (int h = 0; h < H; h++) {
      assert_true(fabsf(gb->data[h] - gs * N) < 1e-6f);
      for (int d = 0; d < D; d++) {
        double s = 0;
        for (int i = 0; i < N; i++) s += x->data[i * D + d];
        assert_true(fabs(gw->data[h * D + d] - gs * s) < 1e-5);
      }
    }
    mt_ndarray *gx = mt_executor_grad(ex, "data");
    assert_non_null(gx);
    if (k == 2)
      for (int i = 0; i < N * D; i++) assert_true(gx->data[i] == 0.0f);
    else assert_true(fabsf(gx->data[0]) > 0.0f); /* d data = g * column sums of weight */
    /* the BlockGrad head's output is fc's */
    if (k == 1) {
      assert_int_equal(mt_executor_num_outputs(ex), 2);
      assert_memory_equal(mt_executor_output(ex, 0)->data, mt_executor_output(ex, 1)->data,
                          sizeof(float) * N * H);
    }
    mt_executor_free(ex);
  }
  mt_symbol *syms[] = {data, fc, loss, bg, grp, bg2, fc2, loss2};
  for (int i = 0; i < 8; i++) mt_symbol_free(syms[i]);
}

/* ---------------------------------------- elemwise_mul, _sub, scalars */

static void test_elemwise_binary(void **state) {
  (void)state;
  const char *ops[] = {"elemwise_mul", "_mul", "_Mul", "elemwise_sub", "_sub", "_minus", "_Minus"};
  for (int k = 0; k < 7; k++) {
    int mul = k < 3;
    mt_shape s[2] = {S(3, 4, 5), S(3, 4, 5)};
    tu_op t;
    setup_forward(&t, ops[k], "", 2, s, -2.0f, 2.0f);
    assert_string_equal(t.op->name, mul ? "elemwise_mul" : "elemwise_sub");
    double ref[60];
    for (int i = 0; i < 60; i++)
      ref[i] = mul ? (double)t.in[0]->data[i] * t.in[1]->data[i]
                   : (double)t.in[0]->data[i] - t.in[1]->data[i];
    expect_close(t.out[0]->data, ref, 60, ops[k]);
    tu_op_free(&t);
  }
  mt_shape s[2] = {S(2, 3, 2, 2), {0}};
  gradcheck("elemwise_mul", "", 2, s);
  gradcheck("elemwise_sub", "", 2, s);
  mt_shape r[2] = {{0}, S(4, 5)}, o[8];
  const mt_op *op = mt_op_find("elemwise_mul");
  mt_shape aux[1];
  MT_ASSERT_OK(op->infer_shape(NULL, "m", r, o, aux));
  assert_true(mt_shape_equal(&r[0], &r[1]));
  mt_shape bad[2] = {S(4, 5), S(5, 4)};
  assert_int_equal(mt_op_find("elemwise_sub")->infer_shape(NULL, "sub1", bad, o, aux), MT_E_SHAPE);
  assert_non_null(strstr(mt_last_error(), "'sub1'"));
  assert_non_null(strstr(mt_last_error(), "(5, 4)"));
}

static void test_scalar_ops(void **state) {
  (void)state;
  struct {
    const char *op, *canon, *attrs;
    int kind;
    double s;
  } cases[] = {
      {"_plus_scalar", "_plus_scalar", "scalar=2.5", 0, 2.5},
      {"_PlusScalar", "_plus_scalar", "scalar=-1", 0, -1},
      {"_minus_scalar", "_minus_scalar", "scalar=0.75", 1, 0.75},
      {"_MinusScalar", "_minus_scalar", "scalar=3 is_int=True", 1, 3},
      {"_mul_scalar", "_mul_scalar", "scalar=0.3", 2, 0.3},
      {"_MulScalar", "_mul_scalar", "scalar=-2.0 is_int=False", 2, -2},
      {"_div_scalar", "_div_scalar", "scalar=4", 3, 4},
      {"_DivScalar", "_div_scalar", "scalar=0.7", 3, 0.7},
      {"_mul_scalar", "_mul_scalar", "", 2, 1}, /* scalar defaults to 1 */
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    mt_shape s = S(2, 3, 2, 2);
    tu_op t;
    setup_forward(&t, cases[k].op, cases[k].attrs, 1, &s, -2.0f, 2.0f);
    assert_string_equal(t.op->name, cases[k].canon);
    double ref[24];
    float sc = (float)cases[k].s;
    for (int i = 0; i < 24; i++) {
      double x = t.in[0]->data[i];
      ref[i] = cases[k].kind == 0   ? x + sc
               : cases[k].kind == 1 ? x - sc
               : cases[k].kind == 2 ? x * sc
                                    : x / sc;
    }
    expect_close(t.out[0]->data, ref, 24, cases[k].op);
    tu_op_free(&t);
    gradcheck(cases[k].op, cases[k].attrs, 1, &s);
  }
  expect_error("_mul_scalar", "scalar=abc", S(2), MT_E_INVAL, "scalar='abc'", "_mul_scalar");
  expect_error("_plus_scalar", "scalr=1", S(2), MT_E_INVAL, "scalr", NULL);
}

/* --------------------------------------------- the existing ops on 4-D */

typedef struct {
  float gap;
} away;
static void init_away(int arg, float *x, int64_t n, const mt_shape *s, void *user) {
  const away *a = user;
  tu_fill_uniform(x, n, -1.0f, 1.0f, 300 + (uint64_t)arg);
  for (int64_t i = 0; i < n; i++)
    if (fabsf(x[i]) < a->gap) x[i] = x[i] < 0 ? -a->gap - fabsf(x[i]) : a->gap + x[i];
}

static void test_ops_on_4d(void **state) {
  (void)state;
  mt_shape d = S(2, 3, 4, 5);
  /* Flatten: (N, C, H, W) -> (N, C*H*W), same order */
  expect_shape("Flatten", "", d, S(2, 60));
  tu_op t;
  setup_forward(&t, "Flatten", "", 1, &d, -1.0f, 1.0f);
  assert_memory_equal(t.out[0]->data, t.in[0]->data, 120 * sizeof(float));
  tu_op_free(&t);
  gradcheck("Flatten", "", 1, &d);
  /* Activation, LeakyReLU: elementwise on 4-D, against the formulas */
  const char *acts[] = {"act_type=relu", "act_type=sigmoid", "act_type=tanh", "act_type=softrelu"};
  for (int k = 0; k < 4; k++) {
    setup_forward(&t, "Activation", acts[k], 1, &d, -2.0f, 2.0f);
    assert_true(mt_shape_equal(&t.out[0]->shape, &d));
    double ref[120];
    for (int i = 0; i < 120; i++) {
      double x = t.in[0]->data[i];
      ref[i] = k == 0 ? fmax(x, 0) : k == 1 ? 1 / (1 + exp(-x)) : k == 2 ? tanh(x) : log1p(exp(x));
    }
    expect_close(t.out[0]->data, ref, 120, acts[k]);
    tu_op_free(&t);
    away a = {0.01f};
    tu_gradcheck g = {.op = "Activation",
                      .attrs = acts[k],
                      .nargs = 1,
                      .shapes = {d},
                      .is_train = 1,
                      .init = init_away,
                      .user = &a};
    assert_true(tu_gradcheck_run(&g) <= GRAD_TOL);
  }
  setup_forward(&t, "LeakyReLU", "act_type=leaky slope=0.2", 1, &d, -2.0f, 2.0f);
  for (int i = 0; i < 120; i++) {
    float x = t.in[0]->data[i];
    assert_true(fabsf(t.out[0]->data[i] - (x > 0 ? x : 0.2f * x)) < 1e-6f);
  }
  tu_op_free(&t);
  away a = {0.01f};
  tu_gradcheck g = {.op = "LeakyReLU",
                    .attrs = "act_type=elu slope=0.3",
                    .nargs = 1,
                    .shapes = {d},
                    .is_train = 1,
                    .init = init_away,
                    .user = &a};
  assert_true(tu_gradcheck_run(&g) <= GRAD_TOL);
  /* Dropout: y = x * mask with mask in {0, 1/(1-p)}, dx = dy * mask */
  setup_forward(&t, "Dropout", "p=0.5", 1, &d, 0.5f, 1.5f);
  assert_true(mt_shape_equal(&t.out[0]->shape, &d));
  int zeros = 0;
  for (int i = 0; i < 120; i++) {
    float x = t.in[0]->data[i], y = t.out[0]->data[i];
    if (y == 0.0f) zeros++;
    else assert_true(fabsf(y - 2.0f * x) < 1e-6f);
  }
  assert_true(zeros > 20 && zeros < 100);
  mt_ndarray *og[2] = {0}, *ig;
  MT_ASSERT_OK(mt_ndarray_create(d, mt_cpu(0), &og[0]));
  MT_ASSERT_OK(mt_ndarray_create(d, mt_cpu(0), &ig));
  mtk_fill(og[0]->data, 120, 1.0f);
  mt_op_ctx c = {.ctx = mt_cpu(0), .is_train = 1, .seed = 7, .node_key = 11, .step = 3};
  mt_grad_req req = MT_REQ_WRITE;
  MT_ASSERT_OK(mt_op_backward(t.op, t.param, &c, og, t.in, t.out, &req, &ig, t.aux));
  for (int i = 0; i < 120; i++)
    assert_true(ig->data[i] == (t.out[0]->data[i] == 0.0f ? 0.0f : 2.0f));
  mt_ndarray_free(og[0]);
  mt_ndarray_free(ig);
  tu_op_free(&t);
}

/* --------------------------------------------------------- registry */

static void test_aliases(void **state) {
  (void)state;
  const char *pairs[][2] = {
      {"reshape", "Reshape"},
      {"split", "SliceChannel"},
      {"make_loss", "MakeLoss"},
      {"stop_gradient", "BlockGrad"},
      {"_mul", "elemwise_mul"},
      {"_Mul", "elemwise_mul"},
      {"_sub", "elemwise_sub"},
      {"_minus", "elemwise_sub"},
      {"_Minus", "elemwise_sub"},
      {"_PlusScalar", "_plus_scalar"},
      {"_MinusScalar", "_minus_scalar"},
      {"_MulScalar", "_mul_scalar"},
      {"_DivScalar", "_div_scalar"},
      {"transpose", "transpose"},
      {"expand_dims", "expand_dims"},
      {"softmax", "softmax"},
      {"log_softmax", "log_softmax"},
      {"Softmax", "SoftmaxOutput"},
  };
  for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
    const mt_op *op = mt_op_find(pairs[i][0]);
    if (!op) fail_msg("no op %s", pairs[i][0]);
    assert_string_equal(op->name, pairs[i][1]);
  }
  assert_null(mt_op_find("Transpose"));
}

/* ------------------------------------------------------ symbol JSON */

/* What MXNet 1.9.1 writes (nnvm SaveJSON, the layout of
 * tests/test_symbol_json.c) for
 *   r1 = Reshape(data, shape=(0, -1)); s1 = SliceChannel(r1, num_outputs=2, axis=1)
 *   m1 = elemwise_mul(s1[0], s1[1]); t1 = transpose(m1, axes=(1, 0))
 *   e1 = expand_dims(t1, axis=-1); sm1 = log_softmax(e1, axis=0, temperature=2.0)
 *   ms1 = _mul_scalar(sm1, scalar=0.5)
 *   Group([MakeLoss(ms1, normalization='batch', name='loss'), BlockGrad(sm1, name='pred')])
 * Attribute values are the strings Python wrote (str of the tuple); SliceChannel
 * has 2 outputs (node_row_ptr 2 -> 4), m1 reads [2, 0] and [2, 1]. */
static const char NET_JSON[] =
    "{\n"
    "  \"nodes\": [\n"
    "    {\n"
    "      \"op\": \"null\", \n"
    "      \"name\": \"data\", \n"
    "      \"inputs\": []\n"
    "    }, \n"
    "    {\n"
    "      \"op\": \"Reshape\", \n"
    "      \"name\": \"r1\", \n"
    "      \"attrs\": {\"shape\": \"(0, -1)\"}, \n"
    "      \"inputs\": [[0, 0, 0]]\n"
    "    }, \n"
    "    {\n"
    "      \"op\": \"SliceChannel\", \n"
    "      \"name\": \"s1\", \n"
    "      \"attrs\": {\n"
    "        \"axis\": \"1\", \n"
    "        \"num_outputs\": \"2\"\n"
    "      }, \n"
    "      \"inputs\": [[1, 0, 0]]\n"
    "    }, \n"
    "    {\n"
    "      \"op\": \"elemwise_mul\", \n"
    "      \"name\": \"m1\", \n"
    "      \"inputs\": [[2, 0, 0], [2, 1, 0]]\n"
    "    }, \n"
    "    {\n"
    "      \"op\": \"transpose\", \n"
    "      \"name\": \"t1\", \n"
    "      \"attrs\": {\"axes\": \"(1, 0)\"}, \n"
    "      \"inputs\": [[3, 0, 0]]\n"
    "    }, \n"
    "    {\n"
    "      \"op\": \"expand_dims\", \n"
    "      \"name\": \"e1\", \n"
    "      \"attrs\": {\"axis\": \"-1\"}, \n"
    "      \"inputs\": [[4, 0, 0]]\n"
    "    }, \n"
    "    {\n"
    "      \"op\": \"log_softmax\", \n"
    "      \"name\": \"sm1\", \n"
    "      \"attrs\": {\n"
    "        \"axis\": \"0\", \n"
    "        \"temperature\": \"2.0\"\n"
    "      }, \n"
    "      \"inputs\": [[5, 0, 0]]\n"
    "    }, \n"
    "    {\n"
    "      \"op\": \"_mul_scalar\", \n"
    "      \"name\": \"ms1\", \n"
    "      \"attrs\": {\"scalar\": \"0.5\"}, \n"
    "      \"inputs\": [[6, 0, 0]]\n"
    "    }, \n"
    "    {\n"
    "      \"op\": \"MakeLoss\", \n"
    "      \"name\": \"loss\", \n"
    "      \"attrs\": {\"normalization\": \"batch\"}, \n"
    "      \"inputs\": [[7, 0, 0]]\n"
    "    }, \n"
    "    {\n"
    "      \"op\": \"BlockGrad\", \n"
    "      \"name\": \"pred\", \n"
    "      \"inputs\": [[6, 0, 0]]\n"
    "    }\n"
    "  ], \n"
    "  \"arg_nodes\": [0], \n"
    "  \"node_row_ptr\": [\n"
    "    0, \n"
    "    1, \n"
    "    2, \n"
    "    4, \n"
    "    5, \n"
    "    6, \n"
    "    7, \n"
    "    8, \n"
    "    9, \n"
    "    10, \n"
    "    11\n"
    "  ], \n"
    "  \"heads\": [[8, 0, 0], [9, 0, 0]], \n"
    "  \"attrs\": {\"mxnet_version\": [\"int\", 10901]}\n"
    "}";

/* Loaded and written back byte for byte; it binds and trains with no
 * out_grads (MakeLoss and BlockGrad heads). */
static void test_symbol_json_round_trip(void **state) {
  (void)state;
  mt_symbol *net;
  MT_ASSERT_OK(mt_symbol_load_json(NET_JSON, &net));
  char *js;
  MT_ASSERT_OK(mt_symbol_tojson(net, &js));
  if (strcmp(js, NET_JSON)) fail_msg("tojson differs from MXNet's text:\n%s", js);
  free(js);
  int n;
  const char *const *names;
  MT_ASSERT_OK(mt_symbol_list_outputs(net, &n, &names));
  assert_int_equal(n, 2);
  assert_string_equal(names[0], "loss_output");
  assert_string_equal(names[1], "pred_output");
  const char *kn[] = {"data"};
  mt_shape ks[] = {S(4, 2, 3)};
  mt_executor *ex;
  MT_ASSERT_OK(mt_executor_simple_bind(net, mt_cpu(0), MT_REQ_WRITE, 1, kn, ks, 1, &ex));
  mt_shape want = S(3, 4, 1);
  assert_true(mt_shape_equal(&mt_executor_output(ex, 0)->shape, &want));
  mt_ndarray *x = mt_executor_arg(ex, "data");
  tu_fill_uniform(x->data, x->size, -1.0f, 1.0f, 8);
  MT_ASSERT_OK(mt_executor_forward(ex, 1));
  MT_ASSERT_OK(mt_executor_backward(ex, 0, NULL));
  /* forward: ms1 = 0.5 * log_softmax over axis 0 of (x[:, :3] * x[:, 3:])^T / 2 */
  const float *o = mt_executor_output(ex, 0)->data, *pr = mt_executor_output(ex, 1)->data;
  for (int j = 0; j < 4; j++) {
    double v[3], mx = -1e30, s = 0;
    for (int i = 0; i < 3; i++) {
      v[i] = (double)x->data[j * 6 + i] * x->data[j * 6 + 3 + i] / 2.0;
      mx = fmax(mx, v[i]);
    }
    for (int i = 0; i < 3; i++) s += exp(v[i] - mx);
    for (int i = 0; i < 3; i++) {
      double ls = v[i] - mx - log(s);
      assert_true(fabs(pr[i * 4 + j] - ls) < 1e-5);
      assert_true(fabs(o[i * 4 + j] - 0.5 * ls) < 1e-5);
    }
  }
  /* backward reached data (MakeLoss batch: 1 / 12, rows of (3, 4, 1)) */
  mt_ndarray *gx = mt_executor_grad(ex, "data");
  double sum = 0;
  for (int64_t i = 0; i < gx->size; i++) sum += fabs(gx->data[i]);
  assert_true(sum > 1e-4);
  mt_executor_free(ex);
  mt_symbol_free(net);
}

/* A net built here (aliases, attrs as given) writes canonical op names and
 * the attrs verbatim, and loads back to the same text. */
static void test_symbol_built_round_trip(void **state) {
  (void)state;
  mt_symbol *data, *r, *sp, *a, *b, *m, *loss;
  MT_ASSERT_OK(mt_symbol_variable("data", &data));
  MT_ASSERT_OK(mt_symbol_create("reshape", "r", "shape=(-3,-2) reverse=False", 1, &data, &r));
  MT_ASSERT_OK(mt_symbol_create("split", "sp", "num_outputs=2 squeeze_axis=1 axis=0", 1, &r, &sp));
  MT_ASSERT_OK(mt_symbol_from_entries(1, &sp->outputs[0], &a));
  MT_ASSERT_OK(mt_symbol_from_entries(1, &sp->outputs[1], &b));
  mt_symbol *ab[2] = {a, b};
  MT_ASSERT_OK(mt_symbol_create("_minus", "d", NULL, 2, ab, &m));
  MT_ASSERT_OK(mt_symbol_create("make_loss", "loss",
                                "grad_scale=0.25 normalization=valid "
                                "valid_thresh=0.1",
                                1, &m, &loss));
  char *js, *js2;
  MT_ASSERT_OK(mt_symbol_tojson(loss, &js));
  const char *frags[] = {"\"op\": \"Reshape\"",          "\"shape\": \"(-3,-2)\"",
                         "\"reverse\": \"False\"",       "\"op\": \"SliceChannel\"",
                         "\"squeeze_axis\": \"1\"",      "\"op\": \"elemwise_sub\"",
                         "[[2, 0, 0], [2, 1, 0]]",       "\"op\": \"MakeLoss\"",
                         "\"normalization\": \"valid\"", "\"valid_thresh\": \"0.1\""};
  for (size_t i = 0; i < sizeof frags / sizeof frags[0]; i++)
    if (!strstr(js, frags[i])) fail_msg("tojson lacks %s:\n%s", frags[i], js);
  mt_symbol *back;
  MT_ASSERT_OK(mt_symbol_load_json(js, &back));
  MT_ASSERT_OK(mt_symbol_tojson(back, &js2));
  assert_string_equal(js, js2);
  const char *kn[] = {"data"};
  mt_shape ks[] = {S(1, 2, 5)}, as[1], os[1], xs[1];
  MT_ASSERT_OK(mt_symbol_infer_shape(back, 1, kn, ks, as, os, xs));
  mt_shape want = S(5);
  assert_true(mt_shape_equal(&os[0], &want));
  free(js);
  free(js2);
  mt_symbol *syms[] = {data, r, sp, a, b, m, loss, back};
  for (int i = 0; i < 8; i++) mt_symbol_free(syms[i]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reshape_codes),
      cmocka_unit_test(test_reshape_errors),
      cmocka_unit_test(test_reshape_values),
      cmocka_unit_test(test_transpose),
      cmocka_unit_test(test_expand_dims),
      cmocka_unit_test(test_slice_channel),
      cmocka_unit_test(test_slice_channel_missing_grad),
      cmocka_unit_test(test_slice_channel_symbol),
      cmocka_unit_test(test_softmax),
      cmocka_unit_test(test_make_loss),
      cmocka_unit_test(test_block_grad),
      cmocka_unit_test(test_make_loss_executor),
      cmocka_unit_test(test_elemwise_binary),
      cmocka_unit_test(test_scalar_ops),
      cmocka_unit_test(test_ops_on_4d),
      cmocka_unit_test(test_aliases),
      cmocka_unit_test(test_symbol_json_round_trip),
      cmocka_unit_test(test_symbol_built_round_trip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
