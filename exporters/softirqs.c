/*
 * softirqs.c - the softirqs collector (off by default): /proc/softirqs, a
 * header of CPU names and one row per softirq type, as
 * node_softirqs_functions_total{cpu,type}.
 */
#include "exporter_int.h"

#include "ph_error.h"

#include <limits.h>
#include <string.h>

static int softirqs_collect(collect_ctx_t *c, void *state) {
  (void)state;
  char path[PATH_MAX], *data, *line;
  size_t len;
  int rc = cc_read_file(c, cc_proc(c, path, sizeof(path), "softirqs"), &data, &len);
  if (rc < 0) return rc;
  line = ph_next_line(&data);
  if (line == NULL) return PH_EPARSE;
  char *cpus[1024];
  size_t ncpu = ph_fields(line, cpus, 1024);
  while ((line = ph_next_line(&data)) != NULL) {
    char *f[1025];
    size_t nf = ph_fields(line, f, 1025);
    if (nf < 2) continue;
    size_t tl = strlen(f[0]);
    if (tl > 0 && f[0][tl - 1] == ':') f[0][tl - 1] = '\0';
    for (size_t i = 1; i < nf && i - 1 < ncpu; i++) {
      double v;
      if (!ph_parse_double(f[i], &v)) return PH_EPARSE;
      const char *cpu = cpus[i - 1];
      if (strncmp(cpu, "CPU", 3) == 0) cpu += 3;
      cc_counter(c, "node_softirqs_functions_total", "Softirq counts per CPU.",
                 v, "cpu", cpu, "type", f[0], NULL);
    }
  }
  return 0;
}

const collector_def_t collector_softirqs = {
    .name = "softirqs", .default_enabled = false, .collect = softirqs_collect};
