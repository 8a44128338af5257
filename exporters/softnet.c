/*
 * softnet.c - the softnet collector: /proc/net/softnet_stat, one line of
 * hex columns per CPU: 0 processed, 1 dropped, 2 time_squeeze,
 * 8 cpu_collision, 9 received_rps, 10 flow_limit_count, 11 backlog length
 * and 12 the CPU id (Linux >= 5.10; before that the line number is the
 * CPU).
 */
#include "exporter_int.h"

#include "ph_error.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

static bool hex(const char *s, double *v) {
  char *end;
  unsigned long long x = strtoull(s, &end, 16);
  if (*s == '\0' || *end != '\0') return false;
  *v = (double)(uint32_t)x;
  return true;
}

static int softnet_collect(collect_ctx_t *c, void *state) {
  (void)state;
  char path[PATH_MAX], *data, *line;
  size_t len;
  int rc = cc_read_file(c, cc_proc(c, path, sizeof(path), "net/softnet_stat"), &data, &len);
  if (rc < 0) return rc;
  unsigned idx = 0;
  while ((line = ph_next_line(&data)) != NULL) {
    char *f[32];
    size_t nf = ph_fields(line, f, 32);
    if (nf == 0) continue;
    if (nf < 9) return PH_EPARSE;
    double v[13] = {0};
    size_t use = nf >= 13 ? 13 : nf >= 11 ? 11 : 9;
    for (size_t i = 0; i < use; i++)
      if (!hex(f[i], &v[i])) return PH_EPARSE;
    char cpu[16];
    snprintf(cpu, sizeof(cpu), "%u", nf >= 13 ? (unsigned)v[12] : idx);
    idx++;
    cc_counter(c, "node_softnet_processed_total", "Number of processed packets", v[0], "cpu", cpu, NULL);
    cc_counter(c, "node_softnet_dropped_total", "Number of dropped packets", v[1], "cpu", cpu, NULL);
    cc_counter(c, "node_softnet_times_squeezed_total",
               "Number of times processing packets ran out of quota", v[2], "cpu", cpu, NULL);
    cc_counter(c, "node_softnet_cpu_collision_total",
               "Number of collision occur while obtaining device lock while transmitting",
               v[8], "cpu", cpu, NULL);
    cc_counter(c, "node_softnet_received_rps_total",
               "Number of times cpu woken up received_rps", v[9], "cpu", cpu, NULL);
    cc_counter(c, "node_softnet_flow_limit_count_total",
               "Number of times flow limit has been reached", v[10], "cpu", cpu, NULL);
    cc_gauge(c, "node_softnet_backlog_len", "Softnet backlog status", v[11], "cpu", cpu, NULL);
  }
  return 0;
}

const collector_def_t collector_softnet = {
    .name = "softnet", .default_enabled = true, .collect = softnet_collect};
