/*
 * test_smart.c - the smart collector against recorded `smartctl --json`
 * outputs (the JSON files in tests/unit/exporters/smart: SATA HDD, PATA disk, NVMe,
 * SAS, a failing SATA disk, a SATA SSD behind a MegaRAID controller)
 * served by a fake smartctl (smart/smartctl.sh, copied into a temporary
 * directory).  Covers: metric names, labels and values per device kind,
 * discovery with --scan-open through PATH, the flags' device;type syntax,
 * a hung smartctl (killed after the timeout; scrapes never wait), a
 * missing binary, a device that cannot be read, bad JSON, a disk in
 * standby keeping its last data, and bad flag values.
 */
#include "fixture.h"

#include "log.h"

#include <time.h>

#ifndef PHAROS_SOURCE_DIR
#define PHAROS_SOURCE_DIR "."
#endif

static char g_fake[PATH_MAX];

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int setup(void **st) {
  if (fx_setup(st) != 0) return -1;
  ph_pathf(g_fake, sizeof(g_fake), "%s/fake", g_tmp);
  strbuf_t cmd = STRBUF_INIT;
  strbuf_printf(&cmd,
                "mkdir -p '%s' && cp '%s/tests/unit/exporters/smart/'* '%s/' && "
                "mv '%s/smartctl.sh' '%s/smartctl' && chmod 755 '%s/smartctl'",
                g_fake, PHAROS_SOURCE_DIR, g_fake, g_fake, g_fake, g_fake);
  int rc = system(strbuf_cstr(&cmd));
  strbuf_free(&cmd);
  if (rc != 0) return -1;
  setenv("FAKE_SMARTCTL_DIR", g_fake, 1);
  return 0;
}

/* Scrapes until the collector has data (smartctl_devices appears, or a
 * success sample other than the "no data yet" case), at most 10 s. */
static char *scrape_when_ready(exporter_t *e, const char *needle) {
  double t0 = now_s();
  for (;;) {
    char *out = fx_scrape_with(e);
    if (strstr(out, needle) != NULL) return out;
    if (now_s() - t0 > 10) fail_msg("no \"%s\" after 10 s:\n%s", needle, out);
    free(out);
    usleep(20000);
  }
}

static exporter_t *new_exporter(const char *const *flags, exporter_options_t **o) {
  static const char *const cols[] = {"smart", NULL};
  char err[256];
  *o = fx_options(cols, flags);
  exporter_t *e = exporter_new(*o, err, sizeof(err));
  if (e == NULL) fail_msg("exporter_new: %s", err);
  return e;
}

static void test_devices(void **st) {
  (void)st;
  const char *flags[] = {"collector.smart.smartctl=@/fake/smartctl",
                         "collector.smart.device=/dev/sda;sat",
                         "collector.smart.device=/dev/hda;ata",
                         "collector.smart.device=/dev/nvme0;nvme",
                         "collector.smart.device=/dev/sdc;scsi",
                         "collector.smart.device=/dev/sdd;sat",
                         "collector.smart.device=/dev/bus/0;megaraid,2",
                         "collector.smart.interval=1h",
                         NULL};
  exporter_options_t *o;
  exporter_t *e = new_exporter(flags, &o);
  char *out = scrape_when_ready(e, "smartctl_devices ");
  assert_line(out, "smartctl_devices 6");
  assert_line(out, "node_scrape_collector_success{collector=\"smart\"} 1");
  assert_line(out, "smartctl_version{build_info=\"(local build)\",json_format_version=\"1.0\",smartctl_version=\"7.3\",svn_revision=\"5338\"} 1");
  /* SATA hard disk */
  assert_line(out, "# HELP smartctl_device Device info");
  assert_line(out, "# TYPE smartctl_device gauge");
  assert_line(out, "smartctl_device{ata_additional_product_id=\"unknown\",ata_version=\"ACS-3 T13/2161-D revision 5\",device=\"sda\",firmware_version=\"82.00A82\",form_factor=\"3.5 inches\",interface=\"sat\",model_family=\"Western Digital Red\",model_name=\"WDC WD40EFRX-68N32N0\",protocol=\"ATA\",sata_version=\"SATA 3.1\",scsi_product=\"\",scsi_revision=\"\",scsi_vendor=\"\",scsi_version=\"\",serial_number=\"WD-WCC7K1234567\"} 1");
  assert_line(out, "smartctl_device_attribute{attribute_flags_long=\"prefailure,updated_online,event_count,auto_keep\",attribute_flags_short=\"PO--CK\",attribute_id=\"5\",attribute_name=\"Reallocated_Sector_Ct\",attribute_value_type=\"raw\",device=\"sda\"} 0");
  assert_line(out, "smartctl_device_attribute{attribute_flags_long=\"prefailure,updated_online,event_count,auto_keep\",attribute_flags_short=\"PO--CK\",attribute_id=\"5\",attribute_name=\"Reallocated_Sector_Ct\",attribute_value_type=\"thresh\",device=\"sda\"} 140");
  assert_line(out, "smartctl_device_attribute{attribute_flags_long=\"updated_online,auto_keep\",attribute_flags_short=\"-O---K\",attribute_id=\"194\",attribute_name=\"Temperature_Celsius\",attribute_value_type=\"worst\",device=\"sda\"} 103");
  assert_line(out, "# TYPE smartctl_device_power_on_seconds counter");
  assert_line(out, "smartctl_device_power_on_seconds{device=\"sda\"} 1.012068e+08");
  assert_line(out, "smartctl_device_power_cycle_count{device=\"sda\"} 71");
  assert_line(out, "smartctl_device_temperature{device=\"sda\",temperature_type=\"current\"} 34");
  assert_line(out, "smartctl_device_interface_speed{device=\"sda\",speed_type=\"current\"} 6e+09");
  assert_line(out, "smartctl_device_capacity_bytes{device=\"sda\"} 4.000787030016e+12");
  assert_line(out, "smartctl_device_capacity_blocks{device=\"sda\"} 7.814037168e+09");
  assert_line(out, "smartctl_device_block_size{blocks_type=\"physical\",device=\"sda\"} 4096");
  assert_line(out, "smartctl_device_rotation_rate{device=\"sda\"} 5400");
  assert_line(out, "smartctl_device_smart_status{device=\"sda\"} 1");
  assert_line(out, "smartctl_device_smartctl_exit_status{device=\"sda\"} 0");
  assert_line(out, "smartctl_device_error_log_count{device=\"sda\",error_log_type=\"summary\"} 0");
  assert_line(out, "smartctl_device_self_test_log_count{device=\"sda\",self_test_log_type=\"standard\"} 1");
  assert_line(out, "smartctl_device_self_test_log_error_count{device=\"sda\",self_test_log_type=\"standard\"} 0");
  assert_null(strstr(out, "smartctl_device_percentage_used{device=\"sda\"}"));
  /* PATA disk: hours and minutes, no SATA fields, exit status 4 is fine */
  assert_line(out, "smartctl_device_power_on_seconds{device=\"hda\"} 7.86432e+06");
  assert_line(out, "smartctl_device_smartctl_exit_status{device=\"hda\"} 4");
  assert_null(strstr(out, "smartctl_device_interface_speed{device=\"hda\""));
  /* NVMe */
  assert_line(out, "# TYPE smartctl_device_percentage_used counter");
  assert_line(out, "smartctl_device_percentage_used{device=\"nvme0\"} 3");
  assert_line(out, "smartctl_device_available_spare{device=\"nvme0\"} 100");
  assert_line(out, "smartctl_device_available_spare_threshold{device=\"nvme0\"} 10");
  assert_line(out, "smartctl_device_critical_warning{device=\"nvme0\"} 0");
  assert_line(out, "smartctl_device_media_errors{device=\"nvme0\"} 0");
  assert_line(out, "smartctl_device_num_err_log_entries{device=\"nvme0\"} 1021");
  assert_line(out, "# HELP smartctl_device_bytes_read ");
  assert_line(out, "smartctl_device_bytes_read{device=\"nvme0\"} 1.0930120192e+13");
  assert_line(out, "smartctl_device_bytes_written{device=\"nvme0\"} 1.8131357184e+13");
  assert_line(out, "smartctl_device_nvme_capacity_bytes{device=\"nvme0\"} 1.000204886016e+12");
  assert_line(out, "smartctl_device_temperature{device=\"nvme0\",temperature_type=\"current\"} 41");
  assert_line(out, "smartctl_device{ata_additional_product_id=\"unknown\",ata_version=\"\",device=\"nvme0\",firmware_version=\"2B2QEXM7\",form_factor=\"\",interface=\"nvme\",model_family=\"unknown\",model_name=\"Samsung SSD 970 EVO Plus 1TB\",protocol=\"NVMe\",sata_version=\"\",scsi_product=\"\",scsi_revision=\"\",scsi_vendor=\"\",scsi_version=\"\",serial_number=\"S4EWNX0R123456A\"} 1");
  /* SAS */
  assert_line(out, "smartctl_device{ata_additional_product_id=\"unknown\",ata_version=\"\",device=\"sdc\",firmware_version=\"\",form_factor=\"3.5 inches\",interface=\"scsi\",model_family=\"unknown\",model_name=\"SEAGATE ST4000NM0023\",protocol=\"SCSI\",sata_version=\"\",scsi_product=\"ST4000NM0023\",scsi_revision=\"GS0F\",scsi_vendor=\"SEAGATE\",scsi_version=\"SPC-4\",serial_number=\"Z1Z0ABCD0000C4470XYZ\"} 1");
  assert_line(out, "smartctl_scsi_grown_defect_list{device=\"sdc\"} 2");
  assert_line(out, "smartctl_read_errors_corrected_by_eccfast{device=\"sdc\"} 3.019484611e+09");
  assert_line(out, "smartctl_read_errors_corrected_by_eccdelayed{device=\"sdc\"} 12");
  assert_line(out, "smartctl_write_total_uncorrected_errors{device=\"sdc\"} 0");
  assert_line(out, "smartctl_device_bytes_read{device=\"sdc\"} 4.12391553e+14");
  assert_line(out, "smartctl_device_power_cycle_count{device=\"sdc\"} 87");
  assert_line(out, "smartctl_device_power_on_seconds{device=\"sdc\"} 1.5077592e+08");
  assert_line(out, "smartctl_device_temperature{device=\"sdc\",temperature_type=\"drive_trip\"} 68");
  /* the failing disk */
  assert_line(out, "smartctl_device_smart_status{device=\"sdd\"} 0");
  assert_line(out, "smartctl_device_smartctl_exit_status{device=\"sdd\"} 24");
  assert_line(out, "smartctl_device_attribute{attribute_flags_long=\"prefailure,updated_online,event_count,auto_keep\",attribute_flags_short=\"PO--CK\",attribute_id=\"5\",attribute_name=\"Reallocated_Sector_Ct\",attribute_value_type=\"raw\",device=\"sdd\"} 61928");
  assert_line(out, "smartctl_device_attribute{attribute_flags_long=\"prefailure,updated_online,event_count,auto_keep\",attribute_flags_short=\"PO--CK\",attribute_id=\"5\",attribute_name=\"Reallocated_Sector_Ct\",attribute_value_type=\"value\",device=\"sdd\"} 3");
  assert_line(out, "smartctl_device_attribute{attribute_flags_long=\"event_count\",attribute_flags_short=\"----C-\",attribute_id=\"198\",attribute_name=\"Offline_Uncorrectable\",attribute_value_type=\"raw\",device=\"sdd\"} 4648");
  assert_line(out, "smartctl_device_error_log_count{device=\"sdd\",error_log_type=\"summary\"} 6571");
  assert_line(out, "smartctl_device_self_test_log_error_count{device=\"sdd\",self_test_log_type=\"standard\"} 2");
  /* behind a MegaRAID controller */
  assert_line(out, "smartctl_device_smart_status{device=\"bus_0_sat+megaraid_2\"} 1");
  assert_null(strstr(out, "smartctl_device_rotation_rate{device=\"bus_0_sat+megaraid_2\"}"));
  free(out);
  /* smartctl ran once per device, never waking disks */
  char path[PATH_MAX], *log = NULL;
  size_t len;
  collect_ctx_t c = {0};
  c.arena = arena_new(0);
  assert_int_equal(cc_read_arena(&c, ph_pathf(path, sizeof(path), "%s/calls.log", g_fake), &log, &len), 0);
  assert_non_null(strstr(log, "--json -a -n standby -d megaraid,2 /dev/bus/0\n"));
  assert_non_null(strstr(log, "--json -a -n standby -d sat /dev/sda\n"));
  assert_null(strstr(log, "--scan-open"));
  free(c.buf);
  arena_free(c.arena);
  exporter_free(e);
  exporter_options_free(o);
}

/* No device flag: discovery with --scan-open, smartctl found on PATH. */
static void test_scan_on_path(void **st) {
  (void)st;
  const char *old = getenv("PATH");
  char *saved = strdup(old ? old : "/usr/bin:/bin");
  char path[2 * PATH_MAX];
  snprintf(path, sizeof(path), "%s:%s", g_fake, saved);
  setenv("PATH", path, 1);
  exporter_options_t *o;
  exporter_t *e = new_exporter(NULL, &o);
  char *out = scrape_when_ready(e, "smartctl_devices ");
  setenv("PATH", saved, 1);
  free(saved);
  assert_line(out, "smartctl_devices 2");
  assert_line(out, "smartctl_device_smart_status{device=\"sda\"} 1");
  assert_line(out, "smartctl_device_percentage_used{device=\"nvme0\"} 3");
  assert_line(out, "node_scrape_collector_success{collector=\"smart\"} 1");
  free(out);
  exporter_free(e);
  exporter_options_free(o);
}

/* A hung smartctl: scrapes answer at once; the run is killed after the
 * timeout, the collector reports failure, the other disks still answer;
 * stopping the exporter does not wait for the hung run. */
static void test_hung(void **st) {
  (void)st;
  const char *flags[] = {"collector.smart.smartctl=@/fake/smartctl",
                         "collector.smart.device=/dev/sda;sat",
                         "collector.smart.device=/dev/hang",
                         "collector.smart.timeout=1s", "collector.smart.interval=1h", NULL};
  exporter_options_t *o;
  exporter_t *e = new_exporter(flags, &o);
  double t0 = now_s();
  char *out = fx_scrape_with(e);
  assert_true(now_s() - t0 < 0.5);
  /* the first refresh is still running: no data yet */
  assert_line(out, "node_scrape_collector_success{collector=\"smart\"} 0");
  assert_null(strstr(out, "smartctl_device_smart_status"));
  free(out);
  out = scrape_when_ready(e, "smartctl_devices ");
  double dt = now_s() - t0;
  assert_true(dt >= 0.9 && dt < 5);
  assert_line(out, "smartctl_device_smart_status{device=\"sda\"} 1");
  assert_line(out, "smartctl_devices 2");
  assert_line(out, "node_scrape_collector_success{collector=\"smart\"} 0");
  free(out);
  exporter_free(e);
  exporter_options_free(o);

  /* stopping while smartctl hangs */
  const char *flags2[] = {"collector.smart.smartctl=@/fake/smartctl",
                          "collector.smart.device=/dev/hang", "collector.smart.timeout=60s",
                          NULL};
  e = new_exporter(flags2, &o);
  usleep(200000);
  t0 = now_s();
  exporter_free(e);
  assert_true(now_s() - t0 < 2);
  exporter_options_free(o);
}

static void test_failures(void **st) {
  (void)st;
  /* missing binary: failure, and the reason in the log */
  char logpath[PATH_MAX];
  FILE *logf = fopen(ph_pathf(logpath, sizeof(logpath), "%s/log.txt", g_tmp), "w+");
  assert_non_null(logf);
  log_set_output(logf);
  const char *flags[] = {"collector.smart.smartctl=@/nope/smartctl", NULL};
  exporter_options_t *o;
  exporter_t *e = new_exporter(flags, &o);
  double t0 = now_s();
  char *logtext = NULL;
  for (;;) {
    fflush(logf);
    collect_ctx_t c = {0};
    c.arena = arena_new(0);
    size_t len;
    char *d = NULL;
    if (cc_read_arena(&c, logpath, &d, &len) == 0 && strstr(d, "cannot run")) logtext = strdup(d);
    free(c.buf);
    arena_free(c.arena);
    if (logtext != NULL || now_s() - t0 > 10) break;
    usleep(10000);
  }
  assert_non_null(logtext);
  assert_non_null(strstr(logtext, "nope/smartctl: No such file or directory"));
  free(logtext);
  char *out = fx_scrape_with(e);
  assert_line(out, "node_scrape_collector_success{collector=\"smart\"} 0");
  assert_null(strstr(out, "smartctl_devices"));
  free(out);
  exporter_free(e);
  exporter_options_free(o);
  log_set_output(stderr);
  fclose(logf);

  /* an unknown device, bad JSON: the good disk is still reported */
  fx_write("fake/sdx_sat.json", "{\"json_format_version\": [1, 0], \"smartctl\": {\"exit");
  const char *flags2[] = {"collector.smart.smartctl=@/fake/smartctl",
                          "collector.smart.device=/dev/sda;sat",
                          "collector.smart.device=/dev/sdx;sat",
                          "collector.smart.device=/dev/nosuch", NULL};
  e = new_exporter(flags2, &o);
  out = scrape_when_ready(e, "smartctl_devices ");
  assert_line(out, "smartctl_devices 3");
  assert_line(out, "smartctl_device_smart_status{device=\"sda\"} 1");
  assert_null(strstr(out, "device=\"sdx\""));
  assert_null(strstr(out, "device=\"nosuch\""));
  assert_line(out, "node_scrape_collector_success{collector=\"smart\"} 0");
  free(out);
  exporter_free(e);
  exporter_options_free(o);

  /* bad durations */
  char err[256];
  static const char *const cols[] = {"smart", NULL};
  const char *bad[] = {"collector.smart.interval=often", NULL};
  o = fx_options(cols, bad);
  assert_null(exporter_new(o, err, sizeof(err)));
  assert_non_null(strstr(err, "collector.smart.interval"));
  exporter_options_free(o);
  const char *bad2[] = {"collector.smart.timeout=0s", NULL};
  o = fx_options(cols, bad2);
  assert_null(exporter_new(o, err, sizeof(err)));
  exporter_options_free(o);
}

static size_t count_calls(const char *dev) {
  char path[PATH_MAX];
  FILE *f = fopen(ph_pathf(path, sizeof(path), "%s/calls.log", g_fake), "r");
  if (f == NULL) return 0;
  char line[1024];
  size_t n = 0;
  while (fgets(line, sizeof(line), f))
    if (strstr(line, dev)) n++;
  fclose(f);
  return n;
}

/* A disk that goes to sleep keeps the data of its last read. */
static void test_standby(void **st) {
  (void)st;
  const char *flags[] = {"collector.smart.smartctl=@/fake/smartctl",
                         "collector.smart.device=/dev/bus/0;megaraid,2",
                         "collector.smart.interval=100ms", NULL};
  exporter_options_t *o;
  exporter_t *e = new_exporter(flags, &o);
  char *out = scrape_when_ready(e, "smartctl_devices ");
  assert_line(out, "smartctl_device_power_cycle_count{device=\"bus_0_sat+megaraid_2\"} 20");
  free(out);
  fx_write("fake/bus_0_megaraid_2.standby", "");
  size_t n0 = count_calls("/dev/bus/0");
  double t0 = now_s();
  while (count_calls("/dev/bus/0") < n0 + 2 && now_s() - t0 < 10) usleep(20000);
  assert_true(count_calls("/dev/bus/0") >= n0 + 2);
  out = fx_scrape_with(e);
  assert_line(out, "smartctl_device_power_cycle_count{device=\"bus_0_sat+megaraid_2\"} 20");
  assert_line(out, "node_scrape_collector_success{collector=\"smart\"} 1");
  free(out);
  exporter_free(e);
  exporter_options_free(o);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_devices, setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_scan_on_path, setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_hung, setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_failures, setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_standby, setup, fx_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
