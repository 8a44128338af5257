/*
 * labels.c - label sets, their builder, and the interning symbol table.
 *
 * Symbol table.  SYMTAB_SHARDS independent shards, chosen by the top bits of
 * the string's XXH3 hash, each a mutex around an open-addressing table
 * (linear probing, power-of-two capacity, at most 3/4 full, deletion by
 * backward shift so there are no tombstones).  A slot points at a sym_t:
 *
 *   struct sym { hash (8) | refs (8, atomic) | len (8) | bytes[len] NUL }
 *
 * The interned pointer handed out is sym->str, so release finds its entry
 * by subtracting offsetof(sym_t, str), reads the stored hash to find the
 * shard and slot, and frees the entry when the count reaches zero -- all
 * under the shard lock.  Taking an extra reference on a string one already
 * holds (symtab_ref, labels_dup) is a lock-free atomic increment: the
 * caller's own reference keeps the count above zero, so it cannot race with
 * the removal.
 *
 * Label sets.  One allocation per set:
 *
 *   OFFSET        SIZE         DESCRIPTION
 *   0             8            hash: XXH3-64 of name 0xff value 0xff, per pair
 *   8             8            st: symtab_t holding the strings, or NULL
 *   16            8            count: number of pairs
 *   24            8            size: bytes of this allocation
 *   32            16 * count   label_t pairs sorted by name (byte order)
 *   32+16*count   ...          when st == NULL: name NUL value NUL, per pair
 *
 * Building sorts the caller's pointers in place inside the new block
 * (insertion sort for small sets, qsort otherwise), rejects empty and
 * duplicate names, then copies (or interns) the strings and hashes them.
 * Hashing feeds a 1 KiB stack buffer and switches to XXH3's streaming state
 * (also on the stack) only when a set is longer, so it never allocates and
 * gives the same digest either way.  Grouping hashes (labels_hash_subset)
 * mark the selected pairs in a stack bitmap and hash them the same way.
 *
 * Builder.  A sorted array of pairs whose strings point either into the
 * base set given to reset or into the builder's arena (copies made by
 * set); finish builds from the already sorted, duplicate-free array.
 *
 * Text form (labels_format) follows Prometheus's model.Metric String():
 * name{a="b", c="d"}, the name alone when it is the only label, {} for the
 * empty set; labels_format_braces follows labels.Labels String():
 * {__name__="x", a="b"}.  Values (and names outside the legacy character
 * set) are quoted like Go's strconv.Quote: \" \\ \a \b \f \n \r \t \v,
 * \xHH for other ASCII controls and invalid UTF-8 bytes, \uHHHH or
 * \UHHHHHHHH for non-printable code points.  "Printable" follows Go's
 * unicode.IsPrint for controls, format characters, separators, private use
 * and non-characters; code points unassigned in Unicode are printed as is.
 */
#include "labels.h"

#include "arena.h"
#include "mem.h"
#include "ph_error.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

/* ------------------------------------------------------------------ */
/* Symbol table                                                         */

#define SYMTAB_SHARDS 16
#define SYMTAB_SHARD_BITS 4
#define SYMTAB_MIN_CAP 16

typedef struct sym {
  uint64_t hash;
  _Atomic uint64_t refs;
  size_t len;
  char str[]; /* len bytes and a NUL */
} sym_t;

typedef struct shard {
  pthread_mutex_t mu;
  sym_t **slots; /* cap entries, NULL = empty */
  size_t cap;    /* 0 or a power of two */
  size_t count;
  size_t bytes;
} shard_t;

/* Padded so that two shards' locks never share a cache line. */
typedef union shard_pad {
  shard_t s;
  char pad[128];
} shard_pad_t;

struct symtab {
  shard_pad_t shards[SYMTAB_SHARDS];
};

static inline sym_t *sym_of(const char *interned) {
  return (sym_t *)(void *)((char *)(uintptr_t)interned - offsetof(sym_t, str));
}

static inline shard_t *shard_of(symtab_t *st, uint64_t h) {
  return &st->shards[h >> (64 - SYMTAB_SHARD_BITS)].s;
}

symtab_t *symtab_new(void) {
  symtab_t *st = ph_calloc(1, sizeof(*st));
  for (size_t i = 0; i < SYMTAB_SHARDS; i++) {
    int rc = pthread_mutex_init(&st->shards[i].s.mu, NULL);
    ph_assert(rc == 0);
  }
  return st;
}

void symtab_free(symtab_t *st) {
  if (st == NULL) return;
  for (size_t i = 0; i < SYMTAB_SHARDS; i++) {
    shard_t *sh = &st->shards[i].s;
    for (size_t j = 0; j < sh->cap; j++) free(sh->slots[j]);
    free(sh->slots);
    pthread_mutex_destroy(&sh->mu);
  }
  free(st);
}

/* Rehashes sh into a table of newcap slots.  Caller holds the lock. */
static void shard_resize(shard_t *sh, size_t newcap) {
  sym_t **ns = ph_calloc(newcap, sizeof(*ns));
  size_t mask = newcap - 1;
  for (size_t j = 0; j < sh->cap; j++) {
    sym_t *e = sh->slots[j];
    if (e == NULL) continue;
    size_t i = (size_t)e->hash & mask;
    while (ns[i] != NULL) i = (i + 1) & mask;
    ns[i] = e;
  }
  free(sh->slots);
  sh->slots = ns;
  sh->cap = newcap;
}

const char *symtab_intern(symtab_t *st, const char *s, size_t len) {
  ph_assert(st != NULL && (s != NULL || len == 0));
  uint64_t h = XXH3_64bits(s, len);
  shard_t *sh = shard_of(st, h);

  pthread_mutex_lock(&sh->mu);
  if (sh->cap > 0) {
    size_t mask = sh->cap - 1;
    for (size_t i = (size_t)h & mask; sh->slots[i] != NULL; i = (i + 1) & mask) {
      sym_t *e = sh->slots[i];
      if (e->hash == h && e->len == len && memcmp(e->str, s, len) == 0) {
        atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
        pthread_mutex_unlock(&sh->mu);
        return e->str;
      }
    }
  }
  if ((sh->count + 1) * 4 > sh->cap * 3)
    shard_resize(sh, sh->cap == 0 ? SYMTAB_MIN_CAP : sh->cap * 2);

  sym_t *e = ph_malloc(sizeof(*e) + len + 1);
  e->hash = h;
  atomic_init(&e->refs, 1);
  e->len = len;
  if (len > 0) memcpy(e->str, s, len);
  e->str[len] = '\0';

  size_t mask = sh->cap - 1;
  size_t i = (size_t)h & mask;
  while (sh->slots[i] != NULL) i = (i + 1) & mask;
  sh->slots[i] = e;
  sh->count++;
  sh->bytes += len;
  pthread_mutex_unlock(&sh->mu);
  return e->str;
}

const char *symtab_ref(symtab_t *st, const char *interned) {
  (void)st;
  sym_t *e = sym_of(interned);
  uint64_t old = atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
  ph_assert(old > 0);
  return interned;
}

/* Removes e from its table by backward shift.  Caller holds the lock. */
static void shard_remove(shard_t *sh, sym_t *e) {
  size_t mask = sh->cap - 1;
  size_t i = (size_t)e->hash & mask;
  while (sh->slots[i] != e) {
    ph_assert(sh->slots[i] != NULL);
    i = (i + 1) & mask;
  }
  size_t j = i;
  for (;;) {
    j = (j + 1) & mask;
    sym_t *f = sh->slots[j];
    if (f == NULL) break;
    size_t home = (size_t)f->hash & mask;
    /* f may move to the hole at i unless its home lies cyclically in (i, j]. */
    bool stays = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
    if (!stays) {
      sh->slots[i] = f;
      i = j;
    }
  }
  sh->slots[i] = NULL;
  sh->count--;
  sh->bytes -= e->len;
}

void symtab_release(symtab_t *st, const char *interned) {
  if (interned == NULL) return;
  sym_t *e = sym_of(interned);
  shard_t *sh = shard_of(st, e->hash);
  pthread_mutex_lock(&sh->mu);
  uint64_t old = atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel);
  ph_assert(old > 0);
  if (old == 1) {
    shard_remove(sh, e);
    free(e);
  }
  pthread_mutex_unlock(&sh->mu);
}

size_t symtab_count(symtab_t *st) {
  size_t n = 0;
  for (size_t i = 0; i < SYMTAB_SHARDS; i++) {
    shard_t *sh = &st->shards[i].s;
    pthread_mutex_lock(&sh->mu);
    n += sh->count;
    pthread_mutex_unlock(&sh->mu);
  }
  return n;
}

size_t symtab_bytes(symtab_t *st) {
  size_t n = 0;
  for (size_t i = 0; i < SYMTAB_SHARDS; i++) {
    shard_t *sh = &st->shards[i].s;
    pthread_mutex_lock(&sh->mu);
    n += sh->bytes;
    pthread_mutex_unlock(&sh->mu);
  }
  return n;
}

/* ------------------------------------------------------------------ */
/* Hashing                                                              */

#define HASH_BUF 1024

/* Bytes gather in buf; past HASH_BUF they stream into state instead. */
typedef struct hasher {
  size_t len;
  bool streaming;
  unsigned char buf[HASH_BUF];
  XXH3_state_t state;
} hasher_t;

static inline void hasher_put(hasher_t *h, const void *p, size_t n) {
  if (!h->streaming) {
    if (n <= HASH_BUF - h->len) {
      memcpy(h->buf + h->len, p, n);
      h->len += n;
      return;
    }
    XXH3_INITSTATE(&h->state);
    XXH3_64bits_reset(&h->state);
    XXH3_64bits_update(&h->state, h->buf, h->len);
    h->streaming = true;
  }
  XXH3_64bits_update(&h->state, p, n);
}

static inline void hasher_pair(hasher_t *h, const label_t *l) {
  static const unsigned char sep = 0xff;
  size_t nl = strlen(l->name), vl = strlen(l->value);
  if (!h->streaming && nl + vl + 2 <= HASH_BUF - h->len) {
    unsigned char *d = h->buf + h->len;
    memcpy(d, l->name, nl);
    d[nl] = sep;
    memcpy(d + nl + 1, l->value, vl);
    d[nl + 1 + vl] = sep;
    h->len += nl + vl + 2;
    return;
  }
  hasher_put(h, l->name, nl);
  hasher_put(h, &sep, 1);
  hasher_put(h, l->value, vl);
  hasher_put(h, &sep, 1);
}

static inline uint64_t hasher_done(hasher_t *h) {
  if (h->streaming) return XXH3_64bits_digest(&h->state);
  return XXH3_64bits(h->buf, h->len);
}

/* ------------------------------------------------------------------ */
/* Label sets                                                           */

struct labels {
  uint64_t hash;
  symtab_t *st;    /* strings interned here, or NULL: copied behind pairs */
  size_t count;
  size_t size;     /* bytes of this allocation */
  label_t pairs[]; /* sorted by name */
};

static const char metric_name_label[] = "__name__";

static inline bool value_empty(const char *v) { return v == NULL || v[0] == '\0'; }

static int pair_cmp(const void *a, const void *b) {
  return strcmp(((const label_t *)a)->name, ((const label_t *)b)->name);
}

static void pairs_sort(label_t *p, size_t n) {
  if (n > 16) {
    qsort(p, n, sizeof(*p), pair_cmp);
    return;
  }
  for (size_t i = 1; i < n; i++) {
    label_t x = p[i];
    size_t j = i;
    while (j > 0 && strcmp(p[j - 1].name, x.name) > 0) {
      p[j] = p[j - 1];
      j--;
    }
    p[j] = x;
  }
}

static uint64_t pairs_hash(const label_t *p, size_t n) {
  hasher_t h;
  h.len = 0;
  h.streaming = false;
  for (size_t i = 0; i < n; i++) hasher_pair(&h, &p[i]);
  return hasher_done(&h);
}

/* The common constructor.  When sorted is true, pairs are known to be
 * sorted, with non-empty unique names and non-empty values (builder). */
static labels_t *labels_build(symtab_t *st, const label_t *pairs, size_t n,
                              bool sorted, char *err, size_t errlen) {
  size_t kept = 0, strbytes = 0;
  for (size_t i = 0; i < n; i++) {
    if (value_empty(pairs[i].value)) continue;
    if (pairs[i].name == NULL || pairs[i].name[0] == '\0') {
      ph_err(err, errlen, PH_EINVAL, "empty label name (value \"%.64s\")",
             pairs[i].value);
      return NULL;
    }
    kept++;
    if (st == NULL) strbytes += strlen(pairs[i].name) + strlen(pairs[i].value) + 2;
  }
  ph_assert(kept <= (SIZE_MAX - sizeof(labels_t) - strbytes) / sizeof(label_t));
  size_t size = sizeof(labels_t) + kept * sizeof(label_t) + strbytes;
  labels_t *ls = ph_malloc(size);
  ls->st = st;
  ls->count = kept;
  ls->size = size;

  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (!value_empty(pairs[i].value)) ls->pairs[k++] = pairs[i];

  if (!sorted) {
    pairs_sort(ls->pairs, kept);
    for (size_t i = 1; i < kept; i++) {
      if (strcmp(ls->pairs[i - 1].name, ls->pairs[i].name) == 0) {
        ph_err(err, errlen, PH_EINVAL, "duplicate label name \"%s\"",
               ls->pairs[i].name);
        free(ls);
        return NULL;
      }
    }
  }

  if (st != NULL) {
    for (size_t i = 0; i < kept; i++) {
      label_t *l = &ls->pairs[i];
      l->name = symtab_intern(st, l->name, strlen(l->name));
      l->value = symtab_intern(st, l->value, strlen(l->value));
    }
  } else {
    char *d = (char *)&ls->pairs[kept];
    for (size_t i = 0; i < kept; i++) {
      label_t *l = &ls->pairs[i];
      char *name = d;
      d = stpcpy(d, l->name) + 1;
      char *value = d;
      d = stpcpy(d, l->value) + 1;
      l->name = name;
      l->value = value;
    }
    ph_assert(d == (char *)ls + size);
  }
  ls->hash = pairs_hash(ls->pairs, kept);
  return ls;
}

labels_t *labels_new(symtab_t *st, const label_t *pairs, size_t n, char *err,
                     size_t errlen) {
  ph_assert(pairs != NULL || n == 0);
  return labels_build(st, pairs, n, false, err, errlen);
}

labels_t *labels_empty(void) { return labels_build(NULL, NULL, 0, true, NULL, 0); }

labels_t *labels_dup(const labels_t *ls) {
  labels_t *c = ph_malloc(ls->size);
  memcpy(c, ls, ls->size);
  if (ls->st != NULL) {
    for (size_t i = 0; i < ls->count; i++) {
      symtab_ref(ls->st, ls->pairs[i].name);
      symtab_ref(ls->st, ls->pairs[i].value);
    }
  } else {
    const char *base = (const char *)ls;
    char *nbase = (char *)c;
    for (size_t i = 0; i < ls->count; i++) {
      c->pairs[i].name = nbase + (ls->pairs[i].name - base);
      c->pairs[i].value = nbase + (ls->pairs[i].value - base);
    }
  }
  return c;
}

void labels_free(labels_t *ls) {
  if (ls == NULL) return;
  if (ls->st != NULL) {
    for (size_t i = 0; i < ls->count; i++) {
      symtab_release(ls->st, ls->pairs[i].name);
      symtab_release(ls->st, ls->pairs[i].value);
    }
  }
  free(ls);
}

size_t labels_len(const labels_t *ls) { return ls->count; }

const label_t *labels_at(const labels_t *ls, size_t i) {
  ph_assert(i < ls->count);
  return &ls->pairs[i];
}

/* Index of name in ls, or -1. */
static ptrdiff_t labels_find(const labels_t *ls, const char *name) {
  size_t lo = 0, hi = ls->count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(ls->pairs[mid].name, name);
    if (c == 0) return (ptrdiff_t)mid;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return -1;
}

const char *labels_get(const labels_t *ls, const char *name) {
  ptrdiff_t i = labels_find(ls, name);
  return i < 0 ? NULL : ls->pairs[i].value;
}

uint64_t labels_hash(const labels_t *ls) { return ls->hash; }

#define SUBSET_STACK_WORDS 8 /* 512 pairs without allocating */

uint64_t labels_hash_subset(const labels_t *ls, const char *const *names,
                            size_t n, bool without) {
  uint64_t stackbits[SUBSET_STACK_WORDS] = {0};
  size_t words = (ls->count + 63) / 64;
  uint64_t *bits = words <= SUBSET_STACK_WORDS
                       ? stackbits
                       : ph_calloc(words, sizeof(uint64_t));
  for (size_t j = 0; j < n; j++) {
    ptrdiff_t i = labels_find(ls, names[j]);
    if (i >= 0) bits[i / 64] |= UINT64_C(1) << (i % 64);
  }
  if (without) {
    ptrdiff_t i = labels_find(ls, metric_name_label);
    if (i >= 0) bits[i / 64] |= UINT64_C(1) << (i % 64);
  }
  hasher_t h;
  h.len = 0;
  h.streaming = false;
  for (size_t i = 0; i < ls->count; i++) {
    bool marked = (bits[i / 64] >> (i % 64)) & 1;
    if (marked != without) hasher_pair(&h, &ls->pairs[i]);
  }
  if (bits != stackbits) free(bits);
  return hasher_done(&h);
}

bool labels_equal(const labels_t *a, const labels_t *b) {
  if (a == b) return true;
  if (a->hash != b->hash || a->count != b->count) return false;
  for (size_t i = 0; i < a->count; i++) {
    const label_t *x = &a->pairs[i], *y = &b->pairs[i];
    if (x->name != y->name && strcmp(x->name, y->name) != 0) return false;
    if (x->value != y->value && strcmp(x->value, y->value) != 0) return false;
  }
  return true;
}

int labels_cmp(const labels_t *a, const labels_t *b) {
  size_t n = a->count < b->count ? a->count : b->count;
  for (size_t i = 0; i < n; i++) {
    int c = strcmp(a->pairs[i].name, b->pairs[i].name);
    if (c == 0) c = strcmp(a->pairs[i].value, b->pairs[i].value);
    if (c != 0) return c < 0 ? -1 : 1;
  }
  if (a->count == b->count) return 0;
  return a->count < b->count ? -1 : 1;
}

size_t labels_size(const labels_t *ls) { return ls->size; }

/* ------------------------------------------------------------------ */
/* Text form                                                            */

/* Code point ranges Go's unicode.IsPrint rejects above U+007F (controls,
 * format characters, separators other than U+0020, private use,
 * non-characters); unassigned code points are not listed. */
static const uint32_t nonprint[][2] = {
    {0x0080, 0x00A0},   {0x00AD, 0x00AD},   {0x0600, 0x0605},
    {0x061C, 0x061C},   {0x06DD, 0x06DD},   {0x070F, 0x070F},
    {0x0890, 0x0891},   {0x08E2, 0x08E2},   {0x1680, 0x1680},
    {0x180E, 0x180E},   {0x2000, 0x200F},   {0x2028, 0x202F},
    {0x205F, 0x206F},   {0x3000, 0x3000},   {0xD800, 0xF8FF},
    {0xFDD0, 0xFDEF},   {0xFEFF, 0xFEFF},   {0xFFF0, 0xFFFB},
    {0x110BD, 0x110BD}, {0x110CD, 0x110CD}, {0x13430, 0x1343F},
    {0x1BCA0, 0x1BCA3}, {0x1D173, 0x1D17A}, {0xE0000, 0xE00FF},
    {0xE01F0, 0x10FFFF},
};

static bool rune_printable(uint32_t r) {
  if (r < 0x80) return r >= 0x20 && r < 0x7f;
  if ((r & 0xFFFE) == 0xFFFE) return false; /* U+xxFFFE, U+xxFFFF */
  size_t lo = 0, hi = sizeof(nonprint) / sizeof(nonprint[0]);
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (r < nonprint[mid][0])
      hi = mid;
    else if (r > nonprint[mid][1])
      lo = mid + 1;
    else
      return false;
  }
  return true;
}

/* Decodes one UTF-8 sequence at s (n bytes available, s[0] >= 0x80).
 * Returns its width, or 0 when the bytes are not valid UTF-8. */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *r) {
  unsigned char c = s[0];
  size_t w;
  uint32_t v, min;
  if (c >= 0xC2 && c <= 0xDF) {
    w = 2; v = c & 0x1F; min = 0x80;
  } else if (c >= 0xE0 && c <= 0xEF) {
    w = 3; v = c & 0x0F; min = 0x800;
  } else if (c >= 0xF0 && c <= 0xF4) {
    w = 4; v = c & 0x07; min = 0x10000;
  } else {
    return 0;
  }
  if (n < w) return 0;
  for (size_t i = 1; i < w; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    v = (v << 6) | (s[i] & 0x3F);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *r = v;
  return w;
}

/* Appends s as a Go strconv.Quote string literal. */
static void quote_append(strbuf_t *out, const char *str) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *s = (const unsigned char *)str;
  size_t n = strlen(str);
  strbuf_reserve(out, n + 2);
  strbuf_putc(out, '"');
  size_t run = 0; /* start of the pending run of bytes copied as they are */
  size_t i = 0;
  while (i < n) {
    unsigned char c = s[i];
    char esc[12];
    size_t el = 0;
    size_t w = 1;
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      i++;
      continue;
    }
    if (c < 0x80) {
      esc[el++] = '\\';
      switch (c) {
      case '"': esc[el++] = '"'; break;
      case '\\': esc[el++] = '\\'; break;
      case '\a': esc[el++] = 'a'; break;
      case '\b': esc[el++] = 'b'; break;
      case '\f': esc[el++] = 'f'; break;
      case '\n': esc[el++] = 'n'; break;
      case '\r': esc[el++] = 'r'; break;
      case '\t': esc[el++] = 't'; break;
      case '\v': esc[el++] = 'v'; break;
      default:
        esc[el++] = 'x';
        esc[el++] = hex[c >> 4];
        esc[el++] = hex[c & 15];
      }
    } else {
      uint32_t r = 0;
      w = utf8_decode(s + i, n - i, &r);
      if (w == 0) {
        w = 1;
        esc[el++] = '\\';
        esc[el++] = 'x';
        esc[el++] = hex[c >> 4];
        esc[el++] = hex[c & 15];
      } else if (rune_printable(r)) {
        i += w;
        continue;
      } else {
        int digits = r < 0x10000 ? 4 : 8;
        esc[el++] = '\\';
        esc[el++] = r < 0x10000 ? 'u' : 'U';
        for (int d = digits - 1; d >= 0; d--) esc[el++] = hex[(r >> (4 * d)) & 15];
      }
    }
    strbuf_append(out, s + run, i - run);
    strbuf_append(out, esc, el);
    i += w;
    run = i;
  }
  strbuf_append(out, s + run, n - run);
  strbuf_putc(out, '"');
}

static void pair_append(strbuf_t *out, const label_t *l) {
  if (labels_valid_name(l->name, strlen(l->name)))
    strbuf_puts(out, l->name);
  else
    quote_append(out, l->name);
  strbuf_putc(out, '=');
  quote_append(out, l->value);
}

void labels_format(const labels_t *ls, strbuf_t *out) {
  const char *name = NULL;
  bool bare = false; /* the name prints in front of the braces */
  ptrdiff_t ni = labels_find(ls, metric_name_label);
  if (ni >= 0) {
    name = ls->pairs[ni].value;
    bare = labels_valid_metric_name(name, strlen(name));
  }
  if (bare) {
    strbuf_puts(out, name);
    if (ls->count == 1) return;
  }
  strbuf_putc(out, '{');
  bool first = true;
  if (name != NULL && !bare) {
    quote_append(out, name);
    first = false;
  }
  for (size_t i = 0; i < ls->count; i++) {
    if ((ptrdiff_t)i == ni) continue;
    if (!first) strbuf_append(out, ", ", 2);
    first = false;
    pair_append(out, &ls->pairs[i]);
  }
  strbuf_putc(out, '}');
}

void labels_format_braces(const labels_t *ls, strbuf_t *out) {
  strbuf_putc(out, '{');
  for (size_t i = 0; i < ls->count; i++) {
    if (i > 0) strbuf_append(out, ", ", 2);
    pair_append(out, &ls->pairs[i]);
  }
  strbuf_putc(out, '}');
}

/* ------------------------------------------------------------------ */
/* Builder                                                              */

struct labels_builder {
  label_t *pairs; /* sorted by name; strings in the base set or the arena */
  size_t n, cap;
  arena_t *arena; /* copies made by set; emptied by reset */
};

labels_builder_t *labels_builder_new(void) {
  labels_builder_t *b = ph_calloc(1, sizeof(*b));
  b->arena = arena_new(0);
  return b;
}

void labels_builder_free(labels_builder_t *b) {
  if (b == NULL) return;
  arena_free(b->arena);
  free(b->pairs);
  free(b);
}

void labels_builder_reset(labels_builder_t *b, const labels_t *base) {
  arena_reset(b->arena);
  b->n = 0;
  if (base == NULL || base->count == 0) return;
  ph_grow(&b->pairs, &b->cap, base->count);
  memcpy(b->pairs, base->pairs, base->count * sizeof(label_t));
  b->n = base->count;
}

/* Position of name in b->pairs; *found tells whether it is there. */
static size_t builder_find(const labels_builder_t *b, const char *name, bool *found) {
  size_t lo = 0, hi = b->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(b->pairs[mid].name, name);
    if (c == 0) {
      *found = true;
      return mid;
    }
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  *found = false;
  return lo;
}

static const char *builder_copy(labels_builder_t *b, const char *s) {
  char *c = arena_strdup(b->arena, s);
  ph_assert(c != NULL);
  return c;
}

void labels_builder_set(labels_builder_t *b, const char *name, const char *value) {
  if (name == NULL || name[0] == '\0') return;
  if (value_empty(value)) {
    labels_builder_del(b, name);
    return;
  }
  bool found;
  size_t i = builder_find(b, name, &found);
  if (found) {
    if (strcmp(b->pairs[i].value, value) != 0) b->pairs[i].value = builder_copy(b, value);
    return;
  }
  ph_grow(&b->pairs, &b->cap, b->n + 1);
  memmove(&b->pairs[i + 1], &b->pairs[i], (b->n - i) * sizeof(label_t));
  b->pairs[i].name = builder_copy(b, name);
  b->pairs[i].value = builder_copy(b, value);
  b->n++;
}

void labels_builder_del(labels_builder_t *b, const char *name) {
  if (name == NULL) return;
  bool found;
  size_t i = builder_find(b, name, &found);
  if (!found) return;
  memmove(&b->pairs[i], &b->pairs[i + 1], (b->n - i - 1) * sizeof(label_t));
  b->n--;
}

const char *labels_builder_get(labels_builder_t *b, const char *name) {
  bool found;
  size_t i = builder_find(b, name, &found);
  return found ? b->pairs[i].value : NULL;
}

labels_t *labels_builder_finish(labels_builder_t *b, symtab_t *st) {
  labels_t *ls = labels_build(st, b->pairs, b->n, true, NULL, 0);
  ph_assert(ls != NULL);
  return ls;
}

/* ------------------------------------------------------------------ */
/* Name validity                                                        */

static inline bool name_start(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static inline bool name_char(unsigned char c) {
  return name_start(c) || (c >= '0' && c <= '9');
}

bool labels_valid_name(const char *s, size_t len) {
  if (len == 0 || !name_start((unsigned char)s[0])) return false;
  for (size_t i = 1; i < len; i++)
    if (!name_char((unsigned char)s[i])) return false;
  return true;
}

bool labels_valid_metric_name(const char *s, size_t len) {
  if (len == 0 || !(name_start((unsigned char)s[0]) || s[0] == ':')) return false;
  for (size_t i = 1; i < len; i++)
    if (!(name_char((unsigned char)s[i]) || s[i] == ':')) return false;
  return true;
}
