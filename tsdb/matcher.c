/*
 * matcher.c - compiled label matchers.
 *
 * =~ and !~ are fully anchored with RE2 semantics as Prometheus 3 has them:
 * the pattern is wrapped as ^(?s:pattern)$ (dot matches newline) and
 * compiled with PCRE2 in UTF mode, JIT-compiled where possible, and run
 * under a match limit so a pathological pattern fails that match instead
 * of spinning.  Common shapes skip the regex engine altogether:
 *   foo          -> literal comparison
 *   a|b|c        -> binary search in a sorted set of literals
 *   .*  / .+     -> any value / any non-empty value
 *   foo.*        -> literal prefix test
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tsdb_int.h"

#include "mem.h"
#include "ph_error.h"
#include "strbuf.h"

#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

enum { K_EXACT, K_SET, K_ANY, K_NONEMPTY, K_PREFIX, K_REGEX };

static bool is_meta(char c) {
  return strchr("\\.+*?()|[]{}^$", c) != NULL;
}

static bool all_literal(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (is_meta(s[i])) return false;
  return true;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One match context for all threads: read-only once set up. */
static pcre2_match_context *g_match_ctx;
static pthread_once_t g_match_once = PTHREAD_ONCE_INIT;

static void match_ctx_init(void) {
  g_match_ctx = pcre2_match_context_create(NULL);
  pcre2_set_match_limit(g_match_ctx, 1000000);
  pcre2_set_depth_limit(g_match_ctx, 10000);
}

static pcre2_match_context *match_ctx(void) {
  pthread_once(&g_match_once, match_ctx_init);
  return g_match_ctx;
}

int tsdb__matcher_compile(tsdb__matcher_t *m, const tsdb_matcher_t *src,
                          char *err, size_t errlen) {
  memset(m, 0, sizeof *m);
  m->type = src->type;
  m->name = ph_strdup(src->name);
  m->value = ph_strdup(src->value);
  m->kind = K_EXACT;
  if (src->type == TSDB_MATCH_RE || src->type == TSDB_MATCH_NRE) {
    const char *v = src->value;
    size_t n = strlen(v);
    if (strcmp(v, ".*") == 0) {
      m->kind = K_ANY;
    } else if (strcmp(v, ".+") == 0) {
      m->kind = K_NONEMPTY;
    } else if (all_literal(v, n)) {
      m->kind = K_EXACT;
    } else if (n > 2 && strcmp(v + n - 2, ".*") == 0 && all_literal(v, n - 2)) {
      m->kind = K_PREFIX;
      m->prefix_len = n - 2;
    } else {
      /* literal alternation? */
      bool alt = strchr(v, '|') != NULL;
      for (size_t i = 0; alt && i < n; i++)
        if (v[i] != '|' && is_meta(v[i])) alt = false;
      if (alt) {
        m->kind = K_SET;
        size_t count = 1;
        for (size_t i = 0; i < n; i++) count += v[i] == '|';
        m->set = ph_calloc(count, sizeof(char *));
        const char *p = v;
        for (size_t i = 0; i < count; i++) {
          const char *bar = strchr(p, '|');
          size_t len = bar ? (size_t)(bar - p) : strlen(p);
          m->set[m->nset++] = ph_strndup(p, len);
          p = bar ? bar + 1 : p + len;
        }
        qsort(m->set, m->nset, sizeof(char *), cmp_str);
      } else {
        m->kind = K_REGEX;
        strbuf_t pat = STRBUF_INIT;
        strbuf_puts(&pat, "^(?s:");
        strbuf_append(&pat, v, n);
        strbuf_puts(&pat, ")$");
        int ecode;
        PCRE2_SIZE eoff;
        pcre2_code *code = pcre2_compile((PCRE2_SPTR)pat.data, pat.len,
                                         PCRE2_UTF | PCRE2_DOLLAR_ENDONLY,
                                         &ecode, &eoff, NULL);
        strbuf_free(&pat);
        if (code == NULL) {
          PCRE2_UCHAR msg[256];
          pcre2_get_error_message(ecode, msg, sizeof msg);
          size_t off = eoff >= 5 ? eoff - 5 : 0;
          tsdb__matcher_free(m);
          return ph_err(err, errlen, PH_EPARSE,
                        "error parsing regexp: %s at position %zu: `%s`",
                        (const char *)msg, off, src->value);
        }
        pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* best effort */
        m->code = code;
      }
    }
  }
  m->matches_empty = tsdb__matcher_matches(m, "", 0);
  return 0;
}

void tsdb__matcher_free(tsdb__matcher_t *m) {
  free(m->name);
  free(m->value);
  for (size_t i = 0; i < m->nset; i++) free(m->set[i]);
  free(m->set);
  if (m->code) pcre2_code_free((pcre2_code *)m->code);
  memset(m, 0, sizeof *m);
}

static bool positive_match(const tsdb__matcher_t *m, const char *value,
                           size_t len) {
  switch (m->kind) {
  case K_EXACT:
    return strlen(m->value) == len && memcmp(m->value, value, len) == 0;
  case K_ANY:
    return true;
  case K_NONEMPTY:
    return len > 0;
  case K_PREFIX:
    return len >= m->prefix_len && memcmp(m->value, value, m->prefix_len) == 0;
  case K_SET: {
    size_t lo = 0, hi = m->nset;
    while (lo < hi) {
      size_t mid = (lo + hi) / 2;
      int c = strncmp(m->set[mid], value, len);
      if (c == 0 && m->set[mid][len] != '\0') c = 1;
      if (c == 0) return true;
      if (c < 0) lo = mid + 1;
      else hi = mid;
    }
    return false;
  }
  case K_REGEX: {
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    int rc = pcre2_match((const pcre2_code *)m->code, (PCRE2_SPTR)value, len, 0,
                         0, md, match_ctx());
    pcre2_match_data_free(md);
    return rc >= 0;
  }
  }
  return false;
}

bool tsdb__matcher_matches(const tsdb__matcher_t *m, const char *value,
                           size_t len) {
  bool r = positive_match(m, value, len);
  return (m->type == TSDB_MATCH_EQ || m->type == TSDB_MATCH_RE) ? r : !r;
}

/* ---- compiled sets for callers outside the module ------------------------------ */

struct tsdb_matcher_set {
  tsdb__matcher_t *m; /* owned */
  size_t n;
};

int tsdb_matcher_set_new(const tsdb_matcher_t *m, size_t n, tsdb_matcher_set_t **out,
                         char *err, size_t errlen) {
  tsdb_matcher_set_t *s = ph_calloc(1, sizeof(*s));
  s->m = ph_calloc(n ? n : 1, sizeof(*s->m));
  for (size_t i = 0; i < n; i++) {
    int rc = tsdb__matcher_compile(&s->m[i], &m[i], err, errlen);
    if (rc != 0) {
      tsdb_matcher_set_free(s);
      return rc;
    }
    s->n++;
  }
  *out = s;
  return 0;
}

bool tsdb__matchers_match_labels(const tsdb__matcher_t *m, size_t n, const labels_t *ls) {
  for (size_t i = 0; i < n; i++) {
    const char *v = labels_get(ls, m[i].name);
    if (v == NULL) v = "";
    if (!tsdb__matcher_matches(&m[i], v, strlen(v))) return false;
  }
  return true;
}

bool tsdb_matcher_set_matches(const tsdb_matcher_set_t *s, const labels_t *ls) {
  return tsdb__matchers_match_labels(s->m, s->n, ls);
}

bool tsdb_matcher_set_matches_value(const tsdb_matcher_set_t *s, const char *name,
                                    const char *value) {
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->m[i].name, name) == 0 &&
        !tsdb__matcher_matches(&s->m[i], value, strlen(value)))
      return false;
  return true;
}

void tsdb_matcher_set_free(tsdb_matcher_set_t *s) {
  if (s == NULL) return;
  for (size_t i = 0; i < s->n; i++) tsdb__matcher_free(&s->m[i]);
  free(s->m);
  free(s);
}
