/*
 * ycfg.h - YAML configuration files (prometheus.yml and friends) on libyaml.
 *
 * Two layers:
 *
 *  1. ydoc/ynode: a file or an in-memory string loaded into a small tree of
 *     scalars, mappings (ordered key/value pairs) and sequences.  Every node
 *     knows its 1-based line and column.  Aliases (*name) resolve to the
 *     anchored node; merge keys (<<) are rejected.  Only the first document
 *     of a stream is used; an empty file (or one holding only comments, or
 *     an explicit null) loads as an empty mapping, as Prometheus accepts an
 *     empty config.  Syntax errors read
 *         prometheus.yml:3:5: yaml: did not find expected key while parsing
 *         a block mapping that started at line 1, column 1
 *
 *  2. ycfg: the decoding helpers config code uses to turn nodes into C
 *     values with Prometheus's rules (Go yaml.v2 UnmarshalStrict).  A ycfg_t
 *     carries the file name, the caller's error buffer and the path of the
 *     field being decoded ("scrape_configs[2].relabel_configs[0].action");
 *     every error names file:line:column, the path and what was expected:
 *         prometheus.yml:12:5: field "scrape_intervl" not found in
 *         scrape_configs[0] (did you mean "scrape_interval"?)
 *         prometheus.yml:4:20: scrape_configs[0].scrape_interval: expected a
 *         duration such as 15s, got "abc"
 *     Typical use, one function per config section (strings belong to the
 *     document: copy what must outlive it):
 *         static const char *const keys[] = {"job_name", "scrape_interval",
 *                                            "relabel_configs", NULL};
 *         int rc = ycfg_check_map(c, node, keys);
 *         if (rc == 0) rc = ycfg_get_string(c, node, "job_name", &name);
 *         if (rc == 0) rc = ycfg_get_duration(c, node, "scrape_interval", &ms);
 *         if (rc == 0) rc = ycfg_get_each(c, node, "relabel_configs",
 *                                         decode_relabel, job);
 *
 * Scalar typing follows yaml.v2: a plain (unquoted, untagged) scalar may be
 * null (`~`, `null`, `Null`, `NULL`, empty), a bool (true/false, yes/no,
 * on/off, y/n in their lower/Title/UPPER spellings), an integer (decimal,
 * 0x, 0o, 0b, a leading 0 for octal, `_` separators) or a float; a quoted
 * or block scalar is always a string.  Any scalar decodes as a string (its
 * text).  A null value decodes as the zero value ("", false, 0, an empty
 * list), as yaml.v2 does, so config code applies its defaults afterwards.
 *
 * Errors: loading returns PH_EPARSE (syntax, unsupported construct),
 * PH_ENOTFOUND / PH_EIO (cannot read the file), PH_ELIMIT (file too large,
 * nesting too deep, excessive aliasing), PH_ENOMEM (libyaml out of memory);
 * every ycfg_* decoding error is PH_EPARSE.
 */
#ifndef PH_YCFG_H
#define PH_YCFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Documents and nodes ---------------------------------------------- */

/* A loaded document.  Owned by whoever loaded it; ydoc_free releases it
 * with every node, string and array handed out for it (also those returned
 * by the ycfg_* getters). */
typedef struct ydoc ydoc_t;
/* A node of a document: owned by its ydoc_t, valid until ydoc_free. */
typedef struct ynode ynode_t;

typedef enum {
  YNODE_SCALAR = 1,
  YNODE_MAPPING = 2,
  YNODE_SEQUENCE = 3,
} ynode_kind_t;

typedef enum {
  YNODE_PLAIN = 1,
  YNODE_SINGLE_QUOTED = 2,
  YNODE_DOUBLE_QUOTED = 3,
  YNODE_LITERAL = 4, /* | block scalar */
  YNODE_FOLDED = 5,  /* > block scalar */
} ynode_style_t;

/* Maximum file size ydoc_load_file accepts (PH_ELIMIT beyond). */
#define YDOC_MAX_FILE_SIZE ((size_t)256 << 20)
/* Maximum nesting of mappings and sequences (PH_ELIMIT beyond). */
#define YDOC_MAX_DEPTH 512

/* Reads and parses a file; the path is the display name in messages.
 * On success *out is set and must be released with ydoc_free. */
int ydoc_load_file(const char *path, ydoc_t **out, char *err, size_t errlen);
/* Parses len bytes of data (not necessarily NUL-terminated; the data is not
 * referenced afterwards); name is shown in messages ("prometheus.yml"). */
int ydoc_load_string(const char *name, const char *data, size_t len,
                     ydoc_t **out, char *err, size_t errlen);
void ydoc_free(ydoc_t *doc);

/* The display name given at load time. */
const char *ydoc_name(const ydoc_t *doc);
/* The root node; never NULL (an empty document is an empty mapping). */
const ynode_t *ydoc_root(const ydoc_t *doc);
/* True when the stream holds more than one document (the rest is ignored;
 * callers may want to warn). */
bool ydoc_has_more_documents(const ydoc_t *doc);

ynode_kind_t ynode_kind(const ynode_t *n);
/* 1-based position of the node's first character (of an alias: where the
 * alias is written). */
unsigned ynode_line(const ynode_t *n);
unsigned ynode_column(const ynode_t *n);
/* Explicit tag in long form ("tag:yaml.org,2002:str" for !!str, "!" for
 * the non-specific tag), or NULL when the node has none. */
const char *ynode_tag(const ynode_t *n);

/* Scalars.  The text is NUL-terminated (it may also hold NULs written as
 * "\0" escapes; len tells).  NULL / 0 / YNODE_PLAIN / false for other
 * kinds. */
const char *ynode_str(const ynode_t *n);
size_t ynode_len(const ynode_t *n);
ynode_style_t ynode_style(const ynode_t *n);
/* A plain untagged ~, null, Null, NULL or empty scalar, or one tagged !!null. */
bool ynode_is_null(const ynode_t *n);

/* Sequences; ynode_seq_len is 0 and ynode_seq_at NULL for other kinds. */
size_t ynode_seq_len(const ynode_t *n);
const ynode_t *ynode_seq_at(const ynode_t *n, size_t i);

/* Mappings, in document order; 0 / NULL for other kinds. */
size_t ynode_map_len(const ynode_t *n);
const ynode_t *ynode_map_key(const ynode_t *n, size_t i);
const ynode_t *ynode_map_value(const ynode_t *n, size_t i);
/* Value of the first entry whose key is a scalar with exactly this text,
 * or NULL. */
const ynode_t *ynode_map_get(const ynode_t *n, const char *key);

/* ---- Decoding helpers ---------------------------------------------------- */

/* Decoding context: the document, the caller's error buffer and the current
 * field path.  Owned by its creator (ycfg_free); must not outlive the
 * document or the error buffer. */
typedef struct ycfg ycfg_t;

ycfg_t *ycfg_new(ydoc_t *doc, char *err, size_t errlen);
void ycfg_free(ycfg_t *c);

/* The path being decoded ("" at the top level); valid until the next push
 * or pop. */
const char *ycfg_path(const ycfg_t *c);
/* Append ".name" (just "name" at the top level) or "[index]" to the path;
 * both return a mark for ycfg_pop, which restores the path to it. */
size_t ycfg_push_field(ycfg_t *c, const char *name);
size_t ycfg_push_index(ycfg_t *c, size_t index);
void ycfg_pop(ycfg_t *c, size_t mark);

/* Formats "file:line:column: path: message" into the error buffer (at may
 * be NULL: no position; an empty path is left out) and returns PH_EPARSE.
 * For config validation errors after decoding. */
int ycfg_errorf(ycfg_t *c, const ynode_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Checks that n is a mapping (null counts as an empty one) with scalar keys,
 * each key one of allowed (a NULL-terminated list; NULL allows any key) and
 * none repeated:
 *   field "x" not found in <path> (did you mean "y"?)
 *   field "x" already set in <path> (first set at line N)
 * Call it before the ycfg_get_* of a mapping decoded as a structure. */
int ycfg_check_map(ycfg_t *c, const ynode_t *n, const char *const *allowed);

/* Value getters: decode node n (whose path the caller has pushed).  A null
 * node yields the zero value.  Strings and arrays are owned by the
 * document.  On error *out is left unchanged. */
/* Any scalar's text; "" for null.  Rejects mappings, sequences and text
 * holding NUL characters. */
int ycfg_as_string(ycfg_t *c, const ynode_t *n, const char **out);
/* true/false (and yes/no, on/off, y/n as yaml.v2 accepts), unquoted. */
int ycfg_as_bool(ycfg_t *c, const ynode_t *n, bool *out);
/* An unquoted integer within [min, max] (an integral float such as 1e3 is
 * accepted, as yaml.v2 does). */
int ycfg_as_int(ycfg_t *c, const ynode_t *n, int64_t min, int64_t max,
                int64_t *out);
int ycfg_as_uint(ycfg_t *c, const ynode_t *n, uint64_t max, uint64_t *out);
/* An unquoted integer or float, .inf, -.inf, .nan. */
int ycfg_as_double(ycfg_t *c, const ynode_t *n, double *out);
/* A Prometheus duration ("15s", "1h30m", "0"), quoted or not, in ms. */
int ycfg_as_duration(ycfg_t *c, const ynode_t *n, int64_t *ms);
/* A sequence of strings; *items is an array of *count strings (NULL when
 * empty).  Item i's node is ynode_seq_at(n, i). */
int ycfg_as_strings(ycfg_t *c, const ynode_t *n, const char ***items,
                    size_t *count);

/* One entry of a string-to-string mapping (labels, headers). */
typedef struct ycfg_pair {
  const char *key;
  const char *value;
  const ynode_t *key_node;   /* for positioned validation errors */
  const ynode_t *value_node;
} ycfg_pair_t;

/* A mapping of string keys to string values, in document order, duplicate
 * keys rejected; *pairs is NULL when empty. */
int ycfg_as_string_map(ycfg_t *c, const ynode_t *n, ycfg_pair_t **pairs,
                       size_t *count);

/* Calls fn for each item of sequence seq (null: none) with "[i]" pushed on
 * the path; stops at and returns the first non-zero result. */
typedef int (*ycfg_item_fn)(ycfg_t *c, const ynode_t *item, size_t index,
                            void *ud);
int ycfg_each(ycfg_t *c, const ynode_t *seq, ycfg_item_fn fn, void *ud);
/* Calls fn for each entry of mapping map (null: none; keys must be
 * distinct scalars) with ".key" (or ["key"] for keys that are not
 * identifiers) pushed on the path; stops at the first non-zero result. */
typedef int (*ycfg_entry_fn)(ycfg_t *c, const char *key,
                             const ynode_t *value, void *ud);
int ycfg_each_entry(ycfg_t *c, const ynode_t *map, ycfg_entry_fn fn,
                    void *ud);

/* Field getters: look key up in mapping map; when absent return 0 and
 * leave *out unchanged (so defaults set beforehand stay), otherwise push
 * the key on the path and decode the value as the ycfg_as_* above. */
int ycfg_get_string(ycfg_t *c, const ynode_t *map, const char *key,
                    const char **out);
int ycfg_get_bool(ycfg_t *c, const ynode_t *map, const char *key, bool *out);
int ycfg_get_int(ycfg_t *c, const ynode_t *map, const char *key, int64_t min,
                 int64_t max, int64_t *out);
int ycfg_get_uint(ycfg_t *c, const ynode_t *map, const char *key,
                  uint64_t max, uint64_t *out);
int ycfg_get_double(ycfg_t *c, const ynode_t *map, const char *key,
                    double *out);
int ycfg_get_duration(ycfg_t *c, const ynode_t *map, const char *key,
                      int64_t *ms);
int ycfg_get_strings(ycfg_t *c, const ynode_t *map, const char *key,
                     const char ***items, size_t *count);
int ycfg_get_string_map(ycfg_t *c, const ynode_t *map, const char *key,
                        ycfg_pair_t **pairs, size_t *count);
/* A field holding a sequence (of mappings, typically): ycfg_each over it
 * with the key pushed; absent or null calls fn for nothing. */
int ycfg_get_each(ycfg_t *c, const ynode_t *map, const char *key,
                  ycfg_item_fn fn, void *ud);
/* Any other field (a nested mapping such as global: or tls_config:):
 * when present, calls fn once with the value (index 0) and the key pushed
 * on the path; absent: returns 0 without calling fn. */
int ycfg_get_field(ycfg_t *c, const ynode_t *map, const char *key,
                   ycfg_item_fn fn, void *ud);

#endif
