/* cmd_mxnet.c — MXNet models in and out of the `modtrain` command (issue 19,
 * docs/design.md §7): a parameters file read whatever its kind (an MXNet
 * `.params` or a modtrain checkpoint `.h5`), checked against a network
 * (every name and shape, errors naming the parameter and the file), the
 * module initialised from it ([model] params, allow_missing) with every
 * parameter listed at debug level, and the epoch callback of
 * [checkpoint] also_params (P-EEEE.params beside each P-EEEE.h5). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "cmd.h"

/* 1 if s ends with suffix. */
static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && !strcmp(s + n - m, suffix);
}

int cmd_params_path(const char *prefix, int epoch, char *buf, size_t len) {
  if (!prefix || !*prefix) return mt_error_set(MT_E_INVAL, "params file: empty prefix");
  int n = snprintf(buf, len, "%s-%04d.params", prefix, epoch);
  if (n < 0 || (size_t)n >= len)
    return mt_error_set(MT_E_INVAL, "params file: path for prefix '%s' is too long", prefix);
  return MT_OK;
}

/* "P-EEEE.h5" into its prefix P and epoch E; -1 if the name is not one. */
static int split_checkpoint_name(const char *path, char *prefix, size_t len, int *epoch) {
  size_t n = strlen(path);
  if (n < 9 || !ends_with(path, ".h5")) return -1;
  const char *end = path + n - 3, *p = end;
  while (p > path && p[-1] >= '0' && p[-1] <= '9') p--;
  if (end - p < 4 || p == path || p[-1] != '-' || (size_t)(p - 1 - path) >= len) return -1;
  memcpy(prefix, path, (size_t)(p - 1 - path));
  prefix[p - 1 - path] = '\0';
  *epoch = atoi(p);
  return 0;
}

int cmd_params_read(const char *path, mt_arena **args, mt_arena **aux) {
  *args = *aux = NULL;
  if (!ends_with(path, ".h5")) return mt_params_load(path, args, aux);
  char prefix[4096];
  int epoch;
  if (split_checkpoint_name(path, prefix, sizeof prefix, &epoch) < 0)
    return mt_error_set(
        MT_E_INVAL, "'%s': a modtrain checkpoint is named PREFIX-EEEE.h5 (e.g. ckpt/mlp-0003.h5)",
        path);
  return mt_load_checkpoint(prefix, epoch, NULL, args, aux, NULL);
}

/* i's index in names, or -1. */
static int find(int n, const char *const *names, const char *name) {
  for (int i = 0; i < n; i++)
    if (!strcmp(names[i], name)) return i;
  return -1;
}

/* The module's parameters and aux states: names (the symbol's arguments
 * less its data and label inputs) and shapes, inferred from the bound data
 * and label shapes. Arrays malloc'd into *names / *shapes (names point into
 * the symbol), *nargs arguments first, then *naux aux states. */
static int network_params(mt_module *mod, int *nargs, int *naux, const char ***names,
                          mt_shape **shapes) {
  mt_symbol *sym = mt_module_symbol(mod);
  if (!sym) return mt_error_set(MT_E_INVAL, "params: the module has no symbol");
  int na, nx, no, nd, nl, rc = MT_OK;
  const char *const *an, *const *xn, *const *on;
  const mt_data_desc *dd, *ld;
  MT_TRY(mt_symbol_list_arguments(sym, &na, &an));
  MT_TRY(mt_symbol_list_auxiliary_states(sym, &nx, &xn));
  MT_TRY(mt_symbol_list_outputs(sym, &no, &on));
  MT_TRY(mt_module_data_shapes(mod, &nd, &dd));
  MT_TRY(mt_module_label_shapes(mod, &nl, &ld));
  const char **known = calloc((size_t)(nd + nl) + 1, sizeof *known);
  mt_shape *kshape = calloc((size_t)(nd + nl) + 1, sizeof *kshape);
  mt_shape *ash = calloc((size_t)na + 1, sizeof *ash), *xsh = calloc((size_t)nx + 1, sizeof *xsh);
  mt_shape *osh = calloc((size_t)no + 1, sizeof *osh);
  const char **pn = calloc((size_t)(na + nx) + 1, sizeof *pn);
  mt_shape *ps = calloc((size_t)(na + nx) + 1, sizeof *ps);
  if (!known || !kshape || !ash || !xsh || !osh || !pn || !ps) {
    rc = mt_error_set(MT_E_NOMEM, "out of memory");
    goto done;
  }
  for (int i = 0; i < nd; i++) known[i] = dd[i].name, kshape[i] = dd[i].shape;
  for (int i = 0; i < nl; i++) known[nd + i] = ld[i].name, kshape[nd + i] = ld[i].shape;
  MT_TRY_GOTO(mt_symbol_infer_shape(sym, nd + nl, known, kshape, ash, osh, xsh), rc, done);
  int n = 0;
  for (int i = 0; i < na; i++) {
    if (find(nd + nl, known, an[i]) >= 0) continue;
    pn[n] = an[i];
    ps[n++] = ash[i];
  }
  *nargs = n;
  for (int i = 0; i < nx; i++) {
    pn[n] = xn[i];
    ps[n++] = xsh[i];
  }
  *naux = nx;
  *names = pn;
  *shapes = ps;
  pn = NULL;
  ps = NULL;
done:
  free(known);
  free(kshape);
  free(ash);
  free(xsh);
  free(osh);
  free(pn);
  free(ps);
  return rc;
}

/* Every array of the file (args, then aux) checked against the network's
 * names and shapes: a shape that differs is always an error; with
 * allow_missing a name the file lacks is left to the initializer and one
 * the network lacks is ignored, without it both are errors. `where`
 * ("FILE:LINE: [model] params" or "--params") starts each message. */
static int check_against(const char *where, const char *path, const mt_arena *args,
                         const mt_arena *aux, int nargs, int naux, const char *const *names,
                         const mt_shape *shapes, int allow_missing, int *taken) {
  char a[128], b[128];
  *taken = 0;
  for (int part = 0; part < 2; part++) {
    const mt_arena *f = part ? aux : args;
    int lo = part ? nargs : 0, hi = part ? nargs + naux : nargs;
    const char *what = part ? "auxiliary state" : "parameter";
    for (int i = 0; f && i < mt_arena_count(f); i++) {
      const char *name = mt_arena_name(f, i);
      int j = find(hi - lo, names + lo, name);
      if (j < 0) {
        int other = find(part ? nargs : naux, names + (part ? 0 : nargs), name);
        if (other >= 0)
          return mt_error_set(MT_E_INVAL, "%s: '%s' holds '%s' as %s, but in the network it is %s",
                              where, path, name, part ? "an auxiliary state" : "a parameter",
                              part ? "a parameter" : "an auxiliary state");
        if (allow_missing) {
          mt_log(MT_LOG_DEBUG, "params", "%s '%s' of '%s' is not in the network: ignored", what,
                 name, path);
          continue;
        }
        return mt_error_set(MT_E_INVAL,
                            "%s: '%s' holds %s '%s', which the network does not have (set "
                            "[model] allow_missing = true to fine-tune a changed network)",
                            where, path, what, name);
      }
      mt_shape got = mt_ndarray_shape(mt_arena_at(f, i));
      if (!mt_shape_equal(&got, &shapes[lo + j]))
        return mt_error_set(MT_E_SHAPE, "%s: %s '%s' has shape %s in '%s', but the network's is %s",
                            where, what, name, mt_shape_str(&got, a, sizeof a), path,
                            mt_shape_str(&shapes[lo + j], b, sizeof b));
      (*taken)++;
    }
  }
  if (allow_missing) return MT_OK;
  for (int i = 0; i < nargs + naux; i++) {
    const mt_arena *f = i < nargs ? args : aux;
    if (f && mt_arena_get(f, names[i])) continue;
    return mt_error_set(MT_E_INVAL,
                        "%s: '%s' has no %s '%s' %s of the network (set [model] allow_missing = "
                        "true to initialize the ones it lacks)",
                        where, path, i < nargs ? "parameter" : "auxiliary state", names[i],
                        mt_shape_str(&shapes[i], a, sizeof a));
  }
  return MT_OK;
}

int cmd_params_init(mt_module *mod, const char *path, const char *where, int allow_missing,
                    const mt_initializer *init, const char *init_spec, int *taken, int *total) {
  mt_arena *args = NULL, *aux = NULL;
  const char **names = NULL;
  mt_shape *shapes = NULL;
  int nargs = 0, naux = 0, rc;
  *taken = *total = 0;
  rc = cmd_params_read(path, &args, &aux);
  if (rc < 0) {
    mt_error_prefix(rc, "%s", where);
    goto done;
  }
  MT_TRY_GOTO(network_params(mod, &nargs, &naux, &names, &shapes), rc, done);
  MT_TRY_GOTO(
      check_against(where, path, args, aux, nargs, naux, names, shapes, allow_missing, taken), rc,
      done);
  /* checked above: allow_missing and allow_extra here only let the checked
   * cases through */
  MT_TRY_GOTO(mt_module_init_params(mod, init, args, aux, 1, 0, 1), rc, done);
  *total = nargs + naux;
  char sb[128];
  for (int i = 0; i < nargs + naux; i++) {
    const mt_arena *f = i < nargs ? args : aux;
    int from_file = f && mt_arena_get(f, names[i]);
    mt_log(MT_LOG_DEBUG, "params", "%s %s: %s%s", names[i], mt_shape_str(&shapes[i], sb, sizeof sb),
           from_file ? "taken from " : "initialized by ", from_file ? path : init_spec);
  }
done:
  free(names);
  free(shapes);
  mt_arena_free(args);
  mt_arena_free(aux);
  return rc;
}

int cmd_params_set(mt_module *mod, const char *path, const char *where) {
  mt_arena *args = NULL, *aux = NULL;
  const char **names = NULL;
  mt_shape *shapes = NULL;
  int nargs = 0, naux = 0, taken, rc;
  rc = cmd_params_read(path, &args, &aux);
  if (rc < 0) {
    mt_error_prefix(rc, "%s", where);
    goto done;
  }
  MT_TRY_GOTO(network_params(mod, &nargs, &naux, &names, &shapes), rc, done);
  MT_TRY_GOTO(check_against(where, path, args, aux, nargs, naux, names, shapes, 0, &taken), rc,
              done);
  rc = mt_module_set_params(mod, args, aux, 0, 1, 0);
done:
  free(names);
  free(shapes);
  mt_arena_free(args);
  mt_arena_free(aux);
  return rc;
}

/* ----------------------------------------------- [checkpoint] also_params */

typedef struct {
  char *prefix;
  int period;
} also_params_cb;

static int also_params_fn(int epoch, mt_symbol *sym, const mt_arena *args, const mt_arena *aux,
                          void *user) {
  (void)sym;
  also_params_cb *c = user;
  if ((epoch + 1) % c->period || mt_dist_rank() != 0) return MT_OK; /* as the checkpoint */
  char path[4200];
  MT_TRY(cmd_params_path(c->prefix, epoch + 1, path, sizeof path));
  MT_TRY(mt_params_save(path, args, aux)); /* temporary file + rename, as checkpoints */
  mt_log_train("Saved MXNet parameters to \"%s\"", path);
  return MT_OK;
}

int cmd_also_params_create(const char *prefix, int period, mt_epoch_callback *out) {
  memset(out, 0, sizeof *out);
  also_params_cb *c = calloc(1, sizeof *c);
  if (!c || !(c->prefix = strdup(prefix))) {
    free(c);
    return mt_error_set(MT_E_NOMEM, "out of memory");
  }
  c->period = period;
  out->fn = also_params_fn;
  out->user = c;
  return MT_OK;
}

void cmd_also_params_free(mt_epoch_callback *cb) {
  if (!cb || cb->fn != also_params_fn) return;
  also_params_cb *c = cb->user;
  if (c) free(c->prefix);
  free(c);
  cb->fn = NULL;
  cb->user = NULL;
}
