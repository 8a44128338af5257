/*
 * main.c - pharos-exporter: node_exporter's command line and HTTP face.
 *
 * Parses the flags (exporter_options_from_args), sets up logfmt/JSON
 * logging, builds the exporter, and serves the telemetry path (default
 * /metrics, content type text/plain; version=0.0.4) plus a landing page on
 * every --web.listen-address.  node_exporter's `collect[]` / `exclude[]`
 * query parameters select collectors per request.  The Accept header
 * chooses text 0.0.4 or OpenMetrics 1.0.0 (exporter_negotiate); common/
 * httpd gzips the body when the client accepts gzip.  SIGTERM and SIGINT are
 * blocked in every thread and taken with sigwait() in the main thread, which
 * then stops the servers and frees everything.
 */
#include "exporter.h"

#include "httpd.h"
#include "log.h"
#include "mem.h"
#include "ph_error.h"
#include "pharos_version.h"
#include "strbuf.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROG "pharos-exporter"

typedef struct app {
  exporter_t *exp;
  const char *telemetry_path;
} app_t;

static void handle_metrics(httpd_req_t *r, void *ud) {
  app_t *a = ud;
  strbuf_t body = STRBUF_INIT;
  const char *const *collect = NULL, *const *exclude = NULL;
  size_t nc = httpd_req_params(r, "collect[]", &collect);
  size_t nx = httpd_req_params(r, "exclude[]", &exclude);
  int status = 200;
  const char *ctype;
  exporter_format_t fmt =
      exporter_negotiate(httpd_req_header(r, "Accept"), &ctype);
  if (nc == 0 && nx == 0) {
    exporter_collect_as(a->exp, fmt, NULL, 0, &body, NULL, 0);
  } else {
    /* names to run: collect[] (or all enabled) minus exclude[] */
    const char *const *all;
    size_t nall = exporter_collectors(a->exp, &all);
    const char **sel = ph_calloc(nall + nc + 1, sizeof(char *));
    size_t ns = 0;
    char err[256] = "";
    int rc = 0;
    if (nc > 0 && nx > 0) {
      rc = ph_err(err, sizeof(err), PH_EINVAL,
                  "Couldn't create filtered metrics handler: "
                  "cannot use both collect[] and exclude[]");
    } else if (nc > 0) {
      for (size_t i = 0; i < nc; i++) sel[ns++] = collect[i];
    } else {
      for (size_t i = 0; i < nall; i++) {
        bool drop = false;
        for (size_t k = 0; k < nx; k++)
          if (strcmp(all[i], exclude[k]) == 0) drop = true;
        if (!drop) sel[ns++] = all[i];
      }
    }
    if (rc == 0)
      rc = exporter_collect_as(a->exp, fmt, sel, ns, &body, err, sizeof(err));
    free(sel);
    if (rc < 0) {
      log_warn("Couldn't create filtered metrics handler", "err", err);
      strbuf_reset(&body);
      strbuf_printf(&body, "Couldn't create %s\n", err);
      status = 400;
      httpd_respond_strbuf(r, status, "text/plain; charset=utf-8", &body);
      strbuf_free(&body);
      return;
    }
  }
  httpd_respond_strbuf(r, status, ctype, &body);
  strbuf_free(&body);
  exporter_note_request(a->exp, status);
}

static void handle_landing(httpd_req_t *r, void *ud) {
  app_t *a = ud;
  if (strcmp(httpd_req_path(r), "/") != 0) {
    static const char nf[] = "404 page not found\n";
    httpd_respond(r, 404, "text/plain; charset=utf-8", nf, sizeof(nf) - 1);
    return;
  }
  strbuf_t b = STRBUF_INIT;
  strbuf_printf(&b,
                "<!DOCTYPE html>\n<html>\n<head>\n"
                "<meta charset=\"UTF-8\">\n<title>Node Exporter</title>\n"
                "<style>body{font-family:sans-serif;margin:2em}</style>\n"
                "</head>\n<body>\n<h1>Node Exporter</h1>\n"
                "<p>Prometheus Node Exporter (pharos-exporter %s)</p>\n"
                "<ul><li><a href=\"%s\">Metrics</a></li></ul>\n"
                "</body>\n</html>\n",
                PHAROS_VERSION, a->telemetry_path);
  httpd_respond_strbuf(r, 200, "text/html; charset=UTF-8", &b);
  strbuf_free(&b);
}

int main(int argc, char **argv) {
  char err[512];
  exporter_options_t *o = exporter_options_new();
  int rc = exporter_options_from_args(o, argc, argv, err, sizeof(err));
  if (rc == EXPORTER_ARGS_HELP || rc == EXPORTER_ARGS_VERSION) {
    strbuf_t b = STRBUF_INIT;
    if (rc == EXPORTER_ARGS_HELP)
      exporter_usage(&b, PROG);
    else
      exporter_version(&b, PROG);
    fputs(strbuf_cstr(&b), stdout);
    strbuf_free(&b);
    exporter_options_free(o);
    return 0;
  }
  if (rc < 0) {
    strbuf_t b = STRBUF_INIT;
    exporter_usage(&b, PROG);
    fputs(strbuf_cstr(&b), stderr);
    fprintf(stderr, "%s: error: %s, try --help\n", PROG, err);
    strbuf_free(&b);
    exporter_options_free(o);
    return 2;
  }
  log_level_t lvl = PH_LOG_INFO;
  log_format_t fmt = PH_LOG_LOGFMT;
  log_parse_level(exporter_options_get(o, "log.level"), &lvl);
  log_parse_format(exporter_options_get(o, "log.format"), &fmt);
  log_set_level(lvl);
  log_set_format(fmt);

  char ver[128];
  snprintf(ver, sizeof(ver), "(version=%s, branch=%s, revision=%s)",
           PHAROS_VERSION, PHAROS_BRANCH, PHAROS_COMMIT);
  log_info("Starting pharos-exporter", "version", ver);
  const char *cfg = exporter_options_get(o, "web.config.file");
  if (cfg != NULL && cfg[0] != '\0')
    log_warn("--web.config.file is not supported; serving plain HTTP",
             "file", cfg);

  /* Block the signals before any thread starts so all inherit the mask. */
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL);
  signal(SIGPIPE, SIG_IGN);

  exporter_t *exp = exporter_new(o, err, sizeof(err));
  if (exp == NULL) {
    log_error("Couldn't create collector", "err", err);
    exporter_options_free(o);
    return 1;
  }
  const char *const *names;
  size_t n = exporter_collectors(exp, &names);
  log_info("Enabled collectors");
  for (size_t i = 0; i < n; i++) log_info(names[i], "collector", names[i]);

  app_t app = {exp, exporter_options_get(o, "web.telemetry-path")};
  const char *const *addrs;
  /* the last value wins for scalars; the list for repeatable flags */
  size_t naddr = exporter_options_get_all(o, "web.listen-address", &addrs);
  httpd_t **srv = ph_calloc(naddr + 1, sizeof(*srv));
  int status = 0;
  for (size_t i = 0; i < naddr; i++) {
    srv[i] = httpd_new(NULL);
    httpd_route(srv[i], "GET", app.telemetry_path, handle_metrics, &app);
    httpd_route(srv[i], "GET", "/*", handle_landing, &app);
    if (httpd_start(srv[i], addrs[i], err, sizeof(err)) < 0) {
      log_error("Error starting HTTP server", "err", err);
      status = 1;
      break;
    }
    char bound[300], port[16];
    snprintf(port, sizeof(port), "%d", httpd_port(srv[i]));
    const char *colon = strrchr(addrs[i], ':');
    int hl = colon ? (int)(colon - addrs[i]) : 0;
    if (hl == 0)
      snprintf(bound, sizeof(bound), "[::]:%s", port);
    else
      snprintf(bound, sizeof(bound), "%.*s:%s", hl, addrs[i], port);
    log_info("Listening on", "address", bound);
  }
  if (status == 0) {
    int sig = 0;
    sigwait(&sigs, &sig);
    log_info("Received signal, shutting down",
             "signal", sig == SIGTERM ? "terminated" : "interrupt");
  }
  for (size_t i = 0; i < naddr; i++) httpd_free(srv[i]);
  free(srv);
  exporter_free(exp);
  exporter_options_free(o);
  return status;
}
