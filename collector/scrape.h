/*
 * scrape.h - the scrape manager: turns a scrape configuration into
 * targets, scrapes them on one libuv loop thread with libcurl's
 * multi-socket interface, and appends what they expose to the TSDB.
 *
 *   scrape_manager_new()    starts the loop thread (no targets yet).
 *   scrape_manager_apply()  hands a decoded configuration to the loop
 *                           thread (uv_async); any thread, any time.
 *                           Targets whose identity (job, labels after
 *                           relabeling including __address__, __scheme__,
 *                           __metrics_path__, __param_*, interval and
 *                           timeout) is unchanged keep running without a
 *                           gap; removed ones get staleness markers; new
 *                           ones start at their offset in the interval.
 *   scrape_manager_free()   stops every target (staleness markers for all
 *                           their series), joins the thread.
 *
 * What one scrape does, as Prometheus does it: GET the target's URL with
 * the Accept header of its scrape_protocols, gzip, auth and TLS from the
 * config, within scrape_timeout and body_size_limit; parse the body
 * (format from Content-Type); apply honor_labels / honor_timestamps, the
 * target's labels (conflicts renamed exported_<name>) and
 * metric_relabel_configs; enforce the limits; append everything through one
 * appender and commit.  A steady scrape appends by series reference from a
 * per-target cache keyed by the raw series text.  Series that vanish from
 * one scrape to the next get a staleness marker.  A failed scrape (network
 * error, HTTP status other than 200, parse error, a limit) stores nothing
 * of the body, marks every series of the previous scrape stale, and
 * reports up=0.  Every scrape reports up, scrape_duration_seconds,
 * scrape_samples_scraped, scrape_samples_post_metric_relabeling and
 * scrape_series_added with the target's labels.
 *
 * The accessors below copy a snapshot under the manager's lock; they may be
 * called from any thread (the HTTP API's).
 */
#ifndef PH_SCRAPE_H
#define PH_SCRAPE_H

#include "labels.h"
#include "scrape_config.h"
#include "strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tsdb tsdb_t;
typedef struct scrape_manager scrape_manager_t; /* owned by its creator */

typedef struct scrape_manager_options {
  tsdb_t *db;            /* borrowed; must outlive the manager */
  /* Mixed into every target's start offset (Prometheus hashes the external
   * labels and host name), so two servers scraping the same targets do not
   * scrape them at the same instant. */
  uint64_t offset_seed;
  /* How often file_sd files are checked for changes (mtime, size, inode,
   * and the set of files a glob matches); 0 = 1s.  Each file is also read
   * again every refresh_interval. */
  int64_t sd_poll_ms;
} scrape_manager_options_t;

/* Creates the manager and starts its loop thread.  PH_EIO with err set if
 * libcurl or libuv cannot be initialised. */
int scrape_manager_new(const scrape_manager_options_t *o,
                       scrape_manager_t **out, char *err, size_t errlen);
/* Takes a new reference to cfg (the caller keeps its own). */
void scrape_manager_apply(scrape_manager_t *m, scrape_config_t *cfg);
/* Stops all targets with staleness markers, joins the loop thread, frees
 * everything.  NULL is fine. */
void scrape_manager_free(scrape_manager_t *m);

/* ---- Snapshots ------------------------------------------------------------ */

typedef enum scrape_health {
  SCRAPE_HEALTH_UNKNOWN = 0, /* not scraped yet */
  SCRAPE_HEALTH_UP = 1,
  SCRAPE_HEALTH_DOWN = 2,
} scrape_health_t;

/* "unknown", "up", "down" (the /api/v1/targets words). */
const char *scrape_health_name(scrape_health_t h);

/* One target as /api/v1/targets shows it.  Everything owned by the array
 * (scrape_target_infos_free). */
typedef struct scrape_target_info {
  char *pool;               /* job_name */
  bool dropped;             /* dropped by relabeling: only pool and
                               discovered are set */
  labels_t *discovered;     /* before relabeling, __ labels included */
  labels_t *labels;         /* after relabeling, without __ labels */
  char *scrape_url;         /* "http://host:port/metrics?x=y"; for an
                               in-process job "inprocess://<address>" */
  scrape_health_t health;
  char *last_error;         /* "" when the last scrape succeeded */
  int64_t last_scrape_ms;   /* start of the last scrape; 0 = never */
  double last_duration_s;
  uint64_t last_samples;    /* scrape_samples_scraped of the last scrape */
  uint64_t scrapes;         /* scrapes finished (success or not) */
  int64_t interval_ms, timeout_ms;
} scrape_target_info_t;

/* Active targets of every pool in config order, then dropped ones (at most
 * keep_dropped_targets per pool when that is set). */
void scrape_manager_targets(scrape_manager_t *m, scrape_target_info_t **out,
                            size_t *n);
void scrape_target_infos_free(scrape_target_info_t *v, size_t n);

/* One metric family's metadata as a target last exposed it. */
typedef struct scrape_metadata_info {
  labels_t *target;  /* the target's labels (job, instance, ...) */
  char *metric;      /* family name */
  char *type;        /* "counter", "gauge", ..., "unknown" */
  char *help;        /* "" when absent */
  char *unit;        /* "" when absent */
} scrape_metadata_info_t;

/* Metadata of the last successful scrape of every active target; metric
 * NULL for all families, else only that family. */
void scrape_manager_metadata(scrape_manager_t *m, const char *metric,
                             scrape_metadata_info_t **out, size_t *n);
void scrape_metadata_infos_free(scrape_metadata_info_t *v, size_t n);

/* Counters since the manager started. */
typedef struct scrape_stats {
  uint64_t targets_active;
  uint64_t targets_dropped;
  uint64_t scrapes_total;
  uint64_t scrapes_failed;
  uint64_t samples_appended;       /* incl. report series and stale markers */
  uint64_t exceeded_sample_limit;
  uint64_t exceeded_body_size_limit;
  uint64_t exceeded_label_limits;
  uint64_t samples_out_of_order;
  uint64_t samples_duplicate;
  uint64_t samples_out_of_bounds;
  uint64_t sd_file_reads;
  uint64_t sd_file_read_errors;
  uint64_t configs_applied;
} scrape_stats_t;

void scrape_manager_stats(scrape_manager_t *m, scrape_stats_t *st);
/* Appends the counters above in the text exposition format, under the
 * names Prometheus uses where it has one (prometheus_target_*,
 * prometheus_sd_*), for the server's own /metrics. */
void scrape_manager_write_metrics(scrape_manager_t *m, strbuf_t *out);

#endif
