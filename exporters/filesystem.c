/*
 * filesystem.c - the filesystem collector: statfs(2) of every mount in
 * <procfs>/1/mountinfo (else self/mountinfo), as node_filesystem_*.
 *
 * A hung network mount must not hang the scrape: each statfs runs in a
 * stat worker thread (kept for later scrapes; another is started when none
 * is idle, so a hung one never blocks the rest) and the collector waits at most
 * --collector.filesystem.mount-timeout for it (up to stat-workers at a
 * time).  A mount that times out is marked stuck and reported with
 * node_filesystem_device_error 1, device_error="mountpoint timeout" and
 * not stat'ed again until its pending statfs returns, which clears the
 * mark.  The job a timed-out waiter abandons is freed by its thread; the
 * stuck set and its lock are process-wide (pending threads can outlive an
 * exporter).
 *
 * mountinfo: "id parent major:minor root mountpoint options [optional…] -
 * fstype source superoptions"; \040 and \011 in mount points are a space
 * and a tab.  With --path.rootfs, mount points below it are reported
 * without the prefix and stat'ed with it.
 */
#include "exporter_int.h"

#include "log.h"
#include "mem.h"
#include "ph_error.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <time.h>

#define FS_MP_EXCLUDE \
  "^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)"
#define FS_TYPES_EXCLUDE                                                                    \
  "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|" \
  "iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|"       \
  "squashfs|erofs|sysfs|tracefs)$"

static const exporter_flag_t filesystem_flags[] = {
    {"collector.filesystem.mount-points-exclude", FLAG_STRING, FS_MP_EXCLUDE,
     "Regexp of mount points to exclude for filesystem collector. (mutually exclusive to "
     "mount-points-include)"},
    {"collector.filesystem.mount-points-include", FLAG_STRING, NULL,
     "Regexp of mount points to include for filesystem collector. (mutually exclusive to "
     "mount-points-exclude)"},
    {"collector.filesystem.ignored-mount-points", FLAG_STRING, NULL, NULL},
    {"collector.filesystem.fs-types-exclude", FLAG_STRING, FS_TYPES_EXCLUDE,
     "Regexp of filesystem types to exclude for filesystem collector. (mutually exclusive to "
     "fs-types-include)"},
    {"collector.filesystem.fs-types-include", FLAG_STRING, NULL,
     "Regexp of filesystem types to include for filesystem collector. (mutually exclusive to "
     "fs-types-exclude)"},
    {"collector.filesystem.ignored-fs-types", FLAG_STRING, NULL, NULL},
    {"collector.filesystem.mount-timeout", FLAG_STRING, "5s",
     "how long to wait for a mount to respond before marking it as stale"},
    {"collector.filesystem.stat-workers", FLAG_STRING, "4",
     "how many stat calls to process simultaneously"},
    {NULL, 0, NULL, NULL},
};

typedef struct fs_state {
  ph_devfilter_t mp, types;
  double timeout; /* seconds */
  unsigned workers;
} fs_state_t;

/* Go duration subset: "5s", "500ms", "1m30s", "2h". */
static bool parse_duration(const char *s, double *out) {
  double total = 0;
  if (*s == '\0') return false;
  while (*s) {
    char *end;
    double v = strtod(s, &end);
    if (end == s) return false;
    s = end;
    double unit;
    if (strncmp(s, "ns", 2) == 0) unit = 1e-9, s += 2;
    else if (strncmp(s, "us", 2) == 0 || strncmp(s, "\xc2\xb5s", 3) == 0)
      unit = 1e-6, s += s[0] == 'u' ? 2 : 3;
    else if (strncmp(s, "ms", 2) == 0) unit = 1e-3, s += 2;
    else if (*s == 's') unit = 1, s++;
    else if (*s == 'm') unit = 60, s++;
    else if (*s == 'h') unit = 3600, s++;
    else return false;
    total += v * unit;
  }
  *out = total;
  return true;
}

static int excl_incl(const exporter_options_t *o, ph_devfilter_t *f, const char *exflag,
                     const char *inflag, const char *oldflag, char *err, size_t errlen) {
  const char *ex = exporter_options_get(o, exflag);
  const char *in = exporter_options_get(o, inflag);
  const char *old = exporter_options_get(o, oldflag);
  bool ex_set = exporter__options_is_set(o, exflag);
  if (old && *old) {
    if (ex_set)
      return ph_err(err, errlen, PH_EINVAL, "--%s and --%s are mutually exclusive", oldflag,
                    exflag);
    log_warn("deprecated flag, use the -exclude form", "flag", oldflag);
    ex = old;
    ex_set = true;
  }
  if (in && *in) {
    if (ex_set && ex && *ex)
      return ph_err(err, errlen, PH_EINVAL, "--%s and --%s are mutually exclusive", exflag,
                    inflag);
    ex = NULL;
  }
  return ph_devfilter_init(f, in, ex, err, errlen);
}

static void filesystem_free(void *p) {
  fs_state_t *s = p;
  if (s == NULL) return;
  ph_devfilter_free(&s->mp);
  ph_devfilter_free(&s->types);
  free(s);
}

static int filesystem_init(const exporter_options_t *o, void **state, char *err,
                           size_t errlen) {
  fs_state_t *s = ph_calloc(1, sizeof(*s));
  *state = s;
  int rc = excl_incl(o, &s->mp, "collector.filesystem.mount-points-exclude",
                     "collector.filesystem.mount-points-include",
                     "collector.filesystem.ignored-mount-points", err, errlen);
  if (rc < 0) return rc;
  rc = excl_incl(o, &s->types, "collector.filesystem.fs-types-exclude",
                 "collector.filesystem.fs-types-include", "collector.filesystem.ignored-fs-types",
                 err, errlen);
  if (rc < 0) return rc;
  const char *t = exporter_options_get(o, "collector.filesystem.mount-timeout");
  if (!parse_duration(t, &s->timeout))
    return ph_err(err, errlen, PH_EINVAL, "time: invalid duration \"%s\"", t);
  uint64_t w;
  const char *ws = exporter_options_get(o, "collector.filesystem.stat-workers");
  if (!ph_parse_u64(ws, &w) || w == 0)
    return ph_err(err, errlen, PH_EINVAL, "invalid stat-workers \"%s\"", ws);
  s->workers = w > 64 ? 64 : (unsigned)w;
  return 0;
}

/* ---- statfs with a timeout ---- */

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static char **g_stuck; /* mount points with a pending statfs */
static size_t g_nstuck, g_capstuck;

typedef struct fs_job {
  char path[PATH_MAX];       /* what to statfs */
  char mountpoint[PATH_MAX]; /* the stuck-set key */
  struct statfs st;
  int err;
  bool done, abandoned;
  struct fs_job *next; /* in the work queue */
} fs_job_t;

static bool is_stuck(const char *mp) { /* g_mu held */
  for (size_t i = 0; i < g_nstuck; i++)
    if (strcmp(g_stuck[i], mp) == 0) return true;
  return false;
}

static void unstick(const char *mp) { /* g_mu held */
  for (size_t i = 0; i < g_nstuck; i++) {
    if (strcmp(g_stuck[i], mp) == 0) {
      free(g_stuck[i]);
      g_stuck[i] = g_stuck[--g_nstuck];
      log_debug("Mount point has recovered, monitoring will resume", "mountpoint", mp);
      return;
    }
  }
}

/* The stat workers: long-lived detached threads taking jobs from one
 * queue, so a scrape creates no thread once there are enough of them.  A
 * worker stuck in a hung statfs keeps its job; a new worker is started
 * whenever the queue holds more jobs than there are idle workers. */
static pthread_cond_t g_work_cv = PTHREAD_COND_INITIALIZER;
static fs_job_t *g_qhead, *g_qtail; /* jobs not picked up yet */
static size_t g_nqueued, g_idle;

static void *stat_worker(void *arg) {
  (void)arg;
  pthread_mutex_lock(&g_mu);
  for (;;) {
    while (g_qhead == NULL) {
      g_idle++;
      pthread_cond_wait(&g_work_cv, &g_mu);
      g_idle--;
    }
    fs_job_t *j = g_qhead;
    g_qhead = j->next;
    if (g_qhead == NULL) g_qtail = NULL;
    g_nqueued--;
    pthread_mutex_unlock(&g_mu);
    struct statfs st;
    int r = statfs(j->path, &st);
    int e = r == 0 ? 0 : errno;
    pthread_mutex_lock(&g_mu);
    j->st = st;
    j->err = e;
    j->done = true;
    if (j->abandoned) {
      unstick(j->mountpoint);
      free(j);
    } else {
      pthread_cond_broadcast(&g_cv);
    }
  }
  return NULL;
}

/* Queues j for a worker (g_mu held); starts one when none is idle.  When
 * no thread can be started the job ends at once with EAGAIN. */
static void submit(fs_job_t *j) {
  j->next = NULL;
  if (g_qtail) g_qtail->next = j;
  else g_qhead = j;
  g_qtail = j;
  g_nqueued++;
  if (g_nqueued <= g_idle) {
    pthread_cond_signal(&g_work_cv);
    return;
  }
  pthread_t t;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 64 * 1024); /* statfs needs little */
  int rc = pthread_create(&t, &attr, stat_worker, NULL);
  pthread_attr_destroy(&attr);
  if (rc == 0) return;
  /* take j back out of the queue */
  fs_job_t **pp = &g_qhead, *prev = NULL;
  while (*pp != NULL && *pp != j) prev = *pp, pp = &(*pp)->next;
  if (*pp == j) {
    *pp = j->next;
    if (g_qtail == j) g_qtail = prev;
    g_nqueued--;
  }
  j->done = true;
  j->err = EAGAIN;
}

typedef struct mount {
  char *device, *mountpoint, *fstype, *options, major[16], minor[16];
  fs_job_t *job;
  bool stuck, skip;
} mount_t;

static void unescape(char *s) {
  char *o = s;
  for (char *p = s; *p;) {
    if (strncmp(p, "\\040", 4) == 0) *o++ = ' ', p += 4;
    else if (strncmp(p, "\\011", 4) == 0) *o++ = '\t', p += 4;
    else *o++ = *p++;
  }
  *o = '\0';
}

static bool has_ro(const char *opts) {
  char buf[1024];
  snprintf(buf, sizeof(buf), "%s", opts);
  char *parts[128];
  size_t n = ph_split(buf, ',', parts, 128);
  for (size_t i = 0; i < n; i++)
    if (strcmp(parts[i], "ro") == 0) return true;
  return false;
}

static void go_error_text(int e, char *out, size_t n) {
  char buf[256];
  const char *msg = strerror_r(e, buf, sizeof(buf));
  snprintf(out, n, "%s", msg);
  if (out[0] >= 'A' && out[0] <= 'Z') out[0] = (char)(out[0] - 'A' + 'a');
}

static void emit(collect_ctx_t *c, const mount_t *m, double err, const char *errtext, double ro,
                 const struct statfs *st) {
  cc_gauge(c, "node_filesystem_device_error",
           "Whether an error occurred while getting statistics for the given device.", err,
           "device", m->device, "mountpoint", m->mountpoint, "fstype", m->fstype,
           "device_error", errtext, NULL);
  cc_gauge(c, "node_filesystem_readonly", "Filesystem read-only status.", ro, "device",
           m->device, "mountpoint", m->mountpoint, "fstype", m->fstype, "device_error", errtext,
           NULL);
  if (st == NULL) return;
  double bs = (double)st->f_bsize;
#define FS_G(name, help, v)                                                               \
  cc_gauge(c, name, help, v, "device", m->device, "mountpoint", m->mountpoint, "fstype", \
           m->fstype, "device_error", "", NULL)
  FS_G("node_filesystem_size_bytes", "Filesystem size in bytes.", (double)st->f_blocks * bs);
  FS_G("node_filesystem_free_bytes", "Filesystem free space in bytes.", (double)st->f_bfree * bs);
  FS_G("node_filesystem_avail_bytes", "Filesystem space available to non-root users in bytes.",
       (double)st->f_bavail * bs);
  FS_G("node_filesystem_files", "Filesystem total file nodes.", (double)st->f_files);
  FS_G("node_filesystem_files_free", "Filesystem total free file nodes.", (double)st->f_ffree);
#undef FS_G
  cc_gauge(c, "node_filesystem_mount_info", "Filesystem mount information.", 1, "device",
           m->device, "major", m->major, "minor", m->minor, "mountpoint", m->mountpoint, NULL);
}

static int read_mounts(collect_ctx_t *c, mount_t **out, size_t *n) {
  char path[PATH_MAX], *data, *line;
  int rc = cc_read_arena(c, cc_proc(c, path, sizeof(path), "1/mountinfo"), &data, NULL);
  if (rc == PH_ENOTFOUND) {
    log_debug("Reading root mounts failed, falling back to self mounts");
    rc = cc_read_arena(c, cc_proc(c, path, sizeof(path), "self/mountinfo"), &data, NULL);
  }
  if (rc < 0) return rc;
  size_t cap = 64, cnt = 0;
  mount_t *m = arena_calloc(c->arena, cap, sizeof(*m));
  ph_assert(m != NULL);
  size_t rootlen = strlen(c->rootfs);
  while (rootlen > 1 && c->rootfs[rootlen - 1] == '/') rootlen--;
  while ((line = ph_next_line(&data)) != NULL) {
    char *f[64];
    size_t nf = ph_fields(line, f, 64);
    if (nf == 0) continue;
    if (nf < 10) return PH_EPARSE;
    size_t k = 5;
    while (k + 1 < nf && strcmp(f[k + 1], "-") != 0) k++;
    if (k + 3 >= nf) return PH_EPARSE;
    if (cnt == cap) {
      mount_t *nm = arena_calloc(c->arena, cap * 2, sizeof(*nm));
      ph_assert(nm != NULL);
      memcpy(nm, m, cnt * sizeof(*m));
      m = nm;
      cap *= 2;
    }
    mount_t *x = &m[cnt++];
    unsigned maj = 0, min = 0;
    if (sscanf(f[2], "%u:%u", &maj, &min) != 2) return PH_EPARSE;
    snprintf(x->major, sizeof(x->major), "%u", maj);
    snprintf(x->minor, sizeof(x->minor), "%u", min);
    unescape(f[4]);
    char *mp = f[4];
    /* rootfsStripPrefix */
    if (rootlen > 1 && strncmp(mp, c->rootfs, rootlen) == 0 &&
        (mp[rootlen] == '/' || mp[rootlen] == '\0')) {
      mp += rootlen;
      if (*mp == '\0') mp = (char *)"/";
    }
    x->mountpoint = mp;
    x->options = f[5];
    x->fstype = f[k + 2];
    x->device = f[k + 3];
  }
  *out = m;
  *n = cnt;
  return 0;
}

static int filesystem_collect(collect_ctx_t *c, void *state) {
  fs_state_t *s = state;
  mount_t *m;
  size_t n;
  int rc = read_mounts(c, &m, &n);
  if (rc < 0) return rc;
  for (size_t i = 0; i < n; i++)
    m[i].skip = ph_devfilter_ignored(&s->mp, m[i].mountpoint) ||
                ph_devfilter_ignored(&s->types, m[i].fstype);
  for (size_t start = 0; start < n;) {
    /* start up to `workers` statfs threads */
    size_t end = start, running = 0;
    pthread_mutex_lock(&g_mu);
    for (; end < n && running < s->workers; end++) {
      mount_t *x = &m[end];
      if (x->skip) continue;
      if (is_stuck(x->mountpoint)) {
        x->stuck = true;
        continue;
      }
      fs_job_t *j = ph_calloc(1, sizeof(*j));
      if (strcmp(c->rootfs, "/") == 0)
        snprintf(j->path, sizeof(j->path), "%s", x->mountpoint);
      else
        ph_path_join(j->path, sizeof(j->path), c->rootfs, x->mountpoint);
      snprintf(j->mountpoint, sizeof(j->mountpoint), "%s", x->mountpoint);
      submit(j);
      x->job = j;
      running++;
    }
    /* wait for them with one deadline */
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    double secs = (double)dl.tv_sec + (double)dl.tv_nsec / 1e9 + s->timeout;
    dl.tv_sec = (time_t)secs;
    dl.tv_nsec = (long)((secs - (double)dl.tv_sec) * 1e9);
    for (size_t i = start; i < end; i++) {
      fs_job_t *j = m[i].job;
      if (j == NULL) continue;
      while (!j->done)
        if (pthread_cond_timedwait(&g_cv, &g_mu, &dl) == ETIMEDOUT) break;
      if (!j->done) {
        log_debug("Mount point timed out, it is being labeled as stuck and will not be "
                  "monitored",
                  "mountpoint", m[i].mountpoint);
        j->abandoned = true;
        ph_grow(&g_stuck, &g_capstuck, g_nstuck + 1);
        g_stuck[g_nstuck++] = ph_strdup(m[i].mountpoint);
        m[i].job = NULL;
        m[i].stuck = true;
      }
    }
    pthread_mutex_unlock(&g_mu);
    start = end;
  }
  /* report, once per (device, mountpoint, fstype) */
  for (size_t i = 0; i < n; i++) {
    mount_t *x = &m[i];
    if (x->skip) continue;
    bool dup = false;
    for (size_t k = 0; k < i && !dup; k++)
      dup = !m[k].skip && strcmp(m[k].device, x->device) == 0 &&
            strcmp(m[k].mountpoint, x->mountpoint) == 0 && strcmp(m[k].fstype, x->fstype) == 0;
    double ro = has_ro(x->options) ? 1 : 0;
    if (x->stuck) {
      log_debug("Mount point is in an unresponsive state", "mountpoint", x->mountpoint);
      if (!dup) emit(c, x, 1, "mountpoint timeout", ro, NULL);
      continue;
    }
    fs_job_t *j = x->job;
    if (j == NULL) continue;
    if (!dup) {
      if (j->err != 0) {
        char et[256];
        go_error_text(j->err, et, sizeof(et));
        log_debug("Error on statfs() system call", "rootfs", j->path, "err", et);
        emit(c, x, 1, et, ro, NULL);
      } else {
        emit(c, x, 0, "", ro, &j->st);
      }
    }
    free(j);
    x->job = NULL;
  }
  return 0;
}

const collector_def_t collector_filesystem = {
    .name = "filesystem",
    .default_enabled = true,
    .flags = filesystem_flags,
    .init = filesystem_init,
    .free = filesystem_free,
    .collect = filesystem_collect,
};
