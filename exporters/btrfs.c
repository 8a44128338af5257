/*
 * btrfs.c - the btrfs collector: per filesystem (/sys/fs/btrfs/<uuid>/)
 * node_btrfs_info{label}, global reserve, commit statistics
 * (commit_stats: commits, last/max/total_commit_ms), device sizes
 * (devices/<dev>/size in 512-byte sectors) and, per block group type
 * (data, metadata, system), the reserved bytes and for each RAID layout
 * directory its used/total bytes and allocation ratio (raid1/dup/raid10 2,
 * raid5 n/(n-1), raid6 n/(n-2) with n devices, raid1c3 3, raid1c4 4).
 */
#include "exporter_int.h"

#include "ph_error.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static double ratio(const char *layout, double ndev) {
  if (strcmp(layout, "single") == 0 || strcmp(layout, "raid0") == 0) return 1;
  if (strcmp(layout, "dup") == 0 || strcmp(layout, "raid1") == 0 || strcmp(layout, "raid10") == 0)
    return 2;
  if (strcmp(layout, "raid5") == 0) return ndev / (ndev - 1);
  if (strcmp(layout, "raid6") == 0) return ndev / (ndev - 2);
  if (strcmp(layout, "raid1c3") == 0) return 3;
  if (strcmp(layout, "raid1c4") == 0) return 4;
  return 0;
}

static double read_or_zero(const char *path) {
  double v = 0;
  if (ph_read_double(path, &v) < 0) v = 0;
  return v;
}

static int btrfs_collect(collect_ctx_t *c, void *state) {
  (void)state;
  char base[PATH_MAX], fs[PATH_MAX], path[PATH_MAX], **uuids;
  size_t nu;
  int rc = cc_list_dir(c, cc_sys(c, base, sizeof(base), "fs/btrfs"), &uuids, &nu);
  if (rc == PH_ENOTFOUND) return 0; /* no btrfs loaded: nothing to report */
  if (rc < 0) return rc;
  for (size_t i = 0; i < nu; i++) {
    const char *uuid = uuids[i];
    ph_pathf(fs, sizeof(fs), "%s/%s", base, uuid);
    struct stat st;
    if (stat(fs, &st) != 0 || !S_ISDIR(st.st_mode)) continue; /* "features" */
    ph_pathf(path, sizeof(path), "%s/allocation", fs);
    if (stat(path, &st) != 0) continue;
    char label[512] = "";
    ph_read_str(ph_pathf(path, sizeof(path), "%s/label", fs), label, sizeof(label));
    cc_gauge(c, "node_btrfs_info", "Filesystem information", 1, "uuid", uuid, "label",
             ph_trim(label), NULL);
    cc_gauge(c, "node_btrfs_global_rsv_size_bytes", "Size of global reserve.",
             read_or_zero(ph_pathf(path, sizeof(path), "%s/allocation/global_rsv_size", fs)),
             "uuid", uuid, NULL);
    double commits = 0, last = 0, max = 0, total = 0;
    char *data, *line;
    size_t len;
    if (cc_read_file(c, ph_pathf(path, sizeof(path), "%s/commit_stats", fs), &data, &len) == 0) {
      while ((line = ph_next_line(&data)) != NULL) {
        char *f[3];
        double v;
        if (ph_fields(line, f, 3) != 2 || !ph_parse_double(f[1], &v)) continue;
        if (strcmp(f[0], "commits") == 0) commits = v;
        else if (strcmp(f[0], "last_commit_ms") == 0) last = v;
        else if (strcmp(f[0], "max_commit_ms") == 0) max = v;
        else if (strcmp(f[0], "total_commit_ms") == 0) total = v;
      }
    }
    cc_counter(c, "node_btrfs_commits_total", "The total number of commits that have occurred.",
               commits, "uuid", uuid, NULL);
    cc_gauge(c, "node_btrfs_last_commit_seconds",
             "Duration of the most recent commit, in seconds.", last / 1000, "uuid", uuid, NULL);
    cc_gauge(c, "node_btrfs_max_commit_seconds", "Duration of the slowest commit, in seconds.",
             max / 1000, "uuid", uuid, NULL);
    cc_counter(c, "node_btrfs_commit_seconds_total",
               "Sum of the duration of all commits, in seconds.", total / 1000, "uuid", uuid, NULL);
    char devdir[PATH_MAX], **devs;
    size_t nd = 0;
    if (cc_list_dir(c, ph_pathf(devdir, sizeof(devdir), "%s/devices", fs), &devs, &nd) == 0) {
      for (size_t k = 0; k < nd; k++) {
        double sectors =
            read_or_zero(ph_pathf(path, sizeof(path), "%s/%s/size", devdir, devs[k]));
        cc_gauge(c, "node_btrfs_device_size_bytes",
                 "Size of a device that is part of the filesystem.", sectors * 512, "uuid", uuid,
                 "device", devs[k], NULL);
      }
    }
    static const char *const types[] = {"data", "metadata", "system"};
    for (size_t t = 0; t < 3; t++) {
      char adir[PATH_MAX], **ents;
      size_t ne;
      ph_pathf(adir, sizeof(adir), "%s/allocation/%s", fs, types[t]);
      if (stat(adir, &st) != 0) continue;
      cc_gauge(c, "node_btrfs_reserved_bytes", "Amount of space reserved for a data type",
               read_or_zero(ph_pathf(path, sizeof(path), "%s/bytes_reserved", adir)), "uuid",
               uuid, "block_group_type", types[t], NULL);
      if (cc_list_dir(c, adir, &ents, &ne) < 0) continue;
      for (size_t k = 0; k < ne; k++) {
        ph_pathf(path, sizeof(path), "%s/%s", adir, ents[k]);
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) continue;
        double used = read_or_zero(ph_pathf(path, sizeof(path), "%s/%s/used_bytes", adir, ents[k]));
        double tot = read_or_zero(ph_pathf(path, sizeof(path), "%s/%s/total_bytes", adir, ents[k]));
        cc_gauge(c, "node_btrfs_used_bytes", "Amount of used space by a layout/data type", used,
                 "uuid", uuid, "block_group_type", types[t], "mode", ents[k], NULL);
        cc_gauge(c, "node_btrfs_size_bytes", "Amount of space allocated for a layout/data type",
                 tot, "uuid", uuid, "block_group_type", types[t], "mode", ents[k], NULL);
        cc_gauge(c, "node_btrfs_allocation_ratio", "Data allocation ratio for a layout/data type",
                 ratio(ents[k], (double)nd), "uuid", uuid, "block_group_type", types[t], "mode",
                 ents[k], NULL);
      }
    }
  }
  return 0;
}

const collector_def_t collector_btrfs = {
    .name = "btrfs", .default_enabled = true, .collect = btrfs_collect};
