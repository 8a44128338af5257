/*
 * bench_tsdb.c - the TSDB benchmark: the storage API driven directly, on
 * a temporary directory, with the node_exporter-like workload
 * (workload.h).  Not a test; `bench/run.sh` runs it and the smoke test
 * runs its --quick mode.
 *
 * Phases (each in a fork()ed child, so one phase's freed memory never
 * flatters the next one's RSS figure; the child reports "key value" lines
 * through a pipe):
 *
 *   append   samples/s through the appender, 1 thread and 2 threads.  The
 *            samples are generated beforehand into memory, so only the
 *            appender is timed: per host scrape one appender, its ~510
 *            samples (by labels on the first scrape, by reference after),
 *            one commit = one WAL record (fsync mode "interval", the
 *            server's default).  Median, min, max over --runs.
 *   rss      RSS (from /proc/self/statm) before and after loading
 *            hosts x --rss-hours into a fresh database, divided by the
 *            number of head series.  The generator's own memory is
 *            allocated before the first reading.  glibc malloc keeps freed
 *            memory, so this is what the process would really hold.
 *   replay   the same database closed and reopened (WAL replay of the
 *            full head); the time tsdb_open takes, and RSS after it.
 *            --big-hosts repeats it for a second, larger head.
 *   disk     hosts x --disk-hours ingested with tsdb_maintain called
 *            every simulated 30 minutes (what the background thread does)
 *            and until nothing changes at the end; then bytes per sample
 *            (a) of the blocks alone, over the samples in blocks, (b) of
 *            every file in the data directory, WAL included, over all
 *            samples, (c) the same without the wal/ directory.  A
 *            lossless check re-generates two hosts and compares every
 *            stored sample bit for bit.
 *   select   on the disk-phase database: querier open + select + reading
 *            every sample, for a few matcher shapes over the last 1 h
 *            (head) and the whole range (blocks + head); median of --runs.
 *
 * Output: a table on stdout; with --out FILE also the raw "key value"
 * lines, which bench/run.sh turns into docs/benchmarks.md.
 */
#include "mem.h"
#include "ph_error.h"
#include "tsdb.h"
#include "workload.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct cfg {
  bool quick;
  unsigned hosts;
  double tput_hours, rss_hours, disk_hours, big_hours;
  unsigned big_hosts;
  int runs;
  uint64_t seed;
  const char *tmp;
  const char *out;
  bool keep;
} cfg_t;

static cfg_t C;
static FILE *g_report; /* the child's end of the pipe */

/* ---- helpers ------------------------------------------------------------ */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rss_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long size = 0, res = 0;
  if (f) {
    if (fscanf(f, "%lu %lu", &size, &res) != 2) res = 0;
    fclose(f);
  }
  return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void report(const char *key, double v) {
  fprintf(g_report, "%s %.9g\n", key, v);
  fflush(g_report);
}

static void die(const char *what, const char *err) {
  fprintf(stderr, "bench_tsdb: %s: %s\n", what, err);
  exit(1);
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb; (void)flag; (void)ftw;
  return remove(p);
}

static void rm_rf(const char *p) { nftw(p, rm_cb, 16, FTW_DEPTH | FTW_PHYS); }

static uint64_t g_du_sum;
static const char *g_du_skip;
static int du_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)ftw;
  if (flag == FTW_F && (!g_du_skip || !strstr(p, g_du_skip))) g_du_sum += (uint64_t)sb->st_size;
  return 0;
}

/* Sum of the sizes of regular files under p, skipping paths containing skip. */
static uint64_t du(const char *p, const char *skip) {
  g_du_sum = 0;
  g_du_skip = skip;
  nftw(p, du_cb, 16, FTW_PHYS);
  return g_du_sum;
}

static tsdb_t *open_db(const char *path, double *secs) {
  tsdb_options_t o;
  tsdb_options_default(&o);
  o.path = path;
  o.no_background = true;
  o.retention_ms = 0;
  char err[512];
  tsdb_t *db = NULL;
  double t0 = now_s();
  if (tsdb_open(&o, &db, err, sizeof err) != 0) die("tsdb_open", err);
  if (secs) *secs = now_s() - t0;
  return db;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof v[0], cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void report_stats(const char *key, double *v, int n) {
  char k[128];
  double med = median(v, n);
  report(key, med);
  snprintf(k, sizeof k, "%s_min", key);
  report(k, v[0]);
  snprintf(k, sizeof k, "%s_max", key);
  report(k, v[n - 1]);
}

static wl_t *make_wl(unsigned hosts) {
  wl_opts_t o;
  wl_opts_default(&o);
  o.hosts = hosts;
  o.seed = C.seed;
  return wl_new(&o);
}

/* Appends one scrape of host h; refs[] caches series references. */
static void append_scrape(tsdb_t *db, const wl_t *wl, unsigned h, int64_t t,
                          const double *vals, uint64_t *refs, bool by_labels) {
  size_t n = wl_series_per_host(wl);
  tsdb_appender_t *a = tsdb_appender_new(db);
  char err[512];
  for (size_t i = 0; i < n; i++) {
    int rc = PH_ENOTFOUND;
    if (!by_labels && refs[i]) rc = tsdb_append_ref(a, refs[i], t, vals[i]);
    if (rc == PH_ENOTFOUND) {
      label_t pairs[WL_MAX_LABELS];
      size_t np = wl_labels(wl, h, i, pairs, WL_MAX_LABELS);
      labels_t *ls = labels_new(NULL, pairs, np, err, sizeof err);
      if (!ls) die("labels_new", err);
      rc = tsdb_append(a, ls, t, vals[i], &refs[i]);
      labels_free(ls);
    }
    if (rc != 0) {
      snprintf(err, sizeof err, "%s (host %u series %zu t=%" PRId64 ")", ph_strerror(rc), h, i, t);
      die("append", err);
    }
  }
  if (tsdb_appender_commit(a, err, sizeof err) != 0) die("commit", err);
}

/* Streams hosts [h0,h1) x steps [s0,s1) into db.  refs: hosts x n. */
static uint64_t ingest(tsdb_t *db, wl_t *wl, size_t s0, size_t s1, uint64_t *refs,
                       double maintain_every_ms) {
  size_t n = wl_series_per_host(wl);
  double *vals = ph_malloc(n * sizeof(double));
  uint64_t samples = 0;
  int64_t next_maint = 0;
  char err[512];
  for (size_t s = s0; s < s1; s++) {
    int64_t t = 0;
    for (unsigned h = 0; h < wl_hosts(wl); h++) {
      bool fresh;
      t = wl_scrape(wl, h, s, vals, &fresh);
      append_scrape(db, wl, h, t, vals, refs + (size_t)h * n, fresh);
      samples += n;
    }
    if (maintain_every_ms > 0) {
      if (next_maint == 0) next_maint = t + (int64_t)maintain_every_ms;
      if (t >= next_maint) {
        if (tsdb_maintain(db, err, sizeof err) != 0) die("tsdb_maintain", err);
        next_maint = t + (int64_t)maintain_every_ms;
      }
    }
  }
  free(vals);
  return samples;
}

static void make_dir(char *buf, size_t len, const char *name) {
  snprintf(buf, len, "%s/pharos-bench-%s.XXXXXX", C.tmp, name);
  if (!mkdtemp(buf)) {
    perror("mkdtemp");
    exit(1);
  }
}

/* ---- phase: append throughput ----------------------------------------- */

typedef struct pregen {
  wl_t *wl;
  size_t steps, n;
  unsigned hosts;
  double *vals;   /* [step][host][n] */
  int64_t *ts;    /* [step][host] */
} pregen_t;

typedef struct thr_arg {
  tsdb_t *db;
  const pregen_t *pg;
  unsigned h0, h1;
  uint64_t *refs;
  pthread_barrier_t *bar;
  double secs;
} thr_arg_t;

static void *append_thread(void *p) {
  thr_arg_t *a = p;
  const pregen_t *pg = a->pg;
  if (a->bar) pthread_barrier_wait(a->bar);
  double t0 = now_s();
  for (size_t s = 0; s < pg->steps; s++)
    for (unsigned h = a->h0; h < a->h1; h++)
      append_scrape(a->db, pg->wl, h, pg->ts[s * pg->hosts + h],
                    pg->vals + (s * pg->hosts + h) * pg->n, a->refs + (size_t)h * pg->n,
                    s == 0);
  a->secs = now_s() - t0;
  return NULL;
}

static double run_append(const pregen_t *pg, int nthreads, double *cpu_per_msample) {
  char dir[4096];
  make_dir(dir, sizeof dir, "append");
  tsdb_t *db = open_db(dir, NULL);
  uint64_t *refs = ph_calloc((size_t)pg->hosts * pg->n, sizeof(uint64_t));
  thr_arg_t args[2];
  pthread_t th[2];
  pthread_barrier_t bar;
  pthread_barrier_init(&bar, NULL, (unsigned)nthreads + 1);
  double c0 = cpu_s();
  for (int k = 0; k < nthreads; k++) {
    args[k] = (thr_arg_t){db, pg, pg->hosts * (unsigned)k / (unsigned)nthreads,
                          pg->hosts * (unsigned)(k + 1) / (unsigned)nthreads, refs, &bar, 0};
    pthread_create(&th[k], NULL, append_thread, &args[k]);
  }
  pthread_barrier_wait(&bar);
  double t0 = now_s();
  for (int k = 0; k < nthreads; k++) pthread_join(th[k], NULL);
  double wall = now_s() - t0;
  double cpu = cpu_s() - c0;
  pthread_barrier_destroy(&bar);
  double samples = (double)pg->steps * pg->hosts * (double)pg->n;
  *cpu_per_msample = cpu / (samples / 1e6);
  tsdb_close(db);
  free(refs);
  if (!C.keep) rm_rf(dir);
  return samples / wall;
}

static void phase_append(void) {
  pregen_t pg = {0};
  pg.wl = make_wl(C.hosts);
  pg.hosts = C.hosts;
  pg.n = wl_series_per_host(pg.wl);
  pg.steps = wl_steps_for(pg.wl, (int64_t)(C.tput_hours * 3600000.0));
  pg.vals = ph_malloc(pg.steps * pg.hosts * pg.n * sizeof(double));
  pg.ts = ph_malloc(pg.steps * pg.hosts * sizeof(int64_t));
  for (size_t s = 0; s < pg.steps; s++)
    for (unsigned h = 0; h < pg.hosts; h++)
      pg.ts[s * pg.hosts + h] = wl_scrape(pg.wl, h, s, pg.vals + (s * pg.hosts + h) * pg.n, NULL);
  report("append_series", (double)pg.hosts * (double)pg.n);
  report("append_samples", (double)pg.steps * pg.hosts * (double)pg.n);
  for (int nt = 1; nt <= 2; nt++) {
    double r[64], c[64];
    int runs = C.runs < 64 ? C.runs : 64;
    for (int k = 0; k < runs; k++) r[k] = run_append(&pg, nt, &c[k]);
    char key[64];
    snprintf(key, sizeof key, "append_%dt_sps", nt);
    report_stats(key, r, runs);
    snprintf(key, sizeof key, "append_%dt_cpu_s_per_msample", nt);
    report_stats(key, c, runs);
  }
  free(pg.vals);
  free(pg.ts);
  wl_free(pg.wl);
}

/* ---- phase: RSS per series and WAL replay ------------------------------ */

static void phase_rss_replay(const char *prefix, unsigned hosts, double hours, int runs) {
  wl_t *wl = make_wl(hosts);
  size_t n = wl_series_per_host(wl);
  uint64_t *refs = ph_calloc((size_t)hosts * n, sizeof(uint64_t));
  char dir[4096], key[128];
  make_dir(dir, sizeof dir, prefix);
  uint64_t rss0 = rss_bytes();
  tsdb_t *db = open_db(dir, NULL);
  double t0 = now_s();
  uint64_t samples = ingest(db, wl, 0, wl_steps_for(wl, (int64_t)(hours * 3600000.0)), refs, 0);
  double load_s = now_s() - t0;
  uint64_t rss1 = rss_bytes();
  tsdb_stats_t st;
  tsdb_get_stats(db, &st);
  snprintf(key, sizeof key, "%s_series", prefix);
  report(key, (double)st.head_series);
  snprintf(key, sizeof key, "%s_samples", prefix);
  report(key, (double)samples);
  snprintf(key, sizeof key, "%s_load_sps", prefix);
  report(key, (double)samples / load_s);
  snprintf(key, sizeof key, "%s_rss_bytes", prefix);
  report(key, (double)(rss1 - rss0));
  snprintf(key, sizeof key, "%s_rss_per_series", prefix);
  report(key, (double)(rss1 - rss0) / (double)(st.head_series ? st.head_series : 1));
  snprintf(key, sizeof key, "%s_wal_bytes", prefix);
  report(key, (double)du(dir, NULL));
  /* free the generator too: replay RSS is measured from a smaller base */
  free(refs);
  wl_free(wl);
  double *r = ph_malloc((size_t)runs * sizeof(double));
  for (int k = 0; k < runs; k++) {
    t0 = now_s();
    tsdb_close(db);
    double close_s = now_s() - t0;
    if (k == 0) {
      snprintf(key, sizeof key, "%s_close_s", prefix);
      report(key, close_s);
    }
    db = open_db(dir, &r[k]);
    if (k == 0) {
      tsdb_stats_t st2;
      tsdb_get_stats(db, &st2);
      snprintf(key, sizeof key, "%s_replayed_series", prefix);
      report(key, (double)st2.head_series);
      snprintf(key, sizeof key, "%s_rss_after_replay", prefix);
      report(key, (double)rss_bytes());
    }
  }
  snprintf(key, sizeof key, "%s_replay_s", prefix);
  report_stats(key, r, runs);
  free(r);
  tsdb_close(db);
  if (!C.keep) rm_rf(dir);
}

/* ---- phase: disk, lossless check, select latency ----------------------- */

typedef struct shape {
  const char *name;
  tsdb_matcher_t m[3];
  size_t n;
} shape_t;

static const shape_t shapes[] = {
    {"one metric, every host: node_load1", {{TSDB_MATCH_EQ, "__name__", "node_load1"}}, 1},
    {"cpu idle, every host", {{TSDB_MATCH_EQ, "__name__", "node_cpu_seconds_total"},
                              {TSDB_MATCH_EQ, "mode", "idle"}}, 2},
    {"regex on instance: cpu of host000[0-9]",
     {{TSDB_MATCH_EQ, "__name__", "node_cpu_seconds_total"},
      {TSDB_MATCH_RE, "instance", "host000[0-9]\\.lan:9100"}}, 2},
    {"regex on name + !=: network bytes without lo",
     {{TSDB_MATCH_RE, "__name__", "node_network_(receive|transmit)_bytes_total"},
      {TSDB_MATCH_NEQ, "device", "lo"}}, 2},
    {"one host, every series", {{TSDB_MATCH_EQ, "instance", "host0001.lan:9100"}}, 1},
    {"histogram buckets, one handler",
     {{TSDB_MATCH_EQ, "__name__", "http_request_duration_seconds_bucket"},
      {TSDB_MATCH_EQ, "handler", "/api/v1/query"}}, 2},
};
#define NSHAPES (sizeof shapes / sizeof shapes[0])

static double select_once(tsdb_t *db, int64_t mint, int64_t maxt, const shape_t *sh,
                          uint64_t *nseries, uint64_t *nsamples) {
  char err[512];
  double t0 = now_s();
  tsdb_querier_t *q;
  if (tsdb_querier_open(db, mint, maxt, &q) != 0) die("querier_open", "failed");
  tsdb_series_set_t *set;
  if (tsdb_select(q, sh->m, sh->n, &set, err, sizeof err) != 0) die("select", err);
  uint64_t ns = 0, nsmp = 0;
  volatile double sink = 0;
  while (tsdb_series_set_next(set)) {
    ns++;
    tsdb_iterator_t *it = tsdb_series_set_iterator(set);
    while (tsdb_iterator_next(it)) {
      int64_t t;
      double v;
      tsdb_iterator_at(it, &t, &v);
      sink += v;
      nsmp++;
    }
    if (tsdb_iterator_err(it) != 0) die("iterator", ph_strerror(tsdb_iterator_err(it)));
  }
  (void)sink;
  tsdb_series_set_free(set);
  tsdb_querier_close(q);
  *nseries = ns;
  *nsamples = nsmp;
  return now_s() - t0;
}

/* Re-generates host h and compares every stored sample with it. */
static void lossless_check(tsdb_t *db, unsigned hosts, unsigned h, size_t steps,
                           uint64_t *checked, uint64_t *bad) {
  wl_t *wl = make_wl(hosts);
  size_t n = wl_series_per_host(wl);
  double *vals = ph_malloc(steps * n * sizeof(double));
  int64_t *ts = ph_malloc(steps * sizeof(int64_t));
  for (size_t s = 0; s < steps; s++) ts[s] = wl_scrape(wl, h, s, vals + s * n, NULL);
  label_t pairs[WL_MAX_LABELS];
  wl_labels(wl, h, 0, pairs, WL_MAX_LABELS);
  const char *inst = NULL;
  for (size_t k = 0; k < WL_MAX_LABELS; k++)
    if (!strcmp(pairs[k].name, "instance")) { inst = pairs[k].value; break; }
  tsdb_querier_t *q;
  if (tsdb_querier_open(db, INT64_MIN, INT64_MAX, &q) != 0) die("querier_open", "failed");
  char err[512];
  for (size_t i = 0; i < n; i++) {
    label_t lp[WL_MAX_LABELS];
    size_t np = wl_labels(wl, h, i, lp, WL_MAX_LABELS);
    tsdb_matcher_t m[WL_MAX_LABELS];
    for (size_t k = 0; k < np; k++) m[k] = (tsdb_matcher_t){TSDB_MATCH_EQ, lp[k].name, lp[k].value};
    tsdb_series_set_t *set;
    if (tsdb_select(q, m, np, &set, err, sizeof err) != 0) die("select", err);
    size_t s = 0;
    if (tsdb_series_set_count(set) != 1) {
      (*bad) += steps;
    } else if (tsdb_series_set_next(set)) {
      tsdb_iterator_t *it = tsdb_series_set_iterator(set);
      while (tsdb_iterator_next(it)) {
        int64_t t;
        double v;
        tsdb_iterator_at(it, &t, &v);
        if (s >= steps || t != ts[s] || memcmp(&v, &vals[s * n + i], sizeof v) != 0) (*bad)++;
        (*checked)++;
        s++;
      }
      if (s != steps) (*bad) += s > steps ? s - steps : steps - s;
    }
    tsdb_series_set_free(set);
  }
  (void)inst;
  tsdb_querier_close(q);
  free(vals);
  free(ts);
  wl_free(wl);
}

static void phase_disk(void) {
  wl_t *wl = make_wl(C.hosts);
  size_t n = wl_series_per_host(wl);
  uint64_t *refs = ph_calloc((size_t)C.hosts * n, sizeof(uint64_t));
  char dir[4096], waldir[4200], err[512];
  make_dir(dir, sizeof dir, "disk");
  tsdb_t *db = open_db(dir, NULL);
  size_t steps = wl_steps_for(wl, (int64_t)(C.disk_hours * 3600000.0));
  double t0 = now_s();
  uint64_t samples = ingest(db, wl, 0, steps, refs, 30 * 60000.0);
  double ingest_s = now_s() - t0;
  free(refs);
  wl_free(wl);
  t0 = now_s();
  for (int k = 0; k < 10; k++) {
    tsdb_stats_t a, b;
    tsdb_get_stats(db, &a);
    if (tsdb_maintain(db, err, sizeof err) != 0) die("tsdb_maintain", err);
    tsdb_get_stats(db, &b);
    if (a.blocks == b.blocks && a.blocks_bytes == b.blocks_bytes) break;
  }
  double maint_s = now_s() - t0;
  tsdb_block_info_t *bi;
  size_t nb;
  tsdb_blocks_info(db, &bi, &nb);
  uint64_t bsamples = 0, bbytes = 0;
  int64_t bmint = INT64_MAX, bmaxt = INT64_MIN;
  int maxlevel = 0;
  for (size_t k = 0; k < nb; k++) {
    bsamples += bi[k].samples;
    bbytes += bi[k].bytes;
    if (bi[k].mint < bmint) bmint = bi[k].mint;
    if (bi[k].maxt > bmaxt) bmaxt = bi[k].maxt;
    if (bi[k].level > maxlevel) maxlevel = bi[k].level;
  }
  tsdb_blocks_info_free(bi);
  snprintf(waldir, sizeof waldir, "%s/wal", dir);
  uint64_t all = du(dir, NULL), wal = du(waldir, NULL);
  uint64_t noswal = du(dir, "/wal/");
  tsdb_stats_t st;
  tsdb_get_stats(db, &st);
  report("disk_series", (double)C.hosts * (double)n);
  report("disk_hours", C.disk_hours);
  report("disk_samples", (double)samples);
  report("disk_ingest_sps", (double)samples / ingest_s);
  report("disk_final_maintain_s", maint_s);
  report("disk_blocks", (double)nb);
  report("disk_max_level", maxlevel);
  report("disk_block_samples", (double)bsamples);
  report("disk_block_bytes", (double)bbytes);
  report("disk_block_hours", nb ? (double)(bmaxt - bmint) / 3600000.0 : 0);
  report("disk_bytes_per_sample_blocks", bsamples ? (double)bbytes / (double)bsamples : 0);
  report("disk_dir_bytes", (double)all);
  report("disk_wal_bytes", (double)wal);
  report("disk_bytes_per_sample_all", (double)all / (double)samples);
  report("disk_bytes_per_sample_no_wal", (double)noswal / (double)samples);
  report("disk_head_series", (double)st.head_series);

  /* lossless: first and last host, every sample */
  uint64_t checked = 0, bad = 0;
  lossless_check(db, C.hosts, 0, steps, &checked, &bad);
  if (C.hosts > 1) lossless_check(db, C.hosts, C.hosts - 1, steps, &checked, &bad);
  report("lossless_checked", (double)checked);
  report("lossless_mismatches", (double)bad);

  /* select latency */
  wl_t *w2 = make_wl(C.hosts);
  int64_t start = wl_options(w2)->start_ms;
  wl_free(w2);
  int64_t end = start + (int64_t)(C.disk_hours * 3600000.0);
  struct { const char *tag; int64_t mint; } ranges[2] = {{"1h", end - 3600000}, {"all", start}};
  for (size_t r = 0; r < 2; r++) {
    for (size_t s = 0; s < NSHAPES; s++) {
      double lat[64];
      int runs = C.runs < 64 ? C.runs : 64;
      uint64_t ns = 0, nsmp = 0;
      select_once(db, ranges[r].mint, end, &shapes[s], &ns, &nsmp); /* warm */
      for (int k = 0; k < runs; k++) lat[k] = select_once(db, ranges[r].mint, end, &shapes[s], &ns, &nsmp);
      char key[128];
      snprintf(key, sizeof key, "select_%s_%zu_ms", ranges[r].tag, s);
      for (int k = 0; k < runs; k++) lat[k] *= 1000;
      report_stats(key, lat, runs);
      snprintf(key, sizeof key, "select_%s_%zu_series", ranges[r].tag, s);
      report(key, (double)ns);
      snprintf(key, sizeof key, "select_%s_%zu_samples", ranges[r].tag, s);
      report(key, (double)nsmp);
    }
  }
  tsdb_close(db);
  if (!C.keep) rm_rf(dir);
}

/* ---- driver: one child per phase --------------------------------------- */

typedef struct kv {
  char key[96];
  double v;
} kv_t;

static kv_t *g_kv;
static size_t g_nkv, g_kvcap;

static bool get(const char *key, double *v) {
  for (size_t i = 0; i < g_nkv; i++)
    if (!strcmp(g_kv[i].key, key)) { *v = g_kv[i].v; return true; }
  return false;
}

static double getd(const char *key) {
  double v = NAN;
  get(key, &v);
  return v;
}

static int run_phase(const char *name, void (*fn)(void *), void *arg) {
  int fd[2];
  if (pipe(fd) != 0) { perror("pipe"); return -1; }
  fflush(stdout);
  fflush(stderr);
  fprintf(stderr, "bench_tsdb: phase %s ...\n", name);
  double t0 = now_s();
  pid_t pid = fork();
  if (pid < 0) { perror("fork"); return -1; }
  if (pid == 0) {
    close(fd[0]);
    g_report = fdopen(fd[1], "w");
    fn(arg);
    fclose(g_report);
    free(g_kv);
    exit(0);
  }
  close(fd[1]);
  FILE *in = fdopen(fd[0], "r");
  char line[256];
  while (fgets(line, sizeof line, in)) {
    kv_t e;
    if (sscanf(line, "%95s %lf", e.key, &e.v) != 2) continue;
    ph_grow(&g_kv, &g_kvcap, g_nkv + 1);
    g_kv[g_nkv++] = e;
  }
  fclose(in);
  int st;
  waitpid(pid, &st, 0);
  fprintf(stderr, "bench_tsdb: phase %s done in %.1f s\n", name, now_s() - t0);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    fprintf(stderr, "bench_tsdb: phase %s failed\n", name);
    return -1;
  }
  return 0;
}

static void ph_append_fn(void *a) { (void)a; phase_append(); }
static void ph_rss_fn(void *a) { (void)a; phase_rss_replay("head", C.hosts, C.rss_hours, C.runs); }
static void ph_big_fn(void *a) { (void)a; phase_rss_replay("big", C.big_hosts, C.big_hours, 1); }
static void ph_disk_fn(void *a) { (void)a; phase_disk(); }

static void fmt_si(char *b, size_t n, double v) {
  if (isnan(v)) snprintf(b, n, "-");
  else if (v >= 1e9) snprintf(b, n, "%.2f G", v / 1e9);
  else if (v >= 1e6) snprintf(b, n, "%.2f M", v / 1e6);
  else if (v >= 1e3) snprintf(b, n, "%.1f k", v / 1e3);
  else snprintf(b, n, "%.3g", v);
}

static void row3(const char *what, const char *key, const char *unit, double scale) {
  char k[128];
  double v = getd(key) * scale;
  snprintf(k, sizeof k, "%s_min", key);
  double lo = getd(k) * scale;
  snprintf(k, sizeof k, "%s_max", key);
  double hi = getd(k) * scale;
  char a[32], b[32], c[32];
  fmt_si(a, sizeof a, v);
  fmt_si(b, sizeof b, lo);
  fmt_si(c, sizeof c, hi);
  printf("| %-46s | %12s | %12s | %12s | %-10s |\n", what, a, b, c, unit);
}

static void row1(const char *what, double v, const char *unit) {
  char a[32];
  fmt_si(a, sizeof a, v);
  printf("| %-46s | %12s | %12s | %12s | %-10s |\n", what, a, "", "", unit);
}

static void print_table(void) {
  printf("\n## bench_tsdb results (%u hosts x %zu series/host%s)\n\n", C.hosts,
         (size_t)(getd("append_series") / C.hosts), C.quick ? ", quick mode" : "");
  printf("| %-46s | %12s | %12s | %12s | %-10s |\n", "measure", "median", "min", "max", "unit");
  printf("|%s|%s|%s|%s|%s|\n", "------------------------------------------------",
         "--------------", "--------------", "--------------", "------------");
  row3("appender, 1 thread", "append_1t_sps", "samples/s", 1);
  row3("appender, 2 threads", "append_2t_sps", "samples/s", 1);
  row3("appender CPU, 1 thread", "append_1t_cpu_s_per_msample", "s/M samples", 1);
  row3("appender CPU, 2 threads", "append_2t_cpu_s_per_msample", "s/M samples", 1);
  row1("RSS per head series", getd("head_rss_per_series"), "bytes");
  row1("  head series", getd("head_series"), "series");
  row1("  head samples", getd("head_samples"), "samples");
  row3("WAL replay (restart) of that head", "head_replay_s", "s", 1);
  row1("  RSS after replay (whole process)", getd("head_rss_after_replay"), "bytes");
  double v;
  if (get("big_replay_s", &v)) {
    row1("WAL replay, big head", v, "s");
    row1("  big head series", getd("big_series"), "series");
    row1("  big head samples", getd("big_samples"), "samples");
    row1("  RSS per series, big head", getd("big_rss_per_series"), "bytes");
  }
  row1("disk: blocks only, per sample in blocks", getd("disk_bytes_per_sample_blocks"), "bytes");
  row1("disk: whole data dir incl. WAL, per sample", getd("disk_bytes_per_sample_all"), "bytes");
  row1("disk: whole data dir excl. WAL, per sample", getd("disk_bytes_per_sample_no_wal"), "bytes");
  row1("  samples ingested", getd("disk_samples"), "samples");
  row1("  samples in blocks", getd("disk_block_samples"), "samples");
  row1("  blocks (highest level)", getd("disk_blocks"), "blocks");
  row1("  lossless check: samples compared", getd("lossless_checked"), "samples");
  row1("  lossless check: mismatches", getd("lossless_mismatches"), "samples");
  for (int r = 0; r < 2; r++) {
    for (size_t s = 0; s < NSHAPES; s++) {
      char key[128], what[160];
      const char *tag = r == 0 ? "1h" : "all";
      snprintf(key, sizeof key, "select_%s_%zu_ms", tag, s);
      snprintf(what, sizeof what, "select %s: %.30s", tag, shapes[s].name);
      if (get(key, &v)) row3(what, key, "ms", 1);
    }
  }
  printf("\nselect shapes (series / samples read over the whole range):\n");
  for (size_t s = 0; s < NSHAPES; s++) {
    char k1[64], k2[64];
    snprintf(k1, sizeof k1, "select_all_%zu_series", s);
    snprintf(k2, sizeof k2, "select_all_%zu_samples", s);
    printf("  %zu. %s: %.0f series, %.0f samples\n", s, shapes[s].name, getd(k1), getd(k2));
  }
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: bench_tsdb [--quick] [--hosts N] [--tput-hours H] [--rss-hours H]\n"
          "                  [--disk-hours H] [--big-hosts N] [--big-hours H] [--runs N]\n"
          "                  [--seed S] [--tmp DIR] [--out FILE] [--keep]\n"
          "defaults: 100 hosts (~51k series), tput 1h, rss/replay 3h, disk 24h,\n"
          "          big replay 2000 hosts (~1M series) x 1h, 3 runs\n"
          "--quick: 4 hosts, 0.25h/0.5h/4h, no big replay, 1 run\n");
}

int main(int argc, char **argv) {
  C = (cfg_t){false, 100, 1, 3, 24, 1, 2000, 3, 42, NULL, NULL, false};
  const char *t = getenv("TMPDIR");
  C.tmp = t && *t ? t : "/tmp";
  static const struct option lo[] = {
      {"quick", no_argument, 0, 'q'},        {"hosts", required_argument, 0, 'h'},
      {"tput-hours", required_argument, 0, 'T'}, {"rss-hours", required_argument, 0, 'R'},
      {"disk-hours", required_argument, 0, 'D'}, {"big-hosts", required_argument, 0, 'B'},
      {"big-hours", required_argument, 0, 'b'},  {"runs", required_argument, 0, 'r'},
      {"seed", required_argument, 0, 's'},       {"tmp", required_argument, 0, 't'},
      {"out", required_argument, 0, 'o'},        {"keep", no_argument, 0, 'k'},
      {"help", no_argument, 0, 'H'},             {0, 0, 0, 0}};
  /* --quick first, so explicit sizes override it */
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--quick")) {
      C.quick = true;
      C.hosts = 4;
      C.tput_hours = 0.25;
      C.rss_hours = 0.5;
      C.disk_hours = 4;
      C.big_hosts = 0;
      C.runs = 1;
    }
  int c;
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (c) {
      case 'q': break;
      case 'h': C.hosts = (unsigned)strtoul(optarg, NULL, 10); break;
      case 'T': C.tput_hours = strtod(optarg, NULL); break;
      case 'R': C.rss_hours = strtod(optarg, NULL); break;
      case 'D': C.disk_hours = strtod(optarg, NULL); break;
      case 'B': C.big_hosts = (unsigned)strtoul(optarg, NULL, 10); break;
      case 'b': C.big_hours = strtod(optarg, NULL); break;
      case 'r': C.runs = atoi(optarg); break;
      case 's': C.seed = strtoull(optarg, NULL, 10); break;
      case 't': C.tmp = optarg; break;
      case 'o': C.out = optarg; break;
      case 'k': C.keep = true; break;
      case 'H': usage(stdout); return 0;
      default: usage(stderr); return 2;
    }
  }
  if (C.hosts == 0 || C.runs < 1 || C.tput_hours <= 0 || C.rss_hours <= 0 || C.disk_hours <= 0) {
    usage(stderr);
    return 2;
  }
  int fails = 0;
  fails += run_phase("append", ph_append_fn, NULL) != 0;
  fails += run_phase("rss+replay", ph_rss_fn, NULL) != 0;
  if (C.big_hosts > 0 && C.big_hours > 0) fails += run_phase("big replay", ph_big_fn, NULL) != 0;
  fails += run_phase("disk+select", ph_disk_fn, NULL) != 0;
  print_table();
  if (C.out) {
    FILE *f = fopen(C.out, "w");
    if (!f) { perror(C.out); fails++; }
    else {
      fprintf(f, "hosts %u\nseries_per_host %.0f\nquick %d\nruns %d\n", C.hosts,
              getd("append_series") / C.hosts, C.quick, C.runs);
      fprintf(f, "tput_hours %g\nrss_hours %g\ndisk_hours %g\nbig_hosts %u\nbig_hours %g\n",
              C.tput_hours, C.rss_hours, C.disk_hours, C.big_hosts, C.big_hours);
      for (size_t i = 0; i < g_nkv; i++) fprintf(f, "%s %.9g\n", g_kv[i].key, g_kv[i].v);
      fclose(f);
    }
  }
  free(g_kv);
  return fails ? 1 : 0;
}
