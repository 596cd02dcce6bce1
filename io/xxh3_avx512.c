/* xxh3_avx512.c — XXH3 with AVX-512F (io/xxh3.h): compiled with -mavx512f
 * where the compiler takes it on x86-64 (CMakeLists.txt defines
 * MTIO_XXH3_AVX512 then), called only on a CPU that has AVX-512F. */
#if defined(MTIO_XXH3_AVX512) && defined(__AVX512F__)
#define XXH_VECTOR 3 /* XXH_AVX512 */
#define MTIO_XXH3_PATH avx512
#include "io/xxh3_impl.h"
#else
typedef int mtio_xxh3_avx512_unused; /* not built for this target */
#endif
