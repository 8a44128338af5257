/*
 * sysctl.c - the sysctl collector (off by default): chosen values of
 * <procfs>/sys/<a>/<b>/<c> for --collector.sysctl.include=a.b.c.
 *
 *   --collector.sysctl.include=kernel.threads-max
 *       node_sysctl_kernel_threads_max 7801
 *   --collector.sysctl.include=fs.file-nr            (several numbers)
 *       node_sysctl_fs_file_nr{index="0"} 1024 …
 *   --collector.sysctl.include=fs.file-nr:total,current,max
 *       node_sysctl_fs_file_nr_total 1024 …
 *   --collector.sysctl.include-info=kernel.seccomp.actions_avail
 *       node_sysctl_info{name,index,value} 1 per word
 * Numeric families are untyped; names get '.' and '-' as '_'.
 */
#include "exporter_int.h"

#include "ph_error.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

static const exporter_flag_t sysctl_flags[] = {
    {"collector.sysctl.include", FLAG_STRINGS, NULL,
     "Select sysctl metrics to include (repeatable; name or name:field1,field2,…)"},
    {"collector.sysctl.include-info", FLAG_STRINGS, NULL,
     "Select sysctl metrics to include as info metrics (repeatable)"},
    {NULL, 0, NULL, NULL},
};

static int read_sysctl(collect_ctx_t *c, const char *name, char **vals, size_t max, size_t *n) {
  char rel[PATH_MAX], path[PATH_MAX], *data;
  snprintf(rel, sizeof(rel), "sys/%s", name);
  for (char *p = rel; *p; p++)
    if (*p == '.') *p = '/';
  int rc = cc_read_arena(c, cc_proc(c, path, sizeof(path), "%s", rel), &data, NULL);
  if (rc < 0) return rc;
  *n = ph_fields(data, vals, max);
  return 0;
}

static void metric_base(const char *name, char *out, size_t n) {
  snprintf(out, n, "node_sysctl_%s", name);
  for (char *p = out; *p; p++)
    if (*p == '.' || *p == '-') *p = '_';
}

static int sysctl_collect(collect_ctx_t *c, void *state) {
  (void)state;
  const char *const *inc;
  size_t ninc = exporter_options_get_all(c->opts, "collector.sysctl.include", &inc);
  for (size_t i = 0; i < ninc; i++) {
    char spec[512], *fields = NULL;
    snprintf(spec, sizeof(spec), "%s", inc[i]);
    char *colon = strchr(spec, ':');
    if (colon) {
      *colon = '\0';
      fields = colon + 1;
    }
    char *vals[256];
    size_t nv;
    int rc = read_sysctl(c, spec, vals, 256, &nv);
    if (rc < 0) return rc;
    char base[600], name[700], help[700];
    metric_base(spec, base, sizeof(base));
    if (fields != NULL) {
      char *fn[256];
      size_t nf = ph_split(fields, ',', fn, 256);
      for (size_t k = 0; k < nf && k < nv; k++) {
        double v;
        if (!ph_parse_double(vals[k], &v)) return PH_EPARSE;
        snprintf(name, sizeof(name), "%s_%s", base, fn[k]);
        snprintf(help, sizeof(help), "sysctl %s, field %zu", spec, k);
        cc_untyped(c, name, help, v, NULL);
      }
    } else if (nv == 1) {
      double v;
      if (!ph_parse_double(vals[0], &v)) return PH_EPARSE;
      snprintf(help, sizeof(help), "sysctl %s", spec);
      cc_untyped(c, base, help, v, NULL);
    } else {
      for (size_t k = 0; k < nv; k++) {
        double v;
        if (!ph_parse_double(vals[k], &v)) return PH_EPARSE;
        char idx[24];
        snprintf(idx, sizeof(idx), "%zu", k);
        snprintf(help, sizeof(help), "sysctl %s", spec);
        cc_untyped(c, base, help, v, "index", idx, NULL);
      }
    }
  }
  size_t ninfo = exporter_options_get_all(c->opts, "collector.sysctl.include-info", &inc);
  for (size_t i = 0; i < ninfo; i++) {
    char *vals[256];
    size_t nv;
    int rc = read_sysctl(c, inc[i], vals, 256, &nv);
    if (rc < 0) return rc;
    for (size_t k = 0; k < nv; k++) {
      char idx[24];
      snprintf(idx, sizeof(idx), "%zu", k);
      cc_gauge(c, "node_sysctl_info", "sysctl info", 1, "name", inc[i], "index", idx, "value",
               vals[k], NULL);
    }
  }
  return 0;
}

const collector_def_t collector_sysctl = {
    .name = "sysctl", .default_enabled = false, .flags = sysctl_flags, .collect = sysctl_collect};
