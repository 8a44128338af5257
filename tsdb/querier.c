/*
 * querier.c - reading committed samples: select, label names and values.
 *
 * A select runs the matchers against the head's postings, and for each
 * matching series takes a snapshot under the series lock: a copy of the
 * bytes of every chunk that overlaps the querier's [mint, maxt] (cut chunks,
 * read from their chunks_head/ mapping, and the open one; a chunk is a few
 * hundred bytes) and of its out-of-order
 * samples in range.  The snapshot lives in the series set's arena, so
 * iteration needs no lock and sees exactly what was committed when select
 * ran, whatever appenders do meanwhile.  Series are returned sorted by
 * labels.  An iterator merges the chunk stream with the out-of-order
 * samples; on equal timestamps the in-order sample wins.
 */
#include "tsdb_int.h"

#include "log.h"
#include "mem.h"
#include "ph_error.h"

#include <stdlib.h>
#include <string.h>

struct tsdb_querier {
  tsdb_t *db;
  int64_t mint, maxt;
};

typedef struct snap_chunk {
  const uint8_t *data; /* in the set's arena */
  size_t len;
  unsigned count;
} snap_chunk_t;

/* Records of one series in one block (records copied into the arena). */
typedef struct blk_src {
  block_t *b;          /* the set holds a reference on every block */
  block_rec_t *recs;
  size_t nrecs;
} blk_src_t;

typedef struct snap_series {
  labels_t *labels;    /* owned (labels_dup / from the block) */
  blk_src_t *bsrc;     /* block sources, oldest block first */
  size_t nbsrc;
  snap_chunk_t *chunks;
  size_t nchunks;
  ooo_sample_t *ooo;
  size_t nooo;
  size_t order;        /* source order while merging: block index, head last */
  tomb_interval_t *tomb; /* deleted intervals (arena) */
  size_t ntomb;
} snap_series_t;

struct tsdb_iterator {
  const snap_series_t *s;
  int64_t mint, maxt;
  /* block phase: source bs, record br, decoded samples bt/bv[bi..bn) */
  size_t bs, br;
  int64_t *bt;
  double *bv;
  size_t bi, bn;
  bool blocks_done;
  int64_t last;          /* last emitted timestamp (dedup across sources) */
  bool emitted;
  size_t chunk;          /* index of the chunk being read */
  chunk_xor_iter_t ci;
  bool c_has;            /* chunk stream has a current sample */
  int64_t ct;
  double cv;
  size_t oi;             /* next out-of-order sample */
  int64_t t;
  double v;
  int err;
  bool started;          /* ci is initialised for chunks[chunk] */
  bool init;             /* the lookahead has been loaded */
  bool have;             /* (t, v) is a current sample */
  bool done;
};

struct tsdb_series_set {
  tsdb_t *db;
  arena_t *arena;
  block_t **blocks;  /* referenced blocks */
  size_t nblocks;
  snap_series_t *series;
  size_t n, cap;
  size_t cur; /* 1-based: 0 = before the first */
  int64_t mint, maxt;
  tsdb_iterator_t it;
  int err;
};

int tsdb_querier_open(tsdb_t *db, int64_t mint, int64_t maxt,
                      tsdb_querier_t **out) {
  tsdb_querier_t *q = ph_calloc(1, sizeof(*q));
  q->db = db;
  q->mint = mint;
  q->maxt = maxt;
  *out = q;
  return 0;
}

void tsdb_querier_close(tsdb_querier_t *q) { free(q); }

static int compile_all(const tsdb_matcher_t *m, size_t n, tsdb__matcher_t **out,
                       char *err, size_t errlen) {
  tsdb__matcher_t *cm = ph_calloc(n ? n : 1, sizeof(*cm));
  for (size_t i = 0; i < n; i++) {
    int rc = tsdb__matcher_compile(&cm[i], &m[i], err, errlen);
    if (rc != 0) {
      for (size_t j = 0; j < i; j++) tsdb__matcher_free(&cm[j]);
      free(cm);
      return rc;
    }
  }
  *out = cm;
  return 0;
}

static void free_all(tsdb__matcher_t *cm, size_t n) {
  for (size_t i = 0; i < n; i++) tsdb__matcher_free(&cm[i]);
  free(cm);
}

static void snapshot(head_series_t *s, void *ud) {
  tsdb_series_set_t *set = ud;
  tsdb__lock(&s->lk);
  if (s->maxt == INT64_MIN || s->maxt < set->mint || s->mint > set->maxt) {
    tsdb__unlock(&s->lk);
    return;
  }
  snap_series_t snap = {0};
  size_t want = s->nmm + 1;
  snap.chunks = arena_alloc(set->arena, want * sizeof(snap_chunk_t));
  for (uint32_t i = 0; i < s->nmm; i++) {
    const head_mmchunk_t *c = &s->mm[i];
    if (head_mmchunk_maxt(c) < set->mint || c->mint > set->maxt) continue;
    size_t len;
    const uint8_t *data = tsdb__head_mm_data(s, i, &len);
    if (data == NULL) continue;
    uint8_t *copy = arena_alloc(set->arena, len);
    memcpy(copy, data, len);
    snap.chunks[snap.nchunks++] = (snap_chunk_t){copy, len, c->count};
  }
  unsigned on = chunk_xor_num_samples(&s->open);
  if (on > 0 && chunk_xor_last_ts(&s->open) >= set->mint &&
      chunk_xor_first_ts(&s->open) <= set->maxt) {
    size_t len;
    const uint8_t *bytes = chunk_xor_bytes(&s->open, &len);
    uint8_t *copy = arena_alloc(set->arena, len);
    memcpy(copy, bytes, len);
    snap.chunks[snap.nchunks++] = (snap_chunk_t){copy, len, on};
  }
  if (s->ooo && s->ooo->n > 0) {
    snap.ooo = arena_alloc(set->arena, s->ooo->n * sizeof(ooo_sample_t));
    for (uint32_t i = 0; i < s->ooo->n; i++)
      if (s->ooo->s[i].t >= set->mint && s->ooo->s[i].t <= set->maxt)
        snap.ooo[snap.nooo++] = s->ooo->s[i];
  }
  tsdb__unlock(&s->lk);
  if (snap.nchunks == 0 && snap.nooo == 0) return;
  snap.labels = labels_dup(s->labels);
  snap.order = SIZE_MAX;
  ph_grow(&set->series, &set->cap, set->n + 1);
  set->series[set->n++] = snap;
}

static int cmp_snap(const void *a, const void *b) {
  const snap_series_t *x = a, *y = b;
  int c = labels_cmp(x->labels, y->labels);
  if (c != 0) return c;
  return x->order < y->order ? -1 : x->order > y->order;
}

/* Adds the matching series of one block to the set. */
static int select_block(tsdb_series_set_t *set, size_t bi, tsdb__matcher_t *cm,
                        size_t n, char *err, size_t errlen) {
  block_t *b = set->blocks[bi];
  uint32_t *ords;
  size_t nords;
  int rc = tsdb__block_select(b, cm, n, &ords, &nords);
  if (rc != 0)
    return ph_err(err, errlen, rc, "block %s: index is corrupt", tsdb__block_id(b));
  for (size_t i = 0; i < nords; i++) {
    labels_t *ls;
    block_rec_t *recs;
    size_t nrecs;
    rc = tsdb__block_series(b, ords[i], &ls, &recs, &nrecs);
    if (rc != 0) {
      free(ords);
      return ph_err(err, errlen, rc, "block %s: series %u is corrupt", tsdb__block_id(b),
                    ords[i]);
    }
    size_t keep = 0;
    for (size_t r = 0; r < nrecs; r++)
      if (recs[r].maxt >= set->mint && recs[r].mint <= set->maxt) recs[keep++] = recs[r];
    if (keep == 0) {
      labels_free(ls);
      free(recs);
      continue;
    }
    snap_series_t snap = {0};
    snap.labels = ls;
    snap.order = bi;
    snap.bsrc = arena_alloc(set->arena, sizeof(blk_src_t));
    snap.bsrc->b = b;
    snap.bsrc->recs = arena_alloc(set->arena, keep * sizeof(block_rec_t));
    memcpy(snap.bsrc->recs, recs, keep * sizeof(block_rec_t));
    snap.bsrc->nrecs = keep;
    snap.nbsrc = 1;
    free(recs);
    ph_grow(&set->series, &set->cap, set->n + 1);
    set->series[set->n++] = snap;
  }
  free(ords);
  return 0;
}

/* After sorting: folds entries with equal labels into one series whose
 * block sources come oldest first, then the head's data. */
static void merge_equal(tsdb_series_set_t *set) {
  size_t o = 0;
  for (size_t i = 0; i < set->n; i++) {
    if (o > 0 && labels_equal(set->series[o - 1].labels, set->series[i].labels)) {
      snap_series_t *d = &set->series[o - 1], *e = &set->series[i];
      if (e->nbsrc) {
        blk_src_t *nb = arena_alloc(set->arena, (d->nbsrc + e->nbsrc) * sizeof(blk_src_t));
        if (d->nbsrc) memcpy(nb, d->bsrc, d->nbsrc * sizeof(blk_src_t));
        memcpy(nb + d->nbsrc, e->bsrc, e->nbsrc * sizeof(blk_src_t));
        d->bsrc = nb;
        d->nbsrc += e->nbsrc;
      }
      if (e->nchunks) {
        d->chunks = e->chunks;
        d->nchunks = e->nchunks;
      }
      if (e->nooo) {
        d->ooo = e->ooo;
        d->nooo = e->nooo;
      }
      labels_free(e->labels);
      continue;
    }
    set->series[o++] = set->series[i];
  }
  set->n = o;
}

int tsdb_select(tsdb_querier_t *q, const tsdb_matcher_t *m, size_t n,
                tsdb_series_set_t **out, char *err, size_t errlen) {
  tsdb__matcher_t *cm;
  int rc = compile_all(m, n, &cm, err, errlen);
  if (rc != 0) return rc;
  tsdb_series_set_t *set = ph_calloc(1, sizeof(*set));
  set->arena = arena_new(0);
  set->mint = q->mint;
  set->maxt = q->maxt;
  tsdb__blocks_snapshot(q->db, q->mint, q->maxt, &set->blocks, &set->nblocks);
  tsdb__head_select(q->db->head, cm, n, snapshot, set);
  for (size_t i = 0; i < set->nblocks && rc == 0; i++)
    rc = select_block(set, i, cm, n, err, errlen);
  free_all(cm, n);
  if (rc != 0) {
    tsdb_series_set_free(set);
    return rc;
  }
  if (set->n > 1) qsort(set->series, set->n, sizeof(*set->series), cmp_snap);
  merge_equal(set);
  if (tsdb__tombstones_any(q->db)) {
    for (size_t i = 0; i < set->n; i++) {
      tomb_interval_t iv[16];
      size_t k = tsdb__tombstones_for(q->db, set->series[i].labels, iv, 16);
      if (k > 16) k = 16;
      if (k == 0) continue;
      set->series[i].tomb = arena_alloc(set->arena, k * sizeof(tomb_interval_t));
      memcpy(set->series[i].tomb, iv, k * sizeof(tomb_interval_t));
      set->series[i].ntomb = k;
    }
  }
  set->db = q->db;
  *out = set;
  return 0;
}

bool tsdb_series_set_next(tsdb_series_set_t *s) {
  for (;;) {
    if (s->cur >= s->n) {
      s->cur = s->n + 1;
      return false;
    }
    s->cur++;
    if (s->series[s->cur - 1].ntomb == 0) return true;
    /* a series whose every sample was deleted is not returned */
    tsdb_iterator_t *it = tsdb_series_set_iterator(s);
    if (tsdb_iterator_next(it)) return true;
  }
}

size_t tsdb_series_set_count(const tsdb_series_set_t *s) { return s->n; }

const labels_t *tsdb_series_set_labels(tsdb_series_set_t *s) {
  ph_assert(s->cur >= 1 && s->cur <= s->n);
  return s->series[s->cur - 1].labels;
}

tsdb_iterator_t *tsdb_series_set_iterator(tsdb_series_set_t *s) {
  ph_assert(s->cur >= 1 && s->cur <= s->n);
  tsdb_iterator_t *it = &s->it;
  free(it->bt);
  free(it->bv);
  memset(it, 0, sizeof *it);
  it->s = &s->series[s->cur - 1];
  it->mint = s->mint;
  it->maxt = s->maxt;
  return it;
}

void tsdb_series_set_free(tsdb_series_set_t *s) {
  if (s == NULL) return;
  free(s->it.bt);
  free(s->it.bv);
  for (size_t i = 0; i < s->nblocks; i++) tsdb__block_unref(s->blocks[i]);
  free(s->blocks);
  for (size_t i = 0; i < s->n; i++) labels_free(s->series[i].labels);
  free(s->series);
  arena_free(s->arena);
  free(s);
}

/* Advances the chunk stream by one sample. */
static void chunk_advance(tsdb_iterator_t *it) {
  for (;;) {
    if (it->chunk < it->s->nchunks) {
      if (!it->started) {
        const snap_chunk_t *c = &it->s->chunks[it->chunk];
        chunk_xor_iter_init(&it->ci, c->data, c->len, c->count);
        it->started = true;
      }
      if (chunk_xor_iter_next(&it->ci)) {
        chunk_xor_iter_at(&it->ci, &it->ct, &it->cv);
        it->c_has = true;
        return;
      }
      if (chunk_xor_iter_err(&it->ci) != 0) {
        it->err = chunk_xor_iter_err(&it->ci);
        it->c_has = false;
        it->chunk = it->s->nchunks;
        return;
      }
      it->chunk++;
      it->started = false;
      continue;
    }
    it->c_has = false;
    return;
  }
}

/* Loads the next block record with samples; false when none is left. */
static bool block_load(tsdb_iterator_t *it) {
  while (it->bs < it->s->nbsrc) {
    const blk_src_t *src = &it->s->bsrc[it->bs];
    if (it->br >= src->nrecs) {
      it->bs++;
      it->br = 0;
      continue;
    }
    free(it->bt);
    free(it->bv);
    it->bt = NULL;
    it->bv = NULL;
    it->bi = it->bn = 0;
    char err[256];
    int rc = tsdb__block_read_record(src->b, &src->recs[it->br], &it->bt, &it->bv,
                                     &it->bn, err, sizeof err);
    it->br++;
    if (rc != 0) {
      log_error("cannot read block data", "err", err);
      it->err = rc;
      it->bs = it->s->nbsrc;
      return false;
    }
    if (it->bn > 0) return true;
  }
  return false;
}

/* Next sample of the block phase; false when the blocks are exhausted. */
static bool block_step(tsdb_iterator_t *it) {
  if (it->blocks_done) return false;
  for (;;) {
    if (it->bi < it->bn) {
      it->t = it->bt[it->bi];
      it->v = it->bv[it->bi];
      it->bi++;
      return true;
    }
    if (!block_load(it)) {
      it->blocks_done = true;
      return false;
    }
  }
}

static bool head_step(tsdb_iterator_t *it);

static bool deleted(const tsdb_iterator_t *it) {
  for (size_t k = 0; k < it->s->ntomb; k++)
    if (it->t >= it->s->tomb[k].mint && it->t <= it->s->tomb[k].maxt) return true;
  return false;
}

static bool step(tsdb_iterator_t *it) {
  for (;;) {
    bool got = block_step(it) || head_step(it);
    if (!got) return false;
    if (it->emitted && it->t <= it->last) continue; /* overlap between sources */
    if (it->s->ntomb && deleted(it)) continue;
    it->last = it->t;
    it->emitted = true;
    return true;
  }
}

static bool head_step(tsdb_iterator_t *it) {
  bool o_has = it->oi < it->s->nooo;
  if (!it->c_has && !o_has) return false;
  if (it->c_has && (!o_has || it->ct <= it->s->ooo[it->oi].t)) {
    it->t = it->ct;
    it->v = it->cv;
    if (o_has && it->s->ooo[it->oi].t == it->ct) it->oi++;
    chunk_advance(it);
  } else {
    it->t = it->s->ooo[it->oi].t;
    it->v = it->s->ooo[it->oi].v;
    it->oi++;
  }
  return true;
}

static void init_stream(tsdb_iterator_t *it) {
  if (!it->init) {
    it->init = true;
    chunk_advance(it);
  }
}

bool tsdb_iterator_next(tsdb_iterator_t *it) {
  init_stream(it);
  it->have = false;
  if (it->done) return false;
  while (step(it)) {
    if (it->t < it->mint) continue;
    if (it->t > it->maxt) break;
    it->have = true;
    return true;
  }
  it->done = true;
  return false;
}

bool tsdb_iterator_seek(tsdb_iterator_t *it, int64_t t) {
  if (it->have && it->t >= t) return true;
  if (it->done) return false;
  init_stream(it);
  /* skip block records that end before t without decoding them */
  if (!it->blocks_done) {
    while (it->bi >= it->bn && it->bs < it->s->nbsrc) {
      const blk_src_t *src = &it->s->bsrc[it->bs];
      if (it->br < src->nrecs && src->recs[it->br].maxt < t) {
        it->br++;
        continue;
      }
      if (it->br >= src->nrecs) {
        it->bs++;
        it->br = 0;
        continue;
      }
      break;
    }
    /* within the decoded record: binary search */
    if (it->bi < it->bn && it->bt[it->bn - 1] >= t) {
      size_t lo = it->bi, hi = it->bn;
      while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (it->bt[mid] < t) lo = mid + 1;
        else hi = mid;
      }
      it->bi = lo;
    } else if (it->bi < it->bn) {
      it->bi = it->bn;
    }
  }
  /* fast-forward the chunk stream's lookahead to the first sample >= t */
  while (it->c_has && it->ct < t) {
    if (chunk_xor_iter_seek(&it->ci, t)) {
      chunk_xor_iter_at(&it->ci, &it->ct, &it->cv);
      break;
    }
    if (chunk_xor_iter_err(&it->ci) != 0) {
      it->err = chunk_xor_iter_err(&it->ci);
      it->c_has = false;
      break;
    }
    it->chunk++;
    it->started = false;
    chunk_advance(it);
  }
  while (it->oi < it->s->nooo && it->s->ooo[it->oi].t < t) it->oi++;
  return tsdb_iterator_next(it);
}

void tsdb_iterator_at(const tsdb_iterator_t *it, int64_t *t, double *v) {
  *t = it->t;
  *v = it->v;
}

int tsdb_iterator_err(const tsdb_iterator_t *it) { return it->err; }

/* Does the querier's range touch the head's samples at all? (As in
 * Prometheus, label names and values come from the head's index as a
 * whole when it does.) */
static bool head_overlaps(const tsdb_querier_t *q) {
  tsdb_stats_t st;
  tsdb__head_stats(q->db->head, &st);
  if (st.head_max_time == INT64_MIN) return false;
  return st.head_max_time >= q->mint && st.head_min_time <= q->maxt;
}

static int cmp_cstr(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Merges the names or values found in blocks into the head's sorted,
 * caller-owned list. */
static int add_block_strings(tsdb_querier_t *q, const char *name, tsdb__matcher_t *cm,
                             size_t n, char ***out, size_t *count, char *err,
                             size_t errlen) {
  block_t **blocks;
  size_t nb;
  tsdb__blocks_snapshot(q->db, q->mint, q->maxt, &blocks, &nb);
  const char **found = NULL;
  size_t nfound = 0, cap = 0;
  int rc = 0;
  for (size_t i = 0; i < nb && rc == 0; i++) {
    if (n == 0) {
      rc = tsdb__block_label_strings(blocks[i], name, NULL, 0, &found, &nfound, &cap);
    } else {
      uint32_t *ords;
      size_t nords;
      rc = tsdb__block_select(blocks[i], cm, n, &ords, &nords);
      if (rc == 0)
        rc = tsdb__block_label_strings(blocks[i], name, ords, nords, &found, &nfound, &cap);
      if (rc == 0) free(ords);
    }
    if (rc != 0) ph_err(err, errlen, rc, "block %s: index is corrupt", tsdb__block_id(blocks[i]));
  }
  if (rc == 0 && nfound > 0) {
    char **merged = ph_malloc((*count + nfound) * sizeof(char *));
    size_t m = 0;
    for (size_t i = 0; i < *count; i++) merged[m++] = (*out)[i];
    for (size_t i = 0; i < nfound; i++) merged[m++] = ph_strdup(found[i]);
    qsort(merged, m, sizeof(char *), cmp_cstr);
    size_t u = 0;
    for (size_t i = 0; i < m; i++) {
      if (u > 0 && strcmp(merged[u - 1], merged[i]) == 0) {
        free(merged[i]);
        continue;
      }
      merged[u++] = merged[i];
    }
    free(*out);
    *out = merged;
    *count = u;
  }
  free(found);
  for (size_t i = 0; i < nb; i++) tsdb__block_unref(blocks[i]);
  free(blocks);
  return rc;
}

int tsdb_label_names(tsdb_querier_t *q, const tsdb_matcher_t *m, size_t n,
                     char ***out, size_t *count, char *err, size_t errlen) {
  tsdb__matcher_t *cm;
  int rc = compile_all(m, n, &cm, err, errlen);
  if (rc != 0) return rc;
  if (head_overlaps(q)) {
    tsdb__head_label_names(q->db->head, cm, n, out, count);
  } else {
    *out = ph_calloc(1, sizeof(char *));
    *count = 0;
  }
  rc = add_block_strings(q, NULL, cm, n, out, count, err, errlen);
  free_all(cm, n);
  return rc;
}

int tsdb_label_values(tsdb_querier_t *q, const char *name,
                      const tsdb_matcher_t *m, size_t n, char ***out,
                      size_t *count, char *err, size_t errlen) {
  tsdb__matcher_t *cm;
  int rc = compile_all(m, n, &cm, err, errlen);
  if (rc != 0) return rc;
  if (head_overlaps(q)) {
    tsdb__head_label_values(q->db->head, name, cm, n, out, count);
  } else {
    *out = ph_calloc(1, sizeof(char *));
    *count = 0;
  }
  rc = add_block_strings(q, name, cm, n, out, count, err, errlen);
  free_all(cm, n);
  return rc;
}

void tsdb_strings_free(char **s, size_t count) {
  for (size_t i = 0; i < count; i++) free(s[i]);
  free(s);
}
