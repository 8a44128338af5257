/*
 * httpd.h - the HTTP server wrapper over libmicrohttpd.
 *
 * Routes map (method, path) to a handler; a handler runs on one of
 * libmicrohttpd's pool threads with the whole request in hand (query
 * string and form-encoded body parsed into parameters, the raw body for
 * other content types) and answers with httpd_respond*().  The listen
 * socket is created here so "address already in use" is reported as such.
 * Responses are gzip-compressed when the client accepts it and the body is
 * worth it.
 */
#ifndef PH_HTTPD_H
#define PH_HTTPD_H

#include "strbuf.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct httpd httpd_t;         /* owned by its creator; httpd_free */
typedef struct httpd_req httpd_req_t; /* valid during the handler call only */

typedef void (*httpd_handler_fn)(httpd_req_t *req, void *userdata);

typedef struct httpd_options {
  size_t max_body_bytes; /* larger bodies get 413; default 32 MiB */
  unsigned threads;      /* handler threads; default 4 */
} httpd_options_t;

httpd_t *httpd_new(const httpd_options_t *o); /* o may be NULL */
void httpd_free(httpd_t *h);                  /* stops it first if running */

/* Registers a handler.  method is "GET", "POST", … or NULL for any; path is
 * matched exactly, or as a prefix when it ends with '*' (as in
 * "/api/v1/label/" followed by '*').
 * The first matching route wins; an unknown path gets 404, a known path
 * with another method 405. */
void httpd_route(httpd_t *h, const char *method, const char *path,
                 httpd_handler_fn fn, void *userdata);

/* Listens on addr (":9090", "127.0.0.1:0", "[::1]:9090", "localhost:9090")
 * and starts serving.  PH_EADDRINUSE / PH_EINVAL / PH_EIO with err set. */
int httpd_start(httpd_t *h, const char *addr, char *err, size_t errlen);
/* The bound port (useful after listening on port 0). */
int httpd_port(const httpd_t *h);
void httpd_stop(httpd_t *h);

const char *httpd_req_method(const httpd_req_t *r);
const char *httpd_req_path(const httpd_req_t *r);
/* First value of a query-string or form parameter; NULL if absent. */
const char *httpd_req_param(const httpd_req_t *r, const char *name);
/* All values of a parameter (e.g. "match[]"), in order; *values valid
 * during the call. */
size_t httpd_req_params(const httpd_req_t *r, const char *name,
                        const char *const **values);
/* Every parameter name=value in order (for introspection). */
size_t httpd_req_param_count(const httpd_req_t *r);
void httpd_req_param_at(const httpd_req_t *r, size_t i, const char **name,
                        const char **value);
const char *httpd_req_header(const httpd_req_t *r, const char *name);
/* The raw request body (not for form-encoded posts, whose fields become
 * parameters); valid during the call. */
const void *httpd_req_body(const httpd_req_t *r, size_t *len);

/* Adds a response header (copied); call before httpd_respond*. */
void httpd_add_header(httpd_req_t *r, const char *name, const char *value);
/* Sends status and body (copied).  content_type may be NULL. */
void httpd_respond(httpd_req_t *r, int status, const char *content_type,
                   const void *body, size_t len);
/* Same, taking over the buffer's memory (b is left empty). */
void httpd_respond_strbuf(httpd_req_t *r, int status, const char *content_type,
                          strbuf_t *b);

#endif
