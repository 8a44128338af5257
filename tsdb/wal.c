/*
 * wal.c - the write-ahead log.
 *
 * The log is a directory of segment files named by an 8-digit sequence
 * number (wal/00000001, wal/00000002, …).  A segment is a run of records:
 *
 *   OFFSET  SIZE  DESCRIPTION
 *   0       1     record type (WAL_REC_*)
 *   1       4     payload length n, little endian
 *   5       4     CRC-32C of the payload, little endian
 *   9       n     payload
 *
 * A commit appends one record with one write(); in "commit" fsync mode the
 * segment is fdatasync'ed before the commit returns, in "interval" mode a
 * background thread of the database calls tsdb__wal_sync every interval.
 * A write() that returned means the bytes are in the kernel's page cache,
 * so a kill -9 of the process loses nothing in either mode; only a crash of
 * the machine can lose the last interval in "interval" mode.
 *
 * A segment is closed at WAL_SEGMENT_BYTES and a new one started.  On open
 * every segment is replayed in order; the first record that is short or
 * fails its checksum ends the log: that segment is cut at the record's
 * offset, later segments are removed, and the loss is logged with file,
 * offset and bytes dropped.  Writing then continues in a new segment.
 * After a head snapshot, replay starts at the position it recorded
 * (tsdb__wal_position when it was written; tsdb__wal_can_start checks the
 * segments are still there) and skips the checkpoint and older segments.
 */
#include "tsdb_int.h"

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
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define WAL_SEGMENT_BYTES (128u << 20)
#define WAL_HEADER 9

struct wal {
  char *dir;             /* owned: <db>/wal */
  tsdb_wal_fsync_t mode;
  uint64_t seg_limit;    /* start a new segment past this size */
  pthread_mutex_t mu;    /* guards everything below */
  int fd;                /* current segment */
  uint32_t seq;          /* its number */
  uint64_t seg_bytes;    /* bytes in the current segment */
  uint64_t total_bytes;  /* bytes in all segments */
  bool dirty;            /* written since the last fsync */
  bool failed;           /* last write failed: retry on a fresh segment */
};

/* ---- varints ------------------------------------------------------------- */

void tsdb__put_uvarint(strbuf_t *b, uint64_t v) {
  uint8_t tmp[10];
  size_t n = 0;
  while (v >= 0x80) {
    tmp[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  tmp[n++] = (uint8_t)v;
  strbuf_append(b, tmp, n);
}

void tsdb__put_varint(strbuf_t *b, int64_t v) {
  tsdb__put_uvarint(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

size_t tsdb__get_uvarint(const uint8_t *p, size_t n, uint64_t *v) {
  uint64_t x = 0;
  unsigned shift = 0;
  for (size_t i = 0; i < n && i < 10; i++) {
    uint8_t c = p[i];
    if (i == 9 && c > 1) return 0;
    x |= (uint64_t)(c & 0x7f) << shift;
    if ((c & 0x80) == 0) {
      *v = x;
      return i + 1;
    }
    shift += 7;
  }
  return 0;
}

size_t tsdb__get_varint(const uint8_t *p, size_t n, int64_t *v) {
  uint64_t u;
  size_t k = tsdb__get_uvarint(p, n, &u);
  if (k) *v = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
  return k;
}

/* ---- segments ------------------------------------------------------------ */

static void seg_path(const wal_t *w, uint32_t seq, char *buf, size_t len) {
  snprintf(buf, len, "%s/%08u", w->dir, seq);
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

/* Sorted segment numbers in the directory. */
static int list_segments(const char *dir, uint32_t **out, size_t *n) {
  DIR *d = opendir(dir);
  if (d == NULL) return PH_EIO;
  uint32_t *v = NULL;
  size_t nv = 0, cap = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    const char *s = de->d_name;
    if (strlen(s) != 8 || strspn(s, "0123456789") != 8) continue;
    ph_grow(&v, &cap, nv + 1);
    v[nv++] = (uint32_t)strtoul(s, NULL, 10);
  }
  closedir(d);
  if (nv > 1) qsort(v, nv, sizeof(*v), cmp_u32);
  *out = v;
  *n = nv;
  return 0;
}

/* Decodes one batch payload through the callbacks; false if malformed. */
static bool replay_batch(const uint8_t *p, size_t n, const wal_replay_cb_t *cb) {
  size_t off = 0, k;
  uint64_t nseries;
  if ((k = tsdb__get_uvarint(p, n, &nseries)) == 0) return false;
  off += k;
  label_t stackpairs[64];
  for (uint64_t i = 0; i < nseries; i++) {
    uint64_t ref, nl;
    if ((k = tsdb__get_uvarint(p + off, n - off, &ref)) == 0) return false;
    off += k;
    if ((k = tsdb__get_uvarint(p + off, n - off, &nl)) == 0) return false;
    off += k;
    if (nl > (n - off) / 2) return false;
    label_t *pairs = nl <= 64 ? stackpairs : ph_malloc(nl * sizeof(label_t));
    char **strs = ph_calloc(nl * 2 + 1, sizeof(char *));
    bool ok = true;
    for (uint64_t j = 0; ok && j < nl * 2; j++) {
      uint64_t len;
      if ((k = tsdb__get_uvarint(p + off, n - off, &len)) == 0 || len > n - off - k) {
        ok = false;
        break;
      }
      off += k;
      strs[j] = ph_strndup((const char *)p + off, len);
      off += len;
    }
    if (ok) {
      for (uint64_t j = 0; j < nl; j++) {
        pairs[j].name = strs[2 * j];
        pairs[j].value = strs[2 * j + 1];
      }
      labels_t *ls = labels_new(NULL, pairs, nl, NULL, 0);
      if (ls != NULL) {
        cb->series(cb->ud, ref, ls);
        labels_free(ls);
      }
    }
    for (uint64_t j = 0; j < nl * 2; j++) free(strs[j]);
    free(strs);
    if (pairs != stackpairs) free(pairs);
    if (!ok) return false;
  }
  uint64_t nsamples;
  if ((k = tsdb__get_uvarint(p + off, n - off, &nsamples)) == 0) return false;
  off += k;
  if (nsamples == 0) return off == n;
  int64_t base;
  if ((k = tsdb__get_varint(p + off, n - off, &base)) == 0) return false;
  off += k;
  for (uint64_t i = 0; i < nsamples; i++) {
    uint64_t ref;
    int64_t dt;
    if ((k = tsdb__get_uvarint(p + off, n - off, &ref)) == 0) return false;
    off += k;
    if ((k = tsdb__get_varint(p + off, n - off, &dt)) == 0) return false;
    off += k;
    if (n - off < 8) return false;
    uint64_t bits = 0;
    for (int b = 7; b >= 0; b--) bits = bits << 8 | p[off + (size_t)b];
    off += 8;
    double v;
    memcpy(&v, &bits, sizeof v);
    cb->sample(cb->ud, ref, (int64_t)((uint64_t)base + (uint64_t)dt), v);
  }
  return off == n;
}

/* Replays one segment from offset start (a record boundary); returns the
 * offset where valid data ends. */
static uint64_t replay_segment(const char *path, const wal_replay_cb_t *cb,
                               uint64_t start, uint64_t *size_out) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size == 0) {
    close(fd);
    *size_out = 0;
    return 0;
  }
  size_t size = (size_t)st.st_size;
  *size_out = size;
  const uint8_t *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (m == MAP_FAILED) return 0;
  size_t off = start <= size ? (size_t)start : size;
  while (off + WAL_HEADER <= size) {
    uint8_t type = m[off];
    uint32_t len = tsdb__get_le32(m + off + 1);
    uint32_t crc = tsdb__get_le32(m + off + 5);
    if (type == 0 || len > size - off - WAL_HEADER) break;
    const uint8_t *payload = m + off + WAL_HEADER;
    if (tsdb__crc32c(0, payload, len) != crc) break;
    if (type == WAL_REC_BATCH && !replay_batch(payload, len, cb)) break;
    off += WAL_HEADER + len;
  }
  munmap((void *)m, size);
  return off;
}

static int open_segment(wal_t *w, uint32_t seq, char *err, size_t errlen) {
  char path[4096];
  seg_path(w, seq, path, sizeof path);
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0)
    return ph_err(err, errlen, PH_EIO, "create WAL segment %s: %s", path,
                  strerror(errno));
  if (w->fd >= 0) {
    fdatasync(w->fd);
    close(w->fd);
  }
  w->fd = fd;
  w->seq = seq;
  w->seg_bytes = 0;
  /* make the new file's directory entry durable */
  int dfd = open(w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return 0;
}

/* Newest checkpoint number in the directory, or -1. */
static long newest_checkpoint(const char *dir) {
  DIR *d = opendir(dir);
  if (d == NULL) return -1;
  long best = -1;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    const char *s = de->d_name;
    if (strncmp(s, "checkpoint.", 11) != 0 || strlen(s) != 19 ||
        strspn(s + 11, "0123456789") != 8)
      continue;
    long v = strtol(s + 11, NULL, 10);
    if (v > best) best = v;
  }
  closedir(d);
  return best;
}

/* Removes segments numbered <= upto and checkpoints older than keep, and
 * temporary checkpoint files. */
static void remove_old(const char *dir, long upto, long keep) {
  DIR *d = opendir(dir);
  if (d == NULL) return;
  struct dirent *de;
  char p[4200];
  while ((de = readdir(d)) != NULL) {
    const char *s = de->d_name;
    bool del = false;
    if (strlen(s) == 8 && strspn(s, "0123456789") == 8)
      del = strtol(s, NULL, 10) <= upto;
    else if (strncmp(s, "checkpoint.", 11) == 0)
      del = strstr(s, ".tmp") != NULL || (strlen(s) == 19 && strtol(s + 11, NULL, 10) < keep);
    if (!del) continue;
    snprintf(p, sizeof p, "%s/%s", dir, s);
    unlink(p);
  }
  closedir(d);
}

void tsdb__wal_position(wal_t *w, wal_pos_t *pos) {
  pthread_mutex_lock(&w->mu);
  pos->seq = w->seq;
  pos->off = w->seg_bytes;
  pthread_mutex_unlock(&w->mu);
}

bool tsdb__wal_can_start(const char *dbdir, const wal_pos_t *pos) {
  char dir[4200], path[4300];
  snprintf(dir, sizeof dir, "%s/wal", dbdir);
  long ck = newest_checkpoint(dir);
  if (ck >= 0 && (uint64_t)ck >= pos->seq) return false;
  snprintf(path, sizeof path, "%s/%08u", dir, pos->seq);
  struct stat st;
  if (stat(path, &st) != 0 || (uint64_t)st.st_size < pos->off) return false;
  /* the segments from there on must follow each other without a gap */
  uint32_t *segs;
  size_t n;
  if (list_segments(dir, &segs, &n) != 0) return false;
  bool ok = true;
  uint32_t expect = pos->seq;
  for (size_t i = 0; i < n; i++) {
    if (segs[i] < pos->seq) continue;
    if (segs[i] != expect) {
      ok = false;
      break;
    }
    expect++;
  }
  free(segs);
  return ok;
}

int tsdb__wal_open(const char *dbdir, tsdb_wal_fsync_t mode, uint64_t segment_bytes,
                   const wal_replay_cb_t *cb, const wal_pos_t *start, wal_t **out,
                   char *err, size_t errlen) {
  wal_t *w = ph_calloc(1, sizeof(*w));
  size_t dl = strlen(dbdir) + 8;
  w->dir = ph_malloc(dl);
  snprintf(w->dir, dl, "%s/wal", dbdir);
  w->mode = mode;
  w->seg_limit = segment_bytes ? segment_bytes : WAL_SEGMENT_BYTES;
  w->fd = -1;
  pthread_mutex_init(&w->mu, NULL);
  if (mkdir(w->dir, 0755) != 0 && errno != EEXIST) {
    int rc = ph_err(err, errlen, PH_EIO, "create %s: %s", w->dir, strerror(errno));
    tsdb__wal_close(w);
    return rc;
  }
  long ck = newest_checkpoint(w->dir);
  if (ck >= 0) {
    char cpath[4200];
    snprintf(cpath, sizeof cpath, "%s/checkpoint.%08ld", w->dir, ck);
    uint64_t size = 0;
    uint64_t good = 0;
    if (start == NULL) {
      good = replay_segment(cpath, cb, 0, &size);
    } else {
      struct stat st;
      if (stat(cpath, &st) == 0) size = good = (uint64_t)st.st_size;
    }
    w->total_bytes += size;
    if (good < size) {
      char off_s[32];
      snprintf(off_s, sizeof off_s, "%llu", (unsigned long long)good);
      log_error("WAL checkpoint is corrupt; samples after this offset are lost",
                "file", cpath, "offset", off_s);
    }
    remove_old(w->dir, ck, ck);
  }
  uint32_t *segs;
  size_t nseg;
  if (list_segments(w->dir, &segs, &nseg) != 0) {
    int rc = ph_err(err, errlen, PH_EIO, "read %s: %s", w->dir, strerror(errno));
    tsdb__wal_close(w);
    return rc;
  }
  uint32_t last = ck >= 0 ? (uint32_t)ck : 0;
  for (size_t i = 0; i < nseg; i++) {
    if (ck >= 0 && segs[i] <= (uint32_t)ck) continue;
    char path[4096];
    seg_path(w, segs[i], path, sizeof path);
    uint64_t size = 0;
    uint64_t good;
    if (start != NULL && segs[i] < start->seq) {
      /* covered by the head snapshot */
      struct stat st;
      good = size = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
      last = segs[i];
      w->total_bytes += size;
      continue;
    }
    good = replay_segment(path, cb, start != NULL && segs[i] == start->seq ? start->off : 0,
                          &size);
    last = segs[i];
    w->total_bytes += good;
    if (good < size) {
      uint64_t dropped = size - good;
      for (size_t j = i + 1; j < nseg; j++) {
        char p2[4096];
        seg_path(w, segs[j], p2, sizeof p2);
        struct stat st;
        if (stat(p2, &st) == 0) dropped += (uint64_t)st.st_size;
        unlink(p2);
      }
      if (truncate(path, (off_t)good) != 0)
        log_error("cannot cut corrupt WAL segment", "file", path, "err", strerror(errno));
      char off_s[32], drop_s[32];
      snprintf(off_s, sizeof off_s, "%llu", (unsigned long long)good);
      snprintf(drop_s, sizeof drop_s, "%llu", (unsigned long long)dropped);
      log_warn("WAL ends in a torn or corrupt record; dropped the rest", "file",
               path, "offset", off_s, "dropped_bytes", drop_s);
      break;
    }
  }
  free(segs);
  /* keep appending to the newest segment (cut at its last good record) so
   * that opening a database does not leave an empty segment behind */
  int rc;
  if (nseg > 0 && last > (ck >= 0 ? (uint32_t)ck : 0)) {
    rc = open_segment(w, last, err, errlen);
    if (rc == 0) {
      struct stat st;
      if (fstat(w->fd, &st) == 0) w->seg_bytes = (uint64_t)st.st_size;
    }
  } else {
    rc = open_segment(w, last + 1, err, errlen);
  }
  if (rc != 0) {
    tsdb__wal_close(w);
    return rc;
  }
  *out = w;
  return 0;
}

void tsdb__wal_close(wal_t *w) {
  if (w == NULL) return;
  if (w->fd >= 0) {
    fdatasync(w->fd);
    close(w->fd);
  }
  pthread_mutex_destroy(&w->mu);
  free(w->dir);
  free(w);
}

int tsdb__wal_log(wal_t *w, uint8_t type, const uint8_t *payload, size_t len,
                  char *err, size_t errlen) {
  if (len > UINT32_MAX - WAL_HEADER)
    return ph_err(err, errlen, PH_ELIMIT, "WAL record too large (%zu bytes)", len);
  uint8_t hdr[WAL_HEADER];
  uint32_t crc = tsdb__crc32c(0, payload, len);
  hdr[0] = type;
  for (int i = 0; i < 4; i++) {
    hdr[1 + i] = (uint8_t)(len >> (8 * i));
    hdr[5 + i] = (uint8_t)(crc >> (8 * i));
  }
  pthread_mutex_lock(&w->mu);
  int rc = 0;
  if (w->failed || (w->seg_bytes > 0 && w->seg_bytes + WAL_HEADER + len > w->seg_limit)) {
    /* after a failed write the segment may end in a partial record: start
     * a fresh one so nothing valid follows garbage */
    rc = open_segment(w, w->seq + 1, err, errlen);
    if (rc != 0) goto out;
    w->failed = false;
  }
  struct iovec iov[2] = {{hdr, WAL_HEADER}, {(void *)payload, len}};
  size_t want = WAL_HEADER + len;
  ssize_t n = writev(w->fd, iov, 2);
  if (n < 0 || (size_t)n != want) {
    int e = n < 0 ? errno : ENOSPC;
    w->failed = true;
    if (n > 0 && ftruncate(w->fd, (off_t)w->seg_bytes) == 0) w->failed = false;
    bool full = e == ENOSPC || e == EFBIG || e == EDQUOT;
    rc = ph_err(err, errlen, full ? PH_ENOSPC : PH_EIO,
                "write to WAL segment %08u: %s", w->seq, strerror(e));
    goto out;
  }
  w->seg_bytes += want;
  w->total_bytes += want;
  w->dirty = true;
  if (w->mode == TSDB_WAL_FSYNC_COMMIT) {
    if (fdatasync(w->fd) != 0) {
      rc = ph_err(err, errlen, PH_EIO, "fsync WAL segment %08u: %s", w->seq,
                  strerror(errno));
      goto out;
    }
    w->dirty = false;
  }
out:
  pthread_mutex_unlock(&w->mu);
  return rc;
}

int tsdb__wal_sync(wal_t *w) {
  pthread_mutex_lock(&w->mu);
  int rc = 0;
  if (w->dirty && w->fd >= 0) {
    rc = fdatasync(w->fd) == 0 ? 0 : PH_EIO;
    if (rc == 0) w->dirty = false;
  }
  pthread_mutex_unlock(&w->mu);
  return rc;
}

uint64_t tsdb__wal_bytes(wal_t *w) {
  pthread_mutex_lock(&w->mu);
  uint64_t b = w->total_bytes;
  pthread_mutex_unlock(&w->mu);
  return b;
}

/* ---- checkpoints ------------------------------------------------------------ */

struct wal_ckpt {
  wal_t *w;
  uint32_t upto;  /* the checkpoint covers segments <= upto */
  int fd;
  char final[4200], tmp[4300];
  int err;
};

int tsdb__wal_checkpoint_begin(wal_t *w, wal_ckpt_t **out, char *err, size_t errlen) {
  pthread_mutex_lock(&w->mu);
  uint32_t upto = w->seq;
  int rc = open_segment(w, w->seq + 1, err, errlen);
  w->failed = false;
  pthread_mutex_unlock(&w->mu);
  if (rc != 0) return rc;
  wal_ckpt_t *c = ph_calloc(1, sizeof(*c));
  c->w = w;
  c->upto = upto;
  snprintf(c->final, sizeof c->final, "%s/checkpoint.%08u", w->dir, upto);
  snprintf(c->tmp, sizeof c->tmp, "%s.tmp", c->final);
  c->fd = open(c->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (c->fd < 0) {
    rc = ph_err(err, errlen, PH_EIO, "create %s: %s", c->tmp, strerror(errno));
    free(c);
    return rc;
  }
  *out = c;
  return 0;
}

int tsdb__wal_checkpoint_add(wal_ckpt_t *c, const uint8_t *payload, size_t len) {
  if (c->err) return c->err;
  uint8_t hdr[WAL_HEADER];
  uint32_t crc = tsdb__crc32c(0, payload, len);
  hdr[0] = WAL_REC_BATCH;
  for (int i = 0; i < 4; i++) {
    hdr[1 + i] = (uint8_t)(len >> (8 * i));
    hdr[5 + i] = (uint8_t)(crc >> (8 * i));
  }
  struct iovec iov[2] = {{hdr, WAL_HEADER}, {(void *)payload, len}};
  ssize_t n = writev(c->fd, iov, 2);
  if (n < 0 || (size_t)n != WAL_HEADER + len) c->err = errno == ENOSPC ? PH_ENOSPC : PH_EIO;
  return c->err;
}

int tsdb__wal_checkpoint_finish(wal_ckpt_t *c, bool commit, char *err, size_t errlen) {
  int rc = c->err;
  if (rc == 0 && commit && fsync(c->fd) != 0) rc = PH_EIO;
  close(c->fd);
  if (rc == 0 && commit) {
    if (rename(c->tmp, c->final) != 0) {
      rc = PH_EIO;
    } else {
      tsdb__fsync_dir(c->w->dir);
      remove_old(c->w->dir, (long)c->upto, (long)c->upto);
      struct stat st;
      uint64_t total = 0;
      if (stat(c->final, &st) == 0) total += (uint64_t)st.st_size;
      pthread_mutex_lock(&c->w->mu);
      c->w->total_bytes = total + c->w->seg_bytes;
      pthread_mutex_unlock(&c->w->mu);
    }
  }
  if (rc != 0 || !commit) unlink(c->tmp);
  if (rc != 0) ph_err(err, errlen, rc, "write WAL checkpoint %s failed", c->final);
  free(c);
  return rc;
}
