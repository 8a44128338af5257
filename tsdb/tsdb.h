/*
 * tsdb.h - the time-series database: the only public face of tsdb/.
 *
 * Samples enter through an appender and leave through a querier; nothing
 * else of the storage is visible.  Time is int64 milliseconds since the
 * epoch, values are IEEE doubles, the staleness marker is the NaN with bits
 * 0x7ff0000000000002 (TSDB_STALE_NAN_BITS).
 *
 *   tsdb_t            one open database directory; owns everything below.
 *   tsdb_appender_t   a batch of samples: add by labels or by reference,
 *                     then commit (one WAL record, then visible) or
 *                     rollback.  One thread at a time per appender; many
 *                     appenders may run at once.
 *   tsdb_querier_t    a consistent view of committed samples in [mint,maxt];
 *                     select() yields series sorted by labels, each with a
 *                     sample iterator.  Many queriers may run at once, also
 *                     while appenders commit.
 */
#ifndef PH_TSDB_H
#define PH_TSDB_H

#include "labels.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TSDB_STALE_NAN_BITS UINT64_C(0x7ff0000000000002)
bool tsdb_is_stale_nan(double v);
double tsdb_stale_nan(void);

typedef enum {
  TSDB_WAL_FSYNC_COMMIT = 0,   /* fsync before commit returns */
  TSDB_WAL_FSYNC_INTERVAL = 1, /* fsync every wal_fsync_interval_ms */
} tsdb_wal_fsync_t;

typedef struct tsdb_options {
  const char *path;              /* data directory; created if missing */
  int64_t retention_ms;          /* 0 = none; default 15d */
  uint64_t retention_bytes;      /* 0 = none */
  int64_t ooo_window_ms;         /* out-of-order window; default 0 */
  int64_t block_range_ms;        /* head block span; default 2h */
  tsdb_wal_fsync_t wal_fsync;
  int64_t wal_fsync_interval_ms;
  bool no_background;            /* tests: no background compaction thread */
  int64_t maintain_interval_ms;  /* background cut/compact/retention; 1m */
  uint64_t wal_segment_bytes;    /* WAL segment size; 0 = 128 MiB */
  uint64_t head_chunks_segment_bytes; /* chunks_head/ segment size; 0 = 64 MiB */
  bool no_head_snapshot;         /* don't write the head snapshot on close */
} tsdb_options_t;

void tsdb_options_default(tsdb_options_t *o);

typedef struct tsdb tsdb_t; /* owned by the opener; tsdb_close frees */

/* Opens (or creates) the database at o->path, replaying the WAL. */
int tsdb_open(const tsdb_options_t *o, tsdb_t **out, char *err, size_t errlen);
/* Flushes the WAL and releases everything; all appenders and queriers
 * must be finished before. */
void tsdb_close(tsdb_t *db);

/* --- Appending ---------------------------------------------------------- */

typedef struct tsdb_appender tsdb_appender_t; /* freed by commit/rollback */

tsdb_appender_t *tsdb_appender_new(tsdb_t *db);
/* Adds a sample for the series with these labels (copied; __name__ an
 * ordinary label).  On success *ref (if not NULL) receives a reference to
 * use with tsdb_append_ref while the series lives.  Errors for this sample
 * only (PH_EOUTOFORDER, PH_EOUTOFBOUNDS, PH_EDUPLICATE, PH_EINVAL); the
 * batch stays usable. */
int tsdb_append(tsdb_appender_t *a, const labels_t *ls, int64_t t, double v,
                uint64_t *ref);
/* Fast path for a series seen before; PH_ENOTFOUND if the reference is no
 * longer valid (the caller then appends by labels). */
int tsdb_append_ref(tsdb_appender_t *a, uint64_t ref, int64_t t, double v);
/* Writes one WAL record for the batch, makes it visible, frees a. */
int tsdb_appender_commit(tsdb_appender_t *a, char *err, size_t errlen);
void tsdb_appender_rollback(tsdb_appender_t *a);

/* --- Querying ----------------------------------------------------------- */

typedef enum {
  TSDB_MATCH_EQ = 0,  /* =  */
  TSDB_MATCH_NEQ,     /* != */
  TSDB_MATCH_RE,      /* =~ fully anchored, RE2 syntax */
  TSDB_MATCH_NRE,     /* !~ */
} tsdb_match_type_t;

typedef struct tsdb_matcher {
  tsdb_match_type_t type;
  const char *name;   /* borrowed for the duration of the call */
  const char *value;
} tsdb_matcher_t;

/* Matchers compiled once and applied to label sets outside storage (the
 * targets API, CORS origins): a missing label counts as "".  Owned by its
 * creator; tsdb_matcher_set_free. */
typedef struct tsdb_matcher_set tsdb_matcher_set_t;

/* PH_EPARSE with the reason in err for a regex that does not compile. */
int tsdb_matcher_set_new(const tsdb_matcher_t *m, size_t n, tsdb_matcher_set_t **out,
                         char *err, size_t errlen);
bool tsdb_matcher_set_matches(const tsdb_matcher_set_t *s, const labels_t *ls);
/* Does value satisfy the set's matchers on name (others are ignored)? */
bool tsdb_matcher_set_matches_value(const tsdb_matcher_set_t *s, const char *name,
                                    const char *value);
void tsdb_matcher_set_free(tsdb_matcher_set_t *s);

typedef struct tsdb_querier tsdb_querier_t;       /* closed by its opener */
typedef struct tsdb_series_set tsdb_series_set_t; /* freed by its caller */
typedef struct tsdb_iterator tsdb_iterator_t;     /* owned by the set */

int tsdb_querier_open(tsdb_t *db, int64_t mint, int64_t maxt,
                      tsdb_querier_t **out);
void tsdb_querier_close(tsdb_querier_t *q);

/* Series matching all matchers that have samples in [mint,maxt] of the
 * querier (and those with none, but a label set that matches, are not
 * returned).  A bad regex gives PH_EPARSE with the reason in err. */
int tsdb_select(tsdb_querier_t *q, const tsdb_matcher_t *m, size_t n,
                tsdb_series_set_t **out, char *err, size_t errlen);
/* Advances to the next series (sorted by labels); false at the end. */
bool tsdb_series_set_next(tsdb_series_set_t *s);
size_t tsdb_series_set_count(const tsdb_series_set_t *s);
/* Valid until the set is freed. */
const labels_t *tsdb_series_set_labels(tsdb_series_set_t *s);
/* Iterator over the current series' samples within [mint,maxt]; valid until
 * the next tsdb_series_set_next or free.  Stale markers are returned as is. */
tsdb_iterator_t *tsdb_series_set_iterator(tsdb_series_set_t *s);
void tsdb_series_set_free(tsdb_series_set_t *s);

/* Moves to the next sample; false at the end (or on a read error, which
 * tsdb_iterator_err reports). */
bool tsdb_iterator_next(tsdb_iterator_t *it);
/* Moves to the first sample with timestamp >= t (never backwards). */
bool tsdb_iterator_seek(tsdb_iterator_t *it, int64_t t);
void tsdb_iterator_at(const tsdb_iterator_t *it, int64_t *t, double *v);
int tsdb_iterator_err(const tsdb_iterator_t *it);

/* Label names / values of series matching m (n may be 0) with samples in
 * the querier's range, sorted, deduplicated.  *out is an array of n
 * strings, all owned by the caller: free with tsdb_strings_free. */
int tsdb_label_names(tsdb_querier_t *q, const tsdb_matcher_t *m, size_t n,
                     char ***out, size_t *count, char *err, size_t errlen);
int tsdb_label_values(tsdb_querier_t *q, const char *name,
                      const tsdb_matcher_t *m, size_t n, char ***out,
                      size_t *count, char *err, size_t errlen);
void tsdb_strings_free(char **s, size_t count);

/* --- Administration (the admin API) -------------------------------------- */

/* Deletes the samples in [mint, maxt] of every series matching m: hidden
 * from queries at once, left out of blocks written from now on, and
 * physically removed from existing blocks by tsdb_clean_tombstones. */
int tsdb_delete_series(tsdb_t *db, const tsdb_matcher_t *m, size_t n, int64_t mint,
                       int64_t maxt, char *err, size_t errlen);
/* Rewrites the blocks that hold deleted samples without them. */
int tsdb_clean_tombstones(tsdb_t *db, char *err, size_t errlen);
/* Writes a consistent copy of the database into dir (created): every block
 * hard-linked, and unless skip_head, the head's samples as one more
 * block.  The copy is a data directory pharos can open. */
int tsdb_snapshot(tsdb_t *db, const char *dir, bool skip_head, char *err,
                  size_t errlen);

/* --- Status ------------------------------------------------------------- */

typedef struct tsdb_stats {
  uint64_t head_series;
  uint64_t head_chunks;
  int64_t head_min_time, head_max_time;
  uint64_t head_samples_appended;
  uint64_t blocks;
  uint64_t wal_bytes;
  uint64_t blocks_bytes;
} tsdb_stats_t;

void tsdb_get_stats(tsdb_t *db, tsdb_stats_t *st);

/* One round of the background work, now: cut the head's oldest range into
 * a block when it spans 1.5 block ranges, checkpoint the WAL, compact
 * blocks, apply retention.  The background thread calls it every minute;
 * tests and admin actions may call it directly. */
int tsdb_maintain(tsdb_t *db, char *err, size_t errlen);

/* One entry per block, oldest first, for `pharosctl tsdb inspect` and the
 * status API; free with tsdb_blocks_info_free. */
typedef struct tsdb_block_info {
  char id[27];
  int64_t mint, maxt;
  int level;
  uint64_t series, samples, chunks, bytes;
} tsdb_block_info_t;

void tsdb_blocks_info(tsdb_t *db, tsdb_block_info_t **out, size_t *n);
void tsdb_blocks_info_free(tsdb_block_info_t *info);

/* Cardinality of the head for /api/v1/status/tsdb: the top `limit` entries
 * of each list, largest first (ties by name).  Owned by the caller:
 * tsdb_cardinality_free. */
typedef struct tsdb_count {
  char *name;     /* metric name, label name, or "name=value" */
  uint64_t value;
} tsdb_count_t;

typedef struct tsdb_cardinality {
  uint64_t num_series;
  uint64_t num_label_pairs;
  tsdb_count_t *series_by_metric;     /* series count by metric name */
  size_t nseries_by_metric;
  tsdb_count_t *values_by_label;      /* distinct values per label name */
  size_t nvalues_by_label;
  tsdb_count_t *memory_by_label;      /* bytes of values per label name */
  size_t nmemory_by_label;
  tsdb_count_t *series_by_pair;       /* series count per label pair */
  size_t nseries_by_pair;
} tsdb_cardinality_t;

void tsdb_get_cardinality(tsdb_t *db, size_t limit, tsdb_cardinality_t *out);
void tsdb_cardinality_free(tsdb_cardinality_t *c);

#endif
