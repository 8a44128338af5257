/*
 * test_remote.c - unit tests for collector/remote (remote write receiver,
 * remote read, Prometheus XOR chunks) and the metadata store.
 *
 * Requests are built with the protobuf-c code generated from proto/,
 * snappy-compressed, and run through remote_write / remote_read against a
 * real TSDB in a temporary directory; what was stored is read back through
 * the querier.  Malformed inputs (bad snappy, truncated or lying protobuf,
 * invalid labels, huge lengths) must give 400s, not crashes, and store
 * nothing.  The XOR chunk codec is checked against bytes worked out by hand
 * from Prometheus's format and by round trips over awkward series.
 * The wire decoder is also fed hand-made messages (pb_* below) protobuf-c
 * would never write: unknown fields, split labels, truncated varints,
 * lying lengths, wrong wire types, huge counts.  The series cache is
 * checked for hits, misses, stale references, its bound, keys of other
 * shapes, a foreign db and concurrent writers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "remote.h"
#include "remote_int.h"
#include "remote_metadata.h"

#include "labels.h"
#include "ph_error.h"
#include "strbuf.h"
#include "tsdb/tsdb.h"

#include "proto/remote.pb-c.h"
#include "proto/write_v2.pb-c.h"

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define NOW 1700000000000LL /* the tests' "now", ms */

/* ---- fixtures ------------------------------------------------------------- */

typedef struct fx {
  char dir[64];
  tsdb_t *db;
  metadata_store_t *md;
} fx_t;

static int setup(void **state) {
  fx_t *f = calloc(1, sizeof(*f));
  strcpy(f->dir, "/tmp/pharos-remote-test.XXXXXX");
  if (mkdtemp(f->dir) == NULL) return -1;
  tsdb_options_t o;
  tsdb_options_default(&o);
  o.path = f->dir;
  o.no_background = true;
  char err[256];
  if (tsdb_open(&o, &f->db, err, sizeof err) != 0) {
    fprintf(stderr, "tsdb_open: %s\n", err);
    return -1;
  }
  f->md = metadata_store_new(0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx_t *f = *state;
  tsdb_close(f->db);
  metadata_store_free(f->md);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
  if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", f->dir);
  free(f);
  return 0;
}

/* Snappy-compresses msg into a malloc'd buffer. */
static uint8_t *snappy_of(const uint8_t *msg, size_t len, size_t *outlen) {
  size_t max = snappy_max_compressed_length(len);
  uint8_t *out = malloc(max);
  *outlen = max;
  assert_int_equal(snappy_compress((const char *)msg, len, (char *)out, outlen),
                   SNAPPY_OK);
  return out;
}

static uint8_t *pack_v1(const Prometheus__WriteRequest *req, size_t *outlen) {
  size_t n = prometheus__write_request__get_packed_size(req);
  uint8_t *buf = malloc(n + 1);
  prometheus__write_request__pack(req, buf);
  uint8_t *z = snappy_of(buf, n, outlen);
  free(buf);
  return z;
}

static uint8_t *pack_v2(const Io__Prometheus__Write__V2__Request *req,
                        size_t *outlen) {
  size_t n = io__prometheus__write__v2__request__get_packed_size(req);
  uint8_t *buf = malloc(n + 1);
  io__prometheus__write__v2__request__pack(req, buf);
  uint8_t *z = snappy_of(buf, n, outlen);
  free(buf);
  return z;
}

/* A v1 series under construction: up to 8 labels, 64 samples. */
typedef struct v1series {
  Prometheus__TimeSeries ts;
  Prometheus__Label lab[8];
  Prometheus__Label *labp[8];
  Prometheus__Sample smp[64];
  Prometheus__Sample *smpp[64];
  Prometheus__Histogram hist;
  Prometheus__Histogram *histp;
} v1series_t;

/* labels as "name", "value", ... NULL; samples added with v1_sample. */
static void v1_series(v1series_t *s, ...) {
  memset(s, 0, sizeof *s);
  prometheus__time_series__init(&s->ts);
  va_list ap;
  va_start(ap, s);
  const char *k;
  size_t n = 0;
  while ((k = va_arg(ap, const char *)) != NULL && n < 8) {
    prometheus__label__init(&s->lab[n]);
    s->lab[n].name = (char *)k;
    s->lab[n].value = va_arg(ap, char *);
    s->labp[n] = &s->lab[n];
    n++;
  }
  va_end(ap);
  s->ts.n_labels = n;
  s->ts.labels = s->labp;
  s->ts.samples = s->smpp;
}

static void v1_sample(v1series_t *s, int64_t t, double v) {
  size_t i = s->ts.n_samples++;
  assert_true(i < 64);
  prometheus__sample__init(&s->smp[i]);
  s->smp[i].timestamp = t;
  s->smp[i].value = v;
  s->smpp[i] = &s->smp[i];
}

static void v1_histogram(v1series_t *s, int64_t t) {
  prometheus__histogram__init(&s->hist);
  s->hist.timestamp = t;
  s->hist.count_case = PROMETHEUS__HISTOGRAM__COUNT_COUNT_INT;
  s->hist.count_int = 3;
  s->histp = &s->hist;
  s->ts.n_histograms = 1;
  s->ts.histograms = &s->histp;
}

/* Runs a v1 write of the given series (and metadata); returns the status. */
static int do_v1(fx_t *f, v1series_t **series, size_t n,
                 Prometheus__MetricMetadata **md, size_t nmd,
                 remote_write_result_t *res) {
  Prometheus__WriteRequest req = PROMETHEUS__WRITE_REQUEST__INIT;
  Prometheus__TimeSeries *tsp[16];
  for (size_t i = 0; i < n; i++) tsp[i] = &series[i]->ts;
  req.n_timeseries = n;
  req.timeseries = tsp;
  req.n_metadata = nmd;
  req.metadata = md;
  size_t len;
  uint8_t *body = pack_v1(&req, &len);
  remote_write_opts_t o;
  remote_write_opts_default(&o);
  o.now_ms = NOW;
  remote_write(f->db, f->md, REMOTE_WRITE_V1, body, len, &o, res);
  free(body);
  return res->status;
}

/* Samples of the one series matching name=value, in [mint,maxt]; returns
 * the count (-1 if not exactly one series; 0 if none). */
static long read_series(tsdb_t *db, const char *name, const char *value,
                        int64_t *ts, double *vs, size_t cap) {
  tsdb_querier_t *q;
  assert_int_equal(tsdb_querier_open(db, INT64_MIN / 2, INT64_MAX / 2, &q), 0);
  tsdb_matcher_t m = {TSDB_MATCH_EQ, name, value};
  tsdb_series_set_t *set;
  char err[256];
  assert_int_equal(tsdb_select(q, &m, 1, &set, err, sizeof err), 0);
  long n = -1;
  if (tsdb_series_set_count(set) == 0) n = 0;
  if (tsdb_series_set_count(set) == 1 && tsdb_series_set_next(set)) {
    tsdb_iterator_t *it = tsdb_series_set_iterator(set);
    n = 0;
    while (tsdb_iterator_next(it)) {
      if ((size_t)n < cap) tsdb_iterator_at(it, &ts[n], &vs[n]);
      n++;
    }
  }
  tsdb_series_set_free(set);
  tsdb_querier_close(q);
  return n;
}

static size_t count_series(tsdb_t *db) {
  tsdb_querier_t *q;
  assert_int_equal(tsdb_querier_open(db, INT64_MIN / 2, INT64_MAX / 2, &q), 0);
  tsdb_matcher_t m = {TSDB_MATCH_RE, "__name__", ".+"};
  tsdb_series_set_t *set;
  char err[256];
  assert_int_equal(tsdb_select(q, &m, 1, &set, err, sizeof err), 0);
  size_t n = tsdb_series_set_count(set);
  tsdb_series_set_free(set);
  tsdb_querier_close(q);
  return n;
}

static bool has(const remote_write_result_t *r, const char *needle) {
  const char *m = strbuf_cstr(&r->message);
  if (strstr(m, needle) != NULL) return true;
  fprintf(stderr, "message lacks \"%s\":\n%s\n", needle, m);
  return false;
}

/* ---- XOR chunks ----------------------------------------------------------- */

static void test_xor_known_bytes(void **state) {
  (void)state;
  /* Worked out by hand from the format:
   *   00 03                   3 samples
   *   d0 0f                   zig-zag varint of t0 = 1000 (2000)
   *   3f f0 00 00 00 00 00 00 1.0
   *   e8 07                   t1 - t0 = 1000
   *   then bits: 0 (same value) | 0 (dod 0) | 1 1 00001 001011 11111111111
   *   (2.0 ^ 1.0 = 0x7ff0..: 1 leading zero, 11 significant bits)
   *   = 0011 0000 1001 0111 1111 1111 11(000000) = 30 97 ff c0 */
  static const uint8_t want[] = {0x00, 0x03, 0xd0, 0x0f, 0x3f, 0xf0, 0x00, 0x00,
                                 0x00, 0x00, 0x00, 0x00, 0xe8, 0x07, 0x30, 0x97,
                                 0xff, 0xc0};
  remote_xor_enc_t e;
  remote_xor_enc_init(&e);
  assert_int_equal(remote_xor_enc_append(&e, 1000, 1.0), 0);
  assert_int_equal(remote_xor_enc_append(&e, 2000, 1.0), 0);
  assert_int_equal(remote_xor_enc_append(&e, 3000, 2.0), 0);
  size_t len;
  const uint8_t *b = remote_xor_enc_bytes(&e, &len);
  assert_int_equal(len, sizeof want);
  assert_memory_equal(b, want, sizeof want);

  remote_xor_dec_t d;
  assert_int_equal(remote_xor_dec_init(&d, want, sizeof want), 0);
  int64_t t;
  double v;
  assert_true(remote_xor_dec_next(&d, &t, &v));
  assert_int_equal(t, 1000);
  assert_true(v == 1.0);
  assert_true(remote_xor_dec_next(&d, &t, &v));
  assert_int_equal(t, 2000);
  assert_true(v == 1.0);
  assert_true(remote_xor_dec_next(&d, &t, &v));
  assert_int_equal(t, 3000);
  assert_true(v == 2.0);
  assert_false(remote_xor_dec_next(&d, &t, &v));
  assert_int_equal(remote_xor_dec_err(&d), 0);

  /* A negative first timestamp and a one-sample chunk: zig-zag(-1) = 1. */
  remote_xor_enc_reset(&e);
  assert_int_equal(remote_xor_enc_append(&e, -1, 0.0), 0);
  b = remote_xor_enc_bytes(&e, &len);
  static const uint8_t want1[] = {0x00, 0x01, 0x01, 0, 0, 0, 0, 0, 0, 0, 0};
  assert_int_equal(len, sizeof want1);
  assert_memory_equal(b, want1, sizeof want1);
  remote_xor_enc_free(&e);
}

static uint64_t bits_of(double v) {
  uint64_t b;
  memcpy(&b, &v, sizeof b);
  return b;
}

static void roundtrip(const int64_t *ts, const double *vs, size_t n) {
  remote_xor_enc_t e;
  remote_xor_enc_init(&e);
  for (size_t i = 0; i < n; i++) assert_int_equal(remote_xor_enc_append(&e, ts[i], vs[i]), 0);
  assert_int_equal(remote_xor_enc_count(&e), n);
  size_t len;
  const uint8_t *b = remote_xor_enc_bytes(&e, &len);
  uint8_t *copy = malloc(len); /* exact size: ASan catches overreads */
  memcpy(copy, b, len);
  remote_xor_dec_t d;
  assert_int_equal(remote_xor_dec_init(&d, copy, len), 0);
  for (size_t i = 0; i < n; i++) {
    int64_t t;
    double v;
    assert_true(remote_xor_dec_next(&d, &t, &v));
    assert_int_equal(t, ts[i]);
    if (bits_of(v) != bits_of(vs[i]))
      fail_msg("sample %zu: got %016llx want %016llx", i,
               (unsigned long long)bits_of(v), (unsigned long long)bits_of(vs[i]));
  }
  int64_t t;
  double v;
  assert_false(remote_xor_dec_next(&d, &t, &v));
  assert_int_equal(remote_xor_dec_err(&d), 0);
  /* every strict prefix (header kept) is corrupt or short, never a crash */
  for (size_t cut = 2; cut < len; cut++) {
    remote_xor_dec_t p;
    assert_int_equal(remote_xor_dec_init(&p, copy, cut), 0);
    size_t got = 0;
    while (remote_xor_dec_next(&p, &t, &v)) got++;
    assert_true(got <= n);
  }
  free(copy);
  remote_xor_enc_free(&e);
}

static void test_xor_roundtrip(void **state) {
  (void)state;
  enum { N = 600 };
  int64_t *ts = malloc(N * sizeof(*ts));
  double *vs = malloc(N * sizeof(*vs));
  unsigned seed = 12345;
  /* regular scrape with jitter, counters, gauges and special values */
  int64_t t = NOW;
  for (size_t i = 0; i < N; i++) {
    seed = seed * 1103515245u + 12345u;
    t += 15000 + (int64_t)(seed % 200) - 100;
    ts[i] = t;
    switch (i % 7) {
    case 0: vs[i] = (double)i; break;
    case 1: vs[i] = (double)(seed % 1000) / 7.0; break;
    case 2: vs[i] = NAN; break;
    case 3: vs[i] = tsdb_stale_nan(); break;
    case 4: vs[i] = (i & 1) ? INFINITY : -INFINITY; break;
    case 5: vs[i] = -0.0; break;
    default: vs[i] = 1e300 * (double)(seed % 3); break;
    }
  }
  roundtrip(ts, vs, 1);
  roundtrip(ts, vs, 2);
  roundtrip(ts, vs, 3);
  roundtrip(ts, vs, 120);
  /* delta-of-deltas in every width class and both signs */
  static const int64_t gaps[] = {1, 1, 8193, 1, 65537, 1, 524289, 1,
                                 (int64_t)1 << 40, 1, 8192, 1, 65536, 1,
                                 524288, 3, 0, 0, 7};
  t = -5000;
  size_t n = 0;
  for (size_t i = 0; i < sizeof gaps / sizeof gaps[0]; i++) {
    t += gaps[i];
    ts[n] = t;
    vs[n] = (double)i * 0.25;
    n++;
  }
  roundtrip(ts, vs, n);
  /* constant value, identical timestamps deltas */
  for (size_t i = 0; i < 50; i++) {
    ts[i] = 1000 * (int64_t)i;
    vs[i] = 42.0;
  }
  roundtrip(ts, vs, 50);
  /* 64 significant bits: values whose xor has no leading/trailing zeros */
  ts[0] = 0;
  vs[0] = 0.0;
  uint64_t allbits = UINT64_C(0x8000000000000001);
  memcpy(&vs[1], &allbits, sizeof allbits);
  ts[1] = 1;
  ts[2] = 2;
  vs[2] = 0.0;
  roundtrip(ts, vs, 3);
  free(ts);
  free(vs);
}

static void test_xor_corrupt(void **state) {
  (void)state;
  remote_xor_dec_t d;
  uint8_t one = 0;
  assert_int_equal(remote_xor_dec_init(&d, &one, 1), PH_ECORRUPT);
  int64_t t;
  double v;
  assert_false(remote_xor_dec_next(&d, &t, &v));
  /* header claims samples the body does not have */
  uint8_t *hdr = malloc(2);
  hdr[0] = 0xff;
  hdr[1] = 0xff;
  assert_int_equal(remote_xor_dec_init(&d, hdr, 2), 0);
  assert_false(remote_xor_dec_next(&d, &t, &v));
  assert_int_equal(remote_xor_dec_err(&d), PH_ECORRUPT);
  free(hdr);
  /* an over-long varint */
  uint8_t *bad = malloc(14);
  memset(bad, 0xff, 14);
  bad[0] = 0;
  bad[1] = 1;
  assert_int_equal(remote_xor_dec_init(&d, bad, 14), 0);
  assert_false(remote_xor_dec_next(&d, &t, &v));
  assert_int_equal(remote_xor_dec_err(&d), PH_ECORRUPT);
  free(bad);
  /* the count limit */
  remote_xor_enc_t e;
  remote_xor_enc_init(&e);
  for (int i = 0; i < 65535; i++) assert_int_equal(remote_xor_enc_append(&e, i, 1.0), 0);
  assert_int_equal(remote_xor_enc_append(&e, 70000, 1.0), PH_ELIMIT);
  remote_xor_enc_free(&e);
}

static void test_crc32c(void **state) {
  (void)state;
  assert_int_equal(remote__crc32c("123456789", 9), 0xe3069283u);
  assert_int_equal(remote__crc32c("", 0), 0);
}

/* ---- content negotiation -------------------------------------------------- */

static void test_content_type(void **state) {
  (void)state;
  struct {
    const char *ct, *ver;
    int rc;
    remote_write_proto_t want;
  } cases[] = {
      {NULL, NULL, 0, REMOTE_WRITE_V1},
      {"", "0.1.0", 0, REMOTE_WRITE_V1},
      {NULL, "2.0.0", 0, REMOTE_WRITE_V2},
      {"application/x-protobuf", "2.0.0", 0, REMOTE_WRITE_V1},
      {"application/x-protobuf", NULL, 0, REMOTE_WRITE_V1},
      {" Application/X-Protobuf ", NULL, 0, REMOTE_WRITE_V1},
      {"application/x-protobuf;proto=prometheus.WriteRequest", NULL, 0,
       REMOTE_WRITE_V1},
      {"application/x-protobuf;proto=io.prometheus.write.v2.Request", "2.0.0", 0,
       REMOTE_WRITE_V2},
      {"application/x-protobuf; charset=x; proto=io.prometheus.write.v2.Request",
       NULL, 0, REMOTE_WRITE_V2},
      {"application/x-protobuf;proto=io.prometheus.write.v3.Request", NULL,
       PH_EINVAL, REMOTE_WRITE_V1},
      {"application/json", NULL, PH_EINVAL, REMOTE_WRITE_V1},
      {"application/x-protobuf;proto", NULL, PH_EINVAL, REMOTE_WRITE_V1},
      {"application/x-protobuf;a=b=c", NULL, PH_EINVAL, REMOTE_WRITE_V1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    remote_write_proto_t p = 0;
    char err[256] = "";
    int rc = remote_write_proto_from_content_type(cases[i].ct, cases[i].ver, &p,
                                                  err, sizeof err);
    if (rc != cases[i].rc) fail_msg("case %zu: rc %d (%s)", i, rc, err);
    if (rc == 0) assert_int_equal(p, cases[i].want);
    else assert_true(err[0] != '\0');
  }
  char err[256];
  remote_write_proto_t p;
  remote_write_proto_from_content_type("text/plain", NULL, &p, err, sizeof err);
  assert_non_null(strstr(err, "expected application/x-protobuf as the first (media) part"));
}

/* ---- remote write 1.0 ----------------------------------------------------- */

static void test_v1_write(void **state) {
  fx_t *f = *state;
  v1series_t a, b;
  v1_series(&a, "job", "node", "__name__", "up", "instance", "h:9100", NULL);
  v1_sample(&a, NOW - 30000, 1);
  v1_sample(&a, NOW - 15000, 0);
  v1_sample(&a, NOW, 1);
  v1_series(&b, "__name__", "temp_celsius", "room", "kitchen", "empty", "", NULL);
  v1_sample(&b, NOW - 1000, 21.5);
  v1_sample(&b, NOW, tsdb_stale_nan());
  Prometheus__MetricMetadata m1 = PROMETHEUS__METRIC_METADATA__INIT;
  m1.type = PROMETHEUS__METRIC_METADATA__METRIC_TYPE__GAUGE;
  m1.metric_family_name = "temp_celsius";
  m1.help = "Room temperature.";
  m1.unit = "celsius";
  Prometheus__MetricMetadata m2 = PROMETHEUS__METRIC_METADATA__INIT;
  m2.metric_family_name = ""; /* ignored */
  Prometheus__MetricMetadata *mds[] = {&m1, &m2};
  v1series_t *ss[] = {&a, &b};
  remote_write_result_t res;
  assert_int_equal(do_v1(f, ss, 2, mds, 2, &res), 204);
  assert_int_equal(res.samples_written, 5);
  assert_int_equal(res.samples_rejected, 0);
  assert_int_equal(res.metadata_received, 1);
  assert_int_equal(res.message.len, 0);
  remote_write_result_free(&res);

  int64_t ts[8];
  double vs[8];
  assert_int_equal(read_series(f->db, "__name__", "up", ts, vs, 8), 3);
  assert_int_equal(ts[0], NOW - 30000);
  assert_true(vs[0] == 1 && vs[1] == 0 && vs[2] == 1);
  assert_int_equal(read_series(f->db, "room", "kitchen", ts, vs, 8), 2);
  assert_true(vs[0] == 21.5);
  assert_true(tsdb_is_stale_nan(vs[1]));
  assert_int_equal(count_series(f->db), 2);

  metadata_entry_t *e;
  size_t n;
  metadata_store_list(f->md, NULL, 0, 0, &e, &n);
  assert_int_equal(n, 1);
  assert_string_equal(e[0].metric, "temp_celsius");
  assert_string_equal(metadata_type_name(e[0].type), "gauge");
  assert_string_equal(e[0].help, "Room temperature.");
  assert_string_equal(e[0].unit, "celsius");
  metadata_entries_free(e, n);

  /* an empty request is fine */
  v1series_t *none[1];
  assert_int_equal(do_v1(f, none, 0, NULL, 0, &res), 204);
  remote_write_result_free(&res);
}

static void test_v1_partial(void **state) {
  fx_t *f = *state;
  /* an earlier batch so that "older" samples are out of order */
  v1series_t a;
  v1_series(&a, "__name__", "reqs_total", "code", "200", NULL);
  v1_sample(&a, NOW - 10000, 5);
  v1series_t *s1[] = {&a};
  remote_write_result_t res;
  assert_int_equal(do_v1(f, s1, 1, NULL, 0, &res), 204);
  remote_write_result_free(&res);

  v1series_t ooo, dup, fut, ok, noname, emptyname, badutf, dupl, hist, emptyval;
  v1_series(&ooo, "__name__", "reqs_total", "code", "200", NULL);
  v1_sample(&ooo, NOW - 20000, 4);  /* out of order */
  v1_sample(&ooo, NOW - 10000, 5);  /* identical duplicate: accepted */
  v1_sample(&ooo, NOW - 5000, 6);   /* fine */
  v1_series(&dup, "__name__", "reqs_total", "code", "200", NULL);
  v1_sample(&dup, NOW - 10000, 99); /* same time, other value */
  v1_series(&fut, "__name__", "future", NULL);
  v1_sample(&fut, NOW + 11 * 60 * 1000, 1);
  v1_series(&ok, "__name__", "fine", "a", "b", NULL);
  v1_sample(&ok, NOW, 7);
  v1_series(&noname, "job", "x", NULL);
  v1_sample(&noname, NOW, 1);
  v1_series(&emptyname, "__name__", "x", "", "v", NULL);
  v1_sample(&emptyname, NOW, 1);
  v1_series(&badutf, "__name__", "x", "k", "\xff\xfe", NULL);
  v1_sample(&badutf, NOW, 1);
  v1_series(&dupl, "__name__", "x", "job", "a", "job", "b", NULL);
  v1_sample(&dupl, NOW, 1);
  v1_sample(&dupl, NOW + 1, 1);
  v1_series(&hist, "__name__", "latency", NULL);
  v1_histogram(&hist, NOW);
  v1_series(&emptyval, "__name__", "", NULL);
  v1_sample(&emptyval, NOW, 1);
  v1series_t *ss[] = {&ooo, &dup, &fut, &ok, &noname, &emptyname, &badutf, &dupl,
                      &hist, &emptyval};
  assert_int_equal(do_v1(f, ss, 10, NULL, 0, &res), 400);
  assert_true(has(&res, "out of order sample for series {__name__=\"reqs_total\", code=\"200\"}"));
  assert_true(has(&res, "duplicate sample for timestamp for series"));
  assert_true(has(&res, "out of bounds: timestamp is too far in the future for series {__name__=\"future\"}"));
  assert_true(has(&res, "invalid metric name or labels, got {job=\"x\"}"));
  assert_true(has(&res, "invalid labels for series, labels {__name__=\"x\", job=\"b\"}, duplicated label"));
  assert_true(has(&res, "native histograms are not supported"));
  assert_int_equal(res.samples_written, 3); /* the duplicate, 6, 7 */
  assert_int_equal(res.series_invalid, 5);
  assert_int_equal(res.histograms_rejected, 1);
  assert_int_equal(res.samples_rejected, 3 + 6);
  remote_write_result_free(&res);

  int64_t ts[8];
  double vs[8];
  assert_int_equal(read_series(f->db, "__name__", "reqs_total", ts, vs, 8), 2);
  assert_true(vs[0] == 5 && vs[1] == 6);
  assert_int_equal(read_series(f->db, "__name__", "fine", ts, vs, 8), 1);
  assert_int_equal(read_series(f->db, "__name__", "x", ts, vs, 8), 0);
  assert_int_equal(read_series(f->db, "__name__", "future", ts, vs, 8), 0);
}

static void test_v1_error_lines_capped(void **state) {
  fx_t *f = *state;
  enum { N = 40 };
  v1series_t *s = calloc(N, sizeof(*s));
  Prometheus__WriteRequest req = PROMETHEUS__WRITE_REQUEST__INIT;
  Prometheus__TimeSeries **tsp = calloc(N, sizeof(*tsp));
  for (int i = 0; i < N; i++) {
    v1_series(&s[i], "job", "nameless", NULL);
    v1_sample(&s[i], NOW, i);
    tsp[i] = &s[i].ts;
  }
  req.n_timeseries = N;
  req.timeseries = tsp;
  size_t len;
  uint8_t *body = pack_v1(&req, &len);
  remote_write_result_t res;
  remote_write(f->db, f->md, REMOTE_WRITE_V1, body, len, NULL, &res);
  assert_int_equal(res.status, 400);
  assert_true(has(&res, "(and 24 more errors)"));
  assert_int_equal(res.series_invalid, N);
  remote_write_result_free(&res);
  free(body);
  free(tsp);
  free(s);
}

/* ---- remote write 2.0 ----------------------------------------------------- */

static void test_v2_write(void **state) {
  fx_t *f = *state;
  char *symbols[] = {"", "__name__", "http_requests_total", "job", "api",
                     "Requests.", "cpu_temp", "gauge_help", "celsius",
                     "\xc3\xa9t\xc3\xa9" /* UTF-8 */};
  Io__Prometheus__Write__V2__Request req = IO__PROMETHEUS__WRITE__V2__REQUEST__INIT;
  req.n_symbols = 10;
  req.symbols = symbols;

  uint32_t refs_a[] = {1, 2, 3, 4};
  Io__Prometheus__Write__V2__Sample sa[2], *sap[2];
  for (int i = 0; i < 2; i++) {
    io__prometheus__write__v2__sample__init(&sa[i]);
    sa[i].timestamp = NOW - 1000 + i * 1000;
    sa[i].value = 10 + i;
    sap[i] = &sa[i];
  }
  Io__Prometheus__Write__V2__Metadata ma = IO__PROMETHEUS__WRITE__V2__METADATA__INIT;
  ma.type = IO__PROMETHEUS__WRITE__V2__METADATA__METRIC_TYPE__METRIC_TYPE_COUNTER;
  ma.help_ref = 5;
  Io__Prometheus__Write__V2__Exemplar ex = IO__PROMETHEUS__WRITE__V2__EXEMPLAR__INIT;
  ex.value = 1;
  Io__Prometheus__Write__V2__Exemplar *exp_[] = {&ex};
  Io__Prometheus__Write__V2__TimeSeries a = IO__PROMETHEUS__WRITE__V2__TIME_SERIES__INIT;
  a.n_labels_refs = 4;
  a.labels_refs = refs_a;
  a.n_samples = 2;
  a.samples = sap;
  a.metadata = &ma;
  a.n_exemplars = 1;
  a.exemplars = exp_;

  uint32_t refs_b[] = {1, 6, 3, 9};
  Io__Prometheus__Write__V2__Sample sb = IO__PROMETHEUS__WRITE__V2__SAMPLE__INIT;
  sb.timestamp = NOW;
  sb.value = 55;
  Io__Prometheus__Write__V2__Sample *sbp = &sb;
  Io__Prometheus__Write__V2__Metadata mb = IO__PROMETHEUS__WRITE__V2__METADATA__INIT;
  mb.type = IO__PROMETHEUS__WRITE__V2__METADATA__METRIC_TYPE__METRIC_TYPE_GAUGE;
  mb.help_ref = 7;
  mb.unit_ref = 8;
  Io__Prometheus__Write__V2__TimeSeries b = IO__PROMETHEUS__WRITE__V2__TIME_SERIES__INIT;
  b.n_labels_refs = 4;
  b.labels_refs = refs_b;
  b.n_samples = 1;
  b.samples = &sbp;
  b.metadata = &mb;

  Io__Prometheus__Write__V2__TimeSeries *tsp[] = {&a, &b};
  req.n_timeseries = 2;
  req.timeseries = tsp;
  size_t len;
  uint8_t *body = pack_v2(&req, &len);
  remote_write_opts_t o;
  remote_write_opts_default(&o);
  o.now_ms = NOW;
  remote_write_result_t res;
  remote_write(f->db, f->md, REMOTE_WRITE_V2, body, len, &o, &res);
  free(body);
  assert_int_equal(res.status, 204);
  assert_int_equal(res.samples_written, 3);
  assert_int_equal(res.histograms_written, 0);
  assert_int_equal(res.exemplars_written, 0);
  assert_int_equal(res.metadata_received, 2);
  remote_write_result_free(&res);

  int64_t ts[4];
  double vs[4];
  assert_int_equal(read_series(f->db, "__name__", "http_requests_total", ts, vs, 4), 2);
  assert_true(vs[0] == 10 && vs[1] == 11);
  assert_int_equal(read_series(f->db, "job", "\xc3\xa9t\xc3\xa9", ts, vs, 4), 1);
  assert_true(vs[0] == 55);

  metadata_entry_t *e;
  size_t n;
  metadata_store_list(f->md, "cpu_temp", 0, 0, &e, &n);
  assert_int_equal(n, 1);
  assert_string_equal(metadata_type_name(e[0].type), "gauge");
  assert_string_equal(e[0].help, "gauge_help");
  assert_string_equal(e[0].unit, "celsius");
  metadata_entries_free(e, n);
  metadata_store_list(f->md, "http_requests_total", 0, 0, &e, &n);
  assert_int_equal(n, 1);
  assert_string_equal(metadata_type_name(e[0].type), "counter");
  assert_string_equal(e[0].help, "Requests.");
  metadata_entries_free(e, n);

  /* bad references, an odd ref list, histograms: 400, the rest stored */
  uint32_t out_of_range[] = {1, 2, 3, 77};
  uint32_t odd[] = {1, 2, 3};
  Io__Prometheus__Write__V2__TimeSeries bad1 = a, bad2 = a, hist = a, good = b;
  bad1.labels_refs = out_of_range;
  bad2.labels_refs = odd;
  bad2.n_labels_refs = 3;
  Io__Prometheus__Write__V2__Histogram h = IO__PROMETHEUS__WRITE__V2__HISTOGRAM__INIT;
  h.timestamp = NOW;
  Io__Prometheus__Write__V2__Histogram *hp[] = {&h, &h};
  hist.n_samples = 0;
  hist.n_histograms = 2;
  hist.histograms = hp;
  sb.timestamp = NOW + 1000;
  Io__Prometheus__Write__V2__TimeSeries *tsp2[] = {&bad1, &bad2, &hist, &good};
  req.n_timeseries = 4;
  req.timeseries = tsp2;
  body = pack_v2(&req, &len);
  remote_write(f->db, f->md, REMOTE_WRITE_V2, body, len, &o, &res);
  free(body);
  assert_int_equal(res.status, 400);
  assert_true(has(&res, "out of range"));
  assert_true(has(&res, "odd length 3"));
  assert_true(has(&res, "native histograms are not supported by this receiver: 2"));
  assert_int_equal(res.samples_written, 1);
  assert_int_equal(res.histograms_rejected, 2);
  assert_int_equal(res.samples_rejected, 4);
  remote_write_result_free(&res);
  assert_int_equal(read_series(f->db, "__name__", "cpu_temp", ts, vs, 4), 2);

  /* A 1.0 body labelled as 2.0 decodes as an empty 2.0 request (fields 1-3
   * are reserved): nothing written. */
  v1series_t s1;
  v1_series(&s1, "__name__", "v1_in_v2", NULL);
  v1_sample(&s1, NOW, 1);
  Prometheus__WriteRequest r1 = PROMETHEUS__WRITE_REQUEST__INIT;
  Prometheus__TimeSeries *t1 = &s1.ts;
  r1.n_timeseries = 1;
  r1.timeseries = &t1;
  body = pack_v1(&r1, &len);
  remote_write(f->db, f->md, REMOTE_WRITE_V2, body, len, &o, &res);
  free(body);
  assert_int_equal(res.status, 204);
  assert_int_equal(res.samples_written, 0);
  remote_write_result_free(&res);
}

/* ---- malformed input ------------------------------------------------------ */

static void expect_400(fx_t *f, remote_write_proto_t p, const uint8_t *body,
                       size_t len, const char *needle) {
  uint8_t *copy = malloc(len ? len : 1);
  if (len) memcpy(copy, body, len);
  remote_write_result_t res;
  remote_write(f->db, f->md, p, copy, len, NULL, &res);
  free(copy);
  if (res.status != 400) fail_msg("status %d: %s", res.status, strbuf_cstr(&res.message));
  assert_true(has(&res, needle));
  assert_int_equal(res.samples_written, 0);
  remote_write_result_free(&res);
}

static void test_malformed(void **state) {
  fx_t *f = *state;
  /* not snappy at all; empty body */
  static const uint8_t junk[] = "this is not snappy";
  expect_400(f, REMOTE_WRITE_V1, junk, sizeof junk - 1, "snappy: corrupt input");
  expect_400(f, REMOTE_WRITE_V1, junk, 0, "snappy: corrupt input");
  /* snappy header claiming 1 GiB */
  static const uint8_t huge[] = {0x80, 0x80, 0x80, 0x80, 0x04, 0x00};
  expect_400(f, REMOTE_WRITE_V1, huge, sizeof huge, "exceeds the limit");

  /* a valid request, truncated at every length before snappy */
  v1series_t a;
  v1_series(&a, "__name__", "m", "job", "j", NULL);
  for (int i = 0; i < 10; i++) v1_sample(&a, NOW - 10000 + i, i);
  Prometheus__WriteRequest req = PROMETHEUS__WRITE_REQUEST__INIT;
  Prometheus__TimeSeries *tsp = &a.ts;
  req.n_timeseries = 1;
  req.timeseries = &tsp;
  size_t n = prometheus__write_request__get_packed_size(&req);
  uint8_t *raw = malloc(n);
  prometheus__write_request__pack(&req, raw);
  for (size_t cut = 1; cut < n; cut++) {
    size_t zl;
    uint8_t *z = snappy_of(raw, cut, &zl);
    remote_write_result_t res;
    remote_write(f->db, f->md, REMOTE_WRITE_V1, z, zl, NULL, &res);
    free(z);
    /* a prefix can happen to be a complete, shorter message; either way
     * nothing invalid was stored and nothing crashed */
    assert_true(res.status == 400 || res.status == 204);
    remote_write_result_free(&res);
  }
  /* the snappy stream itself truncated */
  size_t zl;
  uint8_t *z = snappy_of(raw, n, &zl);
  expect_400(f, REMOTE_WRITE_V1, z, zl - 3, "snappy: corrupt input");
  free(z);
  free(raw);

  /* length-delimited field claiming far more than there is */
  static const uint8_t lying[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x0a, 0x00};
  z = snappy_of(lying, sizeof lying, &zl);
  expect_400(f, REMOTE_WRITE_V1, z, zl, "proto: cannot decode prometheus.WriteRequest");
  expect_400(f, REMOTE_WRITE_V2, z, zl, "proto: cannot decode io.prometheus.write.v2.Request");
  free(z);
  /* wrong wire type for a known field */
  static const uint8_t wiretype[] = {0x08, 0x01};
  z = snappy_of(wiretype, sizeof wiretype, &zl);
  expect_400(f, REMOTE_WRITE_V1, z, zl, "proto: cannot decode");
  free(z);
  assert_int_equal(count_series(f->db), 0);
}

/* ---- the wire decoder ----------------------------------------------------- */

/* A protobuf message under construction, by hand (for shapes protobuf-c
 * never writes). */
typedef struct pb {
  uint8_t b[16384];
  size_t n;
} pb_t;

static void pb_varint(pb_t *m, uint64_t v) {
  while (v >= 0x80) {
    assert_true(m->n < sizeof m->b);
    m->b[m->n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  assert_true(m->n < sizeof m->b);
  m->b[m->n++] = (uint8_t)v;
}

static void pb_raw(pb_t *m, const void *p, size_t n) {
  assert_true(m->n + n <= sizeof m->b);
  memcpy(m->b + m->n, p, n);
  m->n += n;
}

static void pb_tag(pb_t *m, unsigned num, unsigned wt) { pb_varint(m, (uint64_t)num << 3 | wt); }

static void pb_bytes(pb_t *m, unsigned num, const void *p, size_t n) {
  pb_tag(m, num, 2);
  pb_varint(m, n);
  pb_raw(m, p, n);
}

static void pb_str(pb_t *m, unsigned num, const char *s) { pb_bytes(m, num, s, strlen(s)); }

static void pb_msg(pb_t *m, unsigned num, const pb_t *sub) { pb_bytes(m, num, sub->b, sub->n); }

static void pb_label(pb_t *m, const char *name, const char *value) {
  pb_t l = {.n = 0};
  pb_str(&l, 1, name);
  pb_str(&l, 2, value);
  pb_msg(m, 1, &l);
}

static void pb_sample(pb_t *m, int64_t t, double v) {
  pb_t s = {.n = 0};
  pb_tag(&s, 1, 1);
  uint64_t bits;
  memcpy(&bits, &v, 8);
  uint8_t le[8];
  for (int i = 0; i < 8; i++) le[i] = (uint8_t)(bits >> (8 * i));
  pb_raw(&s, le, 8);
  pb_tag(&s, 2, 0);
  pb_varint(&s, (uint64_t)t);
  pb_msg(m, 2, &s);
}

/* The message decode() last decoded: r's views point into it.  Freed by
 * the next decode() and by decode_done(). */
static uint8_t *g_decoded;

static void decode_done(void) {
  free(g_decoded);
  g_decoded = NULL;
}

/* Decodes m as v1 (or v2); on failure the error must contain needle. */
static int decode(remote__req_t *r, bool v2, const pb_t *m, const char *needle) {
  char err[256] = "";
  /* an exact-size copy: ASan catches any read past the end */
  decode_done();
  uint8_t *copy = g_decoded = malloc(m->n ? m->n : 1);
  memcpy(copy, m->b, m->n);
  int rc = v2 ? remote__decode_v2(r, copy, m->n, err, sizeof err)
              : remote__decode_v1(r, copy, m->n, err, sizeof err);
  if (needle != NULL) {
    if (rc == 0) fail_msg("decoded, expected an error with \"%s\"", needle);
    if (strstr(err, needle) == NULL) fail_msg("error \"%s\" lacks \"%s\"", err, needle);
  } else if (rc != 0) {
    fail_msg("decode failed: %s", err);
  }
  return rc;
}

static bool str_is(const remote__str_t *s, const char *want) {
  return s->len == strlen(want) && memcmp(s->p, want, s->len) == 0;
}

static void test_decoder(void **state) {
  (void)state;
  remote__req_t r = {0};
  char err[256];

  /* unknown fields of every wire type, at every level, are skipped */
  pb_t lab = {.n = 0}, ts = {.n = 0}, req = {.n = 0};
  pb_tag(&lab, 9, 0);
  pb_varint(&lab, 300);
  pb_str(&lab, 1, "__name__");
  pb_tag(&lab, 10, 5);
  pb_raw(&lab, "abcd", 4);
  pb_str(&lab, 2, "up");
  pb_msg(&ts, 1, &lab);
  pb_label(&ts, "job", "node");
  pb_sample(&ts, 1000, 1.5);
  pb_tag(&ts, 99, 1);
  pb_raw(&ts, "12345678", 8);
  pb_sample(&ts, -2000, -0.25);
  pb_str(&ts, 3, "an exemplar, not looked into");
  pb_str(&ts, 4, "a histogram, only counted");
  pb_str(&req, 7, "unknown");
  pb_msg(&req, 1, &ts);
  pb_tag(&req, 536870911, 0); /* the largest field number */
  pb_varint(&req, 1);
  decode(&r, false, &req, NULL);
  assert_int_equal(r.nseries, 1);
  remote__series_t *s = &r.series[0];
  assert_int_equal(s->nlab, 2);
  assert_true(str_is(&r.strs[s->lab0], "__name__"));
  assert_true(str_is(&r.strs[s->lab0 + 1], "up"));
  assert_true(str_is(&r.strs[s->lab0 + 2], "job"));
  assert_true(str_is(&r.strs[s->lab0 + 3], "node"));
  assert_int_equal(s->nsmp, 2);
  assert_int_equal(r.samples[s->smp0].t, 1000);
  assert_true(r.samples[s->smp0].v == 1.5);
  assert_int_equal(r.samples[s->smp0 + 1].t, -2000);
  assert_true(r.samples[s->smp0 + 1].v == -0.25);
  assert_int_equal(s->nhist, 1);
  assert_non_null(s->key); /* the two Label fields are adjacent */

  /* labels split by a sample: no raw key, same labels */
  pb_t ts2 = {.n = 0}, req2 = {.n = 0};
  pb_label(&ts2, "__name__", "up");
  pb_sample(&ts2, 1, 1);
  pb_label(&ts2, "job", "node");
  pb_msg(&req2, 1, &ts2);
  decode(&r, false, &req2, NULL);
  assert_int_equal(r.nseries, 1);
  assert_null(r.series[0].key);
  assert_int_equal(r.series[0].nlab, 2);

  /* an empty message; an empty series */
  pb_t empty = {.n = 0};
  decode(&r, false, &empty, NULL);
  assert_int_equal(r.nseries, 0);
  pb_t es = {.n = 0};
  pb_bytes(&es, 1, "", 0);
  decode(&r, false, &es, NULL);
  assert_int_equal(r.nseries, 1);
  assert_int_equal(r.series[0].nlab, 0);
  assert_null(r.series[0].key);

  /* truncated varints: in a tag, in a length, in a value */
  pb_t m = {.n = 0};
  pb_raw(&m, "\x80", 1);
  decode(&r, false, &m, "truncated varint at byte 0");
  m.n = 0;
  pb_raw(&m, "\x0a\xff\xff", 3);
  decode(&r, false, &m, "truncated varint at byte 1");
  pb_t smp = {.n = 0};
  pb_tag(&smp, 2, 0);
  pb_raw(&smp, "\xff", 1);
  pb_t ts3 = {.n = 0};
  pb_msg(&ts3, 2, &smp);
  m.n = 0;
  pb_msg(&m, 1, &ts3);
  decode(&r, false, &m, "truncated varint");
  /* an 11-byte varint */
  m.n = 0;
  pb_tag(&m, 15, 0);
  pb_raw(&m, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11);
  decode(&r, false, &m, "varint longer than 10 bytes");
  /* lengths past the end: of the message, of the enclosing sub-message */
  m.n = 0;
  pb_tag(&m, 1, 2);
  pb_varint(&m, 5);
  pb_raw(&m, "abc", 3);
  decode(&r, false, &m, "length 5 of field 1 at byte 0 runs past the end");
  m.n = 0;
  pb_tag(&m, 1, 2);
  pb_varint(&m, UINT64_MAX);
  decode(&r, false, &m, "runs past the end");
  decode(&r, true, &m, "runs past the end");
  pb_t inner = {.n = 0};
  pb_tag(&inner, 1, 2);
  pb_varint(&inner, 3); /* the label claims 3 bytes; its series holds 2 */
  pb_raw(&inner, "\x0a\x00", 2);
  m.n = 0;
  pb_msg(&m, 1, &inner);
  pb_raw(&m, "\x00\x00\x00", 3); /* bytes after the series do not count */
  decode(&r, false, &m, "runs past the end of its message");
  /* truncated fixed-width values */
  m.n = 0;
  pb_tag(&m, 20, 1);
  pb_raw(&m, "1234567", 7);
  decode(&r, false, &m, "truncated fixed64");
  m.n = 0;
  pb_tag(&m, 20, 5);
  pb_raw(&m, "123", 3);
  decode(&r, false, &m, "truncated fixed32");
  /* wrong wire types for fields the receiver reads */
  m.n = 0;
  pb_tag(&m, 1, 0);
  pb_varint(&m, 1);
  decode(&r, false, &m, "field 1 (prometheus.WriteRequest.timeseries) at byte 0 has "
                        "wire type varint, want length-delimited");
  smp.n = 0;
  pb_tag(&smp, 1, 0); /* value as a varint */
  pb_varint(&smp, 7);
  ts3.n = 0;
  pb_msg(&ts3, 2, &smp);
  m.n = 0;
  pb_msg(&m, 1, &ts3);
  decode(&r, false, &m, "(prometheus.Sample.value) at byte 4 has wire type varint, want fixed64");
  lab.n = 0;
  pb_tag(&lab, 1, 5);
  pb_raw(&lab, "abcd", 4);
  ts3.n = 0;
  pb_msg(&ts3, 1, &lab);
  m.n = 0;
  pb_msg(&m, 1, &ts3);
  decode(&r, false, &m, "prometheus.Label.name");
  m.n = 0;
  pb_tag(&m, 4, 0);
  pb_varint(&m, 3);
  decode(&r, true, &m, "io.prometheus.write.v2.Request.symbols");
  m.n = 0;
  pb_tag(&m, 3, 5);
  pb_raw(&m, "abcd", 4);
  decode(&r, false, &m, "prometheus.WriteRequest.metadata");
  /* groups and reserved wire types; field number 0 */
  m.n = 0;
  pb_tag(&m, 1, 3);
  decode(&r, false, &m, "unsupported wire type 3 (start-group) of field 1");
  m.n = 0;
  pb_tag(&m, 2, 7);
  decode(&r, true, &m, "unsupported wire type 7");
  m.n = 0;
  pb_raw(&m, "\x02\x00", 2);
  decode(&r, false, &m, "invalid field number at byte 0");
  m.n = 0;
  pb_tag(&m, 1, 2);
  pb_varint(&m, 0);
  pb_varint(&m, (uint64_t)1 << 32 | 2); /* field number 2^29 */
  decode(&r, false, &m, "invalid field number at byte 2");

  /* v2: packed and unpacked references mean the same */
  pb_t v2 = {.n = 0}, t2 = {.n = 0}, packed = {.n = 0};
  pb_str(&v2, 4, "");
  pb_str(&v2, 4, "__name__");
  pb_str(&v2, 4, "up");
  pb_varint(&packed, 1);
  pb_varint(&packed, 2);
  pb_msg(&t2, 1, &packed);
  pb_tag(&t2, 1, 0);
  pb_varint(&t2, 1);
  pb_tag(&t2, 1, 0);
  pb_varint(&t2, ((uint64_t)1 << 32) | 2); /* uint32: high bits dropped */
  pb_sample(&t2, 5, 6);
  pb_tag(&t2, 6, 0);
  pb_varint(&t2, 12345);
  pb_t md = {.n = 0};
  pb_tag(&md, 1, 0);
  pb_varint(&md, 2);
  pb_tag(&md, 4, 0);
  pb_varint(&md, 2);
  pb_msg(&t2, 5, &md);
  pb_msg(&v2, 5, &t2);
  decode(&r, true, &v2, NULL);
  assert_int_equal(r.nstrs, 3);
  assert_int_equal(r.nseries, 1);
  s = &r.series[0];
  assert_int_equal(s->nlab, 4);
  assert_int_equal(r.refs[s->lab0], 1);
  assert_int_equal(r.refs[s->lab0 + 1], 2);
  assert_int_equal(r.refs[s->lab0 + 2], 1);
  assert_int_equal(r.refs[s->lab0 + 3], 2);
  assert_int_equal(s->nsmp, 1);
  assert_true(s->has_md);
  assert_int_equal(s->md_type, 2);
  assert_int_equal(s->md_help, 0);
  assert_int_equal(s->md_unit, 2);
  /* a packed list cut inside a varint */
  t2.n = 0;
  pb_bytes(&t2, 1, "\x01\x82", 2);
  m.n = 0;
  pb_msg(&m, 5, &t2);
  decode(&r, true, &m, "truncated varint");
  /* v2 created_timestamp with the wrong wire type */
  t2.n = 0;
  pb_str(&t2, 6, "x");
  m.n = 0;
  pb_msg(&m, 5, &t2);
  decode(&r, true, &m, "created_timestamp");

  /* huge counts: 300,000 empty samples in one series decode (a sample
   * with no fields is t = 0, v = 0), and so do as many empty series */
  size_t count = 300000;
  uint8_t *big = malloc(count * 2 + 8);
  size_t bn = 0;
  big[bn++] = 0x0a;
  uint64_t inner_len = count * 2;
  while (inner_len >= 0x80) {
    big[bn++] = (uint8_t)(inner_len | 0x80);
    inner_len >>= 7;
  }
  big[bn++] = (uint8_t)inner_len;
  for (size_t i = 0; i < count; i++) {
    big[bn++] = 0x12;
    big[bn++] = 0x00;
  }
  assert_int_equal(remote__decode_v1(&r, big, bn, err, sizeof err), 0);
  assert_int_equal(r.nseries, 1);
  assert_int_equal(r.series[0].nsmp, count);
  assert_int_equal(r.samples[count - 1].t, 0);
  for (size_t i = 0; i < count; i++) {
    big[2 * i] = 0x0a;
    big[2 * i + 1] = 0x00;
  }
  assert_int_equal(remote__decode_v1(&r, big, count * 2, err, sizeof err), 0);
  assert_int_equal(r.nseries, count);
  assert_int_equal(remote__decode_v2(&r, big, count * 2, err, sizeof err), 0);
  assert_int_equal(r.nseries, 0); /* field 1 is unknown in v2 */
  free(big);
  remote__req_free(&r);
  decode_done();
}

/* ---- the series cache ----------------------------------------------------- */

static int write_cached(fx_t *f, remote_write_cache_t *c, remote_write_proto_t p,
                        const pb_t *m, remote_write_result_t *res) {
  size_t zl;
  uint8_t *z = snappy_of(m->b, m->n, &zl);
  remote_write_opts_t o;
  remote_write_opts_default(&o);
  o.now_ms = NOW;
  o.cache = c;
  remote_write(f->db, f->md, p, z, zl, &o, res);
  free(z);
  return res->status;
}

/* A v1 request: n series m{i="<i>"} (plus a job label), one sample each
 * at t with value v + i. */
static void v1_request(pb_t *m, int n, int64_t t, double v) {
  m->n = 0;
  for (int i = 0; i < n; i++) {
    pb_t ts = {.n = 0};
    char iv[16];
    snprintf(iv, sizeof iv, "%d", i);
    pb_label(&ts, "__name__", "m");
    pb_label(&ts, "i", iv);
    pb_label(&ts, "job", "j");
    pb_sample(&ts, t, v + i);
    pb_msg(m, 1, &ts);
  }
}

static void stats(remote_write_cache_t *c, remote_write_cache_stats_t *st) {
  remote_write_cache_stats(c, st);
}

static double value_of(fx_t *f, const char *i, int64_t at) {
  int64_t ts[64];
  double vs[64];
  long n = read_series(f->db, "i", i, ts, vs, 64);
  for (long k = 0; k < n && k < 64; k++)
    if (ts[k] == at) return vs[k];
  fail_msg("series i=%s has no sample at %lld", i, (long long)at);
  return 0;
}

static void test_cache(void **state) {
  fx_t *f = *state;
  remote_write_cache_t *c = remote_write_cache_new(f->db, 0);
  remote_write_cache_stats_t st;
  remote_write_result_t res;
  pb_t *m = calloc(1, sizeof *m);

  /* first request: all misses; second: all hits */
  v1_request(m, 3, NOW - 2000, 10);
  assert_int_equal(write_cached(f, c, REMOTE_WRITE_V1, m, &res), 204);
  remote_write_result_free(&res);
  stats(c, &st);
  assert_int_equal(st.misses, 3);
  assert_int_equal(st.hits, 0);
  assert_int_equal(st.entries, 3);
  v1_request(m, 3, NOW - 1000, 20);
  assert_int_equal(write_cached(f, c, REMOTE_WRITE_V1, m, &res), 204);
  assert_int_equal(res.samples_written, 3);
  remote_write_result_free(&res);
  stats(c, &st);
  assert_int_equal(st.hits, 3);
  assert_int_equal(st.misses, 3);
  assert_true(value_of(f, "2", NOW - 1000) == 22);
  assert_int_equal(count_series(f->db), 3);

  /* a hit whose sample is refused: the message still names the series */
  v1_request(m, 1, NOW - 1000, 99);
  assert_int_equal(write_cached(f, c, REMOTE_WRITE_V1, m, &res), 400);
  assert_true(has(&res, "{__name__=\"m\", i=\"0\", job=\"j\"}"));
  assert_int_equal(res.samples_rejected, 1);
  remote_write_result_free(&res);
  stats(c, &st);
  assert_int_equal(st.hits, 4);

  /* a reference the TSDB does not know: counted, the labels take over,
   * and the entry is replaced by the right reference */
  pb_t key = {.n = 0};
  pb_label(&key, "__name__", "m");
  pb_label(&key, "i", "1");
  pb_label(&key, "job", "j");
  remote__cache_put(c, key.b, key.n, remote__cache_hash(key.b, key.n),
                    UINT64_C(1) << 60);
  v1_request(m, 3, NOW, 30);
  assert_int_equal(write_cached(f, c, REMOTE_WRITE_V1, m, &res), 204);
  remote_write_result_free(&res);
  stats(c, &st);
  assert_int_equal(st.stale, 1);
  assert_int_equal(st.entries, 3);
  assert_true(value_of(f, "1", NOW) == 31);
  uint64_t ref = 0;
  assert_true(remote__cache_get(c, key.b, key.n, remote__cache_hash(key.b, key.n), &ref));
  assert_true(ref != UINT64_C(1) << 60);
  assert_int_equal(count_series(f->db), 3);

  /* the same labels sent with a sample between them (another key), and
   * as v2 (keyed by strings): the same series */
  pb_t ts = {.n = 0};
  m->n = 0;
  pb_label(&ts, "__name__", "m");
  pb_sample(&ts, NOW + 1000, 41);
  pb_label(&ts, "i", "1");
  pb_label(&ts, "job", "j");
  pb_msg(m, 1, &ts);
  for (int k = 0; k < 2; k++) {
    if (k == 1) { /* the second time: a hit on the string key */
      m->n = 0;
      ts.n = 0;
      pb_label(&ts, "__name__", "m");
      pb_sample(&ts, NOW + 2000, 42);
      pb_label(&ts, "i", "1");
      pb_label(&ts, "job", "j");
      pb_msg(m, 1, &ts);
    }
    assert_int_equal(write_cached(f, c, REMOTE_WRITE_V1, m, &res), 204);
    remote_write_result_free(&res);
  }
  stats(c, &st);
  assert_int_equal(st.entries, 4);
  assert_true(value_of(f, "1", NOW + 2000) == 42);
  pb_t v2 = {.n = 0}, t2 = {.n = 0};
  const char *sym[] = {"", "__name__", "m", "i", "1", "job", "j"};
  for (int k = 0; k < 7; k++) pb_str(&v2, 4, sym[k]);
  static const uint32_t refs[] = {1, 2, 3, 4, 5, 6};
  for (int k = 0; k < 6; k++) {
    pb_tag(&t2, 1, 0);
    pb_varint(&t2, refs[k]);
  }
  pb_sample(&t2, NOW + 3000, 43);
  pb_msg(&v2, 5, &t2);
  assert_int_equal(write_cached(f, c, REMOTE_WRITE_V2, &v2, &res), 204);
  remote_write_result_free(&res);
  stats(c, &st);
  uint64_t hits = st.hits;
  assert_int_equal(st.entries, 4); /* same string key as the split v1 one */
  assert_true(value_of(f, "1", NOW + 3000) == 43);
  assert_int_equal(count_series(f->db), 3);

  /* invalid series are never cached */
  m->n = 0;
  ts.n = 0;
  pb_label(&ts, "__name__", "");
  pb_label(&ts, "a", "b");
  pb_sample(&ts, NOW, 1);
  pb_msg(m, 1, &ts);
  for (int k = 0; k < 2; k++) {
    assert_int_equal(write_cached(f, c, REMOTE_WRITE_V1, m, &res), 400);
    assert_true(has(&res, "invalid metric name or labels"));
    remote_write_result_free(&res);
  }
  stats(c, &st);
  assert_int_equal(st.entries, 4);
  assert_int_equal(st.hits, hits);

  /* a cache made for another db is not used */
  remote_write_cache_t *other = remote_write_cache_new((tsdb_t *)f, 0);
  v1_request(m, 3, NOW + 5000, 50);
  assert_int_equal(write_cached(f, other, REMOTE_WRITE_V1, m, &res), 204);
  remote_write_result_free(&res);
  stats(other, &st);
  assert_int_equal(st.hits + st.misses + st.entries, 0);
  remote_write_cache_free(other);
  remote_write_cache_free(NULL);

  free(m);
  remote_write_cache_free(c);
}

static void test_cache_bounded(void **state) {
  fx_t *f = *state;
  /* 64 entries at most (one per shard): 300 series keep it at or below */
  remote_write_cache_t *c = remote_write_cache_new(f->db, 64);
  pb_t *m = calloc(1, sizeof *m);
  remote_write_result_t res;
  for (int round = 0; round < 3; round++) {
    for (int part = 0; part < 3; part++) {
      m->n = 0;
      for (int i = part * 100; i < part * 100 + 100; i++) {
        pb_t ts = {.n = 0};
        char iv[16];
        snprintf(iv, sizeof iv, "%d", i);
        pb_label(&ts, "__name__", "m");
        pb_label(&ts, "i", iv);
        pb_sample(&ts, NOW - 10000 + round * 1000, round * 1000 + i);
        pb_msg(m, 1, &ts);
      }
      assert_int_equal(write_cached(f, c, REMOTE_WRITE_V1, m, &res), 204);
      assert_int_equal(res.samples_written, 100);
      remote_write_result_free(&res);
    }
  }
  remote_write_cache_stats_t st;
  remote_write_cache_stats(c, &st);
  assert_true(st.entries <= 64);
  assert_true(st.evictions > 0);
  assert_int_equal(st.hits + st.misses, 900);
  assert_int_equal(count_series(f->db), 300);
  assert_true(value_of(f, "299", NOW - 8000) == 2299);
  free(m);
  remote_write_cache_free(c);
}

typedef struct cw {
  fx_t *f;
  remote_write_cache_t *c;
  int id;
} cw_t;

static void *cache_worker(void *p) {
  cw_t *w = p;
  pb_t *m = calloc(1, sizeof *m);
  for (int k = 0; k < 20; k++) {
    m->n = 0;
    for (int i = 0; i < 20; i++) {
      pb_t ts = {.n = 0};
      char iv[16];
      snprintf(iv, sizeof iv, "%d", w->id * 100 + i);
      pb_label(&ts, "__name__", "m");
      pb_label(&ts, "i", iv);
      pb_sample(&ts, NOW - 100000 + k * 1000, k);
      pb_msg(m, 1, &ts);
    }
    remote_write_result_t res;
    size_t zl;
    uint8_t *z = snappy_of(m->b, m->n, &zl);
    remote_write_opts_t o;
    remote_write_opts_default(&o);
    o.now_ms = NOW;
    o.cache = w->c;
    remote_write(w->f->db, NULL, REMOTE_WRITE_V1, z, zl, &o, &res);
    free(z);
    if (res.status != 204 || res.samples_written != 20) w->id = -1;
    remote_write_result_free(&res);
  }
  free(m);
  return NULL;
}

static void test_cache_threads(void **state) {
  fx_t *f = *state;
  remote_write_cache_t *c = remote_write_cache_new(f->db, 0);
  pthread_t th[4];
  cw_t w[4];
  for (int i = 0; i < 4; i++) {
    w[i] = (cw_t){f, c, i};
    pthread_create(&th[i], NULL, cache_worker, &w[i]);
  }
  for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
  for (int i = 0; i < 4; i++) assert_int_equal(w[i].id, i);
  remote_write_cache_stats_t st;
  remote_write_cache_stats(c, &st);
  assert_int_equal(st.entries, 80);
  assert_int_equal(st.misses, 80);
  assert_int_equal(st.hits, 80 * 19);
  assert_int_equal(count_series(f->db), 80);
  int64_t ts[32];
  double vs[32];
  assert_int_equal(read_series(f->db, "i", "317", ts, vs, 32), 20);
  assert_true(vs[19] == 19);
  remote_write_cache_free(c);
}

static void test_decode_budget(void **state) {
  fx_t *f = *state;
  /* Many empty sub-messages: 2 wire bytes each, a struct and a pointer
   * each when decoded.  Must decode within the budget (or fail cleanly). */
  size_t count = 200000;
  uint8_t *raw = malloc(count * 2);
  for (size_t i = 0; i < count; i++) {
    raw[2 * i] = 0x0a;
    raw[2 * i + 1] = 0x00;
  }
  size_t zl;
  uint8_t *z = snappy_of(raw, count * 2, &zl);
  remote_write_result_t res;
  remote_write(f->db, f->md, REMOTE_WRITE_V1, z, zl, NULL, &res);
  /* every series is invalid (no labels) */
  assert_int_equal(res.status, 400);
  assert_int_equal(res.series_invalid, count);
  remote_write_result_free(&res);
  /* a decompressed-size limit below the body */
  remote_write_opts_t o;
  remote_write_opts_default(&o);
  o.max_decoded_bytes = 1000;
  remote_write(f->db, f->md, REMOTE_WRITE_V1, z, zl, &o, &res);
  assert_int_equal(res.status, 400);
  assert_true(has(&res, "exceeds the limit of 1000 bytes"));
  remote_write_result_free(&res);
  free(z);
  free(raw);
}

/* The storage failing at commit (file size limit hit while writing the
 * WAL) must answer 500 and report nothing written. */
static void test_storage_failure(void **state) {
  fx_t *f = *state;
  enum { N = 64 };
  v1series_t *s = calloc(N, sizeof(*s));
  Prometheus__TimeSeries **tsp = calloc(N, sizeof(*tsp));
  char names[N][16];
  for (int i = 0; i < N; i++) {
    snprintf(names[i], sizeof names[i], "m%d", i);
    v1_series(&s[i], "__name__", names[i], "pad",
              "a-rather-long-label-value-to-make-the-wal-record-large-enough", NULL);
    for (int k = 0; k < 60; k++) v1_sample(&s[i], NOW - 60000 + k * 1000, k);
    tsp[i] = &s[i].ts;
  }
  Prometheus__WriteRequest req = PROMETHEUS__WRITE_REQUEST__INIT;
  req.n_timeseries = N;
  req.timeseries = tsp;
  size_t len;
  uint8_t *body = pack_v1(&req, &len);

  struct rlimit old, lim;
  getrlimit(RLIMIT_FSIZE, &old);
  void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
  lim = old;
  lim.rlim_cur = 4096;
  remote_write_opts_t o;
  remote_write_opts_default(&o);
  o.now_ms = NOW;
  remote_write_result_t res;
  if (setrlimit(RLIMIT_FSIZE, &lim) != 0) {
    signal(SIGXFSZ, prev);
    free(body);
    free(tsp);
    free(s);
    skip();
  }
  remote_write(f->db, f->md, REMOTE_WRITE_V1, body, len, &o, &res);
  setrlimit(RLIMIT_FSIZE, &old);
  signal(SIGXFSZ, prev);
  if (res.status == 204) {
    /* the WAL may preallocate; then this way of failing it does not work */
    remote_write_result_free(&res);
    free(body);
    free(tsp);
    free(s);
    skip();
  }
  assert_int_equal(res.status, 500);
  assert_int_equal(res.samples_written, 0);
  assert_true(res.message.len > 0);
  remote_write_result_free(&res);
  free(body);
  free(tsp);
  free(s);
}

/* ---- remote read ---------------------------------------------------------- */

/* Writes a few series for the read tests: m{i="0".."4"} with 300 samples
 * each, every 10s ending at NOW, value i*1000 + k. */
static void seed_read_data(fx_t *f) {
  tsdb_appender_t *app = tsdb_appender_new(f->db);
  for (int i = 0; i < 5; i++) {
    char iv[8];
    snprintf(iv, sizeof iv, "%d", i);
    label_t pairs[] = {{"__name__", "m"}, {"i", iv}, {"job", "read"}};
    labels_t *ls = labels_new(NULL, pairs, 3, NULL, 0);
    for (int k = 0; k < 300; k++)
      assert_int_equal(tsdb_append(app, ls, NOW - (299 - k) * 10000LL,
                                   i * 1000 + k, NULL),
                       0);
    labels_free(ls);
  }
  char err[256];
  assert_int_equal(tsdb_appender_commit(app, err, sizeof err), 0);
}

typedef struct readq {
  Prometheus__Query q;
  Prometheus__LabelMatcher m[4];
  Prometheus__LabelMatcher *mp[4];
} readq_t;

static void readq_init(readq_t *r, int64_t start, int64_t end) {
  memset(r, 0, sizeof *r);
  prometheus__query__init(&r->q);
  r->q.start_timestamp_ms = start;
  r->q.end_timestamp_ms = end;
  r->q.matchers = r->mp;
}

static void readq_match(readq_t *r, Prometheus__LabelMatcher__Type t,
                        const char *name, const char *value) {
  size_t i = r->q.n_matchers++;
  prometheus__label_matcher__init(&r->m[i]);
  r->m[i].type = t;
  r->m[i].name = (char *)name;
  r->m[i].value = (char *)value;
  r->mp[i] = &r->m[i];
}

static void do_read(fx_t *f, readq_t **qs, size_t nq,
                    const Prometheus__ReadRequest__ResponseType *types,
                    size_t ntypes, const remote_read_opts_t *o,
                    remote_read_result_t *res) {
  Prometheus__ReadRequest req = PROMETHEUS__READ_REQUEST__INIT;
  Prometheus__Query *qp[8];
  for (size_t i = 0; i < nq; i++) qp[i] = &qs[i]->q;
  req.n_queries = nq;
  req.queries = qp;
  req.n_accepted_response_types = ntypes;
  req.accepted_response_types = (Prometheus__ReadRequest__ResponseType *)types;
  size_t n = prometheus__read_request__get_packed_size(&req);
  uint8_t *raw = malloc(n + 1);
  prometheus__read_request__pack(&req, raw);
  size_t zl;
  uint8_t *z = snappy_of(raw, n, &zl);
  remote_read(f->db, z, zl, o, res);
  free(z);
  free(raw);
}

static Prometheus__ReadResponse *unpack_samples(const remote_read_result_t *res) {
  size_t n;
  assert_int_equal(snappy_uncompressed_length(res->body.data, res->body.len, &n),
                   SNAPPY_OK);
  char *buf = malloc(n + 1);
  assert_int_equal(snappy_uncompress(res->body.data, res->body.len, buf, &n),
                   SNAPPY_OK);
  Prometheus__ReadResponse *r =
      prometheus__read_response__unpack(NULL, n, (uint8_t *)buf);
  free(buf);
  assert_non_null(r);
  return r;
}

static void test_read_samples(void **state) {
  fx_t *f = *state;
  seed_read_data(f);
  readq_t q1, q2, q3;
  readq_init(&q1, NOW - 99 * 10000, NOW); /* the last 100 samples */
  readq_match(&q1, PROMETHEUS__LABEL_MATCHER__TYPE__EQ, "__name__", "m");
  readq_match(&q1, PROMETHEUS__LABEL_MATCHER__TYPE__RE, "i", "1|3");
  readq_init(&q2, NOW - 1000000000, NOW);
  readq_match(&q2, PROMETHEUS__LABEL_MATCHER__TYPE__EQ, "__name__", "nope");
  readq_init(&q3, NOW - 15000, NOW);
  readq_match(&q3, PROMETHEUS__LABEL_MATCHER__TYPE__EQ, "job", "read");
  readq_match(&q3, PROMETHEUS__LABEL_MATCHER__TYPE__NEQ, "i", "0");
  readq_match(&q3, PROMETHEUS__LABEL_MATCHER__TYPE__NRE, "i", "[34]");
  readq_t *qs[] = {&q1, &q2, &q3};
  remote_read_result_t res;
  do_read(f, qs, 3, NULL, 0, NULL, &res); /* no types: SAMPLES */
  assert_int_equal(res.status, 200);
  assert_string_equal(res.content_type, "application/x-protobuf");
  assert_string_equal(res.content_encoding, "snappy");
  Prometheus__ReadResponse *r = unpack_samples(&res);
  assert_int_equal(r->n_results, 3);
  assert_int_equal(r->results[0]->n_timeseries, 2);
  for (size_t s = 0; s < 2; s++) {
    Prometheus__TimeSeries *ts = r->results[0]->timeseries[s];
    assert_int_equal(ts->n_labels, 3);
    assert_string_equal(ts->labels[0]->name, "__name__");
    assert_string_equal(ts->labels[1]->name, "i");
    assert_string_equal(ts->labels[1]->value, s == 0 ? "1" : "3");
    assert_int_equal(ts->n_samples, 100);
    for (size_t k = 0; k < 100; k++) {
      assert_int_equal(ts->samples[k]->timestamp, NOW - (99 - (int64_t)k) * 10000);
      assert_true(ts->samples[k]->value == (s == 0 ? 1000 : 3000) + 200 + (double)k);
    }
  }
  assert_int_equal(r->results[1]->n_timeseries, 0);
  assert_int_equal(r->results[2]->n_timeseries, 2); /* i=1, i=2 */
  assert_int_equal(r->results[2]->timeseries[0]->n_samples, 2);
  prometheus__read_response__free_unpacked(r, NULL);
  remote_read_result_free(&res);

  /* the sample limit */
  remote_read_opts_t o;
  remote_read_opts_default(&o);
  o.sample_limit = 150;
  do_read(f, qs, 1, NULL, 0, &o, &res);
  assert_int_equal(res.status, 400);
  assert_string_equal(strbuf_cstr(&res.body), "exceeded sample limit (150)");
  remote_read_result_free(&res);
  /* the response size limit */
  remote_read_opts_default(&o);
  o.max_response_bytes = 100;
  do_read(f, qs, 1, NULL, 0, &o, &res);
  assert_int_equal(res.status, 400);
  assert_non_null(strstr(strbuf_cstr(&res.body), "exceeds the limit of 100 bytes"));
  remote_read_result_free(&res);
}

/* Parses a streamed answer, checking frames and decoding every chunk.
 * Returns the number of frames; fills per-query sample counts. */
static size_t parse_streamed(const remote_read_result_t *res, size_t *samples,
                             size_t nq, size_t *series_out) {
  const uint8_t *p = (const uint8_t *)res->body.data;
  size_t left = res->body.len, frames = 0, series = 0;
  char last[256] = "";
  int64_t last_q = -1;
  while (left > 0) {
    uint64_t len = 0;
    unsigned shift = 0;
    size_t used = 0;
    for (;;) {
      assert_true(used < left);
      uint8_t b = p[used++];
      len |= (uint64_t)(b & 0x7f) << shift;
      shift += 7;
      if (b < 0x80) break;
    }
    assert_true(left - used >= 4 + len);
    uint32_t crc = (uint32_t)p[used] << 24 | (uint32_t)p[used + 1] << 16 |
                   (uint32_t)p[used + 2] << 8 | p[used + 3];
    const uint8_t *msg = p + used + 4;
    assert_int_equal(crc, remote__crc32c(msg, len));
    Prometheus__ChunkedReadResponse *r =
        prometheus__chunked_read_response__unpack(NULL, len, msg);
    assert_non_null(r);
    assert_true(r->query_index >= 0 && (size_t)r->query_index < nq);
    assert_true(r->query_index >= last_q);
    assert_int_equal(r->n_chunked_series, 1);
    Prometheus__ChunkedSeries *cs = r->chunked_series[0];
    strbuf_t key = STRBUF_INIT;
    strbuf_printf(&key, "%lld", (long long)r->query_index);
    for (size_t i = 0; i < cs->n_labels; i++)
      strbuf_printf(&key, ",%s=%s", cs->labels[i]->name, cs->labels[i]->value);
    if (strcmp(strbuf_cstr(&key), last) != 0) series++;
    snprintf(last, sizeof last, "%s", strbuf_cstr(&key));
    strbuf_free(&key);
    last_q = r->query_index;
    int64_t prev_t = INT64_MIN;
    for (size_t c = 0; c < cs->n_chunks; c++) {
      Prometheus__Chunk *ch = cs->chunks[c];
      assert_int_equal(ch->type, PROMETHEUS__CHUNK__ENCODING__XOR);
      remote_xor_dec_t d;
      assert_int_equal(remote_xor_dec_init(&d, ch->data.data, ch->data.len), 0);
      int64_t t;
      double v;
      size_t k = 0;
      int64_t first = 0;
      while (remote_xor_dec_next(&d, &t, &v)) {
        if (k == 0) first = t;
        assert_true(t > prev_t);
        prev_t = t;
        k++;
      }
      assert_int_equal(remote_xor_dec_err(&d), 0);
      assert_true(k > 0 && k <= 120);
      assert_int_equal(ch->min_time_ms, first);
      assert_int_equal(ch->max_time_ms, prev_t);
      samples[r->query_index] += k;
    }
    prometheus__chunked_read_response__free_unpacked(r, NULL);
    frames++;
    p += used + 4 + len;
    left -= used + 4 + len;
  }
  *series_out = series;
  return frames;
}

static void test_read_streamed(void **state) {
  fx_t *f = *state;
  seed_read_data(f);
  readq_t q1, q2;
  readq_init(&q1, NOW - 1000000000, NOW);
  readq_match(&q1, PROMETHEUS__LABEL_MATCHER__TYPE__EQ, "__name__", "m");
  readq_init(&q2, NOW - 49 * 10000, NOW);
  readq_match(&q2, PROMETHEUS__LABEL_MATCHER__TYPE__EQ, "i", "4");
  readq_t *qs[] = {&q1, &q2};
  /* an unknown type first, then streamed, then samples: streamed wins */
  const Prometheus__ReadRequest__ResponseType types[] = {
      (Prometheus__ReadRequest__ResponseType)7,
      PROMETHEUS__READ_REQUEST__RESPONSE_TYPE__STREAMED_XOR_CHUNKS,
      PROMETHEUS__READ_REQUEST__RESPONSE_TYPE__SAMPLES};
  remote_read_result_t res;
  do_read(f, qs, 2, types, 3, NULL, &res);
  assert_int_equal(res.status, 200);
  assert_string_equal(res.content_type,
                      "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse");
  assert_null(res.content_encoding);
  size_t samples[2] = {0, 0}, series;
  size_t frames = parse_streamed(&res, samples, 2, &series);
  assert_int_equal(frames, 6); /* one per series */
  assert_int_equal(series, 6);
  assert_int_equal(samples[0], 5 * 300);
  assert_int_equal(samples[1], 50);
  remote_read_result_free(&res);

  /* small frames: each series is split over several frames */
  remote_read_opts_t o;
  remote_read_opts_default(&o);
  o.max_bytes_in_frame = 100;
  do_read(f, qs, 1, types + 1, 1, &o, &res);
  assert_int_equal(res.status, 200);
  samples[0] = samples[1] = 0;
  frames = parse_streamed(&res, samples, 1, &series);
  assert_int_equal(series, 5);
  assert_true(frames >= 10);
  assert_int_equal(samples[0], 5 * 300);
  remote_read_result_free(&res);

  /* only unsupported types: 400 */
  do_read(f, qs, 1, types, 1, NULL, &res);
  assert_int_equal(res.status, 400);
  assert_non_null(strstr(strbuf_cstr(&res.body),
                         "server does not support any of the requested response types: [7]"));
  remote_read_result_free(&res);
}

static void test_read_errors(void **state) {
  fx_t *f = *state;
  remote_read_result_t res;
  static const char junk[] = "not snappy";
  remote_read(f->db, junk, sizeof junk - 1, NULL, &res);
  assert_int_equal(res.status, 400);
  assert_string_equal(strbuf_cstr(&res.body), "snappy: corrupt input");
  remote_read_result_free(&res);

  static const uint8_t lying[] = {0x0a, 0xff, 0xff, 0xff, 0x7f};
  size_t zl;
  uint8_t *z = snappy_of(lying, sizeof lying, &zl);
  remote_read(f->db, z, zl, NULL, &res);
  free(z);
  assert_int_equal(res.status, 400);
  assert_non_null(strstr(strbuf_cstr(&res.body), "cannot decode prometheus.ReadRequest"));
  remote_read_result_free(&res);

  readq_t q;
  readq_init(&q, 0, NOW);
  readq_match(&q, PROMETHEUS__LABEL_MATCHER__TYPE__RE, "__name__", "(unclosed");
  readq_t *qs[] = {&q};
  do_read(f, qs, 1, NULL, 0, NULL, &res);
  assert_int_equal(res.status, 400);
  remote_read_result_free(&res);

  readq_init(&q, 0, NOW);
  readq_match(&q, (Prometheus__LabelMatcher__Type)9, "__name__", "x");
  do_read(f, qs, 1, NULL, 0, NULL, &res);
  assert_int_equal(res.status, 400);
  assert_string_equal(strbuf_cstr(&res.body), "invalid matcher type 9");
  remote_read_result_free(&res);

  /* no queries at all: an empty answer */
  do_read(f, qs, 0, NULL, 0, NULL, &res);
  assert_int_equal(res.status, 200);
  Prometheus__ReadResponse *r = unpack_samples(&res);
  assert_int_equal(r->n_results, 0);
  prometheus__read_response__free_unpacked(r, NULL);
  remote_read_result_free(&res);
}

/* Written over remote write, read back over remote read. */
static void test_write_then_read(void **state) {
  fx_t *f = *state;
  v1series_t a;
  v1_series(&a, "__name__", "roundtrip", "x", "y", NULL);
  for (int i = 0; i < 50; i++) v1_sample(&a, NOW - (49 - i) * 1000, i * 1.5);
  v1series_t *ss[] = {&a};
  remote_write_result_t wr;
  assert_int_equal(do_v1(f, ss, 1, NULL, 0, &wr), 204);
  remote_write_result_free(&wr);
  readq_t q;
  readq_init(&q, NOW - 100000, NOW);
  readq_match(&q, PROMETHEUS__LABEL_MATCHER__TYPE__EQ, "__name__", "roundtrip");
  readq_t *qs[] = {&q};
  remote_read_result_t res;
  do_read(f, qs, 1, NULL, 0, NULL, &res);
  Prometheus__ReadResponse *r = unpack_samples(&res);
  assert_int_equal(r->results[0]->n_timeseries, 1);
  Prometheus__TimeSeries *ts = r->results[0]->timeseries[0];
  assert_int_equal(ts->n_samples, 50);
  for (int i = 0; i < 50; i++) {
    assert_int_equal(ts->samples[i]->timestamp, NOW - (49 - i) * 1000);
    assert_true(ts->samples[i]->value == i * 1.5);
  }
  prometheus__read_response__free_unpacked(r, NULL);
  remote_read_result_free(&res);
}

/* ---- metadata store ------------------------------------------------------- */

static void test_metadata_store(void **state) {
  (void)state;
  metadata_store_t *ms = metadata_store_new(3);
  metadata_store_put(ms, "b_total", METADATA_TYPE_COUNTER, "B.", NULL);
  metadata_store_put(ms, "a", METADATA_TYPE_GAUGE, "A.", "bytes");
  metadata_store_put(ms, "a", METADATA_TYPE_GAUGE, "A.", "bytes"); /* same */
  metadata_store_put(ms, "a", METADATA_TYPE_GAUGE, "A, newer.", "bytes");
  metadata_store_put(ms, "", METADATA_TYPE_GAUGE, "ignored", NULL);
  metadata_store_put(ms, "c", (metadata_type_t)99, NULL, NULL);
  metadata_store_put(ms, "d", METADATA_TYPE_INFO, NULL, NULL); /* over max */
  assert_int_equal(metadata_store_count(ms), 3);
  assert_int_equal(metadata_store_dropped(ms), 1);

  metadata_entry_t *e;
  size_t n;
  metadata_store_list(ms, NULL, 0, 0, &e, &n);
  assert_int_equal(n, 4);
  assert_string_equal(e[0].metric, "a");
  assert_string_equal(e[0].help, "A, newer.");
  assert_string_equal(e[1].metric, "a");
  assert_string_equal(e[1].help, "A.");
  assert_string_equal(e[2].metric, "b_total");
  assert_string_equal(e[2].unit, "");
  assert_string_equal(metadata_type_name(e[2].type), "counter");
  assert_string_equal(e[3].metric, "c");
  assert_string_equal(metadata_type_name(e[3].type), "unknown");
  metadata_entries_free(e, n);

  metadata_store_list(ms, NULL, 2, 1, &e, &n);
  assert_int_equal(n, 2);
  assert_string_equal(e[0].metric, "a");
  assert_string_equal(e[1].metric, "b_total");
  metadata_entries_free(e, n);
  metadata_store_list(ms, "zzz", 0, 0, &e, &n);
  assert_int_equal(n, 0);
  assert_null(e);
  metadata_store_list(ms, "a", 0, 0, &e, &n);
  assert_int_equal(n, 2);
  metadata_entries_free(e, n);

  /* more variants than kept: the oldest go */
  for (int i = 0; i < 10; i++) {
    char h[16];
    snprintf(h, sizeof h, "v%d", i);
    metadata_store_put(ms, "c", METADATA_TYPE_GAUGE, h, NULL);
  }
  metadata_store_list(ms, "c", 0, 0, &e, &n);
  assert_int_equal(n, METADATA_MAX_PER_METRIC);
  assert_string_equal(e[0].help, "v9");
  metadata_entries_free(e, n);
  assert_string_equal(metadata_type_name(METADATA_TYPE_GAUGEHISTOGRAM), "gaugehistogram");
  assert_string_equal(metadata_type_name(METADATA_TYPE_STATESET), "stateset");
  metadata_store_free(ms);
  metadata_store_free(NULL);
}

static void *md_worker(void *arg) {
  metadata_store_t *ms = arg;
  for (int i = 0; i < 2000; i++) {
    char name[32];
    snprintf(name, sizeof name, "metric_%d", i % 300);
    metadata_store_put(ms, name, METADATA_TYPE_COUNTER, "help", NULL);
    if (i % 100 == 0) {
      metadata_entry_t *e;
      size_t n;
      metadata_store_list(ms, NULL, 10, 0, &e, &n);
      metadata_entries_free(e, n);
    }
  }
  return NULL;
}

static void test_metadata_threads(void **state) {
  (void)state;
  metadata_store_t *ms = metadata_store_new(0);
  pthread_t th[4];
  for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, md_worker, ms);
  for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
  assert_int_equal(metadata_store_count(ms), 300);
  metadata_store_free(ms);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_xor_known_bytes),
      cmocka_unit_test(test_xor_roundtrip),
      cmocka_unit_test(test_xor_corrupt),
      cmocka_unit_test(test_crc32c),
      cmocka_unit_test(test_content_type),
      cmocka_unit_test_setup_teardown(test_v1_write, setup, teardown),
      cmocka_unit_test_setup_teardown(test_v1_partial, setup, teardown),
      cmocka_unit_test_setup_teardown(test_v1_error_lines_capped, setup, teardown),
      cmocka_unit_test_setup_teardown(test_v2_write, setup, teardown),
      cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_decode_budget, setup, teardown),
      cmocka_unit_test(test_decoder),
      cmocka_unit_test_setup_teardown(test_cache, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cache_bounded, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cache_threads, setup, teardown),
      cmocka_unit_test_setup_teardown(test_storage_failure, setup, teardown),
      cmocka_unit_test_setup_teardown(test_read_samples, setup, teardown),
      cmocka_unit_test_setup_teardown(test_read_streamed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_read_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_write_then_read, setup, teardown),
      cmocka_unit_test(test_metadata_store),
      cmocka_unit_test(test_metadata_threads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
