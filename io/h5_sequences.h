/* h5_sequences.h — token-sequence files (docs/design.md §6 "Token
 * sequences"): a corpus of sentences as one flat token array and offsets,
 * written atomically and read whole (a text corpus is small), validated on
 * read. src/bucket_iter.c builds the bucketed sentence iterator on it;
 * jobs/data/text_to_h5.py writes the same layout with h5py.
 *
 *   /tokens   int32 [T]      every sentence's tokens, one after another
 *   /offsets  int64 [n + 1]  sentence i is tokens[offsets[i] : offsets[i+1]];
 *                            offsets[0] = 0, non-decreasing, offsets[n] = T
 *   /vocab    string [V]     optional: the word of each token id
 *   attributes on /:
 *     format_version  int64  MTIO_SEQ_FORMAT_VERSION; a reader refuses newer
 *     vocab_size      int64  V: every token in [0, V)
 * Holds the process-wide HDF5 lock (io/h5dataset.h) while it calls HDF5. */
#ifndef MT_IO_H5_SEQUENCES_H
#define MT_IO_H5_SEQUENCES_H
#include <stdint.h>

#include "modtrain.h"

#define MTIO_SEQ_FORMAT_VERSION 1

/* Writes PATH (through PATH.tmp-PID, fsync, rename). offsets has nseq + 1
 * entries as above; vocab NULL or vocab_size words. Tokens outside
 * [0, vocab_size) or bad offsets are MT_E_FORMAT before anything is written. */
int mtio_seq_write(const char *path, const int32_t *tokens, const int64_t *offsets, int64_t nseq,
                   int64_t vocab_size, const char *const *vocab);

typedef struct {
  int32_t *tokens;
  int64_t *offsets; /* nseq + 1 */
  int64_t ntokens, nseq, vocab_size;
} mtio_seq_data;

/* Reads and checks a whole file (layout, version, offsets, token range);
 * errors are MT_E_IO (no file), MT_E_FORMAT or MT_E_HDF5 naming the path. */
int mtio_seq_read(const char *path, mtio_seq_data *out);
void mtio_seq_free(mtio_seq_data *d);

/* 1 when PATH is a regular HDF5 file holding /tokens and /offsets (a token-sequence
 * file: the command then reads it with the bucketed sentence iterator), 0
 * when it is not (not readable, not a regular file, not HDF5, another
 * layout; a FIFO or device is never opened). Records no
 * error; mtio_seq_read checks the rest. */
int mtio_seq_probe(const char *path);

#endif
