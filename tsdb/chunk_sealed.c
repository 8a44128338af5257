/*
 * chunk_sealed.c - the encoding of one series' samples in an immutable
 * block (see chunk.h for the API).
 *
 * A block is written once and read many times, so the encoder spends effort
 * the head chunk cannot: it sees all samples of the range at once, tries the
 * value codecs below, keeps the smallest, and passes the result through zstd
 * when that makes it smaller.  Most Prometheus values are integers (counters
 * of bytes, packets, ...) or decimals with few digits (seconds with 2
 * decimals, temperatures); for those a scaled-integer delta stream of
 * varints is several times smaller than Gorilla XOR and compresses further.
 *
 * Format (all varints are LEB128; "zz" marks a zigzag-coded int64):
 *
 *   OFFSET  SIZE     DESCRIPTION
 *   0       1        flags: bit 7 = body is zstd-compressed;
 *                    bits 4-6 = timestamp codec (0: delta-of-delta varints,
 *                    1: delta-of-delta packed); bits 0-3 = value codec
 *                    (0: XOR, 1: int delta, 2: int delta-of-delta); other
 *                    values are invalid
 *   1       1-4      n, the sample count, uvarint (<= 2^24)
 *   ...     rest     body: raw, or exactly one zstd frame (with its content
 *                    size) that inflates to the raw body; absent if n == 0
 *
 *   raw body = timestamps section, then values section (to the end):
 *
 *   timestamps   zz t0 (if n >= 1), zz (t1 - t0) (if n >= 2), then the n-2
 *                deltas-of-deltas (t[i]-t[i-1]) - (t[i-1]-t[i-2]) as an int
 *                stream (varints or packed as the flags say); differences
 *                are mod 2^64.  Decoded timestamps must strictly increase.
 *   values, XOR  the Gorilla XOR bit stream of chunk_xor.c for n values
 *                (first value 64 raw bits), zero-padded to a byte
 *   values, int  1 byte: bits 0-3 K, the decimal scale (0..9); bit 4 set
 *                         if the int stream below is packed; others 0
 *                uvarint E, the number of escaped values (0..n)
 *                E times: uvarint gap (index - previous index - 1, the
 *                         first relative to -1), then 8 bytes: the value's
 *                         IEEE bits, little-endian
 *                the other c = n-E values as integers m with value ==
 *                (double)m / 10^K bit-exactly (for K == 0 just (double)m):
 *                zz m0, then for codec 1 the c-1 deltas m[i]-m[i-1] as an
 *                int stream; for codec 2 zz (m1-m0) if c >= 2, then the
 *                c-2 deltas-of-deltas as an int stream
 *
 *   int stream   c values, either c zz varints, or packed: blocks of up to
 *                128 values, each: zz base (the block's minimum), 1 byte
 *                width W (0..64), then ceil(count*W/8) bytes holding each
 *                value minus base in W bits, most significant bit first
 *                (bit-packing gets close to the entropy of jittered
 *                intervals and bounded increments, where varints round up
 *                to whole bytes)
 *
 * Version 2 (block chunks format 2, see block.c) splits a range into two
 * columns that the block stores apart: a timestamp column, shared by every
 * series scraped together (byte-identical columns are stored once), and a
 * value column.  Neither is compressed here: the block compresses pages of
 * many columns with zstd.  Both end exactly where their bytes end.
 *
 *   timestamp column
 *   OFFSET  SIZE     DESCRIPTION
 *   0       1-4      n, uvarint (<= 2^24); nothing follows if n == 0
 *   ...     1        codec: 0 varints, 1 packed (blocks of 64 values)
 *   ...     rest     zz t0, zz (t1 - t0) if n >= 2, the n-2 deltas-of-
 *                    deltas as an int stream (as the timestamps above)
 *
 *   value column (n comes from the timestamp column)
 *   OFFSET  SIZE     DESCRIPTION
 *   0       1        codec: 0 XOR, 1 int delta, 2 int delta-of-delta,
 *                    3 byte planes of deltas, 4 sparse byte planes of the
 *                    raw bits;
 *                    n == 0: just a 0 byte
 *   1       rest     XOR: as above.  int: as above, except that packed
 *                    blocks hold 64 values, and the section's first byte
 *                    has two more flags: bit 5 (INT_MUL) value ==
 *                    (double)m * 10^-K, the double constant, instead of
 *                    m / 10^K (a value computed as steps * 0.01 is not
 *                    always the decimal it prints as); bit 6 (INT_GCD) a
 *                    uvarint G >= 2 follows the byte and every difference
 *                    after m0 (the delta or delta-of-delta stream and the
 *                    leading m1 - m0) is stored divided by G (gauges in 4
 *                    KiB pages, frequencies in kHz).  Planes: 1 byte mask
 *                    of the planes present (bit p: byte p counting from the
 *                    most significant), then for each present plane its n
 *                    bytes; the words are the IEEE bits (codec 4) or, for
 *                    codec 3, the first value's bits and then zigzag(bits[i]
 *                    - bits[i-1]) mod 2^64; a missing plane is all zero.
 *                    Codec 4 has, between the mask and the planes, a
 *                    bitmap of ceil(n/8) bytes (bit i, LSB first: word i
 *                    has a nonzero low part, bytes 2..7; padding bits 0),
 *                    and its planes 2..7 hold bytes of those words only
 *                    (zeros and short values cost no low bytes).
 *                    Planes let zstd see sign and exponent bytes apart from
 *                    the noisy low mantissa bytes of full-precision values.
 *
 * The version-2 encoder builds the candidates (XOR, the best int section,
 * its all-varint variant, both byte-plane forms when no int section fits)
 * and keeps the one zstd compresses smallest on its own, the best guess of
 * its share of a compressed page.
 *
 * The int codec is chosen only after checking that every non-escaped value
 * decodes bit-exactly; values that cannot (NaN, the stale marker, -0.0,
 * +-Inf, too many digits) are escaped, and if more than half would be the
 * XOR codec is used instead.  The decoder checks every length and index and
 * that the body is consumed exactly, so corrupt input yields PH_ECORRUPT and
 * never a read outside the given bytes.  Integrity (CRC) is the block file's
 * business, not this encoding's.
 */
#include "chunk.h"

#include "mem.h"
#include "ph_error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>


enum {
  CODEC_XOR = 0,
  CODEC_INT_DELTA = 1,
  CODEC_INT_DOD = 2,
  TS_PACKED = 0x10, /* in the flags byte */
  FLAG_ZSTD = 0x80,
  INT_PACKED = 0x10, /* in the int section's first byte */
  INT_MUL = 0x20,    /* v2: value = m * 10^-K (the double constant) */
  INT_GCD = 0x40,    /* v2: a uvarint G >= 2 follows; differences are / G */
  MAX_SCALE = 9,
  PACK_BLOCK = 128,  /* values per packed block, version 1 */
  PACK_BLOCK2 = 64,  /* version 2 columns */
  /* Bound on the raw body: per sample at most 10 bytes of timestamp, 10 of
   * XOR or integer, 12 of escape; plus section and block headers. */
  RAW_PER_SAMPLE = 34,
  RAW_FIXED = 64,
  /* v2 value columns (chunk_sealed_encode_values) */
  CODEC_DELTA_PLANES = 3,
  CODEC_SPARSE_PLANES = 4,
  TS_COL_PACKED = 1, /* the timestamp column's codec byte */
  NCAND = 5,
};

static const double pow10_tab[MAX_SCALE + 1] = {1e0, 1e1, 1e2, 1e3, 1e4,
                                                1e5, 1e6, 1e7, 1e8, 1e9};
static const double pow10neg_tab[MAX_SCALE + 1] = {1e0,  1e-1, 1e-2, 1e-3, 1e-4,
                                                   1e-5, 1e-6, 1e-7, 1e-8, 1e-9};

struct chunk_sealed_enc {
  int level;
  ZSTD_CCtx *cctx;
  strbuf_t body, alt; /* candidate raw bodies */
  strbuf_t cand[NCAND]; /* candidate value columns (v2) */
  chunk__bw_t xw;     /* XOR value section */
  chunk__bw_t pw;     /* bit-packing scratch */
  size_t cap;         /* samples the arrays below hold */
  int8_t *scale;      /* per value: smallest exact scale K, or -1 */
  uint64_t *mv;       /* integers of the int codec */
  uint64_t *sv;       /* their delta / delta-of-delta stream */
  uint64_t *tv;       /* timestamp deltas-of-deltas */
  uint8_t *z;
  size_t zcap;
  bool mul;           /* the int codec's formula being tried (INT_MUL) */
  unsigned pb;        /* values per packed block: PACK_BLOCK or PACK_BLOCK2 */
};

/* The int codec's parameters (codec < 0: not applicable). */
typedef struct int_choice {
  int codec;
  unsigned k;
  bool packed;
  size_t size; /* section bytes */
  bool mul;    /* v2: INT_MUL formula */
  uint64_t g;  /* v2: common divisor of the differences (1: none) */
} int_choice_t;

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

static inline uint64_t zigzag(uint64_t x) { return (x << 1) ^ (0 - (x >> 63)); }

static inline uint64_t unzigzag(uint64_t u) { return (u >> 1) ^ (0 - (u & 1)); }

static inline unsigned uvarint_len(uint64_t u) {
  unsigned n = 1;
  while (u >= 0x80) {
    u >>= 7;
    n++;
  }
  return n;
}

static void put_uvarint(strbuf_t *b, uint64_t u) {
  uint8_t tmp[10];
  unsigned n = 0;
  while (u >= 0x80) {
    tmp[n++] = (uint8_t)(u | 0x80);
    u >>= 7;
  }
  tmp[n++] = (uint8_t)u;
  strbuf_append(b, tmp, n);
}

static void put_byte(strbuf_t *b, unsigned c) {
  uint8_t x = (uint8_t)c;
  strbuf_append(b, &x, 1);
}

/* The decode formulas of the int codec: m / 10^K (what parsing a decimal
 * with K digits gives), or m * 10^-K (what multiplying by a step gives). */
static inline double int_decode(int64_t m, unsigned k, bool mul) {
  if (k == 0) return (double)m;
  return mul ? (double)m * pow10neg_tab[k] : (double)m / pow10_tab[k];
}

/* True (and *m set) if v is exactly int_decode(m, k, mul) for
 * m = round(v*10^k). */
static inline bool scaled_exact(double v, unsigned k, bool mul, int64_t *m) {
  double x = v * pow10_tab[k];
  if (!(x > -9.0e18 && x < 9.0e18)) return false; /* also NaN */
  int64_t mm = llround(x);
  if (dbl_bits(int_decode(mm, k, mul)) != dbl_bits(v)) return false;
  *m = mm;
  return true;
}

/* --- int streams -------------------------------------------------------------- */

/* Width in bits of a packed block of x[0..cnt) and its base (minimum). */
static unsigned block_width(const uint64_t *x, size_t cnt, uint64_t *base) {
  int64_t lo = (int64_t)x[0], hi = lo;
  for (size_t i = 1; i < cnt; i++) {
    int64_t s = (int64_t)x[i];
    if (s < lo) lo = s;
    if (s > hi) hi = s;
  }
  uint64_t range = (uint64_t)hi - (uint64_t)lo;
  *base = (uint64_t)lo;
  return range ? 64 - (unsigned)__builtin_clzll(range) : 0;
}

static size_t stream_size(const chunk_sealed_enc_t *e, const uint64_t *x, size_t c,
                          bool packed) {
  const size_t pb = e->pb;
  size_t total = 0;
  if (!packed) {
    for (size_t i = 0; i < c; i++) total += uvarint_len(zigzag(x[i]));
    return total;
  }
  for (size_t b = 0; b < c; b += pb) {
    size_t cnt = c - b < pb ? c - b : pb;
    uint64_t base;
    unsigned w = block_width(x + b, cnt, &base);
    total += uvarint_len(zigzag(base)) + 1 + (cnt * w + 7) / 8;
  }
  return total;
}

static void stream_put(chunk_sealed_enc_t *e, strbuf_t *out, const uint64_t *x,
                       size_t c, bool packed) {
  const size_t pb = e->pb;
  if (!packed) {
    for (size_t i = 0; i < c; i++) put_uvarint(out, zigzag(x[i]));
    return;
  }
  for (size_t b = 0; b < c; b += pb) {
    size_t cnt = c - b < pb ? c - b : pb;
    uint64_t base;
    unsigned w = block_width(x + b, cnt, &base);
    put_uvarint(out, zigzag(base));
    put_byte(out, w);
    if (w == 0) continue;
    e->pw.nbits = 0;
    for (size_t i = 0; i < cnt; i++) chunk__bw_write(&e->pw, x[b + i] - base, w);
    strbuf_append(out, e->pw.buf, (e->pw.nbits + 7) / 8);
  }
}

/* --- encoder ---------------------------------------------------------------- */

chunk_sealed_enc_t *chunk_sealed_enc_new(int level) {
  chunk_sealed_enc_t *e = ph_calloc(1, sizeof *e);
  e->level = level;
  if (level > 0) {
    e->cctx = ZSTD_createCCtx();
    ph_assert(e->cctx != NULL);
  }
  strbuf_init(&e->body);
  strbuf_init(&e->alt);
  for (int i = 0; i < NCAND; i++) strbuf_init(&e->cand[i]);
  return e;
}

void chunk_sealed_enc_free(chunk_sealed_enc_t *e) {
  if (!e) return;
  ZSTD_freeCCtx(e->cctx);
  strbuf_free(&e->body);
  strbuf_free(&e->alt);
  for (int i = 0; i < NCAND; i++) strbuf_free(&e->cand[i]);
  chunk__bw_free(&e->xw);
  chunk__bw_free(&e->pw);
  free(e->scale);
  free(e->mv);
  free(e->sv);
  free(e->tv);
  free(e->z);
  free(e);
}

static void reserve(chunk_sealed_enc_t *e, size_t n) {
  if (n <= e->cap) return;
  free(e->scale);
  free(e->mv);
  free(e->sv);
  free(e->tv);
  e->scale = ph_malloc(n);
  e->mv = ph_malloc(n * sizeof *e->mv);
  e->sv = ph_malloc(n * sizeof *e->sv);
  e->tv = ph_malloc(n * sizeof *e->tv);
  e->cap = n;
}

/* True (and *m set) if value i is an integer at scale k, false if it is
 * escaped. */
static inline bool int_ok(const chunk_sealed_enc_t *e, const double *v,
                          size_t i, unsigned k, int64_t *m) {
  int s = e->scale[i];
  return s >= 0 && (unsigned)s <= k && scaled_exact(v[i], k, e->mul, m);
}

/* Fills e->mv with the integers at scale k and returns their count, or
 * SIZE_MAX if more than half the values would be escaped; *esc_bytes gets
 * the size of the escape list including its count. */
static size_t int_values(chunk_sealed_enc_t *e, const double *v, size_t n,
                         unsigned k, size_t *esc_bytes) {
  size_t c = 0, esc = 0, bytes = 0, last = (size_t)-1;
  for (size_t i = 0; i < n; i++) {
    int64_t m;
    if (int_ok(e, v, i, k, &m)) {
      e->mv[c++] = (uint64_t)m;
      continue;
    }
    if (++esc > n / 2) return SIZE_MAX;
    bytes += uvarint_len(i - (last + 1)) + 8;
    last = i;
  }
  *esc_bytes = bytes + uvarint_len(esc);
  return c;
}

/* Fills e->sv with the difference stream of codec over e->mv[0..c) and
 * *hd with m1 - m0 (the delta-of-delta codec's second leading integer);
 * returns the stream length. */
static size_t int_diffs(chunk_sealed_enc_t *e, size_t c, int codec, uint64_t *hd) {
  const uint64_t *m = e->mv;
  uint64_t *s = e->sv;
  *hd = 0;
  if (codec == CODEC_INT_DELTA) {
    for (size_t j = 1; j < c; j++) s[j - 1] = m[j] - m[j - 1];
    return c - 1;
  }
  if (c < 2) return 0;
  *hd = m[1] - m[0];
  for (size_t j = 2; j < c; j++) s[j - 2] = (m[j] - m[j - 1]) - (m[j - 1] - m[j - 2]);
  return c - 2;
}

static inline uint64_t mag(uint64_t x) { return (int64_t)x < 0 ? 0 - x : x; }

static uint64_t gcd_u64(uint64_t a, uint64_t b) {
  while (b) {
    uint64_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/* The common divisor G of the stream and hd (1 if none worth using). */
static uint64_t int_gcd(const uint64_t *s, size_t len, uint64_t hd) {
  uint64_t g = mag(hd);
  for (size_t j = 0; j < len && g != 1; j++) g = gcd_u64(g, mag(s[j]));
  return g >= 2 && g <= (UINT64_C(1) << 62) ? g : 1;
}

static inline uint64_t sdiv(uint64_t x, uint64_t g) {
  return (uint64_t)((int64_t)x / (int64_t)g);
}

/* Size of the leading integers and the stream for codec, after dividing
 * by G (computed when ext, else 1). */
static size_t int_head_size(chunk_sealed_enc_t *e, size_t c, int codec,
                            uint64_t hd, uint64_t g) {
  size_t h = uvarint_len(zigzag(e->mv[0]));
  if (codec == CODEC_INT_DOD && c >= 2) h += uvarint_len(zigzag(sdiv(hd, g)));
  return h;
}

/* Finds the smallest int section: the formula (v2 only), the scale, delta
 * or delta-of-delta, varints or packed, and (v2) a common divisor. */
static int_choice_t int_choose(chunk_sealed_enc_t *e, const double *v, size_t n,
                               bool ext) {
  int_choice_t best = {.codec = -1, .size = SIZE_MAX};
  for (int mul = 0; mul < (ext ? 2 : 1); mul++) {
    e->mul = mul != 0;
    size_t cnt[MAX_SCALE + 1] = {0}, esc = 0;
    bool give_up = false;
    for (size_t i = 0; i < n; i++) {
      int64_t m;
      int8_t s = -1;
      for (unsigned k = 0; k <= MAX_SCALE; k++) {
        if (scaled_exact(v[i], k, e->mul, &m)) {
          s = (int8_t)k;
          break;
        }
        if (!(fabs(v[i]) * pow10_tab[k] < 9.0e18)) break; /* only grows */
      }
      e->scale[i] = s;
      if (s >= 0) cnt[s]++;
      else if (++esc > n / 2) {
        give_up = true;
        break;
      }
    }
    if (give_up) continue;
    /* Try each scale some value needs, unless that escapes too many. */
    size_t above = 0; /* values needing a scale greater than k */
    for (unsigned k = MAX_SCALE + 1; k-- > 0; above += cnt[k]) {
      if (cnt[k] == 0 || esc + above > n / 2) continue;
      if (mul && k == 0) continue; /* the same as the other formula */
      size_t eb, c = int_values(e, v, n, k, &eb);
      if (c == SIZE_MAX) continue;
      for (int codec = CODEC_INT_DELTA; codec <= CODEC_INT_DOD; codec++) {
        uint64_t hd;
        size_t len = int_diffs(e, c, codec, &hd);
        uint64_t g = ext ? int_gcd(e->sv, len, hd) : 1;
        if (g > 1)
          for (size_t j = 0; j < len; j++) e->sv[j] = sdiv(e->sv[j], g);
        size_t head = int_head_size(e, c, codec, hd, g) + (g > 1 ? uvarint_len(g) : 0);
        for (int packed = 0; packed < 2; packed++) {
          size_t size = 1 + eb + head + stream_size(e, e->sv, len, packed);
          if (size < best.size)
            best = (int_choice_t){codec, k, packed != 0, size, e->mul, g};
        }
      }
    }
  }
  return best;
}

static void int_put(chunk_sealed_enc_t *e, strbuf_t *out, const double *v,
                    size_t n, const int_choice_t *ch) {
  e->mul = ch->mul;
  for (size_t i = 0; i < n; i++) { /* the scales of ch's formula */
    int64_t m;
    int8_t s = -1;
    for (unsigned k = 0; k <= ch->k && s < 0; k++)
      if (scaled_exact(v[i], k, e->mul, &m)) s = (int8_t)k;
    e->scale[i] = s;
  }
  size_t eb, c = int_values(e, v, n, ch->k, &eb);
  ph_assert(c != SIZE_MAX && c >= 1);
  put_byte(out, ch->k | (ch->packed ? INT_PACKED : 0) | (ch->mul ? INT_MUL : 0) |
                    (ch->g > 1 ? INT_GCD : 0));
  if (ch->g > 1) put_uvarint(out, ch->g);
  put_uvarint(out, n - c);
  size_t last = (size_t)-1;
  for (size_t i = 0; i < n; i++) {
    int64_t m;
    if (int_ok(e, v, i, ch->k, &m)) continue;
    put_uvarint(out, i - (last + 1));
    last = i;
    uint64_t b = dbl_bits(v[i]);
    uint8_t le[8];
    for (int j = 0; j < 8; j++) le[j] = (uint8_t)(b >> (8 * j));
    strbuf_append(out, le, 8);
  }
  uint64_t hd;
  size_t len = int_diffs(e, c, ch->codec, &hd);
  put_uvarint(out, zigzag(e->mv[0]));
  if (ch->codec == CODEC_INT_DOD && c >= 2) put_uvarint(out, zigzag(sdiv(hd, ch->g)));
  if (ch->g > 1)
    for (size_t j = 0; j < len; j++) e->sv[j] = sdiv(e->sv[j], ch->g);
  stream_put(e, out, e->sv, len, ch->packed);
}

/* One raw body: timestamps (e->tv holds the deltas-of-deltas), then the
 * values as XOR (ch == NULL) or integers. */
static void body_put(chunk_sealed_enc_t *e, strbuf_t *b, const int64_t *ts,
                     const double *v, size_t n, bool ts_packed,
                     const int_choice_t *ch) {
  strbuf_reset(b);
  if (n == 0) return;
  put_uvarint(b, zigzag((uint64_t)ts[0]));
  if (n >= 2) put_uvarint(b, zigzag((uint64_t)ts[1] - (uint64_t)ts[0]));
  if (n >= 3) stream_put(e, b, e->tv, n - 2, ts_packed);
  if (ch) int_put(e, b, v, n, ch);
  else strbuf_append(b, e->xw.buf, (e->xw.nbits + 7) / 8);
}

/* Size of b once written: zstd-compressed into e->z if that is smaller. */
static size_t try_zstd(chunk_sealed_enc_t *e, const strbuf_t *b, bool *zstd) {
  *zstd = false;
  if (e->level <= 0 || b->len <= 16) return b->len;
  size_t bound = ZSTD_compressBound(b->len);
  if (e->zcap < bound) {
    free(e->z);
    e->z = ph_malloc(bound);
    e->zcap = bound;
  }
  size_t zl = ZSTD_compressCCtx(e->cctx, e->z, e->zcap, b->data, b->len, e->level);
  if (ZSTD_isError(zl) || zl >= b->len) return b->len;
  *zstd = true;
  return zl;
}

int chunk_sealed_encode(chunk_sealed_enc_t *e, const int64_t *ts,
                        const double *v, size_t n, strbuf_t *out) {
  e->pb = PACK_BLOCK;
  if (n > CHUNK_SEALED_MAX_SAMPLES) return PH_EINVAL;
  for (size_t i = 1; i < n; i++)
    if (ts[i] <= ts[i - 1]) return PH_EINVAL;
  if (n == 0) {
    put_byte(out, CODEC_XOR);
    put_uvarint(out, 0);
    return 0;
  }
  reserve(e, n);

  /* Timestamps: varints or packed, whichever is smaller. */
  for (size_t i = 2; i < n; i++)
    e->tv[i - 2] = ((uint64_t)ts[i] - (uint64_t)ts[i - 1]) -
                   ((uint64_t)ts[i - 1] - (uint64_t)ts[i - 2]);
  size_t tsn = n >= 2 ? n - 2 : 0;
  bool ts_packed = stream_size(e, e->tv, tsn, true) < stream_size(e, e->tv, tsn, false);

  /* Values: XOR against the best int section. */
  chunk__xor_state_t xs = {0};
  e->xw.nbits = 0;
  for (size_t i = 0; i < n; i++) chunk__xor_put(&e->xw, &xs, dbl_bits(v[i]), i == 0);
  size_t xor_len = ((size_t)e->xw.nbits + 7) / 8;
  int_choice_t ic = int_choose(e, v, n, false);
  const int_choice_t *ch = ic.codec >= 0 && ic.size < xor_len ? &ic : NULL;

  /* The raw-smallest body, and if zstd is on, the all-varint variant too:
   * byte-aligned varints often compress better than bit-packed data. */
  body_put(e, &e->body, ts, v, n, ts_packed, ch);
  bool zstd;
  size_t len = try_zstd(e, &e->body, &zstd);
  unsigned flags = (ts_packed ? TS_PACKED : 0) | (ch ? (unsigned)ch->codec : CODEC_XOR);
  if (e->level > 0 && (ts_packed || (ch && ch->packed))) {
    int_choice_t vc;
    if (ch) vc = *ch, vc.packed = false;
    body_put(e, &e->alt, ts, v, n, false, ch ? &vc : NULL);
    bool azstd;
    size_t alen = try_zstd(e, &e->alt, &azstd);
    if (alen < len) {
      /* try_zstd left the alternative's compressed bytes in e->z. */
      strbuf_t tmp = e->body;
      e->body = e->alt;
      e->alt = tmp;
      len = alen;
      zstd = azstd;
      flags &= ~(unsigned)TS_PACKED;
    } else if (zstd) {
      try_zstd(e, &e->body, &zstd); /* restore e->z */
    }
  }
  put_byte(out, flags | (zstd ? FLAG_ZSTD : 0));
  put_uvarint(out, n);
  strbuf_append(out, zstd ? (const void *)e->z : (const void *)e->body.data, len);
  return 0;
}

/* --- v2: separate timestamp and value columns -------------------------------- */

int chunk_sealed_encode_ts(chunk_sealed_enc_t *e, const int64_t *ts, size_t n,
                           strbuf_t *out) {
  e->pb = PACK_BLOCK2;
  if (n > CHUNK_SEALED_MAX_SAMPLES) return PH_EINVAL;
  for (size_t i = 1; i < n; i++)
    if (ts[i] <= ts[i - 1]) return PH_EINVAL;
  put_uvarint(out, n);
  if (n == 0) return 0;
  reserve(e, n);
  for (size_t i = 2; i < n; i++)
    e->tv[i - 2] = ((uint64_t)ts[i] - (uint64_t)ts[i - 1]) -
                   ((uint64_t)ts[i - 1] - (uint64_t)ts[i - 2]);
  size_t tsn = n >= 2 ? n - 2 : 0;
  bool packed = stream_size(e, e->tv, tsn, true) < stream_size(e, e->tv, tsn, false);
  put_byte(out, packed ? TS_COL_PACKED : 0);
  put_uvarint(out, zigzag((uint64_t)ts[0]));
  if (n >= 2) put_uvarint(out, zigzag((uint64_t)ts[1] - (uint64_t)ts[0]));
  if (n >= 3) stream_put(e, out, e->tv, tsn, packed);
  return 0;
}

/* The byte-plane section of codec 3 (XOR with the previous value) or 4
 * (zigzag of the difference of the bit patterns): a mask of the planes
 * that are not all zero, then each such plane, most significant first. */
static void planes_put(strbuf_t *out, const double *v, size_t n, int codec) {
  const uint64_t LOW = (UINT64_C(1) << 48) - 1; /* planes 2..7 */
  bool sparse = codec == CODEC_SPARSE_PLANES;
  uint64_t *x = ph_malloc(n * sizeof *x);
  uint64_t prev = 0, any = 0;
  size_t c = 0; /* words with a nonzero low part */
  for (size_t i = 0; i < n; i++) {
    uint64_t b = dbl_bits(v[i]);
    x[i] = codec != CODEC_DELTA_PLANES || i == 0 ? b : zigzag(b - prev);
    prev = b;
    any |= x[i];
    c += (x[i] & LOW) != 0;
  }
  unsigned mask = 0;
  for (unsigned p = 0; p < 8; p++)
    if ((any >> (56 - 8 * p)) & 0xff) mask |= 1u << p;
  put_byte(out, (unsigned)codec);
  put_byte(out, mask);
  if (sparse) {
    size_t nb = (n + 7) / 8;
    strbuf_reserve(out, nb);
    uint8_t *bm = (uint8_t *)out->data + out->len;
    memset(bm, 0, nb);
    for (size_t i = 0; i < n; i++)
      if (x[i] & LOW) bm[i >> 3] |= (uint8_t)(1u << (i & 7));
    out->len += nb;
  }
  for (unsigned p = 0; p < 8; p++) {
    if (!(mask & (1u << p))) continue;
    bool skip = sparse && p >= 2;
    strbuf_reserve(out, skip ? c : n);
    uint8_t *dst = (uint8_t *)out->data + out->len;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
      if (!skip || (x[i] & LOW)) dst[k++] = (uint8_t)(x[i] >> (56 - 8 * p));
    out->len += k;
  }
  free(x);
}

/* The size a candidate is judged by: zstd-compressed if zstd is on (the
 * block compresses pages of columns, and this is its best estimate). */
static size_t cand_score(chunk_sealed_enc_t *e, const strbuf_t *b) {
  bool z;
  return try_zstd(e, b, &z);
}

int chunk_sealed_encode_values(chunk_sealed_enc_t *e, const double *v, size_t n,
                               strbuf_t *out) {
  e->pb = PACK_BLOCK2;
  if (n > CHUNK_SEALED_MAX_SAMPLES) return PH_EINVAL;
  if (n == 0) {
    put_byte(out, CODEC_XOR);
    return 0;
  }
  reserve(e, n);
  int nc = 0;
  /* XOR */
  chunk__xor_state_t xs = {0};
  e->xw.nbits = 0;
  for (size_t i = 0; i < n; i++) chunk__xor_put(&e->xw, &xs, dbl_bits(v[i]), i == 0);
  strbuf_t *c = &e->cand[nc++];
  strbuf_reset(c);
  put_byte(c, CODEC_XOR);
  strbuf_append(c, e->xw.buf, (e->xw.nbits + 7) / 8);
  /* integers, as chosen, and all-varint (byte-aligned data often
   * compresses better than bit-packed) */
  int_choice_t ic = int_choose(e, v, n, true);
  if (ic.codec >= 0) {
    c = &e->cand[nc++];
    strbuf_reset(c);
    put_byte(c, (unsigned)ic.codec);
    int_put(e, c, v, n, &ic);
    if (ic.packed && e->level > 0) {
      int_choice_t vc = ic;
      vc.packed = false;
      c = &e->cand[nc++];
      strbuf_reset(c);
      put_byte(c, (unsigned)vc.codec);
      int_put(e, c, v, n, &vc);
    }
  }
  /* byte planes, for noisy full-precision values */
  if (ic.codec < 0 || e->level <= 0) {
    for (int pc = CODEC_DELTA_PLANES; pc <= CODEC_SPARSE_PLANES; pc++) {
      c = &e->cand[nc++];
      strbuf_reset(c);
      planes_put(c, v, n, pc);
    }
  }
  int best = 0;
  size_t best_size = SIZE_MAX;
  for (int i = 0; i < nc; i++) {
    size_t sz = e->level > 0 ? cand_score(e, &e->cand[i]) : e->cand[i].len;
    if (sz < best_size) {
      best_size = sz;
      best = i;
    }
  }
  strbuf_append(out, e->cand[best].data, e->cand[best].len);
  return 0;
}

/* --- decoder ---------------------------------------------------------------- */

typedef struct rd {
  const uint8_t *p;
  size_t len, pos;
} rd_t;

static bool get_uvarint(rd_t *r, uint64_t *out) {
  uint64_t u = 0;
  for (unsigned shift = 0; shift < 64; shift += 7) {
    if (r->pos >= r->len) return false;
    uint8_t b = r->p[r->pos++];
    if (shift == 63 && b > 1) return false;
    u |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *out = u;
      return true;
    }
  }
  return false;
}

static bool get_zz(rd_t *r, uint64_t *out) {
  if (!get_uvarint(r, out)) return false;
  *out = unzigzag(*out);
  return true;
}

/* Reader of an int stream of a known number of values. */
typedef struct srd {
  rd_t *r;
  bool packed;
  size_t pb;       /* values per packed block */
  size_t left;     /* values still to read */
  size_t in_block; /* values left in the current packed block */
  uint64_t base;
  unsigned width;
  chunk__br_t br;
} srd_t;

static bool srd_next(srd_t *s, uint64_t *out) {
  if (s->left == 0) return false;
  if (!s->packed) {
    if (!get_zz(s->r, out)) return false;
    s->left--;
    return true;
  }
  if (s->in_block == 0) {
    rd_t *r = s->r;
    size_t cnt = s->left < s->pb ? s->left : s->pb;
    if (!get_zz(r, &s->base) || r->pos >= r->len) return false;
    s->width = r->p[r->pos++];
    if (s->width > 64) return false;
    size_t bytes = (cnt * s->width + 7) / 8;
    if (bytes > r->len - r->pos) return false;
    s->br = (chunk__br_t){r->p + r->pos, bytes * 8, 0};
    r->pos += bytes;
    s->in_block = cnt;
  }
  uint64_t x = 0;
  if (!chunk__br_read(&s->br, s->width, &x)) return false;
  *out = s->base + x;
  s->in_block--;
  s->left--;
  return true;
}

static int corrupt(char *err, size_t errlen, const char *what, size_t off) {
  return ph_err(err, errlen, PH_ECORRUPT, "sealed chunk: %s at byte %zu",
                what, off);
}

/* Parses flags and n; *pos is where the body starts. */
static int parse_head(const uint8_t *data, size_t len, unsigned *flags,
                      size_t *n, size_t *pos, char *err, size_t errlen) {
  if (len < 2) return corrupt(err, errlen, "truncated header", len);
  unsigned f = data[0];
  if ((f & 0x60) != 0 || (f & 0x0f) > CODEC_INT_DOD)
    return corrupt(err, errlen, "unknown codec", 0);
  rd_t r = {data, len, 1};
  uint64_t u;
  if (!get_uvarint(&r, &u) || u > CHUNK_SEALED_MAX_SAMPLES)
    return corrupt(err, errlen, "bad sample count", 1);
  if (u == 0 && (f != 0 || r.pos != len))
    return corrupt(err, errlen, "data after empty chunk", r.pos);
  if (u > 0 && r.pos == len) return corrupt(err, errlen, "missing body", len);
  *flags = f;
  *n = (size_t)u;
  *pos = r.pos;
  return 0;
}

int chunk_sealed_count(const uint8_t *data, size_t len, size_t *n) {
  unsigned flags = 0;
  size_t pos = 0;
  return parse_head(data, len, &flags, n, &pos, NULL, 0);
}

static int decode_ts(rd_t *r, bool packed, size_t pb, size_t n, int64_t *ts, char *err,
                     size_t errlen) {
  uint64_t t0, d = 0, dod;
  if (!get_zz(r, &t0)) return corrupt(err, errlen, "first timestamp", r->pos);
  ts[0] = (int64_t)t0;
  if (n >= 2 && !get_zz(r, &d)) return corrupt(err, errlen, "timestamp delta", r->pos);
  srd_t s = {.r = r, .packed = packed, .pb = pb, .left = n >= 2 ? n - 2 : 0};
  for (size_t i = 1; i < n; i++) {
    if (i >= 2) {
      if (!srd_next(&s, &dod)) return corrupt(err, errlen, "timestamps", r->pos);
      d += dod;
    }
    uint64_t t = (uint64_t)ts[i - 1] + d;
    if ((int64_t)t <= ts[i - 1])
      return corrupt(err, errlen, "timestamps not increasing", r->pos);
    ts[i] = (int64_t)t;
  }
  return 0;
}

static int decode_xor(rd_t *r, size_t n, double *v, char *err, size_t errlen) {
  chunk__br_t br = {r->p + r->pos, (r->len - r->pos) * 8, 0};
  chunk__xor_state_t s = {0};
  for (size_t i = 0; i < n; i++) {
    uint64_t b;
    if (!chunk__xor_get(&br, &s, &b, i == 0))
      return corrupt(err, errlen, "XOR values", r->pos + br.pos / 8);
    v[i] = bits_dbl(b);
  }
  size_t used = (br.pos + 7) / 8;
  if (used != r->len - r->pos)
    return corrupt(err, errlen, "trailing bytes", r->pos + used);
  if ((br.pos & 7) && (r->p[r->len - 1] & (0xffu >> (br.pos & 7))))
    return corrupt(err, errlen, "nonzero padding", r->len - 1);
  r->pos = r->len;
  return 0;
}

/* Reads the next escape of the list at er (validated before): its index. */
static size_t next_escape(rd_t *er, size_t prev) {
  uint64_t gap = 0;
  get_uvarint(er, &gap);
  er->pos += 8;
  return prev + 1 + (size_t)gap;
}

static int decode_int(rd_t *r, unsigned codec, size_t n, double *v, bool ext,
                      char *err, size_t errlen) {
  if (r->pos >= r->len) return corrupt(err, errlen, "missing scale", r->pos);
  unsigned kb = r->p[r->pos++];
  unsigned k = kb & 0x0f;
  unsigned allowed = 0x0fu | INT_PACKED | (ext ? INT_MUL | INT_GCD : 0u);
  if (k > MAX_SCALE || (kb & ~allowed))
    return corrupt(err, errlen, "bad scale byte", r->pos - 1);
  bool mul = kb & INT_MUL;
  uint64_t g = 1;
  if ((kb & INT_GCD) && (!get_uvarint(r, &g) || g < 2))
    return corrupt(err, errlen, "bad common divisor", r->pos);
  uint64_t nesc;
  if (!get_uvarint(r, &nesc) || nesc >= n)
    return corrupt(err, errlen, "bad escape count", r->pos);
  /* Place the escaped values, remembering where the list starts so the
   * integer pass can walk it again to skip their positions. */
  size_t esc_start = r->pos, idx = (size_t)-1;
  for (uint64_t j = 0; j < nesc; j++) {
    uint64_t gap;
    if (!get_uvarint(r, &gap) || gap >= n - (idx + 1))
      return corrupt(err, errlen, "bad escape index", r->pos);
    idx += 1 + (size_t)gap;
    if (r->len - r->pos < 8) return corrupt(err, errlen, "truncated escape", r->pos);
    uint64_t b = 0;
    for (int q = 0; q < 8; q++) b |= (uint64_t)r->p[r->pos + q] << (8 * q);
    r->pos += 8;
    v[idx] = bits_dbl(b);
  }
  rd_t er = {r->p, r->pos, esc_start};
  size_t left = (size_t)nesc, next = left ? next_escape(&er, (size_t)-1) : n;

  size_t c = n - (size_t)nesc; /* integers to read, >= 1 */
  uint64_t m = 0, d = 0, x;
  if (!get_zz(r, &m)) return corrupt(err, errlen, "first integer", r->pos);
  bool dod = codec == CODEC_INT_DOD;
  if (dod && c >= 2 && !get_zz(r, &d)) return corrupt(err, errlen, "integer delta", r->pos);
  d *= g;
  size_t slen = c - 1 - (dod && c >= 2 ? 1 : 0);
  srd_t s = {.r = r, .packed = (kb & INT_PACKED) != 0, .pb = ext ? PACK_BLOCK2 : PACK_BLOCK,
             .left = slen};
  size_t j = 0; /* integers placed */
  for (size_t i = 0; i < n; i++) {
    if (i == next) {
      next = --left ? next_escape(&er, next) : n;
      continue;
    }
    if (j >= 1) { /* m0 and (dod) m1 - m0 came before the stream */
      if (!dod || j >= 2) {
        if (!srd_next(&s, &x)) return corrupt(err, errlen, "integers", r->pos);
        x *= g;
        d = dod ? d + x : x;
      }
      m += d;
    }
    v[i] = int_decode((int64_t)m, k, mul);
    j++;
  }
  return 0;
}

static int decode_body(const uint8_t *p, size_t len, unsigned flags, size_t n,
                       int64_t *ts, double *v, char *err, size_t errlen) {
  rd_t r = {p, len, 0};
  int rc = decode_ts(&r, (flags & TS_PACKED) != 0, PACK_BLOCK, n, ts, err, errlen);
  if (rc) return rc;
  unsigned codec = flags & 0x0f;
  rc = codec == CODEC_XOR ? decode_xor(&r, n, v, err, errlen)
                          : decode_int(&r, codec, n, v, false, err, errlen);
  if (rc) return rc;
  if (r.pos != len) return corrupt(err, errlen, "trailing bytes", r.pos);
  return 0;
}

int chunk_sealed_decode(const uint8_t *data, size_t len, int64_t *ts,
                        double *v, size_t cap, size_t *n, char *err,
                        size_t errlen) {
  unsigned flags = 0;
  size_t cnt = 0, pos = 0;
  int rc = parse_head(data, len, &flags, &cnt, &pos, err, errlen);
  if (rc) return rc;
  if (cnt > cap)
    return ph_err(err, errlen, PH_EINVAL,
                  "sealed chunk: %zu samples, room for %zu", cnt, cap);
  *n = cnt;
  if (cnt == 0) return 0;
  if (!(flags & FLAG_ZSTD))
    return decode_body(data + pos, len - pos, flags, cnt, ts, v, err, errlen);

  const uint8_t *frame = data + pos;
  size_t flen = len - pos;
  unsigned long long raw = ZSTD_getFrameContentSize(frame, flen);
  if (raw == ZSTD_CONTENTSIZE_UNKNOWN || raw == ZSTD_CONTENTSIZE_ERROR ||
      raw == 0 || raw > RAW_FIXED + (unsigned long long)cnt * RAW_PER_SAMPLE)
    return corrupt(err, errlen, "bad zstd frame header", pos);
  size_t fsize = ZSTD_findFrameCompressedSize(frame, flen);
  if (ZSTD_isError(fsize) || fsize != flen)
    return corrupt(err, errlen, "bad zstd frame size", pos);
  uint8_t *buf = ph_malloc((size_t)raw);
  size_t got = ZSTD_decompress(buf, (size_t)raw, frame, flen);
  if (ZSTD_isError(got) || got != raw) {
    free(buf);
    return corrupt(err, errlen, "zstd frame does not inflate", pos);
  }
  rc = decode_body(buf, (size_t)raw, flags, cnt, ts, v, err, errlen);
  free(buf);
  return rc;
}


/* --- v2 column decoders ------------------------------------------------------ */

int chunk_sealed_decode_ts(const uint8_t *data, size_t len, int64_t *ts,
                           size_t cap, size_t *n, char *err, size_t errlen) {
  rd_t r = {data, len, 0};
  uint64_t u;
  if (!get_uvarint(&r, &u) || u > CHUNK_SEALED_MAX_SAMPLES)
    return corrupt(err, errlen, "bad timestamp count", 0);
  if (u > cap)
    return ph_err(err, errlen, PH_EINVAL,
                  "sealed chunk: %llu timestamps, room for %zu",
                  (unsigned long long)u, cap);
  *n = (size_t)u;
  if (u == 0) {
    if (r.pos != len) return corrupt(err, errlen, "trailing bytes", r.pos);
    return 0;
  }
  if (r.pos >= len || (data[r.pos] & ~(unsigned)TS_COL_PACKED) != 0)
    return corrupt(err, errlen, "bad timestamp codec", r.pos);
  bool packed = data[r.pos++] & TS_COL_PACKED;
  int rc = decode_ts(&r, packed, PACK_BLOCK2, (size_t)u, ts, err, errlen);
  if (rc) return rc;
  if (r.pos != len) return corrupt(err, errlen, "trailing bytes", r.pos);
  return 0;
}

static int decode_planes(rd_t *r, unsigned codec, size_t n, double *v,
                         char *err, size_t errlen) {
  if (r->pos >= r->len) return corrupt(err, errlen, "missing plane mask", r->pos);
  unsigned mask = r->p[r->pos++];
  bool sparse = codec == CODEC_SPARSE_PLANES;
  const uint8_t *bm = NULL;
  size_t c = n; /* bytes in each low plane */
  if (sparse) {
    size_t nb = (n + 7) / 8;
    if (r->len - r->pos < nb) return corrupt(err, errlen, "truncated plane bitmap", r->pos);
    bm = r->p + r->pos;
    r->pos += nb;
    if ((n & 7) && (bm[nb - 1] >> (n & 7)))
      return corrupt(err, errlen, "nonzero bitmap padding", r->pos - 1);
    c = 0;
    for (size_t j = 0; j < nb; j++) c += (size_t)__builtin_popcount(bm[j]);
  }
  const uint8_t *pl[8] = {0};
  size_t need = 0;
  for (unsigned p = 0; p < 8; p++) {
    if (!(mask & (1u << p))) continue;
    size_t cnt = sparse && p >= 2 ? c : n;
    if (r->len - r->pos - need < cnt) return corrupt(err, errlen, "bad plane length", r->pos);
    pl[p] = r->p + r->pos + need;
    need += cnt;
  }
  if (r->len - r->pos != need) return corrupt(err, errlen, "bad plane length", r->pos);
  uint64_t prev = 0;
  size_t k = 0; /* index into the low planes */
  for (size_t i = 0; i < n; i++) {
    uint64_t w = 0;
    bool low = !sparse || ((bm[i >> 3] >> (i & 7)) & 1);
    size_t at = sparse ? k : i;
    for (unsigned p = 0; p < 8; p++) {
      if (!pl[p]) continue;
      if (sparse && p >= 2) {
        if (low) w |= (uint64_t)pl[p][at] << (56 - 8 * p);
      } else {
        w |= (uint64_t)pl[p][i] << (56 - 8 * p);
      }
    }
    if (sparse && low) k++;
    uint64_t b = codec != CODEC_DELTA_PLANES || i == 0 ? w : prev + unzigzag(w);
    v[i] = bits_dbl(b);
    prev = b;
  }
  r->pos = r->len;
  return 0;
}

int chunk_sealed_decode_values(const uint8_t *data, size_t len, double *v,
                               size_t n, char *err, size_t errlen) {
  if (len < 1) return corrupt(err, errlen, "missing value codec", 0);
  unsigned codec = data[0];
  if (n == 0) {
    if (codec != CODEC_XOR || len != 1) return corrupt(err, errlen, "data after empty column", 0);
    return 0;
  }
  if (n > CHUNK_SEALED_MAX_SAMPLES) return corrupt(err, errlen, "bad sample count", 0);
  rd_t r = {data, len, 1};
  int rc;
  switch (codec) {
    case CODEC_XOR: rc = decode_xor(&r, n, v, err, errlen); break;
    case CODEC_INT_DELTA:
    case CODEC_INT_DOD: rc = decode_int(&r, codec, n, v, true, err, errlen); break;
    case CODEC_DELTA_PLANES:
    case CODEC_SPARSE_PLANES: rc = decode_planes(&r, codec, n, v, err, errlen); break;
    default: return corrupt(err, errlen, "unknown value codec", 0);
  }
  if (rc) return rc;
  if (r.pos != len) return corrupt(err, errlen, "trailing bytes", r.pos);
  return 0;
}
