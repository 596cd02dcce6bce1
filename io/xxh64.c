/* xxh64.c — XXH64 (see xxh64.h): 32-byte stripes in four lanes, then the
 * tail in 8-, 4- and 1-byte steps and the final avalanche, exactly as the
 * reference. Loads are little-endian (memcpy, so any alignment); the hosts
 * modtrain runs on are little-endian (the container writes float32 LE from
 * memory as is). */
#include "io/xxh64.h"

#include <string.h>

#define P1 0x9E3779B185EBCA87ull
#define P2 0xC2B2AE3D27D4EB4Full
#define P3 0x165667B19E3779F9ull
#define P4 0x85EBCA77C2B2AE63ull
#define P5 0x27D4EB2F165667C5ull

static inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static inline uint64_t rd64(const unsigned char *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

static inline uint32_t rd32(const unsigned char *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

static inline uint64_t round64(uint64_t acc, uint64_t in) {
  acc += in * P2;
  acc = rotl(acc, 31);
  return acc * P1;
}

static inline uint64_t merge64(uint64_t acc, uint64_t v) {
  acc ^= round64(0, v);
  return acc * P1 + P4;
}

/* Whole stripes of p into v; returns the bytes consumed. */
static size_t stripes(uint64_t v[4], const unsigned char *p, size_t n) {
  uint64_t a = v[0], b = v[1], c = v[2], d = v[3];
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    a = round64(a, rd64(p + i));
    b = round64(b, rd64(p + i + 8));
    c = round64(c, rd64(p + i + 16));
    d = round64(d, rd64(p + i + 24));
  }
  v[0] = a;
  v[1] = b;
  v[2] = c;
  v[3] = d;
  return i;
}

void mtio_xxh64_init(mtio_xxh64_state *s, uint64_t seed) {
  memset(s, 0, sizeof *s);
  s->seed = seed;
  s->v[0] = seed + P1 + P2;
  s->v[1] = seed + P2;
  s->v[2] = seed;
  s->v[3] = seed - P1;
}

void mtio_xxh64_update(mtio_xxh64_state *s, const void *data, size_t n) {
  const unsigned char *p = data;
  s->total += n;
  if (s->nbuf) {
    size_t k = 32 - s->nbuf < n ? 32 - s->nbuf : n;
    memcpy(s->buf + s->nbuf, p, k);
    s->nbuf += (unsigned)k;
    p += k;
    n -= k;
    if (s->nbuf < 32) return;
    stripes(s->v, s->buf, 32);
    s->nbuf = 0;
  }
  size_t used = stripes(s->v, p, n);
  memcpy(s->buf, p + used, n - used);
  s->nbuf = (unsigned)(n - used);
}

uint64_t mtio_xxh64_digest(const mtio_xxh64_state *s) {
  uint64_t h;
  if (s->total >= 32) {
    const uint64_t *v = s->v;
    h = rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18);
    for (int i = 0; i < 4; i++) h = merge64(h, v[i]);
  } else {
    h = s->seed + P5;
  }
  h += s->total;
  const unsigned char *p = s->buf;
  size_t n = s->nbuf;
  for (; n >= 8; p += 8, n -= 8) h = rotl(h ^ round64(0, rd64(p)), 27) * P1 + P4;
  if (n >= 4) {
    h = rotl(h ^ ((uint64_t)rd32(p) * P1), 23) * P2 + P3;
    p += 4;
    n -= 4;
  }
  for (; n > 0; p++, n--) h = rotl(h ^ (*p * P5), 11) * P1;
  h ^= h >> 33;
  h *= P2;
  h ^= h >> 29;
  h *= P3;
  h ^= h >> 32;
  return h;
}

uint64_t mtio_xxh64(const void *p, size_t n, uint64_t seed) {
  mtio_xxh64_state s;
  mtio_xxh64_init(&s, seed);
  mtio_xxh64_update(&s, p, n);
  return mtio_xxh64_digest(&s);
}
