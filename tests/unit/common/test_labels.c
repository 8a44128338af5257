/*
 * test_labels.c - unit tests for common/labels.c: label sets (copied and
 * interned), their hash and grouping hashes, ordering, text form, the
 * builder, name validity, and the symbol table's reference counting and
 * thread safety.
 *
 * Expected hashes are computed here independently from the definition in
 * labels.h (XXH3-64 over name 0xff value 0xff per pair, sorted by name).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "labels.h"
#include "strbuf.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define L(n, v) ((label_t){(n), (v)})
#define NPAIRS(a) (sizeof(a) / sizeof((a)[0]))

/* Reference hash: XXH3 over the concatenation, pairs in the given order. */
static uint64_t ref_hash(const label_t *p, size_t n) {
  strbuf_t b = STRBUF_INIT;
  for (size_t i = 0; i < n; i++) {
    strbuf_puts(&b, p[i].name);
    strbuf_putc(&b, (char)0xff);
    strbuf_puts(&b, p[i].value);
    strbuf_putc(&b, (char)0xff);
  }
  uint64_t h = XXH3_64bits(b.len ? b.data : "", b.len);
  strbuf_free(&b);
  return h;
}

static labels_t *mk(symtab_t *st, const label_t *p, size_t n) {
  char err[128] = "";
  labels_t *ls = labels_new(st, p, n, err, sizeof(err));
  if (ls == NULL) fail_msg("labels_new: %s", err);
  return ls;
}

/* Formats ls into a malloc'd string. */
static char *fmt(const labels_t *ls, bool braces) {
  strbuf_t b = STRBUF_INIT;
  if (braces)
    labels_format_braces(ls, &b);
  else
    labels_format(ls, &b);
  char *s = strdup(strbuf_cstr(&b));
  strbuf_free(&b);
  return s;
}

static void assert_fmt(const labels_t *ls, const char *want, const char *want_braces) {
  char *s = fmt(ls, false);
  assert_string_equal(s, want);
  free(s);
  if (want_braces != NULL) {
    s = fmt(ls, true);
    assert_string_equal(s, want_braces);
    free(s);
  }
}

static void test_empty(void **state) {
  (void)state;
  labels_t *e = labels_empty();
  labels_t *e2 = labels_new(NULL, NULL, 0, NULL, 0);
  assert_non_null(e2);
  assert_int_equal(labels_len(e), 0);
  assert_null(labels_get(e, "a"));
  assert_int_equal(labels_hash(e), XXH3_64bits("", 0));
  assert_int_equal(labels_hash(e), labels_hash(e2));
  assert_true(labels_equal(e, e2));
  assert_int_equal(labels_cmp(e, e2), 0);
  assert_int_equal(labels_hash_subset(e, NULL, 0, false), labels_hash(e));
  assert_int_equal(labels_hash_subset(e, NULL, 0, true), labels_hash(e));
  assert_true(labels_size(e) > 0);
  assert_fmt(e, "{}", "{}");
  labels_t *d = labels_dup(e);
  assert_true(labels_equal(d, e));
  labels_free(d);
  labels_free(e);
  labels_free(e2);
  labels_free(NULL);
}

static void test_one_label(void **state) {
  (void)state;
  label_t p[] = {L("job", "node")};
  labels_t *ls = mk(NULL, p, 1);
  assert_int_equal(labels_len(ls), 1);
  assert_string_equal(labels_at(ls, 0)->name, "job");
  assert_string_equal(labels_at(ls, 0)->value, "node");
  assert_string_equal(labels_get(ls, "job"), "node");
  assert_null(labels_get(ls, "jo"));
  assert_null(labels_get(ls, "jobs"));
  assert_int_equal(labels_hash(ls), ref_hash(p, 1));
  assert_fmt(ls, "{job=\"node\"}", "{job=\"node\"}");
  /* The set does not keep the caller's strings. */
  assert_ptr_not_equal(labels_at(ls, 0)->name, p[0].name);
  labels_free(ls);
}

static void test_many_labels(void **state) {
  (void)state;
  enum { N = 200 };
  static char names[N][16], values[N][16];
  label_t p[N];
  for (int i = 0; i < N; i++) {
    int k = (i * 7919) % N; /* a permutation: 7919 is prime, coprime to 200 */
    snprintf(names[i], sizeof(names[i]), "l%03d", k);
    snprintf(values[i], sizeof(values[i]), "v%d", k);
    p[i] = L(names[i], values[i]);
  }
  symtab_t *st = symtab_new();
  labels_t *a = mk(NULL, p, N);
  labels_t *b = mk(st, p, N);
  assert_int_equal(labels_len(a), N);
  for (size_t i = 0; i < N; i++) {
    char want[16];
    snprintf(want, sizeof(want), "l%03zu", i);
    assert_string_equal(labels_at(a, i)->name, want);
    assert_string_equal(labels_at(b, i)->name, want);
    snprintf(want, sizeof(want), "v%zu", i);
    assert_string_equal(labels_get(a, labels_at(a, i)->name), want);
    assert_string_equal(labels_get(b, labels_at(a, i)->name), want);
  }
  assert_null(labels_get(a, "l200"));
  assert_null(labels_get(a, "a"));
  assert_null(labels_get(a, "z"));
  assert_int_equal(symtab_count(st), 2 * N);
  assert_int_equal(labels_hash(a), labels_hash(b));
  assert_true(labels_equal(a, b));
  /* Interned sets hold no string copies. */
  assert_true(labels_size(b) < labels_size(a));
  labels_free(a);
  labels_free(b);
  assert_int_equal(symtab_count(st), 0);
  symtab_free(st);
}

static void test_unsorted(void **state) {
  (void)state;
  label_t p[] = {L("zone", "eu"), L("__name__", "up"), L("job", "node"),
                 L("instance", "h:9100"), L("Zeta", "1"), L("_a", "2")};
  labels_t *ls = mk(NULL, p, NPAIRS(p));
  const char *order[] = {"Zeta", "__name__", "_a", "instance", "job", "zone"};
  assert_int_equal(labels_len(ls), NPAIRS(order));
  for (size_t i = 0; i < NPAIRS(order); i++)
    assert_string_equal(labels_at(ls, i)->name, order[i]);
  label_t sorted[] = {L("Zeta", "1"), L("__name__", "up"), L("_a", "2"),
                      L("instance", "h:9100"), L("job", "node"), L("zone", "eu")};
  assert_int_equal(labels_hash(ls), ref_hash(sorted, NPAIRS(sorted)));
  labels_t *ls2 = mk(NULL, sorted, NPAIRS(sorted));
  assert_true(labels_equal(ls, ls2));
  labels_free(ls);
  labels_free(ls2);

  /* More than the insertion-sort threshold, in reverse order. */
  char nm[40][8];
  label_t q[40];
  for (int i = 0; i < 40; i++) {
    snprintf(nm[i], sizeof(nm[i]), "n%02d", 39 - i);
    q[i] = L(nm[i], "x");
  }
  ls = mk(NULL, q, 40);
  for (size_t i = 1; i < 40; i++)
    assert_true(strcmp(labels_at(ls, i - 1)->name, labels_at(ls, i)->name) < 0);
  labels_free(ls);
}

static void test_duplicate_rejected(void **state) {
  (void)state;
  char err[128] = "";
  label_t p[] = {L("job", "a"), L("instance", "i"), L("job", "b")};
  assert_null(labels_new(NULL, p, NPAIRS(p), err, sizeof(err)));
  assert_string_equal(err, "duplicate label name \"job\"");

  /* Interned: the failure leaves nothing behind in the table. */
  symtab_t *st = symtab_new();
  err[0] = '\0';
  assert_null(labels_new(st, p, NPAIRS(p), err, sizeof(err)));
  assert_string_equal(err, "duplicate label name \"job\"");
  assert_int_equal(symtab_count(st), 0);
  symtab_free(st);

  /* Same name and value twice is still a duplicate. */
  label_t q[] = {L("a", "1"), L("a", "1")};
  assert_null(labels_new(NULL, q, 2, err, sizeof(err)));
  assert_string_equal(err, "duplicate label name \"a\"");

  /* NULL err buffer is fine. */
  assert_null(labels_new(NULL, q, 2, NULL, 0));

  /* A pair with an empty value is dropped first, so it is no duplicate. */
  label_t r[] = {L("a", "1"), L("a", "")};
  labels_t *ls = mk(NULL, r, 2);
  assert_int_equal(labels_len(ls), 1);
  assert_string_equal(labels_get(ls, "a"), "1");
  labels_free(ls);
}

static void test_empty_name_rejected(void **state) {
  (void)state;
  char err[128] = "";
  label_t p[] = {L("job", "a"), L("", "x")};
  assert_null(labels_new(NULL, p, NPAIRS(p), err, sizeof(err)));
  assert_non_null(strstr(err, "empty label name"));
  label_t q[] = {L(NULL, "x")};
  err[0] = '\0';
  assert_null(labels_new(NULL, q, 1, err, sizeof(err)));
  assert_non_null(strstr(err, "empty label name"));
  /* An empty name with an empty value is an absent pair. */
  label_t r[] = {L("", ""), L("a", "b")};
  labels_t *ls = mk(NULL, r, 2);
  assert_int_equal(labels_len(ls), 1);
  labels_free(ls);
}

static void test_empty_value_dropped(void **state) {
  (void)state;
  label_t p[] = {L("a", "1"), L("b", ""), L("c", NULL), L("d", "4")};
  label_t q[] = {L("d", "4"), L("a", "1")};
  labels_t *x = mk(NULL, p, NPAIRS(p));
  labels_t *y = mk(NULL, q, NPAIRS(q));
  assert_int_equal(labels_len(x), 2);
  assert_null(labels_get(x, "b"));
  assert_null(labels_get(x, "c"));
  assert_true(labels_equal(x, y));
  assert_int_equal(labels_hash(x), labels_hash(y));
  label_t all_empty[] = {L("a", ""), L("b", "")};
  labels_t *z = mk(NULL, all_empty, 2);
  labels_t *e = labels_empty();
  assert_int_equal(labels_len(z), 0);
  assert_true(labels_equal(z, e));
  labels_free(x);
  labels_free(y);
  labels_free(z);
  labels_free(e);
}

static void test_long_values(void **state) {
  (void)state;
  size_t n = 1 << 20;
  char *big = malloc(n + 1);
  assert_non_null(big);
  for (size_t i = 0; i < n; i++) big[i] = (char)('a' + i % 26);
  big[n] = '\0';
  label_t p[] = {L("__name__", "blob"), L("data", big), L("z", "end")};
  symtab_t *st = symtab_new();
  labels_t *a = mk(NULL, p, NPAIRS(p));
  labels_t *b = mk(st, p, NPAIRS(p));
  labels_builder_t *bld = labels_builder_new();
  labels_builder_set(bld, "z", "end");
  labels_builder_set(bld, "data", big);
  labels_builder_set(bld, "__name__", "blob");
  labels_t *c = labels_builder_finish(bld, NULL);
  uint64_t want = ref_hash(p, NPAIRS(p));
  assert_int_equal(labels_hash(a), want);
  assert_int_equal(labels_hash(b), want);
  assert_int_equal(labels_hash(c), want);
  assert_true(labels_equal(a, b));
  assert_true(labels_equal(a, c));
  assert_true(labels_size(a) > n);
  assert_true(symtab_bytes(st) > n);

  /* Grouping hash over the long pair goes through the streaming path. */
  const char *by[] = {"data"};
  assert_int_equal(labels_hash_subset(a, by, 1, false), ref_hash(&p[1], 1));
  assert_int_equal(labels_hash_subset(a, by, 1, true), ref_hash(&p[2], 1));

  /* A change in the last byte changes the hash. */
  big[n - 1] = '#';
  labels_t *d = mk(NULL, p, NPAIRS(p));
  assert_int_not_equal(labels_hash(d), want);
  assert_int_equal(labels_hash(d), ref_hash(p, NPAIRS(p)));
  assert_false(labels_equal(a, d));

  strbuf_t sb = STRBUF_INIT;
  labels_format(a, &sb);
  assert_int_equal(sb.len, strlen("blob{data=\"\", z=\"end\"}") + n);
  assert_memory_equal(sb.data, "blob{data=\"abcdef", 17);
  strbuf_free(&sb);

  labels_free(a);
  labels_free(b);
  labels_free(c);
  labels_free(d);
  labels_builder_free(bld);
  assert_int_equal(symtab_count(st), 0);
  symtab_free(st);
  free(big);
}

static void test_utf8(void **state) {
  (void)state;
  label_t p[] = {L("city", "Zürich"), L("jp", "日本語"), L("emoji", "🦆"),
                 L("nbsp", "a\xc2\xa0" "b"), L("zwsp", "x\xe2\x80\x8by"),
                 L("bad", "\xff\xfe"), L("trunc", "\xe6\x97"),
                 L("priv", "\xee\x80\x80"), L("priv16", "\xf4\x8f\xbf\xbd"),
                 L("overlong", "\xc0\xaf"), L("surrogate", "\xed\xa0\x80"),
                 L("nonchar", "\xef\xbf\xbe"), L("repl", "\xef\xbf\xbd"),
                 L("shy", "\xc2\xad"), L("bom", "\xef\xbb\xbf"),
                 L("c1", "\xc2\x85"), L("ideo", "\xe3\x80\x80")};
  symtab_t *st = symtab_new();
  labels_t *ls = mk(NULL, p, NPAIRS(p));
  labels_t *li = mk(st, p, NPAIRS(p));
  assert_true(labels_equal(ls, li));
  assert_string_equal(labels_get(ls, "jp"), "日本語");
  assert_fmt(ls,
             "{bad=\"\\xff\\xfe\", bom=\"\\ufeff\", c1=\"\\u0085\", "
             "city=\"Zürich\", emoji=\"🦆\", ideo=\"\\u3000\", "
             "jp=\"日本語\", nbsp=\"a\\u00a0b\", nonchar=\"\\ufffe\", "
             "overlong=\"\\xc0\\xaf\", priv=\"\\ue000\", "
             "priv16=\"\\U0010fffd\", repl=\"\uFFFD\", shy=\"\\u00ad\", "
             "surrogate=\"\\xed\\xa0\\x80\", trunc=\"\\xe6\\x97\", "
             "zwsp=\"x\\u200by\"}",
             NULL);
  labels_free(ls);
  labels_free(li);
  symtab_free(st);
}

static void test_format(void **state) {
  (void)state;
  /* Escapes as Go's %q. */
  label_t p[] = {L("__name__", "http_requests_total"),
                 L("path", "a\"b\\c\nd\te"), L("ctl", "\x01\x7f\r\a\b\f\v"),
                 L("code", "200")};
  labels_t *ls = mk(NULL, p, NPAIRS(p));
  assert_fmt(ls,
             "http_requests_total{code=\"200\", ctl=\"\\x01\\x7f\\r\\a\\b\\f\\v\", "
             "path=\"a\\\"b\\\\c\\nd\\te\"}",
             "{__name__=\"http_requests_total\", code=\"200\", "
             "ctl=\"\\x01\\x7f\\r\\a\\b\\f\\v\", path=\"a\\\"b\\\\c\\nd\\te\"}");
  labels_free(ls);

  /* Only a name. */
  label_t q[] = {L("__name__", "up")};
  ls = mk(NULL, q, 1);
  assert_fmt(ls, "up", "{__name__=\"up\"}");
  labels_free(ls);

  /* No name; labels that sort before __name__. */
  label_t r[] = {L("B", "2"), L("a", "1")};
  ls = mk(NULL, r, 2);
  assert_fmt(ls, "{B=\"2\", a=\"1\"}", "{B=\"2\", a=\"1\"}");
  labels_free(ls);
  label_t r2[] = {L("B", "2"), L("__name__", "m:rate5m")};
  ls = mk(NULL, r2, 2);
  assert_fmt(ls, "m:rate5m{B=\"2\"}", "{B=\"2\", __name__=\"m:rate5m\"}");
  labels_free(ls);

  /* Names outside the legacy character set are quoted. */
  label_t s[] = {L("__name__", "my.metric"), L("a.b", "1"), L("c", "2")};
  ls = mk(NULL, s, NPAIRS(s));
  assert_fmt(ls, "{\"my.metric\", \"a.b\"=\"1\", c=\"2\"}",
             "{__name__=\"my.metric\", \"a.b\"=\"1\", c=\"2\"}");
  labels_free(ls);
  label_t t[] = {L("__name__", "1up")};
  ls = mk(NULL, t, 1);
  assert_fmt(ls, "{\"1up\"}", NULL);
  labels_free(ls);

  /* Appends to what is already in the buffer. */
  label_t u[] = {L("a", "b")};
  ls = mk(NULL, u, 1);
  strbuf_t sb = STRBUF_INIT;
  strbuf_puts(&sb, "x=");
  labels_format(ls, &sb);
  assert_string_equal(strbuf_cstr(&sb), "x={a=\"b\"}");
  strbuf_free(&sb);
  labels_free(ls);
}

static void test_hash_ways(void **state) {
  (void)state;
  label_t p[] = {L("job", "node"), L("__name__", "up"), L("instance", "h:1")};
  symtab_t *st1 = symtab_new(), *st2 = symtab_new();
  labels_t *a = mk(NULL, p, NPAIRS(p));
  labels_t *b = mk(st1, p, NPAIRS(p));
  labels_t *c = mk(st2, p, NPAIRS(p));

  labels_builder_t *bld = labels_builder_new();
  labels_builder_set(bld, "instance", "h:1");
  labels_builder_set(bld, "__name__", "up");
  labels_builder_set(bld, "job", "node");
  labels_t *d = labels_builder_finish(bld, NULL);
  labels_t *e = labels_builder_finish(bld, st1);
  labels_t *f = labels_dup(a);
  labels_t *g = labels_dup(b);

  labels_t *all[] = {a, b, c, d, e, f, g};
  for (size_t i = 0; i < NPAIRS(all); i++) {
    assert_int_equal(labels_hash(all[i]), labels_hash(a));
    assert_true(labels_equal(all[i], a));
    assert_true(labels_equal(a, all[i]));
    assert_int_equal(labels_cmp(all[i], a), 0);
    assert_int_equal(labels_size(all[i]) == labels_size(a), i == 3 || i == 5 || i == 0);
  }
  /* Interned strings are shared. */
  assert_ptr_equal(labels_get(b, "job"), labels_get(e, "job"));
  assert_ptr_equal(labels_get(b, "job"), labels_get(g, "job"));
  assert_int_equal(symtab_count(st1), 6);

  labels_free(a); /* the copy outlives its original */
  assert_string_equal(labels_get(f, "instance"), "h:1");
  labels_free(b);
  labels_free(e);
  assert_int_equal(symtab_count(st1), 6); /* g still holds them */
  assert_string_equal(labels_get(g, "__name__"), "up");
  labels_free(g);
  assert_int_equal(symtab_count(st1), 0);
  labels_free(c);
  labels_free(d);
  labels_free(f);
  labels_builder_free(bld);
  symtab_free(st1);
  symtab_free(st2);
}

static void test_equal(void **state) {
  (void)state;
  label_t p[] = {L("a", "1"), L("b", "2")};
  label_t q[] = {L("a", "1"), L("b", "3")};
  label_t r[] = {L("a", "1"), L("c", "2")};
  label_t s[] = {L("a", "1")};
  labels_t *x = mk(NULL, p, 2), *y = mk(NULL, q, 2), *z = mk(NULL, r, 2),
           *w = mk(NULL, s, 1);
  assert_true(labels_equal(x, x));
  assert_false(labels_equal(x, y));
  assert_false(labels_equal(x, z));
  assert_false(labels_equal(x, w));
  assert_int_not_equal(labels_hash(x), labels_hash(y));
  /* The separators keep {a="1b"} and {a1="b"} apart. */
  label_t t1[] = {L("a", "1b")}, t2[] = {L("a1", "b")};
  labels_t *u = mk(NULL, t1, 1), *v = mk(NULL, t2, 1);
  assert_int_not_equal(labels_hash(u), labels_hash(v));
  assert_false(labels_equal(u, v));
  labels_free(x);
  labels_free(y);
  labels_free(z);
  labels_free(w);
  labels_free(u);
  labels_free(v);
}

static void test_hash_subset(void **state) {
  (void)state;
  label_t p[] = {L("__name__", "http_requests_total"), L("job", "api"),
                 L("instance", "h:1"), L("code", "200"), L("method", "GET")};
  symtab_t *st = symtab_new();
  labels_t *ls = mk(NULL, p, NPAIRS(p));
  labels_t *li = mk(st, p, NPAIRS(p));

  /* by (job, instance): order and repeats do not matter; absent skipped. */
  const char *by1[] = {"job", "instance"};
  const char *by2[] = {"instance", "job"};
  const char *by3[] = {"nope", "job", "instance", "job", "zzz"};
  label_t want_by[] = {L("instance", "h:1"), L("job", "api")};
  uint64_t h = labels_hash_subset(ls, by1, 2, false);
  assert_int_equal(h, ref_hash(want_by, 2));
  assert_int_equal(labels_hash_subset(ls, by2, 2, false), h);
  assert_int_equal(labels_hash_subset(ls, by3, 5, false), h);
  assert_int_equal(labels_hash_subset(li, by2, 2, false), h);
  labels_t *sub = mk(NULL, want_by, 2);
  assert_int_equal(labels_hash(sub), h);
  labels_free(sub);
  /* A set lacking some of the names groups with the present ones only. */
  label_t p2[] = {L("job", "api"), L("instance", "h:1"), L("zone", "x")};
  labels_t *other = mk(NULL, p2, NPAIRS(p2));
  assert_int_equal(labels_hash_subset(other, by3, 5, false), h);
  labels_free(other);

  /* by (__name__) keeps the name; by () is the empty group. */
  const char *byname[] = {"__name__"};
  assert_int_equal(labels_hash_subset(ls, byname, 1, false), ref_hash(&p[0], 1));
  assert_int_equal(labels_hash_subset(ls, NULL, 0, false), XXH3_64bits("", 0));

  /* without (code, method) drops those and __name__. */
  const char *wo1[] = {"method", "code"};
  const char *wo2[] = {"code", "method", "absent"};
  uint64_t hw = labels_hash_subset(ls, wo1, 2, true);
  assert_int_equal(hw, ref_hash(want_by, 2));
  assert_int_equal(labels_hash_subset(ls, wo2, 3, true), hw);
  assert_int_equal(labels_hash_subset(li, wo2, 3, true), hw);
  /* without () drops only __name__; listing __name__ changes nothing. */
  label_t rest[] = {L("code", "200"), L("instance", "h:1"), L("job", "api"),
                    L("method", "GET")};
  assert_int_equal(labels_hash_subset(ls, NULL, 0, true), ref_hash(rest, 4));
  assert_int_equal(labels_hash_subset(ls, byname, 1, true), ref_hash(rest, 4));
  /* Sets differing only in __name__ group together under without. */
  label_t p3[] = {L("__name__", "other"), L("job", "api"), L("instance", "h:1"),
                  L("code", "500"), L("method", "GET")};
  labels_t *ls3 = mk(NULL, p3, NPAIRS(p3));
  assert_int_equal(labels_hash_subset(ls3, wo1, 2, true), hw);
  assert_int_not_equal(labels_hash_subset(ls3, NULL, 0, true),
                       labels_hash_subset(ls, NULL, 0, true));
  /* by all names equals the full hash. */
  const char *allnames[] = {"method", "code", "job", "instance", "__name__"};
  assert_int_equal(labels_hash_subset(ls, allnames, 5, false), labels_hash(ls));
  labels_free(ls3);

  /* A set above the stack bitmap (600 pairs). */
  enum { N = 600 };
  static char names[N][8];
  label_t big[N];
  for (int i = 0; i < N; i++) {
    snprintf(names[i], sizeof(names[i]), "n%03d", i);
    big[i] = L(names[i], "v");
  }
  labels_t *lb = mk(NULL, big, N);
  const char *pick[] = {"n599", "n000", "n300"};
  label_t picked[] = {big[0], big[300], big[599]};
  assert_int_equal(labels_hash_subset(lb, pick, 3, false), ref_hash(picked, 3));
  assert_int_equal(labels_hash_subset(lb, NULL, 0, true), labels_hash(lb));
  label_t rest_big[N - 3];
  size_t nr = 0;
  for (int i = 0; i < N; i++)
    if (i != 0 && i != 300 && i != 599) rest_big[nr++] = big[i];
  assert_int_equal(labels_hash_subset(lb, pick, 3, true), ref_hash(rest_big, nr));
  labels_free(lb);

  labels_free(ls);
  labels_free(li);
  symtab_free(st);
}

static void test_cmp(void **state) {
  (void)state;
  struct {
    label_t a[3];
    size_t na;
    label_t b[3];
    size_t nb;
    int want;
  } cases[] = {
      {{{0}}, 0, {{0}}, 0, 0},
      {{{0}}, 0, {L("a", "1")}, 1, -1},
      {{L("a", "1")}, 1, {L("a", "1")}, 1, 0},
      {{L("a", "1")}, 1, {L("a", "2")}, 1, -1},
      {{L("a", "2")}, 1, {L("a", "10")}, 1, 1}, /* byte order, not numeric */
      {{L("a", "1")}, 1, {L("a", "1"), L("b", "1")}, 2, -1},
      {{L("a", "2")}, 1, {L("a", "1"), L("b", "1")}, 2, 1},
      {{L("a", "1"), L("b", "1")}, 2, {L("a", "1"), L("c", "1")}, 2, -1},
      {{L("a", "1"), L("c", "0")}, 2, {L("b", "0")}, 1, -1},
      {{L("B", "1")}, 1, {L("a", "1")}, 1, -1}, /* upper case first */
      {{L("a", "1"), L("b", "2"), L("c", "3")}, 3,
       {L("a", "1"), L("b", "2"), L("c", "3")}, 3, 0},
      {{L("a", "1"), L("b", "2"), L("c", "4")}, 3,
       {L("a", "1"), L("b", "2"), L("c", "3")}, 3, 1},
      {{L("a", "\xc3\xa9")}, 1, {L("a", "z")}, 1, 1}, /* unsigned bytes */
  };
  for (size_t i = 0; i < NPAIRS(cases); i++) {
    labels_t *a = mk(NULL, cases[i].a, cases[i].na);
    labels_t *b = mk(NULL, cases[i].b, cases[i].nb);
    int c = labels_cmp(a, b);
    int r = labels_cmp(b, a);
    if (c != cases[i].want || r != -cases[i].want)
      fail_msg("case %zu: cmp %d / %d, want %d", i, c, r, cases[i].want);
    assert_int_equal(labels_equal(a, b), cases[i].want == 0);
    labels_free(a);
    labels_free(b);
  }
}

static void test_builder(void **state) {
  (void)state;
  labels_builder_t *b = labels_builder_new();
  labels_t *e = labels_builder_finish(b, NULL);
  assert_int_equal(labels_len(e), 0);
  labels_free(e);

  label_t p[] = {L("__name__", "up"), L("job", "node"), L("instance", "h:1")};
  labels_t *base = mk(NULL, p, NPAIRS(p));
  labels_builder_reset(b, base);
  assert_string_equal(labels_builder_get(b, "job"), "node");
  assert_null(labels_builder_get(b, "zone"));
  labels_builder_set(b, "job", "prom");   /* overrides the base */
  labels_builder_set(b, "zone", "eu");    /* adds */
  labels_builder_set(b, "a", "first");    /* adds in front */
  labels_builder_del(b, "instance");      /* deletes from base */
  labels_builder_del(b, "missing");       /* no-op */
  labels_builder_set(b, "", "ignored");   /* empty name ignored */
  assert_string_equal(labels_builder_get(b, "job"), "prom");
  assert_null(labels_builder_get(b, "instance"));

  labels_t *r1 = labels_builder_finish(b, NULL);
  label_t want1[] = {L("__name__", "up"), L("a", "first"), L("job", "prom"),
                     L("zone", "eu")};
  labels_t *w1 = mk(NULL, want1, NPAIRS(want1));
  assert_true(labels_equal(r1, w1));
  assert_int_equal(labels_hash(r1), ref_hash(want1, NPAIRS(want1)));
  /* The base is unchanged. */
  assert_string_equal(labels_get(base, "job"), "node");
  assert_string_equal(labels_get(base, "instance"), "h:1");

  /* Still usable after finish: empty value deletes, re-set works. */
  labels_builder_set(b, "a", "");
  labels_builder_set(b, "zone", NULL);
  labels_builder_set(b, "instance", "h:2");
  labels_builder_set(b, "job", "prom"); /* same value */
  labels_t *r2 = labels_builder_finish(b, NULL);
  label_t want2[] = {L("__name__", "up"), L("instance", "h:2"), L("job", "prom")};
  labels_t *w2 = mk(NULL, want2, NPAIRS(want2));
  assert_true(labels_equal(r2, w2));
  /* The first result is independent of later changes. */
  assert_true(labels_equal(r1, w1));

  /* Interned finish. */
  symtab_t *st = symtab_new();
  labels_t *r3 = labels_builder_finish(b, st);
  assert_true(labels_equal(r3, w2));
  assert_int_equal(symtab_count(st), 6);

  /* Reset to empty; the set values stay valid across the builder's reset. */
  labels_builder_reset(b, NULL);
  assert_null(labels_builder_get(b, "job"));
  labels_builder_set(b, "x", "y");
  labels_t *r4 = labels_builder_finish(b, NULL);
  assert_int_equal(labels_len(r4), 1);
  assert_string_equal(labels_get(r2, "instance"), "h:2");

  /* Many sets without reset, in descending order. */
  labels_builder_reset(b, NULL);
  for (int i = 99; i >= 0; i--) {
    char n[8], v[8];
    snprintf(n, sizeof(n), "k%02d", i);
    snprintf(v, sizeof(v), "%d", i);
    labels_builder_set(b, n, v);
  }
  labels_t *r5 = labels_builder_finish(b, NULL);
  assert_int_equal(labels_len(r5), 100);
  assert_string_equal(labels_at(r5, 0)->name, "k00");
  assert_string_equal(labels_get(r5, "k42"), "42");

  labels_free(base);
  labels_free(r1);
  labels_free(r2);
  labels_free(r3);
  labels_free(r4);
  labels_free(r5);
  labels_free(w1);
  labels_free(w2);
  labels_builder_free(b);
  labels_builder_free(NULL);
  assert_int_equal(symtab_count(st), 0);
  symtab_free(st);
}

static void test_valid_names(void **state) {
  (void)state;
  struct {
    const char *s;
    bool label, metric;
  } cases[] = {
      {"a", true, true},          {"_", true, true},
      {"__name__", true, true},   {"job_1", true, true},
      {"Abc_XYZ09", true, true},  {"", false, false},
      {"1a", false, false},       {"a:b", false, true},
      {":a", false, true},        {"a-b", false, false},
      {"a.b", false, false},      {"a b", false, false},
      {"é", false, false},        {"a\xc3\xa9", false, false},
      {"9", false, false},        {":", false, true},
  };
  for (size_t i = 0; i < NPAIRS(cases); i++) {
    size_t n = strlen(cases[i].s);
    if (labels_valid_name(cases[i].s, n) != cases[i].label ||
        labels_valid_metric_name(cases[i].s, n) != cases[i].metric)
      fail_msg("case \"%s\"", cases[i].s);
  }
  /* Length is honoured, not the NUL. */
  assert_true(labels_valid_name("ab-c", 2));
  assert_false(labels_valid_name("ab-c", 3));
  assert_false(labels_valid_name("abc", 0));
}

static void test_symtab_refcount(void **state) {
  (void)state;
  symtab_t *st = symtab_new();
  assert_int_equal(symtab_count(st), 0);
  const char *a = symtab_intern(st, "hello", 5);
  const char *b = symtab_intern(st, "hello world", 5); /* same prefix */
  assert_ptr_equal(a, b);
  assert_string_equal(a, "hello");
  assert_int_equal(symtab_count(st), 1);
  assert_int_equal(symtab_bytes(st), 5);
  const char *c = symtab_intern(st, "hell", 4);
  assert_ptr_not_equal(a, c);
  assert_int_equal(symtab_count(st), 2);
  assert_int_equal(symtab_bytes(st), 9);
  /* Empty string and embedded NUL are distinct entries. */
  const char *e = symtab_intern(st, "", 0);
  const char *z = symtab_intern(st, "a\0b", 3);
  assert_string_equal(e, "");
  assert_memory_equal(z, "a\0b", 4);
  assert_int_equal(symtab_count(st), 4);
  assert_ptr_equal(symtab_ref(st, a), a);

  symtab_release(st, a);
  symtab_release(st, b);
  assert_int_equal(symtab_count(st), 4); /* symtab_ref's reference */
  symtab_release(st, a);
  assert_int_equal(symtab_count(st), 3);
  assert_int_equal(symtab_bytes(st), 7);
  symtab_release(st, c);
  symtab_release(st, e);
  symtab_release(st, z);
  symtab_release(st, NULL);
  assert_int_equal(symtab_count(st), 0);
  assert_int_equal(symtab_bytes(st), 0);
  /* Re-interning after removal works. */
  a = symtab_intern(st, "hello", 5);
  assert_string_equal(a, "hello");
  symtab_release(st, a);
  assert_int_equal(symtab_count(st), 0);
  symtab_free(st);
  symtab_free(NULL);

  /* Freeing the table with strings still held frees them too. */
  st = symtab_new();
  symtab_intern(st, "leftover", 8);
  symtab_free(st);
}

/* Many distinct strings: growth and removal (backward shift) keep every
 * other entry reachable. */
static void test_symtab_many(void **state) {
  (void)state;
  enum { N = 20000 };
  symtab_t *st = symtab_new();
  const char **ptr = malloc(N * sizeof(*ptr));
  assert_non_null(ptr);
  char buf[32];
  for (int i = 0; i < N; i++) {
    int n = snprintf(buf, sizeof(buf), "s%d", i);
    ptr[i] = symtab_intern(st, buf, (size_t)n);
  }
  assert_int_equal(symtab_count(st), N);
  /* Release every third one, then check the rest still intern to the same
   * pointers (and take a second reference). */
  for (int i = 0; i < N; i += 3) symtab_release(st, ptr[i]);
  assert_int_equal(symtab_count(st), N - (N + 2) / 3);
  for (int i = 0; i < N; i++) {
    if (i % 3 == 0) continue;
    int n = snprintf(buf, sizeof(buf), "s%d", i);
    const char *p = symtab_intern(st, buf, (size_t)n);
    if (p != ptr[i]) fail_msg("lost s%d", i);
  }
  for (int i = 0; i < N; i++) {
    if (i % 3 == 0) continue;
    symtab_release(st, ptr[i]);
    symtab_release(st, ptr[i]);
  }
  assert_int_equal(symtab_count(st), 0);
  assert_int_equal(symtab_bytes(st), 0);
  free(ptr);
  symtab_free(st);
}

enum { THREADS = 4, ITERS = 100000, NSTR = 8, WINDOW = 5 };
static const char *const shared_strs[NSTR] = {
    "job", "instance", "node", "__name__", "up", "h:9100", "zone", "eu"};

typedef struct {
  symtab_t *st;
  int id;
  int bad;
} worker_t;

static void *worker(void *arg) {
  worker_t *w = arg;
  const char *held[WINDOW] = {0};
  for (int i = 0; i < ITERS; i++) {
    const char *s = shared_strs[(size_t)(i * 5 + w->id) % NSTR];
    const char *p = symtab_intern(w->st, s, strlen(s));
    if (strcmp(p, s) != 0) w->bad++;
    int slot = i % WINDOW;
    if (held[slot] != NULL) symtab_release(w->st, held[slot]);
    held[slot] = p;
    if (i % 1000 == 0) {
      /* Sets built, duplicated and freed concurrently too. */
      label_t pr[] = {L("job", "node"), L("instance", s)};
      labels_t *ls = labels_new(w->st, pr, 2, NULL, 0);
      labels_t *d = labels_dup(ls);
      if (!labels_equal(ls, d)) w->bad++;
      labels_free(ls);
      labels_free(d);
    }
  }
  for (int k = 0; k < WINDOW; k++) symtab_release(w->st, held[k]);
  return NULL;
}

static void test_symtab_threads(void **state) {
  (void)state;
  symtab_t *st = symtab_new();
  pthread_t th[THREADS];
  worker_t w[THREADS];
  for (int i = 0; i < THREADS; i++) {
    w[i] = (worker_t){st, i, 0};
    assert_int_equal(pthread_create(&th[i], NULL, worker, &w[i]), 0);
  }
  for (int i = 0; i < THREADS; i++) {
    assert_int_equal(pthread_join(th[i], NULL), 0);
    assert_int_equal(w[i].bad, 0);
  }
  assert_int_equal(symtab_count(st), 0);
  assert_int_equal(symtab_bytes(st), 0);
  symtab_free(st);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_empty),
      cmocka_unit_test(test_one_label),
      cmocka_unit_test(test_many_labels),
      cmocka_unit_test(test_unsorted),
      cmocka_unit_test(test_duplicate_rejected),
      cmocka_unit_test(test_empty_name_rejected),
      cmocka_unit_test(test_empty_value_dropped),
      cmocka_unit_test(test_long_values),
      cmocka_unit_test(test_utf8),
      cmocka_unit_test(test_format),
      cmocka_unit_test(test_hash_ways),
      cmocka_unit_test(test_equal),
      cmocka_unit_test(test_hash_subset),
      cmocka_unit_test(test_cmp),
      cmocka_unit_test(test_builder),
      cmocka_unit_test(test_valid_names),
      cmocka_unit_test(test_symtab_refcount),
      cmocka_unit_test(test_symtab_many),
      cmocka_unit_test(test_symtab_threads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
