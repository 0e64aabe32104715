/*
 * The loop's timers: a binary min-heap of pc__timer pointers ordered by
 * (deadline, seq), so timers with one deadline fire in the order they were
 * armed (asyncio's call_later makes the same promise).  Each timer knows
 * its slot, so disarming is O(log n) without a search.  Owner thread only.
 * Rejected: a timer wheel.  It wins with hundreds of thousands of timers
 * re-armed constantly, which a coroutine library sees only with per-IO
 * timeouts; the heap is simpler and exact, and can be swapped behind this
 * interface.
 */
#include <errno.h>

#include "../internal/alloc.h"
#include "loop-internal.h"

#define NOT_ARMED ((size_t)-1)

void pc__timer_init(pc__timer *t, void (*fire)(pc__timer *t)) {
    t->deadline = 0;
    t->seq = 0;
    t->slot = NOT_ARMED;
    t->fire = fire;
}

static bool earlier(const pc__timer *a, const pc__timer *b) {
    return a->deadline < b->deadline || (a->deadline == b->deadline && a->seq < b->seq);
}

static void place(pc_loop *l, size_t i, pc__timer *t) {
    l->heap[i] = t;
    t->slot = i;
}

static void sift_up(pc_loop *l, size_t i) {
    pc__timer *t = l->heap[i];
    while (i > 0 && earlier(t, l->heap[(i - 1) / 2])) {
        place(l, i, l->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    place(l, i, t);
}

static void sift_down(pc_loop *l, size_t i) {
    pc__timer *t = l->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= l->heap_len)
            break;
        if (c + 1 < l->heap_len && earlier(l->heap[c + 1], l->heap[c]))
            c++;
        if (!earlier(l->heap[c], t))
            break;
        place(l, i, l->heap[c]);
        i = c;
    }
    place(l, i, t);
}

int pc__timer_arm(pc_loop *l, pc__timer *t, int64_t deadline) {
    if (t->slot != NOT_ARMED)
        pc__timer_disarm(l, t);
    if (l->heap_len == l->heap_cap) {
        size_t cap = l->heap_cap ? l->heap_cap * 2 : 64;
        pc__timer **h = pc__realloc(l->heap, cap * sizeof *h);
        if (!h)
            return -ENOMEM;
        l->heap = h;
        l->heap_cap = cap;
    }
    t->deadline = deadline;
    t->seq = l->timer_seq++;
    place(l, l->heap_len++, t);
    sift_up(l, t->slot);
    return 0;
}

void pc__timer_disarm(pc_loop *l, pc__timer *t) {
    size_t i = t->slot;
    if (i == NOT_ARMED)
        return;
    t->slot = NOT_ARMED;
    pc__timer *last = l->heap[--l->heap_len];
    if (i == l->heap_len)
        return;
    place(l, i, last);
    if (i > 0 && earlier(last, l->heap[(i - 1) / 2]))
        sift_up(l, i);
    else
        sift_down(l, i);
}

int64_t pc__timers_next(pc_loop *l) {
    return l->heap_len ? l->heap[0]->deadline : PC__NO_DEADLINE;
}

int pc__timers_fire_due(pc_loop *l, int64_t now) {
    int n = 0;
    while (l->heap_len && l->heap[0]->deadline <= now) {
        pc__timer *t = l->heap[0];
        pc__timer_disarm(l, t);
        t->fire(t); /* may re-arm t or others */
        n++;
    }
    return n;
}

void pc__timers_free(pc_loop *l) {
    pc__free(l->heap);
    l->heap = NULL;
    l->heap_len = l->heap_cap = 0;
}
