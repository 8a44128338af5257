/*
 * remote_metadata.h - the metadata store: metric family metadata (type,
 * help, unit) received over remote write, for /api/v1/metadata.
 *
 * Keyed by metric family name.  Each family keeps up to
 * METADATA_MAX_PER_METRIC distinct (type, help, unit) variants, newest
 * first (several senders may describe one family differently); putting an
 * identical variant again changes nothing.  At most max_metrics families
 * are kept; puts for new families beyond that are dropped and counted.
 * Thread-safe: one mutex; list() returns a deep copy so callers never hold
 * the lock.
 */
#ifndef PH_REMOTE_METADATA_H
#define PH_REMOTE_METADATA_H

#include <stddef.h>
#include <stdint.h>

/* The values of prometheus.MetricMetadata.MetricType, which are also
 * those of io.prometheus.write.v2.Metadata.MetricType. */
typedef enum metadata_type {
  METADATA_TYPE_UNKNOWN = 0,
  METADATA_TYPE_COUNTER = 1,
  METADATA_TYPE_GAUGE = 2,
  METADATA_TYPE_HISTOGRAM = 3,
  METADATA_TYPE_GAUGEHISTOGRAM = 4,
  METADATA_TYPE_SUMMARY = 5,
  METADATA_TYPE_INFO = 6,
  METADATA_TYPE_STATESET = 7,
} metadata_type_t;

/* "unknown", "counter", "gauge", "histogram", "gaugehistogram", "summary",
 * "info", "stateset" (as /api/v1/metadata writes them); "unknown" for
 * values out of range. */
const char *metadata_type_name(metadata_type_t t);

#define METADATA_MAX_PER_METRIC 4

typedef struct metadata_store metadata_store_t; /* owned by its creator */

/* max_metrics = 0 means the default, 100000 families. */
metadata_store_t *metadata_store_new(size_t max_metrics);
void metadata_store_free(metadata_store_t *ms); /* NULL is fine */

/* Records a variant for metric (copied).  An empty metric name is
 * ignored; help and unit may be NULL (= ""). */
void metadata_store_put(metadata_store_t *ms, const char *metric,
                        metadata_type_t type, const char *help,
                        const char *unit);

typedef struct metadata_entry {
  char *metric; /* owned by the array (metadata_entries_free) */
  metadata_type_t type;
  char *help;
  char *unit;
} metadata_entry_t;

/* A snapshot, sorted by metric name (variants of one metric newest first,
 * consecutive).  metric non-NULL and non-empty: only that family.  limit > 0:
 * at most that many families; limit_per_metric > 0: at most that many
 * variants each.  *out is NULL when *n is 0; free with
 * metadata_entries_free. */
void metadata_store_list(metadata_store_t *ms, const char *metric,
                         size_t limit, size_t limit_per_metric,
                         metadata_entry_t **out, size_t *n);
void metadata_entries_free(metadata_entry_t *e, size_t n);

size_t metadata_store_count(metadata_store_t *ms);   /* families held */
uint64_t metadata_store_dropped(metadata_store_t *ms); /* puts dropped */

#endif
