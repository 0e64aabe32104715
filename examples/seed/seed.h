/*
 * seed.h - what every example of the seed shares: the scaled sleep and a
 * check that turns a failed pyconc call into a message and exit(1).
 *
 * The seed's sleeps are seconds long; the tour would take minutes.  Every
 * example sleeps through seed_sleep(), which multiplies the seed's value by
 * PYCONC_SEED_SCALE (default SEED_DEFAULT_SCALE; 1 gives the seed's own
 * timing, the tests use a tiny scale).
 */
#ifndef PYCONC_SEED_H
#define PYCONC_SEED_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <pyconc.h>

#define SEED_DEFAULT_SCALE 0.2

/* The factor seed_sleep() applies; a bad PYCONC_SEED_SCALE is an error. */
static inline double seed_scale(void) {
    const char *s = getenv("PYCONC_SEED_SCALE");
    if (!s || !*s)
        return SEED_DEFAULT_SCALE;
    char *end;
    double v = strtod(s, &end);
    if (*end || !isfinite(v) || v < 0) {
        fprintf(stderr, "PYCONC_SEED_SCALE=%s: want a number >= 0\n", s);
        exit(2);
    }
    return v;
}

/* Python's time.sleep(seconds), scaled. */
static inline void seed_sleep(double seconds) {
    pc_sleep(seconds * seed_scale());
}

/* asyncio.sleep / gevent.sleep, scaled: parks the calling coroutine. */
static inline int seed_coro_sleep(double seconds) {
    return pc_coro_sleep(seconds * seed_scale());
}

/* Every pyconc call returns 0 or a negative errno: a failure ends the
 * example with the call and pc_strerror()'s text. */
#define SEED_CHECK(call)                                                                           \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ < 0) {                                                                             \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, pc_strerror(rc_));       \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* Call first in main(): checks PYCONC_SEED_SCALE before anything runs, and
 * line-buffers stdout so that a piped tour stays live (threads print whole
 * lines). */
static inline void seed_init(void) {
    (void)seed_scale();
    setvbuf(stdout, NULL, _IOLBF, 0);
}

#endif
