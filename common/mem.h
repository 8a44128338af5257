/*
 * mem.h - bookkeeping allocation that aborts loudly on out-of-memory.
 *
 * For long-lived structures whose size does not grow with untrusted input
 * (series objects, config, handles).  Allocation that grows with input
 * (query results, decode buffers) goes through a budgeted arena (arena.h)
 * that returns PH_ELIMIT instead.  On failure these print the size and the
 * call site to stderr and abort(), like Redis's zmalloc.
 */
#ifndef PH_MEM_H
#define PH_MEM_H

#include <stddef.h>

void *ph__malloc(size_t n, const char *file, int line);
void *ph__calloc(size_t count, size_t size, const char *file, int line);
void *ph__realloc(void *p, size_t n, const char *file, int line);
char *ph__strdup(const char *s, const char *file, int line);
char *ph__strndup(const char *s, size_t n, const char *file, int line);

#define ph_malloc(n) ph__malloc((n), __FILE__, __LINE__)
#define ph_calloc(c, s) ph__calloc((c), (s), __FILE__, __LINE__)
#define ph_realloc(p, n) ph__realloc((p), (n), __FILE__, __LINE__)
#define ph_strdup(s) ph__strdup((s), __FILE__, __LINE__)
#define ph_strndup(s, n) ph__strndup((s), (n), __FILE__, __LINE__)

/* Grows *arr (element size elsz, capacity *cap) so it holds at least need
 * elements; doubles the capacity.  Aborts on overflow or out-of-memory. */
void ph__grow(void **arr, size_t *cap, size_t need, size_t elsz,
              const char *file, int line);
#define ph_grow(arr, cap, need) \
  ph__grow((void **)(arr), (cap), (need), sizeof(**(arr)), __FILE__, __LINE__)

/* "Cannot happen" check that is always on: logs file:line and aborts. */
#define ph_assert(cond)                                                   \
  do {                                                                    \
    if (!(cond)) ph__assert_fail(#cond, __FILE__, __LINE__);              \
  } while (0)
void ph__assert_fail(const char *expr, const char *file, int line)
    __attribute__((noreturn));

#endif
