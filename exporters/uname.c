/*
 * uname.c - the uname collector: uname(2) as node_uname_info{sysname,
 * release, version, machine, nodename, domainname} 1.  A "(none)" domain
 * name is reported as is, like node_exporter.
 */
#include "exporter_int.h"

#include "ph_error.h"

#include <string.h>
#include <sys/utsname.h>

static int uname_collect(collect_ctx_t *c, void *state) {
  (void)state;
  struct utsname u;
  if (uname(&u) != 0) return PH_EIO;
  cc_gauge(c, "node_uname_info", "Labeled system information as provided by the uname system call.",
           1, "sysname", u.sysname, "release", u.release, "version", u.version, "machine",
           u.machine, "nodename", u.nodename, "domainname", u.domainname, NULL);
  return 0;
}

const collector_def_t collector_uname = {
    .name = "uname", .default_enabled = true, .collect = uname_collect};
