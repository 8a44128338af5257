/*
 * cli.h - pharosctl's private header: the command entry points and the
 * pure helpers they share (argument parsing, Go-compatible number and
 * duration formatting, a table writer, counting, and the rendering of
 * query results as tables, CSV, JSON and sparklines).
 *
 * pharosctl has two families of commands.  The main ones (query,
 * query-range, series, labels, label-values, targets) take a global
 * --server URL or --data-dir DIR and print an aligned table, -o json or
 * -o csv.  The promtool-compatible ones ("query instant", "tsdb list",
 * ...) mirror promtool's arguments and output.  Each command is a function
 * taking the arguments after its name; it prints results on stdout,
 * problems on stderr, and returns the exit code: CLI_EXIT_OK, CLI_EXIT_FAIL
 * (a failed query, an invalid file, an unusable directory), CLI_EXIT_USAGE
 * (the command line is wrong) or 3 (lint problems, as promtool's `check
 * metrics`).  The helpers here are free of I/O so the unit tests in
 * tests/unit/cli/ exercise them directly.
 */
#ifndef PH_CLI_H
#define PH_CLI_H

#include "labels.h"
#include "strbuf.h"
#include "tsdb.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- Commands ------------------------------------------------------------ */

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2

/* Options given before the command word (pharosctl --server URL query up);
 * the main commands take them as their defaults.  Pointers into argv, NULL
 * when not given; set once by main. */
typedef struct cli_globals {
  const char *server;   /* NULL: CLI_DEFAULT_SERVER unless data_dir is set */
  const char *data_dir; /* NULL: ask the server */
  const char *output;   /* "table", "json" or "csv"; NULL: table */
} cli_globals_t;

#define CLI_DEFAULT_SERVER "http://localhost:9090"

extern cli_globals_t cli_globals;

typedef struct cli_cmd cli_cmd_t;
/* argv[0] is the command's last word ("instant" of "query instant"); the
 * rest are the arguments after it.  Returns the exit code. */
typedef int (*cli_run_fn)(const cli_cmd_t *cmd, int argc, char **argv);

/* Option kinds.  Targets: STRING const char ** (points into argv or the
 * default), BOOL bool *, MULTI cli_strv_t * (each occurrence appended). */
typedef enum { CLI_OPT_STRING, CLI_OPT_BOOL, CLI_OPT_MULTI } cli_opt_type_t;

typedef struct cli_opt {
  const char *name;    /* long name without "--" */
  char short_name;     /* 0 = none */
  cli_opt_type_t type;
  const char *metavar; /* "<time>"; NULL for booleans */
  const char *help;
  void *target;
} cli_opt_t;

/* The values of a repeatable option: pointers into argv, owned array. */
typedef struct cli_strv {
  const char **v; /* owned by the holder: cli_strv_free */
  size_t n, cap;
} cli_strv_t;

void cli_strv_free(cli_strv_t *s);

typedef struct cli_arg {
  const char *name;    /* "server" shows as <server> */
  const char *help;
  bool optional;
  bool variadic;       /* the last argument only: takes every remaining one */
} cli_arg_t;

struct cli_cmd {
  const char *name;    /* "query instant" */
  const char *help;    /* one line */
  const cli_arg_t *args;
  size_t nargs;
  cli_run_fn run;
};

/* Parses argv[1..argc) (argv[0] is the command name) against opts:
 * --name=value, --name value, -x value, -xvalue, --flag, --no-flag, "--"
 * ends options.  Positionals go to pos[0..nargs), or pos[0..argc) when the
 * last argument is variadic (pos must then have room for argc).  Sets *help on -h or
 * --help (then stops).  Errors are worded like kingpin's ("unknown long
 * flag '--foo'", "expected argument for flag '--time'", "unexpected
 * extra") and return PH_EINVAL; missing required positionals ("required
 * argument 'server' not provided") are checked against args. */
int cli_parse_args(const cli_opt_t *opts, size_t nopts, const cli_arg_t *args,
                   size_t nargs, int argc, char **argv, const char **pos,
                   size_t *npos, bool *help, char *err, size_t errlen);
/* Prints kingpin-style help for a command with its options. */
void cli_usage(FILE *out, const cli_cmd_t *cmd, const cli_opt_t *opts,
               size_t nopts);
/* Prints "pharosctl: error: <msg>, try --help" and returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *msg);

/* Command entry points: the main commands (cmd.c) ... */
int cli_cmd_query(const cli_cmd_t *cmd, int argc, char **argv);
int cli_cmd_query_range(const cli_cmd_t *cmd, int argc, char **argv);
int cli_cmd_series(const cli_cmd_t *cmd, int argc, char **argv);
int cli_cmd_labels(const cli_cmd_t *cmd, int argc, char **argv);
int cli_cmd_label_values(const cli_cmd_t *cmd, int argc, char **argv);
int cli_cmd_targets(const cli_cmd_t *cmd, int argc, char **argv);
/* ... and the promtool-compatible ones (query.c, check.c, tsdb_cmd.c). */
int cli_query_instant(const cli_cmd_t *cmd, int argc, char **argv);
int cli_query_range(const cli_cmd_t *cmd, int argc, char **argv);
int cli_query_series(const cli_cmd_t *cmd, int argc, char **argv);
int cli_query_labels(const cli_cmd_t *cmd, int argc, char **argv);
int cli_check_config(const cli_cmd_t *cmd, int argc, char **argv);
int cli_check_metrics(const cli_cmd_t *cmd, int argc, char **argv);
int cli_tsdb_list(const cli_cmd_t *cmd, int argc, char **argv);
int cli_tsdb_inspect(const cli_cmd_t *cmd, int argc, char **argv);
int cli_tsdb_analyze(const cli_cmd_t *cmd, int argc, char **argv);
int cli_tsdb_dump(const cli_cmd_t *cmd, int argc, char **argv);
int cli_tsdb_dump_openmetrics(const cli_cmd_t *cmd, int argc, char **argv);
int cli_tsdb_create_blocks(const cli_cmd_t *cmd, int argc, char **argv);

/* Opens a data directory for pharosctl (tsdb_cmd.c): refuses one a running
 * pharos holds (its lock is probed first and the message says so) and,
 * unless create, a directory that is not a database; retention and the
 * background thread off.  0, or 1 after printing why. */
int cli_open_db(const char *dir, bool create, int64_t ooo_window_ms, tsdb_t **db);

/* ---- Formatting (Go-compatible) ----------------------------------------- */

/* Go's strconv.FormatFloat(v, 'f', -1, 64): the shortest digits that
 * round-trip, never an exponent ("1", "0.001", "1000000000000000000000",
 * "NaN", "+Inf", "-Inf", "-0").  buf at least 400 bytes (the widest
 * double); returns the length. */
size_t cli_format_float_f(double v, char *buf, size_t buflen);
/* Go's %g (strconv 'g', -1): "1e+06", "123456", "0.1", "NaN", "+Inf"
 * (common/json.h's format_float_go_g, re-exported because json.h and
 * json-c's headers cannot be included together).  buf at least 32 bytes. */
size_t cli_format_float_g(double v, char *buf, size_t buflen);
/* model.Time.String(): ms as float seconds in the 'f' form above
 * ("1700000000.123", "1700000000", "-0.5"). */
size_t cli_format_time_seconds(int64_t ms, char *buf, size_t buflen);
/* Go's time.Duration.String() for ms: "0s", "500ms", "1.5s", "2h0m0s",
 * "1h59m59.999s", "-1m0s".  buf at least 40 bytes. */
size_t cli_format_go_duration(int64_t ms, char *buf, size_t buflen);
/* Byte counts as Go's units.Base2Bytes prints them (promtool tsdb list
 * -r): every non-zero base-1024 digit with its unit, largest first ("0B",
 * "512B", "1KiB", "1KiB512B", "2MiB3B"). */
size_t cli_format_bytes(uint64_t n, char *buf, size_t buflen);

/* Parses a JSON number of seconds as model.Time's UnmarshalJSON does:
 * textually, the fraction cut (not rounded) to milliseconds ("1.5" ->
 * 1500, "1.2345" -> 1234, "-0.1" -> -100, "17" -> 17000).  0 or
 * PH_EPARSE. */
int cli_parse_json_time(const char *s, int64_t *ms);

/* A series as OpenMetrics text writes it: name{a="b",c="d"} (no space
 * after commas, the bare name when there are no other labels), values
 * escaped as OpenMetrics does (\\, \", \n); a metric or label name outside
 * the legacy character set is quoted in Prometheus 3's UTF-8 form
 * ({"my.metric","my.label"="x"}). */
void cli_format_om_series(const labels_t *ls, strbuf_t *out);

/* Prometheus's model.LabelSet.Before (the order promtool sorts matrices
 * in): fewer labels first, then the first label name (in the sorted union
 * of both sets' names) whose value differs or is missing decides. */
bool cli_labels_before(const labels_t *a, const labels_t *b);

/* ---- Tables (tabwriter) ----------------------------------------------------- */

/* Rows of cells aligned as Go's text/tabwriter with the given minimum
 * cell width and padding (promtool uses 13 and 2): every column but the
 * last is padded with spaces to max(minwidth, widest cell + padding),
 * widths counted in UTF-8 code points as tabwriter counts runes; no
 * padding follows the last non-empty cell of a row. */
typedef struct cli_table {
  char **cells; /* owned, row-major */
  size_t *rowlen;
  size_t nrows, ncells, cells_cap, rows_cap;
} cli_table_t;

void cli_table_init(cli_table_t *t);
void cli_table_free(cli_table_t *t);
/* Adds a row of n cells (copied). */
void cli_table_row(cli_table_t *t, const char *const *cells, size_t n);
void cli_table_render(const cli_table_t *t, size_t minwidth, size_t padding,
                      strbuf_t *out);

/* ---- Counting --------------------------------------------------------------- */

/* A string -> count map (open addressing, keys copied), for cardinality
 * and lint.  Owned by its holder: cli_counts_free. */
typedef struct cli_counts {
  char **keys;
  uint64_t *vals;
  size_t cap, n;
} cli_counts_t;

void cli_counts_init(cli_counts_t *c);
void cli_counts_free(cli_counts_t *c);
/* Adds delta to key's count (creating it at 0); returns the new count. */
uint64_t cli_counts_add(cli_counts_t *c, const char *key, size_t keylen,
                        uint64_t delta);
/* Current count of key (0 if absent). */
uint64_t cli_counts_get(const cli_counts_t *c, const char *key, size_t keylen);

typedef struct cli_count_entry {
  const char *key; /* borrowed from the map */
  uint64_t val;
} cli_count_entry_t;

/* The entries sorted by count descending, then key ascending; *out holds
 * min(limit, n) entries (limit 0 = all), owned by the caller (free()). */
size_t cli_counts_top(const cli_counts_t *c, size_t limit,
                      cli_count_entry_t **out);

/* ---- Cardinality ------------------------------------------------------------ */

/* The statistics of promtool tsdb analyze over a stream of label sets. */
typedef struct cli_cardinality {
  uint64_t series;
  uint64_t label_pairs_total;  /* sum over series of their label count */
  cli_counts_t metric_series;  /* metric name -> series */
  cli_counts_t pair_series;    /* "name=value" -> series */
  cli_counts_t label_values;   /* label name -> distinct values */
  cli_counts_t label_value_len;/* label name -> sum of distinct values' length */
} cli_cardinality_t;

void cli_cardinality_init(cli_cardinality_t *c);
void cli_cardinality_add(cli_cardinality_t *c, const labels_t *ls);
void cli_cardinality_free(cli_cardinality_t *c);

/* ---- Query results and their rendering (render.c) ------------------------- */

typedef enum {
  CLI_RESULT_SCALAR,
  CLI_RESULT_VECTOR,
  CLI_RESULT_MATRIX,
  CLI_RESULT_STRING
} cli_result_type_t;

/* One series of a vector (one point) or matrix (points in time order). */
typedef struct cli_series {
  labels_t *ls; /* owned */
  int64_t *t;   /* owned, n points: ms */
  double *v;    /* owned */
  size_t n, cap;
} cli_series_t;

/* A query result from the HTTP API or the local engine.  Owned by its
 * holder: cli_result_free. */
typedef struct cli_result {
  cli_result_type_t type;
  cli_series_t *series; /* vector, matrix */
  size_t n, cap;
  int64_t t;     /* scalar, string */
  double scalar;
  char *str;     /* owned */
} cli_result_t;

void cli_result_init(cli_result_t *r, cli_result_type_t type);
/* Adds a series with no points; takes ownership of ls.  The pointer is
 * valid until the next add. */
cli_series_t *cli_result_add_series(cli_result_t *r, labels_t *ls);
void cli_series_add_point(cli_series_t *s, int64_t t, double v);
void cli_result_free(cli_result_t *r);

/* The grid of a range query, ms. */
typedef struct cli_range {
  int64_t start, end, step;
} cli_range_t;

/* Steps in the grid: (end - start) / step + 1, 0 if it is empty. */
size_t cli_range_steps(const cli_range_t *g);

typedef struct cli_series_stats {
  size_t count;           /* points that are not NaN */
  double min, max, last;  /* over those points (NaN when count is 0) */
  double fmin, fmax;      /* over the finite ones (+Inf/-Inf when none) */
} cli_series_stats_t;

void cli_series_stats(const cli_series_t *s, cli_series_stats_t *st);

#define CLI_CHART_DEFAULT_WIDTH 60
#define CLI_CHART_MIN_WIDTH 10

/* Appends the series' sparkline over grid g in at most width columns (one
 * per step when they fit, else steps merged by their mean): ▁..█ scaled
 * to the series' own finite min..max, a space where the grid has no point
 * or the value is NaN.  Returns the columns drawn. */
size_t cli_sparkline(const cli_series_t *s, const cli_range_t *g, size_t width,
                     strbuf_t *out);
/* The chart's width on a line whose first `used` columns are taken: the
 * rest of $COLUMNS (columns is its value; at least CLI_CHART_MIN_WIDTH),
 * or CLI_CHART_DEFAULT_WIDTH when columns is NULL, empty or not a positive
 * number. */
size_t cli_chart_width(const char *columns, size_t used);
/* Display width of UTF-8 text: its code points. */
size_t cli_text_width(const char *s);

/* The aligned table: for an instant result SERIES VALUE TIMESTAMP (one row
 * per sample; a scalar or string as "(scalar)"/"(string)"), for a range
 * result (range not NULL and a matrix) SERIES MIN MAX LAST CHART, the
 * chart sized by cli_chart_width(columns, ...). */
void cli_render_table(const cli_result_t *r, const cli_range_t *range, const char *columns,
                      strbuf_t *out);
/* RFC 4180 CSV (CRLF line ends, fields with , " CR LF quoted, quotes
 * doubled): the header series,timestamp,value and one row per sample;
 * timestamps are the API's float seconds; a scalar or string has an empty
 * series field. */
void cli_render_csv(const cli_result_t *r, strbuf_t *out);
/* The API's "data" object: {"resultType":...,"result":...}. */
void cli_render_json(const cli_result_t *r, strbuf_t *out);
/* The API's data for /api/v1/series: an array of label objects. */
void cli_render_json_series(labels_t *const *ls, size_t n, strbuf_t *out);
/* A JSON array of strings (label names or values). */
void cli_render_json_strings(char *const *s, size_t n, strbuf_t *out);
/* A one-column list: the header upper-cased then one item a line, or as
 * CSV with the header as given. */
void cli_render_list(const char *header, const char *const *items, size_t n, bool csv,
                     strbuf_t *out);
/* One CSV field / row (with CRLF), quoted when needed. */
void cli_csv_field(strbuf_t *out, const char *s);
void cli_csv_row(strbuf_t *out, const char *const *cells, size_t n);

#endif
