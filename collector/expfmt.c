/*
 * expfmt.c - the exposition-format parser (text 0.0.4 and OpenMetrics 1.0).
 *
 * A hand-written scanner over the caller's buffer, one entry per call, in
 * the shape of Prometheus's golex lexers (promlex.l, openmetricslex.l) so
 * that it accepts the same inputs and names the same tokens in errors.
 * The two grammars, per line:
 *
 *   text 0.0.4 (blanks [ \t]* allowed between all tokens, blank lines and
 *   plain "# ..." comments skipped, no trailing "\n" needed):
 *     "#" [ \t]+ ("HELP"|"TYPE") [ \t]+ name rest-of-line
 *     name? ("{" (lname|qstring) "=" lvalue ","? ... "}")? value [digits]
 *   OpenMetrics (exactly one space where one is shown, nothing else):
 *     "# HELP " name " " text "\n"     (also TYPE, UNIT)
 *     "# EOF" "\n"?  and then nothing
 *     name? "{" label ("," label)* ","? "}" " " value (" " ts)?
 *           (" # {" labels "} " value (" " ts)?)? "\n"
 *
 *   name   = [a-zA-Z_:][a-zA-Z0-9_:]*  or a quoted string
 *   lname  = [a-zA-Z_][a-zA-Z0-9_]*    or a quoted string; a quoted string
 *            alone in the braces ({"my.metric", a="b"}) is the metric name
 *   quoted = '"' ( '\' any-but-newline | [^\\"] )* '"'   (OpenMetrics: no raw
 *            newline).  Escapes: \\ \" \n; any other \x stays as is.
 *   value  = Go float without hex or '_' (expfmt_num.c); NaN canonical
 *   ts     = text: [0-9]+ milliseconds; OpenMetrics: float seconds
 *
 * Zero-copy: while a line is scanned its strings are recorded as spans
 * (offset, length, in-buffer or in-scratch).  Only strings that need
 * rewriting (escapes, le/quantile normalisation) are written to the
 * scratch buffer, which is reset per entry and only grows; when the line
 * is complete the spans are resolved into the public label arrays, so a
 * scratch realloc mid-line never leaves a stale pointer.
 *
 * Lazy mode: quoted strings are only scanned and UTF-8-checked on the
 * way (span.esc marks those with escapes); resolving escapes, rewriting
 * le/quantile, filling the label array and the duplicate-name check form
 * the label step (label_step), which the eager parser runs last on every
 * sample and a lazy one only when expfmt_parser_labels asks.  Metric names
 * and exemplar labels are resolved at once in both modes (the family logic
 * needs the name; exemplars are rare).
 *
 * Families: the parser remembers the current metric family (name, type,
 * which metadata lines it had, whether samples followed).  A sample
 * belongs to it when its name is the family name plus a suffix its type
 * allows (_total, _bucket, _count, _sum, _created, _gcount, _gsum, _info);
 * that gives the sample's type, the OpenMetrics _created flag, and the
 * OpenMetrics rule that a family's metadata comes before its samples and
 * only once.  In OpenMetrics a sample outside the current family starts an
 * implicit untyped family of its own name.
 *
 * Errors: the first one is final.  Its line and column are computed only
 * then, by counting newlines up to the offending byte, so the hot path
 * never tracks lines.  Deliberate differences from Prometheus: a NUL byte
 * where a line should start is an error (Prometheus stops silently and
 * keeps what it had), quoted metric and label names must be valid UTF-8
 * at parse time (Prometheus rejects them later, in the scrape loop), and
 * duplicate label names are rejected here too.
 */
#include "expfmt.h"

#include "expfmt_int.h"
#include "mem.h"
#include "ph_error.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A string found on the current line: in the buffer or in the scratch. */
typedef struct span {
  size_t off;
  size_t len;
  bool scratch; /* in the scratch buffer, else in the body */
  bool esc;     /* body bytes of a quoted string whose escapes are still to
                   be resolved (materialize) */
} span_t;

typedef struct rawlabel {
  span_t name;
  span_t value;
  size_t name_at; /* offset of the name token, for errors */
} rawlabel_t;

/* Lexer context an error happened in; decides how the token is named. */
enum { CX_START, CX_META, CX_LABELS, CX_LVALUE, CX_VALUE, CX_TS };

enum { QS_OK = 0, QS_UNTERMINATED = -1, QS_BADUTF8 = -2 };

enum { META_HELP = 1u, META_TYPE = 2u, META_UNIT = 4u };

struct expfmt_parser {
  const char *buf; /* the body; not owned */
  size_t len;
  size_t pos;   /* next byte to scan */
  size_t start; /* first byte of the current entry */
  expfmt_format_t fmt;
  int state; /* 0 running, 1 ended, -1 failed */

  char *scratch; /* owned; reset per entry */
  size_t slen, scap;

  rawlabel_t *raw, *eraw; /* owned; sample and exemplar labels */
  size_t nraw, rawcap, neraw, erawcap;
  expfmt_label_t *lbl, *elbl; /* owned; resolved for the caller */
  size_t lblcap, elblcap;
  struct order *order; /* owned; sort scratch for the duplicate check */
  size_t ordercap;

  char *fam; /* owned copy of the current family name */
  size_t famlen, famcap;
  bool has_fam, famsamples;
  unsigned fammeta;
  expfmt_type_t famtype;

  size_t nsamples;

  /* Lazy mode (expfmt_parser_set_lazy): the label step of the last series
   * entry waits for expfmt_parser_labels. */
  bool lazy;
  bool pending;          /* a series entry's label step is still to run */
  span_t name_span;      /* that entry's metric name */
  expfmt_type_t cur_type; /* and its family type (for le/quantile) */

  char err[512];
  size_t eline, ecol, eoff;
};

/* ---- small helpers ----------------------------------------------------- */

/* Byte classes, one table lookup per byte in the scanning loops. */
enum {
  C_MSTART = 1, /* [a-zA-Z_:]    metric name start */
  C_MCONT = 2,  /* [a-zA-Z0-9_:] metric name */
  C_LSTART = 4, /* [a-zA-Z_]     label name start */
  C_LCONT = 8,  /* [a-zA-Z0-9_]  label name */
  C_VEND = 16,  /* [ \t\n{]      ends a text-format value */
  C_QSPEC = 32, /* ["\\\n\x80-\xff] stops the quoted-string fast scan */
};
static const unsigned char ctab[256] = {
     0,  0,  0,  0,  0,  0,  0,  0,  0, 16, 48,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
    16,  0, 32,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
    10, 10, 10, 10, 10, 10, 10, 10, 10, 10,  3,  0,  0,  0,  0,  0,
     0, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,
    15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,  0, 32,  0,  0, 15,
     0, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,
    15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 16,  0,  0,  0,  0,
    32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32,
    32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32,
    32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32,
    32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32,
    32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32,
    32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32,
    32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32,
    32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32,
};

static inline bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static inline bool is_mstart(unsigned char c) { return ctab[c] & C_MSTART; }
static inline bool is_mcont(unsigned char c) { return ctab[c] & C_MCONT; }
static inline bool is_lstart(unsigned char c) { return ctab[c] & C_LSTART; }
static inline bool is_lcont(unsigned char c) { return ctab[c] & C_LCONT; }
static inline bool is_blank(unsigned char c) { return c == ' ' || c == '\t'; }

static inline const unsigned char *ub(const expfmt_parser_t *p) {
  return (const unsigned char *)p->buf;
}

static inline size_t skip_blanks(const expfmt_parser_t *p, size_t i) {
  const unsigned char *b = ub(p);
  while (i < p->len && is_blank(b[i])) i++;
  return i;
}

static inline expfmt_str_t resolve(const expfmt_parser_t *p, span_t s) {
  expfmt_str_t r = {(s.scratch ? p->scratch : p->buf) + s.off, s.len};
  return r;
}

static inline span_t buf_span(size_t off, size_t len) {
  span_t s = {off, len, false, false};
  return s;
}

/* Reserves n bytes of scratch and returns their offset. */
static size_t scratch_alloc(expfmt_parser_t *p, size_t n) {
  if (n > p->scap - p->slen) {
    size_t cap = p->scap ? p->scap : 256;
    while (cap - p->slen < n) cap *= 2;
    p->scratch = ph_realloc(p->scratch, cap);
    p->scap = cap;
  }
  size_t off = p->slen;
  p->slen += n;
  return off;
}

/* Copies buf[s..s+n) to scratch resolving escapes: \\ and \n always, \"
 * too when quote_esc; any other backslash pair is kept as it stands. */
static span_t unescape(expfmt_parser_t *p, size_t s, size_t n, bool quote_esc) {
  size_t off = scratch_alloc(p, n);
  const char *in = p->buf + s;
  char *out = p->scratch + off;
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    char c = in[i];
    if (c == '\\' && i + 1 < n) {
      char d = in[i + 1];
      if (d == '\\' || (d == '"' && quote_esc)) {
        out[o++] = d;
        i++;
        continue;
      }
      if (d == 'n') {
        out[o++] = '\n';
        i++;
        continue;
      }
    }
    out[o++] = c;
  }
  p->slen = off + o;
  span_t r = {off, o, true, false};
  return r;
}

/* Resolves a quoted string's escapes into the scratch, if it has any. */
static inline void materialize(expfmt_parser_t *p, span_t *s) {
  if (s->esc) *s = unescape(p, s->off, s->len, true);
}

/* A quoted string at buf[i] == '"': sets *out to its content as it stands
 * in the body, flagged esc when it has escapes (materialize resolves them),
 * and *end past the closing quote.  Validates UTF-8 here, so that errors
 * come in the same order whatever is resolved later. */
static int parse_quoted(expfmt_parser_t *p, size_t i, bool allow_nl,
                        span_t *out, size_t *end) {
  const unsigned char *b = ub(p);
  size_t n = p->len, s = i + 1, j = s;
  bool esc = false, high = false;
  for (;;) {
    while (j < n && !(ctab[b[j]] & C_QSPEC)) j++;
    if (j >= n) return QS_UNTERMINATED;
    unsigned char c = b[j];
    if (c == '"') break;
    if (c == '\\') {
      if (j + 1 >= n || b[j + 1] == '\n') return QS_UNTERMINATED;
      esc = true;
      high |= b[j + 1] >= 0x80;
      j += 2;
    } else if (c == '\n') {
      if (!allow_nl) return QS_UNTERMINATED;
      j++;
    } else {
      high = true;
      j++;
    }
  }
  *end = j + 1;
  *out = buf_span(s, j - s);
  if (high && !expfmt__utf8_valid(b + s, j - s)) return QS_BADUTF8;
  out->esc = esc;
  return QS_OK;
}

/* ---- errors -------------------------------------------------------------- */

typedef struct msgbuf {
  char s[448];
  size_t n;
} msgbuf_t;

static void mb_puts(msgbuf_t *m, const char *str) {
  size_t k = strlen(str);
  if (k > sizeof(m->s) - 1 - m->n) k = sizeof(m->s) - 1 - m->n;
  memcpy(m->s + m->n, str, k);
  m->n += k;
  m->s[m->n] = '\0';
}

static void mb_quote(msgbuf_t *m, const char *s, size_t n) {
  expfmt__quote(m->s, sizeof(m->s), &m->n, s, n);
}

/* Quotes buf[start..end) as the "while parsing" context. */
static void mb_context(msgbuf_t *m, const expfmt_parser_t *p, size_t end) {
  if (end > p->len) end = p->len;
  size_t s = p->start < end ? p->start : end;
  mb_puts(m, " while parsing: ");
  mb_quote(m, p->buf + s, end - s);
}

static int fail(expfmt_parser_t *p, size_t at, const msgbuf_t *m) {
  if (at > p->len) at = p->len;
  size_t line = 1, ls = 0, i = 0;
  while (i < at) {
    const char *nl = memchr(p->buf + i, '\n', at - i);
    if (!nl) break;
    line++;
    i = (size_t)(nl - p->buf) + 1;
    ls = i;
  }
  p->eline = line;
  p->ecol = at - ls + 1;
  p->eoff = at;
  snprintf(p->err, sizeof(p->err), "%zu:%zu: %s", line, p->ecol, m->s);
  p->state = -1;
  return PH_EPARSE;
}

static int failf(expfmt_parser_t *p, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int failf(expfmt_parser_t *p, size_t at, const char *fmt, ...) {
  msgbuf_t m;
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(m.s, sizeof(m.s), fmt, ap);
  va_end(ap);
  m.n = k < 0 ? 0 : (size_t)k < sizeof(m.s) ? (size_t)k : sizeof(m.s) - 1;
  return fail(p, at, &m);
}

/* Names the token at buf[at] the way Prometheus's lexers would in context
 * cx, and sets *tlen to its length. */
static const char *describe(const expfmt_parser_t *p, size_t at, int cx,
                            size_t *tlen) {
  const unsigned char *b = ub(p);
  size_t n = p->len;
  *tlen = 0;
  if (at >= n) return "EOF";
  unsigned char c = b[at];
  size_t j = at + 1;
  *tlen = 1;
  switch (c) {
  case '\n':
    return cx == CX_START || cx == CX_TS ? "LINEBREAK" : "INVALID";
  case '{':
    return cx == CX_START || cx == CX_VALUE ? "BOPEN" : "INVALID";
  case '}':
    return cx == CX_LABELS ? "BCLOSE" : "INVALID";
  case ',':
    return cx == CX_LABELS ? "COMMA" : "INVALID";
  case '=':
    return cx == CX_LABELS ? "EQUAL" : "INVALID";
  case '"':
    if (cx == CX_LABELS || cx == CX_LVALUE || cx == CX_META) {
      bool nl_ok = p->fmt == EXPFMT_FORMAT_TEXT;
      while (j < n && b[j] != '"' && (nl_ok || b[j] != '\n')) {
        if (b[j] == '\\' && j + 1 < n && b[j + 1] != '\n') j++;
        j++;
      }
      if (j < n && b[j] == '"') {
        *tlen = j + 1 - at;
        return cx == CX_LVALUE ? "LVALUE" : "QSTRING";
      }
      const char *nl = memchr(b + at + 1, '\n', n - at - 1);
      *tlen = nl ? (size_t)((const unsigned char *)nl - b) + 1 - at : n - at;
    }
    return "INVALID";
  default:
    break;
  }
  if (cx == CX_LABELS && is_lstart(c)) {
    while (j < n && is_lcont(b[j])) j++;
    *tlen = j - at;
    return "LNAME";
  }
  if ((cx == CX_START || cx == CX_META) && is_mstart(c)) {
    while (j < n && is_mcont(b[j])) j++;
    *tlen = j - at;
    return "MNAME";
  }
  if (cx == CX_VALUE && !is_blank(c)) {
    while (j < n && !is_blank(b[j]) && b[j] != '\n' && b[j] != '{') j++;
    *tlen = j - at;
    return "VALUE";
  }
  if (cx == CX_TS && is_digit(c)) {
    while (j < n && is_digit(b[j])) j++;
    *tlen = j - at;
    return "TIMESTAMP";
  }
  if (c >= 0x80) {
    size_t k = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
    if (k <= n - at && expfmt__utf8_valid(b + at, k)) *tlen = k;
  }
  return "INVALID";
}

/* "<expected>, got "<token>" ("<KIND>") while parsing: "<line so far>"" */
static int fail_tok(expfmt_parser_t *p, size_t at, int cx,
                    const char *expected) {
  size_t tlen;
  const char *kind = describe(p, at, cx, &tlen);
  msgbuf_t m = {{0}, 0};
  mb_puts(&m, expected);
  mb_puts(&m, ", got ");
  mb_quote(&m, p->buf + (at < p->len ? at : p->len), tlen);
  mb_puts(&m, " (\"");
  mb_puts(&m, kind);
  mb_puts(&m, "\")");
  mb_context(&m, p, at + tlen);
  return fail(p, at, &m);
}

/* "<what> "<bytes>"<tail>" with the while-parsing context up to ctx_end. */
static int fail_q(expfmt_parser_t *p, size_t at, const char *what,
                  const char *s, size_t n, const char *tail, size_t ctx_end) {
  msgbuf_t m = {{0}, 0};
  mb_puts(&m, what);
  mb_quote(&m, s, n);
  if (tail) mb_puts(&m, tail);
  if (ctx_end != (size_t)-1) mb_context(&m, p, ctx_end);
  return fail(p, at, &m);
}

/* Reports a bad float token buf[s..e) like Prometheus does. */
static int fail_float(expfmt_parser_t *p, int rc, size_t s, size_t e) {
  if (rc == EXPFMT__FLOAT_UNSUPPORTED) {
    msgbuf_t m = {{0}, 0};
    mb_puts(&m, "unsupported character in float");
    mb_context(&m, p, e);
    return fail(p, s, &m);
  }
  msgbuf_t m = {{0}, 0};
  mb_puts(&m, "strconv.ParseFloat: parsing ");
  mb_quote(&m, p->buf + s, e - s);
  mb_puts(&m, rc == EXPFMT__FLOAT_RANGE ? ": value out of range"
                                        : ": invalid syntax");
  mb_context(&m, p, e);
  return fail(p, s, &m);
}

/* ---- families ---------------------------------------------------------- */

static void fam_set(expfmt_parser_t *p, expfmt_str_t name, expfmt_type_t t) {
  if (name.len > p->famcap) {
    size_t cap = p->famcap ? p->famcap : 64;
    while (cap < name.len) cap *= 2;
    p->fam = ph_realloc(p->fam, cap);
    p->famcap = cap;
  }
  if (name.len) memcpy(p->fam, name.ptr, name.len);
  p->famlen = name.len;
  p->has_fam = true;
  p->famtype = t;
  p->famsamples = false;
  p->fammeta = 0;
}

static inline bool fam_is(const expfmt_parser_t *p, expfmt_str_t name) {
  return p->has_fam && p->famlen == name.len &&
         (name.len == 0 || memcmp(p->fam, name.ptr, name.len) == 0);
}

static bool suffix_is(const char *s, size_t n, const char *lit) {
  size_t k = strlen(lit);
  return n == k && memcmp(s, lit, k) == 0;
}

/* Whether a sample name belongs to the current family; sets *created for
 * the _created sample of a counter, histogram or summary. */
static bool fam_member(const expfmt_parser_t *p, expfmt_str_t name,
                       bool *created) {
  *created = false;
  if (!p->has_fam || name.len < p->famlen ||
      memcmp(name.ptr, p->fam, p->famlen) != 0)
    return false;
  const char *s = name.ptr + p->famlen;
  size_t n = name.len - p->famlen;
  switch (p->famtype) {
  case EXPFMT_TYPE_COUNTER:
    if (n == 0 || suffix_is(s, n, "_total")) return true;
    break;
  case EXPFMT_TYPE_INFO:
    return n == 0 || suffix_is(s, n, "_info");
  case EXPFMT_TYPE_HISTOGRAM:
    if (suffix_is(s, n, "_bucket") || suffix_is(s, n, "_count") ||
        suffix_is(s, n, "_sum"))
      return true;
    break;
  case EXPFMT_TYPE_GAUGEHISTOGRAM:
    return suffix_is(s, n, "_bucket") || suffix_is(s, n, "_gcount") ||
           suffix_is(s, n, "_gsum");
  case EXPFMT_TYPE_SUMMARY:
    if (n == 0 || suffix_is(s, n, "_count") || suffix_is(s, n, "_sum"))
      return true;
    break;
  default:
    return n == 0;
  }
  if (suffix_is(s, n, "_created")) {
    *created = true;
    return true;
  }
  return false;
}

/* Metadata line for family `name`: starts a new family or adds to the
 * current one (OpenMetrics: never after its samples, never twice). */
static int fam_meta(expfmt_parser_t *p, expfmt_str_t name, unsigned kind,
                    expfmt_type_t t) {
  if (!fam_is(p, name)) {
    fam_set(p, name, EXPFMT_TYPE_UNKNOWN);
  } else if (p->fmt == EXPFMT_FORMAT_OPENMETRICS) {
    const char *kw = kind == META_HELP ? "HELP" : kind == META_TYPE ? "TYPE" : "UNIT";
    char what[64];
    if (p->famsamples) {
      snprintf(what, sizeof(what), "%s line for metric family ", kw);
      return fail_q(p, p->start, what, name.ptr, name.len, " after its samples",
                    (size_t)-1);
    }
    if (p->fammeta & kind) {
      snprintf(what, sizeof(what), "duplicate %s line for metric family ", kw);
      return fail_q(p, p->start, what, name.ptr, name.len, NULL, (size_t)-1);
    }
  }
  p->fammeta |= kind;
  if (kind == META_TYPE) p->famtype = t;
  return 0;
}

/* ---- metadata ---------------------------------------------------------- */

static bool type_from_text(const char *s, size_t n, bool om, expfmt_type_t *t) {
  static const struct {
    const char *name;
    expfmt_type_t type;
    int fmts; /* 1 text, 2 OpenMetrics */
  } types[] = {
      {"counter", EXPFMT_TYPE_COUNTER, 3},
      {"gauge", EXPFMT_TYPE_GAUGE, 3},
      {"histogram", EXPFMT_TYPE_HISTOGRAM, 3},
      {"summary", EXPFMT_TYPE_SUMMARY, 3},
      {"untyped", EXPFMT_TYPE_UNKNOWN, 1},
      {"unknown", EXPFMT_TYPE_UNKNOWN, 2},
      {"gaugehistogram", EXPFMT_TYPE_GAUGEHISTOGRAM, 2},
      {"info", EXPFMT_TYPE_INFO, 2},
      {"stateset", EXPFMT_TYPE_STATESET, 2},
  };
  for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
    if (!(types[i].fmts & (om ? 2 : 1))) continue;
    if (strlen(types[i].name) == n && memcmp(types[i].name, s, n) == 0) {
      *t = types[i].type;
      return true;
    }
  }
  return false;
}

/* The metric name of a metadata line at buf[*i]. */
static int meta_name(expfmt_parser_t *p, size_t *i, unsigned kind,
                     span_t *name) {
  const unsigned char *b = ub(p);
  size_t n = p->len, j = *i;
  const char *expected = kind == META_HELP   ? "expected metric name after HELP"
                         : kind == META_TYPE ? "expected metric name after TYPE"
                                             : "expected metric name after UNIT";
  if (j < n && is_mstart(b[j])) {
    size_t s = j++;
    while (j < n && is_mcont(b[j])) j++;
    *name = buf_span(s, j - s);
  } else if (j < n && b[j] == '"') {
    size_t end;
    int rc = parse_quoted(p, j, p->fmt == EXPFMT_FORMAT_TEXT, name, &end);
    if (rc == QS_UNTERMINATED) return fail_tok(p, j, CX_META, expected);
    if (rc == QS_BADUTF8 || name->len == 0)
      return fail_q(p, j, "invalid metric name ", p->buf + j, end - j, NULL,
                    (size_t)-1);
    materialize(p, name);
    j = end;
  } else {
    return fail_tok(p, j, CX_META, expected);
  }
  *i = j;
  return 0;
}

/* Validates and returns a metadata entry whose text is buf[ts..te). */
static int meta_finish(expfmt_parser_t *p, expfmt_entry_t *e, unsigned kind,
                       span_t name, size_t ts, size_t te) {
  bool om = p->fmt == EXPFMT_FORMAT_OPENMETRICS;
  const char *t = p->buf + ts;
  size_t tn = te - ts;
  expfmt_type_t type = EXPFMT_TYPE_UNKNOWN;
  span_t text = buf_span(ts, tn);
  expfmt_str_t nm = resolve(p, name);

  if (kind == META_HELP) {
    if (!expfmt__utf8_valid((const unsigned char *)t, tn))
      return fail_q(p, ts, "help text ", t, tn, " is not a valid utf8 string",
                    (size_t)-1);
    if (memchr(t, '\\', tn)) text = unescape(p, ts, tn, om);
    nm = resolve(p, name); /* the scratch may have moved */
    e->kind = EXPFMT_HELP;
  } else if (kind == META_TYPE) {
    if (!type_from_text(t, tn, om, &type))
      return fail_q(p, ts, "invalid metric type ", t, tn, NULL, (size_t)-1);
    e->kind = EXPFMT_TYPE;
  } else {
    if (tn > 0 && !(nm.len > tn && nm.ptr[nm.len - tn - 1] == '_' &&
                    memcmp(nm.ptr + nm.len - tn, t, tn) == 0)) {
      msgbuf_t m = {{0}, 0};
      mb_puts(&m, "unit ");
      mb_quote(&m, t, tn);
      mb_puts(&m, " not a suffix of metric ");
      mb_quote(&m, nm.ptr, nm.len);
      return fail(p, ts, &m);
    }
    e->kind = EXPFMT_UNIT;
  }
  int rc = fam_meta(p, nm, kind, type);
  if (rc < 0) return rc;
  e->name = nm;
  e->type = type;
  e->text = resolve(p, text);
  return (int)e->kind;
}

/* Text format: "#" at buf[i].  Returns an entry kind, 0 for a plain
 * comment (skipped), or an error. */
static int text_comment(expfmt_parser_t *p, size_t i, expfmt_entry_t *e) {
  const unsigned char *b = ub(p);
  size_t n = p->len, j = i + 1;
  if (j < n && is_blank(b[j])) {
    j = skip_blanks(p, j);
    unsigned kind = 0;
    if (n - j >= 5 && is_blank(b[j + 4])) {
      if (memcmp(b + j, "HELP", 4) == 0) kind = META_HELP;
      else if (memcmp(b + j, "TYPE", 4) == 0) kind = META_TYPE;
    }
    if (kind) {
      j = skip_blanks(p, j + 4);
      span_t name;
      int rc = meta_name(p, &j, kind, &name);
      if (rc < 0) return rc;
      const char *nl = memchr(b + j, '\n', n - j);
      size_t end = nl ? (size_t)((const unsigned char *)nl - b) : n;
      p->pos = nl ? end + 1 : n;
      size_t ts = j < end ? j + 1 : end; /* the lexer drops one separator */
      return meta_finish(p, e, kind, name, ts, end);
    }
  }
  const char *nl = memchr(b + j, '\n', n - j);
  p->pos = nl ? (size_t)((const unsigned char *)nl - b) + 1 : n;
  return 0;
}

/* OpenMetrics: "#" at buf[i]. */
static int om_comment(expfmt_parser_t *p, size_t i, expfmt_entry_t *e) {
  const unsigned char *b = ub(p);
  size_t n = p->len, j = i + 2;
  if (i + 1 >= n || b[i + 1] != ' ')
    return fail_tok(p, i, CX_START, "expected a valid start token");
  unsigned kind = 0;
  if (n - j >= 5 && b[j + 4] == ' ') {
    if (memcmp(b + j, "HELP", 4) == 0) kind = META_HELP;
    else if (memcmp(b + j, "TYPE", 4) == 0) kind = META_TYPE;
    else if (memcmp(b + j, "UNIT", 4) == 0) kind = META_UNIT;
  }
  if (!kind) {
    if (n - j >= 3 && memcmp(b + j, "EOF", 3) == 0) {
      size_t k = j + 3;
      if (k < n && b[k] == '\n') k++;
      if (k != n) {
        msgbuf_t m = {{0}, 0};
        mb_puts(&m, "unexpected data after # EOF");
        return fail(p, k, &m);
      }
      p->pos = n;
      p->state = 1;
      return 0;
    }
    return fail_tok(p, i, CX_START, "expected a valid start token");
  }
  j += 5;
  span_t name;
  int rc = meta_name(p, &j, kind, &name);
  if (rc < 0) return rc;
  const char *nl = j < n && b[j] == ' ' ? memchr(b + j, '\n', n - j) : NULL;
  if (!nl) {
    const char *kw = kind == META_HELP ? "HELP" : kind == META_TYPE ? "TYPE" : "UNIT";
    return failf(p, j, "expected text in %s", kw);
  }
  size_t end = (size_t)((const unsigned char *)nl - b);
  p->pos = end + 1;
  return meta_finish(p, e, kind, name, j + 1, end);
}

/* ---- series ------------------------------------------------------------ */

static void push_label(expfmt_parser_t *p, bool exemplar, span_t name,
                       span_t value, size_t at) {
  rawlabel_t **arr = exemplar ? &p->eraw : &p->raw;
  size_t *cnt = exemplar ? &p->neraw : &p->nraw;
  size_t *cap = exemplar ? &p->erawcap : &p->rawcap;
  if (*cnt == *cap) ph_grow(arr, cap, *cnt + 1);
  rawlabel_t *l = &(*arr)[(*cnt)++];
  l->name = name;
  l->value = value;
  l->name_at = at;
}

/* Labels from buf[*i] == '{' to past the '}'.  A quoted string standing
 * alone sets *name (not allowed in exemplars). */
static int parse_labels(expfmt_parser_t *p, size_t *io, bool exemplar,
                        span_t *name, bool *have_name) {
  const unsigned char *b = ub(p);
  size_t n = p->len, i = *io + 1;
  bool text = p->fmt == EXPFMT_FORMAT_TEXT;
  for (;;) {
    if (text) i = skip_blanks(p, i);
    if (i < n && b[i] == '}') {
      i++;
      break;
    }
    size_t at = i, end = i;
    span_t ln;
    bool quoted = false;
    if (i < n && is_lstart(b[i])) {
      size_t j = i + 1;
      while (j < n && is_lcont(b[j])) j++;
      ln = buf_span(i, j - i);
      i = j;
    } else if (i < n && b[i] == '"') {
      int rc = parse_quoted(p, i, text, &ln, &end);
      if (rc == QS_UNTERMINATED)
        return fail_tok(p, i, CX_LABELS, "expected label name");
      quoted = true;
      if (rc == QS_BADUTF8 || ln.len == 0) {
        /* Decide below whether this was a metric or a label name. */
        ln.len = (size_t)-1;
      }
      i = end;
    } else {
      return fail_tok(p, i, CX_LABELS, "expected label name");
    }
    if (text) i = skip_blanks(p, i);
    if (quoted && i < n && (b[i] == ',' || b[i] == '}')) {
      if (exemplar) return fail_tok(p, i, CX_LABELS, "expected label name");
      if (*have_name)
        return fail_q(p, at, "metric name already set while parsing: ",
                      p->buf + p->start, i + 1 - p->start, NULL, (size_t)-1);
      if (ln.len == (size_t)-1)
        return fail_q(p, at, "invalid metric name ", p->buf + at, end - at,
                      NULL, (size_t)-1);
      materialize(p, &ln); /* the family logic needs the name now */
      *name = ln;
      *have_name = true;
      if (b[i++] == '}') break;
      continue;
    }
    if (ln.len == (size_t)-1)
      return fail_q(p, at, "invalid label name ", p->buf + at, end - at, NULL,
                    (size_t)-1);
    if (i >= n || b[i] != '=') return fail_tok(p, i, CX_LABELS, "expected equal");
    i++;
    if (text) i = skip_blanks(p, i);
    if (i >= n || b[i] != '"')
      return fail_tok(p, i, CX_LVALUE, "expected label value");
    span_t lv;
    int rc = parse_quoted(p, i, text, &lv, &end);
    if (rc == QS_UNTERMINATED)
      return fail_tok(p, i, CX_LVALUE, "expected label value");
    if (rc == QS_BADUTF8)
      return fail_q(p, i, "invalid UTF-8 label value: ", p->buf + i, end - i,
                    NULL, (size_t)-1);
    if (exemplar) { /* exemplars are rare: resolved at once, lazy or not */
      materialize(p, &ln);
      materialize(p, &lv);
    }
    push_label(p, exemplar, ln, lv, at);
    i = end;
    if (text) {
      i = skip_blanks(p, i);
      if (i < n && b[i] == ',') i++;
      continue;
    }
    if (i < n && b[i] == ',') {
      i++;
      continue;
    }
    if (i < n && b[i] == '}') {
      i++;
      break;
    }
    return fail_tok(p, i, CX_LABELS, "expected comma or brace close");
  }
  *io = i;
  return 0;
}

static inline double canonical_nan(double v) {
  if (isnan(v)) {
    uint64_t bits = 0x7ff8000000000001ULL;
    memcpy(&v, &bits, sizeof(v));
  }
  return v;
}

/* The float token buf[s..e). */
static int parse_value(expfmt_parser_t *p, size_t s, size_t e, double *v) {
  int rc = expfmt__parse_float(p->buf + s, e - s, v);
  if (rc != EXPFMT__FLOAT_OK) return fail_float(p, rc, s, e);
  *v = canonical_nan(*v);
  return 0;
}

/* OpenMetrics float-seconds timestamp buf[s..e) to milliseconds. */
static int parse_om_ts(expfmt_parser_t *p, size_t s, size_t e, int64_t *ms,
                       bool exemplar) {
  double v;
  int rc = expfmt__parse_float(p->buf + s, e - s, &v);
  if (rc != EXPFMT__FLOAT_OK) return fail_float(p, rc, s, e);
  if (isnan(v) || isinf(v))
    return failf(p, s, "invalid %stimestamp %f", exemplar ? "exemplar " : "", v);
  double x = v * 1000.0;
  if (!(x > -9223372036854775808.0 && x < 9223372036854775808.0))
    return failf(p, s, "%stimestamp out of range: %.*s",
                 exemplar ? "exemplar " : "", (int)(e - s), p->buf + s);
  *ms = (int64_t)x; /* truncation, as Go's int64(ts * 1000) */
  return 0;
}

typedef struct order {
  expfmt_str_t name;
  size_t idx;
} order_t;

static int cmp_order(const void *a, const void *c) {
  const order_t *x = a, *y = c;
  size_t k = x->name.len < y->name.len ? x->name.len : y->name.len;
  int r = k ? memcmp(x->name.ptr, y->name.ptr, k) : 0;
  if (r) return r;
  if (x->name.len != y->name.len) return x->name.len < y->name.len ? -1 : 1;
  return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static inline bool str_eq(expfmt_str_t x, expfmt_str_t y) {
  return x.len == y.len && (x.len == 0 || memcmp(x.ptr, y.ptr, x.len) == 0);
}

static int dup_error(expfmt_parser_t *p, size_t i) {
  expfmt_str_t nm = p->lbl[i].name;
  return fail_q(p, p->raw[i].name_at, "label name ", nm.ptr, nm.len,
                " is not unique", (size_t)-1);
}

/* Rejects __name__ and repeated label names among the resolved labels:
 * pairwise for the usual handful, by sorting for long sets. */
static int check_dups(expfmt_parser_t *p) {
  size_t n = p->nraw;
  const expfmt_label_t *l = p->lbl;
  for (size_t i = 0; i < n; i++)
    if (l[i].name.len == 8 && memcmp(l[i].name.ptr, "__name__", 8) == 0)
      return dup_error(p, i);
  if (n <= 24) {
    for (size_t i = 1; i < n; i++)
      for (size_t j = 0; j < i; j++)
        if (str_eq(l[i].name, l[j].name)) return dup_error(p, i);
    return 0;
  }
  if (p->ordercap < n) ph_grow(&p->order, &p->ordercap, n);
  for (size_t i = 0; i < n; i++) {
    p->order[i].name = l[i].name;
    p->order[i].idx = i;
  }
  qsort(p->order, n, sizeof(p->order[0]), cmp_order);
  for (size_t i = 1; i < n; i++)
    if (str_eq(p->order[i].name, p->order[i - 1].name))
      return dup_error(p, p->order[i].idx);
  return 0;
}

/* Prometheus 3 rewrites histogram "le" and summary "quantile" values to
 * the OpenMetrics float form ("1" -> "1.0") so both formats agree. */
static void normalize_bounds(expfmt_parser_t *p, expfmt_type_t t) {
  const char *want = t == EXPFMT_TYPE_HISTOGRAM ? "le"
                     : t == EXPFMT_TYPE_SUMMARY ? "quantile"
                                                : NULL;
  if (!want) return;
  size_t wl = strlen(want);
  for (size_t i = 0; i < p->nraw; i++) {
    expfmt_str_t nm = resolve(p, p->raw[i].name);
    if (nm.len != wl || memcmp(nm.ptr, want, wl) != 0) continue;
    expfmt_str_t v = resolve(p, p->raw[i].value);
    double d;
    if (expfmt__parse_float(v.ptr, v.len, &d) != EXPFMT__FLOAT_OK) continue;
    char tmp[32];
    size_t k = expfmt__format_om_float(d, tmp);
    if (k == v.len && memcmp(tmp, v.ptr, k) == 0) continue;
    size_t off = scratch_alloc(p, k);
    memcpy(p->scratch + off, tmp, k);
    span_t s = {off, k, true, false};
    p->raw[i].value = s;
  }
}

static void resolve_labels(expfmt_parser_t *p, bool exemplar) {
  rawlabel_t *raw = exemplar ? p->eraw : p->raw;
  size_t n = exemplar ? p->neraw : p->nraw;
  expfmt_label_t **out = exemplar ? &p->elbl : &p->lbl;
  size_t *cap = exemplar ? &p->elblcap : &p->lblcap;
  if (n > *cap) ph_grow(out, cap, n);
  for (size_t i = 0; i < n; i++) {
    (*out)[i].name = resolve(p, raw[i].name);
    (*out)[i].value = resolve(p, raw[i].value);
  }
}

/* Exemplar after " # {" whose '{' is at buf[*io]. */
static int om_exemplar(expfmt_parser_t *p, size_t *io, expfmt_entry_t *e) {
  const unsigned char *b = ub(p);
  size_t n = p->len, i = *io;
  span_t unused;
  bool no_name = false;
  int rc = parse_labels(p, &i, true, &unused, &no_name);
  if (rc < 0) return rc;
  if (i >= n || b[i] != ' ' || i + 1 >= n || b[i + 1] == ' ' || b[i + 1] == '\n')
    return fail_tok(p, i, CX_VALUE, "expected value after exemplar labels");
  size_t vs = ++i;
  while (i < n && b[i] != ' ' && b[i] != '\n') i++;
  double v;
  if ((rc = parse_value(p, vs, i, &v)) < 0) return rc;
  e->exemplar.value = v;
  if (i >= n) return failf(p, n, "data does not end with # EOF");
  if (b[i] == ' ' && i + 1 < n && b[i + 1] != ' ' && b[i + 1] != '\n') {
    size_t ts = ++i;
    while (i < n && b[i] != ' ' && b[i] != '\n') i++;
    if ((rc = parse_om_ts(p, ts, i, &e->exemplar.ts_ms, true)) < 0) return rc;
    e->exemplar.has_ts = true;
    if (i >= n) return failf(p, n, "data does not end with # EOF");
    if (b[i] != '\n')
      return fail_tok(p, i, CX_TS, "expected next entry after exemplar timestamp");
  } else if (b[i] != '\n') {
    return fail_tok(p, i, CX_TS, "expected timestamp or comment");
  }
  e->has_exemplar = true;
  *io = i;
  return 0;
}

/* The label step of the current series entry: resolves escapes, rewrites
 * le/quantile, fills the public label array and rejects duplicate names.
 * Writes to the scratch may move it, so every entry string that can live
 * there (name, exemplar labels) is resolved again afterwards. */
static int label_step(expfmt_parser_t *p, expfmt_entry_t *e) {
  for (size_t i = 0; i < p->nraw; i++) {
    materialize(p, &p->raw[i].name);
    materialize(p, &p->raw[i].value);
  }
  normalize_bounds(p, p->cur_type);
  resolve_labels(p, false);
  int rc = check_dups(p);
  if (rc < 0) return rc;
  e->labels = p->lbl;
  e->nlabels = p->nraw;
  e->name = resolve(p, p->name_span);
  if (e->has_exemplar) {
    resolve_labels(p, true);
    e->exemplar.labels = p->elbl;
    e->exemplar.nlabels = p->neraw;
  }
  return 0;
}

static int finish_series(expfmt_parser_t *p, expfmt_entry_t *e, span_t name,
                         size_t series_end) {
  expfmt_str_t nm = resolve(p, name);
  bool created = false;
  expfmt_type_t t = EXPFMT_TYPE_UNKNOWN;
  if (fam_member(p, nm, &created)) {
    t = p->famtype;
    p->famsamples = true;
  } else if (p->fmt == EXPFMT_FORMAT_OPENMETRICS) {
    fam_set(p, nm, EXPFMT_TYPE_UNKNOWN); /* an implicit, untyped family */
    p->famsamples = true;
  }
  p->name_span = name;
  p->cur_type = t;
  e->kind = EXPFMT_SERIES;
  e->name = nm;
  e->series.ptr = p->buf + p->start;
  e->series.len = series_end - p->start;
  e->type = t;
  e->created = created && p->fmt == EXPFMT_FORMAT_OPENMETRICS;
  if (e->has_exemplar) {
    resolve_labels(p, true);
    e->exemplar.labels = p->elbl;
    e->exemplar.nlabels = p->neraw;
  }
  if (p->lazy) {
    p->pending = true;
  } else {
    int rc = label_step(p, e);
    if (rc < 0) return rc;
  }
  p->nsamples++;
  return EXPFMT_SERIES;
}

/* The name and label set at buf[p->start]. */
static int series_head(expfmt_parser_t *p, size_t *io, span_t *name,
                       size_t *series_end) {
  const unsigned char *b = ub(p);
  size_t n = p->len, i = *io;
  bool have_name = false, text = p->fmt == EXPFMT_FORMAT_TEXT;
  p->nraw = 0;
  p->neraw = 0;
  if (b[i] != '{') {
    size_t j = i + 1;
    while (j < n && is_mcont(b[j])) j++;
    *name = buf_span(i, j - i);
    have_name = true;
    i = j;
  }
  *series_end = i;
  size_t k = text ? skip_blanks(p, i) : i;
  if (k < n && b[k] == '{') {
    int rc = parse_labels(p, &k, false, name, &have_name);
    if (rc < 0) return rc;
    i = k;
    *series_end = i;
  }
  if (!have_name)
    return fail_q(p, p->start, "metric name not set while parsing: ",
                  p->buf + p->start, i - p->start, NULL, (size_t)-1);
  *io = i;
  return 0;
}

static int text_series(expfmt_parser_t *p, expfmt_entry_t *e) {
  const unsigned char *b = ub(p);
  size_t n = p->len, i = p->start, series_end;
  span_t name;
  int rc = series_head(p, &i, &name, &series_end);
  if (rc < 0) return rc;
  i = skip_blanks(p, i);
  size_t vs = i;
  while (i < n && !(ctab[b[i]] & C_VEND)) i++;
  if (i == vs) return fail_tok(p, vs, CX_VALUE, "expected value after metric");
  if ((rc = parse_value(p, vs, i, &e->value)) < 0) return rc;
  i = skip_blanks(p, i);
  if (i < n && is_digit(b[i])) {
    size_t ts = i;
    uint64_t t = 0;
    bool over = false;
    for (; i < n && is_digit(b[i]); i++) {
      unsigned d = b[i] - '0';
      if (t > (UINT64_C(9223372036854775807) - d) / 10) over = true;
      else t = t * 10 + d;
    }
    if (over)
      return fail_q(p, ts, "strconv.ParseInt: parsing ", p->buf + ts, i - ts,
                    ": value out of range", i);
    e->has_ts = true;
    e->ts_ms = (int64_t)t;
    i = skip_blanks(p, i);
    if (i < n && b[i] != '\n')
      return fail_tok(p, i, CX_TS, "expected next entry after timestamp");
  } else if (i < n && b[i] != '\n') {
    return fail_tok(p, i, CX_TS, "expected timestamp or new record");
  }
  p->pos = i < n ? i + 1 : n;
  return finish_series(p, e, name, series_end);
}

static int om_series(expfmt_parser_t *p, expfmt_entry_t *e) {
  const unsigned char *b = ub(p);
  size_t n = p->len, i = p->start, series_end;
  span_t name;
  int rc = series_head(p, &i, &name, &series_end);
  if (rc < 0) return rc;
  if (i >= n || b[i] != ' ' || i + 1 >= n || b[i + 1] == ' ' || b[i + 1] == '\n')
    return fail_tok(p, i, CX_VALUE, "expected value after metric");
  size_t vs = ++i;
  while (i < n && b[i] != ' ' && b[i] != '\n') i++;
  if ((rc = parse_value(p, vs, i, &e->value)) < 0) return rc;
  if (i >= n) return failf(p, n, "data does not end with # EOF");
  bool ex = false;
  if (b[i] == ' ') {
    if (n - i >= 4 && memcmp(b + i, " # {", 4) == 0) {
      ex = true;
    } else if (i + 1 < n && b[i + 1] != ' ' && b[i + 1] != '\n') {
      size_t ts = ++i;
      while (i < n && b[i] != ' ' && b[i] != '\n') i++;
      if ((rc = parse_om_ts(p, ts, i, &e->ts_ms, false)) < 0) return rc;
      e->has_ts = true;
      if (i >= n) return failf(p, n, "data does not end with # EOF");
      if (n - i >= 4 && memcmp(b + i, " # {", 4) == 0) ex = true;
      else if (b[i] != '\n')
        return fail_tok(p, i, CX_TS, "expected next entry after timestamp");
    } else {
      return fail_tok(p, i, CX_TS, "expected timestamp or new record");
    }
  }
  if (ex) {
    i += 3;
    if ((rc = om_exemplar(p, &i, e)) < 0) return rc;
  }
  p->pos = i + 1; /* past the '\n' */
  return finish_series(p, e, name, series_end);
}

/* ---- the iterator ------------------------------------------------------ */

static int next_text(expfmt_parser_t *p, expfmt_entry_t *e) {
  const unsigned char *b = ub(p);
  size_t n = p->len;
  for (;;) {
    size_t i = skip_blanks(p, p->pos);
    if (i >= n) {
      p->pos = n;
      p->state = 1;
      return 0;
    }
    p->start = i;
    unsigned char c = b[i];
    if (c == '\n') {
      p->pos = i + 1;
      continue;
    }
    if (c == '#') {
      int rc = text_comment(p, i, e);
      if (rc == 0) continue;
      return rc;
    }
    if (is_mstart(c) || c == '{') return text_series(p, e);
    return fail_tok(p, i, CX_START, "expected a valid start token");
  }
}

static int next_om(expfmt_parser_t *p, expfmt_entry_t *e) {
  const unsigned char *b = ub(p);
  size_t i = p->pos;
  p->start = i;
  if (i >= p->len) return failf(p, p->len, "data does not end with # EOF");
  unsigned char c = b[i];
  if (c == '#') return om_comment(p, i, e);
  if (is_mstart(c) || c == '{') return om_series(p, e);
  return fail_tok(p, i, CX_START, "expected a valid start token");
}

int expfmt_parser_next(expfmt_parser_t *p, expfmt_entry_t *e) {
  if (p->state < 0) return PH_EPARSE;
  if (p->state > 0) return 0;
  memset(e, 0, sizeof(*e));
  p->slen = 0;
  p->pending = false;
  int rc = p->fmt == EXPFMT_FORMAT_OPENMETRICS ? next_om(p, e) : next_text(p, e);
  if (rc <= 0) memset(e, 0, sizeof(*e));
  return rc;
}

int expfmt_parser_labels(expfmt_parser_t *p, expfmt_entry_t *e) {
  if (p->state < 0) return PH_EPARSE;
  if (!p->pending) return 0; /* eager mode, done already, or not a series */
  ph_assert(e->kind == EXPFMT_SERIES);
  p->pending = false;
  int rc = label_step(p, e);
  if (rc < 0) {
    p->nsamples--; /* the entry turned out invalid after all */
    e->labels = NULL;
    e->nlabels = 0;
  }
  return rc;
}

void expfmt_parser_set_lazy(expfmt_parser_t *p, bool lazy) {
  p->lazy = lazy;
  p->pending = false;
}

/* ---- lifecycle and small API ------------------------------------------- */

expfmt_parser_t *expfmt_parser_new(const char *buf, size_t len,
                                   expfmt_format_t format) {
  expfmt_parser_t *p = ph_calloc(1, sizeof(*p));
  expfmt_parser_reset(p, buf, len, format);
  return p;
}

void expfmt_parser_reset(expfmt_parser_t *p, const char *buf, size_t len,
                         expfmt_format_t format) {
  p->buf = buf ? buf : "";
  p->len = buf ? len : 0;
  p->pos = 0;
  p->start = 0;
  p->fmt = format == EXPFMT_FORMAT_OPENMETRICS ? format : EXPFMT_FORMAT_TEXT;
  p->state = 0;
  p->slen = 0;
  p->nraw = p->neraw = 0;
  p->has_fam = false;
  p->famlen = 0;
  p->famsamples = false;
  p->fammeta = 0;
  p->famtype = EXPFMT_TYPE_UNKNOWN;
  p->nsamples = 0;
  p->pending = false;
  p->err[0] = '\0';
  p->eline = p->ecol = p->eoff = 0;
}

void expfmt_parser_free(expfmt_parser_t *p) {
  if (!p) return;
  free(p->scratch);
  free(p->raw);
  free(p->eraw);
  free(p->lbl);
  free(p->elbl);
  free(p->order);
  free(p->fam);
  free(p);
}

const char *expfmt_parser_error(const expfmt_parser_t *p) { return p->err; }

void expfmt_parser_error_pos(const expfmt_parser_t *p, size_t *line,
                             size_t *col, size_t *offset) {
  if (line) *line = p->eline;
  if (col) *col = p->ecol;
  if (offset) *offset = p->eoff;
}

size_t expfmt_parser_samples(const expfmt_parser_t *p) { return p->nsamples; }

expfmt_format_t expfmt_format_from_content_type(const char *ct) {
  static const char om[] = "application/openmetrics-text";
  if (!ct) return EXPFMT_FORMAT_TEXT;
  while (*ct == ' ' || *ct == '\t') ct++;
  size_t k = strcspn(ct, "; \t");
  if (k == sizeof(om) - 1 && strncasecmp(ct, om, k) == 0)
    return EXPFMT_FORMAT_OPENMETRICS;
  return EXPFMT_FORMAT_TEXT;
}

const char *expfmt_type_name(expfmt_type_t t) {
  switch (t) {
  case EXPFMT_TYPE_COUNTER: return "counter";
  case EXPFMT_TYPE_GAUGE: return "gauge";
  case EXPFMT_TYPE_HISTOGRAM: return "histogram";
  case EXPFMT_TYPE_GAUGEHISTOGRAM: return "gaugehistogram";
  case EXPFMT_TYPE_SUMMARY: return "summary";
  case EXPFMT_TYPE_INFO: return "info";
  case EXPFMT_TYPE_STATESET: return "stateset";
  default: return "unknown";
  }
}
