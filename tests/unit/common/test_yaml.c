/*
 * test_yaml.c - unit tests for common/yaml.c: loading documents (tree
 * shape, positions, scalar typing, aliases, empty and multi-document
 * streams, limits), libyaml syntax errors with their exact file:line:col,
 * and the ycfg decoding helpers (allowed keys, duplicates, typed getters,
 * paths in messages) as the config loader uses them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "ph_error.h"
#include "strbuf.h"
#include "ycfg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NAME "prometheus.yml"

/* ---- Helpers ---------------------------------------------------------- */

static ydoc_t *load(const char *text) {
  ydoc_t *doc = NULL;
  char err[512] = "";
  int rc = ydoc_load_string(NAME, text, strlen(text), &doc, err, sizeof(err));
  if (rc != 0) fail_msg("load failed (%d): %s", rc, err);
  assert_non_null(doc);
  return doc;
}

/* Loading must fail with code and exactly message. */
static void load_fails(const char *text, size_t len, int code, const char *message) {
  ydoc_t *doc = (ydoc_t *)0x1;
  char err[512] = "";
  int rc = ydoc_load_string(NAME, text, len, &doc, err, sizeof(err));
  assert_null(doc);
  assert_int_equal(rc, code);
  assert_string_equal(err, message);
}

/* A document plus a decoding context over it. */
typedef struct fixture {
  ydoc_t *doc;
  ycfg_t *c;
  char err[512];
} fixture_t;

static void fx_open(fixture_t *f, const char *text) {
  memset(f, 0, sizeof(*f));
  f->doc = load(text);
  f->c = ycfg_new(f->doc, f->err, sizeof(f->err));
}

static void fx_close(fixture_t *f) {
  ycfg_free(f->c);
  ydoc_free(f->doc);
}

static const ynode_t *root(fixture_t *f) { return ydoc_root(f->doc); }

static const ynode_t *get(const ynode_t *map, const char *key) {
  const ynode_t *n = ynode_map_get(map, key);
  if (n == NULL) fail_msg("no key %s", key);
  return n;
}

/* ---- Loading: shape and positions ------------------------------------ */

static const char k_config[] =
    "# A small prometheus.yml\n"
    "global:\n"
    "  scrape_interval: 15s\n"
    "  external_labels:\n"
    "    site: home\n"
    "    rack: \"r1\"\n"
    "rule_files:\n"
    "  - rules/*.yml\n"
    "  - 'extra.yml'\n"
    "scrape_configs:\n"
    "  - job_name: node\n"
    "    honor_labels: true\n"
    "    sample_limit: 5000\n"
    "    static_configs:\n"
    "      - targets: [\"pi1:9100\", \"pi2:9100\"]\n"
    "        labels: {env: prod}\n"
    "  - job_name: self\n"
    "    scrape_interval: 1m30s\n"
    "    metrics_path: /metrics\n";

static void test_tree_shape(void **state) {
  (void)state;
  ydoc_t *doc = load(k_config);
  assert_string_equal(ydoc_name(doc), NAME);
  assert_false(ydoc_has_more_documents(doc));
  const ynode_t *r = ydoc_root(doc);
  assert_int_equal(ynode_kind(r), YNODE_MAPPING);
  assert_int_equal(ynode_map_len(r), 3);
  /* Order is kept. */
  assert_string_equal(ynode_str(ynode_map_key(r, 0)), "global");
  assert_string_equal(ynode_str(ynode_map_key(r, 1)), "rule_files");
  assert_string_equal(ynode_str(ynode_map_key(r, 2)), "scrape_configs");
  assert_null(ynode_map_key(r, 3));
  assert_null(ynode_map_value(r, 3));

  const ynode_t *g = get(r, "global");
  assert_int_equal(ynode_kind(g), YNODE_MAPPING);
  const ynode_t *si = get(g, "scrape_interval");
  assert_int_equal(ynode_kind(si), YNODE_SCALAR);
  assert_string_equal(ynode_str(si), "15s");
  assert_int_equal(ynode_len(si), 3);
  assert_int_equal(ynode_line(si), 3);
  assert_int_equal(ynode_column(si), 20);
  assert_int_equal(ynode_style(si), YNODE_PLAIN);
  assert_null(ynode_tag(si));

  const ynode_t *el = get(g, "external_labels");
  assert_int_equal(ynode_line(el), 5);
  assert_int_equal(ynode_column(el), 5);
  assert_int_equal(ynode_style(get(el, "rack")), YNODE_DOUBLE_QUOTED);

  const ynode_t *rf = get(r, "rule_files");
  assert_int_equal(ynode_kind(rf), YNODE_SEQUENCE);
  assert_int_equal(ynode_seq_len(rf), 2);
  assert_string_equal(ynode_str(ynode_seq_at(rf, 0)), "rules/*.yml");
  assert_int_equal(ynode_style(ynode_seq_at(rf, 1)), YNODE_SINGLE_QUOTED);
  assert_int_equal(ynode_line(ynode_seq_at(rf, 1)), 9);
  assert_int_equal(ynode_column(ynode_seq_at(rf, 1)), 5);
  assert_null(ynode_seq_at(rf, 2));

  const ynode_t *sc = get(r, "scrape_configs");
  assert_int_equal(ynode_seq_len(sc), 2);
  const ynode_t *job0 = ynode_seq_at(sc, 0);
  assert_int_equal(ynode_line(job0), 11);
  assert_int_equal(ynode_column(job0), 5);
  const ynode_t *targets =
      get(ynode_seq_at(get(job0, "static_configs"), 0), "targets");
  assert_int_equal(ynode_seq_len(targets), 2);
  assert_string_equal(ynode_str(ynode_seq_at(targets, 1)), "pi2:9100");
  assert_int_equal(ynode_line(ynode_seq_at(targets, 1)), 15);
  assert_int_equal(ynode_column(ynode_seq_at(targets, 1)), 31);

  /* Accessors are total: wrong kinds give empty answers. */
  assert_null(ynode_str(g));
  assert_int_equal(ynode_len(g), 0);
  assert_int_equal(ynode_seq_len(g), 0);
  assert_null(ynode_seq_at(si, 0));
  assert_int_equal(ynode_map_len(rf), 0);
  assert_null(ynode_map_get(si, "x"));
  assert_null(ynode_map_get(r, "missing"));
  assert_false(ynode_is_null(g));
  ydoc_free(doc);
}

static void test_styles_and_tags(void **state) {
  (void)state;
  ydoc_t *doc = load("plain: 123\n"
                     "quoted: \"123\"\n"
                     "single: '123'\n"
                     "lit: |\n  line1\n  line2\n"
                     "fold: >\n  a\n  b\n"
                     "tagged: !!str 123\n"
                     "custom: !thing x\n");
  const ynode_t *r = ydoc_root(doc);
  assert_int_equal(ynode_style(get(r, "plain")), YNODE_PLAIN);
  assert_int_equal(ynode_style(get(r, "quoted")), YNODE_DOUBLE_QUOTED);
  assert_int_equal(ynode_style(get(r, "single")), YNODE_SINGLE_QUOTED);
  assert_int_equal(ynode_style(get(r, "lit")), YNODE_LITERAL);
  assert_string_equal(ynode_str(get(r, "lit")), "line1\nline2\n");
  assert_int_equal(ynode_style(get(r, "fold")), YNODE_FOLDED);
  assert_string_equal(ynode_str(get(r, "fold")), "a b\n");
  assert_string_equal(ynode_tag(get(r, "tagged")), "tag:yaml.org,2002:str");
  assert_string_equal(ynode_tag(get(r, "custom")), "!thing");
  ydoc_free(doc);
}

static void test_utf8(void **state) {
  (void)state;
  /* Columns count characters, not bytes. */
  ydoc_t *doc = load("städte:\n  zürich: \"grüezi ✓\"\n  ключ: значение\n");
  const ynode_t *m = get(ydoc_root(doc), "städte");
  const ynode_t *z = get(m, "zürich");
  assert_string_equal(ynode_str(z), "grüezi ✓");
  assert_int_equal(ynode_line(z), 2);
  assert_int_equal(ynode_column(z), 11);
  const ynode_t *k = get(m, "ключ");
  assert_string_equal(ynode_str(k), "значение");
  assert_int_equal(ynode_column(k), 9);
  ydoc_free(doc);

  /* Unknown UTF-8 field: quoted as-is, column in characters. */
  fixture_t f;
  fx_open(&f, "größe: 1\nünknown: 2\n");
  static const char *const allowed[] = {"größe", NULL};
  assert_int_equal(ycfg_check_map(f.c, root(&f), allowed), PH_EPARSE);
  assert_string_equal(f.err, NAME ":2:1: field \"ünknown\" not found at the top level");
  fx_close(&f);
}

static void test_crlf_positions(void **state) {
  (void)state;
  ydoc_t *doc = load("a: 1\r\nb:\r\n  c: x\r\n");
  const ynode_t *c = get(get(ydoc_root(doc), "b"), "c");
  assert_string_equal(ynode_str(c), "x");
  assert_int_equal(ynode_line(c), 3);
  assert_int_equal(ynode_column(c), 6);
  ydoc_free(doc);
}

/* ---- Loading: empty, null, multi-document ------------------------------- */

static void test_empty_documents(void **state) {
  (void)state;
  static const char *const empties[] = {"", "\n\n", "# just a comment\n", "---\n",
                                        "--- ~\n", "null\n", "--- # c\n...\n"};
  for (size_t i = 0; i < sizeof(empties) / sizeof(empties[0]); i++) {
    ydoc_t *doc = load(empties[i]);
    const ynode_t *r = ydoc_root(doc);
    assert_non_null(r);
    assert_int_equal(ynode_kind(r), YNODE_MAPPING);
    assert_int_equal(ynode_map_len(r), 0);
    ydoc_free(doc);
  }
  /* A zero-length buffer may come with a NULL pointer. */
  ydoc_t *doc = NULL;
  char err[64];
  assert_int_equal(ydoc_load_string(NAME, NULL, 0, &doc, err, sizeof(err)), 0);
  assert_int_equal(ynode_map_len(ydoc_root(doc)), 0);
  ydoc_free(doc);
  /* A non-null scalar root stays a scalar; check_map then says so. */
  fixture_t f;
  fx_open(&f, "hello\n");
  assert_int_equal(ynode_kind(root(&f)), YNODE_SCALAR);
  assert_int_equal(ycfg_check_map(f.c, root(&f), NULL), PH_EPARSE);
  assert_string_equal(f.err, NAME ":1:1: expected a mapping, got \"hello\"");
  fx_close(&f);
}

static void test_multi_document(void **state) {
  (void)state;
  ydoc_t *doc = load("a: 1\n---\nb: 2\n");
  const ynode_t *r = ydoc_root(doc);
  assert_int_equal(ynode_map_len(r), 1);
  assert_non_null(ynode_map_get(r, "a"));
  assert_null(ynode_map_get(r, "b"));
  assert_true(ydoc_has_more_documents(doc));
  ydoc_free(doc);

  /* Later documents are not parsed; junk there does not fail the load. */
  doc = load("--- \na: 1\n...\n--- [[[\n");
  assert_int_equal(ynode_map_len(ydoc_root(doc)), 1);
  assert_true(ydoc_has_more_documents(doc));
  ydoc_free(doc);

  /* An explicit end marker alone is not a second document. */
  doc = load("a: 1\n...\n");
  assert_false(ydoc_has_more_documents(doc));
  ydoc_free(doc);
}

static void test_null_values(void **state) {
  (void)state;
  fixture_t f;
  fx_open(&f, "s:\nt: ~\nu: null\nv: NULL\nw: \"\"\nx: 'null'\ny: !!null ''\n"
              "list:\nitems: [a, ~, '']\nlabels: {a: , b: ~}\n");
  const ynode_t *r = root(&f);
  assert_true(ynode_is_null(get(r, "s")));
  assert_true(ynode_is_null(get(r, "t")));
  assert_true(ynode_is_null(get(r, "u")));
  assert_true(ynode_is_null(get(r, "v")));
  assert_false(ynode_is_null(get(r, "w")));
  assert_false(ynode_is_null(get(r, "x")));
  assert_true(ynode_is_null(get(r, "y")));

  /* Null decodes as the zero value, as Go yaml.v2 does. */
  const char *s = "default";
  assert_int_equal(ycfg_get_string(f.c, r, "s", &s), 0);
  assert_string_equal(s, "");
  assert_int_equal(ycfg_get_string(f.c, r, "x", &s), 0);
  assert_string_equal(s, "null");
  bool b = true;
  assert_int_equal(ycfg_get_bool(f.c, r, "t", &b), 0);
  assert_false(b);
  int64_t i = 42;
  assert_int_equal(ycfg_get_int(f.c, r, "u", 1, 100, &i), 0);
  assert_int_equal(i, 0);
  uint64_t u = 42;
  assert_int_equal(ycfg_get_uint(f.c, r, "u", 100, &u), 0);
  assert_int_equal(u, 0);
  double d = 4.2;
  assert_int_equal(ycfg_get_double(f.c, r, "v", &d), 0);
  assert_true(d == 0.0);
  int64_t ms = 42;
  assert_int_equal(ycfg_get_duration(f.c, r, "s", &ms), 0);
  assert_int_equal(ms, 0);
  const char **items = (const char **)0x1;
  size_t n = 9;
  assert_int_equal(ycfg_get_strings(f.c, r, "list", &items, &n), 0);
  assert_null(items);
  assert_int_equal(n, 0);
  assert_int_equal(ycfg_get_strings(f.c, r, "items", &items, &n), 0);
  assert_int_equal(n, 3);
  assert_string_equal(items[0], "a");
  assert_string_equal(items[1], "");
  assert_string_equal(items[2], "");
  ycfg_pair_t *pairs;
  assert_int_equal(ycfg_get_string_map(f.c, r, "labels", &pairs, &n), 0);
  assert_int_equal(n, 2);
  assert_string_equal(pairs[0].value, "");
  assert_string_equal(pairs[1].value, "");
  /* A null mapping checks as an empty one. */
  assert_int_equal(ycfg_check_map(f.c, get(r, "s"), (const char *const[]){"a", NULL}), 0);
  fx_close(&f);
}

/* ---- Loading: syntax errors ----------------------------------------------- */

static void test_syntax_errors(void **state) {
  (void)state;
  /* Bad indentation: " c" is neither inside a nor beside it. */
  static const char bad_indent[] = "a:\n  b: 1\n c: 2\n";
  load_fails(bad_indent, strlen(bad_indent), PH_EPARSE,
             NAME ":3:2: yaml: did not find expected key while parsing a block "
                  "mapping that started at line 1, column 1");
  static const char unclosed[] = "a: 1\nb: \"unclosed\nc: 2\n";
  load_fails(unclosed, strlen(unclosed), PH_EPARSE,
             NAME ":4:1: yaml: found unexpected end of stream while scanning a "
                  "quoted scalar that started at line 2, column 4");
  static const char tab[] = "a:\n\tb: 1\n";
  load_fails(tab, strlen(tab), PH_EPARSE,
             NAME ":2:1: yaml: found character that cannot start any token while "
                  "scanning for the next token");
  static const char mapval[] = "a: 1\n  b: 2\n";
  load_fails(mapval, strlen(mapval), PH_EPARSE,
             NAME ":2:4: yaml: mapping values are not allowed in this context");
  static const char flow[] = "a: [1, 2\nb: 3\n";
  load_fails(flow, strlen(flow), PH_EPARSE,
             NAME ":2:2: yaml: did not find expected ',' or ']' while parsing a "
                  "flow sequence that started at line 1, column 4");
  /* Reader errors carry a byte offset; it is turned into line:column. */
  static const char badutf8[] = "ok: yes\nbad: \xff\n";
  load_fails(badutf8, strlen(badutf8), PH_EPARSE,
             NAME ":2:6: yaml: invalid leading UTF-8 octet (0xFF)");
  static const char nul[] = "a: b\0c\n";
  load_fails(nul, sizeof(nul) - 1, PH_EPARSE,
             NAME ":1:5: yaml: control characters are not allowed (0x00)");
  /* An explicit core tag must fit its text. */
  static const char badtag[] = "a: !!int abc\n";
  load_fails(badtag, strlen(badtag), PH_EPARSE,
             NAME ":1:4: yaml: cannot decode \"abc\" as !!int");
  static const char badbool[] = "a: !!bool \"maybe\"\n";
  load_fails(badbool, strlen(badbool), PH_EPARSE,
             NAME ":1:4: yaml: cannot decode \"maybe\" as !!bool");
}

static void test_error_buffer_truncation(void **state) {
  (void)state;
  ydoc_t *doc = NULL;
  char err[16];
  memset(err, 'x', sizeof(err));
  assert_int_equal(ydoc_load_string(NAME, "a: [", 4, &doc, err, sizeof(err)), PH_EPARSE);
  assert_int_equal(strlen(err), sizeof(err) - 1);
  assert_memory_equal(err, NAME ":", 15);
  /* No buffer at all is fine too. */
  assert_int_equal(ydoc_load_string(NAME, "a: [", 4, &doc, NULL, 0), PH_EPARSE);
  assert_null(doc);
}

/* ---- Loading: anchors and aliases ----------------------------------------- */

static void test_aliases(void **state) {
  (void)state;
  fixture_t f;
  fx_open(&f, "defaults: &defs\n"
              "  interval: &iv 30s\n"
              "  labels: {a: b}\n"
              "jobs:\n"
              "  - settings: *defs\n"
              "    interval: *iv\n"
              "  - interval: *iv\n");
  const ynode_t *r = root(&f);
  const ynode_t *jobs = get(r, "jobs");
  const ynode_t *settings = get(ynode_seq_at(jobs, 0), "settings");
  assert_int_equal(ynode_kind(settings), YNODE_MAPPING);
  assert_string_equal(ynode_str(get(settings, "interval")), "30s");
  assert_string_equal(ynode_str(get(get(settings, "labels"), "a")), "b");
  /* The alias node reports where the alias is written. */
  assert_int_equal(ynode_line(settings), 5);
  assert_int_equal(ynode_column(settings), 15);
  const ynode_t *iv = get(ynode_seq_at(jobs, 1), "interval");
  assert_string_equal(ynode_str(iv), "30s");
  assert_int_equal(ynode_line(iv), 7);
  assert_int_equal(ynode_column(iv), 15);
  int64_t ms = 0;
  assert_int_equal(ycfg_as_duration(f.c, iv, &ms), 0);
  assert_int_equal(ms, 30000);
  fx_close(&f);

  /* A later anchor of the same name shadows an earlier one. */
  ydoc_t *doc = load("a: &x 1\nb: &x 2\nc: *x\n");
  assert_string_equal(ynode_str(get(ydoc_root(doc), "c")), "2");
  ydoc_free(doc);

  static const char unknown[] = "a: 1\nb: *nope\n";
  load_fails(unknown, strlen(unknown), PH_EPARSE,
             NAME ":2:4: yaml: unknown anchor \"nope\" referenced");
  static const char self[] = "a: &x\n  b: [1, *x]\n";
  load_fails(self, strlen(self), PH_EPARSE,
             NAME ":2:10: yaml: alias *x refers to a node that contains it");
  static const char merge[] = "base: &b {x: 1}\njob:\n  <<: *b\n  y: 2\n";
  load_fails(merge, strlen(merge), PH_EPARSE,
             NAME ":3:3: yaml: merge keys (<<) are not supported; write the fields out");
  /* A quoted "<<" is an ordinary key. */
  doc = load("\"<<\": 1\n");
  assert_string_equal(ynode_str(get(ydoc_root(doc), "<<")), "1");
  ydoc_free(doc);
}

static void test_billion_laughs(void **state) {
  (void)state;
  strbuf_t b = STRBUF_INIT;
  strbuf_puts(&b, "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
  for (int i = 1; i <= 9; i++) {
    strbuf_printf(&b, "l%d: &l%d [", i, i);
    for (int j = 0; j < 10; j++) strbuf_printf(&b, "%s*l%d", j ? ", " : "", i - 1);
    strbuf_puts(&b, "]\n");
  }
  ydoc_t *doc = (ydoc_t *)0x1;
  char err[256] = "";
  int rc = ydoc_load_string(NAME, b.data, b.len, &doc, err, sizeof(err));
  assert_int_equal(rc, PH_ELIMIT);
  assert_null(doc);
  assert_non_null(strstr(err, "yaml: document contains excessive aliasing"));
  assert_memory_equal(err, NAME ":", strlen(NAME ":"));
  strbuf_free(&b);

  /* Moderate reuse is fine. */
  doc = load("a: &a [1, 2, 3]\nb: [*a, *a, *a, *a]\nc: [*a, *a]\n");
  assert_int_equal(ynode_seq_len(get(ydoc_root(doc), "c")), 2);
  ydoc_free(doc);
}

static void test_depth_limit(void **state) {
  (void)state;
  strbuf_t b = STRBUF_INIT;
  for (int i = 0; i < YDOC_MAX_DEPTH; i++) strbuf_putc(&b, '[');
  for (int i = 0; i < YDOC_MAX_DEPTH; i++) strbuf_putc(&b, ']');
  ydoc_t *doc = load(b.data);
  assert_int_equal(ynode_kind(ydoc_root(doc)), YNODE_SEQUENCE);
  ydoc_free(doc);

  strbuf_reset(&b);
  for (int i = 0; i <= YDOC_MAX_DEPTH; i++) strbuf_putc(&b, '[');
  for (int i = 0; i <= YDOC_MAX_DEPTH; i++) strbuf_putc(&b, ']');
  char msg[128];
  snprintf(msg, sizeof(msg), NAME ":1:%d: yaml: nesting deeper than %d levels",
           YDOC_MAX_DEPTH + 1, YDOC_MAX_DEPTH);
  load_fails(b.data, b.len, PH_ELIMIT, msg);
  strbuf_free(&b);
}

static void test_long_scalar(void **state) {
  (void)state;
  size_t big = 1u << 20;
  strbuf_t b = STRBUF_INIT;
  strbuf_puts(&b, "key: \"");
  strbuf_reserve(&b, big + 16);
  memset(b.data + b.len, 'v', big);
  b.len += big;
  strbuf_puts(&b, "\"\nplain: ");
  strbuf_reserve(&b, big + 16);
  memset(b.data + b.len, 'p', big);
  b.len += big;
  strbuf_puts(&b, "\n");

  fixture_t f;
  fx_open(&f, b.data);
  const char *s = NULL;
  assert_int_equal(ycfg_get_string(f.c, root(&f), "key", &s), 0);
  assert_int_equal(strlen(s), big);
  assert_int_equal(ynode_len(get(root(&f), "plain")), big);
  /* Messages quote at most 64 bytes of a value. */
  int64_t i;
  assert_int_equal(ycfg_get_int(f.c, root(&f), "plain", 0, 10, &i), PH_EPARSE);
  assert_true(strlen(f.err) < 200);
  assert_non_null(strstr(f.err, "plain: expected an integer, got \"pppp"));
  assert_non_null(strstr(f.err, "pppp\"..."));
  fx_close(&f);
  strbuf_free(&b);
}

static void test_load_file(void **state) {
  (void)state;
  char path[] = "/tmp/test_yaml_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  static const char text[] = "global:\n  scrape_interval: 10s\n";
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  ydoc_t *doc = NULL;
  char err[512] = "";
  assert_int_equal(ydoc_load_file(path, &doc, err, sizeof(err)), 0);
  assert_string_equal(ydoc_name(doc), path);
  assert_string_equal(ynode_str(get(get(ydoc_root(doc), "global"), "scrape_interval")), "10s");
  ydoc_free(doc);

  /* Syntax errors name the path. */
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  fputs("a: [\n", fp);
  fclose(fp);
  assert_int_equal(ydoc_load_file(path, &doc, err, sizeof(err)), PH_EPARSE);
  assert_memory_equal(err, path, strlen(path));
  assert_memory_equal(err + strlen(path), ":2:1: yaml: ", 12);
  unlink(path);

  assert_int_equal(ydoc_load_file("/nonexistent/pharos.yml", &doc, err, sizeof(err)),
                   PH_ENOTFOUND);
  assert_null(doc);
  assert_string_equal(err, "/nonexistent/pharos.yml: cannot open: No such file or directory");
  /* A directory opens but cannot be read. */
  assert_int_equal(ydoc_load_file("/tmp", &doc, err, sizeof(err)), PH_EIO);
  assert_null(doc);
}

/* ---- Decoding: keys ------------------------------------------------------------ */

static const char *const k_top_keys[] = {"global", "rule_files", "scrape_configs", NULL};
static const char *const k_job_keys[] = {"job_name", "scrape_interval", "scrape_timeout",
                                         "honor_labels", "sample_limit", "metrics_path",
                                         "static_configs", "relabel_configs", NULL};

static void test_unknown_field(void **state) {
  (void)state;
  fixture_t f;
  fx_open(&f, "scrape_configs:\n"
              "  - job_name: a\n"
              "  - job_name: b\n"
              "    scrape_intervl: 5s\n");
  const ynode_t *r = root(&f);
  assert_int_equal(ycfg_check_map(f.c, r, k_top_keys), 0);
  const ynode_t *job = ynode_seq_at(get(r, "scrape_configs"), 1);
  size_t m1 = ycfg_push_field(f.c, "scrape_configs");
  size_t m2 = ycfg_push_index(f.c, 1);
  assert_string_equal(ycfg_path(f.c), "scrape_configs[1]");
  assert_int_equal(ycfg_check_map(f.c, job, k_job_keys), PH_EPARSE);
  assert_string_equal(f.err, NAME ":4:5: field \"scrape_intervl\" not found in "
                             "scrape_configs[1] (did you mean \"scrape_interval\"?)");
  ycfg_pop(f.c, m2);
  assert_string_equal(ycfg_path(f.c), "scrape_configs");
  ycfg_pop(f.c, m1);
  assert_string_equal(ycfg_path(f.c), "");
  fx_close(&f);

  /* Top level, no plausible suggestion. */
  fx_open(&f, "global: {}\nalerting_rules: []\n");
  assert_int_equal(ycfg_check_map(f.c, root(&f), k_top_keys), PH_EPARSE);
  assert_string_equal(f.err, NAME ":2:1: field \"alerting_rules\" not found at the top level");
  fx_close(&f);

  /* Keys must be scalars; any key is allowed with a NULL list. */
  fx_open(&f, "a: 1\n[x]: 2\n");
  assert_int_equal(ycfg_check_map(f.c, root(&f), NULL), PH_EPARSE);
  assert_string_equal(f.err, NAME ":2:1: expected a scalar key, got a sequence");
  fx_close(&f);
  fx_open(&f, "anything: 1\ngoes: 2\n");
  assert_int_equal(ycfg_check_map(f.c, root(&f), NULL), 0);
  fx_close(&f);
}

static void test_duplicate_field(void **state) {
  (void)state;
  fixture_t f;
  fx_open(&f, "scrape_configs:\n"
              "  - job_name: a\n"
              "    honor_labels: true\n"
              "    job_name: b\n");
  size_t m = ycfg_push_field(f.c, "scrape_configs");
  ycfg_push_index(f.c, 0);
  assert_int_equal(ycfg_check_map(f.c, ynode_seq_at(get(root(&f), "scrape_configs"), 0),
                                  k_job_keys),
                   PH_EPARSE);
  assert_string_equal(f.err, NAME ":4:5: field \"job_name\" already set in "
                             "scrape_configs[0] (first set at line 2)");
  ycfg_pop(f.c, m);
  fx_close(&f);

  /* Keys compare by text: "a" and a are the same field. */
  fx_open(&f, "a: 1\n\"a\": 2\n");
  assert_int_equal(ycfg_check_map(f.c, root(&f), NULL), PH_EPARSE);
  assert_string_equal(f.err, NAME ":2:1: field \"a\" already set at the top level "
                             "(first set at line 1)");
  fx_close(&f);

  /* A large mapping (sorted search): the earliest repeat is reported. */
  strbuf_t b = STRBUF_INIT;
  for (int i = 0; i < 100; i++) strbuf_printf(&b, "k%03d: %d\n", i, i);
  strbuf_puts(&b, "k050: again\n");  /* line 101 */
  strbuf_puts(&b, "k007: again\n");  /* line 102 */
  strbuf_puts(&b, "k050: thrice\n"); /* line 103 */
  fx_open(&f, b.data);
  assert_int_equal(ycfg_check_map(f.c, root(&f), NULL), PH_EPARSE);
  assert_string_equal(f.err, NAME ":101:1: field \"k050\" already set at the top level "
                             "(first set at line 51)");
  fx_close(&f);
  strbuf_reset(&b);
  for (int i = 0; i < 100; i++) strbuf_printf(&b, "k%03d: %d\n", i, i);
  fx_open(&f, b.data);
  assert_int_equal(ycfg_check_map(f.c, root(&f), NULL), 0);
  fx_close(&f);
  strbuf_free(&b);
}

static void test_check_map_kinds(void **state) {
  (void)state;
  fixture_t f;
  fx_open(&f, "global: [1, 2]\nother: 5\n");
  size_t m = ycfg_push_field(f.c, "global");
  assert_int_equal(ycfg_check_map(f.c, get(root(&f), "global"), NULL), PH_EPARSE);
  assert_string_equal(f.err, NAME ":1:9: global: expected a mapping, got a sequence");
  ycfg_pop(f.c, m);
  m = ycfg_push_field(f.c, "other");
  assert_int_equal(ycfg_check_map(f.c, get(root(&f), "other"), NULL), PH_EPARSE);
  assert_string_equal(f.err, NAME ":2:8: other: expected a mapping, got \"5\"");
  ycfg_pop(f.c, m);
  fx_close(&f);
}

/* ---- Decoding: typed getters ------------------------------------------------------- */

static void test_get_string(void **state) {
  (void)state;
  fixture_t f;
  fx_open(&f, "s: hello\nn: 123\nb: true\nq: \"x\\ty\"\nm: {a: 1}\nl: [1]\nz: \"a\\0b\"\n");
  const ynode_t *r = root(&f);
  const char *s = NULL;
  assert_int_equal(ycfg_get_string(f.c, r, "s", &s), 0);
  assert_string_equal(s, "hello");
  /* Any scalar is a string: its text. */
  assert_int_equal(ycfg_get_string(f.c, r, "n", &s), 0);
  assert_string_equal(s, "123");
  assert_int_equal(ycfg_get_string(f.c, r, "b", &s), 0);
  assert_string_equal(s, "true");
  assert_int_equal(ycfg_get_string(f.c, r, "q", &s), 0);
  assert_string_equal(s, "x\ty");
  /* Absent: untouched. */
  s = "kept";
  assert_int_equal(ycfg_get_string(f.c, r, "absent", &s), 0);
  assert_string_equal(s, "kept");
  assert_int_equal(ycfg_get_string(f.c, r, "m", &s), PH_EPARSE);
  assert_string_equal(f.err, NAME ":5:4: m: expected a string, got a mapping");
  assert_string_equal(s, "kept");
  assert_int_equal(ycfg_get_string(f.c, r, "l", &s), PH_EPARSE);
  assert_string_equal(f.err, NAME ":6:4: l: expected a string, got a sequence");
  assert_int_equal(ycfg_get_string(f.c, r, "z", &s), PH_EPARSE);
  assert_string_equal(f.err, NAME ":7:4: z: expected a string without NUL characters, "
                             "got \"a\\x00b\"");
  /* The path is restored after each field. */
  assert_string_equal(ycfg_path(f.c), "");
  fx_close(&f);
}

static void test_get_bool(void **state) {
  (void)state;
  fixture_t f;
  fx_open(&f, "t1: true\nt2: True\nt3: yes\nt4: on\nt5: Y\n"
              "f1: false\nf2: FALSE\nf3: no\nf4: off\nf5: n\n"
              "bad1: \"true\"\nbad2: maybe\nbad3: 1\nbad4: {}\ntagged: !!bool \"false\"\n");
  const ynode_t *r = root(&f);
  static const char *const trues[] = {"t1", "t2", "t3", "t4", "t5"};
  static const char *const falses[] = {"f1", "f2", "f3", "f4", "f5", "tagged"};
  for (size_t i = 0; i < 5; i++) {
    bool b = false;
    assert_int_equal(ycfg_get_bool(f.c, r, trues[i], &b), 0);
    assert_true(b);
  }
  for (size_t i = 0; i < 6; i++) {
    bool b = true;
    assert_int_equal(ycfg_get_bool(f.c, r, falses[i], &b), 0);
    assert_false(b);
  }
  bool b = true;
  assert_int_equal(ycfg_get_bool(f.c, r, "bad1", &b), PH_EPARSE);
  assert_string_equal(f.err,
                      NAME ":11:7: bad1: expected a boolean (true or false), got \"true\"");
  assert_true(b);
  assert_int_equal(ycfg_get_bool(f.c, r, "bad2", &b), PH_EPARSE);
  assert_string_equal(f.err,
                      NAME ":12:7: bad2: expected a boolean (true or false), got \"maybe\"");
  assert_int_equal(ycfg_get_bool(f.c, r, "bad3", &b), PH_EPARSE);
  assert_int_equal(ycfg_get_bool(f.c, r, "bad4", &b), PH_EPARSE);
  assert_string_equal(f.err,
                      NAME ":14:7: bad4: expected a boolean (true or false), got a mapping");
  fx_close(&f);
}

static void test_get_int(void **state) {
  (void)state;
  fixture_t f;
  fx_open(&f, "dec: 5000\nneg: -12\nplus: +7\nhex: 0x1F\nnhex: -0x10\noct: 0o17\n"
              "old_oct: 017\nbin: 0b101\nunder: 1_000_000\nexp: 1e3\neight: 08\n"
              "min: -9223372036854775808\nmax: 9223372036854775807\n"
              "over: 9223372036854775808\nhuge: 99999999999999999999\n"
              "frac: 1.5\nquoted: \"12\"\nword: abc\ninf: .inf\ntagged: !!int \"42\"\n");
  const ynode_t *r = root(&f);
  struct { const char *key; int64_t want; } ok[] = {
      {"dec", 5000}, {"neg", -12}, {"plus", 7}, {"hex", 31}, {"nhex", -16},
      {"oct", 15}, {"old_oct", 15}, {"bin", 5}, {"under", 1000000}, {"exp", 1000},
      {"eight", 8}, {"min", INT64_MIN}, {"max", INT64_MAX}, {"tagged", 42},
  };
  for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
    int64_t v = -1;
    if (ycfg_get_int(f.c, r, ok[i].key, INT64_MIN, INT64_MAX, &v) != 0)
      fail_msg("%s: %s", ok[i].key, f.err);
    assert_int_equal(v, ok[i].want);
  }
  int64_t v = 77;
  assert_int_equal(ycfg_get_int(f.c, r, "over", INT64_MIN, INT64_MAX, &v), PH_EPARSE);
  assert_string_equal(f.err, NAME ":14:7: over: expected an integer between "
                             "-9223372036854775808 and 9223372036854775807, "
                             "got \"9223372036854775808\"");
  assert_int_equal(v, 77);
  assert_int_equal(ycfg_get_int(f.c, r, "huge", INT64_MIN, INT64_MAX, &v), PH_EPARSE);
  assert_string_equal(f.err, NAME ":15:7: huge: expected an integer between "
                             "-9223372036854775808 and 9223372036854775807, "
                             "got \"99999999999999999999\"");
  assert_int_equal(ycfg_get_int(f.c, r, "dec", 0, 1000, &v), PH_EPARSE);
  assert_string_equal(f.err, NAME ":1:6: dec: expected an integer between 0 and 1000, "
                             "got \"5000\"");
  assert_int_equal(ycfg_get_int(f.c, r, "neg", 0, 1000, &v), PH_EPARSE);
  assert_int_equal(ycfg_get_int(f.c, r, "frac", 0, 1000, &v), PH_EPARSE);
  assert_string_equal(f.err, NAME ":16:7: frac: expected an integer, got \"1.5\"");
  assert_int_equal(ycfg_get_int(f.c, r, "quoted", 0, 1000, &v), PH_EPARSE);
  assert_string_equal(f.err, NAME ":17:9: quoted: expected an integer, got \"12\"");
  assert_int_equal(ycfg_get_int(f.c, r, "word", 0, 1000, &v), PH_EPARSE);
  assert_string_equal(f.err, NAME ":18:7: word: expected an integer, got \"abc\"");
  assert_int_equal(ycfg_get_int(f.c, r, "inf", 0, 1000, &v), PH_EPARSE);
  assert_int_equal(v, 77);
  fx_close(&f);
}

static void test_get_uint_double(void **state) {
  (void)state;
  fixture_t f;
  fx_open(&f, "u: 18446744073709551615\nneg: -1\nsmall: 42\nbig: 1e30\n"
              "f: 0.25\ni: 3\nninf: -.inf\nnan: .NaN\nq: \"0.5\"\ndot: .5\n");
  const ynode_t *r = root(&f);
  uint64_t u = 0;
  assert_int_equal(ycfg_get_uint(f.c, r, "u", UINT64_MAX, &u), 0);
  assert_true(u == UINT64_MAX);
  assert_int_equal(ycfg_get_uint(f.c, r, "small", 100, &u), 0);
  assert_int_equal(u, 42);
  assert_int_equal(ycfg_get_uint(f.c, r, "neg", UINT64_MAX, &u), PH_EPARSE);
  assert_string_equal(f.err, NAME ":2:6: neg: expected an integer between 0 and "
                             "18446744073709551615, got \"-1\"");
  assert_int_equal(ycfg_get_uint(f.c, r, "u", UINT32_MAX, &u), PH_EPARSE);
  assert_string_equal(f.err, NAME ":1:4: u: expected an integer between 0 and 4294967295, "
                             "got \"18446744073709551615\"");
  assert_int_equal(ycfg_get_uint(f.c, r, "big", UINT64_MAX, &u), PH_EPARSE);
  assert_int_equal(u, 42);

  double d = 0;
  assert_int_equal(ycfg_get_double(f.c, r, "f", &d), 0);
  assert_true(d == 0.25);
  assert_int_equal(ycfg_get_double(f.c, r, "i", &d), 0);
  assert_true(d == 3.0);
  assert_int_equal(ycfg_get_double(f.c, r, "u", &d), 0);
  assert_true(d == 18446744073709551615.0);
  assert_int_equal(ycfg_get_double(f.c, r, "big", &d), 0);
  assert_true(d == 1e30);
  assert_int_equal(ycfg_get_double(f.c, r, "dot", &d), 0);
  assert_true(d == 0.5);
  assert_int_equal(ycfg_get_double(f.c, r, "ninf", &d), 0);
  assert_true(isinf(d) && d < 0);
  assert_int_equal(ycfg_get_double(f.c, r, "nan", &d), 0);
  assert_true(isnan(d));
  d = 7;
  assert_int_equal(ycfg_get_double(f.c, r, "q", &d), PH_EPARSE);
  assert_string_equal(f.err, NAME ":9:4: q: expected a number, got \"0.5\"");
  assert_true(d == 7);
  fx_close(&f);
}

static void test_get_duration(void **state) {
  (void)state;
  fixture_t f;
  fx_open(&f, "a: 15s\nb: 1h30m\nc: 0\nd: \"2m\"\ne: abc\nf: 15\ng: 1000y\nh: {}\ni: \"\"\n");
  const ynode_t *r = root(&f);
  int64_t ms = -1;
  assert_int_equal(ycfg_get_duration(f.c, r, "a", &ms), 0);
  assert_int_equal(ms, 15000);
  assert_int_equal(ycfg_get_duration(f.c, r, "b", &ms), 0);
  assert_int_equal(ms, 5400000);
  assert_int_equal(ycfg_get_duration(f.c, r, "c", &ms), 0);
  assert_int_equal(ms, 0);
  assert_int_equal(ycfg_get_duration(f.c, r, "d", &ms), 0);
  assert_int_equal(ms, 120000);
  ms = -1;
  assert_int_equal(ycfg_get_duration(f.c, r, "e", &ms), PH_EPARSE);
  assert_string_equal(f.err, NAME ":5:4: e: expected a duration such as 15s, got \"abc\"");
  assert_int_equal(ms, -1);
  /* A bare number is not a duration (Prometheus wants a unit). */
  assert_int_equal(ycfg_get_duration(f.c, r, "f", &ms), PH_EPARSE);
  assert_string_equal(f.err, NAME ":6:4: f: expected a duration such as 15s, got \"15\"");
  assert_int_equal(ycfg_get_duration(f.c, r, "g", &ms), PH_EPARSE);
  assert_string_equal(f.err, NAME ":7:4: g: duration \"1000y\" out of range");
  assert_int_equal(ycfg_get_duration(f.c, r, "h", &ms), PH_EPARSE);
  assert_string_equal(f.err, NAME ":8:4: h: expected a duration such as 15s, got a mapping");
  assert_int_equal(ycfg_get_duration(f.c, r, "i", &ms), PH_EPARSE);
  assert_string_equal(f.err, NAME ":9:4: i: expected a duration such as 15s, got \"\"");
  assert_int_equal(ms, -1);
  fx_close(&f);
}

static void test_get_strings(void **state) {
  (void)state;
  fixture_t f;
  fx_open(&f, "rule_files: [a.yml, \"b.yml\", 3]\nflow: x\nnested: [a, [b]]\n");
  const ynode_t *r = root(&f);
  const char **items = NULL;
  size_t n = 0;
  assert_int_equal(ycfg_get_strings(f.c, r, "rule_files", &items, &n), 0);
  assert_int_equal(n, 3);
  assert_string_equal(items[0], "a.yml");
  assert_string_equal(items[1], "b.yml");
  assert_string_equal(items[2], "3");
  assert_int_equal(ycfg_get_strings(f.c, r, "flow", &items, &n), PH_EPARSE);
  assert_string_equal(f.err, NAME ":2:7: flow: expected a sequence of strings, got \"x\"");
  assert_int_equal(ycfg_get_strings(f.c, r, "nested", &items, &n), PH_EPARSE);
  assert_string_equal(f.err, NAME ":3:13: nested[1]: expected a string, got a sequence");
  assert_int_equal(n, 3);
  fx_close(&f);
}

static void test_get_string_map(void **state) {
  (void)state;
  fixture_t f;
  fx_open(&f, "labels:\n  env: prod\n  \"with space\": 1\n  ünï: yes\n"
              "dup: {a: 1, b: 2, a: 3}\n"
              "badval: {ok: 1, \"a b\": [x]}\n"
              "badval2: {inner: {x: 1}}\n"
              "notmap: [a]\n");
  const ynode_t *r = root(&f);
  ycfg_pair_t *p = NULL;
  size_t n = 0;
  assert_int_equal(ycfg_get_string_map(f.c, r, "labels", &p, &n), 0);
  assert_int_equal(n, 3);
  assert_string_equal(p[0].key, "env");
  assert_string_equal(p[0].value, "prod");
  assert_string_equal(p[1].key, "with space");
  assert_string_equal(p[1].value, "1");
  assert_string_equal(p[2].key, "ünï");
  assert_string_equal(p[2].value, "yes");
  assert_int_equal(ynode_line(p[1].key_node), 3);
  assert_int_equal(ynode_column(p[1].value_node), 17);
  assert_int_equal(ycfg_get_string_map(f.c, r, "dup", &p, &n), PH_EPARSE);
  assert_string_equal(f.err, NAME ":5:19: field \"a\" already set in dup (first set at line 5)");
  assert_int_equal(ycfg_get_string_map(f.c, r, "badval", &p, &n), PH_EPARSE);
  assert_string_equal(f.err, NAME ":6:24: badval[\"a b\"]: expected a string, got a sequence");
  assert_int_equal(ycfg_get_string_map(f.c, r, "badval2", &p, &n), PH_EPARSE);
  assert_string_equal(f.err, NAME ":7:18: badval2.inner: expected a string, got a mapping");
  assert_int_equal(ycfg_get_string_map(f.c, r, "notmap", &p, &n), PH_EPARSE);
  assert_string_equal(f.err, NAME ":8:9: notmap: expected a mapping, got a sequence");
  assert_int_equal(n, 3);
  fx_close(&f);
}

/* ---- Decoding: a config loader in miniature ------------------------------------- */

typedef struct job {
  const char *name;
  int64_t interval_ms;
  bool honor_labels;
  uint64_t sample_limit;
  size_t ntargets;
  size_t nrelabel;
} job_t;

typedef struct jobs {
  job_t v[8];
  size_t n;
} jobs_t;

static int decode_relabel(ycfg_t *c, const ynode_t *item, size_t index, void *ud) {
  (void)index;
  static const char *const keys[] = {"source_labels", "regex", "action", "target_label",
                                     NULL};
  job_t *j = ud;
  int rc = ycfg_check_map(c, item, keys);
  if (rc != 0) return rc;
  const char *action = "replace";
  if ((rc = ycfg_get_string(c, item, "action", &action)) != 0) return rc;
  if (strcmp(action, "replace") != 0 && strcmp(action, "keep") != 0 &&
      strcmp(action, "drop") != 0) {
    size_t m = ycfg_push_field(c, "action");
    rc = ycfg_errorf(c, ynode_map_get(item, "action"), "unknown relabel action \"%s\"",
                     action);
    ycfg_pop(c, m);
    return rc;
  }
  j->nrelabel++;
  return 0;
}

static int decode_static(ycfg_t *c, const ynode_t *item, size_t index, void *ud) {
  (void)index;
  static const char *const keys[] = {"targets", "labels", NULL};
  job_t *j = ud;
  int rc = ycfg_check_map(c, item, keys);
  if (rc != 0) return rc;
  const char **t = NULL;
  size_t n = 0;
  ycfg_pair_t *labels = NULL;
  size_t nl = 0;
  if ((rc = ycfg_get_strings(c, item, "targets", &t, &n)) != 0) return rc;
  if ((rc = ycfg_get_string_map(c, item, "labels", &labels, &nl)) != 0) return rc;
  j->ntargets += n;
  return 0;
}

static int decode_job(ycfg_t *c, const ynode_t *item, size_t index, void *ud) {
  jobs_t *jobs = ud;
  assert_true(index == jobs->n);
  job_t *j = &jobs->v[jobs->n];
  memset(j, 0, sizeof(*j));
  j->interval_ms = 60000; /* a default that stays when the field is absent */
  int rc = ycfg_check_map(c, item, k_job_keys);
  if (rc == 0) rc = ycfg_get_string(c, item, "job_name", &j->name);
  if (rc == 0) rc = ycfg_get_duration(c, item, "scrape_interval", &j->interval_ms);
  if (rc == 0) rc = ycfg_get_bool(c, item, "honor_labels", &j->honor_labels);
  if (rc == 0) rc = ycfg_get_uint(c, item, "sample_limit", UINT32_MAX, &j->sample_limit);
  if (rc == 0) rc = ycfg_get_each(c, item, "static_configs", decode_static, j);
  if (rc == 0) rc = ycfg_get_each(c, item, "relabel_configs", decode_relabel, j);
  if (rc == 0 && j->name == NULL) rc = ycfg_errorf(c, item, "job_name is required");
  if (rc == 0) jobs->n++;
  return rc;
}

static int decode_global(ycfg_t *c, const ynode_t *g, size_t index, void *ud) {
  (void)index;
  static const char *const keys[] = {"scrape_interval", "external_labels", NULL};
  int64_t *interval = ud;
  int rc = ycfg_check_map(c, g, keys);
  if (rc == 0) rc = ycfg_get_duration(c, g, "scrape_interval", interval);
  return rc;
}

static int decode_config(const char *text, jobs_t *jobs, int64_t *global_interval,
                         char *err, size_t errlen) {
  ydoc_t *doc = NULL;
  int rc = ydoc_load_string(NAME, text, strlen(text), &doc, err, errlen);
  if (rc != 0) return rc;
  ycfg_t *c = ycfg_new(doc, err, errlen);
  const ynode_t *r = ydoc_root(doc);
  rc = ycfg_check_map(c, r, k_top_keys);
  if (rc == 0) rc = ycfg_get_field(c, r, "global", decode_global, global_interval);
  if (rc == 0) rc = ycfg_get_each(c, r, "scrape_configs", decode_job, jobs);
  assert_string_equal(ycfg_path(c), "");
  ycfg_free(c);
  ydoc_free(doc);
  return rc;
}

static void test_config_loader(void **state) {
  (void)state;
  jobs_t jobs = {0};
  int64_t gi = 0;
  char err[512] = "";
  assert_int_equal(decode_config(k_config, &jobs, &gi, err, sizeof(err)), 0);
  assert_int_equal(gi, 15000);
  assert_int_equal(jobs.n, 2);
  /* Strings belonged to the freed document; only scalars are checked. */
  assert_true(jobs.v[0].honor_labels);
  assert_int_equal(jobs.v[0].sample_limit, 5000);
  assert_int_equal(jobs.v[0].interval_ms, 60000);
  assert_int_equal(jobs.v[0].ntargets, 2);
  assert_int_equal(jobs.v[1].interval_ms, 90000);
  assert_false(jobs.v[1].honor_labels);

  /* An error deep inside names the full path. */
  static const char deep[] =
      "scrape_configs:\n"
      "  - job_name: a\n"
      "  - job_name: b\n"
      "  - job_name: c\n"
      "    relabel_configs:\n"
      "      - action: keep\n"
      "      - action: frobnicate\n";
  jobs.n = 0;
  assert_int_equal(decode_config(deep, &jobs, &gi, err, sizeof(err)), PH_EPARSE);
  assert_string_equal(err, NAME ":7:17: scrape_configs[2].relabel_configs[1].action: "
                           "unknown relabel action \"frobnicate\"");

  static const char typo[] =
      "scrape_configs:\n"
      "  - job_name: a\n"
      "    relabel_configs:\n"
      "      - action: keep\n"
      "        regexp: x\n";
  jobs.n = 0;
  assert_int_equal(decode_config(typo, &jobs, &gi, err, sizeof(err)), PH_EPARSE);
  assert_string_equal(err, NAME ":5:9: field \"regexp\" not found in "
                           "scrape_configs[0].relabel_configs[0] (did you mean \"regex\"?)");

  static const char notseq[] = "scrape_configs:\n  job_name: a\n";
  jobs.n = 0;
  assert_int_equal(decode_config(notseq, &jobs, &gi, err, sizeof(err)), PH_EPARSE);
  assert_string_equal(err, NAME ":2:3: scrape_configs: expected a sequence, got a mapping");

  static const char missing[] = "scrape_configs:\n  - scrape_interval: 5s\n";
  jobs.n = 0;
  assert_int_equal(decode_config(missing, &jobs, &gi, err, sizeof(err)), PH_EPARSE);
  assert_string_equal(err, NAME ":2:5: scrape_configs[0]: job_name is required");

  static const char badglobal[] = "global:\n  scrape_interval: soon\n";
  assert_int_equal(decode_config(badglobal, &jobs, &gi, err, sizeof(err)), PH_EPARSE);
  assert_string_equal(err, NAME ":2:20: global.scrape_interval: expected a duration "
                           "such as 15s, got \"soon\"");

  static const char limit[] = "scrape_configs:\n  - job_name: a\n    sample_limit: 5000000000\n";
  jobs.n = 0;
  assert_int_equal(decode_config(limit, &jobs, &gi, err, sizeof(err)), PH_EPARSE);
  assert_string_equal(err, NAME ":3:19: scrape_configs[0].sample_limit: expected an "
                           "integer between 0 and 4294967295, got \"5000000000\"");

  /* The empty file is a valid config. */
  jobs.n = 0;
  gi = 7;
  assert_int_equal(decode_config("", &jobs, &gi, err, sizeof(err)), 0);
  assert_int_equal(jobs.n, 0);
  assert_int_equal(gi, 7);
}

static int count_entry(ycfg_t *c, const char *key, const ynode_t *value, void *ud) {
  size_t *n = ud;
  if (strcmp(key, "stop") == 0) return ycfg_errorf(c, value, "stopped");
  (*n)++;
  const char **v;
  size_t cnt;
  return ycfg_as_strings(c, value, &v, &cnt);
}

static void test_each_entry(void **state) {
  (void)state;
  fixture_t f;
  fx_open(&f, "params:\n  module: [http_2xx]\n  target: [a, b]\n"
              "bad:\n  x: [1]\n  \"y.z\": {}\n"
              "stop:\n  a: []\n  stop: 1\n");
  size_t n = 0;
  size_t m = ycfg_push_field(f.c, "params");
  assert_int_equal(ycfg_each_entry(f.c, get(root(&f), "params"), count_entry, &n), 0);
  ycfg_pop(f.c, m);
  assert_int_equal(n, 2);
  m = ycfg_push_field(f.c, "bad");
  assert_int_equal(ycfg_each_entry(f.c, get(root(&f), "bad"), count_entry, &n), PH_EPARSE);
  assert_string_equal(f.err, NAME ":6:10: bad[\"y.z\"]: expected a sequence of strings, "
                             "got a mapping");
  ycfg_pop(f.c, m);
  m = ycfg_push_field(f.c, "stop");
  assert_int_equal(ycfg_each_entry(f.c, get(root(&f), "stop"), count_entry, &n), PH_EPARSE);
  assert_string_equal(f.err, NAME ":9:9: stop.stop: stopped");
  ycfg_pop(f.c, m);
  /* Null: nothing to visit. */
  fx_close(&f);
  fx_open(&f, "params:\n");
  assert_int_equal(ycfg_each_entry(f.c, get(root(&f), "params"), count_entry, &n), 0);
  fx_close(&f);
}

static void test_errorf_and_paths(void **state) {
  (void)state;
  fixture_t f;
  fx_open(&f, "a: 1\n");
  assert_int_equal(ycfg_errorf(f.c, NULL, "plain %d", 5), PH_EPARSE);
  assert_string_equal(f.err, NAME ": plain 5");
  assert_int_equal(ycfg_errorf(f.c, get(root(&f), "a"), "at node"), PH_EPARSE);
  assert_string_equal(f.err, NAME ":1:4: at node");
  size_t m = ycfg_push_field(f.c, "scrape_configs");
  ycfg_push_index(f.c, 12);
  ycfg_push_field(f.c, "tls_config");
  ycfg_push_field(f.c, "odd key");
  ycfg_push_field(f.c, "quote\"d");
  assert_string_equal(ycfg_path(f.c),
                      "scrape_configs[12].tls_config[\"odd key\"][\"quote\\\"d\"]");
  assert_int_equal(ycfg_errorf(f.c, NULL, "x"), PH_EPARSE);
  assert_string_equal(f.err, NAME ": scrape_configs[12].tls_config[\"odd key\"]"
                             "[\"quote\\\"d\"]: x");
  ycfg_pop(f.c, m);
  assert_string_equal(ycfg_path(f.c), "");
  /* A top-level index path. */
  ycfg_push_index(f.c, 0);
  assert_string_equal(ycfg_path(f.c), "[0]");
  ycfg_pop(f.c, 0);
  fx_close(&f);
}

static void test_explicit_tags_typing(void **state) {
  (void)state;
  fixture_t f;
  fx_open(&f, "s: !!str 123\nb: !!str true\nf: !!float 3\nq: ! 12\n");
  const ynode_t *r = root(&f);
  int64_t i;
  assert_int_equal(ycfg_get_int(f.c, r, "s", 0, 1000, &i), PH_EPARSE);
  bool b;
  assert_int_equal(ycfg_get_bool(f.c, r, "b", &b), PH_EPARSE);
  double d = 0;
  assert_int_equal(ycfg_get_double(f.c, r, "f", &d), 0);
  assert_true(d == 3.0);
  /* The non-specific tag "!" makes a string. */
  assert_int_equal(ycfg_get_int(f.c, r, "q", 0, 1000, &i), PH_EPARSE);
  const char *s;
  assert_int_equal(ycfg_get_string(f.c, r, "q", &s), 0);
  assert_string_equal(s, "12");
  fx_close(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tree_shape),
      cmocka_unit_test(test_styles_and_tags),
      cmocka_unit_test(test_utf8),
      cmocka_unit_test(test_crlf_positions),
      cmocka_unit_test(test_empty_documents),
      cmocka_unit_test(test_multi_document),
      cmocka_unit_test(test_null_values),
      cmocka_unit_test(test_syntax_errors),
      cmocka_unit_test(test_error_buffer_truncation),
      cmocka_unit_test(test_aliases),
      cmocka_unit_test(test_billion_laughs),
      cmocka_unit_test(test_depth_limit),
      cmocka_unit_test(test_long_scalar),
      cmocka_unit_test(test_load_file),
      cmocka_unit_test(test_unknown_field),
      cmocka_unit_test(test_duplicate_field),
      cmocka_unit_test(test_check_map_kinds),
      cmocka_unit_test(test_get_string),
      cmocka_unit_test(test_get_bool),
      cmocka_unit_test(test_get_int),
      cmocka_unit_test(test_get_uint_double),
      cmocka_unit_test(test_get_duration),
      cmocka_unit_test(test_get_strings),
      cmocka_unit_test(test_get_string_map),
      cmocka_unit_test(test_config_loader),
      cmocka_unit_test(test_each_entry),
      cmocka_unit_test(test_errorf_and_paths),
      cmocka_unit_test(test_explicit_tags_typing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
