/* consumer.c — a user program built against an installed modtrain (only the
 * public header and -lmodtrain): prints the version, creates a (2, 3) array,
 * writes and reads it back, and checks that a bad shape is an error. Exits 0
 * when all of that works. Built by tests/install_check.sh with CMake and with
 * pkg-config. */
#include <stdio.h>
#include <string.h>

#include <modtrain.h>

int main(void) {
  const char *v = mt_version();
  if (!v || !*v) {
    fprintf(stderr, "consumer: empty mt_version()\n");
    return 1;
  }
  mt_ndarray *a = NULL;
  if (mt_ndarray_create(MT_SHAPE(2, 3), mt_cpu(0), &a) != MT_OK) {
    fprintf(stderr, "consumer: mt_ndarray_create: %s\n", mt_last_error());
    return 1;
  }
  const float in[6] = {1, 2, 3, 4, 5, 6};
  float out[6] = {0};
  int rc = mt_ndarray_copy_from(a, in, 6);
  if (rc == MT_OK) rc = mt_ndarray_copy_to(a, out, 6);
  mt_shape s = mt_ndarray_shape(a);
  char buf[64];
  mt_shape_str(&s, buf, sizeof buf);
  int ok = rc == MT_OK && mt_ndarray_size(a) == 6 && s.ndim == 2 && s.dim[0] == 2 &&
           s.dim[1] == 3 && memcmp(in, out, sizeof in) == 0;
  mt_ndarray_free(a);
  if (!ok) {
    fprintf(stderr, "consumer: array round trip failed (rc %d, shape %s): %s\n", rc, buf,
            mt_last_error());
    return 1;
  }
  /* a negative dimension must be refused with a message, not crash */
  mt_ndarray *bad = NULL;
  rc = mt_ndarray_create(MT_SHAPE(2, -1), mt_cpu(0), &bad);
  if (rc == MT_OK || !*mt_last_error()) {
    fprintf(stderr, "consumer: shape (2, -1) accepted (rc %d)\n", rc);
    mt_ndarray_free(bad);
    return 1;
  }
  printf("consumer: modtrain %s, array %s ok\n", v, buf);
  return 0;
}
