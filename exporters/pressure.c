/*
 * pressure.c - the pressure collector: pressure stall information from
 * /proc/pressure/{cpu,io,memory,irq}.  Each file has "some" and/or "full"
 * lines with total=<microseconds>; they become
 *   cpu    some -> node_pressure_cpu_waiting_seconds_total
 *   io     some -> node_pressure_io_waiting_seconds_total,
 *          full -> node_pressure_io_stalled_seconds_total
 *   memory some/full -> node_pressure_memory_{waiting,stalled}_seconds_total
 *   irq    full -> node_pressure_irq_stalled_seconds_total
 * A missing irq file is skipped; a missing cpu/io/memory file means the
 * kernel has no PSI and the collector reports no data.
 */
#include "exporter_int.h"

#include "ph_error.h"

#include <limits.h>
#include <string.h>

static bool psi_total(char *data, const char *kind, double *out) {
  char *line;
  while ((line = ph_next_line(&data)) != NULL) {
    char *f[8];
    size_t nf = ph_fields(line, f, 8);
    if (nf < 2 || strcmp(f[0], kind) != 0) continue;
    for (size_t i = 1; i < nf; i++) {
      if (strncmp(f[i], "total=", 6) == 0) {
        double v;
        if (!ph_parse_double(f[i] + 6, &v)) return false;
        *out = v / 1000 / 1000;
        return true;
      }
    }
  }
  return false;
}

static int read_psi(collect_ctx_t *c, const char *res, double *some,
                    double *full, bool *has_some, bool *has_full) {
  char path[PATH_MAX], *data;
  size_t len;
  int rc = cc_read_file(c, cc_proc(c, path, sizeof(path), "pressure/%s", res), &data, &len);
  if (rc < 0) return rc;
  char *copy = arena_strndup(c->arena, data, len);
  if (copy == NULL) return PH_ELIMIT;
  *has_some = psi_total(data, "some", some);
  *has_full = psi_total(copy, "full", full);
  return 0;
}

static int pressure_collect(collect_ctx_t *c, void *state) {
  (void)state;
  double some = 0, full = 0;
  bool hs, hf;
  int rc = read_psi(c, "cpu", &some, &full, &hs, &hf);
  if (rc < 0) return rc;
  cc_counter(c, "node_pressure_cpu_waiting_seconds_total",
             "Total time in seconds that processes have waited for CPU time",
             some, NULL);
  rc = read_psi(c, "io", &some, &full, &hs, &hf);
  if (rc < 0) return rc;
  cc_counter(c, "node_pressure_io_waiting_seconds_total",
             "Total time in seconds that processes have waited due to IO "
             "congestion",
             some, NULL);
  cc_counter(c, "node_pressure_io_stalled_seconds_total",
             "Total time in seconds no process could make progress due to IO "
             "congestion",
             full, NULL);
  rc = read_psi(c, "memory", &some, &full, &hs, &hf);
  if (rc < 0) return rc;
  cc_counter(c, "node_pressure_memory_waiting_seconds_total",
             "Total time in seconds that processes have waited for memory",
             some, NULL);
  cc_counter(c, "node_pressure_memory_stalled_seconds_total",
             "Total time in seconds no process could make progress due to "
             "memory congestion",
             full, NULL);
  if (read_psi(c, "irq", &some, &full, &hs, &hf) == 0 && hf)
    cc_counter(c, "node_pressure_irq_stalled_seconds_total",
               "Total time in seconds no process could make progress due to "
               "IRQ congestion",
               full, NULL);
  return 0;
}

const collector_def_t collector_pressure = {
    .name = "pressure", .default_enabled = true, .collect = pressure_collect};
