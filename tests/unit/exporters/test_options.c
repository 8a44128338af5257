/*
 * test_options.c - node_exporter flag parsing: defaults, --flag=value and
 * --flag value, booleans and --no-, repeatable flags, kingpin's errors,
 * help/version, --collector.disable-defaults and which collectors an
 * exporter then builds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "exporter_int.h"
#include "ph_error.h"

#include <string.h>

#define ARGV(...) (char *const[]){"pharos-exporter", __VA_ARGS__}
#define ARGC(...) ((int)(sizeof((char *[]){"x", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(o, err, ...) \
  exporter_options_from_args(o, ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), err, sizeof(err))

static void test_defaults(void **st) {
  (void)st;
  exporter_options_t *o = exporter_options_new();
  assert_string_equal(exporter_options_get(o, "web.listen-address"), ":9100");
  assert_string_equal(exporter_options_get(o, "web.telemetry-path"), "/metrics");
  assert_string_equal(exporter_options_get(o, "path.procfs"), "/proc");
  assert_string_equal(exporter_options_get(o, "path.sysfs"), "/sys");
  assert_string_equal(exporter_options_get(o, "path.rootfs"), "/");
  assert_string_equal(exporter_options_get(o, "path.udev.data"), "/run/udev/data");
  assert_string_equal(exporter_options_get(o, "log.level"), "info");
  assert_string_equal(exporter_options_get(o, "log.format"), "logfmt");
  assert_true(exporter_options_get_bool(o, "collector.loadavg"));
  assert_false(exporter_options_get_bool(o, "collector.disable-defaults"));
  assert_null(exporter_options_get(o, "no.such.flag"));
  exporter_options_free(o);
}

static void test_forms(void **st) {
  (void)st;
  char err[256];
  exporter_options_t *o = exporter_options_new();
  assert_int_equal(PARSE(o, err, "--path.procfs=/x/proc", "--path.sysfs", "/x/sys",
                         "--web.listen-address=127.0.0.1:9200",
                         "--web.listen-address", "[::1]:9300",
                         "--no-collector.loadavg", "--log.level=debug",
                         "--web.telemetry-path=/m", "--"),
                   0);
  assert_string_equal(exporter_options_get(o, "path.procfs"), "/x/proc");
  assert_string_equal(exporter_options_get(o, "path.sysfs"), "/x/sys");
  assert_string_equal(exporter_options_get(o, "web.telemetry-path"), "/m");
  assert_string_equal(exporter_options_get(o, "log.level"), "debug");
  assert_false(exporter_options_get_bool(o, "collector.loadavg"));
  const char *const *addrs;
  /* the user's values replace the default ":9100" */
  assert_int_equal(exporter_options_get_all(o, "web.listen-address", &addrs), 2);
  assert_string_equal(addrs[0], "127.0.0.1:9200");
  assert_string_equal(addrs[1], "[::1]:9300");
  /* booleans: --flag, --flag=false (lenient), --no-flag */
  assert_int_equal(PARSE(o, err, "--collector.loadavg"), 0);
  assert_true(exporter_options_get_bool(o, "collector.loadavg"));
  assert_int_equal(PARSE(o, err, "--collector.loadavg=false"), 0);
  assert_false(exporter_options_get_bool(o, "collector.loadavg"));
  /* a value may contain '=' */
  assert_int_equal(PARSE(o, err, "--path.rootfs=/a=b"), 0);
  assert_string_equal(exporter_options_get(o, "path.rootfs"), "/a=b");
  /* flags of unimplemented collectors are accepted */
  assert_int_equal(PARSE(o, err, "--collector.sysctl.include=fs.file-nr",
                         "--collector.sysctl.include", "kernel.threads-max",
                         "--no-collector.xfs", "--collector.wifi"),
                   0);
  exporter_options_free(o);
}

static void test_errors(void **st) {
  (void)st;
  char err[256];
  exporter_options_t *o = exporter_options_new();
  assert_int_equal(PARSE(o, err, "--foo"), PH_EINVAL);
  assert_string_equal(err, "unknown long flag '--foo'");
  assert_int_equal(PARSE(o, err, "--foo=bar"), PH_EINVAL);
  assert_string_equal(err, "unknown long flag '--foo'");
  assert_int_equal(PARSE(o, err, "--no-path.procfs"), PH_EINVAL);
  assert_string_equal(err, "unknown long flag '--no-path.procfs'");
  assert_int_equal(PARSE(o, err, "-x"), PH_EINVAL);
  assert_string_equal(err, "unknown short flag '-x'");
  assert_int_equal(PARSE(o, err, "--path.procfs"), PH_EINVAL);
  assert_string_equal(err, "expected argument for flag '--path.procfs'");
  assert_int_equal(PARSE(o, err, "positional"), PH_EINVAL);
  assert_string_equal(err, "unexpected positional");
  assert_int_equal(PARSE(o, err, "--collector.loadavg=maybe"), PH_EINVAL);
  assert_int_equal(PARSE(o, err, "--log.level=verbose"), PH_EINVAL);
  assert_non_null(strstr(err, "verbose"));
  assert_int_equal(PARSE(o, err, "--log.format=xml"), PH_EINVAL);
  exporter_options_free(o);
}

static void test_help_version(void **st) {
  (void)st;
  char err[256];
  exporter_options_t *o = exporter_options_new();
  assert_int_equal(PARSE(o, err, "--help"), EXPORTER_ARGS_HELP);
  assert_int_equal(PARSE(o, err, "-h"), EXPORTER_ARGS_HELP);
  assert_int_equal(PARSE(o, err, "--version"), EXPORTER_ARGS_VERSION);
  strbuf_t b = STRBUF_INIT;
  exporter_usage(&b, "pharos-exporter");
  assert_non_null(strstr(strbuf_cstr(&b), "usage: pharos-exporter [<flags>]"));
  assert_non_null(strstr(strbuf_cstr(&b), "--path.procfs=\"/proc\""));
  assert_non_null(strstr(strbuf_cstr(&b), "--[no-]collector.loadavg"));
  assert_null(strstr(strbuf_cstr(&b), "collector.wifi.fixtures"));
  assert_non_null(strstr(strbuf_cstr(&b), "collector.sysctl.include"));
  strbuf_reset(&b);
  exporter_version(&b, "pharos-exporter");
  assert_non_null(strstr(strbuf_cstr(&b), "pharos-exporter, version "));
  strbuf_free(&b);
  exporter_options_free(o);
}

static bool has_collector(const exporter_t *e, const char *name) {
  const char *const *names;
  size_t n = exporter_collectors(e, &names);
  for (size_t i = 0; i < n; i++)
    if (strcmp(names[i], name) == 0) return true;
  return false;
}

static void test_enabled_collectors(void **st) {
  (void)st;
  char err[256];
  exporter_options_t *o = exporter_options_new();
  exporter_t *e = exporter_new(o, err, sizeof(err));
  assert_non_null(e);
  assert_true(has_collector(e, "loadavg"));
  assert_true(has_collector(e, "meminfo"));
  exporter_free(e);
  assert_int_equal(PARSE(o, err, "--collector.disable-defaults",
                         "--collector.meminfo"), 0);
  e = exporter_new(o, err, sizeof(err));
  assert_non_null(e);
  assert_false(has_collector(e, "loadavg"));
  assert_true(has_collector(e, "meminfo"));
  const char *const *names;
  assert_int_equal(exporter_collectors(e, &names), 1);
  exporter_free(e);
  /* set programmatically, as the pharos server does */
  assert_int_equal(exporter_options_set(o, "collector.loadavg", NULL, err,
                                        sizeof(err)), 0);
  assert_int_equal(exporter_options_set(o, "no-collector.meminfo", NULL, err,
                                        sizeof(err)), 0);
  assert_int_equal(exporter_options_set(o, "nope", "1", err, sizeof(err)),
                   PH_EINVAL);
  e = exporter_new(o, err, sizeof(err));
  assert_non_null(e);
  assert_true(has_collector(e, "loadavg"));
  assert_false(has_collector(e, "meminfo"));
  exporter_free(e);
  exporter_options_free(o);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_forms),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_help_version),
      cmocka_unit_test(test_enabled_collectors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
