"""The store's single writer: a thread that commits batches of engine events.

Log files are flushed before the index rows that point into them are committed, so a
killed process leaves every committed line readable.
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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

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


@dataclass(slots=True)
class _Batch:
    """Rows gathered from a batch of events; ``ops`` keep their order."""

    ops: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    blocks: list[tuple[Any, ...]] = field(default_factory=list)
    messages: list[tuple[Any, ...]] = field(default_factory=list)
    samples: list[tuple[Any, ...]] = field(default_factory=list)
    dirty: set[str] = field(default_factory=set)


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
            rows.append(
                (job_id, j.job, j.group, j.index, j.array_index, j.command,
                 json.dumps(j.argv), j.cwd, json.dumps(dict(j.env)), j.cores,
                 j.memory, json.dumps(j.licenses), j.timeout_s,
                 json.dumps(j.depends), j.seed, json.dumps(dict(j.params or {})),
                 json.dumps(j.inputs))
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
        db.executemany(INSERT_BLOCK, b.blocks)
        db.executemany(INSERT_MESSAGE, b.messages)
        db.executemany(INSERT_SAMPLE, b.samples)
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

    def _job_id(self, job: str, b: _Batch) -> int:
        job_id = self._ids.get(job)
        if job_id is None:
            # An event for a job outside the plan still gets a row, not an error.
            job_id = self._ids[job] = len(self._ids) + 1
            params = (job_id, job, "", job_id, None, "", "[]", "", "{}", 1, None,
                      "[]", None, "[]", None, "{}", "[]")  # fmt: skip
            b.ops.append((INSERT_JOB, params))
        return job_id

    def _open(self, job: str) -> _Log:
        log = self._logs.get(job)
        if log is None:
            file = open(log_path(self.run_dir, job), "ab")  # noqa: SIM115
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
