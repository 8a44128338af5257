/*
 * flags.h - command-line flags in the style of Prometheus's kingpin.
 *
 * A program declares a table of flag_def_t (long name, type, default, help,
 * where to store the value).  Accepted forms: --name=value, --name value,
 * and for booleans --name, --no-name, --name=true|false.  Unknown flags,
 * missing values and bad values are errors worded like kingpin's
 * ("unknown long flag '--foo'"), after which the caller prints the usage
 * and exits 2.  Every flag's effective value is kept as text for
 * /api/v1/status/flags.
 */
#ifndef PH_FLAGS_H
#define PH_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
  FLAG_STRING,   /* target: const char ** (points into argv or the default) */
  FLAG_BOOL,     /* target: bool * */
  FLAG_DURATION, /* target: int64_t * milliseconds; "15d", "5m" */
  FLAG_INT,      /* target: int64_t * */
  FLAG_BYTES,    /* target: uint64_t *; "512MB", "10GiB", "0" */
} flag_type_t;

typedef struct flag_def {
  const char *name;    /* without the leading "--" */
  flag_type_t type;
  const char *defval;  /* text of the default; NULL = none ("" for strings) */
  const char *help;
  void *target;
} flag_def_t;

typedef struct flags flags_t; /* owned by its creator; flags_free */

/* Stores defaults into every target. */
flags_t *flags_new(const char *prog, const char *description,
                   const flag_def_t *defs, size_t n);
void flags_free(flags_t *f);
/* 0, or PH_EINVAL with a kingpin-like message in err.  "--help" and
 * "--version" are reported through *want_help / *want_version. */
int flags_parse(flags_t *f, int argc, char **argv, bool *want_help,
                bool *want_version, char *err, size_t errlen);
void flags_usage(const flags_t *f, FILE *out);
size_t flags_count(const flags_t *f);
/* Name and effective value as text of the i-th flag. */
void flags_at(const flags_t *f, size_t i, const char **name, const char **value);
/* Parses "512MB", "1GB", "10GiB", "100KB", "0", plain bytes; 0 or PH_EPARSE. */
int flags_parse_bytes(const char *s, uint64_t *out);

#endif
