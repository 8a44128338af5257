/*
 * exporter.c - builds the enabled collectors and runs a scrape.
 *
 * exporter_new() decides which collectors run (the user's
 * --collector.<name>/--no-collector.<name> first, then
 * --collector.disable-defaults, then each collector's default) and calls
 * their init once.  A scrape runs them one after another under the
 * exporter's mutex into one reused metric set, times each one for
 * node_scrape_collector_duration_seconds and records
 * node_scrape_collector_success, then writes the set out sorted.  A failed
 * collector is logged ("collector failed", with the reason it recorded in
 * the context) and keeps what it added.  node_exporter_build_info and
 * promhttp_metric_handler_errors_total are always served (as node_exporter
 * does even with --web.disable-exporter-metrics); promhttp's request
 * counters and process_* only without that flag.
 */
#include "exporter_int.h"

#include "log.h"
#include "mem.h"
#include "ph_error.h"
#include "pharos_version.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

typedef struct running {
  const collector_def_t *def;
  void *state;
} running_t;

struct exporter {
  exporter_options_t *opts; /* owned copy */
  running_t *cols;          /* sorted by name */
  const char **names;
  size_t ncols;
  pthread_mutex_t mu;       /* one scrape at a time */
  expo_t *expo;
  collect_ctx_t ctx;        /* reused: buffer and arena */
  bool self_metrics;        /* promhttp_* and process_* */
  atomic_int in_flight;
  atomic_ullong requests[3]; /* by status: 200, 500, 503 */
};


static bool collector_enabled(const exporter_options_t *o, const char *name,
                              bool def) {
  char flag[128];
  snprintf(flag, sizeof(flag), "collector.%s", name);
  if (exporter__options_is_set(o, flag)) return exporter_options_get_bool(o, flag);
  if (exporter_options_get_bool(o, "collector.disable-defaults")) return false;
  return def;
}

exporter_t *exporter_new(const exporter_options_t *o, char *err,
                         size_t errlen) {
  exporter_t *e = ph_calloc(1, sizeof(*e));
  exporter__fdcache_acquire();
  e->opts = exporter__options_copy(o);
  pthread_mutex_init(&e->mu, NULL);
  e->expo = expo_new();
  e->ctx.arena = arena_new(256u << 20);
  e->ctx.procfs = exporter_options_get(e->opts, "path.procfs");
  e->ctx.sysfs = exporter_options_get(e->opts, "path.sysfs");
  e->ctx.rootfs = exporter_options_get(e->opts, "path.rootfs");
  e->ctx.udev = exporter_options_get(e->opts, "path.udev.data");
  e->ctx.opts = e->opts;
  e->ctx.expo = e->expo;
  e->self_metrics = !exporter_options_get_bool(e->opts, "web.disable-exporter-metrics");
  e->cols = ph_calloc(exporter__ncollectors + 1, sizeof(*e->cols));
  e->names = ph_calloc(exporter__ncollectors + 1, sizeof(*e->names));
  for (size_t i = 0; i < exporter__ncollectors; i++) {
    const collector_def_t *d = exporter__collectors[i];
    if (!collector_enabled(e->opts, d->name, d->default_enabled)) continue;
    void *state = NULL;
    if (d->init != NULL) {
      char cerr[512] = "";
      int rc = d->init(e->opts, &state, cerr, sizeof(cerr));
      if (rc < 0) {
        ph_err(err, errlen, rc, "couldn't create collector %s: %s", d->name,
               cerr);
        exporter_free(e);
        return NULL;
      }
    }
    e->cols[e->ncols].def = d;
    e->cols[e->ncols].state = state;
    e->names[e->ncols] = d->name;
    e->ncols++;
  }
  for (size_t i = 0; i < exporter__nunimplemented; i++) {
    const char *name = exporter__unimplemented[i];
    char flag[128];
    snprintf(flag, sizeof(flag), "collector.%s", name);
    if (exporter__options_is_set(e->opts, flag) &&
        exporter_options_get_bool(e->opts, flag))
      log_warn("collector not implemented by pharos-exporter; ignored",
               "collector", name);
  }
  return e;
}

void exporter_free(exporter_t *e) {
  if (e == NULL) return;
  for (size_t i = 0; i < e->ncols; i++)
    if (e->cols[i].def->free != NULL) e->cols[i].def->free(e->cols[i].state);
  free(e->cols);
  free(e->names);
  expo_free(e->expo);
  arena_free(e->ctx.arena);
  free(e->ctx.buf);
  pthread_mutex_destroy(&e->mu);
  exporter_options_free(e->opts);
  free(e);
  exporter__fdcache_release();
}

size_t exporter_collectors(const exporter_t *e, const char *const **names) {
  *names = e->names;
  return e->ncols;
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void run_one(exporter_t *e, const running_t *r) {
  collect_ctx_t *c = &e->ctx;
  c->collector = r->def->name;
  c->err[0] = '\0';
  c->err_rc = 0;
  double t0 = now_seconds();
  int rc = r->def->collect(c, r->state);
  double dt = now_seconds() - t0;
  if (rc < 0) {
    char ds[32];
    snprintf(ds, sizeof(ds), "%g", dt);
    const char *why = c->err_rc == rc && c->err[0] ? c->err : ph_strerror(rc);
    if (rc == PH_ENOTFOUND)
      log_debug("collector returned no data", "name", r->def->name,
                "duration_seconds", ds, "err", why);
    else
      log_error("collector failed", "name", r->def->name, "duration_seconds",
                ds, "err", why);
  } else {
    char ds[32];
    snprintf(ds, sizeof(ds), "%g", dt);
    log_debug("collector succeeded", "name", r->def->name, "duration_seconds",
              ds);
  }
  cc_gauge(c, "node_scrape_collector_duration_seconds",
           "node_exporter: Duration of a collector scrape.", dt, "collector",
           r->def->name, NULL);
  cc_gauge(c, "node_scrape_collector_success",
           "node_exporter: Whether a collector succeeded.", rc < 0 ? 0 : 1,
           "collector", r->def->name, NULL);
}

void exporter_note_request(exporter_t *e, int status) {
  int k = status == 200 ? 0 : status == 503 ? 2 : 1;
  atomic_fetch_add(&e->requests[k], 1);
}

/* GOARCH's name for this machine (uname -m). */
static const char *goarch(void) {
  static char arch[64];
  struct utsname u;
  if (arch[0] != '\0') return arch;
  const char *m = uname(&u) == 0 ? u.machine : "unknown";
  static const char *const map[][2] = {{"x86_64", "amd64"}, {"i686", "386"},
                                       {"i386", "386"},     {"aarch64", "arm64"},
                                       {"armv7l", "arm"},   {"armv6l", "arm"},
                                       {"ppc64le", "ppc64le"}, {"riscv64", "riscv64"}};
  for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
    if (strcmp(m, map[i][0]) == 0) m = map[i][1];
  snprintf(arch, sizeof(arch), "%.63s", m);
  return arch;
}

/* Families node_exporter serves even with --web.disable-exporter-metrics:
 * its build info (from the version collector) and promhttp's error
 * counter (registered through HandlerOpts.Registry). */
static void always_metrics(exporter_t *e) {
  collect_ctx_t *c = &e->ctx;
  c->collector = "promhttp";
  cc_gauge(c, "node_exporter_build_info",
           "A metric with a constant '1' value labeled by version, revision, branch, "
           "goversion from which node_exporter was built, and the goos and goarch for the "
           "build.",
           1, "branch", PHAROS_BRANCH, "goarch", goarch(), "goos", "linux", "goversion",
           "none (pharos-exporter, C)", "revision", PHAROS_COMMIT, "tags", "pharos", "version",
           PHAROS_VERSION, NULL);
  cc_counter(c, "promhttp_metric_handler_errors_total",
             "Total number of internal errors encountered by the promhttp "
             "metric handler.",
             0, "cause", "encoding", NULL);
  cc_counter(c, "promhttp_metric_handler_errors_total",
             "Total number of internal errors encountered by the promhttp "
             "metric handler.",
             0, "cause", "gathering", NULL);
}

static void self_metrics(exporter_t *e) {
  collect_ctx_t *c = &e->ctx;
  c->collector = "promhttp";
  static const char *const codes[] = {"200", "500", "503"};
  for (int k = 0; k < 3; k++)
    cc_counter(c, "promhttp_metric_handler_requests_total",
               "Total number of scrapes by HTTP status code.",
               (double)atomic_load(&e->requests[k]), "code", codes[k], NULL);
  cc_gauge(c, "promhttp_metric_handler_requests_in_flight",
           "Current number of scrapes being served.",
           (double)atomic_load(&e->in_flight), NULL);
  exporter__process_metrics(c);
}

static void scrape(exporter_t *e, const bool *mask, exporter_format_t fmt,
                   strbuf_t *out) {
  atomic_fetch_add(&e->in_flight, 1);
  pthread_mutex_lock(&e->mu);
  expo_reset(e->expo);
  for (size_t i = 0; i < e->ncols; i++)
    if (mask == NULL || mask[i]) run_one(e, &e->cols[i]);
  always_metrics(e);
  if (e->self_metrics) self_metrics(e);
  if (fmt == EXPORTER_FMT_OPENMETRICS)
    expo_write_openmetrics(e->expo, out);
  else
    expo_write(e->expo, out);
  expo_reset(e->expo);
  arena_reset(e->ctx.arena);
  if (mask == NULL) exporter__fdcache_sweep();
  pthread_mutex_unlock(&e->mu);
  atomic_fetch_sub(&e->in_flight, 1);
}

int exporter_collect(exporter_t *e, strbuf_t *out) {
  scrape(e, NULL, EXPORTER_FMT_TEXT, out);
  return 0;
}

int exporter_collect_as(exporter_t *e, exporter_format_t fmt,
                        const char *const *names, size_t n, strbuf_t *out,
                        char *err, size_t errlen) {
  if (names == NULL) {
    scrape(e, NULL, fmt, out);
    return 0;
  }
  bool *mask = ph_calloc(e->ncols + 1, sizeof(bool));
  for (size_t k = 0; k < n; k++) {
    bool found = false;
    for (size_t i = 0; i < e->ncols; i++)
      if (strcmp(e->names[i], names[k]) == 0) mask[i] = found = true;
    if (!found) {
      free(mask);
      return ph_err(err, errlen, PH_EINVAL,
                    "missing collector: %s", names[k]);
    }
  }
  scrape(e, mask, fmt, out);
  free(mask);
  return 0;
}

int exporter_collect_only(exporter_t *e, const char *const *names, size_t n,
                          strbuf_t *out, char *err, size_t errlen) {
  static const char *const none[1] = {NULL};
  return exporter_collect_as(e, EXPORTER_FMT_TEXT, names ? names : none, n,
                             out, err, errlen);
}

/* ---- content negotiation ---- */

#define CT_TEXT "text/plain; version=0.0.4; charset=utf-8"
#define CT_OM_100 "application/openmetrics-text; version=1.0.0; charset=utf-8"
#define CT_OM_001 "application/openmetrics-text; version=0.0.1; charset=utf-8"

static size_t trim_span(const char **p, size_t n) {
  while (n > 0 && (**p == ' ' || **p == '\t')) (*p)++, n--;
  while (n > 0 && ((*p)[n - 1] == ' ' || (*p)[n - 1] == '\t')) n--;
  return n;
}

exporter_format_t exporter_negotiate(const char *accept,
                                     const char **content_type) {
  *content_type = CT_TEXT;
  if (accept == NULL) return EXPORTER_FMT_TEXT;
  double best_q = -1;
  exporter_format_t best = EXPORTER_FMT_TEXT;
  const char *best_ct = CT_TEXT;
  const char *p = accept;
  while (*p) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    /* media type, then ;param=value pairs */
    const char *semi = memchr(p, ';', len);
    const char *mt = p;
    size_t mtl = trim_span(&mt, semi ? (size_t)(semi - p) : len);
    double q = 1;
    char version[32] = "";
    const char *q_at = semi;
    while (q_at != NULL && q_at < p + len) {
      const char *next = memchr(q_at + 1, ';', (size_t)(p + len - q_at - 1));
      const char *kv = q_at + 1;
      size_t kvl = trim_span(&kv, (size_t)((next ? next : p + len) - kv));
      if (kvl > 2 && strncasecmp(kv, "q=", 2) == 0) {
        char num[32];
        snprintf(num, sizeof(num), "%.*s", (int)(kvl - 2), kv + 2);
        q = strtod(num, NULL);
      } else if (kvl > 8 && strncasecmp(kv, "version=", 8) == 0) {
        snprintf(version, sizeof(version), "%.*s", (int)(kvl - 8), kv + 8);
      }
      q_at = next;
    }
    exporter_format_t f = EXPORTER_FMT_TEXT;
    const char *ct = NULL;
    if (mtl == 28 && strncasecmp(mt, "application/openmetrics-text", 28) == 0) {
      if (version[0] == '\0' || strcmp(version, "1.0.0") == 0)
        ct = CT_OM_100;
      else if (strcmp(version, "0.0.1") == 0)
        ct = CT_OM_001;
      f = EXPORTER_FMT_OPENMETRICS;
    } else if (mtl == 10 && strncasecmp(mt, "text/plain", 10) == 0) {
      if (version[0] == '\0' || strcmp(version, "0.0.4") == 0) ct = CT_TEXT;
    } else if ((mtl == 3 && strncmp(mt, "*/*", 3) == 0) ||
               (mtl == 6 && strncasecmp(mt, "text/*", 6) == 0)) {
      ct = CT_TEXT;
    }
    if (ct != NULL && q > 0 && q > best_q) {
      best_q = q;
      best = f;
      best_ct = ct;
    }
    if (end == NULL) break;
    p = end + 1;
  }
  *content_type = best_ct;
  return best;
}
