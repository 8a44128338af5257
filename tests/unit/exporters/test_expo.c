/*
 * test_expo.c - the exposition writer: escaping, value formatting, family
 * and sample ordering, help/type clashes, duplicates, summaries and
 * histograms, compared byte for byte with what client_golang writes; the
 * OpenMetrics writer (counter family names without _total, "unknown"
 * types, ".0" values, integer counts, # EOF) and Accept negotiation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "exporter_int.h"
#include "json.h"
#include "ph_error.h"

#include <math.h>
#include <string.h>

static const char *value_str(strbuf_t *b, double v) {
  strbuf_reset(b);
  expo_write_value(b, v);
  return strbuf_cstr(b);
}

static void test_values(void **st) {
  (void)st;
  strbuf_t b = STRBUF_INIT;
  assert_string_equal(value_str(&b, 0), "0");
  assert_string_equal(value_str(&b, -0.0), "0");
  assert_string_equal(value_str(&b, 1), "1");
  assert_string_equal(value_str(&b, -1), "-1");
  assert_string_equal(value_str(&b, 0.1), "0.1");
  assert_string_equal(value_str(&b, 1e6), "1e+06");
  assert_string_equal(value_str(&b, 123456), "123456");
  assert_string_equal(value_str(&b, 1e21), "1e+21");
  assert_string_equal(value_str(&b, 1e-05), "1e-05");
  assert_string_equal(value_str(&b, 0.0001), "0.0001");
  assert_string_equal(value_str(&b, 2.068484096e+09), "2.068484096e+09");
  assert_string_equal(value_str(&b, 32768), "32768");
  assert_string_equal(value_str(&b, 10870.69), "10870.69");
  assert_string_equal(value_str(&b, 3.5184372087808e+13), "3.5184372087808e+13");
  assert_string_equal(value_str(&b, 1.8652166505091474e+06),
                      "1.8652166505091474e+06");
  assert_string_equal(value_str(&b, NAN), "NaN");
  assert_string_equal(value_str(&b, INFINITY), "+Inf");
  assert_string_equal(value_str(&b, -INFINITY), "-Inf");
  strbuf_free(&b);
}

/* The integral fast path agrees with the general Go 'g' formatter. */
static void test_integral_values(void **st) {
  (void)st;
  strbuf_t b = STRBUF_INIT;
  assert_string_equal(value_str(&b, 999999), "999999");
  assert_string_equal(value_str(&b, -999999), "-999999");
  assert_string_equal(value_str(&b, 1000000), "1e+06");
  assert_string_equal(value_str(&b, -1000000), "-1e+06");
  assert_string_equal(value_str(&b, 1234567), "1.234567e+06");
  assert_string_equal(value_str(&b, 12345670), "1.234567e+07");
  assert_string_equal(value_str(&b, 1e15), "1e+15");
  assert_string_equal(value_str(&b, 9007199254740991.0), "9.007199254740991e+15");
  assert_string_equal(value_str(&b, 9007199254740992.0), "9.007199254740992e+15");
  assert_string_equal(value_str(&b, 1e16), "1e+16");
  assert_string_equal(value_str(&b, 18446744073709551615.0), "1.8446744073709552e+19");
  uint64_t x = 88172645463325252ull; /* xorshift64 */
  for (int i = 0; i < 20000; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    int bits = 1 + (int)(x % 53);
    double v = (double)(x >> (64 - bits));
    if (i & 1) v = -v;
    if (i % 7 == 0) v = floor(v / 1000) * 1000; /* trailing zeros */
    if (v == 0) continue;
    char want[64];
    size_t n = format_float_go_g(v, want, sizeof(want));
    want[n] = '\0';
    assert_string_equal(value_str(&b, v), want);
  }
  strbuf_free(&b);
}

static void test_escaping(void **st) {
  (void)st;
  strbuf_t b = STRBUF_INIT;
  expo_write_help(&b, "a \\ b\nc \"q\"");
  assert_string_equal(strbuf_cstr(&b), "a \\\\ b\\nc \"q\"");
  strbuf_reset(&b);
  expo_write_label_value(&b, "x\\y\n\"z\"");
  assert_string_equal(strbuf_cstr(&b), "x\\\\y\\n\\\"z\\\"");
  strbuf_reset(&b);
  expo_write_label_value(&b, "");
  assert_string_equal(strbuf_cstr(&b), "");
  strbuf_free(&b);
}

static void add(expo_t *e, const char *name, const char *help,
                expo_type_t type, double v, const char *l1, const char *v1,
                const char *l2, const char *v2) {
  const char *n[2] = {l1, l2}, *vals[2] = {v1, v2};
  size_t cnt = l1 == NULL ? 0 : l2 == NULL ? 1 : 2;
  assert_int_equal(expo_add(e, name, help, type, cnt, n, vals, v, NULL, 0), 0);
}

static void test_sorting(void **st) {
  (void)st;
  expo_t *e = expo_new();
  /* labels given in reverse order, values that sort bytewise */
  add(e, "node_cpu_seconds_total", "Seconds.", EXPO_COUNTER, 3, "mode",
      "user", "cpu", "10");
  add(e, "node_cpu_seconds_total", "Seconds.", EXPO_COUNTER, 1, "mode",
      "idle", "cpu", "2");
  add(e, "node_cpu_seconds_total", "Seconds.", EXPO_COUNTER, 2, "mode",
      "idle", "cpu", "10");
  add(e, "a_first", "A \\ help\nline", EXPO_GAUGE, 0.5, NULL, NULL, NULL,
      NULL);
  add(e, "node_load1", "1m load average.", EXPO_GAUGE, 0.21, NULL, NULL, NULL,
      NULL);
  add(e, "z_untyped", "", EXPO_UNTYPED, -0.0, "x", "a\"b", NULL, NULL);
  assert_int_equal(expo_family_count(e), 4);
  assert_true(expo_has_family(e, "node_load1"));
  assert_false(expo_has_family(e, "node_load5"));
  strbuf_t b = STRBUF_INIT;
  expo_write(e, &b);
  assert_string_equal(strbuf_cstr(&b),
                      "# HELP a_first A \\\\ help\\nline\n"
                      "# TYPE a_first gauge\n"
                      "a_first 0.5\n"
                      "# HELP node_cpu_seconds_total Seconds.\n"
                      "# TYPE node_cpu_seconds_total counter\n"
                      "node_cpu_seconds_total{cpu=\"10\",mode=\"idle\"} 2\n"
                      "node_cpu_seconds_total{cpu=\"10\",mode=\"user\"} 3\n"
                      "node_cpu_seconds_total{cpu=\"2\",mode=\"idle\"} 1\n"
                      "# HELP node_load1 1m load average.\n"
                      "# TYPE node_load1 gauge\n"
                      "node_load1 0.21\n"
                      "# HELP z_untyped \n"
                      "# TYPE z_untyped untyped\n"
                      "z_untyped{x=\"a\\\"b\"} 0\n");
  /* reset drops everything */
  expo_reset(e);
  strbuf_reset(&b);
  expo_write(e, &b);
  assert_string_equal(strbuf_cstr(&b), "");
  strbuf_free(&b);
  expo_free(e);
}

static void test_conflicts(void **st) {
  (void)st;
  expo_t *e = expo_new();
  char err[256];
  const char *ln[] = {"device"}, *lv[] = {"sda"}, *lv2[] = {"sdb"};
  assert_int_equal(expo_add(e, "m", "help", EXPO_GAUGE, 1, ln, lv, 1, err,
                            sizeof(err)), 0);
  /* other type */
  assert_int_equal(expo_add(e, "m", "help", EXPO_COUNTER, 1, ln, lv2, 2, err,
                            sizeof(err)), PH_EINVAL);
  assert_non_null(strstr(err, "has type counter but should have gauge"));
  /* other help */
  assert_int_equal(expo_add(e, "m", "other", EXPO_GAUGE, 1, ln, lv2, 2, err,
                            sizeof(err)), PH_EINVAL);
  assert_non_null(strstr(err, "has help"));
  /* a duplicate label set: the first one collected stays */
  assert_int_equal(expo_add(e, "m", "help", EXPO_GAUGE, 1, ln, lv, 7, err,
                            sizeof(err)), 0);
  /* fewer labels sort first */
  assert_int_equal(expo_add(e, "m", "help", EXPO_GAUGE, 0, NULL, NULL, 9, err,
                            sizeof(err)), 0);
  strbuf_t b = STRBUF_INIT;
  expo_write(e, &b);
  assert_string_equal(strbuf_cstr(&b), "# HELP m help\n# TYPE m gauge\n"
                                       "m 9\nm{device=\"sda\"} 1\n");
  strbuf_free(&b);
  expo_free(e);
}

static void test_summary_histogram(void **st) {
  (void)st;
  expo_t *e = expo_new();
  const char *ln[] = {"baz"}, *lv[] = {"x"};
  double q[] = {0.5, 0.9}, qv[] = {1.073e-06, 2};
  assert_int_equal(expo_add_summary(e, "ev", "Query timings", 1, ln, lv, 2, q,
                                    qv, 1.8652166505091474e+06,
                                    1.492355615e+09, NULL, 0), 0);
  double le[] = {100, 1.6384e+06}, cum[] = {0, 7};
  assert_int_equal(expo_add_histogram(e, "h", "H", 0, NULL, NULL, 2, le, cum,
                                      6.71393432189e+11, 1.691853e+06, NULL,
                                      0), 0);
  strbuf_t b = STRBUF_INIT;
  expo_write(e, &b);
  assert_string_equal(
      strbuf_cstr(&b),
      "# HELP ev Query timings\n# TYPE ev summary\n"
      "ev{baz=\"x\",quantile=\"0.5\"} 1.073e-06\n"
      "ev{baz=\"x\",quantile=\"0.9\"} 2\n"
      "ev_sum{baz=\"x\"} 1.8652166505091474e+06\n"
      "ev_count{baz=\"x\"} 1.492355615e+09\n"
      "# HELP h H\n# TYPE h histogram\n"
      "h_bucket{le=\"100\"} 0\n"
      "h_bucket{le=\"1.6384e+06\"} 7\n"
      "h_bucket{le=\"+Inf\"} 1.691853e+06\n"
      "h_sum 6.71393432189e+11\n"
      "h_count 1.691853e+06\n");
  strbuf_free(&b);
  expo_free(e);
}

static void test_many_families(void **st) {
  (void)st;
  expo_t *e = expo_new();
  char name[32];
  for (int i = 999; i >= 0; i--) {
    snprintf(name, sizeof(name), "f_%04d", i);
    add(e, name, "h", EXPO_GAUGE, i, NULL, NULL, NULL, NULL);
    add(e, name, "h", EXPO_GAUGE, i, "a", "b", NULL, NULL);
  }
  assert_int_equal(expo_family_count(e), 1000);
  strbuf_t b = STRBUF_INIT;
  expo_write(e, &b);
  const char *p = strstr(strbuf_cstr(&b), "f_0000 0\nf_0000{a=\"b\"} 0\n");
  assert_non_null(p);
  assert_true(strstr(strbuf_cstr(&b), "# HELP f_0999") > p);
  strbuf_free(&b);
  expo_free(e);
}

static void test_openmetrics(void **st) {
  (void)st;
  expo_t *e = expo_new();
  add(e, "node_cpu_seconds_total", "Seconds the CPUs spent in each mode.", EXPO_COUNTER, 12,
      "cpu", "0", "mode", "idle");
  add(e, "node_cpu_seconds_total", "Seconds the CPUs spent in each mode.", EXPO_COUNTER,
      3.25, "cpu", "0", "mode", "user");
  add(e, "node_forks", "Forks \"quoted\" \\ help", EXPO_COUNTER, 1, NULL, NULL, NULL, NULL);
  add(e, "node_load1", "1m load average.", EXPO_GAUGE, 0, NULL, NULL, NULL, NULL);
  add(e, "node_big", "Big.", EXPO_GAUGE, 1e21, NULL, NULL, NULL, NULL);
  add(e, "node_neg", "Neg.", EXPO_GAUGE, -1, NULL, NULL, NULL, NULL);
  add(e, "node_nan", "NaN.", EXPO_GAUGE, NAN, NULL, NULL, NULL, NULL);
  add(e, "node_inf", "Inf.", EXPO_GAUGE, -INFINITY, NULL, NULL, NULL, NULL);
  add(e, "testmetric", "untyped", EXPO_UNTYPED, 34, "lbl", "a\"b", NULL, NULL);
  double q[] = {0.5, 1}, qv[] = {2, 3.5};
  assert_int_equal(expo_add_summary(e, "rpc", "RPC.", 0, NULL, NULL, 2, q, qv, 10, 4, NULL, 0), 0);
  double le[] = {1, 2.5}, cum[] = {1, 3};
  assert_int_equal(expo_add_histogram(e, "lat", "Lat.", 0, NULL, NULL, 2, le, cum, 4.5, 5, NULL,
                                      0), 0);
  strbuf_t b = STRBUF_INIT;
  expo_write_openmetrics(e, &b);
  assert_string_equal(strbuf_cstr(&b),
                      "# HELP lat Lat.\n# TYPE lat histogram\n"
                      "lat_bucket{le=\"1.0\"} 1\n"
                      "lat_bucket{le=\"2.5\"} 3\n"
                      "lat_bucket{le=\"+Inf\"} 5\n"
                      "lat_sum 4.5\n"
                      "lat_count 5\n"
                      "# HELP node_big Big.\n# TYPE node_big gauge\nnode_big 1e+21\n"
                      "# HELP node_cpu_seconds Seconds the CPUs spent in each mode.\n"
                      "# TYPE node_cpu_seconds counter\n"
                      "node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 12.0\n"
                      "node_cpu_seconds_total{cpu=\"0\",mode=\"user\"} 3.25\n"
                      "# HELP node_forks Forks \\\"quoted\\\" \\\\ help\n"
                      "# TYPE node_forks unknown\nnode_forks 1.0\n"
                      "# HELP node_inf Inf.\n# TYPE node_inf gauge\nnode_inf -Inf\n"
                      "# HELP node_load1 1m load average.\n# TYPE node_load1 gauge\nnode_load1 0.0\n"
                      "# HELP node_nan NaN.\n# TYPE node_nan gauge\nnode_nan NaN\n"
                      "# HELP node_neg Neg.\n# TYPE node_neg gauge\nnode_neg -1.0\n"
                      "# HELP rpc RPC.\n# TYPE rpc summary\n"
                      "rpc{quantile=\"0.5\"} 2.0\n"
                      "rpc{quantile=\"1.0\"} 3.5\n"
                      "rpc_sum 10.0\n"
                      "rpc_count 4\n"
                      "# HELP testmetric untyped\n# TYPE testmetric unknown\n"
                      "testmetric{lbl=\"a\\\"b\"} 34.0\n"
                      "# EOF\n");
  /* the text format of the same set is unchanged */
  strbuf_reset(&b);
  expo_write(e, &b);
  assert_non_null(strstr(strbuf_cstr(&b), "# TYPE node_cpu_seconds_total counter\n"));
  assert_non_null(strstr(strbuf_cstr(&b), "# TYPE testmetric untyped\n"));
  assert_null(strstr(strbuf_cstr(&b), "# EOF"));
  strbuf_free(&b);
  expo_free(e);

  /* an empty set is just the EOF marker */
  e = expo_new();
  strbuf_t b2 = STRBUF_INIT;
  expo_write_openmetrics(e, &b2);
  assert_string_equal(strbuf_cstr(&b2), "# EOF\n");
  strbuf_free(&b2);
  expo_free(e);
}

static void test_negotiate(void **st) {
  (void)st;
  const char *ct;
  assert_int_equal(exporter_negotiate(NULL, &ct), EXPORTER_FMT_TEXT);
  assert_string_equal(ct, "text/plain; version=0.0.4; charset=utf-8");
  assert_int_equal(exporter_negotiate("*/*", &ct), EXPORTER_FMT_TEXT);
  /* Prometheus's scrape Accept header */
  assert_int_equal(exporter_negotiate("application/openmetrics-text;version=1.0.0,"
                                      "application/openmetrics-text;version=0.0.1;q=0.75,"
                                      "text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
                                      &ct),
                   EXPORTER_FMT_OPENMETRICS);
  assert_string_equal(ct, "application/openmetrics-text; version=1.0.0; charset=utf-8");
  assert_int_equal(exporter_negotiate("application/openmetrics-text; version=0.0.1", &ct),
                   EXPORTER_FMT_OPENMETRICS);
  assert_string_equal(ct, "application/openmetrics-text; version=0.0.1; charset=utf-8");
  assert_int_equal(exporter_negotiate("application/openmetrics-text", &ct),
                   EXPORTER_FMT_OPENMETRICS);
  /* q decides; unknown versions and types are skipped */
  assert_int_equal(exporter_negotiate("application/openmetrics-text;q=0.2, text/plain;q=0.9",
                                      &ct),
                   EXPORTER_FMT_TEXT);
  assert_int_equal(exporter_negotiate("application/openmetrics-text;version=9.9.9,text/plain",
                                      &ct),
                   EXPORTER_FMT_TEXT);
  assert_int_equal(exporter_negotiate("application/json", &ct), EXPORTER_FMT_TEXT);
  assert_string_equal(ct, "text/plain; version=0.0.4; charset=utf-8");
  assert_int_equal(exporter_negotiate("application/openmetrics-text;q=0", &ct),
                   EXPORTER_FMT_TEXT);
  assert_int_equal(exporter_negotiate("", &ct), EXPORTER_FMT_TEXT);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_values),
      cmocka_unit_test(test_integral_values),
      cmocka_unit_test(test_escaping),
      cmocka_unit_test(test_sorting),
      cmocka_unit_test(test_conflicts),
      cmocka_unit_test(test_summary_histogram),
      cmocka_unit_test(test_many_families),
      cmocka_unit_test(test_openmetrics),
      cmocka_unit_test(test_negotiate),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
