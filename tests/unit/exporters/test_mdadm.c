/*
 * test_mdadm.c - the mdadm collector's RAID health families
 * (pharos_md_degraded, pharos_md_sync_progress_ratio,
 * pharos_md_sync_remaining_seconds) on an /proc/mdstat written for this
 * test: a degraded mirror with a failed disk, a resyncing RAID5 (progress
 * line before the bitmap line), a RAID6 under check, a mirror recovering
 * onto a new disk, a DELAYED resync, a RAID0 and a reshaping RAID5; that
 * node_exporter's node_md_* families are unchanged for them; and that a
 * malformed or missing mdstat fails the collector.
 */
#include "fixture.h"

static const char MDSTAT[] =
    "Personalities : [raid1] [raid6] [raid5] [raid4] [raid0] [raid10]\n"
    "md1 : active raid1 sdb1[1](F) sda1[0]\n"
    "      976630464 blocks super 1.2 [2/1] [U_]\n"
    "      bitmap: 3/8 pages [12KB], 65536KB chunk\n"
    "\n"
    "md2 : active raid5 sde1[3] sdd1[1] sdc1[0]\n"
    "      1953258496 blocks super 1.2 level 5, 512k chunk, algorithm 2 [3/3] [UUU]\n"
    "      [=====>...............]  resync = 27.5% (268582912/976629248) finish=58.7min speed=201024K/sec\n"
    "      bitmap: 6/8 pages [24KB], 65536KB chunk\n"
    "\n"
    "md3 : active raid6 sdi1[3] sdh1[2] sdg1[1] sdf1[0]\n"
    "      1953258496 blocks super 1.2 level 6, 512k chunk, algorithm 2 [4/4] [UUUU]\n"
    "      [=>...................]  check =  5.0% (48828125/976629248) finish=120.5min speed=128000K/sec\n"
    "\n"
    "md4 : active raid1 sdk1[2] sdj1[0]\n"
    "      488254464 blocks super 1.2 [2/1] [U_]\n"
    "      [===>.................]  recovery = 20.0% (97650892/488254464) finish=32.1min speed=202500K/sec\n"
    "\n"
    "md5 : active raid10 sdo1[3] sdn1[2] sdm1[1] sdl1[0]\n"
    "      1953257472 blocks super 1.2 512K chunks 2 near-copies [4/4] [UUUU]\n"
    "        resync=DELAYED\n"
    "\n"
    "md6 : active raid0 sdq1[1] sdp1[0]\n"
    "      1953260544 blocks super 1.2 512k chunks\n"
    "\n"
    "md7 : active raid5 sdu1[3] sdt1[2] sds1[1] sdr1[0]\n"
    "      2929889280 blocks super 1.2 level 5, 512k chunk, algorithm 2 [4/4] [UUUU]\n"
    "      [=========>...........]  reshape = 45.0% (439483392/976629760) finish=45.0min speed=198000K/sec\n"
    "\n"
    "unused devices: <none>\n";

static const char *const COLS[] = {"mdadm", NULL};

static void test_health(void **st) {
  (void)st;
  fx_write("proc/mdstat", MDSTAT);
  char *out = fx_scrape(COLS, NULL);
  assert_line(out, "node_scrape_collector_success{collector=\"mdadm\"} 1");
  assert_line(out, "# HELP pharos_md_degraded Whether the md device has fewer active disks than it requires (1) or not (0).");
  assert_line(out, "# TYPE pharos_md_degraded gauge");
  assert_line(out, "pharos_md_degraded{device=\"md1\"} 1");
  assert_line(out, "pharos_md_degraded{device=\"md2\"} 0");
  assert_line(out, "pharos_md_degraded{device=\"md3\"} 0");
  assert_line(out, "pharos_md_degraded{device=\"md4\"} 1");
  assert_line(out, "pharos_md_degraded{device=\"md5\"} 0");
  assert_line(out, "pharos_md_degraded{device=\"md6\"} 0");
  assert_line(out, "pharos_md_sync_progress_ratio{device=\"md1\"} 1");
  assert_line(out, "pharos_md_sync_progress_ratio{device=\"md2\"} 0.2750101049605264");
  assert_line(out, "pharos_md_sync_progress_ratio{device=\"md3\"} 0.04999658273596983");
  assert_line(out, "pharos_md_sync_progress_ratio{device=\"md4\"} 0.1999999983615101");
  assert_line(out, "pharos_md_sync_progress_ratio{device=\"md5\"} 0");
  assert_line(out, "pharos_md_sync_progress_ratio{device=\"md6\"} 1");
  assert_line(out, "pharos_md_sync_progress_ratio{device=\"md7\"} 0.45");
  assert_line(out, "pharos_md_sync_remaining_seconds{device=\"md1\"} 0");
  assert_line(out, "pharos_md_sync_remaining_seconds{device=\"md2\"} 3522");
  assert_line(out, "pharos_md_sync_remaining_seconds{device=\"md3\"} 7230");
  assert_line(out, "pharos_md_sync_remaining_seconds{device=\"md4\"} 1926");
  assert_line(out, "pharos_md_sync_remaining_seconds{device=\"md5\"} 0");
  assert_line(out, "pharos_md_sync_remaining_seconds{device=\"md7\"} 2700");
  /* node_exporter's families keep their meaning */
  assert_line(out, "node_md_disks{device=\"md1\",state=\"failed\"} 1");
  assert_line(out, "node_md_disks{device=\"md1\",state=\"active\"} 1");
  assert_line(out, "node_md_disks_required{device=\"md1\"} 2");
  assert_line(out, "node_md_state{device=\"md1\",state=\"active\"} 1");
  assert_line(out, "node_md_state{device=\"md2\",state=\"resync\"} 1");
  assert_line(out, "node_md_blocks_synced{device=\"md2\"} 2.68582912e+08");
  assert_line(out, "node_md_state{device=\"md3\",state=\"check\"} 1");
  assert_line(out, "node_md_state{device=\"md4\",state=\"recovering\"} 1");
  assert_line(out, "node_md_blocks_synced{device=\"md5\"} 0");
  assert_line(out, "node_md_state{device=\"md7\",state=\"active\"} 1");
  assert_line(out, "node_md_blocks_synced{device=\"md7\"} 2.92988928e+09");
  free(out);
}

static void test_bad_mdstat(void **st) {
  (void)st;
  /* a status line without the [n/m] [UU] part */
  fx_write("proc/mdstat",
           "Personalities : [raid1]\n"
           "md9 : active raid1 sdb1[1] sda1[0]\n"
           "      976630464 blocks super 1.2\n"
           "\n"
           "unused devices: <none>\n");
  char *out = fx_scrape(COLS, NULL);
  assert_line(out, "node_scrape_collector_success{collector=\"mdadm\"} 0");
  free(out);
  /* a sync line without the (done/total) figures */
  fx_write("proc/mdstat",
           "Personalities : [raid1]\n"
           "md9 : active raid1 sdb1[1] sda1[0]\n"
           "      976630464 blocks super 1.2 [2/2] [UU]\n"
           "      [==>......]  resync = 12.0% finish=1.0min\n"
           "\n"
           "unused devices: <none>\n");
  out = fx_scrape(COLS, NULL);
  assert_line(out, "node_scrape_collector_success{collector=\"mdadm\"} 0");
  free(out);
  /* no mdstat (no md driver): no data */
  char path[PATH_MAX];
  unlink(ph_pathf(path, sizeof(path), "%s/proc/mdstat", g_tmp));
  out = fx_scrape(COLS, NULL);
  assert_line(out, "node_scrape_collector_success{collector=\"mdadm\"} 0");
  assert_null(strstr(out, "pharos_md_"));
  free(out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_health, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_bad_mdstat, fx_setup, fx_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
