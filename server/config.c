/*
 * config.c - pharos's configuration file (prometheus.yml format) and the
 * scrape manager's life cycle.
 *
 * Loading decodes the whole file into a fresh server_config_t with the
 * strict rules of Prometheus (unknown fields refused, each error naming
 * file:line:column and the field); only when that succeeds does it replace
 * the running configuration, so a failed reload leaves the old one in
 * force.  The sections decoded here are `global`, `storage`,
 * `scrape_configs` and `scrape_config_files` (the last two, and the
 * scrape-related global fields, through collector/scrape_config.h);
 * the other top-level sections are accepted by name for the modules that
 * own them.  The decoded scrape configuration is kept in s->scrape_cfg
 * and handed to the scrape manager, which starts after the HTTP server
 * (server_scrape_start) and applies each successful reload.
 *
 * Without --config.file the built-in default applies: a job "pharos"
 * scraping this server's own /metrics at the address it actually listens
 * on (0.0.0.0 / :: / empty become localhost), and a job "node" collecting
 * this host every 15s in-process through the exporter library (the same
 * parse and append path as a scrape, without HTTP).
 */
#include "server.h"

#include "exporter.h"
#include "log.h"
#include "mem.h"
#include "ph_error.h"
#include "scrape.h"
#include "scrape_config.h"
#include "timeparse.h"
#include "ycfg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

/* The built-in default, used when no --config.file is given; %s is this
 * server's own address. */
static const char default_config_fmt[] =
    "global:\n"
    "  scrape_interval: 15s\n"
    "  scrape_timeout: 10s\n"
    "  evaluation_interval: 15s\n"
    "scrape_configs:\n"
    "  - job_name: pharos\n"
    "    static_configs:\n"
    "      - targets: ['%s']\n"
    "# job \"node\": this host, collected in-process every 15s (built in).\n";

#define SELF_JOB "node"
#define SELF_INTERVAL_MS 15000

static const char *const top_fields[] = {
    "global", "scrape_configs", "scrape_config_files", "rule_files", "alerting",
    "remote_write", "remote_read", "storage", "tracing", "runtime", "otlp", NULL};

static const char *const global_fields[] = {
    "evaluation_interval", "query_log_file", "rule_query_offset",
    SCRAPE_CONFIG_GLOBAL_FIELDS, NULL};

static const char *const storage_fields[] = {"tsdb", "exemplars", NULL};
static const char *const tsdb_fields[] = {"out_of_order_time_window", NULL};

typedef struct server_config {
  int64_t evaluation_interval_ms;
  int64_t ooo_window_ms;
  scrape_config_t *scrape; /* owned */
} server_config_t;

static int decode_global(ycfg_t *c, const ynode_t *n, size_t idx, void *ud) {
  (void)idx;
  server_config_t *cfg = ud;
  int rc = ycfg_check_map(c, n, global_fields);
  if (rc == 0) rc = scrape_config_decode_global(c, n, cfg->scrape);
  if (rc == 0)
    rc = ycfg_get_duration(c, n, "evaluation_interval", &cfg->evaluation_interval_ms);
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

/* Directory of path ("" for a bare file name). */
static void dir_of(const char *path, char *buf, size_t n) {
  const char *slash = path ? strrchr(path, '/') : NULL;
  if (slash == NULL) {
    snprintf(buf, n, "%s", "");
  } else if (slash == path) {
    snprintf(buf, n, "/");
  } else {
    snprintf(buf, n, "%.*s", (int)(slash - path), path);
  }
}

static int decode(ydoc_t *doc, const char *path, server_config_t *cfg, char *err,
                  size_t errlen) {
  ycfg_t *c = ycfg_new(doc, err, errlen);
  const ynode_t *root = ydoc_root(doc);
  cfg->evaluation_interval_ms = 60000; /* Prometheus's defaults */
  cfg->ooo_window_ms = 0;
  cfg->scrape = scrape_config_new();
  char dir[4096];
  dir_of(path, dir, sizeof dir);
  scrape_config_set_base_dir(cfg->scrape, dir);
  int rc = ycfg_check_map(c, root, top_fields);
  /* global first: jobs take their defaults from it */
  if (rc == 0) rc = ycfg_get_field(c, root, "global", decode_global, cfg);
  if (rc == 0) {
    const ynode_t *jobs = ynode_map_get(root, "scrape_configs");
    if (jobs != NULL) {
      size_t mark = ycfg_push_field(c, "scrape_configs");
      rc = scrape_config_decode_jobs(c, jobs, cfg->scrape);
      ycfg_pop(c, mark);
    }
  }
  if (rc == 0) {
    const ynode_t *files = ynode_map_get(root, "scrape_config_files");
    if (files != NULL) {
      size_t mark = ycfg_push_field(c, "scrape_config_files");
      rc = scrape_config_decode_files(c, files, cfg->scrape, err, errlen);
      ycfg_pop(c, mark);
    }
  }
  if (rc == 0) rc = ycfg_get_field(c, root, "storage", decode_storage, cfg);
  ycfg_free(c);
  if (rc != 0) {
    scrape_config_unref(cfg->scrape);
    cfg->scrape = NULL;
  }
  return rc;
}

/* host:port this server is reachable at, for scraping itself. */
static void self_address(server_t *s, char *buf, size_t n) {
  const char *la = s->flags.listen_address ? s->flags.listen_address : "";
  const char *colon = strrchr(la, ':');
  char host[256];
  const char *port = "9090";
  if (colon != NULL) {
    snprintf(host, sizeof host, "%.*s", (int)(colon - la), la);
    port = colon + 1;
  } else {
    snprintf(host, sizeof host, "%s", la);
  }
  size_t hl = strlen(host);
  if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') { /* [::1] -> ::1 */
    memmove(host, host + 1, hl - 2);
    host[hl - 2] = '\0';
  }
  if (host[0] == '\0' || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0)
    snprintf(host, sizeof host, "localhost");
  char pbuf[16];
  if (s->http != NULL && httpd_port(s->http) > 0) {
    snprintf(pbuf, sizeof pbuf, "%d", httpd_port(s->http));
    port = pbuf;
  }
  if (strchr(host, ':') != NULL) snprintf(buf, n, "[%s]:%s", host, port);
  else snprintf(buf, n, "%s:%s", host, port);
}

static int collect_self(void *ud, strbuf_t *out) { return exporter_collect(ud, out); }

/* The exporter for the in-process host job, made once. */
static exporter_t *self_exporter(server_t *s) {
  if (s->self_exporter != NULL) return s->self_exporter;
  exporter_options_t *o = exporter_options_new();
  char err[512];
  /* process_* and promhttp_* are pharos's own, on its /metrics */
  if (exporter_options_set(o, "web.disable-exporter-metrics", NULL, err, sizeof err) != 0)
    log_warn("Cannot configure the in-process exporter", "err", err);
  s->self_exporter = exporter_new(o, err, sizeof err);
  exporter_options_free(o);
  if (s->self_exporter == NULL)
    log_warn("In-process host collection disabled", "err", err);
  return s->self_exporter;
}

static int load(server_t *s, const char *path, char *err, size_t errlen) {
  ydoc_t *doc = NULL;
  char *default_text = NULL;
  int rc;
  if (path != NULL) {
    rc = ydoc_load_file(path, &doc, err, errlen);
  } else {
    char addr[300];
    self_address(s, addr, sizeof addr);
    strbuf_t b = STRBUF_INIT;
    strbuf_printf(&b, default_config_fmt, addr);
    default_text = strbuf_detach(&b, NULL);
    rc = ydoc_load_string("<built-in default>", default_text, strlen(default_text), &doc, err,
                          errlen);
  }
  if (rc != 0) {
    free(default_text);
    return rc;
  }
  server_config_t cfg;
  rc = decode(doc, path, &cfg, err, errlen);
  ydoc_free(doc);
  if (rc != 0) {
    free(default_text);
    return rc;
  }
  if (path == NULL) {
    exporter_t *e = self_exporter(s);
    if (e != NULL) {
      char addr[300];
      self_address(s, addr, sizeof addr);
      scrape_config_add_local_job(cfg.scrape, SELF_JOB, SELF_INTERVAL_MS, addr, collect_self, e);
    }
  }
  s->ooo_window_ms = cfg.ooo_window_ms;

  /* Keep the text for /api/v1/status/config. */
  char *text = NULL;
  if (path == NULL) {
    text = default_text;
  } else {
    FILE *fp = fopen(path, "r");
    if (fp != NULL) {
      strbuf_t b = STRBUF_INIT;
      char buf[4096];
      size_t n;
      while ((n = fread(buf, 1, sizeof buf, fp)) > 0) strbuf_append(&b, buf, n);
      fclose(fp);
      text = strbuf_detach(&b, NULL);
    }
    if (text == NULL) text = ph_strdup("");
  }
  free(s->config_text);
  s->config_text = text;
  scrape_config_unref(s->scrape_cfg);
  s->scrape_cfg = cfg.scrape;
  if (s->scrape != NULL) scrape_manager_apply(s->scrape, s->scrape_cfg);
  return 0;
}

int server_config_load(server_t *s, const char *path, char *err, size_t errlen) {
  pthread_mutex_lock(&s->reload_mu);
  int rc = load(s, path, err, errlen);
  if (rc == 0) {
    s->last_reload_ok = true;
    s->last_reload_success_ms = s->start_time_ms;
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
    log_info("Completed loading of configuration file", "filename",
             path ? path : "<built-in default>");
  }
  pthread_mutex_unlock(&s->reload_mu);
  return rc;
}

int server_scrape_start(server_t *s, char *err, size_t errlen) {
  pthread_mutex_lock(&s->reload_mu);
  int rc = 0;
  /* The default scrapes this server: now its port is known. */
  if (s->flags.config_file == NULL || s->flags.config_file[0] == '\0')
    rc = load(s, NULL, err, errlen);
  if (rc == 0) {
    scrape_manager_options_t o = {.db = s->db};
    /* as Prometheus: host name and external labels spread the offsets */
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    o.offset_seed = XXH3_64bits(host, strlen(host));
    if (s->scrape_cfg != NULL) o.offset_seed ^= labels_hash(s->scrape_cfg->external_labels);
    rc = scrape_manager_new(&o, &s->scrape, err, errlen);
  }
  if (rc == 0 && s->scrape_cfg != NULL) scrape_manager_apply(s->scrape, s->scrape_cfg);
  pthread_mutex_unlock(&s->reload_mu);
  if (rc == 0) {
    char n[32];
    snprintf(n, sizeof n, "%zu", s->scrape_cfg ? s->scrape_cfg->njobs : 0);
    log_info("Scrape manager started", "scrape_pools", n);
  }
  return rc;
}

void server_scrape_stop(server_t *s) {
  pthread_mutex_lock(&s->reload_mu);
  scrape_manager_t *m = s->scrape;
  s->scrape = NULL;
  pthread_mutex_unlock(&s->reload_mu);
  if (m != NULL) {
    scrape_manager_free(m); /* staleness markers for every target */
    log_info("Scrape manager stopped");
  }
  scrape_config_unref(s->scrape_cfg);
  s->scrape_cfg = NULL;
  exporter_free(s->self_exporter);
  s->self_exporter = NULL;
}
