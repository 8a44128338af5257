/*
 * workload_rw.c - packs workload samples into remote-write 1.0 requests
 * the way Prometheus's queue manager does (see workload.h).
 *
 * Each series goes to one of `shards` queues by a hash of its identity
 * (host, series index), so a series' samples always travel through the
 * same queue, in time order.  A queue holds up to max_samples entries;
 * when full (or on flush) it becomes one prometheus.WriteRequest with one
 * TimeSeries (labels sorted by name, one sample) per entry, packed with
 * protobuf-c into a reused buffer and block-compressed with snappy.  The
 * protobuf-c message structs and label arrays are allocated once, sized
 * for max_samples, and only pointed at the workload's label strings.
 */
#include "workload.h"

#include "mem.h"
#include "proto/remote.pb-c.h"
#include "proto/types.pb-c.h"

#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>

typedef struct rw_entry {
  unsigned h;
  uint32_t i;
  int64_t t;
  double v;
} rw_entry_t;

typedef struct rw_queue {
  rw_entry_t *e;
  size_t n;
} rw_queue_t;

struct wl_rw {
  const wl_t *wl;
  unsigned shards;
  size_t max;
  wl_rw_emit_fn emit;
  void *ctx;
  rw_queue_t *q;
  /* encoding scratch, sized for max entries */
  Prometheus__TimeSeries *ts;
  Prometheus__TimeSeries **tsp;
  Prometheus__Sample *smp;
  Prometheus__Sample **smpp;
  Prometheus__Label *lab;
  Prometheus__Label **labp;
  uint8_t *pb;
  size_t pbcap;
  char *sn;
  size_t sncap;
};

wl_rw_t *wl_rw_new(const wl_t *wl, unsigned shards, size_t max_samples,
                   wl_rw_emit_fn emit, void *ctx) {
  wl_rw_t *rw = ph_calloc(1, sizeof *rw);
  rw->wl = wl;
  rw->shards = shards ? shards : 1;
  rw->max = max_samples ? max_samples : 2000;
  rw->emit = emit;
  rw->ctx = ctx;
  rw->q = ph_calloc(rw->shards, sizeof(rw_queue_t));
  for (unsigned s = 0; s < rw->shards; s++) rw->q[s].e = ph_malloc(rw->max * sizeof(rw_entry_t));
  rw->ts = ph_malloc(rw->max * sizeof *rw->ts);
  rw->tsp = ph_malloc(rw->max * sizeof *rw->tsp);
  rw->smp = ph_malloc(rw->max * sizeof *rw->smp);
  rw->smpp = ph_malloc(rw->max * sizeof *rw->smpp);
  rw->lab = ph_malloc(rw->max * WL_MAX_LABELS * sizeof *rw->lab);
  rw->labp = ph_malloc(rw->max * WL_MAX_LABELS * sizeof *rw->labp);
  return rw;
}

static int cmp_label(const void *a, const void *b) {
  return strcmp(((const label_t *)a)->name, ((const label_t *)b)->name);
}

static void encode_queue(wl_rw_t *rw, unsigned shard) {
  rw_queue_t *q = &rw->q[shard];
  if (q->n == 0) return;
  size_t nl = 0;
  for (size_t k = 0; k < q->n; k++) {
    const rw_entry_t *e = &q->e[k];
    label_t ls[WL_MAX_LABELS];
    size_t n = wl_labels(rw->wl, e->h, e->i, ls, WL_MAX_LABELS);
    qsort(ls, n, sizeof ls[0], cmp_label);
    Prometheus__TimeSeries *ts = &rw->ts[k];
    prometheus__time_series__init(ts);
    ts->labels = &rw->labp[nl];
    ts->n_labels = n;
    for (size_t j = 0; j < n; j++, nl++) {
      prometheus__label__init(&rw->lab[nl]);
      rw->lab[nl].name = (char *)ls[j].name;
      rw->lab[nl].value = (char *)ls[j].value;
      rw->labp[nl] = &rw->lab[nl];
    }
    prometheus__sample__init(&rw->smp[k]);
    rw->smp[k].value = e->v;
    rw->smp[k].timestamp = e->t;
    rw->smpp[k] = &rw->smp[k];
    ts->samples = &rw->smpp[k];
    ts->n_samples = 1;
    rw->tsp[k] = ts;
  }
  Prometheus__WriteRequest req = PROMETHEUS__WRITE_REQUEST__INIT;
  req.timeseries = rw->tsp;
  req.n_timeseries = q->n;
  size_t need = prometheus__write_request__get_packed_size(&req);
  if (need > rw->pbcap) {
    rw->pb = ph_realloc(rw->pb, need);
    rw->pbcap = need;
  }
  size_t len = prometheus__write_request__pack(&req, rw->pb);
  size_t snlen = snappy_max_compressed_length(len);
  if (snlen > rw->sncap) {
    rw->sn = ph_realloc(rw->sn, snlen);
    rw->sncap = snlen;
  }
  if (snappy_compress((const char *)rw->pb, len, rw->sn, &snlen) != SNAPPY_OK) ph_assert(0);
  size_t n = q->n;
  q->n = 0;
  rw->emit(rw->ctx, shard, n, rw->sn, snlen);
}

void wl_rw_add(wl_rw_t *rw, unsigned h, size_t i, int64_t t, double v) {
  uint64_t x = ((uint64_t)h << 20) ^ (uint64_t)i;
  x *= UINT64_C(0x9e3779b97f4a7c15);
  unsigned shard = (unsigned)((x >> 32) % rw->shards);
  rw_queue_t *q = &rw->q[shard];
  q->e[q->n++] = (rw_entry_t){h, (uint32_t)i, t, v};
  if (q->n == rw->max) encode_queue(rw, shard);
}

void wl_rw_flush(wl_rw_t *rw) {
  for (unsigned s = 0; s < rw->shards; s++) encode_queue(rw, s);
}

void wl_rw_free(wl_rw_t *rw) {
  if (!rw) return;
  for (unsigned s = 0; s < rw->shards; s++) free(rw->q[s].e);
  free(rw->q);
  free(rw->ts);
  free(rw->tsp);
  free(rw->smp);
  free(rw->smpp);
  free(rw->lab);
  free(rw->labp);
  free(rw->pb);
  free(rw->sn);
  free(rw);
}
