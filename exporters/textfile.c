/*
 * textfile.c - the textfile collector: re-exports the metrics of the *.prom
 * files in each --collector.textfile.directory (a directory or a glob of
 * directories), as node_exporter 1.9 does:
 *
 *   - each file is parsed with the text format 0.0.4 rules of Go's
 *     expfmt.TextParser (HELP/TYPE lines, samples with optional labels,
 *     summaries grouped by their labels without "quantile", histograms
 *     without "le", _sum/_count/_bucket attributed to their family); a
 *     file that fails to parse or carries client-side timestamps is
 *     skipped whole and sets node_textfile_scrape_error 1;
 *   - within a file's family every sample gets the union of the family's
 *     label names (missing ones empty);
 *   - a family in several files keeps the first file's help text; another
 *     non-empty help is an error (that file's family is dropped); families
 *     without help get "Metric read from <file>[, <file>…]";
 *   - node_textfile_mtime_seconds{file} (whole seconds) for every file
 *     read, node_textfile_scrape_error.
 *
 * Paths are joined and cleaned like Go's filepath.Join, so the file label
 * and help text read exactly as node_exporter's.
 */
#include "exporter_int.h"

#include "log.h"
#include "mem.h"
#include "ph_error.h"

#include <dirent.h>
#include <glob.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const exporter_flag_t textfile_flags[] = {
    {"collector.textfile.directory", FLAG_STRINGS, NULL,
     "Directory to read text files with metrics from, supports glob matching. (repeatable)"},
    {NULL, 0, NULL, NULL},
};

/* ---- the parsed model (all in the scrape arena) ---- */

typedef struct tf_label {
  const char *name, *value;
} tf_label_t;

typedef struct tf_metric {
  tf_label_t *labels; /* without quantile / le */
  size_t nlabels;
  double value;                 /* counter/gauge/untyped */
  double sum, count;            /* summary/histogram */
  double *q, *qv;               /* quantiles or bucket bounds, values */
  size_t nq, capq;
  bool has_ts;
  struct tf_metric *next;
} tf_metric_t;

typedef struct tf_family {
  const char *name;
  const char *help; /* NULL: none given (or empty) */
  expo_type_t type;
  bool typed;
  tf_metric_t *first, *last;
  struct tf_family *next;
  const char *file; /* where it was read */
} tf_family_t;

typedef struct tf_parser {
  collect_ctx_t *c;
  tf_family_t *fams, *last;
  char err[256];
} tf_parser_t;

static tf_family_t *find_family(tf_parser_t *p, const char *name) {
  for (tf_family_t *f = p->fams; f; f = f->next)
    if (strcmp(f->name, name) == 0) return f;
  return NULL;
}

static tf_family_t *get_family(tf_parser_t *p, const char *name) {
  tf_family_t *f = find_family(p, name);
  if (f) return f;
  f = arena_calloc(p->c->arena, 1, sizeof(*f));
  ph_assert(f != NULL);
  f->name = cc_strdup(p->c, name);
  f->type = EXPO_UNTYPED;
  if (p->last)
    p->last->next = f;
  else
    p->fams = f;
  p->last = f;
  return f;
}

static bool name_start(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' || ch == ':';
}
static bool name_char(char ch) { return name_start(ch) || (ch >= '0' && ch <= '9'); }

static int perr(tf_parser_t *p, int line, const char *msg) {
  snprintf(p->err, sizeof(p->err), "text format parsing error in line %d: %s", line, msg);
  return PH_EPARSE;
}

/* Reads a metric or label name at *s. */
static char *read_name(char **s, bool metric) {
  char *start = *s;
  if (!name_start(**s) || (!metric && **s == ':')) return NULL;
  while (name_char(**s) && (metric || **s != ':')) (*s)++;
  return start;
}

static void skip_blank(char **s) {
  while (**s == ' ' || **s == '\t') (*s)++;
}

static bool unescape_help(char *s) {
  char *o = s;
  for (char *p = s; *p; p++) {
    if (*p == '\\') {
      if (p[1] == '\\') *o++ = '\\', p++;
      else if (p[1] == 'n') *o++ = '\n', p++;
      else return false;
    } else {
      *o++ = *p;
    }
  }
  *o = '\0';
  return true;
}

/* Go's strconv.ParseFloat as used by the parser. */
static bool parse_value(const char *s, double *v) {
  if (strcmp(s, "+Inf") == 0 || strcmp(s, "Inf") == 0 || strcmp(s, "+inf") == 0 ||
      strcmp(s, "inf") == 0) {
    *v = INFINITY;
    return true;
  }
  if (strcmp(s, "-Inf") == 0 || strcmp(s, "-inf") == 0) {
    *v = -INFINITY;
    return true;
  }
  return ph_parse_double(s, v);
}

typedef struct sample_line {
  char *name;
  tf_label_t labels[64];
  size_t nlabels;
  double value;
  bool has_ts;
} sample_line_t;

static int parse_sample(tf_parser_t *p, int ln, char *s, sample_line_t *out) {
  out->nlabels = 0;
  out->has_ts = false;
  char *name = read_name(&s, true);
  if (name == NULL) return perr(p, ln, "invalid metric name");
  char *name_end = s;
  skip_blank(&s);
  if (*s == '{') {
    *name_end = '\0';
    s++;
    for (;;) {
      skip_blank(&s);
      if (*s == '}') {
        s++;
        break;
      }
      char *ln_start = read_name(&s, false);
      if (ln_start == NULL) return perr(p, ln, "invalid label name");
      char *ln_end = s;
      skip_blank(&s);
      if (*s != '=') return perr(p, ln, "expected '=' after label name");
      *ln_end = '\0';
      s++;
      skip_blank(&s);
      if (*s != '"') return perr(p, ln, "expected '\"' at start of label value");
      s++;
      char *val = s, *o = s;
      while (*s && *s != '"') {
        if (*s == '\\') {
          if (s[1] == '\\') *o++ = '\\';
          else if (s[1] == '"') *o++ = '"';
          else if (s[1] == 'n') *o++ = '\n';
          else return perr(p, ln, "invalid escape sequence");
          s += 2;
        } else {
          *o++ = *s++;
        }
      }
      if (*s != '"') return perr(p, ln, "unterminated label value");
      s++;
      *o = '\0';
      for (size_t k = 0; k < out->nlabels; k++)
        if (strcmp(out->labels[k].name, ln_start) == 0)
          return perr(p, ln, "duplicate label name");
      if (out->nlabels == 64) return perr(p, ln, "too many labels");
      out->labels[out->nlabels].name = ln_start;
      out->labels[out->nlabels].value = val;
      out->nlabels++;
      skip_blank(&s);
      if (*s == ',') {
        s++;
        continue;
      }
      if (*s == '}') {
        s++;
        break;
      }
      return perr(p, ln, "unexpected end of label value");
    }
  } else {
    if (*name_end != ' ' && *name_end != '\t' && *name_end != '\0')
      return perr(p, ln, "invalid metric name");
    *name_end = '\0';
  }
  skip_blank(&s);
  char *f[3];
  size_t nf = ph_fields(s, f, 3);
  if (nf == 0) return perr(p, ln, "expected value after metric");
  if (nf > 2) return perr(p, ln, "spurious string after timestamp");
  if (!parse_value(f[0], &out->value)) return perr(p, ln, "expected float as value");
  if (nf == 2) {
    int64_t ts;
    if (!ph_parse_i64(f[1], &ts)) return perr(p, ln, "expected integer as timestamp");
    out->has_ts = true;
  }
  out->name = name;
  return 0;
}

static bool same_labels(const tf_metric_t *m, const tf_label_t *l, size_t n) {
  if (m->nlabels != n) return false;
  for (size_t i = 0; i < n; i++) {
    bool found = false;
    for (size_t k = 0; k < m->nlabels && !found; k++)
      found = strcmp(m->labels[k].name, l[i].name) == 0 &&
              strcmp(m->labels[k].value, l[i].value) == 0;
    if (!found) return false;
  }
  return true;
}

static tf_metric_t *new_metric(tf_parser_t *p, tf_family_t *f, const tf_label_t *l, size_t n) {
  tf_metric_t *m = arena_calloc(p->c->arena, 1, sizeof(*m));
  ph_assert(m != NULL);
  m->labels = arena_calloc(p->c->arena, n ? n : 1, sizeof(tf_label_t));
  ph_assert(m->labels != NULL);
  for (size_t i = 0; i < n; i++) {
    m->labels[i].name = cc_strdup(p->c, l[i].name);
    m->labels[i].value = cc_strdup(p->c, l[i].value);
  }
  m->nlabels = n;
  if (f->last)
    f->last->next = m;
  else
    f->first = m;
  f->last = m;
  return m;
}

static void push_q(tf_parser_t *p, tf_metric_t *m, double q, double v) {
  if (m->nq == m->capq) {
    size_t ncap = m->capq ? m->capq * 2 : 8;
    double *nq = arena_alloc(p->c->arena, ncap * sizeof(double));
    double *nv = arena_alloc(p->c->arena, ncap * sizeof(double));
    ph_assert(nq != NULL && nv != NULL);
    if (m->nq) {
      memcpy(nq, m->q, m->nq * sizeof(double));
      memcpy(nv, m->qv, m->nq * sizeof(double));
    }
    m->q = nq;
    m->qv = nv;
    m->capq = ncap;
  }
  /* a repeated bound/quantile replaces the earlier one (Go map) */
  for (size_t i = 0; i < m->nq; i++)
    if (m->q[i] == q) {
      m->qv[i] = v;
      return;
    }
  m->q[m->nq] = q;
  m->qv[m->nq++] = v;
}

static bool has_suffix(const char *s, const char *suf, size_t *base) {
  size_t n = strlen(s), k = strlen(suf);
  if (n <= k || strcmp(s + n - k, suf) != 0) return false;
  *base = n - k;
  return true;
}

static int add_sample(tf_parser_t *p, int ln, sample_line_t *sl) {
  /* summary/histogram members first */
  static const char *const sufs[] = {"_sum", "_count", "_bucket"};
  for (int k = 0; k < 3; k++) {
    size_t base;
    if (!has_suffix(sl->name, sufs[k], &base)) continue;
    char fname[512];
    snprintf(fname, sizeof(fname), "%.*s", (int)base, sl->name);
    tf_family_t *f = find_family(p, fname);
    if (f == NULL || (f->type != EXPO_SUMMARY && f->type != EXPO_HISTOGRAM)) continue;
    if (k == 2 && f->type != EXPO_HISTOGRAM) continue;
    tf_label_t lab[64];
    size_t n = 0;
    const char *le = NULL;
    for (size_t i = 0; i < sl->nlabels; i++) {
      if (k == 2 && strcmp(sl->labels[i].name, "le") == 0)
        le = sl->labels[i].value;
      else
        lab[n++] = sl->labels[i];
    }
    tf_metric_t *m = NULL;
    for (tf_metric_t *x = f->first; x && !m; x = x->next)
      if (same_labels(x, lab, n)) m = x;
    if (m == NULL) m = new_metric(p, f, lab, n);
    m->has_ts |= sl->has_ts;
    if (k == 0) m->sum = sl->value;
    else if (k == 1) m->count = (double)(uint64_t)sl->value;
    else {
      double bound;
      if (le == NULL || !parse_value(le, &bound)) return perr(p, ln, "invalid le label");
      push_q(p, m, bound, (double)(uint64_t)sl->value);
    }
    return 0;
  }
  tf_family_t *f = get_family(p, sl->name);
  if (f->type == EXPO_SUMMARY) {
    tf_label_t lab[64];
    size_t n = 0;
    const char *qs = NULL;
    for (size_t i = 0; i < sl->nlabels; i++) {
      if (strcmp(sl->labels[i].name, "quantile") == 0)
        qs = sl->labels[i].value;
      else
        lab[n++] = sl->labels[i];
    }
    double q;
    if (qs == NULL || !parse_value(qs, &q)) return perr(p, ln, "invalid quantile label");
    tf_metric_t *m = NULL;
    for (tf_metric_t *x = f->first; x && !m; x = x->next)
      if (same_labels(x, lab, n)) m = x;
    if (m == NULL) m = new_metric(p, f, lab, n);
    m->has_ts |= sl->has_ts;
    push_q(p, m, q, sl->value);
    return 0;
  }
  if (f->type == EXPO_HISTOGRAM) return perr(p, ln, "histogram sample without suffix");
  tf_metric_t *m = new_metric(p, f, sl->labels, sl->nlabels);
  m->value = sl->value;
  m->has_ts = sl->has_ts;
  return 0;
}

static int parse_text(tf_parser_t *p, char *data) {
  char *line;
  int ln = 0;
  while ((line = ph_next_line(&data)) != NULL) {
    ln++;
    char *s = line;
    skip_blank(&s);
    if (*s == '\0') continue;
    if (*s == '#') {
      s++;
      skip_blank(&s);
      bool help = strncmp(s, "HELP", 4) == 0 && (s[4] == ' ' || s[4] == '\t');
      bool type = strncmp(s, "TYPE", 4) == 0 && (s[4] == ' ' || s[4] == '\t');
      if (!help && !type) continue; /* a comment */
      s += 4;
      skip_blank(&s);
      char *name = read_name(&s, true);
      if (name == NULL) return perr(p, ln, "invalid metric name in comment");
      char *end = s;
      if (*s != '\0' && *s != ' ' && *s != '\t') return perr(p, ln, "invalid metric name in comment");
      skip_blank(&s);
      *end = '\0';
      tf_family_t *f = get_family(p, name);
      if (help) {
        if (f->help != NULL) return perr(p, ln, "second HELP line for metric name");
        if (!unescape_help(s)) return perr(p, ln, "invalid escape sequence in HELP");
        f->help = cc_strdup(p->c, s);
      } else {
        if (f->typed) return perr(p, ln, "second TYPE line for metric name");
        if (f->first) return perr(p, ln, "TYPE line after samples");
        char *t = ph_trim(s);
        if (strcmp(t, "counter") == 0) f->type = EXPO_COUNTER;
        else if (strcmp(t, "gauge") == 0) f->type = EXPO_GAUGE;
        else if (strcmp(t, "untyped") == 0) f->type = EXPO_UNTYPED;
        else if (strcmp(t, "summary") == 0) f->type = EXPO_SUMMARY;
        else if (strcmp(t, "histogram") == 0) f->type = EXPO_HISTOGRAM;
        else return perr(p, ln, "unknown metric type");
        f->typed = true;
      }
      continue;
    }
    sample_line_t sl;
    int rc = parse_sample(p, ln, s, &sl);
    if (rc < 0) return rc;
    rc = add_sample(p, ln, &sl);
    if (rc < 0) return rc;
  }
  return 0;
}

/* ---- paths ---- */

/* Go's filepath.Clean on a relative or absolute path, in place. */
static void clean_path(char *path) {
  bool abs = path[0] == '/';
  char *parts[512];
  size_t n = 0;
  char *save = NULL;
  char buf[PATH_MAX];
  snprintf(buf, sizeof(buf), "%s", path);
  for (char *t = strtok_r(buf, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
    if (strcmp(t, ".") == 0) continue;
    if (strcmp(t, "..") == 0) {
      if (n > 0 && strcmp(parts[n - 1], "..") != 0) {
        n--;
        continue;
      }
      if (abs) continue;
    }
    if (n < 512) parts[n++] = t;
  }
  size_t k = 0;
  char out[PATH_MAX];
  if (abs) out[k++] = '/';
  for (size_t i = 0; i < n && k < sizeof(out) - 1; i++) {
    if (i > 0) out[k++] = '/';
    size_t l = strlen(parts[i]);
    if (k + l >= sizeof(out)) break;
    memcpy(out + k, parts[i], l);
    k += l;
  }
  if (k == 0) out[k++] = '.';
  out[k] = '\0';
  strcpy(path, out);
}

typedef struct tf_file {
  const char *path;
  tf_family_t *fams;
  double mtime;
  bool ok;
} tf_file_t;

static int textfile_collect(collect_ctx_t *c, void *state) {
  (void)state;
  const char *const *dirs;
  size_t ndirs = exporter_options_get_all(c->opts, "collector.textfile.directory", &dirs);
  bool errored = false;
  size_t nfiles = 0, capfiles = 16;
  tf_file_t *files = arena_calloc(c->arena, capfiles, sizeof(*files));
  ph_assert(files != NULL);
  for (size_t d = 0; d < ndirs; d++) {
    /* a glob of directories, else the path itself */
    glob_t g;
    memset(&g, 0, sizeof(g));
    size_t npaths = 0;
    const char **paths;
    if (glob(dirs[d], 0, NULL, &g) == 0 && g.gl_pathc > 0) {
      npaths = g.gl_pathc;
      paths = arena_alloc(c->arena, npaths * sizeof(char *));
      ph_assert(paths != NULL);
      for (size_t i = 0; i < npaths; i++) paths[i] = cc_strdup(c, g.gl_pathv[i]);
    } else {
      npaths = 1;
      paths = arena_alloc(c->arena, sizeof(char *));
      ph_assert(paths != NULL);
      paths[0] = dirs[d];
    }
    globfree(&g);
    for (size_t pi = 0; pi < npaths; pi++) {
      const char *dir = paths[pi];
      char **names;
      size_t n = 0;
      if (cc_list_dir(c, dir, &names, &n) < 0) {
        if (dir[0] != '\0') {
          errored = true;
          log_error("failed to read textfile collector directory", "path", dir);
        }
        continue;
      }
      for (size_t i = 0; i < n; i++) {
        size_t base;
        if (!has_suffix(names[i], ".prom", &base)) continue;
        char path[PATH_MAX];
        ph_pathf(path, sizeof(path), "%s/%s", dir, names[i]);
        clean_path(path);
        char *data;
        struct stat st;
        int rc = cc_read_arena(c, path, &data, NULL);
        if (rc < 0) {
          errored = true;
          log_error("failed to collect textfile data", "file", names[i], "err",
                    "failed to open textfile data file");
          continue;
        }
        tf_parser_t p = {.c = c};
        rc = parse_text(&p, data);
        if (rc < 0) {
          errored = true;
          log_error("failed to collect textfile data", "file", names[i], "err", p.err);
          continue;
        }
        bool ts = false;
        for (tf_family_t *f = p.fams; f; f = f->next)
          for (tf_metric_t *m = f->first; m; m = m->next) ts |= m->has_ts;
        if (ts) {
          errored = true;
          log_error("failed to collect textfile data", "file", names[i], "err",
                    "textfile contains unsupported client-side timestamps, skipping entire file");
          continue;
        }
        if (stat(path, &st) != 0) {
          errored = true;
          continue;
        }
        if (nfiles == capfiles) {
          tf_file_t *nf = arena_calloc(c->arena, capfiles * 2, sizeof(*nf));
          ph_assert(nf != NULL);
          memcpy(nf, files, nfiles * sizeof(*nf));
          files = nf;
          capfiles *= 2;
        }
        files[nfiles].path = cc_strdup(c, path);
        files[nfiles].fams = p.fams;
        files[nfiles].mtime = (double)st.st_mtim.tv_sec;
        files[nfiles].ok = true;
        nfiles++;
      }
    }
  }
  /* merge help texts across files: first help wins, a different one drops
   * that file's family; collect the files naming each help-less family */
  for (size_t i = 0; i < nfiles; i++) {
    for (tf_family_t *f = files[i].fams; f; f = f->next) {
      f->file = files[i].path;
      if (f->help != NULL && f->help[0] == '\0') f->help = NULL;
      for (size_t k = 0; k < i; k++) {
        for (tf_family_t *g = files[k].fams; g; g = g->next) {
          if (g->first == NULL || strcmp(g->name, f->name) != 0) continue;
          if (f->help != NULL && g->help != NULL && strcmp(f->help, g->help) != 0) {
            errored = true;
            log_error("inconsistent metric help text", "metric", f->name, "original_help_text",
                      g->help, "new_help_text", f->help, "file", files[i].path);
            f->first = NULL; /* dropped */
          }
          goto next_family;
        }
      }
    next_family:;
    }
  }
  for (size_t i = 0; i < nfiles; i++) {
    for (tf_family_t *f = files[i].fams; f; f = f->next) {
      if (f->first == NULL) continue;
      const char *help = f->help;
      char *gen = NULL;
      if (help == NULL) {
        strbuf_t b = STRBUF_INIT;
        strbuf_puts(&b, "Metric read from ");
        bool firstf = true;
        for (size_t k = 0; k < nfiles; k++)
          for (tf_family_t *g = files[k].fams; g; g = g->next)
            if (g->first != NULL && strcmp(g->name, f->name) == 0) {
              if (!firstf) strbuf_puts(&b, ", ");
              strbuf_puts(&b, files[k].path);
              firstf = false;
              break;
            }
        gen = cc_strdup(c, strbuf_cstr(&b));
        strbuf_free(&b);
        help = gen;
      }
      /* union of label names in this file's family */
      const char *names[128];
      size_t nn = 0;
      for (tf_metric_t *m = f->first; m; m = m->next)
        for (size_t l = 0; l < m->nlabels; l++) {
          size_t k;
          for (k = 0; k < nn; k++)
            if (strcmp(names[k], m->labels[l].name) == 0) break;
          if (k == nn && nn < 128) names[nn++] = m->labels[l].name;
        }
      for (tf_metric_t *m = f->first; m; m = m->next) {
        const char *values[128];
        for (size_t k = 0; k < nn; k++) {
          values[k] = "";
          for (size_t l = 0; l < m->nlabels; l++)
            if (strcmp(names[k], m->labels[l].name) == 0) values[k] = m->labels[l].value;
        }
        char err[512];
        int rc;
        if (f->type == EXPO_SUMMARY || f->type == EXPO_HISTOGRAM) {
          /* sorted by quantile / bound; histograms lose an explicit +Inf */
          for (size_t a = 1; a < m->nq; a++)
            for (size_t b = a; b > 0 && m->q[b - 1] > m->q[b]; b--) {
              double tq = m->q[b], tv = m->qv[b];
              m->q[b] = m->q[b - 1];
              m->qv[b] = m->qv[b - 1];
              m->q[b - 1] = tq;
              m->qv[b - 1] = tv;
            }
          size_t nq = m->nq;
          if (f->type == EXPO_HISTOGRAM)
            while (nq > 0 && isinf(m->q[nq - 1]) && m->q[nq - 1] > 0) nq--;
          if (f->type == EXPO_SUMMARY)
            rc = expo_add_summary(c->expo, f->name, help, nn, names, values, nq, m->q, m->qv,
                                  m->sum, m->count, err, sizeof(err));
          else
            rc = expo_add_histogram(c->expo, f->name, help, nn, names, values, nq, m->q, m->qv,
                                    m->sum, m->count, err, sizeof(err));
        } else {
          rc = expo_add(c->expo, f->name, help, f->type, nn, names, values, m->value, err,
                        sizeof(err));
        }
        if (rc < 0) log_error("error gathering metrics", "err", err);
      }
    }
  }
  for (size_t i = 0; i < nfiles; i++)
    cc_gauge(c, "node_textfile_mtime_seconds", "Unixtime mtime of textfiles successfully read.",
             files[i].mtime, "file", files[i].path, NULL);
  cc_gauge(c, "node_textfile_scrape_error",
           "1 if there was an error opening or reading a file, 0 otherwise", errored ? 1 : 0,
           NULL);
  return 0;
}

const collector_def_t collector_textfile = {
    .name = "textfile",
    .default_enabled = true,
    .flags = textfile_flags,
    .collect = textfile_collect,
};
