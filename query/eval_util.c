/*
 * eval_util.c - the evaluator's plumbing: a pointer-keyed hash map, the
 * per-query label intern table, node state lookup and per-node label
 * caches, duplicate-labelset checks, errors (longjmp to the query's entry),
 * the clock and sample-count limits, annotations, and Go-compatible number
 * formatting/parsing.
 *
 * The intern table is a chained hash table keyed by labels_hash(); it owns
 * every label set it holds and frees them with the query.  Node caches map
 * an input label pointer to a derived one; a reverse map notices when two
 * inputs yield the same output, which is the only case in which a node's
 * output can contain duplicate label sets, so only such nodes pay for the
 * per-step duplicate check.
 */
#include "eval_int.h"

#include "mem.h"
#include "ph_error.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* --- Hash map -------------------------------------------------------------- */

uint64_t ev_mix64(uint64_t x) {
  x ^= x >> 33;
  x *= UINT64_C(0xff51afd7ed558ccd);
  x ^= x >> 33;
  x *= UINT64_C(0xc4ceb9fe1a85ec53);
  x ^= x >> 33;
  return x;
}

void *ev_map_get(const ev_map_t *m, uint64_t k, bool *found) {
  if (found) *found = false;
  if (m->n == 0) return NULL;
  size_t mask = m->cap - 1;
  for (size_t i = ev_mix64(k) & mask;; i = (i + 1) & mask) {
    if (!m->used[i]) return NULL;
    if (m->keys[i] == k) {
      if (found) *found = true;
      return m->vals[i];
    }
  }
}

static void map_insert(ev_map_t *m, uint64_t k, void *v) {
  size_t mask = m->cap - 1;
  for (size_t i = ev_mix64(k) & mask;; i = (i + 1) & mask) {
    if (!m->used[i]) {
      m->used[i] = 1;
      m->keys[i] = k;
      m->vals[i] = v;
      m->n++;
      return;
    }
    if (m->keys[i] == k) {
      m->vals[i] = v;
      return;
    }
  }
}

void ev_map_put(ev_map_t *m, uint64_t k, void *v) {
  if ((m->n + 1) * 2 > m->cap) {
    ev_map_t old = *m;
    size_t cap = old.cap ? old.cap * 2 : 16;
    m->keys = ph_malloc(cap * sizeof(*m->keys));
    m->vals = ph_malloc(cap * sizeof(*m->vals));
    m->used = ph_calloc(cap, 1);
    m->cap = cap;
    m->n = 0;
    for (size_t i = 0; i < old.cap; i++) {
      if (old.used[i]) map_insert(m, old.keys[i], old.vals[i]);
    }
    free(old.keys);
    free(old.vals);
    free(old.used);
  }
  map_insert(m, k, v);
}

void ev_map_clear(ev_map_t *m) {
  if (m->n == 0) return;
  memset(m->used, 0, m->cap);
  m->n = 0;
}

void ev_map_free(ev_map_t *m) {
  free(m->keys);
  free(m->vals);
  free(m->used);
  memset(m, 0, sizeof(*m));
}

/* --- Errors, limits, allocation --------------------------------------------- */

void ev_fail(ev_ctx_t *c, int code, const char *type, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->err_msg, sizeof(c->err_msg), fmt, ap);
  va_end(ap);
  c->err_code = code;
  c->err_type = type;
  longjmp(c->jb, 1);
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void ev_check_time(ev_ctx_t *c) {
  if (c->deadline_ns == 0) return;
  if (now_ns() > c->deadline_ns) {
    ev_fail(c, PH_ETIMEOUT, "timeout",
            "query timed out in expression evaluation");
  }
}

void ev_count_samples(ev_ctx_t *c, int64_t n) {
  c->step_samples += n;
  if (c->max_samples > 0 && c->held_samples + c->step_samples > c->max_samples) {
    ev_fail(c, PH_ELIMIT, "execution",
            "query processing would load too many samples into memory in "
            "query execution");
  }
  if ((++c->check_ctr & 63) == 0) ev_check_time(c);
}

void *ev_stepmem_alloc(ev_stepmem_t *m, size_t n) {
  n = (n + 15) & ~(size_t)15;
  ev_chunk_t *c = m->cur;
  while (c && c->size - c->used < n) {
    c = c->next;
    if (c) c->used = 0;
  }
  if (!c) {
    size_t sz = n > (size_t)(256 << 10) ? n : (size_t)(256 << 10);
    c = ph_malloc(sizeof(*c) + sz);
    c->size = sz;
    c->used = 0;
    if (m->cur) {
      c->next = m->cur->next;
      m->cur->next = c;
    } else {
      c->next = NULL;
      m->head = c;
    }
  }
  m->cur = c;
  void *p = c->data + c->used;
  c->used += n;
  return p;
}

void ev_stepmem_reset(ev_stepmem_t *m) {
  m->cur = m->head;
  if (m->head) m->head->used = 0;
}

void ev_stepmem_free(ev_stepmem_t *m) {
  ev_chunk_t *c = m->head;
  while (c) {
    ev_chunk_t *nx = c->next;
    free(c);
    c = nx;
  }
  m->head = m->cur = NULL;
}

void *ev_alloc(ev_ctx_t *c, size_t n) {
  return ev_stepmem_alloc(c->step, n ? n : 1);
}

void *ev_qalloc(ev_ctx_t *c, size_t n) {
  void *p = arena_calloc(c->arena, 1, n ? n : 1);
  if (!p) ev_fail(c, PH_ENOMEM, "execution", "out of memory");
  return p;
}

void ev_own(ev_ctx_t *c, void *p) {
  ph_grow(&c->owned, &c->capowned, c->nowned + 1);
  c->owned[c->nowned++] = p;
}

/* --- Label interning --------------------------------------------------------- */

typedef struct intern_ent {
  labels_t *ls;
  struct intern_ent *next;
} intern_ent_t;

struct ev_intern {
  intern_ent_t **b;
  size_t cap, n;
  const labels_t *empty;
};

ev_intern_t *ev_intern_new(void) {
  ev_intern_t *in = ph_calloc(1, sizeof(*in));
  in->cap = 256;
  in->b = ph_calloc(in->cap, sizeof(*in->b));
  return in;
}

void ev_intern_free(ev_intern_t *in) {
  if (!in) return;
  for (size_t i = 0; i < in->cap; i++) {
    intern_ent_t *e = in->b[i];
    while (e) {
      intern_ent_t *nx = e->next;
      labels_free(e->ls);
      free(e);
      e = nx;
    }
  }
  free(in->b);
  free(in);
}

static void intern_grow(ev_intern_t *in) {
  size_t cap = in->cap * 2;
  intern_ent_t **b = ph_calloc(cap, sizeof(*b));
  for (size_t i = 0; i < in->cap; i++) {
    intern_ent_t *e = in->b[i];
    while (e) {
      intern_ent_t *nx = e->next;
      size_t j = labels_hash(e->ls) & (cap - 1);
      e->next = b[j];
      b[j] = e;
      e = nx;
    }
  }
  free(in->b);
  in->b = b;
  in->cap = cap;
}

const labels_t *ev_intern(ev_ctx_t *c, labels_t *ls) {
  ev_intern_t *in = c->intern;
  uint64_t h = labels_hash(ls);
  size_t j = h & (in->cap - 1);
  for (intern_ent_t *e = in->b[j]; e; e = e->next) {
    if (labels_equal(e->ls, ls)) {
      labels_free(ls);
      return e->ls;
    }
  }
  intern_ent_t *e = ph_malloc(sizeof(*e));
  e->ls = ls;
  e->next = in->b[j];
  in->b[j] = e;
  if (++in->n > in->cap) intern_grow(in);
  return ls;
}

const labels_t *ev_intern_builder(ev_ctx_t *c) {
  return ev_intern(c, labels_builder_finish(c->lb, NULL));
}

const labels_t *ev_empty_labels(ev_ctx_t *c) {
  if (!c->intern->empty) c->intern->empty = ev_intern(c, labels_empty());
  return c->intern->empty;
}

/* --- Node state and label caches -------------------------------------------- */

ev_nstate_t *ev_state(ev_ctx_t *c, const promql_node_t *n) {
  bool found;
  ev_nstate_t *st = ev_map_get(&c->states, (uint64_t)(uintptr_t)n, &found);
  if (found) return st;
  st = ev_qalloc(c, sizeof(*st));
  st->node = n;
  st->func = -1;
  ev_map_put(&c->states, (uint64_t)(uintptr_t)n, st);
  return st;
}

const labels_t *ev_map_labels(ev_ctx_t *c, ev_nstate_t *st, const labels_t *in,
                              ev_label_fn fn, const void *arg) {
  bool found;
  const labels_t *out = ev_map_get(&st->lmap, (uint64_t)(uintptr_t)in, &found);
  if (found) return out;
  out = fn(c, in, arg);
  ev_map_put(&st->lmap, (uint64_t)(uintptr_t)in, (void *)out);
  const void *prev = ev_map_get(&st->rev, (uint64_t)(uintptr_t)out, &found);
  if (found) {
    if (prev != in) st->may_collide = true;
  } else {
    ev_map_put(&st->rev, (uint64_t)(uintptr_t)out, (void *)in);
  }
  return out;
}

const labels_t *ev_drop_name_fn(ev_ctx_t *c, const labels_t *in,
                                const void *arg) {
  (void)arg;
  if (!labels_get(in, "__name__")) return in;
  labels_builder_reset(c->lb, in);
  labels_builder_del(c->lb, "__name__");
  return ev_intern_builder(c);
}

void ev_check_dups(ev_ctx_t *c, ev_nstate_t *st, const ev_vec_t *v) {
  if (!st->may_collide || v->n < 2) return;
  ev_map_clear(&st->seen);
  for (size_t i = 0; i < v->n; i++) {
    bool found;
    ev_map_get(&st->seen, (uint64_t)(uintptr_t)v->s[i].ls, &found);
    if (found) {
      ev_fail(c, PH_EINVAL, "execution",
              "vector cannot contain metrics with the same labelset");
    }
    ev_map_put(&st->seen, (uint64_t)(uintptr_t)v->s[i].ls, NULL);
  }
}

/* --- Annotations -------------------------------------------------------------- */

static void annotate(ev_ctx_t *c, bool warn, uint32_t pos, const char *fmt,
                     va_list ap) {
  char msg[1024];
  vsnprintf(msg, sizeof(msg), fmt, ap);
  char ***arr = warn ? &c->warnings : &c->infos;
  size_t *n = warn ? &c->nwarnings : &c->ninfos;
  size_t *cap = warn ? &c->capw : &c->capi;
  size_t ml = strlen(msg);
  for (size_t i = 0; i < *n; i++) {
    if (strncmp((*arr)[i], msg, ml) == 0 && (*arr)[i][ml] == '\x01') return;
  }
  char buf[1100];
  snprintf(buf, sizeof(buf), "%s\x01%u", msg, (unsigned)pos);
  ph_grow(arr, cap, *n + 1);
  (*arr)[(*n)++] = ph_strdup(buf);
}

void ev_warn(ev_ctx_t *c, uint32_t pos, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  annotate(c, true, pos, fmt, ap);
  va_end(ap);
}

void ev_info(ev_ctx_t *c, uint32_t pos, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  annotate(c, false, pos, fmt, ap);
  va_end(ap);
}

/* --- Numbers ------------------------------------------------------------------ */

/* Shortest decimal digits of |v| (finite, non-zero) and the exponent of the
 * first digit: v = 0.d1d2d3... x 10^(exp10+1). */
static size_t shortest_digits(double v, char *digits, int *exp10) {
  char sci[40];
  for (int prec = 0; prec < 17; prec++) {
    snprintf(sci, sizeof(sci), "%.*e", prec, v);
    if (strtod(sci, NULL) == v) break;
  }
  size_t nd = 0;
  const char *p = sci;
  for (; *p && *p != 'e'; p++) {
    if (*p >= '0' && *p <= '9') digits[nd++] = *p;
  }
  *exp10 = atoi(p + 1);
  while (nd > 1 && digits[nd - 1] == '0') nd--;
  digits[nd] = 0;
  return nd;
}

void ev_format_g(strbuf_t *b, double v) {
  if (isnan(v)) {
    strbuf_puts(b, "NaN");
    return;
  }
  if (isinf(v)) {
    strbuf_puts(b, v > 0 ? "+Inf" : "-Inf");
    return;
  }
  if (signbit(v)) strbuf_putc(b, '-');
  v = fabs(v);
  if (v == 0) {
    strbuf_putc(b, '0');
    return;
  }
  char d[24];
  int e;
  size_t nd = shortest_digits(v, d, &e);
  if (e < -4 || e >= 6) {
    /* Go's shortest %g: exponent form below 1e-4 and from 1e6 on. */
    strbuf_putc(b, d[0]);
    if (nd > 1) {
      strbuf_putc(b, '.');
      strbuf_append(b, d + 1, nd - 1);
    }
    strbuf_printf(b, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    return;
  }
  if (e < 0) {
    strbuf_puts(b, "0.");
    for (int i = 0; i < -e - 1; i++) strbuf_putc(b, '0');
    strbuf_append(b, d, nd);
    return;
  }
  for (int i = 0; i <= e; i++) strbuf_putc(b, (size_t)i < nd ? d[i] : '0');
  if ((size_t)e + 1 < nd) {
    strbuf_putc(b, '.');
    strbuf_append(b, d + e + 1, nd - (size_t)e - 1);
  }
}

bool ev_parse_float(const char *s, double *out) {
  if (!s || !*s) return false;
  const char *p = s;
  if (*p == '+' || *p == '-') p++;
  if (strcasecmp(p, "inf") == 0 || strcasecmp(p, "infinity") == 0) {
    *out = s[0] == '-' ? -INFINITY : INFINITY;
    return true;
  }
  if (strcasecmp(p, "nan") == 0) {
    *out = NAN;
    return true;
  }
  /* Digits, '.', exponent and hex forms only; no spaces, no "inf" tails. */
  for (const char *q = p; *q; q++) {
    if (!((*q >= '0' && *q <= '9') || *q == '.' || *q == 'e' || *q == 'E' ||
          *q == '+' || *q == '-' || *q == 'x' || *q == 'X' || *q == 'p' ||
          *q == 'P' || (*q >= 'a' && *q <= 'f') || (*q >= 'A' && *q <= 'F'))) {
      return false;
    }
  }
  char *end;
  double v = strtod(s, &end);
  if (end == s || *end) return false;
  *out = v;
  return true;
}

bool ev_valid_label_name(const char *s, size_t len) {
  if (len == 0) return false;
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0;
  while (i < len) {
    unsigned char ch = u[i];
    size_t need;
    uint32_t r, min;
    if (ch < 0x80) {
      i++;
      continue;
    } else if ((ch & 0xE0) == 0xC0) {
      need = 2, r = ch & 0x1F, min = 0x80;
    } else if ((ch & 0xF0) == 0xE0) {
      need = 3, r = ch & 0x0F, min = 0x800;
    } else if ((ch & 0xF8) == 0xF0) {
      need = 4, r = ch & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (len - i < need) return false;
    for (size_t k = 1; k < need; k++) {
      if ((u[i + k] & 0xC0) != 0x80) return false;
      r = (r << 6) | (u[i + k] & 0x3F);
    }
    if (r < min || r > 0x10FFFF || (r >= 0xD800 && r < 0xE000)) return false;
    i += need;
  }
  return true;
}

double ev_kahan_inc(double inc, double sum, double *c) {
  double t = sum + inc;
  if (isinf(t)) {
    *c = 0;
  } else if (fabs(sum) >= fabs(inc)) {
    *c += (sum - t) + inc;
  } else {
    *c += (inc - t) + sum;
  }
  return t;
}
