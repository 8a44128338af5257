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
 *
 * Netlink shortcut.  When --path.sysfs is the real "/sys" (exactly, as
 * node_exporter's defaults), one RTM_GETLINK dump on a NETLINK_ROUTE socket
 * (kept open between scrapes, statistics skipped with RTEXT_FILTER_SKIP_STATS)
 * gives most attributes of every interface at once, instead of ~23 sysfs
 * reads per interface.  The values are the ones sysfs shows:
 *
 *   sysfs file          netlink                 note
 *   ifindex, type       ifinfomsg index, type
 *   mtu, tx_queue_len   IFLA_MTU, IFLA_TXQLEN
 *   netdev_group        IFLA_GROUP
 *   link_mode           IFLA_LINKMODE
 *   iflink              IFLA_LINK               absent when equal to ifindex
 *   carrier_changes     IFLA_CARRIER_CHANGES
 *   carrier_up/down_count IFLA_CARRIER_UP/DOWN_COUNT
 *   carrier             IFLA_CARRIER            sysfs refuses it (EINVAL) when
 *   dormant             ifi_flags IFF_DORMANT     the device is not up: then
 *                                                 sysfs is asked, as before
 *   operstate           IFLA_OPERSTATE          name of the RFC 2863 state
 *   address, broadcast  IFLA_ADDRESS, _BROADCAST "%02x:" bytes; absent = ""
 *   ifalias             IFLA_IFALIAS            absent = ""
 *
 * flags (dev->flags; netlink's ifi_flags differ in promisc/allmulti and the
 * running bits), addr_assign_type, dev_id, name_assign_type, speed and
 * duplex have no netlink twin and are still read from sysfs; so is any
 * attribute an older kernel does not send, and every attribute of a device
 * the dump did not list.  With another --path.sysfs (fixture trees, or
 * "/sys/." to force it) everything is read from sysfs.
 */
#include "exporter_int.h"

#include "mem.h"
#include "ph_error.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

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
  bool netlink; /* --path.sysfs is the real /sys */
  int nlfd;     /* NETLINK_ROUTE socket kept between scrapes; -1 none */
  uint32_t seq;
} netclass_state_t;

static int netclass_init(const exporter_options_t *o, void **state, char *err, size_t errlen) {
  netclass_state_t *s = ph_calloc(1, sizeof(*s));
  *state = s;
  s->nlfd = -1;
  s->ignore_invalid_speed = exporter_options_get_bool(o, "collector.netclass.ignore-invalid-speed");
  const char *sys = exporter_options_get(o, "path.sysfs");
  s->netlink = sys != NULL && (strcmp(sys, "/sys") == 0 || strcmp(sys, "/sys/") == 0);
  s->ignored = ph_regex_new(exporter_options_get(o, "collector.netclass.ignored-devices"), err,
                            errlen);
  return s->ignored ? 0 : PH_EINVAL;
}

static void netclass_free(void *p) {
  netclass_state_t *s = p;
  if (s == NULL) return;
  ph_regex_free(s->ignored);
  if (s->nlfd >= 0) close(s->nlfd);
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

/* What netlink gives of an interface (see the table above). */
enum { NL_NONE = -1, NL_CARRIER, NL_CARRIER_CHANGES, NL_CARRIER_UP, NL_CARRIER_DOWN,
       NL_DORMANT, NL_IFINDEX, NL_IFLINK, NL_LINKMODE, NL_MTU, NL_GROUP, NL_TXQLEN,
       NL_TYPE, NL_N };

typedef struct nl_link {
  const char *name;    /* in the scrape's arena */
  bool up;             /* IFF_UP: sysfs answers carrier and dormant */
  bool have[NL_N];
  double val[NL_N];
  int oper;            /* IFLA_OPERSTATE, -1 absent */
  char addr[100], bcast[100];
  const char *alias;   /* in the arena; NULL absent */
} nl_link_t;

static const struct {
  const char *file, *name, *help;
  bool counter;
  int nl; /* NL_* source, NL_NONE: sysfs only */
} props[] = {
    {"addr_assign_type", "node_network_address_assign_type",
     "Network device property: address_assign_type", false, NL_NONE},
    {"carrier", "node_network_carrier", "Network device property: carrier", false, NL_CARRIER},
    {"carrier_changes", "node_network_carrier_changes_total",
     "Network device property: carrier_changes_total", true, NL_CARRIER_CHANGES},
    {"carrier_up_count", "node_network_carrier_up_changes_total",
     "Network device property: carrier_up_changes_total", true, NL_CARRIER_UP},
    {"carrier_down_count", "node_network_carrier_down_changes_total",
     "Network device property: carrier_down_changes_total", true, NL_CARRIER_DOWN},
    {"dev_id", "node_network_device_id", "Network device property: device_id", false, NL_NONE},
    {"dormant", "node_network_dormant", "Network device property: dormant", false, NL_DORMANT},
    {"flags", "node_network_flags", "Network device property: flags", false, NL_NONE},
    {"ifindex", "node_network_iface_id", "Network device property: iface_id", false, NL_IFINDEX},
    {"iflink", "node_network_iface_link", "Network device property: iface_link", false,
     NL_IFLINK},
    {"link_mode", "node_network_iface_link_mode", "Network device property: iface_link_mode",
     false, NL_LINKMODE},
    {"mtu", "node_network_mtu_bytes", "Network device property: mtu_bytes", false, NL_MTU},
    {"netdev_group", "node_network_net_dev_group", "Network device property: net_dev_group",
     false, NL_GROUP},
    {"name_assign_type", "node_network_name_assign_type",
     "Network device property: name_assign_type", false, NL_NONE},
    {"tx_queue_len", "node_network_transmit_queue_length",
     "Network device property: transmit_queue_length", false, NL_TXQLEN},
    {"type", "node_network_protocol_type", "Network device property: protocol_type", false,
     NL_TYPE},
};

/* RFC 2863 operational states as sysfs names them (net/core/net-sysfs.c). */
static const char *const operstates[] = {"unknown", "notpresent", "down", "lowerlayerdown",
                                         "testing", "dormant",    "up"};

static void format_mac(char *out, size_t n, const unsigned char *b, size_t len) {
  static const char hex[] = "0123456789abcdef";
  size_t k = 0;
  for (size_t i = 0; i < len && k + 4 <= n; i++) {
    if (i > 0) out[k++] = ':';
    out[k++] = hex[b[i] >> 4];
    out[k++] = hex[b[i] & 15];
  }
  out[k] = '\0';
}

static uint32_t rta_u32(const struct rtattr *a) {
  uint32_t v = 0; /* u8 (carrier, linkmode, operstate) or u32 attributes */
  if (RTA_PAYLOAD(a) >= sizeof(v))
    memcpy(&v, RTA_DATA(a), sizeof(v));
  else if (RTA_PAYLOAD(a) >= 1)
    v = *(const uint8_t *)RTA_DATA(a);
  return v;
}

/* Fills one record from an RTM_NEWLINK message; false without a name. */
static bool parse_link(collect_ctx_t *c, struct nlmsghdr *nh, nl_link_t *l) {
  struct ifinfomsg *ifi = NLMSG_DATA(nh);
  int alen = (int)IFLA_PAYLOAD(nh);
  memset(l, 0, sizeof(*l));
  l->oper = -1;
  l->up = (ifi->ifi_flags & IFF_UP) != 0;
  l->have[NL_IFINDEX] = true;
  l->val[NL_IFINDEX] = ifi->ifi_index;
  l->have[NL_IFLINK] = true; /* IFLA_LINK is sent only when it differs */
  l->val[NL_IFLINK] = ifi->ifi_index;
  l->have[NL_TYPE] = true;
  l->val[NL_TYPE] = ifi->ifi_type;
  l->have[NL_DORMANT] = true;
  l->val[NL_DORMANT] = (ifi->ifi_flags & IFF_DORMANT) ? 1 : 0;
  for (struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
    int k = NL_NONE;
    switch (a->rta_type) {
    case IFLA_IFNAME:
      l->name = arena_strndup(c->arena, RTA_DATA(a), strnlen(RTA_DATA(a), RTA_PAYLOAD(a)));
      break;
    case IFLA_IFALIAS:
      l->alias = arena_strndup(c->arena, RTA_DATA(a), strnlen(RTA_DATA(a), RTA_PAYLOAD(a)));
      break;
    case IFLA_ADDRESS:
      format_mac(l->addr, sizeof(l->addr), RTA_DATA(a), RTA_PAYLOAD(a));
      break;
    case IFLA_BROADCAST:
      format_mac(l->bcast, sizeof(l->bcast), RTA_DATA(a), RTA_PAYLOAD(a));
      break;
    case IFLA_OPERSTATE:
      l->oper = (int)rta_u32(a);
      break;
    case IFLA_CARRIER: k = NL_CARRIER; break;
    case IFLA_CARRIER_CHANGES: k = NL_CARRIER_CHANGES; break;
    case IFLA_CARRIER_UP_COUNT: k = NL_CARRIER_UP; break;
    case IFLA_CARRIER_DOWN_COUNT: k = NL_CARRIER_DOWN; break;
    case IFLA_LINK: k = NL_IFLINK; break;
    case IFLA_LINKMODE: k = NL_LINKMODE; break;
    case IFLA_MTU: k = NL_MTU; break;
    case IFLA_GROUP: k = NL_GROUP; break;
    case IFLA_TXQLEN: k = NL_TXQLEN; break;
    default: break;
    }
    if (k != NL_NONE && RTA_PAYLOAD(a) >= 1) {
      l->have[k] = true;
      l->val[k] = (double)rta_u32(a);
    }
  }
  /* sysfs refuses carrier and dormant of a device that is not up */
  if (!l->up) l->have[NL_CARRIER] = l->have[NL_DORMANT] = false;
  if (l->oper >= (int)(sizeof(operstates) / sizeof(operstates[0]))) l->oper = -1;
  return l->name != NULL;
}

static int nl_open(netclass_state_t *s) {
  if (s->nlfd >= 0) return 0;
  s->nlfd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  return s->nlfd >= 0 ? 0 : PH_EIO;
}

static void nl_close(netclass_state_t *s) {
  if (s->nlfd >= 0) close(s->nlfd);
  s->nlfd = -1;
}

/* One RTM_GETLINK dump into *links (arena); PH_EIO when netlink fails (the
 * caller then reads sysfs). */
static int nl_dump(collect_ctx_t *c, netclass_state_t *s, nl_link_t **links, size_t *nlinks) {
  if (nl_open(s) < 0) return PH_EIO;
  struct {
    struct nlmsghdr nh;
    struct ifinfomsg ifi;
    struct rtattr ext;
    uint32_t mask;
  } req;
  memset(&req, 0, sizeof(req));
  req.nh.nlmsg_len = sizeof(req);
  req.nh.nlmsg_type = RTM_GETLINK;
  req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.nh.nlmsg_seq = ++s->seq;
  req.ifi.ifi_family = AF_UNSPEC;
  req.ext.rta_type = IFLA_EXT_MASK;
  req.ext.rta_len = RTA_LENGTH(sizeof(uint32_t));
  req.mask = RTEXT_FILTER_SKIP_STATS;
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
  if (sendto(s->nlfd, &req, sizeof(req), 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
    nl_close(s);
    return PH_EIO;
  }
  size_t bufsz = 1 << 15, cap = 8, n = 0;
  char *buf = arena_alloc(c->arena, bufsz);
  nl_link_t *v = arena_alloc(c->arena, cap * sizeof(*v));
  ph_assert(buf != NULL && v != NULL);
  for (;;) {
    ssize_t r = recv(s->nlfd, buf, bufsz, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      nl_close(s);
      return PH_EIO;
    }
    for (struct nlmsghdr *nh = (struct nlmsghdr *)(void *)buf; NLMSG_OK(nh, (size_t)r);
         nh = NLMSG_NEXT(nh, r)) {
      if (nh->nlmsg_seq != s->seq) continue; /* a stale answer */
      if (nh->nlmsg_type == NLMSG_DONE) {
        *links = v;
        *nlinks = n;
        return 0;
      }
      if (nh->nlmsg_type == NLMSG_ERROR) {
        nl_close(s);
        return PH_EIO;
      }
      if (nh->nlmsg_type != RTM_NEWLINK) continue;
      if (n == cap) {
        nl_link_t *nv = arena_alloc(c->arena, cap * 2 * sizeof(*nv));
        ph_assert(nv != NULL);
        memcpy(nv, v, n * sizeof(*v));
        v = nv;
        cap *= 2;
      }
      if (parse_link(c, nh, &v[n])) n++;
    }
  }
}

static const nl_link_t *nl_find(const nl_link_t *v, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(v[i].name, name) == 0) return &v[i];
  return NULL;
}

static int netclass_collect(collect_ctx_t *c, void *state) {
  netclass_state_t *s = state;
  char base[PATH_MAX], dir[PATH_MAX], **names;
  size_t n;
  int rc = cc_list_dir(c, cc_sys(c, base, sizeof(base), "class/net"), &names, &n);
  if (rc < 0) return rc;
  nl_link_t *links = NULL;
  size_t nlinks = 0;
  if (s->netlink && nl_dump(c, s, &links, &nlinks) < 0) nlinks = 0;
  for (size_t i = 0; i < n; i++) {
    const char *dev = names[i];
    ph_pathf(dir, sizeof(dir), "%s/%s", base, dev);
    struct stat st;
    if (lstat(dir, &st) != 0 || S_ISREG(st.st_mode)) continue;
    if (ph_regex_match(s->ignored, dev)) continue;
    const nl_link_t *nl = nl_find(links, nlinks, dev);
    char oper[64] = "", addr[128] = "", bcast[128] = "", duplex[32] = "", alias[512] = "";
    if (nl != NULL && nl->oper >= 0)
      snprintf(oper, sizeof(oper), "%s", operstates[nl->oper]);
    else
      read_attr(dir, "operstate", oper, sizeof(oper));
    if (nl != NULL) {
      snprintf(addr, sizeof(addr), "%s", nl->addr);
      snprintf(bcast, sizeof(bcast), "%s", nl->bcast);
      if (nl->alias != NULL) {
        snprintf(alias, sizeof(alias), "%s", nl->alias);
        size_t l = strlen(alias); /* as ph_read_str trims the sysfs line */
        while (l > 0 && (alias[l - 1] == ' ' || alias[l - 1] == '\t' || alias[l - 1] == '\r' ||
                         alias[l - 1] == '\n'))
          alias[--l] = '\0';
      }
    } else {
      read_attr(dir, "address", addr, sizeof(addr));
      read_attr(dir, "broadcast", bcast, sizeof(bcast));
      read_attr(dir, "ifalias", alias, sizeof(alias));
    }
    read_attr(dir, "duplex", duplex, sizeof(duplex));
    cc_gauge(c, "node_network_up", "Value is 1 if operstate is 'up', 0 otherwise.",
             strcmp(oper, "up") == 0 ? 1 : 0, "device", dev, NULL);
    double flags = 0;
    const char *admin = "unknown";
    bool have_flags = read_int(dir, "flags", &flags);
    if (have_flags) admin = ((long long)flags & 1) ? "up" : "down";
    cc_gauge(c, "node_network_info",
             "Non-numeric data from /sys/class/net/<iface>, value is always 1.", 1, "device", dev,
             "address", addr, "broadcast", bcast, "duplex", duplex, "operstate", oper,
             "adminstate", admin, "ifalias", alias, NULL);
    for (size_t k = 0; k < sizeof(props) / sizeof(props[0]); k++) {
      double v;
      int src = props[k].nl;
      if (src == NL_NONE && strcmp(props[k].file, "flags") == 0 && have_flags)
        v = flags;
      else if (nl != NULL && src != NL_NONE && nl->have[src])
        v = nl->val[src];
      else if (!read_int(dir, props[k].file, &v))
        continue;
      if (props[k].counter)
        cc_counter(c, props[k].name, props[k].help, v, "device", dev, NULL);
      else
        cc_gauge(c, props[k].name, props[k].help, v, "device", dev, NULL);
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
