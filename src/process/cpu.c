/*
 * pc_cpu_count: the CPUs this process may use.
 *
 * The affinity mask (sched_getaffinity, grown until it fits the kernel's
 * CPU count), capped by the cgroup v2 CPU quota: cpu.max holds "QUOTA
 * PERIOD" or "max PERIOD", and QUOTA/PERIOD CPUs' worth of time is what
 * the cgroup gets, rounded up.  Every cgroup from the process's own up to
 * the root may set one; the smallest wins.  cgroup v1 is not read (its
 * files differ; systems that still mount it are going away).
 */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../internal/alloc.h"
#include "process-internal.h"

/* The CPUs that cpu.max's text allows, or 0 for no limit (or bad text). */
int pc__cpu_quota_parse(const char *text) {
    char quota[32];
    unsigned long long period;
    if (sscanf(text, "%31s %llu", quota, &period) != 2 || period == 0)
        return 0;
    if (strcmp(quota, "max") == 0)
        return 0;
    char *end;
    unsigned long long q = strtoull(quota, &end, 10);
    if (*end || q == 0)
        return 0;
    unsigned long long cpus = (q + period - 1) / period;
    return cpus > INT_MAX ? INT_MAX : (int)cpus;
}

static int affinity_count(void) {
    for (int n = 1024; n <= 1 << 20; n *= 2) {
        cpu_set_t *set = CPU_ALLOC((size_t)n);
        if (!set)
            return 1;
        size_t size = CPU_ALLOC_SIZE((size_t)n);
        if (sched_getaffinity(0, size, set) == 0) {
            int c = CPU_COUNT_S(size, set);
            CPU_FREE(set);
            return c > 0 ? c : 1;
        }
        CPU_FREE(set);
        if (errno != EINVAL)
            return 1;
    }
    return 1;
}

static int quota_of(const char *dir) {
    char path[PATH_MAX], text[128];
    snprintf(path, sizeof path, "/sys/fs/cgroup%s/cpu.max", dir);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    int q = fgets(text, sizeof text, f) ? pc__cpu_quota_parse(text) : 0;
    fclose(f);
    return q;
}

static int cgroup_limit(void) {
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f)
        return 0;
    char line[PATH_MAX];
    char dir[PATH_MAX] = "";
    bool found = false;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "0::", 3) == 0) {
            snprintf(dir, sizeof dir, "%s", line + 3);
            dir[strcspn(dir, "\n")] = '\0';
            found = true;
            break;
        }
    }
    fclose(f);
    if (!found)
        return 0;
    int best = 0;
    for (;;) {
        int q = quota_of(strcmp(dir, "/") == 0 ? "" : dir);
        if (q > 0 && (best == 0 || q < best))
            best = q;
        char *slash = strrchr(dir, '/');
        if (!slash || slash == dir)
            break;
        *slash = '\0';
    }
    return best;
}

int pc_cpu_count(void) {
    int n = affinity_count();
    int q = cgroup_limit();
    if (q > 0 && q < n)
        n = q;
    return n;
}
