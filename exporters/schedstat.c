/*
 * schedstat.c - the schedstat collector: per-CPU scheduler statistics from
 * /proc/schedstat ("cpuN f1 … f9": f7 running ns, f8 waiting ns, f9
 * timeslices).
 */
#include "exporter_int.h"

#include "ph_error.h"

#include <limits.h>
#include <string.h>

static int schedstat_collect(collect_ctx_t *c, void *state) {
  (void)state;
  char path[PATH_MAX], *data, *line;
  size_t len;
  int rc = cc_read_file(c, cc_proc(c, path, sizeof(path), "schedstat"), &data, &len);
  if (rc < 0) return rc;
  while ((line = ph_next_line(&data)) != NULL) {
    char *f[12];
    size_t nf = ph_fields(line, f, 12);
    if (nf < 10 || strncmp(f[0], "cpu", 3) != 0) continue;
    double run, wait, slices;
    if (!ph_parse_double(f[7], &run) || !ph_parse_double(f[8], &wait) ||
        !ph_parse_double(f[9], &slices))
      return PH_EPARSE;
    const char *cpu = f[0] + 3;
    cc_counter(c, "node_schedstat_running_seconds_total",
               "Number of seconds CPU spent running a process.", run / 1e9,
               "cpu", cpu, NULL);
    cc_counter(c, "node_schedstat_waiting_seconds_total",
               "Number of seconds spent by processing waiting for this CPU.",
               wait / 1e9, "cpu", cpu, NULL);
    cc_counter(c, "node_schedstat_timeslices_total",
               "Number of timeslices executed by CPU.", slices, "cpu", cpu,
               NULL);
  }
  return 0;
}

const collector_def_t collector_schedstat = {
    .name = "schedstat", .default_enabled = true, .collect = schedstat_collect};
