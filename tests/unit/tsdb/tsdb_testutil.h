/*
 * tsdb_testutil.h - helpers shared by the TSDB tests: temporary database
 * directories, label construction, reading a series back.
 */
#ifndef PH_TSDB_TESTUTIL_H
#define PH_TSDB_TESTUTIL_H

#include "labels.h"
#include "tsdb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline char *tu_tempdir(void) {
  char tmpl[] = "/tmp/pharos-tsdb-test.XXXXXX";
  char *d = mkdtemp(tmpl);
  return d ? strdup(d) : NULL;
}

static inline void tu_rmrf(const char *dir) {
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
}

/* Removes what only speeds up an open (the head snapshot and the cut head
 * chunks in chunks_head/), so the next open rebuilds the head from the WAL
 * alone: for tests of the WAL itself. */
static inline void tu_drop_head_files(const char *dir) {
  char p[4000];
  snprintf(p, sizeof p, "%s/head_snapshot", dir);
  unlink(p);
  snprintf(p, sizeof p, "%s/chunks_head", dir);
  tu_rmrf(p);
}

/* labels from "name", "value", ... NULL */
static inline labels_t *tu_labels(const char *first, ...) {
  label_t pairs[32];
  size_t n = 0;
  va_list ap;
  va_start(ap, first);
  const char *k = first;
  while (k != NULL && n < 32) {
    pairs[n].name = k;
    pairs[n].value = va_arg(ap, const char *);
    n++;
    k = va_arg(ap, const char *);
  }
  va_end(ap);
  return labels_new(NULL, pairs, n, NULL, 0);
}

static inline tsdb_t *tu_open(const char *dir, int64_t ooo_window) {
  tsdb_options_t o;
  tsdb_options_default(&o);
  o.path = dir;
  o.ooo_window_ms = ooo_window;
  tsdb_t *db = NULL;
  char err[512];
  if (tsdb_open(&o, &db, err, sizeof err) != 0) {
    fprintf(stderr, "tsdb_open: %s\n", err);
    return NULL;
  }
  return db;
}

/* Reads the samples of the series matching name=value (exactly one series
 * expected) in [mint,maxt]; returns the count or -1 if not exactly one. */
static inline long tu_read(tsdb_t *db, const char *name, const char *value,
                           int64_t mint, int64_t maxt, int64_t *ts, double *vs,
                           size_t cap) {
  tsdb_querier_t *q;
  tsdb_querier_open(db, mint, maxt, &q);
  tsdb_matcher_t m = {TSDB_MATCH_EQ, name, value};
  tsdb_series_set_t *set;
  char err[256];
  if (tsdb_select(q, &m, 1, &set, err, sizeof err) != 0) {
    tsdb_querier_close(q);
    return -1;
  }
  long n = -1;
  if (tsdb_series_set_count(set) <= 1) {
    n = 0; /* a series whose samples were all deleted is skipped by next() */
    if (tsdb_series_set_next(set)) {
      tsdb_iterator_t *it = tsdb_series_set_iterator(set);
      while (tsdb_iterator_next(it)) {
        if ((size_t)n < cap) tsdb_iterator_at(it, &ts[n], &vs[n]);
        n++;
      }
    }
  }
  tsdb_series_set_free(set);
  tsdb_querier_close(q);
  return n;
}

#endif
