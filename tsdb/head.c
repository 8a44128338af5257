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
 * A cut chunk is written to chunks_head/ (the last section of this file) and the series
 * keeps only its 24-byte reference; its bytes are read through the
 * segment's mmap.  If that write fails (full disk) the chunk stays open and
 * the cut is retried with the next sample.  Samples older than the series'
 * newest one are out of order: within the out-of-order window they go to a
 * small sorted side list merged at query time, otherwise they are refused.
 *
 * Memory per series: the struct (~150 bytes: a 4-byte spin lock instead of
 * a 40-byte mutex, the out-of-order list behind one pointer), the label set,
 * its postings entries, the open chunk's buffer and 24 bytes per cut chunk.
 */
#include "tsdb_int.h"

#include "log.h"
#include "mem.h"
#include "ph_error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <xxhash.h>

#define HEAD_SHARDS 64
#define HEAD_CHUNK_SAMPLES 120
/* Also cut once the open chunk has this many bytes (poorly compressible
 * series): the open chunk is the one chunk kept in memory, and its buffer
 * grows by half past 128 bytes, so this keeps it within 432 bytes. */
#ifndef HEAD_CHUNK_MAX_BYTES
#define HEAD_CHUNK_MAX_BYTES 400
#endif

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
  atomic_bool cut_failing;       /* the last chunk write failed (logged) */
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

void tsdb__lock_slow(head_lock_t *l) {
  for (unsigned spins = 0;; spins++) {
    if (atomic_load_explicit(&l->v, memory_order_relaxed) == 0 &&
        atomic_exchange_explicit(&l->v, 1, memory_order_acquire) == 0)
      return;
    if (spins >= 64) sched_yield();
  }
}

static void series_free(head_t *h, head_series_t *s) {
  chunk_xor_free(&s->open);
  free(s->mm);
  free(s->ooo);
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
  chunk_xor_init(&s->open);
  s->head = h;
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

/* The bytes of cut chunk i of s (s->lk held); NULL if they are gone. */
static const uint8_t *mm_data(head_t *h, const head_series_t *s, uint32_t i,
                              size_t *len) {
  return tsdb__hchunks_data(h->db->hchunks, &s->mm[i], len);
}

const uint8_t *tsdb__head_mm_data(head_series_t *s, uint32_t i, size_t *len) {
  return mm_data(s->head, s, i, len);
}

void tsdb__head_set_next_ref(head_t *h, uint64_t next) {
  uint64_t cur = atomic_load(&h->next_ref);
  while (cur < next && !atomic_compare_exchange_weak(&h->next_ref, &cur, next)) {
  }
}

void tsdb__head_set_min_valid(head_t *h, int64_t t) {
  int64_t cur = atomic_load(&h->min_valid);
  while (t > cur && !atomic_compare_exchange_weak(&h->min_valid, &cur, t)) {
  }
}

/* Looks for a sample at exactly t in the series' chunks (s->lk held). */
static bool chunk_sample_at(head_t *h, head_series_t *s, int64_t t, double *v) {
  for (uint32_t i = 0; i <= s->nmm; i++) {
    const uint8_t *data;
    size_t len;
    unsigned count;
    if (i < s->nmm) {
      if (t < s->mm[i].mint || t > head_mmchunk_maxt(&s->mm[i])) continue;
      data = mm_data(h, s, i, &len);
      if (data == NULL) continue;
      count = s->mm[i].count;
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

/* The last sample's value bits (s->lk held, series not empty). */
static uint64_t last_bits(head_t *h, head_series_t *s) {
  if (!s->last_v_known) {
    double v;
    s->last_v_bits = chunk_sample_at(h, s, s->maxt, &v) ? dbits(v) : 0;
    s->last_v_known = true;
  }
  return s->last_v_bits;
}

/* Checks a sample against the series (s->lk held).  Returns 0 to append in
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
  /* replay after a restart: samples the disk chunks hold already */
  if (h->replaying && !ooo && s->nmm && t <= head_mmchunk_maxt(&s->mm[s->nmm - 1]))
    return 1;
  if (t == s->maxt) return dbits(v) == last_bits(h, s) ? 1 : PH_EDUPLICATE;
  if (!ooo) return t < min_valid ? PH_EOUTOFBOUNDS : PH_EOUTOFORDER;
  int64_t newest = hmax > s->maxt ? hmax : s->maxt;
  if (!h->replaying && t < newest - h->ooo_window_ms) return PH_EOUTOFBOUNDS;
  /* duplicate in the out-of-order list? */
  size_t lo = 0, hi = s->ooo ? s->ooo->n : 0;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (s->ooo->s[mid].t < t) lo = mid + 1;
    else hi = mid;
  }
  if (s->ooo && lo < s->ooo->n && s->ooo->s[lo].t == t)
    return dbits(s->ooo->s[lo].v) == dbits(v) ? 1 : PH_EDUPLICATE;
  /* a sample at the same time inside the chunks? */
  double old;
  if (t >= s->mint && chunk_sample_at(h, s, t, &old))
    return dbits(old) == dbits(v) ? 1 : PH_EDUPLICATE;
  return 2;
}

int tsdb__head_check_sample(head_t *h, head_series_t *s, int64_t t, double v) {
  tsdb__lock(&s->lk);
  int rc = check_locked(h, s, t, v);
  tsdb__unlock(&s->lk);
  return rc < 0 ? rc : 0;
}

/* Writes the open chunk to chunks_head/ and starts a new one (s->lk held);
 * false (chunk left open) if the write failed. */
static bool cut_chunk(head_t *h, head_series_t *s) {
  size_t len;
  const uint8_t *bytes = chunk_xor_bytes(&s->open, &len);
  head_mmchunk_t mc;
  char err[256];
  int rc = tsdb__hchunks_write(h->db->hchunks, s->ref, chunk_xor_first_ts(&s->open),
                               chunk_xor_last_ts(&s->open), bytes, len, &mc, err,
                               sizeof err);
  if (rc != 0) {
    /* log the first failure of a run of them */
    if (!atomic_exchange(&h->cut_failing, true))
      log_error("cannot write a head chunk; keeping it in memory", "err", err);
    return false;
  }
  atomic_store(&h->cut_failing, false);
  s->mm = ph_realloc(s->mm, ((size_t)s->nmm + 1) * sizeof(*s->mm));
  s->mm[s->nmm++] = mc;
  chunk_xor_free(&s->open);
  chunk_xor_init(&s->open);
  return true;
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
  tsdb__lock(&s->lk);
  int rc = check_locked(h, s, t, v);
  if (rc < 0 || rc == 1) {
    tsdb__unlock(&s->lk);
    return rc < 0 ? rc : 0;
  }
  if (rc == 2) {
    uint32_t no = s->ooo ? s->ooo->n : 0;
    size_t lo = 0, hi = no;
    while (lo < hi) {
      size_t mid = (lo + hi) / 2;
      if (s->ooo->s[mid].t < t) lo = mid + 1;
      else hi = mid;
    }
    if (s->ooo == NULL || s->ooo->n == s->ooo->cap) {
      uint32_t ncap = s->ooo ? s->ooo->cap * 2 : 4;
      s->ooo = ph_realloc(s->ooo, sizeof(head_ooo_t) + (size_t)ncap * sizeof(ooo_sample_t));
      s->ooo->cap = ncap;
      s->ooo->n = no;
    }
    memmove(s->ooo->s + lo + 1, s->ooo->s + lo, (no - lo) * sizeof(ooo_sample_t));
    s->ooo->s[lo].t = t;
    s->ooo->s[lo].v = v;
    s->ooo->n++;
    if (t < s->mint) s->mint = t;
    tsdb__unlock(&s->lk);
    update_head_range(h, t);
    return 0;
  }
  unsigned n = chunk_xor_num_samples(&s->open);
  if (n > 0) {
    int64_t first = chunk_xor_first_ts(&s->open);
    if ((n >= HEAD_CHUNK_SAMPLES || chunk_xor_len(&s->open) >= HEAD_CHUNK_MAX_BYTES ||
         window_of(h, t) != window_of(h, first) ||
         (uint64_t)t - (uint64_t)first > UINT32_MAX) &&
        cut_chunk(h, s))
      n = 0;
  }
  if (n == 0) atomic_fetch_add(&h->nchunks, 1);
  rc = chunk_xor_append(&s->open, t, v);
  if (rc == 0) {
    s->maxt = t;
    if (t < s->mint) s->mint = t;
    s->last_v_bits = dbits(v);
    s->last_v_known = true;
  } else if (n == 0) {
    atomic_fetch_sub(&h->nchunks, 1);
  }
  tsdb__unlock(&s->lk);
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
  head_t *h = s->head;
  tsdb__lock(&s->lk);
  size_t oi = 0;
  uint32_t no = s->ooo ? s->ooo->n : 0;
  const ooo_sample_t *oo = s->ooo ? s->ooo->s : NULL;
  for (uint32_t i = 0; i <= s->nmm; i++) {
    const uint8_t *data;
    size_t len;
    unsigned count;
    if (i < s->nmm) {
      if (head_mmchunk_maxt(&s->mm[i]) < mint || s->mm[i].mint >= maxt) continue;
      data = mm_data(h, s, i, &len);
      if (data == NULL) continue;
      count = s->mm[i].count;
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
      while (oi < no && oo[oi].t <= t) {
        if (oo[oi].t >= mint && oo[oi].t < t) {
          size_t c = *cap;
          ph_grow(ts, cap, *n + 1);
          if (*cap != c) *vs = ph_realloc(*vs, *cap * sizeof(double));
          (*ts)[*n] = oo[oi].t;
          (*vs)[(*n)++] = oo[oi].v;
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
  for (; oi < no; oi++) {
    if (oo[oi].t < mint || oo[oi].t >= maxt) continue;
    if (*n > 0 && oo[oi].t <= (*ts)[*n - 1]) continue;
    size_t c = *cap;
    ph_grow(ts, cap, *n + 1);
    if (*cap != c) *vs = ph_realloc(*vs, *cap * sizeof(double));
    (*ts)[*n] = oo[oi].t;
    (*vs)[(*n)++] = oo[oi].v;
  }
  tsdb__unlock(&s->lk);
}

bool tsdb__head_series_range(head_series_t *s, int64_t *mint, int64_t *maxt) {
  tsdb__lock(&s->lk);
  bool has = s->maxt != INT64_MIN;
  *mint = s->mint;
  *maxt = s->maxt;
  tsdb__unlock(&s->lk);
  return has;
}

/* Recomputes the series' range from its chunks and out-of-order list after
 * a restore (s->lk held or single-threaded); updates the head's range. */
void tsdb__head_restored(head_t *h, head_series_t *s) {
  int64_t mint = INT64_MAX, maxt = INT64_MIN;
  if (s->nmm) {
    mint = s->mm[0].mint;
    maxt = head_mmchunk_maxt(&s->mm[s->nmm - 1]);
  }
  if (chunk_xor_num_samples(&s->open)) {
    if (chunk_xor_first_ts(&s->open) < mint) mint = chunk_xor_first_ts(&s->open);
    if (chunk_xor_last_ts(&s->open) > maxt) maxt = chunk_xor_last_ts(&s->open);
  }
  if (s->ooo && s->ooo->n) {
    if (s->ooo->s[0].t < mint) mint = s->ooo->s[0].t;
    if (s->ooo->s[s->ooo->n - 1].t > maxt) maxt = s->ooo->s[s->ooo->n - 1].t;
  }
  if (maxt != s->maxt) s->last_v_known = false;
  if (chunk_xor_num_samples(&s->open) && chunk_xor_last_ts(&s->open) == maxt) {
    s->last_v_bits = dbits(chunk_xor_last_value(&s->open));
    s->last_v_known = true;
  }
  s->mint = mint;
  s->maxt = maxt;
  atomic_fetch_add(&h->nchunks, s->nmm + (chunk_xor_num_samples(&s->open) ? 1u : 0u));
  if (maxt != INT64_MIN) {
    update_head_range(h, mint);
    update_head_range(h, maxt);
  }
}

/* Attaches chunks found on disk (sorted by mint, single-threaded replay);
 * those older than the truncation bound are left out. */
void tsdb__head_attach_chunks(head_t *h, head_series_t *s, const head_mmchunk_t *c,
                              size_t n) {
  int64_t bound = atomic_load(&h->min_valid);
  size_t k = 0;
  while (k < n && head_mmchunk_maxt(&c[k]) < bound) k++;
  if (k == n) return;
  /* only chunks newer than what the series holds (a snapshot's open chunk
   * is newer than every chunk cut before it) */
  s->mm = ph_realloc(s->mm, ((size_t)s->nmm + (n - k)) * sizeof(*s->mm));
  int64_t last = s->nmm ? head_mmchunk_maxt(&s->mm[s->nmm - 1]) : INT64_MIN;
  for (; k < n; k++) {
    if (c[k].mint <= last) continue;
    s->mm[s->nmm++] = c[k];
    last = head_mmchunk_maxt(&c[k]);
  }
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
    tsdb__lock(&s->lk);
    uint32_t keep = 0;
    for (uint32_t c = 0; c < s->nmm; c++) {
      if (head_mmchunk_maxt(&s->mm[c]) < t) atomic_fetch_sub(&h->nchunks, 1);
      else s->mm[keep++] = s->mm[c];
    }
    if (keep != s->nmm) {
      s->nmm = keep;
      if (keep == 0) {
        free(s->mm);
        s->mm = NULL;
      } else {
        s->mm = ph_realloc(s->mm, keep * sizeof(*s->mm));
      }
    }
    if (s->ooo) {
      uint32_t ok = 0;
      for (uint32_t o = 0; o < s->ooo->n; o++)
        if (s->ooo->s[o].t >= t) s->ooo->s[ok++] = s->ooo->s[o];
      s->ooo->n = ok;
      if (ok == 0) {
        free(s->ooo);
        s->ooo = NULL;
      }
    }
    int64_t mint = INT64_MAX;
    if (s->nmm) mint = s->mm[0].mint;
    else if (chunk_xor_num_samples(&s->open)) mint = chunk_xor_first_ts(&s->open);
    if (s->ooo && s->ooo->s[0].t < mint) mint = s->ooo->s[0].t;
    bool empty = mint == INT64_MAX;
    if (!empty) s->mint = mint;
    bool dead = empty && s->maxt < t;
    if (dead) atomic_store(&s->deleted, true);
    tsdb__unlock(&s->lk);
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
  /* every series has dropped its references to chunks older than t */
  if (h->db->hchunks) tsdb__hchunks_truncate(h->db->hchunks, t);
}

/*
 * ---- chunks_head/: cut head chunks on disk, read back through mmap ------
 * (<db>/chunks_head/, the counterpart of Prometheus's chunks_head/).
 *
 * When the head cuts a series' open chunk, the chunk's bytes are appended
 * to the active segment file here and the series keeps only a 24-byte
 * head_mmchunk_t (segment, offset, time range, count).  Every segment is
 * mapped read-only (MAP_SHARED) once, at its full maximum size, when it is
 * created or found on open, and never remapped, so a pointer into it stays
 * valid until the segment is deleted.  Writes go through pwrite() on the
 * same file, which the shared mapping sees; pages only enter the process's
 * RSS when a query or a compaction reads them.  A write that returned is in
 * the page cache and survives kill -9; the files are not fsynced because
 * they are only an accelerator: every sample in them is also in the WAL
 * (or its checkpoint, or a block), so a lost or torn tail costs replay time,
 * never data.
 *
 * Segment file chunks_head/NNNNNNNN (8-digit sequence, growing):
 *
 *   OFFSET  SIZE  DESCRIPTION
 *   0       4     magic "PHCH"
 *   4       1     version (1)
 *   5       3     zero
 *   8       ...   records, back to back
 *
 * Record:
 *
 *   OFFSET  SIZE  DESCRIPTION
 *   0       8     series reference, little endian
 *   8       8     mint (first sample time, ms), little endian
 *   16      8     maxt (last sample time, ms), little endian
 *   24      1     encoding (1 = Gorilla XOR, chunk_xor.c)
 *   25      4     length n of the chunk bytes, little endian
 *   29      n     chunk bytes (2-byte sample count header + bit stream)
 *   29+n    4     CRC-32C of bytes [0, 29+n) of the record, little endian
 *
 * On open, tsdb__hchunks_scan walks every segment in order and reports each
 * valid record (CRC-checked, unless a head snapshot vouches for the data up
 * to its position: it fsynced them before it was written; headers and
 * bounds are always checked); the first short or corrupt record ends the data: that
 * segment is cut there, later segments are deleted, and the loss is logged.
 * A stop position (from a head snapshot) cuts the data the same way at a
 * known point.  Truncation deletes whole segments (never the active one)
 * whose newest chunk is older than the head's new minimum time.
 *
 * Concurrency: mu serialises writers (one pwrite per chunk) and guards the
 * segment table; readers look a segment up under mu and use the pointer
 * while holding the lock of the series that references the chunk, which
 * truncation also takes before it drops the reference, so a segment is
 * never unmapped under a reader.
 */
#define HC_FILE_HEADER 8
#define HC_REC_HEADER 29
#define HC_REC_TRAILER 4
#define HC_DEFAULT_SEGMENT (64u << 20)
#define HC_MAX_SEGMENT (1u << 30)
#define HC_ENC_XOR 1

static const uint8_t hc_magic[HC_FILE_HEADER] = {'P', 'H', 'C', 'H', 1, 0, 0, 0};

typedef struct hc_seg {
  uint32_t seq;
  uint8_t *map;     /* PROT_READ, map_len bytes (may exceed the file) */
  size_t map_len;
  uint64_t size;    /* bytes written (valid data) */
  int64_t maxt;     /* newest chunk in the segment, INT64_MIN if none */
} hc_seg_t;

struct hchunks {
  char *dir;          /* owned: <db>/chunks_head */
  uint64_t seg_limit; /* start a new segment past this size */
  pthread_mutex_t mu; /* guards everything below */
  hc_seg_t *segs;     /* sorted by seq; the last one is active */
  size_t nsegs, segs_cap;
  int fd;             /* active segment, O_WRONLY, or -1 */
  uint32_t dirty_from; /* first segment written since open (0: none) */
  bool failed;        /* last write failed: start a fresh segment */
};


static void seg_path(const hchunks_t *c, uint32_t seq, char *buf, size_t len) {
  snprintf(buf, len, "%s/%08u", c->dir, seq);
}

static size_t map_len_for(const hchunks_t *c, uint64_t size) {
  uint64_t l = size > c->seg_limit ? size : c->seg_limit;
  long pg = sysconf(_SC_PAGESIZE);
  uint64_t p = pg > 0 ? (uint64_t)pg : 4096;
  return (size_t)((l + HC_REC_HEADER + HC_REC_TRAILER + p - 1) / p * p);
}

/* Maps a segment file (read-only, shared); NULL on failure.  populate:
 * fault every page in at once (for the scan, which reads them all). */
static uint8_t *map_file(const char *path, size_t len, bool populate) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  void *m = mmap(NULL, len, PROT_READ, MAP_SHARED | (populate ? MAP_POPULATE : 0), fd, 0);
  close(fd);
  return m == MAP_FAILED ? NULL : m;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

int tsdb__hchunks_open(const char *dbdir, uint64_t segment_bytes, hchunks_t **out,
                       char *err, size_t errlen) {
  hchunks_t *c = ph_calloc(1, sizeof(*c));
  size_t dl = strlen(dbdir) + 16;
  c->dir = ph_malloc(dl);
  snprintf(c->dir, dl, "%s/chunks_head", dbdir);
  c->seg_limit = segment_bytes ? segment_bytes : HC_DEFAULT_SEGMENT;
  if (c->seg_limit > HC_MAX_SEGMENT) c->seg_limit = HC_MAX_SEGMENT;
  if (c->seg_limit < 4096) c->seg_limit = 4096;
  c->fd = -1;
  pthread_mutex_init(&c->mu, NULL);
  if (mkdir(c->dir, 0755) != 0 && errno != EEXIST) {
    int rc = ph_err(err, errlen, PH_EIO, "create %s: %s", c->dir, strerror(errno));
    tsdb__hchunks_close(c);
    return rc;
  }
  DIR *d = opendir(c->dir);
  if (d == NULL) {
    int rc = ph_err(err, errlen, PH_EIO, "read %s: %s", c->dir, strerror(errno));
    tsdb__hchunks_close(c);
    return rc;
  }
  uint32_t *seqs = NULL;
  size_t n = 0, cap = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    const char *s = de->d_name;
    if (strlen(s) != 8 || strspn(s, "0123456789") != 8) continue;
    ph_grow(&seqs, &cap, n + 1);
    seqs[n++] = (uint32_t)strtoul(s, NULL, 10);
  }
  closedir(d);
  if (n > 1) qsort(seqs, n, sizeof(*seqs), cmp_u32);
  for (size_t i = 0; i < n; i++) {
    ph_grow(&c->segs, &c->segs_cap, c->nsegs + 1);
    c->segs[c->nsegs++] = (hc_seg_t){.seq = seqs[i], .maxt = INT64_MIN};
  }
  free(seqs);
  *out = c;
  return 0;
}

static void unmap_seg(hc_seg_t *s) {
  if (s->map) munmap(s->map, s->map_len);
  s->map = NULL;
}

void tsdb__hchunks_close(hchunks_t *c) {
  if (c == NULL) return;
  if (c->fd >= 0) close(c->fd);
  for (size_t i = 0; i < c->nsegs; i++) unmap_seg(&c->segs[i]);
  free(c->segs);
  pthread_mutex_destroy(&c->mu);
  free(c->dir);
  free(c);
}

/* Removes segment i from the table and the disk (mu held or single-threaded). */
static void drop_seg(hchunks_t *c, size_t i) {
  char path[4200];
  seg_path(c, c->segs[i].seq, path, sizeof path);
  unmap_seg(&c->segs[i]);
  unlink(path);
  memmove(c->segs + i, c->segs + i + 1, (c->nsegs - i - 1) * sizeof(*c->segs));
  c->nsegs--;
}

/* Validates the records of one mapped segment from its header on; calls fn
 * for each; returns where valid data ends (0 if the file header is bad). */
static uint64_t scan_one(const hchunks_t *c, hc_seg_t *s, const uint8_t *m,
                         uint64_t size, uint64_t stop, bool verify, hchunks_scan_fn fn,
                         void *ud) {
  (void)c;
  if (size < HC_FILE_HEADER || memcmp(m, hc_magic, HC_FILE_HEADER) != 0) return 0;
  uint64_t off = HC_FILE_HEADER;
  if (stop < off) return 0;
  while (off + HC_REC_HEADER + HC_REC_TRAILER <= size && off < stop) {
    const uint8_t *r = m + off;
    uint32_t len = tsdb__get_le32(r + 25);
    if (r[24] != HC_ENC_XOR || len < 2 ||
        len > size - off - HC_REC_HEADER - HC_REC_TRAILER)
      break;
    uint64_t end = off + HC_REC_HEADER + len + HC_REC_TRAILER;
    if (end > stop) break;
    if (verify && tsdb__crc32c(0, r, HC_REC_HEADER + len) != tsdb__get_le32(r + HC_REC_HEADER + len))
      break;
    int64_t mint = (int64_t)tsdb__get_le64(r + 8), maxt = (int64_t)tsdb__get_le64(r + 16);
    unsigned count = chunk_xor_header_count(r + HC_REC_HEADER, len);
    if (maxt < mint || count == 0 || (uint64_t)(maxt - mint) > UINT32_MAX) break;
    head_mmchunk_t mc = {.mint = mint,
                         .maxt_delta = (uint32_t)(maxt - mint),
                         .seq = s->seq,
                         .off = (uint32_t)off,
                         .count = (uint16_t)count};
    if (maxt > s->maxt) s->maxt = maxt;
    if (fn) fn(ud, tsdb__get_le64(r), &mc);
    off = end;
  }
  return off;
}

int tsdb__hchunks_scan(hchunks_t *c, uint32_t stop_seq, uint64_t stop_off,
                       hchunks_scan_fn fn, void *ud) {
  uint64_t dropped = 0;
  const char *cut_file = NULL;
  char cut_path[4200] = "";
  uint64_t cut_off = 0;
  bool corrupt = false;
  /* data a snapshot covers was fsynced before the snapshot was written:
   * its records are walked (headers checked) without checksumming */
  bool verify = stop_seq == UINT32_MAX;
  for (size_t i = 0; i < c->nsegs;) {
    hc_seg_t *s = &c->segs[i];
    char path[4200];
    seg_path(c, s->seq, path, sizeof path);
    if (s->seq > stop_seq || cut_file != NULL) {
      struct stat st;
      if (stat(path, &st) == 0) dropped += (uint64_t)st.st_size;
      drop_seg(c, i);
      continue;
    }
    struct stat st;
    if (stat(path, &st) != 0) {
      drop_seg(c, i);
      continue;
    }
    uint64_t size = (uint64_t)st.st_size;
    uint64_t good = 0;
    if (size > 0) {
      /* a scan mapping of its own, unmapped afterwards, so the pages read
       * here do not stay in the process's RSS */
      uint8_t *m = map_file(path, (size_t)size, true);
      if (m != NULL) {
        good = scan_one(c, s, m, size, s->seq == stop_seq ? stop_off : UINT64_MAX,
                        verify, fn, ud);
        munmap(m, (size_t)size);
      }
    }
    if (good == 0) {
      /* no valid file header: an empty file from a kill right after its
       * creation, or garbage */
      if (size > 0) {
        dropped += size;
        corrupt = true;
        snprintf(cut_path, sizeof cut_path, "%s", path);
        cut_file = cut_path;
        cut_off = 0;
      }
      drop_seg(c, i);
      continue;
    }
    if (good < size) {
      bool at_stop = s->seq == stop_seq && good == stop_off;
      if (!at_stop) corrupt = true;
      dropped += size - good;
      if (truncate(path, (off_t)good) != 0)
        log_error("cannot cut head chunks segment", "file", path, "err", strerror(errno));
      snprintf(cut_path, sizeof cut_path, "%s", path);
      cut_file = cut_path;
      cut_off = good;
    }
    s->size = good;
    s->map_len = map_len_for(c, good);
    s->map = map_file(path, s->map_len, false);
    if (s->map == NULL) {
      log_error("cannot map head chunks segment", "file", path, "err", strerror(errno));
      drop_seg(c, i);
      continue;
    }
    i++;
  }
  if (dropped > 0 && corrupt) {
    char off_s[32], drop_s[32];
    snprintf(off_s, sizeof off_s, "%llu", (unsigned long long)cut_off);
    snprintf(drop_s, sizeof drop_s, "%llu", (unsigned long long)dropped);
    log_warn("head chunks end in a torn or corrupt record; dropped the rest (the WAL has those samples)",
             "file", cut_file, "offset", off_s, "dropped_bytes", drop_s);
  } else if (dropped > 0) {
    char drop_s[32];
    snprintf(drop_s, sizeof drop_s, "%llu", (unsigned long long)dropped);
    log_info("head chunks written after the snapshot dropped (the WAL has those samples)",
             "dropped_bytes", drop_s);
  }
  return 0;
}

/* Starts segment seq (mu held). */
static int new_segment(hchunks_t *c, char *err, size_t errlen) {
  uint32_t seq = c->nsegs ? c->segs[c->nsegs - 1].seq + 1 : 1;
  char path[4200];
  seg_path(c, seq, path, sizeof path);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return ph_err(err, errlen, PH_EIO, "create %s: %s", path, strerror(errno));
  ssize_t w = pwrite(fd, hc_magic, HC_FILE_HEADER, 0);
  if (w != HC_FILE_HEADER) {
    int e = w < 0 ? errno : ENOSPC;
    close(fd);
    unlink(path);
    return ph_err(err, errlen, e == ENOSPC ? PH_ENOSPC : PH_EIO, "write %s: %s", path,
                  strerror(e));
  }
  hc_seg_t s = {.seq = seq, .size = HC_FILE_HEADER, .maxt = INT64_MIN};
  s.map_len = map_len_for(c, 0);
  s.map = map_file(path, s.map_len, false);
  if (s.map == NULL) {
    close(fd);
    unlink(path);
    return ph_err(err, errlen, PH_EIO, "map %s: %s", path, strerror(errno));
  }
  if (c->fd >= 0) close(c->fd);
  c->fd = fd;
  if (c->dirty_from == 0) c->dirty_from = seq;
  ph_grow(&c->segs, &c->segs_cap, c->nsegs + 1);
  c->segs[c->nsegs++] = s;
  c->failed = false;
  tsdb__fsync_dir(c->dir);
  return 0;
}

int tsdb__hchunks_write(hchunks_t *c, uint64_t ref, int64_t mint, int64_t maxt,
                        const uint8_t *data, size_t len, head_mmchunk_t *out,
                        char *err, size_t errlen) {
  unsigned count = chunk_xor_header_count(data, len);
  if (len < 2 || count == 0 || maxt < mint || (uint64_t)(maxt - mint) > UINT32_MAX ||
      len > c->seg_limit)
    return ph_err(err, errlen, PH_EINVAL, "bad head chunk");
  uint8_t hdr[HC_REC_HEADER], tr[HC_REC_TRAILER];
  tsdb__put_le64(hdr, ref);
  tsdb__put_le64(hdr + 8, (uint64_t)mint);
  tsdb__put_le64(hdr + 16, (uint64_t)maxt);
  hdr[24] = HC_ENC_XOR;
  tsdb__put_le32(hdr + 25, (uint32_t)len);
  uint32_t crc = tsdb__crc32c(tsdb__crc32c(0, hdr, sizeof hdr), data, len);
  tsdb__put_le32(tr, crc);
  size_t total = HC_REC_HEADER + len + HC_REC_TRAILER;
  int rc = 0;
  pthread_mutex_lock(&c->mu);
  hc_seg_t *s = c->nsegs ? &c->segs[c->nsegs - 1] : NULL;
  if (s == NULL || c->fd < 0 || c->failed || s->size + total > c->seg_limit) {
    rc = new_segment(c, err, errlen);
    if (rc != 0) goto out;
    s = &c->segs[c->nsegs - 1];
  }
  struct iovec iov[3] = {{hdr, sizeof hdr}, {(void *)data, len}, {tr, sizeof tr}};
  ssize_t w = pwritev(c->fd, iov, 3, (off_t)s->size);
  if (w < 0 || (size_t)w != total) {
    int e = w < 0 ? errno : ENOSPC;
    c->failed = true;
    rc = ph_err(err, errlen, (e == ENOSPC || e == EDQUOT) ? PH_ENOSPC : PH_EIO,
                "write head chunk to %s/%08u: %s", c->dir, s->seq, strerror(e));
    goto out;
  }
  *out = (head_mmchunk_t){.mint = mint,
                          .maxt_delta = (uint32_t)(maxt - mint),
                          .seq = s->seq,
                          .off = (uint32_t)s->size,
                          .count = (uint16_t)count};
  s->size += total;
  if (maxt > s->maxt) s->maxt = maxt;
  if (c->dirty_from == 0) c->dirty_from = s->seq;
out:
  pthread_mutex_unlock(&c->mu);
  return rc;
}

const uint8_t *tsdb__hchunks_data(hchunks_t *c, const head_mmchunk_t *m, size_t *len) {
  const uint8_t *p = NULL;
  pthread_mutex_lock(&c->mu);
  size_t lo = 0, hi = c->nsegs;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (c->segs[mid].seq < m->seq) lo = mid + 1;
    else hi = mid;
  }
  if (lo < c->nsegs && c->segs[lo].seq == m->seq) {
    const hc_seg_t *s = &c->segs[lo];
    if ((uint64_t)m->off + HC_REC_HEADER <= s->size) {
      const uint8_t *r = s->map + m->off;
      uint32_t l = tsdb__get_le32(r + 25);
      if ((uint64_t)m->off + HC_REC_HEADER + l <= s->size) {
        p = r + HC_REC_HEADER;
        *len = l;
      }
    }
  }
  pthread_mutex_unlock(&c->mu);
  return p;
}

void tsdb__hchunks_position(hchunks_t *c, uint32_t *seq, uint64_t *off) {
  pthread_mutex_lock(&c->mu);
  if (c->nsegs) {
    *seq = c->segs[c->nsegs - 1].seq;
    *off = c->segs[c->nsegs - 1].size;
  } else {
    *seq = 0;
    *off = 0;
  }
  pthread_mutex_unlock(&c->mu);
}

void tsdb__hchunks_truncate(hchunks_t *c, int64_t mint) {
  pthread_mutex_lock(&c->mu);
  /* never the active (last) segment */
  for (size_t i = 0; i + 1 < c->nsegs;) {
    if (c->segs[i].maxt < mint) drop_seg(c, i);
    else i++;
  }
  pthread_mutex_unlock(&c->mu);
}


int tsdb__hchunks_sync(hchunks_t *c) {
  int rc = 0;
  pthread_mutex_lock(&c->mu);
  for (size_t i = 0; i < c->nsegs && c->dirty_from != 0; i++) {
    if (c->segs[i].seq < c->dirty_from) continue;
    char path[4200];
    seg_path(c, c->segs[i].seq, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fdatasync(fd) != 0) rc = PH_EIO;
    if (fd >= 0) close(fd);
  }
  if (rc == 0) c->dirty_from = 0;
  pthread_mutex_unlock(&c->mu);
  return rc;
}

int tsdb__hchunks_restore(hchunks_t *c, uint32_t stop_seq, uint64_t stop_off) {
  uint64_t dropped = 0;
  for (size_t i = 0; i < c->nsegs;) {
    hc_seg_t *s = &c->segs[i];
    char path[4200];
    seg_path(c, s->seq, path, sizeof path);
    struct stat st;
    if (stat(path, &st) != 0) {
      drop_seg(c, i);
      continue;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (s->seq > stop_seq) {
      dropped += size;
      drop_seg(c, i);
      continue;
    }
    if (s->seq == stop_seq && size > stop_off) {
      if (truncate(path, (off_t)stop_off) != 0) return PH_EIO;
      dropped += size - stop_off;
      size = stop_off;
    }
    if (s->seq == stop_seq && size < stop_off) return PH_ECORRUPT;
    s->size = size;
    s->maxt = INT64_MIN; /* raised by tsdb__hchunks_note */
    s->map_len = map_len_for(c, size);
    s->map = map_file(path, s->map_len, false);
    if (s->map == NULL) return PH_EIO;
    i++;
  }
  if (dropped > 0) {
    char drop_s[32];
    snprintf(drop_s, sizeof drop_s, "%llu", (unsigned long long)dropped);
    log_info("head chunks written after the snapshot dropped (the WAL has those samples)",
             "dropped_bytes", drop_s);
  }
  return 0;
}

bool tsdb__hchunks_note(hchunks_t *c, const head_mmchunk_t *m) {
  size_t lo = 0, hi = c->nsegs;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (c->segs[mid].seq < m->seq) lo = mid + 1;
    else hi = mid;
  }
  if (lo == c->nsegs || c->segs[lo].seq != m->seq) return false;
  hc_seg_t *s = &c->segs[lo];
  if ((uint64_t)m->off + HC_REC_HEADER + 2 + HC_REC_TRAILER > s->size) return false;
  int64_t maxt = head_mmchunk_maxt(m);
  if (maxt > s->maxt) s->maxt = maxt;
  return true;
}
