/*
 * flags.c - kingpin-style long flags (see flags.h).
 *
 * Values are parsed straight into the caller's targets; a copy of each
 * flag's text is kept so the server can list its flags.
 */
#include "flags.h"

#include "mem.h"
#include "ph_error.h"
#include "timeparse.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct flags {
  const char *prog;
  const char *description;
  const flag_def_t *defs;
  size_t n;
  char **values; /* owned text of each flag's value */
};

static int set_value(flags_t *f, size_t i, const char *text, char *err,
                     size_t errlen) {
  const flag_def_t *d = &f->defs[i];
  switch (d->type) {
  case FLAG_STRING:
    *(const char **)d->target = text;
    break;
  case FLAG_BOOL:
    if (strcmp(text, "true") == 0) *(bool *)d->target = true;
    else if (strcmp(text, "false") == 0) *(bool *)d->target = false;
    else
      return ph_err(err, errlen, PH_EINVAL,
                    "strconv.ParseBool: parsing \"%s\": invalid syntax for --%s",
                    text, d->name);
    break;
  case FLAG_DURATION: {
    char derr[128];
    if (ph_parse_duration(text, strlen(text), (int64_t *)d->target, derr,
                          sizeof derr) != 0)
      return ph_err(err, errlen, PH_EINVAL, "%s for --%s", derr, d->name);
    break;
  }
  case FLAG_INT: {
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (*text == '\0' || *end != '\0' || errno != 0)
      return ph_err(err, errlen, PH_EINVAL,
                    "strconv.ParseInt: parsing \"%s\": invalid syntax for --%s",
                    text, d->name);
    *(int64_t *)d->target = v;
    break;
  }
  case FLAG_BYTES:
    if (flags_parse_bytes(text, (uint64_t *)d->target) != 0)
      return ph_err(err, errlen, PH_EINVAL,
                    "invalid size \"%s\" for --%s (e.g. 512MB, 10GB)", text,
                    d->name);
    break;
  }
  free(f->values[i]);
  f->values[i] = ph_strdup(text);
  return 0;
}

flags_t *flags_new(const char *prog, const char *description,
                   const flag_def_t *defs, size_t n) {
  flags_t *f = ph_calloc(1, sizeof(*f));
  f->prog = prog;
  f->description = description;
  f->defs = defs;
  f->n = n;
  f->values = ph_calloc(n, sizeof(char *));
  for (size_t i = 0; i < n; i++) {
    const char *dv = defs[i].defval;
    if (dv == NULL) dv = defs[i].type == FLAG_BOOL ? "false" : "";
    if (defs[i].type != FLAG_STRING && dv[0] == '\0') dv = "0";
    char err[256];
    if (set_value(f, i, dv, err, sizeof err) != 0) {
      fprintf(stderr, "bad default for --%s: %s\n", defs[i].name, err);
      abort();
    }
  }
  return f;
}

void flags_free(flags_t *f) {
  if (f == NULL) return;
  for (size_t i = 0; i < f->n; i++) free(f->values[i]);
  free(f->values);
  free(f);
}

static long find(const flags_t *f, const char *name, size_t len) {
  for (size_t i = 0; i < f->n; i++)
    if (strlen(f->defs[i].name) == len && strncmp(f->defs[i].name, name, len) == 0)
      return (long)i;
  return -1;
}

int flags_parse(flags_t *f, int argc, char **argv, bool *want_help,
                bool *want_version, char *err, size_t errlen) {
  *want_help = *want_version = false;
  for (int a = 1; a < argc; a++) {
    const char *arg = argv[a];
    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
      *want_help = true;
      continue;
    }
    if (strcmp(arg, "--version") == 0) {
      *want_version = true;
      continue;
    }
    if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
      if (arg[0] == '-' && arg[1] != '\0')
        return ph_err(err, errlen, PH_EINVAL, "unknown short flag '%s'", arg);
      return ph_err(err, errlen, PH_EINVAL, "unexpected %s", arg);
    }
    const char *name = arg + 2;
    const char *eq = strchr(name, '=');
    size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
    long i = find(f, name, nlen);
    bool negated = false;
    if (i < 0 && nlen > 3 && strncmp(name, "no-", 3) == 0 && eq == NULL) {
      i = find(f, name + 3, nlen - 3);
      if (i >= 0 && f->defs[i].type != FLAG_BOOL) i = -1;
      negated = i >= 0;
    }
    if (i < 0)
      return ph_err(err, errlen, PH_EINVAL, "unknown long flag '--%.*s'",
                    (int)nlen, name);
    const char *value;
    if (f->defs[i].type == FLAG_BOOL && eq == NULL) {
      value = negated ? "false" : "true";
    } else if (eq != NULL) {
      value = eq + 1;
    } else {
      if (a + 1 >= argc)
        return ph_err(err, errlen, PH_EINVAL, "expected argument for flag '--%s'",
                      f->defs[i].name);
      value = argv[++a];
    }
    int rc = set_value(f, (size_t)i, value, err, errlen);
    if (rc != 0) return rc;
  }
  return 0;
}

void flags_usage(const flags_t *f, FILE *out) {
  fprintf(out, "usage: %s [<flags>]\n\n%s\n\nFlags:\n", f->prog, f->description);
  fprintf(out, "  -h, --help                 Show context-sensitive help.\n");
  fprintf(out, "      --version              Show application version.\n");
  for (size_t i = 0; i < f->n; i++) {
    const flag_def_t *d = &f->defs[i];
    char left[160];
    if (d->type == FLAG_BOOL)
      snprintf(left, sizeof left, "--[no-]%s", d->name);
    else
      snprintf(left, sizeof left, "--%s=%s", d->name,
               d->type == FLAG_DURATION ? "DURATION"
               : d->type == FLAG_BYTES  ? "SIZE"
               : d->type == FLAG_INT    ? "INT"
                                        : "STRING");
    fprintf(out, "      %-26s %s", left, d->help);
    if (d->defval && d->defval[0] && d->type != FLAG_BOOL)
      fprintf(out, " (default: %s)", d->defval);
    fputc('\n', out);
  }
}

size_t flags_count(const flags_t *f) { return f->n; }

void flags_at(const flags_t *f, size_t i, const char **name, const char **value) {
  *name = f->defs[i].name;
  *value = f->values[i];
}

int flags_parse_bytes(const char *s, uint64_t *out) {
  if (*s == '\0') return PH_EPARSE;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (end == s || errno != 0 || *s == '-') return PH_EPARSE;
  static const struct { const char *unit; uint64_t mult; } units[] = {
      {"", 1},          {"B", 1},
      {"KB", 1ull << 10}, {"MB", 1ull << 20}, {"GB", 1ull << 30},
      {"TB", 1ull << 40}, {"PB", 1ull << 50}, {"EB", 1ull << 60},
      {"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30},
      {"TiB", 1ull << 40}, {"PiB", 1ull << 50},
  };
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    if (strcmp(end, units[i].unit) == 0) {
      if (units[i].mult != 0 && v > UINT64_MAX / units[i].mult) return PH_EPARSE;
      *out = (uint64_t)v * units[i].mult;
      return 0;
    }
  }
  return PH_EPARSE;
}
