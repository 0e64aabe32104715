/*
 * Coroutine stacks (first version): one mapping per stack with a
 * PROT_NONE guard page below it, mapped lazily.
 */
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "stack.h"

int pc__stack_get(pc__stack *s, size_t size) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (!size)
        size = PC__STACK_DEFAULT;
    size = (size + page - 1) & ~(page - 1);
    size_t len = size + page;
    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (m == MAP_FAILED)
        return -ENOMEM;
    if (mprotect(m, page, PROT_NONE) != 0) {
        munmap(m, len);
        return -ENOMEM;
    }
    s->map = m;
    s->map_len = len;
    s->base = (char *)m + page;
    s->size = size;
    return 0;
}

void pc__stack_put(pc__stack *s) {
    if (s->map)
        munmap(s->map, s->map_len);
    s->map = NULL;
}

bool pc__stack_in_guard(const pc__stack *s, const void *addr) {
    return s->map && (const char *)addr >= (const char *)s->map &&
           (const char *)addr < (const char *)s->base;
}
