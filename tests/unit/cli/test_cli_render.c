/*
 * test_cli_render.c - unit tests for pharosctl's result output
 * (cli/render.c): display width, chart width from $COLUMNS, RFC 4180 CSV
 * quoting, sparklines (one column per step, merged steps, gaps, NaN,
 * constant series, infinities, points off the grid), series statistics,
 * and the exact table, CSV and JSON renderings of scalar, string, vector
 * and matrix results.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "cli.h"

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

/* A series of n points t0, t0 + dt, ... with values v[]. */
static cli_series_t *add(cli_result_t *r, labels_t *ls, int64_t t0, int64_t dt, const double *v,
                         size_t n) {
  cli_series_t *s = cli_result_add_series(r, ls);
  for (size_t i = 0; i < n; i++) cli_series_add_point(s, t0 + (int64_t)i * dt, v[i]);
  return s;
}

/* ---- small helpers ------------------------------------------------------------- */

static void test_text_width(void **state) {
  (void)state;
  assert_int_equal(cli_text_width(""), 0);
  assert_int_equal(cli_text_width("abc"), 3);
  assert_int_equal(cli_text_width("caf\xc3\xa9"), 4);
  assert_int_equal(cli_text_width("\u2581\u2588 x"), 4);
}

static void test_chart_width(void **state) {
  (void)state;
  assert_int_equal(cli_chart_width(NULL, 30), 60);
  assert_int_equal(cli_chart_width("", 30), 60);
  assert_int_equal(cli_chart_width("wide", 30), 60);
  assert_int_equal(cli_chart_width("80x", 30), 60);
  assert_int_equal(cli_chart_width("0", 30), 60);
  assert_int_equal(cli_chart_width("-5", 30), 60);
  assert_int_equal(cli_chart_width("100", 30), 70);
  assert_int_equal(cli_chart_width("41", 30), 11);
  assert_int_equal(cli_chart_width("40", 30), 10); /* the minimum */
  assert_int_equal(cli_chart_width("20", 30), 10); /* narrower than the text */
}

static void test_csv(void **state) {
  (void)state;
  strbuf_t b = STRBUF_INIT;
  const char *row[] = {"plain", "a,b", "say \"hi\"", "", "two\nlines", "cr\r", "{x=\"1\"}"};
  cli_csv_row(&b, row, 7);
  assert_string_equal(strbuf_cstr(&b), "plain,\"a,b\",\"say \"\"hi\"\"\",,\"two\nlines\","
                                       "\"cr\r\",\"{x=\"\"1\"\"}\"\r\n");
  strbuf_reset(&b);
  cli_csv_field(&b, "no quoting needed: spaces ; tabs\t");
  assert_string_equal(strbuf_cstr(&b), "no quoting needed: spaces ; tabs\t");
  strbuf_free(&b);
}

/* ---- sparklines ------------------------------------------------------------------ */

static void expect_spark(const double *v, const int64_t *t, size_t n, cli_range_t g,
                         size_t width, const char *want, size_t want_cols) {
  cli_result_t r;
  cli_result_init(&r, CLI_RESULT_MATRIX);
  cli_series_t *s = cli_result_add_series(&r, labels_empty());
  for (size_t i = 0; i < n; i++) cli_series_add_point(s, t[i], v[i]);
  strbuf_t b = STRBUF_INIT;
  strbuf_puts(&b, "");
  assert_int_equal(cli_sparkline(s, &g, width, &b), want_cols);
  assert_string_equal(strbuf_cstr(&b), want);
  assert_int_equal(cli_text_width(b.data), want_cols);
  strbuf_free(&b);
  cli_result_free(&r);
}

static void test_sparkline(void **state) {
  (void)state;
  double v[10];
  int64_t t[10];
  for (int i = 0; i < 10; i++) {
    v[i] = i;
    t[i] = i * 1000;
  }
  cli_range_t g10 = {0, 9000, 1000};
  assert_int_equal(cli_range_steps(&g10), 10);
  /* one column per step, scaled to the series' own min..max */
  expect_spark(v, t, 10, g10, 60, "\u2581\u2582\u2583\u2583\u2584\u2585\u2586\u2586\u2587\u2588",
               10);
  /* ten steps in five columns: each the mean of two (0.5 2.5 4.5 6.5 8.5) */
  expect_spark(v, t, 10, g10, 5, "\u2581\u2583\u2585\u2586\u2588", 5);
  /* ten steps in three columns: steps 0-3, 4-6, 7-9 (means 1.5, 5, 8) */
  expect_spark(v, t, 10, g10, 3, "\u2582\u2585\u2587", 3);

  /* gaps: a missing step and a NaN are blanks, also at the end */
  double gv[] = {1, NAN, 3};
  int64_t gt[] = {0, 1000, 3000};
  expect_spark(gv, gt, 3, (cli_range_t){0, 4000, 1000}, 60, "\u2581  \u2588 ", 5);
  /* a constant series draws the lowest level */
  double fv[] = {5, 5, 5};
  int64_t ft[] = {0, 1000, 2000};
  expect_spark(fv, ft, 3, (cli_range_t){0, 2000, 1000}, 60, "\u2581\u2581\u2581", 3);
  /* infinities: +Inf is the top, -Inf the bottom, the finite values scale */
  double iv[] = {1, INFINITY, 3, -INFINITY};
  int64_t it[] = {0, 1000, 2000, 3000};
  expect_spark(iv, it, 4, (cli_range_t){0, 3000, 1000}, 60, "\u2581\u2588\u2588\u2581", 4);
  /* points off the grid go to the nearest step; outside the range they are
   * dropped, and do not count for the scale */
  double ov[] = {0, 10, 20, 99};
  int64_t ot[] = {-5000, 1400, 2600, 9000};
  expect_spark(ov, ot, 4, (cli_range_t){0, 3000, 1000}, 60, " \u2581 \u2588", 4);
  /* only NaN: all blank */
  double nv[] = {NAN, NAN};
  int64_t nt[] = {0, 1000};
  expect_spark(nv, nt, 2, (cli_range_t){0, 1000, 1000}, 60, "  ", 2);
  /* an empty grid or no room draws nothing */
  expect_spark(v, t, 10, (cli_range_t){0, 9000, 0}, 60, "", 0);
  expect_spark(v, t, 10, (cli_range_t){9000, 0, 1000}, 60, "", 0);
  expect_spark(v, t, 10, g10, 0, "", 0);
}

static void test_stats(void **state) {
  (void)state;
  cli_result_t r;
  cli_result_init(&r, CLI_RESULT_MATRIX);
  double v[] = {NAN, 4, -2, INFINITY, 3, NAN};
  cli_series_t *s = add(&r, labels_empty(), 0, 1000, v, 6);
  cli_series_stats_t st;
  cli_series_stats(s, &st);
  assert_int_equal(st.count, 4);
  assert_true(st.min == -2);
  assert_true(st.max == INFINITY);
  assert_true(st.last == 3);
  assert_true(st.fmin == -2);
  assert_true(st.fmax == 4);
  double nv[] = {NAN};
  s = add(&r, labels_empty(), 0, 1000, nv, 1);
  cli_series_stats(s, &st);
  assert_int_equal(st.count, 0);
  assert_true(isnan(st.min) && isnan(st.max) && isnan(st.last));
  cli_result_free(&r);
}

/* ---- tables ------------------------------------------------------------------------ */

static void expect_table(const cli_result_t *r, const cli_range_t *g, const char *columns,
                         const char *want) {
  strbuf_t b = STRBUF_INIT;
  cli_render_table(r, g, columns, &b);
  assert_string_equal(strbuf_cstr(&b), want);
  strbuf_free(&b);
}

static void test_table_instant(void **state) {
  (void)state;
  cli_result_t r;
  cli_result_init(&r, CLI_RESULT_VECTOR);
  label_t a[] = {L("__name__", "temp"), L("room", "a")};
  double v1 = 5, v2 = 7.5, v3 = NAN;
  add(&r, mk(a, 2), 1699999500000, 0, &v1, 1);
  add(&r, labels_empty(), 1699999500500, 0, &v2, 1);
  label_t c[] = {L("room", "caf\xc3\xa9")};
  add(&r, mk(c, 1), 0, 0, &v3, 1);
  expect_table(&r, NULL, NULL,
               "SERIES          VALUE  TIMESTAMP\n"
               "temp{room=\"a\"}  5      2023-11-14T22:05:00.000Z\n"
               "{}              7.5    2023-11-14T22:05:00.500Z\n"
               "{room=\"caf\xc3\xa9\"}   NaN    1970-01-01T00:00:00.000Z\n");
  cli_result_free(&r);

  /* an empty vector is the header alone */
  cli_result_init(&r, CLI_RESULT_VECTOR);
  expect_table(&r, NULL, NULL, "SERIES  VALUE  TIMESTAMP\n");
  cli_result_free(&r);

  cli_result_init(&r, CLI_RESULT_SCALAR);
  r.scalar = 1e-7;
  r.t = 1000;
  expect_table(&r, NULL, NULL,
               "SERIES    VALUE  TIMESTAMP\n"
               "(scalar)  1e-07  1970-01-01T00:00:01.000Z\n");
  cli_result_free(&r);

  cli_result_init(&r, CLI_RESULT_STRING);
  r.str = strdup("hello");
  r.t = 1500;
  expect_table(&r, NULL, NULL,
               "SERIES    VALUE  TIMESTAMP\n"
               "(string)  hello  1970-01-01T00:00:01.500Z\n");
  cli_result_free(&r);

  /* a matrix from an instant query (a range selector): a row per point */
  cli_result_init(&r, CLI_RESULT_MATRIX);
  double mv[] = {1, 2};
  add(&r, mk(a, 2), 60000, 60000, mv, 2);
  expect_table(&r, NULL, NULL,
               "SERIES          VALUE  TIMESTAMP\n"
               "temp{room=\"a\"}  1      1970-01-01T00:01:00.000Z\n"
               "temp{room=\"a\"}  2      1970-01-01T00:02:00.000Z\n");
  cli_result_free(&r);
}

static void test_table_range(void **state) {
  (void)state;
  cli_result_t r;
  cli_result_init(&r, CLI_RESULT_MATRIX);
  label_t a[] = {L("__name__", "up"), L("job", "x")};
  label_t b[] = {L("job", "y")};
  double av[] = {1, 2, 3};
  add(&r, mk(a, 2), 0, 1000, av, 3);
  double bv[] = {1.5, NAN};
  add(&r, mk(b, 1), 0, 2000, bv, 2);
  cli_range_t g = {0, 2000, 1000};
  const char *want = "SERIES       MIN  MAX  LAST  CHART\n"
                     "up{job=\"x\"}  1    3    3     \u2581\u2585\u2588\n"
                     "{job=\"y\"}    1.5  1.5  1.5   \u2581  \n";
  expect_table(&r, &g, NULL, want);
  expect_table(&r, &g, "30", want); /* the minimum width still fits 3 steps */
  cli_result_free(&r);

  /* the chart takes what $COLUMNS leaves: 41 - 29 = 12 columns for 25 steps */
  cli_result_init(&r, CLI_RESULT_MATRIX);
  double many[25];
  for (int i = 0; i < 25; i++) many[i] = i;
  add(&r, mk(a, 2), 0, 1000, many, 25);
  g = (cli_range_t){0, 24000, 1000};
  strbuf_t out = STRBUF_INIT;
  cli_render_table(&r, &g, "41", &out);
  const char *row = strchr(out.data, '\n') + 1;
  assert_memory_equal(row, "up{job=\"x\"}  0    24   24    ", 29);
  assert_int_equal(cli_text_width(row + 29), 12 + 1); /* + the newline */
  strbuf_reset(&out);
  cli_render_table(&r, &g, NULL, &out); /* no $COLUMNS: up to 60, one per step */
  row = strchr(out.data, '\n') + 1;
  assert_int_equal(cli_text_width(row + 29), 25 + 1);
  strbuf_free(&out);
  cli_result_free(&r);

  /* a scalar from a range query has no chart: the instant layout */
  cli_result_init(&r, CLI_RESULT_SCALAR);
  r.scalar = 2;
  expect_table(&r, &g, NULL,
               "SERIES    VALUE  TIMESTAMP\n"
               "(scalar)  2      1970-01-01T00:00:00.000Z\n");
  cli_result_free(&r);
}

/* ---- CSV and JSON ----------------------------------------------------------------------- */

static void expect_csv(const cli_result_t *r, const char *want) {
  strbuf_t b = STRBUF_INIT;
  cli_render_csv(r, &b);
  assert_string_equal(strbuf_cstr(&b), want);
  strbuf_free(&b);
}

static void expect_json(const cli_result_t *r, const char *want) {
  strbuf_t b = STRBUF_INIT;
  cli_render_json(r, &b);
  assert_string_equal(strbuf_cstr(&b), want);
  strbuf_free(&b);
}

static void test_csv_json(void **state) {
  (void)state;
  cli_result_t r;
  cli_result_init(&r, CLI_RESULT_MATRIX);
  label_t a[] = {L("__name__", "m"), L("l", "a,\"b\"")};
  double av[] = {1, INFINITY};
  add(&r, mk(a, 2), 1500, 1000, av, 2);
  double bv[] = {-0.25};
  add(&r, labels_empty(), 3000, 0, bv, 1);
  expect_csv(&r, "series,timestamp,value\r\n"
                 "\"m{l=\"\"a,\\\"\"b\\\"\"\"\"}\",1.500,1\r\n"
                 "\"m{l=\"\"a,\\\"\"b\\\"\"\"\"}\",2.500,+Inf\r\n"
                 "{},3,-0.25\r\n");
  expect_json(&r, "{\"resultType\":\"matrix\",\"result\":["
                  "{\"metric\":{\"__name__\":\"m\",\"l\":\"a,\\\"b\\\"\"},"
                  "\"values\":[[1.500,\"1\"],[2.500,\"+Inf\"]]},"
                  "{\"metric\":{},\"values\":[[3,\"-0.25\"]]}]}");
  r.type = CLI_RESULT_VECTOR; /* the first point of each */
  expect_json(&r, "{\"resultType\":\"vector\",\"result\":["
                  "{\"metric\":{\"__name__\":\"m\",\"l\":\"a,\\\"b\\\"\"},\"value\":[1.500,\"1\"]},"
                  "{\"metric\":{},\"value\":[3,\"-0.25\"]}]}");
  cli_result_free(&r);

  cli_result_init(&r, CLI_RESULT_SCALAR);
  r.scalar = NAN;
  r.t = 1700000000000;
  expect_csv(&r, "series,timestamp,value\r\n,1700000000,NaN\r\n");
  expect_json(&r, "{\"resultType\":\"scalar\",\"result\":[1700000000,\"NaN\"]}");
  cli_result_free(&r);

  cli_result_init(&r, CLI_RESULT_STRING);
  r.str = strdup("a,b");
  r.t = 1;
  expect_csv(&r, "series,timestamp,value\r\n,0.001,\"a,b\"\r\n");
  expect_json(&r, "{\"resultType\":\"string\",\"result\":[0.001,\"a,b\"]}");
  cli_result_free(&r);

  cli_result_init(&r, CLI_RESULT_VECTOR);
  expect_csv(&r, "series,timestamp,value\r\n");
  expect_json(&r, "{\"resultType\":\"vector\",\"result\":[]}");
  cli_result_free(&r);
}

static void test_lists(void **state) {
  (void)state;
  strbuf_t b = STRBUF_INIT;
  const char *items[] = {"a", "b,c"};
  cli_render_list("job", items, 2, false, &b);
  assert_string_equal(strbuf_cstr(&b), "JOB\na\nb,c\n");
  strbuf_reset(&b);
  cli_render_list("job", items, 2, true, &b);
  assert_string_equal(strbuf_cstr(&b), "job\r\na\r\n\"b,c\"\r\n");
  strbuf_reset(&b);
  cli_render_list("label", NULL, 0, false, &b);
  assert_string_equal(strbuf_cstr(&b), "LABEL\n");
  strbuf_reset(&b);

  char *names[] = {"__name__", "job"};
  cli_render_json_strings(names, 2, &b);
  assert_string_equal(strbuf_cstr(&b), "[\"__name__\",\"job\"]");
  strbuf_reset(&b);
  label_t a[] = {L("__name__", "up"), L("job", "x")};
  labels_t *ls[] = {mk(a, 2), labels_empty()};
  cli_render_json_series(ls, 2, &b);
  assert_string_equal(strbuf_cstr(&b), "[{\"__name__\":\"up\",\"job\":\"x\"},{}]");
  labels_free(ls[0]);
  labels_free(ls[1]);
  strbuf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_text_width),    cmocka_unit_test(test_chart_width),
      cmocka_unit_test(test_csv),           cmocka_unit_test(test_sparkline),
      cmocka_unit_test(test_stats),         cmocka_unit_test(test_table_instant),
      cmocka_unit_test(test_table_range),   cmocka_unit_test(test_csv_json),
      cmocka_unit_test(test_lists),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
