/* crash_trainer.c — the process that tests/test_crash_checkpoint.sh kills
 * and starves of disk space. Modes:
 *
 *   crash_trainer train PREFIX
 *       Trains an MLP 128-4096-3072-10 (13.1M parameters, 52 MB; with the
 *       momentum a checkpoint is 105 MB) on 64 synthetic samples per epoch,
 *       sgd momentum 0.9, checkpointing every epoch with optimizer state;
 *       keeps the 3 newest checkpoints. If a checkpoint exists it resumes
 *       from the newest complete one. Runs until killed.
 *   crash_trainer check PREFIX
 *       Every PREFIX-EEEE.h5 must load completely (parameters and optimizer
 *       state): a half-written final file fails here. The newest complete
 *       checkpoint must be the newest file; then resume from it and train
 *       one epoch (finite parameters).
 *   crash_trainer save PREFIX EPOCH FLOATS
 *       Saves a checkpoint of FLOATS float32 values f(EPOCH, i) (+ symbol).
 *       On failure prints the error, checks that no temporary file and no
 *       open descriptor of the checkpoint's directory is left, exits 1.
 *   crash_trainer verify PREFIX EPOCH FLOATS
 *       Loads that checkpoint and checks every value.
 * Exit 0 = ok, 1 = a failure (message on stdout / stderr), 2 = a failed
 * save left a temporary file or an open descriptor behind, 3 = usage. */
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "modtrain.h"
#include "tools/check.h"

#define DIE(...)                                                                                   \
  do {                                                                                             \
    fprintf(stderr, "crash_trainer: " __VA_ARGS__);                                                \
    fprintf(stderr, "\n");                                                                         \
    exit(1);                                                                                       \
  } while (0)

enum { SAMPLES = 64, BATCH = 32, FEATURES = 128, CLASSES = 10 };
static const char *const OPT = "sgd", *const OPT_PARAMS = "learning_rate=0.01 momentum=0.9";

static mt_symbol *make_net(void) {
  mt_symbol *data, *fc1, *a1, *fc2, *a2, *fc3, *net;
  CHECK(mt_symbol_variable("data", &data));
  CHECK(mt_symbol_create("FullyConnected", "fc1", "num_hidden=4096", 1, &data, &fc1));
  CHECK(mt_symbol_create("Activation", "relu1", "act_type=relu", 1, &fc1, &a1));
  CHECK(mt_symbol_create("FullyConnected", "fc2", "num_hidden=3072", 1, &a1, &fc2));
  CHECK(mt_symbol_create("Activation", "relu2", "act_type=relu", 1, &fc2, &a2));
  CHECK(mt_symbol_create("FullyConnected", "fc3", "num_hidden=10", 1, &a2, &fc3));
  CHECK(mt_symbol_create("SoftmaxOutput", "softmax", NULL, 1, &fc3, &net));
  mt_symbol *parts[] = {data, fc1, a1, fc2, a2, fc3};
  for (int i = 0; i < 6; i++) mt_symbol_free(parts[i]);
  return net;
}

/* A module bound, initialised and with its optimizer; resumed from the
 * newest complete checkpoint if there is one (returns its epoch, else 0). */
static mt_module *make_module(const char *prefix, mt_data_iter *it, int *begin) {
  mt_symbol *net = make_net();
  mt_module *mod;
  CHECK(mt_module_create(net, 0, NULL, 0, NULL, 1, (mt_context[]){mt_cpu(0)}, &mod));
  mt_symbol_free(net);
  int nd, nl;
  const mt_data_desc *dd, *ld;
  CHECK(mt_data_iter_provide_data(it, &nd, &dd));
  CHECK(mt_data_iter_provide_label(it, &nl, &ld));
  CHECK(mt_module_bind(mod, nd, dd, nl, ld, 1, 0, 0, MT_REQ_WRITE));
  mt_initializer *init;
  CHECK(mt_initializer_create("xavier magnitude=2", 0, &init));
  CHECK(mt_module_init_params(mod, init, NULL, NULL, 0, 0, 0));
  mt_initializer_free(init);
  CHECK(mt_module_init_optimizer(mod, "local", OPT, OPT_PARAMS, 0));
  *begin = 0;
  int latest;
  if (mt_checkpoint_latest(prefix, &latest) == MT_OK) {
    CHECK(mt_module_restore_checkpoint(mod, prefix, latest));
    for (int e = 0; e < latest; e++) CHECK(mt_data_iter_reset(it)); /* the iterator's epoch */
    *begin = latest;
  }
  mt_error_clear();
  return mod;
}

typedef struct {
  const char *prefix;
} prune_state;

/* Keeps the disk use bounded: removes checkpoint e + 1 - 3 after e + 1. */
static int prune_cb(int epoch, mt_symbol *sym, const mt_arena *args, const mt_arena *aux,
                    void *user) {
  prune_state *p = user;
  char path[4096];
  if (epoch + 1 - 3 >= 1 &&
      mt_checkpoint_path(p->prefix, epoch + 1 - 3, path, sizeof path) == MT_OK)
    unlink(path);
  return 0;
}

static int mode_train(const char *prefix) {
  mt_blas_init();
  mt_data_iter *it;
  CHECK(mt_synthetic_iter_create(CLASSES, FEATURES, SAMPLES, BATCH, 0, 0, 1, &it));
  int begin;
  mt_module *mod = make_module(prefix, it, &begin);
  printf("resumed from %d\n", begin);
  fflush(stdout);
  mt_fit_options o;
  mt_fit_options_init(&o);
  o.optimizer = OPT;
  o.optimizer_params = OPT_PARAMS;
  o.begin_epoch = begin;
  o.num_epoch = INT_MAX;
  prune_state ps = {prefix};
  CHECK(mt_module_checkpoint(mod, prefix, 1, 1, NULL, &o.epoch_end_callback[0]));
  o.epoch_end_callback[1].fn = prune_cb;
  o.epoch_end_callback[1].user = &ps;
  o.n_epoch_end_callback = 2;
  CHECK(mt_module_fit(mod, it, &o)); /* until killed */
  return 0;
}

static int cmp_int(const void *a, const void *b) {
  return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b);
}

static int mode_check(const char *prefix) {
  mt_blas_init();
  char dir[4096];
  const char *slash = strrchr(prefix, '/');
  const char *base = slash ? slash + 1 : prefix;
  snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - prefix) : 1, slash ? prefix : ".");
  DIR *d = opendir(dir);
  if (!d) DIE("cannot open %s", dir);
  int epochs[4096], n = 0, ntmp = 0;
  struct dirent *e;
  size_t bl = strlen(base);
  while ((e = readdir(d)) && n < 4096) {
    int ep;
    char tail[64];
    if (strncmp(e->d_name, base, bl) || e->d_name[bl] != '-') continue;
    if (strstr(e->d_name, ".tmp.")) {
      ntmp++;
      continue;
    }
    if (sscanf(e->d_name + bl + 1, "%d%63s", &ep, tail) == 2 && !strcmp(tail, ".h5"))
      epochs[n++] = ep;
  }
  closedir(d);
  if (!n) DIE("no checkpoint '%s-EEEE.h5' at all", prefix);
  qsort(epochs, (size_t)n, sizeof *epochs, cmp_int);
  for (int i = 0; i < n; i++) {
    mt_optimizer *opt;
    CHECK(mt_optimizer_create(OPT, OPT_PARAMS, &opt));
    mt_checkpoint_extra x;
    mt_checkpoint_extra_init(&x);
    x.optimizer = opt;
    mt_arena *args, *aux;
    mt_symbol *sym;
    if (mt_load_checkpoint(prefix, epochs[i], &sym, &args, &aux, &x) < 0)
      DIE("checkpoint %d is not complete: %s", epochs[i], mt_last_error());
    if (mt_arena_count(args) != 6 || x.num_update != (int64_t)epochs[i] * (SAMPLES / BATCH))
      DIE("checkpoint %d: %d arrays, num_update %lld", epochs[i], mt_arena_count(args),
          (long long)x.num_update);
    free(x.loaded_config);
    mt_arena_free(args);
    mt_arena_free(aux);
    mt_symbol_free(sym);
    mt_optimizer_free(opt);
  }
  int latest;
  CHECK(mt_checkpoint_latest(prefix, &latest));
  if (latest != epochs[n - 1]) DIE("latest is %d, the newest file is %d", latest, epochs[n - 1]);
  /* resume works: restore the newest and train one more epoch */
  mt_data_iter *it;
  CHECK(mt_synthetic_iter_create(CLASSES, FEATURES, SAMPLES, BATCH, 0, 0, 1, &it));
  int begin;
  mt_module *mod = make_module(prefix, it, &begin);
  if (begin != latest) DIE("resumed from %d, expected %d", begin, latest);
  mt_fit_options o;
  mt_fit_options_init(&o);
  o.optimizer = OPT;
  o.optimizer_params = OPT_PARAMS;
  o.begin_epoch = begin;
  o.num_epoch = begin + 1;
  CHECK(mt_module_fit(mod, it, &o));
  const mt_arena *args;
  CHECK(mt_module_get_params(mod, &args, NULL));
  const float *p = mt_arena_data(args);
  for (int64_t i = 0; i < mt_arena_size(args); i++)
    if (!isfinite(p[i])) DIE("parameter %lld is not finite after resuming", (long long)i);
  printf(
      "check: %d complete checkpoints (newest %d), %d temporary files, resumed and trained "
      "epoch %d\n",
      n, latest, ntmp, latest);
  mt_module_free(mod);
  mt_data_iter_free(it);
  return 0;
}

/* ---------------------------------------------------------- save / verify */

static float value(int epoch, int64_t i) {
  return (float)((((uint32_t)i * 2654435761u) ^ ((uint32_t)epoch * 40503u)) >> 8);
}

static void make_set(int64_t floats, int epoch, mt_arena **args) {
  int64_t h = floats / 2;
  const char *names[] = {"w0", "w1"};
  mt_shape shapes[] = {MT_SHAPE((int)h), MT_SHAPE((int)(floats - h))};
  CHECK(mt_arena_create(mt_cpu(0), 2, names, shapes, args));
  for (int k = 0; k < 2; k++) {
    float *p = mt_ndarray_data(mt_arena_at(*args, k));
    for (int64_t i = 0; i < mt_shape_size(&shapes[k]); i++) p[i] = value(epoch, k * h + i);
  }
}

/* Open descriptors of files in `dir` (e.g. a temporary file unlinked but
 * still open, which would keep its space on a full disk). */
static int open_fds_in(const char *dir) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return 0;
  int n = 0;
  struct dirent *e;
  char link[4096], target[4096];
  while ((e = readdir(d))) {
    snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
    ssize_t k = readlink(link, target, sizeof target - 1);
    if (k <= 0) continue;
    target[k] = '\0';
    if (!strncmp(target, dir, strlen(dir)) && target[strlen(dir)] == '/') {
      fprintf(stderr, "crash_trainer: still open: %s\n", target);
      n++;
    }
  }
  closedir(d);
  return n;
}

static int mode_save(const char *prefix, int epoch, int64_t floats) {
  mt_arena *args;
  make_set(floats, epoch, &args);
  mt_symbol *sym = make_net();
  mt_checkpoint_extra x;
  mt_checkpoint_extra_init(&x);
  x.config = "[checkpoint]\nperiod = 1\n";
  int rc = mt_save_checkpoint(prefix, epoch, sym, args, NULL, &x);
  mt_symbol_free(sym);
  mt_arena_free(args);
  if (rc == MT_OK) {
    printf("saved epoch %d (%lld floats)\n", epoch, (long long)floats);
    return 0;
  }
  printf("save failed (%s): %s\n", mt_strerror(rc), mt_last_error());
  char dir[4096], path[4096];
  const char *slash = strrchr(prefix, '/');
  snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - prefix) : 1, slash ? prefix : ".");
  snprintf(path, sizeof path, "%s-%04d.h5.tmp.%ld", prefix, epoch, (long)getpid());
  int bad = 0;
  if (access(path, F_OK) == 0) {
    fprintf(stderr, "crash_trainer: temporary file %s left behind\n", path);
    bad = 1;
  }
  if (open_fds_in(dir)) bad = 1;
  return bad ? 2 : 1;
}

static int mode_verify(const char *prefix, int epoch, int64_t floats) {
  mt_arena *args;
  mt_symbol *sym;
  CHECK(mt_load_checkpoint(prefix, epoch, &sym, &args, NULL, NULL));
  int64_t h = floats / 2;
  if (mt_arena_count(args) != 2) DIE("epoch %d: %d arrays", epoch, mt_arena_count(args));
  for (int k = 0; k < 2; k++) {
    mt_ndarray *a = mt_arena_at(args, k);
    if (mt_ndarray_size(a) != (k ? floats - h : h))
      DIE("epoch %d: array %d has the wrong size", epoch, k);
    const float *p = mt_ndarray_data(a);
    for (int64_t i = 0; i < mt_ndarray_size(a); i++)
      if (p[i] != value(epoch, k * h + i))
        DIE("epoch %d: value %lld of w%d differs", epoch, (long long)i, k);
  }
  printf("verified epoch %d (%lld floats)\n", epoch, (long long)floats);
  mt_arena_free(args);
  mt_symbol_free(sym);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "train")) return mode_train(argv[2]);
  if (argc == 3 && !strcmp(argv[1], "check")) return mode_check(argv[2]);
  if (argc == 5 && !strcmp(argv[1], "save"))
    return mode_save(argv[2], atoi(argv[3]), atoll(argv[4]));
  if (argc == 5 && !strcmp(argv[1], "verify"))
    return mode_verify(argv[2], atoi(argv[3]), atoll(argv[4]));
  fprintf(stderr, "usage: crash_trainer train|check PREFIX | save|verify PREFIX EPOCH FLOATS\n");
  return 3;
}
