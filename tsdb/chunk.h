/*
 * chunk.h - sample encodings of the TSDB (module-private to tsdb/).
 *
 * Two encodings of (int64 ms timestamp, IEEE double) samples:
 *
 *   chunk_xor_t      the open head chunk: Gorilla-style delta-of-delta
 *                    timestamps and XOR-coded values in a bit stream that
 *                    grows one sample at a time (chunk_xor.c has the format).
 *                    The head cuts a chunk every ~120 samples and then calls
 *                    chunk_xor_compact() so it holds exactly its bytes.
 *   chunk_sealed_*   immutable block chunks: a whole series range encoded
 *                    at once, choosing the smallest value codec (scaled
 *                    integers with delta/delta-of-delta varints, XOR, byte
 *                    planes).  Version 1 (chunk_sealed_encode) is one
 *                    encoding with its own zstd; version 2 (the _ts and
 *                    _values functions, what blocks write now) is two
 *                    uncompressed columns that the block shares and
 *                    compresses in pages (chunk_sealed.c has the formats).
 *
 * Both are lossless for every bit pattern of a double (NaN payloads, the
 * stale marker 0x7ff0000000000002, -0.0, subnormals, +-Inf) and for every
 * int64 timestamp.  Timestamps must be strictly increasing: the caller (the
 * head appender) rejects out-of-order and duplicate samples before they get
 * here; the functions below re-check cheaply and return PH_EOUTOFORDER /
 * PH_EINVAL rather than encode garbage.
 *
 * Concurrency: a chunk_xor_t is guarded by its series' lock.  An append may
 * reallocate the buffer and rewrites the 2-byte count header and the last,
 * partially filled byte, so a reader copies what it needs under the lock:
 * chunk_xor_bytes() gives (pointer, length) and chunk_xor_num_samples() the
 * count; copy those bytes (a chunk is a few hundred bytes) and iterate the
 * copy with chunk_xor_iter_init() after dropping the lock.  Appends never
 * change bytes before the current last byte other than the header, so a
 * copy of the first len bytes plus the count taken together stays a valid
 * chunk prefix.
 */
#ifndef PH_TSDB_CHUNK_H
#define PH_TSDB_CHUNK_H

#include "strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* --- Internals shared by chunk_xor.c and chunk_sealed.c ------------------ */

/* Bit writer over a growable buffer (owned by the struct holding it; freed
 * by chunk_xor_free / chunk_sealed_enc_free).  Bits are written MSB first. */
typedef struct chunk__bw {
  uint8_t *buf;
  uint32_t cap;   /* bytes allocated */
  uint32_t nbits; /* bits written */
} chunk__bw_t;

/* Bit reader over borrowed bytes; every read is bounds-checked. */
typedef struct chunk__br {
  const uint8_t *p;
  size_t nbits; /* bits available */
  size_t pos;   /* bits consumed */
} chunk__br_t;

/* XOR value coder state: the previous value's bits and the current
 * leading/trailing-zero window (lead == CHUNK__XOR_NOWIN: no window yet). */
typedef struct chunk__xor_state {
  uint64_t prev;
  uint8_t lead;
  uint8_t trail;
} chunk__xor_state_t;
#define CHUNK__XOR_NOWIN 0xff

void chunk__bw_write(chunk__bw_t *w, uint64_t v, unsigned n);
/* Reads n bits (0..64); false (nothing consumed) if fewer remain. */
bool chunk__br_read(chunk__br_t *r, unsigned n, uint64_t *out);
void chunk__bw_free(chunk__bw_t *w);
/* Writes the first value (64 raw bits) or the XOR against s->prev. */
void chunk__xor_put(chunk__bw_t *w, chunk__xor_state_t *s, uint64_t bits,
                    bool first);
/* Reads one value; false if the stream is short or malformed. */
bool chunk__xor_get(chunk__br_t *r, chunk__xor_state_t *s, uint64_t *bits,
                    bool first);

/* --- Open head chunk: Gorilla XOR ---------------------------------------- */

#define CHUNK_XOR_MAX_SAMPLES 65535u /* the 2-byte count header */

/* An open chunk; embedded by its owner (a head series), zeroed by
 * chunk_xor_init, its buffer freed by chunk_xor_free.  Fields private. */
typedef struct chunk_xor {
  chunk__bw_t w;          /* bytes: 2-byte count header + bit stream */
  int64_t t;              /* last timestamp */
  uint64_t delta;         /* last timestamp delta (mod 2^64) */
  chunk__xor_state_t vs;  /* last value and XOR window */
  /* Copies of what the bytes say, so an append need not load the
   * buffer's first cache line (the header is still written for readers). */
  int64_t t0;             /* first timestamp, when n > 0 */
  uint16_t n;             /* samples, as in the header */
} chunk_xor_t;

void chunk_xor_init(chunk_xor_t *c);
void chunk_xor_free(chunk_xor_t *c);
/* Appends a sample.  t must be greater than chunk_xor_last_ts() (if any):
 * PH_EOUTOFORDER otherwise; PH_ELIMIT when the chunk holds
 * CHUNK_XOR_MAX_SAMPLES.  Nothing is written on error. */
int chunk_xor_append(chunk_xor_t *c, int64_t t, double v);
/* The encoded chunk: valid until the next append, compact or free.  An
 * empty chunk yields a static 2-byte header. */
const uint8_t *chunk_xor_bytes(const chunk_xor_t *c, size_t *len);
size_t chunk_xor_len(const chunk_xor_t *c);        /* encoded bytes */
size_t chunk_xor_alloc_size(const chunk_xor_t *c); /* bytes allocated */
unsigned chunk_xor_num_samples(const chunk_xor_t *c);
int64_t chunk_xor_first_ts(const chunk_xor_t *c); /* only if samples > 0 */
int64_t chunk_xor_last_ts(const chunk_xor_t *c);  /* only if samples > 0 */
double chunk_xor_last_value(const chunk_xor_t *c); /* only if samples > 0 */
/* Shrinks the allocation to the encoded length (call when the chunk is cut;
 * appending afterwards still works, it just grows again). */
void chunk_xor_compact(chunk_xor_t *c);
/* Re-opens a chunk from its bytes (e.g. a head chunk read back from disk)
 * so appends can continue: copies data, decodes it to restore the state.
 * PH_ECORRUPT (c left empty) if data is not exactly a valid chunk. */
int chunk_xor_load(chunk_xor_t *c, const uint8_t *data, size_t len);
/* The count stored in a chunk's header (0 if len < 2). */
unsigned chunk_xor_header_count(const uint8_t *data, size_t len);

/* Iterator over chunk bytes (borrowed; must stay valid while iterating).
 * Stack-allocate; no cleanup needed.  Fields private. */
typedef struct chunk_xor_iter {
  chunk__br_t r;
  chunk__xor_state_t vs;
  int64_t t;
  uint64_t delta;
  uint32_t count; /* samples to decode */
  uint32_t read;  /* samples decoded so far */
  int err;        /* 0 or PH_ECORRUPT */
  bool done;      /* next() has returned false */
} chunk_xor_iter_t;

/* Iterates the first count samples of the chunk in data[0..len); count is
 * the snapshot taken with the bytes (chunk_xor_num_samples()), or
 * chunk_xor_header_count() for a chunk at rest. */
void chunk_xor_iter_init(chunk_xor_iter_t *it, const uint8_t *data,
                         size_t len, unsigned count);
/* Next sample; false at the end or on corrupt data (see _err). */
bool chunk_xor_iter_next(chunk_xor_iter_t *it);
/* Moves forward to the first sample with timestamp >= t; stays on the
 * current sample if it already qualifies (never goes backwards). */
bool chunk_xor_iter_seek(chunk_xor_iter_t *it, int64_t t);
/* The current sample; only after next/seek returned true. */
void chunk_xor_iter_at(const chunk_xor_iter_t *it, int64_t *t, double *v);
int chunk_xor_iter_err(const chunk_xor_iter_t *it);

/* --- Sealed chunks for immutable blocks ---------------------------------- */

#define CHUNK_SEALED_MAX_SAMPLES (1u << 24)
#define CHUNK_SEALED_DEFAULT_LEVEL 3 /* zstd level */
#define CHUNK_SEALED_PAGE_LEVEL 3    /* zstd level of block format 2 pages */

/* Encoder scratch (zstd context, buffers) reused across series; one thread
 * at a time.  Owned by its creator; chunk_sealed_enc_free releases. */
typedef struct chunk_sealed_enc chunk_sealed_enc_t;

/* level: zstd compression level (1..19); 0 disables zstd. */
chunk_sealed_enc_t *chunk_sealed_enc_new(int level);
void chunk_sealed_enc_free(chunk_sealed_enc_t *e);
/* Appends the encoding of n samples (ts strictly increasing) to out.
 * PH_EINVAL if n > CHUNK_SEALED_MAX_SAMPLES or ts is not increasing. */
int chunk_sealed_encode(chunk_sealed_enc_t *e, const int64_t *ts,
                        const double *v, size_t n, strbuf_t *out);

/* Number of samples in an encoding (to size the decode arrays). */
int chunk_sealed_count(const uint8_t *data, size_t len, size_t *n);
/* Decodes into ts[0..cap) and v[0..cap); *n receives the count.
 * PH_EINVAL if cap is too small, PH_ECORRUPT (detail in err) if data is not
 * exactly one valid encoding.  Never reads outside data[0..len).  A zstd
 * body is inflated into a temporary buffer bounded by cap. */
int chunk_sealed_decode(const uint8_t *data, size_t len, int64_t *ts,
                        double *v, size_t cap, size_t *n, char *err,
                        size_t errlen);

/* Version 2 (block format 2) stores a series range as two columns so that
 * series scraped together can share one timestamp column and the block
 * can compress many columns at once: neither column is zstd-compressed
 * here.  Both append to out; PH_EINVAL as chunk_sealed_encode. */
int chunk_sealed_encode_ts(chunk_sealed_enc_t *e, const int64_t *ts, size_t n,
                           strbuf_t *out);
int chunk_sealed_encode_values(chunk_sealed_enc_t *e, const double *v, size_t n,
                               strbuf_t *out);
/* Decode exactly one column occupying all of data[0..len).  The timestamp
 * column carries its count (*n; PH_EINVAL if more than cap); the value
 * column's count n is the caller's (from its timestamp column).
 * PH_ECORRUPT with the detail in err if the bytes are not exactly one
 * valid column; never reads outside data[0..len). */
int chunk_sealed_decode_ts(const uint8_t *data, size_t len, int64_t *ts,
                           size_t cap, size_t *n, char *err, size_t errlen);
int chunk_sealed_decode_values(const uint8_t *data, size_t len, double *v,
                               size_t n, char *err, size_t errlen);

#endif
