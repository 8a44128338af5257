/*
 * test_relabel.c - unit tests for collector/relabel: every action on the
 * kinds of rules Prometheus's documentation shows (own cases), Go's
 * $-expansion rules, full anchoring, RE2-only syntax, and every
 * validation error with the field it names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "labels.h"
#include "ph_error.h"
#include "relabel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---------------------------------------------------------- */

/* labels from "name", "value", ... NULL */
static labels_t *L(const char *first, ...) {
  label_t p[32];
  size_t n = 0;
  va_list ap;
  va_start(ap, first);
  for (const char *k = first; k != NULL && n < 32; k = va_arg(ap, const char *)) {
    p[n].name = k;
    p[n].value = va_arg(ap, const char *);
    n++;
  }
  va_end(ap);
  return labels_new(NULL, p, n, NULL, 0);
}

static relabel_rule_t *rule(const relabel_spec_t *sp) {
  relabel_rule_t *r = NULL;
  char err[256];
  const char *bad;
  int rc = relabel_rule_new(sp, &r, &bad, err, sizeof err);
  if (rc != 0) fail_msg("relabel_rule_new: %s", err);
  return r;
}

/* Applies one rule; returns the formatted result or "DROPPED". */
static char *apply1(const relabel_spec_t *sp, labels_t *in) {
  relabel_rule_t *r = rule(sp);
  labels_t *out;
  const relabel_rule_t *rs[1] = {r};
  bool keep = relabel_apply(rs, 1, in, &out);
  char *s;
  if (keep) {
    strbuf_t b = STRBUF_INIT;
    labels_format_braces(out, &b);
    s = strbuf_detach(&b, NULL);
    labels_free(out);
  } else {
    s = strdup("DROPPED");
  }
  relabel_rule_free(r);
  labels_free(in);
  return s;
}

#define assert_apply(spec, in, want)          \
  do {                                        \
    char *got_ = apply1((spec), (in));        \
    assert_string_equal(got_, (want));        \
    free(got_);                               \
  } while (0)

/* The error of an invalid spec, and the field named. */
static void expect_invalid(const relabel_spec_t *sp, const char *want_msg, const char *want_field) {
  relabel_rule_t *r = NULL;
  char err[256] = "";
  const char *bad = "unset";
  int rc = relabel_rule_new(sp, &r, &bad, err, sizeof err);
  assert_int_equal(rc, PH_EPARSE);
  assert_null(r);
  if (strstr(err, want_msg) == NULL) fail_msg("error \"%s\" lacks \"%s\"", err, want_msg);
  if (want_field == NULL) assert_null(bad);
  else assert_string_equal(bad, want_field);
}

#define SRC(...) (const char *const[]){__VA_ARGS__}, sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *), true

/* ---- replace ---------------------------------------------------------------- */

static void test_replace_default_regex_joins_sources(void **st) {
  (void)st;
  relabel_spec_t sp = {.source_labels = SRC("a", "b"), .target_label = "c"};
  assert_apply(&sp, L("a", "x", "b", "y", NULL), "{a=\"x\", b=\"y\", c=\"x;y\"}");
  /* a custom separator; a missing source label counts as "" */
  relabel_spec_t sp2 = {.source_labels = SRC("a", "missing", "b"), .separator = "-",
                        .target_label = "c"};
  assert_apply(&sp2, L("a", "x", "b", "y", NULL), "{a=\"x\", b=\"y\", c=\"x--y\"}");
}

static void test_replace_host_from_address(void **st) {
  (void)st;
  relabel_spec_t sp = {.source_labels = SRC("__address__"), .regex = "(.*):\\d+",
                       .target_label = "host", .replacement = "$1"};
  assert_apply(&sp, L("__address__", "node-a:9100", NULL),
               "{__address__=\"node-a:9100\", host=\"node-a\"}");
  /* no match (no port): nothing changes */
  assert_apply(&sp, L("__address__", "node-a", NULL), "{__address__=\"node-a\"}");
}

static void test_replace_rewrites_address(void **st) {
  (void)st;
  /* the classic "probe through a blackbox exporter" rules */
  relabel_spec_t a = {.source_labels = SRC("__address__"), .target_label = "__param_target"};
  relabel_spec_t b = {.source_labels = SRC("__param_target"), .target_label = "instance"};
  relabel_spec_t c = {.target_label = "__address__", .replacement = "127.0.0.1:9115"};
  relabel_rule_t *rs[3] = {rule(&a), rule(&b), rule(&c)};
  labels_t *in = L("__address__", "https://example.org", NULL);
  labels_t *out;
  assert_true(relabel_apply((const relabel_rule_t *const *)rs, 3, in, &out));
  assert_string_equal(labels_get(out, "__address__"), "127.0.0.1:9115");
  assert_string_equal(labels_get(out, "__param_target"), "https://example.org");
  assert_string_equal(labels_get(out, "instance"), "https://example.org");
  labels_free(out);
  labels_free(in);
  for (int i = 0; i < 3; i++) relabel_rule_free(rs[i]);
}

static void test_replace_empty_result_deletes(void **st) {
  (void)st;
  relabel_spec_t sp = {.source_labels = SRC("x"), .regex = "(a*)", .target_label = "y"};
  assert_apply(&sp, L("x", "bbb", "y", "old", NULL), "{x=\"bbb\", y=\"old\"}"); /* no match */
  relabel_spec_t sp2 = {.source_labels = SRC("x"), .regex = "b*()", .target_label = "y"};
  assert_apply(&sp2, L("x", "bbb", "y", "old", NULL), "{x=\"bbb\"}");
}

static void test_replace_expansion_rules(void **st) {
  (void)st;
  /* $1x names group "1x", which does not exist: "" -> the target is deleted */
  relabel_spec_t a = {.source_labels = SRC("v"), .regex = "(\\w+)-(\\w+)", .target_label = "t",
                      .replacement = "$1x"};
  assert_apply(&a, L("v", "foo-bar", "t", "old", NULL), "{v=\"foo-bar\"}");
  relabel_spec_t b = {.source_labels = SRC("v"), .regex = "(\\w+)-(\\w+)", .target_label = "t",
                      .replacement = "${1}x $2 $$ $ ${9}."};
  assert_apply(&b, L("v", "foo-bar", NULL), "{t=\"foox bar $ $ .\", v=\"foo-bar\"}");
  /* named groups, both spellings */
  relabel_spec_t c = {.source_labels = SRC("__address__"),
                      .regex = "(?P<host>[^:]+):(?P<port>\\d+)", .target_label = "hp",
                      .replacement = "${port}@$host"};
  assert_apply(&c, L("__address__", "db:5432", NULL), "{__address__=\"db:5432\", hp=\"5432@db\"}");
  /* $0 is the whole match; a leading zero is a name, not a number */
  relabel_spec_t d = {.source_labels = SRC("v"), .regex = "a(b)", .target_label = "t",
                      .replacement = "[$0][$01]"};
  assert_apply(&d, L("v", "ab", NULL), "{t=\"[ab][]\", v=\"ab\"}");
}

static void test_replace_target_from_group(void **st) {
  (void)st;
  relabel_spec_t sp = {.source_labels = SRC("__meta_name", "__meta_value"),
                       .regex = "(.+);(.+)", .target_label = "tag_${1}", .replacement = "$2"};
  assert_apply(&sp, L("__meta_name", "env", "__meta_value", "prod", NULL),
               "{__meta_name=\"env\", __meta_value=\"prod\", tag_env=\"prod\"}");
  /* an expanded name that is not a valid label name: nothing set */
  assert_apply(&sp, L("__meta_name", "a-b", "__meta_value", "x", NULL),
               "{__meta_name=\"a-b\", __meta_value=\"x\"}");
}

static void test_regex_is_fully_anchored(void **st) {
  (void)st;
  relabel_spec_t sp = {.source_labels = SRC("job"), .regex = "node", .action = "keep"};
  assert_apply(&sp, L("job", "node", NULL), "{job=\"node\"}");
  assert_apply(&sp, L("job", "node_exporter", NULL), "DROPPED");
  assert_apply(&sp, L("job", "my_node", NULL), "DROPPED");
  /* '.' matches newlines ((?s)); '$' only at the very end */
  relabel_spec_t nl = {.source_labels = SRC("v"), .regex = "a.b", .action = "keep"};
  assert_apply(&nl, L("v", "a\nb", NULL), "{v=\"a\\nb\"}");
  relabel_spec_t dl = {.source_labels = SRC("v"), .regex = "ab$", .action = "keep"};
  assert_apply(&dl, L("v", "ab\n", NULL), "DROPPED");
  /* alternation stays inside the anchors */
  relabel_spec_t alt = {.source_labels = SRC("v"), .regex = "a|b", .action = "keep"};
  assert_apply(&alt, L("v", "ab", NULL), "DROPPED");
  assert_apply(&alt, L("v", "b", NULL), "{v=\"b\"}");
}

/* ---- keep / drop / equal ------------------------------------------------------- */

static void test_keep_drop(void **st) {
  (void)st;
  relabel_spec_t keep = {.action = "keep", .source_labels = SRC("__meta_port"), .regex = "9100"};
  assert_apply(&keep, L("__meta_port", "9100", NULL), "{__meta_port=\"9100\"}");
  assert_apply(&keep, L("__meta_port", "80", NULL), "DROPPED");
  assert_apply(&keep, L("other", "x", NULL), "DROPPED"); /* "" does not match 9100 */
  relabel_spec_t drop = {.action = "drop", .source_labels = SRC("env", "team"),
                         .regex = "dev;.*"};
  assert_apply(&drop, L("env", "dev", "team", "a", NULL), "DROPPED");
  assert_apply(&drop, L("env", "prod", "team", "a", NULL), "{env=\"prod\", team=\"a\"}");
  /* action names are case-insensitive */
  relabel_spec_t up = {.action = "DROP", .source_labels = SRC("x"), .regex = "1"};
  assert_apply(&up, L("x", "1", NULL), "DROPPED");
}

static void test_keepequal_dropequal(void **st) {
  (void)st;
  relabel_spec_t ke = {.action = "keepequal", .source_labels = SRC("__meta_port"),
                       .target_label = "__meta_annotation_port"};
  assert_apply(&ke, L("__meta_port", "8080", "__meta_annotation_port", "8080", NULL),
               "{__meta_annotation_port=\"8080\", __meta_port=\"8080\"}");
  assert_apply(&ke, L("__meta_port", "8080", "__meta_annotation_port", "9090", NULL), "DROPPED");
  relabel_spec_t de = {.action = "dropequal", .source_labels = SRC("a"), .target_label = "b"};
  assert_apply(&de, L("a", "1", "b", "1", NULL), "DROPPED");
  assert_apply(&de, L("a", "1", "b", "2", NULL), "{a=\"1\", b=\"2\"}");
  assert_apply(&de, L("c", "1", NULL), "DROPPED"); /* "" == "" */
}

/* ---- hashmod ---------------------------------------------------------------------- */

static void test_hashmod(void **st) {
  (void)st;
  /* expected values: last 8 bytes of MD5, big endian, mod N (computed
   * independently) */
  relabel_spec_t sp = {.action = "hashmod", .source_labels = SRC("__address__"), .modulus = 8,
                       .target_label = "__tmp_hash"};
  assert_apply(&sp, L("__address__", "10.0.0.1:9100", NULL),
               "{__address__=\"10.0.0.1:9100\", __tmp_hash=\"5\"}");
  assert_apply(&sp, L("__address__", "node-a:9100", NULL),
               "{__address__=\"node-a:9100\", __tmp_hash=\"7\"}");
  relabel_spec_t big = {.action = "hashmod", .source_labels = SRC("__address__"),
                        .modulus = 1000, .target_label = "h"};
  assert_apply(&big, L("x", "y", NULL), "{h=\"958\", x=\"y\"}");
  /* sharding: hashmod then keep one shard */
  relabel_spec_t k = {.action = "keep", .source_labels = SRC("__tmp_hash"), .regex = "7"};
  relabel_rule_t *rs[2] = {rule(&sp), rule(&k)};
  labels_t *in = L("__address__", "node-a:9100", NULL), *out;
  assert_true(relabel_apply((const relabel_rule_t *const *)rs, 2, in, &out));
  labels_free(out);
  labels_free(in);
  in = L("__address__", "10.0.0.1:9100", NULL);
  assert_false(relabel_apply((const relabel_rule_t *const *)rs, 2, in, &out));
  assert_null(out);
  labels_free(in);
  relabel_rule_free(rs[0]);
  relabel_rule_free(rs[1]);
}

/* ---- label name actions ---------------------------------------------------------------- */

static void test_labelmap(void **st) {
  (void)st;
  relabel_spec_t sp = {.action = "labelmap", .regex = "__meta_node_label_(.+)"};
  assert_apply(&sp, L("__meta_node_label_zone", "eu", "__meta_node_label_rack", "r1", "job", "n",
                      NULL),
               "{__meta_node_label_rack=\"r1\", __meta_node_label_zone=\"eu\", job=\"n\", "
               "rack=\"r1\", zone=\"eu\"}");
  relabel_spec_t pre = {.action = "labelmap", .regex = "(.*)", .replacement = "copy_$1"};
  /* mapped labels are not mapped again within the same rule */
  assert_apply(&pre, L("a", "1", NULL), "{a=\"1\", copy_a=\"1\"}");
}

static void test_labeldrop_labelkeep(void **st) {
  (void)st;
  relabel_spec_t d = {.action = "labeldrop", .regex = "tmp_.*|pod_uid"};
  assert_apply(&d, L("tmp_a", "1", "tmp_b", "2", "pod_uid", "x", "job", "j", NULL), "{job=\"j\"}");
  relabel_spec_t k = {.action = "labelkeep", .regex = "__name__|job|instance"};
  assert_apply(&k, L("__name__", "up", "job", "j", "instance", "i", "extra", "e", NULL),
               "{__name__=\"up\", instance=\"i\", job=\"j\"}");
  /* the regex applies to whole names */
  relabel_spec_t d2 = {.action = "labeldrop", .regex = "job"};
  assert_apply(&d2, L("job", "j", "jobs", "k", NULL), "{jobs=\"k\"}");
}

static void test_lowercase_uppercase(void **st) {
  (void)st;
  relabel_spec_t lo = {.action = "lowercase", .source_labels = SRC("Host"),
                       .target_label = "host"};
  assert_apply(&lo, L("Host", "Web-01.EXAMPLE", NULL), "{Host=\"Web-01.EXAMPLE\", host=\"web-01.example\"}");
  relabel_spec_t up = {.action = "uppercase", .source_labels = SRC("a", "b"),
                       .target_label = "c"};
  assert_apply(&up, L("a", "x", "b", "y", NULL), "{a=\"x\", b=\"y\", c=\"X;Y\"}");
}

static void test_rules_in_order_and_empty(void **st) {
  (void)st;
  labels_t *in = L("a", "1", NULL), *out;
  assert_true(relabel_apply(NULL, 0, in, &out));
  assert_true(labels_equal(in, out));
  labels_free(out);
  labels_free(in);
  /* a later rule sees an earlier rule's result */
  relabel_spec_t s1 = {.source_labels = SRC("a"), .target_label = "b", .replacement = "v$1"};
  relabel_spec_t s2 = {.action = "drop", .source_labels = SRC("b"), .regex = "v1"};
  relabel_rule_t *rs[2] = {rule(&s1), rule(&s2)};
  in = L("a", "1", NULL);
  assert_false(relabel_apply((const relabel_rule_t *const *)rs, 2, in, &out));
  labels_free(in);
  in = L("a", "2", NULL);
  assert_true(relabel_apply((const relabel_rule_t *const *)rs, 2, in, &out));
  assert_string_equal(labels_get(out, "b"), "v2");
  labels_free(out);
  labels_free(in);
  relabel_rule_free(rs[0]);
  relabel_rule_free(rs[1]);
  assert_string_equal(relabel_action_name(RELABEL_LABELKEEP), "labelkeep");
}

/* ---- validation ------------------------------------------------------------------------- */

static void test_validation(void **st) {
  (void)st;
  expect_invalid(&(relabel_spec_t){.action = ""}, "relabel action cannot be empty", "action");
  expect_invalid(&(relabel_spec_t){.action = "rename"}, "unknown relabel action \"rename\"",
                 "action");
  expect_invalid(&(relabel_spec_t){.action = "hashmod", .target_label = "x"},
                 "relabel configuration for hashmod requires non-zero modulus", "modulus");
  expect_invalid(&(relabel_spec_t){.source_labels = SRC("a")},
                 "relabel configuration for replace action requires 'target_label' value",
                 "target_label");
  expect_invalid(&(relabel_spec_t){.action = "lowercase", .source_labels = SRC("a")},
                 "requires 'target_label' value", "target_label");
  expect_invalid(&(relabel_spec_t){.target_label = "1abc"},
                 "\"1abc\" is invalid 'target_label' for replace action", "target_label");
  expect_invalid(&(relabel_spec_t){.target_label = "a-b"}, "is invalid 'target_label'",
                 "target_label");
  expect_invalid(&(relabel_spec_t){.target_label = "x$"}, "is invalid 'target_label'",
                 "target_label");
  expect_invalid(&(relabel_spec_t){.action = "uppercase", .target_label = "${1}"},
                 "is invalid 'target_label' for uppercase action", "target_label");
  expect_invalid(&(relabel_spec_t){.action = "hashmod", .modulus = 2, .target_label = "a.b"},
                 "is invalid 'target_label' for hashmod action", "target_label");
  expect_invalid(&(relabel_spec_t){.action = "lowercase", .target_label = "a", .replacement = "x"},
                 "'replacement' can not be set for lowercase action", "replacement");
  expect_invalid(&(relabel_spec_t){.action = "labelmap", .replacement = "bad-name"},
                 "\"bad-name\" is invalid 'replacement' for labelmap action", "replacement");
  expect_invalid(&(relabel_spec_t){.action = "keepequal", .target_label = "a", .regex = "x"},
                 "keepequal action requires only 'source_labels' and `target_label`", NULL);
  expect_invalid(&(relabel_spec_t){.action = "dropequal", .target_label = "a", .separator = ","},
                 "dropequal action requires only", NULL);
  expect_invalid(&(relabel_spec_t){.action = "labeldrop", .source_labels = SRC("a")},
                 "labeldrop action requires only 'regex', and no other fields", NULL);
  expect_invalid(&(relabel_spec_t){.action = "labelkeep", .target_label = "a"},
                 "labelkeep action requires only 'regex'", NULL);
  expect_invalid(&(relabel_spec_t){.action = "labelkeep", .modulus = 3},
                 "labelkeep action requires only 'regex'", NULL);
  expect_invalid(&(relabel_spec_t){.source_labels = SRC("bad-name"), .target_label = "a"},
                 "\"bad-name\" is not a valid label name", "source_labels");
  expect_invalid(&(relabel_spec_t){.target_label = "a", .regex = "(unclosed"},
                 "error parsing regexp \"(unclosed\"", "regex");
  /* Perl-only syntax RE2 does not have */
  expect_invalid(&(relabel_spec_t){.target_label = "a", .regex = "(a)\\1"}, "backreferences",
                 "regex");
  expect_invalid(&(relabel_spec_t){.target_label = "a", .regex = "a(?=b)"}, "lookahead", "regex");
  /* valid edge cases */
  relabel_rule_t *r = rule(&(relabel_spec_t){.target_label = "${1}_x", .regex = "(a)"});
  assert_int_equal(relabel_rule_action(r), RELABEL_REPLACE);
  assert_true(relabel_rule_matches(r, "a"));
  assert_false(relabel_rule_matches(r, "aa"));
  relabel_rule_free(r);
  r = rule(&(relabel_spec_t){.action = "Labelmap", .regex = "x_(.*)", .replacement = "y_$1"});
  assert_int_equal(relabel_rule_action(r), RELABEL_LABELMAP);
  relabel_rule_free(r);
  r = rule(&(relabel_spec_t){.action = "keepequal", .source_labels = SRC("a"),
                             .target_label = "b", .regex = "(.*)", .replacement = "$1"});
  relabel_rule_free(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_replace_default_regex_joins_sources),
      cmocka_unit_test(test_replace_host_from_address),
      cmocka_unit_test(test_replace_rewrites_address),
      cmocka_unit_test(test_replace_empty_result_deletes),
      cmocka_unit_test(test_replace_expansion_rules),
      cmocka_unit_test(test_replace_target_from_group),
      cmocka_unit_test(test_regex_is_fully_anchored),
      cmocka_unit_test(test_keep_drop),
      cmocka_unit_test(test_keepequal_dropequal),
      cmocka_unit_test(test_hashmod),
      cmocka_unit_test(test_labelmap),
      cmocka_unit_test(test_labeldrop_labelkeep),
      cmocka_unit_test(test_lowercase_uppercase),
      cmocka_unit_test(test_rules_in_order_and_empty),
      cmocka_unit_test(test_validation),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
