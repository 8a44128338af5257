/*
 * ksmd.c - the ksmd collector (off by default): kernel samepage merging
 * state from /sys/kernel/mm/ksm/ (full_scans as a counter, sleep_millisecs
 * in seconds, the rest as gauges).
 */
#include "exporter_int.h"

#include "ph_error.h"

#include <limits.h>
#include <stdio.h>

static const struct {
  const char *file, *name;
  bool counter;
  double scale;
} files[] = {
    {"full_scans", "node_ksmd_full_scans_total", true, 1},
    {"merge_across_nodes", "node_ksmd_merge_across_nodes", false, 1},
    {"pages_shared", "node_ksmd_pages_shared", false, 1},
    {"pages_sharing", "node_ksmd_pages_sharing", false, 1},
    {"pages_to_scan", "node_ksmd_pages_to_scan", false, 1},
    {"pages_unshared", "node_ksmd_pages_unshared", false, 1},
    {"pages_volatile", "node_ksmd_pages_volatile", false, 1},
    {"run", "node_ksmd_run", false, 1},
    {"sleep_millisecs", "node_ksmd_sleep_seconds", false, 0.001},
};

static int ksmd_collect(collect_ctx_t *c, void *state) {
  (void)state;
  char path[PATH_MAX];
  for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
    double v;
    int rc = ph_read_double(cc_sys(c, path, sizeof(path), "kernel/mm/ksm/%s", files[i].file), &v);
    if (rc < 0) return rc;
    char help[96];
    snprintf(help, sizeof(help), "ksmd '%s' file.", files[i].file);
    if (files[i].counter)
      cc_counter(c, files[i].name, help, v * files[i].scale, NULL);
    else
      cc_gauge(c, files[i].name, help, v * files[i].scale, NULL);
  }
  return 0;
}

const collector_def_t collector_ksmd = {
    .name = "ksmd", .default_enabled = false, .collect = ksmd_collect};
