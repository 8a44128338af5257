/*
 * labels.h - label sets: immutable, sorted by name, hashed with xxHash64.
 *
 * A labels_t is one allocation holding a sorted array of (name, value)
 * pairs.  Its strings are either copied into the same allocation, or, when
 * built against a symtab_t, interned: pointers into the symbol table, whose
 * reference counts the set holds until labels_free().  Either way a set is
 * immutable after creation and safe to share read-only between threads.
 *
 * Rules as in Prometheus: names sorted by byte order; a name may appear
 * once; a pair with an empty value is the same as no pair (it is dropped);
 * __name__ is an ordinary label.  The hash covers name, 0xff, value, 0xff
 * for each pair in order, so equal sets hash equally whatever way they were
 * built; equality is hash then content.
 */
#ifndef PH_LABELS_H
#define PH_LABELS_H

#include "strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct label {
  const char *name;  /* NUL-terminated; valid while the owning set lives */
  const char *value;
} label_t;

/* Interning table: thread-safe, reference-counted strings.  Owned by its
 * creator; every set interned in it must be freed before symtab_free(). */
typedef struct symtab symtab_t;

symtab_t *symtab_new(void);
void symtab_free(symtab_t *st);
/* Returns the interned copy of s[0..len) and takes a reference to it. */
const char *symtab_intern(symtab_t *st, const char *s, size_t len);
/* Takes one more reference to a string the caller already holds a
 * reference to (lock-free); returns interned. */
const char *symtab_ref(symtab_t *st, const char *interned);
/* Drops a reference taken by symtab_intern or symtab_ref; the string is
 * freed at zero.  NULL is ignored. */
void symtab_release(symtab_t *st, const char *interned);
size_t symtab_count(symtab_t *st);  /* distinct strings held */
size_t symtab_bytes(symtab_t *st);  /* bytes of string data held (sum of
                                       lengths, without entry overhead) */

/* An immutable label set; owned by whoever created or duplicated it. */
typedef struct labels labels_t;

/* Builds a set from n pairs in any order.  Pairs with an empty (or NULL)
 * value are dropped first.  A duplicate or empty name among the rest fails:
 * returns NULL and writes the reason to err (e.g. duplicate label name
 * "job").  st may be NULL (strings copied) or a symbol table, which must
 * outlive the set.  The caller's strings are not referenced afterwards. */
labels_t *labels_new(symtab_t *st, const label_t *pairs, size_t n,
                     char *err, size_t errlen);
/* The empty set, as a fresh allocation. */
labels_t *labels_empty(void);
labels_t *labels_dup(const labels_t *ls);  /* same symtab, new references */
void labels_free(labels_t *ls);            /* NULL is fine */

size_t labels_len(const labels_t *ls);
const label_t *labels_at(const labels_t *ls, size_t i); /* sorted by name */
const char *labels_get(const labels_t *ls, const char *name); /* NULL if absent */
uint64_t labels_hash(const labels_t *ls);
/* Hash of only the pairs whose names are in names[0..n) (names sorted or
 * not, repeats allowed; absent names are skipped), or, when without is
 * true, of all pairs except those and __name__; used for grouping by
 * aggregation and vector matching.  Equals labels_hash() of the set made of
 * the selected pairs.  Allocates nothing for sets of up to 512 pairs. */
uint64_t labels_hash_subset(const labels_t *ls, const char *const *names,
                            size_t n, bool without);
bool labels_equal(const labels_t *a, const labels_t *b);
/* Total order as Prometheus's labels.Compare: pair by pair, name then
 * value, byte-wise; a shorter prefix sorts first. */
int labels_cmp(const labels_t *a, const labels_t *b);
/* Bytes the set occupies (header, pairs and its own string copies). */
size_t labels_size(const labels_t *ls);
/* Appends the text form of Prometheus's model.Metric: name{a="b", c="d"};
 * a set without __name__ prints as {a="b"}, one with only __name__ as the
 * bare name, the empty set as {}.  Values are quoted as Go's %q does
 * (\" \\ \n \t ..., \xHH for other controls and invalid UTF-8, \uHHHH
 * for non-printable code points); label names outside the legacy
 * character set are quoted, and a metric name outside it prints quoted as
 * the first item inside the braces: {"a.b", c="d"}. */
void labels_format(const labels_t *ls, strbuf_t *out);
/* Appends the form of Prometheus's labels.Labels String(): every pair,
 * __name__ included, in order: {__name__="up", job="x"}; quoting as above. */
void labels_format_braces(const labels_t *ls, strbuf_t *out);

/* Builder: start from a set (or empty), set/delete pairs, finish. */
typedef struct labels_builder labels_builder_t; /* owned by its creator */

labels_builder_t *labels_builder_new(void);
void labels_builder_free(labels_builder_t *b);
/* Starts over from base (NULL = empty); base must outlive the builder's use. */
void labels_builder_reset(labels_builder_t *b, const labels_t *base);
/* Sets name to value (copies both); an empty value deletes the name; an
 * empty name is ignored.  Repeated sets without a reset keep their old
 * copies until the next reset or free. */
void labels_builder_set(labels_builder_t *b, const char *name, const char *value);
void labels_builder_del(labels_builder_t *b, const char *name);
/* Value of name or NULL; valid until the next reset or free. */
const char *labels_builder_get(labels_builder_t *b, const char *name);
/* Builds the current pairs into a new set (st as in labels_new); never
 * fails.  The builder keeps its state and can be changed and finished
 * again. */
labels_t *labels_builder_finish(labels_builder_t *b, symtab_t *st);

/* Label name and metric name validity (Prometheus's legacy character set:
 * [a-zA-Z_][a-zA-Z0-9_]* and, for metric names, also ':'). */
bool labels_valid_name(const char *s, size_t len);
bool labels_valid_metric_name(const char *s, size_t len);

#endif
