/*
 * self.c - process_* metrics of the exporter's own process, as
 * client_golang's process collector reports them, from the real
 * /proc/self (not --path.procfs): CPU time and start time from
 * /proc/self/stat, memory from the same line, open fds from /proc/self/fd,
 * limits from getrlimit().  Since Linux 6.2 stat() of /proc/self/fd gives
 * the number of open descriptors as its size, which spares listing the
 * directory (a dentry per descriptor) every scrape; older kernels say 0
 * there and the directory is listed (minus the listing's own descriptor).
 */
#include "exporter_int.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* The boot time cannot change while we run, so /proc/stat (costly for
 * the kernel to generate) is read for it once per process. */
static double boot_time(collect_ctx_t *c) {
  static _Atomic double cached;
  double b = cached;
  if (b != 0) return b;
  char *data, *line;
  size_t len;
  if (cc_read_file(c, "/proc/stat", &data, &len) < 0) return 0;
  while ((line = ph_next_line(&data)) != NULL) {
    if (ph_has_prefix(line, "btime ")) {
      double v;
      if (ph_parse_double(ph_trim(line + 6), &v)) {
        cached = v;
        return v;
      }
    }
  }
  return 0;
}

void exporter__process_metrics(collect_ctx_t *c) {
  char *data;
  size_t len;
  double btime = boot_time(c);
  if (cc_read_file(c, "/proc/self/stat", &data, &len) < 0) return;
  char *p = strrchr(data, ')');
  if (p == NULL) return;
  char *f[64];
  size_t nf = ph_fields(p + 1, f, 64);
  /* fields after the command: state(0) ... utime(11) stime(12) ...
   * starttime(19) vsize(20) rss(21) */
  if (nf < 22) return;
  double tick = (double)sysconf(_SC_CLK_TCK);
  double pagesize = (double)sysconf(_SC_PAGESIZE);
  double ut, st, start, vsize, rss;
  if (!ph_parse_double(f[11], &ut) || !ph_parse_double(f[12], &st) ||
      !ph_parse_double(f[19], &start) || !ph_parse_double(f[20], &vsize) ||
      !ph_parse_double(f[21], &rss))
    return;
  cc_counter(c, "process_cpu_seconds_total",
             "Total user and system CPU time spent in seconds.",
             (ut + st) / tick, NULL);
  cc_gauge(c, "process_start_time_seconds",
           "Start time of the process since unix epoch in seconds.",
           btime + start / tick, NULL);
  cc_gauge(c, "process_virtual_memory_bytes",
           "Virtual memory size in bytes.", vsize, NULL);
  cc_gauge(c, "process_resident_memory_bytes",
           "Resident memory size in bytes.", rss * pagesize, NULL);
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
    cc_gauge(c, "process_max_fds", "Maximum number of open file descriptors.",
             rl.rlim_cur == RLIM_INFINITY ? -1 : (double)rl.rlim_cur, NULL);
  if (getrlimit(RLIMIT_AS, &rl) == 0)
    cc_gauge(c, "process_virtual_memory_max_bytes",
             "Maximum amount of virtual memory available in bytes.",
             rl.rlim_cur == RLIM_INFINITY ? -1 : (double)rl.rlim_cur, NULL);
  struct stat fst;
  if (stat("/proc/self/fd", &fst) == 0 && fst.st_size > 0) {
    cc_gauge(c, "process_open_fds", "Number of open file descriptors.",
             (double)fst.st_size, NULL);
    return;
  }
  DIR *d = opendir("/proc/self/fd");
  if (d != NULL) {
    double n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
      if (de->d_name[0] != '.') n++;
    closedir(d);
    cc_gauge(c, "process_open_fds", "Number of open file descriptors.", n - 1,
             NULL);
  }
}
