/*
 * test_tsdb.c - the TSDB through its public API: appending and committing,
 * per-sample errors, selection with every matcher type, iterators and seek,
 * label names and values, out-of-order samples, WAL replay and corruption,
 * and appenders and queriers running concurrently.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "ph_error.h"
#include "tsdb_testutil.h"

#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sys/stat.h>

typedef struct fixture {
  char *dir;
  tsdb_t *db;
} fixture_t;

static int setup(void **state) {
  fixture_t *f = calloc(1, sizeof *f);
  f->dir = tu_tempdir();
  f->db = tu_open(f->dir, 0);
  assert_non_null(f->db);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture_t *f = *state;
  tsdb_close(f->db);
  tu_rmrf(f->dir);
  free(f->dir);
  free(f);
  return 0;
}

static void reopen(fixture_t *f) {
  tsdb_close(f->db);
  f->db = tu_open(f->dir, 0);
  assert_non_null(f->db);
}

static void append_one(tsdb_t *db, labels_t *ls, int64_t t, double v) {
  tsdb_appender_t *a = tsdb_appender_new(db);
  assert_int_equal(tsdb_append(a, ls, t, v, NULL), 0);
  assert_int_equal(tsdb_appender_commit(a, NULL, 0), 0);
}

static void test_roundtrip_and_visibility(void **state) {
  fixture_t *f = *state;
  labels_t *ls = tu_labels("__name__", "up", "job", "node", NULL);
  tsdb_appender_t *a = tsdb_appender_new(f->db);
  uint64_t ref = 0;
  assert_int_equal(tsdb_append(a, ls, 1000, 1.0, &ref), 0);
  assert_true(ref != 0);
  for (int i = 1; i < 500; i++)
    assert_int_equal(tsdb_append_ref(a, ref, 1000 + i * 15000, (double)i), 0);
  int64_t ts[600];
  double vs[600];
  /* not committed: invisible */
  assert_int_equal(tu_read(f->db, "job", "node", INT64_MIN, INT64_MAX, ts, vs, 600), 0);
  assert_int_equal(tsdb_appender_commit(a, NULL, 0), 0);
  assert_int_equal(tu_read(f->db, "job", "node", INT64_MIN, INT64_MAX, ts, vs, 600), 500);
  for (int i = 0; i < 500; i++) {
    assert_int_equal(ts[i], 1000 + i * 15000);
    assert_true(vs[i] == (i == 0 ? 1.0 : (double)i));
  }
  /* range restriction, inclusive at both ends */
  assert_int_equal(tu_read(f->db, "job", "node", 1000 + 15000, 1000 + 3 * 15000, ts, vs, 600), 3);
  assert_int_equal(ts[0], 16000);
  /* survives a reopen through the WAL */
  reopen(f);
  assert_int_equal(tu_read(f->db, "job", "node", INT64_MIN, INT64_MAX, ts, vs, 600), 500);
  assert_int_equal(ts[499], 1000 + 499 * 15000);
  labels_free(ls);
}

static void test_rollback(void **state) {
  fixture_t *f = *state;
  labels_t *ls = tu_labels("__name__", "x", NULL);
  tsdb_appender_t *a = tsdb_appender_new(f->db);
  assert_int_equal(tsdb_append(a, ls, 1, 1, NULL), 0);
  tsdb_appender_rollback(a);
  int64_t ts[4];
  double vs[4];
  assert_int_equal(tu_read(f->db, "__name__", "x", INT64_MIN, INT64_MAX, ts, vs, 4), 0);
  reopen(f);
  assert_int_equal(tu_read(f->db, "__name__", "x", INT64_MIN, INT64_MAX, ts, vs, 4), 0);
  labels_free(ls);
}

static void test_sample_errors(void **state) {
  fixture_t *f = *state;
  labels_t *ls = tu_labels("__name__", "m", NULL);
  append_one(f->db, ls, 10000, 5.0);
  tsdb_appender_t *a = tsdb_appender_new(f->db);
  /* duplicate with the same value: accepted silently */
  assert_int_equal(tsdb_append(a, ls, 10000, 5.0, NULL), 0);
  /* same timestamp, other value: rejected, the batch stays usable */
  assert_int_equal(tsdb_append(a, ls, 10000, 6.0, NULL), PH_EDUPLICATE);
  /* older: out of order */
  assert_int_equal(tsdb_append(a, ls, 9000, 1.0, NULL), PH_EOUTOFORDER);
  assert_int_equal(tsdb_append(a, ls, 11000, 7.0, NULL), 0);
  assert_int_equal(tsdb_appender_commit(a, NULL, 0), 0);
  int64_t ts[8];
  double vs[8];
  assert_int_equal(tu_read(f->db, "__name__", "m", INT64_MIN, INT64_MAX, ts, vs, 8), 2);
  assert_true(vs[0] == 5.0 && vs[1] == 7.0);
  /* far older than the head: out of bounds, for a new series too */
  labels_t *ls2 = tu_labels("__name__", "n", NULL);
  append_one(f->db, ls2, 10LL * 3600 * 1000, 1);
  a = tsdb_appender_new(f->db);
  assert_int_equal(tsdb_append(a, ls, 1000, 1, NULL), PH_EOUTOFBOUNDS);
  tsdb_appender_rollback(a);
  /* empty label set */
  labels_t *empty = labels_empty();
  a = tsdb_appender_new(f->db);
  assert_int_equal(tsdb_append(a, empty, 1, 1, NULL), PH_EINVAL);
  assert_int_equal(tsdb_append_ref(a, 999999, 1, 1), PH_ENOTFOUND);
  tsdb_appender_rollback(a);
  labels_free(empty);
  labels_free(ls);
  labels_free(ls2);
}

static void test_special_values(void **state) {
  fixture_t *f = *state;
  labels_t *ls = tu_labels("__name__", "special", NULL);
  double vals[] = {NAN, INFINITY, -INFINITY, -0.0, 5e-324, 1.7976931348623157e308,
                   tsdb_stale_nan(), 0.1};
  tsdb_appender_t *a = tsdb_appender_new(f->db);
  for (int i = 0; i < 8; i++) assert_int_equal(tsdb_append(a, ls, i * 1000, vals[i], NULL), 0);
  assert_int_equal(tsdb_appender_commit(a, NULL, 0), 0);
  for (int pass = 0; pass < 2; pass++) {
    int64_t ts[8];
    double vs[8];
    assert_int_equal(tu_read(f->db, "__name__", "special", INT64_MIN, INT64_MAX, ts, vs, 8), 8);
    for (int i = 0; i < 8; i++) assert_memory_equal(&vs[i], &vals[i], sizeof(double));
    assert_true(tsdb_is_stale_nan(vs[6]));
    assert_false(tsdb_is_stale_nan(vs[0]));
    reopen(f);
  }
  labels_free(ls);
}

/* Names of the series a select returns, joined with ',' */
static void select_names(tsdb_t *db, const tsdb_matcher_t *m, size_t n, char *out,
                         size_t outlen, int *rc) {
  tsdb_querier_t *q;
  tsdb_querier_open(db, INT64_MIN, INT64_MAX, &q);
  tsdb_series_set_t *set;
  char err[256];
  out[0] = '\0';
  *rc = tsdb_select(q, m, n, &set, err, sizeof err);
  if (*rc == 0) {
    /* check the set is sorted by labels, then list the i values sorted */
    const char *names[16];
    size_t k = 0;
    labels_t *prev = NULL;
    while (tsdb_series_set_next(set)) {
      const labels_t *ls = tsdb_series_set_labels(set);
      if (prev != NULL) assert_true(labels_cmp(prev, ls) < 0);
      labels_free(prev);
      prev = labels_dup(ls);
      const char *v = labels_get(ls, "i");
      if (k < 16) names[k++] = v ? v : "-";
    }
    labels_free(prev);
    for (size_t a = 1; a < k; a++)
      for (size_t b = a; b > 0 && strcmp(names[b - 1], names[b]) > 0; b--) {
        const char *t = names[b];
        names[b] = names[b - 1];
        names[b - 1] = t;
      }
    for (size_t a = 0; a < k; a++) {
      if (out[0]) strncat(out, ",", outlen - strlen(out) - 1);
      strncat(out, names[a], outlen - strlen(out) - 1);
    }
    tsdb_series_set_free(set);
  }
  tsdb_querier_close(q);
}

static void test_matchers(void **state) {
  fixture_t *f = *state;
  /* i=a..e on metric m, with env label on some */
  labels_t *s[6] = {
      tu_labels("__name__", "m", "i", "a", "env", "prod", NULL),
      tu_labels("__name__", "m", "i", "b", "env", "dev", NULL),
      tu_labels("__name__", "m", "i", "c", NULL),
      tu_labels("__name__", "m", "i", "d", "env", "production", NULL),
      tu_labels("__name__", "other", "i", "e", "env", "prod", NULL),
      tu_labels("__name__", "m", "i", "f\nx", "env", "", NULL),
  };
  tsdb_appender_t *a = tsdb_appender_new(f->db);
  for (int i = 0; i < 6; i++) assert_int_equal(tsdb_append(a, s[i], 1000, i, NULL), 0);
  assert_int_equal(tsdb_appender_commit(a, NULL, 0), 0);
  char out[256];
  int rc;
  struct {
    tsdb_matcher_t m[2];
    size_t n;
    const char *want;
  } cases[] = {
      {{{TSDB_MATCH_EQ, "__name__", "m"}}, 1, "a,b,c,d,f\nx"},
      {{{TSDB_MATCH_EQ, "__name__", "m"}, {TSDB_MATCH_EQ, "env", "prod"}}, 2, "a"},
      {{{TSDB_MATCH_EQ, "__name__", "m"}, {TSDB_MATCH_NEQ, "env", "prod"}}, 2, "b,c,d,f\nx"},
      {{{TSDB_MATCH_EQ, "__name__", "m"}, {TSDB_MATCH_EQ, "env", ""}}, 2, "c,f\nx"},
      {{{TSDB_MATCH_EQ, "__name__", "m"}, {TSDB_MATCH_RE, "env", "prod"}}, 2, "a"},
      {{{TSDB_MATCH_EQ, "__name__", "m"}, {TSDB_MATCH_RE, "env", "prod.*"}}, 2, "a,d"},
      {{{TSDB_MATCH_EQ, "__name__", "m"}, {TSDB_MATCH_RE, "env", "prod|dev"}}, 2, "a,b"},
      {{{TSDB_MATCH_EQ, "__name__", "m"}, {TSDB_MATCH_RE, "env", "p.*n|d[e]v"}}, 2, "b,d"},
      {{{TSDB_MATCH_EQ, "__name__", "m"}, {TSDB_MATCH_NRE, "env", "prod.*"}}, 2, "b,c,f\nx"},
      {{{TSDB_MATCH_EQ, "__name__", "m"}, {TSDB_MATCH_RE, "env", ".*"}}, 2, "a,b,c,d,f\nx"},
      {{{TSDB_MATCH_EQ, "__name__", "m"}, {TSDB_MATCH_RE, "env", ".+"}}, 2, "a,b,d"},
      {{{TSDB_MATCH_EQ, "__name__", "m"}, {TSDB_MATCH_RE, "env", "|dev"}}, 2, "b,c,f\nx"},
      {{{TSDB_MATCH_RE, "i", "f.x"}}, 1, "f\nx"}, /* dot matches newline */
      {{{TSDB_MATCH_RE, "env", "pro"}}, 1, ""},   /* anchored */
      {{{TSDB_MATCH_RE, "__name__", "m|other"}, {TSDB_MATCH_EQ, "env", "prod"}}, 2, "a,e"},
      {{{TSDB_MATCH_EQ, "nolabel", ""}}, 1, "a,b,c,d,e,f\nx"},
      {{{TSDB_MATCH_EQ, "__name__", "none"}}, 1, ""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    select_names(f->db, cases[i].m, cases[i].n, out, sizeof out, &rc);
    assert_int_equal(rc, 0);
    if (strcmp(out, cases[i].want) != 0)
      fail_msg("case %zu: got \"%s\", want \"%s\"", i, out, cases[i].want);
  }
  tsdb_matcher_t bad = {TSDB_MATCH_RE, "env", "(unclosed"};
  select_names(f->db, &bad, 1, out, sizeof out, &rc);
  assert_int_equal(rc, PH_EPARSE);

  /* label names and values */
  tsdb_querier_t *q;
  tsdb_querier_open(f->db, INT64_MIN, INT64_MAX, &q);
  char **names;
  size_t count;
  char err[256];
  assert_int_equal(tsdb_label_names(q, NULL, 0, &names, &count, err, sizeof err), 0);
  assert_int_equal(count, 3);
  assert_string_equal(names[0], "__name__");
  assert_string_equal(names[1], "env");
  assert_string_equal(names[2], "i");
  tsdb_strings_free(names, count);
  tsdb_matcher_t only_c = {TSDB_MATCH_EQ, "i", "c"};
  assert_int_equal(tsdb_label_names(q, &only_c, 1, &names, &count, err, sizeof err), 0);
  assert_int_equal(count, 2);
  tsdb_strings_free(names, count);
  assert_int_equal(tsdb_label_values(q, "env", NULL, 0, &names, &count, err, sizeof err), 0);
  assert_int_equal(count, 3);
  assert_string_equal(names[0], "dev");
  assert_string_equal(names[1], "prod");
  assert_string_equal(names[2], "production");
  tsdb_strings_free(names, count);
  tsdb_matcher_t mname = {TSDB_MATCH_EQ, "__name__", "other"};
  assert_int_equal(tsdb_label_values(q, "env", &mname, 1, &names, &count, err, sizeof err), 0);
  assert_int_equal(count, 1);
  assert_string_equal(names[0], "prod");
  tsdb_strings_free(names, count);
  tsdb_querier_close(q);
  /* a range with no samples has no label names or values */
  tsdb_querier_open(f->db, 5000, 9000, &q);
  assert_int_equal(tsdb_label_values(q, "env", NULL, 0, &names, &count, err, sizeof err), 0);
  assert_int_equal(count, 0);
  tsdb_strings_free(names, count);
  assert_int_equal(tsdb_label_names(q, NULL, 0, &names, &count, err, sizeof err), 0);
  assert_int_equal(count, 0);
  tsdb_strings_free(names, count);
  tsdb_querier_close(q);
  for (int i = 0; i < 6; i++) labels_free(s[i]);
}

static void test_seek(void **state) {
  fixture_t *f = *state;
  labels_t *ls = tu_labels("__name__", "seek", NULL);
  tsdb_appender_t *a = tsdb_appender_new(f->db);
  for (int i = 0; i < 1000; i++) assert_int_equal(tsdb_append(a, ls, i * 10, i, NULL), 0);
  assert_int_equal(tsdb_appender_commit(a, NULL, 0), 0);
  tsdb_querier_t *q;
  tsdb_querier_open(f->db, 0, 100000, &q);
  tsdb_matcher_t m = {TSDB_MATCH_EQ, "__name__", "seek"};
  tsdb_series_set_t *set;
  assert_int_equal(tsdb_select(q, &m, 1, &set, NULL, 0), 0);
  assert_true(tsdb_series_set_next(set));
  tsdb_iterator_t *it = tsdb_series_set_iterator(set);
  int64_t t;
  double v;
  assert_true(tsdb_iterator_seek(it, 55));
  tsdb_iterator_at(it, &t, &v);
  assert_int_equal(t, 60);
  assert_true(tsdb_iterator_seek(it, 60)); /* stays */
  tsdb_iterator_at(it, &t, &v);
  assert_int_equal(t, 60);
  assert_true(tsdb_iterator_seek(it, 10)); /* never backwards */
  tsdb_iterator_at(it, &t, &v);
  assert_int_equal(t, 60);
  assert_true(tsdb_iterator_seek(it, 5000)); /* crosses chunks */
  tsdb_iterator_at(it, &t, &v);
  assert_int_equal(t, 5000);
  assert_true(v == 500);
  assert_true(tsdb_iterator_next(it));
  tsdb_iterator_at(it, &t, &v);
  assert_int_equal(t, 5010);
  assert_false(tsdb_iterator_seek(it, 100000));
  assert_false(tsdb_iterator_next(it));
  assert_false(tsdb_series_set_next(set));
  tsdb_series_set_free(set);
  tsdb_querier_close(q);
  labels_free(ls);
}

static void test_out_of_order_window(void **state) {
  fixture_t *f = *state;
  tsdb_close(f->db);
  f->db = tu_open(f->dir, 10 * 60 * 1000);
  labels_t *ls = tu_labels("__name__", "ooo", NULL);
  tsdb_appender_t *a = tsdb_appender_new(f->db);
  for (int i = 10; i < 20; i++) assert_int_equal(tsdb_append(a, ls, i * 60000, i, NULL), 0);
  assert_int_equal(tsdb_appender_commit(a, NULL, 0), 0);
  a = tsdb_appender_new(f->db);
  assert_int_equal(tsdb_append(a, ls, 15 * 60000 + 30000, 15.5, NULL), 0); /* in window */
  assert_int_equal(tsdb_append(a, ls, 12 * 60000, 99, NULL), PH_EDUPLICATE);
  assert_int_equal(tsdb_append(a, ls, 12 * 60000, 12, NULL), 0); /* same value */
  assert_int_equal(tsdb_append(a, ls, 1 * 60000, 1, NULL), PH_EOUTOFBOUNDS);
  assert_int_equal(tsdb_appender_commit(a, NULL, 0), 0);
  int64_t ts[32];
  double vs[32];
  for (int pass = 0; pass < 2; pass++) {
    long n = tu_read(f->db, "__name__", "ooo", INT64_MIN, INT64_MAX, ts, vs, 32);
    assert_int_equal(n, 11);
    for (long i = 1; i < n; i++) assert_true(ts[i] > ts[i - 1]);
    assert_int_equal(ts[6], 15 * 60000 + 30000);
    assert_true(vs[6] == 15.5);
    assert_true(vs[2] == 12);
    tsdb_close(f->db);
    f->db = tu_open(f->dir, 10 * 60 * 1000);
  }
  labels_free(ls);
}

/* ---- WAL corruption ------------------------------------------------------ */

static void fill(tsdb_t *db, int batches, int per) {
  labels_t *ls = tu_labels("__name__", "w", NULL);
  for (int b = 0; b < batches; b++) {
    tsdb_appender_t *a = tsdb_appender_new(db);
    for (int i = 0; i < per; i++)
      assert_int_equal(tsdb_append(a, ls, (int64_t)(b * per + i) * 1000, b * per + i, NULL), 0);
    assert_int_equal(tsdb_appender_commit(a, NULL, 0), 0);
  }
  labels_free(ls);
}

static char *segment_path(const char *dir, int seq) {
  char *p = malloc(4200);
  snprintf(p, 4200, "%s/wal/%08d", dir, seq);
  return p;
}

static void test_wal_torn_tail(void **state) {
  fixture_t *f = *state;
  fill(f->db, 10, 100);
  tsdb_close(f->db);
  f->db = NULL;
  tu_drop_head_files(f->dir);
  char *seg = segment_path(f->dir, 1);
  struct stat st;
  assert_int_equal(stat(seg, &st), 0);
  /* cut the last record in half */
  assert_int_equal(truncate(seg, st.st_size - 300), 0);
  f->db = tu_open(f->dir, 0);
  assert_non_null(f->db);
  int64_t ts[1100];
  double vs[1100];
  assert_int_equal(tu_read(f->db, "__name__", "w", INT64_MIN, INT64_MAX, ts, vs, 1100), 900);
  /* appends continue and survive another reopen */
  labels_t *ls = tu_labels("__name__", "w", NULL);
  append_one(f->db, ls, 2000000, 1);
  reopen(f);
  assert_int_equal(tu_read(f->db, "__name__", "w", INT64_MIN, INT64_MAX, ts, vs, 1100), 901);
  labels_free(ls);
  free(seg);
}

static void test_wal_flipped_byte(void **state) {
  fixture_t *f = *state;
  fill(f->db, 10, 100);
  tsdb_close(f->db);
  f->db = NULL;
  tu_drop_head_files(f->dir);
  char *seg = segment_path(f->dir, 1);
  struct stat st;
  assert_int_equal(stat(seg, &st), 0);
  /* flip a byte in the middle: everything from that record on is dropped */
  int fd = open(seg, O_RDWR);
  assert_true(fd >= 0);
  off_t pos = st.st_size / 2;
  unsigned char c;
  assert_int_equal(pread(fd, &c, 1, pos), 1);
  c ^= 0x40;
  assert_int_equal(pwrite(fd, &c, 1, pos), 1);
  close(fd);
  f->db = tu_open(f->dir, 0);
  assert_non_null(f->db);
  int64_t ts[1100];
  double vs[1100];
  long n = tu_read(f->db, "__name__", "w", INT64_MIN, INT64_MAX, ts, vs, 1100);
  assert_true(n >= 400 && n <= 600);
  assert_true(n % 100 == 0); /* whole batches only */
  for (long i = 0; i < n; i++) assert_int_equal(ts[i], i * 1000);
  free(seg);
}

static void test_wal_deleted_segment(void **state) {
  fixture_t *f = *state;
  tsdb_close(f->db);
  tsdb_options_t o;
  tsdb_options_default(&o);
  o.path = f->dir;
  o.wal_segment_bytes = 2048; /* many small segments */
  char err[256];
  assert_int_equal(tsdb_open(&o, &f->db, err, sizeof err), 0);
  labels_t *a = tu_labels("__name__", "w", NULL);
  labels_t *b = tu_labels("__name__", "other", NULL);
  append_one(f->db, b, 0, 0); /* series "other" is logged in segment 1 */
  for (int i = 0; i < 300; i++) append_one(f->db, a, (int64_t)i * 1000, i);
  for (int i = 1; i < 300; i++) append_one(f->db, b, (int64_t)i * 1000, i);
  tsdb_close(f->db);
  f->db = NULL;
  tu_drop_head_files(f->dir);
  /* remove a segment in the middle (not the first, which has the series) */
  char *seg = segment_path(f->dir, 3);
  assert_int_equal(unlink(seg), 0);
  assert_int_equal(tsdb_open(&o, &f->db, err, sizeof err), 0);
  int64_t ts[400];
  double vs[400];
  long na = tu_read(f->db, "__name__", "w", INT64_MIN, INT64_MAX, ts, vs, 400);
  long nb = tu_read(f->db, "__name__", "other", INT64_MIN, INT64_MAX, ts, vs, 400);
  /* the database opens, and what the remaining segments hold is there:
   * some samples of w are gone with the segment, all of other's remain */
  assert_true(na > 0 && na < 300);
  assert_int_equal(nb, 300);
  labels_free(a);
  labels_free(b);
  free(seg);
}

/* ---- concurrency --------------------------------------------------------- */

typedef struct worker {
  tsdb_t *db;
  int id;
  int errors;
} worker_t;

static void *appender_thread(void *arg) {
  worker_t *w = arg;
  char idbuf[16];
  snprintf(idbuf, sizeof idbuf, "%d", w->id);
  labels_t *ls[50];
  for (int s = 0; s < 50; s++) {
    char sbuf[16];
    snprintf(sbuf, sizeof sbuf, "%d", s);
    ls[s] = tu_labels("__name__", "conc", "w", idbuf, "s", sbuf, NULL);
  }
  for (int round = 0; round < 200; round++) {
    tsdb_appender_t *a = tsdb_appender_new(w->db);
    for (int s = 0; s < 50; s++)
      if (tsdb_append(a, ls[s], round * 1000, round, NULL) != 0) w->errors++;
    if (tsdb_appender_commit(a, NULL, 0) != 0) w->errors++;
  }
  for (int s = 0; s < 50; s++) labels_free(ls[s]);
  return NULL;
}

static void *querier_thread(void *arg) {
  worker_t *w = arg;
  for (int round = 0; round < 100; round++) {
    tsdb_querier_t *q;
    tsdb_querier_open(w->db, INT64_MIN, INT64_MAX, &q);
    tsdb_matcher_t m = {TSDB_MATCH_EQ, "__name__", "conc"};
    tsdb_series_set_t *set;
    if (tsdb_select(q, &m, 1, &set, NULL, 0) != 0) {
      w->errors++;
    } else {
      while (tsdb_series_set_next(set)) {
        tsdb_iterator_t *it = tsdb_series_set_iterator(set);
        int64_t prev = -1000, t;
        double v;
        while (tsdb_iterator_next(it)) {
          tsdb_iterator_at(it, &t, &v);
          /* every committed sample of a series is there: no gaps */
          if (t != prev + 1000 || v != (double)(t / 1000)) w->errors++;
          prev = t;
        }
      }
      tsdb_series_set_free(set);
    }
    tsdb_querier_close(q);
  }
  return NULL;
}

static void test_concurrent(void **state) {
  fixture_t *f = *state;
  worker_t ws[4] = {{f->db, 0, 0}, {f->db, 1, 0}, {f->db, 2, 0}, {f->db, 3, 0}};
  pthread_t th[4];
  pthread_create(&th[0], NULL, appender_thread, &ws[0]);
  pthread_create(&th[1], NULL, appender_thread, &ws[1]);
  pthread_create(&th[2], NULL, querier_thread, &ws[2]);
  pthread_create(&th[3], NULL, querier_thread, &ws[3]);
  for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
  for (int i = 0; i < 4; i++) assert_int_equal(ws[i].errors, 0);
  tsdb_stats_t st;
  tsdb_get_stats(f->db, &st);
  assert_int_equal(st.head_series, 100);
  assert_int_equal(st.head_samples_appended, 2 * 50 * 200);
  reopen(f);
  tsdb_get_stats(f->db, &st);
  assert_int_equal(st.head_series, 100);
}

static void test_matcher_set(void **state) {
  (void)state;
  labels_t *ls = tu_labels("__name__", "up", "job", "node", "instance", "pi:9100", NULL);
  tsdb_matcher_t m[] = {{TSDB_MATCH_RE, "job", "no.*"},
                        {TSDB_MATCH_NRE, "instance", "nuc:.*"},
                        {TSDB_MATCH_EQ, "missing", ""}};
  tsdb_matcher_set_t *s;
  char err[256];
  assert_int_equal(tsdb_matcher_set_new(m, 3, &s, err, sizeof err), 0);
  assert_true(tsdb_matcher_set_matches(s, ls));
  assert_true(tsdb_matcher_set_matches_value(s, "job", "nodes"));
  assert_false(tsdb_matcher_set_matches_value(s, "job", "xnode")); /* anchored */
  assert_true(tsdb_matcher_set_matches_value(s, "other", "anything"));
  tsdb_matcher_set_free(s);
  tsdb_matcher_t neq = {TSDB_MATCH_NEQ, "job", "node"};
  assert_int_equal(tsdb_matcher_set_new(&neq, 1, &s, err, sizeof err), 0);
  assert_false(tsdb_matcher_set_matches(s, ls));
  tsdb_matcher_set_free(s);
  tsdb_matcher_t bad = {TSDB_MATCH_RE, "job", "(x"};
  assert_int_equal(tsdb_matcher_set_new(&bad, 1, &s, err, sizeof err), PH_EPARSE);
  assert_non_null(strstr(err, "error parsing regexp"));
  labels_free(ls);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_roundtrip_and_visibility, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rollback, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sample_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_special_values, setup, teardown),
      cmocka_unit_test_setup_teardown(test_matchers, setup, teardown),
      cmocka_unit_test_setup_teardown(test_seek, setup, teardown),
      cmocka_unit_test_setup_teardown(test_out_of_order_window, setup, teardown),
      cmocka_unit_test_setup_teardown(test_wal_torn_tail, setup, teardown),
      cmocka_unit_test_setup_teardown(test_wal_flipped_byte, setup, teardown),
      cmocka_unit_test_setup_teardown(test_wal_deleted_segment, setup, teardown),
      cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
      cmocka_unit_test(test_matcher_set),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
