/*
 * scrape_append.c - what happens to one scrape's body: parse, label,
 * append, mark stale, report (Prometheus's scrapeLoop.append and report).
 *
 * Series cache.  Each target keeps an array of entries keyed by the raw
 * series text as exposed ("up{job=\"x\"}", a slice of the body), found
 * through a hash index (XXH3 of the text).  An entry holds the labels the
 * series got after honor_labels, the target's labels and
 * metric_relabel_configs (or "dropped"), and the TSDB reference, so a
 * steady scrape costs one key comparison and one tsdb_append_ref per
 * sample: the entry after the last one found is tried before the hash
 * index, since a target lists its series in the same order every time.  Entries
 * not seen in a successful scrape are evicted after it.  The parser runs
 * in lazy mode: labels are unescaped, normalised and checked
 * (expfmt_parser_labels) only on a cache miss; a hit's identical bytes
 * passed that step when they were cached (see expfmt.h), and a miss that
 * fails it fails the scrape as before.
 *
 * Staleness.  A second array, keyed by the hash of the final labels, holds
 * every series appended without an explicit timestamp in the last
 * successful scrape (with track_timestamps_staleness, those with one too).
 * After a successful scrape, entries not seen in it get a staleness marker
 * at the scrape's timestamp and go; after a failed one every entry carried
 * over from the previous scrape gets one (the samples of the failed
 * scrape were rolled back, so its new entries go silently).  When a target
 * stops, everything left, report series included, gets one.
 *
 * Limits end the scrape with an error, as in Prometheus: sample_limit
 * counts samples appended after relabeling; label_limit,
 * label_name_length_limit and label_value_length_limit are checked when a
 * series is first seen (later scrapes hit the cache).
 */
#include "scrape_int.h"

#include "log.h"
#include "mem.h"
#include "ph_error.h"
#include "relabel.h"
#include "timeparse.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

/* ---- hash index --------------------------------------------------------------- */

static void hidx_grow(hidx_t *h) {
  size_t ncap = h->cap ? h->cap * 2 : 64;
  hslot_t *ns = ph_calloc(ncap, sizeof *ns);
  for (size_t i = 0; i < h->cap; i++) {
    if (h->slots[i].idx1 == 0) continue;
    size_t p = h->slots[i].hash & (ncap - 1);
    while (ns[p].idx1 != 0) p = (p + 1) & (ncap - 1);
    ns[p] = h->slots[i];
  }
  free(h->slots);
  h->slots = ns;
  h->cap = ncap;
}

void scrape__hidx_put(hidx_t *h, uint64_t hash, uint32_t idx) {
  if ((h->n + 1) * 2 > h->cap) hidx_grow(h);
  size_t p = hash & (h->cap - 1);
  while (h->slots[p].idx1 != 0) p = (p + 1) & (h->cap - 1);
  h->slots[p] = (hslot_t){hash, idx + 1};
  h->n++;
}

int64_t scrape__hidx_find(const hidx_t *h, uint64_t hash, hidx_eq_fn eq, void *ctx) {
  if (h->cap == 0) return -1;
  size_t p = hash & (h->cap - 1);
  while (h->slots[p].idx1 != 0) {
    if (h->slots[p].hash == hash && eq(ctx, h->slots[p].idx1 - 1)) return h->slots[p].idx1 - 1;
    p = (p + 1) & (h->cap - 1);
  }
  return -1;
}

void scrape__hidx_clear(hidx_t *h) {
  if (h->slots) memset(h->slots, 0, h->cap * sizeof *h->slots);
  h->n = 0;
}

void scrape__hidx_free(hidx_t *h) {
  free(h->slots);
  memset(h, 0, sizeof *h);
}

/* ---- metadata ------------------------------------------------------------------ */

typedef struct meta_key {
  const meta_table_t *mt;
  const char *p;
  size_t n;
} meta_key_t;

static bool meta_eq(void *ctx, uint32_t i) {
  meta_key_t *k = ctx;
  const char *f = k->mt->v[i].family;
  return strlen(f) == k->n && memcmp(f, k->p, k->n) == 0;
}

static meta_entry_t *meta_get(meta_table_t *mt, const char *p, size_t n) {
  uint64_t h = XXH3_64bits(p, n);
  meta_key_t k = {mt, p, n};
  int64_t i = scrape__hidx_find(&mt->idx, h, meta_eq, &k);
  if (i >= 0) return &mt->v[i];
  ph_grow(&mt->v, &mt->cap, mt->n + 1);
  meta_entry_t *e = &mt->v[mt->n];
  if (mt->n < mt->nkept) {
    /* a slot kept from an earlier scrape: reuse what still matches */
    if (!(strlen(e->family) == n && memcmp(e->family, p, n) == 0)) {
      free(e->family);
      e->family = ph_strndup(p, n);
      free(e->help);
      free(e->unit);
      e->help = e->unit = NULL;
    }
    e->type = EXPFMT_TYPE_UNKNOWN;
    e->seen_help = e->seen_unit = false;
  } else {
    memset(e, 0, sizeof *e);
    e->family = ph_strndup(p, n);
    mt->nkept = mt->n + 1;
  }
  scrape__hidx_put(&mt->idx, h, (uint32_t)mt->n);
  mt->n++;
  return e;
}

/* Empties the table for the next scrape; the strings stay in their slots
 * for meta_get to reuse. */
static void meta_clear(meta_table_t *mt) {
  if (mt->n > mt->nkept) mt->nkept = mt->n;
  mt->n = 0;
  scrape__hidx_clear(&mt->idx);
}

/* After a scrape: drops HELP/UNIT not seen this time (a family that lost
 * its HELP line must not keep the old text). */
static void meta_finish(meta_table_t *mt) {
  for (size_t i = 0; i < mt->n; i++) {
    meta_entry_t *e = &mt->v[i];
    if (!e->seen_help) {
      free(e->help);
      e->help = NULL;
    }
    if (!e->seen_unit) {
      free(e->unit);
      e->unit = NULL;
    }
  }
}

void scrape__meta_free(meta_table_t *mt) {
  size_t used = mt->n > mt->nkept ? mt->n : mt->nkept;
  for (size_t i = 0; i < used; i++) {
    free(mt->v[i].family);
    free(mt->v[i].help);
    free(mt->v[i].unit);
  }
  free(mt->v);
  scrape__hidx_free(&mt->idx);
  memset(mt, 0, sizeof *mt);
}

static void meta_note(meta_table_t *mt, const expfmt_entry_t *e) {
  meta_entry_t *m = meta_get(mt, e->name.ptr, e->name.len);
  if (e->kind == EXPFMT_TYPE) {
    m->type = e->type;
  } else if (e->kind == EXPFMT_HELP) {
    m->seen_help = true;
    if (m->help && strlen(m->help) == e->text.len && memcmp(m->help, e->text.ptr, e->text.len) == 0)
      return;
    free(m->help);
    m->help = ph_strndup(e->text.ptr, e->text.len);
  } else if (e->kind == EXPFMT_UNIT) {
    m->seen_unit = true;
    if (m->unit && strlen(m->unit) == e->text.len && memcmp(m->unit, e->text.ptr, e->text.len) == 0)
      return;
    free(m->unit);
    m->unit = ph_strndup(e->text.ptr, e->text.len);
  }
}

/* ---- appending ----------------------------------------------------------------- */

static int put(scrape_target_t *t, tsdb_appender_t *app, uint64_t *ref, const labels_t *ls,
               int64_t ts, double v) {
  scrape_manager_t *m = t->m;
  int rc = PH_ENOTFOUND;
  if (*ref != 0) rc = tsdb_append_ref(app, *ref, ts, v);
  if (rc == PH_ENOTFOUND) rc = tsdb_append(app, ls, ts, v, ref);
  if (rc == 0) atomic_fetch_add(&m->st.appended, 1);
  else if (rc == PH_EOUTOFORDER) atomic_fetch_add(&m->st.ooo, 1);
  else if (rc == PH_EDUPLICATE) atomic_fetch_add(&m->st.dup, 1);
  else if (rc == PH_EOUTOFBOUNDS) atomic_fetch_add(&m->st.oob, 1);
  return rc;
}

/* ---- staleness set ---------------------------------------------------------------- */

typedef struct stale_key {
  scrape_target_t *t;
  const labels_t *ls;
} stale_key_t;

static bool stale_eq(void *ctx, uint32_t i) {
  stale_key_t *k = ctx;
  return labels_equal(k->t->stale[i].lset, k->ls);
}

/* Marks ls seen; returns the hint for the next call (the entry after
 * this one: a steady target exposes its series in the same order every
 * time, and the array keeps that order, so the hint saves the lookup). */
static size_t stale_track(scrape_target_t *t, const labels_t *ls, uint64_t lhash, uint64_t ref,
                          size_t hint) {
  int64_t i = -1;
  if (hint < t->nstale && t->stale[hint].lhash == lhash && labels_equal(t->stale[hint].lset, ls)) {
    i = (int64_t)hint;
  } else {
    stale_key_t k = {t, ls};
    i = scrape__hidx_find(&t->stale_idx, lhash, stale_eq, &k);
  }
  if (i >= 0) {
    t->stale[i].seen_iter = t->iter;
    t->stale[i].ref = ref;
    return (size_t)i + 1;
  }
  ph_grow(&t->stale, &t->capstale, t->nstale + 1);
  t->stale[t->nstale] = (stale_entry_t){lhash, labels_dup(ls), ref, t->iter, true};
  scrape__hidx_put(&t->stale_idx, lhash, (uint32_t)t->nstale);
  t->nstale++;
  return t->nstale;
}

/* ok: mark and drop what this scrape did not see; failed: mark and drop
 * everything from before, drop this scrape's new entries. */
static void stale_finish(scrape_target_t *t, tsdb_appender_t *app, int64_t ts, bool ok) {
  size_t w = 0;
  for (size_t i = 0; i < t->nstale; i++) {
    stale_entry_t *e = &t->stale[i];
    bool keep = ok && e->seen_iter == t->iter;
    if (!keep) {
      if (!(e->fresh && !ok)) put(t, app, &e->ref, e->lset, ts, tsdb_stale_nan());
      labels_free(e->lset);
      continue;
    }
    e->fresh = false;
    t->stale[w++] = *e;
  }
  if (w != t->nstale) {
    t->nstale = w;
    scrape__hidx_clear(&t->stale_idx);
    for (size_t i = 0; i < w; i++) scrape__hidx_put(&t->stale_idx, t->stale[i].lhash, (uint32_t)i);
  }
}

/* ---- series cache --------------------------------------------------------------------- */

typedef struct cache_key {
  scrape_target_t *t;
  const char *p;
  size_t n;
} cache_key_t;

static bool cache_eq(void *ctx, uint32_t i) {
  cache_key_t *k = ctx;
  const scache_entry_t *e = &k->t->cache[i];
  return e->keylen == k->n && memcmp(e->key, k->p, k->n) == 0;
}

static void cache_evict(scrape_target_t *t) {
  size_t w = 0;
  for (size_t i = 0; i < t->ncache; i++) {
    scache_entry_t *e = &t->cache[i];
    if (e->last_iter != t->iter) {
      free(e->key);
      labels_free(e->lset);
      continue;
    }
    t->cache[w++] = *e;
  }
  if (w != t->ncache) {
    t->ncache = w;
    scrape__hidx_clear(&t->cache_idx);
    for (size_t i = 0; i < w; i++) scrape__hidx_put(&t->cache_idx, t->cache[i].khash, (uint32_t)i);
  }
}

void scrape__cache_reset(scrape_target_t *t) {
  for (size_t i = 0; i < t->ncache; i++) {
    free(t->cache[i].key);
    labels_free(t->cache[i].lset);
  }
  t->ncache = 0;
  scrape__hidx_clear(&t->cache_idx);
}

/* ---- labels of a new series --------------------------------------------------------------- */

typedef struct conflict {
  const char *name;
  char *value; /* owned */
} conflict_t;

static int cmp_conflict_len(const void *a, const void *b) {
  const conflict_t *x = a, *y = b;
  size_t lx = strlen(x->name), ly = strlen(y->name);
  if (lx != ly) return lx < ly ? -1 : 1;
  return x < y ? -1 : x > y; /* stable: keep the original order */
}

/* Builds the final labels of a series seen for the first time; NULL with
 * *dropped when metric relabeling drops it. */
static labels_t *series_labels(scrape_target_t *t, const expfmt_entry_t *e, bool *dropped) {
  scrape_manager_t *m = t->m;
  labels_builder_t *b = m->lb;
  strbuf_t *s = &m->scratch;
  *dropped = false;
  /* NUL-terminated copies of the slices */
  strbuf_reset(s);
  size_t *off = ph_calloc(2 * e->nlabels + 1, sizeof *off);
  off[0] = 0;
  strbuf_append(s, e->name.ptr, e->name.len);
  strbuf_putc(s, '\0');
  for (size_t i = 0; i < e->nlabels; i++) {
    off[1 + 2 * i] = s->len;
    strbuf_append(s, e->labels[i].name.ptr, e->labels[i].name.len);
    strbuf_putc(s, '\0');
    off[2 + 2 * i] = s->len;
    strbuf_append(s, e->labels[i].value.ptr, e->labels[i].value.len);
    strbuf_putc(s, '\0');
  }
  labels_builder_reset(b, NULL);
  labels_builder_set(b, "__name__", s->data + off[0]);
  for (size_t i = 0; i < e->nlabels; i++)
    labels_builder_set(b, s->data + off[1 + 2 * i], s->data + off[2 + 2 * i]);
  size_t nt = labels_len(t->labels);
  if (t->job->honor_labels) {
    /* as Prometheus: an exposed label wins even with an empty value */
    for (size_t i = 0; i < nt; i++) {
      const label_t *l = labels_at(t->labels, i);
      bool exposed = false;
      size_t ln = strlen(l->name);
      for (size_t k = 0; k < e->nlabels && !exposed; k++)
        exposed = e->labels[k].name.len == ln && memcmp(e->labels[k].name.ptr, l->name, ln) == 0;
      if (!exposed) labels_builder_set(b, l->name, l->value);
    }
  } else {
    conflict_t *cf = NULL;
    size_t ncf = 0, capcf = 0;
    for (size_t i = 0; i < nt; i++) {
      const label_t *l = labels_at(t->labels, i);
      const char *ex = labels_builder_get(b, l->name);
      if (ex != NULL && ex[0] != '\0') {
        ph_grow(&cf, &capcf, ncf + 1);
        cf[ncf++] = (conflict_t){l->name, ph_strdup(ex)};
      }
      labels_builder_set(b, l->name, l->value);
    }
    if (ncf > 0) {
      qsort(cf, ncf, sizeof *cf, cmp_conflict_len);
      strbuf_t nn = STRBUF_INIT;
      for (size_t i = 0; i < ncf; i++) {
        strbuf_reset(&nn);
        strbuf_puts(&nn, cf[i].name);
        for (int guard = 0; guard < 64; guard++) {
          strbuf_t tmp = STRBUF_INIT;
          strbuf_puts(&tmp, "exported_");
          strbuf_puts(&tmp, strbuf_cstr(&nn));
          strbuf_free(&nn);
          nn = tmp;
          const char *cur = labels_builder_get(b, strbuf_cstr(&nn));
          if (cur == NULL || cur[0] == '\0') {
            labels_builder_set(b, strbuf_cstr(&nn), cf[i].value);
            break;
          }
        }
        free(cf[i].value);
      }
      strbuf_free(&nn);
    }
    free(cf);
  }
  free(off);
  /* Interned in the manager's table: the staleness set's copy of a set
   * then shares its strings, and comparing the two is pointer equality. */
  labels_t *ls = labels_builder_finish(b, m->syms);
  if (t->job->nmetric_relabel > 0) {
    labels_t *out;
    bool keep = relabel_apply((const relabel_rule_t *const *)t->job->metric_relabel,
                              t->job->nmetric_relabel, ls, &out);
    labels_free(ls);
    if (!keep) {
      *dropped = true;
      return NULL;
    }
    labels_builder_reset(b, out);
    ls = labels_builder_finish(b, m->syms);
    labels_free(out);
  }
  return ls;
}

/* Prometheus's verifyLabelLimits (and the mandatory metric name). */
static int check_labels(scrape_target_t *t, const labels_t *ls, char *err, size_t errlen) {
  const scrape_job_t *j = t->job;
  const char *name = labels_get(ls, "__name__");
  if (name == NULL) return ph_err(err, errlen, PH_EPARSE, "missing metric name (__name__ label)");
  size_t n = labels_len(ls);
  if (j->label_limit > 0 && n > j->label_limit) {
    atomic_fetch_add(&t->m->st.label_limits, 1);
    return ph_err(err, errlen, PH_ELIMIT,
                  "label_limit exceeded (metric: %.50s, number of labels: %zu, limit: %llu)", name,
                  n, (unsigned long long)j->label_limit);
  }
  for (size_t i = 0; i < n; i++) {
    const label_t *l = labels_at(ls, i);
    size_t nl = strlen(l->name), vl = strlen(l->value);
    if (j->label_name_length_limit > 0 && nl > j->label_name_length_limit) {
      atomic_fetch_add(&t->m->st.label_limits, 1);
      return ph_err(err, errlen, PH_ELIMIT,
                    "label_name_length_limit exceeded (metric: %.50s, label name: %.50s, length: "
                    "%zu, limit: %llu)",
                    name, l->name, nl, (unsigned long long)j->label_name_length_limit);
    }
    if (j->label_value_length_limit > 0 && vl > j->label_value_length_limit) {
      atomic_fetch_add(&t->m->st.label_limits, 1);
      return ph_err(err, errlen, PH_ELIMIT,
                    "label_value_length_limit exceeded (metric: %.50s, label name: %.50s, value: "
                    "\"%.50s\", length: %zu, limit: %llu)",
                    name, l->name, l->value, vl, (unsigned long long)j->label_value_length_limit);
    }
  }
  return 0;
}

typedef struct counts {
  uint64_t total, added, series_added;
} counts_t;

static expfmt_format_t pick_format(const scrape_job_t *j, const char *ct) {
  if ((ct == NULL || ct[0] == '\0') && j->fallback_protocol != NULL)
    return strncmp(j->fallback_protocol, "OpenMetrics", 11) == 0 ? EXPFMT_FORMAT_OPENMETRICS
                                                                : EXPFMT_FORMAT_TEXT;
  return expfmt_format_from_content_type(ct);
}

static int append_body(scrape_target_t *t, tsdb_appender_t *app, const char *body, size_t len,
                       const char *ct, int64_t ts, counts_t *c, char *err, size_t errlen) {
  scrape_manager_t *m = t->m;
  const scrape_job_t *j = t->job;
  expfmt_parser_reset(m->parser, body, len, pick_format(j, ct));
  expfmt_parser_set_lazy(m->parser, true);
  meta_clear(&t->meta_build);
  expfmt_entry_t e;
  int k;
  bool over_limit = false;
  /* Where the next sample's cache and staleness entries probably are: both
   * arrays keep the order series were first seen in. */
  size_t chint = 0, shint = 0;
  while ((k = expfmt_parser_next(m->parser, &e)) > 0) {
    if (k != EXPFMT_SERIES) {
      meta_note(&t->meta_build, &e);
      continue;
    }
    int64_t ci = -1;
    uint64_t kh = 0;
    cache_key_t ck = {t, e.series.ptr, e.series.len};
    if (chint < t->ncache && cache_eq(&ck, (uint32_t)chint)) {
      ci = (int64_t)chint; /* keys are unique: this is the entry */
    } else {
      kh = XXH3_64bits(e.series.ptr, e.series.len);
      ci = scrape__hidx_find(&t->cache_idx, kh, cache_eq, &ck);
    }
    bool is_new = ci < 0;
    if (is_new && (k = expfmt_parser_labels(m->parser, &e)) < 0) break;
    c->total++;
    int64_t sts = ts;
    bool tracked = true;
    if (e.has_ts && j->honor_timestamps) {
      sts = e.ts_ms;
      tracked = j->track_timestamps_staleness;
    }
    if (is_new) {
      bool dropped;
      labels_t *ls = series_labels(t, &e, &dropped);
      if (!dropped) {
        int rc = check_labels(t, ls, err, errlen);
        if (rc != 0) {
          labels_free(ls);
          return rc;
        }
      }
      ph_grow(&t->cache, &t->capcache, t->ncache + 1);
      scache_entry_t *ne = &t->cache[t->ncache];
      *ne = (scache_entry_t){ph_strndup(e.series.ptr, e.series.len), e.series.len, kh, 0, ls,
                             ls ? labels_hash(ls) : 0, t->iter};
      scrape__hidx_put(&t->cache_idx, kh, (uint32_t)t->ncache);
      ci = (int64_t)t->ncache++;
    }
    scache_entry_t *ce = &t->cache[ci];
    chint = (size_t)ci + 1;
    ce->last_iter = t->iter;
    if (ce->lset == NULL) continue; /* dropped by metric relabeling */
    c->added++;
    if (j->sample_limit > 0 && c->added > j->sample_limit) {
      /* keep parsing to report the real totals, as Prometheus does */
      over_limit = true;
      continue;
    }
    int rc = put(t, app, &ce->ref, ce->lset, sts, e.value);
    if (rc == 0 && is_new) c->series_added++;
    if (rc != 0 && rc != PH_EOUTOFORDER && rc != PH_EDUPLICATE && rc != PH_EOUTOFBOUNDS)
      log_debug("Append failed", "target", t->url, "err", ph_strerror(rc));
    if (tracked) shint = stale_track(t, ce->lset, ce->lhash, ce->ref, shint);
  }
  if (k < 0) return ph_err(err, errlen, PH_EPARSE, "%s", expfmt_parser_error(m->parser));
  if (over_limit) {
    atomic_fetch_add(&m->st.sample_limit, 1);
    return ph_err(err, errlen, PH_ELIMIT, "sample limit exceeded");
  }
  return 0;
}

static const char *const report_names[SCRAPE_REPORT_N] = {
    "up", "scrape_duration_seconds", "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling", "scrape_series_added"};

static void report(scrape_target_t *t, tsdb_appender_t *app, int64_t ts, const double *v) {
  for (int i = 0; i < SCRAPE_REPORT_N; i++) {
    if (t->report_ls[i] == NULL) {
      labels_builder_reset(t->m->lb, t->labels);
      labels_builder_set(t->m->lb, "__name__", report_names[i]);
      t->report_ls[i] = labels_builder_finish(t->m->lb, NULL);
    }
    put(t, app, &t->report_ref[i], t->report_ls[i], ts, v[i]);
  }
  t->reported = true;
}

void scrape__process(scrape_target_t *t, const char *body, size_t len, const char *ct,
                     const char *errmsg) {
  scrape_manager_t *m = t->m;
  int64_t ts = t->scrape_ts;
  char err[1024];
  const char *error = errmsg;
  counts_t c = {0};
  if (t->fingerprint != t->job->sample_fingerprint) {
    scrape__cache_reset(t);
    t->fingerprint = t->job->sample_fingerprint;
  }
  t->iter++;
  tsdb_appender_t *app = tsdb_appender_new(m->db);
  if (error == NULL && append_body(t, app, body, len, ct, ts, &c, err, sizeof err) != 0) {
    error = err;
    tsdb_appender_rollback(app);
    app = tsdb_appender_new(m->db);
  }
  double dur = (double)(uv_hrtime() - t->scrape_start_ns) / 1e9;
  if (error != NULL) {
    stale_finish(t, app, ts, false);
  } else {
    stale_finish(t, app, ts, true);
    cache_evict(t);
  }
  double v[SCRAPE_REPORT_N] = {error ? 0 : 1, dur, (double)c.total, (double)c.added,
                               (double)c.series_added};
  report(t, app, ts, v);
  char cerr[256];
  if (tsdb_appender_commit(app, cerr, sizeof cerr) != 0)
    log_error("Appending scrape results failed", "target", t->url, "err", cerr);
  t->last_ts = ts;
  atomic_fetch_add(&m->st.scrapes, 1);
  if (error != NULL) {
    atomic_fetch_add(&m->st.failed, 1);
    log_debug("Scrape failed", "scrape_pool", t->job->job_name, "target", t->url, "err", error);
  }

  pthread_mutex_lock(&m->mu);
  t->health = error ? SCRAPE_HEALTH_DOWN : SCRAPE_HEALTH_UP;
  free(t->last_error);
  t->last_error = ph_strdup(error ? error : "");
  t->last_scrape_ms = ts;
  t->last_duration_s = dur;
  t->last_samples = c.total;
  t->scrapes++;
  if (error == NULL) meta_finish(&t->meta_build);
  if (error == NULL) {
    meta_table_t tmp = t->meta;
    t->meta = t->meta_build;
    t->meta_build = tmp;
  }
  pthread_mutex_unlock(&m->mu);
  meta_clear(&t->meta_build);
}

void scrape__stale_all(scrape_target_t *t) {
  if (t->nstale == 0 && !t->reported) return;
  int64_t ts = ph_now_ms();
  if (ts <= t->last_ts) ts = t->last_ts + 1;
  tsdb_appender_t *app = tsdb_appender_new(t->m->db);
  for (size_t i = 0; i < t->nstale; i++) {
    put(t, app, &t->stale[i].ref, t->stale[i].lset, ts, tsdb_stale_nan());
    labels_free(t->stale[i].lset);
  }
  t->nstale = 0;
  scrape__hidx_clear(&t->stale_idx);
  if (t->reported)
    for (int i = 0; i < SCRAPE_REPORT_N; i++)
      put(t, app, &t->report_ref[i], t->report_ls[i], ts, tsdb_stale_nan());
  t->reported = false;
  char cerr[256];
  if (tsdb_appender_commit(app, cerr, sizeof cerr) != 0)
    log_error("Appending staleness markers failed", "target", t->url, "err", cerr);
  t->last_ts = ts;
}

void scrape__target_state_free(scrape_target_t *t) {
  scrape__cache_reset(t);
  free(t->cache);
  scrape__hidx_free(&t->cache_idx);
  for (size_t i = 0; i < t->nstale; i++) labels_free(t->stale[i].lset);
  free(t->stale);
  scrape__hidx_free(&t->stale_idx);
  for (int i = 0; i < SCRAPE_REPORT_N; i++) labels_free(t->report_ls[i]);
  scrape__meta_free(&t->meta);
  scrape__meta_free(&t->meta_build);
}
