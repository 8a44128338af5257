/*
 * httpd.c - HTTP server on libmicrohttpd (see httpd.h).
 *
 * libmicrohttpd calls the access handler several times per request: first
 * with the headers, then once per body fragment, then with no data.  The
 * per-request state (conn_state_t) collects the body up to max_body_bytes;
 * on the last call the parameters are gathered (query string through MHD's
 * iterator with our own unescaper, which also turns '+' into a space; a
 * form-encoded body parsed here), the route is found and the handler runs.
 * The listen socket is opened here (not by MHD) so bind errors are exact.
 */
#include "httpd.h"

#include "log.h"
#include "mem.h"
#include "ph_error.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

typedef struct route {
  char *method; /* NULL = any */
  char *path;
  size_t prefix_len; /* > 0: prefix match on path[0..prefix_len) */
  httpd_handler_fn fn;
  void *userdata;
} route_t;

struct httpd {
  httpd_options_t opt;
  route_t *routes;
  size_t nroutes, routes_cap;
  struct MHD_Daemon *daemon;
  int listen_fd;
  int port;
};

typedef struct param {
  char *name;
  char *value;
} param_t;

typedef struct header {
  char *name;
  char *value;
} header_t;

/* One request: lives from the first access-handler call to completion. */
struct httpd_req {
  httpd_t *h;
  struct MHD_Connection *conn;
  const char *method; /* owned by MHD, valid for the request */
  const char *path;
  char *body;         /* owned */
  size_t body_len, body_cap;
  bool too_large;
  param_t *params;    /* owned, name and value strings owned */
  size_t nparams, params_cap;
  const char **values_scratch; /* for httpd_req_params */
  size_t values_cap;
  header_t *headers;  /* response headers to add */
  size_t nheaders, headers_cap;
  bool responded;
};

httpd_t *httpd_new(const httpd_options_t *o) {
  httpd_t *h = ph_calloc(1, sizeof(*h));
  h->opt.max_body_bytes = 32u << 20;
  h->opt.threads = 4;
  if (o != NULL) {
    if (o->max_body_bytes) h->opt.max_body_bytes = o->max_body_bytes;
    if (o->threads) h->opt.threads = o->threads;
  }
  h->listen_fd = -1;
  return h;
}

void httpd_free(httpd_t *h) {
  if (h == NULL) return;
  httpd_stop(h);
  for (size_t i = 0; i < h->nroutes; i++) {
    free(h->routes[i].method);
    free(h->routes[i].path);
  }
  free(h->routes);
  free(h);
}

void httpd_route(httpd_t *h, const char *method, const char *path,
                 httpd_handler_fn fn, void *userdata) {
  ph_grow(&h->routes, &h->routes_cap, h->nroutes + 1);
  route_t *r = &h->routes[h->nroutes++];
  r->method = method ? ph_strdup(method) : NULL;
  size_t n = strlen(path);
  if (n > 0 && path[n - 1] == '*') {
    r->path = ph_strndup(path, n - 1);
    r->prefix_len = n - 1;
  } else {
    r->path = ph_strdup(path);
    r->prefix_len = 0;
  }
  r->fn = fn;
  r->userdata = userdata;
}

/* ---- parameters ---------------------------------------------------------- */

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Decodes %XX and '+' in place; returns the new length. */
static size_t url_unescape(char *s, size_t n) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '+') {
      s[o++] = ' ';
    } else if (s[i] == '%' && i + 2 < n && hexval((unsigned char)s[i + 1]) >= 0 &&
               hexval((unsigned char)s[i + 2]) >= 0) {
      s[o++] = (char)(hexval((unsigned char)s[i + 1]) * 16 + hexval((unsigned char)s[i + 2]));
      i += 2;
    } else {
      s[o++] = s[i];
    }
  }
  s[o] = '\0';
  return o;
}

static size_t mhd_unescape(void *cls, struct MHD_Connection *c, char *s) {
  (void)cls;
  (void)c;
  return url_unescape(s, strlen(s));
}

static void add_param(httpd_req_t *r, const char *name, size_t nlen,
                      const char *value, size_t vlen) {
  ph_grow(&r->params, &r->params_cap, r->nparams + 1);
  param_t *p = &r->params[r->nparams++];
  p->name = ph_strndup(name, nlen);
  p->value = ph_strndup(value, vlen);
}

static enum MHD_Result collect_get_arg(void *cls, enum MHD_ValueKind kind,
                                       const char *key, const char *value) {
  (void)kind;
  httpd_req_t *r = cls;
  if (key == NULL) return MHD_YES;
  if (value == NULL) value = "";
  add_param(r, key, strlen(key), value, strlen(value));
  return MHD_YES;
}

static void parse_form(httpd_req_t *r, char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    size_t end = i;
    while (end < n && s[end] != '&') end++;
    size_t eq = i;
    while (eq < end && s[eq] != '=') eq++;
    if (end > i) {
      size_t nlen = url_unescape(s + i, eq - i);
      size_t vlen = 0;
      const char *v = "";
      if (eq < end) {
        /* url_unescape writes a NUL at the new end, within [eq+1, end]; the
         * body buffer has one spare byte past its length for the last one */
        vlen = url_unescape(s + eq + 1, end - eq - 1);
        v = s + eq + 1;
      }
      add_param(r, s + i, nlen, v, vlen);
    }
    i = end + 1;
  }
}

const char *httpd_req_method(const httpd_req_t *r) { return r->method; }
const char *httpd_req_path(const httpd_req_t *r) { return r->path; }

const char *httpd_req_param(const httpd_req_t *r, const char *name) {
  for (size_t i = 0; i < r->nparams; i++)
    if (strcmp(r->params[i].name, name) == 0) return r->params[i].value;
  return NULL;
}

size_t httpd_req_params(const httpd_req_t *cr, const char *name,
                        const char *const **values) {
  httpd_req_t *r = (httpd_req_t *)cr;
  size_t n = 0;
  for (size_t i = 0; i < r->nparams; i++) {
    if (strcmp(r->params[i].name, name) != 0) continue;
    ph_grow(&r->values_scratch, &r->values_cap, n + 1);
    r->values_scratch[n++] = r->params[i].value;
  }
  *values = r->values_scratch;
  return n;
}

size_t httpd_req_param_count(const httpd_req_t *r) { return r->nparams; }

void httpd_req_param_at(const httpd_req_t *r, size_t i, const char **name,
                        const char **value) {
  *name = r->params[i].name;
  *value = r->params[i].value;
}

const char *httpd_req_header(const httpd_req_t *r, const char *name) {
  return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const void *httpd_req_body(const httpd_req_t *r, size_t *len) {
  *len = r->body_len;
  return r->body ? r->body : "";
}

/* ---- responses ------------------------------------------------------------ */

void httpd_add_header(httpd_req_t *r, const char *name, const char *value) {
  ph_grow(&r->headers, &r->headers_cap, r->nheaders + 1);
  r->headers[r->nheaders].name = ph_strdup(name);
  r->headers[r->nheaders].value = ph_strdup(value);
  r->nheaders++;
}

static bool accepts_gzip(httpd_req_t *r) {
  const char *ae = httpd_req_header(r, "Accept-Encoding");
  if (ae == NULL) return false;
  /* token match, ignoring q-values other than q=0 */
  const char *p = strcasestr(ae, "gzip");
  if (p == NULL) return false;
  const char *q = p + 4;
  while (*q == ' ') q++;
  if (*q == ';') {
    const char *qq = strstr(q, "q=");
    if (qq && strtod(qq + 2, NULL) == 0.0) return false;
  }
  return true;
}

/* gzip-compresses body into *out (malloc'd); false if it did not work. */
static bool gzip_body(const void *body, size_t len, char **out, size_t *outlen) {
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  if (deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return false;
  size_t cap = deflateBound(&zs, (uLong)len);
  char *buf = ph_malloc(cap);
  zs.next_in = (Bytef *)body;
  zs.avail_in = (uInt)len;
  zs.next_out = (Bytef *)buf;
  zs.avail_out = (uInt)cap;
  int rc = deflate(&zs, Z_FINISH);
  size_t produced = cap - zs.avail_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) {
    free(buf);
    return false;
  }
  *out = buf;
  *outlen = produced;
  return true;
}

static void respond_owned(httpd_req_t *r, int status, const char *ct,
                          char *body, size_t len) {
  if (r->responded) {
    free(body);
    return;
  }
  r->responded = true;
  bool gz = false;
  bool encoded = false;
  for (size_t i = 0; i < r->nheaders; i++)
    if (strcasecmp(r->headers[i].name, "Content-Encoding") == 0) encoded = true;
  if (!encoded && len >= 1024 && len < (1u << 31) && accepts_gzip(r)) {
    char *z;
    size_t zlen;
    if (gzip_body(body, len, &z, &zlen)) {
      free(body);
      body = z;
      len = zlen;
      gz = true;
    }
  }
  struct MHD_Response *resp =
      MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
  if (resp == NULL) {
    free(body);
    return;
  }
  if (ct) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ct);
  if (gz) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
  for (size_t i = 0; i < r->nheaders; i++)
    MHD_add_response_header(resp, r->headers[i].name, r->headers[i].value);
  MHD_queue_response(r->conn, (unsigned)status, resp);
  MHD_destroy_response(resp);
}

void httpd_respond(httpd_req_t *r, int status, const char *content_type,
                   const void *body, size_t len) {
  char *copy = ph_malloc(len ? len : 1);
  if (len) memcpy(copy, body, len);
  respond_owned(r, status, content_type, copy, len);
}

void httpd_respond_strbuf(httpd_req_t *r, int status, const char *content_type,
                          strbuf_t *b) {
  size_t len;
  char *p = strbuf_detach(b, &len);
  respond_owned(r, status, content_type, p, len);
}

/* ---- dispatch ------------------------------------------------------------- */

static void req_free(httpd_req_t *r) {
  for (size_t i = 0; i < r->nparams; i++) {
    free(r->params[i].name);
    free(r->params[i].value);
  }
  for (size_t i = 0; i < r->nheaders; i++) {
    free(r->headers[i].name);
    free(r->headers[i].value);
  }
  free(r->params);
  free(r->headers);
  free(r->values_scratch);
  free(r->body);
  free(r);
}

static void dispatch(httpd_req_t *r) {
  httpd_t *h = r->h;
  bool path_known = false;
  for (size_t i = 0; i < h->nroutes; i++) {
    route_t *rt = &h->routes[i];
    bool match = rt->prefix_len ? strncmp(r->path, rt->path, rt->prefix_len) == 0
                                : strcmp(r->path, rt->path) == 0;
    if (!match) continue;
    path_known = true;
    if (rt->method != NULL && strcmp(rt->method, r->method) != 0) continue;
    rt->fn(r, rt->userdata);
    if (!r->responded) {
      static const char msg[] = "handler sent no response\n";
      httpd_respond(r, 500, "text/plain; charset=utf-8", msg, sizeof msg - 1);
    }
    return;
  }
  if (path_known) {
    static const char msg[] = "Method Not Allowed\n";
    httpd_respond(r, 405, "text/plain; charset=utf-8", msg, sizeof msg - 1);
  } else {
    static const char msg[] = "404 page not found\n";
    httpd_respond(r, 404, "text/plain; charset=utf-8", msg, sizeof msg - 1);
  }
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *conn,
                                      const char *url, const char *method,
                                      const char *version, const char *upload,
                                      size_t *upload_size, void **con_cls) {
  (void)version;
  httpd_t *h = cls;
  httpd_req_t *r = *con_cls;
  if (r == NULL) {
    r = ph_calloc(1, sizeof(*r));
    r->h = h;
    r->conn = conn;
    r->method = method;
    r->path = url;
    *con_cls = r;
    return MHD_YES;
  }
  if (*upload_size > 0) {
    if (!r->too_large) {
      if (r->body_len + *upload_size > h->opt.max_body_bytes) {
        r->too_large = true;
      } else {
        ph_grow(&r->body, &r->body_cap, r->body_len + *upload_size + 1);
        memcpy(r->body + r->body_len, upload, *upload_size);
        r->body_len += *upload_size;
        r->body[r->body_len] = '\0';
      }
    }
    *upload_size = 0;
    return MHD_YES;
  }
  if (r->responded) return MHD_YES;
  if (r->too_large) {
    static const char msg[] = "request body too large\n";
    httpd_respond(r, 413, "text/plain; charset=utf-8", msg, sizeof msg - 1);
    return MHD_YES;
  }
  MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_get_arg, r);
  const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                               MHD_HTTP_HEADER_CONTENT_TYPE);
  if (strcmp(method, "POST") == 0 && ct != NULL &&
      strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0 && r->body_len) {
    parse_form(r, r->body, r->body_len);
    r->body_len = 0;
  }
  dispatch(r);
  return MHD_YES;
}

static void request_completed(void *cls, struct MHD_Connection *conn,
                              void **con_cls, enum MHD_RequestTerminationCode t) {
  (void)cls;
  (void)conn;
  (void)t;
  if (*con_cls) req_free(*con_cls);
  *con_cls = NULL;
}

/* ---- listening ------------------------------------------------------------ */

static int open_listener(const char *addr, int *fd_out, char *err, size_t errlen) {
  const char *colon = strrchr(addr, ':');
  if (colon == NULL)
    return ph_err(err, errlen, PH_EINVAL,
                  "invalid listen address \"%s\": missing port", addr);
  char host[256];
  size_t hlen = (size_t)(colon - addr);
  if (hlen >= sizeof host)
    return ph_err(err, errlen, PH_EINVAL, "invalid listen address \"%s\"", addr);
  memcpy(host, addr, hlen);
  host[hlen] = '\0';
  if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
    memmove(host, host + 1, hlen - 2);
    host[hlen - 2] = '\0';
  }
  const char *port = colon + 1;
  char *end;
  long pnum = strtol(port, &end, 10);
  if (*port == '\0' || *end != '\0' || pnum < 0 || pnum > 65535)
    return ph_err(err, errlen, PH_EINVAL,
                  "invalid listen address \"%s\": bad port", addr);

  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  hints.ai_family = host[0] ? AF_UNSPEC : AF_INET6;
  int gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
  if (gai != 0 && !host[0]) {
    hints.ai_family = AF_INET;
    gai = getaddrinfo(NULL, port, &hints, &res);
  }
  if (gai != 0)
    return ph_err(err, errlen, PH_EINVAL, "invalid listen address \"%s\": %s",
                  addr, gai_strerror(gai));
  int fd = -1, saved_errno = 0;
  for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) { saved_errno = errno; continue; }
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ai->ai_family == AF_INET6 && !host[0])
      setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 128) == 0) break;
    saved_errno = errno;
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd < 0) {
    if (saved_errno == EADDRINUSE)
      return ph_err(err, errlen, PH_EADDRINUSE,
                    "listen tcp %s: bind: address already in use", addr);
    return ph_err(err, errlen, PH_EIO, "listen tcp %s: %s", addr,
                  strerror(saved_errno));
  }
  *fd_out = fd;
  return 0;
}

int httpd_start(httpd_t *h, const char *addr, char *err, size_t errlen) {
  int fd = -1;
  int rc = open_listener(addr, &fd, err, errlen);
  if (rc != 0) return rc;
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
    if (ss.ss_family == AF_INET) h->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    else h->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  }
  h->daemon = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TURBO, 0, NULL,
      NULL, access_handler, h, MHD_OPTION_LISTEN_SOCKET, fd,
      MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)h->opt.threads,
      MHD_OPTION_NOTIFY_COMPLETED, request_completed, h,
      MHD_OPTION_UNESCAPE_CALLBACK, mhd_unescape, h,
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)120,
      MHD_OPTION_END);
  if (h->daemon == NULL) {
    close(fd);
    return ph_err(err, errlen, PH_EIO, "cannot start HTTP server on %s", addr);
  }
  h->listen_fd = fd;
  return 0;
}

int httpd_port(const httpd_t *h) { return h->port; }

void httpd_stop(httpd_t *h) {
  if (h->daemon != NULL) {
    MHD_stop_daemon(h->daemon);
    h->daemon = NULL;
  }
  if (h->listen_fd >= 0) {
    close(h->listen_fd);
    h->listen_fd = -1;
  }
}
