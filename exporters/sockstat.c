/*
 * sockstat.c - the sockstat collector: /proc/net/sockstat and sockstat6.
 *
 *   "sockets: used 229"            -> node_sockstat_sockets_used
 *   "TCP: inuse 4 orphan 0 … mem 1" -> node_sockstat_TCP_inuse, …,
 *                                     node_sockstat_TCP_mem and
 *                                     node_sockstat_TCP_mem_bytes (pages)
 * Only the fields node_exporter knows (inuse, orphan, tw, alloc, mem,
 * memory) are exported.
 */
#include "exporter_int.h"

#include "ph_error.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *const known[] = {"inuse", "orphan", "tw", "alloc", "mem",
                                    "memory"};

/* One "PROTO: key value …" line; PH_EPARSE (recorded) when a value is not
 * a number or a key has no value, as node_exporter (procfs) refuses it. */
static int proto_line(collect_ctx_t *c, const char *path, char **f, size_t nf) {
  char proto[64];
  snprintf(proto, sizeof(proto), "%s", f[0]);
  size_t pl = strlen(proto);
  if (pl > 0 && proto[pl - 1] == ':') proto[pl - 1] = '\0';
  if ((nf - 1) % 2 != 0)
    return cc_fail(c, PH_EPARSE, "%s: odd number of fields in the %s line", path, proto);
  for (size_t i = 1; i + 1 < nf; i += 2) {
    double v;
    if (!ph_parse_double(f[i + 1], &v))
      return cc_fail(c, PH_EPARSE, "%s: %s %s is not a number", path, proto, f[i]);
    bool ok = false;
    for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
      if (strcmp(f[i], known[k]) == 0) ok = true;
    if (!ok) continue;
    char name[160], help[200];
    snprintf(name, sizeof(name), "node_sockstat_%s_%s", proto, f[i]);
    snprintf(help, sizeof(help), "Number of %s sockets in state %s.", proto, f[i]);
    cc_gauge(c, name, help, v, NULL);
    if (strcmp(f[i], "mem") == 0) {
      snprintf(name, sizeof(name), "node_sockstat_%s_mem_bytes", proto);
      snprintf(help, sizeof(help), "Number of %s sockets in state mem_bytes.", proto);
      cc_gauge(c, name, help, v * (double)getpagesize(), NULL);
    }
  }
  return 0;
}

static int read_one(collect_ctx_t *c, const char *file) {
  char path[PATH_MAX], *data, *line;
  size_t len;
  int rc = cc_read_file(c, cc_proc(c, path, sizeof(path), "%s", file), &data, &len);
  if (rc < 0) return rc;
  while ((line = ph_next_line(&data)) != NULL) {
    char *f[32];
    size_t nf = ph_fields(line, f, 32);
    if (nf < 3) continue;
    if (strcmp(f[0], "sockets:") == 0) {
      double v;
      if (strcmp(f[1], "used") != 0) continue;
      if (!ph_parse_double(f[2], &v))
        return cc_fail(c, PH_EPARSE, "%s: sockets used is not a number", path);
      cc_gauge(c, "node_sockstat_sockets_used", "Number of IPv4 sockets in use.", v, NULL);
      continue;
    }
    rc = proto_line(c, path, f, nf);
    if (rc < 0) return rc;
  }
  return 0;
}

static int sockstat_collect(collect_ctx_t *c, void *state) {
  (void)state;
  int rc = read_one(c, "net/sockstat");
  if (rc < 0) return rc;
  rc = read_one(c, "net/sockstat6");
  if (rc < 0 && rc != PH_ENOTFOUND) return rc; /* IPv6 may be disabled */
  return 0;
}

const collector_def_t collector_sockstat = {
    .name = "sockstat", .default_enabled = true, .collect = sockstat_collect};
