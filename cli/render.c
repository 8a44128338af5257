/*
 * render.c - pharosctl's output of query results (see cli.h): the result
 * model both sources fill (the HTTP API's JSON and the local query
 * engine), and its three renderings, an aligned table, RFC 4180 CSV and
 * the API's JSON, plus the sparkline charts of range results.
 *
 * Values print as the API writes them (json_format_sample_value: shortest
 * round-trip, 'e' form only below 1e-6 or from 1e21 on, "NaN", "+Inf"),
 * so a CSV cell equals the string in the API's JSON.  Table timestamps are
 * RFC 3339 in UTC with milliseconds; CSV timestamps are the API's float
 * seconds.
 *
 * A sparkline maps the range query's grid of (end - start) / step + 1
 * steps onto at most `width` columns: one column per step when they fit,
 * else step s goes to column s * width / steps and a column shows the mean
 * of its points.  Each column is one of ▁▂▃▄▅▆▇█, the level
 * round((v - min) / (max - min) * 7) with min and max over the finite
 * points in the grid (a constant series draws ▁; +Inf draws █, -Inf ▁); a
 * column without points, or whose mean is NaN, is a space.  Everything
 * here is free of I/O: tests/unit/cli/test_cli_render.c covers it.
 */
#include "cli.h"

#include "json.h"
#include "mem.h"
#include "timeparse.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the model ---------------------------------------------------------------- */

void cli_result_init(cli_result_t *r, cli_result_type_t type) {
  memset(r, 0, sizeof *r);
  r->type = type;
}

cli_series_t *cli_result_add_series(cli_result_t *r, labels_t *ls) {
  ph_grow(&r->series, &r->cap, r->n + 1);
  cli_series_t *s = &r->series[r->n++];
  memset(s, 0, sizeof *s);
  s->ls = ls;
  return s;
}

void cli_series_add_point(cli_series_t *s, int64_t t, double v) {
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 8;
    s->t = ph_realloc(s->t, s->cap * sizeof(*s->t));
    s->v = ph_realloc(s->v, s->cap * sizeof(*s->v));
  }
  s->t[s->n] = t;
  s->v[s->n] = v;
  s->n++;
}

void cli_result_free(cli_result_t *r) {
  for (size_t i = 0; i < r->n; i++) {
    labels_free(r->series[i].ls);
    free(r->series[i].t);
    free(r->series[i].v);
  }
  free(r->series);
  free(r->str);
  memset(r, 0, sizeof *r);
}

/* ---- small helpers ------------------------------------------------------------- */

size_t cli_text_width(const char *s) {
  size_t w = 0;
  for (; *s; s++)
    if (((unsigned char)*s & 0xc0) != 0x80) w++;
  return w;
}

size_t cli_chart_width(const char *columns, size_t used) {
  if (columns == NULL || *columns == '\0') return CLI_CHART_DEFAULT_WIDTH;
  char *end;
  long c = strtol(columns, &end, 10);
  if (*end != '\0' || c <= 0) return CLI_CHART_DEFAULT_WIDTH;
  if ((size_t)c <= used + CLI_CHART_MIN_WIDTH) return CLI_CHART_MIN_WIDTH;
  return (size_t)c - used;
}

void cli_csv_field(strbuf_t *out, const char *s) {
  if (strpbrk(s, ",\"\r\n") == NULL) {
    strbuf_puts(out, s);
    return;
  }
  strbuf_putc(out, '"');
  for (; *s; s++) {
    if (*s == '"') strbuf_putc(out, '"');
    strbuf_putc(out, *s);
  }
  strbuf_putc(out, '"');
}

void cli_csv_row(strbuf_t *out, const char *const *cells, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (i) strbuf_putc(out, ',');
    cli_csv_field(out, cells[i]);
  }
  strbuf_puts(out, "\r\n");
}

/* The series' name for tables and CSV: name{a="b", c="d"}. */
static void series_text(const labels_t *ls, strbuf_t *out) {
  strbuf_reset(out);
  labels_format(ls, out);
  strbuf_puts(out, ""); /* never NULL data */
}

static void value_text(double v, char *buf, size_t n) { json_format_sample_value(v, buf, n); }

/* ---- sparklines -------------------------------------------------------------------- */

static const char *const spark_levels[8] = {"\u2581", "\u2582", "\u2583", "\u2584",
                                            "\u2585", "\u2586", "\u2587", "\u2588"};

void cli_series_stats(const cli_series_t *s, cli_series_stats_t *st) {
  memset(st, 0, sizeof *st);
  st->min = st->max = st->last = NAN;
  st->fmin = INFINITY;
  st->fmax = -INFINITY;
  for (size_t i = 0; i < s->n; i++) {
    double v = s->v[i];
    if (isnan(v)) continue;
    if (st->count == 0 || v < st->min) st->min = v;
    if (st->count == 0 || v > st->max) st->max = v;
    st->last = v;
    st->count++;
    if (isfinite(v)) {
      if (v < st->fmin) st->fmin = v;
      if (v > st->fmax) st->fmax = v;
    }
  }
}

size_t cli_range_steps(const cli_range_t *g) {
  if (g->step <= 0 || g->end < g->start) return 0;
  return (size_t)((g->end - g->start) / g->step) + 1;
}

size_t cli_sparkline(const cli_series_t *s, const cli_range_t *g, size_t width,
                     strbuf_t *out) {
  size_t steps = cli_range_steps(g);
  if (steps == 0 || width == 0) return 0;
  size_t cols = steps < width ? steps : width;
  double *sum = ph_calloc(cols, sizeof(*sum));
  size_t *cnt = ph_calloc(cols, sizeof(*cnt));
  double fmin = INFINITY, fmax = -INFINITY; /* over the finite points drawn */
  for (size_t i = 0; i < s->n; i++) {
    if (s->t[i] < g->start || s->t[i] > g->end || isnan(s->v[i])) continue;
    /* the nearest step, for points that are not exactly on the grid */
    size_t slot = (size_t)((s->t[i] - g->start + g->step / 2) / g->step);
    if (slot >= steps) slot = steps - 1;
    size_t c = steps <= width ? slot : (size_t)((uint64_t)slot * cols / steps);
    sum[c] += s->v[i];
    cnt[c]++;
    if (isfinite(s->v[i])) {
      if (s->v[i] < fmin) fmin = s->v[i];
      if (s->v[i] > fmax) fmax = s->v[i];
    }
  }
  bool have_range = fmin < fmax;
  for (size_t c = 0; c < cols; c++) {
    double v = cnt[c] ? sum[c] / (double)cnt[c] : NAN;
    if (isnan(v)) {
      strbuf_putc(out, ' ');
      continue;
    }
    int level;
    if (v == INFINITY) level = 7;
    else if (v == -INFINITY || !have_range) level = 0;
    else level = (int)lround((v - fmin) / (fmax - fmin) * 7.0);
    if (level < 0) level = 0;
    if (level > 7) level = 7;
    strbuf_puts(out, spark_levels[level]);
  }
  free(sum);
  free(cnt);
  return cols;
}

/* ---- tables ------------------------------------------------------------------------- */

static void add_row(cli_table_t *t, const char *a, const char *b, const char *c) {
  const char *row[] = {a, b, c};
  cli_table_row(t, row, 3);
}

static void render_table_instant(const cli_result_t *r, strbuf_t *out) {
  cli_table_t t;
  cli_table_init(&t);
  add_row(&t, "SERIES", "VALUE", "TIMESTAMP");
  char vb[64], tb[64];
  strbuf_t name = STRBUF_INIT;
  switch (r->type) {
  case CLI_RESULT_SCALAR:
    value_text(r->scalar, vb, sizeof vb);
    ph_format_rfc3339(r->t, tb, sizeof tb);
    add_row(&t, "(scalar)", vb, tb);
    break;
  case CLI_RESULT_STRING:
    ph_format_rfc3339(r->t, tb, sizeof tb);
    add_row(&t, "(string)", r->str ? r->str : "", tb);
    break;
  case CLI_RESULT_VECTOR:
  case CLI_RESULT_MATRIX: /* a range selector evaluated at an instant: a row per point */
    for (size_t i = 0; i < r->n; i++) {
      series_text(r->series[i].ls, &name);
      for (size_t k = 0; k < r->series[i].n; k++) {
        value_text(r->series[i].v[k], vb, sizeof vb);
        ph_format_rfc3339(r->series[i].t[k], tb, sizeof tb);
        add_row(&t, name.data, vb, tb);
      }
    }
    break;
  }
  strbuf_free(&name);
  cli_table_render(&t, 0, 2, out);
  cli_table_free(&t);
}

static void render_table_range(const cli_result_t *r, const cli_range_t *g, const char *columns,
                               strbuf_t *out) {
  cli_table_t t;
  cli_table_init(&t);
  const char *hdr[] = {"SERIES", "MIN", "MAX", "LAST", "CHART"};
  cli_table_row(&t, hdr, 5);
  /* the widths of the columns before the chart decide its width */
  size_t w[4];
  for (int c = 0; c < 4; c++) w[c] = cli_text_width(hdr[c]);
  char (*cells)[3][64] = ph_calloc(r->n ? r->n : 1, sizeof(*cells));
  char **names = ph_calloc(r->n ? r->n : 1, sizeof(*names));
  strbuf_t name = STRBUF_INIT;
  for (size_t i = 0; i < r->n; i++) {
    cli_series_stats_t st;
    cli_series_stats(&r->series[i], &st);
    series_text(r->series[i].ls, &name);
    names[i] = ph_strdup(name.data);
    value_text(st.min, cells[i][0], sizeof cells[i][0]);
    value_text(st.max, cells[i][1], sizeof cells[i][1]);
    value_text(st.last, cells[i][2], sizeof cells[i][2]);
    size_t nw = cli_text_width(names[i]);
    if (nw > w[0]) w[0] = nw;
    for (int c = 0; c < 3; c++)
      if (strlen(cells[i][c]) > w[c + 1]) w[c + 1] = strlen(cells[i][c]);
  }
  size_t used = 0;
  for (int c = 0; c < 4; c++) used += w[c] + 2;
  size_t width = cli_chart_width(columns, used);
  strbuf_t chart = STRBUF_INIT;
  for (size_t i = 0; i < r->n; i++) {
    strbuf_reset(&chart);
    strbuf_puts(&chart, "");
    cli_sparkline(&r->series[i], g, width, &chart);
    const char *row[] = {names[i], cells[i][0], cells[i][1], cells[i][2], chart.data};
    cli_table_row(&t, row, 5);
    free(names[i]);
  }
  strbuf_free(&chart);
  strbuf_free(&name);
  free(names);
  free(cells);
  cli_table_render(&t, 0, 2, out);
  cli_table_free(&t);
}

void cli_render_table(const cli_result_t *r, const cli_range_t *range, const char *columns,
                      strbuf_t *out) {
  if (range != NULL && r->type == CLI_RESULT_MATRIX) render_table_range(r, range, columns, out);
  else render_table_instant(r, out);
}

/* ---- CSV --------------------------------------------------------------------------------- */

void cli_render_csv(const cli_result_t *r, strbuf_t *out) {
  static const char *const hdr[] = {"series", "timestamp", "value"};
  cli_csv_row(out, hdr, 3);
  char vb[64], tb[64];
  strbuf_t name = STRBUF_INIT;
  if (r->type == CLI_RESULT_SCALAR || r->type == CLI_RESULT_STRING) {
    json_format_timestamp(r->t, tb, sizeof tb);
    if (r->type == CLI_RESULT_SCALAR) value_text(r->scalar, vb, sizeof vb);
    const char *row[] = {"", tb, r->type == CLI_RESULT_SCALAR ? vb : (r->str ? r->str : "")};
    cli_csv_row(out, row, 3);
  } else {
    for (size_t i = 0; i < r->n; i++) {
      series_text(r->series[i].ls, &name);
      for (size_t k = 0; k < r->series[i].n; k++) {
        json_format_timestamp(r->series[i].t[k], tb, sizeof tb);
        value_text(r->series[i].v[k], vb, sizeof vb);
        const char *row[] = {name.data, tb, vb};
        cli_csv_row(out, row, 3);
      }
    }
  }
  strbuf_free(&name);
}

/* ---- JSON (the API's "data") ------------------------------------------------------------- */

static void json_labels(json_writer_t *w, const labels_t *ls) {
  json_object_begin(w);
  for (size_t i = 0; i < labels_len(ls); i++) {
    json_key(w, labels_at(ls, i)->name);
    json_string(w, labels_at(ls, i)->value);
  }
  json_object_end(w);
}

static void json_pair(json_writer_t *w, int64_t t, double v) {
  json_array_begin(w);
  json_timestamp(w, t);
  json_sample_value(w, v);
  json_array_end(w);
}

void cli_render_json(const cli_result_t *r, strbuf_t *out) {
  static const char *const names[] = {"scalar", "vector", "matrix", "string"};
  json_writer_t *w = json_writer_new(out);
  json_object_begin(w);
  json_key(w, "resultType");
  json_string(w, names[r->type]);
  json_key(w, "result");
  if (r->type == CLI_RESULT_SCALAR) {
    json_pair(w, r->t, r->scalar);
  } else if (r->type == CLI_RESULT_STRING) {
    json_array_begin(w);
    json_timestamp(w, r->t);
    json_string(w, r->str ? r->str : "");
    json_array_end(w);
  } else {
    json_array_begin(w);
    for (size_t i = 0; i < r->n; i++) {
      const cli_series_t *s = &r->series[i];
      json_object_begin(w);
      json_key(w, "metric");
      json_labels(w, s->ls);
      if (r->type == CLI_RESULT_VECTOR) {
        json_key(w, "value");
        if (s->n > 0) json_pair(w, s->t[0], s->v[0]);
        else json_null(w);
      } else {
        json_key(w, "values");
        json_array_begin(w);
        for (size_t k = 0; k < s->n; k++) json_pair(w, s->t[k], s->v[k]);
        json_array_end(w);
      }
      json_object_end(w);
    }
    json_array_end(w);
  }
  json_object_end(w);
  json_writer_free(w);
}

void cli_render_json_series(labels_t *const *ls, size_t n, strbuf_t *out) {
  json_writer_t *w = json_writer_new(out);
  json_array_begin(w);
  for (size_t i = 0; i < n; i++) json_labels(w, ls[i]);
  json_array_end(w);
  json_writer_free(w);
}

void cli_render_json_strings(char *const *s, size_t n, strbuf_t *out) {
  json_writer_t *w = json_writer_new(out);
  json_array_begin(w);
  for (size_t i = 0; i < n; i++) json_string(w, s[i]);
  json_array_end(w);
  json_writer_free(w);
}

/* ---- lists (series, label names and values) ---------------------------------------------- */

void cli_render_list(const char *header, const char *const *items, size_t n, bool csv,
                     strbuf_t *out) {
  if (csv) {
    const char *h[] = {header};
    cli_csv_row(out, h, 1);
    for (size_t i = 0; i < n; i++) cli_csv_row(out, &items[i], 1);
    return;
  }
  /* one column: the header in capitals, then the items */
  for (const char *p = header; *p; p++)
    strbuf_putc(out, (*p >= 'a' && *p <= 'z') ? (char)(*p - 'a' + 'A') : *p);
  strbuf_putc(out, '\n');
  for (size_t i = 0; i < n; i++) {
    strbuf_puts(out, items[i]);
    strbuf_putc(out, '\n');
  }
}
