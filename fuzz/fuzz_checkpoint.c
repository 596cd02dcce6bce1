/* fuzz_checkpoint.c — libFuzzer harness for checkpoints (src/checkpoint.c
 * mt_checkpoint_latest / mt_load_checkpoint over io/h5_container.c's
 * reader): the input is written as P-EEEE.h5 in the scratch directory
 * (EEEE: the file's own epoch attribute when it reads as one in [0, 9999],
 * else 1, so seeds of any epoch get past the epoch check), then
 *   - mt_checkpoint_latest(P) scans the directory and validates it;
 *   - mt_load_checkpoint(P, E) loads symbol, arg and aux parameters and the
 *     extra scalars and config text;
 *   - when the file names its optimizer (/optimizer's "optimizer"
 *     attribute: sgd, nag, adam, rmsprop, adagrad) and says how many states
 *     it keeps, a fresh optimizer of that kind is created (momentum 0.9 or
 *     0, centered rmsprop for 3 states) and the load is repeated restoring
 *     the states into it, as --resume does.
 * Errors are fine; crashes, leaks and hangs are not. A symbol that loads
 * must write itself as JSON. */
#include "fuzz_common.h"

#include "io/h5_container.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fz_init();
  return 0;
}

/* The saved epoch and optimizer (name and number of states) as far as the
 * file says them; *opt is malloc'd or NULL. */
static void peek(const char *path, int *epoch, char **opt, int64_t *nstates) {
  *epoch = 1;
  *opt = NULL;
  *nstates = -1;
  mtio_h5r *r = NULL;
  if (mtio_h5r_open(path, &r) != MT_OK) return;
  int64_t v;
  if (mtio_h5r_attr_i64(r, "/", "epoch", &v) == MT_OK && v >= 0 && v <= 9999) *epoch = (int)v;
  if (mtio_h5r_exists(r, "/optimizer") == 1) {
    if (mtio_h5r_attr_str(r, "/optimizer", "optimizer", opt) != MT_OK) *opt = NULL;
    if (mtio_h5r_attr_i64(r, "/optimizer", "num_states", &v) == MT_OK) *nstates = v;
  }
  mtio_h5r_close(r);
}

static mt_optimizer *make_optimizer(const char *name, int64_t nstates) {
  const char *params = NULL;
  if (!strcmp(name, "sgd") || !strcmp(name, "nag"))
    params = nstates == 1 ? "learning_rate=0.1 momentum=0.9" : "learning_rate=0.1";
  else if (!strcmp(name, "rmsprop")) params = nstates == 3 ? "centered=1" : "";
  else if (!strcmp(name, "adam") || !strcmp(name, "adagrad")) params = "";
  else return NULL;
  mt_optimizer *o = NULL;
  if (mt_optimizer_create(name, params, &o) != MT_OK) {
    fprintf(stderr, "fuzz_checkpoint: cannot create %s %s: %s\n", name, params, mt_last_error());
    abort();
  }
  return o;
}

static void load(const char *prefix, int epoch, mt_optimizer *opt) {
  mt_symbol *sym = NULL;
  mt_arena *arg = NULL, *aux = NULL;
  mt_checkpoint_extra extra;
  mt_checkpoint_extra_init(&extra);
  extra.optimizer = opt;
  int rc = mt_load_checkpoint(prefix, epoch, &sym, &arg, &aux, &extra);
  if (rc < 0) {
    FZ_CHECK(!sym && !arg && !aux && !extra.loaded_config, "failed load left results");
    FZ_REFUSED(rc, opt ? "mt_load_checkpoint (optimizer)" : "mt_load_checkpoint");
    return;
  }
  char *json = NULL;
  FZ_CHECK(mt_symbol_tojson(sym, &json) == MT_OK, "tojson failed: %s", mt_last_error());
  free(json);
  mt_symbol_free(sym);
  mt_arena_free(arg);
  mt_arena_free(aux);
  free(extra.loaded_config);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char prefix[1100], path[1200];
  fz_path(prefix, sizeof prefix, "ck");
  snprintf(path, sizeof path, "%s-0001.h5", prefix);
  fz_write(path, data, size);
  int epoch;
  char *opt_name;
  int64_t nstates;
  peek(path, &epoch, &opt_name, &nstates);
  if (epoch != 1) {
    char to[1200];
    if (mt_checkpoint_path(prefix, epoch, to, sizeof to) != MT_OK || rename(path, to) != 0) abort();
    snprintf(path, sizeof path, "%s", to);
  }
  int latest = -1;
  int rc = mt_checkpoint_latest(prefix, &latest);
  if (rc < 0) FZ_REFUSED(rc, "mt_checkpoint_latest");
  FZ_CHECK(rc < 0 || latest == epoch, "latest found epoch %d; the only file is %d", latest, epoch);
  load(prefix, epoch, NULL);
  if (opt_name) {
    mt_optimizer *opt = make_optimizer(opt_name, nstates);
    if (opt) load(prefix, epoch, opt);
    mt_optimizer_free(opt);
    free(opt_name);
  }
  unlink(path);
  return 0;
}
