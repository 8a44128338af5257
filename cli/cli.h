/*
 * cli.h - pharosctl's private header: the command entry points and the
 * pure helpers they share (argument parsing, Go-compatible number and
 * duration formatting, series selectors, a small table writer, counting).
 *
 * pharosctl mirrors promtool: a tree of commands ("query instant",
 * "tsdb list", ...), each a function taking the arguments after its name.
 * Commands print results on stdout, problems on stderr, and return the
 * process exit code (0 success, 1 failure, 3 lint problems as promtool's
 * `check metrics`).  The helpers here are free of I/O so the unit tests in
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
 * ends options.  Positionals go to pos[0..maxpos).  Sets *help on -h or
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
/* Prints "pharosctl: error: <msg>, try --help" and returns 1. */
int cli_usage_error(const char *msg);

/* Command entry points (query.c, check.c, tsdb_cmd.c). */
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

/* ---- Series selectors ----------------------------------------------------- */

/* A parsed selector such as up{job="x",instance=~"a.*"} or {"my.metric"}:
 * matchers whose strings live in the selector.  Owned by the caller:
 * cli_selector_free. */
typedef struct cli_selector {
  tsdb_matcher_t *m;
  size_t n;
  char **strs; /* owned copies the matchers point at */
  size_t nstrs;
} cli_selector_t;

/* Parses text: an optional metric name, then an optional {...} list of
 * `name op "value"` (op = != =~ !~; values in "", '' or `` with Go
 * escapes; names may be quoted; a bare quoted string is the metric name),
 * trailing comma allowed.  At least one matcher must be present and at
 * least one of them must not match the empty string, as Prometheus
 * requires.  0, or PH_EPARSE with "1:COL: parse error: ..." in err. */
int cli_selector_parse(const char *text, cli_selector_t *sel, char *err,
                       size_t errlen);
void cli_selector_free(cli_selector_t *sel);

/* ---- Tables (tabwriter) ----------------------------------------------------- */

/* Rows of cells aligned as Go's text/tabwriter with the given minimum
 * cell width and padding (promtool uses 13 and 2): every column but the
 * last is padded with spaces to max(minwidth, widest cell + padding). */
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

#endif
