/*
 * dmi.c - the dmi collector: node_dmi_info labelled with the attributes of
 * /sys/class/dmi/id that exist (sys_vendor as system_vendor); values are
 * read once at start, as they do not change while the system runs, and
 * made valid UTF-8.  Most need no privileges; product_serial etc. may be
 * unreadable and are then left out.
 */
#include "exporter_int.h"

#include "mem.h"
#include "ph_error.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

static const char *const files[][2] = {
    {"bios_date", "bios_date"},         {"bios_release", "bios_release"},
    {"bios_vendor", "bios_vendor"},     {"bios_version", "bios_version"},
    {"board_asset_tag", "board_asset_tag"}, {"board_name", "board_name"},
    {"board_serial", "board_serial"},   {"board_vendor", "board_vendor"},
    {"board_version", "board_version"}, {"chassis_asset_tag", "chassis_asset_tag"},
    {"chassis_serial", "chassis_serial"}, {"chassis_vendor", "chassis_vendor"},
    {"chassis_version", "chassis_version"}, {"product_family", "product_family"},
    {"product_name", "product_name"},   {"product_serial", "product_serial"},
    {"product_sku", "product_sku"},     {"product_uuid", "product_uuid"},
    {"product_version", "product_version"}, {"sys_vendor", "system_vendor"},
};
#define NDMI (sizeof(files) / sizeof(files[0]))

typedef struct dmi_state {
  const char *names[NDMI];
  char *values[NDMI];
  size_t n;
  bool present;
} dmi_state_t;

static void dmi_free(void *p) {
  dmi_state_t *s = p;
  if (s == NULL) return;
  for (size_t i = 0; i < s->n; i++) free(s->values[i]);
  free(s);
}

static int dmi_init(const exporter_options_t *o, void **state, char *err, size_t errlen) {
  (void)err;
  (void)errlen;
  dmi_state_t *s = ph_calloc(1, sizeof(*s));
  *state = s;
  char dir[PATH_MAX], path[PATH_MAX];
  ph_path_join(dir, sizeof(dir), exporter_options_get(o, "path.sysfs"), "class/dmi/id");
  for (size_t i = 0; i < NDMI; i++) {
    char buf[1024], *v;
    if (ph_read_str(ph_pathf(path, sizeof(path), "%s/%s", dir, files[i][0]), buf, sizeof(buf)) < 0)
      continue;
    s->present = true;
    v = ph_trim(buf);
    char clean[3200];
    ph_valid_utf8(v, clean, sizeof(clean));
    s->names[s->n] = files[i][1];
    s->values[s->n] = ph_strdup(clean);
    s->n++;
  }
  return 0;
}

static int dmi_collect(collect_ctx_t *c, void *state) {
  dmi_state_t *s = state;
  if (!s->present) return PH_ENOTFOUND;
  cc_metric(c, EXPO_GAUGE, "node_dmi_info",
            "A metric with a constant '1' value labeled by bios_date, bios_release, bios_vendor, "
            "bios_version, board_asset_tag, board_name, board_serial, board_vendor, "
            "board_version, chassis_asset_tag, chassis_serial, chassis_vendor, chassis_version, "
            "product_family, product_name, product_serial, product_sku, product_uuid, "
            "product_version, system_vendor if provided by DMI.",
            1, s->n, s->names, (const char *const *)s->values);
  return 0;
}

const collector_def_t collector_dmi = {
    .name = "dmi",
    .default_enabled = true,
    .init = dmi_init,
    .free = dmi_free,
    .collect = dmi_collect,
};
