/*
 * nvme.c - the nvme collector: node_nvme_info{device,firmware_revision,
 * model,serial,state} for each controller in /sys/class/nvme.
 */
#include "exporter_int.h"

#include "ph_error.h"

#include <limits.h>

static int nvme_collect(collect_ctx_t *c, void *state) {
  (void)state;
  char base[PATH_MAX], path[PATH_MAX], **names;
  size_t n;
  int rc = cc_list_dir(c, cc_sys(c, base, sizeof(base), "class/nvme"), &names, &n);
  if (rc < 0) return rc;
  for (size_t i = 0; i < n; i++) {
    char fw[256] = "", model[256] = "", serial[256] = "", st[64] = "";
    if (ph_read_str(ph_pathf(path, sizeof(path), "%s/%s/firmware_rev", base, names[i]), fw, sizeof(fw)) < 0 ||
        ph_read_str(ph_pathf(path, sizeof(path), "%s/%s/model", base, names[i]), model, sizeof(model)) < 0 ||
        ph_read_str(ph_pathf(path, sizeof(path), "%s/%s/serial", base, names[i]), serial, sizeof(serial)) < 0 ||
        ph_read_str(ph_pathf(path, sizeof(path), "%s/%s/state", base, names[i]), st, sizeof(st)) < 0)
      return PH_EIO;
    cc_gauge(c, "node_nvme_info", "Non-numeric data from /sys/class/nvme/<device>, value is always 1.",
             1, "device", names[i], "firmware_revision", ph_trim(fw), "model", ph_trim(model),
             "serial", ph_trim(serial), "state", ph_trim(st), NULL);
  }
  return 0;
}

const collector_def_t collector_nvme = {
    .name = "nvme", .default_enabled = true, .collect = nvme_collect};
