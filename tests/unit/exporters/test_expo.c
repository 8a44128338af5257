/*
 * test_expo.c - the exposition writer: escaping, value formatting, family
 * and sample ordering, help/type clashes, duplicates, summaries and
 * histograms, compared byte for byte with what client_golang writes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "exporter_int.h"
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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_values),
      cmocka_unit_test(test_escaping),
      cmocka_unit_test(test_sorting),
      cmocka_unit_test(test_conflicts),
      cmocka_unit_test(test_summary_histogram),
      cmocka_unit_test(test_many_families),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
