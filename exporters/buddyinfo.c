/*
 * buddyinfo.c - the buddyinfo collector (off by default): free memory
 * blocks per order from /proc/buddyinfo ("Node 0, zone DMA32 759 572 …")
 * as node_buddyinfo_blocks{node,zone,size} with size the order.
 */
#include "exporter_int.h"

#include "ph_error.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

static int buddyinfo_collect(collect_ctx_t *c, void *state) {
  (void)state;
  char path[PATH_MAX], *data, *line;
  size_t len;
  int rc = cc_read_file(c, cc_proc(c, path, sizeof(path), "buddyinfo"), &data, &len);
  if (rc < 0) return rc;
  while ((line = ph_next_line(&data)) != NULL) {
    char *f[64];
    size_t nf = ph_fields(line, f, 64);
    if (nf == 0) continue;
    if (nf < 4 || strcmp(f[0], "Node") != 0 || strcmp(f[2], "zone") != 0) return PH_EPARSE;
    size_t nl = strlen(f[1]);
    if (nl > 0 && f[1][nl - 1] == ',') f[1][nl - 1] = '\0';
    for (size_t i = 4; i < nf; i++) {
      double v;
      if (!ph_parse_double(f[i], &v)) return PH_EPARSE;
      char size[24];
      snprintf(size, sizeof(size), "%zu", i - 4);
      cc_gauge(c, "node_buddyinfo_blocks", "Count of free blocks according to size.", v, "node",
               f[1], "zone", f[3], "size", size, NULL);
    }
  }
  return 0;
}

const collector_def_t collector_buddyinfo = {
    .name = "buddyinfo", .default_enabled = false, .collect = buddyinfo_collect};
