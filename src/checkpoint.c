/* checkpoint.c — checkpoints (docs/design.md §6):
 * mt_save_checkpoint / mt_load_checkpoint (mx.model.save_checkpoint /
 * load_checkpoint), the module's save / restore with optimizer state, the
 * do_checkpoint and module_checkpoint epoch-end callbacks, the newest
 * complete checkpoint under a prefix. MXNet `.params` files: params.c.
 *
 * For prefix P and epoch E the files are P-symbol.json (MXNet JSON) and
 * P-EEEE.h5 (E printed with at least 4 digits):
 *
 *   /                attributes: format_version (3), epoch, num_update,
 *                    world_size_at_save, data_epoch, data_batch, rng_seed,
 *                    rng_step, symbol (JSON text), config (text), writer
 *   /arg/<name>      float32, the parameter's shape   (attribute count on /arg)
 *   /aux/<name>      float32, the aux state's shape   (attribute count on /aux)
 *   /optimizer       attributes: optimizer (name), num_update, num_states;
 *                    present when the optimizer state was saved
 *   /optimizer/<param>            attributes: index, count, has_state
 *   /optimizer/<param>/<state>    float32, the parameter's shape
 *   /buckets         a BucketingModule's: attributes default_key, count,
 *                    keys (text "5,3,..."); /buckets/<key> attributes key
 *                    and symbol (the bucket's JSON); the root's symbol and
 *                    P-symbol.json are the default bucket's, and each
 *                    bucket's symbol is also P-<key>-symbol.json (MXNet's
 *                    BucketingModule.save_checkpoint names)
 *
 * Names are link names after mtio_h5_escape ('/' and '%' escaped), so an
 * ordinary name reads as itself in h5dump and h5py. Nothing depends on the
 * world size that wrote the file. Both files are written to a temporary
 * name, fsynced and renamed (io/h5_container.h), so a crash or a full disk
 * leaves the previous checkpoint as it was.
 *
 * Format 2 adds the container's digests (an XXH64 per dataset and per
 * attribute, checked on every read, io/h5_container.h); format 3 has the
 * same digests as XXH3-64 (faster to check: docs/design.md §6). Format 2
 * files load, checked with XXH64; format 1 files (no digests) load, with a
 * note. The position attributes are
 * range-checked on load (read_position); a file that fails any check is
 * MT_E_FORMAT naming it, and mt_checkpoint_latest skips it. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/timeline.h"
#include "io/h5_container.h"
#include "module.h"

#define MT_CKPT_FORMAT_VERSION 3 /* 3: XXH3 digests; 2 (XXH64) and 1 (none) still load */
#define MT_CKPT_NAME_MAX 1024    /* escaped link names */
#define MT_CKPT_MAX_BUCKETS 256  /* a BucketingModule's buckets in one checkpoint */

void mt_checkpoint_extra_init(mt_checkpoint_extra *e) {
  if (!e) return;
  memset(e, 0, sizeof *e);
  e->world_size = 1;
}

int mt_checkpoint_path(const char *prefix, int epoch, char *buf, size_t len) {
  if (!prefix || !*prefix) return MT_ERR(MT_E_INVAL, "checkpoint: empty prefix");
  if (epoch < 0) return MT_ERR(MT_E_INVAL, "checkpoint '%s': negative epoch %d", prefix, epoch);
  int n = snprintf(buf, len, "%s-%04d.h5", prefix, epoch);
  if (n < 0 || (size_t)n >= len)
    return MT_ERR(MT_E_INVAL, "checkpoint: path for prefix '%s' is too long", prefix);
  return MT_OK;
}

/* Reads dataset `dset` into array a (any device). */
static int read_into(mtio_h5r *r, const char *dset, mt_ndarray *a) {
  float *d = mt_ndarray_data(a);
  int64_t n = mt_ndarray_size(a);
  if (d) return mtio_h5r_read(r, dset, d, n);
  float *tmp = malloc((size_t)(n ? n : 1) * sizeof(float));
  if (!tmp) return MT_NOMEM();
  int rc = mtio_h5r_read(r, dset, tmp, n);
  if (rc == MT_OK) rc = mt_ndarray_copy_from(a, tmp, n);
  free(tmp);
  return rc;
}

static int join(char *buf, size_t len, const char *grp, const char *name) {
  char esc[MT_CKPT_NAME_MAX];
  MT_TRY(mtio_h5_escape(name, esc, sizeof esc));
  int n = snprintf(buf, len, "%s/%s", grp, esc);
  if (n < 0 || (size_t)n >= len)
    return MT_ERR(MT_E_INVAL, "checkpoint: name '%s' is too long", name);
  return MT_OK;
}

/* ------------------------------------------------------------------ save */

/* Host copies of device arrays: the writer reads the elements at commit. */
typedef struct {
  int n, cap;
  float **bufs;
} staging;

static void staging_free(staging *st) {
  for (int i = 0; i < st->n; i++) free(st->bufs[i]);
  free(st->bufs);
  memset(st, 0, sizeof *st);
}

/* Adds dataset `dset` holding array a (any device). */
static int add_array(mtio_h5w *w, const char *dset, const mt_ndarray *a, staging *st) {
  const float *p = NULL;
  float *tmp;
  MT_TRY(mt_ndarray_host_view(a, &p, &tmp));
  if (tmp) {
    if (st->n == st->cap) {
      int cap = st->cap ? 2 * st->cap : 16;
      float **b = realloc(st->bufs, sizeof *b * (size_t)cap);
      if (!b) {
        free(tmp);
        return MT_NOMEM();
      }
      st->bufs = b;
      st->cap = cap;
    }
    st->bufs[st->n++] = tmp;
  }
  mt_shape s = mt_ndarray_shape(a);
  return mtio_h5w_array(w, dset, &s, p);
}

static int write_group(mtio_h5w *w, const char *grp, const mt_arena *params, staging *st) {
  int n = params ? mt_arena_count(params) : 0;
  MT_TRY(mtio_h5w_attr_i64(w, grp, "count", n)); /* creates the group, even when empty */
  for (int i = 0; i < n; i++) {
    char dset[2 * MT_CKPT_NAME_MAX];
    MT_TRY(join(dset, sizeof dset, grp, mt_arena_name(params, i)));
    MT_TRY(add_array(w, dset, mt_arena_at(params, i), st));
  }
  return MT_OK;
}

/* /optimizer's own attributes; its text goes before any dataset (see
 * io/h5_container.h). */
static int write_optimizer_attrs(mtio_h5w *w, mt_optimizer *opt, int64_t num_update) {
  MT_TRY(mtio_h5w_attr_str(w, "/optimizer", "optimizer", mt_optimizer_name(opt)));
  MT_TRY(mtio_h5w_attr_i64(w, "/optimizer", "num_update", num_update));
  int nstates = mt_optimizer_num_states(opt, 0); /* the same for every index */
  if (nstates < 0) return nstates;
  return mtio_h5w_attr_i64(w, "/optimizer", "num_states", nstates);
}

/* /optimizer/<param>: each index the optimizer has seen, by its bound name. */
static int write_optimizer(mtio_h5w *w, mt_optimizer *opt, staging *st) {
  for (int i = 0; i < mt_optimizer_index_bound(opt); i++) {
    char unnamed[32], grp[2 * MT_CKPT_NAME_MAX], dset[3 * MT_CKPT_NAME_MAX];
    const char *name = mt_optimizer_index_name(opt, i);
    if (!name) {
      snprintf(unnamed, sizeof unnamed, "__index_%d", i);
      name = unnamed;
    }
    int64_t count;
    MT_TRY(mt_optimizer_get_update_count(opt, i, &count));
    MT_TRY(join(grp, sizeof grp, "/optimizer", name));
    MT_TRY(mtio_h5w_attr_i64(w, grp, "index", i));
    MT_TRY(mtio_h5w_attr_i64(w, grp, "count", count));
    int ns = mt_optimizer_num_states(opt, i), has_state = 1;
    if (ns < 0) return ns;
    for (int k = 0; k < ns; k++) {
      const char *sname;
      mt_ndarray *state;
      int rc = mt_optimizer_state(opt, i, k, &sname, &state);
      if (rc == MT_E_STATE) { /* never updated: no state yet, none to save */
        mt_error_clear();
        has_state = 0;
        break;
      }
      if (rc < 0) return rc;
      MT_TRY(join(dset, sizeof dset, grp, sname));
      MT_TRY(add_array(w, dset, state, st));
    }
    MT_TRY(mtio_h5w_attr_i64(w, grp, "has_state", ns > 0 && has_state));
  }
  return MT_OK;
}

/* An upper bound of the file's metadata, laid out before the elements
 * (io/h5_container.h): per dataset or group its object header, link and index
 * records (< 1 KiB each in HDF5 1.8's format; 4 KiB counted), plus 128 KiB
 * for the superblock, root group and attributes. */
static int64_t estimate_meta_bytes(const mt_arena *args, const mt_arena *aux, int nopt,
                                   mt_optimizer *const *opts) {
  int64_t objects = 8 + (args ? mt_arena_count(args) : 0) + (aux ? mt_arena_count(aux) : 0);
  for (int k = 0; k < nopt; k++)
    for (int i = 0; i < mt_optimizer_index_bound(opts[k]); i++) {
      int ns = mt_optimizer_num_states(opts[k], i);
      objects += 1 + (ns > 0 ? ns : 0);
    }
  return (128 << 10) + 4096 * objects;
}

/* mt_save_checkpoint with the states of nopt optimizers (a composite
 * module's children: their parameter names are distinct) under /optimizer;
 * /optimizer's attributes are the first one's, num_update extra's. */
typedef struct {
  int n, default_key;
  int keys[MT_CKPT_MAX_BUCKETS];
  mt_symbol *syms[MT_CKPT_MAX_BUCKETS];
} ckpt_buckets;

static int write_buckets(mtio_h5w *w, const char *prefix, const ckpt_buckets *bk) {
  char keys[MT_CKPT_MAX_BUCKETS * 12] = "", grp[64], spath[4096];
  MT_TRY(mtio_h5w_attr_i64(w, "/buckets", "default_key", bk->default_key));
  MT_TRY(mtio_h5w_attr_i64(w, "/buckets", "count", bk->n));
  for (int i = 0; i < bk->n; i++) {
    size_t len = strlen(keys);
    snprintf(keys + len, sizeof keys - len, "%s%d", i ? "," : "", bk->keys[i]);
  }
  MT_TRY(mtio_h5w_attr_str(w, "/buckets", "keys", keys));
  for (int i = 0; i < bk->n; i++) {
    char *json = NULL;
    snprintf(grp, sizeof grp, "/buckets/%d", bk->keys[i]);
    MT_TRY(mt_symbol_tojson(bk->syms[i], &json));
    int rc = mtio_h5w_attr_i64(w, grp, "key", bk->keys[i]);
    if (rc == MT_OK) rc = mtio_h5w_attr_str(w, grp, "symbol", json);
    free(json);
    MT_TRY(rc);
    snprintf(spath, sizeof spath, "%s-%d-symbol.json", prefix, bk->keys[i]);
    MT_TRY(mt_symbol_save(bk->syms[i], spath));
  }
  return MT_OK;
}

static int save_checkpoint_body(const char *prefix, int epoch, const mt_symbol *sym,
                                const mt_arena *arg_params, const mt_arena *aux_params,
                                const mt_checkpoint_extra *extra, int nopt,
                                mt_optimizer *const *opts, const ckpt_buckets *bk) {
  char path[4096];
  MT_TRY(mt_checkpoint_path(prefix, epoch, path, sizeof path));
  mt_checkpoint_extra none;
  mt_checkpoint_extra_init(&none);
  if (!extra) extra = &none;
  char *json = NULL;
  if (sym) {
    char spath[4096];
    snprintf(spath, sizeof spath, "%s-symbol.json", prefix);
    MT_TRY(mt_symbol_save(sym, spath));
    MT_TRY(mt_symbol_tojson(sym, &json));
  }
  mtio_h5w *w = NULL;
  int rc;
  staging keep = {0}; /* device arrays' host copies, alive until commit */
  MT_TRY_GOTO(mtio_h5w_create(path, estimate_meta_bytes(arg_params, aux_params, nopt, opts), &w),
              rc, done);
  int64_t num_update = nopt == 1 ? mt_optimizer_num_update(opts[0]) : extra->num_update;
  MT_TRY_GOTO(mtio_h5w_attr_i64(w, "/", "format_version", MT_CKPT_FORMAT_VERSION), rc, fail);
  MT_TRY_GOTO(mtio_h5w_attr_i64(w, "/", "epoch", epoch), rc, fail);
  MT_TRY_GOTO(mtio_h5w_attr_i64(w, "/", "num_update", num_update), rc, fail);
  MT_TRY_GOTO(mtio_h5w_attr_i64(w, "/", "world_size_at_save",
                                extra->world_size > 0 ? extra->world_size : 1),
              rc, fail);
  MT_TRY_GOTO(mtio_h5w_attr_i64(w, "/", "data_epoch", extra->data_epoch), rc, fail);
  MT_TRY_GOTO(mtio_h5w_attr_i64(w, "/", "data_batch", extra->data_batch), rc, fail);
  MT_TRY_GOTO(mtio_h5w_attr_u64(w, "/", "rng_seed", extra->rng_seed), rc, fail);
  MT_TRY_GOTO(mtio_h5w_attr_u64(w, "/", "rng_step", extra->rng_step), rc, fail);
  MT_TRY_GOTO(mtio_h5w_attr_str(w, "/", "symbol", json ? json : ""), rc, fail);
  MT_TRY_GOTO(mtio_h5w_attr_str(w, "/", "config", extra->config ? extra->config : ""), rc, fail);
  MT_TRY_GOTO(mtio_h5w_attr_str(w, "/", "writer", "modtrain"), rc, fail);
  if (bk && bk->n > 0) MT_TRY_GOTO(write_buckets(w, prefix, bk), rc, fail);
  if (nopt > 0) MT_TRY_GOTO(write_optimizer_attrs(w, opts[0], num_update), rc, fail);
  MT_TRY_GOTO(write_group(w, "/arg", arg_params, &keep), rc, fail);
  MT_TRY_GOTO(write_group(w, "/aux", aux_params, &keep), rc, fail);
  for (int k = 0; k < nopt; k++) MT_TRY_GOTO(write_optimizer(w, opts[k], &keep), rc, fail);
  rc = mtio_h5w_commit(w); /* frees w; removes the temporary file on failure */
  goto done;
fail:
  mtio_h5w_abort(w);
done:
  staging_free(&keep);
  free(json);
  return rc;
}

/* The checkpoint write as one timeline span (base/timeline.h). */
static int save_checkpoint_opts(const char *prefix, int epoch, const mt_symbol *sym,
                                const mt_arena *arg_params, const mt_arena *aux_params,
                                const mt_checkpoint_extra *extra, int nopt,
                                mt_optimizer *const *opts, const ckpt_buckets *bk) {
  int64_t tl = MT_TL_BEGIN();
  int rc = save_checkpoint_body(prefix, epoch, sym, arg_params, aux_params, extra, nopt, opts, bk);
  MT_TL_END(tl, "checkpoint", "checkpoint write", NULL, epoch);
  return rc;
}

int mt_save_checkpoint(const char *prefix, int epoch, const mt_symbol *sym,
                       const mt_arena *arg_params, const mt_arena *aux_params,
                       const mt_checkpoint_extra *extra) {
  mt_optimizer *opt = extra ? extra->optimizer : NULL;
  return save_checkpoint_opts(prefix, epoch, sym, arg_params, aux_params, extra, opt ? 1 : 0, &opt,
                              NULL);
}

/* ------------------------------------------------------------------ load */

/* A format 1 file carries no digests: said once per file and process. */
static void note_unchecked(const char *path) {
  static char last[4096];
  if (!strcmp(last, path)) return;
  snprintf(last, sizeof last, "%s", path);
  mt_log(MT_LOG_INFO, "checkpoint",
         "'%s' is a format_version 1 checkpoint: it carries no checksums, so damage to it "
         "cannot be detected (checkpoints saved from now on have them)",
         path);
}

/* Opens P-EEEE.h5 and checks format_version (a format 2 file must carry
 * the container's XXH64 digests, a format 3 file its XXH3 ones), the epoch
 * and /arg. */
static int open_checked(const char *prefix, int epoch, mtio_h5r **out) {
  char path[4096];
  MT_TRY(mt_checkpoint_path(prefix, epoch, path, sizeof path));
  mtio_h5r *r;
  MT_TRY(mtio_h5r_open(path, &r));
  int64_t version, ep;
  int rc = mtio_h5r_attr_i64(r, "/", "format_version", &version);
  if (rc == MT_E_NOTFOUND)
    rc = MT_ERR(MT_E_FORMAT, "'%s' is not a modtrain checkpoint (no format_version attribute)",
                path);
  else if (rc == MT_OK && (version < 1 || version > MT_CKPT_FORMAT_VERSION))
    rc = MT_ERR(MT_E_FORMAT, "'%s' has checkpoint format_version %lld; this modtrain reads 1..%d",
                path, (long long)version, MT_CKPT_FORMAT_VERSION);
  else if (rc == MT_OK && version >= 2 && !mtio_h5r_digested(r))
    rc = MT_ERR(MT_E_FORMAT,
                "'%s' has format_version %lld but no digests (%s on /): altered by "
                "another program, or damaged",
                path, (long long)version, version == 2 ? "attrs_xxh64" : "attrs_xxh3");
  else if (rc == MT_OK && version >= 2 &&
           mtio_h5r_digest(r) != (version == 2 ? MTIO_DIGEST_XXH64 : MTIO_DIGEST_XXH3))
    rc = MT_ERR(MT_E_FORMAT,
                "'%s' has format_version %lld but %s digests (format 2 has xxh64, 3 has xxh3): "
                "altered by another program, or damaged",
                path, (long long)version, mtio_digest_name(mtio_h5r_digest(r)));
  else if (rc == MT_OK && version == 1 && !mtio_h5r_digested(r)) note_unchecked(path);
  if (rc == MT_OK) rc = mtio_h5r_attr_i64(r, "/", "epoch", &ep);
  if (rc == MT_OK && ep != epoch)
    rc = MT_ERR(MT_E_FORMAT, "'%s' holds epoch %lld, not %d (renamed or copied file?)", path,
                (long long)ep, epoch);
  if (rc == MT_OK) {
    int ex = mtio_h5r_exists(r, "/arg");
    if (ex == 0)
      rc = MT_ERR(MT_E_FORMAT, "'%s': no /arg group (not a modtrain checkpoint, or damaged)", path);
    else if (ex < 0) rc = ex;
  }
  if (rc < 0) {
    mtio_h5r_close(r);
    return rc;
  }
  *out = r;
  return MT_OK;
}

/* v within [lo, hi], else MT_E_FORMAT naming the file, the attribute and v. */
static int in_range(const char *path, const char *attr, int64_t v, int64_t lo, int64_t hi) {
  if (v >= lo && v <= hi) return MT_OK;
  if (hi == INT64_MAX)
    return MT_ERR(MT_E_FORMAT, "'%s': attribute %s = %lld is out of range (must be >= %lld)", path,
                  attr, (long long)v, (long long)lo);
  return MT_ERR(MT_E_FORMAT, "'%s': attribute %s = %lld is out of range (must be %lld..%lld)", path,
                attr, (long long)v, (long long)lo, (long long)hi);
}

/* The scalars of / into x (not config, not the optimizer), each position
 * attribute range-checked: num_update >= 0, world_size_at_save >= 1,
 * data_epoch in [0, epoch] (the module writes epoch; a plain
 * mt_save_checkpoint 0 unless told), data_batch >= 0, rng_step < 2^63 (a
 * negative one stored signed is refused on reading). data_batch's upper
 * bound needs the data: the resume checks it (cmd_train.c). */
static int read_position(mtio_h5r *r, int epoch, mt_checkpoint_extra *x) {
  const char *path = mtio_h5r_path(r);
  int64_t v;
  MT_TRY(mtio_h5r_attr_i64(r, "/", "num_update", &x->num_update));
  MT_TRY(in_range(path, "num_update", x->num_update, 0, INT64_MAX));
  MT_TRY(mtio_h5r_attr_i64(r, "/", "world_size_at_save", &v));
  MT_TRY(in_range(path, "world_size_at_save", v, 1, INT_MAX));
  x->world_size = (int)v;
  MT_TRY(mtio_h5r_attr_i64(r, "/", "data_epoch", &x->data_epoch));
  MT_TRY(in_range(path, "data_epoch", x->data_epoch, 0, epoch));
  MT_TRY(mtio_h5r_attr_i64(r, "/", "data_batch", &x->data_batch));
  MT_TRY(in_range(path, "data_batch", x->data_batch, 0, INT64_MAX));
  MT_TRY(mtio_h5r_attr_u64(r, "/", "rng_seed", &x->rng_seed));
  MT_TRY(mtio_h5r_attr_u64(r, "/", "rng_step", &x->rng_step));
  if (x->rng_step > (uint64_t)INT64_MAX)
    return MT_ERR(MT_E_FORMAT, "'%s': attribute rng_step = %llu is out of range (must be < 2^63)",
                  path, (unsigned long long)x->rng_step);
  return MT_OK;
}

/* The datasets of group `grp` as a new CPU arena (creation order). A missing
 * group gives an empty arena when `optional`. */
static int read_group(mtio_h5r *r, const char *grp, int optional, mt_arena **out) {
  *out = NULL;
  if (optional) {
    int ex = mtio_h5r_exists(r, grp);
    if (ex < 0) return ex;
    if (!ex) return mt_arena_create(mt_cpu(0), 0, NULL, NULL, out);
  }
  int n = 0, rc;
  char **links = NULL, **names = NULL;
  mt_shape *shapes = NULL;
  MT_TRY(mtio_h5r_list(r, grp, &n, &links));
  names = calloc((size_t)n + 1, sizeof *names);
  shapes = calloc((size_t)n + 1, sizeof *shapes);
  if (!names || !shapes) {
    rc = MT_NOMEM();
    goto done;
  }
  for (int i = 0; i < n; i++) {
    char dset[2 * MT_CKPT_NAME_MAX], name[MT_CKPT_NAME_MAX];
    snprintf(dset, sizeof dset, "%s/%s", grp, links[i]);
    MT_TRY_GOTO(mtio_h5_unescape(links[i], name, sizeof name), rc, done);
    MT_TRY_GOTO(mtio_h5r_shape(r, dset, &shapes[i]), rc, done);
    if (!(names[i] = strdup(name))) {
      rc = MT_NOMEM();
      goto done;
    }
  }
  MT_TRY_GOTO(mt_arena_create(mt_cpu(0), n, (const char *const *)names, shapes, out), rc, done);
  for (int i = 0; i < n; i++) {
    char dset[2 * MT_CKPT_NAME_MAX];
    snprintf(dset, sizeof dset, "%s/%s", grp, links[i]);
    MT_TRY_GOTO(read_into(r, dset, mt_arena_at(*out, i)), rc, done);
  }
  rc = MT_OK;
done:
  if (rc < 0) {
    mt_arena_free(*out);
    *out = NULL;
  }
  mtio_names_free(n, links);
  mtio_names_free(n, names);
  free(shapes);
  return rc;
}

/* Restores /optimizer into opt. With module names (n > 0), a saved entry
 * goes to the index of its name in `names`, and `weights[index]` shapes the
 * state; else to its saved index, the state shaped like the saved one. */
static int restore_optimizer(mtio_h5r *r, mt_optimizer *opt, int n, char *const *names,
                             mt_ndarray *const *weights, int skip_others) {
  const char *path = mtio_h5r_path(r);
  int ex = mtio_h5r_exists(r, "/optimizer");
  if (ex < 0) return ex;
  if (!ex)
    return MT_ERR(MT_E_NOTFOUND,
                  "'%s' holds no optimizer state (saved without save_optimizer_states)", path);
  char *saved_name = NULL;
  MT_TRY(mtio_h5r_attr_str(r, "/optimizer", "optimizer", &saved_name));
  if (strcmp(saved_name, mt_optimizer_name(opt))) {
    int rc = MT_ERR(MT_E_INVAL, "'%s' holds the state of optimizer '%s'; this one is '%s'", path,
                    saved_name, mt_optimizer_name(opt));
    free(saved_name);
    return rc;
  }
  free(saved_name);
  int64_t saved_ns;
  MT_TRY(mtio_h5r_attr_i64(r, "/optimizer", "num_states", &saved_ns));
  int ns0 = mt_optimizer_num_states(opt, 0);
  if (ns0 < 0) return ns0;
  if (saved_ns != ns0)
    return MT_ERR(MT_E_INVAL,
                  "'%s': optimizer '%s' was saved with %lld state arrays per parameter, this one "
                  "keeps %d (other settings, e.g. momentum 0 vs non-zero?)",
                  path, mt_optimizer_name(opt), (long long)saved_ns, ns0);
  int nl = 0, rc = MT_OK;
  char **links = NULL;
  MT_TRY(mtio_h5r_list(r, "/optimizer", &nl, &links));
  for (int e = 0; e < nl && rc == MT_OK; e++) {
    char grp[2 * MT_CKPT_NAME_MAX], name[MT_CKPT_NAME_MAX], dset[3 * MT_CKPT_NAME_MAX];
    snprintf(grp, sizeof grp, "/optimizer/%s", links[e]);
    int64_t index, count, has_state;
    MT_TRY_GOTO(mtio_h5_unescape(links[e], name, sizeof name), rc, done);
    MT_TRY_GOTO(mtio_h5r_attr_i64(r, grp, "index", &index), rc, done);
    MT_TRY_GOTO(mtio_h5r_attr_i64(r, grp, "count", &count), rc, done);
    MT_TRY_GOTO(mtio_h5r_attr_i64(r, grp, "has_state", &has_state), rc, done);
    char what[2 * MT_CKPT_NAME_MAX + 32];
    snprintf(what, sizeof what, "index of %s", grp);
    MT_TRY_GOTO(in_range(path, what, index, 0, n > 0 ? INT_MAX : 1 << 20), rc, done);
    snprintf(what, sizeof what, "count of %s", grp);
    MT_TRY_GOTO(in_range(path, what, count, 0, INT64_MAX), rc, done);
    snprintf(what, sizeof what, "has_state of %s", grp);
    MT_TRY_GOTO(in_range(path, what, has_state, 0, 1), rc, done);
    int idx = (int)index;
    mt_ndarray *weight = NULL, *own = NULL;
    if (n > 0) {
      idx = -1;
      for (int i = 0; i < n; i++)
        if (!strcmp(names[i], name)) idx = i;
      if (idx < 0 && skip_others) continue; /* another optimizer's parameter */
      if (idx < 0) {
        rc = MT_ERR(MT_E_INVAL,
                    "'%s' holds optimizer state for '%s', which the module does not have", path,
                    name);
        goto done;
      }
      weight = weights[idx];
    }
    const char *bind = strncmp(name, "__index_", 8) ? name : NULL;
    MT_TRY_GOTO(mt_optimizer_set_update_count(opt, idx, count), rc, done);
    int ns = mt_optimizer_num_states(opt, idx);
    if (ns < 0) {
      rc = ns;
      goto done;
    }
    int nsaved = 0;
    char **snames = NULL;
    MT_TRY_GOTO(mtio_h5r_list(r, grp, &nsaved, &snames), rc, done);
    if (has_state && nsaved != ns) {
      rc = MT_ERR(MT_E_INVAL,
                  "'%s': '%s' has %d optimizer state arrays, optimizer '%s' keeps %d (saved with "
                  "other settings, e.g. momentum?)",
                  path, name, nsaved, mt_optimizer_name(opt), ns);
    } else {
      /* the state is created now (zeros, as on a first update) so that the
       * name is bound and saved arrays can be copied in */
      if (!weight && (nsaved > 0 || ns == 0)) {
        mt_shape s = MT_SHAPE(1);
        if (nsaved > 0) {
          snprintf(dset, sizeof dset, "%s/%s", grp, snames[0]);
          rc = mtio_h5r_shape(r, dset, &s);
        }
        if (rc == MT_OK) rc = mt_ndarray_create(s, mt_cpu(0), &own);
        weight = own;
      }
      if (rc == MT_OK && weight) rc = mt_optimizer_create_state(opt, idx, bind, weight);
      for (int k = 0; has_state && k < ns && rc == MT_OK; k++) {
        const char *sname;
        mt_ndarray *st;
        rc = mt_optimizer_state(opt, idx, k, &sname, &st);
        if (rc == MT_OK) rc = join(dset, sizeof dset, grp, sname);
        if (rc == MT_OK) rc = read_into(r, dset, st);
      }
    }
    mt_ndarray_free(own);
    mtio_names_free(nsaved, snames);
  }
done:
  mtio_names_free(nl, links);
  return rc;
}

int mt_load_checkpoint(const char *prefix, int epoch, mt_symbol **sym, mt_arena **arg_params,
                       mt_arena **aux_params, mt_checkpoint_extra *extra) {
  if (sym) *sym = NULL;
  if (arg_params) *arg_params = NULL;
  if (aux_params) *aux_params = NULL;
  if (extra) extra->loaded_config = NULL;
  mtio_h5r *r;
  MT_TRY(open_checked(prefix, epoch, &r));
  mt_symbol *s = NULL;
  mt_arena *args = NULL, *aux = NULL;
  char *json = NULL, *config = NULL;
  int rc = MT_OK;
  MT_TRY_GOTO(read_group(r, "/arg", 0, &args), rc, fail);
  MT_TRY_GOTO(read_group(r, "/aux", 1, &aux), rc, fail);
  if (sym) {
    /* the file's own copy of the symbol, else P-symbol.json */
    rc = mtio_h5r_attr_str(r, "/", "symbol", &json);
    if (rc < 0 && rc != MT_E_NOTFOUND) goto fail;
    if (json && *json) {
      rc = mt_symbol_load_json(json, &s);
      if (rc < 0) {
        mt_error_prefix(rc, "symbol attribute of '%s'", mtio_h5r_path(r));
        goto fail;
      }
    } else {
      char spath[4096];
      snprintf(spath, sizeof spath, "%s-symbol.json", prefix);
      MT_TRY_GOTO(mt_symbol_load(spath, &s), rc, fail);
    }
  }
  if (extra) {
    MT_TRY_GOTO(read_position(r, epoch, extra), rc, fail);
    MT_TRY_GOTO(mtio_h5r_attr_str(r, "/", "config", &config), rc, fail);
    if (extra->optimizer)
      MT_TRY_GOTO(restore_optimizer(r, extra->optimizer, 0, NULL, NULL, 0), rc, fail);
    extra->loaded_config = config;
    config = NULL;
  }
  if (sym) *sym = s;
  else mt_symbol_free(s);
  if (arg_params) *arg_params = args;
  else mt_arena_free(args);
  if (aux_params) *aux_params = aux;
  else mt_arena_free(aux);
  free(json);
  mtio_h5r_close(r);
  return MT_OK;
fail:
  mt_symbol_free(s);
  mt_arena_free(args);
  mt_arena_free(aux);
  free(json);
  free(config);
  mtio_h5r_close(r);
  return rc;
}

/* ---------------------------------------------------- newest checkpoint */

/* A checkpoint is complete when it opens as one (format, epoch, /arg), its
 * position attributes are in range, and every dataset and attribute reads
 * back, matching its digest (formats 2 and 3; a format 1 file: HDF5's own checks
 * only). */
static int validate(const char *prefix, int epoch) {
  mtio_h5r *r;
  MT_TRY(open_checked(prefix, epoch, &r));
  mt_checkpoint_extra x;
  mt_checkpoint_extra_init(&x);
  int rc = read_position(r, epoch, &x);
  if (rc == MT_OK) rc = mtio_h5r_verify(r);
  mtio_h5r_close(r);
  return rc;
}

static int cmp_desc(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x < y) - (x > y);
}

int mt_checkpoint_latest_before(const char *prefix, int before, int *epoch) {
  if (!prefix || !*prefix || !epoch) return MT_ERR(MT_E_INVAL, "checkpoint_latest: empty prefix");
  const char *slash = strrchr(prefix, '/');
  char dir[4096];
  const char *base = slash ? slash + 1 : prefix;
  if (!slash) snprintf(dir, sizeof dir, ".");
  else if (slash == prefix) snprintf(dir, sizeof dir, "/");
  else snprintf(dir, sizeof dir, "%.*s", (int)(slash - prefix), prefix);
  DIR *d = opendir(dir);
  if (!d)
    return MT_ERR(MT_E_NOTFOUND, "no checkpoint '%s-NNNN.h5': directory '%s': %s", prefix, dir,
                  strerror(errno));
  size_t blen = strlen(base);
  int *epochs = NULL, n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    const char *nm = e->d_name;
    if (strncmp(nm, base, blen) || nm[blen] != '-') continue;
    const char *p = nm + blen + 1, *q = p;
    long v = 0;
    while (*q >= '0' && *q <= '9' && v < 100000000) v = v * 10 + (*q++ - '0');
    if (q == p || strcmp(q, ".h5")) continue; /* temporary files end in .tmp.<pid> */
    if (v >= before) continue;
    if (n == cap) {
      int *ne = realloc(epochs, sizeof *epochs * (size_t)(cap = cap ? 2 * cap : 16));
      if (!ne) {
        closedir(d);
        free(epochs);
        return MT_NOMEM();
      }
      epochs = ne;
    }
    epochs[n++] = (int)v;
  }
  closedir(d);
  if (n > 1) qsort(epochs, (size_t)n, sizeof *epochs, cmp_desc);
  char first[4096 + 1024] = "";
  int damaged = 0;
  for (int i = 0; i < n; i++) {
    if (i && epochs[i] == epochs[i - 1]) continue; /* "P-1.h5" and "P-0001.h5" */
    char path[4096];
    mt_checkpoint_path(prefix, epochs[i], path, sizeof path);
    int rc = validate(prefix, epochs[i]);
    if (rc == MT_OK) {
      *epoch = epochs[i];
      free(epochs);
      return MT_OK;
    }
    if (!damaged++) snprintf(first, sizeof first, "%s", mt_last_error());
    mt_log(MT_LOG_WARN, "checkpoint", "skipping damaged checkpoint '%s': %s", path,
           mt_last_error());
  }
  free(epochs);
  if (!damaged)
    return MT_ERR(MT_E_NOTFOUND, "no checkpoint '%s-NNNN.h5' in '%s'%s", prefix, dir,
                  before == INT_MAX ? "" : " before the one skipped");
  if (damaged == 1)
    return MT_ERR(MT_E_FORMAT,
                  "no usable checkpoint '%s-NNNN.h5' in '%s': the only one is damaged: %s", prefix,
                  dir, first);
  return MT_ERR(MT_E_FORMAT,
                "no usable checkpoint '%s-NNNN.h5' in '%s': all %d are damaged (the newest: %s)",
                prefix, dir, damaged, first);
}

int mt_checkpoint_latest(const char *prefix, int *epoch) {
  return mt_checkpoint_latest_before(prefix, INT_MAX, epoch);
}

/* ---------------------------------------------------------------- module */

static int module_save_at(mt_module *m, const char *prefix, int epoch, int64_t data_batch,
                          int save_optimizer_states, const char *config) {
  if (!m) return MT_ERR(MT_E_INVAL, "save_checkpoint: NULL module");
  if (save_optimizer_states && !mt_module_optimizer_initialized(m))
    return MT_ERR(MT_E_STATE, "save_checkpoint: save_optimizer_states needs init_optimizer first");
  const mt_arena *args, *aux;
  MT_TRY(mt_module_get_params(m, &args, &aux));
  mt_checkpoint_extra x;
  mt_checkpoint_extra_init(&x);
  mt_kvstore *kv = mt_module_kvstore(m);
  x.world_size = kv ? kv->num_workers : 1;
  x.data_epoch = epoch;      /* saved at the end of epoch - 1: the next one is `epoch` */
  x.data_batch = data_batch; /* > 0: stopped inside epoch `epoch` after that many batches */
  mt_module_get_rng(m, &x.rng_seed, &x.rng_step);
  /* a composite module has an optimizer per child: all of them are saved,
   * each parameter's state under its (unique) name */
  mt_module_opt_group g[MT_MODULE_MAX_OPT_GROUPS];
  mt_optimizer *opts[MT_MODULE_MAX_OPT_GROUPS];
  int ng = mt_module_opt_groups(m, MT_MODULE_MAX_OPT_GROUPS, g);
  for (int i = 0; i < ng; i++) {
    opts[i] = g[i].opt;
    int64_t nu = mt_optimizer_num_update(g[i].opt);
    if (nu > x.num_update) x.num_update = nu;
  }
  x.optimizer = save_optimizer_states && ng > 0 ? opts[0] : NULL;
  x.config = config;
  /* a BucketingModule: a symbol per bucket, the default bucket's as the symbol */
  ckpt_buckets bk;
  bk.n = mt_module_buckets(m, &bk.default_key, MT_CKPT_MAX_BUCKETS, bk.keys, bk.syms);
  if (bk.n > MT_CKPT_MAX_BUCKETS)
    return MT_ERR(MT_E_UNSUPPORTED, "save_checkpoint: %d buckets (at most %d)", bk.n,
                  MT_CKPT_MAX_BUCKETS);
  return save_checkpoint_opts(prefix, epoch, bk.n > 0 ? bk.syms[0] : mt_module_symbol(m), args, aux,
                              &x, save_optimizer_states ? ng : 0, opts, &bk);
}

static int module_save(mt_module *m, const char *prefix, int epoch, int save_optimizer_states,
                       const char *config) {
  return module_save_at(m, prefix, epoch, 0, save_optimizer_states, config);
}

int mt_module_save_checkpoint_at(mt_module *m, const char *prefix, int epoch, int64_t data_batch,
                                 const char *config) {
  return module_save_at(m, prefix, epoch, data_batch, 1, config);
}

int mt_module_save_checkpoint(mt_module *m, const char *prefix, int epoch,
                              int save_optimizer_states) {
  return module_save(m, prefix, epoch, save_optimizer_states, NULL);
}

static int module_load_states(mt_module *m, mtio_h5r *r) {
  mt_module_opt_group g[MT_MODULE_MAX_OPT_GROUPS];
  int ng = mt_module_opt_groups(m, MT_MODULE_MAX_OPT_GROUPS, g), rc = MT_OK;
  if (ng == 0) return MT_OK; /* no parameters, no optimizer */
  for (int k = 0; k < ng && rc == MT_OK; k++) {
    mt_ndarray *weights[4096] = {0}, **w = weights;
    if (g[k].nparam > 4096 && !(w = calloc((size_t)g[k].nparam, sizeof *w))) return MT_NOMEM();
    /* the arrays the optimizer updates: context 0's parameters */
    for (int i = 0; i < g[k].nparam; i++) w[i] = mt_arena_at(g[k].weights, i);
    /* with several optimizers, each takes the entries of its parameters */
    rc = restore_optimizer(r, g[k].opt, g[k].nparam, g[k].names, w, ng > 1);
    if (w != weights) free(w);
  }
  return rc;
}

int mt_module_load_optimizer_states(mt_module *m, const char *prefix, int epoch) {
  if (!m) return MT_ERR(MT_E_INVAL, "load_optimizer_states: NULL module");
  if (!mt_module_optimizer_initialized(m))
    return MT_ERR(MT_E_STATE, "load_optimizer_states: call init_optimizer first");
  mtio_h5r *r;
  MT_TRY(open_checked(prefix, epoch, &r));
  int rc = module_load_states(m, r);
  mtio_h5r_close(r);
  return rc;
}

int mt_module_restore_checkpoint(mt_module *m, const char *prefix, int epoch) {
  if (!m) return MT_ERR(MT_E_INVAL, "restore_checkpoint: NULL module");
  if (!mt_module_binded(m) || !mt_module_params_initialized(m) ||
      !mt_module_optimizer_initialized(m))
    return MT_ERR(MT_E_STATE,
                  "restore_checkpoint: call bind, init_params and init_optimizer first (the "
                  "checkpoint overwrites the parameters and the optimizer state)");
  mt_arena *args = NULL, *aux = NULL;
  mt_checkpoint_extra x;
  mt_checkpoint_extra_init(&x);
  MT_TRY(mt_load_checkpoint(prefix, epoch, NULL, &args, &aux, &x));
  free(x.loaded_config);
  int rc = mt_module_set_params(m, args, aux, 0, 1, 0);
  mt_arena_free(args);
  mt_arena_free(aux);
  if (rc < 0) {
    char path[4096];
    mt_checkpoint_path(prefix, epoch, path, sizeof path);
    return mt_error_prefix(rc, "restoring '%s'", path);
  }
  MT_TRY(mt_module_load_optimizer_states(m, prefix, epoch));
  mt_module_set_rng(m, x.rng_seed, x.rng_step);
  return MT_OK;
}

/* ---------------------------------------------------------------- buckets */

int mt_load_checkpoint_buckets(const char *prefix, int epoch, int *default_key, int *nbuckets,
                               int **keys, mt_symbol ***syms) {
  if (!default_key || !nbuckets || !keys || !syms)
    return MT_ERR(MT_E_INVAL, "load_checkpoint_buckets: NULL output");
  *nbuckets = 0;
  *keys = NULL;
  *syms = NULL;
  mtio_h5r *r;
  MT_TRY(open_checked(prefix, epoch, &r));
  int rc = mtio_h5r_exists(r, "/buckets");
  if (rc <= 0) {
    if (rc == 0)
      rc = MT_ERR(MT_E_NOTFOUND, "'%s' holds no buckets (not a BucketingModule's checkpoint)",
                  mtio_h5r_path(r));
    mtio_h5r_close(r);
    return rc;
  }
  int64_t dk = 0, count = 0;
  char *list = NULL;
  int *k = NULL;
  mt_symbol **s = NULL;
  MT_TRY_GOTO(mtio_h5r_attr_i64(r, "/buckets", "default_key", &dk), rc, fail);
  MT_TRY_GOTO(mtio_h5r_attr_i64(r, "/buckets", "count", &count), rc, fail);
  MT_TRY_GOTO(in_range(mtio_h5r_path(r), "/buckets count", count, 1, MT_CKPT_MAX_BUCKETS), rc,
              fail);
  MT_TRY_GOTO(mtio_h5r_attr_str(r, "/buckets", "keys", &list), rc, fail);
  k = calloc((size_t)count, sizeof *k);
  s = calloc((size_t)count, sizeof *s);
  if (!k || !s) {
    rc = MT_NOMEM();
    goto fail;
  }
  char *p = list;
  for (int i = 0; i < count; i++) {
    char *end;
    long v = strtol(p, &end, 10);
    if (end == p || (*end && *end != ',')) {
      rc = MT_ERR(MT_E_FORMAT, "'%s': /buckets keys '%s' is not %lld integers", mtio_h5r_path(r),
                  list, (long long)count);
      goto fail;
    }
    k[i] = (int)v;
    p = *end ? end + 1 : end;
    char grp[64], *json = NULL;
    snprintf(grp, sizeof grp, "/buckets/%d", k[i]);
    MT_TRY_GOTO(mtio_h5r_attr_str(r, grp, "symbol", &json), rc, fail);
    rc = mt_symbol_load_json(json, &s[i]);
    free(json);
    if (rc < 0) {
      mt_error_prefix(rc, "bucket %d's symbol in '%s'", k[i], mtio_h5r_path(r));
      goto fail;
    }
  }
  free(list);
  mtio_h5r_close(r);
  *default_key = (int)dk;
  *nbuckets = (int)count;
  *keys = k;
  *syms = s;
  return MT_OK;
fail:
  for (int i = 0; s && i < count; i++) mt_symbol_free(s[i]);
  free(s);
  free(k);
  free(list);
  mtio_h5r_close(r);
  return rc;
}

/* ------------------------------------------------------------- callbacks */

typedef struct {
  char *prefix, *config; /* config: module_checkpoint's copy, or NULL */
  int period;
  mt_module *mod; /* module_checkpoint; NULL for do_checkpoint */
  int save_states;
} ckpt_cb;

static int ckpt_cb_fn(int epoch, mt_symbol *sym, const mt_arena *args, const mt_arena *aux,
                      void *user) {
  ckpt_cb *c = user;
  if ((epoch + 1) % c->period) return MT_OK;
  mt_kvstore *kv = c->mod ? mt_module_kvstore(c->mod) : NULL;
  int rank = kv ? kv->rank : mt_log_rank();
  if (rank != 0) return MT_OK; /* docs/design.md §4: checkpoints come from rank 0 */
  char path[4096];
  MT_TRY(mt_checkpoint_path(c->prefix, epoch + 1, path, sizeof path));
  if (c->mod) MT_TRY(module_save(c->mod, c->prefix, epoch + 1, c->save_states, c->config));
  else MT_TRY(mt_save_checkpoint(c->prefix, epoch + 1, sym, args, aux, NULL));
  mt_log_train("Saved checkpoint to \"%s\"", path);
  return MT_OK;
}

static int make_cb(const char *prefix, int period, mt_module *mod, int save_states,
                   const char *config, mt_epoch_callback *out) {
  if (!out) return MT_ERR(MT_E_INVAL, "checkpoint callback: NULL output");
  memset(out, 0, sizeof *out);
  if (!prefix || !*prefix) return MT_ERR(MT_E_INVAL, "checkpoint callback: empty prefix");
  if (period < 1) return MT_ERR(MT_E_INVAL, "checkpoint callback: period %d must be >= 1", period);
  ckpt_cb *c = calloc(1, sizeof *c);
  if (!c || !(c->prefix = strdup(prefix)) || (config && !(c->config = strdup(config)))) {
    if (c) free(c->prefix);
    free(c);
    return MT_NOMEM();
  }
  c->period = period;
  c->mod = mod;
  c->save_states = save_states;
  out->fn = ckpt_cb_fn;
  out->user = c;
  return MT_OK;
}

int mt_do_checkpoint(const char *prefix, int period, mt_epoch_callback *out) {
  return make_cb(prefix, period, NULL, 0, NULL, out);
}

int mt_module_checkpoint(mt_module *mod, const char *prefix, int period, int save_optimizer_states,
                         const char *config, mt_epoch_callback *out) {
  if (!mod) return MT_ERR(MT_E_INVAL, "module_checkpoint: NULL module");
  return make_cb(prefix, period, mod, save_optimizer_states, config, out);
}

void mt_epoch_callback_free(mt_epoch_callback *cb) {
  if (!cb) return;
  if (cb->fn == ckpt_cb_fn && cb->user) {
    ckpt_cb *c = cb->user;
    free(c->prefix);
    free(c->config);
    free(c);
  }
  cb->fn = NULL;
  cb->user = NULL;
}
