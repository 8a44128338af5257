/*
 * arena.h - a bump allocator with a byte budget, freed in one go.
 *
 * Used per scrape, per HTTP request and per query: everything allocated for
 * one unit of work comes from one arena and is released by arena_reset() or
 * arena_free().  The budget bounds memory that grows with untrusted input:
 * when it would be exceeded, allocation returns NULL and arena_exhausted()
 * is true, so the caller fails that unit of work with PH_ELIMIT instead of
 * the process running out of memory.  Not thread-safe: one owner at a time.
 */
#ifndef PH_ARENA_H
#define PH_ARENA_H

#include <stdbool.h>
#include <stddef.h>

typedef struct arena arena_t; /* owned by its creator; arena_free releases */

/* budget = 0 means unlimited (bookkeeping arenas). */
arena_t *arena_new(size_t budget);
void arena_free(arena_t *a);
/* Releases all allocations but keeps the first block for reuse. */
void arena_reset(arena_t *a);

/* 16-byte aligned; NULL when the budget is exhausted. */
void *arena_alloc(arena_t *a, size_t n);
void *arena_calloc(arena_t *a, size_t count, size_t size);
char *arena_strndup(arena_t *a, const char *s, size_t n);
char *arena_strdup(arena_t *a, const char *s);
/* Bytes handed out since creation or the last reset. */
size_t arena_used(const arena_t *a);
bool arena_exhausted(const arena_t *a);

#endif
