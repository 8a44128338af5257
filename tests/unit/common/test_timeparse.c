/*
 * test_timeparse.c - durations and API times against Prometheus's rules.
 *
 * Expectations follow prometheus/common model.ParseDuration and
 * Duration.String, and web/api/v1 parseTime / parseDuration (Go's
 * strconv.ParseFloat grammar, time.Parse(time.RFC3339Nano), the MinTime /
 * MaxTime boundary strings), including their error messages.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "ph_error.h"
#include "timeparse.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define MS_S 1000LL
#define MS_M (60 * MS_S)
#define MS_H (60 * MS_M)
#define MS_D (24 * MS_H)
#define MS_W (7 * MS_D)
#define MS_Y (365 * MS_D)

typedef struct {
  const char *in;
  int64_t want;
} ok_case_t;

typedef struct {
  const char *in;
  int code;
  const char *msg;
} err_case_t;

typedef int (*parse_fn)(const char *, size_t, int64_t *, char *, size_t);

static void check_ok(parse_fn fn, const ok_case_t *c, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int64_t got = -12345;
    char err[256] = "";
    int rc = fn(c[i].in, strlen(c[i].in), &got, err, sizeof err);
    if (rc != 0)
      fail_msg("\"%s\": rc %d (%s)", c[i].in, rc, err);
    if (got != c[i].want)
      fail_msg("\"%s\": got %lld want %lld", c[i].in, (long long)got,
               (long long)c[i].want);
  }
}

static void check_err(parse_fn fn, const err_case_t *c, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int64_t got = -12345;
    char err[256] = "";
    int rc = fn(c[i].in, strlen(c[i].in), &got, err, sizeof err);
    if (rc != c[i].code)
      fail_msg("\"%s\": rc %d want %d (%s, value %lld)", c[i].in, rc,
               c[i].code, err, (long long)got);
    if (c[i].msg && strcmp(err, c[i].msg) != 0)
      fail_msg("\"%s\": message '%s' want '%s'", c[i].in, err, c[i].msg);
    if (got != -12345) fail_msg("\"%s\": output written on error", c[i].in);
  }
}

/* ---- ph_parse_duration --------------------------------------------------- */

static void test_duration_ok(void **state) {
  (void)state;
  const ok_case_t cases[] = {
      {"0", 0},
      {"0s", 0},
      {"0h0m", 0},
      {"1ms", 1},
      {"1s", MS_S},
      {"1m", MS_M},
      {"1h", MS_H},
      {"1d", MS_D},
      {"1w", MS_W},
      {"1y", MS_Y},
      {"90s", 90 * MS_S},
      {"5m", 5 * MS_M},
      {"1h30m", MS_H + 30 * MS_M},
      {"1s1ms", 1001},
      {"15m30s500ms", 15 * MS_M + 30 * MS_S + 500},
      {"1y2w3d4h5m6s7ms", 33019506007LL},
      {"00001s", MS_S},
      {"1000ms", MS_S},
      {"292y", 292 * MS_Y},
      {"106751d", 106751 * MS_D},
      /* The largest Prometheus accepts: 2^63-1 ns, 9223372036854 ms. */
      {"9223372036854ms", 9223372036854LL},
      {"9223372036s854ms", 9223372036854LL},
  };
  check_ok(ph_parse_duration, cases, sizeof cases / sizeof *cases);
}

static void test_duration_errors(void **state) {
  (void)state;
  const err_case_t cases[] = {
      {"", PH_EPARSE, "empty duration string"},
      {"1.5h", PH_EPARSE, "unknown unit \".\" in duration \"1.5h\""},
      {"-1m", PH_EPARSE, "not a valid duration string: \"-1m\""},
      {"1x", PH_EPARSE, "unknown unit \"x\" in duration \"1x\""},
      {"1Y", PH_EPARSE, "unknown unit \"Y\" in duration \"1Y\""},
      {"5m1h", PH_EPARSE, "not a valid duration string: \"5m1h\""},
      {"1h1h", PH_EPARSE, "not a valid duration string: \"1h1h\""},
      {"1ms1s", PH_EPARSE, "not a valid duration string: \"1ms1s\""},
      {"1m1m", PH_EPARSE, "not a valid duration string: \"1m1m\""},
      {"h", PH_EPARSE, "not a valid duration string: \"h\""},
      {"1", PH_EPARSE, "not a valid duration string: \"1\""},
      {"00", PH_EPARSE, "not a valid duration string: \"00\""},
      {"1h30", PH_EPARSE, "not a valid duration string: \"1h30\""},
      {" 1h", PH_EPARSE, "not a valid duration string: \" 1h\""},
      {"1h ", PH_EPARSE, "unknown unit \"h \" in duration \"1h \""},
      {"1 h", PH_EPARSE, "unknown unit \" h\" in duration \"1 h\""},
      {"+1h", PH_EPARSE, "not a valid duration string: \"+1h\""},
      {"1hm", PH_EPARSE, "unknown unit \"hm\" in duration \"1hm\""},
      {"\"1h", PH_EPARSE, "not a valid duration string: \"\\\"1h\""},
      /* Digits beyond uint64 fail to parse at all. */
      {"18446744073709551616s", PH_EPARSE,
       "not a valid duration string: \"18446744073709551616s\""},
      /* Overflow of int64 nanoseconds, where Prometheus stops. */
      {"293y", PH_ELIMIT, "duration out of range"},
      {"9223372036855ms", PH_ELIMIT, "duration out of range"},
      {"9223372036s855ms", PH_ELIMIT, "duration out of range"},
      {"18446744073709551615s", PH_ELIMIT, "duration out of range"},
      {"292y52w", PH_ELIMIT, "duration out of range"},
  };
  check_err(ph_parse_duration, cases, sizeof cases / sizeof *cases);
}

static void test_duration_lengths_and_bytes(void **state) {
  (void)state;
  int64_t v = 0;
  char err[128];
  /* Only len bytes are read. */
  assert_int_equal(ph_parse_duration("1h30m", 2, &v, err, sizeof err), 0);
  assert_int_equal(v, MS_H);
  assert_int_equal(ph_parse_duration("0s", 1, &v, err, sizeof err), 0);
  assert_int_equal(v, 0);
  /* Embedded NUL and non-ASCII are quoted like Go's %q. */
  assert_int_equal(ph_parse_duration("1h\0", 3, &v, err, sizeof err),
                   PH_EPARSE);
  assert_string_equal(err, "unknown unit \"h\\x00\" in duration \"1h\\x00\"");
  assert_int_equal(ph_parse_duration("1\xff", 2, &v, err, sizeof err),
                   PH_EPARSE);
  assert_string_equal(err, "unknown unit \"\\xff\" in duration \"1\\xff\"");
  assert_int_equal(ph_parse_duration("1\xc3\xa9", 3, &v, err, sizeof err),
                   PH_EPARSE);
  assert_string_equal(err, "unknown unit \"\xc3\xa9\" in duration \"1\xc3\xa9\"");
  /* A NULL or tiny message buffer is fine. */
  assert_int_equal(ph_parse_duration("x", 1, &v, NULL, 0), PH_EPARSE);
  char tiny[4];
  assert_int_equal(ph_parse_duration("xyz", 3, &v, tiny, sizeof tiny),
                   PH_EPARSE);
  assert_true(strlen(tiny) < sizeof tiny);
  /* A very long input is cut in the message, not overflowed. */
  char longin[2000];
  memset(longin, 'q', sizeof longin);
  assert_int_equal(ph_parse_duration(longin, sizeof longin, &v, err,
                                     sizeof err),
                   PH_EPARSE);
  assert_true(strlen(err) < sizeof err);
  assert_non_null(strstr(err, "not a valid duration string: \"qqq"));
}

/* ---- ph_format_duration -------------------------------------------------- */

static void test_format_duration(void **state) {
  (void)state;
  const struct {
    int64_t ms;
    const char *want;
  } cases[] = {
      {0, "0s"},
      {1, "1ms"},
      {999, "999ms"},
      {MS_S, "1s"},
      {1500, "1s500ms"},
      {MS_M, "1m"},
      {90 * MS_S, "1m30s"},
      {90500, "1m30s500ms"},
      {5 * MS_M, "5m"},
      {MS_H + 30 * MS_M, "1h30m"},
      {MS_D, "1d"},
      {25 * MS_H, "1d1h"},
      {MS_W, "1w"},
      {14 * MS_D, "2w"},
      {15 * MS_D, "15d"},   /* weeks only when exact */
      {90 * MS_D, "90d"},   /* not "12w6d" */
      {MS_Y, "1y"},
      {2 * MS_Y, "2y"},
      {366 * MS_D, "366d"}, /* years only when exact */
      {MS_Y + MS_W, "372d"},
      {MS_Y + MS_S, "365d1s"},
      {-5 * MS_M, "-5m"},
      {-1500, "-1s500ms"},
      {INT64_MAX, "106751991167d7h12m55s807ms"},
      {INT64_MIN, "-106751991167d7h12m55s808ms"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char buf[32];
    size_t n = ph_format_duration(cases[i].ms, buf, sizeof buf);
    assert_string_equal(buf, cases[i].want);
    assert_int_equal(n, strlen(cases[i].want));
  }
  /* Printing then parsing gives back the value. */
  const int64_t back[] = {1,       999,       MS_S,      61001,
                          MS_H,    MS_D + 1,  MS_W,      90 * MS_D,
                          MS_Y,    3 * MS_Y,  MS_Y + 17, 9223372036854LL};
  for (size_t i = 0; i < sizeof back / sizeof *back; i++) {
    char buf[32];
    int64_t v = -1;
    size_t n = ph_format_duration(back[i], buf, sizeof buf);
    assert_int_equal(ph_parse_duration(buf, n, &v, NULL, 0), 0);
    assert_int_equal(v, back[i]);
  }
}

/* ---- ph_parse_duration_or_seconds ------------------------------------- */

static void test_duration_or_seconds(void **state) {
  (void)state;
  const ok_case_t ok[] = {
      {"15", 15 * MS_S},
      {"0", 0},
      {"-0", 0},
      {"0.5", 500},
      {".5", 500},
      {"5.", 5 * MS_S},
      {"1.5", 1500},
      {"+2", 2 * MS_S},
      {"1e3", 1000 * MS_S},
      {"1E-3", 1},
      {"0.0001", 0},      /* whole nanoseconds, then truncated to ms */
      {"0.0019", 1},
      {"1_000", 1000 * MS_S},
      {"0x10p0", 16 * MS_S},
      {"0x1.8p1", 3 * MS_S},
      {"9223372036", 9223372036000LL},
      {"1m", MS_M},
      {"1h30m", MS_H + 30 * MS_M},
      {"5m30s", 5 * MS_M + 30 * MS_S},
      {"100ms", 100},
  };
  check_ok(ph_parse_duration_or_seconds, ok, sizeof ok / sizeof *ok);
  const err_case_t bad[] = {
      {"", PH_EPARSE, "cannot parse \"\" to a valid duration"},
      {"abc", PH_EPARSE, "cannot parse \"abc\" to a valid duration"},
      {"1.5h", PH_EPARSE, "cannot parse \"1.5h\" to a valid duration"},
      {"300y", PH_EPARSE, "cannot parse \"300y\" to a valid duration"},
      {" 15", PH_EPARSE, "cannot parse \" 15\" to a valid duration"},
      {"15 ", PH_EPARSE, "cannot parse \"15 \" to a valid duration"},
      {"0x10", PH_EPARSE, "cannot parse \"0x10\" to a valid duration"},
      {"1__0", PH_EPARSE, NULL},
      {"_10", PH_EPARSE, NULL},
      {"10_", PH_EPARSE, NULL},
      {"1e", PH_EPARSE, NULL},
      {"1e+", PH_EPARSE, NULL},
      {".", PH_EPARSE, NULL},
      {"1.2.3", PH_EPARSE, NULL},
      {"1e400", PH_EPARSE, NULL}, /* ParseFloat's range error */
      {"-1", PH_EPARSE,
       "cannot parse \"-1\" to a valid duration: must be a non-negative "
       "number"},
      {"-0.5", PH_EPARSE, NULL},
      {"-1m", PH_EPARSE, NULL},
      {"NaN", PH_EPARSE, NULL},
      {"-Inf", PH_EPARSE, NULL},
      {"Inf", PH_ELIMIT,
       "cannot parse \"Inf\" to a valid duration. It overflows int64"},
      {"1e10", PH_ELIMIT,
       "cannot parse \"1e10\" to a valid duration. It overflows int64"},
      {"9223372037", PH_ELIMIT, NULL},
  };
  check_err(ph_parse_duration_or_seconds, bad, sizeof bad / sizeof *bad);
}

/* ---- ph_parse_time ------------------------------------------------------- */

static void test_time_float_seconds(void **state) {
  (void)state;
  const ok_case_t cases[] = {
      {"0", 0},
      {"1700000000", 1700000000000LL},
      {"1700000000.123", 1700000000123LL},
      {"1435781451.781", 1435781451781LL},
      {"-1435781451.781", -1435781451781LL},
      {"1.5", 1500},
      {"-1.5", -1500},
      {"+1.5", 1500},
      {".5", 500},
      {"1e9", 1000000000000LL},
      {"1.7e9", 1700000000000LL},
      {"0.001", 1},
      {"-0.001", -1},
      /* Go rounds the modf fraction to ms, half away from zero. */
      {"0.0005", 1},
      {"-0.0005", -1},
      {"0.0004999", 0},
      {"0.9999", 1000},
      {"1.001", 1001},
      /* ...on the binary value: 1.0005 is 1.000499999.., 2.0005 is
       * 2.000500000.. */
      {"1.0005", 1000},
      {"2.0005", 2001},
      {"1700000000.0015", 1700000000001LL},
      {"1e15", 1000000000000000000LL},
      {"9223372036854.775", 9223372036854775LL},
      {"0x1p4", 16000},
  };
  check_ok(ph_parse_time, cases, sizeof cases / sizeof *cases);
}

static void test_time_rfc3339(void **state) {
  (void)state;
  const ok_case_t cases[] = {
      {"1970-01-01T00:00:00Z", 0},
      {"2015-07-01T20:10:30.781Z", 1435781430781LL},
      {"2015-07-01T20:10:30Z", 1435781430000LL},
      {"2015-07-01T20:10:30.7Z", 1435781430700LL},
      {"2015-07-01T20:10:30.78Z", 1435781430780LL},
      {"2015-07-01T20:10:30.781999999Z", 1435781430781LL}, /* truncated */
      {"2015-07-01T20:10:30.78199999999999Z", 1435781430781LL},
      {"2015-07-01T20:10:30,5Z", 1435781430500LL}, /* Go takes a comma */
      {"2015-07-01T20:10:30+00:00", 1435781430000LL},
      {"2015-07-01T20:10:30-00:00", 1435781430000LL},
      {"2015-07-01T20:10:30-05:30", 1435801230000LL},
      {"2026-11-25T12:00:00.5+01:00", 1795604400500LL},
      {"2026-11-25T12:00:00Z", 1795608000000LL},
      {"1969-12-31T23:59:59.999Z", -1},
      {"2000-02-29T00:00:00Z", 951782400000LL},
      {"0000-01-01T00:00:00Z", -62167219200000LL},
      {"9999-12-31T23:59:59.999Z", 253402300799999LL},
      /* The boundary strings Prometheus's own clients send. */
      {"-292273086-05-16T16:47:06Z", -9223309901257974000LL},
      {"292277025-08-18T07:12:54.999999999Z", 9223309901257974999LL},
  };
  check_ok(ph_parse_time, cases, sizeof cases / sizeof *cases);
}

static void test_time_errors(void **state) {
  (void)state;
  const err_case_t cases[] = {
      {"", PH_EPARSE, "cannot parse \"\" to a valid timestamp"},
      {"abc", PH_EPARSE, "cannot parse \"abc\" to a valid timestamp"},
      {"now", PH_EPARSE, NULL},
      {" 1", PH_EPARSE, NULL},
      {"1 ", PH_EPARSE, NULL},
      {"0x1", PH_EPARSE, NULL}, /* hex needs a 'p' exponent */
      {"NaN", PH_EPARSE, NULL},
      {"Inf", PH_EPARSE, NULL},
      {"-Infinity", PH_EPARSE, NULL},
      {"1e400", PH_EPARSE, NULL},
      {"1e300", PH_EPARSE, NULL}, /* milliseconds beyond int64 */
      {"2015-07-01", PH_EPARSE, NULL},
      {"2015-07-01T20:10:30", PH_EPARSE, NULL}, /* no zone */
      {"2015-07-01t20:10:30Z", PH_EPARSE, NULL},
      {"2015-07-01T20:10:30z", PH_EPARSE, NULL},
      {"2015-07-01 20:10:30Z", PH_EPARSE, NULL},
      {"2015-07-01T20:10:30.Z", PH_EPARSE, NULL},
      {"2015-07-01T20:10:30+0100", PH_EPARSE, NULL},
      {"2015-07-01T20:10:30+01", PH_EPARSE, NULL},
      {"2015-07-01T20:10:30Zjunk", PH_EPARSE, NULL},
      {"2015-7-01T20:10:30Z", PH_EPARSE, NULL},
      {"2015-07-01T2:10:30Z", PH_EPARSE, NULL},
      {"2015-13-01T20:10:30Z", PH_EPARSE, NULL},
      {"2015-00-01T20:10:30Z", PH_EPARSE, NULL},
      {"2015-07-00T20:10:30Z", PH_EPARSE, NULL},
      {"2015-06-31T20:10:30Z", PH_EPARSE, NULL},
      {"2001-02-29T00:00:00Z", PH_EPARSE, NULL},
      {"1900-02-29T00:00:00Z", PH_EPARSE, NULL},
      {"2015-07-01T24:00:00Z", PH_EPARSE, NULL},
      {"2015-07-01T20:60:00Z", PH_EPARSE, NULL},
      {"2015-07-01T20:10:60Z", PH_EPARSE, NULL},
      {"+2015-07-01T20:10:30Z", PH_EPARSE, NULL},
      {"12015-07-01T20:10:30Z", PH_EPARSE, NULL},
      /* Only the exact boundary strings, not other extended years. */
      {"-292273086-05-17T16:47:06Z", PH_EPARSE, NULL},
      {"292277025-08-18T07:12:54.999Z", PH_EPARSE, NULL},
  };
  check_err(ph_parse_time, cases, sizeof cases / sizeof *cases);
}

/* ---- ph_format_rfc3339 / ph_now_ms ---------------------------------- */

static void test_format_rfc3339(void **state) {
  (void)state;
  const struct {
    int64_t ms;
    const char *want;
  } cases[] = {
      {0, "1970-01-01T00:00:00.000Z"},
      {1, "1970-01-01T00:00:00.001Z"},
      {-1, "1969-12-31T23:59:59.999Z"},
      {-1000, "1969-12-31T23:59:59.000Z"},
      {1435781430781LL, "2015-07-01T20:10:30.781Z"},
      {951782400000LL, "2000-02-29T00:00:00.000Z"},
      {1795608000000LL, "2026-11-25T12:00:00.000Z"},
      {253402300799999LL, "9999-12-31T23:59:59.999Z"},
      {-62167219200000LL, "0000-01-01T00:00:00.000Z"},
      {-62167219200001LL, "-0001-12-31T23:59:59.999Z"},
      {-9223309901257974000LL, "-292273086-05-16T16:47:06.000Z"},
      {9223309901257974999LL, "292277025-08-18T07:12:54.999Z"},
      {INT64_MAX, "292278994-08-17T07:12:55.807Z"},
      {INT64_MIN, "-292275055-05-16T16:47:04.192Z"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char buf[32];
    size_t n = ph_format_rfc3339(cases[i].ms, buf, sizeof buf);
    assert_string_equal(buf, cases[i].want);
    assert_int_equal(n, strlen(cases[i].want));
  }
  /* Format then parse is the identity across years 0..9999. */
  uint64_t x = 12345;
  for (int i = 0; i < 20000; i++) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    int64_t ms = (int64_t)(x >> 16) % 315537897600000LL - 62167219200000LL;
    char buf[32];
    size_t n = ph_format_rfc3339(ms, buf, sizeof buf);
    int64_t back = 0;
    char err[128];
    if (ph_parse_time(buf, n, &back, err, sizeof err) != 0 || back != ms)
      fail_msg("%lld -> %s -> %lld (%s)", (long long)ms, buf,
               (long long)back, err);
  }
}

static void test_now(void **state) {
  (void)state;
  /* Bracket with the same clock: time() reads the coarse clock, which may
   * lag CLOCK_REALTIME by a tick and so land on the previous second. */
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int64_t before = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
  int64_t now = ph_now_ms();
  clock_gettime(CLOCK_REALTIME, &ts);
  int64_t after = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
  assert_true(now >= before && now <= after);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_duration_ok),
      cmocka_unit_test(test_duration_errors),
      cmocka_unit_test(test_duration_lengths_and_bytes),
      cmocka_unit_test(test_format_duration),
      cmocka_unit_test(test_duration_or_seconds),
      cmocka_unit_test(test_time_float_seconds),
      cmocka_unit_test(test_time_rfc3339),
      cmocka_unit_test(test_time_errors),
      cmocka_unit_test(test_format_rfc3339),
      cmocka_unit_test(test_now),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
