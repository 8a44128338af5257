/*
 * timeparse.c - Prometheus durations and API times, parsed and printed.
 *
 * Durations (ph_parse_duration) follow prometheus/common model.ParseDuration
 * step by step: "0" alone is zero; otherwise a sequence of terms, each a run
 * of digits (must fit uint64) followed by a run of non-digits that must be
 * one of y w d h m s ms, the units strictly decreasing.  The sum is kept in
 * nanoseconds like Go's time.Duration, so anything above 2^63-1 ns (about
 * 292 years) is "duration out of range", exactly where Prometheus stops; the
 * result is returned in milliseconds.  Messages are Prometheus's:
 *   ""       -> empty duration string
 *   "1.5h"   -> unknown unit "." in duration "1.5h"
 *   "5m1h"   -> not a valid duration string: "5m1h"
 *   "300y"   -> duration out of range                       (PH_ELIMIT)
 *
 * Numbers are read with Go's strconv.ParseFloat grammar, not strtod's (no
 * leading blanks, hex only with a 'p' exponent, inf/infinity/nan spelled
 * out, '_' between digits, overflow is an error, underflow is not).  The
 * text is first rewritten as "<digits>e<exp>" (or "0x<hexdigits>p<exp>")
 * without a radix character, so strtod's locale cannot change the result.
 *
 * Times (ph_parse_time) follow web/api/v1 parseTime: float seconds split
 * with modf, the fraction rounded to milliseconds as Go does it (the same
 * double operations, so results agree to the bit), else RFC 3339 as Go's
 * time.Parse(time.RFC3339Nano) reads it (4-digit year, optional fraction
 * after '.' or ',' truncated to ms, 'Z' or ±hh:mm), else one of the two
 * boundary strings Prometheus's clients send for open ranges
 * (minTimeFormatted / maxTimeFormatted).  Calendar arithmetic is
 * proleptic Gregorian on int64 days (H. Hinnant's civil-date algorithms),
 * independent of TZ, locale and the range of time_t.
 */
#include "timeparse.h"

#include "mem.h"
#include "ph_error.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NS_PER_MS 1000000ULL

/* ---- error quoting ---------------------------------------------------- */

/* Quotes s as Go's %q would for the messages (bytes that are not printable
 * ASCII or valid UTF-8 become \xNN); long inputs are cut with "...". */
static const char *tp__quote(const char *s, size_t n, char *q, size_t qlen) {
  size_t o = 0;
  q[o++] = '"';
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    char tmp[8];
    size_t tl;
    if (c == '"' || c == '\\') {
      tmp[0] = '\\'; tmp[1] = (char)c; tl = 2;
    } else if (c == '\n') {
      memcpy(tmp, "\\n", 2); tl = 2;
    } else if (c == '\t') {
      memcpy(tmp, "\\t", 2); tl = 2;
    } else if (c == '\r') {
      memcpy(tmp, "\\r", 2); tl = 2;
    } else if (c < 0x20 || c >= 0x7f) {
      /* Valid multi-byte UTF-8 is kept; anything else is \xNN. */
      size_t len = 0;
      if (c >= 0xC2 && c <= 0xF4) {
        len = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        if (i + len > n) len = 0;
        for (size_t k = 1; k < len; k++)
          if (((unsigned char)s[i + k] & 0xC0) != 0x80) len = 0;
      }
      if (len) {
        memcpy(tmp, s + i, len);
        tl = len;
        i += len - 1;
      } else {
        snprintf(tmp, sizeof tmp, "\\x%02x", c);
        tl = 4;
      }
    } else {
      tmp[0] = (char)c; tl = 1;
    }
    if (o + tl + 5 > qlen) { /* room for "...\"" and NUL */
      memcpy(q + o, "...", 3);
      o += 3;
      break;
    }
    memcpy(q + o, tmp, tl);
    o += tl;
  }
  q[o++] = '"';
  q[o] = '\0';
  return q;
}

#define TP_QBUF 160

/* ---- durations -------------------------------------------------------- */

static const struct {
  const char *name;
  uint64_t ns;
} tp__units[] = {
    /* position in this table = order rank (1 = largest) minus one */
    {"y", 365ULL * 24 * 3600 * 1000000000ULL},
    {"w", 7ULL * 24 * 3600 * 1000000000ULL},
    {"d", 24ULL * 3600 * 1000000000ULL},
    {"h", 3600ULL * 1000000000ULL},
    {"m", 60ULL * 1000000000ULL},
    {"s", 1000000000ULL},
    {"ms", 1000000ULL},
};

static bool tp__isdigit(char c) { return c >= '0' && c <= '9'; }

int ph_parse_duration(const char *s, size_t len, int64_t *ms, char *err,
                      size_t errlen) {
  char q[TP_QBUF];
  if (len == 1 && s[0] == '0') {
    *ms = 0;
    return 0;
  }
  if (len == 0) return ph_err(err, errlen, PH_EPARSE, "empty duration string");
  uint64_t dur = 0; /* nanoseconds */
  int last = 0;
  size_t i = 0;
  while (i < len) {
    if (!tp__isdigit(s[i])) goto invalid;
    uint64_t v = 0;
    for (; i < len && tp__isdigit(s[i]); i++) {
      unsigned d = (unsigned)(s[i] - '0');
      if (v > (UINT64_MAX - d) / 10) goto invalid; /* ParseUint fails */
      v = v * 10 + d;
    }
    size_t u = i;
    while (i < len && !tp__isdigit(s[i])) i++;
    if (i == u) goto invalid;
    int pos = 0;
    for (size_t k = 0; k < sizeof tp__units / sizeof tp__units[0]; k++) {
      if (strlen(tp__units[k].name) == i - u &&
          memcmp(tp__units[k].name, s + u, i - u) == 0) {
        pos = (int)k + 1;
        break;
      }
    }
    if (!pos) {
      char qu[TP_QBUF];
      return ph_err(err, errlen, PH_EPARSE, "unknown unit %s in duration %s",
                    tp__quote(s + u, i - u, qu, sizeof qu),
                    tp__quote(s, len, q, sizeof q));
    }
    if (pos <= last) goto invalid;
    last = pos;
    uint64_t mult = tp__units[pos - 1].ns;
    if (v > (1ULL << 63) / mult)
      return ph_err(err, errlen, PH_ELIMIT, "duration out of range");
    dur += v * mult;
    if (dur > (uint64_t)INT64_MAX)
      return ph_err(err, errlen, PH_ELIMIT, "duration out of range");
  }
  *ms = (int64_t)(dur / NS_PER_MS);
  return 0;
invalid:
  return ph_err(err, errlen, PH_EPARSE, "not a valid duration string: %s",
                tp__quote(s, len, q, sizeof q));
}

size_t ph_format_duration(int64_t ms, char *buf, size_t buflen) {
  static const struct {
    const char *unit;
    uint64_t mult;
    bool exact; /* only when it divides evenly: "90d", not "12w6d" */
  } parts[] = {
      {"y", 365ULL * 86400000ULL, true}, {"w", 7ULL * 86400000ULL, true},
      {"d", 86400000ULL, false},         {"h", 3600000ULL, false},
      {"m", 60000ULL, false},            {"s", 1000ULL, false},
      {"ms", 1ULL, false},
  };
  ph_assert(buflen >= 32);
  if (ms == 0) return (size_t)snprintf(buf, buflen, "0s");
  uint64_t rest = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
  size_t n = 0;
  if (ms < 0) buf[n++] = '-';
  for (size_t k = 0; k < sizeof parts / sizeof parts[0]; k++) {
    if (parts[k].exact && rest % parts[k].mult != 0) continue;
    uint64_t v = rest / parts[k].mult;
    if (v == 0) continue;
    n += (size_t)snprintf(buf + n, buflen - n, "%llu%s",
                          (unsigned long long)v, parts[k].unit);
    rest -= v * parts[k].mult;
  }
  return n;
}

/* ---- Go's strconv.ParseFloat ------------------------------------------ */

static char tp__lower(char c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

static bool tp__ieq(const char *s, size_t n, const char *lit) {
  if (strlen(lit) != n) return false;
  for (size_t i = 0; i < n; i++)
    if (tp__lower(s[i]) != lit[i]) return false;
  return true;
}

static bool tp__ishex(char c) {
  c = tp__lower(c);
  return tp__isdigit(c) || (c >= 'a' && c <= 'f');
}

/* Go's underscoreOK: '_' only between digits (a base prefix counts). */
static bool tp__underscore_ok(const char *s, size_t n) {
  char saw = '^';
  size_t i = 0;
  if (n >= 1 && (s[0] == '-' || s[0] == '+')) i = 1;
  bool hex = false;
  if (n - i >= 2 && s[i] == '0' &&
      (tp__lower(s[i + 1]) == 'b' || tp__lower(s[i + 1]) == 'o' ||
       tp__lower(s[i + 1]) == 'x')) {
    hex = tp__lower(s[i + 1]) == 'x';
    i += 2;
    saw = '0';
  }
  for (; i < n; i++) {
    if (tp__isdigit(s[i]) || (hex && tp__ishex(s[i]))) {
      saw = '0';
      continue;
    }
    if (s[i] == '_') {
      if (saw != '0') return false;
      saw = '_';
      continue;
    }
    if (saw == '_') return false;
    saw = '!';
  }
  return saw != '_';
}

/* Parses all of s[0..n) as Go's ParseFloat(s, 64) would accept it. */
static bool tp__go_parse_float(const char *s, size_t n, double *out) {
  if (n == 0) return false;
  size_t i = 0;
  bool neg = false;
  if (s[0] == '+' || s[0] == '-') {
    neg = s[0] == '-';
    i = 1;
  }
  if (tp__ieq(s + i, n - i, "inf") || tp__ieq(s + i, n - i, "infinity")) {
    *out = neg ? -INFINITY : INFINITY;
    return true;
  }
  if (i == 0 && tp__ieq(s, n, "nan")) {
    *out = NAN;
    return true;
  }
  bool hex = n - i > 2 && s[i] == '0' && tp__lower(s[i + 1]) == 'x';
  if (hex) i += 2;
  /* Rewrite as [-][0x]<digits>e|p<exp> with no radix character. */
  char *buf = ph_malloc(n + 32);
  size_t o = 0;
  if (neg) buf[o++] = '-';
  if (hex) {
    buf[o++] = '0';
    buf[o++] = 'x';
  }
  bool sawdot = false, sawdigits = false, underscores = false;
  long long frac = 0; /* digits after the point */
  for (; i < n; i++) {
    char c = s[i];
    if (c == '_') {
      underscores = true;
    } else if (c == '.') {
      if (sawdot) goto fail;
      sawdot = true;
    } else if (hex ? tp__ishex(c) : tp__isdigit(c)) {
      sawdigits = true;
      buf[o++] = c;
      if (sawdot) frac++;
    } else {
      break;
    }
  }
  if (!sawdigits) goto fail;
  long long exp = 0;
  if (i < n && tp__lower(s[i]) == (hex ? 'p' : 'e')) {
    i++;
    int esign = 1;
    if (i < n && (s[i] == '+' || s[i] == '-')) {
      if (s[i] == '-') esign = -1;
      i++;
    }
    if (i >= n || !tp__isdigit(s[i])) goto fail;
    for (; i < n && (tp__isdigit(s[i]) || s[i] == '_'); i++) {
      if (s[i] == '_') {
        underscores = true;
        continue;
      }
      if (exp < 100000) exp = exp * 10 + (s[i] - '0');
    }
    exp *= esign;
  } else if (hex) {
    goto fail; /* a hex mantissa needs a 'p' exponent */
  }
  if (i != n) goto fail;
  if (underscores && !tp__underscore_ok(s, n)) goto fail;
  exp -= hex ? 4 * frac : frac;
  snprintf(buf + o, 32, "%c%lld", hex ? 'p' : 'e', exp);
  errno = 0;
  char *end = NULL;
  double v = strtod(buf, &end);
  bool ok = end && *end == '\0' && !(errno == ERANGE && isinf(v));
  free(buf);
  if (ok) *out = v;
  return ok;
fail:
  free(buf);
  return false;
}

int ph_parse_duration_or_seconds(const char *s, size_t len, int64_t *ms,
                                 char *err, size_t errlen) {
  char q[TP_QBUF];
  double d;
  if (tp__go_parse_float(s, len, &d)) {
    if (isnan(d) || d < 0)
      return ph_err(err, errlen, PH_EPARSE,
                    "cannot parse %s to a valid duration: must be a "
                    "non-negative number",
                    tp__quote(s, len, q, sizeof q));
    double ns = d * 1e9;
    if (ns >= 9223372036854775808.0) /* 2^63: beyond time.Duration */
      return ph_err(err, errlen, PH_ELIMIT,
                    "cannot parse %s to a valid duration. It overflows int64",
                    tp__quote(s, len, q, sizeof q));
    *ms = (int64_t)ns / (int64_t)NS_PER_MS;
    return 0;
  }
  int64_t v;
  if (ph_parse_duration(s, len, &v, NULL, 0) == 0) {
    *ms = v;
    return 0;
  }
  return ph_err(err, errlen, PH_EPARSE, "cannot parse %s to a valid duration",
                tp__quote(s, len, q, sizeof q));
}

/* ---- calendar ---------------------------------------------------------- */

static int64_t tp__floordiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
  return q;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t tp__days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = tp__floordiv(y, 400);
  int64_t yoe = y - era * 400;                                  /* [0, 399] */
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1; /* [0, 365] */
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;          /* [0, 146096] */
  return era * 146097 + doe - 719468;
}

static void tp__civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
  z += 719468;
  int64_t era = tp__floordiv(z, 146097);
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

static int tp__days_in_month(int64_t y, int m) {
  static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))) return 29;
  return dm[m - 1];
}

/* ---- times ------------------------------------------------------------- */

/* Prometheus's MinTime / MaxTime (web/api/v1) and their RFC3339Nano text:
 * time.Unix(math.MinInt64/1000+62135596801, 0) and
 * time.Unix(math.MaxInt64/1000-62135596801, 999999999). */
#define TP_MIN_TIME_MS (-9223309901257974000LL)
#define TP_MAX_TIME_MS 9223309901257974999LL
static const char tp__min_time_text[] = "-292273086-05-16T16:47:06Z";
static const char tp__max_time_text[] = "292277025-08-18T07:12:54.999999999Z";

/* Reads n digits at s into *v. */
static bool tp__num(const char *s, int n, int *v) {
  int x = 0;
  for (int i = 0; i < n; i++) {
    if (!tp__isdigit(s[i])) return false;
    x = x * 10 + (s[i] - '0');
  }
  *v = x;
  return true;
}

/* YYYY-MM-DDTHH:MM:SS[(.|,)d+](Z|±hh:mm), as Go's RFC3339Nano layout. */
static bool tp__parse_rfc3339(const char *s, size_t n, int64_t *ms) {
  int Y, M, D, h, mi, sec;
  if (n < 20) return false;
  if (!tp__num(s, 4, &Y) || s[4] != '-' || !tp__num(s + 5, 2, &M) ||
      s[7] != '-' || !tp__num(s + 8, 2, &D) || s[10] != 'T' ||
      !tp__num(s + 11, 2, &h) || s[13] != ':' || !tp__num(s + 14, 2, &mi) ||
      s[16] != ':' || !tp__num(s + 17, 2, &sec))
    return false;
  if (M < 1 || M > 12 || D < 1 || D > tp__days_in_month(Y, M) || h > 23 ||
      mi > 59 || sec > 59)
    return false;
  size_t i = 19;
  int frac_ms = 0; /* first three fraction digits; the rest is dropped */
  if (i + 1 < n && (s[i] == '.' || s[i] == ',') && tp__isdigit(s[i + 1])) {
    int k = 0;
    for (i++; i < n && tp__isdigit(s[i]); i++, k++)
      if (k < 3) frac_ms = frac_ms * 10 + (s[i] - '0');
    for (; k < 3; k++) frac_ms *= 10;
  }
  int64_t off = 0;
  if (i < n && s[i] == 'Z') {
    i++;
  } else if (i + 6 <= n && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
    int oh, om;
    if (!tp__num(s + i + 1, 2, &oh) || !tp__num(s + i + 4, 2, &om))
      return false;
    /* Go's generic parser allows hours up to 24 and minutes up to 60. */
    if (oh > 24 || om > 60) return false;
    off = (int64_t)(oh * 3600 + om * 60);
    if (s[i] == '-') off = -off;
    i += 6;
  } else {
    return false;
  }
  if (i != n) return false;
  int64_t secs = tp__days_from_civil(Y, M, D) * 86400 + h * 3600 + mi * 60 +
                 sec - off;
  *ms = secs * 1000 + frac_ms;
  return true;
}

/* web/api/v1 parseTime's float branch, operation for operation:
 * s, ns := math.Modf(t); ns = math.Round(ns*1000) / 1000;
 * time.Unix(int64(s), int64(ns*1e9)) then timestamp.FromTime. */
static bool tp__float_time(double t, int64_t *ms) {
  if (!isfinite(t)) return false;
  double ip;
  double fp = modf(t, &ip);
  /* int64(s)*1000 must not overflow. */
  if (ip > 9223372036854774.0 || ip < -9223372036854774.0) return false;
  fp = round(fp * 1000) / 1000;
  int64_t sec = (int64_t)ip;
  int64_t nsec = (int64_t)(fp * 1e9);
  if (nsec < 0 || nsec >= 1000000000) { /* time.Unix normalisation */
    int64_t k = nsec / 1000000000;
    sec += k;
    nsec -= k * 1000000000;
    if (nsec < 0) {
      nsec += 1000000000;
      sec--;
    }
  }
  *ms = sec * 1000 + nsec / 1000000;
  return true;
}

int ph_parse_time(const char *s, size_t len, int64_t *ms, char *err,
                  size_t errlen) {
  char q[TP_QBUF];
  double t;
  if (tp__go_parse_float(s, len, &t)) {
    if (tp__float_time(t, ms)) return 0;
  } else if (tp__parse_rfc3339(s, len, ms)) {
    return 0;
  } else if (len == sizeof tp__min_time_text - 1 &&
             memcmp(s, tp__min_time_text, len) == 0) {
    *ms = TP_MIN_TIME_MS;
    return 0;
  } else if (len == sizeof tp__max_time_text - 1 &&
             memcmp(s, tp__max_time_text, len) == 0) {
    *ms = TP_MAX_TIME_MS;
    return 0;
  }
  return ph_err(err, errlen, PH_EPARSE, "cannot parse %s to a valid timestamp",
                tp__quote(s, len, q, sizeof q));
}

size_t ph_format_rfc3339(int64_t ms, char *buf, size_t buflen) {
  ph_assert(buflen >= 32);
  int64_t secs = tp__floordiv(ms, 1000);
  int msec = (int)(ms % 1000);
  if (msec < 0) msec += 1000;
  int64_t days = tp__floordiv(secs, 86400);
  int sod = (int)(secs % 86400);
  if (sod < 0) sod += 86400;
  int64_t y;
  int m, d;
  tp__civil_from_days(days, &y, &m, &d);
  int n = snprintf(buf, buflen, "%s%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ",
                   y < 0 ? "-" : "", (long long)(y < 0 ? -y : y), m, d,
                   sod / 3600, sod / 60 % 60, sod % 60, msec);
  return (size_t)n;
}

int64_t ph_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
