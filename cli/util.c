/*
 * util.c - pharosctl's pure helpers (see cli.h): Go-compatible number,
 * time and duration formatting, a tabwriter, a string counter and the
 * cardinality statistics of `tsdb analyze`.  (Series selectors are parsed
 * by the query engine's promql_parse_selector.)
 *
 * Number formatting follows Go's strconv: the shortest decimal that
 * round-trips is found by printing with "%.*e" at increasing precision
 * (1..17 significant digits; glibc rounds correctly, so the first one that
 * reads back equal is also the closest, as Go picks), then laid out as
 * Go's 'f' form.  Nothing here does I/O, so tests/unit/cli/ covers it.
 */
#include "cli.h"

#include "json.h"
#include "mem.h"
#include "ph_error.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* ---- numbers ---------------------------------------------------------------- */

/* Shortest round-trip digits of finite v: digits[] without dot, trailing
 * zeros removed (at least one digit), *exp10 the exponent of the first
 * digit, *neg the sign. */
static size_t shortest_digits(double v, char *digits, int *exp10, bool *neg) {
  char tmp[48];
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(tmp, sizeof tmp, "%.*e", prec - 1, v);
    if (strtod(tmp, NULL) == v) break;
  }
  const char *p = tmp;
  *neg = false;
  if (*p == '-') {
    *neg = true;
    p++;
  }
  size_t nd = 0;
  for (; *p && *p != 'e'; p++)
    if (isdigit((unsigned char)*p)) digits[nd++] = *p;
  *exp10 = *p == 'e' ? atoi(p + 1) : 0;
  while (nd > 1 && digits[nd - 1] == '0') nd--;
  digits[nd] = '\0';
  return nd;
}

size_t cli_format_float_f(double v, char *buf, size_t buflen) {
  char out[420];
  size_t n = 0;
  if (isnan(v)) {
    n = (size_t)snprintf(out, sizeof out, "NaN");
  } else if (isinf(v)) {
    n = (size_t)snprintf(out, sizeof out, "%s", v > 0 ? "+Inf" : "-Inf");
  } else {
    char d[24];
    int e;
    bool neg;
    size_t nd = shortest_digits(v, d, &e, &neg);
    if (neg) out[n++] = '-';
    int dp = e + 1; /* digits before the decimal point */
    if (v == 0) {
      out[n++] = '0';
    } else if (dp <= 0) {
      out[n++] = '0';
      out[n++] = '.';
      for (int i = 0; i < -dp; i++) out[n++] = '0';
      memcpy(out + n, d, nd);
      n += nd;
    } else if ((size_t)dp >= nd) {
      memcpy(out + n, d, nd);
      n += nd;
      for (size_t i = nd; i < (size_t)dp; i++) out[n++] = '0';
    } else {
      memcpy(out + n, d, (size_t)dp);
      n += (size_t)dp;
      out[n++] = '.';
      memcpy(out + n, d + dp, nd - (size_t)dp);
      n += nd - (size_t)dp;
    }
    out[n] = '\0';
  }
  if (buflen > 0) {
    size_t c = n < buflen - 1 ? n : buflen - 1;
    memcpy(buf, out, c);
    buf[c] = '\0';
  }
  return n;
}

size_t cli_format_float_g(double v, char *buf, size_t buflen) {
  return format_float_go_g(v, buf, buflen);
}

size_t cli_format_time_seconds(int64_t ms, char *buf, size_t buflen) {
  return cli_format_float_f((double)ms / 1000.0, buf, buflen);
}

size_t cli_format_go_duration(int64_t ms, char *buf, size_t buflen) {
  char out[64];
  size_t n = 0;
  if (ms == 0) return (size_t)snprintf(buf, buflen, "0s");
  uint64_t u = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
  if (ms < 0) out[n++] = '-';
  if (u < 1000) {
    n += (size_t)snprintf(out + n, sizeof out - n, "%" PRIu64 "ms", u);
  } else {
    uint64_t frac = u % 1000, secs = u / 1000;
    uint64_t h = secs / 3600, m = secs / 60 % 60, s = secs % 60;
    if (h > 0) n += (size_t)snprintf(out + n, sizeof out - n, "%" PRIu64 "h", h);
    if (secs >= 60) n += (size_t)snprintf(out + n, sizeof out - n, "%" PRIu64 "m", m);
    n += (size_t)snprintf(out + n, sizeof out - n, "%" PRIu64, s);
    if (frac) {
      char f[8];
      snprintf(f, sizeof f, "%03" PRIu64, frac);
      size_t fl = 3;
      while (fl > 0 && f[fl - 1] == '0') fl--;
      f[fl] = '\0';
      n += (size_t)snprintf(out + n, sizeof out - n, ".%s", f);
    }
    out[n++] = 's';
    out[n] = '\0';
  }
  snprintf(buf, buflen, "%s", out);
  return n;
}

size_t cli_format_bytes(uint64_t n, char *buf, size_t buflen) {
  static const char *const units[] = {"", "K", "M", "G", "T", "P", "E"};
  char parts[7][32];
  int np = 0;
  if (n == 0) return (size_t)snprintf(buf, buflen, "0B");
  for (int i = 0; i < 7 && n > 0; i++) {
    if (n % 1024 != 0)
      snprintf(parts[np++], sizeof parts[0], "%" PRIu64 "%s%s", n % 1024, units[i],
               i == 0 ? "B" : "iB");
    n /= 1024;
  }
  size_t len = 0;
  if (buflen > 0) buf[0] = '\0';
  for (int i = np - 1; i >= 0; i--) {
    size_t room = len < buflen ? buflen - len : 0;
    len += (size_t)snprintf(buf + (len < buflen ? len : 0), room, "%s", parts[i]);
  }
  return len;
}

int cli_parse_json_time(const char *s, int64_t *ms) {
  const char *p = s;
  bool neg = false;
  if (*p == '-') {
    neg = true;
    p++;
  }
  if (!isdigit((unsigned char)*p)) return PH_EPARSE;
  int64_t secs = 0;
  for (; isdigit((unsigned char)*p); p++) {
    if (secs > (INT64_MAX / 1000 - 9) / 10) return PH_EPARSE;
    secs = secs * 10 + (*p - '0');
  }
  int64_t frac = 0;
  if (*p == '.') {
    p++;
    if (!isdigit((unsigned char)*p)) return PH_EPARSE;
    int nd = 0;
    for (; isdigit((unsigned char)*p); p++, nd++)
      if (nd < 3) frac = frac * 10 + (*p - '0');
    for (; nd < 3; nd++) frac *= 10;
  }
  if (*p != '\0') return PH_EPARSE;
  int64_t t = secs * 1000 + frac;
  *ms = neg ? -t : t;
  return 0;
}

static void om_quoted(strbuf_t *out, const char *s) {
  strbuf_putc(out, '"');
  for (; *s; s++) {
    if (*s == '\\') strbuf_puts(out, "\\\\");
    else if (*s == '"') strbuf_puts(out, "\\\"");
    else if (*s == '\n') strbuf_puts(out, "\\n");
    else strbuf_putc(out, *s);
  }
  strbuf_putc(out, '"');
}

void cli_format_om_series(const labels_t *ls, strbuf_t *out) {
  const char *name = labels_get(ls, "__name__");
  bool quoted_name = name && !labels_valid_metric_name(name, strlen(name));
  if (name && !quoted_name) strbuf_puts(out, name);
  size_t n = labels_len(ls);
  bool any = quoted_name;
  for (size_t i = 0; i < n && !any; i++)
    if (strcmp(labels_at(ls, i)->name, "__name__") != 0) any = true;
  if (!any) {
    if (name == NULL) strbuf_puts(out, "{}");
    return;
  }
  strbuf_putc(out, '{');
  bool first = true;
  if (quoted_name) {
    om_quoted(out, name);
    first = false;
  }
  for (size_t i = 0; i < n; i++) {
    const label_t *l = labels_at(ls, i);
    if (strcmp(l->name, "__name__") == 0) continue;
    if (!first) strbuf_putc(out, ',');
    first = false;
    if (labels_valid_name(l->name, strlen(l->name))) strbuf_puts(out, l->name);
    else om_quoted(out, l->name);
    strbuf_putc(out, '=');
    om_quoted(out, l->value);
  }
  strbuf_putc(out, '}');
}

bool cli_labels_before(const labels_t *a, const labels_t *b) {
  size_t na = labels_len(a), nb = labels_len(b);
  if (na != nb) return na < nb;
  size_t i = 0, j = 0;
  while (i < na || j < nb) {
    const label_t *x = i < na ? labels_at(a, i) : NULL;
    const label_t *y = j < nb ? labels_at(b, j) : NULL;
    int c = x == NULL ? 1 : y == NULL ? -1 : strcmp(x->name, y->name);
    if (c < 0) return false; /* name only in a: b lacks it */
    if (c > 0) return true;  /* name only in b: a lacks it */
    int v = strcmp(x->value, y->value);
    if (v != 0) return v < 0;
    i++;
    j++;
  }
  return false;
}

/* ---- tables ---------------------------------------------------------------------- */

void cli_table_init(cli_table_t *t) { memset(t, 0, sizeof *t); }

void cli_table_free(cli_table_t *t) {
  for (size_t i = 0; i < t->ncells; i++) free(t->cells[i]);
  free(t->cells);
  free(t->rowlen);
  memset(t, 0, sizeof *t);
}

void cli_table_row(cli_table_t *t, const char *const *cells, size_t n) {
  ph_grow(&t->cells, &t->cells_cap, t->ncells + n);
  ph_grow(&t->rowlen, &t->rows_cap, t->nrows + 1);
  for (size_t i = 0; i < n; i++) t->cells[t->ncells++] = ph_strdup(cells[i]);
  t->rowlen[t->nrows++] = n;
}

void cli_table_render(const cli_table_t *t, size_t minwidth, size_t padding,
                      strbuf_t *out) {
  size_t maxcols = 0;
  for (size_t r = 0; r < t->nrows; r++)
    if (t->rowlen[r] > maxcols) maxcols = t->rowlen[r];
  size_t *width = ph_calloc(maxcols ? maxcols : 1, sizeof(*width));
  size_t off = 0;
  for (size_t r = 0; r < t->nrows; r++) {
    /* the last cell of a row is trailing text, not part of a column */
    for (size_t c = 0; c + 1 < t->rowlen[r]; c++) {
      size_t w = cli_text_width(t->cells[off + c]) + padding;
      if (w > width[c]) width[c] = w;
    }
    off += t->rowlen[r];
  }
  for (size_t c = 0; c < maxcols; c++)
    if (width[c] < minwidth) width[c] = minwidth;
  off = 0;
  for (size_t r = 0; r < t->nrows; r++) {
    size_t keep = out->len; /* end of the last non-empty cell */
    for (size_t c = 0; c < t->rowlen[r]; c++) {
      const char *cell = t->cells[off + c];
      strbuf_puts(out, cell);
      if (cell[0]) keep = out->len;
      if (c + 1 < t->rowlen[r])
        for (size_t k = cli_text_width(cell); k < width[c]; k++) strbuf_putc(out, ' ');
    }
    /* no padding after the last non-empty cell */
    out->len = keep;
    if (out->data) out->data[keep] = '\0';
    strbuf_putc(out, '\n');
    off += t->rowlen[r];
  }
  free(width);
}

/* ---- counting -------------------------------------------------------------------- */

void cli_counts_init(cli_counts_t *c) { memset(c, 0, sizeof *c); }

void cli_counts_free(cli_counts_t *c) {
  for (size_t i = 0; i < c->cap; i++) free(c->keys[i]);
  free(c->keys);
  free(c->vals);
  memset(c, 0, sizeof *c);
}

static size_t counts_slot(const cli_counts_t *c, const char *key, size_t len) {
  size_t mask = c->cap - 1;
  size_t i = (size_t)XXH3_64bits(key, len) & mask;
  while (c->keys[i] != NULL &&
         !(strlen(c->keys[i]) == len && memcmp(c->keys[i], key, len) == 0))
    i = (i + 1) & mask;
  return i;
}

uint64_t cli_counts_add(cli_counts_t *c, const char *key, size_t keylen,
                        uint64_t delta) {
  if ((c->n + 1) * 4 > c->cap * 3) {
    cli_counts_t g = {ph_calloc(c->cap ? c->cap * 2 : 64, sizeof(char *)),
                      ph_calloc(c->cap ? c->cap * 2 : 64, sizeof(uint64_t)),
                      c->cap ? c->cap * 2 : 64, c->n};
    for (size_t i = 0; i < c->cap; i++) {
      if (c->keys[i] == NULL) continue;
      size_t j = counts_slot(&g, c->keys[i], strlen(c->keys[i]));
      g.keys[j] = c->keys[i];
      g.vals[j] = c->vals[i];
    }
    free(c->keys);
    free(c->vals);
    *c = g;
  }
  size_t i = counts_slot(c, key, keylen);
  if (c->keys[i] == NULL) {
    c->keys[i] = ph_strndup(key, keylen);
    c->vals[i] = 0;
    c->n++;
  }
  c->vals[i] += delta;
  return c->vals[i];
}

uint64_t cli_counts_get(const cli_counts_t *c, const char *key, size_t keylen) {
  if (c->cap == 0) return 0;
  size_t i = counts_slot(c, key, keylen);
  return c->keys[i] ? c->vals[i] : 0;
}

static int cmp_entry(const void *a, const void *b) {
  const cli_count_entry_t *x = a, *y = b;
  if (x->val != y->val) return x->val > y->val ? -1 : 1;
  return strcmp(x->key, y->key);
}

size_t cli_counts_top(const cli_counts_t *c, size_t limit,
                      cli_count_entry_t **out) {
  cli_count_entry_t *v = ph_calloc(c->n ? c->n : 1, sizeof(*v));
  size_t n = 0;
  for (size_t i = 0; i < c->cap; i++)
    if (c->keys[i]) v[n++] = (cli_count_entry_t){c->keys[i], c->vals[i]};
  qsort(v, n, sizeof(*v), cmp_entry);
  if (limit > 0 && n > limit) n = limit;
  *out = v;
  return n;
}

/* ---- cardinality ------------------------------------------------------------------ */

void cli_cardinality_init(cli_cardinality_t *c) {
  memset(c, 0, sizeof *c);
  cli_counts_init(&c->metric_series);
  cli_counts_init(&c->pair_series);
  cli_counts_init(&c->label_values);
  cli_counts_init(&c->label_value_len);
}

void cli_cardinality_add(cli_cardinality_t *c, const labels_t *ls) {
  size_t n = labels_len(ls);
  c->series++;
  c->label_pairs_total += n;
  const char *name = labels_get(ls, "__name__");
  if (name) cli_counts_add(&c->metric_series, name, strlen(name), 1);
  strbuf_t pair = STRBUF_INIT;
  for (size_t i = 0; i < n; i++) {
    const label_t *l = labels_at(ls, i);
    strbuf_reset(&pair);
    strbuf_printf(&pair, "%s=%s", l->name, l->value);
    if (cli_counts_add(&c->pair_series, pair.data, pair.len, 1) == 1) {
      size_t nl = strlen(l->name);
      cli_counts_add(&c->label_values, l->name, nl, 1);
      cli_counts_add(&c->label_value_len, l->name, nl, strlen(l->value));
    }
  }
  strbuf_free(&pair);
}

void cli_cardinality_free(cli_cardinality_t *c) {
  cli_counts_free(&c->metric_series);
  cli_counts_free(&c->pair_series);
  cli_counts_free(&c->label_values);
  cli_counts_free(&c->label_value_len);
}
