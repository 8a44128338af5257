/*
 * cpufreq.c - the cpufreq collector: per CPU, the files of
 * /sys/devices/system/cpu/cpuN/cpufreq/ (kHz) as hertz:
 *   cpuinfo_{cur,max,min}_freq  -> node_cpu_frequency{,_max,_min}_hertz
 *   scaling_{cur,max,min}_freq  -> node_cpu_scaling_frequency{,_max,_min}_hertz
 *   scaling_available_governors -> node_cpu_scaling_governor{cpu,governor}
 *                                  (1 for scaling_governor, else 0)
 * Missing files are skipped.
 */
#include "exporter_int.h"

#include "ph_error.h"

#include <limits.h>
#include <string.h>

static const struct {
  const char *file, *name, *help;
} freqs[] = {
    {"cpuinfo_cur_freq", "node_cpu_frequency_hertz", "Current CPU thread frequency in hertz."},
    {"cpuinfo_max_freq", "node_cpu_frequency_max_hertz", "Maximum CPU thread frequency in hertz."},
    {"cpuinfo_min_freq", "node_cpu_frequency_min_hertz", "Minimum CPU thread frequency in hertz."},
    {"scaling_cur_freq", "node_cpu_scaling_frequency_hertz",
     "Current scaled CPU thread frequency in hertz."},
    {"scaling_max_freq", "node_cpu_scaling_frequency_max_hertz",
     "Maximum scaled CPU thread frequency in hertz."},
    {"scaling_min_freq", "node_cpu_scaling_frequency_min_hertz",
     "Minimum scaled CPU thread frequency in hertz."},
};

static int cpufreq_collect(collect_ctx_t *c, void *state) {
  (void)state;
  char dir[PATH_MAX], path[PATH_MAX], **names;
  size_t n;
  int rc = cc_list_dir(c, cc_sys(c, dir, sizeof(dir), "devices/system/cpu"), &names, &n);
  if (rc < 0) return rc;
  for (size_t i = 0; i < n; i++) {
    const char *nm = names[i];
    if (strncmp(nm, "cpu", 3) != 0 || nm[3] < '0' || nm[3] > '9') continue;
    const char *cpu = nm + 3;
    for (size_t k = 0; k < sizeof(freqs) / sizeof(freqs[0]); k++) {
      double v;
      if (ph_read_double(ph_pathf(path, sizeof(path), "%s/%s/cpufreq/%s", dir, nm, freqs[k].file),
                         &v) == 0)
        cc_gauge(c, freqs[k].name, freqs[k].help, v * 1000.0, "cpu", cpu, NULL);
    }
    char avail[1024], cur[256];
    if (ph_read_str(ph_pathf(path, sizeof(path), "%s/%s/cpufreq/scaling_available_governors",
                             dir, nm), avail, sizeof(avail)) < 0 ||
        ph_read_str(ph_pathf(path, sizeof(path), "%s/%s/cpufreq/scaling_governor", dir, nm), cur,
                    sizeof(cur)) < 0)
      continue;
    char *g[64];
    size_t ng = ph_fields(avail, g, 64);
    for (size_t k = 0; k < ng; k++)
      cc_gauge(c, "node_cpu_scaling_governor", "Current enabled CPU frequency governor.",
               strcmp(g[k], ph_trim(cur)) == 0 ? 1 : 0, "cpu", cpu, "governor", g[k], NULL);
  }
  return 0;
}

const collector_def_t collector_cpufreq = {
    .name = "cpufreq", .default_enabled = true, .collect = cpufreq_collect};
