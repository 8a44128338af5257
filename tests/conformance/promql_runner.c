/*
 * promql_runner.c - runs Prometheus's PromQL test scripts (the shared
 * conformance corpus, ../shared/promql-tests) against the Pharos engine.
 *
 * Usage: promql_runner [-v] [skip.tsv] [file.test ...]
 * The corpus is found through $PHAROS_SHARED_DIR (exit 77 when absent,
 * unless PHAROS_REQUIRE_SHARED=1).  The script language is described in
 * promql-tests/README.md:
 *
 *   load <interval> / load_with_nhcb   series lines appended at k*interval
 *                                      through the TSDB appender (lines with
 *                                      {{...}} native histograms skipped)
 *   clear                              a fresh TSDB in a new temp dir
 *   eval instant at <t> <expr>         | eval range from <a> to <b> step <s>
 *   eval_fail/_warn/_info/_ordered     legacy spellings
 *   expect fail|ordered|warn|info|no_warn|no_info [msg: x|regex: x],
 *   expect string "x", expect range vector from <a> to <b> step <d>,
 *   expected_fail_message x, expected_fail_regexp x
 *
 * Evals listed in SKIPLIST.tsv (file + line) and in our own skip list are
 * skipped.  A successful instant eval is also run as a range query from
 * t-1m to t+1m step 1m and the point at t compared (as upstream's runner
 * does), except for ordered, string and range-vector results and
 * expressions using start()/end()/range()/step().  Values compare with
 * Prometheus's almost.Equal (relative 1e-6, NaN equals NaN).
 *
 * Two levels are reported: results (values, labels, order, fail/no-fail),
 * which decide the exit status, and messages (error text for `expect fail
 * msg:`, and every annotation check), counted separately.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>

#include "ast.h" /* white-box: the @-variant check rewrites selectors */
#include "labels.h"
#include "mem.h"
#include "ph_error.h"
#include "promql.h"
#include "strbuf.h"
#include "timeparse.h"
#include "tsdb.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <ctype.h>
#include <dirent.h>
#include <ftw.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* --- Skip lists --------------------------------------------------------------- */

typedef struct skip {
  char file[128];
  int line;
} skip_t;

static skip_t *g_skips;
static size_t g_nskips, g_capskips;
static bool g_verbose;
static int g_range_checks, g_at_checks;

static void load_skips(const char *path, bool required) {
  FILE *f = fopen(path, "r");
  if (!f) {
    if (required) fprintf(stderr, "cannot open %s\n", path);
    return;
  }
  char line[4096];
  while (fgets(line, sizeof(line), f)) {
    if (line[0] == '#' || line[0] == '\n') continue;
    char *tab = strchr(line, '\t');
    if (!tab) continue;
    *tab = 0;
    ph_grow(&g_skips, &g_capskips, g_nskips + 1);
    snprintf(g_skips[g_nskips].file, sizeof(g_skips[0].file), "%.127s", line);
    g_skips[g_nskips].line = atoi(tab + 1);
    g_nskips++;
  }
  fclose(f);
}

static bool skipped(const char *file, int line) {
  for (size_t i = 0; i < g_nskips; i++) {
    if (g_skips[i].line == line && strcmp(g_skips[i].file, file) == 0) return true;
  }
  return false;
}

/* --- Database ------------------------------------------------------------------- */

static char g_dir[256];
static tsdb_t *g_db;

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(p);
}

static void db_close(void) {
  if (g_db) tsdb_close(g_db);
  g_db = NULL;
  if (g_dir[0]) nftw(g_dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
  g_dir[0] = 0;
}

static void db_open(void) {
  db_close();
  snprintf(g_dir, sizeof(g_dir), "/tmp/promql-runner-XXXXXX");
  if (!mkdtemp(g_dir)) {
    perror("mkdtemp");
    exit(1);
  }
  tsdb_options_t o;
  tsdb_options_default(&o);
  o.path = g_dir;
  o.retention_ms = 0;
  o.ooo_window_ms = INT64_C(1) << 60;
  o.block_range_ms = INT64_C(1) << 60;
  o.no_background = true;
  o.wal_fsync = TSDB_WAL_FSYNC_INTERVAL;
  o.wal_fsync_interval_ms = 3600 * 1000;
  char err[512];
  if (tsdb_open(&o, &g_db, err, sizeof(err)) < 0) {
    fprintf(stderr, "tsdb_open: %s\n", err);
    exit(1);
  }
}

/* --- Parsing helpers ------------------------------------------------------------ */

static char *trim(char *s) {
  while (*s && isspace((unsigned char)*s)) s++;
  size_t n = strlen(s);
  while (n > 0 && isspace((unsigned char)s[n - 1])) s[--n] = 0;
  return s;
}

static bool parse_dur(const char *s, size_t len, int64_t *ms) {
  char err[128];
  if (len > 0 && s[0] == '-') {
    if (ph_parse_duration(s + 1, len - 1, ms, err, sizeof(err)) < 0) return false;
    *ms = -*ms;
    return true;
  }
  return ph_parse_duration(s, len, ms, err, sizeof(err)) == 0;
}

/* A number as the PromQL lexer reads it (also a duration in seconds). */
static bool parse_num(const char *s, size_t len, double *v) {
  if (len == 0) return false;
  promql_error_t pe;
  promql_expr_t *e = promql_parse(s, len, &pe);
  if (!e) return false;
  bool ok = false;
  strbuf_t b = STRBUF_INIT;
  /* The root of "1", "-Inf", "0x1F" or "2m" is a number literal. */
  if (strcmp(promql_expr_type_name(e), "scalar") == 0) {
    promql_engine_t *eng = promql_engine_new(NULL);
    promql_result_t *res;
    promql_eval_error_t ee;
    if (promql_eval_instant(eng, g_db, e, 0, &res, &ee) == 0) {
      if (promql_result_type(res) == PROMQL_RESULT_SCALAR) {
        *v = promql_result_scalar(res, NULL);
        ok = true;
      }
      promql_result_free(res);
    }
    promql_engine_free(eng);
  }
  strbuf_free(&b);
  promql_expr_free(e);
  /* Only plain literals: reject expressions such as "1+1". */
  for (size_t i = 1; ok && i < len; i++) {
    if ((s[i] == '+' || s[i] == '-') && s[i - 1] != 'e' && s[i - 1] != 'E') ok = false;
    if (s[i] == '(' || s[i] == '*' || s[i] == '/') ok = false;
  }
  return ok;
}

/* Splits "<series> <rest>": the series ends at the closing brace (quotes
 * respected) or at the first space. */
static bool split_series(const char *line, size_t *series_len, const char **rest) {
  const char *p = line;
  const char *brace = NULL;
  for (const char *q = line; *q && !isspace((unsigned char)*q); q++) {
    if (*q == '{') {
      brace = q;
      break;
    }
  }
  if (brace) {
    p = brace + 1;
    char quote = 0;
    for (; *p; p++) {
      if (quote) {
        if (*p == '\\' && quote != '`' && p[1]) {
          p++;
        } else if (*p == quote) {
          quote = 0;
        }
      } else if (*p == '"' || *p == '\'' || *p == '`') {
        quote = *p;
      } else if (*p == '}') {
        p++;
        break;
      }
    }
  } else {
    while (*p && !isspace((unsigned char)*p)) p++;
  }
  *series_len = (size_t)(p - line);
  while (*p && isspace((unsigned char)*p)) p++;
  *rest = p;
  return *series_len > 0;
}

/* Series notation -> labels (via the PromQL parser: equality matchers). */
static labels_t *parse_labels(const char *s, size_t len) {
  if (len == 2 && s[0] == '{' && s[1] == '}') return labels_empty();
  promql_selector_t *sel;
  promql_error_t pe;
  /* {} alone is not a valid selector; everything else is. */
  if (promql_parse_selector(s, len, &sel, &pe) < 0) return NULL;
  const tsdb_matcher_t *m;
  size_t n = promql_selector_matchers(sel, &m);
  label_t *pairs = ph_calloc(n ? n : 1, sizeof(*pairs));
  for (size_t i = 0; i < n; i++) {
    pairs[i].name = m[i].name;
    pairs[i].value = m[i].value;
  }
  char err[256];
  labels_t *ls = labels_new(NULL, pairs, n, err, sizeof(err));
  free(pairs);
  promql_selector_free(sel);
  return ls;
}

/* Value items: number, _, _xN, stale, axN, a+bxN, a-bxN.  Fills vals (NAN
 * with present=false for gaps).  Returns false on a syntax error. */
typedef struct pt {
  bool present;
  double v;
} pt_t;

static bool parse_values(const char *s, pt_t **out, size_t *n, size_t *cap) {
  *n = 0;
  while (*s) {
    while (*s && isspace((unsigned char)*s)) s++;
    if (!*s) break;
    const char *e = s;
    while (*e && !isspace((unsigned char)*e)) e++;
    size_t len = (size_t)(e - s);
    char tok[256];
    if (len >= sizeof(tok)) return false;
    memcpy(tok, s, len);
    tok[len] = 0;
    s = e;
    if (strcmp(tok, "_") == 0) {
      ph_grow(out, cap, *n + 1);
      (*out)[(*n)++] = (pt_t){false, 0};
      continue;
    }
    if (strcmp(tok, "stale") == 0) {
      ph_grow(out, cap, *n + 1);
      (*out)[(*n)++] = (pt_t){true, tsdb_stale_nan()};
      continue;
    }
    double v;
    /* "axN" wins over hex: 0x59 is 0 repeated, 0x1F is 31. */
    char *x = strrchr(tok, 'x');
    bool expansion = x && x > tok && x[1];
    for (char *d = x ? x + 1 : NULL; expansion && *d; d++) {
      if (!isdigit((unsigned char)*d)) expansion = false;
    }
    if (!expansion) {
      if (!parse_num(tok, len, &v)) return false;
      ph_grow(out, cap, *n + 1);
      (*out)[(*n)++] = (pt_t){true, v};
      continue;
    }
    long times = strtol(x + 1, NULL, 10);
    *x = 0;
    if (strcmp(tok, "_") == 0) {
      for (long i = 0; i < times; i++) {
        ph_grow(out, cap, *n + 1);
        (*out)[(*n)++] = (pt_t){false, 0};
      }
      continue;
    }
    double a, b = 0;
    if (strcmp(tok, "stale") == 0) {
      for (long i = 0; i <= times; i++) {
        ph_grow(out, cap, *n + 1);
        (*out)[(*n)++] = (pt_t){true, tsdb_stale_nan()};
      }
      continue;
    }
    if (!parse_num(tok, strlen(tok), &a)) {
      size_t tl = strlen(tok);
      size_t op = 0;
      for (size_t i = 1; i < tl; i++) {
        if ((tok[i] == '+' || tok[i] == '-') && tok[i - 1] != 'e' &&
            tok[i - 1] != 'E') {
          op = i;
          break;
        }
      }
      if (!op) return false;
      if (!parse_num(tok, op, &a)) return false;
      if (!parse_num(tok + op + 1, tl - op - 1, &b)) return false;
      if (tok[op] == '-') b = -b;
    }
    double cur = a;
    for (long i = 0; i <= times; i++) {
      ph_grow(out, cap, *n + 1);
      (*out)[(*n)++] = (pt_t){true, cur};
      cur += b;
    }
  }
  return true;
}

/* --- Comparison -------------------------------------------------------------------- */

static bool almost_equal(double a, double b) {
  bool as = tsdb_is_stale_nan(a), bs = tsdb_is_stale_nan(b);
  if (as || bs) return as && bs;
  if (isnan(a) && isnan(b)) return true;
  if (a == b) return true;
  double diff = fabs(a - b);
  const double min_normal = 2.2250738585072014e-308;
  if (a == 0 || b == 0 || fabs(a) + fabs(b) < min_normal) {
    return diff < 1e-6 * min_normal;
  }
  return diff / (fabs(a) + fabs(b)) < 1e-6;
}

typedef struct exp_series {
  labels_t *ls;
  pt_t *pts;
  size_t n;
} exp_series_t;

typedef struct expect_ann {
  bool warn;
  int kind; /* 0 any, 1 msg, 2 regex */
  char text[1024];
} expect_ann_t;

typedef struct eval_cmd {
  int line;
  char expr[8192];
  bool range;
  int64_t t, start, end, step;
  bool fail, ordered;
  int fail_kind; /* 0 any, 1 msg, 2 regex */
  char fail_text[1024];
  bool want_warn, want_info, no_warn, no_info;
  expect_ann_t anns[16];
  size_t nanns;
  bool has_string;
  char string_val[1024];
  bool has_rv;
  int64_t rv_start, rv_end, rv_step;
  bool has_scalar;
  double scalar;
  exp_series_t *series;
  size_t nseries, capseries;
  bool bad; /* unparsable expectation */
} eval_cmd_t;

typedef struct stats {
  int run, passed, failed, skipped, msg_ok, msg_bad;
} stats_t;

static void cmd_free(eval_cmd_t *c) {
  for (size_t i = 0; i < c->nseries; i++) {
    labels_free(c->series[i].ls);
    free(c->series[i].pts);
  }
  free(c->series);
}

static bool regex_match(const char *re, const char *s) {
  int ec;
  PCRE2_SIZE eo;
  pcre2_code *code = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF, &ec, &eo, NULL);
  if (!code) return false;
  pcre2_match_data *md = pcre2_match_data_create_from_pattern(code, NULL);
  int rc = pcre2_match(code, (PCRE2_SPTR)s, strlen(s), 0, 0, md, NULL);
  pcre2_match_data_free(md);
  pcre2_code_free(code);
  return rc >= 0;
}

/* Our annotations end in " (line:col)" as Prometheus's API has them; the
 * scripts give the bare text. */
static void strip_pos(const char *in, char *out, size_t cap) {
  snprintf(out, cap, "%s", in);
  size_t n = strlen(out);
  if (n > 0 && out[n - 1] == ')') {
    char *open = strrchr(out, '(');
    if (open && open > out && open[-1] == ' ') {
      bool ok = true;
      for (char *p = open + 1; p < out + n - 1; p++) {
        if (!isdigit((unsigned char)*p) && *p != ':') ok = false;
      }
      if (ok) open[-1] = 0;
    }
  }
}

static bool ann_matches(const expect_ann_t *a, const char *msg) {
  if (a->kind == 0) return true;
  if (a->kind == 1) return strcmp(a->text, msg) == 0;
  return regex_match(a->text, msg);
}

/* Checks annotations; returns true when they are as expected. */
static bool check_annotations(const eval_cmd_t *c, const promql_result_t *r,
                              strbuf_t *why) {
  bool any = c->want_warn || c->want_info || c->no_warn || c->no_info;
  if (!any) return true;
  for (int w = 1; w >= 0; w--) {
    const char *const *msgs;
    size_t n = w ? promql_result_warnings(r, &msgs) : promql_result_infos(r, &msgs);
    bool want = w ? c->want_warn : c->want_info;
    bool none = w ? c->no_warn : c->no_info;
    const char *kind = w ? "warn" : "info";
    if (none && n > 0) {
      strbuf_printf(why, "    expected no %s, got %zu: %s\n", kind, n, msgs[0]);
      return false;
    }
    if (!want) continue;
    if (n == 0) {
      strbuf_printf(why, "    expected %s annotation, got none\n", kind);
      return false;
    }
    for (size_t i = 0; i < c->nanns; i++) {
      const expect_ann_t *a = &c->anns[i];
      if (a->warn != (w == 1) || a->kind == 0) continue;
      bool found = false;
      for (size_t k = 0; k < n && !found; k++) {
        char m[1100];
        strip_pos(msgs[k], m, sizeof(m));
        found = ann_matches(a, m);
      }
      if (!found) {
        strbuf_printf(why, "    expected %s %s, got: %s\n", kind, a->text, msgs[0]);
        return false;
      }
    }
    for (size_t k = 0; k < n; k++) {
      char m[1100];
      strip_pos(msgs[k], m, sizeof(m));
      bool found = false;
      for (size_t i = 0; i < c->nanns && !found; i++) {
        if (c->anns[i].warn == (w == 1)) found = ann_matches(&c->anns[i], m);
      }
      if (!found) {
        strbuf_printf(why, "    unexpected %s: %s\n", kind, m);
        return false;
      }
    }
  }
  return true;
}

static void fmt_labels(const labels_t *ls, strbuf_t *b) { labels_format(ls, b); }

static void fmt_val(strbuf_t *b, double v) {
  if (tsdb_is_stale_nan(v)) {
    strbuf_puts(b, "stale");
  } else {
    strbuf_printf(b, "%.17g", v);
  }
}

static void dump_result(const promql_result_t *r, strbuf_t *b, size_t max) {
  switch (promql_result_type(r)) {
    case PROMQL_RESULT_SCALAR:
      strbuf_puts(b, "      scalar ");
      fmt_val(b, promql_result_scalar(r, NULL));
      strbuf_putc(b, '\n');
      return;
    case PROMQL_RESULT_STRING:
      strbuf_printf(b, "      string \"%s\"\n", promql_result_string(r, NULL));
      return;
    default: break;
  }
  size_t n = promql_result_len(r);
  if (n == 0) strbuf_puts(b, "      (empty)\n");
  for (size_t i = 0; i < n && i < max; i++) {
    strbuf_puts(b, "      ");
    fmt_labels(promql_result_labels(r, i), b);
    const int64_t *ts;
    const double *vs;
    size_t np = promql_result_points(r, i, &ts, &vs);
    for (size_t k = 0; k < np && k < 12; k++) {
      strbuf_putc(b, ' ');
      if (promql_result_type(r) == PROMQL_RESULT_MATRIX) {
        strbuf_printf(b, "@%lld:", (long long)ts[k]);
      }
      fmt_val(b, vs[k]);
    }
    if (np > 12) strbuf_puts(b, " ...");
    strbuf_putc(b, '\n');
  }
  if (n > max) strbuf_printf(b, "      ... %zu series\n", n);
}

static const exp_series_t *find_exp(const eval_cmd_t *c, const labels_t *ls) {
  for (size_t i = 0; i < c->nseries; i++) {
    if (labels_equal(c->series[i].ls, ls)) return &c->series[i];
  }
  return NULL;
}

/* Instant-vector comparison (also used for the range-mode point at t). */
static bool compare_vector(const eval_cmd_t *c, size_t n,
                           const labels_t *(*lab)(const void *, size_t),
                           double (*val)(const void *, size_t), const void *ctx,
                           bool ordered, strbuf_t *why) {
  if (c->has_scalar) {
    strbuf_puts(why, "    expected a scalar, got a vector\n");
    return false;
  }
  if (n != c->nseries) {
    strbuf_printf(why, "    expected %zu series, got %zu\n", c->nseries, n);
    return false;
  }
  for (size_t i = 0; i < n; i++) {
    const labels_t *ls = lab(ctx, i);
    const exp_series_t *e = ordered ? &c->series[i] : find_exp(c, ls);
    if (!e || !labels_equal(e->ls, ls)) {
      strbuf_puts(why, "    unexpected series ");
      fmt_labels(ls, why);
      strbuf_puts(why, ordered ? " (order)\n" : "\n");
      return false;
    }
    if (e->n != 1 || !e->pts[0].present) {
      strbuf_puts(why, "    expectation has no single value\n");
      return false;
    }
    if (!almost_equal(e->pts[0].v, val(ctx, i))) {
      strbuf_puts(why, "    value of ");
      fmt_labels(ls, why);
      strbuf_printf(why, ": expected %.17g got %.17g\n", e->pts[0].v, val(ctx, i));
      return false;
    }
  }
  return true;
}

static const labels_t *res_lab(const void *r, size_t i) {
  return promql_result_labels(r, i);
}

static double res_val(const void *r, size_t i) {
  const double *vs;
  promql_result_points(r, i, NULL, &vs);
  return vs[0];
}

static bool compare_matrix(const eval_cmd_t *c, const promql_result_t *r,
                           int64_t start, int64_t step, strbuf_t *why) {
  size_t n = promql_result_len(r);
  if (c->has_scalar) {
    strbuf_puts(why, "    expected a scalar, got a matrix\n");
    return false;
  }
  /* Matrix results must be sorted by labels. */
  for (size_t i = 1; i < n; i++) {
    if (labels_cmp(promql_result_labels(r, i - 1), promql_result_labels(r, i)) >= 0) {
      strbuf_puts(why, "    matrix not sorted by labels\n");
      return false;
    }
  }
  size_t nexp = 0;
  for (size_t i = 0; i < c->nseries; i++) {
    bool any = false;
    for (size_t k = 0; k < c->series[i].n; k++) any |= c->series[i].pts[k].present;
    if (any || !c->has_rv) nexp++;
  }
  if (n != nexp) {
    strbuf_printf(why, "    expected %zu series, got %zu\n", nexp, n);
    return false;
  }
  for (size_t i = 0; i < n; i++) {
    const labels_t *ls = promql_result_labels(r, i);
    const exp_series_t *e = find_exp(c, ls);
    if (!e) {
      strbuf_puts(why, "    unexpected series ");
      fmt_labels(ls, why);
      strbuf_putc(why, '\n');
      return false;
    }
    const int64_t *ts;
    const double *vs;
    size_t np = promql_result_points(r, i, &ts, &vs);
    size_t k = 0;
    for (size_t j = 0; j < e->n; j++) {
      if (!e->pts[j].present) continue;
      int64_t want_t = start + (int64_t)j * step;
      if (k >= np || ts[k] != want_t || !almost_equal(vs[k], e->pts[j].v)) {
        strbuf_puts(why, "    series ");
        fmt_labels(ls, why);
        if (k >= np) {
          strbuf_printf(why, ": missing point at %lld\n", (long long)want_t);
        } else {
          strbuf_printf(why, ": expected %.17g@%lld got %.17g@%lld\n",
                        e->pts[j].v, (long long)want_t, vs[k], (long long)ts[k]);
        }
        return false;
      }
      k++;
    }
    if (k != np) {
      strbuf_puts(why, "    series ");
      fmt_labels(ls, why);
      strbuf_printf(why, ": %zu extra points (first @%lld)\n", np - k,
                    (long long)ts[k]);
      return false;
    }
  }
  return true;
}

typedef struct pt_vec {
  const labels_t **ls;
  double *v;
} pt_vec_t;

static const labels_t *pv_lab(const void *p, size_t i) {
  return ((const pt_vec_t *)p)->ls[i];
}

static double pv_val(const void *p, size_t i) { return ((const pt_vec_t *)p)->v[i]; }

/* Range mode: the instant query as a range query t-1m..t+1m, point at t. */
static bool range_mode(promql_engine_t *eng, const eval_cmd_t *c,
                       const promql_expr_t *e, const promql_result_t *inst,
                       strbuf_t *why) {
  promql_result_t *r;
  promql_eval_error_t err;
  g_range_checks++;
  if (promql_eval_range(eng, g_db, e, c->t - 60000, c->t + 60000, 60000, &r,
                        &err) < 0) {
    strbuf_printf(why, "    range mode failed: %s\n", err.msg);
    return false;
  }
  bool ok;
  size_t n = promql_result_len(r);
  pt_vec_t pv = {ph_calloc(n + 1, sizeof(labels_t *)), ph_calloc(n + 1, sizeof(double))};
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    const int64_t *ts;
    const double *vs;
    size_t np = promql_result_points(r, i, &ts, &vs);
    for (size_t k = 0; k < np; k++) {
      if (ts[k] == c->t) {
        pv.ls[m] = promql_result_labels(r, i);
        pv.v[m] = vs[k];
        m++;
        break;
      }
    }
  }
  if (promql_result_type(inst) == PROMQL_RESULT_SCALAR) {
    ok = m == 1 && almost_equal(pv.v[0], c->scalar);
    if (!ok) strbuf_puts(why, "    range mode: scalar differs\n");
  } else {
    ok = compare_vector(c, m, pv_lab, pv_val, &pv, false, why);
    if (!ok) strbuf_puts(why, "    (in range mode)\n");
  }
  free(pv.ls);
  free(pv.v);
  promql_result_free(r);
  return ok;
}

/* Sets @ ts on every selector and subquery that lacks one, not descending
 * into subqueries that have one; false if the expression uses a function
 * whose result depends on the evaluation time (upstream's
 * AtModifierUnsafeFunctions). */
static bool set_at(promql_node_t *n, int64_t ts) {
  switch (n->kind) {
    case PROMQL_NODE_VECTOR_SEL:
      if (n->u.vs.at == PROMQL_AT_NONE) {
        n->u.vs.at = PROMQL_AT_TIMESTAMP;
        n->u.vs.at_ms = ts;
      }
      return true;
    case PROMQL_NODE_MATRIX_SEL: return set_at(n->u.ms.vs, ts);
    case PROMQL_NODE_SUBQUERY:
      if (n->u.sq.at == PROMQL_AT_NONE) {
        n->u.sq.at = PROMQL_AT_TIMESTAMP;
        n->u.sq.at_ms = ts;
      }
      return true;
    case PROMQL_NODE_PAREN: return set_at(n->u.paren.expr, ts);
    case PROMQL_NODE_UNARY: return set_at(n->u.unary.expr, ts);
    case PROMQL_NODE_BINARY:
      return set_at(n->u.bin.lhs, ts) & set_at(n->u.bin.rhs, ts);
    case PROMQL_NODE_AGGREGATE: {
      bool ok = set_at(n->u.agg.expr, ts);
      if (n->u.agg.param) ok &= set_at(n->u.agg.param, ts);
      return ok;
    }
    case PROMQL_NODE_CALL: {
      static const char *const unsafe[] = {
          "days_in_month", "day_of_month", "day_of_week", "day_of_year",
          "hour", "minute", "month", "year", "predict_linear", "time",
          "timestamp", "start", "end", "range", "step"};
      bool ok = true;
      for (size_t i = 0; i < sizeof(unsafe) / sizeof(unsafe[0]); i++) {
        if (strcmp(n->u.call.func->name, unsafe[i]) == 0) ok = false;
      }
      for (size_t i = 0; i < n->u.call.nargs; i++) ok &= set_at(n->u.call.args[i], ts);
      return ok;
    }
    default: return true;
  }
}

/* The @ variants: the expression with @ t everywhere, at other times. */
static bool at_variants(promql_engine_t *eng, const eval_cmd_t *c,
                        const promql_result_t *inst, strbuf_t *why) {
  promql_error_t pe;
  promql_parse_opts_t po = {.experimental_functions = false};
  promql_expr_t *e = promql_parse_ex(c->expr, strlen(c->expr), &po, &pe);
  if (!e) return true;
  bool ok = true;
  if (set_at((promql_node_t *)promql_expr_root(e), c->t)) {
    int64_t t = c->t;
    int64_t times[5] = {-10 * t, 0, t / 5, t, 10 * t};
    size_t nt = 5;
    if (t == 0) {
      times[0] = -1000;
      times[1] = 0;
      times[2] = 1000;
      nt = 3;
    }
    g_at_checks++;
    for (size_t i = 0; i < nt && ok; i++) {
      promql_result_t *r;
      promql_eval_error_t ee;
      if (promql_eval_instant(eng, g_db, e, times[i], &r, &ee) < 0) {
        strbuf_printf(why, "    @ variant at %lld failed: %s\n",
                      (long long)times[i], ee.msg);
        ok = false;
        break;
      }
      if (promql_result_type(inst) == PROMQL_RESULT_SCALAR) {
        ok = promql_result_type(r) == PROMQL_RESULT_SCALAR &&
             almost_equal(promql_result_scalar(r, NULL), c->scalar);
      } else {
        ok = promql_result_type(r) == PROMQL_RESULT_VECTOR &&
             compare_vector(c, promql_result_len(r), res_lab, res_val, r, false, why);
      }
      if (!ok) {
        strbuf_printf(why, "    (@ variant evaluated at %lld)\n", (long long)times[i]);
        dump_result(r, why, 5);
      }
      promql_result_free(r);
    }
  }
  promql_expr_free(e);
  return ok;
}

static bool uses_time_fn(const char *expr) {
  return strstr(expr, "start()") || strstr(expr, "end()") ||
         strstr(expr, "range()") || strstr(expr, "step()");
}

/* Runs one eval; returns 1 pass, 0 fail; *msg_state: -1 not checked, 0 bad,
 * 1 good. */
static int run_eval(promql_engine_t *eng, const eval_cmd_t *c, strbuf_t *why,
                    int *msg_state) {
  *msg_state = -1;
  if (c->bad) {
    strbuf_puts(why, "    cannot parse the expectation\n");
    return 0;
  }
  promql_parse_opts_t po = {.experimental_functions = false};
  promql_error_t pe;
  promql_expr_t *e = promql_parse_ex(c->expr, strlen(c->expr), &po, &pe);
  promql_result_t *r = NULL;
  promql_eval_error_t ee;
  const char *errmsg = NULL;
  int rc;
  if (!e) {
    errmsg = pe.msg;
    rc = pe.code ? pe.code : PH_EPARSE;
  } else if (c->range) {
    rc = promql_eval_range(eng, g_db, e, c->start, c->end, c->step, &r, &ee);
    if (rc < 0) errmsg = ee.msg;
  } else {
    rc = promql_eval_instant(eng, g_db, e, c->t, &r, &ee);
    if (rc < 0) errmsg = ee.msg;
  }
  int ok = 1;
  if (c->fail) {
    if (rc == 0) {
      strbuf_puts(why, "    expected failure, got:\n");
      dump_result(r, why, 5);
      ok = 0;
    } else if (c->fail_kind) {
      bool m = c->fail_kind == 1 ? strcmp(c->fail_text, errmsg) == 0
                                 : regex_match(c->fail_text, errmsg);
      *msg_state = m ? 1 : 0;
      if (!m) {
        strbuf_printf(why, "    (message) expected error \"%s\", got \"%s\"\n",
                      c->fail_text, errmsg);
      }
    }
    goto done;
  }
  if (rc < 0) {
    strbuf_printf(why, "    unexpected error: %s\n", errmsg);
    ok = 0;
    goto done;
  }
  if (c->has_string) {
    if (promql_result_type(r) != PROMQL_RESULT_STRING ||
        strcmp(promql_result_string(r, NULL), c->string_val) != 0) {
      strbuf_printf(why, "    expected string \"%s\", got:\n", c->string_val);
      dump_result(r, why, 5);
      ok = 0;
    }
  } else if (c->has_scalar) {
    if (promql_result_type(r) != PROMQL_RESULT_SCALAR ||
        !almost_equal(promql_result_scalar(r, NULL), c->scalar)) {
      strbuf_printf(why, "    expected scalar %.17g, got:\n", c->scalar);
      dump_result(r, why, 5);
      ok = 0;
    }
  } else if (c->range) {
    if (!compare_matrix(c, r, c->start, c->step, why)) ok = 0;
  } else if (c->has_rv) {
    if (promql_result_type(r) != PROMQL_RESULT_MATRIX ||
        !compare_matrix(c, r, c->rv_start, c->rv_step, why)) {
      ok = 0;
    }
  } else {
    if (promql_result_type(r) != PROMQL_RESULT_VECTOR) {
      if (promql_result_type(r) == PROMQL_RESULT_MATRIX && c->nseries == 0 &&
          promql_result_len(r) == 0) {
        /* empty range vector result for an empty expectation */
      } else {
        strbuf_puts(why, "    expected a vector, got:\n");
        dump_result(r, why, 5);
        ok = 0;
      }
    } else if (!compare_vector(c, promql_result_len(r), res_lab, res_val, r,
                               c->ordered, why)) {
      ok = 0;
    }
  }
  if (ok && !c->range && !c->ordered && !c->has_string && !c->has_rv &&
      promql_result_type(r) != PROMQL_RESULT_MATRIX && !uses_time_fn(c->expr)) {
    if (!range_mode(eng, c, e, r, why)) ok = 0;
  }
  if (ok && !c->range && !c->has_string && !c->has_rv &&
      promql_result_type(r) != PROMQL_RESULT_MATRIX && !uses_time_fn(c->expr)) {
    if (!at_variants(eng, c, r, why)) ok = 0;
  }
  if (!ok) {
    strbuf_puts(why, "    got:\n");
    dump_result(r, why, 8);
  }
  if (c->want_warn || c->want_info || c->no_warn || c->no_info) {
    strbuf_t w = STRBUF_INIT;
    bool m = check_annotations(c, r, &w);
    *msg_state = m ? 1 : 0;
    if (!m) {
      strbuf_puts(why, "    (annotations)\n");
      strbuf_puts(why, strbuf_cstr(&w));
    }
    strbuf_free(&w);
  }
done:
  if (!ok || *msg_state == 0) {
    /* the expected side, for the report */
    for (size_t i = 0; i < c->nseries && i < 6; i++) {
      strbuf_puts(why, i == 0 ? "    expected:\n      " : "      ");
      fmt_labels(c->series[i].ls, why);
      for (size_t k = 0; k < c->series[i].n && k < 12; k++) {
        strbuf_putc(why, ' ');
        if (c->series[i].pts[k].present) {
          fmt_val(why, c->series[i].pts[k].v);
        } else {
          strbuf_putc(why, '_');
        }
      }
      strbuf_putc(why, '\n');
    }
  }
  promql_result_free(r);
  promql_expr_free(e);
  return ok;
}

/* --- Script execution ------------------------------------------------------------------ */

static bool parse_expect(eval_cmd_t *c, const char *l) {
  if (strncmp(l, "expected_fail_message ", 22) == 0) {
    c->fail = true;
    c->fail_kind = 1;
    snprintf(c->fail_text, sizeof(c->fail_text), "%s", l + 22);
    return true;
  }
  if (strncmp(l, "expected_fail_regexp ", 21) == 0) {
    c->fail = true;
    c->fail_kind = 2;
    snprintf(c->fail_text, sizeof(c->fail_text), "%s", l + 21);
    return true;
  }
  if (strncmp(l, "expect ", 7) != 0) return false;
  const char *p = l + 7;
  while (*p == ' ') p++;
  if (strncmp(p, "string ", 7) == 0) {
    p += 7;
    while (*p == ' ') p++;
    size_t n = strlen(p);
    if (n >= 2 && (p[0] == '"' || p[0] == '`')) {
      /* Unquote through the parser (Go escapes). */
      promql_error_t pe;
      promql_expr_t *e = promql_parse(p, n, &pe);
      c->has_string = true;
      if (e) {
        promql_engine_t *eng = promql_engine_new(NULL);
        promql_result_t *r;
        promql_eval_error_t ee;
        if (promql_eval_instant(eng, g_db, e, 0, &r, &ee) == 0) {
          if (promql_result_type(r) == PROMQL_RESULT_STRING) {
            snprintf(c->string_val, sizeof(c->string_val), "%s",
                     promql_result_string(r, NULL));
          }
          promql_result_free(r);
        }
        promql_engine_free(eng);
        promql_expr_free(e);
      }
    } else {
      c->bad = true;
    }
    return true;
  }
  if (strncmp(p, "range vector from ", 18) == 0) {
    char a[64], b[64], s[64];
    if (sscanf(p + 18, "%63s to %63s step %63s", a, b, s) != 3 ||
        !parse_dur(a, strlen(a), &c->rv_start) ||
        !parse_dur(b, strlen(b), &c->rv_end) || !parse_dur(s, strlen(s), &c->rv_step)) {
      c->bad = true;
    }
    c->has_rv = true;
    return true;
  }
  char word[32];
  size_t wl = 0;
  while (p[wl] && p[wl] != ' ' && wl < sizeof(word) - 1) {
    word[wl] = p[wl];
    wl++;
  }
  word[wl] = 0;
  const char *rest = p + wl;
  while (*rest == ' ') rest++;
  int kind = 0;
  const char *text = "";
  if (strncmp(rest, "msg:", 4) == 0) {
    kind = 1;
    text = rest + 4;
  } else if (strncmp(rest, "regex:", 6) == 0) {
    kind = 2;
    text = rest + 6;
  }
  while (*text == ' ') text++;
  if (strcmp(word, "fail") == 0) {
    c->fail = true;
    c->fail_kind = kind;
    snprintf(c->fail_text, sizeof(c->fail_text), "%s", text);
  } else if (strcmp(word, "ordered") == 0) {
    c->ordered = true;
  } else if (strcmp(word, "warn") == 0 || strcmp(word, "info") == 0) {
    bool w = word[0] == 'w';
    if (w) {
      c->want_warn = true;
    } else {
      c->want_info = true;
    }
    if (c->nanns < 16) {
      expect_ann_t *a = &c->anns[c->nanns++];
      a->warn = w;
      a->kind = kind;
      snprintf(a->text, sizeof(a->text), "%s", text);
    }
  } else if (strcmp(word, "no_warn") == 0) {
    c->no_warn = true;
  } else if (strcmp(word, "no_info") == 0) {
    c->no_info = true;
  } else {
    c->bad = true;
  }
  return true;
}

static void parse_result_line(eval_cmd_t *c, const char *l) {
  double v;
  if (c->nseries == 0 && !strchr(l, ' ') && !strchr(l, '{') &&
      parse_num(l, strlen(l), &v)) {
    c->has_scalar = true;
    c->scalar = v;
    return;
  }
  size_t sl;
  const char *rest;
  if (!split_series(l, &sl, &rest)) {
    c->bad = true;
    return;
  }
  if (strstr(rest, "{{")) {
    c->bad = true;
    return;
  }
  exp_series_t s = {parse_labels(l, sl), NULL, 0};
  size_t cap = 0;
  if (!s.ls || !parse_values(rest, &s.pts, &s.n, &cap)) {
    c->bad = true;
    labels_free(s.ls);
    free(s.pts);
    return;
  }
  ph_grow(&c->series, &c->capseries, c->nseries + 1);
  c->series[c->nseries++] = s;
}

/* One load block: later lines for the same series replace earlier ones
 * (upstream keys the block's series by label set). */
static void do_load(char **lines, size_t n, size_t *i, int64_t interval) {
  typedef struct ld {
    labels_t *ls;
    pt_t *pts;
    size_t np, cap;
  } ld_t;
  ld_t *defs = NULL;
  size_t nd = 0, capd = 0;
  for (; *i < n && lines[*i][0]; (*i)++) {
    const char *l = lines[*i];
    if (strstr(l, "{{")) continue;
    size_t sl;
    const char *rest;
    if (!split_series(l, &sl, &rest)) continue;
    labels_t *ls = parse_labels(l, sl);
    if (!ls) {
      fprintf(stderr, "  cannot parse series: %s\n", l);
      continue;
    }
    ld_t d = {ls, NULL, 0, 0};
    if (!parse_values(rest, &d.pts, &d.np, &d.cap)) {
      fprintf(stderr, "  cannot parse values: %s\n", l);
      labels_free(ls);
      free(d.pts);
      continue;
    }
    size_t k = 0;
    while (k < nd && !labels_equal(defs[k].ls, ls)) k++;
    if (k < nd) {
      labels_free(defs[k].ls);
      free(defs[k].pts);
      defs[k] = d;
    } else {
      ph_grow(&defs, &capd, nd + 1);
      defs[nd++] = d;
    }
  }
  tsdb_appender_t *a = tsdb_appender_new(g_db);
  for (size_t k = 0; k < nd; k++) {
    for (size_t j = 0; j < defs[k].np; j++) {
      if (!defs[k].pts[j].present) continue;
      tsdb_append(a, defs[k].ls, (int64_t)j * interval, defs[k].pts[j].v, NULL);
    }
    labels_free(defs[k].ls);
    free(defs[k].pts);
  }
  free(defs);
  char err[256];
  if (tsdb_appender_commit(a, err, sizeof(err)) < 0) {
    fprintf(stderr, "  commit: %s\n", err);
  }
}

static void run_file(promql_engine_t *eng, const char *dir, const char *name,
                     stats_t *st) {
  char path[1024];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "cannot open %s\n", path);
    st->failed++;
    return;
  }
  char **lines = NULL;
  size_t n = 0, cap = 0;
  char buf[65536];
  while (fgets(buf, sizeof(buf), f)) {
    char *t = trim(buf);
    if (t[0] == '#') t[0] = 0;
    ph_grow(&lines, &cap, n + 1);
    lines[n++] = ph_strdup(t);
  }
  fclose(f);
  db_open();
  stats_t fs = {0};
  strbuf_t report = STRBUF_INIT;
  int reported = 0;
  for (size_t i = 0; i < n;) {
    char *l = lines[i];
    if (!l[0]) {
      i++;
      continue;
    }
    if (strncmp(l, "load", 4) == 0) {
      const char *p = l + 4;
      if (strncmp(p, "_with_nhcb", 10) == 0) p += 10;
      while (*p == ' ') p++;
      int64_t interval;
      if (!parse_dur(p, strlen(p), &interval)) {
        fprintf(stderr, "%s:%zu: bad load interval\n", name, i + 1);
        interval = 60000;
      }
      i++;
      do_load(lines, n, &i, interval);
      continue;
    }
    if (strcmp(l, "clear") == 0) {
      db_open();
      i++;
      continue;
    }
    if (strncmp(l, "eval", 4) != 0) {
      i++;
      continue;
    }
    eval_cmd_t *c = ph_calloc(1, sizeof(*c));
    c->line = (int)i + 1;
    const char *p = l + 4;
    if (strncmp(p, "_fail", 5) == 0) {
      c->fail = true;
      p += 5;
    } else if (strncmp(p, "_warn", 5) == 0) {
      c->want_warn = true;
      p += 5;
    } else if (strncmp(p, "_info", 5) == 0) {
      c->want_info = true;
      p += 5;
    } else if (strncmp(p, "_ordered", 8) == 0) {
      c->ordered = true;
      p += 8;
    }
    while (*p == ' ') p++;
    char a[64], b[64], s[64];
    int off = 0;
    if (sscanf(p, "instant at %63s %n", a, &off) == 1 && off > 0) {
      if (!parse_dur(a, strlen(a), &c->t)) c->bad = true;
      snprintf(c->expr, sizeof(c->expr), "%s", p + off);
    } else if (sscanf(p, "range from %63s to %63s step %63s %n", a, b, s, &off) ==
                   3 &&
               off > 0) {
      c->range = true;
      if (!parse_dur(a, strlen(a), &c->start) || !parse_dur(b, strlen(b), &c->end) ||
          !parse_dur(s, strlen(s), &c->step)) {
        c->bad = true;
      }
      snprintf(c->expr, sizeof(c->expr), "%s", p + off);
    } else {
      c->bad = true;
    }
    i++;
    for (; i < n && lines[i][0]; i++) {
      if (!parse_expect(c, lines[i])) parse_result_line(c, lines[i]);
    }
    if (skipped(name, c->line)) {
      fs.skipped++;
    } else {
      fs.run++;
      strbuf_t why = STRBUF_INIT;
      int ms;
      int ok = run_eval(eng, c, &why, &ms);
      if (ok) {
        fs.passed++;
      } else {
        fs.failed++;
      }
      if (ms == 1) fs.msg_ok++;
      if (ms == 0) fs.msg_bad++;
      if ((!ok || ms == 0) && (g_verbose || reported < 40)) {
        reported++;
        strbuf_printf(&report, "  %s %s:%d: %s\n", ok ? "MSG " : "FAIL", name,
                      c->line, c->expr);
        strbuf_puts(&report, strbuf_cstr(&why));
      }
      strbuf_free(&why);
    }
    cmd_free(c);
    free(c);
  }
  db_close();
  printf("%-22s run %4d  passed %4d  failed %3d  skipped %4d  messages: %d ok, "
         "%d mismatched\n",
         name, fs.run, fs.passed, fs.failed, fs.skipped, fs.msg_ok, fs.msg_bad);
  if (report.len) fputs(strbuf_cstr(&report), stdout);
  strbuf_free(&report);
  st->run += fs.run;
  st->passed += fs.passed;
  st->failed += fs.failed;
  st->skipped += fs.skipped;
  st->msg_ok += fs.msg_ok;
  st->msg_bad += fs.msg_bad;
  for (size_t k = 0; k < n; k++) free(lines[k]);
  free(lines);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *shared = getenv("PHAROS_SHARED_DIR");
  const char *req = getenv("PHAROS_REQUIRE_SHARED");
  char dir[1024];
  snprintf(dir, sizeof(dir), "%s/promql-tests/testdata", shared ? shared : "");
  DIR *d = shared ? opendir(dir) : NULL;
  if (!d) {
    fprintf(stderr, "promql conformance corpus not found (%s); set "
            "PHAROS_SHARED_DIR\n", shared ? dir : "PHAROS_SHARED_DIR unset");
    return req && strcmp(req, "1") == 0 ? 1 : 77;
  }
  char skippath[1100];
  snprintf(skippath, sizeof(skippath), "%s/promql-tests/SKIPLIST.tsv", shared);
  load_skips(skippath, true);
  char **only = NULL;
  size_t nonly = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-v") == 0) {
      g_verbose = true;
    } else if (strstr(argv[i], ".tsv")) {
      load_skips(argv[i], true);
    } else {
      only = realloc(only, (nonly + 1) * sizeof(*only));
      only[nonly++] = argv[i];
    }
  }
  char **files = NULL;
  size_t nf = 0, capf = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    size_t l = strlen(de->d_name);
    if (l < 6 || strcmp(de->d_name + l - 5, ".test") != 0) continue;
    bool take = nonly == 0;
    for (size_t i = 0; i < nonly; i++) take |= strcmp(only[i], de->d_name) == 0;
    if (!take) continue;
    ph_grow(&files, &capf, nf + 1);
    files[nf++] = ph_strdup(de->d_name);
  }
  closedir(d);
  qsort(files, nf, sizeof(*files), cmp_str);
  promql_engine_opts_t eo = {.lookback_ms = 5 * 60 * 1000,
                             .timeout_ms = 0,
                             .max_samples = 50000000};
  promql_engine_t *eng = promql_engine_new(&eo);
  stats_t st = {0};
  for (size_t i = 0; i < nf; i++) {
    run_file(eng, dir, files[i], &st);
    free(files[i]);
  }
  free(files);
  free(only);
  free(g_skips);
  promql_engine_free(eng);
  printf("TOTAL: evals run %d, passed %d, failed %d, skipped %d; messages: %d "
         "ok, %d mismatched\n",
         st.run, st.passed, st.failed, st.skipped, st.msg_ok, st.msg_bad);
  printf("(each passing instant eval also checked in range mode: %d, with @ "
         "variants: %d)\n",
         g_range_checks, g_at_checks);
  return st.failed ? 1 : 0;
}
