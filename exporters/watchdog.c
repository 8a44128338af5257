/*
 * watchdog.c - the watchdog collector: for each /sys/class/watchdog/<wd>,
 * the numeric attributes present (bootstatus, fw_version, nowayout,
 * access_cs0, and timeleft/timeout/pretimeout in seconds) and
 * node_watchdog_info with the string attributes (empty when absent).
 */
#include "exporter_int.h"

#include "ph_error.h"

#include <limits.h>
#include <stdio.h>

static const struct {
  const char *file, *name;
} nums[] = {
    {"bootstatus", "node_watchdog_bootstatus"},
    {"fw_version", "node_watchdog_fw_version"},
    {"nowayout", "node_watchdog_nowayout"},
    {"timeleft", "node_watchdog_timeleft_seconds"},
    {"timeout", "node_watchdog_timeout_seconds"},
    {"pretimeout", "node_watchdog_pretimeout_seconds"},
    {"access_cs0", "node_watchdog_access_cs0"},
};

static int watchdog_collect(collect_ctx_t *c, void *state) {
  (void)state;
  char base[PATH_MAX], path[PATH_MAX], **names;
  size_t n;
  int rc = cc_list_dir(c, cc_sys(c, base, sizeof(base), "class/watchdog"), &names, &n);
  if (rc < 0) return rc;
  for (size_t i = 0; i < n; i++) {
    for (size_t k = 0; k < sizeof(nums) / sizeof(nums[0]); k++) {
      double v;
      if (ph_read_double(ph_pathf(path, sizeof(path), "%s/%s/%s", base, names[i], nums[k].file), &v) < 0)
        continue;
      char help[160];
      snprintf(help, sizeof(help), "Value of /sys/class/watchdog/<watchdog>/%s", nums[k].file);
      cc_gauge(c, nums[k].name, help, v, "name", names[i], NULL);
    }
    static const char *const strs[] = {"options", "identity", "state", "status",
                                       "pretimeout_governor"};
    char vals[5][256];
    for (size_t k = 0; k < 5; k++) {
      vals[k][0] = '\0';
      if (ph_read_str(ph_pathf(path, sizeof(path), "%s/%s/%s", base, names[i], strs[k]), vals[k],
                      sizeof(vals[k])) < 0)
        vals[k][0] = '\0';
    }
    cc_gauge(c, "node_watchdog_info", "Info of /sys/class/watchdog/<watchdog>", 1, "name",
             names[i], "options", vals[0], "identity", vals[1], "state", vals[2], "status",
             vals[3], "pretimeout_governor", vals[4], NULL);
  }
  return 0;
}

const collector_def_t collector_watchdog = {
    .name = "watchdog", .default_enabled = true, .collect = watchdog_collect};
