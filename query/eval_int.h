/*
 * eval_int.h - the PromQL evaluator's private types, shared by engine.c
 * (queries, planning, loading, step loops, results), eval.c (operators and
 * aggregations), funcs_eval.c (functions) and eval_util.c (maps, label
 * interning, number formatting, annotations).  Private to query/.
 *
 * Model.  A query is evaluated step by step ("step-major"): every node is
 * evaluated at one timestamp at a time, producing an instant value (scalar,
 * vector of samples, string, or a set of windows for a range vector).  Data
 * never comes from storage during the steps: a planning pass gives each
 * selector the time range it needs, one querier over the union selects each
 * selector once and every series' samples are decoded once into arrays; a
 * range selector at step t is then a window into those arrays, found by
 * per-series cursors that move forward with the steps (a few samples per
 * step, galloping over long jumps; a binary search when time goes back).  A subquery is materialised before the steps that use it by
 * running the same step loop over its own grid (Prometheus's absolute,
 * step-aligned times) for the union of all outer steps, and is windowed the
 * same way.
 *
 * Labels.  Every label set a query handles is interned in the query's label
 * table, so equal sets are the same pointer: grouping, vector matching and
 * duplicate detection compare pointers.  Derived sets (name dropped,
 * grouping labels, matching signatures, result metrics) are cached per node
 * keyed by the input pointer(s), so each is built once per query, not per
 * step.
 *
 * Memory.  Per-query data (decoded samples, node state, materialised
 * subqueries) lives in the query arena; per-step values in a step arena
 * reset after every step.  Growing arrays (output series) are heap
 * allocations tracked by the query.  Errors longjmp to the query's entry
 * point, which frees everything in one place.
 */
#ifndef PH_QUERY_EVAL_INT_H
#define PH_QUERY_EVAL_INT_H

#include "arena.h"
#include "ast.h"
#include "labels.h"
#include "promql.h"
#include "strbuf.h"
#include "tsdb.h"

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* --- Small hash map: uint64 key -> pointer (open addressing) ------------ */

typedef struct ev_map {
  uint64_t *keys;
  void **vals;
  uint8_t *used;
  size_t cap, n;
} ev_map_t;

void *ev_map_get(const ev_map_t *m, uint64_t k, bool *found);
void ev_map_put(ev_map_t *m, uint64_t k, void *v);
void ev_map_clear(ev_map_t *m);
void ev_map_free(ev_map_t *m);
uint64_t ev_mix64(uint64_t x);

/* --- Values ------------------------------------------------------------- */

typedef struct ev_sample {
  const labels_t *ls; /* interned */
  double v;
  int64_t t; /* sample timestamp (selectors) or the evaluation time */
} ev_sample_t;

typedef struct ev_vec {
  ev_sample_t *s;
  size_t n;
} ev_vec_t;

/* A range-vector element at one step: a window into decoded samples. */
typedef struct ev_window {
  const labels_t *ls;
  const int64_t *ts;
  const double *vs;
  size_t n;
} ev_window_t;

typedef enum { EV_SCALAR, EV_VECTOR, EV_MATRIX, EV_STRING } ev_kind_t;

typedef struct ev_value {
  ev_kind_t kind;
  double scalar;
  ev_vec_t vec;
  ev_window_t *win; /* EV_MATRIX */
  size_t nwin;
  int64_t range_start, range_end; /* EV_MATRIX: (start, end] */
  int64_t range_ms;
  const char *str;
} ev_value_t;

/* A decoded or materialised series. */
typedef struct ev_series {
  const labels_t *ls;
  int64_t *ts;
  double *vs;
  size_t n, cap;
  int64_t last_step; /* materialisation: time of the last point added */
} ev_series_t;

typedef struct ev_grid {
  int64_t start, end, step;
  size_t n;
} ev_grid_t;

/* --- Per-node state ------------------------------------------------------ */

typedef struct ev_pair {
  const labels_t *a, *b, *out;
  struct ev_pair *next;
} ev_pair_t;

typedef struct ev_nstate {
  const promql_node_t *node;
  int func; /* CALL: evaluator function id */
  /* Selectors: decoded series (MATRIX_SEL: stale markers removed). */
  bool planned;
  int64_t mint, maxt;
  ev_series_t *series;
  size_t nseries;
  /* Window cursors over series (or sq): per series the count of samples
   * <= the window start (cur_lo) and <= its end (cur_hi) at the last
   * evaluation time cur_te.  Steps move forward, so each step advances
   * them by a few samples instead of two binary searches per series. */
  size_t *cur_lo, *cur_hi;
  int64_t cur_te;
  bool cur_valid;
  /* Subqueries: grid and materialised result. */
  ev_grid_t grid;
  ev_series_t *sq;
  size_t nsq;
  bool materialised;
  /* Label caches. */
  ev_map_t lmap;  /* input labels -> derived labels */
  ev_map_t lmap2; /* input labels -> signature / grouping (no collisions) */
  void *re;       /* compiled regex (label_replace) */
  const labels_t *absent_ls; /* absent(): labels from the matchers */
  ev_map_t rev;   /* derived labels -> input identity */
  bool may_collide;
  ev_map_t seen;  /* per-step duplicate check / matrix-function sources */
  ev_pair_t **pairs; /* binop result metric cache (hash buckets) */
  size_t npairs_cap;
  /* Aggregations with a parameter: its value at every step of the grid. */
  double *params;
  const ev_grid_t *params_grid;
  /* Per-step scratch maps reused across steps. */
  ev_map_t m1, m2;
} ev_nstate_t;

/* --- The query context --------------------------------------------------- */

typedef struct ev_intern ev_intern_t;

/* Per-step memory: a bump allocator whose chunks are kept across resets,
 * so a steady step loop allocates nothing from the system. */
typedef struct ev_chunk {
  struct ev_chunk *next;
  size_t size, used;
  _Alignas(16) unsigned char data[];
} ev_chunk_t;

typedef struct ev_stepmem {
  ev_chunk_t *head, *cur;
} ev_stepmem_t;

void *ev_stepmem_alloc(ev_stepmem_t *m, size_t n);
void ev_stepmem_reset(ev_stepmem_t *m);
void ev_stepmem_free(ev_stepmem_t *m);

typedef struct ev_ctx {
  jmp_buf jb;
  int err_code;
  const char *err_type;
  char err_msg[1024];

  int64_t lookback_ms;
  int64_t max_samples;
  int64_t deadline_ns; /* 0 = none */
  int64_t query_start, query_end; /* for @ start() / @ end() */
  int64_t sq_default_step;

  arena_t *arena;  /* query lifetime */
  ev_stepmem_t *step; /* current step loop's memory */
  ev_intern_t *intern;
  labels_builder_t *lb;

  ev_map_t states; /* node pointer -> ev_nstate_t* */

  const ev_grid_t *grid; /* grid of the running step loop */
  size_t step_idx;
  int64_t step_t; /* time of the current step */

  /* Sample accounting (Prometheus's "current samples"). */
  int64_t held_samples; /* in materialised results and the output */
  int64_t step_samples; /* produced during the current step */
  uint64_t total_samples;
  unsigned check_ctr;

  /* Heap allocations and compiled regexes to free at the end. */
  void **owned;
  size_t nowned, capowned;
  void **regexes;
  size_t nregexes, capregexes;

  /* Annotations, deduplicated; stored as "msg\x01pos" pairs. */
  char **warnings, **infos;
  size_t nwarnings, ninfos, capw, capi;
} ev_ctx_t;

/* --- eval_util.c --------------------------------------------------------- */

void ev_fail(ev_ctx_t *c, int code, const char *type, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 4, 5)));
void ev_check_time(ev_ctx_t *c);
void ev_count_samples(ev_ctx_t *c, int64_t n);
void *ev_alloc(ev_ctx_t *c, size_t n);      /* step arena */
void *ev_qalloc(ev_ctx_t *c, size_t n);     /* query arena */
void ev_own(ev_ctx_t *c, void *p);          /* free at the end of the query */

ev_intern_t *ev_intern_new(void);
void ev_intern_free(ev_intern_t *in);
/* Returns the canonical copy of ls (takes ownership of ls). */
const labels_t *ev_intern(ev_ctx_t *c, labels_t *ls);
/* Finishes the context's builder and interns the result. */
const labels_t *ev_intern_builder(ev_ctx_t *c);
const labels_t *ev_empty_labels(ev_ctx_t *c);

ev_nstate_t *ev_state(ev_ctx_t *c, const promql_node_t *n);
/* Maps in through the node's cache, building with fn on a miss; records
 * collisions (two inputs, one output) in st->may_collide. */
typedef const labels_t *(*ev_label_fn)(ev_ctx_t *c, const labels_t *in,
                                       const void *arg);
const labels_t *ev_map_labels(ev_ctx_t *c, ev_nstate_t *st, const labels_t *in,
                              ev_label_fn fn, const void *arg);
const labels_t *ev_drop_name_fn(ev_ctx_t *c, const labels_t *in,
                                const void *arg);
/* Per-step duplicate check of an output vector ("vector cannot contain
 * metrics with the same labelset"), only when the node may collide. */
void ev_check_dups(ev_ctx_t *c, ev_nstate_t *st, const ev_vec_t *v);

void ev_warn(ev_ctx_t *c, uint32_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void ev_info(ev_ctx_t *c, uint32_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Go's strconv.FormatFloat(v, 'g', -1, 64) (fmt's %g / %v for floats). */
void ev_format_g(strbuf_t *b, double v);
/* Go's strconv.ParseFloat(s, 64) acceptance (for le labels). */
bool ev_parse_float(const char *s, double *out);
bool ev_valid_label_name(const char *s, size_t len); /* UTF-8 mode */
double ev_kahan_inc(double inc, double sum, double *c);

/* --- eval.c --------------------------------------------------------------- */

/* Evaluates n at step time t into *out (allocations in the step arena). */
void ev_eval(ev_ctx_t *c, const promql_node_t *n, int64_t t, ev_value_t *out);
const promql_node_t *ev_unparen(const promql_node_t *n);
int64_t ev_at_time(ev_ctx_t *c, promql_at_t at, int64_t at_ms, int64_t t);
/* Range-vector windows of a MATRIX_SEL or SUBQUERY node at t. */
void ev_windows(ev_ctx_t *c, const promql_node_t *n, int64_t t,
                ev_value_t *out);
double ev_quantile(double q, double *vals, size_t n); /* sorts vals */
/* Go's sort.Sort(sort.Reverse(vectorBy[Reverse]ValueHeap)): asc false =
 * descending (topk, sort_desc), true = ascending (bottomk, sort); NaN last. */
void ev_sort_samples(ev_ctx_t *c, ev_sample_t *h, size_t n, bool asc);

/* --- funcs_eval.c ------------------------------------------------------- */

int ev_func_id(const char *name); /* -1 when not implemented */
void ev_call(ev_ctx_t *c, const promql_node_t *n, int64_t t, ev_value_t *out);

/* --- engine.c ------------------------------------------------------------ */

/* Materialises a subquery node's result (runs its step loop). */
void ev_materialise(ev_ctx_t *c, const promql_node_t *sq);

#endif
