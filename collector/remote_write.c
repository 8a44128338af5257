/*
 * remote_write.c - the remote write receiver (contract in remote.h).
 *
 * One request: snappy block -> arena; protobuf-c unpack with the arena as
 * allocator; then, per series, labels are validated and built once
 * (labels_new, one allocation per series, not per sample), its samples are
 * appended through the request's single appender - by labels for the first,
 * by reference for the rest - and problems are collected as lines of the
 * answer (the first MAX_ERROR_LINES, then a count).  Commit at the end; a
 * commit failure is the only 500.  v1 and v2 differ only in where labels
 * and metadata come from (strings vs. references into the symbols table).
 */
#include "remote.h"

#include "remote_int.h"
#include "remote_metadata.h"

#include "arena.h"
#include "labels.h"
#include "mem.h"
#include "ph_error.h"
#include "timeparse.h"
#include "tsdb.h"

#include "proto/remote.pb-c.h"
#include "proto/write_v2.pb-c.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_ERROR_LINES 16

/* ---- content negotiation -------------------------------------------------- */

static const char *trim(const char *s, const char *end, size_t *len) {
  while (s < end && isspace((unsigned char)*s)) s++;
  while (end > s && isspace((unsigned char)end[-1])) end--;
  *len = (size_t)(end - s);
  return s;
}

int remote_write_proto_from_content_type(const char *ct, const char *version,
                                         remote_write_proto_t *out, char *err,
                                         size_t errlen) {
  *out = REMOTE_WRITE_V1;
  size_t n;
  if (ct == NULL || *trim(ct, ct + strlen(ct), &n) == '\0' || n == 0) {
    /* No Content-Type: 1.0, unless the version header says 2.x. */
    if (version != NULL && strncmp(version, "2.", 2) == 0) *out = REMOTE_WRITE_V2;
    return 0;
  }
  const char *end = ct + strlen(ct);
  const char *semi = memchr(ct, ';', (size_t)(end - ct));
  if (semi == NULL) semi = end;
  const char *media = trim(ct, semi, &n);
  static const char want[] = "application/x-protobuf";
  if (n != sizeof want - 1 || strncasecmp(media, want, n) != 0)
    return ph_err(err, errlen, PH_EINVAL,
                  "expected %s as the first (media) part, got %s content-type",
                  want, ct);
  const char *p = semi;
  while (p < end) {
    p++; /* skip ';' */
    const char *next = memchr(p, ';', (size_t)(end - p));
    if (next == NULL) next = end;
    size_t plen;
    const char *param = trim(p, next, &plen);
    const char *eq = memchr(param, '=', plen);
    if (eq == NULL || memchr(eq + 1, '=', (size_t)(param + plen - eq - 1)))
      return ph_err(err, errlen, PH_EINVAL,
                    "expected parameters to be key-values, got %.*s in %s "
                    "content-type",
                    (int)plen, param, ct);
    size_t klen, vlen;
    const char *key = trim(param, eq, &klen);
    const char *val = trim(eq + 1, param + plen, &vlen);
    if (klen == 5 && strncasecmp(key, "proto", 5) == 0) {
      if (vlen == strlen(REMOTE_WRITE_V1_NAME) &&
          memcmp(val, REMOTE_WRITE_V1_NAME, vlen) == 0) {
        *out = REMOTE_WRITE_V1;
      } else if (vlen == strlen(REMOTE_WRITE_V2_NAME) &&
                 memcmp(val, REMOTE_WRITE_V2_NAME, vlen) == 0) {
        *out = REMOTE_WRITE_V2;
      } else {
        return ph_err(err, errlen, PH_EINVAL,
                      "got %s content type; unknown remote write protobuf "
                      "message %.*s, supported: %s, %s",
                      ct, (int)vlen, val, REMOTE_WRITE_V1_NAME,
                      REMOTE_WRITE_V2_NAME);
      }
      return 0;
    }
    p = next;
  }
  return 0;
}

/* ---- options and results -------------------------------------------------- */

void remote_write_opts_default(remote_write_opts_t *o) {
  memset(o, 0, sizeof *o);
  o->max_decoded_bytes = (size_t)64 << 20;
  o->max_ahead_ms = 10 * 60 * 1000;
}

void remote_write_result_free(remote_write_result_t *res) {
  strbuf_free(&res->message);
}

/* ---- appending ------------------------------------------------------------ */

typedef struct wctx {
  tsdb_t *db;
  tsdb_appender_t *app;
  metadata_store_t *md;
  remote_write_result_t *res;
  int64_t max_t;      /* samples after this are too far in the future */
  size_t nerr_lines;  /* error lines written to res->message */
  uint64_t more_errs; /* further errors not written */
  label_t *pairs;     /* scratch, owned */
  size_t pairs_cap;
  labels_builder_t *lb; /* for describing invalid label sets; lazily made */
  int fatal;            /* a storage error: answer 500 */
} wctx_t;

static void add_error(wctx_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void add_error(wctx_t *c, const char *fmt, ...) {
  if (c->nerr_lines >= MAX_ERROR_LINES) {
    c->more_errs++;
    return;
  }
  if (c->nerr_lines > 0) strbuf_putc(&c->res->message, '\n');
  va_list ap;
  va_start(ap, fmt);
  strbuf_vprintf(&c->res->message, fmt, ap);
  va_end(ap);
  c->nerr_lines++;
}

/* Describes pairs as {a="b", ...} for messages, whatever their validity. */
static void describe_pairs(wctx_t *c, const label_t *pairs, size_t n,
                           strbuf_t *out) {
  if (c->lb == NULL) c->lb = labels_builder_new();
  labels_builder_reset(c->lb, NULL);
  for (size_t i = 0; i < n; i++)
    labels_builder_set(c->lb, pairs[i].name, pairs[i].value);
  labels_t *ls = labels_builder_finish(c->lb, NULL);
  labels_format_braces(ls, out);
  labels_free(ls);
}

/* Validates the pairs as Prometheus 3 does (UTF-8 names and values, a
 * non-empty __name__, no repeated name) and builds the set; NULL (and an
 * error line) if invalid. */
static labels_t *build_labels(wctx_t *c, const label_t *pairs, size_t n,
                              uint64_t nsamples) {
  bool ok = true, has_name = false;
  for (size_t i = 0; i < n && ok; i++) {
    size_t nl = strlen(pairs[i].name), vl = strlen(pairs[i].value);
    if (nl == 0 || !remote__valid_utf8(pairs[i].name, nl) ||
        !remote__valid_utf8(pairs[i].value, vl))
      ok = false;
    if (strcmp(pairs[i].name, "__name__") == 0) {
      if (vl == 0) ok = false;
      has_name = true;
    }
  }
  labels_t *ls = NULL;
  char why[256] = "";
  if (ok && has_name) ls = labels_new(NULL, pairs, n, why, sizeof why);
  if (ls != NULL) return ls;
  strbuf_t d = STRBUF_INIT;
  describe_pairs(c, pairs, n, &d);
  if (ok && has_name) {
    /* labels_new refused: a repeated name */
    const char *q = strchr(why, '"');
    add_error(c, "invalid labels for series, labels %s, duplicated label %s",
              strbuf_cstr(&d), q ? q : why);
  } else {
    add_error(c, "invalid metric name or labels, got %s", strbuf_cstr(&d));
  }
  strbuf_free(&d);
  c->res->series_invalid++;
  c->res->samples_rejected += nsamples;
  return NULL;
}

/* Appends one sample of series ls; *ref / *have_ref carry the fast path. */
static void append_sample(wctx_t *c, const labels_t *ls, uint64_t *ref,
                          bool *have_ref, int64_t t, double v) {
  if (c->fatal) return;
  int rc;
  if (t > c->max_t) {
    rc = PH_EOUTOFBOUNDS;
  } else {
    rc = PH_ENOTFOUND;
    if (*have_ref) rc = tsdb_append_ref(c->app, *ref, t, v);
    if (rc == PH_ENOTFOUND) {
      rc = tsdb_append(c->app, ls, t, v, ref);
      *have_ref = true;
    }
  }
  if (rc == 0) {
    c->res->samples_written++;
    return;
  }
  c->res->samples_rejected++;
  if (rc == PH_EOUTOFORDER || rc == PH_EOUTOFBOUNDS || rc == PH_EDUPLICATE ||
      rc == PH_EINVAL) {
    strbuf_t d = STRBUF_INIT;
    labels_format_braces(ls, &d);
    if (t > c->max_t)
      add_error(c, "%s: timestamp is too far in the future for series %s",
                ph_strerror(rc), strbuf_cstr(&d));
    else
      add_error(c, "%s for series %s", ph_strerror(rc), strbuf_cstr(&d));
    strbuf_free(&d);
    return;
  }
  /* Anything else is the storage failing: nothing of the batch is kept. */
  c->fatal = rc;
  strbuf_reset(&c->res->message);
  strbuf_printf(&c->res->message, "storage error: %s", ph_strerror(rc));
}

static void reject_histograms(wctx_t *c, const labels_t *ls, size_t n) {
  if (n == 0) return;
  c->res->histograms_rejected += n;
  strbuf_t d = STRBUF_INIT;
  labels_format_braces(ls, &d);
  add_error(c,
            "native histograms are not supported by this receiver: %zu "
            "histogram sample(s) rejected for series %s",
            n, strbuf_cstr(&d));
  strbuf_free(&d);
}

static label_t *pairs_buf(wctx_t *c, size_t n) {
  if (n > c->pairs_cap) ph_grow(&c->pairs, &c->pairs_cap, n);
  return c->pairs;
}

static void write_v1(wctx_t *c, const Prometheus__WriteRequest *req) {
  for (size_t i = 0; i < req->n_timeseries && !c->fatal; i++) {
    const Prometheus__TimeSeries *ts = req->timeseries[i];
    label_t *pairs = pairs_buf(c, ts->n_labels);
    for (size_t j = 0; j < ts->n_labels; j++) {
      pairs[j].name = ts->labels[j]->name;
      pairs[j].value = ts->labels[j]->value;
    }
    labels_t *ls = build_labels(c, pairs, ts->n_labels, ts->n_samples);
    if (ls == NULL) {
      c->res->histograms_rejected += ts->n_histograms;
      continue;
    }
    uint64_t ref = 0;
    bool have_ref = false;
    for (size_t k = 0; k < ts->n_samples; k++)
      append_sample(c, ls, &ref, &have_ref, ts->samples[k]->timestamp,
                    ts->samples[k]->value);
    reject_histograms(c, ls, ts->n_histograms);
    labels_free(ls);
  }
  if (c->md != NULL) {
    for (size_t i = 0; i < req->n_metadata; i++) {
      const Prometheus__MetricMetadata *m = req->metadata[i];
      if (m->metric_family_name == NULL || m->metric_family_name[0] == '\0')
        continue;
      metadata_store_put(c->md, m->metric_family_name, (metadata_type_t)m->type,
                         m->help, m->unit);
      c->res->metadata_received++;
    }
  }
}

static void write_v2(wctx_t *c, const Io__Prometheus__Write__V2__Request *req) {
  for (size_t i = 0; i < req->n_timeseries && !c->fatal; i++) {
    const Io__Prometheus__Write__V2__TimeSeries *ts = req->timeseries[i];
    size_t nrefs = ts->n_labels_refs;
    bool refs_ok = nrefs % 2 == 0;
    for (size_t j = 0; j < nrefs && refs_ok; j++)
      if (ts->labels_refs[j] >= req->n_symbols) refs_ok = false;
    if (!refs_ok) {
      if (nrefs % 2 != 0)
        add_error(c, "invalid labels_refs: odd length %zu", nrefs);
      else
        add_error(c,
                  "invalid labels_refs: a symbol reference is out of range "
                  "(%zu symbols)",
                  req->n_symbols);
      c->res->series_invalid++;
      c->res->samples_rejected += ts->n_samples;
      c->res->histograms_rejected += ts->n_histograms;
      continue;
    }
    size_t n = nrefs / 2;
    label_t *pairs = pairs_buf(c, n);
    for (size_t j = 0; j < n; j++) {
      pairs[j].name = req->symbols[ts->labels_refs[2 * j]];
      pairs[j].value = req->symbols[ts->labels_refs[2 * j + 1]];
    }
    labels_t *ls = build_labels(c, pairs, n, ts->n_samples);
    if (ls == NULL) {
      c->res->histograms_rejected += ts->n_histograms;
      continue;
    }
    uint64_t ref = 0;
    bool have_ref = false;
    for (size_t k = 0; k < ts->n_samples; k++)
      append_sample(c, ls, &ref, &have_ref, ts->samples[k]->timestamp,
                    ts->samples[k]->value);
    reject_histograms(c, ls, ts->n_histograms);
    const Io__Prometheus__Write__V2__Metadata *m = ts->metadata;
    if (c->md != NULL && m != NULL && m->help_ref < req->n_symbols &&
        m->unit_ref < req->n_symbols) {
      const char *help = req->symbols[m->help_ref];
      const char *unit = req->symbols[m->unit_ref];
      if (m->type != 0 || help[0] != '\0' || unit[0] != '\0') {
        metadata_store_put(c->md, labels_get(ls, "__name__"),
                           (metadata_type_t)m->type, help, unit);
        c->res->metadata_received++;
      }
    }
    labels_free(ls);
  }
}

void remote_write(tsdb_t *db, metadata_store_t *md, remote_write_proto_t proto,
                  const void *body, size_t len, const remote_write_opts_t *o,
                  remote_write_result_t *res) {
  remote_write_opts_t def;
  if (o == NULL) {
    remote_write_opts_default(&def);
    o = &def;
  }
  memset(res, 0, sizeof *res);
  strbuf_init(&res->message);
  res->status = 400;

  char err[512];
  size_t max = o->max_decoded_bytes ? o->max_decoded_bytes : (size_t)64 << 20;
  /* One arena for the decompressed bytes (bounded by the limit), one for
   * the decoded structs (bounded by a multiple of the decompressed size). */
  arena_t *a = arena_new(max + 64);
  uint8_t *buf;
  size_t n;
  if (remote__snappy_decode(a, body, len, max, &buf, &n, err, sizeof err) != 0) {
    arena_free(a);
    strbuf_puts(&res->message, err);
    return;
  }
  arena_t *da = arena_new(remote__decode_budget(n));
  ProtobufCAllocator pa;
  remote__pbc_allocator(da, &pa);

  Prometheus__WriteRequest *v1 = NULL;
  Io__Prometheus__Write__V2__Request *v2 = NULL;
  if (proto == REMOTE_WRITE_V2)
    v2 = io__prometheus__write__v2__request__unpack(&pa, n, buf);
  else
    v1 = prometheus__write_request__unpack(&pa, n, buf);
  if (v1 == NULL && v2 == NULL) {
    if (arena_exhausted(da))
      strbuf_printf(&res->message,
                    "decoding the request needs more than %zu bytes of memory",
                    remote__decode_budget(n));
    else
      strbuf_printf(&res->message,
                    "proto: cannot decode %s: malformed or truncated message",
                    proto == REMOTE_WRITE_V2 ? REMOTE_WRITE_V2_NAME
                                             : REMOTE_WRITE_V1_NAME);
    arena_free(da);
    arena_free(a);
    return;
  }

  int64_t now = o->now_ms ? o->now_ms : ph_now_ms();
  int64_t ahead = o->max_ahead_ms > 0 ? o->max_ahead_ms : 10 * 60 * 1000;
  wctx_t c = {.db = db, .md = md, .res = res};
  c.max_t = now > INT64_MAX - ahead ? INT64_MAX : now + ahead;
  c.app = tsdb_appender_new(db);
  if (v1 != NULL) write_v1(&c, v1);
  else write_v2(&c, v2);

  if (c.fatal) {
    tsdb_appender_rollback(c.app);
    res->samples_written = 0;
    res->status = 500;
  } else if (tsdb_appender_commit(c.app, err, sizeof err) != 0) {
    strbuf_reset(&res->message);
    strbuf_puts(&res->message, err);
    res->samples_written = 0;
    res->status = 500;
  } else if (c.nerr_lines > 0) {
    if (c.more_errs > 0)
      strbuf_printf(&res->message, "\n(and %llu more errors)",
                    (unsigned long long)c.more_errs);
    res->status = 400;
  } else {
    res->status = 204;
  }
  free(c.pairs);
  labels_builder_free(c.lb);
  arena_free(da);
  arena_free(a);
}
