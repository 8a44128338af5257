/*
 * test_http_server.c - pharos-exporter's own HTTP/1.1 server (exporters/http.c)
 * over real loopback sockets.  The server runs in a thread with short
 * limits (200 ms header timeout, 400 ms idle timeout, 1 KiB head, 2
 * connections) and a pipe as its stop descriptor; a small handler serves
 * /metrics (a 3 KB body), /params (the collect[] values) and 404.
 *
 * Covered: GET with Content-Length; HEAD (headers, no body); 404; 405 with
 * Allow; malformed request lines and headers (400 and close); an oversized
 * head (431); HTTP/2.0 (505); a slowloris client sending a byte at a time
 * is cut off by the header timeout; an idle keep-alive connection closed
 * after the idle timeout; two requests on one connection, and two
 * pipelined in one write; HTTP/1.0 closes unless keep-alive is asked for;
 * gzip (inflated with zlib to the same body) only when Accept-Encoding
 * allows it (q=0 refuses); query decoding (%5B%5D, '+'); a request with a
 * body answered and closed; connections beyond max_conns wait for a slot;
 * bad listen addresses and a port in use.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "exporter_http.h"
#include "ph_error.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

typedef struct server {
  exporter_http_t *h;
  int port;
  int stop[2];
  pthread_t thread;
  int run_rc;
  int calls;
} server_t;

static char g_big[3000];

static int handler(exporter_http_req_t *r, void *ud, strbuf_t *body,
                   const char **ctype) {
  server_t *s = ud;
  s->calls++;
  const char *path = exporter_http_req_path(r);
  if (strcmp(path, "/metrics") == 0) {
    *ctype = "text/plain; version=0.0.4; charset=utf-8";
    strbuf_append(body, g_big, sizeof(g_big));
    return 200;
  }
  if (strcmp(path, "/params") == 0) {
    const char *const *v;
    size_t n = exporter_http_req_params(r, "collect[]", &v);
    for (size_t i = 0; i < n; i++) strbuf_printf(body, "%s%s", i ? "," : "", v[i]);
    const char *ua = exporter_http_req_header(r, "user-AGENT");
    strbuf_printf(body, "|%s|%s", ua ? ua : "-", exporter_http_req_method(r));
    return 200;
  }
  if (strcmp(path, "/a b") == 0) {
    strbuf_puts(body, "decoded");
    return 200;
  }
  strbuf_puts(body, "404 page not found\n");
  return 404;
}

static void *run_thread(void *arg) {
  server_t *s = arg;
  s->run_rc = exporter_http_run(s->h, s->stop[0]);
  return NULL;
}

static int setup(void **state) {
  for (size_t i = 0; i < sizeof(g_big); i++) g_big[i] = "metric_line 1\n"[i % 14];
  server_t *s = calloc(1, sizeof(*s));
  exporter_http_limits_t lim = {.max_header_bytes = 1024,
                                .max_conns = 2,
                                .header_timeout_ms = 200,
                                .idle_timeout_ms = 400,
                                .write_timeout_ms = 1000};
  s->h = exporter_http_new(handler, s, &lim);
  char err[256];
  s->port = exporter_http_listen(s->h, "127.0.0.1:0", err, sizeof(err));
  assert_true(s->port > 0);
  assert_int_equal(pipe(s->stop), 0);
  assert_int_equal(pthread_create(&s->thread, NULL, run_thread, s), 0);
  *state = s;
  return 0;
}

static int teardown(void **state) {
  server_t *s = *state;
  assert_int_equal(write(s->stop[1], "x", 1), 1);
  pthread_join(s->thread, NULL);
  assert_int_equal(s->run_rc, 0);
  exporter_http_free(s->h);
  close(s->stop[0]);
  close(s->stop[1]);
  free(s);
  return 0;
}

static int connect_to(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  return fd;
}

static void send_all(int fd, const char *s, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
    assert_true(w > 0);
    s += w;
    n -= (size_t)w;
  }
}

/* Reads until the peer closes or timeout_ms of silence; returns bytes
 * read into buf (NUL-terminated), *closed whether the peer closed. */
static size_t recv_some(int fd, char *buf, size_t cap, int timeout_ms,
                        bool *closed) {
  size_t n = 0;
  *closed = false;
  for (;;) {
    struct pollfd p = {fd, POLLIN, 0};
    int rc = poll(&p, 1, timeout_ms);
    if (rc <= 0) break;
    ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);
    if (r <= 0) {
      *closed = true;
      break;
    }
    n += (size_t)r;
    if (n == cap - 1) break;
  }
  buf[n] = '\0';
  return n;
}

/* Reads exactly one response (head + Content-Length body) from fd. */
typedef struct resp {
  int status;
  char head[2048];
  char *body;
  size_t body_len;
} resp_t;

static bool read_response(int fd, resp_t *r, bool head_request) {
  static char buf[65536];
  size_t n = 0;
  char *end = NULL;
  while ((end = strstr(buf, "\r\n\r\n")) == NULL || n == 0) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 2000) <= 0) return false;
    ssize_t k = recv(fd, buf + n, 1, 0); /* byte by byte: leave the next one */
    if (k <= 0) return false;
    n += (size_t)k;
    buf[n] = '\0';
  }
  size_t hl = (size_t)(end - buf) + 4;
  assert_true(hl < sizeof(r->head));
  memcpy(r->head, buf, hl);
  r->head[hl] = '\0';
  buf[0] = '\0';
  r->status = atoi(r->head + 9);
  const char *cl = strcasestr(r->head, "\r\nContent-Length: ");
  r->body_len = cl ? (size_t)strtoul(cl + 18, NULL, 10) : 0;
  r->body = calloc(1, r->body_len + 1);
  if (head_request) return true;
  size_t got = 0;
  while (got < r->body_len) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 2000) <= 0) return false;
    ssize_t k = recv(fd, r->body + got, r->body_len - got, 0);
    if (k <= 0) return false;
    got += (size_t)k;
  }
  return true;
}

static void resp_free(resp_t *r) { free(r->body); }

static bool peer_closed(int fd, int timeout_ms) {
  char b[256];
  bool closed;
  recv_some(fd, b, sizeof(b), timeout_ms, &closed);
  return closed;
}

static void test_get_head_404_405(void **state) {
  server_t *s = *state;
  int fd = connect_to(s->port);
  const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  send_all(fd, req, strlen(req));
  resp_t r;
  assert_true(read_response(fd, &r, false));
  assert_int_equal(r.status, 200);
  assert_non_null(strstr(r.head, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
  assert_int_equal(r.body_len, sizeof(g_big));
  assert_memory_equal(r.body, g_big, sizeof(g_big));
  assert_null(strcasestr(r.head, "Content-Encoding"));
  assert_null(strcasestr(r.head, "Connection: close"));
  resp_free(&r);
  /* HEAD on the same connection: length, no body */
  req = "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  send_all(fd, req, strlen(req));
  assert_true(read_response(fd, &r, true));
  assert_int_equal(r.status, 200);
  assert_int_equal(r.body_len, sizeof(g_big));
  resp_free(&r);
  req = "GET /nothing HTTP/1.1\r\n\r\n";
  send_all(fd, req, strlen(req));
  assert_true(read_response(fd, &r, false)); /* no body bytes left over */
  assert_int_equal(r.status, 404);
  assert_string_equal(r.body, "404 page not found\n");
  resp_free(&r);
  req = "DELETE /metrics HTTP/1.1\r\n\r\n";
  send_all(fd, req, strlen(req));
  assert_true(read_response(fd, &r, false));
  assert_int_equal(r.status, 405);
  assert_non_null(strstr(r.head, "Allow: GET, HEAD\r\n"));
  resp_free(&r);
  close(fd);
}

static void expect_status_and_close(server_t *s, const char *req, size_t n,
                                    int status) {
  int fd = connect_to(s->port);
  send_all(fd, req, n);
  resp_t r;
  assert_true(read_response(fd, &r, false));
  assert_int_equal(r.status, status);
  assert_non_null(strstr(r.head, "Connection: close\r\n"));
  resp_free(&r);
  assert_true(peer_closed(fd, 1000));
  close(fd);
}

static void test_malformed(void **state) {
  server_t *s = *state;
  static const char *const bad[] = {
      "GET\r\n\r\n",
      "GET /metrics\r\n\r\n",
      "GET  /metrics HTTP/1.1\r\n\r\n",
      "GET /metrics HTTP/1.1 extra\r\n\r\n",
      "GET metrics HTTP/1.1\r\n\r\n",
      "GE(T /metrics HTTP/1.1\r\n\r\n",
      "GET /metrics FTP/1.1\r\n\r\n",
      "GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n",
      "GET /metrics HTTP/1.1\r\nA: b\r\n folded\r\n\r\n",
      "GET /metrics HTTP/1.1\r\nBad Name: b\r\n\r\n",
      "GET /metrics HTTP/1.1\r\nContent-Length: x1\r\n\r\n",
      "GET /%zz HTTP/1.1\r\n\r\n",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    expect_status_and_close(s, bad[i], strlen(bad[i]), 400);
  /* a NUL byte inside the head */
  static const char nul[] = "GET /metrics HTTP/1.1\r\nA: x\0y\r\n\r\n";
  expect_status_and_close(s, nul, sizeof(nul) - 1, 400);
  const char *v2 = "GET /metrics HTTP/2.0\r\n\r\n";
  expect_status_and_close(s, v2, strlen(v2), 505);
}

static void test_oversized_head(void **state) {
  server_t *s = *state;
  char req[4096];
  int n = snprintf(req, sizeof(req), "GET /metrics HTTP/1.1\r\nX-Big: ");
  memset(req + n, 'a', 2000);
  memcpy(req + n + 2000, "\r\n\r\n", 4);
  int fd = connect_to(s->port);
  send(fd, req, (size_t)n + 2004, MSG_NOSIGNAL); /* may be cut short */
  resp_t r;
  assert_true(read_response(fd, &r, false));
  assert_int_equal(r.status, 431);
  resp_free(&r);
  assert_true(peer_closed(fd, 1000));
  close(fd);
}

static void test_slowloris(void **state) {
  server_t *s = *state;
  int fd = connect_to(s->port);
  const char *req = "GET /metrics HTTP/1.1\r\nHost: slow\r\n";
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  bool closed = false;
  /* a byte every 50 ms: the 200 ms header timeout counts from the first */
  for (size_t i = 0; req[i] && !closed; i++) {
    if (send(fd, req + i, 1, MSG_NOSIGNAL) != 1) break;
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 50) > 0) {
      char b[64];
      closed = recv(fd, b, sizeof(b), 0) <= 0;
    }
  }
  if (!closed) closed = peer_closed(fd, 1000);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  assert_true(closed);
  double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
  assert_true(ms >= 150 && ms < 1200);
  close(fd);
  assert_int_equal(s->calls, 0);
}

static void test_idle_timeout(void **state) {
  server_t *s = *state;
  int fd = connect_to(s->port);
  const char *req = "GET /metrics HTTP/1.1\r\n\r\n";
  send_all(fd, req, strlen(req));
  resp_t r;
  assert_true(read_response(fd, &r, false));
  resp_free(&r);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  assert_true(peer_closed(fd, 2000));
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
  assert_true(ms >= 300);
  close(fd);
}

static void test_keepalive_pipelined(void **state) {
  server_t *s = *state;
  int fd = connect_to(s->port);
  const char *two = "GET /params?collect[]=a HTTP/1.1\r\n\r\n"
                    "\r\nGET /params?collect%5B%5D=b+c&collect[]=d%2Fe&x=1 HTTP/1.1\r\n"
                    "User-Agent: t/1\r\n\r\n";
  send_all(fd, two, strlen(two));
  resp_t r;
  assert_true(read_response(fd, &r, false));
  assert_int_equal(r.status, 200);
  assert_string_equal(r.body, "a|-|GET");
  resp_free(&r);
  assert_true(read_response(fd, &r, false));
  assert_string_equal(r.body, "b c,d/e|t/1|GET");
  resp_free(&r);
  /* and a third one later on the same connection */
  const char *req = "GET /a%20b HTTP/1.1\r\n\r\n";
  send_all(fd, req, strlen(req));
  assert_true(read_response(fd, &r, false));
  assert_string_equal(r.body, "decoded");
  resp_free(&r);
  /* Connection: close is honoured */
  req = "GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n";
  send_all(fd, req, strlen(req));
  assert_true(read_response(fd, &r, false));
  assert_non_null(strstr(r.head, "Connection: close\r\n"));
  resp_free(&r);
  assert_true(peer_closed(fd, 1000));
  close(fd);
}

static void test_http10(void **state) {
  server_t *s = *state;
  const char *req = "GET /metrics HTTP/1.0\r\n\r\n";
  expect_status_and_close(s, req, strlen(req), 200);
  int fd = connect_to(s->port);
  req = "GET /metrics HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
  send_all(fd, req, strlen(req));
  resp_t r;
  assert_true(read_response(fd, &r, false));
  assert_non_null(strstr(r.head, "HTTP/1.0 200 OK\r\n"));
  assert_non_null(strstr(r.head, "Connection: keep-alive\r\n"));
  resp_free(&r);
  send_all(fd, req, strlen(req));
  assert_true(read_response(fd, &r, false));
  assert_int_equal(r.status, 200);
  resp_free(&r);
  close(fd);
}

static void test_gzip(void **state) {
  server_t *s = *state;
  for (int round = 0; round < 2; round++) { /* the stream is reused */
    int fd = connect_to(s->port);
    const char *req = "GET /metrics HTTP/1.1\r\nAccept-Encoding: br;q=1.0, GZIP;q=0.5\r\n\r\n";
    send_all(fd, req, strlen(req));
    resp_t r;
    assert_true(read_response(fd, &r, false));
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.head, "Content-Encoding: gzip\r\n"));
    assert_true(r.body_len < sizeof(g_big));
    char out[sizeof(g_big) + 16];
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
    zs.next_in = (Bytef *)r.body;
    zs.avail_in = (uInt)r.body_len;
    zs.next_out = (Bytef *)out;
    zs.avail_out = sizeof(out);
    assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
    assert_int_equal(sizeof(out) - zs.avail_out, sizeof(g_big));
    assert_memory_equal(out, g_big, sizeof(g_big));
    inflateEnd(&zs);
    resp_free(&r);
    /* q=0 refuses gzip; a 404 is never compressed */
    req = "GET /metrics HTTP/1.1\r\nAccept-Encoding: gzip;q=0, identity\r\n\r\n";
    send_all(fd, req, strlen(req));
    assert_true(read_response(fd, &r, false));
    assert_null(strcasestr(r.head, "Content-Encoding"));
    assert_int_equal(r.body_len, sizeof(g_big));
    resp_free(&r);
    req = "GET /x HTTP/1.1\r\nAccept-Encoding: gzip\r\n\r\n";
    send_all(fd, req, strlen(req));
    assert_true(read_response(fd, &r, false));
    assert_int_equal(r.status, 404);
    assert_null(strcasestr(r.head, "Content-Encoding"));
    resp_free(&r);
    close(fd);
  }
}

static void test_body_closes(void **state) {
  server_t *s = *state;
  const char *req = "GET /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
  expect_status_and_close(s, req, strlen(req), 200);
  req = "POST /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
  expect_status_and_close(s, req, strlen(req), 405);
}

static void test_max_conns(void **state) {
  server_t *s = *state;
  int a = connect_to(s->port), b = connect_to(s->port);
  struct timespec ts = {0, 50 * 1000 * 1000};
  nanosleep(&ts, NULL); /* both accepted: the server is full */
  int c = connect_to(s->port); /* in the backlog */
  const char *req = "GET /params?collect[]=c HTTP/1.1\r\n\r\n";
  send_all(c, req, strlen(req));
  char buf[256];
  bool closed;
  assert_int_equal(recv_some(c, buf, sizeof(buf), 100, &closed), 0);
  close(a); /* a slot frees up: c is served */
  resp_t r;
  assert_true(read_response(c, &r, false));
  assert_string_equal(r.body, "c|-|GET");
  resp_free(&r);
  close(b);
  close(c);
}

static void test_listen_errors(void **state) {
  server_t *s = *state;
  exporter_http_t *h = exporter_http_new(handler, NULL, NULL);
  char err[256], addr[64];
  assert_int_equal(exporter_http_listen(h, "127.0.0.1", err, sizeof(err)), PH_EINVAL);
  assert_int_equal(exporter_http_listen(h, "127.0.0.1:99999", err, sizeof(err)), PH_EINVAL);
  assert_int_equal(exporter_http_listen(h, "no.such.host.invalid:0", err, sizeof(err)),
                   PH_EINVAL);
  snprintf(addr, sizeof(addr), "127.0.0.1:%d", s->port);
  assert_int_equal(exporter_http_listen(h, addr, err, sizeof(err)), PH_EADDRINUSE);
  assert_non_null(strstr(err, "address already in use"));
  assert_true(exporter_http_listen(h, "localhost:0", err, sizeof(err)) > 0);
  (void)exporter_http_listen(h, "[::1]:0", err, sizeof(err)); /* IPv6 may be off */
  exporter_http_free(h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_get_head_404_405, setup, teardown),
      cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_oversized_head, setup, teardown),
      cmocka_unit_test_setup_teardown(test_slowloris, setup, teardown),
      cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
      cmocka_unit_test_setup_teardown(test_keepalive_pipelined, setup, teardown),
      cmocka_unit_test_setup_teardown(test_http10, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gzip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_body_closes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_max_conns, setup, teardown),
      cmocka_unit_test_setup_teardown(test_listen_errors, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
