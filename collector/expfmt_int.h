/*
 * expfmt_int.h - helpers private to the exposition parser (expfmt_*.c):
 * Go-compatible float parsing and formatting, UTF-8 validation, and Go
 * %q-style quoting for error messages.  Not part of the module's face.
 */
#ifndef PH_EXPFMT_INT_H
#define PH_EXPFMT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
  EXPFMT__FLOAT_OK = 0,
  EXPFMT__FLOAT_SYNTAX = -1,      /* not Go ParseFloat syntax */
  EXPFMT__FLOAT_RANGE = -2,       /* finite literal that overflows */
  EXPFMT__FLOAT_UNSUPPORTED = -3, /* contains 'p', 'P' or '_' */
};

/* Parses s[0..n) like Prometheus's parseFloat: strconv.ParseFloat(s, 64)
 * after rejecting 'p', 'P' and '_' (so no hex floats, no digit
 * separators).  Accepts [+-]digits[.digits][e[+-]digits], ".5", "5.",
 * inf/infinity (any case, optional sign) and nan (any case, no sign).
 * Correctly rounded.  Reads only s[0..n). */
int expfmt__parse_float(const char *s, size_t n, double *out);

/* Formats v like Prometheus's labels.FormatOpenMetricsFloat (Go's
 * FormatFloat(v, 'g', -1, 64), plus ".0" when there is neither '.' nor
 * 'e'; "+Inf", "-Inf", "NaN").  out must hold 32 bytes; returns the
 * length (no NUL written). */
size_t expfmt__format_om_float(double v, char *out);

/* True when s[0..n) is valid UTF-8 as Go's utf8.Valid defines it (no
 * surrogates, no overlong forms, nothing above U+10FFFF). */
bool expfmt__utf8_valid(const unsigned char *s, size_t n);

/* Appends s[0..n) quoted like Go's %q of a byte slice to out[*pos..cap),
 * always leaving out NUL-terminated; stops (with "...") when full. */
void expfmt__quote(char *out, size_t cap, size_t *pos, const char *s,
                   size_t n);

#endif
