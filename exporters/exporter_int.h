/*
 * exporter_int.h - the private seams of exporters/, shared by its files:
 *
 *   expo      the metric set of one scrape and its text writer (expo.c)
 *   flags     the flag table (options.c) and each collector's own flags
 *   registry  collector_def_t, one per collector file (cpu.c, meminfo.c …)
 *             listed in one static table (registry.c)
 *   ctx       what a collector's collect() gets: paths, the metric set, a
 *             reused file buffer and a per-scrape arena (util.c)
 *   helpers   file reading, number parsing, field splitting, regexes
 *
 * A collector adds samples with cc_gauge()/cc_counter()/cc_untyped() using
 * full metric names; labels are name/value string pairs ending with NULL,
 * in any order (the writer sorts them).  Strings are copied, so stack
 * buffers are fine.
 */
#ifndef PH_EXPORTER_INT_H
#define PH_EXPORTER_INT_H

#include "arena.h"
#include "exporter.h"
#include "strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- expo: the metric set of one scrape (expo.c) ---- */

typedef enum {
  EXPO_COUNTER = 0,
  EXPO_GAUGE,
  EXPO_UNTYPED,
  EXPO_SUMMARY,
  EXPO_HISTOGRAM,
} expo_type_t;

typedef struct expo expo_t; /* owned by its creator; expo_free */

expo_t *expo_new(void);
void expo_free(expo_t *e);
/* Drops every family (keeps the memory for the next scrape). */
void expo_reset(expo_t *e);

/* Adds one sample of family name.  A family's first sample fixes its help
 * and type; a later one with another help or type, or a repeated label
 * set, is dropped and PH_EINVAL returned with err set (client_golang's
 * "ContinueOnError" behaviour).  Label names/values are copied. */
int expo_add(expo_t *e, const char *name, const char *help, expo_type_t type,
             size_t nlabels, const char *const *lnames,
             const char *const *lvalues, double v, char *err, size_t errlen);
/* A summary: quantiles q[i] with values qv[i], sum and count. */
int expo_add_summary(expo_t *e, const char *name, const char *help,
                     size_t nlabels, const char *const *lnames,
                     const char *const *lvalues, size_t nq, const double *q,
                     const double *qv, double sum, double count, char *err,
                     size_t errlen);
/* A histogram: upper bounds le[i] (ascending, +Inf optional) with
 * cumulative counts cum[i], sum and count.  A +Inf bucket is written with
 * the count when le does not end with +Inf. */
int expo_add_histogram(expo_t *e, const char *name, const char *help,
                       size_t nlabels, const char *const *lnames,
                       const char *const *lvalues, size_t nb, const double *le,
                       const double *cum, double sum, double count, char *err,
                       size_t errlen);
/* True when a family of that name exists already. */
bool expo_has_family(const expo_t *e, const char *name);
size_t expo_family_count(const expo_t *e);

/* Writes all families in text format 0.0.4, sorted by name, samples sorted
 * by label values (labels sorted by name), as client_golang does. */
void expo_write(expo_t *e, strbuf_t *out);
/* The same in OpenMetrics 1.0.0 text, ending with "# EOF". */
void expo_write_openmetrics(expo_t *e, strbuf_t *out);

/* The text format's value and escaping rules, exposed for tests. */
void expo_write_value(strbuf_t *out, double v);
void expo_write_help(strbuf_t *out, const char *help);
void expo_write_label_value(strbuf_t *out, const char *v);

/* ---- flags (options.c) ---- */

typedef enum {
  FLAG_BOOL = 0,
  FLAG_STRING,
  FLAG_STRINGS, /* repeatable; values accumulate */
} exporter_flag_kind_t;

typedef struct exporter_flag {
  const char *name; /* without dashes: "collector.cpu.info" */
  exporter_flag_kind_t kind;
  const char *def;  /* default ("true"/"false" for booleans); may be NULL */
  const char *help; /* NULL: hidden from --help */
} exporter_flag_t;

exporter_options_t *exporter__options_copy(const exporter_options_t *o);
/* Whether the user gave the flag (as opposed to the default). */
bool exporter__options_is_set(const exporter_options_t *o, const char *flag);

/* ---- collectors ---- */

typedef struct collect_ctx collect_ctx_t;

typedef struct collector_def {
  const char *name;
  bool default_enabled;
  const exporter_flag_t *flags; /* the collector's own flags, {NULL} ends */
  /* Optional: builds *state from the options; PH_E* with err on bad
   * options (exporter_new then fails). */
  int (*init)(const exporter_options_t *o, void **state, char *err,
              size_t errlen);
  void (*free)(void *state);
  /* Reads the system and adds samples; a negative PH_E* marks the scrape
   * of this collector failed (node_scrape_collector_success 0); samples
   * added before the failure are still served. */
  int (*collect)(collect_ctx_t *c, void *state);
} collector_def_t;

/* The registry (registry.c): every collector, sorted by name. */
extern const collector_def_t *const exporter__collectors[];
extern const size_t exporter__ncollectors;
/* node_exporter collectors pharos does not implement: their enable flags
 * are accepted (with a warning when turned on). */
extern const char *const exporter__unimplemented[];
extern const size_t exporter__nunimplemented;
/* Flags of unimplemented collectors, accepted and ignored. */
extern const exporter_flag_t exporter__ignored_flags[];

struct collect_ctx {
  const char *procfs; /* "/proc" */
  const char *sysfs;  /* "/sys" */
  const char *rootfs; /* "/" */
  const char *udev;   /* "/run/udev/data" */
  const exporter_options_t *opts;
  const char *collector; /* the running collector's name */
  expo_t *expo;
  arena_t *arena;        /* reset after every scrape */
  char *buf;             /* cc_read_file's buffer */
  size_t bufcap;
  /* The last failure the running collector met ("open /proc/x:
   * Permission denied") and its code; cleared before each collector.  When
   * the collector returns that same code, the scrape logs this text. */
  char err[512];
  int err_rc;
};

/* Records why the collector fails (the last reason wins, except that a
 * PH_ENOTFOUND does not replace another kind of failure) and returns rc,
 * so a collector can `return cc_fail(c, PH_EPARSE, "…", …)`. */
int cc_fail(collect_ctx_t *c, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Path under procfs/sysfs/rootfs into out (PATH_MAX is enough); returns out. */
char *cc_proc(const collect_ctx_t *c, char *out, size_t n, const char *fmt,
              ...) __attribute__((format(printf, 4, 5)));
char *cc_sys(const collect_ctx_t *c, char *out, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
char *cc_root(const collect_ctx_t *c, char *out, size_t n, const char *fmt,
              ...) __attribute__((format(printf, 4, 5)));
char *ph_path_join(char *out, size_t n, const char *a, const char *b);
/* snprintf for paths (truncation is the caller's PATH_MAX concern). */
char *ph_pathf(char *out, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Reads a whole file into the context's reused buffer (NUL-terminated);
 * *data valid until the next cc_read_file.  PH_ENOTFOUND when missing,
 * PH_EIO otherwise (err names the path). */
int cc_read_file(collect_ctx_t *c, const char *path, char **data,
                 size_t *len);
/* The descriptor cache behind cc_read_file and ph_read_* (util.c): every
 * exporter holds it from exporter_new to exporter_free (the last release
 * closes the descriptors); a full scrape ends with a sweep that closes
 * what it did not read. */
void exporter__fdcache_acquire(void);
void exporter__fdcache_release(void);
void exporter__fdcache_sweep(void);

/* Reads a small (sysfs) file into out, trailing whitespace trimmed. */
int ph_read_str(const char *path, char *out, size_t n);
int ph_read_u64(const char *path, uint64_t *v);
int ph_read_i64(const char *path, int64_t *v);
int ph_read_double(const char *path, double *v);
/* Reads a whole file into an arena copy (NUL-terminated). */
int cc_read_arena(collect_ctx_t *c, const char *path, char **data,
                  size_t *len);
char *cc_strdup(collect_ctx_t *c, const char *s);

/* Sorted entry names of a directory ('.' names skipped), from c's arena;
 * PH_ENOTFOUND when it does not exist. */
int cc_list_dir(collect_ctx_t *c, const char *path, char ***names, size_t *n);

/* Emitting samples: labels are (name, value) pairs ending with NULL. */
void cc_gauge(collect_ctx_t *c, const char *name, const char *help, double v,
              ...) __attribute__((sentinel));
void cc_counter(collect_ctx_t *c, const char *name, const char *help,
                double v, ...) __attribute__((sentinel));
void cc_untyped(collect_ctx_t *c, const char *name, const char *help,
                double v, ...) __attribute__((sentinel));
void cc_metric(collect_ctx_t *c, expo_type_t type, const char *name,
               const char *help, double v, size_t n, const char *const *lnames,
               const char *const *lvalues);

/* process_* of the exporter's own process (self.c). */
void exporter__process_metrics(collect_ctx_t *c);

/* ---- text helpers (util.c) ---- */

/* Splits s in place at runs of whitespace (Go's strings.Fields); returns
 * the number of fields (at most max). */
size_t ph_fields(char *s, char **out, size_t max);
/* Splits s in place at each sep (strings.Split); at most max parts. */
size_t ph_split(char *s, char sep, char **out, size_t max);
/* Next line of *p (NUL-terminated in place); NULL at the end. */
char *ph_next_line(char **p);
char *ph_trim(char *s);
bool ph_parse_u64(const char *s, uint64_t *v);
bool ph_parse_i64(const char *s, int64_t *v);
/* Go's strconv.ParseFloat for the forms kernels print. */
bool ph_parse_double(const char *s, double *v);
bool ph_has_prefix(const char *s, const char *prefix);
/* Go's strings.ToValidUTF8(s, "\uFFFD"): each run of invalid bytes becomes
 * one U+FFFD; the result is truncated to fit out. */
void ph_valid_utf8(const char *in, char *out, size_t n);
bool ph_is_utf8(const char *s);
/* Replaces characters invalid in a metric name with '_'. */
void ph_sanitize_name(char *s);

/* ---- regexes (regex.c): Go regexp semantics via PCRE2, unanchored ---- */

typedef struct ph_regex ph_regex_t; /* owned; ph_regex_free */
ph_regex_t *ph_regex_new(const char *pattern, char *err, size_t errlen);
void ph_regex_free(ph_regex_t *re);
bool ph_regex_match(const ph_regex_t *re, const char *s);

/* node_exporter's device filter: include / exclude regexes, either may be
 * empty (unset). */
typedef struct ph_devfilter {
  ph_regex_t *include;
  ph_regex_t *exclude;
} ph_devfilter_t;
int ph_devfilter_init(ph_devfilter_t *f, const char *include,
                      const char *exclude, char *err, size_t errlen);
void ph_devfilter_free(ph_devfilter_t *f);
bool ph_devfilter_ignored(const ph_devfilter_t *f, const char *name);

#endif
