"""The store's single writer: a thread that commits batches of engine events.

Log files are flushed before the index rows that point into them are committed, so a
killed process leaves every committed line readable. A write that fails (a full disk, an
unwritable directory) loses only the rows of the jobs it concerns: the batch is committed
again job by job, and those jobs are listed in ``lost`` with the reason.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import json
import operator
import os
import queue
import shlex
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from gator_nb.errors import StoreError
from gator_nb.events import (
    Event,
    JobFinished,
    JobMetric,
    JobOutput,
    JobSampled,
    JobStarted,
    RunFinished,
)
from gator_nb.store.rows import WRITE_ERRORS, Batch, message_rows
from gator_nb.store.schema import (
    DB_NAME,
    DELETE_ARTEFACTS,
    DELETE_TESTS,
    INSERT_ARTEFACT,
    INSERT_BLOCK,
    INSERT_JOB,
    INSERT_MESSAGE,
    INSERT_METRIC,
    INSERT_SAMPLE,
    INSERT_TEST,
    SCHEMA,
    UPDATE_FINISHED,
    UPDATE_RUN,
    UPDATE_STARTED,
    GroupRow,
    JobRow,
    RunInfo,
    connect_rw,
    file_name_of,
    log_path,
)

__all__ = ["StoreWriter"]


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


class StoreWriter:
    """Appends a run's events to its store from one background thread."""

    def __init__(self, run_dir: Path, *, flush_s: float = 0.25, private: bool = True) -> None:
        self.run_dir = Path(run_dir)
        # Owner-only files: a job's environment and output can hold secrets. Shared
        # runs leave modes to the umask.
        self._file_mode = 0o600 if private else 0o666
        self._dir_mode = 0o700 if private else 0o777
        self.path = self.run_dir / DB_NAME
        self._flush_s = flush_s
        self._wake = threading.Event()  # set by flush() and close(), never by put()
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._db: sqlite3.Connection | None = None
        self._ids: dict[str, int] = {}
        self._names: dict[str, str] = {}  # job -> the file name of its log (long paths: short)
        self._logs: dict[str, _Log] = {}
        self._closed = False
        self._lock = threading.Lock()
        self._error: BaseException | None = None  # a failure of the run's own rows
        self.lost: dict[str, str] = {}  # job -> why some of its rows or log were not written
        self._bad_logs: set[str] = set()

    def begin(self, run: RunInfo, jobs: Sequence[JobRow], groups: Sequence[GroupRow]) -> None:
        """Create the store with the run and its plan, then start the writer."""
        if self.path.exists():
            raise StoreError(f"{self.path}: a run store already exists here")
        try:
            (self.run_dir / "logs").mkdir(self._dir_mode, parents=True, exist_ok=True)
            with self._create(self.run_dir / "spec.yaml") as spec:
                spec.write(run.spec_text.encode())
            # Created first with its mode: SQLite gives -wal and -shm the same one.
            self._create(self.path).close()
            db = connect_rw(self.path)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"{self.path}: cannot create the store: {exc}") from exc
        try:
            db.executescript(SCHEMA)
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

    def _create(self, path: Path, flags: int = os.O_WRONLY | os.O_CREAT | os.O_TRUNC) -> IO[bytes]:
        return os.fdopen(os.open(path, flags, self._file_mode), "wb")

    def _insert_plan(
        self,
        db: sqlite3.Connection,
        run: RunInfo,
        jobs: Sequence[JobRow],
        groups: Sequence[GroupRow],
    ) -> None:
        db.execute(
            "INSERT INTO run VALUES (?, ?, ?, 'running', ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run.id, run.spec, run.spec_text, run.start, run.cwd,
             json.dumps(run.argv), run.hostname, run.parent, run.backend, run.pid,
             run.seed, json.dumps(dict(run.overrides or {}))),
        )  # fmt: skip
        db.executemany(
            "INSERT INTO groups VALUES (?, ?, ?, ?, ?, ?)",
            [
                (g.path, g.parent, g.kind, g.index, g.array_index, json.dumps(g.params))
                for g in groups
            ],
        )
        rows = []
        for job_id, j in enumerate(jobs, 1):
            self._ids[j.job] = job_id
            self._names[j.job] = file_name_of(j.job, j.job_dir)
            rows.append(
                (job_id, j.job, j.group, j.index, j.array_index, j.command,
                 json.dumps(j.argv), j.cwd, json.dumps(dict(j.env)), j.cores,
                 j.memory, json.dumps(j.licenses), j.timeout_s,
                 json.dumps(j.depends), j.seed, json.dumps(dict(j.params or {})),
                 json.dumps(j.inputs), j.job_dir or None)
            )  # fmt: skip
        db.executemany(INSERT_JOB, rows)

    @property
    def alive(self) -> bool:
        """True while the writer thread runs."""
        return self._thread is not None and self._thread.is_alive()

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
            db.execute(UPDATE_RUN, (status, end))
        db.close()

    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until every event put so far is committed.

        Returns False on timeout or if anything could not be written.
        """
        thread = self._thread
        if thread is None or not thread.is_alive():
            return self._error is None and not self.lost
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
        return self._error is None and not self.lost

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
                with contextlib.suppress(OSError):
                    log.file.close()
            self._logs.clear()
            self._seal()
            self._db.close()

    def _seal(self) -> None:
        """Checkpoint the WAL and go back to a rollback journal: one self-contained file.

        A WAL store cannot be opened read-only without its -shm/-wal files, nor over a
        network file system; a sealed one can (a CI artefact, a read-only mount, another
        user). Failing to seal (a full disk) leaves a WAL store, still readable here.
        """
        assert self._db is not None
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.execute("PRAGMA journal_mode = DELETE")

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
        # Rows are gathered per job (None: the run's own), so that a failed commit can
        # be retried job by job and lose only the rows of the job that cannot be written.
        batches: dict[str | None, Batch] = {}
        try:
            for item in items:
                job = getattr(item, "job", None)
                if job in self._bad_logs and isinstance(item, JobOutput):
                    continue  # its log is broken: later blocks would point at nothing
                b = batches.setdefault(job, Batch())
                try:
                    self._gather(item, b)
                except WRITE_ERRORS as exc:
                    self._lose(job, exc, log=isinstance(item, JobOutput | JobFinished))
            self._flush_logs(batches)
            try:
                whole = Batch()
                for b in batches.values():
                    whole.extend(b)
                self._commit(whole)
            except WRITE_ERRORS:
                self._rollback()
                for job, b in batches.items():
                    try:
                        self._commit(b)
                    except WRITE_ERRORS as exc:
                        self._rollback()
                        self._lose(job, exc)
        finally:
            for item in items:
                if isinstance(item, _Flush):
                    item.done.set()

    def _lose(self, job: str | None, exc: BaseException, *, log: bool = False) -> None:
        """Record that ``job``'s rows (``log``: its log) or the run's could not be written."""
        if job is None:
            self._error = self._error or exc
            return
        self.lost.setdefault(job, f"{type(exc).__name__}: {exc}")
        if log:
            self._bad_logs.add(job)
            opened = self._logs.pop(job, None)
            if opened is not None:
                with contextlib.suppress(OSError):
                    opened.file.close()

    def _rollback(self) -> None:
        assert self._db is not None
        if self._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")

    def _flush_logs(self, batches: dict[str | None, Batch]) -> None:
        # Log bytes reach the OS before the index rows that point at them
        # commit, so a killed process leaves every committed block readable.
        for b in batches.values():
            for name in b.dirty:
                log = self._logs.get(name)
                if log is None:
                    continue
                try:
                    log.file.flush()
                except OSError as exc:
                    self._lose(name, exc, log=True)
                    b.blocks.clear()  # they would point past what reached the file

    def _commit(self, b: Batch) -> None:
        db = self._db
        assert db is not None
        if b.empty():
            return
        db.execute("BEGIN")
        for sql, group in itertools.groupby(b.ops, key=operator.itemgetter(0)):
            db.executemany(sql, [params for _, params in group])
        db.executemany(INSERT_BLOCK, b.blocks)
        db.executemany(INSERT_MESSAGE, b.messages)
        db.executemany(INSERT_SAMPLE, b.samples)
        db.execute("COMMIT")

    def _gather(self, item: object, b: Batch) -> None:
        if isinstance(item, JobOutput):
            self._output(item, b)
        elif isinstance(item, JobSampled):
            b.samples.append(
                (self._job_id(item.job, b), item.time, item.cpu_percent, item.rss,
                 item.vms, item.num_procs, item.read_bytes, item.write_bytes)
            )  # fmt: skip
        elif isinstance(item, JobStarted):
            b.ops.append(
                (UPDATE_STARTED,
                 (item.time, item.pid, shlex.join(item.command),
                  json.dumps(item.command), item.cwd, item.hostname, item.attempt,
                  item.queued_s, self._job_id(item.job, b)))
            )  # fmt: skip
            self._open(item.job)
        elif isinstance(item, JobMetric):
            b.ops.append(
                (INSERT_METRIC, (self._job_id(item.job, b), item.name, item.value, item.time))
            )
        elif isinstance(item, JobFinished):
            self._finished(item, b)
        elif isinstance(item, RunFinished):
            b.ops.append((UPDATE_RUN, (str(item.status), item.time)))
        elif isinstance(item, _SetStatus):
            b.ops.append((UPDATE_RUN, (item.status, item.end)))

    def _job_id(self, job: str, b: Batch) -> int:
        job_id = self._ids.get(job)
        if job_id is None:
            # An event for a job outside the plan still gets a row, not an error.
            job_id = self._ids[job] = len(self._ids) + 1
            params = (job_id, job, "", job_id, None, "", "[]", "", "{}", 1, None,
                      "[]", None, "[]", None, "{}", "[]", None)  # fmt: skip
            b.ops.append((INSERT_JOB, params))
        return job_id

    def _open(self, job: str) -> _Log:
        log = self._logs.get(job)
        if log is None:
            name = self._names.get(job, job)
            file = self._create(
                log_path(self.run_dir, name), os.O_WRONLY | os.O_CREAT | os.O_APPEND
            )
            log = self._logs[job] = _Log(file, file.seek(0, 2))
        return log

    def _output(self, event: JobOutput, b: Batch) -> None:
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
            b.messages += message_rows(job_id, block)

    def _finished(self, e: JobFinished, b: Batch) -> None:
        job_id = self._job_id(e.job, b)
        tests = failed = None
        if e.artefacts:
            b.ops.append((DELETE_ARTEFACTS, (job_id,)))
            b.ops.extend((INSERT_ARTEFACT, (job_id, a.name, a.path, a.bytes)) for a in e.artefacts)
        if e.tests:
            tests, failed = len(e.tests), sum(t.status in ("failed", "error") for t in e.tests)
            b.ops.append((DELETE_TESTS, (job_id,)))
            b.ops.extend(
                (INSERT_TEST, (job_id, t.suite, t.test, t.status, t.duration_s, t.message))
                for t in e.tests
            )
        b.ops.append(
            (UPDATE_FINISHED,
             (str(e.status), e.time, e.exit_code, e.signal, int(e.timed_out),
              e.reason, e.cpu_s, e.peak_rss, e.warnings, e.errors, e.first_error,
              e.lines, json.dumps(e.extra), tests, failed, e.peak_source or None, job_id))
        )  # fmt: skip
        log = self._logs.pop(e.job, None)
        if log is not None:
            log.file.close()  # flushes: its bytes precede this batch's commit
