/*
 * block.c - immutable blocks: writing a block directory and reading one.
 *
 * A block holds every sample of a time range [mint, maxt) for the series
 * that have samples in it.  It is a directory named by its id (a ULID:
 * 48-bit millisecond time + 80 random bits, Crockford base32):
 *
 *   <id>/meta.json   id, minTime, maxTime (exclusive), stats, compaction
 *   <id>/index       symbols, series, postings (format below)
 *   <id>/chunks      the sealed sample encodings (format below)
 *
 * It is written under "<id>.tmp", every file fsynced, then renamed to <id>
 * and the data directory fsynced, so a crash leaves either no block or a
 * complete one; leftover *.tmp directories are removed on open.
 *
 * chunks, format 2 (written now): pages of columns.  Each record (one
 * series, up to BLOCK_MAX_RECORD samples) is a timestamp column and a value
 * column (chunk_sealed.c, version 2).  Series scraped together have
 * byte-identical timestamp columns; the writer remembers the columns it
 * wrote (hash, then exact compare; up to TSDICT_MAX_BYTES of them) and a
 * record refers to the earlier copy, so a target's ~500 series store their
 * timestamps once.  Timestamp columns and value records fill separate
 * pages; a page is closed once it holds PAGE_TARGET (timestamp pages:
 * TS_PAGE_TARGET) raw bytes and is stored as one zstd frame, so zstd sees
 * many columns at once.
 *   OFFSET  SIZE  DESCRIPTION
 *   0       8     magic "PHCHUNK2"
 *   8       ...   pages, each:
 *                   uvarint  raw length R (1 .. 2^24-1)
 *                   uvarint  stored length S
 *                   1        0: stored raw (S == R), 1: one zstd frame
 *                   4        CRC-32C of the S stored bytes, little endian
 *                   S        the stored bytes
 *   P         8*N  page table: u64 file offset of page k, k = 0 .. N-1
 *   end-16    8    N, the page count
 *   end-8     4    CRC-32C of the page table and N
 *   end-4     4    magic 0x32434850 ("PHC2")
 * Inflated, a page is a sequence of entries:
 *   timestamp column entry: uvarint length L, L bytes of the column
 *   record entry:           uvarint locator of its timestamp column entry,
 *                           uvarint length L, L bytes of the value column
 * A locator is (page number << 24) | offset of the entry in the inflated
 * page; the index's "chunks offset" of a record is its locator.  Page
 * numbers are handed out when a page is started, so a record may refer to
 * a timestamp page that is written after it.  Memory while writing: the
 * two open pages, the page table and the remembered columns.
 * A reader keeps a few inflated pages per block (PC_SLOTS, least recently
 * used replaced, under a mutex): series read in order mostly hit the page
 * of the previous one, and the timestamp pages, few, stay in.
 *
 * chunks, format 1 (still read; blocks written before format 2):
 *   OFFSET  SIZE  DESCRIPTION
 *   0       8     magic "PHCHUNK1"
 *   8       ...   records, one per (series, up to BLOCK_MAX_RECORD samples):
 *                   uvarint  length n of the encoding
 *                   4        CRC-32C of the encoding, little endian
 *                   n        chunk_sealed encoding (chunk_sealed.c)
 *
 * index (all integers little endian; uvarint = LEB128):
 *   OFFSET  SIZE  DESCRIPTION
 *   0       8     magic "PHINDEX1"
 *   8       ...   symbols: uvarint count, then per symbol in byte order:
 *                 uvarint length, the bytes, a NUL
 *           ...   series, in label order; per series:
 *                 uvarint nlabels, nlabels x (uvarint name sym, uvarint
 *                 value sym), uvarint nrecords, nrecords x (varint mint,
 *                 uvarint maxt-mint, uvarint chunks offset (format 2: the
 *                 record's locator), uvarint samples)
 *           ...   series table: 8-byte offset of each series (by ordinal)
 *           ...   postings: per label pair, in (name, value) order:
 *                 uvarint count, count x uvarint delta of series ordinal
 *           ...   postings table: per label pair 16 bytes: u32 name sym,
 *                 u32 value sym, u64 offset of its postings
 *   end-64  64    TOC: u64 offsets of symbols, series, series table,
 *                 postings, postings table; u64 series count; u64 pair
 *                 count; u32 CRC-32C of bytes [0, end-64); u32 magic
 *                 0x50484958
 *
 * A reader mmaps both files and checks the index CRC (and, format 2, the
 * page table's) once at open; each chunk record's (format 2: page's) CRC
 * is checked when it is decoded.  A block that fails
 * any check is reported by name and left out (moved aside as *.corrupt).
 */
#include "tsdb_int.h"

#include "json.h"
#include "log.h"
#include "mem.h"
#include "ph_error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#define TOC_SIZE 64
#define INDEX_MAGIC_END 0x50484958u

/* ---- small encoding helpers ------------------------------------------------ */

static void put_u32(strbuf_t *b, uint32_t v) {
  uint8_t t[4];
  tsdb__put_le32(t, v);
  strbuf_append(b, t, 4);
}

static void put_u64(strbuf_t *b, uint64_t v) {
  put_u32(b, (uint32_t)v);
  put_u32(b, (uint32_t)(v >> 32));
}


static unsigned uvarint_len(uint64_t u) {
  unsigned n = 1;
  while (u >= 0x80) {
    u >>= 7;
    n++;
  }
  return n;
}

/* ---- ULIDs ----------------------------------------------------------------- */

void tsdb__ulid_new(int64_t ms, char out[27]) {
  static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  uint8_t b[16];
  uint64_t t = (uint64_t)ms;
  for (int i = 5; i >= 0; i--) {
    b[i] = (uint8_t)t;
    t >>= 8;
  }
  if (getrandom(b + 6, 10, 0) != 10)
    for (int i = 6; i < 16; i++) b[i] = (uint8_t)rand();
  /* 128 bits -> 26 base32 characters, most significant first */
  for (int i = 0; i < 26; i++) {
    int bit = (25 - i) * 5; /* position of this char's lowest bit */
    uint32_t v = 0;
    for (int k = 4; k >= 0; k--) {
      int pos = bit + k; /* bit index counting from the least significant */
      v <<= 1;
      if (pos >= 0 && pos < 128) {
        int byte = 15 - pos / 8;
        v |= (b[byte] >> (pos % 8)) & 1;
      }
    }
    out[i] = alphabet[v & 31];
  }
  out[26] = '\0';
}

/* ---- writing ------------------------------------------------------------------ */

typedef struct symtab_w {
  char **s;  /* sorted unique */
  size_t n, cap;
} symtab_w_t;

static int cmp_cstr(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static uint32_t sym_id(const symtab_w_t *st, const char *s) {
  size_t lo = 0, hi = st->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int c = strcmp(st->s[mid], s);
    if (c == 0) return (uint32_t)mid;
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  ph_assert(!"symbol not in table");
  return 0;
}

typedef struct pair_ref {
  uint32_t name, value, series;
} pair_ref_t;

static int cmp_pair(const void *a, const void *b) {
  const pair_ref_t *x = a, *y = b;
  if (x->name != y->name) return x->name < y->name ? -1 : 1;
  if (x->value != y->value) return x->value < y->value ? -1 : 1;
  return x->series < y->series ? -1 : x->series > y->series;
}

static int write_all(int fd, const void *data, size_t len, const char *path,
                     char *err, size_t errlen) {
  const uint8_t *p = data;
  size_t off = 0;
  while (off < len) {
    ssize_t n = write(fd, p + off, len - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ph_err(err, errlen, errno == ENOSPC ? PH_ENOSPC : PH_EIO, "write %s: %s",
                    path, strerror(errno));
    }
    off += (size_t)n;
  }
  return 0;
}

static int write_file(const char *path, const void *data, size_t len, char *err,
                      size_t errlen) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return ph_err(err, errlen, errno == ENOSPC ? PH_ENOSPC : PH_EIO, "create %s: %s",
                  path, strerror(errno));
  const uint8_t *p = data;
  size_t off = 0;
  while (off < len) {
    ssize_t n = write(fd, p + off, len - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      close(fd);
      return ph_err(err, errlen, e == ENOSPC ? PH_ENOSPC : PH_EIO, "write %s: %s", path,
                    strerror(e));
    }
    off += (size_t)n;
  }
  if (fsync(fd) != 0) {
    int e = errno;
    close(fd);
    return ph_err(err, errlen, PH_EIO, "fsync %s: %s", path, strerror(e));
  }
  close(fd);
  return 0;
}

void tsdb__fsync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
}

int tsdb__rmdir_r(const char *dir) {
  DIR *d = opendir(dir);
  if (d == NULL) return errno == ENOENT ? 0 : -1;
  struct dirent *de;
  char p[4096];
  while ((de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
    snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
    struct stat st;
    if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) tsdb__rmdir_r(p);
    else unlink(p);
  }
  closedir(d);
  return rmdir(dir);
}

/* ---- chunks file, format 2: pages ------------------------------------------ */

#define PAGE_TARGET (32u * 1024)      /* raw bytes after which a page is closed */
#define TS_PAGE_TARGET (8u * 1024)    /* the same for timestamp pages: they are
                                         read by many series, so smaller is
                                         cheaper to inflate on a cache miss */
#define PAGE_MAX_RAW (1u << 24)       /* an in-page offset is 24 bits */
#define LOC_SHIFT 24
#define CHK2_TRAILER 16
#define CHK2_MAGIC_END 0x32434850u    /* "PHC2" */
#define TSDICT_MAX_BYTES (16u << 20)  /* timestamp columns remembered for sharing */

/* An open page being filled; its ordinal is fixed when it starts. */
typedef struct page_w {
  strbuf_t raw;
  uint64_t ord;
  bool open;
} page_w_t;

/* A timestamp column already written, for sharing (exact byte compare). */
typedef struct tscol {
  uint64_t hash, loc;
  uint8_t *bytes; /* owned */
  size_t len;
  struct tscol *next;
} tscol_t;

/* Writer state of a format-2 chunks file. */
typedef struct chk_w {
  int fd;
  const char *path;
  uint64_t written;     /* file bytes written so far */
  uint64_t npages;      /* ordinals handed out */
  uint64_t *page_off;   /* file offset by ordinal */
  size_t page_off_cap;
  page_w_t tsp, valp;   /* timestamp columns and value records go to separate pages */
  ZSTD_CCtx *cctx;
  strbuf_t z;
  tscol_t **dict;       /* hash buckets */
  size_t dict_mask;
  size_t dict_bytes;
} chk_w_t;

static uint64_t fnv1a(const uint8_t *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325u;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3u;
  return h;
}

static int chk_flush_page(chk_w_t *w, page_w_t *pg, char *err, size_t errlen) {
  if (!pg->open) return 0;
  pg->open = false;
  const strbuf_t *raw = &pg->raw;
  size_t bound = ZSTD_compressBound(raw->len);
  strbuf_reset(&w->z);
  strbuf_reserve(&w->z, bound);
  size_t zl = ZSTD_compressCCtx(w->cctx, w->z.data, bound, raw->data, raw->len,
                                CHUNK_SEALED_PAGE_LEVEL);
  bool zstd = !ZSTD_isError(zl) && zl < raw->len;
  const void *data = zstd ? (const void *)w->z.data : (const void *)raw->data;
  size_t len = zstd ? zl : raw->len;
  strbuf_t hdr = STRBUF_INIT;
  tsdb__put_uvarint(&hdr, raw->len);
  tsdb__put_uvarint(&hdr, len);
  uint8_t c = zstd ? 1 : 0;
  strbuf_append(&hdr, &c, 1);
  put_u32(&hdr, tsdb__crc32c(0, data, len));
  w->page_off[pg->ord] = w->written;
  int rc = write_all(w->fd, hdr.data, hdr.len, w->path, err, errlen);
  if (rc == 0) rc = write_all(w->fd, data, len, w->path, err, errlen);
  w->written += hdr.len + len;
  strbuf_free(&hdr);
  strbuf_reset(&pg->raw);
  return rc;
}

/* Makes room for an entry of len bytes in pg (closing a full page and
 * starting a new one); returns the entry's locator. */
static int chk_reserve(chk_w_t *w, page_w_t *pg, size_t target, size_t len, uint64_t *loc,
                       char *err, size_t errlen) {
  if (pg->open && pg->raw.len > 0 && pg->raw.len + len > target) {
    int rc = chk_flush_page(w, pg, err, errlen);
    if (rc) return rc;
  }
  if (len >= PAGE_MAX_RAW)
    return ph_err(err, errlen, PH_ELIMIT, "chunk of %zu bytes too large", len);
  if (!pg->open) {
    pg->open = true;
    pg->ord = w->npages++;
    ph_grow(&w->page_off, &w->page_off_cap, w->npages);
    w->page_off[pg->ord] = 0;
  }
  *loc = pg->ord << LOC_SHIFT | pg->raw.len;
  return 0;
}

/* Writes (or finds an identical, already written) timestamp column. */
static int chk_put_ts(chk_w_t *w, const strbuf_t *col, uint64_t *loc, char *err,
                      size_t errlen) {
  const uint8_t *p = (const uint8_t *)col->data;
  uint64_t h = fnv1a(p, col->len);
  for (tscol_t *t = w->dict[h & w->dict_mask]; t; t = t->next)
    if (t->hash == h && t->len == col->len && memcmp(t->bytes, p, col->len) == 0) {
      *loc = t->loc;
      return 0;
    }
  size_t need = uvarint_len(col->len) + col->len;
  int rc = chk_reserve(w, &w->tsp, TS_PAGE_TARGET, need, loc, err, errlen);
  if (rc) return rc;
  tsdb__put_uvarint(&w->tsp.raw, col->len);
  strbuf_append(&w->tsp.raw, col->data, col->len);
  if (w->dict_bytes + col->len <= TSDICT_MAX_BYTES) {
    tscol_t *t = ph_malloc(sizeof *t);
    *t = (tscol_t){h, *loc, ph_malloc(col->len ? col->len : 1), col->len,
                   w->dict[h & w->dict_mask]};
    memcpy(t->bytes, p, col->len);
    w->dict[h & w->dict_mask] = t;
    w->dict_bytes += col->len;
  }
  return 0;
}

/* Writes a value record referring to the timestamp column at ts_loc. */
static int chk_put_rec(chk_w_t *w, uint64_t ts_loc, const strbuf_t *vals, uint64_t *loc,
                       char *err, size_t errlen) {
  size_t need = uvarint_len(ts_loc) + uvarint_len(vals->len) + vals->len;
  int rc = chk_reserve(w, &w->valp, PAGE_TARGET, need, loc, err, errlen);
  if (rc) return rc;
  tsdb__put_uvarint(&w->valp.raw, ts_loc);
  tsdb__put_uvarint(&w->valp.raw, vals->len);
  strbuf_append(&w->valp.raw, vals->data, vals->len);
  return 0;
}

/* Flushes the open pages and writes the page table and trailer. */
static int chk_finish(chk_w_t *w, char *err, size_t errlen) {
  int rc = chk_flush_page(w, &w->tsp, err, errlen);
  if (rc == 0) rc = chk_flush_page(w, &w->valp, err, errlen);
  if (rc) return rc;
  strbuf_t t = STRBUF_INIT;
  for (uint64_t i = 0; i < w->npages; i++) put_u64(&t, w->page_off[i]);
  put_u64(&t, w->npages);
  put_u32(&t, tsdb__crc32c(0, t.data, t.len));
  put_u32(&t, CHK2_MAGIC_END);
  rc = write_all(w->fd, t.data, t.len, w->path, err, errlen);
  w->written += t.len;
  strbuf_free(&t);
  return rc;
}

static void chk_free(chk_w_t *w) {
  strbuf_free(&w->tsp.raw);
  strbuf_free(&w->valp.raw);
  strbuf_free(&w->z);
  ZSTD_freeCCtx(w->cctx);
  free(w->page_off);
  for (size_t i = 0; w->dict && i <= w->dict_mask; i++)
    for (tscol_t *t = w->dict[i], *nx; t; t = nx) {
      nx = t->next;
      free(t->bytes);
      free(t);
    }
  free(w->dict);
}

int tsdb__block_write(const char *dbdir, const block_input_t *in, char *id_out,
                      char *err, size_t errlen) {
  /* 1. symbols */
  symtab_w_t st = {0};
  for (size_t i = 0; i < in->nseries; i++) {
    const labels_t *ls = in->labels[i];
    for (size_t j = 0; j < labels_len(ls); j++) {
      const label_t *l = labels_at(ls, j);
      ph_grow(&st.s, &st.cap, st.n + 2);
      st.s[st.n++] = (char *)l->name;
      st.s[st.n++] = (char *)l->value;
    }
  }
  if (st.n > 1) qsort(st.s, st.n, sizeof(char *), cmp_cstr);
  size_t u = 0;
  for (size_t i = 0; i < st.n; i++)
    if (u == 0 || strcmp(st.s[u - 1], st.s[i]) != 0) st.s[u++] = st.s[i];
  st.n = u;

  char id[27];
  tsdb__ulid_new(in->created_ms, id);
  char tmp[4096], final[4096], path[4200];
  snprintf(tmp, sizeof tmp, "%s/%s.tmp", dbdir, id);
  snprintf(final, sizeof final, "%s/%s", dbdir, id);
  int rc = 0;
  int chk_fd = -1;
  if (mkdir(tmp, 0755) != 0) {
    free(st.s);
    return ph_err(err, errlen, errno == ENOSPC ? PH_ENOSPC : PH_EIO, "create %s: %s",
                  tmp, strerror(errno));
  }
  snprintf(path, sizeof path, "%s/chunks", tmp);
  chk_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (chk_fd < 0) {
    free(st.s);
    tsdb__rmdir_r(tmp);
    return ph_err(err, errlen, PH_EIO, "create %s: %s", path, strerror(errno));
  }

  strbuf_t idx = STRBUF_INIT;
  chk_w_t cw = {.fd = chk_fd, .path = path, .cctx = ZSTD_createCCtx(), .dict_mask = 1023};
  ph_assert(cw.cctx != NULL);
  cw.dict = ph_calloc(cw.dict_mask + 1, sizeof(tscol_t *));
  strbuf_init(&cw.tsp.raw);
  strbuf_init(&cw.valp.raw);
  strbuf_init(&cw.z);
  strbuf_append(&idx, "PHINDEX1", 8);
  rc = write_all(chk_fd, "PHCHUNK2", 8, path, err, errlen);
  cw.written = 8;
  uint64_t off_symbols = idx.len;
  tsdb__put_uvarint(&idx, st.n);
  for (size_t i = 0; i < st.n; i++) {
    size_t len = strlen(st.s[i]);
    tsdb__put_uvarint(&idx, len);
    strbuf_append(&idx, st.s[i], len + 1);
  }

  /* 2. chunks and series */
  chunk_sealed_enc_t *enc = chunk_sealed_enc_new(CHUNK_SEALED_DEFAULT_LEVEL);
  uint64_t off_series = idx.len;
  uint64_t *series_off = ph_calloc(in->nseries ? in->nseries : 1, sizeof(uint64_t));
  pair_ref_t *pairs = NULL;
  size_t npairs = 0, pairs_cap = 0;
  uint64_t nsamples = 0, nrecords = 0;
  strbuf_t tcol = STRBUF_INIT, vcol = STRBUF_INIT;
  for (size_t i = 0; i < in->nseries && rc == 0; i++) {
    const int64_t *ts;
    const double *vs;
    size_t n;
    rc = in->samples(in->ud, i, &ts, &vs, &n);
    if (rc != 0) {
      rc = ph_err(err, errlen, rc, "reading series %zu for the block failed", i);
      break;
    }
    const labels_t *ls = in->labels[i];
    series_off[i] = idx.len - off_series;
    size_t nl = labels_len(ls);
    tsdb__put_uvarint(&idx, nl);
    for (size_t j = 0; j < nl; j++) {
      const label_t *l = labels_at(ls, j);
      uint32_t nsym = sym_id(&st, l->name), vsym = sym_id(&st, l->value);
      tsdb__put_uvarint(&idx, nsym);
      tsdb__put_uvarint(&idx, vsym);
      ph_grow(&pairs, &pairs_cap, npairs + 1);
      pairs[npairs++] = (pair_ref_t){nsym, vsym, (uint32_t)i};
    }
    size_t nrec = (n + BLOCK_MAX_RECORD - 1) / BLOCK_MAX_RECORD;
    tsdb__put_uvarint(&idx, nrec);
    for (size_t r = 0; r < nrec; r++) {
      size_t from = r * BLOCK_MAX_RECORD;
      size_t cnt = n - from < BLOCK_MAX_RECORD ? n - from : BLOCK_MAX_RECORD;
      strbuf_reset(&tcol);
      strbuf_reset(&vcol);
      rc = chunk_sealed_encode_ts(enc, ts + from, cnt, &tcol);
      if (rc == 0) rc = chunk_sealed_encode_values(enc, vs + from, cnt, &vcol);
      if (rc != 0) {
        rc = ph_err(err, errlen, rc, "encode series %zu of the block", i);
        break;
      }
      uint64_t ts_loc, off;
      rc = chk_put_ts(&cw, &tcol, &ts_loc, err, errlen);
      if (rc == 0) rc = chk_put_rec(&cw, ts_loc, &vcol, &off, err, errlen);
      if (rc != 0) break;
      tsdb__put_varint(&idx, ts[from]);
      tsdb__put_uvarint(&idx, (uint64_t)(ts[from + cnt - 1] - ts[from]));
      tsdb__put_uvarint(&idx, off);
      tsdb__put_uvarint(&idx, cnt);
      nsamples += cnt;
      nrecords++;
    }
  }
  if (rc == 0) rc = chk_finish(&cw, err, errlen);
  chk_free(&cw);
  if (rc == 0 && fsync(chk_fd) != 0)
    rc = ph_err(err, errlen, PH_EIO, "fsync %s: %s", path, strerror(errno));
  close(chk_fd);
  strbuf_free(&tcol);
  strbuf_free(&vcol);
  chunk_sealed_enc_free(enc);

  /* 3. series table, postings, postings table, TOC */
  uint64_t off_series_table = idx.len;
  for (size_t i = 0; i < in->nseries; i++) put_u64(&idx, series_off[i]);
  free(series_off);
  if (npairs > 1) qsort(pairs, npairs, sizeof(*pairs), cmp_pair);
  uint64_t off_postings = idx.len;
  strbuf_t table = STRBUF_INIT;
  size_t nuniq = 0;
  for (size_t i = 0; i < npairs;) {
    size_t j = i;
    while (j < npairs && pairs[j].name == pairs[i].name && pairs[j].value == pairs[i].value) j++;
    put_u32(&table, pairs[i].name);
    put_u32(&table, pairs[i].value);
    put_u64(&table, idx.len - off_postings);
    tsdb__put_uvarint(&idx, j - i);
    uint32_t prev = 0;
    for (size_t k = i; k < j; k++) {
      tsdb__put_uvarint(&idx, pairs[k].series - prev);
      prev = pairs[k].series;
    }
    nuniq++;
    i = j;
  }
  free(pairs);
  uint64_t off_table = idx.len;
  strbuf_append(&idx, table.data ? table.data : "", table.len);
  strbuf_free(&table);
  put_u64(&idx, off_symbols);
  put_u64(&idx, off_series);
  put_u64(&idx, off_series_table);
  put_u64(&idx, off_postings);
  put_u64(&idx, off_table);
  put_u64(&idx, in->nseries);
  put_u64(&idx, nuniq);
  put_u32(&idx, tsdb__crc32c(0, idx.data, idx.len));
  put_u32(&idx, INDEX_MAGIC_END);
  free(st.s);

  /* 4. index and meta.json */
  if (rc == 0) {
    snprintf(path, sizeof path, "%s/index", tmp);
    rc = write_file(path, idx.data, idx.len, err, errlen);
  }
  if (rc == 0) {
    strbuf_t mb = STRBUF_INIT;
    json_writer_t *w = json_writer_new(&mb);
    json_object_begin(w);
    json_key(w, "ulid");
    json_string(w, id);
    json_key(w, "minTime");
    json_int(w, in->mint);
    json_key(w, "maxTime");
    json_int(w, in->maxt);
    json_key(w, "stats");
    json_object_begin(w);
    json_key(w, "numSamples");
    json_uint(w, nsamples);
    json_key(w, "numSeries");
    json_uint(w, in->nseries);
    json_key(w, "numChunks");
    json_uint(w, nrecords);
    json_object_end(w);
    json_key(w, "compaction");
    json_object_begin(w);
    json_key(w, "level");
    json_int(w, in->level);
    json_key(w, "sources");
    json_array_begin(w);
    if (in->nsources == 0) json_string(w, id);
    for (size_t i = 0; i < in->nsources; i++) json_string(w, in->sources[i]);
    json_array_end(w);
    json_object_end(w);
    json_key(w, "version");
    json_int(w, 1);
    json_key(w, "format");
    json_string(w, "pharos-2");
    json_object_end(w);
    json_writer_free(w);
    strbuf_putc(&mb, '\n');
    snprintf(path, sizeof path, "%s/meta.json", tmp);
    rc = write_file(path, mb.data, mb.len, err, errlen);
    strbuf_free(&mb);
  }
  strbuf_free(&idx);
  if (rc == 0) {
    tsdb__fsync_dir(tmp);
    if (rename(tmp, final) != 0)
      rc = ph_err(err, errlen, PH_EIO, "rename %s: %s", tmp, strerror(errno));
    else
      tsdb__fsync_dir(dbdir);
  }
  if (rc != 0) tsdb__rmdir_r(tmp);
  else memcpy(id_out, id, 27);
  return rc;
}

/* ---- reading ------------------------------------------------------------------ */

struct block {
  char *dir;     /* owned */
  char id[27];
  int64_t mint, maxt; /* [mint, maxt) */
  int level;
  char **sources; /* owned */
  size_t nsources;
  uint64_t nsamples, nchunks, bytes;
  atomic_int refs;
  bool deleted;   /* remove the directory when the last reference goes */
  const uint8_t *idx;
  size_t idx_len;
  const uint8_t *chk;
  size_t chk_len;
  const char **sym;   /* pointers into idx */
  size_t nsym;
  uint64_t nseries, npairs;
  const uint8_t *series, *series_table, *postings, *ptable;
  int chk_version;       /* 1: PHCHUNK1 records; 2: PHCHUNK2 pages */
  const uint8_t *ptab;   /* format 2: page table (u64 offsets) in chk */
  uint64_t npages;
  uint64_t pages_end;    /* format 2: where the page table starts */
  struct page_cache *pc; /* format 2: owned; inflated pages */
};

/* Inflated pages of a format-2 block, shared by its readers: a few slots,
 * least recently used replaced, guarded by mu (decoding happens under it,
 * so a page cannot be replaced while it is read). */
#define PC_SLOTS 6
typedef struct page_slot {
  uint64_t ord;   /* UINT64_MAX: empty */
  uint8_t *buf;   /* owned */
  size_t len, cap;
  uint64_t used;  /* tick of last use */
} page_slot_t;

struct page_cache {
  pthread_mutex_t mu;
  ZSTD_DCtx *dctx;
  uint64_t tick;
  page_slot_t slot[PC_SLOTS];
};

static struct page_cache *page_cache_new(void) {
  struct page_cache *pc = ph_calloc(1, sizeof *pc);
  pthread_mutex_init(&pc->mu, NULL);
  for (int i = 0; i < PC_SLOTS; i++) pc->slot[i].ord = UINT64_MAX;
  return pc;
}

static void page_cache_free(struct page_cache *pc) {
  if (!pc) return;
  for (int i = 0; i < PC_SLOTS; i++) free(pc->slot[i].buf);
  ZSTD_freeDCtx(pc->dctx);
  pthread_mutex_destroy(&pc->mu);
  free(pc);
}

static int map_file(const char *path, const uint8_t **data, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size == 0) {
    close(fd);
    return -1;
  }
  void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  if (m == MAP_FAILED) return -1;
  *data = m;
  *len = (size_t)st.st_size;
  return 0;
}

static int64_t json_int_field(const char *json, const char *key, bool *ok) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\":", key);
  const char *p = strstr(json, pat);
  if (p == NULL) {
    *ok = false;
    return 0;
  }
  return strtoll(p + strlen(pat), NULL, 10);
}

static void parse_sources(block_t *b, const char *json) {
  const char *p = strstr(json, "\"sources\":[");
  if (p == NULL) return;
  p += strlen("\"sources\":[");
  while (*p == '"') {
    const char *e = strchr(p + 1, '"');
    if (e == NULL || e - p - 1 != 26) break;
    b->sources = ph_realloc(b->sources, (b->nsources + 1) * sizeof(char *));
    b->sources[b->nsources++] = ph_strndup(p + 1, 26);
    p = e + 1;
    if (*p == ',') p++;
  }
}

void tsdb__block_unref(block_t *b) {
  if (b == NULL || atomic_fetch_sub(&b->refs, 1) != 1) return;
  if (b->idx) munmap((void *)b->idx, b->idx_len);
  if (b->chk) munmap((void *)b->chk, b->chk_len);
  page_cache_free(b->pc);
  if (b->deleted) {
    tsdb__rmdir_r(b->dir);
  }
  for (size_t i = 0; i < b->nsources; i++) free(b->sources[i]);
  free(b->sources);
  free(b->sym);
  free(b->dir);
  free(b);
}

void tsdb__block_ref(block_t *b) { atomic_fetch_add(&b->refs, 1); }

int tsdb__block_open(const char *dbdir, const char *id, block_t **out, char *err,
                     size_t errlen) {
  block_t *b = ph_calloc(1, sizeof(*b));
  atomic_store(&b->refs, 1);
  size_t dl = strlen(dbdir) + strlen(id) + 2;
  b->dir = ph_malloc(dl);
  snprintf(b->dir, dl, "%s/%s", dbdir, id);
  snprintf(b->id, sizeof b->id, "%.26s", id);
  char path[4200];
  int rc = 0;
  /* meta.json */
  snprintf(path, sizeof path, "%s/meta.json", b->dir);
  FILE *fp = fopen(path, "r");
  char meta[65536];
  size_t mlen = 0;
  if (fp != NULL) {
    mlen = fread(meta, 1, sizeof meta - 1, fp);
    fclose(fp);
  }
  meta[mlen] = '\0';
  bool ok = mlen > 0;
  b->mint = json_int_field(meta, "minTime", &ok);
  b->maxt = json_int_field(meta, "maxTime", &ok);
  b->level = (int)json_int_field(meta, "level", &ok);
  b->nsamples = (uint64_t)json_int_field(meta, "numSamples", &ok);
  b->nchunks = (uint64_t)json_int_field(meta, "numChunks", &ok);
  if (!ok) {
    rc = ph_err(err, errlen, PH_ECORRUPT, "block %s: missing or bad meta.json", b->dir);
    goto fail;
  }
  parse_sources(b, meta);
  snprintf(path, sizeof path, "%s/index", b->dir);
  if (map_file(path, &b->idx, &b->idx_len) != 0 || b->idx_len < 8 + TOC_SIZE ||
      memcmp(b->idx, "PHINDEX1", 8) != 0) {
    rc = ph_err(err, errlen, PH_ECORRUPT, "block %s: missing or bad index", b->dir);
    goto fail;
  }
  const uint8_t *toc = b->idx + b->idx_len - TOC_SIZE;
  if (tsdb__get_le32(toc + 60) != INDEX_MAGIC_END ||
      tsdb__get_le32(toc + 56) != tsdb__crc32c(0, b->idx, b->idx_len - 8)) {
    rc = ph_err(err, errlen, PH_ECORRUPT, "block %s: index checksum mismatch", b->dir);
    goto fail;
  }
  uint64_t offs[5];
  for (int i = 0; i < 5; i++) {
    offs[i] = tsdb__get_le64(toc + 8 * i);
    if (offs[i] > b->idx_len - TOC_SIZE) {
      rc = ph_err(err, errlen, PH_ECORRUPT, "block %s: index TOC out of range", b->dir);
      goto fail;
    }
  }
  b->nseries = tsdb__get_le64(toc + 40);
  b->npairs = tsdb__get_le64(toc + 48);
  b->series = b->idx + offs[1];
  b->series_table = b->idx + offs[2];
  b->postings = b->idx + offs[3];
  b->ptable = b->idx + offs[4];
  if (offs[2] + b->nseries * 8 > b->idx_len - TOC_SIZE ||
      offs[4] + b->npairs * 16 > b->idx_len - TOC_SIZE) {
    rc = ph_err(err, errlen, PH_ECORRUPT, "block %s: index tables out of range", b->dir);
    goto fail;
  }
  /* symbols */
  {
    const uint8_t *p = b->idx + offs[0];
    size_t left = offs[1] - offs[0];
    uint64_t n;
    size_t k = tsdb__get_uvarint(p, left, &n);
    if (k == 0 || n > left) {
      rc = ph_err(err, errlen, PH_ECORRUPT, "block %s: bad symbol table", b->dir);
      goto fail;
    }
    p += k;
    left -= k;
    b->sym = ph_calloc(n ? n : 1, sizeof(char *));
    for (uint64_t i = 0; i < n; i++) {
      uint64_t len;
      k = tsdb__get_uvarint(p, left, &len);
      if (k == 0 || len + 1 > left - k || p[k + len] != '\0') {
        rc = ph_err(err, errlen, PH_ECORRUPT, "block %s: bad symbol %llu", b->dir,
                    (unsigned long long)i);
        goto fail;
      }
      b->sym[i] = (const char *)p + k;
      p += k + len + 1;
      left -= k + len + 1;
    }
    b->nsym = n;
  }
  snprintf(path, sizeof path, "%s/chunks", b->dir);
  if (map_file(path, &b->chk, &b->chk_len) != 0 || b->chk_len < 8) {
    rc = ph_err(err, errlen, PH_ECORRUPT, "block %s: missing or bad chunks file", b->dir);
    goto fail;
  }
  if (memcmp(b->chk, "PHCHUNK1", 8) == 0) {
    b->chk_version = 1;
  } else if (memcmp(b->chk, "PHCHUNK2", 8) == 0 && b->chk_len >= 8 + CHK2_TRAILER) {
    const uint8_t *tr = b->chk + b->chk_len - CHK2_TRAILER;
    uint64_t np = tsdb__get_le64(tr);
    if (tsdb__get_le32(tr + 12) != CHK2_MAGIC_END || np > (b->chk_len - 8 - CHK2_TRAILER) / 8) {
      rc = ph_err(err, errlen, PH_ECORRUPT, "block %s: bad chunks trailer", b->dir);
      goto fail;
    }
    b->pages_end = b->chk_len - CHK2_TRAILER - np * 8;
    b->ptab = b->chk + b->pages_end;
    if (tsdb__get_le32(tr + 8) != tsdb__crc32c(0, b->ptab, np * 8 + 8)) {
      rc = ph_err(err, errlen, PH_ECORRUPT, "block %s: chunks page table checksum mismatch",
                  b->dir);
      goto fail;
    }
    for (uint64_t i = 0; i < np; i++) {
      uint64_t o = tsdb__get_le64(b->ptab + 8 * i);
      if (o < 8 || o >= b->pages_end) {
        rc = ph_err(err, errlen, PH_ECORRUPT, "block %s: chunks page table out of range",
                    b->dir);
        goto fail;
      }
    }
    b->npages = np;
    b->chk_version = 2;
    b->pc = page_cache_new();
  } else {
    rc = ph_err(err, errlen, PH_ECORRUPT, "block %s: missing or bad chunks file", b->dir);
    goto fail;
  }
  b->bytes = b->idx_len + b->chk_len + mlen;
  *out = b;
  return 0;
fail:
  tsdb__block_unref(b);
  return rc;
}

const char *tsdb__block_id(const block_t *b) { return b->id; }
int64_t tsdb__block_mint(const block_t *b) { return b->mint; }
int64_t tsdb__block_maxt(const block_t *b) { return b->maxt; }
int tsdb__block_level(const block_t *b) { return b->level; }
uint64_t tsdb__block_bytes(const block_t *b) { return b->bytes; }
uint64_t tsdb__block_nseries(const block_t *b) { return b->nseries; }
uint64_t tsdb__block_nsamples(const block_t *b) { return b->nsamples; }
uint64_t tsdb__block_nchunks(const block_t *b) { return b->nchunks; }
const char *tsdb__block_dir(const block_t *b) { return b->dir; }
void tsdb__block_mark_deleted(block_t *b) { b->deleted = true; }
size_t tsdb__block_sources(const block_t *b, char *const **src) {
  *src = b->sources;
  return b->nsources;
}

/* Symbol id of s, or -1. */
static long find_sym(const block_t *b, const char *s) {
  size_t lo = 0, hi = b->nsym;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int c = strcmp(b->sym[mid], s);
    if (c == 0) return (long)mid;
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return -1;
}

/* Decodes the series at ordinal i: labels (if ls != NULL) and records. */
int tsdb__block_series(const block_t *b, uint32_t i, labels_t **ls,
                       block_rec_t **recs, size_t *nrecs) {
  if (i >= b->nseries) return PH_ECORRUPT;
  uint64_t off = tsdb__get_le64(b->series_table + 8 * (size_t)i);
  const uint8_t *end = b->series_table;
  const uint8_t *p = b->series + off;
  if (p >= end) return PH_ECORRUPT;
  size_t left = (size_t)(end - p), k;
  uint64_t nl;
  if ((k = tsdb__get_uvarint(p, left, &nl)) == 0 || nl > 1024) return PH_ECORRUPT;
  p += k;
  left -= k;
  label_t pairs[1024];
  for (uint64_t j = 0; j < nl; j++) {
    uint64_t n, v;
    if ((k = tsdb__get_uvarint(p, left, &n)) == 0 || n >= b->nsym) return PH_ECORRUPT;
    p += k;
    left -= k;
    if ((k = tsdb__get_uvarint(p, left, &v)) == 0 || v >= b->nsym) return PH_ECORRUPT;
    p += k;
    left -= k;
    pairs[j].name = b->sym[n];
    pairs[j].value = b->sym[v];
  }
  uint64_t nr;
  if ((k = tsdb__get_uvarint(p, left, &nr)) == 0 || nr > left) return PH_ECORRUPT;
  p += k;
  left -= k;
  block_rec_t *r = recs ? ph_calloc(nr ? nr : 1, sizeof(*r)) : NULL;
  for (uint64_t j = 0; j < nr; j++) {
    int64_t mint;
    uint64_t span, coff, cnt;
    if ((k = tsdb__get_varint(p, left, &mint)) == 0) goto bad;
    p += k;
    left -= k;
    if ((k = tsdb__get_uvarint(p, left, &span)) == 0) goto bad;
    p += k;
    left -= k;
    if ((k = tsdb__get_uvarint(p, left, &coff)) == 0) goto bad;
    p += k;
    left -= k;
    if ((k = tsdb__get_uvarint(p, left, &cnt)) == 0) goto bad;
    p += k;
    left -= k;
    if (b->chk_version == 1 ? coff >= b->chk_len : (coff >> LOC_SHIFT) >= b->npages)
      goto bad;
    if (r) r[j] = (block_rec_t){mint, (int64_t)((uint64_t)mint + span), coff, (uint32_t)cnt};
  }
  if (ls) {
    *ls = labels_new(NULL, pairs, nl, NULL, 0);
    if (*ls == NULL) goto bad;
  }
  if (recs) {
    *recs = r;
    *nrecs = nr;
  }
  return 0;
bad:
  free(r);
  return PH_ECORRUPT;
}

/* Inflates (or finds) page ord of a format-2 block; pc->mu held.  The
 * page stays valid until the next call. */
static int page_get(const block_t *b, uint64_t ord, const uint8_t **data, size_t *len,
                    char *err, size_t errlen) {
  struct page_cache *pc = b->pc;
  pc->tick++;
  page_slot_t *victim = &pc->slot[0];
  for (int i = 0; i < PC_SLOTS; i++) {
    page_slot_t *s = &pc->slot[i];
    if (s->ord == ord) {
      s->used = pc->tick;
      *data = s->buf;
      *len = s->len;
      return 0;
    }
    if (s->used < victim->used) victim = s;
  }
  if (ord >= b->npages)
    return ph_err(err, errlen, PH_ECORRUPT, "block %s: page %llu out of range", b->dir,
                  (unsigned long long)ord);
  uint64_t off = tsdb__get_le64(b->ptab + 8 * ord);
  const uint8_t *p = b->chk + off;
  size_t left = (size_t)(b->pages_end - off), k;
  uint64_t raw, stored;
  if ((k = tsdb__get_uvarint(p, left, &raw)) == 0 || raw == 0 || raw >= PAGE_MAX_RAW)
    goto bad;
  p += k;
  left -= k;
  if ((k = tsdb__get_uvarint(p, left, &stored)) == 0 || left - k < 5 ||
      stored > left - k - 5)
    goto bad;
  p += k;
  uint8_t comp = p[0];
  uint32_t crc = tsdb__get_le32(p + 1);
  p += 5;
  if (comp > 1 || (comp == 0 && stored != raw)) goto bad;
  if (tsdb__crc32c(0, p, stored) != crc)
    return ph_err(err, errlen, PH_ECORRUPT, "block %s: page at %llu: checksum mismatch",
                  b->dir, (unsigned long long)off);
  victim->ord = UINT64_MAX;
  if (victim->cap < raw) {
    free(victim->buf);
    victim->buf = ph_malloc(raw);
    victim->cap = raw;
  }
  if (comp == 0) {
    memcpy(victim->buf, p, raw);
  } else {
    if (pc->dctx == NULL) pc->dctx = ZSTD_createDCtx();
    ph_assert(pc->dctx != NULL);
    size_t got = ZSTD_decompressDCtx(pc->dctx, victim->buf, raw, p, stored);
    if (ZSTD_isError(got) || got != raw) goto bad;
  }
  victim->ord = ord;
  victim->len = raw;
  victim->used = pc->tick;
  *data = victim->buf;
  *len = raw;
  return 0;
bad:
  return ph_err(err, errlen, PH_ECORRUPT, "block %s: bad page at %llu", b->dir,
                (unsigned long long)off);
}

/* Locates the entry at loc: page bytes from it to the page end. */
static int entry_at(const block_t *b, uint64_t loc, const uint8_t **p, size_t *left,
                    char *err, size_t errlen) {
  const uint8_t *data = NULL;
  size_t len = 0;
  int rc = page_get(b, loc >> LOC_SHIFT, &data, &len, err, errlen);
  if (rc) return rc;
  size_t off = (size_t)(loc & ((1u << LOC_SHIFT) - 1));
  if (off >= len)
    return ph_err(err, errlen, PH_ECORRUPT, "block %s: entry %llu out of range", b->dir,
                  (unsigned long long)loc);
  *p = data + off;
  *left = len - off;
  return 0;
}

static int read_record_v2(const block_t *b, const block_rec_t *rec, int64_t *t, double *v,
                          size_t cap, size_t *n, char *err, size_t errlen) {
  const uint8_t *p = NULL;
  size_t left = 0, k;
  uint64_t ts_loc, vlen, tlen;
  int rc = entry_at(b, rec->offset, &p, &left, err, errlen);
  if (rc) return rc;
  size_t hdr; /* bytes before the value column */
  if ((k = tsdb__get_uvarint(p, left, &ts_loc)) == 0) goto bad;
  hdr = k;
  if ((k = tsdb__get_uvarint(p + hdr, left - hdr, &vlen)) == 0 || vlen > left - hdr - k)
    goto bad;
  hdr += k;
  /* timestamps first (that may replace the page just read) */
  const uint8_t *tp = NULL;
  size_t tleft = 0;
  rc = entry_at(b, ts_loc, &tp, &tleft, err, errlen);
  if (rc) return rc;
  if ((k = tsdb__get_uvarint(tp, tleft, &tlen)) == 0 || tlen > tleft - k) goto bad;
  rc = chunk_sealed_decode_ts(tp + k, (size_t)tlen, t, cap, n, err, errlen);
  if (rc) return rc;
  if (*n != rec->count) goto bad;
  /* then the values, the record's page looked up again */
  rc = entry_at(b, rec->offset, &p, &left, err, errlen);
  if (rc) return rc;
  return chunk_sealed_decode_values(p + hdr, (size_t)vlen, v, *n, err, errlen);
bad:
  return ph_err(err, errlen, PH_ECORRUPT, "block %s: bad chunk record %llu", b->dir,
                (unsigned long long)rec->offset);
}

/* Decodes one chunk record into freshly allocated arrays. */
int tsdb__block_read_record(const block_t *b, const block_rec_t *rec, int64_t **ts,
                            double **vs, size_t *n, char *err, size_t errlen) {
  if (b->chk_version == 2) {
    size_t cap = rec->count ? rec->count : 1;
    int64_t *t = ph_malloc(cap * sizeof(int64_t));
    double *v = ph_malloc(cap * sizeof(double));
    pthread_mutex_lock(&b->pc->mu);
    int rc = read_record_v2(b, rec, t, v, cap, n, err, errlen);
    pthread_mutex_unlock(&b->pc->mu);
    if (rc != 0) {
      free(t);
      free(v);
      return PH_ECORRUPT;
    }
    *ts = t;
    *vs = v;
    return 0;
  }
  const uint8_t *p = b->chk + rec->offset;
  size_t left = b->chk_len - rec->offset, k;
  uint64_t len;
  if ((k = tsdb__get_uvarint(p, left, &len)) == 0 || len + 4 > left - k)
    return ph_err(err, errlen, PH_ECORRUPT, "block %s: chunk at %llu out of range",
                  b->dir, (unsigned long long)rec->offset);
  p += k;
  uint32_t crc = tsdb__get_le32(p);
  p += 4;
  if (tsdb__crc32c(0, p, len) != crc)
    return ph_err(err, errlen, PH_ECORRUPT, "block %s: chunk at %llu: checksum mismatch",
                  b->dir, (unsigned long long)rec->offset);
  size_t cap = rec->count ? rec->count : 1;
  int64_t *t = ph_malloc(cap * sizeof(int64_t));
  double *v = ph_malloc(cap * sizeof(double));
  int rc = chunk_sealed_decode(p, len, t, v, cap, n, err, errlen);
  if (rc != 0) {
    free(t);
    free(v);
    return rc == PH_ECORRUPT ? rc : PH_ECORRUPT;
  }
  *ts = t;
  *vs = v;
  return 0;
}

/* ---- postings ---------------------------------------------------------------- */

static void ptable_entry(const block_t *b, uint64_t i, uint32_t *name, uint32_t *value,
                         uint64_t *off) {
  const uint8_t *e = b->ptable + 16 * (size_t)i;
  *name = tsdb__get_le32(e);
  *value = tsdb__get_le32(e + 4);
  *off = tsdb__get_le64(e + 8);
}

/* Appends the postings list at off to out (unsorted merge is the caller's). */
static int read_postings(const block_t *b, uint64_t off, uint32_t **out, size_t *n,
                         size_t *cap) {
  const uint8_t *p = b->postings + off;
  if (p >= b->ptable) return PH_ECORRUPT;
  size_t left = (size_t)(b->ptable - p), k;
  uint64_t cnt;
  if ((k = tsdb__get_uvarint(p, left, &cnt)) == 0 || cnt > b->nseries) return PH_ECORRUPT;
  p += k;
  left -= k;
  ph_grow(out, cap, *n + cnt);
  uint64_t cur = 0;
  for (uint64_t i = 0; i < cnt; i++) {
    uint64_t d;
    if ((k = tsdb__get_uvarint(p, left, &d)) == 0) return PH_ECORRUPT;
    p += k;
    left -= k;
    cur += d;
    if (cur >= b->nseries) return PH_ECORRUPT;
    (*out)[(*n)++] = (uint32_t)cur;
  }
  return 0;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

/* Ordinals whose value for m->name satisfies (want) the matcher. */
static int collect(const block_t *b, const tsdb__matcher_t *m, bool want,
                   uint32_t **out, size_t *n) {
  size_t cap = 0;
  *out = NULL;
  *n = 0;
  long name = find_sym(b, m->name);
  if (name < 0) return 0;
  /* the table is sorted by (name, value): find the name's range */
  uint64_t lo = 0, hi = b->npairs;
  while (lo < hi) {
    uint64_t mid = (lo + hi) / 2;
    uint32_t pn, pv;
    uint64_t off;
    ptable_entry(b, mid, &pn, &pv, &off);
    if (pn < (uint32_t)name) lo = mid + 1;
    else hi = mid;
  }
  size_t lists = 0;
  for (uint64_t i = lo; i < b->npairs; i++) {
    uint32_t pn, pv;
    uint64_t off;
    ptable_entry(b, i, &pn, &pv, &off);
    if (pn != (uint32_t)name) break;
    if (pv >= b->nsym) return PH_ECORRUPT;
    const char *val = b->sym[pv];
    if (tsdb__matcher_matches(m, val, strlen(val)) != want) continue;
    int rc = read_postings(b, off, out, n, &cap);
    if (rc != 0) return rc;
    lists++;
  }
  if (lists > 1 && *n > 1) qsort(*out, *n, sizeof(uint32_t), cmp_u32);
  return 0;
}

int tsdb__block_select(const block_t *b, tsdb__matcher_t *m, size_t nm,
                       uint32_t **out, size_t *n) {
  uint32_t *acc = NULL;
  size_t nacc = 0;
  bool started = false;
  int rc = 0;
  for (int pass = 0; pass < 2 && rc == 0; pass++) {
    for (size_t i = 0; i < nm && rc == 0; i++) {
      bool empty_ok = m[i].matches_empty;
      if ((pass == 0) == empty_ok) continue;
      uint32_t *p;
      size_t np;
      if (!started) {
        if (!empty_ok) {
          rc = collect(b, &m[i], true, &acc, &nacc);
          started = true;
          continue;
        }
        acc = ph_malloc((b->nseries ? b->nseries : 1) * sizeof(uint32_t));
        for (uint64_t k = 0; k < b->nseries; k++) acc[k] = (uint32_t)k;
        nacc = b->nseries;
        started = true;
      }
      rc = collect(b, &m[i], !empty_ok, &p, &np);
      if (rc != 0) break;
      size_t x = 0, y = 0, o = 0;
      if (!empty_ok) { /* intersect */
        while (x < nacc && y < np) {
          if (acc[x] == p[y]) { acc[o++] = acc[x]; x++; y++; }
          else if (acc[x] < p[y]) x++;
          else y++;
        }
      } else { /* subtract */
        while (x < nacc) {
          while (y < np && p[y] < acc[x]) y++;
          if (y < np && p[y] == acc[x]) { x++; continue; }
          acc[o++] = acc[x++];
        }
      }
      nacc = o;
      free(p);
    }
  }
  if (rc == 0 && !started) {
    acc = ph_malloc((b->nseries ? b->nseries : 1) * sizeof(uint32_t));
    for (uint64_t k = 0; k < b->nseries; k++) acc[k] = (uint32_t)k;
    nacc = b->nseries;
  }
  if (rc != 0) {
    free(acc);
    return rc;
  }
  *out = acc;
  *n = nacc;
  return 0;
}

/* All label names (name == NULL) or values of name, of the given ordinals
 * (all series when ords == NULL), appended as borrowed pointers. */
int tsdb__block_label_strings(const block_t *b, const char *name, const uint32_t *ords,
                              size_t nords, const char ***out, size_t *n, size_t *cap) {
  if (ords == NULL) {
    long nid = name ? find_sym(b, name) : -1;
    if (name && nid < 0) return 0;
    uint32_t last = UINT32_MAX;
    for (uint64_t i = 0; i < b->npairs; i++) {
      uint32_t pn, pv;
      uint64_t off;
      ptable_entry(b, i, &pn, &pv, &off);
      if (pn >= b->nsym || pv >= b->nsym) return PH_ECORRUPT;
      if (name == NULL) {
        if (pn == last) continue;
        last = pn;
        ph_grow(out, cap, *n + 1);
        (*out)[(*n)++] = b->sym[pn];
      } else if (pn == (uint32_t)nid) {
        ph_grow(out, cap, *n + 1);
        (*out)[(*n)++] = b->sym[pv];
      }
    }
    return 0;
  }
  for (size_t i = 0; i < nords; i++) {
    labels_t *ls;
    int rc = tsdb__block_series(b, ords[i], &ls, NULL, NULL);
    if (rc != 0) return rc;
    for (size_t j = 0; j < labels_len(ls); j++) {
      const label_t *l = labels_at(ls, j);
      const char *s = NULL;
      if (name == NULL) s = l->name;
      else if (strcmp(l->name, name) == 0) s = l->value;
      if (s == NULL) continue;
      /* map back to the block's symbol so the pointer outlives ls */
      long id = find_sym(b, s);
      if (id < 0) continue;
      ph_grow(out, cap, *n + 1);
      (*out)[(*n)++] = b->sym[id];
    }
    labels_free(ls);
  }
  return 0;
}
