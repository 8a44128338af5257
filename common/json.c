/*
 * json.c - streaming JSON writer and Go/Prometheus number formatting.
 *
 * Writer.  A stack of frames, one per open object or array, remembers
 * whether the container already holds an element (so the next one needs a
 * comma) and, for objects, whether a key is waiting for its value.  Every
 * value goes through json__before_value(), which writes the separator and
 * checks the grammar; misuse (a value without a key inside an object, a key
 * inside an array, closing the wrong container, a second top-level value)
 * is a programming error and fails ph_assert.  The stack starts inline and
 * grows on the heap, so nesting depth is unbounded.
 *
 * Strings are escaped byte-compatibly with Prometheus's API, which encodes
 * through jsoniter's ConfigCompatibleWithStandardLibrary (HTML escaping on):
 *   "  \   ->  \"  \\          \n \r \t  ->  \n \r \t
 *   other bytes < 0x20        ->  \u00XX (lower-case hex; so \b is \u0008)
 *   <  >  &                   ->  \u003c \u003e \u0026
 *   U+2028 U+2029             ->  \u2028 \u2029
 *   each byte that does not start a valid UTF-8 sequence -> \ufffd
 *   everything else (DEL, valid non-ASCII) is copied as is.
 * Runs of bytes needing no escape are appended in one go.
 *
 * Numbers.  Go's strconv.FormatFloat(v, fmt, -1, 64) prints the shortest
 * decimal that parses back to v, choosing the one nearest v when several
 * of that length do.  We find it without a Ryu implementation.  printf
 * gives v to 18 significant digits once; from those the correctly rounded
 * p-digit decimal c follows for any p <= 17 (only an exact tie in the 18
 * digits is ambiguous, and then printf is asked for p digits).  If c does
 * not round-trip through strtod, the only other p-digit candidates that
 * can lie in v's rounding interval are c's two neighbours (this matters at
 * powers of two, where the interval is lopsided).  "Some p-digit decimal
 * round-trips" is monotone in p (append a zero), so a binary search over
 * p = 1..17 finds the shortest length; a first guess read off the 18
 * digits usually settles it in two probes.  A probe costs one strtod, three
 * at powers of two.  Integers below 2^53 (most counters and
 * gauges) skip the search: their digits are their own.  glibc's printf
 * and strtod are exact and round half to even, as Go does.  Candidates
 * go to strtod as "<integer>e<exp>", with no radix character, and the
 * digits are read back from printf skipping whatever radix it printed, so
 * the locale cannot interfere.
 *
 * The digits (d[0..nd), value 0.d * 10^dp) are then laid out as Go's 'e',
 * 'f' and 'g' formats do: 'e' has at least two exponent digits and a sign
 * ("1e-07", "1.5e+21"); 'f' pads with zeros and never uses an exponent;
 * shortest 'g' uses 'e' when the decimal exponent is < -4 or >= 6 (Go
 * uses 6 as the precision for that decision when printing shortest).
 */
#include "json.h"

#include "mem.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- writer ---------------------------------------------------------- */

enum { FRAME_OBJECT = 1, FRAME_ARRAY = 2 };

typedef struct json_frame {
  unsigned char kind;      /* FRAME_OBJECT or FRAME_ARRAY */
  unsigned char nonempty;  /* an element was written: next needs a comma */
  unsigned char have_key;  /* object: a key waits for its value */
} json_frame_t;

#define JSON_INLINE_DEPTH 32

struct json_writer {
  strbuf_t *out;           /* not owned */
  json_frame_t *stack;     /* inline or heap (when stack != inline_stack) */
  size_t depth, cap;
  bool top_done;           /* the top-level value has been started */
  json_frame_t inline_stack[JSON_INLINE_DEPTH];
};

json_writer_t *json_writer_new(strbuf_t *out) {
  ph_assert(out != NULL);
  json_writer_t *w = ph_calloc(1, sizeof *w);
  w->out = out;
  w->stack = w->inline_stack;
  w->cap = JSON_INLINE_DEPTH;
  return w;
}

void json_writer_free(json_writer_t *w) {
  if (!w) return;
  if (w->stack != w->inline_stack) free(w->stack);
  free(w);
}

void json_writer_reset(json_writer_t *w) {
  w->depth = 0;
  w->top_done = false;
}

bool json_writer_complete(const json_writer_t *w) {
  return w->top_done && w->depth == 0;
}

/* Writes the separator a new value needs and checks it may come here. */
static void json__before_value(json_writer_t *w) {
  if (w->depth == 0) {
    ph_assert(!w->top_done && "json: second top-level value");
    w->top_done = true;
    return;
  }
  json_frame_t *f = &w->stack[w->depth - 1];
  if (f->kind == FRAME_OBJECT) {
    ph_assert(f->have_key && "json: value inside an object without a key");
    f->have_key = 0;
  } else {
    if (f->nonempty) strbuf_putc(w->out, ',');
    f->nonempty = 1;
  }
}

static void json__push(json_writer_t *w, unsigned char kind) {
  if (w->depth == w->cap) {
    size_t ncap = w->cap * 2;
    if (w->stack == w->inline_stack) {
      json_frame_t *s = ph_malloc(ncap * sizeof *s);
      memcpy(s, w->inline_stack, w->depth * sizeof *s);
      w->stack = s;
    } else {
      w->stack = ph_realloc(w->stack, ncap * sizeof *w->stack);
    }
    w->cap = ncap;
  }
  w->stack[w->depth++] = (json_frame_t){kind, 0, 0};
}

static void json__pop(json_writer_t *w, unsigned char kind) {
  ph_assert(w->depth > 0 && "json: end without begin");
  json_frame_t *f = &w->stack[w->depth - 1];
  ph_assert(f->kind == kind && "json: mismatched end");
  ph_assert(!f->have_key && "json: key without a value");
  w->depth--;
}

void json_object_begin(json_writer_t *w) {
  json__before_value(w);
  json__push(w, FRAME_OBJECT);
  strbuf_putc(w->out, '{');
}

void json_object_end(json_writer_t *w) {
  json__pop(w, FRAME_OBJECT);
  strbuf_putc(w->out, '}');
}

void json_array_begin(json_writer_t *w) {
  json__before_value(w);
  json__push(w, FRAME_ARRAY);
  strbuf_putc(w->out, '[');
}

void json_array_end(json_writer_t *w) {
  json__pop(w, FRAME_ARRAY);
  strbuf_putc(w->out, ']');
}

/* ---- string escaping ------------------------------------------------- */

/* Length of the valid UTF-8 sequence starting at s[0] (a byte >= 0x80),
 * or 0 if it is not the start of one (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF); *cp receives the code point. */
static size_t json__utf8_len(const unsigned char *s, size_t n, uint32_t *cp) {
  unsigned char c = s[0];
  unsigned char lo = 0x80, hi = 0xBF;
  size_t len;
  uint32_t v;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2; v = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3; v = c & 0x0F;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4; v = c & 0x07;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (n < len) return 0;
  if (s[1] < lo || s[1] > hi) return 0;
  v = (v << 6) | (s[1] & 0x3F);
  for (size_t i = 2; i < len; i++) {
    if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    v = (v << 6) | (s[i] & 0x3F);
  }
  *cp = v;
  return len;
}

static void json__escape(strbuf_t *b, const char *str, size_t n) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *s = (const unsigned char *)str;
  size_t run = 0; /* start of the pending run of bytes copied verbatim */
  size_t i = 0;
  strbuf_reserve(b, n + 2);
  strbuf_putc(b, '"');
  while (i < n) {
    unsigned char c = s[i];
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\' && c != '<' &&
        c != '>' && c != '&') {
      i++;
      continue;
    }
    size_t len = 1;
    char esc[8];
    size_t elen = 0;
    if (c >= 0x80) {
      uint32_t cp = 0;
      len = json__utf8_len(s + i, n - i, &cp);
      if (len > 0 && cp != 0x2028 && cp != 0x2029) {
        i += len;
        continue;
      }
      if (len == 0) {
        len = 1;
        memcpy(esc, "\\ufffd", 6);
      } else {
        memcpy(esc, cp == 0x2028 ? "\\u2028" : "\\u2029", 6);
      }
      elen = 6;
    } else if (c == '"' || c == '\\') {
      esc[0] = '\\'; esc[1] = (char)c; elen = 2;
    } else if (c == '\n') {
      memcpy(esc, "\\n", 2); elen = 2;
    } else if (c == '\r') {
      memcpy(esc, "\\r", 2); elen = 2;
    } else if (c == '\t') {
      memcpy(esc, "\\t", 2); elen = 2;
    } else {
      memcpy(esc, "\\u00", 4);
      esc[4] = hex[c >> 4];
      esc[5] = hex[c & 0xF];
      elen = 6;
    }
    if (i > run) strbuf_append(b, s + run, i - run);
    strbuf_append(b, esc, elen);
    i += len;
    run = i;
  }
  if (n > run) strbuf_append(b, s + run, n - run);
  strbuf_putc(b, '"');
}

void json_key(json_writer_t *w, const char *key) {
  ph_assert(key != NULL);
  ph_assert(w->depth > 0 && "json: key outside an object");
  json_frame_t *f = &w->stack[w->depth - 1];
  ph_assert(f->kind == FRAME_OBJECT && "json: key inside an array");
  ph_assert(!f->have_key && "json: two keys in a row");
  if (f->nonempty) strbuf_putc(w->out, ',');
  f->nonempty = 1;
  json__escape(w->out, key, strlen(key));
  strbuf_putc(w->out, ':');
  f->have_key = 1;
}

void json_string(json_writer_t *w, const char *s) {
  ph_assert(s != NULL);
  json_string_n(w, s, strlen(s));
}

void json_string_n(json_writer_t *w, const char *s, size_t n) {
  ph_assert(s != NULL || n == 0);
  json__before_value(w);
  json__escape(w->out, s ? s : "", n);
}

void json_int(json_writer_t *w, int64_t v) {
  json__before_value(w);
  strbuf_printf(w->out, "%" PRId64, v);
}

void json_uint(json_writer_t *w, uint64_t v) {
  json__before_value(w);
  strbuf_printf(w->out, "%" PRIu64, v);
}

void json_bool(json_writer_t *w, bool v) {
  json__before_value(w);
  strbuf_puts(w->out, v ? "true" : "false");
}

void json_null(json_writer_t *w) {
  json__before_value(w);
  strbuf_puts(w->out, "null");
}

void json_raw(json_writer_t *w, const char *text, size_t n) {
  ph_assert(text != NULL || n == 0);
  json__before_value(w);
  if (n) strbuf_append(w->out, text, n);
}

/* ---- shortest decimal digits ----------------------------------------- */

typedef struct json_decimal {
  char d[24]; /* significant digits, no trailing zeros */
  int nd;     /* number of digits; 0 for zero */
  int dp;     /* decimal point position: |v| = 0.d * 10^dp */
} json_decimal_t;

static const uint64_t json__pow10[] = {
    1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL,
    10000000ULL, 100000000ULL, 1000000000ULL, 10000000000ULL,
    100000000000ULL, 1000000000000ULL, 10000000000000ULL,
    100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL,
    100000000000000000ULL, 1000000000000000000ULL};

/* Does m * 10^e10 parse back to exactly v? */
static bool json__roundtrips(uint64_t m, int e10, double v) {
  char buf[48];
  char *p = buf + 24, *end = p; /* digits of m written backwards */
  do {
    *--p = (char)('0' + m % 10);
    m /= 10;
  } while (m);
  *end++ = 'e';
  unsigned ue = e10 < 0 ? (unsigned)-e10 : (unsigned)e10;
  if (e10 < 0) *end++ = '-';
  char eb[8];
  int k = 0;
  do {
    eb[k++] = (char)('0' + ue % 10);
    ue /= 10;
  } while (ue);
  while (k) *end++ = eb[--k];
  *end = '\0';
  return strtod(p, NULL) == v;
}

/* The correctly rounded p-digit decimal of v (finite, > 0) as m * 10^e10.
 * It is derived from sig, the 18-digit rounding of v, which is only wrong
 * at an exact tie in those 18 digits ("...d5000"): then the 18-digit value
 * may sit on either side of the true one, and printf is asked directly. */
static void json__round_to(double v, const char *sig, int sexp, int p,
                           uint64_t *mout, int *eout) {
  uint64_t m = 0;
  for (int i = 0; i < p; i++) m = m * 10 + (uint64_t)(sig[i] - '0');
  int e10 = sexp - (p - 1);
  bool up = sig[p] > '5';
  if (sig[p] == '5') {
    bool rest = false;
    for (int i = p + 1; i < 18; i++) rest |= sig[i] != '0';
    if (!rest) { /* tie in the 18 digits: ask printf for p digits */
      char buf[64];
      snprintf(buf, sizeof buf, "%.*e", p - 1, v);
      m = 0;
      const char *q = buf;
      for (; *q && *q != 'e' && *q != 'E'; q++)
        if (*q >= '0' && *q <= '9') m = m * 10 + (uint64_t)(*q - '0');
      *mout = m;
      *eout = (int)strtol(*q ? q + 1 : q, NULL, 10) - (p - 1);
      return;
    }
    up = true;
  }
  if (up && ++m == json__pow10[p]) {
    m = json__pow10[p - 1];
    e10++;
  }
  *mout = m;
  *eout = e10;
}

/* Looks for a p-digit decimal m * 10^e10 that round-trips to v (finite,
 * > 0), preferring the correctly rounded one; lopsided says v's rounding
 * interval is narrower below than above. */
static bool json__probe(double v, const char *sig, int sexp, int p,
                        bool lopsided, uint64_t *mout, int *eout) {
  uint64_t m;
  int e10;
  json__round_to(v, sig, sexp, p, &m, &e10);
  if (json__roundtrips(m, e10, v)) goto found;
  /* In a symmetric interval nothing is closer than c; in a lopsided one a
   * neighbour of c may fit where c does not. */
  if (!lopsided) return false;
  if (json__roundtrips(m + 1, e10, v)) {
    m += 1;
    goto found;
  }
  if (m == json__pow10[p - 1]) { /* 100..0 - 1 in the decade below */
    if (json__roundtrips(json__pow10[p] - 1, e10 - 1, v)) {
      m = json__pow10[p] - 1;
      e10 -= 1;
      goto found;
    }
  } else if (json__roundtrips(m - 1, e10, v)) {
    m -= 1;
    goto found;
  }
  return false;
found:
  *mout = m;
  *eout = e10;
  return true;
}

/* Finds the shortest p whose probe succeeds (p = 17 always does) and
 * leaves that decimal in *m, *e10.  The first guess is where the 18 digits
 * turn into a run of zeros or nines (0.1 is 1.00000000000000006e-1); a
 * right guess costs two probes, a wrong one falls back to binary search. */
static void json__search(double v, uint64_t *m, int *e10) {
  char buf[64], sig[20];
  snprintf(buf, sizeof buf, "%.17e", v); /* d.ddddddddddddddddde[+-]x */
  int ns = 0;
  const char *q = buf;
  for (; *q && *q != 'e' && *q != 'E'; q++)
    if (*q >= '0' && *q <= '9' && ns < 18) sig[ns++] = *q;
  ph_assert(ns == 18);
  int sexp = (int)strtol(*q ? q + 1 : q, NULL, 10);
  uint64_t bits;
  memcpy(&bits, &v, sizeof bits);
  /* A power of two above the smallest normal: the gap below is half the
   * gap above. */
  bool lopsided = (bits & 0xFFFFFFFFFFFFFULL) == 0 && (bits >> 52) > 1;

  int g = 15;
  for (int p = 1; p < 15; p++) {
    bool zeros = true, nines = true;
    for (int i = p; i < 15; i++) {
      zeros &= sig[i] == '0';
      nines &= sig[i] == '9';
    }
    if (zeros || nines) {
      g = p;
      break;
    }
  }
  int lo, hi;
  bool have = false; /* *m, *e10 hold the decimal for hi */
  if (json__probe(v, sig, sexp, g, lopsided, m, e10)) {
    uint64_t m2;
    int e2;
    if (g == 1 || !json__probe(v, sig, sexp, g - 1, lopsided, &m2, &e2))
      return;
    *m = m2;
    *e10 = e2;
    have = true;
    lo = 1;
    hi = g - 1;
  } else {
    lo = g + 1;
    hi = 17;
  }
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (json__probe(v, sig, sexp, mid, lopsided, m, e10)) {
      hi = mid;
      have = true;
    } else {
      lo = mid + 1;
    }
  }
  if (!have) {
    bool ok = json__probe(v, sig, sexp, hi, lopsided, m, e10);
    ph_assert(ok);
  }
}

/* Shortest round-trip digits of |v| (v finite). */
static void json__shortest(double v, json_decimal_t *dec) {
  v = fabs(v);
  if (v == 0) {
    dec->nd = 0;
    dec->dp = 0;
    dec->d[0] = '\0';
    return;
  }
  uint64_t m;
  int e10 = 0;
  if (v < 9007199254740992.0 && v == (double)(uint64_t)v) {
    /* Integers below 2^53 (most counters and gauges): the rounding
     * interval is at most +-0.5 wide, so every shorter decimal is an
     * integer too far away and the digits are the integer's own. */
    m = (uint64_t)v;
  } else {
    json__search(v, &m, &e10);
  }
  char tmp[24];
  int k = snprintf(tmp, sizeof tmp, "%" PRIu64, m);
  dec->dp = k + e10;
  while (k > 1 && tmp[k - 1] == '0') k--;
  memcpy(dec->d, tmp, (size_t)k);
  dec->d[k] = '\0';
  dec->nd = k;
}

/* ---- Go layouts -------------------------------------------------------- */

/* Go's %e with precision nd-1: d.ddde±XX. */
static size_t json__fmt_e(char *b, bool neg, const json_decimal_t *dec) {
  size_t n = 0;
  if (neg) b[n++] = '-';
  b[n++] = dec->nd ? dec->d[0] : '0';
  if (dec->nd > 1) {
    b[n++] = '.';
    for (int i = 1; i < dec->nd; i++) b[n++] = dec->d[i];
  }
  int exp = dec->nd ? dec->dp - 1 : 0;
  b[n++] = 'e';
  b[n++] = exp < 0 ? '-' : '+';
  if (exp < 0) exp = -exp;
  if (exp < 10) {
    b[n++] = '0';
    b[n++] = (char)('0' + exp);
  } else if (exp < 100) {
    b[n++] = (char)('0' + exp / 10);
    b[n++] = (char)('0' + exp % 10);
  } else {
    b[n++] = (char)('0' + exp / 100);
    b[n++] = (char)('0' + exp / 10 % 10);
    b[n++] = (char)('0' + exp % 10);
  }
  return n;
}

/* Go's %f with precision max(nd-dp, 0). */
static size_t json__fmt_f(char *b, size_t cap, bool neg,
                          const json_decimal_t *dec) {
  size_t n = 0;
  if (neg) b[n++] = '-';
  if (dec->dp > 0) {
    ph_assert((size_t)dec->dp + 2 < cap);
    for (int i = 0; i < dec->dp; i++)
      b[n++] = i < dec->nd ? dec->d[i] : '0';
  } else {
    b[n++] = '0';
  }
  int prec = dec->nd - dec->dp;
  if (prec > 0) {
    ph_assert(n + (size_t)prec + 2 < cap);
    b[n++] = '.';
    for (int i = 0; i < prec; i++) {
      int j = dec->dp + i;
      b[n++] = (j < 0 || j >= dec->nd) ? '0' : dec->d[j];
    }
  }
  return n;
}

/* NaN / ±Inf as Go prints them; returns 0 for finite v. */
static size_t json__special(double v, char *b) {
  const char *s = NULL;
  if (isnan(v)) s = "NaN";
  else if (isinf(v)) s = v > 0 ? "+Inf" : "-Inf";
  if (!s) return 0;
  size_t n = strlen(s);
  memcpy(b, s, n);
  return n;
}

/* Layouts write at most 26 bytes for the ranges they are used in. */
enum { JSON_NUMBUF = 40 };

static size_t json__finish(char *buf, size_t buflen, const char *tmp,
                           size_t n) {
  ph_assert(buflen >= 32 && n < buflen);
  memcpy(buf, tmp, n);
  buf[n] = '\0';
  return n;
}

size_t json_format_sample_value(double v, char *buf, size_t buflen) {
  char tmp[JSON_NUMBUF];
  size_t n = json__special(v, tmp);
  if (!n) {
    json_decimal_t dec;
    json__shortest(v, &dec);
    double a = fabs(v);
    bool neg = signbit(v) != 0;
    if (a != 0 && (a < 1e-6 || a >= 1e21))
      n = json__fmt_e(tmp, neg, &dec);
    else
      n = json__fmt_f(tmp, sizeof tmp, neg, &dec);
  }
  return json__finish(buf, buflen, tmp, n);
}

size_t format_float_go_g(double v, char *buf, size_t buflen) {
  char tmp[JSON_NUMBUF];
  size_t n = json__special(v, tmp);
  if (!n) {
    json_decimal_t dec;
    json__shortest(v, &dec);
    bool neg = signbit(v) != 0;
    int exp = dec.dp - 1;
    if (exp < -4 || exp >= 6)
      n = json__fmt_e(tmp, neg, &dec);
    else
      n = json__fmt_f(tmp, sizeof tmp, neg, &dec);
  }
  return json__finish(buf, buflen, tmp, n);
}

size_t json_format_double(double v, char *buf, size_t buflen) {
  char tmp[JSON_NUMBUF];
  size_t n;
  if (isnan(v) || isinf(v)) {
    memcpy(tmp, "null", 4);
    n = 4;
  } else {
    json_decimal_t dec;
    json__shortest(v, &dec);
    double a = fabs(v);
    bool neg = signbit(v) != 0;
    if (a != 0 && (a < 1e-6 || a >= 1e21)) {
      n = json__fmt_e(tmp, neg, &dec);
      /* encoding/json shortens "e-07" to "e-7". */
      if (n >= 4 && tmp[n - 4] == 'e' && tmp[n - 3] == '-' &&
          tmp[n - 2] == '0') {
        tmp[n - 2] = tmp[n - 1];
        n--;
      }
    } else {
      n = json__fmt_f(tmp, sizeof tmp, neg, &dec);
    }
  }
  return json__finish(buf, buflen, tmp, n);
}

/* ---- number values ----------------------------------------------------- */

void json_double(json_writer_t *w, double v) {
  char buf[JSON_NUMBUF];
  size_t n = json_format_double(v, buf, sizeof buf);
  json__before_value(w);
  strbuf_append(w->out, buf, n);
}

void json_sample_value(json_writer_t *w, double v) {
  char buf[JSON_NUMBUF + 2];
  buf[0] = '"';
  size_t n = json_format_sample_value(v, buf + 1, sizeof buf - 2);
  buf[n + 1] = '"';
  json__before_value(w);
  strbuf_append(w->out, buf, n + 2);
}

size_t json_format_timestamp(int64_t ms, char *buf, size_t buflen) {
  ph_assert(buflen >= 32);
  /* Unsigned magnitude, so INT64_MIN needs no special case. */
  uint64_t mag = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
  unsigned frac = (unsigned)(mag % 1000);
  int n;
  if (frac)
    n = snprintf(buf, buflen, "%s%" PRIu64 ".%03u", ms < 0 ? "-" : "",
                 mag / 1000, frac);
  else
    n = snprintf(buf, buflen, "%s%" PRIu64, ms < 0 ? "-" : "", mag / 1000);
  return (size_t)n;
}

void json_timestamp(json_writer_t *w, int64_t ms) {
  char buf[32];
  size_t n = json_format_timestamp(ms, buf, sizeof buf);
  json__before_value(w);
  strbuf_append(w->out, buf, n);
}
