/*
 * scrape_config.h - the scraping part of prometheus.yml, decoded: the
 * scrape-related `global` fields, `scrape_configs` and the files named by
 * `scrape_config_files`.
 *
 * Decoding follows Prometheus 3 (config/config.go) with yaml.v2's strict
 * rules: unknown fields are refused with file:line:column and the field
 * path (ycfg_check_map); fields Prometheus knows but Pharos does not
 * implement (kubernetes_sd_configs, oauth2, proxy_url, native histogram
 * options, ...) are refused with "<field> is not supported by Pharos",
 * except when they are written with their default value (false, 0, empty),
 * which changes nothing.  Defaults: global scrape_interval 1m,
 * scrape_timeout 10s (capped at the interval); a job's interval and
 * timeout default to the global ones (the timeout capped at the job's
 * interval), metrics_path /metrics, scheme http, honor_timestamps true,
 * follow_redirects true, enable_compression true, file_sd refresh 5m.
 * Relative file names (password_file, ca_file, file_sd files, ...) are
 * resolved against the directory of the file that names them.
 *
 * The decoded configuration is plain data: scrape_config_t owns every
 * string, array, label set and compiled relabel rule under it, is
 * immutable once decoded, and is reference-counted so the server and the
 * scrape loop thread can share it (scrape_config_ref/unref, atomic).
 */
#ifndef PH_SCRAPE_CONFIG_H
#define PH_SCRAPE_CONFIG_H

#include "labels.h"
#include "relabel.h"
#include "strbuf.h"
#include "ycfg.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An in-process source instead of HTTP (the server's own host): appends
 * exposition text (format 0.0.4) to out and returns 0, or a PH_E* code.
 * Called on a libuv worker thread; must be thread-safe. */
typedef int (*scrape_local_fn)(void *ud, strbuf_t *out);

/* One target group: static_configs entry or a file_sd group.  Each target
 * is a label set holding at least __address__; labels apply to every
 * target that does not set the same name itself. */
typedef struct scrape_group {
  char *source;        /* owned: "static:<job>:<i>" or "<file>:<i>" */
  labels_t **targets;  /* owned */
  size_t ntargets;
  labels_t *labels;    /* owned; never NULL */
} scrape_group_t;

void scrape_group_free(scrape_group_t *g); /* frees the members, not g */

typedef struct scrape_param {
  const char *name;
  const char *const *values; /* nvalues >= 0 */
  size_t nvalues;
} scrape_param_t;

typedef struct scrape_file_sd {
  const char *const *files;  /* patterns, resolved to absolute or cwd paths */
  size_t nfiles;
  int64_t refresh_ms;
} scrape_file_sd_t;

/* All strings below are owned by the config (NULL = not set). */
typedef struct scrape_job {
  const char *job_name;
  int64_t interval_ms, timeout_ms;
  const char *metrics_path;
  const char *scheme;            /* "http" or "https" */
  scrape_param_t *params;        /* sorted by name */
  size_t nparams;
  bool honor_labels, honor_timestamps, track_timestamps_staleness;
  bool follow_redirects, enable_compression, enable_http2;
  /* basic_auth */
  bool has_basic_auth;
  const char *basic_username, *basic_username_file;
  const char *basic_password, *basic_password_file;
  /* authorization (also bearer_token / bearer_token_file) */
  bool has_authorization;
  const char *auth_type;         /* "Bearer" by default */
  const char *auth_credentials, *auth_credentials_file;
  /* tls_config */
  const char *tls_ca, *tls_ca_file;     /* PEM text / file */
  const char *tls_cert, *tls_cert_file;
  const char *tls_key, *tls_key_file;
  const char *tls_server_name;
  bool tls_insecure_skip_verify;
  const char *tls_min_version, *tls_max_version; /* "TLS12", ... */
  /* limits; 0 = none */
  uint64_t sample_limit, label_limit, label_name_length_limit,
      label_value_length_limit, target_limit, keep_dropped_targets;
  uint64_t body_size_limit;      /* bytes */
  /* scrape_protocols, in preference order; the Accept header built from
   * them (Prometheus's weights), owned */
  const char *const *scrape_protocols;
  size_t nscrape_protocols;
  const char *accept_header;
  const char *fallback_protocol; /* scrape_fallback_protocol or NULL */
  /* service discovery */
  scrape_group_t *static_groups;
  size_t nstatic_groups;
  scrape_file_sd_t *file_sd;
  size_t nfile_sd;
  relabel_rule_t **relabel;
  size_t nrelabel;
  relabel_rule_t **metric_relabel;
  size_t nmetric_relabel;
  /* Hash of every setting that decides how a scraped sample becomes a
   * stored one (honor_*, limits, metric_relabel_configs): the scrape loop
   * keeps its series cache across reloads while this is unchanged. */
  uint64_t sample_fingerprint;
  /* In-process job (set by the server, never by YAML): no HTTP. */
  scrape_local_fn local_fn;
  void *local_ud;
} scrape_job_t;

typedef struct scrape_config {
  int64_t scrape_interval_ms;    /* global */
  int64_t scrape_timeout_ms;
  labels_t *external_labels;     /* owned; never NULL */
  /* global defaults of the per-job limits */
  uint64_t sample_limit, label_limit, label_name_length_limit,
      label_value_length_limit, target_limit, keep_dropped_targets,
      body_size_limit;
  const char *const *scrape_protocols;
  size_t nscrape_protocols;
  scrape_job_t **jobs;           /* owned, in config order */
  size_t njobs;
  /* private */
  struct scrape_config_priv *priv;
} scrape_config_t;

/* A new, empty configuration with the defaults; reference count 1. */
scrape_config_t *scrape_config_new(void);
scrape_config_t *scrape_config_ref(scrape_config_t *cfg);
void scrape_config_unref(scrape_config_t *cfg); /* NULL is fine */

/* Directory against which relative file names in the fields decoded next
 * are resolved ("" or NULL: the working directory). */
void scrape_config_set_base_dir(scrape_config_t *cfg, const char *dir);

/* The global fields listed in SCRAPE_CONFIG_GLOBAL_FIELDS, from mapping
 * global (the caller has run ycfg_check_map with its full list and pushed
 * nothing: this pushes the field names itself).  Call before decoding jobs. */
int scrape_config_decode_global(ycfg_t *c, const ynode_t *global,
                                scrape_config_t *cfg);
#define SCRAPE_CONFIG_GLOBAL_FIELDS                                          \
  "scrape_interval", "scrape_timeout", "external_labels", "body_size_limit", \
      "sample_limit", "label_limit", "label_name_length_limit",              \
      "label_value_length_limit", "target_limit", "keep_dropped_targets",    \
      "scrape_protocols", "metric_name_validation_scheme",                   \
      "metric_name_escaping_scheme", "scrape_failure_log_file",              \
      "convert_classic_histograms_to_nhcb",                                  \
      "always_scrape_classic_histograms", "scrape_native_histograms"

/* Decodes the scrape_configs sequence seq (the caller pushed its path)
 * and appends the jobs; job names must be unique across calls. */
int scrape_config_decode_jobs(ycfg_t *c, const ynode_t *seq,
                              scrape_config_t *cfg);

/* scrape_config_files: each glob in the sequence node list (relative to
 * the base dir) is expanded; every file must hold only `scrape_configs`,
 * decoded as above with its own directory as base.  Errors name the file
 * that has them; err/errlen must be the buffer c was created with. */
int scrape_config_decode_files(ycfg_t *c, const ynode_t *list,
                               scrape_config_t *cfg, char *err, size_t errlen);

/* Adds an in-process job (the server's own host): one static target with
 * the given address, scraped by calling fn every interval_ms.  The job is
 * placed last; fails with PH_EEXIST if the name is taken. */
int scrape_config_add_local_job(scrape_config_t *cfg, const char *job_name,
                                int64_t interval_ms, const char *address,
                                scrape_local_fn fn, void *ud);

/* Looks a job up by name; NULL when absent. */
const scrape_job_t *scrape_config_job(const scrape_config_t *cfg,
                                      const char *name);

/* Parses a file_sd target group file's data (JSON when the name ends in
 * .json, else YAML), as Prometheus's file discovery does: a list of
 * {targets: [...], labels: {...}}; each group also gets __meta_filepath.
 * Returns 0 with *groups (owned by the caller: scrape_group_free each,
 * then free the array) or PH_EPARSE with the file name in err. */
int scrape_file_sd_parse(const char *path, const char *data, size_t len,
                         scrape_group_t **groups, size_t *ngroups, char *err,
                         size_t errlen);

#endif
