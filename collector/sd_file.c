/*
 * sd_file.c - file-based service discovery (file_sd_configs).
 *
 * A file holds a list of target groups, in JSON (name ending .json) or
 * YAML:
 *     [{"targets": ["host:9100"], "labels": {"env": "prod"}}]
 * Every group also gets __meta_filepath, the file's path.  As in
 * Prometheus, JSON groups are decoded leniently (unknown keys ignored)
 * and YAML ones strictly; label names must be valid.
 *
 * Watching: one uv_timer per file_sd config ticks every sd_poll_ms (1s by
 * default, never slower than refresh_interval).  Each tick expands the
 * globs and stats the files; a file whose (mtime, size, inode) changed,
 * a new file, or any file once refresh_interval has passed is read again;
 * a vanished file's groups go.  A file that cannot be read or parsed keeps
 * its previous groups (the error is logged and counted), as Prometheus
 * does.  Then the owner's callback runs, on the loop thread.  Polling
 * rather than inotify keeps this correct for files replaced by rename,
 * edited on network filesystems, or matched by new glob hits.
 */
#include "scrape_int.h"

#include "log.h"
#include "mem.h"
#include "ph_error.h"
#include "timeparse.h"
#include "ycfg.h"

#include <glob.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* ---- parsing ------------------------------------------------------------------ */

static void group_add_target(scrape_group_t *g, size_t *cap, const char *addr) {
  label_t a = {"__address__", addr};
  ph_grow(&g->targets, cap, g->ntargets + 1);
  g->targets[g->ntargets++] = labels_new(NULL, &a, 1, NULL, 0);
}

static void groups_free(scrape_group_t *v, size_t n) {
  for (size_t i = 0; i < n; i++) scrape_group_free(&v[i]);
  free(v);
}

static int parse_json(const char *path, const char *data, size_t len, scrape_group_t **out,
                      size_t *nout, char *err, size_t errlen) {
  json_tokener *tok = json_tokener_new();
  json_object *root = json_tokener_parse_ex(tok, data, (int)len);
  enum json_tokener_error je = json_tokener_get_error(tok);
  if (root == NULL || je != json_tokener_success) {
    int rc = ph_err(err, errlen, PH_EPARSE, "%s: %s at offset %zu", path,
                    je == json_tokener_continue ? "unexpected end of JSON input"
                                                : json_tokener_error_desc(je),
                    (size_t)json_tokener_get_parse_end(tok));
    json_object_put(root);
    json_tokener_free(tok);
    return rc;
  }
  json_tokener_free(tok);
  int rc = 0;
  scrape_group_t *v = NULL;
  size_t n = 0, cap = 0;
  if (!json_object_is_type(root, json_type_array)) {
    rc = ph_err(err, errlen, PH_EPARSE, "%s: expected a list of target groups", path);
    goto out;
  }
  for (size_t i = 0; rc == 0 && i < json_object_array_length(root); i++) {
    json_object *g = json_object_array_get_idx(root, i);
    if (!json_object_is_type(g, json_type_object)) {
      rc = ph_err(err, errlen, PH_EPARSE, "%s: target group %zu: expected an object", path, i);
      break;
    }
    ph_grow(&v, &cap, n + 1);
    scrape_group_t *sg = &v[n++];
    memset(sg, 0, sizeof *sg);
    size_t tcap = 0;
    json_object *targets = NULL, *labels = NULL;
    json_object_object_get_ex(g, "targets", &targets);
    json_object_object_get_ex(g, "labels", &labels);
    if (targets != NULL && !json_object_is_type(targets, json_type_null)) {
      if (!json_object_is_type(targets, json_type_array)) {
        rc = ph_err(err, errlen, PH_EPARSE, "%s: target group %zu: targets must be a list", path, i);
        break;
      }
      for (size_t k = 0; k < json_object_array_length(targets); k++) {
        json_object *t = json_object_array_get_idx(targets, k);
        if (!json_object_is_type(t, json_type_string)) {
          rc = ph_err(err, errlen, PH_EPARSE, "%s: target group %zu: targets must be strings",
                      path, i);
          break;
        }
        group_add_target(sg, &tcap, json_object_get_string(t));
      }
    }
    label_t lp[256];
    size_t nl = 0;
    if (rc == 0 && labels != NULL && !json_object_is_type(labels, json_type_null)) {
      if (!json_object_is_type(labels, json_type_object)) {
        rc = ph_err(err, errlen, PH_EPARSE, "%s: target group %zu: labels must be an object", path,
                    i);
        break;
      }
      json_object_object_foreach(labels, k, val) {
        if (!json_object_is_type(val, json_type_string)) {
          rc = ph_err(err, errlen, PH_EPARSE, "%s: target group %zu: label %s must be a string",
                      path, i, k);
          break;
        }
        if (!labels_valid_name(k, strlen(k))) {
          rc = ph_err(err, errlen, PH_EPARSE, "%s: \"%s\" is not a valid label name", path, k);
          break;
        }
        if (nl == 255) {
          rc = ph_err(err, errlen, PH_ELIMIT, "%s: too many labels in target group %zu", path, i);
          break;
        }
        lp[nl++] = (label_t){k, json_object_get_string(val)};
      }
    }
    if (rc != 0) break;
    lp[nl++] = (label_t){"__meta_filepath", path};
    sg->labels = labels_new(NULL, lp, nl, NULL, 0);
    char src[32];
    snprintf(src, sizeof src, ":%zu", i);
    strbuf_t s = STRBUF_INIT;
    strbuf_printf(&s, "%s%s", path, src);
    sg->source = strbuf_detach(&s, NULL);
  }
out:
  json_object_put(root);
  if (rc != 0) {
    groups_free(v, n);
    return rc;
  }
  *out = v;
  *nout = n;
  return 0;
}

typedef struct yctx {
  const char *path;
  scrape_group_t *v;
  size_t n, cap;
} yctx_t;

static int decode_ygroup(ycfg_t *c, const ynode_t *item, size_t idx, void *ud) {
  yctx_t *y = ud;
  static const char *const fields[] = {"targets", "labels", NULL};
  const char **targets = NULL;
  size_t nt = 0, np = 0;
  ycfg_pair_t *pairs = NULL;
  int rc = ycfg_check_map(c, item, fields);
  if (rc == 0) rc = ycfg_get_strings(c, item, "targets", &targets, &nt);
  if (rc == 0) rc = ycfg_get_string_map(c, item, "labels", &pairs, &np);
  for (size_t i = 0; rc == 0 && i < np; i++)
    if (!labels_valid_name(pairs[i].key, strlen(pairs[i].key)))
      rc = ycfg_errorf(c, pairs[i].key_node, "\"%s\" is not a valid label name", pairs[i].key);
  if (rc != 0) return rc;
  ph_grow(&y->v, &y->cap, y->n + 1);
  scrape_group_t *sg = &y->v[y->n++];
  memset(sg, 0, sizeof *sg);
  size_t tcap = 0;
  for (size_t i = 0; i < nt; i++) group_add_target(sg, &tcap, targets[i]);
  label_t *lp = ph_calloc(np + 1, sizeof *lp);
  for (size_t i = 0; i < np; i++) lp[i] = (label_t){pairs[i].key, pairs[i].value};
  lp[np] = (label_t){"__meta_filepath", y->path};
  sg->labels = labels_new(NULL, lp, np + 1, NULL, 0);
  free(lp);
  strbuf_t s = STRBUF_INIT;
  strbuf_printf(&s, "%s:%zu", y->path, idx);
  sg->source = strbuf_detach(&s, NULL);
  return 0;
}

static int parse_yaml(const char *path, const char *data, size_t len, scrape_group_t **out,
                      size_t *nout, char *err, size_t errlen) {
  ydoc_t *doc;
  int rc = ydoc_load_string(path, data, len, &doc, err, errlen);
  if (rc != 0) return rc;
  yctx_t y = {path, NULL, 0, 0};
  const ynode_t *root = ydoc_root(doc);
  ycfg_t *c = ycfg_new(doc, err, errlen);
  if (ynode_kind(root) == YNODE_MAPPING && ynode_map_len(root) == 0) {
    rc = 0; /* an empty file */
  } else if (ynode_kind(root) != YNODE_SEQUENCE) {
    rc = ycfg_errorf(c, root, "expected a list of target groups");
  } else {
    rc = ycfg_each(c, root, decode_ygroup, &y);
  }
  ycfg_free(c);
  ydoc_free(doc);
  if (rc != 0) {
    groups_free(y.v, y.n);
    return rc;
  }
  *out = y.v;
  *nout = y.n;
  return 0;
}

static bool is_json_name(const char *path) {
  size_t n = strlen(path);
  return n >= 5 && strcasecmp(path + n - 5, ".json") == 0;
}

int scrape_file_sd_parse(const char *path, const char *data, size_t len, scrape_group_t **groups,
                         size_t *ngroups, char *err, size_t errlen) {
  *groups = NULL;
  *ngroups = 0;
  if (is_json_name(path)) return parse_json(path, data, len, groups, ngroups, err, errlen);
  return parse_yaml(path, data, len, groups, ngroups, err, errlen);
}

/* ---- watching ------------------------------------------------------------------ */

typedef struct sd_entry {
  char *path;              /* owned */
  struct timespec mtime;
  off_t size;
  ino_t ino;
  scrape_group_t *groups;  /* owned */
  size_t ngroups;
  bool seen;
} sd_entry_t;

struct sd_file {
  scrape_manager_t *m;
  char **patterns;         /* owned */
  size_t npatterns;
  int64_t refresh_ms;
  int64_t last_refresh_ms;
  uv_timer_t timer;
  sd_entry_t *files;
  size_t nfiles, capfiles;
  scrape_group_t *all;     /* shallow copies of the files' groups */
  size_t nall;
  sd_file_update_fn fn;
  void *ud;
};

static int read_file(const char *path, strbuf_t *b) {
  FILE *f = fopen(path, "r");
  if (f == NULL) return PH_EIO;
  char buf[8192];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
    strbuf_append(b, buf, n);
    if (b->len > (64u << 20)) {
      fclose(f);
      return PH_ELIMIT;
    }
  }
  int bad = ferror(f);
  fclose(f);
  return bad ? PH_EIO : 0;
}

/* Reads e's file; keeps the old groups when that fails. */
static void load_entry(sd_file_t *f, sd_entry_t *e) {
  strbuf_t b = STRBUF_INIT;
  char err[1024];
  atomic_fetch_add(&f->m->st.sd_reads, 1);
  int rc = read_file(e->path, &b);
  scrape_group_t *g = NULL;
  size_t ng = 0;
  if (rc != 0)
    ph_err(err, sizeof err, rc, "%s: cannot read file: %s", e->path, ph_strerror(rc));
  else
    rc = scrape_file_sd_parse(e->path, b.data ? b.data : "", b.len, &g, &ng, err, sizeof err);
  strbuf_free(&b);
  if (rc != 0) {
    atomic_fetch_add(&f->m->st.sd_errors, 1);
    log_error("Error reading file", "discovery", "file", "err", err);
    return;
  }
  groups_free(e->groups, e->ngroups);
  e->groups = g;
  e->ngroups = ng;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One check: returns true when the groups changed. */
static bool sd_check(sd_file_t *f, bool force) {
  /* expand the globs */
  char **paths = NULL;
  size_t np = 0, capp = 0;
  for (size_t i = 0; i < f->npatterns; i++) {
    glob_t g;
    if (glob(f->patterns[i], 0, NULL, &g) == 0) {
      for (size_t k = 0; k < g.gl_pathc; k++) {
        ph_grow(&paths, &capp, np + 1);
        paths[np++] = ph_strdup(g.gl_pathv[k]);
      }
    }
    globfree(&g);
  }
  if (np > 1) qsort(paths, np, sizeof *paths, cmp_str);
  bool changed = false;
  for (size_t i = 0; i < f->nfiles; i++) f->files[i].seen = false;
  for (size_t i = 0; i < np; i++) {
    if (i > 0 && strcmp(paths[i], paths[i - 1]) == 0) continue;
    struct stat st;
    if (stat(paths[i], &st) != 0) continue;
    sd_entry_t *e = NULL;
    for (size_t k = 0; k < f->nfiles; k++)
      if (strcmp(f->files[k].path, paths[i]) == 0) e = &f->files[k];
    bool fresh = false;
    if (e == NULL) {
      ph_grow(&f->files, &f->capfiles, f->nfiles + 1);
      e = &f->files[f->nfiles++];
      memset(e, 0, sizeof *e);
      e->path = ph_strdup(paths[i]);
      fresh = true;
    }
    e->seen = true;
    bool differs = e->mtime.tv_sec != st.st_mtim.tv_sec || e->mtime.tv_nsec != st.st_mtim.tv_nsec ||
                   e->size != st.st_size || e->ino != st.st_ino;
    if (differs || force || fresh) {
      e->mtime = st.st_mtim;
      e->size = st.st_size;
      e->ino = st.st_ino;
      load_entry(f, e);
      changed = true;
    }
  }
  for (size_t i = 0; i < np; i++) free(paths[i]);
  free(paths);
  /* files that went away */
  size_t w = 0;
  for (size_t i = 0; i < f->nfiles; i++) {
    if (!f->files[i].seen) {
      free(f->files[i].path);
      groups_free(f->files[i].groups, f->files[i].ngroups);
      changed = true;
      continue;
    }
    f->files[w++] = f->files[i];
  }
  f->nfiles = w;
  if (changed) {
    free(f->all);
    f->all = NULL;
    f->nall = 0;
    size_t cap = 0;
    for (size_t i = 0; i < f->nfiles; i++)
      for (size_t k = 0; k < f->files[i].ngroups; k++) {
        ph_grow(&f->all, &cap, f->nall + 1);
        f->all[f->nall++] = f->files[i].groups[k];
      }
  }
  return changed;
}

static void on_tick(uv_timer_t *h) {
  sd_file_t *f = h->data;
  int64_t now = ph_now_ms();
  bool force = now - f->last_refresh_ms >= f->refresh_ms;
  if (force) f->last_refresh_ms = now;
  if (sd_check(f, force)) f->fn(f->ud);
}

sd_file_t *scrape__sd_file_new(scrape_manager_t *m, const scrape_file_sd_t *cfg,
                               sd_file_update_fn fn, void *ud) {
  sd_file_t *f = ph_calloc(1, sizeof *f);
  f->m = m;
  f->patterns = ph_calloc(cfg->nfiles ? cfg->nfiles : 1, sizeof *f->patterns);
  for (size_t i = 0; i < cfg->nfiles; i++) f->patterns[i] = ph_strdup(cfg->files[i]);
  f->npatterns = cfg->nfiles;
  f->refresh_ms = cfg->refresh_ms > 0 ? cfg->refresh_ms : 300000;
  f->fn = fn;
  f->ud = ud;
  f->last_refresh_ms = ph_now_ms();
  sd_check(f, true);
  int64_t poll = m->sd_poll_ms > 0 ? m->sd_poll_ms : 1000;
  if (poll > f->refresh_ms) poll = f->refresh_ms;
  uv_timer_init(&m->loop, &f->timer);
  f->timer.data = f;
  uv_timer_start(&f->timer, on_tick, (uint64_t)poll, (uint64_t)poll);
  return f;
}

const scrape_group_t *scrape__sd_file_groups(const sd_file_t *f, size_t *n) {
  *n = f->nall;
  return f->all;
}

static void on_closed(uv_handle_t *h) {
  sd_file_t *f = h->data;
  for (size_t i = 0; i < f->nfiles; i++) {
    free(f->files[i].path);
    groups_free(f->files[i].groups, f->files[i].ngroups);
  }
  free(f->files);
  free(f->all);
  for (size_t i = 0; i < f->npatterns; i++) free(f->patterns[i]);
  free(f->patterns);
  free(f);
}

void scrape__sd_file_close(sd_file_t *f) {
  if (f == NULL) return;
  uv_timer_stop(&f->timer);
  uv_close((uv_handle_t *)&f->timer, on_closed);
}
