/*
 * os.c - the os collector: os-release under --path.rootfs (etc/os-release,
 * else usr/lib/os-release) as node_os_info{build_id,id,…,version_id} 1,
 * node_os_version{id,id_like,name} = the major.minor of VERSION_ID, and
 * node_os_support_end_timestamp_seconds from SUPPORT_END (YYYY-MM-DD).
 *
 * os-release is shell-like: KEY=value, KEY="value with \"escapes\"",
 * KEY='literal'; '#' starts a comment line.
 */
#include "exporter_int.h"

#include "ph_error.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { K_BUILD_ID, K_ID, K_ID_LIKE, K_IMAGE_ID, K_IMAGE_VERSION, K_NAME, K_PRETTY_NAME,
       K_VARIANT, K_VARIANT_ID, K_VERSION, K_VERSION_CODENAME, K_VERSION_ID, K_SUPPORT_END,
       K_N };
static const char *const keys[K_N] = {
    "BUILD_ID", "ID", "ID_LIKE", "IMAGE_ID", "IMAGE_VERSION", "NAME", "PRETTY_NAME",
    "VARIANT", "VARIANT_ID", "VERSION", "VERSION_CODENAME", "VERSION_ID", "SUPPORT_END"};
static const char *const labels[K_N] = {
    "build_id", "id", "id_like", "image_id", "image_version", "name", "pretty_name",
    "variant", "variant_id", "version", "version_codename", "version_id", NULL};

/* Unquotes v in place. */
static char *unquote(char *v) {
  char *out = v, *p = v;
  while (*p) {
    if (*p == '"') {
      p++;
      while (*p && *p != '"') {
        if (*p == '\\' && p[1]) p++;
        *out++ = *p++;
      }
      if (*p) p++;
    } else if (*p == '\'') {
      p++;
      while (*p && *p != '\'') *out++ = *p++;
      if (*p) p++;
    } else if (*p == '\\' && p[1]) {
      p++;
      *out++ = *p++;
    } else {
      *out++ = *p++;
    }
  }
  *out = '\0';
  return v;
}

static int os_collect(collect_ctx_t *c, void *state) {
  (void)state;
  char path[PATH_MAX], *data, *line;
  size_t len;
  int rc = cc_read_file(c, cc_root(c, path, sizeof(path), "etc/os-release"), &data, &len);
  if (rc == PH_ENOTFOUND)
    rc = cc_read_file(c, cc_root(c, path, sizeof(path), "usr/lib/os-release"), &data, &len);
  if (rc < 0) return rc;
  const char *val[K_N];
  for (int k = 0; k < K_N; k++) val[k] = "";
  while ((line = ph_next_line(&data)) != NULL) {
    line = ph_trim(line);
    if (*line == '#' || *line == '\0') continue;
    if (ph_has_prefix(line, "export ")) line = ph_trim(line + 7);
    char *eq = strchr(line, '=');
    if (eq == NULL) continue;
    *eq = '\0';
    char *key = ph_trim(line), *v = unquote(ph_trim(eq + 1));
    for (int k = 0; k < K_N; k++)
      if (strcmp(key, keys[k]) == 0) val[k] = v;
  }
  const char *ln[K_N];
  size_t nl = 0;
  for (int k = 0; k < K_SUPPORT_END; k++) ln[nl++] = labels[k];
  cc_metric(c, EXPO_GAUGE, "node_os_info",
            "A metric with a constant '1' value labeled by build_id, id, id_like, image_id, "
            "image_version, name, pretty_name, variant, variant_id, version, version_codename, "
            "version_id.",
            1, nl, ln, val);
  /* major.minor: ^[0-9]+\.?[0-9]* */
  const char *vid = val[K_VERSION_ID];
  size_t k = 0;
  while (vid[k] >= '0' && vid[k] <= '9') k++;
  if (k > 0) {
    if (vid[k] == '.') {
      k++;
      while (vid[k] >= '0' && vid[k] <= '9') k++;
    }
    char num[64];
    snprintf(num, sizeof(num), "%.*s", (int)k, vid);
    double version = strtod(num, NULL);
    if (version > 0)
      cc_gauge(c, "node_os_version", "Metric containing the major.minor part of the OS version.",
               version, "id", val[K_ID], "id_like", val[K_ID_LIKE], "name", val[K_NAME], NULL);
  }
  if (val[K_SUPPORT_END][0] != '\0') {
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    char *end = strptime(val[K_SUPPORT_END], "%Y-%m-%d", &tm);
    if (end == NULL || *end != '\0') return PH_EPARSE;
    cc_gauge(c, "node_os_support_end_timestamp_seconds",
             "Metric containing the end-of-life date timestamp of the OS.", (double)timegm(&tm),
             NULL);
  }
  return 0;
}

const collector_def_t collector_os = {
    .name = "os", .default_enabled = true, .collect = os_collect};
