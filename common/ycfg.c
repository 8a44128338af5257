/*
 * ycfg.c - YAML documents on libyaml and the config decoding helpers
 * (see ycfg.h).
 *
 * Loading.  libyaml's event parser drives a builder with an explicit stack
 * of open collections, so nesting costs heap, never C stack.  Children of
 * an open collection are chained through ynode.next; when the collection
 * ends they are copied into an array (items, or key/value pairs).  All
 * nodes, strings and arrays live in the document's arena and go away with
 * it in one arena_free.
 *
 * Scalars are typed once, at load, with Go yaml.v2's rules (what Prometheus
 * decodes its configs with): plain untagged scalars resolve to null, bool,
 * int, uint (beyond int64) or float by their text; quoted and block scalars
 * are strings; explicit core tags (!!str, !!int, !!float, !!bool, !!null)
 * force the type and reject text that does not fit; other tags leave a
 * string.
 *
 * Anchors are registered when their node is complete, so an alias inside
 * its own anchored node is reported instead of building a cycle.  An alias
 * becomes a shallow copy of the anchored node carrying the alias's
 * position (children shared), so errors about an aliased scalar point at
 * the use.  Each node carries its expanded size (nodes counted as if every
 * alias were copied out); a document whose expanded size dwarfs its real
 * size (the "billion laughs") is refused.
 *
 * Decoding.  A ycfg_t holds the path of the field being decoded in a
 * strbuf; push returns the previous length, pop truncates back to it.
 * Messages are built in a strbuf and copied into the caller's buffer.
 */
#include "ycfg.h"

#include "arena.h"
#include "mem.h"
#include "ph_error.h"
#include "strbuf.h"
#include "timeparse.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* libyaml's own header */
#include <yaml.h>

/* ---- Types ---------------------------------------------------------------- */

/* What a scalar resolved to. */
typedef enum {
  YR_STR = 0,
  YR_NULL,
  YR_BOOL,
  YR_INT,   /* fits int64 */
  YR_UINT,  /* above INT64_MAX, fits uint64 */
  YR_FLOAT,
  YR_MERGE, /* the plain key << */
} yres_t;

typedef struct ypair {
  const ynode_t *key;
  const ynode_t *value;
} ypair_t;

struct ynode {
  uint8_t kind;   /* ynode_kind_t */
  uint8_t style;  /* scalars: ynode_style_t */
  uint8_t res;    /* scalars: yres_t */
  unsigned line, column;
  const char *tag; /* NULL when none */
  uint64_t weight; /* expanded size in nodes, saturating */
  union {
    struct {
      const char *text;
      size_t len;
      union {
        bool b;
        int64_t i;
        uint64_t u;
        double f;
      } v;
    } scalar;
    struct {
      const ynode_t **items;
      size_t len;
    } seq;
    struct {
      ypair_t *pairs;
      size_t len;
    } map;
  } u;
  ynode_t *next; /* sibling chain while the parent is being built */
};

struct ydoc {
  arena_t *arena;
  const char *name;
  const ynode_t *root;
  size_t nodes;    /* nodes really written in the text */
  bool more_docs;
};

struct ycfg {
  ydoc_t *doc;
  char *err;
  size_t errlen;
  strbuf_t path;
};

#define YTAG_PREFIX "tag:yaml.org,2002:"
/* Refuse a document whose expanded size exceeds both of these. */
#define YALIAS_MIN_LIMIT 1000000u
#define YALIAS_RATIO 10u

/* ---- Small helpers -------------------------------------------------------- */

static void *doc_alloc(ydoc_t *doc, size_t n) {
  void *p = arena_calloc(doc->arena, 1, n ? n : 1);
  ph_assert(p != NULL); /* the arena has no budget */
  return p;
}

static char *doc_strndup(ydoc_t *doc, const char *s, size_t n) {
  char *p = arena_strndup(doc->arena, s, n);
  ph_assert(p != NULL);
  return p;
}

/* A copy of a libyaml string (tag, anchor); NULL stays NULL. */
static const char *doc_ystr(ydoc_t *doc, const yaml_char_t *s) {
  return s ? doc_strndup(doc, (const char *)s, strlen((const char *)s)) : NULL;
}

static uint64_t sat_add(uint64_t a, uint64_t b) {
  return a + b < a ? UINT64_MAX : a + b;
}

/* Appends s (len bytes) to b as a double-quoted, escaped string; at most
 * YQUOTE_MAX source bytes, cut on a UTF-8 boundary, then "...". */
#define YQUOTE_MAX 64
static void put_quoted(strbuf_t *b, const char *s, size_t len) {
  size_t n = len;
  if (n > YQUOTE_MAX) {
    n = YQUOTE_MAX;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
  }
  strbuf_putc(b, '"');
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    switch (ch) {
    case '"': strbuf_puts(b, "\\\""); break;
    case '\\': strbuf_puts(b, "\\\\"); break;
    case '\n': strbuf_puts(b, "\\n"); break;
    case '\r': strbuf_puts(b, "\\r"); break;
    case '\t': strbuf_puts(b, "\\t"); break;
    default:
      if (ch < 0x20 || ch == 0x7f)
        strbuf_printf(b, "\\x%02x", ch);
      else
        strbuf_putc(b, (char)ch);
    }
  }
  strbuf_putc(b, '"');
  if (n < len) strbuf_puts(b, "...");
}

/* ---- Scalar resolution (Go yaml.v2 rules) -------------------------------- */

static bool text_is(const char *s, size_t len, const char *word) {
  return strlen(word) == len && memcmp(s, word, len) == 0;
}

static bool text_in(const char *s, size_t len, const char *const *words) {
  for (; *words != NULL; words++)
    if (text_is(s, len, *words)) return true;
  return false;
}

static const char *const k_true[] = {"y", "Y", "yes", "Yes", "YES",
                                     "true", "True", "TRUE",
                                     "on", "On", "ON", NULL};
static const char *const k_false[] = {"n", "N", "no", "No", "NO",
                                      "false", "False", "FALSE",
                                      "off", "Off", "OFF", NULL};
static const char *const k_null[] = {"", "~", "null", "Null", "NULL", NULL};
static const char *const k_nan[] = {".nan", ".NaN", ".NAN", NULL};
static const char *const k_inf[] = {".inf", ".Inf", ".INF",
                                    "+.inf", "+.Inf", "+.INF", NULL};
static const char *const k_ninf[] = {"-.inf", "-.Inf", "-.INF", NULL};

static int digit_value(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'z') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'Z') return ch - 'A' + 10;
  return 99;
}

/* Unsigned integer as Go's strconv.ParseUint(s, 0, 64): 0x, 0o, 0b and a
 * bare leading 0 (octal) prefixes.  0 ok, -1 syntax, -2 out of range. */
static int parse_go_uint(const char *s, size_t len, uint64_t *out) {
  unsigned base = 10;
  if (len >= 2 && s[0] == '0') {
    char p = s[1];
    if (p == 'x' || p == 'X') base = 16, s += 2, len -= 2;
    else if (p == 'o' || p == 'O') base = 8, s += 2, len -= 2;
    else if (p == 'b' || p == 'B') base = 2, s += 2, len -= 2;
    else base = 8, s += 1, len -= 1;
  }
  if (len == 0) return -1;
  uint64_t v = 0;
  bool range = false;
  for (size_t i = 0; i < len; i++) {
    int d = digit_value(s[i]);
    if (d >= (int)base) return -1;
    if (v > (UINT64_MAX - (uint64_t)d) / base) range = true;
    else v = v * base + (uint64_t)d;
  }
  if (range) return -2;
  *out = v;
  return 0;
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool is_yaml_float(const char *s, size_t len) {
  size_t i = 0, digits = 0;
  if (i < len && (s[i] == '-' || s[i] == '+')) i++;
  if (i < len && s[i] == '.') {
    i++;
    while (i < len && s[i] >= '0' && s[i] <= '9') i++, digits++;
    if (digits == 0) return false;
  } else {
    while (i < len && s[i] >= '0' && s[i] <= '9') i++, digits++;
    if (digits == 0) return false;
    if (i < len && s[i] == '.') {
      i++;
      while (i < len && s[i] >= '0' && s[i] <= '9') i++;
    }
  }
  if (i < len && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < len && (s[i] == '-' || s[i] == '+')) i++;
    digits = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9') i++, digits++;
    if (digits == 0) return false;
  }
  return i == len;
}

/* Resolves plain text into n->res and n->u.scalar.v. */
static void resolve_plain(ynode_t *n) {
  const char *s = n->u.scalar.text;
  size_t len = n->u.scalar.len;
  n->res = YR_STR;
  if (text_in(s, len, k_null)) { n->res = YR_NULL; return; }
  if (text_in(s, len, k_true)) { n->res = YR_BOOL; n->u.scalar.v.b = true; return; }
  if (text_in(s, len, k_false)) { n->res = YR_BOOL; n->u.scalar.v.b = false; return; }
  if (text_is(s, len, "<<")) { n->res = YR_MERGE; return; }
  if (text_in(s, len, k_nan)) { n->res = YR_FLOAT; n->u.scalar.v.f = NAN; return; }
  if (text_in(s, len, k_inf)) { n->res = YR_FLOAT; n->u.scalar.v.f = INFINITY; return; }
  if (text_in(s, len, k_ninf)) { n->res = YR_FLOAT; n->u.scalar.v.f = -INFINITY; return; }

  char c0 = s[0];
  bool numeric_start = (c0 >= '0' && c0 <= '9') || c0 == '-' || c0 == '+';
  if (!numeric_start && c0 != '.') return;
  /* Numbers longer than this are not plausible; they stay strings (Go's
   * float parse would overflow them to an error too). */
  char buf[128];
  size_t blen = 0;
  for (size_t i = 0; i < len; i++) {
    if (numeric_start && s[i] == '_') continue; /* yaml.v2 drops '_' */
    if (blen + 1 >= sizeof(buf)) return;
    buf[blen++] = s[i];
  }
  buf[blen] = '\0';

  if (numeric_start) {
    bool neg = buf[0] == '-';
    size_t off = (buf[0] == '-' || buf[0] == '+') ? 1 : 0;
    uint64_t u;
    int rc = parse_go_uint(buf + off, blen - off, &u);
    if (rc == 0) {
      if (neg && u <= (uint64_t)INT64_MAX + 1) {
        n->res = YR_INT;
        n->u.scalar.v.i = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
        return;
      }
      if (!neg && u <= (uint64_t)INT64_MAX) {
        n->res = YR_INT;
        n->u.scalar.v.i = (int64_t)u;
        return;
      }
      if (off == 0) { /* ParseUint takes no sign */
        n->res = YR_UINT;
        n->u.scalar.v.u = u;
        return;
      }
    }
  }
  if (!is_yaml_float(buf, blen)) return;
  errno = 0;
  double f = strtod(buf, NULL);
  if (errno == ERANGE && isinf(f)) return; /* Go: a range error, so a string */
  n->res = YR_FLOAT;
  n->u.scalar.v.f = f;
}

/* ---- Loading ----------------------------------------------------------- */

typedef struct frame {
  ynode_t *node;
  ynode_t *first, *last; /* children so far */
  size_t count;
  const char *anchor;    /* registered when the node ends */
  bool want_key;         /* mappings: the next child is a key */
} frame_t;

typedef struct anchor {
  struct anchor *prev; /* newest first */
  const char *name;
  const ynode_t *node;
} anchor_t;

typedef struct builder {
  ydoc_t *doc;
  yaml_parser_t parser;
  const char *data; /* the input, for reader-error positions */
  size_t len;
  frame_t *stack;
  size_t depth, cap;
  anchor_t *anchors;
  ynode_t *root;
  char *err;
  size_t errlen;
} builder_t;

static int load_fail(builder_t *b, int code, const ynode_t *at, const char *fmt,
                     ...) __attribute__((format(printf, 4, 5)));
static int load_fail(builder_t *b, int code, const ynode_t *at, const char *fmt,
                     ...) {
  strbuf_t m = STRBUF_INIT;
  if (at != NULL)
    strbuf_printf(&m, "%s:%u:%u: yaml: ", b->doc->name, at->line, at->column);
  else
    strbuf_printf(&m, "%s: yaml: ", b->doc->name);
  va_list ap;
  va_start(ap, fmt);
  strbuf_vprintf(&m, fmt, ap);
  va_end(ap);
  ph_err(b->err, b->errlen, code, "%s", strbuf_cstr(&m));
  strbuf_free(&m);
  return code;
}

/* Line and column (1-based, in characters) of a byte offset of the input. */
static void offset_position(const char *data, size_t len, size_t off,
                            unsigned *line, unsigned *col) {
  unsigned l = 1, c = 1;
  if (off > len) off = len;
  for (size_t i = 0; i < off; i++) {
    unsigned char ch = (unsigned char)data[i];
    if (ch == '\n' || (ch == '\r' && (i + 1 >= len || data[i + 1] != '\n'))) {
      l++;
      c = 1;
    } else if ((ch & 0xC0) != 0x80) {
      c++;
    }
  }
  *line = l;
  *col = c;
}

static int parser_error(builder_t *b) {
  yaml_parser_t *p = &b->parser;
  const char *name = b->doc->name;
  const char *problem = p->problem ? p->problem : "unknown error";
  switch (p->error) {
  case YAML_MEMORY_ERROR:
    return ph_err(b->err, b->errlen, PH_ENOMEM, "%s: yaml: out of memory", name);
  case YAML_READER_ERROR: {
    unsigned line, col;
    offset_position(b->data, b->len, p->problem_offset, &line, &col);
    if (p->problem_value != -1)
      return ph_err(b->err, b->errlen, PH_EPARSE, "%s:%u:%u: yaml: %s (0x%02X)",
                    name, line, col, problem, (unsigned)p->problem_value);
    return ph_err(b->err, b->errlen, PH_EPARSE, "%s:%u:%u: yaml: %s", name,
                  line, col, problem);
  }
  default: {
    size_t line = p->problem_mark.line + 1, col = p->problem_mark.column + 1;
    if (p->context == NULL)
      return ph_err(b->err, b->errlen, PH_EPARSE, "%s:%zu:%zu: yaml: %s", name,
                    line, col, problem);
    size_t cline = p->context_mark.line + 1, ccol = p->context_mark.column + 1;
    if (cline == line && ccol == col)
      return ph_err(b->err, b->errlen, PH_EPARSE, "%s:%zu:%zu: yaml: %s %s",
                    name, line, col, problem, p->context);
    return ph_err(b->err, b->errlen, PH_EPARSE,
                  "%s:%zu:%zu: yaml: %s %s that started at line %zu, column %zu",
                  name, line, col, problem, p->context, cline, ccol);
  }
  }
}

static ynode_t *new_node(builder_t *b, ynode_kind_t kind, yaml_mark_t mark,
                         const yaml_char_t *tag) {
  ynode_t *n = doc_alloc(b->doc, sizeof(*n));
  n->kind = (uint8_t)kind;
  n->line = (unsigned)mark.line + 1;
  n->column = (unsigned)mark.column + 1;
  n->tag = doc_ystr(b->doc, tag);
  n->weight = 1;
  b->doc->nodes++;
  return n;
}

static void register_anchor(builder_t *b, const char *name, const ynode_t *n) {
  anchor_t *a = doc_alloc(b->doc, sizeof(*a));
  a->name = name;
  a->node = n;
  a->prev = b->anchors;
  b->anchors = a;
}

/* Hands a finished node to the open collection (or makes it the root). */
static int add_child(builder_t *b, ynode_t *n) {
  if (b->depth == 0) {
    b->root = n;
    return 0;
  }
  frame_t *f = &b->stack[b->depth - 1];
  if (f->node->kind == YNODE_MAPPING) {
    if (f->want_key && n->kind == YNODE_SCALAR && n->res == YR_MERGE)
      return load_fail(b, PH_EPARSE, n,
                       "merge keys (<<) are not supported; write the fields out");
    f->want_key = !f->want_key;
  }
  n->next = NULL;
  if (f->last != NULL) f->last->next = n;
  else f->first = n;
  f->last = n;
  f->count++;
  return 0;
}

static const char *short_tag(const char *tag) {
  static const char prefix[] = YTAG_PREFIX;
  if (strncmp(tag, prefix, sizeof(prefix) - 1) == 0) return tag + sizeof(prefix) - 1;
  return NULL;
}

static int on_scalar(builder_t *b, const yaml_event_t *ev) {
  ynode_t *n = new_node(b, YNODE_SCALAR, ev->start_mark, ev->data.scalar.tag);
  n->u.scalar.text = doc_strndup(b->doc, (const char *)ev->data.scalar.value,
                                 ev->data.scalar.length);
  n->u.scalar.len = ev->data.scalar.length;
  switch (ev->data.scalar.style) {
  case YAML_SINGLE_QUOTED_SCALAR_STYLE: n->style = YNODE_SINGLE_QUOTED; break;
  case YAML_DOUBLE_QUOTED_SCALAR_STYLE: n->style = YNODE_DOUBLE_QUOTED; break;
  case YAML_LITERAL_SCALAR_STYLE: n->style = YNODE_LITERAL; break;
  case YAML_FOLDED_SCALAR_STYLE: n->style = YNODE_FOLDED; break;
  default: n->style = YNODE_PLAIN; break;
  }

  n->res = YR_STR;
  const char *core = n->tag ? short_tag(n->tag) : NULL;
  if (n->tag == NULL) {
    if (n->style == YNODE_PLAIN) resolve_plain(n);
  } else if (core != NULL && (strcmp(core, "null") == 0 || strcmp(core, "bool") == 0 ||
                              strcmp(core, "int") == 0 || strcmp(core, "float") == 0)) {
    /* An explicit core tag forces the type, quoted or not. */
    resolve_plain(n);
    if (n->res == YR_MERGE) n->res = YR_STR;
    if (strcmp(core, "float") == 0 && n->res == YR_INT) {
      n->res = YR_FLOAT;
      n->u.scalar.v.f = (double)n->u.scalar.v.i;
    } else if (strcmp(core, "float") == 0 && n->res == YR_UINT) {
      n->res = YR_FLOAT;
      n->u.scalar.v.f = (double)n->u.scalar.v.u;
    }
    bool ok = (strcmp(core, "null") == 0 && n->res == YR_NULL) ||
              (strcmp(core, "bool") == 0 && n->res == YR_BOOL) ||
              (strcmp(core, "int") == 0 && (n->res == YR_INT || n->res == YR_UINT)) ||
              (strcmp(core, "float") == 0 && n->res == YR_FLOAT);
    if (!ok) {
      strbuf_t q = STRBUF_INIT;
      put_quoted(&q, n->u.scalar.text, n->u.scalar.len);
      int rc = load_fail(b, PH_EPARSE, n, "cannot decode %s as !!%s",
                         strbuf_cstr(&q), core);
      strbuf_free(&q);
      return rc;
    }
  } else if (core != NULL && strcmp(core, "merge") == 0) {
    n->res = YR_MERGE;
  }
  /* Any other tag (!!str, "!", !custom) leaves a string. */

  int rc = add_child(b, n);
  if (rc == 0 && ev->data.scalar.anchor != NULL)
    register_anchor(b, doc_ystr(b->doc, ev->data.scalar.anchor), n);
  return rc;
}

static int on_collection_start(builder_t *b, const yaml_event_t *ev) {
  bool is_map = ev->type == YAML_MAPPING_START_EVENT;
  const yaml_char_t *tag =
      is_map ? ev->data.mapping_start.tag : ev->data.sequence_start.tag;
  const yaml_char_t *anchor =
      is_map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
  ynode_t *n = new_node(b, is_map ? YNODE_MAPPING : YNODE_SEQUENCE, ev->start_mark, tag);
  if (b->depth >= YDOC_MAX_DEPTH)
    return load_fail(b, PH_ELIMIT, n, "nesting deeper than %d levels", YDOC_MAX_DEPTH);
  ph_grow(&b->stack, &b->cap, b->depth + 1);
  frame_t *f = &b->stack[b->depth++];
  memset(f, 0, sizeof(*f));
  f->node = n;
  f->want_key = true;
  f->anchor = doc_ystr(b->doc, anchor);
  return 0;
}

static int on_collection_end(builder_t *b) {
  ph_assert(b->depth > 0);
  frame_t f = b->stack[--b->depth];
  ynode_t *n = f.node;
  uint64_t weight = 1;
  if (n->kind == YNODE_MAPPING) {
    ph_assert(f.count % 2 == 0);
    n->u.map.len = f.count / 2;
    n->u.map.pairs = f.count ? doc_alloc(b->doc, n->u.map.len * sizeof(ypair_t)) : NULL;
    ynode_t *c = f.first;
    for (size_t i = 0; i < n->u.map.len; i++) {
      n->u.map.pairs[i].key = c;
      n->u.map.pairs[i].value = c->next;
      weight = sat_add(weight, sat_add(c->weight, c->next->weight));
      c = c->next->next;
    }
  } else {
    n->u.seq.len = f.count;
    n->u.seq.items = f.count ? doc_alloc(b->doc, f.count * sizeof(ynode_t *)) : NULL;
    size_t i = 0;
    for (ynode_t *c = f.first; c != NULL; c = c->next) {
      n->u.seq.items[i++] = c;
      weight = sat_add(weight, c->weight);
    }
  }
  n->weight = weight;
  if (weight > YALIAS_MIN_LIMIT && weight / YALIAS_RATIO > b->doc->nodes)
    return load_fail(b, PH_ELIMIT, n, "document contains excessive aliasing");
  int rc = add_child(b, n);
  if (rc == 0 && f.anchor != NULL) register_anchor(b, f.anchor, n);
  return rc;
}

static int on_alias(builder_t *b, const yaml_event_t *ev) {
  const char *name = (const char *)ev->data.alias.anchor;
  unsigned line = (unsigned)ev->start_mark.line + 1;
  unsigned col = (unsigned)ev->start_mark.column + 1;
  const anchor_t *a = b->anchors;
  while (a != NULL && strcmp(a->name, name) != 0) a = a->prev;
  if (a == NULL) {
    ynode_t at = {.line = line, .column = col};
    for (size_t i = 0; i < b->depth; i++)
      if (b->stack[i].anchor != NULL && strcmp(b->stack[i].anchor, name) == 0)
        return load_fail(b, PH_EPARSE, &at,
                         "alias *%s refers to a node that contains it", name);
    return load_fail(b, PH_EPARSE, &at, "unknown anchor \"%s\" referenced", name);
  }
  ynode_t *n = doc_alloc(b->doc, sizeof(*n));
  *n = *a->node;
  n->line = line;
  n->column = col;
  return add_child(b, n);
}

/* Runs the parser up to the end of the first document. */
static int build(builder_t *b) {
  for (;;) {
    yaml_event_t ev;
    if (!yaml_parser_parse(&b->parser, &ev)) return parser_error(b);
    int rc = 0;
    bool done = false;
    switch (ev.type) {
    case YAML_SCALAR_EVENT: rc = on_scalar(b, &ev); break;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: rc = on_collection_start(b, &ev); break;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT: rc = on_collection_end(b); break;
    case YAML_ALIAS_EVENT: rc = on_alias(b, &ev); break;
    case YAML_DOCUMENT_END_EVENT:
    case YAML_STREAM_END_EVENT: done = true; break;
    default: break; /* stream and document starts */
    }
    bool doc_end = ev.type == YAML_DOCUMENT_END_EVENT;
    yaml_event_delete(&ev);
    if (rc != 0) return rc;
    if (!done) continue;
    if (doc_end) {
      /* Peek: another document (or anything unparsable) after this one. */
      if (!yaml_parser_parse(&b->parser, &ev)) {
        b->doc->more_docs = true;
      } else {
        b->doc->more_docs = ev.type != YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
      }
    }
    return 0;
  }
}

int ydoc_load_string(const char *name, const char *data, size_t len,
                     ydoc_t **out, char *err, size_t errlen) {
  ph_assert(name != NULL && out != NULL && (data != NULL || len == 0));
  *out = NULL;
  ydoc_t *doc = ph_calloc(1, sizeof(*doc));
  doc->arena = arena_new(0);
  doc->name = doc_strndup(doc, name, strlen(name));

  builder_t b = {.doc = doc, .data = data, .len = len, .err = err, .errlen = errlen};
  if (!yaml_parser_initialize(&b.parser)) {
    ydoc_free(doc);
    return ph_err(err, errlen, PH_ENOMEM, "%s: yaml: out of memory", name);
  }
  static const unsigned char empty[1];
  yaml_parser_set_input_string(&b.parser,
                               len ? (const unsigned char *)data : empty, len);
  int rc = build(&b);
  yaml_parser_delete(&b.parser);
  free(b.stack);
  if (rc != 0) {
    ydoc_free(doc);
    return rc;
  }

  ynode_t *root = b.root;
  if (root == NULL || (root->kind == YNODE_SCALAR && root->res == YR_NULL)) {
    /* Empty file, comments only, or an explicit null: an empty mapping. */
    ynode_t *m = doc_alloc(doc, sizeof(*m));
    m->kind = YNODE_MAPPING;
    m->line = root ? root->line : 1;
    m->column = root ? root->column : 1;
    m->weight = 1;
    root = m;
  }
  doc->root = root;
  *out = doc;
  return 0;
}

int ydoc_load_file(const char *path, ydoc_t **out, char *err, size_t errlen) {
  ph_assert(path != NULL && out != NULL);
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return ph_err(err, errlen, e == ENOENT ? PH_ENOTFOUND : PH_EIO,
                  "%s: cannot open: %s", path, strerror(e));
  }
  strbuf_t buf = STRBUF_INIT;
  int rc = 0;
  for (;;) {
    strbuf_reserve(&buf, 65536);
    ssize_t n = read(fd, buf.data + buf.len, buf.cap - buf.len - 1);
    if (n < 0) {
      if (errno == EINTR) continue;
      rc = ph_err(err, errlen, PH_EIO, "%s: cannot read: %s", path, strerror(errno));
      break;
    }
    if (n == 0) break;
    buf.len += (size_t)n;
    buf.data[buf.len] = '\0';
    if (buf.len > YDOC_MAX_FILE_SIZE) {
      rc = ph_err(err, errlen, PH_ELIMIT, "%s: file larger than %zu bytes", path,
                  YDOC_MAX_FILE_SIZE);
      break;
    }
  }
  close(fd);
  if (rc == 0) rc = ydoc_load_string(path, buf.data, buf.len, out, err, errlen);
  strbuf_free(&buf);
  return rc;
}

void ydoc_free(ydoc_t *doc) {
  if (doc == NULL) return;
  arena_free(doc->arena);
  free(doc);
}

const char *ydoc_name(const ydoc_t *doc) { return doc->name; }
const ynode_t *ydoc_root(const ydoc_t *doc) { return doc->root; }
bool ydoc_has_more_documents(const ydoc_t *doc) { return doc->more_docs; }

/* ---- Node accessors -------------------------------------------------------- */

ynode_kind_t ynode_kind(const ynode_t *n) { return (ynode_kind_t)n->kind; }
unsigned ynode_line(const ynode_t *n) { return n->line; }
unsigned ynode_column(const ynode_t *n) { return n->column; }
const char *ynode_tag(const ynode_t *n) { return n->tag; }

static bool is_scalar(const ynode_t *n) { return n != NULL && n->kind == YNODE_SCALAR; }

const char *ynode_str(const ynode_t *n) { return is_scalar(n) ? n->u.scalar.text : NULL; }
size_t ynode_len(const ynode_t *n) { return is_scalar(n) ? n->u.scalar.len : 0; }
ynode_style_t ynode_style(const ynode_t *n) {
  return is_scalar(n) ? (ynode_style_t)n->style : YNODE_PLAIN;
}
bool ynode_is_null(const ynode_t *n) { return is_scalar(n) && n->res == YR_NULL; }

size_t ynode_seq_len(const ynode_t *n) {
  return n != NULL && n->kind == YNODE_SEQUENCE ? n->u.seq.len : 0;
}

const ynode_t *ynode_seq_at(const ynode_t *n, size_t i) {
  return i < ynode_seq_len(n) ? n->u.seq.items[i] : NULL;
}

size_t ynode_map_len(const ynode_t *n) {
  return n != NULL && n->kind == YNODE_MAPPING ? n->u.map.len : 0;
}

const ynode_t *ynode_map_key(const ynode_t *n, size_t i) {
  return i < ynode_map_len(n) ? n->u.map.pairs[i].key : NULL;
}

const ynode_t *ynode_map_value(const ynode_t *n, size_t i) {
  return i < ynode_map_len(n) ? n->u.map.pairs[i].value : NULL;
}

static bool key_is(const ynode_t *k, const char *s, size_t len) {
  return is_scalar(k) && k->u.scalar.len == len && memcmp(k->u.scalar.text, s, len) == 0;
}

const ynode_t *ynode_map_get(const ynode_t *n, const char *key) {
  size_t len = strlen(key), count = ynode_map_len(n);
  for (size_t i = 0; i < count; i++)
    if (key_is(n->u.map.pairs[i].key, key, len)) return n->u.map.pairs[i].value;
  return NULL;
}

/* ---- Decoding context ------------------------------------------------------ */

ycfg_t *ycfg_new(ydoc_t *doc, char *err, size_t errlen) {
  ph_assert(doc != NULL);
  ycfg_t *c = ph_calloc(1, sizeof(*c));
  c->doc = doc;
  c->err = err;
  c->errlen = errlen;
  strbuf_init(&c->path);
  return c;
}

void ycfg_free(ycfg_t *c) {
  if (c == NULL) return;
  strbuf_free(&c->path);
  free(c);
}

const char *ycfg_path(const ycfg_t *c) { return strbuf_cstr(&c->path); }

static bool is_identifier(const char *s, size_t len) {
  if (len == 0) return false;
  for (size_t i = 0; i < len; i++) {
    char ch = s[i];
    bool ok = ch == '_' || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (i > 0 && ch >= '0' && ch <= '9');
    if (!ok) return false;
  }
  return true;
}

static size_t push_key(ycfg_t *c, const char *name, size_t len) {
  size_t mark = c->path.len;
  if (is_identifier(name, len)) {
    if (c->path.len > 0) strbuf_putc(&c->path, '.');
    strbuf_append(&c->path, name, len);
  } else {
    strbuf_putc(&c->path, '[');
    put_quoted(&c->path, name, len);
    strbuf_putc(&c->path, ']');
  }
  return mark;
}

size_t ycfg_push_field(ycfg_t *c, const char *name) {
  return push_key(c, name, strlen(name));
}

size_t ycfg_push_index(ycfg_t *c, size_t index) {
  size_t mark = c->path.len;
  strbuf_printf(&c->path, "[%zu]", index);
  return mark;
}

void ycfg_pop(ycfg_t *c, size_t mark) {
  ph_assert(mark <= c->path.len);
  c->path.len = mark;
  if (c->path.data != NULL) c->path.data[mark] = '\0';
}

/* "file:line:col: " then, when with_path and the path is not empty,
 * "path: ", then the message. */
static int vfail(ycfg_t *c, const ynode_t *at, bool with_path, const char *fmt,
                 va_list ap) {
  strbuf_t m = STRBUF_INIT;
  if (at != NULL)
    strbuf_printf(&m, "%s:%u:%u: ", c->doc->name, at->line, at->column);
  else
    strbuf_printf(&m, "%s: ", c->doc->name);
  if (with_path && c->path.len > 0) strbuf_printf(&m, "%s: ", ycfg_path(c));
  strbuf_vprintf(&m, fmt, ap);
  ph_err(c->err, c->errlen, PH_EPARSE, "%s", strbuf_cstr(&m));
  strbuf_free(&m);
  return PH_EPARSE;
}

int ycfg_errorf(ycfg_t *c, const ynode_t *at, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = vfail(c, at, true, fmt, ap);
  va_end(ap);
  return rc;
}

static int fail(ycfg_t *c, const ynode_t *at, bool with_path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(ycfg_t *c, const ynode_t *at, bool with_path, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = vfail(c, at, with_path, fmt, ap);
  va_end(ap);
  return rc;
}

/* What a node is, for "got ...": a mapping, a sequence, null or its text. */
static void describe(strbuf_t *b, const ynode_t *n) {
  if (n->kind == YNODE_MAPPING) strbuf_puts(b, "a mapping");
  else if (n->kind == YNODE_SEQUENCE) strbuf_puts(b, "a sequence");
  else if (n->res == YR_NULL && n->style == YNODE_PLAIN) strbuf_puts(b, "null");
  else put_quoted(b, n->u.scalar.text, n->u.scalar.len);
}

/* "path: expected <what>, got <n>". */
static int expect_fail(ycfg_t *c, const ynode_t *n, const char *what) {
  strbuf_t d = STRBUF_INIT;
  describe(&d, n);
  int rc = fail(c, n, true, "expected %s, got %s", what, strbuf_cstr(&d));
  strbuf_free(&d);
  return rc;
}

/* "field "k" <what> in <path><extra>" (or "at the top level"), at the key. */
static int field_fail(ycfg_t *c, const ynode_t *key, const char *what,
                      const char *extra) {
  strbuf_t q = STRBUF_INIT;
  put_quoted(&q, key->u.scalar.text, key->u.scalar.len);
  int rc = fail(c, key, false, "field %s %s %s%s%s", strbuf_cstr(&q), what,
                c->path.len ? "in " : "at the top level", ycfg_path(c), extra);
  strbuf_free(&q);
  return rc;
}

/* Levenshtein distance between short strings (SIZE_MAX when too long). */
#define YHINT_MAX 64
static size_t edit_distance(const char *a, size_t alen, const char *b, size_t blen) {
  if (alen > YHINT_MAX || blen > YHINT_MAX) return SIZE_MAX;
  size_t row[YHINT_MAX + 1];
  for (size_t j = 0; j <= blen; j++) row[j] = j;
  for (size_t i = 1; i <= alen; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= blen; j++) {
      size_t up = row[j];
      size_t best = diag + (a[i - 1] != b[j - 1]);
      if (up + 1 < best) best = up + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[blen];
}

/* The allowed key closest to an unknown one, if it is a plausible typo. */
static const char *suggest(const char *const *allowed, const char *key, size_t len) {
  const char *best = NULL;
  size_t best_d = 3; /* at most two edits */
  for (; *allowed != NULL; allowed++) {
    size_t d = edit_distance(key, len, *allowed, strlen(*allowed));
    if (d < best_d && d < len) best = *allowed, best_d = d;
  }
  return best;
}

static int cmp_key_index(const void *pa, const void *pb, void *ctx) {
  const ypair_t *pairs = ctx;
  size_t ia = *(const size_t *)pa, ib = *(const size_t *)pb;
  const ynode_t *a = pairs[ia].key, *b = pairs[ib].key;
  size_t n = a->u.scalar.len < b->u.scalar.len ? a->u.scalar.len : b->u.scalar.len;
  int r = memcmp(a->u.scalar.text, b->u.scalar.text, n);
  if (r != 0) return r;
  if (a->u.scalar.len != b->u.scalar.len)
    return a->u.scalar.len < b->u.scalar.len ? -1 : 1;
  return ia < ib ? -1 : ia > ib;
}

/* Finds the earliest entry whose (scalar) key repeats an earlier one;
 * *first is that earlier entry.  Small maps compare pairwise, larger ones
 * sort an index by (key, position). */
static bool find_duplicate(const ypair_t *pairs, size_t n, size_t *first,
                           size_t *second) {
  *first = 0;
  *second = SIZE_MAX;
  if (n <= 32) {
    for (size_t j = 1; j < n; j++)
      for (size_t i = 0; i < j; i++) {
        const ynode_t *k = pairs[j].key;
        if (key_is(pairs[i].key, k->u.scalar.text, k->u.scalar.len)) {
          *first = i;
          *second = j;
          return true;
        }
      }
    return false;
  }
  size_t *idx = ph_malloc(n * sizeof(*idx));
  for (size_t i = 0; i < n; i++) idx[i] = i;
  qsort_r(idx, n, sizeof(*idx), cmp_key_index, (void *)pairs);
  /* Equal keys now form runs ordered by position; a run's second entry is
   * its first repeat. */
  bool found = false;
  size_t start = 0;
  for (size_t i = 1; i < n; i++) {
    const ynode_t *k = pairs[idx[start]].key;
    if (!key_is(pairs[idx[i]].key, k->u.scalar.text, k->u.scalar.len)) {
      start = i;
      continue;
    }
    if (i == start + 1 && (!found || idx[i] < *second)) {
      *first = idx[start];
      *second = idx[i];
      found = true;
    }
  }
  free(idx);
  return found;
}

int ycfg_check_map(ycfg_t *c, const ynode_t *n, const char *const *allowed) {
  if (ynode_is_null(n)) return 0;
  if (n->kind != YNODE_MAPPING) return expect_fail(c, n, "a mapping");
  const ypair_t *pairs = n->u.map.pairs;
  for (size_t i = 0; i < n->u.map.len; i++) {
    const ynode_t *k = pairs[i].key;
    if (k->kind != YNODE_SCALAR) return expect_fail(c, k, "a scalar key");
    if (allowed == NULL) continue;
    bool known = false;
    for (const char *const *a = allowed; *a != NULL && !known; a++)
      known = key_is(k, *a, strlen(*a));
    if (known) continue;
    const char *hint = suggest(allowed, k->u.scalar.text, k->u.scalar.len);
    strbuf_t extra = STRBUF_INIT;
    if (hint != NULL) strbuf_printf(&extra, " (did you mean \"%s\"?)", hint);
    int rc = field_fail(c, k, "not found", strbuf_cstr(&extra));
    strbuf_free(&extra);
    return rc;
  }
  size_t first, second;
  if (find_duplicate(pairs, n->u.map.len, &first, &second)) {
    char extra[64];
    snprintf(extra, sizeof(extra), " (first set at line %u)", pairs[first].key->line);
    return field_fail(c, pairs[second].key, "already set", extra);
  }
  return 0;
}

/* ---- Value getters ----------------------------------------------------------- */

int ycfg_as_string(ycfg_t *c, const ynode_t *n, const char **out) {
  if (ynode_is_null(n)) { *out = ""; return 0; }
  if (n->kind != YNODE_SCALAR) return expect_fail(c, n, "a string");
  if (memchr(n->u.scalar.text, '\0', n->u.scalar.len) != NULL)
    return expect_fail(c, n, "a string without NUL characters");
  *out = n->u.scalar.text;
  return 0;
}

int ycfg_as_bool(ycfg_t *c, const ynode_t *n, bool *out) {
  if (ynode_is_null(n)) { *out = false; return 0; }
  if (n->kind != YNODE_SCALAR || n->res != YR_BOOL)
    return expect_fail(c, n, "a boolean (true or false)");
  *out = n->u.scalar.v.b;
  return 0;
}

/* 2^63 and 2^64 as doubles: the bounds of integral floats that convert. */
#define YTWO63 9223372036854775808.0
#define YTWO64 18446744073709551616.0

static int int_range_fail(ycfg_t *c, const ynode_t *n, const char *min, const char *max) {
  char what[128];
  snprintf(what, sizeof(what), "an integer between %s and %s", min, max);
  return expect_fail(c, n, what);
}

int ycfg_as_int(ycfg_t *c, const ynode_t *n, int64_t min, int64_t max, int64_t *out) {
  ph_assert(min <= max);
  if (ynode_is_null(n)) { *out = 0; return 0; }
  char smin[24], smax[24];
  snprintf(smin, sizeof(smin), "%" PRId64, min);
  snprintf(smax, sizeof(smax), "%" PRId64, max);
  if (n->kind != YNODE_SCALAR) return expect_fail(c, n, "an integer");
  int64_t v;
  switch (n->res) {
  case YR_INT: v = n->u.scalar.v.i; break;
  case YR_UINT: return int_range_fail(c, n, smin, smax);
  case YR_FLOAT: {
    double f = n->u.scalar.v.f;
    if (!isfinite(f) || f != floor(f)) return expect_fail(c, n, "an integer");
    if (f < -YTWO63 || f >= YTWO63) return int_range_fail(c, n, smin, smax);
    v = (int64_t)f;
    break;
  }
  default: return expect_fail(c, n, "an integer");
  }
  if (v < min || v > max) return int_range_fail(c, n, smin, smax);
  *out = v;
  return 0;
}

int ycfg_as_uint(ycfg_t *c, const ynode_t *n, uint64_t max, uint64_t *out) {
  if (ynode_is_null(n)) { *out = 0; return 0; }
  char smax[24];
  snprintf(smax, sizeof(smax), "%" PRIu64, max);
  if (n->kind != YNODE_SCALAR) return expect_fail(c, n, "a non-negative integer");
  uint64_t v;
  switch (n->res) {
  case YR_INT:
    if (n->u.scalar.v.i < 0) return int_range_fail(c, n, "0", smax);
    v = (uint64_t)n->u.scalar.v.i;
    break;
  case YR_UINT: v = n->u.scalar.v.u; break;
  case YR_FLOAT: {
    double f = n->u.scalar.v.f;
    if (!isfinite(f) || f != floor(f)) return expect_fail(c, n, "a non-negative integer");
    if (f < 0 || f >= YTWO64) return int_range_fail(c, n, "0", smax);
    v = (uint64_t)f;
    break;
  }
  default: return expect_fail(c, n, "a non-negative integer");
  }
  if (v > max) return int_range_fail(c, n, "0", smax);
  *out = v;
  return 0;
}

int ycfg_as_double(ycfg_t *c, const ynode_t *n, double *out) {
  if (ynode_is_null(n)) { *out = 0; return 0; }
  if (n->kind != YNODE_SCALAR) return expect_fail(c, n, "a number");
  switch (n->res) {
  case YR_INT: *out = (double)n->u.scalar.v.i; return 0;
  case YR_UINT: *out = (double)n->u.scalar.v.u; return 0;
  case YR_FLOAT: *out = n->u.scalar.v.f; return 0;
  default: return expect_fail(c, n, "a number");
  }
}

int ycfg_as_duration(ycfg_t *c, const ynode_t *n, int64_t *ms) {
  static const char what[] = "a duration such as 15s";
  if (ynode_is_null(n)) { *ms = 0; return 0; }
  if (n->kind != YNODE_SCALAR) return expect_fail(c, n, what);
  int64_t v;
  int rc = ph_parse_duration(n->u.scalar.text, n->u.scalar.len, &v, NULL, 0);
  if (rc == PH_ELIMIT) {
    strbuf_t d = STRBUF_INIT;
    describe(&d, n);
    rc = fail(c, n, true, "duration %s out of range", strbuf_cstr(&d));
    strbuf_free(&d);
    return rc;
  }
  if (rc != 0) return expect_fail(c, n, what);
  *ms = v;
  return 0;
}

int ycfg_as_strings(ycfg_t *c, const ynode_t *n, const char ***items, size_t *count) {
  if (ynode_is_null(n)) { *items = NULL; *count = 0; return 0; }
  if (n->kind != YNODE_SEQUENCE) return expect_fail(c, n, "a sequence of strings");
  size_t len = n->u.seq.len;
  const char **v = len ? doc_alloc(c->doc, len * sizeof(*v)) : NULL;
  for (size_t i = 0; i < len; i++) {
    size_t mark = ycfg_push_index(c, i);
    int rc = ycfg_as_string(c, n->u.seq.items[i], &v[i]);
    ycfg_pop(c, mark);
    if (rc != 0) return rc;
  }
  *items = v;
  *count = len;
  return 0;
}

int ycfg_as_string_map(ycfg_t *c, const ynode_t *n, ycfg_pair_t **pairs, size_t *count) {
  int rc = ycfg_check_map(c, n, NULL);
  if (rc != 0) return rc;
  size_t len = ynode_map_len(n);
  ycfg_pair_t *v = len ? doc_alloc(c->doc, len * sizeof(*v)) : NULL;
  for (size_t i = 0; i < len; i++) {
    const ypair_t *p = &n->u.map.pairs[i];
    v[i].key_node = p->key;
    v[i].value_node = p->value;
    if ((rc = ycfg_as_string(c, p->key, &v[i].key)) != 0) return rc;
    size_t mark = push_key(c, p->key->u.scalar.text, p->key->u.scalar.len);
    rc = ycfg_as_string(c, p->value, &v[i].value);
    ycfg_pop(c, mark);
    if (rc != 0) return rc;
  }
  *pairs = v;
  *count = len;
  return 0;
}

int ycfg_each(ycfg_t *c, const ynode_t *seq, ycfg_item_fn fn, void *ud) {
  if (ynode_is_null(seq)) return 0;
  if (seq->kind != YNODE_SEQUENCE) return expect_fail(c, seq, "a sequence");
  for (size_t i = 0; i < seq->u.seq.len; i++) {
    size_t mark = ycfg_push_index(c, i);
    int rc = fn(c, seq->u.seq.items[i], i, ud);
    ycfg_pop(c, mark);
    if (rc != 0) return rc;
  }
  return 0;
}

int ycfg_each_entry(ycfg_t *c, const ynode_t *map, ycfg_entry_fn fn, void *ud) {
  int rc = ycfg_check_map(c, map, NULL);
  if (rc != 0) return rc;
  for (size_t i = 0; i < ynode_map_len(map); i++) {
    const ypair_t *p = &map->u.map.pairs[i];
    const char *key;
    if ((rc = ycfg_as_string(c, p->key, &key)) != 0) return rc;
    size_t mark = push_key(c, p->key->u.scalar.text, p->key->u.scalar.len);
    rc = fn(c, key, p->value, ud);
    ycfg_pop(c, mark);
    if (rc != 0) return rc;
  }
  return 0;
}

/* ---- Field getters ------------------------------------------------------------ */

/* Each looks the key up; absent leaves *out alone, present decodes with the
 * key pushed on the path. */
#define YCFG_FIELD(key, call)                      \
  do {                                             \
    const ynode_t *v_ = ynode_map_get(map, (key)); \
    if (v_ == NULL) return 0;                      \
    size_t mark_ = ycfg_push_field(c, (key));      \
    int rc_ = (call);                              \
    ycfg_pop(c, mark_);                            \
    return rc_;                                    \
  } while (0)

int ycfg_get_string(ycfg_t *c, const ynode_t *map, const char *key, const char **out) {
  YCFG_FIELD(key, ycfg_as_string(c, v_, out));
}

int ycfg_get_bool(ycfg_t *c, const ynode_t *map, const char *key, bool *out) {
  YCFG_FIELD(key, ycfg_as_bool(c, v_, out));
}

int ycfg_get_int(ycfg_t *c, const ynode_t *map, const char *key, int64_t min,
                 int64_t max, int64_t *out) {
  YCFG_FIELD(key, ycfg_as_int(c, v_, min, max, out));
}

int ycfg_get_uint(ycfg_t *c, const ynode_t *map, const char *key, uint64_t max,
                  uint64_t *out) {
  YCFG_FIELD(key, ycfg_as_uint(c, v_, max, out));
}

int ycfg_get_double(ycfg_t *c, const ynode_t *map, const char *key, double *out) {
  YCFG_FIELD(key, ycfg_as_double(c, v_, out));
}

int ycfg_get_duration(ycfg_t *c, const ynode_t *map, const char *key, int64_t *ms) {
  YCFG_FIELD(key, ycfg_as_duration(c, v_, ms));
}

int ycfg_get_strings(ycfg_t *c, const ynode_t *map, const char *key,
                     const char ***items, size_t *count) {
  YCFG_FIELD(key, ycfg_as_strings(c, v_, items, count));
}

int ycfg_get_string_map(ycfg_t *c, const ynode_t *map, const char *key,
                        ycfg_pair_t **pairs, size_t *count) {
  YCFG_FIELD(key, ycfg_as_string_map(c, v_, pairs, count));
}

int ycfg_get_each(ycfg_t *c, const ynode_t *map, const char *key, ycfg_item_fn fn,
                  void *ud) {
  YCFG_FIELD(key, ycfg_each(c, v_, fn, ud));
}

int ycfg_get_field(ycfg_t *c, const ynode_t *map, const char *key, ycfg_item_fn fn,
                   void *ud) {
  YCFG_FIELD(key, fn(c, v_, 0, ud));
}
