/*
 * arena.c - bump allocator over a list of blocks (see arena.h).
 *
 * Blocks grow geometrically from 4 KiB to 1 MiB; a request larger than a
 * quarter of the next block size gets a block of its own.  Reset keeps the
 * first block, so a reused arena allocates nothing in steady state.
 */
#include "arena.h"

#include "mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct arena_block {
  struct arena_block *next;
  size_t size; /* usable bytes in data[] */
  size_t used;
  _Alignas(16) unsigned char data[];
} arena_block_t;

struct arena {
  arena_block_t *head; /* current block, newest first */
  size_t budget;
  size_t used;         /* bytes handed out */
  size_t next_size;
  bool exhausted;
};

#define ARENA_MIN_BLOCK 4096u
#define ARENA_MAX_BLOCK (1u << 20)

arena_t *arena_new(size_t budget) {
  arena_t *a = ph_calloc(1, sizeof(*a));
  a->budget = budget;
  a->next_size = ARENA_MIN_BLOCK;
  return a;
}

static void free_blocks(arena_block_t *b, arena_block_t *keep) {
  while (b != NULL && b != keep) {
    arena_block_t *next = b->next;
    free(b);
    b = next;
  }
}

void arena_free(arena_t *a) {
  if (a == NULL) return;
  free_blocks(a->head, NULL);
  free(a);
}

void arena_reset(arena_t *a) {
  arena_block_t *first = a->head;
  while (first != NULL && first->next != NULL) first = first->next;
  free_blocks(a->head, first);
  a->head = first;
  if (first != NULL) {
    first->next = NULL;
    first->used = 0;
  }
  a->used = 0;
  a->exhausted = false;
  a->next_size = ARENA_MIN_BLOCK;
}

void *arena_alloc(arena_t *a, size_t n) {
  size_t need = (n + 15u) & ~(size_t)15u;
  if (need < n) { a->exhausted = true; return NULL; }
  if (a->budget != 0 && (a->used + need > a->budget || a->used + need < a->used)) {
    a->exhausted = true;
    return NULL;
  }
  arena_block_t *b = a->head;
  if (b == NULL || b->size - b->used < need) {
    size_t size = a->next_size;
    if (need > size / 4) size = need > size ? need : size;
    if (size == a->next_size && a->next_size < ARENA_MAX_BLOCK) a->next_size *= 2;
    b = ph_malloc(sizeof(*b) + size);
    b->size = size;
    b->used = 0;
    if (a->head != NULL && size == need && a->head->size - a->head->used > 0) {
      /* A dedicated block: slot it behind the current one so the current
       * block's free space stays usable. */
      b->next = a->head->next;
      a->head->next = b;
    } else {
      b->next = a->head;
      a->head = b;
    }
  }
  void *p = b->data + b->used;
  b->used += need;
  a->used += need;
  return p;
}

void *arena_calloc(arena_t *a, size_t count, size_t size) {
  if (size != 0 && count > SIZE_MAX / size) { a->exhausted = true; return NULL; }
  void *p = arena_alloc(a, count * size);
  if (p != NULL) memset(p, 0, count * size);
  return p;
}

char *arena_strndup(arena_t *a, const char *s, size_t n) {
  char *p = arena_alloc(a, n + 1);
  if (p == NULL) return NULL;
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

char *arena_strdup(arena_t *a, const char *s) {
  return arena_strndup(a, s, strlen(s));
}

size_t arena_used(const arena_t *a) { return a->used; }
bool arena_exhausted(const arena_t *a) { return a->exhausted; }
