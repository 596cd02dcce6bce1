/* test_config.c — the job config of `modtrain` (cmd/config*.c) and the
 * network builder (src/net_builder.c): jobs/configs/tutorial.ini parses to
 * the tutorial's values, --set overrides, defaults, a table of bad configs
 * (written to temporary files) each with its error code and message
 * ("FILE:LINE: [section] key: ..."), layers built into a symbol (argument
 * lists against the hand-built MLP), DOT output, and the docs listing every
 * key. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/config.h"
#include "src/net_builder.h"
#include "base/device.h"
#include "testutil.h"

/* The source tree, from this file's path: tests/test_config.c -> tree. */
static const char *src_path(const char *rel, char *buf, size_t n) {
  const char *f = __FILE__;
  const char *slash = strrchr(f, '/');
  size_t dir = slash ? (size_t)(slash - f) : 0;
  /* __FILE__ is .../tests/test_config.c; the tree is one level up */
  snprintf(buf, n, "%.*s/../%s", (int)dir, f, rel);
  if (!slash) snprintf(buf, n, "../%s", rel);
  return buf;
}

/* Writes text to a new temporary .ini file; returns its malloc'd path. */
static char *write_tmp(const char *text, const char *suffix) {
  char tmpl[256];
  snprintf(tmpl, sizeof tmpl, "/tmp/mt_test_config_XXXXXX%s", suffix);
  int fd = mkstemps(tmpl, (int)strlen(suffix));
  if (fd < 0) fail_msg("mkstemps failed");
  size_t len = strlen(text);
  if (write(fd, text, len) != (ssize_t)len) fail_msg("write failed");
  close(fd);
  return strdup(tmpl);
}

/* ---------------------------------------------------------- tutorial.ini */

static void test_tutorial_ini(void **state) {
  char path[4096];
  src_path("jobs/configs/tutorial.ini", path, sizeof path);
  mt_config *c = NULL;
  MT_ASSERT_OK(mt_config_load(path, 0, NULL, &c));
  assert_string_equal(c->train, "synthetic");
  assert_string_equal(c->val, "synthetic");
  assert_int_equal(c->num_classes, 10);
  assert_int_equal(c->feature_dim, 128);
  assert_int_equal(c->num_samples, 320);
  assert_int_equal(c->batch_size, 32);
  assert_int_equal(c->shuffle, 1);
  assert_int_equal(c->seed, 0);
  assert_null(c->symbol_path);
  assert_int_equal(c->nlayers, 4);
  const char *ops[] = {"FullyConnected", "Activation", "FullyConnected", "SoftmaxOutput"};
  const char *names[] = {"fc1", "relu1", "fc2", "softmax"};
  const char *attrs[] = {"num_hidden=64", "act_type=relu", "num_hidden=10", ""};
  for (int i = 0; i < 4; i++) {
    assert_string_equal(c->layers[i].op, ops[i]);
    assert_string_equal(c->layers[i].name, names[i]);
    assert_string_equal(c->layers[i].attrs, attrs[i]);
    assert_int_equal(c->layers[i].ninputs, 0);
  }
  /* consecutive lines of one multi-line value */
  assert_true(c->layers[0].line > 0);
  for (int i = 1; i < 4; i++) assert_int_equal(c->layers[i].line, c->layers[0].line + i);
  assert_int_equal(c->num_epoch, 5);
  assert_string_equal(c->optimizer, "sgd");
  assert_true(c->learning_rate == 0.1);
  assert_non_null(strstr(c->optimizer_params, "learning_rate=0.1"));
  assert_non_null(strstr(c->optimizer_params, "momentum=0"));
  assert_null(c->lr_scheduler);
  assert_string_equal(c->initializer, "xavier magnitude=2");
  assert_string_equal(c->eval_metric, "acc");
  assert_int_equal(c->nctx, 1);
  assert_int_equal(c->ctx[0].type, MT_CPU);
  assert_int_equal(c->ctx[0].id, 0);
  assert_string_equal(c->kvstore, "dist_sync");
  assert_int_equal(c->speedometer, 0);
  assert_null(c->metrics_file);
  assert_null(c->prefix);
  assert_int_equal(c->period, 1);
  assert_int_equal(c->resume, MT_RESUME_NONE);
  assert_int_equal(c->nlabels, 1);
  assert_string_equal(c->label_names[0], "softmax_label");
  /* the built network is the tutorial's MLP */
  int n;
  const char *const *args;
  MT_ASSERT_OK(mt_symbol_list_arguments(c->symbol, &n, &args));
  const char *want[] = {"data",       "fc1_weight", "fc1_bias",
                        "fc2_weight", "fc2_bias",   "softmax_label"};
  assert_int_equal(n, 6);
  for (int i = 0; i < 6; i++) assert_string_equal(args[i], want[i]);
  char where[4200], expect[4200];
  snprintf(expect, sizeof expect, "%s:%d", path, c->layers[0].line);
  assert_string_equal(mt_config_where(c, "model", "layers", where, sizeof where), expect);
  snprintf(expect, sizeof expect, "%s (default)", path);
  assert_string_equal(mt_config_where(c, "train", "momentum", where, sizeof where), expect);
  assert_true(mt_config_given(c, "data", "batch_size"));
  assert_false(mt_config_given(c, "train", "momentum"));
  MT_ASSERT_OK(mt_config_check_world(c, 1));
  MT_ASSERT_OK(mt_config_check_world(c, 4));

  /* the effective config reads back to the same values */
  char *ini = NULL;
  MT_ASSERT_OK(mt_config_to_ini(c, &ini));
  mt_config *c2 = NULL;
  MT_ASSERT_OK(mt_config_load_string(ini, "effective.ini", 0, NULL, &c2));
  assert_int_equal(c2->nlayers, 4);
  for (int i = 0; i < 4; i++) {
    assert_string_equal(c2->layers[i].op, ops[i]);
    assert_string_equal(c2->layers[i].attrs, attrs[i]);
  }
  assert_int_equal(c2->batch_size, 32);
  assert_string_equal(c2->kvstore, "dist_sync");
  assert_string_equal(c2->optimizer_params, c->optimizer_params);
  free(ini);
  mt_config_free(c2);
  mt_config_free(c);
}

/* ------------------------------------------------------------ overrides */

static void test_overrides(void **state) {
  char path[4096];
  src_path("jobs/configs/tutorial.ini", path, sizeof path);
  const char *sets[] = {"data.batch_size=64",
                        "train.optimizer=adam",
                        "train.learning_rate=0.01",
                        "train.beta1=0.8",
                        "model.layers=FullyConnected h num_hidden=16; Activation a act_type=tanh;"
                        "FullyConnected o num_hidden=10; SoftmaxOutput out",
                        "train.context=cpu:0,1",
                        "checkpoint.prefix=/tmp/mt_ckpt/mlp",
                        "checkpoint.resume=auto"};
  mt_config *c = NULL;
  MT_ASSERT_OK(mt_config_load(path, 8, sets, &c));
  assert_int_equal(c->batch_size, 64);
  assert_string_equal(c->optimizer, "adam");
  assert_true(c->learning_rate == 0.01);
  assert_non_null(strstr(c->optimizer_params, "beta1=0.8"));
  assert_null(strstr(c->optimizer_params, "momentum")); /* adam takes none */
  assert_int_equal(c->nlayers, 4);
  assert_string_equal(c->layers[3].name, "out");
  assert_int_equal(c->nlabels, 1);
  assert_string_equal(c->label_names[0], "out_label");
  assert_int_equal(c->nctx, 2);
  assert_int_equal(c->ctx[1].id, 1);
  assert_string_equal(c->prefix, "/tmp/mt_ckpt/mlp");
  assert_int_equal(c->resume, MT_RESUME_AUTO);
  char where[4200];
  assert_string_equal(mt_config_where(c, "data", "batch_size", where, sizeof where), "--set");
  mt_config_free(c);
#ifdef MT_HAVE_CUDA
  /* a GPU may be listed twice: two executors on one device. Where no GPU
   * is visible (CI), the config check refuses the context and says why. */
  const char *twice[] = {"train.context=gpu:0,0"};
  c = NULL;
  if (mt_device_check(mt_gpu(0)) < 0) {
    assert_int_equal(mt_config_load(path, 1, twice, &c), MT_E_INVAL);
    assert_non_null(strstr(mt_last_error(), "[train] context: 'gpu:0,0': gpu(0): "));
    assert_null(c);
  } else {
    MT_ASSERT_OK(mt_config_load(path, 1, twice, &c));
  }
  if (c) assert_int_equal(c->nctx, 2);
  if (c) {
    assert_int_equal(c->ctx[0].type, MT_GPU);
    assert_int_equal(c->ctx[1].type, MT_GPU);
    assert_int_equal(c->ctx[0].id, 0);
    assert_int_equal(c->ctx[1].id, 0);
  }
  mt_config_free(c);
#endif

  /* an override fixes a value the file gets wrong: validation follows it */
  const char *bad_file =
      "[data]\ntrain = synthetic\nbatch_size = -3\n[model]\n"
      "layers = FullyConnected fc num_hidden=10\n  SoftmaxOutput sm\n";
  char *p = write_tmp(bad_file, ".ini");
  const char *fix[] = {"data.batch_size=16"};
  MT_ASSERT_OK(mt_config_load(p, 1, fix, &c));
  assert_int_equal(c->batch_size, 16);
  mt_config_free(c);
  /* an override cannot hide an error the file still has */
  const char *origin[] = {"--resume"};
  const char *res[] = {"checkpoint.resume=3"};
  int rc = mt_config_load_ex(p, NULL, 1, res, origin, &c);
  assert_int_equal(rc, MT_E_INVAL);
  assert_null(c);
  assert_non_null(strstr(mt_last_error(), "[data] batch_size"));
  unlink(p);
  free(p);
}

/* Defaults where the file says nothing, and the optimizer's own rate. */
static void test_defaults(void **state) {
  const char *text =
      "# only what is required\n[data]\ntrain = synthetic  # inline '#' comment\n"
      "[model]\nlayers = FullyConnected fc num_hidden=10\n"
      "         SoftmaxOutput softmax\n";
  mt_config *c = NULL;
  MT_ASSERT_OK(mt_config_load_string(text, "min.ini", 0, NULL, &c));
  assert_string_equal(c->train, "synthetic");
  assert_null(c->val);
  assert_int_equal(c->num_classes, 10);
  assert_int_equal(c->feature_dim, 128);
  assert_int_equal(c->num_samples, 320);
  assert_int_equal(c->batch_size, 32);
  assert_int_equal(c->num_epoch, 5);
  assert_string_equal(c->optimizer, "sgd");
  assert_true(c->learning_rate == 0.1);
  assert_string_equal(c->initializer, "xavier magnitude=2");
  assert_string_equal(c->eval_metric, "acc");
  assert_string_equal(c->kvstore, "dist_sync");
  assert_int_equal(c->period, 1);
  assert_int_equal(c->resume, MT_RESUME_NONE);
  mt_config_free(c);
  const char *adam[] = {"train.optimizer=ADAM"};
  MT_ASSERT_OK(mt_config_load_string(text, "min.ini", 1, adam, &c));
  assert_string_equal(c->optimizer, "adam");
  assert_true(c->learning_rate == 0.001); /* MXNet's Adam default */
  /* the effective config of an adam job reads back (no sgd-only momentum in it) */
  char *ini = NULL;
  MT_ASSERT_OK(mt_config_to_ini(c, &ini));
  assert_null(strstr(ini, "momentum"));
  mt_config *c2 = NULL;
  MT_ASSERT_OK(mt_config_load_string(ini, "effective.ini", 0, NULL, &c2));
  assert_string_equal(c2->optimizer_params, c->optimizer_params);
  mt_config_free(c2);
  free(ini);
  mt_config_free(c);
}

/* ----------------------------------------------------- bad configs */

/* lines 1-2 */
#define D0 "[data]\ntrain = synthetic\n"
/* 5 lines */
#define M0                                                                                         \
  "[model]\nlayers = FullyConnected fc1 num_hidden=64\n  Activation relu1 act_type=relu\n"         \
  "  FullyConnected fc2 num_hidden=10\n  SoftmaxOutput softmax\n"
/* D0 M0: [train] at line 8, its first key at line 9 */
#define DM D0 M0 "[train]\n"

typedef struct {
  const char *text;
  const char *set; /* one --set, or NULL */
  int code;
  int line; /* expected FILE:LINE; 0: the error names --set */
  const char *frag[3];
} bad_case;

static const bad_case bad_cases[] = {
    /* structure */
    {DM "[trian]\nnum_epoch = 5\n",
     NULL,
     MT_E_FORMAT,
     9,
     {"[trian]", "unknown section", "did you mean train?"}},
    {D0 "batchsize = 32\n" M0,
     NULL,
     MT_E_FORMAT,
     3,
     {"[data] batchsize", "unknown key", "did you mean batch_size?"}},
    {D0 "learning_rate = 0.1\n" M0,
     NULL,
     MT_E_FORMAT,
     3,
     {"[data] learning_rate", "it belongs in [train]"}},
    {D0 "batch_size = 32\nbatch_size = 64\n" M0,
     NULL,
     MT_E_FORMAT,
     4,
     {"[data] batch_size", "given twice", "first at line 3"}},
    {"batch_size = 32\n" D0 M0, NULL, MT_E_FORMAT, 1, {"batch_size", "outside any section"}},
    {"[data]\ntrain synthetic\n" M0, NULL, MT_E_FORMAT, 2, {"[data]", "is not key = value"}},
    {"[data\ntrain = synthetic\n" M0, NULL, MT_E_FORMAT, 1, {"without ']'"}},
    {D0 "  val = synthetic\n" M0,
     NULL,
     MT_E_FORMAT,
     3,
     {"[data] train", "only [model] layers", "remove the indentation"}},
    {D0 M0
     "[train]\neval_metric = acc ; a comment is fine, but this value is far too long "
     "for inih's line buffer of two hundred characters: "
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"
     "initializer = xavier magnitude=2 "
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
     NULL,
     MT_E_FORMAT,
     10,
     {"[train]", "characters long"}},
    /* values */
    {D0 "batch_size = abc\n" M0,
     NULL,
     MT_E_INVAL,
     3,
     {"[data] batch_size", "'abc' is not a number", "e.g. 32"}},
    {D0 "batch_size = -4\n" M0, NULL, MT_E_INVAL, 3, {"[data] batch_size", "negative"}},
    {D0 "batch_size = 0\n" M0, NULL, MT_E_INVAL, 3, {"[data] batch_size", "zero"}},
    {D0 "batch_size = 2.5\n" M0, NULL, MT_E_INVAL, 3, {"[data] batch_size", "not a whole number"}},
    {D0 "batch_size =\n" M0, NULL, MT_E_INVAL, 3, {"[data] batch_size", "empty value"}},
    {D0 "shuffle = maybe\n" M0, NULL, MT_E_INVAL, 3, {"[data] shuffle", "not true or false"}},
    {D0 "seed = -1\n" M0, NULL, MT_E_INVAL, 3, {"[data] seed", "not a whole number >= 0"}},
    {D0 "num_classes = 1\n" M0, NULL, MT_E_INVAL, 3, {"[data] num_classes", "too small"}},
    {DM "num_epoch = 2.5\n", NULL, MT_E_INVAL, 9, {"[train] num_epoch", "not a whole number"}},
    {DM "optimizer = adamw\n",
     NULL,
     MT_E_INVAL,
     9,
     {"[train] optimizer", "unknown optimizer 'adamw'", "did you mean adam?"}},
    {DM "learning_rate = fast\n",
     NULL,
     MT_E_INVAL,
     9,
     {"[train] learning_rate", "'fast' is not a number"}},
    {DM "learning_rate = 0\n", NULL, MT_E_INVAL, 9, {"[train] learning_rate", "out of range"}},
    {DM "optimizer = adam\nmomentum = 0.9\n",
     NULL,
     MT_E_INVAL,
     10,
     {"[train] momentum", "adam takes no momentum"}},
    {DM "beta1 = 0.8\n",
     NULL,
     MT_E_INVAL,
     9,
     {"[train] beta1", "optimizer sgd takes no beta1", "it is for adam"}},
    {DM "optimizer = adam\nbeta1 = high\n", NULL, MT_E_INVAL, 10, {"[train] beta1", "high"}},
    {DM "lr_scheduler = factor step=0\n", NULL, MT_E_INVAL, 9, {"[train] lr_scheduler", "step"}},
    {DM "initializer = gaussian\n", NULL, MT_E_INVAL, 9, {"[train] initializer", "gaussian"}},
    {DM "eval_metric = accuracyy\n", NULL, MT_E_INVAL, 9, {"[train] eval_metric", "accuracyy"}},
    {DM "context = tpu\n",
     NULL,
     MT_E_INVAL,
     9,
     {"[train] context", "'tpu' is not a context", "cpu:0,1"}},
    {DM "context = cpu:0,x\n", NULL, MT_E_INVAL, 9, {"[train] context", "bad device number"}},
    {DM "context = cpu:0,0\n", NULL, MT_E_INVAL, 9, {"[train] context", "listed twice"}},
    {DM "kvstore = dist_async\n", NULL, MT_E_INVAL, 9, {"[train] kvstore", "not supported"}},
    {DM "kvstore = nccl\n", NULL, MT_E_INVAL, 9, {"[train] kvstore", "context = cpu"}},
    {DM "speedometer = -1\n", NULL, MT_E_INVAL, 9, {"[train] speedometer", "negative"}},
    /* the update count: at most 2^53 (docs/config.md) */
    {DM "begin_num_update = 9223372036854775807\n",
     NULL,
     MT_E_INVAL,
     9,
     {"[train] begin_num_update", "too large", "at most 9007199254740992"}},
    {DM "begin_num_update = 9007199254740993\n",
     NULL,
     MT_E_INVAL,
     9,
     {"[train] begin_num_update", "too large"}},
    {DM "begin_num_update = -1\n", NULL, MT_E_INVAL, 9, {"[train] begin_num_update", "negative"}},
    {DM "metrics_file = /nonexistent_dir_mt/m.jsonl\n",
     NULL,
     MT_E_INVAL,
     9,
     {"[train] metrics_file", "cannot write in directory '/nonexistent_dir_mt'"}},
    {DM "[checkpoint]\nperiod = 0\n", NULL, MT_E_INVAL, 10, {"[checkpoint] period", "zero"}},
    {DM "[checkpoint]\nresume = 5\n",
     NULL,
     MT_E_INVAL,
     10,
     {"[checkpoint] resume", "needs [checkpoint] prefix"}},
    {DM "[checkpoint]\nresume = latest\n",
     NULL,
     MT_E_INVAL,
     10,
     {"[checkpoint] resume", "none, auto or an epoch"}},
    {DM "[checkpoint]\nprefix = ckpt/\n",
     NULL,
     MT_E_INVAL,
     10,
     {"[checkpoint] prefix", "ends with '/'"}},
    /* data */
    {"[data]\nval = none\n" M0, NULL, MT_E_INVAL, 1, {"[data] train", "required key missing"}},
    {M0, NULL, MT_E_INVAL, 1, {"[data] train", "no [data] section"}},
    {"[data]\ntrain = /nonexistent_mt/train.h5\n" M0,
     NULL,
     MT_E_INVAL,
     2,
     {"[data] train", "cannot read '/nonexistent_mt/train.h5'", "No such file"}},
    {D0 "num_samples = 16\n" M0,
     NULL,
     MT_E_INVAL,
     3,
     {"[data] num_samples", "larger than the 16 samples"}},
    /* model */
    {D0 "[model]\n",
     NULL,
     MT_E_INVAL,
     3,
     {"[model] layers", "network is missing", "symbol = PATH-symbol.json"}},
    {D0 "[model]\nsymbol = /nonexistent_mt-symbol.json\n",
     NULL,
     MT_E_INVAL,
     4,
     {"[model] symbol", "cannot read"}},
    {D0 "[model]\nlayers = FullyConnected fc1 num_hidden=64\n  Activaton relu1 act_type=relu\n"
        "  FullyConnected fc2 num_hidden=10\n  SoftmaxOutput softmax\n",
     NULL,
     MT_E_INVAL,
     5,
     {"[model] layers", "unknown op 'Activaton'", "did you mean Activation?"}},
    {D0 "[model]\nlayers = FullyConnected fc1 num_hidden=abc\n  SoftmaxOutput softmax\n",
     NULL,
     MT_E_INVAL,
     4,
     {"[model] layers", "fc1", "num_hidden"}},
    {D0 "[model]\nlayers = FullyConnected fc1 num_hidden=64\n  Activation act_type=relu\n"
        "  SoftmaxOutput softmax\n",
     NULL,
     MT_E_INVAL,
     5,
     {"[model] layers", "has no name"}},
    {D0 "[model]\nlayers = FullyConnected fc1 num_hidden=64\n  FullyConnected fc1 num_hidden=10\n"
        "  SoftmaxOutput softmax\n",
     NULL,
     MT_E_INVAL,
     5,
     {"[model] layers", "'fc1' is used twice", "first at line 4"}},
    {D0 "[model]\nlayers = FullyConnected fc1 num_hidden=64\n  FullyConnected fc2 num_hidden=10\n",
     NULL,
     MT_E_INVAL,
     5,
     {"[model] layers", "ends with FullyConnected, not a loss"}},
    {D0 "[model]\nlayers = FullyConnected fc1 num_hidden=64\n"
        "  elemwise_add add inputs=fc1,nosuch\n  SoftmaxOutput softmax\n",
     NULL,
     MT_E_INVAL,
     5,
     {"[model] layers", "input 'nosuch' is not an earlier layer"}},
    {D0 "[model]\nlayers = FullyConnected fc1 num_hidden=64\n"
        "  FullyConnected fc2 num_hidden=10 inputs=data\n  SoftmaxOutput softmax\n",
     NULL,
     MT_E_INVAL,
     4,
     {"[model] layers", "'fc1' feeds no layer"}},
    {D0 "[model]\nlayers = FullyConnected fc1 num_hidden=64\n  FullyConnected fc2 num_hidden=5\n"
        "  SoftmaxOutput softmax\n",
     NULL,
     MT_E_INVAL,
     6,
     {"[model] layers", "outputs 5 classes", "num_classes = 10"}},
    {D0 "[model]\nlayers = FullyConnected fc1 num_hidden=64\n"
        "  elemwise_add add inputs=fc1,data\n  SoftmaxOutput softmax\n",
     NULL,
     MT_E_INVAL,
     5,
     {"[model] layers", "add", "(32, 128)"}},
    /* synthetic_shape: a sample of 1 to 5 dims, agreeing with feature_dim */
    {D0 "synthetic_shape = 1,0,8\n" M0,
     NULL,
     MT_E_INVAL,
     3,
     {"[data] synthetic_shape", "'1,0,8' is not a shape of whole numbers >= 1", "e.g. 1,28,28"}},
    {D0 "synthetic_shape = (1,8\n" M0, NULL, MT_E_INVAL, 3, {"[data] synthetic_shape", "'(1,8'"}},
    {D0 "synthetic_shape = 1,8,x\n" M0, NULL, MT_E_INVAL, 3, {"[data] synthetic_shape", "1,8,x"}},
    {D0 "synthetic_shape = 1,2,3,4,5,6\n" M0,
     NULL,
     MT_E_INVAL,
     3,
     {"[data] synthetic_shape", "more than 5 dims"}},
    {D0 "synthetic_shape = 8192,8192,2\n" M0,
     NULL,
     MT_E_INVAL,
     3,
     {"[data] synthetic_shape", "more than 2^26 floats"}},
    {D0 "feature_dim = 128\nsynthetic_shape = 1,8,8\n" M0,
     NULL,
     MT_E_INVAL,
     4,
     {"[data] synthetic_shape", "64 features per sample but feature_dim = 128"}},
    /* the layer at fault for the shaped synthetic data, at its line */
    {D0 "synthetic_shape = 1,8,8\n[model]\nlayers = FullyConnected fc1 num_hidden=64\n"
        "  elemwise_add add inputs=fc1,data\n  SoftmaxOutput softmax\n",
     NULL,
     MT_E_INVAL,
     6,
     {"[model] layers", "add", "(batch_size, synthetic_shape) = (32, 1, 8, 8)"}},
    /* tuples: spaces inside ( ) are joined; an unclosed one is named */
    {D0 "[model]\nlayers = FullyConnected fc1 num_hidden=64\n  Dropout d p=0.5 axes=(1, 2)\n"
        "  SoftmaxOutput softmax\n",
     NULL,
     MT_E_INVAL,
     5,
     {"[model] layers", "Dropout 'd': axes='(1,2)' is not supported"}},
    {D0 "[model]\nlayers = FullyConnected fc1 num_hidden=64\n  Dropout d p=0.5 axes=(1, 2\n"
        "  SoftmaxOutput softmax\n",
     NULL,
     MT_E_INVAL,
     5,
     {"[model] layers", "'Dropout d p=0.5 axes=(1, 2': a '(' or '[' is not closed"}},
    /* --set */
    {DM, "data.batch_size=x", MT_E_INVAL, 0, {"--set: [data] batch_size", "'x' is not a number"}},
    {DM, "nosuch.key=1", MT_E_FORMAT, 0, {"--set: [nosuch]", "unknown section"}},
    {DM, "data.batch_size", MT_E_FORMAT, 0, {"--set", "not section.key=value"}},
    {DM,
     "train.lerning_rate=0.1",
     MT_E_FORMAT,
     0,
     {"--set: [train] lerning_rate", "did you mean learning_rate?"}},
    {DM,
     "model.symbol=/nonexistent_mt-symbol.json",
     MT_E_INVAL,
     0,
     {"--set: [model] symbol", "cannot read"}},
    /* values a config file could not hold, so the effective config
     * (mt_config_to_ini) would not read back: found by fuzz/fuzz_config
     * (a layer named '#fc1'); before, the override was taken */
    {DM,
     "model.layers=FullyConnected #fc1 num_hidden=32;SoftmaxOutput softmax",
     MT_E_INVAL,
     0,
     {"--set: [model] layers", "'#' at the start or after a space begins a comment"}},
    {DM, "data.train=run ;1.h5", MT_E_INVAL, 0, {"--set: [data] train", "'run ;1.h5'", "comment"}},
    {DM,
     "train.optimizer=sgd\nnum_epoch = 9",
     MT_E_INVAL,
     0,
     {"--set: [train] optimizer", "line break"}},
    {DM,
     "train.metrics_file=/tmp/"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     ".jsonl",
     MT_E_INVAL,
     0,
     {"--set: [train] metrics_file", "longer than a config file's line holds"}},
#ifndef MT_HAVE_CUDA
    {DM "context = gpu:0,1\n", NULL, MT_E_INVAL, 9, {"[train] context", "no CUDA"}},
#endif
};

static void test_bad_configs(void **state) {
  int n = (int)(sizeof bad_cases / sizeof bad_cases[0]);
  assert_true(n >= 20);
  for (int i = 0; i < n; i++) {
    const bad_case *b = &bad_cases[i];
    char *path = write_tmp(b->text, ".ini");
    mt_config *c = (mt_config *)1;
    int rc = mt_config_load(path, b->set ? 1 : 0, b->set ? &b->set : NULL, &c);
    const char *msg = mt_last_error();
    if (getenv("MT_TEST_VERBOSE")) print_message("case %2d: %s\n", i, msg);
    if (rc != b->code)
      fail_msg("case %d: code %d (%s), expected %d; message: %s", i, rc, mt_strerror(rc), b->code,
               msg);
    assert_null(c);
    char want[4200];
    if (b->line) snprintf(want, sizeof want, "%s:%d: ", path, b->line);
    else snprintf(want, sizeof want, "--set");
    if (strncmp(msg, want, strlen(want)))
      fail_msg("case %d: message does not start with '%s': %s", i, want, msg);
    for (int f = 0; f < 3 && b->frag[f]; f++)
      if (!strstr(msg, b->frag[f])) fail_msg("case %d: no '%s' in: %s", i, b->frag[f], msg);
    /* one line */
    if (strchr(msg, '\n')) fail_msg("case %d: message spans lines: %s", i, msg);
    unlink(path);
    free(path);
  }
}

/* symbol and layers both: the error points at the later one. */
static void test_symbol_and_layers(void **state) {
  mt_symbol *d, *fc, *sm;
  MT_ASSERT_OK(mt_symbol_variable("data", &d));
  MT_ASSERT_OK(mt_symbol_create("FullyConnected", "fc", "num_hidden=10", 1, &d, &fc));
  MT_ASSERT_OK(mt_symbol_create("SoftmaxOutput", "sm", NULL, 1, &fc, &sm));
  char *json = write_tmp("", "-symbol.json");
  MT_ASSERT_OK(mt_symbol_save(sm, json));
  char text[8192];
  snprintf(text, sizeof text,
           D0
           "[model]\nlayers = FullyConnected fc1 num_hidden=10\n"
           "  SoftmaxOutput softmax\nsymbol = %s\n",
           json);
  char *path = write_tmp(text, ".ini");
  mt_config *c = NULL;
  assert_int_equal(mt_config_load(path, 0, NULL, &c), MT_E_INVAL);
  char want[4200];
  snprintf(want, sizeof want, "%s:6: [model] symbol: give either symbol or layers, not both", path);
  assert_non_null(strstr(mt_last_error(), want));
  assert_non_null(strstr(mt_last_error(), ":4"));
  /* with layers set to none from the command line, the symbol file is the network */
  const char *sets[] = {"model.layers=none"};
  MT_ASSERT_OK(mt_config_load(path, 1, sets, &c));
  assert_int_equal(c->nlayers, 0);
  assert_string_equal(c->symbol_path, json);
  assert_string_equal(c->label_names[0], "sm_label");
  int n;
  const char *const *args;
  MT_ASSERT_OK(mt_symbol_list_arguments(c->symbol, &n, &args));
  assert_int_equal(n, 4);
  assert_string_equal(args[1], "fc_weight");
  mt_config_free(c);
  unlink(path);
  unlink(json);
  free(path);
  free(json);
  mt_symbol_free(d);
  mt_symbol_free(fc);
  mt_symbol_free(sm);
}

/* A config that cannot be read is an I/O error naming the path. */
static void test_missing_file(void **state) {
  mt_config *c = (mt_config *)1;
  assert_int_equal(mt_config_load("/nonexistent_mt/job.ini", 0, NULL, &c), MT_E_IO);
  assert_null(c);
  assert_non_null(strstr(mt_last_error(), "/nonexistent_mt/job.ini: cannot open the config"));
}

static void test_check_world(void **state) {
  const char *text = D0 "batch_size = 30\n" M0;
  mt_config *c = NULL;
  MT_ASSERT_OK(mt_config_load_string(text, "job.ini", 0, NULL, &c));
  MT_ASSERT_OK(mt_config_check_world(c, 2));
  MT_ASSERT_OK(mt_config_check_world(c, 3));
  assert_int_equal(mt_config_check_world(c, 4), MT_E_INVAL);
  assert_string_equal(mt_last_error(),
                      "job.ini:3: [data] batch_size: batch_size 30 is not "
                      "divisible by 4 ranks; use a multiple of 4");
  mt_config_free(c);
}

/* -------------------------------------------- files of a training run */

/* A dataset file of n samples of d features, labels y (n,), no num_classes
 * attribute (so only the network says what a label may be). */
static void write_set(const char *path, int64_t n, int64_t d, const float *y) {
  mt_ndarray *x, *l;
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(n, d), mt_cpu(0), &x));
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(n), mt_cpu(0), &l));
  MT_ASSERT_OK(mt_ndarray_copy_from(l, y, n));
  MT_ASSERT_OK(mt_dataset_write(path, x, l, 0, 0, NULL));
  mt_ndarray_free(x);
  mt_ndarray_free(l);
}

/* Loads text and runs mt_config_check_files; returns its status (the
 * message in mt_last_error). */
static int check_files(const char *text, int nset, const char **sets) {
  mt_config *c = NULL;
  MT_ASSERT_OK(mt_config_load_string(text, "job.ini", nset, sets, &c));
  int rc = mt_config_check_files(c, 1);
  mt_config_free(c);
  return rc;
}

static void expect_files_error(const char *text, const char *set, const char *f1, const char *f2) {
  const char *sets[1] = {set};
  int rc = check_files(text, set ? 1 : 0, sets);
  const char *msg = mt_last_error();
  if (rc != MT_E_INVAL) fail_msg("check_files -> %d (%s), expected MT_E_INVAL", rc, msg);
  if (!strstr(msg, f1) || (f2 && !strstr(msg, f2)))
    fail_msg("message \"%s\" lacks \"%s\" or \"%s\"", msg, f1, f2 ? f2 : "");
  if (strchr(msg, '\n')) fail_msg("message spans lines: %s", msg);
  print_message("%s\n", msg);
}

/* What --check and a training start check of the files: data files open
 * as datasets the network takes and every label is a class index of the
 * network's SoftmaxOutput (named by file and row), val shaped as train,
 * output locations writable. */
static void test_check_files(void **state) {
  char dir[] = "/tmp/mt_test_files_XXXXXX", p[512], q[512], set[600], text[2048];
  assert_non_null(mkdtemp(dir));
  float y[64];
  for (int i = 0; i < 64; i++) y[i] = (float)(i % 10);
  snprintf(p, sizeof p, "%s/train.h5", dir);
  write_set(p, 64, 128, y);
  snprintf(text, sizeof text, "[data]\ntrain = %s\nval = %s\n" M0, p, p);
  MT_ASSERT_OK(check_files(text, 0, NULL));

  /* labels 1.5, NaN, -1, 10 for the 10 classes of fc2 > softmax */
  const float bad[] = {1.5f, NAN, -1.0f, 10.0f};
  const char *want[] = {"row 37 is 1.5, not a class index in [0, 10)", "row 37 is nan",
                        "row 37 is -1, not a class index", "row 37 is 10, not a class index"};
  for (int i = 0; i < 4; i++) {
    y[37] = bad[i];
    write_set(p, 64, 128, y);
    expect_files_error(text, NULL, "job.ini:2: [data] train: ", want[i]);
    assert_non_null(strstr(mt_last_error(), p));
  }
  y[37] = 7;
  write_set(p, 64, 128, y);

  /* val: its own labels, and shaped as train */
  snprintf(q, sizeof q, "%s/val.h5", dir);
  y[5] = 12;
  write_set(q, 64, 128, y);
  y[5] = 5;
  snprintf(set, sizeof set, "data.val=%s", q);
  expect_files_error(text, set, "--set: [data] val: ", "row 5 is 12");
  write_set(q, 64, 100, y);
  expect_files_error(text, set, "--set: [data] val: ", "do not match the training set");

  /* samples the network does not take (found before bind) */
  char text2[2048];
  snprintf(text2, sizeof text2,
           "[data]\ntrain = %s\n[model]\nlayers = FullyConnected fc1 num_hidden=64\n"
           "  elemwise_add add inputs=fc1,data\n  SoftmaxOutput softmax\n",
           p);
  expect_files_error(
      text2, NULL, "job.ini:5: [model] layers: elemwise_add 'add': ", "(a batch of [data] train '");
  assert_non_null(strstr(mt_last_error(), "' is (32, 128))"));
  /* labels the network does not take: no layer at fault, the data key */
  {
    mt_ndarray *x, *l;
    MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(64, 128), mt_cpu(0), &x));
    MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(64, 3), mt_cpu(0), &l));
    snprintf(q, sizeof q, "%s/k3.h5", dir);
    MT_ASSERT_OK(mt_dataset_write(q, x, l, 0, 0, NULL));
    mt_ndarray_free(x);
    mt_ndarray_free(l);
    snprintf(set, sizeof set, "data.train=%s", q);
    expect_files_error(text, set, "--set: [data] train: the network does not take the samples",
                       "labels (32, 3)");
  }

  /* a FIFO: refused by its kind, never opened (its open would block) */
  snprintf(q, sizeof q, "%s/fifo.h5", dir);
  assert_int_equal(mkfifo(q, 0600), 0);
  snprintf(set, sizeof set, "data.train=%s", q);
  alarm(20);
  expect_files_error(text, set,
                     "--set: [data] train: ", "is a FIFO (named pipe), not a regular file");
  alarm(0);
  unlink(q);

  /* output locations: a prefix under a file, a metrics_file that is a directory */
  snprintf(set, sizeof set, "checkpoint.prefix=%s/train.h5/ck/mlp", dir);
  expect_files_error(text, set, "--set: [checkpoint] prefix: ", "Not a directory");
  snprintf(set, sizeof set, "train.metrics_file=%s", dir);
  expect_files_error(text, set, "--set: [train] metrics_file: ", "is a directory");
  snprintf(set, sizeof set, "checkpoint.prefix=%s/new/deeper/mlp", dir);
  const char *ok[] = {set};
  MT_ASSERT_OK(check_files(text, 1, ok));

  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

/* Image datasets: /data [N, C, H, W] from the project's writer and from
 * h5py written the ordinary way, checked as files of a training run (the
 * shapes found, a layer that cannot take them named at its line, val
 * shaped as train), and synthetic data shaped by synthetic_shape. */
static void write_images(const char *path, int64_t n, int64_t ch, int64_t h, int64_t w) {
  mt_ndarray *x, *l;
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(n, ch, h, w), mt_cpu(0), &x));
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(n), mt_cpu(0), &l));
  float *xp = mt_ndarray_data(x), *lp = mt_ndarray_data(l);
  for (int64_t i = 0; i < n * ch * h * w; i++) xp[i] = (float)(i % 17) / 17.0f;
  for (int64_t i = 0; i < n; i++) lp[i] = (float)(i % 10);
  MT_ASSERT_OK(mt_dataset_write(path, x, l, 10, 0, NULL));
  mt_ndarray_free(x);
  mt_ndarray_free(l);
}

static void test_image_files(void **state) {
  char dir[] = "/tmp/mt_test_images_XXXXXX", p[512], q[512], set[600], text[2048], cmd[1400];
  assert_non_null(mkdtemp(dir));
  snprintf(p, sizeof p, "%s/img.h5", dir);
  write_images(p, 64, 1, 8, 8);
  const char *flat =
      "[model]\nlayers = Flatten flat\n  FullyConnected fc1 num_hidden=16\n"
      "  FullyConnected fc2 num_hidden=10\n  SoftmaxOutput softmax\n";
  snprintf(text, sizeof text, "[data]\ntrain = %s\nval = %s\n%s", p, p, flat);
  mt_config *c = NULL;
  MT_ASSERT_OK(mt_config_load_string(text, "job.ini", 0, NULL, &c));
  assert_int_equal(c->train_shape.ndim, 0); /* not checked yet */
  MT_ASSERT_OK(mt_config_check_files(c, 1));
  const mt_shape want = MT_SHAPE(64, 1, 8, 8);
  assert_int_equal(c->train_shape.ndim, 4);
  assert_int_equal(c->val_shape.ndim, 4);
  for (int i = 0; i < 4; i++) {
    assert_int_equal(c->train_shape.dim[i], want.dim[i]);
    assert_int_equal(c->val_shape.dim[i], want.dim[i]);
  }
  mt_config_free(c);

  /* a layer that cannot take (32, 1, 8, 8): named at its line */
  snprintf(text, sizeof text,
           "[data]\ntrain = %s\n[model]\nlayers = Flatten flat\n"
           "  FullyConnected fc1 num_hidden=64\n  elemwise_add add inputs=fc1,data\n"
           "  SoftmaxOutput softmax\n",
           p);
  expect_files_error(text, NULL,
                     "job.ini:6: [model] layers: elemwise_add 'add': ", "' is (32, 1, 8, 8))");

  /* h5py's ordinary file (contiguous, no attributes) of [N, 3, 5, 4]; val
   * of another shape is refused */
  snprintf(q, sizeof q, "%s/py.h5", dir);
  snprintf(cmd, sizeof cmd,
           "/usr/bin/python3 -c 'import h5py, numpy as np\n"
           "with h5py.File(\"%s\", \"w\") as f:\n"
           "    f[\"data\"] = np.arange(40 * 60, dtype=\"f4\").reshape(40, 3, 5, 4) / 2400\n"
           "    f[\"label\"] = (np.arange(40) %% 10).astype(\"f4\")'",
           q);
  if (system(cmd) != 0) {
    fail_msg("/usr/bin/python3 with h5py could not write %s (jobs/setup.sh installs h5py)", q);
  } else {
    snprintf(text, sizeof text, "[data]\ntrain = %s\nbatch_size = 8\n%s", q, flat);
    MT_ASSERT_OK(mt_config_load_string(text, "job.ini", 0, NULL, &c));
    MT_ASSERT_OK(mt_config_check_files(c, 1));
    assert_int_equal(c->train_shape.ndim, 4);
    assert_int_equal(c->train_shape.dim[0], 40);
    assert_int_equal(c->train_shape.dim[1], 3);
    assert_int_equal(c->train_shape.dim[2], 5);
    assert_int_equal(c->train_shape.dim[3], 4);
    mt_config_free(c);
    snprintf(set, sizeof set, "data.val=%s", p);
    expect_files_error(text, set, "--set: [data] val: ", "/data (64, 1, 8, 8)");
    assert_non_null(strstr(mt_last_error(), "do not match the training set"));
  }

  /* synthetic_shape: feature_dim is its product; the effective config
   * reads back; the data's batch shape */
  c = NULL;
  MT_ASSERT_OK(mt_config_load_string(
      "[data]\ntrain = synthetic\nval = synthetic\nsynthetic_shape = (1, 8, 8)\n" M0, "job.ini", 0,
      NULL, &c));
  assert_int_equal(c->feature_dim, 64);
  assert_int_equal(c->synth_ndim, 3);
  mt_shape s = mt_config_synthetic_shape(c, 32);
  assert_int_equal(s.ndim, 4);
  assert_int_equal(s.dim[0], 32);
  assert_int_equal(s.dim[1], 1);
  assert_int_equal(s.dim[3], 8);
  MT_ASSERT_OK(mt_config_check_files(c, 1));
  char *ini = NULL;
  MT_ASSERT_OK(mt_config_to_ini(c, &ini));
  assert_non_null(strstr(ini, "feature_dim = 64\n"));
  assert_non_null(strstr(ini, "synthetic_shape = (1, 8, 8)\n"));
  mt_config *c2 = NULL;
  MT_ASSERT_OK(mt_config_load_string(ini, "effective.ini", 0, NULL, &c2));
  assert_int_equal(c2->synth_ndim, 3);
  assert_int_equal(c2->feature_dim, 64);
  free(ini);
  mt_config_free(c2);
  mt_config_free(c);
  /* none (the default) keeps (feature_dim) samples */
  MT_ASSERT_OK(mt_config_load_string(D0 M0, "job.ini", 0, NULL, &c));
  assert_int_equal(c->synth_ndim, 0);
  s = mt_config_synthetic_shape(c, 32);
  assert_int_equal(s.ndim, 2);
  assert_int_equal(s.dim[1], 128);
  mt_config_free(c);

  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

/* Tuple attributes in layer lines: kernel=(5,5) as one word, and MXNet's
 * printed form kernel=(5, 5) with its spaces joined. */
static void test_layer_tuples(void **state) {
  mt_config *c = NULL;
  MT_ASSERT_OK(mt_config_load_string(
      D0
      "[model]\nlayers = FullyConnected fc1 num_hidden=64\n  Dropout d1 p=0.5 axes=( )\n"
      "  Dropout d2 p=0.5 axes=[ ]  mode=always\n  FullyConnected fc2 num_hidden=10\n"
      "  SoftmaxOutput softmax\n",
      "job.ini", 0, NULL, &c));
  assert_int_equal(c->nlayers, 5);
  assert_string_equal(c->layers[1].attrs, "p=0.5 axes=()");
  assert_string_equal(c->layers[2].attrs, "p=0.5 axes=[] mode=always");
  mt_config_free(c);
  /* the builder takes a tuple written without spaces as one attribute */
  mt_layer_spec l;
  MT_ASSERT_OK(mt_layer_parse("Convolution conv1 kernel=(5,5) num_filter=20 pad=(2,2)", &l));
  assert_string_equal(l.op, "Convolution");
  assert_string_equal(l.name, "conv1");
  assert_string_equal(l.attrs, "kernel=(5,5) num_filter=20 pad=(2,2)");
  mt_layer_spec_free(&l);
  MT_ASSERT_OK(mt_layer_parse("Pooling pool1 pool_type=max kernel=(2,2) stride=(2,2)", &l));
  assert_string_equal(l.attrs, "pool_type=max kernel=(2,2) stride=(2,2)");
  mt_layer_spec_free(&l);
  /* and the --set form (layers separated by ';') */
  const char *sets[] = {
      "model.layers=FullyConnected fc1 num_hidden=8; Dropout d p=0.1 axes=( );"
      "FullyConnected fc2 num_hidden=10; SoftmaxOutput softmax"};
  MT_ASSERT_OK(mt_config_load_string(DM, "job.ini", 1, sets, &c));
  assert_string_equal(c->layers[1].attrs, "p=0.1 axes=()");
  mt_config_free(c);
}

/* ------------------------------------------------------- net builder */

static void test_layer_parse(void **state) {
  mt_layer_spec l;
  MT_ASSERT_OK(mt_layer_parse("  FullyConnected   fc1  num_hidden=64   no_bias=True ", &l));
  assert_string_equal(l.op, "FullyConnected");
  assert_string_equal(l.name, "fc1");
  assert_string_equal(l.attrs, "num_hidden=64 no_bias=True");
  assert_int_equal(l.ninputs, 0);
  mt_layer_spec_free(&l);
  MT_ASSERT_OK(mt_layer_parse("Concat cat inputs=a,b,data dim=1", &l));
  assert_string_equal(l.attrs, "dim=1");
  assert_int_equal(l.ninputs, 3);
  assert_string_equal(l.inputs[2], "data");
  mt_layer_spec_free(&l);
  assert_int_equal(mt_layer_parse("", &l), MT_E_INVAL);
  assert_int_equal(mt_layer_parse("num_hidden=3", &l), MT_E_INVAL);
  assert_int_equal(mt_layer_parse("FullyConnected fc1 num_hidden = 3", &l), MT_E_INVAL);
  assert_non_null(strstr(mt_last_error(), "no spaces around '='"));
  assert_int_equal(mt_layer_parse("elemwise_add a inputs=x,,y", &l), MT_E_INVAL);
}

/* Layers with a branch (inputs=) against the same net written by hand. */
static void test_net_build(void **state) {
  const char *lines[] = {"FullyConnected fc1 num_hidden=8",
                         "Activation relu1 act_type=relu",
                         "FullyConnected fc2 num_hidden=8 inputs=data",
                         "elemwise_add sum inputs=relu1,fc2",
                         "FullyConnected out num_hidden=3",
                         "SoftmaxOutput softmax"};
  mt_layer_spec l[6];
  for (int i = 0; i < 6; i++) MT_ASSERT_OK(mt_layer_parse(lines[i], &l[i]));
  mt_symbol *built;
  int bad;
  mt_shape ds = MT_SHAPE(4, 5);
  MT_ASSERT_OK(mt_net_build(6, l, &ds, &built, &bad));
  assert_int_equal(bad, -1);

  mt_symbol *d, *fc1, *r1, *fc2, *sum, *out, *sm;
  MT_ASSERT_OK(mt_symbol_variable("data", &d));
  MT_ASSERT_OK(mt_symbol_create("FullyConnected", "fc1", "num_hidden=8", 1, &d, &fc1));
  MT_ASSERT_OK(mt_symbol_create("Activation", "relu1", "act_type=relu", 1, &fc1, &r1));
  MT_ASSERT_OK(mt_symbol_create("FullyConnected", "fc2", "num_hidden=8", 1, &d, &fc2));
  mt_symbol *two[2] = {r1, fc2};
  MT_ASSERT_OK(mt_symbol_create("elemwise_add", "sum", NULL, 2, two, &sum));
  MT_ASSERT_OK(mt_symbol_create("FullyConnected", "out", "num_hidden=3", 1, &sum, &out));
  MT_ASSERT_OK(mt_symbol_create("SoftmaxOutput", "softmax", NULL, 1, &out, &sm));
  int na, nb;
  const char *const *a, *const *b;
  MT_ASSERT_OK(mt_symbol_list_arguments(built, &na, &a));
  MT_ASSERT_OK(mt_symbol_list_arguments(sm, &nb, &b));
  assert_int_equal(na, nb);
  assert_int_equal(na, 8);
  for (int i = 0; i < na; i++) assert_string_equal(a[i], b[i]);
  /* same JSON as the hand-built graph */
  char *ja, *jb;
  MT_ASSERT_OK(mt_symbol_tojson(built, &ja));
  MT_ASSERT_OK(mt_symbol_tojson(sm, &jb));
  assert_string_equal(ja, jb);
  free(ja);
  free(jb);
  int nl;
  char **labels;
  MT_ASSERT_OK(mt_net_label_names(built, &nl, &labels));
  assert_int_equal(nl, 1);
  assert_string_equal(labels[0], "softmax_label");
  mt_net_names_free(nl, labels);
  assert_true(mt_net_is_loss(built));
  assert_string_equal(mt_net_head_op(built, 0), "SoftmaxOutput");
  assert_false(mt_net_is_loss(out));

  /* a shape error points at the layer: (4, 5) data into fc2 is fine, but a
   * 7-wide branch cannot be added to the 8-wide one */
  mt_layer_spec_free(&l[2]);
  MT_ASSERT_OK(mt_layer_parse("FullyConnected fc2 num_hidden=7 inputs=data", &l[2]));
  mt_symbol *fail = NULL;
  assert_int_equal(mt_net_build(6, l, &ds, &fail, &bad), MT_E_SHAPE);
  assert_int_equal(bad, 3);
  assert_null(fail);
  /* without a data shape, shapes are not checked */
  MT_ASSERT_OK(mt_net_build(6, l, NULL, &fail, &bad));
  mt_symbol_free(fail);

  for (int i = 0; i < 6; i++) mt_layer_spec_free(&l[i]);
  mt_symbol *all[] = {built, d, fc1, r1, fc2, sum, out, sm};
  for (int i = 0; i < 8; i++) mt_symbol_free(all[i]);
}

static void test_viz(void **state) {
  char path[4096];
  src_path("jobs/configs/tutorial.ini", path, sizeof path);
  mt_config *c = NULL;
  MT_ASSERT_OK(mt_config_load(path, 0, NULL, &c));
  const char *dn = "data";
  mt_shape ds = MT_SHAPE(32, 128);
  char *dot = NULL;
  MT_ASSERT_OK(mt_net_to_dot(c->symbol, 1, &dn, &ds, &dot));
  assert_true(!strncmp(dot, "digraph ", 8));
  const char *want[] = {"\"data\" [",
                        "\"fc1\" [label=\"fc1\\nFullyConnected\\nnum_hidden=64\"",
                        "\"relu1\" [",
                        "\"fc2\" [",
                        "\"softmax\" [",
                        "\"softmax_label\" [",
                        "\"data\" -> \"fc1\" [label=\"128\"]",
                        "\"fc1\" -> \"relu1\" [label=\"64\"]",
                        "\"fc2\" -> \"softmax\" [label=\"10\"]",
                        "\"softmax_label\" -> \"softmax\""};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    if (!strstr(dot, want[i])) fail_msg("no '%s' in:\n%s", want[i], dot);
  /* parameters are hidden, as plot_network's hide_weights */
  assert_null(strstr(dot, "fc1_weight"));
  assert_null(strstr(dot, "fc2_bias"));
  /* braces balance, the graph ends */
  assert_non_null(strstr(dot, "}\n"));
  free(dot);
  /* without shapes: same nodes, no edge labels */
  MT_ASSERT_OK(mt_net_to_dot(c->symbol, 0, NULL, NULL, &dot));
  assert_non_null(strstr(dot, "\"data\" -> \"fc1\";"));
  free(dot);
  mt_config_free(c);
}

/* docs/config.md documents every key with its default. */
static void test_docs_list_every_key(void **state) {
  char path[4096];
  src_path("docs/config.md", path, sizeof path);
  FILE *f = fopen(path, "rb");
  if (!f) fail_msg("cannot open %s", path);
  static char doc[1 << 17];
  size_t n = fread(doc, 1, sizeof doc - 1, f);
  doc[n] = '\0';
  fclose(f);
  for (int i = 0; i < mt_config_num_keys(); i++) {
    const char *sec, *key, *def, *what;
    mt_config_key_info(i, &sec, &key, &def, &what);
    char row[256];
    snprintf(row, sizeof row, "| `%s` |", key);
    const char *at = strstr(doc, row);
    if (!at) fail_msg("docs/config.md has no row for [%s] %s", sec, key);
    if (def[0]) {
      snprintf(row, sizeof row, "`%s`", def);
      const char *eol = strchr(at, '\n');
      const char *d = strstr(at + 1, row);
      if (!d || (eol && d > eol))
        fail_msg("docs/config.md: the row of %s does not show its default %s", key, row);
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tutorial_ini),
      cmocka_unit_test(test_overrides),
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_bad_configs),
      cmocka_unit_test(test_symbol_and_layers),
      cmocka_unit_test(test_check_world),
      cmocka_unit_test(test_check_files),
      cmocka_unit_test(test_image_files),
      cmocka_unit_test(test_layer_tuples),
      cmocka_unit_test(test_missing_file),
      cmocka_unit_test(test_layer_parse),
      cmocka_unit_test(test_net_build),
      cmocka_unit_test(test_viz),
      cmocka_unit_test(test_docs_list_every_key),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
