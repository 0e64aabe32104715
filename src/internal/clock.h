/* Monotonic time in nanoseconds and the conversion of a relative timeout
 * (seconds, double) into an absolute deadline, done once per blocking call
 * so that wake-ups and signals never stretch a timeout. */
#ifndef PC_INTERNAL_CLOCK_H
#define PC_INTERNAL_CLOCK_H

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <time.h>

#define PC__NO_DEADLINE INT64_MAX

static inline int64_t pc__mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * Turn `timeout` into an absolute CLOCK_MONOTONIC deadline in *deadline:
 * PC__NO_DEADLINE for any negative value (PC_FOREVER) or one too large to
 * represent, "now" for 0.  -EINVAL for NaN, else 0.
 */
static inline int pc__deadline(double timeout, int64_t *deadline) {
    if (isnan(timeout))
        return -EINVAL;
    if (timeout < 0 || timeout > 1e9) { /* ~31 years: forever for us */
        *deadline = PC__NO_DEADLINE;
        return 0;
    }
    *deadline = pc__mono_ns() + (int64_t)(timeout * 1e9);
    return 0;
}

/* What is left of `deadline`, as a relative timeout in seconds for a
 * pyconc call: PC_FOREVER (-1) for none, 0 once passed. */
static inline double pc__remaining(int64_t deadline) {
    if (deadline == PC__NO_DEADLINE)
        return -1.0;
    int64_t ns = deadline - pc__mono_ns();
    return ns <= 0 ? 0 : (double)ns / 1e9;
}

/* The same as milliseconds for poll(2)/epoll_wait(2): -1 for none, rounded
 * up (never wake early), at most INT_MAX (a later wake-up re-checks). */
static inline int pc__remaining_ms(int64_t deadline) {
    if (deadline == PC__NO_DEADLINE)
        return -1;
    int64_t ns = deadline - pc__mono_ns();
    if (ns <= 0)
        return 0;
    int64_t ms = (ns + 999999) / 1000000;
    return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

static inline struct timespec pc__ns_to_timespec(int64_t ns) {
    struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
    return ts;
}

#endif
