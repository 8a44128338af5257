/*
 * query.c - `pharosctl query instant|range|series|labels`: the Prometheus
 * HTTP API from the command line, as promtool's query commands.
 *
 * Requests go out through client.c: a form-encoded POST first and, if
 * the server answers 405 Method Not Allowed, the same parameters as a GET
 * (what Prometheus's Go client calls DoGetFallback); label values are a
 * plain GET.  The JSON answer is read with json-c and printed as promtool
 * prints Prometheus's model values:
 *
 *   vector   up{instance="x", job="y"} => 1 @[1700000000.123]   (one line per sample)
 *   matrix   up{instance="x", job="y"} =>                         (series in LabelSet order)
 *            1 @[1700000000]
 *            2 @[1700000015]
 *   scalar   scalar: 1 @[1700000000]
 *   string   the string
 *   series   {__name__="up", instance="x", job="y"}
 *   labels   one value per line
 *
 * Values are Go's FormatFloat(v, 'f', -1), timestamps float seconds in the
 * same form.  `-o json` prints the result part of the answer (data.result,
 * or data for series and labels) as compact JSON, as promtool's JSON
 * printer does.  A failed request prints "query error: <errorType>:
 * <message>" (the server's own errorType and error when the body carries
 * them, else client_error/server_error with the HTTP status, as the Go
 * client reports) and exits 1; a command line that cannot be used (a bad
 * flag or time) exits 2.
 */
#include "client.h"

#include "mem.h"
#include "ph_error.h"
#include "timeparse.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* promtool's defaults for series and label queries without --start/--end:
 * now -/+ 9999 hours. */
#define OPEN_RANGE_MS (9999LL * 3600 * 1000)

typedef struct query_opts {
  const char *format;     /* "promql" or "json" */
  cli_strv_t headers;     /* KEY=VALUE */
  const char *time, *start, *end, *step;
  cli_strv_t match;
} query_opts_t;

static void query_opts_free(query_opts_t *o) {
  cli_strv_free(&o->headers);
  cli_strv_free(&o->match);
}

/* ---- HTTP ----------------------------------------------------------------------- */

/* Runs the request through client.c and prints a failure as promtool
 * does ("query error: <errorType>: <message>", or "query error: Post
 * \"url\": reason" when the server could not be reached).  On success
 * *data is the "data" member of *root (the caller json_object_put()s
 * *root) and any warnings were printed. */
static int api_call(const char *server, const char *path, const char *form, bool post,
                    const query_opts_t *o, json_object **root, json_object **data) {
  cli_api_error_t err;
  if (cli_api_call(server, path, form, post, &o->headers, root, data, &err) != 0) {
    if (err.type[0]) fprintf(stderr, "query error: %s: %s\n", err.type, err.msg);
    else fprintf(stderr, "query error: %s\n", err.msg);
    return 1;
  }
  cli_api_print_warnings(*root, "query warning: ");
  return 0;
}

/* ---- printing -------------------------------------------------------------- */

static void print_json(json_object *v) {
  printf("%s\n", json_object_to_json_string_ext(
                     v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* "v @[t]" from a [t, "v"] pair; false if malformed. */
static bool format_pair(json_object *pair, strbuf_t *out) {
  if (!json_object_is_type(pair, json_type_array) || json_object_array_length(pair) != 2)
    return false;
  int64_t ms;
  const char *ts = json_object_get_string(json_object_array_get_idx(pair, 0));
  if (ts == NULL || cli_parse_json_time(ts, &ms) != 0) return false;
  const char *vs = json_object_get_string(json_object_array_get_idx(pair, 1));
  if (vs == NULL) return false;
  char buf[420], tb[420];
  double v;
  if (strcmp(vs, "NaN") == 0) v = NAN;
  else if (strcmp(vs, "+Inf") == 0 || strcmp(vs, "Inf") == 0) v = INFINITY;
  else if (strcmp(vs, "-Inf") == 0) v = -INFINITY;
  else {
    char *end;
    v = strtod(vs, &end);
    if (*end != '\0' || end == vs) return false;
  }
  cli_format_float_f(v, buf, sizeof buf);
  cli_format_time_seconds(ms, tb, sizeof tb);
  strbuf_printf(out, "%s @[%s]", buf, tb);
  return true;
}

static double json_num(json_object *o) {
  const char *s = o ? json_object_get_string(o) : NULL;
  if (s == NULL) return NAN;
  if (strcmp(s, "+Inf") == 0 || strcmp(s, "Inf") == 0) return INFINITY;
  if (strcmp(s, "-Inf") == 0) return -INFINITY;
  return strtod(s, NULL);
}

/* A native histogram [t, {count, sum, buckets}] as model.SampleHistogramPair
 * prints it: "Count: 3.000000, Sum: 1.500000, Buckets: [[0,1):3] @[t]". */
static bool format_hist_pair(json_object *pair, strbuf_t *out) {
  if (!json_object_is_type(pair, json_type_array) || json_object_array_length(pair) != 2)
    return false;
  int64_t ms;
  const char *ts = json_object_get_string(json_object_array_get_idx(pair, 0));
  if (ts == NULL || cli_parse_json_time(ts, &ms) != 0) return false;
  json_object *h = json_object_array_get_idx(pair, 1), *cnt = NULL, *sum = NULL, *bk = NULL;
  if (!json_object_is_type(h, json_type_object)) return false;
  json_object_object_get_ex(h, "count", &cnt);
  json_object_object_get_ex(h, "sum", &sum);
  json_object_object_get_ex(h, "buckets", &bk);
  strbuf_printf(out, "Count: %f, Sum: %f, Buckets: [", json_num(cnt), json_num(sum));
  size_t nb = bk && json_object_is_type(bk, json_type_array) ? json_object_array_length(bk) : 0;
  for (size_t i = 0; i < nb; i++) {
    json_object *b = json_object_array_get_idx(bk, i);
    if (!json_object_is_type(b, json_type_array) || json_object_array_length(b) != 4) return false;
    int rule = json_object_get_int(json_object_array_get_idx(b, 0));
    char lo[40], hi[40], c[420];
    cli_format_float_g(json_num(json_object_array_get_idx(b, 1)), lo, sizeof lo);
    cli_format_float_g(json_num(json_object_array_get_idx(b, 2)), hi, sizeof hi);
    cli_format_float_f(json_num(json_object_array_get_idx(b, 3)), c, sizeof c);
    strbuf_printf(out, "%s%s%s,%s%s:%s", i ? "," : "", (rule == 1 || rule == 3) ? "[" : "(",
                  lo, hi, (rule == 0 || rule == 3) ? "]" : ")", c);
  }
  char tb[420];
  cli_format_time_seconds(ms, tb, sizeof tb);
  strbuf_printf(out, "] @[%s]", tb);
  return true;
}

typedef struct stream {
  labels_t *ls;
  json_object *o;
} stream_t;

static int cmp_stream(const void *a, const void *b) {
  const stream_t *x = a, *y = b;
  if (cli_labels_before(x->ls, y->ls)) return -1;
  if (cli_labels_before(y->ls, x->ls)) return 1;
  return 0;
}

static int bad_response(const char *what) {
  fprintf(stderr, "query error: bad_response: malformed %s in response\n", what);
  return 1;
}

/* Prints data = {"resultType": ..., "result": ...} as promtool does. */
static int print_result(json_object *data) {
  json_object *rt, *res;
  if (!json_object_object_get_ex(data, "resultType", &rt) ||
      !json_object_object_get_ex(data, "result", &res))
    return bad_response("result");
  const char *type = json_object_get_string(rt);
  strbuf_t out = STRBUF_INIT;
  int rc = 0;
  if (strcmp(type, "scalar") == 0 || strcmp(type, "string") == 0) {
    if (!json_object_is_type(res, json_type_array) || json_object_array_length(res) != 2) {
      rc = bad_response(type);
    } else if (type[1] == 'c') {
      strbuf_puts(&out, "scalar: ");
      if (!format_pair(res, &out)) rc = bad_response("scalar");
    } else {
      const char *s = json_object_get_string(json_object_array_get_idx(res, 1));
      strbuf_puts(&out, s ? s : "");
    }
  } else if (strcmp(type, "vector") == 0 || strcmp(type, "matrix") == 0) {
    bool vector = type[0] == 'v';
    if (!json_object_is_type(res, json_type_array)) {
      strbuf_free(&out);
      return bad_response(type);
    }
    size_t n = json_object_array_length(res);
    stream_t *ss = ph_calloc(n ? n : 1, sizeof(*ss));
    for (size_t i = 0; i < n && rc == 0; i++) {
      json_object *e = json_object_array_get_idx(res, i), *m = NULL;
      if (e) json_object_object_get_ex(e, "metric", &m);
      ss[i].o = e;
      ss[i].ls = cli_json_labels(m);
      if (ss[i].ls == NULL) rc = bad_response("metric");
    }
    if (rc == 0 && !vector) qsort(ss, n, sizeof(*ss), cmp_stream);
    for (size_t i = 0; i < n && rc == 0; i++) {
      if (i) strbuf_putc(&out, '\n');
      labels_format(ss[i].ls, &out);
      json_object *v = NULL, *h = NULL;
      if (vector) {
        strbuf_puts(&out, " => ");
        if (json_object_object_get_ex(ss[i].o, "value", &v)) {
          if (!format_pair(v, &out)) rc = bad_response("sample");
        } else if (json_object_object_get_ex(ss[i].o, "histogram", &h)) {
          if (!format_hist_pair(h, &out)) rc = bad_response("histogram");
        } else {
          rc = bad_response("sample");
        }
        continue;
      }
      strbuf_puts(&out, " =>");
      if (json_object_object_get_ex(ss[i].o, "values", &v) &&
          json_object_is_type(v, json_type_array))
        for (size_t k = 0; k < json_object_array_length(v) && rc == 0; k++) {
          strbuf_putc(&out, '\n');
          if (!format_pair(json_object_array_get_idx(v, k), &out)) rc = bad_response("sample");
        }
      if (json_object_object_get_ex(ss[i].o, "histograms", &h) &&
          json_object_is_type(h, json_type_array))
        for (size_t k = 0; k < json_object_array_length(h) && rc == 0; k++) {
          strbuf_putc(&out, '\n');
          if (!format_hist_pair(json_object_array_get_idx(h, k), &out))
            rc = bad_response("histogram");
        }
    }
    for (size_t i = 0; i < n; i++) labels_free(ss[i].ls);
    free(ss);
  } else {
    fprintf(stderr, "query error: bad_response: unknown result type \"%s\"\n", type);
    rc = 1;
  }
  if (rc == 0) printf("%s\n", strbuf_cstr(&out));
  strbuf_free(&out);
  return rc;
}

/* ---- option handling ---------------------------------------------------------- */

/* Parses a --time/--start/--end value; prints the error and returns 1. */
static int parse_time_flag(const char *what, const char *s, int64_t *ms) {
  char err[256];
  if (ph_parse_time(s, strlen(s), ms, err, sizeof err) != 0) {
    fprintf(stderr, "error parsing %s time: %s\n", what, err);
    return CLI_EXIT_USAGE;
  }
  return 0;
}

static bool check_format(const query_opts_t *o) {
  if (strcmp(o->format, "promql") == 0 || strcmp(o->format, "json") == 0) return true;
  char msg[256];
  snprintf(msg, sizeof msg, "enum value must be one of promql,json, got '%s'", o->format);
  cli_usage_error(msg);
  return false;
}

#define OPT_FORMAT(o)                                                                  \
  {"format", 'o', CLI_OPT_STRING, "<format>",                                         \
   "Output format of the query: promql (as promtool prints) or json (the result as " \
   "the server sent it).", &(o).format}
#define OPT_HEADER(o)                                                                  \
  {"header", 0, CLI_OPT_MULTI, "<key=value>",                                         \
   "Extra headers to send to server (repeatable).", &(o).headers}

/* Parses the command line; returns -1 to continue, else the exit code. */
static int parse(const cli_cmd_t *cmd, const cli_opt_t *opts, size_t nopts, int argc,
                 char **argv, const char **pos, query_opts_t *o) {
  char err[512];
  size_t npos;
  bool help;
  if (cli_parse_args(opts, nopts, cmd->args, cmd->nargs, argc, argv, pos, &npos, &help, err,
                     sizeof err) != 0)
    return cli_usage_error(err);
  if (help) {
    cli_usage(stdout, cmd, opts, nopts);
    return 0;
  }
  if (!check_format(o)) return CLI_EXIT_USAGE;
  return -1;
}

static int finish(const query_opts_t *o, json_object *root, json_object *print, bool promql_result) {
  int rc = 0;
  if (strcmp(o->format, "json") == 0) print_json(print);
  else if (promql_result) rc = print_result(print);
  json_object_put(root);
  return rc;
}

/* ---- commands ------------------------------------------------------------------ */

int cli_query_instant(const cli_cmd_t *cmd, int argc, char **argv) {
  query_opts_t o = {.format = "promql", .time = ""};
  const cli_opt_t opts[] = {
      OPT_FORMAT(o),
      OPT_HEADER(o),
      {"time", 0, CLI_OPT_STRING, "<time>",
       "Query evaluation time (RFC3339 or Unix timestamp); default now.", &o.time},
  };
  const char *pos[2] = {NULL, NULL};
  int rc = parse(cmd, opts, 3, argc, argv, pos, &o);
  if (rc >= 0) goto out;
  int64_t t = ph_now_ms();
  if (o.time[0] && (rc = parse_time_flag("query", o.time, &t)) != 0) goto out;
  strbuf_t form = STRBUF_INIT;
  cli_form_add(&form, "query", pos[1]);
  cli_form_add_time(&form, "time", t);
  json_object *root, *data, *res;
  rc = api_call(pos[0], "/api/v1/query", form.data, true, &o, &root, &data);
  strbuf_free(&form);
  if (rc != 0) goto out;
  if (strcmp(o.format, "json") == 0 && json_object_object_get_ex(data, "result", &res))
    data = res;
  rc = finish(&o, root, data, true);
out:
  query_opts_free(&o);
  return rc;
}

int cli_query_range(const cli_cmd_t *cmd, int argc, char **argv) {
  query_opts_t o = {.format = "promql", .start = "", .end = "", .step = ""};
  const cli_opt_t opts[] = {
      OPT_FORMAT(o),
      OPT_HEADER(o),
      {"start", 0, CLI_OPT_STRING, "<start>",
       "Query range start time (RFC3339 or Unix timestamp); default end - 5m.", &o.start},
      {"end", 0, CLI_OPT_STRING, "<end>",
       "Query range end time (RFC3339 or Unix timestamp); default now.", &o.end},
      {"step", 0, CLI_OPT_STRING, "<duration>",
       "Query step size (duration or seconds); default (end - start) / 250, at least 1s.",
       &o.step},
  };
  const char *pos[2] = {NULL, NULL};
  int rc = parse(cmd, opts, 5, argc, argv, pos, &o);
  if (rc >= 0) goto out;
  int64_t end = ph_now_ms(), start, step = 0;
  if (o.end[0] && (rc = parse_time_flag("end", o.end, &end)) != 0) goto out;
  start = end - 5 * 60 * 1000;
  if (o.start[0] && (rc = parse_time_flag("start", o.start, &start)) != 0) goto out;
  if (end < start) {
    fprintf(stderr, "end time is before start time\n");
    rc = CLI_EXIT_USAGE;
    goto out;
  }
  if (o.step[0]) {
    char err[256] = "";
    if (ph_parse_duration_or_seconds(o.step, strlen(o.step), &step, err, sizeof err) != 0 ||
        step <= 0) {
      fprintf(stderr, "error parsing step: %s\n",
              step <= 0 && err[0] == '\0' ? "step must be positive" : err);
      rc = CLI_EXIT_USAGE;
      goto out;
    }
  } else {
    int64_t res = (end - start) / 1000 / 250;
    step = (res < 1 ? 1 : res) * 1000;
  }
  strbuf_t form = STRBUF_INIT;
  cli_form_add(&form, "query", pos[1]);
  cli_form_add_time(&form, "start", start);
  cli_form_add_time(&form, "end", end);
  char sb[420];
  cli_format_time_seconds(step, sb, sizeof sb);
  cli_form_add(&form, "step", sb);
  json_object *root, *data, *res;
  rc = api_call(pos[0], "/api/v1/query_range", form.data, true, &o, &root, &data);
  strbuf_free(&form);
  if (rc != 0) goto out;
  if (strcmp(o.format, "json") == 0 && json_object_object_get_ex(data, "result", &res))
    data = res;
  rc = finish(&o, root, data, true);
out:
  query_opts_free(&o);
  return rc;
}

/* --start/--end for series and labels: now -/+ 9999h when absent. */
static int open_range(const query_opts_t *o, int64_t *start, int64_t *end) {
  int64_t now = ph_now_ms();
  *start = now - OPEN_RANGE_MS;
  *end = now + OPEN_RANGE_MS;
  if (o->start[0] && parse_time_flag("start", o->start, start) != 0) return 1;
  if (o->end[0] && parse_time_flag("end", o->end, end) != 0) return 1;
  return 0;
}

int cli_query_series(const cli_cmd_t *cmd, int argc, char **argv) {
  query_opts_t o = {.format = "promql", .start = "", .end = ""};
  const cli_opt_t opts[] = {
      OPT_FORMAT(o),
      OPT_HEADER(o),
      {"match", 0, CLI_OPT_MULTI, "<selector>",
       "Series selector (repeatable; at least one required).", &o.match},
      {"start", 0, CLI_OPT_STRING, "<start>", "Start time (RFC3339 or Unix timestamp).",
       &o.start},
      {"end", 0, CLI_OPT_STRING, "<end>", "End time (RFC3339 or Unix timestamp).", &o.end},
  };
  const char *pos[1] = {NULL};
  int rc = parse(cmd, opts, 5, argc, argv, pos, &o);
  if (rc >= 0) goto out;
  if (o.match.n == 0) {
    rc = cli_usage_error("required flag --match not provided");
    goto out;
  }
  int64_t start, end;
  if ((rc = open_range(&o, &start, &end)) != 0) goto out;
  strbuf_t form = STRBUF_INIT;
  for (size_t i = 0; i < o.match.n; i++) cli_form_add(&form, "match[]", o.match.v[i]);
  cli_form_add_time(&form, "start", start);
  cli_form_add_time(&form, "end", end);
  json_object *root, *data;
  rc = api_call(pos[0], "/api/v1/series", form.data, true, &o, &root, &data);
  strbuf_free(&form);
  if (rc != 0) goto out;
  if (strcmp(o.format, "json") == 0) {
    rc = finish(&o, root, data, false);
    goto out;
  }
  if (!json_object_is_type(data, json_type_array)) {
    json_object_put(root);
    rc = bad_response("series list");
    goto out;
  }
  strbuf_t out = STRBUF_INIT;
  for (size_t i = 0; i < json_object_array_length(data) && rc == 0; i++) {
    labels_t *ls = cli_json_labels(json_object_array_get_idx(data, i));
    if (ls == NULL) {
      rc = bad_response("series");
      break;
    }
    labels_format_braces(ls, &out);
    strbuf_putc(&out, '\n');
    labels_free(ls);
  }
  if (rc == 0) fputs(strbuf_cstr(&out), stdout);
  strbuf_free(&out);
  json_object_put(root);
out:
  query_opts_free(&o);
  return rc;
}

int cli_query_labels(const cli_cmd_t *cmd, int argc, char **argv) {
  query_opts_t o = {.format = "promql", .start = "", .end = ""};
  const cli_opt_t opts[] = {
      OPT_FORMAT(o),
      OPT_HEADER(o),
      {"match", 0, CLI_OPT_MULTI, "<selector>",
       "Series selector limiting the series considered (repeatable).", &o.match},
      {"start", 0, CLI_OPT_STRING, "<start>", "Start time (RFC3339 or Unix timestamp).",
       &o.start},
      {"end", 0, CLI_OPT_STRING, "<end>", "End time (RFC3339 or Unix timestamp).", &o.end},
  };
  const char *pos[2] = {NULL, NULL};
  int rc = parse(cmd, opts, 5, argc, argv, pos, &o);
  if (rc >= 0) goto out;
  int64_t start, end;
  if ((rc = open_range(&o, &start, &end)) != 0) goto out;
  strbuf_t form = STRBUF_INIT, path = STRBUF_INIT;
  for (size_t i = 0; i < o.match.n; i++) cli_form_add(&form, "match[]", o.match.v[i]);
  cli_form_add_time(&form, "start", start);
  cli_form_add_time(&form, "end", end);
  strbuf_puts(&path, "/api/v1/label/");
  cli_url_escape(&path, pos[1]);
  strbuf_puts(&path, "/values");
  json_object *root, *data;
  rc = api_call(pos[0], path.data, form.data, false, &o, &root, &data);
  strbuf_free(&form);
  strbuf_free(&path);
  if (rc != 0) goto out;
  if (strcmp(o.format, "json") == 0) {
    rc = finish(&o, root, data, false);
    goto out;
  }
  if (!json_object_is_type(data, json_type_array)) {
    json_object_put(root);
    rc = bad_response("label values");
    goto out;
  }
  for (size_t i = 0; i < json_object_array_length(data); i++)
    printf("%s\n", json_object_get_string(json_object_array_get_idx(data, i)));
  json_object_put(root);
out:
  query_opts_free(&o);
  return rc;
}
