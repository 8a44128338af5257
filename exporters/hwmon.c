/*
 * hwmon.c - the hwmon collector: every chip under /sys/class/hwmon, like
 * lm-sensors.
 *
 * Chip name (label "chip"): the resolved device link as
 * "<parent dir>_<device>" cleaned ("platform_coretemp_0"), else the chip's
 * "name" file, else the hwmonN directory name.  Sensor files in the chip
 * directory and its device/ directory are split as <type><n>[_<property>]
 * (type = the leading non-digits: in, fan, temp, pwm, power, …); a sensor's
 * properties become node_hwmon_<type>[_<property>]<unit>{chip,sensor} with
 * units and scaling by type (millivolts -> volts, millidegrees -> celsius,
 * microwatts -> watts, …), alarm/fault/beep without units, anything else
 * as is.  Also node_hwmon_chip_names (from "name") and
 * node_hwmon_sensor_label (from *_label).  Values are read with one read()
 * of at most 128 bytes: some broken drivers answer EAGAIN forever.
 * --collector.hwmon.chip-include/-exclude filter chips, sensor-include/
 * -exclude filter "<chip>;<sensor>".
 */
#include "exporter_int.h"

#include "log.h"
#include "mem.h"
#include "ph_error.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const exporter_flag_t hwmon_flags[] = {
    {"collector.hwmon.chip-include", FLAG_STRING, NULL,
     "Regexp of hwmon chip to include (mutually exclusive to device-exclude)."},
    {"collector.hwmon.chip-exclude", FLAG_STRING, NULL,
     "Regexp of hwmon chip to exclude (mutually exclusive to device-include)."},
    {"collector.hwmon.sensor-include", FLAG_STRING, NULL,
     "Regexp of hwmon sensor to include (mutually exclusive to sensor-exclude)."},
    {"collector.hwmon.sensor-exclude", FLAG_STRING, NULL,
     "Regexp of hwmon sensor to exclude (mutually exclusive to sensor-include)."},
    {NULL, 0, NULL, NULL},
};

typedef struct hwmon_state {
  ph_devfilter_t chips, sensors;
} hwmon_state_t;

static int hwmon_init(const exporter_options_t *o, void **state, char *err, size_t errlen) {
  hwmon_state_t *s = ph_calloc(1, sizeof(*s));
  *state = s;
  int rc = ph_devfilter_init(&s->chips, exporter_options_get(o, "collector.hwmon.chip-include"),
                             exporter_options_get(o, "collector.hwmon.chip-exclude"), err, errlen);
  if (rc < 0) return rc;
  return ph_devfilter_init(&s->sensors, exporter_options_get(o, "collector.hwmon.sensor-include"),
                           exporter_options_get(o, "collector.hwmon.sensor-exclude"), err,
                           errlen);
}

static void hwmon_free(void *p) {
  hwmon_state_t *s = p;
  if (s == NULL) return;
  ph_devfilter_free(&s->chips);
  ph_devfilter_free(&s->sensors);
  free(s);
}

static const char *const sensor_types[] = {"vrm",   "beep_enable", "update_interval", "in",
                                           "cpu",   "fan",         "pwm",             "temp",
                                           "curr",  "power",       "energy",          "humidity",
                                           "intrusion", "freq"};

/* lower-case, [^a-z0-9:_] -> '_', trim '_' */
static void clean_name(const char *in, char *out, size_t n) {
  size_t k = 0;
  for (const char *p = in; *p && k + 1 < n; p++) {
    char ch = *p;
    if (ch >= 'A' && ch <= 'Z') ch = (char)(ch - 'A' + 'a');
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == ':' || ch == '_';
    out[k++] = ok ? ch : '_';
  }
  out[k] = '\0';
  size_t start = 0;
  while (out[start] == '_') start++;
  while (k > start && out[k - 1] == '_') out[--k] = '\0';
  if (start) memmove(out, out + start, k - start + 1);
}

/* <type><id>[_<property>]; false if it does not match. */
static bool explode(const char *name, char *type, size_t tn, long *id, const char **prop) {
  size_t i = 0;
  while (name[i] && !(name[i] >= '0' && name[i] <= '9')) i++;
  if (i == 0) return false;
  size_t tl = i;
  size_t j = i;
  while (name[j] >= '0' && name[j] <= '9') j++;
  if (name[j] == '\0') {
    *prop = "";
  } else if (name[j] == '_' && name[j + 1] != '\0') {
    *prop = name + j + 1;
  } else if (j == i) {
    /* no digits: the type is the whole run of non-digits */
    *prop = "";
  } else {
    return false;
  }
  if (j == i && name[j] != '\0') return false;
  snprintf(type, tn, "%.*s", (int)tl, name);
  *id = 0;
  if (j > i) {
    char num[32];
    snprintf(num, sizeof(num), "%.*s", (int)(j - i), name + i);
    *id = strtol(num, NULL, 10);
  }
  return true;
}

typedef struct hw_prop {
  const char *name, *value;
} hw_prop_t;

typedef struct hw_sensor {
  char key[96]; /* type + id */
  char type[64];
  hw_prop_t props[48];
  size_t nprops;
} hw_sensor_t;

static bool read_small(const char *path, char *out, size_t n) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return false;
  ssize_t r = read(fd, out, n - 1 < 128 ? n - 1 : 128);
  close(fd);
  if (r < 0) return false;
  out[r] = '\0';
  /* strings.Trim(s, "\n") */
  char *s = out;
  while (*s == '\n') s++;
  size_t l = strlen(s);
  while (l > 0 && s[l - 1] == '\n') s[--l] = '\0';
  if (s != out) memmove(out, s, l + 1);
  return true;
}

static void collect_dir(collect_ctx_t *c, const char *dir, hw_sensor_t **sensors, size_t *n,
                        size_t *cap) {
  char **names;
  size_t nn;
  if (cc_list_dir(c, dir, &names, &nn) < 0) return;
  for (size_t i = 0; i < nn; i++) {
    char type[64];
    long id;
    const char *prop;
    if (!explode(names[i], type, sizeof(type), &id, &prop)) continue;
    bool known = false;
    for (size_t k = 0; k < sizeof(sensor_types) / sizeof(sensor_types[0]); k++)
      if (strcmp(type, sensor_types[k]) == 0) known = true;
    if (!known) continue;
    char path[PATH_MAX], val[160];
    if (!read_small(ph_pathf(path, sizeof(path), "%s/%s", dir, names[i]), val, sizeof(val)))
      continue;
    char key[96];
    snprintf(key, sizeof(key), "%s%ld", type, id);
    hw_sensor_t *s = NULL;
    for (size_t k = 0; k < *n && !s; k++)
      if (strcmp((*sensors)[k].key, key) == 0) s = &(*sensors)[k];
    if (s == NULL) {
      if (*n == *cap) {
        hw_sensor_t *ns = arena_calloc(c->arena, *cap * 2, sizeof(*ns));
        ph_assert(ns != NULL);
        memcpy(ns, *sensors, *n * sizeof(*ns));
        *sensors = ns;
        *cap *= 2;
      }
      s = &(*sensors)[(*n)++];
      snprintf(s->key, sizeof(s->key), "%s", key);
      snprintf(s->type, sizeof(s->type), "%s", type);
    }
    size_t k;
    for (k = 0; k < s->nprops; k++)
      if (strcmp(s->props[k].name, prop) == 0) break;
    if (k == s->nprops) {
      if (s->nprops == 48) continue;
      s->props[s->nprops++].name = cc_strdup(c, prop);
    }
    s->props[k].value = cc_strdup(c, val);
  }
}

static const char *prop_get(const hw_sensor_t *s, const char *name) {
  for (size_t k = 0; k < s->nprops; k++)
    if (strcmp(s->props[k].name, name) == 0) return s->props[k].value;
  return NULL;
}

static bool chip_name(const char *dir, char *out, size_t n) {
  char link[PATH_MAX], real[PATH_MAX];
  ph_pathf(link, sizeof(link), "%s/device", dir);
  if (realpath(link, real) != NULL) {
    char *slash = strrchr(real, '/');
    const char *dev = slash ? slash + 1 : real;
    char cdev[256] = "", ctype[256] = "";
    clean_name(dev, cdev, sizeof(cdev));
    if (slash) {
      *slash = '\0';
      char *s2 = strrchr(real, '/');
      clean_name(s2 ? s2 + 1 : real, ctype, sizeof(ctype));
    }
    if (ctype[0] && cdev[0]) {
      snprintf(out, n, "%s_%s", ctype, cdev);
      return true;
    }
    if (cdev[0]) {
      snprintf(out, n, "%s", cdev);
      return true;
    }
  }
  char raw[256];
  if (ph_pathf(link, sizeof(link), "%s/name", dir) && read_small(link, raw, sizeof(raw)) &&
      raw[0]) {
    /* os.ReadFile keeps the trailing newline; cleaning turns it into '_'
     * and trims it */
    clean_name(raw, out, n);
    if (out[0]) return true;
  }
  if (realpath(dir, real) == NULL) return false;
  char *slash = strrchr(real, '/');
  clean_name(slash ? slash + 1 : real, out, n);
  return out[0] != '\0';
}

static void g(collect_ctx_t *c, const char *name, const char *help, double v, const char *chip,
              const char *sensor, bool counter) {
  if (counter)
    cc_counter(c, name, help, v, "chip", chip, "sensor", sensor, NULL);
  else
    cc_gauge(c, name, help, v, "chip", chip, "sensor", sensor, NULL);
}

static void emit_sensor(collect_ctx_t *c, const char *chip, const hw_sensor_t *s) {
  const char *type = s->type;
  const char *sensor = s->key;
  const char *label = prop_get(s, "label");
  if (label != NULL)
    cc_gauge(c, "node_hwmon_sensor_label", "Label for given chip and sensor", 1, "chip", chip,
             "sensor", sensor, "label", label, NULL);
  double v;
  if (strcmp(type, "beep_enable") == 0) {
    const char *x = prop_get(s, "");
    g(c, "node_hwmon_beep_enabled", "Hardware beep enabled", x && strcmp(x, "1") == 0 ? 1 : 0,
      chip, sensor, false);
    return;
  }
  if (strcmp(type, "vrm") == 0) {
    const char *x = prop_get(s, "");
    if (x && ph_parse_double(x, &v))
      g(c, "node_hwmon_voltage_regulator_version", "Hardware voltage regulator", v, chip, sensor,
        false);
    return;
  }
  if (strcmp(type, "update_interval") == 0) {
    const char *x = prop_get(s, "");
    if (x && ph_parse_double(x, &v))
      g(c, "node_hwmon_update_interval_seconds", "Hardware monitor update interval", v * 0.001,
        chip, sensor, false);
    return;
  }
  for (size_t k = 0; k < s->nprops; k++) {
    const char *el = s->props[k].name;
    if (strcmp(el, "label") == 0) continue;
    char name[256], help[512], cel[128];
    snprintf(name, sizeof(name), "node_hwmon_%s", type);
    if (strcmp(el, "input") == 0) {
      if (prop_get(s, "") != NULL) strncat(name, "_input", sizeof(name) - strlen(name) - 1);
    } else if (el[0] != '\0') {
      clean_name(el, cel, sizeof(cel));
      size_t l = strlen(name);
      snprintf(name + l, sizeof(name) - l, "_%s", cel);
    }
    if (!ph_parse_double(s->props[k].value, &v)) continue;
    size_t l = strlen(name);
    if (strcmp(el, "fault") == 0 || strcmp(el, "alarm") == 0) {
      snprintf(help, sizeof(help), "Hardware sensor %s status (%s)", el, type);
      g(c, name, help, v, chip, sensor, false);
    } else if (strcmp(el, "beep") == 0) {
      snprintf(name + l, sizeof(name) - l, "_enabled");
      g(c, name, "Hardware monitor sensor has beeping enabled", v, chip, sensor, false);
    } else if (strcmp(type, "in") == 0 || strcmp(type, "cpu") == 0) {
      snprintf(name + l, sizeof(name) - l, "_volts");
      snprintf(help, sizeof(help), "Hardware monitor for voltage (%s)", el);
      g(c, name, help, v * 0.001, chip, sensor, false);
    } else if (strcmp(type, "temp") == 0 && strcmp(el, "type") != 0) {
      snprintf(name + l, sizeof(name) - l, "_celsius");
      snprintf(help, sizeof(help), "Hardware monitor for temperature (%s)",
               el[0] ? el : "input");
      g(c, name, help, v * 0.001, chip, sensor, false);
    } else if (strcmp(type, "curr") == 0) {
      snprintf(name + l, sizeof(name) - l, "_amps");
      snprintf(help, sizeof(help), "Hardware monitor for current (%s)", el);
      g(c, name, help, v * 0.001, chip, sensor, false);
    } else if (strcmp(type, "energy") == 0) {
      snprintf(name + l, sizeof(name) - l, "_joule_total");
      snprintf(help, sizeof(help), "Hardware monitor for joules used so far (%s)", el);
      g(c, name, help, v / 1000000.0, chip, sensor, true);
    } else if (strcmp(type, "power") == 0 && strcmp(el, "accuracy") == 0) {
      g(c, name, "Hardware monitor power meter accuracy, as a ratio", v / 1000000.0, chip,
        sensor, false);
    } else if (strcmp(type, "power") == 0 &&
               (strcmp(el, "average_interval") == 0 || strcmp(el, "average_interval_min") == 0 ||
                strcmp(el, "average_interval_max") == 0)) {
      snprintf(name + l, sizeof(name) - l, "_seconds");
      snprintf(help, sizeof(help), "Hardware monitor power usage update interval (%s)", el);
      g(c, name, help, v * 0.001, chip, sensor, false);
    } else if (strcmp(type, "power") == 0) {
      snprintf(name + l, sizeof(name) - l, "_watt");
      snprintf(help, sizeof(help), "Hardware monitor for power usage in watts (%s)", el);
      g(c, name, help, v / 1000000.0, chip, sensor, false);
    } else if (strcmp(type, "humidity") == 0) {
      snprintf(help, sizeof(help),
               "Hardware monitor for humidity, as a ratio (multiply with 100.0 to get the "
               "humidity as a percentage) (%s)",
               el);
      g(c, name, help, v / 1000000.0, chip, sensor, false);
    } else if (strcmp(type, "fan") == 0 &&
               (strcmp(el, "input") == 0 || strcmp(el, "min") == 0 || strcmp(el, "max") == 0 ||
                strcmp(el, "target") == 0)) {
      snprintf(name + l, sizeof(name) - l, "_rpm");
      snprintf(help, sizeof(help), "Hardware monitor for fan revolutions per minute (%s)", el);
      g(c, name, help, v, chip, sensor, false);
    } else if (strcmp(type, "freq") == 0 && strcmp(el, "input") == 0) {
      if (label != NULL) {
        char cl[128];
        clean_name(label, cl, sizeof(cl));
        snprintf(name + l, sizeof(name) - l, "_freq_mhz");
        g(c, name, "Hardware monitor for GPU frequency in MHz", v / 1000000.0, chip, cl, false);
      }
    } else {
      snprintf(help, sizeof(help), "Hardware monitor %s element %s", type, el);
      g(c, name, help, v, chip, sensor, false);
    }
  }
}

static int hwmon_collect(collect_ctx_t *c, void *state) {
  hwmon_state_t *st = state;
  char base[PATH_MAX], dir[PATH_MAX], path[PATH_MAX], **names;
  size_t n;
  int rc = cc_list_dir(c, cc_sys(c, base, sizeof(base), "class/hwmon"), &names, &n);
  if (rc < 0) return rc;
  for (size_t i = 0; i < n; i++) {
    ph_pathf(dir, sizeof(dir), "%s/%s", base, names[i]);
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) continue;
    char chip[256];
    if (!chip_name(dir, chip, sizeof(chip))) continue;
    if (ph_devfilter_ignored(&st->chips, chip)) continue;
    size_t ns = 0, cap = 16;
    hw_sensor_t *sensors = arena_calloc(c->arena, cap, sizeof(*sensors));
    ph_assert(sensors != NULL);
    collect_dir(c, dir, &sensors, &ns, &cap);
    ph_pathf(path, sizeof(path), "%s/device", dir);
    if (stat(path, &sb) == 0) collect_dir(c, path, &sensors, &ns, &cap);
    char raw[256], human[256];
    if (read_small(ph_pathf(path, sizeof(path), "%s/name", dir), raw, sizeof(raw)) && raw[0]) {
      clean_name(raw, human, sizeof(human));
      if (human[0])
        cc_gauge(c, "node_hwmon_chip_names", "Annotation metric for human-readable chip names", 1,
                 "chip", chip, "chip_name", human, NULL);
    }
    for (size_t k = 0; k < ns; k++) {
      char key[512];
      snprintf(key, sizeof(key), "%s;%s", chip, sensors[k].key);
      if (ph_devfilter_ignored(&st->sensors, key)) continue;
      emit_sensor(c, chip, &sensors[k]);
    }
  }
  return 0;
}

const collector_def_t collector_hwmon = {
    .name = "hwmon",
    .default_enabled = true,
    .flags = hwmon_flags,
    .init = hwmon_init,
    .free = hwmon_free,
    .collect = hwmon_collect,
};
