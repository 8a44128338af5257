/*
 * pharosctl.c - the command line tool's entry point: global flags, the
 * command table, dispatch, top-level help and --version.
 *
 * Global flags (--server, --data-dir, -o/--output) come before the command
 * word and become the main commands' defaults (cli_globals).  Commands are
 * named by one to three words ("query", "query instant", "tsdb
 * create-blocks-from openmetrics"); the longest table entry whose words
 * match the start of the command line runs with the remaining arguments,
 * so the promtool-compatible "query instant|range|series|labels" keep
 * their meaning next to the main "query EXPR" (an expression that is
 * literally one of those words is written `query -- instant`).  A group
 * name alone ("pharosctl tsdb") lists the group's commands.  Usage errors
 * print "pharosctl: error: ..., try --help" and exit 2.
 */
#include "cli.h"

#include "log.h"
#include "pharos_version.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The main commands' arguments. */
static const cli_arg_t a_expr[] = {
    {"expr", "PromQL expression.", false},
};
static const cli_arg_t a_match[] = {
    {"match", "Series selector, e.g. 'up{job=\"node\"}' (one or more).", false, true},
};
static const cli_arg_t a_name[] = {
    {"name", "Label name.", false},
};
static const cli_arg_t a_config_file[] = {
    {"config-files", "The config files to check (one or more).", false, true},
};

/* The promtool-compatible ones'. */
static const cli_arg_t a_server_expr[] = {
    {"server", "Prometheus-compatible server to query, e.g. http://localhost:9090.", false},
    {"expr", "PromQL query expression.", false},
};
static const cli_arg_t a_server[] = {
    {"server", "Prometheus-compatible server to query, e.g. http://localhost:9090.", false},
};
static const cli_arg_t a_server_name[] = {
    {"server", "Prometheus-compatible server to query, e.g. http://localhost:9090.", false},
    {"name", "Label name to provide label values for.", false},
};
static const cli_arg_t a_db[] = {
    {"db path", "Database path (default is data/).", true},
};
static const cli_arg_t a_db_block[] = {
    {"db path", "Database path (default is data/).", true},
    {"block id", "Block to analyze (default is the whole database).", true},
};
static const cli_arg_t a_import[] = {
    {"input file", "OpenMetrics file to read samples from.", false},
    {"output directory", "Output directory for generated blocks (default is data/).", true},
};

/* The first NMAIN entries are the main commands; help lists them first. */
#define NMAIN 10
static const cli_cmd_t commands[] = {
    {"query", "Evaluate an expression at one instant (default now).", a_expr, 1, cli_cmd_query},
    {"query-range", "Evaluate an expression over a range; prints a sparkline per series.",
     a_expr, 1, cli_cmd_query_range},
    {"series", "List the series matching selectors.", a_match, 1, cli_cmd_series},
    {"labels", "List label names.", NULL, 0, cli_cmd_labels},
    {"label-values", "List the values of a label.", a_name, 1, cli_cmd_label_values},
    {"targets", "List the server's scrape targets and their health.", NULL, 0, cli_cmd_targets},
    {"check config", "Check if the config files are valid or not.", a_config_file, 1,
     cli_check_config},
    {"tsdb inspect",
     "Summarize a data directory: blocks, head, WAL and bytes per sample on disk.", a_db,
     1, cli_tsdb_inspect},
    {"tsdb dump", "Dump samples from a TSDB.", a_db, 1, cli_tsdb_dump},
    {"tsdb import openmetrics",
     "Backfill samples from an OpenMetrics file (as create-blocks-from openmetrics).",
     a_import, 2, cli_tsdb_create_blocks},
    /* promtool-compatible */
    {"query instant", "Run instant query.", a_server_expr, 2, cli_query_instant},
    {"query range", "Run range query.", a_server_expr, 2, cli_query_range},
    {"query series", "Run series query.", a_server, 1, cli_query_series},
    {"query labels", "Run labels query.", a_server_name, 2, cli_query_labels},
    {"check metrics",
     "Pass Prometheus metrics over stdin to lint them for consistency and correctness.",
     NULL, 0, cli_check_metrics},
    {"tsdb list", "List tsdb blocks.", a_db, 1, cli_tsdb_list},
    {"tsdb analyze", "Analyze label pair cardinality: series per metric name, values per label name.",
     a_db_block, 2, cli_tsdb_analyze},
    {"tsdb dump-openmetrics",
     "[Experimental] Dump samples from a TSDB into OpenMetrics text format, excluding "
     "native histograms and staleness markers, which are not representable in "
     "OpenMetrics.",
     a_db, 1, cli_tsdb_dump_openmetrics},
    {"tsdb create-blocks-from openmetrics",
     "Import samples from OpenMetrics input and produce TSDB blocks. Please refer to "
     "docs/pharosctl.md for details.",
     a_import, 2, cli_tsdb_create_blocks},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void print_version(void) {
  printf("pharosctl, version %s (branch: %s, revision: %s)\n", PHAROS_VERSION,
         PHAROS_BRANCH, PHAROS_COMMIT);
  printf("  build date:       %s\n", PHAROS_BUILD_DATE);
  printf("  compiler:         %s\n", __VERSION__);
  printf("  platform:         linux\n");
}

/* Lists the commands whose name starts with prefix ("" = all). */
static void print_usage(FILE *out, const char *prefix) {
  fprintf(out,
          "usage: pharosctl [<flags>] <command> [<args> ...]\n\n"
          "Command line tool for the Pharos monitoring system (and a promtool "
          "counterpart).\n\n"
          "Flags:\n"
          "  -h, --help             Show context-sensitive help.\n"
          "      --version          Show application version.\n"
          "      --server=<url>     Server for the query, series, labels, label-values and\n"
          "                         targets commands (default " CLI_DEFAULT_SERVER ").\n"
          "      --data-dir=<dir>   Read this data directory instead of asking a server.\n"
          "  -o, --output=<format>  table (default), json or csv.\n\n"
          "Exit status: 0 success, 1 failure (query, file or directory), 2 usage error,\n"
          "3 lint problems (check metrics).\n\n"
          "Commands:\n");
  size_t pl = strlen(prefix);
  for (size_t i = 0; i < NCOMMANDS; i++) {
    if (pl && (strncmp(commands[i].name, prefix, pl) != 0 || commands[i].name[pl] != ' '))
      continue;
    if (i == NMAIN && pl == 0) fprintf(out, "promtool-compatible commands:\n");
    fprintf(out, "  %s", commands[i].name);
    for (size_t k = 0; k < commands[i].nargs; k++)
      fprintf(out, commands[i].args[k].optional ? " [<%s>%s]" : " <%s>%s",
              commands[i].args[k].name, commands[i].args[k].variadic ? "..." : "");
    fprintf(out, "\n    %s\n\n", commands[i].help);
  }
}

/* Takes the global flags before the command word; returns how many argv
 * entries they used (after argv[0]), or -1 after a usage error. */
static int global_flags(int argc, char **argv) {
  static const struct {
    const char *name;
    char short_name;
    const char **target;
  } g[] = {
      {"server", 0, &cli_globals.server},
      {"data-dir", 0, &cli_globals.data_dir},
      {"output", 'o', &cli_globals.output},
  };
  int i = 1;
  while (i < argc && argv[i][0] == '-' && argv[i][1] != '\0') {
    const char *a = argv[i];
    if (strcmp(a, "--version") == 0 || strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) break;
    const char *value = NULL;
    size_t k;
    for (k = 0; k < sizeof g / sizeof g[0]; k++) {
      size_t nl = strlen(g[k].name);
      if (a[1] == '-' && strncmp(a + 2, g[k].name, nl) == 0 &&
          (a[2 + nl] == '\0' || a[2 + nl] == '=')) {
        value = a[2 + nl] == '=' ? a + 3 + nl : NULL;
        break;
      }
      if (g[k].short_name && a[1] == g[k].short_name) {
        value = a[2] ? a + 2 : NULL;
        break;
      }
    }
    char msg[300];
    if (k == sizeof g / sizeof g[0]) {
      snprintf(msg, sizeof msg, "unknown %s flag '%s'", a[1] == '-' ? "long" : "short", a);
      cli_usage_error(msg);
      return -1;
    }
    if (value == NULL) {
      if (i + 1 >= argc) {
        snprintf(msg, sizeof msg, "expected argument for flag '%s'", a);
        cli_usage_error(msg);
        return -1;
      }
      value = argv[++i];
    }
    *g[k].target = value;
    i++;
  }
  return i - 1;
}

/* How many leading words of argv[1..] name command c (0 if no match). */
static int match_words(const cli_cmd_t *c, int argc, char **argv) {
  const char *p = c->name;
  int k = 1;
  while (*p) {
    if (k >= argc) return 0;
    size_t wl = strcspn(p, " ");
    if (strlen(argv[k]) != wl || strncmp(argv[k], p, wl) != 0) return 0;
    p += wl;
    if (*p == ' ') p++;
    k++;
  }
  return k - 1;
}

int main(int argc, char **argv) {
  log_set_level(PH_LOG_WARN);
  int ng = global_flags(argc, argv);
  if (ng < 0) return CLI_EXIT_USAGE;
  if (ng > 0) { /* drop them: the command line now starts at the command */
    argv[ng] = argv[0];
    argv += ng;
    argc -= ng;
  }
  if (argc < 2) {
    print_usage(stderr, "");
    return cli_usage_error("expected command but got none");
  }
  if (strcmp(argv[1], "--version") == 0) {
    print_version();
    return 0;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
      strcmp(argv[1], "help") == 0) {
    if (strcmp(argv[1], "help") == 0 && argc > 2) {
      /* "pharosctl help query instant" = "pharosctl query instant --help" */
      for (size_t i = 0; i < NCOMMANDS; i++) {
        int k = match_words(&commands[i], argc - 1, argv + 1);
        if (k > 0 && k == argc - 2) {
          char *hv[] = {argv[1], "--help", NULL};
          return commands[i].run(&commands[i], 2, hv);
        }
      }
    }
    print_usage(stdout, "");
    return 0;
  }
  const cli_cmd_t *best = NULL;
  int best_k = 0;
  for (size_t i = 0; i < NCOMMANDS; i++) {
    int k = match_words(&commands[i], argc, argv);
    if (k > best_k) {
      best = &commands[i];
      best_k = k;
    }
  }
  if (best == NULL) {
    /* a group name alone, or an unknown command */
    bool group = false;
    for (size_t i = 0; i < NCOMMANDS && !group; i++) {
      size_t l = strlen(argv[1]);
      group = strncmp(commands[i].name, argv[1], l) == 0 && commands[i].name[l] == ' ';
    }
    char msg[512];
    if (group) {
      bool help = argc > 2 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0);
      print_usage(help ? stdout : stderr, argv[1]);
      if (help) return 0;
      if (argc > 2) snprintf(msg, sizeof msg, "expected command but got \"%s\"", argv[2]);
      else snprintf(msg, sizeof msg, "expected command but got none");
      return cli_usage_error(msg);
    }
    if (argv[1][0] == '-') snprintf(msg, sizeof msg, "unknown long flag '%s'", argv[1]);
    else snprintf(msg, sizeof msg, "expected command but got \"%s\"", argv[1]);
    return cli_usage_error(msg);
  }
  return best->run(best, argc - best_k, argv + best_k);
}
