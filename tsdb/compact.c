/*
 * compact.c - background maintenance: cutting the head into blocks,
 * checkpointing the WAL, compacting blocks, applying retention, and the
 * list of open blocks.
 *
 * Cut.  When the head spans more than 1.5 block ranges, its oldest
 * block-range window [start, start+range) is written as a level-1 block,
 * the head drops that data (samples older than the window's end are out of
 * bounds from then on) and the WAL is checkpointed: a new segment starts,
 * the series and samples still in the head go into checkpoint.N, and the
 * segments up to N are deleted.  A crash between any two steps is safe:
 * the block is complete or absent (written as <id>.tmp, then renamed); the
 * old WAL stays until the checkpoint replacing it is durable; replaying
 * samples that are already in a block is harmless because replay skips
 * samples older than the newest block's end.
 *
 * Compaction.  Blocks inside one aligned window of 3 or 12 block ranges
 * (2h -> 6h -> 24h by default), capped at a tenth of the retention time,
 * are merged into one block of a higher level once the window is complete.
 * The new block lists its sources; on open, a block named as a source of
 * another is left over from a compaction that crashed before cleaning up,
 * and is deleted.
 *
 * Retention.  Blocks that end before (newest sample - retention time) are
 * deleted; then, while blocks + WAL exceed the size limit, the oldest
 * block is.  Deleting renames the directory to <id>.deleted (atomic)
 * before removing it, so a crash never leaves a half-deleted block that
 * looks like a corrupt one.  Queriers hold references: a deleted block's
 * files go when the last querier using it closes.
 */
#include "tsdb_int.h"

#include "log.h"
#include "mem.h"
#include "ph_error.h"
#include "timeparse.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static bool is_ulid(const char *s) {
  if (strlen(s) != 26) return false;
  for (int i = 0; i < 26; i++)
    if (!strchr("0123456789ABCDEFGHJKMNPQRSTVWXYZ", s[i])) return false;
  return true;
}

static int cmp_block_mint(const void *a, const void *b) {
  const block_t *x = *(block_t *const *)a, *y = *(block_t *const *)b;
  int64_t p = tsdb__block_mint(x), q = tsdb__block_mint(y);
  if (p != q) return p < q ? -1 : 1;
  return strcmp(tsdb__block_id(x), tsdb__block_id(y));
}

/* Called with blocks_mu held. */
static void sort_blocks(tsdb_t *db) {
  if (db->nblocks > 1) qsort(db->blocks, db->nblocks, sizeof(block_t *), cmp_block_mint);
}

static void delete_block(tsdb_t *db, block_t *b) {
  char moved[4200];
  snprintf(moved, sizeof moved, "%s.deleted", tsdb__block_dir(b));
  if (rename(tsdb__block_dir(b), moved) == 0) {
    tsdb__fsync_dir(db->path);
    tsdb__rmdir_r(moved);
  } else {
    tsdb__block_mark_deleted(b);
  }
}

/* Removes block i from the list and deletes it (blocks_mu held). */
static void drop_block_locked(tsdb_t *db, size_t i, const char *why) {
  block_t *b = db->blocks[i];
  memmove(db->blocks + i, db->blocks + i + 1, (db->nblocks - i - 1) * sizeof(block_t *));
  db->nblocks--;
  log_info("Deleting block", "block", tsdb__block_id(b), "reason", why);
  delete_block(db, b);
  tsdb__block_unref(b);
}

int tsdb__load_blocks(tsdb_t *db, char *err, size_t errlen) {
  (void)err;
  (void)errlen;
  DIR *d = opendir(db->path);
  if (d == NULL) return 0;
  struct dirent *de;
  char p[4200];
  while ((de = readdir(d)) != NULL) {
    const char *name = de->d_name;
    size_t len = strlen(name);
    if (len > 26) {
      /* leftovers of a crash: <id>.tmp (unfinished write), <id>.deleted */
      char head[27];
      memcpy(head, name, 26);
      head[26] = '\0';
      if (is_ulid(head) && ((len == 30 && strcmp(name + 26, ".tmp") == 0) ||
                            (len == 34 && strcmp(name + 26, ".deleted") == 0))) {
        snprintf(p, sizeof p, "%s/%s", db->path, name);
        tsdb__rmdir_r(p);
        continue;
      }
    }
    if (!is_ulid(name)) continue;
    block_t *b;
    char berr[512];
    if (tsdb__block_open(db->path, name, &b, berr, sizeof berr) != 0) {
      char from[4200], to[4300];
      snprintf(from, sizeof from, "%s/%s", db->path, name);
      snprintf(to, sizeof to, "%s.corrupt", from);
      log_error("Block is corrupt; moved aside", "err", berr, "moved_to", to);
      rename(from, to);
      continue;
    }
    ph_grow(&db->blocks, &db->blocks_cap, db->nblocks + 1);
    db->blocks[db->nblocks++] = b;
  }
  closedir(d);
  /* blocks that another block was compacted from */
  for (size_t i = 0; i < db->nblocks;) {
    bool obsolete = false;
    for (size_t j = 0; j < db->nblocks && !obsolete; j++) {
      if (i == j) continue;
      char *const *src;
      size_t ns = tsdb__block_sources(db->blocks[j], &src);
      for (size_t k = 0; k < ns; k++)
        if (strcmp(src[k], tsdb__block_id(db->blocks[i])) == 0 &&
            strcmp(src[k], tsdb__block_id(db->blocks[j])) != 0)
          obsolete = true;
    }
    if (obsolete) drop_block_locked(db, i, "compacted into another block");
    else i++;
  }
  sort_blocks(db);
  return 0;
}

void tsdb__blocks_snapshot(tsdb_t *db, int64_t mint, int64_t maxt, block_t ***out,
                           size_t *n) {
  pthread_mutex_lock(&db->blocks_mu);
  block_t **v = ph_malloc((db->nblocks ? db->nblocks : 1) * sizeof(*v));
  size_t k = 0;
  for (size_t i = 0; i < db->nblocks; i++) {
    block_t *b = db->blocks[i];
    if (tsdb__block_maxt(b) <= mint || tsdb__block_mint(b) > maxt) continue;
    tsdb__block_ref(b);
    v[k++] = b;
  }
  pthread_mutex_unlock(&db->blocks_mu);
  *out = v;
  *n = k;
}

int64_t tsdb__blocks_maxt(tsdb_t *db) {
  pthread_mutex_lock(&db->blocks_mu);
  int64_t m = INT64_MIN;
  for (size_t i = 0; i < db->nblocks; i++)
    if (tsdb__block_maxt(db->blocks[i]) > m) m = tsdb__block_maxt(db->blocks[i]);
  pthread_mutex_unlock(&db->blocks_mu);
  return m;
}

static int add_block(tsdb_t *db, const char *id, char *err, size_t errlen) {
  block_t *b;
  int rc = tsdb__block_open(db->path, id, &b, err, errlen);
  if (rc != 0) return rc;
  pthread_mutex_lock(&db->blocks_mu);
  ph_grow(&db->blocks, &db->blocks_cap, db->nblocks + 1);
  db->blocks[db->nblocks++] = b;
  sort_blocks(db);
  pthread_mutex_unlock(&db->blocks_mu);
  return 0;
}

/* ---- cutting the head ------------------------------------------------------- */

typedef struct cut_ctx {
  tsdb_t *db;
  head_series_t **series;
  int64_t mint, maxt;
  int64_t *ts;
  double *vs;
  size_t cap;
} cut_ctx_t;

static int cut_samples(void *ud, size_t i, const int64_t **ts, const double **v,
                       size_t *n) {
  cut_ctx_t *c = ud;
  tsdb__head_series_samples(c->series[i], c->mint, c->maxt, &c->ts, &c->vs, &c->cap, n);
  tomb_interval_t iv[16];
  size_t niv = tsdb__tombstones_for(c->db, c->series[i]->labels, iv, 16);
  *n = tsdb__tombstones_filter(iv, niv < 16 ? niv : 16, c->ts, c->vs, *n);
  *ts = c->ts;
  *v = c->vs;
  return 0;
}

static int cmp_series_labels(const void *a, const void *b) {
  return labels_cmp((*(head_series_t *const *)a)->labels,
                    (*(head_series_t *const *)b)->labels);
}

/* Writes the series and samples still in the head into a WAL checkpoint. */
static int checkpoint(tsdb_t *db, char *err, size_t errlen) {
  wal_ckpt_t *ck;
  int rc = tsdb__wal_checkpoint_begin(db->wal, &ck, err, errlen);
  if (rc != 0) return rc;
  head_series_t **all;
  size_t n;
  tsdb__head_all_series(db->head, &all, &n);
  int64_t *ts = NULL;
  double *vs = NULL;
  size_t cap = 0;
  strbuf_t rec = STRBUF_INIT, body = STRBUF_INIT;
  for (size_t i = 0; i < n && rc == 0; i++) {
    head_series_t *s = all[i];
    size_t ns;
    tsdb__head_series_samples(s, INT64_MIN, INT64_MAX, &ts, &vs, &cap, &ns);
    strbuf_reset(&rec);
    tsdb__put_uvarint(&rec, 1);
    tsdb__put_uvarint(&rec, s->ref);
    size_t nl = labels_len(s->labels);
    tsdb__put_uvarint(&rec, nl);
    for (size_t j = 0; j < nl; j++) {
      const label_t *l = labels_at(s->labels, j);
      size_t a = strlen(l->name), b = strlen(l->value);
      tsdb__put_uvarint(&rec, a);
      strbuf_append(&rec, l->name, a);
      tsdb__put_uvarint(&rec, b);
      strbuf_append(&rec, l->value, b);
    }
    tsdb__put_uvarint(&rec, ns);
    if (ns > 0) {
      tsdb__put_varint(&rec, ts[0]);
      for (size_t k = 0; k < ns; k++) {
        tsdb__put_uvarint(&rec, s->ref);
        tsdb__put_varint(&rec, (int64_t)((uint64_t)ts[k] - (uint64_t)ts[0]));
        uint64_t bits;
        memcpy(&bits, &vs[k], 8);
        uint8_t b8[8];
        for (int q = 0; q < 8; q++) b8[q] = (uint8_t)(bits >> (8 * q));
        strbuf_append(&rec, b8, 8);
      }
    }
    rc = tsdb__wal_checkpoint_add(ck, (const uint8_t *)rec.data, rec.len);
  }
  strbuf_free(&rec);
  strbuf_free(&body);
  free(ts);
  free(vs);
  free(all);
  int frc = tsdb__wal_checkpoint_finish(ck, rc == 0, err, errlen);
  return rc != 0 ? rc : frc;
}

static int cut_block(tsdb_t *db, int64_t start, int64_t end, char *err, size_t errlen) {
  head_series_t **all;
  size_t n;
  tsdb__head_all_series(db->head, &all, &n);
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    int64_t smin, smax;
    if (!tsdb__head_series_range(all[i], &smin, &smax)) continue;
    if (smax < start || smin >= end) continue;
    all[k++] = all[i];
  }
  if (k > 1) qsort(all, k, sizeof(*all), cmp_series_labels);
  labels_t **labels = ph_malloc((k ? k : 1) * sizeof(labels_t *));
  for (size_t i = 0; i < k; i++) labels[i] = all[i]->labels;
  cut_ctx_t ctx = {db, all, start, end, NULL, NULL, 0};
  block_input_t in = {
      .mint = start, .maxt = end, .created_ms = ph_now_ms(), .level = 1,
      .labels = labels, .nseries = k, .samples = cut_samples, .ud = &ctx,
  };
  char id[27];
  int rc = k > 0 ? tsdb__block_write(db->path, &in, id, err, errlen) : 0;
  free(ctx.ts);
  free(ctx.vs);
  free(labels);
  free(all);
  if (rc != 0) return rc;
  if (k > 0) {
    rc = add_block(db, id, err, errlen);
    if (rc != 0) return rc;
    char span[64];
    snprintf(span, sizeof span, "%lld-%lld", (long long)start, (long long)end);
    log_info("Head block written", "block", id, "range_ms", span);
  }
  pthread_rwlock_wrlock(&db->gc_mu);
  tsdb__head_truncate(db->head, end);
  pthread_rwlock_unlock(&db->gc_mu);
  return checkpoint(db, err, errlen);
}

/* ---- compaction --------------------------------------------------------------- */

typedef struct merge_src {
  labels_t *labels;   /* owned */
  size_t block;       /* index into the plan's blocks */
  uint32_t ord;
} merge_src_t;

typedef struct merge_ctx {
  tsdb_t *db;
  block_t **blocks;
  merge_src_t *src;   /* sorted by labels, then block */
  size_t *first;      /* first src index of output series i; first[n] = nsrc */
  int64_t *ts;
  double *vs;
  size_t cap;
} merge_ctx_t;

static int merge_samples(void *ud, size_t i, const int64_t **ts, const double **v,
                         size_t *n) {
  merge_ctx_t *c = ud;
  *n = 0;
  for (size_t s = c->first[i]; s < c->first[i + 1]; s++) {
    block_t *b = c->blocks[c->src[s].block];
    block_rec_t *recs;
    size_t nrecs;
    int rc = tsdb__block_series(b, c->src[s].ord, NULL, &recs, &nrecs);
    if (rc != 0) return rc;
    for (size_t r = 0; r < nrecs; r++) {
      int64_t *rt;
      double *rv;
      size_t rn;
      char err[256];
      rc = tsdb__block_read_record(b, &recs[r], &rt, &rv, &rn, err, sizeof err);
      if (rc != 0) {
        free(recs);
        return rc;
      }
      size_t oldcap = c->cap;
      ph_grow(&c->ts, &c->cap, *n + rn);
      if (c->cap != oldcap) c->vs = ph_realloc(c->vs, c->cap * sizeof(double));
      for (size_t q = 0; q < rn; q++) {
        if (*n > 0 && rt[q] <= c->ts[*n - 1]) continue;
        c->ts[*n] = rt[q];
        c->vs[(*n)++] = rv[q];
      }
      free(rt);
      free(rv);
    }
    free(recs);
  }
  tomb_interval_t iv[16];
  size_t niv = tsdb__tombstones_for(c->db, c->src[c->first[i]].labels, iv, 16);
  *n = tsdb__tombstones_filter(iv, niv < 16 ? niv : 16, c->ts, c->vs, *n);
  *ts = c->ts;
  *v = c->vs;
  return 0;
}

static int cmp_src(const void *a, const void *b) {
  const merge_src_t *x = a, *y = b;
  int c = labels_cmp(x->labels, y->labels);
  if (c != 0) return c;
  return x->block < y->block ? -1 : x->block > y->block;
}

static int compact_blocks(tsdb_t *db, block_t **blocks, size_t nb, int64_t mint,
                          int64_t maxt, char *err, size_t errlen) {
  merge_src_t *src = NULL;
  size_t nsrc = 0, cap = 0;
  int rc = 0;
  for (size_t i = 0; i < nb && rc == 0; i++) {
    uint64_t ns = tsdb__block_nseries(blocks[i]);
    for (uint64_t o = 0; o < ns; o++) {
      labels_t *ls;
      rc = tsdb__block_series(blocks[i], (uint32_t)o, &ls, NULL, NULL);
      if (rc != 0) {
        ph_err(err, errlen, rc, "block %s: series %llu is corrupt", tsdb__block_id(blocks[i]),
               (unsigned long long)o);
        break;
      }
      ph_grow(&src, &cap, nsrc + 1);
      src[nsrc++] = (merge_src_t){ls, i, (uint32_t)o};
    }
  }
  if (rc == 0 && nsrc > 1) qsort(src, nsrc, sizeof(*src), cmp_src);
  size_t *first = ph_malloc((nsrc + 1) * sizeof(size_t));
  labels_t **labels = ph_malloc((nsrc ? nsrc : 1) * sizeof(labels_t *));
  size_t nout = 0;
  for (size_t i = 0; i < nsrc; i++) {
    if (i > 0 && labels_equal(src[i - 1].labels, src[i].labels)) continue;
    first[nout] = i;
    labels[nout++] = src[i].labels;
  }
  first[nout] = nsrc;
  size_t total_src = 0;
  for (size_t i = 0; i < nb; i++) {
    char *const *s;
    total_src += tsdb__block_sources(blocks[i], &s);
  }
  const char **ids = ph_malloc((total_src + 1) * sizeof(char *));
  size_t nids = 0;
  int level = 0;
  for (size_t i = 0; i < nb; i++) {
    char *const *s;
    size_t ns = tsdb__block_sources(blocks[i], &s);
    for (size_t k = 0; k < ns; k++) ids[nids++] = s[k];
    if (tsdb__block_level(blocks[i]) > level) level = tsdb__block_level(blocks[i]);
  }
  merge_ctx_t ctx = {db, blocks, src, first, NULL, NULL, 0};
  block_input_t in = {
      .mint = mint, .maxt = maxt, .created_ms = ph_now_ms(), .level = level + 1,
      .sources = ids, .nsources = nids, .labels = labels, .nseries = nout,
      .samples = merge_samples, .ud = &ctx,
  };
  char id[27];
  if (rc == 0) rc = tsdb__block_write(db->path, &in, id, err, errlen);
  free(ctx.ts);
  free(ctx.vs);
  for (size_t i = 0; i < nsrc; i++) labels_free(src[i].labels);
  free(src);
  free(first);
  free(labels);
  free(ids);
  if (rc != 0) return rc;
  rc = add_block(db, id, err, errlen);
  if (rc != 0) return rc;
  log_info("Compacted blocks", "block", id);
  /* the sources go */
  pthread_mutex_lock(&db->blocks_mu);
  for (size_t i = 0; i < nb; i++)
    for (size_t k = 0; k < db->nblocks; k++)
      if (db->blocks[k] == blocks[i]) {
        drop_block_locked(db, k, "compacted");
        break;
      }
  pthread_mutex_unlock(&db->blocks_mu);
  return 0;
}

/* Finds one group of blocks to compact; returns true and takes references. */
static bool plan(tsdb_t *db, block_t ***out, size_t *n, int64_t *wmint, int64_t *wmaxt) {
  int64_t r0 = db->opt.block_range_ms;
  int64_t ranges[2] = {3 * r0, 12 * r0};
  bool found = false;
  pthread_mutex_lock(&db->blocks_mu);
  int64_t newest = INT64_MIN;
  for (size_t i = 0; i < db->nblocks; i++)
    if (tsdb__block_maxt(db->blocks[i]) > newest) newest = tsdb__block_maxt(db->blocks[i]);
  for (int ri = 0; ri < 2 && !found; ri++) {
    int64_t R = ranges[ri];
    if (db->opt.retention_ms > 0 && R > db->opt.retention_ms / 10 && ri > 0) break;
    for (size_t i = 0; i < db->nblocks && !found; i++) {
      int64_t bm = tsdb__block_mint(db->blocks[i]);
      int64_t w = bm >= 0 ? bm / R * R : -((-bm + R - 1) / R) * R;
      if (w + R > newest) continue; /* window not complete yet */
      size_t cnt = 0;
      for (size_t j = 0; j < db->nblocks; j++)
        if (tsdb__block_mint(db->blocks[j]) >= w && tsdb__block_maxt(db->blocks[j]) <= w + R)
          cnt++;
      if (cnt < 2) continue;
      block_t **v = ph_malloc(cnt * sizeof(*v));
      size_t k = 0;
      for (size_t j = 0; j < db->nblocks; j++) {
        block_t *b = db->blocks[j];
        if (tsdb__block_mint(b) >= w && tsdb__block_maxt(b) <= w + R) {
          tsdb__block_ref(b);
          v[k++] = b;
        }
      }
      *out = v;
      *n = k;
      *wmint = w;
      *wmaxt = w + R;
      found = true;
    }
  }
  pthread_mutex_unlock(&db->blocks_mu);
  return found;
}

/* ---- retention ----------------------------------------------------------------- */

static void retention(tsdb_t *db) {
  tsdb_stats_t st;
  tsdb__head_stats(db->head, &st);
  pthread_mutex_lock(&db->blocks_mu);
  int64_t newest = st.head_max_time;
  for (size_t i = 0; i < db->nblocks; i++)
    if (tsdb__block_maxt(db->blocks[i]) > newest) newest = tsdb__block_maxt(db->blocks[i]);
  if (db->opt.retention_ms > 0 && newest != INT64_MIN) {
    for (size_t i = 0; i < db->nblocks;) {
      if (tsdb__block_maxt(db->blocks[i]) <= newest - db->opt.retention_ms)
        drop_block_locked(db, i, "retention time");
      else
        i++;
    }
  }
  if (db->opt.retention_bytes > 0) {
    uint64_t total = tsdb__wal_bytes(db->wal);
    for (size_t i = 0; i < db->nblocks; i++) total += tsdb__block_bytes(db->blocks[i]);
    while (total > db->opt.retention_bytes && db->nblocks > 0) {
      total -= tsdb__block_bytes(db->blocks[0]);
      drop_block_locked(db, 0, "retention size");
    }
  }
  pthread_mutex_unlock(&db->blocks_mu);
}

/* ---- the round ------------------------------------------------------------------ */

int tsdb_maintain(tsdb_t *db, char *err, size_t errlen) {
  pthread_mutex_lock(&db->maint_mu);
  int rc = 0;
  int64_t range = db->opt.block_range_ms;
  for (int rounds = 0; rounds < 1000 && rc == 0; rounds++) {
    tsdb_stats_t st;
    tsdb__head_stats(db->head, &st);
    if (st.head_max_time == INT64_MIN || st.head_min_time == INT64_MAX) break;
    if (st.head_max_time - st.head_min_time < range * 3 / 2) break;
    int64_t m = st.head_min_time;
    int64_t start = m >= 0 ? m / range * range : -((-m + range - 1) / range) * range;
    rc = cut_block(db, start, start + range, err, errlen);
  }
  for (int rounds = 0; rounds < 100 && rc == 0; rounds++) {
    block_t **group = NULL;
    size_t n = 0;
    int64_t wmin = 0, wmax = 0;
    if (!plan(db, &group, &n, &wmin, &wmax)) break;
    rc = compact_blocks(db, group, n, wmin, wmax, err, errlen);
    for (size_t i = 0; i < n; i++) tsdb__block_unref(group[i]);
    free(group);
  }
  retention(db);
  pthread_mutex_unlock(&db->maint_mu);
  if (rc != 0) log_error("TSDB maintenance failed", "err", err);
  return rc;
}

void tsdb__blocks_close(tsdb_t *db) {
  for (size_t i = 0; i < db->nblocks; i++) tsdb__block_unref(db->blocks[i]);
  free(db->blocks);
  db->blocks = NULL;
  db->nblocks = 0;
}

void tsdb__blocks_stats(tsdb_t *db, tsdb_stats_t *st) {
  pthread_mutex_lock(&db->blocks_mu);
  st->blocks = db->nblocks;
  for (size_t i = 0; i < db->nblocks; i++) st->blocks_bytes += tsdb__block_bytes(db->blocks[i]);
  pthread_mutex_unlock(&db->blocks_mu);
}

void tsdb_blocks_info(tsdb_t *db, tsdb_block_info_t **out, size_t *n) {
  pthread_mutex_lock(&db->blocks_mu);
  tsdb_block_info_t *v = ph_calloc(db->nblocks ? db->nblocks : 1, sizeof(*v));
  for (size_t i = 0; i < db->nblocks; i++) {
    block_t *b = db->blocks[i];
    snprintf(v[i].id, sizeof v[i].id, "%s", tsdb__block_id(b));
    v[i].mint = tsdb__block_mint(b);
    v[i].maxt = tsdb__block_maxt(b);
    v[i].level = tsdb__block_level(b);
    v[i].series = tsdb__block_nseries(b);
    v[i].samples = tsdb__block_nsamples(b);
    v[i].chunks = tsdb__block_nchunks(b);
    v[i].bytes = tsdb__block_bytes(b);
  }
  *n = db->nblocks;
  pthread_mutex_unlock(&db->blocks_mu);
  *out = v;
}

void tsdb_blocks_info_free(tsdb_block_info_t *info) { free(info); }

/* ---- admin: clean tombstones, snapshots ---------------------------------------- */

/* Does any series of the block have deleted samples inside its range? */
static bool block_has_deleted(tsdb_t *db, block_t *b) {
  uint64_t ns = tsdb__block_nseries(b);
  for (uint64_t o = 0; o < ns; o++) {
    labels_t *ls;
    block_rec_t *recs;
    size_t nrecs;
    if (tsdb__block_series(b, (uint32_t)o, &ls, &recs, &nrecs) != 0) continue;
    tomb_interval_t iv[16];
    size_t niv = tsdb__tombstones_for(db, ls, iv, 16);
    bool hit = false;
    for (size_t k = 0; k < niv && k < 16 && !hit; k++)
      for (size_t r = 0; r < nrecs && !hit; r++)
        hit = iv[k].mint <= recs[r].maxt && iv[k].maxt >= recs[r].mint;
    labels_free(ls);
    free(recs);
    if (hit) return true;
  }
  return false;
}

int tsdb_clean_tombstones(tsdb_t *db, char *err, size_t errlen) {
  pthread_mutex_lock(&db->maint_mu);
  int rc = 0;
  block_t **blocks;
  size_t nb;
  tsdb__blocks_snapshot(db, INT64_MIN, INT64_MAX, &blocks, &nb);
  for (size_t i = 0; i < nb && rc == 0; i++) {
    if (!block_has_deleted(db, blocks[i])) continue;
    rc = compact_blocks(db, &blocks[i], 1, tsdb__block_mint(blocks[i]),
                        tsdb__block_maxt(blocks[i]), err, errlen);
  }
  for (size_t i = 0; i < nb; i++) tsdb__block_unref(blocks[i]);
  free(blocks);
  if (rc == 0) {
    /* tombstones older than everything in the head have done their work */
    tsdb_stats_t st;
    tsdb__head_stats(db->head, &st);
    int64_t hmin = st.head_min_time == INT64_MAX ? INT64_MAX : st.head_min_time;
    rc = tsdb__tombstones_forget_before(db, hmin, err, errlen);
  }
  pthread_mutex_unlock(&db->maint_mu);
  return rc;
}

static int link_file(const char *from_dir, const char *to_dir, const char *name, char *err,
                     size_t errlen) {
  char a[4200], b[4200];
  snprintf(a, sizeof a, "%s/%s", from_dir, name);
  snprintf(b, sizeof b, "%s/%s", to_dir, name);
  if (link(a, b) == 0) return 0;
  /* another filesystem: copy */
  FILE *in = fopen(a, "rb"), *out = in ? fopen(b, "wb") : NULL;
  if (in == NULL || out == NULL) {
    if (in) fclose(in);
    return ph_err(err, errlen, PH_EIO, "snapshot %s: %s", a, strerror(errno));
  }
  char buf[65536];
  size_t n;
  int rc = 0;
  while ((n = fread(buf, 1, sizeof buf, in)) > 0)
    if (fwrite(buf, 1, n, out) != n) rc = PH_EIO;
  fclose(in);
  if (fclose(out) != 0) rc = PH_EIO;
  return rc ? ph_err(err, errlen, rc, "snapshot %s: write failed", b) : 0;
}

int tsdb_snapshot(tsdb_t *db, const char *dir, bool skip_head, char *err, size_t errlen) {
  if (mkdir(dir, 0755) != 0 && errno != EEXIST)
    return ph_err(err, errlen, PH_EIO, "create %s: %s", dir, strerror(errno));
  pthread_mutex_lock(&db->maint_mu);
  block_t **blocks;
  size_t nb;
  tsdb__blocks_snapshot(db, INT64_MIN, INT64_MAX, &blocks, &nb);
  int rc = 0;
  for (size_t i = 0; i < nb && rc == 0; i++) {
    char bdir[4200];
    snprintf(bdir, sizeof bdir, "%s/%s", dir, tsdb__block_id(blocks[i]));
    if (mkdir(bdir, 0755) != 0 && errno != EEXIST) {
      rc = ph_err(err, errlen, PH_EIO, "create %s: %s", bdir, strerror(errno));
      break;
    }
    static const char *const files[] = {"meta.json", "index", "chunks"};
    for (int f = 0; f < 3 && rc == 0; f++)
      rc = link_file(tsdb__block_dir(blocks[i]), bdir, files[f], err, errlen);
  }
  for (size_t i = 0; i < nb; i++) tsdb__block_unref(blocks[i]);
  free(blocks);
  /* deletions not yet cleaned from the blocks go along */
  char tpath[4200];
  snprintf(tpath, sizeof tpath, "%s/tombstones", db->path);
  if (rc == 0 && access(tpath, F_OK) == 0)
    rc = link_file(db->path, dir, "tombstones", err, errlen);
  if (rc == 0 && !skip_head) {
    tsdb_stats_t st;
    tsdb__head_stats(db->head, &st);
    if (st.head_max_time != INT64_MIN && st.head_min_time != INT64_MAX) {
      head_series_t **all;
      size_t n;
      tsdb__head_all_series(db->head, &all, &n);
      if (n > 1) qsort(all, n, sizeof(*all), cmp_series_labels);
      labels_t **labels = ph_malloc((n ? n : 1) * sizeof(labels_t *));
      for (size_t i = 0; i < n; i++) labels[i] = all[i]->labels;
      cut_ctx_t ctx = {db, all, st.head_min_time, st.head_max_time + 1, NULL, NULL, 0};
      block_input_t in = {
          .mint = st.head_min_time, .maxt = st.head_max_time + 1,
          .created_ms = ph_now_ms(), .level = 1, .labels = labels, .nseries = n,
          .samples = cut_samples, .ud = &ctx,
      };
      char id[27];
      rc = tsdb__block_write(dir, &in, id, err, errlen);
      free(ctx.ts);
      free(ctx.vs);
      free(labels);
      free(all);
    }
  }
  pthread_mutex_unlock(&db->maint_mu);
  if (rc == 0) tsdb__fsync_dir(dir);
  return rc;
}
