/*
 * cpu.c - the cpu collector: per-CPU time from /proc/stat
 * (node_cpu_seconds_total, node_cpu_guest_seconds_total), /proc/cpuinfo
 * (node_cpu_info, flag_info, bug_info with --collector.cpu.info and the
 * include regexes), thermal throttle counters from sysfs
 * (node_cpu_core_throttles_total per package/core,
 * node_cpu_package_throttles_total) and isolated CPUs
 * (/sys/devices/system/cpu/isolated, read once at start).
 *
 * Times are the USER_HZ ticks of /proc/stat divided by 100.  As
 * node_exporter does, the collector keeps the last values per CPU and
 * never lets a counter go backwards; an idle counter that drops by 3 s or
 * more means a hotplugged CPU and resets that CPU's cache.
 */
#include "exporter_int.h"

#include "log.h"
#include "mem.h"
#include "ph_error.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { M_USER, M_NICE, M_SYSTEM, M_IDLE, M_IOWAIT, M_IRQ, M_SOFTIRQ, M_STEAL,
       M_GUEST, M_GUEST_NICE, M_N };
static const char *const mode_names[M_N] = {
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
    "guest", "guest_nice"};

typedef struct cpu_stat {
  double v[M_N];
  bool known;   /* in the cache */
  bool present; /* seen in the current scrape */
} cpu_stat_t;

typedef struct cpu_state {
  bool guest, info;
  ph_regex_t *flags_re, *bugs_re;
  cpu_stat_t *stats; /* indexed by CPU number */
  size_t nstats;
  unsigned *isolated;
  size_t nisolated;
} cpu_state_t;

static const exporter_flag_t cpu_flags[] = {
    {"collector.cpu.guest", FLAG_BOOL, "true",
     "Enables metric node_cpu_guest_seconds_total"},
    {"collector.cpu.info", FLAG_BOOL, "false", "Enables metric cpu_info"},
    {"collector.cpu.info.flags-include", FLAG_STRING, NULL,
     "Filter the `flags` field in cpuInfo with a value that must be a "
     "regular expression"},
    {"collector.cpu.info.bugs-include", FLAG_STRING, NULL,
     "Filter the `bugs` field in cpuInfo with a value that must be a regular "
     "expression"},
    {NULL, 0, NULL, NULL},
};

static void cpu_free(void *p) {
  cpu_state_t *s = p;
  if (s == NULL) return;
  ph_regex_free(s->flags_re);
  ph_regex_free(s->bugs_re);
  free(s->stats);
  free(s->isolated);
  free(s);
}

/* "1,3-5,9" -> 1 3 4 5 9 (sysfs cpu list format). */
static int parse_cpu_list(const char *s, unsigned **out, size_t *n) {
  size_t cap = 0;
  *out = NULL;
  *n = 0;
  char buf[4096];
  snprintf(buf, sizeof(buf), "%s", s);
  char *parts[1024];
  if (buf[0] == '\0') return 0;
  size_t np = ph_split(buf, ',', parts, 1024);
  for (size_t i = 0; i < np; i++) {
    char *dash = strchr(parts[i], '-');
    uint64_t a, b;
    if (dash) {
      *dash = '\0';
      if (!ph_parse_u64(parts[i], &a) || !ph_parse_u64(dash + 1, &b) || b < a)
        return PH_EPARSE;
    } else {
      if (!ph_parse_u64(parts[i], &a)) return PH_EPARSE;
      b = a;
    }
    for (uint64_t k = a; k <= b && k < 65536; k++) {
      ph_grow(out, &cap, *n + 1);
      (*out)[(*n)++] = (unsigned)k;
    }
  }
  return 0;
}

static int cpu_init(const exporter_options_t *o, void **state, char *err,
                    size_t errlen) {
  cpu_state_t *s = ph_calloc(1, sizeof(*s));
  *state = s;
  s->guest = exporter_options_get_bool(o, "collector.cpu.guest");
  s->info = exporter_options_get_bool(o, "collector.cpu.info");
  const char *fi = exporter_options_get(o, "collector.cpu.info.flags-include");
  const char *bi = exporter_options_get(o, "collector.cpu.info.bugs-include");
  if ((fi && *fi) || (bi && *bi)) s->info = true;
  if (fi && *fi && (s->flags_re = ph_regex_new(fi, err, errlen)) == NULL)
    return PH_EINVAL;
  if (bi && *bi && (s->bugs_re = ph_regex_new(bi, err, errlen)) == NULL)
    return PH_EINVAL;
  char path[PATH_MAX], buf[4096];
  ph_path_join(path, sizeof(path), exporter_options_get(o, "path.sysfs"),
               "devices/system/cpu/isolated");
  if (ph_read_str(path, buf, sizeof(buf)) == 0) {
    if (parse_cpu_list(ph_trim(buf), &s->isolated, &s->nisolated) < 0)
      return ph_err(err, errlen, PH_EINVAL,
                    "Unable to get isolated cpus: bad list \"%s\"", buf);
  }
  return 0;
}

/* ---- /proc/cpuinfo ---- */

typedef struct cpuinfo {
  const char *processor, *vendor, *family, *model, *model_name, *microcode,
      *stepping, *cachesize, *package, *core;
  char *flags, *bugs;
} cpuinfo_t;

static void emit_field_info(collect_ctx_t *c, char *list, const ph_regex_t *re,
                            const char *name, const char *help,
                            const char *label) {
  if (re == NULL || list == NULL) return;
  char *f[512];
  size_t n = ph_fields(list, f, 512);
  for (size_t i = 0; i < n; i++)
    if (ph_regex_match(re, f[i])) cc_gauge(c, name, help, 1, label, f[i], NULL);
}

static void emit_cpuinfo(collect_ctx_t *c, const cpuinfo_t *ci) {
  cc_gauge(c, "node_cpu_info", "CPU information from /proc/cpuinfo.", 1,
           "package", ci->package, "core", ci->core, "cpu", ci->processor,
           "vendor", ci->vendor, "family", ci->family, "model", ci->model,
           "model_name", ci->model_name, "microcode", ci->microcode,
           "stepping", ci->stepping, "cachesize", ci->cachesize, NULL);
}

static int update_info(collect_ctx_t *c, cpu_state_t *s) {
  char path[PATH_MAX], *data, *line;
  size_t len;
  int rc = cc_read_file(c, cc_proc(c, path, sizeof(path), "cpuinfo"), &data, &len);
  if (rc < 0) return rc;
  cpuinfo_t ci, first;
  memset(&ci, 0, sizeof(ci));
  memset(&first, 0, sizeof(first));
  bool have = false, have_first = false;
  for (;;) {
    line = ph_next_line(&data);
    if (line == NULL || *ph_trim(line) == '\0') {
      if (have) {
        emit_cpuinfo(c, &ci);
        if (!have_first) {
          first = ci;
          have_first = true;
        }
      }
      memset(&ci, 0, sizeof(ci));
      have = false;
      if (line == NULL) break;
      continue;
    }
    char *colon = strchr(line, ':');
    if (colon == NULL) continue;
    *colon = '\0';
    char *key = ph_trim(line), *val = ph_trim(colon + 1);
    have = true;
    if (strcmp(key, "processor") == 0) ci.processor = val;
    else if (strcmp(key, "vendor_id") == 0) ci.vendor = val;
    else if (strcmp(key, "cpu family") == 0) ci.family = val;
    else if (strcmp(key, "model") == 0) ci.model = val;
    else if (strcmp(key, "model name") == 0) ci.model_name = val;
    else if (strcmp(key, "microcode") == 0) ci.microcode = val;
    else if (strcmp(key, "stepping") == 0) ci.stepping = val;
    else if (strcmp(key, "cache size") == 0) ci.cachesize = val;
    else if (strcmp(key, "physical id") == 0) ci.package = val;
    else if (strcmp(key, "core id") == 0) ci.core = val;
    else if (strcmp(key, "flags") == 0) ci.flags = val;
    else if (strcmp(key, "bugs") == 0) ci.bugs = val;
  }
  if (have_first) {
    emit_field_info(c, first.flags, s->flags_re, "node_cpu_flag_info",
                    "The `flags` field of CPU information from /proc/cpuinfo "
                    "taken from the first core.",
                    "flag");
    emit_field_info(c, first.bugs, s->bugs_re, "node_cpu_bug_info",
                    "The `bugs` field of CPU information from /proc/cpuinfo "
                    "taken from the first core.",
                    "bug");
  }
  return 0;
}

/* ---- /proc/stat ---- */

static void update_cache(cpu_state_t *s, size_t id, const double *nv) {
  if (id >= s->nstats) {
    size_t cap = s->nstats;
    ph_grow(&s->stats, &cap, id + 1);
    memset(s->stats + s->nstats, 0, (cap - s->nstats) * sizeof(*s->stats));
    s->nstats = cap;
  }
  cpu_stat_t *st = &s->stats[id];
  if (st->known && st->v[M_IDLE] - nv[M_IDLE] >= 3.0) {
    log_debug("CPU Idle counter jumped backwards more than 3 seconds, "
              "possible hotplug event, resetting CPU stats");
    memset(st->v, 0, sizeof(st->v));
  }
  for (int m = 0; m < M_N; m++)
    if (!st->known || nv[m] >= st->v[m]) st->v[m] = nv[m];
  st->known = true;
  st->present = true;
}

static int update_stat(collect_ctx_t *c, cpu_state_t *s) {
  char path[PATH_MAX], *data, *line;
  size_t len;
  int rc = cc_read_file(c, cc_proc(c, path, sizeof(path), "stat"), &data, &len);
  if (rc < 0) return rc;
  for (size_t i = 0; i < s->nstats; i++) s->stats[i].present = false;
  while ((line = ph_next_line(&data)) != NULL) {
    if (strncmp(line, "cpu", 3) != 0 || line[3] < '0' || line[3] > '9')
      continue;
    char *f[16];
    size_t nf = ph_fields(line, f, 16);
    uint64_t id;
    if (!ph_parse_u64(f[0] + 3, &id) || id > 65535) return PH_EPARSE;
    double nv[M_N] = {0};
    for (size_t k = 1; k < nf && k <= M_N; k++) {
      double x;
      if (!ph_parse_double(f[k], &x)) return PH_EPARSE;
      nv[k - 1] = x / 100.0;
    }
    update_cache(s, (size_t)id, nv);
  }
  for (size_t i = 0; i < s->nstats; i++) {
    cpu_stat_t *st = &s->stats[i];
    if (!st->present) { /* offline: forget it */
      st->known = false;
      continue;
    }
    char num[24];
    snprintf(num, sizeof(num), "%zu", i);
    for (int m = 0; m <= M_STEAL; m++)
      cc_counter(c, "node_cpu_seconds_total",
                 "Seconds the CPUs spent in each mode.", st->v[m], "cpu", num,
                 "mode", mode_names[m], NULL);
    if (s->guest) {
      cc_counter(c, "node_cpu_guest_seconds_total",
                 "Seconds the CPUs spent in guests (VMs) for each mode.",
                 st->v[M_GUEST], "cpu", num, "mode", "user", NULL);
      cc_counter(c, "node_cpu_guest_seconds_total",
                 "Seconds the CPUs spent in guests (VMs) for each mode.",
                 st->v[M_GUEST_NICE], "cpu", num, "mode", "nice", NULL);
    }
  }
  return 0;
}

/* ---- thermal throttles ---- */

typedef struct throttle {
  uint64_t pkg, core, count;
  bool has_count;
} throttle_t;

static int update_throttle(collect_ctx_t *c) {
  char dir[PATH_MAX], path[PATH_MAX];
  char **names;
  size_t n;
  cc_sys(c, dir, sizeof(dir), "devices/system/cpu");
  if (cc_list_dir(c, dir, &names, &n) < 0) return 0;
  throttle_t *cores = arena_calloc(c->arena, n + 1, sizeof(*cores));
  throttle_t *pkgs = arena_calloc(c->arena, n + 1, sizeof(*pkgs));
  ph_assert(cores != NULL && pkgs != NULL);
  size_t ncores = 0, npkgs = 0;
  for (size_t i = 0; i < n; i++) {
    const char *nm = names[i];
    if (strncmp(nm, "cpu", 3) != 0 || nm[3] < '0' || nm[3] > '9') continue;
    uint64_t pkg, core, cnt;
    ph_pathf(path, sizeof(path), "%s/%s/topology/physical_package_id", dir, nm);
    if (ph_read_u64(path, &pkg) < 0) continue;
    ph_pathf(path, sizeof(path), "%s/%s/topology/core_id", dir, nm);
    if (ph_read_u64(path, &core) < 0) continue;
    size_t k;
    for (k = 0; k < ncores; k++)
      if (cores[k].pkg == pkg && cores[k].core == core) break;
    if (k == ncores) {
      cores[ncores].pkg = pkg;
      cores[ncores].core = core;
      ph_pathf(path, sizeof(path), "%s/%s/thermal_throttle/core_throttle_count",
               dir, nm);
      if (ph_read_u64(path, &cnt) == 0) {
        cores[ncores].count = cnt;
        cores[ncores].has_count = true;
      }
      ncores++;
    }
    for (k = 0; k < npkgs; k++)
      if (pkgs[k].pkg == pkg) break;
    if (k == npkgs) {
      ph_pathf(path, sizeof(path),
               "%s/%s/thermal_throttle/package_throttle_count", dir, nm);
      if (ph_read_u64(path, &cnt) == 0) {
        pkgs[npkgs].pkg = pkg;
        pkgs[npkgs].count = cnt;
        npkgs++;
      }
    }
  }
  char a[24], b[24];
  for (size_t k = 0; k < npkgs; k++) {
    snprintf(a, sizeof(a), "%llu", (unsigned long long)pkgs[k].pkg);
    cc_counter(c, "node_cpu_package_throttles_total",
               "Number of times this CPU package has been throttled.",
               (double)pkgs[k].count, "package", a, NULL);
  }
  for (size_t k = 0; k < ncores; k++) {
    /* a core whose count cannot be read is left out */
    snprintf(a, sizeof(a), "%llu", (unsigned long long)cores[k].pkg);
    snprintf(b, sizeof(b), "%llu", (unsigned long long)cores[k].core);
    if (!cores[k].has_count) continue;
    cc_counter(c, "node_cpu_core_throttles_total",
               "Number of times this CPU core has been throttled.",
               (double)cores[k].count, "package", a, "core", b, NULL);
  }
  return 0;
}

static int cpu_collect(collect_ctx_t *c, void *state) {
  cpu_state_t *s = state;
  int rc;
  if (s->info && (rc = update_info(c, s)) < 0) return rc;
  if ((rc = update_stat(c, s)) < 0) return rc;
  for (size_t i = 0; i < s->nisolated; i++) {
    char num[16];
    snprintf(num, sizeof(num), "%u", s->isolated[i]);
    cc_gauge(c, "node_cpu_isolated",
             "Whether each core is isolated, information from "
             "/sys/devices/system/cpu/isolated.",
             1, "cpu", num, NULL);
  }
  return update_throttle(c);
}

const collector_def_t collector_cpu = {
    .name = "cpu",
    .default_enabled = true,
    .flags = cpu_flags,
    .init = cpu_init,
    .free = cpu_free,
    .collect = cpu_collect,
};
