/*
 * remote_int.h - helpers shared by the remote write and remote read files
 * (private to collector/remote*.c).
 *
 * remote__pbc_allocator() wraps an arena as a ProtobufCAllocator: alloc
 * bumps the arena (NULL once its budget is spent, which makes protobuf-c's
 * unpack fail cleanly), free does nothing; the arena is released as a whole
 * when the request is done.  remote__snappy_decode() checks the claimed
 * decompressed length against a limit before decompressing into the arena.
 *
 * The remote write receiver does not use protobuf-c: remote_write.c walks the
 * wire format into a remote__req_t (flat arrays of views into the decoded
 * buffer, reused between requests), and its series cache maps the raw bytes
 * of a series' labels to its TSDB reference, so a series seen before is
 * appended without building its labels.
 */
#ifndef PH_REMOTE_INT_H
#define PH_REMOTE_INT_H

#include "arena.h"
#include "strbuf.h"

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Fills *pa so protobuf-c allocates from a (which must outlive every
 * message unpacked with it). */
void remote__pbc_allocator(arena_t *a, ProtobufCAllocator *pa);

/* Snappy block format -> *out (in a).  PH_EPARSE "snappy: corrupt input",
 * PH_ELIMIT when the decompressed length is over max, with err set. */
int remote__snappy_decode(arena_t *a, const void *in, size_t len, size_t max,
                          uint8_t **out, size_t *outlen, char *err,
                          size_t errlen);
/* Appends the snappy block compression of in to out. */
void remote__snappy_encode(const void *in, size_t len, strbuf_t *out);

/* Arena budget for unpacking a decoded message of n bytes: protobuf-c's
 * structs take several times the wire size (a 2-byte empty sub-message
 * becomes a struct of up to ~230 bytes and a pointer); 128x, at most
 * 512 MiB. */
size_t remote__decode_budget(size_t n);

/* Snappy block format -> *buf (malloc'd, grown as needed and kept: *cap is
 * its capacity).  Same errors as remote__snappy_decode. */
int remote__snappy_decode_buf(const void *in, size_t len, size_t max,
                              uint8_t **buf, size_t *cap, size_t *outlen,
                              char *err, size_t errlen);

bool remote__valid_utf8(const char *s, size_t len);

/* CRC32 (Castagnoli), as in the frames of a streamed remote read. */
uint32_t remote__crc32c(const void *p, size_t n);

/* ---- the write request decoder (remote_write.c, part 1) ------------------ */

/* A string of the request: a view into the decoded buffer, not
 * NUL-terminated; valid while that buffer is. */
typedef struct remote__str {
  const char *p;
  size_t len;
} remote__str_t;

typedef struct remote__sample {
  int64_t t;
  double v;
} remote__sample_t;

typedef struct remote__series {
  const uint8_t *key; /* v1: the raw bytes of its Label fields when they are
                         adjacent (else NULL); a view into the buffer */
  size_t keylen;
  size_t lab0, nlab;  /* v1: pairs at strs[lab0 + 2j], strs[lab0 + 2j + 1],
                         j < nlab; v2: nlab references at refs[lab0] */
  size_t smp0, nsmp;  /* samples[smp0 .. smp0 + nsmp) */
  size_t nhist;       /* histograms (counted, never decoded) */
  bool has_md;        /* v2 metadata */
  int32_t md_type;
  uint32_t md_help, md_unit;
} remote__series_t;

typedef struct remote__meta { /* v1 MetricMetadata */
  int32_t type;
  remote__str_t name, help, unit;
} remote__meta_t;

/* One decoded request.  Owned by its user; the arrays are kept between
 * requests (remote__req_reset) and freed by remote__req_free. */
typedef struct remote__req {
  remote__series_t *series;
  size_t nseries, series_cap;
  remote__str_t *strs; /* v1: label names and values; v2: symbols */
  size_t nstrs, strs_cap;
  uint32_t *refs; /* v2 labels_refs */
  size_t nrefs, refs_cap;
  remote__sample_t *samples;
  size_t nsamples, samples_cap;
  remote__meta_t *meta; /* v1 */
  size_t nmeta, meta_cap;
} remote__req_t;

/* Decode the whole message (n bytes at buf, which must outlive the views
 * in r) into r.  PH_EPARSE with the problem and its byte offset in err;
 * also (with its own message) when the decoded arrays would pass 64 times
 * n bytes (at most 256 MiB), which no real request comes near. */
int remote__decode_v1(remote__req_t *r, const uint8_t *buf, size_t n, char *err,
                      size_t errlen);
int remote__decode_v2(remote__req_t *r, const uint8_t *buf, size_t n, char *err,
                      size_t errlen);
void remote__req_reset(remote__req_t *r);
void remote__req_free(remote__req_t *r);
size_t remote__req_bytes(const remote__req_t *r); /* capacity held */

/* ---- the series cache (remote_write.c, part 2) ---------------------------- */

typedef struct remote_write_cache remote_write_cache_t; /* remote.h */

typedef struct tsdb tsdb_t;
tsdb_t *remote__cache_db(const remote_write_cache_t *c);
uint64_t remote__cache_hash(const void *key, size_t len);
/* The reference stored for key; false when absent. */
bool remote__cache_get(remote_write_cache_t *c, const void *key, size_t len,
                       uint64_t hash, uint64_t *ref);
/* Stores (or replaces) key -> ref. */
void remote__cache_put(remote_write_cache_t *c, const void *key, size_t len,
                       uint64_t hash, uint64_t ref);
/* Adds one request's lookups that hit and missed, and the cached
 * references the TSDB no longer knew, to the statistics (once per
 * request: no shared counter written per series). */
void remote__cache_count(remote_write_cache_t *c, uint64_t hits, uint64_t misses,
                         uint64_t stale);

/* Per-request scratch: the decoded body, the decoded request and buffers
 * for building label sets.  Taken from the cache's pool (or made afresh
 * when c is NULL) and given back after the request. */
typedef struct remote__scratch {
  uint8_t *body; /* snappy-decoded request */
  size_t body_cap;
  remote__req_t req;
  char *chars; /* NUL-terminated copies of label strings */
  size_t chars_cap;
  uint8_t *key; /* keys built from strings (v2, or non-adjacent v1 labels) */
  size_t key_cap;
  struct remote__scratch *next; /* pool link */
} remote__scratch_t;

remote__scratch_t *remote__scratch_get(remote_write_cache_t *c);
void remote__scratch_put(remote_write_cache_t *c, remote__scratch_t *s);

#endif
