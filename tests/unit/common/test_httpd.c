/*
 * test_httpd.c - the HTTP wrapper against a real client (libcurl) on
 * 127.0.0.1 with a port the kernel picks: routing (exact, prefix, 404,
 * 405), query-string and form parameters (repeated names, '+' and %XX),
 * raw bodies, the body size limit (413), gzip when accepted, extra
 * headers, and "address already in use".
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "httpd.h"
#include "ph_error.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static void handle_echo(httpd_req_t *r, void *ud) {
  (void)ud;
  strbuf_t b = STRBUF_INIT;
  strbuf_printf(&b, "%s %s", httpd_req_method(r), httpd_req_path(r));
  const char *const *vals;
  size_t n = httpd_req_params(r, "match[]", &vals);
  for (size_t i = 0; i < n; i++) strbuf_printf(&b, " m=%s", vals[i]);
  const char *q = httpd_req_param(r, "q");
  if (q) strbuf_printf(&b, " q=%s", q);
  size_t len;
  const char *body = httpd_req_body(r, &len);
  if (len) strbuf_printf(&b, " body=%.*s", (int)len, body);
  httpd_add_header(r, "X-Test", "yes");
  httpd_respond_strbuf(r, 200, "text/plain", &b);
}

static void handle_big(httpd_req_t *r, void *ud) {
  (void)ud;
  strbuf_t b = STRBUF_INIT;
  for (int i = 0; i < 2000; i++) strbuf_puts(&b, "repetitive text ");
  httpd_respond_strbuf(r, 200, "text/plain", &b);
}

typedef struct resp {
  long code;
  strbuf_t body;
  strbuf_t headers;
} resp_t;

static size_t on_data(char *p, size_t sz, size_t n, void *ud) {
  strbuf_append(ud, p, sz * n);
  return sz * n;
}

static void request(int port, const char *path, const char *post, const char *ctype,
                    const char *accept_enc, resp_t *out) {
  strbuf_init(&out->body);
  strbuf_init(&out->headers);
  char url[512];
  snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
  CURL *c = curl_easy_init();
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &out->body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &out->headers);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
  struct curl_slist *h = NULL;
  if (ctype) h = curl_slist_append(h, ctype);
  if (accept_enc) h = curl_slist_append(h, accept_enc);
  if (h) curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  if (post) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, post);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(post));
  }
  assert_int_equal(curl_easy_perform(c), CURLE_OK);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->code);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
}

static void resp_free(resp_t *r) {
  strbuf_free(&r->body);
  strbuf_free(&r->headers);
}

static void test_server(void **state) {
  (void)state;
  httpd_options_t o = {.max_body_bytes = 1000, .threads = 2};
  httpd_t *h = httpd_new(&o);
  httpd_route(h, "GET", "/echo", handle_echo, NULL);
  httpd_route(h, "POST", "/echo", handle_echo, NULL);
  httpd_route(h, NULL, "/prefix/*", handle_echo, NULL);
  httpd_route(h, "GET", "/big", handle_big, NULL);
  char err[256];
  assert_int_equal(httpd_start(h, "127.0.0.1:0", err, sizeof err), 0);
  int port = httpd_port(h);
  assert_true(port > 0);
  resp_t r;

  request(port, "/echo?match[]=a&match[]=b%7Bc%7D&q=x+y", NULL, NULL, NULL, &r);
  assert_int_equal(r.code, 200);
  assert_string_equal(strbuf_cstr(&r.body), "GET /echo m=a m=b{c} q=x y");
  assert_non_null(strstr(strbuf_cstr(&r.headers), "X-Test: yes"));
  resp_free(&r);

  request(port, "/echo", "q=1%2B1&match%5B%5D=up", "Content-Type: application/x-www-form-urlencoded",
          NULL, &r);
  assert_string_equal(strbuf_cstr(&r.body), "POST /echo m=up q=1+1");
  resp_free(&r);

  request(port, "/echo", "raw\x01" "data", "Content-Type: application/octet-stream", NULL, &r);
  assert_string_equal(strbuf_cstr(&r.body), "POST /echo body=raw\x01" "data");
  resp_free(&r);

  request(port, "/prefix/a/b", NULL, NULL, NULL, &r);
  assert_string_equal(strbuf_cstr(&r.body), "GET /prefix/a/b");
  resp_free(&r);

  request(port, "/nothing", NULL, NULL, NULL, &r);
  assert_int_equal(r.code, 404);
  resp_free(&r);

  request(port, "/big", "x=1", "Content-Type: application/x-www-form-urlencoded", NULL, &r);
  assert_int_equal(r.code, 405);
  resp_free(&r);

  char *large = malloc(2001);
  memset(large, 'a', 2000);
  large[2000] = '\0';
  request(port, "/echo", large, "Content-Type: text/plain", NULL, &r);
  assert_int_equal(r.code, 413);
  resp_free(&r);
  free(large);

  /* gzip when accepted, decoded back to the same text */
  request(port, "/big", NULL, NULL, "Accept-Encoding: gzip", &r);
  assert_int_equal(r.code, 200);
  assert_non_null(strstr(strbuf_cstr(&r.headers), "Content-Encoding: gzip"));
  assert_true(r.body.len < 32000);
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
  char *plain = malloc(40000);
  zs.next_in = (Bytef *)r.body.data;
  zs.avail_in = (uInt)r.body.len;
  zs.next_out = (Bytef *)plain;
  zs.avail_out = 40000;
  assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
  assert_int_equal(40000 - zs.avail_out, 32000);
  inflateEnd(&zs);
  free(plain);
  resp_free(&r);
  request(port, "/big", NULL, NULL, NULL, &r); /* not accepted: plain */
  assert_int_equal(r.body.len, 32000);
  resp_free(&r);

  /* the same port again: address in use */
  httpd_t *h2 = httpd_new(NULL);
  char addr[64];
  snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
  assert_int_equal(httpd_start(h2, addr, err, sizeof err), PH_EADDRINUSE);
  assert_non_null(strstr(err, "address already in use"));
  httpd_free(h2);
  httpd_t *h3 = httpd_new(NULL);
  assert_int_equal(httpd_start(h3, "127.0.0.1:notaport", err, sizeof err), PH_EINVAL);
  assert_int_equal(httpd_start(h3, "noport", err, sizeof err), PH_EINVAL);
  httpd_free(h3);
  httpd_free(h);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_server)};
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return rc;
}
