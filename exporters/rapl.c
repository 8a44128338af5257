/*
 * rapl.c - the rapl collector: Intel/AMD RAPL energy counters from
 * /sys/class/powercap/<zone>/{name,energy_uj}.  A zone named "package-0"
 * is reported as node_rapl_package_joules_total{index="0"}; other names
 * ("core", "uncore", "dram") get the count of earlier zones of that name
 * as index.  path is the zone directory.  With
 * --collector.rapl.enable-zone-label all zones share
 * node_rapl_joules_total with a zone label.
 */
#include "exporter_int.h"

#include "mem.h"
#include "ph_error.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const exporter_flag_t rapl_flags[] = {
    {"collector.rapl.enable-zone-label", FLAG_BOOL, "false",
     "Enables RAPL zone labels"},
    {NULL, 0, NULL, NULL},
};

static int rapl_init(const exporter_options_t *o, void **state, char *err, size_t errlen) {
  (void)err;
  (void)errlen;
  *state = exporter_options_get_bool(o, "collector.rapl.enable-zone-label") ? (void *)1 : NULL;
  return 0;
}

static int rapl_collect(collect_ctx_t *c, void *state) {
  char base[PATH_MAX], path[PATH_MAX], **names;
  size_t n;
  int rc = cc_list_dir(c, cc_sys(c, base, sizeof(base), "class/powercap"), &names, &n);
  if (rc < 0) return rc;
  char **seen = arena_calloc(c->arena, n + 1, sizeof(char *));
  ph_assert(seen != NULL);
  size_t nseen = 0;
  for (size_t i = 0; i < n; i++) {
    char name[128];
    if (ph_read_str(ph_pathf(path, sizeof(path), "%s/%s/name", base, names[i]), name, sizeof(name)) < 0)
      continue;
    char *nm = ph_trim(name);
    char index[32];
    char *dash = strrchr(nm, '-');
    uint64_t idx;
    if (dash && ph_parse_u64(dash + 1, &idx)) {
      *dash = '\0';
      snprintf(index, sizeof(index), "%llu", (unsigned long long)idx);
    } else {
      size_t cnt = 0;
      for (size_t k = 0; k < nseen; k++) cnt += strcmp(seen[k], nm) == 0;
      snprintf(index, sizeof(index), "%zu", cnt);
    }
    seen[nseen++] = cc_strdup(c, nm);
    double uj;
    if (ph_read_double(ph_pathf(path, sizeof(path), "%s/%s/energy_uj", base, names[i]), &uj) < 0)
      return PH_EIO;
    char zpath[PATH_MAX];
    ph_pathf(zpath, sizeof(zpath), "%s/%s", base, names[i]);
    if (state != NULL) {
      cc_counter(c, "node_rapl_joules_total", "Current RAPL value in joules", uj / 1000000.0,
                 "index", index, "path", zpath, "rapl_zone", nm, NULL);
    } else {
      char metric[200], help[200];
      char san[128];
      snprintf(san, sizeof(san), "%s", nm);
      ph_sanitize_name(san);
      snprintf(metric, sizeof(metric), "node_rapl_%s_joules_total", san);
      snprintf(help, sizeof(help), "Current RAPL %s value in joules", nm);
      cc_counter(c, metric, help, uj / 1000000.0, "index", index, "path", zpath, NULL);
    }
  }
  return 0;
}

const collector_def_t collector_rapl = {
    .name = "rapl",
    .default_enabled = true,
    .flags = rapl_flags,
    .init = rapl_init,
    .collect = rapl_collect,
};
