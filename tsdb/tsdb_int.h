/*
 * tsdb_int.h - declarations shared by the files of tsdb/ (module-private).
 *
 *   crc32c.c    CRC-32C (Castagnoli) for WAL records and block files
 *   matcher.c   compiled label matchers (PCRE2 with JIT, literal fast paths)
 *   head.c      the in-memory head: series, postings, appenders, and
 *               chunks_head/ (cut head chunks on disk, read through mmap)
 *   wal.c       the write-ahead log: segments, records, replay
 *   querier.c   select / label names / label values over the head
 *   tsdb.c      open/close, options, background work, stats, and the head
 *               snapshot written on a clean close
 */
#ifndef PH_TSDB_INT_H
#define PH_TSDB_INT_H

#include "arena.h"
#include "chunk.h"
#include "labels.h"
#include "tsdb.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- crc32c.c ---- */
uint32_t tsdb__crc32c(uint32_t crc, const void *data, size_t len);

/* Little-endian fixed-width fields, as every tsdb file format stores them. */
static inline void tsdb__put_le32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void tsdb__put_le64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint32_t tsdb__get_le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}
static inline uint64_t tsdb__get_le64(const uint8_t *p) {
  return (uint64_t)tsdb__get_le32(p) | (uint64_t)tsdb__get_le32(p + 4) << 32;
}

/* ---- matcher.c ---- */

/* A compiled matcher; owned by whoever compiled it (tsdb__matcher_free). */
typedef struct tsdb__matcher {
  tsdb_match_type_t type;
  char *name;            /* owned */
  char *value;           /* owned */
  int kind;              /* how the value is tested (matcher.c) */
  char **set;            /* literal alternatives, sorted (kind SET) */
  size_t nset;
  size_t prefix_len;     /* literal prefix that every match starts with */
  void *code;            /* pcre2_code_8 *, or NULL */
  bool matches_empty;    /* does the matcher accept the empty value? */
} tsdb__matcher_t;

int tsdb__matcher_compile(tsdb__matcher_t *m, const tsdb_matcher_t *src,
                          char *err, size_t errlen);
void tsdb__matcher_free(tsdb__matcher_t *m);
/* All matchers hold for the label set (a missing label is ""). */
bool tsdb__matchers_match_labels(const tsdb__matcher_t *m, size_t n, const labels_t *ls);
/* Does the value satisfy the matcher (type applied, negation included)? */
bool tsdb__matcher_matches(const tsdb__matcher_t *m, const char *value,
                           size_t len);

/* ---- head.c: chunks_head/ (cut head chunks on disk) ---- */

/* Where a cut head chunk lives on disk (chunks_head/ segment seq, record
 * at off) and what it holds; 24 bytes, kept in its series' array. */
typedef struct head_mmchunk {
  int64_t mint;
  uint32_t maxt_delta; /* maxt - mint */
  uint32_t seq;
  uint32_t off;
  uint16_t count;
  uint16_t pad_;
} head_mmchunk_t;

static inline int64_t head_mmchunk_maxt(const head_mmchunk_t *m) {
  return m->mint + (int64_t)m->maxt_delta;
}

/* The chunks_head/ directory: owned by the database (tsdb_t.hchunks). */
typedef struct hchunks hchunks_t;
typedef void (*hchunks_scan_fn)(void *ud, uint64_t ref, const head_mmchunk_t *c);

/* Lists the segments (nothing is read or mapped until the scan). */
int tsdb__hchunks_open(const char *dbdir, uint64_t segment_bytes, hchunks_t **out,
                       char *err, size_t errlen);
/* Validates every record up to (stop_seq, stop_off) (UINT32_MAX/UINT64_MAX:
 * all) and calls fn for each; cuts everything after the first bad record
 * or the stop position (logged), maps the surviving segments.  Call once,
 * before any write. */
int tsdb__hchunks_scan(hchunks_t *c, uint32_t stop_seq, uint64_t stop_off,
                       hchunks_scan_fn fn, void *ud);
/* Instead of a scan, when a head snapshot lists the chunks: cuts what was
 * written after (stop_seq, stop_off), maps the rest without reading it.
 * PH_ECORRUPT if the data ends before the stop position. */
int tsdb__hchunks_restore(hchunks_t *c, uint32_t stop_seq, uint64_t stop_off);
/* A chunk listed by the snapshot: false if its segment is gone or too
 * short; otherwise the segment's newest time is updated for truncation. */
bool tsdb__hchunks_note(hchunks_t *c, const head_mmchunk_t *m);
/* Appends one chunk (thread-safe); *out receives its reference. */
int tsdb__hchunks_write(hchunks_t *c, uint64_t ref, int64_t mint, int64_t maxt,
                        const uint8_t *data, size_t len, head_mmchunk_t *out,
                        char *err, size_t errlen);
/* The chunk's bytes in the mapping, or NULL if its segment is gone; valid
 * while the referencing series' lock is held. */
const uint8_t *tsdb__hchunks_data(hchunks_t *c, const head_mmchunk_t *m, size_t *len);
/* End of the written data (active segment, size); (0, 0) if none. */
void tsdb__hchunks_position(hchunks_t *c, uint32_t *seq, uint64_t *off);
/* Deletes non-active segments whose newest chunk is older than mint. */
void tsdb__hchunks_truncate(hchunks_t *c, int64_t mint);
/* fsyncs the segments written since open; 0 or PH_EIO. */
int tsdb__hchunks_sync(hchunks_t *c);
void tsdb__hchunks_close(hchunks_t *c);

/* ---- head.c ---- */

/* A 4-byte lock for a series (a pthread_mutex_t is 40 bytes): test-and-set
 * with sched_yield() while held; critical sections are short (an append, a
 * copy of a few chunks). */
typedef struct head_lock {
  atomic_uint v;
} head_lock_t;

void tsdb__lock_slow(head_lock_t *l);
static inline void tsdb__lock(head_lock_t *l) {
  if (atomic_exchange_explicit(&l->v, 1, memory_order_acquire) == 0) return;
  tsdb__lock_slow(l);
}
static inline void tsdb__unlock(head_lock_t *l) {
  atomic_store_explicit(&l->v, 0, memory_order_release);
}

/* Out-of-order samples of a series within the OOO window, sorted by time. */
typedef struct ooo_sample {
  int64_t t;
  double v;
} ooo_sample_t;

typedef struct head_ooo {
  uint32_t n, cap;
  ooo_sample_t s[];
} head_ooo_t;

/* A head series.  Owned by its shard; freed on truncation when it has no
 * samples left, or when the head closes.  lk guards everything below it;
 * ref and labels are immutable after creation. */
typedef struct head_series {
  uint64_t ref;
  labels_t *labels;            /* owned, interned in the head's symtab */
  struct head *head;           /* the head it belongs to */
  struct head_series *hnext;   /* chain in the shard's hash table */
  struct head_series *rnext;   /* chain in the shard's ref table */
  head_lock_t lk;
  uint32_t nmm;                /* cut chunks on disk */
  head_mmchunk_t *mm;          /* owned; oldest first, exactly nmm long */
  head_ooo_t *ooo;             /* owned; NULL when there are none */
  chunk_xor_t open;            /* open chunk */
  int64_t mint, maxt;          /* INT64_MAX/INT64_MIN when empty */
  uint64_t last_v_bits;        /* value at maxt, if last_v_known */
  atomic_uint_fast64_t batch;  /* last appender batch that logged it */
  bool last_v_known;           /* false after a restart until read */
  atomic_bool logged;          /* its series record is in the WAL */
  atomic_bool deleted;         /* unlinked by truncation */
} head_series_t;

typedef struct head head_t;

head_t *tsdb__head_new(tsdb_t *db, int64_t block_range_ms, int64_t ooo_window_ms);
void tsdb__head_free(head_t *h);
/* Finds or creates the series; *created tells which.  With want_ref != 0
 * (WAL replay) the series gets exactly that reference. */
head_series_t *tsdb__head_get_or_create(head_t *h, const labels_t *ls,
                                        uint64_t want_ref, bool *created);
head_series_t *tsdb__head_by_ref(head_t *h, uint64_t ref);
/* Appends one sample to a series (lock taken inside).  Same errors as
 * tsdb_append. */
int tsdb__head_append_sample(head_t *h, head_series_t *s, int64_t t, double v);
/* Validates without appending (lock taken inside). */
int tsdb__head_check_sample(head_t *h, head_series_t *s, int64_t t, double v);
void tsdb__head_stats(head_t *h, tsdb_stats_t *st);
/* Calls fn for every series whose labels satisfy all matchers, in no
 * particular order, under the index read lock. */
typedef void (*head_series_fn)(head_series_t *s, void *ud);
void tsdb__head_select(head_t *h, tsdb__matcher_t *m, size_t n,
                       head_series_fn fn, void *ud);
/* Distinct label names / values over all series matching m. */
void tsdb__head_label_names(head_t *h, tsdb__matcher_t *m, size_t n,
                            char ***out, size_t *count);
void tsdb__head_label_values(head_t *h, const char *name, tsdb__matcher_t *m,
                             size_t n, char ***out, size_t *count);
uint64_t tsdb__head_next_ref(head_t *h);
void tsdb__head_all_series(head_t *h, head_series_t ***out, size_t *n);
void tsdb__head_series_samples(head_series_t *s, int64_t mint, int64_t maxt,
                               int64_t **ts, double **vs, size_t *cap, size_t *n);
bool tsdb__head_series_range(head_series_t *s, int64_t *mint, int64_t *maxt);
void tsdb__head_truncate(head_t *h, int64_t t);
int64_t tsdb__head_min_valid(head_t *h);
void tsdb__head_set_replaying(head_t *h, bool on);
void tsdb__head_cardinality(head_t *h, size_t limit, tsdb_cardinality_t *out);
/* Restoring after a restart (single-threaded, before the database is in
 * use): chunks found in chunks_head/ for a series, sorted by mint ... */
void tsdb__head_attach_chunks(head_t *h, head_series_t *s, const head_mmchunk_t *c,
                              size_t n);
/* ... and, once its chunks, open chunk and out-of-order samples are in
 * place, its range and the head's statistics. */
void tsdb__head_restored(head_t *h, head_series_t *s);
/* The bytes of cut chunk i (s->lk held); NULL if its segment is gone. */
const uint8_t *tsdb__head_mm_data(head_series_t *s, uint32_t i, size_t *len);
/* At least next (a snapshot's counter). */
void tsdb__head_set_next_ref(head_t *h, uint64_t next);
/* Raises the truncation bound without touching any series. */
void tsdb__head_set_min_valid(head_t *h, int64_t t);

/* ---- wal.c ---- */

typedef struct wal wal_t;

enum { WAL_REC_BATCH = 1 };

/* Opens dir/wal, replaying every record through the callbacks first; a torn
 * or corrupt tail is cut off and reported in the log. */
typedef struct wal_replay_cb {
  void (*series)(void *ud, uint64_t ref, const labels_t *ls);
  void (*sample)(void *ud, uint64_t ref, int64_t t, double v);
  void *ud;
} wal_replay_cb_t;

/* A position in the log: segment and byte offset (a record boundary). */
typedef struct wal_pos {
  uint32_t seq;
  uint64_t off;
} wal_pos_t;

/* With start != NULL only the records from that position on are replayed
 * (the head snapshot holds what came before). */
int tsdb__wal_open(const char *dir, tsdb_wal_fsync_t mode, uint64_t segment_bytes,
                   const wal_replay_cb_t *cb, const wal_pos_t *start, wal_t **out,
                   char *err, size_t errlen);
/* Where the next record will go (the end of what is written). */
void tsdb__wal_position(wal_t *w, wal_pos_t *pos);
/* Can replay start at pos: the segment is there and long enough, no
 * checkpoint has replaced it, and no later segment is missing? */
bool tsdb__wal_can_start(const char *dbdir, const wal_pos_t *pos);
void tsdb__wal_close(wal_t *w);
/* Appends one record (type + payload) and, in commit mode, fsyncs. */
int tsdb__wal_log(wal_t *w, uint8_t type, const uint8_t *payload, size_t len,
                  char *err, size_t errlen);
int tsdb__wal_sync(wal_t *w);
/* Checkpointing: begin starts a new segment and a checkpoint file that
 * will stand for all older segments; add writes batch records into it;
 * finish(commit) makes it durable and deletes what it replaces. */
typedef struct wal_ckpt wal_ckpt_t;
int tsdb__wal_checkpoint_begin(wal_t *w, wal_ckpt_t **out, char *err, size_t errlen);
int tsdb__wal_checkpoint_add(wal_ckpt_t *c, const uint8_t *payload, size_t len);
int tsdb__wal_checkpoint_finish(wal_ckpt_t *c, bool commit, char *err, size_t errlen);
uint64_t tsdb__wal_bytes(wal_t *w);

/* varint helpers (LEB128, zigzag for signed) */
void tsdb__put_uvarint(strbuf_t *b, uint64_t v);
void tsdb__put_varint(strbuf_t *b, int64_t v);
/* Return bytes consumed, 0 on malformed/short input. */
size_t tsdb__get_uvarint(const uint8_t *p, size_t n, uint64_t *v);
size_t tsdb__get_varint(const uint8_t *p, size_t n, int64_t *v);

/* ---- tsdb.c: the head snapshot ---- */

typedef struct snapshot_info {
  wal_pos_t wal;        /* the WAL from here on is not in the snapshot */
  uint32_t chunk_seq;   /* chunks_head/ data it covers ends here */
  uint64_t chunk_off;
  uint64_t next_ref;
  int64_t min_valid;
  uint64_t nseries;
} snapshot_info_t;

/* A snapshot file opened and checksum-verified; owned by the opener,
 * released with tsdb__snapshot_close. */
typedef struct snapshot snapshot_t;

/* Writes <db>/head_snapshot for the current head, WAL and chunks_head/
 * positions (the database must be quiescent: called from tsdb_close). */
int tsdb__snapshot_write(tsdb_t *db, char *err, size_t errlen);
/* Removes a leftover head_snapshot.tmp. */
void tsdb__snapshot_remove(const char *dbdir);
/* PH_ENOTFOUND if there is none, PH_ECORRUPT if it fails its checks. */
int tsdb__snapshot_open(const char *dbdir, snapshot_t **out, char *err, size_t errlen);
const snapshot_info_t *tsdb__snapshot_info(const snapshot_t *s);
/* Creates its series in db->head with their chunks (chunks_head/ restored
 * up to the snapshot's position first).  On error the head is half-filled:
 * the caller starts over with a fresh head. */
int tsdb__snapshot_load(snapshot_t *sn, tsdb_t *db, uint64_t *nseries, char *err,
                        size_t errlen);
void tsdb__snapshot_close(snapshot_t *s);

/* ---- block.c ---- */

#define BLOCK_MAX_RECORD 8192 /* samples per chunk record in a block */

/* What the block writer writes: series in label order, their samples
 * fetched one series at a time through a callback so a block never has
 * to fit in memory.  The callback's arrays stay valid until its next call;
 * it returns 0 or an error that aborts the write. */
typedef struct block_input {
  int64_t mint, maxt;          /* [mint, maxt) */
  int64_t created_ms;          /* for the ULID */
  int level;                   /* 1 for a head cut */
  const char *const *sources;  /* ids of compacted blocks (none for a cut) */
  size_t nsources;
  labels_t *const *labels;     /* sorted by labels_cmp, unique */
  size_t nseries;
  int (*samples)(void *ud, size_t i, const int64_t **ts, const double **v,
                 size_t *n);
  void *ud;
} block_input_t;

/* An open block: mmapped files, reference counted (queriers hold one). */
typedef struct block block_t;

typedef struct block_rec {
  int64_t mint, maxt;  /* first and last sample time */
  uint64_t offset;     /* in the chunks file */
  uint32_t count;
} block_rec_t;

void tsdb__ulid_new(int64_t ms, char out[27]);
void tsdb__fsync_dir(const char *dir);
int tsdb__rmdir_r(const char *dir);
/* Writes a block directory; id_out (27 bytes) receives its id. */
int tsdb__block_write(const char *dbdir, const block_input_t *in, char *id_out,
                      char *err, size_t errlen);
int tsdb__block_open(const char *dbdir, const char *id, block_t **out, char *err,
                     size_t errlen);
void tsdb__block_ref(block_t *b);
/* Drops a reference; the last one unmaps (and deletes, if marked). */
void tsdb__block_unref(block_t *b);
void tsdb__block_mark_deleted(block_t *b);
const char *tsdb__block_id(const block_t *b);
const char *tsdb__block_dir(const block_t *b);
int64_t tsdb__block_mint(const block_t *b);
int64_t tsdb__block_maxt(const block_t *b);
int tsdb__block_level(const block_t *b);
uint64_t tsdb__block_bytes(const block_t *b);
uint64_t tsdb__block_nseries(const block_t *b);
uint64_t tsdb__block_nsamples(const block_t *b);
uint64_t tsdb__block_nchunks(const block_t *b);
size_t tsdb__block_sources(const block_t *b, char *const **src);
/* Series ordinals matching all matchers, sorted; *out malloc'd. */
int tsdb__block_select(const block_t *b, tsdb__matcher_t *m, size_t nm,
                       uint32_t **out, size_t *n);
/* Labels (new set, caller frees) and chunk records (malloc'd) of a series. */
int tsdb__block_series(const block_t *b, uint32_t ord, labels_t **ls,
                       block_rec_t **recs, size_t *nrecs);
int tsdb__block_read_record(const block_t *b, const block_rec_t *rec, int64_t **ts,
                            double **vs, size_t *n, char *err, size_t errlen);
int tsdb__block_label_strings(const block_t *b, const char *name, const uint32_t *ords,
                              size_t nords, const char ***out, size_t *n, size_t *cap);

/* ---- compact.c ---- */
int tsdb__load_blocks(tsdb_t *db, char *err, size_t errlen);
void tsdb__blocks_close(tsdb_t *db);
/* Blocks overlapping [mint, maxt], with a reference each (unref them). */
void tsdb__blocks_snapshot(tsdb_t *db, int64_t mint, int64_t maxt, block_t ***out,
                           size_t *n);
int64_t tsdb__blocks_maxt(tsdb_t *db);
void tsdb__blocks_stats(tsdb_t *db, tsdb_stats_t *st);

/* ---- tombstones.c ---- */
typedef struct tombstone tombstone_t;
typedef struct tomb_interval {
  int64_t mint, maxt; /* inclusive */
} tomb_interval_t;
int tsdb__tombstones_load(tsdb_t *db, char *err, size_t errlen);
void tsdb__tombstones_free(tsdb_t *db);
/* Intervals deleted for a series with these labels; returns how many there
 * are (only the first cap are written). */
size_t tsdb__tombstones_for(tsdb_t *db, const labels_t *ls, tomb_interval_t *out,
                            size_t cap);
bool tsdb__tombstones_any(tsdb_t *db);
int tsdb__tombstones_forget_before(tsdb_t *db, int64_t t, char *err, size_t errlen);
size_t tsdb__tombstones_filter(const tomb_interval_t *iv, size_t niv, int64_t *ts,
                               double *vs, size_t n);

/* ---- tsdb.c ---- */

struct tsdb {
  tsdb_options_t opt;
  char *path;               /* owned copy of opt.path */
  head_t *head;
  wal_t *wal;
  hchunks_t *hchunks;       /* chunks_head/: cut head chunks on disk */
  symtab_t *symtab;         /* interning for head series labels */
  pthread_t bg;             /* background: WAL fsync interval */
  bool bg_running;
  pthread_mutex_t bg_mu;
  pthread_cond_t bg_cv;
  bool closing;
  block_t **blocks;         /* open blocks sorted by mint; blocks_mu */
  size_t nblocks, blocks_cap;
  pthread_mutex_t blocks_mu;
  pthread_mutex_t maint_mu; /* one maintenance round at a time */
  pthread_rwlock_t gc_mu;   /* commits read-lock; head truncation write-locks */
  tombstone_t *tombs;       /* deletions; tombs_mu */
  size_t ntombs, tombs_cap;
  pthread_rwlock_t tombs_mu;
  atomic_uint_fast64_t samples_appended;
  atomic_uint_fast64_t next_batch;
  int lock_fd;              /* flock on dir/lock */
  bool opened;              /* tsdb_open completed: close writes a snapshot */
  pthread_mutex_t pool_mu;  /* guards the appender pool */
  tsdb_appender_t *pool;    /* finished appenders kept for reuse (tsdb.c) */
  size_t npool;
};

#endif
