/*
 * cmd.c - pharosctl's main commands: query, query-range, series, labels,
 * label-values and targets.
 *
 * Each asks a server through the Prometheus HTTP API (client.c; --server,
 * default http://localhost:9090) or, for all but targets, reads a data
 * directory itself (--data-dir): the TSDB is opened as the tsdb commands
 * open it (a directory a running pharos holds is refused) and the
 * expression evaluated by the query engine (query/promql.h), so both
 * sources print the same thing.  Results go through render.c: an aligned
 * table (default), -o csv, or -o json, which prints the API's "data" (as
 * the server sent it, or as the server would have written it).
 *
 * Requests: query and query-range are form POSTs to /api/v1/query and
 * /api/v1/query_range (GET on 405), series and labels POSTs to
 * /api/v1/series and /api/v1/labels, label-values and targets GETs.
 *
 * Exit status: 0 success; 1 the query failed (the server's or engine's
 * error, printed as "error: <errorType>: <message>"; "connection" when
 * the server cannot be reached) or the directory cannot be used; 2 the
 * command line is wrong (cli_usage_error, or a time, duration or format
 * that does not parse).  Warnings print as "warning: <message>".
 */
#include "client.h"

#include "mem.h"
#include "ph_error.h"
#include "promql.h"
#include "timeparse.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Prometheus's limit on points per series of a range query. */
#define MAX_RANGE_POINTS 11000
#define DEFAULT_RANGE_MS (3600 * 1000LL)
#define DEFAULT_RANGE_STEPS 60

typedef enum { OUT_TABLE, OUT_JSON, OUT_CSV } out_kind_t;

typedef struct main_opts {
  const char *server, *data_dir, *output;
  cli_strv_t headers;
  const char *time, *start, *end, *step;
  cli_strv_t match;
  out_kind_t out;
} main_opts_t;

static void main_opts_free(main_opts_t *o) {
  cli_strv_free(&o->headers);
  cli_strv_free(&o->match);
}

#define OPT_SERVER(o)                                                                   \
  {"server", 0, CLI_OPT_STRING, "<url>",                                               \
   "Prometheus-compatible server to ask (default " CLI_DEFAULT_SERVER ").", &(o).server}
#define OPT_DATA_DIR(o)                                                                 \
  {"data-dir", 0, CLI_OPT_STRING, "<dir>",                                             \
   "Read this data directory directly instead of asking a server (not one a running " \
   "pharos holds).",                                                                    \
   &(o).data_dir}
#define OPT_OUTPUT(o)                                                                   \
  {"output", 'o', CLI_OPT_STRING, "<format>",                                          \
   "Output format: table (default), json (the API's data) or csv.", &(o).output}
#define OPT_HEADER(o)                                                                   \
  {"header", 0, CLI_OPT_MULTI, "<key=value>", "Extra HTTP header to send (repeatable).", \
   &(o).headers}

/* Parses the command line and settles server / data directory / output;
 * -1 to go on, else the exit code. */
static int parse(const cli_cmd_t *cmd, const cli_opt_t *opts, size_t nopts, int argc,
                 char **argv, const char **pos, size_t *npos, main_opts_t *o,
                 bool data_dir_allowed) {
  char err[512];
  bool help;
  size_t np;
  if (cli_parse_args(opts, nopts, cmd->args, cmd->nargs, argc, argv, pos, npos ? npos : &np,
                     &help, err, sizeof err) != 0)
    return cli_usage_error(err);
  if (help) {
    cli_usage(stdout, cmd, opts, nopts);
    return CLI_EXIT_OK;
  }
  if (o->server == NULL) o->server = cli_globals.server;
  if (o->data_dir == NULL) o->data_dir = cli_globals.data_dir;
  if (o->output == NULL) o->output = cli_globals.output;
  if (o->data_dir && !data_dir_allowed)
    return cli_usage_error("--data-dir does not apply to this command; it needs a server");
  if (o->data_dir && o->server)
    return cli_usage_error("--server and --data-dir exclude each other");
  if (o->server == NULL) o->server = CLI_DEFAULT_SERVER;
  const char *f = o->output ? o->output : "table";
  if (strcmp(f, "table") == 0) o->out = OUT_TABLE;
  else if (strcmp(f, "json") == 0) o->out = OUT_JSON;
  else if (strcmp(f, "csv") == 0) o->out = OUT_CSV;
  else {
    snprintf(err, sizeof err, "enum value must be one of table,json,csv, got '%s'", f);
    return cli_usage_error(err);
  }
  return -1;
}

/* A time flag: RFC 3339, Unix seconds, "now", or "-<duration>" /
 * "now-<duration>" before now.  false after printing a usage error. */
static bool parse_when(const char *flag, const char *s, int64_t now, int64_t *ms) {
  char err[256] = "";
  const char *rel = NULL;
  if (strcmp(s, "now") == 0) {
    *ms = now;
    return true;
  }
  if (strncmp(s, "now-", 4) == 0) rel = s + 4;
  else if (s[0] == '-' && s[1] && (s[1] < '0' || s[1] > '9' || strpbrk(s, "smhdwy")))
    rel = s + 1;
  if (rel) {
    int64_t d;
    if (ph_parse_duration(rel, strlen(rel), &d, err, sizeof err) == 0) {
      *ms = now - d;
      return true;
    }
  } else if (ph_parse_time(s, strlen(s), ms, err, sizeof err) == 0) {
    return true;
  }
  char msg[512];
  snprintf(msg, sizeof msg, "invalid value \"%s\" for --%s: %s", s, flag, err);
  cli_usage_error(msg);
  return false;
}

/* ---- errors and output ------------------------------------------------------------- */

static int query_error(const char *type, const char *msg) {
  fprintf(stderr, "error: %s: %s\n", type[0] ? type : "connection", msg);
  return CLI_EXIT_FAIL;
}

static int api_failed(const cli_api_error_t *e) { return query_error(e->type, e->msg); }

static void emit(strbuf_t *b) {
  if (b->len) fwrite(b->data, 1, b->len, stdout);
}

static void print_api_json(json_object *data) {
  printf("%s\n", json_object_to_json_string_ext(
                     data, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* Prints a result as table or CSV (JSON is the caller's: it depends on
 * the source). */
static void print_result(const cli_result_t *r, const main_opts_t *o, const cli_range_t *g) {
  strbuf_t b = STRBUF_INIT;
  if (o->out == OUT_CSV) cli_render_csv(r, &b);
  else cli_render_table(r, g, getenv("COLUMNS"), &b);
  emit(&b);
  strbuf_free(&b);
}

/* ---- the local engine ---------------------------------------------------------------- */

/* A copy of ls that owns its strings: sets from the database (and the
 * engine's results) may point into its symbol table, which tsdb_close
 * frees, and labels_dup keeps that table. */
static labels_t *own_labels(const labels_t *ls) {
  size_t n = labels_len(ls);
  label_t *p = ph_calloc(n ? n : 1, sizeof(*p));
  for (size_t i = 0; i < n; i++) p[i] = *labels_at(ls, i);
  labels_t *c = labels_new(NULL, p, n, NULL, 0);
  free(p);
  return c ? c : labels_empty();
}

/* Converts the engine's result into r (initialised here). */
static void from_engine(const promql_result_t *pr, cli_result_t *r) {
  switch (promql_result_type(pr)) {
  case PROMQL_RESULT_SCALAR:
    cli_result_init(r, CLI_RESULT_SCALAR);
    r->scalar = promql_result_scalar(pr, &r->t);
    return;
  case PROMQL_RESULT_STRING:
    cli_result_init(r, CLI_RESULT_STRING);
    r->str = ph_strdup(promql_result_string(pr, &r->t));
    return;
  case PROMQL_RESULT_VECTOR: cli_result_init(r, CLI_RESULT_VECTOR); break;
  case PROMQL_RESULT_MATRIX: cli_result_init(r, CLI_RESULT_MATRIX); break;
  }
  for (size_t i = 0; i < promql_result_len(pr); i++) {
    cli_series_t *s = cli_result_add_series(r, own_labels(promql_result_labels(pr, i)));
    const int64_t *ts;
    const double *vs;
    size_t n = promql_result_points(pr, i, &ts, &vs);
    for (size_t k = 0; k < n; k++) cli_series_add_point(s, ts[k], vs[k]);
  }
}

/* Evaluates expr over dir at t (step 0) or over [start, end] every step;
 * fills r on success.  Returns the exit code. */
static int local_eval(const char *dir, const char *expr, int64_t start, int64_t end,
                      int64_t step, cli_result_t *r) {
  promql_error_t perr;
  promql_expr_t *e = promql_parse(expr, strlen(expr), &perr);
  if (e == NULL) {
    char msg[1200];
    snprintf(msg, sizeof msg, "invalid parameter \"query\": %s", perr.msg);
    return query_error("bad_data", msg);
  }
  tsdb_t *db;
  if (cli_open_db(dir, false, 0, &db) != 0) {
    promql_expr_free(e);
    return CLI_EXIT_FAIL;
  }
  promql_engine_t *eng = promql_engine_new(NULL);
  promql_result_t *pr = NULL;
  promql_eval_error_t eerr;
  int rc = step > 0 ? promql_eval_range(eng, db, e, start, end, step, &pr, &eerr)
                    : promql_eval_instant(eng, db, e, start, &pr, &eerr);
  if (rc != 0) {
    rc = query_error(eerr.error_type ? eerr.error_type : "execution", eerr.msg);
  } else {
    const char *const *msgs;
    size_t n = promql_result_warnings(pr, &msgs);
    for (size_t i = 0; i < n; i++) fprintf(stderr, "warning: %s\n", msgs[i]);
    n = promql_result_infos(pr, &msgs);
    for (size_t i = 0; i < n; i++) fprintf(stderr, "warning: %s\n", msgs[i]);
    from_engine(pr, r);
    promql_result_free(pr);
  }
  promql_engine_free(eng);
  tsdb_close(db);
  promql_expr_free(e);
  return rc;
}

/* ---- query and query-range -------------------------------------------------------------- */

/* Runs the query against the server or the directory and prints it.
 * g is NULL for an instant query at `at`. */
static int run_query(const main_opts_t *o, const char *expr, int64_t at, const cli_range_t *g) {
  cli_result_t r;
  int rc;
  if (o->data_dir) {
    rc = g ? local_eval(o->data_dir, expr, g->start, g->end, g->step, &r)
           : local_eval(o->data_dir, expr, at, at, 0, &r);
    if (rc != 0) return rc;
    if (o->out == OUT_JSON) {
      strbuf_t b = STRBUF_INIT;
      cli_render_json(&r, &b);
      strbuf_putc(&b, '\n');
      emit(&b);
      strbuf_free(&b);
    } else {
      print_result(&r, o, g);
    }
    cli_result_free(&r);
    return CLI_EXIT_OK;
  }
  strbuf_t form = STRBUF_INIT;
  cli_form_add(&form, "query", expr);
  if (g) {
    char sb[420];
    cli_form_add_time(&form, "start", g->start);
    cli_form_add_time(&form, "end", g->end);
    cli_format_time_seconds(g->step, sb, sizeof sb);
    cli_form_add(&form, "step", sb);
  } else {
    cli_form_add_time(&form, "time", at);
  }
  json_object *root, *data;
  cli_api_error_t err;
  rc = cli_api_call(o->server, g ? "/api/v1/query_range" : "/api/v1/query", form.data, true,
                    &o->headers, &root, &data, &err);
  strbuf_free(&form);
  if (rc != 0) return api_failed(&err);
  cli_api_print_warnings(root, "warning: ");
  if (o->out == OUT_JSON) {
    print_api_json(data);
    json_object_put(root);
    return CLI_EXIT_OK;
  }
  size_t hist;
  rc = cli_json_to_result(data, &r, &hist, &err);
  json_object_put(root);
  if (rc != 0) {
    cli_result_free(&r);
    return api_failed(&err);
  }
  if (hist > 0)
    fprintf(stderr, "warning: %zu native histogram samples left out; -o json shows them\n", hist);
  print_result(&r, o, g);
  cli_result_free(&r);
  return CLI_EXIT_OK;
}

int cli_cmd_query(const cli_cmd_t *cmd, int argc, char **argv) {
  main_opts_t o = {0};
  const cli_opt_t opts[] = {
      OPT_SERVER(o), OPT_DATA_DIR(o), OPT_OUTPUT(o), OPT_HEADER(o),
      {"time", 0, CLI_OPT_STRING, "<time>",
       "Evaluation time: RFC 3339, Unix seconds, now or -<duration> (default now).", &o.time},
  };
  const char *pos[1] = {NULL};
  int rc = parse(cmd, opts, 5, argc, argv, pos, NULL, &o, true);
  if (rc < 0) {
    int64_t now = ph_now_ms(), t = now;
    if (o.time && !parse_when("time", o.time, now, &t)) rc = CLI_EXIT_USAGE;
    else rc = run_query(&o, pos[0], t, NULL);
  }
  main_opts_free(&o);
  return rc;
}

int cli_cmd_query_range(const cli_cmd_t *cmd, int argc, char **argv) {
  main_opts_t o = {0};
  const cli_opt_t opts[] = {
      OPT_SERVER(o), OPT_DATA_DIR(o), OPT_OUTPUT(o), OPT_HEADER(o),
      {"start", 0, CLI_OPT_STRING, "<time>", "Start of the range (default end - 1h).", &o.start},
      {"end", 0, CLI_OPT_STRING, "<time>", "End of the range (default now).", &o.end},
      {"step", 0, CLI_OPT_STRING, "<duration>",
       "Step: a duration (15s, 1m) or seconds (default (end - start) / 60, at least 1s).",
       &o.step},
  };
  const char *pos[1] = {NULL};
  int rc = parse(cmd, opts, 7, argc, argv, pos, NULL, &o, true);
  if (rc >= 0) goto out;
  int64_t now = ph_now_ms();
  cli_range_t g = {0, now, 0};
  rc = CLI_EXIT_USAGE;
  if (o.end && !parse_when("end", o.end, now, &g.end)) goto out;
  g.start = g.end - DEFAULT_RANGE_MS;
  if (o.start && !parse_when("start", o.start, now, &g.start)) goto out;
  if (g.end < g.start) {
    cli_usage_error("the end of the range is before its start");
    goto out;
  }
  if (o.step) {
    char err[256] = "";
    if (ph_parse_duration_or_seconds(o.step, strlen(o.step), &g.step, err, sizeof err) != 0 ||
        g.step <= 0) {
      char msg[400];
      snprintf(msg, sizeof msg, "invalid value \"%s\" for --step: %s", o.step,
               err[0] ? err : "the step must be positive");
      cli_usage_error(msg);
      goto out;
    }
  } else {
    g.step = (g.end - g.start) / DEFAULT_RANGE_STEPS / 1000 * 1000;
    if (g.step < 1000) g.step = 1000;
  }
  if (o.data_dir && (g.end - g.start) / g.step >= MAX_RANGE_POINTS) {
    rc = query_error("bad_data", "exceeded maximum resolution of 11,000 points per timeseries. "
                                 "Try decreasing the query resolution (?step=XX)");
    goto out;
  }
  rc = run_query(&o, pos[0], 0, &g);
out:
  main_opts_free(&o);
  return rc;
}

/* ---- series, labels, label-values ----------------------------------------------------------- */

/* --start/--end of the metadata commands: absent means open (all time). */
static bool meta_range(const main_opts_t *o, int64_t *start, int64_t *end) {
  int64_t now = ph_now_ms();
  *start = INT64_MIN;
  *end = INT64_MAX;
  if (o->start && !parse_when("start", o->start, now, start)) return false;
  if (o->end && !parse_when("end", o->end, now, end)) return false;
  return true;
}

/* Parses every selector; *out owned by the caller (free_selectors).  The
 * exit code (0 when all parse). */
static int parse_selectors(const char *const *texts, size_t n, promql_selector_t ***out) {
  promql_selector_t **s = ph_calloc(n ? n : 1, sizeof(*s));
  for (size_t i = 0; i < n; i++) {
    promql_error_t perr;
    if (promql_parse_selector(texts[i], strlen(texts[i]), &s[i], &perr) != 0) {
      for (size_t k = 0; k < i; k++) promql_selector_free(s[k]);
      free(s);
      char msg[1200];
      snprintf(msg, sizeof msg, "invalid parameter \"match[]\": %s", perr.msg);
      return query_error("bad_data", msg);
    }
  }
  *out = s;
  return 0;
}

static void free_selectors(promql_selector_t **s, size_t n) {
  for (size_t i = 0; i < n; i++) promql_selector_free(s[i]);
  free(s);
}

static int cmp_labels_p(const void *a, const void *b) {
  return labels_cmp(*(labels_t *const *)a, *(labels_t *const *)b);
}

static int cmp_str_p(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Opens dir and a querier over [start, end]; the exit code. */
static int local_open(const char *dir, int64_t start, int64_t end, tsdb_t **db,
                      tsdb_querier_t **q) {
  if (cli_open_db(dir, false, 0, db) != 0) return CLI_EXIT_FAIL;
  int rc = tsdb_querier_open(*db, start, end, q);
  if (rc != 0) {
    tsdb_close(*db);
    return query_error("internal", ph_strerror(rc));
  }
  return 0;
}

static void print_series(labels_t *const *ls, size_t n, const main_opts_t *o) {
  strbuf_t b = STRBUF_INIT;
  if (o->out == OUT_JSON) {
    cli_render_json_series(ls, n, &b);
    strbuf_putc(&b, '\n');
  } else {
    const char **items = ph_calloc(n ? n : 1, sizeof(*items));
    strbuf_t *names = ph_calloc(n ? n : 1, sizeof(*names));
    for (size_t i = 0; i < n; i++) {
      strbuf_init(&names[i]);
      labels_format(ls[i], &names[i]);
      strbuf_puts(&names[i], "");
      items[i] = names[i].data;
    }
    cli_render_list("series", items, n, o->out == OUT_CSV, &b);
    for (size_t i = 0; i < n; i++) strbuf_free(&names[i]);
    free(names);
    free(items);
  }
  emit(&b);
  strbuf_free(&b);
}

/* Selects every selector's series in dir (each once, sorted). */
static int local_series(const main_opts_t *o, const char *const *match, size_t nmatch,
                        int64_t start, int64_t end) {
  promql_selector_t **sels;
  int rc = parse_selectors(match, nmatch, &sels);
  if (rc != 0) return rc;
  tsdb_t *db;
  tsdb_querier_t *q;
  if ((rc = local_open(o->data_dir, start, end, &db, &q)) != 0) {
    free_selectors(sels, nmatch);
    return rc;
  }
  labels_t **all = NULL;
  size_t n = 0, cap = 0;
  for (size_t i = 0; i < nmatch && rc == 0; i++) {
    const tsdb_matcher_t *m;
    size_t nm = promql_selector_matchers(sels[i], &m);
    tsdb_series_set_t *set;
    char err[512];
    if (tsdb_select(q, m, nm, &set, err, sizeof err) != 0) {
      rc = query_error("execution", err);
      break;
    }
    while (tsdb_series_set_next(set)) {
      ph_grow(&all, &cap, n + 1);
      all[n++] = own_labels(tsdb_series_set_labels(set));
    }
    tsdb_series_set_free(set);
  }
  tsdb_querier_close(q);
  tsdb_close(db);
  free_selectors(sels, nmatch);
  if (n > 1) qsort(all, n, sizeof(*all), cmp_labels_p);
  size_t u = 0; /* drop the series several selectors found */
  for (size_t i = 0; i < n; i++) {
    if (u > 0 && labels_equal(all[u - 1], all[i])) labels_free(all[i]);
    else all[u++] = all[i];
  }
  if (rc == 0) print_series(all, u, o);
  for (size_t i = 0; i < u; i++) labels_free(all[i]);
  free(all);
  return rc;
}

int cli_cmd_series(const cli_cmd_t *cmd, int argc, char **argv) {
  main_opts_t o = {0};
  const cli_opt_t opts[] = {
      OPT_SERVER(o), OPT_DATA_DIR(o), OPT_OUTPUT(o), OPT_HEADER(o),
      {"start", 0, CLI_OPT_STRING, "<time>", "Only series with samples from then on.", &o.start},
      {"end", 0, CLI_OPT_STRING, "<time>", "Only series with samples until then.", &o.end},
  };
  const char **pos = ph_calloc((size_t)argc + 1, sizeof(*pos));
  size_t npos = 0;
  int64_t start, end;
  int rc = parse(cmd, opts, 6, argc, argv, pos, &npos, &o, true);
  if (rc >= 0) goto out;
  rc = CLI_EXIT_USAGE;
  if (!meta_range(&o, &start, &end)) goto out;
  if (o.data_dir) {
    rc = local_series(&o, pos, npos, start, end);
    goto out;
  }
  strbuf_t form = STRBUF_INIT;
  for (size_t i = 0; i < npos; i++) cli_form_add(&form, "match[]", pos[i]);
  if (o.start) cli_form_add_time(&form, "start", start);
  if (o.end) cli_form_add_time(&form, "end", end);
  json_object *root, *data;
  cli_api_error_t err;
  rc = cli_api_call(o.server, "/api/v1/series", form.data, true, &o.headers, &root, &data, &err);
  strbuf_free(&form);
  if (rc != 0) {
    rc = api_failed(&err);
    goto out;
  }
  cli_api_print_warnings(root, "warning: ");
  if (o.out == OUT_JSON) {
    print_api_json(data);
  } else if (!json_object_is_type(data, json_type_array)) {
    rc = query_error("bad_response", "malformed series list in response");
  } else {
    size_t n = json_object_array_length(data);
    labels_t **ls = ph_calloc(n ? n : 1, sizeof(*ls));
    for (size_t i = 0; i < n && rc == 0; i++)
      if ((ls[i] = cli_json_labels(json_object_array_get_idx(data, i))) == NULL)
        rc = query_error("bad_response", "malformed series in response");
    if (rc == 0) print_series(ls, n, &o);
    for (size_t i = 0; i < n; i++) labels_free(ls[i]);
    free(ls);
  }
  json_object_put(root);
out:
  free(pos);
  main_opts_free(&o);
  return rc;
}

static void print_strings(const char *header, char *const *s, size_t n, const main_opts_t *o) {
  strbuf_t b = STRBUF_INIT;
  if (o->out == OUT_JSON) {
    cli_render_json_strings(s, n, &b);
    strbuf_putc(&b, '\n');
  } else {
    cli_render_list(header, (const char *const *)s, n, o->out == OUT_CSV, &b);
  }
  emit(&b);
  strbuf_free(&b);
}

/* Label names (name NULL) or one label's values in dir, over every
 * selector's series (all series without one), sorted and unique. */
static int local_labels(const main_opts_t *o, const char *name, int64_t start, int64_t end) {
  promql_selector_t **sels;
  int rc = parse_selectors(o->match.v, o->match.n, &sels);
  if (rc != 0) return rc;
  tsdb_t *db;
  tsdb_querier_t *q;
  if ((rc = local_open(o->data_dir, start, end, &db, &q)) != 0) {
    free_selectors(sels, o->match.n);
    return rc;
  }
  char **all = NULL;
  size_t n = 0, cap = 0;
  size_t rounds = o->match.n ? o->match.n : 1;
  for (size_t i = 0; i < rounds && rc == 0; i++) {
    const tsdb_matcher_t *m = NULL;
    size_t nm = o->match.n ? promql_selector_matchers(sels[i], &m) : 0;
    char **got;
    size_t ngot;
    char err[512];
    int lrc = name ? tsdb_label_values(q, name, m, nm, &got, &ngot, err, sizeof err)
                   : tsdb_label_names(q, m, nm, &got, &ngot, err, sizeof err);
    if (lrc != 0) {
      rc = query_error("execution", err);
      break;
    }
    ph_grow(&all, &cap, n + ngot + 1);
    for (size_t k = 0; k < ngot; k++) all[n++] = got[k];
    free(got); /* the strings moved to all */
  }
  tsdb_querier_close(q);
  tsdb_close(db);
  free_selectors(sels, o->match.n);
  if (n > 1) qsort(all, n, sizeof(*all), cmp_str_p);
  size_t u = 0;
  for (size_t i = 0; i < n; i++) {
    if (u > 0 && strcmp(all[u - 1], all[i]) == 0) free(all[i]);
    else all[u++] = all[i];
  }
  if (rc == 0) print_strings(name ? name : "label", all, u, o);
  tsdb_strings_free(all, u);
  return rc;
}

/* labels (name NULL) and label-values NAME. */
static int run_labels(const main_opts_t *o, const char *name) {
  int64_t start, end;
  if (!meta_range(o, &start, &end)) return CLI_EXIT_USAGE;
  if (o->data_dir) {
    if (name && !labels_valid_name(name, strlen(name))) { /* as the API answers */
      char msg[512];
      snprintf(msg, sizeof msg, "invalid label name: \"%.400s\"", name);
      return query_error("bad_data", msg);
    }
    return local_labels(o, name, start, end);
  }
  strbuf_t form = STRBUF_INIT, path = STRBUF_INIT;
  for (size_t i = 0; i < o->match.n; i++) cli_form_add(&form, "match[]", o->match.v[i]);
  if (o->start) cli_form_add_time(&form, "start", start);
  if (o->end) cli_form_add_time(&form, "end", end);
  if (name) {
    strbuf_puts(&path, "/api/v1/label/");
    cli_url_escape(&path, name);
    strbuf_puts(&path, "/values");
  } else {
    strbuf_puts(&path, "/api/v1/labels");
  }
  json_object *root, *data;
  cli_api_error_t err;
  int rc = cli_api_call(o->server, path.data, form.data, name == NULL, &o->headers, &root, &data,
                        &err);
  strbuf_free(&form);
  strbuf_free(&path);
  if (rc != 0) return api_failed(&err);
  cli_api_print_warnings(root, "warning: ");
  if (o->out == OUT_JSON) {
    print_api_json(data);
  } else if (!json_object_is_type(data, json_type_array)) {
    rc = query_error("bad_response", "malformed list in response");
  } else {
    size_t n = json_object_array_length(data);
    char **s = ph_calloc(n ? n : 1, sizeof(*s));
    for (size_t i = 0; i < n; i++) {
      const char *v = json_object_get_string(json_object_array_get_idx(data, i));
      s[i] = (char *)(v ? v : "");
    }
    print_strings(name ? name : "label", s, n, o);
    free(s);
  }
  json_object_put(root);
  return rc;
}

#define LABEL_OPTS(o)                                                                 \
  OPT_SERVER(o), OPT_DATA_DIR(o), OPT_OUTPUT(o), OPT_HEADER(o),                       \
      {"match", 0, CLI_OPT_MULTI, "<selector>",                                      \
       "Only series matching this selector (repeatable).", &(o).match},               \
      {"start", 0, CLI_OPT_STRING, "<time>", "Only series with samples from then on.", \
       &(o).start},                                                                    \
      {"end", 0, CLI_OPT_STRING, "<time>", "Only series with samples until then.", &(o).end}

int cli_cmd_labels(const cli_cmd_t *cmd, int argc, char **argv) {
  main_opts_t o = {0};
  const cli_opt_t opts[] = {LABEL_OPTS(o)};
  int rc = parse(cmd, opts, 7, argc, argv, NULL, NULL, &o, true);
  if (rc < 0) rc = run_labels(&o, NULL);
  main_opts_free(&o);
  return rc;
}

int cli_cmd_label_values(const cli_cmd_t *cmd, int argc, char **argv) {
  main_opts_t o = {0};
  const cli_opt_t opts[] = {LABEL_OPTS(o)};
  const char *pos[1] = {NULL};
  int rc = parse(cmd, opts, 7, argc, argv, pos, NULL, &o, true);
  if (rc < 0) rc = run_labels(&o, pos[0]);
  main_opts_free(&o);
  return rc;
}

/* ---- targets ------------------------------------------------------------------------------ */

typedef struct target_row {
  const char *pool, *url, *health, *last, *error;
  double duration;
  const char *duration_text;
} target_row_t;

static int cmp_target(const void *a, const void *b) {
  const target_row_t *x = a, *y = b;
  int c = strcmp(x->pool, y->pool);
  return c ? c : strcmp(x->url, y->url);
}

static const char *member(json_object *o, const char *key) {
  json_object *v;
  if (!json_object_object_get_ex(o, key, &v) || v == NULL) return "";
  const char *s = json_object_get_string(v);
  return s ? s : "";
}

/* "1.5s ago" from an RFC 3339 time; "never" for the zero time. */
static void age_text(const char *rfc3339, int64_t now, char *buf, size_t n) {
  int64_t t;
  char err[128];
  if (strncmp(rfc3339, "0001-", 5) == 0 || rfc3339[0] == '\0') {
    snprintf(buf, n, "never");
    return;
  }
  if (ph_parse_time(rfc3339, strlen(rfc3339), &t, err, sizeof err) != 0) {
    snprintf(buf, n, "%s", rfc3339);
    return;
  }
  char d[48];
  cli_format_go_duration(now > t ? now - t : 0, d, sizeof d);
  snprintf(buf, n, "%s ago", d);
}

static void seconds_text(double s, char *buf, size_t n) {
  if (!(s >= 0)) snprintf(buf, n, "-");
  else if (s < 1) snprintf(buf, n, "%.3gms", s * 1000);
  else snprintf(buf, n, "%.3fs", s);
}

int cli_cmd_targets(const cli_cmd_t *cmd, int argc, char **argv) {
  main_opts_t o = {0};
  const cli_opt_t opts[] = {OPT_SERVER(o), OPT_OUTPUT(o), OPT_HEADER(o)};
  int rc = parse(cmd, opts, 3, argc, argv, NULL, NULL, &o, false);
  if (rc >= 0) goto out;
  json_object *root, *data, *active = NULL;
  cli_api_error_t err;
  if (cli_api_call(o.server, "/api/v1/targets", "state=active", false, &o.headers, &root, &data,
                   &err) != 0) {
    rc = api_failed(&err);
    goto out;
  }
  if (o.out == OUT_JSON) {
    print_api_json(data);
    json_object_put(root);
    rc = CLI_EXIT_OK;
    goto out;
  }
  if (!json_object_object_get_ex(data, "activeTargets", &active) ||
      !json_object_is_type(active, json_type_array)) {
    json_object_put(root);
    rc = query_error("bad_response", "malformed targets in response");
    goto out;
  }
  size_t n = json_object_array_length(active);
  target_row_t *rows = ph_calloc(n ? n : 1, sizeof(*rows));
  for (size_t i = 0; i < n; i++) {
    json_object *t = json_object_array_get_idx(active, i), *d;
    rows[i] = (target_row_t){member(t, "scrapePool"), member(t, "scrapeUrl"),
                             member(t, "health"),     member(t, "lastScrape"),
                             member(t, "lastError"),  NAN,
                             member(t, "lastScrapeDuration")};
    if (json_object_object_get_ex(t, "lastScrapeDuration", &d) && d)
      rows[i].duration = json_object_get_double(d);
  }
  qsort(rows, n, sizeof(*rows), cmp_target);
  strbuf_t b = STRBUF_INIT;
  if (o.out == OUT_CSV) {
    const char *hdr[] = {"pool",        "url", "health", "last_scrape", "last_scrape_duration_seconds",
                         "last_error"};
    cli_csv_row(&b, hdr, 6);
    for (size_t i = 0; i < n; i++) {
      const char *row[] = {rows[i].pool, rows[i].url,           rows[i].health,
                           rows[i].last, rows[i].duration_text, rows[i].error};
      cli_csv_row(&b, row, 6);
    }
  } else {
    cli_table_t t;
    cli_table_init(&t);
    const char *hdr[] = {"POOL", "URL", "HEALTH", "LAST SCRAPE", "DURATION", "ERROR"};
    cli_table_row(&t, hdr, 6);
    int64_t now = ph_now_ms();
    for (size_t i = 0; i < n; i++) {
      char age[96], dur[48];
      age_text(rows[i].last, now, age, sizeof age);
      seconds_text(rows[i].duration, dur, sizeof dur);
      const char *row[] = {rows[i].pool, rows[i].url, rows[i].health, age, dur, rows[i].error};
      cli_table_row(&t, row, 6);
    }
    cli_table_render(&t, 0, 2, &b);
    cli_table_free(&t);
  }
  emit(&b);
  strbuf_free(&b);
  free(rows);
  json_object_put(root);
  rc = CLI_EXIT_OK;
out:
  main_opts_free(&o);
  return rc;
}
