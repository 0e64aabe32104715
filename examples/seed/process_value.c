/*
 * The seed's shared Value: two processes add to one multiprocessing.Value,
 * first without a lock, then holding one.
 *
 *   def job(v, num):                          # without a lock
 *       for _ in range(5):
 *           time.sleep(0.1)
 *           v.value += num
 *           print(v.value, end=",")
 *
 *   lock = multiprocessing.Lock()
 *   def job(v, num, lock):                    # with the lock
 *       lock.acquire()
 *       for _ in range(5):
 *           time.sleep(0.1)
 *           v.value += num
 *           print(v.value, end=",")
 *       lock.release()
 *
 *   v = multiprocessing.Value('i', 0)
 *   p1 = multiprocessing.Process(target=job, args=(v, 1, lock))
 *   p2 = multiprocessing.Process(target=job, args=(v, 3, lock))
 *   p1.start(); p2.start()
 *   >>> 3,6,9,12,15,16,17,18,19,20
 *
 * `v.value += num` is a locked read and then a locked write, not one
 * locked update: without the outer lock the two processes interleave and
 * an update can be lost.  The seed's run shows 1,5,9,13,17,4,8,12,16,20:
 * the two jobs took turns.  To make loss visible, the example also adds
 * 100000 times from each process without sleeping.
 *
 * With the lock, a job runs its five steps whole.  In the seed's run p2
 * (num=3) happened to win the lock first, hence 3,6,9,12,15 then 16..20;
 * here the parent starts p2, waits until it holds the lock and only then
 * starts p1, so the output is the seed's every time.
 *
 * The Value and the Lock live in the shared heap; a process gets them as
 * references (pc_shared_ref) in its argument, under any start method.
 */
#include <unistd.h>

#include "seed.h"

struct job_args {
    pc_shared_ref v;    /* a pc_shvalue of int */
    pc_shared_ref lock; /* a pc_shlock, or zero for none */
    int num;
    int times;    /* loop count */
    double sleep; /* the seed's seconds per step (0: no sleep, no print) */
};

static void *deref(pc_shared_ref r) {
    void *p = NULL;
    if (r.heap)
        SEED_CHECK(pc_shared_deref(r, &p));
    return p;
}

static int job(void *arg, size_t len) {
    (void)len;
    struct job_args *a = arg;
    pc_shvalue *v = deref(a->v);
    pc_shlock *lock = deref(a->lock);
    if (lock)
        SEED_CHECK(pc_shlock_acquire(lock, PC_FOREVER));
    for (int i = 0; i < a->times; i++) {
        if (a->sleep > 0)
            seed_sleep(a->sleep);
        int x;
        SEED_CHECK(pc_shvalue_get_int(v, &x));         /* v.value += num: read ... */
        SEED_CHECK(pc_shvalue_set_int(v, x + a->num)); /* ... then write */
        if (a->sleep > 0) {
            SEED_CHECK(pc_shvalue_get_int(v, &x));
            printf("%d,", x);
            fflush(stdout);
        }
    }
    if (lock)
        SEED_CHECK(pc_shlock_release(lock));
    return 0;
}

static pc_process *start(struct job_args a) {
    pc_process *p;
    SEED_CHECK(pc_process_new(&p, job, &a, sizeof a, NULL));
    SEED_CHECK(pc_process_start(p));
    return p;
}

static int run_pair(pc_shvalue *v, pc_shlock *lock, int times, double sleep) {
    pc_shared_ref vr, lr = {0, 0};
    SEED_CHECK(pc_shared_ref_of(v, &vr));
    if (lock)
        SEED_CHECK(pc_shared_ref_of(lock, &lr));
    SEED_CHECK(pc_shvalue_set_int(v, 0));
    struct job_args a1 = {vr, lr, 1, times, sleep}, a2 = {vr, lr, 3, times, sleep};
    pc_process *p2 = start(a2), *p1;
    if (lock) { /* p2 first, as in the seed's run */
        while (!pc_shlock_locked(lock))
            usleep(1000);
    }
    p1 = start(a1);
    SEED_CHECK(pc_process_join(p1, PC_FOREVER));
    SEED_CHECK(pc_process_join(p2, PC_FOREVER));
    pc_process_free(p1);
    pc_process_free(p2);
    int x;
    SEED_CHECK(pc_shvalue_get_int(v, &x));
    return x;
}

int main(void) {
    seed_init();
    pc_shvalue *v;
    pc_shlock *lock;
    SEED_CHECK(pc_shvalue_new(&v, PC_SH_INT, 0, NULL));
    SEED_CHECK(pc_shlock_new(&lock));

    printf("without a lock:\n");
    int x = run_pair(v, NULL, 5, 0.1);
    printf("\nfinal value %d (20 if no update was lost)\n", x);
    x = run_pair(v, NULL, 100000, 0);
    printf("without a lock, 100000 += 1 and 100000 += 3 at full speed: %d of 400000 (%d lost)\n", x,
           400000 - x);

    printf("with the lock:\n");
    x = run_pair(v, lock, 5, 0.1);
    printf("\nfinal value %d\n", x);
    x = run_pair(v, lock, 100000, 0);
    printf("with the lock, 100000 += 1 and 100000 += 3 at full speed: %d of 400000\n", x);

    SEED_CHECK(pc_shvalue_free(v));
    SEED_CHECK(pc_shlock_free(lock));
    return 0;
}
