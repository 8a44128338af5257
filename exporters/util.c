/*
 * util.c - what collectors share: paths under procfs/sysfs/rootfs, the
 * file reader, sample emission and small text parsers.
 *
 * cc_read_file() reads a whole /proc or /sys file into the context's
 * buffer with read() calls of the buffer's size (one call for nearly every
 * file; the buffer doubles and is kept for the next file and scrape), so a
 * collector allocates nothing per file in steady state.  Sysfs attribute
 * helpers (ph_read_*) read into a small stack buffer.
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
#include <unistd.h>

#define CC_MAX_LABELS 32

/* ---- paths ---- */

char *ph_path_join(char *out, size_t n, const char *a, const char *b) {
  size_t la = strlen(a);
  while (la > 1 && a[la - 1] == '/') la--;
  while (*b == '/') b++;
  if (la == 1 && a[0] == '/')
    snprintf(out, n, "/%s", b);
  else
    snprintf(out, n, "%.*s/%s", (int)la, a, b);
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

static int read_fd_all(int fd, char **buf, size_t *cap, size_t *len) {
  size_t used = 0;
  for (;;) {
    if (*cap - used < 2) {
      size_t ncap = *cap ? *cap * 2 : 16384;
      *buf = ph_realloc(*buf, ncap);
      *cap = ncap;
    }
    ssize_t r = read(fd, *buf + used, *cap - used - 1);
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

static int open_err(const char *path) {
  int e = errno;
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

/* open_err() plus the reason recorded in the context. */
static int cc_open_err(collect_ctx_t *c, const char *path) {
  int e = errno;
  int rc = open_err(path);
  return cc_fail(c, rc, "open %s: %s", path, strerror(e));
}

int cc_read_file(collect_ctx_t *c, const char *path, char **data,
                 size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return cc_open_err(c, path);
  int rc = read_fd_all(fd, &c->buf, &c->bufcap, len);
  close(fd);
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
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return open_err(path);
  ssize_t r;
  do {
    r = read(fd, out, n - 1);
  } while (r < 0 && errno == EINTR);
  int e = errno;
  close(fd);
  if (r < 0) {
    log_debug("cannot read file", "path", path, "err", strerror(e));
    return PH_EIO;
  }
  out[r] = '\0';
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
  DIR *d = opendir(path);
  if (d == NULL) return cc_open_err(c, path);
  size_t cnt = 0, cap = 16;
  char **v = arena_alloc(c->arena, cap * sizeof(char *));
  ph_assert(v != NULL);
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.') continue;
    if (cnt == cap) {
      char **nv = arena_alloc(c->arena, cap * 2 * sizeof(char *));
      ph_assert(nv != NULL);
      memcpy(nv, v, cnt * sizeof(char *));
      v = nv;
      cap *= 2;
    }
    v[cnt++] = cc_strdup(c, de->d_name);
  }
  closedir(d);
  qsort(v, cnt, sizeof(char *), cmp_str);
  *names = v;
  *n = cnt;
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
