/*
 * main.c - pharos-exporter: node_exporter's command line and HTTP face.
 *
 * Parses the flags (exporter_options_from_args), sets up logfmt/JSON
 * logging, builds the exporter, and serves the telemetry path (default
 * /metrics, content type text/plain; version=0.0.4) plus a landing page on
 * every --web.listen-address.  node_exporter's `collect[]` / `exclude[]`
 * query parameters select collectors per request.  The Accept header
 * chooses text 0.0.4 or OpenMetrics 1.0.0 (exporter_negotiate); the
 * exporter's own server (http.c) gzips the body when the client accepts
 * gzip.  The main thread runs that server's poll loop and each scrape.
 * SIGTERM and SIGINT are blocked in every thread and read from a signalfd
 * in the same poll set; the loop then returns and everything is freed.
 */
#include "exporter.h"

#include "exporter_http.h"
#include "log.h"
#include "mem.h"
#include "ph_error.h"
#include "pharos_version.h"
#include "strbuf.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/signalfd.h>
#include <unistd.h>

#define PROG "pharos-exporter"

typedef struct app {
  exporter_t *exp;
  const char *telemetry_path;
} app_t;

static int handle_metrics(app_t *a, exporter_http_req_t *r, strbuf_t *body,
                          const char **ctype) {
  const char *const *collect = NULL, *const *exclude = NULL;
  size_t nc = exporter_http_req_params(r, "collect[]", &collect);
  const char **sel_c = NULL;
  if (nc > 0) { /* copy: the next call reuses the value array */
    sel_c = ph_calloc(nc, sizeof(char *));
    memcpy(sel_c, collect, nc * sizeof(char *));
  }
  size_t nx = exporter_http_req_params(r, "exclude[]", &exclude);
  exporter_format_t fmt =
      exporter_negotiate(exporter_http_req_header(r, "Accept"), ctype);
  if (nc == 0 && nx == 0) {
    exporter_collect_as(a->exp, fmt, NULL, 0, body, NULL, 0);
    exporter_note_request(a->exp, 200);
    return 200;
  }
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
    for (size_t i = 0; i < nc; i++) sel[ns++] = sel_c[i];
  } else {
    for (size_t i = 0; i < nall; i++) {
      bool drop = false;
      for (size_t k = 0; k < nx; k++)
        if (strcmp(all[i], exclude[k]) == 0) drop = true;
      if (!drop) sel[ns++] = all[i];
    }
  }
  if (rc == 0)
    rc = exporter_collect_as(a->exp, fmt, sel, ns, body, err, sizeof(err));
  free(sel);
  free(sel_c);
  if (rc < 0) {
    log_warn("Couldn't create filtered metrics handler", "err", err);
    strbuf_reset(body);
    strbuf_printf(body, "Couldn't create %s\n", err);
    *ctype = "text/plain; charset=utf-8";
    return 400;
  }
  exporter_note_request(a->exp, 200);
  return 200;
}

static int handle(exporter_http_req_t *r, void *ud, strbuf_t *body,
                  const char **ctype) {
  app_t *a = ud;
  const char *path = exporter_http_req_path(r);
  if (strcmp(path, a->telemetry_path) == 0)
    return handle_metrics(a, r, body, ctype);
  *ctype = "text/plain; charset=utf-8";
  if (strcmp(path, "/") != 0) {
    strbuf_puts(body, "404 page not found\n");
    return 404;
  }
  *ctype = "text/html; charset=UTF-8";
  strbuf_printf(body,
                "<!DOCTYPE html>\n<html>\n<head>\n"
                "<meta charset=\"UTF-8\">\n<title>Node Exporter</title>\n"
                "<style>body{font-family:sans-serif;margin:2em}</style>\n"
                "</head>\n<body>\n<h1>Node Exporter</h1>\n"
                "<p>Prometheus Node Exporter (pharos-exporter %s)</p>\n"
                "<ul><li><a href=\"%s\">Metrics</a></li></ul>\n"
                "</body>\n</html>\n",
                PHAROS_VERSION, a->telemetry_path);
  return 200;
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
  exporter_http_t *srv = exporter_http_new(handle, &app, NULL);
  int status = 0;
  for (size_t i = 0; i < naddr; i++) {
    int port = exporter_http_listen(srv, addrs[i], err, sizeof(err));
    if (port < 0) {
      log_error("Error starting HTTP server", "err", err);
      status = 1;
      break;
    }
    char bound[300];
    const char *colon = strrchr(addrs[i], ':');
    int hl = colon ? (int)(colon - addrs[i]) : 0;
    if (hl == 0)
      snprintf(bound, sizeof(bound), "[::]:%d", port);
    else
      snprintf(bound, sizeof(bound), "%.*s:%d", hl, addrs[i], port);
    log_info("Listening on", "address", bound);
  }
  int sfd = status == 0 ? signalfd(-1, &sigs, SFD_CLOEXEC) : -1;
  if (status == 0 && sfd < 0) {
    log_error("signalfd failed", "err", strerror(errno));
    status = 1;
  }
  if (status == 0 && exporter_http_run(srv, sfd) < 0) status = 1;
  if (sfd >= 0) {
    struct signalfd_siginfo si;
    memset(&si, 0, sizeof(si));
    if (status == 0 && read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
      log_info("Received signal, shutting down", "signal",
               si.ssi_signo == SIGTERM ? "terminated" : "interrupt");
    close(sfd);
  }
  exporter_http_free(srv);
  exporter_free(exp);
  exporter_options_free(o);
  return status;
}
