/*
 * log.c - logfmt / JSON line logger (see log.h).
 *
 * A line is assembled in a stack buffer (spilling to a strbuf when long) and
 * written with a single fwrite under a mutex so lines from different threads
 * never interleave.  Timestamps are UTC RFC 3339 with milliseconds.
 */
#include "log.h"

#include "strbuf.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static log_level_t g_level = PH_LOG_INFO;
static log_format_t g_format = PH_LOG_LOGFMT;
static FILE *g_out = NULL;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

bool log_parse_level(const char *s, log_level_t *out) {
  for (int i = 0; i < 4; i++)
    if (strcmp(s, level_names[i]) == 0) { *out = (log_level_t)i; return true; }
  return false;
}

bool log_parse_format(const char *s, log_format_t *out) {
  if (strcmp(s, "logfmt") == 0) { *out = PH_LOG_LOGFMT; return true; }
  if (strcmp(s, "json") == 0) { *out = PH_LOG_JSON; return true; }
  return false;
}

void log_set_level(log_level_t level) { g_level = level; }
void log_set_format(log_format_t format) { g_format = format; }
void log_set_output(FILE *f) {
  pthread_mutex_lock(&g_mu);
  g_out = f;
  pthread_mutex_unlock(&g_mu);
}
bool log_enabled(log_level_t level) { return level >= g_level; }

static bool logfmt_needs_quote(const char *v) {
  if (*v == '\0') return true;
  for (const unsigned char *p = (const unsigned char *)v; *p; p++)
    if (*p <= ' ' || *p == '=' || *p == '"' || *p == 0x7f) return true;
  return false;
}

static void put_escaped(strbuf_t *b, const char *v, bool json) {
  for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
    switch (*p) {
    case '"': strbuf_puts(b, "\\\""); break;
    case '\\': strbuf_puts(b, "\\\\"); break;
    case '\n': strbuf_puts(b, "\\n"); break;
    case '\r': strbuf_puts(b, "\\r"); break;
    case '\t': strbuf_puts(b, "\\t"); break;
    default:
      if (*p < 0x20 || (json && *p == 0x7f)) strbuf_printf(b, "\\u%04x", *p);
      else strbuf_putc(b, (char)*p);
    }
  }
}

static void put_field(strbuf_t *b, const char *k, const char *v, bool first) {
  if (v == NULL) v = "<nil>";
  if (g_format == PH_LOG_JSON) {
    strbuf_puts(b, first ? "{\"" : ",\"");
    put_escaped(b, k, true);
    strbuf_puts(b, "\":\"");
    put_escaped(b, v, true);
    strbuf_putc(b, '"');
    return;
  }
  if (!first) strbuf_putc(b, ' ');
  strbuf_puts(b, k);
  strbuf_putc(b, '=');
  if (logfmt_needs_quote(v)) {
    strbuf_putc(b, '"');
    put_escaped(b, v, false);
    strbuf_putc(b, '"');
  } else {
    strbuf_puts(b, v);
  }
}

static void emit(log_level_t level, const char *msg, va_list *kv) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char tbuf[96];
  snprintf(tbuf, sizeof tbuf, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
           tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
           tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
  strbuf_t b = STRBUF_INIT;
  put_field(&b, "ts", tbuf, true);
  put_field(&b, "level", level_names[level], false);
  put_field(&b, "msg", msg, false);
  if (kv != NULL) {
    for (;;) {
      const char *k = va_arg(*kv, const char *);
      if (k == NULL) break;
      const char *v = va_arg(*kv, const char *);
      put_field(&b, k, v, false);
    }
  }
  if (g_format == PH_LOG_JSON) strbuf_putc(&b, '}');
  strbuf_putc(&b, '\n');
  pthread_mutex_lock(&g_mu);
  FILE *out = g_out ? g_out : stderr;
  fwrite(b.data, 1, b.len, out);
  fflush(out);
  pthread_mutex_unlock(&g_mu);
  strbuf_free(&b);
}

void ph_log(log_level_t level, const char *msg, ...) {
  if (level < g_level) return;
  va_list ap;
  va_start(ap, msg);
  emit(level, msg, &ap);
  va_end(ap);
}

void ph_logf(log_level_t level, const char *fmt, ...) {
  if (level < g_level) return;
  strbuf_t m = STRBUF_INIT;
  va_list ap;
  va_start(ap, fmt);
  strbuf_vprintf(&m, fmt, ap);
  va_end(ap);
  emit(level, strbuf_cstr(&m), NULL);
  strbuf_free(&m);
}
