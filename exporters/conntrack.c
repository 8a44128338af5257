/*
 * conntrack.c - the conntrack collector: table size and limit from
 * /proc/sys/net/netfilter/nf_conntrack_{count,max}, and the per-CPU
 * counters of /proc/net/stat/nf_conntrack (hex columns named by its header)
 * summed over CPUs.  No conntrack files means no data.
 */
#include "exporter_int.h"

#include "ph_error.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

static const struct {
  const char *col, *name, *help;
} stats[] = {
    {"found", "node_nf_conntrack_stat_found", "Number of searched entries which were successful."},
    {"invalid", "node_nf_conntrack_stat_invalid", "Number of packets seen which can not be tracked."},
    {"ignore", "node_nf_conntrack_stat_ignore", "Number of packets seen which are already connected to a conntrack entry."},
    {"insert", "node_nf_conntrack_stat_insert", "Number of entries inserted into the list."},
    {"insert_failed", "node_nf_conntrack_stat_insert_failed", "Number of entries for which list insertion was attempted but failed."},
    {"drop", "node_nf_conntrack_stat_drop", "Number of packets dropped due to conntrack failure."},
    {"early_drop", "node_nf_conntrack_stat_early_drop", "Number of dropped conntrack entries to make room for new ones, if maximum table size was reached."},
    {"search_restart", "node_nf_conntrack_stat_search_restart", "Number of conntrack table lookups which had to be restarted due to hashtable resizes."},
};
#define NSTATS (sizeof(stats) / sizeof(stats[0]))

static int conntrack_collect(collect_ctx_t *c, void *state) {
  (void)state;
  char path[PATH_MAX];
  double v;
  int rc = ph_read_double(cc_proc(c, path, sizeof(path), "sys/net/netfilter/nf_conntrack_count"), &v);
  if (rc < 0) return rc == PH_ENOTFOUND ? PH_ENOTFOUND : rc;
  cc_gauge(c, "node_nf_conntrack_entries",
           "Number of currently allocated flow entries for connection tracking.", v, NULL);
  rc = ph_read_double(cc_proc(c, path, sizeof(path), "sys/net/netfilter/nf_conntrack_max"), &v);
  if (rc < 0) return rc;
  cc_gauge(c, "node_nf_conntrack_entries_limit", "Maximum size of connection tracking table.",
           v, NULL);
  char *data, *line;
  size_t len;
  rc = cc_read_file(c, cc_proc(c, path, sizeof(path), "net/stat/nf_conntrack"), &data, &len);
  if (rc < 0) return rc;
  line = ph_next_line(&data);
  if (line == NULL) return PH_EPARSE;
  char *hdr[64];
  size_t nh = ph_fields(line, hdr, 64);
  int col[NSTATS];
  double sum[NSTATS] = {0};
  for (size_t k = 0; k < NSTATS; k++) {
    col[k] = -1;
    for (size_t i = 0; i < nh; i++)
      if (strcmp(hdr[i], stats[k].col) == 0) col[k] = (int)i;
  }
  while ((line = ph_next_line(&data)) != NULL) {
    char *f[64];
    size_t nf = ph_fields(line, f, 64);
    if (nf == 0) continue;
    if (nf != nh) return PH_EPARSE;
    for (size_t k = 0; k < NSTATS; k++) {
      if (col[k] < 0) continue;
      char *end;
      unsigned long long x = strtoull(f[col[k]], &end, 16);
      if (*end != '\0') return PH_EPARSE;
      sum[k] += (double)x;
    }
  }
  for (size_t k = 0; k < NSTATS; k++)
    cc_gauge(c, stats[k].name, stats[k].help, sum[k], NULL);
  return 0;
}

const collector_def_t collector_conntrack = {
    .name = "conntrack", .default_enabled = true, .collect = conntrack_collect};
