/*
 * map, map_async, imap and imap_unordered over the pool's jobs (pool.c).
 *
 * A map copies its input into chunk jobs at once and keeps every task's
 * future.  Its own future is settled by the done callback of the last item
 * future to finish (a counter of items left, `left`): so it is done exactly
 * when every item is, by whatever path (worker, cancel, terminate).  The
 * handle is shared by its owner and, while items are left, by the callbacks
 * (`refs`).
 *
 * An iterator pulls input and submits chunks itself, from its caller's
 * thread, only as far as `window` allows: items pulled and not yet
 * returned by next() never exceed it.  Ordered: item i lives in slot
 * i % window, free again once returned (items are returned in order, so
 * two live items never share a slot).  Unordered: each slot's future has
 * a done callback that puts the slot on the iterator's `doneq`; next()
 * takes from there; free slots are kept on a stack.  The callbacks hold
 * references on the iterator (`refs`), so a running task finishing after
 * pc_pool_iter_free finds it alive.
 *
 * Rejected: a feeder thread per iterator (Python's task handler), which
 * consumes the input ahead of the consumer - the very flaw of Python's
 * imap - or needs the same window anyway.
 */
#include <errno.h>
#include <string.h>

#include "../internal/alloc.h"
#include "pool-internal.h"

/* ---- input --------------------------------------------------------------- */

static bool input_valid(const pc_pool_input *in) {
    if (!in)
        return false;
    int kinds = (in->array != NULL) + (in->items != NULL) + (in->next != NULL);
    if (kinds > 1 || (kinds == 0 && in->n))
        return false;
    return !in->array || in->item_size > 0;
}

static bool input_known(const pc_pool_input *in) {
    return !in->next;
}

/* Item i of an array or items input. */
static pc_pool_item input_at(const pc_pool_input *in, size_t i) {
    if (in->array)
        return (pc_pool_item){(const unsigned char *)in->array + i * in->item_size, in->item_size};
    return in->items[i];
}

/* A growable copy of pulled items. */
typedef struct pulled {
    unsigned char *buf;
    size_t used, cap;
    size_t *offs; /* n + 1 */
    size_t n, ncap;
} pulled;

static int pulled_add(pulled *b, const void *ptr, size_t len) {
    if (b->n + 2 > b->ncap) {
        size_t nc = b->ncap ? 2 * b->ncap : 16;
        size_t *o = pc__realloc(b->offs, nc * sizeof *o);
        if (!o)
            return -ENOMEM;
        b->offs = o;
        b->ncap = nc;
        if (b->n == 0)
            b->offs[0] = 0;
    }
    if (b->used + len > b->cap) {
        size_t nc = b->cap ? 2 * b->cap : 256;
        while (nc < b->used + len)
            nc *= 2;
        unsigned char *nb = pc__realloc(b->buf, nc);
        if (!nb)
            return -ENOMEM;
        b->buf = nb;
        b->cap = nc;
    }
    if (len)
        memcpy(b->buf + b->used, ptr, len);
    b->used += len;
    b->offs[++b->n] = b->used;
    return 0;
}

static pc_pool_item pulled_at(const pulled *b, size_t i) {
    return (pc_pool_item){b->buf + b->offs[i], b->offs[i + 1] - b->offs[i]};
}

static void pulled_free(pulled *b) {
    pc__free(b->buf);
    pc__free(b->offs);
}

/* Submit items [first, first + k) of `at` as one job: futs gets their
 * futures.  0, -EPIPE, -ENOMEM. */
static int submit_chunk(pc_pool *p, pc_task_fn fn, const pc_pool_item *items, size_t k,
                        pc_future **futs, bool iter) {
    pc__job *j;
    int r = pc__job_new(&j, fn, items, k, futs);
    if (r)
        return r;
    r = pc__pool_put(p, j, iter);
    if (r) {
        pc__job_drop(j);
        for (size_t i = 0; i < k; i++)
            futs[i] = (pc_future_release(futs[i]), NULL);
    }
    return r;
}

/* ---- map ----------------------------------------------------------------- */

struct pc_pool_map_result {
    _Atomic int refs;    /* the owner's + one while items are left */
    _Atomic size_t left; /* items not done; the callback taking it to 0 settles fut */
    size_t n;
    pc_future *fut;   /* fixed */
    pc_future **futs; /* fixed: n item futures */
};

static void map_release(pc_pool_map_result *m) {
    /* acq_rel: the last one sees the others' writes */
    if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < m->n; i++)
        pc_future_release(m->futs[i]);
    pc_future_release(m->fut);
    pc__free(m->futs);
    pc__free(m);
}

static void map_settle(pc_pool_map_result *m) {
    for (size_t i = 0; i < m->n; i++) {
        int e = pc_future_error(m->futs[i]);
        if (e) {
            pc_future_set_error(m->fut, e, pc_future_error_message(m->futs[i]));
            return;
        }
    }
    pc_future_set_result(m->fut, NULL, 0);
}

static void map_item_done(pc_future *f, void *arg) {
    (void)f;
    pc_pool_map_result *m = arg;
    /* acq_rel: the last one sees every item's outcome */
    if (atomic_fetch_sub_explicit(&m->left, 1, memory_order_acq_rel) == 1) {
        map_settle(m);
        map_release(m);
    }
}

int pc_pool_map_async(pc_pool *p, pc_task_fn fn, const pc_pool_input *in, size_t chunksize,
                      pc_pool_map_result **out) {
    if (!p || !fn || !out || !input_valid(in))
        return -EINVAL;
    pulled b = {0};
    size_t n = in->n;
    int r = 0;
    if (in->next) { /* map reads its input whole, as Python's */
        const void *ptr;
        size_t len;
        while ((r = in->next(in->next_arg, &ptr, &len)) > 0)
            if ((r = pulled_add(&b, ptr, len)) != 0)
                break;
        if (r < 0) {
            pulled_free(&b);
            return r;
        }
        n = b.n;
    }
    pc_pool_map_result *m = pc__calloc(1, sizeof *m);
    if (!m || (n && !(m->futs = pc__calloc(n, sizeof *m->futs))) || pc_future_new(&m->fut)) {
        if (m)
            pc__free(m->futs);
        pc__free(m);
        pulled_free(&b);
        return -ENOMEM;
    }
    m->n = n;
    atomic_init(&m->refs, 2);
    atomic_init(&m->left, n);
    if (chunksize == 0)
        chunksize = pc__pool_chunksize(p, n);
    if ((r = pc__pool_usable(p)) != 0)
        goto fail;
    pc_pool_item stack[64];
    pc_pool_item *items = chunksize <= 64 ? stack : pc__malloc(chunksize * sizeof *items);
    if (!items) {
        r = -ENOMEM;
        goto fail;
    }
    size_t i = 0;
    for (; i < n; i += chunksize) {
        size_t k = n - i < chunksize ? n - i : chunksize;
        for (size_t x = 0; x < k; x++)
            items[x] = in->next ? pulled_at(&b, i + x) : input_at(in, i + x);
        if ((r = submit_chunk(p, fn, items, k, m->futs + i, false)) != 0)
            break;
        for (size_t x = 0; x < k; x++)
            if (pc_future_add_done_callback(m->futs[i + x], map_item_done, m) != 0)
                map_item_done(m->futs[i + x], m); /* no memory: count it now */
    }
    if (items != stack)
        pc__free(items);
    pulled_free(&b);
    if (r && i == 0)
        goto fail_nopull;
    if (r) { /* later chunks: cancel what went in, fail what did not */
        for (size_t x = 0; x < i; x++)
            pc_future_cancel(m->futs[x]);
        for (size_t x = i; x < n; x++) {
            if (pc_future_new(&m->futs[x]) == 0)
                pc_future_set_error(m->futs[x], r, "not submitted");
            map_item_done(m->futs[x], m);
        }
        pc_pool_map_free(m);
        return r;
    }
    if (n == 0)
        pc_future_set_result(m->fut, NULL, 0), map_release(m);
    *out = m;
    return 0;
fail:
    pulled_free(&b);
fail_nopull:
    pc_future_release(m->fut);
    pc__free(m->futs);
    pc__free(m);
    return r;
}

int pc_pool_map(pc_pool *p, pc_task_fn fn, const pc_pool_input *in, size_t chunksize,
                pc_pool_map_result **m, double timeout) {
    if (m)
        *m = NULL;
    if (timeout != timeout)
        return -EINVAL;
    int r = pc_pool_map_async(p, fn, in, chunksize, m);
    return r ? r : pc_pool_map_wait(*m, timeout);
}

size_t pc_pool_map_count(const pc_pool_map_result *m) {
    return m ? m->n : 0;
}

pc_future *pc_pool_map_future(const pc_pool_map_result *m) {
    return m ? m->fut : NULL;
}

bool pc_pool_map_ready(const pc_pool_map_result *m) {
    return m && pc_future_done(m->fut);
}

int pc_pool_map_wait(pc_pool_map_result *m, double timeout) {
    if (!m)
        return -EINVAL;
    return pc_future_result(m->fut, NULL, NULL, timeout);
}

int pc_pool_map_get(const pc_pool_map_result *m, size_t i, const void **bytes, size_t *len) {
    if (!m)
        return -EINVAL;
    if (i >= m->n)
        return -ERANGE;
    if (!pc_future_done(m->futs[i]))
        return -EAGAIN;
    return pc_future_result(m->futs[i], bytes, len, 0);
}

pc_future *pc_pool_map_item(const pc_pool_map_result *m, size_t i) {
    return m && i < m->n ? m->futs[i] : NULL;
}

void pc_pool_map_free(pc_pool_map_result *m) {
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        pc_future_cancel(m->futs[i]);
    map_release(m);
}

/* ---- iterators ------------------------------------------------------------ */

typedef struct islot {
    pc_future *f;
    size_t index;
    struct pc_pool_iter *it;
    struct islot *next_free;
} islot;

struct pc_pool_iter {
    _Atomic int refs; /* the owner's + one per pending done callback (unordered) */
    pc_pool *p;       /* a reference, dropped at free */
    pc_task_fn fn;
    pc_pool_input in;
    bool unordered;
    size_t chunk, window;
    size_t pos;    /* next input position (array, items) */
    size_t pulled; /* items pulled so far */
    size_t given;  /* items returned by next() */
    int end;       /* 0 while input is left; 1 at its end; < 0 the error that ended it */
    bool open;     /* counted in the pool's open_iters */
    islot *slots;  /* window of them */
    islot *free_slots;
    pc_queue *doneq; /* unordered: finished slots */
    islot *cur;      /* the slot returned last, freed at the next call */
    pulled buf;      /* a chunk being pulled */
};

static void iter_release(pc_pool_iter *it) {
    /* acq_rel: the last one sees the callbacks' puts */
    if (atomic_fetch_sub_explicit(&it->refs, 1, memory_order_acq_rel) != 1)
        return;
    pc_queue_free(it->doneq);
    pc__free(it->slots);
    pulled_free(&it->buf);
    pc__free(it);
}

static void iter_slot_done(pc_future *f, void *arg) {
    (void)f;
    islot *s = arg;
    pc_pool_iter *it = s->it;
    pc_queue_put(it->doneq, s, PC_FOREVER); /* SIMPLE: only -ENOMEM, then lost */
    iter_release(it);
}

static void iter_unopen(pc_pool_iter *it) {
    if (it->open) {
        it->open = false;
        pc__pool_iter_close(it->p);
    }
}

/* Pull and submit chunks while the window has room for a whole one. */
static int iter_fill(pc_pool_iter *it) {
    while (it->end == 0 && it->window - (it->pulled - it->given) >= it->chunk) {
        enum { SMALL = 64 };
        pc_pool_item items[SMALL];
        pc_future *small_futs[SMALL];
        bool big = it->chunk > SMALL;
        pc_pool_item *its = big ? pc__malloc(it->chunk * sizeof *its) : items;
        pc_future **futs = big ? pc__malloc(it->chunk * sizeof *futs) : small_futs;
        if (!its || !futs) {
            if (big) {
                pc__free(its);
                pc__free(futs);
            }
            return -ENOMEM;
        }
        size_t k = 0;
        it->buf.n = it->buf.used = 0;
        while (k < it->chunk) {
            if (input_known(&it->in)) {
                if (it->pos >= it->in.n) {
                    it->end = 1;
                    break;
                }
                its[k++] = input_at(&it->in, it->pos++);
            } else {
                const void *ptr;
                size_t len;
                int r = it->in.next(it->in.next_arg, &ptr, &len);
                if (r <= 0) {
                    it->end = r < 0 ? r : 1;
                    break;
                }
                if ((r = pulled_add(&it->buf, ptr, len)) != 0) {
                    it->end = r;
                    break;
                }
                k++;
            }
        }
        if (!input_known(&it->in))
            for (size_t x = 0; x < k; x++)
                its[x] = pulled_at(&it->buf, x);
        int r = k ? submit_chunk(it->p, it->fn, its, k, futs, true) : 0;
        if (big)
            pc__free(its);
        if (r) {
            if (big)
                pc__free(futs);
            it->end = r;
            break;
        }
        for (size_t x = 0; x < k; x++) {
            islot *s;
            if (it->unordered) {
                s = it->free_slots;
                it->free_slots = s->next_free;
            } else {
                s = &it->slots[(it->pulled + x) % it->window];
            }
            s->f = futs[x];
            s->index = it->pulled + x;
            if (it->unordered) {
                /* relaxed: made from the owner's reference */
                atomic_fetch_add_explicit(&it->refs, 1, memory_order_relaxed);
                if (pc_future_add_done_callback(s->f, iter_slot_done, s) != 0)
                    iter_slot_done(s->f, s); /* no memory: report it as done now */
            }
        }
        if (big)
            pc__free(futs);
        it->pulled += k;
    }
    if (it->end)
        iter_unopen(it);
    return 0;
}

static int iter_new(pc_pool *p, pc_task_fn fn, const pc_pool_input *in, size_t chunksize,
                    size_t window, bool unordered, pc_pool_iter **out) {
    if (!p || !fn || !out || !input_valid(in))
        return -EINVAL;
    pc_pool_iter *it = pc__calloc(1, sizeof *it);
    if (!it)
        return -ENOMEM;
    it->in = *in;
    if (chunksize == 0)
        chunksize = input_known(in) ? pc__pool_chunksize(p, in->n) : 1;
    if (window == 0)
        window = 2 * (size_t)pc_pool_workers(p) * chunksize;
    if (window < chunksize)
        window = chunksize;
    it->chunk = chunksize;
    it->window = window;
    it->unordered = unordered;
    it->fn = fn;
    atomic_init(&it->refs, 1);
    it->slots = pc__calloc(window, sizeof *it->slots);
    if (!it->slots ||
        (unordered && pc_queue_new(&it->doneq, &(pc_queue_opts){.kind = PC_QUEUE_SIMPLE}))) {
        pc__free(it->slots);
        pc__free(it);
        return -ENOMEM;
    }
    for (size_t i = 0; i < window; i++) {
        it->slots[i].it = it;
        it->slots[i].next_free = it->free_slots;
        it->free_slots = &it->slots[i];
    }
    int r = pc__pool_iter_open(p);
    if (r) {
        pc_queue_free(it->doneq);
        pc__free(it->slots);
        pc__free(it);
        return r;
    }
    it->open = true;
    pc__pool_retain(p);
    it->p = p;
    r = iter_fill(it);
    if (r == 0 && it->end < 0 && it->pulled == 0)
        r = it->end; /* nothing went in: report now */
    if (r) {
        pc_pool_iter_free(it);
        return r;
    }
    *out = it;
    return 0;
}

int pc_pool_imap(pc_pool *p, pc_task_fn fn, const pc_pool_input *in, size_t chunksize,
                 size_t window, pc_pool_iter **it) {
    return iter_new(p, fn, in, chunksize, window, false, it);
}

int pc_pool_imap_unordered(pc_pool *p, pc_task_fn fn, const pc_pool_input *in, size_t chunksize,
                           size_t window, pc_pool_iter **it) {
    return iter_new(p, fn, in, chunksize, window, true, it);
}

static void slot_put_back(pc_pool_iter *it, islot *s) {
    pc_future_release(s->f);
    s->f = NULL;
    if (it->unordered) {
        s->next_free = it->free_slots;
        it->free_slots = s;
    }
}

int pc_pool_iter_next(pc_pool_iter *it, size_t *index, const void **bytes, size_t *len,
                      double timeout) {
    if (!it || timeout != timeout)
        return -EINVAL;
    if (it->cur) {
        slot_put_back(it, it->cur);
        it->cur = NULL;
    }
    int r = iter_fill(it);
    if (r)
        return r;
    if (it->given == it->pulled)
        return it->end < 0 ? it->end : -ENOENT;
    islot *s;
    if (it->unordered) {
        void *item;
        r = pc_queue_get(it->doneq, &item, timeout);
        if (r)
            return r == -EPIPE ? -ENOENT : r;
        s = item;
    } else {
        s = &it->slots[it->given % it->window];
        r = pc_future_result(s->f, NULL, NULL, timeout);
        if (!pc_future_done(s->f))
            return r; /* timed out, or the waiting coroutine killed: call again */
    }
    it->given++;
    it->cur = s;
    if (index)
        *index = s->index;
    return pc_future_result(s->f, bytes, len, 0);
}

const char *pc_pool_iter_error_message(const pc_pool_iter *it) {
    return it && it->cur ? pc_future_error_message(it->cur->f) : NULL;
}

void pc_pool_iter_free(pc_pool_iter *it) {
    if (!it)
        return;
    iter_unopen(it);
    /* Cancel what has not started; the done callbacks of those running
     * come later and find the iterator alive through their references.
     * doneq holds no references: its slots' futures are released here. */
    for (size_t i = 0; i < it->window; i++) {
        if (it->slots[i].f) {
            pc_future_cancel(it->slots[i].f);
            pc_future_release(it->slots[i].f);
            it->slots[i].f = NULL;
        }
    }
    pc__pool_release(it->p);
    iter_release(it);
}
