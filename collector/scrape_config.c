/*
 * scrape_config.c - decoding the scraping part of prometheus.yml (see
 * scrape_config.h for the rules it follows).
 *
 * One function per YAML section, each starting with ycfg_check_map() on
 * the section's full field list (supported fields plus the ones Prometheus
 * knows and Pharos refuses), then refuse_unsupported() with a table of
 * those refused fields and the value that makes them harmless, then the
 * ycfg_get_* calls, then the cross-field validations Prometheus does,
 * worded as Prometheus words them and positioned at the field at fault.
 *
 * Memory: every string of a config lives in its arena (no budget: a config
 * is bookkeeping); growing arrays are malloc'ed and freed with the config;
 * label sets and relabel rules are freed one by one.
 */
#include "scrape_config.h"

#include "arena.h"
#include "mem.h"
#include "ph_error.h"
#include "timeparse.h"

#include <ctype.h>
#include <glob.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

struct scrape_config_priv {
  atomic_int refs;
  arena_t *arena;
  const char *base_dir; /* in the arena; "" = working directory */
};

/* ---- lifetime ---------------------------------------------------------------- */

void scrape_group_free(scrape_group_t *g) {
  if (g == NULL) return;
  for (size_t i = 0; i < g->ntargets; i++) labels_free(g->targets[i]);
  free(g->targets);
  labels_free(g->labels);
  free(g->source);
  memset(g, 0, sizeof *g);
}

static const char *const default_protocols[] = {
    "OpenMetricsText1.0.0", "OpenMetricsText0.0.1", "PrometheusText1.0.0",
    "PrometheusText0.0.4"};

scrape_config_t *scrape_config_new(void) {
  scrape_config_t *cfg = ph_calloc(1, sizeof *cfg);
  cfg->priv = ph_calloc(1, sizeof *cfg->priv);
  atomic_init(&cfg->priv->refs, 1);
  cfg->priv->arena = arena_new(0);
  cfg->priv->base_dir = "";
  cfg->scrape_interval_ms = 60000;
  cfg->scrape_timeout_ms = 10000;
  cfg->external_labels = labels_empty();
  cfg->scrape_protocols = default_protocols;
  cfg->nscrape_protocols = 4;
  return cfg;
}

scrape_config_t *scrape_config_ref(scrape_config_t *cfg) {
  atomic_fetch_add(&cfg->priv->refs, 1);
  return cfg;
}

static void job_free(scrape_job_t *j) {
  for (size_t i = 0; i < j->nstatic_groups; i++) scrape_group_free(&j->static_groups[i]);
  free(j->static_groups);
  free(j->file_sd);
  for (size_t i = 0; i < j->nrelabel; i++) relabel_rule_free(j->relabel[i]);
  free(j->relabel);
  for (size_t i = 0; i < j->nmetric_relabel; i++) relabel_rule_free(j->metric_relabel[i]);
  free(j->metric_relabel);
  free(j->params);
}

void scrape_config_unref(scrape_config_t *cfg) {
  if (cfg == NULL) return;
  if (atomic_fetch_sub(&cfg->priv->refs, 1) != 1) return;
  for (size_t i = 0; i < cfg->njobs; i++) job_free(cfg->jobs[i]);
  free(cfg->jobs);
  labels_free(cfg->external_labels);
  arena_free(cfg->priv->arena);
  free(cfg->priv);
  free(cfg);
}

static char *cdup(scrape_config_t *cfg, const char *s) {
  return s ? arena_strdup(cfg->priv->arena, s) : NULL;
}

void scrape_config_set_base_dir(scrape_config_t *cfg, const char *dir) {
  cfg->priv->base_dir = cdup(cfg, dir ? dir : "");
}

/* A file name relative to the base directory, as Prometheus's
 * SetDirectory does; NULL and "" stay as they are. */
static const char *resolve(scrape_config_t *cfg, const char *s) {
  if (s == NULL || s[0] == '\0' || s[0] == '/' || cfg->priv->base_dir[0] == '\0')
    return cdup(cfg, s);
  size_t a = strlen(cfg->priv->base_dir), b = strlen(s);
  char *p = arena_alloc(cfg->priv->arena, a + b + 2);
  memcpy(p, cfg->priv->base_dir, a);
  p[a] = '/';
  memcpy(p + a + 1, s, b + 1);
  return p;
}

const scrape_job_t *scrape_config_job(const scrape_config_t *cfg, const char *name) {
  for (size_t i = 0; i < cfg->njobs; i++)
    if (strcmp(cfg->jobs[i]->job_name, name) == 0) return cfg->jobs[i];
  return NULL;
}

/* ---- small helpers --------------------------------------------------------------- */

/* A field Prometheus has and Pharos does not implement; harmless is the
 * value text (compared without case) that leaves it inactive, NULL when
 * only null / an empty collection is. */
typedef struct unsupported {
  const char *field;
  const char *harmless;
} unsupported_t;

static const ynode_t *map_key_node(const ynode_t *map, const char *key) {
  for (size_t i = 0; i < ynode_map_len(map); i++) {
    const ynode_t *k = ynode_map_key(map, i);
    if (ynode_kind(k) == YNODE_SCALAR && strcmp(ynode_str(k), key) == 0) return k;
  }
  return NULL;
}

static bool is_harmless(const ynode_t *v, const char *harmless) {
  if (ynode_is_null(v)) return true;
  if (ynode_kind(v) == YNODE_MAPPING) return ynode_map_len(v) == 0;
  if (ynode_kind(v) == YNODE_SEQUENCE) return ynode_seq_len(v) == 0;
  if (harmless == NULL) return false;
  const char *s = ynode_str(v);
  if (strcasecmp(s, harmless) == 0) return true;
  /* numbers written differently: 0, 0.0, 00 */
  if (strcmp(harmless, "0") == 0) {
    char *end;
    double d = strtod(s, &end);
    return *s != '\0' && *end == '\0' && d == 0;
  }
  return false;
}

static int refuse_unsupported(ycfg_t *c, const ynode_t *map, const unsupported_t *t) {
  for (; t->field != NULL; t++) {
    const ynode_t *v = ynode_map_get(map, t->field);
    if (v == NULL || is_harmless(v, t->harmless)) continue;
    size_t mark = ycfg_push_field(c, t->field);
    int rc = ycfg_errorf(c, map_key_node(map, t->field), "%s is not supported by Pharos",
                         t->field);
    ycfg_pop(c, mark);
    return rc;
  }
  return 0;
}

/* An error at field key of map (or at map when the field is absent). */
static int field_errorf(ycfg_t *c, const ynode_t *map, const char *key, const char *fmt,
                        ...) __attribute__((format(printf, 4, 5)));
static int field_errorf(ycfg_t *c, const ynode_t *map, const char *key, const char *fmt,
                        ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  const ynode_t *at = key ? ynode_map_get(map, key) : NULL;
  size_t mark = at ? ycfg_push_field(c, key) : 0;
  int rc = ycfg_errorf(c, at ? at : map, "%s", msg);
  if (at) ycfg_pop(c, mark);
  return rc;
}

/* Go's units.ParseBase2Bytes: "0", or one or more <number><unit> with
 * B, KB/KiB, MB/MiB, GB/GiB, TB/TiB, PB/PiB, EB/EiB (all powers of 1024),
 * e.g. "100MB", "1.5GB", "1GB512MB". */
static int parse_base2_bytes(const char *s, uint64_t *out) {
  if (strcmp(s, "0") == 0) {
    *out = 0;
    return 0;
  }
  if (*s == '\0') return PH_EPARSE;
  double total = 0;
  const char *p = s;
  while (*p) {
    if (!isdigit((unsigned char)*p) && *p != '.') return PH_EPARSE;
    char *end;
    double v = strtod(p, &end);
    if (end == p) return PH_EPARSE;
    p = end;
    static const struct { const char *u; int shift; } units[] = {
        {"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40}, {"PiB", 50}, {"EiB", 60},
        {"KB", 10},  {"MB", 20},  {"GB", 30},  {"TB", 40},  {"PB", 50},  {"EB", 60},
        {"B", 0}};
    bool found = false;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
      size_t n = strlen(units[i].u);
      if (strncmp(p, units[i].u, n) == 0) {
        total += v * (double)(UINT64_C(1) << units[i].shift);
        p += n;
        found = true;
        break;
      }
    }
    if (!found) return PH_EPARSE;
  }
  if (total >= 18446744073709551616.0) return PH_EPARSE;
  *out = (uint64_t)total;
  return 0;
}

static int get_bytes(ycfg_t *c, const ynode_t *map, const char *key, uint64_t *out) {
  const ynode_t *v = ynode_map_get(map, key);
  if (v == NULL) return 0;
  size_t mark = ycfg_push_field(c, key);
  const char *s;
  int rc = ycfg_as_string(c, v, &s);
  if (rc == 0 && !ynode_is_null(v) && parse_base2_bytes(s, out) != 0)
    rc = ycfg_errorf(c, v, "expected a size such as 100MB, got \"%s\"", s);
  if (rc == 0 && ynode_is_null(v)) *out = 0;
  ycfg_pop(c, mark);
  return rc;
}

/* Growable pointer array append. */
#define PUSH(arr, n, cap, v)     \
  do {                           \
    ph_grow(&(arr), &(cap), (n) + 1); \
    (arr)[(n)++] = (v);          \
  } while (0)

/* ---- scrape protocols ------------------------------------------------------------ */

static const struct {
  const char *name;
  const char *header;
  bool escaping;
} protocols[] = {
    {"PrometheusProto",
     "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
     false},
    {"PrometheusText0.0.4", "text/plain;version=0.0.4", false},
    {"PrometheusText1.0.0", "text/plain;version=1.0.0", true},
    {"OpenMetricsText0.0.1", "application/openmetrics-text;version=0.0.1", false},
    {"OpenMetricsText1.0.0", "application/openmetrics-text;version=1.0.0", true},
};
#define NPROTOCOLS (sizeof protocols / sizeof protocols[0])

static int protocol_index(const char *s) {
  for (size_t i = 0; i < NPROTOCOLS; i++)
    if (strcmp(protocols[i].name, s) == 0) return (int)i;
  return -1;
}

static int get_protocols(ycfg_t *c, const ynode_t *map, scrape_config_t *cfg,
                         const char *const **out, size_t *nout) {
  const ynode_t *v = ynode_map_get(map, "scrape_protocols");
  if (v == NULL) return 0;
  size_t mark = ycfg_push_field(c, "scrape_protocols");
  const char **items;
  size_t n;
  int rc = ycfg_as_strings(c, v, &items, &n);
  bool usable = false;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    int k = protocol_index(items[i]);
    if (k < 0) {
      rc = ycfg_errorf(c, ynode_seq_at(v, i),
                       "unknown scrape protocol %s, supported: [OpenMetricsText0.0.1 "
                       "OpenMetricsText1.0.0 PrometheusProto PrometheusText0.0.4 "
                       "PrometheusText1.0.0]",
                       items[i]);
      break;
    }
    if (k != 0) usable = true;
    for (size_t j = 0; j < i; j++)
      if (strcmp(items[j], items[i]) == 0)
        rc = ycfg_errorf(c, ynode_seq_at(v, i), "duplicated protocol in scrape_protocols, got %s",
                         items[i]);
  }
  if (rc == 0 && n > 0 && !usable)
    rc = ycfg_errorf(c, v, "PrometheusProto is not supported by Pharos: list a text format too");
  if (rc == 0 && n > 0) {
    const char **copy = arena_calloc(cfg->priv->arena, n, sizeof *copy);
    for (size_t i = 0; i < n; i++) copy[i] = cdup(cfg, items[i]);
    *out = copy;
    *nout = n;
  }
  ycfg_pop(c, mark);
  return rc;
}

/* Prometheus's acceptHeader(): the protocols in order with falling q
 * weights (PrometheusProto left out: Pharos cannot parse it), then any. */
static const char *build_accept(scrape_config_t *cfg, const char *const *p, size_t n) {
  strbuf_t b = STRBUF_INIT;
  int weight = (int)NPROTOCOLS + 1;
  for (size_t i = 0; i < n; i++) {
    int k = protocol_index(p[i]);
    if (k <= 0) {
      weight--;
      continue;
    }
    strbuf_puts(&b, protocols[k].header);
    if (protocols[k].escaping) strbuf_puts(&b, ";escaping=allow-utf-8");
    strbuf_printf(&b, ";q=0.%d,", weight);
    weight--;
  }
  strbuf_printf(&b, "*/*;q=0.%d", weight);
  const char *s = cdup(cfg, strbuf_cstr(&b));
  strbuf_free(&b);
  return s;
}

/* ---- global -------------------------------------------------------------------- */

static const unsupported_t global_unsupported[] = {
    {"metric_name_validation_scheme", "utf8"},
    {"metric_name_escaping_scheme", "allow-utf-8"},
    {"scrape_failure_log_file", ""},
    {"convert_classic_histograms_to_nhcb", "false"},
    {"always_scrape_classic_histograms", "false"},
    {"scrape_native_histograms", "false"},
    {NULL, NULL}};

static int get_limit(ycfg_t *c, const ynode_t *map, const char *key, uint64_t *out) {
  return ycfg_get_uint(c, map, key, UINT64_MAX, out);
}

int scrape_config_decode_global(ycfg_t *c, const ynode_t *g, scrape_config_t *cfg) {
  int64_t interval = 0, timeout = 0;
  int rc = refuse_unsupported(c, g, global_unsupported);
  if (rc == 0) rc = ycfg_get_duration(c, g, "scrape_interval", &interval);
  if (rc == 0) rc = ycfg_get_duration(c, g, "scrape_timeout", &timeout);
  if (rc == 0) {
    ycfg_pair_t *pairs = NULL;
    size_t n = 0;
    rc = ycfg_get_string_map(c, g, "external_labels", &pairs, &n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
      if (!labels_valid_name(pairs[i].key, strlen(pairs[i].key))) {
        size_t mark = ycfg_push_field(c, "external_labels");
        rc = ycfg_errorf(c, pairs[i].key_node, "\"%s\" is not a valid label name", pairs[i].key);
        ycfg_pop(c, mark);
      }
    }
    if (rc == 0 && n > 0) {
      label_t *lp = ph_calloc(n, sizeof *lp);
      for (size_t i = 0; i < n; i++) lp[i] = (label_t){pairs[i].key, pairs[i].value};
      labels_free(cfg->external_labels);
      cfg->external_labels = labels_new(NULL, lp, n, NULL, 0);
      free(lp);
    }
  }
  if (rc == 0) rc = get_bytes(c, g, "body_size_limit", &cfg->body_size_limit);
  if (rc == 0) rc = get_limit(c, g, "sample_limit", &cfg->sample_limit);
  if (rc == 0) rc = get_limit(c, g, "label_limit", &cfg->label_limit);
  if (rc == 0) rc = get_limit(c, g, "label_name_length_limit", &cfg->label_name_length_limit);
  if (rc == 0) rc = get_limit(c, g, "label_value_length_limit", &cfg->label_value_length_limit);
  if (rc == 0) rc = get_limit(c, g, "target_limit", &cfg->target_limit);
  if (rc == 0) rc = get_limit(c, g, "keep_dropped_targets", &cfg->keep_dropped_targets);
  if (rc == 0) rc = get_protocols(c, g, cfg, &cfg->scrape_protocols, &cfg->nscrape_protocols);
  if (rc != 0) return rc;
  if (interval == 0) interval = 60000;
  if (timeout > interval)
    return field_errorf(c, g, "scrape_timeout", "global scrape timeout greater than scrape interval");
  if (timeout == 0) timeout = 10000 > interval ? interval : 10000;
  cfg->scrape_interval_ms = interval;
  cfg->scrape_timeout_ms = timeout;
  return 0;
}

/* ---- jobs ---------------------------------------------------------------------- */

static const char *const job_fields[] = {
    "job_name", "honor_labels", "honor_timestamps", "track_timestamps_staleness",
    "params", "scrape_interval", "scrape_timeout", "scrape_protocols",
    "scrape_fallback_protocol", "metrics_path", "scheme", "enable_compression",
    "body_size_limit", "sample_limit", "target_limit", "label_limit",
    "label_name_length_limit", "label_value_length_limit", "keep_dropped_targets",
    "static_configs", "file_sd_configs", "relabel_configs", "metric_relabel_configs",
    "basic_auth", "authorization", "bearer_token", "bearer_token_file", "tls_config",
    "follow_redirects", "enable_http2",
    /* refused (see job_unsupported) */
    "oauth2", "proxy_url", "no_proxy", "proxy_from_environment", "proxy_connect_header",
    "http_headers", "native_histogram_bucket_limit", "native_histogram_min_bucket_factor",
    "scrape_classic_histograms", "always_scrape_classic_histograms",
    "convert_classic_histograms_to_nhcb", "scrape_native_histograms",
    "metric_name_validation_scheme", "metric_name_escaping_scheme",
    "scrape_failure_log_file", "azure_sd_configs", "consul_sd_configs",
    "digitalocean_sd_configs", "docker_sd_configs", "dockerswarm_sd_configs",
    "dns_sd_configs", "ec2_sd_configs", "eureka_sd_configs", "gce_sd_configs",
    "hetzner_sd_configs", "http_sd_configs", "ionos_sd_configs", "kubernetes_sd_configs",
    "kuma_sd_configs", "lightsail_sd_configs", "linode_sd_configs", "marathon_sd_configs",
    "nerve_sd_configs", "nomad_sd_configs", "openstack_sd_configs", "ovhcloud_sd_configs",
    "puppetdb_sd_configs", "scaleway_sd_configs", "serverset_sd_configs",
    "stackit_sd_configs", "triton_sd_configs", "uyuni_sd_configs", "vultr_sd_configs",
    NULL};

static const unsupported_t job_unsupported[] = {
    {"oauth2", NULL},
    {"proxy_url", ""},
    {"no_proxy", ""},
    {"proxy_from_environment", "false"},
    {"proxy_connect_header", NULL},
    {"http_headers", NULL},
    {"native_histogram_bucket_limit", "0"},
    {"native_histogram_min_bucket_factor", "0"},
    {"scrape_classic_histograms", "false"},
    {"always_scrape_classic_histograms", "false"},
    {"convert_classic_histograms_to_nhcb", "false"},
    {"scrape_native_histograms", "false"},
    {"metric_name_validation_scheme", "utf8"},
    {"metric_name_escaping_scheme", "allow-utf-8"},
    {"scrape_failure_log_file", ""},
    {"azure_sd_configs", NULL},
    {"consul_sd_configs", NULL},
    {"digitalocean_sd_configs", NULL},
    {"docker_sd_configs", NULL},
    {"dockerswarm_sd_configs", NULL},
    {"dns_sd_configs", NULL},
    {"ec2_sd_configs", NULL},
    {"eureka_sd_configs", NULL},
    {"gce_sd_configs", NULL},
    {"hetzner_sd_configs", NULL},
    {"http_sd_configs", NULL},
    {"ionos_sd_configs", NULL},
    {"kubernetes_sd_configs", NULL},
    {"kuma_sd_configs", NULL},
    {"lightsail_sd_configs", NULL},
    {"linode_sd_configs", NULL},
    {"marathon_sd_configs", NULL},
    {"nerve_sd_configs", NULL},
    {"nomad_sd_configs", NULL},
    {"openstack_sd_configs", NULL},
    {"ovhcloud_sd_configs", NULL},
    {"puppetdb_sd_configs", NULL},
    {"scaleway_sd_configs", NULL},
    {"serverset_sd_configs", NULL},
    {"stackit_sd_configs", NULL},
    {"triton_sd_configs", NULL},
    {"uyuni_sd_configs", NULL},
    {"vultr_sd_configs", NULL},
    {NULL, NULL}};

typedef struct job_ctx {
  scrape_config_t *cfg;
  scrape_job_t *job;
  size_t cap_static, cap_file_sd, cap_relabel, cap_metric_relabel, cap_params;
  strbuf_t fp; /* metric relabel rules, for the sample fingerprint */
  bool metric;  /* decoding metric_relabel_configs */
} job_ctx_t;

static int decode_static(ycfg_t *c, const ynode_t *n, size_t idx, void *ud) {
  job_ctx_t *jc = ud;
  static const char *const fields[] = {"targets", "labels", NULL};
  int rc = ycfg_check_map(c, n, fields);
  const char **targets = NULL;
  size_t nt = 0;
  ycfg_pair_t *pairs = NULL;
  size_t np = 0;
  if (rc == 0) rc = ycfg_get_strings(c, n, "targets", &targets, &nt);
  if (rc == 0) rc = ycfg_get_string_map(c, n, "labels", &pairs, &np);
  for (size_t i = 0; rc == 0 && i < np; i++) {
    if (!labels_valid_name(pairs[i].key, strlen(pairs[i].key))) {
      size_t mark = ycfg_push_field(c, "labels");
      rc = ycfg_errorf(c, pairs[i].key_node, "\"%s\" is not a valid label name", pairs[i].key);
      ycfg_pop(c, mark);
    }
  }
  /* Addresses are checked after relabeling (a blackbox job lists URLs
   * here and moves them to __param_target). */
  if (rc != 0) return rc;
  scrape_job_t *j = jc->job;
  ph_grow(&j->static_groups, &jc->cap_static, j->nstatic_groups + 1);
  scrape_group_t *g = &j->static_groups[j->nstatic_groups++];
  memset(g, 0, sizeof *g);
  char src[64];
  snprintf(src, sizeof src, "%zu", idx);
  g->source = ph_strdup(src);
  label_t *lp = ph_calloc(np ? np : 1, sizeof *lp);
  for (size_t i = 0; i < np; i++) lp[i] = (label_t){pairs[i].key, pairs[i].value};
  g->labels = labels_new(NULL, lp, np, NULL, 0);
  free(lp);
  g->targets = ph_calloc(nt ? nt : 1, sizeof *g->targets);
  for (size_t i = 0; i < nt; i++) {
    label_t a = {"__address__", targets[i]};
    g->targets[g->ntargets++] = labels_new(NULL, &a, 1, NULL, 0);
  }
  return 0;
}

/* patFileSDName: ^[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)$ */
static bool valid_file_sd_name(const char *s) {
  const char *star = strchr(s, '*');
  if (star != NULL && (strchr(star + 1, '*') != NULL || strchr(star + 1, '/') != NULL))
    return false;
  const char *dot = strrchr(s, '.');
  if (dot == NULL) return false;
  static const char *const ext[] = {".json", ".yml", ".yaml", ".JSON", ".YML", ".YAML"};
  for (size_t i = 0; i < 6; i++)
    if (strcmp(dot, ext[i]) == 0) return true;
  return false;
}

static int decode_file_sd(ycfg_t *c, const ynode_t *n, size_t idx, void *ud) {
  (void)idx;
  job_ctx_t *jc = ud;
  static const char *const fields[] = {"files", "refresh_interval", NULL};
  int rc = ycfg_check_map(c, n, fields);
  const char **files = NULL;
  size_t nf = 0;
  int64_t refresh = 300000;
  if (rc == 0) rc = ycfg_get_strings(c, n, "files", &files, &nf);
  if (rc == 0) rc = ycfg_get_duration(c, n, "refresh_interval", &refresh);
  if (rc == 0 && nf == 0)
    rc = ycfg_errorf(c, n, "file service discovery config must contain at least one path name");
  const ynode_t *fn = ynode_map_get(n, "files");
  for (size_t i = 0; rc == 0 && i < nf; i++) {
    if (!valid_file_sd_name(files[i])) {
      size_t mark = ycfg_push_field(c, "files");
      size_t m2 = ycfg_push_index(c, i);
      rc = ycfg_errorf(c, ynode_seq_at(fn, i), "path name \"%s\" is not valid for file discovery",
                       files[i]);
      ycfg_pop(c, m2);
      ycfg_pop(c, mark);
    }
  }
  if (rc == 0 && refresh <= 0) refresh = 300000;
  if (rc != 0) return rc;
  scrape_job_t *j = jc->job;
  ph_grow(&j->file_sd, &jc->cap_file_sd, j->nfile_sd + 1);
  scrape_file_sd_t *f = &j->file_sd[j->nfile_sd++];
  const char **copy = arena_calloc(jc->cfg->priv->arena, nf, sizeof *copy);
  for (size_t i = 0; i < nf; i++) copy[i] = resolve(jc->cfg, files[i]);
  f->files = copy;
  f->nfiles = nf;
  f->refresh_ms = refresh;
  return 0;
}

static int decode_relabel(ycfg_t *c, const ynode_t *n, size_t idx, void *ud) {
  (void)idx;
  job_ctx_t *jc = ud;
  static const char *const fields[] = {"source_labels", "separator", "regex", "modulus",
                                       "target_label", "replacement", "action", NULL};
  relabel_spec_t sp = {0};
  int rc = ycfg_check_map(c, n, fields);
  const char **src = NULL;
  if (rc == 0) rc = ycfg_get_strings(c, n, "source_labels", &src, &sp.nsource);
  sp.source_labels = src;
  sp.source_labels_set = ynode_map_get(n, "source_labels") != NULL;
  if (rc == 0) rc = ycfg_get_string(c, n, "separator", &sp.separator);
  if (rc == 0) rc = ycfg_get_string(c, n, "regex", &sp.regex);
  if (rc == 0) rc = ycfg_get_uint(c, n, "modulus", UINT64_MAX, &sp.modulus);
  if (rc == 0) rc = ycfg_get_string(c, n, "target_label", &sp.target_label);
  if (rc == 0) rc = ycfg_get_string(c, n, "replacement", &sp.replacement);
  if (rc == 0) rc = ycfg_get_string(c, n, "action", &sp.action);
  if (rc != 0) return rc;
  relabel_rule_t *r;
  const char *badf;
  char msg[512];
  rc = relabel_rule_new(&sp, &r, &badf, msg, sizeof msg);
  if (rc != 0) return field_errorf(c, n, badf, "%s", msg);
  scrape_job_t *j = jc->job;
  if (jc->metric) {
    PUSH(j->metric_relabel, j->nmetric_relabel, jc->cap_metric_relabel, r);
    strbuf_printf(&jc->fp, "|%s|", sp.action ? sp.action : "");
    for (size_t i = 0; i < sp.nsource; i++) strbuf_printf(&jc->fp, "%s,", sp.source_labels[i]);
    strbuf_printf(&jc->fp, "|%s|%s|%llu|%s|%s", sp.separator ? sp.separator : ";",
                  sp.regex ? sp.regex : "(.*)", (unsigned long long)sp.modulus,
                  sp.target_label ? sp.target_label : "", sp.replacement ? sp.replacement : "$1");
  } else {
    PUSH(j->relabel, j->nrelabel, jc->cap_relabel, r);
  }
  return 0;
}

static int decode_param(ycfg_t *c, const char *key, const ynode_t *v, void *ud) {
  job_ctx_t *jc = ud;
  const char **vals = NULL;
  size_t n = 0;
  int rc = ycfg_as_strings(c, v, &vals, &n);
  if (rc != 0) return rc;
  scrape_job_t *j = jc->job;
  ph_grow(&j->params, &jc->cap_params, j->nparams + 1);
  scrape_param_t *p = &j->params[j->nparams++];
  p->name = cdup(jc->cfg, key);
  const char **copy = arena_calloc(jc->cfg->priv->arena, n ? n : 1, sizeof *copy);
  for (size_t i = 0; i < n; i++) copy[i] = cdup(jc->cfg, vals[i]);
  p->values = copy;
  p->nvalues = n;
  return 0;
}

static int decode_params(ycfg_t *c, const ynode_t *n, size_t idx, void *ud) {
  (void)idx;
  return ycfg_each_entry(c, n, decode_param, ud);
}

static int cmp_param(const void *a, const void *b) {
  return strcmp(((const scrape_param_t *)a)->name, ((const scrape_param_t *)b)->name);
}

static int decode_basic_auth(ycfg_t *c, const ynode_t *n, size_t idx, void *ud) {
  (void)idx;
  job_ctx_t *jc = ud;
  scrape_job_t *j = jc->job;
  static const char *const fields[] = {"username", "username_file", "username_ref",
                                       "password", "password_file", "password_ref", NULL};
  static const unsupported_t uns[] = {{"username_ref", ""}, {"password_ref", ""}, {NULL, NULL}};
  const char *u = NULL, *uf = NULL, *p = NULL, *pf = NULL;
  int rc = ycfg_check_map(c, n, fields);
  if (rc == 0) rc = refuse_unsupported(c, n, uns);
  if (rc == 0) rc = ycfg_get_string(c, n, "username", &u);
  if (rc == 0) rc = ycfg_get_string(c, n, "username_file", &uf);
  if (rc == 0) rc = ycfg_get_string(c, n, "password", &p);
  if (rc == 0) rc = ycfg_get_string(c, n, "password_file", &pf);
  if (rc != 0) return rc;
  if (ynode_is_null(n)) return 0;
  if (p && p[0] && pf && pf[0])
    return field_errorf(c, n, "password_file",
                        "at most one of basic_auth password & password_file must be configured");
  if (u && u[0] && uf && uf[0])
    return field_errorf(c, n, "username_file",
                        "at most one of basic_auth username & username_file must be configured");
  j->has_basic_auth = true;
  j->basic_username = cdup(jc->cfg, u ? u : "");
  j->basic_username_file = uf && uf[0] ? resolve(jc->cfg, uf) : NULL;
  j->basic_password = cdup(jc->cfg, p ? p : "");
  j->basic_password_file = pf && pf[0] ? resolve(jc->cfg, pf) : NULL;
  return 0;
}

static int decode_authorization(ycfg_t *c, const ynode_t *n, size_t idx, void *ud) {
  (void)idx;
  job_ctx_t *jc = ud;
  scrape_job_t *j = jc->job;
  static const char *const fields[] = {"type", "credentials", "credentials_file",
                                       "credentials_ref", NULL};
  static const unsupported_t uns[] = {{"credentials_ref", ""}, {NULL, NULL}};
  const char *type = NULL, *cr = NULL, *cf = NULL;
  int rc = ycfg_check_map(c, n, fields);
  if (rc == 0) rc = refuse_unsupported(c, n, uns);
  if (rc == 0) rc = ycfg_get_string(c, n, "type", &type);
  if (rc == 0) rc = ycfg_get_string(c, n, "credentials", &cr);
  if (rc == 0) rc = ycfg_get_string(c, n, "credentials_file", &cf);
  if (rc != 0) return rc;
  if (ynode_is_null(n)) return 0;
  if (cr && cr[0] && cf && cf[0])
    return field_errorf(c, n, "credentials_file",
                        "at most one of authorization credentials & credentials_file must be "
                        "configured");
  /* trim the type as Prometheus does */
  char tb[128] = "";
  if (type) {
    while (isspace((unsigned char)*type)) type++;
    snprintf(tb, sizeof tb, "%s", type);
    size_t l = strlen(tb);
    while (l > 0 && isspace((unsigned char)tb[l - 1])) tb[--l] = '\0';
  }
  if (tb[0] == '\0') snprintf(tb, sizeof tb, "Bearer");
  if (strcasecmp(tb, "basic") == 0)
    return field_errorf(c, n, "type",
                        "authorization type cannot be set to \"basic\", use \"basic_auth\" instead");
  j->has_authorization = true;
  j->auth_type = cdup(jc->cfg, tb);
  j->auth_credentials = cdup(jc->cfg, cr ? cr : "");
  j->auth_credentials_file = cf && cf[0] ? resolve(jc->cfg, cf) : NULL;
  return 0;
}

static bool valid_tls_version(const char *s) {
  return strcmp(s, "TLS10") == 0 || strcmp(s, "TLS11") == 0 || strcmp(s, "TLS12") == 0 ||
         strcmp(s, "TLS13") == 0;
}

static int decode_tls(ycfg_t *c, const ynode_t *n, size_t idx, void *ud) {
  (void)idx;
  job_ctx_t *jc = ud;
  scrape_job_t *j = jc->job;
  static const char *const fields[] = {"ca", "ca_file", "ca_ref", "cert", "cert_file",
                                       "cert_ref", "key", "key_file", "key_ref", "server_name",
                                       "insecure_skip_verify", "min_version", "max_version",
                                       NULL};
  static const unsupported_t uns[] = {
      {"ca_ref", ""}, {"cert_ref", ""}, {"key_ref", ""}, {NULL, NULL}};
  const char *ca = NULL, *caf = NULL, *cert = NULL, *certf = NULL, *key = NULL, *keyf = NULL;
  const char *sn = NULL, *minv = NULL, *maxv = NULL;
  bool insecure = false;
  int rc = ycfg_check_map(c, n, fields);
  if (rc == 0) rc = refuse_unsupported(c, n, uns);
  if (rc == 0) rc = ycfg_get_string(c, n, "ca", &ca);
  if (rc == 0) rc = ycfg_get_string(c, n, "ca_file", &caf);
  if (rc == 0) rc = ycfg_get_string(c, n, "cert", &cert);
  if (rc == 0) rc = ycfg_get_string(c, n, "cert_file", &certf);
  if (rc == 0) rc = ycfg_get_string(c, n, "key", &key);
  if (rc == 0) rc = ycfg_get_string(c, n, "key_file", &keyf);
  if (rc == 0) rc = ycfg_get_string(c, n, "server_name", &sn);
  if (rc == 0) rc = ycfg_get_bool(c, n, "insecure_skip_verify", &insecure);
  if (rc == 0) rc = ycfg_get_string(c, n, "min_version", &minv);
  if (rc == 0) rc = ycfg_get_string(c, n, "max_version", &maxv);
  if (rc != 0) return rc;
#define SET(x) ((x) != NULL && (x)[0] != '\0')
  if (SET(ca) && SET(caf))
    return field_errorf(c, n, "ca_file", "at most one of ca and ca_file must be configured");
  if (SET(cert) && SET(certf))
    return field_errorf(c, n, "cert_file", "at most one of cert and cert_file must be configured");
  if (SET(key) && SET(keyf))
    return field_errorf(c, n, "key_file", "at most one of key and key_file must be configured");
  if ((SET(cert) || SET(certf)) && !(SET(key) || SET(keyf)))
    return field_errorf(c, n, SET(cert) ? "cert" : "cert_file",
                        "exactly one of key or key_file must be configured when a client "
                        "certificate is configured");
  if ((SET(key) || SET(keyf)) && !(SET(cert) || SET(certf)))
    return field_errorf(c, n, SET(key) ? "key" : "key_file",
                        "exactly one of cert or cert_file must be configured when a client key "
                        "is configured");
  if (SET(minv) && !valid_tls_version(minv))
    return field_errorf(c, n, "min_version", "unknown TLS version: %s", minv);
  if (SET(maxv) && !valid_tls_version(maxv))
    return field_errorf(c, n, "max_version", "unknown TLS version: %s", maxv);
  j->tls_ca = SET(ca) ? cdup(jc->cfg, ca) : NULL;
  j->tls_ca_file = SET(caf) ? resolve(jc->cfg, caf) : NULL;
  j->tls_cert = SET(cert) ? cdup(jc->cfg, cert) : NULL;
  j->tls_cert_file = SET(certf) ? resolve(jc->cfg, certf) : NULL;
  j->tls_key = SET(key) ? cdup(jc->cfg, key) : NULL;
  j->tls_key_file = SET(keyf) ? resolve(jc->cfg, keyf) : NULL;
  j->tls_server_name = SET(sn) ? cdup(jc->cfg, sn) : NULL;
  j->tls_min_version = SET(minv) ? cdup(jc->cfg, minv) : NULL;
  j->tls_max_version = SET(maxv) ? cdup(jc->cfg, maxv) : NULL;
  j->tls_insecure_skip_verify = insecure;
#undef SET
  return 0;
}

static scrape_job_t *job_new(scrape_config_t *cfg) {
  scrape_job_t *j = arena_calloc(cfg->priv->arena, 1, sizeof *j);
  j->metrics_path = "/metrics";
  j->scheme = "http";
  j->honor_timestamps = true;
  j->follow_redirects = true;
  j->enable_compression = true;
  j->enable_http2 = true;
  j->sample_limit = cfg->sample_limit;
  j->label_limit = cfg->label_limit;
  j->label_name_length_limit = cfg->label_name_length_limit;
  j->label_value_length_limit = cfg->label_value_length_limit;
  j->target_limit = cfg->target_limit;
  j->keep_dropped_targets = cfg->keep_dropped_targets;
  j->body_size_limit = cfg->body_size_limit;
  j->scrape_protocols = cfg->scrape_protocols;
  j->nscrape_protocols = cfg->nscrape_protocols;
  return j;
}

static void job_finish(scrape_config_t *cfg, job_ctx_t *jc) {
  scrape_job_t *j = jc->job;
  if (j->nparams > 1) qsort(j->params, j->nparams, sizeof *j->params, cmp_param);
  j->accept_header = build_accept(cfg, j->scrape_protocols, j->nscrape_protocols);
  strbuf_printf(&jc->fp, "|%d%d%d|%llu|%llu|%llu|%llu", j->honor_labels, j->honor_timestamps,
                j->track_timestamps_staleness, (unsigned long long)j->sample_limit,
                (unsigned long long)j->label_limit, (unsigned long long)j->label_name_length_limit,
                (unsigned long long)j->label_value_length_limit);
  j->sample_fingerprint = XXH3_64bits(jc->fp.data ? jc->fp.data : "", jc->fp.len);
}

static void config_add_job(scrape_config_t *cfg, scrape_job_t *j) {
  size_t cap = cfg->njobs;
  ph_grow(&cfg->jobs, &cap, cfg->njobs + 1);
  cfg->jobs[cfg->njobs++] = j;
}

static int decode_job(ycfg_t *c, const ynode_t *n, size_t idx, void *ud) {
  (void)idx;
  scrape_config_t *cfg = ud;
  int rc = ycfg_check_map(c, n, job_fields);
  if (rc == 0) rc = refuse_unsupported(c, n, job_unsupported);
  if (rc != 0) return rc;
  job_ctx_t jc = {.cfg = cfg, .job = job_new(cfg)};
  scrape_job_t *j = jc.job;
  const char *name = NULL, *path = NULL, *scheme = NULL, *fallback = NULL;
  const char *bearer = NULL, *bearer_file = NULL;
  int64_t interval = 0, timeout = 0;
  rc = ycfg_get_string(c, n, "job_name", &name);
  if (rc == 0 && (name == NULL || name[0] == '\0'))
    rc = field_errorf(c, n, "job_name", "job_name is empty");
  if (rc == 0 && scrape_config_job(cfg, name) != NULL)
    rc = field_errorf(c, n, "job_name", "found multiple scrape configs with job name \"%s\"", name);
  if (rc == 0) j->job_name = cdup(cfg, name);
  if (rc == 0) rc = ycfg_get_bool(c, n, "honor_labels", &j->honor_labels);
  if (rc == 0) rc = ycfg_get_bool(c, n, "honor_timestamps", &j->honor_timestamps);
  if (rc == 0)
    rc = ycfg_get_bool(c, n, "track_timestamps_staleness", &j->track_timestamps_staleness);
  if (rc == 0) rc = ycfg_get_field(c, n, "params", decode_params, &jc);
  if (rc == 0) rc = ycfg_get_duration(c, n, "scrape_interval", &interval);
  if (rc == 0) rc = ycfg_get_duration(c, n, "scrape_timeout", &timeout);
  if (rc == 0) rc = get_protocols(c, n, cfg, &j->scrape_protocols, &j->nscrape_protocols);
  if (rc == 0) rc = ycfg_get_string(c, n, "scrape_fallback_protocol", &fallback);
  if (rc == 0 && fallback && fallback[0]) {
    int k = protocol_index(fallback);
    if (k < 0)
      rc = field_errorf(c, n, "scrape_fallback_protocol", "unknown scrape protocol %s", fallback);
    else if (k == 0)
      rc = field_errorf(c, n, "scrape_fallback_protocol",
                        "PrometheusProto is not supported by Pharos");
    else
      j->fallback_protocol = cdup(cfg, fallback);
  }
  if (rc == 0) rc = ycfg_get_string(c, n, "metrics_path", &path);
  if (rc == 0 && path && path[0]) j->metrics_path = cdup(cfg, path);
  if (rc == 0) rc = ycfg_get_string(c, n, "scheme", &scheme);
  if (rc == 0 && scheme && scheme[0]) {
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
      rc = field_errorf(c, n, "scheme", "invalid scheme \"%s\": expected http or https", scheme);
    else
      j->scheme = cdup(cfg, scheme);
  }
  if (rc == 0) rc = ycfg_get_bool(c, n, "enable_compression", &j->enable_compression);
  if (rc == 0) rc = get_bytes(c, n, "body_size_limit", &j->body_size_limit);
  if (rc == 0) rc = get_limit(c, n, "sample_limit", &j->sample_limit);
  if (rc == 0) rc = get_limit(c, n, "target_limit", &j->target_limit);
  if (rc == 0) rc = get_limit(c, n, "label_limit", &j->label_limit);
  if (rc == 0) rc = get_limit(c, n, "label_name_length_limit", &j->label_name_length_limit);
  if (rc == 0) rc = get_limit(c, n, "label_value_length_limit", &j->label_value_length_limit);
  if (rc == 0) rc = get_limit(c, n, "keep_dropped_targets", &j->keep_dropped_targets);
  if (rc == 0) rc = ycfg_get_each(c, n, "static_configs", decode_static, &jc);
  if (rc == 0) rc = ycfg_get_each(c, n, "file_sd_configs", decode_file_sd, &jc);
  if (rc == 0) rc = ycfg_get_each(c, n, "relabel_configs", decode_relabel, &jc);
  jc.metric = true;
  if (rc == 0) rc = ycfg_get_each(c, n, "metric_relabel_configs", decode_relabel, &jc);
  if (rc == 0) rc = ycfg_get_field(c, n, "basic_auth", decode_basic_auth, &jc);
  if (rc == 0) rc = ycfg_get_field(c, n, "authorization", decode_authorization, &jc);
  if (rc == 0) rc = ycfg_get_string(c, n, "bearer_token", &bearer);
  if (rc == 0) rc = ycfg_get_string(c, n, "bearer_token_file", &bearer_file);
  if (rc == 0) rc = ycfg_get_field(c, n, "tls_config", decode_tls, &jc);
  if (rc == 0) rc = ycfg_get_bool(c, n, "follow_redirects", &j->follow_redirects);
  if (rc == 0) rc = ycfg_get_bool(c, n, "enable_http2", &j->enable_http2);
  /* HTTP client validations (prometheus/common HTTPClientConfig.Validate) */
  bool has_bearer = (bearer && bearer[0]) || (bearer_file && bearer_file[0]);
  if (rc == 0 && bearer && bearer[0] && bearer_file && bearer_file[0])
    rc = field_errorf(c, n, "bearer_token_file",
                      "at most one of bearer_token & bearer_token_file must be configured");
  if (rc == 0 && j->has_basic_auth && has_bearer)
    rc = field_errorf(c, n, bearer && bearer[0] ? "bearer_token" : "bearer_token_file",
                      "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must "
                      "be configured");
  if (rc == 0 && j->has_authorization && has_bearer)
    rc = field_errorf(c, n, "authorization",
                      "authorization is not compatible with bearer_token & bearer_token_file");
  if (rc == 0 && j->has_authorization && j->has_basic_auth)
    rc = field_errorf(c, n, "authorization",
                      "at most one of basic_auth, oauth2 & authorization must be configured");
  if (rc == 0 && has_bearer) {
    j->has_authorization = true;
    j->auth_type = "Bearer";
    j->auth_credentials = cdup(cfg, bearer ? bearer : "");
    j->auth_credentials_file = bearer_file && bearer_file[0] ? resolve(cfg, bearer_file) : NULL;
  }
  /* intervals (config.go ScrapeConfig.Validate) */
  if (rc == 0) {
    if (interval == 0) interval = cfg->scrape_interval_ms;
    if (timeout > interval)
      rc = field_errorf(c, n, "scrape_timeout",
                        "scrape timeout greater than scrape interval for scrape config with job "
                        "name \"%s\"",
                        name);
    if (timeout == 0) timeout = cfg->scrape_timeout_ms > interval ? interval : cfg->scrape_timeout_ms;
    j->interval_ms = interval;
    j->timeout_ms = timeout;
  }
  if (rc == 0) job_finish(cfg, &jc);
  strbuf_free(&jc.fp);
  if (rc != 0) {
    job_free(j); /* the struct itself lives in the arena */
    return rc;
  }
  config_add_job(cfg, j);
  return 0;
}

int scrape_config_decode_jobs(ycfg_t *c, const ynode_t *seq, scrape_config_t *cfg) {
  return ycfg_each(c, seq, decode_job, cfg);
}

/* ---- scrape_config_files ---------------------------------------------------------- */

static int decode_one_file(const char *path, scrape_config_t *cfg, char *err, size_t errlen) {
  ydoc_t *doc;
  int rc = ydoc_load_file(path, &doc, err, errlen);
  if (rc != 0) return rc;
  ycfg_t *c = ycfg_new(doc, err, errlen);
  static const char *const fields[] = {"scrape_configs", NULL};
  const ynode_t *root = ydoc_root(doc);
  const char *saved = cfg->priv->base_dir;
  char *dir = ph_strdup(path);
  char *slash = strrchr(dir, '/');
  if (slash != NULL) {
    *slash = '\0';
    scrape_config_set_base_dir(cfg, dir[0] ? dir : "/");
  } else {
    scrape_config_set_base_dir(cfg, "");
  }
  free(dir);
  rc = ycfg_check_map(c, root, fields);
  if (rc == 0) {
    const ynode_t *seq = ynode_map_get(root, "scrape_configs");
    if (seq != NULL) {
      size_t mark = ycfg_push_field(c, "scrape_configs");
      rc = scrape_config_decode_jobs(c, seq, cfg);
      ycfg_pop(c, mark);
    }
  }
  cfg->priv->base_dir = saved;
  ycfg_free(c);
  ydoc_free(doc);
  return rc;
}

int scrape_config_decode_files(ycfg_t *c, const ynode_t *list, scrape_config_t *cfg,
                               char *err, size_t errlen) {
  const char **pats = NULL;
  size_t n = 0;
  int rc = ycfg_as_strings(c, list, &pats, &n);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    const char *pat = resolve(cfg, pats[i]);
    glob_t g;
    int gr = glob(pat, 0, NULL, &g);
    if (gr != 0) { /* no match, or an unreadable directory: nothing to load */
      globfree(&g);
      continue;
    }
    for (size_t k = 0; rc == 0 && k < g.gl_pathc; k++)
      rc = decode_one_file(g.gl_pathv[k], cfg, err, errlen);
    globfree(&g);
  }
  return rc;
}

/* ---- in-process jobs ----------------------------------------------------------------- */

int scrape_config_add_local_job(scrape_config_t *cfg, const char *job_name, int64_t interval_ms,
                                const char *address, scrape_local_fn fn, void *ud) {
  if (scrape_config_job(cfg, job_name) != NULL) return PH_EEXIST;
  scrape_job_t *j = job_new(cfg);
  j->job_name = cdup(cfg, job_name);
  j->interval_ms = interval_ms;
  j->timeout_ms = cfg->scrape_timeout_ms > interval_ms ? interval_ms : cfg->scrape_timeout_ms;
  j->local_fn = fn;
  j->local_ud = ud;
  j->static_groups = ph_calloc(1, sizeof *j->static_groups);
  j->nstatic_groups = 1;
  scrape_group_t *g = &j->static_groups[0];
  g->source = ph_strdup("0");
  g->labels = labels_empty();
  g->targets = ph_calloc(1, sizeof *g->targets);
  label_t a = {"__address__", address};
  g->targets[0] = labels_new(NULL, &a, 1, NULL, 0);
  g->ntargets = 1;
  j->accept_header = build_accept(cfg, j->scrape_protocols, j->nscrape_protocols);
  j->sample_fingerprint = 1;
  config_add_job(cfg, j);
  return 0;
}
