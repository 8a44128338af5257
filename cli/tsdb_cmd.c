/*
 * tsdb_cmd.c - `pharosctl tsdb list|inspect|analyze|dump|dump-openmetrics|
 * create-blocks-from openmetrics`: offline work on a data directory.
 *
 * Every command opens the directory through tsdb/tsdb.h.  Nothing here
 * reads the storage's files, except each block's meta.json for its chunk
 * count (the public block info lacks it) and the sizes of the files under
 * wal/ (tsdb_stats_t.wal_bytes counts only what this process wrote).  A
 * directory without wal/ or a lock file is refused rather than turned
 * into an empty database.  The TSDB holds an exclusive
 * flock() on DIR/lock while open, so these commands cannot run against the
 * directory of a running pharos: the lock is probed first and the error
 * says so plainly.  Read-only commands open with retention off and no
 * background thread; opening still replays the WAL (and may start a new
 * WAL segment), so "read-only-ish".
 *
 * Import (create-blocks-from openmetrics) reads the whole OpenMetrics file
 * into memory, checks it in one pass (parse errors, samples without a
 * timestamp: nothing is written then), and then appends it window by
 * window (12 block ranges each, in time order), re-parsing the file for
 * each window and calling tsdb_maintain after each so the head is cut
 * into blocks as it goes and memory stays bounded.  The TSDB accepts
 * samples older than its head only inside its out-of-order window, so the
 * database is opened with a window wider than any input.  Samples newer
 * than the last complete block range stay in the head (and the WAL) of
 * the output directory, where pharos picks them up when it opens it.
 */
#include "cli.h"

#include "expfmt.h"
#include "mem.h"
#include "ph_error.h"
#include "promql.h"
#include "timeparse.h"

#include <json-c/json.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_DB "data/"
#define IMPORT_OOO_WINDOW_MS (1000LL * 365 * 24 * 3600 * 1000) /* 1000 years */
#define IMPORT_WINDOW_RANGES 12
#define IMPORT_BATCH 10000
#define IMPORT_MAX_ERRORS_SHOWN 20

/* ---- opening ---------------------------------------------------------------- */

/* Prints why dir cannot be used and returns 1; 0 when it can. */
static int probe_dir(const char *dir, bool must_exist) {
  struct stat st;
  if (stat(dir, &st) != 0) {
    if (errno == ENOENT && !must_exist) return 0;
    fprintf(stderr, "pharosctl: cannot open data directory %s: %s\n", dir, strerror(errno));
    return 1;
  }
  if (!S_ISDIR(st.st_mode)) {
    fprintf(stderr, "pharosctl: %s is not a directory\n", dir);
    return 1;
  }
  char lp[4096];
  snprintf(lp, sizeof lp, "%s/lock", dir);
  if (must_exist) {
    /* do not turn an unrelated directory into a database by opening it */
    char wp[4096];
    snprintf(wp, sizeof wp, "%s/wal", dir);
    struct stat ws;
    if (stat(wp, &ws) != 0 && stat(lp, &ws) != 0) {
      fprintf(stderr, "pharosctl: %s does not look like a data directory (no wal/ or lock file)\n",
              dir);
      return 1;
    }
  }
  int fd = open(lp, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0; /* no lock file yet: nobody has it open */
  int rc = 0;
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      fprintf(stderr,
              "pharosctl: data directory %s is in use: another process (a running pharos?) "
              "holds its lock file %s.\n"
              "The TSDB takes an exclusive lock on its directory, so pharosctl cannot open the "
              "directory of a live server. Stop the server first, or run pharosctl on a copy "
              "of the directory.\n",
              dir, lp);
    } else {
      fprintf(stderr, "pharosctl: cannot lock %s: %s\n", lp, strerror(errno));
    }
    rc = 1;
  }
  close(fd); /* releases our probe lock */
  return rc;
}

int cli_open_db(const char *dir, bool create, int64_t ooo_window_ms, tsdb_t **db) {
  if (probe_dir(dir, !create) != 0) return 1;
  tsdb_options_t o;
  tsdb_options_default(&o);
  o.path = dir;
  o.retention_ms = 0;
  o.retention_bytes = 0;
  o.no_background = true;
  o.ooo_window_ms = ooo_window_ms;
  char err[1024];
  if (tsdb_open(&o, db, err, sizeof err) != 0) {
    fprintf(stderr, "pharosctl: opening storage failed: %s\n", err);
    return 1;
  }
  return 0;
}

/* numChunks from DIR/<id>/meta.json; -1 if unreadable. */
static int64_t block_chunks(const char *dir, const char *id) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s/meta.json", dir, id);
  json_object *j = json_object_from_file(path), *stats, *nc;
  int64_t n = -1;
  if (j && json_object_object_get_ex(j, "stats", &stats) &&
      json_object_object_get_ex(stats, "numChunks", &nc))
    n = json_object_get_int64(nc);
  json_object_put(j);
  return n;
}

/* Bytes of the files in DIR/wal (segments and checkpoints). */
static uint64_t wal_disk_bytes(const char *dir) {
  char path[4200];
  snprintf(path, sizeof path, "%s/wal", dir);
  DIR *d = opendir(path);
  if (d == NULL) return 0;
  uint64_t total = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.') continue;
    char f[4500];
    struct stat st;
    snprintf(f, sizeof f, "%s/%s", path, de->d_name);
    if (stat(f, &st) != 0) continue;
    if (S_ISREG(st.st_mode)) {
      total += (uint64_t)st.st_size;
    } else if (S_ISDIR(st.st_mode)) { /* a checkpoint directory */
      DIR *cd = opendir(f);
      struct dirent *ce;
      while (cd && (ce = readdir(cd)) != NULL) {
        char g[4800];
        snprintf(g, sizeof g, "%s/%s", f, ce->d_name);
        if (ce->d_name[0] != '.' && stat(g, &st) == 0 && S_ISREG(st.st_mode))
          total += (uint64_t)st.st_size;
      }
      if (cd) closedir(cd);
    }
  }
  closedir(d);
  return total;
}

/* Parses "<flags>" for the tsdb commands; -1 to go on, else exit code. */
static int parse(const cli_cmd_t *cmd, const cli_opt_t *opts, size_t nopts, int argc,
                 char **argv, const char **pos) {
  char err[512];
  size_t npos;
  bool help;
  if (cli_parse_args(opts, nopts, cmd->args, cmd->nargs, argc, argv, pos, &npos, &help, err,
                     sizeof err) != 0)
    return cli_usage_error(err);
  if (help) {
    cli_usage(stdout, cmd, opts, nopts);
    return 0;
  }
  return -1;
}

static void fmt_u64(uint64_t v, char *buf, size_t n) { snprintf(buf, n, "%" PRIu64, v); }

/* ---- list -------------------------------------------------------------------- */

static const char *const list_header[] = {"BLOCK ULID", "MIN TIME",    "MAX TIME",
                                          "DURATION",   "NUM SAMPLES", "NUM CHUNKS",
                                          "NUM SERIES", "SIZE"};

/* promtool's printBlocks: a tabwriter table (min width 13, padding 2). */
static void print_blocks(const char *dir, const tsdb_block_info_t *b, size_t n, bool human) {
  cli_table_t t;
  cli_table_init(&t);
  cli_table_row(&t, list_header, 8);
  for (size_t i = 0; i < n; i++) {
    char mint[64], maxt[64], dur[48], samples[32], chunks[32], series[32], size[48];
    if (human) {
      ph_format_rfc3339(b[i].mint, mint, sizeof mint);
      ph_format_rfc3339(b[i].maxt, maxt, sizeof maxt);
      cli_format_bytes(b[i].bytes, size, sizeof size);
    } else {
      snprintf(mint, sizeof mint, "%" PRId64, b[i].mint);
      snprintf(maxt, sizeof maxt, "%" PRId64, b[i].maxt);
      fmt_u64(b[i].bytes, size, sizeof size);
    }
    cli_format_go_duration(b[i].maxt - b[i].mint, dur, sizeof dur);
    fmt_u64(b[i].samples, samples, sizeof samples);
    int64_t nc = block_chunks(dir, b[i].id);
    if (nc >= 0) snprintf(chunks, sizeof chunks, "%" PRId64, nc);
    else snprintf(chunks, sizeof chunks, "-");
    fmt_u64(b[i].series, series, sizeof series);
    const char *row[] = {b[i].id, mint, maxt, dur, samples, chunks, series, size};
    cli_table_row(&t, row, 8);
  }
  strbuf_t out = STRBUF_INIT;
  cli_table_render(&t, 13, 2, &out);
  fputs(strbuf_cstr(&out), stdout);
  strbuf_free(&out);
  cli_table_free(&t);
}

int cli_tsdb_list(const cli_cmd_t *cmd, int argc, char **argv) {
  bool human = false;
  const cli_opt_t opts[] = {
      {"human-readable", 'r', CLI_OPT_BOOL, NULL, "Print human readable values.", &human},
  };
  const char *pos[1] = {DEFAULT_DB};
  int rc = parse(cmd, opts, 1, argc, argv, pos);
  if (rc >= 0) return rc;
  tsdb_t *db;
  if (cli_open_db(pos[0], false, 0, &db) != 0) return 1;
  tsdb_block_info_t *b;
  size_t n;
  tsdb_blocks_info(db, &b, &n);
  print_blocks(pos[0], b, n, human);
  tsdb_blocks_info_free(b);
  tsdb_close(db);
  return 0;
}

/* ---- inspect ------------------------------------------------------------------ */

int cli_tsdb_inspect(const cli_cmd_t *cmd, int argc, char **argv) {
  const char *pos[1] = {DEFAULT_DB};
  int rc = parse(cmd, NULL, 0, argc, argv, pos);
  if (rc >= 0) return rc;
  tsdb_t *db;
  if (cli_open_db(pos[0], false, 0, &db) != 0) return 1;
  tsdb_block_info_t *b;
  size_t n;
  tsdb_blocks_info(db, &b, &n);
  tsdb_stats_t st;
  tsdb_get_stats(db, &st);
  uint64_t wal = wal_disk_bytes(pos[0]);

  printf("Data directory: %s\n\nBlocks: %zu\n", pos[0], n);
  uint64_t tot_samples = 0, tot_series = 0, tot_bytes = 0;
  int64_t tot_chunks = 0;
  bool chunks_known = true;
  if (n > 0) {
    cli_table_t t;
    cli_table_init(&t);
    const char *hdr[] = {"BLOCK ULID", "MIN TIME", "MAX TIME", "DURATION", "LEVEL",
                         "SERIES",     "SAMPLES",  "CHUNKS",   "BYTES",    "BYTES/SAMPLE"};
    cli_table_row(&t, hdr, 10);
    for (size_t i = 0; i < n; i++) {
      char mint[64], maxt[64], dur[48], lvl[16], series[32], samples[32], chunks[32],
          bytes[32], bps[32];
      ph_format_rfc3339(b[i].mint, mint, sizeof mint);
      ph_format_rfc3339(b[i].maxt, maxt, sizeof maxt);
      ph_format_duration(b[i].maxt - b[i].mint, dur, sizeof dur);
      snprintf(lvl, sizeof lvl, "%d", b[i].level);
      fmt_u64(b[i].series, series, sizeof series);
      fmt_u64(b[i].samples, samples, sizeof samples);
      int64_t nc = block_chunks(pos[0], b[i].id);
      if (nc >= 0) {
        snprintf(chunks, sizeof chunks, "%" PRId64, nc);
        tot_chunks += nc;
      } else {
        snprintf(chunks, sizeof chunks, "-");
        chunks_known = false;
      }
      fmt_u64(b[i].bytes, bytes, sizeof bytes);
      if (b[i].samples) snprintf(bps, sizeof bps, "%.2f", (double)b[i].bytes / (double)b[i].samples);
      else snprintf(bps, sizeof bps, "-");
      const char *row[] = {b[i].id, mint, maxt, dur, lvl, series, samples, chunks, bytes, bps};
      cli_table_row(&t, row, 10);
      tot_samples += b[i].samples;
      tot_series += b[i].series;
      tot_bytes += b[i].bytes;
    }
    strbuf_t out = STRBUF_INIT;
    cli_table_render(&t, 0, 2, &out);
    fputs(strbuf_cstr(&out), stdout);
    strbuf_free(&out);
    cli_table_free(&t);
  }

  printf("\nHead:\n");
  printf("  Series:        %" PRIu64 "\n", st.head_series);
  printf("  Chunks:        %" PRIu64 "\n", st.head_chunks);
  if (st.head_series > 0 && st.head_min_time != INT64_MAX && st.head_max_time != INT64_MIN) {
    char a[64], z[64];
    ph_format_rfc3339(st.head_min_time, a, sizeof a);
    ph_format_rfc3339(st.head_max_time, z, sizeof z);
    printf("  Min time:      %s (%" PRId64 ")\n", a, st.head_min_time);
    printf("  Max time:      %s (%" PRId64 ")\n", z, st.head_max_time);
  }
  printf("  WAL bytes:     %" PRIu64 " (on disk, checkpoints included)\n", wal);

  printf("\nTotals:\n");
  printf("  Blocks:              %zu\n", n);
  printf("  Series in blocks:    %" PRIu64 " (summed over blocks)\n", tot_series);
  printf("  Samples in blocks:   %" PRIu64 "\n", tot_samples);
  if (chunks_known) printf("  Chunks in blocks:    %" PRId64 "\n", tot_chunks);
  printf("  Block bytes:         %" PRIu64 "\n", tot_bytes);
  printf("  WAL bytes:           %" PRIu64 "\n", wal);
  printf("  Bytes on disk:       %" PRIu64 "\n", tot_bytes + wal);
  if (tot_samples) printf("  Bytes/sample (blocks): %.2f\n", (double)tot_bytes / (double)tot_samples);
  else printf("  Bytes/sample (blocks): -\n");
  tsdb_blocks_info_free(b);
  tsdb_close(db);
  return 0;
}

/* ---- analyze ------------------------------------------------------------------ */

static void print_top(const char *title, const cli_counts_t *c, size_t limit) {
  cli_count_entry_t *top;
  size_t n = cli_counts_top(c, limit, &top);
  printf("%s\n", title);
  for (size_t i = 0; i < n; i++) printf("%" PRIu64 " %s\n", top[i].val, top[i].key);
  free(top);
}

static void print_counts(const char *title, const tsdb_count_t *v, size_t n) {
  printf("%s\n", title);
  for (size_t i = 0; i < n; i++) printf("%" PRIu64 " %s\n", v[i].value, v[i].name);
}

/* Parses a limit; prints and returns false on error. */
static bool parse_limit(const char *s, size_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (*s == '\0' || *end != '\0' || errno || v < 0) {
    char msg[256];
    snprintf(msg, sizeof msg, "strconv.ParseInt: parsing \"%s\": invalid syntax for --limit", s);
    cli_usage_error(msg);
    return false;
  }
  *out = (size_t)v;
  return true;
}

int cli_tsdb_analyze(const cli_cmd_t *cmd, int argc, char **argv) {
  const char *limit_s = "20";
  bool head = false;
  const cli_opt_t opts[] = {
      {"limit", 0, CLI_OPT_STRING, "<n>", "How many items to show in each list.", &limit_s},
      {"head", 0, CLI_OPT_BOOL, NULL,
       "Show the head's cardinality as /api/v1/status/tsdb computes it, instead of the "
       "whole database's.", &head},
  };
  const char *pos[2] = {DEFAULT_DB, NULL};
  int rc = parse(cmd, opts, 2, argc, argv, pos);
  if (rc >= 0) return rc;
  size_t limit;
  if (!parse_limit(limit_s, &limit)) return 1;
  tsdb_t *db;
  if (cli_open_db(pos[0], false, 0, &db) != 0) return 1;

  if (head) {
    tsdb_cardinality_t c;
    tsdb_get_cardinality(db, limit, &c);
    printf("Head\nTotal Series: %" PRIu64 "\nLabel pairs: %" PRIu64 "\n\n", c.num_series,
           c.num_label_pairs);
    print_counts("Highest cardinality metric names:", c.series_by_metric, c.nseries_by_metric);
    print_counts("Highest cardinality labels:", c.values_by_label, c.nvalues_by_label);
    print_counts("Label names with highest cumulative label value length:",
                 c.memory_by_label, c.nmemory_by_label);
    print_counts("Most common label pairs:", c.series_by_pair, c.nseries_by_pair);
    tsdb_cardinality_free(&c);
    tsdb_close(db);
    return 0;
  }

  /* the range: one block's, or everything */
  int64_t mint = INT64_MIN, maxt = INT64_MAX;
  tsdb_block_info_t *b;
  size_t nb;
  tsdb_blocks_info(db, &b, &nb);
  if (pos[1] != NULL) {
    size_t i;
    for (i = 0; i < nb && strcmp(b[i].id, pos[1]) != 0; i++) {
    }
    if (i == nb) {
      fprintf(stderr, "pharosctl: block %s not found in %s\n", pos[1], pos[0]);
      tsdb_blocks_info_free(b);
      tsdb_close(db);
      return 1;
    }
    mint = b[i].mint;
    maxt = b[i].maxt - 1;
    char dur[48];
    cli_format_go_duration(b[i].maxt - b[i].mint, dur, sizeof dur);
    printf("Block ID: %s\nDuration: %s\n", b[i].id, dur);
  } else {
    tsdb_stats_t st;
    tsdb_get_stats(db, &st);
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (size_t i = 0; i < nb; i++) {
      if (b[i].mint < lo) lo = b[i].mint;
      if (b[i].maxt - 1 > hi) hi = b[i].maxt - 1;
    }
    if (st.head_series > 0 && st.head_min_time != INT64_MAX) {
      if (st.head_min_time < lo) lo = st.head_min_time;
      if (st.head_max_time > hi) hi = st.head_max_time;
    }
    printf("Data directory: %s\n", pos[0]);
    if (lo <= hi) {
      char a[64], z[64], dur[48];
      ph_format_rfc3339(lo, a, sizeof a);
      ph_format_rfc3339(hi, z, sizeof z);
      cli_format_go_duration(hi - lo + 1, dur, sizeof dur);
      printf("Time range: %s to %s\nDuration: %s\n", a, z, dur);
    }
  }
  tsdb_blocks_info_free(b);

  tsdb_querier_t *q;
  tsdb_series_set_t *set = NULL;
  char err[512];
  tsdb_matcher_t all = {TSDB_MATCH_RE, "__name__", ".*"};
  rc = tsdb_querier_open(db, mint, maxt, &q);
  if (rc == 0) {
    rc = tsdb_select(q, &all, 1, &set, err, sizeof err);
    if (rc != 0) tsdb_querier_close(q);
  } else {
    snprintf(err, sizeof err, "%s", ph_strerror(rc));
  }
  if (rc != 0) {
    fprintf(stderr, "pharosctl: reading series failed: %s\n", err);
    tsdb_close(db);
    return 1;
  }
  cli_cardinality_t c;
  cli_cardinality_init(&c);
  while (tsdb_series_set_next(set)) cli_cardinality_add(&c, tsdb_series_set_labels(set));
  tsdb_series_set_free(set);
  tsdb_querier_close(q);

  printf("Total Series: %" PRIu64 "\n", c.series);
  printf("Label names: %zu\n", c.label_values.n);
  printf("Postings (unique label pairs): %zu\n", c.pair_series.n);
  printf("Postings entries (total label pairs): %" PRIu64 "\n", c.label_pairs_total);
  printf("\n");
  print_top("Most common label pairs:", &c.pair_series, limit);
  print_top("\nLabel names with highest cumulative label value length:", &c.label_value_len,
            limit);
  print_top("\nHighest cardinality labels:", &c.label_values, limit);
  print_top("\nHighest cardinality metric names:", &c.metric_series, limit);
  cli_cardinality_free(&c);
  tsdb_close(db);
  return 0;
}

/* ---- dump ----------------------------------------------------------------------- */

/* --min-time / --max-time: integer milliseconds (as promtool) or RFC 3339. */
static bool parse_ms(const char *flag, const char *s, int64_t *out) {
  const char *p = s + (*s == '-');
  bool digits = *p != '\0';
  for (; *p; p++)
    if (*p < '0' || *p > '9') digits = false;
  if (digits) {
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno == 0 && *end == '\0') {
      *out = v;
      return true;
    }
  } else {
    char err[256];
    if (strchr(s, 'T') && ph_parse_time(s, strlen(s), out, err, sizeof err) == 0) return true;
  }
  char msg[300];
  snprintf(msg, sizeof msg,
           "invalid value \"%s\" for --%s: expected milliseconds since the epoch or an RFC 3339 "
           "time",
           s, flag);
  cli_usage_error(msg);
  return false;
}

typedef struct dump_opts {
  cli_strv_t match;
  const char *min_s, *max_s;
} dump_opts_t;

/* Runs fn over every series matching any selector (each series once). */
static int dump_run(const cli_cmd_t *cmd, int argc, char **argv, bool openmetrics) {
  dump_opts_t o = {.min_s = "", .max_s = ""};
  const cli_opt_t opts[] = {
      {"min-time", 0, CLI_OPT_STRING, "<ms>",
       "Minimum timestamp to dump (milliseconds or RFC 3339).", &o.min_s},
      {"max-time", 0, CLI_OPT_STRING, "<ms>",
       "Maximum timestamp to dump (milliseconds or RFC 3339).", &o.max_s},
      {"match", 0, CLI_OPT_MULTI, "<selector>",
       "Series selector (repeatable); default all series.", &o.match},
  };
  const char *pos[1] = {DEFAULT_DB};
  int rc = parse(cmd, opts, 3, argc, argv, pos);
  if (rc >= 0) {
    cli_strv_free(&o.match);
    return rc;
  }
  int64_t mint = INT64_MIN, maxt = INT64_MAX;
  if ((o.min_s[0] && !parse_ms("min-time", o.min_s, &mint)) ||
      (o.max_s[0] && !parse_ms("max-time", o.max_s, &maxt))) {
    cli_strv_free(&o.match);
    return 1;
  }
  size_t nsel = o.match.n ? o.match.n : 1;
  promql_selector_t **sels = ph_calloc(nsel, sizeof(*sels));
  char err[512];
  for (size_t i = 0; i < o.match.n; i++) {
    promql_error_t perr;
    if (promql_parse_selector(o.match.v[i], strlen(o.match.v[i]), &sels[i], &perr) != 0) {
      fprintf(stderr, "pharosctl: invalid --match \"%s\": %s\n", o.match.v[i], perr.msg);
      for (size_t k = 0; k < i; k++) promql_selector_free(sels[k]);
      free(sels);
      cli_strv_free(&o.match);
      return 1;
    }
  }
  tsdb_matcher_t all = {TSDB_MATCH_RE, "__name__", ".*"};
  tsdb_t *db = NULL;
  rc = cli_open_db(pos[0], false, 0, &db);
  tsdb_querier_t *q = NULL;
  if (rc == 0 && tsdb_querier_open(db, mint, maxt, &q) != 0) {
    fprintf(stderr, "pharosctl: cannot open a querier on %s\n", pos[0]);
    rc = 1;
  }
  /* labels already printed, when several selectors may overlap */
  labels_t **seen = NULL;
  size_t nseen = 0, seen_cap = 0;
  strbuf_t out = STRBUF_INIT;
  for (size_t si = 0; si < nsel && rc == 0; si++) {
    tsdb_series_set_t *set;
    const tsdb_matcher_t *m = &all;
    size_t nm = 1;
    if (o.match.n) nm = promql_selector_matchers(sels[si], &m);
    if (tsdb_select(q, m, nm, &set, err, sizeof err) != 0) {
      fprintf(stderr, "pharosctl: select failed: %s\n", err);
      rc = 1;
      break;
    }
    while (tsdb_series_set_next(set)) {
      const labels_t *ls = tsdb_series_set_labels(set);
      if (nsel > 1) {
        bool dup = false;
        for (size_t k = 0; k < nseen && !dup; k++) dup = labels_equal(seen[k], ls);
        if (dup) continue;
        ph_grow(&seen, &seen_cap, nseen + 1);
        seen[nseen++] = labels_dup(ls);
      }
      strbuf_t prefix = STRBUF_INIT;
      if (openmetrics) {
        cli_format_om_series(ls, &prefix);
      } else {
        labels_format_braces(ls, &prefix);
      }
      tsdb_iterator_t *it = tsdb_series_set_iterator(set);
      while (tsdb_iterator_next(it)) {
        int64_t t;
        double v;
        tsdb_iterator_at(it, &t, &v);
        char vb[64];
        if (openmetrics && tsdb_is_stale_nan(v)) continue;
        cli_format_float_g(v, vb, sizeof vb);
        if (openmetrics) {
          char tb[64];
          /* %.3f of float seconds, as promtool's dump-openmetrics */
          snprintf(tb, sizeof tb, "%.3f", (double)t / 1000.0);
          strbuf_printf(&out, "%s %s %s\n", prefix.data, vb, tb);
        } else {
          strbuf_printf(&out, "%s %s %" PRId64 "\n", prefix.data, vb, t);
        }
        if (out.len > 1 << 16) {
          fwrite(out.data, 1, out.len, stdout);
          strbuf_reset(&out);
        }
      }
      if (tsdb_iterator_err(it) != 0) {
        fprintf(stderr, "pharosctl: reading samples of %s failed: %s\n", prefix.data,
                ph_strerror(tsdb_iterator_err(it)));
        rc = 1;
      }
      strbuf_free(&prefix);
    }
    tsdb_series_set_free(set);
  }
  if (rc == 0 && openmetrics) strbuf_puts(&out, "# EOF\n");
  if (out.len) fwrite(out.data, 1, out.len, stdout);
  strbuf_free(&out);
  for (size_t k = 0; k < nseen; k++) labels_free(seen[k]);
  free(seen);
  if (q) tsdb_querier_close(q);
  if (db) tsdb_close(db);
  for (size_t i = 0; i < o.match.n; i++) promql_selector_free(sels[i]);
  free(sels);
  cli_strv_free(&o.match);
  return rc;
}

int cli_tsdb_dump(const cli_cmd_t *cmd, int argc, char **argv) {
  return dump_run(cmd, argc, argv, false);
}

int cli_tsdb_dump_openmetrics(const cli_cmd_t *cmd, int argc, char **argv) {
  return dump_run(cmd, argc, argv, true);
}

/* ---- create-blocks-from openmetrics ----------------------------------------- */

/* Tracks the line number of positions in the input, moving forward. */
typedef struct line_tracker {
  const char *buf;
  size_t off, line;
} line_tracker_t;

static size_t line_at(line_tracker_t *lt, const char *p) {
  size_t target = (size_t)(p - lt->buf);
  if (target < lt->off) { /* a new pass: start over */
    lt->off = 0;
    lt->line = 1;
  }
  for (; lt->off < target; lt->off++)
    if (lt->buf[lt->off] == '\n') lt->line++;
  return lt->line;
}

/* Builds the series' label set (NULL and reason in err when invalid). */
static labels_t *entry_labels(const expfmt_entry_t *e, char *err, size_t errlen) {
  label_t *pairs = ph_calloc(e->nlabels + 1, sizeof(*pairs));
  char **copies = ph_calloc(2 * e->nlabels + 1, sizeof(*copies));
  copies[0] = ph_strndup(e->name.ptr, e->name.len);
  pairs[0] = (label_t){"__name__", copies[0]};
  for (size_t i = 0; i < e->nlabels; i++) {
    copies[1 + 2 * i] = ph_strndup(e->labels[i].name.ptr, e->labels[i].name.len);
    copies[2 + 2 * i] = ph_strndup(e->labels[i].value.ptr, e->labels[i].value.len);
    pairs[1 + i] = (label_t){copies[1 + 2 * i], copies[2 + 2 * i]};
  }
  labels_t *ls = labels_new(NULL, pairs, e->nlabels + 1, err, errlen);
  for (size_t i = 0; i < 2 * e->nlabels + 1; i++) free(copies[i]);
  free(copies);
  free(pairs);
  return ls;
}

/* uint64 series reference -> newest timestamp appended in the current
 * batch (open addressing; cleared at each commit). */
typedef struct batch_ts {
  uint64_t *keys;
  int64_t *ts;
  bool *used;
  size_t cap, n;
} batch_ts_t;

static int64_t *batch_ts_slot(batch_ts_t *b, uint64_t ref) {
  if ((b->n + 1) * 2 > b->cap) {
    batch_ts_t g = {ph_calloc(b->cap ? b->cap * 2 : 256, sizeof(uint64_t)),
                    ph_calloc(b->cap ? b->cap * 2 : 256, sizeof(int64_t)),
                    ph_calloc(b->cap ? b->cap * 2 : 256, sizeof(bool)),
                    b->cap ? b->cap * 2 : 256, 0};
    for (size_t i = 0; i < b->cap; i++)
      if (b->used[i]) *batch_ts_slot(&g, b->keys[i]) = b->ts[i];
    free(b->keys);
    free(b->ts);
    free(b->used);
    *b = g;
  }
  size_t i = (size_t)(ref * UINT64_C(0x9e3779b97f4a7c15) >> 20) & (b->cap - 1);
  while (b->used[i] && b->keys[i] != ref) i = (i + 1) & (b->cap - 1);
  if (!b->used[i]) {
    b->used[i] = true;
    b->keys[i] = ref;
    b->ts[i] = INT64_MIN;
    b->n++;
  }
  return &b->ts[i];
}

static void batch_ts_clear(batch_ts_t *b) {
  if (b->cap) memset(b->used, 0, b->cap * sizeof(bool));
  b->n = 0;
}

static void batch_ts_free(batch_ts_t *b) {
  free(b->keys);
  free(b->ts);
  free(b->used);
  memset(b, 0, sizeof *b);
}

typedef struct import_state {
  const char *input;
  const char *buf;
  size_t len;
  tsdb_t *db;
  uint64_t imported, rejected;
  size_t shown;
  line_tracker_t lt;
  cli_counts_t refs; /* series text as written -> reference + 1 */
  batch_ts_t batch;
  tsdb_appender_t *a;
  size_t pending;
} import_state_t;

static void import_error(import_state_t *s, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void import_error(import_state_t *s, size_t line, const char *fmt, ...) {
  s->rejected++;
  if (s->shown++ >= IMPORT_MAX_ERRORS_SHOWN) return;
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s:%zu: ", s->input, line);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

/* Commits the current batch and starts a new one; 0 or 1 (printed). */
static int import_commit(import_state_t *s) {
  char err[512];
  int rc = tsdb_appender_commit(s->a, err, sizeof err);
  s->a = tsdb_appender_new(s->db);
  s->pending = 0;
  batch_ts_clear(&s->batch);
  if (rc != 0) {
    fprintf(stderr, "pharosctl: commit failed: %s\n", err);
    return 1;
  }
  return 0;
}

/* Appends one sample.  The appender checks samples against committed data
 * only, so a sample not newer than one of the same series already in the
 * batch first commits the batch: duplicates are then caught, with their
 * line, instead of vanishing at commit.  0, or 1 on a fatal error. */
static int import_sample(import_state_t *s, const expfmt_entry_t *e) {
  size_t line = line_at(&s->lt, e->series.ptr);
  uint64_t known = cli_counts_get(&s->refs, e->series.ptr, e->series.len);
  int arc;
  if (known) {
    uint64_t ref = known - 1;
    int64_t *last = batch_ts_slot(&s->batch, ref);
    if (*last != INT64_MIN && e->ts_ms <= *last) {
      if (import_commit(s) != 0) return 1;
      last = batch_ts_slot(&s->batch, ref);
    }
    arc = tsdb_append_ref(s->a, ref, e->ts_ms, e->value);
    if (arc == 0 && e->ts_ms > *last) *last = e->ts_ms;
    if (arc != PH_ENOTFOUND) goto done;
  }
  char err[256];
  labels_t *ls = entry_labels(e, err, sizeof err);
  if (ls == NULL) {
    import_error(s, line, "invalid series: %s", err);
    return 0;
  }
  uint64_t ref = 0;
  arc = tsdb_append(s->a, ls, e->ts_ms, e->value, &ref);
  labels_free(ls);
  if (!known) cli_counts_add(&s->refs, e->series.ptr, e->series.len, ref + 1);
  if (arc == 0) *batch_ts_slot(&s->batch, ref) = e->ts_ms;
done:
  if (arc != 0) {
    import_error(s, line, "%s: %.*s at %" PRId64, ph_strerror(arc), (int)e->series.len,
                 e->series.ptr, e->ts_ms);
    return 0;
  }
  s->imported++;
  if (++s->pending >= IMPORT_BATCH) return import_commit(s);
  return 0;
}

/* Appends the samples with timestamps in [w0, w1), then lets the TSDB cut
 * and compact blocks. */
static int import_window(import_state_t *s, int64_t w0, int64_t w1) {
  expfmt_parser_t *p = expfmt_parser_new(s->buf, s->len, EXPFMT_FORMAT_OPENMETRICS);
  s->a = tsdb_appender_new(s->db);
  s->pending = 0;
  batch_ts_clear(&s->batch);
  expfmt_entry_t e;
  int rc, status = 0;
  while (status == 0 && (rc = expfmt_parser_next(p, &e)) > 0) {
    if (rc != EXPFMT_SERIES || e.created || !e.has_ts) continue;
    if (e.ts_ms < w0 || e.ts_ms >= w1) continue;
    status = import_sample(s, &e);
  }
  if (import_commit(s) != 0) status = 1;
  tsdb_appender_rollback(s->a); /* the empty one import_commit opened */
  s->a = NULL;
  expfmt_parser_free(p);
  char err[512];
  if (status == 0 && tsdb_maintain(s->db, err, sizeof err) != 0) {
    fprintf(stderr, "pharosctl: writing blocks failed: %s\n", err);
    status = 1;
  }
  return status;
}

static char *read_file(const char *path, size_t *len) {
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  if (f == NULL) return NULL;
  strbuf_t b = STRBUF_INIT;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) strbuf_append(&b, buf, n);
  bool bad = ferror(f);
  if (f != stdin) fclose(f);
  if (bad) {
    strbuf_free(&b);
    return NULL;
  }
  strbuf_puts(&b, ""); /* never NULL */
  return strbuf_detach(&b, len);
}

int cli_tsdb_create_blocks(const cli_cmd_t *cmd, int argc, char **argv) {
  bool quiet = false, human = false;
  const cli_opt_t opts[] = {
      {"quiet", 'q', CLI_OPT_BOOL, NULL, "Do not print created blocks.", &quiet},
      {"human-readable", 'r', CLI_OPT_BOOL, NULL, "Print human readable values.", &human},
  };
  const char *pos[2] = {NULL, DEFAULT_DB};
  int rc = parse(cmd, opts, 2, argc, argv, pos);
  if (rc >= 0) return rc;
  import_state_t s = {.input = pos[0], .lt = {NULL, 0, 1}};
  cli_counts_init(&s.refs);
  char *buf = read_file(pos[0], &s.len);
  if (buf == NULL) {
    fprintf(stderr, "pharosctl: cannot read %s: %s\n", pos[0], strerror(errno));
    return 1;
  }
  s.buf = buf;
  s.lt.buf = buf;

  /* 1. check the whole input: syntax, timestamps, time range */
  expfmt_parser_t *p = expfmt_parser_new(buf, s.len, EXPFMT_FORMAT_OPENMETRICS);
  expfmt_entry_t e;
  int64_t mint = INT64_MAX, maxt = INT64_MIN;
  uint64_t nsamples = 0, bad = 0;
  cli_counts_t series;
  cli_counts_init(&series);
  while ((rc = expfmt_parser_next(p, &e)) > 0) {
    if (rc != EXPFMT_SERIES || e.created) continue;
    if (!e.has_ts) {
      if (bad++ < IMPORT_MAX_ERRORS_SHOWN)
        fprintf(stderr, "%s:%zu: expected timestamp for series %.*s, got none\n", pos[0],
                line_at(&s.lt, e.series.ptr), (int)e.series.len, e.series.ptr);
      continue;
    }
    if (e.ts_ms < mint) mint = e.ts_ms;
    if (e.ts_ms > maxt) maxt = e.ts_ms;
    nsamples++;
    cli_counts_add(&series, e.series.ptr, e.series.len, 1);
  }
  if (rc < 0) {
    fprintf(stderr, "%s:%s\n", pos[0], expfmt_parser_error(p));
    bad++;
  }
  expfmt_parser_free(p);
  size_t nseries = series.n;
  cli_counts_free(&series);
  if (bad > 0) {
    fprintf(stderr, "pharosctl: %s has errors; nothing was imported\n", pos[0]);
    free(buf);
    return 1;
  }
  if (nsamples == 0) {
    printf("No samples found in %s; nothing to import.\n", pos[0]);
    free(buf);
    return 0;
  }

  /* 2. open the output and append, window by window */
  if (cli_open_db(pos[1], true, IMPORT_OOO_WINDOW_MS, &s.db) != 0) {
    free(buf);
    return 1;
  }
  tsdb_block_info_t *before;
  size_t nbefore;
  tsdb_blocks_info(s.db, &before, &nbefore);
  int64_t newest = INT64_MIN;
  for (size_t i = 0; i < nbefore; i++)
    if (before[i].maxt > newest) newest = before[i].maxt;
  if (newest != INT64_MIN && mint < newest) {
    char a[64], z[64];
    ph_format_rfc3339(mint, a, sizeof a);
    ph_format_rfc3339(newest, z, sizeof z);
    fprintf(stderr,
            "pharosctl: %s already holds blocks up to %s and the input starts at %s: the TSDB "
            "cannot add samples older than its newest block; import into an empty directory\n",
            pos[1], z, a);
    tsdb_blocks_info_free(before);
    tsdb_close(s.db);
    free(buf);
    return 1;
  }
  s.lt.off = 0;
  s.lt.line = 1;
  tsdb_options_t defaults;
  tsdb_options_default(&defaults);
  int64_t range = defaults.block_range_ms; /* what open_db used */
  int64_t win = range * IMPORT_WINDOW_RANGES;
  int64_t w0 = mint >= 0 ? mint / range * range : -((-mint + range - 1) / range) * range;
  int status = 0;
  for (; w0 <= maxt && status == 0; w0 += win) status = import_window(&s, w0, w0 + win);

  if (status == 0) {
    printf("Imported %" PRIu64 " samples of %zu series from %s into %s.\n", s.imported, nseries,
           pos[0], pos[1]);
    tsdb_block_info_t *after;
    size_t nafter;
    tsdb_blocks_info(s.db, &after, &nafter);
    /* the blocks this run created */
    tsdb_block_info_t *created = ph_calloc(nafter ? nafter : 1, sizeof(*created));
    size_t nc = 0;
    for (size_t i = 0; i < nafter; i++) {
      bool old = false;
      for (size_t k = 0; k < nbefore && !old; k++) old = strcmp(before[k].id, after[i].id) == 0;
      if (!old) created[nc++] = after[i];
    }
    tsdb_stats_t st;
    tsdb_get_stats(s.db, &st);
    if (!quiet) {
      if (nc > 0) {
        printf("\n");
        print_blocks(pos[1], created, nc, human);
      }
      if (st.head_series > 0 && st.head_max_time != INT64_MIN) {
        char a[64], z[64];
        ph_format_rfc3339(st.head_min_time, a, sizeof a);
        ph_format_rfc3339(st.head_max_time, z, sizeof z);
        printf("\nSamples from %s to %s are in the head (WAL) of %s; pharos cuts them into "
               "blocks once newer data arrives.\n",
               a, z, pos[1]);
      }
    }
    free(created);
    tsdb_blocks_info_free(after);
  }
  if (s.rejected > 0) {
    if (s.shown > IMPORT_MAX_ERRORS_SHOWN)
      fprintf(stderr, "... and %zu more errors\n", s.shown - IMPORT_MAX_ERRORS_SHOWN);
    fprintf(stderr, "pharosctl: %" PRIu64 " samples rejected\n", s.rejected);
    status = 1;
  }
  tsdb_blocks_info_free(before);
  tsdb_close(s.db);
  cli_counts_free(&s.refs);
  batch_ts_free(&s.batch);
  free(buf);
  return status;
}
