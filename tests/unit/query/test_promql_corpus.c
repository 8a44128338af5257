/*
 * test_promql_corpus.c - every eval expression of the shared PromQL
 * conformance scripts goes through the parser.
 *
 * Reads $PHAROS_SHARED_DIR (or the build-time PHAROS_SHARED_DIR) /
 * promql-tests/testdata/ *.test, takes the expression of each eval line
 * ("eval instant at T EXPR", "eval range from A to B step S EXPR", and the
 * eval_fail/eval_warn/eval_info/eval_ordered spellings) and checks:
 *   - each eval not expected to fail (no eval_fail, no "expect fail" line
 *     in its block) and not listed in SKIPLIST.tsv parses;
 *   - every expression that parses prints to text that parses again to the
 *     same text (the printer's output is canonical);
 *   - with experimental functions enabled, the skip-listed evals not
 *     expected to fail parse too.
 * Skips (exit 77) when the folder is absent, unless PHAROS_REQUIRE_SHARED=1.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "promql.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef PHAROS_SHARED_DIR
#define PHAROS_SHARED_DIR "../shared"
#endif

static char g_dir[4096];

typedef struct {
  char file[128];
  int line;
} skip_t;

static skip_t *g_skips;
static size_t g_nskips;

static char *trim(char *s) {
  while (*s == ' ' || *s == '\t') s++;
  size_t n = strlen(s);
  while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' ||
                   s[n - 1] == '\r')) {
    s[--n] = '\0';
  }
  return s;
}

static void load_skiplist(void) {
  char path[4200];
  snprintf(path, sizeof(path), "%s/SKIPLIST.tsv", g_dir);
  FILE *f = fopen(path, "r");
  if (!f) return;
  char line[8192];
  while (fgets(line, sizeof(line), f)) {
    if (line[0] == '#') continue;
    char *tab = strchr(line, '\t');
    if (!tab) continue;
    *tab = '\0';
    g_skips = realloc(g_skips, (g_nskips + 1) * sizeof(*g_skips));
    size_t fl = strlen(line);
    if (fl >= sizeof(g_skips[0].file)) fl = sizeof(g_skips[0].file) - 1;
    memcpy(g_skips[g_nskips].file, line, fl);
    g_skips[g_nskips].file[fl] = '\0';
    g_skips[g_nskips].line = atoi(tab + 1);
    g_nskips++;
  }
  fclose(f);
}

static bool skipped(const char *file, int line) {
  for (size_t i = 0; i < g_nskips; i++) {
    if (g_skips[i].line == line && strcmp(g_skips[i].file, file) == 0) {
      return true;
    }
  }
  return false;
}

/* Skips `n` space-separated words of s; NULL if there are fewer. */
static const char *skip_words(const char *s, int n) {
  for (int i = 0; i < n; i++) {
    while (*s == ' ' || *s == '\t') s++;
    if (!*s) return NULL;
    while (*s && *s != ' ' && *s != '\t') s++;
  }
  while (*s == ' ' || *s == '\t') s++;
  return s;
}

/* The expression of an eval header, or NULL when the line is not one. */
static const char *eval_expr(const char *line, bool *is_fail) {
  static const char *const cmds[] = {"eval ", "eval_fail ", "eval_warn ",
                                     "eval_info ", "eval_ordered "};
  size_t i;
  for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
    if (strncmp(line, cmds[i], strlen(cmds[i])) == 0) break;
  }
  if (i == sizeof(cmds) / sizeof(cmds[0])) return NULL;
  *is_fail = i == 1;
  const char *rest = skip_words(line, 1);
  if (strncmp(rest, "instant", 7) == 0) return skip_words(rest, 3);
  if (strncmp(rest, "range", 5) == 0) return skip_words(rest, 7);
  return NULL;
}

typedef struct {
  int evals, checked, skipped_nonfail, failures;
} counts_t;

static void check_roundtrip(const char *where, const promql_expr_t *e,
                            counts_t *c) {
  strbuf_t a = STRBUF_INIT, b = STRBUF_INIT;
  promql_format(e, &a);
  promql_error_t err;
  promql_parse_opts_t o = {.experimental_functions = true};
  promql_expr_t *e2 = promql_parse_ex(a.data, a.len, &o, &err);
  if (!e2) {
    fprintf(stderr, "%s: printed form %s does not parse: %s\n", where,
            strbuf_cstr(&a), err.msg);
    c->failures++;
  } else {
    promql_format(e2, &b);
    if (strcmp(strbuf_cstr(&a), strbuf_cstr(&b)) != 0) {
      fprintf(stderr, "%s: not canonical: %s -> %s\n", where, strbuf_cstr(&a),
              strbuf_cstr(&b));
      c->failures++;
    }
    strbuf_t pr = STRBUF_INIT;
    promql_format_pretty(e2, &pr);
    promql_expr_t *e3 = promql_parse_ex(pr.data, pr.len, &o, &err);
    if (!e3) {
      fprintf(stderr, "%s: pretty form does not parse: %s\n", where, err.msg);
      c->failures++;
    }
    promql_expr_free(e3);
    strbuf_free(&pr);
  }
  promql_expr_free(e2);
  strbuf_free(&a);
  strbuf_free(&b);
}

static void run_file(const char *name, counts_t *c) {
  char path[4400];
  snprintf(path, sizeof(path), "%s/testdata/%s", g_dir, name);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  char **lines = NULL;
  size_t n = 0;
  char buf[16384];
  while (fgets(buf, sizeof(buf), f)) {
    lines = realloc(lines, (n + 1) * sizeof(*lines));
    lines[n++] = strdup(buf);
  }
  fclose(f);
  for (size_t i = 0; i < n; i++) {
    char *l = trim(lines[i]);
    bool is_fail = false;
    const char *expr = eval_expr(l, &is_fail);
    if (!expr) continue;
    c->evals++;
    for (size_t j = i + 1; j < n; j++) {
      char *b = trim(lines[j]);
      if (!*b || b[0] == '#') break;
      if (strncmp(b, "expect fail", 11) == 0) is_fail = true;
    }
    int lineno = (int)i + 1;
    char where[300];
    snprintf(where, sizeof(where), "%s:%d", name, lineno);
    bool skip = skipped(name, lineno);
    promql_error_t err;
    promql_parse_opts_t o = {.experimental_functions = skip};
    promql_expr_t *e = promql_parse_ex(expr, strlen(expr), &o, &err);
    if (e) {
      check_roundtrip(where, e, c);
      promql_expr_free(e);
    } else if (!is_fail) {
      fprintf(stderr, "%s: %s: %s\n", where, expr, err.msg);
      c->failures++;
    }
    if (skip) {
      c->skipped_nonfail += !is_fail;
    } else if (!is_fail) {
      c->checked++;
    }
  }
  for (size_t i = 0; i < n; i++) free(lines[i]);
  free(lines);
}

static void test_corpus(void **state) {
  (void)state;
  DIR *d;
  char tdir[4200];
  snprintf(tdir, sizeof(tdir), "%s/testdata", g_dir);
  d = opendir(tdir);
  assert_non_null(d);
  counts_t c = {0};
  struct dirent *de;
  int files = 0;
  while ((de = readdir(d)) != NULL) {
    size_t l = strlen(de->d_name);
    if (l < 6 || strcmp(de->d_name + l - 5, ".test") != 0) continue;
    run_file(de->d_name, &c);
    files++;
  }
  closedir(d);
  fprintf(stderr,
          "corpus: %d files, %d evals, %d must parse, %d skip-listed, %d "
          "failures\n",
          files, c.evals, c.checked, c.skipped_nonfail, c.failures);
  assert_true(files > 0);
  assert_true(c.checked > 500);
  assert_int_equal(c.failures, 0);
}

int main(void) {
  const char *env = getenv("PHAROS_SHARED_DIR");
  snprintf(g_dir, sizeof(g_dir), "%s/promql-tests",
           env && *env ? env : PHAROS_SHARED_DIR);
  char tdir[4200];
  snprintf(tdir, sizeof(tdir), "%s/testdata", g_dir);
  DIR *d = opendir(tdir);
  if (!d) {
    const char *req = getenv("PHAROS_REQUIRE_SHARED");
    if (req && strcmp(req, "1") == 0) {
      fprintf(stderr, "FAIL: %s missing and PHAROS_REQUIRE_SHARED=1\n", tdir);
      return 1;
    }
    fprintf(stderr, "SKIP: %s not found (set PHAROS_SHARED_DIR)\n", tdir);
    return 77;
  }
  closedir(d);
  load_skiplist();
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_corpus)};
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  free(g_skips);
  return rc;
}
