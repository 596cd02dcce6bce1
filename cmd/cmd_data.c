/* cmd_data.c — the data iterators of a job config for the `modtrain`
 * command: synthetic data (generated in memory, this rank's shard of each
 * global batch, its labels renamed to the network's label; samples of
 * [data] synthetic_shape when given) or an HDF5
 * dataset file (each rank reads only its rows). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "base/error.h"
#include "io/h5_sequences.h"

/* mt_synthetic_iter_create names its labels "softmax_label"; a network
 * whose loss layer has another name reads NAME_label. This wrapper gives
 * the iterator's labels the network's name (the batches are unchanged). */
typedef struct {
  mt_data_iter *inner;
  int nlabel;
  mt_data_desc label[MT_MAX_BATCH_INPUTS];
} relabel_iter;

static int rl_next(void *s, mt_batch *b) {
  return mt_data_iter_next(((relabel_iter *)s)->inner, b);
}
static int rl_reset(void *s) { return mt_data_iter_reset(((relabel_iter *)s)->inner); }
static int rl_provide_data(void *s, int *n, const mt_data_desc **d) {
  return mt_data_iter_provide_data(((relabel_iter *)s)->inner, n, d);
}
static int rl_provide_label(void *s, int *n, const mt_data_desc **d) {
  relabel_iter *r = s;
  *n = r->nlabel;
  *d = r->label;
  return MT_OK;
}
static void rl_destroy(void *s) {
  relabel_iter *r = s;
  mt_data_iter_free(r->inner);
  free(r);
}

/* Takes ownership of *it: on return *it is the renamed iterator (or freed
 * and NULL on error). */
static int relabel(mt_data_iter **it, const char *label_name) {
  int n;
  const mt_data_desc *d;
  int rc = mt_data_iter_provide_label(*it, &n, &d);
  if (rc < 0 || (n == 1 && !strcmp(d[0].name, label_name))) return rc;
  relabel_iter *r = calloc(1, sizeof *r);
  if (!r || n != 1 || strlen(label_name) >= sizeof r->label[0].name) {
    free(r);
    mt_data_iter_free(*it);
    *it = NULL;
    return r ? mt_error_set(MT_E_INVAL, "label name '%s' does not fit the data", label_name)
             : mt_error_set(MT_E_NOMEM, "out of memory");
  }
  r->inner = *it;
  r->nlabel = 1;
  r->label[0] = d[0];
  snprintf(r->label[0].name, sizeof r->label[0].name, "%s", label_name);
  static const mt_data_iter_vtable vt = {rl_next, rl_reset, rl_provide_data, rl_provide_label,
                                         rl_destroy};
  rc = mt_data_iter_create(&vt, r, it);
  if (rc < 0) {
    rl_destroy(r);
    *it = NULL;
  }
  return rc;
}

/* This rank's shard of every global batch (a no-op for one rank). */
static int shard(mt_data_iter **it, int rank, int world) {
  if (world <= 1) return MT_OK;
  mt_data_iter *s;
  int rc = mt_data_iter_shard(*it, rank, world, &s);
  if (rc < 0) return rc;
  *it = s;
  return MT_OK;
}

/* Synthetic data shaped by [data] synthetic_shape: the same samples as
 * mt_synthetic_iter_create's (mt_synthetic_generate, then an NDArrayIter
 * with the same order, seed and padding), each one (d1, ...) instead of
 * (feature_dim), its labels named `label`. */
static int shaped_synthetic(const mt_config *cfg, int part, int shuffle, const char *label,
                            mt_data_iter **out) {
  mt_shape xs = mt_config_synthetic_shape(cfg, cfg->num_samples);
  mt_shape ys = {.ndim = 1, .dim = {cfg->num_samples}};
  mt_ndarray *x = NULL, *y = NULL;
  int rc;
  MT_TRY_GOTO(mt_ndarray_create(xs, mt_cpu(0), &x), rc, done);
  MT_TRY_GOTO(mt_ndarray_create(ys, mt_cpu(0), &y), rc, done);
  MT_TRY_GOTO(mt_synthetic_generate(cfg->num_classes, cfg->feature_dim, cfg->num_samples, cfg->seed,
                                    part, mt_ndarray_data(x), mt_ndarray_data(y)),
              rc, done);
  rc = mt_ndarray_iter_create(x, y, cfg->batch_size, shuffle, cfg->seed, MT_LAST_BATCH_PAD, "data",
                              label, out);
done:
  mt_ndarray_free(x);
  mt_ndarray_free(y);
  return rc;
}

/* The iterator of one data set (cmd.h). */
int cmd_make_iter(const mt_config *cfg, const char *src, int part, int shuffle, const char *label,
                  int rank, int world, mt_data_iter **out) {
  *out = NULL;
  /* the file's layout picks the iterator: token sequences are bucketed */
  if (strcmp(src, "synthetic") && mtio_seq_probe(src))
    return mt_config_seq_iter(cfg, src, shuffle, label, rank, world, NULL, out);
  if (strcmp(src, "synthetic")) {
    mt_h5_iter_opts o; /* [data] cache, scale, mean, std */
    mt_h5_iter_opts_init(&o);
    o.cache = (mt_h5_cache)cfg->data_cache;
    o.scale = cfg->data_scale;
    o.nmean = cfg->nmean;
    o.nstd = cfg->nstd;
    memcpy(o.mean, cfg->mean, sizeof o.mean);
    memcpy(o.std, cfg->std, sizeof o.std);
    /* [data] data_shape for every set; pad, rand_crop, rand_mirror for the
     * training set only (part 0): the others get the center (MXNet's val). */
    memcpy(o.data_shape, cfg->data_shape, sizeof o.data_shape);
    if (part == 0) {
      o.pad = cfg->pad;
      o.rand_crop = cfg->rand_crop;
      o.rand_mirror = cfg->rand_mirror;
    }
    return mt_h5_iter_create_opts(src, cfg->batch_size, shuffle, cfg->seed, MT_LAST_BATCH_PAD, rank,
                                  world, "data", label, &o, out);
  }
  int rc;
  if (cfg->synth_ndim > 0) {
    MT_TRY_GOTO(shaped_synthetic(cfg, part, shuffle, label, out), rc, fail);
  } else {
    MT_TRY_GOTO(mt_synthetic_iter_create(cfg->num_classes, cfg->feature_dim, cfg->num_samples,
                                         cfg->batch_size, cfg->seed, part, shuffle, out),
                rc, fail);
    MT_TRY_GOTO(relabel(out, label), rc, fail);
  }
  MT_TRY_GOTO(shard(out, rank, world), rc, fail);
  return MT_OK;
fail:
  mt_data_iter_free(*out);
  *out = NULL;
  return rc;
}

void cmd_data_banner(const mt_data_iter *it, int rank) {
  char line[1024];
  int warn;
  if (rank != 0 || mt_h5_iter_info(it, line, sizeof line, &warn) < 0) {
    mt_error_clear();
    return;
  }
  fprintf(stderr, "modtrain: %sdata %s\n", warn ? "warning: " : "", line);
}
