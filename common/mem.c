/*
 * mem.c - aborting allocators (see mem.h).
 */
#include "mem.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t n, const char *file, int line) __attribute__((noreturn));
static void oom(size_t n, const char *file, int line) {
  fprintf(stderr, "level=error msg=\"out of memory\" size=%zu at=%s:%d\n", n,
          file, line);
  abort();
}

void *ph__malloc(size_t n, const char *file, int line) {
  void *p = malloc(n ? n : 1);
  if (p == NULL) oom(n, file, line);
  return p;
}

void *ph__calloc(size_t count, size_t size, const char *file, int line) {
  void *p = calloc(count ? count : 1, size ? size : 1);
  if (p == NULL) oom(count * size, file, line);
  return p;
}

void *ph__realloc(void *p, size_t n, const char *file, int line) {
  void *q = realloc(p, n ? n : 1);
  if (q == NULL) oom(n, file, line);
  return q;
}

char *ph__strdup(const char *s, const char *file, int line) {
  return ph__strndup(s, strlen(s), file, line);
}

char *ph__strndup(const char *s, size_t n, const char *file, int line) {
  char *p = ph__malloc(n + 1, file, line);
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

void ph__grow(void **arr, size_t *cap, size_t need, size_t elsz,
              const char *file, int line) {
  if (need <= *cap) return;
  size_t ncap = *cap ? *cap : 8;
  while (ncap < need) {
    if (ncap > SIZE_MAX / 2) oom(SIZE_MAX, file, line);
    ncap *= 2;
  }
  if (ncap > SIZE_MAX / elsz) oom(SIZE_MAX, file, line);
  *arr = ph__realloc(*arr, ncap * elsz, file, line);
  *cap = ncap;
}

void ph__assert_fail(const char *expr, const char *file, int line) {
  fprintf(stderr, "level=error msg=\"assertion failed\" expr=\"%s\" at=%s:%d\n",
          expr, file, line);
  abort();
}
