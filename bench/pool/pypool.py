"""Peer: Python's multiprocessing.Pool, the scenarios of
bench/pool/proc-pool-pc.c, run by Debian's /usr/bin/python3.

  --mode map      Pool(--workers).map of --items trivial tasks (x + 1) with
                  --chunksize (0: Python's default); prints tasks_per_s
  --mode startup  Pool(--workers) + apply + close + join, --ops times;
                  prints ns_per_op
  --method M      start method (default fork)

A warm-up, then $BENCH_PASSES (default 3) passes; prints the median.
"""
import multiprocessing as mp
import os
import statistics
import sys
import time


def add_one(x):
    return x + 1


def map_pass(pool, xs, chunksize):
    t0 = time.monotonic_ns()
    if chunksize:
        out = pool.map(add_one, xs, chunksize)
    else:
        out = pool.map(add_one, xs)
    if out[-1] != xs[-1] + 1:
        sys.exit("pypool.py: wrong result")
    return (time.monotonic_ns() - t0) * 1e-9


def startup_pass(ctx, workers, ops):
    t0 = time.monotonic_ns()
    for _ in range(ops):
        pool = ctx.Pool(workers)
        if pool.apply(add_one, (1,)) != 2:
            sys.exit("pypool.py: wrong result")
        pool.close()
        pool.join()
    return (time.monotonic_ns() - t0) * 1e-9 / ops


def main(argv):
    opts = {"mode": "map", "workers": "2", "items": "100000", "chunksize": "1",
            "method": "fork", "ops": "10"}
    if len(argv) % 2:
        sys.exit("usage: pypool.py [--key value]...")
    for key, val in zip(argv[0::2], argv[1::2]):
        if not key.startswith("--") or key[2:] not in opts:
            sys.exit(f"pypool.py: unknown option {key}")
        opts[key[2:]] = val
    workers, items = int(opts["workers"]), int(opts["items"])
    chunksize, ops = int(opts["chunksize"]), int(opts["ops"])
    passes = max(1, min(99, int(os.environ.get("BENCH_PASSES", "3"))))
    ctx = mp.get_context(opts["method"])
    secs = []
    if opts["mode"] == "startup":
        startup_pass(ctx, workers, 1)
        for i in range(passes):
            secs.append(startup_pass(ctx, workers, ops))
            print(f"# pass {i + 1}: {secs[-1] * 1e9:.4g} ns/op")
        print(f"ns_per_op {statistics.median(secs) * 1e9:.6g} ns")
        return
    if opts["mode"] != "map":
        sys.exit("pypool.py: --mode map or startup")
    xs = list(range(items))
    with ctx.Pool(workers) as pool:
        map_pass(pool, xs[: max(1, items // 10)], chunksize)
        for i in range(passes):
            secs.append(map_pass(pool, xs, chunksize))
            print(f"# pass {i + 1}: {items / secs[-1]:.4g} tasks/s")
    print(f"tasks_per_s {items / statistics.median(secs):.6g} tasks/s")


if __name__ == "__main__":
    main(sys.argv[1:])
