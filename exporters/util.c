/*
 * util.c - what collectors share: paths under procfs/sysfs/rootfs, the
 * file reader, sample emission and small text parsers.
 *
 * cc_read_file() reads a whole /proc or /sys file into the context's
 * buffer with read() calls of the buffer's size (one call for nearly every
 * file; the buffer doubles and is kept for the next file and scrape), so a
 * collector allocates nothing per file in steady state.  Sysfs attribute
 * helpers (ph_read_*) read into a small stack buffer.
 *
 * Descriptor cache.  Opening a /proc or /sys file costs more than reading
 * it (path walk, symlinks under /sys/class, dentry and file setup), so both
 * readers keep the descriptors of procfs and sysfs files open between
 * scrapes and read them again with pread() at offset 0, which makes the
 * kernel generate the content afresh (seq_file restarts at offset 0; sysfs
 * attributes call their show() again) - one system call per small file
 * instead of three.  Only files whose fstatfs() type is PROC_SUPER_MAGIC or
 * SYSFS_MAGIC are kept (fixture trees and regular files are always opened
 * anew), and not /proc/<pid>/ files (those come and go) except init's.  The
 * cache is one hash table (path -> fd) under a mutex held across the read;
 * it holds at most FDC_MAX entries and a quarter of RLIMIT_NOFILE.  An
 * entry is dropped when a read fails with ENODEV/ENOENT/ESTALE/EBADF (the
 * device went away), when a full scrape did not use it
 * (exporter__fdcache_sweep, e.g. an interface that disappeared), and after
 * FDC_MAX_AGE_MS, so a sysfs name that now means another object (a renamed
 * network interface) is opened again within that time.  The last
 * exporter_free closes everything (exporter__fdcache_release).
 * cc_list_dir keeps directory descriptors the same way and lists them
 * again after lseek(0) with getdents64 (no opendir/fstat/closedir).
 *
 * Negative entries.  A scrape asks for a few dozen optional files that do
 * not exist on a given machine (cpufreq, thermal_throttle, pressure/irq,
 * zfs, mdstat …); each failed open() is a path walk.  When open() of a
 * path under the real /proc or /sys (not /proc/<pid>/) fails with ENOENT
 * or ENOTDIR, the path is kept with fd -errno and answered so without a
 * system call for FDC_NEG_MAX_AGE_MS; the sweep drops it earlier when a
 * scrape did not ask for it.  A file that appears (a module loaded) is thus
 * seen within that time.
 */
#include "exporter_int.h"

#include "log.h"
#include "mem.h"
#include "ph_error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#define CC_MAX_LABELS 32

/* ---- paths ---- */

/* out = a + "/" + b without printf (paths are built ~150 times a scrape);
 * truncated to n - 1 bytes like snprintf. */
char *ph_path_join(char *out, size_t n, const char *a, const char *b) {
  if (n == 0) return out;
  size_t la = strlen(a);
  while (la > 1 && a[la - 1] == '/') la--;
  while (*b == '/') b++;
  if (la == 1 && a[0] == '/') la = 0;
  size_t lb = strlen(b), k = 0;
  size_t take = la < n - 1 ? la : n - 1;
  memcpy(out, a, take);
  k = take;
  if (k < n - 1) out[k++] = '/';
  take = lb < n - 1 - k ? lb : n - 1 - k;
  memcpy(out + k, b, take);
  out[k + take] = '\0';
  return out;
}

char *ph_pathf(char *out, size_t n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(out, n, fmt, ap);
  va_end(ap);
  return out;
}

static char *vpath(const char *root, char *out, size_t n, const char *fmt,
                   va_list ap) {
  if (strchr(fmt, '%') == NULL) return ph_path_join(out, n, root, fmt);
  char rel[PATH_MAX];
  vsnprintf(rel, sizeof(rel), fmt, ap);
  return ph_path_join(out, n, root, rel);
}

char *cc_proc(const collect_ctx_t *c, char *out, size_t n, const char *fmt,
              ...) {
  va_list ap;
  va_start(ap, fmt);
  vpath(c->procfs, out, n, fmt, ap);
  va_end(ap);
  return out;
}

char *cc_sys(const collect_ctx_t *c, char *out, size_t n, const char *fmt,
             ...) {
  va_list ap;
  va_start(ap, fmt);
  vpath(c->sysfs, out, n, fmt, ap);
  va_end(ap);
  return out;
}

char *cc_root(const collect_ctx_t *c, char *out, size_t n, const char *fmt,
              ...) {
  va_list ap;
  va_start(ap, fmt);
  vpath(c->rootfs, out, n, fmt, ap);
  va_end(ap);
  return out;
}

/* ---- reading ---- */

#define FDC_MAX 1024
#define FDC_MAX_AGE_MS (5 * 60 * 1000)
#define FDC_NEG_MAX_AGE_MS (30 * 1000)

typedef struct fdc_ent {
  char *path;     /* owned; NULL for an empty slot */
  uint64_t hash;
  int fd;         /* < 0: a negative entry, -errno of the failed open */
  uint32_t gen;   /* the sweep generation of the last use */
  int64_t born;   /* monotonic ms of the open */
} fdc_ent_t;

static struct {
  pthread_mutex_t mu;
  fdc_ent_t *tab; /* open addressing, linear probing; cap a power of two */
  size_t cap, n, max;
  uint32_t gen;
  int users;      /* exporters alive */
} g_fdc = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t path_hash(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

/* The slot of path, or the empty slot where it would go. */
static fdc_ent_t *fdc_slot(const char *path, uint64_t h) {
  size_t mask = g_fdc.cap - 1;
  for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
    fdc_ent_t *e = &g_fdc.tab[i];
    if (e->path == NULL || (e->hash == h && strcmp(e->path, path) == 0))
      return e;
  }
}

/* Rebuilds the table without the entries keep() refuses (closing them). */
static void fdc_rebuild(bool (*keep)(const fdc_ent_t *, int64_t), int64_t now) {
  fdc_ent_t *old = g_fdc.tab;
  size_t ocap = g_fdc.cap;
  g_fdc.tab = ph_calloc(g_fdc.cap, sizeof(*g_fdc.tab));
  g_fdc.n = 0;
  for (size_t i = 0; i < ocap; i++) {
    fdc_ent_t *e = &old[i];
    if (e->path == NULL) continue;
    if (keep == NULL || !keep(e, now)) {
      if (e->fd >= 0) close(e->fd);
      free(e->path);
      continue;
    }
    *fdc_slot(e->path, e->hash) = *e;
    g_fdc.n++;
  }
  free(old);
}

static bool fdc_keep_fresh(const fdc_ent_t *e, int64_t now) {
  return e->gen == g_fdc.gen &&
         now - e->born < (e->fd < 0 ? FDC_NEG_MAX_AGE_MS : FDC_MAX_AGE_MS);
}

void exporter__fdcache_acquire(void) {
  pthread_mutex_lock(&g_fdc.mu);
  g_fdc.users++;
  pthread_mutex_unlock(&g_fdc.mu);
}

void exporter__fdcache_release(void) {
  pthread_mutex_lock(&g_fdc.mu);
  if (--g_fdc.users <= 0 && g_fdc.tab != NULL) {
    fdc_rebuild(NULL, 0);
    free(g_fdc.tab);
    g_fdc.tab = NULL;
    g_fdc.cap = g_fdc.n = 0;
    g_fdc.users = 0;
  }
  pthread_mutex_unlock(&g_fdc.mu);
}

void exporter__fdcache_sweep(void) {
  pthread_mutex_lock(&g_fdc.mu);
  if (g_fdc.tab != NULL) fdc_rebuild(fdc_keep_fresh, mono_ms());
  g_fdc.gen++;
  pthread_mutex_unlock(&g_fdc.mu);
}

/* Whether an open file may be kept: procfs or sysfs, not another
 * process's /proc/<pid>/ (those come and go by the thousand). */
static bool fdc_cacheable(int fd, const char *path) {
  struct statfs sf;
  if (fstatfs(fd, &sf) != 0) return false;
  if (sf.f_type == SYSFS_MAGIC) return true;
  if (sf.f_type != PROC_SUPER_MAGIC) return false;
  for (const char *p = strchr(path, '/'); p != NULL; p = strchr(p + 1, '/'))
    if (p[1] >= '0' && p[1] <= '9' && strncmp(p, "/1/", 3) != 0) return false;
  return true;
}

/* Whether a missing path may be remembered: under the real /proc or /sys,
 * not in another process's /proc/<pid>/. */
static bool fdc_neg_cacheable(const char *path) {
  if (strncmp(path, "/sys/", 5) == 0) return true;
  if (strncmp(path, "/proc/", 6) != 0) return false;
  for (const char *p = strchr(path, '/'); p != NULL; p = strchr(p + 1, '/'))
    if (p[1] >= '0' && p[1] <= '9' && strncmp(p, "/1/", 3) != 0) return false;
  return true;
}

/* Adds path -> fd (the table is locked); false when full. */
static bool fdc_put(const char *path, uint64_t h, int fd) {
  if (g_fdc.users <= 0) return false; /* no exporter to release it */
  if (g_fdc.max == 0) {
    struct rlimit rl;
    size_t lim = FDC_MAX;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur / 4 < lim)
      lim = (size_t)rl.rlim_cur / 4;
    g_fdc.max = lim;
  }
  if (g_fdc.n >= g_fdc.max) return false;
  if (g_fdc.tab == NULL || (g_fdc.n + 1) * 2 > g_fdc.cap) {
    size_t ncap = g_fdc.cap ? g_fdc.cap * 2 : 256;
    fdc_ent_t *old = g_fdc.tab;
    size_t ocap = g_fdc.cap;
    g_fdc.tab = ph_calloc(ncap, sizeof(*g_fdc.tab));
    g_fdc.cap = ncap;
    for (size_t i = 0; i < ocap; i++)
      if (old[i].path != NULL) *fdc_slot(old[i].path, old[i].hash) = old[i];
    free(old);
  }
  fdc_ent_t *e = fdc_slot(path, h);
  e->path = ph_strdup(path);
  e->hash = h;
  e->fd = fd;
  e->gen = g_fdc.gen;
  e->born = mono_ms();
  g_fdc.n++;
  return true;
}

/* Removes the entry of path (the table is locked), closing its fd. */
static void fdc_drop(fdc_ent_t *e) {
  if (e->fd >= 0) close(e->fd);
  free(e->path);
  e->path = NULL;
  g_fdc.n--;
  /* re-place the rest of the probe run (linear probing deletion) */
  size_t mask = g_fdc.cap - 1;
  size_t i = (size_t)(e - g_fdc.tab);
  for (size_t j = (i + 1) & mask; g_fdc.tab[j].path != NULL; j = (j + 1) & mask) {
    fdc_ent_t moved = g_fdc.tab[j];
    g_fdc.tab[j].path = NULL;
    *fdc_slot(moved.path, moved.hash) = moved;
  }
}

/* Reads fd from offset 0 to the end into *buf (growing it, cap bytes);
 * -errno on failure. */
static int pread_all(int fd, char **buf, size_t *cap, size_t *len) {
  size_t used = 0;
  for (;;) {
    if (*cap - used < 2) {
      size_t ncap = *cap ? *cap * 2 : 16384;
      *buf = ph_realloc(*buf, ncap);
      *cap = ncap;
    }
    ssize_t r = pread(fd, *buf + used, *cap - used - 1, (off_t)used);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (r == 0) break;
    used += (size_t)r;
  }
  (*buf)[used] = '\0';
  *len = used;
  return 0;
}

/* One pread of at most n - 1 bytes at offset 0 into out; -errno. */
static int pread_once(int fd, char **out, size_t *n, size_t *len) {
  ssize_t r;
  do {
    r = pread(fd, *out, *n - 1, 0);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return -errno;
  (*out)[r] = '\0';
  *len = (size_t)r;
  return 0;
}

/* What a reader gets: the buffer (grown when cap allows), and for
 * directory listings the context whose arena takes the names. */
typedef struct read_args {
  char **buf;
  size_t *cap;
  size_t *len;
  collect_ctx_t *c;
  char ***names;
  size_t *n;
} read_args_t;

typedef int (*reader_fn)(int fd, read_args_t *a);

static int rd_all(int fd, read_args_t *a) {
  return pread_all(fd, a->buf, a->cap, a->len);
}

static int rd_once(int fd, read_args_t *a) {
  return pread_once(fd, a->buf, a->cap, a->len);
}

/* Lists the directory fd from its start (lseek 0 re-reads a kernfs or
 * procfs directory afresh) into the arena.  -ESTALE when it has no entry
 * but dot files: a cached descriptor of a removed directory looks like
 * that, so the caller opens the path again. */
static int rd_dir(int fd, read_args_t *a) {
  char buf[8192] __attribute__((aligned(8)));
  if (lseek(fd, 0, SEEK_SET) < 0) return -errno;
  size_t cnt = 0, cap = 16;
  char **v = arena_alloc(a->c->arena, cap * sizeof(char *));
  ph_assert(v != NULL);
  bool any = false;
  for (;;) {
    ssize_t r = getdents64(fd, buf, sizeof(buf));
    if (r < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (r == 0) break;
    for (size_t off = 0; off < (size_t)r;) {
      struct dirent64 *de = (struct dirent64 *)(void *)(buf + off);
      off += de->d_reclen;
      if (de->d_name[0] == '.') continue;
      any = true;
      if (cnt == cap) {
        char **nv = arena_alloc(a->c->arena, cap * 2 * sizeof(char *));
        ph_assert(nv != NULL);
        memcpy(nv, v, cnt * sizeof(char *));
        v = nv;
        cap *= 2;
      }
      v[cnt++] = cc_strdup(a->c, de->d_name);
    }
  }
  *a->names = v;
  *a->n = cnt;
  return any ? 0 : -ESTALE;
}

/* Reads path with rd through the descriptor cache.  Returns 0, or -errno
 * with *opening telling whether open() or the read failed. */
static int read_path(const char *path, reader_fn rd, read_args_t *args,
                     bool *opening) {
  uint64_t h = path_hash(path);
  *opening = false;
  pthread_mutex_lock(&g_fdc.mu);
  if (g_fdc.tab != NULL) {
    fdc_ent_t *e = fdc_slot(path, h);
    if (e->path != NULL && e->fd < 0) {
      if (mono_ms() - e->born < FDC_NEG_MAX_AGE_MS) {
        e->gen = g_fdc.gen;
        pthread_mutex_unlock(&g_fdc.mu);
        *opening = true;
        return e->fd; /* -errno of the open */
      }
      fdc_drop(e); /* too old: look again */
    } else if (e->path != NULL) {
      e->gen = g_fdc.gen;
      int rc = rd(e->fd, args);
      if (rc == -ENODEV || rc == -ENOENT || rc == -ESTALE || rc == -EBADF ||
          rc == -ENXIO) {
        fdc_drop(e); /* gone: open the path again, once */
      } else {
        pthread_mutex_unlock(&g_fdc.mu);
        return rc;
      }
    }
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    if ((e == ENOENT || e == ENOTDIR) && fdc_neg_cacheable(path)) {
      (void)fdc_put(path, h, -e);
    }
    pthread_mutex_unlock(&g_fdc.mu);
    *opening = true;
    return -e;
  }
  int rc = rd(fd, args);
  /* a file the kernel refuses to read now (EINVAL: the speed of a link
   * that is down) is kept too; a vanished one is not */
  bool gone = rc == -ENODEV || rc == -ENOENT || rc == -ESTALE || rc == -ENXIO ||
              rc == -ENOTDIR;
  if (gone || !fdc_cacheable(fd, path) || !fdc_put(path, h, fd)) close(fd);
  pthread_mutex_unlock(&g_fdc.mu);
  return rc;
}

static int open_err_code(int e, const char *path) {
  if (e == ENOENT || e == ENOTDIR) return PH_ENOTFOUND;
  log_debug("cannot open file", "path", path, "err", strerror(e));
  return PH_EIO;
}

int cc_fail(collect_ctx_t *c, int rc, const char *fmt, ...) {
  /* a missing file (often optional) never hides a real failure */
  if (rc == PH_ENOTFOUND && c->err_rc != 0 && c->err_rc != PH_ENOTFOUND) return rc;
  c->err_rc = rc;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->err, sizeof(c->err), fmt, ap);
  va_end(ap);
  return rc;
}

/* open_err_code() plus the reason recorded in the context. */
static int cc_open_err(collect_ctx_t *c, const char *path, int e) {
  int rc = open_err_code(e, path);
  return cc_fail(c, rc, "open %s: %s", path, strerror(e));
}

int cc_read_file(collect_ctx_t *c, const char *path, char **data,
                 size_t *len) {
  bool opening;
  read_args_t a = {.buf = &c->buf, .cap = &c->bufcap, .len = len};
  int rc = read_path(path, rd_all, &a, &opening);
  if (rc < 0 && opening) return cc_open_err(c, path, -rc);
  if (rc < 0) {
    log_debug("cannot read file", "path", path, "err", strerror(-rc));
    return cc_fail(c, PH_EIO, "read %s: %s", path, strerror(-rc));
  }
  *data = c->buf;
  return 0;
}

int cc_read_arena(collect_ctx_t *c, const char *path, char **data,
                  size_t *len) {
  char *d;
  size_t n;
  int rc = cc_read_file(c, path, &d, &n);
  if (rc < 0) return rc;
  *data = arena_strndup(c->arena, d, n);
  if (*data == NULL) return PH_ELIMIT;
  if (len) *len = n;
  return 0;
}

char *cc_strdup(collect_ctx_t *c, const char *s) {
  char *d = arena_strdup(c->arena, s);
  ph_assert(d != NULL);
  return d;
}

int ph_read_str(const char *path, char *out, size_t n) {
  bool opening;
  size_t len = 0;
  read_args_t a = {.buf = &out, .cap = &n, .len = &len};
  int rc = read_path(path, rd_once, &a, &opening);
  if (rc < 0 && opening) return open_err_code(-rc, path);
  if (rc < 0) {
    log_debug("cannot read file", "path", path, "err", strerror(-rc));
    return PH_EIO;
  }
  size_t r = len;
  while (r > 0 && (out[r - 1] == '\n' || out[r - 1] == ' ' ||
                   out[r - 1] == '\t' || out[r - 1] == '\r'))
    out[--r] = '\0';
  return 0;
}

int ph_read_u64(const char *path, uint64_t *v) {
  char b[64];
  int rc = ph_read_str(path, b, sizeof(b));
  if (rc < 0) return rc;
  return ph_parse_u64(ph_trim(b), v) ? 0 : PH_EPARSE;
}

int ph_read_i64(const char *path, int64_t *v) {
  char b[64];
  int rc = ph_read_str(path, b, sizeof(b));
  if (rc < 0) return rc;
  return ph_parse_i64(ph_trim(b), v) ? 0 : PH_EPARSE;
}

int ph_read_double(const char *path, double *v) {
  char b[64];
  int rc = ph_read_str(path, b, sizeof(b));
  if (rc < 0) return rc;
  return ph_parse_double(ph_trim(b), v) ? 0 : PH_EPARSE;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int cc_list_dir(collect_ctx_t *c, const char *path, char ***names,
                size_t *n) {
  bool opening;
  read_args_t a = {.c = c, .names = names, .n = n};
  int rc = read_path(path, rd_dir, &a, &opening);
  if (rc < 0 && (opening || rc == -ENOTDIR)) return cc_open_err(c, path, -rc);
  if (rc == -ESTALE) return 0; /* empty */
  if (rc < 0) return cc_fail(c, PH_EIO, "readdirent %s: %s", path, strerror(-rc));
  qsort(*names, *n, sizeof(char *), cmp_str);
  return 0;
}

/* ---- emitting ---- */

void cc_metric(collect_ctx_t *c, expo_type_t type, const char *name,
               const char *help, double v, size_t n, const char *const *lnames,
               const char *const *lvalues) {
  char err[512];
  /* label values must be UTF-8 (client_golang refuses others) */
  const char *fixed[CC_MAX_LABELS];
  for (size_t i = 0; i < n && i < CC_MAX_LABELS; i++) {
    if (ph_is_utf8(lvalues[i])) continue;
    size_t l = strlen(lvalues[i]) * 3 + 1;
    char *d = arena_alloc(c->arena, l);
    ph_assert(d != NULL);
    ph_valid_utf8(lvalues[i], d, l);
    if (lvalues != fixed) {
      memcpy(fixed, lvalues, (n < CC_MAX_LABELS ? n : CC_MAX_LABELS) * sizeof(char *));
      lvalues = fixed;
    }
    fixed[i] = d;
  }
  if (expo_add(c->expo, name, help, type, n, lnames, lvalues, v, err,
               sizeof(err)) < 0)
    log_error("error gathering metrics", "collector", c->collector, "err",
              err);
}

static void vemit(collect_ctx_t *c, expo_type_t type, const char *name,
                  const char *help, double v, va_list ap) {
  const char *names[CC_MAX_LABELS], *values[CC_MAX_LABELS];
  size_t n = 0;
  const char *k;
  while ((k = va_arg(ap, const char *)) != NULL) {
    const char *val = va_arg(ap, const char *);
    ph_assert(n < CC_MAX_LABELS);
    names[n] = k;
    values[n] = val ? val : "";
    n++;
  }
  cc_metric(c, type, name, help, v, n, names, values);
}

void cc_gauge(collect_ctx_t *c, const char *name, const char *help, double v,
              ...) {
  va_list ap;
  va_start(ap, v);
  vemit(c, EXPO_GAUGE, name, help, v, ap);
  va_end(ap);
}

void cc_counter(collect_ctx_t *c, const char *name, const char *help,
                double v, ...) {
  va_list ap;
  va_start(ap, v);
  vemit(c, EXPO_COUNTER, name, help, v, ap);
  va_end(ap);
}

void cc_untyped(collect_ctx_t *c, const char *name, const char *help,
                double v, ...) {
  va_list ap;
  va_start(ap, v);
  vemit(c, EXPO_UNTYPED, name, help, v, ap);
  va_end(ap);
}

/* ---- text ---- */

static bool is_space(char ch) {
  return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' ||
         ch == '\f';
}

size_t ph_fields(char *s, char **out, size_t max) {
  size_t n = 0;
  while (*s) {
    while (*s && is_space(*s)) s++;
    if (!*s) break;
    if (n == max) break;
    out[n++] = s;
    while (*s && !is_space(*s)) s++;
    if (*s) *s++ = '\0';
  }
  return n;
}

size_t ph_split(char *s, char sep, char **out, size_t max) {
  size_t n = 0;
  if (max == 0) return 0;
  out[n++] = s;
  for (char *p = s; *p; p++) {
    if (*p == sep && n < max) {
      *p = '\0';
      out[n++] = p + 1;
    }
  }
  return n;
}

char *ph_next_line(char **p) {
  char *s = *p;
  if (s == NULL || *s == '\0') return NULL;
  char *nl = strchr(s, '\n');
  if (nl) {
    *nl = '\0';
    *p = nl + 1;
  } else {
    *p = s + strlen(s);
  }
  return s;
}

char *ph_trim(char *s) {
  while (is_space(*s)) s++;
  size_t n = strlen(s);
  while (n > 0 && is_space(s[n - 1])) s[--n] = '\0';
  return s;
}

bool ph_parse_u64(const char *s, uint64_t *v) {
  if (s == NULL || *s < '0' || *s > '9') return false;
  errno = 0;
  char *end;
  unsigned long long x = strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0') return false;
  *v = x;
  return true;
}

bool ph_parse_i64(const char *s, int64_t *v) {
  if (s == NULL || *s == '\0') return false;
  errno = 0;
  char *end;
  long long x = strtoll(s, &end, 10);
  if (errno != 0 || *end != '\0') return false;
  *v = x;
  return true;
}

bool ph_parse_double(const char *s, double *v) {
  if (s == NULL || *s == '\0') return false;
  const char *p = s;
  if (*p == '+' || *p == '-') p++;
  if (strcasecmp(p, "inf") == 0 || strcasecmp(p, "infinity") == 0) {
    *v = s[0] == '-' ? -INFINITY : INFINITY;
    return true;
  }
  if (strcasecmp(p, "nan") == 0) {
    *v = NAN;
    return true;
  }
  /* strtod also takes hex floats and leading spaces Go would refuse */
  if (!((*p >= '0' && *p <= '9') || *p == '.')) return false;
  if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) return false;
  errno = 0;
  char *end;
  double x = strtod(s, &end);
  if (*end != '\0') return false;
  if (errno == ERANGE && isinf(x)) return false;
  *v = x;
  return true;
}

bool ph_has_prefix(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Length of the valid UTF-8 sequence at s, 0 if invalid. */
static size_t utf8_len(const unsigned char *s) {
  unsigned char c = s[0];
  if (c < 0x80) return 1;
  size_t n;
  uint32_t cp;
  if (c >= 0xc2 && c <= 0xdf) n = 2, cp = c & 0x1f;
  else if (c >= 0xe0 && c <= 0xef) n = 3, cp = c & 0x0f;
  else if (c >= 0xf0 && c <= 0xf4) n = 4, cp = c & 0x07;
  else return 0;
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
      (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return n;
}

bool ph_is_utf8(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  while (*p) {
    size_t l = utf8_len(p);
    if (l == 0) return false;
    p += l;
  }
  return true;
}

void ph_valid_utf8(const char *in, char *out, size_t n) {
  const unsigned char *p = (const unsigned char *)in;
  size_t k = 0;
  bool in_bad = false;
  while (*p && k + 1 < n) {
    size_t l = utf8_len(p);
    if (l == 0) {
      if (!in_bad) {
        if (k + 4 > n) break;
        memcpy(out + k, "\xef\xbf\xbd", 3);
        k += 3;
      }
      in_bad = true;
      p++;
      continue;
    }
    in_bad = false;
    if (k + l + 1 > n) break;
    memcpy(out + k, p, l);
    k += l;
    p += l;
  }
  out[k] = '\0';
}

void ph_sanitize_name(char *s) {
  for (size_t i = 0; s[i]; i++) {
    char ch = s[i];
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              ch == '_' || ch == ':' || (i > 0 && ch >= '0' && ch <= '9');
    if (!ok) s[i] = '_';
  }
}
