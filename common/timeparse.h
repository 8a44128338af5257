/*
 * timeparse.h - Prometheus durations and times.
 *
 * Durations follow Prometheus's model.ParseDuration: one or more
 * <integer><unit> terms with units y (365d), w, d, h, m, s, ms, each unit at
 * most once and in that decreasing order ("1h30m", "5m", "90s", "1y2w"), or
 * a bare "0".  Like Prometheus (whose durations are Go time.Duration
 * nanoseconds) the largest accepted duration is 2^63-1 ns, about 292 years.
 * Times for the HTTP API are float Unix seconds ("1700000000",
 * "1700000000.123") or RFC 3339 ("2026-11-25T12:00:00Z",
 * "2026-11-25T12:00:00.5+01:00").  All results are int64 milliseconds.
 * Errors carry Prometheus's own messages, quoting the input as Go's %q
 * does; *ms is left untouched on error.
 */
#ifndef PH_TIMEPARSE_H
#define PH_TIMEPARSE_H

#include <stddef.h>
#include <stdint.h>

/* Parses s[0..len) (no NUL needed).  0, or
 *   PH_EPARSE "empty duration string"
 *             "not a valid duration string: \"5m1h\""
 *             "unknown unit \"x\" in duration \"1x\""
 *   PH_ELIMIT "duration out of range"  (above 2^63-1 ns, e.g. "293y"). */
int ph_parse_duration(const char *s, size_t len, int64_t *ms, char *err,
                      size_t errlen);
/* A duration or float seconds ("15", "0.5", "1e3", "1m"), as the API's
 * step= and timeout= take them (web/api/v1 parseDuration): seconds are
 * converted to whole nanoseconds, then truncated to milliseconds.  Errors:
 * PH_EPARSE "cannot parse \"x\" to a valid duration" (also for durations
 * ph_parse_duration rejects), PH_EPARSE "... : must be a non-negative
 * number" for negative numbers and NaN, PH_ELIMIT "cannot parse \"1e10\" to
 * a valid duration. It overflows int64" (2^63 ns or more, +Inf).  Zero is
 * accepted; callers that need a positive step check for it. */
int ph_parse_duration_or_seconds(const char *s, size_t len, int64_t *ms,
                                 char *err, size_t errlen);
/* Float Unix seconds or RFC 3339, as the API's time=, start=, end= take them
 * (web/api/v1 parseTime).  Seconds use Go's ParseFloat grammar and the
 * fraction is rounded to the millisecond half away from zero, exactly as
 * Prometheus computes it ("1.0005" -> 1000 because the double is just
 * below, "2.0005" -> 2001).  RFC 3339 needs a 4-digit year, 'T', and 'Z' or
 * ±hh:mm; fraction digits beyond milliseconds are dropped.  The two
 * boundary strings Prometheus clients send for open ranges are accepted:
 * "-292273086-05-16T16:47:06Z" -> -9223309901257974000 and
 * "292277025-08-18T07:12:54.999999999Z" -> 9223309901257974999.
 * Error: PH_EPARSE "cannot parse \"x\" to a valid timestamp" (also for NaN,
 * Inf, and seconds whose milliseconds overflow int64). */
int ph_parse_time(const char *s, size_t len, int64_t *ms, char *err,
                  size_t errlen);
/* Prometheus's Duration.String(): "1h30m", "5m", "1d", "2w", "1y",
 * "1s500ms", "0s"; years and weeks only when they divide the whole value
 * ("90d", not "12w6d"); negative values get a leading '-'.  Returns the
 * length written into buf (at least 32 bytes, NUL-terminated). */
size_t ph_format_duration(int64_t ms, char *buf, size_t buflen);
/* RFC 3339 with milliseconds in UTC: "2026-11-25T12:00:00.000Z" (years
 * outside 0..9999 print with more digits or a '-').  buf at least 32
 * bytes; returns the length. */
size_t ph_format_rfc3339(int64_t ms, char *buf, size_t buflen);
/* Milliseconds since the epoch, now (CLOCK_REALTIME). */
int64_t ph_now_ms(void);

#endif
