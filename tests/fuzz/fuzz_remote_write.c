/*
 * fuzz_remote_write.c - libFuzzer driver for the remote-write receiver
 * (collector/remote.h: snappy, the hand-written wire decoder, label and
 * sample validation, the series cache, appending, metadata).  Built with clang by
 * tests/fuzz/meson.build and run briefly over
 * tests/fuzz/corpus/remote_write by tests/fuzz/run_fuzz.sh.
 *
 * Input layout:
 *
 *   OFFSET  SIZE  DESCRIPTION
 *   0       1     mode: bit 0 = message (0 prometheus.WriteRequest,
 *                 1 io.prometheus.write.v2.Request); bit 1 = the rest is
 *                 the snappy-compressed body as sent (else it is the
 *                 protobuf message, compressed here, so the fuzzer mutates
 *                 the message rather than the compression); bit 2 = run
 *                 it twice through the series cache (the second time the
 *                 series it stored are hits)
 *   1       n-1   the body or the message
 *
 * Every input goes to one TSDB opened once in a fresh directory under
 * $TMPDIR (no background thread, WAL fsync by interval) with a fixed
 * "now", so samples near 1.7e12 ms are in bounds.  The checks: the status
 * is 204, 400 or 500; a 204 has no message and an error has one; nothing
 * counts more samples written than the message could hold.
 */
#include "mem.h"
#include "remote.h"
#include "remote_int.h"
#include "remote_metadata.h"
#include "strbuf.h"
#include "tsdb.h"

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static tsdb_t *db;
static metadata_store_t *md;
static remote_write_cache_t *cache; /* small: evictions happen too */
static char dir[4096];

static void check(int cond) {
  if (!cond) abort();
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static void cleanup(void) {
  remote_write_cache_free(cache);
  cache = NULL;
  tsdb_close(db);
  metadata_store_free(md);
  db = NULL;
  md = NULL;
  if (dir[0] != '\0') nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/fuzz_remote_write.XXXXXX", tmp && *tmp ? tmp : "/tmp");
  check(mkdtemp(dir) != NULL);
  tsdb_options_t o;
  tsdb_options_default(&o);
  o.path = dir;
  o.no_background = true;
  o.wal_fsync = TSDB_WAL_FSYNC_INTERVAL;
  o.wal_fsync_interval_ms = 3600 * 1000;
  o.retention_ms = 0;
  char err[256];
  if (tsdb_open(&o, &db, err, sizeof err) != 0) {
    fprintf(stderr, "fuzz_remote_write: %s\n", err);
    abort();
  }
  md = metadata_store_new(1000);
  cache = remote_write_cache_new(db, 256);
  atexit(cleanup);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > (1u << 20)) return 0;
  uint8_t mode = data[0];
  remote_write_proto_t proto = (mode & 1) ? REMOTE_WRITE_V2 : REMOTE_WRITE_V1;
  /* An exactly-sized copy, so ASan sees any read past the end. */
  size_t n = size - 1;
  uint8_t *msg = malloc(n ? n : 1);
  check(msg != NULL);
  if (n) memcpy(msg, data + 1, n);

  strbuf_t body = STRBUF_INIT;
  const void *b = msg;
  size_t blen = n;
  if (!(mode & 2)) {
    remote__snappy_encode(msg, n, &body);
    b = body.data ? body.data : "";
    blen = body.len;
  }
  remote_write_opts_t o;
  remote_write_opts_default(&o);
  o.now_ms = 1700000000000;
  o.max_decoded_bytes = 4u << 20;
  if (mode & 4) o.cache = cache;
  for (int run = 0; run < ((mode & 4) ? 2 : 1); run++) {
    remote_write_result_t res;
    memset(&res, 0, sizeof res);
    remote_write(db, md, proto, b, blen, &o, &res);
    check(res.status == 204 || res.status == 400 || res.status == 500);
    check((res.status == 204) == (res.message.len == 0));
    /* a sample takes at least 2 bytes on the wire (tag + empty message) */
    check(res.samples_written <= (uint64_t)n);
    check(res.histograms_written == 0 && res.exemplars_written == 0);
    remote_write_result_free(&res);
  }
  strbuf_free(&body);
  free(msg);
  return 0;
}
