/*
 * engine.c - the PromQL engine's entry points: instant and range queries,
 * results, and match[] selector parsing (promql.h).
 *
 * A query runs in four phases over one ev_ctx_t (eval_int.h):
 *
 *   1. plan     walk the tree with the grid (start, end, step) each node is
 *               evaluated on; every selector learns the time range it needs
 *               (offset, @, lookback or range included), every subquery its
 *               own grid: the multiples of its step in (first outer step -
 *               offset - range, last outer step - offset], or around its @
 *               time;
 *   2. load     one querier over the union of all ranges; each selector is
 *               selected once (selectors written twice with the same
 *               matchers and kind share one selection over the union of
 *               their ranges) and each series decoded once, straight into
 *               262144-sample blocks that finished queries return to a
 *               process-wide pool of at most 32 MiB, so steady-state
 *               queries write into memory that is already mapped (range
 *               selectors drop staleness markers here);
 *   3. steps    the root is evaluated at every step of the query grid; a
 *               subquery is materialised the first time a step needs it by
 *               running the same loop over its grid (nested loops save and
 *               restore the step state); each loop has its own step arena,
 *               reset after every step;
 *   4. result   instant queries keep the vector's order (sort, topk); range
 *               results are series sorted by labels.
 *
 * Errors anywhere longjmp back to run_query(), which frees the context
 * (arenas, intern table, maps, regexes, open querier and series set) and
 * reports code, Prometheus error type and message.  Limits: a deadline
 * checked every step and every few dozen vectors/windows, and Prometheus's
 * "current samples" count (samples held by materialised results and the
 * output, plus those produced during the current step).
 */
#include "eval_int.h"

#include "mem.h"
#include "ph_error.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* A decoded-sample block: SBLOCK_SAMPLES timestamps and values. */
/* 262144 samples (4 MiB): a week of 15 s samples (40320) is a sixth of a
 * block, so few series straddle a block's end and get moved. */
enum { SBLOCK_SAMPLES = 262144, POOL_MAX_BLOCKS = 8 /* 32 MiB */ };

typedef struct sblock {
  int64_t *t;
  double *v;
  size_t cap, used;
} sblock_t;

/* Sample blocks that finished queries hand back, so the next query decodes
 * into memory that is already mapped: decoding a dashboard panel's 24 h
 * into fresh memory spent as much time in page faults as in decoding.  One
 * pool for the process (the server creates an engine per request), at most
 * POOL_MAX_BLOCKS blocks; reachable from here until the process exits. */
static pthread_mutex_t g_pool_mu = PTHREAD_MUTEX_INITIALIZER;
static sblock_t g_pool[POOL_MAX_BLOCKS];
static size_t g_npool;

struct promql_engine {
  promql_engine_opts_t o;
};

struct promql_result {
  promql_result_type_t type;
  double scalar;
  int64_t t;
  char *str;
  size_t n;
  labels_t **labels;
  int64_t **ts;
  double **vals;
  size_t *npts;
  char **warnings, **infos;
  size_t nwarnings, ninfos;
  uint64_t samples_total;
};

promql_engine_t *promql_engine_new(const promql_engine_opts_t *o) {
  promql_engine_t *e = ph_calloc(1, sizeof(*e));
  e->o.lookback_ms = 5 * 60 * 1000;
  e->o.timeout_ms = 0;
  e->o.max_samples = 50000000;
  if (o) {
    if (o->lookback_ms > 0) e->o.lookback_ms = o->lookback_ms;
    e->o.timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 0;
    e->o.max_samples = o->max_samples > 0 ? o->max_samples : 0;
  }
  return e;
}

void promql_engine_free(promql_engine_t *e) { free(e); }

/* --- Context lifetime ------------------------------------------------------- */

typedef struct run_state {
  /* Resources that must be released when a step longjmps out. */
  tsdb_querier_t *querier;
  tsdb_series_set_t *set;
  ev_stepmem_t **arenas; /* step memories of the running loops */
  size_t narenas, caparenas;
  ev_nstate_t **sels;
  size_t nsels, capsels;
  ev_map_t out_idx;
  /* Sample blocks in use: back to the pool (SBLOCK_SAMPLES ones) or freed
   * at the end of the query. */
  sblock_t *blocks;
  size_t nblocks, capblocks;
} run_state_t;

static _Thread_local run_state_t *g_rs;

static void free_state_maps(ev_ctx_t *c) {
  for (size_t i = 0; i < c->states.cap; i++) {
    if (!c->states.used[i]) continue;
    ev_nstate_t *st = c->states.vals[i];
    ev_map_free(&st->lmap);
    ev_map_free(&st->lmap2);
    ev_map_free(&st->rev);
    ev_map_free(&st->seen);
    ev_map_free(&st->m1);
    ev_map_free(&st->m2);
  }
  ev_map_free(&c->states);
}

static void ctx_free(ev_ctx_t *c, run_state_t *rs) {
  if (rs->set) tsdb_series_set_free(rs->set);
  if (rs->querier) tsdb_querier_close(rs->querier);
  for (size_t i = 0; i < rs->narenas; i++) {
    ev_stepmem_free(rs->arenas[i]);
    free(rs->arenas[i]);
  }
  free(rs->arenas);
  free(rs->sels);
  if (rs->nblocks) {
    pthread_mutex_lock(&g_pool_mu);
    for (size_t i = 0; i < rs->nblocks; i++) {
      sblock_t *b = &rs->blocks[i];
      if (b->cap == SBLOCK_SAMPLES && g_npool < POOL_MAX_BLOCKS) {
        g_pool[g_npool++] = *b;
      } else {
        free(b->t);
        free(b->v);
      }
    }
    pthread_mutex_unlock(&g_pool_mu);
  }
  free(rs->blocks);
  ev_map_free(&rs->out_idx);
  free_state_maps(c);
  for (size_t i = 0; i + 1 < c->nregexes; i += 2) {
    pcre2_code_free(c->regexes[i]);
    pcre2_match_data_free(c->regexes[i + 1]);
  }
  free(c->regexes);
  for (size_t i = 0; i < c->nowned; i++) free(c->owned[i]);
  free(c->owned);
  for (size_t i = 0; i < c->nwarnings; i++) free(c->warnings[i]);
  for (size_t i = 0; i < c->ninfos; i++) free(c->infos[i]);
  free(c->warnings);
  free(c->infos);
  if (c->lb) labels_builder_free(c->lb);
  ev_intern_free(c->intern);
  if (c->arena) arena_free(c->arena);
  free(c);
}

/* --- Planning ----------------------------------------------------------------- */

static void add_sel(ev_ctx_t *c, ev_nstate_t *st, int64_t lo, int64_t hi) {
  run_state_t *rs = g_rs;
  if (!st->planned) {
    st->planned = true;
    st->mint = lo;
    st->maxt = hi;
    ph_grow(&rs->sels, &rs->capsels, rs->nsels + 1);
    rs->sels[rs->nsels++] = st;
  } else {
    if (lo < st->mint) st->mint = lo;
    if (hi > st->maxt) st->maxt = hi;
  }
  (void)c;
}

/* Smallest multiple of step strictly greater than x. */
static int64_t align_after(int64_t x, int64_t step) {
  int64_t a = step * (x / step); /* truncation toward zero, as Go */
  if (a <= x) a += step;
  return a;
}

static void plan(ev_ctx_t *c, const promql_node_t *n, const ev_grid_t *g) {
  switch (n->kind) {
    case PROMQL_NODE_NUMBER:
    case PROMQL_NODE_STRING:
      return;
    case PROMQL_NODE_PAREN:
      plan(c, n->u.paren.expr, g);
      return;
    case PROMQL_NODE_UNARY:
      plan(c, n->u.unary.expr, g);
      return;
    case PROMQL_NODE_BINARY:
      plan(c, n->u.bin.lhs, g);
      plan(c, n->u.bin.rhs, g);
      return;
    case PROMQL_NODE_AGGREGATE:
      if (n->u.agg.param) plan(c, n->u.agg.param, g);
      plan(c, n->u.agg.expr, g);
      return;
    case PROMQL_NODE_CALL:
      for (size_t i = 0; i < n->u.call.nargs; i++) plan(c, n->u.call.args[i], g);
      return;
    case PROMQL_NODE_VECTOR_SEL:
    case PROMQL_NODE_MATRIX_SEL: {
      const promql_node_t *vs =
          n->kind == PROMQL_NODE_VECTOR_SEL ? n : n->u.ms.vs;
      int64_t back = n->kind == PROMQL_NODE_VECTOR_SEL ? c->lookback_ms
                                                       : n->u.ms.range_ms;
      int64_t lo, hi;
      if (vs->u.vs.at != PROMQL_AT_NONE) {
        int64_t at = ev_at_time(c, vs->u.vs.at, vs->u.vs.at_ms, 0);
        hi = at - vs->u.vs.offset_ms;
        lo = hi;
      } else {
        lo = g->start - vs->u.vs.offset_ms;
        hi = g->end - vs->u.vs.offset_ms;
      }
      add_sel(c, ev_state(c, n), lo - back, hi);
      return;
    }
    case PROMQL_NODE_SUBQUERY: {
      ev_nstate_t *st = ev_state(c, n);
      int64_t step = n->u.sq.step_ms > 0 ? n->u.sq.step_ms : c->sq_default_step;
      int64_t s0, e0;
      if (n->u.sq.at != PROMQL_AT_NONE) {
        int64_t at = ev_at_time(c, n->u.sq.at, n->u.sq.at_ms, 0);
        s0 = e0 = at - n->u.sq.offset_ms;
      } else {
        s0 = g->start - n->u.sq.offset_ms;
        e0 = g->end - n->u.sq.offset_ms;
      }
      st->grid.step = step;
      st->grid.start = align_after(s0 - n->u.sq.range_ms, step);
      st->grid.end = e0;
      st->grid.n = st->grid.start <= e0
                       ? (size_t)((e0 - st->grid.start) / step) + 1
                       : 0;
      if (st->grid.n > 0) {
        st->grid.end = st->grid.start + (int64_t)(st->grid.n - 1) * step;
      }
      plan(c, n->u.sq.expr, &st->grid);
      return;
    }
  }
}

/* --- Loading -------------------------------------------------------------------- */

static bool is_stale_bits(double v) {
  uint64_t b;
  memcpy(&b, &v, sizeof b);
  return b == TSDB_STALE_NAN_BITS;
}

/* The vector selector of a selector node. */
static const promql_node_t *sel_vs(const ev_nstate_t *st) {
  const promql_node_t *n = st->node;
  return n->kind == PROMQL_NODE_MATRIX_SEL ? n->u.ms.vs : n;
}

/* Same kind (a range selector drops staleness markers) and the same
 * matchers in the same order: one select serves both. */
static bool same_selection(const ev_nstate_t *a, const ev_nstate_t *b) {
  if ((a->node->kind == PROMQL_NODE_MATRIX_SEL) != (b->node->kind == PROMQL_NODE_MATRIX_SEL))
    return false;
  const promql_node_t *x = sel_vs(a), *y = sel_vs(b);
  if (x->u.vs.nmatchers != y->u.vs.nmatchers) return false;
  for (size_t i = 0; i < x->u.vs.nmatchers; i++) {
    const promql_matcher_t *m = &x->u.vs.matchers[i], *k = &y->u.vs.matchers[i];
    if (m->type != k->type || strcmp(m->name, k->name) != 0 || m->value_len != k->value_len ||
        memcmp(m->value, k->value, m->value_len) != 0)
      return false;
  }
  return true;
}

/* Decoded samples live in blocks of SBLOCK_SAMPLES (or more for one long
 * series), taken from the pool or allocated as needed, and handed back at
 * the end of the query (ctx_free).  A series
 * is decoded straight into the current block; when the block fills up, the
 * part of that series decoded so far moves to a fresh block (a series'
 * samples are contiguous), so nothing else is ever copied. */
static void sblock_new(run_state_t *rs, sblock_t *b, size_t cap) {
  b->t = NULL;
  if (cap == SBLOCK_SAMPLES) {
    pthread_mutex_lock(&g_pool_mu);
    if (g_npool > 0) *b = g_pool[--g_npool];
    pthread_mutex_unlock(&g_pool_mu);
  }
  if (!b->t) {
    b->t = ph_malloc(cap * sizeof(int64_t));
    b->v = ph_malloc(cap * sizeof(double));
  }
  b->cap = cap;
  b->used = 0;
  ph_grow(&rs->blocks, &rs->capblocks, rs->nblocks + 1);
  rs->blocks[rs->nblocks++] = *b;
}

/* Selects one selector's series and decodes their samples in
 * [st->mint, st->maxt] into the blocks; each series points at its slice. */
static void load_one(ev_ctx_t *c, run_state_t *rs, ev_nstate_t *st, sblock_t *b) {
  bool matrix = st->node->kind == PROMQL_NODE_MATRIX_SEL;
  const promql_node_t *vs = sel_vs(st);
  size_t nm = vs->u.vs.nmatchers;
  tsdb_matcher_t *m = ev_qalloc(c, (nm + 1) * sizeof(*m));
  for (size_t i = 0; i < nm; i++) {
    m[i].type = vs->u.vs.matchers[i].type;
    m[i].name = vs->u.vs.matchers[i].name;
    m[i].value = vs->u.vs.matchers[i].value;
  }
  char err[512];
  int rc = tsdb_select(rs->querier, m, nm, &rs->set, err, sizeof(err));
  if (rc < 0) {
    rs->set = NULL;
    ev_fail(c, rc, "execution", "%s", err);
  }
  size_t cap = tsdb_series_set_count(rs->set);
  st->series = cap ? ev_qalloc(c, cap * sizeof(ev_series_t)) : NULL;
  st->nseries = 0;
  int64_t mint = st->mint, maxt = st->maxt;
  size_t k = 0;
  while (tsdb_series_set_next(rs->set)) {
    if ((++k & 255) == 0) ev_check_time(c);
    tsdb_iterator_t *it = tsdb_series_set_iterator(rs->set);
    size_t off = b->used;
    if (tsdb_iterator_seek(it, mint)) {
      do {
        int64_t t;
        double v;
        tsdb_iterator_at(it, &t, &v);
        if (t > maxt) break;
        if (matrix && is_stale_bits(v)) continue;
        if (b->used == b->cap) {
          size_t have = b->used - off;
          sblock_t nb;
          sblock_new(rs, &nb, have * 2 > SBLOCK_SAMPLES ? have * 2 : SBLOCK_SAMPLES);
          if (have) {
            memcpy(nb.t, b->t + off, have * sizeof(int64_t));
            memcpy(nb.v, b->v + off, have * sizeof(double));
          }
          nb.used = have;
          *b = nb;
          off = 0;
        }
        b->t[b->used] = t;
        b->v[b->used] = v;
        b->used++;
      } while (tsdb_iterator_next(it));
    }
    rc = tsdb_iterator_err(it);
    if (rc < 0) ev_fail(c, rc, "internal", "reading samples: %s", ph_strerror(rc));
    if (b->used == off) continue;
    ph_assert(st->nseries < cap);
    ev_series_t *s = &st->series[st->nseries++];
    s->ls = ev_intern(c, labels_dup(tsdb_series_set_labels(rs->set)));
    s->ts = b->t + off;
    s->vs = b->v + off;
    s->n = s->cap = b->used - off;
  }
  tsdb_series_set_free(rs->set);
  rs->set = NULL;
}

static void load(ev_ctx_t *c, tsdb_t *db) {
  run_state_t *rs = g_rs;
  if (rs->nsels == 0) return;
  /* Selectors written more than once (a panel's `x / x_total`, Node
   * Exporter Full's count(count(node_cpu_seconds_total) by (cpu))) are
   * selected and decoded once over the union of their ranges: lead[i] is
   * the first selector equal to selector i. */
  size_t *lead = ph_malloc(rs->nsels * sizeof(size_t));
  ev_own(c, lead);
  int64_t mint = INT64_MAX, maxt = INT64_MIN;
  for (size_t i = 0; i < rs->nsels; i++) {
    ev_nstate_t *st = rs->sels[i];
    lead[i] = i;
    for (size_t j = 0; j < i; j++) {
      if (lead[j] == j && same_selection(rs->sels[j], st)) {
        lead[i] = j;
        ev_nstate_t *l = rs->sels[j];
        if (st->mint < l->mint) l->mint = st->mint;
        if (st->maxt > l->maxt) l->maxt = st->maxt;
        break;
      }
    }
    if (st->mint < mint) mint = st->mint;
    if (st->maxt > maxt) maxt = st->maxt;
  }
  int rc = tsdb_querier_open(db, mint, maxt, &rs->querier);
  if (rc < 0) {
    rs->querier = NULL;
    ev_fail(c, rc, "internal", "opening querier: %s", ph_strerror(rc));
  }
  sblock_t b = {NULL, NULL, 0, 0};
  for (size_t i = 0; i < rs->nsels; i++) {
    if (lead[i] == i) load_one(c, rs, rs->sels[i], &b);
  }
  for (size_t i = 0; i < rs->nsels; i++) {
    if (lead[i] == i) continue;
    rs->sels[i]->series = rs->sels[lead[i]]->series;
    rs->sels[i]->nseries = rs->sels[lead[i]]->nseries;
  }
  tsdb_querier_close(rs->querier);
  rs->querier = NULL;
}

/* --- Step loops ------------------------------------------------------------------ */

typedef void (*sink_fn)(ev_ctx_t *c, void *arg, ev_value_t *v, int64_t t,
                        size_t i);

static void run_loop(ev_ctx_t *c, const promql_node_t *root, const ev_grid_t *g,
                     sink_fn sink, void *arg) {
  run_state_t *rs = g_rs;
  const ev_grid_t *sg = c->grid;
  size_t sidx = c->step_idx;
  int64_t st = c->step_t, ssamp = c->step_samples;
  ev_stepmem_t *sarena = c->step;
  ev_stepmem_t *a = ph_calloc(1, sizeof(*a));
  ph_grow(&rs->arenas, &rs->caparenas, rs->narenas + 1);
  rs->arenas[rs->narenas++] = a;
  c->grid = g;
  c->step = a;
  for (size_t i = 0; i < g->n; i++) {
    int64_t t = g->start + (int64_t)i * g->step;
    c->step_idx = i;
    c->step_t = t;
    c->step_samples = 0;
    ev_check_time(c);
    ev_value_t v;
    memset(&v, 0, sizeof(v));
    ev_eval(c, root, t, &v);
    sink(c, arg, &v, t, i);
    ev_stepmem_reset(a);
  }
  rs->narenas--;
  ev_stepmem_free(a);
  free(a);
  c->grid = sg;
  c->step_idx = sidx;
  c->step_t = st;
  c->step_samples = ssamp;
  c->step = sarena;
}

typedef struct mat_sink {
  ev_map_t *idx;
  ev_series_t *s;
  size_t n, cap;
} mat_sink_t;

static void series_add(ev_ctx_t *c, mat_sink_t *ms, const labels_t *ls,
                       int64_t t, double v, size_t expect) {
  bool found;
  void *p = ev_map_get(ms->idx, (uint64_t)(uintptr_t)ls, &found);
  ev_series_t *s;
  if (!found) {
    if (ms->n == ms->cap) {
      size_t nc = ms->cap ? ms->cap * 2 : 16;
      ev_series_t *ns = ev_qalloc(c, nc * sizeof(*ns));
      if (ms->n) memcpy(ns, ms->s, ms->n * sizeof(*ns));
      ms->s = ns;
      ms->cap = nc;
    }
    ev_map_put(ms->idx, (uint64_t)(uintptr_t)ls, (void *)(uintptr_t)ms->n);
    s = &ms->s[ms->n++];
    memset(s, 0, sizeof(*s));
    s->ls = ls;
  } else {
    s = &ms->s[(uintptr_t)p];
    if (s->n > 0 && s->last_step == t) {
      ev_fail(c, PH_EINVAL, "execution",
              "vector cannot contain metrics with the same labelset");
    }
  }
  if (s->n == s->cap) {
    size_t nc = s->cap ? s->cap * 2 : (expect < 16 ? 16 : expect);
    int64_t *nt = arena_alloc(c->arena, nc * sizeof(int64_t));
    double *nv = arena_alloc(c->arena, nc * sizeof(double));
    if (!nt || !nv) ev_fail(c, PH_ENOMEM, "execution", "out of memory");
    if (s->n) {
      memcpy(nt, s->ts, s->n * sizeof(int64_t));
      memcpy(nv, s->vs, s->n * sizeof(double));
    }
    s->ts = nt;
    s->vs = nv;
    s->cap = nc;
  }
  s->ts[s->n] = t;
  s->vs[s->n] = v;
  s->n++;
  s->last_step = t;
  c->held_samples++;
}

static void vector_sink(ev_ctx_t *c, void *arg, ev_value_t *v, int64_t t,
                        size_t i) {
  (void)i;
  mat_sink_t *ms = arg;
  if (v->kind == EV_SCALAR) {
    series_add(c, ms, ev_empty_labels(c), t, v->scalar, c->grid->n);
    return;
  }
  for (size_t k = 0; k < v->vec.n; k++) {
    series_add(c, ms, v->vec.s[k].ls, t, v->vec.s[k].v, 16);
  }
  if (c->max_samples > 0 && c->held_samples > c->max_samples) {
    ev_count_samples(c, 0);
  }
}

void ev_materialise(ev_ctx_t *c, const promql_node_t *sq) {
  ev_nstate_t *st = ev_state(c, sq);
  mat_sink_t ms = {&st->seen, NULL, 0, 0};
  run_loop(c, sq->u.sq.expr, &st->grid, vector_sink, &ms);
  st->sq = ms.s;
  st->nsq = ms.n;
  st->materialised = true;
}

/* --- Results ---------------------------------------------------------------------- */

static int cmp_series(const void *a, const void *b) {
  return labels_cmp(((const ev_series_t *)a)->ls, ((const ev_series_t *)b)->ls);
}

static promql_result_t *result_new(promql_result_type_t type) {
  promql_result_t *r = ph_calloc(1, sizeof(*r));
  r->type = type;
  return r;
}

static void result_alloc(promql_result_t *r, size_t n) {
  r->n = n;
  r->labels = ph_calloc(n ? n : 1, sizeof(*r->labels));
  r->ts = ph_calloc(n ? n : 1, sizeof(*r->ts));
  r->vals = ph_calloc(n ? n : 1, sizeof(*r->vals));
  r->npts = ph_calloc(n ? n : 1, sizeof(*r->npts));
}

/* A copy that owns its strings, so a result outlives the database whose
 * symbol table the input label sets may point into. */
static labels_t *labels_copy_plain(const labels_t *ls) {
  size_t n = labels_len(ls);
  label_t stack[32];
  label_t *pairs = n <= 32 ? stack : ph_malloc(n * sizeof(*pairs));
  for (size_t i = 0; i < n; i++) pairs[i] = *labels_at(ls, i);
  labels_t *out = labels_new(NULL, pairs, n, NULL, 0);
  if (pairs != stack) free(pairs);
  ph_assert(out != NULL);
  return out;
}

static void result_set(promql_result_t *r, size_t i, const labels_t *ls,
                       const int64_t *ts, const double *vs, size_t n) {
  r->labels[i] = labels_copy_plain(ls);
  r->ts[i] = ph_malloc((n ? n : 1) * sizeof(int64_t));
  r->vals[i] = ph_malloc((n ? n : 1) * sizeof(double));
  if (n) {
    memcpy(r->ts[i], ts, n * sizeof(int64_t));
    memcpy(r->vals[i], vs, n * sizeof(double));
  }
  r->npts[i] = n;
}

static char **annotations_out(char **src, size_t n) {
  if (n == 0) return NULL;
  char **out = ph_calloc(n, sizeof(*out));
  for (size_t i = 0; i < n; i++) {
    const char *sep = strchr(src[i], '\x01');
    size_t ml = sep ? (size_t)(sep - src[i]) : strlen(src[i]);
    unsigned pos = sep ? (unsigned)strtoul(sep + 1, NULL, 10) : 0;
    char *s = ph_malloc(ml + 32);
    memcpy(s, src[i], ml);
    snprintf(s + ml, 32, " (1:%u)", pos + 1);
    out[i] = s;
  }
  return out;
}

static bool contains_sort(const promql_node_t *n, uint32_t *pos) {
  switch (n->kind) {
    case PROMQL_NODE_PAREN: return contains_sort(n->u.paren.expr, pos);
    case PROMQL_NODE_UNARY: return contains_sort(n->u.unary.expr, pos);
    case PROMQL_NODE_BINARY:
      return contains_sort(n->u.bin.lhs, pos) || contains_sort(n->u.bin.rhs, pos);
    case PROMQL_NODE_AGGREGATE:
      return contains_sort(n->u.agg.expr, pos);
    case PROMQL_NODE_SUBQUERY: return contains_sort(n->u.sq.expr, pos);
    case PROMQL_NODE_CALL: {
      const char *f = n->u.call.func->name;
      if (strcmp(f, "sort") == 0 || strcmp(f, "sort_desc") == 0 ||
          strcmp(f, "sort_by_label") == 0 ||
          strcmp(f, "sort_by_label_desc") == 0) {
        *pos = n->pos.start;
        return true;
      }
      for (size_t i = 0; i < n->u.call.nargs; i++) {
        if (contains_sort(n->u.call.args[i], pos)) return true;
      }
      return false;
    }
    default: return false;
  }
}

static void fill_err(promql_eval_error_t *err, int code, const char *type,
                     const char *msg) {
  if (!err) return;
  err->code = code;
  err->error_type = type;
  snprintf(err->msg, sizeof(err->msg), "%s", msg);
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int run_query(promql_engine_t *e, tsdb_t *db, const promql_expr_t *expr,
                     int64_t start, int64_t end, int64_t step, bool is_range,
                     promql_result_t **out, promql_eval_error_t *err) {
  *out = NULL;
  if (err) memset(err, 0, sizeof(*err));
  if (!expr) {
    fill_err(err, PH_EINVAL, "bad_data", "no expression");
    return PH_EINVAL;
  }
  const promql_node_t *root = promql_expr_root(expr);
  promql_vtype_t type = promql_node_type(root);
  if (is_range) {
    if (step <= 0) {
      fill_err(err, PH_EINVAL, "bad_data",
               "zero or negative query resolution step widths are not "
               "accepted. Try a positive integer");
      return PH_EINVAL;
    }
    if (end < start) {
      fill_err(err, PH_EINVAL, "bad_data",
               "end timestamp must not be before start time");
      return PH_EINVAL;
    }
    if (type != PROMQL_VT_SCALAR && type != PROMQL_VT_VECTOR) {
      char msg[200];
      snprintf(msg, sizeof(msg),
               "invalid expression type \"%s\" for range query, must be "
               "Scalar or instant Vector",
               promql_vtype_doc(type));
      fill_err(err, PH_EINVAL, "bad_data", msg);
      return PH_EINVAL;
    }
  }
  ev_ctx_t *c = ph_calloc(1, sizeof(*c));
  run_state_t *rs = ph_calloc(1, sizeof(*rs));
  run_state_t *saved_rs = g_rs;
  g_rs = rs;
  c->lookback_ms = e->o.lookback_ms;
  c->max_samples = e->o.max_samples;
  c->deadline_ns = e->o.timeout_ms > 0 ? now_ns() + e->o.timeout_ms * 1000000 : 0;
  c->query_start = start;
  c->query_end = is_range ? end : start;
  c->sq_default_step = 60000;
  c->arena = arena_new(0);
  c->intern = ev_intern_new();
  c->lb = labels_builder_new();
  promql_result_t *res = NULL;
  if (setjmp(c->jb)) {
    /* No step after the result is built can fail, so nothing to free. */
    fill_err(err, c->err_code, c->err_type, c->err_msg);
    int code = c->err_code;
    ctx_free(c, rs);
    free(rs);
    g_rs = saved_rs;
    return code;
  }
  ev_grid_t grid;
  grid.start = start;
  grid.end = is_range ? end : start;
  grid.step = is_range ? step : 1;
  grid.n = is_range ? (size_t)((end - start) / step) + 1 : 1;
  grid.end = grid.start + (int64_t)(grid.n - 1) * grid.step;
  plan(c, root, &grid);
  load(c, db);

  if (is_range) {
    uint32_t pos;
    if (contains_sort(root, &pos)) {
      ev_warn(c, pos,
              "PromQL warning: sort is ineffective for range queries since "
              "results are always ordered by labels");
    }
    mat_sink_t ms = {&rs->out_idx, NULL, 0, 0};
    run_loop(c, root, &grid, vector_sink, &ms);
    if (ms.n > 1) qsort(ms.s, ms.n, sizeof(*ms.s), cmp_series);
    res = result_new(PROMQL_RESULT_MATRIX);
    result_alloc(res, ms.n);
    for (size_t i = 0; i < ms.n; i++) {
      result_set(res, i, ms.s[i].ls, ms.s[i].ts, ms.s[i].vs, ms.s[i].n);
    }
  } else {
    ev_stepmem_t *a = ph_calloc(1, sizeof(*a));
    ph_grow(&rs->arenas, &rs->caparenas, rs->narenas + 1);
    rs->arenas[rs->narenas++] = a;
    c->step = a;
    c->grid = &grid;
    c->step_idx = 0;
    c->step_t = start;
    c->step_samples = 0;
    ev_value_t v;
    memset(&v, 0, sizeof(v));
    ev_eval(c, root, start, &v);
    switch (v.kind) {
      case EV_SCALAR:
        res = result_new(PROMQL_RESULT_SCALAR);
        res->scalar = v.scalar;
        res->t = start;
        break;
      case EV_STRING:
        res = result_new(PROMQL_RESULT_STRING);
        res->str = ph_strdup(v.str ? v.str : "");
        res->t = start;
        break;
      case EV_VECTOR:
        res = result_new(PROMQL_RESULT_VECTOR);
        result_alloc(res, v.vec.n);
        for (size_t i = 0; i < v.vec.n; i++) {
          result_set(res, i, v.vec.s[i].ls, &start, &v.vec.s[i].v, 1);
        }
        res->t = start;
        break;
      case EV_MATRIX: {
        ev_series_t *ss = ev_alloc(c, (v.nwin + 1) * sizeof(*ss));
        for (size_t i = 0; i < v.nwin; i++) {
          ss[i].ls = v.win[i].ls;
          ss[i].ts = (int64_t *)v.win[i].ts;
          ss[i].vs = (double *)v.win[i].vs;
          ss[i].n = v.win[i].n;
        }
        if (v.nwin > 1) qsort(ss, v.nwin, sizeof(*ss), cmp_series);
        res = result_new(PROMQL_RESULT_MATRIX);
        result_alloc(res, v.nwin);
        for (size_t i = 0; i < v.nwin; i++) {
          result_set(res, i, ss[i].ls, ss[i].ts, ss[i].vs, ss[i].n);
        }
        res->t = start;
        break;
      }
    }
  }
  res->warnings = annotations_out(c->warnings, c->nwarnings);
  res->nwarnings = c->nwarnings;
  res->infos = annotations_out(c->infos, c->ninfos);
  res->ninfos = c->ninfos;
  res->samples_total = c->total_samples;
  ctx_free(c, rs);
  free(rs);
  g_rs = saved_rs;
  *out = res;
  return 0;
}

int promql_eval_instant(promql_engine_t *e, tsdb_t *db,
                        const promql_expr_t *expr, int64_t t_ms,
                        promql_result_t **out, promql_eval_error_t *err) {
  return run_query(e, db, expr, t_ms, t_ms, 0, false, out, err);
}

int promql_eval_range(promql_engine_t *e, tsdb_t *db, const promql_expr_t *expr,
                      int64_t start_ms, int64_t end_ms, int64_t step_ms,
                      promql_result_t **out, promql_eval_error_t *err) {
  return run_query(e, db, expr, start_ms, end_ms, step_ms, true, out, err);
}

promql_result_type_t promql_result_type(const promql_result_t *r) {
  return r->type;
}

size_t promql_result_len(const promql_result_t *r) { return r->n; }

const labels_t *promql_result_labels(const promql_result_t *r, size_t i) {
  return i < r->n ? r->labels[i] : NULL;
}

size_t promql_result_points(const promql_result_t *r, size_t i,
                            const int64_t **ts, const double **vals) {
  if (i >= r->n) {
    if (ts) *ts = NULL;
    if (vals) *vals = NULL;
    return 0;
  }
  if (ts) *ts = r->ts[i];
  if (vals) *vals = r->vals[i];
  return r->npts[i];
}

double promql_result_scalar(const promql_result_t *r, int64_t *t) {
  if (t) *t = r->t;
  return r->scalar;
}

const char *promql_result_string(const promql_result_t *r, int64_t *t) {
  if (t) *t = r->t;
  return r->str;
}

size_t promql_result_warnings(const promql_result_t *r,
                              const char *const **msgs) {
  if (msgs) *msgs = (const char *const *)r->warnings;
  return r->nwarnings;
}

size_t promql_result_infos(const promql_result_t *r, const char *const **msgs) {
  if (msgs) *msgs = (const char *const *)r->infos;
  return r->ninfos;
}

uint64_t promql_result_samples_total(const promql_result_t *r) {
  return r->samples_total;
}

void promql_result_free(promql_result_t *r) {
  if (!r) return;
  for (size_t i = 0; i < r->n; i++) {
    labels_free(r->labels[i]);
    free(r->ts[i]);
    free(r->vals[i]);
  }
  free(r->labels);
  free(r->ts);
  free(r->vals);
  free(r->npts);
  free(r->str);
  for (size_t i = 0; i < r->nwarnings; i++) free(r->warnings[i]);
  for (size_t i = 0; i < r->ninfos; i++) free(r->infos[i]);
  free(r->warnings);
  free(r->infos);
  free(r);
}

/* --- match[] selectors ---------------------------------------------------------- */

struct promql_selector {
  promql_expr_t *expr;
  tsdb_matcher_t *m;
  size_t n;
};

int promql_parse_selector(const char *text, size_t len, promql_selector_t **out,
                          promql_error_t *err) {
  *out = NULL;
  promql_expr_t *e = promql_parse(text, len, err);
  if (!e) return err ? err->code : PH_EPARSE;
  const promql_node_t *n = promql_expr_root(e);
  const char *why = NULL;
  if (n->kind != PROMQL_NODE_VECTOR_SEL) {
    why = "unexpected expression, expected a vector selector";
  } else if (n->u.vs.offset_ms != 0) {
    why = "unexpected <offset> in vector selector";
  } else if (n->u.vs.at != PROMQL_AT_NONE) {
    why = "unexpected <@> in vector selector";
  }
  if (why) {
    if (err) {
      memset(err, 0, sizeof(*err));
      err->code = PH_EPARSE;
      err->start = 0;
      err->end = len;
      err->line = 1;
      err->col = 1;
      snprintf(err->msg, sizeof(err->msg), "1:1: parse error: %s", why);
      err->detail_off = strlen("1:1: parse error: ");
    }
    promql_expr_free(e);
    return PH_EPARSE;
  }
  promql_selector_t *s = ph_calloc(1, sizeof(*s));
  s->expr = e;
  s->n = n->u.vs.nmatchers;
  s->m = ph_calloc(s->n ? s->n : 1, sizeof(*s->m));
  for (size_t i = 0; i < s->n; i++) {
    s->m[i].type = n->u.vs.matchers[i].type;
    s->m[i].name = n->u.vs.matchers[i].name;
    s->m[i].value = n->u.vs.matchers[i].value;
  }
  *out = s;
  return 0;
}

size_t promql_selector_matchers(const promql_selector_t *s,
                                const tsdb_matcher_t **m) {
  if (m) *m = s->m;
  return s->n;
}

void promql_selector_free(promql_selector_t *s) {
  if (!s) return;
  promql_expr_free(s->expr);
  free(s->m);
  free(s);
}
