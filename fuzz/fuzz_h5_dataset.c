/* fuzz_h5_dataset.c — libFuzzer harness for HDF5 dataset files: the
 * validating opener (io/h5dataset.c mtio_h5_open) and the HDF5 iterator on
 * it (src/h5_iter.c mt_h5_iter_create / next / reset), on a file holding
 * the input. A file that opens is read directly (its first and last rows,
 * when a row is at most 16 MiB: the harness's own buffers) and through two
 * iterators: batch 2 shuffled with pad on one rank, and batch 4 in order
 * with roll_over as rank 1 of 2; each gives at most 3 batches, is reset
 * and gives one more. Errors are fine; crashes, leaks and hangs are not. */
#include "fuzz_common.h"

#include "io/h5dataset.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fz_init();
  return 0;
}

static void read_direct(const char *path) {
  mtio_h5_reader *r = NULL;
  int rc = mtio_h5_open(path, &r);
  if (rc < 0) {
    FZ_CHECK(r == NULL, "failed open left a reader");
    FZ_REFUSED(rc, "mtio_h5_open");
    return;
  }
  const mtio_h5_meta *m = mtio_h5_reader_meta(r);
  FZ_CHECK(m->ndim >= 2 && m->ndim <= MT_MAX_DIM, "/data has %d dims", m->ndim);
  FZ_CHECK(m->label_ndim == 1 || m->label_ndim == 2, "/label has %d dims", m->label_ndim);
  FZ_CHECK(m->dim[0] == m->label_dim[0], "/data has %lld rows, /label %lld", (long long)m->dim[0],
           (long long)m->label_dim[0]);
  FZ_CHECK(m->row >= 0 && m->label_row >= 0, "negative row size");
  const int64_t limit = (int64_t)4 << 20; /* floats */
  if (m->dim[0] > 0 && m->row <= limit && m->label_row <= limit) {
    float *x = malloc((size_t)(m->row ? m->row : 1) * 2 * sizeof(float));
    float *y = malloc((size_t)(m->label_row ? m->label_row : 1) * 2 * sizeof(float));
    if (!x || !y) abort();
    (void)mtio_h5_read_range(r, 0, 1, x, y);
    int64_t rows[2] = {0, m->dim[0] - 1};
    (void)mtio_h5_read_rows(r, m->dim[0] > 1 ? 2 : 1, rows, x, y);
    free(x);
    free(y);
  }
  mtio_h5_close(r);
}

static void iterate(const char *path, int64_t batch, int shuffle, mt_last_batch mode, int rank,
                    int world) {
  mt_data_iter *it = NULL;
  int rc = mt_h5_iter_create(path, batch, shuffle, 7, mode, rank, world, NULL, NULL, &it);
  if (rc < 0) {
    FZ_CHECK(it == NULL, "failed create left an iterator");
    FZ_REFUSED(rc, "mt_h5_iter_create");
    return;
  }
  int n = 0;
  const mt_data_desc *d = NULL;
  FZ_CHECK(mt_data_iter_provide_data(it, &n, &d) == MT_OK, "%s", mt_last_error());
  FZ_CHECK(mt_data_iter_provide_label(it, &n, &d) == MT_OK, "%s", mt_last_error());
  for (int round = 0; round < 2; round++) {
    for (int b = 0; b < (round ? 1 : 3); b++) {
      mt_batch batch_out;
      rc = mt_data_iter_next(it, &batch_out);
      if (rc != 1) break; /* 0 at the end of the epoch, < 0 an error naming the rows */
    }
    if (mt_data_iter_reset(it) != MT_OK) break;
  }
  mt_data_iter_free(it);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[1100];
  fz_path(path, sizeof path, "data.h5");
  fz_write(path, data, size);
  read_direct(path);
  iterate(path, 2, 1, MT_LAST_BATCH_PAD, 0, 1);
  iterate(path, 4, 0, MT_LAST_BATCH_ROLL_OVER, 1, 2);
  unlink(path);
  return 0;
}
