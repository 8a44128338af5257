/*
 * powersupplyclass.c - the powersupplyclass collector: batteries, AC
 * adapters and USB supplies under /sys/class/power_supply/<supply>/.
 *
 * Integer attributes are exported as node_power_supply_<name>{power_supply}:
 * counts as they are, micro-units (µA, µV, µWh, µW …) divided by 1e6 and
 * temperatures (tenths of °C) by 10.  The string attributes that are set
 * label node_power_supply_info.  --collector.powersupply.ignored-supplies
 * skips supplies by name.
 */
#include "exporter_int.h"

#include "mem.h"
#include "ph_error.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const exporter_flag_t psu_flags[] = {
    {"collector.powersupply.ignored-supplies", FLAG_STRING, "^$",
     "Regexp of power supplies to ignore for powersupplyclass collector."},
    {NULL, 0, NULL, NULL},
};

static int psu_init(const exporter_options_t *o, void **state, char *err, size_t errlen) {
  *state = ph_regex_new(exporter_options_get(o, "collector.powersupply.ignored-supplies"), err,
                        errlen);
  return *state ? 0 : PH_EINVAL;
}

static void psu_free(void *s) { ph_regex_free(s); }

static const struct {
  const char *file, *name;
  double div;
} nums[] = {
    {"authentic", "authentic", 1},
    {"calibrate", "calibrate", 1},
    {"capacity", "capacity", 1},
    {"capacity_alert_max", "capacity_alert_max", 1},
    {"capacity_alert_min", "capacity_alert_min", 1},
    {"cycle_count", "cyclecount", 1},
    {"online", "online", 1},
    {"present", "present", 1},
    {"time_to_empty_now", "time_to_empty_seconds", 1},
    {"time_to_full_now", "time_to_full_seconds", 1},
    {"current_boot", "current_boot", 1e6},
    {"current_max", "current_max", 1e6},
    {"current_now", "current_ampere", 1e6},
    {"energy_empty", "energy_empty", 1e6},
    {"energy_empty_design", "energy_empty_design", 1e6},
    {"energy_full", "energy_full", 1e6},
    {"energy_full_design", "energy_full_design", 1e6},
    {"energy_now", "energy_watthour", 1e6},
    {"voltage_boot", "voltage_boot", 1e6},
    {"voltage_max", "voltage_max", 1e6},
    {"voltage_max_design", "voltage_max_design", 1e6},
    {"voltage_min", "voltage_min", 1e6},
    {"voltage_min_design", "voltage_min_design", 1e6},
    {"voltage_now", "voltage_volt", 1e6},
    {"voltage_ocv", "voltage_ocv", 1e6},
    {"charge_control_limit", "charge_control_limit", 1e6},
    {"charge_control_limit_max", "charge_control_limit_max", 1e6},
    {"charge_counter", "charge_counter", 1e6},
    {"charge_empty", "charge_empty", 1e6},
    {"charge_empty_design", "charge_empty_design", 1e6},
    {"charge_full", "charge_full", 1e6},
    {"charge_full_design", "charge_full_design", 1e6},
    {"charge_now", "charge_ampere", 1e6},
    {"charge_term_current", "charge_term_current", 1e6},
    {"constant_charge_current", "constant_charge_current", 1e6},
    {"constant_charge_current_max", "constant_charge_current_max", 1e6},
    {"constant_charge_voltage", "constant_charge_voltage", 1e6},
    {"constant_charge_voltage_max", "constant_charge_voltage_max", 1e6},
    {"precharge_current", "precharge_current", 1e6},
    {"input_current_limit", "input_current_limit", 1e6},
    {"power_now", "power_watt", 1e6},
    {"temp", "temp_celsius", 10},
    {"temp_alert_max", "temp_alert_max_celsius", 10},
    {"temp_alert_min", "temp_alert_min_celsius", 10},
    {"temp_ambient", "temp_ambient_celsius", 10},
    {"temp_ambient_max", "temp_ambient_max_celsius", 10},
    {"temp_ambient_min", "temp_ambient_min_celsius", 10},
    {"temp_max", "temp_max_celsius", 10},
    {"temp_min", "temp_min_celsius", 10},
};

static const char *const strs[] = {"capacity_level", "charge_type",   "health",
                                   "manufacturer",   "model_name",    "serial_number",
                                   "status",         "technology",    "type",
                                   "usb_type",       "scope"};
#define NSTRS (sizeof(strs) / sizeof(strs[0]))

static int psu_collect(collect_ctx_t *c, void *state) {
  char base[PATH_MAX], path[PATH_MAX], **names;
  size_t n;
  int rc = cc_list_dir(c, cc_sys(c, base, sizeof(base), "class/power_supply"), &names, &n);
  if (rc < 0) return rc;
  for (size_t i = 0; i < n; i++) {
    const char *ps = names[i];
    if (ph_regex_match(state, ps)) continue;
    for (size_t k = 0; k < sizeof(nums) / sizeof(nums[0]); k++) {
      char buf[64];
      if (ph_read_str(ph_pathf(path, sizeof(path), "%s/%s/%s", base, ps, nums[k].file), buf,
                      sizeof(buf)) < 0)
        continue;
      int64_t v;
      if (!ph_parse_i64(ph_trim(buf), &v)) continue;
      char name[160], help[200];
      snprintf(name, sizeof(name), "node_power_supply_%s", nums[k].name);
      snprintf(help, sizeof(help), "%s value of /sys/class/power_supply/<power_supply>.",
               nums[k].name);
      double d = (double)v;
      if (nums[k].div != 1) d /= nums[k].div;
      cc_gauge(c, name, help, d, "power_supply", ps, NULL);
    }
    const char *ln[NSTRS + 1], *lv[NSTRS + 1];
    char vals[NSTRS][256];
    size_t nl = 0;
    ln[nl] = "power_supply";
    lv[nl++] = ps;
    for (size_t k = 0; k < NSTRS; k++) {
      if (ph_read_str(ph_pathf(path, sizeof(path), "%s/%s/%s", base, ps, strs[k]), vals[k],
                      sizeof(vals[k])) < 0)
        continue;
      char *v = ph_trim(vals[k]);
      if (*v == '\0') continue;
      ln[nl] = strs[k];
      lv[nl++] = v;
    }
    cc_metric(c, EXPO_GAUGE, "node_power_supply_info",
              "info of /sys/class/power_supply/<power_supply>.", 1, nl, ln, lv);
  }
  return 0;
}

const collector_def_t collector_powersupplyclass = {
    .name = "powersupplyclass",
    .default_enabled = true,
    .flags = psu_flags,
    .init = psu_init,
    .free = psu_free,
    .collect = psu_collect,
};
