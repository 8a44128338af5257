/*
 * test_cgroup.c - the cgroup collector on a cgroups v2 tree built in a
 * temporary directory: a systemd service, a Docker container (systemd
 * driver, with its config.v2.json), a Podman container (its
 * containers/storage containers.json) and its conmon scope, a cgroupfs
 * Docker container, io.stat device names from sysfs, limits ("max"),
 * CFS metrics only with a quota, PSI, filters, the exact output for one
 * container, a malformed file (collector failed, others still reported),
 * a vanished/missing root, and the name cache following config changes.
 */
#include "fixture.h"

#define DID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define PID "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define CID "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static void cg_file(const char *cg, const char *file, const char *content) {
  char rel[PATH_MAX];
  ph_pathf(rel, sizeof(rel), "cg%s/%s", cg, file);
  fx_write(rel, content);
}

static void basic_cgroup(const char *cg) {
  cg_file(cg, "cgroup.controllers", "cpu io memory pids\n");
  cg_file(cg, "cpu.stat",
          "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n"
          "core_sched.force_idle_usec 0\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n"
          "nr_bursts 0\nburst_usec 0\n");
  cg_file(cg, "cpu.max", "max 100000\n");
  cg_file(cg, "cpu.weight", "100\n");
  cg_file(cg, "memory.current", "104857600\n");
  cg_file(cg, "memory.stat",
          "anon 52428800\nfile 41943040\nkernel 1048576\nfile_mapped 4194304\n"
          "active_file 20971520\ninactive_file 10485760\n");
  cg_file(cg, "memory.swap.current", "0\n");
  cg_file(cg, "memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n");
  cg_file(cg, "memory.max", "max\n");
  cg_file(cg, "memory.swap.max", "max\n");
  cg_file(cg, "memory.low", "0\n");
  cg_file(cg, "pids.current", "7\n");
  cg_file(cg, "pids.max", "4915\n");
  cg_file(cg, "cgroup.procs", "101\n102\n");
  cg_file(cg, "io.stat",
          "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n"
          "253:7 rbytes=512 wbytes=0 rios=3 wios=0 dbytes=0 dios=0\n");
  cg_file(cg, "cpu.pressure",
          "some avg10=0.00 avg60=0.00 avg300=0.00 total=1500000\n"
          "full avg10=0.00 avg60=0.00 avg300=0.00 total=250000\n");
  cg_file(cg, "memory.pressure",
          "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
          "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
  cg_file(cg, "io.pressure",
          "some avg10=0.00 avg60=0.00 avg300=0.00 total=3000000\n"
          "full avg10=0.00 avg60=0.00 avg300=0.00 total=2000000\n");
}

static void build_tree(void) {
  fx_write("cg/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
  fx_write("cg/cpu.stat", "usage_usec 9000000\nuser_usec 6000000\nsystem_usec 3000000\n");
  fx_write("cg/cgroup.procs", "1\n");
  fx_mkdir("cg/system.slice");
  basic_cgroup("/system.slice/nginx.service");
  basic_cgroup("/system.slice/docker-" DID ".scope");
  cg_file("/system.slice/docker-" DID ".scope", "cpu.max", "50000 100000\n");
  cg_file("/system.slice/docker-" DID ".scope", "cpu.stat",
          "usage_usec 1000000\nuser_usec 600000\nsystem_usec 400000\n"
          "nr_periods 120\nnr_throttled 15\nthrottled_usec 750000\n");
  cg_file("/system.slice/docker-" DID ".scope", "memory.max", "268435456\n");
  cg_file("/system.slice/docker-" DID ".scope", "memory.swap.current", "4096\n");
  fx_write("root/var/lib/docker/containers/" DID "/config.v2.json",
           "{\"ID\":\"" DID "\",\"Name\":\"/web\",\"Created\":\"2025-11-25T10:00:00Z\","
           "\"Config\":{\"Hostname\":\"0123456789ab\",\"Image\":\"nginx:1.25\","
           "\"Labels\":{\"com.example\":\"x\"}},\"Image\":\"sha256:1234\"}");
  basic_cgroup("/machine.slice/libpod-" PID ".scope");
  basic_cgroup("/machine.slice/libpod-conmon-" PID ".scope");
  fx_write("root/var/lib/containers/storage/overlay-containers/containers.json",
           "[{\"id\":\"" PID "\",\"names\":[\"db\"],\"image\":\"abc\",\"layer\":\"def\","
           "\"metadata\":\"{\\\"image-name\\\":\\\"docker.io/library/postgres:16\\\","
           "\\\"image-id\\\":\\\"abc\\\",\\\"name\\\":\\\"db\\\",\\\"created-at\\\":1700000000}\","
           "\"created\":\"2025-11-25T10:00:00Z\"}]");
  basic_cgroup("/docker/" CID);
  fx_write("sys/dev/block/8:0/uevent", "MAJOR=8\nMINOR=0\nDEVNAME=sda\nDEVTYPE=disk\n");
}

static const char *const COLS[] = {"cgroup", NULL};

static void test_tree(void **st) {
  (void)st;
  build_tree();
  const char *flags[] = {"collector.cgroup.root=@/cg", NULL};
  char *out = fx_scrape(COLS, flags);
  const char *svc = "{id=\"/system.slice/nginx.service\",image=\"\",name=\"\"}";
  char line[1024];
#define L(fmt, ...) (snprintf(line, sizeof(line), fmt, __VA_ARGS__), line)
  assert_line(out, "container_cpu_usage_seconds_total{cpu=\"total\",id=\"/system.slice/nginx.service\",image=\"\",name=\"\"} 2.5");
  assert_line(out, L("container_cpu_user_seconds_total%s 2", svc));
  assert_line(out, L("container_cpu_system_seconds_total%s 0.5", svc));
  /* no quota: no CFS counters, no quota spec */
  assert_no_line(out, L("container_cpu_cfs_periods_total%s 0", svc));
  assert_no_line(out, L("container_spec_cpu_quota%s 0", svc));
  assert_line(out, L("container_spec_cpu_period%s 100000", svc));
  assert_line(out, L("container_spec_cpu_shares%s 2597", svc));
  assert_line(out, L("container_memory_usage_bytes%s 1.048576e+08", svc));
  assert_line(out, L("container_memory_working_set_bytes%s 9.437184e+07", svc));
  assert_line(out, L("container_memory_rss%s 5.24288e+07", svc));
  assert_line(out, L("container_memory_cache%s 4.194304e+07", svc));
  assert_line(out, L("container_memory_mapped_file%s 4.194304e+06", svc));
  assert_line(out, L("container_memory_swap%s 0", svc));
  assert_line(out, L("container_oom_events_total%s 1", svc));
  assert_line(out, L("container_spec_memory_limit_bytes%s 0", svc));
  assert_line(out, L("container_spec_memory_swap_limit_bytes%s 0", svc));
  assert_line(out, L("container_spec_memory_reservation_limit_bytes%s 0", svc));
  assert_line(out, L("container_processes%s 2", svc));
  assert_line(out, L("container_threads%s 7", svc));
  assert_line(out, L("container_threads_max%s 4915", svc));
  assert_line(out, L("container_pressure_cpu_waiting_seconds_total%s 1.5", svc));
  assert_line(out, L("container_pressure_cpu_stalled_seconds_total%s 0.25", svc));
  assert_line(out, L("container_pressure_io_waiting_seconds_total%s 3", svc));
  assert_line(out, L("container_pressure_io_stalled_seconds_total%s 2", svc));
  assert_line(out, L("container_pressure_memory_stalled_seconds_total%s 0", svc));
  /* io.stat: 8:0 resolved through sysfs, 253:7 unknown */
  assert_line(out, "container_fs_reads_bytes_total{device=\"/dev/sda\",id=\"/system.slice/nginx.service\",image=\"\",name=\"\"} 4096");
  assert_line(out, "container_fs_writes_bytes_total{device=\"/dev/sda\",id=\"/system.slice/nginx.service\",image=\"\",name=\"\"} 8192");
  assert_line(out, "container_fs_reads_total{device=\"/dev/sda\",id=\"/system.slice/nginx.service\",image=\"\",name=\"\"} 1");
  assert_line(out, "container_fs_writes_total{device=\"/dev/sda\",id=\"/system.slice/nginx.service\",image=\"\",name=\"\"} 2");
  assert_line(out, "container_fs_reads_total{device=\"253:7\",id=\"/system.slice/nginx.service\",image=\"\",name=\"\"} 3");
  /* Docker (systemd driver): name and image from config.v2.json, CFS */
  const char *dk = "{id=\"/system.slice/docker-" DID ".scope\",image=\"nginx:1.25\",name=\"web\"}";
  assert_line(out, L("container_cpu_cfs_periods_total%s 120", dk));
  assert_line(out, L("container_cpu_cfs_throttled_periods_total%s 15", dk));
  assert_line(out, L("container_cpu_cfs_throttled_seconds_total%s 0.75", dk));
  assert_line(out, L("container_spec_cpu_quota%s 50000", dk));
  assert_line(out, L("container_spec_memory_limit_bytes%s 2.68435456e+08", dk));
  assert_line(out, L("container_memory_swap%s 4096", dk));
  /* Podman: from containers.json; its conmon scope stays unnamed */
  assert_line(out, "container_threads{id=\"/machine.slice/libpod-" PID ".scope\",image=\"docker.io/library/postgres:16\",name=\"db\"} 7");
  assert_line(out, "container_threads{id=\"/machine.slice/libpod-conmon-" PID ".scope\",image=\"\",name=\"\"} 7");
  /* cgroupfs Docker without config: id only */
  assert_line(out, "container_threads{id=\"/docker/" CID "\",image=\"\",name=\"\"} 7");
  /* the root and a slice without files of their own */
  assert_line(out, "container_cpu_usage_seconds_total{cpu=\"total\",id=\"/\",image=\"\",name=\"\"} 9");
  assert_line(out, "container_processes{id=\"/\",image=\"\",name=\"\"} 1");
  assert_null(strstr(out, "id=\"/system.slice\""));
  assert_line(out, "node_scrape_collector_success{collector=\"cgroup\"} 1");
  free(out);
#undef L
}

/* The complete output for one container, through the id filter. */
static void test_exact(void **st) {
  (void)st;
  build_tree();
  const char *flags[] = {"collector.cgroup.root=@/cg",
                         "collector.cgroup.id-include=^/system\\.slice/docker-", NULL};
  char *raw = fx_scrape(COLS, flags);
  char *out = fx_stable(raw);
#define ID "{id=\"/system.slice/docker-" DID ".scope\",image=\"nginx:1.25\",name=\"web\"}"
#define DEV(d) "{device=\"" d "\",id=\"/system.slice/docker-" DID ".scope\",image=\"nginx:1.25\",name=\"web\"}"
  const char *want =
      "# HELP container_cpu_cfs_periods_total Number of elapsed enforcement period intervals.\n"
      "# TYPE container_cpu_cfs_periods_total counter\n"
      "container_cpu_cfs_periods_total" ID " 120\n"
      "# HELP container_cpu_cfs_throttled_periods_total Number of throttled period intervals.\n"
      "# TYPE container_cpu_cfs_throttled_periods_total counter\n"
      "container_cpu_cfs_throttled_periods_total" ID " 15\n"
      "# HELP container_cpu_cfs_throttled_seconds_total Total time duration the container has been throttled.\n"
      "# TYPE container_cpu_cfs_throttled_seconds_total counter\n"
      "container_cpu_cfs_throttled_seconds_total" ID " 0.75\n"
      "# HELP container_cpu_system_seconds_total Cumulative system cpu time consumed in seconds.\n"
      "# TYPE container_cpu_system_seconds_total counter\n"
      "container_cpu_system_seconds_total" ID " 0.4\n"
      "# HELP container_cpu_usage_seconds_total Cumulative cpu time consumed in seconds.\n"
      "# TYPE container_cpu_usage_seconds_total counter\n"
      "container_cpu_usage_seconds_total{cpu=\"total\",id=\"/system.slice/docker-" DID ".scope\",image=\"nginx:1.25\",name=\"web\"} 1\n"
      "# HELP container_cpu_user_seconds_total Cumulative user cpu time consumed in seconds.\n"
      "# TYPE container_cpu_user_seconds_total counter\n"
      "container_cpu_user_seconds_total" ID " 0.6\n"
      "# HELP container_fs_reads_bytes_total Cumulative count of bytes read\n"
      "# TYPE container_fs_reads_bytes_total counter\n"
      "container_fs_reads_bytes_total" DEV("/dev/sda") " 4096\n"
      "container_fs_reads_bytes_total" DEV("253:7") " 512\n"
      "# HELP container_fs_reads_total Cumulative count of reads completed\n"
      "# TYPE container_fs_reads_total counter\n"
      "container_fs_reads_total" DEV("/dev/sda") " 1\n"
      "container_fs_reads_total" DEV("253:7") " 3\n"
      "# HELP container_fs_writes_bytes_total Cumulative count of bytes written\n"
      "# TYPE container_fs_writes_bytes_total counter\n"
      "container_fs_writes_bytes_total" DEV("/dev/sda") " 8192\n"
      "container_fs_writes_bytes_total" DEV("253:7") " 0\n"
      "# HELP container_fs_writes_total Cumulative count of writes completed\n"
      "# TYPE container_fs_writes_total counter\n"
      "container_fs_writes_total" DEV("/dev/sda") " 2\n"
      "container_fs_writes_total" DEV("253:7") " 0\n"
      "# HELP container_memory_cache Number of bytes of page cache memory.\n"
      "# TYPE container_memory_cache gauge\n"
      "container_memory_cache" ID " 4.194304e+07\n"
      "# HELP container_memory_mapped_file Size of memory mapped files in bytes.\n"
      "# TYPE container_memory_mapped_file gauge\n"
      "container_memory_mapped_file" ID " 4.194304e+06\n"
      "# HELP container_memory_rss Size of RSS in bytes.\n"
      "# TYPE container_memory_rss gauge\n"
      "container_memory_rss" ID " 5.24288e+07\n"
      "# HELP container_memory_swap Container swap usage in bytes.\n"
      "# TYPE container_memory_swap gauge\n"
      "container_memory_swap" ID " 4096\n"
      "# HELP container_memory_usage_bytes Current memory usage in bytes, including all memory regardless of when it was accessed\n"
      "# TYPE container_memory_usage_bytes gauge\n"
      "container_memory_usage_bytes" ID " 1.048576e+08\n"
      "# HELP container_memory_working_set_bytes Current working set in bytes.\n"
      "# TYPE container_memory_working_set_bytes gauge\n"
      "container_memory_working_set_bytes" ID " 9.437184e+07\n"
      "# HELP container_oom_events_total Count of out of memory events observed for the container\n"
      "# TYPE container_oom_events_total counter\n"
      "container_oom_events_total" ID " 1\n"
      "# HELP container_pressure_cpu_stalled_seconds_total Total time duration no tasks in the container could make progress due to CPU congestion.\n"
      "# TYPE container_pressure_cpu_stalled_seconds_total counter\n"
      "container_pressure_cpu_stalled_seconds_total" ID " 0.25\n"
      "# HELP container_pressure_cpu_waiting_seconds_total Total time duration tasks in the container have waited due to CPU congestion.\n"
      "# TYPE container_pressure_cpu_waiting_seconds_total counter\n"
      "container_pressure_cpu_waiting_seconds_total" ID " 1.5\n"
      "# HELP container_pressure_io_stalled_seconds_total Total time duration no tasks in the container could make progress due to IO congestion.\n"
      "# TYPE container_pressure_io_stalled_seconds_total counter\n"
      "container_pressure_io_stalled_seconds_total" ID " 2\n"
      "# HELP container_pressure_io_waiting_seconds_total Total time duration tasks in the container have waited due to IO congestion.\n"
      "# TYPE container_pressure_io_waiting_seconds_total counter\n"
      "container_pressure_io_waiting_seconds_total" ID " 3\n"
      "# HELP container_pressure_memory_stalled_seconds_total Total time duration no tasks in the container could make progress due to memory congestion.\n"
      "# TYPE container_pressure_memory_stalled_seconds_total counter\n"
      "container_pressure_memory_stalled_seconds_total" ID " 0\n"
      "# HELP container_pressure_memory_waiting_seconds_total Total time duration tasks in the container have waited due to memory congestion.\n"
      "# TYPE container_pressure_memory_waiting_seconds_total counter\n"
      "container_pressure_memory_waiting_seconds_total" ID " 0\n"
      "# HELP container_processes Number of processes running inside the container.\n"
      "# TYPE container_processes gauge\n"
      "container_processes" ID " 2\n"
      "# HELP container_spec_cpu_period CPU period of the container.\n"
      "# TYPE container_spec_cpu_period gauge\n"
      "container_spec_cpu_period" ID " 100000\n"
      "# HELP container_spec_cpu_quota CPU quota of the container.\n"
      "# TYPE container_spec_cpu_quota gauge\n"
      "container_spec_cpu_quota" ID " 50000\n"
      "# HELP container_spec_cpu_shares CPU share of the container.\n"
      "# TYPE container_spec_cpu_shares gauge\n"
      "container_spec_cpu_shares" ID " 2597\n"
      "# HELP container_spec_memory_limit_bytes Memory limit for the container.\n"
      "# TYPE container_spec_memory_limit_bytes gauge\n"
      "container_spec_memory_limit_bytes" ID " 2.68435456e+08\n"
      "# HELP container_spec_memory_reservation_limit_bytes Memory reservation limit for the container.\n"
      "# TYPE container_spec_memory_reservation_limit_bytes gauge\n"
      "container_spec_memory_reservation_limit_bytes" ID " 0\n"
      "# HELP container_spec_memory_swap_limit_bytes Memory swap limit for the container.\n"
      "# TYPE container_spec_memory_swap_limit_bytes gauge\n"
      "container_spec_memory_swap_limit_bytes" ID " 0\n"
      "# HELP container_threads Number of threads running inside the container\n"
      "# TYPE container_threads gauge\n"
      "container_threads" ID " 7\n"
      "# HELP container_threads_max Maximum number of threads allowed inside the container, infinity if value is zero\n"
      "# TYPE container_threads_max gauge\n"
      "container_threads_max" ID " 4915\n"
      "# HELP node_scrape_collector_success node_exporter: Whether a collector succeeded.\n"
      "# TYPE node_scrape_collector_success gauge\n"
      "node_scrape_collector_success{collector=\"cgroup\"} 1\n";
#undef ID
#undef DEV
  assert_string_equal(out, want);
  free(out);
  free(raw);
}

static void test_bad_input(void **st) {
  (void)st;
  build_tree();
  cg_file("/system.slice/bad.service", "cpu.stat", "usage_usec lots\n");
  cg_file("/system.slice/bad.service", "pids.current", "3\n");
  cg_file("/system.slice/bad2.service", "io.stat", "sda rbytes=1\n");
  const char *flags[] = {"collector.cgroup.root=@/cg", NULL};
  char *out = fx_scrape(COLS, flags);
  /* the malformed files fail the collector; everything else is there */
  assert_line(out, "node_scrape_collector_success{collector=\"cgroup\"} 0");
  assert_line(out, "container_threads{id=\"/system.slice/bad.service\",image=\"\",name=\"\"} 3");
  assert_null(strstr(out, "container_cpu_user_seconds_total{id=\"/system.slice/bad.service\""));
  assert_line(out, "container_threads{id=\"/system.slice/nginx.service\",image=\"\",name=\"\"} 7");
  free(out);

  /* no hierarchy at all, and a cgroups v1 layout */
  const char *missing[] = {"collector.cgroup.root=@/nope", NULL};
  out = fx_scrape(COLS, missing);
  assert_line(out, "node_scrape_collector_success{collector=\"cgroup\"} 0");
  free(out);
  fx_mkdir("v1/cpu");
  const char *v1[] = {"collector.cgroup.root=@/v1", NULL};
  out = fx_scrape(COLS, v1);
  assert_line(out, "node_scrape_collector_success{collector=\"cgroup\"} 0");
  free(out);
  /* systemd's hybrid layout: the v2 tree at <root>/unified */
  fx_write("hy/unified/cgroup.controllers", "\n");
  fx_write("hy/unified/cgroup.procs", "1\n2\n3\n");
  const char *hy[] = {"collector.cgroup.root=@/hy", NULL};
  out = fx_scrape(COLS, hy);
  assert_line(out, "node_scrape_collector_success{collector=\"cgroup\"} 1");
  assert_line(out, "container_processes{id=\"/\",image=\"\",name=\"\"} 3");
  free(out);
  /* a bad filter regex fails exporter_new */
  char err[256];
  const char *bad[] = {"collector.cgroup.id-include=(", NULL};
  exporter_options_t *o = fx_options(COLS, bad);
  assert_null(exporter_new(o, err, sizeof(err)));
  assert_non_null(strstr(err, "cgroup"));
  exporter_options_free(o);
}

/* Defaults follow --path.sysfs / --path.rootfs; names are cached and
 * re-read once a container goes away and comes back. */
static void test_defaults_and_cache(void **st) {
  (void)st;
  fx_write("sys/fs/cgroup/cgroup.controllers", "cpu memory\n");
  fx_write("sys/fs/cgroup/system.slice/docker-" DID ".scope/pids.current", "1\n");
  fx_write("root/var/lib/docker/containers/" DID "/config.v2.json",
           "{\"Name\":\"/one\",\"Config\":{\"Image\":\"alpine\"}}");
  char err[256];
  exporter_options_t *o = fx_options(COLS, NULL);
  exporter_t *e = exporter_new(o, err, sizeof(err));
  assert_non_null(e);
  char *out = fx_scrape_with(e);
  assert_line(out, "container_threads{id=\"/system.slice/docker-" DID ".scope\",image=\"alpine\",name=\"one\"} 1");
  free(out);
  /* config changes while the container runs: the cached name stays */
  fx_write("root/var/lib/docker/containers/" DID "/config.v2.json",
           "{\"Name\":\"/two\",\"Config\":{\"Image\":\"busybox\"}}");
  out = fx_scrape_with(e);
  assert_non_null(strstr(out, "name=\"one\""));
  free(out);
  /* the container stops (cgroup gone), then a new one with that id */
  char dir[PATH_MAX];
  fx_rm_rf(ph_pathf(dir, sizeof(dir), "%s/sys/fs/cgroup/system.slice/docker-" DID ".scope", g_tmp));
  out = fx_scrape_with(e);
  assert_null(strstr(out, "docker-"));
  free(out);
  fx_write("sys/fs/cgroup/system.slice/docker-" DID ".scope/pids.current", "2\n");
  out = fx_scrape_with(e);
  assert_line(out, "container_threads{id=\"/system.slice/docker-" DID ".scope\",image=\"busybox\",name=\"two\"} 2");
  free(out);
  /* a bad config file: no name, no failure */
  fx_write("root/var/lib/docker/containers/" DID "/config.v2.json", "{not json");
  fx_rm_rf(dir);
  out = fx_scrape_with(e);
  free(out);
  fx_write("sys/fs/cgroup/system.slice/docker-" DID ".scope/pids.current", "2\n");
  out = fx_scrape_with(e);
  assert_line(out, "container_threads{id=\"/system.slice/docker-" DID ".scope\",image=\"\",name=\"\"} 2");
  assert_line(out, "node_scrape_collector_success{collector=\"cgroup\"} 1");
  free(out);
  exporter_free(e);
  exporter_options_free(o);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_tree, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_exact, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_bad_input, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_defaults_and_cache, fx_setup, fx_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
