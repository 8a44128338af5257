/*
 * remote_read.c - the remote read endpoint's logic (contract in remote.h).
 *
 * The request is decoded like a write (snappy into an arena, protobuf-c
 * with the arena as allocator).  Each query becomes one querier over
 * [start_timestamp_ms, end_timestamp_ms] and one tsdb_select.
 *
 * SAMPLES.  A ReadResponse is written series by series without building
 * the whole message tree: each Label and Sample is a stack struct packed by
 * protobuf-c, and the three enclosing levels (TimeSeries in QueryResult in
 * ReadResponse, all field 1 or 2, length-delimited) get their tag and
 * length written here once their body is complete:
 *
 *   ReadResponse  := { 0x0a len(QueryResult) QueryResult }   per query
 *   QueryResult   := { 0x0a len(TimeSeries)  TimeSeries  }   per series
 *   TimeSeries    := { 0x0a len(Label) Label }* { 0x12 len(Sample) Sample }*
 *
 * so memory is the answer plus one series, not a struct per sample.  The
 * result is snappy block compressed.
 *
 * STREAMED_XOR_CHUNKS.  Samples of a series are cut into Prometheus XOR
 * chunks of up to 120 samples (remote_xor.c); chunks accumulate until their
 * bytes reach max_bytes_in_frame, then one ChunkedReadResponse with that
 * series (labels and the chunks so far) is packed and framed:
 *
 *   uvarint(len(msg)) | CRC32C(msg) as 4 bytes big endian | msg
 *
 * Limits: the decompressed request, the SAMPLES sample count (as
 * Prometheus's --storage.remote.read-sample-limit) and the total answer
 * size; each gives 400 with a message.  External labels are not added.
 */
#include "remote.h"

#include "remote_int.h"

#include "arena.h"
#include "labels.h"
#include "mem.h"
#include "ph_error.h"
#include "tsdb.h"

#include "proto/remote.pb-c.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define TEXT_CT "text/plain; charset=utf-8"
#define SAMPLES_PER_CHUNK 120

void remote_read_opts_default(remote_read_opts_t *o) {
  o->max_decoded_bytes = (size_t)16 << 20;
  o->sample_limit = 50000000;
  o->max_bytes_in_frame = (size_t)1 << 20;
  o->max_response_bytes = (size_t)1 << 30;
}

void remote_read_result_free(remote_read_result_t *res) {
  strbuf_free(&res->body);
}

/* ---- wire helpers --------------------------------------------------------- */

static void put_uvarint(strbuf_t *b, uint64_t x) {
  uint8_t tmp[10];
  size_t n = 0;
  while (x >= 0x80) {
    tmp[n++] = (uint8_t)(x | 0x80);
    x >>= 7;
  }
  tmp[n++] = (uint8_t)x;
  strbuf_append(b, tmp, n);
}

/* Tag and length of a length-delimited field. */
static void put_len_field(strbuf_t *b, unsigned field, size_t len) {
  put_uvarint(b, ((uint64_t)field << 3) | 2u);
  put_uvarint(b, len);
}

/* Packs msg as field `field` of the enclosing message in b. */
static void put_message(strbuf_t *b, unsigned field, const ProtobufCMessage *m) {
  size_t sz = protobuf_c_message_get_packed_size(m);
  put_len_field(b, field, sz);
  strbuf_reserve(b, sz);
  size_t got = protobuf_c_message_pack(m, (uint8_t *)b->data + b->len);
  ph_assert(got == sz);
  b->len += sz;
  b->data[b->len] = '\0';
}

/* ---- the request ---------------------------------------------------------- */

typedef struct rctx {
  tsdb_t *db;
  const remote_read_opts_t *o;
  remote_read_result_t *res;
  strbuf_t out;     /* the answer being built */
  strbuf_t scratch; /* one series or one query result */
  uint64_t samples; /* SAMPLES: emitted so far */
} rctx_t;

static void fail(rctx_t *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(rctx_t *c, int status, const char *fmt, ...) {
  c->res->status = status;
  c->res->content_type = TEXT_CT;
  c->res->content_encoding = NULL;
  strbuf_reset(&c->res->body);
  va_list ap;
  va_start(ap, fmt);
  strbuf_vprintf(&c->res->body, fmt, ap);
  va_end(ap);
}

static bool too_big(rctx_t *c, size_t extra) {
  if (c->out.len + extra <= c->o->max_response_bytes) return false;
  fail(c, 400,
       "remote read response exceeds the limit of %zu bytes; narrow the query",
       c->o->max_response_bytes);
  return true;
}

/* Converts the query's matchers; false (and the answer set) when invalid. */
static bool convert_matchers(rctx_t *c, const Prometheus__Query *q,
                             tsdb_matcher_t *m) {
  for (size_t i = 0; i < q->n_matchers; i++) {
    const Prometheus__LabelMatcher *lm = q->matchers[i];
    switch (lm->type) {
    case PROMETHEUS__LABEL_MATCHER__TYPE__EQ: m[i].type = TSDB_MATCH_EQ; break;
    case PROMETHEUS__LABEL_MATCHER__TYPE__NEQ: m[i].type = TSDB_MATCH_NEQ; break;
    case PROMETHEUS__LABEL_MATCHER__TYPE__RE: m[i].type = TSDB_MATCH_RE; break;
    case PROMETHEUS__LABEL_MATCHER__TYPE__NRE: m[i].type = TSDB_MATCH_NRE; break;
    default:
      fail(c, 400, "invalid matcher type %d", (int)lm->type);
      return false;
    }
    m[i].name = lm->name;
    m[i].value = lm->value;
  }
  return true;
}

static void put_labels(strbuf_t *b, const labels_t *ls) {
  for (size_t i = 0; i < labels_len(ls); i++) {
    const label_t *l = labels_at(ls, i);
    Prometheus__Label pl = PROMETHEUS__LABEL__INIT;
    pl.name = (char *)l->name;
    pl.value = (char *)l->value;
    put_message(b, 1, &pl.base);
  }
}

/* SAMPLES: appends query i's QueryResult to c->out; false on failure. */
static bool samples_query(rctx_t *c, tsdb_series_set_t *set) {
  strbuf_t qr = STRBUF_INIT;
  bool ok = true;
  while (ok && tsdb_series_set_next(set)) {
    strbuf_reset(&c->scratch);
    put_labels(&c->scratch, tsdb_series_set_labels(set));
    tsdb_iterator_t *it = tsdb_series_set_iterator(set);
    while (tsdb_iterator_next(it)) {
      if (++c->samples > c->o->sample_limit) {
        fail(c, 400, "exceeded sample limit (%llu)",
             (unsigned long long)c->o->sample_limit);
        ok = false;
        break;
      }
      Prometheus__Sample s = PROMETHEUS__SAMPLE__INIT;
      tsdb_iterator_at(it, &s.timestamp, &s.value);
      put_message(&c->scratch, 2, &s.base);
      if ((c->samples & 1023) == 0 && too_big(c, qr.len + c->scratch.len)) {
        ok = false;
        break;
      }
    }
    if (ok && tsdb_iterator_err(it) != 0) {
      fail(c, 500, "error reading series: %s",
           ph_strerror(tsdb_iterator_err(it)));
      ok = false;
    }
    if (!ok) break;
    put_len_field(&qr, 1, c->scratch.len);
    strbuf_append(&qr, c->scratch.data, c->scratch.len);
    if (too_big(c, qr.len)) ok = false;
  }
  if (ok) {
    put_len_field(&c->out, 1, qr.len);
    if (qr.len) strbuf_append(&c->out, qr.data, qr.len);
  }
  strbuf_free(&qr);
  return ok;
}

/* STREAMED: frames of one series. */
typedef struct chunk_acc {
  Prometheus__Chunk *chunks; /* owned; data pointers fixed up at flush */
  size_t *offs;              /* owned: chunk data offsets in bytes */
  size_t n, cap, offs_cap;
  strbuf_t bytes;            /* the chunks' data, back to back */
} chunk_acc_t;

static void write_frame(rctx_t *c, const labels_t *ls, chunk_acc_t *acc,
                        int64_t query_index) {
  Prometheus__Label *lab = ph_calloc(labels_len(ls) + 1, sizeof(*lab));
  Prometheus__Label **labp = ph_calloc(labels_len(ls) + 1, sizeof(*labp));
  for (size_t i = 0; i < labels_len(ls); i++) {
    const label_t *l = labels_at(ls, i);
    prometheus__label__init(&lab[i]);
    lab[i].name = (char *)l->name;
    lab[i].value = (char *)l->value;
    labp[i] = &lab[i];
  }
  Prometheus__Chunk **chp = ph_calloc(acc->n + 1, sizeof(*chp));
  for (size_t i = 0; i < acc->n; i++) {
    acc->chunks[i].data.data = (uint8_t *)acc->bytes.data + acc->offs[i];
    chp[i] = &acc->chunks[i];
  }
  Prometheus__ChunkedSeries cs = PROMETHEUS__CHUNKED_SERIES__INIT;
  cs.n_labels = labels_len(ls);
  cs.labels = labp;
  cs.n_chunks = acc->n;
  cs.chunks = chp;
  Prometheus__ChunkedSeries *csp = &cs;
  Prometheus__ChunkedReadResponse r = PROMETHEUS__CHUNKED_READ_RESPONSE__INIT;
  r.n_chunked_series = 1;
  r.chunked_series = &csp;
  r.query_index = query_index;
  size_t sz = prometheus__chunked_read_response__get_packed_size(&r);
  strbuf_reset(&c->scratch);
  strbuf_reserve(&c->scratch, sz);
  size_t got = prometheus__chunked_read_response__pack(&r, (uint8_t *)c->scratch.data);
  ph_assert(got == sz);
  c->scratch.len = sz;
  put_uvarint(&c->out, sz);
  uint32_t crc = remote__crc32c(c->scratch.data, sz);
  uint8_t be[4] = {(uint8_t)(crc >> 24), (uint8_t)(crc >> 16), (uint8_t)(crc >> 8),
                   (uint8_t)crc};
  strbuf_append(&c->out, be, 4);
  strbuf_append(&c->out, c->scratch.data, sz);
  free(chp);
  free(labp);
  free(lab);
  acc->n = 0;
  strbuf_reset(&acc->bytes);
}

static void acc_add(chunk_acc_t *acc, remote_xor_enc_t *enc, int64_t mint,
                    int64_t maxt) {
  size_t len;
  const uint8_t *b = remote_xor_enc_bytes(enc, &len);
  ph_grow(&acc->chunks, &acc->cap, acc->n + 1);
  ph_grow(&acc->offs, &acc->offs_cap, acc->n + 1);
  Prometheus__Chunk *ch = &acc->chunks[acc->n];
  prometheus__chunk__init(ch);
  ch->min_time_ms = mint;
  ch->max_time_ms = maxt;
  ch->type = PROMETHEUS__CHUNK__ENCODING__XOR;
  ch->data.len = len;
  acc->offs[acc->n] = acc->bytes.len;
  strbuf_append(&acc->bytes, b, len);
  acc->n++;
  remote_xor_enc_reset(enc);
}

static bool streamed_query(rctx_t *c, tsdb_series_set_t *set, int64_t qi) {
  chunk_acc_t acc = {0};
  remote_xor_enc_t enc;
  remote_xor_enc_init(&enc);
  bool ok = true;
  while (ok && tsdb_series_set_next(set)) {
    const labels_t *ls = tsdb_series_set_labels(set);
    tsdb_iterator_t *it = tsdb_series_set_iterator(set);
    int64_t mint = 0, t = 0;
    double v;
    while (tsdb_iterator_next(it)) {
      tsdb_iterator_at(it, &t, &v);
      if (remote_xor_enc_count(&enc) == 0) mint = t;
      remote_xor_enc_append(&enc, t, v);
      if (remote_xor_enc_count(&enc) < SAMPLES_PER_CHUNK) continue;
      acc_add(&acc, &enc, mint, t);
      if (acc.bytes.len >= c->o->max_bytes_in_frame) {
        if (too_big(c, acc.bytes.len)) {
          ok = false;
          break;
        }
        write_frame(c, ls, &acc, qi);
      }
    }
    if (ok && tsdb_iterator_err(it) != 0) {
      fail(c, 500, "error reading series: %s",
           ph_strerror(tsdb_iterator_err(it)));
      ok = false;
    }
    if (!ok) break;
    if (remote_xor_enc_count(&enc) > 0) acc_add(&acc, &enc, mint, t);
    if (acc.n > 0) {
      if (too_big(c, acc.bytes.len)) {
        ok = false;
        break;
      }
      write_frame(c, ls, &acc, qi);
    }
  }
  remote_xor_enc_free(&enc);
  free(acc.chunks);
  free(acc.offs);
  strbuf_free(&acc.bytes);
  return ok;
}

static bool run_query(rctx_t *c, const Prometheus__Query *q, size_t qi,
                      bool streamed) {
  tsdb_matcher_t *m = ph_calloc(q->n_matchers + 1, sizeof(*m));
  bool ok = convert_matchers(c, q, m);
  tsdb_querier_t *qr = NULL;
  tsdb_series_set_t *set = NULL;
  if (ok) {
    int rc = tsdb_querier_open(c->db, q->start_timestamp_ms, q->end_timestamp_ms, &qr);
    if (rc != 0) {
      fail(c, 500, "cannot open a querier: %s", ph_strerror(rc));
      ok = false;
    }
  }
  if (ok) {
    char err[512];
    int rc = tsdb_select(qr, m, q->n_matchers, &set, err, sizeof err);
    if (rc != 0) {
      fail(c, rc == PH_EPARSE || rc == PH_EINVAL ? 400 : 500, "%s", err);
      ok = false;
    }
  }
  if (ok)
    ok = streamed ? streamed_query(c, set, (int64_t)qi) : samples_query(c, set);
  if (set != NULL) tsdb_series_set_free(set);
  if (qr != NULL) tsdb_querier_close(qr);
  free(m);
  return ok;
}

void remote_read(tsdb_t *db, const void *body, size_t len,
                 const remote_read_opts_t *o, remote_read_result_t *res) {
  remote_read_opts_t def;
  if (o == NULL) {
    remote_read_opts_default(&def);
    o = &def;
  }
  memset(res, 0, sizeof *res);
  strbuf_init(&res->body);
  rctx_t c = {.db = db, .o = o, .res = res};
  strbuf_init(&c.out);
  strbuf_init(&c.scratch);

  char err[512];
  size_t max = o->max_decoded_bytes ? o->max_decoded_bytes : (size_t)16 << 20;
  arena_t *a = arena_new(max + 64);
  arena_t *da = NULL;
  uint8_t *buf;
  size_t n;
  if (remote__snappy_decode(a, body, len, max, &buf, &n, err, sizeof err) != 0) {
    fail(&c, 400, "%s", err);
    goto done;
  }
  da = arena_new(remote__decode_budget(n));
  ProtobufCAllocator pa;
  remote__pbc_allocator(da, &pa);
  Prometheus__ReadRequest *req = prometheus__read_request__unpack(&pa, n, buf);
  if (req == NULL) {
    fail(&c, 400, "proto: cannot decode prometheus.ReadRequest: malformed or "
                  "truncated message");
    goto done;
  }

  /* The first accepted response type we support; none listed = SAMPLES. */
  bool streamed = false, chosen = req->n_accepted_response_types == 0;
  for (size_t i = 0; i < req->n_accepted_response_types && !chosen; i++) {
    int t = (int)req->accepted_response_types[i];
    if (t == PROMETHEUS__READ_REQUEST__RESPONSE_TYPE__SAMPLES ||
        t == PROMETHEUS__READ_REQUEST__RESPONSE_TYPE__STREAMED_XOR_CHUNKS) {
      streamed = t == PROMETHEUS__READ_REQUEST__RESPONSE_TYPE__STREAMED_XOR_CHUNKS;
      chosen = true;
    }
  }
  if (!chosen) {
    strbuf_t l = STRBUF_INIT;
    for (size_t i = 0; i < req->n_accepted_response_types; i++)
      strbuf_printf(&l, "%s%d", i ? " " : "", (int)req->accepted_response_types[i]);
    fail(&c, 400,
         "server does not support any of the requested response types: [%s]; "
         "supported: [SAMPLES STREAMED_XOR_CHUNKS]",
         strbuf_cstr(&l));
    strbuf_free(&l);
    goto done;
  }

  for (size_t i = 0; i < req->n_queries; i++)
    if (!run_query(&c, req->queries[i], i, streamed)) goto done;

  res->status = 200;
  if (streamed) {
    res->content_type = REMOTE_READ_STREAMED_CT;
    res->content_encoding = NULL;
    strbuf_free(&res->body);
    res->body = c.out;
    strbuf_init(&c.out);
  } else {
    res->content_type = REMOTE_READ_SAMPLES_CT;
    res->content_encoding = "snappy";
    remote__snappy_encode(c.out.data ? c.out.data : "", c.out.len, &res->body);
  }
done:
  strbuf_free(&c.out);
  strbuf_free(&c.scratch);
  arena_free(da);
  arena_free(a);
}
