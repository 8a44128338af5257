/*
 * registry.c - the static table of collectors, sorted by name.
 *
 * Each collector lives in its own file and exports one collector_def_t
 * (collector_<name>); adding a collector is one line here plus the file in
 * meson.build.  Also here: the node_exporter v1.9.1 collectors pharos does
 * not implement and their flags, accepted so existing command lines and
 * systemd units keep working (a warning is logged when one is enabled).
 */
#include "exporter_int.h"

#define COLLECTORS(X) \
  X(bonding) \
  X(btrfs) \
  X(buddyinfo) \
  X(cgroup) \
  X(conntrack) \
  X(cpu) \
  X(cpu_vulnerabilities) \
  X(cpufreq) \
  X(diskstats) \
  X(dmi) \
  X(edac) \
  X(entropy) \
  X(filefd) \
  X(filesystem) \
  X(hwmon) \
  X(interrupts) \
  X(ksmd) \
  X(loadavg) \
  X(mdadm) \
  X(meminfo) \
  X(meminfo_numa) \
  X(netclass) \
  X(netdev) \
  X(netstat) \
  X(nvme) \
  X(os) \
  X(powersupplyclass) \
  X(pressure) \
  X(processes) \
  X(rapl) \
  X(schedstat) \
  X(smart) \
  X(sockstat) \
  X(softirqs) \
  X(softnet) \
  X(stat) \
  X(sysctl) \
  X(textfile) \
  X(thermal_zone) \
  X(time) \
  X(udp_queues) \
  X(uname) \
  X(vmstat) \
  X(watchdog) \
  X(zfs)

#define DECLARE(n) extern const collector_def_t collector_##n;
COLLECTORS(DECLARE)
#undef DECLARE

const collector_def_t *const exporter__collectors[] = {
#define ENTRY(n) &collector_##n,
    COLLECTORS(ENTRY)
#undef ENTRY
};
const size_t exporter__ncollectors =
    sizeof(exporter__collectors) / sizeof(exporter__collectors[0]);

const char *const exporter__unimplemented[] = {
    "arp", "bcache", "cgroups", "drbd", "drm", "ethtool", "fibrechannel",
    "infiniband", "ipvs", "kernel_hung", "lnstat", "logind", "mountstats",
    "network_route", "nfs", "nfsd", "ntp", "perf", "qdisc", "runit",
    "selinux", "slabinfo", "supervisord", "systemd", "tapestats", "tcpstat",
    "timex", "wifi", "xfrm", "xfs", "zoneinfo",
};
const size_t exporter__nunimplemented =
    sizeof(exporter__unimplemented) / sizeof(exporter__unimplemented[0]);

/* Flags of collectors pharos does not implement: accepted, ignored. */
const exporter_flag_t exporter__ignored_flags[] = {
    {"collector.arp.device-include", FLAG_STRING, NULL, NULL},
    {"collector.arp.device-exclude", FLAG_STRING, NULL, NULL},
    {"collector.arp.netlink", FLAG_BOOL, "true", NULL},
    {"collector.bcache.priorityStats", FLAG_BOOL, "false", NULL},
    {"collector.ethtool.device-include", FLAG_STRING, NULL, NULL},
    {"collector.ethtool.device-exclude", FLAG_STRING, NULL, NULL},
    {"collector.ethtool.metrics-include", FLAG_STRING, ".*", NULL},
    {"collector.ipvs.backend-labels", FLAG_STRING,
     "local_address,local_port,remote_address,remote_port,proto,local_mark",
     NULL},
    {"collector.ntp.server", FLAG_STRING, "127.0.0.1", NULL},
    {"collector.ntp.server-port", FLAG_STRING, "123", NULL},
    {"collector.ntp.protocol-version", FLAG_STRING, "4", NULL},
    {"collector.ntp.server-is-local", FLAG_BOOL, "false", NULL},
    {"collector.ntp.ip-ttl", FLAG_STRING, "1", NULL},
    {"collector.ntp.max-distance", FLAG_STRING, "3.46608s", NULL},
    {"collector.ntp.local-offset-tolerance", FLAG_STRING, "1ms", NULL},
    {"collector.perf.cpus", FLAG_STRING, "", NULL},
    {"collector.perf.tracepoint", FLAG_STRINGS, NULL, NULL},
    {"collector.perf.disable-hardware-profilers", FLAG_BOOL, "false", NULL},
    {"collector.perf.hardware-profilers", FLAG_STRINGS, NULL, NULL},
    {"collector.perf.disable-software-profilers", FLAG_BOOL, "false", NULL},
    {"collector.perf.software-profilers", FLAG_STRINGS, NULL, NULL},
    {"collector.perf.disable-cache-profilers", FLAG_BOOL, "false", NULL},
    {"collector.perf.cache-profilers", FLAG_STRINGS, NULL, NULL},
    {"collector.qdisc.fixtures", FLAG_STRING, "", NULL},
    {"collector.qdisc.device-include", FLAG_STRING, NULL, NULL},
    {"collector.qdisc.device-exclude", FLAG_STRING, NULL, NULL},
    {"collector.runit.servicedir", FLAG_STRING, "/etc/service", NULL},
    {"collector.slabinfo.slabs-include", FLAG_STRING, ".*", NULL},
    {"collector.slabinfo.slabs-exclude", FLAG_STRING, "", NULL},
    {"collector.supervisord.url", FLAG_STRING, "http://localhost:9001/RPC2",
     NULL},
    {"collector.systemd.unit-include", FLAG_STRING, ".+", NULL},
    {"collector.systemd.unit-exclude", FLAG_STRING,
     ".+\\.(automount|device|mount|scope|slice)", NULL},
    {"collector.systemd.enable-task-metrics", FLAG_BOOL, "false", NULL},
    {"collector.systemd.enable-restarts-metrics", FLAG_BOOL, "false", NULL},
    {"collector.systemd.enable-start-time-metrics", FLAG_BOOL, "false", NULL},
    {"collector.tapestats.ignored-devices", FLAG_STRING, "^$", NULL},
    {"collector.wifi.fixtures", FLAG_STRING, "", NULL},
    {NULL, 0, NULL, NULL},
};
