/*
 * test_tsdb_kill.c - acknowledged samples survive kill -9.
 *
 * A child process appends batches (10 series, one sample each) and after
 * each successful commit reports the batch number to the parent through a
 * pipe.  The parent sends SIGKILL at a random moment, reopens the database
 * and checks that every reported batch is there, complete, with no error;
 * 60 rounds, alternating the WAL fsync modes.  Batches are whole or absent:
 * a batch that was written but not yet reported may be present, a partial
 * one never.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tsdb_testutil.h"

#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#define NSERIES 10
#define ROUNDS 60

static labels_t *series_labels(int s) {
  char buf[16];
  snprintf(buf, sizeof buf, "%d", s);
  return tu_labels("__name__", "killtest", "s", buf, NULL);
}

static void child(const char *dir, int64_t start, int fd, bool commit_sync) {
  tsdb_options_t o;
  tsdb_options_default(&o);
  o.path = dir;
  o.wal_fsync = commit_sync ? TSDB_WAL_FSYNC_COMMIT : TSDB_WAL_FSYNC_INTERVAL;
  tsdb_t *db;
  char err[256];
  if (tsdb_open(&o, &db, err, sizeof err) != 0) _exit(3);
  labels_t *ls[NSERIES];
  for (int s = 0; s < NSERIES; s++) ls[s] = series_labels(s);
  for (int64_t b = start;; b++) {
    tsdb_appender_t *a = tsdb_appender_new(db);
    for (int s = 0; s < NSERIES; s++)
      if (tsdb_append(a, ls[s], b * 1000, (double)(b * 10 + s), NULL) != 0) _exit(4);
    if (tsdb_appender_commit(a, err, sizeof err) != 0) _exit(5);
    if (write(fd, &b, sizeof b) != sizeof b) _exit(6);
  }
}

static void test_kill_campaign(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  srand((unsigned)time(NULL));
  int64_t next = 0;
  int64_t acked = -1;
  for (int round = 0; round < ROUNDS; round++) {
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      close(pfd[0]);
      child(dir, next, pfd[1], round % 2 == 1);
      _exit(0);
    }
    close(pfd[1]);
    struct timespec ts = {0, (long)(5 + rand() % 60) * 1000000L};
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
      fail_msg("round %d: child ended with status %d before the kill", round, status);
    int64_t b;
    while (read(pfd[0], &b, sizeof b) == sizeof b) acked = b;
    close(pfd[0]);

    tsdb_t *db = tu_open(dir, 0);
    assert_non_null(db);
    int64_t maxb = -1;
    for (int s = 0; s < NSERIES; s++) {
      char sb[16];
      snprintf(sb, sizeof sb, "%d", s);
      size_t cap = (size_t)(acked + 1000 > 0 ? acked + 1000 : 1000);
      int64_t *tsv = malloc(cap * sizeof(int64_t));
      double *vv = malloc(cap * sizeof(double));
      long n = tu_read(db, "s", sb, INT64_MIN, INT64_MAX, tsv, vv, cap);
      assert_true(n >= acked + 1);
      for (long i = 0; i < n && (size_t)i < cap; i++) {
        if (tsv[i] != i * 1000 || vv[i] != (double)(i * 10 + s))
          fail_msg("round %d series %d sample %ld: t=%lld v=%g", round, s, i,
                   (long long)tsv[i], vv[i]);
      }
      if (s == 0) maxb = n - 1;
      else assert_int_equal(n - 1, maxb); /* batches are whole */
      free(tsv);
      free(vv);
    }
    tsdb_close(db);
    next = maxb + 1;
  }
  assert_true(acked > 0);
  tu_rmrf(dir);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_kill_campaign)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
