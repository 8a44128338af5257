/*
 * vmstat.c - the vmstat collector: /proc/vmstat lines "name value" whose
 * name matches --collector.vmstat.fields become untyped
 * node_vmstat_<name>.
 */
#include "exporter_int.h"

#include "mem.h"
#include "ph_error.h"

#include <limits.h>
#include <stdio.h>

static const exporter_flag_t vmstat_flags[] = {
    {"collector.vmstat.fields", FLAG_STRING, "^(oom_kill|pgpg|pswp|pg.*fault).*",
     "Regexp of fields to return for vmstat collector."},
    {NULL, 0, NULL, NULL},
};

static int vmstat_init(const exporter_options_t *o, void **state, char *err,
                       size_t errlen) {
  ph_regex_t *re = ph_regex_new(exporter_options_get(o, "collector.vmstat.fields"), err, errlen);
  *state = re;
  return re ? 0 : PH_EINVAL;
}

static void vmstat_free(void *s) { ph_regex_free(s); }

static int vmstat_collect(collect_ctx_t *c, void *state) {
  char path[PATH_MAX], *data, *line;
  size_t len;
  int rc = cc_read_file(c, cc_proc(c, path, sizeof(path), "vmstat"), &data, &len);
  if (rc < 0) return rc;
  while ((line = ph_next_line(&data)) != NULL) {
    char *f[3];
    if (ph_fields(line, f, 3) != 2) continue;
    if (!ph_regex_match(state, f[0])) continue;
    double v;
    if (!ph_parse_double(f[1], &v)) return PH_EPARSE;
    char name[256], help[300];
    snprintf(name, sizeof(name), "node_vmstat_%s", f[0]);
    snprintf(help, sizeof(help), "/proc/vmstat information field %s.", f[0]);
    cc_untyped(c, name, help, v, NULL);
  }
  return 0;
}

const collector_def_t collector_vmstat = {
    .name = "vmstat",
    .default_enabled = true,
    .flags = vmstat_flags,
    .init = vmstat_init,
    .free = vmstat_free,
    .collect = vmstat_collect,
};
