/*
 * time.c - the time collector: node_time_seconds (wall clock),
 * node_time_zone_offset_seconds{time_zone} (the local zone's offset from
 * UTC now) and the clocksources of /sys/devices/system/clocksource/
 * clocksourceN/{available,current}_clocksource as
 * node_time_clocksource_{available,current}_info{device,clocksource}.
 */
#include "exporter_int.h"

#include "ph_error.h"

#include <limits.h>
#include <string.h>
#include <time.h>

static int time_collect(collect_ctx_t *c, void *state) {
  (void)state;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  cc_gauge(c, "node_time_seconds", "System time in seconds since epoch (1970).",
           (double)ts.tv_sec + (double)ts.tv_nsec / 1e9, NULL);
  struct tm lt;
  time_t now = ts.tv_sec;
  localtime_r(&now, &lt);
  cc_gauge(c, "node_time_zone_offset_seconds", "System time zone offset in seconds.",
           (double)lt.tm_gmtoff, "time_zone", lt.tm_zone ? lt.tm_zone : "", NULL);
  char dir[PATH_MAX], path[PATH_MAX], buf[1024], **names;
  size_t n;
  if (cc_list_dir(c, cc_sys(c, dir, sizeof(dir), "devices/system/clocksource"), &names, &n) < 0)
    return 0;
  for (size_t i = 0; i < n; i++) {
    if (!ph_has_prefix(names[i], "clocksource")) continue;
    const char *dev = names[i] + strlen("clocksource");
    if (ph_read_str(ph_pathf(path, sizeof(path), "%s/%s/available_clocksource", dir, names[i]),
                    buf, sizeof(buf)) == 0) {
      char *f[64];
      size_t nf = ph_fields(buf, f, 64);
      for (size_t k = 0; k < nf; k++)
        cc_gauge(c, "node_time_clocksource_available_info",
                 "Available clocksources read from '/sys/devices/system/clocksource'.", 1,
                 "device", dev, "clocksource", f[k], NULL);
    }
    if (ph_read_str(ph_pathf(path, sizeof(path), "%s/%s/current_clocksource", dir, names[i]),
                    buf, sizeof(buf)) == 0)
      cc_gauge(c, "node_time_clocksource_current_info",
               "Current clocksource read from '/sys/devices/system/clocksource'.", 1, "device",
               dev, "clocksource", ph_trim(buf), NULL);
  }
  return 0;
}

const collector_def_t collector_time = {
    .name = "time", .default_enabled = true, .collect = time_collect};
