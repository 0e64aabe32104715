/* Value, Array, RawValue, RawArray (pyconc/shared.h): types, locks
 * (own, given, none), misuse, use across processes under each start
 * method, and a lock holder killed with the lock held. */

#include "shared-helpers.h"

Test(shared_value, typed_get_and_set) {
    pc_shvalue *v;
    expect_rc(pc_shvalue_new(&v, PC_SH_INT, 0, NULL), 0);
    int i = 1;
    expect_rc(pc_shvalue_get_int(v, &i), 0);
    cr_assert_eq(i, 0); /* zeroed */
    expect_rc(pc_shvalue_set_int(v, -42), 0);
    expect_rc(pc_shvalue_get_int(v, &i), 0);
    cr_assert_eq(i, -42);
    cr_assert_eq(*(int *)pc_shvalue_ptr(v), -42);
    long l;
    expect_rc(pc_shvalue_get_long(v, &l), -EINVAL); /* another type */
    expect_rc(pc_shvalue_set_double(v, 1.0), -EINVAL);
    expect_rc(pc_shvalue_free(v), 0);

    expect_rc(pc_shvalue_new(&v, PC_SH_LONG, sizeof(long), NULL), 0);
    expect_rc(pc_shvalue_set_long(v, 1L << 40), 0);
    expect_rc(pc_shvalue_get_long(v, &l), 0);
    cr_assert_eq(l, 1L << 40);
    expect_rc(pc_shvalue_free(v), 0);

    expect_rc(pc_shvalue_new(&v, PC_SH_DOUBLE, 0, NULL), 0);
    double d;
    expect_rc(pc_shvalue_set_double(v, 2.5), 0);
    expect_rc(pc_shvalue_get_double(v, &d), 0);
    cr_assert_eq(d, 2.5);
    expect_rc(pc_shvalue_free(v), 0);

    expect_rc(pc_shvalue_new(&v, PC_SH_CHAR, 0, NULL), 0);
    char c;
    expect_rc(pc_shvalue_set_char(v, 'x'), 0);
    expect_rc(pc_shvalue_get_char(v, &c), 0);
    cr_assert_eq(c, 'x');
    expect_rc(pc_shvalue_free(v), 0);

    struct point {
        double x, y;
        int tag;
    } pt = {1.5, -2, 7}, back;
    expect_rc(pc_shvalue_new(&v, PC_SH_STRUCT, sizeof pt, NULL), 0);
    expect_rc(pc_shvalue_set(v, &pt), 0);
    expect_rc(pc_shvalue_get(v, &back), 0);
    cr_assert_eq(memcmp(&pt, &back, sizeof pt), 0);
    expect_rc(pc_shvalue_get_int(v, &i), -EINVAL);
    expect_rc(pc_shvalue_free(v), 0);
}

Test(shared_value, bad_arguments_are_einval) {
    pc_shvalue *v;
    expect_rc(pc_shvalue_new(&v, 0, 0, NULL), -EINVAL);
    expect_rc(pc_shvalue_new(&v, PC_SH_STRUCT + 1, 0, NULL), -EINVAL);
    expect_rc(pc_shvalue_new(&v, PC_SH_STRUCT, 0, NULL), -EINVAL);
    expect_rc(pc_shvalue_new(&v, PC_SH_INT, 3, NULL), -EINVAL);
    expect_rc(pc_shvalue_new(NULL, PC_SH_INT, 0, NULL), -EINVAL);
    pc_shsem *s;
    expect_rc(pc_shsem_new(&s, 1), 0);
    expect_rc(pc_shvalue_new(&v, PC_SH_INT, 0, s), -EINVAL); /* not a lock */
    expect_rc(pc_shvalue_get_int((pc_shvalue *)(void *)s, &(int){0}), -EINVAL);
    expect_rc(pc_shvalue_free((pc_shvalue *)(void *)s), -EINVAL);
    expect_rc(pc_shsem_free(s), 0);
    pc_sharray *a;
    expect_rc(pc_sharray_new(&a, PC_SH_INT, 0, 0, NULL), -EINVAL);
    expect_rc(pc_sharray_new(&a, PC_SH_INT, 0, 4, NULL), 0);
    expect_rc(pc_shvalue_set_int((pc_shvalue *)(void *)a, 1), -EINVAL); /* an array */
    expect_rc(pc_sharray_free(a), 0);
    expect_rc(pc_sharray_free(a), -EINVAL);
    cr_assert_null(pc_shvalue_ptr(NULL));
    expect_rc(pc_shvalue_lock(v = NULL, 0), -EINVAL);
}

Test(shared_value, locks_own_given_and_none) {
    pc_shvalue *v;
    expect_rc(pc_shvalue_new(&v, PC_SH_LONG, 0, NULL), 0);
    pc_shrlock *own = pc_shvalue_get_lock(v);
    cr_assert_eq(pc__sh_kind(own), PC__SH_RLOCK, "Python's default: an RLock of its own");
    expect_rc(pc_shvalue_lock(v, 0), 0);
    expect_rc(pc_shvalue_lock(v, 0), 0); /* recursive */
    long x;
    expect_rc(pc_shvalue_get_long(v, &x), 0); /* under our own lock: fine */
    expect_rc(pc_shvalue_free(v), -EBUSY);
    expect_rc(pc_shvalue_unlock(v), 0);
    expect_rc(pc_shvalue_unlock(v), 0);
    expect_rc(pc_shvalue_unlock(v), -EPERM);
    expect_rc(pc_shvalue_free(v), 0);

    pc_shlock *l;
    expect_rc(pc_shlock_new(&l), 0);
    expect_rc(pc_shvalue_new(&v, PC_SH_LONG, 0, l), 0);
    pc_shvalue *w;
    expect_rc(pc_shvalue_new(&w, PC_SH_DOUBLE, 0, l), 0); /* two values, one lock */
    cr_assert_eq(pc_shvalue_get_lock(v), l);
    cr_assert_eq(pc_shvalue_get_lock(w), l);
    expect_rc(pc_shvalue_lock(v, 0), 0);
    cr_assert(pc_shlock_locked(l));
    expect_rc(pc_shvalue_lock(w, 0), -EBUSY);
    expect_rc(pc_shvalue_unlock(w), 0); /* a Lock: anyone may release */
    expect_rc(pc_shvalue_free(v), 0);
    expect_rc(pc_shvalue_free(w), 0);
    expect_rc(pc_shlock_free(l), 0); /* given: still ours */

    expect_rc(pc_shvalue_new_raw(&v, PC_SH_INT, 0), 0);
    cr_assert_null(pc_shvalue_get_lock(v));
    expect_rc(pc_shvalue_lock(v, 0), -EINVAL);
    expect_rc(pc_shvalue_unlock(v), -EINVAL);
    expect_rc(pc_shvalue_set_int(v, 3), 0);
    int i;
    expect_rc(pc_shvalue_get_int(v, &i), 0);
    cr_assert_eq(i, 3);
    expect_rc(pc_shvalue_free(v), 0);
}

Test(shared_array, elements_bounds_and_raw) {
    pc_sharray *a;
    expect_rc(pc_sharray_new(&a, PC_SH_DOUBLE, 0, 10, NULL), 0);
    cr_assert_eq(pc_sharray_len(a), 10);
    cr_assert_eq(pc_sharray_elem_size(a), sizeof(double));
    cr_assert_not_null(pc_sharray_get_lock(a));
    for (size_t i = 0; i < 10; i++)
        expect_rc(pc_sharray_set_double(a, i, (double)i / 2), 0);
    double d;
    expect_rc(pc_sharray_get_double(a, 9, &d), 0);
    cr_assert_eq(d, 4.5);
    cr_assert_eq(((double *)pc_sharray_ptr(a))[3], 1.5);
    expect_rc(pc_sharray_get_double(a, 10, &d), -ERANGE);
    expect_rc(pc_sharray_set_long(a, 0, 1), -EINVAL);
    expect_rc(pc_sharray_lock(a, PC_FOREVER), 0);
    expect_rc(pc_sharray_unlock(a), 0);
    expect_rc(pc_sharray_free(a), 0);

    expect_rc(pc_sharray_new_raw(&a, PC_SH_CHAR, 0, 6), 0);
    cr_assert_null(pc_sharray_get_lock(a));
    memcpy(pc_sharray_ptr(a), "hello", 6);
    char c;
    expect_rc(pc_sharray_get(a, 1, &c), 0);
    cr_assert_eq(c, 'e');
    expect_rc(pc_sharray_set(a, 0, "j"), 0);
    cr_assert_str_eq(pc_sharray_ptr(a), "jello");
    expect_rc(pc_sharray_free(a), 0);

    struct rec {
        int a[3];
    } r = {{1, 2, 3}}, back;
    expect_rc(pc_sharray_new(&a, PC_SH_STRUCT, sizeof r, 4, NULL), 0);
    expect_rc(pc_sharray_set(a, 3, &r), 0);
    expect_rc(pc_sharray_get(a, 3, &back), 0);
    cr_assert_eq(back.a[2], 3);
    expect_rc(pc_sharray_get(a, 0, &back), 0);
    cr_assert_eq(back.a[0], 0);
    expect_rc(pc_sharray_free(a), 0);
}

/* ---- across processes ---- */

struct counter_box {
    pc_shared_ref value, array;
};

static int add_many(void *arg, size_t len) {
    (void)len;
    struct counter_box *b = deref(*(pc_shared_ref *)arg);
    pc_shvalue *v = b ? deref(b->value) : NULL;
    pc_sharray *a = b ? deref(b->array) : NULL;
    if (!v || !a)
        return 90;
    for (int i = 0; i < 20000; i++) {
        if (pc_shvalue_lock(v, 30) != 0)
            return 91;
        (*(long *)pc_shvalue_ptr(v))++;
        pc_shvalue_unlock(v);
    }
    for (size_t i = 0; i < pc_sharray_len(a); i++) /* the child fills the odd slots */
        if (i % 2 && pc_sharray_set_int(a, i, (int)i * 10) != 0)
            return 92;
    return 0;
}

PROC_TEST(shared_value_counted_by_two_processes_loses_nothing, .timeout = 60) {
    struct counter_box *b;
    expect_rc(pc_shared_alloc(sizeof *b, (void **)&b), 0);
    pc_shvalue *v;
    pc_sharray *a;
    expect_rc(pc_shvalue_new(&v, PC_SH_LONG, 0, NULL), 0);
    expect_rc(pc_sharray_new(&a, PC_SH_INT, 0, 8, NULL), 0);
    b->value = ref_of(v);
    b->array = ref_of(a);
    pc_shared_ref r = ref_of(b);
    pc_process *p = start_fn(m, add_many, &r, sizeof r, NULL, 0);
    for (int i = 0; i < 20000; i++) {
        expect_rc(pc_shvalue_lock(v, 30), 0);
        (*(long *)pc_shvalue_ptr(v))++;
        expect_rc(pc_shvalue_unlock(v), 0);
    }
    cr_assert_eq(join_code(p), 0);
    long n;
    expect_rc(pc_shvalue_get_long(v, &n), 0);
    cr_assert_eq(n, 40000);
    for (size_t i = 0; i < 8; i++) {
        int x;
        expect_rc(pc_sharray_get_int(a, i, &x), 0);
        cr_assert_eq(x, i % 2 ? (int)i * 10 : 0);
    }
    pc_process_free(p);
    expect_rc(pc_shvalue_free(v), 0);
    expect_rc(pc_sharray_free(a), 0);
    expect_rc(pc_shared_free(b), 0);
}

struct die_box {
    pc_shared_ref value, ready;
};

static int lock_value_and_die(void *arg, size_t len) {
    (void)len;
    struct die_box *b = deref(*(pc_shared_ref *)arg);
    pc_shvalue *v = b ? deref(b->value) : NULL;
    pc_shevent *ready = b ? deref(b->ready) : NULL;
    if (!v || !ready || pc_shvalue_lock(v, 30) != 0)
        return 90;
    *(long *)pc_shvalue_ptr(v) = 99; /* half an update */
    pc_shevent_set(ready);
    for (;;)
        pause();
}

PROC_TEST(shared_value_lock_holder_killed_gives_eownerdead, .timeout = 60) {
    struct die_box *b;
    expect_rc(pc_shared_alloc(sizeof *b, (void **)&b), 0);
    pc_shvalue *v;
    pc_shevent *ready;
    expect_rc(pc_shvalue_new(&v, PC_SH_LONG, 0, NULL), 0);
    expect_rc(pc_shevent_new(&ready), 0);
    b->value = ref_of(v);
    b->ready = ref_of(ready);
    pc_shared_ref r = ref_of(b);
    pc_process *p = start_fn(m, lock_value_and_die, &r, sizeof r, NULL, 0);
    expect_rc(pc_shevent_wait(ready, 30), 0);
    expect_rc(pc_shvalue_lock(v, 0.05), -ETIMEDOUT);
    expect_rc(pc_process_kill(p), 0);
    long x = 0;
    expect_rc(pc_shvalue_get_long(v, &x), -EOWNERDEAD); /* read anyway, lock released */
    cr_assert_eq(x, 99);
    expect_rc(pc_shvalue_get_long(v, &x), 0);
    cr_assert_eq(join_code(p), -SIGKILL);
    pc_process_free(p);
    expect_rc(pc_shvalue_free(v), 0);
    expect_rc(pc_shevent_free(ready), 0);
    expect_rc(pc_shared_free(b), 0);
}
