/*
 * pharosctl.c - the command line tool's entry point: the command table,
 * dispatch, top-level help and --version.
 *
 * Commands are named by one to three words, as promtool's are ("query
 * instant", "tsdb create-blocks-from openmetrics"); the longest table
 * entry whose words match the start of the command line runs with the
 * remaining arguments.  A group name alone ("pharosctl tsdb") lists the
 * group's commands.  Usage errors print "pharosctl: error: ..., try
 * --help" and exit 1, as promtool does.
 */
#include "cli.h"

#include "log.h"
#include "pharos_version.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
static const cli_arg_t a_config_files[] = {
    {"config-files", "The config files to check (one or more).", false},
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

static const cli_cmd_t commands[] = {
    {"query instant", "Run instant query.", a_server_expr, 2, cli_query_instant},
    {"query range", "Run range query.", a_server_expr, 2, cli_query_range},
    {"query series", "Run series query.", a_server, 1, cli_query_series},
    {"query labels", "Run labels query.", a_server_name, 2, cli_query_labels},
    {"check config", "Check if the config files are valid or not.", a_config_files, 1,
     cli_check_config},
    {"check metrics",
     "Pass Prometheus metrics over stdin to lint them for consistency and correctness.",
     NULL, 0, cli_check_metrics},
    {"tsdb list", "List tsdb blocks.", a_db, 1, cli_tsdb_list},
    {"tsdb inspect",
     "Summarize a data directory: blocks, head, WAL and bytes per sample on disk.", a_db,
     1, cli_tsdb_inspect},
    {"tsdb analyze", "Analyze label pair cardinality: series per metric name, values per label name.",
     a_db_block, 2, cli_tsdb_analyze},
    {"tsdb dump", "Dump samples from a TSDB.", a_db, 1, cli_tsdb_dump},
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
          "Tooling for the Pharos monitoring system (a promtool counterpart).\n\n"
          "Flags:\n"
          "  -h, --help     Show context-sensitive help.\n"
          "      --version  Show application version.\n\n"
          "Commands:\n");
  size_t pl = strlen(prefix);
  for (size_t i = 0; i < NCOMMANDS; i++) {
    if (pl && (strncmp(commands[i].name, prefix, pl) != 0 || commands[i].name[pl] != ' '))
      continue;
    fprintf(out, "  %s", commands[i].name);
    for (size_t k = 0; k < commands[i].nargs; k++)
      fprintf(out, commands[i].args[k].optional ? " [<%s>]" : " <%s>",
              commands[i].args[k].name);
    fprintf(out, "\n    %s\n\n", commands[i].help);
  }
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
