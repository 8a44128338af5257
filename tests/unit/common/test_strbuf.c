/*
 * test_strbuf.c - growable buffer: appends, printf beyond the first
 * reservation, embedded NULs, reset and detach, error table names.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "ph_error.h"
#include "strbuf.h"

#include <stdlib.h>
#include <string.h>

static void test_append_printf(void **state) {
  (void)state;
  strbuf_t b = STRBUF_INIT;
  assert_string_equal(strbuf_cstr(&b), "");
  strbuf_puts(&b, "abc");
  strbuf_putc(&b, '-');
  strbuf_printf(&b, "%d/%s", 42, "x");
  assert_string_equal(strbuf_cstr(&b), "abc-42/x");
  char big[5000];
  memset(big, 'z', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  strbuf_printf(&b, "[%s]", big); /* longer than the 64-byte first try */
  assert_int_equal(b.len, 8 + 2 + 4999);
  assert_int_equal(b.data[b.len], '\0');
  strbuf_append(&b, "\0x", 2); /* embedded NUL */
  assert_int_equal(b.len, 8 + 2 + 4999 + 2);
  strbuf_reset(&b);
  assert_int_equal(b.len, 0);
  assert_string_equal(strbuf_cstr(&b), "");
  strbuf_puts(&b, "again");
  size_t len;
  char *p = strbuf_detach(&b, &len);
  assert_int_equal(len, 5);
  assert_string_equal(p, "again");
  assert_null(b.data);
  free(p);
  p = strbuf_detach(&b, &len); /* empty buffer detaches as "" */
  assert_string_equal(p, "");
  free(p);
  strbuf_free(&b);
}

static void test_errors(void **state) {
  (void)state;
  assert_string_equal(ph_errname(PH_ECORRUPT), "ECORRUPT");
  assert_string_equal(ph_strerror(PH_ENOSPC), "no space left on device");
  assert_string_equal(ph_strerror(PH_OK), "success");
  assert_string_equal(ph_strerror(-999), "unknown error");
  char msg[16];
  assert_int_equal(ph_err(msg, sizeof msg, PH_EPARSE, "bad %s at %d", "thing", 12345),
                   PH_EPARSE);
  assert_string_equal(msg, "bad thing at 12"); /* truncated, NUL-terminated */
  assert_int_equal(ph_err(NULL, 0, PH_EIO, "x"), PH_EIO);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_append_printf),
      cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
