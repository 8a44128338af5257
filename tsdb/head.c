/*
 * head.c - the in-memory head of the TSDB: series, postings, appending.
 *
 * Series live in HEAD_SHARDS shards.  A series is found by its label hash
 * in the shard (hash % HEAD_SHARDS) and by its reference in the shard
 * (ref % HEAD_SHARDS); each shard has one mutex for both chains.  A series
 * has its own mutex guarding its chunks.  References are handed out by one
 * atomic counter, so they grow with creation order.
 *
 * The postings index maps label name -> label value -> list of series in
 * reference order, plus the list of all series; it sits under one
 * read-write lock (writers: series creation and removal; readers: select,
 * label names and values).  Because references only grow, appending a new
 * series to the end of a list keeps every list sorted, and select
 * intersects and subtracts lists in one pass each.
 *
 * Samples of a series go into its open Gorilla chunk (chunk_xor); the chunk
 * is cut after HEAD_CHUNK_SAMPLES samples or when a sample falls into the
 * next block-range window, so a cut chunk never spans two future blocks.
 * Samples older than the series' newest one are out of order: within the
 * out-of-order window they go to a small sorted side list merged at query
 * time, otherwise they are refused.
 */
#include "tsdb_int.h"

#include "mem.h"
#include "ph_error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define HEAD_SHARDS 64
#define HEAD_CHUNK_SAMPLES 120

/* ---- a string -> pointer hash map (open addressing) --------------------- */

typedef struct strmap_entry {
  const char *key; /* NULL = empty slot */
  uint64_t hash;
  void *value;
} strmap_entry_t;

typedef struct strmap {
  strmap_entry_t *slots;
  size_t cap, count; /* cap a power of two */
} strmap_t;

static uint64_t str_hash(const char *s, size_t n) { return XXH3_64bits(s, n); }

static void *strmap_get(const strmap_t *m, const char *key, size_t len) {
  if (m->cap == 0) return NULL;
  uint64_t h = str_hash(key, len);
  for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
    const strmap_entry_t *e = &m->slots[i];
    if (e->key == NULL) return NULL;
    if (e->hash == h && strncmp(e->key, key, len) == 0 && e->key[len] == '\0')
      return e->value;
  }
}

static void strmap_put_raw(strmap_entry_t *slots, size_t cap, const char *key,
                           uint64_t h, void *value) {
  for (size_t i = h & (cap - 1);; i = (i + 1) & (cap - 1)) {
    if (slots[i].key == NULL) {
      slots[i].key = key;
      slots[i].hash = h;
      slots[i].value = value;
      return;
    }
  }
}

/* key must outlive the map entry (interned or owned by value). */
static void strmap_put(strmap_t *m, const char *key, void *value) {
  if ((m->count + 1) * 4 > m->cap * 3) {
    size_t ncap = m->cap ? m->cap * 2 : 16;
    strmap_entry_t *ns = ph_calloc(ncap, sizeof(*ns));
    for (size_t i = 0; i < m->cap; i++)
      if (m->slots[i].key)
        strmap_put_raw(ns, ncap, m->slots[i].key, m->slots[i].hash,
                       m->slots[i].value);
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
  }
  strmap_put_raw(m->slots, m->cap, key, str_hash(key, strlen(key)), value);
  m->count++;
}

static void strmap_free(strmap_t *m) {
  free(m->slots);
  m->slots = NULL;
  m->cap = m->count = 0;
}

/* ---- postings ------------------------------------------------------------ */

typedef struct postings {
  head_series_t **s; /* sorted by ref */
  size_t n, cap;
} postings_t;

typedef struct label_values {
  const char *name; /* interned */
  strmap_t values;  /* value (interned) -> postings_t * */
} label_values_t;

/* ---- the head ------------------------------------------------------------ */

typedef struct shard {
  pthread_mutex_t mu;
  head_series_t **by_hash; /* chained on hnext */
  size_t hash_cap, count;
  head_series_t **by_ref;  /* chained on rnext */
  size_t ref_cap, ref_count;
} shard_t;

struct head {
  tsdb_t *db;
  int64_t block_range_ms;
  int64_t ooo_window_ms;
  shard_t shards[HEAD_SHARDS];
  atomic_uint_fast64_t next_ref;
  atomic_int_fast64_t maxt; /* newest sample time in the head */
  atomic_int_fast64_t mint; /* oldest sample time in the head */
  atomic_uint_fast64_t nseries, nchunks;
  pthread_rwlock_t index_mu;
  strmap_t names;  /* name (interned) -> label_values_t * */
  postings_t all;
  atomic_int_fast64_t min_valid; /* samples before this are out of bounds */
  bool replaying;                /* WAL replay: no appendable-window check */
  head_series_t *graveyard;      /* unlinked series, chained on hnext */
};

head_t *tsdb__head_new(tsdb_t *db, int64_t block_range_ms, int64_t ooo_window_ms) {
  head_t *h = ph_calloc(1, sizeof(*h));
  h->db = db;
  h->block_range_ms = block_range_ms > 0 ? block_range_ms : 2 * 3600 * 1000;
  h->ooo_window_ms = ooo_window_ms;
  for (int i = 0; i < HEAD_SHARDS; i++) pthread_mutex_init(&h->shards[i].mu, NULL);
  atomic_store(&h->next_ref, 1);
  atomic_store(&h->maxt, INT64_MIN);
  atomic_store(&h->mint, INT64_MAX);
  atomic_store(&h->min_valid, INT64_MIN);
  pthread_rwlock_init(&h->index_mu, NULL);
  return h;
}

static void series_free(head_t *h, head_series_t *s) {
  chunk_xor_free(&s->open);
  for (uint32_t i = 0; i < s->nclosed; i++) free(s->closed[i].data);
  free(s->closed);
  free(s->ooo);
  pthread_mutex_destroy(&s->mu);
  labels_free(s->labels);
  (void)h;
  free(s);
}

void tsdb__head_free(head_t *h) {
  if (h == NULL) return;
  for (int i = 0; i < HEAD_SHARDS; i++) {
    shard_t *sh = &h->shards[i];
    for (size_t b = 0; b < sh->hash_cap; b++) {
      head_series_t *s = sh->by_hash[b];
      while (s) {
        head_series_t *next = s->hnext;
        series_free(h, s);
        s = next;
      }
    }
    free(sh->by_hash);
    free(sh->by_ref);
    pthread_mutex_destroy(&sh->mu);
  }
  for (size_t i = 0; i < h->names.cap; i++) {
    label_values_t *lv = h->names.slots[i].value;
    if (lv == NULL) continue;
    for (size_t j = 0; j < lv->values.cap; j++) {
      postings_t *p = lv->values.slots[j].value;
      if (p) {
        free(p->s);
        free(p);
      }
    }
    strmap_free(&lv->values);
    free(lv);
  }
  strmap_free(&h->names);
  free(h->all.s);
  while (h->graveyard) {
    head_series_t *next = h->graveyard->hnext;
    series_free(h, h->graveyard);
    h->graveyard = next;
  }
  pthread_rwlock_destroy(&h->index_mu);
  free(h);
}

uint64_t tsdb__head_next_ref(head_t *h) { return atomic_load(&h->next_ref); }

static void shard_rehash(shard_t *sh) {
  size_t ncap = sh->hash_cap ? sh->hash_cap * 2 : 64;
  head_series_t **nb = ph_calloc(ncap, sizeof(*nb));
  for (size_t b = 0; b < sh->hash_cap; b++) {
    head_series_t *s = sh->by_hash[b];
    while (s) {
      head_series_t *next = s->hnext;
      size_t i = (labels_hash(s->labels) / HEAD_SHARDS) & (ncap - 1);
      s->hnext = nb[i];
      nb[i] = s;
      s = next;
    }
  }
  free(sh->by_hash);
  sh->by_hash = nb;
  sh->hash_cap = ncap;
}

static void shard_ref_rehash(shard_t *sh) {
  size_t ncap = sh->ref_cap ? sh->ref_cap * 2 : 64;
  head_series_t **nb = ph_calloc(ncap, sizeof(*nb));
  for (size_t b = 0; b < sh->ref_cap; b++) {
    head_series_t *s = sh->by_ref[b];
    while (s) {
      head_series_t *next = s->rnext;
      size_t i = (s->ref / HEAD_SHARDS) & (ncap - 1);
      s->rnext = nb[i];
      nb[i] = s;
      s = next;
    }
  }
  free(sh->by_ref);
  sh->by_ref = nb;
  sh->ref_cap = ncap;
}

head_series_t *tsdb__head_by_ref(head_t *h, uint64_t ref) {
  shard_t *sh = &h->shards[ref % HEAD_SHARDS];
  pthread_mutex_lock(&sh->mu);
  head_series_t *s = NULL;
  if (sh->ref_cap) {
    s = sh->by_ref[(ref / HEAD_SHARDS) & (sh->ref_cap - 1)];
    while (s && s->ref != ref) s = s->rnext;
  }
  pthread_mutex_unlock(&sh->mu);
  return s;
}

static void index_add(head_t *h, head_series_t *s) {
  pthread_rwlock_wrlock(&h->index_mu);
  /* all-postings stay sorted by ref: insert from the end (refs mostly grow) */
  postings_t *all = &h->all;
  ph_grow(&all->s, &all->cap, all->n + 1);
  size_t pos = all->n;
  while (pos > 0 && all->s[pos - 1]->ref > s->ref) pos--;
  memmove(all->s + pos + 1, all->s + pos, (all->n - pos) * sizeof(*all->s));
  all->s[pos] = s;
  all->n++;
  for (size_t i = 0; i < labels_len(s->labels); i++) {
    const label_t *l = labels_at(s->labels, i);
    label_values_t *lv = strmap_get(&h->names, l->name, strlen(l->name));
    if (lv == NULL) {
      lv = ph_calloc(1, sizeof(*lv));
      lv->name = l->name;
      strmap_put(&h->names, l->name, lv);
    }
    postings_t *p = strmap_get(&lv->values, l->value, strlen(l->value));
    if (p == NULL) {
      p = ph_calloc(1, sizeof(*p));
      strmap_put(&lv->values, l->value, p);
    }
    ph_grow(&p->s, &p->cap, p->n + 1);
    size_t q = p->n;
    while (q > 0 && p->s[q - 1]->ref > s->ref) q--;
    memmove(p->s + q + 1, p->s + q, (p->n - q) * sizeof(*p->s));
    p->s[q] = s;
    p->n++;
  }
  pthread_rwlock_unlock(&h->index_mu);
}

head_series_t *tsdb__head_get_or_create(head_t *h, const labels_t *ls,
                                        uint64_t want_ref, bool *created) {
  uint64_t hash = labels_hash(ls);
  shard_t *sh = &h->shards[hash % HEAD_SHARDS];
  *created = false;
  pthread_mutex_lock(&sh->mu);
  if (sh->hash_cap) {
    head_series_t *s = sh->by_hash[(hash / HEAD_SHARDS) & (sh->hash_cap - 1)];
    for (; s; s = s->hnext) {
      if (labels_hash(s->labels) == hash && labels_equal(s->labels, ls)) {
        pthread_mutex_unlock(&sh->mu);
        return s;
      }
    }
  }
  head_series_t *s = ph_calloc(1, sizeof(*s));
  /* re-intern the label strings in the head's symbol table */
  size_t n = labels_len(ls);
  label_t stackpairs[32];
  label_t *pairs = n <= 32 ? stackpairs : ph_malloc(n * sizeof(label_t));
  for (size_t i = 0; i < n; i++) pairs[i] = *labels_at(ls, i);
  s->labels = labels_new(h->db->symtab, pairs, n, NULL, 0);
  if (pairs != stackpairs) free(pairs);
  ph_assert(s->labels != NULL);
  pthread_mutex_init(&s->mu, NULL);
  chunk_xor_init(&s->open);
  s->mint = INT64_MAX;
  s->maxt = INT64_MIN;
  if (want_ref != 0) {
    s->ref = want_ref;
    uint64_t cur = atomic_load(&h->next_ref);
    while (cur <= want_ref &&
           !atomic_compare_exchange_weak(&h->next_ref, &cur, want_ref + 1)) {
    }
  } else {
    s->ref = atomic_fetch_add(&h->next_ref, 1);
  }
  if ((sh->count + 1) > sh->hash_cap) shard_rehash(sh);
  size_t b = (hash / HEAD_SHARDS) & (sh->hash_cap - 1);
  s->hnext = sh->by_hash[b];
  sh->by_hash[b] = s;
  sh->count++;
  pthread_mutex_unlock(&sh->mu);

  shard_t *rs = &h->shards[s->ref % HEAD_SHARDS];
  pthread_mutex_lock(&rs->mu);
  if ((rs->ref_count + 1) > rs->ref_cap) shard_ref_rehash(rs);
  size_t rb = (s->ref / HEAD_SHARDS) & (rs->ref_cap - 1);
  s->rnext = rs->by_ref[rb];
  rs->by_ref[rb] = s;
  rs->ref_count++;
  pthread_mutex_unlock(&rs->mu);

  index_add(h, s);
  atomic_fetch_add(&h->nseries, 1);
  *created = true;
  return s;
}

/* ---- appending ----------------------------------------------------------- */

static uint64_t dbits(double v) {
  uint64_t b;
  memcpy(&b, &v, sizeof b);
  return b;
}

static int64_t window_of(head_t *h, int64_t t) {
  int64_t w = t / h->block_range_ms;
  if (t < 0 && t % h->block_range_ms != 0) w--;
  return w;
}

/* Looks for a sample at exactly t in the series' chunks (s->mu held). */
static bool chunk_sample_at(head_series_t *s, int64_t t, double *v) {
  for (uint32_t i = 0; i <= s->nclosed; i++) {
    const uint8_t *data;
    size_t len;
    unsigned count;
    if (i < s->nclosed) {
      if (t < s->closed[i].mint || t > s->closed[i].maxt) continue;
      data = s->closed[i].data;
      len = s->closed[i].len;
      count = s->closed[i].count;
    } else {
      count = chunk_xor_num_samples(&s->open);
      if (count == 0 || t < chunk_xor_first_ts(&s->open)) continue;
      data = chunk_xor_bytes(&s->open, &len);
    }
    chunk_xor_iter_t it;
    chunk_xor_iter_init(&it, data, len, count);
    if (chunk_xor_iter_seek(&it, t)) {
      int64_t ct;
      chunk_xor_iter_at(&it, &ct, v);
      if (ct == t) return true;
    }
  }
  return false;
}

/* Checks a sample against the series (s->mu held).  Returns 0 to append in
 * order, 1 for a duplicate to drop silently, 2 to add out of order, or an
 * error. */
static int check_locked(head_t *h, head_series_t *s, int64_t t, double v) {
  int64_t hmax = atomic_load(&h->maxt);
  int64_t min_valid = hmax == INT64_MIN ? INT64_MIN : hmax - h->block_range_ms / 2;
  int64_t ooo_min = hmax == INT64_MIN ? INT64_MIN : hmax - h->ooo_window_ms;
  int64_t truncated = atomic_load(&h->min_valid);
  bool ooo = h->ooo_window_ms > 0;
  if (t < truncated) return PH_EOUTOFBOUNDS;
  /* replay brings back what was accepted, series by series: only the
   * truncation bound and per-series order apply */
  if (h->replaying) {
    min_valid = INT64_MIN;
    ooo_min = INT64_MIN;
  }
  if (s->maxt == INT64_MIN || t > s->maxt) {
    if (t < min_valid && (!ooo || t < ooo_min)) return PH_EOUTOFBOUNDS;
    return 0;
  }
  if (t == s->maxt) return dbits(v) == s->last_v_bits ? 1 : PH_EDUPLICATE;
  if (!ooo) return t < min_valid ? PH_EOUTOFBOUNDS : PH_EOUTOFORDER;
  int64_t newest = hmax > s->maxt ? hmax : s->maxt;
  if (!h->replaying && t < newest - h->ooo_window_ms) return PH_EOUTOFBOUNDS;
  /* duplicate in the out-of-order list? */
  size_t lo = 0, hi = s->nooo;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (s->ooo[mid].t < t) lo = mid + 1;
    else hi = mid;
  }
  if (lo < s->nooo && s->ooo[lo].t == t)
    return dbits(s->ooo[lo].v) == dbits(v) ? 1 : PH_EDUPLICATE;
  /* a sample at the same time inside the chunks? */
  double old;
  if (t >= s->mint && chunk_sample_at(s, t, &old))
    return dbits(old) == dbits(v) ? 1 : PH_EDUPLICATE;
  return 2;
}

int tsdb__head_check_sample(head_t *h, head_series_t *s, int64_t t, double v) {
  pthread_mutex_lock(&s->mu);
  int rc = check_locked(h, s, t, v);
  pthread_mutex_unlock(&s->mu);
  return rc < 0 ? rc : 0;
}

static void cut_chunk(head_series_t *s) {
  size_t len;
  const uint8_t *bytes = chunk_xor_bytes(&s->open, &len);
  size_t cap = s->closed_cap;
  ph_grow(&s->closed, &cap, (size_t)s->nclosed + 1);
  s->closed_cap = (uint32_t)cap;
  head_chunk_t *c = &s->closed[s->nclosed++];
  c->data = ph_malloc(len);
  memcpy(c->data, bytes, len);
  c->len = (uint32_t)len;
  c->count = chunk_xor_num_samples(&s->open);
  c->mint = chunk_xor_first_ts(&s->open);
  c->maxt = chunk_xor_last_ts(&s->open);
  chunk_xor_free(&s->open);
  chunk_xor_init(&s->open);
}

static void update_head_range(head_t *h, int64_t t) {
  int64_t cur = atomic_load(&h->maxt);
  while (t > cur && !atomic_compare_exchange_weak(&h->maxt, &cur, t)) {
  }
  cur = atomic_load(&h->mint);
  while (t < cur && !atomic_compare_exchange_weak(&h->mint, &cur, t)) {
  }
}

int tsdb__head_append_sample(head_t *h, head_series_t *s, int64_t t, double v) {
  pthread_mutex_lock(&s->mu);
  int rc = check_locked(h, s, t, v);
  if (rc < 0 || rc == 1) {
    pthread_mutex_unlock(&s->mu);
    return rc < 0 ? rc : 0;
  }
  if (rc == 2) {
    size_t lo = 0, hi = s->nooo;
    while (lo < hi) {
      size_t mid = (lo + hi) / 2;
      if (s->ooo[mid].t < t) lo = mid + 1;
      else hi = mid;
    }
    size_t cap = s->ooo_cap;
    ph_grow(&s->ooo, &cap, (size_t)s->nooo + 1);
    s->ooo_cap = (uint32_t)cap;
    memmove(s->ooo + lo + 1, s->ooo + lo, (s->nooo - lo) * sizeof(*s->ooo));
    s->ooo[lo].t = t;
    s->ooo[lo].v = v;
    s->nooo++;
    if (t < s->mint) s->mint = t;
    pthread_mutex_unlock(&s->mu);
    update_head_range(h, t);
    return 0;
  }
  unsigned n = chunk_xor_num_samples(&s->open);
  if (n > 0 && (n >= HEAD_CHUNK_SAMPLES || window_of(h, t) != window_of(h, s->open_mint)))
    cut_chunk(s);
  if (chunk_xor_num_samples(&s->open) == 0) {
    s->open_mint = t;
    atomic_fetch_add(&h->nchunks, 1);
  }
  rc = chunk_xor_append(&s->open, t, v);
  if (rc == 0) {
    s->maxt = t;
    if (t < s->mint) s->mint = t;
    s->last_v = v;
    s->last_v_bits = dbits(v);
  }
  pthread_mutex_unlock(&s->mu);
  if (rc == 0) update_head_range(h, t);
  return rc;
}

void tsdb__head_stats(head_t *h, tsdb_stats_t *st) {
  st->head_series = atomic_load(&h->nseries);
  st->head_chunks = atomic_load(&h->nchunks);
  st->head_min_time = atomic_load(&h->mint);
  st->head_max_time = atomic_load(&h->maxt);
}

/* ---- selection ----------------------------------------------------------- */

static int cmp_series_ref(const void *a, const void *b) {
  uint64_t x = (*(head_series_t *const *)a)->ref;
  uint64_t y = (*(head_series_t *const *)b)->ref;
  return x < y ? -1 : x > y;
}

/* Union of the postings of name's values for which want(value) holds,
 * sorted by ref, into out (owned by caller). */
static void collect_values(head_t *h, const tsdb__matcher_t *m, bool want,
                           postings_t *out) {
  label_values_t *lv = strmap_get(&h->names, m->name, strlen(m->name));
  if (lv == NULL) return;
  size_t lists = 0;
  for (size_t i = 0; i < lv->values.cap; i++) {
    const strmap_entry_t *e = &lv->values.slots[i];
    if (e->key == NULL) continue;
    if (tsdb__matcher_matches(m, e->key, strlen(e->key)) != want) continue;
    postings_t *p = e->value;
    if (p->n == 0) continue;
    ph_grow(&out->s, &out->cap, out->n + p->n);
    memcpy(out->s + out->n, p->s, p->n * sizeof(*p->s));
    out->n += p->n;
    lists++;
  }
  if (lists > 1) qsort(out->s, out->n, sizeof(*out->s), cmp_series_ref);
}

static void intersect(postings_t *acc, const postings_t *b) {
  size_t i = 0, j = 0, o = 0;
  while (i < acc->n && j < b->n) {
    uint64_t x = acc->s[i]->ref, y = b->s[j]->ref;
    if (x == y) {
      acc->s[o++] = acc->s[i];
      i++;
      j++;
    } else if (x < y) {
      i++;
    } else {
      j++;
    }
  }
  acc->n = o;
}

static void subtract(postings_t *acc, const postings_t *b) {
  size_t i = 0, j = 0, o = 0;
  while (i < acc->n) {
    while (j < b->n && b->s[j]->ref < acc->s[i]->ref) j++;
    if (j < b->n && b->s[j]->ref == acc->s[i]->ref) {
      i++;
      continue;
    }
    acc->s[o++] = acc->s[i++];
  }
  acc->n = o;
}

/* Computes the matching series under the index read lock (held by caller). */
static void select_locked(head_t *h, tsdb__matcher_t *m, size_t n,
                          postings_t *acc) {
  bool started = false;
  /* positive matchers first: they narrow the set fastest */
  for (int pass = 0; pass < 2; pass++) {
    for (size_t i = 0; i < n; i++) {
      bool empty_ok = m[i].matches_empty;
      if ((pass == 0) == empty_ok) continue;
      postings_t p = {0};
      if (!empty_ok) {
        if (m[i].type == TSDB_MATCH_EQ) {
          label_values_t *lv = strmap_get(&h->names, m[i].name, strlen(m[i].name));
          postings_t *ex = lv ? strmap_get(&lv->values, m[i].value, strlen(m[i].value)) : NULL;
          if (ex && ex->n) {
            ph_grow(&p.s, &p.cap, ex->n);
            memcpy(p.s, ex->s, ex->n * sizeof(*p.s));
            p.n = ex->n;
          }
        } else {
          collect_values(h, &m[i], true, &p);
        }
        if (!started) {
          *acc = p;
          started = true;
          continue;
        }
        intersect(acc, &p);
      } else {
        /* matches the empty value: all series minus those whose value for
         * this name does not match */
        if (!started) {
          ph_grow(&acc->s, &acc->cap, h->all.n);
          if (h->all.n) memcpy(acc->s, h->all.s, h->all.n * sizeof(*acc->s));
          acc->n = h->all.n;
          started = true;
        }
        collect_values(h, &m[i], false, &p);
        subtract(acc, &p);
      }
      free(p.s);
    }
  }
  if (!started) {
    ph_grow(&acc->s, &acc->cap, h->all.n);
    if (h->all.n) memcpy(acc->s, h->all.s, h->all.n * sizeof(*acc->s));
    acc->n = h->all.n;
  }
}

void tsdb__head_select(head_t *h, tsdb__matcher_t *m, size_t n,
                       head_series_fn fn, void *ud) {
  postings_t acc = {0};
  pthread_rwlock_rdlock(&h->index_mu);
  select_locked(h, m, n, &acc);
  for (size_t i = 0; i < acc.n; i++) fn(acc.s[i], ud);
  pthread_rwlock_unlock(&h->index_mu);
  free(acc.s);
}

/* ---- label names and values ---------------------------------------------- */

static int cmp_cstr(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts, dedups and copies strings into a caller-owned array. */
static void finish_strings(const char **v, size_t n, char ***out, size_t *count) {
  if (n > 1) qsort(v, n, sizeof(*v), cmp_cstr);
  char **res = ph_calloc(n ? n : 1, sizeof(char *));
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (o > 0 && strcmp(res[o - 1], v[i]) == 0) continue;
    res[o++] = ph_strdup(v[i]);
  }
  *out = res;
  *count = o;
}

void tsdb__head_label_names(head_t *h, tsdb__matcher_t *m, size_t n,
                            char ***out, size_t *count) {
  const char **v = NULL;
  size_t nv = 0, cap = 0;
  pthread_rwlock_rdlock(&h->index_mu);
  if (n == 0) {
    for (size_t i = 0; i < h->names.cap; i++) {
      label_values_t *lv = h->names.slots[i].value;
      if (lv == NULL) continue;
      ph_grow(&v, &cap, nv + 1);
      v[nv++] = lv->name;
    }
  } else {
    postings_t acc = {0};
    select_locked(h, m, n, &acc);
    for (size_t i = 0; i < acc.n; i++) {
      const labels_t *ls = acc.s[i]->labels;
      for (size_t j = 0; j < labels_len(ls); j++) {
        ph_grow(&v, &cap, nv + 1);
        v[nv++] = labels_at(ls, j)->name;
      }
    }
    free(acc.s);
  }
  finish_strings(v, nv, out, count);
  pthread_rwlock_unlock(&h->index_mu);
  free(v);
}

void tsdb__head_label_values(head_t *h, const char *name, tsdb__matcher_t *m,
                             size_t n, char ***out, size_t *count) {
  const char **v = NULL;
  size_t nv = 0, cap = 0;
  pthread_rwlock_rdlock(&h->index_mu);
  if (n == 0) {
    label_values_t *lv = strmap_get(&h->names, name, strlen(name));
    if (lv != NULL) {
      for (size_t i = 0; i < lv->values.cap; i++) {
        const strmap_entry_t *e = &lv->values.slots[i];
        if (e->key == NULL || ((postings_t *)e->value)->n == 0) continue;
        ph_grow(&v, &cap, nv + 1);
        v[nv++] = e->key;
      }
    }
  } else {
    postings_t acc = {0};
    select_locked(h, m, n, &acc);
    for (size_t i = 0; i < acc.n; i++) {
      const char *val = labels_get(acc.s[i]->labels, name);
      if (val == NULL) continue;
      ph_grow(&v, &cap, nv + 1);
      v[nv++] = val;
    }
    free(acc.s);
  }
  finish_strings(v, nv, out, count);
  pthread_rwlock_unlock(&h->index_mu);
  free(v);
}

/* ---- cardinality ---------------------------------------------------------- */

typedef struct top {
  tsdb_count_t *v;
  size_t n, cap, limit;
} top_t;

static int cmp_count_desc(const void *a, const void *b) {
  const tsdb_count_t *x = a, *y = b;
  if (x->value != y->value) return x->value > y->value ? -1 : 1;
  return strcmp(x->name, y->name);
}

/* Keeps the `limit` largest: collects all, then sorts and cuts. */
static void top_add(top_t *t, const char *a, const char *b, uint64_t value) {
  ph_grow(&t->v, &t->cap, t->n + 1);
  if (b == NULL) {
    t->v[t->n].name = ph_strdup(a);
  } else {
    size_t la = strlen(a), lb = strlen(b);
    char *s = ph_malloc(la + lb + 2);
    memcpy(s, a, la);
    s[la] = '=';
    memcpy(s + la + 1, b, lb + 1);
    t->v[t->n].name = s;
  }
  t->v[t->n].value = value;
  t->n++;
}

static void top_finish(top_t *t, tsdb_count_t **out, size_t *n) {
  if (t->n > 1) qsort(t->v, t->n, sizeof(*t->v), cmp_count_desc);
  for (size_t i = t->limit; i < t->n; i++) free(t->v[i].name);
  if (t->n > t->limit) t->n = t->limit;
  *out = t->v;
  *n = t->n;
}

void tsdb__head_cardinality(head_t *h, size_t limit, tsdb_cardinality_t *out) {
  top_t by_metric = {.limit = limit}, by_label = {.limit = limit},
        mem = {.limit = limit}, by_pair = {.limit = limit};
  pthread_rwlock_rdlock(&h->index_mu);
  out->num_series = h->all.n;
  for (size_t i = 0; i < h->names.cap; i++) {
    label_values_t *lv = h->names.slots[i].value;
    if (lv == NULL) continue;
    uint64_t nvalues = 0, bytes = 0;
    bool is_name = strcmp(lv->name, "__name__") == 0;
    for (size_t j = 0; j < lv->values.cap; j++) {
      const strmap_entry_t *e = &lv->values.slots[j];
      if (e->key == NULL) continue;
      postings_t *p = e->value;
      if (p->n == 0) continue;
      nvalues++;
      bytes += (uint64_t)strlen(e->key) * p->n;
      out->num_label_pairs++;
      if (is_name) top_add(&by_metric, e->key, NULL, p->n);
      top_add(&by_pair, lv->name, e->key, p->n);
    }
    top_add(&by_label, lv->name, NULL, nvalues);
    top_add(&mem, lv->name, NULL, bytes);
  }
  pthread_rwlock_unlock(&h->index_mu);
  top_finish(&by_metric, &out->series_by_metric, &out->nseries_by_metric);
  top_finish(&by_label, &out->values_by_label, &out->nvalues_by_label);
  top_finish(&mem, &out->memory_by_label, &out->nmemory_by_label);
  top_finish(&by_pair, &out->series_by_pair, &out->nseries_by_pair);
}

/* ---- reading a series' samples, truncation, garbage collection ----------- */

/* Every series in reference order (the head's own pointers; valid until the
 * next tsdb__head_truncate, which only the maintenance thread calls). */
void tsdb__head_all_series(head_t *h, head_series_t ***out, size_t *n) {
  pthread_rwlock_rdlock(&h->index_mu);
  head_series_t **v = ph_malloc((h->all.n ? h->all.n : 1) * sizeof(*v));
  if (h->all.n) memcpy(v, h->all.s, h->all.n * sizeof(*v));
  *n = h->all.n;
  pthread_rwlock_unlock(&h->index_mu);
  *out = v;
}

/* Decodes the series' samples in [mint, maxt) (chunks merged with the
 * out-of-order list) into the growable arrays *ts / *vs. */
void tsdb__head_series_samples(head_series_t *s, int64_t mint, int64_t maxt,
                               int64_t **ts, double **vs, size_t *cap, size_t *n) {
  *n = 0;
  pthread_mutex_lock(&s->mu);
  size_t oi = 0;
  for (uint32_t i = 0; i <= s->nclosed; i++) {
    const uint8_t *data;
    size_t len;
    unsigned count;
    if (i < s->nclosed) {
      if (s->closed[i].maxt < mint || s->closed[i].mint >= maxt) continue;
      data = s->closed[i].data;
      len = s->closed[i].len;
      count = s->closed[i].count;
    } else {
      count = chunk_xor_num_samples(&s->open);
      if (count == 0) continue;
      data = chunk_xor_bytes(&s->open, &len);
    }
    chunk_xor_iter_t it;
    chunk_xor_iter_init(&it, data, len, count);
    while (chunk_xor_iter_next(&it)) {
      int64_t t;
      double v;
      chunk_xor_iter_at(&it, &t, &v);
      if (t < mint) continue;
      if (t >= maxt) break;
      /* out-of-order samples that come before this one */
      while (oi < s->nooo && s->ooo[oi].t <= t) {
        if (s->ooo[oi].t >= mint && s->ooo[oi].t < t) {
          ph_grow(ts, cap, *n + 1);
          *vs = ph_realloc(*vs, *cap * sizeof(double));
          (*ts)[*n] = s->ooo[oi].t;
          (*vs)[(*n)++] = s->ooo[oi].v;
        }
        oi++;
      }
      size_t c = *cap;
      ph_grow(ts, cap, *n + 1);
      if (*cap != c) *vs = ph_realloc(*vs, *cap * sizeof(double));
      (*ts)[*n] = t;
      (*vs)[(*n)++] = v;
    }
  }
  for (; oi < s->nooo; oi++) {
    if (s->ooo[oi].t < mint || s->ooo[oi].t >= maxt) continue;
    if (*n > 0 && s->ooo[oi].t <= (*ts)[*n - 1]) continue;
    size_t c = *cap;
    ph_grow(ts, cap, *n + 1);
    if (*cap != c) *vs = ph_realloc(*vs, *cap * sizeof(double));
    (*ts)[*n] = s->ooo[oi].t;
    (*vs)[(*n)++] = s->ooo[oi].v;
  }
  pthread_mutex_unlock(&s->mu);
}

bool tsdb__head_series_range(head_series_t *s, int64_t *mint, int64_t *maxt) {
  pthread_mutex_lock(&s->mu);
  bool has = s->maxt != INT64_MIN;
  *mint = s->mint;
  *maxt = s->maxt;
  pthread_mutex_unlock(&s->mu);
  return has;
}

int64_t tsdb__head_min_valid(head_t *h) { return atomic_load(&h->min_valid); }

void tsdb__head_set_replaying(head_t *h, bool on) { h->replaying = on; }

static void postings_remove(postings_t *p, head_series_t *s) {
  size_t lo = 0, hi = p->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (p->s[mid]->ref < s->ref) lo = mid + 1;
    else hi = mid;
  }
  if (lo < p->n && p->s[lo] == s) {
    memmove(p->s + lo, p->s + lo + 1, (p->n - lo - 1) * sizeof(*p->s));
    p->n--;
  }
}

static void unlink_series(head_t *h, head_series_t *s) {
  uint64_t hash = labels_hash(s->labels);
  shard_t *sh = &h->shards[hash % HEAD_SHARDS];
  pthread_mutex_lock(&sh->mu);
  head_series_t **pp = &sh->by_hash[(hash / HEAD_SHARDS) & (sh->hash_cap - 1)];
  while (*pp && *pp != s) pp = &(*pp)->hnext;
  if (*pp) {
    *pp = s->hnext;
    sh->count--;
  }
  pthread_mutex_unlock(&sh->mu);
  shard_t *rs = &h->shards[s->ref % HEAD_SHARDS];
  pthread_mutex_lock(&rs->mu);
  pp = &rs->by_ref[(s->ref / HEAD_SHARDS) & (rs->ref_cap - 1)];
  while (*pp && *pp != s) pp = &(*pp)->rnext;
  if (*pp) {
    *pp = s->rnext;
    rs->ref_count--;
  }
  pthread_mutex_unlock(&rs->mu);
}

/* Drops everything older than t from the head: cut chunks that end before
 * it, out-of-order samples before it; series left empty are unlinked and
 * parked on the graveyard (freed at the next truncation, so an appender
 * still holding a pointer is safe: commits re-resolve deleted series).
 * Samples older than t are refused from now on (out of bounds). */
void tsdb__head_truncate(head_t *h, int64_t t) {
  /* free the previous round's dead series first */
  head_series_t *g = h->graveyard;
  h->graveyard = NULL;
  while (g) {
    head_series_t *next = g->hnext;
    series_free(h, g);
    g = next;
  }
  int64_t cur = atomic_load(&h->min_valid);
  while (t > cur && !atomic_compare_exchange_weak(&h->min_valid, &cur, t)) {
  }
  head_series_t **all;
  size_t n;
  tsdb__head_all_series(h, &all, &n);
  int64_t new_mint = INT64_MAX;
  for (size_t i = 0; i < n; i++) {
    head_series_t *s = all[i];
    pthread_mutex_lock(&s->mu);
    uint32_t keep = 0;
    for (uint32_t c = 0; c < s->nclosed; c++) {
      if (s->closed[c].maxt < t) {
        free(s->closed[c].data);
        atomic_fetch_sub(&h->nchunks, 1);
      } else {
        s->closed[keep++] = s->closed[c];
      }
    }
    s->nclosed = keep;
    uint32_t ok = 0;
    for (uint32_t o = 0; o < s->nooo; o++)
      if (s->ooo[o].t >= t) s->ooo[ok++] = s->ooo[o];
    s->nooo = ok;
    int64_t mint = INT64_MAX;
    if (s->nclosed) mint = s->closed[0].mint;
    else if (chunk_xor_num_samples(&s->open)) mint = chunk_xor_first_ts(&s->open);
    if (s->nooo && s->ooo[0].t < mint) mint = s->ooo[0].t;
    bool empty = mint == INT64_MAX;
    if (!empty) s->mint = mint;
    bool dead = empty && s->maxt < t;
    if (dead) atomic_store(&s->deleted, true);
    pthread_mutex_unlock(&s->mu);
    if (!empty && mint < new_mint) new_mint = mint;
    if (!dead) continue;
    /* remove from the index, then from the shards */
    pthread_rwlock_wrlock(&h->index_mu);
    postings_remove(&h->all, s);
    for (size_t j = 0; j < labels_len(s->labels); j++) {
      const label_t *l = labels_at(s->labels, j);
      label_values_t *lv = strmap_get(&h->names, l->name, strlen(l->name));
      postings_t *p = lv ? strmap_get(&lv->values, l->value, strlen(l->value)) : NULL;
      if (p) postings_remove(p, s);
    }
    pthread_rwlock_unlock(&h->index_mu);
    unlink_series(h, s);
    atomic_fetch_sub(&h->nseries, 1);
    s->hnext = h->graveyard;
    h->graveyard = s;
  }
  free(all);
  atomic_store(&h->mint, new_mint);
}
