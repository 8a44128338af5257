/*
 * filefd.c - the filefd collector: /proc/sys/fs/file-nr is
 * "allocated unused maximum"; node_filefd_allocated and
 * node_filefd_maximum.
 */
#include "exporter_int.h"

#include "ph_error.h"

#include <limits.h>

static int filefd_collect(collect_ctx_t *c, void *state) {
  (void)state;
  char path[PATH_MAX], *data, *f[4];
  size_t len;
  int rc = cc_read_file(c, cc_proc(c, path, sizeof(path), "sys/fs/file-nr"), &data, &len);
  if (rc < 0) return rc;
  double a, m;
  if (ph_fields(data, f, 4) != 3 || !ph_parse_double(f[0], &a) ||
      !ph_parse_double(f[2], &m))
    return PH_EPARSE;
  cc_gauge(c, "node_filefd_allocated", "File descriptor statistics: allocated.", a, NULL);
  cc_gauge(c, "node_filefd_maximum", "File descriptor statistics: maximum.", m, NULL);
  return 0;
}

const collector_def_t collector_filefd = {
    .name = "filefd", .default_enabled = true, .collect = filefd_collect};
