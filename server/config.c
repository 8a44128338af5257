/*
 * config.c - pharos's configuration file (prometheus.yml format).
 *
 * Loading decodes the whole file into a fresh server_config_t with the
 * strict rules of Prometheus (unknown fields refused, each error naming
 * file:line:column and the field); only when that succeeds does it replace
 * the running configuration, so a failed reload leaves the old one in
 * force.  Without --config.file the built-in default applies: scrape this
 * server itself and collect its own host every 15s.
 */
#include "server.h"

#include "log.h"
#include "mem.h"
#include "ph_error.h"
#include "timeparse.h"
#include "ycfg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The built-in default, used when no --config.file is given. */
static const char default_config[] =
    "global:\n"
    "  scrape_interval: 15s\n"
    "  scrape_timeout: 10s\n"
    "  evaluation_interval: 15s\n"
    "scrape_configs:\n"
    "  - job_name: pharos\n"
    "    static_configs:\n"
    "      - targets: ['localhost:9090']\n";

static const char *const top_fields[] = {
    "global", "scrape_configs", "scrape_config_files", "rule_files", "alerting",
    "remote_write", "remote_read", "storage", "tracing", "runtime", "otlp", NULL};

static const char *const global_fields[] = {
    "scrape_interval", "scrape_timeout", "evaluation_interval", "external_labels",
    "query_log_file", "scrape_failure_log_file", "body_size_limit", "sample_limit",
    "label_limit", "label_name_length_limit", "label_value_length_limit",
    "target_limit", "keep_dropped_targets", "metric_name_validation_scheme",
    "scrape_protocols", "rule_query_offset", "convert_classic_histograms_to_nhcb",
    "always_scrape_classic_histograms", "metric_name_escaping_scheme",
    "scrape_native_histograms", NULL};

static const char *const storage_fields[] = {"tsdb", "exemplars", NULL};
static const char *const tsdb_fields[] = {"out_of_order_time_window", NULL};

typedef struct server_config {
  int64_t scrape_interval_ms;
  int64_t scrape_timeout_ms;
  int64_t evaluation_interval_ms;
  int64_t ooo_window_ms;
} server_config_t;

static int decode_global(ycfg_t *c, const ynode_t *n, size_t idx, void *ud) {
  (void)idx;
  server_config_t *cfg = ud;
  int rc = ycfg_check_map(c, n, global_fields);
  if (rc == 0) rc = ycfg_get_duration(c, n, "scrape_interval", &cfg->scrape_interval_ms);
  if (rc == 0) rc = ycfg_get_duration(c, n, "scrape_timeout", &cfg->scrape_timeout_ms);
  if (rc == 0)
    rc = ycfg_get_duration(c, n, "evaluation_interval", &cfg->evaluation_interval_ms);
  if (rc == 0) {
    ycfg_pair_t *pairs;
    size_t count;
    rc = ycfg_get_string_map(c, n, "external_labels", &pairs, &count);
  }
  if (rc == 0 && cfg->scrape_timeout_ms > cfg->scrape_interval_ms)
    rc = ycfg_errorf(c, ynode_map_get(n, "scrape_timeout"),
                     "global scrape timeout greater than scrape interval");
  return rc;
}

static int decode_tsdb(ycfg_t *c, const ynode_t *n, size_t idx, void *ud) {
  (void)idx;
  server_config_t *cfg = ud;
  int rc = ycfg_check_map(c, n, tsdb_fields);
  if (rc == 0) rc = ycfg_get_duration(c, n, "out_of_order_time_window", &cfg->ooo_window_ms);
  return rc;
}

static int decode_storage(ycfg_t *c, const ynode_t *n, size_t idx, void *ud) {
  (void)idx;
  int rc = ycfg_check_map(c, n, storage_fields);
  if (rc == 0) rc = ycfg_get_field(c, n, "tsdb", decode_tsdb, ud);
  return rc;
}

static int decode(ydoc_t *doc, server_config_t *cfg, char *err, size_t errlen) {
  ycfg_t *c = ycfg_new(doc, err, errlen);
  const ynode_t *root = ydoc_root(doc);
  cfg->scrape_interval_ms = 60000; /* Prometheus's defaults */
  cfg->scrape_timeout_ms = 10000;
  cfg->evaluation_interval_ms = 60000;
  cfg->ooo_window_ms = 0;
  int rc = ycfg_check_map(c, root, top_fields);
  if (rc == 0) rc = ycfg_get_field(c, root, "global", decode_global, cfg);
  if (rc == 0) rc = ycfg_get_field(c, root, "storage", decode_storage, cfg);
  ycfg_free(c);
  return rc;
}

static int load(server_t *s, const char *path, char *err, size_t errlen) {
  ydoc_t *doc = NULL;
  int rc = path ? ydoc_load_file(path, &doc, err, errlen)
                : ydoc_load_string("<built-in default>", default_config,
                                   sizeof default_config - 1, &doc, err, errlen);
  if (rc != 0) return rc;
  server_config_t cfg;
  rc = decode(doc, &cfg, err, errlen);
  ydoc_free(doc);
  if (rc != 0) return rc;
  s->ooo_window_ms = cfg.ooo_window_ms;

  /* Keep the text for /api/v1/status/config. */
  char *text = NULL;
  if (path == NULL) {
    text = ph_strdup(default_config);
  } else {
    FILE *fp = fopen(path, "r");
    if (fp != NULL) {
      strbuf_t b = STRBUF_INIT;
      char buf[4096];
      size_t n;
      while ((n = fread(buf, 1, sizeof buf, fp)) > 0) strbuf_append(&b, buf, n);
      fclose(fp);
      text = strbuf_detach(&b, NULL);
    } else {
      text = ph_strdup("");
    }
  }
  free(s->config_text);
  s->config_text = text;
  return 0;
}

int server_config_load(server_t *s, const char *path, char *err, size_t errlen) {
  pthread_mutex_lock(&s->reload_mu);
  int rc = load(s, path, err, errlen);
  if (rc == 0) {
    s->last_reload_ok = true;
    s->last_reload_success_ms = s->start_time_ms;
    s->config_reloads_ok++;
    log_info("Completed loading of configuration file", "filename",
             path ? path : "<built-in default>");
  }
  pthread_mutex_unlock(&s->reload_mu);
  return rc;
}

int server_reload(server_t *s, char *err, size_t errlen) {
  const char *path = s->flags.config_file[0] ? s->flags.config_file : NULL;
  pthread_mutex_lock(&s->reload_mu);
  log_info("Loading configuration file", "filename", path ? path : "<built-in default>");
  int rc = load(s, path, err, errlen);
  s->last_reload_ok = rc == 0;
  if (rc == 0) {
    s->last_reload_success_ms = ph_now_ms();
    s->config_reloads_ok++;
    log_info("Completed loading of configuration file", "filename",
             path ? path : "<built-in default>");
  } else {
    s->config_reloads_failed++;
  }
  pthread_mutex_unlock(&s->reload_mu);
  return rc;
}
