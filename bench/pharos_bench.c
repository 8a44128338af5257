/*
 * pharos_bench.c - the client side of the side-by-side harness
 * (bench/run.sh): the same bytes and the same queries for every system.
 *
 *   gen-rw   generates the workload as remote-write 1.0 requests into a
 *            file, once, so every system receives identical bodies:
 *              OFFSET SIZE DESCRIPTION (per record, little endian)
 *              0      4    shard (queue) number
 *              4      4    samples in the request
 *              8      4    body length L
 *              12     L    snappy-compressed prometheus.WriteRequest
 *            The file starts with the 8 bytes "PHRW0001".
 *   gen-om   writes the workload as OpenMetrics text for backfill
 *            (`pharosctl tsdb import openmetrics FILE DIR`) to stdout:
 *            one metric family per metric name, contiguous, with no
 *            metadata lines (type "unknown", so counters keep their
 *            _total names and histogram parts need no grouping); each
 *            series' samples in time order with a timestamp in seconds
 *            (millisecond precision); ends with "# EOF".  Every host's
 *            values are held in memory (hosts x steps x ~510 doubles) so
 *            the families can be written contiguously; refused above
 *            4 GiB.  Prints "key value" lines to stderr.
 *   write    sends such a file to a remote-write URL over one HTTP/1.1
 *            keep-alive connection per shard (a thread each), each shard's
 *            requests in order, like Prometheus's queue manager; retries
 *            5xx and connection errors (backoff 50 ms doubling, 8 tries),
 *            counts 4xx as rejected.  Prints "key value" lines.
 *   serve    serves /metrics bodies of N simulated hosts at
 *            /host/<i>/metrics (each request is that host's next scrape);
 *            /stats answers "scrapes N\nsamples N\n", the totals served
 *            so far (the scrape scenario's sample count).
 *   query    runs a query set (file: one "name<TAB>expr" per line)
 *            against /api/v1/query_range several times, prints per-query
 *            latency median/p99/min/max and writes a canonical dump of the
 *            results (series sorted by labels, "t value" pairs).  Also
 *            prints sum_median_ms, the sum of the per-query medians: the
 *            time one dashboard load (every panel once) takes.
 *   compare  compares two dumps: same series, same timestamps, values
 *            equal within a relative tolerance; prints one line per query.
 *            --skip-before T ignores points before T (the first minutes of
 *            the data, where rate() extrapolation near a series' first
 *            sample changed between Prometheus versions).
 */
#include "labels.h"
#include "mem.h"
#include "httpd.h"
#include "strbuf.h"
#include "workload.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* ---- gen-rw --------------------------------------------------------------- */

typedef struct gen_ctx {
  FILE *f;
  uint64_t requests, samples, bytes;
} gen_ctx_t;

static void put32(FILE *f, uint32_t v) {
  uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
  fwrite(b, 1, 4, f);
}

static void gen_emit(void *ctx, unsigned shard, size_t nsamples, const void *body, size_t len) {
  gen_ctx_t *g = ctx;
  put32(g->f, shard);
  put32(g->f, (uint32_t)nsamples);
  put32(g->f, (uint32_t)len);
  fwrite(body, 1, len, g->f);
  g->requests++;
  g->samples += nsamples;
  g->bytes += len;
}

static int cmd_gen_rw(int argc, char **argv) {
  wl_opts_t o;
  wl_opts_default(&o);
  double hours = 1;
  unsigned shards = 4;
  size_t max = 2000;
  const char *out = NULL;
  bool start_set = false;
  static const struct option lo[] = {
      {"hosts", required_argument, 0, 'h'}, {"hours", required_argument, 0, 'H'},
      {"shards", required_argument, 0, 's'}, {"max-samples", required_argument, 0, 'm'},
      {"seed", required_argument, 0, 'S'}, {"start-ms", required_argument, 0, 't'},
      {"end-now", no_argument, 0, 'n'}, {"churn", required_argument, 0, 'c'},
      {"out", required_argument, 0, 'o'}, {0, 0, 0, 0}};
  int c;
  bool end_now = false;
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (c) {
      case 'h': o.hosts = (unsigned)strtoul(optarg, NULL, 10); break;
      case 'H': hours = strtod(optarg, NULL); break;
      case 's': shards = (unsigned)strtoul(optarg, NULL, 10); break;
      case 'm': max = strtoul(optarg, NULL, 10); break;
      case 'S': o.seed = strtoull(optarg, NULL, 10); break;
      case 't': o.start_ms = strtoll(optarg, NULL, 10); start_set = true; break;
      case 'n': end_now = true; break;
      case 'c': o.churn_per_hour = strtod(optarg, NULL); break;
      case 'o': out = optarg; break;
      default: return 2;
    }
  }
  if (!out || o.hosts == 0 || hours <= 0) {
    fprintf(stderr, "usage: pharos_bench gen-rw --out FILE [--hosts N] [--hours H] [--shards S]\n"
                    "       [--max-samples N] [--seed S] [--start-ms T | --end-now] [--churn F]\n");
    return 2;
  }
  if (end_now && !start_set) {
    /* end a couple of minutes ago, on a 15 s boundary: every system accepts it */
    int64_t now = (int64_t)time(NULL) * 1000 - 120000;
    int64_t dur = (int64_t)(hours * 3600000.0);
    o.start_ms = (now - dur) / 15000 * 15000;
  }
  wl_t *wl = wl_new(&o);
  gen_ctx_t g = {0};
  g.f = fopen(out, "wb");
  if (!g.f) { perror(out); wl_free(wl); return 1; }
  fwrite("PHRW0001", 1, 8, g.f);
  wl_rw_t *rw = wl_rw_new(wl, shards, max, gen_emit, &g);
  size_t n = wl_series_per_host(wl), steps = wl_steps_for(wl, (int64_t)(hours * 3600000.0));
  double *vals = ph_malloc(n * sizeof(double));
  int64_t t = 0;
  for (size_t s = 0; s < steps; s++)
    for (unsigned h = 0; h < o.hosts; h++) {
      t = wl_scrape(wl, h, s, vals, NULL);
      for (size_t i = 0; i < n; i++) wl_rw_add(rw, h, i, t, vals[i]);
    }
  wl_rw_flush(rw);
  wl_rw_free(rw);
  free(vals);
  int rc = fclose(g.f) == 0 ? 0 : 1;
  printf("series %zu\nsamples %" PRIu64 "\nrequests %" PRIu64 "\nbytes %" PRIu64
         "\nstart_ms %" PRId64 "\nend_ms %" PRId64 "\nshards %u\n",
         n * o.hosts, g.samples, g.requests, g.bytes, o.start_ms, t, shards);
  wl_free(wl);
  return rc;
}

/* ---- gen-om ----------------------------------------------------------------- */

/* Appends v as an OpenMetrics label value: backslash, quote, newline escaped. */
static void om_label_value(strbuf_t *b, const char *v) {
  for (; *v; v++) {
    if (*v == '\\') strbuf_puts(b, "\\\\");
    else if (*v == '"') strbuf_puts(b, "\\\"");
    else if (*v == '\n') strbuf_puts(b, "\\n");
    else strbuf_putc(b, *v);
  }
}

static int cmd_gen_om(int argc, char **argv) {
  wl_opts_t o;
  wl_opts_default(&o);
  double hours = 1;
  bool end_now = false, start_set = false;
  static const struct option lo[] = {
      {"hosts", required_argument, 0, 'h'}, {"hours", required_argument, 0, 'H'},
      {"seed", required_argument, 0, 'S'}, {"start-ms", required_argument, 0, 't'},
      {"end-now", no_argument, 0, 'n'}, {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (c) {
      case 'h': o.hosts = (unsigned)strtoul(optarg, NULL, 10); break;
      case 'H': hours = strtod(optarg, NULL); break;
      case 'S': o.seed = strtoull(optarg, NULL, 10); break;
      case 't': o.start_ms = strtoll(optarg, NULL, 10); start_set = true; break;
      case 'n': end_now = true; break;
      default: return 2;
    }
  }
  if (o.hosts == 0 || hours <= 0) {
    fprintf(stderr, "usage: pharos_bench gen-om [--hosts N] [--hours H] [--seed S]\n"
                    "       [--start-ms T | --end-now] > FILE\n");
    return 2;
  }
  if (end_now && !start_set) {
    int64_t now = (int64_t)time(NULL) * 1000 - 120000;
    int64_t dur = (int64_t)(hours * 3600000.0);
    o.start_ms = (now - dur) / 15000 * 15000;
  }
  wl_t *wl = wl_new(&o);
  size_t n = wl_series_per_host(wl), steps = wl_steps_for(wl, (int64_t)(hours * 3600000.0));
  double cells = (double)o.hosts * (double)steps * (double)n;
  if (cells * sizeof(double) > 4.0 * 1024 * 1024 * 1024) {
    fprintf(stderr, "pharos_bench gen-om: %u hosts x %zu steps needs more than 4 GiB; "
                    "write several files\n", o.hosts, steps);
    wl_free(wl);
    return 2;
  }
  /* vals[(h * steps + s) * n + i], ts[h * steps + s] */
  double *vals = ph_malloc((size_t)cells * sizeof(double));
  int64_t *ts = ph_malloc((size_t)o.hosts * steps * sizeof(int64_t));
  for (unsigned h = 0; h < o.hosts; h++)
    for (size_t s = 0; s < steps; s++)
      ts[(size_t)h * steps + s] = wl_scrape(wl, h, s, vals + ((size_t)h * steps + s) * n, NULL);
  strbuf_t b = STRBUF_INIT;
  uint64_t samples = 0, bytes = 0;
  label_t ls[WL_MAX_LABELS];
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    const char *name = wl_metric_name(wl, i);
    /* a family is every series of this name: the first i carrying it */
    bool first = true;
    for (size_t j = 0; j < i; j++)
      if (!strcmp(wl_metric_name(wl, j), name)) { first = false; break; }
    if (!first) continue;
    for (size_t j = i; j < n && rc == 0; j++) {
      if (strcmp(wl_metric_name(wl, j), name) != 0) continue;
      for (unsigned h = 0; h < o.hosts && rc == 0; h++) {
        strbuf_t pre = STRBUF_INIT;
        size_t nl = wl_labels(wl, h, j, ls, WL_MAX_LABELS);
        strbuf_puts(&pre, name);
        bool any = false;
        for (size_t k = 0; k < nl; k++) {
          if (!strcmp(ls[k].name, "__name__")) continue;
          strbuf_putc(&pre, any ? ',' : '{');
          strbuf_printf(&pre, "%s=\"", ls[k].name);
          om_label_value(&pre, ls[k].value);
          strbuf_putc(&pre, '"');
          any = true;
        }
        if (any) strbuf_putc(&pre, '}');
        strbuf_putc(&pre, ' ');
        for (size_t s = 0; s < steps; s++) {
          int64_t t = ts[(size_t)h * steps + s];
          strbuf_append(&b, strbuf_cstr(&pre), pre.len);
          wl_format_double(&b, vals[((size_t)h * steps + s) * n + j]);
          strbuf_printf(&b, " %" PRId64 ".%03" PRId64 "\n", t / 1000, t % 1000);
          samples++;
        }
        strbuf_free(&pre);
        if (b.len > (1u << 20)) {
          bytes += b.len;
          if (fwrite(strbuf_cstr(&b), 1, b.len, stdout) != b.len) rc = 1;
          strbuf_reset(&b);
        }
      }
    }
  }
  strbuf_puts(&b, "# EOF\n");
  bytes += b.len;
  if (fwrite(strbuf_cstr(&b), 1, b.len, stdout) != b.len) rc = 1;
  if (fflush(stdout) != 0) rc = 1;
  strbuf_free(&b);
  fprintf(stderr, "series %zu\nsamples %" PRIu64 "\nbytes %" PRIu64 "\nstart_ms %" PRId64
                  "\nend_ms %" PRId64 "\n",
          n * o.hosts, samples, bytes, ts[0], ts[(size_t)o.hosts * steps - 1]);
  free(vals);
  free(ts);
  wl_free(wl);
  return rc;
}

/* ---- write ------------------------------------------------------------------ */

typedef struct rec {
  uint32_t shard, nsamples, len;
  const uint8_t *body;
} rec_t;

typedef struct writer {
  const char *url;
  rec_t *recs;
  size_t nrecs;
  unsigned shard;
  uint64_t samples_ok, samples_rejected, requests, retries, failed;
  long last_status;
  char first_error[512];
} writer_t;

/* Keeps the first 4 KiB of an answer (error texts of write requests). */
static size_t sink_cb(char *p, size_t sz, size_t nm, void *ud) {
  strbuf_t *b = ud;
  if (b->len < 4096) strbuf_append(b, p, sz * nm);
  return sz * nm;
}

/* Keeps a whole answer, up to 1 GiB (query results). */
static size_t body_cb(char *p, size_t sz, size_t nm, void *ud) {
  strbuf_t *b = ud;
  if (b->len + sz * nm > ((size_t)1 << 30)) return 0;
  strbuf_append(b, p, sz * nm);
  return sz * nm;
}

static void *writer_thread(void *arg) {
  writer_t *w = arg;
  CURL *cu = curl_easy_init();
  struct curl_slist *hd = NULL;
  hd = curl_slist_append(hd, "Content-Type: application/x-protobuf");
  hd = curl_slist_append(hd, "Content-Encoding: snappy");
  hd = curl_slist_append(hd, "X-Prometheus-Remote-Write-Version: 0.1.0");
  hd = curl_slist_append(hd, "User-Agent: pharos-bench/0.1");
  hd = curl_slist_append(hd, "Expect:");
  strbuf_t resp = STRBUF_INIT;
  curl_easy_setopt(cu, CURLOPT_URL, w->url);
  curl_easy_setopt(cu, CURLOPT_HTTPHEADER, hd);
  curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, sink_cb);
  curl_easy_setopt(cu, CURLOPT_WRITEDATA, &resp);
  curl_easy_setopt(cu, CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
  for (size_t k = 0; k < w->nrecs; k++) {
    const rec_t *r = &w->recs[k];
    if (r->shard != w->shard) continue;
    int delay_ms = 50;
    for (int attempt = 0;; attempt++) {
      strbuf_reset(&resp);
      curl_easy_setopt(cu, CURLOPT_POSTFIELDS, (const char *)r->body);
      curl_easy_setopt(cu, CURLOPT_POSTFIELDSIZE, (long)r->len);
      CURLcode cc = curl_easy_perform(cu);
      long st = 0;
      if (cc == CURLE_OK) curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &st);
      w->requests++;
      w->last_status = st;
      if (cc == CURLE_OK && st >= 200 && st < 300) {
        w->samples_ok += r->nsamples;
        break;
      }
      if (cc == CURLE_OK && st >= 400 && st < 500) {
        w->samples_rejected += r->nsamples;
        if (!w->first_error[0])
          snprintf(w->first_error, sizeof w->first_error, "HTTP %ld: %.400s", st,
                   strbuf_cstr(&resp));
        break;
      }
      if (attempt >= 7) {
        w->failed += r->nsamples;
        if (!w->first_error[0])
          snprintf(w->first_error, sizeof w->first_error, "%s HTTP %ld: %.400s",
                   cc == CURLE_OK ? "" : curl_easy_strerror(cc), st, strbuf_cstr(&resp));
        break;
      }
      w->retries++;
      usleep((useconds_t)delay_ms * 1000);
      delay_ms *= 2;
    }
  }
  strbuf_free(&resp);
  curl_slist_free_all(hd);
  curl_easy_cleanup(cu);
  return NULL;
}

static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int cmd_write(int argc, char **argv) {
  const char *url = NULL, *in = NULL;
  static const struct option lo[] = {{"url", required_argument, 0, 'u'},
                                     {"in", required_argument, 0, 'i'}, {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (c == 'u') url = optarg;
    else if (c == 'i') in = optarg;
    else return 2;
  }
  if (!url || !in) {
    fprintf(stderr, "usage: pharos_bench write --url URL --in FILE\n");
    return 2;
  }
  int fd = open(in, O_RDONLY);
  struct stat sb;
  if (fd < 0 || fstat(fd, &sb) != 0 || sb.st_size < 8) { perror(in); return 1; }
  const uint8_t *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (m == MAP_FAILED || memcmp(m, "PHRW0001", 8) != 0) {
    fprintf(stderr, "%s: not a pharos_bench gen-rw file\n", in);
    return 1;
  }
  rec_t *recs = NULL;
  size_t nrecs = 0, cap = 0, off = 8;
  unsigned shards = 0;
  uint64_t total = 0;
  while (off + 12 <= (size_t)sb.st_size) {
    rec_t r = {get32(m + off), get32(m + off + 4), get32(m + off + 8), m + off + 12};
    if (off + 12 + r.len > (size_t)sb.st_size) break;
    ph_grow(&recs, &cap, nrecs + 1);
    recs[nrecs++] = r;
    off += 12 + r.len;
    if (r.shard + 1 > shards) shards = r.shard + 1;
    total += r.nsamples;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  writer_t *ws = ph_calloc(shards, sizeof(writer_t));
  pthread_t *th = ph_calloc(shards, sizeof(pthread_t));
  double t0 = now_s();
  for (unsigned s = 0; s < shards; s++) {
    ws[s] = (writer_t){.url = url, .recs = recs, .nrecs = nrecs, .shard = s};
    pthread_create(&th[s], NULL, writer_thread, &ws[s]);
  }
  uint64_t ok = 0, rej = 0, reqs = 0, retries = 0, failed = 0;
  const char *first = "";
  for (unsigned s = 0; s < shards; s++) {
    pthread_join(th[s], NULL);
    ok += ws[s].samples_ok;
    rej += ws[s].samples_rejected;
    reqs += ws[s].requests;
    retries += ws[s].retries;
    failed += ws[s].failed;
    if (!*first && ws[s].first_error[0]) first = ws[s].first_error;
  }
  double secs = now_s() - t0;
  printf("samples %" PRIu64 "\nsamples_ok %" PRIu64 "\nsamples_rejected %" PRIu64
         "\nsamples_failed %" PRIu64 "\nrequests %" PRIu64 "\nretries %" PRIu64
         "\nseconds %.6f\nsamples_per_s %.1f\n",
         total, ok, rej, failed, reqs, retries, secs, (double)ok / secs);
  if (*first) {
    char clean[512];
    size_t k = 0;
    for (const char *p = first; *p && k + 1 < sizeof clean; p++)
      clean[k++] = (*p == '\n' || *p == '\r') ? ' ' : *p;
    clean[k] = 0;
    printf("first_error %s\n", clean);
  }
  free(ws);
  free(th);
  free(recs);
  munmap((void *)m, (size_t)sb.st_size);
  close(fd);
  curl_global_cleanup();
  return failed ? 1 : 0;
}

/* ---- serve ---------------------------------------------------------------- */

typedef struct server_ctx {
  wl_t *wl;
  pthread_mutex_t *mu; /* one per host */
  size_t *step;
  double *vals;        /* per host scratch */
  uint64_t scrapes, samples; /* served so far; atomic builtins */
} server_ctx_t;

static void handle_stats(httpd_req_t *r, void *ud) {
  server_ctx_t *s = ud;
  char buf[96];
  int len = snprintf(buf, sizeof buf, "scrapes %" PRIu64 "\nsamples %" PRIu64 "\n",
                     __atomic_load_n(&s->scrapes, __ATOMIC_RELAXED),
                     __atomic_load_n(&s->samples, __ATOMIC_RELAXED));
  httpd_respond(r, 200, "text/plain", buf, (size_t)len);
}

static void handle_host(httpd_req_t *r, void *ud) {
  server_ctx_t *s = ud;
  const char *p = httpd_req_path(r) + strlen("/host/");
  char *end;
  unsigned long h = strtoul(p, &end, 10);
  if (end == p || strcmp(end, "/metrics") != 0 || h >= wl_hosts(s->wl)) {
    httpd_respond(r, 404, "text/plain", "not found\n", 10);
    return;
  }
  size_t n = wl_series_per_host(s->wl);
  strbuf_t b = STRBUF_INIT;
  pthread_mutex_lock(&s->mu[h]);
  double *vals = s->vals + h * n;
  wl_scrape(s->wl, (unsigned)h, s->step[h]++, vals, NULL);
  wl_render_text(s->wl, (unsigned)h, vals, &b);
  pthread_mutex_unlock(&s->mu[h]);
  __atomic_add_fetch(&s->scrapes, 1, __ATOMIC_RELAXED);
  __atomic_add_fetch(&s->samples, (uint64_t)n, __ATOMIC_RELAXED);
  httpd_respond_strbuf(r, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
}

static int cmd_serve(int argc, char **argv) {
  wl_opts_t o;
  wl_opts_default(&o);
  const char *addr = "127.0.0.1:0";
  static const struct option lo[] = {{"hosts", required_argument, 0, 'h'},
                                     {"listen", required_argument, 0, 'l'},
                                     {"seed", required_argument, 0, 'S'}, {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (c == 'h') o.hosts = (unsigned)strtoul(optarg, NULL, 10);
    else if (c == 'l') addr = optarg;
    else if (c == 'S') o.seed = strtoull(optarg, NULL, 10);
    else return 2;
  }
  server_ctx_t s = {0};
  s.wl = wl_new(&o);
  s.mu = ph_calloc(o.hosts, sizeof(pthread_mutex_t));
  s.step = ph_calloc(o.hosts, sizeof(size_t));
  s.vals = ph_calloc((size_t)o.hosts * wl_series_per_host(s.wl), sizeof(double));
  for (unsigned h = 0; h < o.hosts; h++) pthread_mutex_init(&s.mu[h], NULL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  httpd_options_t ho = {0, 4};
  httpd_t *hd = httpd_new(&ho);
  httpd_route(hd, "GET", "/host/*", handle_host, &s);
  httpd_route(hd, "GET", "/stats", handle_stats, &s);
  char err[256];
  if (httpd_start(hd, addr, err, sizeof err) != 0) {
    fprintf(stderr, "pharos_bench serve: %s\n", err);
    return 1;
  }
  printf("listening port=%d hosts=%u series_per_host=%zu\n", httpd_port(hd), o.hosts,
         wl_series_per_host(s.wl));
  fflush(stdout);
  int sig;
  sigwait(&set, &sig);
  httpd_free(hd);
  for (unsigned h = 0; h < o.hosts; h++) pthread_mutex_destroy(&s.mu[h]);
  free(s.mu);
  free(s.step);
  free(s.vals);
  wl_free(s.wl);
  return 0;
}

/* ---- query ------------------------------------------------------------------ */

static char *url_escape(CURL *cu, const char *s) {
  char *e = curl_easy_escape(cu, s, 0);
  char *r = ph_strdup(e);
  curl_free(e);
  return r;
}

typedef struct series_dump {
  char *key;  /* {a="b", ...} sorted */
  strbuf_t pts;
} series_dump_t;

static int cmp_dump(const void *a, const void *b) {
  return strcmp(((const series_dump_t *)a)->key, ((const series_dump_t *)b)->key);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Canonical form of a query_range answer: "S <labels>" then "P <t> <v>"
 * lines, series sorted; returns the number of series or -1 on error. */
static int canonical(const char *body, strbuf_t *out, char *err, size_t errlen) {
  json_object *root = json_tokener_parse(body);
  if (!root) { snprintf(err, errlen, "not JSON: %.200s", body); return -1; }
  json_object *st, *data, *res;
  if (!json_object_object_get_ex(root, "status", &st) ||
      strcmp(json_object_get_string(st), "success") != 0 ||
      !json_object_object_get_ex(root, "data", &data) ||
      !json_object_object_get_ex(data, "result", &res) ||
      !json_object_is_type(res, json_type_array)) {
    snprintf(err, errlen, "error answer: %.300s", body);
    json_object_put(root);
    return -1;
  }
  size_t n = json_object_array_length(res);
  series_dump_t *sd = ph_calloc(n ? n : 1, sizeof *sd);
  for (size_t i = 0; i < n; i++) {
    json_object *s = json_object_array_get_idx(res, i), *met, *vals;
    strbuf_t k = STRBUF_INIT;
    if (json_object_object_get_ex(s, "metric", &met)) {
      size_t nl = 0, cap = 0;
      char **ls = NULL;
      json_object_object_foreach(met, name, v) {
        ph_grow(&ls, &cap, nl + 1);
        size_t len = strlen(name) + strlen(json_object_get_string(v)) + 4;
        ls[nl] = ph_malloc(len);
        snprintf(ls[nl], len, "%s=\"%s\"", name, json_object_get_string(v));
        nl++;
      }
      if (nl > 1) qsort(ls, nl, sizeof *ls, cmp_str); /* ls is NULL when the metric is {} */
      strbuf_putc(&k, '{');
      for (size_t j = 0; j < nl; j++) {
        if (j) strbuf_puts(&k, ", ");
        strbuf_puts(&k, ls[j]);
        free(ls[j]);
      }
      strbuf_putc(&k, '}');
      free(ls);
    }
    sd[i].key = strbuf_detach(&k, NULL);
    if (!sd[i].key) sd[i].key = ph_strdup("{}");
    strbuf_init(&sd[i].pts);
    if (json_object_object_get_ex(s, "values", &vals)) {
      size_t m = json_object_array_length(vals);
      for (size_t j = 0; j < m; j++) {
        json_object *p = json_object_array_get_idx(vals, j);
        double t = json_object_get_double(json_object_array_get_idx(p, 0));
        strbuf_printf(&sd[i].pts, "P %.3f %s\n", t,
                      json_object_get_string(json_object_array_get_idx(p, 1)));
      }
    }
  }
  qsort(sd, n, sizeof *sd, cmp_dump);
  for (size_t i = 0; i < n; i++) {
    strbuf_printf(out, "S %s\n", sd[i].key);
    strbuf_append(out, sd[i].pts.data ? sd[i].pts.data : "", sd[i].pts.len);
    free(sd[i].key);
    strbuf_free(&sd[i].pts);
  }
  free(sd);
  json_object_put(root);
  return (int)n;
}

static int cmd_query(int argc, char **argv) {
  const char *url = NULL, *qfile = NULL, *dump = NULL, *extra = "";
  double start = 0, end = 0, step = 60;
  int runs = 5;
  static const struct option lo[] = {
      {"url", required_argument, 0, 'u'},  {"queries", required_argument, 0, 'q'},
      {"start", required_argument, 0, 's'}, {"end", required_argument, 0, 'e'},
      {"step", required_argument, 0, 'p'}, {"runs", required_argument, 0, 'r'},
      {"dump", required_argument, 0, 'd'}, {"extra", required_argument, 0, 'x'},
      {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (c) {
      case 'u': url = optarg; break;
      case 'q': qfile = optarg; break;
      case 's': start = strtod(optarg, NULL); break;
      case 'e': end = strtod(optarg, NULL); break;
      case 'p': step = strtod(optarg, NULL); break;
      case 'r': runs = atoi(optarg); break;
      case 'd': dump = optarg; break;
      case 'x': extra = optarg; break;
      default: return 2;
    }
  }
  if (!url || !qfile || end <= start || runs < 1) {
    fprintf(stderr, "usage: pharos_bench query --url BASE --queries FILE --start S --end E\n"
                    "       [--step SEC] [--runs N] [--dump FILE] [--extra 'k=v&...']\n");
    return 2;
  }
  FILE *qf = fopen(qfile, "r");
  if (!qf) { perror(qfile); return 1; }
  FILE *df = dump ? fopen(dump, "w") : NULL;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURL *cu = curl_easy_init();
  strbuf_t resp = STRBUF_INIT, canon = STRBUF_INIT;
  char line[4096];
  int qi = 0, errors = 0;
  double sum_med = 0;
  double *lat = ph_malloc((size_t)runs * sizeof(double));
  double *all = NULL;
  size_t nall = 0, allcap = 0;
  while (fgets(line, sizeof line, qf)) {
    line[strcspn(line, "\n")] = 0;
    if (!line[0] || line[0] == '#') continue;
    char *tab = strchr(line, '\t');
    const char *name = tab ? line : "q";
    const char *expr = tab ? tab + 1 : line;
    if (tab) *tab = 0;
    char *e = url_escape(cu, expr);
    strbuf_t u = STRBUF_INIT;
    strbuf_printf(&u, "%s/api/v1/query_range?query=%s&start=%.3f&end=%.3f&step=%g%s%s", url, e,
                  start, end, step, *extra ? "&" : "", extra);
    free(e);
    curl_easy_setopt(cu, CURLOPT_URL, strbuf_cstr(&u));
    curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, body_cb);
    curl_easy_setopt(cu, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(cu, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(cu, CURLOPT_ACCEPT_ENCODING, "");
    char err[512] = "";
    int nseries = -1;
    for (int k = 0; k < runs + 1; k++) { /* first run warms caches, not counted */
      strbuf_reset(&resp);
      double t0 = now_s();
      CURLcode cc = curl_easy_perform(cu);
      double dt = now_s() - t0;
      long st = 0;
      curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &st);
      if (cc != CURLE_OK || st != 200) {
        snprintf(err, sizeof err, "%s HTTP %ld %.300s", cc ? curl_easy_strerror(cc) : "", st,
                 strbuf_cstr(&resp));
        break;
      }
      if (k > 0) lat[k - 1] = dt * 1000;
    }
    if (!err[0]) {
      strbuf_reset(&canon);
      nseries = canonical(strbuf_cstr(&resp), &canon, err, sizeof err);
    }
    if (df) fprintf(df, "Q %s\n", name);
    if (nseries < 0) {
      for (char *p = err; *p; p++) if (*p == '\n') *p = ' ';
      printf("query %d %s error %s\n", qi, name, err);
      if (df) fprintf(df, "E\n");
      errors++;
    } else {
      qsort(lat, (size_t)runs, sizeof *lat, cmp_double);
      double med = runs % 2 ? lat[runs / 2] : (lat[runs / 2 - 1] + lat[runs / 2]) / 2;
      int p99 = (int)ceil(0.99 * runs) - 1;
      sum_med += med;
      printf("query %d %s ok series=%d median_ms=%.3f p99_ms=%.3f min_ms=%.3f max_ms=%.3f\n", qi,
             name, nseries, med, lat[p99 < 0 ? 0 : p99], lat[0], lat[runs - 1]);
      for (int k = 0; k < runs; k++) {
        ph_grow(&all, &allcap, nall + 1);
        all[nall++] = lat[k];
      }
      if (df) fwrite(canon.data ? canon.data : "", 1, canon.len, df);
    }
    strbuf_free(&u);
    qi++;
  }
  if (nall) {
    qsort(all, nall, sizeof *all, cmp_double);
    size_t p50 = (nall - 1) / 2, p99 = (size_t)ceil(0.99 * (double)nall) - 1;
    printf("all_p50_ms %.3f\nall_p99_ms %.3f\n", all[p50], all[p99]);
  }
  printf("sum_median_ms %.3f\n", sum_med);
  printf("queries %d\nerrors %d\n", qi, errors);
  free(all);
  free(lat);
  strbuf_free(&resp);
  strbuf_free(&canon);
  curl_easy_cleanup(cu);
  curl_global_cleanup();
  fclose(qf);
  if (df) fclose(df);
  return 0;
}

/* ---- compare --------------------------------------------------------------- */

typedef struct dumpq {
  char *name;
  bool error;
  char **lines;
  size_t n, cap;
} dumpq_t;

/* Reads a dump, dropping points earlier than skip_before (seconds). */
static dumpq_t *read_dump(const char *path, double skip_before, size_t *nq) {
  FILE *f = fopen(path, "r");
  if (!f) { perror(path); return NULL; }
  dumpq_t *q = NULL;
  size_t n = 0, cap = 0;
  char *line = NULL;
  size_t lcap = 0;
  ssize_t len;
  while ((len = getline(&line, &lcap, f)) > 0) {
    if (line[len - 1] == '\n') line[--len] = 0;
    if (line[0] == 'Q' && line[1] == ' ') {
      ph_grow(&q, &cap, n + 1);
      memset(&q[n], 0, sizeof q[n]);
      q[n++].name = ph_strdup(line + 2);
    } else if (n > 0 && line[0] == 'E') {
      q[n - 1].error = true;
    } else if (n > 0 && line[0] == 'P' && strtod(line + 2, NULL) < skip_before) {
      continue;
    } else if (n > 0) {
      ph_grow(&q[n - 1].lines, &q[n - 1].cap, q[n - 1].n + 1);
      q[n - 1].lines[q[n - 1].n++] = ph_strdup(line);
    }
  }
  free(line);
  fclose(f);
  *nq = n;
  return q;
}

static void free_dump(dumpq_t *q, size_t n) {
  for (size_t i = 0; i < n; i++) {
    for (size_t k = 0; k < q[i].n; k++) free(q[i].lines[k]);
    free(q[i].lines);
    free(q[i].name);
  }
  free(q);
}

static bool close_enough(const char *a, const char *b, double tol) {
  if (!strcmp(a, b)) return true;
  char *ea, *eb;
  double x = strtod(a, &ea), y = strtod(b, &eb);
  if (isnan(x) && isnan(y)) return true;
  if (isinf(x) || isinf(y)) return x == y;
  double d = fabs(x - y), m = fmax(fabs(x), fabs(y));
  return d <= tol * m || d <= 1e-12;
}

static int cmd_compare(int argc, char **argv) {
  double tol = 1e-6, skip = -INFINITY;
  static const struct option lo[] = {{"tol", required_argument, 0, 't'},
                                     {"skip-before", required_argument, 0, 's'}, {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (c == 't') tol = strtod(optarg, NULL);
    else if (c == 's') skip = strtod(optarg, NULL);
    else return 2;
  }
  if (argc - optind != 2) {
    fprintf(stderr, "usage: pharos_bench compare [--tol REL] [--skip-before T] REF.dump OTHER.dump\n");
    return 2;
  }
  size_t na, nb;
  dumpq_t *a = read_dump(argv[optind], skip, &na), *b = read_dump(argv[optind + 1], skip, &nb);
  if (!a || !b) { free_dump(a, a ? na : 0); free_dump(b, b ? nb : 0); return 1; }
  int differ = 0;
  for (size_t i = 0; i < na; i++) {
    const dumpq_t *y = NULL;
    for (size_t k = 0; k < nb; k++)
      if (!strcmp(b[k].name, a[i].name)) { y = &b[k]; break; }
    const char *verdict = "equal";
    char why[600] = "";
    if (!y || y->error || a[i].error) {
      verdict = "unavailable";
    } else {
      size_t k = 0;
      for (; k < a[i].n && k < y->n; k++) {
        const char *l1 = a[i].lines[k], *l2 = y->lines[k];
        if (l1[0] != l2[0]) break;
        if (l1[0] == 'S') { if (strcmp(l1, l2)) break; continue; }
        /* P t v */
        double t1, t2;
        char v1[64], v2[64];
        if (sscanf(l1, "P %lf %63s", &t1, v1) != 2 || sscanf(l2, "P %lf %63s", &t2, v2) != 2 ||
            fabs(t1 - t2) > 0.0005 || !close_enough(v1, v2, tol))
          break;
      }
      if (k < a[i].n || k < y->n) {
        verdict = "DIFFERS";
        snprintf(why, sizeof why, " at line %zu: '%.250s' vs '%.250s'", k + 1,
                 k < a[i].n ? a[i].lines[k] : "(end)", k < y->n ? y->lines[k] : "(end)");
        differ++;
      }
    }
    printf("compare %s %s%s\n", a[i].name, verdict, why);
  }
  printf("differing %d\n", differ);
  free_dump(a, na);
  free_dump(b, nb);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: pharos_bench gen-rw|gen-om|write|serve|query|compare [options]\n");
    return 2;
  }
  const char *cmd = argv[1];
  argv[1] = argv[0];
  argc--;
  argv++;
  if (!strcmp(cmd, "gen-rw")) return cmd_gen_rw(argc, argv);
  if (!strcmp(cmd, "gen-om")) return cmd_gen_om(argc, argv);
  if (!strcmp(cmd, "write")) return cmd_write(argc, argv);
  if (!strcmp(cmd, "serve")) return cmd_serve(argc, argv);
  if (!strcmp(cmd, "query")) return cmd_query(argc, argv);
  if (!strcmp(cmd, "compare")) return cmd_compare(argc, argv);
  fprintf(stderr, "pharos_bench: unknown command %s\n", cmd);
  return 2;
}
