"""Peer (orientation): Python's cooperative yield, run by Debian's
/usr/bin/python3, beside pyconc's yield ring (bench/coro/coro-yield.c).

  --impl gevent|asyncio   gevent.sleep(0) in greenlets (python3-gevent),
                          or `await asyncio.sleep(0)` in tasks
  --coros N               how many yield in turn (default 100)
  --switches S            yields in one pass, all coroutines together
                          (default 300000)

Each of the N coroutines loops on its sleep(0) until the pass's budget of
S yields is spent; the clock (time.monotonic_ns) runs from spawning the N
to joining the last (gevent.joinall / asyncio.gather), as in the C
program.  A warm-up pass of S/10 yields runs first, then $BENCH_PASSES
(default 3) measured passes; the figures are the median pass's, printed
as "metric value unit" lines.
"""
import os
import statistics
import sys
import time


def parse(argv):
    opts = {"impl": "gevent", "coros": "100", "switches": "300000"}
    if len(argv) % 2:
        sys.exit("usage: pyyield.py [--key value]...")
    for key, val in zip(argv[0::2], argv[1::2]):
        if not key.startswith("--") or key[2:] not in opts:
            sys.exit(f"pyyield.py: unknown option {key}")
        opts[key[2:]] = val
    return opts


def gevent_pass(ncoros, switches):
    import gevent
    left = [switches]
    made = [0]

    def body():
        sleep = gevent.sleep
        while left[0] > 0:
            left[0] -= 1
            sleep(0)
            made[0] += 1

    t0 = time.monotonic_ns()
    gevent.joinall([gevent.spawn(body) for _ in range(ncoros)])
    ns = time.monotonic_ns() - t0
    return ns, made[0]


def asyncio_pass(ncoros, switches):
    import asyncio
    left = [switches]
    made = [0]

    async def body():
        sleep = asyncio.sleep
        while left[0] > 0:
            left[0] -= 1
            await sleep(0)
            made[0] += 1

    async def main():
        t0 = time.monotonic_ns()
        await asyncio.gather(*[body() for _ in range(ncoros)])
        return time.monotonic_ns() - t0

    return asyncio.run(main()), made[0]


def main():
    opts = parse(sys.argv[1:])
    ncoros, switches = int(opts["coros"]), int(opts["switches"])
    one_pass = {"gevent": gevent_pass, "asyncio": asyncio_pass}.get(opts["impl"])
    if not one_pass or ncoros < 1 or switches < 10:
        sys.exit("pyyield.py: --impl gevent|asyncio, --coros >= 1, --switches >= 10")
    one_pass(ncoros, switches // 10)
    per = []
    for i in range(int(os.environ.get("BENCH_PASSES", "3"))):
        ns, made = one_pass(ncoros, switches)
        if made != switches:
            sys.exit(f"pyyield.py: {made} yields made, not {switches}")
        per.append(ns / made)
        print(f"# pass {i}: {ns / made:.1f} ns/switch")
    med = statistics.median(per)
    print(f"switches {switches} switches")
    print(f"ns_per_switch {med:.6g} ns/switch")
    print(f"switches_per_s {1e9 / med:.6g} switches/s")


if __name__ == "__main__":
    main()
