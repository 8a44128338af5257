/*
 * test_badinput.c - bad input never takes more than its own collector
 * down.  For each collector in the table, a scrape runs it on a file with
 * an unexpected format, then on an unreadable file (a directory where the
 * file should be), then with the file missing; each time that collector
 * reports node_scrape_collector_success 0 and a healthy collector in the
 * same scrape (loadavg, or uname) still reports 1.  Unexpected formats
 * and unreadable files are logged at error level with the reason;
 * missing files at debug level (node_exporter's "no data").
 */
#include "fixture.h"

#include "log.h"

typedef struct bad_case {
  const char *collector;
  const char *flag;    /* an extra flag, or NULL */
  const char *file;    /* under the temporary directory */
  const char *content; /* unexpected format */
} bad_case_t;

static const bad_case_t CASES[] = {
    {"stat", NULL, "proc/stat", "cpu  x y z\nbtime notanumber\n"},
    {"meminfo", NULL, "proc/meminfo", "MemTotal:       lots kB\n"},
    {"filefd", NULL, "proc/sys/fs/file-nr", "1 2\n"},
    {"vmstat", NULL, "proc/vmstat", "pgfault many\n"},
    {"sockstat", NULL, "proc/net/sockstat", "TCP: inuse x\n"},
    {"netdev", "no-collector.netdev.netlink", "proc/net/dev", "Inter-|\n face |bytes\n  eth0: 1 2 x\n"},
    {"diskstats", NULL, "proc/diskstats", "   8       0 sda x y z\n"},
    {"pressure", NULL, "proc/pressure/cpu", "some avg10=0.00 total=abc\n"},
    {"mdadm", NULL, "proc/mdstat", "Personalities : [raid1]\nmd0 : active raid1 sda1[0]\n      junk\n\n\n"},
    {"schedstat", NULL, "proc/schedstat", "version 15\ncpu0 a b c d e f g h i\n"},
    {"softnet", NULL, "proc/net/softnet_stat", "zz\n"},
    {"conntrack", NULL, "proc/sys/net/netfilter/nf_conntrack_count", "many\n"},
    {"entropy", NULL, "proc/sys/kernel/random/entropy_avail", "plenty\n"},
    {"netstat", NULL, "proc/net/netstat", "TcpExt: A B\nTcpExt: 1\n"},
};

static char g_logpath[PATH_MAX];

static char *read_log(void) {
  collect_ctx_t c = {0};
  c.arena = arena_new(0);
  char *d = NULL;
  size_t len;
  char *out = strdup("");
  if (cc_read_arena(&c, g_logpath, &d, &len) == 0) {
    free(out);
    out = strdup(d);
  }
  free(c.buf);
  arena_free(c.arena);
  return out;
}

static strbuf_t g_failures = STRBUF_INIT;

/* Records a failure (all cases run, then the test fails listing them). */
static void check(const bad_case_t *k, const char *what, const char *log_level) {
  FILE *logf = fopen(g_logpath, "w");
  assert_non_null(logf);
  log_set_output(logf);
  log_set_level(PH_LOG_DEBUG);
  const char *cols[] = {k->collector, "loadavg", NULL};
  if (strcmp(k->collector, "loadavg") == 0) cols[1] = NULL;
  const char *flags[] = {k->flag, NULL};
  char *out = fx_scrape(cols, flags);
  fflush(logf);
  log_set_output(stderr);
  log_set_level(PH_LOG_INFO);
  fclose(logf);
  char want[256];
  snprintf(want, sizeof(want), "node_scrape_collector_success{collector=\"%s\"} 0", k->collector);
  if (!fx_has_line(out, want))
    strbuf_printf(&g_failures, "%s with %s: collector did not fail\n", k->collector, what);
  assert_line(out, "node_scrape_collector_success{collector=\"loadavg\"} 1");
  char *log = read_log();
  char needle[128];
  snprintf(needle, sizeof(needle), "level=%s msg=\"collector failed\" name=%s", log_level,
           k->collector);
  if (strcmp(log_level, "debug") == 0)
    snprintf(needle, sizeof(needle), "level=debug msg=\"collector returned no data\" name=%s",
             k->collector);
  if (strstr(log, needle) == NULL)
    strbuf_printf(&g_failures, "%s with %s: no log line \"%s\"\n", k->collector, what, needle);
  free(log);
  free(out);
}

static void test_bad_input(void **st) {
  (void)st;
  ph_pathf(g_logpath, sizeof(g_logpath), "%s/log.txt", g_tmp);
  fx_write("proc/loadavg", "0.5 1.25 2 1/100 42\n");
  for (size_t i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++) {
    const bad_case_t *k = &CASES[i];
    char path[PATH_MAX];
    ph_pathf(path, sizeof(path), "%s/%s", g_tmp, k->file);
    /* unexpected format */
    fx_write(k->file, k->content);
    check(k, "a malformed file", "error");
    /* unreadable: a directory in its place */
    unlink(path);
    assert_int_equal(mkdir(path, 0755), 0);
    check(k, "an unreadable file", "error");
    /* missing */
    assert_int_equal(rmdir(path), 0);
    check(k, "a missing file", "debug");
  }
  if (g_failures.len > 0) {
    char *msg = strbuf_detach(&g_failures, NULL);
    print_error("%s", msg);
    free(msg);
    fail();
  }
  strbuf_free(&g_failures);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_bad_input, fx_setup, fx_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
