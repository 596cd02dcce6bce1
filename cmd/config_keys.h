/* config_keys.h — what the config_*.c files share and nothing outside
 * them uses: the table of documented keys (section, default, flags, hint),
 * what was written for each key and where (raw_val, mt_config_priv), and
 * the helpers that put "FILE:LINE: [section] key: " in front of a message.
 *
 *   config_keys.c   the key table, error messages, queries, to_ini
 *   config_read.c   the INI reader, --set overrides, loading and freeing
 *   config_check.c  each key's value checked, then the keys cross-checked
 *   config_net.c    the config-to-network step ([model] into a symbol) */
#ifndef MT_CMD_CONFIG_KEYS_H
#define MT_CMD_CONFIG_KEYS_H
#include <stdarg.h>
#include <stddef.h>

#include "config.h"

enum { SEC_DATA, SEC_MODEL, SEC_TRAIN, SEC_CHECKPOINT, NSEC };
extern const char *const cfg_sec_names[NSEC];

typedef enum {
  K_TRAIN,
  K_VAL,
  K_NUM_CLASSES,
  K_FEATURE_DIM,
  K_SYNTHETIC_SHAPE,
  K_NUM_SAMPLES,
  K_BATCH_SIZE,
  K_SHUFFLE,
  K_SEED,
  K_CACHE, /* [data] cache, scale, mean, std: the HDF5 reader (issue 18) */
  K_SCALE,
  K_MEAN,
  K_STD,
  K_DATA_SHAPE, /* [data] data_shape, pad, rand_crop, rand_mirror: augmentation (issue 18) */
  K_PAD,
  K_RAND_CROP,
  K_RAND_MIRROR,
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
  /* the bucketed LSTM language model (docs/config.md) */
  K_LSTM_LM,
  K_BUCKETS,
  K_INVALID_LABEL,
  K_PARAMS,        /* [model] params: initial parameters from a file (issue 19) */
  K_ALLOW_MISSING, /* [model] allow_missing */
  K_ALSO_PARAMS,   /* [checkpoint] also_params */
  K_TIMELINE,      /* [train] timeline (issue 19 item 3) */
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

extern const key_def cfg_keys[NKEYS];

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

/* The key of that name in section sec (-1: none); the section of that
 * name (-1: none). */
int cfg_find_key(int sec, const char *name);
int cfg_find_section(const char *name);

/* Errors, recorded with mt_error_set: "FILE:LINE: [sec] key: " for the file,
 * "ORIGIN: [sec] key: " for an override (origin "--set" or "--resume"); the
 * key part is left out when key is NULL, the section part when sec < 0. */
int cfg_verr(const mt_config *c, int code, const char *origin, int line, int sec, const char *key,
             const char *fmt, va_list ap);
int cfg_loc_err(const mt_config *c, int code, const char *origin, int line, int sec,
                const char *key, const char *fmt, ...) __attribute__((format(printf, 7, 8)));
/* An error about key k, at the place its value came from; a key left at its
 * default is reported at its section's header (line 1 without one). */
int cfg_key_err(const mt_config *c, int code, int k, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The library's message, copied so that it can be formatted into a new one. */
void cfg_last_error_copy(char *buf, size_t n);
/* "did you mean X?" or "" */
void cfg_suggestion(const char *word, int n, const char *const *choices, char *buf, size_t len);
/* The messages for an unknown key in section sec and an unknown section. */
int cfg_unknown_key(const mt_config *c, const char *origin, int line, int sec, const char *name);
int cfg_unknown_section(const mt_config *c, const char *origin, int line, const char *name);

/* config_check.c: checks key k's value and stores it in the typed fields;
 * then, once every key is in, the checks across keys (required keys, the
 * model given once, data, optimizer, checkpoint). */
int cfg_apply_key(mt_config *c, int k);
int cfg_cross_check(mt_config *c);

/* config_net.c: builds (or loads) the network of [model] into c->symbol
 * and checks that modtrain can train it on the configured data. */
int cfg_build_network(mt_config *c);

/* config_lm.c: [model] lstm_lm, [data] buckets and invalid_label checked
 * and stored; the lstm_lm network built (vocabulary and automatic buckets
 * from the training file when the config leaves them out); a
 * token-sequence [data] file checked (*shape: sentences, longest bucket). */
int cfg_apply_lm_key(mt_config *c, int k, const char *v);
int cfg_build_lm(mt_config *c);
int cfg_check_seq_file(mt_config *c, int k, const char *path, mt_shape *shape);

#endif
