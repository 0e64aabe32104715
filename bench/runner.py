"""Run the benchmarks of bench/spec.tsv beside their peers and report.

Called by bench/run.sh after it built the programs (see docs/bench.md):

    runner.py --build BUILD_DIR [--runs N] [--out DIR] [--filter REGEX]

Every distinct command of the spec runs --runs times.  The runs are
interleaved: each round runs every command once, in an order shuffled per
round (a fixed seed, so a rerun shuffles alike), so a slow drift of the
machine (another job, thermal state) hits pyconc and its peers alike.  A
command's figure is the median of its runs.  A row's ratio is always
pyconc's figure divided by the peer's; whether the target is a ceiling or
a floor follows from the row's `better` column.

Writes, under --out: table.md (also printed), ratios.png (via gnuplot and
bench/ratios.gp), raw.tsv (every run's every figure).  Exit status 0 when
every row ran, 3 when some could not (their cells say why), 2 on a bad spec.
"""
import argparse
import math
import os
import platform
import random
import re
import shlex
import statistics
import subprocess
import sys
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
# Debian's interpreter, never the first python3 on PATH (a pyenv or venv
# one would measure a different Python).
PYTHON = "/usr/bin/python3"
FIELDS = ["benchmark", "pyconc", "peer_name", "peer", "metric", "better", "target"]


class Row:
    def __init__(self, lineno, cols):
        for name, val in zip(FIELDS, cols):
            setattr(self, name, val.strip())
        self.lineno = lineno
        if self.better not in ("lower", "higher"):
            raise ValueError(f"better must be lower or higher, not {self.better!r}")
        self.goal = None if self.target == "-" else float(self.target)


def read_spec(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            cols = re.split(r"\t+", line.strip("\t"))
            if len(cols) != len(FIELDS):
                raise ValueError(f"{path}:{lineno}: {len(cols)} tab-separated fields, "
                                 f"want {len(FIELDS)} ({', '.join(FIELDS)})")
            try:
                rows.append(Row(lineno, cols))
            except ValueError as e:
                raise ValueError(f"{path}:{lineno}: {e}") from None
    return rows


class Command:
    """One distinct command line of the spec and what its runs gave."""

    def __init__(self, text, build, failed_targets):
        self.text = text
        self.runs = []      # one {metric: (value, unit)} per successful run
        self.error = None   # why it cannot run / stopped running
        # a script that runs built programs (http/httpbench.py) finds them here
        self.env = dict(os.environ, PC_BENCH_BUILD=os.path.abspath(build))
        words = shlex.split(text)
        if words[0].endswith(".py"):
            self.argv = [PYTHON, "-I", os.path.join(BENCH_DIR, words[0])] + words[1:]
            if not os.path.exists(PYTHON):
                self.error = f"{PYTHON} missing"
        else:
            self.argv = [os.path.join(build, "bench", words[0])] + words[1:]
            target = "bench-" + words[0]
            if target in failed_targets or not os.access(self.argv[0], os.X_OK):
                self.error = "not built: " + build_failure(build, target)

    def run_once(self, timeout):
        try:
            p = subprocess.run(self.argv, capture_output=True, text=True, timeout=timeout,
                               env=self.env)
        except subprocess.TimeoutExpired:
            self.error = f"timed out after {timeout:g} s"
            return
        if p.returncode != 0:
            last = (p.stderr.strip().splitlines() or ["no message"])[-1]
            self.error = f"failed (exit {p.returncode}): {last}"
            return
        figures = {}
        for line in p.stdout.splitlines():
            parts = line.split()
            if len(parts) == 3 and not line.startswith("#"):
                try:
                    figures[parts[0]] = (float(parts[1]), parts[2])
                except ValueError:
                    pass
        self.runs.append(figures)

    def median(self, metric):
        vals = [r[metric][0] for r in self.runs if metric in r]
        if not vals or self.error:  # a run that failed makes the others suspect
            return None, None
        unit = next(r[metric][1] for r in self.runs if metric in r)
        return statistics.median(vals), unit

    def values(self, metric):
        return [r[metric][0] for r in self.runs if metric in r]


def build_failure(build, target):
    """The first telling line of a failed build's log."""
    log = os.path.join(build, "bench", "logs", target + ".log")
    try:
        with open(log, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return "no program (see bench/run.sh output)"
    undef = sorted(set(re.findall(r"undefined reference to `([^']+)'", text)))
    if undef:
        more = f" and {len(undef) - 3} more" if len(undef) > 3 else ""
        return "undefined " + ", ".join(undef[:3]) + more
    err = re.search(r"error: (.*)", text)
    return err.group(1).strip() if err else "build failed, see " + log


def sig3(v):
    """Three significant digits, never in exponent notation."""
    if v == 0 or not math.isfinite(v):
        return f"{v:g}"
    decimals = max(0, 2 - math.floor(math.log10(abs(v))))
    return f"{v:.{decimals}f}"


def human(value, unit):
    """6.68 ns/op, 81.5 us/op, 21.3 M items/s, 0.739 M items/s."""
    if value is None:
        return None
    if unit.startswith("ns/") and value >= 1000:
        return f"{sig3(value / 1000)} us/{unit[3:]}"
    if unit.endswith("/s") and value >= 1e5:
        return f"{sig3(value / 1e6)} M {unit}"
    return f"{sig3(value)} {unit}"


def evaluate(row, cmds):
    pc, pc_unit = cmds[row.pyconc].median(row.metric)
    peer, peer_unit = cmds[row.peer].median(row.metric)
    ratio = pc / peer if pc is not None and peer else None
    if ratio is None:
        met = "n/a"
    elif row.goal is None:
        met = "orientation"
    elif row.better == "lower":
        met = "yes" if ratio <= row.goal else "no"
    else:
        met = "yes" if ratio >= row.goal else "no"

    def cell(cmd, med, unit):
        if med is not None:
            return human(med, unit)
        return cmd.error or f"no figure '{row.metric}'"

    return {
        "pc": cell(cmds[row.pyconc], pc, pc_unit),
        "peer": cell(cmds[row.peer], peer, peer_unit),
        "ratio": ratio,
        "met": met,
    }


def ratio_text(ratio):
    return (f"{ratio:.2f}" if ratio >= 0.1 else sig3(ratio)) + "x"


def target_text(row):
    if row.goal is None:
        return "-"
    return ("<= " if row.better == "lower" else ">= ") + f"{row.goal:g}x"


def machine_note():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            m = re.search(r"^model name\s*:\s*(.*)$", f.read(), re.M)
            cpu = m.group(1) if m else cpu
    except OSError:
        pass
    py = subprocess.run([PYTHON, "-c", "import sys; print(sys.version.split()[0])"],
                        capture_output=True, text=True).stdout.strip()
    glib = subprocess.run(["pkg-config", "--modversion", "glib-2.0"],
                          capture_output=True, text=True).stdout.strip()
    return (f"{os.cpu_count()} CPUs ({cpu}), Linux {platform.release()}, "
            f"{PYTHON} {py or '?'}, GLib {glib or '?'}")


def loadavg():
    try:
        with open("/proc/loadavg", encoding="utf-8") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return float("nan")


def write_table(path, rows, results, runs, cmds, command_line, loads):
    out = []
    out.append("# pyconc benchmarks\n")
    out.append(f"Command: `{command_line}`  ")
    out.append(f"Date: {time.strftime('%Y-%m-%d %H:%M %Z')}; {machine_note()}.  ")
    out.append(f"Load average (1 min) before / after the runs: {loads[0]:.2f} / {loads[1]:.2f} "
               "(figures taken on a busy machine are not comparable with quiet ones).  ")
    out.append(f"Each figure is the median of {runs} runs, interleaved with its peers' runs. "
               "Ratio = pyconc figure / peer figure: for times (ns, us) lower is better and "
               "the target is a ceiling (<=); for rates (items/s) higher is better and the "
               "target is a floor (>=).\n")
    out.append("| Benchmark | pyconc | Peer | Peer figure | Ratio (pyconc/peer) | Target | Met |")
    out.append("|---|---|---|---|---|---|---|")
    for row, r in zip(rows, results):
        ratio = ratio_text(r["ratio"]) if r["ratio"] is not None else "-"
        better = "lower is better" if row.better == "lower" else "higher is better"
        out.append(f"| {row.benchmark} ({better}) | {r['pc']} | {row.peer_name} | {r['peer']} "
                   f"| {ratio} | {target_text(row)} | {r['met']} |")
    out.append("\nSpread of the runs (min / median / max of each command):\n")
    out.append("| Command | Metric | Min | Median | Max | Runs |")
    out.append("|---|---|---|---|---|---|")
    seen = set()
    for row in rows:
        for text in (row.pyconc, row.peer):
            if (text, row.metric) in seen:
                continue
            seen.add((text, row.metric))
            vals = cmds[text].values(row.metric)
            if not vals:
                continue
            med, unit = cmds[text].median(row.metric)
            out.append(f"| `{text}` | {row.metric} | {human(min(vals), unit)} | "
                       f"{human(med, unit)} | {human(max(vals), unit)} | {len(vals)} |")
    text = "\n".join(out) + "\n"
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return text


def write_raw(path, cmds):
    with open(path, "w", encoding="utf-8") as f:
        f.write("command\trun\tmetric\tvalue\tunit\n")
        for cmd in cmds.values():
            for i, figures in enumerate(cmd.runs, 1):
                for metric, (value, unit) in figures.items():
                    f.write(f"{cmd.text}\t{i}\t{metric}\t{value:.6g}\t{unit}\n")


def plot(out_dir, rows, results, runs):
    """ratios.png through gnuplot; returns an error text or None."""
    data = os.path.join(out_dir, "ratios.dat.tmp")
    n = 0
    with open(data, "w", encoding="utf-8") as f:
        for row, r in zip(rows, results):
            n += 1
            color = {"yes": "0x2e8b57", "no": "0xcc3333"}.get(r["met"], "0x999999")
            want = "orientation" if row.goal is None else target_text(row)
            label = f"{row.benchmark}\\nvs {row.peer_name} ({want})".replace('"', "'")
            ran = r["ratio"] is not None
            ratio = f'{r["ratio"]:.6g}' if ran else "1"
            goal = row.goal if row.goal is not None else "NaN"
            f.write(f'{n} {ratio} {goal} {color} "{label}" {int(ran)}\n')
    png = os.path.join(out_dir, "ratios.png")
    if os.path.exists(png):
        os.remove(png)  # never leave an earlier run's plot beside this table
    if all(r["ratio"] is None for r in results):
        os.remove(data)
        return "no row has a ratio: no plot"
    ys = [r["ratio"] for r in results if r["ratio"] is not None]
    ys += [row.goal for row in rows if row.goal is not None] + [1.0]
    setup = (f"datafile='{data}'; outfile='{png}'; runs={runs}; rows={n}; "
             f"ymin={min(ys) / 3:.6g}; ymax={max(ys) * 3:.6g}")
    p = subprocess.run(["gnuplot", "-e", setup, os.path.join(BENCH_DIR, "ratios.gp")],
                       capture_output=True, text=True)
    if p.returncode != 0:
        return "gnuplot failed: " + p.stderr.strip()
    os.remove(data)
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "5")))
    ap.add_argument("--out", default=os.path.join(BENCH_DIR, "results"))
    ap.add_argument("--spec", default=os.path.join(BENCH_DIR, "spec.tsv"))
    ap.add_argument("--filter", default=os.environ.get("BENCH_FILTER", ""))
    ap.add_argument("--timeout", type=float, default=float(os.environ.get("BENCH_TIMEOUT", "120")))
    ap.add_argument("--command-line", default="make bench")
    a = ap.parse_args()
    if a.runs < 1:
        sys.exit("runner.py: --runs must be at least 1")
    try:
        rows = [r for r in read_spec(a.spec) if re.search(a.filter, r.benchmark)]
    except ValueError as e:
        print(f"runner.py: {e}", file=sys.stderr)
        return 2
    if not rows:
        print("runner.py: no benchmark matches the filter", file=sys.stderr)
        return 2
    failed_file = os.path.join(a.build, "bench", "build-failed.txt")
    failed = set()
    if os.path.exists(failed_file):
        with open(failed_file, encoding="utf-8") as f:
            failed = set(f.read().split())
    cmds = {}
    for row in rows:
        for text in (row.pyconc, row.peer):
            if text not in cmds:
                cmds[text] = Command(text, a.build, failed)

    started = time.monotonic()
    load_before = loadavg()
    if load_before > (os.cpu_count() or 1) / 2:
        print(f"runner.py: warning: load average {load_before:.2f} on {os.cpu_count()} CPUs: "
              "other work will disturb the figures", file=sys.stderr)
    for rnd in range(a.runs):
        order = list(cmds.values())
        random.Random(rnd).shuffle(order)
        for cmd in order:
            if cmd.error:
                continue
            cmd.run_once(a.timeout)
            last = cmd.runs[-1] if cmd.runs and not cmd.error else {}
            shown = "; ".join(f"{k} {human(v, u)}" for k, (v, u) in last.items()
                              if k.endswith(("_per_s", "_per_op", "_per_roundtrip")))
            print(f"[run {rnd + 1}/{a.runs}] {cmd.text}: {cmd.error or shown}",
                  file=sys.stderr, flush=True)
    print(f"[{time.monotonic() - started:.0f} s]", file=sys.stderr)

    os.makedirs(a.out, exist_ok=True)
    results = [evaluate(r, cmds) for r in rows]
    text = write_table(os.path.join(a.out, "table.md"), rows, results, a.runs, cmds,
                       a.command_line, (load_before, loadavg()))
    write_raw(os.path.join(a.out, "raw.tsv"), cmds)
    err = plot(a.out, rows, results, a.runs)
    print(text)
    if err:
        print(f"runner.py: {err}", file=sys.stderr)
    missing = [r for r, res in zip(rows, results) if res["ratio"] is None]
    for r in missing:
        print(f"runner.py: no ratio for '{r.benchmark}' vs {r.peer_name} "
              f"(spec line {r.lineno})", file=sys.stderr)
    print(f"wrote {a.out}/table.md, ratios.png, raw.tsv", file=sys.stderr)
    return 3 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
