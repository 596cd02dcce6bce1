/* config_lm.c — the config of the bucketed LSTM language model
 * (docs/config.md "[model] lstm_lm"): [model] lstm_lm (MXNet's
 * example/rnn/bucketing/lstm_bucketing.py network, src/rnn_lm.c), [data]
 * buckets and invalid_label (the bucketed sentence iterator), the network
 * built for the default (largest) bucket, and the token-sequence files
 * checked as --check and a training start do. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_keys.h"
#include "base/error.h"
#include "io/h5_sequences.h"
#include "src/attrs.h"

/* "10,20,30" (also "(10, 20)" or "[10 20]"): 1 to MT_MAX_BUCKETS
 * distinct lengths in [1, 64] (an unrolled step is one of SliceChannel's
 * and Concat's at most 64 parts). */
static int apply_buckets(mt_config *c, int k, const char *v) {
  c->nbuckets = 0;
  if (!strcasecmp(v, "none")) return MT_OK;
  const char *p = v;
  while (*p) {
    while (*p && (isspace((unsigned char)*p) || strchr(",()[]", *p))) p++;
    if (!*p) break;
    char *end;
    long long x = strtoll(p, &end, 10);
    if (end == p || (*end && !isspace((unsigned char)*end) && !strchr(",()[]", *end)))
      return cfg_key_err(c, MT_E_INVAL, k, "'%s' is not a list of whole numbers (%s)", v,
                         cfg_keys[k].hint);
    if (x < 1 || x > 64)
      return cfg_key_err(c, MT_E_INVAL, k,
                         "bucket %lld is out of range: a sequence length from 1 to 64 (an "
                         "unrolled LSTM has at most 64 steps)",
                         x);
    for (int i = 0; i < c->nbuckets; i++)
      if (c->buckets[i] == x) return cfg_key_err(c, MT_E_INVAL, k, "bucket %lld is given twice", x);
    if (c->nbuckets == MT_MAX_BUCKETS)
      return cfg_key_err(c, MT_E_INVAL, k, "more than %d buckets", MT_MAX_BUCKETS);
    c->buckets[c->nbuckets++] = x;
    p = end;
  }
  if (c->nbuckets == 0)
    return cfg_key_err(c, MT_E_INVAL, k, "no bucket given (%s)", cfg_keys[k].hint);
  return MT_OK;
}

/* lstm_lm = num_layers=2 num_embed=200 num_hidden=200 [vocab=N] */
static int apply_lstm_lm(mt_config *c, int k, const char *v) {
  c->lstm_lm = 0;
  if (!strcasecmp(v, "none")) return MT_OK;
  mt_attrs a;
  if (mt_attrs_parse(v, &a) < 0) {
    char msg[1024];
    cfg_last_error_copy(msg, sizeof msg);
    return cfg_key_err(c, MT_E_INVAL, k, "%s (%s)", msg, cfg_keys[k].hint);
  }
  static const char *const names[] = {"num_layers", "num_embed", "num_hidden", "vocab"};
  static const int64_t defs[] = {2, 200, 200, 0}, lo[] = {1, 1, 1, 0},
                       hi[] = {64, 1 << 20, 1 << 20, 1 << 30};
  int64_t val[4];
  int rc = MT_OK;
  for (int i = 0; i < a.n && rc == MT_OK; i++) {
    int known = 0;
    for (int j = 0; j < 4; j++) known |= !strcmp(a.keys[i], names[j]);
    if (!known) {
      char sug[128];
      cfg_suggestion(a.keys[i], 4, names, sug, sizeof sug);
      rc = cfg_key_err(c, MT_E_INVAL, k, "unknown setting '%s' (%s%s%s)", a.keys[i], sug,
                       sug[0] ? "; " : "", cfg_keys[k].hint);
    }
  }
  for (int j = 0; j < 4 && rc == MT_OK; j++) {
    const char *s = mt_attrs_get(&a, names[j]);
    val[j] = defs[j];
    if (!s) continue;
    char *end;
    long long x = strtoll(s, &end, 10);
    if (end == s || *end)
      rc = cfg_key_err(c, MT_E_INVAL, k, "%s='%s' is not a whole number (%s)", names[j], s,
                       cfg_keys[k].hint);
    else if (x < lo[j] + (j == 3) * 2 || x > hi[j])
      rc = cfg_key_err(c, MT_E_INVAL, k, "%s=%lld is out of range [%lld, %lld]", names[j], x,
                       (long long)(lo[j] + (j == 3) * 2), (long long)hi[j]);
    else val[j] = x;
  }
  mt_attrs_free(&a);
  if (rc < 0) return rc;
  c->lstm_lm = 1;
  c->lm = (mt_lstm_lm_config){(int)val[0], (int)val[3], (int)val[1], (int)val[2]};
  return MT_OK;
}

int cfg_apply_lm_key(mt_config *c, int k, const char *v) {
  switch (k) {
  case K_LSTM_LM: return apply_lstm_lm(c, k, v);
  case K_BUCKETS: return apply_buckets(c, k, v);
  case K_INVALID_LABEL: {
    char *end;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end || x < -1 || x > (1 << 24))
      return cfg_key_err(c, MT_E_INVAL, k, "'%s' is not a whole number in [-1, 2^24] (%s)", v,
                         cfg_keys[k].hint);
    c->invalid_label = (float)x;
    return MT_OK;
  }
  default: return MT_OK;
  }
}

/* The bucketed sentence iterator's options for this config (rank / world). */
static mt_bucket_iter_options iter_options(const mt_config *c, int shuffle, int rank, int world,
                                           const char *label) {
  mt_bucket_iter_options o;
  memset(&o, 0, sizeof o);
  o.buckets = c->nbuckets ? c->buckets : NULL;
  o.nbuckets = c->nbuckets;
  o.batch_size = c->batch_size;
  o.invalid_label = c->invalid_label;
  o.shuffle = shuffle;
  o.seed = c->seed;
  o.rank = rank;
  o.world = world;
  o.data_name = "data";
  o.label_name = label;
  return o;
}

int mt_config_seq_iter(const mt_config *c, const char *path, int shuffle, const char *label,
                       int rank, int world, mt_bucket_iter_info *info, mt_data_iter **out) {
  mt_bucket_iter_options o = iter_options(c, shuffle, rank, world, label);
  return mt_bucket_sentence_iter_create(path, &o, info, out);
}

/* lstm_lm: the vocabulary and the buckets (from the training file where
 * the config leaves them out), then the default bucket's network. */
int cfg_build_lm(mt_config *c) {
  char msg[1024];
  if (!strcmp(c->train, "synthetic") || !mtio_seq_probe(c->train))
    return cfg_key_err(c, MT_E_INVAL, K_TRAIN,
                       "[model] lstm_lm reads token-sequence files (/tokens, /offsets: "
                       "jobs/data/text_to_h5.py writes them), and '%s' is not one",
                       c->train);
  if (c->lm.vocab == 0 && c->nbuckets > 0) {
    /* the file's vocab_size (read whole and checked; a corpus is small) */
    mtio_seq_data d;
    int rc = mtio_seq_read(c->train, &d);
    c->lm.vocab = (int)d.vocab_size;
    mtio_seq_free(&d);
    if (rc < 0) {
      cfg_last_error_copy(msg, sizeof msg);
      return cfg_key_err(c, MT_E_INVAL, K_TRAIN, "%s", msg);
    }
  }
  if (c->lm.vocab == 0 || c->nbuckets == 0) {
    mt_bucket_iter_info info;
    mt_data_iter *it = NULL;
    int rc = mt_config_seq_iter(c, c->train, 0, "softmax_label", 0, 1, &info, &it);
    mt_data_iter_free(it);
    if (rc < 0) {
      cfg_last_error_copy(msg, sizeof msg);
      return cfg_key_err(c, MT_E_INVAL, c->nbuckets ? K_TRAIN : K_BUCKETS, "%s", msg);
    }
    if (c->lm.vocab == 0) c->lm.vocab = (int)info.vocab_size;
    if (c->nbuckets == 0) {
      /* MXNet's automatic buckets: fixed here so that val gets train's */
      if (info.buckets[info.nbuckets - 1] > 64)
        return cfg_key_err(c, MT_E_INVAL, K_BUCKETS,
                           "the automatic buckets of '%s' reach length %lld, and an unrolled "
                           "LSTM has at most 64 steps (give buckets, e.g. 10,20,30,40,50,60)",
                           c->train, (long long)info.buckets[info.nbuckets - 1]);
      c->nbuckets = info.nbuckets;
      memcpy(c->buckets, info.buckets, sizeof c->buckets[0] * (size_t)info.nbuckets);
    }
  }
  if (c->lm.vocab < 2)
    return cfg_key_err(c, MT_E_INVAL, K_LSTM_LM, "the vocabulary has %d words (at least 2)",
                       c->lm.vocab);
  c->default_bucket = 0;
  for (int i = 0; i < c->nbuckets; i++)
    if (c->buckets[i] > c->default_bucket) c->default_bucket = c->buckets[i];
  int rc = mt_lstm_lm_symbol((int)c->default_bucket, c->lm.num_layers, c->lm.vocab, c->lm.num_embed,
                             c->lm.num_hidden, &c->symbol);
  if (rc < 0) {
    cfg_last_error_copy(msg, sizeof msg);
    return cfg_key_err(c, MT_E_INVAL, K_LSTM_LM, "%s", msg);
  }
  return MT_OK;
}

/* A token-sequence [data] file (key k): it reads, its buckets fill full
 * batches for this world size, and (lstm_lm) its tokens fit the network's
 * vocabulary. *shape: (sentences, longest bucket) for the banner. */
int cfg_check_seq_file(mt_config *c, int k, const char *path, mt_shape *shape) {
  mt_bucket_iter_info info;
  mt_data_iter *it = NULL;
  int world = mt_dist_world_size();
  char msg[1024];
  int rc = mt_config_seq_iter(c, path, 0, "softmax_label", 0, world > 0 ? world : 1, &info, &it);
  mt_data_iter_free(it);
  if (rc < 0) {
    cfg_last_error_copy(msg, sizeof msg);
    return cfg_key_err(c, MT_E_INVAL, k, "%s", msg);
  }
  if (c->lstm_lm && info.vocab_size > c->lm.vocab)
    return cfg_key_err(c, MT_E_INVAL, k,
                       "%s: vocab_size %lld is larger than the network's vocabulary %d "
                       "([model] lstm_lm vocab=%d)",
                       path, (long long)info.vocab_size, c->lm.vocab, c->lm.vocab);
  if (k == K_TRAIN) {
    c->nbuckets_used = 0;
    for (int i = 0; i < info.nbuckets; i++)
      c->nbuckets_used += info.bucket_sentences[i] >= c->batch_size;
  }
  shape->ndim = 2;
  shape->dim[0] = info.nsentences - info.ndiscarded;
  shape->dim[1] = info.buckets[info.nbuckets - 1];
  return MT_OK;
}

int mt_config_lm_module(const mt_config *c, mt_module **out) {
  *out = NULL;
  if (c->nbuckets > 1)
    return mt_bucketing_module_create(mt_lstm_lm_sym_gen, (void *)&c->lm, (int)c->default_bucket,
                                      c->nctx, c->ctx, out);
  const char *data_name = "data";
  return mt_module_create(c->symbol, 1, &data_name, c->nlabels, (const char *const *)c->label_names,
                          c->nctx, c->ctx, out);
}
