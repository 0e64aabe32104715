/* Internal allocation: every allocation of the library goes through the
 * hooks of pyconc/base.h, so tests can make any one of them fail. */
#ifndef PC_INTERNAL_ALLOC_H
#define PC_INTERNAL_ALLOC_H

#include <stddef.h>

void *pc__malloc(size_t size);
void *pc__calloc(size_t n, size_t size);
void *pc__realloc(void *ptr, size_t size);
void pc__free(void *ptr);
char *pc__strdup(const char *s);
/* Memory aligned to `align` (a power of two, at most 4096), for structs
 * that keep hot fields on cache lines of their own; zeroed.  Free it with
 * pc__free_aligned, never pc__free. */
void *pc__calloc_aligned(size_t size, size_t align);
void pc__free_aligned(void *ptr);

#endif
