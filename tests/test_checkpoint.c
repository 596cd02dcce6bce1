/* test_checkpoint.c — checkpoints (docs/design.md §6): save/load round trip bit
 * for bit (parameters, aux states, optimizer states and counts for sgd with
 * momentum and adam, attributes), the file read by h5dump and h5py with no
 * modtrain code, resume bit-exact (4 epochs straight == 2 epochs,
 * checkpoint, new module, restore, 2 more), the newest complete checkpoint
 * with damaged ones skipped, and the error cases, each naming the path. */
#include <fcntl.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/h5_container.h"
#include "io/xxh3.h"
#include "io/xxh64.h"
#include "src/module.h"
#include "testutil.h"

static char dir[64];

static int setup(void **state) {
  snprintf(dir, sizeof dir, "/tmp/mt_ckpt_XXXXXX");
  return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static void prefix_of(char *buf, size_t len, const char *name) {
  snprintf(buf, len, "%s/%s", dir, name);
}

static int file_exists(const char *path) { return access(path, F_OK) == 0; }

/* ------------------------------------------------------ a small parameter set */

static const char *const ARG_NAMES[] = {"fc1_weight", "fc1_bias", "fc2_weight", "odd/na%me_weight"};
static const mt_shape ARG_SHAPES[] = {{2, {64, 128}}, {1, {64}}, {2, {10, 64}}, {3, {2, 3, 4}}};
static const char *const AUX_NAMES[] = {"bn_moving_mean", "bn_moving_var"};
static const mt_shape AUX_SHAPES[] = {{1, {16}}, {1, {16}}};

static void make_params(mt_arena **args, mt_arena **aux, uint64_t seed) {
  MT_ASSERT_OK(mt_arena_create(mt_cpu(0), 4, ARG_NAMES, ARG_SHAPES, args));
  MT_ASSERT_OK(mt_arena_create(mt_cpu(0), 2, AUX_NAMES, AUX_SHAPES, aux));
  for (int i = 0; i < 4; i++)
    tu_fill_uniform(mt_ndarray_data(mt_arena_at(*args, i)), mt_shape_size(&ARG_SHAPES[i]), -1, 1,
                    seed + (uint64_t)i);
  for (int i = 0; i < 2; i++)
    tu_fill_uniform(mt_ndarray_data(mt_arena_at(*aux, i)), 16, 0, 2, seed + 10 + (uint64_t)i);
}

static void expect_same_arena(const mt_arena *a, const mt_arena *b) {
  assert_int_equal(mt_arena_count(a), mt_arena_count(b));
  for (int i = 0; i < mt_arena_count(a); i++) {
    assert_string_equal(mt_arena_name(a, i), mt_arena_name(b, i));
    mt_shape sa = mt_ndarray_shape(mt_arena_at(a, i)), sb = mt_ndarray_shape(mt_arena_at(b, i));
    assert_true(mt_shape_equal(&sa, &sb));
    assert_memory_equal(mt_ndarray_data(mt_arena_at(a, i)), mt_ndarray_data(mt_arena_at(b, i)),
                        sizeof(float) * (size_t)mt_shape_size(&sa));
  }
}

/* Runs `steps` updates of every parameter of args with deterministic
 * gradients (the same sequence for any optimizer given the same step). */
static void run_updates(mt_optimizer *opt, mt_arena *args, int first_step, int steps) {
  for (int s = first_step; s < first_step + steps; s++)
    for (int i = 0; i < mt_arena_count(args); i++) {
      mt_ndarray *w = mt_arena_at(args, i), *g;
      MT_ASSERT_OK(mt_ndarray_create(mt_ndarray_shape(w), mt_cpu(0), &g));
      tu_fill_uniform(mt_ndarray_data(g), mt_ndarray_size(g), -1, 1,
                      1000 + 17 * (uint64_t)s + (uint64_t)i);
      MT_ASSERT_OK(mt_optimizer_update(opt, i, mt_arena_name(args, i), w, g));
      mt_ndarray_free(g);
    }
}

static void expect_same_optimizer(const mt_optimizer *a, const mt_optimizer *b, int nparam) {
  assert_int_equal(mt_optimizer_num_update(a), mt_optimizer_num_update(b));
  for (int i = 0; i < nparam; i++) {
    int64_t ca, cb;
    MT_ASSERT_OK(mt_optimizer_get_update_count(a, i, &ca));
    MT_ASSERT_OK(mt_optimizer_get_update_count(b, i, &cb));
    assert_int_equal(ca, cb);
    assert_string_equal(mt_optimizer_index_name(a, i), mt_optimizer_index_name(b, i));
    int ns = mt_optimizer_num_states(a, i);
    assert_int_equal(ns, mt_optimizer_num_states(b, i));
    for (int k = 0; k < ns; k++) {
      const char *na, *nb;
      mt_ndarray *sa, *sb;
      MT_ASSERT_OK(mt_optimizer_state(a, i, k, &na, &sa));
      MT_ASSERT_OK(mt_optimizer_state(b, i, k, &nb, &sb));
      assert_string_equal(na, nb);
      assert_int_equal(mt_ndarray_size(sa), mt_ndarray_size(sb));
      assert_memory_equal(mt_ndarray_data(sa), mt_ndarray_data(sb),
                          sizeof(float) * (size_t)mt_ndarray_size(sa));
    }
  }
}

/* ------------------------------------------------------- memory of a save */

static long max_rss_kib(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

/* HDF5 builds only the metadata in memory and the elements go from the
 * arrays to the file: saving 64 MiB of parameters (and 64 MiB of momentum)
 * must not raise the process's peak memory by anything near their size.
 * Runs first, so the peak so far is this test's own. */
static void test_save_memory(void **state) {
  char prefix[128];
  prefix_of(prefix, sizeof prefix, "mem");
  const char *names[] = {"a_weight", "b_weight", "c_weight", "d_bias"};
  mt_shape shapes[] = {MT_SHAPE(2048, 2048), MT_SHAPE(4096, 1024), MT_SHAPE(1024, 4096),
                       MT_SHAPE(1000)};
  mt_arena *args;
  MT_ASSERT_OK(mt_arena_create(mt_cpu(0), 4, names, shapes, &args));
  mt_optimizer *opt;
  MT_ASSERT_OK(mt_optimizer_create("sgd", "learning_rate=0.1 momentum=0.9", &opt));
  run_updates(opt, args, 0, 1); /* touches params, momentum (and frees the gradients) */
  mt_symbol *sym = tu_mlp(64, "relu", 10);
  long before = max_rss_kib();
  mt_checkpoint_extra x;
  mt_checkpoint_extra_init(&x);
  x.optimizer = opt;
  MT_ASSERT_OK(mt_save_checkpoint(prefix, 1, sym, args, NULL, &x));
  long grew = max_rss_kib() - before;
  if (grew > 16 * 1024) fail_msg("saving 128 MiB raised peak memory by %ld KiB", grew);
  mt_arena *back;
  MT_ASSERT_OK(mt_load_checkpoint(prefix, 1, NULL, &back, NULL, NULL));
  expect_same_arena(args, back);
  mt_arena_free(back);
  mt_arena_free(args);
  mt_optimizer_free(opt);
  mt_symbol_free(sym);
}

/* ------------------------------------------------------------ round trip */

/* Save with an optimizer after some updates; load into fresh arenas and a
 * fresh optimizer of the same settings: everything equal bit for bit, and
 * further updates of both give identical weights. */
static void round_trip_with(const char *opt_name, const char *opt_params, int expect_states) {
  char prefix[128];
  prefix_of(prefix, sizeof prefix, opt_name);
  mt_arena *args, *aux;
  make_params(&args, &aux, 1);
  mt_optimizer *opt;
  MT_ASSERT_OK(mt_optimizer_create(opt_name, opt_params, &opt));
  run_updates(opt, args, 0, 3);
  assert_int_equal(mt_optimizer_num_states(opt, 0), expect_states);
  mt_symbol *sym = tu_mlp(64, "relu", 10);
  /* a config far above HDF5's 64 KiB compact-attribute limit */
  size_t clen = 200000;
  char *config = malloc(clen + 1);
  for (size_t i = 0; i < clen; i++) config[i] = (char)('a' + i % 26);
  memcpy(config, "[train]\nnum_epoch = 4\n", 22);
  config[clen] = '\0';
  mt_checkpoint_extra x;
  mt_checkpoint_extra_init(&x);
  x.world_size = 4;
  x.data_epoch = 3;
  x.data_batch = 7;
  x.rng_seed = 0xFEEDFACECAFEBEEFull;
  x.rng_step = 12345;
  x.config = config;
  x.optimizer = opt;
  MT_ASSERT_OK(mt_save_checkpoint(prefix, 3, sym, args, aux, &x));

  char path[160], spath[160];
  MT_ASSERT_OK(mt_checkpoint_path(prefix, 3, path, sizeof path));
  snprintf(spath, sizeof spath, "%s-symbol.json", prefix);
  assert_true(file_exists(path));
  assert_true(file_exists(spath));

  mt_optimizer *opt2;
  MT_ASSERT_OK(mt_optimizer_create(opt_name, opt_params, &opt2));
  mt_checkpoint_extra y;
  mt_checkpoint_extra_init(&y);
  y.optimizer = opt2;
  mt_symbol *sym2;
  mt_arena *args2, *aux2;
  MT_ASSERT_OK(mt_load_checkpoint(prefix, 3, &sym2, &args2, &aux2, &y));
  expect_same_arena(args, args2);
  expect_same_arena(aux, aux2);
  expect_same_optimizer(opt, opt2, 4);
  assert_int_equal(y.num_update, 3);
  assert_int_equal(y.world_size, 4);
  assert_int_equal(y.data_epoch, 3);
  assert_int_equal(y.data_batch, 7);
  assert_true(y.rng_seed == 0xFEEDFACECAFEBEEFull);
  assert_true(y.rng_step == 12345);
  assert_non_null(y.loaded_config);
  assert_string_equal(y.loaded_config, config);
  char *j1, *j2;
  MT_ASSERT_OK(mt_symbol_tojson(sym, &j1));
  MT_ASSERT_OK(mt_symbol_tojson(sym2, &j2));
  assert_string_equal(j1, j2);

  /* training continues identically from the restored state */
  run_updates(opt, args, 3, 2);
  run_updates(opt2, args2, 3, 2);
  expect_same_arena(args, args2);
  expect_same_optimizer(opt, opt2, 4);

  /* restoring into an optimizer of other settings is refused */
  mt_optimizer *other;
  MT_ASSERT_OK(mt_optimizer_create(strcmp(opt_name, "adam") ? "adam" : "sgd", "", &other));
  mt_checkpoint_extra z;
  mt_checkpoint_extra_init(&z);
  z.optimizer = other;
  mt_arena *a3 = NULL;
  assert_int_equal(mt_load_checkpoint(prefix, 3, NULL, &a3, NULL, &z), MT_E_INVAL);
  assert_null(a3);
  assert_non_null(strstr(mt_last_error(), path));
  mt_optimizer_free(other);

  free(j1);
  free(j2);
  free(y.loaded_config);
  free(config);
  mt_symbol_free(sym);
  mt_symbol_free(sym2);
  mt_arena_free(args);
  mt_arena_free(aux);
  mt_arena_free(args2);
  mt_arena_free(aux2);
  mt_optimizer_free(opt);
  mt_optimizer_free(opt2);
}

static void test_round_trip_sgd_momentum(void **state) {
  round_trip_with("sgd", "learning_rate=0.1 momentum=0.9 wd=0.001", 1);
}

static void test_round_trip_adam(void **state) {
  round_trip_with("adam", "learning_rate=0.01 beta1=0.8", 2);
}

/* Without an optimizer, and with NULL outputs: params only. */
static void test_round_trip_params_only(void **state) {
  char prefix[128];
  prefix_of(prefix, sizeof prefix, "plain");
  mt_arena *args, *aux, *args2, *aux2;
  make_params(&args, &aux, 5);
  MT_ASSERT_OK(mt_save_checkpoint(prefix, 0, NULL, args, aux, NULL));
  mt_checkpoint_extra y;
  mt_checkpoint_extra_init(&y);
  MT_ASSERT_OK(mt_load_checkpoint(prefix, 0, NULL, &args2, &aux2, &y));
  expect_same_arena(args, args2);
  expect_same_arena(aux, aux2);
  assert_string_equal(y.loaded_config, "");
  assert_int_equal(y.world_size, 1);
  /* asking for optimizer state the file does not hold */
  mt_optimizer *opt;
  MT_ASSERT_OK(mt_optimizer_create("sgd", "momentum=0.9", &opt));
  y.optimizer = opt;
  free(y.loaded_config);
  assert_int_equal(mt_load_checkpoint(prefix, 0, NULL, NULL, NULL, &y), MT_E_NOTFOUND);
  assert_non_null(strstr(mt_last_error(), "no optimizer state"));
  mt_optimizer_free(opt);
  mt_arena_free(args);
  mt_arena_free(aux);
  mt_arena_free(args2);
  mt_arena_free(aux2);
}

/* ------------------------------------------------ readable without modtrain */

static void test_h5dump_and_h5py(void **state) {
  char prefix[128], path[160], out[192], cmd[1024];
  prefix_of(prefix, sizeof prefix, "ext");
  mt_arena *args, *aux;
  make_params(&args, &aux, 9);
  mt_optimizer *opt;
  MT_ASSERT_OK(mt_optimizer_create("sgd", "learning_rate=0.1 momentum=0.9", &opt));
  run_updates(opt, args, 0, 2);
  mt_symbol *sym = tu_mlp(64, "relu", 10);
  mt_checkpoint_extra x;
  mt_checkpoint_extra_init(&x);
  x.config = "[train]\nnum_epoch = 2\n";
  x.optimizer = opt;
  MT_ASSERT_OK(mt_save_checkpoint(prefix, 2, sym, args, aux, &x));
  MT_ASSERT_OK(mt_checkpoint_path(prefix, 2, path, sizeof path));

  /* h5dump: the whole file parses; names, attributes and optimizer state
   * appear under their plain names */
  if (system("h5dump --version > /dev/null 2>&1") != 0) {
    print_message("SKIP h5dump part: h5dump is not installed (apt-get install hdf5-tools)\n");
  } else {
    snprintf(out, sizeof out, "%s/dump.txt", dir);
    snprintf(cmd, sizeof cmd, "h5dump '%s' > '%s' 2>&1", path, out);
    assert_int_equal(system(cmd), 0);
    const char *needles[] = {"DATASET \"fc1_weight\"",
                             "DATASET \"odd%2Fna%25me_weight\"",
                             "DATASET \"bn_moving_var\"",
                             "ATTRIBUTE \"format_version\"",
                             "ATTRIBUTE \"world_size_at_save\"",
                             "GROUP \"optimizer\"",
                             "DATASET \"momentum\"",
                             "H5T_IEEE_F32LE",
                             "( 64, 128 )",
                             "\"FullyConnected\""};
    for (size_t i = 0; i < sizeof needles / sizeof *needles; i++) {
      snprintf(cmd, sizeof cmd, "grep -qF '%s' '%s'", needles[i], out);
      if (system(cmd) != 0) fail_msg("h5dump output %s lacks %s", out, needles[i]);
    }
  }

  /* h5py: values equal the raw bytes the test writes next to the file.
   * The python3 on PATH may be another install (pyenv) than the distro's,
   * which is where python3-h5py lives. */
  const char *pythons[] = {"python3", "/usr/bin/python3"}, *python = NULL;
  for (int i = 0; i < 2 && !python; i++) {
    snprintf(cmd, sizeof cmd, "%s -c 'import h5py, numpy' > /dev/null 2>&1", pythons[i]);
    if (system(cmd) == 0) python = pythons[i];
  }
  if (!python) {
    print_message(
        "SKIP h5py part: python3 -c \"import h5py\" failed for python3 and "
        "/usr/bin/python3 (apt-get install python3-h5py)\n");
  } else {
    char raw[160], py[160];
    snprintf(raw, sizeof raw, "%s/fc1_weight.f32", dir);
    FILE *f = fopen(raw, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(mt_ndarray_data(mt_arena_at(args, 0)), 4, 64 * 128, f), 64 * 128);
    fclose(f);
    mt_ndarray *mom;
    MT_ASSERT_OK(mt_optimizer_state(opt, 1, 0, NULL, &mom));
    snprintf(raw, sizeof raw, "%s/fc1_bias_momentum.f32", dir);
    f = fopen(raw, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(mt_ndarray_data(mom), 4, 64, f), 64);
    fclose(f);
    snprintf(py, sizeof py, "%s/check.py", dir);
    f = fopen(py, "w");
    assert_non_null(f);
    fprintf(f,
            "import sys, json, h5py, numpy as np\n"
            "d = sys.argv[2]\n"
            "with h5py.File(sys.argv[1], 'r') as h:\n"
            "    w = h['arg/fc1_weight'][...]\n"
            "    assert w.dtype == np.float32 and w.shape == (64, 128), (w.dtype, w.shape)\n"
            "    ref = np.fromfile(d + '/fc1_weight.f32', dtype=np.float32).reshape(64, 128)\n"
            "    assert w.tobytes() == ref.tobytes(), 'fc1_weight differs'\n"
            "    m = h['optimizer/fc1_bias/momentum'][...]\n"
            "    assert m.tobytes() == np.fromfile(d + '/fc1_bias_momentum.f32', "
            "dtype=np.float32).tobytes()\n"
            "    assert sorted(h['arg'].keys()) == sorted(['fc1_weight', 'fc1_bias', 'fc2_weight', "
            "'odd%%2Fna%%25me_weight'])\n"
            "    assert h['aux/bn_moving_mean'].shape == (16,)\n"
            "    a = h.attrs\n"
            "    assert int(a['format_version']) == 3 and int(a['epoch']) == 2, dict(a)\n"
            "    assert len(h['arg/fc1_weight'].attrs['xxh3'].shape) == 0\n"
            "    assert len(a['attrs_xxh3']) == 11, a['attrs_xxh3']\n"
            "    assert 'xxh64' not in h['arg/fc1_weight'].attrs and 'attrs_xxh64' not in a\n"
            "    assert int(a['num_update']) == 2 and int(a['world_size_at_save']) == 1\n"
            "    cfg = a['config']; cfg = cfg.decode() if isinstance(cfg, bytes) else cfg\n"
            "    assert cfg == '[train]\\nnum_epoch = 2\\n', repr(cfg)\n"
            "    sym = a['symbol']; sym = sym.decode() if isinstance(sym, bytes) else sym\n"
            "    ops = [n['op'] for n in json.loads(sym)['nodes']]\n"
            "    assert 'FullyConnected' in ops and 'SoftmaxOutput' in ops, ops\n"
            "    assert int(h['optimizer/fc1_weight'].attrs['count']) == 2\n"
            "print('h5py ok')\n");
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s '%s' '%s' '%s'", python, py, path, dir);
    assert_int_equal(system(cmd), 0);
  }
  mt_optimizer_free(opt);
  mt_symbol_free(sym);
  mt_arena_free(args);
  mt_arena_free(aux);
}

/* ----------------------------------------------------------- resume */

enum { NUM_CLASSES = 10, NUM_FEATURES = 128, NUM_SAMPLES = 320, BATCH = 32 };

static void fit_options(mt_fit_options *o, const mt_initializer *init, int begin, int end) {
  mt_fit_options_init(o);
  o->optimizer = "sgd";
  o->optimizer_params = "learning_rate=0.1 momentum=0.9";
  o->initializer = init;
  o->begin_epoch = begin;
  o->num_epoch = end;
}

/* Trains the tutorial MLP; returns a copy of its parameters (caller frees). */
static float *copy_params(mt_module *mod, int64_t *n) {
  const mt_arena *args, *aux;
  MT_ASSERT_OK(mt_module_get_params(mod, &args, &aux));
  *n = mt_arena_size(args);
  float *p = malloc(sizeof(float) * (size_t)*n);
  memcpy(p, mt_arena_data(args), sizeof(float) * (size_t)*n);
  return p;
}

static mt_module *new_module(mt_symbol *net) {
  mt_module *mod;
  MT_ASSERT_OK(mt_module_create(net, 0, NULL, 0, NULL, 1, (mt_context[]){mt_cpu(0)}, &mod));
  return mod;
}

/* 4 epochs straight == 2 epochs with module_checkpoint, then a new module
 * restored from epoch 2 and fit from begin_epoch 2 to 4: the same bits. */
static void test_resume_bit_exact(void **state) {
  mt_symbol *net = tu_mlp(64, "relu", 10);
  mt_initializer *init;
  MT_ASSERT_OK(mt_initializer_create("xavier magnitude=2", 0, &init));
  mt_fit_options o;

  /* A: straight */
  mt_data_iter *it;
  MT_ASSERT_OK(
      mt_synthetic_iter_create(NUM_CLASSES, NUM_FEATURES, NUM_SAMPLES, BATCH, 0, 0, 1, &it));
  mt_module *a = new_module(net);
  fit_options(&o, init, 0, 4);
  MT_ASSERT_OK(mt_module_fit(a, it, &o));
  int64_t n;
  float *pa = copy_params(a, &n);
  mt_data_iter_free(it);

  /* B: 2 epochs, checkpoint every epoch with optimizer state */
  char prefix[128];
  prefix_of(prefix, sizeof prefix, "mlp");
  MT_ASSERT_OK(
      mt_synthetic_iter_create(NUM_CLASSES, NUM_FEATURES, NUM_SAMPLES, BATCH, 0, 0, 1, &it));
  mt_module *b = new_module(net);
  fit_options(&o, init, 0, 2);
  MT_ASSERT_OK(
      mt_module_checkpoint(b, prefix, 1, 1, "[train]\nnum_epoch = 4\n", &o.epoch_end_callback[0]));
  o.n_epoch_end_callback = 1;
  MT_ASSERT_OK(mt_module_fit(b, it, &o));
  mt_epoch_callback_free(&o.epoch_end_callback[0]);
  uint64_t step_b = b->step;
  mt_module_free(b);
  mt_data_iter_free(it);
  int latest;
  MT_ASSERT_OK(mt_checkpoint_latest(prefix, &latest));
  assert_int_equal(latest, 2);

  /* C: a new process would do this: load, bind, init, restore, fit 2..4 */
  MT_ASSERT_OK(
      mt_synthetic_iter_create(NUM_CLASSES, NUM_FEATURES, NUM_SAMPLES, BATCH, 0, 0, 1, &it));
  for (int e = 0; e < 2; e++) MT_ASSERT_OK(mt_data_iter_reset(it)); /* the iterator's epoch 2 */
  mt_symbol *loaded;
  mt_checkpoint_extra x;
  mt_checkpoint_extra_init(&x);
  MT_ASSERT_OK(mt_load_checkpoint(prefix, 2, &loaded, NULL, NULL, &x));
  /* what module_checkpoint stored besides the parameters */
  assert_string_equal(x.loaded_config, "[train]\nnum_epoch = 4\n");
  assert_int_equal(x.data_epoch, 2);
  assert_int_equal(x.data_batch, 0);
  assert_int_equal(x.num_update, 2 * NUM_SAMPLES / BATCH);
  assert_int_equal(x.world_size, 1);
  assert_true(x.rng_step == step_b);
  free(x.loaded_config);
  mt_module *c = new_module(loaded);
  int nd, nl;
  const mt_data_desc *dd, *ld;
  MT_ASSERT_OK(mt_data_iter_provide_data(it, &nd, &dd));
  MT_ASSERT_OK(mt_data_iter_provide_label(it, &nl, &ld));
  MT_ASSERT_OK(mt_module_bind(c, nd, dd, nl, ld, 1, 0, 0, MT_REQ_WRITE));
  MT_ASSERT_OK(mt_module_init_params(c, init, NULL, NULL, 0, 0, 0));
  fit_options(&o, init, 2, 4);
  MT_ASSERT_OK(mt_module_init_optimizer(c, o.kvstore, o.optimizer, o.optimizer_params, 0));
  MT_ASSERT_OK(mt_module_restore_checkpoint(c, prefix, 2));
  assert_true(c->step == step_b);
  assert_int_equal(mt_optimizer_num_update(mt_module_get_optimizer(c)), 2 * NUM_SAMPLES / BATCH);
  MT_ASSERT_OK(mt_module_fit(c, it, &o));
  int64_t nc;
  float *pc = copy_params(c, &nc);
  assert_int_equal(n, nc);
  if (memcmp(pa, pc, sizeof(float) * (size_t)n)) {
    double d = tu_max_abs_diff(pa, pc, n);
    fail_msg("resumed parameters differ from the straight run (max |diff| %g)", d);
  }
  mt_data_iter_free(it);

  /* Control: restoring the parameters without the momentum does differ, so
   * the comparison above can fail. */
  MT_ASSERT_OK(
      mt_synthetic_iter_create(NUM_CLASSES, NUM_FEATURES, NUM_SAMPLES, BATCH, 0, 0, 1, &it));
  for (int e = 0; e < 2; e++) MT_ASSERT_OK(mt_data_iter_reset(it));
  mt_arena *args, *aux;
  MT_ASSERT_OK(mt_load_checkpoint(prefix, 2, NULL, &args, &aux, NULL));
  mt_module *d = new_module(loaded);
  fit_options(&o, init, 2, 4);
  o.arg_params = args;
  o.aux_params = aux;
  MT_ASSERT_OK(mt_module_fit(d, it, &o));
  float *pd = copy_params(d, &nc);
  assert_true(memcmp(pa, pd, sizeof(float) * (size_t)n) != 0);

  free(pa);
  free(pc);
  free(pd);
  mt_arena_free(args);
  mt_arena_free(aux);
  mt_data_iter_free(it);
  mt_module_free(a);
  mt_module_free(c);
  mt_module_free(d);
  mt_symbol_free(loaded);
  mt_symbol_free(net);
  mt_initializer_free(init);
}

/* The same on gpu(0): parameters and the sgd momentum live on the device,
 * so the save stages device states to the host and the restore copies them
 * back. Skipped without a CUDA device. */
static void test_resume_bit_exact_gpu(void **state) {
  mt_ndarray *probe;
  if (mt_ndarray_create(MT_SHAPE(1), mt_gpu(0), &probe) < 0) {
    print_message("SKIP: no CUDA device (%s)\n", mt_last_error());
    skip();
  }
  mt_ndarray_free(probe);
  mt_symbol *net = tu_mlp(64, "relu", 10);
  mt_initializer *init;
  MT_ASSERT_OK(mt_initializer_create("xavier magnitude=2", 0, &init));
  mt_context gpu = mt_gpu(0);
  mt_fit_options o;
  char prefix[128];
  prefix_of(prefix, sizeof prefix, "gpu");
  mt_data_iter *it;
  mt_module *a, *b, *c;
  /* straight */
  MT_ASSERT_OK(
      mt_synthetic_iter_create(NUM_CLASSES, NUM_FEATURES, NUM_SAMPLES, BATCH, 0, 0, 1, &it));
  MT_ASSERT_OK(mt_module_create(net, 0, NULL, 0, NULL, 1, &gpu, &a));
  fit_options(&o, init, 0, 4);
  MT_ASSERT_OK(mt_module_fit(a, it, &o));
  int64_t n, nc;
  float *pa = copy_params(a, &n);
  mt_data_iter_free(it);
  /* 2 epochs, checkpoints with the device momentum */
  MT_ASSERT_OK(
      mt_synthetic_iter_create(NUM_CLASSES, NUM_FEATURES, NUM_SAMPLES, BATCH, 0, 0, 1, &it));
  MT_ASSERT_OK(mt_module_create(net, 0, NULL, 0, NULL, 1, &gpu, &b));
  fit_options(&o, init, 0, 2);
  MT_ASSERT_OK(
      mt_module_checkpoint(b, prefix, 1, 1, "[train]\nnum_epoch = 4\n", &o.epoch_end_callback[0]));
  o.n_epoch_end_callback = 1;
  MT_ASSERT_OK(mt_module_fit(b, it, &o));
  mt_epoch_callback_free(&o.epoch_end_callback[0]);
  mt_module_free(b);
  mt_data_iter_free(it);
  /* a new module restores epoch 2 and trains to 4 */
  MT_ASSERT_OK(
      mt_synthetic_iter_create(NUM_CLASSES, NUM_FEATURES, NUM_SAMPLES, BATCH, 0, 0, 1, &it));
  for (int e = 0; e < 2; e++) MT_ASSERT_OK(mt_data_iter_reset(it));
  MT_ASSERT_OK(mt_module_create(net, 0, NULL, 0, NULL, 1, &gpu, &c));
  int nd, nl;
  const mt_data_desc *dd, *ld;
  MT_ASSERT_OK(mt_data_iter_provide_data(it, &nd, &dd));
  MT_ASSERT_OK(mt_data_iter_provide_label(it, &nl, &ld));
  MT_ASSERT_OK(mt_module_bind(c, nd, dd, nl, ld, 1, 0, 0, MT_REQ_WRITE));
  MT_ASSERT_OK(mt_module_init_params(c, init, NULL, NULL, 0, 0, 0));
  fit_options(&o, init, 2, 4);
  MT_ASSERT_OK(mt_module_init_optimizer(c, o.kvstore, o.optimizer, o.optimizer_params, 0));
  MT_ASSERT_OK(mt_module_restore_checkpoint(c, prefix, 2));
  MT_ASSERT_OK(mt_module_fit(c, it, &o));
  float *pc = copy_params(c, &nc);
  assert_int_equal(n, nc);
  if (memcmp(pa, pc, sizeof(float) * (size_t)n))
    fail_msg("gpu: resumed parameters differ from the straight run (max |diff| %g)",
             tu_max_abs_diff(pa, pc, n));
  print_message("gpu(0): resumed run equals the straight run bit for bit (%lld floats)\n",
                (long long)n);
  free(pa);
  free(pc);
  mt_data_iter_free(it);
  mt_module_free(a);
  mt_module_free(c);
  mt_symbol_free(net);
  mt_initializer_free(init);
}

/* do_checkpoint: files at (epoch + 1) % period == 0, numbered epoch + 1,
 * and the log line on stdout. */
static void test_do_checkpoint(void **state) {
  mt_symbol *net = tu_mlp(64, "relu", 10);
  mt_data_iter *it;
  MT_ASSERT_OK(
      mt_synthetic_iter_create(NUM_CLASSES, NUM_FEATURES, NUM_SAMPLES, BATCH, 0, 0, 1, &it));
  mt_module *mod = new_module(net);
  mt_fit_options o;
  fit_options(&o, NULL, 0, 4);
  char prefix[128], log[160];
  prefix_of(prefix, sizeof prefix, "do");
  MT_ASSERT_OK(mt_do_checkpoint(prefix, 2, &o.epoch_end_callback[0]));
  o.n_epoch_end_callback = 1;
  /* capture stdout (mt_log_train) into a file */
  snprintf(log, sizeof log, "%s/fit.log", dir);
  fflush(stdout);
  int saved = dup(1), fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  assert_true(saved >= 0 && fd >= 0);
  dup2(fd, 1);
  close(fd);
  int rc = mt_module_fit(mod, it, &o);
  fflush(stdout);
  dup2(saved, 1);
  close(saved);
  MT_ASSERT_OK(rc);
  mt_epoch_callback_free(&o.epoch_end_callback[0]);
  char p[160], line[512];
  for (int e = 1; e <= 4; e++) {
    MT_ASSERT_OK(mt_checkpoint_path(prefix, e, p, sizeof p));
    assert_int_equal(file_exists(p), e % 2 == 0);
  }
  int found = 0;
  for (int e = 2; e <= 4; e += 2) {
    MT_ASSERT_OK(mt_checkpoint_path(prefix, e, p, sizeof p));
    snprintf(line, sizeof line, "grep -qxF 'Saved checkpoint to \"%s\"' '%s'", p, log);
    found += system(line) == 0;
  }
  assert_int_equal(found, 2);
  /* the saved parameters are the module's after epoch 4 */
  mt_arena *args;
  MT_ASSERT_OK(mt_load_checkpoint(prefix, 4, NULL, &args, NULL, NULL));
  const mt_arena *cur;
  MT_ASSERT_OK(mt_module_get_params(mod, &cur, NULL));
  expect_same_arena(cur, args);
  mt_arena_free(args);
  assert_int_equal(mt_do_checkpoint(prefix, 0, &o.epoch_end_callback[0]), MT_E_INVAL);
  mt_module_free(mod);
  mt_data_iter_free(it);
  mt_symbol_free(net);
}

/* --------------------------------------------------- latest and damage */

static void copy_truncated(const char *src, const char *dst, double frac) {
  FILE *f = fopen(src, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  long keep = (long)(n * frac);
  char *buf = malloc((size_t)n);
  assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  f = fopen(dst, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(buf, 1, (size_t)keep, f), (size_t)keep);
  fclose(f);
  free(buf);
}

static void expect_load_error(const char *prefix, int epoch, int code, const char *needle) {
  char path[160];
  MT_ASSERT_OK(mt_checkpoint_path(prefix, epoch, path, sizeof path));
  mt_arena *args = (mt_arena *)1;
  int rc = mt_load_checkpoint(prefix, epoch, NULL, &args, NULL, NULL);
  if (rc != code)
    fail_msg("loading %s: expected %s, got %d: %s", path, mt_strerror(code), rc, mt_last_error());
  assert_null(args);
  if (!strstr(mt_last_error(), path))
    fail_msg("message does not name %s: %s", path, mt_last_error());
  if (needle && !strstr(mt_last_error(), needle))
    fail_msg("message lacks '%s': %s", needle, mt_last_error());
}

static void test_errors(void **state) {
  char prefix[128], path[160], good[160];
  prefix_of(prefix, sizeof prefix, "err");
  mt_arena *args, *aux;
  make_params(&args, &aux, 3);
  MT_ASSERT_OK(mt_save_checkpoint(prefix, 1, NULL, args, aux, NULL));
  MT_ASSERT_OK(mt_checkpoint_path(prefix, 1, good, sizeof good));

  /* missing file */
  expect_load_error(prefix, 9, MT_E_IO, "No such file");
  /* not HDF5 */
  MT_ASSERT_OK(mt_checkpoint_path(prefix, 2, path, sizeof path));
  FILE *f = fopen(path, "w");
  fputs("this is not an HDF5 file\n", f);
  fclose(f);
  expect_load_error(prefix, 2, MT_E_FORMAT, "not an HDF5 file");
  /* truncated (half of a valid file) */
  MT_ASSERT_OK(mt_checkpoint_path(prefix, 3, path, sizeof path));
  copy_truncated(good, path, 0.5);
  expect_load_error(prefix, 3, MT_E_FORMAT, "truncated");
  /* an HDF5 file without /arg */
  MT_ASSERT_OK(mt_checkpoint_path(prefix, 4, path, sizeof path));
  mtio_h5w *w;
  MT_ASSERT_OK(mtio_h5w_create(path, 0, &w));
  MT_ASSERT_OK(mtio_h5w_attr_i64(w, "/", "format_version", 1));
  MT_ASSERT_OK(mtio_h5w_attr_i64(w, "/", "epoch", 4));
  MT_ASSERT_OK(mtio_h5w_commit(w));
  expect_load_error(prefix, 4, MT_E_FORMAT, "no /arg group");
  /* a future format version */
  MT_ASSERT_OK(mt_checkpoint_path(prefix, 5, path, sizeof path));
  MT_ASSERT_OK(mtio_h5w_create(path, 0, &w));
  MT_ASSERT_OK(mtio_h5w_attr_i64(w, "/", "format_version", 4));
  MT_ASSERT_OK(mtio_h5w_attr_i64(w, "/", "epoch", 5));
  MT_ASSERT_OK(mtio_h5w_commit(w));
  expect_load_error(prefix, 5, MT_E_FORMAT, "format_version 4; this modtrain reads 1..3");
  /* format 2 (XXH64 digests) claimed by a file with XXH3 digests */
  MT_ASSERT_OK(mt_checkpoint_path(prefix, 7, path, sizeof path));
  MT_ASSERT_OK(mtio_h5w_create(path, 0, &w));
  MT_ASSERT_OK(mtio_h5w_attr_i64(w, "/", "format_version", 2));
  MT_ASSERT_OK(mtio_h5w_attr_i64(w, "/", "epoch", 7));
  MT_ASSERT_OK(
      mtio_h5w_array(w, "/arg/fc1_bias", &ARG_SHAPES[1], mt_ndarray_data(mt_arena_at(args, 1))));
  MT_ASSERT_OK(mtio_h5w_commit(w));
  expect_load_error(prefix, 7, MT_E_FORMAT, "format_version 2 but xxh3 digests");
  /* a renamed file: its epoch attribute is not the name's */
  MT_ASSERT_OK(mt_checkpoint_path(prefix, 6, path, sizeof path));
  copy_truncated(good, path, 1.0);
  expect_load_error(prefix, 6, MT_E_FORMAT, "holds epoch 1, not 6");
  /* saving into a directory that does not exist */
  int rc = mt_save_checkpoint("/nonexistent_mt_dir/p", 1, NULL, args, aux, NULL);
  assert_int_equal(rc, MT_E_IO);
  assert_non_null(strstr(mt_last_error(), "/nonexistent_mt_dir/p-0001.h5"));
  /* the newest complete one is 1: 2..7 are damaged or foreign (warnings) */
  int e = -1;
  MT_ASSERT_OK(mt_checkpoint_latest(prefix, &e));
  assert_int_equal(e, 1);
  mt_arena_free(args);
  mt_arena_free(aux);
}

static void test_latest(void **state) {
  char prefix[128], path[160];
  prefix_of(prefix, sizeof prefix, "lat");
  int e = -1;
  assert_int_equal(mt_checkpoint_latest(prefix, &e), MT_E_NOTFOUND);
  assert_non_null(strstr(mt_last_error(), prefix));
  mt_arena *args, *aux;
  make_params(&args, &aux, 4);
  for (int k = 1; k <= 3; k++) MT_ASSERT_OK(mt_save_checkpoint(prefix, k, NULL, args, aux, NULL));
  MT_ASSERT_OK(mt_checkpoint_latest(prefix, &e));
  assert_int_equal(e, 3);
  /* a leftover temporary file of epoch 4 (a crash mid-write) is never picked */
  snprintf(path, sizeof path, "%s-0004.h5.tmp.99999", prefix);
  FILE *f = fopen(path, "w");
  fputs("partial", f);
  fclose(f);
  /* a damaged newest one: 3 truncated -> 2 */
  char p3[160], copy[192];
  MT_ASSERT_OK(mt_checkpoint_path(prefix, 3, p3, sizeof p3));
  snprintf(copy, sizeof copy, "%s.orig", p3);
  assert_int_equal(rename(p3, copy), 0);
  copy_truncated(copy, p3, 0.9);
  /* ... with a warning naming it (stderr captured into a file) */
  char log[160], cmd[512];
  snprintf(log, sizeof log, "%s/latest.log", dir);
  fflush(stderr);
  int saved = dup(2), fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  assert_true(saved >= 0 && fd >= 0);
  dup2(fd, 2);
  close(fd);
  mt_log_set_level(MT_LOG_WARN);
  int rc = mt_checkpoint_latest(prefix, &e);
  mt_log_set_level(MT_LOG_ERROR);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  MT_ASSERT_OK(rc);
  assert_int_equal(e, 2);
  snprintf(cmd, sizeof cmd, "grep -qF \"skipping damaged checkpoint '%s'\" '%s'", p3, log);
  if (system(cmd) != 0) fail_msg("no warning naming %s in %s", p3, log);
  /* a different prefix sharing the directory is not confused with it */
  char other[128];
  prefix_of(other, sizeof other, "lat-x");
  MT_ASSERT_OK(mt_save_checkpoint(other, 7, NULL, args, aux, NULL));
  MT_ASSERT_OK(mt_checkpoint_latest(prefix, &e));
  assert_int_equal(e, 2);
  /* the temp writer leaves no temporary file after a commit */
  snprintf(path, sizeof path, "%s-0002.h5.tmp.%ld", prefix, (long)getpid());
  assert_false(file_exists(path));
  mt_arena_free(args);
  mt_arena_free(aux);
}

/* A module's restore refuses to run before init_optimizer, and a module of
 * another architecture refuses the parameters, naming the file. */
static void test_module_restore_errors(void **state) {
  char prefix[128];
  prefix_of(prefix, sizeof prefix, "modres");
  mt_symbol *net = tu_mlp(64, "relu", 10);
  mt_data_iter *it;
  MT_ASSERT_OK(
      mt_synthetic_iter_create(NUM_CLASSES, NUM_FEATURES, NUM_SAMPLES, BATCH, 0, 0, 0, &it));
  mt_module *m = new_module(net);
  assert_int_equal(mt_module_restore_checkpoint(m, prefix, 1), MT_E_STATE);
  mt_fit_options o;
  fit_options(&o, NULL, 0, 1);
  MT_ASSERT_OK(mt_module_fit(m, it, &o));
  MT_ASSERT_OK(mt_module_save_checkpoint(m, prefix, 1, 0)); /* no optimizer state */
  assert_int_equal(mt_module_restore_checkpoint(m, prefix, 1), MT_E_NOTFOUND);
  MT_ASSERT_OK(mt_module_save_checkpoint(m, prefix, 1, 1));
  MT_ASSERT_OK(mt_module_restore_checkpoint(m, prefix, 1));
  /* wrong architecture: fc1 with 32 hidden units */
  mt_symbol *data, *fc1, *fc2, *net2;
  MT_ASSERT_OK(mt_symbol_variable("data", &data));
  MT_ASSERT_OK(mt_symbol_create("FullyConnected", "fc1", "num_hidden=32", 1, &data, &fc1));
  MT_ASSERT_OK(mt_symbol_create("FullyConnected", "fc2", "num_hidden=10", 1, &fc1, &fc2));
  MT_ASSERT_OK(mt_symbol_create("SoftmaxOutput", "softmax", NULL, 1, &fc2, &net2));
  mt_module *m2 = new_module(net2);
  MT_ASSERT_OK(mt_module_fit(m2, it, &o));
  int rc = mt_module_restore_checkpoint(m2, prefix, 1);
  assert_true(rc < 0);
  assert_non_null(strstr(mt_last_error(), prefix));
  mt_module_free(m);
  mt_module_free(m2);
  mt_data_iter_free(it);
  mt_symbol_free(net);
  mt_symbol_free(net2);
  mt_symbol_free(data);
  mt_symbol_free(fc1);
  mt_symbol_free(fc2);
}

/* ------------------------------------------- digests and position ranges */

/* XXH64's published vectors; the streaming form equals the one-shot one
 * whatever the piece sizes. */
static void test_xxh64(void **state) {
  assert_true(mtio_xxh64("", 0, 0) == 0xEF46DB3751D8E999ull);
  assert_true(mtio_xxh64("a", 1, 0) == 0xD24EC4F1A98C6E5Bull);
  assert_true(mtio_xxh64("abc", 3, 0) == 0x44BC2CF5AD770999ull);
  const char *s = "Nobody inspects the spammish repetition";
  assert_true(mtio_xxh64(s, strlen(s), 0) == 0xFBCEA83C8A378BF1ull);
  unsigned char buf[1000];
  for (int i = 0; i < 1000; i++) buf[i] = (unsigned char)(i * 131 + 7);
  uint64_t one = mtio_xxh64(buf, sizeof buf, 0);
  const size_t pieces[] = {1, 3, 31, 32, 33, 100, 999};
  for (size_t k = 0; k < sizeof pieces / sizeof *pieces; k++) {
    mtio_xxh64_state st;
    mtio_xxh64_init(&st, 0);
    for (size_t o = 0; o < sizeof buf; o += pieces[k])
      mtio_xxh64_update(&st, buf + o, sizeof buf - o < pieces[k] ? sizeof buf - o : pieces[k]);
    assert_true(mtio_xxh64_digest(&st) == one);
  }
}

/* The offset of the first occurrence of needle in the file, or -1. */
static long find_in_file(const char *path, const void *needle, size_t n) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)len);
  assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
  fclose(f);
  const char *hit = memmem(buf, (size_t)len, needle, n);
  long off = hit ? hit - buf : -1;
  free(buf);
  return off;
}

/* XORs 0xff into n bytes at off (n 63: the probe's damage, F6). */
static void flip_bytes(const char *path, long off, int n) {
  FILE *f = fopen(path, "r+b");
  assert_non_null(f);
  for (int i = 0; i < n; i++) {
    fseek(f, off + i, SEEK_SET);
    int c = fgetc(f);
    assert_true(c != EOF);
    fseek(f, off + i, SEEK_SET);
    fputc(c ^ 0xff, f);
  }
  fclose(f);
}

/* Cuts the metadata trailer (io/h5_container.c) off the end of a file, as
 * HDF5 does when it rewrites one: its length is the u64 before the magic. */
static void strip_trailer(const char *path) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  unsigned char tail[24];
  assert_int_equal(fseek(f, -24, SEEK_END), 0);
  assert_int_equal(fread(tail, 1, 24, f), 24);
  long size = ftell(f);
  fclose(f);
  assert_memory_equal(tail + 16, "MTH5META", 8);
  uint64_t tb;
  memcpy(&tb, tail + 8, 8);
  assert_int_equal(truncate(path, size - (long)tb), 0);
}

/* Loading epoch with extra (and an optimizer like the saved one) fails
 * with code, naming the path and each needle. */
static void expect_full_load_error(const char *prefix, int epoch, int code, const char *n1,
                                   const char *n2) {
  char path[160];
  MT_ASSERT_OK(mt_checkpoint_path(prefix, epoch, path, sizeof path));
  mt_optimizer *opt;
  MT_ASSERT_OK(mt_optimizer_create("sgd", "learning_rate=0.1 momentum=0.9", &opt));
  mt_checkpoint_extra x;
  mt_checkpoint_extra_init(&x);
  x.optimizer = opt;
  mt_arena *args = NULL, *aux = NULL;
  int rc = mt_load_checkpoint(prefix, epoch, NULL, &args, &aux, &x);
  mt_optimizer_free(opt);
  mt_arena_free(args);
  mt_arena_free(aux);
  free(x.loaded_config);
  if (rc != code)
    fail_msg("loading %s: expected %s, got %d: %s", path, mt_strerror(code), rc, mt_last_error());
  const char *needles[] = {path, n1, n2};
  for (int i = 0; i < 3; i++)
    if (needles[i] && !strstr(mt_last_error(), needles[i]))
      fail_msg("message lacks '%s': %s", needles[i], mt_last_error());
}

/* Saves epoch e of prefix: make_params(seed 5), sgd momentum after 2
 * updates, the given position. */
static void save_full(const char *prefix, int e, int64_t data_epoch, int64_t data_batch,
                      int64_t num_update) {
  mt_arena *args, *aux;
  make_params(&args, &aux, 5);
  mt_optimizer *opt = NULL;
  if (num_update >= 0) {
    MT_ASSERT_OK(mt_optimizer_create("sgd", "learning_rate=0.1 momentum=0.9", &opt));
    run_updates(opt, args, 0, 2);
  }
  mt_checkpoint_extra x;
  mt_checkpoint_extra_init(&x);
  x.optimizer = opt;
  x.num_update = num_update;
  x.data_epoch = data_epoch;
  x.data_batch = data_batch;
  x.config = "[train]\nnum_epoch = 2\n";
  MT_ASSERT_OK(mt_save_checkpoint(prefix, e, NULL, args, aux, &x));
  mt_optimizer_free(opt);
  mt_arena_free(args);
  mt_arena_free(aux);
}

/* xxHash's sanity buffer (its cli/xsum_sanity_check.c): byte i is the top
 * byte of PRIME32 * PRIME64^i. */
static unsigned char *xxh_sanity_buffer(size_t n) {
  unsigned char *b = malloc(n ? n : 1);
  assert_non_null(b);
  uint64_t g = 2654435761u;
  for (size_t i = 0; i < n; i++) {
    b[i] = (unsigned char)(g >> 56);
    g *= 11400714785074694797ull;
  }
  return b;
}

/* Hashes p with path x in pieces of random sizes (up to max) from seed. */
static uint64_t xxh3_pieces(const mtio_xxh3_path *x, const unsigned char *p, size_t n, size_t max,
                            uint64_t seed) {
  mtio_xxh3_state st;
  x->init(&st);
  for (size_t o = 0; o < n;) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    size_t k = (size_t)(seed >> 33) % (max + 1);
    if (k > n - o) k = n - o;
    x->update(&st, p + o, k);
    o += k;
  }
  return x->digest(&st);
}

/* XXH3-64 (seed 0): xxHash's published vectors (xsum_sanity_check.c) and
 * `xxhsum -H3` of the same buffer at the lengths where its code changes
 * branch (0, 1-3, 4-8, 9-16, 17-128, 129-240, longer; stripes, blocks), by
 * every compiled path this CPU runs, one-shot and streamed in pieces; and
 * every path agrees with the scalar one on random buffers of many lengths. */
static void test_xxh3(void **state) {
  static const struct {
    size_t len;
    uint64_t h;
  } known[] = {
      /* xxHash 0.8's XSUM_XXH3_testdata (seed 0) */
      {0, 0x2D06800538D394C2ull},
      {1, 0xC44BDFF4074EECDBull},
      {6, 0x27B56A84CD2D7325ull},
      {12, 0xA713DAF0DFBB77E7ull},
      {24, 0xA3FE70BF9D3510EBull},
      {48, 0x397DA259ECBA1F11ull},
      {80, 0xBCDEFBBB2C47C90Aull},
      {195, 0xCD94217EE362EC3Aull},
      {403, 0xCDEB804D65C6DEA4ull},
      {512, 0x617E49599013CB6Bull},
      {2048, 0xDD59E2C3A5F038E0ull},
      {2099, 0xC6B9D9B3FC9AC765ull},
      {2240, 0x6E73A90539CF2948ull},
      {2367, 0xCB37AEB9E5D361EDull},
      /* xxhsum 0.8.1 -H3 of the same buffer's first len bytes */
      {3, 0x54247382A8D6B94Dull},
      {16, 0x981B17D36C7498C9ull},
      {17, 0x796F5ACD3A60F862ull},
      {128, 0xFCFF24126754D861ull},
      {129, 0x98F1B0A679A2CA29ull},
      {240, 0x81C3C2B67F568CCFull},
      {241, 0xC5A639ECD2030E5Eull},
      {(1 << 20) + 7, 0x525A20EDFB0DE181ull},
  };
  const size_t big = (1 << 20) + 7;
  unsigned char *buf = xxh_sanity_buffer(big);
  int np;
  const mtio_xxh3_path *paths = mtio_xxh3_paths(&np);
  assert_true(np >= 2 && !strcmp(paths[0].name, "scalar") && paths[0].usable && paths[1].usable);
  for (int i = 0; i < np; i++) {
    if (!paths[i].usable) {
      print_message("xxh3 path %s: compiled, not run (this CPU lacks it)\n", paths[i].name);
      continue;
    }
    for (size_t k = 0; k < sizeof known / sizeof *known; k++) {
      uint64_t got = paths[i].oneshot(buf, known[k].len);
      if (got != known[k].h)
        fail_msg("xxh3 path %s, %zu bytes: %016llx, want %016llx", paths[i].name, known[k].len,
                 (unsigned long long)got, (unsigned long long)known[k].h);
      got = xxh3_pieces(&paths[i], buf, known[k].len, known[k].len / 3 + 1, k);
      if (got != known[k].h)
        fail_msg("xxh3 path %s streamed, %zu bytes: %016llx, want %016llx", paths[i].name,
                 known[k].len, (unsigned long long)got, (unsigned long long)known[k].h);
    }
  }
  /* the dispatching entry points: AVX2 where usable, else a usable one;
   * switched to each usable path (a state started on one and finished on
   * another included), the same digests */
  const mtio_xxh3_path *c = mtio_xxh3_chosen();
  assert_true(c >= paths && c < paths + np && c->usable);
  for (int i = 0; i < np; i++)
    if (!strcmp(paths[i].name, "avx2") && paths[i].usable) assert_ptr_equal(c, &paths[i]);
  for (int i = 0; i < np; i++) {
    if (!paths[i].usable) continue;
    mtio_xxh3_state st;
    mtio_xxh3_init(&st);
    mtio_xxh3_update(&st, buf, 1000);
    MT_ASSERT_OK(mtio_xxh3_use(paths[i].name));
    assert_ptr_equal(mtio_xxh3_chosen(), &paths[i]);
    mtio_xxh3_update(&st, buf + 1000, big - 1000);
    assert_true(mtio_xxh3_digest(&st) == 0x525A20EDFB0DE181ull);
    assert_true(mtio_xxh3(buf, big) == 0x525A20EDFB0DE181ull);
    assert_true(mtio_xxh3(NULL, 0) == 0x2D06800538D394C2ull);
  }
  assert_int_equal(mtio_xxh3_use("avx1024"), -1);
  MT_ASSERT_OK(mtio_xxh3_use(c->name));
  print_message("xxh3: %d paths compiled, using %s\n", np, c->name);

  /* random bytes: every path equals the scalar one, one-shot and streamed */
  uint64_t seed = 12345;
  for (size_t i = 0; i < big; i++) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    buf[i] = (unsigned char)(seed >> 56);
  }
  size_t lens[400];
  int nl = 0;
  for (size_t n = 0; n <= 300; n++) lens[nl++] = n;
  const size_t more[] = {383,  384,  385,  511,  512,       513,           1023,    1024,
                         1025, 4095, 4096, 4097, 65536 + 3, (1 << 20) - 1, 1 << 20, (1 << 20) + 7};
  for (size_t k = 0; k < sizeof more / sizeof *more; k++) lens[nl++] = more[k];
  for (int l = 0; l < nl; l++) {
    size_t n = lens[l], off = (size_t)l % 7; /* unaligned starts too */
    if (n + off > big) off = 0;
    uint64_t want = paths[0].oneshot(buf + off, n);
    for (int i = 0; i < np; i++) {
      if (!paths[i].usable) continue;
      uint64_t one = paths[i].oneshot(buf + off, n);
      uint64_t str = xxh3_pieces(&paths[i], buf + off, n, n > 4096 ? 70000 : 97, (uint64_t)l);
      if (one != want || str != want)
        fail_msg(
            "xxh3 path %s, %zu random bytes at +%zu: %016llx one-shot, %016llx streamed, "
            "scalar %016llx",
            paths[i].name, n, off, (unsigned long long)one, (unsigned long long)str,
            (unsigned long long)want);
    }
  }
  free(buf);
}

/* The writer stores XXH3-64 (io/h5_container.h): a saved file's root
 * carries attrs_xxh3 (and no attrs_xxh64), and a dataset's "xxh3" attribute,
 * read with plain HDF5, is the scalar XXH3 of its elements. */
static void test_digest_v3_written(void **state) {
  char prefix[128], path[160];
  prefix_of(prefix, sizeof prefix, "v3");
  save_full(prefix, 1, 1, 0, 0);
  MT_ASSERT_OK(mt_checkpoint_path(prefix, 1, path, sizeof path));
  mtio_h5r *r;
  MT_ASSERT_OK(mtio_h5r_open(path, &r));
  assert_int_equal(mtio_h5r_digest(r), MTIO_DIGEST_XXH3);
  assert_int_equal(mtio_h5r_digested(r), 1);
  int64_t v;
  MT_ASSERT_OK(mtio_h5r_attr_i64(r, "/", "format_version", &v));
  assert_int_equal(v, 3);
  MT_ASSERT_OK(mtio_h5r_verify(r));
  mtio_h5r_close(r);
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  assert_true(f >= 0);
  assert_true(H5Aexists_by_name(f, "/", "attrs_xxh3", H5P_DEFAULT) > 0);
  assert_true(H5Aexists_by_name(f, "/", "attrs_xxh64", H5P_DEFAULT) == 0);
  hid_t d = H5Dopen2(f, "/arg/fc1_weight", H5P_DEFAULT);
  assert_true(d >= 0);
  float *w = malloc(sizeof(float) * 64 * 128);
  assert_true(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, w) >= 0);
  uint64_t stored = 0;
  hid_t a = H5Aopen(d, "xxh3", H5P_DEFAULT);
  assert_true(a >= 0 && H5Aread(a, H5T_NATIVE_UINT64, &stored) >= 0);
  H5Aclose(a);
  H5Dclose(d);
  H5Fclose(f);
  int np;
  const mtio_xxh3_path *paths = mtio_xxh3_paths(&np);
  assert_true(stored == paths[0].oneshot(w, sizeof(float) * 64 * 128));
  assert_true(stored != mtio_xxh64(w, sizeof(float) * 64 * 128, 0));
  free(w);
}

/* Copies the repository's file tests/data/NAME to dst: beside this source
 * file (CMake compiles it by its absolute path), or under ./tests/data (a
 * copy of the tree elsewhere, run from its root: bench/gpu-check.sh). */
static void copy_fixture(const char *name, const char *dst) {
  const char *me = __FILE__, *slash = strrchr(me, '/');
  char src[512], cmd[1200];
  snprintf(src, sizeof src, "%.*s/data/%s", slash ? (int)(slash - me) : 1, slash ? me : ".", name);
  if (access(src, R_OK) != 0) snprintf(src, sizeof src, "tests/data/%s", name);
  snprintf(cmd, sizeof cmd, "cp '%s' '%s' && chmod u+w '%s'", src, dst, dst);
  if (system(cmd) != 0) fail_msg("%s failed", cmd);
}

/* A format 2 checkpoint (XXH64 digests) written by modtrain before format
 * 3 (tests/data/ckpt_v2-0002.h5: the tutorial's MLP, 6 features, hidden 5,
 * 3 classes, 2 epochs of sgd with momentum 0.9) loads, verified with XXH64:
 * its parameters equal what plain HDF5 reads, its optimizer state restores.
 * A damaged format 3 checkpoint after it falls back to it; a damaged copy of
 * it is refused naming the dataset and xxh64, and skipped in turn. */
static void test_v2_fixture(void **state) {
  char prefix[128], path[160], p3[160], p1[160], sym[160];
  prefix_of(prefix, sizeof prefix, "v2");
  MT_ASSERT_OK(mt_checkpoint_path(prefix, 2, path, sizeof path));
  copy_fixture("ckpt_v2-0002.h5", path);
  snprintf(sym, sizeof sym, "%s-symbol.json", prefix);
  copy_fixture("ckpt_v2-symbol.json", sym);
  mtio_h5r *r;
  MT_ASSERT_OK(mtio_h5r_open(path, &r));
  assert_int_equal(mtio_h5r_digest(r), MTIO_DIGEST_XXH64);
  int64_t v;
  MT_ASSERT_OK(mtio_h5r_attr_i64(r, "/", "format_version", &v));
  assert_int_equal(v, 2);
  MT_ASSERT_OK(mtio_h5r_verify(r));
  mtio_h5r_close(r);
  /* fc1_weight (5 x 6) as plain HDF5 reads it, and its stored XXH64 */
  float ref[30];
  uint64_t stored = 0;
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  assert_true(f >= 0);
  hid_t d = H5Dopen2(f, "/arg/fc1_weight", H5P_DEFAULT);
  assert_true(d >= 0 && H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, ref) >= 0);
  hid_t a = H5Aopen(d, "xxh64", H5P_DEFAULT);
  assert_true(a >= 0 && H5Aread(a, H5T_NATIVE_UINT64, &stored) >= 0);
  H5Aclose(a);
  H5Dclose(d);
  H5Fclose(f);
  assert_true(stored == mtio_xxh64(ref, sizeof ref, 0));
  /* the whole checkpoint, with the optimizer state, as --resume loads it */
  mt_symbol *s = NULL;
  mt_arena *args = NULL, *aux = NULL;
  mt_optimizer *opt;
  MT_ASSERT_OK(mt_optimizer_create("sgd", "learning_rate=0.1 momentum=0.9", &opt));
  mt_checkpoint_extra x;
  mt_checkpoint_extra_init(&x);
  x.optimizer = opt;
  MT_ASSERT_OK(mt_load_checkpoint(prefix, 2, &s, &args, &aux, &x));
  assert_non_null(s);
  assert_int_equal(mt_arena_count(args), 4);
  mt_ndarray *w1 = mt_arena_get(args, "fc1_weight");
  assert_non_null(w1);
  assert_memory_equal(mt_ndarray_data(w1), ref, sizeof ref);
  assert_true(mt_optimizer_num_update(opt) > 0);
  int restored = 0;
  for (int k = 0; k < mt_optimizer_index_bound(opt); k++) {
    mt_ndarray *mom = NULL;
    const char *nm = mt_optimizer_index_name(opt, k);
    if (nm && mt_optimizer_state(opt, k, 0, NULL, &mom) == MT_OK && mom) restored++;
  }
  assert_int_equal(restored, 4); /* the momentum of each parameter */
  free(x.loaded_config);
  mt_symbol_free(s);
  mt_optimizer_free(opt);
  int e = -1;
  MT_ASSERT_OK(mt_checkpoint_latest(prefix, &e));
  assert_int_equal(e, 2);
  /* a newer format 3 file of the same parameters is preferred; damaged,
   * the format 2 one is used */
  MT_ASSERT_OK(mt_save_checkpoint(prefix, 3, NULL, args, aux, NULL));
  MT_ASSERT_OK(mt_checkpoint_latest(prefix, &e));
  assert_int_equal(e, 3);
  MT_ASSERT_OK(mt_checkpoint_path(prefix, 3, p3, sizeof p3));
  long off = find_in_file(p3, ref, sizeof ref);
  assert_true(off > 0);
  flip_bytes(p3, off + 10, 2);
  expect_load_error(prefix, 3, MT_E_FORMAT, "'/arg/fc1_weight' does not match its digest (xxh3 ");
  MT_ASSERT_OK(mt_checkpoint_latest(prefix, &e));
  assert_int_equal(e, 2);
  /* the format 2 file damaged: refused by its XXH64; epoch 1 (format 3) is
   * the newest complete one */
  MT_ASSERT_OK(mt_save_checkpoint(prefix, 1, NULL, args, aux, NULL));
  MT_ASSERT_OK(mt_checkpoint_path(prefix, 1, p1, sizeof p1));
  off = find_in_file(path, ref, sizeof ref);
  assert_true(off > 0);
  flip_bytes(path, off + 4, 1);
  expect_load_error(prefix, 2, MT_E_FORMAT, "'/arg/fc1_weight' does not match its digest (xxh64 ");
  MT_ASSERT_OK(mt_checkpoint_latest(prefix, &e));
  assert_int_equal(e, 1);
  mt_arena_free(args);
  mt_arena_free(aux);
}

/* F6: bytes flipped inside a parameter or a momentum array of the newest
 * checkpoint are caught by the dataset's digest (before: loaded silently),
 * and mt_checkpoint_latest falls back to the one before. */
static void test_digest_dataset(void **state) {
  char prefix[128], path[160];
  prefix_of(prefix, sizeof prefix, "dig");
  for (int e = 1; e <= 3; e++) save_full(prefix, e, e, 0, 0);
  int latest = -1;
  MT_ASSERT_OK(mt_checkpoint_latest(prefix, &latest));
  assert_int_equal(latest, 3);
  /* fc2_weight's elements (seed 5 + 2, after two updates): found by the
   * first 16 floats of the arena saved */
  mt_arena *args, *aux;
  make_params(&args, &aux, 5);
  mt_optimizer *opt;
  MT_ASSERT_OK(mt_optimizer_create("sgd", "learning_rate=0.1 momentum=0.9", &opt));
  run_updates(opt, args, 0, 2);
  MT_ASSERT_OK(mt_checkpoint_path(prefix, 3, path, sizeof path));
  long off = find_in_file(path, mt_ndarray_data(mt_arena_at(args, 2)), 64);
  assert_true(off > 0);
  flip_bytes(path, off + 100, 63);
  expect_full_load_error(prefix, 3, MT_E_FORMAT, "'/arg/fc2_weight' does not match its digest",
                         "(xxh3 ");
  expect_load_error(prefix, 3, MT_E_FORMAT, "/arg/fc2_weight");
  MT_ASSERT_OK(mt_checkpoint_latest(prefix, &latest));
  assert_int_equal(latest, 2);
  /* the momentum of fc1_bias in epoch 2's file */
  mt_ndarray *mom;
  MT_ASSERT_OK(mt_optimizer_state(opt, 1, 0, NULL, &mom));
  MT_ASSERT_OK(mt_checkpoint_path(prefix, 2, path, sizeof path));
  off = find_in_file(path, mt_ndarray_data(mom), 64 * 4);
  assert_true(off > 0);
  flip_bytes(path, off + 8, 4);
  expect_full_load_error(prefix, 2, MT_E_FORMAT, "/optimizer/fc1_bias/momentum", "digest");
  MT_ASSERT_OK(mt_checkpoint_latest(prefix, &latest));
  assert_int_equal(latest, 1);
  /* none left: latest says all are damaged (not "none there") */
  MT_ASSERT_OK(mt_checkpoint_path(prefix, 1, path, sizeof path));
  flip_bytes(path, find_in_file(path, mt_ndarray_data(mt_arena_at(args, 2)), 64) + 4, 1);
  assert_int_equal(mt_checkpoint_latest(prefix, &latest), MT_E_FORMAT);
  if (!strstr(mt_last_error(), "all 3 are damaged"))
    fail_msg("no 'all 3 are damaged': %s", mt_last_error());
  mt_optimizer_free(opt);
  mt_arena_free(args);
  mt_arena_free(aux);
}

/* An attribute's digest: a byte of the config text (HDF5's global heap,
 * which has no checksum of its own) changed is refused naming 'config'. */
static void test_digest_attribute(void **state) {
  char prefix[128], path[160];
  prefix_of(prefix, sizeof prefix, "diga");
  save_full(prefix, 1, 1, 0, 0);
  save_full(prefix, 2, 2, 0, 0);
  MT_ASSERT_OK(mt_checkpoint_path(prefix, 2, path, sizeof path));
  long off = find_in_file(path, "num_epoch = 2", 13);
  assert_true(off > 0);
  flip_bytes(path, off + 12, 1); /* '2' -> something else */
  /* the metadata trailer refuses it before HDF5 reads the file */
  expect_full_load_error(prefix, 2, MT_E_FORMAT,
                         "metadata does not match the digest in its trailer", NULL);
  /* without the trailer (a file HDF5 rewrote), the attribute's own digest */
  strip_trailer(path);
  expect_full_load_error(prefix, 2, MT_E_FORMAT, "attribute 'config' of '/'", "digest");
  int latest = -1;
  MT_ASSERT_OK(mt_checkpoint_latest(prefix, &latest));
  assert_int_equal(latest, 1);
  /* an integer attribute's bytes (in an object header, which HDF5
   * checksums itself): refused too, naming the file */
  MT_ASSERT_OK(mt_checkpoint_path(prefix, 1, path, sizeof path));
  off = find_in_file(path, "data_batch", 10);
  assert_true(off > 0);
  flip_bytes(path, off + 16, 1);
  expect_full_load_error(prefix, 1, MT_E_FORMAT, "damaged", NULL);
  assert_int_equal(mt_checkpoint_latest(prefix, &latest), MT_E_FORMAT);
}

/* F8 through the API: implausible positions written by mt_save_checkpoint
 * itself (digests intact) are refused on load, naming attribute and value,
 * and skipped by mt_checkpoint_latest. */
static void test_position_ranges(void **state) {
  char prefix[128];
  prefix_of(prefix, sizeof prefix, "pos");
  save_full(prefix, 1, 1, 0, 0);
  save_full(prefix, 2, 2, -3, 0);
  expect_full_load_error(prefix, 2, MT_E_FORMAT, "attribute data_batch = -3 is out of range", NULL);
  save_full(prefix, 3, 3, 0, -5); /* no optimizer: num_update as given */
  expect_full_load_error(prefix, 3, MT_E_FORMAT, "attribute num_update = -5 is out of range", NULL);
  save_full(prefix, 4, 7, 0, 0);
  expect_full_load_error(prefix, 4, MT_E_FORMAT, "attribute data_epoch = 7 is out of range",
                         "0..4");
  int latest = -1;
  MT_ASSERT_OK(mt_checkpoint_latest(prefix, &latest));
  assert_int_equal(latest, 1);
  MT_ASSERT_OK(mt_checkpoint_latest_before(prefix, 1, &latest) == MT_E_NOTFOUND ? MT_OK : -1);
}

/* mt_checkpoint_latest_before: the newest complete one below an epoch. */
static void test_latest_before(void **state) {
  char prefix[128];
  prefix_of(prefix, sizeof prefix, "bef");
  for (int e = 1; e <= 3; e++) save_full(prefix, e, e, 0, 0);
  int e = -1;
  MT_ASSERT_OK(mt_checkpoint_latest_before(prefix, 4, &e));
  assert_int_equal(e, 3);
  MT_ASSERT_OK(mt_checkpoint_latest_before(prefix, 3, &e));
  assert_int_equal(e, 2);
  MT_ASSERT_OK(mt_checkpoint_latest_before(prefix, 2, &e));
  assert_int_equal(e, 1);
  assert_int_equal(mt_checkpoint_latest_before(prefix, 1, &e), MT_E_NOTFOUND);
}

static const char *find_python(void) {
  static const char *pythons[] = {"python3", "/usr/bin/python3"};
  char cmd[128];
  for (int i = 0; i < 2; i++) {
    snprintf(cmd, sizeof cmd, "%s -c 'import h5py, numpy' > /dev/null 2>&1", pythons[i]);
    if (system(cmd) == 0) return pythons[i];
  }
  return NULL;
}

/* Saves prefix's epoch e (save_full) and edits it with tests/ckpt_edit.py
 * (h5py). */
static void save_edited(const char *python, const char *prefix, int e, const char *args) {
  char path[160], cmd[1024];
  save_full(prefix, e, e, 0, 0);
  MT_ASSERT_OK(mt_checkpoint_path(prefix, e, path, sizeof path));
  /* beside this file (CMake compiles it by its absolute path) */
  const char *me = __FILE__, *slash = strrchr(me, '/');
  snprintf(cmd, sizeof cmd, "%s '%.*s/ckpt_edit.py' '%s' %s", python, slash ? (int)(slash - me) : 1,
           slash ? me : ".", path, args);
  if (system(cmd) != 0) fail_msg("%s failed", cmd);
}

/* F8 as the probe did it, with h5py on files written the ordinary way:
 * data_batch -3, num_update -5, rng_step -1, world_size_at_save 0. In a
 * format 1 file (digests stripped, as files before them) each is refused by
 * its range check, naming attribute and value (before: accepted); in a
 * format 3 file by the attribute's digest. A format 1 file that is fine
 * loads, with a note; a format 3 file without digests does not. */
static void test_h5py_edits(void **state) {
  const char *python = find_python();
  if (!python) {
    print_message("SKIP: python3 -c \"import h5py\" failed (apt-get install python3-h5py)\n");
    return;
  }
  char prefix[128], log[160], cmd[512];
  prefix_of(prefix, sizeof prefix, "py");
  struct {
    const char *set, *needle;
  } cases[] = {{"data_batch=-3", "attribute data_batch = -3 is out of range"},
               {"num_update=-5", "attribute num_update = -5 is out of range"},
               {"rng_step=-1", "attribute 'rng_step' of '/' is -1, out of range"},
               {"world_size_at_save=0", "attribute world_size_at_save = 0 is out of range"}};
  for (int i = 0; i < 4; i++) {
    char args[128];
    snprintf(args, sizeof args, "v1 %s", cases[i].set);
    save_edited(python, prefix, 2 + i, args);
    expect_full_load_error(prefix, 2 + i, MT_E_FORMAT, cases[i].needle, NULL);
    snprintf(args, sizeof args, "keep %s", cases[i].set);
    save_edited(python, prefix, 6 + i, args);
    char name[32];
    snprintf(name, sizeof name, "'%.*s'", (int)(strchr(cases[i].set, '=') - cases[i].set),
             cases[i].set);
    expect_full_load_error(prefix, 6 + i, MT_E_FORMAT, name, "does not match its digest");
  }
  /* a good format 1 file loads, saying it carries no checksums */
  save_edited(python, prefix, 10, "v1");
  snprintf(log, sizeof log, "%s/v1.log", dir);
  fflush(stderr);
  int saved = dup(2), fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  dup2(fd, 2);
  close(fd);
  mt_log_set_level(MT_LOG_INFO);
  mt_arena *args = NULL;
  int rc = mt_load_checkpoint(prefix, 10, NULL, &args, NULL, NULL);
  mt_log_set_level(MT_LOG_ERROR);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  MT_ASSERT_OK(rc);
  mt_arena_free(args);
  snprintf(cmd, sizeof cmd, "grep -q 'format_version 1 checkpoint: it carries no checksums' '%s'",
           log);
  if (system(cmd) != 0) fail_msg("no note about the missing checksums in %s", log);
  /* format 3 with its digests removed */
  save_edited(python, prefix, 11, "strip");
  expect_full_load_error(prefix, 11, MT_E_FORMAT, "format_version 3 but no digests", "attrs_xxh3");
  /* /arg without one of the parameters: the file itself is fine (the
   * restore fails: test_resume.sh's fallback) */
  save_edited(python, prefix, 12, "del=arg/fc1_bias");
  int e = -1;
  MT_ASSERT_OK(mt_checkpoint_latest(prefix, &e));
  assert_int_equal(e, 12);
}

static void test_escape(void **state) {
  char e[64], u[64];
  const char *names[] = {"fc1_weight", "a/b", "100%", ".", "..", "%2F"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    MT_ASSERT_OK(mtio_h5_escape(names[i], e, sizeof e));
    assert_null(strchr(e, '/'));
    assert_string_not_equal(e, ".");
    MT_ASSERT_OK(mtio_h5_unescape(e, u, sizeof u));
    assert_string_equal(u, names[i]);
  }
  assert_int_equal(mtio_h5_escape("", e, sizeof e), MT_E_INVAL);
  assert_int_equal(mtio_h5_unescape("%zz", u, sizeof u), MT_E_FORMAT);
}

/* A dataset whose shape no array can have (docs/design.md §2): refused when
 * its shape is read, naming the file and the dataset, never cast blindly. */
static void test_huge_dataset_shape(void **state) {
  char path[128];
  snprintf(path, sizeof path, "%s/huge.h5", dir);
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  assert_true(f >= 0);
  hid_t g = H5Gcreate2(f, "arg", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  hsize_t dims[2] = {(hsize_t)1 << 40, (hsize_t)1 << 40}, chunk[2] = {1, 1};
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, 2, chunk);
  hid_t sp = H5Screate_simple(2, dims, NULL);
  hid_t d = H5Dcreate2(g, "w", H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  assert_true(d >= 0);
  H5Dclose(d);
  H5Sclose(sp);
  H5Pclose(dcpl);
  H5Gclose(g);
  H5Fclose(f);
  mtio_h5r *r;
  MT_ASSERT_OK(mtio_h5r_open(path, &r));
  mt_shape shape;
  assert_int_equal(mtio_h5r_shape(r, "/arg/w", &shape), MT_E_FORMAT);
  print_message("%s\n", mt_last_error());
  assert_non_null(strstr(mt_last_error(), "huge.h5"));
  assert_non_null(strstr(mt_last_error(), "'/arg/w'"));
  assert_non_null(strstr(mt_last_error(), "past the limit"));
  mtio_h5r_close(r);
}

int main(void) {
  mt_blas_init();
  mt_log_set_level(MT_LOG_ERROR); /* the expected warnings (skipped checkpoints) stay quiet */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_save_memory),
      cmocka_unit_test(test_escape),
      cmocka_unit_test(test_round_trip_sgd_momentum),
      cmocka_unit_test(test_round_trip_adam),
      cmocka_unit_test(test_round_trip_params_only),
      cmocka_unit_test(test_h5dump_and_h5py),
      cmocka_unit_test(test_resume_bit_exact),
      cmocka_unit_test(test_resume_bit_exact_gpu),
      cmocka_unit_test(test_do_checkpoint),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_latest),
      cmocka_unit_test(test_module_restore_errors),
      cmocka_unit_test(test_xxh64),
      cmocka_unit_test(test_xxh3),
      cmocka_unit_test(test_digest_v3_written),
      cmocka_unit_test(test_v2_fixture),
      cmocka_unit_test(test_digest_dataset),
      cmocka_unit_test(test_digest_attribute),
      cmocka_unit_test(test_position_ranges),
      cmocka_unit_test(test_latest_before),
      cmocka_unit_test(test_h5py_edits),
      cmocka_unit_test(test_huge_dataset_shape),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
