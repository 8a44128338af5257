/*
 * loadavg.c - the loadavg collector: node_load1, node_load5, node_load15
 * from the first three fields of /proc/loadavg.
 */
#include "exporter_int.h"

#include "ph_error.h"

#include <limits.h>

static int loadavg_collect(collect_ctx_t *c, void *state) {
  (void)state;
  char path[PATH_MAX], *data, *f[3];
  size_t len;
  int rc = cc_read_file(c, cc_proc(c, path, sizeof(path), "loadavg"), &data, &len);
  if (rc < 0) return rc;
  double v[3];
  if (ph_fields(data, f, 3) != 3) return PH_EPARSE;
  for (int i = 0; i < 3; i++)
    if (!ph_parse_double(f[i], &v[i])) return PH_EPARSE;
  cc_gauge(c, "node_load1", "1m load average.", v[0], NULL);
  cc_gauge(c, "node_load5", "5m load average.", v[1], NULL);
  cc_gauge(c, "node_load15", "15m load average.", v[2], NULL);
  return 0;
}

const collector_def_t collector_loadavg = {
    .name = "loadavg", .default_enabled = true, .collect = loadavg_collect};
