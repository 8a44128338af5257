/*
 * stat.c - the stat collector: kernel counters from /proc/stat.
 *
 *   intr N ...       node_intr_total (the first number: all interrupts)
 *   ctxt N           node_context_switches_total
 *   btime N          node_boot_time_seconds
 *   processes N      node_forks_total
 *   procs_running N  node_procs_running
 *   procs_blocked N  node_procs_blocked
 *   softirq N a b …  node_softirqs_total{vector} with --collector.stat.softirq
 */
#include "exporter_int.h"

#include "mem.h"
#include "ph_error.h"

#include <limits.h>
#include <string.h>

static const exporter_flag_t stat_flags[] = {
    {"collector.stat.softirq", FLAG_BOOL, "false",
     "Export softirq calls per vector"},
    {NULL, 0, NULL, NULL},
};

static const char *const vectors[] = {"hi",      "timer",        "net_tx",
                                      "net_rx",  "block",        "block_iopoll",
                                      "tasklet", "sched",        "hrtimer",
                                      "rcu"};

static int stat_init(const exporter_options_t *o, void **state, char *err,
                     size_t errlen) {
  (void)err;
  (void)errlen;
  *state = exporter_options_get_bool(o, "collector.stat.softirq") ? (void *)1
                                                                  : NULL;
  return 0;
}

static int stat_collect(collect_ctx_t *c, void *state) {
  char path[PATH_MAX], *data, *line;
  size_t len;
  int rc = cc_read_file(c, cc_proc(c, path, sizeof(path), "stat"), &data, &len);
  if (rc < 0) return rc;
  double intr = 0, ctxt = 0, btime = 0, forks = 0, running = 0, blocked = 0;
  double soft[10] = {0};
  while ((line = ph_next_line(&data)) != NULL) {
    char *f[16];
    size_t nf = ph_fields(line, f, 16);
    if (nf < 2) continue;
    double v;
    /* node_exporter (procfs) refuses a /proc/stat whose cpu lines or
     * known counters are not numbers */
    bool known = ph_has_prefix(f[0], "cpu") || strcmp(f[0], "intr") == 0 ||
                 strcmp(f[0], "ctxt") == 0 || strcmp(f[0], "btime") == 0 ||
                 strcmp(f[0], "processes") == 0 || strcmp(f[0], "procs_running") == 0 ||
                 strcmp(f[0], "procs_blocked") == 0;
    if (!ph_parse_double(f[1], &v)) {
      if (known) return cc_fail(c, PH_EPARSE, "%s: cannot parse \"%s\" line", path, f[0]);
      continue;
    }
    if (ph_has_prefix(f[0], "cpu")) {
      for (size_t k = 2; k < nf; k++)
        if (!ph_parse_double(f[k], &v))
          return cc_fail(c, PH_EPARSE, "%s: cannot parse \"%s\" line", path, f[0]);
      continue;
    }
    if (strcmp(f[0], "intr") == 0) intr = v;
    else if (strcmp(f[0], "ctxt") == 0) ctxt = v;
    else if (strcmp(f[0], "btime") == 0) btime = v;
    else if (strcmp(f[0], "processes") == 0) forks = v;
    else if (strcmp(f[0], "procs_running") == 0) running = v;
    else if (strcmp(f[0], "procs_blocked") == 0) blocked = v;
    else if (strcmp(f[0], "softirq") == 0) {
      for (size_t k = 0; k < 10 && k + 2 < nf; k++)
        if (!ph_parse_double(f[k + 2], &soft[k]))
          return cc_fail(c, PH_EPARSE, "%s: cannot parse \"softirq\" line", path);
    }
  }
  cc_counter(c, "node_intr_total", "Total number of interrupts serviced.",
             intr, NULL);
  cc_counter(c, "node_context_switches_total",
             "Total number of context switches.", ctxt, NULL);
  cc_counter(c, "node_forks_total", "Total number of forks.", forks, NULL);
  cc_gauge(c, "node_boot_time_seconds", "Node boot time, in unixtime.", btime,
           NULL);
  cc_gauge(c, "node_procs_running", "Number of processes in runnable state.",
           running, NULL);
  cc_gauge(c, "node_procs_blocked",
           "Number of processes blocked waiting for I/O to complete.", blocked,
           NULL);
  if (state != NULL)
    for (size_t k = 0; k < 10; k++)
      cc_counter(c, "node_softirqs_total", "Number of softirq calls.", soft[k],
                 "vector", vectors[k], NULL);
  return 0;
}

const collector_def_t collector_stat = {
    .name = "stat",
    .default_enabled = true,
    .flags = stat_flags,
    .init = stat_init,
    .collect = stat_collect,
};
