/*
 * exporter_http.h - pharos-exporter's own small HTTP/1.1 server (http.c).
 *
 * The exporter serves two GET pages, so it does not need a general server
 * (and libmicrohttpd would bring GnuTLS and its eight libraries into every
 * node's memory).  One thread runs a poll() loop over the listen sockets,
 * the open connections and a stop descriptor; each complete request is
 * answered in that thread by one handler.  GET and HEAD only, keep-alive,
 * pipelining, gzip (zlib) when Accept-Encoding allows, bounded request
 * size, connection count and time (see exporter_http_limits_t).
 */
#ifndef PH_EXPORTER_HTTP_H
#define PH_EXPORTER_HTTP_H

#include "strbuf.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct exporter_http exporter_http_t; /* owned by its creator;
                                                 exporter_http_free */
typedef struct exporter_http_req exporter_http_req_t; /* valid during the
                                                         handler call only */

/* Answers one GET (or HEAD: the body is computed, then not sent).  Appends
 * the body to `body` and returns the status; *content_type must be set to a
 * string that lives at least until the handler returns again (a static
 * one).  A 200 body is gzipped when the client accepts it. */
typedef int (*exporter_http_handler_fn)(exporter_http_req_t *req, void *ud,
                                        strbuf_t *body,
                                        const char **content_type);

typedef struct exporter_http_limits {
  size_t max_header_bytes; /* request line + headers; 431 beyond; 16 KiB */
  unsigned max_conns;      /* open connections; more wait in the backlog; 64 */
  int header_timeout_ms;   /* a started request must be complete; 10 s */
  int idle_timeout_ms;     /* keep-alive connection without a request; 120 s */
  int write_timeout_ms;    /* a response must be taken by the client; 60 s */
} exporter_http_limits_t;

/* limits may be NULL; zero fields take the defaults above. */
exporter_http_t *exporter_http_new(exporter_http_handler_fn fn, void *ud,
                                   const exporter_http_limits_t *limits);
/* Closes every socket and frees h. */
void exporter_http_free(exporter_http_t *h);

/* Binds addr (":9100", "127.0.0.1:0", "[::1]:9100", "localhost:9100"; an
 * empty host is every address, IPv6 and IPv4) and listens.  May be called
 * several times.  Returns the bound port, or PH_EADDRINUSE / PH_EINVAL /
 * PH_EIO with err set ("listen tcp :9100: bind: address already in use"). */
int exporter_http_listen(exporter_http_t *h, const char *addr, char *err,
                         size_t errlen);

/* Serves until stop_fd becomes readable (a signalfd, a pipe); stop_fd -1
 * serves until an error.  Returns 0, or PH_EIO when poll() fails. */
int exporter_http_run(exporter_http_t *h, int stop_fd);

/* The request. */
const char *exporter_http_req_method(const exporter_http_req_t *r);
/* The path, percent-decoded, without the query string. */
const char *exporter_http_req_path(const exporter_http_req_t *r);
/* The header's value (name compared case-insensitively), NULL if absent. */
const char *exporter_http_req_header(const exporter_http_req_t *r,
                                     const char *name);
/* All values of a query parameter ("collect[]"), decoded, in order;
 * *values valid during the handler call. */
size_t exporter_http_req_params(exporter_http_req_t *r, const char *name,
                                const char *const **values);

#endif
