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

static inline struct timespec pc__ns_to_timespec(int64_t ns) {
    struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
    return ts;
}

#endif
