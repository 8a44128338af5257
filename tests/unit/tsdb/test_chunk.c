/*
 * test_chunk.c - the TSDB's sample encodings (tsdb/chunk.h): the open XOR
 * head chunk and the sealed block encoding.
 *
 * Round trips compare values bit for bit (NaN payloads, the stale marker,
 * -0.0, subnormals, infinities) over extreme and irregular timestamps;
 * decoders are fed every truncation and random byte flips of valid
 * encodings, always from exact-size heap copies so AddressSanitizer sees any
 * read past the end; the same for the two columns of block format 2 (the
 * timestamp and value columns, with the byte-plane codecs, the m*10^-K
 * formula and the common divisor).  bench_sizes prints bytes/sample for typical series
 * (figures, not assertions).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "chunk.h"
#include "ph_error.h"
#include "strbuf.h"
#include "tsdb.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- helpers ---------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void) { /* splitmix64 */
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

static double rnd_unit(void) { return (double)(rnd() >> 11) / 9007199254740992.0; }

static uint64_t bits(double v) {
  uint64_t u;
  memcpy(&u, &v, sizeof u);
  return u;
}

static double from_bits(uint64_t u) {
  double v;
  memcpy(&v, &u, sizeof v);
  return v;
}

static uint8_t *dup_bytes(const void *p, size_t n) {
  uint8_t *d = malloc(n ? n : 1);
  assert_non_null(d);
  if (n) memcpy(d, p, n);
  return d;
}

/* Values no encoding may alter. */
static const uint64_t edge_bits[] = {
    0x0000000000000000u, /* +0 */
    0x8000000000000000u, /* -0 */
    0x7ff0000000000002u, /* stale marker */
    0x7ff8000000000000u, /* quiet NaN */
    0xfff8000000000001u, /* negative NaN with payload */
    0x7ff4000000000000u, /* signalling NaN */
    0x7fffffffffffffffu, /* NaN, all payload bits */
    0x7ff0000000000000u, /* +Inf */
    0xfff0000000000000u, /* -Inf */
    0x0000000000000001u, /* smallest subnormal */
    0x800fffffffffffffu, /* largest negative subnormal */
    0x0010000000000000u, /* DBL_MIN */
    0x7fefffffffffffffu, /* DBL_MAX */
    0xffefffffffffffffu, /* -DBL_MAX */
    0x3ff0000000000000u, /* 1.0 */
    0x3ff0000000000001u, /* 1.0 + ulp */
    0x4197d78400000000u, /* 1e8 */
    0x43e0000000000000u, /* 2^63 */
    0xc3e0000000000000u, /* -2^63 */
    0x3fb999999999999au, /* 0.1 */
};
#define N_EDGE (sizeof edge_bits / sizeof edge_bits[0])

/* Appends ts/v to a fresh chunk and checks every sample comes back from an
 * exact-size copy of its bytes. */
static void xor_roundtrip(const int64_t *ts, const double *v, size_t n) {
  chunk_xor_t c;
  chunk_xor_init(&c);
  for (size_t i = 0; i < n; i++) assert_int_equal(chunk_xor_append(&c, ts[i], v[i]), 0);
  assert_int_equal(chunk_xor_num_samples(&c), n);
  if (n) {
    assert_true(chunk_xor_first_ts(&c) == ts[0]);
    assert_true(chunk_xor_last_ts(&c) == ts[n - 1]);
    assert_true(bits(chunk_xor_last_value(&c)) == bits(v[n - 1]));
  }
  size_t len;
  const uint8_t *b = chunk_xor_bytes(&c, &len);
  assert_int_equal(len, chunk_xor_len(&c));
  assert_int_equal(chunk_xor_header_count(b, len), n);
  uint8_t *copy = dup_bytes(b, len);
  chunk_xor_iter_t it;
  chunk_xor_iter_init(&it, copy, len, (unsigned)n);
  size_t i = 0;
  while (chunk_xor_iter_next(&it)) {
    int64_t t;
    double x;
    chunk_xor_iter_at(&it, &t, &x);
    assert_true(i < n);
    assert_true(t == ts[i]);
    assert_true(bits(x) == bits(v[i]));
    i++;
  }
  assert_int_equal(chunk_xor_iter_err(&it), 0);
  assert_int_equal(i, n);
  assert_false(chunk_xor_iter_next(&it));
  free(copy);
  chunk_xor_free(&c);
}

/* Encodes with the sealed encoder at the given zstd level, decodes from an
 * exact-size copy, compares; returns the encoding's flags byte. */
static unsigned sealed_roundtrip(const int64_t *ts, const double *v, size_t n,
                                 int level) {
  chunk_sealed_enc_t *e = chunk_sealed_enc_new(level);
  strbuf_t out = STRBUF_INIT;
  strbuf_append(&out, "x", 1); /* the encoder appends */
  assert_int_equal(chunk_sealed_encode(e, ts, v, n, &out), 0);
  assert_true(out.len >= 3);
  uint8_t *copy = dup_bytes(out.data + 1, out.len - 1);
  size_t len = out.len - 1, cnt = 999;
  assert_int_equal(chunk_sealed_count(copy, len, &cnt), 0);
  assert_int_equal(cnt, n);
  int64_t *dts = malloc((n ? n : 1) * sizeof *dts);
  double *dv = malloc((n ? n : 1) * sizeof *dv);
  char err[128] = "";
  size_t got = 999;
  int rc = chunk_sealed_decode(copy, len, dts, dv, n, &got, err, sizeof err);
  if (rc) fprintf(stderr, "decode: %s\n", err);
  assert_int_equal(rc, 0);
  assert_int_equal(got, n);
  for (size_t i = 0; i < n; i++) {
    assert_true(dts[i] == ts[i]);
    if (bits(dv[i]) != bits(v[i]))
      fail_msg("value %zu: %016llx != %016llx", i, (unsigned long long)bits(dv[i]),
               (unsigned long long)bits(v[i]));
  }
  unsigned flags = copy[0];
  free(dts);
  free(dv);
  free(copy);
  strbuf_free(&out);
  chunk_sealed_enc_free(e);
  return flags;
}

static void both_roundtrips(const int64_t *ts, const double *v, size_t n) {
  xor_roundtrip(ts, v, n);
  sealed_roundtrip(ts, v, n, 0);
  sealed_roundtrip(ts, v, n, 3);
}

/* --- XOR chunk ---------------------------------------------------------------- */

static void test_xor_edge_values(void **state) {
  (void)state;
  enum { N = N_EDGE * N_EDGE * 2 };
  int64_t ts[N];
  double v[N];
  int64_t t = -1700000000000;
  size_t n = 0;
  /* Every edge value after every other (both orders), irregular steps. */
  for (size_t i = 0; i < N_EDGE; i++)
    for (size_t j = 0; j < N_EDGE; j++) {
      t += 1 + (int64_t)(rnd() % 100000);
      ts[n] = t, v[n++] = from_bits(edge_bits[i]);
      t += 1 + (int64_t)(rnd() % 3);
      ts[n] = t, v[n++] = from_bits(edge_bits[j]);
    }
  both_roundtrips(ts, v, n);
  /* Each edge value alone and as a first value. */
  for (size_t i = 0; i < N_EDGE; i++) {
    double one = from_bits(edge_bits[i]);
    int64_t t0 = 42;
    both_roundtrips(&t0, &one, 1);
  }
}

static void test_xor_extreme_timestamps(void **state) {
  (void)state;
  /* The whole int64 range in two steps, then every dod bucket boundary. */
  int64_t ts[64];
  double v[64];
  size_t n = 0;
  ts[n++] = INT64_MIN;
  ts[n++] = INT64_MIN + 1;
  ts[n++] = INT64_MAX - 100000000000;
  static const int64_t dods[] = {0,      1,       -1,      8191,   -8192,
                                 8192,   -8193,   65535,   -65536, 65536,
                                 -65537, 524287,  -524288, 524288, -524289,
                                 1 << 30, -(1 << 29)};
  int64_t delta = 2000000;
  int64_t t = ts[n - 1];
  for (size_t i = 0; i < sizeof dods / sizeof dods[0]; i++) {
    delta += dods[i];
    assert_true(delta > 0);
    t += delta;
    ts[n++] = t;
  }
  ts[n++] = INT64_MAX;
  for (size_t i = 0; i < n; i++) v[i] = (double)i;
  both_roundtrips(ts, v, n);

  /* INT64_MIN straight to INT64_MAX: the delta needs all 64 bits. */
  int64_t ts2[3] = {INT64_MIN, INT64_MAX - 1, INT64_MAX};
  double v2[3] = {1, 2, 3};
  both_roundtrips(ts2, v2, 3);
  int64_t ts3[2] = {-1, 0};
  both_roundtrips(ts3, v2, 2);
}

static void test_xor_random_long(void **state) {
  (void)state;
  enum { N = 10000 };
  int64_t *ts = malloc(N * sizeof *ts);
  double *v = malloc(N * sizeof *v);
  int64_t t = 1700000000000;
  for (size_t i = 0; i < N; i++) {
    /* Mix of regular, jittered and wild intervals and of value kinds. */
    uint64_t r = rnd();
    switch (r % 4) {
    case 0: t += 15000; break;
    case 1: t += 15000 + (int64_t)(rnd() % 41) - 20; break;
    case 2: t += 1 + (int64_t)(rnd() % 1000000000); break;
    default: t += 1; break;
    }
    ts[i] = t;
    switch ((r >> 8) % 5) {
    case 0: v[i] = (double)(rnd() % 1000); break;
    case 1: v[i] = from_bits(rnd()); break;
    case 2: v[i] = from_bits(edge_bits[rnd() % N_EDGE]); break;
    case 3: v[i] = i ? v[i - 1] : 0; break;
    default: v[i] = rnd_unit() * 100; break;
    }
  }
  both_roundtrips(ts, v, N);
  free(ts);
  free(v);
}

static void test_xor_empty_and_errors(void **state) {
  (void)state;
  chunk_xor_t c;
  chunk_xor_init(&c);
  assert_int_equal(chunk_xor_num_samples(&c), 0);
  size_t len;
  const uint8_t *b = chunk_xor_bytes(&c, &len);
  assert_int_equal(len, 2);
  assert_int_equal(chunk_xor_header_count(b, len), 0);
  chunk_xor_iter_t it;
  chunk_xor_iter_init(&it, b, len, 0);
  assert_false(chunk_xor_iter_next(&it));
  assert_false(chunk_xor_iter_seek(&it, INT64_MIN));
  assert_int_equal(chunk_xor_iter_err(&it), 0);
  chunk_xor_compact(&c); /* no-op on an empty chunk */

  assert_int_equal(chunk_xor_append(&c, 100, 1.0), 0);
  size_t len1 = chunk_xor_len(&c);
  assert_int_equal(chunk_xor_append(&c, 100, 2.0), PH_EOUTOFORDER);
  assert_int_equal(chunk_xor_append(&c, 99, 2.0), PH_EOUTOFORDER);
  assert_int_equal(chunk_xor_num_samples(&c), 1);
  assert_int_equal(chunk_xor_len(&c), len1);
  assert_int_equal(chunk_xor_append(&c, 101, 2.0), 0);
  assert_true(chunk_xor_last_ts(&c) == 101);
  chunk_xor_free(&c);

  /* Iterator over fewer than two bytes with a count: corrupt, no read. */
  chunk_xor_init(&c);
  uint8_t one = 0;
  chunk_xor_iter_init(&it, &one, 1, 1);
  assert_false(chunk_xor_iter_next(&it));
  assert_int_equal(chunk_xor_iter_err(&it), PH_ECORRUPT);
  chunk_xor_iter_init(&it, NULL, 0, 0);
  assert_false(chunk_xor_iter_next(&it));
  assert_int_equal(chunk_xor_iter_err(&it), 0);
}

static void test_xor_full(void **state) {
  (void)state;
  chunk_xor_t c;
  chunk_xor_init(&c);
  for (unsigned i = 0; i < CHUNK_XOR_MAX_SAMPLES; i++)
    assert_int_equal(chunk_xor_append(&c, (int64_t)i * 1000, (double)(i % 7)), 0);
  assert_int_equal(chunk_xor_num_samples(&c), CHUNK_XOR_MAX_SAMPLES);
  assert_int_equal(chunk_xor_append(&c, INT64_MAX, 0), PH_ELIMIT);
  size_t len;
  const uint8_t *b = chunk_xor_bytes(&c, &len);
  assert_int_equal(chunk_xor_header_count(b, len), CHUNK_XOR_MAX_SAMPLES);
  chunk_xor_iter_t it;
  chunk_xor_iter_init(&it, b, len, chunk_xor_header_count(b, len));
  unsigned n = 0;
  while (chunk_xor_iter_next(&it)) {
    int64_t t;
    double v;
    chunk_xor_iter_at(&it, &t, &v);
    assert_true(t == (int64_t)n * 1000 && v == (double)(n % 7));
    n++;
  }
  assert_int_equal(n, CHUNK_XOR_MAX_SAMPLES);
  chunk_xor_free(&c);
}

static void test_xor_seek(void **state) {
  (void)state;
  chunk_xor_t c;
  chunk_xor_init(&c);
  for (int i = 1; i <= 10; i++) assert_int_equal(chunk_xor_append(&c, i * 10, i), 0);
  size_t len;
  const uint8_t *b = chunk_xor_bytes(&c, &len);
  chunk_xor_iter_t it;
  int64_t t;
  double v;

  /* Before the first sample: lands on the first. */
  chunk_xor_iter_init(&it, b, len, 10);
  assert_true(chunk_xor_iter_seek(&it, INT64_MIN));
  chunk_xor_iter_at(&it, &t, &v);
  assert_true(t == 10 && v == 1);
  /* Exact hit, then between samples. */
  assert_true(chunk_xor_iter_seek(&it, 30));
  chunk_xor_iter_at(&it, &t, &v);
  assert_true(t == 30 && v == 3);
  assert_true(chunk_xor_iter_seek(&it, 31));
  chunk_xor_iter_at(&it, &t, &v);
  assert_true(t == 40);
  /* Never backwards: an earlier target keeps the current sample. */
  assert_true(chunk_xor_iter_seek(&it, 15));
  chunk_xor_iter_at(&it, &t, &v);
  assert_true(t == 40);
  /* Same target again stays. */
  assert_true(chunk_xor_iter_seek(&it, 40));
  chunk_xor_iter_at(&it, &t, &v);
  assert_true(t == 40);
  /* next after seek continues. */
  assert_true(chunk_xor_iter_next(&it));
  chunk_xor_iter_at(&it, &t, &v);
  assert_true(t == 50);
  /* To the last, then beyond. */
  assert_true(chunk_xor_iter_seek(&it, 100));
  chunk_xor_iter_at(&it, &t, &v);
  assert_true(t == 100 && v == 10);
  assert_false(chunk_xor_iter_seek(&it, 101));
  /* Exhausted: even an earlier target fails now. */
  assert_false(chunk_xor_iter_seek(&it, 0));
  assert_false(chunk_xor_iter_next(&it));
  assert_int_equal(chunk_xor_iter_err(&it), 0);

  /* Seek past the end from the start. */
  chunk_xor_iter_init(&it, b, len, 10);
  assert_false(chunk_xor_iter_seek(&it, INT64_MAX));
  /* Seek on a snapshot of 5 samples stops at the snapshot. */
  chunk_xor_iter_init(&it, b, len, 5);
  assert_false(chunk_xor_iter_seek(&it, 60));
  chunk_xor_iter_init(&it, b, len, 5);
  assert_true(chunk_xor_iter_seek(&it, 50));
  chunk_xor_free(&c);
}

/* A reader snapshot (bytes copied + count) taken between appends stays a
 * valid prefix while the writer keeps appending and reallocating. */
static void test_xor_snapshot_while_appending(void **state) {
  (void)state;
  chunk_xor_t c;
  chunk_xor_init(&c);
  enum { N = 300 };
  int64_t ts[N];
  double v[N];
  uint8_t *snap[N];
  size_t snap_len[N];
  for (size_t i = 0; i < N; i++) {
    ts[i] = 1000 + (int64_t)i * 15000 + (int64_t)(rnd() % 7);
    v[i] = (i % 3) ? rnd_unit() : from_bits(TSDB_STALE_NAN_BITS);
    assert_int_equal(chunk_xor_append(&c, ts[i], v[i]), 0);
    size_t len;
    const uint8_t *b = chunk_xor_bytes(&c, &len);
    snap[i] = dup_bytes(b, len);
    snap_len[i] = len;
  }
  size_t flen;
  const uint8_t *fin = chunk_xor_bytes(&c, &flen);
  for (size_t k = 0; k < N; k++) {
    /* Bytes before the snapshot's last byte are unchanged (header aside). */
    assert_true(snap_len[k] <= flen);
    if (snap_len[k] > 3) assert_memory_equal(snap[k] + 2, fin + 2, snap_len[k] - 3);
    /* The snapshot decodes to exactly its k+1 samples; so does the final
     * chunk's prefix with the snapshot's count. */
    for (int pass = 0; pass < 2; pass++) {
      chunk_xor_iter_t it;
      if (pass == 0) chunk_xor_iter_init(&it, snap[k], snap_len[k], (unsigned)k + 1);
      else chunk_xor_iter_init(&it, fin, flen, (unsigned)k + 1);
      size_t i = 0;
      while (chunk_xor_iter_next(&it)) {
        int64_t t;
        double x;
        chunk_xor_iter_at(&it, &t, &x);
        assert_true(t == ts[i] && bits(x) == bits(v[i]));
        i++;
      }
      assert_int_equal(chunk_xor_iter_err(&it), 0);
      assert_int_equal(i, k + 1);
    }
    free(snap[k]);
  }
  chunk_xor_free(&c);
}

static void test_xor_compact_and_load(void **state) {
  (void)state;
  chunk_xor_t c, d;
  chunk_xor_init(&c);
  assert_int_equal(chunk_xor_alloc_size(&c), 0);
  for (int i = 0; i < 120; i++)
    assert_int_equal(chunk_xor_append(&c, 1000 + i * 15000, i * 3.0), 0);
  assert_true(chunk_xor_alloc_size(&c) >= chunk_xor_len(&c));
  chunk_xor_compact(&c);
  assert_int_equal(chunk_xor_alloc_size(&c), chunk_xor_len(&c));

  /* Load the bytes into a new chunk; both continue identically. */
  size_t len;
  const uint8_t *b = chunk_xor_bytes(&c, &len);
  uint8_t *copy = dup_bytes(b, len);
  assert_int_equal(chunk_xor_load(&d, copy, len), 0);
  free(copy);
  assert_int_equal(chunk_xor_num_samples(&d), 120);
  assert_true(chunk_xor_last_ts(&d) == chunk_xor_last_ts(&c));
  for (int i = 120; i < 250; i++) {
    double x = (i % 10) ? i * 3.0 : -0.0;
    assert_int_equal(chunk_xor_append(&c, 1000 + i * 15000 + i % 5, x), 0);
    assert_int_equal(chunk_xor_append(&d, 1000 + i * 15000 + i % 5, x), 0);
  }
  size_t l1, l2;
  const uint8_t *b1 = chunk_xor_bytes(&c, &l1), *b2 = chunk_xor_bytes(&d, &l2);
  assert_int_equal(l1, l2);
  assert_memory_equal(b1, b2, l1);

  /* Load rejects anything that is not exactly a chunk. */
  chunk_xor_t e;
  uint8_t *big = malloc(l1 + 1);
  memcpy(big, b1, l1);
  big[l1] = 0;
  assert_int_equal(chunk_xor_load(&e, big, l1 + 1), PH_ECORRUPT);
  for (size_t cut = 0; cut < l1; cut++) {
    uint8_t *t = dup_bytes(b1, cut);
    assert_int_equal(chunk_xor_load(&e, t, cut), PH_ECORRUPT);
    free(t);
  }
  uint8_t empty[2] = {0, 0};
  assert_int_equal(chunk_xor_load(&e, empty, 2), 0);
  assert_int_equal(chunk_xor_num_samples(&e), 0);
  assert_int_equal(chunk_xor_append(&e, 5, 5), 0);
  chunk_xor_free(&e);
  free(big);
  chunk_xor_free(&c);
  chunk_xor_free(&d);
}

/* Truncations and byte flips of a chunk: the iterator stops with an error
 * or yields samples, never reads outside the copy. */
static void test_xor_corrupt(void **state) {
  (void)state;
  chunk_xor_t c;
  chunk_xor_init(&c);
  int64_t t = 0;
  for (int i = 0; i < 200; i++) {
    t += 1 + (int64_t)(rnd() % 40000);
    double x = (i % 4 == 0) ? from_bits(rnd()) : from_bits(edge_bits[rnd() % N_EDGE]);
    assert_int_equal(chunk_xor_append(&c, t, x), 0);
  }
  size_t len;
  const uint8_t *b = chunk_xor_bytes(&c, &len);
  unsigned n = chunk_xor_num_samples(&c);
  for (size_t cut = 0; cut < len; cut++) {
    uint8_t *copy = dup_bytes(b, cut);
    chunk_xor_iter_t it;
    chunk_xor_iter_init(&it, copy, cut, n);
    unsigned got = 0;
    while (chunk_xor_iter_next(&it)) got++;
    assert_int_equal(chunk_xor_iter_err(&it), PH_ECORRUPT);
    assert_true(got < n);
    free(copy);
  }
  for (int round = 0; round < 2000; round++) {
    uint8_t *copy = dup_bytes(b, len);
    int flips = 1 + (int)(rnd() % 3);
    for (int f = 0; f < flips; f++) copy[rnd() % len] ^= (uint8_t)(1u << (rnd() % 8));
    chunk_xor_iter_t it;
    chunk_xor_iter_init(&it, copy, len, chunk_xor_header_count(copy, len));
    while (chunk_xor_iter_next(&it)) {
    }
    assert_true(chunk_xor_iter_err(&it) == 0 || chunk_xor_iter_err(&it) == PH_ECORRUPT);
    chunk_xor_t l;
    int rc = chunk_xor_load(&l, copy, len);
    assert_true(rc == 0 || rc == PH_ECORRUPT);
    chunk_xor_free(&l);
    free(copy);
  }
  chunk_xor_free(&c);
}

/* --- sealed ----------------------------------------------------------------- */

static void test_sealed_empty_and_one(void **state) {
  (void)state;
  assert_int_equal(sealed_roundtrip(NULL, NULL, 0, 3), 0);
  int64_t t = INT64_MIN;
  double v = -0.0;
  sealed_roundtrip(&t, &v, 1, 3);
  t = INT64_MAX;
  v = 5;
  assert_int_equal(sealed_roundtrip(&t, &v, 1, 0) & 0x0f, 1); /* int */
}

static void test_sealed_codec_choice(void **state) {
  (void)state;
  enum { N = 720 };
  int64_t ts[N];
  double v[N];
  for (size_t i = 0; i < N; i++) ts[i] = 1700000000000 + (int64_t)i * 15000;

  /* Integer counter: an int codec, compressed. */
  double acc = 1e6;
  for (size_t i = 0; i < N; i++) v[i] = acc += (double)(rnd() % 5000);
  unsigned f = sealed_roundtrip(ts, v, N, 3);
  assert_true((f & 0x0f) == 1 || (f & 0x0f) == 2);

  /* Counter with a stale marker and a -0: escapes, still int. */
  v[100] = from_bits(TSDB_STALE_NAN_BITS);
  v[N - 1] = from_bits(TSDB_STALE_NAN_BITS);
  v[0] = -0.0;
  f = sealed_roundtrip(ts, v, N, 3);
  assert_true((f & 0x0f) == 1 || (f & 0x0f) == 2);
  f = sealed_roundtrip(ts, v, N, 0);
  assert_true((f & 0x8f) == 1 || (f & 0x8f) == 2); /* no zstd at level 0 */

  /* Constant-rate counter: delta-of-delta wins. */
  for (size_t i = 0; i < N; i++) v[i] = 1000.0 + 250.0 * (double)i;
  assert_int_equal(sealed_roundtrip(ts, v, N, 0) & 0x0f, 2);

  /* Decimals with 2, 6 and 9 digits. */
  for (size_t i = 0; i < N; i++) v[i] = (double)(int64_t)(rnd() % 100000 - 50000) / 100.0;
  assert_int_not_equal(sealed_roundtrip(ts, v, N, 3) & 0x0f, 0);
  for (size_t i = 0; i < N; i++) v[i] = (double)(int64_t)(rnd() % 100000000) / 1e6;
  assert_int_not_equal(sealed_roundtrip(ts, v, N, 3) & 0x0f, 0);
  for (size_t i = 0; i < N; i++) v[i] = (double)(int64_t)(rnd() % 1000000000) / 1e9;
  assert_int_not_equal(sealed_roundtrip(ts, v, N, 3) & 0x0f, 0);

  /* Random doubles: XOR. */
  for (size_t i = 0; i < N; i++) v[i] = rnd_unit() * 1000;
  assert_int_equal(sealed_roundtrip(ts, v, N, 3) & 0x0f, 0);

  /* Mostly NaN/Inf: XOR. */
  for (size_t i = 0; i < N; i++) v[i] = (i % 4) ? from_bits(edge_bits[i % 9]) : 1;
  assert_int_equal(sealed_roundtrip(ts, v, N, 3) & 0x0f, 0);

  /* Integers at the edge of int64 and beyond, mixed with tiny decimals. */
  static const double big[] = {9.0e18, -9.0e18, 8.9e18, -8.99e18, 4503599627370497.0,
                               9007199254740993.0, 1e-9, 1.5e-9, 3.14159265,
                               0.1, 0.2, 0.3, 1e300, -1e-300, 123456789.123456789};
  for (size_t i = 0; i < N; i++)
    v[i] = (i % 3) ? (double)i : big[(i / 3) % (sizeof big / sizeof big[0])];
  sealed_roundtrip(ts, v, N, 3);
  sealed_roundtrip(ts, v, N, 0);
}

static void test_sealed_edges(void **state) {
  (void)state;
  /* Each edge value inside an integer series and next to decimals. */
  enum { N = 64 };
  int64_t ts[N];
  double v[N];
  for (size_t e = 0; e < N_EDGE; e++) {
    for (size_t i = 0; i < N; i++) {
      ts[i] = -5000 + (int64_t)i * 997 + (int64_t)(i * i % 13);
      v[i] = (i % 2) ? (double)i : (double)i / 8.0;
    }
    v[e % N] = from_bits(edge_bits[e]);
    v[N - 1 - e % N] = from_bits(edge_bits[e]);
    sealed_roundtrip(ts, v, N, 3);
    sealed_roundtrip(ts, v, N, 0);
  }
  /* Timestamps spanning the whole int64 range. */
  int64_t ts2[4] = {INT64_MIN, -1, 0, INT64_MAX};
  double v2[4] = {0.5, 1.5, -2.25, 1e9};
  sealed_roundtrip(ts2, v2, 4, 3);
  int64_t ts3[2] = {INT64_MIN, INT64_MAX};
  sealed_roundtrip(ts3, v2, 2, 0);
}

/* Short series mixing integers, decimals and edge values: exercises the
 * int codec with a single integer, escapes first/last, n = 2 and 3. */
static void test_sealed_small(void **state) {
  (void)state;
  static const double pool[] = {5, -3, 0.25, 1e-9, 7, 7, 7, 123456.5, 0};
  for (int round = 0; round < 400; round++) {
    size_t n = 1 + (size_t)(rnd() % 6);
    int64_t ts[6];
    double v[6];
    int64_t t = (int64_t)rnd();
    if (t > INT64_MAX / 2) t /= 2;
    for (size_t i = 0; i < n; i++) {
      ts[i] = t;
      t += 1 + (int64_t)(rnd() % 100000);
      v[i] = (rnd() % 3 == 0) ? from_bits(edge_bits[rnd() % N_EDGE])
                              : pool[rnd() % (sizeof pool / sizeof pool[0])];
    }
    sealed_roundtrip(ts, v, n, round % 2 ? 3 : 0);
  }
  int64_t ts[2] = {10, 20};
  double v[2] = {NAN, 0.1}; /* 0.1 has 52 bits of mantissa for XOR */
  assert_int_not_equal(sealed_roundtrip(ts, v, 2, 0) & 0x0f, 0); /* one integer */
  v[0] = 0.1, v[1] = -0.0;
  assert_int_not_equal(sealed_roundtrip(ts, v, 2, 0) & 0x0f, 0);
}

static void test_sealed_invalid_args(void **state) {
  (void)state;
  chunk_sealed_enc_t *e = chunk_sealed_enc_new(3);
  strbuf_t out = STRBUF_INIT;
  int64_t ts[3] = {1, 2, 2};
  double v[3] = {1, 2, 3};
  assert_int_equal(chunk_sealed_encode(e, ts, v, 3, &out), PH_EINVAL);
  ts[2] = 1;
  assert_int_equal(chunk_sealed_encode(e, ts, v, 3, &out), PH_EINVAL);
  assert_int_equal(chunk_sealed_encode(e, ts, v, CHUNK_SEALED_MAX_SAMPLES + 1, &out),
                   PH_EINVAL);
  assert_int_equal(out.len, 0);
  ts[2] = 3;
  assert_int_equal(chunk_sealed_encode(e, ts, v, 3, &out), 0);
  int64_t dts[2];
  double dv[2];
  size_t n;
  char err[128];
  assert_int_equal(chunk_sealed_decode((uint8_t *)out.data, out.len, dts, dv, 2, &n, err,
                                       sizeof err),
                   PH_EINVAL);
  strbuf_free(&out);
  chunk_sealed_enc_free(e);
  chunk_sealed_enc_free(NULL);
}

/* Every truncation of a valid encoding is PH_ECORRUPT; byte flips give
 * PH_ECORRUPT or some decoding, never an out-of-bounds read. */
static unsigned corrupt_one(const int64_t *ts, const double *v, size_t n, int level,
                            int flips_rounds) {
  chunk_sealed_enc_t *e = chunk_sealed_enc_new(level);
  strbuf_t out = STRBUF_INIT;
  assert_int_equal(chunk_sealed_encode(e, ts, v, n, &out), 0);
  const uint8_t *b = (const uint8_t *)out.data;
  size_t len = out.len;
  int64_t *dts = malloc(n * sizeof *dts);
  double *dv = malloc(n * sizeof *dv);
  char err[160];
  size_t got;
  for (size_t cut = 0; cut < len; cut++) {
    uint8_t *copy = dup_bytes(b, cut);
    int rc = chunk_sealed_decode(copy, cut, dts, dv, n, &got, err, sizeof err);
    if (rc != PH_ECORRUPT) fail_msg("cut %zu of %zu: rc %d", cut, len, rc);
    free(copy);
  }
  for (int round = 0; round < flips_rounds; round++) {
    uint8_t *copy = dup_bytes(b, len);
    int flips = 1 + (int)(rnd() % 3);
    for (int f = 0; f < flips; f++) {
      size_t at = rnd() % len;
      if (rnd() % 2) copy[at] ^= (uint8_t)(1u << (rnd() % 8));
      else copy[at] = (uint8_t)rnd();
    }
    int rc = chunk_sealed_decode(copy, len, dts, dv, n, &got, err, sizeof err);
    assert_true(rc == 0 || rc == PH_ECORRUPT || rc == PH_EINVAL);
    if (rc == 0) assert_true(got <= n);
    free(copy);
  }
  unsigned flags = b[0];
  free(dts);
  free(dv);
  strbuf_free(&out);
  chunk_sealed_enc_free(e);
  return flags;
}

static void test_sealed_corrupt(void **state) {
  (void)state;
  enum { N = 300 };
  int64_t ts[N];
  double v[N];
  int64_t t = 1700000000000;
  for (size_t i = 0; i < N; i++) ts[i] = t += 15000 + (int64_t)(rnd() % 21) - 10;
  /* int codec with escapes */
  double acc = 0;
  for (size_t i = 0; i < N; i++) v[i] = acc += (double)(rnd() % 100) / 4;
  v[7] = from_bits(TSDB_STALE_NAN_BITS);
  v[N - 1] = -0.0;
  /* Flags seen: the cases cover packed timestamps, both codec kinds, zstd. */
  unsigned f = corrupt_one(ts, v, N, 0, 1500);
  assert_true((f & 0x10) && (f & 0x0f) != 0 && !(f & 0x80));
  corrupt_one(ts, v, N, 3, 1500);
  /* XOR codec */
  for (size_t i = 0; i < N; i++) v[i] = rnd_unit();
  f = corrupt_one(ts, v, N, 0, 1500);
  assert_int_equal(f & 0x0f, 0);
  corrupt_one(ts, v, N, 3, 500);
  /* Regular interval, periodic values: a compressed encoding. */
  for (size_t i = 0; i < N; i++) ts[i] = (int64_t)i * 15000, v[i] = (double)(i * i % 7);
  f = corrupt_one(ts, v, N, 9, 1500);
  assert_true(f & 0x80);
  corrupt_one(ts, v, 1, 0, 200);

  /* Garbage input of every small length. */
  int64_t dts[64];
  double dv[64];
  size_t got;
  for (int round = 0; round < 3000; round++) {
    size_t len = rnd() % 48;
    uint8_t *g = malloc(len ? len : 1);
    for (size_t i = 0; i < len; i++) g[i] = (uint8_t)rnd();
    if (len && round % 2) g[0] &= 0x8f; /* a plausible flags byte */
    int rc = chunk_sealed_decode(g, len, dts, dv, 64, &got, NULL, 0);
    assert_true(rc == 0 || rc == PH_ECORRUPT || rc == PH_EINVAL);
    free(g);
  }
  /* Specific malformed headers. */
  static const uint8_t bad_flags[] = {0x10, 0x05};
  assert_int_equal(chunk_sealed_decode(bad_flags, 2, dts, dv, 64, &got, NULL, 0), PH_ECORRUPT);
  static const uint8_t zero_junk[] = {0x00, 0x00, 0x00};
  assert_int_equal(chunk_sealed_decode(zero_junk, 3, dts, dv, 64, &got, NULL, 0), PH_ECORRUPT);
  static const uint8_t zero_zstd[] = {0x80, 0x00};
  assert_int_equal(chunk_sealed_decode(zero_zstd, 2, dts, dv, 64, &got, NULL, 0), PH_ECORRUPT);
  static const uint8_t huge_n[] = {0x00, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00};
  assert_int_equal(chunk_sealed_decode(huge_n, 7, dts, dv, 64, &got, NULL, 0), PH_ECORRUPT);
  static const uint8_t empty[] = {0x00, 0x00};
  assert_int_equal(chunk_sealed_decode(empty, 2, dts, dv, 64, &got, NULL, 0), 0);
  assert_int_equal(got, 0);
}

/* --- sealed columns (block format 2) ---------------------------------------- */

/* Encodes the two columns, decodes each from an exact-size copy, compares;
 * returns the value column's first two bytes (codec, int section byte). */
static unsigned cols_roundtrip(const int64_t *ts, const double *v, size_t n, int level) {
  chunk_sealed_enc_t *e = chunk_sealed_enc_new(level);
  strbuf_t tc = STRBUF_INIT, vc = STRBUF_INIT;
  strbuf_append(&vc, "y", 1); /* the encoder appends */
  assert_int_equal(chunk_sealed_encode_ts(e, ts, n, &tc), 0);
  assert_int_equal(chunk_sealed_encode_values(e, v, n, &vc), 0);
  uint8_t *tcopy = dup_bytes(tc.data, tc.len);
  uint8_t *vcopy = dup_bytes(vc.data + 1, vc.len - 1);
  size_t vlen = vc.len - 1;
  int64_t *dts = malloc((n ? n : 1) * sizeof *dts);
  double *dv = malloc((n ? n : 1) * sizeof *dv);
  char err[128] = "";
  size_t got = 999;
  int rc = chunk_sealed_decode_ts(tcopy, tc.len, dts, n, &got, err, sizeof err);
  if (rc) fprintf(stderr, "decode ts: %s\n", err);
  assert_int_equal(rc, 0);
  assert_int_equal(got, n);
  rc = chunk_sealed_decode_values(vcopy, vlen, dv, n, err, sizeof err);
  if (rc) fprintf(stderr, "decode values: %s\n", err);
  assert_int_equal(rc, 0);
  for (size_t i = 0; i < n; i++) {
    assert_true(dts[i] == ts[i]);
    if (bits(dv[i]) != bits(v[i]))
      fail_msg("value %zu: %016llx != %016llx", i, (unsigned long long)bits(dv[i]),
               (unsigned long long)bits(v[i]));
  }
  unsigned head = vcopy[0] | (vlen > 1 ? (unsigned)vcopy[1] << 8 : 0);
  if (n > 0) { /* one timestamp too many for the room given */
    rc = chunk_sealed_decode_ts(tcopy, tc.len, dts, n - 1, &got, NULL, 0);
    assert_int_equal(rc, PH_EINVAL);
  }
  free(dts);
  free(dv);
  free(tcopy);
  free(vcopy);
  strbuf_free(&tc);
  strbuf_free(&vc);
  chunk_sealed_enc_free(e);
  return head;
}

static void test_columns_roundtrip(void **state) {
  (void)state;
  enum { N = 500 };
  int64_t ts[N];
  double v[N] = {0};
  for (size_t i = 0; i < N; i++) ts[i] = 1700000000000 + (int64_t)i * 15000 + (int64_t)(rnd() % 4);
  cols_roundtrip(ts, v, 0, 3);
  for (int level = 0; level <= 3; level += 3) {
    /* m * 10^-2: the multiplying formula */
    for (size_t i = 0; i < N; i++) v[i] = (double)(i * 37 + 1000000) * 0.01;
    unsigned h = cols_roundtrip(ts, v, N, level);
    assert_true((h & 0xff) == 1 || (h & 0xff) == 2);
    assert_true(h & 0x2000); /* INT_MUL */
    /* multiples of 4096: a common divisor */
    for (size_t i = 0; i < N; i++) v[i] = 4096.0 * (double)(rnd() % 100000);
    h = cols_roundtrip(ts, v, N, level);
    assert_true((h & 0xff) == 1 || (h & 0xff) == 2);
    assert_true(h & 0x4000); /* INT_GCD */
    /* m / 10^3 with an escaped edge value */
    for (size_t i = 0; i < N; i++) v[i] = (double)(rnd() % 100000) / 1000.0;
    v[3] = from_bits(TSDB_STALE_NAN_BITS);
    h = cols_roundtrip(ts, v, N, level);
    assert_true((h & 0xff) == 1 || (h & 0xff) == 2);
    /* full precision noise: byte planes (or XOR without zstd) */
    for (size_t i = 0; i < N; i++) v[i] = 1e-4 * rnd_unit() * (rnd() % 4 == 0 ? 0 : 1);
    h = cols_roundtrip(ts, v, N, level);
    if (level > 0) assert_true((h & 0xff) == 3 || (h & 0xff) == 4);
    /* every edge value, among noise and among integers */
    for (size_t k = 0; k < N_EDGE; k++) {
      for (size_t i = 0; i < N; i++) v[i] = k % 2 ? rnd_unit() : (double)(i % 7);
      v[k] = v[N - 1 - k] = from_bits(edge_bits[k]);
      cols_roundtrip(ts, v, N, level);
      cols_roundtrip(ts, v, 1 + k % 3, level);
    }
    /* all edge values in a row, in the byte planes */
    for (size_t i = 0; i < N; i++) v[i] = from_bits(edge_bits[i % N_EDGE]);
    cols_roundtrip(ts, v, N, level);
  }
  /* timestamps over the whole int64 range, and short series */
  int64_t ts2[4] = {INT64_MIN, -1, 0, INT64_MAX};
  double v2[4] = {0.5, 1.5, -2.25, 1e9};
  for (size_t n = 1; n <= 4; n++) cols_roundtrip(ts2, v2, n, 3);
  int64_t ts3[2] = {INT64_MIN, INT64_MAX};
  cols_roundtrip(ts3, v2, 2, 0);
  /* counters near the int64 limits: differences wrap */
  for (size_t i = 0; i < N; i++) v[i] = i % 2 ? 9.0e18 : -9.0e18 + 4096.0 * (double)i;
  cols_roundtrip(ts, v, N, 3);
}

static void test_columns_invalid_args(void **state) {
  (void)state;
  chunk_sealed_enc_t *e = chunk_sealed_enc_new(3);
  strbuf_t out = STRBUF_INIT;
  int64_t ts[3] = {1, 2, 2};
  double v[3] = {1, 2, 3};
  assert_int_equal(chunk_sealed_encode_ts(e, ts, 3, &out), PH_EINVAL);
  assert_int_equal(chunk_sealed_encode_ts(e, ts, CHUNK_SEALED_MAX_SAMPLES + 1, &out),
                   PH_EINVAL);
  assert_int_equal(chunk_sealed_encode_values(e, v, CHUNK_SEALED_MAX_SAMPLES + 1, &out),
                   PH_EINVAL);
  assert_int_equal(out.len, 0);
  strbuf_free(&out);
  chunk_sealed_enc_free(e);
}

/* Truncations of a column are PH_ECORRUPT; byte flips give PH_ECORRUPT or
 * some decoding, never an out-of-bounds read. */
static void cols_corrupt(const int64_t *ts, const double *v, size_t n, int level, int rounds) {
  chunk_sealed_enc_t *e = chunk_sealed_enc_new(level);
  strbuf_t tc = STRBUF_INIT, vc = STRBUF_INIT;
  assert_int_equal(chunk_sealed_encode_ts(e, ts, n, &tc), 0);
  assert_int_equal(chunk_sealed_encode_values(e, v, n, &vc), 0);
  int64_t *dts = malloc(n * sizeof *dts);
  double *dv = malloc(n * sizeof *dv);
  char err[160];
  size_t got;
  for (int col = 0; col < 2; col++) {
    const strbuf_t *b = col ? &vc : &tc;
    for (size_t cut = 0; cut < b->len; cut++) {
      uint8_t *copy = dup_bytes(b->data, cut);
      int rc = col ? chunk_sealed_decode_values(copy, cut, dv, n, err, sizeof err)
                   : chunk_sealed_decode_ts(copy, cut, dts, n, &got, err, sizeof err);
      if (rc != PH_ECORRUPT) fail_msg("column %d cut %zu of %zu: rc %d", col, cut, b->len, rc);
      free(copy);
    }
    /* one byte too many */
    uint8_t *longer = malloc(b->len + 1);
    memcpy(longer, b->data, b->len);
    longer[b->len] = 0;
    int rc = col ? chunk_sealed_decode_values(longer, b->len + 1, dv, n, err, sizeof err)
                 : chunk_sealed_decode_ts(longer, b->len + 1, dts, n, &got, err, sizeof err);
    assert_int_equal(rc, PH_ECORRUPT);
    free(longer);
    for (int round = 0; round < rounds; round++) {
      uint8_t *copy = dup_bytes(b->data, b->len);
      int flips = 1 + (int)(rnd() % 3);
      for (int f = 0; f < flips; f++) {
        size_t at = rnd() % b->len;
        if (rnd() % 2) copy[at] ^= (uint8_t)(1u << (rnd() % 8));
        else copy[at] = (uint8_t)rnd();
      }
      rc = col ? chunk_sealed_decode_values(copy, b->len, dv, n, err, sizeof err)
               : chunk_sealed_decode_ts(copy, b->len, dts, n, &got, err, sizeof err);
      assert_true(rc == 0 || rc == PH_ECORRUPT || rc == PH_EINVAL);
      if (rc == 0 && col == 0) assert_true(got <= n);
      free(copy);
    }
  }
  free(dts);
  free(dv);
  strbuf_free(&tc);
  strbuf_free(&vc);
  chunk_sealed_enc_free(e);
}

static void test_columns_corrupt(void **state) {
  (void)state;
  enum { N = 300 };
  int64_t ts[N];
  double v[N];
  int64_t t = 1700000000000;
  for (size_t i = 0; i < N; i++) ts[i] = t += 15000 + (int64_t)(rnd() % 21) - 10;
  for (size_t i = 0; i < N; i++) v[i] = (double)(i * 7 + rnd() % 5) * 0.01;
  v[9] = -0.0;
  cols_corrupt(ts, v, N, 3, 800);
  for (size_t i = 0; i < N; i++) v[i] = 4096.0 * (double)(rnd() % 1000);
  cols_corrupt(ts, v, N, 3, 800);
  for (size_t i = 0; i < N; i++) v[i] = rnd_unit();
  cols_corrupt(ts, v, N, 0, 800); /* XOR */
  cols_corrupt(ts, v, N, 3, 800); /* byte planes */
  cols_corrupt(ts, v, 1, 3, 100);

  /* Garbage of every small length, both column kinds. */
  int64_t dts[64];
  double dv[64];
  size_t got;
  for (int round = 0; round < 3000; round++) {
    size_t len = rnd() % 48;
    uint8_t *g = malloc(len ? len : 1);
    for (size_t i = 0; i < len; i++) g[i] = (uint8_t)rnd();
    if (len && round % 2) g[0] &= 0x07; /* a plausible codec byte */
    int rc = chunk_sealed_decode_values(g, len, dv, 1 + (size_t)(rnd() % 64), NULL, 0);
    assert_true(rc == 0 || rc == PH_ECORRUPT);
    rc = chunk_sealed_decode_ts(g, len, dts, 64, &got, NULL, 0);
    assert_true(rc == 0 || rc == PH_ECORRUPT || rc == PH_EINVAL);
    free(g);
  }
  /* Specific malformed columns. */
  static const uint8_t unknown_codec[] = {0x07, 0x00};
  assert_int_equal(chunk_sealed_decode_values(unknown_codec, 2, dv, 1, NULL, 0), PH_ECORRUPT);
  assert_int_equal(chunk_sealed_decode_values(unknown_codec, 0, dv, 1, NULL, 0), PH_ECORRUPT);
  /* planes: mask says 1 plane, 2 values, only 1 byte */
  static const uint8_t short_plane[] = {0x03, 0x01, 0xaa};
  assert_int_equal(chunk_sealed_decode_values(short_plane, 3, dv, 2, NULL, 0), PH_ECORRUPT);
  static const uint8_t ok_delta[] = {0x03, 0x01, 0x3f, 0x40};
  assert_int_equal(chunk_sealed_decode_values(ok_delta, 4, dv, 2, NULL, 0), 0);
  assert_true(bits(dv[0]) == 0x3f00000000000000u && bits(dv[1]) == 0x5f00000000000000u);
  /* sparse planes: planes 0 and 2, only word 1 has a low part */
  static const uint8_t ok_sparse[] = {0x04, 0x05, 0x02, 0x3f, 0x40, 0x11};
  assert_int_equal(chunk_sealed_decode_values(ok_sparse, 6, dv, 2, NULL, 0), 0);
  assert_true(bits(dv[0]) == 0x3f00000000000000u && bits(dv[1]) == 0x4000110000000000u);
  static const uint8_t sparse_pad[] = {0x04, 0x05, 0x06, 0x3f, 0x40, 0x11};
  assert_int_equal(chunk_sealed_decode_values(sparse_pad, 6, dv, 2, NULL, 0), PH_ECORRUPT);
  static const uint8_t sparse_short[] = {0x04, 0x05, 0x03, 0x3f, 0x40, 0x11};
  assert_int_equal(chunk_sealed_decode_values(sparse_short, 6, dv, 2, NULL, 0), PH_ECORRUPT);
  static const uint8_t sparse_no_bitmap[] = {0x04, 0x01};
  assert_int_equal(chunk_sealed_decode_values(sparse_no_bitmap, 2, dv, 9, NULL, 0),
                   PH_ECORRUPT);
  /* int: common divisor flag with G = 0 and G = 1 */
  static const uint8_t gcd0[] = {0x01, 0x40, 0x00, 0x00, 0x02, 0x02};
  assert_int_equal(chunk_sealed_decode_values(gcd0, 6, dv, 2, NULL, 0), PH_ECORRUPT);
  static const uint8_t gcd1[] = {0x01, 0x40, 0x01, 0x00, 0x02, 0x02};
  assert_int_equal(chunk_sealed_decode_values(gcd1, 6, dv, 2, NULL, 0), PH_ECORRUPT);
  static const uint8_t gcd3[] = {0x01, 0x40, 0x03, 0x00, 0x02, 0x02};
  assert_int_equal(chunk_sealed_decode_values(gcd3, 6, dv, 2, NULL, 0), 0);
  assert_true(dv[0] == 1.0 && dv[1] == 4.0);
  /* the v2-only int flags are invalid in a version-1 encoding */
  static const uint8_t v1_gcd[] = {0x01, 0x02, 0x00, 0x00, 0x02, 0x40, 0x03, 0x00, 0x02, 0x02};
  assert_int_equal(chunk_sealed_decode(v1_gcd, sizeof v1_gcd, dts, dv, 64, &got, NULL, 0),
                   PH_ECORRUPT);
  /* empty columns */
  static const uint8_t empty_v[] = {0x00};
  assert_int_equal(chunk_sealed_decode_values(empty_v, 1, dv, 0, NULL, 0), 0);
  static const uint8_t empty_v_junk[] = {0x00, 0x00};
  assert_int_equal(chunk_sealed_decode_values(empty_v_junk, 2, dv, 0, NULL, 0), PH_ECORRUPT);
  static const uint8_t empty_t[] = {0x00};
  assert_int_equal(chunk_sealed_decode_ts(empty_t, 1, dts, 64, &got, NULL, 0), 0);
  assert_int_equal(got, 0);
  static const uint8_t bad_ts_codec[] = {0x02, 0x02, 0x00, 0x02};
  assert_int_equal(chunk_sealed_decode_ts(bad_ts_codec, 4, dts, 64, &got, NULL, 0),
                   PH_ECORRUPT);
  static const uint8_t ts_not_increasing[] = {0x02, 0x00, 0x02, 0x00};
  assert_int_equal(chunk_sealed_decode_ts(ts_not_increasing, 4, dts, 64, &got, NULL, 0),
                   PH_ECORRUPT);
}


/* --- sizes ------------------------------------------------------------------ */

typedef struct {
  const char *name;
  int64_t *ts;
  double *v;
} series_t;

static double xor_bytes_per_sample(const series_t *s, size_t n) {
  size_t total = 0;
  chunk_xor_t c;
  chunk_xor_init(&c);
  for (size_t i = 0; i < n; i++) {
    if (chunk_xor_num_samples(&c) == 120) {
      chunk_xor_compact(&c);
      total += chunk_xor_len(&c);
      chunk_xor_free(&c);
    }
    assert_int_equal(chunk_xor_append(&c, s->ts[i], s->v[i]), 0);
  }
  total += chunk_xor_len(&c);
  chunk_xor_free(&c);
  return (double)total / (double)n;
}

static double sealed_bytes_per_sample(const series_t *s, size_t n, int level,
                                      unsigned *flags) {
  chunk_sealed_enc_t *e = chunk_sealed_enc_new(level);
  strbuf_t out = STRBUF_INIT;
  assert_int_equal(chunk_sealed_encode(e, s->ts, s->v, n, &out), 0);
  *flags = (uint8_t)out.data[0];
  double r = (double)out.len / (double)n;
  strbuf_free(&out);
  chunk_sealed_enc_free(e);
  return r;
}

static void test_bench_sizes(void **state) {
  (void)state;
  enum { N = 5760 }; /* one day at 15 s */
  series_t s[4] = {{"counter (int incr, 15s +-jitter)", NULL, NULL},
                   {"gauge 2 decimals (15s +-jitter)", NULL, NULL},
                   {"random double gauge (15s +-jitter)", NULL, NULL},
                   {"counter, exact 15s grid", NULL, NULL}};
  for (int k = 0; k < 4; k++) {
    s[k].ts = malloc(N * sizeof(int64_t));
    s[k].v = malloc(N * sizeof(double));
  }
  double ctr = 123456789, g = 4523, ctr2 = 0;
  for (size_t i = 0; i < N; i++) {
    int64_t grid = 1700000000000 + (int64_t)i * 15000;
    int64_t jit = grid + (int64_t)(rnd() % 41) - 20; /* +-20 ms */
    for (int k = 0; k < 3; k++) s[k].ts[i] = jit;
    s[3].ts[i] = grid;
    ctr += (double)(rnd() % 20000); /* bytes-like increments */
    s[0].v[i] = ctr;
    g += (double)((int64_t)(rnd() % 41) - 20); /* temperature-like, 0.01 steps */
    s[1].v[i] = g / 100.0;
    s[2].v[i] = rnd_unit() * 8.0;
    ctr2 += (double)(rnd() % 3 == 0 ? rnd() % 10 : 0); /* sparse small counter */
    s[3].v[i] = ctr2;
  }
  static const size_t sizes[] = {120, 480, N};
  printf("bytes/sample  (XOR: 120-sample head chunks; sealed: one encoding per range)\n");
  for (int k = 0; k < 4; k++) {
    printf("  %-36s XOR %5.2f\n", s[k].name, xor_bytes_per_sample(&s[k], N));
    for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
      unsigned f0, f3, f9;
      double r0 = sealed_bytes_per_sample(&s[k], sizes[z], 0, &f0);
      double r3 = sealed_bytes_per_sample(&s[k], sizes[z], 3, &f3);
      double r9 = sealed_bytes_per_sample(&s[k], sizes[z], 9, &f9);
      printf("    sealed n=%-5zu raw %5.2f  zstd3 %5.2f  zstd9 %5.2f  (flags %02x)\n",
             sizes[z], r0, r3, r9, f3);
      assert_true(r3 <= r0 && r9 <= r0);
      /* Size regressions (deterministic data): bit-packed integers beat
       * byte varints (3 bytes per increment) for the counter, and sealed
       * beats the head chunk for each series. */
      if (k == 0 && sizes[z] == 480) assert_true(r0 < 3.2);
      if (k < 3 && sizes[z] >= 480) assert_true(r3 < xor_bytes_per_sample(&s[k], N));
    }
    free(s[k].ts);
    free(s[k].v);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_xor_edge_values),
      cmocka_unit_test(test_xor_extreme_timestamps),
      cmocka_unit_test(test_xor_random_long),
      cmocka_unit_test(test_xor_empty_and_errors),
      cmocka_unit_test(test_xor_full),
      cmocka_unit_test(test_xor_seek),
      cmocka_unit_test(test_xor_snapshot_while_appending),
      cmocka_unit_test(test_xor_compact_and_load),
      cmocka_unit_test(test_xor_corrupt),
      cmocka_unit_test(test_sealed_empty_and_one),
      cmocka_unit_test(test_sealed_codec_choice),
      cmocka_unit_test(test_sealed_edges),
      cmocka_unit_test(test_sealed_small),
      cmocka_unit_test(test_sealed_invalid_args),
      cmocka_unit_test(test_sealed_corrupt),
      cmocka_unit_test(test_columns_roundtrip),
      cmocka_unit_test(test_columns_invalid_args),
      cmocka_unit_test(test_columns_corrupt),
      cmocka_unit_test(test_bench_sizes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
