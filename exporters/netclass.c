/*
 * netclass.c - the netclass collector: network interface properties from
 * /sys/class/net/<iface>/ (every entry that is not a regular file, minus
 * --collector.netclass.ignored-devices).
 *
 * Integer attributes (parsed like Go's ParseInt base 0, so "0x1303" works)
 * become node_network_<property>{device}; strings go into node_network_info
 * {address,broadcast,duplex,operstate,adminstate,ifalias}; operstate "up"
 * gives node_network_up 1; speed (Mbit/s) becomes bytes/s, a negative speed
 * is dropped with --collector.netclass.ignore-invalid-speed.  Attributes the
 * kernel refuses to read (e.g. speed of a link that is down) are absent.
 */
#include "exporter_int.h"

#include "mem.h"
#include "ph_error.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const exporter_flag_t netclass_flags[] = {
    {"collector.netclass.ignored-devices", FLAG_STRING, "^$",
     "Regexp of net devices to ignore for netclass collector."},
    {"collector.netclass.ignore-invalid-speed", FLAG_BOOL, "false",
     "Ignore devices where the speed is invalid. This will be the default behavior in 2.x."},
    {"collector.netclass.netlink", FLAG_BOOL, "false",
     "Use netlink to gather stats instead of /proc/net/dev (not supported by pharos-exporter)."},
    {"collector.netclass_rtnl.with-stats", FLAG_BOOL, "false", NULL},
    {NULL, 0, NULL, NULL},
};

typedef struct netclass_state {
  ph_regex_t *ignored;
  bool ignore_invalid_speed;
} netclass_state_t;

static int netclass_init(const exporter_options_t *o, void **state, char *err, size_t errlen) {
  netclass_state_t *s = ph_calloc(1, sizeof(*s));
  *state = s;
  s->ignore_invalid_speed = exporter_options_get_bool(o, "collector.netclass.ignore-invalid-speed");
  s->ignored = ph_regex_new(exporter_options_get(o, "collector.netclass.ignored-devices"), err,
                            errlen);
  return s->ignored ? 0 : PH_EINVAL;
}

static void netclass_free(void *p) {
  netclass_state_t *s = p;
  if (s == NULL) return;
  ph_regex_free(s->ignored);
  free(s);
}

static bool read_attr(const char *dir, const char *file, char *out, size_t n) {
  char path[PATH_MAX];
  return ph_read_str(ph_pathf(path, sizeof(path), "%s/%s", dir, file), out, n) == 0;
}

static bool read_int(const char *dir, const char *file, double *v) {
  char buf[64];
  if (!read_attr(dir, file, buf, sizeof(buf))) return false;
  char *s = ph_trim(buf), *end;
  if (*s == '\0') return false;
  errno = 0;
  long long x = strtoll(s, &end, 0);
  if (*end != '\0' || errno != 0) return false;
  *v = (double)x;
  return true;
}

static const struct {
  const char *file, *name;
  bool counter;
} props[] = {
    {"addr_assign_type", "address_assign_type", false},
    {"carrier", "carrier", false},
    {"carrier_changes", "carrier_changes_total", true},
    {"carrier_up_count", "carrier_up_changes_total", true},
    {"carrier_down_count", "carrier_down_changes_total", true},
    {"dev_id", "device_id", false},
    {"dormant", "dormant", false},
    {"flags", "flags", false},
    {"ifindex", "iface_id", false},
    {"iflink", "iface_link", false},
    {"link_mode", "iface_link_mode", false},
    {"mtu", "mtu_bytes", false},
    {"netdev_group", "net_dev_group", false},
    {"name_assign_type", "name_assign_type", false},
    {"tx_queue_len", "transmit_queue_length", false},
    {"type", "protocol_type", false},
};

static int netclass_collect(collect_ctx_t *c, void *state) {
  netclass_state_t *s = state;
  char base[PATH_MAX], dir[PATH_MAX], **names;
  size_t n;
  int rc = cc_list_dir(c, cc_sys(c, base, sizeof(base), "class/net"), &names, &n);
  if (rc < 0) return rc;
  for (size_t i = 0; i < n; i++) {
    const char *dev = names[i];
    ph_pathf(dir, sizeof(dir), "%s/%s", base, dev);
    struct stat st;
    if (lstat(dir, &st) != 0 || S_ISREG(st.st_mode)) continue;
    if (ph_regex_match(s->ignored, dev)) continue;
    char oper[64] = "", addr[128] = "", bcast[128] = "", duplex[32] = "", alias[512] = "";
    read_attr(dir, "operstate", oper, sizeof(oper));
    read_attr(dir, "address", addr, sizeof(addr));
    read_attr(dir, "broadcast", bcast, sizeof(bcast));
    read_attr(dir, "duplex", duplex, sizeof(duplex));
    read_attr(dir, "ifalias", alias, sizeof(alias));
    cc_gauge(c, "node_network_up", "Value is 1 if operstate is 'up', 0 otherwise.",
             strcmp(oper, "up") == 0 ? 1 : 0, "device", dev, NULL);
    double flags;
    const char *admin = "unknown";
    if (read_int(dir, "flags", &flags)) admin = ((long long)flags & 1) ? "up" : "down";
    cc_gauge(c, "node_network_info",
             "Non-numeric data from /sys/class/net/<iface>, value is always 1.", 1, "device", dev,
             "address", addr, "broadcast", bcast, "duplex", duplex, "operstate", oper,
             "adminstate", admin, "ifalias", alias, NULL);
    for (size_t k = 0; k < sizeof(props) / sizeof(props[0]); k++) {
      double v;
      if (!read_int(dir, props[k].file, &v)) continue;
      char name[128], help[128];
      snprintf(name, sizeof(name), "node_network_%s", props[k].name);
      snprintf(help, sizeof(help), "Network device property: %s", props[k].name);
      if (props[k].counter)
        cc_counter(c, name, help, v, "device", dev, NULL);
      else
        cc_gauge(c, name, help, v, "device", dev, NULL);
    }
    double speed;
    if (read_int(dir, "speed", &speed) && (speed >= 0 || !s->ignore_invalid_speed))
      cc_gauge(c, "node_network_speed_bytes", "Network device property: speed_bytes",
               (double)((long long)speed * 1000 * 1000 / 8), "device", dev, NULL);
  }
  return 0;
}

const collector_def_t collector_netclass = {
    .name = "netclass",
    .default_enabled = true,
    .flags = netclass_flags,
    .init = netclass_init,
    .free = netclass_free,
    .collect = netclass_collect,
};
