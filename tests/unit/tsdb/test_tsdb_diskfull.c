/*
 * test_tsdb_diskfull.c - a full disk fails commits cleanly, and appends
 * resume when space returns.
 *
 * A child process lowers its file-size limit (RLIMIT_FSIZE, with SIGXFSZ
 * ignored, so writes past it fail with EFBIG like a full disk) after a
 * first commit: later commits must fail with an error, change nothing
 * visible, and succeed again once the limit is raised.  The parent then
 * reopens the database: every acknowledged sample is there, no
 * unacknowledged one is, and the WAL opens without error.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "ph_error.h"
#include "tsdb_testutil.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* Exit codes of the child say which step failed. */
static int child(const char *dir) {
  signal(SIGXFSZ, SIG_IGN);
  tsdb_t *db = tu_open(dir, 0);
  if (db == NULL) return 10;
  labels_t *ls = tu_labels("__name__", "full", NULL);
  char err[512];
  /* 1: a good commit */
  tsdb_appender_t *a = tsdb_appender_new(db);
  if (tsdb_append(a, ls, 1000, 1, NULL) != 0) return 11;
  if (tsdb_appender_commit(a, err, sizeof err) != 0) return 12;
  /* 2: the "disk" fills up: the segment cannot grow */
  struct stat st;
  char seg[4200];
  snprintf(seg, sizeof seg, "%s/wal/00000001", dir);
  if (stat(seg, &st) != 0) return 13;
  struct rlimit rl = {(rlim_t)st.st_size + 10, RLIM_INFINITY};
  if (setrlimit(RLIMIT_FSIZE, &rl) != 0) return 14;
  int failures = 0;
  for (int i = 0; i < 5; i++) {
    a = tsdb_appender_new(db);
    if (tsdb_append(a, ls, 2000 + i * 1000, 2, NULL) != 0) return 15;
    int rc = tsdb_appender_commit(a, err, sizeof err);
    if (rc == 0) return 16;  /* must not be acknowledged */
    if (rc != PH_ENOSPC && rc != PH_EIO) return 17;
    failures++;
  }
  /* nothing of the failed commits is visible */
  int64_t ts[16];
  double vs[16];
  if (tu_read(db, "__name__", "full", INT64_MIN, INT64_MAX, ts, vs, 16) != 1) return 18;
  /* 3: space returns */
  rl.rlim_cur = RLIM_INFINITY;
  if (setrlimit(RLIMIT_FSIZE, &rl) != 0) return 19;
  a = tsdb_appender_new(db);
  if (tsdb_append(a, ls, 10000, 3, NULL) != 0) return 20;
  if (tsdb_appender_commit(a, err, sizeof err) != 0) return 21;
  if (tu_read(db, "__name__", "full", INT64_MIN, INT64_MAX, ts, vs, 16) != 2) return 22;
  labels_free(ls);
  tsdb_close(db);
  return failures == 5 ? 0 : 23;
}

static void test_disk_full(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) _exit(child(dir));
  int status;
  waitpid(pid, &status, 0);
  assert_true(WIFEXITED(status));
  if (WEXITSTATUS(status) != 0) fail_msg("child failed at step %d", WEXITSTATUS(status));
  tsdb_t *db = tu_open(dir, 0);
  assert_non_null(db);
  int64_t ts[16];
  double vs[16];
  assert_int_equal(tu_read(db, "__name__", "full", INT64_MIN, INT64_MAX, ts, vs, 16), 2);
  assert_int_equal(ts[0], 1000);
  assert_int_equal(ts[1], 10000);
  assert_true(vs[1] == 3);
  tsdb_close(db);
  tu_rmrf(dir);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_disk_full)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
