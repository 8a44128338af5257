/*
 * parser.c - PromQL text to syntax tree, with Prometheus's type checks.
 *
 * A hand-written recursive-descent parser with precedence climbing for the
 * binary operators, built to accept exactly what Prometheus v3's yacc
 * grammar accepts and to fail with the same first error:
 *
 *   precedence, lowest first:  or | and unless | == != <= < >= > | + - |
 *                              * / % atan2 | ^ (right-associative)
 *   unary + - bind tighter than * but looser than ^ (-2^2 is -(2^2)), and
 *   a sign applied directly to a number literal is folded into it;
 *   postfix [range], [range:step], offset, @ bind tightest of all.
 *
 * Parsing stops at the first error (Prometheus collects several but
 * reports only the first; its yacc actions run in the same order as our
 * descent).  Errors unwind with longjmp: every allocation is in the
 * expression's arena, freed as a whole.  "unexpected X" messages carry the
 * context of the grammar's nearest error rule ("in label matching,
 * expected string", "in grouping opts, expected label", "in aggregation",
 * ...), as goyacc's error recovery would find it.
 *
 * After a successful parse the tree is type-checked (checkAST in
 * Prometheus): argument types and counts, aggregation parameters, binary
 * operand types, bool only on comparisons, set operators only between
 * vectors, vector matching only between vectors, non-empty selectors.
 *
 * Limits: the arena has a budget (PARSE_BUDGET) and the tree a maximum
 * height (MAX_HEIGHT); beyond either the query fails with PH_ELIMIT rather
 * than exhausting memory or the stack.
 */
#include "ast.h"
#include "lexer.h"

#include "arena.h"
#include "mem.h"
#include "ph_error.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
  PARSE_BUDGET = 64 << 20,
  MAX_HEIGHT = 4096, /* of the tree: bounds the checker's and printer's
                        recursion */
  MAX_NESTING = 1000, /* of parentheses, calls, signs: bounds the parser's */
};

struct promql_expr {
  arena_t *arena;
  promql_node_t *root;
};

typedef struct parser {
  pq_lexer_t lx;
  const char *in;
  size_t len;
  pq_token_t la[2];
  int nla;
  uint32_t last_end; /* end of the last consumed token */
  arena_t *arena;
  bool experimental;
  int agg_depth; /* open aggregation bodies: context of generic errors */
  int nesting;   /* current recursion depth of parse_expr/parse_dur_unary */
  jmp_buf jb;
  int code;
  char msg[900];
  size_t err_start, err_end;
} parser_t;

/* --- Errors ----------------------------------------------------------- */

static void fail(parser_t *p, size_t start, size_t end, const char *fmt, ...)
    __attribute__((format(printf, 4, 5), noreturn));
static void fail(parser_t *p, size_t start, size_t end, const char *fmt,
                 ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->msg, sizeof(p->msg), fmt, ap);
  va_end(ap);
  p->err_start = start;
  p->err_end = end;
  if (p->code == 0) p->code = PH_EPARSE;
  longjmp(p->jb, 1);
}

static void fail_at(parser_t *p, promql_pos_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
static void fail_at(parser_t *p, promql_pos_t pos, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->msg, sizeof(p->msg), fmt, ap);
  va_end(ap);
  p->err_start = pos.start;
  p->err_end = pos.end;
  p->code = PH_EPARSE;
  longjmp(p->jb, 1);
}

static void fail_limit(parser_t *p, const char *what) __attribute__((noreturn));
static void fail_limit(parser_t *p, const char *what) {
  p->code = PH_ELIMIT;
  fail(p, 0, p->len, "%s", what);
}

/* Go's %q of s into a fixed buffer (truncated if very long). */
static const char *q(parser_t *p, char *buf, size_t cap, const char *s,
                     size_t n) {
  (void)p;
  strbuf_t b = STRBUF_INIT;
  promql__quote(&b, s, n);
  snprintf(buf, cap, "%s", strbuf_cstr(&b));
  strbuf_free(&b);
  return buf;
}

static void unexpected(parser_t *p, const pq_token_t *t, const char *context,
                       const char *expected) __attribute__((noreturn));
static void unexpected(parser_t *p, const pq_token_t *t, const char *context,
                       const char *expected) {
  strbuf_t b = STRBUF_INIT;
  strbuf_puts(&b, "unexpected ");
  pq_token_desc(&b, p->in, t);
  if (context && *context) {
    strbuf_puts(&b, " in ");
    strbuf_puts(&b, context);
  }
  if (expected && *expected) {
    strbuf_puts(&b, ", expected ");
    strbuf_puts(&b, expected);
  }
  snprintf(p->msg, sizeof(p->msg), "%s", strbuf_cstr(&b));
  strbuf_free(&b);
  p->err_start = t->pos;
  p->err_end = (size_t)t->pos + t->len;
  p->code = PH_EPARSE;
  longjmp(p->jb, 1);
}

/* An unexpected token outside any construct with its own error rule. */
static void unexpected_generic(parser_t *p, const pq_token_t *t)
    __attribute__((noreturn));
static void unexpected_generic(parser_t *p, const pq_token_t *t) {
  unexpected(p, t, p->agg_depth > 0 ? "aggregation" : NULL, NULL);
}

/* --- Tokens ------------------------------------------------------------ */

static void fill(parser_t *p, int upto) {
  while (p->nla <= upto) {
    pq_token_t *t = &p->la[p->nla];
    do {
      pq_lexer_next(&p->lx, t);
    } while (t->type == PQT_COMMENT);
    if (t->type == PQT_ERROR) fail(p, t->pos, p->len, "%s", t->err);
    p->nla++;
  }
}

static pq_token_t *peek(parser_t *p) {
  fill(p, 0);
  return &p->la[0];
}

static pq_token_t *peek2(parser_t *p) {
  fill(p, 1);
  return &p->la[1];
}

static pq_token_t advance(parser_t *p) {
  fill(p, 0);
  pq_token_t t = p->la[0];
  p->la[0] = p->la[1];
  p->nla--;
  p->last_end = t.pos + t.len;
  return t;
}

static promql_pos_t tok_pos(const pq_token_t *t) {
  promql_pos_t r = {t->pos, t->pos + t->len};
  return r;
}

/* --- Allocation ------------------------------------------------------ */

static void *alloc(parser_t *p, size_t n) {
  void *m = arena_calloc(p->arena, 1, n ? n : 1);
  if (!m) fail_limit(p, "query too large");
  return m;
}

/* Grows an arena array to hold need elements (old storage is abandoned). */
static void grow(parser_t *p, void **arr, size_t *cap, size_t need,
                 size_t elsz) {
  if (need <= *cap) return;
  size_t ncap = *cap ? *cap * 2 : 4;
  while (ncap < need) ncap *= 2;
  void *n = alloc(p, ncap * elsz);
  if (*cap) memcpy(n, *arr, *cap * elsz);
  *arr = n;
  *cap = ncap;
}

static char *dup(parser_t *p, const char *s, size_t n) {
  char *d = alloc(p, n + 1);
  memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

static uint32_t max_u32(uint32_t a, uint32_t b) { return a > b ? a : b; }

static promql_node_t *node(parser_t *p, promql_node_kind_t kind,
                           promql_pos_t pos) {
  promql_node_t *n = alloc(p, sizeof(*n));
  n->kind = kind;
  n->pos = pos;
  n->height = 1;
  return n;
}

static void set_height(parser_t *p, promql_node_t *n, uint32_t child) {
  n->height = max_u32(n->height, child + 1);
  if (n->height > MAX_HEIGHT) fail_limit(p, "query is too deeply nested");
}

/* --- Literals ------------------------------------------------------------ */

/* Go's strconv underscoreOK. */
static bool underscore_ok(const char *s, size_t n) {
  char saw = '^';
  size_t i = 0;
  bool hex = false;
  if (n >= 1 && (s[0] == '-' || s[0] == '+')) s++, n--;
  if (n >= 2 && s[0] == '0') {
    char c = (char)(s[1] | 0x20);
    if (c == 'b' || c == 'o' || c == 'x') {
      i = 2;
      saw = '0';
      hex = c == 'x';
    }
  }
  for (; i < n; i++) {
    char c = s[i], lc = (char)(c | 0x20);
    if ((c >= '0' && c <= '9') || (hex && lc >= 'a' && lc <= 'f')) {
      saw = '0';
      continue;
    }
    if (c == '_') {
      if (saw != '0') return false;
      saw = '_';
      continue;
    }
    if (saw == '_') return false;
    saw = '!';
  }
  return saw != '_';
}

/* Go's strconv.ParseInt(s, 0, 64) for unsigned input; false on error. */
static bool go_parse_int(const char *s, size_t n, int64_t *out) {
  const char *orig = s;
  size_t on = n;
  unsigned base = 10;
  if (n >= 1 && s[0] == '0') {
    if (n >= 3 && (s[1] | 0x20) == 'x') {
      base = 16, s += 2, n -= 2;
    } else if (n >= 3 && (s[1] | 0x20) == 'o') {
      base = 8, s += 2, n -= 2;
    } else if (n >= 3 && (s[1] | 0x20) == 'b') {
      base = 2, s += 2, n -= 2;
    } else if (n >= 2 && ((s[1] | 0x20) == 'x' || (s[1] | 0x20) == 'o' ||
                          (s[1] | 0x20) == 'b')) {
      return false; /* "0x" alone */
    } else if (n > 1) {
      base = 8, s += 1, n -= 1;
    }
  }
  if (n == 0) return false;
  uint64_t v = 0;
  bool underscores = false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    unsigned d;
    if (c == '_') {
      underscores = true;
      continue;
    } else if (c >= '0' && c <= '9') {
      d = (unsigned)(c - '0');
    } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') {
      d = (unsigned)((c | 0x20) - 'a' + 10);
    } else {
      return false;
    }
    if (d >= base) return false;
    if (v > (UINT64_MAX - d) / base) return false;
    v = v * base + d;
  }
  if (underscores && !underscore_ok(orig, on)) return false;
  if (v > (uint64_t)INT64_MAX) return false;
  *out = (int64_t)v;
  return true;
}

/* Prometheus's parser.number(): ParseInt(base 0), else ParseFloat. */
static double parse_number(parser_t *p, const pq_token_t *t) {
  const char *s = p->in + t->pos;
  size_t n = t->len;
  int64_t iv;
  if (go_parse_int(s, n, &iv)) return (double)iv;
  char qb[400];
  bool hex = n >= 2 && s[0] == '0' && (s[1] | 0x20) == 'x';
  char *tmp = alloc(p, n + 1);
  size_t m = 0;
  bool under = false;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '_') {
      under = true;
    } else {
      tmp[m++] = s[i];
    }
  }
  tmp[m] = '\0';
  bool syntax_ok = !hex && (!under || underscore_ok(s, n)) && m > 0;
  double v = 0;
  if (syntax_ok) {
    char *end;
    errno = 0;
    v = strtod(tmp, &end);
    if (*end != '\0') syntax_ok = false;
    /* strtod accepts "infinity" and "nan(...)"; Go accepts "inf",
     * "infinity" and "nan" only, which is all the lexer lets through. */
  }
  if (!syntax_ok) {
    fail_at(p, tok_pos(t),
            "error parsing number: strconv.ParseFloat: parsing %s: invalid "
            "syntax",
            q(p, qb, sizeof(qb), s, n));
  }
  bool is_word = (tmp[0] | 0x20) == 'i' || (tmp[0] | 0x20) == 'n';
  if (isinf(v) && !is_word) {
    fail_at(p, tok_pos(t),
            "error parsing number: strconv.ParseFloat: parsing %s: value out "
            "of range",
            q(p, qb, sizeof(qb), s, n));
  }
  return v;
}

/* Prometheus's model.ParseDuration, in nanoseconds.  NULL or an error. */
static const char *go_parse_duration(const char *s, size_t n, int64_t *ns,
                                     char *err, size_t errlen) {
  static const struct {
    const char *unit;
    int pos;
    uint64_t mult;
  } units[] = {
      {"ms", 7, 1000000ULL},
      {"s", 6, 1000000000ULL},
      {"m", 5, 60ULL * 1000000000ULL},
      {"h", 4, 3600ULL * 1000000000ULL},
      {"d", 3, 86400ULL * 1000000000ULL},
      {"w", 2, 7ULL * 86400ULL * 1000000000ULL},
      {"y", 1, 365ULL * 86400ULL * 1000000000ULL},
  };
  strbuf_t qb = STRBUF_INIT;
  promql__quote(&qb, s, n);
  const char *quoted = strbuf_cstr(&qb);
  *ns = 0;
  if (n == 1 && s[0] == '0') {
    strbuf_free(&qb);
    return NULL;
  }
  if (n == 0) {
    snprintf(err, errlen, "empty duration string");
    strbuf_free(&qb);
    return err;
  }
  uint64_t dur = 0;
  int last = 0;
  size_t i = 0;
  while (i < n) {
    if (s[i] < '0' || s[i] > '9') goto invalid;
    uint64_t v = 0;
    bool overflow = false;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
      unsigned d = (unsigned)(s[i] - '0');
      if (v > (UINT64_MAX - d) / 10) overflow = true;
      v = v * 10 + d;
    }
    if (overflow) goto invalid;
    size_t us = i;
    for (; i < n && !(s[i] >= '0' && s[i] <= '9'); i++) {
    }
    if (i == us) goto invalid;
    int found = -1;
    for (size_t k = 0; k < sizeof(units) / sizeof(units[0]); k++) {
      if (strlen(units[k].unit) == i - us &&
          memcmp(units[k].unit, s + us, i - us) == 0) {
        found = (int)k;
      }
    }
    if (found < 0) {
      strbuf_t ub = STRBUF_INIT;
      promql__quote(&ub, s + us, i - us);
      snprintf(err, errlen, "unknown unit %s in duration %s", strbuf_cstr(&ub),
               quoted);
      strbuf_free(&ub);
      strbuf_free(&qb);
      return err;
    }
    if (units[found].pos <= last) goto invalid;
    last = units[found].pos;
    if (v > (1ULL << 63) / units[found].mult) goto range;
    dur += v * units[found].mult;
    if (dur > (uint64_t)INT64_MAX) goto range;
  }
  strbuf_free(&qb);
  *ns = (int64_t)dur;
  return NULL;
invalid:
  snprintf(err, errlen, "not a valid duration string: %s", quoted);
  strbuf_free(&qb);
  return err;
range:
  snprintf(err, errlen, "duration out of range");
  strbuf_free(&qb);
  return err;
}

/* Value in seconds of a NUMBER or DURATION token. */
static double literal_value(parser_t *p, const pq_token_t *t) {
  if (t->type == PQT_NUMBER) return parse_number(p, t);
  int64_t ns;
  char err[300];
  if (go_parse_duration(p->in + t->pos, t->len, &ns, err, sizeof(err))) {
    fail_at(p, tok_pos(t), "%s", err);
  }
  /* time.Duration.Seconds() */
  int64_t sec = ns / 1000000000, nsec = ns % 1000000000;
  return (double)sec + (double)nsec / 1e9;
}

/* Decodes a STRING token the lexer has validated (strutil.Unquote). */
static char *unquote(parser_t *p, const pq_token_t *t, size_t *outlen) {
  const char *s = p->in + t->pos + 1;
  size_t n = t->len - 2;
  char quote = p->in[t->pos];
  char *out = alloc(p, n + 1);
  size_t o = 0;
  if (quote == '`') {
    memcpy(out, s, n);
    *outlen = n;
    out[n] = '\0';
    return out;
  }
  for (size_t i = 0; i < n;) {
    char c = s[i];
    if (c != '\\') {
      out[o++] = c;
      i++;
      continue;
    }
    char e = s[i + 1];
    i += 2;
    switch (e) {
      case 'a': out[o++] = '\a'; break;
      case 'b': out[o++] = '\b'; break;
      case 'f': out[o++] = '\f'; break;
      case 'n': out[o++] = '\n'; break;
      case 'r': out[o++] = '\r'; break;
      case 't': out[o++] = '\t'; break;
      case 'v': out[o++] = '\v'; break;
      case '\\': out[o++] = '\\'; break;
      case '\'': out[o++] = '\''; break;
      case '"': out[o++] = '"'; break;
      case 'x': case 'u': case 'U': {
        int nd = e == 'x' ? 2 : (e == 'u' ? 4 : 8);
        uint32_t v = 0;
        for (int k = 0; k < nd; k++, i++) {
          char h = s[i];
          v = v * 16 + (uint32_t)(h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
        }
        if (e == 'x') {
          out[o++] = (char)v;
        } else if (v < 0x80) {
          out[o++] = (char)v;
        } else if (v < 0x800) {
          out[o++] = (char)(0xC0 | (v >> 6));
          out[o++] = (char)(0x80 | (v & 0x3F));
        } else if (v < 0x10000) {
          out[o++] = (char)(0xE0 | (v >> 12));
          out[o++] = (char)(0x80 | ((v >> 6) & 0x3F));
          out[o++] = (char)(0x80 | (v & 0x3F));
        } else {
          out[o++] = (char)(0xF0 | (v >> 18));
          out[o++] = (char)(0x80 | ((v >> 12) & 0x3F));
          out[o++] = (char)(0x80 | ((v >> 6) & 0x3F));
          out[o++] = (char)(0x80 | (v & 0x3F));
        }
        break;
      }
      default: { /* octal: e and two more digits */
        uint32_t v = (uint32_t)(e - '0');
        for (int k = 0; k < 2; k++, i++) v = v * 8 + (uint32_t)(s[i] - '0');
        out[o++] = (char)v;
        break;
      }
    }
  }
  out[o] = '\0';
  *outlen = o;
  return out;
}

static bool valid_utf8(const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s;
  for (size_t i = 0; i < n;) {
    unsigned c = u[i];
    size_t need;
    uint32_t r, min;
    if (c < 0x80) {
      i++;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      need = 2, r = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
      need = 3, r = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
      need = 4, r = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (n - i < need) return false;
    for (size_t k = 1; k < need; k++) {
      if ((u[i + k] & 0xC0) != 0x80) return false;
      r = (r << 6) | (u[i + k] & 0x3F);
    }
    if (r < min || r > 0x10FFFF || (r >= 0xD800 && r < 0xE000)) return false;
    i += need;
  }
  return true;
}

/* --- Matchers ------------------------------------------------------------ */

/* Compiles a regex matcher's value as Prometheus does (fully anchored, dot
 * matches newline) to validate it and learn whether it matches "". */
static bool regex_matches_empty(parser_t *p, const char *v, size_t n,
                                promql_pos_t pos) {
  int errcode;
  PCRE2_SIZE erroff;
  pcre2_code *re = pcre2_compile((PCRE2_SPTR)v, n,
                                 PCRE2_UTF | PCRE2_DOTALL | PCRE2_ANCHORED |
                                     PCRE2_ENDANCHORED,
                                 &errcode, &erroff, NULL);
  if (!re) {
    PCRE2_UCHAR buf[256];
    pcre2_get_error_message(errcode, buf, sizeof(buf));
    char *qv = alloc(p, n + 16);
    memcpy(qv, "^(?s:", 5);
    memcpy(qv + 5, v, n);
    memcpy(qv + 5 + n, ")$", 3);
    fail_at(p, pos, "error parsing regexp: %s: `%s`", (const char *)buf, qv);
  }
  pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
  int rc = pcre2_match(re, (PCRE2_SPTR) "", 0, 0, 0, md, NULL);
  pcre2_match_data_free(md);
  pcre2_code_free(re);
  return rc >= 0;
}

static void add_matcher(parser_t *p, promql_matcher_t **ms, size_t *n,
                        size_t *cap, tsdb_match_type_t type, const char *name,
                        const char *value, size_t vlen, promql_pos_t pos) {
  grow(p, (void **)ms, cap, *n + 1, sizeof(**ms));
  promql_matcher_t *m = &(*ms)[(*n)++];
  m->type = type;
  m->name = name;
  m->value = value;
  m->value_len = vlen;
  switch (type) {
    case TSDB_MATCH_EQ: m->matches_empty = vlen == 0; break;
    case TSDB_MATCH_NEQ: m->matches_empty = vlen != 0; break;
    case TSDB_MATCH_RE:
      m->matches_empty = regex_matches_empty(p, value, vlen, pos);
      break;
    default:
      m->matches_empty = !regex_matches_empty(p, value, vlen, pos);
      break;
  }
}

static bool match_op(pq_tok_type_t t, tsdb_match_type_t *out) {
  switch (t) {
    case PQT_EQL: *out = TSDB_MATCH_EQ; return true;
    case PQT_NEQ: *out = TSDB_MATCH_NEQ; return true;
    case PQT_EQL_REGEX: *out = TSDB_MATCH_RE; return true;
    case PQT_NEQ_REGEX: *out = TSDB_MATCH_NRE; return true;
    default: return false;
  }
}

/* After '{' (when braces is true): the matcher list up to and including
 * '}'; then the __name__ matcher for a name written outside the braces. */
static void parse_label_matchers(parser_t *p, promql_node_t *vs,
                                 bool braces) {
  promql_matcher_t *ms = NULL;
  size_t n = 0, cap = 0;
  if (!braces) {
    /* no matcher list */
  } else if (peek(p)->type == PQT_RIGHT_BRACE) {
    advance(p);
  } else {
    for (;;) {
      pq_token_t t = *peek(p);
      if (t.type == PQT_IDENTIFIER || t.type == PQT_STRING) {
        advance(p);
        const char *name;
        if (t.type == PQT_IDENTIFIER) {
          name = dup(p, p->in + t.pos, t.len);
        } else {
          size_t nl;
          name = unquote(p, &t, &nl);
        }
        tsdb_match_type_t mt;
        pq_token_t op = *peek(p);
        if (match_op(op.type, &mt)) {
          advance(p);
          pq_token_t v = *peek(p);
          if (v.type != PQT_STRING) {
            unexpected(p, &v, "label matching", "string");
          }
          advance(p);
          size_t vl;
          char *val = unquote(p, &v, &vl);
          promql_pos_t mpos = {t.pos, v.pos + v.len};
          add_matcher(p, &ms, &n, &cap, mt, name, val, vl, mpos);
        } else if (t.type == PQT_STRING) {
          /* {"metric.name"}: a quoted metric name. */
          add_matcher(p, &ms, &n, &cap, TSDB_MATCH_EQ, "__name__", name,
                      strlen(name), tok_pos(&t));
        } else {
          unexpected(p, &op, "label matching", "label matching operator");
        }
      } else {
        unexpected(p, &t, "label matching", "identifier or \"}\"");
      }
      pq_token_t sep = *peek(p);
      if (sep.type == PQT_COMMA) {
        advance(p);
        if (peek(p)->type == PQT_RIGHT_BRACE) {
          advance(p);
          break;
        }
      } else if (sep.type == PQT_RIGHT_BRACE) {
        advance(p);
        break;
      } else {
        unexpected(p, &sep, "label matching", "\",\" or \"}\"");
      }
    }
  }
  if (vs->u.vs.name) {
    grow(p, (void **)&ms, &cap, n + 1, sizeof(*ms));
    promql_matcher_t *m = &ms[n++];
    m->type = TSDB_MATCH_EQ;
    m->name = "__name__";
    m->value = vs->u.vs.name;
    m->value_len = strlen(vs->u.vs.name);
    m->matches_empty = m->value_len == 0;
  }
  vs->u.vs.matchers = ms;
  vs->u.vs.nmatchers = n;
  vs->pos.end = p->last_end;
}

/* --- Grouping labels --------------------------------------------------- */

/* Tokens that may name a label in by/without/on/ignoring/group_x lists
 * (Prometheus's maybe_label). */
static bool is_label_token(pq_tok_type_t t) {
  switch (t) {
    case PQT_IDENTIFIER: case PQT_METRIC_IDENTIFIER:
    case PQT_BOOL: case PQT_BY: case PQT_GROUP_LEFT: case PQT_GROUP_RIGHT:
    case PQT_IGNORING: case PQT_LAND: case PQT_LOR: case PQT_LUNLESS:
    case PQT_OFFSET: case PQT_ON: case PQT_START: case PQT_END:
    case PQT_ATAN2: case PQT_STEP: case PQT_RANGE: case PQT_ANCHORED:
    case PQT_SMOOTHED:
      return true;
    default:
      return pq_tok_is_aggregator(t);
  }
}

/* "(" label, ... ")" after by/without/on/ignoring/group_left/group_right. */
static void parse_grouping(parser_t *p, const char ***out, size_t *nout) {
  const char **ls = NULL;
  size_t n = 0, cap = 0;
  pq_token_t t = *peek(p);
  if (t.type != PQT_LEFT_PAREN) unexpected(p, &t, "grouping opts", "\"(\"");
  advance(p);
  if (peek(p)->type == PQT_RIGHT_PAREN) {
    advance(p);
  } else {
    for (;;) {
      t = *peek(p);
      const char *label;
      if (t.type == PQT_STRING) {
        size_t ll;
        label = unquote(p, &t, &ll);
        if (ll == 0 || !valid_utf8(label, ll) || strlen(label) != ll) {
          char qb[300];
          fail(p, t.pos, t.pos + t.len,
               "invalid label name for grouping: %s",
               q(p, qb, sizeof(qb), label, ll));
        }
      } else if (is_label_token(t.type)) {
        label = dup(p, p->in + t.pos, t.len);
      } else {
        unexpected(p, &t, "grouping opts", "label");
      }
      advance(p);
      grow(p, (void **)&ls, &cap, n + 1, sizeof(*ls));
      ls[n++] = label;
      t = *peek(p);
      if (t.type == PQT_COMMA) {
        advance(p);
        if (peek(p)->type == PQT_RIGHT_PAREN) {
          advance(p);
          break;
        }
      } else if (t.type == PQT_RIGHT_PAREN) {
        advance(p);
        break;
      } else {
        unexpected(p, &t, "grouping opts", "\",\" or \")\"");
      }
    }
  }
  *out = ls;
  *nout = n;
}

/* --- Durations ------------------------------------------------------------ */

typedef struct {
  const char *context, *expected;
} dur_ctx_t;

static const double MAX_DURATION_SECS = 9223372036.854775807;

static double parse_dur_expr(parser_t *p, const dur_ctx_t *c,
                             promql_pos_t *pos);
static double parse_dur_unary(parser_t *p, const dur_ctx_t *c,
                              promql_pos_t *pos);

/* A signed literal, a parenthesised duration expression, or one of the
 * experimental duration functions (rejected). */
static void enter(parser_t *p);
static double parse_dur_unary_(parser_t *p, const dur_ctx_t *c,
                               promql_pos_t *pos);

static double parse_dur_unary(parser_t *p, const dur_ctx_t *c,
                              promql_pos_t *pos) {
  enter(p);
  double v = parse_dur_unary_(p, c, pos);
  p->nesting--;
  return v;
}

static double parse_dur_unary_(parser_t *p, const dur_ctx_t *c,
                               promql_pos_t *pos) {
  pq_token_t t = *peek(p);
  switch (t.type) {
    case PQT_ADD:
    case PQT_SUB: {
      advance(p);
      double v = parse_dur_unary(p, c, pos);
      if (t.type == PQT_SUB) v = -v;
      if (v > MAX_DURATION_SECS || v < -MAX_DURATION_SECS) {
        fail_at(p, tok_pos(&t), "duration out of range");
      }
      pos->start = t.pos;
      return v;
    }
    case PQT_NUMBER:
    case PQT_DURATION: {
      advance(p);
      double v = literal_value(p, &t);
      *pos = tok_pos(&t);
      if (v > MAX_DURATION_SECS || v < -MAX_DURATION_SECS) {
        fail_at(p, *pos, "duration out of range");
      }
      return v;
    }
    case PQT_LEFT_PAREN: {
      advance(p);
      double v = parse_dur_expr(p, c, pos);
      pq_token_t r = *peek(p);
      if (r.type != PQT_RIGHT_PAREN) unexpected(p, &r, c->context, c->expected);
      advance(p);
      pos->start = t.pos;
      pos->end = r.pos + r.len;
      return v;
    }
    case PQT_STEP:
    case PQT_RANGE:
    case PQT_MIN:
    case PQT_MAX:
      fail_at(p, tok_pos(&t), "experimental duration expression is not enabled");
    default:
      unexpected(p, &t, c->context, c->expected);
  }
}

static bool is_dur_binop(pq_tok_type_t t) {
  return t == PQT_ADD || t == PQT_SUB || t == PQT_MUL || t == PQT_DIV ||
         t == PQT_MOD || t == PQT_POW;
}

static double parse_dur_expr(parser_t *p, const dur_ctx_t *c,
                             promql_pos_t *pos) {
  double v = parse_dur_unary(p, c, pos);
  if (is_dur_binop(peek(p)->type)) {
    fail_at(p, *pos, "experimental duration expression is not enabled");
  }
  if (!isfinite(v)) fail_at(p, *pos, "duration out of range");
  return v;
}

/* time.Duration(math.Round(secs * 1e9)) in milliseconds. */
static int64_t secs_to_ms(double secs) {
  double ns = round(secs * 1e9);
  /* NaN converts like Go on amd64 (the minimum int64), never through UB */
  if (isnan(ns)) return INT64_MIN / 1000000;
  if (ns >= 9.2233720368547758e18) return INT64_MAX / 1000000;
  if (ns <= -9.2233720368547758e18) return INT64_MIN / 1000000;
  return (int64_t)ns / 1000000;
}

/* A range or subquery duration: must be > 0. */
static int64_t parse_positive_duration(parser_t *p, const dur_ctx_t *c) {
  promql_pos_t pos;
  double v = parse_dur_expr(p, c, &pos);
  if (!(v > 0)) fail_at(p, pos, "duration must be greater than 0");
  return secs_to_ms(v);
}

/* --- Modifiers ---------------------------------------------------------- */

static void add_offset(parser_t *p, promql_node_t *e, int64_t ms) {
  int64_t *slot;
  switch (e->kind) {
    case PROMQL_NODE_VECTOR_SEL: slot = &e->u.vs.offset_ms; break;
    case PROMQL_NODE_MATRIX_SEL: slot = &e->u.ms.vs->u.vs.offset_ms; break;
    case PROMQL_NODE_SUBQUERY: slot = &e->u.sq.offset_ms; break;
    default:
      fail_at(p, e->pos,
              "offset modifier must be preceded by an instant vector selector "
              "or range vector selector or a subquery");
  }
  if (*slot != 0) fail_at(p, e->pos, "offset may not be set multiple times");
  *slot = ms;
  e->pos.end = p->last_end;
}

static void parse_offset(parser_t *p, promql_node_t *e) {
  static const dur_ctx_t c = {"offset",
                              "number, duration, step(), or range()"};
  promql_pos_t pos;
  /* offset takes a (signed) literal or a parenthesised expression only, so
   * "foo offset 1m + 1m" is (foo offset 1m) + 1m. */
  double v = parse_dur_unary(p, &c, &pos);
  if (!isfinite(v)) fail_at(p, pos, "duration out of range");
  add_offset(p, e, secs_to_ms(v));
}

static void parse_at(parser_t *p, promql_node_t *e) {
  pq_token_t t = *peek(p);
  promql_at_t kind = PROMQL_AT_TIMESTAMP;
  double ts = 0;
  if (t.type == PQT_START || t.type == PQT_END) {
    advance(p);
    pq_token_t l = *peek(p);
    if (l.type != PQT_LEFT_PAREN) unexpected(p, &l, "@", "timestamp");
    advance(p);
    pq_token_t r = *peek(p);
    if (r.type != PQT_RIGHT_PAREN) unexpected(p, &r, "@", "timestamp");
    advance(p);
    kind = t.type == PQT_START ? PROMQL_AT_START : PROMQL_AT_END;
  } else {
    bool neg = false;
    if (t.type == PQT_ADD || t.type == PQT_SUB) {
      neg = t.type == PQT_SUB;
      advance(p);
      t = *peek(p);
    }
    if (t.type != PQT_NUMBER && t.type != PQT_DURATION) {
      unexpected(p, &t, "@", "timestamp");
    }
    advance(p);
    ts = literal_value(p, &t);
    if (neg) ts = -ts;
    if (isinf(ts) || isnan(ts) || ts >= 9.223372036854775807e18 ||
        ts <= -9.223372036854775808e18) {
      char fb[64];
      if (isnan(ts)) {
        snprintf(fb, sizeof(fb), "NaN");
      } else if (isinf(ts)) {
        snprintf(fb, sizeof(fb), ts > 0 ? "+Inf" : "-Inf");
      } else {
        snprintf(fb, sizeof(fb), "%f", ts);
      }
      fail_at(p, e->pos, "timestamp out of bounds for @ modifier: %s", fb);
    }
  }
  promql_at_t *slot;
  int64_t *ms;
  switch (e->kind) {
    case PROMQL_NODE_VECTOR_SEL:
      slot = &e->u.vs.at, ms = &e->u.vs.at_ms;
      break;
    case PROMQL_NODE_MATRIX_SEL:
      slot = &e->u.ms.vs->u.vs.at, ms = &e->u.ms.vs->u.vs.at_ms;
      break;
    case PROMQL_NODE_SUBQUERY:
      slot = &e->u.sq.at, ms = &e->u.sq.at_ms;
      break;
    default:
      fail_at(p, e->pos,
              "@ modifier must be preceded by an instant vector selector or "
              "range vector selector or a subquery");
  }
  if (*slot != PROMQL_AT_NONE) {
    fail_at(p, e->pos, "@ <timestamp> may not be set multiple times");
  }
  *slot = kind;
  if (kind == PROMQL_AT_TIMESTAMP) {
    double v = round(ts * 1000.0);
    if (v >= 9.2233720368547758e18) {
      *ms = INT64_MAX;
    } else if (v <= -9.2233720368547758e18) {
      *ms = INT64_MIN;
    } else {
      *ms = (int64_t)v;
    }
  }
  e->pos.end = p->last_end;
}

/* e "[" ... "]": a range selector or a subquery. */
static promql_node_t *parse_bracket(parser_t *p, promql_node_t *e) {
  static const dur_ctx_t c1 = {"subquery or range selector",
                               "number, duration, step(), or range()"};
  static const dur_ctx_t c2 = {
      "subquery selector", "number, duration, step(), range(), or \"]\""};
  pq_token_t lb = advance(p);
  int64_t range = parse_positive_duration(p, &c1);
  pq_token_t t = *peek(p);
  if (t.type == PQT_RIGHT_BRACKET) {
    advance(p);
    const char *msg = NULL;
    if (e->kind != PROMQL_NODE_VECTOR_SEL) {
      msg = "ranges only allowed for vector selectors";
    } else if (e->u.vs.offset_ms != 0) {
      msg = "no offset modifiers allowed before range";
    } else if (e->u.vs.at != PROMQL_AT_NONE) {
      msg = "no @ modifiers allowed before range";
    }
    if (msg) {
      promql_pos_t r = {lb.pos, t.pos + t.len};
      fail_at(p, r, "%s", msg);
    }
    promql_pos_t pos = {e->pos.start, t.pos + t.len};
    promql_node_t *m = node(p, PROMQL_NODE_MATRIX_SEL, pos);
    m->u.ms.vs = e;
    m->u.ms.range_ms = range;
    set_height(p, m, e->height);
    return m;
  }
  if (t.type != PQT_COLON) {
    unexpected(p, &t, "subquery or range", "\":\" or \"]\"");
  }
  advance(p);
  int64_t step = 0;
  if (peek(p)->type != PQT_RIGHT_BRACKET) {
    step = parse_positive_duration(p, &c2);
  }
  t = *peek(p);
  if (t.type != PQT_RIGHT_BRACKET) {
    unexpected(p, &t, "subquery selector", "\"]\"");
  }
  advance(p);
  promql_pos_t pos = {e->pos.start, t.pos + t.len};
  promql_node_t *s = node(p, PROMQL_NODE_SUBQUERY, pos);
  s->u.sq.expr = e;
  s->u.sq.range_ms = range;
  s->u.sq.step_ms = step;
  set_height(p, s, e->height);
  return s;
}

static promql_node_t *parse_postfix(parser_t *p, promql_node_t *e) {
  for (;;) {
    pq_token_t t = *peek(p);
    switch (t.type) {
      case PQT_LEFT_BRACKET:
        e = parse_bracket(p, e);
        break;
      case PQT_OFFSET:
        advance(p);
        parse_offset(p, e);
        break;
      case PQT_AT:
        advance(p);
        parse_at(p, e);
        break;
      case PQT_ANCHORED:
      case PQT_SMOOTHED:
        advance(p);
        fail_at(p, e->pos, "%s modifier is experimental and not enabled",
                t.type == PQT_ANCHORED ? "anchored" : "smoothed");
      default:
        return e;
    }
  }
}

/* --- Expressions ------------------------------------------------------------ */

static promql_node_t *parse_expr(parser_t *p, int min_prec);

/* "(" args ")" of a call or aggregation; the '(' is next. */
static void parse_call_args(parser_t *p, promql_node_t ***out, size_t *nout) {
  promql_node_t **args = NULL;
  size_t n = 0, cap = 0;
  advance(p); /* ( */
  if (peek(p)->type == PQT_RIGHT_PAREN) {
    advance(p);
  } else {
    for (;;) {
      promql_node_t *a = parse_expr(p, 0);
      grow(p, (void **)&args, &cap, n + 1, sizeof(*args));
      args[n++] = a;
      pq_token_t t = *peek(p);
      if (t.type == PQT_COMMA) {
        advance(p);
        if (peek(p)->type == PQT_RIGHT_PAREN) {
          fail(p, t.pos, t.pos + 1,
               "trailing commas not allowed in function call args");
        }
      } else if (t.type == PQT_RIGHT_PAREN) {
        advance(p);
        break;
      } else {
        unexpected_generic(p, &t);
      }
    }
  }
  *out = args;
  *nout = n;
}

static promql_node_t *parse_call(parser_t *p) {
  pq_token_t name = advance(p);
  promql_node_t *n = node(p, PROMQL_NODE_CALL, tok_pos(&name));
  parse_call_args(p, &n->u.call.args, &n->u.call.nargs);
  n->pos.end = p->last_end;
  for (size_t i = 0; i < n->u.call.nargs; i++) {
    set_height(p, n, n->u.call.args[i]->height);
  }
  const char *nm = p->in + name.pos;
  const promql_func_t *f = promql_func_lookup(nm, name.len);
  char qb[300];
  if (!f) {
    fail_at(p, tok_pos(&name), "unknown function with name %s",
            q(p, qb, sizeof(qb), nm, name.len));
  }
  if (f->experimental && !p->experimental) {
    fail_at(p, tok_pos(&name), "function %s is not enabled",
            q(p, qb, sizeof(qb), nm, name.len));
  }
  n->u.call.func = f;
  return n;
}

static promql_aggop_t agg_op_of(pq_tok_type_t t) {
  switch (t) {
    case PQT_SUM: return PROMQL_AGG_SUM;
    case PQT_AVG: return PROMQL_AGG_AVG;
    case PQT_COUNT: return PROMQL_AGG_COUNT;
    case PQT_MIN: return PROMQL_AGG_MIN;
    case PQT_MAX: return PROMQL_AGG_MAX;
    case PQT_GROUP: return PROMQL_AGG_GROUP;
    case PQT_STDDEV: return PROMQL_AGG_STDDEV;
    case PQT_STDVAR: return PROMQL_AGG_STDVAR;
    case PQT_TOPK: return PROMQL_AGG_TOPK;
    case PQT_BOTTOMK: return PROMQL_AGG_BOTTOMK;
    case PQT_QUANTILE: return PROMQL_AGG_QUANTILE;
    case PQT_COUNT_VALUES: return PROMQL_AGG_COUNT_VALUES;
    case PQT_LIMITK: return PROMQL_AGG_LIMITK;
    default: return PROMQL_AGG_LIMIT_RATIO;
  }
}

static promql_node_t *parse_aggregation(parser_t *p) {
  pq_token_t op = advance(p);
  promql_node_t *n = node(p, PROMQL_NODE_AGGREGATE, tok_pos(&op));
  n->u.agg.op = agg_op_of(op.type);
  bool have_mod = false;
  p->agg_depth++;
  pq_token_t t = *peek(p);
  if (t.type == PQT_BY || t.type == PQT_WITHOUT) {
    advance(p);
    n->u.agg.without = t.type == PQT_WITHOUT;
    parse_grouping(p, &n->u.agg.grouping, &n->u.agg.ngrouping);
    have_mod = true;
  }
  t = *peek(p);
  if (t.type != PQT_LEFT_PAREN) unexpected(p, &t, "aggregation", NULL);
  promql_node_t **args;
  size_t nargs;
  parse_call_args(p, &args, &nargs);
  p->agg_depth--;
  t = *peek(p);
  if (!have_mod && (t.type == PQT_BY || t.type == PQT_WITHOUT)) {
    advance(p);
    n->u.agg.without = t.type == PQT_WITHOUT;
    parse_grouping(p, &n->u.agg.grouping, &n->u.agg.ngrouping);
  }
  n->pos.end = p->last_end;
  if (nargs == 0) {
    fail_at(p, n->pos, "no arguments for aggregate expression provided");
  }
  size_t want = 1;
  if (promql_aggop_has_param(n->u.agg.op)) {
    if ((n->u.agg.op == PROMQL_AGG_LIMITK ||
         n->u.agg.op == PROMQL_AGG_LIMIT_RATIO) &&
        !p->experimental) {
      fail_at(p, n->pos,
              "%s() is experimental and must be enabled with "
              "--enable-feature=promql-experimental-functions",
              promql_aggop_str(n->u.agg.op));
    }
    want = 2;
    n->u.agg.param = args[0];
  }
  if (nargs != want) {
    fail_at(p, n->pos,
            "wrong number of arguments for aggregate expression provided, "
            "expected %zu, got %zu",
            want, nargs);
  }
  n->u.agg.expr = args[want - 1];
  for (size_t i = 0; i < nargs; i++) set_height(p, n, args[i]->height);
  return n;
}

/* A metric name (any token text) with optional {matchers}. */
static promql_node_t *parse_vector_selector(parser_t *p, bool named) {
  promql_node_t *n;
  if (named) {
    pq_token_t name = advance(p);
    n = node(p, PROMQL_NODE_VECTOR_SEL, tok_pos(&name));
    n->u.vs.name = dup(p, p->in + name.pos, name.len);
  } else {
    n = node(p, PROMQL_NODE_VECTOR_SEL, tok_pos(peek(p)));
  }
  bool braces = peek(p)->type == PQT_LEFT_BRACE;
  if (braces) advance(p);
  parse_label_matchers(p, n, braces);
  return n;
}

static bool is_metric_keyword(pq_tok_type_t t) {
  switch (t) {
    case PQT_BY: case PQT_WITHOUT: case PQT_LAND: case PQT_LOR:
    case PQT_LUNLESS: case PQT_OFFSET: case PQT_START: case PQT_END:
    case PQT_STEP: case PQT_RANGE: case PQT_ANCHORED: case PQT_SMOOTHED:
      return true;
    default:
      return pq_tok_is_aggregator(t);
  }
}

static promql_node_t *parse_primary(parser_t *p) {
  pq_token_t t = *peek(p);
  switch (t.type) {
    case PQT_NUMBER:
    case PQT_DURATION: {
      advance(p);
      promql_node_t *n = node(p, PROMQL_NODE_NUMBER, tok_pos(&t));
      n->u.number.val = literal_value(p, &t);
      n->u.number.duration = t.type == PQT_DURATION;
      return n;
    }
    case PQT_STRING: {
      advance(p);
      promql_node_t *n = node(p, PROMQL_NODE_STRING, tok_pos(&t));
      n->u.string.val = unquote(p, &t, &n->u.string.len);
      return n;
    }
    case PQT_LEFT_PAREN: {
      advance(p);
      promql_node_t *inner = parse_expr(p, 0);
      pq_token_t r = *peek(p);
      if (r.type != PQT_RIGHT_PAREN) unexpected_generic(p, &r);
      advance(p);
      promql_pos_t pos = {t.pos, r.pos + r.len};
      promql_node_t *n = node(p, PROMQL_NODE_PAREN, pos);
      n->u.paren.expr = inner;
      set_height(p, n, inner->height);
      return n;
    }
    case PQT_LEFT_BRACE:
      advance(p);
      {
        promql_node_t *n = node(p, PROMQL_NODE_VECTOR_SEL, tok_pos(&t));
        parse_label_matchers(p, n, true);
        return n;
      }
    case PQT_IDENTIFIER:
      if (peek2(p)->type == PQT_LEFT_PAREN) return parse_call(p);
      return parse_vector_selector(p, true);
    case PQT_METRIC_IDENTIFIER:
      return parse_vector_selector(p, true);
    default:
      break;
  }
  if (pq_tok_is_aggregator(t.type)) {
    pq_tok_type_t n2 = peek2(p)->type;
    if (n2 == PQT_LEFT_PAREN || n2 == PQT_BY || n2 == PQT_WITHOUT) {
      return parse_aggregation(p);
    }
  }
  if ((t.type == PQT_START || t.type == PQT_END || t.type == PQT_STEP ||
       t.type == PQT_RANGE) &&
      peek2(p)->type == PQT_LEFT_PAREN) {
    return parse_call(p);
  }
  if (is_metric_keyword(t.type)) return parse_vector_selector(p, true);
  unexpected_generic(p, &t);
}

static promql_node_t *parse_unary(parser_t *p) {
  pq_token_t t = *peek(p);
  if (t.type == PQT_ADD || t.type == PQT_SUB) {
    advance(p);
    promql_node_t *e = parse_expr(p, 6 /* only ^ binds tighter */);
    if (e->kind == PROMQL_NODE_NUMBER) {
      if (t.type == PQT_SUB) e->u.number.val = -e->u.number.val;
      e->pos.start = t.pos;
      return e;
    }
    promql_pos_t pos = {t.pos, e->pos.end};
    promql_node_t *n = node(p, PROMQL_NODE_UNARY, pos);
    n->u.unary.neg = t.type == PQT_SUB;
    n->u.unary.expr = e;
    set_height(p, n, e->height);
    return n;
  }
  return parse_postfix(p, parse_primary(p));
}

static bool binop_of(pq_tok_type_t t, promql_binop_t *op, int *prec) {
  switch (t) {
    case PQT_LOR: *op = PROMQL_OP_OR, *prec = 1; return true;
    case PQT_LAND: *op = PROMQL_OP_AND, *prec = 2; return true;
    case PQT_LUNLESS: *op = PROMQL_OP_UNLESS, *prec = 2; return true;
    case PQT_EQLC: *op = PROMQL_OP_EQLC, *prec = 3; return true;
    case PQT_NEQ: *op = PROMQL_OP_NEQ, *prec = 3; return true;
    case PQT_LTE: *op = PROMQL_OP_LTE, *prec = 3; return true;
    case PQT_LSS: *op = PROMQL_OP_LSS, *prec = 3; return true;
    case PQT_GTE: *op = PROMQL_OP_GTE, *prec = 3; return true;
    case PQT_GTR: *op = PROMQL_OP_GTR, *prec = 3; return true;
    case PQT_ADD: *op = PROMQL_OP_ADD, *prec = 4; return true;
    case PQT_SUB: *op = PROMQL_OP_SUB, *prec = 4; return true;
    case PQT_MUL: *op = PROMQL_OP_MUL, *prec = 5; return true;
    case PQT_DIV: *op = PROMQL_OP_DIV, *prec = 5; return true;
    case PQT_MOD: *op = PROMQL_OP_MOD, *prec = 5; return true;
    case PQT_ATAN2: *op = PROMQL_OP_ATAN2, *prec = 5; return true;
    case PQT_POW: *op = PROMQL_OP_POW, *prec = 6; return true;
    default: return false;
  }
}

/* bool, on/ignoring (...), group_left/group_right [(...)]. */
static void parse_bin_modifiers(parser_t *p, promql_node_t *n) {
  n->u.bin.has_matching = true;
  n->u.bin.card = PROMQL_CARD_ONE_TO_ONE;
  if (peek(p)->type == PQT_BOOL) {
    advance(p);
    n->u.bin.return_bool = true;
  }
  pq_tok_type_t t = peek(p)->type;
  if (t != PQT_ON && t != PQT_IGNORING) return;
  advance(p);
  n->u.bin.on = t == PQT_ON;
  parse_grouping(p, &n->u.bin.matching, &n->u.bin.nmatching);
  t = peek(p)->type;
  if (t != PQT_GROUP_LEFT && t != PQT_GROUP_RIGHT) return;
  advance(p);
  n->u.bin.card = t == PQT_GROUP_LEFT ? PROMQL_CARD_MANY_TO_ONE
                                      : PROMQL_CARD_ONE_TO_MANY;
  if (peek(p)->type == PQT_LEFT_PAREN) {
    parse_grouping(p, &n->u.bin.include, &n->u.bin.ninclude);
  }
}

static void enter(parser_t *p) {
  if (++p->nesting > MAX_NESTING) fail_limit(p, "query is too deeply nested");
}

static promql_node_t *parse_expr(parser_t *p, int min_prec) {
  enter(p);
  promql_node_t *lhs = parse_unary(p);
  for (;;) {
    promql_binop_t op;
    int prec;
    if (!binop_of(peek(p)->type, &op, &prec) || prec < min_prec) break;
    advance(p);
    promql_pos_t pos = {lhs->pos.start, 0};
    promql_node_t *n = node(p, PROMQL_NODE_BINARY, pos);
    n->u.bin.op = op;
    parse_bin_modifiers(p, n);
    promql_node_t *rhs = parse_expr(p, op == PROMQL_OP_POW ? prec : prec + 1);
    n->u.bin.lhs = lhs;
    n->u.bin.rhs = rhs;
    n->pos.end = rhs->pos.end;
    set_height(p, n, lhs->height);
    set_height(p, n, rhs->height);
    lhs = n;
  }
  p->nesting--;
  return lhs;
}

/* --- Type checks (Prometheus's checkAST) -------------------------------- */

static promql_vtype_t check(parser_t *p, promql_node_t *n);

static void expect_type(parser_t *p, promql_node_t *n, promql_vtype_t want,
                        const char *context) {
  promql_vtype_t t = check(p, n);
  if (t != want) {
    fail_at(p, n->pos, "expected type %s in %s, got %s", promql_vtype_doc(want),
            context, promql_vtype_doc(t));
  }
}

static bool is_space_c(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The operator's position in a binary expression (whitespace trimmed). */
static promql_pos_t op_range(parser_t *p, const promql_node_t *n) {
  promql_pos_t r;
  r.start = n->u.bin.lhs->pos.end;
  while (r.start < p->len && is_space_c(p->in[r.start])) r.start++;
  r.end = n->u.bin.rhs->pos.start;
  while (r.end > r.start && is_space_c(p->in[r.end - 1])) r.end--;
  return r;
}

static promql_vtype_t check(parser_t *p, promql_node_t *n) {
  promql_vtype_t typ = promql_node_type(n);
  switch (n->kind) {
    case PROMQL_NODE_AGGREGATE:
      expect_type(p, n->u.agg.expr, PROMQL_VT_VECTOR, "aggregation expression");
      if (n->u.agg.param) {
        expect_type(p, n->u.agg.param,
                    n->u.agg.op == PROMQL_AGG_COUNT_VALUES ? PROMQL_VT_STRING
                                                          : PROMQL_VT_SCALAR,
                    "aggregation parameter");
      }
      break;
    case PROMQL_NODE_BINARY: {
      promql_vtype_t lt = check(p, n->u.bin.lhs);
      promql_vtype_t rt = check(p, n->u.bin.rhs);
      promql_binop_t op = n->u.bin.op;
      bool cmp = promql_binop_is_comparison(op);
      bool set = promql_binop_is_set(op);
      if (n->u.bin.return_bool && !cmp) {
        fail_at(p, op_range(p, n),
                "bool modifier can only be used on comparison operators");
      }
      if (cmp && !n->u.bin.return_bool && lt == PROMQL_VT_SCALAR &&
          rt == PROMQL_VT_SCALAR) {
        fail_at(p, op_range(p, n),
                "comparisons between scalars must use BOOL modifier");
      }
      if (set && n->u.bin.card == PROMQL_CARD_ONE_TO_ONE) {
        n->u.bin.card = PROMQL_CARD_MANY_TO_MANY;
      }
      if (n->u.bin.on) {
        for (size_t i = 0; i < n->u.bin.nmatching; i++) {
          for (size_t j = 0; j < n->u.bin.ninclude; j++) {
            if (strcmp(n->u.bin.matching[i], n->u.bin.include[j]) == 0) {
              char qb[300];
              const char *l = n->u.bin.matching[i];
              fail_at(p, op_range(p, n),
                      "label %s must not occur in ON and GROUP clause at once",
                      q(p, qb, sizeof(qb), l, strlen(l)));
            }
          }
        }
      }
      if (lt != PROMQL_VT_SCALAR && lt != PROMQL_VT_VECTOR) {
        fail_at(p, n->u.bin.lhs->pos,
                "binary expression must contain only scalar and instant "
                "vector types");
      }
      if (rt != PROMQL_VT_SCALAR && rt != PROMQL_VT_VECTOR) {
        fail_at(p, n->u.bin.rhs->pos,
                "binary expression must contain only scalar and instant "
                "vector types");
      }
      if (lt != PROMQL_VT_VECTOR || rt != PROMQL_VT_VECTOR) {
        if (n->u.bin.nmatching > 0) {
          fail_at(p, n->pos,
                  "vector matching only allowed between instant vectors");
        }
        n->u.bin.has_matching = false;
      } else if (set) {
        if (n->u.bin.card == PROMQL_CARD_ONE_TO_MANY ||
            n->u.bin.card == PROMQL_CARD_MANY_TO_ONE) {
          fail_at(p, n->pos, "no grouping allowed for \"%s\" operation",
                  promql_binop_str(op));
        }
      }
      if ((lt == PROMQL_VT_SCALAR || rt == PROMQL_VT_SCALAR) && set) {
        fail_at(p, n->pos,
                "set operator \"%s\" not allowed in binary scalar expression",
                promql_binop_str(op));
      }
      break;
    }
    case PROMQL_NODE_CALL: {
      const promql_func_t *f = n->u.call.func;
      size_t nargs = n->u.call.nargs, decl = (size_t)f->nargs;
      if (f->variadic == 0) {
        if (decl != nargs) {
          fail_at(p, n->pos, "expected %zu argument(s) in call to \"%s\", got %zu",
                  decl, f->name, nargs);
        }
      } else {
        size_t na = decl - 1;
        if (na > nargs) {
          fail_at(p, n->pos,
                  "expected at least %zu argument(s) in call to \"%s\", got %zu",
                  na, f->name, nargs);
        }
        if (f->variadic > 0 && na + (size_t)f->variadic < nargs) {
          fail_at(p, n->pos,
                  "expected at most %zu argument(s) in call to \"%s\", got %zu",
                  na + (size_t)f->variadic, f->name, nargs);
        }
      }
      for (size_t i = 0; i < nargs; i++) {
        size_t ai = i;
        if (i >= decl) {
          if (f->variadic == 0) break;
          ai = decl - 1;
        }
        promql_vtype_t t = check(p, n->u.call.args[i]);
        if (t != f->args[ai]) {
          fail_at(p, n->u.call.args[i]->pos,
                  "expected type %s in call to function \"%s\", got %s",
                  promql_vtype_doc(f->args[ai]), f->name, promql_vtype_doc(t));
        }
      }
      break;
    }
    case PROMQL_NODE_PAREN:
      check(p, n->u.paren.expr);
      break;
    case PROMQL_NODE_UNARY: {
      promql_vtype_t t = check(p, n->u.unary.expr);
      if (t != PROMQL_VT_SCALAR && t != PROMQL_VT_VECTOR) {
        fail_at(p, n->pos,
                "unary expression only allowed on expressions of type scalar "
                "or instant vector, got \"%s\"",
                promql_vtype_doc(t));
      }
      break;
    }
    case PROMQL_NODE_SUBQUERY: {
      promql_vtype_t t = check(p, n->u.sq.expr);
      if (t != PROMQL_VT_VECTOR) {
        fail_at(p, n->pos,
                "subquery is only allowed on instant vector, got %s instead",
                promql_vtype_name(t));
      }
      break;
    }
    case PROMQL_NODE_MATRIX_SEL:
      check(p, n->u.ms.vs);
      break;
    case PROMQL_NODE_VECTOR_SEL: {
      size_t nm = n->u.vs.nmatchers;
      if (n->u.vs.name) {
        for (size_t i = 0; i + 1 < nm; i++) {
          if (strcmp(n->u.vs.matchers[i].name, "__name__") == 0) {
            char qa[300], qv[300];
            const char *nmv = n->u.vs.name;
            fail_at(p, n->pos, "metric name must not be set twice: %s or %s",
                    q(p, qa, sizeof(qa), nmv, strlen(nmv)),
                    q(p, qv, sizeof(qv), n->u.vs.matchers[i].value,
                      n->u.vs.matchers[i].value_len));
          }
        }
        break;
      }
      bool nonempty = false;
      for (size_t i = 0; i < nm; i++) {
        if (!n->u.vs.matchers[i].matches_empty) nonempty = true;
      }
      if (!nonempty) {
        fail_at(p, n->pos,
                "vector selector must contain at least one non-empty matcher");
      }
      break;
    }
    default:
      break;
  }
  return typ;
}

/* --- Entry points ---------------------------------------------------------- */

static void fill_error(const parser_t *p, promql_error_t *err) {
  if (!err) return;
  memset(err, 0, sizeof(*err));
  err->code = p->code ? p->code : PH_EPARSE;
  err->start = p->err_start;
  err->end = p->err_end;
  char where[64];
  if (p->len == 0) {
    snprintf(where, sizeof(where), "unknown position");
  } else if (p->err_start > p->len) {
    snprintf(where, sizeof(where), "invalid position");
  } else {
    int line = 1;
    long last_nl = -1;
    for (size_t i = 0; i < p->err_start; i++) {
      if (p->in[i] == '\n') {
        line++;
        last_nl = (long)i;
      }
    }
    err->line = line;
    err->col = (int)((long)p->err_start - last_nl);
    snprintf(where, sizeof(where), "%d:%d", err->line, err->col);
  }
  int k = snprintf(err->msg, sizeof(err->msg), "%s: parse error: ", where);
  if (k < 0) k = 0;
  if ((size_t)k >= sizeof(err->msg)) k = (int)sizeof(err->msg) - 1;
  err->detail_off = (size_t)k;
  snprintf(err->msg + k, sizeof(err->msg) - (size_t)k, "%s", p->msg);
}

/* The part that may longjmp; returns the root. */
static promql_node_t *parse_all(parser_t *p) {
  pq_token_t t = *peek(p);
  if (t.type == PQT_EOF) fail(p, 0, 0, "no expression found in input");
  promql_node_t *root = parse_expr(p, 0);
  t = *peek(p);
  if (t.type != PQT_EOF) unexpected_generic(p, &t);
  check(p, root);
  return root;
}

promql_expr_t *promql_parse_ex(const char *text, size_t len,
                               const promql_parse_opts_t *opts,
                               promql_error_t *err) {
  parser_t *p = ph_calloc(1, sizeof(*p));
  if (len > UINT32_MAX / 2) {
    p->len = len;
    p->code = PH_ELIMIT;
    snprintf(p->msg, sizeof(p->msg), "query too large");
    fill_error(p, err);
    free(p);
    return NULL;
  }
  p->in = text;
  p->len = len;
  p->experimental = opts && opts->experimental_functions;
  p->arena = arena_new(PARSE_BUDGET);
  pq_lexer_init(&p->lx, text, len);
  promql_expr_t *e = NULL;
  if (setjmp(p->jb) == 0) {
    promql_node_t *root = parse_all(p);
    e = ph_calloc(1, sizeof(*e));
    e->arena = p->arena;
    e->root = root;
  } else {
    fill_error(p, err);
    arena_free(p->arena);
  }
  free(p);
  return e;
}

promql_expr_t *promql_parse(const char *text, size_t len,
                            promql_error_t *err) {
  return promql_parse_ex(text, len, NULL, err);
}

void promql_expr_free(promql_expr_t *e) {
  if (!e) return;
  arena_free(e->arena);
  free(e);
}

const promql_node_t *promql_expr_root(const promql_expr_t *e) {
  return e->root;
}

const char *promql_expr_type_name(const promql_expr_t *e) {
  return promql_vtype_name(promql_node_type(e->root));
}
