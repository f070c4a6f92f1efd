"""The run store: ``RUN_DIR/run.sqlite`` (plan, status, samples, indexed messages)
plus one raw log file per job in ``RUN_DIR/logs/``; one writer thread, many readers.
"""

from __future__ import annotations

import atexit
import itertools
import json
import operator
import queue
import shlex
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from gator_nb.errors import StoreError
from gator_nb.events import (
    Event,
    JobFinished,
    JobOutput,
    JobSampled,
    JobStarted,
    RunFinished,
    Severity,
    Status,
)

__all__ = [
    "SCHEMA_VERSION",
    "GroupRow",
    "JobRow",
    "RunInfo",
    "StoreReader",
    "StoreWriter",
    "list_runs",
]

SCHEMA_VERSION = 1
DB_NAME = "run.sqlite"

# One line per job is never a row: lines live in logs/<job>.log, ``blocks`` indexes
# them and ``messages`` keeps only the non-INFO lines. Jobs are keyed by an integer
# id in the big tables (a text path would repeat ~30 bytes in every message row).
_SCHEMA = f"""
BEGIN;
CREATE TABLE run (id TEXT PRIMARY KEY, spec TEXT, spec_text TEXT, status TEXT,
  start REAL, "end" REAL, cwd TEXT, argv TEXT, hostname TEXT, parent TEXT,
  backend TEXT);
CREATE TABLE groups (path TEXT PRIMARY KEY, parent TEXT, kind TEXT,
  "index" INTEGER, array_index INTEGER);
CREATE TABLE jobs (id INTEGER PRIMARY KEY, job TEXT NOT NULL UNIQUE, "group" TEXT,
  "index" INTEGER, array_index INTEGER, status TEXT NOT NULL DEFAULT 'pending',
  exit_code INTEGER, signal INTEGER, timed_out INTEGER NOT NULL DEFAULT 0,
  reason TEXT NOT NULL DEFAULT '', start REAL, "end" REAL, cpu_s REAL,
  peak_rss INTEGER, warnings INTEGER NOT NULL DEFAULT 0,
  errors INTEGER NOT NULL DEFAULT 0, first_error TEXT NOT NULL DEFAULT '',
  lines INTEGER NOT NULL DEFAULT 0, command TEXT, argv TEXT, cwd TEXT, env TEXT,
  cores INTEGER, memory INTEGER, licenses TEXT, timeout_s REAL, depends TEXT,
  pid INTEGER, hostname TEXT, attempt INTEGER, extra TEXT, queued_s REAL);
CREATE TABLE blocks (job_id INTEGER NOT NULL, first_line INTEGER NOT NULL,
  count INTEGER NOT NULL, stream TEXT NOT NULL, time REAL NOT NULL,
  offset INTEGER NOT NULL, length INTEGER NOT NULL,
  PRIMARY KEY (job_id, first_line)) WITHOUT ROWID;
CREATE TABLE messages (job_id INTEGER NOT NULL, line_no INTEGER NOT NULL,
  severity INTEGER NOT NULL, stream TEXT NOT NULL, time REAL NOT NULL,
  message TEXT NOT NULL, PRIMARY KEY (job_id, line_no)) WITHOUT ROWID;
CREATE TABLE samples (job_id INTEGER NOT NULL, time REAL NOT NULL,
  cpu_percent REAL, rss INTEGER, vms INTEGER, num_procs INTEGER,
  read_bytes INTEGER, write_bytes INTEGER);
CREATE INDEX samples_job ON samples (job_id, time);
PRAGMA user_version = {SCHEMA_VERSION};
"""

# A duplicate line number (a retry that restarts numbering) replaces the old index
# row instead of failing the whole batch.
_SELECT_JOBS = (
    "SELECT j.*, s.cpu_percent_mean, s.peak_vms, s.read_bytes, s.write_bytes, s.max_rss"
    " FROM jobs j LEFT JOIN (SELECT job_id, avg(cpu_percent) AS cpu_percent_mean,"
    "  max(vms) AS peak_vms, max(read_bytes) AS read_bytes,"
    "  max(write_bytes) AS write_bytes, max(rss) AS max_rss"
    "  FROM samples GROUP BY job_id) s ON s.job_id = j.id"
    ' {where} ORDER BY j."index", j.id'
)
_INSERT_BLOCK = "INSERT OR REPLACE INTO blocks VALUES (?, ?, ?, ?, ?, ?, ?)"
_INSERT_MESSAGE = "INSERT OR REPLACE INTO messages VALUES (?, ?, ?, ?, ?, ?)"
_INSERT_SAMPLE = "INSERT INTO samples VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
_INSERT_JOB = (
    'INSERT INTO jobs (id, job, "group", "index", array_index, command, argv, cwd,'
    " env, cores, memory, licenses, timeout_s, depends)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPDATE_STARTED = (
    "UPDATE jobs SET status = 'running', start = ?, \"end\" = NULL, pid = ?,"
    " command = ?, argv = ?, cwd = ?, hostname = ?, attempt = ?, queued_s = ? WHERE id = ?"
)
_UPDATE_FINISHED = (
    'UPDATE jobs SET status = ?, "end" = ?, exit_code = ?, signal = ?,'
    " timed_out = ?, reason = ?, cpu_s = ?, peak_rss = ?, warnings = ?, errors = ?,"
    " first_error = ?, lines = ?, extra = ? WHERE id = ?"
)
_UPDATE_RUN = 'UPDATE run SET status = ?, "end" = ?'


@dataclass(frozen=True, slots=True, kw_only=True)
class RunInfo:
    """What a run is: written once when it begins."""

    id: str
    spec: str
    spec_text: str
    start: float
    cwd: str
    argv: tuple[str, ...]
    hostname: str
    parent: str | None = None
    backend: str = "local"


@dataclass(frozen=True, slots=True, kw_only=True)
class JobRow:
    """One leaf job of the plan, written before it runs (status pending)."""

    job: str
    group: str
    index: int
    array_index: int | None
    command: str
    argv: tuple[str, ...]
    cwd: str
    env: Mapping[str, str]
    cores: int
    memory: int | None
    licenses: tuple[tuple[str, int], ...]
    timeout_s: float | None
    depends: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupRow:
    """One group or array node of the plan."""

    path: str
    parent: str | None
    kind: str
    index: int
    array_index: int | None


@dataclass(frozen=True, slots=True)
class _SetStatus:
    status: str
    end: float | None


@dataclass(frozen=True, slots=True)
class _Flush:
    done: threading.Event = field(default_factory=threading.Event)


_STOP = object()


@dataclass(slots=True)
class _Log:
    file: IO[bytes]
    offset: int


@dataclass(slots=True)
class _Batch:
    """Rows gathered from a batch of events; ``ops`` keep their order."""

    ops: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    blocks: list[tuple[Any, ...]] = field(default_factory=list)
    messages: list[tuple[Any, ...]] = field(default_factory=list)
    samples: list[tuple[Any, ...]] = field(default_factory=list)
    dirty: set[str] = field(default_factory=set)


def _log_path(run_dir: Path, job: str) -> Path:
    return run_dir / "logs" / f"{job}.log"


def _connect_rw(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode = WAL")
    # NORMAL in WAL mode survives a killed process; only power loss can drop
    # the last commits, which is the trade the design accepts for throughput.
    db.execute("PRAGMA synchronous = NORMAL")
    return db


class StoreWriter:
    """Appends a run's events to its store from one background thread."""

    def __init__(self, run_dir: Path, *, flush_s: float = 0.25) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / DB_NAME
        self._flush_s = flush_s
        self._wake = threading.Event()  # set by flush() and close(), never by put()
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._db: sqlite3.Connection | None = None
        self._ids: dict[str, int] = {}
        self._logs: dict[str, _Log] = {}
        self._closed = False
        self._lock = threading.Lock()
        self._error: BaseException | None = None

    def begin(self, run: RunInfo, jobs: Sequence[JobRow], groups: Sequence[GroupRow]) -> None:
        """Create the store with the run and its plan, then start the writer."""
        if self.path.exists():
            raise StoreError(f"{self.path}: a run store already exists here")
        try:
            (self.run_dir / "logs").mkdir(parents=True, exist_ok=True)
            (self.run_dir / "spec.yaml").write_text(run.spec_text, encoding="utf-8")
            db = _connect_rw(self.path)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"{self.path}: cannot create the store: {exc}") from exc
        try:
            db.executescript(_SCHEMA)
            self._insert_plan(db, run, jobs, groups)
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            db.close()
            raise StoreError(f"{self.path}: cannot create the store: {exc}") from exc
        self._db = db
        self._thread = threading.Thread(
            target=self._loop, name=f"gator-store-{run.id}", daemon=True
        )
        self._thread.start()
        # The thread is a daemon (a non-daemon one would block interpreter exit
        # before atexit runs), so atexit is what drains it on a plain exit.
        atexit.register(self.close)

    def _insert_plan(
        self,
        db: sqlite3.Connection,
        run: RunInfo,
        jobs: Sequence[JobRow],
        groups: Sequence[GroupRow],
    ) -> None:
        db.execute(
            "INSERT INTO run VALUES (?, ?, ?, 'running', ?, NULL, ?, ?, ?, ?, ?)",
            (run.id, run.spec, run.spec_text, run.start, run.cwd,
             json.dumps(run.argv), run.hostname, run.parent, run.backend),
        )  # fmt: skip
        db.executemany(
            "INSERT INTO groups VALUES (?, ?, ?, ?, ?)",
            [(g.path, g.parent, g.kind, g.index, g.array_index) for g in groups],
        )
        rows = []
        for job_id, j in enumerate(jobs, 1):
            self._ids[j.job] = job_id
            rows.append(
                (job_id, j.job, j.group, j.index, j.array_index, j.command,
                 json.dumps(j.argv), j.cwd, json.dumps(dict(j.env)), j.cores,
                 j.memory, json.dumps(j.licenses), j.timeout_s,
                 json.dumps(j.depends))
            )  # fmt: skip
        db.executemany(_INSERT_JOB, rows)

    def put(self, event: Event) -> None:
        """Queue an event for the writer; never blocks, never raises."""
        if not self._closed:
            self._queue.put(event)

    def set_status(self, status: str, end: float | None) -> None:
        """Set the run's status and end time (queued behind earlier events)."""
        if self._thread is not None and not self._closed:
            self._queue.put(_SetStatus(status, end))
            return
        if self._thread is None:
            raise StoreError(f"{self.path}: the store was not begun")
        with sqlite3.connect(self.path, isolation_level=None) as db:
            db.execute(_UPDATE_RUN, (status, end))
        db.close()

    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until every event put so far is committed.

        Returns False on timeout or if the writer has failed.
        """
        thread = self._thread
        if thread is None or not thread.is_alive():
            return self._error is None
        marker = _Flush()
        self._queue.put(marker)
        self._wake.set()
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        # Poll liveness so a writer that died cannot leave the caller waiting.
        while not marker.done.wait(0.05):
            if not thread.is_alive():
                return False
            if deadline is not None and time.monotonic() > deadline:
                return False
        return self._error is None

    def close(self) -> None:
        """Drain the queue, commit, close the files and join the thread.

        Idempotent and safe from ``atexit``. Raises ``StoreError`` if the
        writer failed while writing.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
        atexit.unregister(self.close)
        if self._thread is not None:
            self._queue.put(_STOP)
            self._wake.set()
            self._thread.join()
        if self._error is not None:
            raise StoreError(f"{self.path}: writing failed: {self._error}")

    # -- the writer thread -------------------------------------------------

    def _loop(self) -> None:
        assert self._db is not None
        try:
            stopping = False
            while not stopping:
                batch = self._next_batch()
                stopping = batch[-1] is _STOP
                self._write(batch)
            # Anything put while close() raced with the sentinel.
            leftovers = []
            while not self._queue.empty():
                leftovers.append(self._queue.get_nowait())
            self._write(leftovers)
        finally:
            for log in self._logs.values():
                log.file.close()
            self._logs.clear()
            self._db.close()

    def _next_batch(self) -> list[object]:
        # Wait for the first event, then let a batch build up for flush_s without being
        # woken by every put(): a wake-up per event costs the engine thread the GIL.
        batch = [self._queue.get()]
        if batch[0] is not _STOP and not isinstance(batch[0], _Flush):
            self._wake.wait(self._flush_s)
        self._wake.clear()
        while batch[-1] is not _STOP:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _write(self, items: list[object]) -> None:
        b = _Batch()
        try:
            if self._error is None:
                for item in items:
                    self._gather(item, b)
                self._commit(b)
        except (sqlite3.Error, OSError, ValueError, TypeError) as exc:
            # A full disk or a malformed event stops the writing, not the thread:
            # it keeps draining so flush() and close() return; close() reports it.
            self._error = exc
            assert self._db is not None
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
        finally:
            for item in items:
                if isinstance(item, _Flush):
                    item.done.set()

    def _commit(self, b: _Batch) -> None:
        # Log bytes reach the OS before the index rows that point at them
        # commit, so a killed process leaves every committed block readable.
        for job in b.dirty:
            if job in self._logs:
                self._logs[job].file.flush()
        db = self._db
        assert db is not None
        if not (b.ops or b.blocks or b.messages or b.samples):
            return
        db.execute("BEGIN")
        for sql, group in itertools.groupby(b.ops, key=operator.itemgetter(0)):
            db.executemany(sql, [params for _, params in group])
        db.executemany(_INSERT_BLOCK, b.blocks)
        db.executemany(_INSERT_MESSAGE, b.messages)
        db.executemany(_INSERT_SAMPLE, b.samples)
        db.execute("COMMIT")

    def _gather(self, item: object, b: _Batch) -> None:
        if isinstance(item, JobOutput):
            self._output(item, b)
        elif isinstance(item, JobSampled):
            b.samples.append(
                (self._job_id(item.job, b), item.time, item.cpu_percent, item.rss,
                 item.vms, item.num_procs, item.read_bytes, item.write_bytes)
            )  # fmt: skip
        elif isinstance(item, JobStarted):
            b.ops.append(
                (_UPDATE_STARTED,
                 (item.time, item.pid, shlex.join(item.command),
                  json.dumps(item.command), item.cwd, item.hostname, item.attempt,
                  item.queued_s, self._job_id(item.job, b)))
            )  # fmt: skip
            self._open(item.job)
        elif isinstance(item, JobFinished):
            self._finished(item, b)
        elif isinstance(item, RunFinished):
            b.ops.append((_UPDATE_RUN, (str(item.status), item.time)))
        elif isinstance(item, _SetStatus):
            b.ops.append((_UPDATE_RUN, (item.status, item.end)))

    def _job_id(self, job: str, b: _Batch) -> int:
        job_id = self._ids.get(job)
        if job_id is None:
            # An event for a job outside the plan still gets a row, not an error.
            job_id = self._ids[job] = len(self._ids) + 1
            params = (job_id, job, "", job_id, None, "", "[]", "", "{}", 1, None,
                      "[]", None, "[]")  # fmt: skip
            b.ops.append((_INSERT_JOB, params))
        return job_id

    def _open(self, job: str) -> _Log:
        log = self._logs.get(job)
        if log is None:
            file = open(_log_path(self.run_dir, job), "ab")  # noqa: SIM115
            log = self._logs[job] = _Log(file, file.seek(0, 2))
        return log

    def _output(self, event: JobOutput, b: _Batch) -> None:
        job_id = self._job_id(event.job, b)
        log = self._open(event.job)
        b.dirty.add(event.job)
        for block in event.blocks:
            log.file.write(block.data)
            b.blocks.append(
                (job_id, block.first_line, block.count, block.stream, block.time,
                 log.offset, len(block.data))
            )  # fmt: skip
            log.offset += len(block.data)
            b.messages.extend(
                (job_id, m.line_no, int(m.severity), block.stream, block.time, m.text)
                for m in block.messages
            )

    def _finished(self, e: JobFinished, b: _Batch) -> None:
        b.ops.append(
            (_UPDATE_FINISHED,
             (str(e.status), e.time, e.exit_code, e.signal, int(e.timed_out),
              e.reason, e.cpu_s, e.peak_rss, e.warnings, e.errors, e.first_error,
              e.lines, json.dumps(e.extra), self._job_id(e.job, b)))
        )  # fmt: skip
        log = self._logs.pop(e.job, None)
        if log is not None:
            log.file.close()  # flushes: its bytes precede this batch's commit


# -- reading -----------------------------------------------------------------

_JSON_COLUMNS = ("argv", "env", "licenses", "depends", "extra")
_SEVERITY_NAMES = {int(s): s.name for s in Severity}
_INFO = Severity.INFO.name


def _display_text() -> Callable[[bytes], str]:
    # Imported on first read: the reader of a finished run needs no engine code
    # until it renders lines.
    from gator_nb.engine.lines import display_text

    return display_text


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
        if version != SCHEMA_VERSION:
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
        info["path"] = str(self.run_dir)
        info["duration_s"] = None if info["end"] is None else info["end"] - info["start"]
        counts = {str(status): 0 for status in Status}
        for row in self.query("SELECT status, count(*) AS n FROM jobs GROUP BY 1"):
            counts[row["status"]] = row["n"]
        info["jobs"] = sum(counts.values())
        return info | counts

    def jobs(self) -> list[dict[str, Any]]:
        """One dict per leaf job, in spec order, with sampled aggregates."""
        return [self._job(row) for row in self.query(_SELECT_JOBS.format(where=""))]

    def job(self, job: str) -> dict[str, Any] | None:
        """One job's dict as in :meth:`jobs`, or None if the run has no such job."""
        rows = [
            self._job(r) for r in self.query(_SELECT_JOBS.format(where="WHERE j.job = ?"), (job,))
        ]
        return rows[0] if rows else None

    def _job(self, row: dict[str, Any]) -> dict[str, Any]:
        for name in _JSON_COLUMNS:
            row[name] = _tuples(json.loads(row[name] or "null"))
        row["env"] = row["env"] or {}
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
            " coalesce((SELECT message FROM messages WHERE job_id = :id"
            "  AND severity >= :e ORDER BY line_no LIMIT 1), '') AS first_error,"
            " (SELECT coalesce(max(first_line + count), 0) FROM blocks"
            "  WHERE job_id = :id) AS lines FROM messages WHERE job_id = :id",
            {"id": job_id, "w": int(Severity.WARNING), "e": int(Severity.ERROR)},
        ).fetchone()
        return dict(row)

    def groups(self) -> list[dict[str, Any]]:
        """One dict per group or array node, in plan order."""
        return list(self.query("SELECT * FROM groups ORDER BY rowid"))

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
        text = _display_text()
        path = _log_path(self.run_dir, job)
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
