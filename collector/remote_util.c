/*
 * remote_util.c - the helpers of remote_int.h: the arena-backed
 * protobuf-c allocator, snappy block encode/decode (into an arena or a
 * reused buffer), UTF-8 validation and
 * CRC32 Castagnoli (table-driven, reflected polynomial 0x82F63B78).
 */
#include "remote_int.h"

#include "mem.h"
#include "ph_error.h"

#include <pthread.h>
#include <stdlib.h>
#include <snappy-c.h>

static void *pbc_alloc(void *data, size_t size) {
  return arena_alloc(data, size ? size : 1);
}

static void pbc_free(void *data, void *p) {
  (void)data;
  (void)p; /* released with the arena */
}

void remote__pbc_allocator(arena_t *a, ProtobufCAllocator *pa) {
  pa->alloc = pbc_alloc;
  pa->free = pbc_free;
  pa->allocator_data = a;
}

int remote__snappy_decode(arena_t *a, const void *in, size_t len, size_t max,
                          uint8_t **out, size_t *outlen, char *err,
                          size_t errlen) {
  size_t n;
  if (snappy_uncompressed_length(in, len, &n) != SNAPPY_OK)
    return ph_err(err, errlen, PH_EPARSE, "snappy: corrupt input");
  if (n > max)
    return ph_err(err, errlen, PH_ELIMIT,
                  "decompressed body of %zu bytes exceeds the limit of %zu bytes",
                  n, max);
  uint8_t *buf = arena_alloc(a, n ? n : 1);
  if (buf == NULL)
    return ph_err(err, errlen, PH_ELIMIT,
                  "decompressed body of %zu bytes exceeds the memory budget", n);
  size_t got = n;
  if (snappy_uncompress(in, len, (char *)buf, &got) != SNAPPY_OK || got != n)
    return ph_err(err, errlen, PH_EPARSE, "snappy: corrupt input");
  *out = buf;
  *outlen = got;
  return 0;
}

int remote__snappy_decode_buf(const void *in, size_t len, size_t max,
                              uint8_t **buf, size_t *cap, size_t *outlen,
                              char *err, size_t errlen) {
  size_t n;
  if (snappy_uncompressed_length(in, len, &n) != SNAPPY_OK)
    return ph_err(err, errlen, PH_EPARSE, "snappy: corrupt input");
  if (n > max)
    return ph_err(err, errlen, PH_ELIMIT,
                  "decompressed body of %zu bytes exceeds the limit of %zu bytes",
                  n, max);
  if (n + 1 > *cap) {
    /* no copy of the old contents: free, then allocate */
    free(*buf);
    *cap = n + 1 > 4096 ? n + 1 : 4096;
    *buf = ph_malloc(*cap);
  }
  size_t got = n;
  if (snappy_uncompress(in, len, (char *)*buf, &got) != SNAPPY_OK || got != n)
    return ph_err(err, errlen, PH_EPARSE, "snappy: corrupt input");
  *outlen = got;
  return 0;
}

void remote__snappy_encode(const void *in, size_t len, strbuf_t *out) {
  size_t max = snappy_max_compressed_length(len);
  strbuf_reserve(out, max);
  size_t n = max;
  snappy_status st = snappy_compress(in, len, out->data + out->len, &n);
  ph_assert(st == SNAPPY_OK);
  out->len += n;
  out->data[out->len] = '\0';
}

size_t remote__decode_budget(size_t n) {
  /* Real requests need 5-10x their wire size; a hostile one made of empty
   * sub-messages up to ~120x (an empty Histogram is 2 bytes on the wire and
   * a ~230-byte struct plus a pointer when decoded).  The ratio covers
   * every valid input of up to 4 MiB; the cap bounds the worst case. */
  const size_t base = (size_t)1 << 20, cap = (size_t)512 << 20;
  if (n > (cap - base) / 128) return cap;
  return base + 128 * n;
}

bool remote__valid_utf8(const char *str, size_t len) {
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0;
  while (i < len) {
    unsigned char c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t n;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
      n = 1;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (len - i - 1 < n) return false;
    for (size_t k = 1; k <= n; k++) {
      if ((s[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += n + 1;
  }
  return true;
}

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
    crc_table[i] = c;
  }
}

uint32_t remote__crc32c(const void *p, size_t n) {
  pthread_once(&crc_once, crc_init);
  const uint8_t *b = p;
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; i++) c = crc_table[(c ^ b[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}
