/* config_check.c — the values of the job config checked (docs/design.md §7;
 * docs/config.md): each key's text parsed into mt_config's typed fields
 * with a one-line error naming where it was written and what a good value
 * looks like, then the checks across keys (required keys, symbol or layers,
 * data, the optimizer and its parameters, checkpoint). */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/stat.h>

#include "config_keys.h"
#include "base/device.h"
#include "base/error.h"
#include "io/h5_sequences.h"
#include "io/h5dataset.h"
#include "src/data_iter.h"
#include "src/symbol.h"

/* ------------------------------------------------------ value checks */

static int is_none(const char *v) { return !strcasecmp(v, "none"); }

/* 0 ok; 1 not a number; 2 not whole; 3 out of range */
static int parse_i64(const char *v, int64_t *out) {
  char *end;
  errno = 0;
  long long x = strtoll(v, &end, 10);
  if (end != v && !*end) {
    if (errno == ERANGE) return 3;
    *out = x;
    return 0;
  }
  double d = strtod(v, &end);
  if (end != v && !*end && isfinite(d)) return 2;
  return 1;
}

static int check_int(mt_config *c, int k, int64_t lo, int64_t hi, int64_t *out) {
  const char *v = c->priv->raw[k].value;
  int r = parse_i64(v, out);
  if (r == 1)
    return cfg_key_err(c, MT_E_INVAL, k, "'%s' is not a number (%s)", v, cfg_keys[k].hint);
  if (r == 2)
    return cfg_key_err(c, MT_E_INVAL, k, "'%s' is not a whole number (%s)", v, cfg_keys[k].hint);
  if (r == 3 || *out > hi)
    return cfg_key_err(c, MT_E_INVAL, k, "%s is too large (at most %lld)", v, (long long)hi);
  if (*out < lo)
    return cfg_key_err(c, MT_E_INVAL, k, "%s is %s (%s)", v,
                       lo == 1 && *out == 0 ? "zero; it must be at least 1"
                       : *out < 0           ? "negative"
                                            : "too small",
                       cfg_keys[k].hint);
  return MT_OK;
}

static int check_float(mt_config *c, int k, double lo, int lo_open, double hi, int hi_open,
                       double *out) {
  const char *v = c->priv->raw[k].value;
  char *end;
  errno = 0;
  double d = strtod(v, &end);
  if (end == v || *end || !isfinite(d))
    return cfg_key_err(c, MT_E_INVAL, k, "'%s' is not a number (%s)", v, cfg_keys[k].hint);
  if (d < lo || (lo_open && d == lo) || d > hi || (hi_open && d == hi))
    return cfg_key_err(c, MT_E_INVAL, k, "%s is out of range (%s)", v, cfg_keys[k].hint);
  *out = d;
  return MT_OK;
}

static int check_bool(mt_config *c, int k, int *out) {
  const char *v = c->priv->raw[k].value;
  static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no", "off",
                                                                              "0"};
  for (int i = 0; i < 4; i++) {
    if (!strcasecmp(v, yes[i])) {
      *out = 1;
      return MT_OK;
    }
    if (!strcasecmp(v, no[i])) {
      *out = 0;
      return MT_OK;
    }
  }
  return cfg_key_err(c, MT_E_INVAL, k,
                     "'%s' is not true or false (true/false, yes/no, on/off, 1/0)", v);
}

/* A data or model file must be readable now, not after an hour in the queue. */
static int check_readable(mt_config *c, int k, const char *path) {
  struct stat st;
  if (stat(path, &st) != 0 || access(path, R_OK) != 0)
    return cfg_key_err(c, MT_E_INVAL, k,
                       "cannot read '%s': %s (relative paths start at the working "
                       "directory)",
                       path, strerror(errno));
  if (S_ISDIR(st.st_mode))
    return cfg_key_err(c, MT_E_INVAL, k, "'%s' is a directory, not a file (%s)", path,
                       cfg_keys[k].hint);
  return MT_OK;
}

static int set_str(char **dst, const char *v) {
  char *s = v ? strdup(v) : NULL;
  if (v && !s) return MT_NOMEM();
  free(*dst);
  *dst = s;
  return MT_OK;
}

static int check_context(mt_config *c, int k) {
  const char *v = c->priv->raw[k].value;
  const char *p = v;
  mt_devtype type;
  if (!strncasecmp(p, "cpu", 3)) type = MT_CPU;
  else if (!strncasecmp(p, "gpu", 3)) type = MT_GPU;
  else return cfg_key_err(c, MT_E_INVAL, k, "'%s' is not a context (%s)", v, cfg_keys[k].hint);
  p += 3;
  int n = 0;
  c->ctx_auto = !*p;
  if (!*p) {
    c->ctx[n++] = (mt_context){type, 0};
  } else {
    /* cpu:0,1 (also MXNet's cpu(0) spelling for a single device) */
    int paren = *p == '(';
    if (*p != ':' && !paren)
      return cfg_key_err(c, MT_E_INVAL, k, "'%s' is not a context (%s)", v, cfg_keys[k].hint);
    p++;
    for (;;) {
      char *end;
      errno = 0;
      long id = strtol(p, &end, 10);
      if (end == p || id < 0 || id > 1023 || errno)
        return cfg_key_err(c, MT_E_INVAL, k, "'%s': bad device number (%s)", v, cfg_keys[k].hint);
      if (n == MT_CFG_MAX_CTX)
        return cfg_key_err(c, MT_E_INVAL, k, "more than %d devices", MT_CFG_MAX_CTX);
      /* a GPU may be listed twice (two executors on one device: how the
       * multi-context path runs on a one-GPU machine); a CPU may not */
      for (int i = 0; i < n && type == MT_CPU; i++)
        if (c->ctx[i].id == id)
          return cfg_key_err(c, MT_E_INVAL, k, "device %ld is listed twice (only a gpu may be)",
                             id);
      c->ctx[n++] = (mt_context){type, (int)id};
      p = end;
      if (*p == ',') {
        p++;
        continue;
      }
      if (paren && *p == ')' && !p[1] && n == 1) break;
      if (!*p && !paren) break;
      return cfg_key_err(c, MT_E_INVAL, k, "'%s' is not a context (%s)", v, cfg_keys[k].hint);
    }
  }
  /* each device usable here: a GPU needs a CUDA build and a visible device */
  for (int i = 0; i < n; i++)
    if (mt_device_check(c->ctx[i]) < 0) {
      char msg[1024];
      cfg_last_error_copy(msg, sizeof msg);
      return cfg_key_err(c, MT_E_INVAL, k, "'%s': %s%s", v, msg,
                         type == MT_GPU && !strstr(msg, "context = cpu") ? " (use context = cpu)"
                                                                         : "");
    }
  c->nctx = n;
  return MT_OK;
}

/* A layer line with the spaces inside ( ) and [ ] taken out, in place, so
 * that a tuple written as MXNet prints it, kernel=(5, 5), stays one
 * attribute (the builder splits a line at spaces). MT_E_INVAL for a '(' or
 * '[' that is not closed. */
static int join_tuples(char *t) {
  int depth = 0;
  for (int pass = 0; pass < 2; pass++) {
    char *w = t;
    for (const char *p = t; *p; p++) {
      if (*p == '(' || *p == '[') depth++;
      if ((*p == ')' || *p == ']') && depth > 0) depth--;
      if (pass == 0 || (depth > 0 && isspace((unsigned char)*p))) continue;
      *w++ = *p;
    }
    if (pass == 0 && depth > 0)
      return mt_error_set(MT_E_INVAL,
                          "'%s': a '(' or '[' is not closed (write a tuple as (5,5) or (5, 5))", t);
    if (pass == 1) *w = '\0';
  }
  return MT_OK;
}

static int check_layers(mt_config *c, int k) {
  raw_val *r = &c->priv->raw[k];
  for (int i = 0; i < c->nlayers; i++) mt_layer_spec_free(&c->layers[i]);
  free(c->layers);
  c->layers = NULL;
  c->nlayers = 0;
  if (r->nlines == 0 || (r->nlines == 1 && is_none(r->value))) return MT_OK;
  c->layers = calloc((size_t)r->nlines, sizeof *c->layers);
  if (!c->layers) return MT_NOMEM();
  const char *s = r->value;
  for (int i = 0; i < r->nlines; i++) {
    size_t len = strcspn(s, "\n");
    char *t = malloc(len + 1);
    if (!t) return MT_NOMEM();
    memcpy(t, s, len);
    t[len] = '\0';
    int rc = join_tuples(t);
    if (rc == MT_OK) rc = mt_layer_parse(t, &c->layers[i]);
    free(t);
    if (rc < 0) {
      char msg[1024];
      cfg_last_error_copy(msg, sizeof msg);
      return cfg_loc_err(c, rc, r->origin, r->lines[i], SEC_MODEL, "layers", "%s", msg);
    }
    c->layers[i].line = r->origin ? 0 : r->lines[i];
    c->nlayers = i + 1;
    s += len + (s[len] ? 1 : 0);
  }
  return MT_OK;
}

/* Key k's value refused by the library call that checked it: its message
 * as the key's error, with the key's hint. */
static int refused_with_hint(mt_config *c, int k) {
  char msg[1024];
  cfg_last_error_copy(msg, sizeof msg);
  return cfg_key_err(c, MT_E_INVAL, k, "%s (%s)", msg, cfg_keys[k].hint);
}

/* initializer: what mt_initializer_create takes. */
static int check_initializer(mt_config *c, int k, const char *v) {
  mt_initializer *init = NULL;
  int rc = mt_initializer_create(v, 0, &init);
  mt_initializer_free(init);
  if (rc < 0) {
    return refused_with_hint(c, k);
  }
  return set_str(&c->initializer, v);
}

/* eval_metric: what mt_metric_create takes. */
static int check_eval_metric(mt_config *c, int k, const char *v) {
  mt_metric *m = NULL;
  int rc = mt_metric_create(v, &m);
  mt_metric_free(m);
  if (rc < 0) {
    return refused_with_hint(c, k);
  }
  return set_str(&c->eval_metric, v);
}

/* kvstore: one of the synchronous kvstores. */
static int check_kvstore(mt_config *c, int k, const char *v) {
  static const char *const names[] = {"local", "device", "nccl", "dist_sync", "hier"};
  for (int i = 0; i < 5; i++)
    if (!strcmp(v, names[i])) return set_str(&c->kvstore, names[i]);
  if (!strcmp(v, "dist_async") || !strcmp(v, "dist_device_sync"))
    return cfg_key_err(c, MT_E_INVAL, k,
                       "'%s' is not supported: modtrain reduces synchronously "
                       "(use dist_sync, or hier for NCCL inside nodes and MPI across)",
                       v);
  char sug[128];
  cfg_suggestion(v, 5, names, sug, sizeof sug);
  return cfg_key_err(c, MT_E_INVAL, k, "unknown kvstore '%s' (%s%s%s)", v, sug, sug[0] ? " " : "",
                     cfg_keys[k].hint);
}

/* metrics_file, timeline: none, or a file in a writable directory (the file
 * is created). */
static int check_out_file(mt_config *c, int k, const char *v, char **dst) {
  if (is_none(v)) return set_str(dst, NULL);
  /* the directory must exist and be writable; the file is created */
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", v);
  char *slash = strrchr(dir, '/');
  if (!slash) snprintf(dir, sizeof dir, ".");
  else if (slash == dir) dir[1] = '\0';
  else *slash = '\0';
  if (access(dir, W_OK) != 0)
    return cfg_key_err(c, MT_E_INVAL, k, "cannot write in directory '%s': %s (create it first)",
                       dir, strerror(errno));
  return set_str(dst, v);
}

/* mean / std: none, or 1 to MT_H5_MAX_CHANNELS numbers separated by
 * commas, optionally in ( ) or [ ]; std values nonzero. */
static int check_float_list(mt_config *c, int k, const char *v, float *out, int *n) {
  *n = 0;
  if (is_none(v)) return MT_OK;
  const char *p = v;
  while (isspace((unsigned char)*p) || *p == '(' || *p == '[') p++;
  for (;;) {
    char *end;
    errno = 0;
    double d = strtod(p, &end);
    if (end == p || errno || !isfinite(d) || (k == K_STD && d == 0))
      return cfg_key_err(c, MT_E_INVAL, k, "'%s' is not a list of numbers (%s)", v,
                         cfg_keys[k].hint);
    if (*n == MT_H5_MAX_CHANNELS)
      return cfg_key_err(c, MT_E_INVAL, k, "'%s' has more than %d values", v, MT_H5_MAX_CHANNELS);
    out[(*n)++] = (float)d;
    p = end;
    while (isspace((unsigned char)*p) || *p == ')' || *p == ']') p++;
    if (*p == ',') {
      p++;
      continue;
    }
    if (*p)
      return cfg_key_err(c, MT_E_INVAL, k, "'%s' is not a list of numbers (%s)", v,
                         cfg_keys[k].hint);
    return MT_OK;
  }
}

/* data_shape: none, or 3 whole numbers >= 1 (C,H,W), as mean's list. */
static int check_data_shape(mt_config *c, int k, const char *v) {
  float f[MT_H5_MAX_CHANNELS];
  int n;
  memset(c->data_shape, 0, sizeof c->data_shape);
  MT_TRY(check_float_list(c, k, v, f, &n));
  if (n == 0) return MT_OK;
  for (int i = 0; i < n; i++)
    if (n != 3 || !(f[i] >= 1.0f && f[i] <= (float)(1 << 20)) || f[i] != (float)(int64_t)f[i])
      return cfg_key_err(c, MT_E_INVAL, k, "'%s' is not 3 whole numbers >= 1 (%s)", v,
                         cfg_keys[k].hint);
  for (int i = 0; i < 3; i++) c->data_shape[i] = (int64_t)f[i];
  return MT_OK;
}

/* synthetic_shape: none, or 1 to MT_MAX_DIM - 1 whole numbers >= 1
 * separated by commas, optionally in ( ) or [ ] ("1,28,28", "(1, 28, 28)"),
 * of at most 2^26 floats in all (feature_dim's limit). */
static int check_synthetic_shape(mt_config *c, int k, const char *v) {
  c->synth_ndim = 0;
  if (is_none(v)) return MT_OK;
  const char *p = v;
  while (isspace((unsigned char)*p)) p++;
  char close = *p == '(' ? ')' : *p == '[' ? ']' : 0;
  if (close) p++;
  int n = 0;
  int64_t dims[MT_MAX_DIM], total = 1;
  for (;;) {
    while (isspace((unsigned char)*p)) p++;
    char *end;
    errno = 0;
    long long x = strtoll(p, &end, 10);
    if (end == p || errno || x < 1 || x > (1 << 26))
      return cfg_key_err(c, MT_E_INVAL, k, "'%s' is not a shape of whole numbers >= 1 (%s)", v,
                         cfg_keys[k].hint);
    if (n == MT_MAX_DIM - 1)
      return cfg_key_err(c, MT_E_INVAL, k,
                         "'%s' has more than %d dims (a batch of samples has at most %d)", v,
                         MT_MAX_DIM - 1, MT_MAX_DIM);
    dims[n++] = x;
    total *= x;
    if (total > (1 << 26))
      return cfg_key_err(c, MT_E_INVAL, k, "'%s' is more than 2^26 floats per sample", v);
    p = end;
    while (isspace((unsigned char)*p)) p++;
    if (*p == ',') {
      p++;
      continue;
    }
    break;
  }
  int closed = close && *p == close;
  if (closed) p++;
  while (isspace((unsigned char)*p)) p++;
  if (*p || (close && !closed))
    return cfg_key_err(c, MT_E_INVAL, k, "'%s' is not a shape of whole numbers >= 1 (%s)", v,
                       cfg_keys[k].hint);
  c->synth_ndim = n;
  for (int i = 0; i < n; i++) c->synth_dim[i] = dims[i];
  return MT_OK;
}

mt_shape mt_config_synthetic_shape(const mt_config *c, int64_t batch) {
  mt_shape s = {.ndim = 2, .dim = {batch, c->feature_dim}};
  if (c->synth_ndim > 0) {
    s.ndim = c->synth_ndim + 1;
    for (int i = 0; i < c->synth_ndim; i++) s.dim[i + 1] = c->synth_dim[i];
  }
  return s;
}

/* [data]: the data sets, synthetic data, batch, shuffling, seed. */
static int apply_data_key(mt_config *c, int k, const char *v) {
  int64_t i64;
  switch (k) {
  case K_TRAIN:
  case K_VAL: {
    char **dst = k == K_TRAIN ? &c->train : &c->val;
    if (k == K_VAL && is_none(v)) return set_str(dst, NULL);
    if (k == K_TRAIN && is_none(v))
      return cfg_key_err(c, MT_E_INVAL, k, "training data cannot be none (%s)", cfg_keys[k].hint);
    if (!strcasecmp(v, "synthetic")) return set_str(dst, "synthetic");
    MT_TRY(check_readable(c, k, v));
    return set_str(dst, v);
  }
  case K_NUM_CLASSES:
    MT_TRY(check_int(c, k, 2, 1 << 24, &i64));
    c->num_classes = (int)i64;
    return MT_OK;
  case K_FEATURE_DIM:
    MT_TRY(check_int(c, k, 1, 1 << 26, &i64));
    c->feature_dim = (int)i64;
    return MT_OK;
  case K_SYNTHETIC_SHAPE: return check_synthetic_shape(c, k, v);
  case K_NUM_SAMPLES: return check_int(c, k, 1, (int64_t)1 << 40, &c->num_samples);
  case K_BATCH_SIZE: return check_int(c, k, 1, (int64_t)1 << 30, &c->batch_size);
  case K_SHUFFLE: return check_bool(c, k, &c->shuffle);
  case K_BUCKETS:
  case K_INVALID_LABEL: return cfg_apply_lm_key(c, k, v);
  case K_CACHE:
    if (!strcasecmp(v, "auto")) c->data_cache = MT_H5_CACHE_AUTO;
    else if (!strcasecmp(v, "memory")) c->data_cache = MT_H5_CACHE_MEMORY;
    else if (!strcasecmp(v, "none")) c->data_cache = MT_H5_CACHE_NONE;
    else return cfg_key_err(c, MT_E_INVAL, k, "'%s' is not %s", v, cfg_keys[k].hint);
    return MT_OK;
  case K_SCALE: {
    double d;
    MT_TRY(check_float(c, k, -1e30, 0, 1e30, 0, &d));
    if (d == 0)
      return cfg_key_err(c, MT_E_INVAL, k, "0 would make every value 0 (%s)", cfg_keys[k].hint);
    c->data_scale = (float)d;
    return MT_OK;
  }
  case K_MEAN: return check_float_list(c, k, v, c->mean, &c->nmean);
  case K_STD: return check_float_list(c, k, v, c->std, &c->nstd);
  case K_DATA_SHAPE: return check_data_shape(c, k, v);
  case K_PAD:
    MT_TRY(check_int(c, k, 0, 1 << 20, &i64));
    c->pad = (int)i64;
    return MT_OK;
  case K_RAND_CROP: return check_bool(c, k, &c->rand_crop);
  case K_RAND_MIRROR: return check_bool(c, k, &c->rand_mirror);
  case K_SEED: {
    char *end;
    errno = 0;
    unsigned long long s = strtoull(v, &end, 10);
    if (end == v || *end || errno || v[0] == '-')
      return cfg_key_err(c, MT_E_INVAL, k, "'%s' is not a whole number >= 0", v);
    c->seed = s;
    return MT_OK;
  }
  default: return MT_OK;
  }
}

/* [model]: the symbol file or the layers (the network is built later). */
static int apply_model_key(mt_config *c, int k, const char *v) {
  switch (k) {
  case K_SYMBOL:
    if (is_none(v)) return set_str(&c->symbol_path, NULL);
    MT_TRY(check_readable(c, k, v));
    return set_str(&c->symbol_path, v);
  case K_LAYERS: return check_layers(c, k);
  case K_LSTM_LM: return cfg_apply_lm_key(c, k, v);
  case K_PARAMS:
    if (is_none(v)) return set_str(&c->params_path, NULL);
    MT_TRY(check_readable(c, k, v));
    return set_str(&c->params_path, v);
  case K_ALLOW_MISSING: return check_bool(c, k, &c->allow_missing);
  default: return MT_OK;
  }
}

/* [train]: epochs, optimizer and its keys, initializer, metric, devices, kvstore, logging. */
static int apply_train_key(mt_config *c, int k, const char *v) {
  int64_t i64;
  switch (k) {
  case K_NUM_EPOCH:
    MT_TRY(check_int(c, k, 1, 1 << 24, &i64));
    c->num_epoch = (int)i64;
    return MT_OK;
  case K_OPTIMIZER: {
    static const char *const names[] = {"sgd", "nag", "adam", "rmsprop", "adagrad"};
    for (int i = 0; i < 5; i++)
      if (!strcasecmp(v, names[i])) return set_str(&c->optimizer, names[i]);
    char sug[128];
    cfg_suggestion(v, 5, names, sug, sizeof sug);
    return cfg_key_err(c, MT_E_INVAL, k, "unknown optimizer '%s' (%s%s%s)", v, sug,
                       sug[0] ? " " : "", cfg_keys[k].hint);
  }
  case K_LEARNING_RATE: return check_float(c, k, 0.0, 1, INFINITY, 0, &c->learning_rate);
  case K_MOMENTUM: {
    double m;
    return check_float(c, k, 0.0, 0, 1.0, 1, &m);
  }
  case K_WD: {
    double wd;
    return check_float(c, k, 0.0, 0, INFINITY, 0, &wd);
  }
  case K_LR_SCHEDULER:
    return set_str(&c->lr_scheduler, is_none(v) ? NULL : v); /* checked with the lr, later */
  case K_INITIALIZER: return check_initializer(c, k, v);
  case K_EVAL_METRIC: return check_eval_metric(c, k, v);
  case K_CONTEXT: return check_context(c, k);
  case K_KVSTORE: return check_kvstore(c, k, v);
  case K_SPEEDOMETER:
    MT_TRY(check_int(c, k, 0, INT_MAX, &i64));
    c->speedometer = (int)i64;
    return MT_OK;
  case K_WATCHDOG:
    MT_TRY(check_int(c, k, 0, INT_MAX, &i64));
    c->watchdog = (int)i64;
    return MT_OK;
  case K_BUCKET_MB:
    MT_TRY(check_int(c, k, 0, 1 << 20, &i64));
    c->bucket_mb = (int)i64;
    return MT_OK;
  case K_METRICS_FILE: return check_out_file(c, k, v, &c->metrics_file);
  case K_TIMELINE: return check_out_file(c, k, v, &c->timeline);
  case K_BEGIN_NUM_UPDATE:
    /* the update count is an int64 the optimizer adds to and the lr
     * schedules turn into a double: 2^53 keeps every count exact */
    return check_int(c, k, 0, MT_CFG_MAX_NUM_UPDATE, &i64);
  default:
    /* optimizer pass-through keys: one word, checked with the optimizer */
    for (const char *q = v; *q; q++)
      if (isspace((unsigned char)*q))
        return cfg_key_err(c, MT_E_INVAL, k, "'%s' is not a single value (%s)", v,
                           cfg_keys[k].hint);
    return MT_OK;
  }
}

/* [checkpoint]: prefix, period, resume. */
static int apply_checkpoint_key(mt_config *c, int k, const char *v) {
  int64_t i64;
  switch (k) {
  case K_PREFIX: {
    if (is_none(v)) return set_str(&c->prefix, NULL);
    size_t len = strlen(v);
    if (v[len - 1] == '/')
      return cfg_key_err(c, MT_E_INVAL, k,
                         "'%s' ends with '/': a prefix names files (e.g. %smlp "
                         "gives %smlp-0001.h5)",
                         v, v, v);
    return set_str(&c->prefix, v);
  }
  case K_PERIOD:
    MT_TRY(check_int(c, k, 1, INT_MAX, &i64));
    c->period = (int)i64;
    return MT_OK;
  case K_RESUME:
    if (is_none(v)) {
      c->resume = MT_RESUME_NONE;
      return MT_OK;
    }
    if (!strcasecmp(v, "auto")) {
      c->resume = MT_RESUME_AUTO;
      return MT_OK;
    }
    if (parse_i64(v, &i64) != 0 || i64 < 0 || i64 > INT_MAX)
      return cfg_key_err(c, MT_E_INVAL, k, "'%s' is not none, auto or an epoch number >= 0", v);
    c->resume = (int)i64;
    return MT_OK;
  case K_ALSO_PARAMS: return check_bool(c, k, &c->also_params);
  default: return MT_OK;
  }
}

/* Checks key k's value and stores it in the typed fields. */
int cfg_apply_key(mt_config *c, int k) {
  const char *v = c->priv->raw[k].value;
  if (!(cfg_keys[k].flags & F_MULTILINE) && !*v)
    return cfg_key_err(c, MT_E_INVAL, k, "empty value (%s)", cfg_keys[k].hint);
  switch (cfg_keys[k].sec) {
  case SEC_DATA: return apply_data_key(c, k, v);
  case SEC_MODEL: return apply_model_key(c, k, v);
  case SEC_TRAIN: return apply_train_key(c, k, v);
  default: return apply_checkpoint_key(c, k, v);
  }
}

/* --------------------------------------------------- cross checks */

static int check_optimizer(mt_config *c) {
  mt_config_priv *p = c->priv;
  const char *opt = c->optimizer;
  int sgdlike = !strcmp(opt, "sgd") || !strcmp(opt, "nag");
  /* learning_rate: docs/design.md §7's 0.1 for sgd/nag, MXNet's default else */
  if (!p->raw[K_LEARNING_RATE].given)
    c->learning_rate = sgdlike ? 0.1 : !strcmp(opt, "adagrad") ? 0.01 : 0.001;
  if (p->raw[K_MOMENTUM].given && !sgdlike)
    return cfg_key_err(c, MT_E_INVAL, K_MOMENTUM,
                       "optimizer %s takes no momentum (momentum is for "
                       "sgd and nag; remove it, or see docs/config.md for %s's keys)",
                       opt, opt);
  /* every optimizer key on its own first, so an error points at its line */
  for (int i = 0; i < p->norder; i++) {
    int k = p->order[i];
    if (!(cfg_keys[k].flags & F_OPTPASS) && k != K_LEARNING_RATE && k != K_WD && k != K_MOMENTUM)
      continue;
    char one[600];
    snprintf(one, sizeof one, "%s=%s", cfg_keys[k].name, p->raw[k].value);
    mt_optimizer *o = NULL;
    int rc = mt_optimizer_create(opt, one, &o);
    mt_optimizer_free(o);
    if (rc < 0) {
      char msg[1024];
      cfg_last_error_copy(msg, sizeof msg);
      /* a key of another optimizer: say whose */
      static const char *const all[] = {"sgd", "nag", "adam", "rmsprop", "adagrad"};
      char takers[64] = "";
      for (int j = 0; j < 5 && strstr(msg, "unknown parameter"); j++) {
        mt_optimizer *t = NULL;
        if (mt_optimizer_create(all[j], one, &t) == MT_OK) {
          if (takers[0]) strncat(takers, ", ", sizeof takers - strlen(takers) - 1);
          strncat(takers, all[j], sizeof takers - strlen(takers) - 1);
        }
        mt_optimizer_free(t);
      }
      if (takers[0])
        return cfg_key_err(c, MT_E_INVAL, k,
                           "optimizer %s takes no %s (it is for %s: change "
                           "optimizer or remove %s)",
                           opt, cfg_keys[k].name, takers, cfg_keys[k].name);
      return cfg_key_err(c, MT_E_INVAL, k, "%s (see docs/config.md for %s's keys)", msg, opt);
    }
  }
  /* the params string for mt_optimizer_create / mt_module_init_optimizer */
  char params[2048];
  /* the shortest text that reads back to the same double: 0.1, not 0.10000000000000001 */
  char lr[40];
  for (int prec = 6; prec <= 17; prec++) {
    snprintf(lr, sizeof lr, "%.*g", prec, c->learning_rate);
    if (strtod(lr, NULL) == c->learning_rate) break;
  }
  int n = snprintf(params, sizeof params, "learning_rate=%s", lr);
  if (sgdlike || p->raw[K_MOMENTUM].given)
    n += snprintf(params + n, sizeof params - (size_t)n, " momentum=%s",
                  p->raw[K_MOMENTUM].given ? p->raw[K_MOMENTUM].value : "0");
  n += snprintf(params + n, sizeof params - (size_t)n, " wd=%s",
                p->raw[K_WD].given ? p->raw[K_WD].value : "0");
  for (int k = 0; k < NKEYS; k++)
    if ((cfg_keys[k].flags & F_OPTPASS) && p->raw[k].given && (size_t)n < sizeof params)
      n += snprintf(params + n, sizeof params - (size_t)n, " %s=%s", cfg_keys[k].name,
                    p->raw[k].value);
  if ((size_t)n >= sizeof params)
    return cfg_key_err(c, MT_E_INVAL, K_OPTIMIZER, "optimizer parameters are too long");
  mt_optimizer *o = NULL;
  int rc = mt_optimizer_create(opt, params, &o);
  mt_optimizer_free(o);
  if (rc < 0) {
    char msg[1024];
    cfg_last_error_copy(msg, sizeof msg);
    return cfg_key_err(c, MT_E_INVAL, K_OPTIMIZER, "%s", msg);
  }
  MT_TRY(set_str(&c->optimizer_params, params));
  if (c->lr_scheduler) {
    mt_lr_scheduler *s = NULL;
    rc = mt_lr_scheduler_create(c->lr_scheduler, c->learning_rate, &s);
    mt_lr_scheduler_free(s);
    if (rc < 0) {
      return refused_with_hint(c, K_LR_SCHEDULER);
    }
  }
  return MT_OK;
}

int cfg_cross_check(mt_config *c) {
  mt_config_priv *p = c->priv;
  /* required keys, reported at their section's header */
  for (int k = 0; k < NKEYS; k++)
    if ((cfg_keys[k].flags & F_REQUIRED) && !p->raw[k].given) {
      int s = cfg_keys[k].sec;
      if (!p->sec_line[s])
        return cfg_loc_err(c, MT_E_INVAL, NULL, 1, s, cfg_keys[k].name,
                           "required key missing and the "
                           "file has no [%s] section (add [%s] with %s = %s)",
                           cfg_sec_names[s], cfg_sec_names[s], cfg_keys[k].name, cfg_keys[k].hint);
      return cfg_key_err(c, MT_E_INVAL, k, "required key missing (%s = %s)", cfg_keys[k].name,
                         cfg_keys[k].hint);
    }
  /* the model: symbol, layers or lstm_lm, exactly one */
  int has_sym = c->symbol_path != NULL, has_layers = c->nlayers > 0;
  if (c->lstm_lm && (has_sym || has_layers))
    return cfg_key_err(c, MT_E_INVAL, K_LSTM_LM,
                       "give one of symbol, layers and lstm_lm (%s is also given; set it to "
                       "none)",
                       has_sym ? "symbol" : "layers");
  if (has_sym && has_layers) {
    const raw_val *s = &p->raw[K_SYMBOL], *l = &p->raw[K_LAYERS];
    int later = (s->origin && !l->origin) || (!s->origin && !l->origin && s->line > l->line)
                    ? K_SYMBOL
                    : K_LAYERS;
    int other = later == K_SYMBOL ? K_LAYERS : K_SYMBOL;
    char where[700];
    mt_config_where(c, "model", cfg_keys[other].name, where, sizeof where);
    return cfg_key_err(c, MT_E_INVAL, later,
                       "give either symbol or layers, not both (%s is also "
                       "given, at %s; set one to none)",
                       cfg_keys[other].name, where);
  }
  if (!has_sym && !has_layers && !c->lstm_lm) {
    if (p->raw[K_LAYERS].given && !is_none(p->raw[K_LAYERS].value))
      return cfg_key_err(c, MT_E_INVAL, K_LAYERS, "no layers given (%s)", cfg_keys[K_LAYERS].hint);
    int s = SEC_MODEL;
    int line = p->sec_line[s] ? p->sec_line[s] : 1;
    return cfg_loc_err(c, MT_E_INVAL, NULL, line, s, "layers",
                       "the network is missing%s (give "
                       "layers = OP NAME key=value ... lines, or symbol = PATH-symbol.json)",
                       p->sec_line[s] ? "" : " and the file has no [model] section");
  }
  /* data */
  int synthetic = !strcmp(c->train, "synthetic");
  if (c->val && !strcmp(c->val, "synthetic") && !synthetic)
    return cfg_key_err(c, MT_E_INVAL, K_VAL,
                       "val = synthetic needs train = synthetic (the two sets "
                       "share their class means; give val an HDF5 file or none)");
  if (c->synth_ndim > 0) {
    /* the shape sets feature_dim; one written too must agree */
    int64_t n = 1;
    for (int i = 0; i < c->synth_ndim; i++) n *= c->synth_dim[i];
    if (p->raw[K_FEATURE_DIM].given && c->feature_dim != n)
      return cfg_key_err(c, MT_E_INVAL, K_SYNTHETIC_SHAPE,
                         "'%s' is %lld features per sample but feature_dim = %d (remove "
                         "feature_dim: synthetic_shape sets it)",
                         p->raw[K_SYNTHETIC_SHAPE].value, (long long)n, c->feature_dim);
    c->feature_dim = (int)n;
  }
  if (synthetic && c->num_samples < c->batch_size) {
    int k = p->raw[K_BATCH_SIZE].given ? K_BATCH_SIZE : K_NUM_SAMPLES;
    return cfg_key_err(c, MT_E_INVAL, k,
                       "batch_size %lld is larger than the %lld samples of the "
                       "synthetic set (lower batch_size or raise num_samples)",
                       (long long)c->batch_size, (long long)c->num_samples);
  }
  /* train */
  MT_TRY(check_optimizer(c));
  if (!strcmp(c->kvstore, "nccl") && c->ctx[0].type != MT_GPU)
    return cfg_key_err(c, MT_E_INVAL, K_KVSTORE,
                       "nccl reduces between GPUs but context = cpu (use "
                       "local or dist_sync, or context = gpu)");
  /* checkpoint */
  if (c->resume != MT_RESUME_NONE && !c->prefix)
    return cfg_key_err(c, MT_E_INVAL, K_RESUME,
                       "resuming needs [checkpoint] prefix (where the "
                       "checkpoints are)");
  if (c->also_params && !c->prefix)
    return cfg_key_err(c, MT_E_INVAL, K_ALSO_PARAMS,
                       "also_params writes PREFIX-EEEE.params beside each checkpoint: set "
                       "[checkpoint] prefix");
  if (c->allow_missing && !c->params_path && c->priv->raw[K_ALLOW_MISSING].given)
    return cfg_key_err(c, MT_E_INVAL, K_ALLOW_MISSING,
                       "allow_missing applies to [model] params, which is not set");
  return MT_OK;
}

/* --------------------------------------------------- files (training) */

/* Where a checkpoint would go can be written: the prefix's directory, or
 * the nearest existing one above it (training creates the rest), is a
 * writable directory. */
static int check_prefix_dir(mt_config *c) {
  if (!c->prefix) return MT_OK;
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", c->prefix);
  char *slash = strrchr(dir, '/');
  if (!slash) snprintf(dir, sizeof dir, ".");
  else if (slash == dir) dir[1] = '\0';
  else *slash = '\0';
  for (;;) {
    struct stat st;
    if (stat(dir, &st) == 0) {
      if (!S_ISDIR(st.st_mode))
        return cfg_key_err(c, MT_E_INVAL, K_PREFIX,
                           "'%s' is not a directory, so no checkpoint can be written under "
                           "'%s'",
                           dir, c->prefix);
      if (access(dir, W_OK | X_OK) != 0)
        return cfg_key_err(c, MT_E_INVAL, K_PREFIX,
                           "cannot write checkpoints in directory '%s': %s", dir, strerror(errno));
      return MT_OK;
    }
    if (errno != ENOENT)
      return cfg_key_err(c, MT_E_INVAL, K_PREFIX, "cannot create the directory of '%s': %s: %s",
                         c->prefix, dir, strerror(errno));
    /* missing: training creates it, in the directory above */
    slash = strrchr(dir, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == dir) dir[1] = '\0';
    else *slash = '\0';
  }
}

/* An existing metrics_file is appended to: not a directory, and writable
 * (its directory was checked with the key). */
static int check_metrics_target(mt_config *c) {
  struct stat st;
  if (!c->metrics_file || stat(c->metrics_file, &st) != 0) return MT_OK;
  if (S_ISDIR(st.st_mode))
    return cfg_key_err(c, MT_E_INVAL, K_METRICS_FILE, "'%s' is a directory, not a file",
                       c->metrics_file);
  if (access(c->metrics_file, W_OK) != 0)
    return cfg_key_err(c, MT_E_INVAL, K_METRICS_FILE, "cannot write '%s': %s", c->metrics_file,
                       strerror(errno));
  return MT_OK;
}

/* A [model] layers network whose shapes do not infer from the data of
 * key k (data shape d): the layer at fault, found by building the layers
 * again on that shape, named at its line (as config_net.c does for
 * synthetic data). MT_OK when no layer is at fault (a symbol file, or the
 * labels' shapes): the caller reports the data key. */
static int layer_shape_error(mt_config *c, int k, const mt_shape *d) {
  if (c->nlayers == 0) return MT_OK;
  mt_symbol *sym = NULL;
  int bad = -1;
  int rc = mt_net_build(c->nlayers, c->layers, d, &sym, &bad);
  mt_symbol_free(sym);
  const raw_val *r = &c->priv->raw[K_LAYERS];
  if (rc == MT_OK || bad < 0 || bad >= r->nlines) return MT_OK;
  char msg[1024], db[96];
  cfg_last_error_copy(msg, sizeof msg);
  return cfg_loc_err(c, MT_E_INVAL, r->origin, r->lines[bad], SEC_MODEL, "layers",
                     "%s (a batch of [data] %s '%s' is %s)", msg, cfg_keys[k].name,
                     k == K_TRAIN ? c->train : c->val, mt_shape_str(d, db, sizeof db));
}

/* What the network asks of the labels of a dataset whose samples are
 * meta's: its shapes inferred as bind will (data and label), and for a
 * SoftmaxOutput head the classes (and ignore_label) into *rule, its
 * description into why. */
static int network_label_rule(mt_config *c, int k, const mtio_h5_meta *m, mtio_h5_label_rule *rule,
                              char *why, size_t whylen) {
  memset(rule, 0, sizeof *rule);
  int world = mt_dist_world_size();
  int64_t b = c->batch_size / (world > 0 ? world : 1) / (c->nctx > 0 ? c->nctx : 1);
  if (b < 1) b = 1;
  mt_shape in[2] = {{.ndim = m->ndim}, {.ndim = m->label_ndim}};
  for (int i = 0; i < m->ndim; i++) in[0].dim[i] = i ? m->dim[i] : b;
  const int64_t *ds = c->data_shape;
  int augment = ds[0] || c->pad || c->rand_crop || c->rand_mirror;
  if (augment && m->ndim != 4)
    return cfg_key_err(c, MT_E_INVAL,
                       ds[0]          ? K_DATA_SHAPE
                       : c->pad       ? K_PAD
                       : c->rand_crop ? K_RAND_CROP
                                      : K_RAND_MIRROR,
                       "needs images: /data of '%s' must be [N, C, H, W], it has %d dimensions",
                       k == K_TRAIN ? c->train : c->val, m->ndim);
  if (ds[0]) { /* images cut to data_shape: the training set padded, the others not */
    int64_t p = k == K_TRAIN ? c->pad : 0;
    if (ds[0] != m->dim[1] || ds[1] > m->dim[2] + 2 * p || ds[2] > m->dim[3] + 2 * p)
      return cfg_key_err(
          c, MT_E_INVAL, K_DATA_SHAPE,
          "%lld,%lld,%lld does not fit the samples (%lld, %lld, %lld) of '%s'%s: "
          "the channels must match, the height and width be at most the "
          "image's%s",
          (long long)ds[0], (long long)ds[1], (long long)ds[2], (long long)m->dim[1],
          (long long)m->dim[2], (long long)m->dim[3], k == K_TRAIN ? c->train : c->val,
          k == K_TRAIN ? "" : " (validation: no pad)", k == K_TRAIN ? " plus 2 * pad" : "");
    for (int i = 1; i < 4; i++) in[0].dim[i] = ds[i - 1];
  }
  for (int i = 0; i < m->label_ndim; i++) in[1].dim[i] = i ? m->label_dim[i] : b;
  const char *names[2] = {"data", c->label_names[0]};
  int narg, nout, naux;
  const char *const *list;
  MT_TRY(mt_symbol_list_arguments(c->symbol, &narg, &list));
  MT_TRY(mt_symbol_list_outputs(c->symbol, &nout, &list));
  MT_TRY(mt_symbol_list_auxiliary_states(c->symbol, &naux, &list));
  mt_shape *buf = calloc((size_t)(narg + nout + naux) + 1, sizeof *buf);
  if (!buf) return MT_NOMEM();
  int rc = mt_symbol_infer_shape(c->symbol, c->nlabels == 1 ? 2 : 1, names, in, buf, buf + narg,
                                 buf + narg + nout);
  mt_shape o = buf[narg];
  free(buf);
  if (rc < 0) {
    char msg[1024], db[96], lb[96];
    cfg_last_error_copy(msg, sizeof msg);
    MT_TRY(layer_shape_error(c, k, &in[0]));
    return cfg_key_err(c, MT_E_INVAL, k,
                       "the network does not take the samples of '%s': %s "
                       "(data %s, labels %s)",
                       k == K_TRAIN ? c->train : c->val, msg, mt_shape_str(&in[0], db, sizeof db),
                       mt_shape_str(&in[1], lb, sizeof lb));
  }
  const mt_node *head = c->symbol->nout == 1 ? c->symbol->outputs[0].node : NULL;
  if (!head || !head->op || strcmp(head->op->name, "SoftmaxOutput") || o.ndim < 2) return MT_OK;
  int multi = 0, preserve = 0, ignore = 0;
  double ign = -1;
  const char *op = "SoftmaxOutput";
  MT_TRY(mt_attr_bool(&head->attrs, op, head->name, "multi_output", 0, &multi));
  MT_TRY(mt_attr_bool(&head->attrs, op, head->name, "preserve_shape", 0, &preserve));
  MT_TRY(mt_attr_bool(&head->attrs, op, head->name, "use_ignore", 0, &ignore));
  MT_TRY(mt_attr_float(&head->attrs, op, head->name, "ignore_label", -1.0, &ign));
  int64_t classes = multi ? o.dim[1] : preserve ? o.dim[o.ndim - 1] : mt_shape_size(&o) / o.dim[0];
  rule->classes = classes;
  rule->use_ignore = ignore;
  rule->ignore_label = (float)ign;
  snprintf(why, whylen, "the network's SoftmaxOutput '%s' has %lld classes%s", head->name,
           (long long)classes, ignore ? " and use_ignore" : "");
  rule->why = why;
  return MT_OK;
}

/* A dataset file of [data] train (k = K_TRAIN) or val: a regular file
 * that opens as a dataset (float32 /data and /label of ranks [N, ...] and
 * the same N, its rows in the file), samples the network takes (val: as
 * train's), memory for its iterator, and with scan every label checked. */
static int check_data_file(mt_config *c, int k, const char *path, int scan,
                           const mtio_h5_meta *train_meta, mtio_h5_meta *out) {
  mtio_h5_reader *r = NULL;
  char msg[1024];
  int rc = mtio_h5_open(path, &r);
  const mtio_h5_meta *m = rc == MT_OK ? mtio_h5_reader_meta(r) : NULL;
  if (rc == MT_OK && m->dim[0] < 1)
    rc = mt_error_set(MT_E_FORMAT, "%s: the dataset holds no samples (N = 0)", path);
  if (rc == MT_OK)
    rc = mt_h5_iter_check_memory(path, m->dim[0], c->batch_size, mt_dist_world_size(), m->row,
                                 m->label_row);
  if (rc < 0) {
    mtio_h5_close(r);
    cfg_last_error_copy(msg, sizeof msg);
    return cfg_key_err(c, MT_E_INVAL, k, "%s", msg);
  }
  if (k == K_VAL) {
    /* the network is bound to train's shapes */
    int same = m->ndim == train_meta->ndim && m->label_ndim == train_meta->label_ndim;
    for (int i = 1; same && i < m->ndim; i++) same = m->dim[i] == train_meta->dim[i];
    for (int i = 1; same && i < m->label_ndim; i++)
      same = m->label_dim[i] == train_meta->label_dim[i];
    if (!same) {
      mt_shape a = {.ndim = m->ndim}, b = {.ndim = train_meta->ndim};
      for (int i = 0; i < a.ndim; i++) a.dim[i] = m->dim[i];
      for (int i = 0; i < b.ndim; i++) b.dim[i] = train_meta->dim[i];
      char sa[96], sb[96];
      rc = cfg_key_err(c, MT_E_INVAL, k,
                       "%s: /data %s and its labels (%lld per sample) do not match the "
                       "training set %s: /data %s, labels %lld per sample",
                       path, mt_shape_str(&a, sa, sizeof sa), (long long)m->label_row, c->train,
                       mt_shape_str(&b, sb, sizeof sb), (long long)train_meta->label_row);
      mtio_h5_close(r);
      return rc;
    }
  }
  mtio_h5_label_rule rule;
  char why[256];
  rc = network_label_rule(c, k, m, &rule, why, sizeof why);
  if (rc == MT_OK && scan) {
    rc = mtio_h5_scan(r, &rule);
    if (rc < 0) {
      cfg_last_error_copy(msg, sizeof msg);
      rc = cfg_key_err(c, MT_E_INVAL, k, "%s", msg);
    }
  }
  if (rc == MT_OK) *out = *m;
  mtio_h5_close(r);
  return rc;
}

/* /data's shape [N, d1, ...] of a dataset file. */
static void meta_shape(const mtio_h5_meta *m, mt_shape *s) {
  s->ndim = m->ndim;
  for (int i = 0; i < m->ndim; i++) s->dim[i] = m->dim[i];
}

int mt_config_check_files(mt_config *c, int scan_labels) {
  MT_TRY(check_prefix_dir(c));
  MT_TRY(check_metrics_target(c));
  /* synthetic: (N, feature_dim) or (N, synthetic_shape) samples, (N) labels */
  mtio_h5_meta train_meta;
  memset(&train_meta, 0, sizeof train_meta);
  mt_shape syn = mt_config_synthetic_shape(c, c->num_samples);
  train_meta.ndim = syn.ndim;
  for (int i = 0; i < syn.ndim; i++) train_meta.dim[i] = syn.dim[i];
  train_meta.label_ndim = 1;
  train_meta.row = c->feature_dim;
  train_meta.label_row = 1;
  memset(&c->train_shape, 0, sizeof c->train_shape);
  memset(&c->val_shape, 0, sizeof c->val_shape);
  mtio_h5_meta val_meta = train_meta;
  /* token-sequence files: the bucketed sentence iterator's checks */
  int seq_train = strcmp(c->train, "synthetic") && mtio_seq_probe(c->train);
  int seq_val = c->val && strcmp(c->val, "synthetic") && mtio_seq_probe(c->val);
  if (c->val && strcmp(c->val, "synthetic") && seq_val != seq_train)
    return cfg_key_err(c, MT_E_INVAL, K_VAL,
                       "'%s' is %s but train '%s' is %s: give both in one layout", c->val,
                       seq_val ? "a token-sequence file" : "not a token-sequence file", c->train,
                       seq_train ? "one" : "not");
  if (seq_train) MT_TRY(cfg_check_seq_file(c, K_TRAIN, c->train, &c->train_shape));
  if (seq_val) MT_TRY(cfg_check_seq_file(c, K_VAL, c->val, &c->val_shape));
  if (strcmp(c->train, "synthetic") && !seq_train) {
    MT_TRY(check_data_file(c, K_TRAIN, c->train, scan_labels, NULL, &train_meta));
    meta_shape(&train_meta, &c->train_shape);
  }
  if (c->val && strcmp(c->val, "synthetic") && !seq_val) {
    MT_TRY(check_data_file(c, K_VAL, c->val, scan_labels, &train_meta, &val_meta));
    meta_shape(&val_meta, &c->val_shape);
  }
  return MT_OK;
}
