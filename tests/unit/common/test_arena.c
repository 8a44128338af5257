/*
 * test_arena.c - the arena: alignment, growth, dedicated blocks for large
 * requests, the budget (exhaustion returns NULL, never aborts), reset.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "arena.h"

#include <string.h>

static void test_alignment_and_growth(void **state) {
  (void)state;
  arena_t *a = arena_new(0);
  for (size_t n = 1; n < 5000; n += 37) {
    void *p = arena_alloc(a, n);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % 16, 0);
    memset(p, 0xab, n);
  }
  /* a large request gets its own block and stays usable */
  char *big = arena_alloc(a, 10u << 20);
  assert_non_null(big);
  memset(big, 1, 10u << 20);
  char *small = arena_alloc(a, 8);
  assert_non_null(small);
  assert_false(arena_exhausted(a));
  arena_free(a);
}

static void test_strdup_and_calloc(void **state) {
  (void)state;
  arena_t *a = arena_new(0);
  char *s = arena_strdup(a, "hello");
  assert_string_equal(s, "hello");
  char *t = arena_strndup(a, "abcdef", 3);
  assert_string_equal(t, "abc");
  int *z = arena_calloc(a, 100, sizeof(int));
  for (int i = 0; i < 100; i++) assert_int_equal(z[i], 0);
  assert_null(arena_calloc(a, SIZE_MAX / 2, 4)); /* overflow */
  assert_true(arena_exhausted(a));
  arena_free(a);
}

static void test_budget(void **state) {
  (void)state;
  arena_t *a = arena_new(1000);
  assert_non_null(arena_alloc(a, 500));
  assert_null(arena_alloc(a, 600)); /* would exceed the budget */
  assert_true(arena_exhausted(a));
  assert_true(arena_used(a) <= 1000);
  arena_reset(a);
  assert_false(arena_exhausted(a));
  assert_int_equal(arena_used(a), 0);
  assert_non_null(arena_alloc(a, 900));
  assert_null(arena_alloc(a, SIZE_MAX - 8)); /* size overflow */
  arena_free(a);
}

static void test_reset_reuses(void **state) {
  (void)state;
  arena_t *a = arena_new(0);
  for (int round = 0; round < 100; round++) {
    for (int i = 0; i < 100; i++) assert_non_null(arena_alloc(a, 100));
    arena_reset(a);
  }
  assert_int_equal(arena_used(a), 0);
  arena_free(a);
  arena_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_alignment_and_growth),
      cmocka_unit_test(test_strdup_and_calloc),
      cmocka_unit_test(test_budget),
      cmocka_unit_test(test_reset_reuses),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
