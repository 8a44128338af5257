/*
 * main.c - pharos, the server: flags, startup, signals, shutdown.
 *
 * Startup order: flags and logging; configuration (the built-in default
 * when no --config.file is given); the data directory; the HTTP server.
 * Then the main thread waits in sigwait(): SIGHUP (or a POST to /-/reload,
 * signalled through a pipe) reloads the configuration, keeping the old one
 * on error; SIGTERM/SIGINT stop the HTTP server and storage in order.
 * Signals are blocked in every thread so only the main thread sees them.
 */
#include "server.h"

#include "remote_api.h"

#include "log.h"
#include "mem.h"
#include "ph_error.h"
#include "pharos_version.h"
#include "timeparse.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int mkdir_p(const char *path) {
  char tmp[4096];
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof tmp) return -1;
  memcpy(tmp, path, n + 1);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
  return 0;
}

static void print_version(void) {
  printf("pharos, version %s (branch: %s, revision: %s)\n", PHAROS_VERSION,
         PHAROS_BRANCH, PHAROS_COMMIT);
  printf("  build date:       %s\n", PHAROS_BUILD_DATE);
  printf("  compiler:         %s\n", __VERSION__);
  printf("  platform:         linux\n");
}

int main(int argc, char **argv) {
  server_t s;
  memset(&s, 0, sizeof s);
  server_flags_t *f = &s.flags;
  const flag_def_t defs[] = {
      {"config.file", FLAG_STRING, "",
       "Pharos configuration file path (prometheus.yml format). Without it the "
       "built-in default is used: scrape this server and its own host every 15s.",
       &f->config_file},
      {"storage.tsdb.path", FLAG_STRING, "data/", "Base path for metrics storage.",
       &f->storage_path},
      {"storage.tsdb.retention.time", FLAG_DURATION, "15d",
       "How long to retain samples in storage.", &f->retention_time_ms},
      {"storage.tsdb.retention.size", FLAG_BYTES, "0",
       "Maximum number of bytes that can be stored for blocks (units B, KB, MB, "
       "GB, TB, PB, EB; base 2). 0 means no limit.",
       &f->retention_size},
      {"storage.tsdb.wal-fsync", FLAG_STRING, "interval",
       "When the WAL is fsynced: 'commit' (every acknowledged batch is on disk) "
       "or 'interval' (every 1s; a crash of the machine, not the process, may "
       "lose the last second).",
       &f->wal_fsync},
      {"web.listen-address", FLAG_STRING, "0.0.0.0:9090",
       "Address to listen on for UI, API, and telemetry.", &f->listen_address},
      {"web.config.file", FLAG_STRING, "",
       "[EXPERIMENTAL] Path to configuration file that can enable TLS or "
       "authentication.",
       &f->web_config_file},
      {"web.enable-remote-write-receiver", FLAG_BOOL, "false",
       "Enable API endpoint accepting remote write requests.",
       &f->enable_remote_write},
      {"web.enable-admin-api", FLAG_BOOL, "false",
       "Enable API endpoints for admin control actions.", &f->enable_admin_api},
      {"web.enable-lifecycle", FLAG_BOOL, "false",
       "Enable shutdown and reload via HTTP request.", &f->enable_lifecycle},
      {"query.lookback-delta", FLAG_DURATION, "5m",
       "The maximum lookback duration for retrieving metrics during expression "
       "evaluations and federation.",
       &f->lookback_delta_ms},
      {"query.timeout", FLAG_DURATION, "2m",
       "Maximum time a query may take before being aborted.", &f->query_timeout_ms},
      {"query.max-samples", FLAG_INT, "50000000",
       "Maximum number of samples a single query can load into memory.",
       &f->query_max_samples},
      {"log.level", FLAG_STRING, "info",
       "Only log messages with the given severity or above. One of: [debug, "
       "info, warn, error]",
       &f->log_level},
      {"log.format", FLAG_STRING, "logfmt",
       "Output format of log messages. One of: [logfmt, json]", &f->log_format},
      {"enable-feature", FLAG_STRING, "",
       "Comma separated feature names to enable. Valid options: "
       "promql-experimental-functions.",
       &f->enable_feature},
      {"web.cors.origin", FLAG_STRING, ".*",
       "Regex for CORS origin. It is fully anchored.", &f->cors_origin},
  };
  s.flagset = flags_new("pharos", "The Pharos monitoring server", defs,
                        sizeof defs / sizeof defs[0]);
  bool help, version;
  char err[1024];
  if (flags_parse(s.flagset, argc, argv, &help, &version, err, sizeof err) != 0) {
    fprintf(stderr, "pharos: error: %s, try --help\n", err);
    flags_usage(s.flagset, stderr);
    flags_free(s.flagset);
    return 2;
  }
  if (help) {
    flags_usage(s.flagset, stdout);
    flags_free(s.flagset);
    return 0;
  }
  if (version) {
    print_version();
    flags_free(s.flagset);
    return 0;
  }
  log_level_t lvl;
  log_format_t lfmt;
  if (!log_parse_level(f->log_level, &lvl)) {
    fprintf(stderr, "pharos: error: unrecognized log level \"%s\", try --help\n",
            f->log_level);
    flags_free(s.flagset);
    return 2;
  }
  if (!log_parse_format(f->log_format, &lfmt)) {
    fprintf(stderr, "pharos: error: unrecognized log format \"%s\", try --help\n",
            f->log_format);
    flags_free(s.flagset);
    return 2;
  }
  if (strcmp(f->wal_fsync, "commit") != 0 && strcmp(f->wal_fsync, "interval") != 0) {
    fprintf(stderr,
            "pharos: error: --storage.tsdb.wal-fsync must be 'commit' or "
            "'interval', got \"%s\", try --help\n",
            f->wal_fsync);
    flags_free(s.flagset);
    return 2;
  }
  if (f->web_config_file[0]) {
    fprintf(stderr,
            "pharos: error: --web.config.file (TLS and authentication for the "
            "server) is not supported yet; put a reverse proxy in front\n");
    flags_free(s.flagset);
    return 2;
  }
  log_set_level(lvl);
  log_set_format(lfmt);

  /* Block the signals we handle in every thread started from here on. */
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL);
  signal(SIGPIPE, SIG_IGN);

  s.start_time_ms = ph_now_ms();
  pthread_mutex_init(&s.reload_mu, NULL);
  if (pipe(s.reload_pipe) != 0) {
    perror("pipe");
    return 1;
  }
  log_info("Starting Pharos", "version", PHAROS_VERSION, "revision", PHAROS_COMMIT);

  int rc = 0;
  if (server_config_load(&s, f->config_file[0] ? f->config_file : NULL, err,
                         sizeof err) != 0) {
    log_error("Error loading config", "file", f->config_file, "err", err);
    rc = 1;
    goto out;
  }
  if (mkdir_p(f->storage_path) != 0) {
    log_error("Cannot create storage directory", "path", f->storage_path, "err",
              strerror(errno));
    rc = 1;
    goto out;
  }

  tsdb_options_t topt;
  tsdb_options_default(&topt);
  topt.path = f->storage_path;
  topt.retention_ms = f->retention_time_ms;
  topt.retention_bytes = f->retention_size;
  topt.ooo_window_ms = s.ooo_window_ms;
  topt.wal_fsync = strcmp(f->wal_fsync, "commit") == 0 ? TSDB_WAL_FSYNC_COMMIT
                                                       : TSDB_WAL_FSYNC_INTERVAL;
  if (tsdb_open(&topt, &s.db, err, sizeof err) != 0) {
    log_error("Opening storage failed", "err", err);
    rc = 1;
    goto out;
  }
  log_info("TSDB started", "path", f->storage_path);

  s.http = httpd_new(NULL);
  web_register(&s);
  if (httpd_start(s.http, f->listen_address, err, sizeof err) != 0) {
    log_error("Error starting web server", "err", err);
    rc = 1;
    goto out;
  }
  char portbuf[16];
  snprintf(portbuf, sizeof portbuf, "%d", httpd_port(s.http));
  log_info("Listening on", "address", f->listen_address, "port", portbuf);
  if (server_scrape_start(&s, err, sizeof err) != 0) {
    log_error("Starting the scrape manager failed", "err", err);
    rc = 1;
    goto out;
  }
  atomic_store(&s.ready, true);
  log_info("Server is ready to receive web requests.");

  /* Main loop: signals, plus reload requests from the web handler. */
  for (;;) {
    struct timespec ts = {0, 200 * 1000000};
    siginfo_t si;
    int sig = sigtimedwait(&sigs, &si, &ts);
    if (sig == SIGTERM || sig == SIGINT) {
      log_warn(sig == SIGTERM ? "Received SIGTERM, exiting gracefully..."
                              : "Received SIGINT, exiting gracefully...");
      break;
    }
    if (sig == SIGHUP) {
      if (server_reload(&s, err, sizeof err) != 0)
        log_error("Error reloading config", "err", err);
    }
    struct pollfd pfd = {s.reload_pipe[0], POLLIN, 0};
    if (poll(&pfd, 1, 0) > 0) {
      char c;
      if (read(s.reload_pipe[0], &c, 1) == 1 && c == 'q') {
        log_warn("Received termination request via web service, exiting gracefully...");
        break;
      }
    }
  }
  atomic_store(&s.ready, false);
  server_scrape_stop(&s);
  httpd_stop(s.http);
  log_info("See you next time!");

out:
  httpd_free(s.http);
  server_scrape_stop(&s);
  remote_api_shutdown();
  tsdb_close(s.db);
  free(s.config_text);
  close(s.reload_pipe[0]);
  close(s.reload_pipe[1]);
  pthread_mutex_destroy(&s.reload_mu);
  flags_free(s.flagset);
  return rc;
}
