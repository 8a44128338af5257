/*
 * test_tsdb_restart.c - restarting the TSDB: cut head chunks on disk
 * (chunks_head/) and the head snapshot written on a clean close.
 *
 * Every test writes a known set of samples (values of every kind: integers,
 * fractions, NaN payloads, the staleness marker, -0, infinities), restarts
 * the database one way or another and compares what it reads back with what
 * was written, sample for sample and bit for bit:
 *   - clean close + open (the snapshot path) and the same without the
 *     snapshot or without chunks_head/ (the WAL path);
 *   - out-of-order samples within the window survive both paths;
 *   - a corrupt snapshot, or one whose WAL position is gone, falls back to
 *     the full replay;
 *   - a torn or corrupt tail in chunks_head/ is cut and the WAL fills in;
 *   - more WAL after a snapshot, then kill -9: nothing acknowledged is lost;
 *   - head truncation (a block cut) deletes chunks_head segments that are
 *     wholly older than the head, and data stays readable across restarts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "ph_error.h"
#include "tsdb_testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#define NSER 20
#define STEP 15000

static labels_t *ser_labels(int s) {
  char buf[16];
  snprintf(buf, sizeof buf, "%d", s);
  return tu_labels("__name__", "rt", "s", buf, "job", "restart", NULL);
}

/* The value of series s at step i: a mix of every kind of double. */
static double value_at(int s, int64_t i) {
  switch ((i + s) % 11) {
  case 0: return tsdb_stale_nan();
  case 1: return -0.0;
  case 2: return INFINITY;
  case 3: {
    uint64_t b = 0x7ff8000000000000ull | (uint64_t)(i & 0xffff);
    double v;
    memcpy(&v, &b, 8);
    return v;
  }
  case 4: return (double)(i * 3 + s) / 7.0;
  default: return (double)(i * 10 + s);
  }
}

static uint64_t bits(double v) {
  uint64_t b;
  memcpy(&b, &v, 8);
  return b;
}

static tsdb_t *open_opts(const char *dir, int64_t ooo, uint64_t chunk_seg, bool bg) {
  tsdb_options_t o;
  tsdb_options_default(&o);
  o.path = dir;
  o.ooo_window_ms = ooo;
  o.head_chunks_segment_bytes = chunk_seg;
  o.no_background = !bg;
  o.retention_ms = 0;
  tsdb_t *db = NULL;
  char err[512];
  if (tsdb_open(&o, &db, err, sizeof err) != 0) {
    fprintf(stderr, "tsdb_open: %s\n", err);
    return NULL;
  }
  return db;
}

/* Appends steps [from, to) of every series, one commit per step. */
static void write_steps(tsdb_t *db, int64_t from, int64_t to) {
  labels_t *ls[NSER];
  for (int s = 0; s < NSER; s++) ls[s] = ser_labels(s);
  for (int64_t i = from; i < to; i++) {
    tsdb_appender_t *a = tsdb_appender_new(db);
    for (int s = 0; s < NSER; s++)
      assert_int_equal(tsdb_append(a, ls[s], i * STEP, value_at(s, i), NULL), 0);
    assert_int_equal(tsdb_appender_commit(a, NULL, 0), 0);
  }
  for (int s = 0; s < NSER; s++) labels_free(ls[s]);
}

/* Checks that series s holds exactly steps [0, n) (plus the out-of-order
 * extras at odd half steps below ooo_upto when ooo_upto > 0). */
static void check_series(tsdb_t *db, int s, int64_t n, int64_t ooo_from, int64_t ooo_to) {
  char sb[16];
  snprintf(sb, sizeof sb, "%d", s);
  size_t cap = (size_t)n + 1000;
  int64_t *ts = malloc(cap * sizeof(int64_t));
  double *vs = malloc(cap * sizeof(double));
  long got = tu_read(db, "s", sb, INT64_MIN, INT64_MAX, ts, vs, cap);
  long want = (long)n + (long)(ooo_to > ooo_from ? ooo_to - ooo_from : 0);
  if (got != want) fail_msg("series %d: %ld samples, want %ld", s, got, want);
  long k = 0;
  for (int64_t i = 0; i < n; i++) {
    if (i >= ooo_from && i < ooo_to) {
      /* the out-of-order sample half a step before step i */
      if (ts[k] != i * STEP - STEP / 2 || bits(vs[k]) != bits((double)-i))
        fail_msg("series %d ooo at step %lld: t=%lld", s, (long long)i, (long long)ts[k]);
      k++;
    }
    if (ts[k] != i * STEP || bits(vs[k]) != bits(value_at(s, i)))
      fail_msg("series %d step %lld: t=%lld v=%g want %g", s, (long long)i,
               (long long)ts[k], vs[k], value_at(s, i));
    k++;
  }
  free(ts);
  free(vs);
}

static void check_all(tsdb_t *db, int64_t n) {
  for (int s = 0; s < NSER; s++) check_series(db, s, n, 0, 0);
}

static bool exists(const char *dir, const char *name) {
  char p[4200];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  struct stat st;
  return stat(p, &st) == 0;
}

/* Sorted numbers of the segment files in dir/sub; returns how many. */
static size_t list_segs(const char *dir, const char *sub, unsigned *out, size_t cap) {
  char p[4200];
  snprintf(p, sizeof p, "%s/%s", dir, sub);
  DIR *d = opendir(p);
  if (d == NULL) return 0;
  size_t n = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (strlen(de->d_name) != 8 || strspn(de->d_name, "0123456789") != 8) continue;
    if (n < cap) out[n] = (unsigned)strtoul(de->d_name, NULL, 10);
    n++;
  }
  closedir(d);
  for (size_t i = 1; i < n && i < cap; i++)
    for (size_t j = i; j > 0 && out[j - 1] > out[j]; j--) {
      unsigned t = out[j];
      out[j] = out[j - 1];
      out[j - 1] = t;
    }
  return n;
}

static off_t file_size(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 ? st.st_size : -1;
}

/* ---- tests ------------------------------------------------------------------ */

static void test_reopen_equal_all_paths(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  tsdb_t *db = open_opts(dir, 0, 0, false);
  assert_non_null(db);
  write_steps(db, 0, 1000); /* ~8 cut chunks per series */
  check_all(db, 1000);
  tsdb_close(db);
  assert_true(exists(dir, "head_snapshot"));
  assert_true(exists(dir, "chunks_head/00000001"));

  /* 1: the snapshot path */
  db = open_opts(dir, 0, 0, false);
  assert_non_null(db);
  check_all(db, 1000);
  tsdb_stats_t st;
  tsdb_get_stats(db, &st);
  assert_int_equal(st.head_series, NSER);
  /* appends go on after a snapshot restore: a duplicate of the newest
   * sample is accepted and dropped, another value at that time refused */
  labels_t *l0 = ser_labels(0);
  tsdb_appender_t *a = tsdb_appender_new(db);
  assert_int_equal(tsdb_append(a, l0, 999 * STEP, value_at(0, 999), NULL), 0);
  assert_int_equal(tsdb_append(a, l0, 999 * STEP, 12345.0, NULL), PH_EDUPLICATE);
  assert_int_equal(tsdb_append(a, l0, 998 * STEP, 1.0, NULL), PH_EOUTOFORDER);
  assert_int_equal(tsdb_appender_commit(a, NULL, 0), 0);
  labels_free(l0);
  write_steps(db, 1000, 1100);
  check_all(db, 1100);
  tsdb_close(db);

  /* 2: no snapshot: chunks_head/ + the whole WAL */
  char p[4200];
  snprintf(p, sizeof p, "%s/head_snapshot", dir);
  assert_int_equal(unlink(p), 0);
  db = open_opts(dir, 0, 0, false);
  assert_non_null(db);
  check_all(db, 1100);
  tsdb_close(db);

  /* 3: neither: the WAL alone */
  tu_drop_head_files(dir);
  db = open_opts(dir, 0, 0, false);
  assert_non_null(db);
  check_all(db, 1100);
  tsdb_close(db);

  /* 4: and once more through the snapshot the last close wrote */
  db = open_opts(dir, 0, 0, false);
  assert_non_null(db);
  check_all(db, 1100);
  tsdb_close(db);
  tu_rmrf(dir);
  free(dir);
}

static void test_reopen_at_chunk_boundary(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  tsdb_t *db = open_opts(dir, 0, 0, false);
  assert_non_null(db);
  write_steps(db, 0, 120); /* one full chunk, not cut yet */
  write_steps(db, 120, 121); /* cut: the open chunk has one sample */
  tsdb_close(db);
  /* restart without the snapshot: steps up to 119 come from the disk
   * chunk, the WAL replay skips them and rebuilds step 120 */
  char p[4200];
  snprintf(p, sizeof p, "%s/head_snapshot", dir);
  unlink(p);
  db = open_opts(dir, 0, 0, false);
  assert_non_null(db);
  check_all(db, 121);
  tsdb_close(db);
  tu_rmrf(dir);
  free(dir);
}

static void test_out_of_order_survives(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  tsdb_t *db = open_opts(dir, 3600 * 1000, 0, false);
  assert_non_null(db);
  write_steps(db, 0, 300);
  /* out-of-order samples half a step before steps 280..289 */
  labels_t *ls[NSER];
  for (int s = 0; s < NSER; s++) ls[s] = ser_labels(s);
  tsdb_appender_t *a = tsdb_appender_new(db);
  for (int s = 0; s < NSER; s++)
    for (int64_t i = 280; i < 290; i++)
      assert_int_equal(tsdb_append(a, ls[s], i * STEP - STEP / 2, (double)-i, NULL), 0);
  assert_int_equal(tsdb_appender_commit(a, NULL, 0), 0);
  for (int s = 0; s < NSER; s++) labels_free(ls[s]);
  for (int s = 0; s < NSER; s++) check_series(db, s, 300, 280, 290);
  tsdb_close(db);
  /* snapshot path */
  db = open_opts(dir, 3600 * 1000, 0, false);
  assert_non_null(db);
  for (int s = 0; s < NSER; s++) check_series(db, s, 300, 280, 290);
  tsdb_close(db);
  /* WAL path with the disk chunks */
  char p[4200];
  snprintf(p, sizeof p, "%s/head_snapshot", dir);
  unlink(p);
  db = open_opts(dir, 3600 * 1000, 0, false);
  assert_non_null(db);
  for (int s = 0; s < NSER; s++) check_series(db, s, 300, 280, 290);
  tsdb_close(db);
  tu_rmrf(dir);
  free(dir);
}

static void test_corrupt_snapshot_falls_back(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  tsdb_t *db = open_opts(dir, 0, 0, false);
  assert_non_null(db);
  write_steps(db, 0, 500);
  tsdb_close(db);
  char p[4200];
  snprintf(p, sizeof p, "%s/head_snapshot", dir);
  off_t size = file_size(p);
  assert_true(size > 100);
  /* flip one byte in the middle: the CRC fails, the WAL is replayed */
  int fd = open(p, O_RDWR);
  assert_true(fd >= 0);
  unsigned char c;
  assert_int_equal(pread(fd, &c, 1, size / 2), 1);
  c ^= 0x10;
  assert_int_equal(pwrite(fd, &c, 1, size / 2), 1);
  close(fd);
  db = open_opts(dir, 0, 0, false);
  assert_non_null(db);
  check_all(db, 500);
  write_steps(db, 500, 520);
  tsdb_close(db);
  /* a snapshot cut short */
  size = file_size(p);
  assert_int_equal(truncate(p, size - 7), 0);
  db = open_opts(dir, 0, 0, false);
  assert_non_null(db);
  check_all(db, 520);
  tsdb_close(db);
  /* a snapshot whose WAL position is beyond the end of the WAL: the newest
   * segment lost its tail; whatever the WAL still has is there, in order */
  unsigned segs[64];
  size_t nseg = list_segs(dir, "wal", segs, 64);
  assert_true(nseg >= 1);
  char wp[4200];
  snprintf(wp, sizeof wp, "%s/wal/%08u", dir, segs[nseg - 1]);
  off_t wsize = file_size(wp);
  assert_true(wsize > 0);
  assert_int_equal(truncate(wp, wsize - 1), 0);
  db = open_opts(dir, 0, 0, false);
  assert_non_null(db);
  /* the torn record (the last step) may be gone, everything before is there */
  int64_t ts[600];
  double vs[600];
  long n = tu_read(db, "s", "3", INT64_MIN, INT64_MAX, ts, vs, 600);
  assert_true(n >= 519 && n <= 520);
  check_all(db, n);
  tsdb_close(db);
  tu_rmrf(dir);
  free(dir);
}

static void test_chunks_head_torn_tail(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  tsdb_t *db = open_opts(dir, 0, 0, false);
  assert_non_null(db);
  write_steps(db, 0, 700);
  tsdb_close(db);
  char p[4200];
  snprintf(p, sizeof p, "%s/head_snapshot", dir);
  assert_int_equal(unlink(p), 0);
  snprintf(p, sizeof p, "%s/chunks_head/00000001", dir);
  off_t size = file_size(p);
  assert_true(size > 1000);
  /* cut the segment in the middle of a record */
  assert_int_equal(truncate(p, size - 37), 0);
  db = open_opts(dir, 0, 0, false);
  assert_non_null(db);
  check_all(db, 700);
  write_steps(db, 700, 800);
  tsdb_close(db);
  snprintf(p, sizeof p, "%s/head_snapshot", dir);
  assert_int_equal(unlink(p), 0);
  /* a flipped byte in an early record: everything from there is cut, the
   * WAL rebuilds it */
  snprintf(p, sizeof p, "%s/chunks_head/00000001", dir);
  int fd = open(p, O_RDWR);
  assert_true(fd >= 0);
  unsigned char c;
  assert_int_equal(pread(fd, &c, 1, 300), 1);
  c ^= 0x01;
  assert_int_equal(pwrite(fd, &c, 1, 300), 1);
  close(fd);
  db = open_opts(dir, 0, 0, false);
  assert_non_null(db);
  check_all(db, 800);
  tsdb_close(db);
  /* garbage file header: the segment is dropped */
  snprintf(p, sizeof p, "%s/head_snapshot", dir);
  unlink(p);
  snprintf(p, sizeof p, "%s/chunks_head/00000001", dir);
  fd = open(p, O_RDWR);
  assert_true(fd >= 0);
  assert_int_equal(pwrite(fd, "XXXX", 4, 0), 4);
  close(fd);
  db = open_opts(dir, 0, 0, false);
  assert_non_null(db);
  check_all(db, 800);
  tsdb_close(db);
  tu_rmrf(dir);
  free(dir);
}

/* The child appends a step per commit, reports it, until killed. */
static void kill_child(const char *dir, int64_t start, int fd) {
  tsdb_t *db = open_opts(dir, 0, 0, false);
  if (db == NULL) _exit(3);
  labels_t *ls[NSER];
  for (int s = 0; s < NSER; s++) ls[s] = ser_labels(s);
  for (int64_t i = start;; i++) {
    tsdb_appender_t *a = tsdb_appender_new(db);
    for (int s = 0; s < NSER; s++)
      if (tsdb_append(a, ls[s], i * STEP, value_at(s, i), NULL) != 0) _exit(4);
    if (tsdb_appender_commit(a, NULL, 0) != 0) _exit(5);
    if (write(fd, &i, sizeof i) != sizeof i) _exit(6);
  }
}

static void test_snapshot_then_wal_then_kill(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  tsdb_t *db = open_opts(dir, 0, 0, false);
  assert_non_null(db);
  write_steps(db, 0, 400);
  tsdb_close(db); /* snapshot */
  int64_t next = 400, acked = 399;
  srand((unsigned)time(NULL));
  for (int round = 0; round < 6; round++) {
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      close(pfd[0]);
      kill_child(dir, next, pfd[1]);
      _exit(0);
    }
    close(pfd[1]);
    /* kill at a random moment after the child's first commit (slow
     * sanitizer builds take a while to open) */
    int64_t b;
    if (read(pfd[0], &b, sizeof b) == sizeof b) acked = b;
    struct timespec ts = {0, (long)(rand() % 100) * 1000000L};
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    while (read(pfd[0], &b, sizeof b) == sizeof b) acked = b;
    close(pfd[0]);
    /* the snapshot from the last clean close is stale now: the chunks cut
     * after it are dropped and the WAL after its position replayed */
    db = open_opts(dir, 0, 0, false);
    assert_non_null(db);
    int64_t tsv[1];
    double vv[1];
    long n = tu_read(db, "s", "0", INT64_MIN, INT64_MAX, tsv, vv, 0);
    assert_true(n >= acked + 1);
    check_all(db, n);
    next = n;
    /* a clean close writes a fresh snapshot, which the next child loads
     * and the next check finds stale; every third round removes it, so
     * the child and the check take the chunks_head + whole-WAL path */
    tsdb_close(db);
    if (round % 3 == 1) {
      char p[4200];
      snprintf(p, sizeof p, "%s/head_snapshot", dir);
      assert_int_equal(unlink(p), 0);
    }
  }
  assert_true(acked > 400);
  tu_rmrf(dir);
  free(dir);
}

static void test_truncation_deletes_old_segments(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  /* tiny chunks_head segments: a handful of chunks each */
  tsdb_t *db = open_opts(dir, 0, 4096, false);
  assert_non_null(db);
  /* 4 h at 15 s: the head spans more than 1.5 block ranges, so maintain
   * cuts the first 2 h into a block and truncates the head */
  write_steps(db, 0, 960);
  unsigned segs[4096];
  size_t before = list_segs(dir, "chunks_head", segs, 4096);
  assert_true(before > 10);
  unsigned first_before = segs[0];
  char err[512];
  assert_int_equal(tsdb_maintain(db, err, sizeof err), 0);
  size_t after = list_segs(dir, "chunks_head", segs, 4096);
  assert_true(after < before);
  assert_true(segs[0] > first_before);
  check_all(db, 960); /* blocks + head */
  tsdb_close(db);
  db = open_opts(dir, 0, 4096, false);
  assert_non_null(db);
  check_all(db, 960);
  write_steps(db, 960, 1000);
  tsdb_close(db);
  /* and through the full replay */
  char p[4200];
  snprintf(p, sizeof p, "%s/head_snapshot", dir);
  unlink(p);
  db = open_opts(dir, 0, 4096, false);
  assert_non_null(db);
  check_all(db, 1000);
  tsdb_close(db);
  tu_rmrf(dir);
  free(dir);
}

static void test_no_snapshot_option(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  tsdb_options_t o;
  tsdb_options_default(&o);
  o.path = dir;
  o.no_background = true;
  o.no_head_snapshot = true;
  tsdb_t *db;
  char err[256];
  assert_int_equal(tsdb_open(&o, &db, err, sizeof err), 0);
  write_steps(db, 0, 200);
  tsdb_close(db);
  assert_false(exists(dir, "head_snapshot"));
  assert_int_equal(tsdb_open(&o, &db, err, sizeof err), 0);
  check_all(db, 200);
  tsdb_close(db);
  tu_rmrf(dir);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reopen_equal_all_paths),
      cmocka_unit_test(test_reopen_at_chunk_boundary),
      cmocka_unit_test(test_out_of_order_survives),
      cmocka_unit_test(test_corrupt_snapshot_falls_back),
      cmocka_unit_test(test_chunks_head_torn_tail),
      cmocka_unit_test(test_snapshot_then_wal_then_kill),
      cmocka_unit_test(test_truncation_deletes_old_segments),
      cmocka_unit_test(test_no_snapshot_option),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
