"""The size and speed figures of issue 13 (hardening), reproduced at a scale this machine
can run in a few minutes. Each measurement runs in its own process (peak RSS is that
process's ``ru_maxrss``), bounded by a timeout and an address-space limit, so that the
code from before the fixes can be measured too: ``PYTHONPATH=/path/to/old/checkout``.

    .venv/bin/python benchmarks/bench_hardening.py [all|messages|stderr|bucket|bombs|files|interval]

Figures printed, not asserted (tests check behaviour; this checks size and speed).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

PY = sys.executable
LINES = int(os.environ.get("BENCH_LINES", "2000000"))  # issue: 20,000,000 (9.9 GB, 56.6 s)
STDERR_LINES = int(os.environ.get("BENCH_STDERR_LINES", "1000000"))  # issue: 5,000,000
GIB = 1 << 30


def child(code: str, *, timeout_s: float = 120, limit: int = 8 * GIB) -> tuple[str, float, int]:
    """Run ``code`` in a fresh Python; (its stdout or what stopped it, seconds, peak KiB)."""
    wrapper = textwrap.dedent(f"""
        import resource, subprocess, sys
        def limit():
            resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
        try:
            done = subprocess.run([sys.executable, "-c", {code!r}], capture_output=True,
                                  text=True, timeout={timeout_s}, preexec_fn=limit)
            said = done.stdout.strip().splitlines() or done.stderr.strip().splitlines()
            out = said[-1] if said else ""
            out = out if done.returncode == 0 else f"exit {{done.returncode}}: {{out}}"
        except subprocess.TimeoutExpired:
            out = "did not finish in {timeout_s:g} s (stopped)"
        print(out)
        print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    """)
    began = time.perf_counter()
    # Not from the checkout's directory: `python -c` puts the cwd first on sys.path, and
    # PYTHONPATH must decide which gator_nb is measured.
    done = subprocess.run(
        [PY, "-c", wrapper], capture_output=True, text=True, check=True, cwd=tempfile.gettempdir()
    )
    took = time.perf_counter() - began
    out, peak = done.stdout.strip().rsplit("\n", 1)
    return out, took, int(peak)


def show(label: str, result: tuple[str, float, int]) -> None:
    out, took, peak = result
    print(f"{label:<58} {took:7.2f} s  peak {peak / 1024:7.0f} MiB  {out[:100]}")


def gator_run(spec: Path, runs: Path, *extra: str) -> tuple[str, float, int]:
    code = (
        "import sys; from gator_nb.cli import main; "
        f"sys.exit(main(['run', {str(spec)!r}, '-q', '--runs-dir', {str(runs)!r}, *{extra!r}]))"
    )
    return child(code, timeout_s=600)


def write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def messages(tmp: Path) -> None:
    gen = f"import sys\nw = sys.stdout.write\nfor i in range({LINES}): w(f'line {{i}} of a job\\n')"
    spec = write(tmp, "lines.yaml", f"!Job {{id: big, command: {PY}, args: [-c, {gen!r}]}}")
    runs = tmp / "runs-lines"
    show(f"gator run: one job printing {LINES:,} lines", gator_run(spec, runs))
    run_dir = next(runs.iterdir())
    logs = sum(p.stat().st_size for p in (run_dir / "logs").iterdir())
    print(f"  log on disk {logs / 2**20:.0f} MiB")
    code = f"import gator_nb as gn; m = gn.load({str(run_dir)!r}).messages; print(len(m), 'rows')"
    show("run.messages (all lines)", child(code, timeout_s=600))


def stderr(tmp: Path) -> None:
    gen = f"import sys\nw = sys.stderr.write\nfor i in range({STDERR_LINES}): w(f'noise {{i}}\\n')"
    spec = write(tmp, "stderr.yaml", f"!Job {{id: err, command: {PY}, args: [-c, {gen!r}]}}")
    runs = tmp / "runs-stderr"
    show(f"gator run: {STDERR_LINES:,} stderr lines (peak = engine)", gator_run(spec, runs))
    store = next(runs.iterdir()) / "run.sqlite"
    print(f"  run.sqlite {store.stat().st_size / 2**20:.1f} MiB")


def bucket(tmp: Path) -> None:
    code = "print('ERROR: ' + 'x' * 150000)"
    spec = write(tmp, "wide.yaml", f"!Job {{id: wide, command: {PY}, args: [-c, {code!r}]}}")
    runs = tmp / "runs-wide"
    gator_run(spec, runs)
    run_dir = next(runs.iterdir())
    load = f"import gator_nb as gn; run = gn.load({str(run_dir)!r}); "
    show("failures() of one 150,000-char ERROR line", child(load + "run.failures(); print('ok')"))
    report = f"run.report({str(tmp / 'r.html')!r}); print('ok')"
    show("report html of the same run", child(load + report, timeout_s=300))
    shown = subprocess.run(
        [PY, "-m", "gator_nb", "show", str(run_dir), "wide"],
        capture_output=True,
        check=False,
        cwd=tempfile.gettempdir(),
    )
    print(f"  gator show RUN JOB printed {len(shown.stdout):,} bytes")


def bombs(tmp: Path) -> None:
    lines = ["!JobGroup", "  id: top", "  jobs:", "  - &x0 !Job {id: j, command: 'true'}"]
    for i in range(1, 8):
        refs = ", ".join([f"*x{i - 1}"] * 10)
        lines.append(f"  - &x{i} !JobGroup {{id: g{i}, jobs: [{refs}]}}")
    bomb = write(tmp, "bomb.yaml", "\n".join(lines) + "\n")
    deep = write(
        tmp,
        "deep.yaml",
        "!JobGroup {id: g, jobs: [" * 300 + "!Job {id: j, command: x}" + "]}" * 300,
    )
    specs = {
        "alias bomb, 11 lines -> 10^7 jobs": bomb,
        "repeats: 100000000": write(
            tmp,
            "rep.yaml",
            "!JobArray {id: a, repeats: 100000000, jobs: [!Job {id: j, command: x}]}",
        ),
        "repeats: 100000000 with empty jobs": write(
            tmp, "empty.yaml", "!JobArray {id: a, repeats: 100000000, jobs: []}"
        ),
        "300 nested groups": deep,
        "self alias": write(tmp, "self.yaml", "!JobGroup &r {id: top, jobs: [*r]}"),
    }
    for label, path in specs.items():
        code = (
            "from gator_nb.spec import load_spec, plan\nfrom gator_nb.errors import SpecError\n"
            f"try:\n    p = plan(load_spec({str(path)!r}))\n"
            "    print(len(p.jobs), 'jobs planned')\n"
            "except SpecError as e:\n    print('refused:', str(e.problems[0])[:80])"
        )
        show(f"gator check: {label}", child(code, timeout_s=60, limit=4 * GIB))


def files(tmp: Path) -> None:
    fifo = tmp / "fifo.yaml"
    os.mkfifo(fifo)
    for label, path in (("a FIFO as spec", fifo), ("/dev/zero as spec", Path("/dev/zero"))):
        code = (
            "from gator_nb.spec import load_spec\nfrom gator_nb.errors import SpecError\n"
            f"try:\n    load_spec({str(path)!r})\nexcept SpecError as e:\n"
            "    print('refused:', str(e.problems[0])[:80])"
        )
        show(label, child(code, timeout_s=10, limit=2 * GIB))


def interval(tmp: Path) -> None:
    spec = write(
        tmp,
        "two.yaml",
        f"""
        !JobGroup
          id: t
          jobs:
          - !Job {{id: a, command: {PY}, args: [-c, "import time; time.sleep(3)"]}}
          - !Job {{id: b, command: {PY}, args: [-c, "import time; time.sleep(3)"]}}
        """,
    )
    runs = tmp / "runs-interval"
    show("two 3 s jobs, --sample-interval 1e-9", gator_run(spec, runs, "--sample-interval", "1e-9"))
    if runs.exists():
        import sqlite3

        with sqlite3.connect(next(runs.iterdir()) / "run.sqlite") as db:
            print(f"  {db.execute('SELECT count(*) FROM samples').fetchone()[0]:,} sample rows")


def main() -> None:
    which = sys.argv[1] if len(sys.argv) > 1 else "all"
    steps = {"messages": messages, "stderr": stderr, "bucket": bucket, "bombs": bombs,
             "files": files, "interval": interval}  # fmt: skip
    print(f"gator_nb from {__import__('gator_nb').__file__}")
    print(f"machine: {os.cpu_count()} cores; {resource.getpagesize()} B pages")
    for name, step in steps.items():
        if which in ("all", name):
            with tempfile.TemporaryDirectory(prefix=f"gator-bench-{name}-") as tmp:
                step(Path(tmp))


if __name__ == "__main__":
    main()
