/*
 * ctxbench.h - the one harness of the context-switch benchmarks, included
 * by each program after it defines
 *
 *     CB_CTX                    the context type
 *     CB_MAKE(c, base, size, entry, arg)
 *     CB_SWITCH(from, to)       a direct call, the same for every program
 *
 * so pyconc's switch and the bare swaps run the very same loops.
 *
 *   ping-pong (default): the main context and one other switch back and
 *     forth, each from its own call site (as a scheduler and a coroutine
 *     do); figure: ns per switch.
 *   --ring N: N contexts, each switching to the next from the same call
 *     site, the last back to the first; figure: ns per switch and
 *     switches per second.
 *   --create 1: the create floor - make a context on one reused stack,
 *     switch to it, and let its entry switch straight back (it is never
 *     resumed; the next make overwrites it); figure: ns per created
 *     context, as ns_per_coro (the row of pyconc's spawn + run + join).
 *
 * The ping-pong also prints its ns_per_switch as ns_per_msg: in a
 * ping-pong one switch hands one message to the other side, the floor of
 * a channel ping-pong between two coroutines (bench/coro/coro-qpingpong.c).
 *
 * Each context's stack is a plain mmap here (stack allocation is not what
 * is measured).
 */
#ifndef PC_BENCH_CTXBENCH_H
#define PC_BENCH_CTXBENCH_H

#include <stdint.h>
#include <sys/mman.h>

#include "bench.h"

#define CB_STACK (64 * 1024)
#define CB_RING_MAX 1000

static CB_CTX cb_main, cb_ring[CB_RING_MAX];
static int cb_n;          /* contexts in the ring; 1 for the ping-pong */
static long cb_remaining; /* switches left in this pass (ring) */

static void *cb_stack(void) {
    void *p = mmap(NULL, CB_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        bench_die("mmap of a stack failed");
    return p;
}

static void cb_pong(void *arg) {
    (void)arg;
    for (;;)
        CB_SWITCH(&cb_ring[0], &cb_main);
}

static double cb_pingpong_loop(long n, void *arg) {
    (void)arg;
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++)
        CB_SWITCH(&cb_main, &cb_ring[0]);
    return (double)(bench_now_ns() - t0) * 1e-9;
}

static void cb_ring_entry(void *arg) {
    int i = (int)(intptr_t)arg;
    CB_CTX *me = &cb_ring[i], *next = &cb_ring[i + 1 < cb_n ? i + 1 : 0];
    for (;;)
        CB_SWITCH(me, --cb_remaining > 0 ? next : &cb_main);
}

static double cb_ring_loop(long n, void *arg) {
    (void)arg;
    cb_remaining = n;
    int64_t t0 = bench_now_ns();
    CB_SWITCH(&cb_main, &cb_ring[0]); /* the ring makes n switches, the last back here */
    return (double)(bench_now_ns() - t0) * 1e-9;
}

/* --create: the entry runs once and goes back; cb_created counts runs so
 * the compiler cannot drop the body. */
static void *cb_create_stack;
static long cb_created;

static void cb_once(void *arg) {
    cb_created += (long)(intptr_t)arg;
    CB_SWITCH(&cb_ring[0], &cb_main);
}

static double cb_create_loop(long n, void *arg) {
    (void)arg;
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        CB_MAKE(&cb_ring[0], cb_create_stack, CB_STACK, cb_once, (void *)(intptr_t)1);
        CB_SWITCH(&cb_main, &cb_ring[0]);
    }
    return (double)(bench_now_ns() - t0) * 1e-9;
}

static int cb_create(void) {
    cb_create_stack = cb_stack();
    long n;
    double per = bench_per_op(cb_create_loop, NULL, &n);
    if (cb_created < n)
        bench_die("the create loop ran %ld bodies, fewer than %ld", cb_created, n);
    bench_metric("coros", (double)n, "coros");
    bench_metric("ns_per_coro", per * 1e9, "ns/coro");
    return 0;
}

static int cb_run(int argc, char **argv) {
    bench_opts(argc, argv);
    long ring = bench_opt_long("ring", 0);
    long create = bench_opt_long("create", 0);
    bench_opts_done();
    if (create)
        return cb_create();
    if (ring < 0 || ring > CB_RING_MAX)
        bench_die("--ring must be 0..%d", CB_RING_MAX);
    cb_n = ring ? (int)ring : 1;
    for (int i = 0; i < cb_n; i++)
        CB_MAKE(&cb_ring[i], cb_stack(), CB_STACK, ring ? cb_ring_entry : cb_pong,
                (void *)(intptr_t)i);
    long n;
    if (ring) {
        double per = bench_per_op(cb_ring_loop, NULL, &n);
        bench_metric("switches", (double)n, "switches");
        bench_metric("ns_per_switch", per * 1e9, "ns/switch");
        bench_metric("switches_per_s", 1 / per, "switches/s");
    } else {
        double per = bench_per_op(cb_pingpong_loop, NULL, &n) / 2; /* there and back */
        bench_metric("switches", 2.0 * (double)n, "switches");
        bench_metric("ns_per_switch", per * 1e9, "ns/switch");
        bench_metric("ns_per_msg", per * 1e9, "ns/msg");
    }
    return 0;
}

#endif
