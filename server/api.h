/*
 * api.h - the Prometheus HTTP API v1 handlers (private to server/).
 *
 * The API reads what it needs through this struct, filled by main.c and
 * owned by the server_t; callbacks give the current config state.
 */
#ifndef PHAROS_API_H
#define PHAROS_API_H

#include "flags.h"
#include "httpd.h"
#include "tsdb.h"

#include <stdint.h>

typedef struct api {
  tsdb_t *db;
  flags_t *flags;
  int64_t lookback_ms, query_timeout_ms, max_samples;
  int64_t start_time_ms, retention_ms;
  void *ud;                          /* the server_t */
  char *(*config_text)(void *ud);    /* malloc'd copy of the config YAML */
  bool (*reload_ok)(void *ud);
  int64_t (*last_config_ms)(void *ud);
  /* The scrape manager (may be NULL) and remote-write metadata; the
   * pointers stay valid while the server runs. */
  bool admin_enabled;                /* --web.enable-admin-api */
  const char *storage_path;
  bool experimental_functions;       /* --enable-feature=promql-experimental-functions */
  const char *cors_origin;           /* --web.cors.origin regex; ".*" = any */
  struct scrape_manager *(*scrape)(void *ud);
  struct metadata_store *(*rw_metadata)(void *ud);
  /* external_labels of the config, for /federate (caller frees) */
  labels_t *(*external_labels)(void *ud);
} api_t;

void api_register(httpd_t *h, api_t *api);
/* Sends Prometheus's error envelope with the status for error_type. */
void api_error(httpd_req_t *r, const char *error_type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
