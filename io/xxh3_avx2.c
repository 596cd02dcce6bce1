/* xxh3_avx2.c — XXH3 with AVX2 (io/xxh3.h): compiled with -mavx2 where the
 * compiler takes it on x86-64 (CMakeLists.txt defines MTIO_XXH3_AVX2 then),
 * called only on a CPU that has AVX2. */
#if defined(MTIO_XXH3_AVX2) && defined(__AVX2__)
#define XXH_VECTOR 2 /* XXH_AVX2 */
#define MTIO_XXH3_PATH avx2
#include "io/xxh3_impl.h"
#else
typedef int mtio_xxh3_avx2_unused; /* not built for this target */
#endif
