/*
 * workload.c - the node_exporter-like series model (see workload.h).
 *
 * A static table of metric families describes one host: each family has a
 * kind (constant, gauge, counter, time, state set, histogram), up to two
 * label dimensions whose cross product gives its series, and value
 * parameters (base level, rate per second, relative noise, quantum: the
 * step values are rounded to, 0 = full precision).  wl_new expands the
 * table into the per-host series template (~510 entries, the same for every
 * host) and gives each host its own random stream and per-series scale
 * factor, so hosts differ but stay reproducible.
 *
 * Value models, per scrape of dt seconds:
 *   counter  += rate*scale*dt*(1 + noise*N(0,1)), >= 0, 1% bursts of 5-20x;
 *            slow counters (< 1 quantum per scrape) step by whole quanta at
 *            random; rounded to the quantum (0.01 for CPU seconds, 1 for
 *            bytes and packets, none for pressure/schedstat seconds);
 *   gauge    mean-reverting walk around base*scale with a slow sine
 *            (period 1-6 h), noise, rounded to the quantum (4096 for
 *            memory, 0.01 for load, none for durations);
 *   time     t/1000 plus a sub-millisecond offset (node_time_seconds);
 *   state    one series of five per unit is 1, changing rarely;
 *   hist     Poisson-ish number of log-normal observations per scrape,
 *            cumulative bucket counts, _sum (full precision) and _count.
 */
#include "workload.h"

#include "mem.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the host model ------------------------------------------------------- */

typedef enum { K_CONST, K_GAUGE, K_COUNTER, K_TIME, K_STATE, K_HIST } kind_t;

typedef struct dim {
  unsigned nnames;
  const char *names[3];
  unsigned nvals;
  const char *const *vals; /* nvals rows of nnames strings */
} dim_t;

typedef struct fam {
  const char *name;
  const char *help;
  kind_t kind;
  const dim_t *d1, *d2;
  double base;    /* level (gauge/const) or start value (counter) */
  double rate;    /* counters: per second */
  double noise;   /* relative */
  double quantum; /* 0 = full precision */
} fam_t;

static const char *const cpus4[] = {"0", "1", "2", "3"};
static const dim_t D_CPU = {1, {"cpu"}, 4, cpus4};
static const char *const modes[] = {"idle", "iowait", "irq", "nice",
                                    "softirq", "steal", "system", "user"};
static const dim_t D_MODE = {1, {"mode"}, 8, modes};
static const char *const gmodes[] = {"guest", "guest_nice"};
static const dim_t D_GMODE = {1, {"mode"}, 2, gmodes};
static const char *const netdevs[] = {"docker0", "eth0", "lo", "wlan0"};
static const dim_t D_NET = {1, {"device"}, 4, netdevs};
static const char *const disks[] = {"dm-0", "nvme0n1", "sda"};
static const dim_t D_DISK = {1, {"device"}, 3, disks};
static const char *const fs[] = {
    "/dev/nvme0n1p2", "ext4",  "/",          "/dev/nvme0n1p1", "vfat",  "/boot/efi",
    "/dev/sda1",      "btrfs", "/srv/data",  "tmpfs",          "tmpfs", "/run",
    "/dev/mapper/vg-home", "xfs", "/home"};
static const dim_t D_FS = {3, {"device", "fstype", "mountpoint"}, 5, fs};
static const char *const hw[] = {"platform_coretemp_0", "temp1", "platform_coretemp_0", "temp2",
                                 "platform_coretemp_0", "temp3", "pci0000:00_0000:00:18_3", "temp1",
                                 "nvme_nvme0", "temp1", "nvme_nvme0", "temp2"};
static const dim_t D_HW = {2, {"chip", "sensor"}, 6, hw};
static const char *const zones[] = {"0", "acpitz", "1", "x86_pkg_temp"};
static const dim_t D_ZONE = {2, {"zone", "type"}, 2, zones};
static const char *const colls[] = {
    "arp", "bcache", "bonding", "btrfs", "conntrack", "cpu", "cpufreq", "diskstats",
    "dmi", "edac", "entropy", "fibrechannel", "filefd", "filesystem", "hwmon",
    "infiniband", "ipvs", "loadavg", "mdadm", "meminfo", "netclass", "netdev",
    "netstat", "nfs", "nvme", "os", "powersupplyclass", "pressure", "rapl", "schedstat"};
static const dim_t D_COLL = {1, {"collector"}, 30, colls};
static const char *const units[] = {
    "containerd.service", "cron.service", "dbus.service", "docker.service",
    "grafana-server.service", "nginx.service", "node-exporter.service",
    "postgresql.service", "prometheus.service", "rsyslog.service", "smartd.service",
    "ssh.service", "systemd-journald.service", "systemd-logind.service",
    "systemd-resolved.service", "unattended-upgrades.service"};
static const dim_t D_UNIT = {1, {"name"}, 16, units};
static const char *const states[] = {"activating", "active", "deactivating", "failed",
                                     "inactive"};
static const dim_t D_STATE = {1, {"state"}, 5, states};
static const char *const handlers[] = {"/api/v1/query", "/api/v1/query_range",
                                       "/api/v1/write", "/metrics"};
static const dim_t D_HANDLER = {1, {"handler"}, 4, handlers};
static const char *const quantiles[] = {"0", "0.25", "0.5", "0.75", "1"};
static const dim_t D_QUANT = {1, {"quantile"}, 5, quantiles};
static const char *const uname[] = {"Linux", "x86_64", "6.1.0-18-amd64"};
static const dim_t D_UNAME = {3, {"sysname", "machine", "release"}, 1, uname};

#define NBUCKETS 12
static const char *const les[NBUCKETS] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
                                          "0.5",   "1",    "2.5",   "5",    "10",  "+Inf"};
static const double le_v[NBUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                      0.5,   1,    2.5,   5,    10,  INFINITY};

#define GB (1024.0 * 1024 * 1024)
#define MEM(n, b, nz) {"node_memory_" n "_bytes", "Memory information field " n "_bytes.", \
                       nz > 0 ? K_GAUGE : K_CONST, NULL, NULL, b, 0, nz, 4096}
#define NETSTAT(n, r) {"node_netstat_" n, "Statistic " n ".", K_COUNTER, NULL, NULL, 1e5, r, 0.6, 1}
#define SOCK(n, b) {"node_sockstat_" n, "Number of " n ".", K_GAUGE, NULL, NULL, b, 0, 0.1, 1}

static const fam_t families[] = {
    {"node_cpu_seconds_total", "Seconds the CPUs spent in each mode.", K_COUNTER, &D_CPU, &D_MODE,
     1e5, 0.12, 0.5, 0.01},
    {"node_cpu_guest_seconds_total", "Seconds the CPUs spent in guests (VMs) for each mode.",
     K_COUNTER, &D_CPU, &D_GMODE, 0, 0, 0, 0.01},
    {"node_cpu_scaling_frequency_hertz", "Current scaled CPU thread frequency in hertz.",
     K_GAUGE, &D_CPU, NULL, 2.4e9, 0, 0.15, 1000},
    {"node_load1", "1m load average.", K_GAUGE, NULL, NULL, 0.8, 0, 0.3, 0.01},
    {"node_load5", "5m load average.", K_GAUGE, NULL, NULL, 0.7, 0, 0.1, 0.01},
    {"node_load15", "15m load average.", K_GAUGE, NULL, NULL, 0.6, 0, 0.05, 0.01},
    MEM("MemTotal", 16 * GB, 0), MEM("MemFree", 2 * GB, 0.02), MEM("MemAvailable", 9 * GB, 0.01),
    MEM("Buffers", 0.3 * GB, 0.005), MEM("Cached", 6 * GB, 0.005),
    MEM("SwapCached", 0.01 * GB, 0.001), MEM("Active", 5 * GB, 0.01),
    MEM("Inactive", 7 * GB, 0.005), MEM("Active_anon", 3 * GB, 0.01),
    MEM("Inactive_anon", 1 * GB, 0.005), MEM("Active_file", 2 * GB, 0.005),
    MEM("Inactive_file", 6 * GB, 0.005), MEM("Unevictable", 0.001 * GB, 0),
    MEM("Mlocked", 0.001 * GB, 0), MEM("SwapTotal", 4 * GB, 0), MEM("SwapFree", 3.9 * GB, 0.0005),
    MEM("Dirty", 0.001 * GB, 0.3), MEM("Writeback", 0, 0), MEM("AnonPages", 4 * GB, 0.01),
    MEM("Mapped", 0.8 * GB, 0.005), MEM("Shmem", 0.2 * GB, 0.002),
    MEM("KReclaimable", 0.4 * GB, 0.002), MEM("Slab", 0.6 * GB, 0.002),
    MEM("SReclaimable", 0.4 * GB, 0.002), MEM("SUnreclaim", 0.2 * GB, 0.002),
    MEM("KernelStack", 0.02 * GB, 0.01), MEM("PageTables", 0.05 * GB, 0.01),
    MEM("NFS_Unstable", 0, 0), MEM("Bounce", 0, 0), MEM("WritebackTmp", 0, 0),
    MEM("CommitLimit", 12 * GB, 0), MEM("Committed_AS", 10 * GB, 0.01),
    MEM("VmallocTotal", 32768.0 * GB, 0), MEM("VmallocUsed", 0.05 * GB, 0.001),
    MEM("VmallocChunk", 0, 0), MEM("Percpu", 0.005 * GB, 0), MEM("HardwareCorrupted", 0, 0),
    MEM("AnonHugePages", 0.5 * GB, 0.01), MEM("ShmemHugePages", 0, 0),
    MEM("Hugepagesize", 2097152, 0),
    {"node_network_receive_bytes_total", "Network device statistic receive_bytes.", K_COUNTER,
     &D_NET, NULL, 1e10, 2e5, 0.8, 1},
    {"node_network_transmit_bytes_total", "Network device statistic transmit_bytes.", K_COUNTER,
     &D_NET, NULL, 5e9, 8e4, 0.8, 1},
    {"node_network_receive_packets_total", "Network device statistic receive_packets.",
     K_COUNTER, &D_NET, NULL, 1e7, 300, 0.6, 1},
    {"node_network_transmit_packets_total", "Network device statistic transmit_packets.",
     K_COUNTER, &D_NET, NULL, 8e6, 200, 0.6, 1},
    {"node_network_receive_errs_total", "Network device statistic receive_errs.", K_COUNTER,
     &D_NET, NULL, 0, 0.0005, 0, 1},
    {"node_network_transmit_errs_total", "Network device statistic transmit_errs.", K_COUNTER,
     &D_NET, NULL, 0, 0, 0, 1},
    {"node_network_receive_drop_total", "Network device statistic receive_drop.", K_COUNTER,
     &D_NET, NULL, 120, 0.002, 0, 1},
    {"node_network_transmit_drop_total", "Network device statistic transmit_drop.", K_COUNTER,
     &D_NET, NULL, 0, 0, 0, 1},
    {"node_network_up", "Value is 1 if operstate is 'up', 0 otherwise.", K_CONST, &D_NET, NULL,
     1, 0, 0, 1},
    {"node_network_mtu_bytes", "Network device property mtu_bytes.", K_CONST, &D_NET, NULL,
     1500, 0, 0, 1},
    {"node_network_speed_bytes", "Network device property speed_bytes.", K_CONST, &D_NET, NULL,
     125000000, 0, 0, 1},
    {"node_network_carrier", "Network device property carrier.", K_CONST, &D_NET, NULL, 1, 0, 0,
     1},
    {"node_disk_reads_completed_total", "The total number of reads completed successfully.",
     K_COUNTER, &D_DISK, NULL, 2e6, 20, 1.0, 1},
    {"node_disk_writes_completed_total", "The total number of writes completed successfully.",
     K_COUNTER, &D_DISK, NULL, 5e6, 40, 0.8, 1},
    {"node_disk_read_bytes_total", "The total number of bytes read successfully.", K_COUNTER,
     &D_DISK, NULL, 5e10, 4e5, 1.0, 512},
    {"node_disk_written_bytes_total", "The total number of bytes written successfully.",
     K_COUNTER, &D_DISK, NULL, 9e10, 6e5, 0.8, 512},
    {"node_disk_io_time_seconds_total", "Total seconds spent doing I/Os.", K_COUNTER, &D_DISK,
     NULL, 5000, 0.02, 0.8, 0.001},
    {"node_disk_read_time_seconds_total", "The total number of seconds spent by all reads.",
     K_COUNTER, &D_DISK, NULL, 2000, 0.01, 1.0, 0.001},
    {"node_disk_write_time_seconds_total", "This is the total number of seconds spent by all writes.",
     K_COUNTER, &D_DISK, NULL, 8000, 0.03, 0.8, 0.001},
    {"node_disk_io_now", "The number of I/Os currently in progress.", K_GAUGE, &D_DISK, NULL, 0.4,
     0, 1.5, 1},
    {"node_disk_reads_merged_total", "The total number of reads merged.", K_COUNTER, &D_DISK,
     NULL, 1e5, 2, 1.0, 1},
    {"node_disk_writes_merged_total", "The number of writes merged.", K_COUNTER, &D_DISK, NULL,
     3e6, 25, 0.8, 1},
    {"node_filesystem_avail_bytes", "Filesystem space available to non-root users in bytes.",
     K_GAUGE, &D_FS, NULL, 60 * GB, 0, 0.001, 4096},
    {"node_filesystem_free_bytes", "Filesystem free space in bytes.", K_GAUGE, &D_FS, NULL,
     65 * GB, 0, 0.001, 4096},
    {"node_filesystem_size_bytes", "Filesystem size in bytes.", K_CONST, &D_FS, NULL, 250 * GB, 0,
     0.5, 4096},
    {"node_filesystem_files", "Filesystem total file nodes.", K_CONST, &D_FS, NULL, 1.6e7, 0, 0.5,
     1},
    {"node_filesystem_files_free", "Filesystem total free file nodes.", K_GAUGE, &D_FS, NULL,
     1.4e7, 0, 0.0001, 1},
    {"node_filesystem_readonly", "Filesystem read-only status.", K_CONST, &D_FS, NULL, 0, 0, 0,
     1},
    {"node_filesystem_device_error", "Whether an error occurred while getting statistics.",
     K_CONST, &D_FS, NULL, 0, 0, 0, 1},
    {"node_vmstat_pgfault", "/proc/vmstat information field pgfault.", K_COUNTER, NULL, NULL,
     1e9, 3000, 0.7, 1},
    {"node_vmstat_pgmajfault", "/proc/vmstat information field pgmajfault.", K_COUNTER, NULL,
     NULL, 1e5, 0.5, 1.0, 1},
    {"node_vmstat_pgpgin", "/proc/vmstat information field pgpgin.", K_COUNTER, NULL, NULL, 5e7,
     400, 1.0, 1},
    {"node_vmstat_pgpgout", "/proc/vmstat information field pgpgout.", K_COUNTER, NULL, NULL,
     9e7, 600, 0.8, 1},
    {"node_vmstat_pswpin", "/proc/vmstat information field pswpin.", K_COUNTER, NULL, NULL, 1000,
     0.001, 0, 1},
    {"node_vmstat_pswpout", "/proc/vmstat information field pswpout.", K_COUNTER, NULL, NULL,
     3000, 0.002, 0, 1},
    {"node_vmstat_oom_kill", "/proc/vmstat information field oom_kill.", K_COUNTER, NULL, NULL,
     0, 0, 0, 1},
    NETSTAT("Tcp_ActiveOpens", 2), NETSTAT("Tcp_PassiveOpens", 1.5), NETSTAT("Tcp_CurrEstab", 0),
    NETSTAT("Tcp_InErrs", 0.001), NETSTAT("Tcp_InSegs", 400), NETSTAT("Tcp_OutSegs", 380),
    NETSTAT("Tcp_RetransSegs", 0.3), NETSTAT("Tcp_OutRsts", 0.2), NETSTAT("Udp_InDatagrams", 30),
    NETSTAT("Udp_OutDatagrams", 28), NETSTAT("Udp_InErrors", 0), NETSTAT("Udp_NoPorts", 0.05),
    NETSTAT("Udp_RcvbufErrors", 0), NETSTAT("Udp_SndbufErrors", 0),
    NETSTAT("UdpLite_InErrors", 0), NETSTAT("Icmp_InMsgs", 0.05), NETSTAT("Icmp_OutMsgs", 0.05),
    NETSTAT("Icmp_InErrors", 0), NETSTAT("Icmp6_InMsgs", 0.1), NETSTAT("Icmp6_OutMsgs", 0.08),
    NETSTAT("Ip_Forwarding", 0), NETSTAT("Ip6_InOctets", 800), NETSTAT("Ip6_OutOctets", 700),
    NETSTAT("IpExt_InOctets", 5e4), NETSTAT("IpExt_OutOctets", 3e4),
    NETSTAT("TcpExt_ListenDrops", 0), NETSTAT("TcpExt_ListenOverflows", 0),
    NETSTAT("TcpExt_SyncookiesFailed", 0), NETSTAT("TcpExt_SyncookiesRecv", 0),
    NETSTAT("TcpExt_SyncookiesSent", 0),
    SOCK("sockets_used", 900), SOCK("TCP_alloc", 150), SOCK("TCP_inuse", 60),
    SOCK("TCP_orphan", 1), SOCK("TCP_tw", 40), SOCK("TCP_mem", 30), SOCK("TCP_mem_bytes", 122880),
    SOCK("UDP_inuse", 8), SOCK("UDP_mem", 4), SOCK("UDP_mem_bytes", 16384),
    SOCK("FRAG_inuse", 0), SOCK("RAW_inuse", 0),
    {"node_context_switches_total", "Total number of context switches.", K_COUNTER, NULL, NULL,
     5e9, 4000, 0.4, 1},
    {"node_intr_total", "Total number of interrupts serviced.", K_COUNTER, NULL, NULL, 3e9, 2500,
     0.4, 1},
    {"node_forks_total", "Total number of forks.", K_COUNTER, NULL, NULL, 2e6, 3, 1.0, 1},
    {"node_procs_running", "Number of processes in runnable state.", K_GAUGE, NULL, NULL, 2, 0,
     1.0, 1},
    {"node_procs_blocked", "Number of processes blocked waiting for I/O to complete.", K_GAUGE,
     NULL, NULL, 0.3, 0, 2, 1},
    {"node_boot_time_seconds", "Node boot time, in unixtime.", K_CONST, NULL, NULL, 1.7e9, 0,
     0.001, 1},
    {"node_time_seconds", "System time in seconds since epoch (1970).", K_TIME, NULL, NULL, 0, 0,
     0, 0},
    {"node_entropy_available_bits", "Bits of available entropy.", K_GAUGE, NULL, NULL, 256, 0, 0,
     1},
    {"node_filefd_allocated", "File descriptor statistics: allocated.", K_GAUGE, NULL, NULL, 4000,
     0, 0.05, 1},
    {"node_filefd_maximum", "File descriptor statistics: maximum.", K_CONST, NULL, NULL,
     9.223372036854776e18, 0, 0, 0},
    {"node_pressure_cpu_waiting_seconds_total", "Total time in seconds that processes have waited for CPU time",
     K_COUNTER, NULL, NULL, 3000, 0.02, 1.0, 0},
    {"node_pressure_io_waiting_seconds_total", "Total time in seconds that processes have waited due to IO congestion",
     K_COUNTER, NULL, NULL, 2000, 0.01, 1.5, 0},
    {"node_pressure_io_stalled_seconds_total", "Total time in seconds no process could make progress due to IO congestion",
     K_COUNTER, NULL, NULL, 1500, 0.008, 1.5, 0},
    {"node_pressure_memory_waiting_seconds_total", "Total time in seconds that processes have waited for memory",
     K_COUNTER, NULL, NULL, 10, 0.0001, 2, 0},
    {"node_pressure_memory_stalled_seconds_total", "Total time in seconds no process could make progress due to memory congestion",
     K_COUNTER, NULL, NULL, 8, 0.0001, 2, 0},
    {"node_schedstat_running_seconds_total", "Number of seconds CPU spent running a process.",
     K_COUNTER, &D_CPU, NULL, 8e4, 0.15, 0.5, 1e-9},
    {"node_schedstat_waiting_seconds_total", "Number of seconds spent by processing waiting for this CPU.",
     K_COUNTER, &D_CPU, NULL, 9e3, 0.02, 0.8, 1e-9},
    {"node_schedstat_timeslices_total", "Number of timeslices executed by CPU.", K_COUNTER,
     &D_CPU, NULL, 3e9, 900, 0.5, 1},
    {"node_softnet_processed_total", "Number of processed packets", K_COUNTER, &D_CPU, NULL, 2e8,
     80, 0.7, 1},
    {"node_softnet_dropped_total", "Number of dropped packets", K_COUNTER, &D_CPU, NULL, 0, 0, 0,
     1},
    {"node_softnet_times_squeezed_total", "Number of times processing packets ran out of quota",
     K_COUNTER, &D_CPU, NULL, 300, 0.001, 0, 1},
    {"node_hwmon_temp_celsius", "Hardware monitor for temperature (input)", K_GAUGE, &D_HW, NULL,
     45, 0, 0.03, 1},
    {"node_thermal_zone_temp", "Zone temperature in Celsius", K_GAUGE, &D_ZONE, NULL, 42, 0, 0.03,
     0.001},
    {"node_scrape_collector_duration_seconds", "node_exporter: Duration of a collector scrape.",
     K_GAUGE, &D_COLL, NULL, 0.0004, 0, 0.6, 0},
    {"node_scrape_collector_success", "node_exporter: Whether a collector succeeded.", K_CONST,
     &D_COLL, NULL, 1, 0, 0, 1},
    {"node_systemd_unit_state", "Systemd unit", K_STATE, &D_UNIT, &D_STATE, 0, 0, 0, 1},
    {"http_request_duration_seconds", "A histogram of latencies for requests.", K_HIST,
     &D_HANDLER, NULL, 0, 2.0, 0, 0},
    {"process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", K_COUNTER,
     NULL, NULL, 1234, 0.004, 0.5, 0.01},
    {"process_resident_memory_bytes", "Resident memory size in bytes.", K_GAUGE, NULL, NULL,
     2.4e7, 0, 0.02, 4096},
    {"process_virtual_memory_bytes", "Virtual memory size in bytes.", K_GAUGE, NULL, NULL, 7.3e8,
     0, 0.005, 4096},
    {"process_open_fds", "Number of open file descriptors.", K_GAUGE, NULL, NULL, 10, 0, 0.1, 1},
    {"process_max_fds", "Maximum number of open file descriptors.", K_CONST, NULL, NULL, 1048576,
     0, 0, 1},
    {"process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
     K_CONST, NULL, NULL, 1.70401e9, 0, 0.0001, 0.01},
    {"go_goroutines", "Number of goroutines that currently exist.", K_GAUGE, NULL, NULL, 8, 0,
     0.1, 1},
    {"go_memstats_alloc_bytes", "Number of bytes allocated and still in use.", K_GAUGE, NULL,
     NULL, 3e6, 0, 0.3, 1},
    {"go_gc_duration_seconds", "A summary of the pause duration of garbage collection cycles.",
     K_GAUGE, &D_QUANT, NULL, 4e-5, 0, 0.4, 0},
    {"node_timex_offset_seconds", "Time offset in between local system and reference clock.",
     K_GAUGE, NULL, NULL, 1e-4, 0, 1, 1e-9},
    {"node_timex_frequency_adjustment_ratio", "Local clock frequency adjustment.", K_GAUGE, NULL,
     NULL, 1.0000123, 0, 1e-7, 0},
    {"node_timex_maxerror_seconds", "Maximum error in seconds.", K_GAUGE, NULL, NULL, 0.2, 0, 0.5,
     1e-6},
    {"node_timex_sync_status", "Is clock synchronized to a reliable server (1 = yes, 0 = no).",
     K_CONST, NULL, NULL, 1, 0, 0, 1},
    {"node_uname_info", "Labeled system information as provided by the uname system call.",
     K_CONST, &D_UNAME, NULL, 1, 0, 0, 1},
};
#define NFAMILIES (sizeof families / sizeof families[0])

/* One entry of the per-host series template. */
typedef struct tmpl {
  uint16_t fam;
  uint8_t i1, i2; /* row in d1, d2 */
  int8_t sub;     /* hist: bucket 0..NBUCKETS-1, NBUCKETS = _sum, +1 = _count */
  uint16_t grp;   /* hist or state group within the host */
  const char *name;
} tmpl_t;

typedef struct hist {
  double bucket[NBUCKETS];
  double sum, count;
  double rate; /* observations per second */
  double mu;   /* log-normal location (log seconds) */
} hist_t;

typedef struct host {
  uint64_t rng;
  size_t next_step; /* the step wl_scrape produces next */
  unsigned gen;     /* churn generation */
  double *v;        /* current value per series */
  double *scale;    /* per-series factor */
  hist_t *hists;
  uint8_t *state;   /* per state group: the active state row */
  char **insts;     /* instance strings of every generation, last = current */
  size_t ninsts, insts_cap;
  double churn_off; /* phase within the churn period, in [0,1) */
} host_t;

struct wl {
  wl_opts_t o;
  size_t n;       /* series per host */
  tmpl_t *t;
  size_t nhist, nstate;
  char *histnames[3 * NFAMILIES];
  size_t nhistnames;
  host_t *hosts;
};

/* ---- random numbers ----------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

static uint64_t rnd(uint64_t *s) { /* xorshift64* */
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * UINT64_C(0x2545f4914f6cdd1d);
}

static double unif(uint64_t *s) { return (double)(rnd(s) >> 11) * 0x1.0p-53; }

static double gauss(uint64_t *s) {
  double u = unif(s), w = unif(s);
  if (u < 1e-300) u = 1e-300;
  return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * w);
}

static double round_q(double v, double q) {
  if (q <= 0) return v;
  return round(v / q) * q;
}

/* ---- construction ------------------------------------------------------- */

void wl_opts_default(wl_opts_t *o) {
  memset(o, 0, sizeof *o);
  o->seed = 42;
  o->hosts = 100;
  o->start_ms = INT64_C(1704067200000); /* 2024-01-01T00:00:00Z */
  o->interval_ms = 15000;
  o->jitter_ms = 3;
  o->churn_per_hour = 0;
}

static void tmpl_add(wl_t *wl, size_t *cap, tmpl_t e) {
  ph_grow(&wl->t, cap, wl->n + 1);
  wl->t[wl->n++] = e;
}

static void build_template(wl_t *wl) {
  size_t cap = 0;
  for (size_t f = 0; f < NFAMILIES; f++) {
    const fam_t *fm = &families[f];
    unsigned n1 = fm->d1 ? fm->d1->nvals : 1, n2 = fm->d2 ? fm->d2->nvals : 1;
    ph_assert(1 + 2 + (fm->d1 ? fm->d1->nnames : 0) + (fm->d2 ? fm->d2->nnames : 0) +
                  (fm->kind == K_HIST) <= WL_MAX_LABELS);
    if (fm->kind == K_HIST) {
      const char *sfx[3] = {"_bucket", "_sum", "_count"};
      char *names[3];
      for (int k = 0; k < 3; k++) {
        size_t len = strlen(fm->name) + strlen(sfx[k]) + 1;
        names[k] = ph_malloc(len);
        snprintf(names[k], len, "%s%s", fm->name, sfx[k]);
        wl->histnames[wl->nhistnames++] = names[k];
      }
      for (unsigned a = 0; a < n1; a++) {
        for (int b = 0; b < NBUCKETS + 2; b++) {
          const char *nm = b < NBUCKETS ? names[0] : b == NBUCKETS ? names[1] : names[2];
          tmpl_add(wl, &cap,
                   (tmpl_t){(uint16_t)f, (uint8_t)a, 0, (int8_t)b, (uint16_t)wl->nhist, nm});
        }
        wl->nhist++;
      }
      continue;
    }
    for (unsigned a = 0; a < n1; a++) {
      for (unsigned b = 0; b < n2; b++)
        tmpl_add(wl, &cap,
                 (tmpl_t){(uint16_t)f, (uint8_t)a, (uint8_t)b, -1,
                          (uint16_t)(fm->kind == K_STATE ? wl->nstate : 0), fm->name});
      if (fm->kind == K_STATE) wl->nstate++;
    }
  }
}

static void host_set_instance(host_t *hs, unsigned h, unsigned gen) {
  char buf[64];
  if (gen == 0)
    snprintf(buf, sizeof buf, "host%04u.lan:9100", h);
  else
    snprintf(buf, sizeof buf, "host%04u-r%u.lan:9100", h, gen);
  ph_grow(&hs->insts, &hs->insts_cap, hs->ninsts + 1);
  hs->insts[hs->ninsts++] = ph_strdup(buf);
  hs->gen = gen;
}

/* Initial values of one host (also after a churn replacement). */
static void host_reset(wl_t *wl, host_t *hs, bool fresh) {
  for (size_t i = 0; i < wl->n; i++) {
    const tmpl_t *t = &wl->t[i];
    const fam_t *fm = &families[t->fam];
    double sc = hs->scale[i];
    switch (fm->kind) {
      case K_CONST:
      case K_GAUGE:
        hs->v[i] = round_q(fm->base * sc, fm->quantum);
        break;
      case K_COUNTER:
        hs->v[i] = fresh ? round_q(fm->base * sc * unif(&hs->rng), fm->quantum) : 0;
        break;
      default:
        hs->v[i] = 0;
        break;
    }
  }
  for (size_t g = 0; g < wl->nhist; g++) {
    hist_t *hi = &hs->hists[g];
    memset(hi->bucket, 0, sizeof hi->bucket);
    hi->sum = hi->count = 0;
  }
  for (size_t g = 0; g < wl->nstate; g++) {
    double u = unif(&hs->rng);
    hs->state[g] = u < 0.85 ? 1 : u < 0.97 ? 4 : 3; /* active, inactive, failed */
  }
}

wl_t *wl_new(const wl_opts_t *o) {
  wl_t *wl = ph_calloc(1, sizeof *wl);
  wl->o = *o;
  if (wl->o.interval_ms <= 0) wl->o.interval_ms = 15000;
  if (wl->o.hosts == 0) wl->o.hosts = 1;
  build_template(wl);
  wl->hosts = ph_calloc(wl->o.hosts, sizeof(host_t));
  for (unsigned h = 0; h < wl->o.hosts; h++) {
    host_t *hs = &wl->hosts[h];
    uint64_t x = wl->o.seed * UINT64_C(0x100000001b3) + h;
    hs->rng = splitmix64(&x) | 1;
    hs->v = ph_malloc(wl->n * sizeof(double));
    hs->scale = ph_malloc(wl->n * sizeof(double));
    hs->hists = ph_calloc(wl->nhist ? wl->nhist : 1, sizeof(hist_t));
    hs->state = ph_calloc(wl->nstate ? wl->nstate : 1, 1);
    for (size_t i = 0; i < wl->n; i++) {
      const fam_t *fm = &families[wl->t[i].fam];
      /* log-normal-ish spread of levels and rates between hosts/series */
      hs->scale[i] = fm->noise > 0 || fm->rate > 0 ? exp(0.5 * gauss(&hs->rng)) : 1.0;
    }
    for (size_t g = 0; g < wl->nhist; g++) {
      hs->hists[g].rate = 2.0 * exp(gauss(&hs->rng));
      hs->hists[g].mu = log(0.03) + 0.8 * gauss(&hs->rng);
    }
    hs->churn_off = unif(&hs->rng);
    host_set_instance(hs, h, 0);
    host_reset(wl, hs, true);
  }
  return wl;
}

void wl_free(wl_t *wl) {
  if (!wl) return;
  for (unsigned h = 0; h < wl->o.hosts; h++) {
    host_t *hs = &wl->hosts[h];
    free(hs->v);
    free(hs->scale);
    free(hs->hists);
    free(hs->state);
    for (size_t k = 0; k < hs->ninsts; k++) free(hs->insts[k]);
    free(hs->insts);
  }
  for (size_t k = 0; k < wl->nhistnames; k++) free(wl->histnames[k]);
  free(wl->hosts);
  free(wl->t);
  free(wl);
}

size_t wl_series_per_host(const wl_t *wl) { return wl->n; }
unsigned wl_hosts(const wl_t *wl) { return wl->o.hosts; }
const wl_opts_t *wl_options(const wl_t *wl) { return &wl->o; }

size_t wl_steps_for(const wl_t *wl, int64_t duration_ms) {
  if (duration_ms <= 0) return 0;
  return (size_t)((duration_ms + wl->o.interval_ms - 1) / wl->o.interval_ms);
}

/* ---- generation --------------------------------------------------------- */

static int64_t scrape_time(const wl_t *wl, unsigned h, size_t step, host_t *hs) {
  int64_t iv = wl->o.interval_ms;
  int64_t off = (int64_t)((double)h / wl->o.hosts * (double)iv);
  int64_t jit = wl->o.jitter_ms > 0 ? (int64_t)(rnd(&hs->rng) % (uint64_t)(wl->o.jitter_ms + 1)) : 0;
  return wl->o.start_ms + (int64_t)step * iv + off + jit;
}

static unsigned churn_gen(const wl_t *wl, const host_t *hs, int64_t t) {
  if (wl->o.churn_per_hour <= 0) return 0;
  double period = 3600000.0 / wl->o.churn_per_hour; /* ms between replacements */
  double x = (double)(t - wl->o.start_ms) / period + hs->churn_off;
  return x < 1 ? 0 : (unsigned)x;
}

static void hist_observe(host_t *hs, hist_t *hi, double dt) {
  double mean = hi->rate * dt;
  /* normal approximation of a Poisson count, good enough for a workload */
  double k = round(mean + sqrt(mean) * gauss(&hs->rng));
  if (k < 0) k = 0;
  for (int j = 0; j < (int)k; j++) {
    double x = exp(hi->mu + 1.1 * gauss(&hs->rng));
    hi->sum += x;
    for (int b = 0; b < NBUCKETS; b++)
      if (x <= le_v[b]) hi->bucket[b] += 1;
  }
  hi->count += k;
}

static void step_values(wl_t *wl, host_t *hs, int64_t t, double dt) {
  for (size_t g = 0; g < wl->nhist; g++) hist_observe(hs, &hs->hists[g], dt);
  for (size_t g = 0; g < wl->nstate; g++) {
    double u = unif(&hs->rng);
    if (u < 0.0005) hs->state[g] = (uint8_t)(rnd(&hs->rng) % 5);
    else if (u < 0.002 && hs->state[g] != 1) hs->state[g] = 1;
  }
  for (size_t i = 0; i < wl->n; i++) {
    const tmpl_t *tp = &wl->t[i];
    const fam_t *fm = &families[tp->fam];
    double sc = hs->scale[i];
    double *v = &hs->v[i];
    switch (fm->kind) {
      case K_CONST:
        break;
      case K_GAUGE: {
        double lvl = fm->base * sc;
        double period = 3600.0 * (1 + 5 * (sc - floor(sc)));
        double target = lvl * (1 + 0.1 * sin(6.283185307179586 * ((double)t / 1000.0) / period + 7 * sc));
        double nv = *v + (target - *v) * 0.3 + fm->noise * lvl * gauss(&hs->rng);
        if (nv < 0) nv = 0;
        *v = round_q(nv, fm->quantum);
        break;
      }
      case K_COUNTER: {
        double r = fm->rate * sc * dt;
        double inc;
        if (fm->quantum > 0 && r < fm->quantum) {
          inc = unif(&hs->rng) < r / fm->quantum ? fm->quantum * (1 + (double)(rnd(&hs->rng) % 3)) : 0;
        } else {
          inc = r * (1 + fm->noise * gauss(&hs->rng));
          if (inc < 0) inc = 0;
          if (unif(&hs->rng) < 0.01) inc *= 5 + 15 * unif(&hs->rng);
        }
        *v = round_q(*v + inc, fm->quantum);
        break;
      }
      case K_TIME:
        *v = (double)t / 1000.0 + (double)(rnd(&hs->rng) % 1000) * 1e-7;
        break;
      case K_STATE:
        *v = hs->state[tp->grp] == tp->i2 ? 1 : 0;
        break;
      case K_HIST: {
        const hist_t *hi = &hs->hists[tp->grp];
        *v = tp->sub < NBUCKETS ? hi->bucket[tp->sub] : tp->sub == NBUCKETS ? hi->sum : hi->count;
        break;
      }
    }
  }
}

int64_t wl_scrape(wl_t *wl, unsigned h, size_t step, double *vals, bool *new_series) {
  ph_assert(h < wl->o.hosts);
  host_t *hs = &wl->hosts[h];
  ph_assert(step >= hs->next_step);
  bool changed = step == 0;
  int64_t t = 0;
  while (hs->next_step <= step) {
    size_t k = hs->next_step++;
    t = scrape_time(wl, h, k, hs);
    unsigned gen = churn_gen(wl, hs, t);
    if (gen != hs->gen) {
      host_set_instance(hs, h, gen);
      host_reset(wl, hs, false);
      changed = true;
    }
    step_values(wl, hs, t, (double)wl->o.interval_ms / 1000.0);
  }
  memcpy(vals, hs->v, wl->n * sizeof(double));
  if (new_series) *new_series = changed;
  return t;
}

size_t wl_labels(const wl_t *wl, unsigned h, size_t i, label_t *buf, size_t cap) {
  ph_assert(h < wl->o.hosts && i < wl->n);
  const tmpl_t *t = &wl->t[i];
  const fam_t *fm = &families[t->fam];
  const host_t *hs = &wl->hosts[h];
  label_t tmp[WL_MAX_LABELS];
  size_t n = 0;
  tmp[n++] = (label_t){"__name__", t->name};
  tmp[n++] = (label_t){"job", "node"};
  tmp[n++] = (label_t){"instance", hs->insts[hs->ninsts - 1]};
  if (fm->d1)
    for (unsigned k = 0; k < fm->d1->nnames; k++)
      tmp[n++] = (label_t){fm->d1->names[k], fm->d1->vals[t->i1 * fm->d1->nnames + k]};
  if (fm->d2)
    for (unsigned k = 0; k < fm->d2->nnames; k++)
      tmp[n++] = (label_t){fm->d2->names[k], fm->d2->vals[t->i2 * fm->d2->nnames + k]};
  if (fm->kind == K_HIST && t->sub < NBUCKETS) tmp[n++] = (label_t){"le", les[t->sub]};
  size_t m = n < cap ? n : cap;
  memcpy(buf, tmp, m * sizeof(label_t));
  return m;
}

const char *wl_metric_name(const wl_t *wl, size_t i) {
  ph_assert(i < wl->n);
  return wl->t[i].name;
}

/* ---- text exposition ---------------------------------------------------- */

void wl_format_double(strbuf_t *out, double v) {
  if (isnan(v)) { strbuf_puts(out, "NaN"); return; }
  if (isinf(v)) { strbuf_puts(out, v > 0 ? "+Inf" : "-Inf"); return; }
  char buf[40];
  for (int prec = 6; prec <= 17; prec++) {
    snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (strtod(buf, NULL) == v) break;
  }
  strbuf_puts(out, buf);
}

void wl_render_text(const wl_t *wl, unsigned h, const double *vals, strbuf_t *out) {
  int last = -1;
  label_t ls[WL_MAX_LABELS];
  for (size_t i = 0; i < wl->n; i++) {
    const tmpl_t *t = &wl->t[i];
    const fam_t *fm = &families[t->fam];
    if (t->fam != last) {
      const char *type = fm->kind == K_COUNTER ? "counter" : fm->kind == K_HIST ? "histogram" : "gauge";
      strbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", fm->name, fm->help, fm->name, type);
      last = t->fam;
    }
    size_t n = wl_labels(wl, h, i, ls, WL_MAX_LABELS);
    strbuf_puts(out, t->name);
    /* job and instance are the scraper's to add: omit them */
    bool any = false;
    for (size_t k = 1; k < n; k++) {
      if (!strcmp(ls[k].name, "job") || !strcmp(ls[k].name, "instance")) continue;
      strbuf_putc(out, any ? ',' : '{');
      strbuf_printf(out, "%s=\"%s\"", ls[k].name, ls[k].value);
      any = true;
    }
    if (any) strbuf_putc(out, '}');
    strbuf_putc(out, ' ');
    wl_format_double(out, vals[i]);
    strbuf_putc(out, '\n');
  }
}
