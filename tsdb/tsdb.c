/*
 * tsdb.c - opening and closing the database, appenders, stats.
 *
 * Directory layout:
 *   <path>/lock        flock()ed while a process has the database open
 *   <path>/wal/        write-ahead log segments (wal.c)
 *
 * An appender buffers (series, t, v) triples after checking each against
 * the series' committed state, so errors are reported per sample at add
 * time.  Commit encodes one WAL batch record (series records for series
 * not yet in the WAL, then the samples) and writes it; only when that
 * write succeeded are the samples applied to the head and visible.  A WAL
 * failure (full disk) fails the commit and applies nothing, so a retry
 * later neither loses nor duplicates data.
 *
 * Replay on open feeds the WAL's records back through the same head
 * functions.  A series logged twice (two appenders racing to log a new
 * series) maps the second reference onto the first.
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

typedef struct replay_state {
  tsdb_t *db;
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

static void replay_series(void *ud, uint64_t ref, const labels_t *ls) {
  replay_state_t *r = ud;
  bool created;
  head_series_t *s = tsdb__head_get_or_create(r->db->head, ls, ref, &created);
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
  db->head = tsdb__head_new(db, db->opt.block_range_ms, db->opt.ooo_window_ms);
  rc = tsdb__load_blocks(db, err, errlen);
  if (rc != 0) goto fail;
  rc = tsdb__tombstones_load(db, err, errlen);
  if (rc != 0) goto fail;
  /* samples older than the newest block are in blocks already: replay and
   * appends treat them as out of bounds */
  int64_t bmax = tsdb__blocks_maxt(db);
  if (bmax != INT64_MIN) tsdb__head_truncate(db->head, bmax);

  replay_state_t rs = {.db = db};
  wal_replay_cb_t cb = {replay_series, replay_sample, &rs};
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  tsdb__head_set_replaying(db->head, true);
  rc = tsdb__wal_open(db->path, db->opt.wal_fsync, db->opt.wal_segment_bytes, &cb,
                      &db->wal, err, errlen);
  tsdb__head_set_replaying(db->head, false);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  free(rs.alias);
  free(rs.by_ref);
  if (rc != 0) goto fail;
  if (rs.series || rs.samples) {
    char ns[32], nsm[32], nrej[32], dur[32];
    snprintf(ns, sizeof ns, "%llu", (unsigned long long)rs.series);
    snprintf(nsm, sizeof nsm, "%llu", (unsigned long long)rs.samples);
    snprintf(nrej, sizeof nrej, "%llu", (unsigned long long)rs.rejected);
    snprintf(dur, sizeof dur, "%.3fs",
             (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    log_info("WAL replay completed", "series", ns, "samples", nsm, "rejected",
             nrej, "duration", dur);
  }
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
  tsdb__wal_close(db->wal);
  tsdb__head_free(db->head);
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
  free(db->path);
  free(db);
}

/* ---- appenders ----------------------------------------------------------- */

typedef struct pending {
  head_series_t *s;
  int64_t t;
  double v;
} pending_t;

struct tsdb_appender {
  tsdb_t *db;
  pending_t *p; /* owned */
  size_t n, cap;
};

tsdb_appender_t *tsdb_appender_new(tsdb_t *db) {
  tsdb_appender_t *a = ph_calloc(1, sizeof(*a));
  a->db = db;
  return a;
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
  strbuf_t rec = STRBUF_INIT, ser = STRBUF_INIT;
  size_t nser = 0;
  uint64_t batch = atomic_fetch_add(&db->next_batch, 1) + 1;
  for (size_t i = 0; i < a->n; i++) {
    head_series_t *s = a->p[i].s;
    if (atomic_load(&s->logged)) continue;
    /* once per series in this batch */
    if (atomic_exchange(&s->batch, batch) == batch) continue;
    nser++;
    tsdb__put_uvarint(&ser, s->ref);
    size_t nl = labels_len(s->labels);
    tsdb__put_uvarint(&ser, nl);
    for (size_t j = 0; j < nl; j++) {
      const label_t *l = labels_at(s->labels, j);
      size_t ln = strlen(l->name), lv = strlen(l->value);
      tsdb__put_uvarint(&ser, ln);
      strbuf_append(&ser, l->name, ln);
      tsdb__put_uvarint(&ser, lv);
      strbuf_append(&ser, l->value, lv);
    }
  }
  tsdb__put_uvarint(&rec, nser);
  if (ser.len) strbuf_append(&rec, ser.data, ser.len);
  strbuf_free(&ser);
  tsdb__put_uvarint(&rec, a->n);
  int64_t base = a->p[0].t;
  tsdb__put_varint(&rec, base);
  for (size_t i = 0; i < a->n; i++) {
    tsdb__put_uvarint(&rec, a->p[i].s->ref);
    tsdb__put_varint(&rec, (int64_t)((uint64_t)a->p[i].t - (uint64_t)base));
    put_f64(&rec, a->p[i].v);
  }
  rc = tsdb__wal_log(db->wal, WAL_REC_BATCH, (const uint8_t *)rec.data, rec.len,
                     err, errlen);
  strbuf_free(&rec);
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
  free(a->p);
  free(a);
  return rc;
}

void tsdb_appender_rollback(tsdb_appender_t *a) {
  if (a == NULL) return;
  free(a->p);
  free(a);
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
