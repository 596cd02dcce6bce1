/* params_file.h — MXNet's binary NDArray-list file (`.params`, mx.nd.save /
 * mx.nd.load, src/ndarray/ndarray.cc) on raw buffers. Depends on the public
 * header only. The format, all integers little endian:
 *
 *   uint64  0x112            kMXAPINDArrayListMagic
 *   uint64  0                reserved
 *   uint64  N                number of arrays, then N arrays:
 *     uint32  0xF993FAC9     NDARRAY_V2_MAGIC
 *     int32   0              storage type (0 = dense)
 *     uint32  ndim, then ndim int64 dims
 *     int32   dev_type, int32 dev_id      (1, 0 = cpu(0))
 *     int32   type flag      (0 = float32)
 *     bytes   the elements, row-major
 *   uint64  K                number of names (0 or N), then K times:
 *     uint64  length, then the bytes of the name ("arg:fc1_weight")
 *
 * Reading also accepts NDARRAY_V3_MAGIC 0xF993FACA (MXNet >= 1.6 with numpy
 * shapes: ndim -1 means none, 0 a scalar), NDARRAY_V1_MAGIC 0xF993FAC8 (no
 * storage type) and the legacy layout (no magic: uint32 ndim, uint32 dims),
 * and type flags float32, float64, float16, bfloat16, uint8, int8, int32,
 * int64 (converted to float32). Sparse arrays are MT_E_UNSUPPORTED. */
#ifndef MT_IO_PARAMS_FILE_H
#define MT_IO_PARAMS_FILE_H
#include <stdint.h>

#include "modtrain.h"

#define MTIO_NDARRAY_LIST_MAGIC 0x112ULL
#define MTIO_NDARRAY_V1_MAGIC 0xF993FAC8U
#define MTIO_NDARRAY_V2_MAGIC 0xF993FAC9U
#define MTIO_NDARRAY_V3_MAGIC 0xF993FACAU

typedef struct {
  char *name;     /* the key as stored ("arg:fc1_weight"); NULL in an unnamed list */
  mt_shape shape; /* a scalar (V3) is (1,) */
  float *data;    /* mt_shape_size(&shape) floats, malloc'd */
} mtio_named_array;

/* Reads every array of the file. Errors name the path and what is wrong:
 * MT_E_IO (cannot open/read), MT_E_FORMAT (bad magic, truncated, counts that
 * do not fit the file, none arrays, a shape past base/shape.h's limit, an
 * empty name or a bare "arg:" / "aux:"), MT_E_UNSUPPORTED (sparse, other
 * dtypes, more than MT_MAX_DIM dims). Free with mtio_named_arrays_free. */
int mtio_params_read(const char *path, int *n, mtio_named_array **arrays);
void mtio_named_arrays_free(int n, mtio_named_array *arrays);

/* Writes n float32 arrays as V2 NDArrays on cpu(0) with their names
 * (names may be NULL: an unnamed list). Atomic: temporary file, fsync,
 * rename (io/h5_container.h's mtio_commit_file). */
int mtio_params_write(const char *path, int n, const char *const *names, const mt_shape *shapes,
                      const float *const *data);

#endif
