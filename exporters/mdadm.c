/*
 * mdadm.c - the mdadm collector: md RAID arrays from /proc/mdstat.
 *
 * Each array is a line "mdN : <state> [qualifier] <level> <dev>[n](F|S) …"
 * followed by a status line "<blocks> blocks … [total/active] [UU_]"
 * (raid0/linear only count the member devices), an optional bitmap line
 * and an optional sync line ("recovery = 8.5% (16775552/195310144) …",
 * "resync=DELAYED", "check = …").  Exported: node_md_blocks,
 * node_md_blocks_synced (the whole size unless syncing), node_md_disks
 * {state=active|failed|spare}, node_md_disks_required and node_md_state
 * {state=active|inactive|recovering|resync|check} (one of them 1), all
 * exactly as node_exporter.
 *
 * RAID health at a glance (pharos-exporter's own families, under a
 * pharos_ prefix so node_exporter's node_md_* stay identical):
 *   pharos_md_degraded{device}            1 when a redundant array has
 *       fewer active disks than it requires ([4/3] [UUU_]), else 0
 *   pharos_md_sync_progress_ratio{device} done/total of the running
 *       resync, recovery, check or reshape (0 while DELAYED/PENDING), 1
 *       when none runs
 *   pharos_md_sync_remaining_seconds{device}  the kernel's "finish="
 *       estimate, 0 when none runs
 */
#include "exporter_int.h"

#include "ph_error.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t count(const char *s, const char *sub) {
  size_t n = 0, l = strlen(sub);
  for (const char *p = strstr(s, sub); p; p = strstr(p + l, sub)) n++;
  return n;
}

typedef struct md_sync {
  double ratio;   /* 1 when idle */
  double remain;  /* seconds */
} md_sync_t;

static void emit_health(collect_ctx_t *c, const char *dev, bool degraded, const md_sync_t *sy) {
  cc_gauge(c, "pharos_md_degraded",
           "Whether the md device has fewer active disks than it requires (1) or not (0).",
           degraded ? 1 : 0, "device", dev, NULL);
  cc_gauge(c, "pharos_md_sync_progress_ratio",
           "Progress of the running resync, recovery, check or reshape of the md device, "
           "0 to 1; 1 when none runs.",
           sy->ratio, "device", dev, NULL);
  cc_gauge(c, "pharos_md_sync_remaining_seconds",
           "Estimated time until the running sync of the md device finishes; 0 when none runs.",
           sy->remain, "device", dev, NULL);
}

/* "finish=12.5min" in a sync line, in seconds; 0 when absent. */
static double finish_seconds(const char *sl) {
  const char *f = strstr(sl, "finish=");
  if (f == NULL) return 0;
  char *end;
  double v = strtod(f + 7, &end);
  if (end == f + 7 || v < 0) return 0;
  if (ph_has_prefix(end, "min")) return v * 60;
  if (ph_has_prefix(end, "sec") || *end == 's') return v;
  if (ph_has_prefix(end, "h")) return v * 3600;
  return v * 60;
}

static void emit(collect_ctx_t *c, const char *dev, const char *state, double active,
                 double failed, double spare, double total, double size, double synced) {
  cc_gauge(c, "node_md_blocks", "Total number of blocks on device.", size, "device", dev, NULL);
  cc_gauge(c, "node_md_blocks_synced", "Number of blocks synced on device.", synced, "device",
           dev, NULL);
  static const char *h = "Number of active/failed/spare disks of device.";
  cc_gauge(c, "node_md_disks", h, active, "device", dev, "state", "active", NULL);
  cc_gauge(c, "node_md_disks", h, failed, "device", dev, "state", "failed", NULL);
  cc_gauge(c, "node_md_disks", h, spare, "device", dev, "state", "spare", NULL);
  cc_gauge(c, "node_md_disks_required", "Total number of disks of device.", total, "device", dev,
           NULL);
  static const char *const states[][2] = {{"active", "active"},
                                          {"inactive", "inactive"},
                                          {"recovering", "recovering"},
                                          {"resync", "resyncing"},
                                          {"check", "checking"}};
  for (size_t k = 0; k < 5; k++)
    cc_gauge(c, "node_md_state", "Indicates the state of md-device.",
             strcmp(state, states[k][1]) == 0 ? 1 : 0, "device", dev, "state", states[k][0],
             NULL);
}

static int mdadm_collect(collect_ctx_t *c, void *state) {
  (void)state;
  char path[PATH_MAX], *data;
  size_t len;
  int rc = cc_read_arena(c, cc_proc(c, path, sizeof(path), "mdstat"), &data, &len);
  if (rc < 0) return rc;
  /* split into lines (strings.Split keeps a trailing empty line) */
  size_t nl = 1;
  for (size_t i = 0; i < len; i++) nl += data[i] == '\n';
  char **lines = arena_alloc(c->arena, nl * sizeof(char *));
  if (lines == NULL) return PH_ELIMIT;
  size_t n = ph_split(data, '\n', lines, nl);
  for (size_t i = 0; i < n; i++) {
    const char *line = lines[i];
    char tmp[256];
    snprintf(tmp, sizeof(tmp), "%s", line);
    if (*ph_trim(tmp) == '\0' || line[0] == ' ' || ph_has_prefix(line, "Personalities") ||
        ph_has_prefix(line, "unused"))
      continue;
    char *copy = cc_strdup(c, line), *f[64];
    size_t nf = ph_fields(copy, f, 64);
    if (nf < 3) return cc_fail(c, PH_EPARSE, "mdstat: unexpected format near \"%.80s\"", lines[i]);
    if (n <= i + 3) return cc_fail(c, PH_EPARSE, "mdstat: unexpected format near \"%.80s\"", lines[i]);
    const char *name = f[0];
    const char *st = f[2];
    double failed = (double)count(line, "(F)"), spare = (double)count(line, "(S)");
    double active = 0, total = 0;
    char *sf[8], *status = cc_strdup(c, lines[i + 1]);
    if (ph_fields(status, sf, 8) < 1) return cc_fail(c, PH_EPARSE, "mdstat: unexpected format near \"%.80s\"", lines[i]);
    int64_t size;
    if (!ph_parse_i64(sf[0], &size)) return cc_fail(c, PH_EPARSE, "mdstat: unexpected format near \"%.80s\"", lines[i]);
    if (strstr(line, "raid0") || strstr(line, "linear")) {
      active = total = (double)count(line, "[");
    } else if (!strstr(line, "inactive")) {
      /* (\d+) blocks .*\[(\d+)/(\d+)\] \[([U_]+)\] */
      const char *s = lines[i + 1];
      const char *b = strstr(s, " blocks ");
      unsigned long t = 0, a = 0;
      bool ok = false;
      for (const char *p = b ? strchr(b, '[') : NULL; p; p = strchr(p + 1, '[')) {
        char bar[256];
        if (sscanf(p, "[%lu/%lu] [%255[U_]]", &t, &a, bar) == 3) ok = true;
      }
      if (!ok) return cc_fail(c, PH_EPARSE, "mdstat: unexpected format near \"%.80s\"", lines[i]);
      total = (double)t;
      active = (double)a;
    }
    size_t sync = i + 2;
    if (strstr(lines[sync], "bitmap")) sync++;
    const char *sl = sync < n ? lines[sync] : "";
    double synced = (double)size;
    const char *state_name = st;
    bool rec = strstr(sl, "recovery") != NULL, res = strstr(sl, "resync") != NULL,
         chk = strstr(sl, "check") != NULL;
    md_sync_t sy = {1, 0};
    if (rec || res || chk) {
      state_name = rec ? "recovering" : chk ? "checking" : "resyncing";
      if (strstr(sl, "PENDING") || strstr(sl, "DELAYED")) {
        synced = 0;
        sy.ratio = 0;
      } else {
        const char *p = strchr(sl, '(');
        unsigned long long done = 0, all = 0;
        if (p == NULL || sscanf(p, "(%llu/%llu)", &done, &all) != 2)
          return cc_fail(c, PH_EPARSE, "mdstat: %s: cannot parse sync line \"%s\"", name, sl);
        synced = (double)done;
        sy.ratio = all > 0 ? (double)done / (double)all : 0;
        sy.remain = finish_seconds(sl);
      }
    } else if (strstr(sl, "reshape") != NULL) {
      /* node_md_* know no reshape; the progress still shows it */
      const char *p = strchr(sl, '(');
      unsigned long long done = 0, all = 0;
      if (p != NULL && sscanf(p, "(%llu/%llu)", &done, &all) == 2 && all > 0) {
        sy.ratio = (double)done / (double)all;
        sy.remain = finish_seconds(sl);
      }
    }
    emit(c, name, state_name, active, failed, spare, total, (double)size, synced);
    bool redundant = !strstr(line, "raid0") && !strstr(line, "linear") && !strstr(line, "inactive");
    emit_health(c, name, redundant && active < total, &sy);
  }
  return 0;
}

const collector_def_t collector_mdadm = {
    .name = "mdadm", .default_enabled = true, .collect = mdadm_collect};
