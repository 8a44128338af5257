/*
 * diskstats.c - the diskstats collector: /proc/diskstats plus udev and
 * sysfs details per block device.
 *
 * /proc/diskstats rows are "major minor name" and 11, 15 or 17 counters
 * (reads, merges, sectors, ms …; discards since 4.18; flushes since 5.5);
 * only the counters present are exported.  Sectors are 512 bytes, times
 * milliseconds.  Per device also: node_disk_info (udev ID_PATH, ID_WWN,
 * ID_MODEL, serial (SCSI_IDENT_SERIAL, else ID_SERIAL_SHORT), ID_REVISION and /sys/block/<dev>/queue/rotational),
 * node_disk_filesystem_info (ID_FS_*), node_disk_device_mapper_info (DM_*)
 * and, for ATA disks, write cache and rotation rate.  udev data comes from
 * <udev data>/b<major>:<minor> ("E:KEY=value" lines).
 *
 * Devices are filtered with --collector.diskstats.device-exclude (default
 * partitions, loop, ram …) or --collector.diskstats.device-include.
 */
#include "exporter_int.h"

#include "log.h"
#include "mem.h"
#include "ph_error.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DISK_DEFAULT_EXCLUDE "^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\\d+n\\d+p)\\d+$"

static const exporter_flag_t diskstats_flags[] = {
    {"collector.diskstats.device-exclude", FLAG_STRING, DISK_DEFAULT_EXCLUDE,
     "Regexp of diskstats devices to exclude (mutually exclusive to device-include)."},
    {"collector.diskstats.device-include", FLAG_STRING, NULL,
     "Regexp of diskstats devices to include (mutually exclusive to device-exclude)."},
    {"collector.diskstats.ignored-devices", FLAG_STRING, NULL,
     "DEPRECATED: Use collector.diskstats.device-exclude"},
    {NULL, 0, NULL, NULL},
};

typedef struct disk_state {
  ph_devfilter_t filter;
  bool udev;
} disk_state_t;

static int diskstats_init(const exporter_options_t *o, void **state, char *err,
                          size_t errlen) {
  disk_state_t *s = ph_calloc(1, sizeof(*s));
  *state = s;
  const char *ex = exporter_options_get(o, "collector.diskstats.device-exclude");
  const char *in = exporter_options_get(o, "collector.diskstats.device-include");
  const char *old = exporter_options_get(o, "collector.diskstats.ignored-devices");
  bool ex_set = exporter__options_is_set(o, "collector.diskstats.device-exclude");
  if (old != NULL && *old != '\0') {
    if (ex_set)
      return ph_err(err, errlen, PH_EINVAL,
                    "--collector.diskstats.ignored-devices and "
                    "--collector.diskstats.device-exclude are mutually exclusive");
    log_warn("--collector.diskstats.ignored-devices is DEPRECATED and will be removed in "
             "2.0.0, use --collector.diskstats.device-exclude");
    ex = old;
    ex_set = true;
  }
  if (in != NULL && *in != '\0') {
    if (ex_set && ex != NULL && *ex != '\0')
      return ph_err(err, errlen, PH_EINVAL,
                    "device-exclude & device-include are mutually exclusive");
    ex = NULL;
  }
  struct stat st;
  const char *udev = exporter_options_get(o, "path.udev.data");
  s->udev = stat(udev, &st) == 0 && S_ISDIR(st.st_mode);
  if (!s->udev)
    log_error("Failed to open directory, disabling udev device properties", "path", udev);
  return ph_devfilter_init(&s->filter, in, ex, err, errlen);
}

static void diskstats_free(void *p) {
  disk_state_t *s = p;
  if (s == NULL) return;
  ph_devfilter_free(&s->filter);
  free(s);
}

enum { U_PATH, U_WWN, U_MODEL, U_REVISION, U_SCSI_SERIAL, U_SERIAL_SHORT,
       U_FS_TYPE, U_FS_USAGE, U_FS_UUID, U_FS_VERSION, U_DM_NAME, U_DM_UUID, U_DM_VG,
       U_DM_LV, U_DM_LAYER, U_ATA, U_ATA_WC, U_ATA_WCE, U_ATA_RPM, U_N };
static const char *const ukeys[U_N] = {
    "ID_PATH", "ID_WWN", "ID_MODEL", "ID_REVISION", "SCSI_IDENT_SERIAL", "ID_SERIAL_SHORT", "ID_FS_TYPE", "ID_FS_USAGE", "ID_FS_UUID", "ID_FS_VERSION", "DM_NAME",
    "DM_UUID", "DM_VG_NAME", "DM_LV_NAME", "DM_LV_LAYER", "ID_ATA", "ID_ATA_WRITE_CACHE",
    "ID_ATA_WRITE_CACHE_ENABLED", "ID_ATA_ROTATION_RATE_RPM"};

/* Fills u[] (NULL when absent) from the device's udev data (arena copy). */
static void read_udev(collect_ctx_t *c, const char *major, const char *minor, const char **u) {
  for (int k = 0; k < U_N; k++) u[k] = NULL;
  char path[PATH_MAX], name[64], *data, *line;
  snprintf(name, sizeof(name), "b%s:%s", major, minor);
  if (cc_read_arena(c, ph_path_join(path, sizeof(path), c->udev, name), &data, NULL) < 0)
    return;
  while ((line = ph_next_line(&data)) != NULL) {
    if (strncmp(line, "E:", 2) != 0) continue;
    char *eq = strchr(line + 2, '=');
    if (eq == NULL) continue;
    *eq = '\0';
    for (int k = 0; k < U_N; k++)
      if (strcmp(line + 2, ukeys[k]) == 0) u[k] = eq + 1;
  }
}

static const char *or_empty(const char *s) { return s ? s : ""; }

static const struct {
  const char *name, *help;
  bool gauge;
  double scale;
} fields[] = {
    {"node_disk_reads_completed_total", "The total number of reads completed successfully.", false, 1},
    {"node_disk_reads_merged_total", "The total number of reads merged.", false, 1},
    {"node_disk_read_bytes_total", "The total number of bytes read successfully.", false, 512},
    {"node_disk_read_time_seconds_total", "The total number of seconds spent by all reads.", false, 0.001},
    {"node_disk_writes_completed_total", "The total number of writes completed successfully.", false, 1},
    {"node_disk_writes_merged_total", "The number of writes merged.", false, 1},
    {"node_disk_written_bytes_total", "The total number of bytes written successfully.", false, 512},
    {"node_disk_write_time_seconds_total", "This is the total number of seconds spent by all writes.", false, 0.001},
    {"node_disk_io_now", "The number of I/Os currently in progress.", true, 1},
    {"node_disk_io_time_seconds_total", "Total seconds spent doing I/Os.", false, 0.001},
    {"node_disk_io_time_weighted_seconds_total", "The weighted # of seconds spent doing I/Os.", false, 0.001},
    {"node_disk_discards_completed_total", "The total number of discards completed successfully.", false, 1},
    {"node_disk_discards_merged_total", "The total number of discards merged.", false, 1},
    {"node_disk_discarded_sectors_total", "The total number of sectors discarded successfully.", false, 1},
    {"node_disk_discard_time_seconds_total", "This is the total number of seconds spent by all discards.", false, 0.001},
    {"node_disk_flush_requests_total", "The total number of flush requests completed successfully", false, 1},
    {"node_disk_flush_requests_time_seconds_total", "This is the total number of seconds spent by all flush requests.", false, 0.001},
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static int diskstats_collect(collect_ctx_t *c, void *state) {
  disk_state_t *s = state;
  char path[PATH_MAX], *data, *line;
  int rc = cc_read_arena(c, cc_proc(c, path, sizeof(path), "diskstats"), &data, NULL);
  if (rc < 0) return rc;
  while ((line = ph_next_line(&data)) != NULL) {
    char *f[32];
    size_t nf = ph_fields(line, f, 32);
    if (nf == 0) continue;
    if (nf < 14) return PH_EPARSE;
    const char *dev = f[2];
    if (ph_devfilter_ignored(&s->filter, dev)) continue;
    const char *u[U_N];
    if (s->udev)
      read_udev(c, f[0], f[1], u);
    else
      for (int k = 0; k < U_N; k++) u[k] = NULL;
    const char *serial = u[U_SCSI_SERIAL];
    if (serial == NULL || !*serial) serial = u[U_SERIAL_SHORT];
    uint64_t rot = 0;
    ph_read_u64(cc_sys(c, path, sizeof(path), "block/%s/queue/rotational", dev), &rot);
    char rots[72];
    size_t k = 0;
    /* strconv.FormatUint(rotational, 2) */
    char tmp[70];
    uint64_t r = rot;
    do {
      tmp[k++] = (char)('0' + (r & 1));
      r >>= 1;
    } while (r);
    for (size_t i = 0; i < k; i++) rots[i] = tmp[k - 1 - i];
    rots[k] = '\0';
    cc_gauge(c, "node_disk_info", "Info of /sys/block/<block_device>.", 1, "device", dev,
             "major", f[0], "minor", f[1], "path", or_empty(u[U_PATH]), "wwn", or_empty(u[U_WWN]),
             "model", or_empty(u[U_MODEL]), "serial", or_empty(serial), "revision",
             or_empty(u[U_REVISION]), "rotational", rots, NULL);
    size_t nstat = nf - 3;
    for (size_t i = 0; i < NFIELDS && i < nstat; i++) {
      double v;
      if (!ph_parse_double(f[3 + i], &v)) return PH_EPARSE;
      v *= fields[i].scale;
      if (fields[i].gauge)
        cc_gauge(c, fields[i].name, fields[i].help, v, "device", dev, NULL);
      else
        cc_counter(c, fields[i].name, fields[i].help, v, "device", dev, NULL);
    }
    if (u[U_FS_TYPE] && *u[U_FS_TYPE])
      cc_gauge(c, "node_disk_filesystem_info", "Info about disk filesystem.", 1, "device", dev,
               "type", u[U_FS_TYPE], "usage", or_empty(u[U_FS_USAGE]), "uuid",
               or_empty(u[U_FS_UUID]), "version", or_empty(u[U_FS_VERSION]), NULL);
    if (u[U_DM_NAME] && *u[U_DM_NAME])
      cc_gauge(c, "node_disk_device_mapper_info", "Info about disk device mapper.", 1, "device",
               dev, "name", u[U_DM_NAME], "uuid", or_empty(u[U_DM_UUID]), "vg_name",
               or_empty(u[U_DM_VG]), "lv_name", or_empty(u[U_DM_LV]), "lv_layer",
               or_empty(u[U_DM_LAYER]), NULL);
    if (u[U_ATA] && *u[U_ATA]) {
      static const struct {
        int key;
        const char *name, *help;
      } ata[] = {
          {U_ATA_WC, "node_disk_ata_write_cache", "ATA disk has a write cache."},
          {U_ATA_WCE, "node_disk_ata_write_cache_enabled", "ATA disk has its write cache enabled."},
          {U_ATA_RPM, "node_disk_ata_rotation_rate_rpm", "ATA disk rotation rate in RPMs (0 for SSDs)."},
      };
      for (size_t a = 0; a < 3; a++) {
        const char *val = u[ata[a].key];
        double v;
        if (val == NULL) continue;
        if (ph_parse_double(val, &v))
          cc_gauge(c, ata[a].name, ata[a].help, v, "device", dev, NULL);
        else
          log_error("Failed to parse ATA value", "device", dev, "value", val);
      }
    }
  }
  return 0;
}

const collector_def_t collector_diskstats = {
    .name = "diskstats",
    .default_enabled = true,
    .flags = diskstats_flags,
    .init = diskstats_init,
    .free = diskstats_free,
    .collect = diskstats_collect,
};
