/*
 * funcs_eval.c - PromQL function implementations for the step evaluator.
 *
 * ev_call() dispatches on a function id resolved once per node (the
 * parser's table names the functions; this file names what the evaluator
 * implements).  Four shapes:
 *
 *   range-vector functions  rate, increase, delta (Prometheus's
 *                           extrapolation), irate/idelta, deriv and
 *                           predict_linear (Kahan least squares), changes,
 *                           resets and every *_over_time: one output per
 *                           non-empty window; the name is dropped except for
 *                           first/last_over_time; two input series that end
 *                           up with one label set fail the query;
 *   element-wise            math, trig, clamp*, round, sgn, timestamp, date
 *                           functions: name dropped, duplicates checked;
 *   series functions        label_replace/label_join (Go's regexp template
 *                           expansion), sort*, absent, scalar/vector/time;
 *   classic histograms      histogram_quantile / histogram_fraction over
 *                           `le` buckets grouped by the other labels, with
 *                           Prometheus's monotonicity and precision fixes.
 */
#include "eval_int.h"

#include "mem.h"
#include "ph_error.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
  F_ABS, F_CEIL, F_FLOOR, F_EXP, F_SQRT, F_LN, F_LOG2, F_LOG10, F_SIN, F_COS,
  F_TAN, F_ASIN, F_ACOS, F_ATAN, F_SINH, F_COSH, F_TANH, F_ASINH, F_ACOSH,
  F_ATANH, F_DEG, F_RAD, F_SGN, F_ROUND, F_CLAMP, F_CLAMP_MAX, F_CLAMP_MIN,
  F_TIMESTAMP, F_DAY_OF_MONTH, F_DAY_OF_WEEK, F_DAY_OF_YEAR, F_DAYS_IN_MONTH,
  F_HOUR, F_MINUTE, F_MONTH, F_YEAR, F_TIME, F_PI, F_SCALAR, F_VECTOR, F_SORT,
  F_SORT_DESC, F_SORT_BY_LABEL, F_SORT_BY_LABEL_DESC, F_LABEL_REPLACE,
  F_LABEL_JOIN, F_ABSENT, F_HISTOGRAM_QUANTILE, F_HISTOGRAM_FRACTION,
  F_HISTOGRAM_NATIVE, /* histogram_count/sum/avg/stddev/stdvar: floats ignored */
  /* range-vector functions */
  F_RATE, F_INCREASE, F_DELTA, F_IRATE, F_IDELTA, F_DERIV, F_PREDICT_LINEAR,
  F_RESETS, F_CHANGES, F_AVG_OT, F_COUNT_OT, F_SUM_OT, F_MIN_OT, F_MAX_OT,
  F_LAST_OT, F_FIRST_OT, F_PRESENT_OT, F_STDDEV_OT, F_STDVAR_OT,
  F_QUANTILE_OT, F_MAD_OT, F_ABSENT_OT, F_TS_FIRST_OT, F_TS_LAST_OT,
  F_TS_MAX_OT, F_TS_MIN_OT, F_DES,
};

static const struct {
  const char *name;
  int id;
} fn_names[] = {
    {"abs", F_ABS}, {"ceil", F_CEIL}, {"floor", F_FLOOR}, {"exp", F_EXP},
    {"sqrt", F_SQRT}, {"ln", F_LN}, {"log2", F_LOG2}, {"log10", F_LOG10},
    {"sin", F_SIN}, {"cos", F_COS}, {"tan", F_TAN}, {"asin", F_ASIN},
    {"acos", F_ACOS}, {"atan", F_ATAN}, {"sinh", F_SINH}, {"cosh", F_COSH},
    {"tanh", F_TANH}, {"asinh", F_ASINH}, {"acosh", F_ACOSH},
    {"atanh", F_ATANH}, {"deg", F_DEG}, {"rad", F_RAD}, {"sgn", F_SGN},
    {"round", F_ROUND}, {"clamp", F_CLAMP}, {"clamp_max", F_CLAMP_MAX},
    {"clamp_min", F_CLAMP_MIN}, {"timestamp", F_TIMESTAMP},
    {"day_of_month", F_DAY_OF_MONTH}, {"day_of_week", F_DAY_OF_WEEK},
    {"day_of_year", F_DAY_OF_YEAR}, {"days_in_month", F_DAYS_IN_MONTH},
    {"hour", F_HOUR}, {"minute", F_MINUTE}, {"month", F_MONTH},
    {"year", F_YEAR}, {"time", F_TIME}, {"pi", F_PI}, {"scalar", F_SCALAR},
    {"vector", F_VECTOR}, {"sort", F_SORT}, {"sort_desc", F_SORT_DESC},
    {"sort_by_label", F_SORT_BY_LABEL},
    {"sort_by_label_desc", F_SORT_BY_LABEL_DESC},
    {"label_replace", F_LABEL_REPLACE}, {"label_join", F_LABEL_JOIN},
    {"absent", F_ABSENT}, {"histogram_quantile", F_HISTOGRAM_QUANTILE},
    {"histogram_fraction", F_HISTOGRAM_FRACTION},
    {"histogram_count", F_HISTOGRAM_NATIVE},
    {"histogram_sum", F_HISTOGRAM_NATIVE},
    {"histogram_avg", F_HISTOGRAM_NATIVE},
    {"histogram_stddev", F_HISTOGRAM_NATIVE},
    {"histogram_stdvar", F_HISTOGRAM_NATIVE}, {"rate", F_RATE},
    {"increase", F_INCREASE}, {"delta", F_DELTA}, {"irate", F_IRATE},
    {"idelta", F_IDELTA}, {"deriv", F_DERIV},
    {"predict_linear", F_PREDICT_LINEAR}, {"resets", F_RESETS},
    {"changes", F_CHANGES}, {"avg_over_time", F_AVG_OT},
    {"count_over_time", F_COUNT_OT}, {"sum_over_time", F_SUM_OT},
    {"min_over_time", F_MIN_OT}, {"max_over_time", F_MAX_OT},
    {"last_over_time", F_LAST_OT}, {"first_over_time", F_FIRST_OT},
    {"present_over_time", F_PRESENT_OT},
    {"stddev_over_time", F_STDDEV_OT}, {"stdvar_over_time", F_STDVAR_OT},
    {"quantile_over_time", F_QUANTILE_OT}, {"mad_over_time", F_MAD_OT},
    {"absent_over_time", F_ABSENT_OT},
    {"ts_of_first_over_time", F_TS_FIRST_OT},
    {"ts_of_last_over_time", F_TS_LAST_OT},
    {"ts_of_max_over_time", F_TS_MAX_OT},
    {"ts_of_min_over_time", F_TS_MIN_OT},
    {"double_exponential_smoothing", F_DES},
};

int ev_func_id(const char *name) {
  for (size_t i = 0; i < sizeof(fn_names) / sizeof(fn_names[0]); i++) {
    if (strcmp(fn_names[i].name, name) == 0) return fn_names[i].id;
  }
  return -1;
}

/* --- Go math semantics ----------------------------------------------------- */

static double go_max(double x, double y) {
  if ((isinf(x) && x > 0) || (isinf(y) && y > 0)) return INFINITY;
  if (isnan(x) || isnan(y)) return NAN;
  if (x == 0 && x == y) return signbit(x) ? y : x;
  return x > y ? x : y;
}

static double go_min(double x, double y) {
  if ((isinf(x) && x < 0) || (isinf(y) && y < 0)) return -INFINITY;
  if (isnan(x) || isnan(y)) return NAN;
  if (x == 0 && x == y) return signbit(x) ? x : y;
  return x < y ? x : y;
}

/* --- Range-vector functions ------------------------------------------------- */

static double extrapolated_rate(const ev_window_t *w, int64_t rs, int64_t re,
                                int64_t range_ms, bool counter, bool is_rate,
                                bool *ok) {
  size_t n = w->n;
  *ok = n >= 2;
  if (!*ok) return 0;
  const double *v = w->vs;
  double result = v[n - 1] - v[0];
  if (counter) {
    for (size_t i = 1; i < n; i++) {
      if (v[i] < v[i - 1]) result += v[i - 1];
    }
  }
  double dstart = (double)(w->ts[0] - rs) / 1000;
  double dend = (double)(re - w->ts[n - 1]) / 1000;
  double sampled = (double)(w->ts[n - 1] - w->ts[0]) / 1000;
  double avg = sampled / (double)(n - 1);
  double thr = avg * 1.1;
  if (dstart >= thr) dstart = avg / 2;
  if (counter) {
    double dzero = dstart;
    if (result > 0 && v[0] >= 0) dzero = sampled * (v[0] / result);
    if (dzero < dstart) dstart = dzero;
  }
  if (dend >= thr) dend = avg / 2;
  double factor = (sampled + dstart + dend) / sampled;
  if (is_rate) factor /= (double)range_ms / 1000;
  return result * factor;
}

static void linear_regression(const ev_window_t *w, int64_t icept_t,
                              double *slope, double *icept) {
  double n = 0, sx = 0, cx = 0, sy = 0, cy = 0, sxy = 0, cxy = 0, sx2 = 0,
         cx2 = 0;
  double init_y = w->vs[0];
  bool const_y = true;
  for (size_t i = 0; i < w->n; i++) {
    double y = w->vs[i];
    if (const_y && i > 0 && y != init_y) const_y = false;
    n += 1;
    double x = (double)(w->ts[i] - icept_t) / 1e3;
    sx = ev_kahan_inc(x, sx, &cx);
    sy = ev_kahan_inc(y, sy, &cy);
    sxy = ev_kahan_inc(x * y, sxy, &cxy);
    sx2 = ev_kahan_inc(x * x, sx2, &cx2);
  }
  if (const_y) {
    if (isinf(init_y)) {
      *slope = NAN;
      *icept = NAN;
    } else {
      *slope = 0;
      *icept = init_y;
    }
    return;
  }
  sx += cx;
  sy += cy;
  sxy += cxy;
  sx2 += cx2;
  double cov = sxy - sx * sy / n;
  double var = sx2 - sx * sx / n;
  *slope = cov / var;
  *icept = sy / n - *slope * sx / n;
}

static double avg_over_time(const double *v, size_t n) {
  double sum = v[0], count = 1, mean = 0, kc = 0;
  bool incremental = false;
  for (size_t i = 1; i < n; i++) {
    count = (double)(i + 1);
    if (!incremental) {
      double c2 = kc;
      double ns = ev_kahan_inc(v[i], sum, &c2);
      if (!isinf(ns)) {
        sum = ns;
        kc = c2;
        continue;
      }
      incremental = true;
      mean = sum / (count - 1);
      kc /= count - 1;
    }
    double q = (count - 1) / count;
    double c2 = q * kc;
    mean = ev_kahan_inc(v[i] / count, q * mean, &c2);
    kc = c2;
  }
  if (incremental) return mean + kc;
  return sum / count + kc / count;
}

static double variance_over_time(const double *v, size_t n) {
  double count = 0, mean = 0, cmean = 0, aux = 0, caux = 0;
  for (size_t i = 0; i < n; i++) {
    count++;
    double delta = v[i] - (mean + cmean);
    mean = ev_kahan_inc(delta / count, mean, &cmean);
    aux = ev_kahan_inc(delta * (v[i] - (mean + cmean)), aux, &caux);
  }
  return (aux + caux) / count;
}

static bool has_counter_suffix(const char *name) {
  static const char *const suf[] = {"_total", "_sum", "_count", "_bucket"};
  size_t nl = strlen(name);
  for (size_t i = 0; i < 4; i++) {
    size_t sl = strlen(suf[i]);
    if (nl >= sl && strcmp(name + nl - sl, suf[i]) == 0) return true;
  }
  return false;
}

/* Labels of absent()/absent_over_time(): the equality matchers. */
static const labels_t *absent_labels(ev_ctx_t *c, ev_nstate_t *st,
                                     const promql_node_t *arg) {
  if (st->absent_ls) return st->absent_ls;
  arg = ev_unparen(arg);
  if (arg->kind == PROMQL_NODE_MATRIX_SEL) arg = arg->u.ms.vs;
  labels_builder_reset(c->lb, NULL);
  if (arg->kind == PROMQL_NODE_VECTOR_SEL) {
    size_t nm = arg->u.vs.nmatchers;
    const promql_matcher_t *ms = arg->u.vs.matchers;
    for (size_t i = 0; i < nm; i++) {
      if (strcmp(ms[i].name, "__name__") == 0) continue;
      bool has = false;
      for (size_t j = 0; j < i; j++) {
        if (ms[j].type == TSDB_MATCH_EQ && strcmp(ms[j].name, ms[i].name) == 0) {
          has = true;
        }
      }
      if (ms[i].type == TSDB_MATCH_EQ && !has) {
        labels_builder_set(c->lb, ms[i].name, ms[i].value);
      } else {
        labels_builder_del(c->lb, ms[i].name);
      }
    }
  }
  st->absent_ls = ev_intern_builder(c);
  return st->absent_ls;
}

static const labels_t *keep_fn(ev_ctx_t *c, const labels_t *in,
                               const void *arg) {
  (void)c;
  (void)arg;
  return in;
}

/* rate/increase: drops the name, noting (once per series, when it first
 * produces output) a name without a counter suffix. */
static const labels_t *counter_drop_name_fn(ev_ctx_t *c, const labels_t *in,
                                            const void *arg) {
  const promql_node_t *marg = arg;
  const char *name = labels_get(in, "__name__");
  if (name && !has_counter_suffix(name)) {
    strbuf_t b = STRBUF_INIT;
    promql__quote(&b, name, strlen(name));
    ev_info(c, marg->pos.start,
            "PromQL info: metric might not be a counter, name does not end in "
            "_total/_sum/_count/_bucket: %s",
            strbuf_cstr(&b));
    strbuf_free(&b);
  }
  return ev_drop_name_fn(c, in, NULL);
}

static void call_matrix(ev_ctx_t *c, ev_nstate_t *st, const promql_node_t *n,
                        int64_t t, ev_value_t *out) {
  int f = st->func;
  size_t mi = f == F_QUANTILE_OT ? 1 : 0;
  const promql_node_t *marg = n->u.call.args[mi];
  double sarg[2] = {0, 0};
  size_t ns = 0;
  for (size_t i = 0; i < n->u.call.nargs && ns < 2; i++) {
    if (i == mi) continue;
    ev_value_t v;
    memset(&v, 0, sizeof(v));
    ev_eval(c, n->u.call.args[i], t, &v);
    sarg[ns++] = v.scalar;
  }
  ev_value_t m;
  memset(&m, 0, sizeof(m));
  ev_windows(c, marg, t, &m);
  out->kind = EV_VECTOR;
  out->vec.n = 0;
  if (f == F_ABSENT_OT) {
    out->vec.s = ev_alloc(c, sizeof(ev_sample_t));
    if (m.nwin == 0) {
      out->vec.s[out->vec.n++] = (ev_sample_t){absent_labels(c, st, marg), 1, 0};
    }
    return;
  }
  out->vec.s = m.nwin ? ev_alloc(c, m.nwin * sizeof(ev_sample_t)) : NULL;
  bool keep_name = f == F_LAST_OT || f == F_FIRST_OT;
  if (f == F_DES) {
    if (!(sarg[0] > 0 && sarg[0] < 1)) {
      ev_fail(c, PH_EINVAL, "execution",
              "invalid smoothing factor. Expected: 0 < sf < 1, got: %f", sarg[0]);
    }
    if (!(sarg[1] > 0 && sarg[1] < 1)) {
      ev_fail(c, PH_EINVAL, "execution",
              "invalid trend factor. Expected: 0 < tf < 1, got: %f", sarg[1]);
    }
  }
  for (size_t wi = 0; wi < m.nwin; wi++) {
    const ev_window_t *w = &m.win[wi];
    const double *v = w->vs;
    size_t nv = w->n;
    double r = 0;
    bool ok = true;
    switch (f) {
      case F_RATE:
      case F_INCREASE:
      case F_DELTA:
        r = extrapolated_rate(w, m.range_start, m.range_end, m.range_ms,
                              f != F_DELTA, f == F_RATE, &ok);
        break;
      case F_IRATE:
      case F_IDELTA: {
        if (nv < 2) {
          ok = false;
          break;
        }
        int64_t dt = w->ts[nv - 1] - w->ts[nv - 2];
        if (dt == 0) {
          ok = false;
          break;
        }
        double last = v[nv - 1], prev = v[nv - 2];
        r = last;
        if (f == F_IDELTA || !(last < prev)) r = last - prev;
        if (f == F_IRATE) r /= (double)dt / 1000;
        break;
      }
      case F_DERIV:
      case F_PREDICT_LINEAR: {
        if (nv < 2) {
          ok = false;
          break;
        }
        double slope, icept;
        linear_regression(w, f == F_DERIV ? w->ts[0] : t, &slope, &icept);
        r = f == F_DERIV ? slope : slope * sarg[0] + icept;
        break;
      }
      case F_RESETS:
      case F_CHANGES: {
        int cnt = 0;
        for (size_t i = 1; i < nv; i++) {
          if (f == F_RESETS) {
            if (v[i] < v[i - 1]) cnt++;
          } else if (v[i] != v[i - 1] && !(isnan(v[i]) && isnan(v[i - 1]))) {
            cnt++;
          }
        }
        r = cnt;
        break;
      }
      case F_AVG_OT: r = avg_over_time(v, nv); break;
      case F_COUNT_OT: r = (double)nv; break;
      case F_SUM_OT: {
        double sum = 0, kc = 0;
        for (size_t i = 0; i < nv; i++) sum = ev_kahan_inc(v[i], sum, &kc);
        r = isinf(sum) ? sum : sum + kc;
        break;
      }
      case F_MIN_OT:
      case F_MAX_OT:
      case F_TS_MIN_OT:
      case F_TS_MAX_OT: {
        double best = v[0];
        int64_t bt = w->ts[0];
        for (size_t i = 0; i < nv; i++) {
          bool take;
          switch (f) {
            case F_MAX_OT: take = v[i] > best || isnan(best); break;
            case F_MIN_OT: take = v[i] < best || isnan(best); break;
            case F_TS_MAX_OT: take = v[i] >= best || isnan(best); break;
            default: take = v[i] <= best || isnan(best); break;
          }
          if (take) {
            best = v[i];
            bt = w->ts[i];
          }
        }
        r = (f == F_MIN_OT || f == F_MAX_OT) ? best : (double)bt / 1000;
        break;
      }
      case F_LAST_OT: r = v[nv - 1]; break;
      case F_FIRST_OT: r = v[0]; break;
      case F_TS_FIRST_OT: r = (double)w->ts[0] / 1000; break;
      case F_TS_LAST_OT: r = (double)w->ts[nv - 1] / 1000; break;
      case F_PRESENT_OT: r = 1; break;
      case F_STDDEV_OT: r = sqrt(variance_over_time(v, nv)); break;
      case F_STDVAR_OT: r = variance_over_time(v, nv); break;
      case F_QUANTILE_OT:
      case F_MAD_OT: {
        double q = f == F_MAD_OT ? 0.5 : sarg[0];
        if (f == F_QUANTILE_OT && (isnan(q) || q < 0 || q > 1)) {
          strbuf_t b = STRBUF_INIT;
          ev_format_g(&b, q);
          ev_warn(c, n->u.call.args[0]->pos.start,
                  "PromQL warning: quantile value should be between 0 and 1, "
                  "got %s",
                  strbuf_cstr(&b));
          strbuf_free(&b);
        }
        double *tmp = ev_alloc(c, nv * sizeof(double));
        memcpy(tmp, v, nv * sizeof(double));
        r = ev_quantile(q, tmp, nv);
        if (f == F_MAD_OT) {
          for (size_t i = 0; i < nv; i++) tmp[i] = fabs(v[i] - r);
          r = ev_quantile(0.5, tmp, nv);
        }
        break;
      }
      case F_DES: {
        if (nv < 2) {
          ok = false;
          break;
        }
        double sf = sarg[0], tf = sarg[1];
        double s0 = 0, s1 = v[0], b = v[1] - v[0];
        for (size_t i = 1; i < nv; i++) {
          double x = sf * v[i];
          if (i > 1) b = tf * (s1 - s0) + (1 - tf) * b;
          double y = (1 - sf) * (s1 + b);
          s0 = s1;
          s1 = x + y;
        }
        r = s1;
        break;
      }
      default: ok = false; break;
    }
    if (!ok) continue;
    const labels_t *ls = ev_map_labels(
        c, st, w->ls,
        keep_name ? keep_fn
                  : (f == F_RATE || f == F_INCREASE) ? counter_drop_name_fn
                                                     : ev_drop_name_fn,
        marg);
    if (st->may_collide) {
      /* Two input series that map to one output label set fail the query
       * whenever both produce output (Prometheus checks the whole matrix):
       * the reverse map names the first input that produced ls. */
      const void *src = ev_map_get(&st->rev, (uint64_t)(uintptr_t)ls, NULL);
      if (src != w->ls) {
        ev_fail(c, PH_EINVAL, "execution",
                "vector cannot contain metrics with the same labelset");
      }
    }
    out->vec.s[out->vec.n++] = (ev_sample_t){ls, r, 0};
  }
  ev_count_samples(c, (int64_t)out->vec.n);
}

/* --- Classic histograms ------------------------------------------------------ */

typedef struct bucket {
  double upper, count;
} bucket_t;

typedef struct hgroup {
  const labels_t *sig; /* labels without le (name kept) */
  bucket_t *b;
  size_t n, cap;
} hgroup_t;

static int cmp_bucket(const void *a, const void *b) {
  double x = ((const bucket_t *)a)->upper, y = ((const bucket_t *)b)->upper;
  return x < y ? -1 : (x > y ? 1 : 0);
}

static size_t coalesce(bucket_t *b, size_t n) {
  bucket_t last = b[0];
  size_t i = 0;
  for (size_t k = 1; k < n; k++) {
    if (b[k].upper == last.upper) {
      last.count += b[k].count;
    } else {
      b[i++] = last;
      last = b[k];
    }
  }
  b[i] = last;
  return i + 1;
}

/* Go's almost.Equal. */
static bool almost_equal(double a, double b, double eps) {
  if (isnan(a) && isnan(b)) return true;
  if (a == b) return true;
  double diff = fabs(a - b);
  if (a == 0 || b == 0 || fabs(a) + fabs(b) < 2.2250738585072014e-308) {
    return diff < eps * 2.2250738585072014e-308;
  }
  return diff / (fabs(a) + fabs(b)) < eps;
}

static bool ensure_monotonic(bucket_t *b, size_t n) {
  bool forced = false;
  double prev = b[0].count;
  for (size_t i = 1; i < n; i++) {
    double cur = b[i].count;
    if (cur == prev) continue;
    if (almost_equal(prev, cur, 1e-12)) {
      b[i].count = prev;
      continue;
    }
    if (cur < prev) {
      b[i].count = prev;
      forced = true;
      continue;
    }
    prev = cur;
  }
  return forced;
}

static double bucket_quantile(double q, bucket_t *b, size_t n, bool *forced) {
  *forced = false;
  if (isnan(q)) return NAN;
  if (q < 0) return -INFINITY;
  if (q > 1) return INFINITY;
  qsort(b, n, sizeof(*b), cmp_bucket);
  if (!(isinf(b[n - 1].upper) && b[n - 1].upper > 0)) return NAN;
  n = coalesce(b, n);
  *forced = ensure_monotonic(b, n);
  if (n < 2) return NAN;
  double obs = b[n - 1].count;
  if (obs == 0) return NAN;
  double rank = q * obs;
  size_t lo = 0, hi = n - 1;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (b[mid].count >= rank) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  size_t k = lo;
  if (k == n - 1) return b[n - 2].upper;
  if (k == 0 && b[0].upper <= 0) return b[0].upper;
  double start = 0, end = b[k].upper, count = b[k].count;
  if (k > 0) {
    start = b[k - 1].upper;
    count -= b[k - 1].count;
    rank -= b[k - 1].count;
  }
  return start + (end - start) * (rank / count);
}

static double bucket_fraction(double lower, double upper, bucket_t *b,
                              size_t n) {
  qsort(b, n, sizeof(*b), cmp_bucket);
  if (!(isinf(b[n - 1].upper) && b[n - 1].upper > 0)) return NAN;
  n = coalesce(b, n);
  double count = b[n - 1].count;
  if (count == 0 || isnan(lower) || isnan(upper)) return NAN;
  if (lower >= upper) return 0;
  double rank = 0, lrank = 0, urank = 0;
  bool lset = false, uset = false;
  double lb = b[0].upper <= 0 ? -INFINITY : 0;
  for (size_t i = 0; i < n; i++) {
    if (i > 0) lb = b[i - 1].upper;
    double ub = b[i].upper;
#define INTERP(x) \
  (isinf(lb) && lb < 0 ? b[i].count : rank + (b[i].count - rank) * ((x) - lb) / (ub - lb))
    if (!lset && lb >= lower) {
      lrank = rank;
      lset = true;
    }
    if (!uset && lb >= upper) {
      urank = rank;
      uset = true;
    }
    if (lset && uset) break;
    if (!lset && lb < lower && ub > lower) {
      lrank = INTERP(lower);
      lset = true;
    }
    if (!uset && lb < upper && ub > upper) {
      urank = INTERP(upper);
      uset = true;
    }
#undef INTERP
    if (lset && uset) break;
    rank = b[i].count;
  }
  if (!lset || lrank > count) lrank = count;
  if (!uset || urank > count) urank = count;
  return (urank - lrank) / count;
}

static const labels_t *without_le_fn(ev_ctx_t *c, const labels_t *in) {
  labels_builder_reset(c->lb, in);
  labels_builder_del(c->lb, "le");
  return ev_intern_builder(c);
}

static void call_histogram(ev_ctx_t *c, ev_nstate_t *st, const promql_node_t *n,
                           int64_t t, ev_value_t *out) {
  bool frac = st->func == F_HISTOGRAM_FRACTION;
  double a[2];
  size_t na = frac ? 2 : 1;
  for (size_t i = 0; i < na; i++) {
    ev_value_t v;
    memset(&v, 0, sizeof(v));
    ev_eval(c, n->u.call.args[i], t, &v);
    a[i] = v.scalar;
  }
  const promql_node_t *varg = n->u.call.args[na];
  ev_value_t in;
  memset(&in, 0, sizeof(in));
  ev_eval(c, varg, t, &in);
  if (!frac && (isnan(a[0]) || a[0] < 0 || a[0] > 1)) {
    strbuf_t b = STRBUF_INIT;
    ev_format_g(&b, a[0]);
    ev_warn(c, n->u.call.args[0]->pos.start,
            "PromQL warning: quantile value should be between 0 and 1, got %s",
            strbuf_cstr(&b));
    strbuf_free(&b);
  }
  out->kind = EV_VECTOR;
  out->vec.n = 0;
  out->vec.s = in.vec.n ? ev_alloc(c, in.vec.n * sizeof(ev_sample_t)) : NULL;
  hgroup_t *groups = in.vec.n ? ev_alloc(c, in.vec.n * sizeof(hgroup_t)) : NULL;
  size_t ng = 0;
  ev_map_clear(&st->m1);
  for (size_t i = 0; i < in.vec.n; i++) {
    const ev_sample_t *s = &in.vec.s[i];
    const char *le = labels_get(s->ls, "le");
    double ub;
    if (!ev_parse_float(le, &ub)) {
      const char *name = labels_get(s->ls, "__name__");
      strbuf_t b = STRBUF_INIT, q = STRBUF_INIT;
      promql__quote(&b, le ? le : "", le ? strlen(le) : 0);
      if (name) {
        strbuf_puts(&q, " for metric name ");
        promql__quote(&q, name, strlen(name));
      }
      ev_warn(c, varg->pos.start,
              "PromQL warning: bucket label \"le\" is missing or has a "
              "malformed value of %s%s",
              strbuf_cstr(&b), strbuf_cstr(&q));
      strbuf_free(&b);
      strbuf_free(&q);
      continue;
    }
    bool found;
    const labels_t *sig =
        ev_map_get(&st->lmap2, (uint64_t)(uintptr_t)s->ls, &found);
    if (!found) {
      sig = without_le_fn(c, s->ls);
      ev_map_put(&st->lmap2, (uint64_t)(uintptr_t)s->ls, (void *)sig);
    }
    void *gi = ev_map_get(&st->m1, (uint64_t)(uintptr_t)sig, &found);
    hgroup_t *g;
    if (!found) {
      g = &groups[ng];
      memset(g, 0, sizeof(*g));
      g->sig = sig;
      ev_map_put(&st->m1, (uint64_t)(uintptr_t)sig, (void *)(uintptr_t)ng);
      ng++;
    } else {
      g = &groups[(uintptr_t)gi];
    }
    if (g->n == g->cap) {
      size_t nc = g->cap ? g->cap * 2 : 16;
      bucket_t *nb = ev_alloc(c, nc * sizeof(*nb));
      if (g->n) memcpy(nb, g->b, g->n * sizeof(*nb));
      g->b = nb;
      g->cap = nc;
    }
    g->b[g->n++] = (bucket_t){ub, s->v};
  }
  for (size_t gi = 0; gi < ng; gi++) {
    hgroup_t *g = &groups[gi];
    double v;
    if (frac) {
      v = bucket_fraction(a[0], a[1], g->b, g->n);
    } else {
      bool forced;
      v = bucket_quantile(a[0], g->b, g->n, &forced);
      if (forced) {
        ev_info(c, varg->pos.start,
                "PromQL info: input to histogram_quantile needed to be fixed "
                "for monotonicity (see "
                "https://prometheus.io/docs/prometheus/latest/querying/"
                "functions/#histogram_quantile)");
      }
    }
    const labels_t *ls = ev_map_labels(c, st, g->sig, ev_drop_name_fn, NULL);
    out->vec.s[out->vec.n++] = (ev_sample_t){ls, v, 0};
  }
  ev_count_samples(c, (int64_t)out->vec.n);
  ev_check_dups(c, st, &out->vec);
}

/* --- label_replace / label_join -------------------------------------------- */

/* Go's regexp.Expand: $1, ${1}, $name, ${name}, $$. */
static void expand_template(strbuf_t *out, const char *tmpl, const char *src,
                            const PCRE2_SIZE *ov, int nov,
                            const pcre2_code *re) {
  const char *p = tmpl;
  while (*p) {
    const char *d = strchr(p, '$');
    if (!d) {
      strbuf_puts(out, p);
      return;
    }
    strbuf_append(out, p, (size_t)(d - p));
    p = d + 1;
    if (*p == '$') {
      strbuf_putc(out, '$');
      p++;
      continue;
    }
    bool brace = *p == '{';
    const char *q = brace ? p + 1 : p;
    const char *ns = q;
    while (*q && ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
                  (*q >= '0' && *q <= '9') || *q == '_' ||
                  (unsigned char)*q >= 0x80)) {
      q++;
    }
    size_t nlen = (size_t)(q - ns);
    if (nlen == 0 || (brace && *q != '}')) {
      strbuf_putc(out, '$');
      continue;
    }
    const char *rest = brace ? q + 1 : q;
    char name[256];
    if (nlen >= sizeof(name)) nlen = sizeof(name) - 1;
    memcpy(name, ns, nlen);
    name[nlen] = 0;
    long num = 0;
    for (size_t i = 0; i < nlen; i++) {
      if (name[i] < '0' || name[i] > '9' || num >= 100000000) {
        num = -1;
        break;
      }
      num = num * 10 + (name[i] - '0');
    }
    if (name[0] == '0' && nlen > 1) num = -1;
    if (num < 0) {
      int r = pcre2_substring_number_from_name(re, (PCRE2_SPTR)name);
      num = r > 0 ? r : -1;
    }
    if (num >= 0 && num < nov && ov[2 * num] != PCRE2_UNSET) {
      strbuf_append(out, src + ov[2 * num], ov[2 * num + 1] - ov[2 * num]);
    }
    p = rest;
  }
}

typedef struct replace_arg {
  const char *dst, *repl, *src;
  pcre2_code *re;
  pcre2_match_data *md;
} replace_arg_t;

static const labels_t *replace_fn(ev_ctx_t *c, const labels_t *in,
                                  const void *arg) {
  const replace_arg_t *ra = arg;
  const char *sv = labels_get(in, ra->src);
  if (!sv) sv = "";
  int rc = pcre2_match(ra->re, (PCRE2_SPTR)sv, strlen(sv), 0, 0, ra->md, NULL);
  if (rc < 0) return in;
  strbuf_t b = STRBUF_INIT;
  expand_template(&b, ra->repl, sv, pcre2_get_ovector_pointer(ra->md),
                  (int)pcre2_get_ovector_count(ra->md), ra->re);
  labels_builder_reset(c->lb, in);
  labels_builder_set(c->lb, ra->dst, strbuf_cstr(&b));
  strbuf_free(&b);
  return ev_intern_builder(c);
}

typedef struct join_arg {
  const promql_node_t *n;
} join_arg_t;

static const labels_t *join_fn(ev_ctx_t *c, const labels_t *in,
                               const void *arg) {
  const promql_node_t *n = ((const join_arg_t *)arg)->n;
  const char *dst = n->u.call.args[1]->u.string.val;
  const char *sep = n->u.call.args[2]->u.string.val;
  strbuf_t b = STRBUF_INIT;
  for (size_t i = 3; i < n->u.call.nargs; i++) {
    if (i > 3) strbuf_puts(&b, sep);
    const char *v = labels_get(in, n->u.call.args[i]->u.string.val);
    if (v) strbuf_puts(&b, v);
  }
  labels_builder_reset(c->lb, in);
  labels_builder_set(c->lb, dst, strbuf_cstr(&b));
  strbuf_free(&b);
  return ev_intern_builder(c);
}

static const char *str_arg(const promql_node_t *n, size_t i) {
  return ev_unparen(n->u.call.args[i])->u.string.val;
}

static void call_label(ev_ctx_t *c, ev_nstate_t *st, const promql_node_t *n,
                       int64_t t, ev_value_t *out) {
  replace_arg_t ra;
  join_arg_t ja = {n};
  if (st->func == F_LABEL_REPLACE) {
    ra.dst = str_arg(n, 1);
    ra.repl = str_arg(n, 2);
    ra.src = str_arg(n, 3);
    const char *rx = str_arg(n, 4);
    if (!st->re) {
      int ec;
      PCRE2_SIZE eo;
      pcre2_code *re = pcre2_compile(
          (PCRE2_SPTR)rx, strlen(rx),
          PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_DOTALL | PCRE2_ANCHORED |
              PCRE2_ENDANCHORED | PCRE2_DOLLAR_ENDONLY,
          &ec, &eo, NULL);
      if (!re) {
        ev_fail(c, PH_EINVAL, "execution",
                "invalid regular expression in label_replace(): %s", rx);
      }
      pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
      /* Freed by the engine in pairs: code, match data. */
      ph_grow(&c->regexes, &c->capregexes, c->nregexes + 2);
      c->regexes[c->nregexes++] = re;
      c->regexes[c->nregexes++] = md;
      void **pair = ev_qalloc(c, 2 * sizeof(void *));
      pair[0] = re;
      pair[1] = md;
      st->re = pair;
    }
    ra.re = ((void **)st->re)[0];
    ra.md = ((void **)st->re)[1];
    if (!ev_valid_label_name(ra.dst, strlen(ra.dst))) {
      ev_fail(c, PH_EINVAL, "execution",
              "invalid destination label name in label_replace(): %s", ra.dst);
    }
  } else {
    for (size_t i = 3; i < n->u.call.nargs; i++) {
      const char *s = str_arg(n, i);
      if (!ev_valid_label_name(s, strlen(s))) {
        ev_fail(c, PH_EINVAL, "execution",
                "invalid source label name in label_join(): %s", s);
      }
    }
    const char *dst = str_arg(n, 1);
    if (!ev_valid_label_name(dst, strlen(dst))) {
      ev_fail(c, PH_EINVAL, "execution",
              "invalid destination label name in label_join(): %s", dst);
    }
  }
  ev_value_t in;
  memset(&in, 0, sizeof(in));
  ev_eval(c, n->u.call.args[0], t, &in);
  out->kind = EV_VECTOR;
  out->vec.n = 0;
  out->vec.s = in.vec.n ? ev_alloc(c, in.vec.n * sizeof(ev_sample_t)) : NULL;
  for (size_t i = 0; i < in.vec.n; i++) {
    const labels_t *ls =
        st->func == F_LABEL_REPLACE
            ? ev_map_labels(c, st, in.vec.s[i].ls, replace_fn, &ra)
            : ev_map_labels(c, st, in.vec.s[i].ls, join_fn, &ja);
    out->vec.s[out->vec.n++] = (ev_sample_t){ls, in.vec.s[i].v, 0};
  }
  ev_count_samples(c, (int64_t)out->vec.n);
  ev_check_dups(c, st, &out->vec);
}

/* --- sort_by_label ------------------------------------------------------------ */

/* github.com/facette/natsort: chunks of digits compare numerically. */
static bool natsort_less(const char *a, const char *b) {
  while (*a && *b) {
    bool da = *a >= '0' && *a <= '9', db = *b >= '0' && *b <= '9';
    if (da && db) {
      const char *ea = a, *eb = b;
      while (*ea >= '0' && *ea <= '9') ea++;
      while (*eb >= '0' && *eb <= '9') eb++;
      while (a < ea - 1 && *a == '0') a++;
      while (b < eb - 1 && *b == '0') b++;
      size_t la = (size_t)(ea - a), lb = (size_t)(eb - b);
      if (la != lb) return la < lb;
      int r = strncmp(a, b, la);
      if (r != 0) return r < 0;
      a = ea;
      b = eb;
      continue;
    }
    if (*a != *b) return (unsigned char)*a < (unsigned char)*b;
    a++;
    b++;
  }
  return *a == 0 && *b != 0;
}

typedef struct sbl_ctx {
  const promql_node_t *n;
  bool desc;
} sbl_ctx_t;

static _Thread_local const sbl_ctx_t *g_sbl;

static int cmp_by_label(const void *pa, const void *pb) {
  const ev_sample_t *a = pa, *b = pb;
  const promql_node_t *n = g_sbl->n;
  int sign = g_sbl->desc ? -1 : 1;
  for (size_t i = 1; i < n->u.call.nargs; i++) {
    const char *name = ev_unparen(n->u.call.args[i])->u.string.val;
    const char *x = labels_get(a->ls, name), *y = labels_get(b->ls, name);
    if (!x) x = "";
    if (!y) y = "";
    if (strcmp(x, y) == 0) continue;
    return natsort_less(x, y) ? -sign : sign;
  }
  return sign * labels_cmp(a->ls, b->ls);
}

/* --- Dates -------------------------------------------------------------------- */

static double date_part(int f, double secs) {
  if (isnan(secs) || isinf(secs) || fabs(secs) > 9.2e15) return NAN;
  time_t tt = (time_t)(int64_t)secs;
  struct tm tm;
  if (!gmtime_r(&tt, &tm)) return NAN;
  int year = tm.tm_year + 1900;
  switch (f) {
    case F_DAY_OF_MONTH: return tm.tm_mday;
    case F_DAY_OF_WEEK: return tm.tm_wday;
    case F_DAY_OF_YEAR: return tm.tm_yday + 1;
    case F_HOUR: return tm.tm_hour;
    case F_MINUTE: return tm.tm_min;
    case F_MONTH: return tm.tm_mon + 1;
    case F_YEAR: return year;
    case F_DAYS_IN_MONTH: {
      static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
      int d = dm[tm.tm_mon];
      bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
      if (tm.tm_mon == 1 && leap) d = 29;
      return d;
    }
    default: return NAN;
  }
}

/* --- Dispatch ----------------------------------------------------------------- */

static double math_fn(int f, double v, const double *a) {
  switch (f) {
    case F_ABS: return fabs(v);
    case F_CEIL: return ceil(v);
    case F_FLOOR: return floor(v);
    case F_EXP: return exp(v);
    case F_SQRT: return sqrt(v);
    case F_LN: return log(v);
    case F_LOG2: return log2(v);
    case F_LOG10: return log10(v);
    case F_SIN: return sin(v);
    case F_COS: return cos(v);
    case F_TAN: return tan(v);
    case F_ASIN: return asin(v);
    case F_ACOS: return acos(v);
    case F_ATAN: return atan(v);
    case F_SINH: return sinh(v);
    case F_COSH: return cosh(v);
    case F_TANH: return tanh(v);
    case F_ASINH: return asinh(v);
    case F_ACOSH: return acosh(v);
    case F_ATANH: return atanh(v);
    case F_DEG: return v * 180 / M_PI;
    case F_RAD: return v * M_PI / 180;
    case F_SGN: return v < 0 ? -1 : (v > 0 ? 1 : v);
    case F_ROUND: {
      double inv = 1.0 / a[0];
      return floor(v * inv + 0.5) / inv;
    }
    case F_CLAMP: return go_max(a[0], go_min(a[1], v));
    case F_CLAMP_MAX: return go_max(-INFINITY, go_min(a[0], v));
    case F_CLAMP_MIN: return go_max(a[0], go_min(INFINITY, v));
    default: return date_part(f, v);
  }
}

void ev_call(ev_ctx_t *c, const promql_node_t *n, int64_t t, ev_value_t *out) {
  ev_nstate_t *st = ev_state(c, n);
  if (st->func < 0) {
    st->func = ev_func_id(n->u.call.func->name);
    if (st->func < 0) {
      ev_fail(c, PH_EINVAL, "execution", "function %s is not supported",
              n->u.call.func->name);
    }
  }
  int f = st->func;
  if (f >= F_RATE) {
    call_matrix(c, st, n, t, out);
    return;
  }
  if (f == F_HISTOGRAM_QUANTILE || f == F_HISTOGRAM_FRACTION) {
    call_histogram(c, st, n, t, out);
    return;
  }
  if (f == F_LABEL_REPLACE || f == F_LABEL_JOIN) {
    call_label(c, st, n, t, out);
    return;
  }
  switch (f) {
    case F_TIME:
      out->kind = EV_SCALAR;
      out->scalar = (double)t / 1000;
      return;
    case F_PI:
      out->kind = EV_SCALAR;
      out->scalar = M_PI;
      return;
    default: break;
  }
  /* Evaluate the arguments: a vector (first) and scalars. */
  ev_value_t in;
  memset(&in, 0, sizeof(in));
  double a[2] = {0, 0};
  bool has_vec = n->u.call.nargs > 0 &&
                 n->u.call.func->args[0] == PROMQL_VT_VECTOR;
  if (has_vec) ev_eval(c, n->u.call.args[0], t, &in);
  if (f == F_ROUND) a[0] = 1;
  const promql_func_t *fd = n->u.call.func;
  for (size_t i = has_vec ? 1 : 0, k = 0; i < n->u.call.nargs && k < 2; i++) {
    size_t ti = i < (size_t)fd->nargs ? i : (size_t)fd->nargs - 1;
    if (fd->args[ti] == PROMQL_VT_STRING) continue;
    ev_value_t v;
    memset(&v, 0, sizeof(v));
    ev_eval(c, n->u.call.args[i], t, &v);
    a[k++] = v.scalar;
  }
  out->kind = EV_VECTOR;
  out->vec.n = 0;
  out->vec.s = ev_alloc(c, (in.vec.n + 1) * sizeof(ev_sample_t));
  switch (f) {
    case F_SCALAR:
      out->kind = EV_SCALAR;
      out->scalar = in.vec.n == 1 ? in.vec.s[0].v : NAN;
      return;
    case F_VECTOR:
      out->vec.s[out->vec.n++] = (ev_sample_t){ev_empty_labels(c), a[0], 0};
      return;
    case F_ABSENT:
      if (in.vec.n == 0) {
        out->vec.s[out->vec.n++] =
            (ev_sample_t){absent_labels(c, st, n->u.call.args[0]), 1, 0};
      }
      return;
    case F_HISTOGRAM_NATIVE:
      return; /* float samples are ignored */
    case F_SORT:
    case F_SORT_DESC:
      if (in.vec.n) memcpy(out->vec.s, in.vec.s, in.vec.n * sizeof(ev_sample_t));
      out->vec.n = in.vec.n;
      ev_sort_samples(c, out->vec.s, out->vec.n, f == F_SORT);
      return;
    case F_SORT_BY_LABEL:
    case F_SORT_BY_LABEL_DESC: {
      if (in.vec.n) memcpy(out->vec.s, in.vec.s, in.vec.n * sizeof(ev_sample_t));
      out->vec.n = in.vec.n;
      sbl_ctx_t sc = {n, f == F_SORT_BY_LABEL_DESC};
      g_sbl = &sc;
      qsort(out->vec.s, out->vec.n, sizeof(ev_sample_t), cmp_by_label);
      g_sbl = NULL;
      return;
    }
    default: break;
  }
  bool dates = f >= F_DAY_OF_MONTH && f <= F_YEAR;
  if (dates && n->u.call.nargs == 0) {
    int64_t secs = t / 1000;
    out->vec.s[out->vec.n++] =
        (ev_sample_t){ev_empty_labels(c), date_part(f, (double)secs), 0};
    return;
  }
  if (f == F_CLAMP && a[1] < a[0]) return;
  bool ts_sel = f == F_TIMESTAMP &&
                ev_unparen(n->u.call.args[0])->kind == PROMQL_NODE_VECTOR_SEL;
  for (size_t i = 0; i < in.vec.n; i++) {
    double v;
    if (f == F_TIMESTAMP) {
      v = (double)(ts_sel ? in.vec.s[i].t : t) / 1000;
    } else {
      v = math_fn(f, in.vec.s[i].v, a);
    }
    const labels_t *ls =
        ev_map_labels(c, st, in.vec.s[i].ls, ev_drop_name_fn, NULL);
    out->vec.s[out->vec.n++] = (ev_sample_t){ls, v, 0};
  }
  ev_count_samples(c, (int64_t)out->vec.n);
  ev_check_dups(c, st, &out->vec);
}
