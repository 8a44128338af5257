/*
 * args.c - pharosctl's per-command argument parsing and help, worded like
 * kingpin (the library promtool uses).
 *
 * common/flags.h serves the daemons (one flat flag set, no positionals);
 * a command line tool needs positionals, short options (-o json) and
 * repeatable options (--match a --match b), hence this small parser.
 * Values point into argv, so nothing is copied except the arrays of
 * repeatable options.
 */
#include "cli.h"

#include "mem.h"
#include "ph_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cli_globals_t cli_globals = {NULL, NULL, NULL};

void cli_strv_free(cli_strv_t *s) {
  free(s->v);
  memset(s, 0, sizeof *s);
}

static int set_opt(const cli_opt_t *o, const char *value) {
  if (o->type == CLI_OPT_STRING) {
    *(const char **)o->target = value;
  } else if (o->type == CLI_OPT_MULTI) {
    cli_strv_t *s = o->target;
    ph_grow(&s->v, &s->cap, s->n + 1);
    s->v[s->n++] = value;
  }
  return 0;
}

int cli_parse_args(const cli_opt_t *opts, size_t nopts, const cli_arg_t *args,
                   size_t nargs, int argc, char **argv, const char **pos,
                   size_t *npos, bool *help, char *err, size_t errlen) {
  *npos = 0;
  *help = false;
  bool only_pos = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!only_pos && strcmp(a, "--") == 0) {
      only_pos = true;
      continue;
    }
    if (!only_pos && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
      *help = true;
      return 0;
    }
    if (!only_pos && a[0] == '-' && a[1] == '-') {
      const char *name = a + 2;
      const char *eq = strchr(name, '=');
      size_t nl = eq ? (size_t)(eq - name) : strlen(name);
      const cli_opt_t *o = NULL;
      bool negated = false;
      for (size_t k = 0; k < nopts && o == NULL; k++) {
        if (strlen(opts[k].name) == nl && strncmp(opts[k].name, name, nl) == 0) o = &opts[k];
        else if (opts[k].type == CLI_OPT_BOOL && nl == strlen(opts[k].name) + 3 &&
                 strncmp(name, "no-", 3) == 0 &&
                 strncmp(name + 3, opts[k].name, nl - 3) == 0) {
          o = &opts[k];
          negated = true;
        }
      }
      if (o == NULL)
        return ph_err(err, errlen, PH_EINVAL, "unknown long flag '--%.*s'", (int)nl, name);
      if (o->type == CLI_OPT_BOOL) {
        bool v = !negated;
        if (eq) {
          if (strcmp(eq + 1, "true") == 0) v = !negated;
          else if (strcmp(eq + 1, "false") == 0) v = negated;
          else
            return ph_err(err, errlen, PH_EINVAL,
                          "strconv.ParseBool: parsing \"%s\": invalid syntax", eq + 1);
        }
        *(bool *)o->target = v;
        continue;
      }
      const char *value = eq ? eq + 1 : NULL;
      if (value == NULL) {
        if (i + 1 >= argc)
          return ph_err(err, errlen, PH_EINVAL, "expected argument for flag '--%s'", o->name);
        value = argv[++i];
      }
      set_opt(o, value);
      continue;
    }
    if (!only_pos && a[0] == '-' && a[1] != '\0') {
      const cli_opt_t *o = NULL;
      for (size_t k = 0; k < nopts && o == NULL; k++)
        if (opts[k].short_name == a[1]) o = &opts[k];
      if (o == NULL) return ph_err(err, errlen, PH_EINVAL, "unknown short flag '-%c'", a[1]);
      if (o->type == CLI_OPT_BOOL) {
        if (a[2] != '\0')
          return ph_err(err, errlen, PH_EINVAL, "unknown short flag '-%c'", a[2]);
        *(bool *)o->target = true;
        continue;
      }
      const char *value = a[2] ? a + 2 : NULL;
      if (value == NULL) {
        if (i + 1 >= argc)
          return ph_err(err, errlen, PH_EINVAL, "expected argument for flag '-%c'", a[1]);
        value = argv[++i];
      }
      set_opt(o, value);
      continue;
    }
    bool variadic = nargs > 0 && args[nargs - 1].variadic;
    if (*npos >= nargs && !variadic) return ph_err(err, errlen, PH_EINVAL, "unexpected %s", a);
    pos[(*npos)++] = a;
  }
  for (size_t k = *npos; k < nargs; k++)
    if (!args[k].optional)
      return ph_err(err, errlen, PH_EINVAL, "required argument '%s' not provided",
                    args[k].name);
  return 0;
}

/* Writes text wrapped at width 80 with continuation lines indented by
 * indent columns (the first line is assumed to start at column col). */
static void wrap(FILE *out, const char *text, size_t col, size_t indent) {
  const size_t width = 80;
  const char *p = text;
  while (*p) {
    const char *sp = strchr(p, ' ');
    size_t wl = sp ? (size_t)(sp - p) : strlen(p);
    if (col > indent && col + 1 + wl > width) {
      fprintf(out, "\n%*s", (int)indent, "");
      col = indent;
    } else if (col > indent) {
      fputc(' ', out);
      col++;
    }
    fwrite(p, 1, wl, out);
    col += wl;
    p += wl;
    while (*p == ' ') p++;
  }
  fputc('\n', out);
}

void cli_usage(FILE *out, const cli_cmd_t *cmd, const cli_opt_t *opts,
               size_t nopts) {
  fprintf(out, "usage: pharosctl %s [<flags>]", cmd->name);
  for (size_t i = 0; i < cmd->nargs; i++)
    fprintf(out, cmd->args[i].optional ? " [<%s>%s]" : " <%s>%s", cmd->args[i].name,
            cmd->args[i].variadic ? "..." : "");
  fprintf(out, "\n\n%s\n\nFlags:\n", cmd->help);
  /* flag column: "  -h, --help" etc. */
  char lhs[128];
  size_t w = strlen("  -h, --help");
  for (size_t i = 0; i < nopts; i++) {
    int n = snprintf(lhs, sizeof lhs, "  %c%c%c --%s%s%s", opts[i].short_name ? '-' : ' ',
                     opts[i].short_name ? opts[i].short_name : ' ',
                     opts[i].short_name ? ',' : ' ', opts[i].name,
                     opts[i].metavar ? "=" : "", opts[i].metavar ? opts[i].metavar : "");
    if ((size_t)n > w) w = (size_t)n;
  }
  w += 2;
  fprintf(out, "%-*s", (int)w, "  -h, --help");
  wrap(out, "Show context-sensitive help.", w, w);
  for (size_t i = 0; i < nopts; i++) {
    snprintf(lhs, sizeof lhs, "  %c%c%c --%s%s%s", opts[i].short_name ? '-' : ' ',
             opts[i].short_name ? opts[i].short_name : ' ', opts[i].short_name ? ',' : ' ',
             opts[i].name, opts[i].metavar ? "=" : "",
             opts[i].metavar ? opts[i].metavar : "");
    fprintf(out, "%-*s", (int)w, lhs);
    wrap(out, opts[i].help, w, w);
  }
  if (cmd->nargs > 0) {
    size_t aw = 0;
    for (size_t i = 0; i < cmd->nargs; i++)
      if (strlen(cmd->args[i].name) + 4 > aw) aw = strlen(cmd->args[i].name) + 4;
    fprintf(out, "\nArgs:\n");
    for (size_t i = 0; i < cmd->nargs; i++) {
      char a[96];
      snprintf(a, sizeof a, cmd->args[i].optional ? "  [<%s>]" : "  <%s>", cmd->args[i].name);
      fprintf(out, "%-*s", (int)(aw + 4), a);
      wrap(out, cmd->args[i].help, aw + 4, aw + 4);
    }
  }
}

int cli_usage_error(const char *msg) {
  fprintf(stderr, "pharosctl: error: %s, try --help\n", msg);
  return CLI_EXIT_USAGE;
}
