/*
 * processes.c - the processes collector (off by default): walks
 * /proc/<pid>/stat for the process count, the count per state letter and
 * the total of threads; limits from /proc/sys/kernel/{threads-max,pid_max}.
 * PIDs that vanish during the walk are skipped.
 */
#include "exporter_int.h"

#include "ph_error.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

static int processes_collect(collect_ctx_t *c, void *state) {
  (void)state;
  char dir[PATH_MAX], path[PATH_MAX], **names;
  size_t n;
  int rc = cc_list_dir(c, cc_proc(c, dir, sizeof(dir), "%s", ""), &names, &n);
  if (rc < 0) return rc;
  double pids = 0, threads = 0, states[128] = {0};
  for (size_t i = 0; i < n; i++) {
    uint64_t pid;
    if (!ph_parse_u64(names[i], &pid)) continue;
    char *data;
    size_t len;
    rc = cc_read_file(c, ph_pathf(path, sizeof(path), "%s/%s/stat", dir, names[i]), &data, &len);
    if (rc == PH_ENOTFOUND) continue;
    if (rc < 0) return rc;
    char *p = strrchr(data, ')');
    if (p == NULL) return PH_EPARSE;
    char *f[24];
    if (ph_fields(p + 1, f, 24) < 18) return PH_EPARSE;
    double nt;
    if (!ph_parse_double(f[17], &nt)) return PH_EPARSE;
    pids++;
    threads += nt;
    states[(unsigned char)f[0][0] & 127]++;
  }
  cc_gauge(c, "node_processes_threads", "Allocated threads in system", threads, NULL);
  double v;
  rc = ph_read_double(cc_proc(c, path, sizeof(path), "sys/kernel/threads-max"), &v);
  if (rc < 0) return rc;
  cc_gauge(c, "node_processes_max_threads", "Limit of threads in the system", v, NULL);
  for (int k = 0; k < 128; k++) {
    if (states[k] == 0) continue;
    char st[2] = {(char)k, 0};
    cc_gauge(c, "node_processes_state", "Number of processes in each state.", states[k],
             "state", st, NULL);
  }
  rc = ph_read_double(cc_proc(c, path, sizeof(path), "sys/kernel/pid_max"), &v);
  if (rc < 0) return rc;
  cc_gauge(c, "node_processes_pids", "Number of PIDs", pids, NULL);
  cc_gauge(c, "node_processes_max_processes", "Number of max PIDs limit", v, NULL);
  return 0;
}

const collector_def_t collector_processes = {
    .name = "processes", .default_enabled = false, .collect = processes_collect};
