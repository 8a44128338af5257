/*
 * options.c - node_exporter's flags: the table, kingpin-style parsing, help.
 *
 * The flag table is built once (pthread_once) from four parts: the general
 * flags below, one `collector.<name>` boolean per registered collector
 * (default from its collector_def_t) followed by that collector's own
 * flags, the enable flags of node_exporter collectors pharos does not
 * implement, and their flags (accepted, ignored).  An options object holds
 * one value per table entry (strings; booleans as "true"/"false";
 * repeatable flags as a list) plus whether the user set it, which
 * `--collector.disable-defaults` needs: it turns off every collector the
 * user did not name.
 *
 * Parsing follows kingpin v2: `--name=value` or `--name value`; a boolean
 * is `--name` or `--no-name` (and, leniently, `--name=true|false`);
 * `-h` is --help; `--` ends the flags; positional arguments are refused.
 * The first user value of a repeatable flag replaces its default.
 */
#include "exporter_int.h"

#include "mem.h"
#include "ph_error.h"
#include "pharos_version.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

static const exporter_flag_t general_flags[] = {
    {"web.listen-address", FLAG_STRINGS, ":9100",
     "Addresses on which to expose metrics and web interface. Repeatable for "
     "multiple addresses."},
    {"web.telemetry-path", FLAG_STRING, "/metrics",
     "Path under which to expose metrics."},
    {"web.disable-exporter-metrics", FLAG_BOOL, "false",
     "Exclude metrics about the exporter itself (promhttp_*, process_*, "
     "go_*)."},
    {"web.max-requests", FLAG_STRING, "40",
     "Maximum number of parallel scrape requests. Use 0 to disable."},
    {"web.systemd-socket", FLAG_BOOL, "false",
     "Use systemd socket activation listeners instead of port listeners "
     "(Linux only)."},
    {"web.config.file", FLAG_STRING, "",
     "Path to configuration file that can enable TLS or authentication "
     "(not supported by pharos-exporter)."},
    {"collector.disable-defaults", FLAG_BOOL, "false",
     "Set all collectors to disabled by default."},
    {"runtime.gomaxprocs", FLAG_STRING, "1",
     "The target number of CPUs Go will run on (GOMAXPROCS); accepted and "
     "ignored."},
    {"path.procfs", FLAG_STRING, "/proc", "procfs mountpoint."},
    {"path.sysfs", FLAG_STRING, "/sys", "sysfs mountpoint."},
    {"path.rootfs", FLAG_STRING, "/", "rootfs mountpoint."},
    {"path.udev.data", FLAG_STRING, "/run/udev/data", "udev data path."},
    {"log.level", FLAG_STRING, "info",
     "Only log messages with the given severity or above. One of: [debug, "
     "info, warn, error]"},
    {"log.format", FLAG_STRING, "logfmt",
     "Output format of log messages. One of: [logfmt, json]"},
    {"help", FLAG_BOOL, "false",
     "Show context-sensitive help (also try --help-long and --help-man)."},
    {"help-long", FLAG_BOOL, "false", NULL},
    {"help-man", FLAG_BOOL, "false", NULL},
    {"version", FLAG_BOOL, "false", "Show application version."},
    /* hidden: print "port=<n>" on stdout once listening (tests) */
    {"web.print-port", FLAG_BOOL, "false", NULL},
    {NULL, 0, NULL, NULL},
};

typedef struct flag_entry {
  exporter_flag_t f;
  char *owned_name; /* for generated collector.<name> entries */
} flag_entry_t;

static flag_entry_t *g_flags; /* the combined table; lives for the process */
static size_t g_nflags;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void add_flag(size_t *cap, const exporter_flag_t *f, char *owned) {
  ph_grow(&g_flags, cap, g_nflags + 1);
  g_flags[g_nflags].f = *f;
  g_flags[g_nflags].owned_name = owned;
  g_nflags++;
}

static void add_list(size_t *cap, const exporter_flag_t *l) {
  for (; l != NULL && l->name != NULL; l++) add_flag(cap, l, NULL);
}

static void build_table(void) {
  size_t cap = 0;
  add_list(&cap, general_flags);
  for (size_t i = 0; i < exporter__ncollectors; i++) {
    const collector_def_t *d = exporter__collectors[i];
    size_t n = strlen(d->name) + sizeof("collector.");
    char *name = ph_malloc(n);
    snprintf(name, n, "collector.%s", d->name);
    char *help = ph_malloc(n + 64);
    snprintf(help, n + 64, "Enable the %s collector (default: %s).", d->name,
             d->default_enabled ? "enabled" : "disabled");
    exporter_flag_t f = {name, FLAG_BOOL, d->default_enabled ? "true" : "false",
                         help};
    add_flag(&cap, &f, name);
    add_list(&cap, d->flags);
  }
  for (size_t i = 0; i < exporter__nunimplemented; i++) {
    size_t n = strlen(exporter__unimplemented[i]) + sizeof("collector.");
    char *name = ph_malloc(n);
    snprintf(name, n, "collector.%s", exporter__unimplemented[i]);
    exporter_flag_t f = {name, FLAG_BOOL, "false", NULL};
    add_flag(&cap, &f, name);
  }
  add_list(&cap, exporter__ignored_flags);
}

static void table_init(void) { pthread_once(&g_once, build_table); }

static long find_flag(const char *name) {
  table_init();
  for (size_t i = 0; i < g_nflags; i++)
    if (strcmp(g_flags[i].f.name, name) == 0) return (long)i;
  return -1;
}

/* ---- the options object ---- */

typedef struct opt_value {
  char **vals; /* one for scalars; any number for repeatable flags */
  size_t n, cap;
  bool set;    /* given by the user */
} opt_value_t;

struct exporter_options {
  opt_value_t *v; /* g_nflags entries */
  size_t n;
};

static void value_clear(opt_value_t *v) {
  for (size_t i = 0; i < v->n; i++) free(v->vals[i]);
  v->n = 0;
}

static void value_push(opt_value_t *v, const char *s) {
  ph_grow(&v->vals, &v->cap, v->n + 1);
  v->vals[v->n++] = ph_strdup(s);
}

exporter_options_t *exporter_options_new(void) {
  table_init();
  exporter_options_t *o = ph_calloc(1, sizeof(*o));
  o->n = g_nflags;
  o->v = ph_calloc(o->n, sizeof(*o->v));
  for (size_t i = 0; i < o->n; i++) {
    const exporter_flag_t *f = &g_flags[i].f;
    if (f->def != NULL && (f->kind != FLAG_STRINGS || f->def[0] != '\0'))
      value_push(&o->v[i], f->def);
    else if (f->kind == FLAG_BOOL)
      value_push(&o->v[i], "false");
  }
  return o;
}

void exporter_options_free(exporter_options_t *o) {
  if (o == NULL) return;
  for (size_t i = 0; i < o->n; i++) {
    value_clear(&o->v[i]);
    free(o->v[i].vals);
  }
  free(o->v);
  free(o);
}

exporter_options_t *exporter__options_copy(const exporter_options_t *o) {
  exporter_options_t *c = ph_calloc(1, sizeof(*c));
  c->n = o->n;
  c->v = ph_calloc(c->n, sizeof(*c->v));
  for (size_t i = 0; i < o->n; i++) {
    for (size_t k = 0; k < o->v[i].n; k++) value_push(&c->v[i], o->v[i].vals[k]);
    c->v[i].set = o->v[i].set;
  }
  return c;
}

static bool parse_bool(const char *s, bool *b) {
  if (s == NULL || strcmp(s, "true") == 0 || strcmp(s, "1") == 0) {
    *b = true;
    return true;
  }
  if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0) {
    *b = false;
    return true;
  }
  return false;
}

int exporter_options_set(exporter_options_t *o, const char *flag,
                         const char *value, char *err, size_t errlen) {
  bool invert = false;
  long i = find_flag(flag);
  if (i < 0 && strncmp(flag, "no-", 3) == 0) {
    i = find_flag(flag + 3);
    invert = true;
    if (i >= 0 && g_flags[i].f.kind != FLAG_BOOL) i = -1;
  }
  if (i < 0)
    return ph_err(err, errlen, PH_EINVAL, "unknown long flag '--%s'", flag);
  const exporter_flag_t *f = &g_flags[i].f;
  opt_value_t *v = &o->v[i];
  switch (f->kind) {
  case FLAG_BOOL: {
    bool b;
    if (!parse_bool(value, &b))
      return ph_err(err, errlen, PH_EINVAL,
                    "strconv.ParseBool: parsing \"%s\": invalid syntax",
                    value);
    if (invert) b = !b;
    value_clear(v);
    value_push(v, b ? "true" : "false");
    break;
  }
  case FLAG_STRING:
    if (value == NULL)
      return ph_err(err, errlen, PH_EINVAL,
                    "expected argument for flag '--%s'", flag);
    value_clear(v);
    value_push(v, value);
    break;
  case FLAG_STRINGS:
    if (value == NULL)
      return ph_err(err, errlen, PH_EINVAL,
                    "expected argument for flag '--%s'", flag);
    if (!v->set) value_clear(v);
    value_push(v, value);
    break;
  }
  v->set = true;
  return 0;
}

const char *exporter_options_get(const exporter_options_t *o,
                                 const char *flag) {
  long i = find_flag(flag);
  if (i < 0 || o->v[i].n == 0) return NULL;
  return o->v[i].vals[o->v[i].n - 1];
}

bool exporter_options_get_bool(const exporter_options_t *o, const char *flag) {
  const char *s = exporter_options_get(o, flag);
  return s != NULL && strcmp(s, "true") == 0;
}

size_t exporter_options_get_all(const exporter_options_t *o, const char *flag,
                                 const char *const **vals) {
  long i = find_flag(flag);
  if (i < 0) {
    *vals = NULL;
    return 0;
  }
  *vals = (const char *const *)o->v[i].vals;
  return o->v[i].n;
}

bool exporter__options_is_set(const exporter_options_t *o, const char *flag) {
  long i = find_flag(flag);
  return i >= 0 && o->v[i].set;
}

int exporter_options_from_args(exporter_options_t *o, int argc,
                               char *const *argv, char *err, size_t errlen) {
  bool help = false, version = false;
  for (int k = 1; k < argc; k++) {
    const char *a = argv[k];
    if (strcmp(a, "--") == 0) {
      if (k + 1 < argc)
        return ph_err(err, errlen, PH_EINVAL, "unexpected %s", argv[k + 1]);
      break;
    }
    if (a[0] != '-' || a[1] == '\0')
      return ph_err(err, errlen, PH_EINVAL, "unexpected %s", a);
    if (a[1] != '-') {
      /* short flags: only -h exists */
      if (strcmp(a, "-h") == 0) {
        help = true;
        continue;
      }
      return ph_err(err, errlen, PH_EINVAL, "unknown short flag '-%c'", a[1]);
    }
    const char *body = a + 2;
    const char *eq = strchr(body, '=');
    char name[256];
    size_t nlen = eq ? (size_t)(eq - body) : strlen(body);
    if (nlen >= sizeof(name))
      return ph_err(err, errlen, PH_EINVAL, "unknown long flag '--%.*s'",
                    (int)nlen, body);
    memcpy(name, body, nlen);
    name[nlen] = '\0';
    const char *base = name;
    long i = find_flag(name);
    if (i < 0 && strncmp(name, "no-", 3) == 0) {
      long j = find_flag(name + 3);
      if (j >= 0 && g_flags[j].f.kind == FLAG_BOOL) {
        i = j;
        base = name + 3;
      }
    }
    if (i < 0)
      return ph_err(err, errlen, PH_EINVAL, "unknown long flag '--%s'", name);
    const char *value = eq ? eq + 1 : NULL;
    if (g_flags[i].f.kind != FLAG_BOOL && value == NULL) {
      if (k + 1 >= argc)
        return ph_err(err, errlen, PH_EINVAL,
                      "expected argument for flag '--%s'", name);
      value = argv[++k];
    }
    if (strcmp(base, "help") == 0 || strcmp(base, "help-long") == 0 ||
        strcmp(base, "help-man") == 0) {
      help = true;
      continue;
    }
    if (strcmp(base, "version") == 0) {
      version = true;
      continue;
    }
    int rc = exporter_options_set(o, name, value, err, errlen);
    if (rc < 0) return rc;
  }
  if (help) return EXPORTER_ARGS_HELP;
  if (version) return EXPORTER_ARGS_VERSION;
  /* validate what can be validated now */
  const char *lv = exporter_options_get(o, "log.level");
  if (lv && strcmp(lv, "debug") && strcmp(lv, "info") && strcmp(lv, "warn") &&
      strcmp(lv, "error"))
    return ph_err(err, errlen, PH_EINVAL,
                  "unrecognized log level \"%s\"", lv);
  const char *lf = exporter_options_get(o, "log.format");
  if (lf && strcmp(lf, "logfmt") && strcmp(lf, "json"))
    return ph_err(err, errlen, PH_EINVAL,
                  "unrecognized log format \"%s\"", lf);
  return 0;
}

/* ---- help and version ---- */

static void usage_flag(strbuf_t *b, const exporter_flag_t *f) {
  size_t start = b->len;
  if (strcmp(f->name, "help") == 0)
    strbuf_puts(b, "  -h, --[no-]help");
  else if (f->kind == FLAG_BOOL)
    strbuf_printf(b, "      --[no-]%s", f->name);
  else {
    strbuf_printf(b, "      --%s=", f->name);
    if (f->def != NULL && f->def[0] != '\0') {
      strbuf_putc(b, '"');
      strbuf_puts(b, f->def);
      strbuf_putc(b, '"');
    } else {
      for (const char *p = f->name; *p; p++)
        strbuf_putc(b, *p >= 'a' && *p <= 'z' ? (char)(*p - 32) : *p);
    }
    if (f->kind == FLAG_STRINGS) strbuf_puts(b, " ...");
  }
  size_t w = b->len - start;
  if (w < 33) {
    for (; w < 33; w++) strbuf_putc(b, ' ');
  } else {
    strbuf_puts(b, "  \n                                 ");
  }
  strbuf_puts(b, f->help);
  strbuf_putc(b, '\n');
}

void exporter_usage(strbuf_t *b, const char *prog) {
  table_init();
  strbuf_printf(b, "usage: %s [<flags>]\n\n\nFlags:\n", prog);
  for (size_t i = 0; i < g_nflags; i++)
    if (strcmp(g_flags[i].f.name, "help") == 0) usage_flag(b, &g_flags[i].f);
  for (size_t i = 0; i < g_nflags; i++) {
    const exporter_flag_t *f = &g_flags[i].f;
    if (f->help == NULL || strcmp(f->name, "help") == 0) continue;
    usage_flag(b, f);
  }
  strbuf_putc(b, '\n');
}

void exporter_version(strbuf_t *b, const char *prog) {
  struct utsname u;
  const char *arch = uname(&u) == 0 ? u.machine : "unknown";
  strbuf_printf(b,
                "%s, version %s (branch: %s, revision: %s)\n"
                "  build date:       %s\n"
                "  platform:         linux/%s\n"
                "  compatible with:  node_exporter 1.9.1\n",
                prog, PHAROS_VERSION, PHAROS_BRANCH, PHAROS_COMMIT,
                PHAROS_BUILD_DATE, arch);
}
