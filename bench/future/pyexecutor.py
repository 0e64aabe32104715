"""Peer: asyncio's loop.run_in_executor round trip, run by Debian's
/usr/bin/python3, beside pyconc's (bench/future/executor-pc.c).

  --trips N   round trips in one pass (default 20000)

One task awaits `loop.run_in_executor(None, f)` N times in a row, f
returning at once, on the default ThreadPoolExecutor.  A warm-up pass of
N/10 runs first, then $BENCH_PASSES (default 3) measured passes; the
figure is the median pass's ns_per_roundtrip.
"""
import asyncio
import os
import statistics
import sys
import time


def parse(argv):
    opts = {"trips": "20000"}
    if len(argv) % 2:
        sys.exit("usage: pyexecutor.py [--key value]...")
    for key, val in zip(argv[0::2], argv[1::2]):
        if not key.startswith("--") or key[2:] not in opts:
            sys.exit(f"pyexecutor.py: unknown option {key}")
        opts[key[2:]] = val
    return opts


def task():
    return 1


async def trips(n):
    loop = asyncio.get_running_loop()
    t0 = time.monotonic_ns()
    for _ in range(n):
        await loop.run_in_executor(None, task)
    return time.monotonic_ns() - t0


def main():
    opts = parse(sys.argv[1:])
    n = int(opts["trips"])
    passes = int(os.environ.get("BENCH_PASSES", "3"))

    async def run():
        await trips(max(1, n // 10))
        out = []
        for _ in range(passes):
            ns = await trips(n)
            print(f"# pass {ns / n:.1f} ns_per_roundtrip", flush=True)
            out.append(ns / n)
        return out

    per = statistics.median(asyncio.run(run()))
    print(f"ns_per_roundtrip {per:.1f} ns")


if __name__ == "__main__":
    main()
