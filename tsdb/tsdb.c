/*
 * tsdb.c - opening and closing the database, appenders, stats.
 *
 * Directory layout:
 *   <path>/lock           flock()ed while a process has the database open
 *   <path>/wal/           write-ahead log segments (wal.c)
 *   <path>/chunks_head/   cut head chunks, mmapped (head.c)
 *   <path>/head_snapshot  the head as of the last clean close (below)
 *
 * An appender buffers (series, t, v) triples after checking each against
 * the series' committed state, so errors are reported per sample at add
 * time.  Commit encodes one WAL batch record (series records for series
 * not yet in the WAL, then the samples) and writes it; only when that
 * write succeeded are the samples applied to the head and visible.  A WAL
 * failure (full disk) fails the commit and applies nothing, so a retry
 * later neither loses nor duplicates data.
 *
 * Open restores the head one of two ways.  With a usable head snapshot
 * (checked against the WAL and chunks_head/), the series come from it and
 * only the WAL after its position is replayed.  Otherwise chunks_head/ is
 * scanned, its chunks sorted by series, and the whole WAL replayed: a
 * series gets its disk chunks when its series record is replayed, and
 * samples those chunks hold are skipped.  Replay feeds the WAL's records
 * through the same head functions as appends.  A series logged twice (two
 * appenders racing to log a new series) maps the second reference onto the
 * first.  Close writes a fresh snapshot unless no_head_snapshot is set.
 */
#include "tsdb_int.h"

#include "log.h"
#include "mem.h"
#include "ph_error.h"
#include "timeparse.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

bool tsdb_is_stale_nan(double v) {
  uint64_t b;
  memcpy(&b, &v, sizeof b);
  return b == TSDB_STALE_NAN_BITS;
}

double tsdb_stale_nan(void) {
  uint64_t b = TSDB_STALE_NAN_BITS;
  double v;
  memcpy(&v, &b, sizeof v);
  return v;
}

void tsdb_options_default(tsdb_options_t *o) {
  memset(o, 0, sizeof *o);
  o->path = "data";
  o->retention_ms = 15LL * 24 * 3600 * 1000;
  o->block_range_ms = 2LL * 3600 * 1000;
  o->wal_fsync = TSDB_WAL_FSYNC_INTERVAL;
  o->wal_fsync_interval_ms = 1000;
}

/* ---- replay -------------------------------------------------------------- */

typedef struct ref_alias {
  uint64_t ref;
  head_series_t *s;
} ref_alias_t;

/* A chunk found in chunks_head/ on open, waiting for its series. */
typedef struct found_chunk {
  uint64_t ref;
  head_mmchunk_t c;
} found_chunk_t;

typedef struct replay_state {
  tsdb_t *db;
  found_chunk_t *found; /* sorted by (ref, mint) */
  size_t nfound, found_cap;
  head_series_t **by_ref; /* dense table ref -> series while replaying */
  size_t by_ref_cap;
  ref_alias_t *alias; /* open addressing, cap a power of two */
  size_t alias_cap, alias_n;
  uint64_t series, samples, rejected;
} replay_state_t;

static void alias_put(replay_state_t *r, uint64_t ref, head_series_t *s) {
  if ((r->alias_n + 1) * 2 > r->alias_cap) {
    size_t ncap = r->alias_cap ? r->alias_cap * 2 : 64;
    ref_alias_t *na = ph_calloc(ncap, sizeof(*na));
    for (size_t i = 0; i < r->alias_cap; i++) {
      if (r->alias[i].s == NULL) continue;
      size_t j = r->alias[i].ref & (ncap - 1);
      while (na[j].s) j = (j + 1) & (ncap - 1);
      na[j] = r->alias[i];
    }
    free(r->alias);
    r->alias = na;
    r->alias_cap = ncap;
  }
  size_t j = ref & (r->alias_cap - 1);
  while (r->alias[j].s && r->alias[j].ref != ref) j = (j + 1) & (r->alias_cap - 1);
  if (r->alias[j].s == NULL) r->alias_n++;
  r->alias[j].ref = ref;
  r->alias[j].s = s;
}

static head_series_t *alias_get(replay_state_t *r, uint64_t ref) {
  if (r->alias_cap == 0) return NULL;
  size_t j = ref & (r->alias_cap - 1);
  while (r->alias[j].s) {
    if (r->alias[j].ref == ref) return r->alias[j].s;
    j = (j + 1) & (r->alias_cap - 1);
  }
  return NULL;
}

static void found_chunk_cb(void *ud, uint64_t ref, const head_mmchunk_t *c) {
  replay_state_t *r = ud;
  ph_grow(&r->found, &r->found_cap, r->nfound + 1);
  r->found[r->nfound++] = (found_chunk_t){ref, *c};
}

static int cmp_found(const void *a, const void *b) {
  const found_chunk_t *x = a, *y = b;
  if (x->ref != y->ref) return x->ref < y->ref ? -1 : 1;
  return x->c.mint < y->c.mint ? -1 : x->c.mint > y->c.mint;
}

/* Sorts the found chunks by (ref, mint).  They come in file order, which is
 * time order for each series, so a stable counting sort by reference does
 * it in linear time when references are dense (they are handed out one by
 * one); otherwise qsort. */
static void sort_found(replay_state_t *r) {
  size_t n = r->nfound;
  if (n < 2) return;
  uint64_t maxref = 0;
  bool ordered = true;
  for (size_t i = 0; i < n; i++) {
    if (r->found[i].ref > maxref) maxref = r->found[i].ref;
    if (i > 0 && cmp_found(&r->found[i - 1], &r->found[i]) > 0) ordered = false;
  }
  if (ordered) return;
  if (maxref > 4 * (uint64_t)n + 1024) {
    qsort(r->found, n, sizeof(*r->found), cmp_found);
    return;
  }
  uint32_t *start = ph_calloc((size_t)maxref + 2, sizeof(uint32_t));
  for (size_t i = 0; i < n; i++) start[r->found[i].ref + 1]++;
  for (uint64_t k = 1; k <= maxref + 1; k++) start[k] += start[k - 1];
  found_chunk_t *out = ph_malloc(n * sizeof(*out));
  for (size_t i = 0; i < n; i++) out[start[r->found[i].ref]++] = r->found[i];
  free(start);
  free(r->found);
  r->found = out;
  r->found_cap = n;
  /* within a reference, file order; make sure it is time order */
  for (size_t i = 1; i < n; i++)
    if (cmp_found(&out[i - 1], &out[i]) > 0) {
      qsort(out, n, sizeof(*out), cmp_found);
      break;
    }
}

/* Gives a newly restored series the chunks chunks_head/ holds for it. */
static void attach_found(void *ud, head_series_t *s) {
  replay_state_t *r = ud;
  size_t lo = 0, hi = r->nfound;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (r->found[mid].ref < s->ref) lo = mid + 1;
    else hi = mid;
  }
  size_t end = lo;
  while (end < r->nfound && r->found[end].ref == s->ref) end++;
  if (end == lo) return;
  head_mmchunk_t stack[64];
  size_t n = end - lo;
  head_mmchunk_t *v = n <= 64 ? stack : ph_malloc(n * sizeof(*v));
  for (size_t i = 0; i < n; i++) v[i] = r->found[lo + i].c;
  tsdb__head_attach_chunks(r->db->head, s, v, n);
  if (v != stack) free(v);
}

static void replay_series(void *ud, uint64_t ref, const labels_t *ls) {
  replay_state_t *r = ud;
  bool created;
  head_series_t *s = tsdb__head_get_or_create(r->db->head, ls, ref, &created);
  if (created) {
    attach_found(r, s);
    tsdb__head_restored(r->db->head, s);
  }
  atomic_store(&s->logged, true);
  if (s->ref != ref) alias_put(r, ref, s);
  if (ref < (UINT64_C(1) << 28)) {
    if (ref >= r->by_ref_cap) {
      size_t ncap = r->by_ref_cap ? r->by_ref_cap : 1024;
      while (ncap <= ref) ncap *= 2;
      r->by_ref = ph_realloc(r->by_ref, ncap * sizeof(*r->by_ref));
      memset(r->by_ref + r->by_ref_cap, 0, (ncap - r->by_ref_cap) * sizeof(*r->by_ref));
      r->by_ref_cap = ncap;
    }
    r->by_ref[ref] = s;
  }
  r->series++;
}

static void replay_sample(void *ud, uint64_t ref, int64_t t, double v) {
  replay_state_t *r = ud;
  head_series_t *s = ref < r->by_ref_cap ? r->by_ref[ref] : NULL;
  if (s == NULL) s = alias_get(r, ref);
  if (s == NULL) s = tsdb__head_by_ref(r->db->head, ref);
  if (s == NULL || tsdb__head_append_sample(r->db->head, s, t, v) != 0) {
    r->rejected++;
    return;
  }
  r->samples++;
}

/* ---- background ---------------------------------------------------------- */

static void *background(void *arg) {
  tsdb_t *db = arg;
  int64_t last_maint = ph_now_ms();
  int64_t maint_every = db->opt.maintain_interval_ms > 0 ? db->opt.maintain_interval_ms : 60000;
  pthread_mutex_lock(&db->bg_mu);
  while (!db->closing) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ms = db->opt.wal_fsync_interval_ms > 0 ? db->opt.wal_fsync_interval_ms : 1000;
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&db->bg_cv, &db->bg_mu, &ts);
    if (db->closing) break;
    pthread_mutex_unlock(&db->bg_mu);
    if (db->opt.wal_fsync == TSDB_WAL_FSYNC_INTERVAL) tsdb__wal_sync(db->wal);
    int64_t now = ph_now_ms();
    if (now - last_maint >= maint_every) {
      char err[512];
      tsdb_maintain(db, err, sizeof err);
      last_maint = now;
    }
    pthread_mutex_lock(&db->bg_mu);
  }
  pthread_mutex_unlock(&db->bg_mu);
  return NULL;
}

/* ---- open / close -------------------------------------------------------- */

static void appender_pool_free(tsdb_t *db);

static int mkdir_p(const char *path) {
  char tmp[4096];
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof tmp) return -1;
  memcpy(tmp, path, n + 1);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
  return 0;
}

int tsdb_open(const tsdb_options_t *o, tsdb_t **out, char *err, size_t errlen) {
  tsdb_t *db = ph_calloc(1, sizeof(*db));
  db->opt = *o;
  db->path = ph_strdup(o->path);
  db->opt.path = db->path;
  db->lock_fd = -1;
  if (db->opt.block_range_ms <= 0) db->opt.block_range_ms = 2LL * 3600 * 1000;
  if (db->opt.wal_fsync_interval_ms <= 0) db->opt.wal_fsync_interval_ms = 1000;
  pthread_mutex_init(&db->bg_mu, NULL);
  pthread_cond_init(&db->bg_cv, NULL);
  pthread_mutex_init(&db->blocks_mu, NULL);
  pthread_mutex_init(&db->maint_mu, NULL);
  pthread_rwlock_init(&db->gc_mu, NULL);
  pthread_rwlock_init(&db->tombs_mu, NULL);
  pthread_mutex_init(&db->pool_mu, NULL);
  int rc;
  if (mkdir_p(db->path) != 0) {
    rc = ph_err(err, errlen, PH_EIO, "create data directory %s: %s", db->path,
                strerror(errno));
    goto fail;
  }
  char lockpath[4096];
  snprintf(lockpath, sizeof lockpath, "%s/lock", db->path);
  db->lock_fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (db->lock_fd < 0 || flock(db->lock_fd, LOCK_EX | LOCK_NB) != 0) {
    rc = ph_err(err, errlen, PH_EIO,
                "lock DB directory %s: %s (is another pharos using it?)", db->path,
                strerror(errno));
    goto fail;
  }
  db->symtab = symtab_new();
  rc = tsdb__hchunks_open(db->path, db->opt.head_chunks_segment_bytes, &db->hchunks,
                          err, errlen);
  if (rc != 0) goto fail;
  db->head = tsdb__head_new(db, db->opt.block_range_ms, db->opt.ooo_window_ms);
  rc = tsdb__load_blocks(db, err, errlen);
  if (rc != 0) goto fail;
  rc = tsdb__tombstones_load(db, err, errlen);
  if (rc != 0) goto fail;

  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  replay_state_t rs = {.db = db};
  /* a head snapshot from a clean close: trusted only if the WAL after its
   * position and the chunks it relies on are all there */
  snapshot_t *snap = NULL;
  const snapshot_info_t *si = NULL;
  char serr[512];
  tsdb__snapshot_remove(db->path);
  int src = tsdb__snapshot_open(db->path, &snap, serr, sizeof serr);
  if (src == 0) {
    si = tsdb__snapshot_info(snap);
    if (!tsdb__wal_can_start(db->path, &si->wal)) {
      snprintf(serr, sizeof serr, "the WAL does not reach its position %u:%llu",
               si->wal.seq, (unsigned long long)si->wal.off);
      src = PH_ECORRUPT;
    } else if (si->chunk_seq != 0) {
      char cp[4200];
      struct stat st;
      snprintf(cp, sizeof cp, "%s/chunks_head/%08u", db->path, si->chunk_seq);
      if (stat(cp, &st) != 0 || (uint64_t)st.st_size < si->chunk_off) {
        snprintf(serr, sizeof serr, "chunks_head/%08u is missing or shorter than %llu",
                 si->chunk_seq, (unsigned long long)si->chunk_off);
        src = PH_ECORRUPT;
      }
    }
  }
  if (src != 0 && src != PH_ENOTFOUND)
    log_warn("head snapshot not usable; replaying the whole WAL", "reason", serr);
  if (src != 0) {
    tsdb__snapshot_close(snap);
    snap = NULL;
    si = NULL;
  }
  /* cut chunks on disk: with a snapshot, which lists them, chunks_head/ is
   * only cut back to its position; otherwise every record is read and the
   * chunks attached to their series as the WAL replay restores these */
  if (si && tsdb__hchunks_restore(db->hchunks, si->chunk_seq, si->chunk_off) != 0) {
    log_warn("head snapshot not usable; replaying the whole WAL", "reason",
             "chunks_head ends before the snapshot's position");
    tsdb__snapshot_close(snap);
    snap = NULL;
    si = NULL;
    /* the segments are left as they were: scan them */
    tsdb__hchunks_close(db->hchunks);
    db->hchunks = NULL;
    rc = tsdb__hchunks_open(db->path, db->opt.head_chunks_segment_bytes, &db->hchunks,
                            err, errlen);
    if (rc != 0) goto fail;
  }
  if (si == NULL) tsdb__hchunks_scan(db->hchunks, UINT32_MAX, UINT64_MAX, found_chunk_cb, &rs);
  sort_found(&rs);
  /* samples older than the newest block are in blocks already: replay and
   * appends treat them as out of bounds */
  int64_t bmax = tsdb__blocks_maxt(db);
  if (si && si->min_valid > bmax) bmax = si->min_valid;
  /* (with a snapshot, the segments' time ranges are known once it has been
   * loaded: the truncation that deletes old ones comes after) */
  if (bmax != INT64_MIN) {
    if (si) tsdb__head_set_min_valid(db->head, bmax);
    else tsdb__head_truncate(db->head, bmax);
  }

  uint64_t snap_series = 0;
  wal_pos_t start;
  if (si) {
    start = si->wal;
    src = tsdb__snapshot_load(snap, db, &snap_series, serr, sizeof serr);
    if (src == 0 && bmax != INT64_MIN) tsdb__head_truncate(db->head, bmax);
    if (src != 0) {
      log_warn("head snapshot not usable; replaying the whole WAL", "reason", serr);
      tsdb__head_free(db->head);
      db->head = tsdb__head_new(db, db->opt.block_range_ms, db->opt.ooo_window_ms);
      /* chunks_head/ up to the snapshot's position is consistent with the
       * WAL: scan it (a fresh listing) for the full replay */
      tsdb__hchunks_close(db->hchunks);
      db->hchunks = NULL;
      rc = tsdb__hchunks_open(db->path, db->opt.head_chunks_segment_bytes, &db->hchunks,
                              err, errlen);
      if (rc != 0) goto fail;
      tsdb__hchunks_scan(db->hchunks, UINT32_MAX, UINT64_MAX, found_chunk_cb, &rs);
      sort_found(&rs);
      bmax = tsdb__blocks_maxt(db);
      if (bmax != INT64_MIN) tsdb__head_truncate(db->head, bmax);
      si = NULL;
    }
  }
  wal_replay_cb_t cb = {replay_series, replay_sample, &rs};
  tsdb__head_set_replaying(db->head, true);
  rc = tsdb__wal_open(db->path, db->opt.wal_fsync, db->opt.wal_segment_bytes, &cb,
                      si ? &start : NULL, &db->wal, err, errlen);
  tsdb__head_set_replaying(db->head, false);
  tsdb__snapshot_close(snap);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  free(rs.alias);
  free(rs.by_ref);
  free(rs.found);
  if (rc != 0) goto fail;
  if (snap_series > 0) {
    char ns[32], nsm[32], dur[32];
    snprintf(ns, sizeof ns, "%llu", (unsigned long long)snap_series);
    snprintf(nsm, sizeof nsm, "%llu", (unsigned long long)rs.samples);
    snprintf(dur, sizeof dur, "%.3fs",
             (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    log_info("Head restored from its snapshot", "series", ns, "wal_samples_after", nsm,
             "duration", dur);
  } else if (rs.series || rs.samples) {
    char ns[32], nsm[32], nrej[32], dur[32];
    snprintf(ns, sizeof ns, "%llu", (unsigned long long)rs.series);
    snprintf(nsm, sizeof nsm, "%llu", (unsigned long long)rs.samples);
    snprintf(nrej, sizeof nrej, "%llu", (unsigned long long)rs.rejected);
    snprintf(dur, sizeof dur, "%.3fs",
             (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    log_info("WAL replay completed", "series", ns, "samples", nsm, "rejected",
             nrej, "duration", dur);
  }
  db->opened = true;
  if (!o->no_background) {
    if (pthread_create(&db->bg, NULL, background, db) != 0) {
      rc = ph_err(err, errlen, PH_EIO, "cannot start the TSDB background thread");
      goto fail;
    }
    db->bg_running = true;
  }
  *out = db;
  return 0;
fail:
  tsdb_close(db);
  return rc;
}

void tsdb_close(tsdb_t *db) {
  if (db == NULL) return;
  if (db->bg_running) {
    pthread_mutex_lock(&db->bg_mu);
    db->closing = true;
    pthread_cond_broadcast(&db->bg_cv);
    pthread_mutex_unlock(&db->bg_mu);
    pthread_join(db->bg, NULL);
  }
  if (db->opened && !db->opt.no_head_snapshot && db->wal && db->hchunks) {
    char err[512];
    if (tsdb__snapshot_write(db, err, sizeof err) != 0)
      log_error("cannot write the head snapshot; the next open replays the WAL", "err", err);
  }
  tsdb__wal_close(db->wal);
  tsdb__head_free(db->head);
  tsdb__hchunks_close(db->hchunks);
  tsdb__blocks_close(db);
  symtab_free(db->symtab);
  if (db->lock_fd >= 0) close(db->lock_fd);
  pthread_cond_destroy(&db->bg_cv);
  pthread_mutex_destroy(&db->bg_mu);
  pthread_mutex_destroy(&db->blocks_mu);
  pthread_mutex_destroy(&db->maint_mu);
  pthread_rwlock_destroy(&db->gc_mu);
  tsdb__tombstones_free(db);
  pthread_rwlock_destroy(&db->tombs_mu);
  appender_pool_free(db);
  pthread_mutex_destroy(&db->pool_mu);
  free(db->path);
  free(db);
}

/* ---- appenders ----------------------------------------------------------- */

typedef struct pending {
  head_series_t *s;
  int64_t t;
  double v;
} pending_t;

/* An appender.  Finished appenders go back to a small pool in the
 * database with their buffers (the pending samples, the WAL record being
 * built), so a steady stream of scrapes allocates nothing per commit; the
 * pool is freed by tsdb_close. */
struct tsdb_appender {
  tsdb_t *db;
  pending_t *p; /* owned */
  size_t n, cap;
  strbuf_t rec, ser;             /* owned: WAL record scratch */
  struct tsdb_appender *next;    /* in the pool */
};

#define APPENDER_POOL_MAX 16
#define APPENDER_KEEP_BYTES (1u << 20) /* larger buffers are not pooled */

tsdb_appender_t *tsdb_appender_new(tsdb_t *db) {
  pthread_mutex_lock(&db->pool_mu);
  tsdb_appender_t *a = db->pool;
  if (a) {
    db->pool = a->next;
    db->npool--;
  }
  pthread_mutex_unlock(&db->pool_mu);
  if (a == NULL) {
    a = ph_calloc(1, sizeof(*a));
    strbuf_init(&a->rec);
    strbuf_init(&a->ser);
  }
  a->db = db;
  a->n = 0;
  a->next = NULL;
  return a;
}

static void appender_free(tsdb_appender_t *a) {
  free(a->p);
  strbuf_free(&a->rec);
  strbuf_free(&a->ser);
  free(a);
}

static void appender_pool_free(tsdb_t *db) {
  while (db->pool) {
    tsdb_appender_t *a = db->pool;
    db->pool = a->next;
    appender_free(a);
  }
}

/* Back to the pool, or freed. */
static void appender_release(tsdb_appender_t *a) {
  tsdb_t *db = a->db;
  a->n = 0;
  strbuf_reset(&a->rec);
  strbuf_reset(&a->ser);
  if (a->cap * sizeof(pending_t) + a->rec.cap + a->ser.cap > APPENDER_KEEP_BYTES) {
    appender_free(a);
    return;
  }
  pthread_mutex_lock(&db->pool_mu);
  if (db->npool < APPENDER_POOL_MAX) {
    a->next = db->pool;
    db->pool = a;
    db->npool++;
    a = NULL;
  }
  pthread_mutex_unlock(&db->pool_mu);
  if (a) appender_free(a);
}

static int add(tsdb_appender_t *a, head_series_t *s, int64_t t, double v) {
  int rc = tsdb__head_check_sample(a->db->head, s, t, v);
  if (rc != 0) return rc;
  ph_grow(&a->p, &a->cap, a->n + 1);
  a->p[a->n++] = (pending_t){s, t, v};
  return 0;
}

int tsdb_append(tsdb_appender_t *a, const labels_t *ls, int64_t t, double v,
                uint64_t *ref) {
  if (labels_len(ls) == 0) return PH_EINVAL;
  bool created;
  head_series_t *s = tsdb__head_get_or_create(a->db->head, ls, 0, &created);
  if (ref) *ref = s->ref;
  return add(a, s, t, v);
}

int tsdb_append_ref(tsdb_appender_t *a, uint64_t ref, int64_t t, double v) {
  head_series_t *s = tsdb__head_by_ref(a->db->head, ref);
  if (s == NULL) return PH_ENOTFOUND;
  return add(a, s, t, v);
}

static void put_f64(strbuf_t *b, double v) {
  uint64_t bits;
  memcpy(&bits, &v, sizeof bits);
  uint8_t tmp[8];
  for (int i = 0; i < 8; i++) tmp[i] = (uint8_t)(bits >> (8 * i));
  strbuf_append(b, tmp, 8);
}

int tsdb_appender_commit(tsdb_appender_t *a, char *err, size_t errlen) {
  tsdb_t *db = a->db;
  int rc = 0;
  if (a->n == 0) goto done;
  pthread_rwlock_rdlock(&db->gc_mu);
  /* series the head dropped since they were added: find or recreate them */
  for (size_t i = 0; i < a->n; i++) {
    if (!atomic_load(&a->p[i].s->deleted)) continue;
    bool created;
    a->p[i].s = tsdb__head_get_or_create(db->head, a->p[i].s->labels, 0, &created);
  }
  strbuf_t *recp = &a->rec, *serp = &a->ser;
  size_t nser = 0;
  uint64_t batch = atomic_fetch_add(&db->next_batch, 1) + 1;
  for (size_t i = 0; i < a->n; i++) {
    head_series_t *s = a->p[i].s;
    if (atomic_load(&s->logged)) continue;
    /* once per series in this batch */
    if (atomic_exchange(&s->batch, batch) == batch) continue;
    nser++;
    tsdb__put_uvarint(serp, s->ref);
    size_t nl = labels_len(s->labels);
    tsdb__put_uvarint(serp, nl);
    for (size_t j = 0; j < nl; j++) {
      const label_t *l = labels_at(s->labels, j);
      size_t ln = strlen(l->name), lv = strlen(l->value);
      tsdb__put_uvarint(serp, ln);
      strbuf_append(serp, l->name, ln);
      tsdb__put_uvarint(serp, lv);
      strbuf_append(serp, l->value, lv);
    }
  }
  tsdb__put_uvarint(recp, nser);
  if (serp->len) strbuf_append(recp, serp->data, serp->len);
  tsdb__put_uvarint(recp, a->n);
  int64_t base = a->p[0].t;
  tsdb__put_varint(recp, base);
  for (size_t i = 0; i < a->n; i++) {
    tsdb__put_uvarint(recp, a->p[i].s->ref);
    tsdb__put_varint(recp, (int64_t)((uint64_t)a->p[i].t - (uint64_t)base));
    put_f64(recp, a->p[i].v);
  }
  rc = tsdb__wal_log(db->wal, WAL_REC_BATCH, (const uint8_t *)recp->data, recp->len,
                     err, errlen);
  if (rc != 0) {
    pthread_rwlock_unlock(&db->gc_mu);
    goto done;
  }
  uint64_t applied = 0;
  for (size_t i = 0; i < a->n; i++) {
    atomic_store(&a->p[i].s->logged, true);
    if (tsdb__head_append_sample(db->head, a->p[i].s, a->p[i].t, a->p[i].v) == 0)
      applied++;
  }
  atomic_fetch_add(&db->samples_appended, applied);
  pthread_rwlock_unlock(&db->gc_mu);
done:
  appender_release(a);
  return rc;
}

void tsdb_appender_rollback(tsdb_appender_t *a) {
  if (a == NULL) return;
  appender_release(a);
}

void tsdb_get_stats(tsdb_t *db, tsdb_stats_t *st) {
  memset(st, 0, sizeof *st);
  tsdb__head_stats(db->head, st);
  st->head_samples_appended = atomic_load(&db->samples_appended);
  st->wal_bytes = tsdb__wal_bytes(db->wal);
  tsdb__blocks_stats(db, st);
}

void tsdb_get_cardinality(tsdb_t *db, size_t limit, tsdb_cardinality_t *out) {
  memset(out, 0, sizeof *out);
  tsdb__head_cardinality(db->head, limit, out);
}

static void free_counts(tsdb_count_t *v, size_t n) {
  for (size_t i = 0; i < n; i++) free(v[i].name);
  free(v);
}

void tsdb_cardinality_free(tsdb_cardinality_t *c) {
  free_counts(c->series_by_metric, c->nseries_by_metric);
  free_counts(c->values_by_label, c->nvalues_by_label);
  free_counts(c->memory_by_label, c->nmemory_by_label);
  free_counts(c->series_by_pair, c->nseries_by_pair);
  memset(c, 0, sizeof *c);
}

/*
 * ---- the head snapshot, written on a clean close, so that
 * the next open replays only the WAL written after it (Prometheus's
 * memory-snapshot-on-shutdown).
 *
 * The snapshot holds every series with its reference and labels, the
 * references of its cut chunks in chunks_head/, its open chunk's bytes and
 * its out-of-order samples; plus the WAL position and the chunks_head/
 * position it covers.  Opening from it reads no chunk data: chunks_head/ is
 * cut back to the recorded position (what was written after it, the WAL
 * after the position rebuilds) and mapped.  It is written to head_snapshot.tmp,
 * fsynced, renamed over head_snapshot and the directory fsynced; the
 * chunks_head/ segments it relies on are fsynced first.  The file stays
 * after open: it remains valid, with the WAL after its position, until a
 * checkpoint replaces its WAL segment (then the open falls back to the
 * full replay).
 *
 * File <db>/head_snapshot:
 *
 *   OFFSET  SIZE  DESCRIPTION
 *   0       8     magic "PHSNAP" 0x00 0x01 (version 1)
 *   8       4     WAL segment number, little endian
 *   12      8     WAL offset in that segment
 *   20      4     chunks_head segment number (0: no chunks)
 *   24      8     chunks_head offset in that segment
 *   32      8     next series reference
 *   40      8     truncation bound (min valid time, ms; zigzag not used:
 *                 two's complement little endian)
 *   48      8     number of series records n
 *   56      ...   n series records
 *   end-4   4     CRC-32C of every byte before it
 *
 * Series record (varints are LEB128, signed ones zigzag):
 *
 *   uvarint ref, uvarint label count k, k x (uvarint len, name bytes,
 *   uvarint len, value bytes), 1 byte flags (bit 0: its series record is in
 *   the WAL; bit 1: value bits below are known), 8 bytes value bits of the
 *   newest sample (little endian), uvarint cut chunk count c, c x (uvarint
 *   segment, uvarint offset, varint mint, uvarint maxt - mint, uvarint
 *   sample count), uvarint open chunk length L, L bytes, uvarint
 *   out-of-order count m, m x (varint t, 8 bytes value bits).
 */
#define SNAP_HEADER 56
static const uint8_t snap_magic[8] = {'P', 'H', 'S', 'N', 'A', 'P', 0, 1};


/* ---- writing --------------------------------------------------------------- */

typedef struct snap_writer {
  int fd;
  uint32_t crc;
  int err;
} snap_writer_t;

static void sw_flush(snap_writer_t *w, strbuf_t *b) {
  if (b->len == 0 || w->err) {
    strbuf_reset(b);
    return;
  }
  w->crc = tsdb__crc32c(w->crc, b->data, b->len);
  size_t off = 0;
  while (off < b->len) {
    ssize_t n = write(w->fd, b->data + off, b->len - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      w->err = (n < 0 && errno == ENOSPC) || n == 0 ? PH_ENOSPC : PH_EIO;
      break;
    }
    off += (size_t)n;
  }
  strbuf_reset(b);
}

static void put_series(strbuf_t *b, head_series_t *s) {
  tsdb__put_uvarint(b, s->ref);
  size_t nl = labels_len(s->labels);
  tsdb__put_uvarint(b, nl);
  for (size_t j = 0; j < nl; j++) {
    const label_t *l = labels_at(s->labels, j);
    size_t a = strlen(l->name), c = strlen(l->value);
    tsdb__put_uvarint(b, a);
    strbuf_append(b, l->name, a);
    tsdb__put_uvarint(b, c);
    strbuf_append(b, l->value, c);
  }
  uint8_t tmp[8];
  tsdb__lock(&s->lk);
  uint8_t flags = (uint8_t)((atomic_load(&s->logged) ? 1 : 0) | (s->last_v_known ? 2 : 0));
  strbuf_append(b, &flags, 1);
  tsdb__put_le64(tmp, s->last_v_bits);
  strbuf_append(b, tmp, 8);
  tsdb__put_uvarint(b, s->nmm);
  for (uint32_t i = 0; i < s->nmm; i++) {
    const head_mmchunk_t *m = &s->mm[i];
    tsdb__put_uvarint(b, m->seq);
    tsdb__put_uvarint(b, m->off);
    tsdb__put_varint(b, m->mint);
    tsdb__put_uvarint(b, m->maxt_delta);
    tsdb__put_uvarint(b, m->count);
  }
  if (chunk_xor_num_samples(&s->open) > 0) {
    size_t len;
    const uint8_t *bytes = chunk_xor_bytes(&s->open, &len);
    tsdb__put_uvarint(b, len);
    strbuf_append(b, bytes, len);
  } else {
    tsdb__put_uvarint(b, 0);
  }
  uint32_t no = s->ooo ? s->ooo->n : 0;
  tsdb__put_uvarint(b, no);
  for (uint32_t i = 0; i < no; i++) {
    tsdb__put_varint(b, s->ooo->s[i].t);
    uint64_t bits;
    memcpy(&bits, &s->ooo->s[i].v, 8);
    tsdb__put_le64(tmp, bits);
    strbuf_append(b, tmp, 8);
  }
  tsdb__unlock(&s->lk);
}

int tsdb__snapshot_write(tsdb_t *db, char *err, size_t errlen) {
  char final[4200], tmp[4300];
  snprintf(final, sizeof final, "%s/head_snapshot", db->path);
  snprintf(tmp, sizeof tmp, "%s.tmp", final);
  /* the chunks it relies on must be on disk before it is */
  int rc = tsdb__hchunks_sync(db->hchunks);
  if (rc != 0) return ph_err(err, errlen, rc, "fsync chunks_head: %s", strerror(errno));
  snap_writer_t w = {.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
  if (w.fd < 0) return ph_err(err, errlen, PH_EIO, "create %s: %s", tmp, strerror(errno));
  head_series_t **all;
  size_t n;
  tsdb__head_all_series(db->head, &all, &n);
  wal_pos_t wp;
  tsdb__wal_position(db->wal, &wp);
  uint32_t cseq;
  uint64_t coff;
  tsdb__hchunks_position(db->hchunks, &cseq, &coff);
  uint8_t hdr[SNAP_HEADER];
  memcpy(hdr, snap_magic, 8);
  tsdb__put_le32(hdr + 8, wp.seq);
  tsdb__put_le64(hdr + 12, wp.off);
  tsdb__put_le32(hdr + 20, cseq);
  tsdb__put_le64(hdr + 24, coff);
  tsdb__put_le64(hdr + 32, tsdb__head_next_ref(db->head));
  tsdb__put_le64(hdr + 40, (uint64_t)tsdb__head_min_valid(db->head));
  tsdb__put_le64(hdr + 48, n);
  strbuf_t b = STRBUF_INIT;
  strbuf_append(&b, hdr, sizeof hdr);
  for (size_t i = 0; i < n && w.err == 0; i++) {
    put_series(&b, all[i]);
    if (b.len >= (1u << 20)) sw_flush(&w, &b);
  }
  free(all);
  sw_flush(&w, &b);
  uint8_t tr[4];
  tsdb__put_le32(tr, w.crc);
  strbuf_append(&b, tr, 4);
  w.crc = 0;
  sw_flush(&w, &b);
  strbuf_free(&b);
  if (w.err == 0 && fsync(w.fd) != 0) w.err = PH_EIO;
  close(w.fd);
  if (w.err == 0 && rename(tmp, final) != 0) w.err = PH_EIO;
  if (w.err != 0) {
    unlink(tmp);
    return ph_err(err, errlen, w.err, "write head snapshot %s failed", final);
  }
  tsdb__fsync_dir(db->path);
  return 0;
}

void tsdb__snapshot_remove(const char *dbdir) {
  char p[4200];
  snprintf(p, sizeof p, "%s/head_snapshot.tmp", dbdir);
  unlink(p);
}

/* ---- reading --------------------------------------------------------------- */

struct snapshot {
  uint8_t *map;
  size_t size;
  snapshot_info_t info;
};

int tsdb__snapshot_open(const char *dbdir, snapshot_t **out, char *err, size_t errlen) {
  char path[4200];
  snprintf(path, sizeof path, "%s/head_snapshot", dbdir);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? PH_ENOTFOUND : ph_err(err, errlen, PH_EIO, "open %s: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || (size_t)st.st_size < SNAP_HEADER + 4) {
    close(fd);
    return ph_err(err, errlen, PH_ECORRUPT, "%s: too short", path);
  }
  size_t size = (size_t)st.st_size;
  uint8_t *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (m == MAP_FAILED) return ph_err(err, errlen, PH_EIO, "map %s: %s", path, strerror(errno));
  if (memcmp(m, snap_magic, 8) != 0 ||
      tsdb__crc32c(0, m, size - 4) != tsdb__get_le32(m + size - 4)) {
    munmap(m, size);
    return ph_err(err, errlen, PH_ECORRUPT, "%s: bad magic or checksum", path);
  }
  snapshot_t *s = ph_calloc(1, sizeof(*s));
  s->map = m;
  s->size = size;
  s->info.wal.seq = tsdb__get_le32(m + 8);
  s->info.wal.off = tsdb__get_le64(m + 12);
  s->info.chunk_seq = tsdb__get_le32(m + 20);
  s->info.chunk_off = tsdb__get_le64(m + 24);
  s->info.next_ref = tsdb__get_le64(m + 32);
  s->info.min_valid = (int64_t)tsdb__get_le64(m + 40);
  s->info.nseries = tsdb__get_le64(m + 48);
  *out = s;
  return 0;
}

const snapshot_info_t *tsdb__snapshot_info(const snapshot_t *s) { return &s->info; }

void tsdb__snapshot_close(snapshot_t *s) {
  if (s == NULL) return;
  munmap(s->map, s->size);
  free(s);
}

#define NEED(k) \
  do {          \
    if ((k) == 0) goto bad; \
    off += (k); \
  } while (0)

int tsdb__snapshot_load(snapshot_t *sn, tsdb_t *db, uint64_t *nseries, char *err,
                        size_t errlen) {
  const uint8_t *p = sn->map;
  size_t n = sn->size - 4, off = SNAP_HEADER;
  head_t *h = db->head;
  label_t stackpairs[64];
  label_t *pairs = stackpairs;
  size_t pairs_cap = 64;
  uint64_t done = 0;
  size_t k;
  char *scratch = NULL; /* label strings, NUL-terminated, reused */
  size_t scratch_cap = 0;
  tsdb__head_set_next_ref(h, sn->info.next_ref);
  for (; done < sn->info.nseries; done++) {
    uint64_t ref, nl;
    NEED(k = tsdb__get_uvarint(p + off, n - off, &ref));
    NEED(k = tsdb__get_uvarint(p + off, n - off, &nl));
    if (ref == 0 || nl == 0 || nl > (n - off) / 2) goto bad;
    if (nl > pairs_cap) {
      if (pairs != stackpairs) free(pairs);
      pairs = ph_malloc(nl * sizeof(label_t));
      pairs_cap = nl;
    }
    /* strings are not NUL-terminated in the file: copy them into one
     * scratch buffer */
    size_t start = off;
    size_t total = 0;
    for (uint64_t j = 0; j < nl * 2; j++) {
      uint64_t len;
      NEED(k = tsdb__get_uvarint(p + off, n - off, &len));
      if (len > n - off) goto bad;
      off += len;
      total += len + 1;
    }
    if (total > scratch_cap) {
      free(scratch);
      scratch_cap = total * 2;
      scratch = ph_malloc(scratch_cap);
    }
    char *strs = scratch;
    size_t so = 0;
    off = start;
    for (uint64_t j = 0; j < nl * 2; j++) {
      uint64_t len;
      off += tsdb__get_uvarint(p + off, n - off, &len);
      memcpy(strs + so, p + off, len);
      strs[so + len] = '\0';
      if (j % 2 == 0) pairs[j / 2].name = strs + so;
      else pairs[j / 2].value = strs + so;
      so += len + 1;
      off += len;
    }
    labels_t *ls = labels_new(NULL, pairs, nl, NULL, 0);
    if (ls == NULL) goto bad;
    bool created;
    head_series_t *s = tsdb__head_get_or_create(h, ls, ref, &created);
    labels_free(ls);
    if (!created || s->ref != ref) goto bad;
    if (n - off < 9) goto bad;
    uint8_t flags = p[off];
    atomic_store(&s->logged, (flags & 1) != 0);
    s->last_v_known = (flags & 2) != 0;
    s->last_v_bits = tsdb__get_le64(p + off + 1);
    off += 9;
    uint64_t nmm;
    NEED(k = tsdb__get_uvarint(p + off, n - off, &nmm));
    if (nmm > (n - off) / 5) goto bad;
    if (nmm > 0) {
      s->mm = ph_malloc(nmm * sizeof(*s->mm));
      int64_t bound = tsdb__head_min_valid(h), last = INT64_MIN;
      for (uint64_t i = 0; i < nmm; i++) {
        uint64_t seq, coff, delta, count;
        int64_t mint;
        NEED(k = tsdb__get_uvarint(p + off, n - off, &seq));
        NEED(k = tsdb__get_uvarint(p + off, n - off, &coff));
        NEED(k = tsdb__get_varint(p + off, n - off, &mint));
        NEED(k = tsdb__get_uvarint(p + off, n - off, &delta));
        NEED(k = tsdb__get_uvarint(p + off, n - off, &count));
        if (seq > UINT32_MAX || coff > UINT32_MAX || delta > UINT32_MAX || count == 0 ||
            count > UINT16_MAX || mint <= last)
          goto bad;
        head_mmchunk_t m = {.mint = mint, .maxt_delta = (uint32_t)delta,
                            .seq = (uint32_t)seq, .off = (uint32_t)coff,
                            .count = (uint16_t)count};
        last = head_mmchunk_maxt(&m);
        if (last < bound) continue; /* in a block already */
        if (!tsdb__hchunks_note(db->hchunks, &m)) goto bad;
        s->mm[s->nmm++] = m;
      }
      if (s->nmm == 0) {
        free(s->mm);
        s->mm = NULL;
      }
    }
    uint64_t olen;
    NEED(k = tsdb__get_uvarint(p + off, n - off, &olen));
    if (olen > n - off) goto bad;
    if (olen > 0) {
      if (chunk_xor_load(&s->open, p + off, olen) != 0) goto bad;
      off += olen;
    }
    uint64_t no;
    NEED(k = tsdb__get_uvarint(p + off, n - off, &no));
    if (no > (n - off) / 9) goto bad;
    if (no > 0) {
      s->ooo = ph_malloc(sizeof(head_ooo_t) + no * sizeof(ooo_sample_t));
      s->ooo->n = s->ooo->cap = (uint32_t)no;
      for (uint64_t i = 0; i < no; i++) {
        int64_t t;
        NEED(k = tsdb__get_varint(p + off, n - off, &t));
        if (n - off < 8) goto bad;
        uint64_t bits = tsdb__get_le64(p + off);
        off += 8;
        s->ooo->s[i].t = t;
        memcpy(&s->ooo->s[i].v, &bits, 8);
      }
    }
    tsdb__head_restored(h, s);
  }
  if (off != n) goto bad;
  if (pairs != stackpairs) free(pairs);
  free(scratch);
  *nseries = done;
  return 0;
bad:
  if (pairs != stackpairs) free(pairs);
  free(scratch);
  return ph_err(err, errlen, PH_ECORRUPT, "head snapshot: series record %llu is malformed",
                (unsigned long long)done);
}
