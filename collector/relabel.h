/*
 * relabel.h - Prometheus relabeling: relabel_configs and
 * metric_relabel_configs rules, compiled once and applied to label sets.
 *
 * A rule is built from its fields as written in the config
 * (relabel_spec_t; NULL / 0 fields take Prometheus's defaults: action
 * replace, separator ";", regex "(.*)", replacement "$1") and validated as
 * Prometheus's RelabelConfig.Validate does; the error names the field at
 * fault so config code can point at its line and column.
 *
 * Semantics (Prometheus 3, model/relabel): the source value is the values
 * of source_labels joined by separator (a missing label counts as "").
 * Regexes are RE2 syntax, fully anchored ("^(?s:" regex ")$"), run by
 * PCRE2 in UTF mode under a match limit.  Replacement and target_label
 * expand $1, ${1}, $name, ${name} as Go's Regexp.Expand does ($$ is a
 * literal $, "$1x" names the group "1x", an unknown group expands to "").
 * Label names are checked with the legacy character set
 * [a-zA-Z_][a-zA-Z0-9_]*, as Prometheus does under legacy validation.
 *   replace    target_label (expanded) = replacement (expanded) when the
 *              regex matches; an empty result deletes the target.
 *   keep/drop  drop the set unless / when the regex matches.
 *   keepequal/dropequal  drop unless / when value of target_label equals
 *              the source value.
 *   hashmod    target_label = (last 8 bytes of MD5(source), big endian)
 *              mod modulus.
 *   labelmap   each label whose name matches gets a copy named
 *              replacement (expanded against the name).
 *   labeldrop/labelkeep  delete labels whose name matches / does not.
 *   lowercase/uppercase  target_label = source value in lower / upper case
 *              (ASCII letters only are changed).
 */
#ifndef PH_RELABEL_H
#define PH_RELABEL_H

#include "labels.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum relabel_action {
  RELABEL_REPLACE = 0,
  RELABEL_KEEP,
  RELABEL_DROP,
  RELABEL_KEEPEQUAL,
  RELABEL_DROPEQUAL,
  RELABEL_HASHMOD,
  RELABEL_LABELMAP,
  RELABEL_LABELDROP,
  RELABEL_LABELKEEP,
  RELABEL_LOWERCASE,
  RELABEL_UPPERCASE,
} relabel_action_t;

/* One rule's fields as written; everything borrowed for the call. */
typedef struct relabel_spec {
  const char *action;                /* NULL = "replace"; any case */
  const char *const *source_labels;  /* nsource names */
  size_t nsource;
  bool source_labels_set;            /* the field was given (even empty) */
  const char *separator;             /* NULL = ";" */
  const char *target_label;          /* NULL = "" */
  const char *regex;                 /* NULL = "(.*)" */
  uint64_t modulus;                  /* 0 = unset */
  const char *replacement;           /* NULL = "$1" */
} relabel_spec_t;

/* A compiled rule; owned by its creator, immutable, usable from one
 * thread at a time per call (calls allocate their own match data, so any
 * number of threads may share a rule). */
typedef struct relabel_rule relabel_rule_t;

/* Validates and compiles spec.  On error returns PH_EPARSE with a
 * Prometheus-worded message in err and, if bad_field is not NULL, the name
 * of the field at fault ("action", "regex", "target_label", "modulus",
 * "replacement", "separator", "source_labels") or NULL for the rule as a
 * whole. */
int relabel_rule_new(const relabel_spec_t *spec, relabel_rule_t **out,
                     const char **bad_field, char *err, size_t errlen);
void relabel_rule_free(relabel_rule_t *r); /* NULL is fine */

relabel_action_t relabel_rule_action(const relabel_rule_t *r);
/* "replace", "keep", ... */
const char *relabel_action_name(relabel_action_t a);

/* Applies rules[0..n) in order to in.  Returns false when the set is
 * dropped (*out = NULL); otherwise true and *out is a new set owned by
 * the caller (labels copied, no symbol table). */
bool relabel_apply(const relabel_rule_t *const *rules, size_t n,
                   const labels_t *in, labels_t **out);

/* Go's Regexp.MatchString on the anchored regex (exposed for tests). */
bool relabel_rule_matches(const relabel_rule_t *r, const char *s);

#endif
