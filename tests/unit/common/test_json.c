/*
 * test_json.c - the JSON writer and the Go/Prometheus number formats.
 *
 * Expected strings are what Go produces: strconv.FormatFloat(v,'f'|'e',-1)
 * as Prometheus's jsonutil.MarshalValue picks them, FormatFloat(v,'g',-1)
 * for the exposition format, encoding/json for plain numbers,
 * jsonutil.MarshalTimestamp for timestamps, and jsoniter's HTML-escaping
 * string encoder.  A pseudo-random sweep checks every formatted double
 * parses back to the same bits and that no shorter decimal would have.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "json.h"
#include "strbuf.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
  double v;
  const char *want;
} num_case_t;

static double from_bits(uint64_t b) {
  double v;
  memcpy(&v, &b, sizeof v);
  return v;
}

static uint64_t to_bits(double v) {
  uint64_t b;
  memcpy(&b, &v, sizeof b);
  return b;
}

static void check_table(size_t (*fn)(double, char *, size_t),
                        const num_case_t *cases, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char buf[64];
    memset(buf, 'x', sizeof buf);
    size_t len = fn(cases[i].v, buf, sizeof buf);
    if (strcmp(buf, cases[i].want) != 0 || len != strlen(cases[i].want))
      fail_msg("case %zu (%.17g, bits %016" PRIx64 "): got \"%s\" (len %zu), "
               "want \"%s\"",
               i, cases[i].v, to_bits(cases[i].v), buf, len, cases[i].want);
  }
}

/* ---- sample values (jsonutil.MarshalValue) ---------------------------- */

static void test_sample_value_table(void **state) {
  (void)state;
  const num_case_t cases[] = {
      {0.0, "0"},
      {-0.0, "-0"},
      {1.0, "1"},
      {-1.0, "-1"},
      {100.0, "100"},
      {0.1, "0.1"},
      {0.1 + 0.2, "0.30000000000000004"},
      {1.0 / 3.0, "0.3333333333333333"},
      {2.0 / 3.0, "0.6666666666666666"},
      {1e6, "1000000"},
      {123456789012.0, "123456789012"},
      {1234567.891, "1234567.891"},
      {1.5, "1.5"},
      {-273.15, "-273.15"},
      {1e-6, "0.000001"},          /* the boundary is still 'f' */
      {1.5e-6, "0.0000015"},
      {9.99e-7, "9.99e-07"},       /* just below it is 'e' */
      {1e-7, "1e-07"},
      {-1.5e-7, "-1.5e-07"},
      {1e-10, "1e-10"},
      {1e-100, "1e-100"},
      {1e20, "100000000000000000000"},
      {999999999999999900000.0, "999999999999999900000"},
      {1e21, "1e+21"},
      {1.5e21, "1.5e+21"},
      {-1e21, "-1e+21"},
      {1e100, "1e+100"},
      {9223372036854775808.0, "9223372036854776000"}, /* 2^63 */
      {18446744073709551616.0, "18446744073709552000"}, /* Go pads zeros */
      {5e-324, "5e-324"},                               /* smallest denormal */
      {2.2250738585072014e-308, "2.2250738585072014e-308"},
      {DBL_MAX, "1.7976931348623157e+308"},
      {-DBL_MAX, "-1.7976931348623157e+308"},
      {1435781451.781, "1435781451.781"},
      {NAN, "NaN"},
      {-NAN, "NaN"},
      {INFINITY, "+Inf"},
      {-INFINITY, "-Inf"},
      /* Powers of two whose rounding interval is lopsided: the shortest
       * decimal is not the correctly rounded one of that length. */
      {0x1p-24, "5.960464477539063e-08"},
      {0x1p-1017, "7.120236347223045e-307"},
      {0x1p-791, "7.678447687145631e-239"},
      {0x1p53, "9007199254740992"},
      {0x1p60, "1152921504606847000"},
  };
  check_table(json_format_sample_value, cases, sizeof cases / sizeof *cases);
  /* The staleness marker is a NaN like any other. */
  char buf[32];
  json_format_sample_value(from_bits(0x7ff0000000000002ULL), buf, sizeof buf);
  assert_string_equal(buf, "NaN");
}

/* ---- Go 'g' (exposition format) ---------------------------------------- */

static void test_go_g_table(void **state) {
  (void)state;
  const num_case_t cases[] = {
      {0.0, "0"},
      {-0.0, "-0"},
      {1.0, "1"},
      {100.0, "100"},
      {123456.0, "123456"},
      {999999.0, "999999"},
      {999999.5, "999999.5"},
      {1e6, "1e+06"},
      {1234567.0, "1.234567e+06"},
      {123456789012.0, "1.23456789012e+11"},
      {1.073741824e9, "1.073741824e+09"},
      {18446744073709551616.0, "1.8446744073709552e+19"},
      {0.1, "0.1"},
      {0.1 + 0.2, "0.30000000000000004"},
      {1.0 / 3.0, "0.3333333333333333"},
      {0.0001, "0.0001"},
      {0.00012, "0.00012"},
      {0.00001, "1e-05"},
      {1.305e-06, "1.305e-06"},
      {1e-7, "1e-07"},
      {1e21, "1e+21"},
      {1e100, "1e+100"},
      {-1.5, "-1.5"},
      {-2e6, "-2e+06"},
      {5e-324, "5e-324"},
      {DBL_MAX, "1.7976931348623157e+308"},
      {0x1p-24, "5.960464477539063e-08"},
      {NAN, "NaN"},
      {INFINITY, "+Inf"},
      {-INFINITY, "-Inf"},
  };
  check_table(format_float_go_g, cases, sizeof cases / sizeof *cases);
}

/* ---- plain JSON numbers (encoding/json) ------------------------------- */

static void test_double_table(void **state) {
  (void)state;
  const num_case_t cases[] = {
      {0.0, "0"},
      {-0.0, "-0"},
      {123.0, "123"},
      {0.5, "0.5"},
      {0.1 + 0.2, "0.30000000000000004"},
      {1e6, "1000000"},
      {1e20, "100000000000000000000"},
      {1e21, "1e+21"},
      {1.5e300, "1.5e+300"},
      {1e-6, "0.000001"},
      {1e-7, "1e-7"},     /* encoding/json drops the exponent's zero */
      {-2.5e-9, "-2.5e-9"},
      {1.5e-10, "1.5e-10"},
      {1e-100, "1e-100"},
      {5e-324, "5e-324"},
      {DBL_MAX, "1.7976931348623157e+308"},
      {NAN, "null"},
      {INFINITY, "null"},
      {-INFINITY, "null"},
  };
  check_table(json_format_double, cases, sizeof cases / sizeof *cases);
}

/* ---- timestamps (jsonutil.MarshalTimestamp) --------------------------- */

static void test_timestamp_table(void **state) {
  (void)state;
  const struct {
    int64_t ms;
    const char *want;
  } cases[] = {
      {0, "0"},
      {1, "0.001"},
      {10, "0.010"},
      {999, "0.999"},
      {1000, "1"},
      {1001, "1.001"},
      {1010, "1.010"},
      {1500, "1.500"},
      {1435781451781, "1435781451.781"},
      {1700000000000, "1700000000"},
      {-1, "-0.001"},
      {-1000, "-1"},
      {-1500, "-1.500"},
      {-62167219200000, "-62167219200"},
      {INT64_MAX, "9223372036854775.807"},
      {INT64_MIN, "-9223372036854775.808"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char buf[32];
    size_t n = json_format_timestamp(cases[i].ms, buf, sizeof buf);
    assert_string_equal(buf, cases[i].want);
    assert_int_equal(n, strlen(cases[i].want));
  }
  /* The writer emits the same text as a bare number. */
  strbuf_t out = STRBUF_INIT;
  json_writer_t *w = json_writer_new(&out);
  json_array_begin(w);
  json_timestamp(w, 1500);
  json_sample_value(w, 1.5);
  json_timestamp(w, -1);
  json_array_end(w);
  assert_string_equal(strbuf_cstr(&out), "[1.500,\"1.5\",-0.001]");
  json_writer_free(w);
  strbuf_free(&out);
}

/* ---- writer ---------------------------------------------------------- */

static void test_writer_structure(void **state) {
  (void)state;
  strbuf_t out = STRBUF_INIT;
  json_writer_t *w = json_writer_new(&out);
  assert_false(json_writer_complete(w));
  json_object_begin(w);
  json_key(w, "status");
  json_string(w, "success");
  json_key(w, "data");
  json_object_begin(w);
  json_key(w, "resultType");
  json_string(w, "vector");
  json_key(w, "result");
  json_array_begin(w);
  json_object_begin(w);
  json_key(w, "metric");
  json_object_begin(w);
  json_object_end(w);
  json_key(w, "value");
  json_array_begin(w);
  json_timestamp(w, 1435781451781);
  json_sample_value(w, 1);
  json_array_end(w);
  json_object_end(w);
  json_array_end(w);
  json_object_end(w);
  json_key(w, "empty");
  json_array_begin(w);
  json_array_end(w);
  json_key(w, "misc");
  json_array_begin(w);
  json_int(w, -42);
  json_int(w, INT64_MIN);
  json_uint(w, UINT64_MAX);
  json_double(w, 0.25);
  json_double(w, NAN);
  json_bool(w, true);
  json_bool(w, false);
  json_null(w);
  json_raw(w, "{\"a\":[1,2]}", 11);
  json_string_n(w, "abcdef", 3);
  json_string_n(w, NULL, 0);
  json_array_end(w);
  json_object_end(w);
  assert_true(json_writer_complete(w));
  assert_string_equal(
      strbuf_cstr(&out),
      "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","
      "\"result\":[{\"metric\":{},\"value\":[1435781451.781,\"1\"]}]},"
      "\"empty\":[],\"misc\":[-42,-9223372036854775808,"
      "18446744073709551615,0.25,null,true,false,null,{\"a\":[1,2]},"
      "\"abc\",\"\"]}");

  /* Reset allows a second document into a fresh buffer. */
  strbuf_reset(&out);
  json_writer_reset(w);
  assert_false(json_writer_complete(w));
  json_string(w, "x");
  assert_true(json_writer_complete(w));
  assert_string_equal(strbuf_cstr(&out), "\"x\"");
  json_writer_free(w);
  strbuf_free(&out);
}

static void test_writer_deep_nesting(void **state) {
  (void)state;
  enum { DEPTH = 2000 };
  strbuf_t out = STRBUF_INIT;
  json_writer_t *w = json_writer_new(&out);
  for (int i = 0; i < DEPTH; i++) {
    if (i % 2) {
      json_object_begin(w);
      json_key(w, "k");
    } else {
      json_array_begin(w);
      json_int(w, i);
    }
  }
  json_null(w);
  for (int i = DEPTH - 1; i >= 0; i--) {
    if (i % 2)
      json_object_end(w);
    else
      json_array_end(w);
  }
  assert_true(json_writer_complete(w));
  /* Spot-check the opening and the middle. */
  assert_memory_equal(out.data, "[0,{\"k\":[2,{\"k\":", 16);
  assert_non_null(strstr(out.data, "[1998,{\"k\":null}]"));
  size_t opens = 0, closes = 0;
  for (size_t i = 0; i < out.len; i++) {
    opens += out.data[i] == '[' || out.data[i] == '{';
    closes += out.data[i] == ']' || out.data[i] == '}';
  }
  assert_int_equal(opens, DEPTH);
  assert_int_equal(closes, DEPTH);
  json_writer_free(w);
  strbuf_free(&out);
}

/* ---- string escaping ---------------------------------------------------- */

static void test_string_escaping(void **state) {
  (void)state;
  const struct {
    const char *in;
    size_t len;
    const char *want;
  } cases[] = {
#define C(in, want) {in, sizeof(in) - 1, want}
      C("", "\"\""),
      C("plain text 123", "\"plain text 123\""),
      C("a\"b", "\"a\\\"b\""),
      C("back\\slash", "\"back\\\\slash\""),
      C("\n\r\t", "\"\\n\\r\\t\""),
      C("\b\f", "\"\\u0008\\u000c\""), /* jsoniter: no \b \f short forms */
      C("\x01\x1f", "\"\\u0001\\u001f\""),
      C("a\0b", "\"a\\u0000b\""),
      C("<script>&amp;", "\"\\u003cscript\\u003e\\u0026amp;\""),
      C("\x7f", "\"\x7f\""),                         /* DEL passes */
      C("/", "\"/\""),
      C("caf\xc3\xa9", "\"caf\xc3\xa9\""),           /* é */
      C("\xe2\x82\xac", "\"\xe2\x82\xac\""),         /* € */
      C("\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\""), /* emoji */
      C("\xef\xbf\xbd", "\"\xef\xbf\xbd\""),         /* a real U+FFFD */
      C("a\xe2\x80\xa8" "b\xe2\x80\xa9", "\"a\\u2028b\\u2029\""),
      C("\xff", "\"\\ufffd\""),
      C("a\x80z", "\"a\\ufffdz\""),                     /* lone continuation */
      C("\xc3", "\"\\ufffd\""),                         /* truncated at end */
      C("\xe2\x82", "\"\\ufffd\\ufffd\""),
      C("\xe2\x82x", "\"\\ufffd\\ufffdx\""),
      C("\xc0\xaf", "\"\\ufffd\\ufffd\""),              /* overlong '/' */
      C("\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\""),   /* overlong */
      C("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\""),   /* surrogate */
      C("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""), /* >10FFFF */
      C("\xf5\x80", "\"\\ufffd\\ufffd\""),
      C("x\xc3\xa9\xff\xc3\xa9<", "\"x\xc3\xa9\\ufffd\xc3\xa9\\u003c\""),
#undef C
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    strbuf_t out = STRBUF_INIT;
    json_writer_t *w = json_writer_new(&out);
    json_string_n(w, cases[i].in, cases[i].len);
    if (strcmp(strbuf_cstr(&out), cases[i].want) != 0)
      fail_msg("case %zu: got %s want %s", i, strbuf_cstr(&out),
               cases[i].want);
    json_writer_free(w);
    strbuf_free(&out);
  }
  /* Keys are escaped the same way. */
  strbuf_t out = STRBUF_INIT;
  json_writer_t *w = json_writer_new(&out);
  json_object_begin(w);
  json_key(w, "a<b\"");
  json_int(w, 1);
  json_key(w, "");
  json_int(w, 2);
  json_object_end(w);
  assert_string_equal(strbuf_cstr(&out), "{\"a\\u003cb\\\"\":1,\"\":2}");
  json_writer_free(w);
  strbuf_free(&out);
}

/* ---- misuse is a loud assertion --------------------------------------- */

typedef void (*misuse_fn)(json_writer_t *w);

static void misuse_value_without_key(json_writer_t *w) {
  json_object_begin(w);
  json_int(w, 1);
}
static void misuse_key_in_array(json_writer_t *w) {
  json_array_begin(w);
  json_key(w, "k");
}
static void misuse_wrong_end(json_writer_t *w) {
  json_array_begin(w);
  json_object_end(w);
}
static void misuse_dangling_key(json_writer_t *w) {
  json_object_begin(w);
  json_key(w, "k");
  json_object_end(w);
}
static void misuse_two_keys(json_writer_t *w) {
  json_object_begin(w);
  json_key(w, "a");
  json_key(w, "b");
}
static void misuse_end_without_begin(json_writer_t *w) { json_array_end(w); }
static void misuse_two_top_values(json_writer_t *w) {
  json_int(w, 1);
  json_int(w, 2);
}
static void misuse_key_at_top(json_writer_t *w) { json_key(w, "k"); }

static void test_misuse_asserts(void **state) {
  (void)state;
  const misuse_fn fns[] = {
      misuse_value_without_key, misuse_key_in_array, misuse_wrong_end,
      misuse_dangling_key,      misuse_two_keys,     misuse_end_without_begin,
      misuse_two_top_values,    misuse_key_at_top,
  };
  for (size_t i = 0; i < sizeof fns / sizeof *fns; i++) {
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      /* Keep the expected assertion message out of the test log. */
      if (!freopen("/dev/null", "w", stderr)) _exit(3);
      strbuf_t out = STRBUF_INIT;
      json_writer_t *w = json_writer_new(&out);
      fns[i](w);
      _exit(0); /* reached only if the misuse went unnoticed */
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT))
      fail_msg("misuse %zu was not caught (status 0x%x)", i, st);
  }
}

/* ---- round-trip sweep ----------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rng_next(void) { /* xorshift64*, fixed seed */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 2685821657736338717ULL;
}

/* Significant digits of a formatted number, as an integer and a count;
 * returns the count. */
static int sig_digits(const char *s, char *digits) {
  int n = 0;
  bool started = false;
  for (; *s && *s != 'e'; s++) {
    if (*s < '0' || *s > '9') continue;
    if (*s == '0' && !started) continue;
    started = true;
    digits[n++] = *s;
  }
  while (n > 0 && digits[n - 1] == '0') n--; /* 'f' padding zeros */
  digits[n] = '\0';
  return n;
}

/* Does any (p)-digit decimal near v round-trip?  The correctly rounded one
 * and its two neighbours are the only candidates. */
static bool some_p_digits_roundtrip(double v, int p) {
  char buf[64];
  snprintf(buf, sizeof buf, "%.*e", p - 1, fabs(v));
  uint64_t m = 0;
  char *e = strchr(buf, 'e');
  for (char *q = buf; q < e; q++)
    if (*q >= '0' && *q <= '9') m = m * 10 + (uint64_t)(*q - '0');
  int e10 = atoi(e + 1) - (p - 1);
  const int64_t deltas[] = {0, 1, -1};
  for (int k = 0; k < 3; k++) {
    uint64_t mm = m + (uint64_t)deltas[k];
    int ee = e10;
    if (mm == 0) continue;
    char t[64];
    snprintf(t, sizeof t, "%" PRIu64 "e%d", mm, ee);
    if (strtod(t, NULL) == fabs(v)) return true;
    if (deltas[k] == -1) { /* the finer grid of the decade below */
      uint64_t p10 = 1;
      for (int i = 0; i < p; i++) p10 *= 10;
      if (m == p10 / 10) {
        snprintf(t, sizeof t, "%" PRIu64 "e%d", p10 - 1, ee - 1);
        if (strtod(t, NULL) == fabs(v)) return true;
      }
    }
  }
  return false;
}

static void check_roundtrip(double v, size_t (*fn)(double, char *, size_t),
                            bool check_minimal) {
  char buf[64];
  fn(v, buf, sizeof buf);
  double back = strtod(buf, NULL);
  if (to_bits(back) != to_bits(v))
    fail_msg("%016" PRIx64 " -> \"%s\" -> %016" PRIx64, to_bits(v), buf,
             to_bits(back));
  if (!check_minimal || v == 0 || !isfinite(v)) return;
  char digits[32];
  int n = sig_digits(buf, digits);
  if (n < 1 || n > 17) fail_msg("\"%s\": %d significant digits", buf, n);
  if (n > 1 && some_p_digits_roundtrip(v, n - 1))
    fail_msg("\"%s\" is longer than needed", buf);
}

static void test_roundtrip_sweep(void **state) {
  (void)state;
  for (int i = 0; i < 100000; i++) {
    uint64_t bits = rng_next();
    switch (i % 4) {
    case 1: /* magnitudes people actually store: 1e-12 .. 1e12 */
      bits = (bits & 0x800FFFFFFFFFFFFFULL) |
             ((uint64_t)(1023 - 40 + (int)(rng_next() % 80)) << 52);
      break;
    case 2: /* few mantissa bits: short decimals and lopsided intervals */
      bits &= 0xFFF00000000000FFULL;
      break;
    case 3: /* integers */
      bits = to_bits((double)(int64_t)(rng_next() >> (rng_next() % 64)));
      break;
    default:
      break;
    }
    double v = from_bits(bits);
    if (isnan(v)) continue;
    check_roundtrip(v, json_format_sample_value, true);
    if (i % 8 == 0) {
      check_roundtrip(v, format_float_go_g, true);
      if (isfinite(v)) check_roundtrip(v, json_format_double, true);
    }
    /* Layout: 'e' exactly outside [1e-6, 1e21). */
    char buf[64];
    json_format_sample_value(v, buf, sizeof buf);
    double a = fabs(v);
    bool want_e = isfinite(v) && a != 0 && (a < 1e-6 || a >= 1e21);
    if ((strchr(buf, 'e') != NULL) != want_e)
      fail_msg("%.17g formatted as \"%s\"", v, buf);
  }
  /* Every power of two, where the rounding interval is lopsided. */
  for (int k = -1074; k <= 1023; k++) {
    check_roundtrip(ldexp(1.0, k), json_format_sample_value, true);
    check_roundtrip(-ldexp(1.0, k), format_float_go_g, true);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sample_value_table),
      cmocka_unit_test(test_go_g_table),
      cmocka_unit_test(test_double_table),
      cmocka_unit_test(test_timestamp_table),
      cmocka_unit_test(test_writer_structure),
      cmocka_unit_test(test_writer_deep_nesting),
      cmocka_unit_test(test_string_escaping),
      cmocka_unit_test(test_misuse_asserts),
      cmocka_unit_test(test_roundtrip_sweep),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
