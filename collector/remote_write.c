/*
 * remote_write.c - the remote write receiver (contract in remote.h), in
 * three parts: the wire decoder, the series cache, and the receiver that
 * uses them.
 *
 * Part 1, the request decoder: walks the protobuf wire format of a
 * snappy-decoded prometheus.WriteRequest (1.0) or
 * io.prometheus.write.v2.Request (2.0) directly and indexes it into the
 * flat, reusable arrays of a remote__req_t (remote_int.h).  Nothing is
 * allocated per series, label or sample: strings stay in the decoded
 * buffer as (pointer, length) views, samples are copied into one array,
 * and the arrays keep their capacity from request to request.
 *
 * The whole message is checked before the caller appends anything, so a
 * malformed request stores nothing.  Checked: every tag (field number
 * 1..2^29-1; wire types 0 varint, 1 fixed64, 2 length-delimited, 5
 * fixed32 - groups 3/4 and 6/7 are errors), every varint (at most 10
 * bytes, not cut by the end), every length (within the enclosing message),
 * and the wire type of every field the receiver reads (labels_refs, a
 * repeated uint32, may be packed or not).  Unknown fields are skipped, as
 * are exemplars; histograms are only counted (not stored), so their inner
 * fields are not checked.  A non-repeated field seen twice keeps the last
 * value (sub-messages merge), as protobuf does.
 *
 * Messages read (field number: name, wire type):
 *   v1 WriteRequest     1: timeseries (2)  3: metadata (2)
 *      TimeSeries       1: labels (2)  2: samples (2)  3: exemplars (2)
 *                       4: histograms (2)
 *      Label            1: name (2)  2: value (2)
 *      Sample           1: value (1, double)  2: timestamp (0, int64)
 *      MetricMetadata   1: type (0)  2: metric_family_name (2)  4: help (2)
 *                       5: unit (2)
 *   v2 Request          4: symbols (2)  5: timeseries (2)
 *      TimeSeries       1: labels_refs (0 or 2 packed)  2: samples (2)
 *                       3: histograms (2)  4: exemplars (2)
 *                       5: metadata (2)  6: created_timestamp (0)
 *      Metadata         1: type (0)  3: help_ref (0)  4: unit_ref (0)
 *
 * Series key (v1).  When a series' Label fields are adjacent in the
 * message (Prometheus always writes them so), their raw bytes, tags
 * included, are recorded as the series' key: the same label set sent
 * again is the same bytes, which is what the series cache (part 2) looks
 * up.
 *
 * Part 2, the series cache (contract in remote.h) and the pool of
 * per-request scratch buffers.
 *
 * A hash table split into CACHE_SHARDS shards by the key's hash, each with
 * its own mutex, so requests on several connections rarely wait for each
 * other.  A shard is an array of buckets (a power of two, doubled when the
 * shard holds as many entries as buckets) of chained entries; an entry is
 * one allocation: {next, hash, ref, key length, key bytes}.  The key is
 * compared in full, so a hash collision never maps a series to another
 * series' reference.  Keys are hashed with XXH3 (64 bits).
 *
 * Bounding: each shard holds at most max_series / CACHE_SHARDS entries;
 * inserting into a full shard first empties it (the series it held come
 * back one miss each, on their next request).  This is crude but cheap,
 * and a full shard only happens when the number of live series exceeds
 * max_series or after heavy churn.
 *
 * Stale references: a series the TSDB dropped keeps its entry until the
 * receiver finds its reference refused (tsdb_append_ref -> PH_ENOTFOUND)
 * and replaces it - references are never reused by the TSDB, so a stale
 * entry can only miss, never hit another series.
 *
 * Scratch pool: a mutex-protected free list of remote__scratch_t; a
 * request takes one, returns it afterwards.  Scratch that grew past
 * SCRATCH_KEEP_BYTES for one huge request is freed instead of kept, so the
 * pool's memory stays proportional to ordinary requests.
 *
 * Part 3, the receiver.  One request: snappy block -> the scratch's
 * reused buffer; part 1 indexes the whole message (views into that
 * buffer; a malformed message stops here, nothing stored); then per
 * series:
 *   - with a cache, the series' key (its raw Label bytes, or its label
 *     strings, see series_key) is looked up: a hit gives the TSDB
 *     reference and the labels are neither built nor validated;
 *   - otherwise (or when the TSDB refuses the cached reference as
 *     unknown) the labels are validated and built once (labels_new, one
 *     allocation per series), appended by labels, and the reference they
 *     get is stored in the cache;
 *   - the remaining samples go by reference.
 * Labels are also built, lazily, to describe a series in an error line.
 * Problems are collected as lines of the answer (the first
 * MAX_ERROR_LINES, then a count).  Everything goes through the request's
 * single appender; commit at the end; a commit failure is the only 500.
 * v1 and v2 differ only in where label strings and metadata come from
 * (the message vs. references into the symbols table).
 */
#include "remote.h"

#include "remote_int.h"
#include "remote_metadata.h"

#include "labels.h"
#include "mem.h"
#include "ph_error.h"
#include "timeparse.h"
#include "tsdb.h"

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <xxhash.h>

/* ==== part 1: the wire decoder ============================================ */

typedef struct dec {
  const uint8_t *base; /* start of the message, for offsets in errors */
  remote__req_t *r;
  char *err;
  size_t errlen;
  size_t used, budget; /* bytes of decoded elements; their limit */
} dec_t;

/* The limit on decoded elements for a message of n bytes: real requests
 * need 2-3x their size (a 16-byte sample for ~12 wire bytes), a hostile
 * one of empty sub-messages up to 36x (a 72-byte series for 2 bytes);
 * 64x, at most 256 MiB, refuses nothing real and bounds the rest. */
static size_t decode_budget(size_t n) {
  const size_t base = (size_t)1 << 20, cap = (size_t)256 << 20;
  if (n > (cap - base) / 64) return cap;
  return base + 64 * n;
}

/* Counts bytes of decoded elements; over the budget, the next field read
 * fails (next_field), so the overshoot is at most a few elements. */
static void spend(dec_t *d, size_t bytes) { d->used += bytes; }

static int over_budget(dec_t *d) {
  return ph_err(d->err, d->errlen, PH_ELIMIT,
                "decoding the request needs more than %zu bytes of memory",
                d->budget);
}

typedef struct field {
  uint32_t num;
  unsigned wt;
  uint64_t v;          /* wire types 0, 1, 5 */
  const uint8_t *data; /* wire type 2 */
  size_t len;
  const uint8_t *start; /* the tag's first byte */
  const uint8_t *end;   /* just past the field */
} field_t;

static const char *const wt_names[8] = {
    "varint", "fixed64", "length-delimited", "start-group",
    "end-group", "fixed32", "6", "7"};

static int fail_at(dec_t *d, const uint8_t *at, const char *what) {
  ph_err(d->err, d->errlen, PH_EPARSE, "%s at byte %zu", what,
         (size_t)(at - d->base));
  return PH_EPARSE;
}

static int varint(dec_t *d, const uint8_t **pp, const uint8_t *end,
                  uint64_t *out) {
  const uint8_t *p = *pp;
  if (p < end && *p < 0x80) { /* one byte: the common case */
    *out = *p;
    *pp = p + 1;
    return 0;
  }
  uint64_t v = 0;
  for (unsigned shift = 0; shift < 64; shift += 7) {
    if (p >= end) return fail_at(d, *pp, "truncated varint");
    uint8_t b = *p++;
    v |= (uint64_t)(b & 0x7f) << shift;
    if (b < 0x80) {
      *out = v;
      *pp = p;
      return 0;
    }
  }
  return fail_at(d, *pp, "varint longer than 10 bytes");
}

static uint64_t le64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  return v;
}

/* Reads the field at *pp (< end) and advances past it. */
static int next_field(dec_t *d, const uint8_t **pp, const uint8_t *end,
                      field_t *f) {
  const uint8_t *p = *pp;
  f->start = p;
  if (d->used > d->budget) return over_budget(d);
  uint64_t tag;
  if (varint(d, &p, end, &tag) != 0) return PH_EPARSE;
  uint64_t num = tag >> 3;
  f->wt = (unsigned)(tag & 7);
  if (num == 0 || num > 0x1fffffff) return fail_at(d, f->start, "invalid field number");
  f->num = (uint32_t)num;
  switch (f->wt) {
  case 0:
    if (varint(d, &p, end, &f->v) != 0) return PH_EPARSE;
    break;
  case 1:
    if (end - p < 8) return fail_at(d, f->start, "truncated fixed64 field");
    f->v = le64(p);
    p += 8;
    break;
  case 5:
    if (end - p < 4) return fail_at(d, f->start, "truncated fixed32 field");
    f->v = (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
           (uint64_t)p[3] << 24;
    p += 4;
    break;
  case 2: {
    uint64_t len;
    if (varint(d, &p, end, &len) != 0) return PH_EPARSE;
    if (len > (uint64_t)(end - p))
      return ph_err(d->err, d->errlen, PH_EPARSE,
                    "length %llu of field %u at byte %zu runs past the end of "
                    "its message (%zu bytes left)",
                    (unsigned long long)len, f->num, (size_t)(f->start - d->base),
                    (size_t)(end - p));
    f->data = p;
    f->len = (size_t)len;
    p += len;
    break;
  }
  default:
    return ph_err(d->err, d->errlen, PH_EPARSE,
                  "unsupported wire type %u (%s) of field %u at byte %zu", f->wt,
                  wt_names[f->wt], f->num, (size_t)(f->start - d->base));
  }
  f->end = p;
  *pp = p;
  return 0;
}

/* A known field with an unexpected wire type is an error. */
static int want(dec_t *d, const field_t *f, unsigned wt, const char *msg,
                const char *name) {
  if (f->wt == wt) return 0;
  return ph_err(d->err, d->errlen, PH_EPARSE,
                "field %u (%s.%s) at byte %zu has wire type %s, want %s", f->num,
                msg, name, (size_t)(f->start - d->base), wt_names[f->wt],
                wt_names[wt]);
}

static remote__str_t str_of(const field_t *f) {
  return (remote__str_t){(const char *)f->data, f->len};
}

/* Sample (same numbers in v1 and v2): value 1 (double), timestamp 2. */
static int sample(dec_t *d, const field_t *sf, const char *msg) {
  remote__req_t *r = d->r;
  remote__sample_t s = {0, 0.0};
  const uint8_t *p = sf->data, *end = sf->data + sf->len;
  while (p < end) {
    field_t f;
    if (next_field(d, &p, end, &f) != 0) return PH_EPARSE;
    if (f.num == 1) {
      if (want(d, &f, 1, msg, "value") != 0) return PH_EPARSE;
      memcpy(&s.v, &f.v, sizeof s.v);
    } else if (f.num == 2) {
      if (want(d, &f, 0, msg, "timestamp") != 0) return PH_EPARSE;
      s.t = (int64_t)f.v;
    }
  }
  spend(d, sizeof s);
  if (r->nsamples == r->samples_cap) ph_grow(&r->samples, &r->samples_cap, r->nsamples + 1);
  r->samples[r->nsamples++] = s;
  return 0;
}

static remote__series_t *new_series(dec_t *d) {
  remote__req_t *r = d->r;
  spend(d, sizeof *r->series);
  if (r->nseries == r->series_cap) ph_grow(&r->series, &r->series_cap, r->nseries + 1);
  remote__series_t *s = &r->series[r->nseries++];
  memset(s, 0, sizeof *s);
  s->lab0 = r->nstrs;
  s->smp0 = r->nsamples;
  return s;
}

static void push_str(dec_t *d, remote__str_t s) {
  remote__req_t *r = d->r;
  spend(d, sizeof s);
  if (r->nstrs == r->strs_cap) ph_grow(&r->strs, &r->strs_cap, r->nstrs + 1);
  r->strs[r->nstrs++] = s;
}

/* ---- 1.0 ------------------------------------------------------------------ */

static int label_v1(dec_t *d, const field_t *lf) {
  remote__str_t name = {"", 0}, value = {"", 0};
  const uint8_t *p = lf->data, *end = lf->data + lf->len;
  /* The shape every sender writes - name, then value, one-byte lengths -
   * read directly; anything else goes the general way below. */
  if (lf->len >= 4 && p[0] == 0x0a && p[1] < 0x80 && (size_t)p[1] + 4 <= lf->len &&
      p[2 + p[1]] == 0x12 && p[3 + p[1]] < 0x80 &&
      (size_t)p[1] + 4 + p[3 + p[1]] == lf->len) {
    push_str(d, (remote__str_t){(const char *)p + 2, p[1]});
    push_str(d, (remote__str_t){(const char *)p + 4 + p[1], p[3 + p[1]]});
    return 0;
  }
  while (p < end) {
    field_t f;
    if (next_field(d, &p, end, &f) != 0) return PH_EPARSE;
    if (f.num == 1) {
      if (want(d, &f, 2, "prometheus.Label", "name") != 0) return PH_EPARSE;
      name = str_of(&f);
    } else if (f.num == 2) {
      if (want(d, &f, 2, "prometheus.Label", "value") != 0) return PH_EPARSE;
      value = str_of(&f);
    }
  }
  push_str(d, name);
  push_str(d, value);
  return 0;
}

static int series_v1(dec_t *d, const field_t *tf) {
  remote__req_t *r = d->r;
  size_t idx = r->nseries; /* by index: the array moves as it grows */
  new_series(d);
  const uint8_t *kstart = NULL, *kend = NULL;
  bool adjacent = true;
  size_t nlab = 0, nhist = 0;
  const uint8_t *p = tf->data, *end = tf->data + tf->len;
  while (p < end) {
    field_t f;
    if (next_field(d, &p, end, &f) != 0) return PH_EPARSE;
    switch (f.num) {
    case 1:
      if (want(d, &f, 2, "prometheus.TimeSeries", "labels") != 0) return PH_EPARSE;
      if (label_v1(d, &f) != 0) return PH_EPARSE;
      if (kstart == NULL) kstart = f.start;
      else if (f.start != kend) adjacent = false;
      kend = f.end;
      nlab++;
      break;
    case 2:
      if (want(d, &f, 2, "prometheus.TimeSeries", "samples") != 0) return PH_EPARSE;
      if (sample(d, &f, "prometheus.Sample") != 0) return PH_EPARSE;
      break;
    case 3:
      if (want(d, &f, 2, "prometheus.TimeSeries", "exemplars") != 0) return PH_EPARSE;
      break;
    case 4:
      if (want(d, &f, 2, "prometheus.TimeSeries", "histograms") != 0) return PH_EPARSE;
      nhist++;
      break;
    default:
      break;
    }
  }
  remote__series_t *s = &r->series[idx];
  s->nlab = nlab;
  s->nsmp = r->nsamples - s->smp0;
  s->nhist = nhist;
  if (kstart != NULL && adjacent) {
    s->key = kstart;
    s->keylen = (size_t)(kend - kstart);
  }
  return 0;
}

static int metadata_v1(dec_t *d, const field_t *mf) {
  remote__req_t *r = d->r;
  remote__meta_t m = {0, {"", 0}, {"", 0}, {"", 0}};
  const uint8_t *p = mf->data, *end = mf->data + mf->len;
  while (p < end) {
    field_t f;
    if (next_field(d, &p, end, &f) != 0) return PH_EPARSE;
    static const char msg[] = "prometheus.MetricMetadata";
    switch (f.num) {
    case 1:
      if (want(d, &f, 0, msg, "type") != 0) return PH_EPARSE;
      m.type = (int32_t)f.v;
      break;
    case 2:
      if (want(d, &f, 2, msg, "metric_family_name") != 0) return PH_EPARSE;
      m.name = str_of(&f);
      break;
    case 4:
      if (want(d, &f, 2, msg, "help") != 0) return PH_EPARSE;
      m.help = str_of(&f);
      break;
    case 5:
      if (want(d, &f, 2, msg, "unit") != 0) return PH_EPARSE;
      m.unit = str_of(&f);
      break;
    default:
      break;
    }
  }
  spend(d, sizeof m);
  if (r->nmeta == r->meta_cap) ph_grow(&r->meta, &r->meta_cap, r->nmeta + 1);
  r->meta[r->nmeta++] = m;
  return 0;
}

void remote__req_reset(remote__req_t *r) {
  r->nseries = r->nstrs = r->nrefs = r->nsamples = r->nmeta = 0;
}

void remote__req_free(remote__req_t *r) {
  free(r->series);
  free(r->strs);
  free(r->refs);
  free(r->samples);
  free(r->meta);
  memset(r, 0, sizeof *r);
}

size_t remote__req_bytes(const remote__req_t *r) {
  return r->series_cap * sizeof *r->series + r->strs_cap * sizeof *r->strs +
         r->refs_cap * sizeof *r->refs + r->samples_cap * sizeof *r->samples +
         r->meta_cap * sizeof *r->meta;
}

int remote__decode_v1(remote__req_t *r, const uint8_t *buf, size_t n, char *err,
                      size_t errlen) {
  remote__req_reset(r);
  dec_t d = {buf, r, err, errlen, 0, decode_budget(n)};
  const uint8_t *p = buf, *end = buf + n;
  while (p < end) {
    field_t f;
    if (next_field(&d, &p, end, &f) != 0) return PH_EPARSE;
    if (f.num == 1) {
      if (want(&d, &f, 2, "prometheus.WriteRequest", "timeseries") != 0 ||
          series_v1(&d, &f) != 0)
        return PH_EPARSE;
    } else if (f.num == 3) {
      if (want(&d, &f, 2, "prometheus.WriteRequest", "metadata") != 0 ||
          metadata_v1(&d, &f) != 0)
        return PH_EPARSE;
    }
  }
  return d.used > d.budget ? over_budget(&d) : 0;
}

/* ---- 2.0 ------------------------------------------------------------------ */

static void push_ref(dec_t *d, uint64_t v) {
  remote__req_t *r = d->r;
  spend(d, sizeof *r->refs);
  if (r->nrefs == r->refs_cap) ph_grow(&r->refs, &r->refs_cap, r->nrefs + 1);
  r->refs[r->nrefs++] = (uint32_t)v; /* uint32: higher bits dropped */
}

static int metadata_v2(dec_t *d, const field_t *mf, remote__series_t *s) {
  const uint8_t *p = mf->data, *end = mf->data + mf->len;
  static const char msg[] = "io.prometheus.write.v2.Metadata";
  s->has_md = true;
  while (p < end) {
    field_t f;
    if (next_field(d, &p, end, &f) != 0) return PH_EPARSE;
    switch (f.num) {
    case 1:
      if (want(d, &f, 0, msg, "type") != 0) return PH_EPARSE;
      s->md_type = (int32_t)f.v;
      break;
    case 3:
      if (want(d, &f, 0, msg, "help_ref") != 0) return PH_EPARSE;
      s->md_help = (uint32_t)f.v;
      break;
    case 4:
      if (want(d, &f, 0, msg, "unit_ref") != 0) return PH_EPARSE;
      s->md_unit = (uint32_t)f.v;
      break;
    default:
      break;
    }
  }
  return 0;
}

static int series_v2(dec_t *d, const field_t *tf) {
  remote__req_t *r = d->r;
  size_t idx = r->nseries;
  new_series(d);
  r->series[idx].lab0 = r->nrefs;
  size_t nhist = 0;
  static const char msg[] = "io.prometheus.write.v2.TimeSeries";
  const uint8_t *p = tf->data, *end = tf->data + tf->len;
  while (p < end) {
    field_t f;
    if (next_field(d, &p, end, &f) != 0) return PH_EPARSE;
    switch (f.num) {
    case 1:
      if (f.wt == 0) {
        push_ref(d, f.v);
      } else {
        if (want(d, &f, 2, msg, "labels_refs") != 0) return PH_EPARSE;
        const uint8_t *q = f.data, *qend = f.data + f.len;
        while (q < qend) {
          uint64_t v;
          if (varint(d, &q, qend, &v) != 0) return PH_EPARSE;
          push_ref(d, v);
        }
      }
      break;
    case 2:
      if (want(d, &f, 2, msg, "samples") != 0) return PH_EPARSE;
      if (sample(d, &f, "io.prometheus.write.v2.Sample") != 0) return PH_EPARSE;
      break;
    case 3:
      if (want(d, &f, 2, msg, "histograms") != 0) return PH_EPARSE;
      nhist++;
      break;
    case 4:
      if (want(d, &f, 2, msg, "exemplars") != 0) return PH_EPARSE;
      break;
    case 5:
      if (want(d, &f, 2, msg, "metadata") != 0) return PH_EPARSE;
      if (metadata_v2(d, &f, &r->series[idx]) != 0) return PH_EPARSE;
      break;
    case 6:
      if (want(d, &f, 0, msg, "created_timestamp") != 0) return PH_EPARSE;
      break;
    default:
      break;
    }
  }
  remote__series_t *s = &r->series[idx];
  s->nlab = r->nrefs - s->lab0; /* references, not pairs */
  s->nsmp = r->nsamples - s->smp0;
  s->nhist = nhist;
  return 0;
}

int remote__decode_v2(remote__req_t *r, const uint8_t *buf, size_t n, char *err,
                      size_t errlen) {
  remote__req_reset(r);
  dec_t d = {buf, r, err, errlen, 0, decode_budget(n)};
  const uint8_t *p = buf, *end = buf + n;
  while (p < end) {
    field_t f;
    if (next_field(&d, &p, end, &f) != 0) return PH_EPARSE;
    if (f.num == 4) {
      if (want(&d, &f, 2, "io.prometheus.write.v2.Request", "symbols") != 0)
        return PH_EPARSE;
      push_str(&d, str_of(&f));
    } else if (f.num == 5) {
      if (want(&d, &f, 2, "io.prometheus.write.v2.Request", "timeseries") != 0 ||
          series_v2(&d, &f) != 0)
        return PH_EPARSE;
    }
  }
  return d.used > d.budget ? over_budget(&d) : 0;
}

/* ==== part 2: the series cache ============================================ */

#define CACHE_SHARDS 64
#define SCRATCH_KEEP_BYTES ((size_t)16 << 20)

typedef struct centry {
  struct centry *next;
  uint64_t hash;
  uint64_t ref;
  size_t len;
  uint8_t key[];
} centry_t;

typedef struct shard {
  pthread_mutex_t mu;
  centry_t **b; /* owned, nb buckets */
  size_t nb, n;
} shard_t;

struct remote_write_cache {
  tsdb_t *db; /* borrowed: the db the references belong to */
  size_t max_per_shard;
  shard_t shards[CACHE_SHARDS];
  atomic_uint_fast64_t hits, misses, stale, evictions;
  pthread_mutex_t pool_mu;
  remote__scratch_t *pool; /* owned free list */
};

remote_write_cache_t *remote_write_cache_new(tsdb_t *db, size_t max_series) {
  remote_write_cache_t *c = ph_calloc(1, sizeof *c);
  c->db = db;
  if (max_series == 0) max_series = (size_t)1 << 20;
  c->max_per_shard = (max_series + CACHE_SHARDS - 1) / CACHE_SHARDS;
  for (int i = 0; i < CACHE_SHARDS; i++) pthread_mutex_init(&c->shards[i].mu, NULL);
  pthread_mutex_init(&c->pool_mu, NULL);
  return c;
}

static void shard_clear(shard_t *sh) {
  for (size_t i = 0; i < sh->nb; i++) {
    centry_t *e = sh->b[i];
    while (e != NULL) {
      centry_t *next = e->next;
      free(e);
      e = next;
    }
    sh->b[i] = NULL;
  }
  sh->n = 0;
}

static void scratch_free(remote__scratch_t *s) {
  free(s->body);
  remote__req_free(&s->req);
  free(s->chars);
  free(s->key);
  free(s);
}

void remote_write_cache_free(remote_write_cache_t *c) {
  if (c == NULL) return;
  for (int i = 0; i < CACHE_SHARDS; i++) {
    shard_clear(&c->shards[i]);
    free(c->shards[i].b);
    pthread_mutex_destroy(&c->shards[i].mu);
  }
  while (c->pool != NULL) {
    remote__scratch_t *next = c->pool->next;
    scratch_free(c->pool);
    c->pool = next;
  }
  pthread_mutex_destroy(&c->pool_mu);
  free(c);
}

tsdb_t *remote__cache_db(const remote_write_cache_t *c) { return c->db; }

void remote_write_cache_stats(remote_write_cache_t *c,
                              remote_write_cache_stats_t *st) {
  memset(st, 0, sizeof *st);
  if (c == NULL) return;
  st->hits = atomic_load(&c->hits);
  st->misses = atomic_load(&c->misses);
  st->stale = atomic_load(&c->stale);
  st->evictions = atomic_load(&c->evictions);
  for (int i = 0; i < CACHE_SHARDS; i++) {
    pthread_mutex_lock(&c->shards[i].mu);
    st->entries += c->shards[i].n;
    pthread_mutex_unlock(&c->shards[i].mu);
  }
}

uint64_t remote__cache_hash(const void *key, size_t len) {
  return XXH3_64bits(key, len);
}

static shard_t *shard_of(remote_write_cache_t *c, uint64_t hash) {
  return &c->shards[hash % CACHE_SHARDS];
}

/* The bucket index uses the bits above those that chose the shard. */
static size_t bucket_of(const shard_t *sh, uint64_t hash) {
  return (size_t)(hash / CACHE_SHARDS) & (sh->nb - 1);
}

static centry_t *find(shard_t *sh, const void *key, size_t len, uint64_t hash) {
  if (sh->nb == 0) return NULL;
  for (centry_t *e = sh->b[bucket_of(sh, hash)]; e != NULL; e = e->next)
    if (e->hash == hash && e->len == len && memcmp(e->key, key, len) == 0) return e;
  return NULL;
}

bool remote__cache_get(remote_write_cache_t *c, const void *key, size_t len,
                       uint64_t hash, uint64_t *ref) {
  shard_t *sh = shard_of(c, hash);
  pthread_mutex_lock(&sh->mu);
  centry_t *e = find(sh, key, len, hash);
  if (e != NULL) *ref = e->ref;
  pthread_mutex_unlock(&sh->mu);
  return e != NULL;
}

void remote__cache_count(remote_write_cache_t *c, uint64_t hits, uint64_t misses,
                         uint64_t stale) {
  atomic_fetch_add_explicit(&c->hits, hits, memory_order_relaxed);
  atomic_fetch_add_explicit(&c->misses, misses, memory_order_relaxed);
  atomic_fetch_add_explicit(&c->stale, stale, memory_order_relaxed);
}

static void grow(shard_t *sh) {
  size_t nb = sh->nb ? sh->nb * 2 : 16;
  centry_t **b = ph_calloc(nb, sizeof *b);
  for (size_t i = 0; i < sh->nb; i++) {
    centry_t *e = sh->b[i];
    while (e != NULL) {
      centry_t *next = e->next;
      size_t k = (size_t)(e->hash / CACHE_SHARDS) & (nb - 1);
      e->next = b[k];
      b[k] = e;
      e = next;
    }
  }
  free(sh->b);
  sh->b = b;
  sh->nb = nb;
}

void remote__cache_put(remote_write_cache_t *c, const void *key, size_t len,
                       uint64_t hash, uint64_t ref) {
  shard_t *sh = shard_of(c, hash);
  pthread_mutex_lock(&sh->mu);
  centry_t *e = find(sh, key, len, hash);
  if (e != NULL) {
    e->ref = ref;
    pthread_mutex_unlock(&sh->mu);
    return;
  }
  if (sh->n >= c->max_per_shard) {
    atomic_fetch_add_explicit(&c->evictions, sh->n, memory_order_relaxed);
    shard_clear(sh);
  }
  if (sh->n >= sh->nb) grow(sh);
  e = ph_malloc(sizeof *e + len);
  e->hash = hash;
  e->ref = ref;
  e->len = len;
  memcpy(e->key, key, len);
  size_t k = bucket_of(sh, hash);
  e->next = sh->b[k];
  sh->b[k] = e;
  sh->n++;
  pthread_mutex_unlock(&sh->mu);
}

remote__scratch_t *remote__scratch_get(remote_write_cache_t *c) {
  remote__scratch_t *s = NULL;
  if (c != NULL) {
    pthread_mutex_lock(&c->pool_mu);
    s = c->pool;
    if (s != NULL) c->pool = s->next;
    pthread_mutex_unlock(&c->pool_mu);
  }
  if (s == NULL) s = ph_calloc(1, sizeof *s);
  s->next = NULL;
  return s;
}

void remote__scratch_put(remote_write_cache_t *c, remote__scratch_t *s) {
  if (s == NULL) return;
  size_t held = s->body_cap + remote__req_bytes(&s->req) + s->chars_cap + s->key_cap;
  if (c == NULL || held > SCRATCH_KEEP_BYTES) {
    scratch_free(s);
    return;
  }
  pthread_mutex_lock(&c->pool_mu);
  s->next = c->pool;
  c->pool = s;
  pthread_mutex_unlock(&c->pool_mu);
}

/* ==== part 3: the receiver ================================================ */

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
  remote_write_cache_t *cache; /* NULL: every series by its labels */
  remote__scratch_t *sc;
  const remote__req_t *req;
  remote_write_proto_t proto;
  int64_t max_t;      /* samples after this are too far in the future */
  size_t nerr_lines;  /* error lines written to res->message */
  uint64_t more_errs; /* further errors not written */
  label_t *pairs;     /* scratch, owned */
  size_t pairs_cap;
  labels_builder_t *lb; /* for describing invalid label sets; lazily made */
  strbuf_t mname, mhelp, munit; /* metadata strings, NUL-terminated */
  uint64_t hits, misses, stale; /* cache counts, added to it once */
  int fatal;            /* a storage error: answer 500 */
} wctx_t;

/* The series being appended. */
typedef struct cur {
  const remote__series_t *s;
  labels_t *ls;       /* built when needed; owned */
  const uint8_t *key; /* cache key (view) or NULL */
  size_t klen;
  uint64_t hash;
  uint64_t ref;
  bool have_ref;
  bool cached; /* the cache holds ref for key */
} cur_t;

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

/* Name and value strings of label j of s (v2 references already checked). */
static void pair_strs(const wctx_t *c, const remote__series_t *s, size_t j,
                      const remote__str_t **name, const remote__str_t **value) {
  const remote__req_t *r = c->req;
  if (c->proto == REMOTE_WRITE_V2) {
    *name = &r->strs[r->refs[s->lab0 + 2 * j]];
    *value = &r->strs[r->refs[s->lab0 + 2 * j + 1]];
  } else {
    *name = &r->strs[s->lab0 + 2 * j];
    *value = &r->strs[s->lab0 + 2 * j + 1];
  }
}

static size_t npairs(const wctx_t *c, const remote__series_t *s) {
  return c->proto == REMOTE_WRITE_V2 ? s->nlab / 2 : s->nlab;
}

/* The series' labels as NUL-terminated pairs (in c->pairs, strings in the
 * scratch; valid until the next call).  A string with a NUL byte reads as
 * its part before the NUL, as with protobuf-c's strings. */
static label_t *series_pairs(wctx_t *c, const remote__series_t *s, size_t *n) {
  *n = npairs(c, s);
  size_t need = 1;
  for (size_t j = 0; j < *n; j++) {
    const remote__str_t *nm, *v;
    pair_strs(c, s, j, &nm, &v);
    need += nm->len + v->len + 2;
  }
  remote__scratch_t *sc = c->sc;
  if (need > sc->chars_cap) ph_grow(&sc->chars, &sc->chars_cap, need);
  if (*n > c->pairs_cap) ph_grow(&c->pairs, &c->pairs_cap, *n);
  char *p = sc->chars;
  for (size_t j = 0; j < *n; j++) {
    const remote__str_t *nm, *v;
    pair_strs(c, s, j, &nm, &v);
    c->pairs[j].name = p;
    memcpy(p, nm->p, nm->len);
    p += nm->len;
    *p++ = '\0';
    c->pairs[j].value = p;
    memcpy(p, v->p, v->len);
    p += v->len;
    *p++ = '\0';
  }
  return c->pairs;
}

/* The cache key of s: the raw Label bytes when the decoder found them
 * adjacent (v1), else 0x00 then, per label, 4-byte little-endian length
 * and bytes of name and value.  A raw key starts with the Label tag 0x0a,
 * so the two kinds never collide. */
static const uint8_t *series_key(wctx_t *c, const remote__series_t *s,
                                 size_t *klen) {
  if (s->key != NULL) {
    *klen = s->keylen;
    return s->key;
  }
  size_t n = npairs(c, s), need = 1;
  for (size_t j = 0; j < n; j++) {
    const remote__str_t *nm, *v;
    pair_strs(c, s, j, &nm, &v);
    need += 8 + nm->len + v->len;
  }
  remote__scratch_t *sc = c->sc;
  if (need > sc->key_cap) ph_grow(&sc->key, &sc->key_cap, need);
  uint8_t *p = sc->key;
  *p++ = 0;
  for (size_t j = 0; j < n; j++) {
    const remote__str_t *str[2];
    pair_strs(c, s, j, &str[0], &str[1]);
    for (int k = 0; k < 2; k++) {
      uint32_t l = (uint32_t)str[k]->len;
      for (int b = 0; b < 4; b++) *p++ = (uint8_t)(l >> (8 * b));
      memcpy(p, str[k]->p, str[k]->len);
      p += str[k]->len;
    }
  }
  *klen = (size_t)(p - sc->key);
  return sc->key;
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

/* Validates the series' labels as Prometheus 3 does (UTF-8 names and
 * values, a non-empty __name__, no repeated name) and builds the set; NULL
 * (and an error line) if invalid. */
static labels_t *build_labels(wctx_t *c, const remote__series_t *s) {
  size_t n;
  const label_t *pairs = series_pairs(c, s, &n);
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
  c->res->samples_rejected += s->nsmp;
  return NULL;
}

/* The labels of a series known to be valid (it is in the cache). */
static const labels_t *cur_labels(wctx_t *c, cur_t *u) {
  if (u->ls == NULL) {
    u->ls = build_labels(c, u->s);
    ph_assert(u->ls != NULL);
  }
  return u->ls;
}

/* Appends one sample of the current series, by reference when it has one. */
static void append_sample(wctx_t *c, cur_t *u, int64_t t, double v) {
  if (c->fatal) return;
  int rc;
  if (t > c->max_t) {
    rc = PH_EOUTOFBOUNDS;
  } else {
    rc = PH_ENOTFOUND;
    if (u->have_ref) {
      rc = tsdb_append_ref(c->app, u->ref, t, v);
      if (rc == PH_ENOTFOUND) {
        u->have_ref = false;
        if (u->cached) c->stale++;
        u->cached = false;
      }
    }
    if (rc == PH_ENOTFOUND) {
      uint64_t ref = 0;
      rc = tsdb_append(c->app, cur_labels(c, u), t, v, &ref);
      if (ref != 0) {
        u->ref = ref;
        u->have_ref = true;
        if (u->key != NULL && !u->cached) {
          remote__cache_put(c->cache, u->key, u->klen, u->hash, ref);
          u->cached = true;
        }
      }
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
    labels_format_braces(cur_labels(c, u), &d);
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

static void reject_histograms(wctx_t *c, cur_t *u) {
  size_t n = u->s->nhist;
  if (n == 0) return;
  c->res->histograms_rejected += n;
  strbuf_t d = STRBUF_INIT;
  labels_format_braces(cur_labels(c, u), &d);
  add_error(c,
            "native histograms are not supported by this receiver: %zu "
            "histogram sample(s) rejected for series %s",
            n, strbuf_cstr(&d));
  strbuf_free(&d);
}

/* One series: look up its key, else validate and build its labels; append
 * its samples; reject its histograms.  false if its labels are invalid. */
static bool write_series(wctx_t *c, cur_t *u) {
  const remote__series_t *s = u->s;
  if (c->cache != NULL && s->nlab > 0) {
    u->key = series_key(c, s, &u->klen);
    u->hash = remote__cache_hash(u->key, u->klen);
    u->cached = u->have_ref =
        remote__cache_get(c->cache, u->key, u->klen, u->hash, &u->ref);
    if (u->cached) c->hits++;
    else c->misses++;
  }
  if (!u->have_ref) {
    u->ls = build_labels(c, s);
    if (u->ls == NULL) {
      c->res->histograms_rejected += s->nhist;
      return false;
    }
  }
  for (size_t k = 0; k < s->nsmp; k++) {
    const remote__sample_t *smp = &c->req->samples[s->smp0 + k];
    append_sample(c, u, smp->t, smp->v);
  }
  reject_histograms(c, u);
  return true;
}

static const char *cstr(strbuf_t *b, const remote__str_t *s) {
  strbuf_reset(b);
  strbuf_append(b, s->p, s->len);
  return strbuf_cstr(b);
}

static void write_v1(wctx_t *c) {
  const remote__req_t *r = c->req;
  for (size_t i = 0; i < r->nseries && !c->fatal; i++) {
    cur_t u = {.s = &r->series[i]};
    write_series(c, &u);
    labels_free(u.ls);
  }
  if (c->md != NULL) {
    for (size_t i = 0; i < r->nmeta; i++) {
      const remote__meta_t *m = &r->meta[i];
      const char *name = cstr(&c->mname, &m->name);
      if (name[0] == '\0') continue;
      metadata_store_put(c->md, name, (metadata_type_t)m->type,
                         cstr(&c->mhelp, &m->help), cstr(&c->munit, &m->unit));
      c->res->metadata_received++;
    }
  }
}

/* The __name__ value of a valid v2 series, NUL-terminated in c->mname. */
static const char *v2_name(wctx_t *c, const cur_t *u) {
  if (u->ls != NULL) return labels_get(u->ls, "__name__");
  for (size_t j = 0; j < u->s->nlab / 2; j++) {
    const remote__str_t *nm, *v;
    pair_strs(c, u->s, j, &nm, &v);
    if (nm->len == 8 && memcmp(nm->p, "__name__", 8) == 0) return cstr(&c->mname, v);
  }
  return "";
}

static void write_v2(wctx_t *c) {
  const remote__req_t *r = c->req;
  for (size_t i = 0; i < r->nseries && !c->fatal; i++) {
    const remote__series_t *s = &r->series[i];
    size_t nrefs = s->nlab;
    bool refs_ok = nrefs % 2 == 0;
    for (size_t j = 0; j < nrefs && refs_ok; j++)
      if (r->refs[s->lab0 + j] >= r->nstrs) refs_ok = false;
    if (!refs_ok) {
      if (nrefs % 2 != 0)
        add_error(c, "invalid labels_refs: odd length %zu", nrefs);
      else
        add_error(c,
                  "invalid labels_refs: a symbol reference is out of range "
                  "(%zu symbols)",
                  r->nstrs);
      c->res->series_invalid++;
      c->res->samples_rejected += s->nsmp;
      c->res->histograms_rejected += s->nhist;
      continue;
    }
    cur_t u = {.s = s};
    if (write_series(c, &u) && c->md != NULL && s->has_md &&
        s->md_help < r->nstrs && s->md_unit < r->nstrs) {
      const remote__str_t *help = &r->strs[s->md_help];
      const remote__str_t *unit = &r->strs[s->md_unit];
      if (s->md_type != 0 || help->len != 0 || unit->len != 0) {
        metadata_store_put(c->md, v2_name(c, &u), (metadata_type_t)s->md_type,
                           cstr(&c->mhelp, help), cstr(&c->munit, unit));
        c->res->metadata_received++;
      }
    }
    labels_free(u.ls);
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

  remote_write_cache_t *cache = o->cache;
  if (cache != NULL && remote__cache_db(cache) != db) cache = NULL;
  remote__scratch_t *sc = remote__scratch_get(cache);
  char err[512];
  size_t max = o->max_decoded_bytes ? o->max_decoded_bytes : (size_t)64 << 20;
  size_t n;
  if (remote__snappy_decode_buf(body, len, max, &sc->body, &sc->body_cap, &n, err,
                                sizeof err) != 0) {
    remote__scratch_put(cache, sc);
    strbuf_puts(&res->message, err);
    return;
  }
  int rc = proto == REMOTE_WRITE_V2
               ? remote__decode_v2(&sc->req, sc->body, n, err, sizeof err)
               : remote__decode_v1(&sc->req, sc->body, n, err, sizeof err);
  if (rc != 0) {
    strbuf_printf(&res->message, "proto: cannot decode %s: %s",
                  proto == REMOTE_WRITE_V2 ? REMOTE_WRITE_V2_NAME
                                           : REMOTE_WRITE_V1_NAME,
                  err);
    remote__scratch_put(cache, sc);
    return;
  }

  int64_t now = o->now_ms ? o->now_ms : ph_now_ms();
  int64_t ahead = o->max_ahead_ms > 0 ? o->max_ahead_ms : 10 * 60 * 1000;
  wctx_t c = {.db = db, .md = md, .res = res, .cache = cache, .sc = sc,
              .req = &sc->req, .proto = proto};
  strbuf_init(&c.mname);
  strbuf_init(&c.mhelp);
  strbuf_init(&c.munit);
  c.max_t = now > INT64_MAX - ahead ? INT64_MAX : now + ahead;
  c.app = tsdb_appender_new(db);
  if (proto == REMOTE_WRITE_V2) write_v2(&c);
  else write_v1(&c);

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
  if (cache != NULL) remote__cache_count(cache, c.hits, c.misses, c.stale);
  free(c.pairs);
  labels_builder_free(c.lb);
  strbuf_free(&c.mname);
  strbuf_free(&c.mhelp);
  strbuf_free(&c.munit);
  remote__scratch_put(cache, sc);
}
