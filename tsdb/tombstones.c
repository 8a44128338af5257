/*
 * tombstones.c - deleted data (the admin API's delete_series).
 *
 * A tombstone is (label matchers, [mint, maxt]): samples of every series
 * whose labels satisfy the matchers, in that interval, are deleted.
 * Queries hide them at once (querier.c asks tsdb__tombstones_for for each
 * series it returns, and its iterators skip the intervals); head cuts and
 * compactions leave them out of the blocks they write; clean_tombstones
 * rewrites the blocks that hold deleted samples and then forgets the
 * tombstones that no longer cover anything in the head.
 *
 * They are kept in <data>/tombstones, rewritten whole (temp file, fsync,
 * rename) on every change:
 *
 *   pharos-tombstones 1
 *   <mint> <maxt> <n> { <type> <len>:<name> <len>:<value> } x n
 *
 * one tombstone per line, type 0..3 as tsdb_match_type_t.
 */
#include "tsdb_int.h"

#include "log.h"
#include "mem.h"
#include "ph_error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct tombstone {
  tsdb__matcher_t *m; /* owned */
  size_t n;
  int64_t mint, maxt;
};

static void tomb_free(tombstone_t *t) {
  for (size_t i = 0; i < t->n; i++) tsdb__matcher_free(&t->m[i]);
  free(t->m);
}

void tsdb__tombstones_free(tsdb_t *db) {
  for (size_t i = 0; i < db->ntombs; i++) tomb_free(&db->tombs[i]);
  free(db->tombs);
  db->tombs = NULL;
  db->ntombs = db->tombs_cap = 0;
}

static int save(tsdb_t *db, char *err, size_t errlen) {
  char path[4200], tmp[4300];
  snprintf(path, sizeof path, "%s/tombstones", db->path);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  if (db->ntombs == 0) {
    unlink(path);
    return 0;
  }
  FILE *fp = fopen(tmp, "w");
  if (fp == NULL)
    return ph_err(err, errlen, PH_EIO, "create %s: %s", tmp, strerror(errno));
  fprintf(fp, "pharos-tombstones 1\n");
  for (size_t i = 0; i < db->ntombs; i++) {
    tombstone_t *t = &db->tombs[i];
    fprintf(fp, "%lld %lld %zu", (long long)t->mint, (long long)t->maxt, t->n);
    for (size_t k = 0; k < t->n; k++)
      fprintf(fp, " %d %zu:%s %zu:%s", (int)t->m[k].type, strlen(t->m[k].name),
              t->m[k].name, strlen(t->m[k].value), t->m[k].value);
    fputc('\n', fp);
  }
  int rc = 0;
  if (fflush(fp) != 0 || fsync(fileno(fp)) != 0) rc = PH_EIO;
  if (fclose(fp) != 0) rc = PH_EIO;
  if (rc == 0 && rename(tmp, path) != 0) rc = PH_EIO;
  if (rc != 0) {
    unlink(tmp);
    return ph_err(err, errlen, rc, "write %s: %s", path, strerror(errno));
  }
  tsdb__fsync_dir(db->path);
  return 0;
}

/* Reads "<len>:<bytes>" at *p into a new string. */
static char *read_lstr(const char **p) {
  char *end;
  unsigned long len = strtoul(*p, &end, 10);
  if (*end != ':' || len > 1 << 20) return NULL;
  end++;
  if (strnlen(end, len) < len) return NULL;
  char *s = ph_strndup(end, len);
  *p = end + len;
  return s;
}

int tsdb__tombstones_load(tsdb_t *db, char *err, size_t errlen) {
  char path[4200];
  snprintf(path, sizeof path, "%s/tombstones", db->path);
  FILE *fp = fopen(path, "r");
  if (fp == NULL) return 0;
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  int lineno = 0, rc = 0;
  while (rc == 0 && (len = getline(&line, &cap, fp)) > 0) {
    lineno++;
    if (lineno == 1) {
      if (strncmp(line, "pharos-tombstones 1", 19) != 0)
        rc = ph_err(err, errlen, PH_ECORRUPT, "%s: unknown format", path);
      continue;
    }
    const char *p = line;
    char *end;
    tombstone_t t = {0};
    t.mint = strtoll(p, &end, 10);
    p = end;
    t.maxt = strtoll(p, &end, 10);
    p = end;
    size_t n = strtoul(p, &end, 10);
    p = end;
    if (n > 64) {
      rc = ph_err(err, errlen, PH_ECORRUPT, "%s:%d: bad tombstone", path, lineno);
      break;
    }
    t.m = ph_calloc(n ? n : 1, sizeof(*t.m));
    for (size_t k = 0; k < n && rc == 0; k++) {
      int type = (int)strtol(p, &end, 10);
      p = end;
      while (*p == ' ') p++;
      char *name = read_lstr(&p);
      while (*p == ' ') p++;
      char *value = name ? read_lstr(&p) : NULL;
      if (name == NULL || value == NULL || type < 0 || type > 3) {
        rc = ph_err(err, errlen, PH_ECORRUPT, "%s:%d: bad matcher", path, lineno);
      } else {
        tsdb_matcher_t src = {(tsdb_match_type_t)type, name, value};
        char merr[256];
        if (tsdb__matcher_compile(&t.m[t.n], &src, merr, sizeof merr) == 0) t.n++;
        else rc = ph_err(err, errlen, PH_ECORRUPT, "%s:%d: %s", path, lineno, merr);
      }
      free(name);
      free(value);
    }
    if (rc != 0) {
      tomb_free(&t);
      break;
    }
    ph_grow(&db->tombs, &db->tombs_cap, db->ntombs + 1);
    db->tombs[db->ntombs++] = t;
  }
  free(line);
  fclose(fp);
  return rc;
}

size_t tsdb__tombstones_for(tsdb_t *db, const labels_t *ls, tomb_interval_t *out,
                            size_t cap) {
  size_t n = 0;
  pthread_rwlock_rdlock(&db->tombs_mu);
  for (size_t i = 0; i < db->ntombs; i++) {
    if (!tsdb__matchers_match_labels(db->tombs[i].m, db->tombs[i].n, ls)) continue;
    if (n < cap) out[n] = (tomb_interval_t){db->tombs[i].mint, db->tombs[i].maxt};
    n++;
  }
  pthread_rwlock_unlock(&db->tombs_mu);
  return n;
}

bool tsdb__tombstones_any(tsdb_t *db) {
  pthread_rwlock_rdlock(&db->tombs_mu);
  bool any = db->ntombs > 0;
  pthread_rwlock_unlock(&db->tombs_mu);
  return any;
}

int tsdb_delete_series(tsdb_t *db, const tsdb_matcher_t *m, size_t n, int64_t mint,
                       int64_t maxt, char *err, size_t errlen) {
  if (n == 0) return ph_err(err, errlen, PH_EINVAL, "no matchers given");
  tombstone_t t = {0};
  t.m = ph_calloc(n, sizeof(*t.m));
  for (size_t i = 0; i < n; i++) {
    int rc = tsdb__matcher_compile(&t.m[i], &m[i], err, errlen);
    if (rc != 0) {
      tomb_free(&t);
      return rc;
    }
    t.n++;
  }
  t.mint = mint;
  t.maxt = maxt;
  pthread_rwlock_wrlock(&db->tombs_mu);
  ph_grow(&db->tombs, &db->tombs_cap, db->ntombs + 1);
  db->tombs[db->ntombs++] = t;
  int rc = save(db, err, errlen);
  if (rc != 0) {
    tomb_free(&db->tombs[--db->ntombs]);
  }
  pthread_rwlock_unlock(&db->tombs_mu);
  return rc;
}

/* Removes tombstones that end before t (nothing left they could hide). */
int tsdb__tombstones_forget_before(tsdb_t *db, int64_t t, char *err, size_t errlen) {
  pthread_rwlock_wrlock(&db->tombs_mu);
  size_t keep = 0;
  bool changed = false;
  for (size_t i = 0; i < db->ntombs; i++) {
    if (db->tombs[i].maxt < t) {
      tomb_free(&db->tombs[i]);
      changed = true;
    } else {
      db->tombs[keep++] = db->tombs[i];
    }
  }
  db->ntombs = keep;
  int rc = changed ? save(db, err, errlen) : 0;
  pthread_rwlock_unlock(&db->tombs_mu);
  return rc;
}

/* Removes the samples inside the intervals from ts/vs in place. */
size_t tsdb__tombstones_filter(const tomb_interval_t *iv, size_t niv, int64_t *ts,
                               double *vs, size_t n) {
  if (niv == 0) return n;
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    bool dead = false;
    for (size_t k = 0; k < niv && !dead; k++) dead = ts[i] >= iv[k].mint && ts[i] <= iv[k].maxt;
    if (dead) continue;
    ts[o] = ts[i];
    vs[o++] = vs[i];
  }
  return o;
}
