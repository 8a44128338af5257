/*
 * http.c - pharos-exporter's HTTP/1.1 server (see exporter_http.h).
 *
 * One thread, one poll() set: [stop fd] [listen sockets] [connections].
 * Sockets are non-blocking.  A connection is either READING (bytes go into
 * its fixed buffer of max_header_bytes until a blank line ends the head)
 * or WRITING (a response being sent with sendmsg, header and body as two
 * iovecs).  A complete head is parsed in place (request line, headers,
 * query parameters point into the buffer), answered by the handler in this
 * thread, and the answer sent at once; only when the socket is full is the
 * rest copied to the connection and sent on POLLOUT.  Bytes after the head
 * are the next pipelined request and are handled once the answer is out.
 *
 * Limits, all per connection: the head must fit max_header_bytes (431,
 * then close) and arrive within header_timeout_ms of its first byte (a
 * slow client is closed silently, as Go does); an idle keep-alive
 * connection is closed after idle_timeout_ms; a response the client does
 * not read within write_timeout_ms is dropped.  At max_conns the listen
 * sockets leave the poll set and new clients wait in the backlog.
 * Requests with a body (Content-Length > 0, Transfer-Encoding) are
 * answered and the connection closed, since the body is never read.
 * Methods other than GET and HEAD get 405 with "Allow: GET, HEAD".
 *
 * The handler's body buffer and the gzip stream (zlib, level 1, 8 KiB
 * window, reset per response) are kept for the next request, so a scrape
 * in steady state allocates only the connection's head buffer.  Listen
 * addresses are resolved without NSS (numeric, "localhost", /etc/hosts)
 * so the binary can be linked statically.
 */
#include "exporter_http.h"

#include "log.h"
#include "mem.h"
#include "ph_error.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define HTTP_MAX_HEADERS 64
#define HTTP_MAX_PARAMS 64

typedef struct kv {
  const char *name;
  const char *value;
} kv_t;

struct exporter_http_req {
  const char *method;
  const char *path;
  kv_t headers[HTTP_MAX_HEADERS];
  size_t nheaders;
  kv_t params[HTTP_MAX_PARAMS];
  size_t nparams;
  const char *values[HTTP_MAX_PARAMS]; /* exporter_http_req_params */
};

typedef struct conn {
  int fd;            /* -1 once closed */
  char *in;          /* owned; max_header_bytes + 1 */
  size_t inlen;
  size_t scanned;    /* bytes of in already searched for the head's end */
  bool started;      /* a head has begun: its deadline is set */
  bool writing;
  bool close_after;  /* close once the response is out */
  char head[512];    /* status line and headers of the response */
  size_t headlen;
  const char *body;  /* the server's buffers, or owned when body_owned */
  size_t bodylen;
  bool body_owned;
  size_t sent;       /* of headlen + bodylen */
  int64_t deadline;  /* monotonic ms */
} conn_t;

struct exporter_http {
  exporter_http_handler_fn fn;
  void *ud;
  exporter_http_limits_t lim;
  int *lfds; /* listen sockets, owned */
  size_t nl, lcap;
  conn_t **conns; /* owned */
  size_t nconns, conns_cap;
  struct pollfd *pfds;
  size_t pfds_cap;
  strbuf_t body;   /* handler output, reused */
  z_stream zs;     /* gzip, reused via deflateReset */
  bool zinit;
  char *gz;        /* compressed body, reused */
  size_t gzcap;
};

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

exporter_http_t *exporter_http_new(exporter_http_handler_fn fn, void *ud,
                                   const exporter_http_limits_t *limits) {
  exporter_http_t *h = ph_calloc(1, sizeof(*h));
  h->fn = fn;
  h->ud = ud;
  if (limits != NULL) h->lim = *limits;
  if (h->lim.max_header_bytes == 0) h->lim.max_header_bytes = 16384;
  if (h->lim.max_conns == 0) h->lim.max_conns = 64;
  if (h->lim.header_timeout_ms <= 0) h->lim.header_timeout_ms = 10000;
  if (h->lim.idle_timeout_ms <= 0) h->lim.idle_timeout_ms = 120000;
  if (h->lim.write_timeout_ms <= 0) h->lim.write_timeout_ms = 60000;
  return h;
}

static void conn_close(conn_t *c) {
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
  if (c->body_owned) free((void *)c->body);
  c->body = NULL;
  c->body_owned = false;
  free(c->in);
  c->in = NULL;
}

void exporter_http_free(exporter_http_t *h) {
  if (h == NULL) return;
  for (size_t i = 0; i < h->nconns; i++) {
    conn_close(h->conns[i]);
    free(h->conns[i]);
  }
  for (size_t i = 0; i < h->nl; i++) close(h->lfds[i]);
  free(h->conns);
  free(h->lfds);
  free(h->pfds);
  strbuf_free(&h->body);
  if (h->zinit) deflateEnd(&h->zs);
  free(h->gz);
  free(h);
}

/* ---- listening ---- */

/* An address for host from /etc/hosts (the first line naming it). */
static bool hosts_lookup(const char *host, char *out, size_t n) {
  FILE *f = fopen("/etc/hosts", "re");
  if (f == NULL) return false;
  char line[512];
  bool found = false;
  while (!found && fgets(line, sizeof(line), f) != NULL) {
    char *hash = strchr(line, '#');
    if (hash) *hash = '\0';
    char *save = NULL, *addr = strtok_r(line, " \t\r\n", &save), *name;
    if (addr == NULL) continue;
    while ((name = strtok_r(NULL, " \t\r\n", &save)) != NULL) {
      if (strcasecmp(name, host) == 0) {
        snprintf(out, n, "%s", addr);
        found = true;
        break;
      }
    }
  }
  fclose(f);
  return found;
}

/* Fills ss from host (without brackets) and port; empty host: "::". */
static int resolve(const char *addr, const char *host, int port,
                   struct sockaddr_storage *ss, socklen_t *sl, char *err,
                   size_t errlen) {
  char buf[256];
  memset(ss, 0, sizeof(*ss));
  if (host[0] != '\0' && strcasecmp(host, "localhost") == 0) host = "127.0.0.1";
  for (int pass = 0; pass < 2; pass++) {
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    if (host[0] == '\0') {
      s6->sin6_family = AF_INET6;
      s6->sin6_addr = in6addr_any;
      s6->sin6_port = htons((uint16_t)port);
      *sl = sizeof(*s6);
      return 0;
    }
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
      s4->sin_family = AF_INET;
      s4->sin_port = htons((uint16_t)port);
      *sl = sizeof(*s4);
      return 0;
    }
    if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
      s6->sin6_family = AF_INET6;
      s6->sin6_port = htons((uint16_t)port);
      *sl = sizeof(*s6);
      return 0;
    }
    if (pass == 1 || !hosts_lookup(host, buf, sizeof(buf))) break;
    host = buf;
  }
  return ph_err(err, errlen, PH_EINVAL,
                "invalid listen address \"%s\": no such host", addr);
}

static int open_listener(const char *addr, int *fd_out, int *port_out,
                         char *err, size_t errlen) {
  const char *colon = strrchr(addr, ':');
  if (colon == NULL)
    return ph_err(err, errlen, PH_EINVAL,
                  "invalid listen address \"%s\": missing port", addr);
  char host[256];
  size_t hlen = (size_t)(colon - addr);
  if (hlen >= sizeof(host))
    return ph_err(err, errlen, PH_EINVAL, "invalid listen address \"%s\"", addr);
  memcpy(host, addr, hlen);
  host[hlen] = '\0';
  if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
    memmove(host, host + 1, hlen - 2);
    host[hlen - 2] = '\0';
  }
  const char *ps = colon + 1;
  char *end;
  long port = strtol(ps, &end, 10);
  if (*ps == '\0' || *end != '\0' || port < 0 || port > 65535)
    return ph_err(err, errlen, PH_EINVAL,
                  "invalid listen address \"%s\": bad port", addr);
  struct sockaddr_storage ss;
  socklen_t sl = 0;
  int rc = resolve(addr, host, (int)port, &ss, &sl, err, errlen);
  if (rc < 0) return rc;
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0 && host[0] == '\0') { /* no IPv6: every IPv4 address */
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    memset(&ss, 0, sizeof(ss));
    s4->sin_family = AF_INET;
    s4->sin_addr.s_addr = htonl(INADDR_ANY);
    s4->sin_port = htons((uint16_t)port);
    sl = sizeof(*s4);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  }
  if (fd < 0)
    return ph_err(err, errlen, PH_EIO, "listen tcp %s: socket: %s", addr,
                  strerror(errno));
  int one = 1, zero = 0;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (ss.ss_family == AF_INET6 && host[0] == '\0')
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
  if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 128) != 0) {
    int e = errno;
    close(fd);
    if (e == EADDRINUSE)
      return ph_err(err, errlen, PH_EADDRINUSE,
                    "listen tcp %s: bind: address already in use", addr);
    return ph_err(err, errlen, PH_EIO, "listen tcp %s: %s", addr, strerror(e));
  }
  struct sockaddr_storage bound;
  socklen_t bl = sizeof(bound);
  *port_out = (int)port;
  if (getsockname(fd, (struct sockaddr *)&bound, &bl) == 0)
    *port_out = ntohs(bound.ss_family == AF_INET
                          ? ((struct sockaddr_in *)&bound)->sin_port
                          : ((struct sockaddr_in6 *)&bound)->sin6_port);
  *fd_out = fd;
  return 0;
}

int exporter_http_listen(exporter_http_t *h, const char *addr, char *err,
                         size_t errlen) {
  int fd, port;
  int rc = open_listener(addr, &fd, &port, err, errlen);
  if (rc < 0) return rc;
  ph_grow(&h->lfds, &h->lcap, h->nl + 1);
  h->lfds[h->nl++] = fd;
  return port;
}

/* ---- the request ---- */

const char *exporter_http_req_method(const exporter_http_req_t *r) {
  return r->method;
}

const char *exporter_http_req_path(const exporter_http_req_t *r) {
  return r->path;
}

const char *exporter_http_req_header(const exporter_http_req_t *r,
                                     const char *name) {
  for (size_t i = 0; i < r->nheaders; i++)
    if (strcasecmp(r->headers[i].name, name) == 0) return r->headers[i].value;
  return NULL;
}

size_t exporter_http_req_params(exporter_http_req_t *r, const char *name,
                                const char *const **values) {
  size_t n = 0;
  for (size_t i = 0; i < r->nparams; i++)
    if (strcmp(r->params[i].name, name) == 0) r->values[n++] = r->params[i].value;
  *values = r->values;
  return n;
}

static int hexval(int ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

/* Decodes %XX (and '+' when plus) in place; false on a bad escape. */
static bool unescape(char *s, bool plus) {
  char *o = s;
  for (char *p = s; *p; p++) {
    if (*p == '%') {
      int hi = hexval((unsigned char)p[1]);
      int lo = hi < 0 ? -1 : hexval((unsigned char)p[2]);
      if (lo < 0) return false;
      *o++ = (char)(hi * 16 + lo);
      p += 2;
    } else {
      *o++ = plus && *p == '+' ? ' ' : *p;
    }
  }
  *o = '\0';
  return true;
}

/* Go's url.ParseQuery: '&'-separated name=value pairs; pairs that do not
 * decode are skipped. */
static void parse_query(exporter_http_req_t *r, char *q) {
  while (q != NULL && *q != '\0') {
    char *next = strchr(q, '&');
    if (next) *next++ = '\0';
    if (*q != '\0' && r->nparams < HTTP_MAX_PARAMS) {
      char *eq = strchr(q, '=');
      char *v = "";
      if (eq) {
        *eq = '\0';
        v = eq + 1;
      }
      if (unescape(q, true) && unescape(v, true)) {
        r->params[r->nparams].name = q;
        r->params[r->nparams].value = v;
        r->nparams++;
      }
    }
    q = next;
  }
}

static bool is_tchar(unsigned char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
         (ch >= '0' && ch <= '9') || (ch != 0 && strchr("!#$%&'*+-.^_`|~", ch));
}

static bool is_token(const char *s) {
  if (*s == '\0') return false;
  for (; *s; s++)
    if (!is_tchar((unsigned char)*s)) return false;
  return true;
}

/* Whether Accept-Encoding lists gzip with a q above 0. */
static bool accepts_gzip(const char *ae) {
  if (ae == NULL) return false;
  const char *p = ae;
  while (*p) {
    while (*p == ' ' || *p == '\t' || *p == ',') p++;
    const char *tok = p;
    while (*p && *p != ',' && *p != ';' && *p != ' ' && *p != '\t') p++;
    size_t tl = (size_t)(p - tok);
    double q = 1;
    while (*p && *p != ',') {
      if (*p == ';') {
        const char *s = p + 1;
        while (*s == ' ' || *s == '\t') s++;
        if ((s[0] == 'q' || s[0] == 'Q') && s[1] == '=') q = strtod(s + 2, NULL);
      }
      p++;
    }
    if (tl == 4 && strncasecmp(tok, "gzip", 4) == 0 && q > 0) return true;
  }
  return false;
}

/* ---- responses ---- */

static const char *reason(int status) {
  switch (status) {
  case 200: return "OK";
  case 400: return "Bad Request";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 503: return "Service Unavailable";
  case 505: return "HTTP Version Not Supported";
  default: return "Unknown";
  }
}

/* Sends what is pending: 0 when all is out, 1 when the socket is full
 * (the body is then owned by the connection), -1 on a dead connection. */
static int conn_flush(conn_t *c) {
  size_t total = c->headlen + c->bodylen;
  while (c->sent < total) {
    struct iovec iov[2];
    int n = 0;
    if (c->sent < c->headlen) {
      iov[n].iov_base = c->head + c->sent;
      iov[n++].iov_len = c->headlen - c->sent;
    }
    size_t boff = c->sent > c->headlen ? c->sent - c->headlen : 0;
    if (boff < c->bodylen) {
      iov[n].iov_base = (char *)c->body + boff;
      iov[n++].iov_len = c->bodylen - boff;
    }
    struct msghdr m;
    memset(&m, 0, sizeof(m));
    m.msg_iov = iov;
    m.msg_iovlen = (size_t)n;
    ssize_t w = sendmsg(c->fd, &m, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (!c->body_owned && c->bodylen > 0) { /* keep what is unsent */
          char *copy = ph_malloc(c->bodylen);
          memcpy(copy, c->body, c->bodylen);
          c->body = copy;
          c->body_owned = true;
        }
        return 1;
      }
      return -1;
    }
    c->sent += (size_t)w;
  }
  if (c->body_owned) free((void *)c->body);
  c->body = NULL;
  c->body_owned = false;
  c->bodylen = c->sent = c->headlen = 0;
  return 0;
}

/* Compresses b into h->gz; false when zlib fails. */
static bool gzip_body(exporter_http_t *h, const strbuf_t *b, size_t *outlen) {
  if (!h->zinit) {
    memset(&h->zs, 0, sizeof(h->zs));
    if (deflateInit2(&h->zs, 1, Z_DEFLATED, 13 + 16, 7, Z_DEFAULT_STRATEGY) != Z_OK)
      return false;
    h->zinit = true;
  } else if (deflateReset(&h->zs) != Z_OK) {
    return false;
  }
  size_t need = deflateBound(&h->zs, (uLong)b->len);
  if (need > h->gzcap) {
    h->gz = ph_realloc(h->gz, need);
    h->gzcap = need;
  }
  h->zs.next_in = (Bytef *)b->data;
  h->zs.avail_in = (uInt)b->len;
  h->zs.next_out = (Bytef *)h->gz;
  h->zs.avail_out = (uInt)need;
  if (deflate(&h->zs, Z_FINISH) != Z_STREAM_END) return false;
  *outlen = need - h->zs.avail_out;
  return true;
}

/* Queues the response (head, then body unless head_only). */
static void respond(exporter_http_t *h, conn_t *c, bool http10, int status,
                    const char *ctype, const char *body, size_t len, bool gz,
                    bool head_only, const char *extra) {
  int n = snprintf(c->head, sizeof(c->head),
                   "HTTP/1.%d %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                   "%s%s%s\r\n",
                   http10 ? 0 : 1, status, reason(status), ctype, len,
                   gz ? "Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n" : "",
                   extra ? extra : "",
                   c->close_after ? "Connection: close\r\n"
                   : http10       ? "Connection: keep-alive\r\n"
                                  : "");
  ph_assert(n > 0 && (size_t)n < sizeof(c->head));
  c->headlen = (size_t)n;
  c->body = head_only ? NULL : body;
  c->bodylen = head_only ? 0 : len;
  c->body_owned = false;
  c->sent = 0;
  c->writing = true;
  (void)h;
}

static void respond_text(exporter_http_t *h, conn_t *c, bool http10, int status,
                         const char *msg, bool close_after) {
  if (close_after) c->close_after = true;
  respond(h, c, http10, status, "text/plain; charset=utf-8", msg, strlen(msg),
          false, false, status == 405 ? "Allow: GET, HEAD\r\n" : NULL);
}

/* Finds the end of the head (the blank line): the number of bytes it
 * takes, or 0 when not complete yet. */
static size_t head_end(conn_t *c) {
  size_t i = c->scanned;
  for (; i < c->inlen; i++) {
    if (c->in[i] != '\n') continue;
    if (i + 1 < c->inlen && c->in[i + 1] == '\n') return i + 2;
    if (i + 2 < c->inlen && c->in[i + 1] == '\r' && c->in[i + 2] == '\n')
      return i + 3;
  }
  c->scanned = i >= 2 ? i - 2 : 0;
  return 0;
}

/* Parses and answers the head in c->in[0..n). */
static void handle(exporter_http_t *h, conn_t *c, size_t n) {
  char *s = c->in;
  s[n - 1] = '\0'; /* the head ends with '\n'; the buffer is NUL-safe */
  if (memchr(s, '\0', n - 1) != NULL) {
    respond_text(h, c, false, 400, "400 Bad Request", true);
    return;
  }
  exporter_http_req_t r;
  r.nheaders = r.nparams = 0;
  /* the request line */
  char *line = s, *nl = strchr(line, '\n');
  if (nl) *nl = '\0';
  size_t ll = strlen(line);
  if (ll > 0 && line[ll - 1] == '\r') line[--ll] = '\0';
  char *sp1 = strchr(line, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
  if (sp1 == NULL || sp2 == NULL || strchr(sp2 + 1, ' ') != NULL) {
    respond_text(h, c, false, 400, "400 Bad Request", true);
    return;
  }
  *sp1 = *sp2 = '\0';
  char *method = line, *target = sp1 + 1, *version = sp2 + 1;
  bool http10 = strcmp(version, "HTTP/1.0") == 0;
  if (!http10 && strcmp(version, "HTTP/1.1") != 0) {
    bool other = strncmp(version, "HTTP/", 5) == 0 && version[5] >= '2' &&
                 version[5] <= '9';
    respond_text(h, c, false, other ? 505 : 400,
                 other ? "505 HTTP Version Not Supported" : "400 Bad Request",
                 true);
    return;
  }
  if (!is_token(method)) {
    respond_text(h, c, http10, 400, "400 Bad Request", true);
    return;
  }
  /* absolute-form targets: keep the path */
  if (strncasecmp(target, "http://", 7) == 0 || strncasecmp(target, "https://", 8) == 0) {
    char *p = strchr(target + (target[4] == ':' ? 7 : 8), '/');
    target = p ? p : "/";
  }
  if (target[0] != '/') {
    respond_text(h, c, http10, 400, "400 Bad Request", true);
    return;
  }
  /* headers */
  char *p = nl ? nl + 1 : NULL;
  bool keep = !http10, has_body = false;
  while (p != NULL && *p != '\0') {
    char *e = strchr(p, '\n');
    if (e) *e = '\0';
    size_t l = strlen(p);
    if (l > 0 && p[l - 1] == '\r') p[--l] = '\0';
    if (l == 0) break;
    char *colon = strchr(p, ':');
    if (p[0] == ' ' || p[0] == '\t' || colon == NULL) { /* obs-fold, junk */
      respond_text(h, c, http10, 400, "400 Bad Request", true);
      return;
    }
    *colon = '\0';
    char *v = colon + 1;
    while (*v == ' ' || *v == '\t') v++;
    char *ve = v + strlen(v);
    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) *--ve = '\0';
    if (!is_token(p)) {
      respond_text(h, c, http10, 400, "400 Bad Request", true);
      return;
    }
    if (r.nheaders == HTTP_MAX_HEADERS) {
      respond_text(h, c, http10, 431, "431 Request Header Fields Too Large", true);
      return;
    }
    r.headers[r.nheaders].name = p;
    r.headers[r.nheaders].value = v;
    r.nheaders++;
    if (strcasecmp(p, "Connection") == 0) {
      if (strcasestr(v, "close") != NULL) keep = false;
      else if (strcasestr(v, "keep-alive") != NULL) keep = true;
    } else if (strcasecmp(p, "Content-Length") == 0) {
      char *end;
      errno = 0;
      unsigned long long cl = strtoull(v, &end, 10);
      if (*v < '0' || *v > '9' || *end != '\0' || errno != 0) {
        respond_text(h, c, http10, 400, "400 Bad Request", true);
        return;
      }
      if (cl > 0) has_body = true;
    } else if (strcasecmp(p, "Transfer-Encoding") == 0) {
      has_body = true;
    }
    p = e ? e + 1 : NULL;
  }
  c->close_after = !keep || has_body;
  bool head_only = strcmp(method, "HEAD") == 0;
  if (!head_only && strcmp(method, "GET") != 0) {
    respond_text(h, c, http10, 405, "Method Not Allowed", false);
    return;
  }
  char *q = strchr(target, '?');
  if (q) *q++ = '\0';
  if (!unescape(target, false)) {
    respond_text(h, c, http10, 400, "400 Bad Request", true);
    return;
  }
  parse_query(&r, q);
  r.method = method;
  r.path = target;
  const char *ctype = "text/plain; charset=utf-8";
  strbuf_reset(&h->body);
  int status = h->fn(&r, h->ud, &h->body, &ctype);
  const char *body = h->body.data ? h->body.data : "";
  size_t len = h->body.len;
  bool gz = false;
  if (status == 200 && len > 0 && accepts_gzip(exporter_http_req_header(&r, "Accept-Encoding"))) {
    size_t zl;
    if (gzip_body(h, &h->body, &zl)) {
      body = h->gz;
      len = zl;
      gz = true;
    }
  }
  respond(h, c, http10, status, ctype, body, len, gz, head_only, NULL);
}

/* ---- connections ---- */

/* Answers the complete requests in c->in while the socket takes the
 * answers; false when the connection is to be closed. */
static bool conn_progress(exporter_http_t *h, conn_t *c, int64_t now) {
  for (;;) {
    if (c->writing) {
      int rc = conn_flush(c);
      if (rc < 0) return false;
      if (rc > 0) {
        c->deadline = now + h->lim.write_timeout_ms;
        return true;
      }
      c->writing = false;
      if (c->close_after) return false;
    }
    size_t n = head_end(c);
    if (n == 0) {
      if (c->inlen > h->lim.max_header_bytes - 1) {
        respond_text(h, c, false, 431, "431 Request Header Fields Too Large", true);
        c->inlen = 0;
        continue;
      }
      if (c->inlen == 0) {
        c->started = false;
        c->deadline = now + h->lim.idle_timeout_ms;
      } else if (!c->started) { /* counted from the head's first byte */
        c->started = true;
        c->deadline = now + h->lim.header_timeout_ms;
      }
      return true;
    }
    /* skip empty lines before a request line (RFC 9112 2.2) */
    size_t skip = 0;
    while (skip < n && (c->in[skip] == '\r' || c->in[skip] == '\n')) skip++;
    if (skip == n) {
      memmove(c->in, c->in + n, c->inlen - n);
      c->inlen -= n;
      c->scanned = 0;
      continue;
    }
    if (skip > 0) {
      memmove(c->in, c->in + skip, c->inlen - skip);
      c->inlen -= skip;
      n -= skip;
    }
    handle(h, c, n);
    memmove(c->in, c->in + n, c->inlen - n);
    c->inlen -= n;
    c->scanned = 0;
    c->started = false;
    if (c->close_after) c->inlen = 0; /* ignore anything after */
  }
}

/* Reads what the socket has; false when the connection is to be closed. */
static bool conn_read(exporter_http_t *h, conn_t *c, int64_t now) {
  size_t cap = h->lim.max_header_bytes;
  if (c->inlen < cap) {
    ssize_t r;
    do {
      r = recv(c->fd, c->in + c->inlen, cap - c->inlen, 0);
    } while (r < 0 && errno == EINTR);
    if (r == 0) return false;
    if (r < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
    c->inlen += (size_t)r;
    c->in[c->inlen] = '\0';
  }
  return conn_progress(h, c, now);
}

static void accept_all(exporter_http_t *h, int lfd, int64_t now) {
  while (h->nconns < h->lim.max_conns) {
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        log_warn("accept failed", "err", strerror(errno));
      return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    conn_t *c = ph_calloc(1, sizeof(*c));
    c->fd = fd;
    c->in = ph_malloc(h->lim.max_header_bytes + 1);
    c->deadline = now + h->lim.idle_timeout_ms;
    ph_grow(&h->conns, &h->conns_cap, h->nconns + 1);
    h->conns[h->nconns++] = c;
  }
}

int exporter_http_run(exporter_http_t *h, int stop_fd) {
  for (;;) {
    size_t np = 0;
    ph_grow(&h->pfds, &h->pfds_cap, 1 + h->nl + h->nconns);
    if (stop_fd >= 0) h->pfds[np++] = (struct pollfd){stop_fd, POLLIN, 0};
    size_t lbase = np;
    bool room = h->nconns < h->lim.max_conns;
    for (size_t i = 0; i < h->nl; i++)
      h->pfds[np++] = (struct pollfd){room ? h->lfds[i] : -1, POLLIN, 0};
    size_t cbase = np;
    int64_t now = now_ms(), first = INT64_MAX;
    for (size_t i = 0; i < h->nconns; i++) {
      conn_t *c = h->conns[i];
      h->pfds[np++] = (struct pollfd){c->fd, c->writing ? POLLOUT : POLLIN, 0};
      if (c->deadline < first) first = c->deadline;
    }
    int timeout = -1;
    if (first != INT64_MAX)
      timeout = first <= now ? 0 : (int)(first - now > 60000 ? 60000 : first - now);
    int rc = poll(h->pfds, (nfds_t)np, timeout);
    if (rc < 0) {
      if (errno == EINTR) continue;
      log_error("poll failed", "err", strerror(errno));
      return PH_EIO;
    }
    now = now_ms();
    if (stop_fd >= 0 && h->pfds[0].revents != 0) return 0;
    size_t nc = h->nconns; /* accepted ones are polled next round */
    for (size_t i = 0; i < nc; i++) {
      conn_t *c = h->conns[i];
      short ev = h->pfds[cbase + i].revents;
      bool ok = true;
      if (ev & (POLLIN | POLLOUT | POLLERR | POLLHUP)) {
        if (c->writing)
          ok = conn_progress(h, c, now);
        else
          ok = conn_read(h, c, now);
      } else if (c->deadline <= now) {
        ok = false; /* slow or idle client: closed without an answer */
      }
      if (!ok) conn_close(c);
    }
    /* drop closed connections */
    size_t k = 0;
    for (size_t i = 0; i < h->nconns; i++) {
      if (h->conns[i]->fd < 0)
        free(h->conns[i]);
      else
        h->conns[k++] = h->conns[i];
    }
    h->nconns = k;
    for (size_t i = 0; i < h->nl; i++)
      if (h->pfds[lbase + i].revents & POLLIN) accept_all(h, h->lfds[i], now);
  }
}
