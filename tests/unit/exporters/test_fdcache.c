/*
 * test_fdcache.c - the descriptor cache behind cc_read_file, ph_read_str
 * and cc_list_dir (exporters/util.c):
 *   - a cached /proc file read again shows new content (/proc/uptime) and
 *     its descriptor is reused; /proc/<pid>/ files are not kept;
 *   - regular files are never kept: a file replaced by rename, or
 *     rewritten, reads with its new content; a removed one is missing;
 *   - directory listings of /proc stay right after lseek(0), and a
 *     regular directory sees new entries;
 *   - without an exporter nothing is cached; the sweep after a scrape and
 *     the last exporter_free close the descriptors;
 *   - missing /proc and /sys paths are remembered (negative entries hold
 *     no descriptor and answer with the same error, ENOTDIR included);
 *     a missing path elsewhere is looked up again, so a file that appears
 *     is seen at once;
 *   - ph_path_join (no printf) joins and truncates like snprintf.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "exporter_int.h"
#include "ph_error.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int open_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  assert_non_null(d);
  int n = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL)
    if (de->d_name[0] != '.') n++;
  closedir(d);
  return n - 1;
}

static exporter_t *new_exporter(void) {
  exporter_options_t *o = exporter_options_new();
  char err[256];
  assert_int_equal(exporter_options_set(o, "collector.disable-defaults", "true", err,
                                        sizeof(err)), 0);
  exporter_t *e = exporter_new(o, err, sizeof(err));
  assert_non_null(e);
  exporter_options_free(o);
  return e;
}

static void test_proc_reread(void **state) {
  (void)state;
  int before = open_fds();
  exporter_t *e = new_exporter();
  collect_ctx_t c = {0};
  c.arena = arena_new(0);
  char *d;
  size_t len;
  char pidpath[64];
  snprintf(pidpath, sizeof(pidpath), "/proc/%d/stat", (int)getpid());
  assert_int_equal(cc_read_file(&c, pidpath, &d, &len), 0);
  /* /proc/<pid> files are not kept (they come and go); /proc/uptime is */
  assert_int_equal(open_fds(), before);
  char first[128];
  assert_int_equal(cc_read_file(&c, "/proc/uptime", &d, &len), 0);
  snprintf(first, sizeof(first), "%s", d);
  int kept = open_fds();
  assert_int_equal(kept, before + 1);
  struct timespec ts = {0, 30 * 1000 * 1000};
  nanosleep(&ts, NULL);
  assert_int_equal(cc_read_file(&c, "/proc/uptime", &d, &len), 0);
  assert_string_not_equal(first, d); /* content made afresh */
  assert_int_equal(open_fds(), kept); /* same descriptor */
  char small[64];
  assert_int_equal(ph_read_str("/proc/sys/kernel/ostype", small, sizeof(small)), 0);
  assert_string_equal(small, "Linux");
  assert_int_equal(ph_read_str("/proc/sys/kernel/ostype", small, sizeof(small)), 0);
  assert_string_equal(small, "Linux");
  assert_int_equal(open_fds(), kept + 1);
  /* missing files stay missing */
  assert_int_equal(cc_read_file(&c, "/proc/no-such-file", &d, &len), PH_ENOTFOUND);
  /* a sweep keeps what was used since the last one, then drops it */
  exporter__fdcache_sweep();
  assert_int_equal(open_fds(), kept + 1);
  exporter__fdcache_sweep();
  assert_int_equal(open_fds(), before);
  assert_int_equal(cc_read_file(&c, "/proc/uptime", &d, &len), 0);
  assert_int_equal(open_fds(), before + 1);
  exporter_free(e); /* the last user closes everything */
  assert_int_equal(open_fds(), before);
  /* no exporter: nothing kept */
  assert_int_equal(cc_read_file(&c, "/proc/uptime", &d, &len), 0);
  assert_int_equal(open_fds(), before);
  free(c.buf);
  arena_free(c.arena);
}

static void test_regular_files_not_kept(void **state) {
  (void)state;
  exporter_t *e = new_exporter();
  char dir[] = "/tmp/pharos-fdc.XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[256], tmp[256];
  snprintf(path, sizeof(path), "%s/f", dir);
  snprintf(tmp, sizeof(tmp), "%s/f.new", dir);
  FILE *f = fopen(path, "w");
  fputs("one\n", f);
  fclose(f);
  collect_ctx_t c = {0};
  c.arena = arena_new(0);
  char *d;
  size_t len;
  int before = open_fds();
  assert_int_equal(cc_read_file(&c, path, &d, &len), 0);
  assert_string_equal(d, "one\n");
  assert_int_equal(open_fds(), before);
  f = fopen(tmp, "w");
  fputs("two\n", f);
  fclose(f);
  assert_int_equal(rename(tmp, path), 0);
  assert_int_equal(cc_read_file(&c, path, &d, &len), 0);
  assert_string_equal(d, "two\n");
  char s[16];
  assert_int_equal(ph_read_str(path, s, sizeof(s)), 0);
  assert_string_equal(s, "two");
  char **names;
  size_t n;
  assert_int_equal(cc_list_dir(&c, dir, &names, &n), 0);
  assert_int_equal(n, 1);
  f = fopen(tmp, "w");
  fclose(f);
  assert_int_equal(cc_list_dir(&c, dir, &names, &n), 0);
  assert_int_equal(n, 2);
  assert_string_equal(names[0], "f");
  assert_string_equal(names[1], "f.new");
  /* a file is not a directory */
  assert_int_equal(cc_list_dir(&c, path, &names, &n), PH_ENOTFOUND);
  unlink(tmp);
  unlink(path);
  assert_int_equal(cc_read_file(&c, path, &d, &len), PH_ENOTFOUND);
  assert_int_equal(ph_read_str(path, s, sizeof(s)), PH_ENOTFOUND);
  assert_int_equal(cc_list_dir(&c, dir, &names, &n), 0);
  assert_int_equal(n, 0);
  rmdir(dir);
  assert_int_equal(cc_list_dir(&c, dir, &names, &n), PH_ENOTFOUND);
  assert_int_equal(open_fds(), before);
  free(c.buf);
  arena_free(c.arena);
  exporter_free(e);
}

static void test_negative_entries(void **state) {
  (void)state;
  int before = open_fds();
  exporter_t *e = new_exporter();
  collect_ctx_t c = {0};
  c.arena = arena_new(0);
  char *d;
  size_t len;
  for (int i = 0; i < 3; i++) {
    c.err_rc = 0;
    assert_int_equal(cc_read_file(&c, "/proc/pharos-no-such-file", &d, &len), PH_ENOTFOUND);
    assert_string_equal(c.err, "open /proc/pharos-no-such-file: No such file or directory");
    c.err_rc = 0;
    assert_int_equal(cc_read_file(&c, "/proc/uptime/x", &d, &len), PH_ENOTFOUND);
    assert_string_equal(c.err, "open /proc/uptime/x: Not a directory");
    char small[16];
    assert_int_equal(ph_read_str("/sys/pharos-no-such-attr", small, sizeof(small)),
                     PH_ENOTFOUND);
    char **names;
    size_t n;
    assert_int_equal(cc_list_dir(&c, "/sys/class/pharos-no-such-class", &names, &n),
                     PH_ENOTFOUND);
  }
  assert_int_equal(open_fds(), before); /* negative entries hold nothing */
  /* elsewhere a missing file is looked up each time */
  char dir[] = "/tmp/pharos-neg.XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[256];
  snprintf(path, sizeof(path), "%s/late", dir);
  assert_int_equal(cc_read_file(&c, path, &d, &len), PH_ENOTFOUND);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs("here\n", f);
  fclose(f);
  assert_int_equal(cc_read_file(&c, path, &d, &len), 0);
  assert_string_equal(d, "here\n");
  unlink(path);
  rmdir(dir);
  exporter__fdcache_sweep();
  exporter__fdcache_sweep();
  exporter_free(e);
  assert_int_equal(open_fds(), before);
  free(c.buf);
  arena_free(c.arena);
}

static void test_path_join(void **state) {
  (void)state;
  char out[16];
  assert_string_equal(ph_path_join(out, sizeof(out), "/proc", "stat"), "/proc/stat");
  assert_string_equal(ph_path_join(out, sizeof(out), "/proc/", "/stat"), "/proc/stat");
  assert_string_equal(ph_path_join(out, sizeof(out), "/", "sys"), "/sys");
  assert_string_equal(ph_path_join(out, sizeof(out), "", "x"), "/x");
  assert_string_equal(ph_path_join(out, sizeof(out), "/a", ""), "/a/");
  assert_string_equal(ph_path_join(out, sizeof(out), "/0123456789", "abcdef"),
                      "/0123456789/abc"); /* truncated to 15 bytes */
  assert_string_equal(ph_path_join(out, 5, "/0123456789", "x"), "/012");
  char p[64];
  collect_ctx_t c = {.procfs = "/proc", .sysfs = "/sys/"};
  assert_string_equal(cc_proc(&c, p, sizeof(p), "net/dev"), "/proc/net/dev");
  assert_string_equal(cc_sys(&c, p, sizeof(p), "class/%s/%d", "net", 7), "/sys/class/net/7");
}

static void test_proc_dirs(void **state) {
  (void)state;
  exporter_t *e = new_exporter();
  collect_ctx_t c = {0};
  c.arena = arena_new(0);
  char **names;
  size_t n1, n2;
  assert_int_equal(cc_list_dir(&c, "/proc/sys/kernel", &names, &n1), 0);
  assert_true(n1 > 10);
  bool found = false;
  for (size_t i = 0; i < n1; i++) found |= strcmp(names[i], "ostype") == 0;
  assert_true(found);
  for (size_t i = 1; i < n1; i++) assert_true(strcmp(names[i - 1], names[i]) < 0);
  assert_int_equal(cc_list_dir(&c, "/proc/sys/kernel", &names, &n2), 0);
  assert_int_equal(n1, n2); /* the kept descriptor lists it all again */
  free(c.buf);
  arena_free(c.arena);
  exporter_free(e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_proc_reread),
      cmocka_unit_test(test_regular_files_not_kept),
      cmocka_unit_test(test_proc_dirs),
      cmocka_unit_test(test_negative_entries),
      cmocka_unit_test(test_path_join),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
