/*
 * test_cli_util.c - unit tests for pharosctl's pure helpers (cli/util.c,
 * cli/args.c): Go-compatible float, time, duration and byte formatting,
 * model.Time parsing, LabelSet ordering, OpenMetrics series text, the
 * tabwriter, the counter map, cardinality and the argument parser.
 * (Series selectors are the query engine's promql_parse_selector, tested
 * with the query module.)
 *
 * Expected strings are what Go's strconv / time / promtool print for the
 * same values.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "cli.h"
#include "ph_error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define L(n, v) ((label_t){(n), (v)})

static labels_t *mk(const label_t *p, size_t n) {
  labels_t *ls = labels_new(NULL, p, n, NULL, 0);
  assert_non_null(ls);
  return ls;
}

/* ---- numbers ----------------------------------------------------------------- */

static void expect_f(double v, const char *want) {
  char buf[420];
  size_t n = cli_format_float_f(v, buf, sizeof buf);
  assert_string_equal(buf, want);
  assert_int_equal(n, strlen(want));
}

static void test_format_float_f(void **state) {
  (void)state;
  expect_f(1, "1");
  expect_f(0, "0");
  expect_f(-0.0, "-0");
  expect_f(0.1, "0.1");
  expect_f(-2.5, "-2.5");
  expect_f(123.456, "123.456");
  expect_f(1e21, "1000000000000000000000");
  expect_f(1e-7, "0.0000001");
  expect_f(18446744073709551616.0, "18446744073709552000");
  expect_f(1.0 / 3, "0.3333333333333333");
  expect_f(0.30000000000000004, "0.30000000000000004");
  expect_f(1700000000.123, "1700000000.123");
  expect_f(NAN, "NaN");
  expect_f(INFINITY, "+Inf");
  expect_f(-INFINITY, "-Inf");
  /* the smallest subnormal: 323 zeros after the point, then 5 */
  char buf[420];
  size_t n = cli_format_float_f(5e-324, buf, sizeof buf);
  assert_int_equal(n, 2 + 323 + 1);
  assert_int_equal(buf[n - 1], '5');
  assert_int_equal(strspn(buf + 2, "0"), 323);
  /* the largest double: 309 digits */
  n = cli_format_float_f(1.7976931348623157e308, buf, sizeof buf);
  assert_int_equal(n, 309);
  assert_memory_equal(buf, "17976931348623157", 17);
  /* truncation keeps the buffer terminated and reports the full length */
  char small[4];
  assert_int_equal(cli_format_float_f(123.5, small, sizeof small), 5);
  assert_string_equal(small, "123");
}

static void test_format_float_g(void **state) {
  (void)state;
  char buf[64];
  cli_format_float_g(1e6, buf, sizeof buf);
  assert_string_equal(buf, "1e+06");
  cli_format_float_g(123456, buf, sizeof buf);
  assert_string_equal(buf, "123456");
  cli_format_float_g(1700000000, buf, sizeof buf);
  assert_string_equal(buf, "1.7e+09");
  cli_format_float_g(0.25, buf, sizeof buf);
  assert_string_equal(buf, "0.25");
}

static void test_format_time_seconds(void **state) {
  (void)state;
  char buf[420];
  cli_format_time_seconds(1700000000123, buf, sizeof buf);
  assert_string_equal(buf, "1700000000.123");
  cli_format_time_seconds(1700000000000, buf, sizeof buf);
  assert_string_equal(buf, "1700000000");
  cli_format_time_seconds(1500, buf, sizeof buf);
  assert_string_equal(buf, "1.5");
  cli_format_time_seconds(-500, buf, sizeof buf);
  assert_string_equal(buf, "-0.5");
  cli_format_time_seconds(0, buf, sizeof buf);
  assert_string_equal(buf, "0");
}

static void expect_dur(int64_t ms, const char *want) {
  char buf[64];
  size_t n = cli_format_go_duration(ms, buf, sizeof buf);
  assert_string_equal(buf, want);
  assert_int_equal(n, strlen(want));
}

static void test_go_duration(void **state) {
  (void)state;
  expect_dur(0, "0s");
  expect_dur(1, "1ms");
  expect_dur(500, "500ms");
  expect_dur(1000, "1s");
  expect_dur(1500, "1.5s");
  expect_dur(1230, "1.23s");
  expect_dur(60000, "1m0s");
  expect_dur(90000, "1m30s");
  expect_dur(3601000, "1h0m1s");
  expect_dur(7200000, "2h0m0s");
  expect_dur(7199999, "1h59m59.999s");
  expect_dur(-60000, "-1m0s");
  expect_dur(-250, "-250ms");
  expect_dur(30LL * 24 * 3600 * 1000, "720h0m0s");
}

static void test_format_bytes(void **state) {
  (void)state;
  char buf[64];
  cli_format_bytes(0, buf, sizeof buf);
  assert_string_equal(buf, "0B");
  cli_format_bytes(512, buf, sizeof buf);
  assert_string_equal(buf, "512B");
  cli_format_bytes(1024, buf, sizeof buf);
  assert_string_equal(buf, "1KiB");
  cli_format_bytes(1536, buf, sizeof buf);
  assert_string_equal(buf, "1KiB512B");
  cli_format_bytes(2 * 1024 * 1024 + 3, buf, sizeof buf);
  assert_string_equal(buf, "2MiB3B");
  cli_format_bytes(1ULL << 40, buf, sizeof buf);
  assert_string_equal(buf, "1TiB");
  /* a short buffer truncates safely but reports the full length */
  char small[4];
  assert_int_equal(cli_format_bytes(1536, small, sizeof small), 8);
  assert_int_equal(strlen(small), 3);
}

static void test_parse_json_time(void **state) {
  (void)state;
  int64_t ms = 42;
  assert_int_equal(cli_parse_json_time("1.5", &ms), 0);
  assert_int_equal(ms, 1500);
  assert_int_equal(cli_parse_json_time("1.2345", &ms), 0);
  assert_int_equal(ms, 1234); /* cut, not rounded */
  assert_int_equal(cli_parse_json_time("1.9999", &ms), 0);
  assert_int_equal(ms, 1999);
  assert_int_equal(cli_parse_json_time("-0.1", &ms), 0);
  assert_int_equal(ms, -100);
  assert_int_equal(cli_parse_json_time("-1.5", &ms), 0);
  assert_int_equal(ms, -1500);
  assert_int_equal(cli_parse_json_time("17", &ms), 0);
  assert_int_equal(ms, 17000);
  assert_int_equal(cli_parse_json_time("1700000000.123", &ms), 0);
  assert_int_equal(ms, 1700000000123);
  ms = 42;
  assert_int_equal(cli_parse_json_time("", &ms), PH_EPARSE);
  assert_int_equal(cli_parse_json_time("abc", &ms), PH_EPARSE);
  assert_int_equal(cli_parse_json_time("1.", &ms), PH_EPARSE);
  assert_int_equal(cli_parse_json_time(".5", &ms), PH_EPARSE);
  assert_int_equal(cli_parse_json_time("1e3", &ms), PH_EPARSE);
  assert_int_equal(cli_parse_json_time("-", &ms), PH_EPARSE);
  assert_int_equal(cli_parse_json_time("99999999999999999999", &ms), PH_EPARSE);
  assert_int_equal(ms, 42);
}

/* ---- labels -------------------------------------------------------------------- */

static void test_labels_before(void **state) {
  (void)state;
  label_t a1[] = {L("a", "1")};
  label_t a2[] = {L("a", "2")};
  label_t ab[] = {L("a", "1"), L("b", "1")};
  label_t ac[] = {L("a", "1"), L("c", "1")};
  labels_t *x = mk(a1, 1), *y = mk(a2, 1), *z = mk(ab, 2), *w = mk(ac, 2);
  assert_true(cli_labels_before(x, y));
  assert_false(cli_labels_before(y, x));
  assert_false(cli_labels_before(x, x));
  /* fewer labels first, whatever the values */
  assert_true(cli_labels_before(y, z));
  assert_false(cli_labels_before(z, y));
  /* same size: the first name of the union missing from one side decides
   * (the side lacking it sorts first), as model.LabelSet.Before does */
  assert_true(cli_labels_before(w, z));
  assert_false(cli_labels_before(z, w));
  labels_free(x);
  labels_free(y);
  labels_free(z);
  labels_free(w);
}

static void expect_om(const label_t *p, size_t n, const char *want) {
  labels_t *ls = mk(p, n);
  strbuf_t b = STRBUF_INIT;
  cli_format_om_series(ls, &b);
  assert_string_equal(strbuf_cstr(&b), want);
  strbuf_free(&b);
  labels_free(ls);
}

static void test_om_series(void **state) {
  (void)state;
  label_t p1[] = {L("__name__", "up")};
  expect_om(p1, 1, "up");
  label_t p2[] = {L("job", "x"), L("__name__", "up"), L("instance", "a:1")};
  expect_om(p2, 3, "up{instance=\"a:1\",job=\"x\"}");
  label_t p3[] = {L("__name__", "m"), L("v", "a\"b\\c\nd")};
  expect_om(p3, 2, "m{v=\"a\\\"b\\\\c\\nd\"}");
  label_t p4[] = {L("__name__", "my.metric"), L("a.b", "c")};
  expect_om(p4, 2, "{\"my.metric\",\"a.b\"=\"c\"}");
  label_t p5[] = {L("a", "b")};
  expect_om(p5, 1, "{a=\"b\"}");
  expect_om(NULL, 0, "{}");
}

/* ---- tables, counts, cardinality -------------------------------------------------- */

static void test_table(void **state) {
  (void)state;
  cli_table_t t;
  cli_table_init(&t);
  const char *r1[] = {"BLOCK ULID", "MIN", "SIZE"};
  const char *r2[] = {"01ABCDEFGHJKMNPQRSTVWXYZ01", "1700000000000", "656"};
  cli_table_row(&t, r1, 3);
  cli_table_row(&t, r2, 3);
  strbuf_t b = STRBUF_INIT;
  cli_table_render(&t, 13, 2, &b);
  assert_string_equal(strbuf_cstr(&b),
                      "BLOCK ULID                  MIN            SIZE\n"
                      "01ABCDEFGHJKMNPQRSTVWXYZ01  1700000000000  656\n");
  strbuf_free(&b);
  cli_table_free(&t);

  /* minimum width applies to short columns; an empty table renders nothing */
  cli_table_init(&t);
  strbuf_init(&b);
  cli_table_render(&t, 13, 2, &b);
  assert_int_equal(b.len, 0);
  const char *r3[] = {"a", "b"};
  cli_table_row(&t, r3, 2);
  cli_table_render(&t, 4, 1, &b);
  assert_string_equal(strbuf_cstr(&b), "a   b\n");
  strbuf_free(&b);
  cli_table_free(&t);

  /* widths count UTF-8 code points; no padding after the last non-empty
   * cell; a row may be shorter than others */
  cli_table_init(&t);
  strbuf_init(&b);
  const char *u1[] = {"caf\xc3\xa9", "x", ""};
  const char *u2[] = {"ab", "", ""};
  const char *u3[] = {"abcdef"};
  cli_table_row(&t, u1, 3);
  cli_table_row(&t, u2, 3);
  cli_table_row(&t, u3, 1);
  cli_table_render(&t, 0, 2, &b);
  assert_string_equal(strbuf_cstr(&b), "caf\xc3\xa9  x\n"
                                       "ab\n"
                                       "abcdef\n");
  strbuf_free(&b);
  cli_table_free(&t);
}

static void test_counts(void **state) {
  (void)state;
  cli_counts_t c;
  cli_counts_init(&c);
  assert_int_equal(cli_counts_get(&c, "x", 1), 0);
  assert_int_equal(cli_counts_add(&c, "b", 1, 1), 1);
  assert_int_equal(cli_counts_add(&c, "a", 1, 1), 1);
  assert_int_equal(cli_counts_add(&c, "c", 1, 5), 5);
  assert_int_equal(cli_counts_add(&c, "b", 1, 1), 2);
  /* keys are length-delimited, not NUL-terminated */
  assert_int_equal(cli_counts_add(&c, "abc", 2, 1), 1);
  assert_int_equal(cli_counts_get(&c, "ab", 2), 1);
  /* grow well past the initial capacity */
  char key[32];
  for (int i = 0; i < 1000; i++) {
    snprintf(key, sizeof key, "k%d", i);
    cli_counts_add(&c, key, strlen(key), (uint64_t)(i % 3));
  }
  assert_int_equal(c.n, 1004);
  assert_int_equal(cli_counts_get(&c, "k998", 4), 2);
  assert_int_equal(cli_counts_get(&c, "b", 1), 2);
  cli_count_entry_t *top;
  size_t n = cli_counts_top(&c, 4, &top);
  assert_int_equal(n, 4);
  assert_string_equal(top[0].key, "c");
  assert_int_equal(top[0].val, 5);
  /* ties on count sort by key: "b" (2) before "k101" (2) ... */
  assert_string_equal(top[1].key, "b");
  assert_string_equal(top[2].key, "k101");
  assert_string_equal(top[3].key, "k104");
  free(top);
  n = cli_counts_top(&c, 0, &top);
  assert_int_equal(n, 1004);
  free(top);
  cli_counts_free(&c);

  cli_counts_init(&c);
  assert_int_equal(cli_counts_top(&c, 10, &top), 0);
  free(top);
  cli_counts_free(&c);
}

static void test_cardinality(void **state) {
  (void)state;
  cli_cardinality_t c;
  cli_cardinality_init(&c);
  label_t s1[] = {L("__name__", "up"), L("job", "node"), L("instance", "a")};
  label_t s2[] = {L("__name__", "up"), L("job", "node"), L("instance", "bb")};
  label_t s3[] = {L("__name__", "temp"), L("room", "attic")};
  labels_t *l1 = mk(s1, 3), *l2 = mk(s2, 3), *l3 = mk(s3, 2);
  cli_cardinality_add(&c, l1);
  cli_cardinality_add(&c, l2);
  cli_cardinality_add(&c, l3);
  assert_int_equal(c.series, 3);
  assert_int_equal(c.label_pairs_total, 8);
  assert_int_equal(c.pair_series.n, 6); /* up temp node a bb attic */
  assert_int_equal(c.label_values.n, 4);
  assert_int_equal(cli_counts_get(&c.metric_series, "up", 2), 2);
  assert_int_equal(cli_counts_get(&c.metric_series, "temp", 4), 1);
  assert_int_equal(cli_counts_get(&c.pair_series, "job=node", 8), 2);
  assert_int_equal(cli_counts_get(&c.label_values, "instance", 8), 2);
  assert_int_equal(cli_counts_get(&c.label_values, "__name__", 8), 2);
  /* cumulative length of distinct values: "a" + "bb" */
  assert_int_equal(cli_counts_get(&c.label_value_len, "instance", 8), 3);
  assert_int_equal(cli_counts_get(&c.label_value_len, "__name__", 8), 6);
  assert_int_equal(cli_counts_get(&c.label_value_len, "job", 3), 4);
  labels_free(l1);
  labels_free(l2);
  labels_free(l3);
  cli_cardinality_free(&c);
}

/* ---- arguments ----------------------------------------------------------------- */

static const cli_arg_t test_args[] = {
    {"server", "s", false},
    {"expr", "e", true},
};

typedef struct argv_opts {
  const char *time;
  bool flag;
  cli_strv_t match;
} argv_opts_t;

static int run_args(argv_opts_t *o, int argc, char **argv, const char **pos, size_t *npos,
                    bool *help, char *err, size_t errlen) {
  const cli_opt_t opts[] = {
      {"time", 't', CLI_OPT_STRING, "<t>", "h", &o->time},
      {"flag", 'f', CLI_OPT_BOOL, NULL, "h", &o->flag},
      {"match", 0, CLI_OPT_MULTI, "<m>", "h", &o->match},
  };
  return cli_parse_args(opts, 3, test_args, 2, argc, argv, pos, npos, help, err, errlen);
}

static void test_args_ok(void **state) {
  (void)state;
  argv_opts_t o = {.time = "", .flag = false};
  char *argv[] = {"cmd", "--time=5", "srv", "--match", "a", "--match=b", "-f", "--", "-x"};
  const char *pos[2] = {NULL, NULL};
  size_t npos;
  bool help;
  char err[256];
  assert_int_equal(run_args(&o, 9, argv, pos, &npos, &help, err, sizeof err), 0);
  assert_false(help);
  assert_string_equal(o.time, "5");
  assert_true(o.flag);
  assert_int_equal(o.match.n, 2);
  assert_string_equal(o.match.v[0], "a");
  assert_string_equal(o.match.v[1], "b");
  assert_int_equal(npos, 2);
  assert_string_equal(pos[0], "srv");
  assert_string_equal(pos[1], "-x");
  cli_strv_free(&o.match);

  /* short forms, --no-flag, the optional positional left out */
  argv_opts_t p = {.time = "", .flag = true};
  char *argv2[] = {"cmd", "-t", "7", "srv", "--no-flag"};
  assert_int_equal(run_args(&p, 5, argv2, pos, &npos, &help, err, sizeof err), 0);
  assert_string_equal(p.time, "7");
  assert_false(p.flag);
  assert_int_equal(npos, 1);
  char *argv3[] = {"cmd", "-t8", "--flag=true", "srv"};
  assert_int_equal(run_args(&p, 4, argv3, pos, &npos, &help, err, sizeof err), 0);
  assert_string_equal(p.time, "8");
  assert_true(p.flag);

  /* help stops parsing, even before missing positionals */
  char *argv4[] = {"cmd", "--help"};
  assert_int_equal(run_args(&p, 2, argv4, pos, &npos, &help, err, sizeof err), 0);
  assert_true(help);
  char *argv5[] = {"cmd", "-h"};
  assert_int_equal(run_args(&p, 2, argv5, pos, &npos, &help, err, sizeof err), 0);
  assert_true(help);
}

static void expect_args_error(int argc, char **argv, const char *want) {
  argv_opts_t o = {.time = ""};
  const char *pos[2];
  size_t npos;
  bool help;
  char err[256] = "";
  assert_int_equal(run_args(&o, argc, argv, pos, &npos, &help, err, sizeof err), PH_EINVAL);
  assert_string_equal(err, want);
  cli_strv_free(&o.match);
}

static void test_args_errors(void **state) {
  (void)state;
  char *a1[] = {"cmd", "--nope", "srv"};
  expect_args_error(3, a1, "unknown long flag '--nope'");
  char *a2[] = {"cmd", "-z", "srv"};
  expect_args_error(3, a2, "unknown short flag '-z'");
  char *a3[] = {"cmd", "srv", "--time"};
  expect_args_error(3, a3, "expected argument for flag '--time'");
  char *a4[] = {"cmd", "srv", "e", "extra"};
  expect_args_error(4, a4, "unexpected extra");
  char *a5[] = {"cmd", "--flag"};
  expect_args_error(2, a5, "required argument 'server' not provided");
  char *a6[] = {"cmd", "--flag=maybe", "srv"};
  expect_args_error(3, a6, "strconv.ParseBool: parsing \"maybe\": invalid syntax");
  char *a7[] = {"cmd", "srv", "-t"};
  expect_args_error(3, a7, "expected argument for flag '-t'");
  char *a8[] = {"cmd", "--no-time=1", "srv"};
  expect_args_error(3, a8, "unknown long flag '--no-time'");
}

static void test_args_variadic(void **state) {
  (void)state;
  static const cli_arg_t vargs[] = {{"match", "m", false, true}};
  const char *out = NULL;
  const cli_opt_t opts[] = {{"output", 'o', CLI_OPT_STRING, "<f>", "h", &out}};
  char *argv[] = {"series", "up", "-o", "csv", "{a=\"b\"}", "--", "-neg"};
  const char *pos[7];
  size_t npos;
  bool help;
  char err[256];
  assert_int_equal(cli_parse_args(opts, 1, vargs, 1, 7, argv, pos, &npos, &help, err, sizeof err),
                   0);
  assert_int_equal(npos, 3);
  assert_string_equal(pos[0], "up");
  assert_string_equal(pos[1], "{a=\"b\"}");
  assert_string_equal(pos[2], "-neg");
  assert_string_equal(out, "csv");
  /* still at least one */
  char *argv2[] = {"series", "-o", "json"};
  assert_int_equal(cli_parse_args(opts, 1, vargs, 1, 3, argv2, pos, &npos, &help, err, sizeof err),
                   PH_EINVAL);
  assert_string_equal(err, "required argument 'match' not provided");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_format_float_f),
      cmocka_unit_test(test_format_float_g),
      cmocka_unit_test(test_format_time_seconds),
      cmocka_unit_test(test_go_duration),
      cmocka_unit_test(test_format_bytes),
      cmocka_unit_test(test_parse_json_time),
      cmocka_unit_test(test_labels_before),
      cmocka_unit_test(test_om_series),
      cmocka_unit_test(test_table),
      cmocka_unit_test(test_counts),
      cmocka_unit_test(test_cardinality),
      cmocka_unit_test(test_args_ok),
      cmocka_unit_test(test_args_errors),
      cmocka_unit_test(test_args_variadic),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
