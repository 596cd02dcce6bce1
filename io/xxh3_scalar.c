/* xxh3_scalar.c — XXH3 in plain 64-bit C (io/xxh3.h): every CPU runs it. */
#define XXH_VECTOR 0 /* XXH_SCALAR */
#define MTIO_XXH3_PATH scalar
#include "io/xxh3_impl.h"
