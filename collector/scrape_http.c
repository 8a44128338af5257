/*
 * scrape_http.c - scrape transfers: libcurl's multi-socket interface
 * driven by the manager's libuv loop.
 *
 * The glue (the same contract as libcurl's multi-uv example, written
 * afresh): curl tells us through CURLMOPT_SOCKETFUNCTION which sockets to
 * watch for what; each gets a sock_ctx_t with a uv_poll_t, attached to the
 * socket with curl_multi_assign and closed (freed in its close callback)
 * when curl says CURL_POLL_REMOVE.  CURLMOPT_TIMERFUNCTION (re)arms one
 * uv_timer_t.  Poll events and the timer call curl_multi_socket_action();
 * then finished transfers are collected with curl_multi_info_read and
 * handed to scrape__process.
 *
 * Each target owns one easy handle, reused from scrape to scrape (curl
 * keeps connections in the multi handle's cache).  Options are set again
 * at the start of each scrape, so a reload that changes auth or TLS takes
 * effect at the next scrape and password/credentials files are read again
 * every time, as Prometheus does.  The body is collected in the target's
 * buffer; the write callback aborts the transfer when body_size_limit
 * would be reached (at the first bytes already when an uncompressed body's
 * Content-Length is over it), and at once when the status is not 200 (that
 * body is never used).
 *
 * Compression as Prometheus: the request says "Accept-Encoding: gzip" (or
 * "identity" when enable_compression is false) and a response whose
 * Content-Encoding is exactly "gzip" is inflated, any other is taken as it
 * is.  curl does not decode: the compressed body is collected whole and
 * inflated in one call of libdeflate, which is about twice as fast as
 * zlib's streaming inflate curl would use (gzip was an eighth of the
 * scrape loop's CPU), into a buffer sized from the gzip trailer; the limit
 * applies to the inflated size.
 */
#include "scrape_int.h"

#include "log.h"
#include "mem.h"
#include "ph_error.h"
#include "pharos_version.h"

#include <libdeflate.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sock_ctx {
  uv_poll_t poll;
  curl_socket_t fd;
  scrape_manager_t *m;
  struct sock_ctx *prev, *next; /* m->socks */
} sock_ctx_t;

static void sock_unlink(sock_ctx_t *c) {
  if (c->prev) c->prev->next = c->next;
  else c->m->socks = c->next;
  if (c->next) c->next->prev = c->prev;
  c->prev = c->next = NULL;
}

static void on_sock_closed(uv_handle_t *h);

static void sock_close(sock_ctx_t *c) {
  uv_poll_stop(&c->poll);
  sock_unlink(c);
  uv_close((uv_handle_t *)&c->poll, on_sock_closed);
}

static void check_done(scrape_manager_t *m);

static void on_sock_closed(uv_handle_t *h) { free(h->data); }

static void on_poll(uv_poll_t *h, int status, int events) {
  sock_ctx_t *c = h->data;
  scrape_manager_t *m = c->m;
  int flags = 0;
  if (status < 0) flags = CURL_CSELECT_ERR;
  if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  int running;
  curl_multi_socket_action(m->multi, c->fd, flags, &running);
  check_done(m);
}

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp) {
  (void)easy;
  scrape_manager_t *m = userp;
  sock_ctx_t *c = socketp;
  if (what == CURL_POLL_REMOVE) {
    if (c != NULL) {
      curl_multi_assign(m->multi, s, NULL);
      sock_close(c);
    }
    return 0;
  }
  if (c == NULL) {
    c = ph_calloc(1, sizeof *c);
    c->fd = s;
    c->m = m;
    if (uv_poll_init_socket(&m->loop, &c->poll, s) != 0) {
      free(c);
      return -1;
    }
    c->poll.data = c;
    c->next = m->socks;
    if (m->socks) m->socks->prev = c;
    m->socks = c;
    curl_multi_assign(m->multi, s, c);
  }
  int ev = 0;
  if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) ev |= UV_READABLE;
  if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) ev |= UV_WRITABLE;
  uv_poll_start(&c->poll, ev, on_poll);
  return 0;
}

static void on_curl_timer(uv_timer_t *h) {
  scrape_manager_t *m = h->data;
  int running;
  curl_multi_socket_action(m->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  check_done(m);
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp) {
  (void)multi;
  scrape_manager_t *m = userp;
  if (timeout_ms < 0) {
    uv_timer_stop(&m->curl_timer);
  } else {
    /* 0 means "as soon as possible": let the loop turn once first. */
    uv_timer_start(&m->curl_timer, on_curl_timer, timeout_ms == 0 ? 1 : (uint64_t)timeout_ms, 0);
  }
  return 0;
}

int scrape__http_init(scrape_manager_t *m, char *err, size_t errlen) {
  m->multi = curl_multi_init();
  if (m->multi == NULL) return ph_err(err, errlen, PH_EIO, "curl_multi_init failed");
  curl_multi_setopt(m->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
  curl_multi_setopt(m->multi, CURLMOPT_SOCKETDATA, m);
  curl_multi_setopt(m->multi, CURLMOPT_TIMERFUNCTION, on_timer);
  curl_multi_setopt(m->multi, CURLMOPT_TIMERDATA, m);
  uv_timer_init(&m->loop, &m->curl_timer);
  m->curl_timer.data = m;
  return 0;
}

void scrape__http_close(scrape_manager_t *m) {
  if (m->multi != NULL) {
    curl_multi_cleanup(m->multi);
    m->multi = NULL;
  }
  while (m->socks != NULL) sock_close(m->socks); /* any curl did not remove */
  uv_timer_stop(&m->curl_timer);
  uv_close((uv_handle_t *)&m->curl_timer, NULL);
  libdeflate_free_decompressor(m->inflater);
  m->inflater = NULL;
}

/* ---- one transfer ------------------------------------------------------------------ */

/* Largest body buffer allocated up front on the word of Content-Length. */
#define BODY_PRESIZE_MAX ((curl_off_t)64 << 20)

/* Called at the first bytes of a body; false stops the transfer.
 *
 * A status other than 200 fails the scrape whatever the body says, so the
 * body is not read (Prometheus looks at the status first too, and reports
 * it even when the body would be over the limit); transfer_done reports
 * the status.  When the response is not compressed and says how long it
 * is, a body at or over the limit fails at once (the outcome Prometheus
 * reaches after reading limit bytes, without the reading: a 100 MB body
 * does not hold up the loop), and a body under it gets its buffer in one
 * allocation instead of a series of doublings.  A compressed body's length
 * says little about the decompressed size the limit applies to, so it is
 * left to the check in on_write. */
static bool body_start(scrape_target_t *t, uint64_t limit) {
  long code = 0;
  curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
  if (code != 200) return false;
  struct curl_header *h = NULL;
  if (curl_easy_header(t->easy, "Content-Encoding", 0, CURLH_HEADER, -1, &h) == CURLHE_OK &&
      h != NULL) {
    t->gzip = strcmp(h->value, "gzip") == 0; /* Go's check: exactly "gzip" */
    if (strcasecmp(h->value, "identity") != 0) return true;
  }
  curl_off_t cl = -1;
  if (curl_easy_getinfo(t->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) != CURLE_OK || cl <= 0)
    return true;
  if (limit > 0 && (uint64_t)cl >= limit) {
    t->body_too_big = true;
    return false;
  }
  if (cl <= BODY_PRESIZE_MAX) strbuf_reserve(&t->body, (size_t)cl);
  return true;
}

static size_t on_write(char *p, size_t size, size_t n, void *ud) {
  scrape_target_t *t = ud;
  size_t len = size * n;
  uint64_t limit = t->job->body_size_limit;
  if (!t->body_started && len > 0) {
    t->body_started = true;
    if (!body_start(t, limit)) return 0;
  }
  if (t->gzip) { /* the limit is checked on the inflated size */
    strbuf_append(&t->zbody, p, len);
    return len;
  }
  /* Prometheus fails a body of limit bytes or more. */
  if (limit > 0 && (uint64_t)t->body.len + len >= limit) {
    t->body_too_big = true;
    return 0;
  }
  strbuf_append(&t->body, p, len);
  return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
  scrape_target_t *t = ud;
  size_t len = size * n;
  if (len > 5 && memcmp(p, "HTTP/", 5) == 0) {
    const char *sp = memchr(p, ' ', len);
    if (sp != NULL) {
      size_t rest = len - (size_t)(sp + 1 - p);
      while (rest > 0 && (sp[rest] == '\r' || sp[rest] == '\n')) rest--;
      if (rest >= sizeof t->status) rest = sizeof t->status - 1;
      memcpy(t->status, sp + 1, rest);
      t->status[rest] = '\0';
    }
  }
  return len;
}

/* The whole content of a small secret file, trailing newline(s) removed,
 * as Prometheus's FileSecret does (it trims spaces). */
static char *read_secret(const char *path) {
  FILE *f = fopen(path, "r");
  if (f == NULL) return NULL;
  strbuf_t b = STRBUF_INIT;
  char buf[1024];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0 && b.len < (1u << 20)) strbuf_append(&b, buf, n);
  fclose(f);
  char *s = strbuf_detach(&b, NULL);
  if (s == NULL) return ph_strdup("");
  size_t l = strlen(s);
  while (l > 0 && (s[l - 1] == '\n' || s[l - 1] == '\r' || s[l - 1] == ' ' || s[l - 1] == '\t'))
    s[--l] = '\0';
  char *st = s;
  while (*st == ' ' || *st == '\t') st++;
  if (st != s) memmove(s, st, strlen(st) + 1);
  return s;
}

static long tls_version(const char *v) {
  if (v == NULL) return 0;
  if (strcmp(v, "TLS10") == 0) return CURL_SSLVERSION_TLSv1_0;
  if (strcmp(v, "TLS11") == 0) return CURL_SSLVERSION_TLSv1_1;
  if (strcmp(v, "TLS12") == 0) return CURL_SSLVERSION_TLSv1_2;
  if (strcmp(v, "TLS13") == 0) return CURL_SSLVERSION_TLSv1_3;
  return 0;
}

static long tls_max_version(const char *v) {
  if (v == NULL) return 0;
  if (strcmp(v, "TLS10") == 0) return CURL_SSLVERSION_MAX_TLSv1_0;
  if (strcmp(v, "TLS11") == 0) return CURL_SSLVERSION_MAX_TLSv1_1;
  if (strcmp(v, "TLS12") == 0) return CURL_SSLVERSION_MAX_TLSv1_2;
  if (strcmp(v, "TLS13") == 0) return CURL_SSLVERSION_MAX_TLSv1_3;
  return 0;
}

/* Sets every option for the next transfer; false (with t->errbuf) when a
 * secret file cannot be read. */
static bool configure(scrape_target_t *t) {
  const scrape_job_t *j = t->job;
  CURL *e = t->easy;
  curl_easy_reset(e);
  curl_slist_free_all(t->headers);
  curl_slist_free_all(t->connect_to);
  t->headers = NULL;
  t->connect_to = NULL;

  curl_easy_setopt(e, CURLOPT_PRIVATE, t);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)t->timeout_ms);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)t->timeout_ms);
  curl_easy_setopt(e, CURLOPT_USERAGENT, "Pharos/" PHAROS_VERSION);
  t->headers = curl_slist_append(
      t->headers, j->enable_compression ? "Accept-Encoding: gzip" : "Accept-Encoding: identity");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, j->follow_redirects ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
                   j->enable_http2 ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_1_1);

  char hdr[512];
  snprintf(hdr, sizeof hdr, "Accept: %s", j->accept_header);
  t->headers = curl_slist_append(t->headers, hdr);
  snprintf(hdr, sizeof hdr, "X-Prometheus-Scrape-Timeout-Seconds: %g",
           (double)t->timeout_ms / 1000.0);
  t->headers = curl_slist_append(t->headers, hdr);

  const char *url = t->url;
  char *sni_url = NULL;
  if (j->tls_server_name != NULL && strcmp(j->scheme, "https") == 0) {
    /* Go's tls ServerName only changes SNI and verification: connect to
     * the address, name the server_name in the URL, keep the Host header. */
    const char *addr = t->address;
    const char *colon = strrchr(addr, ':');
    const char *port = colon && !strchr(colon, ']') ? colon + 1 : "443";
    size_t hostlen = colon && !strchr(colon, ']') ? (size_t)(colon - addr) : strlen(addr);
    char ct[512];
    snprintf(ct, sizeof ct, "%s:%s:%.*s:%s", j->tls_server_name, port, (int)hostlen, addr, port);
    t->connect_to = curl_slist_append(NULL, ct);
    curl_easy_setopt(e, CURLOPT_CONNECT_TO, t->connect_to);
    strbuf_t u = STRBUF_INIT;
    strbuf_printf(&u, "https://%s:%s%s", j->tls_server_name, port,
                  t->url + strlen("https://") + strlen(addr));
    sni_url = strbuf_detach(&u, NULL);
    url = sni_url;
    snprintf(hdr, sizeof hdr, "Host: %s", addr);
    t->headers = curl_slist_append(t->headers, hdr);
  }
  curl_easy_setopt(e, CURLOPT_URL, url);
  free(sni_url);

  bool ok = true;
  if (j->has_authorization) {
    char *cred = j->auth_credentials_file ? read_secret(j->auth_credentials_file)
                                          : ph_strdup(j->auth_credentials);
    if (cred == NULL) {
      snprintf(t->errbuf, sizeof t->errbuf, "unable to read authorization credentials file %s",
               j->auth_credentials_file);
      ok = false;
    } else if (cred[0] != '\0') {
      strbuf_t h = STRBUF_INIT;
      strbuf_printf(&h, "Authorization: %s %s", j->auth_type, cred);
      t->headers = curl_slist_append(t->headers, strbuf_cstr(&h));
      strbuf_free(&h);
    }
    free(cred);
  }
  if (j->has_basic_auth) {
    char *user = j->basic_username_file ? read_secret(j->basic_username_file)
                                        : ph_strdup(j->basic_username);
    char *pass = j->basic_password_file ? read_secret(j->basic_password_file)
                                        : ph_strdup(j->basic_password);
    if (user == NULL || pass == NULL) {
      snprintf(t->errbuf, sizeof t->errbuf, "unable to read basic auth file %s",
               user == NULL ? j->basic_username_file : j->basic_password_file);
      ok = false;
    } else {
      curl_easy_setopt(e, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
      curl_easy_setopt(e, CURLOPT_USERNAME, user);
      curl_easy_setopt(e, CURLOPT_PASSWORD, pass);
    }
    free(user);
    free(pass);
  }
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);

  if (strcmp(j->scheme, "https") == 0) {
    if (j->tls_ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, j->tls_ca_file);
    if (j->tls_ca) {
      struct curl_blob b = {(void *)j->tls_ca, strlen(j->tls_ca), CURL_BLOB_COPY};
      curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &b);
    }
    if (j->tls_cert_file) curl_easy_setopt(e, CURLOPT_SSLCERT, j->tls_cert_file);
    if (j->tls_cert) {
      struct curl_blob b = {(void *)j->tls_cert, strlen(j->tls_cert), CURL_BLOB_COPY};
      curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &b);
    }
    if (j->tls_key_file) curl_easy_setopt(e, CURLOPT_SSLKEY, j->tls_key_file);
    if (j->tls_key) {
      struct curl_blob b = {(void *)j->tls_key, strlen(j->tls_key), CURL_BLOB_COPY};
      curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &b);
    }
    if (j->tls_insecure_skip_verify) {
      curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    long v = tls_version(j->tls_min_version) | tls_max_version(j->tls_max_version);
    if (v == 0) v = CURL_SSLVERSION_TLSv1_2; /* Go's client default minimum */
    curl_easy_setopt(e, CURLOPT_SSLVERSION, v);
  }
  return ok;
}

void scrape__http_start(scrape_target_t *t) {
  scrape_manager_t *m = t->m;
  if (t->easy == NULL) t->easy = curl_easy_init();
  strbuf_reset(&t->body);
  strbuf_reset(&t->zbody);
  t->body_started = t->gzip = false;
  t->body_too_big = false;
  t->status[0] = '\0';
  t->errbuf[0] = '\0';
  if (t->easy == NULL || !configure(t)) {
    char msg[CURL_ERROR_SIZE + 64];
    snprintf(msg, sizeof msg, "%s", t->easy ? t->errbuf : "curl_easy_init failed");
    scrape__process(t, NULL, 0, NULL, msg);
    scrape__scrape_finished(t);
    return;
  }
  t->scraping = true;
  CURLMcode mc = curl_multi_add_handle(m->multi, t->easy);
  if (mc != CURLM_OK) {
    t->scraping = false;
    scrape__process(t, NULL, 0, NULL, curl_multi_strerror(mc));
    scrape__scrape_finished(t);
  }
}

void scrape__http_cancel(scrape_target_t *t) {
  if (t->scraping && t->easy != NULL) curl_multi_remove_handle(t->m->multi, t->easy);
  t->scraping = false;
}

void scrape__http_target_free(scrape_target_t *t) {
  if (t->easy != NULL) {
    if (t->scraping) curl_multi_remove_handle(t->m->multi, t->easy);
    curl_easy_cleanup(t->easy);
    t->easy = NULL;
  }
  curl_slist_free_all(t->headers);
  curl_slist_free_all(t->connect_to);
  t->headers = t->connect_to = NULL;
  strbuf_free(&t->body);
  strbuf_free(&t->zbody);
}

/* Inflates t->zbody (one gzip member or several, as Go's reader accepts)
 * into t->body.  Returns NULL, or the error the scrape fails with (Go's
 * wording where it has one); sets body_too_big when the inflated body
 * reaches body_size_limit. */
static const char *gunzip(scrape_target_t *t) {
  const uint8_t *in = (const uint8_t *)t->zbody.data;
  size_t n = t->zbody.len, off = 0;
  uint64_t limit = t->job->body_size_limit;
  if (n == 0) return "EOF";
  if (t->m->inflater == NULL) t->m->inflater = libdeflate_alloc_decompressor();
  if (t->m->inflater == NULL) return "gzip: out of memory";
  /* ISIZE, the last member's size mod 2^32: exact for one member under
   * 4 GiB, a lower bound of the whole otherwise, so over the limit means
   * over it. */
  size_t want = 4096;
  if (n >= 18) {
    uint32_t isize = (uint32_t)in[n - 4] | (uint32_t)in[n - 3] << 8 |
                     (uint32_t)in[n - 2] << 16 | (uint32_t)in[n - 1] << 24;
    /* trusted as a size hint only when deflate could produce it from n
     * bytes (at most 1032:1) and up to the presize cap; a cut or forged
     * trailer must not allocate gigabytes */
    if (isize >= want && isize / 1032 <= n && isize <= (uint64_t)BODY_PRESIZE_MAX)
      want = (size_t)isize + 1;
  }
  strbuf_reset(&t->body);
  while (off < n) {
    if (n - off < 2 || in[off] != 0x1f || in[off + 1] != 0x8b) return "gzip: invalid header";
    if (limit > 0 && t->body.len + want > limit) want = limit - t->body.len;
    strbuf_reserve(&t->body, want);
    size_t used = 0, got = 0, room = t->body.cap - t->body.len - 1;
    enum libdeflate_result r = libdeflate_gzip_decompress_ex(
        t->m->inflater, in + off, n - off, t->body.data + t->body.len, room, &used, &got);
    if (r == LIBDEFLATE_INSUFFICIENT_SPACE) {
      if (limit > 0 && t->body.len + room >= limit) {
        t->body_too_big = true;
        return NULL;
      }
      /* deflate expands at most 1032:1; a truncated stream can make
       * libdeflate ask for room for ever */
      if (room / 1032 > n - off + 1024) return "gzip: corrupt or truncated body";
      want = room * 2;
      continue;
    }
    if (r != LIBDEFLATE_SUCCESS) return "gzip: corrupt or truncated body";
    t->body.len += got;
    t->body.data[t->body.len] = '\0';
    off += used;
    /* Prometheus fails a body of limit bytes or more. */
    if (limit > 0 && t->body.len >= limit) {
      t->body_too_big = true;
      return NULL;
    }
    want = 4096;
  }
  return NULL;
}

static void transfer_done(scrape_target_t *t, CURLcode res) {
  char msg[CURL_ERROR_SIZE + 512];
  const char *error = NULL;
  long code = 0;
  curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
  /* A status other than 200 wins over the body's fate: on_write stopped
   * the transfer (CURLE_WRITE_ERROR) at its first bytes. */
  if (code != 0 && code != 200 && (res == CURLE_OK || res == CURLE_WRITE_ERROR)) {
    if (t->status[0] != '\0' && strtol(t->status, NULL, 10) == code)
      snprintf(msg, sizeof msg, "server returned HTTP status %s", t->status);
    else
      snprintf(msg, sizeof msg, "server returned HTTP status %ld", code);
    error = msg;
  } else if (t->body_too_big) {
    atomic_fetch_add(&t->m->st.body_limit, 1);
    error = "body size limit exceeded";
  } else if (res != CURLE_OK) {
    snprintf(msg, sizeof msg, "Get \"%s\": %s", t->url,
             res == CURLE_OPERATION_TIMEDOUT ? "context deadline exceeded"
             : t->errbuf[0]                  ? t->errbuf
                                             : curl_easy_strerror(res));
    error = msg;
  }
  if (error == NULL && t->gzip) {
    error = gunzip(t);
    if (t->body_too_big) {
      atomic_fetch_add(&t->m->st.body_limit, 1);
      error = "body size limit exceeded";
    }
  }
  char *ct = NULL;
  if (error == NULL) curl_easy_getinfo(t->easy, CURLINFO_CONTENT_TYPE, &ct);
  scrape__process(t, t->body.data ? t->body.data : "", t->body.len, ct, error);
  /* Do not keep a large body around between scrapes. */
  if (t->body.cap > (1u << 20)) strbuf_free(&t->body);
  if (t->zbody.cap > (1u << 20)) strbuf_free(&t->zbody);
}

static void check_done(scrape_manager_t *m) {
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
    if (msg->msg != CURLMSG_DONE) continue;
    CURL *e = msg->easy_handle;
    CURLcode res = msg->data.result;
    scrape_target_t *t = NULL;
    curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&t);
    curl_multi_remove_handle(m->multi, e);
    if (t == NULL) continue;
    t->scraping = false;
    transfer_done(t, res);
    scrape__scrape_finished(t);
  }
}
