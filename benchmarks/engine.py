"""Engine benchmarks, printed as ratios against plain-shell baselines on this machine.

Run with `make bench` (or `.venv/bin/python benchmarks/engine.py [NAME ...]`). Each
benchmark prints one line; none of them is a test, so none fails.
"""

from __future__ import annotations

import compileall
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

PY = sys.executable
GATOR = [PY, "-m", "gator_nb"]
WORK = Path(tempfile.mkdtemp(prefix="gator-bench-"))

GENERATOR = """
import sys
out = sys.stdout
for i in range(1_000_000):
    if i % 50 == 0:
        out.write(f"UVM_WARNING tb.sv(12) @ {i}: uvm_test_top.env [CHK] slow response {i:08x}\\n")
    else:
        out.write(f"UVM_INFO tb.sv(40) @ {i}: uvm_test_top.env.agent [DRV] sent addr=0x{i:08x}\\n")
"""


def _wall(command: list[str] | str, **kwargs: object) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=False, stdout=subprocess.DEVNULL, **kwargs)  # type: ignore[call-overload]
    return time.perf_counter() - start


def _spec(name: str, text: str) -> Path:
    path = WORK / name
    path.write_text(textwrap.dedent(text))
    return path


def trivial_jobs() -> None:
    """1,000 `true` jobs at --parallel 2 against `seq 1000 | xargs -P2 -n1 true`.

    Interleaved, best of 5 each: xargs, gator (jobs started by its launcher process) and
    gator with GATOR_LAUNCHER=0 (started by the engine), so load from other work on the
    machine falls on all three alike.
    """
    spec = _spec(
        "trivial.yaml",
        """
        !JobArray
          id: t
          repeats: 1000
          jobs: [!Job {id: j, command: "true"}]
    """,
    )
    one = _spec("one.yaml", '!Job {id: j, command: "true"}\n')
    runs = ["run", "-q", "--parallel", "2", "--runs-dir", str(WORK / "runs")]
    direct = {**os.environ, "GATOR_LAUNCHER": "0"}
    times: dict[str, list[float]] = {"xargs": [], "gator": [], "direct": [], "startup": []}
    for _ in range(5):
        times["xargs"].append(_wall("seq 1000 | xargs -P2 -n1 true", shell=True))
        times["gator"].append(_wall([*GATOR, *runs, str(spec)]))
        times["direct"].append(_wall([*GATOR, *runs, str(spec)], env=direct))
        times["startup"].append(_wall([*GATOR, *runs, str(one)]))
    base, ours, engine, startup = (min(times[k]) for k in ("xargs", "gator", "direct", "startup"))
    print(
        f"trivial jobs: gator {ours:.2f}s, xargs {base:.2f}s, ratio {ours / base:.2f}"
        f" (goal <= 1.5); without the launcher {engine:.2f}s, ratio {engine / base:.2f};"
        f" gator's start-up (a 1-job run) {startup:.2f}s,"
        f" per job {1000 * (ours - startup) / 1000:.2f} ms vs xargs {base:.2f} ms"
    )


def log_lines() -> None:
    """One job printing 1,000,000 log lines against piping it into a line counter."""
    gen = WORK / "gen.py"
    gen.write_text(GENERATOR)
    counter = f"{PY} -c 'import sys; print(sum(1 for _ in sys.stdin.buffer))'"
    base = min(_wall(f"{PY} {gen} | {counter}", shell=True) for _ in range(3))
    spec = _spec("lines.yaml", f"!Job {{id: gen, command: {PY}, args: [{gen}]}}\n")
    runs = WORK / "line-runs"
    ours = min(_wall([*GATOR, "run", str(spec), "-q", "--runs-dir", str(runs)]) for _ in range(3))
    import gator_nb as gn

    run = gn.load("latest", runs_dir=runs)
    with run._reader() as reader:
        count = sum(1 for _ in reader.messages())
        warnings = sum(1 for _ in reader.messages(min_severity=gn_severity("WARNING")))
    print(
        f"log lines: gator {ours:.2f}s, pipe to counter {base:.2f}s, ratio {ours / base:.2f} "
        f"(goal <= 1.5); {count:,} lines retrievable, {warnings:,} warnings"
    )


def gn_severity(name: str) -> object:
    from gator_nb.events import Severity

    return Severity[name]


def idle_cpu() -> None:
    """The engine's own CPU while 16 `sleep 30` jobs run."""
    import gator_nb as gn

    spec = _spec(
        "sleep.yaml",
        """
        !JobArray
          id: s
          repeats: 16
          jobs: [!Job {id: j, command: sleep, args: [30]}]
    """,
    )
    cpu0, wall0 = time.process_time(), time.perf_counter()
    gn.run(str(spec), parallel=16, runs_dir=WORK / "sleep-runs")
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    print(
        f"idle engine: {cpu:.2f}s CPU over {wall:.1f}s wall with 16 jobs = "
        f"{100 * cpu / wall:.2f}% of one core (goal < 2%)"
    )


def big_plan_rss() -> None:
    """Engine peak RSS running a 10,000-job plan (measured in a fresh process)."""
    spec = _spec(
        "big.yaml",
        """
        !JobGroup
          id: top
          jobs:
          - !JobArray
              id: a
              repeats: 100
              jobs:
              - !JobArray
                  id: b
                  repeats: 100
                  jobs: [!Job {id: j, command: "true"}]
    """,
    )
    code = (
        "import resource, sys, time, gator_nb as gn\n"
        "t = time.perf_counter()\n"
        f"r = gn.run({str(spec)!r}, parallel=2, runs_dir={str(WORK / 'big-runs')!r})\n"
        "print(r.status, time.perf_counter() - t, "
        "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)\n"
    )
    out = subprocess.run([PY, "-c", code], capture_output=True, text=True, check=True).stdout
    status, seconds, rss = out.split()
    print(
        f"10,000-job plan: {status} in {float(seconds):.1f}s "
        f"({10000 / float(seconds):.0f} jobs/s), engine peak RSS "
        f"{int(rss) / 2**20:.0f} MiB (goal < 300 MiB)"
    )


BENCHMARKS = {"trivial": trivial_jobs, "lines": log_lines, "idle": idle_cpu, "rss": big_plan_rss}

if __name__ == "__main__":
    os.environ.setdefault("GATOR_RUNS_DIR", str(WORK / "runs"))
    # Bytecode as an installed package has it: with PYTHONDONTWRITEBYTECODE set (as on
    # this VM) an editable install would otherwise recompile gator_nb on every start.
    compileall.compile_dir(Path(__file__).resolve().parent.parent / "gator_nb", quiet=1)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, scratch {WORK}")
    for name in sys.argv[1:] or BENCHMARKS:
        BENCHMARKS[name]()
    del resource
