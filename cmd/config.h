/* config.h — the job config of the `modtrain` command (docs/design.md §7): an
 * INI file with sections [data] [model] [train] [checkpoint], read with
 * inih into mt_config and validated strictly before anything runs
 * (config_read.c reads, config_check.c checks the values, config_net.c
 * builds the network, config_keys.c holds the keys and the queries).
 *
 * Every problem is ONE line recorded with mt_error_set:
 *     FILE:LINE: [section] key: what is wrong (hint)
 * or, for a value given on the command line, "--set: [section] key: ..."
 * ("--resume: ..." for --resume). A missing key is reported at its
 * section header's line (line 1 when the section itself is missing).
 * Codes: MT_E_FORMAT for the file's structure (syntax, unknown section or
 * key, a key given twice, a line too long, a stray continuation line),
 * MT_E_INVAL for values (bad numbers, unknown optimizer/op/metric, bad
 * context, missing or conflicting keys, unreadable files). Every key, its
 * default and meaning: docs/config.md.
 */
#ifndef MT_CMD_CONFIG_H
#define MT_CMD_CONFIG_H
#include "modtrain.h"
#include "src/net_builder.h"

#define MT_CFG_MAX_CTX 16
/* [train] begin_num_update at most 2^53: counts up to there are exact in
 * the double the lr schedules compute with (docs/config.md). */
#define MT_CFG_MAX_NUM_UPDATE ((int64_t)1 << 53)

/* [checkpoint] resume: none, auto (newest complete checkpoint; a fresh
 * start when there is none), or an epoch >= 0. */
enum { MT_RESUME_NONE = -2, MT_RESUME_AUTO = -1 };

typedef struct mt_config_priv mt_config_priv;

typedef struct {
  char *path; /* the file as given: errors say it */

  /* [data] */
  char *train;     /* "synthetic" or the path of an HDF5 dataset */
  char *val;       /* "synthetic", a path, or NULL (none) */
  int num_classes; /* synthetic: classes (10) */
  int feature_dim; /* synthetic: features per sample (128) */
  int synth_ndim;  /* synthetic: dims of one sample from synthetic_shape (0: none,
                    * the samples are (feature_dim)); feature_dim is their product */
  int64_t synth_dim[MT_MAX_DIM - 1];
  int64_t num_samples; /* synthetic: samples per set (320) */
  int64_t batch_size;  /* global batch over all ranks and contexts (32) */
  int shuffle;         /* training set reshuffled each epoch (1) */
  uint64_t seed;       /* data, initializer and dropout seed (0) */
  int data_cache;      /* HDF5 files: mt_h5_cache (auto) */
  float data_scale;    /* HDF5 files: x -> (x - mean[c]) * (scale / std[c]) (1) */
  int nmean, nstd;     /* 0 (none), 1 or one per channel */
  float mean[MT_H5_MAX_CHANNELS], std[MT_H5_MAX_CHANNELS];
  int64_t data_shape[3];           /* HDF5 images: C,H,W after the crop (0,0,0: none) */
  int pad, rand_crop, rand_mirror; /* HDF5 images, training (0, false, false) */

  /* [model]: exactly one of symbol_path / layers was given; `symbol` is
   * built (or loaded) and checked at load time, owned by the config. */
  char *symbol_path;
  int nlayers;
  mt_layer_spec *layers;
  mt_symbol *symbol;
  int nlabels;
  char **label_names; /* the symbol's label arguments ("softmax_label") */

  /* What --check and a training start found in the HDF5 [data] files
   * (mt_config_check_files): /data's shape [N, d1, ...] of train and val
   * (ndim 0: synthetic, none, or not checked yet). */
  mt_shape train_shape, val_shape;

  /* [train] */
  int num_epoch;          /* 5 */
  char *optimizer;        /* lower-case: sgd nag adam rmsprop adagrad */
  char *optimizer_params; /* "learning_rate=0.1 momentum=0 wd=0 ..." for
                           * mt_optimizer_create / mt_module_init_optimizer */
  double learning_rate;   /* the rate in use (the optimizer's default when not given) */
  char *lr_scheduler;     /* mt_lr_scheduler_create spec, or NULL */
  char *initializer;      /* mt_initializer_create spec ("xavier magnitude=2") */
  char *eval_metric;      /* mt_metric_create spec ("acc") */
  int nctx;
  mt_context ctx[MT_CFG_MAX_CTX];
  int ctx_auto;       /* context without device ids ("gpu"): each rank takes the GPU of its node
                         rank (modtrain command: node rank % GPUs, Horovod's convention) */
  char *kvstore;      /* local | device | nccl | dist_sync | hier */
  int speedometer;    /* log every N batches, 0 = off */
  char *metrics_file; /* JSON lines path, or NULL */
  char *timeline;     /* Trace Event JSON path, or NULL */
  int watchdog;       /* seconds without progress before the job is ended, 0 = off */
  int bucket_mb;      /* gradient bucket size in MiB (25), 0 = one bucket */

  /* [checkpoint] */
  char *prefix; /* NULL: no checkpoints */
  int period;   /* epochs between checkpoints (1) */
  int resume;   /* MT_RESUME_NONE, MT_RESUME_AUTO or an epoch */

  /* [model] lstm_lm: MXNet's lstm_bucketing.py network (src/rnn_lm.c) on
   * token-sequence files (docs/design.md §6), one symbol per bucket; then
   * `symbol` is the default (largest) bucket's. [data] buckets and
   * invalid_label go to the bucketed sentence iterator, which reads any
   * token-sequence [data] file (cmd_make_iter picks it by the layout). */
  int lstm_lm;                     /* 1: [model] lstm_lm given */
  mt_lstm_lm_config lm;            /* vocab from the key or the train file */
  int nbuckets;                    /* [data] buckets; 0: MXNet's automatic */
  int64_t buckets[MT_MAX_BUCKETS]; /* as written */
  int64_t default_bucket;          /* lstm_lm: the largest bucket (the symbol's length) */
  int64_t nbuckets_used;           /* lstm_lm: the buckets the training file fills */
  float invalid_label;             /* [data] invalid_label (0) */

  mt_config_priv *priv; /* what was written where (for errors and to_ini) */

  /* issue 19: MXNet models in and out */
  char *params_path; /* [model] params: .params or .h5 to start from, or NULL */
  int allow_missing; /* [model] allow_missing (0) */
  int also_params;   /* [checkpoint] also_params: P-EEEE.params beside each P-EEEE.h5 (0) */
} mt_config;

/* Reads `path`, applies the overrides ("section.key=value", in order, as
 * if written at the end of the file; `origin` names them in errors: NULL ->
 * "--set"), validates every key and cross-checks them, and builds the
 * network (from layers, or loading symbol) with data and label shapes
 * inferred. On error *out is NULL. The caller frees *out with
 * mt_config_free. */
int mt_config_load(const char *path, int nset, const char *const *sets, mt_config **out);
/* The same from text in memory; `name` stands for the file in messages. */
int mt_config_load_string(const char *text, const char *name, int nset, const char *const *sets,
                          mt_config **out);
/* As mt_config_load, with a per-override origin ("--set", "--resume"). */
int mt_config_load_ex(const char *path, const char *text, int nset, const char *const *sets,
                      const char *const *origins, mt_config **out);
void mt_config_free(mt_config *cfg);

/* The batch must split evenly over the ranks: MT_E_INVAL
 * "FILE:LINE: [data] batch_size: batch_size 30 is not divisible by 4 ranks;
 * use a multiple of 4". */
int mt_config_check_world(const mt_config *cfg, int world_size);

/* What a training run reads and writes, checked before it starts (the
 * command's --check and every training start; mt_config_load does not, so
 * viz, predict and score need none of it): [checkpoint] prefix can be
 * written under and an existing metrics_file written to; each HDF5 [data]
 * train / val is a regular file that opens as a dataset (float32, ranks,
 * equal N, its rows present in the file), its iterator fits in memory, the
 * network takes its samples (val: shaped as train), and with scan_labels
 * every label is read once (O(N), in blocks): finite, and class indices in
 * [0, classes) for a SoftmaxOutput network or a file's num_classes. Errors
 * (MT_E_INVAL) name the key's place, the file, and the row of a bad label. */
int mt_config_check_files(mt_config *cfg, int scan_labels);

/* The bucketed sentence iterator (mt_bucket_sentence_iter_create) of a
 * token-sequence file with the config's [data] buckets, invalid_label,
 * batch_size and seed: rank's part of every global batch of `world`
 * ranks, labels named `label`; info may be NULL. */
int mt_config_seq_iter(const mt_config *c, const char *path, int shuffle, const char *label,
                       int rank, int world, mt_bucket_iter_info *info, mt_data_iter **out);

/* The module of an lstm_lm config: with several [data] buckets a
 * BucketingModule over mt_lstm_lm_sym_gen (cfg->lm, which outlives it;
 * the default bucket the largest), else a Module on cfg->symbol. */
int mt_config_lm_module(const mt_config *c, mt_module **out);

/* The shape of the synthetic data's batch of `batch` samples: (batch,
 * feature_dim), or (batch, d1, ...) with [data] synthetic_shape. */
mt_shape mt_config_synthetic_shape(const mt_config *cfg, int64_t batch);

/* Where a key's value came from, for messages about it at run time:
 * "FILE:LINE", "--set", or "FILE (default)". Returns buf. */
const char *mt_config_where(const mt_config *cfg, const char *section, const char *key, char *buf,
                            size_t len);
/* 1 if the key was written in the file or given with --set. */
int mt_config_given(const mt_config *cfg, const char *section, const char *key);

/* The effective config as INI text (every key with its value after
 * defaults and overrides): what a checkpoint records and ranks compare.
 * malloc'd; the caller frees. */
int mt_config_to_ini(const mt_config *cfg, char **out);

/* The documented keys, for --help and the docs test: number, and for key i
 * its section, name, default text ("" when it has none) and meaning. */
int mt_config_num_keys(void);
void mt_config_key_info(int i, const char **section, const char **key, const char **def,
                        const char **doc);

#endif
