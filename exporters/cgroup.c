/*
 * cgroup.c - the cgroup collector: per-container resource usage from the
 * cgroups v2 hierarchy, under cAdvisor's container_* names, so container
 * dashboards work without running cAdvisor.
 *
 * Every directory under the cgroup root (--collector.cgroup.root, default
 * <path.sysfs>/fs/cgroup; its "unified" subdirectory on systemd's hybrid
 * v1/v2 layout) is a cgroup and becomes one "container": the
 * root itself ("/"), systemd slices and services ("/system.slice",
 * "/system.slice/nginx.service"), Docker ("…/docker-<id>.scope" with the
 * systemd driver, "/docker/<id>" with cgroupfs) and Podman
 * ("…/libpod-<id>.scope", "/libpod_parent/libpod-<id>").  The id label is
 * the path relative to the root; --collector.cgroup.id-include/-exclude
 * filter on it.  Every sample carries the labels id, image and name, empty
 * when unknown (as cAdvisor's output does once any container has them).
 *
 *   file                 metric(s)
 *   cpu.stat             container_cpu_usage_seconds_total{cpu="total"}
 *                        (usage_usec, omitted when 0), _user_ / _system_
 *                        seconds; with a quota in cpu.max also
 *                        container_cpu_cfs_periods_total (nr_periods),
 *                        _throttled_periods_total (nr_throttled),
 *                        _throttled_seconds_total (throttled_usec)
 *   cpu.max, cpu.weight  container_spec_cpu_period, _quota (only when set),
 *                        _shares (weight w mapped back to shares as
 *                        2 + (w - 1) * 262142 / 9999, runc's inverse)
 *   memory.current       container_memory_usage_bytes, and
 *                        container_memory_working_set_bytes = usage minus
 *                        inactive_file (0 when below)
 *   memory.stat          container_memory_rss (anon), _cache (file),
 *                        _mapped_file (file_mapped)
 *   memory.swap.current  container_memory_swap
 *   memory.peak          container_memory_max_usage_bytes
 *   memory.events        container_oom_events_total (oom_kill)
 *   memory.max/.swap.max/.low  container_spec_memory_limit_bytes,
 *                        _swap_limit_bytes, _reservation_limit_bytes
 *                        ("max" is 0, as cAdvisor reports unlimited)
 *   io.stat              container_fs_{reads,writes}_bytes_total and
 *                        container_fs_{reads,writes}_total {device}; the
 *                        device is "/dev/<DEVNAME>" from
 *                        <sysfs>/dev/block/<maj>:<min>/uevent, else
 *                        "<maj>:<min>"
 *   cgroup.procs         container_processes (lines)
 *   pids.current/.max    container_threads, container_threads_max
 *   {cpu,memory,io}.pressure  container_pressure_<res>_waiting_seconds_total
 *                        ("some" total) and _stalled_seconds_total ("full")
 *
 * A file that does not exist is skipped (its controller is not enabled for
 * that cgroup, or the cgroup vanished mid-scrape); a file that cannot be
 * read or parsed marks the scrape failed (node_scrape_collector_success 0,
 * the reason logged) while the other cgroups are still reported.
 *
 * Names and images: a Docker id is looked up in
 * <docker-root>/containers/<id>/config.v2.json ("Name" without its leading
 * '/', "Config.Image"); a Podman id in containers/storage's
 * <podman-root>/<driver>-containers/containers.json ("names"[0] and the
 * "image-name" inside the "metadata" string), re-read when its mtime
 * changes.  Both are parsed with json-c and cached in the collector state
 * until the container's cgroup disappears.
 */
#include "exporter_int.h"

#include "log.h"
#include "mem.h"
#include "ph_error.h"

#include <dirent.h>
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CG_MAX_DEPTH 32

static const exporter_flag_t cgroup_flags[] = {
    {"collector.cgroup.root", FLAG_STRING, "",
     "cgroups v2 mount point (default: <path.sysfs>/fs/cgroup)."},
    {"collector.cgroup.id-include", FLAG_STRING, NULL,
     "Regexp of cgroup paths (the id label) to include."},
    {"collector.cgroup.id-exclude", FLAG_STRING, NULL,
     "Regexp of cgroup paths (the id label) to exclude."},
    {"collector.cgroup.docker-root", FLAG_STRING, "",
     "Docker's data directory, for container names and images (default: "
     "<path.rootfs>/var/lib/docker)."},
    {"collector.cgroup.podman-root", FLAG_STRINGS, "",
     "containers/storage directories of Podman, for container names and "
     "images (default: <path.rootfs>/var/lib/containers/storage). "
     "Repeatable (rootless users' ~/.local/share/containers/storage)."},
    {NULL, 0, NULL, NULL},
};

/* A container whose name and image were looked up. */
typedef struct cg_meta {
  char id[65];
  char *name;  /* owned */
  char *image; /* owned */
  bool docker;
  bool seen;   /* in the current scrape */
} cg_meta_t;

typedef struct cg_podman_file {
  char *path;  /* owned */
  struct timespec mtime;
  off_t size;
  bool loaded;
} cg_podman_file_t;

typedef struct cg_podman {
  char id[65];
  char *name, *image; /* owned */
} cg_podman_t;

typedef struct cg_dev {
  unsigned maj, min;
  char name[72]; /* "/dev/sda" */
} cg_dev_t;

typedef struct cg_state {
  char *root;        /* NULL: <sysfs>/fs/cgroup at scrape time */
  char *docker_root; /* NULL: <rootfs>/var/lib/docker */
  char **podman_roots;
  size_t npodman_roots;
  ph_devfilter_t filter;
  cg_meta_t *meta; /* docker cache; ph_grow'n */
  size_t nmeta, capmeta;
  cg_podman_file_t *pfiles;
  size_t npfiles, cappfiles;
  cg_podman_t *pods; /* all podman containers of all files */
  size_t npods, cappods;
  cg_dev_t *devs;
  size_t ndevs, capdevs;
} cg_state_t;

/* ---- state ---- */

static void pods_clear(cg_state_t *s) {
  for (size_t i = 0; i < s->npods; i++) {
    free(s->pods[i].name);
    free(s->pods[i].image);
  }
  s->npods = 0;
}

static void cgroup_free(void *state) {
  cg_state_t *s = state;
  if (s == NULL) return;
  free(s->root);
  free(s->docker_root);
  for (size_t i = 0; i < s->npodman_roots; i++) free(s->podman_roots[i]);
  free(s->podman_roots);
  ph_devfilter_free(&s->filter);
  for (size_t i = 0; i < s->nmeta; i++) {
    free(s->meta[i].name);
    free(s->meta[i].image);
  }
  free(s->meta);
  for (size_t i = 0; i < s->npfiles; i++) free(s->pfiles[i].path);
  free(s->pfiles);
  pods_clear(s);
  free(s->pods);
  free(s->devs);
  free(s);
}

static char *opt_or_null(const exporter_options_t *o, const char *flag) {
  const char *v = exporter_options_get(o, flag);
  return v != NULL && v[0] != '\0' ? ph_strdup(v) : NULL;
}

static int cgroup_init(const exporter_options_t *o, void **state, char *err,
                       size_t errlen) {
  cg_state_t *s = ph_calloc(1, sizeof(*s));
  s->root = opt_or_null(o, "collector.cgroup.root");
  s->docker_root = opt_or_null(o, "collector.cgroup.docker-root");
  const char *const *roots;
  size_t n = exporter_options_get_all(o, "collector.cgroup.podman-root", &roots);
  s->podman_roots = ph_calloc(n + 1, sizeof(char *));
  for (size_t i = 0; i < n; i++)
    if (roots[i][0] != '\0') s->podman_roots[s->npodman_roots++] = ph_strdup(roots[i]);
  int rc = ph_devfilter_init(&s->filter,
                             exporter_options_get(o, "collector.cgroup.id-include"),
                             exporter_options_get(o, "collector.cgroup.id-exclude"),
                             err, errlen);
  if (rc < 0) {
    cgroup_free(s);
    return rc;
  }
  *state = s;
  return 0;
}

/* ---- container names: Docker ---- */

static bool is_hex_id(const char *s, size_t n) {
  if (n != 64) return false;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
  return true;
}

/* Recognises a container cgroup by its last path element (and parent);
 * copies the 64-hex id into id.  Returns 'd' (Docker), 'p' (Podman) or 0. */
static char container_kind(const char *parent, const char *base, char id[65]) {
  size_t n = strlen(base);
  const char *p = NULL;
  char kind = 0;
  if (ph_has_prefix(base, "docker-") && n == 7 + 64 + 6 &&
      strcmp(base + n - 6, ".scope") == 0) {
    p = base + 7;
    kind = 'd';
  } else if (strcmp(parent, "docker") == 0 && is_hex_id(base, n)) {
    p = base;
    kind = 'd';
  } else if (ph_has_prefix(base, "libpod-") && !ph_has_prefix(base, "libpod-conmon-")) {
    p = base + 7;
    size_t l = strlen(p);
    if (l == 64 + 6 && strcmp(p + 64, ".scope") == 0) l = 64;
    if (l != 64) return 0;
    kind = 'p';
  } else {
    return 0;
  }
  if (!is_hex_id(p, 64)) return 0;
  memcpy(id, p, 64);
  id[64] = '\0';
  return kind;
}

static const char *json_str(json_object *o, const char *key) {
  json_object *v;
  if (o == NULL || !json_object_object_get_ex(o, key, &v)) return NULL;
  if (!json_object_is_type(v, json_type_string)) return NULL;
  return json_object_get_string(v);
}

static void docker_lookup(collect_ctx_t *c, cg_state_t *s, cg_meta_t *m) {
  char dir[PATH_MAX], path[PATH_MAX];
  if (s->docker_root != NULL)
    ph_pathf(dir, sizeof(dir), "%s", s->docker_root);
  else
    cc_root(c, dir, sizeof(dir), "var/lib/docker");
  ph_pathf(path, sizeof(path), "%s/containers/%s/config.v2.json", dir, m->id);
  char *data;
  size_t len;
  if (cc_read_file(c, path, &data, &len) < 0) return; /* not (yet) there */
  json_object *root = json_tokener_parse(data);
  if (root == NULL) {
    log_debug("cannot parse docker container config", "path", path);
    return;
  }
  const char *name = json_str(root, "Name");
  json_object *cfg = NULL;
  json_object_object_get_ex(root, "Config", &cfg);
  const char *image = json_str(cfg, "Image");
  if (name != NULL) m->name = ph_strdup(name[0] == '/' ? name + 1 : name);
  if (image != NULL) m->image = ph_strdup(image);
  json_object_put(root);
}

/* ---- container names: Podman (containers/storage) ---- */

static void podman_add(cg_state_t *s, json_object *ctr) {
  const char *id = json_str(ctr, "id");
  if (id == NULL || !is_hex_id(id, strlen(id))) return;
  const char *name = NULL, *image = NULL;
  json_object *names, *meta_o = NULL;
  if (json_object_object_get_ex(ctr, "names", &names) &&
      json_object_is_type(names, json_type_array) && json_object_array_length(names) > 0) {
    json_object *n0 = json_object_array_get_idx(names, 0);
    if (json_object_is_type(n0, json_type_string)) name = json_object_get_string(n0);
  }
  const char *meta = json_str(ctr, "metadata");
  if (meta != NULL) {
    meta_o = json_tokener_parse(meta);
    image = json_str(meta_o, "image-name");
    if (name == NULL) name = json_str(meta_o, "name");
  }
  ph_grow(&s->pods, &s->cappods, s->npods + 1);
  cg_podman_t *p = &s->pods[s->npods++];
  memcpy(p->id, id, 65);
  p->name = name ? ph_strdup(name) : NULL;
  p->image = image ? ph_strdup(image) : NULL;
  if (meta_o != NULL) json_object_put(meta_o);
}

/* Finds <root>/<driver>-containers/containers.json files; reloads all
 * when one appeared, vanished or changed. */
static void podman_refresh(cg_state_t *s) {
  bool changed = false;
  size_t found = 0;
  for (size_t r = 0; r < s->npodman_roots; r++) {
    DIR *d = opendir(s->podman_roots[r]);
    if (d == NULL) continue;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
      size_t l = strlen(de->d_name);
      if (l <= 11 || strcmp(de->d_name + l - 11, "-containers") != 0) continue;
      char path[PATH_MAX];
      ph_pathf(path, sizeof(path), "%s/%s/containers.json", s->podman_roots[r], de->d_name);
      struct stat st;
      if (stat(path, &st) != 0) continue;
      found++;
      cg_podman_file_t *f = NULL;
      for (size_t i = 0; i < s->npfiles; i++)
        if (strcmp(s->pfiles[i].path, path) == 0) f = &s->pfiles[i];
      if (f == NULL) {
        ph_grow(&s->pfiles, &s->cappfiles, s->npfiles + 1);
        f = &s->pfiles[s->npfiles++];
        memset(f, 0, sizeof(*f));
        f->path = ph_strdup(path);
      }
      if (!f->loaded || f->size != st.st_size || f->mtime.tv_sec != st.st_mtim.tv_sec ||
          f->mtime.tv_nsec != st.st_mtim.tv_nsec)
        changed = true;
      f->loaded = true;
      f->size = st.st_size;
      f->mtime = st.st_mtim;
    }
    closedir(d);
  }
  if (!changed && found == s->npfiles) return;
  /* drop files that disappeared, then reload every file */
  size_t k = 0;
  for (size_t i = 0; i < s->npfiles; i++) {
    struct stat st;
    if (stat(s->pfiles[i].path, &st) == 0)
      s->pfiles[k++] = s->pfiles[i];
    else
      free(s->pfiles[i].path);
  }
  s->npfiles = k;
  pods_clear(s);
  for (size_t i = 0; i < s->npfiles; i++) {
    json_object *root = json_object_from_file(s->pfiles[i].path);
    if (root == NULL || !json_object_is_type(root, json_type_array)) {
      log_debug("cannot parse podman containers.json", "path", s->pfiles[i].path);
      if (root != NULL) json_object_put(root);
      continue;
    }
    size_t n = json_object_array_length(root);
    for (size_t j = 0; j < n; j++) podman_add(s, json_object_array_get_idx(root, j));
    json_object_put(root);
  }
}

/* The cached (or freshly looked-up) name and image of a container. */
static const cg_meta_t *container_meta(collect_ctx_t *c, cg_state_t *s, char kind,
                                       const char *id) {
  for (size_t i = 0; i < s->nmeta; i++) {
    if (strcmp(s->meta[i].id, id) != 0) continue;
    s->meta[i].seen = true;
    /* retry lookups that found nothing (the config may come later) */
    if (s->meta[i].docker && s->meta[i].name == NULL) docker_lookup(c, s, &s->meta[i]);
    return &s->meta[i];
  }
  ph_grow(&s->meta, &s->capmeta, s->nmeta + 1);
  cg_meta_t *m = &s->meta[s->nmeta++];
  memset(m, 0, sizeof(*m));
  memcpy(m->id, id, 65);
  m->seen = true;
  m->docker = kind == 'd';
  if (m->docker) docker_lookup(c, s, m);
  return m;
}

static void meta_sweep(cg_state_t *s) {
  size_t k = 0;
  for (size_t i = 0; i < s->nmeta; i++) {
    if (s->meta[i].seen) {
      s->meta[i].seen = false;
      s->meta[k++] = s->meta[i];
    } else {
      free(s->meta[i].name);
      free(s->meta[i].image);
    }
  }
  s->nmeta = k;
}

/* ---- block device names ---- */

static const char *dev_name(collect_ctx_t *c, cg_state_t *s, unsigned maj, unsigned min,
                            char *fallback, size_t n) {
  for (size_t i = 0; i < s->ndevs; i++)
    if (s->devs[i].maj == maj && s->devs[i].min == min) return s->devs[i].name;
  snprintf(fallback, n, "%u:%u", maj, min);
  char path[PATH_MAX], buf[1024];
  cc_sys(c, path, sizeof(path), "dev/block/%u:%u/uevent", maj, min);
  if (ph_read_str(path, buf, sizeof(buf)) < 0) return fallback;
  char *p = buf, *line;
  while ((line = ph_next_line(&p)) != NULL) {
    if (!ph_has_prefix(line, "DEVNAME=") || line[8] == '\0') continue;
    ph_grow(&s->devs, &s->capdevs, s->ndevs + 1);
    cg_dev_t *d = &s->devs[s->ndevs++];
    d->maj = maj;
    d->min = min;
    snprintf(d->name, sizeof(d->name), "/dev/%.63s", line + 8);
    return d->name;
  }
  return fallback;
}

/* ---- reading one cgroup ---- */

typedef struct cg_labels {
  const char *id, *name, *image;
} cg_labels_t;

static void emit(collect_ctx_t *c, expo_type_t t, const char *metric, const char *help,
                 const cg_labels_t *l, double v) {
  const char *ln[] = {"id", "image", "name"};
  const char *lv[] = {l->id, l->image, l->name};
  cc_metric(c, t, metric, help, v, 3, ln, lv);
}

static void emit1(collect_ctx_t *c, expo_type_t t, const char *metric, const char *help,
                  const cg_labels_t *l, const char *k, const char *kv, double v) {
  const char *ln[] = {"id", "image", "name", k};
  const char *lv[] = {l->id, l->image, l->name, kv};
  cc_metric(c, t, metric, help, v, 4, ln, lv);
}

/* Reads dir/file into the context buffer.  1 when read, 0 when absent,
 * a PH_E* code (recorded) otherwise. */
static int read_cg(collect_ctx_t *c, const char *dir, const char *file, char **data) {
  char path[PATH_MAX];
  size_t len;
  int rc = cc_read_file(c, ph_pathf(path, sizeof(path), "%s/%s", dir, file), data, &len);
  if (rc == PH_ENOTFOUND) return 0;
  return rc < 0 ? rc : 1;
}

static int bad_file(collect_ctx_t *c, const char *dir, const char *file, const char *what) {
  return cc_fail(c, PH_EPARSE, "%s/%s: %s", dir, file, what);
}

/* Parses "key value" lines; calls back for each pair.  false on a bad
 * line. */
typedef struct kv {
  const char *key;
  double *out;
  bool *found;
} kv_t;

static bool parse_kv(char *data, const kv_t *want, size_t nwant) {
  char *line;
  while ((line = ph_next_line(&data)) != NULL) {
    char *f[3];
    size_t nf = ph_fields(line, f, 3);
    if (nf == 0) continue;
    if (nf != 2) return false;
    for (size_t i = 0; i < nwant; i++) {
      if (strcmp(f[0], want[i].key) != 0) continue;
      uint64_t u;
      if (!ph_parse_u64(f[1], &u)) return false;
      *want[i].out = (double)u;
      *want[i].found = true;
    }
  }
  return true;
}

/* "max" or a number; returns false when malformed. */
static bool parse_limit(const char *s, double *v) {
  if (strcmp(s, "max") == 0) {
    *v = 0;
    return true;
  }
  uint64_t u;
  if (!ph_parse_u64(s, &u)) return false;
  *v = (double)u;
  return true;
}

static int single_value(collect_ctx_t *c, const char *dir, const char *file, double *v,
                        bool limit, bool *found) {
  char *data;
  *found = false;
  int rc = read_cg(c, dir, file, &data);
  if (rc <= 0) return rc;
  char *t = ph_trim(data);
  uint64_t u;
  if (limit ? !parse_limit(t, v) : !ph_parse_u64(t, &u))
    return bad_file(c, dir, file, "not a number");
  if (!limit) *v = (double)u;
  *found = true;
  return 0;
}

static int cpu_metrics(collect_ctx_t *c, const char *dir, const cg_labels_t *l) {
  int ret = 0;
  char *data;
  double quota = 0, period = 0;
  bool has_max = false;
  int rc = read_cg(c, dir, "cpu.max", &data);
  if (rc < 0) ret = rc;
  if (rc > 0) {
    char *f[3];
    if (ph_fields(data, f, 3) != 2 || !parse_limit(f[0], &quota) ||
        !parse_limit(f[1], &period))
      ret = bad_file(c, dir, "cpu.max", "expected \"<quota|max> <period>\"");
    else
      has_max = true;
  }
  if (has_max) {
    emit(c, EXPO_GAUGE, "container_spec_cpu_period", "CPU period of the container.", l, period);
    if (quota != 0)
      emit(c, EXPO_GAUGE, "container_spec_cpu_quota", "CPU quota of the container.", l, quota);
  }
  double weight;
  bool found;
  rc = single_value(c, dir, "cpu.weight", &weight, false, &found);
  if (rc < 0) ret = rc;
  if (found && weight >= 1)
    emit(c, EXPO_GAUGE, "container_spec_cpu_shares", "CPU share of the container.", l,
         (double)(2 + ((uint64_t)weight - 1) * 262142 / 9999));

  rc = read_cg(c, dir, "cpu.stat", &data);
  if (rc < 0) return rc;
  if (rc == 0) return ret;
  double usage = 0, user = 0, sys = 0, periods = 0, throttled = 0, tusec = 0;
  bool f_usage = false, f_user = false, f_sys = false, f_per = false, f_thr = false,
       f_tus = false;
  const kv_t want[] = {{"usage_usec", &usage, &f_usage},   {"user_usec", &user, &f_user},
                       {"system_usec", &sys, &f_sys},      {"nr_periods", &periods, &f_per},
                       {"nr_throttled", &throttled, &f_thr}, {"throttled_usec", &tusec, &f_tus}};
  if (!parse_kv(data, want, 6)) return bad_file(c, dir, "cpu.stat", "malformed line");
  if (f_usage && usage > 0)
    emit1(c, EXPO_COUNTER, "container_cpu_usage_seconds_total",
          "Cumulative cpu time consumed in seconds.", l, "cpu", "total", usage / 1e6);
  if (f_user)
    emit(c, EXPO_COUNTER, "container_cpu_user_seconds_total",
         "Cumulative user cpu time consumed in seconds.", l, user / 1e6);
  if (f_sys)
    emit(c, EXPO_COUNTER, "container_cpu_system_seconds_total",
         "Cumulative system cpu time consumed in seconds.", l, sys / 1e6);
  if (has_max && quota != 0) {
    if (f_per)
      emit(c, EXPO_COUNTER, "container_cpu_cfs_periods_total",
           "Number of elapsed enforcement period intervals.", l, periods);
    if (f_thr)
      emit(c, EXPO_COUNTER, "container_cpu_cfs_throttled_periods_total",
           "Number of throttled period intervals.", l, throttled);
    if (f_tus)
      emit(c, EXPO_COUNTER, "container_cpu_cfs_throttled_seconds_total",
           "Total time duration the container has been throttled.", l, tusec / 1e6);
  }
  return ret;
}

static int memory_metrics(collect_ctx_t *c, const char *dir, const cg_labels_t *l) {
  int ret = 0, rc;
  double usage = 0, v;
  bool has_usage, found;
  rc = single_value(c, dir, "memory.current", &usage, false, &has_usage);
  if (rc < 0) ret = rc;
  char *data;
  double anon = 0, file = 0, mapped = 0, inactive = 0;
  bool f_anon = false, f_file = false, f_mapped = false, f_inactive = false;
  rc = read_cg(c, dir, "memory.stat", &data);
  if (rc < 0) ret = rc;
  if (rc > 0) {
    const kv_t want[] = {{"anon", &anon, &f_anon},
                         {"file", &file, &f_file},
                         {"file_mapped", &mapped, &f_mapped},
                         {"inactive_file", &inactive, &f_inactive}};
    if (!parse_kv(data, want, 4)) {
      ret = bad_file(c, dir, "memory.stat", "malformed line");
      f_anon = f_file = f_mapped = f_inactive = false;
    }
  }
  if (has_usage) {
    emit(c, EXPO_GAUGE, "container_memory_usage_bytes",
         "Current memory usage in bytes, including all memory regardless of when it was "
         "accessed",
         l, usage);
    emit(c, EXPO_GAUGE, "container_memory_working_set_bytes", "Current working set in bytes.", l,
         usage > inactive ? usage - inactive : 0);
  }
  if (f_file) emit(c, EXPO_GAUGE, "container_memory_cache", "Number of bytes of page cache memory.", l, file);
  if (f_anon) emit(c, EXPO_GAUGE, "container_memory_rss", "Size of RSS in bytes.", l, anon);
  if (f_mapped)
    emit(c, EXPO_GAUGE, "container_memory_mapped_file", "Size of memory mapped files in bytes.",
         l, mapped);
  rc = single_value(c, dir, "memory.swap.current", &v, false, &found);
  if (rc < 0) ret = rc;
  if (found) emit(c, EXPO_GAUGE, "container_memory_swap", "Container swap usage in bytes.", l, v);
  rc = single_value(c, dir, "memory.peak", &v, false, &found);
  if (rc < 0) ret = rc;
  if (found)
    emit(c, EXPO_GAUGE, "container_memory_max_usage_bytes",
         "Maximum memory usage recorded in bytes", l, v);
  rc = read_cg(c, dir, "memory.events", &data);
  if (rc < 0) ret = rc;
  if (rc > 0) {
    double oom = 0;
    bool f_oom = false;
    const kv_t want[] = {{"oom_kill", &oom, &f_oom}};
    if (!parse_kv(data, want, 1))
      ret = bad_file(c, dir, "memory.events", "malformed line");
    else if (f_oom)
      emit(c, EXPO_COUNTER, "container_oom_events_total",
           "Count of out of memory events observed for the container", l, oom);
  }
  static const char *const spec[][3] = {
      {"memory.max", "container_spec_memory_limit_bytes", "Memory limit for the container."},
      {"memory.swap.max", "container_spec_memory_swap_limit_bytes",
       "Memory swap limit for the container."},
      {"memory.low", "container_spec_memory_reservation_limit_bytes",
       "Memory reservation limit for the container."},
  };
  for (size_t i = 0; i < 3; i++) {
    rc = single_value(c, dir, spec[i][0], &v, true, &found);
    if (rc < 0) ret = rc;
    if (found) emit(c, EXPO_GAUGE, spec[i][1], spec[i][2], l, v);
  }
  return ret;
}

static int io_metrics(collect_ctx_t *c, cg_state_t *s, const char *dir, const cg_labels_t *l) {
  char *data;
  int rc = read_cg(c, dir, "io.stat", &data);
  if (rc <= 0) return rc;
  char *line;
  while ((line = ph_next_line(&data)) != NULL) {
    char *f[16];
    size_t nf = ph_fields(line, f, 16);
    if (nf == 0) continue;
    unsigned maj, min;
    char tail;
    if (sscanf(f[0], "%u:%u%c", &maj, &min, &tail) != 2)
      return bad_file(c, dir, "io.stat", "expected <major>:<minor>");
    double rb = 0, wb = 0, ri = 0, wi = 0;
    for (size_t i = 1; i < nf; i++) {
      char *eq = strchr(f[i], '=');
      if (eq == NULL) return bad_file(c, dir, "io.stat", "expected key=value");
      *eq = '\0';
      uint64_t u;
      if (!ph_parse_u64(eq + 1, &u)) return bad_file(c, dir, "io.stat", "not a number");
      if (strcmp(f[i], "rbytes") == 0) rb = (double)u;
      else if (strcmp(f[i], "wbytes") == 0) wb = (double)u;
      else if (strcmp(f[i], "rios") == 0) ri = (double)u;
      else if (strcmp(f[i], "wios") == 0) wi = (double)u;
    }
    char fb[32];
    const char *dev = dev_name(c, s, maj, min, fb, sizeof(fb));
    emit1(c, EXPO_COUNTER, "container_fs_reads_bytes_total", "Cumulative count of bytes read",
          l, "device", dev, rb);
    emit1(c, EXPO_COUNTER, "container_fs_writes_bytes_total",
          "Cumulative count of bytes written", l, "device", dev, wb);
    emit1(c, EXPO_COUNTER, "container_fs_reads_total", "Cumulative count of reads completed", l,
          "device", dev, ri);
    emit1(c, EXPO_COUNTER, "container_fs_writes_total", "Cumulative count of writes completed",
          l, "device", dev, wi);
  }
  return 0;
}

static int task_metrics(collect_ctx_t *c, const char *dir, const cg_labels_t *l) {
  int ret = 0;
  char *data;
  int rc = read_cg(c, dir, "cgroup.procs", &data);
  if (rc < 0) ret = rc;
  if (rc > 0) {
    double n = 0;
    for (char *p = data; *p; p++) n += *p == '\n';
    emit(c, EXPO_GAUGE, "container_processes",
         "Number of processes running inside the container.", l, n);
  }
  double v;
  bool found;
  rc = single_value(c, dir, "pids.current", &v, false, &found);
  if (rc < 0) ret = rc;
  if (found)
    emit(c, EXPO_GAUGE, "container_threads", "Number of threads running inside the container",
         l, v);
  rc = single_value(c, dir, "pids.max", &v, true, &found);
  if (rc < 0) ret = rc;
  if (found)
    emit(c, EXPO_GAUGE, "container_threads_max",
         "Maximum number of threads allowed inside the container, infinity if value is zero", l,
         v);
  return ret;
}

static int pressure_metrics(collect_ctx_t *c, const char *dir, const cg_labels_t *l) {
  static const char *const res[][2] = {{"cpu", "CPU"}, {"memory", "memory"}, {"io", "IO"}};
  int ret = 0;
  for (size_t r = 0; r < 3; r++) {
    char file[32], *data;
    snprintf(file, sizeof(file), "%s.pressure", res[r][0]);
    int rc = read_cg(c, dir, file, &data);
    if (rc < 0) ret = rc;
    if (rc <= 0) continue;
    char *line;
    while ((line = ph_next_line(&data)) != NULL) {
      char *f[8];
      size_t nf = ph_fields(line, f, 8);
      if (nf == 0) continue;
      bool some = strcmp(f[0], "some") == 0, full = strcmp(f[0], "full") == 0;
      if (!some && !full) {
        ret = bad_file(c, dir, file, "expected some/full");
        break;
      }
      double total = -1;
      for (size_t i = 1; i < nf; i++) {
        uint64_t u;
        if (ph_has_prefix(f[i], "total=") && ph_parse_u64(f[i] + 6, &u)) total = (double)u;
      }
      if (total < 0) {
        ret = bad_file(c, dir, file, "no total=");
        break;
      }
      char name[96], help[160];
      snprintf(name, sizeof(name), "container_pressure_%s_%s_seconds_total", res[r][0],
               some ? "waiting" : "stalled");
      if (some)
        snprintf(help, sizeof(help),
                 "Total time duration tasks in the container have waited due to %s "
                 "congestion.",
                 res[r][1]);
      else
        snprintf(help, sizeof(help),
                 "Total time duration no tasks in the container could make progress due to "
                 "%s congestion.",
                 res[r][1]);
      emit(c, EXPO_COUNTER, name, help, l, total / 1e6);
    }
  }
  return ret;
}

/* ---- the walk ---- */

static int one_cgroup(collect_ctx_t *c, cg_state_t *s, const char *dir, const char *id,
                      const char *parent, const char *base) {
  if (ph_devfilter_ignored(&s->filter, id)) return 0;
  cg_labels_t l = {id, "", ""};
  char cid[65];
  char kind = container_kind(parent, base, cid);
  if (kind != 0) {
    const cg_meta_t *m = NULL;
    if (kind == 'd') {
      m = container_meta(c, s, kind, cid);
      if (m->name) l.name = m->name;
      if (m->image) l.image = m->image;
    } else {
      for (size_t i = 0; i < s->npods; i++) {
        if (strcmp(s->pods[i].id, cid) != 0) continue;
        if (s->pods[i].name) l.name = s->pods[i].name;
        if (s->pods[i].image) l.image = s->pods[i].image;
      }
    }
  }
  int ret = 0, rc;
  if ((rc = cpu_metrics(c, dir, &l)) < 0) ret = rc;
  if ((rc = memory_metrics(c, dir, &l)) < 0) ret = rc;
  if ((rc = io_metrics(c, s, dir, &l)) < 0) ret = rc;
  if ((rc = task_metrics(c, dir, &l)) < 0) ret = rc;
  if ((rc = pressure_metrics(c, dir, &l)) < 0) ret = rc;
  return ret;
}

static int walk(collect_ctx_t *c, cg_state_t *s, const char *dir, const char *id,
                const char *parent, const char *base, int depth) {
  int ret = one_cgroup(c, s, dir, id, parent, base);
  if (depth >= CG_MAX_DEPTH) return ret;
  DIR *d = opendir(dir);
  if (d == NULL) {
    if (errno == ENOENT || errno == ENOTDIR) return ret; /* vanished */
    return cc_fail(c, PH_EIO, "opendir %s: %s", dir, strerror(errno));
  }
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.') continue;
    char sub[PATH_MAX], subid[PATH_MAX];
    ph_pathf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
    bool isdir = de->d_type == DT_DIR;
    if (de->d_type == DT_UNKNOWN) {
      struct stat st;
      isdir = lstat(sub, &st) == 0 && S_ISDIR(st.st_mode);
    }
    if (!isdir) continue;
    if (strcmp(id, "/") == 0)
      ph_pathf(subid, sizeof(subid), "/%s", de->d_name);
    else
      ph_pathf(subid, sizeof(subid), "%s/%s", id, de->d_name);
    int rc = walk(c, s, sub, subid, base, de->d_name, depth + 1);
    if (rc < 0) ret = rc;
  }
  closedir(d);
  return ret;
}

static int cgroup_collect(collect_ctx_t *c, void *state) {
  cg_state_t *s = state;
  char root[PATH_MAX];
  if (s->root != NULL)
    ph_pathf(root, sizeof(root), "%s", s->root);
  else
    cc_sys(c, root, sizeof(root), "fs/cgroup");
  /* The collector was asked for, so a missing hierarchy is an error
   * (logged at error level), not "no data". */
  struct stat st;
  if (stat(root, &st) != 0)
    return cc_fail(c, PH_EIO, "cgroup root %s: %s", root, strerror(errno));
  char ctrl[PATH_MAX];
  if (stat(ph_pathf(ctrl, sizeof(ctrl), "%s/cgroup.controllers", root), &st) != 0) {
    /* systemd's hybrid layout mounts the v2 hierarchy at <root>/unified */
    if (stat(ph_pathf(ctrl, sizeof(ctrl), "%s/unified/cgroup.controllers", root), &st) != 0)
      return cc_fail(c, PH_EIO, "%s is not a cgroups v2 hierarchy (no cgroup.controllers)",
                     root);
    size_t l = strlen(root);
    snprintf(root + l, sizeof(root) - l, "/unified");
  }
  if (s->npodman_roots == 0) {
    /* the default, resolved against --path.rootfs once */
    char p[PATH_MAX];
    cc_root(c, p, sizeof(p), "var/lib/containers/storage");
    s->podman_roots = ph_realloc(s->podman_roots, 2 * sizeof(char *));
    s->podman_roots[s->npodman_roots++] = ph_strdup(p);
  }
  podman_refresh(s);
  int rc = walk(c, s, root, "/", "", "", 0);
  meta_sweep(s);
  return rc;
}

const collector_def_t collector_cgroup = {
    .name = "cgroup",
    .default_enabled = false,
    .flags = cgroup_flags,
    .init = cgroup_init,
    .free = cgroup_free,
    .collect = cgroup_collect,
};
