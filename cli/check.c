/*
 * check.c - `pharosctl check config` and `pharosctl check metrics`.
 *
 * check config decodes each file as pharos does at start-up: the YAML is
 * loaded with common/ycfg (strict: unknown or repeated fields refused),
 * the scrape part (global scrape settings, scrape_configs,
 * scrape_config_files, relabel rules, static and file_sd targets) through
 * the collector's own decoder (collector/scrape_config.h), and the
 * sections pharos's server/config.c decodes itself (global's
 * evaluation_interval, storage.tsdb) with the same field lists.  Output
 * follows promtool:
 *
 *   Checking prometheus.yml
 *    SUCCESS: prometheus.yml is valid prometheus config file syntax
 *
 *   Checking bad.yml
 *     FAILED: bad.yml:3:3: field "scrape_intervl" not found in global ...
 *
 * (a blank line after each file; exit 1 if any file failed).  Only
 * server/config.c itself is authoritative: sections it decodes that this
 * file does not mirror yet are accepted here by name only.
 *
 * check metrics reads exposition text (format 0.0.4) on stdin, parses it
 * with collector/expfmt and lints it as promtool's promlint does.  A parse
 * error prints "error while linting: LINE:COL: message" and exits 1; lint
 * problems print "<metric> <problem>" lines on stderr, sorted, and exit 3.
 */
#include "cli.h"

#include "expfmt.h"
#include "mem.h"
#include "ph_error.h"
#include "scrape_config.h"
#include "ycfg.h"

#include <glob.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- check config ------------------------------------------------------------ */

/* The field lists of server/config.c (keep in step). */
static const char *const top_fields[] = {
    "global", "scrape_configs", "scrape_config_files", "rule_files", "alerting",
    "remote_write", "remote_read", "storage", "tracing", "runtime", "otlp", NULL};
static const char *const global_fields[] = {
    SCRAPE_CONFIG_GLOBAL_FIELDS, "evaluation_interval", "query_log_file",
    "rule_query_offset", NULL};
static const char *const storage_fields[] = {"tsdb", "exemplars", NULL};
static const char *const tsdb_fields[] = {"out_of_order_time_window", NULL};

typedef struct check_state {
  scrape_config_t *sc;
  const char *base_dir;
  size_t rule_files;
  bool syntax_only; /* skip what reads other files */
  char *err;
  size_t errlen;
} check_state_t;

static int decode_global(ycfg_t *c, const ynode_t *n, size_t idx, void *ud) {
  (void)idx;
  check_state_t *st = ud;
  int64_t eval = 0;
  int rc = ycfg_check_map(c, n, global_fields);
  if (rc == 0) rc = scrape_config_decode_global(c, n, st->sc);
  if (rc == 0) rc = ycfg_get_duration(c, n, "evaluation_interval", &eval);
  if (rc == 0) {
    const char *s = NULL;
    rc = ycfg_get_string(c, n, "query_log_file", &s);
  }
  if (rc == 0) rc = ycfg_get_duration(c, n, "rule_query_offset", &eval);
  return rc;
}

static int decode_tsdb(ycfg_t *c, const ynode_t *n, size_t idx, void *ud) {
  (void)idx;
  (void)ud;
  int64_t ooo = 0;
  int rc = ycfg_check_map(c, n, tsdb_fields);
  if (rc == 0) rc = ycfg_get_duration(c, n, "out_of_order_time_window", &ooo);
  return rc;
}

static int decode_storage(ycfg_t *c, const ynode_t *n, size_t idx, void *ud) {
  (void)idx;
  int rc = ycfg_check_map(c, n, storage_fields);
  if (rc == 0) rc = ycfg_get_field(c, n, "tsdb", decode_tsdb, ud);
  return rc;
}

/* rule_files: a list of globs relative to the config file's directory;
 * counts the files they match (their contents are not checked yet: pharos
 * has no rule evaluation). */
static int decode_rule_files(ycfg_t *c, const ynode_t *root, check_state_t *st) {
  const char **pats = NULL;
  size_t n = 0;
  int rc = ycfg_get_strings(c, root, "rule_files", &pats, &n);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    strbuf_t p = STRBUF_INIT;
    if (pats[i][0] != '/' && st->base_dir[0]) strbuf_printf(&p, "%s/", st->base_dir);
    strbuf_puts(&p, pats[i]);
    glob_t g;
    int gr = glob(p.data, 0, NULL, &g);
    if (gr == 0) st->rule_files += g.gl_pathc;
    globfree(&g);
    strbuf_free(&p);
  }
  return rc;
}

static int check_one(const char *path, check_state_t *st) {
  ydoc_t *doc = NULL;
  int rc = ydoc_load_file(path, &doc, st->err, st->errlen);
  if (rc != 0) return rc;
  ycfg_t *c = ycfg_new(doc, st->err, st->errlen);
  const ynode_t *root = ydoc_root(doc);
  rc = ycfg_check_map(c, root, top_fields);
  if (rc == 0) rc = ycfg_get_field(c, root, "global", decode_global, st);
  if (rc == 0) rc = ycfg_get_field(c, root, "storage", decode_storage, st);
  if (rc == 0) {
    const ynode_t *seq = ynode_map_get(root, "scrape_configs");
    if (seq != NULL) {
      size_t mark = ycfg_push_field(c, "scrape_configs");
      rc = scrape_config_decode_jobs(c, seq, st->sc);
      ycfg_pop(c, mark);
    }
  }
  if (rc == 0 && !st->syntax_only) {
    const ynode_t *files = ynode_map_get(root, "scrape_config_files");
    if (files != NULL) {
      size_t mark = ycfg_push_field(c, "scrape_config_files");
      rc = scrape_config_decode_files(c, files, st->sc, st->err, st->errlen);
      ycfg_pop(c, mark);
    }
  }
  if (rc == 0 && !st->syntax_only) rc = decode_rule_files(c, root, st);
  ycfg_free(c);
  ydoc_free(doc);
  return rc;
}

int cli_check_config(const cli_cmd_t *cmd, int argc, char **argv) {
  bool syntax_only = false;
  const cli_opt_t opts[] = {
      {"syntax-only", 0, CLI_OPT_BOOL, NULL,
       "Only check the config file syntax, ignoring file and content validation "
       "referenced in the config.", &syntax_only},
  };
  /* one or more files: collect positionals by hand after option parsing */
  char err[1024];
  bool help;
  size_t npos;
  const char **pos = ph_calloc((size_t)argc, sizeof(*pos));
  cli_arg_t *args = ph_calloc((size_t)argc, sizeof(*args));
  for (int i = 0; i < argc; i++) args[i] = (cli_arg_t){"config-files", "", i > 0};
  int rc = cli_parse_args(opts, 1, args, (size_t)argc, argc, argv, pos, &npos, &help, err,
                          sizeof err);
  free(args);
  if (rc != 0 || help) {
    free(pos);
    if (rc != 0) return cli_usage_error(err);
    cli_usage(stdout, cmd, opts, 1);
    return 0;
  }
  int status = 0;
  for (size_t i = 0; i < npos; i++) {
    printf("Checking %s\n", pos[i]);
    fflush(stdout);
    char *dir = ph_strdup(pos[i]);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    else dir[0] = '\0';
    check_state_t st = {scrape_config_new(), dir, 0, syntax_only, err, sizeof err};
    scrape_config_set_base_dir(st.sc, dir[0] ? dir : (pos[i][0] == '/' ? "/" : ""));
    err[0] = '\0';
    rc = check_one(pos[i], &st);
    scrape_config_unref(st.sc);
    free(dir);
    if (rc != 0) {
      fprintf(stderr, "  FAILED: %s\n", err);
      fflush(stderr);
      status = 1;
    } else {
      if (st.rule_files > 0) printf("  SUCCESS: %zu rule files found\n", st.rule_files);
      printf(" SUCCESS: %s is valid prometheus config file syntax\n", pos[i]);
    }
    printf("\n");
    fflush(stdout);
  }
  free(pos);
  return status;
}

/* ---- check metrics --------------------------------------------------------------- */

typedef struct family {
  char *name;
  expfmt_type_t type;
  bool help;          /* a non-empty HELP line */
  bool camel_labels;  /* a label name in camelCase */
} family_t;

typedef struct problem {
  char *metric;
  const char *text;
} problem_t;

typedef struct lint {
  family_t *fams;
  size_t nfams, fams_cap;
  cli_counts_t index;   /* family name -> index + 1 */
  cli_counts_t samples; /* formatted series -> occurrences */
  cli_counts_t dups;    /* families with a repeated series */
  size_t cur;           /* family of the last HELP/TYPE line, or SIZE_MAX */
} lint_t;

static size_t family_get(lint_t *l, const char *name, size_t len) {
  uint64_t i = cli_counts_get(&l->index, name, len);
  if (i) return (size_t)(i - 1);
  ph_grow(&l->fams, &l->fams_cap, l->nfams + 1);
  l->fams[l->nfams] = (family_t){ph_strndup(name, len), EXPFMT_TYPE_UNKNOWN, false, false};
  cli_counts_add(&l->index, name, len, l->nfams + 1);
  return l->nfams++;
}

static bool has_suffix(const char *s, size_t len, const char *suf) {
  size_t sl = strlen(suf);
  return len >= sl && memcmp(s + len - sl, suf, sl) == 0;
}

static bool camel(const char *s, size_t len) {
  for (size_t i = 0; i + 1 < len; i++)
    if (s[i] >= 'a' && s[i] <= 'z' && s[i + 1] >= 'A' && s[i + 1] <= 'Z') return true;
  return false;
}

/* The family a sample belongs to: the current HELP/TYPE family when the
 * name is its name or its name plus a suffix of its type, else its own. */
static size_t sample_family(lint_t *l, const expfmt_entry_t *e) {
  if (l->cur != SIZE_MAX) {
    family_t *f = &l->fams[l->cur];
    size_t fl = strlen(f->name);
    if (e->name.len == fl && memcmp(e->name.ptr, f->name, fl) == 0) return l->cur;
    if (e->name.len > fl && memcmp(e->name.ptr, f->name, fl) == 0) {
      const char *suf = e->name.ptr + fl;
      size_t sl = e->name.len - fl;
      bool hist = f->type == EXPFMT_TYPE_HISTOGRAM || f->type == EXPFMT_TYPE_GAUGEHISTOGRAM;
      bool sum = f->type == EXPFMT_TYPE_SUMMARY;
      if ((hist || sum) && ((sl == 4 && memcmp(suf, "_sum", 4) == 0) ||
                            (sl == 6 && memcmp(suf, "_count", 6) == 0)))
        return l->cur;
      if (hist && sl == 7 && memcmp(suf, "_bucket", 7) == 0) return l->cur;
    }
  }
  return family_get(l, e->name.ptr, e->name.len);
}

static void add_problem(problem_t **ps, size_t *n, size_t *cap, const char *metric,
                        const char *text) {
  ph_grow(ps, cap, *n + 1);
  (*ps)[(*n)++] = (problem_t){ph_strdup(metric), text};
}

static int cmp_problem(const void *a, const void *b) {
  const problem_t *x = a, *y = b;
  int c = strcmp(x->metric, y->metric);
  return c ? c : strcmp(x->text, y->text);
}

int cli_check_metrics(const cli_cmd_t *cmd, int argc, char **argv) {
  bool extended = false;
  const cli_opt_t opts[] = {
      {"extended", 0, CLI_OPT_BOOL, NULL,
       "Print extended information related to the cardinality of the metrics.", &extended},
  };
  char err[512];
  bool help;
  size_t npos;
  if (cli_parse_args(opts, 1, NULL, 0, argc, argv, NULL, &npos, &help, err, sizeof err) != 0)
    return cli_usage_error(err);
  if (help) {
    cli_usage(stdout, cmd, opts, 1);
    return 0;
  }
  if (isatty(STDIN_FILENO))
    fprintf(stderr, "reading metrics from stdin (Ctrl-D to end)...\n");
  strbuf_t in = STRBUF_INIT;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) strbuf_append(&in, buf, n);

  lint_t l = {.cur = SIZE_MAX};
  cli_counts_init(&l.index);
  cli_counts_init(&l.samples);
  cli_counts_init(&l.dups);
  cli_counts_t card;  /* --extended: series per family */
  cli_counts_init(&card);
  expfmt_parser_t *p = expfmt_parser_new(in.data ? in.data : "", in.len, EXPFMT_FORMAT_TEXT);
  expfmt_entry_t e;
  int rc;
  strbuf_t key = STRBUF_INIT;
  while ((rc = expfmt_parser_next(p, &e)) > 0) {
    if (rc == EXPFMT_HELP || rc == EXPFMT_TYPE) {
      l.cur = family_get(&l, e.name.ptr, e.name.len);
      if (rc == EXPFMT_HELP && e.text.len > 0) l.fams[l.cur].help = true;
      if (rc == EXPFMT_TYPE) l.fams[l.cur].type = e.type;
      continue;
    }
    if (rc != EXPFMT_SERIES) continue;
    size_t fi = sample_family(&l, &e);
    family_t *f = &l.fams[fi];
    for (size_t i = 0; i < e.nlabels; i++)
      if (camel(e.labels[i].name.ptr, e.labels[i].name.len)) f->camel_labels = true;
    /* the series as a sorted label set, for the uniqueness check */
    label_t *pairs = ph_calloc(e.nlabels + 1, sizeof(*pairs));
    char **copies = ph_calloc(2 * e.nlabels + 1, sizeof(*copies));
    copies[0] = ph_strndup(e.name.ptr, e.name.len);
    pairs[0] = (label_t){"__name__", copies[0]};
    for (size_t i = 0; i < e.nlabels; i++) {
      copies[1 + 2 * i] = ph_strndup(e.labels[i].name.ptr, e.labels[i].name.len);
      copies[2 + 2 * i] = ph_strndup(e.labels[i].value.ptr, e.labels[i].value.len);
      pairs[1 + i] = (label_t){copies[1 + 2 * i], copies[2 + 2 * i]};
    }
    labels_t *ls = labels_new(NULL, pairs, e.nlabels + 1, NULL, 0);
    for (size_t i = 0; i < 2 * e.nlabels + 1; i++) free(copies[i]);
    free(copies);
    free(pairs);
    if (ls != NULL) {
      strbuf_reset(&key);
      labels_format_braces(ls, &key);
      if (cli_counts_add(&l.samples, key.data, key.len, 1) == 2)
        cli_counts_add(&l.dups, f->name, strlen(f->name), 1);
      labels_free(ls);
    }
    cli_counts_add(&card, f->name, strlen(f->name), 1);
  }
  strbuf_free(&key);
  int status = 0;
  if (rc < 0) {
    fprintf(stderr, "error while linting: %s\n", expfmt_parser_error(p));
    status = 1;
  } else {
    problem_t *ps = NULL;
    size_t np = 0, pcap = 0;
    for (size_t i = 0; i < l.nfams; i++) {
      family_t *f = &l.fams[i];
      size_t len = strlen(f->name);
      if (!f->help) add_problem(&ps, &np, &pcap, f->name, "no help text");
      if (f->type == EXPFMT_TYPE_COUNTER && !has_suffix(f->name, len, "_total"))
        add_problem(&ps, &np, &pcap, f->name, "counter metrics should have \"_total\" suffix");
      if (f->type != EXPFMT_TYPE_COUNTER && has_suffix(f->name, len, "_total"))
        add_problem(&ps, &np, &pcap, f->name,
                    "non-counter metrics should not have \"_total\" suffix");
      if (camel(f->name, len))
        add_problem(&ps, &np, &pcap, f->name,
                    "metric names should be written in 'snake_case' not 'camelCase'");
      if (f->camel_labels)
        add_problem(&ps, &np, &pcap, f->name,
                    "label names should be written in 'snake_case' not 'camelCase'");
      if (memchr(f->name, ':', len))
        add_problem(&ps, &np, &pcap, f->name, "metric names should not contain ':'");
      if (cli_counts_get(&l.dups, f->name, len))
        add_problem(&ps, &np, &pcap, f->name, "metric not unique");
    }
    if (np > 1) qsort(ps, np, sizeof(*ps), cmp_problem);
    for (size_t i = 0; i < np; i++) {
      fprintf(stderr, "%s %s\n", ps[i].metric, ps[i].text);
      free(ps[i].metric);
    }
    free(ps);
    if (extended) {
      cli_count_entry_t *top;
      size_t nt = cli_counts_top(&card, 0, &top);
      uint64_t total = 0;
      for (size_t i = 0; i < nt; i++) total += top[i].val;
      cli_table_t t;
      cli_table_init(&t);
      const char *hdr[] = {"Metric", "Cardinality", "Percentage", ""};
      cli_table_row(&t, hdr, 4);
      for (size_t i = 0; i < nt; i++) {
        char cnt[32], pct[32];
        snprintf(cnt, sizeof cnt, "%" PRIu64, top[i].val);
        snprintf(pct, sizeof pct, "%.2f%%",
                 total ? 100.0 * (double)top[i].val / (double)total : 0.0);
        const char *row[] = {top[i].key, cnt, pct, ""};
        cli_table_row(&t, row, 4);
      }
      strbuf_t tb = STRBUF_INIT;
      cli_table_render(&t, 4, 4, &tb);
      fputs(strbuf_cstr(&tb), stdout);
      strbuf_free(&tb);
      cli_table_free(&t);
      free(top);
    }
    if (np > 0) status = 3;
  }
  expfmt_parser_free(p);
  for (size_t i = 0; i < l.nfams; i++) free(l.fams[i].name);
  free(l.fams);
  cli_counts_free(&l.index);
  cli_counts_free(&l.samples);
  cli_counts_free(&l.dups);
  cli_counts_free(&card);
  strbuf_free(&in);
  return status;
}
