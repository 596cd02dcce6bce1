/* philox.h — Philox-4x32-10 counter-based generator (Salmon et al., 2011).
 * A stream is a key (seed, stream id); a value is a function of the key and
 * a 128-bit counter alone, so any element can be drawn independently — the
 * basis of rank- and context-independent randomness (docs/design.md §5).
 * Header-only so CUDA kernels can use it too. */
#ifndef MT_BASE_PHILOX_H
#define MT_BASE_PHILOX_H
#include <math.h>
#include <stdint.h>

#ifdef __CUDACC__
#define MTK_HD __host__ __device__
#else
#define MTK_HD
#endif

typedef struct {
  uint32_t v[4];
} mtk_philox4;

static inline MTK_HD mtk_philox4 mtk_philox(uint64_t key, uint64_t ctr_hi, uint64_t ctr_lo) {
  uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
  uint32_t c0 = (uint32_t)ctr_lo, c1 = (uint32_t)(ctr_lo >> 32);
  uint32_t c2 = (uint32_t)ctr_hi, c3 = (uint32_t)(ctr_hi >> 32);
  for (int r = 0; r < 10; r++) {
    uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
    uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
    c1 = (uint32_t)p1;
    c3 = (uint32_t)p0;
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  mtk_philox4 out = {{c0, c1, c2, c3}};
  return out;
}

/* Mixes a seed and a stream id into one 64-bit key (splitmix64 finaliser). */
static inline MTK_HD uint64_t mtk_philox_key(uint64_t seed, uint64_t stream) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (stream + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Uniform in (0, 1): 24 random bits, never 0 or 1. */
static inline MTK_HD float mtk_u01(uint32_t x) {
  return ((float)(x >> 8) + 0.5f) * (1.0f / 16777216.0f);
}

/* The i-th uniform of stream (key, hi). */
static inline MTK_HD float mtk_philox_uniform(uint64_t key, uint64_t hi, uint64_t i) {
  mtk_philox4 r = mtk_philox(key, hi, i >> 2);
  return mtk_u01(r.v[i & 3]);
}

/* The i-th standard normal of stream (key, hi): Box-Muller on one draw. */
static inline MTK_HD float mtk_philox_normal(uint64_t key, uint64_t hi, uint64_t i) {
  mtk_philox4 r = mtk_philox(key, hi, i >> 1);
  float u1 = mtk_u01(r.v[(i & 1) * 2]), u2 = mtk_u01(r.v[(i & 1) * 2 + 1]);
  return sqrtf(-2.0f * logf(u1)) * cosf(6.283185307179586f * u2);
}

#endif
