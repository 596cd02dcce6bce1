/* config.c — the job config of `modtrain` (DESIGN.md §7; keys in
 * docs/config.md): an INI file read with inih into mt_config, then every
 * value checked, the keys cross-checked and the network built, so that a
 * mistake is one line naming file, line and key before anything runs.
 *
 * inih (Debian's build: handler without line numbers, 200-character lines,
 * only ';' as an inline comment) is driven through ini_parse_stream with our
 * own line reader. The reader numbers the lines, strips inline comments
 * (';' or '#' at the start or after whitespace), normalises section headers
 * and classifies each line as inih will (a section, a key, or an indented
 * continuation of the previous key's value), so the handler knows the line
 * and the kind of every value it gets. */
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/stat.h>

#include "config.h"
#include "base/error.h"

/* ------------------------------------------------------------ the keys */

enum { SEC_DATA, SEC_MODEL, SEC_TRAIN, SEC_CHECKPOINT, NSEC };
static const char *const sec_names[NSEC] = {"data", "model", "train", "checkpoint"};

typedef enum {
  K_TRAIN,
  K_VAL,
  K_NUM_CLASSES,
  K_FEATURE_DIM,
  K_NUM_SAMPLES,
  K_BATCH_SIZE,
  K_SHUFFLE,
  K_SEED,
  K_SYMBOL,
  K_LAYERS,
  K_NUM_EPOCH,
  K_OPTIMIZER,
  K_LEARNING_RATE,
  K_MOMENTUM,
  K_WD,
  K_RESCALE_GRAD,
  K_CLIP_GRADIENT,
  K_BEGIN_NUM_UPDATE,
  K_MULTI_PRECISION,
  K_LAZY_UPDATE,
  K_BETA1,
  K_BETA2,
  K_EPSILON,
  K_GAMMA1,
  K_GAMMA2,
  K_CENTERED,
  K_CLIP_WEIGHTS,
  K_EPS,
  K_LR_SCHEDULER,
  K_INITIALIZER,
  K_EVAL_METRIC,
  K_CONTEXT,
  K_KVSTORE,
  K_SPEEDOMETER,
  K_METRICS_FILE,
  K_WATCHDOG,
  K_BUCKET_MB,
  K_PREFIX,
  K_PERIOD,
  K_RESUME,
  NKEYS
} key_id;

#define F_REQUIRED 1u  /* no default: must be given */
#define F_MULTILINE 2u /* indented continuation lines add to the value */
#define F_OPTPASS 4u   /* passed through to the optimizer's params */

typedef struct {
  int sec;
  const char *name;
  const char *def; /* default as config text; NULL: none (absent) */
  unsigned flags;
  const char *hint; /* what a good value looks like, for error hints */
  const char *doc;  /* one line for --help and the docs check */
} key_def;

static const key_def keys[NKEYS] = {
    [K_TRAIN] = {SEC_DATA, "train", NULL, F_REQUIRED, "synthetic, or the path of an HDF5 dataset",
                 "training data: synthetic, or PATH.h5"},
    [K_VAL] = {SEC_DATA, "val", "none", 0, "synthetic, the path of an HDF5 dataset, or none",
               "validation data: synthetic, PATH.h5 or none"},
    [K_NUM_CLASSES] = {SEC_DATA, "num_classes", "10", 0, "a whole number >= 2, e.g. 10",
                       "synthetic data: number of classes"},
    [K_FEATURE_DIM] = {SEC_DATA, "feature_dim", "128", 0, "a whole number >= 1, e.g. 128",
                       "synthetic data: features per sample"},
    [K_NUM_SAMPLES] = {SEC_DATA, "num_samples", "320", 0, "a whole number >= 1, e.g. 320",
                       "synthetic data: samples per set (train and val each)"},
    [K_BATCH_SIZE] = {SEC_DATA, "batch_size", "32", 0,
                      "the global batch over all ranks, a whole number >= 1, e.g. 32",
                      "global batch size (split over ranks and contexts)"},
    [K_SHUFFLE] = {SEC_DATA, "shuffle", "true", 0, "true or false",
                   "reshuffle the training set every epoch"},
    [K_SEED] = {SEC_DATA, "seed", "0", 0, "a whole number >= 0",
                "seed of the synthetic data, the initializer and the shuffling"},
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
    [K_BEGIN_NUM_UPDATE] = {SEC_TRAIN, "begin_num_update", NULL, F_OPTPASS, "a whole number >= 0",
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
};

int mt_config_num_keys(void) { return NKEYS; }

void mt_config_key_info(int i, const char **section, const char **key, const char **def,
                        const char **doc) {
  if (i < 0 || i >= NKEYS) {
    *section = *key = *def = *doc = NULL;
    return;
  }
  *section = sec_names[keys[i].sec];
  *key = keys[i].name;
  *def = keys[i].def ? keys[i].def : "";
  *doc = keys[i].doc;
}

/* --------------------------------------------------- what was written */

typedef struct {
  int given;
  char *value;        /* as written; layers: the value lines joined by '\n' */
  int line;           /* line of the key in the file; 0 for an override */
  const char *origin; /* NULL: the file; "--set" or "--resume" for an override */
  int nlines;
  int *lines; /* layers: the line of each value line (0 for overrides) */
} raw_val;

struct mt_config_priv {
  raw_val raw[NKEYS];
  int sec_line[NSEC]; /* first header line of each section, 0 if absent */
  int order[NKEYS];   /* given keys, in the order they were given */
  int norder;
};

static int find_section(const char *name) {
  for (int s = 0; s < NSEC; s++)
    if (!strcmp(name, sec_names[s])) return s;
  return -1;
}

static int find_key(int sec, const char *name) {
  for (int k = 0; k < NKEYS; k++)
    if (keys[k].sec == sec && !strcmp(keys[k].name, name)) return k;
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
  if (sec >= 0 && key) snprintf(buf, n, "%s: [%s] %s: ", loc, sec_names[sec], key);
  else if (sec >= 0) snprintf(buf, n, "%s: [%s]: ", loc, sec_names[sec]);
  else snprintf(buf, n, "%s: ", loc);
}

static int verr(const mt_config *c, int code, const char *origin, int line, int sec,
                const char *key, const char *fmt, va_list ap) {
  char pre[800], msg[1400];
  where_prefix(c, origin, line, sec, key, pre, sizeof pre);
  vsnprintf(msg, sizeof msg, fmt, ap);
  return mt_error_set(code, "%s%s", pre, msg);
}

static int loc_err(const mt_config *c, int code, const char *origin, int line, int sec,
                   const char *key, const char *fmt, ...) __attribute__((format(printf, 7, 8)));
static int loc_err(const mt_config *c, int code, const char *origin, int line, int sec,
                   const char *key, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = verr(c, code, origin, line, sec, key, fmt, ap);
  va_end(ap);
  return rc;
}

/* An error about key k, at the place its value came from; a key left at its
 * default is reported at its section's header (line 1 without one). */
static int key_err(const mt_config *c, int code, int k, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int key_err(const mt_config *c, int code, int k, const char *fmt, ...) {
  const raw_val *r = &c->priv->raw[k];
  int line = r->given ? r->line : c->priv->sec_line[keys[k].sec];
  va_list ap;
  va_start(ap, fmt);
  int rc = verr(c, code, r->given ? r->origin : NULL, line, keys[k].sec, keys[k].name, fmt, ap);
  va_end(ap);
  return rc;
}

/* The library's message, copied so that it can be formatted into a new one. */
static void last_error_copy(char *buf, size_t n) { snprintf(buf, n, "%s", mt_last_error()); }

/* "(did you mean X?)" or "" */
static void suggestion(const char *word, int n, const char *const *choices, char *buf, size_t len) {
  const char *best = mt_closest_name(word, n, choices);
  if (best) snprintf(buf, len, "did you mean %s?", best);
  else buf[0] = '\0';
}

/* The message for an unknown key in section sec. */
static int unknown_key(const mt_config *c, const char *origin, int line, int sec,
                       const char *name) {
  const char *cands[NKEYS];
  int n = 0;
  char list[700] = "";
  for (int k = 0; k < NKEYS; k++)
    if (keys[k].sec == sec) {
      cands[n++] = keys[k].name;
      if (list[0]) strncat(list, ", ", sizeof list - strlen(list) - 1);
      strncat(list, keys[k].name, sizeof list - strlen(list) - 1);
    }
  for (int s = 0; s < NSEC; s++) {
    int k = s == sec ? -1 : find_key(s, name);
    if (k >= 0)
      return loc_err(c, MT_E_FORMAT, origin, line, sec, name,
                     "unknown key in [%s] (it belongs in [%s])", sec_names[sec], sec_names[s]);
  }
  char sug[128];
  suggestion(name, n, cands, sug, sizeof sug);
  if (sug[0]) return loc_err(c, MT_E_FORMAT, origin, line, sec, name, "unknown key (%s)", sug);
  return loc_err(c, MT_E_FORMAT, origin, line, sec, name, "unknown key (keys of [%s]: %s)",
                 sec_names[sec], list);
}

static int unknown_section(const mt_config *c, const char *origin, int line, const char *name) {
  char sug[128];
  suggestion(name, NSEC, sec_names, sug, sizeof sug);
  char pre[700];
  if (origin) snprintf(pre, sizeof pre, "%s", origin);
  else snprintf(pre, sizeof pre, "%s:%d", c->path, line);
  return mt_error_set(MT_E_FORMAT,
                      "%s: [%s]: unknown section (%s%ssections: data, model, "
                      "train, checkpoint)",
                      pre, name, sug, sug[0] ? " " : "");
}

/* -------------------------------------------------------- raw values */

static void raw_clear(raw_val *r) {
  free(r->value);
  free(r->lines);
  memset(r, 0, sizeof *r);
}

static void order_push(mt_config_priv *p, int k) {
  int j = 0;
  for (int i = 0; i < p->norder; i++)
    if (p->order[i] != k) p->order[j++] = p->order[i];
  p->order[j++] = k;
  p->norder = j;
}

/* Appends one value line (layers). */
static int raw_add_line(raw_val *r, const char *text, int line) {
  size_t old = r->value ? strlen(r->value) : 0, add = strlen(text);
  char *v = realloc(r->value, old + add + 2);
  if (!v) return MT_NOMEM();
  r->value = v;
  if (old) v[old++] = '\n';
  memcpy(v + old, text, add + 1);
  int *l = realloc(r->lines, sizeof(int) * (size_t)(r->nlines + 1));
  if (!l) return MT_NOMEM();
  r->lines = l;
  r->lines[r->nlines++] = line;
  return MT_OK;
}

/* ------------------------------------------------------------ parsing */

typedef struct {
  mt_config *cfg;
  const char *text;
  size_t pos, len;
  int lineno;   /* the line inih is processing */
  int cont;     /* it continues the previous key's value */
  int have_key; /* a key line since the last header (inih's prev_name) */
  int cur_sec;  /* section of the current header: -1 none, -2 unknown */
  int err;      /* first error recorded (its message is mt_last_error) */
  int err_line;
  char *buf; /* the current line, processed */
  size_t cap;
} parse_state;

static void record(parse_state *p, int rc) {
  if (!p->err) {
    p->err = rc;
    p->err_line = p->lineno;
  }
}

static char *rstrip(char *s) {
  size_t n = strlen(s);
  while (n && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
  return s;
}

/* inih's line reader: hands inih one processed line at a time (see top). */
static char *cfg_reader(char *out, int num, void *stream) {
  parse_state *p = stream;
  if (p->pos >= p->len) return NULL;
  const char *s = p->text + p->pos;
  const char *nl = memchr(s, '\n', p->len - p->pos);
  size_t n = nl ? (size_t)(nl - s) : p->len - p->pos;
  p->pos += n + (nl ? 1 : 0);
  p->lineno++;
  p->cont = 0;
  if (n + 1 > p->cap) {
    char *b = realloc(p->buf, n + 1);
    if (!b) {
      record(p, MT_NOMEM());
      out[0] = '\0';
      return out;
    }
    p->buf = b;
    p->cap = n + 1;
  }
  char *line = p->buf;
  memcpy(line, s, n);
  line[n] = '\0';
  if (p->lineno == 1 && !strncmp(line, "\xEF\xBB\xBF", 3)) memmove(line, line + 3, n - 2);
  /* inline comments: ';' or '#' at the start or after whitespace */
  for (char *c = line; *c; c++)
    if ((*c == ';' || *c == '#') && (c == line || isspace((unsigned char)c[-1]))) {
      *c = '\0';
      break;
    }
  rstrip(line);
  char *f = line;
  while (*f && isspace((unsigned char)*f)) f++;
  mt_config *cfg = p->cfg;
  if (!*f) {
    line[0] = '\0';
  } else if (*f == '[') {
    char *end = strchr(f, ']');
    if (!end) {
      record(p, loc_err(cfg, MT_E_FORMAT, NULL, p->lineno, -1, NULL,
                        "'%s': section header without ']' (write [data], [model], [train] or "
                        "[checkpoint])",
                        f));
      line[0] = '\0';
    } else {
      if (end[1]) {
        record(p, loc_err(cfg, MT_E_FORMAT, NULL, p->lineno, -1, NULL,
                          "'%s': text after the section header (put keys on their own lines)", f));
      }
      *end = '\0';
      char name[256];
      const char *q = f + 1;
      while (isspace((unsigned char)*q)) q++;
      snprintf(name, sizeof name, "%s", q);
      rstrip(name);
      int sec = find_section(name);
      if (sec < 0) {
        record(p, unknown_section(cfg, NULL, p->lineno, name));
        p->cur_sec = -2;
      } else {
        p->cur_sec = sec;
        if (!cfg->priv->sec_line[sec]) cfg->priv->sec_line[sec] = p->lineno;
      }
      snprintf(line, p->cap, "[%s]", name); /* never longer than the line it replaces */
      p->have_key = 0;
    }
  } else if (f > line && p->have_key) {
    p->cont = 1; /* inih calls the handler again with the previous key */
  } else {
    memmove(line, f, strlen(f) + 1);
    p->have_key = 1;
    const char *eq = strpbrk(line, "=:");
    if (!eq)
      record(p, loc_err(cfg, MT_E_FORMAT, NULL, p->lineno, p->cur_sec >= 0 ? p->cur_sec : -1, NULL,
                        "'%s' is not key = value, a [section] or a comment", line));
    else if (eq == line)
      record(p, loc_err(cfg, MT_E_FORMAT, NULL, p->lineno, p->cur_sec >= 0 ? p->cur_sec : -1, NULL,
                        "'%s' has no key before '%c'", line, *eq));
  }
  size_t len = strlen(line);
  if ((int)len + 3 > num) {
    record(p, loc_err(cfg, MT_E_FORMAT, NULL, p->lineno, p->cur_sec >= 0 ? p->cur_sec : -1, NULL,
                      "line is %zu characters long; at most %d fit (comments do not count: "
                      "split a long value, or shorten the path)",
                      len, num - 3));
    line[0] = '\0';
    len = 0;
  }
  memcpy(out, line, len);
  out[len] = '\n';
  out[len + 1] = '\0';
  return out;
}

static int cfg_handler(void *user, const char *section, const char *name, const char *value) {
  parse_state *p = user;
  if (p->err) return 1; /* one error: the first */
  mt_config *c = p->cfg;
  mt_config_priv *pr = c->priv;
  if (!*section) {
    record(p, loc_err(c, MT_E_FORMAT, NULL, p->lineno, -1, NULL,
                      "%s: key outside any section (put it under [data], [model], [train] or "
                      "[checkpoint])",
                      name));
    return 1;
  }
  int sec = find_section(section);
  if (sec < 0) return 1; /* reported at the header */
  int k = find_key(sec, name);
  if (p->cont) {
    if (k >= 0 && (keys[k].flags & F_MULTILINE)) {
      if (pr->raw[k].origin == NULL && pr->raw[k].given) {
        int rc = raw_add_line(&pr->raw[k], value, p->lineno);
        if (rc < 0) record(p, rc);
      }
      return 1;
    }
    record(p, loc_err(c, MT_E_FORMAT, NULL, p->lineno, sec, name,
                      "indented line '%s' continues this key's value; only [model] layers takes "
                      "several lines (remove the indentation)",
                      value));
    return 1;
  }
  if (k < 0) {
    record(p, unknown_key(c, NULL, p->lineno, sec, name));
    return 1;
  }
  raw_val *r = &pr->raw[k];
  if (r->given) {
    record(p, loc_err(c, MT_E_FORMAT, NULL, p->lineno, sec, name,
                      "given twice (first at line %d; remove one)", r->line));
    return 1;
  }
  r->given = 1;
  r->line = p->lineno;
  int rc = MT_OK;
  if (keys[k].flags & F_MULTILINE) {
    r->value = strdup("");
    if (!r->value) rc = MT_NOMEM();
    else if (*value) rc = raw_add_line(r, value, p->lineno);
  } else {
    r->value = strdup(value);
    if (!r->value) rc = MT_NOMEM();
  }
  if (rc < 0) record(p, rc);
  order_push(pr, k);
  return 1;
}

/* One line of the text (1-based), into buf. */
static void text_line(const char *text, int line, char *buf, size_t n) {
  const char *s = text;
  for (int i = 1; i < line && s; i++) {
    s = strchr(s, '\n');
    if (s) s++;
  }
  if (!s) s = "";
  size_t len = strcspn(s, "\r\n");
  if (len >= n) len = n - 1;
  memcpy(buf, s, len);
  buf[len] = '\0';
}

static int parse_text(mt_config *c, const char *text) {
  parse_state p = {.cfg = c, .text = text, .len = strlen(text), .cur_sec = -1};
  int rc = ini_parse_stream(cfg_reader, &p, cfg_handler, &p);
  free(p.buf);
  if (rc > 0 && (!p.err || rc < p.err_line)) {
    char ln[200];
    text_line(text, rc, ln, sizeof ln);
    return loc_err(c, MT_E_FORMAT, NULL, rc, -1, NULL,
                   "'%s' is not key = value, a [section] or a comment", ln);
  }
  if (p.err) return p.err;
  if (rc == -2) return MT_NOMEM();
  if (rc < 0) return mt_error_set(MT_E_IO, "%s: cannot parse (inih error %d)", c->path, rc);
  return MT_OK;
}

/* "section.key=value" from the command line. */
static int apply_override(mt_config *c, const char *set, const char *origin) {
  const char *eq = strchr(set, '=');
  const char *dot = strchr(set, '.');
  if (!eq || !dot || dot > eq)
    return mt_error_set(MT_E_FORMAT,
                        "%s: '%s' is not section.key=value (e.g. --set "
                        "data.batch_size=64)",
                        origin, set);
  char sec_name[64], key_name[64];
  size_t sl = (size_t)(dot - set), kl = (size_t)(eq - dot - 1);
  if (sl == 0 || sl >= sizeof sec_name || kl == 0 || kl >= sizeof key_name)
    return mt_error_set(MT_E_FORMAT,
                        "%s: '%s' is not section.key=value (e.g. --set "
                        "data.batch_size=64)",
                        origin, set);
  memcpy(sec_name, set, sl);
  sec_name[sl] = '\0';
  memcpy(key_name, dot + 1, kl);
  key_name[kl] = '\0';
  int sec = find_section(sec_name);
  if (sec < 0) return unknown_section(c, origin, 0, sec_name);
  int k = find_key(sec, key_name);
  if (k < 0) return unknown_key(c, origin, 0, sec, key_name);
  const char *v = eq + 1;
  while (isspace((unsigned char)*v)) v++;
  raw_val *r = &c->priv->raw[k];
  raw_clear(r);
  r->given = 1;
  r->origin = origin;
  if (keys[k].flags & F_MULTILINE) {
    /* layers on the command line: lines separated by newlines or ';' */
    r->value = strdup("");
    if (!r->value) return MT_NOMEM();
    const char *q = v;
    while (*q) {
      size_t len = strcspn(q, ";\n");
      char *piece = malloc(len + 1);
      if (!piece) return MT_NOMEM();
      memcpy(piece, q, len);
      piece[len] = '\0';
      char *t = piece;
      while (isspace((unsigned char)*t)) t++;
      rstrip(t);
      int rc = *t ? raw_add_line(r, t, 0) : MT_OK;
      free(piece);
      if (rc < 0) return rc;
      q += len;
      if (*q) q++;
    }
  } else {
    r->value = strdup(v);
    if (!r->value) return MT_NOMEM();
    rstrip(r->value);
  }
  order_push(c->priv, k);
  return MT_OK;
}

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
  if (r == 1) return key_err(c, MT_E_INVAL, k, "'%s' is not a number (%s)", v, keys[k].hint);
  if (r == 2) return key_err(c, MT_E_INVAL, k, "'%s' is not a whole number (%s)", v, keys[k].hint);
  if (r == 3 || *out > hi)
    return key_err(c, MT_E_INVAL, k, "%s is too large (at most %lld)", v, (long long)hi);
  if (*out < lo)
    return key_err(c, MT_E_INVAL, k, "%s is %s (%s)", v,
                   lo == 1 && *out == 0 ? "zero; it must be at least 1"
                   : *out < 0           ? "negative"
                                        : "too small",
                   keys[k].hint);
  return MT_OK;
}

static int check_float(mt_config *c, int k, double lo, int lo_open, double hi, int hi_open,
                       double *out) {
  const char *v = c->priv->raw[k].value;
  char *end;
  errno = 0;
  double d = strtod(v, &end);
  if (end == v || *end || !isfinite(d))
    return key_err(c, MT_E_INVAL, k, "'%s' is not a number (%s)", v, keys[k].hint);
  if (d < lo || (lo_open && d == lo) || d > hi || (hi_open && d == hi))
    return key_err(c, MT_E_INVAL, k, "%s is out of range (%s)", v, keys[k].hint);
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
  return key_err(c, MT_E_INVAL, k, "'%s' is not true or false (true/false, yes/no, on/off, 1/0)",
                 v);
}

/* A data or model file must be readable now, not after an hour in the queue. */
static int check_readable(mt_config *c, int k, const char *path) {
  struct stat st;
  if (stat(path, &st) != 0 || access(path, R_OK) != 0)
    return key_err(c, MT_E_INVAL, k,
                   "cannot read '%s': %s (relative paths start at the working "
                   "directory)",
                   path, strerror(errno));
  if (S_ISDIR(st.st_mode))
    return key_err(c, MT_E_INVAL, k, "'%s' is a directory, not a file (%s)", path, keys[k].hint);
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
  else return key_err(c, MT_E_INVAL, k, "'%s' is not a context (%s)", v, keys[k].hint);
  p += 3;
  int n = 0;
  c->ctx_auto = !*p;
  if (!*p) {
    c->ctx[n++] = (mt_context){type, 0};
  } else {
    /* cpu:0,1 (also MXNet's cpu(0) spelling for a single device) */
    int paren = *p == '(';
    if (*p != ':' && !paren)
      return key_err(c, MT_E_INVAL, k, "'%s' is not a context (%s)", v, keys[k].hint);
    p++;
    for (;;) {
      char *end;
      errno = 0;
      long id = strtol(p, &end, 10);
      if (end == p || id < 0 || id > 1023 || errno)
        return key_err(c, MT_E_INVAL, k, "'%s': bad device number (%s)", v, keys[k].hint);
      if (n == MT_CFG_MAX_CTX)
        return key_err(c, MT_E_INVAL, k, "more than %d devices", MT_CFG_MAX_CTX);
      /* a GPU may be listed twice (two executors on one device: how the
       * multi-context path runs on a one-GPU machine); a CPU may not */
      for (int i = 0; i < n && type == MT_CPU; i++)
        if (c->ctx[i].id == id)
          return key_err(c, MT_E_INVAL, k, "device %ld is listed twice (only a gpu may be)", id);
      c->ctx[n++] = (mt_context){type, (int)id};
      p = end;
      if (*p == ',') {
        p++;
        continue;
      }
      if (paren && *p == ')' && !p[1] && n == 1) break;
      if (!*p && !paren) break;
      return key_err(c, MT_E_INVAL, k, "'%s' is not a context (%s)", v, keys[k].hint);
    }
  }
#ifndef MT_HAVE_CUDA
  if (type == MT_GPU)
    return key_err(c, MT_E_INVAL, k,
                   "'%s': this build has no CUDA (use context = cpu, or "
                   "rebuild with -DMT_CUDA=ON on a machine with nvcc)",
                   v);
#endif
  c->nctx = n;
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
    int rc = mt_layer_parse(t, &c->layers[i]);
    free(t);
    if (rc < 0) {
      char msg[1024];
      last_error_copy(msg, sizeof msg);
      return loc_err(c, rc, r->origin, r->lines[i], SEC_MODEL, "layers", "%s", msg);
    }
    c->layers[i].line = r->origin ? 0 : r->lines[i];
    c->nlayers = i + 1;
    s += len + (s[len] ? 1 : 0);
  }
  return MT_OK;
}

/* Checks key k's value and stores it in the typed fields. */
static int apply_key(mt_config *c, int k) {
  const char *v = c->priv->raw[k].value;
  int64_t i64;
  int rc = MT_OK;
  if (!(keys[k].flags & F_MULTILINE) && !*v)
    return key_err(c, MT_E_INVAL, k, "empty value (%s)", keys[k].hint);
  switch (k) {
  case K_TRAIN:
  case K_VAL: {
    char **dst = k == K_TRAIN ? &c->train : &c->val;
    if (k == K_VAL && is_none(v)) return set_str(dst, NULL);
    if (k == K_TRAIN && is_none(v))
      return key_err(c, MT_E_INVAL, k, "training data cannot be none (%s)", keys[k].hint);
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
  case K_NUM_SAMPLES: return check_int(c, k, 1, (int64_t)1 << 40, &c->num_samples);
  case K_BATCH_SIZE: return check_int(c, k, 1, (int64_t)1 << 30, &c->batch_size);
  case K_SHUFFLE: return check_bool(c, k, &c->shuffle);
  case K_SEED: {
    char *end;
    errno = 0;
    unsigned long long s = strtoull(v, &end, 10);
    if (end == v || *end || errno || v[0] == '-')
      return key_err(c, MT_E_INVAL, k, "'%s' is not a whole number >= 0", v);
    c->seed = s;
    return MT_OK;
  }
  case K_SYMBOL:
    if (is_none(v)) return set_str(&c->symbol_path, NULL);
    MT_TRY(check_readable(c, k, v));
    return set_str(&c->symbol_path, v);
  case K_LAYERS: return check_layers(c, k);
  case K_NUM_EPOCH:
    MT_TRY(check_int(c, k, 1, 1 << 24, &i64));
    c->num_epoch = (int)i64;
    return MT_OK;
  case K_OPTIMIZER: {
    static const char *const names[] = {"sgd", "nag", "adam", "rmsprop", "adagrad"};
    for (int i = 0; i < 5; i++)
      if (!strcasecmp(v, names[i])) return set_str(&c->optimizer, names[i]);
    char sug[128];
    suggestion(v, 5, names, sug, sizeof sug);
    return key_err(c, MT_E_INVAL, k, "unknown optimizer '%s' (%s%s%s)", v, sug, sug[0] ? " " : "",
                   keys[k].hint);
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
  case K_INITIALIZER: {
    mt_initializer *init = NULL;
    rc = mt_initializer_create(v, 0, &init);
    mt_initializer_free(init);
    if (rc < 0) {
      char msg[1024];
      last_error_copy(msg, sizeof msg);
      return key_err(c, MT_E_INVAL, k, "%s (%s)", msg, keys[k].hint);
    }
    return set_str(&c->initializer, v);
  }
  case K_EVAL_METRIC: {
    mt_metric *m = NULL;
    rc = mt_metric_create(v, &m);
    mt_metric_free(m);
    if (rc < 0) {
      char msg[1024];
      last_error_copy(msg, sizeof msg);
      return key_err(c, MT_E_INVAL, k, "%s (%s)", msg, keys[k].hint);
    }
    return set_str(&c->eval_metric, v);
  }
  case K_CONTEXT: return check_context(c, k);
  case K_KVSTORE: {
    static const char *const names[] = {"local", "device", "nccl", "dist_sync", "hier"};
    for (int i = 0; i < 5; i++)
      if (!strcmp(v, names[i])) return set_str(&c->kvstore, names[i]);
    if (!strcmp(v, "dist_async") || !strcmp(v, "dist_device_sync"))
      return key_err(c, MT_E_INVAL, k,
                     "'%s' is not supported: modtrain reduces synchronously "
                     "(use dist_sync, or hier for NCCL inside nodes and MPI across)",
                     v);
    char sug[128];
    suggestion(v, 5, names, sug, sizeof sug);
    return key_err(c, MT_E_INVAL, k, "unknown kvstore '%s' (%s%s%s)", v, sug, sug[0] ? " " : "",
                   keys[k].hint);
  }
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
  case K_METRICS_FILE: {
    if (is_none(v)) return set_str(&c->metrics_file, NULL);
    /* the directory must exist and be writable; the file is created */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", v);
    char *slash = strrchr(dir, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == dir) dir[1] = '\0';
    else *slash = '\0';
    if (access(dir, W_OK) != 0)
      return key_err(c, MT_E_INVAL, k, "cannot write in directory '%s': %s (create it first)", dir,
                     strerror(errno));
    return set_str(&c->metrics_file, v);
  }
  case K_PREFIX: {
    if (is_none(v)) return set_str(&c->prefix, NULL);
    size_t len = strlen(v);
    if (v[len - 1] == '/')
      return key_err(c, MT_E_INVAL, k,
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
      return key_err(c, MT_E_INVAL, k, "'%s' is not none, auto or an epoch number >= 0", v);
    c->resume = (int)i64;
    return MT_OK;
  default:
    /* optimizer pass-through keys: one word, checked with the optimizer */
    for (const char *q = v; *q; q++)
      if (isspace((unsigned char)*q))
        return key_err(c, MT_E_INVAL, k, "'%s' is not a single value (%s)", v, keys[k].hint);
    return MT_OK;
  }
}

/* --------------------------------------------------- cross checks */

static int check_optimizer(mt_config *c) {
  mt_config_priv *p = c->priv;
  const char *opt = c->optimizer;
  int sgdlike = !strcmp(opt, "sgd") || !strcmp(opt, "nag");
  /* learning_rate: DESIGN.md §7's 0.1 for sgd/nag, MXNet's default else */
  if (!p->raw[K_LEARNING_RATE].given)
    c->learning_rate = sgdlike ? 0.1 : !strcmp(opt, "adagrad") ? 0.01 : 0.001;
  if (p->raw[K_MOMENTUM].given && !sgdlike)
    return key_err(c, MT_E_INVAL, K_MOMENTUM,
                   "optimizer %s takes no momentum (momentum is for "
                   "sgd and nag; remove it, or see docs/config.md for %s's keys)",
                   opt, opt);
  /* every optimizer key on its own first, so an error points at its line */
  for (int i = 0; i < p->norder; i++) {
    int k = p->order[i];
    if (!(keys[k].flags & F_OPTPASS) && k != K_LEARNING_RATE && k != K_WD && k != K_MOMENTUM)
      continue;
    char one[600];
    snprintf(one, sizeof one, "%s=%s", keys[k].name, p->raw[k].value);
    mt_optimizer *o = NULL;
    int rc = mt_optimizer_create(opt, one, &o);
    mt_optimizer_free(o);
    if (rc < 0) {
      char msg[1024];
      last_error_copy(msg, sizeof msg);
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
        return key_err(c, MT_E_INVAL, k,
                       "optimizer %s takes no %s (it is for %s: change "
                       "optimizer or remove %s)",
                       opt, keys[k].name, takers, keys[k].name);
      return key_err(c, MT_E_INVAL, k, "%s (see docs/config.md for %s's keys)", msg, opt);
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
    if ((keys[k].flags & F_OPTPASS) && p->raw[k].given && (size_t)n < sizeof params)
      n += snprintf(params + n, sizeof params - (size_t)n, " %s=%s", keys[k].name, p->raw[k].value);
  if ((size_t)n >= sizeof params)
    return key_err(c, MT_E_INVAL, K_OPTIMIZER, "optimizer parameters are too long");
  mt_optimizer *o = NULL;
  int rc = mt_optimizer_create(opt, params, &o);
  mt_optimizer_free(o);
  if (rc < 0) {
    char msg[1024];
    last_error_copy(msg, sizeof msg);
    return key_err(c, MT_E_INVAL, K_OPTIMIZER, "%s", msg);
  }
  MT_TRY(set_str(&c->optimizer_params, params));
  if (c->lr_scheduler) {
    mt_lr_scheduler *s = NULL;
    rc = mt_lr_scheduler_create(c->lr_scheduler, c->learning_rate, &s);
    mt_lr_scheduler_free(s);
    if (rc < 0) {
      char msg[1024];
      last_error_copy(msg, sizeof msg);
      return key_err(c, MT_E_INVAL, K_LR_SCHEDULER, "%s (%s)", msg, keys[K_LR_SCHEDULER].hint);
    }
  }
  return MT_OK;
}

/* The line of the model's last layer, or of the key that gave the model. */
static int model_key(const mt_config *c) { return c->symbol_path ? K_SYMBOL : K_LAYERS; }

static int model_err_last(mt_config *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int model_err_last(mt_config *c, int code, const char *fmt, ...) {
  int k = model_key(c);
  const raw_val *r = &c->priv->raw[k];
  int line = r->line;
  if (k == K_LAYERS && r->nlines > 0) line = r->lines[r->nlines - 1];
  va_list ap;
  va_start(ap, fmt);
  int rc = verr(c, code, r->origin, line, SEC_MODEL, keys[k].name, fmt, ap);
  va_end(ap);
  return rc;
}

/* Shapes of the whole network for data (batch_size, feature_dim): the
 * output shape of head 0 into *out0. */
static int infer_outputs(mt_config *c, const mt_shape *dshape, mt_shape *out0) {
  int narg, nout, naux;
  const char *const *names;
  MT_TRY(mt_symbol_list_arguments(c->symbol, &narg, &names));
  MT_TRY(mt_symbol_list_outputs(c->symbol, &nout, &names));
  MT_TRY(mt_symbol_list_auxiliary_states(c->symbol, &naux, &names));
  mt_shape *buf = calloc((size_t)(narg + nout + naux) + 1, sizeof *buf);
  if (!buf) return MT_NOMEM();
  const char *dname = "data";
  int rc = mt_symbol_infer_shape(c->symbol, 1, &dname, dshape, buf, buf + narg, buf + narg + nout);
  *out0 = buf[narg];
  free(buf);
  return rc;
}

static int build_model(mt_config *c) {
  mt_config_priv *p = c->priv;
  /* shapes are known before training only for synthetic data */
  int synthetic = !strcmp(c->train, "synthetic");
  mt_shape dshape = {.ndim = 2, .dim = {c->batch_size, c->feature_dim}};
  char msg[1024], data_hint[128];
  snprintf(data_hint, sizeof data_hint, " (the data is (batch_size, feature_dim) = (%lld, %d))",
           (long long)c->batch_size, c->feature_dim);
  if (c->nlayers > 0) {
    int bad = -1;
    int rc = mt_net_build(c->nlayers, c->layers, synthetic ? &dshape : NULL, &c->symbol, &bad);
    if (rc < 0) {
      last_error_copy(msg, sizeof msg);
      const raw_val *r = &p->raw[K_LAYERS];
      int line = bad >= 0 && bad < r->nlines ? r->lines[bad] : r->line;
      return loc_err(c, MT_E_INVAL, r->origin, line, SEC_MODEL, "layers", "%s%s", msg,
                     rc == MT_E_SHAPE ? data_hint : "");
    }
  } else {
    int rc = mt_symbol_load(c->symbol_path, &c->symbol);
    if (rc < 0) {
      last_error_copy(msg, sizeof msg);
      return key_err(c, MT_E_INVAL, K_SYMBOL, "cannot load the symbol: %s", msg);
    }
  }
  int narg;
  const char *const *args;
  MT_TRY(mt_symbol_list_arguments(c->symbol, &narg, &args));
  int has_data = 0;
  for (int i = 0; i < narg; i++) has_data |= !strcmp(args[i], "data");
  if (!has_data)
    return model_err_last(c, MT_E_INVAL,
                          "the network has no input named 'data' (modtrain feeds "
                          "the samples as 'data')");
  if (!mt_net_is_loss(c->symbol)) {
    const char *op = mt_net_head_op(c->symbol, 0);
    return model_err_last(c, MT_E_INVAL,
                          "the network ends with %s, not a loss layer (end it with "
                          "SoftmaxOutput, or a LinearRegressionOutput, ... so it can train)",
                          op && *op ? op : "a variable");
  }
  MT_TRY(mt_net_label_names(c->symbol, &c->nlabels, &c->label_names));
  if (c->nlabels == 0)
    return model_err_last(c, MT_E_INVAL,
                          "the network has no label argument (NAME_label): "
                          "its loss layer must read the labels");
  if (!synthetic) return MT_OK;
  if (c->nlabels != 1)
    return model_err_last(c, MT_E_INVAL,
                          "the network reads %d labels (%s, %s%s); synthetic data "
                          "has one",
                          c->nlabels, c->label_names[0], c->label_names[1],
                          c->nlabels > 2 ? ", ..." : "");
  mt_shape o = {0, {0}};
  int rc = infer_outputs(c, &dshape, &o);
  if (rc < 0) {
    last_error_copy(msg, sizeof msg);
    return model_err_last(c, MT_E_INVAL, "%s%s", msg, data_hint);
  }
  /* a SoftmaxOutput over fewer outputs than classes cannot take the labels */
  const char *op = mt_net_head_op(c->symbol, 0);
  if (op && !strcmp(op, "SoftmaxOutput") && o.ndim == 2 && o.dim[1] < c->num_classes)
    return model_err_last(c, MT_E_INVAL,
                          "the network outputs %lld classes but [data] "
                          "num_classes = %d (the labels would not fit: give the last layer before "
                          "the loss %d outputs)",
                          (long long)o.dim[1], c->num_classes, c->num_classes);
  return MT_OK;
}

static int cross_check(mt_config *c) {
  mt_config_priv *p = c->priv;
  /* required keys, reported at their section's header */
  for (int k = 0; k < NKEYS; k++)
    if ((keys[k].flags & F_REQUIRED) && !p->raw[k].given) {
      int s = keys[k].sec;
      if (!p->sec_line[s])
        return loc_err(c, MT_E_INVAL, NULL, 1, s, keys[k].name,
                       "required key missing and the "
                       "file has no [%s] section (add [%s] with %s = %s)",
                       sec_names[s], sec_names[s], keys[k].name, keys[k].hint);
      return key_err(c, MT_E_INVAL, k, "required key missing (%s = %s)", keys[k].name,
                     keys[k].hint);
    }
  /* the model: symbol or layers, exactly one */
  int has_sym = c->symbol_path != NULL, has_layers = c->nlayers > 0;
  if (has_sym && has_layers) {
    const raw_val *s = &p->raw[K_SYMBOL], *l = &p->raw[K_LAYERS];
    int later = (s->origin && !l->origin) || (!s->origin && !l->origin && s->line > l->line)
                    ? K_SYMBOL
                    : K_LAYERS;
    int other = later == K_SYMBOL ? K_LAYERS : K_SYMBOL;
    char where[700];
    mt_config_where(c, "model", keys[other].name, where, sizeof where);
    return key_err(c, MT_E_INVAL, later,
                   "give either symbol or layers, not both (%s is also "
                   "given, at %s; set one to none)",
                   keys[other].name, where);
  }
  if (!has_sym && !has_layers) {
    if (p->raw[K_LAYERS].given && !is_none(p->raw[K_LAYERS].value))
      return key_err(c, MT_E_INVAL, K_LAYERS, "no layers given (%s)", keys[K_LAYERS].hint);
    int s = SEC_MODEL;
    int line = p->sec_line[s] ? p->sec_line[s] : 1;
    return loc_err(c, MT_E_INVAL, NULL, line, s, "layers",
                   "the network is missing%s (give "
                   "layers = OP NAME key=value ... lines, or symbol = PATH-symbol.json)",
                   p->sec_line[s] ? "" : " and the file has no [model] section");
  }
  /* data */
  int synthetic = !strcmp(c->train, "synthetic");
  if (c->val && !strcmp(c->val, "synthetic") && !synthetic)
    return key_err(c, MT_E_INVAL, K_VAL,
                   "val = synthetic needs train = synthetic (the two sets "
                   "share their class means; give val an HDF5 file or none)");
  if (synthetic && c->num_samples < c->batch_size) {
    int k = p->raw[K_BATCH_SIZE].given ? K_BATCH_SIZE : K_NUM_SAMPLES;
    return key_err(c, MT_E_INVAL, k,
                   "batch_size %lld is larger than the %lld samples of the "
                   "synthetic set (lower batch_size or raise num_samples)",
                   (long long)c->batch_size, (long long)c->num_samples);
  }
  /* train */
  MT_TRY(check_optimizer(c));
  if (!strcmp(c->kvstore, "nccl") && c->ctx[0].type != MT_GPU)
    return key_err(c, MT_E_INVAL, K_KVSTORE,
                   "nccl reduces between GPUs but context = cpu (use "
                   "local or dist_sync, or context = gpu)");
  /* checkpoint */
  if (c->resume != MT_RESUME_NONE && !c->prefix)
    return key_err(c, MT_E_INVAL, K_RESUME,
                   "resuming needs [checkpoint] prefix (where the "
                   "checkpoints are)");
  return build_model(c);
}

/* ------------------------------------------------------------ loading */

void mt_config_free(mt_config *c) {
  if (!c) return;
  free(c->path);
  free(c->train);
  free(c->val);
  free(c->symbol_path);
  for (int i = 0; i < c->nlayers; i++) mt_layer_spec_free(&c->layers[i]);
  free(c->layers);
  mt_symbol_free(c->symbol);
  mt_net_names_free(c->nlabels, c->label_names);
  free(c->optimizer);
  free(c->optimizer_params);
  free(c->lr_scheduler);
  free(c->initializer);
  free(c->eval_metric);
  free(c->kvstore);
  free(c->metrics_file);
  free(c->prefix);
  if (c->priv)
    for (int k = 0; k < NKEYS; k++) raw_clear(&c->priv->raw[k]);
  free(c->priv);
  free(c);
}

/* Typed fields from the documented defaults (the same checks as written
 * values, so the docs and the code cannot disagree). */
static int apply_defaults(mt_config *c) {
  for (int k = 0; k < NKEYS; k++) {
    raw_val *r = &c->priv->raw[k];
    if (!keys[k].def || (keys[k].flags & F_OPTPASS) || r->given) continue;
    r->value = strdup(keys[k].def);
    if (!r->value) return MT_NOMEM();
    int rc = apply_key(c, k);
    free(r->value);
    r->value = NULL;
    if (rc < 0) return rc;
  }
  return MT_OK;
}

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    mt_error_set(MT_E_IO, "%s: cannot open the config: %s", path, strerror(errno));
    return NULL;
  }
  size_t len = 0, cap = 4096;
  char *buf = malloc(cap);
  while (buf) {
    size_t got = fread(buf + len, 1, cap - len - 1, f);
    len += got;
    if (got == 0) break;
    if (len + 1 == cap) {
      char *b = realloc(buf, cap * 2);
      if (!b) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = b;
      cap *= 2;
    }
  }
  int bad = ferror(f);
  fclose(f);
  if (!buf) {
    MT_NOMEM();
    return NULL;
  }
  if (bad) {
    free(buf);
    mt_error_set(MT_E_IO, "%s: cannot read the config", path);
    return NULL;
  }
  buf[len] = '\0';
  if (strlen(buf) != len) {
    free(buf);
    mt_error_set(MT_E_FORMAT, "%s: the config is not a text file (it holds a NUL byte)", path);
    return NULL;
  }
  return buf;
}

int mt_config_load_ex(const char *path, const char *text, int nset, const char *const *sets,
                      const char *const *origins, mt_config **out) {
  if (!out) return MT_ERR(MT_E_INVAL, "mt_config_load: NULL output");
  *out = NULL;
  if (!path) return MT_ERR(MT_E_INVAL, "mt_config_load: NULL path");
  mt_config *c = calloc(1, sizeof *c);
  char *owned = NULL;
  int rc = MT_OK;
  if (!c || !(c->priv = calloc(1, sizeof *c->priv)) || !(c->path = strdup(path))) {
    rc = MT_NOMEM();
    goto fail;
  }
  if (!text) {
    owned = read_file(path);
    if (!owned) {
      rc = MT_E_IO;
      goto fail;
    }
    text = owned;
  }
  MT_TRY_GOTO(parse_text(c, text), rc, fail);
  for (int i = 0; i < nset; i++)
    MT_TRY_GOTO(apply_override(c, sets[i], origins && origins[i] ? origins[i] : "--set"), rc, fail);
  MT_TRY_GOTO(apply_defaults(c), rc, fail);
  for (int i = 0; i < c->priv->norder; i++) MT_TRY_GOTO(apply_key(c, c->priv->order[i]), rc, fail);
  MT_TRY_GOTO(cross_check(c), rc, fail);
  free(owned);
  *out = c;
  return MT_OK;
fail:
  free(owned);
  mt_config_free(c);
  return rc;
}

int mt_config_load(const char *path, int nset, const char *const *sets, mt_config **out) {
  return mt_config_load_ex(path, NULL, nset, sets, NULL, out);
}

int mt_config_load_string(const char *text, const char *name, int nset, const char *const *sets,
                          mt_config **out) {
  if (!text) return MT_ERR(MT_E_INVAL, "mt_config_load_string: NULL text");
  return mt_config_load_ex(name ? name : "<string>", text, nset, sets, NULL, out);
}

/* ------------------------------------------------------------ queries */

int mt_config_check_world(const mt_config *c, int world_size) {
  if (world_size < 1) return MT_ERR(MT_E_INVAL, "world size %d must be >= 1", world_size);
  if (c->batch_size % world_size)
    return key_err(c, MT_E_INVAL, K_BATCH_SIZE,
                   "batch_size %lld is not divisible by %d ranks; "
                   "use a multiple of %d",
                   (long long)c->batch_size, world_size, world_size);
  return MT_OK;
}

static int lookup(const char *section, const char *key) {
  int s = section ? find_section(section) : -1;
  return s < 0 || !key ? -1 : find_key(s, key);
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
    fprintf(f, "%s[%s]\n", sec ? "\n" : "", sec_names[sec]);
    for (int k = 0; k < NKEYS; k++) {
      if (keys[k].sec != sec) continue;
      const raw_val *r = &c->priv->raw[k];
      const char *v = r->given ? r->value : keys[k].def;
      char num[64];
      if (k == K_LEARNING_RATE && !r->given) {
        snprintf(num, sizeof num, "%.17g", c->learning_rate);
        v = num;
      }
      if (!v || ((keys[k].flags & F_MULTILINE) && r->nlines == 0)) continue;
      /* momentum's default belongs to sgd and nag: another optimizer rejects it */
      if (k == K_MOMENTUM && !r->given && strcmp(c->optimizer, "sgd") &&
          strcmp(c->optimizer, "nag"))
        continue;
      fprintf(f, "%s = ", keys[k].name);
      /* layers: one per line, the continuation lines indented */
      for (const char *q = v; *q; q++) {
        fputc(*q, f);
        if (*q == '\n') fprintf(f, "%*s", (int)strlen(keys[k].name) + 3, "");
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
