"""Reading a run's store: plain dict rows, from any thread or process, live or finished."""

from __future__ import annotations

import bisect
import json
import socket
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from gator_nb.display import FIRST_ERROR_CHARS, display_text
from gator_nb.errors import StoreError
from gator_nb.events import Reason, Severity, Status
from gator_nb.store.schema import DB_NAME, SCHEMA_VERSION, SELECT_JOBS, file_name_of, log_path

__all__ = ["LineChunk", "StoreReader", "has_store", "list_runs"]

# Version 1 stores (before tests and metrics) read as runs without either.
_READABLE = (1, SCHEMA_VERSION)
_JSON_COLUMNS = ("argv", "env", "licenses", "depends", "extra", "params", "inputs")
_SEVERITY_NAMES = {int(s): s.name for s in Severity}
_INFO = Severity.INFO.name
_WARNING = Severity.WARNING.name


@dataclass(frozen=True, slots=True)
class LineChunk:
    """One block of a job's log: its lines' text, from ``first_line`` on, and the
    severities of those that are not their stream's default (stderr WARNING, else INFO)."""

    job: str
    time: float
    stream: str
    first_line: int
    texts: list[str]
    severities: dict[int, str]


def _split(data: bytes) -> list[bytes]:
    raw = data.split(b"\n")
    if raw and not raw[-1]:
        raw.pop()  # every line ends with b"\n": the last piece is empty
    return raw


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


class StoreReader:
    """Read-only view of one run's store; works while the run is live.

    Each reader owns its own connection; use it from one thread at a time.
    """

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / DB_NAME
        if not self.path.is_file():
            raise StoreError(f"{self.path}: no run store here")
        self._db, version = _connect(self.path)
        self._gone: bool | None = None  # whether the run's engine died: read once
        self.version = version
        if version not in _READABLE:
            self._db.close()
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path}: store version {version} is newer than this gator-nb"
                    f" reads ({SCHEMA_VERSION}); upgrade gator-nb to read it"
                )
            raise StoreError(f"{self.path}: not a gator-nb run store (version {version})")
        self._db.row_factory = sqlite3.Row

    def __enter__(self) -> StoreReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def query(self, sql: str, params: Sequence[Any] = ()) -> Iterator[dict[str, Any]]:
        """Run any SQL against the store, yielding one dict per row."""
        try:
            rows = self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: {exc}") from exc
        for row in rows:
            yield dict(row)

    def run_info(self) -> dict[str, Any]:
        """The run row with its counts of jobs per status."""
        rows = list(self.query("SELECT * FROM run"))
        if not rows:
            raise StoreError(f"{self.path}: the store holds no run")
        info = rows[0]
        info["argv"] = tuple(json.loads(info["argv"]))
        info["overrides"] = json.loads(info.get("overrides") or "{}")
        info["path"] = str(self.run_dir)
        info["duration_s"] = None if info["end"] is None else info["end"] - info["start"]
        counts = {str(status): 0 for status in Status}
        for row in self.query("SELECT status, count(*) AS n FROM jobs GROUP BY 1"):
            counts[row["status"]] = row["n"]
        info["jobs"] = sum(counts.values())
        info["interrupted"] = self._interrupted(info)
        if info["interrupted"]:
            info["status"] = "cancelled"  # its engine died without saying how it ended
            counts[Status.CANCELLED] += counts.pop(Status.RUNNING) + counts.pop(Status.PENDING)
            counts[Status.RUNNING] = counts[Status.PENDING] = 0
        return info | counts

    def _interrupted(self, info: dict[str, Any] | None = None) -> bool:
        """Whether the run says it is running but its engine is gone (kill -9, a crash)."""
        if self._gone is None:
            if info is None:
                rows = list(self.query("SELECT status, pid, hostname, start FROM run"))
                info = rows[0] if rows else {}
            self._gone = info.get("status") == "running" and _engine_gone(info)
        return self._gone

    def _last_activity(self) -> float | None:
        row = self._db.execute(
            'SELECT max(t) FROM (SELECT max("end") AS t FROM jobs UNION ALL'
            " SELECT max(start) FROM jobs UNION ALL SELECT max(time) FROM samples"
            " UNION ALL SELECT max(time) FROM blocks)"
        ).fetchone()
        return None if row[0] is None else float(row[0])

    def jobs(self) -> list[dict[str, Any]]:
        """One dict per leaf job, in spec order, with sampled aggregates."""
        rows = [self._job(row) for row in self.query(SELECT_JOBS.format(where=""))]
        if self._interrupted():
            # Nothing will ever finish these: they were stopped with their engine.
            end = self._last_activity()
            for row in rows:
                if row["status"] in ("running", "pending"):
                    row.update(status="cancelled", reason=str(Reason.ENGINE_GONE), end=end)
                    if row["start"] is not None and end is not None:
                        row["duration_s"] = end - row["start"]
        return rows

    def job(self, job: str) -> dict[str, Any] | None:
        """One job's dict as in :meth:`jobs`, or None if the run has no such job."""
        rows = [
            self._job(r) for r in self.query(SELECT_JOBS.format(where="WHERE j.job = ?"), (job,))
        ]
        return rows[0] if rows else None

    def _job(self, row: dict[str, Any]) -> dict[str, Any]:
        for name in _JSON_COLUMNS:
            row[name] = _tuples(json.loads(row.get(name) or "null"))
        row["env"] = row["env"] or {}
        row["params"] = row["params"] or {}
        row["extra"] = row["extra"] or {}
        row["timed_out"] = bool(row["timed_out"])
        start, end = row["start"], row["end"]
        row["duration_s"] = None if start is None or end is None else end - start
        # Live jobs have no JobFinished yet: take peaks and counts so far.
        row["peak_rss"] = max(row["peak_rss"] or 0, row.pop("max_rss") or 0) or None
        if row["status"] == "running":
            row.update(self._live_counts(row.pop("id")))
        else:
            del row["id"]
        return row

    def _live_counts(self, job_id: int) -> dict[str, Any]:
        row = self._db.execute(
            "SELECT coalesce(sum(severity = :w), 0) + (SELECT coalesce(sum(count), 0)"
            "  FROM blocks WHERE job_id = :id AND stream = 'stderr') - (SELECT count(*)"
            "  FROM messages WHERE job_id = :id AND stream = 'stderr') AS warnings,"
            " coalesce(sum(severity >= :e), 0) AS errors,"
            " coalesce((SELECT substr(message, 1, :n) FROM messages WHERE job_id = :id"
            "  AND severity >= :e ORDER BY line_no LIMIT 1), '') AS first_error,"
            " (SELECT coalesce(max(first_line + count), 0) FROM blocks"
            "  WHERE job_id = :id) AS lines FROM messages WHERE job_id = :id",
            {
                "id": job_id,
                "w": int(Severity.WARNING),
                "e": int(Severity.ERROR),
                "n": FIRST_ERROR_CHARS,
            },
        ).fetchone()
        return dict(row)

    def tests(self, job: str | None = None) -> list[dict[str, Any]]:
        """Test cases read from the jobs' results files, in spec order, then file order."""
        if self.version < 2:
            return []
        where, params = ("WHERE j.job = ?", (job,)) if job is not None else ("", ())
        return list(
            self.query(
                "SELECT j.job, t.suite, t.test, t.status, t.duration_s, t.message"
                f" FROM tests t JOIN jobs j ON j.id = t.job_id {where}"
                ' ORDER BY j."index", j.id, t.rowid',
                params,
            )
        )

    def artefacts(self, job: str | None = None) -> list[dict[str, Any]]:
        """Files the jobs' ``outputs`` matched, in spec order, then output order."""
        if self.version < 2:
            return []
        where, params = ("WHERE j.job = ?", (job,)) if job is not None else ("", ())
        return list(
            self.query(
                "SELECT j.job, a.name, a.path, a.bytes FROM artefacts a"
                f' JOIN jobs j ON j.id = a.job_id {where} ORDER BY j."index", j.id, a.rowid',
                params,
            )
        )

    def metrics(self, job: str | None = None) -> list[dict[str, Any]]:
        """Each job's last value of each metric it reported, in spec order, then by name."""
        if self.version < 2:
            return []
        where, params = ("WHERE j.job = ?", (job,)) if job is not None else ("", ())
        return list(
            self.query(
                "SELECT j.job, m.name, m.value FROM metrics m JOIN jobs j ON j.id = m.job_id"
                f' {where} ORDER BY j."index", j.id, m.name',
                params,
            )
        )

    def groups(self) -> list[dict[str, Any]]:
        """One dict per group or array node, in plan order (``params``: a copy's matrix)."""
        rows = list(self.query("SELECT * FROM groups ORDER BY rowid"))
        for row in rows:
            row["params"] = tuple(tuple(p) for p in json.loads(row.get("params") or "[]"))
        return rows

    def _job_ids(self, job: str | None) -> list[tuple[int, str]]:
        where, params = ("WHERE job = ?", (job,)) if job is not None else ("", ())
        rows = self._db.execute(
            f'SELECT id, job FROM jobs {where} ORDER BY "index", id', params
        ).fetchall()
        if job is not None and not rows:
            raise StoreError(f"{self.path}: no job {job!r} in this run")
        return [(r[0], r[1]) for r in rows]

    def messages(
        self, job: str | None = None, *, min_severity: Severity | None = None
    ) -> Iterator[dict[str, Any]]:
        """Lines of one job or all jobs in spec order, then line order.

        With ``min_severity`` above INFO only the ``messages`` table is read
        (fast); otherwise every line is rebuilt from the raw logs.
        """
        for job_id, name in self._job_ids(job):
            if min_severity is not None and min_severity > Severity.INFO:
                yield from self._indexed(job_id, name, int(min_severity))
            else:
                floor = int(min_severity or 0)
                for line in self._lines(job_id, name):
                    if floor <= Severity[line["severity"]]:
                        yield line

    def _indexed(self, job_id: int, job: str, floor: int) -> Iterator[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT time, line_no, severity, stream, message FROM messages"
            " WHERE job_id = ? AND severity >= ? ORDER BY line_no",
            (job_id, floor),
        ).fetchall()
        found = [
            {"time": t, "job": job, "line_no": line_no, "severity": _SEVERITY_NAMES[severity],
             "stream": stream, "message": message}
            for t, line_no, severity, stream, message in rows
        ]  # fmt: skip
        if floor <= Severity.WARNING:  # stderr lines not listed are WARNINGs: read them
            seen = {line["line_no"] for line in found}
            found += [
                line
                for line in self._lines(job_id, job, stream="stderr")
                if line["severity"] == _WARNING and line["line_no"] not in seen
            ]
            found.sort(key=lambda line: line["line_no"])
        yield from found

    def line_chunks(self, job: str | None = None) -> Iterator[LineChunk]:
        """Every line of one job or all jobs, a block at a time (see :class:`LineChunk`).

        What ``run.messages`` is built from: no dict per line.
        """
        for job_id, name in self._job_ids(job):
            yield from self._chunks(job_id, name)

    def _lines(
        self, job_id: int, job: str, *, stream: str | None = None
    ) -> Iterator[dict[str, Any]]:
        for chunk in self._chunks(job_id, job, stream=stream):
            default = _WARNING if chunk.stream == "stderr" else _INFO
            for line_no, message in enumerate(chunk.texts, chunk.first_line):
                yield {"time": chunk.time, "job": job, "line_no": line_no,
                       "severity": chunk.severities.get(line_no, default),
                       "stream": chunk.stream, "message": message}  # fmt: skip

    def _chunks(self, job_id: int, job: str, *, stream: str | None = None) -> Iterator[LineChunk]:
        # Fetch the whole index first so no read transaction stays open while
        # the caller consumes lines (it would stop WAL checkpoints).
        only = "AND stream = ?" if stream else ""
        blocks = self._db.execute(
            "SELECT first_line, stream, time, offset, length FROM blocks"
            f" WHERE job_id = ? {only} ORDER BY first_line",
            (job_id, stream) if stream else (job_id,),
        ).fetchall()
        if not blocks:
            return
        names = {
            line_no: _SEVERITY_NAMES[severity]
            for line_no, severity in self._db.execute(
                "SELECT line_no, severity FROM messages WHERE job_id = ?", (job_id,)
            )
        }
        listed = sorted(names)
        path = log_path(self.run_dir, self._log_name(job_id, job))
        try:
            log = open(path, "rb")  # noqa: SIM115 - closed by the with below
        except OSError as exc:
            # One missing or unreadable log costs that job's lines, not every job's.
            first, t = blocks[0][0], blocks[0][2]
            note = f"gator: cannot read this job's log: {exc}"
            yield LineChunk(job, t, "gator", first, [note], {first: "ERROR"})
            return
        with log:
            for first, stream_of, t, offset, length in blocks:
                log.seek(offset)
                texts = [display_text(raw) for raw in _split(log.read(length))]
                end = first + len(texts)
                lo, hi = bisect.bisect_left(listed, first), bisect.bisect_left(listed, end)
                severities = {line_no: names[line_no] for line_no in listed[lo:hi]}
                yield LineChunk(job, t, stream_of, first, texts, severities)

    def _log_name(self, job_id: int, job: str) -> str:
        try:
            row = self._db.execute("SELECT job_dir FROM jobs WHERE id = ?", (job_id,)).fetchone()
        except sqlite3.OperationalError:  # a store from before the job_dir column
            return job
        return file_name_of(job, row[0] if row else None)

    def samples(self, job: str | None = None) -> Iterator[dict[str, Any]]:
        """Resource samples of one job or all jobs, in spec order then time."""
        for job_id, name in self._job_ids(job):
            for row in self.query(
                "SELECT time, cpu_percent, rss, vms, num_procs, read_bytes,"
                " write_bytes FROM samples WHERE job_id = ? ORDER BY time",
                (job_id,),
            ):
                yield {"time": row.pop("time"), "job": name} | row

    def log_text(self, job: str) -> str:
        """The job's whole log, one display line per log line."""
        ((job_id, name),) = self._job_ids(job)
        return "\n".join(line["message"] for line in self._lines(job_id, name))


def _engine_gone(info: dict[str, Any]) -> bool:
    """Whether the process that was writing a 'running' run is gone (same host only)."""
    pid = info.get("pid")
    if not pid or info.get("hostname") != socket.gethostname():
        return False  # another machine's run: nothing here can tell
    try:
        # A live pid that started after the run is a reused one, not our engine.
        return bool(psutil.Process(pid).create_time() > info["start"] + 1)
    except psutil.NoSuchProcess:
        return True


def _connect(path: Path) -> tuple[sqlite3.Connection, int]:
    """A read-only connection to the store and its schema version.

    ``mode=ro`` first; a sealed store in a read-only place (a CI artefact, a read-only
    mount) may need ``immutable=1``, which reads the file without any locking.
    """
    uri = path.resolve().as_uri()
    problem: sqlite3.Error | None = None
    for query in ("?mode=ro", "?immutable=1"):
        try:
            db = sqlite3.connect(uri + query, uri=True, check_same_thread=False)
        except sqlite3.Error as exc:
            problem = problem or exc
            continue
        try:
            return db, int(db.execute("PRAGMA user_version").fetchone()[0])
        except sqlite3.Error as exc:
            db.close()
            problem = problem or exc
    raise StoreError(f"{path}: cannot read the store: {problem}")


def has_store(path: Path) -> bool:
    """Whether ``path`` holds a run store; False for what cannot even be looked at."""
    try:
        return (path / DB_NAME).is_file()
    except OSError:
        return False


def list_runs(runs_dir: Path, skipped: list[str] | None = None) -> list[dict[str, Any]]:
    """One summary per readable run directory under ``runs_dir``, oldest first.

    Runs that cannot be read are left out; ``skipped`` gets one line for each.
    """
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    runs = []
    keys = ("id", "path", "spec", "status", "start", "end", "jobs", "passed",
            "failed")  # fmt: skip
    for path in sorted(runs_dir.iterdir()):
        try:
            if not (path / DB_NAME).is_file():
                continue
            with StoreReader(path) as reader:
                info = reader.run_info()
        except (StoreError, OSError) as exc:
            # A broken, unreadable or newer run must not hide the others.
            if skipped is not None:
                skipped.append(f"{path.name}: {exc}")
            continue
        runs.append({k: info[k] for k in keys})
    runs.sort(key=lambda r: (r["start"], r["id"]))
    return runs
