/*
 * scrape_int.h - private to the scrape manager's files:
 *
 *   scrape.c         the manager: loop thread, config handover (uv_async),
 *                    pools (one per job), target building and relabeling,
 *                    reconciliation on reload, timers, snapshots.
 *   scrape_http.c    libcurl multi-socket driven by libuv (uv_poll per
 *                    socket, one uv_timer for curl's timeout), one easy
 *                    handle per target.
 *   scrape_append.c  one scrape's body -> parser -> labels -> appender,
 *                    the series cache, staleness, report series.
 *   sd_file.c        file_sd: target group files, polled on the loop.
 *
 * Threads: everything here runs on the loop thread, except the fields
 * marked "mu", which the loop thread writes with m->mu held and snapshot
 * readers read with m->mu held.
 */
#ifndef PH_SCRAPE_INT_H
#define PH_SCRAPE_INT_H

#include "expfmt.h"
#include "scrape.h"
#include "tsdb.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <uv.h>

/* ---- a small open-addressing index: 64-bit hash -> array position ------ */

typedef struct hslot {
  uint64_t hash;
  uint32_t idx1; /* position + 1; 0 = empty */
} hslot_t;

typedef struct hidx {
  hslot_t *slots; /* owned */
  size_t cap;     /* power of two or 0 */
  size_t n;
} hidx_t;

typedef bool (*hidx_eq_fn)(void *ctx, uint32_t idx);

void scrape__hidx_put(hidx_t *h, uint64_t hash, uint32_t idx);
/* Position of the entry with this hash for which eq says true, or -1. */
int64_t scrape__hidx_find(const hidx_t *h, uint64_t hash, hidx_eq_fn eq, void *ctx);
void scrape__hidx_clear(hidx_t *h);
void scrape__hidx_free(hidx_t *h);

/* ---- file_sd (sd_file.c) ---------------------------------------------------- */

typedef struct sd_file sd_file_t; /* owned by its pool; closed with
                                     scrape__sd_file_close */
typedef void (*sd_file_update_fn)(void *ud);

/* Reads the files now (synchronously) and then watches them; fn is called
 * on the loop thread after each change of the groups. */
sd_file_t *scrape__sd_file_new(scrape_manager_t *m, const scrape_file_sd_t *cfg,
                               sd_file_update_fn fn, void *ud);
/* The current groups of all files (valid until the next update). */
const scrape_group_t *scrape__sd_file_groups(const sd_file_t *f, size_t *n);
/* Stops watching; the memory goes in the timer's close callback. */
void scrape__sd_file_close(sd_file_t *f);

/* ---- targets ---------------------------------------------------------------- */

typedef struct scrape_pool scrape_pool_t;
typedef struct scrape_target scrape_target_t;

typedef struct scache_entry {
  char *key;        /* owned: raw series text */
  size_t keylen;
  uint64_t khash;
  uint64_t ref;     /* TSDB reference; 0 = none yet */
  labels_t *lset;   /* owned: labels after relabeling; NULL when dropped */
  uint64_t lhash;
  uint64_t last_iter;
} scache_entry_t;

typedef struct stale_entry {
  uint64_t lhash;
  labels_t *lset;   /* owned */
  uint64_t ref;
  uint64_t seen_iter;
  bool fresh;       /* first seen in the scrape in progress */
} stale_entry_t;

typedef struct meta_entry {
  char *family;     /* owned */
  expfmt_type_t type;
  char *help, *unit; /* owned; NULL when absent */
  bool seen_help, seen_unit; /* set during the scrape building the table */
} meta_entry_t;

/* Entries [0, n) are this table's families; slots [n, nkept) keep the
 * strings of an earlier scrape so that a steady target (same families in
 * the same order every time) reuses them instead of allocating anew. */
typedef struct meta_table {
  meta_entry_t *v;
  size_t n, cap;
  size_t nkept;
  hidx_t idx;
} meta_table_t;

enum { SCRAPE_REPORT_N = 5 };

struct scrape_target {
  scrape_manager_t *m;
  scrape_pool_t *pool;
  const scrape_job_t *job;   /* in m->cfg */
  uint64_t id;               /* identity: hash of job name and `full` */
  labels_t *discovered;      /* owned: before relabeling */
  labels_t *full;            /* owned: after relabeling, __ labels kept */
  labels_t *labels;          /* owned: the target's labels (no __) */
  char *url;                 /* owned */
  char *address;             /* owned: __address__ */
  int64_t interval_ms, timeout_ms;

  uv_timer_t timer;
  int64_t next_tick_ms;
  int pending;               /* outstanding close callbacks / work */
  bool scraping, stopping;
  int64_t scrape_ts;         /* timestamp of the scrape in progress */
  uint64_t scrape_start_ns;

  /* HTTP */
  CURL *easy;
  struct curl_slist *headers, *connect_to;
  char errbuf[CURL_ERROR_SIZE];
  char status[128];          /* "500 Internal Server Error" */
  strbuf_t body;             /* the body as parsed (inflated when it came gzipped) */
  strbuf_t zbody;            /* a gzip body as received, inflated when complete */
  bool body_started, gzip;   /* first bytes seen; Content-Encoding: gzip */
  bool body_too_big;
  /* in-process */
  struct local_work *work;   /* in flight, or NULL */

  /* series state */
  uint64_t fingerprint;      /* job->sample_fingerprint the cache is for */
  uint64_t iter;
  scache_entry_t *cache;
  size_t ncache, capcache;
  hidx_t cache_idx;
  stale_entry_t *stale;
  size_t nstale, capstale;
  hidx_t stale_idx;
  labels_t *report_ls[SCRAPE_REPORT_N];
  uint64_t report_ref[SCRAPE_REPORT_N];
  bool reported;             /* report series written at least once */
  int64_t last_ts;
  meta_table_t meta_build;   /* filled during a scrape */

  /* status (mu) */
  scrape_health_t health;
  char *last_error;          /* owned */
  int64_t last_scrape_ms;
  double last_duration_s;
  uint64_t last_samples;
  uint64_t scrapes;
  meta_table_t meta;         /* of the last successful scrape */
};

struct scrape_pool {
  scrape_manager_t *m;
  char *name;                /* owned */
  const scrape_job_t *job;   /* in m->cfg */
  sd_file_t **sd;
  size_t nsd;
  scrape_target_t **targets; /* mu */
  size_t ntargets, captargets;
  labels_t **dropped;        /* mu; discovered labels of dropped targets */
  size_t ndropped;
  char *limit_error;         /* target_limit exceeded: every target fails */
};

struct scrape_manager {
  tsdb_t *db;
  uint64_t offset_seed;
  int64_t sd_poll_ms;
  uv_loop_t loop;
  uv_async_t async;
  uv_timer_t curl_timer;
  CURLM *multi;
  struct sock_ctx *socks;    /* sockets curl asked us to watch (list) */
  pthread_t thread;
  bool thread_started;

  pthread_mutex_t mu;
  scrape_config_t *pending;  /* mu: handed over by apply */
  bool stop;                 /* mu */
  scrape_pool_t **pools;     /* mu */
  size_t npools;

  scrape_config_t *cfg;      /* in force (loop thread) */
  expfmt_parser_t *parser;
  labels_builder_t *lb;
  symtab_t *syms; /* owned; interns the series labels of every target's cache */
  struct libdeflate_decompressor *inflater; /* owned; gzip bodies, loop thread only */
  strbuf_t scratch;

  struct {
    atomic_uint_fast64_t scrapes, failed, appended, sample_limit, body_limit,
        label_limits, ooo, dup, oob, sd_reads, sd_errors, configs;
  } st;
};

/* scrape.c */
void scrape__scrape_finished(scrape_target_t *t);

/* scrape_http.c */
int scrape__http_init(scrape_manager_t *m, char *err, size_t errlen);
/* Cleans up the multi handle (every easy handle removed before) and
 * closes the socket watchers and curl's timer. */
void scrape__http_close(scrape_manager_t *m);
void scrape__http_start(scrape_target_t *t);
void scrape__http_cancel(scrape_target_t *t);
void scrape__http_target_free(scrape_target_t *t);

/* scrape_append.c: body NULL with errmsg set for a failed fetch. */
void scrape__process(scrape_target_t *t, const char *body, size_t len,
                     const char *content_type, const char *errmsg);
/* Staleness markers for every series of the last scrape and the report
 * series (target removed or shutting down). */
void scrape__stale_all(scrape_target_t *t);
/* Drops the series cache (job's sample settings changed). */
void scrape__cache_reset(scrape_target_t *t);
void scrape__target_state_free(scrape_target_t *t);
void scrape__meta_free(meta_table_t *mt);

#endif
