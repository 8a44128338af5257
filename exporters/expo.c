/*
 * expo.c - the metric set of one scrape and its text format 0.0.4 writer.
 *
 * Collectors add samples in any order.  Families are found by name in an
 * open-addressing hash table (FNV-1a, power-of-two size, linear probing);
 * a family keeps its samples in an array that doubles.  Every string and
 * array comes from one arena that expo_reset() rewinds, so a scrape's
 * bookkeeping is released in one go.
 *
 * expo_write() reproduces client_golang's registry + expfmt output:
 *   - families sorted by name (bytewise);
 *   - each sample's label pairs sorted by name (done at add time);
 *   - samples sorted by their label values compared pairwise in label-name
 *     order; a sample with fewer labels sorts first (Go's metricSorter);
 *     a repeated label set keeps its first sample only;
 *   - "# HELP <name> <help>" with \ and newline escaped, "# TYPE <name>
 *     <type>", then `name{a="x",b="y"} value`; label values escape \, "
 *     and newline;
 *   - values: 0 (and -0) as "0", NaN, +Inf, -Inf, otherwise Go's
 *     strconv.FormatFloat(v, 'g', -1, 64);
 *   - summaries: one line per quantile (the quantile label last), then
 *     _sum and _count; histograms: _bucket lines (le last, +Inf bucket
 *     closing), then _sum and _count.
 *
 * expo_write_openmetrics() is client_golang's OpenMetrics 1.0 encoder over
 * the same sorted set: a counter named "x_total" is announced as family
 * "x" (HELP/TYPE) with samples still named "x_total"; a counter without
 * the suffix and untyped metrics are TYPE "unknown"; HELP also escapes
 * '"'; values get ".0" when integral ("1.0", NaN, +Inf, -Inf as is),
 * le/quantile labels likewise; bucket and _count values are integers;
 * the body ends with "# EOF".
 */
#include "exporter_int.h"

#include "json.h"
#include "mem.h"
#include "ph_error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct expo_sample {
  const char **lnames; /* sorted by name */
  const char **lvalues;
  uint32_t nlabels;
  uint32_t seq;      /* insertion order, the sort's last key */
  double v;          /* plain samples; sum for summary/histogram */
  double count;      /* summary/histogram */
  uint32_t nq;       /* quantiles or buckets */
  const double *q;   /* quantile / upper bound */
  const double *qv;  /* quantile value / cumulative count */
} expo_sample_t;

typedef struct expo_family {
  const char *name;
  const char *help;
  expo_type_t type;
  uint64_t hash;
  expo_sample_t **samples; /* arena; grown by doubling */
  size_t n, cap;
} expo_family_t;

struct expo {
  arena_t *arena;
  expo_family_t **fams; /* insertion order; ph_grow'n, kept across resets */
  size_t nfam, capfam;
  expo_family_t **table; /* open addressing; size tcap (power of two) */
  size_t tcap;
  uint32_t seq;
};

static uint64_t fnv1a(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 1099511628211ull;
  }
  return h;
}

expo_t *expo_new(void) {
  expo_t *e = ph_calloc(1, sizeof(*e));
  e->arena = arena_new(0);
  e->tcap = 256;
  e->table = ph_calloc(e->tcap, sizeof(*e->table));
  return e;
}

void expo_free(expo_t *e) {
  if (e == NULL) return;
  arena_free(e->arena);
  free(e->fams);
  free(e->table);
  free(e);
}

void expo_reset(expo_t *e) {
  arena_reset(e->arena);
  memset(e->table, 0, e->tcap * sizeof(*e->table));
  e->nfam = 0;
  e->seq = 0;
}

size_t expo_family_count(const expo_t *e) { return e->nfam; }

static expo_family_t *lookup(const expo_t *e, const char *name, uint64_t h,
                             size_t *slot) {
  size_t mask = e->tcap - 1;
  size_t i = (size_t)h & mask;
  while (e->table[i] != NULL) {
    if (e->table[i]->hash == h && strcmp(e->table[i]->name, name) == 0) {
      *slot = i;
      return e->table[i];
    }
    i = (i + 1) & mask;
  }
  *slot = i;
  return NULL;
}

bool expo_has_family(const expo_t *e, const char *name) {
  size_t slot;
  return lookup(e, name, fnv1a(name), &slot) != NULL;
}

static void rehash(expo_t *e) {
  size_t ncap = e->tcap * 2;
  expo_family_t **nt = ph_calloc(ncap, sizeof(*nt));
  for (size_t k = 0; k < e->tcap; k++) {
    expo_family_t *f = e->table[k];
    if (f == NULL) continue;
    size_t i = (size_t)f->hash & (ncap - 1);
    while (nt[i] != NULL) i = (i + 1) & (ncap - 1);
    nt[i] = f;
  }
  free(e->table);
  e->table = nt;
  e->tcap = ncap;
}

static const char *const type_names[] = {"counter", "gauge", "untyped",
                                         "summary", "histogram"};

/* Finds or creates the family; NULL with err set on a help/type clash. */
static expo_family_t *family(expo_t *e, const char *name, const char *help,
                             expo_type_t type, char *err, size_t errlen) {
  if (help == NULL) help = "";
  uint64_t h = fnv1a(name);
  size_t slot;
  expo_family_t *f = lookup(e, name, h, &slot);
  if (f != NULL) {
    if (f->type != type) {
      ph_err(err, errlen, PH_EINVAL,
             "collected metric %s has type %s but should have %s", name,
             type_names[type], type_names[f->type]);
      return NULL;
    }
    if (strcmp(f->help, help) != 0) {
      ph_err(err, errlen, PH_EINVAL,
             "collected metric %s has help \"%s\" but should have \"%s\"",
             name, help, f->help);
      return NULL;
    }
    return f;
  }
  f = arena_calloc(e->arena, 1, sizeof(*f));
  ph_assert(f != NULL);
  f->name = arena_strdup(e->arena, name);
  f->help = arena_strdup(e->arena, help);
  f->type = type;
  f->hash = h;
  e->table[slot] = f;
  ph_grow(&e->fams, &e->capfam, e->nfam + 1);
  e->fams[e->nfam++] = f;
  if (e->nfam * 2 > e->tcap) rehash(e);
  return f;
}

static expo_sample_t *sample(expo_t *e, expo_family_t *f, size_t n,
                             const char *const *lnames,
                             const char *const *lvalues) {
  expo_sample_t *s = arena_calloc(e->arena, 1, sizeof(*s));
  ph_assert(s != NULL);
  s->nlabels = (uint32_t)n;
  s->seq = e->seq++;
  if (n > 0) {
    s->lnames = arena_alloc(e->arena, n * sizeof(char *));
    s->lvalues = arena_alloc(e->arena, n * sizeof(char *));
    ph_assert(s->lnames != NULL && s->lvalues != NULL);
    /* insertion sort by name: label sets are small */
    for (size_t i = 0; i < n; i++) {
      const char *nm = arena_strdup(e->arena, lnames[i]);
      const char *vl = arena_strdup(e->arena, lvalues[i] ? lvalues[i] : "");
      size_t j = i;
      while (j > 0 && strcmp(s->lnames[j - 1], nm) > 0) {
        s->lnames[j] = s->lnames[j - 1];
        s->lvalues[j] = s->lvalues[j - 1];
        j--;
      }
      s->lnames[j] = nm;
      s->lvalues[j] = vl;
    }
  }
  if (f->n == f->cap) {
    size_t ncap = f->cap ? f->cap * 2 : 8;
    expo_sample_t **ns = arena_alloc(e->arena, ncap * sizeof(*ns));
    ph_assert(ns != NULL);
    if (f->n) memcpy(ns, f->samples, f->n * sizeof(*ns));
    f->samples = ns;
    f->cap = ncap;
  }
  f->samples[f->n++] = s;
  return s;
}

int expo_add(expo_t *e, const char *name, const char *help, expo_type_t type,
             size_t nlabels, const char *const *lnames,
             const char *const *lvalues, double v, char *err, size_t errlen) {
  ph_assert(type != EXPO_SUMMARY && type != EXPO_HISTOGRAM);
  expo_family_t *f = family(e, name, help, type, err, errlen);
  if (f == NULL) return PH_EINVAL;
  sample(e, f, nlabels, lnames, lvalues)->v = v;
  return 0;
}

static double *copy_doubles(expo_t *e, const double *a, size_t n) {
  if (n == 0) return NULL;
  double *d = arena_alloc(e->arena, n * sizeof(double));
  ph_assert(d != NULL);
  memcpy(d, a, n * sizeof(double));
  return d;
}

int expo_add_summary(expo_t *e, const char *name, const char *help,
                     size_t nlabels, const char *const *lnames,
                     const char *const *lvalues, size_t nq, const double *q,
                     const double *qv, double sum, double count, char *err,
                     size_t errlen) {
  expo_family_t *f = family(e, name, help, EXPO_SUMMARY, err, errlen);
  if (f == NULL) return PH_EINVAL;
  expo_sample_t *s = sample(e, f, nlabels, lnames, lvalues);
  s->v = sum;
  s->count = count;
  s->nq = (uint32_t)nq;
  s->q = copy_doubles(e, q, nq);
  s->qv = copy_doubles(e, qv, nq);
  return 0;
}

int expo_add_histogram(expo_t *e, const char *name, const char *help,
                       size_t nlabels, const char *const *lnames,
                       const char *const *lvalues, size_t nb, const double *le,
                       const double *cum, double sum, double count, char *err,
                       size_t errlen) {
  expo_family_t *f = family(e, name, help, EXPO_HISTOGRAM, err, errlen);
  if (f == NULL) return PH_EINVAL;
  expo_sample_t *s = sample(e, f, nlabels, lnames, lvalues);
  s->v = sum;
  s->count = count;
  s->nq = (uint32_t)nb;
  s->q = copy_doubles(e, le, nb);
  s->qv = copy_doubles(e, cum, nb);
  return 0;
}

/* ---- writing ---- */

/* Integral values below 2^53 (nearly every sample) without the general
 * shortest-digits search: Go's 'g' with the shortest precision prints the
 * integer's digits when the exponent is below 6, otherwise d.ddde+XX with
 * trailing zeros dropped (exponent at least two digits). */
static bool write_integral(strbuf_t *out, double v) {
  double a = v < 0 ? -v : v;
  if (!(a < 9007199254740992.0) || a != (double)(uint64_t)a) return false;
  uint64_t m = (uint64_t)a;
  char d[24], buf[40];
  int nd = 0;
  do {
    d[nd++] = (char)('0' + m % 10);
    m /= 10;
  } while (m > 0); /* d holds the digits in reverse */
  size_t k = 0;
  if (v < 0) buf[k++] = '-';
  if (nd <= 6) {
    while (nd > 0) buf[k++] = d[--nd];
  } else {
    int exp = nd - 1, lo = 0;
    while (d[lo] == '0') lo++; /* trailing zeros (d[nd-1] is not 0) */
    buf[k++] = d[nd - 1];
    if (nd - 1 > lo) {
      buf[k++] = '.';
      for (int i = nd - 2; i >= lo; i--) buf[k++] = d[i];
    }
    buf[k++] = 'e';
    buf[k++] = '+';
    if (exp >= 10) buf[k++] = (char)('0' + exp / 10);
    else buf[k++] = '0';
    buf[k++] = (char)('0' + exp % 10);
  }
  strbuf_append(out, buf, k);
  return true;
}

void expo_write_value(strbuf_t *out, double v) {
  if (v == 0) { /* also -0, as expfmt's writeFloat */
    strbuf_putc(out, '0');
    return;
  }
  if (write_integral(out, v)) return;
  char buf[40];
  size_t n = format_float_go_g(v, buf, sizeof(buf));
  strbuf_append(out, buf, n);
}

void expo_write_help(strbuf_t *out, const char *help) {
  const char *run = help;
  for (const char *p = help; *p; p++) {
    if (*p != '\\' && *p != '\n') continue;
    strbuf_append(out, run, (size_t)(p - run));
    strbuf_puts(out, *p == '\\' ? "\\\\" : "\\n");
    run = p + 1;
  }
  strbuf_puts(out, run);
}

void expo_write_label_value(strbuf_t *out, const char *v) {
  const char *run = v;
  for (const char *p = v; *p; p++) {
    if (*p != '\\' && *p != '\n' && *p != '"') continue;
    strbuf_append(out, run, (size_t)(p - run));
    strbuf_puts(out, *p == '\\' ? "\\\\" : *p == '\n' ? "\\n" : "\\\"");
    run = p + 1;
  }
  strbuf_puts(out, run);
}

/* OpenMetrics numbers (client_golang's writeOpenMetricsFloat): as the
 * text format, with ".0" appended to integral values ("1.0", "34.0"). */
static void write_om_value(strbuf_t *out, double v) {
  if (v == 0) {
    strbuf_puts(out, "0.0");
    return;
  }
  if (isnan(v)) {
    strbuf_puts(out, "NaN");
    return;
  }
  if (isinf(v)) {
    strbuf_puts(out, v > 0 ? "+Inf" : "-Inf");
    return;
  }
  char buf[40];
  size_t n = format_float_go_g(v, buf, sizeof(buf));
  strbuf_append(out, buf, n);
  if (memchr(buf, '.', n) == NULL && memchr(buf, 'e', n) == NULL) strbuf_puts(out, ".0");
}

/* A count (histogram bucket, _count) in OpenMetrics: an integer. */
static void write_om_count(strbuf_t *out, double v) {
  if (v >= 0 && v < 1.8446744073709552e19 && v == floor(v))
    strbuf_printf(out, "%llu", (unsigned long long)v);
  else
    write_om_value(out, v);
}

static void write_line(strbuf_t *out, bool om, const char *name, const char *suffix,
                       const expo_sample_t *s, const char *extra_name,
                       double extra_value, double v, bool count) {
  strbuf_puts(out, name);
  if (suffix) strbuf_puts(out, suffix);
  if (s->nlabels > 0 || extra_name != NULL) {
    strbuf_putc(out, '{');
    for (uint32_t i = 0; i < s->nlabels; i++) {
      if (i) strbuf_putc(out, ',');
      strbuf_puts(out, s->lnames[i]);
      strbuf_puts(out, "=\"");
      expo_write_label_value(out, s->lvalues[i]);
      strbuf_putc(out, '"');
    }
    if (extra_name != NULL) {
      if (s->nlabels) strbuf_putc(out, ',');
      strbuf_puts(out, extra_name);
      strbuf_puts(out, "=\"");
      if (om)
        write_om_value(out, extra_value);
      else
        expo_write_value(out, extra_value);
      strbuf_putc(out, '"');
    }
    strbuf_putc(out, '}');
  }
  strbuf_putc(out, ' ');
  if (!om)
    expo_write_value(out, v);
  else if (count)
    write_om_count(out, v);
  else
    write_om_value(out, v);
  strbuf_putc(out, '\n');
}

static int cmp_family(const void *a, const void *b) {
  const expo_family_t *x = *(expo_family_t *const *)a;
  const expo_family_t *y = *(expo_family_t *const *)b;
  return strcmp(x->name, y->name);
}

/* Go's metricSorter, then insertion order for equal label sets. */
static int cmp_labels(const expo_sample_t *x, const expo_sample_t *y) {
  if (x->nlabels != y->nlabels) return x->nlabels < y->nlabels ? -1 : 1;
  for (uint32_t i = 0; i < x->nlabels; i++) {
    int c = strcmp(x->lvalues[i], y->lvalues[i]);
    if (c != 0) return c;
  }
  return 0;
}

static int cmp_sample(const void *a, const void *b) {
  const expo_sample_t *x = *(expo_sample_t *const *)a;
  const expo_sample_t *y = *(expo_sample_t *const *)b;
  int c = cmp_labels(x, y);
  if (c != 0) return c;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static bool same_label_names(const expo_sample_t *x, const expo_sample_t *y) {
  for (uint32_t i = 0; i < x->nlabels; i++)
    if (strcmp(x->lnames[i], y->lnames[i]) != 0) return false;
  return true;
}

/* HELP text in OpenMetrics: \\, newline and '"' escaped. */
static void write_om_help(strbuf_t *out, const char *help) {
  const char *run = help;
  for (const char *p = help; *p; p++) {
    if (*p != '\\' && *p != '\n' && *p != '"') continue;
    strbuf_append(out, run, (size_t)(p - run));
    strbuf_puts(out, *p == '\\' ? "\\\\" : *p == '\n' ? "\\n" : "\\\"");
    run = p + 1;
  }
  strbuf_puts(out, run);
}

static void write_all(expo_t *e, strbuf_t *out, bool om) {
  if (e->nfam > 1) qsort(e->fams, e->nfam, sizeof(*e->fams), cmp_family);
  for (size_t k = 0; k < e->nfam; k++) {
    expo_family_t *f = e->fams[k];
    if (f->n > 1) qsort(f->samples, f->n, sizeof(*f->samples), cmp_sample);
    /* OpenMetrics: a counter's family is named without "_total" (its
     * samples keep it); a counter without the suffix becomes "unknown" */
    size_t nlen = strlen(f->name);
    bool total = nlen > 6 && strcmp(f->name + nlen - 6, "_total") == 0;
    int fam_len = om && f->type == EXPO_COUNTER && total ? (int)(nlen - 6) : (int)nlen;
    const char *type = type_names[f->type];
    if (om && (f->type == EXPO_UNTYPED || (f->type == EXPO_COUNTER && !total)))
      type = "unknown";
    strbuf_puts(out, "# HELP ");
    strbuf_append(out, f->name, (size_t)fam_len);
    strbuf_putc(out, ' ');
    if (om)
      write_om_help(out, f->help);
    else
      expo_write_help(out, f->help);
    strbuf_puts(out, "\n# TYPE ");
    strbuf_append(out, f->name, (size_t)fam_len);
    strbuf_putc(out, ' ');
    strbuf_puts(out, type);
    strbuf_putc(out, '\n');
    for (size_t i = 0; i < f->n; i++) {
      const expo_sample_t *s = f->samples[i];
      /* a repeated label set: keep the first one collected */
      if (i > 0 && cmp_labels(f->samples[i - 1], s) == 0 &&
          same_label_names(f->samples[i - 1], s))
        continue;
      switch (f->type) {
      case EXPO_SUMMARY:
        for (uint32_t q = 0; q < s->nq; q++)
          write_line(out, om, f->name, NULL, s, "quantile", s->q[q], s->qv[q], false);
        write_line(out, om, f->name, "_sum", s, NULL, 0, s->v, false);
        write_line(out, om, f->name, "_count", s, NULL, 0, s->count, true);
        break;
      case EXPO_HISTOGRAM: {
        bool inf = false;
        for (uint32_t q = 0; q < s->nq; q++) {
          write_line(out, om, f->name, "_bucket", s, "le", s->q[q], s->qv[q], true);
          if (isinf(s->q[q]) && s->q[q] > 0) inf = true;
        }
        if (!inf)
          write_line(out, om, f->name, "_bucket", s, "le", INFINITY, s->count, true);
        write_line(out, om, f->name, "_sum", s, NULL, 0, s->v, false);
        write_line(out, om, f->name, "_count", s, NULL, 0, s->count, true);
        break;
      }
      default:
        write_line(out, om, f->name, NULL, s, NULL, 0, s->v, false);
        break;
      }
    }
  }
}

void expo_write(expo_t *e, strbuf_t *out) { write_all(e, out, false); }

void expo_write_openmetrics(expo_t *e, strbuf_t *out) {
  write_all(e, out, true);
  strbuf_puts(out, "# EOF\n");
}
