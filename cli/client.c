/*
 * client.c - pharosctl's client of the Prometheus HTTP API (see client.h).
 *
 * One request per call with libcurl's easy interface: a form-encoded POST
 * first and, if the server answers 405 Method Not Allowed, the same
 * parameters as a GET (what Prometheus's Go client calls DoGetFallback).
 * Responses may come gzip-compressed (libcurl decodes them).  The answer's
 * envelope is checked as the Go client does: the server's own errorType
 * and error whenever the body carries them (whatever the HTTP status),
 * else client_error / server_error from the status, else bad_response for
 * a body that is not the API's JSON.  Query data is then converted into
 * the cli_result_t model that render.c prints.
 */
#include "client.h"

#include "mem.h"
#include "pharos_version.h"

#include <curl/curl.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- forms ------------------------------------------------------------------- */

void cli_url_escape(strbuf_t *out, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
        c == '-' || c == '.' || c == '_' || c == '~') {
      strbuf_putc(out, (char)c);
    } else {
      strbuf_putc(out, '%');
      strbuf_putc(out, hex[c >> 4]);
      strbuf_putc(out, hex[c & 15]);
    }
  }
}

void cli_form_add(strbuf_t *form, const char *key, const char *value) {
  if (form->len) strbuf_putc(form, '&');
  cli_url_escape(form, key);
  strbuf_putc(form, '=');
  cli_url_escape(form, value);
}

void cli_form_add_time(strbuf_t *form, const char *key, int64_t ms) {
  char buf[420];
  cli_format_time_seconds(ms, buf, sizeof buf);
  cli_form_add(form, key, buf);
}

/* ---- HTTP ------------------------------------------------------------------------ */

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
  strbuf_append(ud, p, size * n);
  return size * n;
}

/* Server URL + path, without doubling the slash; "host:port" gets http://. */
static void build_url(strbuf_t *u, const char *server, const char *path) {
  if (strstr(server, "://") == NULL) strbuf_puts(u, "http://");
  strbuf_puts(u, server);
  while (u->len > 0 && u->data[u->len - 1] == '/') u->data[--u->len] = '\0';
  strbuf_puts(u, path);
}

static void global_init(void) {
  static bool inited;
  if (!inited) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    atexit(curl_global_cleanup);
    inited = true;
  }
}

/* Performs one request; *status gets the HTTP code.  0, or 1 with the
 * transport error in err. */
static int http_do(CURL *c, const char *method, const char *url, const char *form,
                   const cli_strv_t *headers, long *status, strbuf_t *body,
                   cli_api_error_t *err) {
  curl_easy_reset(c);
  struct curl_slist *hl = NULL;
  for (size_t i = 0; headers && i < headers->n; i++) {
    const char *h = headers->v[i];
    const char *eq = strchr(h, '=');
    strbuf_t line = STRBUF_INIT;
    if (eq) strbuf_printf(&line, "%.*s: %s", (int)(eq - h), h, eq + 1);
    else strbuf_printf(&line, "%s:", h);
    hl = curl_slist_append(hl, line.data);
    strbuf_free(&line);
  }
  strbuf_t full = STRBUF_INIT;
  strbuf_puts(&full, url);
  bool get = strcmp(method, "GET") == 0;
  if (get && form && form[0]) strbuf_printf(&full, "?%s", form);
  curl_easy_setopt(c, CURLOPT_URL, full.data);
  if (!get) {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, form ? form : "");
  }
  if (hl) curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "pharosctl/" PHAROS_VERSION);
  curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
  char cerr[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
  strbuf_reset(body);
  CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(hl);
  if (rc != CURLE_OK) {
    err->type[0] = '\0';
    snprintf(err->msg, sizeof err->msg, "%s \"%s\": %s", get ? "Get" : "Post", full.data,
             cerr[0] ? cerr : curl_easy_strerror(rc));
    strbuf_free(&full);
    return 1;
  }
  strbuf_free(&full);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
  return 0;
}

static int api_error(cli_api_error_t *err, const char *type, const char *msg) {
  snprintf(err->type, sizeof err->type, "%s", type);
  snprintf(err->msg, sizeof err->msg, "%s", msg);
  return 1;
}

int cli_api_call(const char *server, const char *path, const char *form, bool post,
                 const cli_strv_t *headers, json_object **root, json_object **data,
                 cli_api_error_t *err) {
  global_init();
  CURL *c = curl_easy_init();
  if (c == NULL) return api_error(err, "internal", "cannot initialise libcurl");
  strbuf_t url = STRBUF_INIT, body = STRBUF_INIT;
  build_url(&url, server, path);
  long status = 0;
  int rc = http_do(c, post ? "POST" : "GET", url.data, form, headers, &status, &body, err);
  if (rc == 0 && post && status == 405)
    rc = http_do(c, "GET", url.data, form, headers, &status, &body, err);
  curl_easy_cleanup(c);
  strbuf_free(&url);
  if (rc != 0) {
    strbuf_free(&body);
    return 1;
  }
  json_object *j = body.len ? json_tokener_parse(body.data) : NULL;
  strbuf_free(&body);
  json_object *st = NULL, *et = NULL, *em = NULL;
  bool is_obj = j && json_object_is_type(j, json_type_object);
  if (is_obj) {
    json_object_object_get_ex(j, "status", &st);
    json_object_object_get_ex(j, "errorType", &et);
    json_object_object_get_ex(j, "error", &em);
  }
  const char *sts = st ? json_object_get_string(st) : "";
  char msg[128];
  rc = 1;
  if (is_obj && strcmp(sts, "error") == 0) {
    api_error(err, et ? json_object_get_string(et) : "unknown",
              em ? json_object_get_string(em) : "");
  } else if (status / 100 != 2) {
    bool server_side = status / 100 == 5;
    snprintf(msg, sizeof msg, "%s error: %ld", server_side ? "server" : "client", status);
    api_error(err, server_side ? "server_error" : "client_error", msg);
  } else if (!is_obj) {
    api_error(err, "bad_response", "response is not a JSON object");
  } else if (strcmp(sts, "success") != 0) {
    snprintf(msg, sizeof msg, "unexpected status \"%.64s\"", sts);
    api_error(err, "bad_response", msg);
  } else if (!json_object_object_get_ex(j, "data", data)) {
    api_error(err, "bad_response", "response has no data");
  } else {
    rc = 0;
  }
  if (rc != 0) {
    json_object_put(j);
    return 1;
  }
  *root = j;
  return 0;
}

void cli_api_print_warnings(json_object *root, const char *prefix) {
  static const char *const keys[] = {"warnings", "infos"};
  for (int k = 0; k < 2; k++) {
    json_object *w;
    if (!json_object_object_get_ex(root, keys[k], &w) || !json_object_is_type(w, json_type_array))
      continue;
    for (size_t i = 0; i < json_object_array_length(w); i++)
      fprintf(stderr, "%s%s\n", prefix, json_object_get_string(json_object_array_get_idx(w, i)));
  }
}

/* ---- results ---------------------------------------------------------------------- */

labels_t *cli_json_labels(json_object *m) {
  if (m == NULL || !json_object_is_type(m, json_type_object)) return NULL;
  size_t n = (size_t)json_object_object_length(m), i = 0;
  label_t *pairs = ph_calloc(n ? n : 1, sizeof(*pairs));
  json_object_object_foreach(m, k, v) {
    if (!json_object_is_type(v, json_type_string)) {
      free(pairs);
      return NULL;
    }
    pairs[i].name = k;
    pairs[i].value = json_object_get_string(v);
    i++;
  }
  char err[256];
  labels_t *ls = labels_new(NULL, pairs, i, err, sizeof err);
  free(pairs);
  return ls;
}

/* A sample value string: "1.5", "NaN", "+Inf", "-Inf", "1e-07". */
static bool parse_value(const char *s, double *v) {
  if (s == NULL || *s == '\0') return false;
  if (strcmp(s, "NaN") == 0) {
    *v = NAN;
    return true;
  }
  if (strcmp(s, "+Inf") == 0 || strcmp(s, "Inf") == 0) {
    *v = INFINITY;
    return true;
  }
  if (strcmp(s, "-Inf") == 0) {
    *v = -INFINITY;
    return true;
  }
  char *end;
  *v = strtod(s, &end);
  return *end == '\0';
}

/* [t, "v"] (or [t, "s"] when str is not NULL). */
static bool parse_pair(json_object *pair, int64_t *t, double *v, const char **str) {
  if (pair == NULL || !json_object_is_type(pair, json_type_array) ||
      json_object_array_length(pair) != 2)
    return false;
  json_object *jt = json_object_array_get_idx(pair, 0);
  json_object *jv = json_object_array_get_idx(pair, 1);
  if (!json_object_is_type(jt, json_type_int) && !json_object_is_type(jt, json_type_double))
    return false;
  if (cli_parse_json_time(json_object_get_string(jt), t) != 0) return false;
  if (!json_object_is_type(jv, json_type_string)) return false;
  if (str) {
    *str = json_object_get_string(jv);
    return true;
  }
  return parse_value(json_object_get_string(jv), v);
}

static int bad(cli_api_error_t *err, const char *what) {
  char msg[128];
  snprintf(msg, sizeof msg, "malformed %s in response", what);
  return api_error(err, "bad_response", msg);
}

int cli_json_to_result(json_object *data, cli_result_t *r, size_t *histograms,
                       cli_api_error_t *err) {
  json_object *rt = NULL, *res = NULL;
  cli_result_init(r, CLI_RESULT_VECTOR);
  if (histograms) *histograms = 0;
  if (!json_object_is_type(data, json_type_object) ||
      !json_object_object_get_ex(data, "resultType", &rt) ||
      !json_object_object_get_ex(data, "result", &res))
    return bad(err, "result");
  const char *type = json_object_get_string(rt);
  if (strcmp(type, "scalar") == 0 || strcmp(type, "string") == 0) {
    bool scalar = type[1] == 'c';
    r->type = scalar ? CLI_RESULT_SCALAR : CLI_RESULT_STRING;
    const char *s = NULL;
    if (!parse_pair(res, &r->t, &r->scalar, scalar ? NULL : &s)) return bad(err, type);
    if (!scalar) r->str = ph_strdup(s);
    return 0;
  }
  bool vector = strcmp(type, "vector") == 0;
  if (!vector && strcmp(type, "matrix") != 0) {
    char msg[128];
    snprintf(msg, sizeof msg, "unknown result type \"%.64s\"", type);
    return api_error(err, "bad_response", msg);
  }
  r->type = vector ? CLI_RESULT_VECTOR : CLI_RESULT_MATRIX;
  if (!json_object_is_type(res, json_type_array)) return bad(err, type);
  for (size_t i = 0; i < json_object_array_length(res); i++) {
    json_object *e = json_object_array_get_idx(res, i), *m = NULL, *v = NULL;
    if (e == NULL || !json_object_object_get_ex(e, "metric", &m)) return bad(err, "metric");
    labels_t *ls = cli_json_labels(m);
    if (ls == NULL) return bad(err, "metric");
    cli_series_t *s = cli_result_add_series(r, ls);
    int64_t t;
    double val;
    if (vector) {
      if (json_object_object_get_ex(e, "value", &v)) {
        if (!parse_pair(v, &t, &val, NULL)) return bad(err, "sample");
        cli_series_add_point(s, t, val);
      } else if (json_object_object_get_ex(e, "histogram", &v)) {
        if (histograms) (*histograms)++;
      } else {
        return bad(err, "sample");
      }
      continue;
    }
    if (json_object_object_get_ex(e, "values", &v)) {
      if (!json_object_is_type(v, json_type_array)) return bad(err, "samples");
      for (size_t k = 0; k < json_object_array_length(v); k++) {
        if (!parse_pair(json_object_array_get_idx(v, k), &t, &val, NULL))
          return bad(err, "sample");
        cli_series_add_point(s, t, val);
      }
    }
    if (json_object_object_get_ex(e, "histograms", &v) && json_object_is_type(v, json_type_array) &&
        histograms)
      *histograms += json_object_array_length(v);
  }
  return 0;
}
