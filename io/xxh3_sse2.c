/* xxh3_sse2.c — XXH3 with SSE2 on x86-64, the baseline every x86-64 CPU runs;
 * elsewhere xxhash.h's own choice for the target (NEON on aarch64, ...)
 * (io/xxh3.h). */
#if defined(__x86_64__) || defined(_M_X64)
#define XXH_VECTOR 1 /* XXH_SSE2 */
#endif
#define MTIO_XXH3_PATH sse2
#include "io/xxh3_impl.h"
