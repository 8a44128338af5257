/*
 * web.c - the pharos HTTP endpoints other than the query API:
 * /-/healthy, /-/ready, /-/reload, /-/quit and /metrics (the server's own
 * process and build metrics in the text exposition format 0.0.4).
 */
#include "server.h"

#include "remote_api.h"

#include "json.h"
#include "log.h"
#include "pharos_version.h"
#include "ph_error.h"
#include "strbuf.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define TEXT_PLAIN "text/plain; charset=utf-8"
#define EXPOSITION_CT "text/plain; version=0.0.4; charset=utf-8"

static void handle_healthy(httpd_req_t *r, void *ud) {
  (void)ud;
  static const char msg[] = "Pharos Server is Healthy.\n";
  httpd_respond(r, 200, TEXT_PLAIN, msg, sizeof msg - 1);
}

static void handle_ready(httpd_req_t *r, void *ud) {
  server_t *s = ud;
  if (atomic_load(&s->ready)) {
    static const char msg[] = "Pharos Server is Ready.\n";
    httpd_respond(r, 200, TEXT_PLAIN, msg, sizeof msg - 1);
  } else {
    static const char msg[] = "Service Unavailable\n";
    httpd_respond(r, 503, TEXT_PLAIN, msg, sizeof msg - 1);
  }
}

static void handle_reload(httpd_req_t *r, void *ud) {
  server_t *s = ud;
  if (!s->flags.enable_lifecycle) {
    static const char msg[] = "Lifecycle API is not enabled.\n";
    httpd_respond(r, 403, TEXT_PLAIN, msg, sizeof msg - 1);
    return;
  }
  char err[1024];
  if (server_reload(s, err, sizeof err) != 0) {
    strbuf_t b = STRBUF_INIT;
    strbuf_printf(&b, "failed to reload config: %s\n", err);
    httpd_respond_strbuf(r, 500, TEXT_PLAIN, &b);
    return;
  }
  httpd_respond(r, 200, TEXT_PLAIN, "", 0);
}

static void handle_quit(httpd_req_t *r, void *ud) {
  server_t *s = ud;
  if (!s->flags.enable_lifecycle) {
    static const char msg[] = "Lifecycle API is not enabled.\n";
    httpd_respond(r, 403, TEXT_PLAIN, msg, sizeof msg - 1);
    return;
  }
  static const char msg[] = "Requesting termination... Goodbye!\n";
  httpd_respond(r, 200, TEXT_PLAIN, msg, sizeof msg - 1);
  char c = 'q';
  if (write(s->reload_pipe[1], &c, 1) != 1)
    log_error("cannot signal termination to the main loop");
}

/* ---- /metrics ------------------------------------------------------------- */

static void put_value(strbuf_t *b, double v) {
  char num[40];
  format_float_go_g(v, num, sizeof num);
  strbuf_puts(b, num);
}

static void family(strbuf_t *b, const char *name, const char *type,
                   const char *help) {
  strbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample(strbuf_t *b, const char *name, double v) {
  strbuf_puts(b, name);
  strbuf_putc(b, ' ');
  put_value(b, v);
  strbuf_putc(b, '\n');
}

static void process_metrics(strbuf_t *b, server_t *s) {
  long ticks = sysconf(_SC_CLK_TCK);
  long page = sysconf(_SC_PAGESIZE);
  double cpu = 0, vsize = 0, rss = 0;
  FILE *fp = fopen("/proc/self/stat", "r");
  if (fp != NULL) {
    char line[2048];
    if (fgets(line, sizeof line, fp) != NULL) {
      /* fields after the ")" of comm: state is field 3 */
      char *p = strrchr(line, ')');
      unsigned long utime = 0, stime = 0, vs = 0;
      long rs = 0;
      if (p != NULL &&
          sscanf(p + 2,
                 "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d "
                 "%*d %*d %*d %*u %lu %ld",
                 &utime, &stime, &vs, &rs) == 4) {
        cpu = (double)(utime + stime) / (double)ticks;
        vsize = (double)vs;
        rss = (double)rs * (double)page;
      }
    }
    fclose(fp);
  }
  double fds = 0;
  DIR *d = opendir("/proc/self/fd");
  if (d != NULL) {
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
      if (de->d_name[0] != '.') fds++;
    closedir(d);
    fds--; /* the directory stream itself */
  }
  struct rlimit rl;
  double maxfds = 0;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) maxfds = (double)rl.rlim_cur;

  family(b, "pharos_build_info", "gauge",
         "A metric with a constant '1' value labeled by version, revision, branch, "
         "and compiler from which pharos was built.");
  strbuf_printf(b,
                "pharos_build_info{branch=\"%s\",compiler=\"gcc\",revision=\"%s\","
                "version=\"%s\"} 1\n",
                PHAROS_BRANCH, PHAROS_COMMIT, PHAROS_VERSION);
  family(b, "pharos_config_last_reload_success_timestamp_seconds", "gauge",
         "Timestamp of the last successful configuration reload.");
  sample(b, "pharos_config_last_reload_success_timestamp_seconds",
         (double)s->last_reload_success_ms / 1000.0);
  family(b, "pharos_config_last_reload_successful", "gauge",
         "Whether the last configuration reload attempt was successful.");
  sample(b, "pharos_config_last_reload_successful", s->last_reload_ok ? 1 : 0);
  family(b, "process_cpu_seconds_total", "counter",
         "Total user and system CPU time spent in seconds.");
  sample(b, "process_cpu_seconds_total", cpu);
  family(b, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
  sample(b, "process_max_fds", maxfds);
  family(b, "process_open_fds", "gauge", "Number of open file descriptors.");
  sample(b, "process_open_fds", fds);
  family(b, "process_resident_memory_bytes", "gauge",
         "Resident memory size in bytes.");
  sample(b, "process_resident_memory_bytes", rss);
  family(b, "process_start_time_seconds", "gauge",
         "Start time of the process since unix epoch in seconds.");
  sample(b, "process_start_time_seconds", (double)(s->start_time_ms / 1000));
  family(b, "process_virtual_memory_bytes", "gauge",
         "Virtual memory size in bytes.");
  sample(b, "process_virtual_memory_bytes", vsize);
}

static void handle_metrics(httpd_req_t *r, void *ud) {
  server_t *s = ud;
  strbuf_t b = STRBUF_INIT;
  process_metrics(&b, s);
  pthread_mutex_lock(&s->reload_mu);
  if (s->scrape) scrape_manager_write_metrics(s->scrape, &b);
  pthread_mutex_unlock(&s->reload_mu);
  httpd_respond_strbuf(r, 200, EXPOSITION_CT, &b);
}

static char *api_config_text(void *ud) {
  server_t *s = ud;
  pthread_mutex_lock(&s->reload_mu);
  char *t = strdup(s->config_text ? s->config_text : "");
  pthread_mutex_unlock(&s->reload_mu);
  return t;
}

static bool api_reload_ok(void *ud) {
  server_t *s = ud;
  pthread_mutex_lock(&s->reload_mu);
  bool ok = s->last_reload_ok;
  pthread_mutex_unlock(&s->reload_mu);
  return ok;
}

static int64_t api_last_config(void *ud) {
  server_t *s = ud;
  pthread_mutex_lock(&s->reload_mu);
  int64_t t = s->last_reload_success_ms;
  pthread_mutex_unlock(&s->reload_mu);
  return t;
}

static struct scrape_manager *api_scrape(void *ud) {
  server_t *s = ud;
  return s->scrape;
}

static struct metadata_store *api_rw_metadata(void *ud) {
  (void)ud;
  return remote_api_metadata();
}

static labels_t *api_external_labels(void *ud) {
  server_t *s = ud;
  pthread_mutex_lock(&s->reload_mu);
  labels_t *ls = s->scrape_cfg ? labels_dup(s->scrape_cfg->external_labels) : NULL;
  pthread_mutex_unlock(&s->reload_mu);
  return ls;
}

void web_register(server_t *s) {
  s->api = (api_t){
      .db = s->db,
      .flags = s->flagset,
      .lookback_ms = s->flags.lookback_delta_ms,
      .query_timeout_ms = s->flags.query_timeout_ms,
      .max_samples = s->flags.query_max_samples,
      .start_time_ms = s->start_time_ms,
      .retention_ms = s->flags.retention_time_ms,
      .ud = s,
      .config_text = api_config_text,
      .reload_ok = api_reload_ok,
      .last_config_ms = api_last_config,
      .admin_enabled = s->flags.enable_admin_api,
      .storage_path = s->flags.storage_path,
      .experimental_functions = strstr(s->flags.enable_feature, "promql-experimental-functions") != NULL,
      .cors_origin = s->flags.cors_origin,
      .scrape = api_scrape,
      .rw_metadata = api_rw_metadata,
      .external_labels = api_external_labels,
  };
  api_register(s->http, &s->api);
  remote_api_register(s);
  httpd_route(s->http, "GET", "/-/healthy", handle_healthy, s);
  httpd_route(s->http, "HEAD", "/-/healthy", handle_healthy, s);
  httpd_route(s->http, "GET", "/-/ready", handle_ready, s);
  httpd_route(s->http, "HEAD", "/-/ready", handle_ready, s);
  httpd_route(s->http, "POST", "/-/reload", handle_reload, s);
  httpd_route(s->http, "PUT", "/-/reload", handle_reload, s);
  httpd_route(s->http, "POST", "/-/quit", handle_quit, s);
  httpd_route(s->http, "PUT", "/-/quit", handle_quit, s);
  httpd_route(s->http, "GET", "/metrics", handle_metrics, s);
}
