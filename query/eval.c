/*
 * eval.c - evaluation of one node at one step: literals, selectors,
 * range-vector windows, unary minus, binary operators with every vector
 * matching mode, and aggregations.  Functions live in funcs_eval.c.
 *
 * Semantics follow Prometheus 3's engine with immediate __name__ removal:
 *
 *   - an instant selector at t returns, per series, the newest sample in
 *     (t' - lookback, t'] (t' = @ time or t, minus offset) unless it is a
 *     staleness marker; a range selector returns the samples in
 *     (t' - range, t'], stale markers removed at load time;
 *   - arithmetic (and `bool` comparisons) drop the metric name; filtering
 *     comparisons keep the left side's labels;
 *   - one-to-one / many-to-one matching: the "one" side must be unique per
 *     matching signature at each step ("found duplicate series for the match
 *     group ..."), each match is used once ("multiple matches for labels:
 *     ..."); group_left/right copy the include labels from the one side;
 *   - set operators match on all labels but __name__ (or on/ignoring);
 *   - sum and avg use Kahan-Neumaier summation (avg switches to an
 *     incremental mean on overflow), stddev/stdvar Welford's method, topk
 *     and bottomk Go's container/heap selection followed by an insertion
 *     sort, so ties come out as Prometheus orders them.
 */
#include "eval_int.h"

#include "mem.h"
#include "ph_error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const promql_node_t *ev_unparen(const promql_node_t *n) {
  while (n->kind == PROMQL_NODE_PAREN) n = n->u.paren.expr;
  return n;
}

int64_t ev_at_time(ev_ctx_t *c, promql_at_t at, int64_t at_ms, int64_t t) {
  switch (at) {
    case PROMQL_AT_TIMESTAMP: return at_ms;
    case PROMQL_AT_START: return c->query_start;
    case PROMQL_AT_END: return c->query_end;
    default: return t;
  }
}

/* Number of elements of ts[0..n) that are <= x. */
static size_t count_le(const int64_t *ts, size_t n, int64_t x) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (ts[mid] <= x) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

/* count_le(ts, n, x) given that ts[0..from) are all <= x: a short linear
 * scan (a step usually moves a window by a few samples: 8 for a 2 m step
 * over 15 s samples), then a galloping search (doubling strides, then a
 * binary search inside the last stride), so the cost grows with the
 * distance moved, not with the series' length. */
static size_t advance_le(const int64_t *ts, size_t n, size_t from, int64_t x) {
  size_t i = from;
  for (int k = 0; k < 16; k++, i++) {
    if (i >= n || ts[i] > x) return i;
  }
  /* ts[i - 1] <= x: gallop to a bound ts[hi] > x (or n). */
  size_t lo = i, stride = 16, hi;
  for (;;) {
    hi = lo + stride;
    if (hi >= n) {
      hi = n;
      break;
    }
    if (ts[hi] > x) break;
    lo = hi + 1;
    stride *= 2;
  }
  return lo + count_le(ts + lo, hi - lo, x);
}

/* Points the node's cursors at te (window (te - range, te]) for nseries
 * series: forward from the previous position when te did not go back (the
 * common case: steps of one loop in time order), else from scratch. */
static void cursors_seek(ev_ctx_t *c, ev_nstate_t *st, const ev_series_t *series,
                         size_t nseries, int64_t te, int64_t range) {
  if (!st->cur_lo) {
    st->cur_lo = ev_qalloc(c, (nseries ? nseries : 1) * sizeof(size_t));
    st->cur_hi = ev_qalloc(c, (nseries ? nseries : 1) * sizeof(size_t));
    st->cur_valid = false;
  }
  bool fwd = st->cur_valid && te >= st->cur_te;
  for (size_t i = 0; i < nseries; i++) {
    const ev_series_t *s = &series[i];
    if (fwd) {
      st->cur_lo[i] = range < 0 ? 0 : advance_le(s->ts, s->n, st->cur_lo[i], te - range);
      st->cur_hi[i] = advance_le(s->ts, s->n, st->cur_hi[i], te);
    } else {
      st->cur_lo[i] = range < 0 ? 0 : count_le(s->ts, s->n, te - range);
      st->cur_hi[i] = count_le(s->ts, s->n, te);
    }
  }
  st->cur_te = te;
  st->cur_valid = true;
}

/* --- Selectors ------------------------------------------------------------- */

static void eval_vector_sel(ev_ctx_t *c, const promql_node_t *n, int64_t t,
                            ev_value_t *out) {
  ev_nstate_t *st = ev_state(c, n);
  int64_t te = ev_at_time(c, n->u.vs.at, n->u.vs.at_ms, t) - n->u.vs.offset_ms;
  out->kind = EV_VECTOR;
  out->vec.n = 0;
  out->vec.s = st->nseries ? ev_alloc(c, st->nseries * sizeof(ev_sample_t)) : NULL;
  cursors_seek(c, st, st->series, st->nseries, te, -1);
  for (size_t i = 0; i < st->nseries; i++) {
    const ev_series_t *s = &st->series[i];
    size_t k = st->cur_hi[i];
    if (k == 0) continue;
    k--;
    if (s->ts[k] <= te - c->lookback_ms) continue;
    if (tsdb_is_stale_nan(s->vs[k])) continue;
    out->vec.s[out->vec.n++] = (ev_sample_t){s->ls, s->vs[k], s->ts[k]};
  }
  c->total_samples += out->vec.n;
  ev_count_samples(c, (int64_t)out->vec.n);
}

void ev_windows(ev_ctx_t *c, const promql_node_t *n, int64_t t,
                ev_value_t *out) {
  n = ev_unparen(n);
  ev_nstate_t *st = ev_state(c, n);
  const ev_series_t *series;
  size_t nseries;
  int64_t te, range;
  if (n->kind == PROMQL_NODE_MATRIX_SEL) {
    const promql_node_t *vs = n->u.ms.vs;
    te = ev_at_time(c, vs->u.vs.at, vs->u.vs.at_ms, t) - vs->u.vs.offset_ms;
    range = n->u.ms.range_ms;
    series = st->series;
    nseries = st->nseries;
  } else {
    ph_assert(n->kind == PROMQL_NODE_SUBQUERY);
    if (!st->materialised) ev_materialise(c, n);
    te = ev_at_time(c, n->u.sq.at, n->u.sq.at_ms, t) - n->u.sq.offset_ms;
    range = n->u.sq.range_ms;
    series = st->sq;
    nseries = st->nsq;
  }
  out->kind = EV_MATRIX;
  out->range_start = te - range;
  out->range_end = te;
  out->range_ms = range;
  out->nwin = 0;
  out->win = nseries ? ev_alloc(c, nseries * sizeof(ev_window_t)) : NULL;
  int64_t total = 0;
  cursors_seek(c, st, series, nseries, te, range);
  for (size_t i = 0; i < nseries; i++) {
    const ev_series_t *s = &series[i];
    size_t a = st->cur_lo[i], b = st->cur_hi[i];
    if (b <= a) continue;
    out->win[out->nwin++] =
        (ev_window_t){s->ls, s->ts + a, s->vs + a, b - a};
    total += (int64_t)(b - a);
  }
  if (n->kind == PROMQL_NODE_MATRIX_SEL) c->total_samples += (uint64_t)total;
  ev_count_samples(c, total);
}

/* --- Binary operators ------------------------------------------------------ */

static bool is_arith(promql_binop_t op) {
  return !promql_binop_is_comparison(op) && !promql_binop_is_set(op);
}

/* Float operation; comparisons return lhs and set *keep. */
static double binop_float(promql_binop_t op, double l, double r, bool *keep) {
  *keep = true;
  switch (op) {
    case PROMQL_OP_ADD: return l + r;
    case PROMQL_OP_SUB: return l - r;
    case PROMQL_OP_MUL: return l * r;
    case PROMQL_OP_DIV: return l / r;
    case PROMQL_OP_POW: return pow(l, r);
    case PROMQL_OP_MOD: return fmod(l, r);
    case PROMQL_OP_ATAN2: return atan2(l, r);
    case PROMQL_OP_EQLC: *keep = l == r; return l;
    case PROMQL_OP_NEQ: *keep = l != r; return l;
    case PROMQL_OP_GTR: *keep = l > r; return l;
    case PROMQL_OP_LSS: *keep = l < r; return l;
    case PROMQL_OP_GTE: *keep = l >= r; return l;
    case PROMQL_OP_LTE: *keep = l <= r; return l;
    default: *keep = false; return NAN;
  }
}

static bool in_list(const char *name, const char **list, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (strcmp(list[i], name) == 0) return true;
  }
  return false;
}

/* Matching signature: the labels named by on(...), or all but the ignored
 * ones and __name__. */
static const labels_t *signature(ev_ctx_t *c, ev_nstate_t *st,
                                 const labels_t *in) {
  bool found;
  const labels_t *sig = ev_map_get(&st->lmap2, (uint64_t)(uintptr_t)in, &found);
  if (found) return sig;
  const promql_node_t *n = st->node;
  if (n->u.bin.on) {
    labels_builder_reset(c->lb, NULL);
    for (size_t i = 0; i < n->u.bin.nmatching; i++) {
      const char *v = labels_get(in, n->u.bin.matching[i]);
      if (v) labels_builder_set(c->lb, n->u.bin.matching[i], v);
    }
  } else {
    labels_builder_reset(c->lb, in);
    for (size_t i = 0; i < n->u.bin.nmatching; i++) {
      labels_builder_del(c->lb, n->u.bin.matching[i]);
    }
    labels_builder_del(c->lb, "__name__");
  }
  sig = ev_intern_builder(c);
  ev_map_put(&st->lmap2, (uint64_t)(uintptr_t)in, (void *)sig);
  return sig;
}

static const labels_t *result_metric(ev_ctx_t *c, ev_nstate_t *st,
                                     const labels_t *l, const labels_t *r) {
  uint64_t key = ev_mix64((uint64_t)(uintptr_t)l) ^ (uint64_t)(uintptr_t)r;
  if (!st->pairs) {
    st->npairs_cap = 256;
    st->pairs = ev_qalloc(c, st->npairs_cap * sizeof(*st->pairs));
  }
  size_t b = ev_mix64(key) & (st->npairs_cap - 1);
  for (ev_pair_t *p = st->pairs[b]; p; p = p->next) {
    if (p->a == l && p->b == r) return p->out;
  }
  const promql_node_t *n = st->node;
  labels_builder_reset(c->lb, l);
  if (is_arith(n->u.bin.op)) labels_builder_del(c->lb, "__name__");
  if (n->u.bin.card == PROMQL_CARD_ONE_TO_ONE) {
    if (n->u.bin.on) {
      size_t nl = labels_len(l);
      for (size_t i = 0; i < nl; i++) {
        const char *name = labels_at(l, i)->name;
        if (!in_list(name, n->u.bin.matching, n->u.bin.nmatching)) {
          labels_builder_del(c->lb, name);
        }
      }
    } else {
      for (size_t i = 0; i < n->u.bin.nmatching; i++) {
        labels_builder_del(c->lb, n->u.bin.matching[i]);
      }
    }
  }
  for (size_t i = 0; i < n->u.bin.ninclude; i++) {
    const char *v = labels_get(r, n->u.bin.include[i]);
    if (v && *v) {
      labels_builder_set(c->lb, n->u.bin.include[i], v);
    } else {
      labels_builder_del(c->lb, n->u.bin.include[i]);
    }
  }
  if (n->u.bin.return_bool) labels_builder_del(c->lb, "__name__");
  const labels_t *out = ev_intern_builder(c);
  ev_pair_t *p = ev_qalloc(c, sizeof(*p));
  p->a = l;
  p->b = r;
  p->out = out;
  p->next = st->pairs[b];
  st->pairs[b] = p;
  bool found;
  void *prev = ev_map_get(&st->rev, (uint64_t)(uintptr_t)out, &found);
  if (found) {
    if ((uint64_t)(uintptr_t)prev != (key | 1)) st->may_collide = true;
  } else {
    ev_map_put(&st->rev, (uint64_t)(uintptr_t)out, (void *)(uintptr_t)(key | 1));
  }
  return out;
}

static void fmt_braces(const labels_t *ls, strbuf_t *b) {
  labels_format_braces(ls, b);
}

static void vector_binop(ev_ctx_t *c, ev_nstate_t *st, const ev_vec_t *L,
                         const ev_vec_t *R, ev_vec_t *out) {
  const promql_node_t *n = st->node;
  out->n = 0;
  out->s = NULL;
  if (L->n == 0 || R->n == 0) return;
  bool swap = n->u.bin.card == PROMQL_CARD_ONE_TO_MANY;
  const ev_vec_t *lhs = swap ? R : L, *rhs = swap ? L : R;
  ev_map_clear(&st->m1);
  for (size_t j = 0; j < rhs->n; j++) {
    const labels_t *sig = signature(c, st, rhs->s[j].ls);
    bool found;
    void *prev = ev_map_get(&st->m1, (uint64_t)(uintptr_t)sig, &found);
    if (found) {
      strbuf_t a = STRBUF_INIT, b1 = STRBUF_INIT, b2 = STRBUF_INIT;
      fmt_braces(sig, &a);
      fmt_braces(rhs->s[j].ls, &b1);
      fmt_braces(rhs->s[(uintptr_t)prev - 1].ls, &b2);
      char msg[1024];
      snprintf(msg, sizeof(msg),
               "found duplicate series for the match group %s on the %s "
               "hand-side of the operation: [%s, %s];many-to-many matching "
               "not allowed: matching labels must be unique on one side",
               strbuf_cstr(&a), swap ? "left" : "right", strbuf_cstr(&b1),
               strbuf_cstr(&b2));
      strbuf_free(&a);
      strbuf_free(&b1);
      strbuf_free(&b2);
      ev_fail(c, PH_EINVAL, "execution", "%s", msg);
    }
    ev_map_put(&st->m1, (uint64_t)(uintptr_t)sig, (void *)(uintptr_t)(j + 1));
  }
  ev_map_clear(&st->m2);
  out->s = ev_alloc(c, lhs->n * sizeof(ev_sample_t));
  promql_binop_t op = n->u.bin.op;
  bool rb = n->u.bin.return_bool;
  for (size_t i = 0; i < lhs->n; i++) {
    const ev_sample_t *ls = &lhs->s[i];
    const labels_t *sig = signature(c, st, ls->ls);
    bool found;
    void *jp = ev_map_get(&st->m1, (uint64_t)(uintptr_t)sig, &found);
    if (!found) continue;
    const ev_sample_t *rs = &rhs->s[(uintptr_t)jp - 1];
    double fl = ls->v, fr = rs->v;
    if (swap) {
      double tmp = fl;
      fl = fr;
      fr = tmp;
    }
    bool keep;
    double v = binop_float(op, fl, fr, &keep);
    if (rb) v = keep ? 1 : 0;
    const labels_t *metric = result_metric(c, st, ls->ls, rs->ls);
    if (n->u.bin.card == PROMQL_CARD_ONE_TO_ONE) {
      ev_map_get(&st->m2, (uint64_t)(uintptr_t)sig, &found);
      if (found) {
        ev_fail(c, PH_EINVAL, "execution",
                "multiple matches for labels: many-to-one matching must be "
                "explicit (group_left/group_right)");
      }
      ev_map_put(&st->m2, (uint64_t)(uintptr_t)sig, NULL);
    } else {
      void *psig = ev_map_get(&st->m2, (uint64_t)(uintptr_t)metric, &found);
      if (found && psig == sig) {
        ev_fail(c, PH_EINVAL, "execution",
                "multiple matches for labels: grouping labels must ensure "
                "unique matches");
      }
      ev_map_put(&st->m2, (uint64_t)(uintptr_t)metric, (void *)sig);
    }
    if (!keep && !rb) continue;
    out->s[out->n++] = (ev_sample_t){metric, v, 0};
  }
}

static void set_op(ev_ctx_t *c, ev_nstate_t *st, const ev_vec_t *L,
                   const ev_vec_t *R, ev_vec_t *out) {
  promql_binop_t op = st->node->u.bin.op;
  out->n = 0;
  out->s = ev_alloc(c, (L->n + R->n + 1) * sizeof(ev_sample_t));
  if (op == PROMQL_OP_AND) {
    if (L->n == 0 || R->n == 0) return;
    ev_map_clear(&st->m1);
    for (size_t j = 0; j < R->n; j++) {
      ev_map_put(&st->m1, (uint64_t)(uintptr_t)signature(c, st, R->s[j].ls), NULL);
    }
    for (size_t i = 0; i < L->n; i++) {
      bool found;
      ev_map_get(&st->m1, (uint64_t)(uintptr_t)signature(c, st, L->s[i].ls), &found);
      if (found) out->s[out->n++] = L->s[i];
    }
  } else if (op == PROMQL_OP_OR) {
    if (L->n == 0 || R->n == 0) {
      const ev_vec_t *src = L->n ? L : R;
      if (src->n) memcpy(out->s, src->s, src->n * sizeof(ev_sample_t));
      out->n = src->n;
      return;
    }
    ev_map_clear(&st->m1);
    for (size_t i = 0; i < L->n; i++) {
      ev_map_put(&st->m1, (uint64_t)(uintptr_t)signature(c, st, L->s[i].ls), NULL);
      out->s[out->n++] = L->s[i];
    }
    for (size_t j = 0; j < R->n; j++) {
      bool found;
      ev_map_get(&st->m1, (uint64_t)(uintptr_t)signature(c, st, R->s[j].ls), &found);
      if (!found) out->s[out->n++] = R->s[j];
    }
  } else { /* unless */
    if (L->n == 0 || R->n == 0) {
      if (L->n) memcpy(out->s, L->s, L->n * sizeof(ev_sample_t));
      out->n = L->n;
      return;
    }
    ev_map_clear(&st->m1);
    for (size_t j = 0; j < R->n; j++) {
      ev_map_put(&st->m1, (uint64_t)(uintptr_t)signature(c, st, R->s[j].ls), NULL);
    }
    for (size_t i = 0; i < L->n; i++) {
      bool found;
      ev_map_get(&st->m1, (uint64_t)(uintptr_t)signature(c, st, L->s[i].ls), &found);
      if (!found) out->s[out->n++] = L->s[i];
    }
  }
}

static void eval_binary(ev_ctx_t *c, const promql_node_t *n, int64_t t,
                        ev_value_t *out) {
  ev_nstate_t *st = ev_state(c, n);
  ev_value_t l, r;
  memset(&l, 0, sizeof(l));
  memset(&r, 0, sizeof(r));
  ev_eval(c, n->u.bin.lhs, t, &l);
  ev_eval(c, n->u.bin.rhs, t, &r);
  promql_binop_t op = n->u.bin.op;
  bool rb = n->u.bin.return_bool;
  if (l.kind == EV_SCALAR && r.kind == EV_SCALAR) {
    bool keep;
    double v = binop_float(op, l.scalar, r.scalar, &keep);
    if (promql_binop_is_comparison(op)) v = keep ? 1 : 0;
    out->kind = EV_SCALAR;
    out->scalar = v;
    return;
  }
  out->kind = EV_VECTOR;
  if (l.kind == EV_VECTOR && r.kind == EV_VECTOR) {
    if (promql_binop_is_set(op)) {
      set_op(c, st, &l.vec, &r.vec, &out->vec);
    } else {
      vector_binop(c, st, &l.vec, &r.vec, &out->vec);
    }
  } else {
    bool swap = l.kind == EV_SCALAR;
    const ev_vec_t *v = swap ? &r.vec : &l.vec;
    double sc = swap ? l.scalar : r.scalar;
    out->vec.n = 0;
    out->vec.s = v->n ? ev_alloc(c, v->n * sizeof(ev_sample_t)) : NULL;
    bool drop = is_arith(op) || rb;
    for (size_t i = 0; i < v->n; i++) {
      double lf = v->s[i].v, rf = sc;
      if (swap) {
        lf = sc;
        rf = v->s[i].v;
      }
      bool keep;
      double val = binop_float(op, lf, rf, &keep);
      if (promql_binop_is_comparison(op) && swap) val = rf;
      if (rb) {
        val = keep ? 1 : 0;
        keep = true;
      }
      if (!keep) continue;
      const labels_t *ls = v->s[i].ls;
      if (drop) ls = ev_map_labels(c, st, ls, ev_drop_name_fn, NULL);
      out->vec.s[out->vec.n++] = (ev_sample_t){ls, val, 0};
    }
  }
  ev_count_samples(c, (int64_t)out->vec.n);
  ev_check_dups(c, st, &out->vec);
}

/* --- Aggregations ---------------------------------------------------------- */

typedef struct agg_group {
  const labels_t *ls;
  double value, mean, kc, count;
  bool incremental;
  double *vals; /* quantile */
  size_t nvals, capvals;
  ev_sample_t *heap; /* topk/bottomk */
  size_t nheap;
} agg_group_t;

static const labels_t *grouping_fn(ev_ctx_t *c, const labels_t *in,
                                   const void *arg) {
  const promql_node_t *n = arg;
  if (n->u.agg.without) {
    labels_builder_reset(c->lb, in);
    for (size_t i = 0; i < n->u.agg.ngrouping; i++) {
      labels_builder_del(c->lb, n->u.agg.grouping[i]);
    }
    labels_builder_del(c->lb, "__name__");
  } else {
    labels_builder_reset(c->lb, NULL);
    for (size_t i = 0; i < n->u.agg.ngrouping; i++) {
      const char *v = labels_get(in, n->u.agg.grouping[i]);
      if (v) labels_builder_set(c->lb, n->u.agg.grouping[i], v);
    }
  }
  return ev_intern_builder(c);
}

static const labels_t *group_of(ev_ctx_t *c, ev_nstate_t *st,
                                const labels_t *in) {
  bool found;
  const labels_t *g = ev_map_get(&st->lmap2, (uint64_t)(uintptr_t)in, &found);
  if (found) return g;
  g = grouping_fn(c, in, st->node);
  ev_map_put(&st->lmap2, (uint64_t)(uintptr_t)in, (void *)g);
  return g;
}

/* Go's vectorByValueHeap / vectorByReverseValueHeap Less. */
static bool heap_less(const ev_sample_t *h, size_t i, size_t j, bool reverse) {
  double vi = h[i].v, vj = h[j].v;
  if (isnan(vi)) return true;
  return reverse ? vi > vj : vi < vj;
}

static void heap_swap(ev_sample_t *h, size_t i, size_t j) {
  ev_sample_t t = h[i];
  h[i] = h[j];
  h[j] = t;
}

static void heap_up(ev_sample_t *h, size_t j, bool rev) {
  while (j > 0) {
    size_t i = (j - 1) / 2;
    if (!heap_less(h, j, i, rev)) break;
    heap_swap(h, i, j);
    j = i;
  }
}

static bool heap_down(ev_sample_t *h, size_t i0, size_t n, bool rev) {
  size_t i = i0;
  for (;;) {
    size_t j1 = 2 * i + 1;
    if (j1 >= n) break;
    size_t j = j1;
    if (j1 + 1 < n && heap_less(h, j1 + 1, j1, rev)) j = j1 + 1;
    if (!heap_less(h, j, i, rev)) break;
    heap_swap(h, i, j);
    i = j;
  }
  return i > i0;
}

typedef struct idx_sample {
  ev_sample_t s;
  size_t i;
} idx_sample_t;

/* Descending (asc: ascending), NaN last, ties in input order. */
static int cmp_desc_nan_last(const void *a, const void *b) {
  const idx_sample_t *x = a, *y = b;
  bool xn = isnan(x->s.v), yn = isnan(y->s.v);
  if (xn != yn) return xn ? 1 : -1;
  if (!xn && x->s.v != y->s.v) return x->s.v > y->s.v ? -1 : 1;
  return x->i < y->i ? -1 : 1;
}

static int cmp_asc_nan_last(const void *a, const void *b) {
  const idx_sample_t *x = a, *y = b;
  bool xn = isnan(x->s.v), yn = isnan(y->s.v);
  if (xn != yn) return xn ? 1 : -1;
  if (!xn && x->s.v != y->s.v) return x->s.v < y->s.v ? -1 : 1;
  return x->i < y->i ? -1 : 1;
}

void ev_sort_samples(ev_ctx_t *c, ev_sample_t *h, size_t n, bool asc) {
  if (n <= 12) {
    /* sort.Sort(sort.Reverse(heap)): Go's insertion sort for short input. */
    for (size_t i = 1; i < n; i++) {
      for (size_t j = i; j > 0 && heap_less(h, j - 1, j, asc); j--) {
        heap_swap(h, j, j - 1);
      }
    }
    return;
  }
  idx_sample_t *tmp = ev_alloc(c, n * sizeof(*tmp));
  for (size_t i = 0; i < n; i++) tmp[i] = (idx_sample_t){h[i], i};
  qsort(tmp, n, sizeof(*tmp), asc ? cmp_asc_nan_last : cmp_desc_nan_last);
  for (size_t i = 0; i < n; i++) h[i] = tmp[i].s;
}

static int cmp_nan_first(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  if (isnan(x)) return isnan(y) ? 0 : -1;
  if (isnan(y)) return 1;
  return x < y ? -1 : (x > y ? 1 : 0);
}

double ev_quantile(double q, double *vals, size_t n) {
  if (n == 0 || isnan(q)) return NAN;
  if (q < 0) return -INFINITY;
  if (q > 1) return INFINITY;
  qsort(vals, n, sizeof(double), cmp_nan_first);
  double fn = (double)n;
  double rank = q * (fn - 1);
  double lower = fmax(0, floor(rank));
  double upper = fmin(fn - 1, lower + 1);
  double weight = rank - floor(rank);
  return vals[(size_t)lower] * (1 - weight) + vals[(size_t)upper] * weight;
}

/* Evaluates the parameter of topk/bottomk/quantile at every step of the
 * current grid once, and applies Prometheus's checks over all of them. */
static void agg_params(ev_ctx_t *c, ev_nstate_t *st, const promql_node_t *n) {
  if (st->params && st->params_grid == c->grid) return;
  const ev_grid_t *g = c->grid;
  st->params = ev_qalloc(c, g->n * sizeof(double));
  st->params_grid = g;
  double mx = -1.7976931348623157e308, mn = 1.7976931348623157e308;
  bool any_nan = false;
  for (size_t i = 0; i < g->n; i++) {
    ev_value_t v;
    memset(&v, 0, sizeof(v));
    ev_eval(c, n->u.agg.param, g->start + (int64_t)i * g->step, &v);
    st->params[i] = v.scalar;
    if (isnan(v.scalar)) {
      any_nan = true;
      mx = NAN;
      mn = NAN;
    } else if (!isnan(mx)) {
      mx = fmax(mx, v.scalar);
      mn = fmin(mn, v.scalar);
    }
  }
  promql_aggop_t op = n->u.agg.op;
  if (op == PROMQL_AGG_TOPK || op == PROMQL_AGG_BOTTOMK) {
    if (!isnan(mx) && mx < 1) return;
    if (any_nan) ev_fail(c, PH_EINVAL, "execution", "Parameter value is NaN");
    if (mn <= -9.223372036854775808e18) {
      strbuf_t b = STRBUF_INIT;
      ev_format_g(&b, mn);
      char msg[128];
      snprintf(msg, sizeof(msg), "Scalar value %s underflows int64",
               strbuf_cstr(&b));
      strbuf_free(&b);
      ev_fail(c, PH_EINVAL, "execution", "%s", msg);
    }
    if (mx >= 9.223372036854775807e18) {
      strbuf_t b = STRBUF_INIT;
      ev_format_g(&b, mx);
      char msg[128];
      snprintf(msg, sizeof(msg), "Scalar value %s overflows int64",
               strbuf_cstr(&b));
      strbuf_free(&b);
      ev_fail(c, PH_EINVAL, "execution", "%s", msg);
    }
  } else if (op == PROMQL_AGG_QUANTILE) {
    uint32_t pos = n->u.agg.param->pos.start;
    double bad[3];
    int nb = 0;
    if (any_nan) bad[nb++] = NAN;
    if (!any_nan && mx > 1) bad[nb++] = mx;
    if (!any_nan && mn < 0) bad[nb++] = mn;
    for (int i = 0; i < nb; i++) {
      strbuf_t b = STRBUF_INIT;
      ev_format_g(&b, bad[i]);
      ev_warn(c, pos,
              "PromQL warning: quantile value should be between 0 and 1, got %s",
              strbuf_cstr(&b));
      strbuf_free(&b);
    }
  }
}

static void eval_count_values(ev_ctx_t *c, const promql_node_t *n,
                              const ev_vec_t *in, ev_vec_t *out) {
  const char *label = n->u.agg.param->u.string.val;
  ev_nstate_t *st = ev_state(c, n);
  ev_map_clear(&st->m1);
  out->n = 0;
  out->s = in->n ? ev_alloc(c, in->n * sizeof(ev_sample_t)) : NULL;
  strbuf_t b = STRBUF_INIT;
  for (size_t i = 0; i < in->n; i++) {
    strbuf_reset(&b);
    promql__format_float(&b, in->s[i].v);
    labels_builder_reset(c->lb, in->s[i].ls);
    labels_builder_set(c->lb, label, strbuf_cstr(&b));
    if (n->u.agg.without) {
      for (size_t k = 0; k < n->u.agg.ngrouping; k++) {
        labels_builder_del(c->lb, n->u.agg.grouping[k]);
      }
      labels_builder_del(c->lb, "__name__");
    } else {
      const labels_t *m = ev_intern_builder(c);
      labels_builder_reset(c->lb, NULL);
      for (size_t k = 0; k < n->u.agg.ngrouping; k++) {
        const char *v = labels_get(m, n->u.agg.grouping[k]);
        if (v) labels_builder_set(c->lb, n->u.agg.grouping[k], v);
      }
      labels_builder_set(c->lb, label, strbuf_cstr(&b));
    }
    const labels_t *g = ev_intern_builder(c);
    bool found;
    void *idx = ev_map_get(&st->m1, (uint64_t)(uintptr_t)g, &found);
    if (found) {
      out->s[(uintptr_t)idx].v += 1;
    } else {
      ev_map_put(&st->m1, (uint64_t)(uintptr_t)g, (void *)(uintptr_t)out->n);
      out->s[out->n++] = (ev_sample_t){g, 1, 0};
    }
  }
  strbuf_free(&b);
}

static void eval_aggregate(ev_ctx_t *c, const promql_node_t *n, int64_t t,
                           ev_value_t *out) {
  ev_nstate_t *st = ev_state(c, n);
  promql_aggop_t op = n->u.agg.op;
  out->kind = EV_VECTOR;
  out->vec.n = 0;
  out->vec.s = NULL;
  if (op == PROMQL_AGG_COUNT_VALUES) {
    const promql_node_t *p = ev_unparen(n->u.agg.param);
    if (!ev_valid_label_name(p->u.string.val, p->u.string.len)) {
      strbuf_t b = STRBUF_INIT;
      promql__quote(&b, p->u.string.val, p->u.string.len);
      char msg[600];
      snprintf(msg, sizeof(msg), "invalid label name %s", strbuf_cstr(&b));
      strbuf_free(&b);
      ev_fail(c, PH_EINVAL, "execution", "%s", msg);
    }
  }
  if (op == PROMQL_AGG_LIMITK || op == PROMQL_AGG_LIMIT_RATIO) {
    ev_fail(c, PH_EINVAL, "execution", "aggregation %s is not supported",
            promql_aggop_str(op));
  }
  double param = 0;
  if (op == PROMQL_AGG_TOPK || op == PROMQL_AGG_BOTTOMK ||
      op == PROMQL_AGG_QUANTILE) {
    agg_params(c, st, n);
    param = st->params[c->step_idx];
  }
  ev_value_t in;
  memset(&in, 0, sizeof(in));
  ev_eval(c, n->u.agg.expr, t, &in);
  if (op == PROMQL_AGG_COUNT_VALUES) {
    eval_count_values(c, n, &in.vec, &out->vec);
    ev_count_samples(c, (int64_t)out->vec.n);
    return;
  }
  if (in.vec.n == 0) return;
  bool topk = op == PROMQL_AGG_TOPK, bottomk = op == PROMQL_AGG_BOTTOMK;
  int64_t k = 0;
  if (topk || bottomk) {
    if (isnan(param) || param < 1) return;
    k = (int64_t)param;
    if (k > (int64_t)in.vec.n) k = (int64_t)in.vec.n;
    if (k < 1) return;
  }
  agg_group_t *groups = ev_alloc(c, in.vec.n * sizeof(agg_group_t));
  size_t ng = 0;
  ev_map_clear(&st->m1);
  for (size_t i = 0; i < in.vec.n; i++) {
    const ev_sample_t *s = &in.vec.s[i];
    double f = s->v;
    const labels_t *gl = group_of(c, st, s->ls);
    bool found;
    void *gi = ev_map_get(&st->m1, (uint64_t)(uintptr_t)gl, &found);
    if (!found) {
      agg_group_t *g = &groups[ng];
      memset(g, 0, sizeof(*g));
      ev_map_put(&st->m1, (uint64_t)(uintptr_t)gl, (void *)(uintptr_t)ng);
      ng++;
      g->ls = gl;
      g->value = f;
      g->mean = f;
      g->count = 1;
      switch (op) {
        case PROMQL_AGG_STDDEV:
        case PROMQL_AGG_STDVAR:
          g->value = (isnan(f) || isinf(f)) ? NAN : 0;
          break;
        case PROMQL_AGG_QUANTILE:
          g->capvals = 8;
          g->vals = ev_alloc(c, g->capvals * sizeof(double));
          g->vals[g->nvals++] = f;
          break;
        case PROMQL_AGG_GROUP: g->value = 1; break;
        case PROMQL_AGG_TOPK:
        case PROMQL_AGG_BOTTOMK:
          g->heap = ev_alloc(c, (size_t)k * sizeof(ev_sample_t));
          g->heap[g->nheap++] = *s;
          break;
        default: break;
      }
      continue;
    }
    agg_group_t *g = &groups[(uintptr_t)gi];
    switch (op) {
      case PROMQL_AGG_SUM:
        g->value = ev_kahan_inc(f, g->value, &g->kc);
        break;
      case PROMQL_AGG_AVG:
        g->count++;
        if (!g->incremental) {
          double kc = g->kc;
          double nv = ev_kahan_inc(f, g->value, &kc);
          if (!isinf(nv)) {
            g->value = nv;
            g->kc = kc;
            break;
          }
          g->incremental = true;
          g->mean = g->value / (g->count - 1);
          g->kc /= g->count - 1;
        }
        {
          double q = (g->count - 1) / g->count;
          double kc = q * g->kc;
          g->mean = ev_kahan_inc(f / g->count, q * g->mean, &kc);
          g->kc = kc;
        }
        break;
      case PROMQL_AGG_GROUP: break;
      case PROMQL_AGG_MAX:
        if (g->value < f || isnan(g->value)) g->value = f;
        break;
      case PROMQL_AGG_MIN:
        if (g->value > f || isnan(g->value)) g->value = f;
        break;
      case PROMQL_AGG_COUNT: g->count++; break;
      case PROMQL_AGG_STDDEV:
      case PROMQL_AGG_STDVAR: {
        g->count++;
        double delta = f - g->mean;
        g->mean += delta / g->count;
        g->value += delta * (f - g->mean);
        break;
      }
      case PROMQL_AGG_QUANTILE:
        if (g->nvals == g->capvals) {
          double *nv = ev_alloc(c, g->capvals * 2 * sizeof(double));
          memcpy(nv, g->vals, g->nvals * sizeof(double));
          g->vals = nv;
          g->capvals *= 2;
        }
        g->vals[g->nvals++] = f;
        break;
      case PROMQL_AGG_TOPK:
        if ((int64_t)g->nheap < k) {
          g->heap[g->nheap++] = *s;
          heap_up(g->heap, g->nheap - 1, false);
        } else if (g->heap[0].v < f || (isnan(g->heap[0].v) && !isnan(f))) {
          g->heap[0] = *s;
          if (k > 1) {
            if (!heap_down(g->heap, 0, g->nheap, false)) heap_up(g->heap, 0, false);
          }
        }
        break;
      case PROMQL_AGG_BOTTOMK:
        if ((int64_t)g->nheap < k) {
          g->heap[g->nheap++] = *s;
          heap_up(g->heap, g->nheap - 1, true);
        } else if (g->heap[0].v > f || (isnan(g->heap[0].v) && !isnan(f))) {
          g->heap[0] = *s;
          if (k > 1) {
            if (!heap_down(g->heap, 0, g->nheap, true)) heap_up(g->heap, 0, true);
          }
        }
        break;
      default: break;
    }
  }
  size_t cap = (topk || bottomk) ? in.vec.n : ng;
  out->vec.s = ev_alloc(c, cap * sizeof(ev_sample_t));
  for (size_t gi = 0; gi < ng; gi++) {
    agg_group_t *g = &groups[gi];
    double v = g->value;
    switch (op) {
      case PROMQL_AGG_SUM: v = g->value + g->kc; break;
      case PROMQL_AGG_AVG:
        v = g->incremental ? g->mean + g->kc
                           : g->value / g->count + g->kc / g->count;
        break;
      case PROMQL_AGG_COUNT: v = g->count; break;
      case PROMQL_AGG_STDVAR: v = g->value / g->count; break;
      case PROMQL_AGG_STDDEV: v = sqrt(g->value / g->count); break;
      case PROMQL_AGG_QUANTILE: v = ev_quantile(param, g->vals, g->nvals); break;
      case PROMQL_AGG_TOPK:
      case PROMQL_AGG_BOTTOMK:
        if (g->nheap > 1) ev_sort_samples(c, g->heap, g->nheap, bottomk);
        for (size_t j = 0; j < g->nheap; j++) {
          out->vec.s[out->vec.n++] = g->heap[j];
        }
        continue;
      default: break;
    }
    out->vec.s[out->vec.n++] = (ev_sample_t){g->ls, v, 0};
  }
  ev_count_samples(c, (int64_t)out->vec.n);
}

/* --- Dispatch --------------------------------------------------------------- */

void ev_eval(ev_ctx_t *c, const promql_node_t *n, int64_t t, ev_value_t *out) {
  switch (n->kind) {
    case PROMQL_NODE_NUMBER:
      out->kind = EV_SCALAR;
      out->scalar = n->u.number.val;
      return;
    case PROMQL_NODE_STRING:
      out->kind = EV_STRING;
      out->str = n->u.string.val;
      return;
    case PROMQL_NODE_PAREN:
      ev_eval(c, n->u.paren.expr, t, out);
      return;
    case PROMQL_NODE_VECTOR_SEL:
      eval_vector_sel(c, n, t, out);
      return;
    case PROMQL_NODE_MATRIX_SEL:
    case PROMQL_NODE_SUBQUERY:
      ev_windows(c, n, t, out);
      return;
    case PROMQL_NODE_UNARY: {
      ev_eval(c, n->u.unary.expr, t, out);
      if (!n->u.unary.neg) return;
      if (out->kind == EV_SCALAR) {
        out->scalar = -out->scalar;
        return;
      }
      ev_nstate_t *st = ev_state(c, n);
      ev_vec_t v = {ev_alloc(c, (out->vec.n + 1) * sizeof(ev_sample_t)), 0};
      for (size_t i = 0; i < out->vec.n; i++) {
        const labels_t *ls =
            ev_map_labels(c, st, out->vec.s[i].ls, ev_drop_name_fn, NULL);
        v.s[v.n++] = (ev_sample_t){ls, -out->vec.s[i].v, 0};
      }
      out->vec = v;
      ev_check_dups(c, st, &out->vec);
      return;
    }
    case PROMQL_NODE_BINARY:
      eval_binary(c, n, t, out);
      return;
    case PROMQL_NODE_AGGREGATE:
      eval_aggregate(c, n, t, out);
      return;
    case PROMQL_NODE_CALL:
      ev_call(c, n, t, out);
      return;
  }
}
