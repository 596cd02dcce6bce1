/* simd.h — MTK_CLONES: build a hot elementwise loop three times (baseline
 * x86-64, AVX2, AVX-512F) and let the loader pick the widest one the CPU
 * runs (GCC/Clang function multi-versioning through an ifunc). The library
 * stays one portable binary; on the AVX-512 machines these loops move twice
 * the bytes per instruction. Files using it are built with
 * -ffp-contract=off, so no clone fuses a multiply-add the others round
 * twice: every clone gives bit-identical results. */
#ifndef MT_KERNELS_CPU_SIMD_H
#define MT_KERNELS_CPU_SIMD_H

#if defined(__x86_64__) && defined(__GNUC__) && defined(__has_attribute) && !defined(MT_NO_CLONES)
#if __has_attribute(target_clones)
#define MTK_CLONES __attribute__((target_clones("default", "avx2", "avx512f")))
#endif
#endif
#ifndef MTK_CLONES
#define MTK_CLONES
#endif

#endif
