/*
 * processes.c - the processes collector (off by default): walks
 * /proc/<pid>/stat for the process count, the count per state letter and
 * the total of threads; limits from /proc/sys/kernel/{threads-max,pid_max}.
 * Thread states (node_processes_threads_state{thread_state}) come from
 * /proc/<pid>/task/<tid>/stat, the process's own state standing for its
 * main thread, as node_exporter does.  PIDs and threads that vanish during
 * the walk are skipped.
 */
#include "exporter_int.h"

#include "ph_error.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

/* Counts the states of pid's threads into tstates. */
static int thread_states(collect_ctx_t *c, const char *dir, const char *pid, char pstate,
                         double *tstates) {
  char tdir[PATH_MAX], path[PATH_MAX];
  DIR *d = opendir(ph_pathf(tdir, sizeof(tdir), "%s/%s/task", dir, pid));
  if (d == NULL) return 0; /* the process is gone */
  struct dirent *de;
  int ret = 0;
  while ((de = readdir(d)) != NULL) {
    uint64_t tid;
    if (!ph_parse_u64(de->d_name, &tid)) continue;
    if (strcmp(de->d_name, pid) == 0) {
      tstates[(unsigned char)pstate & 127]++;
      continue;
    }
    char *data;
    size_t len;
    int rc = cc_read_file(c, ph_pathf(path, sizeof(path), "%s/%s/stat", tdir, de->d_name), &data,
                          &len);
    if (rc == PH_ENOTFOUND) continue;
    if (rc < 0) {
      ret = rc;
      break;
    }
    char *p = strrchr(data, ')');
    char *f[2];
    if (p == NULL || ph_fields(p + 1, f, 2) < 1) {
      ret = cc_fail(c, PH_EPARSE, "%s: unexpected format", path);
      break;
    }
    tstates[(unsigned char)f[0][0] & 127]++;
  }
  closedir(d);
  return ret;
}

static int processes_collect(collect_ctx_t *c, void *state) {
  (void)state;
  char dir[PATH_MAX], path[PATH_MAX], **names;
  size_t n;
  int rc = cc_list_dir(c, cc_proc(c, dir, sizeof(dir), "%s", ""), &names, &n);
  if (rc < 0) return rc;
  double pids = 0, threads = 0, states[128] = {0}, tstates[128] = {0};
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
    char pstate = f[0][0];
    states[(unsigned char)pstate & 127]++;
    rc = thread_states(c, dir, names[i], pstate, tstates);
    if (rc < 0) return rc;
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
  for (int k = 0; k < 128; k++) {
    if (tstates[k] == 0) continue;
    char st[2] = {(char)k, 0};
    cc_gauge(c, "node_processes_threads_state", "Number of threads in each state.", tstates[k],
             "thread_state", st, NULL);
  }
  rc = ph_read_double(cc_proc(c, path, sizeof(path), "sys/kernel/pid_max"), &v);
  if (rc < 0) return rc;
  cc_gauge(c, "node_processes_pids", "Number of PIDs", pids, NULL);
  cc_gauge(c, "node_processes_max_processes", "Number of max PIDs limit", v, NULL);
  return 0;
}

const collector_def_t collector_processes = {
    .name = "processes", .default_enabled = false, .collect = processes_collect};
