/*
 * json.h - a streaming JSON writer with Prometheus's number formats.
 *
 * Writes into a strbuf_t and inserts commas and colons itself: the caller
 * says begin/end object or array, key, and values.  Strings (any bytes,
 * NUL included with json_string_n) are escaped byte for byte as Prometheus's
 * API does through jsoniter with HTML escaping on: \" \\ \n \r \t, other
 * control characters as \u00XX (so \b is \u0008, unlike Go 1.22+
 * encoding/json), <, >, & as \u003c \u003e \u0026, U+2028/U+2029 as
 * \u2028/\u2029, and each byte of invalid UTF-8 as \ufffd.
 *
 * Prometheus number formats:
 *  - json_sample_value(): a sample value as a JSON string, "NaN", "+Inf",
 *    "-Inf", or the shortest decimal that round-trips, in Go's 'f' format
 *    unless |v| < 1e-6 or |v| >= 1e21 (then 'e', exponent with at least two
 *    digits: "1e-07", "1.5e+21"); 0 is "0" and -0 is "-0"; 'f' pads the
 *    shortest digits with zeros (2^64 -> "18446744073709552000").
 *  - json_timestamp(): int64 milliseconds written as a bare JSON number of
 *    seconds, three fraction digits when the fraction is non-zero and none
 *    when it is zero: 1435781451781 -> 1435781451.781, 1000 -> 1,
 *    1500 -> 1.500, -1500 -> -1.500.
 *  - json_double(): encoding/json's float64 form: shortest round-trip, 'f'
 *    layout unless |v| < 1e-6 or |v| >= 1e21, exponent without a leading
 *    zero ("1e-7", "1e+21"); NaN and Inf (which JSON cannot carry) -> null.
 *
 * Misuse (a value inside an object without a key, a key inside an array,
 * ending the wrong container, a second top-level value) fails ph_assert.
 * Nesting depth is unbounded.
 */
#ifndef PH_JSON_H
#define PH_JSON_H

#include "strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct json_writer json_writer_t; /* owned by its creator */

/* out stays owned by the caller and must outlive the writer. */
json_writer_t *json_writer_new(strbuf_t *out);
void json_writer_free(json_writer_t *w);
/* Forgets all open containers so a new top-level value may follow (the
 * caller resets or reuses out itself). */
void json_writer_reset(json_writer_t *w);
/* True once one complete top-level value has been written. */
bool json_writer_complete(const json_writer_t *w);

void json_object_begin(json_writer_t *w);
void json_object_end(json_writer_t *w);
void json_array_begin(json_writer_t *w);
void json_array_end(json_writer_t *w);
void json_key(json_writer_t *w, const char *key);
void json_string(json_writer_t *w, const char *s);
void json_string_n(json_writer_t *w, const char *s, size_t n);
void json_int(json_writer_t *w, int64_t v);
void json_uint(json_writer_t *w, uint64_t v);
/* A plain JSON number (shortest round-trip); NaN/Inf written as null. */
void json_double(json_writer_t *w, double v);
void json_bool(json_writer_t *w, bool v);
void json_null(json_writer_t *w);
/* Inserts already-encoded JSON text as one value. */
void json_raw(json_writer_t *w, const char *text, size_t n);
void json_sample_value(json_writer_t *w, double v);
void json_timestamp(json_writer_t *w, int64_t ms);

/* Formats v as json_sample_value does, without quotes, into buf (at least
 * 32 bytes); returns the length. */
size_t json_format_sample_value(double v, char *buf, size_t buflen);
/* Formats v as json_double does ("null" for NaN/Inf) into buf (at least
 * 32 bytes); returns the length. */
size_t json_format_double(double v, char *buf, size_t buflen);
/* Formats ms as json_timestamp does into buf (at least 32 bytes); returns
 * the length. */
size_t json_format_timestamp(int64_t ms, char *buf, size_t buflen);
/* Go's strconv.FormatFloat(v, 'g', -1, 64), which the text exposition
 * format and PromQL's printer use: "1e+06", "123456", "0.1", "1e-05",
 * "NaN", "+Inf", "-Inf" (buf at least 32 bytes); returns the length. */
size_t format_float_go_g(double v, char *buf, size_t buflen);

#endif
