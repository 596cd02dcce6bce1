/* test_bucket_iter.c — the token-sequence file (io/h5_sequences.c) and the
 * bucketed sentence iterator (src/bucket_iter.c), MXNet's BucketSentenceIter:
 * padding with invalid_label, labels shifted by one, the smallest bucket
 * that fits, dropped sentences counted, full batches only, automatic
 * buckets, a per-epoch shuffle that is a function of the seed and epoch
 * (set_epoch gives the same), and 2-rank shards that partition each global
 * batch exactly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/h5_sequences.h"
#include "testutil.h"

#define NSEQ 60
#define VOCAB 50

static char path[256];
static int64_t lens[NSEQ];

/* sentence i: length (i * 7) % 12 (0..11), token j = 1 + (3 i + j) % 49 */
static int32_t tok(int64_t i, int64_t j) { return (int32_t)(1 + (3 * i + j) % (VOCAB - 1)); }

static int setup(void **state) {
  (void)state;
  snprintf(path, sizeof path, "/tmp/test_bucket_iter-%ld.h5", (long)getpid());
  int64_t off[NSEQ + 1] = {0};
  int32_t *t = malloc(sizeof(int32_t) * NSEQ * 12);
  for (int64_t i = 0; i < NSEQ; i++) {
    lens[i] = (i * 7) % 12;
    for (int64_t j = 0; j < lens[i]; j++) t[off[i] + j] = tok(i, j);
    off[i + 1] = off[i] + lens[i];
  }
  const char *vocab[VOCAB];
  char words[VOCAB][8];
  for (int v = 0; v < VOCAB; v++) {
    snprintf(words[v], sizeof words[v], "w%d", v);
    vocab[v] = words[v];
  }
  int rc = mtio_seq_write(path, t, off, NSEQ, VOCAB, vocab);
  free(t);
  if (rc < 0) print_error("setup: %s\n", mt_last_error());
  return rc;
}

static int teardown(void **state) {
  (void)state;
  unlink(path);
  return 0;
}

static mt_data_iter *make(const int64_t *buckets, int nb, int64_t B, int shuffle, uint64_t seed,
                          int rank, int world, mt_bucket_iter_info *info) {
  mt_bucket_iter_options o = {.buckets = buckets,
                              .nbuckets = nb,
                              .batch_size = B,
                              .invalid_label = 0,
                              .shuffle = shuffle,
                              .seed = seed,
                              .rank = rank,
                              .world = world};
  mt_data_iter *it = NULL;
  MT_ASSERT_OK(mt_bucket_sentence_iter_create(path, &o, info, &it));
  return it;
}

static const int64_t buckets[] = {8, 3, 5}; /* any order */

static void test_file_roundtrip(void **state) {
  (void)state;
  mtio_seq_data d;
  MT_ASSERT_OK(mtio_seq_read(path, &d));
  assert_int_equal(d.nseq, NSEQ);
  assert_int_equal(d.vocab_size, VOCAB);
  for (int64_t i = 0; i < NSEQ; i++) {
    assert_int_equal(d.offsets[i + 1] - d.offsets[i], lens[i]);
    for (int64_t j = 0; j < lens[i]; j++) assert_int_equal(d.tokens[d.offsets[i] + j], tok(i, j));
  }
  mtio_seq_free(&d);
  /* the writer refuses tokens outside the vocabulary and bad offsets */
  int32_t t[3] = {1, 2, VOCAB};
  int64_t off[2] = {0, 3}, boff[3] = {0, 2, 1};
  char p2[300];
  snprintf(p2, sizeof p2, "%s.bad", path);
  assert_int_equal(mtio_seq_write(p2, t, off, 1, VOCAB, NULL), MT_E_FORMAT);
  assert_non_null(strstr(mt_last_error(), "token 2"));
  assert_int_equal(mtio_seq_write(p2, t, boff, 2, VOCAB, NULL), MT_E_FORMAT);
  assert_int_equal(access(p2, F_OK), -1); /* nothing written */
  assert_int_equal(mtio_seq_read(p2, &d), MT_E_IO);
}

/* One epoch: every batch checked against the file; returns the sentences
 * seen (seen[i] counts). */
static int64_t run_epoch(mt_data_iter *it, const int64_t *keys, int nb, int64_t rows, int *seen,
                         int64_t *trace) {
  mt_batch b;
  int64_t nbatch = 0;
  int rc;
  while ((rc = mt_data_iter_next(it, &b)) == 1) {
    int64_t L = b.bucket_key;
    assert_int_equal(b.ndata, 1);
    assert_int_equal(b.nlabel, 1);
    assert_int_equal(b.pad, 0);
    assert_true(mt_shape_equal(&b.data[0]->shape, &MT_SHAPE(rows, L)));
    assert_true(mt_shape_equal(&b.label[0]->shape, &MT_SHAPE(rows, L)));
    int k = 0;
    while (k < nb && keys[k] != L) k++;
    assert_true(k < nb);
    for (int64_t r = 0; r < rows; r++) {
      int64_t s = b.index[r];
      assert_true(s >= 0 && s < NSEQ);
      seen[s]++;
      if (trace) trace[nbatch * rows + r] = s;
      /* the smallest bucket that holds it */
      assert_true(lens[s] <= L);
      if (k > 0) assert_true(lens[s] > keys[k - 1]);
      const float *x = b.data[0]->data + r * L, *y = b.label[0]->data + r * L;
      for (int64_t j = 0; j < L; j++) {
        float want = j < lens[s] ? (float)tok(s, j) : 0.0f;
        float wl = j + 1 < lens[s] ? (float)tok(s, j + 1) : 0.0f;
        assert_true(x[j] == want);
        assert_true(y[j] == wl);
      }
    }
    nbatch++;
  }
  assert_int_equal(rc, 0);
  return nbatch;
}

static void test_buckets_padding_labels(void **state) {
  (void)state;
  mt_bucket_iter_info info;
  mt_data_iter *it = make(buckets, 3, 4, 1, 7, 0, 1, &info);
  /* lengths 0..11, 5 sentences each: 0-3 -> 3, 4-5 -> 5, 6-8 -> 8, 9-11 dropped */
  assert_int_equal(info.nsentences, NSEQ);
  assert_int_equal(info.nbuckets, 3);
  assert_int_equal(info.buckets[0], 3);
  assert_int_equal(info.buckets[2], 8);
  assert_int_equal(info.bucket_sentences[0], 20);
  assert_int_equal(info.bucket_sentences[1], 10);
  assert_int_equal(info.bucket_sentences[2], 15);
  assert_int_equal(info.ndiscarded, 15);
  assert_int_equal(info.nbatches, 5 + 2 + 3); /* full batches only */
  int n;
  const mt_data_desc *d;
  MT_ASSERT_OK(mt_data_iter_provide_data(it, &n, &d));
  assert_string_equal(d[0].name, "data");
  assert_true(mt_shape_equal(&d[0].shape, &MT_SHAPE(4, 8))); /* the largest bucket */
  MT_ASSERT_OK(mt_data_iter_provide_label(it, &n, &d));
  assert_string_equal(d[0].name, "softmax_label");
  int seen[NSEQ] = {0};
  assert_int_equal(run_epoch(it, info.buckets, 3, 4, seen, NULL), 10);
  int total = 0;
  for (int i = 0; i < NSEQ; i++) {
    assert_true(seen[i] <= 1);
    if (lens[i] > 8) assert_int_equal(seen[i], 0);
    total += seen[i];
  }
  assert_int_equal(total, 40);
  /* the next epoch after reset */
  MT_ASSERT_OK(mt_data_iter_reset(it));
  memset(seen, 0, sizeof seen);
  assert_int_equal(run_epoch(it, info.buckets, 3, 4, seen, NULL), 10);
  mt_data_iter_free(it);
}

static void epoch_trace(mt_data_iter *it, const int64_t *keys, int64_t rows, int64_t *trace) {
  int seen[NSEQ] = {0};
  run_epoch(it, keys, 3, rows, seen, trace);
}

static void test_shuffle_deterministic(void **state) {
  (void)state;
  mt_bucket_iter_info info;
  mt_data_iter *a = make(buckets, 3, 4, 1, 7, 0, 1, &info),
               *b = make(buckets, 3, 4, 1, 7, 0, 1, NULL),
               *c = make(buckets, 3, 4, 1, 8, 0, 1, NULL),
               *u = make(buckets, 3, 4, 0, 7, 0, 1, NULL);
  int64_t ta[2][40], tb[2][40], tc[40], tu[40], tr[40];
  for (int e = 0; e < 2; e++) {
    epoch_trace(a, info.buckets, 4, ta[e]);
    epoch_trace(b, info.buckets, 4, tb[e]);
    MT_ASSERT_OK(mt_data_iter_reset(a));
    MT_ASSERT_OK(mt_data_iter_reset(b));
  }
  assert_memory_equal(ta, tb, sizeof ta);              /* same seed, same orders */
  assert_memory_not_equal(ta[0], ta[1], sizeof ta[0]); /* a new order each epoch */
  epoch_trace(c, info.buckets, 4, tc);
  assert_memory_not_equal(ta[0], tc, sizeof tc); /* another seed, another */
  epoch_trace(u, info.buckets, 4, tu);           /* no shuffle: file order */
  for (int i = 1; i < 40; i++)
    if (lens[tu[i]] <= 3 || lens[tu[i - 1]] > 3) /* within a bucket, ascending */
      assert_true(tu[i] > tu[i - 1] || lens[tu[i]] > lens[tu[i - 1]] || lens[tu[i - 1]] > 3);
  assert_true(tu[0] < tu[1] && lens[tu[0]] <= 3);
  /* a fresh iterator put at epoch 1 gives epoch 1's order (resume) */
  mt_data_iter *r = make(buckets, 3, 4, 1, 7, 0, 1, NULL);
  MT_ASSERT_OK(mt_data_iter_set_epoch(r, 1));
  epoch_trace(r, info.buckets, 4, tr);
  assert_memory_equal(tr, ta[1], sizeof tr);
  mt_data_iter_free(a);
  mt_data_iter_free(b);
  mt_data_iter_free(c);
  mt_data_iter_free(u);
  mt_data_iter_free(r);
}

/* rank 0 and 1 of 2 take rows [0, 2) and [2, 4) of every global batch of 4 */
static void test_two_rank_shards(void **state) {
  (void)state;
  mt_bucket_iter_info info;
  mt_data_iter *g = make(buckets, 3, 4, 1, 9, 0, 1, &info);
  mt_data_iter *s[2] = {make(buckets, 3, 4, 1, 9, 0, 2, NULL),
                        make(buckets, 3, 4, 1, 9, 1, 2, NULL)};
  int n;
  const mt_data_desc *d;
  MT_ASSERT_OK(mt_data_iter_provide_data(s[1], &n, &d));
  assert_true(mt_shape_equal(&d[0].shape, &MT_SHAPE(2, 8)));
  for (int e = 0; e < 2; e++) {
    mt_batch gb, sb;
    int rc;
    while ((rc = mt_data_iter_next(g, &gb)) == 1) {
      int64_t L = gb.bucket_key;
      for (int r = 0; r < 2; r++) {
        assert_int_equal(mt_data_iter_next(s[r], &sb), 1);
        assert_int_equal(sb.bucket_key, L);
        assert_int_equal(sb.data[0]->shape.dim[0], 2);
        assert_memory_equal(sb.index, gb.index + 2 * r, 2 * sizeof(int64_t));
        assert_memory_equal(sb.data[0]->data, gb.data[0]->data + 2 * r * L, 2 * L * sizeof(float));
        assert_memory_equal(sb.label[0]->data, gb.label[0]->data + 2 * r * L,
                            2 * L * sizeof(float));
      }
    }
    assert_int_equal(rc, 0);
    for (int r = 0; r < 2; r++) assert_int_equal(mt_data_iter_next(s[r], &sb), 0);
    MT_ASSERT_OK(mt_data_iter_reset(g));
    MT_ASSERT_OK(mt_data_iter_reset(s[0]));
    MT_ASSERT_OK(mt_data_iter_reset(s[1]));
  }
  mt_data_iter_free(g);
  mt_data_iter_free(s[0]);
  mt_data_iter_free(s[1]);
}

static void test_auto_buckets_and_errors(void **state) {
  (void)state;
  /* MXNet: every length with at least batch_size sentences (each length has 5) */
  mt_bucket_iter_info info;
  mt_data_iter *it = make(NULL, 0, 5, 0, 1, 0, 1, &info);
  assert_int_equal(info.nbuckets, 11); /* 1..11; the empty sentences go to bucket 1 */
  assert_int_equal(info.buckets[0], 1);
  assert_int_equal(info.buckets[10], 11);
  assert_int_equal(info.bucket_sentences[0], 10);
  assert_int_equal(info.ndiscarded, 0);
  assert_int_equal(info.nbatches, 12);
  int seen[NSEQ] = {0};
  assert_int_equal(run_epoch(it, info.buckets, 11, 5, seen, NULL), 12);
  mt_data_iter_free(it);
  mt_bucket_iter_options o = {.buckets = buckets, .nbuckets = 3, .batch_size = 3, .world = 2};
  mt_data_iter *bad = NULL;
  assert_int_equal(mt_bucket_sentence_iter_create(path, &o, NULL, &bad), MT_E_INVAL);
  assert_non_null(strstr(mt_last_error(), "does not split over 2 ranks"));
  o.world = 1;
  o.batch_size = 100; /* no bucket has 100 sentences */
  assert_int_equal(mt_bucket_sentence_iter_create(path, &o, NULL, &bad), MT_E_INVAL);
  o.buckets = NULL; /* nor any length */
  o.nbuckets = 0;
  assert_int_equal(mt_bucket_sentence_iter_create(path, &o, NULL, &bad), MT_E_INVAL);
  assert_non_null(strstr(mt_last_error(), "100 times"));
  const int64_t twice[] = {3, 3};
  o.buckets = twice;
  o.nbuckets = 2;
  o.batch_size = 2;
  assert_int_equal(mt_bucket_sentence_iter_create(path, &o, NULL, &bad), MT_E_INVAL);
  o.buckets = buckets;
  o.nbuckets = 3;
  assert_int_equal(mt_bucket_sentence_iter_create("/nonexistent/x.h5", &o, NULL, &bad), MT_E_IO);
  assert_null(bad);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_file_roundtrip),          cmocka_unit_test(test_buckets_padding_labels),
      cmocka_unit_test(test_shuffle_deterministic),   cmocka_unit_test(test_two_rank_shards),
      cmocka_unit_test(test_auto_buckets_and_errors),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
