/*
 * server.h - the pharos server's shared state (private to server/).
 *
 * main.c parses flags, opens storage, starts the HTTP server and waits for
 * signals; web.c holds the HTTP handlers; config.c loads the configuration.
 * One server_t lives for the whole process, owned by main().
 */
#ifndef PHAROS_SERVER_H
#define PHAROS_SERVER_H

#include "flags.h"
#include "api.h"
#include "httpd.h"
#include "scrape.h"
#include "tsdb.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct server_flags {
  const char *config_file;
  const char *storage_path;
  int64_t retention_time_ms;
  uint64_t retention_size;
  const char *wal_fsync;
  const char *listen_address;
  const char *web_config_file;
  bool enable_remote_write;
  bool enable_admin_api;
  bool enable_lifecycle;
  int64_t lookback_delta_ms;
  int64_t query_timeout_ms;
  int64_t query_max_samples;
  const char *log_level;
  const char *log_format;
  const char *enable_feature;
  const char *cors_origin;
} server_flags_t;

typedef struct server {
  server_flags_t flags;
  flags_t *flagset;           /* owned */
  httpd_t *http;              /* owned */
  tsdb_t *db;                 /* owned; opened before the HTTP server starts */
  api_t api;                  /* the query API's view of the server */
  int64_t ooo_window_ms;      /* from the config's storage.tsdb section */
  int64_t start_time_ms;
  atomic_bool ready;          /* true once storage is open and serving */
  pthread_mutex_t reload_mu;  /* serialises config reloads */
  int reload_pipe[2];         /* web handler asks main loop to reload */
  char *config_text;          /* owned: the loaded config as YAML text */
  bool last_reload_ok;
  int64_t last_reload_success_ms;
  scrape_config_t *scrape_cfg;   /* owned: the decoded scrape config in force */
  scrape_manager_t *scrape;      /* owned: started after the HTTP server */
  struct exporter *self_exporter; /* owned: this host, collected in-process
                                     (default config only) */
} server_t;

/* web.c */
void web_register(server_t *s);

/* config.c: loads (or, with path NULL, builds the default) configuration.
 * Returns 0 or PH_EPARSE/PH_EIO with "file:line:col: ..." in err. */
int server_config_load(server_t *s, const char *path, char *err, size_t errlen);
/* Reloads from the configured file; keeps the old config on error. */
int server_reload(server_t *s, char *err, size_t errlen);
/* Starts the scrape manager with the loaded config (after httpd_start: the
 * default config scrapes the port actually bound). */
int server_scrape_start(server_t *s, char *err, size_t errlen);
/* Stops scraping (staleness markers for every target) and frees the scrape
 * config; before tsdb_close.  Safe to call when never started. */
void server_scrape_stop(server_t *s);

#endif
