/*
 * scrape.c - the scrape manager: loop thread, pools, targets, reloads,
 * snapshots (see scrape.h for the contract, scrape_int.h for the files).
 *
 * Loop thread.  scrape_manager_new() starts a thread running a private
 * uv_loop_t.  Other threads talk to it only through m->mu-guarded fields
 * and one uv_async_t: apply() parks a config in m->pending, free() sets
 * m->stop; the async callback picks both up on the loop thread.
 *
 * Pools and targets.  One pool per job.  A pool's target groups are the
 * job's static_configs plus what its file_sd providers read.  Each target
 * in a group becomes a label set as Prometheus's PopulateLabels makes it:
 * the target's own labels, the group's, then job, __scrape_interval__,
 * __scrape_timeout__, __metrics_path__, __scheme__ and __param_<name>
 * where not set; relabel_configs (which may drop it); __address__ must be
 * set and hold no '/'; interval and timeout are read back from their
 * labels; __meta_* labels go; instance defaults to __address__.  That set
 * ("full") identifies the target together with the job name; its labels
 * without the "__" ones are the target's labels.
 *
 * Reconciliation (after a config is applied or a file_sd file changed):
 * targets whose identity is still produced keep running untouched (timer,
 * caches, staleness state), only their job pointer moves to the new
 * config; the others stop (staleness markers, timer closed, freed in the
 * close callback) and new ones start.
 *
 * Scheduling as Prometheus: a target's first scrape happens at
 * offset = (hash(labels) ^ seed) mod interval after an interval boundary
 * of the wall clock, then every interval.  The next deadline is computed
 * from the previous one (no drift); a scrape that would start while the
 * previous one still runs is skipped.  The timestamp of a scrape is its
 * scheduled time when the timer fired within 2ms of it (so steady scrapes
 * get perfectly regular timestamps), else the time it started.
 */
#include "scrape_int.h"

#include "log.h"
#include "mem.h"
#include "ph_error.h"
#include "relabel.h"
#include "timeparse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

const char *scrape_health_name(scrape_health_t h) {
  switch (h) {
  case SCRAPE_HEALTH_UP: return "up";
  case SCRAPE_HEALTH_DOWN: return "down";
  default: return "unknown";
  }
}

/* ---- targets ------------------------------------------------------------------ */

typedef struct local_work {
  uv_work_t req;
  scrape_target_t *t;
  scrape_local_fn fn;
  void *ud;
  strbuf_t out;
  int rc;
} local_work_t;

static void target_free(scrape_target_t *t) {
  scrape__http_target_free(t);
  scrape__target_state_free(t);
  labels_free(t->discovered);
  labels_free(t->full);
  labels_free(t->labels);
  free(t->url);
  free(t->address);
  free(t->last_error);
  free(t);
}

static void target_unpend(scrape_target_t *t) {
  if (--t->pending == 0) target_free(t);
}

static void on_target_timer_closed(uv_handle_t *h) { target_unpend(h->data); }

void scrape__scrape_finished(scrape_target_t *t) { t->scraping = false; }

static void local_work_cb(uv_work_t *req) {
  local_work_t *w = req->data;
  w->rc = w->fn(w->ud, &w->out);
}

static void local_after_cb(uv_work_t *req, int status) {
  local_work_t *w = req->data;
  scrape_target_t *t = w->t;
  t->work = NULL;
  if (t->stopping) {
    target_unpend(t);
  } else {
    t->pending--;
    char msg[256];
    const char *error = NULL;
    if (status != 0) {
      snprintf(msg, sizeof msg, "in-process collection canceled");
      error = msg;
    } else if (w->rc != 0) {
      snprintf(msg, sizeof msg, "in-process collection failed: %s", ph_strerror(w->rc));
      error = msg;
    }
    scrape__process(t, w->out.data ? w->out.data : "", w->out.len, "text/plain; version=0.0.4",
                    error);
    scrape__scrape_finished(t);
  }
  strbuf_free(&w->out);
  free(w);
}

static void start_scrape(scrape_target_t *t) {
  t->scrape_start_ns = uv_hrtime();
  if (t->pool->limit_error != NULL) {
    scrape__process(t, NULL, 0, NULL, t->pool->limit_error);
    return;
  }
  if (t->job->local_fn != NULL) {
    local_work_t *w = ph_calloc(1, sizeof *w);
    w->req.data = w;
    w->t = t;
    w->fn = t->job->local_fn;
    w->ud = t->job->local_ud;
    t->work = w;
    t->pending++;
    t->scraping = true;
    if (uv_queue_work(&t->m->loop, &w->req, local_work_cb, local_after_cb) != 0) {
      t->work = NULL;
      t->pending--;
      t->scraping = false;
      free(w);
      scrape__process(t, NULL, 0, NULL, "cannot queue in-process collection");
    }
    return;
  }
  scrape__http_start(t);
}

static void on_tick(uv_timer_t *h) {
  scrape_target_t *t = h->data;
  int64_t now = ph_now_ms();
  int64_t tick = t->next_tick_ms;
  int64_t next = tick + t->interval_ms;
  while (next <= now) next += t->interval_ms;
  t->next_tick_ms = next;
  uv_timer_start(&t->timer, on_tick, (uint64_t)(next - now), 0);
  if (t->scraping || t->work != NULL) return;
  t->scrape_ts = (now >= tick && now - tick <= 2) ? tick : now;
  if (t->scrape_ts <= t->last_ts) t->scrape_ts = t->last_ts + 1;
  start_scrape(t);
}

/* Prometheus's Target.offset(). */
static int64_t first_delay(const scrape_target_t *t, int64_t now) {
  uint64_t iv = (uint64_t)t->interval_ms;
  int64_t base = t->interval_ms - now % t->interval_ms;
  int64_t off = (int64_t)((labels_hash(t->labels) ^ t->m->offset_seed) % iv);
  int64_t next = base + off;
  if (next > t->interval_ms) next -= t->interval_ms;
  return next;
}

static void target_start(scrape_target_t *t) {
  uv_timer_init(&t->m->loop, &t->timer);
  t->timer.data = t;
  t->pending = 1;
  int64_t now = ph_now_ms();
  int64_t d = first_delay(t, now);
  t->next_tick_ms = now + d;
  uv_timer_start(&t->timer, on_tick, (uint64_t)d, 0);
}

static void target_stop(scrape_target_t *t) {
  t->stopping = true;
  scrape__http_cancel(t);
  scrape__http_target_free(t);
  scrape__stale_all(t);
  uv_timer_stop(&t->timer);
  uv_close((uv_handle_t *)&t->timer, on_target_timer_closed);
}

/* ---- building targets ------------------------------------------------------------ */

static void query_escape(strbuf_t *b, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    unsigned char c = *p;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      strbuf_putc(b, (char)c);
    } else if (c == ' ') {
      strbuf_putc(b, '+');
    } else {
      strbuf_putc(b, '%');
      strbuf_putc(b, hex[c >> 4]);
      strbuf_putc(b, hex[c & 15]);
    }
  }
}

static void path_escape(strbuf_t *b, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  if (s[0] != '/') strbuf_putc(b, '/');
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    unsigned char c = *p;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
        strchr("-._~!$&'()*+,;=:@/", c) != NULL) {
      strbuf_putc(b, (char)c);
    } else {
      strbuf_putc(b, '%');
      strbuf_putc(b, hex[c >> 4]);
      strbuf_putc(b, hex[c & 15]);
    }
  }
}

typedef struct qparam {
  const char *name;
  const char *const *values;
  size_t n;
  const char *first; /* override of values[0] from __param_<name> */
} qparam_t;

static int cmp_qparam(const void *a, const void *b) {
  return strcmp(((const qparam_t *)a)->name, ((const qparam_t *)b)->name);
}

/* Prometheus's Target.URL(). */
static char *build_url(const scrape_job_t *j, const labels_t *full) {
  strbuf_t b = STRBUF_INIT;
  const char *scheme = labels_get(full, "__scheme__");
  const char *path = labels_get(full, "__metrics_path__");
  strbuf_printf(&b, "%s://%s", scheme ? scheme : "http", labels_get(full, "__address__"));
  path_escape(&b, path ? path : "");
  size_t n = 0, cap = j->nparams + labels_len(full);
  qparam_t *qp = ph_calloc(cap ? cap : 1, sizeof *qp);
  for (size_t i = 0; i < j->nparams; i++)
    qp[n++] = (qparam_t){j->params[i].name, j->params[i].values, j->params[i].nvalues, NULL};
  for (size_t i = 0; i < labels_len(full); i++) {
    const label_t *l = labels_at(full, i);
    if (strncmp(l->name, "__param_", 8) != 0) continue;
    const char *k = l->name + 8;
    size_t at = n;
    for (size_t q = 0; q < n; q++)
      if (strcmp(qp[q].name, k) == 0) at = q;
    if (at == n) qp[n++] = (qparam_t){k, NULL, 0, NULL};
    qp[at].first = l->value;
  }
  if (n > 1) qsort(qp, n, sizeof *qp, cmp_qparam);
  bool firstp = true;
  for (size_t q = 0; q < n; q++) {
    size_t nv = qp[q].n ? qp[q].n : (qp[q].first ? 1 : 0);
    for (size_t v = 0; v < nv; v++) {
      const char *val = v == 0 && qp[q].first ? qp[q].first : qp[q].values[v];
      strbuf_putc(&b, firstp ? '?' : '&');
      firstp = false;
      query_escape(&b, qp[q].name);
      strbuf_putc(&b, '=');
      query_escape(&b, val);
    }
  }
  free(qp);
  return strbuf_detach(&b, NULL);
}

typedef struct built {
  labels_t *discovered; /* owned */
  labels_t *full;       /* owned; NULL when dropped */
  labels_t *labels;
  int64_t interval_ms, timeout_ms;
} built_t;

static void built_free(built_t *b) {
  labels_free(b->discovered);
  labels_free(b->full);
  labels_free(b->labels);
}

/* Prometheus's targetsFromGroup + PopulateLabels for one target. */
static int build_target(scrape_manager_t *m, const scrape_job_t *j, const labels_t *tl,
                        const labels_t *gl, built_t *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  labels_builder_t *b = m->lb;
  labels_builder_reset(b, tl);
  for (size_t i = 0; i < labels_len(gl); i++) {
    const label_t *l = labels_at(gl, i);
    if (labels_get(tl, l->name) == NULL) labels_builder_set(b, l->name, l->value);
  }
  char iv[40], to[40];
  ph_format_duration(j->interval_ms, iv, sizeof iv);
  ph_format_duration(j->timeout_ms, to, sizeof to);
  const char *defs[][2] = {{"job", j->job_name},
                           {"__scrape_interval__", iv},
                           {"__scrape_timeout__", to},
                           {"__metrics_path__", j->metrics_path},
                           {"__scheme__", j->scheme}};
  for (size_t i = 0; i < 5; i++) {
    const char *v = labels_builder_get(b, defs[i][0]);
    if (v == NULL || v[0] == '\0') labels_builder_set(b, defs[i][0], defs[i][1]);
  }
  for (size_t i = 0; i < j->nparams; i++) {
    if (j->params[i].nvalues == 0) continue;
    char name[256];
    snprintf(name, sizeof name, "__param_%s", j->params[i].name);
    const char *v = labels_builder_get(b, name);
    if (v == NULL || v[0] == '\0') labels_builder_set(b, name, j->params[i].values[0]);
  }
  out->discovered = labels_builder_finish(b, NULL);
  labels_t *rl;
  if (!relabel_apply((const relabel_rule_t *const *)j->relabel, j->nrelabel, out->discovered,
                     &rl))
    return 0; /* dropped */
  const char *addr = labels_get(rl, "__address__");
  int rc = 0;
  int64_t ivms = 0, toms = 0;
  if (addr == NULL) {
    rc = ph_err(err, errlen, PH_EINVAL, "no address");
  } else if (strchr(addr, '/') != NULL) {
    rc = ph_err(err, errlen, PH_EINVAL, "\"%s\" is not a valid hostname", addr);
  } else {
    const char *si = labels_get(rl, "__scrape_interval__");
    const char *st = labels_get(rl, "__scrape_timeout__");
    char derr[128];
    if (si == NULL || ph_parse_duration(si, strlen(si), &ivms, derr, sizeof derr) != 0)
      rc = ph_err(err, errlen, PH_EINVAL, "error parsing scrape interval: %s",
                  si ? derr : "empty duration string");
    else if (ivms == 0)
      rc = ph_err(err, errlen, PH_EINVAL, "scrape interval cannot be 0");
    else if (st == NULL || ph_parse_duration(st, strlen(st), &toms, derr, sizeof derr) != 0)
      rc = ph_err(err, errlen, PH_EINVAL, "error parsing scrape timeout: %s",
                  st ? derr : "empty duration string");
    else if (toms == 0)
      rc = ph_err(err, errlen, PH_EINVAL, "scrape timeout cannot be 0");
    else if (toms > ivms)
      rc = ph_err(err, errlen, PH_EINVAL,
                  "scrape timeout cannot be greater than scrape interval (\"%s\" > \"%s\")", st, si);
  }
  if (rc != 0) {
    labels_free(rl);
    return rc;
  }
  labels_builder_reset(b, rl);
  for (size_t i = 0; i < labels_len(rl); i++) {
    const label_t *l = labels_at(rl, i);
    if (strncmp(l->name, "__meta_", 7) == 0) labels_builder_del(b, l->name);
  }
  const char *inst = labels_get(rl, "instance");
  if (inst == NULL || inst[0] == '\0') labels_builder_set(b, "instance", addr);
  out->full = labels_builder_finish(b, NULL);
  labels_free(rl);
  labels_builder_reset(b, out->full);
  for (size_t i = 0; i < labels_len(out->full); i++) {
    const label_t *l = labels_at(out->full, i);
    if (strncmp(l->name, "__", 2) == 0) labels_builder_del(b, l->name);
  }
  out->labels = labels_builder_finish(b, NULL);
  out->interval_ms = ivms;
  out->timeout_ms = toms;
  return 0;
}

static uint64_t target_id(const scrape_job_t *j, const labels_t *full) {
  return XXH3_64bits(j->job_name, strlen(j->job_name)) ^ labels_hash(full);
}

/* ---- pools ------------------------------------------------------------------------ */

static void pool_sync(scrape_pool_t *p);

static void on_sd_update(void *ud) { pool_sync(ud); }

static void pool_start_sd(scrape_pool_t *p) {
  for (size_t i = 0; i < p->nsd; i++) scrape__sd_file_close(p->sd[i]);
  free(p->sd);
  p->nsd = p->job->nfile_sd;
  p->sd = ph_calloc(p->nsd ? p->nsd : 1, sizeof *p->sd);
  for (size_t i = 0; i < p->nsd; i++)
    p->sd[i] = scrape__sd_file_new(p->m, &p->job->file_sd[i], on_sd_update, p);
}

static void add_groups(scrape_pool_t *p, const scrape_group_t *g, size_t ng, built_t **bv,
                       size_t *nb, size_t *cap) {
  char err[512];
  for (size_t i = 0; i < ng; i++) {
    for (size_t k = 0; k < g[i].ntargets; k++) {
      ph_grow(bv, cap, *nb + 1);
      built_t *b = &(*bv)[*nb];
      if (build_target(p->m, p->job, g[i].targets[k], g[i].labels, b, err, sizeof err) != 0) {
        log_warn("Creating target failed", "scrape_pool", p->name, "err", err);
        built_free(b);
        continue;
      }
      (*nb)++;
    }
  }
}

/* Recomputes the pool's targets from its groups and reconciles. */
static void pool_sync(scrape_pool_t *p) {
  scrape_manager_t *m = p->m;
  const scrape_job_t *j = p->job;
  built_t *bv = NULL;
  size_t nb = 0, capb = 0;
  add_groups(p, j->static_groups, j->nstatic_groups, &bv, &nb, &capb);
  for (size_t i = 0; i < p->nsd; i++) {
    size_t ng;
    const scrape_group_t *g = scrape__sd_file_groups(p->sd[i], &ng);
    add_groups(p, g, ng, &bv, &nb, &capb);
  }
  scrape_target_t **keep = ph_calloc(nb ? nb : 1, sizeof *keep);
  size_t nkeep = 0;
  labels_t **dropped = ph_calloc(nb ? nb : 1, sizeof *dropped);
  size_t ndropped = 0;
  scrape_target_t **fresh = ph_calloc(nb ? nb : 1, sizeof *fresh);
  size_t nfresh = 0;
  bool *reused = ph_calloc(p->ntargets ? p->ntargets : 1, sizeof *reused);
  for (size_t i = 0; i < nb; i++) {
    built_t *b = &bv[i];
    if (b->full == NULL) {
      if (j->keep_dropped_targets == 0 || ndropped < j->keep_dropped_targets) {
        dropped[ndropped++] = b->discovered;
        b->discovered = NULL;
      }
      built_free(b);
      continue;
    }
    uint64_t id = target_id(j, b->full);
    bool dup = false;
    for (size_t k = 0; k < nkeep && !dup; k++)
      dup = keep[k]->id == id && labels_equal(keep[k]->full, b->full);
    if (dup) {
      built_free(b);
      continue;
    }
    scrape_target_t *old = NULL;
    for (size_t k = 0; k < p->ntargets && old == NULL; k++)
      if (!reused[k] && p->targets[k]->id == id && labels_equal(p->targets[k]->full, b->full)) {
        old = p->targets[k];
        reused[k] = true;
      }
    if (old != NULL) {
      /* Same identity: keep it running; the discovered labels may differ
       * (e.g. a __meta_ label relabeling ignores). */
      pthread_mutex_lock(&m->mu);
      labels_free(old->discovered);
      old->discovered = b->discovered;
      old->job = j;
      pthread_mutex_unlock(&m->mu);
      b->discovered = NULL;
      built_free(b);
      keep[nkeep++] = old;
      continue;
    }
    scrape_target_t *t = ph_calloc(1, sizeof *t);
    t->m = m;
    t->pool = p;
    t->job = j;
    t->id = id;
    t->discovered = b->discovered;
    t->full = b->full;
    t->labels = b->labels;
    t->interval_ms = b->interval_ms;
    t->timeout_ms = b->timeout_ms;
    t->fingerprint = j->sample_fingerprint;
    t->address = ph_strdup(labels_get(t->full, "__address__"));
    if (j->local_fn != NULL) {
      strbuf_t u = STRBUF_INIT;
      strbuf_printf(&u, "inprocess://%s", t->address);
      t->url = strbuf_detach(&u, NULL);
    } else {
      t->url = build_url(j, t->full);
    }
    t->last_error = ph_strdup("");
    memset(b, 0, sizeof *b);
    keep[nkeep++] = t;
    fresh[nfresh++] = t;
  }
  free(bv);
  char *limit_error = NULL;
  if (j->target_limit > 0 && nkeep > j->target_limit) {
    strbuf_t e = STRBUF_INIT;
    strbuf_printf(&e, "target_limit exceeded (number of targets: %zu, limit: %llu)", nkeep,
                  (unsigned long long)j->target_limit);
    limit_error = strbuf_detach(&e, NULL);
  }
  /* publish */
  scrape_target_t **old = p->targets;
  size_t nold = p->ntargets;
  labels_t **old_dropped = p->dropped;
  size_t nold_dropped = p->ndropped;
  pthread_mutex_lock(&m->mu);
  p->targets = keep;
  p->ntargets = nkeep;
  p->captargets = nb ? nb : 1;
  p->dropped = dropped;
  p->ndropped = ndropped;
  pthread_mutex_unlock(&m->mu);
  free(p->limit_error);
  p->limit_error = limit_error;
  for (size_t k = 0; k < nold; k++)
    if (!reused[k]) target_stop(old[k]);
  free(old);
  free(reused);
  for (size_t k = 0; k < nold_dropped; k++) labels_free(old_dropped[k]);
  free(old_dropped);
  for (size_t k = 0; k < nfresh; k++) target_start(fresh[k]);
  free(fresh);
  /* a kept target whose sample settings changed starts a fresh cache at
   * its next scrape (scrape__process compares fingerprints) */
}

static scrape_pool_t *pool_new(scrape_manager_t *m, const scrape_job_t *j) {
  scrape_pool_t *p = ph_calloc(1, sizeof *p);
  p->m = m;
  p->name = ph_strdup(j->job_name);
  p->job = j;
  return p;
}

/* Stops every target and the providers; frees the pool (targets finish in
 * their close callbacks; they do not use the pool any more). */
static void pool_free(scrape_pool_t *p) {
  for (size_t i = 0; i < p->ntargets; i++) target_stop(p->targets[i]);
  free(p->targets);
  for (size_t i = 0; i < p->ndropped; i++) labels_free(p->dropped[i]);
  free(p->dropped);
  for (size_t i = 0; i < p->nsd; i++) scrape__sd_file_close(p->sd[i]);
  free(p->sd);
  free(p->limit_error);
  free(p->name);
  free(p);
}

/* ---- the loop thread ------------------------------------------------------------------- */

static void apply_config(scrape_manager_t *m, scrape_config_t *cfg) {
  scrape_config_t *old_cfg = m->cfg;
  m->cfg = cfg;
  scrape_pool_t **pools = ph_calloc(cfg->njobs ? cfg->njobs : 1, sizeof *pools);
  bool *reused = ph_calloc(m->npools ? m->npools : 1, sizeof *reused);
  for (size_t i = 0; i < cfg->njobs; i++) {
    const scrape_job_t *j = cfg->jobs[i];
    scrape_pool_t *p = NULL;
    for (size_t k = 0; k < m->npools && p == NULL; k++)
      if (!reused[k] && strcmp(m->pools[k]->name, j->job_name) == 0) {
        p = m->pools[k];
        reused[k] = true;
      }
    if (p == NULL) p = pool_new(m, j);
    p->job = j;
    pools[i] = p;
  }
  scrape_pool_t **old = m->pools;
  size_t nold = m->npools;
  pthread_mutex_lock(&m->mu);
  m->pools = pools;
  m->npools = cfg->njobs;
  pthread_mutex_unlock(&m->mu);
  for (size_t k = 0; k < nold; k++)
    if (!reused[k]) pool_free(old[k]);
  free(old);
  free(reused);
  for (size_t i = 0; i < m->npools; i++) {
    pool_start_sd(m->pools[i]);
    pool_sync(m->pools[i]);
  }
  scrape_config_unref(old_cfg);
  atomic_fetch_add(&m->st.configs, 1);
}

static void shutdown_loop(scrape_manager_t *m) {
  scrape_pool_t **pools = m->pools;
  size_t n = m->npools;
  pthread_mutex_lock(&m->mu);
  m->pools = NULL;
  m->npools = 0;
  pthread_mutex_unlock(&m->mu);
  for (size_t i = 0; i < n; i++) pool_free(pools[i]);
  free(pools);
  scrape__http_close(m);
  uv_close((uv_handle_t *)&m->async, NULL);
  scrape_config_unref(m->cfg);
  m->cfg = NULL;
}

static void on_async(uv_async_t *h) {
  scrape_manager_t *m = h->data;
  pthread_mutex_lock(&m->mu);
  scrape_config_t *cfg = m->pending;
  m->pending = NULL;
  bool stop = m->stop;
  pthread_mutex_unlock(&m->mu);
  if (cfg != NULL && !stop) apply_config(m, cfg);
  else scrape_config_unref(cfg);
  if (stop) shutdown_loop(m);
}

static void *loop_main(void *arg) {
  scrape_manager_t *m = arg;
  uv_run(&m->loop, UV_RUN_DEFAULT);
  return NULL;
}

/* ---- public -------------------------------------------------------------------------- */

int scrape_manager_new(const scrape_manager_options_t *o, scrape_manager_t **out, char *err,
                       size_t errlen) {
  *out = NULL;
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    return ph_err(err, errlen, PH_EIO, "curl_global_init failed");
  scrape_manager_t *m = ph_calloc(1, sizeof *m);
  m->db = o->db;
  m->offset_seed = o->offset_seed;
  m->sd_poll_ms = o->sd_poll_ms > 0 ? o->sd_poll_ms : 1000;
  pthread_mutex_init(&m->mu, NULL);
  int rc = uv_loop_init(&m->loop);
  if (rc != 0) {
    pthread_mutex_destroy(&m->mu);
    free(m);
    curl_global_cleanup();
    return ph_err(err, errlen, PH_EIO, "uv_loop_init: %s", uv_strerror(rc));
  }
  uv_async_init(&m->loop, &m->async, on_async);
  m->async.data = m;
  if ((rc = scrape__http_init(m, err, errlen)) != 0) {
    uv_close((uv_handle_t *)&m->async, NULL);
    uv_run(&m->loop, UV_RUN_DEFAULT);
    uv_loop_close(&m->loop);
    pthread_mutex_destroy(&m->mu);
    free(m);
    curl_global_cleanup();
    return rc;
  }
  m->parser = expfmt_parser_new("", 0, EXPFMT_FORMAT_TEXT);
  m->lb = labels_builder_new();
  m->syms = symtab_new();
  if ((rc = pthread_create(&m->thread, NULL, loop_main, m)) != 0) {
    scrape__http_close(m);
    uv_close((uv_handle_t *)&m->async, NULL);
    uv_run(&m->loop, UV_RUN_DEFAULT);
    uv_loop_close(&m->loop);
    expfmt_parser_free(m->parser);
    labels_builder_free(m->lb);
    symtab_free(m->syms);
    pthread_mutex_destroy(&m->mu);
    free(m);
    curl_global_cleanup();
    return ph_err(err, errlen, PH_EIO, "cannot start the scrape thread");
  }
  m->thread_started = true;
  *out = m;
  return 0;
}

void scrape_manager_apply(scrape_manager_t *m, scrape_config_t *cfg) {
  scrape_config_ref(cfg);
  pthread_mutex_lock(&m->mu);
  scrape_config_t *old = m->pending;
  bool stopping = m->stop;
  m->pending = stopping ? NULL : cfg;
  /* sent under the lock: free() cannot close the handle meanwhile */
  if (!stopping) uv_async_send(&m->async);
  pthread_mutex_unlock(&m->mu);
  scrape_config_unref(old);
  if (stopping) scrape_config_unref(cfg);
}

void scrape_manager_free(scrape_manager_t *m) {
  if (m == NULL) return;
  pthread_mutex_lock(&m->mu);
  m->stop = true;
  pthread_mutex_unlock(&m->mu);
  uv_async_send(&m->async);
  pthread_join(m->thread, NULL);
  int rc = uv_loop_close(&m->loop);
  if (rc != 0) log_error("Scrape loop did not close cleanly", "err", uv_strerror(rc));
  scrape_config_unref(m->pending);
  expfmt_parser_free(m->parser);
  labels_builder_free(m->lb);
  strbuf_free(&m->scratch);
  symtab_free(m->syms); /* after the loop thread freed every target's sets */
  pthread_mutex_destroy(&m->mu);
  free(m);
  curl_global_cleanup();
}

/* ---- snapshots ---------------------------------------------------------------------- */

static char *dup_or_empty(const char *s) { return ph_strdup(s ? s : ""); }

void scrape_manager_targets(scrape_manager_t *m, scrape_target_info_t **out, size_t *n) {
  pthread_mutex_lock(&m->mu);
  size_t total = 0;
  for (size_t i = 0; i < m->npools; i++) total += m->pools[i]->ntargets + m->pools[i]->ndropped;
  scrape_target_info_t *v = ph_calloc(total ? total : 1, sizeof *v);
  size_t k = 0;
  for (size_t i = 0; i < m->npools; i++) {
    scrape_pool_t *p = m->pools[i];
    for (size_t j = 0; j < p->ntargets; j++) {
      scrape_target_t *t = p->targets[j];
      scrape_target_info_t *x = &v[k++];
      x->pool = ph_strdup(p->name);
      x->discovered = labels_dup(t->discovered);
      x->labels = labels_dup(t->labels);
      x->scrape_url = ph_strdup(t->url);
      x->health = t->health;
      x->last_error = dup_or_empty(t->last_error);
      x->last_scrape_ms = t->last_scrape_ms;
      x->last_duration_s = t->last_duration_s;
      x->last_samples = t->last_samples;
      x->scrapes = t->scrapes;
      x->interval_ms = t->interval_ms;
      x->timeout_ms = t->timeout_ms;
    }
  }
  for (size_t i = 0; i < m->npools; i++) {
    scrape_pool_t *p = m->pools[i];
    for (size_t j = 0; j < p->ndropped; j++) {
      scrape_target_info_t *x = &v[k++];
      x->pool = ph_strdup(p->name);
      x->dropped = true;
      x->discovered = labels_dup(p->dropped[j]);
      x->last_error = ph_strdup("");
    }
  }
  pthread_mutex_unlock(&m->mu);
  *out = v;
  *n = k;
}

void scrape_target_infos_free(scrape_target_info_t *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(v[i].pool);
    labels_free(v[i].discovered);
    labels_free(v[i].labels);
    free(v[i].scrape_url);
    free(v[i].last_error);
  }
  free(v);
}

void scrape_manager_metadata(scrape_manager_t *m, const char *metric,
                             scrape_metadata_info_t **out, size_t *n) {
  scrape_metadata_info_t *v = NULL;
  size_t k = 0, cap = 0;
  pthread_mutex_lock(&m->mu);
  for (size_t i = 0; i < m->npools; i++) {
    scrape_pool_t *p = m->pools[i];
    for (size_t j = 0; j < p->ntargets; j++) {
      scrape_target_t *t = p->targets[j];
      for (size_t e = 0; e < t->meta.n; e++) {
        const meta_entry_t *me = &t->meta.v[e];
        if (metric != NULL && strcmp(metric, me->family) != 0) continue;
        ph_grow(&v, &cap, k + 1);
        scrape_metadata_info_t *x = &v[k++];
        x->target = labels_dup(t->labels);
        x->metric = ph_strdup(me->family);
        x->type = ph_strdup(expfmt_type_name(me->type));
        x->help = dup_or_empty(me->help);
        x->unit = dup_or_empty(me->unit);
      }
    }
  }
  pthread_mutex_unlock(&m->mu);
  *out = v;
  *n = k;
}

void scrape_metadata_infos_free(scrape_metadata_info_t *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    labels_free(v[i].target);
    free(v[i].metric);
    free(v[i].type);
    free(v[i].help);
    free(v[i].unit);
  }
  free(v);
}

void scrape_manager_stats(scrape_manager_t *m, scrape_stats_t *st) {
  memset(st, 0, sizeof *st);
  pthread_mutex_lock(&m->mu);
  for (size_t i = 0; i < m->npools; i++) {
    st->targets_active += m->pools[i]->ntargets;
    st->targets_dropped += m->pools[i]->ndropped;
  }
  pthread_mutex_unlock(&m->mu);
  st->scrapes_total = atomic_load(&m->st.scrapes);
  st->scrapes_failed = atomic_load(&m->st.failed);
  st->samples_appended = atomic_load(&m->st.appended);
  st->exceeded_sample_limit = atomic_load(&m->st.sample_limit);
  st->exceeded_body_size_limit = atomic_load(&m->st.body_limit);
  st->exceeded_label_limits = atomic_load(&m->st.label_limits);
  st->samples_out_of_order = atomic_load(&m->st.ooo);
  st->samples_duplicate = atomic_load(&m->st.dup);
  st->samples_out_of_bounds = atomic_load(&m->st.oob);
  st->sd_file_reads = atomic_load(&m->st.sd_reads);
  st->sd_file_read_errors = atomic_load(&m->st.sd_errors);
  st->configs_applied = atomic_load(&m->st.configs);
}

static void metric(strbuf_t *b, const char *name, const char *type, const char *help,
                   uint64_t v) {
  strbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name,
                (unsigned long long)v);
}

void scrape_manager_write_metrics(scrape_manager_t *m, strbuf_t *out) {
  scrape_stats_t s;
  scrape_manager_stats(m, &s);
  metric(out, "pharos_target_scrapes_total", "counter", "Total number of scrapes.",
         s.scrapes_total);
  metric(out, "pharos_target_scrapes_failed_total", "counter",
         "Total number of scrapes that failed (up=0).", s.scrapes_failed);
  metric(out, "pharos_target_samples_appended_total", "counter",
         "Samples appended by the scrape loop, report series and staleness markers included.",
         s.samples_appended);
  metric(out, "pharos_target_active", "gauge", "Number of active targets.", s.targets_active);
  metric(out, "pharos_target_dropped", "gauge", "Number of targets dropped by relabeling.",
         s.targets_dropped);
  metric(out, "prometheus_target_scrapes_exceeded_sample_limit_total", "counter",
         "Total number of scrapes that hit the sample limit and were rejected.",
         s.exceeded_sample_limit);
  metric(out, "prometheus_target_scrapes_exceeded_body_size_limit_total", "counter",
         "Total number of scrapes that hit the body size limit", s.exceeded_body_size_limit);
  metric(out, "prometheus_target_scrape_pool_exceeded_label_limits_total", "counter",
         "Total number of times scrape pools hit the label limits, during sync or config "
         "reload.",
         s.exceeded_label_limits);
  metric(out, "prometheus_target_scrapes_sample_out_of_order_total", "counter",
         "Total number of samples rejected due to not being out of the expected order.",
         s.samples_out_of_order);
  metric(out, "prometheus_target_scrapes_sample_duplicate_timestamp_total", "counter",
         "Total number of samples rejected due to duplicate timestamps but different values.",
         s.samples_duplicate);
  metric(out, "prometheus_target_scrapes_sample_out_of_bounds_total", "counter",
         "Total number of samples rejected due to timestamp falling outside of the time bounds.",
         s.samples_out_of_bounds);
  metric(out, "prometheus_sd_file_scan_total", "counter",
         "Number of file_sd target group files read.", s.sd_file_reads);
  metric(out, "prometheus_sd_file_read_errors_total", "counter",
         "The number of File-SD read errors.", s.sd_file_read_errors);
}
