/*
 * expfmt.h - the exposition-format parser: Prometheus text 0.0.4 and
 * OpenMetrics 1.0.0 text, as a zero-copy iterator over a scrape body.
 *
 * The scrape loop picks the format from the response's Content-Type
 * (expfmt_format_from_content_type), creates or resets a parser over the
 * body and calls expfmt_parser_next() until it returns 0 (end) or a
 * negative code (the first parse error; the whole scrape fails).  Each call
 * fills an expfmt_entry_t: a sample, or a HELP / TYPE / UNIT line.  Plain
 * comment lines and blank lines (text format) are skipped.
 *
 * Strings in an entry are (pointer, length) slices, not NUL-terminated.
 * They point into the caller's body when the bytes are usable as they
 * stand, and into a scratch buffer owned by the parser when something had
 * to be rewritten (escapes, le/quantile normalisation).  Either way treat
 * them as valid until the next expfmt_parser_next/reset/free call.  The
 * scratch buffer and label arrays are reused, so a parser that is reset
 * per scrape allocates nothing in steady state.
 *
 * Lazy mode.  By default next() does the whole job: finds the line's extent,
 * checks its syntax and resolves its labels (escapes, le/quantile
 * normalisation, duplicate names).  After expfmt_parser_set_lazy(p, true)
 * next() stops short of the label step for samples: it still checks the
 * whole line's syntax (quoted strings with escapes, UTF-8, braces, quoted
 * metric names, value, timestamp, exemplar) and tracks families, types and
 * _created exactly as before, and fills name, series, value, timestamp,
 * type, created and the exemplar, but leaves labels NULL / nlabels 0 until
 * expfmt_parser_labels() is called for that entry.  The scrape loop calls
 * it only when the series text misses its cache.
 *
 * Why skipping it is safe: the only check left to the label step (a label
 * name used twice, or "__name__" as a label) depends on nothing but the
 * series text's bytes, and its result does not depend on the format either.
 * Identical bytes got through the label step when they were first seen and
 * cached (the scrape loop caches a series only after its label step
 * passed), so a cache hit cannot fail it now.  The cache keeps the labels
 * of that first sighting, le/quantile already normalised under the family
 * type of the time, as it did before lazy mode.  A miss runs it and fails
 * exactly as the eager parser would, with the same message and LINE:COL,
 * and it stops the parser: every later call returns PH_EPARSE, so one bad
 * line still fails the whole scrape whatever the other lines hit.  Errors
 * come in the same order as in eager mode because the eager parser, too,
 * runs the label step last, after the value, timestamp and exemplar.
 *
 * Semantics follow Prometheus 3's model/textparse (promparse.go,
 * openmetricsparse.go): the same accepted syntax, the same float syntax
 * (Go ParseFloat without hex floats or '_'), NaN canonicalised to
 * 0x7ff8000000000001, "le" of histograms and "quantile" of summaries
 * rewritten to the OpenMetrics float form ("1" -> "1.0"), UTF-8 names in
 * quotes ({"my.metric", label="x"}).  Error messages read like
 * Prometheus's ("expected equal, got "x" (INVALID) while parsing: ...")
 * prefixed with "LINE:COLUMN: " (1-based; the column counts bytes).
 */
#ifndef PH_EXPFMT_H
#define PH_EXPFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum expfmt_format {
  EXPFMT_FORMAT_TEXT = 0,        /* Prometheus text 0.0.4 (and 1.0.0) */
  EXPFMT_FORMAT_OPENMETRICS = 1, /* OpenMetrics 1.0.0 text (and 0.0.1) */
} expfmt_format_t;

/* The Accept header Prometheus 3 sends by default: OpenMetrics first, then
 * the Prometheus text format, then anything. */
#define EXPFMT_ACCEPT_HEADER                                              \
  "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6," \
  "application/openmetrics-text;version=0.0.1;q=0.5,"                      \
  "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,"                   \
  "text/plain;version=0.0.4;q=0.3,*/*;q=0.2"

/* "application/openmetrics-text" (any parameters, any case) -> OpenMetrics;
 * "text/plain", NULL, empty or anything else -> text. */
expfmt_format_t expfmt_format_from_content_type(const char *content_type);

typedef enum expfmt_type {
  EXPFMT_TYPE_UNKNOWN = 0, /* "untyped" (text) / "unknown" (OpenMetrics) */
  EXPFMT_TYPE_COUNTER,
  EXPFMT_TYPE_GAUGE,
  EXPFMT_TYPE_HISTOGRAM,
  EXPFMT_TYPE_GAUGEHISTOGRAM, /* OpenMetrics only */
  EXPFMT_TYPE_SUMMARY,
  EXPFMT_TYPE_INFO,     /* OpenMetrics only */
  EXPFMT_TYPE_STATESET, /* OpenMetrics only */
} expfmt_type_t;

/* "unknown", "counter", "gauge", "histogram", "gaugehistogram", "summary",
 * "info", "stateset" (Prometheus's metadata API names). */
const char *expfmt_type_name(expfmt_type_t t);

typedef enum expfmt_kind {
  EXPFMT_END = 0,     /* returned by next when the input is exhausted */
  EXPFMT_SERIES = 1,  /* a sample */
  EXPFMT_HELP = 2,    /* # HELP name text */
  EXPFMT_TYPE = 3,    /* # TYPE name type */
  EXPFMT_UNIT = 4,    /* # UNIT name unit (OpenMetrics) */
} expfmt_kind_t;

typedef struct expfmt_str {
  const char *ptr; /* not NUL-terminated; see the validity rule above */
  size_t len;
} expfmt_str_t;

typedef struct expfmt_label {
  expfmt_str_t name;  /* unescaped; never "__name__" */
  expfmt_str_t value; /* unescaped; may be empty */
} expfmt_label_t;

typedef struct expfmt_exemplar {
  const expfmt_label_t *labels; /* in exposition order; owned by the parser */
  size_t nlabels;
  double value;
  bool has_ts;
  int64_t ts_ms; /* OpenMetrics float seconds, converted to milliseconds */
} expfmt_exemplar_t;

typedef struct expfmt_entry {
  expfmt_kind_t kind;
  /* Every kind: the metric name (series) or metric family name
   * (metadata), unquoted and unescaped. */
  expfmt_str_t name;

  /* EXPFMT_SERIES ------------------------------------------------------ */
  /* The raw bytes of name and label set as written ("up{job=\"x\"}"),
   * always a slice of the input: a cheap cache key for the scrape loop. */
  expfmt_str_t series;
  /* Labels other than the metric name, in exposition order; names unique
   * and valid; owned by the parser.  Lazy mode: NULL / 0 until
   * expfmt_parser_labels. */
  const expfmt_label_t *labels;
  size_t nlabels;
  double value;
  bool has_ts;
  int64_t ts_ms;
  /* OpenMetrics: this is the <family>_created sample of a counter,
   * histogram or summary (a created timestamp, not a measurement); the
   * caller may skip it. */
  bool created;
  bool has_exemplar;
  expfmt_exemplar_t exemplar;

  /* EXPFMT_TYPE: the declared type.  EXPFMT_SERIES: the type of the family
   * the sample belongs to (from the TYPE line before it, when its name is
   * that family's name or name plus a suffix of that type), else UNKNOWN. */
  expfmt_type_t type;

  /* EXPFMT_HELP: the help text, unescaped.  EXPFMT_UNIT: the unit. */
  expfmt_str_t text;
} expfmt_entry_t;

/* Owned by its creator; expfmt_parser_free releases it. */
typedef struct expfmt_parser expfmt_parser_t;

/* A parser over buf[0..len), which must outlive every use of the parser
 * until the next reset.  buf need not be NUL-terminated; it is never
 * read outside [0, len). */
expfmt_parser_t *expfmt_parser_new(const char *buf, size_t len,
                                   expfmt_format_t format);
/* Points the parser at a new body, keeping its buffers for reuse. */
void expfmt_parser_reset(expfmt_parser_t *p, const char *buf, size_t len,
                         expfmt_format_t format);
void expfmt_parser_free(expfmt_parser_t *p); /* NULL is fine */

/* Parses the next entry into *e.  Returns its kind (> 0), 0 at the end of
 * the input, or PH_EPARSE on malformed input; after an error every later
 * call returns PH_EPARSE again. */
int expfmt_parser_next(expfmt_parser_t *p, expfmt_entry_t *e);

/* Lazy mode on or off (off after new; kept across reset).  Applies from
 * the next call to next. */
void expfmt_parser_set_lazy(expfmt_parser_t *p, bool lazy);

/* The label step of the series entry *e that the last next() call
 * returned (lazy mode): fills e->labels and e->nlabels, and refreshes
 * e->name and the exemplar's labels (the scratch buffer may have moved).
 * Returns 0, or PH_EPARSE with the error set (as next() would have set it
 * in eager mode) after which the parser is failed.  A no-op returning 0 in
 * eager mode, for a non-series entry, or when called again for the same
 * entry; must come before the next call to next/reset. */
int expfmt_parser_labels(expfmt_parser_t *p, expfmt_entry_t *e);

/* After PH_EPARSE: "LINE:COL: message" (NUL-terminated, owned by the
 * parser, valid until reset/free), and the position of the error: 1-based
 * line and byte column, 0-based byte offset.  "" and zeros otherwise. */
const char *expfmt_parser_error(const expfmt_parser_t *p);
void expfmt_parser_error_pos(const expfmt_parser_t *p, size_t *line,
                             size_t *col, size_t *offset);

/* Number of series entries returned since the last reset. */
size_t expfmt_parser_samples(const expfmt_parser_t *p);

#endif
