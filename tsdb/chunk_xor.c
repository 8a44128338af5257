/*
 * chunk_xor.c - the open head chunk: Gorilla delta-of-delta timestamps and
 * XOR-coded values in one bit stream (see chunk.h for the API and the
 * locking rule).
 *
 * Format (bits are written most significant first within each byte):
 *
 *   OFFSET  SIZE      DESCRIPTION
 *   0       2 bytes   sample count, big-endian (0..65535)
 *   2       ...       bit stream, one record per sample, zero-padded to a
 *                     byte at the end
 *
 *   sample 0   t0 as a zigzag varint (8-bit groups, LEB128 order), then the
 *              value as 64 raw bits
 *   sample 1   delta = t1 - t0 (mod 2^64) as an unsigned varint, then the
 *              value XOR-coded
 *   sample i   dod = delta_i - delta_{i-1} (mod 2^64, read as int64):
 *                '0'                   dod == 0
 *                '10'   + 14 bits      -8192 <= dod < 8192   (two's compl.)
 *                '110'  + 17 bits      -65536 <= dod < 65536
 *                '1110' + 20 bits      -524288 <= dod < 524288
 *                '1111' + 64 bits      anything else
 *              then the value XOR-coded
 *
 *   XOR value  x = bits(v) ^ bits(previous v):
 *                '0'                   x == 0
 *                '10'  + (64-L-T) bits x >> T, reusing the previous window
 *                                      (L leading, T trailing zeros) when x
 *                                      has at least L leading and T trailing
 *                                      zeros
 *                '11'  + 5 bits L' + 6 bits S + S bits: a new window with
 *                                      L' = min(clz(x), 31) leading zeros and
 *                                      S significant bits (64 written as 0);
 *                                      then x >> (64 - L' - S)
 *
 * All timestamp arithmetic is modulo 2^64, so any int64 timestamps with
 * increasing order round-trip, even INT64_MIN followed by INT64_MAX.  The
 * sealed encoder (chunk_sealed.c) reuses the XOR value coder.
 *
 * Memory: the buffer starts at 32 bytes, doubles up to 128 and then grows
 * by half; chunk_xor_compact() trims it to the encoded length when the
 * head cuts the chunk.  A typical 120-sample chunk is 100-300 bytes.
 */
#include "chunk.h"

#include "mem.h"
#include "ph_error.h"

#include <stdlib.h>
#include <string.h>

/* --- bit writer ----------------------------------------------------------- */

static void bw_reserve(chunk__bw_t *w, unsigned extra_bits) {
  uint64_t need = ((uint64_t)w->nbits + extra_bits + 7) / 8;
  if (need <= w->cap) return;
  ph_assert(need < UINT32_MAX / 2);
  uint64_t ncap = w->cap ? w->cap : 32;
  while (ncap < need) ncap = ncap < 128 ? ncap * 2 : ncap + ncap / 2;
  w->buf = ph_realloc(w->buf, (size_t)ncap);
  w->cap = (uint32_t)ncap;
}

/* Writes the low n bits of v (0 <= n <= 64). */
static inline void bw_write(chunk__bw_t *w, uint64_t v, unsigned n) {
  bw_reserve(w, n);
  uint32_t pos = w->nbits;
  while (n > 0) {
    unsigned off = pos & 7, avail = 8 - off;
    unsigned take = avail < n ? avail : n;
    unsigned bits = (unsigned)(v >> (n - take)) & ((1u << take) - 1);
    uint8_t *b = &w->buf[pos >> 3];
    if (off == 0) *b = 0; /* fresh byte: memory from realloc is garbage */
    *b |= (uint8_t)(bits << (avail - take));
    pos += take;
    n -= take;
  }
  w->nbits = pos;
}

static inline void bw_uvarint(chunk__bw_t *w, uint64_t u) {
  while (u >= 0x80) {
    bw_write(w, (u & 0x7f) | 0x80, 8);
    u >>= 7;
  }
  bw_write(w, u, 8);
}

void chunk__bw_write(chunk__bw_t *w, uint64_t v, unsigned n) {
  bw_write(w, v, n);
}

void chunk__bw_free(chunk__bw_t *w) {
  free(w->buf);
  w->buf = NULL;
  w->cap = w->nbits = 0;
}

/* --- bit reader ----------------------------------------------------------- */

/* Reads n bits (0 <= n <= 64) into *out; false if fewer remain. */
static inline bool br_read(chunk__br_t *r, unsigned n, uint64_t *out) {
  if (n > r->nbits - r->pos) return false;
  size_t pos = r->pos;
  /* Fast path: one unaligned 8-byte big-endian load when 8 bytes remain
   * (nbits is always a whole number of bytes). */
  if (n - 1 < 56 && (pos >> 3) + 8 <= r->nbits >> 3) {
    uint64_t w;
    memcpy(&w, r->p + (pos >> 3), sizeof w);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    *out = (w << (pos & 7)) >> (64 - n);
    r->pos = pos + n;
    return true;
  }
  uint64_t v = 0;
  while (n > 0) {
    unsigned off = pos & 7, avail = 8 - off;
    unsigned take = avail < n ? avail : n;
    unsigned b = r->p[pos >> 3];
    v = (v << take) | ((b >> (avail - take)) & ((1u << take) - 1));
    pos += take;
    n -= take;
  }
  r->pos = pos;
  *out = v;
  return true;
}

bool chunk__br_read(chunk__br_t *r, unsigned n, uint64_t *out) {
  return br_read(r, n, out);
}

static inline bool br_bit(chunk__br_t *r, unsigned *bit) {
  if (r->pos >= r->nbits) return false;
  *bit = (r->p[r->pos >> 3] >> (7 - (r->pos & 7))) & 1;
  r->pos++;
  return true;
}

static inline bool br_uvarint(chunk__br_t *r, uint64_t *out) {
  uint64_t u = 0, b;
  for (unsigned shift = 0; shift < 64; shift += 7) {
    if (!br_read(r, 8, &b)) return false;
    if (shift == 63 && b > 1) return false; /* overflows 64 bits */
    u |= (b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *out = u;
      return true;
    }
  }
  return false;
}

/* --- XOR value coder -------------------------------------------------------- */

static inline void xor_put(chunk__bw_t *w, chunk__xor_state_t *s,
                           uint64_t bits, bool first) {
  if (first) {
    bw_write(w, bits, 64);
    s->prev = bits;
    s->lead = CHUNK__XOR_NOWIN;
    s->trail = 0;
    return;
  }
  uint64_t x = bits ^ s->prev;
  s->prev = bits;
  if (x == 0) {
    bw_write(w, 0, 1);
    return;
  }
  unsigned lead = (unsigned)__builtin_clzll(x);
  unsigned trail = (unsigned)__builtin_ctzll(x);
  if (lead > 31) lead = 31;
  if (s->lead != CHUNK__XOR_NOWIN && lead >= s->lead && trail >= s->trail) {
    bw_write(w, 2, 2); /* '10' */
    bw_write(w, x >> s->trail, 64 - s->lead - s->trail);
    return;
  }
  unsigned sig = 64 - lead - trail;
  bw_write(w, 3, 2); /* '11' */
  bw_write(w, lead, 5);
  bw_write(w, sig & 63, 6); /* 64 is written as 0 */
  bw_write(w, x >> trail, sig);
  s->lead = (uint8_t)lead;
  s->trail = (uint8_t)trail;
}

static inline bool xor_get(chunk__br_t *r, chunk__xor_state_t *s,
                           uint64_t *bits, bool first) {
  uint64_t x;
  unsigned b;
  if (first) {
    if (!br_read(r, 64, &x)) return false;
    s->prev = x;
    s->lead = CHUNK__XOR_NOWIN;
    s->trail = 0;
    *bits = x;
    return true;
  }
  if (!br_bit(r, &b)) return false;
  if (b == 0) {
    *bits = s->prev;
    return true;
  }
  if (!br_bit(r, &b)) return false;
  if (b == 0) { /* '10': reuse the window */
    if (s->lead == CHUNK__XOR_NOWIN) return false;
    if (!br_read(r, 64 - s->lead - s->trail, &x)) return false;
    x <<= s->trail;
  } else { /* '11': new window */
    uint64_t lead, sig;
    if (!br_read(r, 5, &lead) || !br_read(r, 6, &sig)) return false;
    if (sig == 0) sig = 64;
    if (lead + sig > 64) return false;
    if (!br_read(r, (unsigned)sig, &x)) return false;
    unsigned trail = (unsigned)(64 - lead - sig);
    x <<= trail;
    s->lead = (uint8_t)lead;
    s->trail = (uint8_t)trail;
  }
  s->prev ^= x;
  *bits = s->prev;
  return true;
}

void chunk__xor_put(chunk__bw_t *w, chunk__xor_state_t *s, uint64_t bits,
                    bool first) {
  xor_put(w, s, bits, first);
}

bool chunk__xor_get(chunk__br_t *r, chunk__xor_state_t *s, uint64_t *bits,
                    bool first) {
  return xor_get(r, s, bits, first);
}

/* --- the chunk -------------------------------------------------------------- */

static const uint8_t empty_chunk[2] = {0, 0};

static inline uint64_t dbl_bits(double v) {
  uint64_t u;
  memcpy(&u, &v, sizeof u);
  return u;
}

static inline double bits_dbl(uint64_t u) {
  double v;
  memcpy(&v, &u, sizeof v);
  return v;
}

static inline uint64_t zigzag(int64_t x) {
  return ((uint64_t)x << 1) ^ (uint64_t)(x >> 63);
}

static inline int64_t unzigzag(uint64_t u) {
  return (int64_t)((u >> 1) ^ (0 - (u & 1)));
}

/* True if x (as int64) fits in an n-bit two's complement field. */
static inline bool fits(uint64_t x, unsigned n) {
  int64_t s = (int64_t)x;
  return s >= -(INT64_C(1) << (n - 1)) && s < (INT64_C(1) << (n - 1));
}

void chunk_xor_init(chunk_xor_t *c) { memset(c, 0, sizeof *c); }

void chunk_xor_free(chunk_xor_t *c) {
  chunk__bw_free(&c->w);
  chunk_xor_init(c);
}

unsigned chunk_xor_header_count(const uint8_t *data, size_t len) {
  if (len < 2) return 0;
  return ((unsigned)data[0] << 8) | data[1];
}

unsigned chunk_xor_num_samples(const chunk_xor_t *c) { return c->n; }

int chunk_xor_append(chunk_xor_t *c, int64_t t, double v) {
  unsigned n = chunk_xor_num_samples(c);
  if (n >= CHUNK_XOR_MAX_SAMPLES) return PH_ELIMIT;
  if (n > 0 && t <= c->t) return PH_EOUTOFORDER;
  uint64_t bits = dbl_bits(v);
  if (n == 0) {
    bw_write(&c->w, 0, 16); /* header, filled in below */
    bw_uvarint(&c->w, zigzag(t));
    c->t0 = t;
    xor_put(&c->w, &c->vs, bits, true);
    c->delta = 0;
  } else if (n == 1) {
    c->delta = (uint64_t)t - (uint64_t)c->t;
    bw_uvarint(&c->w, c->delta);
    xor_put(&c->w, &c->vs, bits, false);
  } else {
    uint64_t delta = (uint64_t)t - (uint64_t)c->t;
    uint64_t dod = delta - c->delta;
    if (dod == 0) {
      bw_write(&c->w, 0, 1);
    } else if (fits(dod, 14)) {
      bw_write(&c->w, 2, 2);
      bw_write(&c->w, dod, 14);
    } else if (fits(dod, 17)) {
      bw_write(&c->w, 6, 3);
      bw_write(&c->w, dod, 17);
    } else if (fits(dod, 20)) {
      bw_write(&c->w, 14, 4);
      bw_write(&c->w, dod, 20);
    } else {
      bw_write(&c->w, 15, 4);
      bw_write(&c->w, dod, 64);
    }
    xor_put(&c->w, &c->vs, bits, false);
    c->delta = delta;
  }
  c->t = t;
  n++;
  c->n = (uint16_t)n;
  c->w.buf[0] = (uint8_t)(n >> 8);
  c->w.buf[1] = (uint8_t)n;
  return 0;
}

const uint8_t *chunk_xor_bytes(const chunk_xor_t *c, size_t *len) {
  if (!c->w.buf) {
    *len = sizeof empty_chunk;
    return empty_chunk;
  }
  *len = chunk_xor_len(c);
  return c->w.buf;
}

size_t chunk_xor_len(const chunk_xor_t *c) {
  return c->w.buf ? ((size_t)c->w.nbits + 7) / 8 : sizeof empty_chunk;
}

size_t chunk_xor_alloc_size(const chunk_xor_t *c) { return c->w.cap; }

int64_t chunk_xor_first_ts(const chunk_xor_t *c) {
  ph_assert(c->n > 0);
  return c->t0;
}

int64_t chunk_xor_last_ts(const chunk_xor_t *c) { return c->t; }

double chunk_xor_last_value(const chunk_xor_t *c) {
  return bits_dbl(c->vs.prev);
}

void chunk_xor_compact(chunk_xor_t *c) {
  if (!c->w.buf) return;
  size_t len = chunk_xor_len(c);
  if (len == c->w.cap) return;
  c->w.buf = ph_realloc(c->w.buf, len);
  c->w.cap = (uint32_t)len;
}

int chunk_xor_load(chunk_xor_t *c, const uint8_t *data, size_t len) {
  chunk_xor_init(c);
  unsigned n = chunk_xor_header_count(data, len);
  if (len < 2 || len >= UINT32_MAX / 16) return PH_ECORRUPT;
  if (n == 0) return len == 2 ? 0 : PH_ECORRUPT;
  chunk_xor_iter_t it;
  chunk_xor_iter_init(&it, data, len, n);
  int64_t t0 = 0;
  while (chunk_xor_iter_next(&it))
    if (it.read == 1) t0 = it.t;
  if (it.err || it.read != n || (it.r.pos + 7) / 8 != len) return PH_ECORRUPT;
  c->w.buf = ph_malloc(len);
  memcpy(c->w.buf, data, len);
  c->w.cap = (uint32_t)len;
  c->w.nbits = (uint32_t)it.r.pos;
  /* Padding bits must be zero: later appends OR into the last byte. */
  if (c->w.nbits & 7) c->w.buf[len - 1] &= (uint8_t)(0xff00u >> (c->w.nbits & 7));
  c->t = it.t;
  c->delta = it.delta;
  c->vs = it.vs;
  c->t0 = t0;
  c->n = (uint16_t)n;
  return 0;
}

/* --- iterator --------------------------------------------------------------- */

void chunk_xor_iter_init(chunk_xor_iter_t *it, const uint8_t *data,
                         size_t len, unsigned count) {
  memset(it, 0, sizeof *it);
  it->r.p = data;
  it->r.nbits = len * 8;
  it->r.pos = 16;
  it->count = count;
  if (len < 2) {
    it->r.nbits = 0;
    it->r.pos = 0;
    if (count > 0) it->err = PH_ECORRUPT;
    it->done = true;
  }
}

static bool iter_fail(chunk_xor_iter_t *it) {
  it->err = PH_ECORRUPT;
  it->done = true;
  return false;
}

bool chunk_xor_iter_next(chunk_xor_iter_t *it) {
  if (it->done) return false;
  if (it->err || it->read >= it->count) {
    it->done = true;
    return false;
  }
  chunk__br_t *r = &it->r;
  uint64_t u, bits;
  if (it->read == 0) {
    if (!br_uvarint(r, &u)) return iter_fail(it);
    it->t = unzigzag(u);
    if (!xor_get(r, &it->vs, &bits, true)) return iter_fail(it);
  } else {
    if (it->read == 1) {
      if (!br_uvarint(r, &u)) return iter_fail(it);
      it->delta = u;
    } else {
      unsigned b, ones = 0;
      /* Count up to four leading '1's of the bucket prefix. */
      while (ones < 4) {
        if (!br_bit(r, &b)) return iter_fail(it);
        if (!b) break;
        ones++;
      }
      static const unsigned width[5] = {0, 14, 17, 20, 64};
      uint64_t dod = 0;
      if (ones > 0) {
        unsigned nb = width[ones];
        if (!br_read(r, nb, &dod)) return iter_fail(it);
        if (nb < 64 && (dod >> (nb - 1)) & 1) dod |= ~UINT64_C(0) << nb;
      }
      it->delta += dod;
    }
    it->t = (int64_t)((uint64_t)it->t + it->delta);
    if (!xor_get(r, &it->vs, &bits, false)) return iter_fail(it);
  }
  it->read++;
  return true;
}

bool chunk_xor_iter_seek(chunk_xor_iter_t *it, int64_t t) {
  if (it->done) return false;
  if (it->read > 0 && it->t >= t) return true;
  while (chunk_xor_iter_next(it))
    if (it->t >= t) return true;
  return false;
}

void chunk_xor_iter_at(const chunk_xor_iter_t *it, int64_t *t, double *v) {
  *t = it->t;
  *v = bits_dbl(it->vs.prev);
}

int chunk_xor_iter_err(const chunk_xor_iter_t *it) { return it->err; }
