/*
 * Internals of the process queues (pyconc/mpqueue.h), for mpqueue.c and
 * the fault tests.
 */
#ifndef PC_MPQUEUE_INTERNAL_H
#define PC_MPQUEUE_INTERNAL_H

/* Where pc__mpqueue_hook is called, the side's lock held: a putter with
 * the first half of its message copied into the ring (nothing published);
 * a getter with the first half of the message copied out (nothing taken);
 * either side half way through publishing (its intent written, the count
 * stored, the position not yet). */
enum { PC__MPQ_PUT_COPY = 1, PC__MPQ_GET_COPY, PC__MPQ_PUT_COMMIT, PC__MPQ_GET_COMMIT };

/* Test-only fault injection: when set (in the process that should stop
 * there), called at the points above.  A test pauses a child there and
 * kills it.  NULL in every real program: one predictable branch. */
extern void (*pc__mpqueue_hook)(int point);

#endif
