/*
 * printer.c - PromQL syntax tree back to text.
 *
 * promql_format() writes Prometheus's Expr.String() form byte for byte:
 *   - numbers as Go's strconv.FormatFloat(v, 'f', -1, 64) (shortest digits
 *     that round-trip, never an exponent: 1e21 prints all 22 digits), NaN,
 *     +Inf, -Inf; a literal written as a duration prints as one ("1m");
 *   - strings with Go's strconv.Quote;
 *   - selectors as name{matchers sorted as strings, joined by ","}, the
 *     __name__="name" matcher omitted, label names quoted unless they are
 *     legacy names; then " @ 123.000" / " @ start()", then " offset 5m";
 *   - "sum by (a, b) (x)", "sum without () (x)", "topk(3, x)";
 *   - "a + on (b) group_left (c) d", "a > bool 1";
 *   - durations as Prometheus's model.Duration ("1h30m", "0s");
 *   - one deviation, so that the text parses back to the same tree: a
 *     number literal on the left of `^` whose text would start with a sign
 *     (only +Inf can come out of the parser there) is written "Inf", or in
 *     parentheses if negative; Prometheus writes "+Inf ^ x", which parses
 *     back as the unary +(Inf ^ x) and prints "++Inf ^ x".
 * promql_format_pretty() is Prometheus's Pretty(0): a node whose one-line
 * form is longer than 100 bytes is split, its children indented by two
 * spaces per level (binary operands, call arguments, aggregation bodies,
 * parenthesised expressions).
 */
#include "ast.h"

#include "timeparse.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- Go quoting ------------------------------------------------------------ */

static int32_t utf8_decode(const unsigned char *s, size_t n, size_t *w) {
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
    return -1;
  }
  if (n < need) {
    *w = 1;
    return -1;
  }
  for (size_t i = 1; i < need; i++) {
    if ((s[i] & 0xC0) != 0x80) {
      *w = 1;
      return -1;
    }
    r = (r << 6) | (s[i] & 0x3F);
  }
  if (r < min || r > 0x10FFFF || (r >= 0xD800 && r < 0xE000)) {
    *w = 1;
    return -1;
  }
  *w = need;
  return r;
}

static void utf8_put(strbuf_t *b, int32_t r) {
  char c[4];
  if (r < 0x80) {
    strbuf_putc(b, (char)r);
  } else if (r < 0x800) {
    c[0] = (char)(0xC0 | (r >> 6));
    c[1] = (char)(0x80 | (r & 0x3F));
    strbuf_append(b, c, 2);
  } else if (r < 0x10000) {
    c[0] = (char)(0xE0 | (r >> 12));
    c[1] = (char)(0x80 | ((r >> 6) & 0x3F));
    c[2] = (char)(0x80 | (r & 0x3F));
    strbuf_append(b, c, 3);
  } else {
    c[0] = (char)(0xF0 | (r >> 18));
    c[1] = (char)(0x80 | ((r >> 12) & 0x3F));
    c[2] = (char)(0x80 | ((r >> 6) & 0x3F));
    c[3] = (char)(0x80 | (r & 0x3F));
    strbuf_append(b, c, 4);
  }
}

/* An approximation of Go's unicode.IsPrint for non-ASCII runes: everything
 * except C1 controls, format characters, non-ASCII spaces, line/paragraph
 * separators, private use and non-characters. */
static bool is_print(int32_t r) {
  if (r < 0x80) return r >= 0x20 && r < 0x7F;
  if (r < 0xA0) return false;
  static const int32_t ranges[][2] = {
      {0x00A0, 0x00A0}, {0x00AD, 0x00AD}, {0x0600, 0x0605},
      {0x061C, 0x061C}, {0x06DD, 0x06DD}, {0x070F, 0x070F},
      {0x1680, 0x1680}, {0x180E, 0x180E}, {0x2000, 0x200F},
      {0x2028, 0x202F}, {0x205F, 0x2064}, {0x2066, 0x206F},
      {0x3000, 0x3000}, {0xD800, 0xF8FF}, {0xFDD0, 0xFDEF},
      {0xFEFF, 0xFEFF}, {0xFFF9, 0xFFFB}, {0x110BD, 0x110BD},
      {0x1D173, 0x1D17A}, {0xE0001, 0xE0001}, {0xE0020, 0xE007F},
      {0xF0000, 0x10FFFF},
  };
  for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
    if (r >= ranges[i][0] && r <= ranges[i][1]) return false;
  }
  if ((r & 0xFFFE) == 0xFFFE) return false;
  return true;
}

static void escaped_rune(strbuf_t *b, int32_t r, char quote) {
  if (r == quote || r == '\\') {
    strbuf_putc(b, '\\');
    strbuf_putc(b, (char)r);
    return;
  }
  if (is_print(r)) {
    utf8_put(b, r);
    return;
  }
  switch (r) {
    case '\a': strbuf_puts(b, "\\a"); return;
    case '\b': strbuf_puts(b, "\\b"); return;
    case '\f': strbuf_puts(b, "\\f"); return;
    case '\n': strbuf_puts(b, "\\n"); return;
    case '\r': strbuf_puts(b, "\\r"); return;
    case '\t': strbuf_puts(b, "\\t"); return;
    case '\v': strbuf_puts(b, "\\v"); return;
    default: break;
  }
  if (r >= 0 && (r < ' ' || r == 0x7F)) {
    strbuf_printf(b, "\\x%02x", (unsigned)r);
  } else if (r < 0 || r > 0x10FFFF || (r >= 0xD800 && r < 0xE000)) {
    strbuf_puts(b, "\\ufffd");
  } else if (r < 0x10000) {
    strbuf_printf(b, "\\u%04x", (unsigned)r);
  } else {
    strbuf_printf(b, "\\U%08x", (unsigned)r);
  }
}

void promql__quote(strbuf_t *b, const char *s, size_t len) {
  const unsigned char *p = (const unsigned char *)s;
  strbuf_putc(b, '"');
  size_t i = 0;
  while (i < len) {
    size_t w;
    int32_t r = utf8_decode(p + i, len - i, &w);
    if (r < 0) {
      strbuf_printf(b, "\\x%02x", p[i]);
    } else {
      escaped_rune(b, r, '"');
    }
    i += w;
  }
  strbuf_putc(b, '"');
}

void promql__quote_rune(strbuf_t *b, int32_t r) {
  if (r < 0 || r > 0x10FFFF || (r >= 0xD800 && r < 0xE000)) r = 0xFFFD;
  strbuf_putc(b, '\'');
  escaped_rune(b, r, '\'');
  strbuf_putc(b, '\'');
}

/* --- Numbers and durations ------------------------------------------- */

void promql__format_float(strbuf_t *b, double v) {
  if (isnan(v)) {
    strbuf_puts(b, "NaN");
    return;
  }
  if (isinf(v)) {
    strbuf_puts(b, v > 0 ? "+Inf" : "-Inf");
    return;
  }
  if (signbit(v)) strbuf_putc(b, '-');
  v = fabs(v);
  if (v == 0) {
    strbuf_putc(b, '0');
    return;
  }
  /* Shortest %.Ne that reads back as v. */
  char sci[40];
  for (int prec = 0; prec < 17; prec++) {
    snprintf(sci, sizeof(sci), "%.*e", prec, v);
    if (strtod(sci, NULL) == v) break;
  }
  char digits[24];
  size_t nd = 0;
  const char *p = sci;
  for (; *p && *p != 'e'; p++) {
    if (*p >= '0' && *p <= '9') digits[nd++] = *p;
  }
  int exp10 = atoi(p + 1); /* value = d.ddd x 10^exp10 */
  while (nd > 1 && digits[nd - 1] == '0') nd--;
  if (exp10 < 0) {
    strbuf_puts(b, "0.");
    for (int i = 0; i < -exp10 - 1; i++) strbuf_putc(b, '0');
    strbuf_append(b, digits, nd);
    return;
  }
  size_t intlen = (size_t)exp10 + 1;
  if (nd <= intlen) {
    strbuf_append(b, digits, nd);
    for (size_t i = nd; i < intlen; i++) strbuf_putc(b, '0');
  } else {
    strbuf_append(b, digits, intlen);
    strbuf_putc(b, '.');
    strbuf_append(b, digits + intlen, nd - intlen);
  }
}

void promql__format_duration(strbuf_t *b, int64_t ms) {
  char buf[64];
  size_t n = ph_format_duration(ms, buf, sizeof(buf));
  strbuf_append(b, buf, n);
}

/* The ms of Go's model.Duration(seconds * 1e9). */
static int64_t secs_to_ms(double secs) {
  double ns = secs * 1e9;
  if (!(ns < 9.2233720368547758e18) || !(ns >= -9.2233720368547758e18)) {
    return ns > 0 ? INT64_MAX / 1000000 : INT64_MIN / 1000000;
  }
  return (int64_t)ns / 1000000;
}

/* --- String() ------------------------------------------------------------ */

static bool is_legacy_label(const char *s) {
  if (!*s) return false;
  for (size_t i = 0; s[i]; i++) {
    char c = s[i];
    bool ok = c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

static void write_labels(strbuf_t *b, const char **ls, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (i > 0) strbuf_puts(b, ", ");
    if (is_legacy_label(ls[i])) {
      strbuf_puts(b, ls[i]);
    } else {
      promql__quote(b, ls[i], strlen(ls[i]));
    }
  }
}

static void write_at_offset(strbuf_t *b, promql_at_t at, int64_t at_ms,
                            int64_t offset_ms) {
  switch (at) {
    case PROMQL_AT_TIMESTAMP:
      strbuf_printf(b, " @ %.3f", (double)at_ms / 1000.0);
      break;
    case PROMQL_AT_START: strbuf_puts(b, " @ start()"); break;
    case PROMQL_AT_END: strbuf_puts(b, " @ end()"); break;
    default: break;
  }
  if (offset_ms > 0) {
    strbuf_puts(b, " offset ");
    promql__format_duration(b, offset_ms);
  } else if (offset_ms < 0) {
    strbuf_puts(b, " offset -");
    promql__format_duration(b, -offset_ms);
  }
}

static const char *match_op_str(tsdb_match_type_t t) {
  switch (t) {
    case TSDB_MATCH_EQ: return "=";
    case TSDB_MATCH_NEQ: return "!=";
    case TSDB_MATCH_RE: return "=~";
    default: return "!~";
  }
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void write_selector_core(strbuf_t *b, const promql_node_t *n) {
  if (n->u.vs.name) strbuf_puts(b, n->u.vs.name);
  size_t cnt = 0;
  char **strs = n->u.vs.nmatchers
                    ? malloc(n->u.vs.nmatchers * sizeof(char *))
                    : NULL;
  for (size_t i = 0; i < n->u.vs.nmatchers; i++) {
    const promql_matcher_t *m = &n->u.vs.matchers[i];
    if (n->u.vs.name && strcmp(m->name, "__name__") == 0 &&
        m->type == TSDB_MATCH_EQ && strcmp(m->value, n->u.vs.name) == 0 &&
        m->value[0]) {
      continue;
    }
    strbuf_t s = STRBUF_INIT;
    if (is_legacy_label(m->name)) {
      strbuf_puts(&s, m->name);
    } else {
      promql__quote(&s, m->name, strlen(m->name));
    }
    strbuf_puts(&s, match_op_str(m->type));
    promql__quote(&s, m->value, m->value_len);
    strs[cnt++] = strbuf_detach(&s, NULL);
  }
  if (cnt > 0) {
    qsort(strs, cnt, sizeof(char *), cmp_str);
    strbuf_putc(b, '{');
    for (size_t i = 0; i < cnt; i++) {
      if (i > 0) strbuf_putc(b, ',');
      strbuf_puts(b, strs[i]);
      free(strs[i]);
    }
    strbuf_putc(b, '}');
  }
  free(strs);
}

static void write_agg_op(strbuf_t *b, const promql_node_t *n) {
  strbuf_puts(b, promql_aggop_str(n->u.agg.op));
  if (n->u.agg.without) {
    strbuf_puts(b, " without (");
    write_labels(b, n->u.agg.grouping, n->u.agg.ngrouping);
    strbuf_puts(b, ") ");
  } else if (n->u.agg.ngrouping > 0) {
    strbuf_puts(b, " by (");
    write_labels(b, n->u.agg.grouping, n->u.agg.ngrouping);
    strbuf_puts(b, ") ");
  }
}

static void write_matching(strbuf_t *b, const promql_node_t *n) {
  if (!n->u.bin.has_matching) return;
  promql_card_t card = n->u.bin.card;
  bool grouped = card == PROMQL_CARD_MANY_TO_ONE ||
                 card == PROMQL_CARD_ONE_TO_MANY;
  if (n->u.bin.nmatching > 0 || n->u.bin.on || grouped) {
    strbuf_puts(b, n->u.bin.on ? " on (" : " ignoring (");
    write_labels(b, n->u.bin.matching, n->u.bin.nmatching);
    strbuf_putc(b, ')');
  }
  if (grouped) {
    strbuf_puts(b, card == PROMQL_CARD_MANY_TO_ONE ? " group_left ("
                                                     : " group_right (");
    write_labels(b, n->u.bin.include, n->u.bin.ninclude);
    strbuf_putc(b, ')');
  }
}

static void write_subquery_suffix(strbuf_t *b, const promql_node_t *n) {
  strbuf_putc(b, '[');
  promql__format_duration(b, n->u.sq.range_ms);
  strbuf_putc(b, ':');
  if (n->u.sq.step_ms != 0) promql__format_duration(b, n->u.sq.step_ms);
  strbuf_putc(b, ']');
  write_at_offset(b, n->u.sq.at, n->u.sq.at_ms, n->u.sq.offset_ms);
}

/* The left operand of `^` binds tighter than a unary sign, so a literal
 * printed with a leading sign there would read back as a unary expression
 * around the whole power: write +Inf as "Inf" and a negative literal in
 * parentheses.  Returns false when n is not such a literal. */
static bool write_signed_pow_lhs(strbuf_t *b, const promql_node_t *n) {
  if (n->kind != PROMQL_NODE_NUMBER) return false;
  double v = n->u.number.val;
  if (isnan(v) || !signbit(v)) {
    if (!isinf(v) || n->u.number.duration) return false;
    strbuf_puts(b, "Inf");
    return true;
  }
  strbuf_putc(b, '(');
  promql__node_string(b, n);
  strbuf_putc(b, ')');
  return true;
}

void promql__node_string(strbuf_t *b, const promql_node_t *n) {
  switch (n->kind) {
    case PROMQL_NODE_NUMBER:
      if (n->u.number.duration) {
        double v = n->u.number.val;
        if (v < 0) {
          strbuf_putc(b, '-');
          promql__format_duration(b, secs_to_ms(-v));
        } else {
          promql__format_duration(b, secs_to_ms(v));
        }
      } else {
        promql__format_float(b, n->u.number.val);
      }
      break;
    case PROMQL_NODE_STRING:
      promql__quote(b, n->u.string.val, n->u.string.len);
      break;
    case PROMQL_NODE_VECTOR_SEL:
      write_selector_core(b, n);
      write_at_offset(b, n->u.vs.at, n->u.vs.at_ms, n->u.vs.offset_ms);
      break;
    case PROMQL_NODE_MATRIX_SEL: {
      const promql_node_t *vs = n->u.ms.vs;
      write_selector_core(b, vs);
      strbuf_putc(b, '[');
      promql__format_duration(b, n->u.ms.range_ms);
      strbuf_putc(b, ']');
      write_at_offset(b, vs->u.vs.at, vs->u.vs.at_ms, vs->u.vs.offset_ms);
      break;
    }
    case PROMQL_NODE_SUBQUERY:
      promql__node_string(b, n->u.sq.expr);
      write_subquery_suffix(b, n);
      break;
    case PROMQL_NODE_CALL:
      strbuf_puts(b, n->u.call.func->name);
      strbuf_putc(b, '(');
      for (size_t i = 0; i < n->u.call.nargs; i++) {
        if (i > 0) strbuf_puts(b, ", ");
        promql__node_string(b, n->u.call.args[i]);
      }
      strbuf_putc(b, ')');
      break;
    case PROMQL_NODE_AGGREGATE:
      write_agg_op(b, n);
      strbuf_putc(b, '(');
      if (n->u.agg.param) {
        promql__node_string(b, n->u.agg.param);
        strbuf_puts(b, ", ");
      }
      promql__node_string(b, n->u.agg.expr);
      strbuf_putc(b, ')');
      break;
    case PROMQL_NODE_BINARY:
      if (n->u.bin.op != PROMQL_OP_POW || !write_signed_pow_lhs(b, n->u.bin.lhs))
        promql__node_string(b, n->u.bin.lhs);
      strbuf_putc(b, ' ');
      strbuf_puts(b, promql_binop_str(n->u.bin.op));
      if (n->u.bin.return_bool) strbuf_puts(b, " bool");
      write_matching(b, n);
      strbuf_putc(b, ' ');
      promql__node_string(b, n->u.bin.rhs);
      break;
    case PROMQL_NODE_UNARY:
      strbuf_putc(b, n->u.unary.neg ? '-' : '+');
      promql__node_string(b, n->u.unary.expr);
      break;
    case PROMQL_NODE_PAREN:
      strbuf_putc(b, '(');
      promql__node_string(b, n->u.paren.expr);
      strbuf_putc(b, ')');
      break;
  }
}

/* --- Pretty() ----------------------------------------------------------- */

enum { MAX_CHARS_PER_LINE = 100 };

static bool needs_split(const promql_node_t *n, size_t width) {
  strbuf_t s = STRBUF_INIT;
  promql__node_string(&s, n);
  bool split = s.len > width;
  strbuf_free(&s);
  return split;
}

static void indent(strbuf_t *b, int level) {
  for (int i = 0; i < level; i++) strbuf_puts(b, "  ");
}

static void pretty(strbuf_t *b, const promql_node_t *n, int level,
                   size_t w) {
  switch (n->kind) {
    case PROMQL_NODE_AGGREGATE:
      indent(b, level);
      if (!needs_split(n, w)) {
        promql__node_string(b, n);
        return;
      }
      write_agg_op(b, n);
      strbuf_puts(b, "(\n");
      if (n->u.agg.param) {
        pretty(b, n->u.agg.param, level + 1, w);
        strbuf_puts(b, ",\n");
      }
      pretty(b, n->u.agg.expr, level + 1, w);
      strbuf_putc(b, '\n');
      indent(b, level);
      strbuf_putc(b, ')');
      return;
    case PROMQL_NODE_BINARY:
      if (!needs_split(n, w)) {
        indent(b, level);
        promql__node_string(b, n);
        return;
      }
      if (n->u.bin.op == PROMQL_OP_POW && n->u.bin.lhs->kind == PROMQL_NODE_NUMBER) {
        indent(b, level + 1);
        if (!write_signed_pow_lhs(b, n->u.bin.lhs)) promql__node_string(b, n->u.bin.lhs);
      } else {
        pretty(b, n->u.bin.lhs, level + 1, w);
      }
      strbuf_putc(b, '\n');
      indent(b, level);
      strbuf_puts(b, promql_binop_str(n->u.bin.op));
      if (n->u.bin.return_bool) strbuf_puts(b, " bool");
      write_matching(b, n);
      strbuf_putc(b, '\n');
      pretty(b, n->u.bin.rhs, level + 1, w);
      return;
    case PROMQL_NODE_CALL:
      indent(b, level);
      if (!needs_split(n, w)) {
        promql__node_string(b, n);
        return;
      }
      strbuf_puts(b, n->u.call.func->name);
      strbuf_puts(b, "(\n");
      for (size_t i = 0; i < n->u.call.nargs; i++) {
        if (i > 0) strbuf_puts(b, ",\n");
        pretty(b, n->u.call.args[i], level + 1, w);
      }
      strbuf_putc(b, '\n');
      indent(b, level);
      strbuf_putc(b, ')');
      return;
    case PROMQL_NODE_PAREN:
      indent(b, level);
      if (!needs_split(n, w)) {
        promql__node_string(b, n);
        return;
      }
      strbuf_puts(b, "(\n");
      pretty(b, n->u.paren.expr, level + 1, w);
      strbuf_putc(b, '\n');
      indent(b, level);
      strbuf_putc(b, ')');
      return;
    case PROMQL_NODE_SUBQUERY:
      /* As Prometheus: no indent when it fits on one line. */
      if (!needs_split(n, w)) {
        promql__node_string(b, n);
        return;
      }
      pretty(b, n->u.sq.expr, level, w);
      write_subquery_suffix(b, n);
      return;
    case PROMQL_NODE_UNARY: {
      strbuf_t child = STRBUF_INIT;
      pretty(&child, n->u.unary.expr, level, w);
      const char *c = strbuf_cstr(&child);
      size_t len = child.len;
      while (len > 0 && strchr(" \t\n\r\v\f", *c)) c++, len--;
      while (len > 0 && strchr(" \t\n\r\v\f", c[len - 1])) len--;
      indent(b, level);
      strbuf_putc(b, n->u.unary.neg ? '-' : '+');
      strbuf_append(b, c, len);
      strbuf_free(&child);
      return;
    }
    default:
      indent(b, level);
      promql__node_string(b, n);
      return;
  }
}

void promql_format(const promql_expr_t *e, strbuf_t *out) {
  promql__node_string(out, promql_expr_root(e));
}

void promql_format_pretty(const promql_expr_t *e, strbuf_t *out) {
  pretty(out, promql_expr_root(e), 0, MAX_CHARS_PER_LINE);
}

void promql__format_pretty_width(const promql_expr_t *e, strbuf_t *out,
                                 size_t width) {
  pretty(out, promql_expr_root(e), 0, width);
}
