/*
 * fixture.h - helpers shared by the exporters tests that build a fixture
 * tree in a temporary directory and scrape it in-process: write files
 * (creating parent directories), run an exporter with only some
 * collectors and extra flags, and look for whole lines in the output.
 * Header-only (static functions), one copy per test executable.
 */
#ifndef PH_TEST_EXPORTERS_FIXTURE_H
#define PH_TEST_EXPORTERS_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "exporter_int.h"
#include "ph_error.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_tmp[PATH_MAX];

static __attribute__((unused)) void fx_write(const char *rel, const char *content) {
  char path[PATH_MAX], dir[PATH_MAX];
  ph_pathf(path, sizeof(path), "%s/%s", g_tmp, rel);
  ph_pathf(dir, sizeof(dir), "%s", path);
  for (char *p = dir + strlen(g_tmp) + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    mkdir(dir, 0755);
    *p = '/';
  }
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(content, f);
  fclose(f);
}

static __attribute__((unused)) void fx_mkdir(const char *rel) {
  char path[PATH_MAX];
  ph_pathf(path, sizeof(path), "%s/%s/.keep", g_tmp, rel);
  fx_write(path + strlen(g_tmp) + 1, "");
  unlink(path);
}

static __attribute__((unused)) void fx_rm_rf(const char *path) {
  char cmd[PATH_MAX + 16];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
  assert_int_equal(system(cmd), 0);
}

static __attribute__((unused)) int fx_setup(void **st) {
  (void)st;
  snprintf(g_tmp, sizeof(g_tmp), "/tmp/pharos-exptest.XXXXXX");
  if (mkdtemp(g_tmp) == NULL) return -1;
  return 0;
}

static __attribute__((unused)) int fx_teardown(void **st) {
  (void)st;
  fx_rm_rf(g_tmp);
  return 0;
}

/* Options with only the given collectors (NULL-terminated) and flags
 * ("name=value" or "name"; "@" in a value is replaced by the temporary
 * directory), procfs/sysfs/rootfs/udev under the temporary directory. */
static __attribute__((unused)) exporter_options_t *fx_options(const char *const *collectors,
                                      const char *const *flags) {
  char err[512], flag[PATH_MAX + 64];
  exporter_options_t *o = exporter_options_new();
  assert_int_equal(exporter_options_set(o, "collector.disable-defaults", NULL, err, sizeof(err)), 0);
  assert_int_equal(exporter_options_set(o, "web.disable-exporter-metrics", NULL, err, sizeof(err)), 0);
  static const char *const paths[][2] = {{"path.procfs", "proc"}, {"path.sysfs", "sys"},
                                         {"path.rootfs", "root"}, {"path.udev.data", "udev"}};
  for (size_t i = 0; i < 4; i++) {
    ph_pathf(flag, sizeof(flag), "%s/%s", g_tmp, paths[i][1]);
    assert_int_equal(exporter_options_set(o, paths[i][0], flag, err, sizeof(err)), 0);
  }
  for (size_t i = 0; collectors && collectors[i]; i++) {
    ph_pathf(flag, sizeof(flag), "collector.%s", collectors[i]);
    assert_int_equal(exporter_options_set(o, flag, NULL, err, sizeof(err)), 0);
  }
  for (size_t i = 0; flags && flags[i]; i++) {
    strbuf_t b = STRBUF_INIT;
    for (const char *p = flags[i]; *p; p++) {
      if (*p == '@')
        strbuf_puts(&b, g_tmp);
      else
        strbuf_putc(&b, *p);
    }
    char *f = strbuf_detach(&b, NULL);
    char *eq = strchr(f, '=');
    if (eq) *eq = '\0';
    int rc = exporter_options_set(o, f, eq ? eq + 1 : NULL, err, sizeof(err));
    if (rc != 0) fail_msg("flag %s: %s", flags[i], err);
    free(f);
  }
  return o;
}

/* One scrape of an exporter built from fx_options (free the result). */
static __attribute__((unused)) char *fx_scrape_with(exporter_t *e) {
  strbuf_t b = STRBUF_INIT;
  assert_int_equal(exporter_collect(e, &b), 0);
  if (b.data == NULL) strbuf_puts(&b, "");
  return strbuf_detach(&b, NULL);
}

static __attribute__((unused)) char *fx_scrape(const char *const *collectors, const char *const *flags) {
  char err[512];
  exporter_options_t *o = fx_options(collectors, flags);
  exporter_t *e = exporter_new(o, err, sizeof(err));
  if (e == NULL) fail_msg("exporter_new: %s", err);
  char *out = fx_scrape_with(e);
  exporter_free(e);
  exporter_options_free(o);
  return out;
}

/* Whether out has exactly this line. */
static __attribute__((unused)) bool fx_has_line(const char *out, const char *line) {
  size_t n = strlen(line);
  for (const char *p = out; (p = strstr(p, line)) != NULL; p++)
    if ((p == out || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0')) return true;
  return false;
}

#define assert_line(out, line)                                              \
  do {                                                                      \
    if (!fx_has_line((out), (line)))                                        \
      fail_msg("missing line: %s\n--- output ---\n%s", (line), (out));      \
  } while (0)
#define assert_no_line(out, line)                                           \
  do {                                                                      \
    if (fx_has_line((out), (line)))                                         \
      fail_msg("unexpected line: %s", (line));                              \
  } while (0)

/* Output without node_scrape_collector_duration_seconds lines and the
 * families every scrape serves (node_exporter_build_info,
 * promhttp_metric_handler_errors_total). */
static __attribute__((unused)) char *fx_stable(const char *in) {
  strbuf_t b = STRBUF_INIT;
  char *copy = strdup(in), *p = copy, *line;
  while ((line = ph_next_line(&p)) != NULL) {
    if (strstr(line, "node_scrape_collector_duration_seconds") ||
        strstr(line, "node_exporter_build_info") ||
        strstr(line, "promhttp_metric_handler_errors_total"))
      continue;
    strbuf_printf(&b, "%s\n", line);
  }
  free(copy);
  if (b.data == NULL) strbuf_puts(&b, "");
  return strbuf_detach(&b, NULL);
}

#endif
