"""Wall time and peak memory of `manage.py compute_endpoints` on synthetic trials.

Each run is a fresh process (as in production), measured with os.wait4, whose
rusage is that child's own: ru_maxrss is its peak resident set size.

    .venv/bin/python bench/analysis/run_compute_endpoints.py --scales 1 5 10 --repeat 3

Data sets are generated once into --data (default /tmp/eprp-bench-analysis).
A floor (`manage.py check`, i.e. Python, Django and the imports) is measured in
the same run, since the machines are shared and noisy; medians are reported.
`--compare DIR` also runs another checkout's compute_endpoints (e.g. `git archive main`
unpacked in DIR) on the same data, interleaved with this one's, for a same-run ratio.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_trial import write_trial  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TRIAL_SIZE = 1249  # TRuE-AD1 + TRuE-AD2 pooled


def measure(command: list[str], cwd=ROOT) -> tuple[float, float]:
    """(wall seconds, peak RSS in MiB) of one child process; fails loudly if it fails."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{process.stderr.read().decode()}")
    return wall, usage.ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 5, 10])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data", default="/tmp/eprp-bench-analysis")
    parser.add_argument("--compare", type=Path, help="another checkout to time on the same data, interleaved")
    args = parser.parse_args()

    python = sys.executable
    floor = [measure([python, "manage.py", "check"]) for _ in range(args.repeat)]
    print(f"floor (manage.py check): {statistics.median(w for w, _ in floor):.2f} s, "
          f"{statistics.median(m for _, m in floor):.0f} MiB")  # fmt: skip
    checkouts = {"this": ROOT, **({"compare": args.compare} if args.compare else {})}
    print("| code | participants | diary rows | wall s (median) | wall / floor | peak RSS MiB (median) |")
    print("|---|---:|---:|---:|---:|---:|")
    for scale in args.scales:
        n = TRIAL_SIZE * scale
        inputs = Path(args.data) / f"x{scale}"
        if not (inputs / "diary.csv").exists():
            write_trial(inputs, n)
        with open(inputs / "diary.csv", "rb") as diary:
            rows = sum(1 for _ in diary) - 1
        runs = {name: [] for name in checkouts}
        for _ in range(args.repeat):
            for name, checkout in checkouts.items():  # interleaved: both see the same load
                output = Path(args.data) / f"out-{name}-x{scale}"
                runs[name].append(measure([python, str(Path(checkout) / "manage.py"), "compute_endpoints",
                                           "--input", str(inputs), "--output", str(output)], cwd=checkout))
        floor_wall = statistics.median(w for w, _ in floor)
        for name, measured in runs.items():
            wall = statistics.median(w for w, _ in measured)
            peak = statistics.median(m for _, m in measured)
            print(f"| {name} | {n:,} | {rows:,} | {wall:.1f} | {wall / floor_wall:.1f} | {peak:,.0f} |", flush=True)

if __name__ == "__main__":
    main()
