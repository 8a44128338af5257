/*
 * zfs.c - the zfs collector: ZFS on Linux kstats under
 * <procfs>/spl/kstat/zfs.
 *
 * The "misc" kstat files (arcstats, abdstats, dbufstats, dmu_tx,
 * dnodestats, fm, vdev_cache_stats, vdev_mirror_stats, xuio_stats,
 * zfetchstats, zil) have a header line, a "name type data" line, then one
 * "name type value" row per counter; int64/uint64 rows (types 3 and 4, parsed as such)
 * become untyped node_zfs_<subsystem>_<name> (- becomes _) with help
 * "kstat.zfs.misc.<file>.<name>".  Per pool: <pool>/io (a header row of
 * names and a row of values) as node_zfs_zpool_<name>{zpool},
 * <pool>/objset-* as node_zfs_zpool_dataset_<name>{zpool,dataset} and
 * <pool>/state as node_zfs_zpool_state{zpool,state}.  Missing files are
 * skipped (kstats come and go with ZFS versions); no zfs directory means
 * no data.
 */
#include "exporter_int.h"

#include "log.h"
#include "ph_error.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

static const char *const subsystems[][2] = {
    {"abd", "abdstats"},
    {"arc", "arcstats"},
    {"dbuf", "dbufstats"},
    {"dmu_tx", "dmu_tx"},
    {"dnode", "dnodestats"},
    {"fm", "fm"},
    {"vdev_cache", "vdev_cache_stats"},
    {"vdev_mirror", "vdev_mirror_stats"},
    {"xuio", "xuio_stats"},
    {"zfetch", "zfetchstats"},
    {"zil", "zil"},
};

static void metric_name(const char *in, char *out, size_t n) {
  snprintf(out, n, "%s", in);
  for (char *p = out; *p; p++)
    if (*p == '-') *p = '_';
}

static int misc_file(collect_ctx_t *c, const char *dir, const char *sub, const char *file) {
  char path[PATH_MAX], *data, *line;
  size_t len;
  int rc = cc_read_file(c, ph_pathf(path, sizeof(path), "%s/%s", dir, file), &data, &len);
  if (rc == PH_ENOTFOUND) return 0;
  if (rc < 0) return rc;
  bool parse = false;
  while ((line = ph_next_line(&data)) != NULL) {
    char *f[4];
    size_t nf = ph_fields(line, f, 4);
    if (!parse && nf == 3 && strcmp(f[0], "name") == 0 && strcmp(f[1], "type") == 0 &&
        strcmp(f[2], "data") == 0) {
      parse = true;
      continue;
    }
    if (!parse || nf < 3) continue;
    double v;
    if (strcmp(f[1], "4") == 0) { /* KSTAT_DATA_UINT64 */
      uint64_t u;
      if (!ph_parse_u64(f[2], &u)) return PH_EPARSE;
      v = (double)u;
    } else if (strcmp(f[1], "3") == 0) { /* KSTAT_DATA_INT64 */
      int64_t i;
      if (!ph_parse_i64(f[2], &i)) return PH_EPARSE;
      v = (double)i;
    } else {
      continue;
    }
    char mn[160], name[256], help[256];
    metric_name(f[0], mn, sizeof(mn));
    snprintf(name, sizeof(name), "node_zfs_%s_%s", sub, mn);
    snprintf(help, sizeof(help), "kstat.zfs.misc.%s.%s", file, f[0]);
    cc_untyped(c, name, help, v, NULL);
  }
  return parse ? 0 : PH_EPARSE;
}

static int pool_io(collect_ctx_t *c, const char *pool, const char *path) {
  char *data, *line;
  size_t len;
  int rc = cc_read_file(c, path, &data, &len);
  if (rc < 0) return rc;
  char *hdr[32];
  size_t nh = 0;
  while ((line = ph_next_line(&data)) != NULL) {
    char *f[32];
    size_t nf = ph_fields(line, f, 32);
    if (nh == 0) {
      if (nf >= 12 && strcmp(f[0], "nread") == 0) {
        memcpy(hdr, f, nf * sizeof(char *));
        nh = nf;
      }
      continue;
    }
    if (nf < nh) return PH_EPARSE;
    for (size_t i = 0; i < nh; i++) {
      uint64_t v;
      if (!ph_parse_u64(f[i], &v)) return PH_EPARSE;
      char mn[160], name[256], help[256];
      metric_name(hdr[i], mn, sizeof(mn));
      snprintf(name, sizeof(name), "node_zfs_zpool_%s", mn);
      snprintf(help, sizeof(help), "kstat.zfs.misc.io.%s", hdr[i]);
      cc_untyped(c, name, help, (double)v, "zpool", pool, NULL);
    }
  }
  return 0;
}

static int pool_objset(collect_ctx_t *c, const char *pool, const char *path) {
  char *data, *line;
  size_t len;
  int rc = cc_read_file(c, path, &data, &len);
  if (rc < 0) return rc;
  bool parse = false;
  char dataset[512] = "";
  while ((line = ph_next_line(&data)) != NULL) {
    char raw[512];
    snprintf(raw, sizeof(raw), "%s", line);
    char *f[4];
    size_t nf = ph_fields(line, f, 4);
    if (!parse && nf == 3 && strcmp(f[0], "name") == 0 && strcmp(f[1], "type") == 0 &&
        strcmp(f[2], "data") == 0) {
      parse = true;
      continue;
    }
    if (!parse || nf < 3) continue;
    if (strcmp(f[0], "dataset_name") == 0) {
      /* the rest of the line after the type column, spaces kept */
      char *p = raw;
      for (int col = 0; col < 2; col++) {
        while (*p == ' ' || *p == '\t') p++;
        while (*p && *p != ' ' && *p != '\t') p++;
      }
      while (*p == ' ' || *p == '\t') p++;
      snprintf(dataset, sizeof(dataset), "%s", p);
      ph_trim(dataset);
      continue;
    }
    if (strcmp(f[1], "4") != 0) continue;
    uint64_t v;
    if (!ph_parse_u64(f[2], &v)) return PH_EPARSE;
    char mn[160], name[256], help[256];
    metric_name(f[0], mn, sizeof(mn));
    snprintf(name, sizeof(name), "node_zfs_zpool_dataset_%s", mn);
    snprintf(help, sizeof(help), "kstat.zfs.misc.objset.%s", f[0]);
    cc_untyped(c, name, help, (double)v, "zpool", pool, "dataset", dataset, NULL);
  }
  return parse ? 0 : PH_EPARSE;
}

static int zfs_collect(collect_ctx_t *c, void *state) {
  (void)state;
  char dir[PATH_MAX], path[PATH_MAX], **names;
  size_t n;
  int rc = cc_list_dir(c, cc_proc(c, dir, sizeof(dir), "spl/kstat/zfs"), &names, &n);
  if (rc < 0) return rc == PH_ENOTFOUND ? PH_ENOTFOUND : rc;
  for (size_t k = 0; k < sizeof(subsystems) / sizeof(subsystems[0]); k++)
    if ((rc = misc_file(c, dir, subsystems[k][0], subsystems[k][1])) < 0) return rc;
  static const char *const states[] = {"online",  "degraded", "faulted",  "offline",
                                       "removed", "unavail",  "suspended"};
  for (size_t i = 0; i < n; i++) {
    char pdir[PATH_MAX], **files;
    size_t nfiles;
    if (cc_list_dir(c, ph_pathf(pdir, sizeof(pdir), "%s/%s", dir, names[i]), &files, &nfiles) < 0)
      continue; /* a misc kstat file */
    for (size_t k = 0; k < nfiles; k++) {
      ph_pathf(path, sizeof(path), "%s/%s", pdir, files[k]);
      if (strcmp(files[k], "io") == 0) {
        if ((rc = pool_io(c, names[i], path)) < 0) return rc;
      } else if (ph_has_prefix(files[k], "objset-")) {
        if ((rc = pool_objset(c, names[i], path)) < 0) return rc;
      } else if (strcmp(files[k], "state") == 0) {
        char st[64];
        if (ph_read_str(path, st, sizeof(st)) < 0) return PH_EIO;
        for (char *p = st; *p; p++)
          if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
        for (size_t s = 0; s < sizeof(states) / sizeof(states[0]); s++)
          cc_gauge(c, "node_zfs_zpool_state", "kstat.zfs.misc.state",
                   strcmp(ph_trim(st), states[s]) == 0 ? 1 : 0, "zpool", names[i], "state",
                   states[s], NULL);
      }
    }
  }
  return 0;
}

const collector_def_t collector_zfs = {
    .name = "zfs", .default_enabled = true, .collect = zfs_collect};
