/*
 * strbuf.h - a growable byte buffer, always NUL-terminated.
 *
 * The JSON writer, the exposition writer and HTTP responses build their
 * output in one.  Growth aborts on out-of-memory (mem.h); callers that need
 * a bound check strbuf_len() against their limit.
 */
#ifndef PH_STRBUF_H
#define PH_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct strbuf {
  char *data;  /* owned; NUL-terminated; NULL until the first append */
  size_t len;
  size_t cap;
} strbuf_t;

#define STRBUF_INIT {NULL, 0, 0}

void strbuf_init(strbuf_t *b);
void strbuf_free(strbuf_t *b);
void strbuf_reset(strbuf_t *b); /* len = 0, keeps capacity */
void strbuf_reserve(strbuf_t *b, size_t extra);
void strbuf_append(strbuf_t *b, const void *p, size_t n);
void strbuf_puts(strbuf_t *b, const char *s);
void strbuf_putc(strbuf_t *b, char c);
void strbuf_printf(strbuf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void strbuf_vprintf(strbuf_t *b, const char *fmt, va_list ap);
/* Hands the buffer to the caller (free() it); b is empty afterwards. */
char *strbuf_detach(strbuf_t *b, size_t *len);
/* Returns the contents ("" when empty); valid until the next change. */
const char *strbuf_cstr(const strbuf_t *b);

#endif
