/*
 * test_flags.c - kingpin-style flags: every accepted form, defaults,
 * booleans with --no-, durations and byte sizes, and the error messages
 * for unknown flags, missing arguments and bad values.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "flags.h"
#include "ph_error.h"

#include <string.h>

typedef struct opts {
  const char *path;
  bool enable;
  int64_t retention;
  int64_t count;
  uint64_t size;
} opts_t;

static flags_t *make(opts_t *o) {
  static flag_def_t defs[5];
  flag_def_t d[] = {
      {"storage.path", FLAG_STRING, "data/", "where", &o->path},
      {"web.enable", FLAG_BOOL, "false", "on/off", &o->enable},
      {"retention", FLAG_DURATION, "15d", "how long", &o->retention},
      {"count", FLAG_INT, "7", "n", &o->count},
      {"size", FLAG_BYTES, "0", "bytes", &o->size},
  };
  memcpy(defs, d, sizeof d);
  return flags_new("prog", "A test program", defs, 5);
}

static int parse(flags_t *f, char *err, size_t errlen, int argc, ...) {
  char *argv[16];
  va_list ap;
  va_start(ap, argc);
  argv[0] = "prog";
  for (int i = 1; i < argc; i++) argv[i] = va_arg(ap, char *);
  va_end(ap);
  bool h, v;
  return flags_parse(f, argc, argv, &h, &v, err, errlen);
}

static void test_defaults_and_forms(void **state) {
  (void)state;
  opts_t o;
  flags_t *f = make(&o);
  assert_string_equal(o.path, "data/");
  assert_false(o.enable);
  assert_int_equal(o.retention, 15LL * 86400 * 1000);
  assert_int_equal(o.count, 7);
  char err[256];
  assert_int_equal(parse(f, err, sizeof err, 7, "--storage.path=/x", "--web.enable",
                         "--retention", "1h30m", "--count=-3", "--size=512MB"), 0);
  assert_string_equal(o.path, "/x");
  assert_true(o.enable);
  assert_int_equal(o.retention, 5400000);
  assert_int_equal(o.count, -3);
  assert_int_equal(o.size, 512ULL << 20);
  assert_int_equal(parse(f, err, sizeof err, 2, "--no-web.enable"), 0);
  assert_false(o.enable);
  assert_int_equal(parse(f, err, sizeof err, 2, "--web.enable=true"), 0);
  assert_true(o.enable);
  const char *name, *value;
  flags_at(f, 2, &name, &value);
  assert_string_equal(name, "retention");
  assert_string_equal(value, "1h30m");
  assert_int_equal(flags_count(f), 5);
  flags_free(f);
}

static void test_errors(void **state) {
  (void)state;
  opts_t o;
  flags_t *f = make(&o);
  char err[256];
  assert_int_equal(parse(f, err, sizeof err, 2, "--nope"), PH_EINVAL);
  assert_string_equal(err, "unknown long flag '--nope'");
  assert_int_equal(parse(f, err, sizeof err, 2, "--count"), PH_EINVAL);
  assert_string_equal(err, "expected argument for flag '--count'");
  assert_int_equal(parse(f, err, sizeof err, 2, "--count=x"), PH_EINVAL);
  assert_int_equal(parse(f, err, sizeof err, 2, "--retention=5q"), PH_EINVAL);
  assert_non_null(strstr(err, "--retention"));
  assert_int_equal(parse(f, err, sizeof err, 2, "--size=12XB"), PH_EINVAL);
  assert_int_equal(parse(f, err, sizeof err, 2, "--web.enable=maybe"), PH_EINVAL);
  assert_int_equal(parse(f, err, sizeof err, 2, "-x"), PH_EINVAL);
  assert_string_equal(err, "unknown short flag '-x'");
  assert_int_equal(parse(f, err, sizeof err, 2, "--no-count"), PH_EINVAL);
  flags_free(f);
}

static void test_bytes(void **state) {
  (void)state;
  uint64_t v;
  assert_int_equal(flags_parse_bytes("0", &v), 0);
  assert_int_equal(v, 0);
  assert_int_equal(flags_parse_bytes("10GiB", &v), 0);
  assert_int_equal(v, 10ULL << 30);
  assert_int_equal(flags_parse_bytes("1TB", &v), 0);
  assert_int_equal(v, 1ULL << 40);
  assert_int_equal(flags_parse_bytes("123", &v), 0);
  assert_int_equal(v, 123);
  assert_int_equal(flags_parse_bytes("", &v), PH_EPARSE);
  assert_int_equal(flags_parse_bytes("-1MB", &v), PH_EPARSE);
  assert_int_equal(flags_parse_bytes("99999999999EB", &v), PH_EPARSE);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults_and_forms),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_bytes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
