/*
 * remote_metadata.c - the metadata store (see remote_metadata.h).
 *
 * A sorted array of family pointers, found by binary search under one
 * mutex.  A new family is inserted in place (memmove of pointers): new
 * families are rare once senders have sent their metadata, and the sorted
 * order is what list() returns.  Each family holds a small fixed array of
 * variants, newest first.
 */
#include "remote_metadata.h"

#include "mem.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct variant {
  metadata_type_t type;
  char *help; /* owned */
  char *unit; /* owned */
} variant_t;

typedef struct family {
  char *name; /* owned */
  variant_t v[METADATA_MAX_PER_METRIC];
  size_t nv;
} family_t;

struct metadata_store {
  pthread_mutex_t mu;
  family_t **f; /* owned, sorted by name */
  size_t n, cap;
  size_t max;
  uint64_t dropped;
};

const char *metadata_type_name(metadata_type_t t) {
  static const char *const names[] = {"unknown", "counter", "gauge",
                                      "histogram", "gaugehistogram", "summary",
                                      "info", "stateset"};
  if ((unsigned)t >= sizeof names / sizeof names[0]) return "unknown";
  return names[t];
}

metadata_store_t *metadata_store_new(size_t max_metrics) {
  metadata_store_t *ms = ph_calloc(1, sizeof(*ms));
  pthread_mutex_init(&ms->mu, NULL);
  ms->max = max_metrics ? max_metrics : 100000;
  return ms;
}

static void variant_free(variant_t *v) {
  free(v->help);
  free(v->unit);
}

void metadata_store_free(metadata_store_t *ms) {
  if (ms == NULL) return;
  for (size_t i = 0; i < ms->n; i++) {
    for (size_t j = 0; j < ms->f[i]->nv; j++) variant_free(&ms->f[i]->v[j]);
    free(ms->f[i]->name);
    free(ms->f[i]);
  }
  free(ms->f);
  pthread_mutex_destroy(&ms->mu);
  free(ms);
}

/* Index of name, or where it would go (*found false). */
static size_t find(const metadata_store_t *ms, const char *name, bool *found) {
  size_t lo = 0, hi = ms->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(ms->f[mid]->name, name);
    if (c == 0) {
      *found = true;
      return mid;
    }
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  *found = false;
  return lo;
}

void metadata_store_put(metadata_store_t *ms, const char *metric,
                        metadata_type_t type, const char *help,
                        const char *unit) {
  if (metric == NULL || metric[0] == '\0') return;
  if (help == NULL) help = "";
  if (unit == NULL) unit = "";
  if ((unsigned)type > METADATA_TYPE_STATESET) type = METADATA_TYPE_UNKNOWN;
  pthread_mutex_lock(&ms->mu);
  bool found;
  size_t at = find(ms, metric, &found);
  family_t *f;
  if (found) {
    f = ms->f[at];
    for (size_t j = 0; j < f->nv; j++) {
      if (f->v[j].type == type && strcmp(f->v[j].help, help) == 0 &&
          strcmp(f->v[j].unit, unit) == 0) {
        pthread_mutex_unlock(&ms->mu);
        return;
      }
    }
  } else {
    if (ms->n >= ms->max) {
      ms->dropped++;
      pthread_mutex_unlock(&ms->mu);
      return;
    }
    ph_grow(&ms->f, &ms->cap, ms->n + 1);
    memmove(&ms->f[at + 1], &ms->f[at], (ms->n - at) * sizeof(ms->f[0]));
    f = ph_calloc(1, sizeof(*f));
    f->name = ph_strdup(metric);
    ms->f[at] = f;
    ms->n++;
  }
  if (f->nv == METADATA_MAX_PER_METRIC) variant_free(&f->v[--f->nv]);
  memmove(&f->v[1], &f->v[0], f->nv * sizeof(f->v[0]));
  f->v[0] = (variant_t){type, ph_strdup(help), ph_strdup(unit)};
  f->nv++;
  pthread_mutex_unlock(&ms->mu);
}

static void copy_family(const family_t *f, size_t per, metadata_entry_t *out,
                        size_t *n) {
  size_t nv = per && per < f->nv ? per : f->nv;
  for (size_t j = 0; j < nv; j++) {
    metadata_entry_t *e = &out[(*n)++];
    e->metric = ph_strdup(f->name);
    e->type = f->v[j].type;
    e->help = ph_strdup(f->v[j].help);
    e->unit = ph_strdup(f->v[j].unit);
  }
}

void metadata_store_list(metadata_store_t *ms, const char *metric,
                         size_t limit, size_t limit_per_metric,
                         metadata_entry_t **out, size_t *n) {
  *out = NULL;
  *n = 0;
  pthread_mutex_lock(&ms->mu);
  size_t first = 0, last = ms->n;
  if (metric != NULL && metric[0] != '\0') {
    bool found;
    first = find(ms, metric, &found);
    last = found ? first + 1 : first;
  }
  if (limit > 0 && last - first > limit) last = first + limit;
  size_t total = 0;
  for (size_t i = first; i < last; i++) {
    size_t nv = ms->f[i]->nv;
    total += limit_per_metric && limit_per_metric < nv ? limit_per_metric : nv;
  }
  if (total > 0) {
    metadata_entry_t *e = ph_calloc(total, sizeof(*e));
    for (size_t i = first; i < last; i++)
      copy_family(ms->f[i], limit_per_metric, e, n);
    *out = e;
  }
  pthread_mutex_unlock(&ms->mu);
}

void metadata_entries_free(metadata_entry_t *e, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(e[i].metric);
    free(e[i].help);
    free(e[i].unit);
  }
  free(e);
}

size_t metadata_store_count(metadata_store_t *ms) {
  pthread_mutex_lock(&ms->mu);
  size_t n = ms->n;
  pthread_mutex_unlock(&ms->mu);
  return n;
}

uint64_t metadata_store_dropped(metadata_store_t *ms) {
  pthread_mutex_lock(&ms->mu);
  uint64_t d = ms->dropped;
  pthread_mutex_unlock(&ms->mu);
  return d;
}
