/*
 * thermal_zone.c - the thermal_zone collector: /sys/class/thermal.
 *   thermal_zoneN/{type,temp}          -> node_thermal_zone_temp{zone,type}
 *                                         (millidegrees / 1000)
 *   cooling_deviceN/{type,cur_state,max_state}
 *                                      -> node_cooling_device_{cur,max}_state
 * A zone whose files cannot be read is skipped, as sysfs returns errors
 * for sensors that are powered down.
 */
#include "exporter_int.h"

#include "ph_error.h"

#include <limits.h>
#include <string.h>

static int thermal_collect(collect_ctx_t *c, void *state) {
  (void)state;
  char dir[PATH_MAX], path[PATH_MAX], type[256], **names;
  size_t n;
  int rc = cc_list_dir(c, cc_sys(c, dir, sizeof(dir), "class/thermal"), &names, &n);
  if (rc < 0) return rc;
  for (size_t i = 0; i < n; i++) {
    const char *nm = names[i];
    if (ph_has_prefix(nm, "thermal_zone")) {
      double t;
      if (ph_read_str(ph_pathf(path, sizeof(path), "%s/%s/type", dir, nm), type, sizeof(type)) < 0)
        continue;
      if (ph_read_double(ph_pathf(path, sizeof(path), "%s/%s/temp", dir, nm), &t) < 0) continue;
      cc_gauge(c, "node_thermal_zone_temp", "Zone temperature in Celsius", t / 1000.0, "zone",
               nm + strlen("thermal_zone"), "type", type, NULL);
    } else if (ph_has_prefix(nm, "cooling_device")) {
      double cur, max;
      if (ph_read_str(ph_pathf(path, sizeof(path), "%s/%s/type", dir, nm), type, sizeof(type)) < 0)
        continue;
      if (ph_read_double(ph_pathf(path, sizeof(path), "%s/%s/cur_state", dir, nm), &cur) < 0 ||
          ph_read_double(ph_pathf(path, sizeof(path), "%s/%s/max_state", dir, nm), &max) < 0)
        continue;
      const char *num = nm + strlen("cooling_device");
      cc_gauge(c, "node_cooling_device_cur_state", "Current throttle state of the cooling device",
               cur, "name", num, "type", type, NULL);
      cc_gauge(c, "node_cooling_device_max_state", "Maximum throttle state of the cooling device",
               max, "name", num, "type", type, NULL);
    }
  }
  return 0;
}

const collector_def_t collector_thermal_zone = {
    .name = "thermal_zone", .default_enabled = true, .collect = thermal_collect};
