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
 * kernel has no PSI and the collector reports no data; a some/full line
 * without a number in total= fails the collector.
 */
#include "exporter_int.h"

#include "ph_error.h"

#include <limits.h>
#include <string.h>

/* The total= of the kind ("some"/"full") line: 1 when found, 0 when the
 * line is absent, -1 when it is there but malformed. */
static int psi_total(char *data, const char *kind, double *out) {
  char *line;
  while ((line = ph_next_line(&data)) != NULL) {
    char *f[8];
    size_t nf = ph_fields(line, f, 8);
    if (nf < 1 || strcmp(f[0], kind) != 0) continue;
    for (size_t i = 1; i < nf; i++) {
      if (strncmp(f[i], "total=", 6) == 0) {
        double v;
        if (!ph_parse_double(f[i] + 6, &v)) return -1;
        *out = v / 1000 / 1000;
        return 1;
      }
    }
    return -1;
  }
  return 0;
}

static int read_psi(collect_ctx_t *c, const char *res, double *some,
                    double *full, bool *has_some, bool *has_full) {
  char path[PATH_MAX], *data;
  size_t len;
  int rc = cc_read_file(c, cc_proc(c, path, sizeof(path), "pressure/%s", res), &data, &len);
  if (rc < 0) return rc;
  char *copy = arena_strndup(c->arena, data, len);
  if (copy == NULL) return PH_ELIMIT;
  int hs = psi_total(data, "some", some);
  int hf = psi_total(copy, "full", full);
  if (hs < 0 || hf < 0)
    return cc_fail(c, PH_EPARSE, "%s: malformed pressure line", path);
  *has_some = hs > 0;
  *has_full = hf > 0;
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
