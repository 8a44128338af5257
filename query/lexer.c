/*
 * lexer.c - the PromQL tokenizer.
 *
 * A state machine that follows Prometheus's lexer closely, because which
 * token (or which error) a malformed query produces is part of the error
 * text users see.  States:
 *
 *   STATEMENTS   the top level: operators, numbers/durations, strings,
 *                identifiers and keywords, ( ) { [ ] @ , and comments;
 *                inside [ ] after the first duration also ':' and the
 *                duration keywords step/range/min/max
 *   BRACES       between { and }: identifiers (keywords are not keywords
 *                there), strings, = != =~ !~ and commas
 *   DURATION     right after '[': numbers, durations, + - * / % ^ ( ) ,
 *
 * The lexer tracks ( ) nesting and open { [ so that it reports "unclosed
 * left parenthesis", "unexpected right bracket ']'" and the like itself.
 * Numbers: decimal, hex 0x.., exponents, leading/trailing dots, digit
 * underscores, Inf/NaN in any case (via the keyword table); a digit run
 * followed by unit letters (s m h d w y ms) is a DURATION token.  Strings
 * are '...' "..." with Go escapes (validated here, decoded by the parser)
 * or `...` raw.  After an error token the lexer only returns EOF.
 */
#include "lexer.h"

#include "ast.h"

#include <stdarg.h>

#include <stdio.h>
#include <string.h>

enum { ST_STATEMENTS, ST_BRACES, ST_DURATION };

#define PQ_EOF (-1)
#define PQ_RUNE_ERROR 0xFFFD

typedef struct {
  const char *word;
  pq_tok_type_t type;
} keyword_t;

static const keyword_t keywords[] = {
    {"and", PQT_LAND},           {"or", PQT_LOR},
    {"unless", PQT_LUNLESS},     {"atan2", PQT_ATAN2},
    {"sum", PQT_SUM},            {"avg", PQT_AVG},
    {"count", PQT_COUNT},        {"min", PQT_MIN},
    {"max", PQT_MAX},            {"group", PQT_GROUP},
    {"stddev", PQT_STDDEV},      {"stdvar", PQT_STDVAR},
    {"topk", PQT_TOPK},          {"bottomk", PQT_BOTTOMK},
    {"count_values", PQT_COUNT_VALUES},
    {"quantile", PQT_QUANTILE},  {"limitk", PQT_LIMITK},
    {"limit_ratio", PQT_LIMIT_RATIO},
    {"offset", PQT_OFFSET},      {"smoothed", PQT_SMOOTHED},
    {"anchored", PQT_ANCHORED},  {"by", PQT_BY},
    {"without", PQT_WITHOUT},    {"on", PQT_ON},
    {"ignoring", PQT_IGNORING},  {"group_left", PQT_GROUP_LEFT},
    {"group_right", PQT_GROUP_RIGHT},
    {"fill", PQT_FILL},          {"fill_left", PQT_FILL_LEFT},
    {"fill_right", PQT_FILL_RIGHT},
    {"bool", PQT_BOOL},          {"start", PQT_START},
    {"end", PQT_END},            {"step", PQT_STEP},
    {"range", PQT_RANGE},        {"inf", PQT_NUMBER},
    {"nan", PQT_NUMBER},
};

bool pq_tok_is_aggregator(pq_tok_type_t t) {
  return t > PQT_AGGS_START && t < PQT_AGGS_END;
}
bool pq_tok_is_keyword(pq_tok_type_t t) {
  return t > PQT_KEYWORDS_START && t < PQT_KEYWORDS_END;
}
bool pq_tok_is_operator(pq_tok_type_t t) {
  return t > PQT_OPS_START && t < PQT_OPS_END;
}

/* Case-insensitive keyword lookup; -1 when word is not a keyword. */
static int keyword_lookup(const char *w, size_t n) {
  for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++) {
    const char *k = keywords[i].word;
    if (strlen(k) != n) continue;
    size_t j = 0;
    for (; j < n; j++) {
      char c = w[j];
      if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
      if (c != k[j]) break;
    }
    if (j == n) return (int)keywords[i].type;
  }
  return -1;
}

/* Decodes one UTF-8 rune as Go does: invalid input gives U+FFFD, width 1. */
static int32_t decode_rune(const unsigned char *s, size_t n, size_t *w) {
  if (n == 0) {
    *w = 0;
    return PQ_EOF;
  }
  unsigned c = s[0];
  if (c < 0x80) {
    *w = 1;
    return (int32_t)c;
  }
  size_t need;
  int32_t r, min;
  if (c >= 0xC2 && c <= 0xDF) {
    need = 2, r = c & 0x1F, min = 0x80;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 3, r = c & 0x0F, min = 0x800;
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 4, r = c & 0x07, min = 0x10000;
  } else {
    *w = 1;
    return PQ_RUNE_ERROR;
  }
  if (n < need) {
    *w = 1;
    return PQ_RUNE_ERROR;
  }
  for (size_t i = 1; i < need; i++) {
    if ((s[i] & 0xC0) != 0x80) {
      *w = 1;
      return PQ_RUNE_ERROR;
    }
    r = (r << 6) | (s[i] & 0x3F);
  }
  if (r < min || r > 0x10FFFF || (r >= 0xD800 && r < 0xE000)) {
    *w = 1;
    return PQ_RUNE_ERROR;
  }
  *w = need;
  return r;
}

/* --- Go-like scanner primitives --------------------------------------- */

typedef struct {
  pq_lexer_t *l;
  pq_token_t *t;
  size_t width;
  bool emitted;
} scan_t;

static int32_t next(scan_t *s) {
  pq_lexer_t *l = s->l;
  if (l->pos >= l->len) {
    s->width = 0;
    return PQ_EOF;
  }
  size_t w;
  int32_t r = decode_rune((const unsigned char *)l->in + l->pos,
                          l->len - l->pos, &w);
  s->width = w;
  l->pos += w;
  return r;
}

static void backup(scan_t *s) { s->l->pos -= s->width; }

static int32_t peek(scan_t *s) {
  int32_t r = next(s);
  backup(s);
  return r;
}

static bool in_set(int32_t r, const char *set) {
  return r >= 0 && r < 0x80 && r != 0 && strchr(set, (int)r) != NULL;
}

static bool accept(scan_t *s, const char *set) {
  if (in_set(next(s), set)) return true;
  backup(s);
  return false;
}

static bool is(scan_t *s, const char *set) { return in_set(peek(s), set); }

static void accept_run(scan_t *s, const char *set) {
  while (in_set(next(s), set)) {
  }
  backup(s);
}

static void emit(scan_t *s, pq_tok_type_t type) {
  pq_lexer_t *l = s->l;
  s->t->type = type;
  s->t->pos = (uint32_t)l->start;
  s->t->len = (uint32_t)(l->pos - l->start);
  s->t->err = NULL;
  l->start = l->pos;
  s->emitted = true;
}

static void ignore(scan_t *s) { s->l->start = s->l->pos; }

/* Appends Go's %q of a rune (strconv.QuoteRune) to dst (NUL-terminated). */
static void quote_rune_c(char *dst, size_t cap, int32_t r) {
  strbuf_t b = STRBUF_INIT;
  promql__quote_rune(&b, r);
  snprintf(dst, cap, "%s", strbuf_cstr(&b));
  strbuf_free(&b);
}

static void errorf(scan_t *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void errorf(scan_t *s, const char *fmt, ...) {
  pq_lexer_t *l = s->l;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(l->errbuf, sizeof(l->errbuf), fmt, ap);
  va_end(ap);
  s->t->type = PQT_ERROR;
  s->t->pos = (uint32_t)l->start;
  s->t->len = (uint32_t)(l->len - l->start);
  s->t->err = l->errbuf;
  s->emitted = true;
  l->done = true;
}

/* errorf with one rune formatted as Go's %q into the "%s" of fmt. */
static void errorf_rune(scan_t *s, const char *fmt, int32_t r) {
  char q[32];
  quote_rune_c(q, sizeof(q), r);
  errorf(s, fmt, q);
}

static bool is_space(int32_t r) {
  return r == ' ' || r == '\t' || r == '\n' || r == '\r';
}
static bool is_digit(int32_t r) { return r >= '0' && r <= '9'; }
static bool is_alpha(int32_t r) {
  return r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z');
}
static bool is_alnum(int32_t r) { return is_alpha(r) || is_digit(r); }

/* --- Numbers and durations -------------------------------------------- */

static bool scan_number(scan_t *s) {
  pq_lexer_t *l = s->l;
  size_t initial = l->pos;
  const char *digits = "0123456789";
  bool hex = false;
  if (accept(s, "0") && accept(s, "xX")) {
    accept(s, "_");
    digits = "0123456789abcdefABCDEF";
    hex = true;
  }
  char loopset[40];
  snprintf(loopset, sizeof(loopset), "%s._eE", digits);
  accept(s, ".");
  accept(s, digits);
  bool dot = false, exp = false;
  while (is(s, loopset)) {
    if (is(s, ".") && dot) {
      accept(s, ".");
      return false;
    }
    if (is(s, "eE") && exp) {
      accept(s, "eE");
      return false;
    }
    if (accept(s, ".")) {
      dot = true;
      if (accept(s, "_.")) return false;
      if (hex) return false;
      continue;
    }
    if (accept(s, "eE")) {
      exp = true;
      accept(s, "+-");
      if (accept(s, "._eE") || peek(s) == PQ_EOF) return false;
      continue;
    }
    if (accept(s, "_")) {
      if (accept(s, "._eE") || peek(s) == PQ_EOF) return false;
      continue;
    }
    accept_run(s, digits);
  }
  if (l->pos == initial) return false;
  return !is_alnum(peek(s));
}

static bool accept_remaining_duration(scan_t *s) {
  if (!accept(s, "smhdwy")) return false;
  accept(s, "s");
  while (accept(s, "0123456789")) {
    while (accept(s, "0123456789")) {
    }
    if (!accept(s, "smhdw")) return false;
    accept(s, "s");
  }
  return !is_alnum(next(s));
}

static int lex_number_or_duration(scan_t *s) {
  pq_lexer_t *l = s->l;
  if (scan_number(s)) {
    emit(s, PQT_NUMBER);
    return ST_STATEMENTS;
  }
  if (accept_remaining_duration(s)) {
    backup(s);
    emit(s, PQT_DURATION);
    return ST_STATEMENTS;
  }
  char q[160];
  strbuf_t b = STRBUF_INIT;
  promql__quote(&b, l->in + l->start, l->pos - l->start);
  snprintf(q, sizeof(q), "%s", strbuf_cstr(&b));
  strbuf_free(&b);
  errorf(s, "bad number or duration syntax: %s", q);
  return ST_STATEMENTS;
}

/* step / range / min / max inside brackets. */
static bool scan_duration_keyword(scan_t *s) {
  pq_lexer_t *l = s->l;
  for (;;) {
    int32_t r = next(s);
    if (is_alpha(r)) continue;
    backup(s);
    int kw = keyword_lookup(l->in + l->start, l->pos - l->start);
    if (kw == PQT_STEP || kw == PQT_RANGE || kw == PQT_MIN || kw == PQT_MAX) {
      emit(s, (pq_tok_type_t)kw);
      return true;
    }
    return false;
  }
}

/* --- Strings ------------------------------------------------------------ */

static int digit_val(int32_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return 16;
}

/* Go's %#U: "U+0063 'c'" for printable runes, "U+000A" otherwise. */
static void fmt_sharp_u(char *dst, size_t cap, int32_t r) {
  if (r >= 0x20 && r != 0x7f && r != PQ_RUNE_ERROR && r < 0x110000) {
    char q[32];
    quote_rune_c(q, sizeof(q), r);
    snprintf(dst, cap, "U+%04X %s", (unsigned)r, q);
  } else {
    snprintf(dst, cap, "U+%04X", (unsigned)(r < 0 ? 0xFFFD : r));
  }
}

/* Validates the escape after a backslash; false after reporting an error. */
static bool lex_escape(scan_t *s) {
  int n;
  uint32_t base, max;
  int32_t ch = next(s);
  switch (ch) {
    case 'a': case 'b': case 'f': case 'n': case 'r': case 't': case 'v':
    case '\\':
      return true;
    case '0': case '1': case '2': case '3': case '4': case '5': case '6':
    case '7':
      n = 3, base = 8, max = 255;
      break;
    case 'x':
      ch = next(s);
      n = 2, base = 16, max = 255;
      break;
    case 'u':
      ch = next(s);
      n = 4, base = 16, max = 0x10FFFF;
      break;
    case 'U':
      ch = next(s);
      n = 8, base = 16, max = 0x10FFFF;
      break;
    case PQ_EOF:
      errorf(s, "escape sequence not terminated");
      return false;
    default:
      if (ch == (int32_t)(unsigned char)s->l->quote) return true;
      {
        char u[48];
        fmt_sharp_u(u, sizeof(u), ch);
        errorf(s, "unknown escape sequence %s", u);
      }
      return false;
  }
  uint32_t x = 0;
  while (n > 0) {
    uint32_t d = (uint32_t)digit_val(ch);
    if (d >= base) {
      if (ch == PQ_EOF) {
        errorf(s, "escape sequence not terminated");
        return false;
      }
      char u[48];
      fmt_sharp_u(u, sizeof(u), ch);
      errorf(s, "illegal character %s in escape sequence", u);
      return false;
    }
    x = x * base + d;
    n--;
    if (n > 0) ch = next(s);
  }
  if (x > max || (x >= 0xD800 && x < 0xE000)) {
    errorf(s, "escape sequence is an invalid Unicode code point");
    return false;
  }
  return true;
}

static void lex_string(scan_t *s) {
  for (;;) {
    int32_t r = next(s);
    if (r == '\\') {
      if (!lex_escape(s)) return;
      continue;
    }
    if (r == PQ_RUNE_ERROR) {
      errorf(s, "invalid UTF-8 rune");
      return;
    }
    if (r == PQ_EOF || r == '\n') {
      errorf(s, "unterminated quoted string");
      return;
    }
    if (r == (int32_t)(unsigned char)s->l->quote) break;
  }
  emit(s, PQT_STRING);
}

static void lex_raw_string(scan_t *s) {
  for (;;) {
    int32_t r = next(s);
    if (r == PQ_RUNE_ERROR) {
      errorf(s, "invalid UTF-8 rune");
      return;
    }
    if (r == PQ_EOF) {
      errorf(s, "unterminated raw string");
      return;
    }
    if (r == '`') break;
  }
  emit(s, PQT_STRING);
}

/* --- States ------------------------------------------------------------- */

static void lex_comment(scan_t *s) {
  pq_lexer_t *l = s->l;
  l->pos++; /* '#' */
  for (;;) {
    int32_t r = next(s);
    if (r == '\r' || r == '\n' || r == PQ_EOF) break;
  }
  backup(s);
  emit(s, PQT_COMMENT);
}

static void lex_space(scan_t *s) {
  while (is_space(peek(s))) next(s);
  ignore(s);
}

static void lex_identifier(scan_t *s) {
  while (is_alnum(next(s))) {
  }
  backup(s);
  emit(s, PQT_IDENTIFIER);
}

static bool followed_by_left_paren(pq_lexer_t *l) {
  for (size_t p = l->pos; p < l->len; p++) {
    char c = l->in[p];
    if (!(c == ' ' || c == '\t' || c == '\n' || c == '\r')) return c == '(';
  }
  return false;
}

static void lex_keyword_or_identifier(scan_t *s) {
  pq_lexer_t *l = s->l;
  for (;;) {
    int32_t r = next(s);
    if (is_alnum(r) || r == ':') continue;
    backup(s);
    break;
  }
  const char *w = l->in + l->start;
  size_t n = l->pos - l->start;
  int kw = keyword_lookup(w, n);
  if (kw >= 0) {
    if ((kw == PQT_FILL || kw == PQT_FILL_LEFT || kw == PQT_FILL_RIGHT) &&
        !followed_by_left_paren(l)) {
      emit(s, PQT_IDENTIFIER);
    } else {
      emit(s, (pq_tok_type_t)kw);
    }
  } else if (memchr(w, ':', n) == NULL) {
    emit(s, PQT_IDENTIFIER);
  } else {
    emit(s, PQT_METRIC_IDENTIFIER);
  }
}

static int lex_inside_braces(scan_t *s) {
  pq_lexer_t *l = s->l;
  if (l->pos < l->len && l->in[l->pos] == '#') {
    lex_comment(s);
    return ST_BRACES;
  }
  int32_t r = next(s);
  if (r == PQ_EOF) {
    errorf(s, "unexpected end of input inside braces");
  } else if (is_space(r)) {
    lex_space(s);
  } else if (is_alpha(r)) {
    backup(s);
    lex_identifier(s);
  } else if (r == ',') {
    emit(s, PQT_COMMA);
  } else if (r == '"' || r == '\'') {
    l->quote = (char)r;
    lex_string(s);
  } else if (r == '`') {
    l->quote = '`';
    lex_raw_string(s);
  } else if (r == '=') {
    if (next(s) == '~') {
      emit(s, PQT_EQL_REGEX);
    } else {
      backup(s);
      emit(s, PQT_EQL);
    }
  } else if (r == '!') {
    int32_t nr = next(s);
    if (nr == '~') {
      emit(s, PQT_NEQ_REGEX);
    } else if (nr == '=') {
      emit(s, PQT_NEQ);
    } else {
      errorf_rune(s, "unexpected character after '!' inside braces: %s", nr);
    }
  } else if (r == '{') {
    errorf(s, "unexpected left brace '{'");
  } else if (r == '}') {
    emit(s, PQT_RIGHT_BRACE);
    l->brace_open = false;
    return ST_STATEMENTS;
  } else {
    errorf_rune(s, "unexpected character inside braces: %s", r);
  }
  return ST_BRACES;
}

static int lex_duration_expr(scan_t *s) {
  pq_lexer_t *l = s->l;
  int32_t r = next(s);
  switch (r) {
    case PQ_EOF:
      errorf(s, "unexpected end of input in duration expression");
      return ST_DURATION;
    case ']':
      emit(s, PQT_RIGHT_BRACKET);
      l->bracket_open = false;
      l->got_colon = false;
      return ST_STATEMENTS;
    case ':':
      emit(s, PQT_COLON);
      if (!l->got_duration) {
        errorf(s, "unexpected colon before duration in duration expression");
      } else if (l->got_colon) {
        errorf(s, "unexpected repeated colon in duration expression");
      }
      l->got_colon = true;
      return ST_DURATION;
    case '(':
      emit(s, PQT_LEFT_PAREN);
      l->paren_depth++;
      return ST_DURATION;
    case ')':
      emit(s, PQT_RIGHT_PAREN);
      l->paren_depth--;
      if (l->paren_depth < 0) errorf(s, "unexpected right parenthesis ')'");
      return ST_DURATION;
    case '+': emit(s, PQT_ADD); return ST_DURATION;
    case '-': emit(s, PQT_SUB); return ST_DURATION;
    case '*': emit(s, PQT_MUL); return ST_DURATION;
    case '/': emit(s, PQT_DIV); return ST_DURATION;
    case '%': emit(s, PQT_MOD); return ST_DURATION;
    case '^': emit(s, PQT_POW); return ST_DURATION;
    case ',': emit(s, PQT_COMMA); return ST_DURATION;
    case 's': case 'S': case 'm': case 'M': case 'r': case 'R':
      if (!scan_duration_keyword(s)) {
        errorf_rune(s, "unexpected character in duration expression: %s", r);
      }
      return ST_DURATION;
    default:
      break;
  }
  if (is_space(r)) {
    lex_space(s);
    return ST_DURATION;
  }
  if (is_digit(r) || (r == '.' && is_digit(peek(s)))) {
    backup(s);
    l->got_duration = true;
    return lex_number_or_duration(s);
  }
  errorf_rune(s, "unexpected character in duration expression: %s", r);
  return ST_DURATION;
}

static int lex_statements(scan_t *s) {
  pq_lexer_t *l = s->l;
  if (l->brace_open) return lex_inside_braces(s);
  if (l->pos < l->len && l->in[l->pos] == '#') {
    lex_comment(s);
    return ST_STATEMENTS;
  }
  int32_t r = next(s);
  if (r == PQ_EOF) {
    if (l->paren_depth != 0) {
      errorf(s, "unclosed left parenthesis");
    } else if (l->bracket_open) {
      errorf(s, "unclosed left bracket");
    } else {
      emit(s, PQT_EOF);
      l->done = true;
    }
    return ST_STATEMENTS;
  }
  if (is_space(r)) {
    lex_space(s);
    return ST_STATEMENTS;
  }
  switch (r) {
    case ',': emit(s, PQT_COMMA); return ST_STATEMENTS;
    case '*': emit(s, PQT_MUL); return ST_STATEMENTS;
    case '/': emit(s, PQT_DIV); return ST_STATEMENTS;
    case '%': emit(s, PQT_MOD); return ST_STATEMENTS;
    case '+': emit(s, PQT_ADD); return ST_STATEMENTS;
    case '-': emit(s, PQT_SUB); return ST_STATEMENTS;
    case '^': emit(s, PQT_POW); return ST_STATEMENTS;
    case '@': emit(s, PQT_AT); return ST_STATEMENTS;
    case '=': {
      int32_t t = peek(s);
      if (t == '=') {
        next(s);
        emit(s, PQT_EQLC);
      } else if (t == '~') {
        errorf_rune(s, "unexpected character after '=': %s", t);
      } else {
        emit(s, PQT_EQL);
      }
      return ST_STATEMENTS;
    }
    case '!': {
      int32_t t = next(s);
      if (t != '=') {
        errorf_rune(s, "unexpected character after '!': %s", t);
      } else {
        emit(s, PQT_NEQ);
      }
      return ST_STATEMENTS;
    }
    case '<':
      if (peek(s) == '=') {
        next(s);
        emit(s, PQT_LTE);
      } else {
        emit(s, PQT_LSS);
      }
      return ST_STATEMENTS;
    case '>':
      if (peek(s) == '=') {
        next(s);
        emit(s, PQT_GTE);
      } else {
        emit(s, PQT_GTR);
      }
      return ST_STATEMENTS;
    case '"':
    case '\'':
      l->quote = (char)r;
      lex_string(s);
      return ST_STATEMENTS;
    case '`':
      l->quote = '`';
      lex_raw_string(s);
      return ST_STATEMENTS;
    case '(':
      emit(s, PQT_LEFT_PAREN);
      l->paren_depth++;
      return ST_STATEMENTS;
    case ')':
      emit(s, PQT_RIGHT_PAREN);
      l->paren_depth--;
      if (l->paren_depth < 0) errorf(s, "unexpected right parenthesis ')'");
      return ST_STATEMENTS;
    case '{':
      emit(s, PQT_LEFT_BRACE);
      l->brace_open = true;
      return ST_BRACES;
    case '[':
      if (l->bracket_open) {
        errorf(s, "unexpected left bracket '['");
        return ST_STATEMENTS;
      }
      l->got_colon = false;
      emit(s, PQT_LEFT_BRACKET);
      lex_space(s);
      l->bracket_open = true;
      return ST_DURATION;
    case ']':
      if (!l->bracket_open) {
        errorf(s, "unexpected right bracket ']'");
        return ST_STATEMENTS;
      }
      emit(s, PQT_RIGHT_BRACKET);
      l->bracket_open = false;
      return ST_STATEMENTS;
    default:
      break;
  }
  if (is_digit(r) || (r == '.' && is_digit(peek(s)))) {
    backup(s);
    return lex_number_or_duration(s);
  }
  if (is_alpha(r) || r == ':') {
    if (!l->bracket_open) {
      backup(s);
      lex_keyword_or_identifier(s);
      return ST_STATEMENTS;
    }
    if (r == ':') {
      if (l->got_colon) {
        errorf(s, "unexpected colon ':'");
        return ST_STATEMENTS;
      }
      if (peek(s) == ':') {
        next(s);
        emit(s, PQT_DOUBLE_COLON);
      } else {
        emit(s, PQT_COLON);
      }
      l->got_colon = true;
      return ST_STATEMENTS;
    }
    if ((r == 's' || r == 'S' || r == 'm' || r == 'M') &&
        scan_duration_keyword(s)) {
      return ST_STATEMENTS;
    }
    char q[32];
    quote_rune_c(q, sizeof(q), r);
    errorf(s, "unexpected character: %s, expected ':'", q);
    return ST_STATEMENTS;
  }
  errorf_rune(s, "unexpected character: %s", r);
  return ST_STATEMENTS;
}

void pq_lexer_init(pq_lexer_t *l, const char *in, size_t len) {
  memset(l, 0, sizeof(*l));
  l->in = in;
  l->len = len;
  l->state = ST_STATEMENTS;
}

void pq_lexer_next(pq_lexer_t *l, pq_token_t *t) {
  if (l->done) {
    t->type = PQT_EOF;
    t->pos = (uint32_t)l->len;
    t->len = 0;
    t->err = NULL;
    return;
  }
  scan_t s = {l, t, 0, false};
  while (!s.emitted) {
    switch (l->state) {
      case ST_BRACES:
        l->state = lex_inside_braces(&s);
        break;
      case ST_DURATION:
        l->state = lex_duration_expr(&s);
        break;
      default:
        l->state = lex_statements(&s);
        break;
    }
  }
}

/* --- Token descriptions ---------------------------------------------- */

/* Go's %q, or %.10q... for long values (precision counts runes). */
static void quote_short(strbuf_t *b, const char *s, size_t n) {
  size_t runes = 0, i = 0;
  while (i < n && runes < 10) {
    size_t w;
    decode_rune((const unsigned char *)s + i, n - i, &w);
    i += w;
    runes++;
  }
  if (i < n) {
    promql__quote(b, s, i);
    strbuf_puts(b, "...");
  } else {
    promql__quote(b, s, n);
  }
}

void pq_token_desc(strbuf_t *b, const char *in, const pq_token_t *t) {
  const char *v = in + t->pos;
  size_t n = t->len;
  switch (t->type) {
    case PQT_EOF:
      strbuf_puts(b, "end of input");
      return;
    case PQT_ERROR:
      strbuf_puts(b, t->err ? t->err : "error");
      return;
    case PQT_IDENTIFIER:
      strbuf_puts(b, "identifier ");
      promql__quote(b, v, n);
      return;
    case PQT_METRIC_IDENTIFIER: {
          strbuf_puts(b, "metric identifier ");
      promql__quote(b, v, n);
      return;
    }
    case PQT_NUMBER:
      strbuf_puts(b, "number ");
      quote_short(b, v, n);
      return;
    case PQT_DURATION:
      strbuf_puts(b, "duration ");
      quote_short(b, v, n);
      return;
    case PQT_STRING:
      strbuf_puts(b, "string ");
      quote_short(b, v, n);
      return;
    case PQT_COMMENT:
      strbuf_puts(b, "comment ");
      quote_short(b, v, n);
      return;
    default:
      break;
  }
  if (pq_tok_is_keyword(t->type)) {
    strbuf_printf(b, "<%.*s>", (int)n, v);
  } else if (pq_tok_is_operator(t->type)) {
    strbuf_printf(b, "<op:%.*s>", (int)n, v);
  } else if (pq_tok_is_aggregator(t->type)) {
    strbuf_printf(b, "<aggr:%.*s>", (int)n, v);
  } else {
    quote_short(b, v, n);
  }
}
