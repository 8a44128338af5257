/*
 * remote_api.c - POST /api/v1/write and POST /api/v1/read (see
 * remote_api.h).
 *
 * Write, in Prometheus's order: disabled receiver -> 404; a Content-Type
 * that is not a remote write protobuf, or a Content-Encoding other than
 * snappy -> 415; then collector/remote decides 204 / 400 / 500.  A 2.0
 * request always gets the X-Prometheus-Remote-Write-{Samples,Histograms,
 * Exemplars}-Written headers.  Error bodies are text, one problem per line,
 * newline-terminated like Go's http.Error.  One log line per failed
 * request (not per sample).
 *
 * One process-wide remote_write_cache_t (series label bytes -> TSDB
 * reference, plus the pool of per-request decode buffers) serves every
 * write request, whatever the connection; it is made with the routes and
 * freed by remote_api_shutdown, after the HTTP server has stopped.
 */
#include "remote_api.h"

#include "log.h"
#include "remote.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define TEXT_PLAIN "text/plain; charset=utf-8"

static metadata_store_t *g_metadata; /* owned; see remote_api_shutdown */
static remote_write_cache_t *g_cache; /* owned; bound to the server's db */

metadata_store_t *remote_api_metadata(void) { return g_metadata; }

void remote_api_shutdown(void) {
  metadata_store_free(g_metadata);
  g_metadata = NULL;
  remote_write_cache_free(g_cache);
  g_cache = NULL;
}

static void respond_text(httpd_req_t *r, int status, const char *msg) {
  strbuf_t b = STRBUF_INIT;
  strbuf_puts(&b, msg);
  strbuf_putc(&b, '\n');
  httpd_respond_strbuf(r, status, TEXT_PLAIN, &b);
}

static void add_count_header(httpd_req_t *r, const char *name, uint64_t n) {
  char v[24];
  snprintf(v, sizeof v, "%llu", (unsigned long long)n);
  httpd_add_header(r, name, v);
}

static void handle_write(httpd_req_t *r, void *ud) {
  server_t *s = ud;
  if (!s->flags.enable_remote_write) {
    respond_text(r, 404,
                 "remote write receiver needs to be enabled with "
                 "--web.enable-remote-write-receiver");
    return;
  }
  char err[512];
  remote_write_proto_t proto;
  if (remote_write_proto_from_content_type(
          httpd_req_header(r, "Content-Type"),
          httpd_req_header(r, "X-Prometheus-Remote-Write-Version"), &proto, err,
          sizeof err) != 0) {
    log_error("Error decoding remote write request", "err", err);
    respond_text(r, 415, err);
    return;
  }
  const char *enc = httpd_req_header(r, "Content-Encoding");
  if (enc != NULL && enc[0] != '\0' && strcasecmp(enc, "snappy") != 0) {
    snprintf(err, sizeof err,
             "%s encoding (compression) is not accepted by this server; only "
             "snappy is acceptable",
             enc);
    log_error("Error decoding remote write request", "err", err);
    respond_text(r, 415, err);
    return;
  }
  size_t len;
  const void *body = httpd_req_body(r, &len);
  remote_write_opts_t o;
  remote_write_opts_default(&o);
  o.cache = g_cache;
  remote_write_result_t res;
  remote_write(s->db, g_metadata, proto, body, len, &o, &res);
  if (proto == REMOTE_WRITE_V2) {
    add_count_header(r, "X-Prometheus-Remote-Write-Samples-Written",
                     res.samples_written);
    add_count_header(r, "X-Prometheus-Remote-Write-Histograms-Written",
                     res.histograms_written);
    add_count_header(r, "X-Prometheus-Remote-Write-Exemplars-Written",
                     res.exemplars_written);
  }
  if (res.status == 204) {
    httpd_respond(r, 204, NULL, "", 0);
  } else {
    char rej[24];
    snprintf(rej, sizeof rej, "%llu",
             (unsigned long long)(res.samples_rejected + res.histograms_rejected));
    if (res.status >= 500)
      log_error("Error while remote writing the request", "err",
                strbuf_cstr(&res.message));
    else
      log_warn("Remote write request rejected in part or whole", "rejected",
               rej, "err", strbuf_cstr(&res.message));
    respond_text(r, res.status, strbuf_cstr(&res.message));
  }
  remote_write_result_free(&res);
}

static void handle_read(httpd_req_t *r, void *ud) {
  server_t *s = ud;
  size_t len;
  const void *body = httpd_req_body(r, &len);
  remote_read_result_t res;
  remote_read(s->db, body, len, NULL, &res);
  if (res.status != 200) {
    log_warn("Error on remote read request", "err", strbuf_cstr(&res.body));
    respond_text(r, res.status, strbuf_cstr(&res.body));
  } else {
    if (res.content_encoding != NULL)
      httpd_add_header(r, "Content-Encoding", res.content_encoding);
    httpd_respond_strbuf(r, 200, res.content_type, &res.body);
  }
  remote_read_result_free(&res);
}

void remote_api_register(server_t *s) {
  if (g_metadata == NULL) g_metadata = metadata_store_new(0);
  if (g_cache == NULL && s->db != NULL) g_cache = remote_write_cache_new(s->db, 0);
  httpd_route(s->http, "POST", "/api/v1/write", handle_write, s);
  httpd_route(s->http, "POST", "/api/v1/read", handle_read, s);
}
