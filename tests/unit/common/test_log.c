/*
 * test_log.c - the logger: logfmt quoting and escaping, JSON lines, level
 * filtering, parsing of --log.level / --log.format values.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *capture(void (*fn)(void)) {
  /* static: the stream keeps the addresses until fclose, and gcc -O2
   * cannot tell that the returned value is not a pointer to a local */
  static char *buf;
  static size_t len;
  buf = NULL;
  len = 0;
  FILE *f = open_memstream(&buf, &len);
  log_set_output(f);
  fn();
  log_set_output(NULL);
  fclose(f);
  return buf;
}

static void emit_plain(void) {
  log_info("Server is ready", "addr", ":9090", "empty", "", "q", "say \"hi\"\nthere", "eq", "a=b");
}
static void emit_levels(void) {
  log_debug("hidden");
  log_info("shown info");
  log_warn("shown warn");
  log_error("shown error");
}
static void emit_fmt(void) { ph_logf(PH_LOG_WARN, "%d things", 3); }

static void test_logfmt(void **state) {
  (void)state;
  log_set_format(PH_LOG_LOGFMT);
  log_set_level(PH_LOG_INFO);
  char *out = capture(emit_plain);
  assert_non_null(strstr(out, "ts="));
  assert_non_null(strstr(out, " level=info msg=\"Server is ready\" addr=:9090 empty=\"\""));
  assert_non_null(strstr(out, " q=\"say \\\"hi\\\"\\nthere\""));
  assert_non_null(strstr(out, " eq=\"a=b\"\n"));
  assert_int_equal(strchr(out, '\n')[1], '\0'); /* exactly one line */
  free(out);
  out = capture(emit_fmt);
  assert_non_null(strstr(out, "level=warn msg=\"3 things\""));
  free(out);
}

static void test_json(void **state) {
  (void)state;
  log_set_format(PH_LOG_JSON);
  char *out = capture(emit_plain);
  assert_int_equal(out[0], '{');
  assert_non_null(strstr(out, "\"level\":\"info\",\"msg\":\"Server is ready\",\"addr\":\":9090\""));
  assert_non_null(strstr(out, "\"q\":\"say \\\"hi\\\"\\nthere\""));
  assert_non_null(strstr(out, "}\n"));
  free(out);
  log_set_format(PH_LOG_LOGFMT);
}

static void test_levels(void **state) {
  (void)state;
  log_set_level(PH_LOG_WARN);
  char *out = capture(emit_levels);
  assert_null(strstr(out, "hidden"));
  assert_null(strstr(out, "shown info"));
  assert_non_null(strstr(out, "shown warn"));
  assert_non_null(strstr(out, "shown error"));
  free(out);
  assert_false(log_enabled(PH_LOG_INFO));
  log_set_level(PH_LOG_INFO);
  log_level_t l;
  log_format_t f;
  assert_true(log_parse_level("debug", &l) && l == PH_LOG_DEBUG);
  assert_true(log_parse_level("error", &l) && l == PH_LOG_ERROR);
  assert_false(log_parse_level("verbose", &l));
  assert_true(log_parse_format("json", &f) && f == PH_LOG_JSON);
  assert_false(log_parse_format("xml", &f));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_logfmt),
      cmocka_unit_test(test_json),
      cmocka_unit_test(test_levels),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
