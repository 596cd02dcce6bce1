/* config_keys.c — the keys of the job config (docs/design.md §7; docs/config.md)
 * in one table: section, default, flags, the hint an error gives and the
 * line --help and the docs check show; the messages that name a key where
 * it was written ("FILE:LINE: [section] key: ..."); and the queries on a
 * loaded config (where a value came from, the effective config as INI). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_keys.h"
#include "base/error.h"

const char *const cfg_sec_names[NSEC] = {"data", "model", "train", "checkpoint"};

const key_def cfg_keys[NKEYS] = {
    [K_TRAIN] = {SEC_DATA, "train", NULL, F_REQUIRED, "synthetic, or the path of an HDF5 dataset",
                 "training data: synthetic, or PATH.h5"},
    [K_VAL] = {SEC_DATA, "val", "none", 0, "synthetic, the path of an HDF5 dataset, or none",
               "validation data: synthetic, PATH.h5 or none"},
    [K_NUM_CLASSES] = {SEC_DATA, "num_classes", "10", 0, "a whole number >= 2, e.g. 10",
                       "synthetic data: number of classes"},
    [K_FEATURE_DIM] = {SEC_DATA, "feature_dim", "128", 0, "a whole number >= 1, e.g. 128",
                       "synthetic data: features per sample"},
    [K_SYNTHETIC_SHAPE] = {SEC_DATA, "synthetic_shape", "none", 0,
                           "none, or the shape of one sample, e.g. 1,28,28 (channels, height, "
                           "width)",
                           "synthetic data: shape of one sample (none: (feature_dim))"},
    [K_NUM_SAMPLES] = {SEC_DATA, "num_samples", "320", 0, "a whole number >= 1, e.g. 320",
                       "synthetic data: samples per set (train and val each)"},
    [K_BATCH_SIZE] = {SEC_DATA, "batch_size", "32", 0,
                      "the global batch over all ranks, a whole number >= 1, e.g. 32",
                      "global batch size (split over ranks and contexts)"},
    [K_SHUFFLE] = {SEC_DATA, "shuffle", "true", 0, "true or false",
                   "reshuffle the training set every epoch"},
    [K_SEED] = {SEC_DATA, "seed", "0", 0, "a whole number >= 0",
                "seed of the synthetic data, the initializer and the shuffling"},
    [K_CACHE] = {SEC_DATA, "cache", "auto", 0, "auto, memory or none",
                 "HDF5 files: auto | memory (read /data once) | none (stream)"},
    [K_SCALE] = {SEC_DATA, "scale", "1", 0, "a nonzero number, e.g. 0.00392156 (1/255)",
                 "HDF5 files: /data values become (x - mean) * scale / std"},
    [K_MEAN] = {SEC_DATA, "mean", "none", 0,
                "none, or 1 value or one per channel (axis 1), e.g. 123.68, 116.78, 103.94",
                "HDF5 files: mean subtracted per channel (MXNet's mean_r/g/b)"},
    [K_STD] = {SEC_DATA, "std", "none", 0,
               "none, or 1 nonzero value or one per channel (axis 1), e.g. 58.4, 57.1, 57.4",
               "HDF5 files: standard deviation divided per channel (MXNet's std_r/g/b)"},
    [K_DATA_SHAPE] = {SEC_DATA, "data_shape", "none", 0,
                      "none, or C,H,W of a sample after cropping, e.g. 3,28,28",
                      "HDF5 images [N, C, H, W]: samples cut to C,H,W (val: the center)"},
    [K_PAD] = {SEC_DATA, "pad", "0", 0, "a whole number >= 0, e.g. 4",
               "HDF5 images, training: zero border added on each side before the crop"},
    [K_RAND_CROP] = {SEC_DATA, "rand_crop", "false", 0, "true or false",
                     "HDF5 images, training: crop at a random position (else the center)"},
    [K_RAND_MIRROR] = {SEC_DATA, "rand_mirror", "false", 0, "true or false",
                       "HDF5 images, training: flip left-right with probability 1/2"},
    [K_SYMBOL] = {SEC_MODEL, "symbol", NULL, 0, "the path of an MXNet PREFIX-symbol.json",
                  "the network as an MXNet -symbol.json (or give layers)"},
    [K_LAYERS] = {SEC_MODEL, "layers", NULL, F_MULTILINE,
                  "one layer per line: OP NAME key=value ..., e.g. FullyConnected fc1 "
                  "num_hidden=64",
                  "the network, one layer per line: OP NAME key=value ..."},
    [K_NUM_EPOCH] = {SEC_TRAIN, "num_epoch", "5", 0, "a whole number >= 1, e.g. 5",
                     "epochs to train"},
    [K_OPTIMIZER] = {SEC_TRAIN, "optimizer", "sgd", 0, "sgd, nag, adam, rmsprop or adagrad",
                     "sgd | nag | adam | rmsprop | adagrad"},
    [K_LEARNING_RATE] = {SEC_TRAIN, "learning_rate", "0.1", 0, "a number > 0, e.g. 0.1",
                         "learning rate (default 0.1 for sgd/nag; adam, rmsprop 0.001; "
                         "adagrad 0.01)"},
    [K_MOMENTUM] = {SEC_TRAIN, "momentum", "0", 0, "a number in [0, 1), e.g. 0.9",
                    "momentum (sgd and nag only)"},
    [K_WD] = {SEC_TRAIN, "wd", "0", 0, "a number >= 0, e.g. 0.0001",
              "weight decay (applied to *_weight and *_gamma only, as MXNet)"},
    [K_RESCALE_GRAD] = {SEC_TRAIN, "rescale_grad", NULL, F_OPTPASS, "a number, e.g. 0.03125",
                        "gradient scale (default 1/batch_size)"},
    [K_CLIP_GRADIENT] = {SEC_TRAIN, "clip_gradient", NULL, F_OPTPASS, "a number > 0, or None",
                         "clip gradients to [-v, v] (default none)"},
    [K_BEGIN_NUM_UPDATE] = {SEC_TRAIN, "begin_num_update", NULL, F_OPTPASS,
                            "a whole number in [0, 2^53]",
                            "update count to start from (default 0)"},
    [K_MULTI_PRECISION] = {SEC_TRAIN, "multi_precision", NULL, F_OPTPASS, "true or false",
                           "MXNet's flag; no effect on float32 (default false)"},
    [K_LAZY_UPDATE] = {SEC_TRAIN, "lazy_update", NULL, F_OPTPASS, "true or false",
                       "sgd, adam: MXNet's flag; no effect on dense arrays (default true)"},
    [K_BETA1] = {SEC_TRAIN, "beta1", NULL, F_OPTPASS, "a number, e.g. 0.9",
                 "adam: first moment decay (default 0.9)"},
    [K_BETA2] = {SEC_TRAIN, "beta2", NULL, F_OPTPASS, "a number, e.g. 0.999",
                 "adam: second moment decay (default 0.999)"},
    [K_EPSILON] = {SEC_TRAIN, "epsilon", NULL, F_OPTPASS, "a small number, e.g. 1e-8",
                   "adam, rmsprop: denominator epsilon (default 1e-8)"},
    [K_GAMMA1] = {SEC_TRAIN, "gamma1", NULL, F_OPTPASS, "a number, e.g. 0.9",
                  "rmsprop: decay of the squared gradient average (default 0.9)"},
    [K_GAMMA2] = {SEC_TRAIN, "gamma2", NULL, F_OPTPASS, "a number, e.g. 0.9",
                  "rmsprop centered: momentum (default 0.9)"},
    [K_CENTERED] = {SEC_TRAIN, "centered", NULL, F_OPTPASS, "true or false",
                    "rmsprop: centered variant (Graves 2013) (default false)"},
    [K_CLIP_WEIGHTS] = {SEC_TRAIN, "clip_weights", NULL, F_OPTPASS, "a number > 0, or None",
                        "rmsprop: clip weights to [-v, v] (default none)"},
    [K_EPS] = {SEC_TRAIN, "eps", NULL, F_OPTPASS, "a small number, e.g. 1e-7",
               "adagrad: denominator epsilon (default 1e-7)"},
    [K_LR_SCHEDULER] = {SEC_TRAIN, "lr_scheduler", "none", 0,
                        "none, or e.g. factor step=1000 factor=0.9",
                        "learning rate schedule: none | factor | multifactor | poly | cosine ..."},
    [K_INITIALIZER] = {SEC_TRAIN, "initializer", "xavier magnitude=2", 0,
                       "e.g. xavier magnitude=2, uniform scale=0.07, normal sigma=0.01",
                       "how parameters are initialized"},
    [K_EVAL_METRIC] = {SEC_TRAIN, "eval_metric", "acc", 0, "e.g. acc, or acc,ce for several",
                       "metrics, comma-separated"},
    [K_CONTEXT] = {SEC_TRAIN, "context", "cpu", 0, "cpu, gpu, cpu:0,1 or gpu:0,1",
                   "devices of each rank: cpu | gpu | cpu:0,1 | gpu:0,1"},
    [K_KVSTORE] = {SEC_TRAIN, "kvstore", "dist_sync", 0, "local, device, nccl, dist_sync or hier",
                   "gradient reduction: local | device | nccl | dist_sync | hier"},
    [K_SPEEDOMETER] = {SEC_TRAIN, "speedometer", "0", 0, "a whole number >= 0; 0 = off",
                       "log speed and metrics every N batches, 0 = off"},
    [K_METRICS_FILE] = {SEC_TRAIN, "metrics_file", "none", 0, "a file path, or none",
                        "JSON lines file of metrics, or none"},
    [K_TIMELINE] = {SEC_TRAIN, "timeline", "none", 0, "a file path (e.g. trace.json), or none",
                    "Chrome/Perfetto trace of the run (per rank: PATH.rankN.json), or none"},
    [K_WATCHDOG] = {SEC_TRAIN, "watchdog", "0", 0, "seconds >= 0, e.g. 300; 0 = off",
                    "end the whole job when a rank makes no progress for this many seconds "
                    "(0 = off)"},
    [K_BUCKET_MB] = {SEC_TRAIN, "bucket_mb", "25", 0, "a number of MiB >= 0, e.g. 25",
                     "gradient bucket size in MiB for reduction during backward (0 = one "
                     "bucket)"},
    [K_PREFIX] = {SEC_CHECKPOINT, "prefix", "none", 0, "a path prefix such as ckpt/mlp, or none",
                  "checkpoint files PREFIX-symbol.json, PREFIX-EEEE.h5 (none: no checkpoints)"},
    [K_PERIOD] = {SEC_CHECKPOINT, "period", "1", 0, "a whole number >= 1, e.g. 1",
                  "epochs between checkpoints"},
    [K_RESUME] = {SEC_CHECKPOINT, "resume", "none", 0, "none, auto or an epoch number",
                  "none | auto (newest complete checkpoint) | EPOCH"},
    [K_LSTM_LM] = {SEC_MODEL, "lstm_lm", NULL, 0,
                   "num_layers=2 num_embed=200 num_hidden=200 [vocab=N], each optional",
                   "MXNet's lstm_bucketing.py network: num_layers=2 num_embed=200 "
                   "num_hidden=200 [vocab=N]"},
    [K_BUCKETS] = {SEC_DATA, "buckets", "none", 0,
                   "sequence lengths from 1 to 64, e.g. 10,20,30,40,50,60, or none",
                   "token-sequence files: bucket lengths (none: every length with a full batch)"},
    [K_INVALID_LABEL] = {SEC_DATA, "invalid_label", "0", 0, "a whole number >= -1, e.g. 0",
                         "token-sequence files: the padding token and the last label"},
    [K_PARAMS] = {SEC_MODEL, "params", "none", 0,
                  "the path of an MXNet PREFIX-EEEE.params or a modtrain PREFIX-EEEE.h5, or none",
                  "initial parameters: an MXNet .params or a modtrain checkpoint .h5 (none: the "
                  "initializer)"},
    [K_ALLOW_MISSING] = {SEC_MODEL, "allow_missing", "false", 0, "true or false",
                         "params: parameters the file lacks get the initializer, and names the "
                         "network lacks are ignored (fine-tuning a changed network)"},
    [K_ALSO_PARAMS] = {SEC_CHECKPOINT, "also_params", "false", 0, "true or false",
                       "also write PREFIX-EEEE.params (MXNet's format) beside each checkpoint"},
};

int mt_config_num_keys(void) { return NKEYS; }

void mt_config_key_info(int i, const char **section, const char **key, const char **def,
                        const char **doc) {
  if (i < 0 || i >= NKEYS) {
    *section = *key = *def = *doc = NULL;
    return;
  }
  *section = cfg_sec_names[cfg_keys[i].sec];
  *key = cfg_keys[i].name;
  *def = cfg_keys[i].def ? cfg_keys[i].def : "";
  *doc = cfg_keys[i].doc;
}

int cfg_find_section(const char *name) {
  for (int s = 0; s < NSEC; s++)
    if (!strcmp(name, cfg_sec_names[s])) return s;
  return -1;
}

int cfg_find_key(int sec, const char *name) {
  for (int k = 0; k < NKEYS; k++)
    if (cfg_keys[k].sec == sec && !strcmp(cfg_keys[k].name, name)) return k;
  return -1;
}

/* ------------------------------------------------------------- errors */

/* "FILE:LINE: [sec] key: " for the file, "ORIGIN: [sec] key: " for an
 * override; the key part is left out when key is NULL. */
static void where_prefix(const mt_config *c, const char *origin, int line, int sec, const char *key,
                         char *buf, size_t n) {
  char loc[600];
  if (origin) snprintf(loc, sizeof loc, "%s", origin);
  else snprintf(loc, sizeof loc, "%s:%d", c->path, line > 0 ? line : 1);
  if (sec >= 0 && key) snprintf(buf, n, "%s: [%s] %s: ", loc, cfg_sec_names[sec], key);
  else if (sec >= 0) snprintf(buf, n, "%s: [%s]: ", loc, cfg_sec_names[sec]);
  else snprintf(buf, n, "%s: ", loc);
}

int cfg_verr(const mt_config *c, int code, const char *origin, int line, int sec, const char *key,
             const char *fmt, va_list ap) {
  char pre[800], msg[1400];
  where_prefix(c, origin, line, sec, key, pre, sizeof pre);
  vsnprintf(msg, sizeof msg, fmt, ap);
  return mt_error_set(code, "%s%s", pre, msg);
}

int cfg_loc_err(const mt_config *c, int code, const char *origin, int line, int sec,
                const char *key, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = cfg_verr(c, code, origin, line, sec, key, fmt, ap);
  va_end(ap);
  return rc;
}

/* An error about key k, at the place its value came from; a key left at its
 * default is reported at its section's header (line 1 without one). */
int cfg_key_err(const mt_config *c, int code, int k, const char *fmt, ...) {
  const raw_val *r = &c->priv->raw[k];
  int line = r->given ? r->line : c->priv->sec_line[cfg_keys[k].sec];
  va_list ap;
  va_start(ap, fmt);
  int rc = cfg_verr(c, code, r->given ? r->origin : NULL, line, cfg_keys[k].sec, cfg_keys[k].name,
                    fmt, ap);
  va_end(ap);
  return rc;
}

/* The library's message, copied so that it can be formatted into a new one. */
void cfg_last_error_copy(char *buf, size_t n) { snprintf(buf, n, "%s", mt_last_error()); }

/* "(did you mean X?)" or "" */
void cfg_suggestion(const char *word, int n, const char *const *choices, char *buf, size_t len) {
  const char *best = mt_closest_name(word, n, choices);
  if (best) snprintf(buf, len, "did you mean %s?", best);
  else buf[0] = '\0';
}

/* The message for an unknown key in section sec. */
int cfg_unknown_key(const mt_config *c, const char *origin, int line, int sec, const char *name) {
  const char *cands[NKEYS];
  int n = 0;
  char list[700] = "";
  for (int k = 0; k < NKEYS; k++)
    if (cfg_keys[k].sec == sec) {
      cands[n++] = cfg_keys[k].name;
      if (list[0]) strncat(list, ", ", sizeof list - strlen(list) - 1);
      strncat(list, cfg_keys[k].name, sizeof list - strlen(list) - 1);
    }
  for (int s = 0; s < NSEC; s++) {
    int k = s == sec ? -1 : cfg_find_key(s, name);
    if (k >= 0)
      return cfg_loc_err(c, MT_E_FORMAT, origin, line, sec, name,
                         "unknown key in [%s] (it belongs in [%s])", cfg_sec_names[sec],
                         cfg_sec_names[s]);
  }
  char sug[128];
  cfg_suggestion(name, n, cands, sug, sizeof sug);
  if (sug[0]) return cfg_loc_err(c, MT_E_FORMAT, origin, line, sec, name, "unknown key (%s)", sug);
  return cfg_loc_err(c, MT_E_FORMAT, origin, line, sec, name, "unknown key (keys of [%s]: %s)",
                     cfg_sec_names[sec], list);
}

int cfg_unknown_section(const mt_config *c, const char *origin, int line, const char *name) {
  char sug[128];
  cfg_suggestion(name, NSEC, cfg_sec_names, sug, sizeof sug);
  char pre[700];
  if (origin) snprintf(pre, sizeof pre, "%s", origin);
  else snprintf(pre, sizeof pre, "%s:%d", c->path, line);
  return mt_error_set(MT_E_FORMAT,
                      "%s: [%s]: unknown section (%s%ssections: data, model, "
                      "train, checkpoint)",
                      pre, name, sug, sug[0] ? " " : "");
}

/* ------------------------------------------------------------ queries */

int mt_config_check_world(const mt_config *c, int world_size) {
  if (world_size < 1) return MT_ERR(MT_E_INVAL, "world size %d must be >= 1", world_size);
  if (c->batch_size % world_size)
    return cfg_key_err(c, MT_E_INVAL, K_BATCH_SIZE,
                       "batch_size %lld is not divisible by %d ranks; "
                       "use a multiple of %d",
                       (long long)c->batch_size, world_size, world_size);
  return MT_OK;
}

static int lookup(const char *section, const char *key) {
  int s = section ? cfg_find_section(section) : -1;
  return s < 0 || !key ? -1 : cfg_find_key(s, key);
}

const char *mt_config_where(const mt_config *c, const char *section, const char *key, char *buf,
                            size_t len) {
  int k = lookup(section, key);
  const raw_val *r = k >= 0 ? &c->priv->raw[k] : NULL;
  if (!r || !r->given) snprintf(buf, len, "%s (default)", c->path);
  else if (r->origin) snprintf(buf, len, "%s", r->origin);
  else snprintf(buf, len, "%s:%d", c->path, r->line);
  return buf;
}

int mt_config_given(const mt_config *c, const char *section, const char *key) {
  int k = lookup(section, key);
  return k >= 0 && c->priv->raw[k].given;
}

int mt_config_to_ini(const mt_config *c, char **out) {
  *out = NULL;
  char *buf = NULL;
  size_t size = 0;
  FILE *f = open_memstream(&buf, &size);
  if (!f) return MT_NOMEM();
  for (int sec = 0; sec < NSEC; sec++) {
    fprintf(f, "%s[%s]\n", sec ? "\n" : "", cfg_sec_names[sec]);
    for (int k = 0; k < NKEYS; k++) {
      if (cfg_keys[k].sec != sec) continue;
      const raw_val *r = &c->priv->raw[k];
      const char *v = r->given ? r->value : cfg_keys[k].def;
      char num[64];
      if (k == K_LEARNING_RATE && !r->given) {
        snprintf(num, sizeof num, "%.17g", c->learning_rate);
        v = num;
      }
      /* synthetic_shape sets feature_dim: the effective config says so,
       * and reads back without a conflict */
      if (k == K_FEATURE_DIM && !r->given && c->synth_ndim > 0) {
        snprintf(num, sizeof num, "%d", c->feature_dim);
        v = num;
      }
      if (!v || ((cfg_keys[k].flags & F_MULTILINE) && r->nlines == 0)) continue;
      /* momentum's default belongs to sgd and nag: another optimizer rejects it */
      if (k == K_MOMENTUM && !r->given && strcmp(c->optimizer, "sgd") &&
          strcmp(c->optimizer, "nag"))
        continue;
      fprintf(f, "%s = ", cfg_keys[k].name);
      /* layers: one per line, the continuation lines indented */
      for (const char *q = v; *q; q++) {
        fputc(*q, f);
        if (*q == '\n') fprintf(f, "%*s", (int)strlen(cfg_keys[k].name) + 3, "");
      }
      fputc('\n', f);
    }
  }
  if (fclose(f) != 0 || !buf) {
    free(buf);
    return MT_NOMEM();
  }
  *out = buf;
  return MT_OK;
}
