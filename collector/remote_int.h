/*
 * remote_int.h - helpers shared by the remote write and remote read files
 * (private to collector/remote*.c).
 *
 * remote__pbc_allocator() wraps an arena as a ProtobufCAllocator: alloc
 * bumps the arena (NULL once its budget is spent, which makes protobuf-c's
 * unpack fail cleanly), free does nothing; the arena is released as a whole
 * when the request is done.  remote__snappy_decode() checks the claimed
 * decompressed length against a limit before decompressing into the arena.
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

bool remote__valid_utf8(const char *s, size_t len);

/* CRC32 (Castagnoli), as in the frames of a streamed remote read. */
uint32_t remote__crc32c(const void *p, size_t n);

#endif
