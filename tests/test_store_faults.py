"""Runs on disk under stress: long job paths, full disks, unwritable dirs, read-only and
unreadable runs, private files and secrets, a dead engine (issue 13: 2, 8, 9, 11, 12, 17).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

import gator_nb as gn
from gator_nb import frames
from gator_nb.spec.filenames import file_name
from gator_nb.store import StoreReader

PY = sys.executable
ROOT = os.geteuid() == 0


SYSTEM_PY = "/usr/bin/python3"  # another user cannot run a Python that lives under /root
CHECKOUT = Path(gn.__file__).parent.parent
PACKAGES = next(Path(sys.prefix).glob("lib/python3*/site-packages"), Path(sys.prefix))


def _same_python(python: str) -> bool:
    try:
        said = subprocess.run(
            [python, "-c", "import sys; print(sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        return False
    return said == str(sys.version_info[:2])  # the venv's compiled packages must load


def gator(*args: str, runs: Path, user: str | None = None) -> subprocess.CompletedProcess[str]:
    python, env, prefix = PY, {**os.environ, "HOME": "/tmp"}, []
    if user:  # the system's Python, with this checkout and the venv's packages
        python, prefix = SYSTEM_PY, ["setpriv", "--reuid", user, "--regid", user, "--clear-groups"]
        env["PYTHONPATH"] = f"{CHECKOUT}{os.pathsep}{PACKAGES}"
    return subprocess.run(
        [*prefix, python, "-m", "gator_nb", *args, "--runs-dir", str(runs)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=env,
        cwd=tempfile.gettempdir(),  # not a checkout: PYTHONPATH decides which gator_nb runs
    )


def _job(ident: str, code: str) -> str:
    return f"!Job {{id: {ident}, command: {PY}, args: [-c, {code!r}]}}"


def test_long_job_paths_run_and_keep_their_directories(tmp_path: Path, write_spec) -> None:
    ids = [f"g{i}_" + "x" * 43 for i in range(6)]
    code = "import os; open(os.environ['GATOR_JOB_DIR'] + '/f', 'w'); print('deep')"
    inner = _job("deep_job_" + "y" * 40, code)
    for ident in reversed(ids):
        inner = f"!JobGroup {{id: {ident}, jobs: [{inner}]}}"
    spec = write_spec(f"!JobGroup {{id: top, jobs: [{inner}, {_job('sib', 'print(1)')}]}}")
    done = gator("run", str(spec), "-q", runs=tmp_path / "runs")
    assert done.returncode == 0, done.stderr  # before: Errno 36, exit 1, a sibling killed
    run = gn.load("latest", runs_dir=tmp_path / "runs")
    jobs = run.jobs
    assert len(jobs["job"][0]) > 289 and set(jobs["status"]) == {"passed"}
    job_dir = Path(jobs["job_dir"][0])
    assert (job_dir / "f").is_file()
    assert len(job_dir.name) <= 120
    assert Path(jobs["job_dir"][1]).name == "top.sib"  # short paths keep their names
    assert run.log(jobs["job"][1]) == "1"
    assert run.log(jobs["job"][0]) == "deep"  # its log is named like its directory


def test_an_unwritable_job_dir_fails_that_job_not_the_run(tmp_path: Path, write_spec) -> None:
    # Root ignores modes: make jobs/ unusable by replacing it with a file instead.
    breaker = "import os, shutil; d = os.environ['GATOR_RUN_DIR'] + '/jobs';" \
        " shutil.rmtree(d); open(d, 'w')"  # fmt: skip
    spec = write_spec(
        "!JobGroup\n  id: top\n  jobs:\n"
        f"  - {_job('a', breaker)}\n"
        f"  - !Job {{id: b, on_done: [a], command: {PY}, args: [-c, 'print(2)']}}\n"
    )
    done = gator("run", str(spec), runs=tmp_path / "runs")
    assert done.returncode == 1, done.stderr  # before: a traceback and a cancelled run
    assert "Traceback" not in done.stderr + done.stdout
    run = gn.load("latest", runs_dir=tmp_path / "runs")
    assert list(run.jobs["status"]) == ["passed", "failed"]
    assert run.jobs["reason"][1] == "job-dir"
    assert "cannot create the job's directory" in run.jobs["first_error"][1]


@contextlib.contextmanager
def _small_fs(size: str) -> Iterator[Path]:
    where = Path(tempfile.mkdtemp(prefix="gator-small-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode:
        where.rmdir()
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        yield where
    finally:
        # Lazily if a file is still open (a failing test's store): never leave a mount.
        if subprocess.run(["umount", str(where)], check=False, capture_output=True).returncode:
            subprocess.run(["umount", "-l", str(where)], check=False)
        where.rmdir()


def test_a_full_disk_fails_the_job_that_lost_rows_and_keeps_the_rest(write_spec) -> None:
    # It waits until the first job's rows are committed (every 0.25 s), then fills the disk.
    big = "import time\ntime.sleep(1)\nfor i in range(40000): print('x' * 100, i)"
    spec = write_spec(
        "!JobGroup\n  id: top\n  jobs:\n"
        f"  - {_job('small', 'print(123)')}\n"
        f"  - !Job {{id: big, on_done: [small], command: {PY}, args: [-c, {big!r}]}}\n"
    )
    with _small_fs("1m") as runs:
        done = gator("run", str(spec), runs=runs)
        # before: exit 2 ("nothing was run") and every row after the first failed write lost
        assert done.returncode == 1, done.stdout + done.stderr
        assert "Traceback" not in done.stderr
        assert "top.big: gator: could not write this job's log or results" in done.stderr
        run = gn.load("latest", runs_dir=runs)
        assert run.jobs["status"][0] == "passed"
        assert run.log("top.small") == "123"


def _modes(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_runs_are_private_and_reports_hold_no_caller_secrets(tmp_path: Path, write_spec) -> None:
    spec = write_spec(
        "!Job\n  id: a\n  env: {API_TOKEN: $MY_SECRET, PLAIN: value}\n"
        f"  command: {PY}\n"
        "  args: [-c, 'import os, sys; print(len(os.environ[\"API_TOKEN\"])); sys.exit(1)',"
        " --token=$MY_SECRET]\n"
    )
    secret = "hunter2-very-secret"
    os.environ["MY_SECRET"] = secret
    try:
        run = gn.run(spec, runs_dir=tmp_path / "runs")
    finally:
        del os.environ["MY_SECRET"]
    assert run.log("a") == str(len(secret))  # the job saw the value
    assert _modes(run.path) == 0o700  # before: 0755 and 0644
    assert {_modes(p) for p in run.path.rglob("*") if p.is_file()} == {0o600}
    report = run.report(tmp_path / "report.html").read_text()
    for text in (report, run.command("a"), (run.path / "run.sqlite").read_bytes().decode("latin1")):
        assert secret not in text
    assert "API_TOKEN=&quot;${MY_SECRET}&quot;" in report
    assert 'API_TOKEN="${MY_SECRET}"' in run.command("a")
    assert run.command("a").endswith(' --token="${MY_SECRET}"')
    shared = gn.run(spec, runs_dir=tmp_path / "runs", shared=True)
    umask = os.umask(0)
    os.umask(umask)
    assert _modes(shared.path) == 0o777 & ~umask


@pytest.mark.skipif(not ROOT, reason="needs root to mount read-only and to switch users")
def test_finished_runs_are_sealed_and_read_from_a_read_only_copy(write_spec) -> None:
    spec = write_spec(f"!Job {{id: a, command: {PY}, args: [-c, 'print(7)']}}")
    with _small_fs("16m") as mnt:
        run = gn.run(spec, runs_dir=mnt / "runs")
        assert not Path(f"{run.path}/run.sqlite-wal").exists()
        with contextlib.closing(sqlite3.connect(run.path / "run.sqlite")) as db:
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        copy = gn.load(run.path)  # before: "attempt to write a readonly database"
        assert copy.status == "passed"
        assert copy.log("a") == "7"
        assert list(copy.messages["message"]) == ["7"]
        assert gator("show", "latest", runs=mnt / "runs").returncode == 0


@pytest.mark.skipif(
    not ROOT or not _same_python(SYSTEM_PY),
    reason="needs root to switch users, and a system Python of the venv's version",
)
def test_unreadable_runs_are_skipped_and_reported(write_spec) -> None:
    spec = write_spec(f"!Job {{id: a, command: {PY}, args: [-c, 'print(7)']}}")
    runs = Path(tempfile.mkdtemp(prefix="gator-runs-"))
    try:
        runs.chmod(0o755)
        private = gn.run(spec, runs_dir=runs)
        shared = gn.run(spec, runs_dir=runs, shared=True)
        (shared.path / "run.sqlite").chmod(0o644)
        for path in shared.path.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        where = gator("check", "--help", runs=runs, user="65534")  # this checkout's code
        assert where.returncode == 0 and "--max-jobs" in where.stdout, where.stderr
        listed = gator("runs", runs=runs, user="65534")
        assert listed.returncode == 0, listed.stderr  # before: a traceback for every run
        assert shared.id in listed.stdout and private.id not in listed.stdout
        assert f"gator: skipped a run that cannot be read: {private.id}" in listed.stderr
        assert gator("show", shared.id, runs=runs, user="65534").returncode == 0
    finally:
        shutil.rmtree(runs)


def test_a_dead_engine_run_reads_cancelled_and_rerun_covers_it(tmp_path: Path) -> None:
    flag = tmp_path / "slow"
    flag.touch()
    wait = f"import os, time\nwhile os.path.exists({str(flag)!r}): time.sleep(0.05)\nprint('ok')"
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "!JobGroup\n  id: top\n  jobs:\n"
        f"  - {_job('fast', 'print(1)')}\n"
        f"  - !Job {{id: slow, on_pass: [fast], command: {PY}, args: [-c, {wait!r}]}}\n"
        f"  - !Job {{id: later, on_pass: [slow], command: {PY}, args: [-c, 'print(3)']}}\n"
    )
    runs = tmp_path / "runs"
    proc = subprocess.Popen(
        [PY, "-m", "gator_nb", "run", str(spec), "--runs-dir", str(runs)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("start  top.slow"):
            break
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # another process's store: nothing to await but commits
        if list(gn.load("latest", runs_dir=runs).jobs["status"][:2]) == ["passed", "running"]:
            break
        time.sleep(0.05)
    proc.kill()
    proc.wait(timeout=10)
    proc.stdout.close()
    run = gn.load("latest", runs_dir=runs)
    jobs = run.jobs
    # before: 'running' and 'pending' for ever, and `gator show` counted their time up
    assert list(jobs["status"]) == ["passed", "cancelled", "cancelled"]
    assert list(jobs["reason"][1:]) == ["engine-gone", "engine-gone"]
    shown = gator("show", "latest", runs=runs).stdout
    assert "running" not in shown and "pending" not in shown
    flag.unlink()
    # before: only the jobs that had failed, none here
    again = gn.rerun(run, runs_dir=runs, deps=False)
    assert again.status == "passed"
    assert list(again.jobs["job"]) == ["top.slow", "top.later"]


def test_one_missing_log_costs_only_that_jobs_lines(tmp_path: Path, write_spec) -> None:
    spec = write_spec(
        f"!JobGroup\n  id: top\n  jobs:\n  - {_job('a', 'print(1)')}\n  - {_job('b', 'print(2)')}\n"
    )
    run = gn.run(spec, runs_dir=tmp_path / "runs")
    (run.path / "logs" / "top.a.log").unlink()
    messages = run.messages  # before: StoreError for the whole run
    assert list(messages["job"]) == ["top.a", "top.b"]
    assert messages["message"][0].startswith("gator: cannot read this job's log")
    assert messages["message"][1] == "2"


def test_stderr_lines_are_not_a_row_each(tmp_path: Path, write_spec) -> None:
    code = "import sys\nfor i in range(1000): print('noise', i, file=sys.stderr)\n" \
        "print('ERROR: boom', file=sys.stderr); print('', file=sys.stderr)"  # fmt: skip
    spec = write_spec(_job("a", code))
    run = gn.run(spec, runs_dir=tmp_path / "runs")
    with contextlib.closing(sqlite3.connect(run.path / "run.sqlite")) as db:
        rows = db.execute("SELECT count(*) FROM messages").fetchone()[0]
    assert rows == 2  # the ERROR and the blank INFO line; before: 1,002
    assert int(run.jobs["warnings"][0]) == 1000
    warned = run.messages_of("a", "WARNING")
    assert len(warned) == 1001 and warned["message"].iloc[-1] == "ERROR: boom"
    assert list(run.messages["severity"].value_counts().sort_index()) == [0, 1, 1000, 1, 0]
    assert run.messages["severity"].iloc[-1] == "INFO"


def test_messages_are_built_in_chunks_with_categoricals(tmp_path: Path, write_spec) -> None:
    code = "import sys\nfor i in range(20000): print('line', i, 'of a job')"
    run = gn.run(write_spec(_job("a", code)), runs_dir=tmp_path / "runs")
    log = (run.path / "logs" / "a.log").stat().st_size
    run.messages  # noqa: B018 - warm up: imports, caches
    tracemalloc.start()
    try:
        messages = run.messages
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(messages) == 20000 and messages["message"].iloc[-1] == "line 19999 of a job"
    assert {str(messages[c].dtype) for c in ("job", "severity", "stream")} == {"category"}
    # before: a dict per line, all at once (9.9 GB for a 20,000,000-line run): ~50x this
    # log of short lines; now ~17x, most of it Python's per-string overhead
    assert peak < 25 * log


def test_job_file_names_are_stable_escaped_and_short() -> None:
    assert file_name("top.tests[3].sim") == "top.tests[3].sim"
    assert file_name("a/b c") == "a%2Fb%20c"  # no subdirectory, no space
    assert file_name("..") == "%2E."
    long = "g." * 200 + "job"
    assert file_name(long) == file_name(long)  # the same path, the same name
    assert len(file_name(long)) <= 120 and file_name(long) != file_name(long + "2")


def test_messages_from_blocks_equal_messages_row_by_row(tmp_path: Path, write_spec) -> None:
    code = (
        "import sys\nfor i in range(3000):\n"
        "    print('x', i); print('ERROR: e', i) if i % 7 == 0 else None\n"
        "    print('w', i, file=sys.stderr); print('', file=sys.stderr) if i % 11 == 0 else None\n"
    )
    spec = write_spec(f"!JobGroup {{id: g, jobs: [{_job('a', code)}, {_job('b', 'print(1)')}]}}")
    run = gn.run(spec, runs_dir=tmp_path / "runs")
    with StoreReader(run.path) as reader:
        by_rows = frames.messages(reader.messages())
    assert run.messages.equals(by_rows)  # run.messages is built a block at a time
    assert len(by_rows) == 3000 + 429 + 3000 + 273 + 1
    assert by_rows["severity"].value_counts()["ERROR"] == 429
