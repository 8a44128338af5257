/*
 * udp_queues.c - the udp_queues collector: the tx_queue and rx_queue
 * columns ("txq:rxq" in hex) of /proc/net/udp and /proc/net/udp6 summed
 * into node_udp_queues{ip="v4"|"v6",queue="tx"|"rx"}.  A missing udp6
 * (IPv6 disabled) is skipped.
 */
#include "exporter_int.h"

#include "ph_error.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

static int sum_queues(collect_ctx_t *c, const char *file, double *tx, double *rx) {
  char path[PATH_MAX], *data, *line;
  size_t len;
  int rc = cc_read_file(c, cc_proc(c, path, sizeof(path), "%s", file), &data, &len);
  if (rc < 0) return rc;
  *tx = *rx = 0;
  ph_next_line(&data); /* header */
  while ((line = ph_next_line(&data)) != NULL) {
    char *f[6];
    if (ph_fields(line, f, 6) < 5) continue;
    char *colon = strchr(f[4], ':');
    if (colon == NULL) return PH_EPARSE;
    *colon = '\0';
    char *e1, *e2;
    unsigned long long t = strtoull(f[4], &e1, 16), r = strtoull(colon + 1, &e2, 16);
    if (*e1 || *e2) return PH_EPARSE;
    *tx += (double)t;
    *rx += (double)r;
  }
  return 0;
}

static int udp_queues_collect(collect_ctx_t *c, void *state) {
  (void)state;
  static const char *help = "Number of allocated memory in the kernel for UDP datagrams in bytes.";
  double tx, rx;
  int rc4 = sum_queues(c, "net/udp", &tx, &rx);
  if (rc4 == 0) {
    cc_gauge(c, "node_udp_queues", help, tx, "queue", "tx", "ip", "v4", NULL);
    cc_gauge(c, "node_udp_queues", help, rx, "queue", "rx", "ip", "v4", NULL);
  } else if (rc4 != PH_ENOTFOUND) {
    return rc4;
  }
  int rc6 = sum_queues(c, "net/udp6", &tx, &rx);
  if (rc6 == 0) {
    cc_gauge(c, "node_udp_queues", help, tx, "queue", "tx", "ip", "v6", NULL);
    cc_gauge(c, "node_udp_queues", help, rx, "queue", "rx", "ip", "v6", NULL);
  } else if (rc6 != PH_ENOTFOUND) {
    return rc6;
  }
  return rc4 == PH_ENOTFOUND && rc6 == PH_ENOTFOUND ? PH_ENOTFOUND : 0;
}

const collector_def_t collector_udp_queues = {
    .name = "udp_queues", .default_enabled = true, .collect = udp_queues_collect};
