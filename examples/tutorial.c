/* tutorial.c — MXNet's "Training and Inference Module" tutorial, step by
 * step, in C: the MLP, the intermediate-level loop (bind, init_params,
 * init_optimizer, forward, update_metric, backward, update), the properties
 * of the module, fit with validation, predict, iter_predict and score.
 * Uses only the public header. Exits 1 if validation accuracy after fit is
 * below 0.9 (a test runs it). */
#include <stdio.h>
#include <stdlib.h>

#include "modtrain.h"
#include "tools/check.h"

enum { NUM_CLASSES = 10, NUM_FEATURES = 128, NUM_SAMPLES = 320, BATCH = 32 };

static void print_descs(const char *what, int n, const mt_data_desc *d) {
  printf("%s: [", what);
  for (int i = 0; i < n; i++) {
    char s[96];
    printf("%sDataDesc[%s,%s]", i ? ", " : "", d[i].name, mt_shape_str(&d[i].shape, s, sizeof s));
  }
  printf("]\n");
}

static int print_batch_accuracy(int nout, mt_ndarray *const *outs, int nbatch, const mt_batch *b,
                                void *user) {
  const float *p = mt_ndarray_data(outs[0]), *label = mt_ndarray_data(b->label[0]);
  mt_shape s = mt_ndarray_shape(outs[0]);
  int correct = 0;
  for (int64_t i = 0; i < s.dim[0]; i++) {
    int best = 0;
    for (int c = 1; c < s.dim[1]; c++)
      if (p[i * s.dim[1] + c] > p[i * s.dim[1] + best]) best = c;
    correct += best == (int)label[i];
  }
  printf("batch %d, accuracy %f\n", nbatch, (double)correct / (double)s.dim[0]);
  return 0;
}

int main(void) {
  mt_blas_init();
  /* Preliminary: synthetic data, 10 batches of 32 samples per set */
  mt_data_iter *train_iter, *val_iter;
  CHECK(mt_synthetic_iter_create(NUM_CLASSES, NUM_FEATURES, NUM_SAMPLES, BATCH, 0, 0, 1,
                                 &train_iter));
  CHECK(
      mt_synthetic_iter_create(NUM_CLASSES, NUM_FEATURES, NUM_SAMPLES, BATCH, 0, 1, 0, &val_iter));

  /* the network */
  mt_symbol *data, *fc1, *act1, *fc2, *net;
  CHECK(mt_symbol_variable("data", &data));
  CHECK(mt_symbol_create("FullyConnected", "fc1", "num_hidden=64", 1, &data, &fc1));
  CHECK(mt_symbol_create("Activation", "relu1", "act_type=relu", 1, &fc1, &act1));
  CHECK(mt_symbol_create("FullyConnected", "fc2", "num_hidden=10", 1, &act1, &fc2));
  CHECK(mt_symbol_create("SoftmaxOutput", "softmax", NULL, 1, &fc2, &net));

  /* ---- intermediate-level interface ---- */
  printf("== intermediate-level interface\n");
  mt_module *mod;
  CHECK(mt_module_create(net, 0, NULL, 0, NULL, 1, (mt_context[]){mt_cpu(0)}, &mod));
  int nd, nl;
  const mt_data_desc *dd, *ld;
  CHECK(mt_data_iter_provide_data(train_iter, &nd, &dd));
  CHECK(mt_data_iter_provide_label(train_iter, &nl, &ld));
  CHECK(mt_module_bind(mod, nd, dd, nl, ld, 1, 0, 0, MT_REQ_WRITE));
  mt_initializer *xavier;
  CHECK(mt_initializer_create("xavier magnitude=2", 0, &xavier));
  CHECK(mt_module_init_params(mod, xavier, NULL, NULL, 0, 0, 0));
  CHECK(mt_module_init_optimizer(mod, "local", "sgd", "learning_rate=0.1", 0));
  mt_metric *metric;
  CHECK(mt_metric_create("acc", &metric));
  for (int epoch = 0; epoch < 5; epoch++) {
    CHECK(mt_data_iter_reset(train_iter));
    mt_metric_reset(metric);
    mt_batch batch;
    int got;
    while ((got = mt_data_iter_next(train_iter, &batch)) == 1) {
      CHECK(mt_module_forward(mod, &batch, 1));
      CHECK(mt_module_update_metric(mod, metric, batch.nlabel, batch.label));
      CHECK(mt_module_backward(mod, 0, NULL));
      CHECK(mt_module_update(mod));
    }
    CHECK(got);
    const char *name;
    double v;
    CHECK(mt_metric_get(metric, 0, &name, &v));
    printf("Epoch %d, Training ('%s', %f)\n", epoch, name, v);
  }

  /* ---- the module's properties ---- */
  printf("== properties\n");
  int n;
  const char *const *names;
  const mt_data_desc *descs;
  CHECK(mt_module_data_names(mod, &n, &names));
  printf("data_names: [%s]\n", names[0]);
  CHECK(mt_module_output_names(mod, &n, &names));
  printf("output_names: [%s]\n", names[0]);
  CHECK(mt_module_data_shapes(mod, &n, &descs));
  print_descs("data_shapes", n, descs);
  CHECK(mt_module_label_shapes(mod, &n, &descs));
  print_descs("label_shapes", n, descs);
  CHECK(mt_module_output_shapes(mod, &n, &descs));
  print_descs("output_shapes", n, descs);
  printf(
      "binded=%d for_training=%d params_initialized=%d optimizer_initialized=%d "
      "inputs_need_grad=%d\n",
      mt_module_binded(mod), mt_module_for_training(mod), mt_module_params_initialized(mod),
      mt_module_optimizer_initialized(mod), mt_module_inputs_need_grad(mod));
  const mt_arena *arg_params, *aux_params;
  CHECK(mt_module_get_params(mod, &arg_params, &aux_params));
  for (int i = 0; i < mt_arena_count(arg_params); i++) {
    char s[96];
    mt_shape sh = mt_ndarray_shape(mt_arena_at(arg_params, i));
    printf("  %s %s\n", mt_arena_name(arg_params, i), mt_shape_str(&sh, s, sizeof s));
  }
  mt_module_free(mod);

  /* ---- high-level interface: fit with validation ---- */
  printf("== fit\n");
  CHECK(mt_data_iter_reset(train_iter));
  CHECK(mt_module_create(net, 0, NULL, 0, NULL, 1, (mt_context[]){mt_cpu(0)}, &mod));
  mt_fit_options opt;
  mt_fit_options_init(&opt);
  opt.eval_data = val_iter;
  opt.optimizer = "sgd";
  opt.optimizer_params = "learning_rate=0.1";
  opt.eval_metric = "acc";
  opt.initializer = xavier;
  opt.num_epoch = 5;
  CHECK(mt_module_fit(mod, train_iter, &opt));

  /* ---- predict ---- */
  printf("== predict\n");
  int nout;
  mt_ndarray **y;
  CHECK(mt_module_predict(mod, val_iter, -1, 1, &nout, &y));
  char s[96];
  mt_shape ys = mt_ndarray_shape(y[0]);
  printf("y.shape = %s\n", mt_shape_str(&ys, s, sizeof s));
  int shape_ok = ys.ndim == 2 && ys.dim[0] == NUM_SAMPLES && ys.dim[1] == NUM_CLASSES;
  for (int i = 0; i < nout; i++) mt_ndarray_free(y[i]);
  free(y);

  /* ---- iter_predict ---- */
  printf("== iter_predict\n");
  CHECK(mt_module_iter_predict(mod, val_iter, -1, 1, print_batch_accuracy, NULL));

  /* ---- score ---- */
  printf("== score\n");
  mt_metric *sm;
  CHECK(mt_metric_create("mse,acc", &sm));
  CHECK(mt_module_score(mod, val_iter, sm, -1, 1, 0, 0, NULL));
  double acc = 0;
  for (int i = 0; i < mt_metric_num(sm); i++) {
    const char *name;
    double v;
    CHECK(mt_metric_get(sm, i, &name, &v));
    printf("%s %f\n", name, v);
    if (i == 1) acc = v;
  }
  mt_metric_free(sm);
  mt_metric_free(metric);
  mt_module_free(mod);
  mt_initializer_free(xavier);
  mt_symbol_free(data);
  mt_symbol_free(fc1);
  mt_symbol_free(act1);
  mt_symbol_free(fc2);
  mt_symbol_free(net);
  mt_data_iter_free(train_iter);
  mt_data_iter_free(val_iter);
  if (!shape_ok || acc < 0.9) {
    fprintf(
        stderr,
        "tutorial: expected predictions (320, 10) and validation accuracy >= 0.9, got %s and %f\n",
        s, acc);
    return 1;
  }
  printf("tutorial: OK (validation accuracy %f)\n", acc);
  return 0;
}
