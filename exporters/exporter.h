/*
 * exporter.h - the node exporter as a library: pharos-exporter's main and the
 * pharos server (collecting its own host in-process) both use it.
 *
 * Options are node_exporter v1.9.1's command-line flags, kept by name:
 * exporter_options_from_args() parses argv the way Go's kingpin does
 * (`--flag=value`, `--flag value`, `--flag` / `--no-flag` for booleans,
 * `--collector.<name>` / `--no-collector.<name>`, repeatable flags), and
 * exporter_options_set() sets one flag programmatically.  exporter_new()
 * builds the enabled collectors once (compiling their regexes, etc.);
 * exporter_collect() runs them all and writes the text exposition format
 * 0.0.4, byte-compatible with node_exporter's /metrics body.
 */
#ifndef PH_EXPORTER_H
#define PH_EXPORTER_H

#include "strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct exporter_options exporter_options_t; /* owned by creator;
                                                       exporter_options_free */
typedef struct exporter exporter_t;                 /* owned by creator;
                                                       exporter_free */

/* Results of exporter_options_from_args besides 0 and PH_E* errors. */
enum {
  EXPORTER_ARGS_HELP = 1,    /* --help / -h given: print exporter_usage */
  EXPORTER_ARGS_VERSION = 2, /* --version given: print exporter_version */
};

/* Options with node_exporter's defaults (":9100", "/metrics", "/proc", …). */
exporter_options_t *exporter_options_new(void);
void exporter_options_free(exporter_options_t *o);

/* Parses argv[1..argc-1].  Returns 0, EXPORTER_ARGS_HELP,
 * EXPORTER_ARGS_VERSION, or PH_EINVAL with err set in kingpin's words
 * ("unknown long flag '--foo'"; the caller prints
 * "<prog>: error: <err>, try --help"). */
int exporter_options_from_args(exporter_options_t *o, int argc,
                               char *const *argv, char *err, size_t errlen);

/* Sets one flag by its name without dashes ("path.procfs",
 * "collector.cpu", "no-collector.cpu", "collector.sysctl.include"):
 * booleans take "true"/"false" (value NULL means true); repeatable flags
 * append.  PH_EINVAL with err set for unknown flags or bad values. */
int exporter_options_set(exporter_options_t *o, const char *flag,
                         const char *value, char *err, size_t errlen);

/* The flag's current value (last one for repeatable flags); booleans read
 * "true"/"false"; NULL when unknown or unset.  Valid until the option
 * changes or o is freed. */
const char *exporter_options_get(const exporter_options_t *o,
                                 const char *flag);
bool exporter_options_get_bool(const exporter_options_t *o, const char *flag);
/* All values of a repeatable flag ("web.listen-address"); *vals valid until
 * the option changes or o is freed. */
size_t exporter_options_get_all(const exporter_options_t *o, const char *flag,
                                const char *const **vals);

/* Writes the --help text (flags, defaults, collectors) to b. */
void exporter_usage(strbuf_t *b, const char *prog);
/* Writes the --version text to b. */
void exporter_version(strbuf_t *b, const char *prog);

/* Builds the enabled collectors.  o is copied (may be freed afterwards).
 * NULL with err set when a collector's options are invalid (a bad regex). */
exporter_t *exporter_new(const exporter_options_t *o, char *err,
                         size_t errlen);
void exporter_free(exporter_t *e);

/* Runs every enabled collector and appends the exposition text to out
 * (families sorted by name, node_scrape_collector_* included).
 * Thread-safe: concurrent calls are serialised.  Returns 0. */
int exporter_collect(exporter_t *e, strbuf_t *out);
/* As exporter_collect, limited to the named collectors (node_exporter's
 * `collect[]` parameter); names not enabled give PH_EINVAL with err set. */
int exporter_collect_only(exporter_t *e, const char *const *names, size_t n,
                          strbuf_t *out, char *err, size_t errlen);

/* Exposition formats of exporter_collect_as. */
typedef enum {
  EXPORTER_FMT_TEXT = 0,        /* text/plain; version=0.0.4 */
  EXPORTER_FMT_OPENMETRICS = 1, /* application/openmetrics-text 1.0.0 */
} exporter_format_t;

/* As exporter_collect_only (names NULL: every enabled collector) in the
 * given format. */
int exporter_collect_as(exporter_t *e, exporter_format_t fmt,
                        const char *const *names, size_t n, strbuf_t *out,
                        char *err, size_t errlen);

/* Picks the format for an HTTP Accept header as client_golang's
 * negotiation does: the acceptable entry with the highest q (the first
 * on ties) among application/openmetrics-text (version 0.0.1, 1.0.0 or
 * none) and text/plain (version 0.0.4 or none); text when nothing
 * matches or accept is NULL.  *content_type gets the response's
 * Content-Type (a static string). */
exporter_format_t exporter_negotiate(const char *accept,
                                     const char **content_type);

/* The HTTP server tells the exporter how each scrape ended (status 200,
 * 500, 503) for promhttp_metric_handler_requests_total; those families,
 * promhttp_metric_handler_requests_in_flight and process_* are part of the
 * output unless --web.disable-exporter-metrics is set. */
void exporter_note_request(exporter_t *e, int status);

/* Names of enabled collectors in sorted order; *names valid until
 * exporter_free. */
size_t exporter_collectors(const exporter_t *e, const char *const **names);

#endif
