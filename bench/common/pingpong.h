/*
 * pingpong.h - the two-thread round-trip harness shared by the wake-up
 * benchmarks (pc_event and the raw futex peer).
 *
 * Two one-shot signals, ping and pong.  The main thread signals ping and
 * waits for pong; the partner waits for ping and signals pong.  One round
 * trip is one wake-up each way.  A wait returns once its signal was given
 * and leaves it unsignalled again, before the waiter signals the other
 * side, so no signal is ever lost or reused.  The partner starts behind a
 * barrier with the main thread; bench_per_op() calibrates the count.
 * Figure: ns_per_roundtrip (and "roundtrips").
 */
#ifndef PC_BENCH_PINGPONG_H
#define PC_BENCH_PINGPONG_H

typedef struct pingpong_ops {
    void *(*make)(void); /* one unsignalled signal */
    void (*signal)(void *s);
    void (*wait)(void *s); /* until signalled; then unsignalled again */
    void (*destroy)(void *s);
} pingpong_ops;

/* Calibrate, measure, print.  Call bench_opts() first. */
int pingpong_main(const pingpong_ops *ops);

#endif
