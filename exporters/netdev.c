/*
 * netdev.c - the netdev collector: per-interface traffic counters.
 *
 * As node_exporter 1.9 does by default (--collector.netdev.netlink), the
 * counters come from rtnetlink: one RTM_GETLINK dump on a NETLINK_ROUTE
 * socket, each RTM_NEWLINK answer carrying IFLA_IFNAME and IFLA_STATS64
 * (struct rtnl_link_stats64).  They are folded into /proc/net/dev's
 * columns (drop = dropped + missed, frame = length + over + crc + frame
 * errors, carrier = aborted + carrier + heartbeat + window errors).  With
 * --no-collector.netdev.netlink, <procfs>/net/dev is parsed instead.
 * Every counter becomes node_network_<receive|transmit>_<name>_total
 * {device}.
 */
#include "exporter_int.h"

#include "log.h"
#include "mem.h"
#include "ph_error.h"

#include <errno.h>
#include <limits.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const exporter_flag_t netdev_flags[] = {
    {"collector.netdev.device-include", FLAG_STRING, NULL,
     "Regexp of net devices to include (mutually exclusive to device-exclude)."},
    {"collector.netdev.device-exclude", FLAG_STRING, NULL,
     "Regexp of net devices to exclude (mutually exclusive to device-include)."},
    {"collector.netdev.address-info", FLAG_BOOL, "false",
     "Collect address-info for every device (not supported by pharos-exporter)."},
    {"collector.netdev.enable-detailed-metrics", FLAG_BOOL, "false",
     "Use (incompatible) metric names that provide more detailed stats on Linux "
     "(not supported by pharos-exporter)."},
    {"collector.netdev.netlink", FLAG_BOOL, "true",
     "Use netlink to gather stats instead of /proc/net/dev."},
    {"collector.netdev.device-whitelist", FLAG_STRING, NULL, NULL},
    {"collector.netdev.device-blacklist", FLAG_STRING, NULL, NULL},
    {NULL, 0, NULL, NULL},
};

typedef struct netdev_state {
  ph_devfilter_t filter;
  bool netlink;
} netdev_state_t;

static int netdev_init(const exporter_options_t *o, void **state, char *err, size_t errlen) {
  netdev_state_t *s = ph_calloc(1, sizeof(*s));
  *state = s;
  const char *in = exporter_options_get(o, "collector.netdev.device-include");
  const char *ex = exporter_options_get(o, "collector.netdev.device-exclude");
  const char *wl = exporter_options_get(o, "collector.netdev.device-whitelist");
  const char *bl = exporter_options_get(o, "collector.netdev.device-blacklist");
  if ((in == NULL || !*in) && wl && *wl) in = wl;
  if ((ex == NULL || !*ex) && bl && *bl) ex = bl;
  if (in && *in && ex && *ex)
    return ph_err(err, errlen, PH_EINVAL,
                  "device-exclude & device-include are mutually exclusive");
  s->netlink = exporter_options_get_bool(o, "collector.netdev.netlink");
  return ph_devfilter_init(&s->filter, in, ex, err, errlen);
}

static void netdev_free(void *p) {
  netdev_state_t *s = p;
  if (s == NULL) return;
  ph_devfilter_free(&s->filter);
  free(s);
}

/* The exported counters, in /proc/net/dev's naming. */
enum { RX_BYTES, RX_PACKETS, RX_ERRS, RX_DROP, RX_FIFO, RX_FRAME, RX_COMPRESSED,
       RX_MULTICAST, RX_NOHANDLER, TX_BYTES, TX_PACKETS, TX_ERRS, TX_DROP, TX_FIFO,
       TX_COLLS, TX_CARRIER, TX_COMPRESSED, NDEV };

#define NETDEV_FAMILY(x) {"node_network_" x "_total", "Network device statistic " x "."}
static const char *const dev_family[NDEV][2] = {
    NETDEV_FAMILY("receive_bytes"),      NETDEV_FAMILY("receive_packets"),
    NETDEV_FAMILY("receive_errs"),       NETDEV_FAMILY("receive_drop"),
    NETDEV_FAMILY("receive_fifo"),       NETDEV_FAMILY("receive_frame"),
    NETDEV_FAMILY("receive_compressed"), NETDEV_FAMILY("receive_multicast"),
    NETDEV_FAMILY("receive_nohandler"),  NETDEV_FAMILY("transmit_bytes"),
    NETDEV_FAMILY("transmit_packets"),   NETDEV_FAMILY("transmit_errs"),
    NETDEV_FAMILY("transmit_drop"),      NETDEV_FAMILY("transmit_fifo"),
    NETDEV_FAMILY("transmit_colls"),     NETDEV_FAMILY("transmit_carrier"),
    NETDEV_FAMILY("transmit_compressed")};

static void emit(collect_ctx_t *c, const char *dev, const double *v, const bool *have) {
  for (int k = 0; k < NDEV; k++) {
    if (!have[k]) continue;
    cc_counter(c, dev_family[k][0], dev_family[k][1], v[k], "device", dev, NULL);
  }
}

static int collect_netlink(collect_ctx_t *c, netdev_state_t *s) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return PH_EIO;
  struct {
    struct nlmsghdr nh;
    struct ifinfomsg ifi;
  } req;
  memset(&req, 0, sizeof(req));
  req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
  req.nh.nlmsg_type = RTM_GETLINK;
  req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.nh.nlmsg_seq = 1;
  req.ifi.ifi_family = AF_UNSPEC;
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
  if (sendto(fd, &req, req.nh.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
    close(fd);
    return PH_EIO;
  }
  size_t bufsz = 1 << 16;
  char *buf = arena_alloc(c->arena, bufsz);
  ph_assert(buf != NULL);
  int rc = 0;
  bool done = false;
  while (!done) {
    ssize_t n = recv(fd, buf, bufsz, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      rc = PH_EIO;
      break;
    }
    if (n == 0) break;
    for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)n);
         nh = NLMSG_NEXT(nh, n)) {
      if (nh->nlmsg_type == NLMSG_DONE) {
        done = true;
        break;
      }
      if (nh->nlmsg_type == NLMSG_ERROR) {
        rc = PH_EIO;
        done = true;
        break;
      }
      if (nh->nlmsg_type != RTM_NEWLINK) continue;
      struct ifinfomsg *ifi = NLMSG_DATA(nh);
      int alen = (int)IFLA_PAYLOAD(nh);
      const char *name = NULL;
      struct rtnl_link_stats64 st;
      bool have_stats = false;
      for (struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
        if (a->rta_type == IFLA_IFNAME)
          name = RTA_DATA(a);
        else if (a->rta_type == IFLA_STATS64) {
          memset(&st, 0, sizeof(st));
          size_t l = RTA_PAYLOAD(a) < sizeof(st) ? RTA_PAYLOAD(a) : sizeof(st);
          memcpy(&st, RTA_DATA(a), l);
          have_stats = true;
        }
      }
      if (name == NULL || ph_devfilter_ignored(&s->filter, name)) continue;
      double v[NDEV] = {0};
      bool have[NDEV];
      for (int k = 0; k < NDEV; k++) have[k] = true;
      if (have_stats) {
        v[RX_PACKETS] = (double)st.rx_packets;
        v[TX_PACKETS] = (double)st.tx_packets;
        v[RX_BYTES] = (double)st.rx_bytes;
        v[TX_BYTES] = (double)st.tx_bytes;
        v[RX_ERRS] = (double)st.rx_errors;
        v[TX_ERRS] = (double)st.tx_errors;
        v[RX_DROP] = (double)(st.rx_dropped + st.rx_missed_errors);
        v[TX_DROP] = (double)st.tx_dropped;
        v[RX_MULTICAST] = (double)st.multicast;
        v[TX_COLLS] = (double)st.collisions;
        v[RX_FRAME] = (double)(st.rx_length_errors + st.rx_over_errors + st.rx_crc_errors +
                               st.rx_frame_errors);
        v[RX_FIFO] = (double)st.rx_fifo_errors;
        v[TX_CARRIER] = (double)(st.tx_aborted_errors + st.tx_carrier_errors +
                                 st.tx_heartbeat_errors + st.tx_window_errors);
        v[TX_FIFO] = (double)st.tx_fifo_errors;
        v[RX_COMPRESSED] = (double)st.rx_compressed;
        v[TX_COMPRESSED] = (double)st.tx_compressed;
        v[RX_NOHANDLER] = (double)st.rx_nohandler;
      }
      emit(c, name, v, have);
    }
  }
  close(fd);
  return rc;
}

static int collect_procfs(collect_ctx_t *c, netdev_state_t *s) {
  char path[PATH_MAX], *data, *line;
  size_t len;
  int rc = cc_read_file(c, cc_proc(c, path, sizeof(path), "net/dev"), &data, &len);
  if (rc < 0) return rc;
  ph_next_line(&data);
  line = ph_next_line(&data);
  if (line == NULL) return PH_EPARSE;
  char *parts[4];
  if (ph_split(line, '|', parts, 4) != 3) return PH_EPARSE;
  char *rx[16], *tx[16];
  size_t nrx = ph_fields(parts[1], rx, 16), ntx = ph_fields(parts[2], tx, 16);
  while ((line = ph_next_line(&data)) != NULL) {
    char *colon = strchr(line, ':');
    if (colon == NULL) continue;
    *colon = '\0';
    char *dev = ph_trim(line);
    if (ph_devfilter_ignored(&s->filter, dev)) continue;
    char *f[40];
    size_t nf = ph_fields(colon + 1, f, 40);
    if (nf != nrx + ntx) return PH_EPARSE;
    for (size_t i = 0; i < nf; i++) {
      double v;
      if (!ph_parse_double(f[i], &v)) return PH_EPARSE;
      char key[64], name[128], help[128];
      snprintf(key, sizeof(key), "%s_%s", i < nrx ? "receive" : "transmit",
               i < nrx ? rx[i] : tx[i - nrx]);
      snprintf(name, sizeof(name), "node_network_%s_total", key);
      snprintf(help, sizeof(help), "Network device statistic %s.", key);
      cc_counter(c, name, help, v, "device", dev, NULL);
    }
  }
  return 0;
}

static int netdev_collect(collect_ctx_t *c, void *state) {
  netdev_state_t *s = state;
  return s->netlink ? collect_netlink(c, s) : collect_procfs(c, s);
}

const collector_def_t collector_netdev = {
    .name = "netdev",
    .default_enabled = true,
    .flags = netdev_flags,
    .init = netdev_init,
    .free = netdev_free,
    .collect = netdev_collect,
};
