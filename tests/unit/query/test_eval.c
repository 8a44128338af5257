/*
 * test_eval.c - unit tests for the PromQL evaluator beyond the conformance
 * corpus: rate/increase/delta extrapolation edge cases, histogram_quantile
 * edge cases (missing +Inf bucket, q outside [0,1], NaN, non-monotonic
 * buckets, the +Inf bucket), limits (max samples, timeout), result shapes
 * and order, error types, and promql_parse_selector.
 *
 * Each test builds a fresh TSDB in a temporary directory, appends samples
 * through the appender and queries it through promql.h only.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "labels.h"
#include "mem.h"
#include "ph_error.h"
#include "promql.h"
#include "tsdb.h"

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct fx {
  char dir[64];
  tsdb_t *db;
  tsdb_appender_t *app;
  promql_engine_t *eng;
} fx_t;

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *f) {
  (void)sb;
  (void)flag;
  (void)f;
  return remove(p);
}

static int setup(void **state) {
  fx_t *f = ph_calloc(1, sizeof(*f));
  snprintf(f->dir, sizeof(f->dir), "/tmp/test-eval-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  tsdb_options_t o;
  tsdb_options_default(&o);
  o.path = f->dir;
  o.retention_ms = 0;
  o.no_background = true;
  o.ooo_window_ms = INT64_C(1) << 50;
  o.block_range_ms = INT64_C(1) << 50;
  char err[256];
  assert_int_equal(tsdb_open(&o, &f->db, err, sizeof(err)), 0);
  f->eng = promql_engine_new(NULL);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx_t *f = *state;
  if (f->app) tsdb_appender_rollback(f->app);
  promql_engine_free(f->eng);
  tsdb_close(f->db);
  nftw(f->dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
  free(f);
  return 0;
}

/* add(f, "name", "k1", "v1", ..., NULL, t, v) */
static void add(fx_t *f, int64_t t, double v, const char *name, ...) {
  label_t pairs[8];
  size_t n = 0;
  pairs[n++] = (label_t){"__name__", name};
  va_list ap;
  va_start(ap, name);
  const char *k;
  while ((k = va_arg(ap, const char *)) != NULL && n < 8) {
    pairs[n].name = k;
    pairs[n].value = va_arg(ap, const char *);
    n++;
  }
  va_end(ap);
  char err[128];
  labels_t *ls = labels_new(NULL, pairs, n, err, sizeof(err));
  assert_non_null(ls);
  if (!f->app) f->app = tsdb_appender_new(f->db);
  assert_int_equal(tsdb_append(f->app, ls, t, v, NULL), 0);
  labels_free(ls);
}

static void commit(fx_t *f) {
  char err[128];
  if (f->app) assert_int_equal(tsdb_appender_commit(f->app, err, sizeof(err)), 0);
  f->app = NULL;
}

static promql_result_t *query_at(fx_t *f, const char *q, int64_t t,
                                 promql_eval_error_t *err, int *rc) {
  commit(f);
  promql_error_t pe;
  promql_expr_t *e = promql_parse(q, strlen(q), &pe);
  if (!e) fail_msg("parse %s: %s", q, pe.msg);
  promql_result_t *r = NULL;
  *rc = promql_eval_instant(f->eng, f->db, e, t, &r, err);
  promql_expr_free(e);
  return r;
}

/* Single-value instant query; returns NAN-with-flag via *n (#series). */
static double scalar_of(fx_t *f, const char *q, int64_t t, size_t *n) {
  promql_eval_error_t err;
  int rc;
  promql_result_t *r = query_at(f, q, t, &err, &rc);
  if (rc != 0) fail_msg("%s: %s", q, err.msg);
  double v = NAN;
  if (promql_result_type(r) == PROMQL_RESULT_SCALAR) {
    v = promql_result_scalar(r, NULL);
    *n = 1;
  } else {
    *n = promql_result_len(r);
    if (*n > 0) {
      const double *vs;
      promql_result_points(r, 0, NULL, &vs);
      v = vs[0];
    }
  }
  promql_result_free(r);
  return v;
}

static void assert_close(double got, double want) {
  if (isnan(want)) {
    assert_true(isnan(got));
  } else if (isinf(want)) {
    assert_true(got == want);
  } else if (fabs(got - want) > 1e-9 * fmax(1, fabs(want))) {
    fail_msg("got %.17g want %.17g", got, want);
  }
}

/* --- rate / increase / delta ------------------------------------------------ */

static void test_rate_aligned_window(void **state) {
  fx_t *f = *state;
  for (int i = 0; i <= 6; i++) add(f, i * 10000, i * 10, "a_total", NULL);
  size_t n;
  /* (0, 60s]: 10..60; first sample 10s after the start: extrapolated all
   * the way (within 1.1 x the 10s spacing): 50 * 60/50. */
  assert_close(scalar_of(f, "increase(a_total[1m])", 60000, &n), 60);
  assert_int_equal(n, 1);
  assert_close(scalar_of(f, "rate(a_total[1m])", 60000, &n), 1.0);
  /* The left-open window excludes the sample at exactly t-1m. */
  assert_close(scalar_of(f, "count_over_time(a_total[1m])", 60000, &n), 6);
}

static void test_rate_zero_point_clamp(void **state) {
  fx_t *f = *state;
  for (int i = 1; i <= 6; i++) add(f, i * 10000, 1 + (i - 1) * 10, "b_total", NULL);
  size_t n;
  /* 50 over 50s; extrapolating 10s back would go below zero: the counter
   * is taken to start at 1s before the first sample (1 / (50/50s)). */
  assert_close(scalar_of(f, "increase(b_total[1m])", 60000, &n), 51);
  assert_close(scalar_of(f, "rate(b_total[1m])", 60000, &n), 51.0 / 60);
}

static void test_rate_series_starts_in_window(void **state) {
  fx_t *f = *state;
  add(f, 40000, 0, "c_total", NULL);
  add(f, 50000, 10, "c_total", NULL);
  add(f, 60000, 20, "c_total", NULL);
  size_t n;
  /* Counter starting at 0: no extrapolation before the first sample. */
  assert_close(scalar_of(f, "increase(c_total[1m])", 60000, &n), 20);
  /* delta does not clamp: half a spacing (5s) before the first sample. */
  assert_close(scalar_of(f, "delta(c_total[1m])", 60000, &n), 25);
}

static void test_rate_counter_reset(void **state) {
  fx_t *f = *state;
  double v[] = {10, 20, 5, 15};
  for (int i = 0; i < 4; i++) add(f, 30000 + i * 10000, v[i], "d_total", NULL);
  size_t n;
  /* 15-10 plus 20 lost at the reset = 25 over 30s, extended 5s back. */
  assert_close(scalar_of(f, "increase(d_total[1m])", 60000, &n), 25.0 * 35 / 30);
  assert_close(scalar_of(f, "resets(d_total[1m])", 60000, &n), 1);
  assert_close(scalar_of(f, "irate(d_total[1m])", 60000, &n), 1.0);
  assert_close(scalar_of(f, "idelta(d_total[1m])", 60000, &n), 10);
}

static void test_rate_too_few_samples(void **state) {
  fx_t *f = *state;
  add(f, 50000, 3, "e_total", NULL);
  size_t n;
  scalar_of(f, "rate(e_total[1m])", 60000, &n);
  assert_int_equal(n, 0);
  scalar_of(f, "irate(e_total[1m])", 60000, &n);
  assert_int_equal(n, 0);
  assert_close(scalar_of(f, "changes(e_total[1m])", 60000, &n), 0);
  assert_int_equal(n, 1);
}

static void test_rate_drops_name_and_notes_non_counter(void **state) {
  fx_t *f = *state;
  add(f, 0, 1, "gauge", "job", "x", NULL);
  add(f, 30000, 2, "gauge", "job", "x", NULL);
  promql_eval_error_t err;
  int rc;
  promql_result_t *r = query_at(f, "rate(gauge[1m])", 30000, &err, &rc);
  assert_int_equal(rc, 0);
  assert_int_equal(promql_result_len(r), 1);
  assert_null(labels_get(promql_result_labels(r, 0), "__name__"));
  assert_string_equal(labels_get(promql_result_labels(r, 0), "job"), "x");
  const char *const *msgs;
  assert_int_equal(promql_result_infos(r, &msgs), 1);
  assert_string_equal(msgs[0],
                      "PromQL info: metric might not be a counter, name does not "
                      "end in _total/_sum/_count/_bucket: \"gauge\" (1:6)");
  promql_result_free(r);
}

/* --- histogram_quantile ------------------------------------------------------ */

static void load_hist(fx_t *f, const char *name, const char **les,
                      const double *counts, int n) {
  for (int i = 0; i < n; i++) add(f, 0, counts[i], name, "le", les[i], NULL);
}

static void test_hq_interpolation(void **state) {
  fx_t *f = *state;
  const char *les[] = {"1", "2", "+Inf"};
  double c[] = {10, 20, 20};
  load_hist(f, "h_bucket", les, c, 3);
  size_t n;
  assert_close(scalar_of(f, "histogram_quantile(0.5, h_bucket)", 0, &n), 1);
  assert_close(scalar_of(f, "histogram_quantile(0.75, h_bucket)", 0, &n), 1.5);
  assert_close(scalar_of(f, "histogram_quantile(1, h_bucket)", 0, &n), 2);
  assert_close(scalar_of(f, "histogram_quantile(0, h_bucket)", 0, &n), 0);
  assert_close(scalar_of(f, "histogram_quantile(-1, h_bucket)", 0, &n), -INFINITY);
  assert_close(scalar_of(f, "histogram_quantile(2, h_bucket)", 0, &n), INFINITY);
  assert_close(scalar_of(f, "histogram_quantile(NaN, h_bucket)", 0, &n), NAN);
  promql_eval_error_t err;
  int rc;
  promql_result_t *r = query_at(f, "histogram_quantile(NaN, h_bucket)", 0, &err, &rc);
  const char *const *msgs;
  assert_int_equal(promql_result_warnings(r, &msgs), 1);
  assert_string_equal(msgs[0],
                      "PromQL warning: quantile value should be between 0 and 1, "
                      "got NaN (1:20)");
  /* The result drops the name and le. */
  assert_int_equal(labels_len(promql_result_labels(r, 0)), 0);
  promql_result_free(r);
}

static void test_hq_edge_buckets(void **state) {
  fx_t *f = *state;
  const char *l1[] = {"1", "2"}; /* no +Inf bucket */
  double c1[] = {1, 2};
  load_hist(f, "noinf_bucket", l1, c1, 2);
  const char *l2[] = {"1", "+Inf"};
  double c2[] = {10, 20};
  load_hist(f, "inf_bucket", l2, c2, 2);
  const char *l3[] = {"1", "+Inf"};
  double c3[] = {0, 0};
  load_hist(f, "zero_bucket", l3, c3, 2);
  const char *l4[] = {"-1", "+Inf"};
  double c4[] = {5, 10};
  load_hist(f, "neg_bucket", l4, c4, 2);
  size_t n;
  assert_close(scalar_of(f, "histogram_quantile(0.5, noinf_bucket)", 0, &n), NAN);
  /* In the +Inf bucket: the second-highest bound. */
  assert_close(scalar_of(f, "histogram_quantile(0.9, inf_bucket)", 0, &n), 1);
  assert_close(scalar_of(f, "histogram_quantile(0.5, zero_bucket)", 0, &n), NAN);
  /* Lowest bucket with a bound <= 0: that bound. */
  assert_close(scalar_of(f, "histogram_quantile(0.2, neg_bucket)", 0, &n), -1);
}

static void test_hq_non_monotonic(void **state) {
  fx_t *f = *state;
  const char *les[] = {"1", "2", "+Inf"};
  double c[] = {10, 5, 20};
  load_hist(f, "nm_bucket", les, c, 3);
  promql_eval_error_t err;
  int rc;
  promql_result_t *r = query_at(f, "histogram_quantile(0.5, nm_bucket)", 0, &err, &rc);
  assert_int_equal(rc, 0);
  const double *vs;
  promql_result_points(r, 0, NULL, &vs);
  assert_close(vs[0], 1);
  const char *const *msgs;
  assert_int_equal(promql_result_infos(r, &msgs), 1);
  assert_non_null(strstr(msgs[0], "needed to be fixed for monotonicity"));
  promql_result_free(r);
}

static void test_hq_bad_le(void **state) {
  fx_t *f = *state;
  add(f, 0, 1, "bad_bucket", "le", "x", NULL);
  promql_eval_error_t err;
  int rc;
  promql_result_t *r = query_at(f, "histogram_quantile(0.5, bad_bucket)", 0, &err, &rc);
  assert_int_equal(rc, 0);
  assert_int_equal(promql_result_len(r), 0);
  const char *const *msgs;
  assert_int_equal(promql_result_warnings(r, &msgs), 1);
  assert_non_null(strstr(msgs[0], "malformed value of \"x\" for metric name \"bad_bucket\""));
  promql_result_free(r);
}

/* --- Limits ------------------------------------------------------------------- */

static void test_max_samples(void **state) {
  fx_t *f = *state;
  char v[8];
  for (int i = 0; i < 20; i++) {
    snprintf(v, sizeof(v), "%d", i);
    add(f, 0, i, "many", "i", v, NULL);
  }
  commit(f);
  promql_engine_opts_t o = {.lookback_ms = 0, .timeout_ms = 0, .max_samples = 10};
  promql_engine_t *eng = promql_engine_new(&o);
  promql_expr_t *e = promql_parse("many", 4, NULL);
  promql_result_t *r = NULL;
  promql_eval_error_t err;
  assert_int_equal(promql_eval_instant(eng, f->db, e, 0, &r, &err), PH_ELIMIT);
  assert_null(r);
  assert_string_equal(err.error_type, "execution");
  assert_string_equal(err.msg,
                      "query processing would load too many samples into memory "
                      "in query execution");
  promql_expr_free(e);
  /* Under the limit it succeeds. */
  e = promql_parse("sum(many)", 9, NULL);
  o.max_samples = 100;
  promql_engine_free(eng);
  eng = promql_engine_new(&o);
  assert_int_equal(promql_eval_instant(eng, f->db, e, 0, &r, &err), 0);
  promql_result_free(r);
  promql_expr_free(e);
  promql_engine_free(eng);
}

static void test_timeout(void **state) {
  fx_t *f = *state;
  char v[8];
  for (int t = 0; t < 400; t++) {
    for (int i = 0; i < 50; i++) {
      snprintf(v, sizeof(v), "%d", i);
      add(f, (int64_t)t * 15000, t, "big_total", "i", v, NULL);
    }
  }
  commit(f);
  promql_engine_opts_t o = {.lookback_ms = 0, .timeout_ms = 1, .max_samples = 0};
  promql_engine_t *eng = promql_engine_new(&o);
  const char *q = "sum by (i) (rate(big_total[5m])) * on(i) group_left "
                  "avg_over_time(big_total[10m])";
  promql_expr_t *e = promql_parse(q, strlen(q), NULL);
  assert_non_null(e);
  promql_result_t *r = NULL;
  promql_eval_error_t err;
  int rc = promql_eval_range(eng, f->db, e, 0, 400 * 15000, 100, &r, &err);
  assert_int_equal(rc, PH_ETIMEOUT);
  assert_null(r);
  assert_string_equal(err.error_type, "timeout");
  assert_string_equal(err.msg, "query timed out in expression evaluation");
  promql_expr_free(e);
  promql_engine_free(eng);
}

/* --- Shapes, order, errors ----------------------------------------------------- */

static void test_result_shapes(void **state) {
  fx_t *f = *state;
  for (int i = 0; i < 5; i++) {
    add(f, i * 60000, i, "m", "k", "b", NULL);
    add(f, i * 60000, 10 - i, "m", "k", "a", NULL);
  }
  promql_eval_error_t err;
  int rc;
  /* scalar */
  promql_result_t *r = query_at(f, "1 + 2", 5000, &err, &rc);
  assert_int_equal(promql_result_type(r), PROMQL_RESULT_SCALAR);
  int64_t t;
  assert_close(promql_result_scalar(r, &t), 3);
  assert_int_equal(t, 5000);
  promql_result_free(r);
  /* string */
  r = query_at(f, "\"hi\"", 0, &err, &rc);
  assert_int_equal(promql_result_type(r), PROMQL_RESULT_STRING);
  assert_string_equal(promql_result_string(r, NULL), "hi");
  promql_result_free(r);
  /* sort_desc keeps its order in an instant vector */
  r = query_at(f, "sort_desc(m)", 240000, &err, &rc);
  assert_int_equal(promql_result_type(r), PROMQL_RESULT_VECTOR);
  assert_int_equal(promql_result_len(r), 2);
  assert_string_equal(labels_get(promql_result_labels(r, 0), "k"), "a");
  const int64_t *ts;
  const double *vs;
  assert_int_equal(promql_result_points(r, 1, &ts, &vs), 1);
  assert_int_equal(ts[0], 240000);
  assert_close(vs[0], 4);
  promql_result_free(r);
  r = query_at(f, "sort(m)", 240000, &err, &rc);
  assert_string_equal(labels_get(promql_result_labels(r, 0), "k"), "b");
  promql_result_free(r);
  /* a range selector gives a matrix with raw samples in (t-2m, t] */
  r = query_at(f, "m{k=\"b\"}[2m]", 240000, &err, &rc);
  assert_int_equal(promql_result_type(r), PROMQL_RESULT_MATRIX);
  assert_int_equal(promql_result_points(r, 0, &ts, &vs), 2);
  assert_int_equal(ts[0], 180000);
  promql_result_free(r);
  /* range query: sorted by labels, one point per step */
  promql_expr_t *e = promql_parse("m * 2", 5, NULL);
  assert_int_equal(promql_eval_range(f->eng, f->db, e, 0, 240000, 60000, &r, &err), 0);
  assert_int_equal(promql_result_type(r), PROMQL_RESULT_MATRIX);
  assert_int_equal(promql_result_len(r), 2);
  assert_string_equal(labels_get(promql_result_labels(r, 0), "k"), "a");
  assert_int_equal(promql_result_points(r, 0, &ts, &vs), 5);
  assert_close(vs[4], 12);
  assert_true(promql_result_samples_total(r) >= 10);
  promql_result_free(r);
  promql_expr_free(e);
  /* a range query of a range vector is bad_data */
  e = promql_parse("m[1m]", 5, NULL);
  assert_int_equal(promql_eval_range(f->eng, f->db, e, 0, 60000, 1000, &r, &err),
                   PH_EINVAL);
  assert_string_equal(err.error_type, "bad_data");
  promql_expr_free(e);
}

static void test_execution_errors(void **state) {
  fx_t *f = *state;
  add(f, 0, 1, "x", "job", "a", "i", "1", NULL);
  add(f, 0, 2, "x", "job", "a", "i", "2", NULL);
  add(f, 0, 3, "y", "job", "a", NULL);
  add(f, 0, 4, "z", "job", "a", NULL);
  promql_eval_error_t err;
  int rc;
  promql_result_t *r = query_at(f, "y + on(job) x", 0, &err, &rc);
  assert_int_equal(rc, PH_EINVAL);
  assert_null(r);
  assert_string_equal(err.error_type, "execution");
  assert_string_equal(
      err.msg,
      "found duplicate series for the match group {job=\"a\"} on the right "
      "hand-side of the operation: [{__name__=\"x\", i=\"2\", job=\"a\"}, "
      "{__name__=\"x\", i=\"1\", job=\"a\"}];many-to-many matching not allowed: "
      "matching labels must be unique on one side");
  r = query_at(f, "x + on(job) group_left y", 0, &err, &rc);
  assert_int_equal(rc, 0);
  assert_int_equal(promql_result_len(r), 2);
  promql_result_free(r);
  /* Dropping the name makes y and z collide. */
  r = query_at(f, "-{__name__=~\"y|z\"}", 0, &err, &rc);
  assert_int_equal(rc, PH_EINVAL);
  assert_string_equal(err.msg, "vector cannot contain metrics with the same labelset");
  r = query_at(f, "topk(NaN, x)", 0, &err, &rc);
  assert_int_equal(rc, PH_EINVAL);
  assert_string_equal(err.msg, "Parameter value is NaN");
  r = query_at(f, "label_replace(x, \"a-b\\xff\", \"\", \"i\", \"(.*)\")", 0, &err, &rc);
  assert_int_equal(rc, PH_EINVAL);
  r = query_at(f, "label_replace(x, \"dst\", \"$1\", \"i\", \"(.*\")", 0, &err, &rc);
  assert_int_equal(rc, PH_EINVAL);
  assert_string_equal(err.msg, "invalid regular expression in label_replace(): (.*");
  r = query_at(f, "label_replace(x, \"dst\", \"v$1-${1}$$\", \"i\", \"(.*)\")", 0, &err,
               &rc);
  assert_int_equal(rc, 0);
  assert_string_equal(labels_get(promql_result_labels(r, 0), "dst"), "v1-1$");
  promql_result_free(r);
}

/* --- promql_parse_selector ------------------------------------------------------- */

static void test_parse_selector(void **state) {
  (void)state;
  promql_selector_t *s;
  promql_error_t err;
  const char *q = "up{job=\"node\", instance=~\"a.*\"}";
  assert_int_equal(promql_parse_selector(q, strlen(q), &s, &err), 0);
  const tsdb_matcher_t *m;
  size_t n = promql_selector_matchers(s, &m);
  assert_int_equal(n, 3);
  bool saw_name = false, saw_re = false;
  for (size_t i = 0; i < n; i++) {
    if (strcmp(m[i].name, "__name__") == 0) {
      saw_name = m[i].type == TSDB_MATCH_EQ && strcmp(m[i].value, "up") == 0;
    }
    if (strcmp(m[i].name, "instance") == 0) {
      saw_re = m[i].type == TSDB_MATCH_RE && strcmp(m[i].value, "a.*") == 0;
    }
  }
  assert_true(saw_name);
  assert_true(saw_re);
  promql_selector_free(s);

  q = "{__name__=~\"node_.+\"}";
  assert_int_equal(promql_parse_selector(q, strlen(q), &s, &err), 0);
  assert_int_equal(promql_selector_matchers(s, &m), 1);
  assert_int_equal(m[0].type, TSDB_MATCH_RE);
  promql_selector_free(s);

  const char *bad[] = {"rate(x[5m])", "x[5m]", "x offset 5m", "x @ 10",
                       "x{", "1", "{}", ""};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    s = NULL;
    assert_int_equal(promql_parse_selector(bad[i], strlen(bad[i]), &s, &err),
                     PH_EPARSE);
    assert_null(s);
    assert_non_null(strstr(err.msg, "parse error"));
  }
}

/* --- Window cursors, shared selections, sample blocks ------------------------ */

static bool same_value(double a, double b) {
  return (isnan(a) && isnan(b)) || a == b;
}

/* A range query must give, at every step, exactly what an instant query at
 * that time gives: the range loop moves per-series cursors forward (a few
 * samples, or galloping over long jumps), an instant query starts from
 * scratch. */
static void check_range_vs_instant(fx_t *f, const char *q, int64_t start, int64_t end,
                                   int64_t step) {
  commit(f);
  promql_error_t pe;
  promql_expr_t *e = promql_parse(q, strlen(q), &pe);
  if (!e) fail_msg("parse %s: %s", q, pe.msg);
  promql_result_t *rr;
  promql_eval_error_t err;
  if (promql_eval_range(f->eng, f->db, e, start, end, step, &rr, &err) != 0)
    fail_msg("%s: %s", q, err.msg);
  size_t npoints = 0;
  for (size_t i = 0; i < promql_result_len(rr); i++)
    npoints += promql_result_points(rr, i, NULL, NULL);
  size_t ninstant = 0;
  for (int64_t t = start; t <= end; t += step) {
    promql_result_t *ri;
    if (promql_eval_instant(f->eng, f->db, e, t, &ri, &err) != 0)
      fail_msg("%s at %lld: %s", q, (long long)t, err.msg);
    if (promql_result_type(ri) == PROMQL_RESULT_SCALAR) {
      int64_t st;
      double v = promql_result_scalar(ri, &st);
      const int64_t *ts;
      const double *vs;
      size_t n = promql_result_points(rr, 0, &ts, &vs);
      size_t k = (size_t)((t - start) / step);
      assert_true(k < n && ts[k] == t);
      if (!same_value(vs[k], v)) fail_msg("%s at %lld: range %.17g instant %.17g", q, (long long)t, vs[k], v);
      ninstant++;
      promql_result_free(ri);
      continue;
    }
    for (size_t j = 0; j < promql_result_len(ri); j++) {
      const labels_t *ls = promql_result_labels(ri, j);
      const double *iv;
      promql_result_points(ri, j, NULL, &iv);
      bool found = false;
      for (size_t i = 0; i < promql_result_len(rr) && !found; i++) {
        if (!labels_equal(promql_result_labels(rr, i), ls)) continue;
        const int64_t *ts;
        const double *vs;
        size_t n = promql_result_points(rr, i, &ts, &vs);
        for (size_t k = 0; k < n; k++) {
          if (ts[k] != t) continue;
          if (!same_value(vs[k], iv[0]))
            fail_msg("%s at %lld: range %.17g instant %.17g", q, (long long)t, vs[k], iv[0]);
          found = true;
          break;
        }
      }
      if (!found) fail_msg("%s at %lld: instant series %zu missing from the range result", q,
                           (long long)t, j);
      ninstant++;
    }
    promql_result_free(ri);
  }
  if (npoints != ninstant)
    fail_msg("%s: range query has %zu points, instant queries %zu", q, npoints, ninstant);
  promql_result_free(rr);
  promql_expr_free(e);
}

static void test_range_steps_match_instant(void **state) {
  fx_t *f = *state;
  /* Three counters, 12.5 h of 15 s samples with jitter; one has a gap of
   * 20 minutes, one a staleness marker and a restart. */
  for (int k = 0; k < 3000; k++) {
    int64_t t = (int64_t)k * 15000 + (k * 7919) % 5000;
    add(f, t, k * 1.5, "c", "i", "0", NULL);
    if (k < 1000 || k >= 1080) add(f, t + 1000, k * 2.0, "c", "i", "1", NULL);
    if (k == 2000) add(f, t + 2000, tsdb_stale_nan(), "c", "i", "2", NULL);
    else add(f, t + 2000, k > 2000 ? (k - 2000) * 3.0 : k * 3.0, "c", "i", "2", NULL);
  }
  static const char *const qs[] = {
      "c",
      "rate(c[5m])",
      "max_over_time(c[1m])",
      "c offset 7m",
      "rate(c[2m] @ 3600)",
      "c + on (i) c",                      /* one selection for both sides */
      "count_over_time(c[10m]) + c",        /* range and instant: not shared */
      "sum(rate(c[5m])) / count(c)",
      "max_over_time(rate(c[2m])[20m:1m])", /* a subquery's own loop */
  };
  for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
    check_range_vs_instant(f, qs[i], 14400000 + 333, 14400000 + 333 + 3600000, 15000);
    check_range_vs_instant(f, qs[i], 0, 45000000, 600000);   /* 40 samples a step */
    check_range_vs_instant(f, qs[i], 1000, 45000000, 3600000); /* 240 samples a step */
  }
}

/* Decoded samples go into blocks of 262144 samples reused across queries:
 * one series longer than a block, series crossing a block's end, and the
 * same queries again on reused blocks. */
static void test_large_selections(void **state) {
  fx_t *f = *state;
  for (int k = 0; k < 300000; k++) add(f, (int64_t)k * 1000, k, "big", NULL);
  for (int k = 0; k < 100000; k++) {
    add(f, (int64_t)k * 1000, k, "s", "i", "0", NULL);
    add(f, (int64_t)k * 1000, 2.0 * k, "s", "i", "1", NULL);
    add(f, (int64_t)k * 1000, 3.0 * k, "s", "i", "2", NULL);
  }
  size_t n;
  for (int round = 0; round < 2; round++) {
    assert_close(scalar_of(f, "count_over_time(big[1y])", 400000000, &n), 300000);
    assert_close(scalar_of(f, "sum_over_time(big[1y])", 400000000, &n), 299999.0 * 300000 / 2);
    assert_close(scalar_of(f, "max_over_time(big[1y])", 400000000, &n), 299999);
    assert_close(scalar_of(f, "min_over_time(big[1y])", 400000000, &n), 0);
    assert_close(scalar_of(f, "sum(count_over_time(s[1y]))", 400000000, &n), 300000);
    for (int i = 0; i < 3; i++) {
      char q[96];
      snprintf(q, sizeof q, "sum_over_time(s{i=\"%d\"}[1y]) + count_over_time(big[1y])", i);
      assert_close(scalar_of(f, q, 400000000, &n), (i + 1) * 99999.0 * 100000 / 2 + 300000);
      snprintf(q, sizeof q, "min_over_time(s{i=\"%d\"}[1y])", i);
      assert_close(scalar_of(f, q, 400000000, &n), 0);
      snprintf(q, sizeof q, "max_over_time(s{i=\"%d\"}[1y])", i);
      assert_close(scalar_of(f, q, 400000000, &n), (i + 1) * 99999.0);
    }
    /* Every sample of every series, in order, through a range query. */
    promql_expr_t *e = promql_parse("s", 1, NULL);
    promql_result_t *r;
    promql_eval_error_t err;
    assert_int_equal(promql_eval_range(f->eng, f->db, e, 0, 99999000, 1000, &r, &err), 0);
    assert_int_equal(promql_result_len(r), 3);
    for (size_t i = 0; i < 3; i++) {
      const int64_t *ts;
      const double *vs;
      assert_int_equal(promql_result_points(r, i, &ts, &vs), 100000);
      for (size_t k = 0; k < 100000; k += 997) {
        assert_int_equal(ts[k], (int64_t)k * 1000);
        assert_close(vs[k], (double)(i + 1) * (double)k);
      }
    }
    promql_result_free(r);
    promql_expr_free(e);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_rate_aligned_window, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rate_zero_point_clamp, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rate_series_starts_in_window, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_rate_counter_reset, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rate_too_few_samples, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rate_drops_name_and_notes_non_counter,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_hq_interpolation, setup, teardown),
      cmocka_unit_test_setup_teardown(test_hq_edge_buckets, setup, teardown),
      cmocka_unit_test_setup_teardown(test_hq_non_monotonic, setup, teardown),
      cmocka_unit_test_setup_teardown(test_hq_bad_le, setup, teardown),
      cmocka_unit_test_setup_teardown(test_max_samples, setup, teardown),
      cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
      cmocka_unit_test_setup_teardown(test_result_shapes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_execution_errors, setup, teardown),
      cmocka_unit_test(test_parse_selector),
      cmocka_unit_test_setup_teardown(test_range_steps_match_instant, setup, teardown),
      cmocka_unit_test_setup_teardown(test_large_selections, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
