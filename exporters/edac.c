/*
 * edac.c - the edac collector: memory controller error counters from
 * /sys/devices/system/edac/mc/mcN/ (ce_count, ue_count, and the
 * "noinfo" counts reported as csrow="unknown") and each csrowM/.
 */
#include "exporter_int.h"

#include "ph_error.h"

#include <limits.h>
#include <string.h>

static int edac_collect(collect_ctx_t *c, void *state) {
  (void)state;
  char base[PATH_MAX], path[PATH_MAX], **mcs;
  size_t nmc;
  int rc = cc_list_dir(c, cc_sys(c, base, sizeof(base), "devices/system/edac/mc"), &mcs, &nmc);
  if (rc == PH_ENOTFOUND) return 0; /* no EDAC: nothing to report, not a failure */
  if (rc < 0) return rc;
  for (size_t i = 0; i < nmc; i++) {
    if (strncmp(mcs[i], "mc", 2) != 0 || mcs[i][2] < '0' || mcs[i][2] > '9') continue;
    const char *ctl = mcs[i] + 2;
    double v;
    static const char *ch = "Total correctable memory errors for this csrow.";
    static const char *uh = "Total uncorrectable memory errors for this csrow.";
    if (ph_read_double(ph_pathf(path, sizeof(path), "%s/%s/ce_count", base, mcs[i]), &v) < 0)
      return PH_EIO;
    cc_counter(c, "node_edac_correctable_errors_total", "Total correctable memory errors.", v,
               "controller", ctl, NULL);
    if (ph_read_double(ph_pathf(path, sizeof(path), "%s/%s/ue_count", base, mcs[i]), &v) < 0)
      return PH_EIO;
    cc_counter(c, "node_edac_uncorrectable_errors_total", "Total uncorrectable memory errors.", v,
               "controller", ctl, NULL);
    if (ph_read_double(ph_pathf(path, sizeof(path), "%s/%s/ce_noinfo_count", base, mcs[i]), &v) == 0)
      cc_counter(c, "node_edac_csrow_correctable_errors_total", ch, v, "controller", ctl, "csrow",
                 "unknown", NULL);
    if (ph_read_double(ph_pathf(path, sizeof(path), "%s/%s/ue_noinfo_count", base, mcs[i]), &v) == 0)
      cc_counter(c, "node_edac_csrow_uncorrectable_errors_total", uh, v, "controller", ctl,
                 "csrow", "unknown", NULL);
    char dir[PATH_MAX], **rows;
    size_t nrows;
    if (cc_list_dir(c, ph_pathf(dir, sizeof(dir), "%s/%s", base, mcs[i]), &rows, &nrows) < 0)
      continue;
    for (size_t k = 0; k < nrows; k++) {
      if (strncmp(rows[k], "csrow", 5) != 0 || rows[k][5] < '0' || rows[k][5] > '9') continue;
      const char *row = rows[k] + 5;
      if (ph_read_double(ph_pathf(path, sizeof(path), "%s/%s/ce_count", dir, rows[k]), &v) < 0)
        return PH_EIO;
      cc_counter(c, "node_edac_csrow_correctable_errors_total", ch, v, "controller", ctl, "csrow",
                 row, NULL);
      if (ph_read_double(ph_pathf(path, sizeof(path), "%s/%s/ue_count", dir, rows[k]), &v) < 0)
        return PH_EIO;
      cc_counter(c, "node_edac_csrow_uncorrectable_errors_total", uh, v, "controller", ctl,
                 "csrow", row, NULL);
    }
  }
  return 0;
}

const collector_def_t collector_edac = {
    .name = "edac", .default_enabled = true, .collect = edac_collect};
