/*
 * tricky_target.c - a scrape target for end-to-end tests: awkward but
 * valid /metrics bodies, and targets that misbehave on purpose.
 *
 * Two listeners on 127.0.0.1, both on ports the kernel picks; the first
 * line on stdout is "port=<http> raw_port=<raw>" (flushed), then the
 * program runs until SIGTERM or SIGINT.
 *
 * The HTTP listener (common/httpd.h, libmicrohttpd) serves well-formed
 * responses:
 *
 *   /text      text format 0.0.4: escapes in label values and HELP, an
 *              empty label value, UTF-8, whitespace and a trailing comma
 *              inside braces, duplicate series (same and conflicting
 *              values, labels in another order), NaN/+Inf/-Inf and odd
 *              floats, an explicit timestamp (the current second), a
 *              classic histogram and a summary, comment and blank lines
 *   /om        OpenMetrics 1.0.0 (Content-Type application/openmetrics-text):
 *              counter with _total and _created, exemplars (with and
 *              without timestamp), histogram and summary with _created,
 *              UNIT, info, stateset, float-second timestamps, # EOF
 *   /gzip      a text body of 2000 series sent gzip-compressed
 *              (Content-Encoding: gzip) whatever the request asked
 *   /gzip2     600 series in two gzip members, one after the other
 *   /gzip-bad  a gzip body cut in the middle of its deflate stream
 *   /garbage   HTTP 200 text/plain whose body is not the exposition format
 *   /redirect  302 to itself, for ever
 *   /missing   404
 *
 * Every value of the good bodies is constant from scrape to scrape, so two
 * scrapers that scrape them at different instants store the same values;
 * only the explicit timestamps move (one per second).
 *
 * The raw listener is a bare TCP server, one detached thread per
 * connection (at most RAW_MAX_CONNS at once; more are closed at once),
 * for misbehaviour libmicrohttpd would not allow.  It reads the request
 * head (bounded in size and time) and by the path:
 *
 *   /hang      sends nothing and waits until the client gives up (at most
 *              --hang-seconds, default 10)
 *   /huge      a valid text body of --huge-bytes (default 100 MB) with a
 *              matching Content-Length, streamed until done or the client
 *              closes
 *   /huge-nolen  the same without Content-Length (the end of the body is
 *              the end of the connection), so only reading tells its size
 *   /huge-500  the same with status 500: the status, not the size, is the
 *              error
 *   /close     promises Content-Length 100000, sends a few valid lines and
 *              closes the connection
 *   /junk      bytes that are not HTTP at all, then closes
 *
 * Nothing here is shared between connections but the listening sockets
 * and the connection counter, so there is no locking beyond that atomic.
 */
#include "httpd.h"
#include "mem.h"
#include "strbuf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define RAW_MAX_CONNS 64

static uint64_t huge_bytes = 100ull * 1000 * 1000;
static int hang_seconds = 10;
static atomic_int raw_conns;
static atomic_bool stopping;
static int raw_fd = -1;

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- well-formed bodies ----------------------------------------------------------- */

static void h_text(httpd_req_t *r, void *ud) {
  (void)ud;
  int64_t ts = now_ms() / 1000 * 1000; /* the current second */
  strbuf_t b = STRBUF_INIT;
  strbuf_puts(&b,
              "# A plain comment line, neither HELP nor TYPE.\n"
              "\n"
              "# HELP tricky_escapes_total Escapes: a backslash \\\\, a newline \\n, "
              "\"quotes\" as they are.\n"
              "# TYPE tricky_escapes_total counter\n"
              "tricky_escapes_total{path=\"C:\\\\dir\\\\file\",quote=\"say \\\"hi\\\"\","
              "nl=\"line1\\nline2\"} 3\n"
              "tricky_escapes_total{path=\"utf8 \xe2\x9c\x93 \xc3\xa4\xc3\xb6\",quote=\"\","
              "nl=\"x\"} 4\n"
              "# HELP tricky_special Special and odd float values.\n"
              "# TYPE tricky_special gauge\n"
              "tricky_special{v=\"nan\"} NaN\n"
              "tricky_special{v=\"pinf\"} +Inf\n"
              "tricky_special{v=\"ninf\"} -Inf\n"
              "tricky_special{v=\"small\"} -0.5e-3\n"
              "tricky_special{v=\"big\"} 1.7976931348623157e308\n"
              "tricky_special{v=\"int\"} 123456789012345678\n"
              "tricky_special{v=\"negzero\"} -0\n"
              "tricky_special{v=\"exp\"} 1E+2\n"
              "# TYPE tricky_dup gauge\n"
              "tricky_dup{a=\"1\",b=\"2\"} 10\n"
              "tricky_dup{a=\"1\",b=\"2\"} 10\n"
              "tricky_dup{b=\"2\",a=\"1\"} 10\n"
              "tricky_dup_conflict 1\n"
              "tricky_dup_conflict 2\n"
              "tricky_spaces { a = \"b\" , c=\"d\", } 5\n"
              "tricky_untyped{x=\"tab\\\\t\"}\t6\n");
  strbuf_printf(&b,
                "# HELP tricky_ts A sample with an explicit timestamp.\n"
                "# TYPE tricky_ts gauge\n"
                "tricky_ts{kind=\"explicit\"} 42 %lld\n"
                "tricky_ts{kind=\"none\"} 43\n",
                (long long)ts);
  strbuf_puts(&b,
              "# HELP tricky_hist A classic histogram.\n"
              "# TYPE tricky_hist histogram\n"
              "tricky_hist_bucket{le=\"0.1\"} 1\n"
              "tricky_hist_bucket{le=\"1\"} 3\n"
              "tricky_hist_bucket{le=\"10\"} 6\n"
              "tricky_hist_bucket{le=\"+Inf\"} 7\n"
              "tricky_hist_sum 25.5\n"
              "tricky_hist_count 7\n"
              "# HELP tricky_summary A summary.\n"
              "# TYPE tricky_summary summary\n"
              "tricky_summary{quantile=\"0.5\"} 0.2\n"
              "tricky_summary{quantile=\"0.9\"} 0.7\n"
              "tricky_summary{quantile=\"0.99\"} NaN\n"
              "tricky_summary_sum 12\n"
              "tricky_summary_count 20\n");
  httpd_respond_strbuf(r, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
}

static void h_om(httpd_req_t *r, void *ud) {
  (void)ud;
  int64_t ts = now_ms() / 1000 * 1000;
  strbuf_t b = STRBUF_INIT;
  strbuf_puts(&b,
              "# TYPE om_requests counter\n"
              "# HELP om_requests Requests with \"quotes\", a backslash \\\\ and a "
              "newline \\n.\n"
              "om_requests_total{code=\"200\"} 10 # {trace_id=\"abc123\"} 1.0 1700000000.123\n"
              "om_requests_created{code=\"200\"} 1.7e+09\n"
              "om_requests_total{code=\"500\"} 2 # {trace_id=\"x\\\"y\"} 2\n"
              "om_requests_created{code=\"500\"} 1.7e+09\n"
              "# TYPE om_latency_seconds histogram\n"
              "# UNIT om_latency_seconds seconds\n"
              "# HELP om_latency_seconds Latency.\n"
              "om_latency_seconds_bucket{le=\"0.1\"} 2 # {trace_id=\"t1\"} 0.05\n"
              "om_latency_seconds_bucket{le=\"1.0\"} 5\n"
              "om_latency_seconds_bucket{le=\"+Inf\"} 6\n"
              "om_latency_seconds_sum 3.5\n"
              "om_latency_seconds_count 6\n"
              "om_latency_seconds_created 1.7e+09\n"
              "# TYPE om_rpc summary\n"
              "om_rpc{quantile=\"0.5\"} 0.1\n"
              "om_rpc{quantile=\"0.99\"} 0.9\n"
              "om_rpc_sum 5\n"
              "om_rpc_count 10\n"
              "om_rpc_created 1.7e+09\n"
              "# TYPE om_build info\n"
              "om_build_info{version=\"1.2.3\",revision=\"abc\"} 1\n"
              "# TYPE om_state stateset\n"
              "om_state{om_state=\"a\"} 1\n"
              "om_state{om_state=\"b\"} 0\n"
              "# TYPE om_gauge gauge\n");
  strbuf_printf(&b, "om_gauge{x=\"ts\"} 7 %lld.%03lld\n", (long long)(ts / 1000),
                (long long)(ts % 1000));
  strbuf_puts(&b,
              "om_gauge{x=\"nan\"} NaN\n"
              "om_gauge{x=\"inf\"} -Inf\n"
              "# EOF\n");
  httpd_respond_strbuf(r, 200, "application/openmetrics-text; version=1.0.0; charset=utf-8", &b);
}

/* gzip-compresses in[0..n) into out; false on a zlib failure. */
static bool gzip_buf(const char *in, size_t n, strbuf_t *out) {
  z_stream z;
  memset(&z, 0, sizeof z);
  if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return false;
  uLong bound = deflateBound(&z, (uLong)n);
  strbuf_reserve(out, bound);
  z.next_in = (Bytef *)(uintptr_t)in;
  z.avail_in = (uInt)n;
  z.next_out = (Bytef *)out->data;
  z.avail_out = (uInt)bound;
  int rc = deflate(&z, Z_FINISH);
  out->len = z.total_out;
  deflateEnd(&z);
  return rc == Z_STREAM_END;
}

static void h_gzip(httpd_req_t *r, void *ud) {
  (void)ud;
  strbuf_t b = STRBUF_INIT, z = STRBUF_INIT;
  strbuf_puts(&b, "# HELP gz_series Series sent gzip-compressed.\n# TYPE gz_series gauge\n");
  for (int i = 0; i < 2000; i++)
    strbuf_printf(&b, "gz_series{i=\"%d\",group=\"g%d\"} %d.25\n", i, i % 7, i);
  if (!gzip_buf(b.data, b.len, &z)) {
    strbuf_free(&z);
    httpd_respond(r, 500, "text/plain", "gzip failed\n", 12);
  } else {
    httpd_add_header(r, "Content-Encoding", "gzip");
    httpd_respond_strbuf(r, 200, "text/plain; version=0.0.4", &z);
  }
  strbuf_free(&b);
}

/* Two gzip members back to back (as `cat a.gz b.gz`), each half of the
 * body: Go's reader, hence Prometheus, reads both. */
static void h_gzip2(httpd_req_t *r, void *ud) {
  (void)ud;
  strbuf_t a = STRBUF_INIT, b = STRBUF_INIT, za = STRBUF_INIT, zb = STRBUF_INIT;
  strbuf_puts(&a, "# HELP gz2_series Series sent in two gzip members.\n# TYPE gz2_series gauge\n");
  for (int i = 0; i < 300; i++) strbuf_printf(&a, "gz2_series{i=\"%d\"} %d.5\n", i, i);
  for (int i = 300; i < 600; i++) strbuf_printf(&b, "gz2_series{i=\"%d\"} %d.5\n", i, i);
  if (!gzip_buf(a.data, a.len, &za) || !gzip_buf(b.data, b.len, &zb)) {
    httpd_respond(r, 500, "text/plain", "gzip failed\n", 12);
  } else {
    strbuf_append(&za, zb.data, zb.len);
    httpd_add_header(r, "Content-Encoding", "gzip");
    httpd_respond_strbuf(r, 200, "text/plain; version=0.0.4", &za);
  }
  strbuf_free(&a);
  strbuf_free(&b);
  strbuf_free(&za);
  strbuf_free(&zb);
}

/* Content-Encoding: gzip over a body whose deflate stream is cut short. */
static void h_gzip_bad(httpd_req_t *r, void *ud) {
  (void)ud;
  strbuf_t b = STRBUF_INIT, z = STRBUF_INIT;
  for (int i = 0; i < 500; i++) strbuf_printf(&b, "gzbad_series{i=\"%d\"} %d\n", i, i);
  if (!gzip_buf(b.data, b.len, &z)) {
    httpd_respond(r, 500, "text/plain", "gzip failed\n", 12);
  } else {
    z.len /= 2;
    httpd_add_header(r, "Content-Encoding", "gzip");
    httpd_respond_strbuf(r, 200, "text/plain; version=0.0.4", &z);
  }
  strbuf_free(&b);
}

static void h_garbage(httpd_req_t *r, void *ud) {
  (void)ud;
  static const char body[] = "metric_ok 1\n"
                             "this is { not the exposition format\n"
                             "\x01\x02\xff\xfe\n";
  httpd_respond(r, 200, "text/plain; version=0.0.4", body, sizeof body - 1);
}

static void h_redirect(httpd_req_t *r, void *ud) {
  (void)ud;
  httpd_add_header(r, "Location", "/redirect");
  httpd_respond(r, 302, "text/plain", "again\n", 6);
}

static void h_missing(httpd_req_t *r, void *ud) {
  (void)ud;
  httpd_respond(r, 404, "text/plain", "no metrics here\n", 16);
}

/* ---- the raw listener ------------------------------------------------------------- */

static bool send_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n > 0) {
    ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    c += w;
    n -= (size_t)w;
  }
  return true;
}

/* Reads until the end of the request head (or 8 KiB, or the 2 s receive
 * timeout) and copies the request path into path. */
static bool read_request(int fd, char *path, size_t pathlen) {
  char buf[8192];
  size_t n = 0;
  while (n < sizeof buf - 1) {
    ssize_t r = recv(fd, buf + n, sizeof buf - 1 - n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    n += (size_t)r;
    buf[n] = '\0';
    if (strstr(buf, "\r\n\r\n") != NULL) break;
  }
  buf[n] = '\0';
  const char *sp = strchr(buf, ' ');
  if (sp == NULL) return false;
  sp++;
  size_t l = strcspn(sp, " ?\r\n");
  if (l >= pathlen) l = pathlen - 1;
  memcpy(path, sp, l);
  path[l] = '\0';
  return true;
}

/* Waits until the peer closes (or sends anything), at most seconds. */
static void wait_peer(int fd, int seconds) {
  for (int i = 0; i < seconds * 10 && !atomic_load(&stopping); i++) {
    struct pollfd p = {fd, POLLIN, 0};
    int rc = poll(&p, 1, 100);
    if (rc != 0) return;
  }
}

static void raw_huge(int fd, const char *status, bool with_length) {
  char head[256];
  int hl = with_length
               ? snprintf(head, sizeof head,
                          "HTTP/1.1 %s\r\nContent-Type: text/plain; version=0.0.4\r\n"
                          "Content-Length: %llu\r\nConnection: close\r\n\r\n",
                          status, (unsigned long long)huge_bytes)
               : snprintf(head, sizeof head,
                          "HTTP/1.1 %s\r\nContent-Type: text/plain; version=0.0.4\r\n"
                          "Connection: close\r\n\r\n",
                          status);
  if (!send_all(fd, head, (size_t)hl)) return;
  /* 64 KiB of 64-byte lines, sent again and again; the last chunk is cut
   * to length (the body only has to be valid as far as anyone reads it). */
  static char chunk[65536];
  for (size_t i = 0; i < sizeof chunk / 64; i++) {
    char line[65];
    snprintf(line, sizeof line, "huge_series{i=\"%08zu\",pad=\"xxxxxxxxxxxxxxxxxxxx\"} 1\n", i);
    memcpy(chunk + i * 64, line, 64);
  }
  uint64_t left = huge_bytes;
  while (left > 0 && !atomic_load(&stopping)) {
    size_t n = left < sizeof chunk ? (size_t)left : sizeof chunk;
    if (!send_all(fd, chunk, n)) return;
    left -= n;
  }
}

static void raw_close_mid_body(int fd) {
  static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
                             "Content-Length: 100000\r\nConnection: close\r\n\r\n"
                             "# TYPE cut_series gauge\n"
                             "cut_series{i=\"1\"} 1\n"
                             "cut_series{i=\"2\"} 2\n"
                             "cut_ser";
  send_all(fd, resp, sizeof resp - 1);
}

static void raw_junk(int fd) {
  static const char junk[] = "\x16\x03\x01\x02\x00garbage that is not HTTP\r\n\r\n\xff\xfe";
  send_all(fd, junk, sizeof junk - 1);
}

static void *raw_conn(void *arg) {
  int fd = (int)(intptr_t)arg;
  struct timeval tv = {2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char path[256];
  if (read_request(fd, path, sizeof path)) {
    if (strcmp(path, "/hang") == 0) {
      wait_peer(fd, hang_seconds);
    } else if (strcmp(path, "/huge") == 0) {
      raw_huge(fd, "200 OK", true);
    } else if (strcmp(path, "/huge-nolen") == 0) {
      raw_huge(fd, "200 OK", false);
    } else if (strcmp(path, "/huge-500") == 0) {
      raw_huge(fd, "500 Internal Server Error", true);
    } else if (strcmp(path, "/close") == 0) {
      raw_close_mid_body(fd);
    } else if (strcmp(path, "/junk") == 0) {
      raw_junk(fd);
    } else {
      static const char nf[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
                               "Connection: close\r\n\r\n";
      send_all(fd, nf, sizeof nf - 1);
    }
  }
  close(fd);
  atomic_fetch_sub(&raw_conns, 1);
  return NULL;
}

static void *raw_accept_loop(void *arg) {
  (void)arg;
  while (!atomic_load(&stopping)) {
    struct pollfd p = {raw_fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    int fd = accept(raw_fd, NULL, NULL);
    if (fd < 0) continue;
    if (atomic_fetch_add(&raw_conns, 1) >= RAW_MAX_CONNS) {
      atomic_fetch_sub(&raw_conns, 1);
      close(fd);
      continue;
    }
    pthread_t th;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &a, raw_conn, (void *)(intptr_t)fd) != 0) {
      atomic_fetch_sub(&raw_conns, 1);
      close(fd);
    }
    pthread_attr_destroy(&a);
  }
  return NULL;
}

static int raw_listen(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t sl = sizeof sa;
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 128) != 0 ||
      getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
    close(fd);
    return -1;
  }
  raw_fd = fd;
  return ntohs(sa.sin_port);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (strncmp(argv[i], "--huge-bytes=", 13) == 0) {
      huge_bytes = strtoull(argv[i] + 13, NULL, 10);
    } else if (strncmp(argv[i], "--hang-seconds=", 15) == 0) {
      hang_seconds = atoi(argv[i] + 15);
    } else {
      fprintf(stderr, "usage: %s [--huge-bytes=N] [--hang-seconds=S]\n", argv[0]);
      return 2;
    }
  }
  /* Signals are taken by sigwait below, not by any thread. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);

  httpd_options_t o = {.max_body_bytes = 0, .threads = 4};
  httpd_t *h = httpd_new(&o);
  httpd_route(h, "GET", "/text", h_text, NULL);
  httpd_route(h, "GET", "/om", h_om, NULL);
  httpd_route(h, "GET", "/gzip", h_gzip, NULL);
  httpd_route(h, "GET", "/gzip2", h_gzip2, NULL);
  httpd_route(h, "GET", "/gzip-bad", h_gzip_bad, NULL);
  httpd_route(h, "GET", "/garbage", h_garbage, NULL);
  httpd_route(h, "GET", "/redirect", h_redirect, NULL);
  httpd_route(h, "GET", "/missing", h_missing, NULL);
  char err[256];
  if (httpd_start(h, "127.0.0.1:0", err, sizeof err) != 0) {
    fprintf(stderr, "tricky_target: %s\n", err);
    httpd_free(h);
    return 1;
  }
  int rport = raw_listen();
  if (rport < 0) {
    fprintf(stderr, "tricky_target: raw listener: %s\n", strerror(errno));
    httpd_free(h);
    return 1;
  }
  pthread_t acc;
  if (pthread_create(&acc, NULL, raw_accept_loop, NULL) != 0) {
    fprintf(stderr, "tricky_target: cannot start a thread\n");
    close(raw_fd);
    httpd_free(h);
    return 1;
  }
  printf("port=%d raw_port=%d\n", httpd_port(h), rport);
  fflush(stdout);

  int sig = 0;
  sigwait(&set, &sig);
  atomic_store(&stopping, true);
  pthread_join(acc, NULL);
  close(raw_fd);
  httpd_free(h);
  /* Connection threads see `stopping` within 100 ms; give them that. */
  for (int i = 0; i < 20 && atomic_load(&raw_conns) > 0; i++) usleep(50 * 1000);
  return 0;
}
