/*
 * expfmt_num.c - numbers and strings for the exposition parser.
 *
 * Float parsing: a scrape has one float per sample, so the common shapes
 * are parsed without strtod.  One pass validates Go's syntax and gathers
 * up to 19 significant decimal digits into a uint64 with a decimal
 * exponent; when there are at most 15 digits and the exponent is within
 * +-22 the result is m * 10^e or m / 10^-e, exact inputs to one IEEE
 * operation and so correctly rounded (Clinger's fast path).  Anything else
 * is copied NUL-terminated and handed to strtod (glibc's is correctly
 * rounded), after the syntax check, so strtod never sees hex, "nan(...)"
 * or leading blanks.  Overflow to infinity is a range error as in Go;
 * underflow to zero is not.
 *
 * Float formatting (for "le"/"quantile" label values): the shortest
 * digits that round-trip come from "%.*e" at increasing precision; they
 * are then laid out the way Go's 'g' with precision -1 does (exponent form
 * when the decimal exponent is < -4 or >= 6, so 1e6 is "1e+06"), and ".0"
 * is added when neither '.' nor 'e' appears.
 *
 * UTF-8 validation follows Go's utf8.Valid; quoting follows Go's %q
 * closely enough for error messages (printable ASCII and valid UTF-8 as
 * is, C escapes for the usual controls, \xNN for other bytes).
 */
#include "expfmt_int.h"

#include "mem.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double pow10_exact[23] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static inline unsigned char lower(unsigned char c) { return c | 0x20; }

/* Length of the common case-insensitive prefix of s[0..n) and word. */
static size_t prefix_ci(const char *s, size_t n, const char *word) {
  size_t i = 0;
  while (i < n && word[i] && lower((unsigned char)s[i]) == (unsigned char)word[i])
    i++;
  return i;
}

static int parse_special(const char *s, size_t n, double *out) {
  size_t i = 0;
  bool neg = false, sign = false;
  if (s[0] == '+' || s[0] == '-') {
    neg = s[0] == '-';
    sign = true;
    i = 1;
  }
  size_t k = prefix_ci(s + i, n - i, "infinity");
  if (k == 3 || k == 8) {
    if (i + k != n) return EXPFMT__FLOAT_SYNTAX;
    *out = neg ? -INFINITY : INFINITY;
    return EXPFMT__FLOAT_OK;
  }
  if (!sign && prefix_ci(s, n, "nan") == 3 && n == 3) {
    *out = NAN;
    return EXPFMT__FLOAT_OK;
  }
  return EXPFMT__FLOAT_SYNTAX;
}

/* Syntax errors are refined afterwards: Prometheus checks for 'p', 'P'
 * and '_' before parsing, and no valid literal here contains them. */
static int parse_float(const char *s, size_t n, double *out);

int expfmt__parse_float(const char *s, size_t n, double *out) {
  int rc = parse_float(s, n, out);
  if (rc == EXPFMT__FLOAT_SYNTAX)
    for (size_t j = 0; j < n; j++)
      if (s[j] == 'p' || s[j] == 'P' || s[j] == '_')
        return EXPFMT__FLOAT_UNSUPPORTED;
  return rc;
}

static int parse_float(const char *s, size_t n, double *out) {
  if (n == 0) return EXPFMT__FLOAT_SYNTAX;
  size_t i = 0;
  bool neg = false;
  if (s[0] == '+' || s[0] == '-') {
    neg = s[0] == '-';
    i = 1;
  }
  if (i < n && (lower((unsigned char)s[i]) == 'i' || lower((unsigned char)s[i]) == 'n'))
    return parse_special(s, n, out);

  uint64_t m = 0;
  int nd = 0;        /* significant digits held in m */
  long dexp = 0;     /* decimal exponent contributed by the mantissa */
  bool digits = false, dot = false, trunc = false;
  for (; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= '0' && c <= '9') {
      digits = true;
      if (m == 0 && c == '0') {
        if (dot) dexp--;
        continue;
      }
      if (nd < 19) {
        m = m * 10 + (uint64_t)(c - '0');
        nd++;
        if (dot) dexp--;
      } else {
        trunc = true;
        if (!dot) dexp++;
      }
    } else if (c == '.' && !dot) {
      dot = true;
    } else {
      break;
    }
  }
  if (!digits) return EXPFMT__FLOAT_SYNTAX;
  long e10 = 0;
  if (i < n) {
    if (lower((unsigned char)s[i]) != 'e') return EXPFMT__FLOAT_SYNTAX;
    i++;
    bool eneg = false;
    if (i < n && (s[i] == '+' || s[i] == '-')) {
      eneg = s[i] == '-';
      i++;
    }
    if (i >= n) return EXPFMT__FLOAT_SYNTAX;
    for (; i < n; i++) {
      unsigned char c = (unsigned char)s[i];
      if (c < '0' || c > '9') return EXPFMT__FLOAT_SYNTAX;
      if (e10 < 100000) e10 = e10 * 10 + (c - '0');
    }
    if (eneg) e10 = -e10;
  }
  e10 += dexp;

  double v;
  if (m == 0) {
    v = 0.0;
  } else if (!trunc && nd <= 15 && e10 >= -22 && e10 <= 22) {
    v = (double)m;
    if (e10 >= 0)
      v *= pow10_exact[e10];
    else
      v /= pow10_exact[-e10];
  } else {
    char stackbuf[128];
    char *tmp = n < sizeof(stackbuf) ? stackbuf : ph_malloc(n + 1);
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    v = strtod(tmp, NULL);
    if (tmp != stackbuf) free(tmp);
    v = fabs(v); /* sign applied below, as for the fast path */
    if (isinf(v)) return EXPFMT__FLOAT_RANGE;
  }
  *out = neg ? -v : v;
  return EXPFMT__FLOAT_OK;
}

size_t expfmt__format_om_float(double v, char *out) {
  if (v == 1.0) return (size_t)(memcpy(out, "1.0", 3), 3);
  if (v == 0.0) return (size_t)(memcpy(out, "0.0", 3), 3);
  if (v == -1.0) return (size_t)(memcpy(out, "-1.0", 4), 4);
  if (isnan(v)) return (size_t)(memcpy(out, "NaN", 3), 3);
  if (isinf(v)) return (size_t)(memcpy(out, v > 0 ? "+Inf" : "-Inf", 4), 4);

  /* Shortest round-trip digits: "d.ddde[+-]XX". */
  char tmp[40];
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, v);
    if (strtod(tmp, NULL) == v) break;
  }
  const char *t = tmp;
  size_t o = 0;
  if (*t == '-') {
    out[o++] = '-';
    t++;
  }
  char dig[20];
  int nd = 0;
  for (; *t && *t != 'e'; t++)
    if (*t >= '0' && *t <= '9' && nd < 19) dig[nd++] = *t;
  while (nd > 1 && dig[nd - 1] == '0') nd--;
  int exp = *t == 'e' ? atoi(t + 1) : 0;

  if (exp < -4 || exp >= 6) { /* Go's %e layout, exponent >= 2 digits */
    out[o++] = dig[0];
    if (nd > 1) {
      out[o++] = '.';
      memcpy(out + o, dig + 1, (size_t)nd - 1);
      o += (size_t)nd - 1;
    }
    out[o++] = 'e';
    out[o++] = exp < 0 ? '-' : '+';
    int ax = exp < 0 ? -exp : exp;
    if (ax >= 100) out[o++] = (char)('0' + ax / 100);
    out[o++] = (char)('0' + (ax / 10) % 10);
    out[o++] = (char)('0' + ax % 10);
    return o; /* has 'e' */
  }
  int dp = exp + 1; /* digits before the decimal point */
  bool has_dot = false;
  if (dp <= 0) {
    out[o++] = '0';
    out[o++] = '.';
    for (int k = 0; k < -dp; k++) out[o++] = '0';
    memcpy(out + o, dig, (size_t)nd);
    o += (size_t)nd;
    has_dot = true;
  } else if (dp >= nd) {
    memcpy(out + o, dig, (size_t)nd);
    o += (size_t)nd;
    for (int k = nd; k < dp; k++) out[o++] = '0';
  } else {
    memcpy(out + o, dig, (size_t)dp);
    o += (size_t)dp;
    out[o++] = '.';
    memcpy(out + o, dig + dp, (size_t)(nd - dp));
    o += (size_t)(nd - dp);
    has_dot = true;
  }
  if (!has_dot) {
    out[o++] = '.';
    out[o++] = '0';
  }
  return o;
}

bool expfmt__utf8_valid(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    /* ASCII runs, 8 bytes at a time. */
    while (i + 8 <= n) {
      uint64_t w;
      memcpy(&w, s + i, 8);
      if (w & 0x8080808080808080ULL) break;
      i += 8;
    }
    if (i >= n) break;
    unsigned char c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t need;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
      need = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      if (c == 0xe0) lo = 0xa0;
      if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      if (c == 0xf0) lo = 0x90;
      if (c == 0xf4) hi = 0x8f;
    } else {
      return false;
    }
    if (n - i - 1 < need) return false;
    if (s[i + 1] < lo || s[i + 1] > hi) return false;
    for (size_t k = 2; k <= need; k++)
      if (s[i + k] < 0x80 || s[i + k] > 0xbf) return false;
    i += need + 1;
  }
  return true;
}

/* Length of the valid UTF-8 sequence at s[0..n), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
  size_t len = s[0] < 0x80 ? 1 : s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
  if (len > n || !expfmt__utf8_valid(s, len)) return 0;
  return len;
}

void expfmt__quote(char *out, size_t cap, size_t *pos, const char *s,
                   size_t n) {
  size_t o = *pos;
  if (cap == 0) return;
  const size_t reserve = 8; /* room for one escape plus "\"..." */
#define PUT(ch) (out[o++] = (char)(ch))
  if (o + 1 < cap) PUT('"');
  const unsigned char *u = (const unsigned char *)s;
  for (size_t i = 0; i < n;) {
    if (o + reserve >= cap) {
      if (o + 4 < cap) {
        PUT('.');
        PUT('.');
        PUT('.');
      }
      break;
    }
    unsigned char c = u[i];
    if (c == '"' || c == '\\') {
      PUT('\\');
      PUT(c);
      i++;
    } else if (c >= 0x20 && c < 0x7f) {
      PUT(c);
      i++;
    } else if (c == '\n' || c == '\t' || c == '\r' || c == '\a' ||
               c == '\b' || c == '\f' || c == '\v') {
      static const char esc[] = "\nn\tt\rr\aa\bb\ff\vv";
      PUT('\\');
      PUT(strchr(esc, c)[1]);
      i++;
    } else {
      size_t k = c >= 0x80 ? utf8_seq(u + i, n - i) : 0;
      if (k > 0 && o + k + reserve < cap) {
        memcpy(out + o, u + i, k);
        o += k;
        i += k;
      } else {
        static const char hex[] = "0123456789abcdef";
        PUT('\\');
        PUT('x');
        PUT(hex[c >> 4]);
        PUT(hex[c & 15]);
        i++;
      }
    }
  }
  if (o + 1 < cap) PUT('"');
#undef PUT
  out[o < cap ? o : cap - 1] = '\0';
  *pos = o;
}
