/*
 * meminfo.c - the meminfo collector: one gauge per /proc/meminfo line.
 *
 *   "Active(anon):    2020004 kB"  ->  node_memory_Active_anon_bytes 2068484096
 *   "HugePages_Total:       0"     ->  node_memory_HugePages_Total 0
 *
 * A key's "(x)" becomes "_x"; a value in kB is multiplied by 1024 and the
 * name gets "_bytes", as node_exporter does.
 */
#include "exporter_int.h"

#include "ph_error.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

static int meminfo_collect(collect_ctx_t *c, void *state) {
  (void)state;
  char path[PATH_MAX], *data, *line;
  size_t len;
  int rc = cc_read_file(c, cc_proc(c, path, sizeof(path), "meminfo"), &data, &len);
  if (rc < 0) return rc;
  int n = 0;
  while ((line = ph_next_line(&data)) != NULL) {
    char *f[4];
    size_t nf = ph_fields(line, f, 4);
    if (nf == 0) continue;
    if (nf < 2 || nf > 3) return PH_EPARSE;
    double v;
    if (!ph_parse_double(f[1], &v)) return PH_EPARSE;
    char key[128];
    size_t k = 0;
    for (const char *p = f[0]; *p && k + 1 < sizeof(key); p++) {
      if (*p == ':' || *p == ')') continue;
      key[k++] = *p == '(' ? '_' : *p;
    }
    key[k] = '\0';
    if (nf == 3) {
      if (strcmp(f[2], "kB") != 0) return PH_EPARSE;
      v *= 1024;
      snprintf(key + k, sizeof(key) - k, "_bytes");
    }
    char name[160], help[200];
    snprintf(name, sizeof(name), "node_memory_%s", key);
    snprintf(help, sizeof(help), "Memory information field %s.", key);
    cc_gauge(c, name, help, v, NULL);
    n++;
  }
  return n > 0 ? 0 : PH_EPARSE;
}

const collector_def_t collector_meminfo = {
    .name = "meminfo", .default_enabled = true, .collect = meminfo_collect};
