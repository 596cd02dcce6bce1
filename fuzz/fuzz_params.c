/* fuzz_params.c — libFuzzer harness for MXNet's `.params` files
 * (io/params_file.c mtio_params_read; src/params.c mt_params_load): the
 * input is written as a file and read by both. Every array the raw reader
 * returns must have a shape whose size its data holds (touched in full, so
 * ASan sees a short buffer). Parameters that load are saved with
 * mt_params_save and read back: the same names, shapes and bits. */
#include "fuzz_common.h"

#include "io/params_file.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fz_init();
  return 0;
}

static void check_raw(const char *path) {
  int n = 0;
  mtio_named_array *arrays = NULL;
  int rc = mtio_params_read(path, &n, &arrays);
  if (rc < 0) {
    FZ_CHECK(arrays == NULL && n == 0, "failed read left arrays");
    FZ_REFUSED(rc, "mtio_params_read");
    return;
  }
  volatile float sink = 0;
  for (int i = 0; i < n; i++) {
    const mt_shape *s = &arrays[i].shape;
    FZ_CHECK(s->ndim >= 1 && s->ndim <= MT_MAX_DIM, "array %d has %d dims", i, s->ndim);
    int64_t size = mt_shape_size(s);
    FZ_CHECK(size >= 0, "array %d has size %lld", i, (long long)size);
    FZ_CHECK(arrays[i].data != NULL, "array %d has no data", i);
    for (int64_t k = 0; k < size; k++) sink += arrays[i].data[k];
  }
  (void)sink;
  mtio_named_arrays_free(n, arrays);
}

static void same_arena(const mt_arena *a, const mt_arena *b, const char *what) {
  int n = mt_arena_count(a);
  FZ_CHECK(n == mt_arena_count(b), "%s: %d arrays, %d after the round trip", what, n,
           mt_arena_count(b));
  for (int i = 0; i < n; i++) {
    FZ_CHECK(!strcmp(mt_arena_name(a, i), mt_arena_name(b, i)), "%s: name '%s' became '%s'", what,
             mt_arena_name(a, i), mt_arena_name(b, i));
    mt_shape sa = mt_ndarray_shape(mt_arena_at(a, i)), sb = mt_ndarray_shape(mt_arena_at(b, i));
    FZ_CHECK(mt_shape_equal(&sa, &sb), "%s: '%s' changed shape", what, mt_arena_name(a, i));
    int64_t size = mt_shape_size(&sa);
    FZ_CHECK(!memcmp(mt_ndarray_data(mt_arena_at(a, i)), mt_ndarray_data(mt_arena_at(b, i)),
                     (size_t)size * sizeof(float)),
             "%s: '%s' changed values", what, mt_arena_name(a, i));
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[1100], path2[1100];
  fz_path(path, sizeof path, "in.params");
  fz_path(path2, sizeof path2, "out.params");
  fz_write(path, data, size);
  check_raw(path);
  mt_arena *arg = NULL, *aux = NULL;
  int rc = mt_params_load(path, &arg, &aux);
  unlink(path);
  if (rc < 0) {
    FZ_CHECK(arg == NULL && aux == NULL, "failed load left arenas");
    FZ_REFUSED(rc, "mt_params_load");
    return 0;
  }
  if (mt_params_save(path2, arg, aux) == MT_OK) {
    mt_arena *arg2 = NULL, *aux2 = NULL;
    rc = mt_params_load(path2, &arg2, &aux2);
    FZ_CHECK(rc == MT_OK, "what mt_params_save wrote does not load: %s", mt_last_error());
    same_arena(arg, arg2, "arg");
    same_arena(aux, aux2, "aux");
    mt_arena_free(arg2);
    mt_arena_free(aux2);
    unlink(path2);
  }
  mt_arena_free(arg);
  mt_arena_free(aux);
  return 0;
}
