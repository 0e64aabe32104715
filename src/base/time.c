/* pc_now and pc_sleep, on CLOCK_MONOTONIC. */
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <time.h>

#include "../internal/blocking.h"
#include "../internal/clock.h"
#include "pyconc/base.h"

double pc_now(void) {
    return (double)pc__mono_ns() / 1e9;
}

int pc_sleep(double seconds) {
    if (isnan(seconds))
        return -EINVAL;
    if (seconds < 0)
        return 0;
    pc_gil *gil = pc__blocking_begin(); /* an attached thread sleeps without its GIL */
    if (seconds == 0) {
        sched_yield();
        pc__blocking_end(gil);
        return 0;
    }
    int64_t deadline;
    pc__deadline(seconds, &deadline);
    struct timespec ts = pc__ns_to_timespec(deadline);
    /* An absolute deadline: a signal handler's interruption never
     * stretches the sleep. */
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
    pc__blocking_end(gil);
    return 0;
}
