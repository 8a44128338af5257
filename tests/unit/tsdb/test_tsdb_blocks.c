/*
 * test_tsdb_blocks.c - blocks: the head cut into blocks, queries across
 * blocks and head, restart with blocks and a checkpointed WAL, compaction,
 * retention by time and size, corrupt blocks moved aside, leftovers of
 * crashed writes cleaned up, bytes per sample of the sealed encoding;
 * chunks file format 2 (shared timestamp columns, compressed pages) bit
 * for bit through cut, restart and compaction, a damaged page table, and a
 * format-1 block (fixtures/v1-block, written by the old code) still read.
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
#include <sys/stat.h>

#define RANGE 3600000LL /* 1h block range in these tests */
#define STEP 15000

static tsdb_t *open_db(const char *dir, int64_t retention_ms, uint64_t retention_bytes) {
  tsdb_options_t o;
  tsdb_options_default(&o);
  o.path = dir;
  o.block_range_ms = RANGE;
  o.retention_ms = retention_ms;
  o.retention_bytes = retention_bytes;
  o.no_background = true;
  tsdb_t *db = NULL;
  char err[512];
  if (tsdb_open(&o, &db, err, sizeof err) != 0) fail_msg("open: %s", err);
  return db;
}

/* nseries counters (integer increments) and gauges from t0 for n steps */
static void fill(tsdb_t *db, int nseries, int64_t t0, int steps) {
  labels_t **ls = calloc((size_t)nseries, sizeof(*ls));
  for (int s = 0; s < nseries; s++) {
    char buf[16];
    snprintf(buf, sizeof buf, "%d", s);
    ls[s] = tu_labels("__name__", s % 2 ? "gauge" : "counter", "instance", buf,
                      "job", "node", NULL);
  }
  for (int j = 0; j < steps; j++) {
    tsdb_appender_t *a = tsdb_appender_new(db);
    int64_t t = t0 + (int64_t)j * STEP;
    int i = (int)(t / STEP); /* values follow the global sample index */
    for (int s = 0; s < nseries; s++) {
      double v = s % 2 ? 50.0 + (double)((i * 7 + s) % 100) / 100.0 : (double)(i * (s + 1));
      assert_int_equal(tsdb_append(a, ls[s], t, v, NULL), 0);
    }
    assert_int_equal(tsdb_appender_commit(a, NULL, 0), 0);
  }
  for (int s = 0; s < nseries; s++) labels_free(ls[s]);
  free(ls);
}

static void check_series(tsdb_t *db, int s, int64_t t0, int steps) {
  char buf[16];
  snprintf(buf, sizeof buf, "%d", s);
  int64_t *ts = malloc((size_t)(steps + 10) * sizeof(int64_t));
  double *vs = malloc((size_t)(steps + 10) * sizeof(double));
  long n = tu_read(db, "instance", buf, INT64_MIN, INT64_MAX, ts, vs, (size_t)steps + 10);
  if (n != steps) {
    for (long i = 1; i < n; i++)
      if (ts[i] != ts[i - 1] + STEP)
        print_message("series %d: gap from %lld to %lld\n", s, (long long)ts[i - 1],
                      (long long)ts[i]);
    print_message("series %d: first %lld last %lld\n", s, (long long)ts[0], (long long)ts[n - 1]);
  }
  assert_int_equal(n, steps);
  for (int i = 0; i < steps; i++) {
    double want = s % 2 ? 50.0 + (double)((i * 7 + s) % 100) / 100.0 : (double)(i * (s + 1));
    if (ts[i] != t0 + (int64_t)i * STEP || vs[i] != want)
      fail_msg("series %d sample %d: t=%lld v=%.17g want t=%lld v=%.17g", s, i,
               (long long)ts[i], vs[i], (long long)(t0 + (int64_t)i * STEP), want);
  }
  free(ts);
  free(vs);
}

static size_t count_blocks(const char *dir, const char *suffix) {
  DIR *d = opendir(dir);
  size_t n = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    size_t len = strlen(de->d_name);
    if (suffix == NULL && len == 26) n++;
    if (suffix && len > 26 && strcmp(de->d_name + 26, suffix) == 0) n++;
  }
  closedir(d);
  return n;
}

static void test_cut_query_restart(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  tsdb_t *db = open_db(dir, 0, 0);
  int steps = 4 * 240; /* 4h of 15s samples */
  fill(db, 20, 0, steps);
  char err[512];
  assert_int_equal(tsdb_maintain(db, err, sizeof err), 0);
  tsdb_stats_t st;
  tsdb_get_stats(db, &st);
  assert_true(st.blocks >= 1); /* three 1h blocks, compacted into one 3h block */
  assert_true(st.head_min_time >= 2 * RANGE);
  for (int s = 0; s < 20; s++) check_series(db, s, 0, steps);
  /* partial range across the block/head boundary */
  int64_t ts[400];
  double vs[400];
  long n = tu_read(db, "instance", "3", RANGE - 10 * STEP, RANGE + 10 * STEP, ts, vs, 400);
  assert_int_equal(n, 21);
  assert_int_equal(ts[0], RANGE - 10 * STEP);
  /* label names/values see blocks and head */
  tsdb_querier_t *q;
  tsdb_querier_open(db, 0, RANGE / 2, &q); /* only the first block */
  char **vals;
  size_t nv;
  assert_int_equal(tsdb_label_values(q, "instance", NULL, 0, &vals, &nv, err, sizeof err), 0);
  assert_int_equal(nv, 20);
  tsdb_strings_free(vals, nv);
  tsdb_querier_close(q);
  /* samples older than the cut are now out of bounds */
  labels_t *ls = tu_labels("__name__", "counter", "instance", "0", "job", "node", NULL);
  tsdb_appender_t *a = tsdb_appender_new(db);
  assert_int_equal(tsdb_append(a, ls, 1000, 1, NULL), PH_EOUTOFBOUNDS);
  tsdb_appender_rollback(a);
  labels_free(ls);
  tsdb_close(db);
  /* restart: blocks + checkpoint + WAL give everything back exactly once */
  db = open_db(dir, 0, 0);
  for (int s = 0; s < 20; s++) check_series(db, s, 0, steps);
  /* more data, another cut, another restart */
  fill(db, 20, (int64_t)steps * STEP, 240);
  assert_int_equal(tsdb_maintain(db, err, sizeof err), 0);
  tsdb_close(db);
  db = open_db(dir, 0, 0);
  for (int s = 0; s < 20; s++) check_series(db, s, 0, steps + 240);
  tsdb_close(db);
  tu_rmrf(dir);
  free(dir);
}

static void test_compaction(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  tsdb_t *db = open_db(dir, 0, 0);
  int steps = 14 * 240; /* 14h: 12 level-1 blocks, compacted to 3h and 12h */
  fill(db, 10, 0, steps);
  char err[512];
  assert_int_equal(tsdb_maintain(db, err, sizeof err), 0);
  tsdb_block_info_t *info;
  size_t nb;
  tsdb_blocks_info(db, &info, &nb);
  assert_true(nb >= 1);
  int maxlevel = 0;
  for (size_t i = 0; i < nb; i++) {
    if (info[i].level > maxlevel) maxlevel = info[i].level;
    if (i > 0) assert_true(info[i].mint >= info[i - 1].maxt); /* no overlap */
  }
  assert_true(maxlevel >= 3); /* 1h -> 3h -> 12h */
  assert_int_equal(info[0].mint, 0);
  assert_int_equal(info[0].maxt, 12 * RANGE);
  tsdb_blocks_info_free(info);
  for (int s = 0; s < 10; s++) check_series(db, s, 0, steps);
  tsdb_close(db);
  db = open_db(dir, 0, 0);
  for (int s = 0; s < 10; s++) check_series(db, s, 0, steps);
  tsdb_close(db);
  assert_int_equal(count_blocks(dir, ".deleted"), 0);
  tu_rmrf(dir);
  free(dir);
}

static void test_retention(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  tsdb_t *db = open_db(dir, 3 * RANGE, 0);
  fill(db, 4, 0, 8 * 240); /* 8h */
  char err[512];
  assert_int_equal(tsdb_maintain(db, err, sizeof err), 0);
  tsdb_block_info_t *info;
  size_t nb;
  tsdb_blocks_info(db, &info, &nb);
  tsdb_stats_t st;
  tsdb_get_stats(db, &st);
  for (size_t i = 0; i < nb; i++)
    assert_true(info[i].maxt > st.head_max_time - 3 * RANGE);
  tsdb_blocks_info_free(info);
  int64_t ts[4000];
  double vs[4000];
  long n = tu_read(db, "instance", "1", INT64_MIN, INT64_MAX, ts, vs, 4000);
  assert_true(n > 0 && n < 8 * 240);
  /* whole blocks go: [0,3h) ended 5h before the newest sample, [3h,6h) not */
  assert_int_equal(ts[0], 3 * RANGE);
  tsdb_close(db);
  /* by size: a tiny limit leaves no blocks */
  db = open_db(dir, 0, 1);
  assert_int_equal(tsdb_maintain(db, err, sizeof err), 0);
  tsdb_get_stats(db, &st);
  assert_int_equal(st.blocks, 0);
  tsdb_close(db);
  tu_rmrf(dir);
  free(dir);
}

static void test_corrupt_block_and_leftovers(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  tsdb_t *db = open_db(dir, 0, 0);
  fill(db, 4, 0, 3 * 240);
  char err[512];
  assert_int_equal(tsdb_maintain(db, err, sizeof err), 0);
  tsdb_block_info_t *info;
  size_t nb;
  tsdb_blocks_info(db, &info, &nb);
  assert_true(nb >= 1);
  char victim[27];
  memcpy(victim, info[0].id, 27);
  tsdb_blocks_info_free(info);
  tsdb_close(db);
  /* flip a byte in the index: the block is moved aside, the db opens */
  char path[4200];
  snprintf(path, sizeof path, "%s/%s/index", dir, victim);
  int fd = open(path, O_RDWR);
  assert_true(fd >= 0);
  unsigned char c;
  assert_int_equal(pread(fd, &c, 1, 20), 1);
  c ^= 0xff;
  assert_int_equal(pwrite(fd, &c, 1, 20), 1);
  close(fd);
  /* and a leftover of a crashed block write */
  snprintf(path, sizeof path, "%s/01HZZZZZZZZZZZZZZZZZZZZZZZ.tmp", dir);
  assert_int_equal(mkdir(path, 0755), 0);
  db = open_db(dir, 0, 0);
  assert_int_equal(count_blocks(dir, ".corrupt"), 1);
  assert_int_equal(count_blocks(dir, ".tmp"), 0);
  /* what the remaining data holds is still served */
  int64_t ts[1000];
  double vs[1000];
  long n = tu_read(db, "instance", "1", INT64_MIN, INT64_MAX, ts, vs, 1000);
  assert_true(n > 0);
  tsdb_close(db);
  tu_rmrf(dir);
  free(dir);
}

static void test_corrupt_chunk_read(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  tsdb_t *db = open_db(dir, 0, 0);
  fill(db, 2, 0, 3 * 240);
  char err[512];
  assert_int_equal(tsdb_maintain(db, err, sizeof err), 0);
  tsdb_block_info_t *info;
  size_t nb;
  tsdb_blocks_info(db, &info, &nb);
  char path[4200];
  snprintf(path, sizeof path, "%s/%s/chunks", dir, info[0].id);
  tsdb_blocks_info_free(info);
  /* damage a chunk record: reads report an error instead of wrong data */
  int fd = open(path, O_RDWR);
  unsigned char c;
  assert_int_equal(pread(fd, &c, 1, 30), 1);
  c ^= 0x55;
  assert_int_equal(pwrite(fd, &c, 1, 30), 1);
  close(fd);
  tsdb_querier_t *q;
  tsdb_querier_open(db, 0, RANGE - 1, &q);
  tsdb_matcher_t m = {TSDB_MATCH_EQ, "job", "node"};
  tsdb_series_set_t *set;
  assert_int_equal(tsdb_select(q, &m, 1, &set, err, sizeof err), 0);
  int errors = 0;
  while (tsdb_series_set_next(set)) {
    tsdb_iterator_t *it = tsdb_series_set_iterator(set);
    while (tsdb_iterator_next(it)) {
    }
    if (tsdb_iterator_err(it) != 0) errors++;
  }
  assert_true(errors >= 1);
  tsdb_series_set_free(set);
  tsdb_querier_close(q);
  tsdb_close(db);
  tu_rmrf(dir);
  free(dir);
}

static void test_bytes_per_sample(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  tsdb_t *db = open_db(dir, 0, 0);
  fill(db, 50, 0, 13 * 240);
  char err[512];
  assert_int_equal(tsdb_maintain(db, err, sizeof err), 0);
  tsdb_block_info_t *info;
  size_t nb;
  tsdb_blocks_info(db, &info, &nb);
  uint64_t bytes = 0, samples = 0;
  for (size_t i = 0; i < nb; i++) {
    bytes += info[i].bytes;
    samples += info[i].samples;
  }
  tsdb_blocks_info_free(info);
  double bps = (double)bytes / (double)samples;
  printf("blocks: %zu, samples %llu, bytes %llu, %.3f bytes/sample (index included)\n", nb,
         (unsigned long long)samples, (unsigned long long)bytes, bps);
  assert_true(bps < 3.0); /* a sanity bound far above the real figure */
  tsdb_close(db);
  tu_rmrf(dir);
  free(dir);
}

static void test_delete_clean_snapshot(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  tsdb_t *db = open_db(dir, 0, 0);
  int steps = 4 * 240;
  fill(db, 4, 0, steps);
  char err[512];
  assert_int_equal(tsdb_maintain(db, err, sizeof err), 0); /* blocks + head */
  /* delete instance 1 over [30m, 3h30m]: inside a block and the head */
  tsdb_matcher_t m = {TSDB_MATCH_EQ, "instance", "1"};
  int64_t dmin = 30 * 60000, dmax = 3 * RANGE + 30 * 60000;
  assert_int_equal(tsdb_delete_series(db, &m, 1, dmin, dmax, err, sizeof err), 0);
  int64_t *ts = malloc(2000 * sizeof(int64_t));
  double *vs = malloc(2000 * sizeof(double));
  long want = steps - (long)((dmax - dmin) / STEP + 1);
  for (int pass = 0; pass < 3; pass++) {
    long n = tu_read(db, "instance", "1", INT64_MIN, INT64_MAX, ts, vs, 2000);
    assert_int_equal(n, want);
    for (long i = 0; i < n; i++) assert_true(ts[i] < dmin || ts[i] > dmax);
    check_series(db, 0, 0, steps); /* other series untouched */
    if (pass == 0) { /* survives a restart */
      tsdb_close(db);
      db = open_db(dir, 0, 0);
    } else if (pass == 1) { /* and cleaning the blocks */
      tsdb_block_info_t *info;
      size_t nb;
      tsdb_blocks_info(db, &info, &nb);
      uint64_t before = 0;
      for (size_t i = 0; i < nb; i++) before += info[i].samples;
      tsdb_blocks_info_free(info);
      assert_int_equal(tsdb_clean_tombstones(db, err, sizeof err), 0);
      tsdb_blocks_info(db, &info, &nb);
      uint64_t after = 0;
      for (size_t i = 0; i < nb; i++) after += info[i].samples;
      tsdb_blocks_info_free(info);
      assert_true(after < before);
    }
  }
  /* a series deleted entirely is not returned at all */
  tsdb_matcher_t m2 = {TSDB_MATCH_EQ, "instance", "2"};
  assert_int_equal(tsdb_delete_series(db, &m2, 1, INT64_MIN, INT64_MAX, err, sizeof err), 0);
  assert_int_equal(tu_read(db, "instance", "2", INT64_MIN, INT64_MAX, ts, vs, 2000), 0);
  /* snapshot: a directory pharos can open, with the same data */
  char snap[4200];
  snprintf(snap, sizeof snap, "%s/snapshots-test", dir);
  assert_int_equal(tsdb_snapshot(db, snap, false, err, sizeof err), 0);
  tsdb_close(db);
  db = open_db(snap, 0, 0);
  check_series(db, 0, 0, steps);
  check_series(db, 3, 0, steps);
  assert_int_equal(tu_read(db, "instance", "1", INT64_MIN, INT64_MAX, ts, vs, 2000), want);
  assert_int_equal(tu_read(db, "instance", "2", INT64_MIN, INT64_MAX, ts, vs, 2000), 0);
  tsdb_close(db);
  free(ts);
  free(vs);
  tu_rmrf(dir);
  free(dir);
}

/* --- block format 2: shared timestamps, pages; format 1 still read -------- */

/* The values of the format-1 fixture (tests/unit/tsdb/fixtures/v1-block,
 * written by the format-1 code from the same formulas): series s at step i. */
static double fx_value(int s, int i) {
  static const uint64_t sp[] = {0x7ff0000000000002ull, 0x8000000000000000ull,
                                0x7ff0000000000000ull, 0xfff0000000000000ull,
                                0x0000000000000001ull, 0x7ff8dead0000beefull,
                                0x3ff0000000000001ull};
  switch (s) {
    case 0: return (double)(i * 3);
    case 1: return 20.0 + (double)(i % 17) / 4.0;
    case 2:
      if (i % 5 == 0) {
        double d;
        memcpy(&d, &sp[(i / 5) % 7], 8);
        return d;
      }
      return ((double)((i * 7919) % 1000) - 500.0) / 7.0;
    default: return (double)i * 0.001;
  }
}

static int64_t fx_time(int s, int i) {
  return 1700000000000LL + (int64_t)i * 1000 + (s == 3 ? 0 : (i * 7) % 5);
}

static void check_fixture_series(tsdb_t *db, int s) {
  static const char *names[] = {"fx_counter", "fx_decimal", "fx_special", "fx_long"};
  int want = s == 3 ? 9000 : 300;
  int64_t *ts = malloc(9100 * sizeof(int64_t));
  double *vs = malloc(9100 * sizeof(double));
  long n = tu_read(db, "__name__", names[s], INT64_MIN, INT64_MAX, ts, vs, 9100);
  assert_int_equal(n, want);
  for (int i = 0; i < want; i++) {
    double w = fx_value(s, i);
    if (ts[i] != fx_time(s, i) || memcmp(&vs[i], &w, 8) != 0)
      fail_msg("%s sample %d: t=%lld v=%.17g", names[s], i, (long long)ts[i], vs[i]);
  }
  free(ts);
  free(vs);
}

static void test_read_format1_fixture(void **state) {
  (void)state;
  const char *src = getenv("PHAROS_SOURCE_DIR");
  char fix[4200];
  snprintf(fix, sizeof fix, "%s/tests/unit/tsdb/fixtures/v1-block", src ? src : ".");
  if (access(fix, F_OK) != 0) fail_msg("fixture %s not found", fix);
  char *dir = tu_tempdir();
  char cmd[9000];
  snprintf(cmd, sizeof cmd, "cp -r '%s'/. '%s'/", fix, dir);
  assert_int_equal(system(cmd), 0);
  tsdb_t *db = open_db(dir, 0, 0);
  tsdb_block_info_t *info;
  size_t nb;
  tsdb_blocks_info(db, &info, &nb);
  assert_int_equal(nb, 1);
  tsdb_blocks_info_free(info);
  for (int s = 0; s < 4; s++) check_fixture_series(db, s);
  /* rewriting it (dropping a deleted series) writes format 2 with the
   * same samples */
  tsdb_matcher_t m = {TSDB_MATCH_EQ, "__name__", "fx_decimal"};
  char err[512];
  assert_int_equal(tsdb_delete_series(db, &m, 1, INT64_MIN, INT64_MAX, err, sizeof err), 0);
  assert_int_equal(tsdb_clean_tombstones(db, err, sizeof err), 0);
  tsdb_blocks_info(db, &info, &nb);
  assert_int_equal(nb, 1);
  char path[4200], magic[8];
  snprintf(path, sizeof path, "%s/%s/chunks", dir, info[0].id);
  tsdb_blocks_info_free(info);
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  assert_int_equal(fread(magic, 1, 8, f), 8);
  fclose(f);
  assert_memory_equal(magic, "PHCHUNK2", 8);
  int64_t t1[4];
  double v1[4];
  assert_int_equal(tu_read(db, "__name__", "fx_decimal", INT64_MIN, INT64_MAX, t1, v1, 4), 0);
  for (int s = 0; s < 4; s += s == 0 ? 2 : 1) check_fixture_series(db, s);
  tsdb_close(db);
  tu_rmrf(dir);
  free(dir);
}

/* Many series, most sharing their timestamps (one "target"), some not,
 * with every kind of value, through a cut, a restart and a compaction. */
static void test_format2_shared_timestamps(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  tsdb_t *db = open_db(dir, 0, 0);
  enum { NS = 24, STEPS = 3 * 240 + 17 };
  static const uint64_t sp[] = {0x7ff0000000000002ull, 0x8000000000000000ull,
                                0x7ff0000000000000ull, 0xfff0000000000000ull,
                                0x000fffffffffffffull, 0x7ff8000000000123ull};
  labels_t *ls[NS];
  for (int s = 0; s < NS; s++) {
    char buf[16];
    snprintf(buf, sizeof buf, "%d", s);
    ls[s] = tu_labels("__name__", "m", "s", buf, "job", "j", NULL);
  }
  uint64_t r = 12345;
  double *want = malloc((size_t)NS * STEPS * sizeof(double));
  int64_t *wt = malloc((size_t)NS * STEPS * sizeof(int64_t));
  for (int j = 0; j < STEPS; j++) {
    tsdb_appender_t *a = tsdb_appender_new(db);
    int64_t base = (int64_t)j * STEP + (j * 13) % 7; /* jittered, shared */
    for (int s = 0; s < NS; s++) {
      r = r * 6364136223846793005ull + 1442695040888963407ull;
      double v;
      switch (s % 6) {
        case 0: v = (double)(j * 4096); break;
        case 1: v = (double)(r >> 11) / 9007199254740992.0; break; /* full precision */
        case 2: v = (double)j * 0.01; break;                      /* m * 10^-2 */
        case 3: v = (double)j / 100.0; break;                     /* m / 10^2 */
        case 4: memcpy(&v, &sp[(r >> 7) % 6], 8); break;
        default: v = 42; break;
      }
      int64_t t = s < NS - 3 ? base : base + s; /* the last three differ */
      want[s * STEPS + j] = v;
      wt[s * STEPS + j] = t;
      assert_int_equal(tsdb_append(a, ls[s], t, v, NULL), 0);
    }
    assert_int_equal(tsdb_appender_commit(a, NULL, 0), 0);
  }
  char err[512];
  int64_t *ts = malloc(STEPS * sizeof(int64_t) + 8);
  double *vs = malloc(STEPS * sizeof(double) + 8);
  for (int round = 0; round < 3; round++) {
    if (round == 1) { /* restart */
      tsdb_close(db);
      db = open_db(dir, 0, 0);
    }
    if (round == 2) { /* cut everything and compact */
      for (int k = 0; k < 5; k++) assert_int_equal(tsdb_maintain(db, err, sizeof err), 0);
    } else {
      assert_int_equal(tsdb_maintain(db, err, sizeof err), 0);
    }
    for (int s = 0; s < NS; s++) {
      char buf[16];
      snprintf(buf, sizeof buf, "%d", s);
      long n = tu_read(db, "s", buf, INT64_MIN, INT64_MAX, ts, vs, STEPS + 1);
      assert_int_equal(n, STEPS);
      for (int j = 0; j < STEPS; j++)
        if (ts[j] != wt[s * STEPS + j] || memcmp(&vs[j], &want[s * STEPS + j], 8) != 0)
          fail_msg("round %d series %d sample %d differs", round, s, j);
    }
  }
  tsdb_block_info_t *info;
  size_t nb;
  tsdb_blocks_info(db, &info, &nb);
  assert_true(nb >= 1);
  tsdb_blocks_info_free(info);
  for (int s = 0; s < NS; s++) labels_free(ls[s]);
  free(want);
  free(wt);
  free(ts);
  free(vs);
  tsdb_close(db);
  tu_rmrf(dir);
  free(dir);
}

/* A damaged page table or trailer makes the block unreadable as a whole. */
static void test_format2_bad_trailer(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  tsdb_t *db = open_db(dir, 0, 0);
  fill(db, 2, 0, 3 * 240);
  char err[512];
  assert_int_equal(tsdb_maintain(db, err, sizeof err), 0);
  tsdb_block_info_t *info;
  size_t nb;
  tsdb_blocks_info(db, &info, &nb);
  assert_true(nb >= 1);
  char path[4200];
  snprintf(path, sizeof path, "%s/%s/chunks", dir, info[0].id);
  tsdb_blocks_info_free(info);
  tsdb_close(db);
  int fd = open(path, O_RDWR);
  struct stat st;
  assert_int_equal(fstat(fd, &st), 0);
  unsigned char c;
  off_t at = st.st_size - 20; /* inside the page table */
  assert_int_equal(pread(fd, &c, 1, at), 1);
  c ^= 0x01;
  assert_int_equal(pwrite(fd, &c, 1, at), 1);
  close(fd);
  db = open_db(dir, 0, 0);
  assert_int_equal(count_blocks(dir, ".corrupt"), 1);
  tsdb_close(db);
  tu_rmrf(dir);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cut_query_restart),
      cmocka_unit_test(test_compaction),
      cmocka_unit_test(test_retention),
      cmocka_unit_test(test_corrupt_block_and_leftovers),
      cmocka_unit_test(test_corrupt_chunk_read),
      cmocka_unit_test(test_bytes_per_sample),
      cmocka_unit_test(test_delete_clean_snapshot),
      cmocka_unit_test(test_read_format1_fixture),
      cmocka_unit_test(test_format2_shared_timestamps),
      cmocka_unit_test(test_format2_bad_trailer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
