/*
 * api.c - the Prometheus HTTP API v1 (the parts that read storage).
 *
 * Every endpoint answers with Prometheus's envelope, byte for byte:
 *   {"status":"success","data":...[,"warnings":[...]][,"infos":[...]]}
 *   {"status":"error","errorType":"bad_data","error":"..."}
 * with the status codes Prometheus uses (bad_data 400, execution 422,
 * timeout/canceled/unavailable 503, not_found 404, internal 500).  Sample
 * values are strings, timestamps float seconds (json_sample_value,
 * json_timestamp).  Parameters come from the query string or a
 * form-encoded POST body alike (httpd does the merging).
 */
#include "api.h"


#include "json.h"
#include "log.h"
#include "mem.h"
#include "ph_error.h"
#include "pharos_version.h"
#include "promql.h"
#include "remote_metadata.h"
#include "scrape.h"
#include "timeparse.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#define JSON_CT "application/json"
/* Prometheus's bounds for "no start"/"no end" (model.Time min/max). */
#define API_MIN_TIME (-9223309901257974LL)
#define API_MAX_TIME (9223309901257974LL)
#define API_MAX_POINTS 11000

/* ---- envelope ------------------------------------------------------------- */

static int status_for(const char *error_type) {
  if (strcmp(error_type, "bad_data") == 0) return 400;
  if (strcmp(error_type, "execution") == 0) return 422;
  if (strcmp(error_type, "timeout") == 0) return 503;
  if (strcmp(error_type, "canceled") == 0) return 503;
  if (strcmp(error_type, "unavailable") == 0) return 503;
  if (strcmp(error_type, "not_found") == 0) return 404;
  if (strcmp(error_type, "not_acceptable") == 0) return 406;
  return 500;
}

/* The CORS headers Prometheus sets on API responses when the request has
 * an Origin (httputil.SetCORS): the regex ".*" answers "*", another regex
 * (compiled once by api_register, fully anchored) echoes a matching
 * origin. */
static bool g_cors_any = true;
static tsdb_matcher_set_t *g_cors_origin; /* set once at registration */

static void set_cors(httpd_req_t *r) {
  const char *origin = httpd_req_header(r, "Origin");
  if (origin == NULL || origin[0] == '\0') return;
  httpd_add_header(r, "Access-Control-Allow-Headers", "Accept, Authorization, Content-Type, Origin");
  httpd_add_header(r, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
  httpd_add_header(r, "Access-Control-Expose-Headers", "Date");
  if (g_cors_any) httpd_add_header(r, "Access-Control-Allow-Origin", "*");
  else if (g_cors_origin && tsdb_matcher_set_matches_value(g_cors_origin, "origin", origin))
    httpd_add_header(r, "Access-Control-Allow-Origin", origin);
}

void api_error(httpd_req_t *r, const char *error_type, const char *fmt, ...) {
  set_cors(r);
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  strbuf_t b = STRBUF_INIT;
  json_writer_t *w = json_writer_new(&b);
  json_object_begin(w);
  json_key(w, "status");
  json_string(w, "error");
  json_key(w, "errorType");
  json_string(w, error_type);
  json_key(w, "error");
  json_string(w, msg);
  json_object_end(w);
  json_writer_free(w);
  httpd_respond_strbuf(r, status_for(error_type), JSON_CT, &b);
}

/* Starts {"status":"success","data": and leaves the writer at the value. */
static json_writer_t *begin_success(strbuf_t *b) {
  json_writer_t *w = json_writer_new(b);
  json_object_begin(w);
  json_key(w, "status");
  json_string(w, "success");
  json_key(w, "data");
  return w;
}

static void end_success(httpd_req_t *r, json_writer_t *w, strbuf_t *b,
                        const char *const *warnings, size_t nwarn,
                        const char *const *infos, size_t ninfo) {
  if (nwarn) {
    json_key(w, "warnings");
    json_array_begin(w);
    for (size_t i = 0; i < nwarn; i++) json_string(w, warnings[i]);
    json_array_end(w);
  }
  if (ninfo) {
    json_key(w, "infos");
    json_array_begin(w);
    for (size_t i = 0; i < ninfo; i++) json_string(w, infos[i]);
    json_array_end(w);
  }
  json_object_end(w);
  json_writer_free(w);
  set_cors(r);
  httpd_respond_strbuf(r, 200, JSON_CT, b);
}

static void write_labels(json_writer_t *w, const labels_t *ls) {
  json_object_begin(w);
  for (size_t i = 0; i < labels_len(ls); i++) {
    const label_t *l = labels_at(ls, i);
    json_key(w, l->name);
    json_string(w, l->value);
  }
  json_object_end(w);
}

/* ---- parameters ----------------------------------------------------------- */

static bool param_time(httpd_req_t *r, const char *name, int64_t def,
                       int64_t *out) {
  const char *v = httpd_req_param(r, name);
  if (v == NULL || v[0] == '\0') {
    *out = def;
    return true;
  }
  char err[256];
  if (ph_parse_time(v, strlen(v), out, err, sizeof err) != 0) {
    api_error(r, "bad_data", "invalid parameter \"%s\": %s", name, err);
    return false;
  }
  return true;
}

static bool param_limit(httpd_req_t *r, int64_t *out) {
  const char *v = httpd_req_param(r, "limit");
  *out = 0;
  if (v == NULL || v[0] == '\0') return true;
  char *end;
  long long n = strtoll(v, &end, 10);
  if (*end != '\0' || n < 0) {
    api_error(r, "bad_data", "invalid parameter \"limit\": cannot parse \"%s\" to a valid limit", v);
    return false;
  }
  *out = n;
  return true;
}

/* The parsed match[] selectors of a request. */
typedef struct selectors {
  promql_selector_t **s;
  size_t n;
} selectors_t;

static void selectors_free(selectors_t *ss) {
  for (size_t i = 0; i < ss->n; i++) promql_selector_free(ss->s[i]);
  free(ss->s);
}

static bool parse_matches(httpd_req_t *r, selectors_t *ss) {
  const char *const *vals;
  size_t n = httpd_req_params(r, "match[]", &vals);
  ss->s = ph_calloc(n ? n : 1, sizeof(*ss->s));
  ss->n = 0;
  for (size_t i = 0; i < n; i++) {
    promql_error_t perr;
    if (promql_parse_selector(vals[i], strlen(vals[i]), &ss->s[ss->n], &perr) != 0) {
      api_error(r, "bad_data", "invalid parameter \"match[]\": %s", perr.msg);
      selectors_free(ss);
      return false;
    }
    ss->n++;
  }
  return true;
}

/* ---- /api/v1/query and /api/v1/query_range -------------------------------- */

static void write_point(json_writer_t *w, int64_t t, double v) {
  json_array_begin(w);
  json_timestamp(w, t);
  json_sample_value(w, v);
  json_array_end(w);
}

static int64_t timeout_param(httpd_req_t *r, api_t *api, bool *ok) {
  int64_t t = api->query_timeout_ms;
  const char *v = httpd_req_param(r, "timeout");
  *ok = true;
  if (v != NULL && v[0] != '\0') {
    int64_t ms;
    char err[256];
    if (ph_parse_duration_or_seconds(v, strlen(v), &ms, err, sizeof err) != 0) {
      api_error(r, "bad_data", "invalid parameter \"timeout\": %s", err);
      *ok = false;
      return 0;
    }
    if (ms > 0 && (t == 0 || ms < t)) t = ms;
  }
  return t;
}

static void write_result(json_writer_t *w, const promql_result_t *res,
                         int64_t limit, bool *truncated) {
  json_object_begin(w);
  json_key(w, "resultType");
  promql_result_type_t type = promql_result_type(res);
  int64_t t;
  switch (type) {
  case PROMQL_RESULT_SCALAR: {
    json_string(w, "scalar");
    json_key(w, "result");
    double v = promql_result_scalar(res, &t);
    write_point(w, t, v);
    break;
  }
  case PROMQL_RESULT_STRING: {
    json_string(w, "string");
    json_key(w, "result");
    const char *s = promql_result_string(res, &t);
    json_array_begin(w);
    json_timestamp(w, t);
    json_string(w, s);
    json_array_end(w);
    break;
  }
  case PROMQL_RESULT_VECTOR:
  case PROMQL_RESULT_MATRIX: {
    bool vec = type == PROMQL_RESULT_VECTOR;
    json_string(w, vec ? "vector" : "matrix");
    json_key(w, "result");
    json_array_begin(w);
    size_t n = promql_result_len(res);
    if (limit > 0 && (int64_t)n > limit) {
      n = (size_t)limit;
      *truncated = true;
    }
    for (size_t i = 0; i < n; i++) {
      const int64_t *ts;
      const double *vs;
      size_t np = promql_result_points(res, i, &ts, &vs);
      json_object_begin(w);
      json_key(w, "metric");
      write_labels(w, promql_result_labels(res, i));
      if (vec) {
        json_key(w, "value");
        write_point(w, np ? ts[0] : 0, np ? vs[0] : NAN);
      } else {
        json_key(w, "values");
        json_array_begin(w);
        for (size_t k = 0; k < np; k++) write_point(w, ts[k], vs[k]);
        json_array_end(w);
      }
      json_object_end(w);
    }
    json_array_end(w);
    break;
  }
  }
}

static double elapsed_s(const struct timespec *a) {
  struct timespec b;
  clock_gettime(CLOCK_MONOTONIC, &b);
  return (double)(b.tv_sec - a->tv_sec) + (double)(b.tv_nsec - a->tv_nsec) / 1e9;
}

static void run_query(httpd_req_t *r, api_t *api, bool range) {
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  const char *q = httpd_req_param(r, "query");
  int64_t start = 0, end = 0, step = 0, t = 0, limit;
  if (range) {
    if (!param_time(r, "start", INT64_MIN, &start)) return;
    if (start == INT64_MIN) {
      api_error(r, "bad_data", "invalid parameter \"start\": cannot parse \"\" to a valid timestamp");
      return;
    }
    if (!param_time(r, "end", INT64_MIN, &end)) return;
    if (end == INT64_MIN) {
      api_error(r, "bad_data", "invalid parameter \"end\": cannot parse \"\" to a valid timestamp");
      return;
    }
    if (end < start) {
      api_error(r, "bad_data", "invalid parameter \"end\": end timestamp must not be before start time");
      return;
    }
    const char *sv = httpd_req_param(r, "step");
    char err[256];
    if (sv == NULL || ph_parse_duration_or_seconds(sv, strlen(sv), &step, err, sizeof err) != 0) {
      api_error(r, "bad_data", "invalid parameter \"step\": cannot parse \"%s\" to a valid duration",
                sv ? sv : "");
      return;
    }
    if (step <= 0) {
      api_error(r, "bad_data", "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer");
      return;
    }
    if ((end - start) / step > API_MAX_POINTS) {
      api_error(r, "bad_data", "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)");
      return;
    }
  } else {
    if (!param_time(r, "time", ph_now_ms(), &t)) return;
  }
  if (!param_limit(r, &limit)) return;
  bool ok;
  int64_t timeout = timeout_param(r, api, &ok);
  if (!ok) return;
  if (q == NULL) q = "";
  promql_error_t perr;
  promql_parse_opts_t popts = {.experimental_functions = api->experimental_functions};
  promql_expr_t *expr = promql_parse_ex(q, strlen(q), &popts, &perr);
  if (expr == NULL) {
    api_error(r, "bad_data", "invalid parameter \"query\": %s", perr.msg);
    return;
  }
  double prep = elapsed_s(&t0);
  promql_engine_opts_t eo = {api->lookback_ms, timeout, api->max_samples};
  promql_engine_t *eng = promql_engine_new(&eo);
  promql_result_t *res = NULL;
  promql_eval_error_t eerr;
  memset(&eerr, 0, sizeof eerr);
  int rc = range ? promql_eval_range(eng, api->db, expr, start, end, step, &res, &eerr)
                 : promql_eval_instant(eng, api->db, expr, t, &res, &eerr);
  promql_engine_free(eng);
  if (rc != 0) {
    promql_expr_free(expr);
    api_error(r, eerr.error_type ? eerr.error_type : "execution", "%s", eerr.msg);
    return;
  }
  double total = elapsed_s(&t0);
  strbuf_t b = STRBUF_INIT;
  json_writer_t *w = begin_success(&b);
  bool truncated = false;
  /* data: {resultType, result[, stats]} */
  write_result(w, res, limit, &truncated);
  /* write_result left the data object open for stats */
  const char *stats = httpd_req_param(r, "stats");
  if (stats != NULL && stats[0] != '\0') {
    json_key(w, "stats");
    json_object_begin(w);
    json_key(w, "timings");
    json_object_begin(w);
    json_key(w, "evalTotalTime");
    json_double(w, total - prep);
    json_key(w, "resultSortTime");
    json_double(w, 0);
    json_key(w, "queryPreparationTime");
    json_double(w, prep);
    json_key(w, "innerEvalTime");
    json_double(w, total - prep);
    json_key(w, "execQueueTime");
    json_double(w, 0);
    json_key(w, "execTotalTime");
    json_double(w, total);
    json_object_end(w);
    json_key(w, "samples");
    json_object_begin(w);
    json_key(w, "totalQueryableSamples");
    json_uint(w, promql_result_samples_total(res));
    json_key(w, "peakSamples");
    json_uint(w, promql_result_samples_total(res));
    json_object_end(w);
    json_object_end(w);
  }
  json_object_end(w); /* data */
  const char *const *warn;
  size_t nwarn = promql_result_warnings(res, &warn);
  const char *const *info;
  size_t ninfo = promql_result_infos(res, &info);
  const char **allwarn = ph_calloc(nwarn + 1, sizeof(char *));
  for (size_t i = 0; i < nwarn; i++) allwarn[i] = warn[i];
  if (truncated) allwarn[nwarn++] = "results truncated due to limit";
  end_success(r, w, &b, allwarn, nwarn, info, ninfo);
  free(allwarn);
  promql_result_free(res);
  promql_expr_free(expr);
}

static void handle_query(httpd_req_t *r, void *ud) { run_query(r, ud, false); }
static void handle_query_range(httpd_req_t *r, void *ud) { run_query(r, ud, true); }

/* ---- /api/v1/format_query --------------------------------------------------- */

static void handle_format_query(httpd_req_t *r, void *ud) {
  (void)ud;
  const char *q = httpd_req_param(r, "query");
  if (q == NULL) q = "";
  promql_error_t perr;
  promql_expr_t *expr = promql_parse(q, strlen(q), &perr);
  if (expr == NULL) {
    api_error(r, "bad_data", "invalid parameter \"query\": %s", perr.msg);
    return;
  }
  strbuf_t text = STRBUF_INIT, b = STRBUF_INIT;
  promql_format_pretty(expr, &text);
  json_writer_t *w = begin_success(&b);
  json_string_n(w, strbuf_cstr(&text), text.len);
  end_success(r, w, &b, NULL, 0, NULL, 0);
  strbuf_free(&text);
  promql_expr_free(expr);
}

/* ---- /api/v1/series, labels, label values --------------------------------- */

static int cmp_labels_p(const void *a, const void *b) {
  return labels_cmp(*(labels_t *const *)a, *(labels_t *const *)b);
}

static void handle_series(httpd_req_t *r, void *ud) {
  api_t *api = ud;
  int64_t start, end, limit;
  if (!param_time(r, "start", API_MIN_TIME, &start) ||
      !param_time(r, "end", API_MAX_TIME, &end) || !param_limit(r, &limit))
    return;
  selectors_t ss;
  if (!parse_matches(r, &ss)) return;
  if (ss.n == 0) {
    selectors_free(&ss);
    api_error(r, "bad_data", "no match[] parameter provided");
    return;
  }
  tsdb_querier_t *q;
  tsdb_querier_open(api->db, start, end, &q);
  labels_t **all = NULL;
  size_t n = 0, cap = 0;
  char err[512];
  for (size_t i = 0; i < ss.n; i++) {
    const tsdb_matcher_t *m;
    size_t nm = promql_selector_matchers(ss.s[i], &m);
    tsdb_series_set_t *set;
    if (tsdb_select(q, m, nm, &set, err, sizeof err) != 0) {
      for (size_t k = 0; k < n; k++) labels_free(all[k]);
      free(all);
      tsdb_querier_close(q);
      selectors_free(&ss);
      api_error(r, "execution", "%s", err);
      return;
    }
    while (tsdb_series_set_next(set)) {
      ph_grow(&all, &cap, n + 1);
      all[n++] = labels_dup(tsdb_series_set_labels(set));
    }
    tsdb_series_set_free(set);
  }
  tsdb_querier_close(q);
  selectors_free(&ss);
  if (n > 1) qsort(all, n, sizeof(*all), cmp_labels_p);
  strbuf_t b = STRBUF_INIT;
  json_writer_t *w = begin_success(&b);
  json_array_begin(w);
  size_t written = 0;
  bool truncated = false;
  for (size_t i = 0; i < n; i++) {
    if (i > 0 && labels_equal(all[i - 1], all[i])) continue;
    if (limit > 0 && (int64_t)written >= limit) {
      truncated = true;
      break;
    }
    write_labels(w, all[i]);
    written++;
  }
  json_array_end(w);
  for (size_t i = 0; i < n; i++) labels_free(all[i]);
  free(all);
  static const char *const trunc[] = {"results truncated due to limit"};
  end_success(r, w, &b, trunc, truncated ? 1 : 0, NULL, 0);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* label names (name == NULL) or the values of one label name */
static void labels_or_values(httpd_req_t *r, api_t *api, const char *name) {
  int64_t start, end, limit;
  if (!param_time(r, "start", API_MIN_TIME, &start) ||
      !param_time(r, "end", API_MAX_TIME, &end) || !param_limit(r, &limit))
    return;
  selectors_t ss;
  if (!parse_matches(r, &ss)) return;
  tsdb_querier_t *q;
  tsdb_querier_open(api->db, start, end, &q);
  char **acc = NULL;
  size_t nacc = 0, cap = 0;
  char err[512];
  size_t rounds = ss.n ? ss.n : 1;
  int rc = 0;
  for (size_t i = 0; i < rounds && rc == 0; i++) {
    const tsdb_matcher_t *m = NULL;
    size_t nm = ss.n ? promql_selector_matchers(ss.s[i], &m) : 0;
    char **vals;
    size_t nv;
    rc = name ? tsdb_label_values(q, name, m, nm, &vals, &nv, err, sizeof err)
              : tsdb_label_names(q, m, nm, &vals, &nv, err, sizeof err);
    if (rc != 0) break;
    ph_grow(&acc, &cap, nacc + nv);
    for (size_t k = 0; k < nv; k++) acc[nacc++] = vals[k];
    free(vals);
  }
  tsdb_querier_close(q);
  selectors_free(&ss);
  if (rc != 0) {
    tsdb_strings_free(acc, nacc);
    api_error(r, "execution", "%s", err);
    return;
  }
  if (nacc > 1) qsort(acc, nacc, sizeof(*acc), cmp_str);
  strbuf_t b = STRBUF_INIT;
  json_writer_t *w = begin_success(&b);
  json_array_begin(w);
  size_t written = 0;
  bool truncated = false;
  for (size_t i = 0; i < nacc; i++) {
    if (i > 0 && strcmp(acc[i - 1], acc[i]) == 0) continue;
    if (limit > 0 && (int64_t)written >= limit) {
      truncated = true;
      break;
    }
    json_string(w, acc[i]);
    written++;
  }
  json_array_end(w);
  tsdb_strings_free(acc, nacc);
  static const char *const trunc[] = {"results truncated due to limit"};
  end_success(r, w, &b, trunc, truncated ? 1 : 0, NULL, 0);
}

static void handle_labels(httpd_req_t *r, void *ud) { labels_or_values(r, ud, NULL); }

static void handle_label_values(httpd_req_t *r, void *ud) {
  const char *path = httpd_req_path(r);
  const char *prefix = "/api/v1/label/";
  const char *name = path + strlen(prefix);
  size_t len = strlen(name);
  if (len < 7 || strcmp(name + len - 7, "/values") != 0) {
    api_error(r, "not_found", "not found");
    return;
  }
  char *lname = ph_strndup(name, len - 7);
  /* UTF-8 names may be escaped as U__<escaped> per Prometheus 3 */
  if (!labels_valid_name(lname, strlen(lname)) && strncmp(lname, "U__", 3) != 0) {
    api_error(r, "bad_data", "invalid label name: \"%s\"", lname);
    free(lname);
    return;
  }
  labels_or_values(r, ud, lname);
  free(lname);
}

/* ---- status --------------------------------------------------------------- */

static void handle_buildinfo(httpd_req_t *r, void *ud) {
  (void)ud;
  strbuf_t b = STRBUF_INIT;
  json_writer_t *w = begin_success(&b);
  json_object_begin(w);
  /* A Prometheus-style version so Grafana enables its modern code paths
   * (label values with match[], etc.); Pharos's own version is in
   * "pharosVersion". */
  json_key(w, "version");
  json_string(w, "3.0.0");
  json_key(w, "revision");
  json_string(w, PHAROS_COMMIT);
  json_key(w, "branch");
  json_string(w, PHAROS_BRANCH);
  json_key(w, "buildUser");
  json_string(w, "pharos");
  json_key(w, "buildDate");
  json_string(w, PHAROS_BUILD_DATE);
  json_key(w, "goVersion");
  json_string(w, "pharos-" PHAROS_VERSION);
  json_key(w, "pharosVersion");
  json_string(w, PHAROS_VERSION);
  json_object_end(w);
  end_success(r, w, &b, NULL, 0, NULL, 0);
}

static void handle_runtimeinfo(httpd_req_t *r, void *ud) {
  api_t *api = ud;
  char cwd[4096];
  if (getcwd(cwd, sizeof cwd) == NULL) strcpy(cwd, "");
  char tbuf[64], ret[64];
  ph_format_rfc3339(api->start_time_ms, tbuf, sizeof tbuf);
  ph_format_duration(api->retention_ms, ret, sizeof ret);
  strbuf_t b = STRBUF_INIT;
  json_writer_t *w = begin_success(&b);
  json_object_begin(w);
  json_key(w, "startTime");
  json_string(w, tbuf);
  json_key(w, "CWD");
  json_string(w, cwd);
  json_key(w, "reloadConfigSuccess");
  json_bool(w, api->reload_ok ? api->reload_ok(api->ud) : true);
  json_key(w, "lastConfigTime");
  char lc[64];
  ph_format_rfc3339(api->last_config_ms ? api->last_config_ms(api->ud) : api->start_time_ms,
                    lc, sizeof lc);
  json_string(w, lc);
  json_key(w, "corruptionCount");
  json_int(w, 0);
  json_key(w, "goroutineCount");
  json_int(w, 0);
  json_key(w, "GOMAXPROCS");
  json_int(w, sysconf(_SC_NPROCESSORS_ONLN));
  json_key(w, "GOMEMLIMIT");
  json_int(w, INT64_MAX);
  json_key(w, "GOGC");
  json_string(w, "");
  json_key(w, "GODEBUG");
  json_string(w, "");
  json_key(w, "storageRetention");
  json_string(w, ret);
  json_object_end(w);
  end_success(r, w, &b, NULL, 0, NULL, 0);
}

static void handle_flags(httpd_req_t *r, void *ud) {
  api_t *api = ud;
  strbuf_t b = STRBUF_INIT;
  json_writer_t *w = begin_success(&b);
  json_object_begin(w);
  for (size_t i = 0; i < flags_count(api->flags); i++) {
    const char *name, *value;
    flags_at(api->flags, i, &name, &value);
    json_key(w, name);
    json_string(w, value);
  }
  json_object_end(w);
  end_success(r, w, &b, NULL, 0, NULL, 0);
}

static void handle_config(httpd_req_t *r, void *ud) {
  api_t *api = ud;
  char *text = api->config_text ? api->config_text(api->ud) : ph_strdup("");
  strbuf_t b = STRBUF_INIT;
  json_writer_t *w = begin_success(&b);
  json_object_begin(w);
  json_key(w, "yaml");
  json_string(w, text);
  json_object_end(w);
  end_success(r, w, &b, NULL, 0, NULL, 0);
  free(text);
}

static void write_counts(json_writer_t *w, const char *key, const tsdb_count_t *c,
                         size_t n) {
  json_key(w, key);
  json_array_begin(w);
  for (size_t i = 0; i < n; i++) {
    json_object_begin(w);
    json_key(w, "name");
    json_string(w, c[i].name);
    json_key(w, "value");
    json_uint(w, c[i].value);
    json_object_end(w);
  }
  json_array_end(w);
}

static void handle_tsdb_status(httpd_req_t *r, void *ud) {
  api_t *api = ud;
  int64_t limit = 10;
  const char *lv = httpd_req_param(r, "limit");
  if (lv != NULL && lv[0]) {
    char *end;
    limit = strtoll(lv, &end, 10);
    if (*end != '\0' || limit < 1) {
      api_error(r, "bad_data", "limit must be a positive number");
      return;
    }
  }
  tsdb_stats_t st;
  tsdb_get_stats(api->db, &st);
  tsdb_cardinality_t c;
  tsdb_get_cardinality(api->db, (size_t)limit, &c);
  strbuf_t b = STRBUF_INIT;
  json_writer_t *w = begin_success(&b);
  json_object_begin(w);
  json_key(w, "headStats");
  json_object_begin(w);
  json_key(w, "numSeries");
  json_uint(w, st.head_series);
  json_key(w, "numLabelPairs");
  json_uint(w, c.num_label_pairs);
  json_key(w, "chunkCount");
  json_uint(w, st.head_chunks);
  json_key(w, "minTime");
  json_int(w, st.head_series ? st.head_min_time : INT64_MAX);
  json_key(w, "maxTime");
  json_int(w, st.head_series ? st.head_max_time : INT64_MIN);
  json_object_end(w);
  write_counts(w, "seriesCountByMetricName", c.series_by_metric, c.nseries_by_metric);
  write_counts(w, "labelValueCountByLabelName", c.values_by_label, c.nvalues_by_label);
  write_counts(w, "memoryInBytesByLabelName", c.memory_by_label, c.nmemory_by_label);
  write_counts(w, "seriesCountByLabelValuePair", c.series_by_pair, c.nseries_by_pair);
  json_object_end(w);
  end_success(r, w, &b, NULL, 0, NULL, 0);
  tsdb_cardinality_free(&c);
}

/* {"status":"success","data":{"<key>":[]}}: rules and alerts, which stay
 * empty until Pharos evaluates rules. */
static void respond_empty_list(httpd_req_t *r, const char *key) {
  strbuf_t b = STRBUF_INIT;
  json_writer_t *w = begin_success(&b);
  json_object_begin(w);
  json_key(w, key);
  json_array_begin(w);
  json_array_end(w);
  json_object_end(w);
  end_success(r, w, &b, NULL, 0, NULL, 0);
}

static void handle_rules(httpd_req_t *r, void *ud) {
  (void)ud;
  respond_empty_list(r, "groups");
}

static void handle_alerts(httpd_req_t *r, void *ud) {
  (void)ud;
  respond_empty_list(r, "alerts");
}

/* Exemplars are parsed by the scraper but not stored: an honest empty
 * answer in Prometheus's shape, after validating the query. */
static void handle_query_exemplars(httpd_req_t *r, void *ud) {
  (void)ud;
  const char *q = httpd_req_param(r, "query");
  if (q == NULL) q = "";
  promql_error_t perr;
  promql_expr_t *expr = promql_parse(q, strlen(q), &perr);
  if (expr == NULL) {
    api_error(r, "bad_data", "invalid parameter \"query\": %s", perr.msg);
    return;
  }
  promql_expr_free(expr);
  strbuf_t b = STRBUF_INIT;
  json_writer_t *w = begin_success(&b);
  json_array_begin(w);
  json_array_end(w);
  end_success(r, w, &b, NULL, 0, NULL, 0);
}

/* ---- targets and metadata ------------------------------------------------- */

static const char *health_name(scrape_health_t h) {
  switch (h) {
  case SCRAPE_HEALTH_UP: return "up";
  case SCRAPE_HEALTH_DOWN: return "down";
  default: return "unknown";
  }
}

static void handle_targets(httpd_req_t *r, void *ud) {
  api_t *api = ud;
  const char *state = httpd_req_param(r, "state");
  const char *pool = httpd_req_param(r, "scrapePool");
  bool want_active = true, want_dropped = true;
  if (state && state[0]) {
    if (strcasecmp(state, "active") == 0) want_dropped = false;
    else if (strcasecmp(state, "dropped") == 0) want_active = false;
    else if (strcasecmp(state, "any") != 0) want_active = want_dropped = false;
  }
  scrape_target_info_t *t = NULL;
  size_t n = 0;
  scrape_manager_t *m = api->scrape ? api->scrape(api->ud) : NULL;
  if (m) scrape_manager_targets(m, &t, &n);
  strbuf_t b = STRBUF_INIT;
  json_writer_t *w = begin_success(&b);
  json_object_begin(w);
  json_key(w, "activeTargets");
  json_array_begin(w);
  for (size_t i = 0; i < n && want_active; i++) {
    if (t[i].dropped || (pool && pool[0] && strcmp(pool, t[i].pool) != 0)) continue;
    json_object_begin(w);
    json_key(w, "discoveredLabels");
    write_labels(w, t[i].discovered);
    json_key(w, "labels");
    write_labels(w, t[i].labels);
    json_key(w, "scrapePool");
    json_string(w, t[i].pool);
    json_key(w, "scrapeUrl");
    json_string(w, t[i].scrape_url ? t[i].scrape_url : "");
    json_key(w, "globalUrl");
    json_string(w, t[i].scrape_url ? t[i].scrape_url : "");
    json_key(w, "lastError");
    json_string(w, t[i].last_error ? t[i].last_error : "");
    json_key(w, "lastScrape");
    char ts[64];
    if (t[i].last_scrape_ms) ph_format_rfc3339(t[i].last_scrape_ms, ts, sizeof ts);
    else snprintf(ts, sizeof ts, "0001-01-01T00:00:00Z");
    json_string(w, ts);
    json_key(w, "lastScrapeDuration");
    json_double(w, t[i].last_duration_s);
    json_key(w, "health");
    json_string(w, health_name(t[i].health));
    char iv[32], to[32];
    ph_format_duration(t[i].interval_ms, iv, sizeof iv);
    ph_format_duration(t[i].timeout_ms, to, sizeof to);
    json_key(w, "scrapeInterval");
    json_string(w, iv);
    json_key(w, "scrapeTimeout");
    json_string(w, to);
    json_object_end(w);
  }
  json_array_end(w);
  json_key(w, "droppedTargets");
  json_array_begin(w);
  for (size_t i = 0; i < n && want_dropped; i++) {
    if (!t[i].dropped || (pool && pool[0] && strcmp(pool, t[i].pool) != 0)) continue;
    json_object_begin(w);
    json_key(w, "discoveredLabels");
    write_labels(w, t[i].discovered);
    json_key(w, "scrapePool");
    json_string(w, t[i].pool);
    json_object_end(w);
  }
  json_array_end(w);
  json_key(w, "droppedTargetCounts");
  json_object_begin(w);
  for (size_t i = 0; i < n; i++) {
    bool seen = false;
    for (size_t k = 0; k < i && !seen; k++) seen = strcmp(t[k].pool, t[i].pool) == 0;
    if (seen) continue;
    uint64_t c = 0;
    for (size_t k = i; k < n; k++)
      if (t[k].dropped && strcmp(t[k].pool, t[i].pool) == 0) c++;
    json_key(w, t[i].pool);
    json_uint(w, c);
  }
  json_object_end(w);
  json_object_end(w);
  end_success(r, w, &b, NULL, 0, NULL, 0);
  scrape_target_infos_free(t, n);
}

static void write_type_help_unit(json_writer_t *w, const char *type, const char *help,
                                 const char *unit) {
  json_key(w, "type");
  json_string(w, type);
  json_key(w, "help");
  json_string(w, help);
  json_key(w, "unit");
  json_string(w, unit);
}

static void handle_targets_metadata(httpd_req_t *r, void *ud) {
  api_t *api = ud;
  int64_t limit;
  if (!param_limit(r, &limit)) return;
  const char *metric = httpd_req_param(r, "metric");
  const char *mt = httpd_req_param(r, "match_target");
  tsdb_matcher_set_t *match = NULL;
  if (mt && mt[0]) {
    promql_error_t perr;
    promql_selector_t *sel;
    if (promql_parse_selector(mt, strlen(mt), &sel, &perr) != 0) {
      api_error(r, "bad_data", "invalid parameter \"match_target\": %s", perr.msg);
      return;
    }
    const tsdb_matcher_t *m;
    size_t nm = promql_selector_matchers(sel, &m);
    char err[512];
    int rc = tsdb_matcher_set_new(m, nm, &match, err, sizeof err);
    promql_selector_free(sel);
    if (rc != 0) {
      api_error(r, "bad_data", "invalid parameter \"match_target\": %s", err);
      return;
    }
  }
  scrape_metadata_info_t *md = NULL;
  size_t n = 0;
  scrape_manager_t *sm = api->scrape ? api->scrape(api->ud) : NULL;
  if (sm) scrape_manager_metadata(sm, metric && metric[0] ? metric : NULL, &md, &n);
  strbuf_t b = STRBUF_INIT;
  json_writer_t *w = begin_success(&b);
  json_array_begin(w);
  int64_t written = 0;
  for (size_t i = 0; i < n; i++) {
    if (limit > 0 && written >= limit) break;
    if (match && !tsdb_matcher_set_matches(match, md[i].target)) continue;
    json_object_begin(w);
    json_key(w, "target");
    write_labels(w, md[i].target);
    if (!(metric && metric[0])) {
      json_key(w, "metric");
      json_string(w, md[i].metric);
    }
    write_type_help_unit(w, md[i].type, md[i].help, md[i].unit);
    json_object_end(w);
    written++;
  }
  json_array_end(w);
  end_success(r, w, &b, NULL, 0, NULL, 0);
  scrape_metadata_infos_free(md, n);
  tsdb_matcher_set_free(match);
}

typedef struct md_item {
  const char *metric, *type, *help, *unit;
} md_item_t;

static int cmp_md(const void *a, const void *b) {
  const md_item_t *x = a, *y = b;
  int c = strcmp(x->metric, y->metric);
  if (c) return c;
  if ((c = strcmp(x->type, y->type))) return c;
  if ((c = strcmp(x->help, y->help))) return c;
  return strcmp(x->unit, y->unit);
}

static void handle_metadata(httpd_req_t *r, void *ud) {
  api_t *api = ud;
  int64_t limit = 0, per = 0;
  if (!param_limit(r, &limit)) return;
  const char *lp = httpd_req_param(r, "limit_per_metric");
  if (lp && lp[0]) {
    char *end;
    per = strtoll(lp, &end, 10);
    if (*end != '\0') {
      api_error(r, "bad_data", "invalid parameter \"limit_per_metric\": cannot parse \"%s\"", lp);
      return;
    }
  }
  const char *metric = httpd_req_param(r, "metric");
  if (metric && !metric[0]) metric = NULL;
  scrape_metadata_info_t *smd = NULL;
  size_t ns = 0;
  scrape_manager_t *sm = api->scrape ? api->scrape(api->ud) : NULL;
  if (sm) scrape_manager_metadata(sm, metric, &smd, &ns);
  metadata_entry_t *rmd = NULL;
  size_t nr = 0;
  metadata_store_t *ms = api->rw_metadata ? api->rw_metadata(api->ud) : NULL;
  if (ms) metadata_store_list(ms, metric, 0, 0, &rmd, &nr);
  md_item_t *items = ph_calloc(ns + nr + 1, sizeof(*items));
  size_t n = 0;
  for (size_t i = 0; i < ns; i++)
    items[n++] = (md_item_t){smd[i].metric, smd[i].type, smd[i].help, smd[i].unit};
  for (size_t i = 0; i < nr; i++)
    items[n++] = (md_item_t){rmd[i].metric, metadata_type_name(rmd[i].type),
                             rmd[i].help ? rmd[i].help : "", rmd[i].unit ? rmd[i].unit : ""};
  if (n > 1) qsort(items, n, sizeof(*items), cmp_md);
  strbuf_t b = STRBUF_INIT;
  json_writer_t *w = begin_success(&b);
  json_object_begin(w);
  int64_t families = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && strcmp(items[j].metric, items[i].metric) == 0) j++;
    if (limit > 0 && families >= limit) break;
    json_key(w, items[i].metric);
    json_array_begin(w);
    int64_t k = 0;
    for (size_t q = i; q < j; q++) {
      if (q > i && cmp_md(&items[q - 1], &items[q]) == 0) continue; /* same variant */
      if (per > 0 && k >= per) break;
      json_object_begin(w);
      write_type_help_unit(w, items[q].type, items[q].help, items[q].unit);
      json_object_end(w);
      k++;
    }
    json_array_end(w);
    families++;
    i = j;
  }
  json_object_end(w);
  end_success(r, w, &b, NULL, 0, NULL, 0);
  free(items);
  scrape_metadata_infos_free(smd, ns);
  metadata_entries_free(rmd, nr);
}

/* ---- /federate ---------------------------------------------------------------- */

static void put_escaped_value(strbuf_t *b, const char *v) {
  for (; *v; v++) {
    if (*v == '\\') strbuf_puts(b, "\\\\");
    else if (*v == '"') strbuf_puts(b, "\\\"");
    else if (*v == '\n') strbuf_puts(b, "\\n");
    else strbuf_putc(b, *v);
  }
}

typedef struct fed_series {
  labels_t *labels;
  int64_t t;
  double v;
} fed_series_t;

static int cmp_fed(const void *a, const void *b) {
  const fed_series_t *x = a, *y = b;
  const char *nx = labels_get(x->labels, "__name__"), *ny = labels_get(y->labels, "__name__");
  int c = strcmp(nx ? nx : "", ny ? ny : "");
  return c ? c : labels_cmp(x->labels, y->labels);
}

static void handle_federate(httpd_req_t *r, void *ud) {
  api_t *api = ud;
  selectors_t ss;
  if (!parse_matches(r, &ss)) return;
  int64_t now = ph_now_ms();
  tsdb_querier_t *q;
  tsdb_querier_open(api->db, now - api->lookback_ms, now, &q);
  fed_series_t *all = NULL;
  size_t n = 0, cap = 0;
  char err[512];
  for (size_t i = 0; i < ss.n; i++) {
    const tsdb_matcher_t *m;
    size_t nm = promql_selector_matchers(ss.s[i], &m);
    tsdb_series_set_t *set;
    if (tsdb_select(q, m, nm, &set, err, sizeof err) != 0) continue;
    while (tsdb_series_set_next(set)) {
      tsdb_iterator_t *it = tsdb_series_set_iterator(set);
      int64_t t = 0;
      double v = 0;
      bool have = false;
      while (tsdb_iterator_next(it)) {
        tsdb_iterator_at(it, &t, &v);
        have = true;
      }
      if (!have || tsdb_is_stale_nan(v)) continue;
      ph_grow(&all, &cap, n + 1);
      all[n++] = (fed_series_t){labels_dup(tsdb_series_set_labels(set)), t, v};
    }
    tsdb_series_set_free(set);
  }
  tsdb_querier_close(q);
  selectors_free(&ss);
  if (n > 1) qsort(all, n, sizeof(*all), cmp_fed);
  labels_t *ext = api->external_labels ? api->external_labels(api->ud) : NULL;
  strbuf_t b = STRBUF_INIT;
  const char *last_name = NULL;
  for (size_t i = 0; i < n; i++) {
    if (i > 0 && labels_equal(all[i - 1].labels, all[i].labels)) continue;
    const char *name = labels_get(all[i].labels, "__name__");
    if (name == NULL) continue;
    if (last_name == NULL || strcmp(last_name, name) != 0)
      strbuf_printf(&b, "# TYPE %s untyped\n", name);
    last_name = name;
    strbuf_puts(&b, name);
    strbuf_putc(&b, '{');
    bool first = true;
    const labels_t *ls = all[i].labels;
    for (size_t k = 0; k < labels_len(ls); k++) {
      const label_t *l = labels_at(ls, k);
      if (strcmp(l->name, "__name__") == 0) continue;
      strbuf_printf(&b, "%s%s=\"", first ? "" : ",", l->name);
      put_escaped_value(&b, l->value);
      strbuf_putc(&b, '"');
      first = false;
    }
    for (size_t k = 0; ext && k < labels_len(ext); k++) {
      const label_t *l = labels_at(ext, k);
      if (labels_get(ls, l->name) != NULL) continue;
      strbuf_printf(&b, "%s%s=\"", first ? "" : ",", l->name);
      put_escaped_value(&b, l->value);
      strbuf_putc(&b, '"');
      first = false;
    }
    strbuf_putc(&b, '}');
    char num[40];
    format_float_go_g(all[i].v, num, sizeof num);
    strbuf_printf(&b, " %s %lld\n", num, (long long)all[i].t);
  }
  for (size_t i = 0; i < n; i++) labels_free(all[i].labels);
  free(all);
  labels_free(ext);
  httpd_respond_strbuf(r, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
}

/* ---- admin API ------------------------------------------------------------------ */

static bool admin_check(httpd_req_t *r, api_t *api) {
  if (api->admin_enabled) return true;
  api_error(r, "unavailable", "admin APIs disabled");
  return false;
}

static void respond_no_content(httpd_req_t *r) {
  set_cors(r);
  httpd_respond(r, 204, NULL, "", 0);
}

static void handle_snapshot(httpd_req_t *r, void *ud) {
  api_t *api = ud;
  if (!admin_check(r, api)) return;
  const char *sh = httpd_req_param(r, "skip_head");
  bool skip = false;
  if (sh && sh[0]) {
    if (strcmp(sh, "true") == 0 || strcmp(sh, "1") == 0) skip = true;
    else if (strcmp(sh, "false") != 0 && strcmp(sh, "0") != 0) {
      api_error(r, "bad_data", "unable to parse boolean 'skip_head' argument: strconv.ParseBool: parsing \"%s\": invalid syntax", sh);
      return;
    }
  }
  char name[64], tbuf[32];
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(tbuf, sizeof tbuf, "%Y%m%dT%H%M%SZ", &tm);
  snprintf(name, sizeof name, "%s-%08x%08x", tbuf, (unsigned)rand(), (unsigned)rand());
  char dir[4200], parent[4100];
  snprintf(parent, sizeof parent, "%s/snapshots", api->storage_path);
  mkdir(parent, 0755);
  snprintf(dir, sizeof dir, "%s/%s", parent, name);
  char err[512];
  if (tsdb_snapshot(api->db, dir, skip, err, sizeof err) != 0) {
    api_error(r, "internal", "create snapshot: %s", err);
    return;
  }
  strbuf_t b = STRBUF_INIT;
  json_writer_t *w = begin_success(&b);
  json_object_begin(w);
  json_key(w, "name");
  json_string(w, name);
  json_object_end(w);
  end_success(r, w, &b, NULL, 0, NULL, 0);
}

static void handle_delete_series(httpd_req_t *r, void *ud) {
  api_t *api = ud;
  if (!admin_check(r, api)) return;
  int64_t start, end;
  if (!param_time(r, "start", API_MIN_TIME, &start) || !param_time(r, "end", API_MAX_TIME, &end))
    return;
  selectors_t ss;
  if (!parse_matches(r, &ss)) return;
  if (ss.n == 0) {
    selectors_free(&ss);
    api_error(r, "bad_data", "no match[] parameter provided");
    return;
  }
  char err[512];
  for (size_t i = 0; i < ss.n; i++) {
    const tsdb_matcher_t *m;
    size_t nm = promql_selector_matchers(ss.s[i], &m);
    if (tsdb_delete_series(api->db, m, nm, start, end, err, sizeof err) != 0) {
      selectors_free(&ss);
      api_error(r, "internal", "%s", err);
      return;
    }
  }
  selectors_free(&ss);
  respond_no_content(r);
}

static void handle_clean_tombstones(httpd_req_t *r, void *ud) {
  api_t *api = ud;
  if (!admin_check(r, api)) return;
  char err[512];
  if (tsdb_clean_tombstones(api->db, err, sizeof err) != 0) {
    api_error(r, "internal", "%s", err);
    return;
  }
  respond_no_content(r);
}

static void handle_options(httpd_req_t *r, void *ud) {
  (void)ud;
  set_cors(r);
  httpd_respond(r, 200, NULL, "", 0);
}

void api_register(httpd_t *h, api_t *api) {
  if (api->cors_origin && api->cors_origin[0] && strcmp(api->cors_origin, ".*") != 0) {
    tsdb_matcher_t m = {TSDB_MATCH_RE, "origin", api->cors_origin};
    char err[512];
    g_cors_any = false;
    if (tsdb_matcher_set_new(&m, 1, &g_cors_origin, err, sizeof err) != 0)
      log_error("Invalid --web.cors.origin; no origin will be allowed", "err", err);
  }
  static const char *const admin_methods[] = {"POST", "PUT"};
  for (int i = 0; i < 2; i++) {
    httpd_route(h, admin_methods[i], "/api/v1/admin/tsdb/snapshot", handle_snapshot, api);
    httpd_route(h, admin_methods[i], "/api/v1/admin/tsdb/delete_series", handle_delete_series, api);
    httpd_route(h, admin_methods[i], "/api/v1/admin/tsdb/clean_tombstones",
                handle_clean_tombstones, api);
  }
  httpd_route(h, "OPTIONS", "/api/v1/*", handle_options, api);
  static const char *const both[] = {"GET", "POST"};
  for (int i = 0; i < 2; i++) {
    httpd_route(h, both[i], "/api/v1/query", handle_query, api);
    httpd_route(h, both[i], "/api/v1/query_range", handle_query_range, api);
    httpd_route(h, both[i], "/api/v1/series", handle_series, api);
    httpd_route(h, both[i], "/api/v1/labels", handle_labels, api);
    httpd_route(h, both[i], "/api/v1/format_query", handle_format_query, api);
    httpd_route(h, both[i], "/api/v1/query_exemplars", handle_query_exemplars, api);
  }
  httpd_route(h, "GET", "/api/v1/label/*", handle_label_values, api);
  httpd_route(h, "GET", "/api/v1/status/buildinfo", handle_buildinfo, api);
  httpd_route(h, "GET", "/api/v1/status/runtimeinfo", handle_runtimeinfo, api);
  httpd_route(h, "GET", "/api/v1/status/flags", handle_flags, api);
  httpd_route(h, "GET", "/api/v1/status/config", handle_config, api);
  httpd_route(h, "GET", "/api/v1/status/tsdb", handle_tsdb_status, api);
  httpd_route(h, "GET", "/api/v1/rules", handle_rules, api);
  httpd_route(h, "GET", "/api/v1/targets", handle_targets, api);
  httpd_route(h, "GET", "/api/v1/targets/metadata", handle_targets_metadata, api);
  httpd_route(h, "GET", "/api/v1/metadata", handle_metadata, api);
  httpd_route(h, "GET", "/federate", handle_federate, api);
  httpd_route(h, "GET", "/api/v1/alerts", handle_alerts, api);
}
