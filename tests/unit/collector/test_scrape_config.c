/*
 * test_scrape_config.c - unit tests for collector/scrape_config: real-world
 * prometheus.yml files decode with Prometheus's defaults; every error kind
 * reports file:line:column and the field; refused (unsupported) fields are
 * named as such; scrape_config_files and file_sd target files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "expfmt.h"
#include "ph_error.h"
#include "scrape_config.h"
#include "ycfg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- a top level as the server decodes it ------------------------------- */

static int decode_global(ycfg_t *c, const ynode_t *n, size_t idx, void *ud) {
  (void)idx;
  static const char *const fields[] = {"evaluation_interval", SCRAPE_CONFIG_GLOBAL_FIELDS, NULL};
  int rc = ycfg_check_map(c, n, fields);
  if (rc == 0) rc = scrape_config_decode_global(c, n, ud);
  return rc;
}

static int load(const char *yaml, const char *dir, scrape_config_t **out, char *err,
                size_t errlen) {
  ydoc_t *doc;
  int rc = ydoc_load_string("prometheus.yml", yaml, strlen(yaml), &doc, err, errlen);
  if (rc != 0) return rc;
  ycfg_t *c = ycfg_new(doc, err, errlen);
  scrape_config_t *cfg = scrape_config_new();
  scrape_config_set_base_dir(cfg, dir);
  static const char *const top[] = {"global", "scrape_configs", "scrape_config_files",
                                    "rule_files", NULL};
  const ynode_t *root = ydoc_root(doc);
  rc = ycfg_check_map(c, root, top);
  if (rc == 0) rc = ycfg_get_field(c, root, "global", decode_global, cfg);
  const ynode_t *jobs = ynode_map_get(root, "scrape_configs");
  if (rc == 0 && jobs) {
    size_t m = ycfg_push_field(c, "scrape_configs");
    rc = scrape_config_decode_jobs(c, jobs, cfg);
    ycfg_pop(c, m);
  }
  const ynode_t *files = ynode_map_get(root, "scrape_config_files");
  if (rc == 0 && files) {
    size_t m = ycfg_push_field(c, "scrape_config_files");
    rc = scrape_config_decode_files(c, files, cfg, err, errlen);
    ycfg_pop(c, m);
  }
  ycfg_free(c);
  ydoc_free(doc);
  if (rc != 0) {
    scrape_config_unref(cfg);
    return rc;
  }
  *out = cfg;
  return 0;
}

static scrape_config_t *load_ok(const char *yaml) {
  scrape_config_t *cfg = NULL;
  char err[1024];
  if (load(yaml, "", &cfg, err, sizeof err) != 0) fail_msg("load: %s", err);
  return cfg;
}

/* Loading fails and the message contains every fragment given. */
static void load_fails(const char *yaml, ...) {
  scrape_config_t *cfg = NULL;
  char err[1024] = "";
  int rc = load(yaml, "", &cfg, err, sizeof err);
  if (rc == 0) fail_msg("loaded, expected an error");
  assert_int_equal(rc, PH_EPARSE);
  va_list ap;
  va_start(ap, yaml);
  for (const char *want = va_arg(ap, const char *); want; want = va_arg(ap, const char *))
    if (strstr(err, want) == NULL) fail_msg("error \"%s\" lacks \"%s\"", err, want);
  va_end(ap);
}

/* ---- valid files -------------------------------------------------------- */

static void test_defaults(void **st) {
  (void)st;
  scrape_config_t *cfg = load_ok("");
  assert_int_equal(cfg->scrape_interval_ms, 60000);
  assert_int_equal(cfg->scrape_timeout_ms, 10000);
  assert_int_equal(cfg->njobs, 0);
  scrape_config_unref(cfg);

  cfg = load_ok("scrape_configs:\n  - job_name: a\n");
  const scrape_job_t *j = scrape_config_job(cfg, "a");
  assert_non_null(j);
  assert_int_equal(j->interval_ms, 60000);
  assert_int_equal(j->timeout_ms, 10000);
  assert_string_equal(j->metrics_path, "/metrics");
  assert_string_equal(j->scheme, "http");
  assert_false(j->honor_labels);
  assert_true(j->honor_timestamps);
  assert_true(j->follow_redirects);
  assert_true(j->enable_compression);
  assert_int_equal(j->sample_limit, 0);
  assert_int_equal(j->body_size_limit, 0);
  /* the default Accept header is Prometheus 3's */
  assert_string_equal(j->accept_header, EXPFMT_ACCEPT_HEADER);
  assert_null(scrape_config_job(cfg, "b"));
  scrape_config_unref(cfg);
}

static void test_interval_timeout_defaults(void **st) {
  (void)st;
  /* a short global interval caps the default timeout */
  scrape_config_t *cfg = load_ok("global:\n  scrape_interval: 5s\nscrape_configs:\n"
                                 "  - job_name: a\n");
  assert_int_equal(cfg->scrape_interval_ms, 5000);
  assert_int_equal(cfg->scrape_timeout_ms, 5000);
  assert_int_equal(cfg->jobs[0]->timeout_ms, 5000);
  scrape_config_unref(cfg);
  /* a job interval shorter than the global timeout caps it too */
  cfg = load_ok("global:\n  scrape_interval: 30s\n  scrape_timeout: 20s\nscrape_configs:\n"
                "  - job_name: a\n    scrape_interval: 10s\n"
                "  - job_name: b\n"
                "  - job_name: c\n    scrape_interval: 1m\n    scrape_timeout: 45s\n");
  assert_int_equal(cfg->jobs[0]->interval_ms, 10000);
  assert_int_equal(cfg->jobs[0]->timeout_ms, 10000);
  assert_int_equal(cfg->jobs[1]->interval_ms, 30000);
  assert_int_equal(cfg->jobs[1]->timeout_ms, 20000);
  assert_int_equal(cfg->jobs[2]->timeout_ms, 45000);
  scrape_config_unref(cfg);
}

static const char real_world[] =
    "# my homelab\n"
    "global:\n"
    "  scrape_interval: 15s\n"
    "  evaluation_interval: 15s\n"
    "  external_labels:\n"
    "    site: home\n"
    "  sample_limit: 50000\n"
    "  body_size_limit: 10MB\n"
    "scrape_configs:\n"
    "  - job_name: prometheus\n"
    "    static_configs:\n"
    "      - targets: ['localhost:9090']\n"
    "  - job_name: node\n"
    "    scrape_interval: 30s\n"
    "    static_configs:\n"
    "      - targets: ['pi1:9100', 'pi2:9100']\n"
    "        labels:\n"
    "          rack: shelf\n"
    "      - targets: ['nas:9100']\n"
    "    file_sd_configs:\n"
    "      - files: ['targets/*.json', 'more.yml']\n"
    "        refresh_interval: 1m\n"
    "    relabel_configs:\n"
    "      - source_labels: [__address__]\n"
    "        regex: '(.*):9100'\n"
    "        target_label: instance\n"
    "        replacement: '$1'\n"
    "    metric_relabel_configs:\n"
    "      - source_labels: [__name__]\n"
    "        regex: 'go_.*'\n"
    "        action: drop\n"
    "  - job_name: blackbox\n"
    "    metrics_path: /probe\n"
    "    params:\n"
    "      module: [http_2xx]\n"
    "    static_configs:\n"
    "      - targets: ['https://example.org']\n"
    "    relabel_configs:\n"
    "      - source_labels: [__address__]\n"
    "        target_label: __param_target\n"
    "      - target_label: __address__\n"
    "        replacement: 127.0.0.1:9115\n"
    "  - job_name: secure\n"
    "    scheme: https\n"
    "    honor_labels: true\n"
    "    honor_timestamps: false\n"
    "    sample_limit: 1000\n"
    "    label_limit: 30\n"
    "    label_name_length_limit: 100\n"
    "    label_value_length_limit: 200\n"
    "    body_size_limit: 1GB512MB\n"
    "    basic_auth:\n"
    "      username: admin\n"
    "      password_file: secrets/pw\n"
    "    tls_config:\n"
    "      ca_file: /etc/ssl/ca.pem\n"
    "      cert_file: client.pem\n"
    "      key_file: client.key\n"
    "      server_name: node.internal\n"
    "      insecure_skip_verify: false\n"
    "      min_version: TLS12\n"
    "    follow_redirects: false\n"
    "    enable_compression: false\n"
    "    enable_http2: false\n"
    "    scrape_protocols: [PrometheusText0.0.4, OpenMetricsText1.0.0]\n"
    "    static_configs:\n"
    "      - targets: ['s1:443']\n"
    "  - job_name: token\n"
    "    authorization:\n"
    "      credentials_file: /run/token\n"
    "    proxy_url: ''\n"
    "    kubernetes_sd_configs: []\n"
    "    native_histogram_bucket_limit: 0\n"
    "  - job_name: legacy-bearer\n"
    "    bearer_token: abc\n";

static void test_real_world(void **st) {
  (void)st;
  scrape_config_t *cfg = NULL;
  char err[1024];
  if (load(real_world, "/etc/pharos", &cfg, err, sizeof err) != 0) fail_msg("%s", err);
  assert_int_equal(cfg->njobs, 6);
  assert_int_equal(cfg->scrape_interval_ms, 15000);
  assert_string_equal(labels_get(cfg->external_labels, "site"), "home");
  const scrape_job_t *j = scrape_config_job(cfg, "prometheus");
  assert_int_equal(j->interval_ms, 15000);
  assert_int_equal(j->sample_limit, 50000);          /* from global */
  assert_int_equal(j->body_size_limit, 10u << 20);   /* from global */
  assert_int_equal(j->nstatic_groups, 1);
  assert_string_equal(labels_get(j->static_groups[0].targets[0], "__address__"), "localhost:9090");

  j = scrape_config_job(cfg, "node");
  assert_int_equal(j->interval_ms, 30000);
  assert_int_equal(j->timeout_ms, 10000);
  assert_int_equal(j->nstatic_groups, 2);
  assert_int_equal(j->static_groups[0].ntargets, 2);
  assert_string_equal(labels_get(j->static_groups[0].labels, "rack"), "shelf");
  assert_int_equal(j->nfile_sd, 1);
  assert_int_equal(j->file_sd[0].nfiles, 2);
  assert_string_equal(j->file_sd[0].files[0], "/etc/pharos/targets/*.json");
  assert_string_equal(j->file_sd[0].files[1], "/etc/pharos/more.yml");
  assert_int_equal(j->file_sd[0].refresh_ms, 60000);
  assert_int_equal(j->nrelabel, 1);
  assert_int_equal(j->nmetric_relabel, 1);
  assert_int_equal(relabel_rule_action(j->metric_relabel[0]), RELABEL_DROP);

  j = scrape_config_job(cfg, "blackbox");
  assert_string_equal(j->metrics_path, "/probe");
  assert_int_equal(j->nparams, 1);
  assert_string_equal(j->params[0].name, "module");
  assert_int_equal(j->params[0].nvalues, 1);
  assert_string_equal(j->params[0].values[0], "http_2xx");
  assert_int_equal(j->nrelabel, 2);

  j = scrape_config_job(cfg, "secure");
  assert_string_equal(j->scheme, "https");
  assert_true(j->honor_labels);
  assert_false(j->honor_timestamps);
  assert_int_equal(j->sample_limit, 1000);
  assert_int_equal(j->label_limit, 30);
  assert_int_equal(j->label_name_length_limit, 100);
  assert_int_equal(j->label_value_length_limit, 200);
  assert_int_equal(j->body_size_limit, (1u << 30) + (512u << 20));
  assert_true(j->has_basic_auth);
  assert_string_equal(j->basic_username, "admin");
  assert_string_equal(j->basic_password_file, "/etc/pharos/secrets/pw");
  assert_string_equal(j->tls_ca_file, "/etc/ssl/ca.pem");
  assert_string_equal(j->tls_cert_file, "/etc/pharos/client.pem");
  assert_string_equal(j->tls_key_file, "/etc/pharos/client.key");
  assert_string_equal(j->tls_server_name, "node.internal");
  assert_string_equal(j->tls_min_version, "TLS12");
  assert_false(j->follow_redirects);
  assert_false(j->enable_compression);
  assert_false(j->enable_http2);
  assert_string_equal(j->accept_header,
                      "text/plain;version=0.0.4;q=0.6,"
                      "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,"
                      "*/*;q=0.4");

  j = scrape_config_job(cfg, "token");
  assert_true(j->has_authorization);
  assert_string_equal(j->auth_type, "Bearer");
  assert_string_equal(j->auth_credentials_file, "/run/token");

  j = scrape_config_job(cfg, "legacy-bearer");
  assert_true(j->has_authorization);
  assert_string_equal(j->auth_credentials, "abc");
  scrape_config_unref(cfg);
}

static void test_fingerprint(void **st) {
  (void)st;
  scrape_config_t *a = load_ok("scrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n");
  scrape_config_t *b = load_ok("scrape_configs:\n  - job_name: a\n    scrape_interval: 9s\n");
  scrape_config_t *c = load_ok("scrape_configs:\n  - job_name: a\n    honor_labels: true\n");
  scrape_config_t *d = load_ok("scrape_configs:\n  - job_name: a\n    metric_relabel_configs:\n"
                               "      - action: labeldrop\n        regex: x\n");
  /* the interval does not change how samples are stored; the rest does */
  assert_true(a->jobs[0]->sample_fingerprint == b->jobs[0]->sample_fingerprint);
  assert_true(a->jobs[0]->sample_fingerprint != c->jobs[0]->sample_fingerprint);
  assert_true(a->jobs[0]->sample_fingerprint != d->jobs[0]->sample_fingerprint);
  scrape_config_unref(a);
  scrape_config_unref(b);
  scrape_config_unref(c);
  scrape_config_unref(d);
}

/* ---- errors -------------------------------------------------------------- */

static void test_errors_fields(void **st) {
  (void)st;
  load_fails("scrape_configs:\n  - job_name: a\n    scrape_intervl: 5s\n",
             "prometheus.yml:3:5:", "field \"scrape_intervl\" not found in scrape_configs[0]",
             "did you mean \"scrape_interval\"", NULL);
  load_fails("global:\n  scrape_timeout: 10s\n  scrap_interval: 1m\n", "prometheus.yml:3:3:",
             "scrap_interval", NULL);
  load_fails("scrape_configs:\n  - scrape_interval: 5s\n", "prometheus.yml:2:5:",
             "job_name is empty", NULL);
  load_fails("scrape_configs:\n  - job_name: a\n  - job_name: a\n", "prometheus.yml:3:15:",
             "scrape_configs[1].job_name", "found multiple scrape configs with job name \"a\"",
             NULL);
  load_fails("scrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n    scrape_timeout: 6s\n",
             "prometheus.yml:4:21:", "scrape_configs[0].scrape_timeout",
             "scrape timeout greater than scrape interval for scrape config with job name \"a\"",
             NULL);
  load_fails("global:\n  scrape_interval: 5s\n  scrape_timeout: 6s\n", "prometheus.yml:3:19:",
             "global scrape timeout greater than scrape interval", NULL);
  load_fails("scrape_configs:\n  - job_name: a\n    scrape_interval: 5x\n",
             "prometheus.yml:3:22:", "scrape_configs[0].scrape_interval", NULL);
  load_fails("scrape_configs:\n  - job_name: a\n    honor_labels: maybe\n",
             "prometheus.yml:3:19:", "honor_labels", NULL);
  load_fails("scrape_configs:\n  - job_name: a\n    scheme: ftp\n", "prometheus.yml:3:13:",
             "invalid scheme \"ftp\"", NULL);
  load_fails("scrape_configs:\n  - job_name: a\n    body_size_limit: 10 parsecs\n",
             "prometheus.yml:3:22:", "body_size_limit", "expected a size", NULL);
  load_fails("scrape_configs:\n  - job_name: a\n    sample_limit: -1\n", "prometheus.yml:3:19:",
             "sample_limit", NULL);
  load_fails("global:\n  external_labels:\n    bad-name: x\n", "prometheus.yml:3:5:",
             "\"bad-name\" is not a valid label name", NULL);
}

static void test_errors_unsupported(void **st) {
  (void)st;
  load_fails("scrape_configs:\n  - job_name: k8s\n    kubernetes_sd_configs:\n"
             "      - role: pod\n",
             "prometheus.yml:3:5:", "scrape_configs[0].kubernetes_sd_configs",
             "kubernetes_sd_configs is not supported by Pharos", NULL);
  load_fails("scrape_configs:\n  - job_name: a\n    consul_sd_configs: [{server: x}]\n",
             "prometheus.yml:3:5:", "consul_sd_configs is not supported by Pharos", NULL);
  load_fails("scrape_configs:\n  - job_name: a\n    oauth2:\n      client_id: x\n",
             "prometheus.yml:3:5:", "oauth2 is not supported by Pharos", NULL);
  load_fails("scrape_configs:\n  - job_name: a\n    proxy_url: http://proxy:3128\n",
             "prometheus.yml:3:5:", "proxy_url is not supported by Pharos", NULL);
  load_fails("scrape_configs:\n  - job_name: a\n    native_histogram_bucket_limit: 10\n",
             "prometheus.yml:3:5:", "native_histogram_bucket_limit is not supported", NULL);
  load_fails("global:\n  scrape_native_histograms: true\n", "prometheus.yml:2:3:",
             "scrape_native_histograms is not supported by Pharos", NULL);
  load_fails("scrape_configs:\n  - job_name: a\n    basic_auth:\n      password_ref: vault\n",
             "prometheus.yml:4:7:", "password_ref is not supported by Pharos", NULL);
  load_fails("scrape_configs:\n  - job_name: a\n    scrape_protocols: [PrometheusProto]\n",
             "prometheus.yml:3:23:", "PrometheusProto is not supported by Pharos", NULL);
}

static void test_errors_relabel(void **st) {
  (void)st;
  load_fails("scrape_configs:\n  - job_name: a\n    relabel_configs:\n"
             "      - action: hashmod\n        target_label: x\n",
             "prometheus.yml:4:9:", "scrape_configs[0].relabel_configs[0]",
             "hashmod requires non-zero modulus", NULL);
  load_fails("scrape_configs:\n  - job_name: a\n    relabel_configs:\n"
             "      - source_labels: [a]\n        target_label: 1x\n",
             "prometheus.yml:5:23:", "relabel_configs[0].target_label",
             "\"1x\" is invalid 'target_label' for replace action", NULL);
  load_fails("scrape_configs:\n  - job_name: a\n    metric_relabel_configs:\n"
             "      - action: explode\n",
             "prometheus.yml:4:17:", "metric_relabel_configs[0].action",
             "unknown relabel action \"explode\"", NULL);
  load_fails("scrape_configs:\n  - job_name: a\n    relabel_configs:\n"
             "      - source_labels: [a]\n        target_label: b\n        regex: '(x'\n",
             "prometheus.yml:6:16:", "relabel_configs[0].regex", "error parsing regexp", NULL);
  load_fails("scrape_configs:\n  - job_name: a\n    relabel_configs:\n"
             "      - action: labeldrop\n        source_labels: [a]\n",
             "prometheus.yml:4:9:", "labeldrop action requires only 'regex'", NULL);
  load_fails("scrape_configs:\n  - job_name: a\n    relabel_configs:\n"
             "      - action: keep\n        sourcelabels: [a]\n",
             "prometheus.yml:5:9:", "field \"sourcelabels\" not found", NULL);
  load_fails("scrape_configs:\n  - job_name: a\n    relabel_configs:\n"
             "      - source_labels: [a-b]\n        target_label: x\n",
             "prometheus.yml:4:24:", "\"a-b\" is not a valid label name", NULL);
}

static void test_errors_sd_and_http(void **st) {
  (void)st;
  load_fails("scrape_configs:\n  - job_name: a\n    static_configs:\n"
             "      - targets: [x]\n        labels: {bad-name: y}\n",
             "prometheus.yml:5:18:", "\"bad-name\" is not a valid label name", NULL);
  load_fails("scrape_configs:\n  - job_name: a\n    static_configs:\n      - target: [x]\n",
             "prometheus.yml:4:9:", "field \"target\" not found", NULL);
  load_fails("scrape_configs:\n  - job_name: a\n    file_sd_configs:\n      - files: [x.txt]\n",
             "prometheus.yml:4:17:", "path name \"x.txt\" is not valid for file discovery", NULL);
  load_fails("scrape_configs:\n  - job_name: a\n    file_sd_configs:\n      - files: []\n",
             "prometheus.yml:4:9:", "must contain at least one path name", NULL);
  load_fails("scrape_configs:\n  - job_name: a\n    basic_auth:\n      username: u\n"
             "      password: p\n      password_file: f\n",
             "prometheus.yml:6:22:", "at most one of basic_auth password & password_file", NULL);
  load_fails("scrape_configs:\n  - job_name: a\n    authorization:\n      type: Basic\n",
             "prometheus.yml:4:13:", "authorization type cannot be set to \"basic\"", NULL);
  load_fails("scrape_configs:\n  - job_name: a\n    basic_auth: {username: u}\n"
             "    bearer_token: t\n",
             "prometheus.yml:4:19:", "at most one of basic_auth, oauth2, bearer_token", NULL);
  load_fails("scrape_configs:\n  - job_name: a\n    basic_auth: {username: u}\n"
             "    authorization: {credentials: t}\n",
             "prometheus.yml:4:20:", "at most one of basic_auth, oauth2 & authorization", NULL);
  load_fails("scrape_configs:\n  - job_name: a\n    tls_config:\n      ca: x\n      ca_file: y\n",
             "prometheus.yml:5:16:", "at most one of ca and ca_file", NULL);
  load_fails("scrape_configs:\n  - job_name: a\n    tls_config:\n      cert_file: c\n",
             "prometheus.yml:4:18:", "exactly one of key or key_file", NULL);
  load_fails("scrape_configs:\n  - job_name: a\n    tls_config:\n      min_version: SSL3\n",
             "prometheus.yml:4:20:", "unknown TLS version: SSL3", NULL);
  load_fails("scrape_configs:\n  - job_name: a\n    scrape_protocols: [Text]\n",
             "prometheus.yml:3:24:", "unknown scrape protocol Text", NULL);
  load_fails("scrape_configs:\n  - job_name: a\n    scrape_protocols: "
             "[PrometheusText0.0.4, PrometheusText0.0.4]\n",
             "prometheus.yml:3:45:", "duplicated protocol in scrape_protocols", NULL);
}

/* ---- scrape_config_files and in-process jobs ---------------------------------- */

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void test_scrape_config_files(void **st) {
  (void)st;
  char dir[] = "/tmp/pharos-scfg.XXXXXX";
  assert_non_null(mkdtemp(dir));
  char p1[256], p2[256], yaml[512];
  snprintf(p1, sizeof p1, "%s/a.yml", dir);
  snprintf(p2, sizeof p2, "%s/b.yml", dir);
  write_file(p1, "scrape_configs:\n  - job_name: from-a\n    basic_auth:\n"
                 "      username: u\n      password_file: pw\n");
  write_file(p2, "scrape_configs:\n  - job_name: from-b\n    scrape_interval: 5s\n");
  snprintf(yaml, sizeof yaml,
           "global:\n  scrape_interval: 20s\nscrape_config_files: ['%s/*.yml', 'none/*.yml']\n"
           "scrape_configs:\n  - job_name: main\n",
           dir);
  scrape_config_t *cfg = load_ok(yaml);
  assert_int_equal(cfg->njobs, 3);
  assert_string_equal(cfg->jobs[0]->job_name, "main");
  assert_string_equal(cfg->jobs[1]->job_name, "from-a");
  assert_int_equal(cfg->jobs[1]->interval_ms, 20000); /* global applies */
  char want[300];
  snprintf(want, sizeof want, "%s/pw", dir); /* relative to the file's dir */
  assert_string_equal(cfg->jobs[1]->basic_password_file, want);
  assert_int_equal(cfg->jobs[2]->interval_ms, 5000);
  scrape_config_unref(cfg);

  /* a job name taken twice across files; errors name the file */
  write_file(p2, "scrape_configs:\n  - job_name: main\n");
  char err[1024];
  assert_int_equal(load(yaml, "", &cfg, err, sizeof err), PH_EPARSE);
  assert_non_null(strstr(err, "b.yml:2:15:"));
  assert_non_null(strstr(err, "found multiple scrape configs with job name \"main\""));
  write_file(p2, "scrape_configs:\n  - job_name: x\n    bogus: 1\n");
  assert_int_equal(load(yaml, "", &cfg, err, sizeof err), PH_EPARSE);
  assert_non_null(strstr(err, "b.yml:3:5:"));
  /* such a file holds scrape_configs only */
  write_file(p2, "scrape_configs: []\nglobal: {}\n");
  assert_int_equal(load(yaml, "", &cfg, err, sizeof err), PH_EPARSE);
  assert_non_null(strstr(err, "b.yml:2:1: field \"global\" not found"));
  unlink(p1);
  unlink(p2);
  rmdir(dir);
}

static int fake_collect(void *ud, strbuf_t *out) {
  (void)ud;
  strbuf_puts(out, "x 1\n");
  return 0;
}

static void test_local_job(void **st) {
  (void)st;
  scrape_config_t *cfg = load_ok("scrape_configs:\n  - job_name: node\n");
  assert_int_equal(scrape_config_add_local_job(cfg, "node", 15000, "h:1", fake_collect, NULL),
                   PH_EEXIST);
  assert_int_equal(scrape_config_add_local_job(cfg, "host", 15000, "h:1", fake_collect, NULL), 0);
  const scrape_job_t *j = scrape_config_job(cfg, "host");
  assert_non_null(j);
  assert_true(j->local_fn == fake_collect);
  assert_int_equal(j->interval_ms, 15000);
  assert_int_equal(j->timeout_ms, 10000);
  assert_string_equal(labels_get(j->static_groups[0].targets[0], "__address__"), "h:1");
  /* reference counting */
  scrape_config_ref(cfg);
  scrape_config_unref(cfg);
  assert_non_null(scrape_config_job(cfg, "host"));
  scrape_config_unref(cfg);
}

/* ---- file_sd files -------------------------------------------------------------- */

static void test_file_sd_parse(void **st) {
  (void)st;
  const char *json = "[{\"targets\": [\"a:1\", \"b:2\"], \"labels\": {\"env\": \"prod\"}},"
                     " {\"targets\": [\"c:3\"], \"extra\": 1}]";
  scrape_group_t *g;
  size_t n;
  char err[512];
  assert_int_equal(scrape_file_sd_parse("/x/t.json", json, strlen(json), &g, &n, err, sizeof err),
                   0);
  assert_int_equal(n, 2);
  assert_int_equal(g[0].ntargets, 2);
  assert_string_equal(labels_get(g[0].targets[1], "__address__"), "b:2");
  assert_string_equal(labels_get(g[0].labels, "env"), "prod");
  assert_string_equal(labels_get(g[0].labels, "__meta_filepath"), "/x/t.json");
  assert_string_equal(labels_get(g[1].labels, "__meta_filepath"), "/x/t.json");
  assert_string_equal(g[1].source, "/x/t.json:1");
  for (size_t i = 0; i < n; i++) scrape_group_free(&g[i]);
  free(g);

  const char *yaml = "- targets: [a:1]\n  labels:\n    team: x\n- targets: []\n";
  assert_int_equal(scrape_file_sd_parse("t.yml", yaml, strlen(yaml), &g, &n, err, sizeof err), 0);
  assert_int_equal(n, 2);
  assert_string_equal(labels_get(g[0].labels, "team"), "x");
  assert_int_equal(g[1].ntargets, 0);
  for (size_t i = 0; i < n; i++) scrape_group_free(&g[i]);
  free(g);

  /* empty files hold no groups */
  assert_int_equal(scrape_file_sd_parse("e.yml", "", 0, &g, &n, err, sizeof err), 0);
  assert_int_equal(n, 0);
  assert_int_equal(scrape_file_sd_parse("e.json", "[]", 2, &g, &n, err, sizeof err), 0);
  assert_int_equal(n, 0);
  free(g);

  /* errors */
  const char *bad[][3] = {
      {"b.json", "[{\"targets\": [\"a\"]", "b.json:"},
      {"b.json", "{\"targets\": []}", "expected a list of target groups"},
      {"b.json", "[{\"targets\": [1]}]", "targets must be strings"},
      {"b.json", "[{\"labels\": {\"bad-name\": \"x\"}}]", "\"bad-name\" is not a valid label name"},
      {"b.yml", "- targets: [a]\n  lables: {}\n", "b.yml:2:3: field \"lables\" not found"},
      {"b.yml", "targets: [a]\n", "b.yml:1:1:"},
      {"b.yml", "- labels: {9x: y}\n", "\"9x\" is not a valid label name"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = '\0';
    int rc = scrape_file_sd_parse(bad[i][0], bad[i][1], strlen(bad[i][1]), &g, &n, err, sizeof err);
    if (rc == 0) fail_msg("case %zu parsed", i);
    if (strstr(err, bad[i][2]) == NULL) fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, bad[i][2]);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_interval_timeout_defaults),
      cmocka_unit_test(test_real_world),
      cmocka_unit_test(test_fingerprint),
      cmocka_unit_test(test_errors_fields),
      cmocka_unit_test(test_errors_unsupported),
      cmocka_unit_test(test_errors_relabel),
      cmocka_unit_test(test_errors_sd_and_http),
      cmocka_unit_test(test_scrape_config_files),
      cmocka_unit_test(test_local_job),
      cmocka_unit_test(test_file_sd_parse),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
