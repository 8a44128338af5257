/*
 * cpu_vulnerabilities.c - the cpu_vulnerabilities collector (off by
 * default): each file of /sys/devices/system/cpu/vulnerabilities as
 * node_cpu_vulnerabilities_info{codename,state,mitigation} 1, where the
 * text "Mitigation: X", "Vulnerable: X", "Vulnerable" or "Not affected"
 * gives the state and the rest the mitigation.
 */
#include "exporter_int.h"

#include "ph_error.h"

#include <limits.h>
#include <string.h>

static int vuln_collect(collect_ctx_t *c, void *state) {
  (void)state;
  char base[PATH_MAX], path[PATH_MAX], **names;
  size_t n;
  int rc = cc_list_dir(c, cc_sys(c, base, sizeof(base), "devices/system/cpu/vulnerabilities"),
                       &names, &n);
  if (rc < 0) return rc;
  for (size_t i = 0; i < n; i++) {
    char buf[1024];
    if (ph_read_str(ph_pathf(path, sizeof(path), "%s/%s", base, names[i]), buf, sizeof(buf)) < 0)
      return PH_EIO;
    char *v = ph_trim(buf);
    const char *st, *mit;
    if (ph_has_prefix(v, "Vulnerable: ")) st = "vulnerable", mit = v + 12;
    else if (ph_has_prefix(v, "Mitigation: ")) st = "mitigation", mit = v + 12;
    else if (ph_has_prefix(v, "Not affected")) st = "not affected", mit = v + 12;
    else if (ph_has_prefix(v, "Vulnerable")) st = "vulnerable", mit = v + 10;
    else return PH_EPARSE;
    cc_gauge(c, "node_cpu_vulnerabilities_info",
             "Details of each CPU vulnerability reported by sysfs. The value of the series is an "
             "int encoded state of the vulnerability. The same state is stored as a string in the "
             "label",
             1, "codename", names[i], "state", st, "mitigation", mit, NULL);
  }
  return 0;
}

const collector_def_t collector_cpu_vulnerabilities = {
    .name = "cpu_vulnerabilities", .default_enabled = false, .collect = vuln_collect};
