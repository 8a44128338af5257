/*
 * strbuf.c - growable byte buffer (see strbuf.h).
 */
#include "strbuf.h"

#include "mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void strbuf_init(strbuf_t *b) { b->data = NULL; b->len = b->cap = 0; }

void strbuf_free(strbuf_t *b) {
  free(b->data);
  strbuf_init(b);
}

void strbuf_reset(strbuf_t *b) {
  b->len = 0;
  if (b->data) b->data[0] = '\0';
}

void strbuf_reserve(strbuf_t *b, size_t extra) {
  size_t need = b->len + extra + 1;
  if (need < b->len) ph_assert(!"strbuf overflow");
  if (need <= b->cap) return;
  size_t ncap = b->cap ? b->cap : 64;
  while (ncap < need) ncap *= 2;
  b->data = ph_realloc(b->data, ncap);
  b->cap = ncap;
}

void strbuf_append(strbuf_t *b, const void *p, size_t n) {
  strbuf_reserve(b, n);
  if (n) memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void strbuf_puts(strbuf_t *b, const char *s) { strbuf_append(b, s, strlen(s)); }

void strbuf_putc(strbuf_t *b, char c) {
  strbuf_reserve(b, 1);
  b->data[b->len++] = c;
  b->data[b->len] = '\0';
}

void strbuf_vprintf(strbuf_t *b, const char *fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  strbuf_reserve(b, 64);
  int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
  if (n < 0) { va_end(ap2); return; }
  if ((size_t)n >= b->cap - b->len) {
    strbuf_reserve(b, (size_t)n);
    vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap2);
  }
  va_end(ap2);
  b->len += (size_t)n;
}

void strbuf_printf(strbuf_t *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  strbuf_vprintf(b, fmt, ap);
  va_end(ap);
}

char *strbuf_detach(strbuf_t *b, size_t *len) {
  if (b->data == NULL) strbuf_reserve(b, 0), b->data[0] = '\0';
  char *p = b->data;
  if (len) *len = b->len;
  strbuf_init(b);
  return p;
}

const char *strbuf_cstr(const strbuf_t *b) { return b->data ? b->data : ""; }
