"""Peer: Python's multiprocessing.Value('l') incremented under its lock,
`with v.get_lock(): v.value += 1`, by two processes at once (fork
context), --ops N each, run by Debian's /usr/bin/python3.  The clock runs
from an Event that releases both (after they started) to the join of
both.  A warm-up pass of N/10, then $BENCH_PASSES (default 3) measured
passes; the figure is the median pass's ops_per_s (both processes' ops).
"""
import multiprocessing as mp
import os
import statistics
import sys
import time


def parse(argv):
    opts = {"ops": "200000"}
    if len(argv) % 2:
        sys.exit("usage: pyvalue.py [--ops N]")
    for key, val in zip(argv[0::2], argv[1::2]):
        if not key.startswith("--") or key[2:] not in opts:
            sys.exit(f"pyvalue.py: unknown option {key}")
        opts[key[2:]] = val
    return int(opts["ops"])


def job(v, go, ready, ops):
    lock = v.get_lock()
    ready.release()
    go.wait()
    for _ in range(ops):
        with lock:
            v.value += 1


def one_pass(ctx, ops):
    v = ctx.Value("l", 0)
    go = ctx.Event()
    ready = ctx.Semaphore(0)
    ps = [ctx.Process(target=job, args=(v, go, ready, ops)) for _ in range(2)]
    for p in ps:
        p.start()
    for p in ps:
        ready.acquire()
    t0 = time.monotonic_ns()
    go.set()
    for p in ps:
        p.join()
    s = (time.monotonic_ns() - t0) * 1e-9
    if v.value != 2 * ops:
        sys.exit(f"pyvalue.py: {v.value} of {2 * ops}")
    return 2 * ops / s


def main():
    ops = parse(sys.argv[1:])
    ctx = mp.get_context("fork")
    one_pass(ctx, max(1, ops // 10))
    passes = int(os.environ.get("BENCH_PASSES", "3"))
    rates = [one_pass(ctx, ops) for _ in range(passes)]
    print(f"ops {2 * ops} ops")
    print(f"ops_per_s {statistics.median(rates):.1f} ops/s")


if __name__ == "__main__":
    main()
