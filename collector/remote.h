/*
 * remote.h - Prometheus remote write (receiver) and remote read (server),
 * independent of HTTP: bytes in, a status, headers and bytes out.
 *
 * Remote write.  The HTTP layer picks the message from the Content-Type
 * (remote_write_proto_from_content_type), checks Content-Encoding is
 * snappy, and hands the body to remote_write(), which:
 *   1. snappy-decodes the block into a reused per-request buffer (a
 *      decompressed length over the limit is refused before decoding);
 *   2. walks the protobuf wire format of the whole message (remote_write.c),
 *      indexing series, labels and samples as views into that buffer -
 *      nothing is allocated per series or sample, and a malformed message
 *      is refused before anything is stored;
 *   3. appends every valid series' float samples through ONE tsdb appender
 *      and commits once.  With a remote_write_cache_t (below), a series
 *      whose label bytes were seen before is appended by its TSDB
 *      reference, without building or validating its labels again.
 * Semantics follow Prometheus's storage/remote/write_handler.go with the
 * partial-write rule of remote write 2.0 applied to both versions: a series
 * with invalid labels (no or empty __name__, an empty or non-UTF-8 name, a
 * non-UTF-8 value, a repeated name, a v2 label reference out of range) and
 * samples the storage refuses (out of order, out of bounds, duplicate with
 * a different value, more than 10 minutes in the future) are skipped, the
 * rest is committed, and the answer is 400 with one line per problem; native
 * histograms are not stored and are rejected the same way.  A commit
 * failure (disk full, I/O error) writes nothing and answers 500 so the
 * sender retries.  Malformed input (bad snappy, bad protobuf) is 400 with
 * nothing stored.  Success is 204.  Metadata (v1 WriteRequest.metadata, v2
 * per-series metadata) goes to a metadata_store_t (remote_metadata.h).
 * Exemplars are accepted and ignored (Pharos has no exemplar storage).
 *
 * Remote read.  remote_read() decodes a snappy ReadRequest, runs each query
 * as one tsdb_select over [start, end] and answers in the first of the
 * request's accepted_response_types it supports (none listed = SAMPLES):
 *   SAMPLES              one ReadResponse, snappy block compressed;
 *                        Content-Type application/x-protobuf,
 *                        Content-Encoding snappy.
 *   STREAMED_XOR_CHUNKS  ChunkedReadResponse frames, each
 *                        uvarint(len) | CRC32-Castagnoli(msg), 4 bytes BE |
 *                        msg; one series per frame (a series whose chunks
 *                        exceed max_bytes_in_frame continues in the next
 *                        frame); chunks are Prometheus XOR chunks of at most
 *                        120 samples (remote_xor_* below).
 * The whole answer is built in memory (httpd has no streaming), bounded by
 * max_response_bytes.
 *
 * Thread safety: every function here may run on many threads at once for
 * different requests; the tsdb and the metadata store do their own locking.
 */
#ifndef PH_REMOTE_H
#define PH_REMOTE_H

#include "strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tsdb tsdb_t;                      /* tsdb.h */
typedef struct metadata_store metadata_store_t;  /* remote_metadata.h */

/* ---- remote write -------------------------------------------------------- */

typedef enum remote_write_proto {
  REMOTE_WRITE_V1 = 1, /* prometheus.WriteRequest (remote write 1.0) */
  REMOTE_WRITE_V2 = 2, /* io.prometheus.write.v2.Request (remote write 2.0) */
} remote_write_proto_t;

#define REMOTE_WRITE_V1_NAME "prometheus.WriteRequest"
#define REMOTE_WRITE_V2_NAME "io.prometheus.write.v2.Request"

/* From the Content-Type of a write request: "application/x-protobuf" with
 * no proto parameter (or a NULL/empty header) is 1.0; with
 * proto=prometheus.WriteRequest 1.0; proto=io.prometheus.write.v2.Request
 * 2.0.  Anything else is PH_EINVAL with the reason in err (answer 415).
 * version_header is X-Prometheus-Remote-Write-Version (may be NULL); it only
 * decides when there is no Content-Type at all ("2.x" means 2.0). */
int remote_write_proto_from_content_type(const char *content_type,
                                         const char *version_header,
                                         remote_write_proto_t *out, char *err,
                                         size_t errlen);

/* The series cache: the bytes of a series' labels as they appear in
 * requests (v1: the Label fields, raw; v2 or unusual v1 encodings: the
 * resolved strings) -> the TSDB series reference.  Prometheus sends the
 * same bytes for a series every time, so in the steady state a series is
 * one hash and one lookup.  Only label sets that passed validation are
 * stored.  A reference the TSDB no longer knows (the series was dropped
 * from the head) makes the receiver fall back to the labels and store the
 * new reference.  Bounded: a shard that reaches its share of max_series is
 * emptied.  The cache also keeps a pool of per-request buffers, so
 * steady-state requests do not allocate.  Thread-safe (sharded locks).
 *
 * Bound to one tsdb (references mean nothing elsewhere): remote_write
 * ignores a cache made for another db.  Owned by its creator; free it
 * after the last remote_write using it has returned. */
typedef struct remote_write_cache remote_write_cache_t;

/* max_series 0 = 1,048,576. */
remote_write_cache_t *remote_write_cache_new(tsdb_t *db, size_t max_series);
void remote_write_cache_free(remote_write_cache_t *c); /* NULL is fine */

typedef struct remote_write_cache_stats {
  uint64_t hits;          /* series appended by a cached reference */
  uint64_t misses;        /* series looked up and not found */
  uint64_t stale;         /* cached references the TSDB no longer knew */
  uint64_t evictions;     /* entries dropped to stay within max_series */
  uint64_t entries;       /* entries now */
} remote_write_cache_stats_t;

void remote_write_cache_stats(remote_write_cache_t *c,
                              remote_write_cache_stats_t *st);

typedef struct remote_write_opts {
  remote_write_cache_t *cache; /* may be NULL: no cache, fresh buffers */
  size_t max_decoded_bytes; /* decompressed body limit; default 64 MiB */
  int64_t now_ms;           /* "now" for the future check; 0 = the clock */
  int64_t max_ahead_ms;     /* samples later than now+this are out of
                               bounds; default 10 minutes */
} remote_write_opts_t;

void remote_write_opts_default(remote_write_opts_t *o);

typedef struct remote_write_result {
  int status;                   /* 204, 400 or 500 */
  uint64_t samples_written;     /* committed float samples */
  uint64_t histograms_written;  /* always 0 */
  uint64_t exemplars_written;   /* always 0 */
  uint64_t samples_rejected;    /* refused samples, incl. invalid series */
  uint64_t histograms_rejected;
  uint64_t series_invalid;      /* series skipped for their labels */
  uint64_t metadata_received;   /* metadata entries stored */
  strbuf_t message;             /* owned: the error text (empty on 204) */
} remote_write_result_t;

/* Decodes body (snappy + protobuf of the given message) and appends it to
 * db.  md may be NULL (metadata then dropped); o may be NULL (defaults).
 * Always fills *res; free it with remote_write_result_free. */
void remote_write(tsdb_t *db, metadata_store_t *md, remote_write_proto_t proto,
                  const void *body, size_t len, const remote_write_opts_t *o,
                  remote_write_result_t *res);
void remote_write_result_free(remote_write_result_t *res);

/* ---- remote read --------------------------------------------------------- */

#define REMOTE_READ_SAMPLES_CT "application/x-protobuf"
#define REMOTE_READ_STREAMED_CT \
  "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse"

typedef struct remote_read_opts {
  size_t max_decoded_bytes;   /* decompressed request limit; default 16 MiB */
  uint64_t sample_limit;      /* SAMPLES answers; default 50000000 */
  size_t max_bytes_in_frame;  /* STREAMED chunk bytes per frame; 1 MiB */
  size_t max_response_bytes;  /* whole answer; default 1 GiB */
} remote_read_opts_t;

void remote_read_opts_default(remote_read_opts_t *o);

typedef struct remote_read_result {
  int status;                   /* 200, 400 or 500 */
  const char *content_type;     /* static string */
  const char *content_encoding; /* "snappy" or NULL */
  strbuf_t body;                /* owned: the answer or the error text */
} remote_read_result_t;

/* Answers one remote read request (the snappy-compressed body).  o may be
 * NULL.  Free the result with remote_read_result_free. */
void remote_read(tsdb_t *db, const void *body, size_t len,
                 const remote_read_opts_t *o, remote_read_result_t *res);
void remote_read_result_free(remote_read_result_t *res);

/* ---- Prometheus XOR chunks ----------------------------------------------- */

/* The chunk encoding of Prometheus's tsdb/chunkenc/xor.go (not Pharos's own
 * chunk format), used in STREAMED_XOR_CHUNKS answers.  Bits are written
 * most significant first.
 *
 *   OFFSET  SIZE        DESCRIPTION
 *   0       2           sample count, big endian
 *   2       varint      sample 0: timestamp, zig-zag varint (8 bits per byte)
 *   -       64 bits     sample 0: value bits
 *   -       uvarint     sample 1: t1 - t0
 *   -       xor value   sample 1: value, as below
 *   -       dod, xor    sample n >= 2: delta-of-delta of the timestamp
 *                       d = (tn - tn-1) - (tn-1 - tn-2):
 *                         '0'                 d == 0
 *                         '10'   + 14 bits    -8191 <= d <= 8192
 *                         '110'  + 17 bits    -65535 <= d <= 65536
 *                         '1110' + 20 bits    -524287 <= d <= 524288
 *                         '1111' + 64 bits    otherwise
 *                       (two's complement, truncated), then the value.
 *   xor value: x = bits(v) ^ bits(previous v);
 *     '0' when x == 0; otherwise '1' then
 *     '0' + the (64 - L - T) bits of x >> T, when x fits the previous
 *         window (leading zeros >= L, trailing zeros >= T; L/T of the last
 *         '11' record);
 *     '1' + 5 bits of leading zeros (capped at 31) + 6 bits of significant
 *         bit count (64 written as 0) + the significant bits; this sets the
 *         window.
 *   The last byte is zero-padded.
 *
 * The structs are small value types; their fields are private. */
typedef struct remote_xor_enc {
  uint8_t *buf;   /* owned; freed by remote_xor_enc_free */
  size_t cap;
  size_t nbits;   /* bits written, the 2-byte header included */
  uint16_t n;
  int64_t t;
  uint64_t vbits;
  uint64_t tdelta;
  uint8_t leading, trailing;
} remote_xor_enc_t;

void remote_xor_enc_init(remote_xor_enc_t *e);
/* Starts a new, empty chunk, keeping the buffer. */
void remote_xor_enc_reset(remote_xor_enc_t *e);
void remote_xor_enc_free(remote_xor_enc_t *e);
/* Appends a sample (timestamps should increase); PH_ELIMIT once the chunk
 * holds 65535 samples. */
int remote_xor_enc_append(remote_xor_enc_t *e, int64_t t, double v);
uint16_t remote_xor_enc_count(const remote_xor_enc_t *e);
/* The chunk bytes; valid until the next append, reset or free. */
const uint8_t *remote_xor_enc_bytes(const remote_xor_enc_t *e, size_t *len);

typedef struct remote_xor_dec {
  const uint8_t *p; /* borrowed chunk bytes */
  size_t nbits, pos;
  uint16_t total, read;
  int64_t t;
  uint64_t vbits;
  uint64_t tdelta;
  uint8_t leading, trailing;
  int err;
} remote_xor_dec_t;

/* PH_ECORRUPT when data is shorter than the header.  data must outlive d. */
int remote_xor_dec_init(remote_xor_dec_t *d, const uint8_t *data, size_t len);
/* The next sample; false at the end or on corrupt data (see _err). */
bool remote_xor_dec_next(remote_xor_dec_t *d, int64_t *t, double *v);
int remote_xor_dec_err(const remote_xor_dec_t *d); /* 0 or PH_ECORRUPT */

#endif
