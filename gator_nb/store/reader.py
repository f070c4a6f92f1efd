"""Reading a run's store: plain dict rows, from any thread or process, live or finished."""

from __future__ import annotations

import json
import socket
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psutil

from gator_nb.display import FIRST_ERROR_CHARS, display_text
from gator_nb.errors import StoreError
from gator_nb.events import Severity, Status
from gator_nb.store.schema import DB_NAME, SCHEMA_VERSION, SELECT_JOBS, log_path

__all__ = ["StoreReader", "list_runs"]

# Version 1 stores (before tests and metrics) read as runs without either.
_READABLE = (1, SCHEMA_VERSION)
_JSON_COLUMNS = ("argv", "env", "licenses", "depends", "extra", "params", "inputs")
_SEVERITY_NAMES = {int(s): s.name for s in Severity}
_INFO = Severity.INFO.name


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
        uri = self.path.resolve().as_uri() + "?mode=ro"
        try:
            self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot read the store: {exc}") from exc
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
        info["interrupted"] = info["status"] == "running" and _engine_gone(info)
        if info["interrupted"]:
            info["status"] = "cancelled"  # its engine died without saying how it ended
        return info | counts

    def jobs(self) -> list[dict[str, Any]]:
        """One dict per leaf job, in spec order, with sampled aggregates."""
        return [self._job(row) for row in self.query(SELECT_JOBS.format(where=""))]

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
            "SELECT coalesce(sum(severity = :w), 0) AS warnings,"
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
        for t, line_no, severity, stream, message in rows:
            yield {"time": t, "job": job, "line_no": line_no,
                   "severity": _SEVERITY_NAMES[severity], "stream": stream,
                   "message": message}  # fmt: skip

    def _lines(self, job_id: int, job: str) -> Iterator[dict[str, Any]]:
        # Fetch the whole index first so no read transaction stays open while
        # the caller consumes lines (it would stop WAL checkpoints).
        blocks = self._db.execute(
            "SELECT first_line, stream, time, offset, length FROM blocks"
            " WHERE job_id = ? ORDER BY first_line",
            (job_id,),
        ).fetchall()
        if not blocks:
            return
        names = {
            line_no: _SEVERITY_NAMES[severity]
            for line_no, severity in self._db.execute(
                "SELECT line_no, severity FROM messages WHERE job_id = ?", (job_id,)
            )
        }
        text = display_text
        path = log_path(self.run_dir, job)
        try:
            log = open(path, "rb")  # noqa: SIM115 - closed by the with below
        except OSError as exc:
            raise StoreError(f"{path}: cannot read the log: {exc}") from exc
        with log:
            for first, stream, t, offset, length in blocks:
                log.seek(offset)
                for line_no, raw in enumerate(_split(log.read(length)), first):
                    severity = names.get(line_no, _INFO)
                    yield {"time": t, "job": job, "line_no": line_no,
                           "severity": severity, "stream": stream,
                           "message": text(raw)}  # fmt: skip

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


def list_runs(runs_dir: Path) -> list[dict[str, Any]]:
    """One summary per readable run directory under ``runs_dir``, oldest first."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    runs = []
    keys = ("id", "path", "spec", "status", "start", "end", "jobs", "passed",
            "failed")  # fmt: skip
    for path in sorted(runs_dir.iterdir()):
        if not (path / DB_NAME).is_file():
            continue
        try:
            with StoreReader(path) as reader:
                info = reader.run_info()
        except StoreError:
            continue  # a broken or newer run must not hide the others
        runs.append({k: info[k] for k in keys})
    runs.sort(key=lambda r: (r["start"], r["id"]))
    return runs
