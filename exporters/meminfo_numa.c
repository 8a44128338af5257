/*
 * meminfo_numa.c - the meminfo_numa collector (off by default): per NUMA
 * node, /sys/devices/system/node/nodeN/meminfo ("Node 0 Active(anon):
 * 691324 kB") as gauges node_memory_numa_<key>{node} (kB times 1024, no
 * unit suffix, "(x)" as "_x") and numastat ("numa_hit 193460335812") as
 * counters node_memory_numa_<key>_total{node}.
 */
#include "exporter_int.h"

#include "ph_error.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

static int numa_collect(collect_ctx_t *c, void *state) {
  (void)state;
  char base[PATH_MAX], path[PATH_MAX], **names;
  size_t n;
  int rc = cc_list_dir(c, cc_sys(c, base, sizeof(base), "devices/system/node"), &names, &n);
  if (rc < 0) return rc;
  for (size_t i = 0; i < n; i++) {
    if (strncmp(names[i], "node", 4) != 0 || names[i][4] < '0' || names[i][4] > '9') continue;
    const char *node = names[i] + 4;
    char *data, *line;
    size_t len;
    rc = cc_read_file(c, ph_pathf(path, sizeof(path), "%s/%s/meminfo", base, names[i]), &data, &len);
    if (rc < 0) return rc;
    while ((line = ph_next_line(&data)) != NULL) {
      char *f[6];
      size_t nf = ph_fields(line, f, 6);
      if (nf == 0) continue;
      if (nf < 4 || strcmp(f[0], "Node") != 0) return PH_EPARSE;
      double v;
      if (!ph_parse_double(f[3], &v)) return PH_EPARSE;
      if (nf == 5 && strcmp(f[4], "kB") == 0) v *= 1024;
      char key[128];
      size_t k = 0;
      for (const char *p = f[2]; *p && k + 1 < sizeof(key); p++) {
        if (*p == ':' || *p == ')') continue;
        key[k++] = *p == '(' ? '_' : *p;
      }
      key[k] = '\0';
      char name[192], help[192];
      snprintf(name, sizeof(name), "node_memory_numa_%s", key);
      snprintf(help, sizeof(help), "Memory information field %s.", key);
      cc_gauge(c, name, help, v, "node", node, NULL);
    }
    rc = cc_read_file(c, ph_pathf(path, sizeof(path), "%s/%s/numastat", base, names[i]), &data, &len);
    if (rc < 0) return rc;
    while ((line = ph_next_line(&data)) != NULL) {
      char *f[3];
      if (ph_fields(line, f, 3) != 2) continue;
      double v;
      if (!ph_parse_double(f[1], &v)) return PH_EPARSE;
      char name[192], help[192];
      snprintf(name, sizeof(name), "node_memory_numa_%s_total", f[0]);
      snprintf(help, sizeof(help), "Memory information field %s_total.", f[0]);
      cc_counter(c, name, help, v, "node", node, NULL);
    }
  }
  return 0;
}

const collector_def_t collector_meminfo_numa = {
    .name = "meminfo_numa", .default_enabled = false, .collect = numa_collect};
