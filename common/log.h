/*
 * log.h - structured logging to stderr in logfmt or JSON, as Prometheus does.
 *
 *   ts=2026-11-25T12:00:00.123Z level=info msg="Server is ready" addr=:9090
 *
 * ph_log() takes the message and then key, value string pairs ending with
 * NULL; values are quoted and escaped when they need it.  Thread-safe: one
 * line is written with one fwrite under a mutex.
 */
#ifndef PH_LOG_H
#define PH_LOG_H

#include <stdbool.h>
#include <stdio.h>

typedef enum {
  PH_LOG_DEBUG = 0,
  PH_LOG_INFO = 1,
  PH_LOG_WARN = 2,
  PH_LOG_ERROR = 3,
} log_level_t;

typedef enum { PH_LOG_LOGFMT = 0, PH_LOG_JSON = 1 } log_format_t;

/* Parse "debug|info|warn|error" / "logfmt|json"; false when unknown. */
bool log_parse_level(const char *s, log_level_t *out);
bool log_parse_format(const char *s, log_format_t *out);
void log_set_level(log_level_t level);
void log_set_format(log_format_t format);
/* Where lines go (default stderr); the FILE stays owned by the caller. */
void log_set_output(FILE *f);
bool log_enabled(log_level_t level);

/* key/value pairs of const char *, terminated by NULL. */
void ph_log(log_level_t level, const char *msg, ...) __attribute__((sentinel));
/* A printf-formatted message and no fields. */
void ph_logf(log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_debug(...) ph_log(PH_LOG_DEBUG, __VA_ARGS__, NULL)
#define log_info(...) ph_log(PH_LOG_INFO, __VA_ARGS__, NULL)
#define log_warn(...) ph_log(PH_LOG_WARN, __VA_ARGS__, NULL)
#define log_error(...) ph_log(PH_LOG_ERROR, __VA_ARGS__, NULL)

#endif
