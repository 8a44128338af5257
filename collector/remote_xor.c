/*
 * remote_xor.c - Prometheus XOR chunks (the byte table is in remote.h):
 * the encoder used by remote read's STREAMED_XOR_CHUNKS answers and a
 * decoder written independently from the format description, used by the
 * tests and available to clients.
 *
 * Bits are appended most significant first into a byte buffer that grows
 * (ph_grow) and is kept across resets, so a reused encoder allocates
 * nothing in steady state.  The 2-byte big-endian sample count at the start
 * is rewritten after each append.  The decoder reads with a bit cursor and
 * reports PH_ECORRUPT instead of reading past the end.
 */
#include "remote.h"

#include "mem.h"
#include "ph_error.h"

#include <stdlib.h>
#include <string.h>

/* ---- encoder -------------------------------------------------------------- */

void remote_xor_enc_init(remote_xor_enc_t *e) {
  memset(e, 0, sizeof *e);
  remote_xor_enc_reset(e);
}

void remote_xor_enc_reset(remote_xor_enc_t *e) {
  if (e->cap < 2) ph_grow(&e->buf, &e->cap, 128);
  e->buf[0] = e->buf[1] = 0;
  e->nbits = 16;
  e->n = 0;
  e->t = 0;
  e->vbits = 0;
  e->tdelta = 0;
  e->leading = 0xff; /* no window yet */
  e->trailing = 0;
}

void remote_xor_enc_free(remote_xor_enc_t *e) {
  free(e->buf);
  memset(e, 0, sizeof *e);
}

/* Appends the low n bits of x (n <= 64), most significant first. */
static void put_bits(remote_xor_enc_t *e, uint64_t x, unsigned n) {
  size_t need = (e->nbits + n + 7) / 8;
  if (need > e->cap) ph_grow(&e->buf, &e->cap, need);
  while (n > 0) {
    size_t byte = e->nbits / 8;
    unsigned used = (unsigned)(e->nbits % 8);
    if (used == 0) e->buf[byte] = 0;
    unsigned room = 8 - used;
    unsigned take = n < room ? n : room;
    uint8_t chunk = (uint8_t)((x >> (n - take)) & ((1u << take) - 1));
    e->buf[byte] |= (uint8_t)(chunk << (room - take));
    e->nbits += take;
    n -= take;
  }
}

static void put_uvarint(remote_xor_enc_t *e, uint64_t x) {
  while (x >= 0x80) {
    put_bits(e, (x & 0x7f) | 0x80, 8);
    x >>= 7;
  }
  put_bits(e, x, 8);
}

static void put_value(remote_xor_enc_t *e, uint64_t vbits) {
  uint64_t x = vbits ^ e->vbits;
  if (x == 0) {
    put_bits(e, 0, 1);
    return;
  }
  put_bits(e, 1, 1);
  uint8_t leading = (uint8_t)__builtin_clzll(x);
  uint8_t trailing = (uint8_t)__builtin_ctzll(x);
  if (leading >= 32) leading = 31;
  if (e->leading != 0xff && leading >= e->leading && trailing >= e->trailing) {
    put_bits(e, 0, 1);
    put_bits(e, x >> e->trailing, 64u - e->leading - e->trailing);
    return;
  }
  e->leading = leading;
  e->trailing = trailing;
  unsigned sig = 64u - leading - trailing;
  put_bits(e, 1, 1);
  put_bits(e, leading, 5);
  put_bits(e, sig == 64 ? 0 : sig, 6);
  put_bits(e, x >> trailing, sig);
}

static bool fits(int64_t d, unsigned nbits) {
  int64_t hi = (int64_t)1 << (nbits - 1);
  return d >= -(hi - 1) && d <= hi;
}

int remote_xor_enc_append(remote_xor_enc_t *e, int64_t t, double v) {
  if (e->n == UINT16_MAX) return PH_ELIMIT;
  uint64_t vbits;
  memcpy(&vbits, &v, sizeof vbits);
  uint64_t tdelta = 0;
  if (e->n == 0) {
    /* zig-zag varint of t */
    put_uvarint(e, ((uint64_t)t << 1) ^ (uint64_t)(t >> 63));
    put_bits(e, vbits, 64);
  } else if (e->n == 1) {
    tdelta = (uint64_t)t - (uint64_t)e->t;
    put_uvarint(e, tdelta);
    put_value(e, vbits);
  } else {
    tdelta = (uint64_t)t - (uint64_t)e->t;
    int64_t dod = (int64_t)(tdelta - e->tdelta);
    if (dod == 0) {
      put_bits(e, 0, 1);
    } else if (fits(dod, 14)) {
      put_bits(e, 2, 2);
      put_bits(e, (uint64_t)dod, 14);
    } else if (fits(dod, 17)) {
      put_bits(e, 6, 3);
      put_bits(e, (uint64_t)dod, 17);
    } else if (fits(dod, 20)) {
      put_bits(e, 14, 4);
      put_bits(e, (uint64_t)dod, 20);
    } else {
      put_bits(e, 15, 4);
      put_bits(e, (uint64_t)dod, 64);
    }
    put_value(e, vbits);
  }
  e->t = t;
  e->vbits = vbits;
  e->tdelta = tdelta;
  e->n++;
  e->buf[0] = (uint8_t)(e->n >> 8);
  e->buf[1] = (uint8_t)(e->n & 0xff);
  return 0;
}

uint16_t remote_xor_enc_count(const remote_xor_enc_t *e) { return e->n; }

const uint8_t *remote_xor_enc_bytes(const remote_xor_enc_t *e, size_t *len) {
  *len = (e->nbits + 7) / 8;
  return e->buf;
}

/* ---- decoder -------------------------------------------------------------- */

int remote_xor_dec_init(remote_xor_dec_t *d, const uint8_t *data, size_t len) {
  memset(d, 0, sizeof *d);
  if (len < 2) {
    d->err = PH_ECORRUPT;
    return PH_ECORRUPT;
  }
  d->p = data;
  d->total = (uint16_t)((data[0] << 8) | data[1]);
  d->pos = 16;
  d->nbits = len * 8;
  return 0;
}

static bool get_bits(remote_xor_dec_t *d, unsigned n, uint64_t *out) {
  if (d->nbits - d->pos < n) {
    d->err = PH_ECORRUPT;
    return false;
  }
  uint64_t x = 0;
  for (unsigned i = 0; i < n; i++) {
    size_t at = d->pos + i;
    x = (x << 1) | ((d->p[at / 8] >> (7 - at % 8)) & 1u);
  }
  d->pos += n;
  *out = x;
  return true;
}

static bool get_uvarint(remote_xor_dec_t *d, uint64_t *out) {
  uint64_t x = 0;
  for (unsigned shift = 0; shift < 70; shift += 7) {
    uint64_t b;
    if (!get_bits(d, 8, &b)) return false;
    if (shift == 63 && b > 1) break; /* overflows 64 bits */
    x |= (b & 0x7f) << shift;
    if (b < 0x80) {
      *out = x;
      return true;
    }
  }
  d->err = PH_ECORRUPT;
  return false;
}

static bool get_value(remote_xor_dec_t *d) {
  uint64_t bit;
  if (!get_bits(d, 1, &bit)) return false;
  if (bit == 0) return true; /* same value */
  if (!get_bits(d, 1, &bit)) return false;
  if (bit == 1) {
    uint64_t lead, sig;
    if (!get_bits(d, 5, &lead) || !get_bits(d, 6, &sig)) return false;
    if (sig == 0) sig = 64;
    if (lead + sig > 64) {
      d->err = PH_ECORRUPT;
      return false;
    }
    d->leading = (uint8_t)lead;
    d->trailing = (uint8_t)(64 - lead - sig);
  }
  /* A '0' (reuse) before any window was set reads a 64-bit window, as
   * Prometheus's reader does (leading = trailing = 0). */
  unsigned sig = 64u - d->leading - d->trailing;
  uint64_t x;
  if (!get_bits(d, sig, &x)) return false;
  d->vbits ^= x << d->trailing;
  return true;
}

bool remote_xor_dec_next(remote_xor_dec_t *d, int64_t *t, double *v) {
  if (d->err != 0 || d->read >= d->total) return false;
  if (d->read == 0) {
    uint64_t zz;
    if (!get_uvarint(d, &zz) || !get_bits(d, 64, &d->vbits)) return false;
    d->t = (int64_t)(zz >> 1) ^ -(int64_t)(zz & 1);
  } else if (d->read == 1) {
    if (!get_uvarint(d, &d->tdelta)) return false;
    d->t = (int64_t)((uint64_t)d->t + d->tdelta);
    if (!get_value(d)) return false;
  } else {
    unsigned prefix = 0, nb = 0;
    for (; nb < 4; nb++) {
      uint64_t bit;
      if (!get_bits(d, 1, &bit)) return false;
      if (bit == 0) break;
      prefix++;
    }
    int64_t dod = 0;
    static const unsigned widths[] = {0, 14, 17, 20, 64};
    unsigned w = widths[prefix];
    if (w > 0) {
      uint64_t raw;
      if (!get_bits(d, w, &raw)) return false;
      if (w < 64 && raw > ((uint64_t)1 << (w - 1))) raw -= (uint64_t)1 << w;
      dod = (int64_t)raw;
    }
    d->tdelta += (uint64_t)dod; /* wraps like Go's int64 arithmetic */
    d->t = (int64_t)((uint64_t)d->t + d->tdelta);
    if (!get_value(d)) return false;
  }
  d->read++;
  *t = d->t;
  memcpy(v, &d->vbits, sizeof *v);
  return true;
}

int remote_xor_dec_err(const remote_xor_dec_t *d) { return d->err; }
