/*
 * workload.h - a deterministic, seeded node_exporter-like workload for the
 * benchmarks.
 *
 * H simulated hosts each expose the same ~510 series (wl_series_per_host):
 * CPU seconds per cpu and mode (counters in centiseconds/100), network and
 * disk byte/packet counters with varying integer increments and bursts,
 * error counters that rarely move, memory and filesystem gauges in 4 KiB
 * steps, load averages with 2 decimals, full-precision floats (pressure
 * stall seconds, collector durations, node_time_seconds), constants
 * (sizes, info metrics), systemd unit states (one of five series is 1),
 * and classic histograms (cumulative buckets, _sum, _count).  Every series
 * carries job="node" and instance="hostNNNN.lan:9100".
 *
 * Time: scrape k of host h happens at start + k*interval + offset(h) +
 * jitter, where offset(h) spreads hosts over the interval (as Prometheus
 * spreads targets) and jitter is uniform in [0, jitter_ms].  Churn
 * (optional): a fraction of hosts per hour is "replaced": its instance
 * label gets a new generation suffix (-r1, -r2 ...), i.e. new series, and
 * its counters restart from zero.
 *
 * Determinism: everything derives from the seed; host h's stream depends
 * only on (seed, h), so hosts may be generated on different threads, and
 * the same options always give bit-identical samples.
 *
 * Usage: wl_new(); then for each host, wl_scrape(wl, h, k, vals) for
 * k = 0, 1, 2 ... in order (each host's state advances one scrape per
 * call); wl_labels() gives a series' label pairs; wl_render_text() the
 * /metrics body of one scrape.  wl_rw_*() packs samples into remote-write
 * 1.0 requests (protobuf, snappy) as Prometheus's sharded queue sends them.
 *
 * Thread safety: calls for different hosts may run concurrently; calls for
 * one host must not.
 */
#ifndef PH_BENCH_WORKLOAD_H
#define PH_BENCH_WORKLOAD_H

#include "labels.h"
#include "strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct wl_opts {
  uint64_t seed;          /* default 42 */
  unsigned hosts;         /* default 100 */
  int64_t start_ms;       /* first scrape round; default 2024-01-01T00:00Z */
  int64_t interval_ms;    /* default 15000 */
  int64_t jitter_ms;      /* default 3: scrape time jitter, [0, jitter] */
  double churn_per_hour;  /* fraction of hosts replaced per hour; default 0 */
} wl_opts_t;

void wl_opts_default(wl_opts_t *o);

typedef struct wl wl_t; /* owned by the caller of wl_new; wl_free frees */

wl_t *wl_new(const wl_opts_t *o);
void wl_free(wl_t *wl);

size_t wl_series_per_host(const wl_t *wl);
unsigned wl_hosts(const wl_t *wl);
const wl_opts_t *wl_options(const wl_t *wl);
/* Number of scrape rounds in a duration: ceil(duration / interval). */
size_t wl_steps_for(const wl_t *wl, int64_t duration_ms);

/* Produces scrape `step` of host h: fills vals[0 .. wl_series_per_host)
 * and returns the scrape timestamp.  Steps of one host must be requested
 * in order starting at 0 (a step already produced cannot be repeated; a
 * skipped step is generated and discarded).  *new_series (may be NULL) is
 * set when the host's series identities changed with this scrape (churn;
 * also true at step 0): the caller's cached references are void. */
int64_t wl_scrape(wl_t *wl, unsigned h, size_t step, double *vals,
                  bool *new_series);

/* Label pairs (unsorted; labels_new sorts) of series i of host h as of its
 * latest scrape: writes up to cap pairs into buf and returns how many (at
 * most WL_MAX_LABELS).  The strings are valid until wl_free. */
#define WL_MAX_LABELS 6
size_t wl_labels(const wl_t *wl, unsigned h, size_t i, label_t *buf, size_t cap);
/* The metric name of series i (same for every host). */
const char *wl_metric_name(const wl_t *wl, size_t i);

/* Appends the text exposition (0.0.4, with HELP and TYPE) of one scrape
 * of host h whose values are vals (from wl_scrape). */
void wl_render_text(const wl_t *wl, unsigned h, const double *vals,
                    strbuf_t *out);

/* Appends a double the way Prometheus's text format writes it: the
 * shortest representation that reads back exactly, NaN, +Inf, -Inf. */
void wl_format_double(strbuf_t *out, double v);

/* ---- remote write ------------------------------------------------------- */

/* Called for each finished request: body is snappy-compressed protobuf
 * prometheus.WriteRequest holding nsamples samples (one TimeSeries each),
 * all from one shard, in time order; valid during the call only. */
typedef void (*wl_rw_emit_fn)(void *ctx, unsigned shard, size_t nsamples,
                              const void *body, size_t len);

typedef struct wl_rw wl_rw_t; /* owned by the caller; wl_rw_free frees */

/* Series are assigned to `shards` queues by hash of their labels, like
 * Prometheus's queue manager; a queue emits a request when it holds
 * max_samples (default 2000 when 0) samples or on wl_rw_flush. */
wl_rw_t *wl_rw_new(const wl_t *wl, unsigned shards, size_t max_samples,
                   wl_rw_emit_fn emit, void *ctx);
/* Queues one sample of series i of host h (labels as of its latest scrape). */
void wl_rw_add(wl_rw_t *rw, unsigned h, size_t i, int64_t t, double v);
void wl_rw_flush(wl_rw_t *rw);
void wl_rw_free(wl_rw_t *rw);

#endif
