/*
 * relabel.c - compiling and applying relabel rules (see relabel.h).
 *
 * A rule keeps its strings, its action and the PCRE2 code of the anchored
 * regex ("^(?s:" regex ")$", UTF mode, invalid UTF-8 in subjects allowed
 * and never matched by a code point, JIT when available).  Applying rules
 * works on a small scratch set of owned (name, value) strings in insertion
 * order; lookups are linear, which is what label sets of a few dozen
 * pairs want.  The final set is built with labels_new(), which sorts,
 * drops empty values and hashes.
 *
 * hashmod needs MD5 (Prometheus takes the last 8 bytes of the digest as a
 * big-endian integer); a compact RFC 1321 implementation is at the end.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "relabel.h"

#include "mem.h"
#include "ph_error.h"
#include "strbuf.h"

#include <pcre2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct relabel_rule {
  relabel_action_t action;
  char **source;
  size_t nsource;
  char *separator;
  char *target;
  char *regex_text;
  char *replacement;
  uint64_t modulus;
  pcre2_code *code;
};

static const char *const action_names[] = {
    [RELABEL_REPLACE] = "replace",     [RELABEL_KEEP] = "keep",
    [RELABEL_DROP] = "drop",           [RELABEL_KEEPEQUAL] = "keepequal",
    [RELABEL_DROPEQUAL] = "dropequal", [RELABEL_HASHMOD] = "hashmod",
    [RELABEL_LABELMAP] = "labelmap",   [RELABEL_LABELDROP] = "labeldrop",
    [RELABEL_LABELKEEP] = "labelkeep", [RELABEL_LOWERCASE] = "lowercase",
    [RELABEL_UPPERCASE] = "uppercase",
};

const char *relabel_action_name(relabel_action_t a) {
  if ((size_t)a < sizeof action_names / sizeof action_names[0]) return action_names[a];
  return "unknown";
}

relabel_action_t relabel_rule_action(const relabel_rule_t *r) { return r->action; }

/* ---- regexes --------------------------------------------------------------- */

static pcre2_match_context *g_mctx;
static pthread_once_t g_mctx_once = PTHREAD_ONCE_INIT;

static void mctx_init(void) {
  g_mctx = pcre2_match_context_create(NULL);
  pcre2_set_match_limit(g_mctx, 1000000);
  pcre2_set_depth_limit(g_mctx, 10000);
}

static pcre2_match_context *mctx(void) {
  pthread_once(&g_mctx_once, mctx_init);
  return g_mctx;
}

/* RE2 has no backreferences and no lookaround; PCRE2 would accept them, so
 * refuse them here as Prometheus (Go's regexp) does. */
static const char *re2_unsupported(const char *re) {
  bool in_class = false;
  for (const char *p = re; *p; p++) {
    if (*p == '\\') {
      if (p[1] == '\0') break;
      if (!in_class && p[1] >= '1' && p[1] <= '9') return "backreferences";
      if (p[1] == 'k' || p[1] == 'g') return "backreferences";
      p++;
      continue;
    }
    if (in_class) {
      if (*p == ']') in_class = false;
      continue;
    }
    if (*p == '[') {
      in_class = true;
      if (p[1] == '^') p++;
      if (p[1] == ']') p++;
      continue;
    }
    if (p[0] == '(' && p[1] == '?') {
      if (p[2] == '=' || p[2] == '!') return "lookahead";
      if (p[2] == '<' && (p[3] == '=' || p[3] == '!')) return "lookbehind";
      if (p[2] == '>') return "atomic groups";
    }
    if ((*p == '+' || *p == '*' || *p == '?' || *p == '}') && p[1] == '+')
      return "possessive quantifiers";
  }
  return NULL;
}

static pcre2_code *compile_anchored(const char *re, char *err, size_t errlen) {
  const char *bad = re2_unsupported(re);
  if (bad != NULL) {
    ph_err(err, errlen, PH_EPARSE, "error parsing regexp: invalid or unsupported Perl syntax (%s) in %s", bad, re);
    return NULL;
  }
  strbuf_t b = STRBUF_INIT;
  strbuf_printf(&b, "^(?s:%s)$", re);
  int ec;
  PCRE2_SIZE off;
  pcre2_code *code = pcre2_compile((PCRE2_SPTR)b.data, b.len,
                                   PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY,
                                   &ec, &off, NULL);
  strbuf_free(&b);
  if (code == NULL) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(ec, msg, sizeof msg);
    size_t at = off >= 6 ? off - 6 : 0; /* position inside the user's text */
    ph_err(err, errlen, PH_EPARSE, "error parsing regexp \"%s\": %s (at offset %zu)", re,
           (const char *)msg, at);
    return NULL;
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* best effort */
  return code;
}

/* Matches s against the rule's regex into md (required by pcre2_match).
 * Returns the pcre2 result: > 0 on a match (the number of groups set). */
static int rule_match(const relabel_rule_t *r, const char *s, size_t len,
                      pcre2_match_data *md) {
  return pcre2_match(r->code, (PCRE2_SPTR)s, len, 0, 0, md, mctx());
}

bool relabel_rule_matches(const relabel_rule_t *r, const char *s) {
  pcre2_match_data *md = pcre2_match_data_create_from_pattern(r->code, NULL);
  int rc = rule_match(r, s, strlen(s), md);
  pcre2_match_data_free(md);
  return rc > 0;
}

/* ---- Go's Regexp.Expand ---------------------------------------------------- */

static bool word_byte(unsigned char c) {
  return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c >= 0x80;
}

/* Appends template expanded against subject s and the match in md. */
static void expand(const relabel_rule_t *r, const char *tmpl, const char *s,
                   pcre2_match_data *md, int groups, strbuf_t *out) {
  PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
  const char *p = tmpl;
  for (;;) {
    const char *d = strchr(p, '$');
    if (d == NULL) {
      strbuf_puts(out, p);
      return;
    }
    strbuf_append(out, p, (size_t)(d - p));
    p = d + 1;
    if (*p == '$') {
      strbuf_putc(out, '$');
      p++;
      continue;
    }
    bool brace = *p == '{';
    const char *n = brace ? p + 1 : p;
    size_t i = 0;
    while (n[i] && word_byte((unsigned char)n[i])) i++;
    if (i == 0 || (brace && n[i] != '}')) {
      strbuf_putc(out, '$'); /* malformed: the $ is literal text */
      continue;
    }
    const char *name = n;
    size_t nlen = i;
    p = n + i + (brace ? 1 : 0);
    long num = 0;
    for (size_t k = 0; k < nlen; k++) {
      if (name[k] < '0' || name[k] > '9' || num >= 100000000) {
        num = -1;
        break;
      }
      num = num * 10 + (name[k] - '0');
    }
    if (name[0] == '0' && nlen > 1) num = -1;
    if (num < 0) {
      char tmp[256];
      if (nlen >= sizeof tmp) continue;
      memcpy(tmp, name, nlen);
      tmp[nlen] = '\0';
      int g = pcre2_substring_number_from_name(r->code, (PCRE2_SPTR)tmp);
      if (g <= 0) continue;
      num = g;
    }
    if (num < groups && ov[2 * num] != PCRE2_UNSET)
      strbuf_append(out, s + ov[2 * num], ov[2 * num + 1] - ov[2 * num]);
  }
}

/* Prometheus's relabelTarget: ^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$ */
static bool is_word(unsigned char c) {
  return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool valid_relabel_target(const char *s) {
  if (*s == '\0' || (*s >= '0' && *s <= '9')) return false;
  size_t i = 0;
  while (s[i]) {
    unsigned char c = (unsigned char)s[i];
    if (is_word(c)) {
      i++;
    } else if (c == '$') {
      i++;
      if (s[i] == '{') {
        size_t j = i + 1;
        while (is_word((unsigned char)s[j])) j++;
        if (j == i + 1 || s[j] != '}') return false;
        i = j + 1;
      } else {
        size_t j = i;
        while (is_word((unsigned char)s[j])) j++;
        if (j == i) return false;
        i = j;
      }
    } else {
      return false;
    }
  }
  return true;
}

/* ---- compiling ------------------------------------------------------------- */

void relabel_rule_free(relabel_rule_t *r) {
  if (r == NULL) return;
  for (size_t i = 0; i < r->nsource; i++) free(r->source[i]);
  free(r->source);
  free(r->separator);
  free(r->target);
  free(r->regex_text);
  free(r->replacement);
  pcre2_code_free(r->code);
  free(r);
}

static int bad(const char **bad_field, const char *field, char *err, size_t errlen,
               const char *fmt, const char *a, const char *b) {
  if (bad_field) *bad_field = field;
  return ph_err(err, errlen, PH_EPARSE, fmt, a, b);
}

int relabel_rule_new(const relabel_spec_t *spec, relabel_rule_t **out,
                     const char **bad_field, char *err, size_t errlen) {
  if (bad_field) *bad_field = NULL;
  *out = NULL;
  relabel_action_t act = RELABEL_REPLACE;
  if (spec->action != NULL) {
    bool found = false;
    if (spec->action[0] == '\0')
      return bad(bad_field, "action", err, errlen, "relabel action cannot be empty%s%s", "", "");
    for (size_t i = 0; i < sizeof action_names / sizeof action_names[0]; i++) {
      if (strcasecmp(spec->action, action_names[i]) == 0) {
        act = (relabel_action_t)i;
        found = true;
        break;
      }
    }
    if (!found)
      return bad(bad_field, "action", err, errlen, "unknown relabel action \"%s\"%s",
                 spec->action, "");
  }
  const char *an = action_names[act];
  const char *sep = spec->separator ? spec->separator : ";";
  const char *target = spec->target_label ? spec->target_label : "";
  const char *regex = spec->regex ? spec->regex : "(.*)";
  const char *repl = spec->replacement ? spec->replacement : "$1";
  bool def_regex = strcmp(regex, "(.*)") == 0;
  bool def_repl = strcmp(repl, "$1") == 0;
  bool def_sep = strcmp(sep, ";") == 0;

  for (size_t i = 0; i < spec->nsource; i++) {
    const char *s = spec->source_labels[i];
    if (!labels_valid_name(s, strlen(s)))
      return bad(bad_field, "source_labels", err, errlen, "\"%s\" is not a valid label name%s", s, "");
  }
  if (act == RELABEL_HASHMOD && spec->modulus == 0)
    return bad(bad_field, "modulus", err, errlen,
               "relabel configuration for hashmod requires non-zero modulus%s%s", "", "");
  bool needs_target = act == RELABEL_REPLACE || act == RELABEL_HASHMOD ||
                      act == RELABEL_LOWERCASE || act == RELABEL_UPPERCASE ||
                      act == RELABEL_KEEPEQUAL || act == RELABEL_DROPEQUAL;
  if (needs_target && target[0] == '\0')
    return bad(bad_field, "target_label", err, errlen,
               "relabel configuration for %s action requires 'target_label' value%s", an, "");
  if (act == RELABEL_REPLACE && !valid_relabel_target(target))
    return bad(bad_field, "target_label", err, errlen, "\"%s\" is invalid 'target_label' for %s action",
               target, an);
  bool plain_target = act == RELABEL_LOWERCASE || act == RELABEL_UPPERCASE ||
                      act == RELABEL_KEEPEQUAL || act == RELABEL_DROPEQUAL ||
                      act == RELABEL_HASHMOD;
  if (plain_target && !labels_valid_name(target, strlen(target)))
    return bad(bad_field, "target_label", err, errlen, "\"%s\" is invalid 'target_label' for %s action",
               target, an);
  if ((act == RELABEL_LOWERCASE || act == RELABEL_UPPERCASE || act == RELABEL_KEEPEQUAL ||
       act == RELABEL_DROPEQUAL) && !def_repl)
    return bad(bad_field, "replacement", err, errlen, "'replacement' can not be set for %s action%s", an, "");
  if (act == RELABEL_LABELMAP && !valid_relabel_target(repl))
    return bad(bad_field, "replacement", err, errlen, "\"%s\" is invalid 'replacement' for %s action",
               repl, an);
  if ((act == RELABEL_KEEPEQUAL || act == RELABEL_DROPEQUAL) &&
      (!def_regex || spec->modulus != 0 || !def_sep || !def_repl))
    return bad(bad_field, NULL, err, errlen,
               "%s action requires only 'source_labels' and `target_label`, and no other fields%s", an, "");
  if ((act == RELABEL_LABELDROP || act == RELABEL_LABELKEEP) &&
      (spec->source_labels_set || target[0] != '\0' || spec->modulus != 0 || !def_sep || !def_repl))
    return bad(bad_field, NULL, err, errlen, "%s action requires only 'regex', and no other fields%s", an, "");

  pcre2_code *code = compile_anchored(regex, err, errlen);
  if (code == NULL) {
    if (bad_field) *bad_field = "regex";
    return PH_EPARSE;
  }
  relabel_rule_t *r = ph_calloc(1, sizeof *r);
  r->action = act;
  r->nsource = spec->nsource;
  r->source = ph_calloc(spec->nsource ? spec->nsource : 1, sizeof *r->source);
  for (size_t i = 0; i < spec->nsource; i++) r->source[i] = ph_strdup(spec->source_labels[i]);
  r->separator = ph_strdup(sep);
  r->target = ph_strdup(target);
  r->regex_text = ph_strdup(regex);
  r->replacement = ph_strdup(repl);
  r->modulus = spec->modulus;
  r->code = code;
  *out = r;
  return 0;
}

/* ---- the working set --------------------------------------------------------- */

typedef struct work {
  char **names, **values;
  size_t n, cap;
} work_t;

static ptrdiff_t work_find(const work_t *w, const char *name) {
  for (size_t i = 0; i < w->n; i++)
    if (strcmp(w->names[i], name) == 0) return (ptrdiff_t)i;
  return -1;
}

static const char *work_get(const work_t *w, const char *name) {
  ptrdiff_t i = work_find(w, name);
  return i < 0 ? "" : w->values[i];
}

static void work_del(work_t *w, const char *name) {
  ptrdiff_t i = work_find(w, name);
  if (i < 0) return;
  free(w->names[i]);
  free(w->values[i]);
  w->n--;
  w->names[i] = w->names[w->n];
  w->values[i] = w->values[w->n];
}

static void work_set(work_t *w, const char *name, const char *value, size_t vlen) {
  if (vlen == 0) {
    work_del(w, name);
    return;
  }
  ptrdiff_t i = work_find(w, name);
  if (i >= 0) {
    free(w->values[i]);
    w->values[i] = ph_strndup(value, vlen);
    return;
  }
  if (w->n == w->cap) {
    size_t c = w->cap;
    ph_grow(&w->names, &c, w->n + 1);
    ph_grow(&w->values, &w->cap, w->n + 1);
  }
  w->names[w->n] = ph_strdup(name);
  w->values[w->n] = ph_strndup(value, vlen);
  w->n++;
}

static void work_free(work_t *w) {
  for (size_t i = 0; i < w->n; i++) {
    free(w->names[i]);
    free(w->values[i]);
  }
  free(w->names);
  free(w->values);
}

/* ---- MD5 (RFC 1321) ------------------------------------------------------------ */

typedef struct md5 {
  uint32_t h[4];
  uint64_t len;
  unsigned char buf[64];
} md5_t;

static const uint32_t md5_k[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613,
    0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193,
    0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d,
    0x02441453, 0xd8a1e681, 0xe7d3fbc8, 0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed,
    0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122,
    0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa,
    0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665, 0xf4292244,
    0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb,
    0xeb86d391};
static const unsigned char md5_r[64] = {7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
                                        5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,
                                        4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
                                        6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21};

static void md5_block(md5_t *m, const unsigned char *p) {
  uint32_t w[16];
  for (int i = 0; i < 16; i++)
    w[i] = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
           (uint32_t)p[4 * i + 3] << 24;
  uint32_t a = m->h[0], b = m->h[1], c = m->h[2], d = m->h[3];
  for (int i = 0; i < 64; i++) {
    uint32_t f;
    int g;
    if (i < 16) {
      f = (b & c) | (~b & d);
      g = i;
    } else if (i < 32) {
      f = (d & b) | (~d & c);
      g = (5 * i + 1) % 16;
    } else if (i < 48) {
      f = b ^ c ^ d;
      g = (3 * i + 5) % 16;
    } else {
      f = c ^ (b | ~d);
      g = (7 * i) % 16;
    }
    uint32_t t = d;
    d = c;
    c = b;
    uint32_t x = a + f + md5_k[i] + w[g];
    b = b + ((x << md5_r[i]) | (x >> (32 - md5_r[i])));
    a = t;
  }
  m->h[0] += a;
  m->h[1] += b;
  m->h[2] += c;
  m->h[3] += d;
}

static void md5_sum(const void *data, size_t len, unsigned char out[16]) {
  md5_t m = {{0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476}, 0, {0}};
  const unsigned char *p = data;
  size_t n = len;
  while (n >= 64) {
    md5_block(&m, p);
    p += 64;
    n -= 64;
  }
  unsigned char tail[128] = {0};
  memcpy(tail, p, n);
  tail[n] = 0x80;
  size_t tl = n + 1 + 8 <= 64 ? 64 : 128;
  uint64_t bits = (uint64_t)len * 8;
  for (int i = 0; i < 8; i++) tail[tl - 8 + i] = (unsigned char)(bits >> (8 * i));
  md5_block(&m, tail);
  if (tl == 128) md5_block(&m, tail + 64);
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 4; j++) out[4 * i + j] = (unsigned char)(m.h[i] >> (8 * j));
}

/* ---- applying ------------------------------------------------------------------ */

/* One rule; false when the set is dropped. */
static bool apply_one(const relabel_rule_t *r, work_t *w, strbuf_t *val, strbuf_t *tmp,
                      pcre2_match_data *md) {
  strbuf_reset(val);
  for (size_t i = 0; i < r->nsource; i++) {
    if (i > 0) strbuf_puts(val, r->separator);
    strbuf_puts(val, work_get(w, r->source[i]));
  }
  const char *v = strbuf_cstr(val);
  size_t vlen = val->len;
  switch (r->action) {
  case RELABEL_DROP:
    return rule_match(r, v, vlen, md) <= 0;
  case RELABEL_KEEP:
    return rule_match(r, v, vlen, md) > 0;
  case RELABEL_DROPEQUAL:
    return strcmp(work_get(w, r->target), v) != 0;
  case RELABEL_KEEPEQUAL:
    return strcmp(work_get(w, r->target), v) == 0;
  case RELABEL_REPLACE: {
    int groups = rule_match(r, v, vlen, md);
    if (groups <= 0) return true;
    strbuf_reset(tmp);
    expand(r, r->target, v, md, groups, tmp);
    if (!labels_valid_name(strbuf_cstr(tmp), tmp->len)) return true;
    char *tname = ph_strdup(strbuf_cstr(tmp));
    strbuf_reset(tmp);
    expand(r, r->replacement, v, md, groups, tmp);
    work_set(w, tname, strbuf_cstr(tmp), tmp->len);
    free(tname);
    return true;
  }
  case RELABEL_LOWERCASE:
  case RELABEL_UPPERCASE: {
    char *s = ph_strndup(v, vlen);
    for (size_t i = 0; i < vlen; i++) {
      if (r->action == RELABEL_LOWERCASE && s[i] >= 'A' && s[i] <= 'Z') s[i] = (char)(s[i] + 32);
      if (r->action == RELABEL_UPPERCASE && s[i] >= 'a' && s[i] <= 'z') s[i] = (char)(s[i] - 32);
    }
    work_set(w, r->target, s, vlen);
    free(s);
    return true;
  }
  case RELABEL_HASHMOD: {
    unsigned char d[16];
    md5_sum(v, vlen, d);
    uint64_t s = 0;
    for (int i = 8; i < 16; i++) s = s << 8 | d[i];
    char num[32];
    int n = snprintf(num, sizeof num, "%llu", (unsigned long long)(s % r->modulus));
    work_set(w, r->target, num, (size_t)n);
    return true;
  }
  case RELABEL_LABELMAP: {
    /* Iterate over a snapshot: labels added here are not mapped again. */
    size_t n = w->n;
    char **names = ph_calloc(n ? n : 1, sizeof *names);
    char **values = ph_calloc(n ? n : 1, sizeof *values);
    for (size_t i = 0; i < n; i++) {
      names[i] = ph_strdup(w->names[i]);
      values[i] = ph_strdup(w->values[i]);
    }
    for (size_t i = 0; i < n; i++) {
      int groups = rule_match(r, names[i], strlen(names[i]), md);
      if (groups <= 0) continue;
      strbuf_reset(tmp);
      expand(r, r->replacement, names[i], md, groups, tmp);
      if (tmp->len > 0) work_set(w, strbuf_cstr(tmp), values[i], strlen(values[i]));
    }
    for (size_t i = 0; i < n; i++) {
      free(names[i]);
      free(values[i]);
    }
    free(names);
    free(values);
    return true;
  }
  case RELABEL_LABELDROP:
  case RELABEL_LABELKEEP: {
    size_t i = 0;
    while (i < w->n) {
      bool m = rule_match(r, w->names[i], strlen(w->names[i]), md) > 0;
      if (m == (r->action == RELABEL_LABELDROP)) {
        work_del(w, w->names[i]); /* moves the last pair into slot i */
      } else {
        i++;
      }
    }
    return true;
  }
  }
  return true;
}

bool relabel_apply(const relabel_rule_t *const *rules, size_t n, const labels_t *in,
                   labels_t **out) {
  *out = NULL;
  work_t w = {0};
  for (size_t i = 0; i < labels_len(in); i++) {
    const label_t *l = labels_at(in, i);
    work_set(&w, l->name, l->value, strlen(l->value));
  }
  strbuf_t val = STRBUF_INIT, tmp = STRBUF_INIT;
  bool keep = true;
  for (size_t i = 0; i < n && keep; i++) {
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(rules[i]->code, NULL);
    keep = apply_one(rules[i], &w, &val, &tmp, md);
    pcre2_match_data_free(md);
  }
  if (keep) {
    label_t *pairs = ph_calloc(w.n ? w.n : 1, sizeof *pairs);
    for (size_t i = 0; i < w.n; i++) pairs[i] = (label_t){w.names[i], w.values[i]};
    *out = labels_new(NULL, pairs, w.n, NULL, 0);
    free(pairs);
    ph_assert(*out != NULL); /* names are unique and non-empty by construction */
  }
  strbuf_free(&val);
  strbuf_free(&tmp);
  work_free(&w);
  return keep;
}
