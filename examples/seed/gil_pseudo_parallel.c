/*
 * What the GIL is: "every thread locks out the others while it runs, so the
 * threads are only pseudo-parallel" (the seed's first answer).
 *
 * Two CPU-bound jobs, timed three ways:
 *   - one after the other, in one thread;
 *   - in two threads that must hold one pc_gil to run (each job calls
 *     pc_gil_check() between slices of work, as CPython's eval loop does
 *     between bytecodes): they take turns every switch interval and take
 *     as long as the sequential run;
 *   - in two threads without a GIL: on two cores, about half the time.
 * Wall times move with the machine's load; the CPU time the process used
 * over the wall time does not lie: under the GIL the two threads keep
 * one core busy at a time, without it two.
 *
 * The work is sized so that one job lasts about PYCONC_SEED_SCALE seconds
 * (0.2 s at the tour's default).
 */
#include <time.h>
#include <unistd.h>

#include "seed.h"

#define SLICE 20000 /* iterations of "bytecode" between checks */

static pc_gil *gil; /* NULL: the run without a GIL */
static long slices; /* the size of one job */

/* A job: a little arithmetic, checking the eval breaker between slices. */
static void *job(void *arg) {
    volatile unsigned long x = (unsigned long)(uintptr_t)arg;
    if (gil)
        SEED_CHECK(pc_gil_acquire(gil, PC_FOREVER));
    for (long s = 0; s < slices; s++) {
        for (int i = 0; i < SLICE; i++)
            x = x * 6364136223846793005UL + 1442695040888963407UL;
        if (gil)
            SEED_CHECK(pc_gil_check(gil));
    }
    if (gil)
        SEED_CHECK(pc_gil_release(gil));
    return NULL;
}

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The wall time of the two jobs in two threads; *cores: the CPU time they
 * used over that wall time (how many cores were busy on average). */
static double two_threads(double *cores) {
    double t0 = pc_now(), c0 = cpu_now();
    pc_thread *t1, *t2;
    SEED_CHECK(pc_thread_new(&t1, job, (void *)1, NULL));
    SEED_CHECK(pc_thread_new(&t2, job, (void *)2, NULL));
    SEED_CHECK(pc_thread_start(t1));
    SEED_CHECK(pc_thread_start(t2));
    SEED_CHECK(pc_thread_join(t1, PC_FOREVER));
    SEED_CHECK(pc_thread_join(t2, PC_FOREVER));
    double wall = pc_now() - t0;
    *cores = (cpu_now() - c0) / wall;
    pc_thread_free(t1);
    pc_thread_free(t2);
    return wall;
}

int main(void) {
    seed_init();
    /* calibrate: how many slices make one job last the scaled 1 s */
    double target = seed_scale(), t0, took;
    for (slices = 4;; slices *= 2) {
        t0 = pc_now();
        job((void *)3);
        if ((took = pc_now() - t0) > 0.05 || slices > (1L << 30))
            break;
    }
    slices = (long)(target / (took / (double)slices));
    if (slices < 10)
        slices = 10;

    t0 = pc_now();
    job((void *)1);
    job((void *)2);
    double seq = pc_now() - t0;
    printf("two jobs one after the other:  %.3f s\n", seq);

    SEED_CHECK(pc_gil_new(&gil, NULL));
    double gil_cores, free_cores;
    double with_gil = two_threads(&gil_cores);
    pc_gil_stats st;
    SEED_CHECK(pc_gil_get_stats(gil, &st));
    printf("two threads under one GIL:     %.3f s  (%.2fx the sequential time; %llu forced "
           "switches, one every %.1f ms; %.2f cores busy)\n",
           with_gil, with_gil / seq, (unsigned long long)st.forced_switches,
           st.forced_switches ? with_gil / (double)st.forced_switches * 1e3 : 0.0, gil_cores);
    SEED_CHECK(pc_gil_free(gil));
    gil = NULL;

    double free_run = two_threads(&free_cores);
    printf("two threads without a GIL:     %.3f s  (%.2fx the sequential time, on %ld cores; "
           "%.2f cores busy)\n",
           free_run, free_run / seq, sysconf(_SC_NPROCESSORS_ONLN), free_cores);
    printf("\nUnder the GIL the threads take turns (every 5 ms, the switch interval):\n"
           "concurrency, not parallelism.  CPU-bound Python code gains nothing from\n"
           "threads; it uses processes (multiprocessing) instead.\n");
    return 0;
}
