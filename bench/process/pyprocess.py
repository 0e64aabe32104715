"""Peer: Python's multiprocessing.Process start+join of a target that
returns at once, under one start method, run by Debian's /usr/bin/python3.

  --method fork|spawn|forkserver   --ops N (per pass, default 50)

One warm-up start (for forkserver: starts the server), then
$BENCH_PASSES (default 3) passes of N start+join; prints the median
pass's "ns_per_op value ns/op".
"""
import multiprocessing as mp
import os
import statistics
import sys
import time


def target():
    pass


def main(argv):
    opts = {"method": "fork", "ops": "50"}
    for key, val in zip(argv[0::2], argv[1::2]):
        if not key.startswith("--") or key[2:] not in opts:
            sys.exit(f"pyprocess.py: unknown option {key}")
        opts[key[2:]] = val
    ctx = mp.get_context(opts["method"])
    n = int(opts["ops"])
    p = ctx.Process(target=target)
    p.start()
    p.join()
    per = []
    for _ in range(int(os.environ.get("BENCH_PASSES", "3"))):
        t0 = time.monotonic_ns()
        for _ in range(n):
            p = ctx.Process(target=target)
            p.start()
            p.join()
        per.append((time.monotonic_ns() - t0) / n)
    print(f"ops {n} ops")
    print(f"ns_per_op {statistics.median(per):.0f} ns/op")


if __name__ == "__main__":
    main(sys.argv[1:])
