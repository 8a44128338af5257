/*
 * test_scrape.c - the scrape manager against a real HTTP server
 * (common/httpd on 127.0.0.1, port 0) and a real TSDB in a temporary
 * directory: samples stored with job/instance, report series, staleness
 * markers (series gone, target removed, shutdown), failed scrapes (HTTP
 * 500, malformed body, timeout, sample_limit, body_size_limit) storing
 * nothing and reporting up=0, honor_labels, metric relabeling, gzip, the
 * headers sent (Accept, auth), file_sd, reloads that keep targets.
 * Scrape intervals are 100-200ms and every wait is bounded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../../tsdb/tsdb.h"
#include "expfmt.h"
#include "httpd.h"
#include "ph_error.h"
#include "scrape.h"
#include "scrape_config.h"
#include "timeparse.h"
#include "ycfg.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the target: an HTTP server whose answer the test sets ----------------- */

typedef struct srv {
  httpd_t *h;
  int port;
  pthread_mutex_t mu;
  char *body;
  int status;
  const char *ctype;
  int delay_ms;
  int hits;
  char auth[256], accept[512], accept_enc[128], timeout_hdr[64], path[256];
} srv_t;

static srv_t S;

static void copy_hdr(httpd_req_t *r, const char *name, char *dst, size_t n) {
  const char *v = httpd_req_header(r, name);
  snprintf(dst, n, "%s", v ? v : "");
}

static void handler(httpd_req_t *r, void *ud) {
  srv_t *s = ud;
  pthread_mutex_lock(&s->mu);
  char *body = strdup(s->body ? s->body : "");
  int status = s->status, delay = s->delay_ms;
  const char *ct = s->ctype;
  s->hits++;
  copy_hdr(r, "Authorization", s->auth, sizeof s->auth);
  copy_hdr(r, "Accept", s->accept, sizeof s->accept);
  copy_hdr(r, "Accept-Encoding", s->accept_enc, sizeof s->accept_enc);
  copy_hdr(r, "X-Prometheus-Scrape-Timeout-Seconds", s->timeout_hdr, sizeof s->timeout_hdr);
  const char *q = httpd_req_param(r, "module");
  snprintf(s->path, sizeof s->path, "%s%s%s", httpd_req_path(r), q ? "?module=" : "", q ? q : "");
  pthread_mutex_unlock(&s->mu);
  if (delay > 0) usleep((useconds_t)delay * 1000);
  httpd_respond(r, status, ct, body, strlen(body));
  free(body);
}

static void srv_set(int status, const char *ct, const char *body, int delay_ms) {
  pthread_mutex_lock(&S.mu);
  free(S.body);
  S.body = strdup(body);
  S.status = status;
  S.ctype = ct;
  S.delay_ms = delay_ms;
  pthread_mutex_unlock(&S.mu);
}

#define TEXT_CT "text/plain; version=0.0.4; charset=utf-8"

/* ---- fixture: server, database, manager ------------------------------------ */

typedef struct fx {
  char dir[64];
  tsdb_t *db;
  scrape_manager_t *m;
  char addr[64];
} fx_t;

static int setup(void **state) {
  fx_t *f = calloc(1, sizeof *f);
  snprintf(f->dir, sizeof f->dir, "/tmp/pharos-scrape-test.XXXXXX");
  if (mkdtemp(f->dir) == NULL) return -1;
  tsdb_options_t o;
  tsdb_options_default(&o);
  o.path = f->dir;
  o.no_background = true;
  char err[512];
  if (tsdb_open(&o, &f->db, err, sizeof err) != 0) {
    fprintf(stderr, "tsdb_open: %s\n", err);
    return -1;
  }
  memset(&S, 0, sizeof S);
  pthread_mutex_init(&S.mu, NULL);
  S.h = httpd_new(NULL);
  httpd_route(S.h, "GET", "/*", handler, &S);
  if (httpd_start(S.h, "127.0.0.1:0", err, sizeof err) != 0) {
    fprintf(stderr, "httpd_start: %s\n", err);
    return -1;
  }
  S.port = httpd_port(S.h);
  snprintf(f->addr, sizeof f->addr, "127.0.0.1:%d", S.port);
  srv_set(200, TEXT_CT, "", 0);
  scrape_manager_options_t mo = {.db = f->db, .offset_seed = 0, .sd_poll_ms = 50};
  if (scrape_manager_new(&mo, &f->m, err, sizeof err) != 0) {
    fprintf(stderr, "scrape_manager_new: %s\n", err);
    return -1;
  }
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx_t *f = *state;
  scrape_manager_free(f->m);
  httpd_free(S.h);
  free(S.body);
  pthread_mutex_destroy(&S.mu);
  tsdb_close(f->db);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
  if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", f->dir);
  free(f);
  return 0;
}

/* ---- config ---------------------------------------------------------------------- */

static scrape_config_t *config(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static scrape_config_t *config(const char *fmt, ...) {
  char yaml[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(yaml, sizeof yaml, fmt, ap);
  va_end(ap);
  char err[1024];
  ydoc_t *doc;
  if (ydoc_load_string("test.yml", yaml, strlen(yaml), &doc, err, sizeof err) != 0)
    fail_msg("%s", err);
  ycfg_t *c = ycfg_new(doc, err, sizeof err);
  scrape_config_t *cfg = scrape_config_new();
  const ynode_t *root = ydoc_root(doc);
  int rc = 0;
  const ynode_t *g = ynode_map_get(root, "global");
  if (g) rc = scrape_config_decode_global(c, g, cfg);
  const ynode_t *jobs = ynode_map_get(root, "scrape_configs");
  if (rc == 0 && jobs) rc = scrape_config_decode_jobs(c, jobs, cfg);
  ycfg_free(c);
  ydoc_free(doc);
  if (rc != 0) fail_msg("config: %s", err);
  return cfg;
}

static void apply(fx_t *f, scrape_config_t *cfg) {
  scrape_manager_apply(f->m, cfg);
  scrape_config_unref(cfg);
}

/* ---- waiting and reading back ------------------------------------------------------- */

/* Snapshot of the first active target of pool job (copied fields). */
typedef struct tinfo {
  bool found;
  uint64_t scrapes;
  scrape_health_t health;
  char error[512];
  char url[256];
  char instance[64];
  size_t active;
} tinfo_t;

static tinfo_t target(fx_t *f, const char *job) {
  tinfo_t ti = {0};
  scrape_target_info_t *v;
  size_t n;
  scrape_manager_targets(f->m, &v, &n);
  for (size_t i = 0; i < n; i++) {
    if (v[i].dropped || strcmp(v[i].pool, job) != 0) continue;
    ti.active++;
    if (ti.found) continue;
    ti.found = true;
    ti.scrapes = v[i].scrapes;
    ti.health = v[i].health;
    snprintf(ti.error, sizeof ti.error, "%s", v[i].last_error);
    snprintf(ti.url, sizeof ti.url, "%s", v[i].scrape_url);
    const char *inst = labels_get(v[i].labels, "instance");
    snprintf(ti.instance, sizeof ti.instance, "%s", inst ? inst : "");
  }
  scrape_target_infos_free(v, n);
  return ti;
}

/* Waits (at most ~8s) until the job's target has finished n scrapes
 * (counted from now when rel); returns the snapshot. */
static tinfo_t wait_scrapes(fx_t *f, const char *job, uint64_t n, bool rel) {
  uint64_t base = rel ? target(f, job).scrapes : 0;
  tinfo_t ti = {0};
  for (int i = 0; i < 800; i++) {
    ti = target(f, job);
    if (ti.found && ti.scrapes >= base + n) return ti;
    usleep(10000);
  }
  fail_msg("job %s: %llu scrapes after 8s, wanted %llu", job, (unsigned long long)ti.scrapes,
           (unsigned long long)(base + n));
  return ti;
}

typedef struct series {
  size_t nseries;
  labels_t *ls;  /* of the first series */
  long n;        /* its samples */
  double last;   /* its last value */
  double first;
  size_t nstale;
} series_t;

/* Series matching __name__=name and optional extra name=value pairs. */
static series_t read_series(fx_t *f, const char *name, ...) {
  tsdb_matcher_t m[8];
  size_t nm = 0;
  m[nm++] = (tsdb_matcher_t){TSDB_MATCH_EQ, "__name__", name};
  va_list ap;
  va_start(ap, name);
  for (const char *k = va_arg(ap, const char *); k && nm < 8; k = va_arg(ap, const char *))
    m[nm++] = (tsdb_matcher_t){TSDB_MATCH_EQ, k, va_arg(ap, const char *)};
  va_end(ap);
  series_t s = {0};
  int64_t now = ph_now_ms();
  tsdb_querier_t *q;
  assert_int_equal(tsdb_querier_open(f->db, now - 3600000, now + 3600000, &q), 0);
  tsdb_series_set_t *set;
  char err[256];
  assert_int_equal(tsdb_select(q, m, nm, &set, err, sizeof err), 0);
  s.nseries = tsdb_series_set_count(set);
  if (tsdb_series_set_next(set)) {
    s.ls = labels_dup(tsdb_series_set_labels(set));
    tsdb_iterator_t *it = tsdb_series_set_iterator(set);
    while (tsdb_iterator_next(it)) {
      int64_t t;
      double v;
      tsdb_iterator_at(it, &t, &v);
      if (s.n == 0) s.first = v;
      s.last = v;
      s.n++;
      if (tsdb_is_stale_nan(v)) s.nstale++;
    }
  }
  tsdb_series_set_free(set);
  tsdb_querier_close(q);
  return s;
}

static void series_done(series_t *s) { labels_free(s->ls); }

/* Waits until the series' last sample is a staleness marker. */
static void wait_stale(fx_t *f, const char *name, const char *k, const char *v) {
  for (int i = 0; i < 800; i++) {
    series_t s = read_series(f, name, k, v, NULL);
    bool stale = s.n > 0 && tsdb_is_stale_nan(s.last);
    series_done(&s);
    if (stale) return;
    usleep(10000);
  }
  fail_msg("%s{%s=\"%s\"} never went stale", name, k, v);
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_samples_and_report_series(void **state) {
  fx_t *f = *state;
  srv_set(200, TEXT_CT,
          "# HELP m1 The first metric.\n# TYPE m1 counter\nm1{a=\"x\"} 1\n"
          "# TYPE m2 gauge\nm2 2.5\n",
          0);
  apply(f, config("scrape_configs:\n  - job_name: j\n    scrape_interval: 100ms\n"
                  "    static_configs:\n      - targets: ['%s']\n        labels: {env: test}\n",
                  f->addr));
  tinfo_t ti = wait_scrapes(f, "j", 3, false);
  assert_int_equal(ti.health, SCRAPE_HEALTH_UP);
  assert_string_equal(ti.error, "");
  assert_string_equal(ti.instance, f->addr);
  char url[128];
  snprintf(url, sizeof url, "http://%s/metrics", f->addr);
  assert_string_equal(ti.url, url);

  series_t s = read_series(f, "m1", "job", "j", "instance", f->addr, "a", "x", "env", "test", NULL);
  assert_int_equal(s.nseries, 1);
  assert_true(s.n >= 3);
  assert_true(s.last == 1);
  assert_int_equal(labels_len(s.ls), 5); /* __name__ a env instance job */
  series_done(&s);
  s = read_series(f, "up", "job", "j", NULL);
  assert_int_equal(s.nseries, 1);
  assert_true(s.last == 1);
  assert_string_equal(labels_get(s.ls, "env"), "test");
  series_done(&s);
  s = read_series(f, "scrape_samples_scraped", "job", "j", NULL);
  assert_true(s.last == 2);
  series_done(&s);
  s = read_series(f, "scrape_samples_post_metric_relabeling", "job", "j", NULL);
  assert_true(s.last == 2);
  series_done(&s);
  s = read_series(f, "scrape_series_added", "job", "j", NULL);
  assert_true(s.first == 2); /* new in the first scrape, from the cache after */
  assert_true(s.last == 0);
  series_done(&s);
  s = read_series(f, "scrape_duration_seconds", "job", "j", NULL);
  assert_true(s.last > 0 && s.last < 1);
  series_done(&s);

  /* what was sent */
  pthread_mutex_lock(&S.mu);
  assert_string_equal(S.accept, EXPFMT_ACCEPT_HEADER);
  assert_non_null(strstr(S.accept_enc, "gzip"));
  assert_string_equal(S.timeout_hdr, "0.1");
  assert_string_equal(S.auth, "");
  pthread_mutex_unlock(&S.mu);

  /* metadata of the last scrape */
  scrape_metadata_info_t *md;
  size_t n;
  scrape_manager_metadata(f->m, "m1", &md, &n);
  assert_int_equal(n, 1);
  assert_string_equal(md[0].type, "counter");
  assert_string_equal(md[0].help, "The first metric.");
  assert_string_equal(md[0].unit, "");
  assert_string_equal(labels_get(md[0].target, "job"), "j");
  scrape_metadata_infos_free(md, n);
  scrape_manager_metadata(f->m, NULL, &md, &n);
  assert_int_equal(n, 2);
  scrape_metadata_infos_free(md, n);

  scrape_stats_t st;
  scrape_manager_stats(f->m, &st);
  assert_int_equal(st.targets_active, 1);
  assert_true(st.scrapes_total >= 3);
  assert_int_equal(st.scrapes_failed, 0);
  strbuf_t b = STRBUF_INIT;
  scrape_manager_write_metrics(f->m, &b);
  assert_non_null(strstr(strbuf_cstr(&b), "pharos_target_scrapes_total "));
  strbuf_free(&b);
}

static void test_staleness(void **state) {
  fx_t *f = *state;
  srv_set(200, TEXT_CT, "keep 1\ngone 2\n", 0);
  apply(f, config("scrape_configs:\n  - job_name: j\n    scrape_interval: 100ms\n"
                  "    static_configs:\n      - targets: ['%s']\n",
                  f->addr));
  wait_scrapes(f, "j", 2, false);
  srv_set(200, TEXT_CT, "keep 1\n", 0);
  wait_stale(f, "gone", "job", "j");
  series_t s = read_series(f, "gone", NULL);
  assert_int_equal(s.nstale, 1);
  series_done(&s);
  s = read_series(f, "keep", NULL);
  assert_int_equal(s.nstale, 0);
  series_done(&s);
  /* it comes back: samples again, no new marker until it goes again */
  srv_set(200, TEXT_CT, "keep 1\ngone 3\n", 0);
  wait_scrapes(f, "j", 2, true);
  s = read_series(f, "gone", NULL);
  assert_true(s.last == 3);
  assert_int_equal(s.nstale, 1);
  series_done(&s);

  /* the target goes away: markers for its series and its report series */
  apply(f, config("scrape_configs: []\n"));
  wait_stale(f, "keep", "job", "j");
  wait_stale(f, "up", "job", "j");
  wait_stale(f, "scrape_duration_seconds", "job", "j");
  assert_false(target(f, "j").found);
}

static void test_stale_on_shutdown(void **state) {
  fx_t *f = *state;
  srv_set(200, TEXT_CT, "m 1\n", 0);
  apply(f, config("scrape_configs:\n  - job_name: j\n    scrape_interval: 100ms\n"
                  "    static_configs:\n      - targets: ['%s']\n",
                  f->addr));
  wait_scrapes(f, "j", 1, false);
  scrape_manager_free(f->m);
  f->m = NULL;
  series_t s = read_series(f, "m", NULL);
  assert_true(tsdb_is_stale_nan(s.last));
  series_done(&s);
  s = read_series(f, "up", NULL);
  assert_true(tsdb_is_stale_nan(s.last));
  series_done(&s);
  /* teardown expects a manager */
  scrape_manager_options_t mo = {.db = f->db};
  char err[256];
  assert_int_equal(scrape_manager_new(&mo, &f->m, err, sizeof err), 0);
}

/* One failing scrape: up=0 and the error; nothing of the body stored; the
 * previous scrape's series marked stale. */
static void check_failure(fx_t *f, int status, const char *ct, const char *body, int delay,
                          const char *want_error, double want_post) {
  srv_set(200, TEXT_CT, "ok_series 1\n", 0);
  wait_scrapes(f, "j", 2, true);
  tinfo_t ti = target(f, "j");
  assert_int_equal(ti.health, SCRAPE_HEALTH_UP);
  srv_set(status, ct, body, delay);
  for (int i = 0; i < 800; i++) {
    ti = target(f, "j");
    if (ti.health == SCRAPE_HEALTH_DOWN) break;
    usleep(10000);
  }
  assert_int_equal(ti.health, SCRAPE_HEALTH_DOWN);
  if (strstr(ti.error, want_error) == NULL)
    fail_msg("error \"%s\" lacks \"%s\"", ti.error, want_error);
  series_t s = read_series(f, "up", "job", "j", NULL);
  if (s.last != 0) fail_msg("up: %zu series, %ld samples, last %g", s.nseries, s.n, s.last);
  series_done(&s);
  s = read_series(f, "should_not_exist", NULL);
  assert_int_equal(s.nseries, 0);
  series_done(&s);
  s = read_series(f, "ok_series", NULL);
  assert_true(tsdb_is_stale_nan(s.last));
  series_done(&s);
  /* as Prometheus, the counts of the failed parse are reported */
  s = read_series(f, "scrape_samples_post_metric_relabeling", "job", "j", NULL);
  if (s.last != want_post) fail_msg("post_metric_relabeling %g, want %g", s.last, want_post);
  series_done(&s);
}

static void test_failed_scrapes(void **state) {
  fx_t *f = *state;
  apply(f, config("scrape_configs:\n  - job_name: j\n    scrape_interval: 200ms\n"
                  "    scrape_timeout: 100ms\n    sample_limit: 3\n    body_size_limit: 2KB\n"
                  "    static_configs:\n      - targets: ['%s']\n",
                  f->addr));
  check_failure(f, 500, TEXT_CT, "should_not_exist 1\n", 0,
                "server returned HTTP status 500 Internal Server Error", 0);
  check_failure(f, 200, TEXT_CT, "should_not_exist 1\nthis is not { valid\n", 0, "2:", 1);
  check_failure(f, 200, TEXT_CT, "should_not_exist 1\n", 400, "context deadline exceeded", 0);
  check_failure(f, 200, TEXT_CT, "should_not_exist 1\na 1\nb 1\nc 1\n", 0,
                "sample limit exceeded", 4);
  char big[3000];
  memset(big, '#', sizeof big - 2);
  memcpy(big, "should_not_exist 1\n", 19);
  big[sizeof big - 2] = '\n';
  big[sizeof big - 1] = '\0';
  check_failure(f, 200, TEXT_CT, big, 0, "body size limit exceeded", 0);
  check_failure(f, 200, "application/openmetrics-text; version=1.0.0", "should_not_exist 1\n", 0,
                "# EOF", 1);
  /* The parser's label step runs only on cache misses: ok_series hits the
   * cache, the new bad line misses and still fails the scrape, with the
   * eager parser's message and position. */
  check_failure(f, 200, TEXT_CT, "should_not_exist 1\nok_series 1\ndup{a=\"1\",a=\"2\"} 1\n", 0,
                "3:11: label name \"a\" is not unique", 2);
  scrape_stats_t st;
  scrape_manager_stats(f->m, &st);
  assert_true(st.exceeded_sample_limit >= 1);
  assert_true(st.exceeded_body_size_limit >= 1);
  assert_true(st.scrapes_failed >= 6);
  /* and it recovers */
  srv_set(200, TEXT_CT, "ok_series 2\n", 0);
  for (int i = 0; i < 800 && target(f, "j").health != SCRAPE_HEALTH_UP; i++) usleep(10000);
  series_t s = read_series(f, "ok_series", NULL);
  assert_true(s.last == 2);
  series_done(&s);
}

/* Labels resolved on a cache miss are the parser's full ones (escapes
 * resolved, le normalised); later scrapes hit the cache and keep them. */
static void test_cached_labels(void **state) {
  fx_t *f = *state;
  srv_set(200, TEXT_CT,
          "# TYPE h histogram\nh_bucket{le=\"1\",p=\"a\\\"b\\\\c\"} 3\nh_count 3\nh_sum 1\n"
          "{\"utf8.name\",x=\"y\"} 4\n",
          0);
  apply(f, config("scrape_configs:\n  - job_name: j\n    scrape_interval: 100ms\n"
                  "    static_configs:\n      - targets: ['%s']\n",
                  f->addr));
  tinfo_t ti = wait_scrapes(f, "j", 3, false);
  assert_int_equal(ti.health, SCRAPE_HEALTH_UP);
  series_t s = read_series(f, "h_bucket", "le", "1.0", "p", "a\"b\\c", NULL);
  assert_int_equal(s.nseries, 1);
  assert_true(s.n >= 3);
  assert_true(s.last == 3);
  series_done(&s);
  s = read_series(f, "utf8.name", "x", "y", NULL);
  assert_int_equal(s.nseries, 1);
  assert_true(s.n >= 3);
  series_done(&s);
  s = read_series(f, "scrape_series_added", "job", "j", NULL);
  assert_true(s.first == 4);
  assert_true(s.last == 0);
  series_done(&s);
}

static void test_connection_refused(void **state) {
  fx_t *f = *state;
  apply(f, config("scrape_configs:\n  - job_name: j\n    scrape_interval: 100ms\n"
                  "    static_configs:\n      - targets: ['127.0.0.1:1']\n"));
  tinfo_t ti = wait_scrapes(f, "j", 1, false);
  assert_int_equal(ti.health, SCRAPE_HEALTH_DOWN);
  assert_non_null(strstr(ti.error, "Get \"http://127.0.0.1:1/metrics\""));
  series_t s = read_series(f, "up", "instance", "127.0.0.1:1", NULL);
  assert_true(s.last == 0);
  series_done(&s);
}

static void test_honor_labels(void **state) {
  fx_t *f = *state;
  srv_set(200, TEXT_CT,
          "m{job=\"exp\",instance=\"i1\",exported_job=\"taken\",x=\"1\"} 1\n"
          "e{site=\"\"} 1\n",
          0);
  apply(f, config("scrape_configs:\n"
                  "  - job_name: plain\n    scrape_interval: 100ms\n"
                  "    static_configs:\n      - targets: ['%s']\n"
                  "  - job_name: honor\n    scrape_interval: 100ms\n    honor_labels: true\n"
                  "    static_configs:\n      - targets: ['%s']\n        labels: {site: s}\n",
                  f->addr, f->addr));
  wait_scrapes(f, "plain", 2, false);
  wait_scrapes(f, "honor", 2, false);
  series_t s = read_series(f, "m", "job", "plain", NULL);
  assert_int_equal(s.nseries, 1);
  assert_string_equal(labels_get(s.ls, "instance"), f->addr);
  assert_string_equal(labels_get(s.ls, "exported_instance"), "i1");
  assert_string_equal(labels_get(s.ls, "exported_job"), "taken"); /* exposed, kept */
  assert_string_equal(labels_get(s.ls, "exported_exported_job"), "exp");
  series_done(&s);
  s = read_series(f, "m", "job", "exp", NULL);
  assert_int_equal(s.nseries, 1);
  assert_string_equal(labels_get(s.ls, "instance"), "i1");
  assert_string_equal(labels_get(s.ls, "site"), "s");
  assert_string_equal(labels_get(s.ls, "exported_job"), "taken"); /* stays as exposed */
  series_done(&s);
  /* an exposed empty value wins over the target's label too */
  s = read_series(f, "e", "job", "honor", NULL);
  assert_int_equal(s.nseries, 1);
  assert_null(labels_get(s.ls, "site"));
  series_done(&s);
  s = read_series(f, "e", "job", "plain", NULL);
  assert_int_equal(s.nseries, 1);
  assert_null(labels_get(s.ls, "exported_site"));
  series_done(&s);
}

static void test_relabeling(void **state) {
  fx_t *f = *state;
  srv_set(200, TEXT_CT, "keep_me 1\ngo_drop_me 2\nrename{old=\"v\"} 3\n", 0);
  apply(f, config("scrape_configs:\n  - job_name: j\n    scrape_interval: 100ms\n"
                  "    metrics_path: /probe\n    params: {module: [http_2xx]}\n"
                  "    relabel_configs:\n"
                  "      - source_labels: [__address__]\n        regex: '(.*):(\\d+)'\n"
                  "        target_label: port\n        replacement: '$2'\n"
                  "      - source_labels: [__param_module]\n        target_label: module\n"
                  "    metric_relabel_configs:\n"
                  "      - source_labels: [__name__]\n        regex: 'go_.*'\n        action: drop\n"
                  "      - source_labels: [old]\n        target_label: new\n"
                  "      - action: labeldrop\n        regex: old\n"
                  "    static_configs:\n      - targets: ['%s']\n"
                  "      - targets: ['drop.me:1']\n"
                  "  - job_name: dropper\n    relabel_configs:\n      - action: drop\n"
                  "        source_labels: [__address__]\n        regex: 'x.*'\n"
                  "    static_configs:\n      - targets: ['x1:1', 'x2:2']\n",
                  f->addr));
  tinfo_t ti = wait_scrapes(f, "j", 2, false);
  char url[128];
  snprintf(url, sizeof url, "http://%s/probe?module=http_2xx", f->addr);
  assert_string_equal(ti.url, url);
  pthread_mutex_lock(&S.mu);
  assert_string_equal(S.path, "/probe?module=http_2xx");
  pthread_mutex_unlock(&S.mu);
  series_t s = read_series(f, "keep_me", "job", "j", NULL);
  assert_int_equal(s.nseries, 1);
  char port[16];
  snprintf(port, sizeof port, "%d", S.port);
  assert_string_equal(labels_get(s.ls, "port"), port);
  assert_string_equal(labels_get(s.ls, "module"), "http_2xx");
  series_done(&s);
  s = read_series(f, "go_drop_me", NULL);
  assert_int_equal(s.nseries, 0);
  series_done(&s);
  s = read_series(f, "rename", "new", "v", NULL);
  assert_int_equal(s.nseries, 1);
  assert_null(labels_get(s.ls, "old"));
  series_done(&s);
  s = read_series(f, "scrape_samples_post_metric_relabeling", "job", "j", "instance", f->addr,
                  NULL);
  assert_true(s.last == 2);
  series_done(&s);
  s = read_series(f, "scrape_samples_scraped", "job", "j", "instance", f->addr, NULL);
  assert_true(s.last == 3);
  series_done(&s);

  /* dropped targets are listed with their discovered labels */
  scrape_target_info_t *v;
  size_t n;
  scrape_manager_targets(f->m, &v, &n);
  size_t dropped = 0, active = 0;
  for (size_t i = 0; i < n; i++) {
    if (v[i].dropped) {
      dropped++;
      assert_string_equal(v[i].pool, "dropper");
      assert_non_null(labels_get(v[i].discovered, "__address__"));
      assert_string_equal(labels_get(v[i].discovered, "__scrape_interval__"), "1m");
      assert_null(v[i].labels);
    } else {
      active++;
    }
  }
  assert_int_equal(dropped, 2);
  assert_int_equal(active, 2); /* j's two targets */
  scrape_target_infos_free(v, n);
}

static void test_gzip_and_auth_headers(void **state) {
  fx_t *f = *state;
  /* large enough for the server to gzip it */
  strbuf_t b = STRBUF_INIT;
  for (int i = 0; i < 200; i++) strbuf_printf(&b, "gz_metric{i=\"%d\"} %d\n", i, i);
  srv_set(200, TEXT_CT, strbuf_cstr(&b), 0);
  strbuf_free(&b);
  char dir[] = "/tmp/pharos-scrape-pw.XXXXXX";
  assert_non_null(mkdtemp(dir));
  char pw[128];
  snprintf(pw, sizeof pw, "%s/pw", dir);
  FILE *fp = fopen(pw, "w");
  fputs("s3cret\n", fp);
  fclose(fp);
  apply(f, config("scrape_configs:\n  - job_name: j\n    scrape_interval: 100ms\n"
                  "    basic_auth: {username: alice, password_file: '%s'}\n"
                  "    static_configs:\n      - targets: ['%s']\n",
                  pw, f->addr));
  wait_scrapes(f, "j", 2, false);
  series_t s = read_series(f, "scrape_samples_scraped", "job", "j", NULL);
  assert_true(s.last == 200);
  series_done(&s);
  s = read_series(f, "gz_metric", "i", "199", NULL);
  assert_true(s.last == 199);
  series_done(&s);
  pthread_mutex_lock(&S.mu);
  assert_non_null(strstr(S.accept_enc, "gzip"));
  assert_string_equal(S.auth, "Basic YWxpY2U6czNjcmV0"); /* alice:s3cret */
  pthread_mutex_unlock(&S.mu);

  /* Bearer credentials, compression off; the target keeps running */
  uint64_t before = target(f, "j").scrapes;
  apply(f, config("scrape_configs:\n  - job_name: j\n    scrape_interval: 100ms\n"
                  "    enable_compression: false\n"
                  "    authorization: {credentials: tok123}\n"
                  "    static_configs:\n      - targets: ['%s']\n",
                  f->addr));
  for (int i = 0; i < 800; i++) {
    pthread_mutex_lock(&S.mu);
    bool done = strcmp(S.auth, "Bearer tok123") == 0;
    pthread_mutex_unlock(&S.mu);
    if (done) break;
    usleep(10000);
  }
  pthread_mutex_lock(&S.mu);
  assert_string_equal(S.auth, "Bearer tok123");
  assert_string_equal(S.accept_enc, "identity");
  pthread_mutex_unlock(&S.mu);
  assert_true(target(f, "j").scrapes >= before); /* same target, not restarted */
  unlink(pw);
  rmdir(dir);
}

static void test_reload_keeps_target(void **state) {
  fx_t *f = *state;
  srv_set(200, TEXT_CT, "m 1\n", 0);
  const char *yaml = "scrape_configs:\n  - job_name: j\n    scrape_interval: 100ms\n"
                     "    static_configs:\n      - targets: ['%s']\n%s";
  apply(f, config(yaml, f->addr, ""));
  wait_scrapes(f, "j", 3, false);
  uint64_t before = target(f, "j").scrapes;
  /* same target, other sample settings: keeps running, no staleness */
  apply(f, config(yaml, f->addr, "    metric_relabel_configs:\n      - action: labeldrop\n"
                                 "        regex: zzz\n"));
  wait_scrapes(f, "j", 3, true);
  assert_true(target(f, "j").scrapes >= before + 3);
  series_t s = read_series(f, "up", "job", "j", NULL);
  assert_int_equal(s.nstale, 0);
  series_done(&s);
  s = read_series(f, "m", "job", "j", NULL);
  assert_int_equal(s.nstale, 0);
  series_done(&s);
  /* a changed interval is a new target: the old one goes stale */
  apply(f, config("scrape_configs:\n  - job_name: j\n    scrape_interval: 150ms\n"
                  "    static_configs:\n      - targets: ['%s']\n",
                  f->addr));
  for (int i = 0; i < 800; i++) {
    series_t u = read_series(f, "up", "job", "j", NULL);
    size_t ns = u.nstale;
    series_done(&u);
    if (ns > 0) break;
    usleep(10000);
  }
  s = read_series(f, "up", "job", "j", NULL);
  assert_int_equal(s.nstale, 1);
  series_done(&s);
  wait_scrapes(f, "j", 2, false);
  s = read_series(f, "up", "job", "j", NULL);
  assert_true(s.last == 1); /* scraped again after the marker */
  series_done(&s);
}

static void write_file(const char *path, const char *text) {
  char tmp[300];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *fp = fopen(tmp, "w");
  assert_non_null(fp);
  fputs(text, fp);
  fclose(fp);
  assert_int_equal(rename(tmp, path), 0);
}

static void test_file_sd(void **state) {
  fx_t *f = *state;
  srv_set(200, TEXT_CT, "m 1\n", 0);
  char dir[] = "/tmp/pharos-scrape-sd.XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[128], json[256];
  snprintf(path, sizeof path, "%s/targets.json", dir);
  snprintf(json, sizeof json, "[{\"targets\": [\"%s\"], \"labels\": {\"team\": \"a\"}}]", f->addr);
  write_file(path, json);
  apply(f, config("scrape_configs:\n  - job_name: fsd\n    scrape_interval: 100ms\n"
                  "    file_sd_configs:\n      - files: ['%s/*.json']\n",
                  dir));
  wait_scrapes(f, "fsd", 1, false);
  series_t s = read_series(f, "m", "job", "fsd", NULL);
  assert_string_equal(labels_get(s.ls, "team"), "a");
  assert_null(labels_get(s.ls, "__meta_filepath"));
  series_done(&s);

  /* the file changes: the target with team=a goes (stale), team=b comes */
  snprintf(json, sizeof json, "[{\"targets\": [\"%s\"], \"labels\": {\"team\": \"b\"}}]", f->addr);
  write_file(path, json);
  wait_stale(f, "m", "team", "a");
  for (int i = 0; i < 800; i++) {
    s = read_series(f, "m", "team", "b", NULL);
    long n = s.n;
    series_done(&s);
    if (n > 0) break;
    usleep(10000);
  }
  s = read_series(f, "m", "team", "b", NULL);
  assert_true(s.n > 0);
  series_done(&s);
  assert_int_equal(target(f, "fsd").active, 1);

  /* a broken file keeps the previous targets */
  write_file(path, "[{\"targets\": ");
  usleep(300000);
  assert_int_equal(target(f, "fsd").active, 1);
  scrape_stats_t st;
  scrape_manager_stats(f->m, &st);
  assert_true(st.sd_file_read_errors >= 1);
  /* a second file adds a target; removing it removes the target */
  char path2[128];
  snprintf(path2, sizeof path2, "%s/more.json", dir);
  write_file(path2, "[{\"targets\": [\"127.0.0.1:1\"]}]");
  for (int i = 0; i < 800 && target(f, "fsd").active != 2; i++) usleep(10000);
  assert_int_equal(target(f, "fsd").active, 2);
  unlink(path2);
  for (int i = 0; i < 800 && target(f, "fsd").active != 1; i++) usleep(10000);
  assert_int_equal(target(f, "fsd").active, 1);
  unlink(path);
  for (int i = 0; i < 800 && target(f, "fsd").active != 0; i++) usleep(10000);
  assert_int_equal(target(f, "fsd").active, 0);
  rmdir(dir);
}

static int collect_calls;

static int local_collect(void *ud, strbuf_t *out) {
  (void)ud;
  __atomic_add_fetch(&collect_calls, 1, __ATOMIC_SEQ_CST);
  strbuf_puts(out, "# HELP node_x X.\n# TYPE node_x gauge\nnode_x 42\n");
  return 0;
}

static void test_in_process_job(void **state) {
  fx_t *f = *state;
  scrape_config_t *cfg = config("scrape_configs: []\n");
  assert_int_equal(scrape_config_add_local_job(cfg, "node", 100, "myhost:9090", local_collect, NULL),
                   0);
  apply(f, cfg);
  tinfo_t ti = wait_scrapes(f, "node", 2, false);
  assert_string_equal(ti.url, "inprocess://myhost:9090");
  assert_int_equal(ti.health, SCRAPE_HEALTH_UP);
  series_t s = read_series(f, "node_x", "job", "node", "instance", "myhost:9090", NULL);
  assert_true(s.last == 42);
  series_done(&s);
  assert_true(__atomic_load_n(&collect_calls, __ATOMIC_SEQ_CST) >= 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_samples_and_report_series, setup, teardown),
      cmocka_unit_test_setup_teardown(test_staleness, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stale_on_shutdown, setup, teardown),
      cmocka_unit_test_setup_teardown(test_failed_scrapes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cached_labels, setup, teardown),
      cmocka_unit_test_setup_teardown(test_connection_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_honor_labels, setup, teardown),
      cmocka_unit_test_setup_teardown(test_relabeling, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gzip_and_auth_headers, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reload_keeps_target, setup, teardown),
      cmocka_unit_test_setup_teardown(test_file_sd, setup, teardown),
      cmocka_unit_test_setup_teardown(test_in_process_job, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
