/*
 * pc_shvalue and pc_sharray (pyconc/shared.h): Value, Array, RawValue
 * and RawArray in the shared heap.
 *
 * One block: a small header (kind, element type and size, count, lock
 * mode, the lock's reference) and the elements, 16-byte aligned.  The
 * opaque types are never defined: both are `shdata`, told apart by the
 * magic.  The lock is another heap object (an RLock made with the value,
 * or one given), kept by reference and dereferenced on each call, because
 * its address differs between processes.  get/set copy the bytes under
 * the lock, as Python's synchronized wrapper does for `v.value`.
 */
#include <errno.h>
#include <string.h>

#include "shared-internal.h"

enum { LOCK_NONE, LOCK_OWN, LOCK_GIVEN };

typedef struct shdata {
    _Atomic uint32_t magic;
    uint32_t type;     /* pc_shtype; fixed */
    uint32_t lockmode; /* LOCK_*; fixed */
    uint32_t pad;
    uint64_t elsize;                   /* fixed */
    uint64_t n;                        /* fixed */
    pc_shared_ref lock;                /* fixed; zero for LOCK_NONE */
    _Alignas(16) unsigned char data[]; /* guarded by the lock, if any */
} shdata;

static size_t type_size(pc_shtype type, size_t size) {
    size_t want;
    switch (type) {
    case PC_SH_INT: want = sizeof(int); break;
    case PC_SH_LONG: want = sizeof(long); break;
    case PC_SH_DOUBLE: want = sizeof(double); break;
    case PC_SH_CHAR: want = sizeof(char); break;
    case PC_SH_STRUCT: return size;
    default: return 0;
    }
    return size == 0 || size == want ? want : 0;
}

static int data_new(void **out, uint32_t magic, pc_shtype type, size_t size, size_t n, int mode,
                    void *lock) {
    size_t es = type_size(type, size);
    if (!out || es == 0 || n == 0 || n > (PC_SHARED_HEAP_MAX - sizeof(shdata)) / es)
        return -EINVAL;
    if (mode == LOCK_GIVEN && pc__sh_kind(lock) != PC__SH_LOCK && pc__sh_kind(lock) != PC__SH_RLOCK)
        return -EINVAL;
    int rc;
    if (mode == LOCK_OWN && (rc = pc_shrlock_new((pc_shrlock **)&lock)) < 0)
        return rc;
    shdata *d;
    if ((rc = pc__sh_alloc(sizeof *d + es * n, magic, (void **)&d)) < 0) {
        if (mode == LOCK_OWN)
            pc_shrlock_free(lock);
        return rc;
    }
    d->type = type;
    d->lockmode = (uint32_t)mode;
    d->elsize = es;
    d->n = n;
    if (mode != LOCK_NONE)
        pc_shared_ref_of(lock, &d->lock);
    *out = d;
    return 0;
}

static shdata *as(const void *o, uint32_t magic) {
    return pc__sh_kind(o) == magic ? (shdata *)o : NULL;
}

static void *lock_of(const shdata *d) {
    void *l;
    if (!d || d->lockmode == LOCK_NONE || pc_shared_deref(d->lock, &l) < 0)
        return NULL;
    return l;
}

static int data_free(shdata *d) {
    if (!d)
        return -EINVAL;
    void *l = d->lockmode == LOCK_OWN ? lock_of(d) : NULL;
    if (l && !pc__shany_freeable(l))
        return -EBUSY;
    if (l)
        pc_shrlock_free(l);
    return pc__sh_free(d);
}

static int data_lock(shdata *d, double timeout) {
    int64_t deadline = PC__NO_DEADLINE;
    void *l = lock_of(d);
    if (!l || (timeout >= 0 && pc__deadline(timeout, &deadline) < 0) || timeout != timeout)
        return -EINVAL;
    return pc__shany_acquire(l, deadline);
}

static int data_unlock(shdata *d) {
    void *l = lock_of(d);
    return l ? pc__shany_release(l) : -EINVAL;
}

/* Copy element i out of (to_user) or into the block, under the lock. */
static int data_copy(shdata *d, pc_shtype want, size_t i, void *buf, bool to_user) {
    if (!d || !buf || (want && d->type != (uint32_t)want))
        return -EINVAL;
    if (i >= d->n)
        return -ERANGE;
    void *l = lock_of(d);
    int rc = 0;
    if (l && (rc = pc__shany_acquire(l, PC__NO_DEADLINE)) < 0 && rc != -EOWNERDEAD)
        return rc; /* -ECANCELED: nothing copied */
    unsigned char *p = d->data + i * d->elsize;
    if (to_user)
        memcpy(buf, p, d->elsize);
    else
        memcpy(p, buf, d->elsize);
    if (l)
        pc__shany_release(l);
    return rc;
}

/* ---- Value ---- */

#define V(v) as((v), PC__SH_VALUE)

int pc_shvalue_new(pc_shvalue **v, pc_shtype type, size_t size, void *lock) {
    return data_new((void **)v, PC__SH_VALUE, type, size, 1, lock ? LOCK_GIVEN : LOCK_OWN, lock);
}

int pc_shvalue_new_raw(pc_shvalue **v, pc_shtype type, size_t size) {
    return data_new((void **)v, PC__SH_VALUE, type, size, 1, LOCK_NONE, NULL);
}

int pc_shvalue_free(pc_shvalue *v) {
    return data_free(V(v));
}

void *pc_shvalue_ptr(pc_shvalue *v) {
    shdata *d = V(v);
    return d ? d->data : NULL;
}

void *pc_shvalue_get_lock(const pc_shvalue *v) {
    return lock_of(V(v));
}

int pc_shvalue_lock(pc_shvalue *v, double timeout) {
    return data_lock(V(v), timeout);
}

int pc_shvalue_unlock(pc_shvalue *v) {
    return data_unlock(V(v));
}

int pc_shvalue_get(pc_shvalue *v, void *out) {
    return data_copy(V(v), 0, 0, out, true);
}

int pc_shvalue_set(pc_shvalue *v, const void *in) {
    return data_copy(V(v), 0, 0, (void *)in, false);
}

#define TYPED_VALUE(name, ctype, tag)                                                              \
    int pc_shvalue_get_##name(pc_shvalue *v, ctype *out) {                                         \
        return data_copy(V(v), tag, 0, out, true);                                                 \
    }                                                                                              \
    int pc_shvalue_set_##name(pc_shvalue *v, ctype x) {                                            \
        return data_copy(V(v), tag, 0, &x, false);                                                 \
    }

TYPED_VALUE(int, int, PC_SH_INT)
TYPED_VALUE(long, long, PC_SH_LONG)
TYPED_VALUE(double, double, PC_SH_DOUBLE)
TYPED_VALUE(char, char, PC_SH_CHAR)

/* ---- Array ---- */

#define A(a) as((a), PC__SH_ARRAY)

int pc_sharray_new(pc_sharray **a, pc_shtype type, size_t size, size_t n, void *lock) {
    return data_new((void **)a, PC__SH_ARRAY, type, size, n, lock ? LOCK_GIVEN : LOCK_OWN, lock);
}

int pc_sharray_new_raw(pc_sharray **a, pc_shtype type, size_t size, size_t n) {
    return data_new((void **)a, PC__SH_ARRAY, type, size, n, LOCK_NONE, NULL);
}

int pc_sharray_free(pc_sharray *a) {
    return data_free(A(a));
}

void *pc_sharray_ptr(pc_sharray *a) {
    shdata *d = A(a);
    return d ? d->data : NULL;
}

size_t pc_sharray_len(const pc_sharray *a) {
    shdata *d = A(a);
    return d ? d->n : 0;
}

size_t pc_sharray_elem_size(const pc_sharray *a) {
    shdata *d = A(a);
    return d ? d->elsize : 0;
}

void *pc_sharray_get_lock(const pc_sharray *a) {
    return lock_of(A(a));
}

int pc_sharray_lock(pc_sharray *a, double timeout) {
    return data_lock(A(a), timeout);
}

int pc_sharray_unlock(pc_sharray *a) {
    return data_unlock(A(a));
}

int pc_sharray_get(pc_sharray *a, size_t i, void *out) {
    return data_copy(A(a), 0, i, out, true);
}

int pc_sharray_set(pc_sharray *a, size_t i, const void *in) {
    return data_copy(A(a), 0, i, (void *)in, false);
}

#define TYPED_ARRAY(name, ctype, tag)                                                              \
    int pc_sharray_get_##name(pc_sharray *a, size_t i, ctype *out) {                               \
        return data_copy(A(a), tag, i, out, true);                                                 \
    }                                                                                              \
    int pc_sharray_set_##name(pc_sharray *a, size_t i, ctype x) {                                  \
        return data_copy(A(a), tag, i, &x, false);                                                 \
    }

TYPED_ARRAY(int, int, PC_SH_INT)
TYPED_ARRAY(long, long, PC_SH_LONG)
TYPED_ARRAY(double, double, PC_SH_DOUBLE)
