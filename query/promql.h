/*
 * promql.h - the PromQL query engine's public face: parse text to an
 * expression, print it back.
 *
 * promql_parse() accepts the stable language as Prometheus v3 parses it
 * (numbers and durations, strings, selectors with UTF-8 names, ranges,
 * offset and @, subqueries, every binary operator with its precedence and
 * vector matching, aggregations, function calls) and type-checks it the way
 * Prometheus does.  A failure gives a positioned error whose text reads like
 * Prometheus's, e.g. "1:5: parse error: unexpected <op:+>".
 *
 * promql_format() writes the canonical single-line form (Prometheus's
 * Expr.String()); promql_format_pretty() the form /api/v1/format_query
 * returns (Prometheus's Pretty(0): split over lines past 100 columns).
 *
 * The expression's nodes are reachable through query/ast.h, which is private
 * to the query module (the evaluator uses it).
 */
#ifndef PH_PROMQL_H
#define PH_PROMQL_H

#include "strbuf.h"

#include <stdbool.h>
#include <stddef.h>

/* A parsed expression: owned by the caller of promql_parse(), freed with
 * promql_expr_free().  All its nodes and strings live in one arena it owns. */
typedef struct promql_expr promql_expr_t;

typedef struct promql_error {
  int code;          /* PH_EPARSE (bad query) or PH_ELIMIT (too large) */
  char msg[1024];    /* "1:5: parse error: unexpected <op:+>" */
  size_t detail_off; /* msg + detail_off: the text after "parse error: " */
  size_t start, end; /* byte range of the offending part of the input */
  int line, col;     /* 1-based line, 1-based byte column of start */
} promql_error_t;

typedef struct promql_parse_opts {
  /* Accept Prometheus's experimental functions and aggregators
   * (sort_by_label, limitk, ...), as --enable-feature=
   * promql-experimental-functions does.  Off by default. */
  bool experimental_functions;
} promql_parse_opts_t;

/* Parses text[0..len) (need not be NUL-terminated).  Returns NULL and fills
 * *err (if not NULL) on failure. */
promql_expr_t *promql_parse(const char *text, size_t len, promql_error_t *err);
/* As promql_parse with options (opts may be NULL for the defaults). */
promql_expr_t *promql_parse_ex(const char *text, size_t len,
                               const promql_parse_opts_t *opts,
                               promql_error_t *err);
void promql_expr_free(promql_expr_t *e);

/* Appends the canonical single-line text (Prometheus's String()). */
void promql_format(const promql_expr_t *e, strbuf_t *out);
/* Appends the prettified text (Prometheus's Pretty(0), format_query). */
void promql_format_pretty(const promql_expr_t *e, strbuf_t *out);

/* Result type of the expression: "scalar", "vector", "matrix" or "string"
 * (the names the HTTP API's resultType uses). */
const char *promql_expr_type_name(const promql_expr_t *e);

/* --- Evaluation (engine.c, eval*.c, funcs_eval.c) ---------------------------
 *
 * Prometheus 3 semantics: 5m lookback, left-open windows, staleness
 * markers, offset and @ per selector, step-aligned subqueries, immediate
 * __name__ removal.  Each selector is read from storage once per query;
 * see docs/internals/promql.md.
 */
#include "labels.h"
#include "tsdb.h"

#include <stdint.h>

typedef struct promql_engine_opts {
  int64_t lookback_ms; /* default 5m */
  int64_t timeout_ms;  /* 0 = none */
  int64_t max_samples; /* 0 = unlimited; default 50e6 */
} promql_engine_opts_t;

/* Thread-safe (immutable after creation); owned by the creator. */
typedef struct promql_engine promql_engine_t;
promql_engine_t *promql_engine_new(const promql_engine_opts_t *o); /* NULL = defaults */
void promql_engine_free(promql_engine_t *e);

typedef enum {
  PROMQL_RESULT_SCALAR,
  PROMQL_RESULT_VECTOR,
  PROMQL_RESULT_MATRIX,
  PROMQL_RESULT_STRING
} promql_result_type_t;

/* Owned by the caller; promql_result_free.  Everything it returns is valid
 * until then. */
typedef struct promql_result promql_result_t;

typedef struct promql_eval_error {
  int code; /* PH_EPARSE bad_data, PH_ETIMEOUT timeout, PH_ELIMIT too many
               samples, PH_ECANCELED, PH_EINVAL/other execution */
  const char *error_type; /* "bad_data","execution","timeout","canceled","internal" */
  char msg[1024];
} promql_eval_error_t;

/* Evaluate at one instant (a vector keeps Prometheus's order: sort, topk;
 * an expression that is a range selector or subquery gives a matrix), or
 * over [start, end] every step (a matrix sorted by labels).  0 or a
 * negative PH_E* code with *err filled; *out is set only on success. */
int promql_eval_instant(promql_engine_t *e, tsdb_t *db, const promql_expr_t *expr,
                        int64_t t_ms, promql_result_t **out, promql_eval_error_t *err);
int promql_eval_range(promql_engine_t *e, tsdb_t *db, const promql_expr_t *expr,
                      int64_t start_ms, int64_t end_ms, int64_t step_ms,
                      promql_result_t **out, promql_eval_error_t *err);

promql_result_type_t promql_result_type(const promql_result_t *r);
size_t promql_result_len(const promql_result_t *r); /* series count (vector/matrix) */
const labels_t *promql_result_labels(const promql_result_t *r, size_t i);
/* vector: one point at the eval time */
size_t promql_result_points(const promql_result_t *r, size_t i, const int64_t **ts,
                            const double **vals);
double promql_result_scalar(const promql_result_t *r, int64_t *t);
const char *promql_result_string(const promql_result_t *r, int64_t *t);
/* Annotations as Prometheus's API words them: "PromQL warning: ... (1:7)". */
size_t promql_result_warnings(const promql_result_t *r, const char *const **msgs);
size_t promql_result_infos(const promql_result_t *r, const char *const **msgs);
uint64_t promql_result_samples_total(const promql_result_t *r); /* for stats=all */
void promql_result_free(promql_result_t *r);

/* match[] for /api/v1/series etc.: parse a bare vector selector into
 * matchers (Prometheus parser.ParseMetricSelector); the matchers and their
 * strings are valid until promql_selector_free. */
typedef struct promql_selector promql_selector_t;
int promql_parse_selector(const char *text, size_t len, promql_selector_t **out,
                          promql_error_t *err);
size_t promql_selector_matchers(const promql_selector_t *s, const tsdb_matcher_t **m);
void promql_selector_free(promql_selector_t *s);


#endif
