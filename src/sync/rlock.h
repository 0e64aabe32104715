/* What Condition needs of an RLock beyond the public API: give the lock up
 * completely across a wait and take it back with the same count (Python's
 * RLock._release_save / _acquire_restore). */
#ifndef PC_SYNC_RLOCK_H
#define PC_SYNC_RLOCK_H

#include "pyconc/sync.h"

/* The caller owns `r` (checked by the caller).  Frees it, whatever the
 * count, and returns the count to give back to pc__rlock_acquire_restore. */
unsigned long pc__rlock_release_save(pc_rlock *r);
/* Wait for `r` without limit and own it again with `count`. */
void pc__rlock_acquire_restore(pc_rlock *r, unsigned long count);

#endif
