/*
 * bonding.c - the bonding collector: for each master listed in
 * /sys/class/net/bonding_masters, its slaves (<master>/bonding/slaves)
 * and how many of them have mii_status "up"
 * (<master>/lower_<slave>/bonding_slave/mii_status, or slave_<slave>/ on
 * older kernels).
 */
#include "exporter_int.h"

#include "ph_error.h"

#include <limits.h>
#include <string.h>

static int bonding_collect(collect_ctx_t *c, void *state) {
  (void)state;
  char base[PATH_MAX], path[PATH_MAX], masters[4096];
  cc_sys(c, base, sizeof(base), "class/net");
  int rc = ph_read_str(ph_pathf(path, sizeof(path), "%s/bonding_masters", base), masters,
                       sizeof(masters));
  if (rc < 0) return rc;
  char *m[256];
  size_t nm = ph_fields(masters, m, 256);
  for (size_t i = 0; i < nm; i++) {
    char slaves[4096];
    rc = ph_read_str(ph_pathf(path, sizeof(path), "%s/%s/bonding/slaves", base, m[i]), slaves,
                     sizeof(slaves));
    if (rc < 0) return rc;
    char *s[256];
    size_t ns = ph_fields(slaves, s, 256);
    double active = 0;
    for (size_t k = 0; k < ns; k++) {
      char st[32];
      rc = ph_read_str(ph_pathf(path, sizeof(path), "%s/%s/lower_%s/bonding_slave/mii_status",
                                base, m[i], s[k]), st, sizeof(st));
      if (rc == PH_ENOTFOUND)
        rc = ph_read_str(ph_pathf(path, sizeof(path), "%s/%s/slave_%s/bonding_slave/mii_status",
                                  base, m[i], s[k]), st, sizeof(st));
      if (rc < 0) return rc;
      if (strcmp(ph_trim(st), "up") == 0) active++;
    }
    cc_gauge(c, "node_bonding_slaves", "Number of configured slaves per bonding interface.",
             (double)ns, "master", m[i], NULL);
    cc_gauge(c, "node_bonding_active", "Number of active slaves per bonding interface.", active,
             "master", m[i], NULL);
  }
  return 0;
}

const collector_def_t collector_bonding = {
    .name = "bonding", .default_enabled = true, .collect = bonding_collect};
