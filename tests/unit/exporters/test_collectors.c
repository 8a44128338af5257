/*
 * test_collectors.c - collectors run in-process against small trees built
 * in a temporary directory, and the textfile collector against every case
 * of node_exporter's textfile fixtures (../shared; those cases are skipped
 * when it is absent).  Covers: the textfile parser and merge rules, the
 * filesystem collector's mountinfo parsing, exclusion and statfs errors,
 * a failing collector reported by node_scrape_collector_success,
 * collect[] filtering, diskstats' default device filter, the cpu
 * collector's counters never going backwards, and the netclass collector's
 * netlink shortcut (path.sysfs "/sys") printing exactly what reading the
 * same machine's sysfs attributes ("/sys/.") prints, scrape after scrape.
 */
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

static void write_file(const char *rel, const char *content) {
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

static void rm_rf(const char *path) {
  char cmd[PATH_MAX + 16];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
  assert_int_equal(system(cmd), 0);
}

static int setup(void **st) {
  (void)st;
  snprintf(g_tmp, sizeof(g_tmp), "/tmp/pharos-collectors.XXXXXX");
  if (mkdtemp(g_tmp) == NULL) return -1;
  return 0;
}

static int teardown(void **st) {
  (void)st;
  rm_rf(g_tmp);
  return 0;
}

/* Runs the exporter with only the given collectors and the given extra
 * flags ("name=value" or "name"); returns the output (free it). */
static char *scrape(const char *const *collectors, const char *const *flags) {
  char err[512], flag[PATH_MAX + 64];
  exporter_options_t *o = exporter_options_new();
  assert_int_equal(exporter_options_set(o, "collector.disable-defaults", NULL, err, sizeof(err)), 0);
  assert_int_equal(exporter_options_set(o, "web.disable-exporter-metrics", NULL, err, sizeof(err)), 0);
  ph_pathf(flag, sizeof(flag), "%s/proc", g_tmp);
  assert_int_equal(exporter_options_set(o, "path.procfs", flag, err, sizeof(err)), 0);
  ph_pathf(flag, sizeof(flag), "%s/sys", g_tmp);
  assert_int_equal(exporter_options_set(o, "path.sysfs", flag, err, sizeof(err)), 0);
  ph_pathf(flag, sizeof(flag), "%s/udev", g_tmp);
  assert_int_equal(exporter_options_set(o, "path.udev.data", flag, err, sizeof(err)), 0);
  for (size_t i = 0; collectors[i]; i++) {
    ph_pathf(flag, sizeof(flag), "collector.%s", collectors[i]);
    assert_int_equal(exporter_options_set(o, flag, NULL, err, sizeof(err)), 0);
  }
  for (size_t i = 0; flags && flags[i]; i++) {
    ph_pathf(flag, sizeof(flag), "%s", flags[i]);
    char *eq = strchr(flag, '=');
    if (eq) *eq = '\0';
    assert_int_equal(exporter_options_set(o, flag, eq ? eq + 1 : NULL, err, sizeof(err)), 0);
  }
  exporter_t *e = exporter_new(o, err, sizeof(err));
  assert_non_null(e);
  strbuf_t b = STRBUF_INIT;
  assert_int_equal(exporter_collect(e, &b), 0);
  exporter_free(e);
  exporter_options_free(o);
  if (b.data == NULL) strbuf_puts(&b, "");
  return strbuf_detach(&b, NULL);
}

/* Drops node_scrape_* families and the always-served node_exporter_build_info
 * and promhttp_metric_handler_errors_total; sets node_textfile_mtime_seconds
 * to 1. */
static char *normalize(const char *in) {
  strbuf_t b = STRBUF_INIT;
  char *copy = strdup(in), *p = copy, *line;
  while ((line = ph_next_line(&p)) != NULL) {
    if (strstr(line, "node_scrape_collector_") || strstr(line, "node_exporter_build_info") ||
        strstr(line, "promhttp_metric_handler_errors_total"))
      continue;
    if (ph_has_prefix(line, "node_textfile_mtime_seconds{")) {
      char *sp = strrchr(line, ' ');
      *sp = '\0';
      strbuf_printf(&b, "%s 1\n", line);
      continue;
    }
    strbuf_printf(&b, "%s\n", line);
  }
  free(copy);
  if (b.data == NULL) strbuf_puts(&b, "");
  return strbuf_detach(&b, NULL);
}

/* ---- textfile against node_exporter's fixtures ---- */

static void test_textfile_fixtures(void **st) {
  (void)st;
  const char *shared = getenv("PHAROS_SHARED_DIR");
  char fx[PATH_MAX];
  snprintf(fx, sizeof(fx), "%s/node-exporter-fixtures/textfile", shared ? shared : PHAROS_SHARED_DIR);
  struct stat sb;
  if (stat(fx, &sb) != 0) skip();
  static const char *const cases[][2] = {
      {"two_metric_files", "two_metric_files"},
      {"nonexistent_path", "nonexistent_path"},
      {"client_side_timestamp", "client_side_timestamp"},
      {"different_metric_types", "different_metric_types"},
      {"inconsistent_metrics", "inconsistent_metrics"},
      {"histogram", "histogram"},
      {"histogram_extra_dimension", "histogram_extra_dimension"},
      {"summary", "summary"},
      {"summary_extra_dimension", "summary_extra_dimension"},
      {"*_extra_dimension", "glob_extra_dimension"},
      {"metrics_merge_empty_help", "metrics_merge_empty_help"},
      {"metrics_merge_no_help", "metrics_merge_no_help"},
      {"metrics_merge_same_help", "metrics_merge_same_help"},
      {"metrics_merge_different_help", "metrics_merge_different_help"},
      {"no_metric_files", "no_metric_files"},
  };
  /* paths in the expected output read "fixtures/textfile/<case>/…" */
  char cwd[PATH_MAX], link[PATH_MAX], target[PATH_MAX];
  assert_non_null(getcwd(cwd, sizeof(cwd)));
  ph_pathf(link, sizeof(link), "%s/fixtures", g_tmp);
  ph_pathf(target, sizeof(target), "%s/..", fx);
  assert_int_equal(symlink(target, link), 0);
  assert_int_equal(chdir(g_tmp), 0);
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char flag[PATH_MAX], outpath[PATH_MAX];
    ph_pathf(flag, sizeof(flag), "collector.textfile.directory=fixtures/textfile/%s", cases[i][0]);
    const char *cols[] = {"textfile", NULL}, *flags[] = {flag, NULL};
    char *got = scrape(cols, flags);
    char *norm = normalize(got);
    ph_pathf(outpath, sizeof(outpath), "%s/%s.out", fx, cases[i][1]);
    FILE *f = fopen(outpath, "r");
    assert_non_null(f);
    char want[65536];
    size_t n = fread(want, 1, sizeof(want) - 1, f);
    want[n] = '\0';
    fclose(f);
    bool differs = strcmp(norm, want) != 0;
    if (differs) {
      print_error("textfile case %s differs; got:\n", cases[i][1]);
      fputs(norm, stderr);
    }
    free(norm);
    free(got);
    if (differs) fail();
  }
  assert_int_equal(chdir(cwd), 0);
  unlink(link);
}

/* ---- filesystem ---- */

static void test_filesystem(void **st) {
  (void)st;
  char mi[5 * PATH_MAX];
  /* the temp dir itself (statfs works), a missing mount point (error),
   * a proc mount (excluded type), /sys (excluded mount point), an escaped
   * space, and a duplicate of the first line (reported once) */
  char sp[PATH_MAX];
  ph_pathf(sp, sizeof(sp), "%s/with space", g_tmp);
  mkdir(sp, 0755);
  ph_pathf(mi, sizeof(mi),
           "22 1 8:1 / %s rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
           "23 1 0:5 / %s/missing ro,nosuid - nfs4 srv:/x rw\n"
           "24 1 0:6 / /proc rw - proc proc rw\n"
           "25 1 0:7 / /sys rw - sysfs sysfs rw\n"
           "26 1 8:2 / %s/with\\040space ro - ext4 /dev/sda2 rw\n"
           "22 1 8:1 / %s rw,relatime shared:1 - ext4 /dev/sda1 rw\n",
           g_tmp, g_tmp, g_tmp, g_tmp);
  write_file("proc/1/mountinfo", mi);
  const char *cols[] = {"filesystem", NULL};
  char *out = scrape(cols, NULL);
  char line[2 * PATH_MAX];
  snprintf(line, sizeof(line),
           "node_filesystem_device_error{device=\"/dev/sda1\",device_error=\"\",fstype=\"ext4\","
           "mountpoint=\"%s\"} 0\n",
           g_tmp);
  assert_non_null(strstr(out, line));
  snprintf(line, sizeof(line),
           "node_filesystem_device_error{device=\"srv:/x\",device_error=\"no such file or "
           "directory\",fstype=\"nfs4\",mountpoint=\"%s/missing\"} 1\n",
           g_tmp);
  assert_non_null(strstr(out, line));
  snprintf(line, sizeof(line),
           "node_filesystem_readonly{device=\"srv:/x\",device_error=\"no such file or "
           "directory\",fstype=\"nfs4\",mountpoint=\"%s/missing\"} 1\n",
           g_tmp);
  assert_non_null(strstr(out, line));
  snprintf(line, sizeof(line),
           "node_filesystem_readonly{device=\"/dev/sda2\",device_error=\"\",fstype=\"ext4\","
           "mountpoint=\"%s/with space\"} 1\n",
           g_tmp);
  assert_non_null(strstr(out, line));
  snprintf(line, sizeof(line),
           "node_filesystem_mount_info{device=\"/dev/sda1\",major=\"8\",minor=\"1\","
           "mountpoint=\"%s\"} 1\n",
           g_tmp);
  assert_non_null(strstr(out, line));
  assert_non_null(strstr(out, "# TYPE node_filesystem_size_bytes gauge\n"));
  assert_null(strstr(out, "fstype=\"proc\""));
  assert_null(strstr(out, "mountpoint=\"/sys\""));
  /* the missing mount has no size, the duplicate line adds nothing */
  assert_null(strstr(out, "node_filesystem_size_bytes{device=\"srv:/x\""));
  const char *p = strstr(out, "node_filesystem_size_bytes{device=\"/dev/sda1\"");
  assert_non_null(p);
  assert_null(strstr(p + 1, "node_filesystem_size_bytes{device=\"/dev/sda1\""));
  assert_non_null(strstr(out, "node_scrape_collector_success{collector=\"filesystem\"} 1\n"));
  free(out);
  rm_rf(sp);
}

/* ---- failures, collect[] ---- */

static void test_failure_and_filter(void **st) {
  (void)st;
  write_file("proc/loadavg", "0.5 1.25 2 1/100 42\n");
  write_file("proc/sys/fs/file-nr", "not numbers\n");
  const char *cols[] = {"loadavg", "filefd", "entropy", NULL};
  char *out = scrape(cols, NULL);
  assert_non_null(strstr(out, "# HELP node_load1 1m load average.\n# TYPE node_load1 gauge\n"
                              "node_load1 0.5\n"));
  assert_non_null(strstr(out, "node_load5 1.25\n"));
  assert_non_null(strstr(out, "node_scrape_collector_success{collector=\"loadavg\"} 1\n"));
  /* a parse error and a missing file both mark the collector failed */
  assert_non_null(strstr(out, "node_scrape_collector_success{collector=\"filefd\"} 0\n"));
  assert_non_null(strstr(out, "node_scrape_collector_success{collector=\"entropy\"} 0\n"));
  assert_non_null(strstr(out, "node_scrape_collector_duration_seconds{collector=\"loadavg\"} "));
  assert_null(strstr(out, "node_filefd"));
  free(out);

  /* collect[]: only loadavg runs; an unknown name is refused */
  char err[256], flag[PATH_MAX];
  exporter_options_t *o = exporter_options_new();
  ph_pathf(flag, sizeof(flag), "%s/proc", g_tmp);
  assert_int_equal(exporter_options_set(o, "path.procfs", flag, err, sizeof(err)), 0);
  exporter_t *e = exporter_new(o, err, sizeof(err));
  assert_non_null(e);
  strbuf_t b = STRBUF_INIT;
  const char *only[] = {"loadavg"};
  assert_int_equal(exporter_collect_only(e, only, 1, &b, err, sizeof(err)), 0);
  assert_non_null(strstr(strbuf_cstr(&b), "node_load15 2\n"));
  assert_null(strstr(strbuf_cstr(&b), "collector=\"meminfo\""));
  /* exporter metrics are on by default */
  assert_non_null(strstr(strbuf_cstr(&b), "promhttp_metric_handler_requests_in_flight 1\n"));
  strbuf_reset(&b);
  const char *bad[] = {"nope"};
  assert_int_equal(exporter_collect_only(e, bad, 1, &b, err, sizeof(err)), PH_EINVAL);
  assert_non_null(strstr(err, "nope"));
  exporter_note_request(e, 200);
  exporter_note_request(e, 500);
  assert_int_equal(exporter_collect_only(e, only, 1, &b, err, sizeof(err)), 0);
  assert_non_null(strstr(strbuf_cstr(&b), "promhttp_metric_handler_requests_total{code=\"200\"} 1\n"));
  assert_non_null(strstr(strbuf_cstr(&b), "promhttp_metric_handler_requests_total{code=\"500\"} 1\n"));
  strbuf_free(&b);
  exporter_free(e);
  /* a bad regex makes exporter_new fail with the collector named */
  assert_int_equal(exporter_options_set(o, "collector.vmstat.fields", "(", err, sizeof(err)), 0);
  assert_null(exporter_new(o, err, sizeof(err)));
  assert_non_null(strstr(err, "vmstat"));
  exporter_options_free(o);
}

/* ---- diskstats ---- */

static void test_diskstats(void **st) {
  (void)st;
  write_file("proc/diskstats",
             "   8       0 sda 100 2 800 30 50 1 400 20 0 40 50\n"
             "   8       1 sda1 10 0 80 3 5 0 40 2 0 4 5\n"
             "   7       0 loop0 1 0 8 0 0 0 0 0 0 0 0\n"
             " 259       0 nvme0n1 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n");
  write_file("udev/b8:0", "E:ID_MODEL=Disk\nE:SCSI_IDENT_SERIAL=S1\nE:ID_SERIAL_SHORT=S2\n"
                          "E:ID_ATA=1\nE:ID_ATA_ROTATION_RATE_RPM=7200\nE:ID_FS_TYPE=ext4\n");
  write_file("sys/block/sda/queue/rotational", "1\n");
  const char *cols[] = {"diskstats", NULL};
  char *out = scrape(cols, NULL);
  assert_non_null(strstr(out, "node_disk_info{device=\"sda\",major=\"8\",minor=\"0\",model=\"Disk\","
                              "path=\"\",revision=\"\",rotational=\"1\",serial=\"S1\",wwn=\"\"} 1\n"));
  assert_non_null(strstr(out, "node_disk_read_bytes_total{device=\"sda\"} 409600\n"));
  assert_non_null(strstr(out, "node_disk_read_time_seconds_total{device=\"sda\"} 0.03\n"));
  assert_non_null(strstr(out, "node_disk_ata_rotation_rate_rpm{device=\"sda\"} 7200\n"));
  assert_non_null(strstr(out, "node_disk_filesystem_info{device=\"sda\",type=\"ext4\",usage=\"\","
                              "uuid=\"\",version=\"\"} 1\n"));
  /* 11 counters: no discard/flush families for sda; 17 for nvme0n1 */
  assert_null(strstr(out, "node_disk_discards_completed_total{device=\"sda\"}"));
  assert_non_null(strstr(out, "node_disk_flush_requests_time_seconds_total{device=\"nvme0n1\"} 0.017\n"));
  /* partitions and loop devices are excluded by default */
  assert_null(strstr(out, "device=\"sda1\""));
  assert_null(strstr(out, "device=\"loop0\""));
  free(out);
  const char *flags[] = {"collector.diskstats.device-include=^sda1$", NULL};
  out = scrape(cols, flags);
  assert_non_null(strstr(out, "device=\"sda1\""));
  assert_null(strstr(out, "device=\"sda\""));
  free(out);
}

/* ---- cpu ---- */

static char *netclass_scrape(const char *sysfs) {
  char err[256];
  exporter_options_t *o = exporter_options_new();
  assert_int_equal(exporter_options_set(o, "collector.disable-defaults", NULL, err, sizeof(err)), 0);
  assert_int_equal(exporter_options_set(o, "collector.netclass", NULL, err, sizeof(err)), 0);
  assert_int_equal(exporter_options_set(o, "path.sysfs", sysfs, err, sizeof(err)), 0);
  exporter_t *e = exporter_new(o, err, sizeof(err));
  assert_non_null(e);
  exporter_options_free(o);
  const char *only[] = {"netclass"};
  strbuf_t b = STRBUF_INIT;
  for (int i = 0; i < 2; i++) { /* the second scrape reuses the socket */
    strbuf_reset(&b);
    assert_int_equal(exporter_collect_only(e, only, 1, &b, err, sizeof(err)), 0);
  }
  exporter_free(e);
  /* the netclass families only (not the scrape's own metrics) */
  strbuf_t f = STRBUF_INIT;
  char *text = strdup(strbuf_cstr(&b)), *save = NULL;
  assert_non_null(text);
  for (char *line = strtok_r(text, "\n", &save); line != NULL;
       line = strtok_r(NULL, "\n", &save)) {
    if (strstr(line, "node_network_") == NULL) continue;
    strbuf_puts(&f, line);
    strbuf_putc(&f, '\n');
  }
  free(text);
  strbuf_free(&b);
  char *out = strdup(strbuf_cstr(&f));
  strbuf_free(&f);
  return out;
}

static void test_netclass_netlink(void **st) {
  (void)st;
  if (access("/sys/class/net/lo", F_OK) != 0) skip();
  for (int attempt = 0;; attempt++) {
    char *nl = netclass_scrape("/sys");
    char *fs = netclass_scrape("/sys/.");
    bool same = strcmp(nl, fs) == 0;
    if (!same && attempt < 2) { /* a carrier flapping in between: again */
      free(nl);
      free(fs);
      continue;
    }
    assert_non_null(strstr(nl, "node_network_mtu_bytes{device=\"lo\"}"));
    assert_non_null(strstr(nl, "node_network_info{"));
    assert_non_null(strstr(nl, "node_network_iface_id{device=\"lo\"} "));
    assert_string_equal(nl, fs);
    free(nl);
    free(fs);
    break;
  }
}

static void test_cpu_counters(void **st) {
  (void)st;
  char err[256], flag[PATH_MAX];
  write_file("proc/stat", "cpu  1 1 1 1 1 1 1 1 1 1\n"
                          "cpu0 100 0 50 1000 0 0 0 0 7 3\n"
                          "intr 5\nctxt 6\nbtime 7\nprocesses 8\nprocs_running 1\nprocs_blocked 0\n");
  exporter_options_t *o = exporter_options_new();
  assert_int_equal(exporter_options_set(o, "collector.disable-defaults", NULL, err, sizeof(err)), 0);
  assert_int_equal(exporter_options_set(o, "collector.cpu", NULL, err, sizeof(err)), 0);
  ph_pathf(flag, sizeof(flag), "%s/proc", g_tmp);
  assert_int_equal(exporter_options_set(o, "path.procfs", flag, err, sizeof(err)), 0);
  ph_pathf(flag, sizeof(flag), "%s/sys", g_tmp);
  assert_int_equal(exporter_options_set(o, "path.sysfs", flag, err, sizeof(err)), 0);
  exporter_t *e = exporter_new(o, err, sizeof(err));
  assert_non_null(e);
  strbuf_t b = STRBUF_INIT;
  exporter_collect(e, &b);
  assert_non_null(strstr(strbuf_cstr(&b), "node_cpu_seconds_total{cpu=\"0\",mode=\"user\"} 1\n"));
  assert_non_null(strstr(strbuf_cstr(&b), "node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 10\n"));
  assert_non_null(strstr(strbuf_cstr(&b), "node_cpu_guest_seconds_total{cpu=\"0\",mode=\"user\"} 0.07\n"));
  /* user goes backwards a little: the old value stays */
  write_file("proc/stat", "cpu0 90 0 60 1001 0 0 0 0 7 3\n");
  strbuf_reset(&b);
  exporter_collect(e, &b);
  assert_non_null(strstr(strbuf_cstr(&b), "node_cpu_seconds_total{cpu=\"0\",mode=\"user\"} 1\n"));
  assert_non_null(strstr(strbuf_cstr(&b), "node_cpu_seconds_total{cpu=\"0\",mode=\"system\"} 0.6\n"));
  /* idle drops by more than 3 s: a hotplug, the cache restarts */
  write_file("proc/stat", "cpu0 90 0 60 500 0 0 0 0 7 3\n");
  strbuf_reset(&b);
  exporter_collect(e, &b);
  assert_non_null(strstr(strbuf_cstr(&b), "node_cpu_seconds_total{cpu=\"0\",mode=\"user\"} 0.9\n"));
  assert_non_null(strstr(strbuf_cstr(&b), "node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 5\n"));
  strbuf_free(&b);
  exporter_free(e);
  exporter_options_free(o);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_textfile_fixtures),
      cmocka_unit_test(test_filesystem),
      cmocka_unit_test(test_failure_and_filter),
      cmocka_unit_test(test_diskstats),
      cmocka_unit_test(test_cpu_counters),
      cmocka_unit_test(test_netclass_netlink),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
