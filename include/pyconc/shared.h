/*
 * pyconc/shared.h - memory shared between processes: the shared heap and
 * references to it (multiprocessing.sharedctypes / shared_memory).
 *
 *   Python                                   pyconc
 *   shared_memory.SharedMemory(size=n)       pc_shared_alloc(n, &p)
 *   shm.name (passed to another process)     pc_shared_ref(p, &ref)
 *   SharedMemory(name=...)                   pc_shared_deref(ref, &p)
 *   shm.close(); shm.unlink()                pc_shared_free(p)
 *
 * The shared heap.  Every process tree has one heap of shared memory
 * (a memfd mapped MAP_SHARED, reserved at PC_SHARED_HEAP_MAX bytes, its
 * pages allocated only when touched).  The first process of the tree that
 * allocates creates it; every child started after that shares it, under
 * every start method: a fork child inherits the mapping, a spawn or
 * forkserver child receives the memfd at start and maps it when first
 * used.  A child allocates in the same heap, so a block made by a child
 * is visible to its parent too.
 *
 * Bytes cross processes, pointers don't.  A block sits at a different
 * address in each process that maps the heap (except after fork), so a
 * pointer into the heap is not sent to another process; its reference is:
 * pc_shared_ref turns a block into a pc_shared_ref, 16 plain bytes to copy
 * into a process's argument, a class process's fields, a pipe message or a
 * queue item; pc_shared_deref turns it back into a pointer in the calling
 * process.  Values, arrays, locks and process queues (shared.h, mpqueue.h)
 * are blocks of this heap and travel the same way.
 *
 * Lifetime: a block lives until pc_shared_free, whichever process calls
 * it; the heap lives while any process maps it.  Allocation and free are
 * thread-safe and process-safe (a robust lock: a process killed in the
 * middle of one leaves the heap usable).
 */
#ifndef PYCONC_SHARED_H
#define PYCONC_SHARED_H

#include <stddef.h>
#include <stdint.h>

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The heap's reserved size: the total of live blocks, their headers and
 * rounding included, cannot exceed it. */
#define PC_SHARED_HEAP_MAX ((uint64_t)4 << 30)

/* A reference to a block of the shared heap: plain bytes, valid in every
 * process of the tree.  The zero value refers to nothing. */
typedef struct pc_shared_ref {
    uint64_t heap; /* the heap's identity */
    uint64_t off;  /* the block's offset in it */
} pc_shared_ref;

/*
 * Allocate `size` bytes (> 0) of shared memory, zeroed, aligned to 64
 * bytes, into *out.  0; -EINVAL (size 0, out NULL); -ENOMEM (heap full,
 * or the memfd could not be made: the kernel's errno is not kept).
 * Thread-safe, coroutine-safe (does not block on other coroutines), fork:
 * the child shares every block.
 */
PC_EXTERN int pc_shared_alloc(size_t size, void **out);

/* Free a block from pc_shared_alloc, in any process of the tree.  0;
 * -EINVAL (NULL, not a live block of this heap: a double free is caught
 * here).  Every process must stop using the block first. */
PC_EXTERN int pc_shared_free(void *block);

/* The usable size of a block (at least what was asked).  0 if `block` is
 * not a live block. */
PC_EXTERN size_t pc_shared_size(const void *block);

/* The reference of a block.  0; -EINVAL (not a live block). */
PC_EXTERN int pc_shared_ref_of(const void *block, pc_shared_ref *out);

/*
 * The block `ref` refers to, as a pointer in the calling process (mapping
 * the heap on first use in a spawn or forkserver child).  0; -EINVAL (the
 * zero reference, or no live block there: freed, or garbage); -ENXIO (a
 * heap this process does not share: made by an unrelated process, or by a
 * parent after this child started); -ENOMEM (the mapping failed).
 */
PC_EXTERN int pc_shared_deref(pc_shared_ref ref, void **out);

#ifdef __cplusplus
}
#endif

#endif
