/*
 * entropy.c - the entropy collector: node_entropy_available_bits and
 * node_entropy_pool_size_bits from /proc/sys/kernel/random.
 */
#include "exporter_int.h"

#include <limits.h>

static int entropy_collect(collect_ctx_t *c, void *state) {
  (void)state;
  char path[PATH_MAX];
  double v;
  int rc = ph_read_double(cc_proc(c, path, sizeof(path), "sys/kernel/random/entropy_avail"), &v);
  if (rc < 0) return rc;
  cc_gauge(c, "node_entropy_available_bits", "Bits of available entropy.", v, NULL);
  rc = ph_read_double(cc_proc(c, path, sizeof(path), "sys/kernel/random/poolsize"), &v);
  if (rc < 0) return rc;
  cc_gauge(c, "node_entropy_pool_size_bits", "Bits of entropy pool.", v, NULL);
  return 0;
}

const collector_def_t collector_entropy = {
    .name = "entropy", .default_enabled = true, .collect = entropy_collect};
