"""``RunRecord``: a run as its store holds it — its frames, logs, test cases, metrics,
artefacts, tree and reports — read through one public API. ``Run`` (runner.py) adds the
run being alive: starting, waiting, cancelling, live state.

Views (the CLI, the notebook, reports) read runs only through these methods.
"""

from __future__ import annotations

import collections
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gator_nb.errors import NoSuchJob, UsageError
from gator_nb.events import Severity, Status
from gator_nb.spec.nodes import suggest
from gator_nb.state import RunState, group_metric_rows, group_rows
from gator_nb.store import StoreReader
from gator_nb.triage import reproduce
from gator_nb.views import render, row_text

if TYPE_CHECKING:
    import pandas as pd  # noqa: TID251 - types only; frames.py does the importing

    from gator_nb.plots import RunPlots

__all__ = ["RunRecord"]

_REPORT_PLOTS = (
    ("Timeline", "timeline"),
    ("Outcome per group", "summary"),
    ("Peak memory per group", "peak_memory"),
    ("Memory over time", "resources"),
)


def _severity(name: str | None) -> Severity | None:
    if name is None:
        return None
    try:
        return Severity[name.upper()]
    except KeyError:
        choices = ", ".join(s.name for s in Severity)
        raise UsageError(f"no severity {name!r}; expected one of {choices}") from None


class RunRecord:
    """A run's record: what its store says, read on demand (never cached: a run may be
    live in another process).

    Attributes:
        id: the run id, e.g. ``20261127-221503-7f3a``.
        path: the run directory.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.id = path.name

    def _reader(self) -> StoreReader:
        return StoreReader(self.path)

    @property
    def parent(self) -> str | None:
        """The id of the run this one reran, if it is a rerun."""
        parent = self.info()["parent"]
        return str(parent) if parent else None

    @property
    def status(self) -> str:
        """running | passed | failed | cancelled."""
        return str(self.info()["status"])

    def info(self) -> dict[str, Any]:
        """What the run is: ``id``, ``spec``, ``status``, ``start``, ``end``, ``cwd``,
        ``argv``, ``hostname``, ``parent``, ``backend``, ``seed``, ``overrides``,
        ``interrupted`` (its engine died), and a count of jobs per status and in all.
        """
        with self._reader() as reader:
            return reader.run_info()

    @property
    def state(self) -> RunState:
        """The run tree with per-group aggregates, rebuilt from the store."""
        with self._reader() as reader:
            jobs, groups, info = reader.jobs(), reader.groups(), reader.run_info()
            metrics = reader.metrics()
        return RunState.from_rows(jobs, groups, Status(info["status"]), metrics)

    # -- data ----------------------------------------------------------------------------

    @property
    def jobs(self) -> pd.DataFrame:
        """One row per leaf job (see DESIGN.md for the columns)."""
        from gator_nb import frames

        with self._reader() as reader:
            return frames.jobs(reader.jobs())

    @property
    def messages(self) -> pd.DataFrame:
        """One row per log line of every job.

        Built in chunks with categorical ``job``/``severity``/``stream``; for a big run
        read only what you need with :meth:`messages_of` (WARNING and up reads the index,
        never the raw logs) or :meth:`log_tail`.
        """
        from gator_nb import frames

        with self._reader() as reader:
            return frames.lines(reader.line_chunks())

    @property
    def resources(self) -> pd.DataFrame:
        """One row per resource sample per job."""
        from gator_nb import frames

        with self._reader() as reader:
            return frames.resources(reader.samples())

    @property
    def seed(self) -> int:
        """The run's seed: ``gator run --seed N`` (or ``gn.run(seed=N)``) runs the same seeds."""
        return int(self.info()["seed"] or 0)

    @property
    def artefacts(self) -> pd.DataFrame:
        """One row per file a job's ``outputs`` matched: ``job``, ``name``, ``path``, ``bytes``."""
        from gator_nb import frames

        with self._reader() as reader:
            return frames.artefacts(reader.artefacts())

    @property
    def tests(self) -> pd.DataFrame:
        """One row per test case read from the jobs' ``results`` files."""
        from gator_nb import frames

        with self._reader() as reader:
            return frames.tests(reader.tests())

    @property
    def metrics(self) -> pd.DataFrame:
        """One row per job per metric it reported: its last value."""
        from gator_nb import frames

        with self._reader() as reader:
            return frames.metrics(reader.metrics())

    @property
    def group_metrics(self) -> pd.DataFrame:
        """Per group (the root included) per metric: count, sum, min, max, mean over its jobs.

        User metrics, and every finished job's ``duration_s``, ``cpu_s`` and ``peak_rss``.
        """
        from gator_nb import frames

        return frames.group_metrics(group_metric_rows(self.state))

    def tests_of(self, job: str) -> pd.DataFrame:
        """The test cases of one job (``tests``' columns)."""
        from gator_nb import frames

        with self._reader() as reader:
            self._job_row(reader, job)
            return frames.tests(reader.tests(job))

    @property
    def plot(self) -> RunPlots:
        """Figures of this run: ``run.plot.resources()``, ``.timeline()``, ``.summary()``..."""
        from gator_nb.plots import RunPlots

        return RunPlots(self)

    @property
    def groups(self) -> pd.DataFrame:
        """One row per group, array and array copy with its aggregates."""
        from gator_nb import frames

        return frames.groups(group_rows(self.state))

    def messages_of(self, job: str | None = None, severity: str | None = "WARNING") -> pd.DataFrame:
        """Log lines of ``job`` (or all jobs) at ``severity`` or above.

        From WARNING up this reads only the indexed messages, never the raw logs, so it is
        the way to read a big run's problems without loading every line.
        """
        from gator_nb import frames

        floor = _severity(severity)
        with self._reader() as reader:
            if job is not None:
                self._job_row(reader, job)
            if floor is None:  # every line: a block at a time, as run.messages
                return frames.lines(reader.line_chunks(job))
            return frames.messages(reader.messages(job, min_severity=floor))

    def log_tail(
        self, job: str, lines: int = 40, severity: str | None = None
    ) -> tuple[list[tuple[str, str]], int]:
        """The last ``lines`` log lines of ``job`` (at ``severity`` or above) as
        ``(severity, text)`` pairs, and how many earlier ones were left out.
        """
        floor = _severity(severity)
        kept: collections.deque[tuple[str, str]] = collections.deque(maxlen=max(lines, 0))
        seen = 0
        with self._reader() as reader:
            self._job_row(reader, job)
            for line in reader.messages(job, min_severity=floor):
                kept.append((str(line["severity"]), str(line["message"])))
                seen += 1
        return list(kept), seen - len(kept)

    def lines(self, job: str, severity: str | None = None) -> Iterator[tuple[str, str]]:
        """``job``'s log lines (at ``severity`` or above) as ``(severity, text)``, streamed
        from the store: constant memory whatever the size of the log.

        Raises:
            NoSuchJob, UsageError: no such job, or no such severity (before any line).
        """
        floor = _severity(severity)
        reader = self._reader()
        try:
            self._job_row(reader, job)
        except BaseException:
            reader.close()
            raise
        return self._stream(reader, job, floor)

    @staticmethod
    def _stream(reader: StoreReader, job: str, floor: Severity | None) -> Iterator[tuple[str, str]]:
        with reader:
            for line in reader.messages(job, min_severity=floor):
                yield str(line["severity"]), str(line["message"])

    def resources_of(self, job: str) -> pd.DataFrame:
        """The resource samples of one job (``resources``' columns)."""
        from gator_nb import frames

        with self._reader() as reader:
            self._job_row(reader, job)
            return frames.resources(reader.samples(job))

    def failures(self) -> pd.DataFrame:
        """One row per failed job: ``first_error``, ``reason`` and its failure ``bucket``."""
        from gator_nb import frames

        return frames.failures(self.jobs)

    def buckets(self) -> pd.DataFrame:
        """Failed jobs counted per bucket (same normalised first error), with an example."""
        from gator_nb import frames

        return frames.buckets(self.failures())

    def job(self, job: str) -> dict[str, Any]:
        """One job's row: ``jobs``' columns plus ``argv``, ``env`` (the spec's overlay) and
        ``metrics`` (name -> last value).

        Raises:
            NoSuchJob: ``job`` is not a job of this run (the message suggests one).
        """
        with self._reader() as reader:
            row = self._job_row(reader, job)
            row["metrics"] = {m["name"]: m["value"] for m in reader.metrics(job)}
        return row

    def command(self, job: str) -> str:
        """A shell line that reproduces ``job`` by hand: cd, its environment, its command."""
        row = self.job(job)
        return reproduce(row["argv"], row["cwd"], row["env"] or {})

    def log(self, job: str) -> str:
        """A job's whole log as text."""
        with self._reader() as reader:
            self._job_row(reader, job)
            return reader.log_text(job)

    def report(self, path: str | os.PathLike[str]) -> Path:
        """Write one self-contained HTML report (tables, buckets, plots) to ``path``."""
        from gator_nb.report import html_report

        failures = self.failures()
        failures = failures.assign(command=[self.command(str(j)) for j in failures["job"]])
        return html_report(
            Path(path),
            run_id=self.id,
            status=self.status,
            jobs=self.jobs,
            failures=failures,
            buckets=self.buckets(),
            rows=render(self.state, time.time(), jobs=False),
            plots=self._pictures(),
            tests=self.tests,
            metrics=self._report_metrics(),
        )

    def _report_metrics(self) -> pd.DataFrame:
        """Group metrics for the report: user metrics of groups and arrays, not copies."""
        table = self.group_metrics
        kinds = dict(zip(self.groups["group"], self.groups["kind"], strict=True))
        keep = table["group"].map(lambda g: kinds.get(g) != "copy") & ~table["name"].isin(
            ["duration_s", "cpu_s", "peak_rss"]
        )
        return table[keep.astype(bool)]

    def _pictures(self) -> dict[str, bytes]:
        """The report's figures as PNG, by title."""
        import io

        pictures = {}
        for title, method in _REPORT_PLOTS:
            buffer = io.BytesIO()
            getattr(self.plot, method)().savefig(buffer, format="png", dpi=100)
            pictures[title] = buffer.getvalue()
        return pictures

    def to_junit(self, path: str | os.PathLike[str]) -> Path:
        """Write the run as JUnit XML for CI systems: a testcase per job, and each job's own
        test cases (from its ``results``) under it."""
        from gator_nb.report import junit_report

        return junit_report(
            Path(path),
            run_id=self.id,
            jobs=self.jobs,
            warnings=self.messages_of(),
            tests=self.tests,
        )

    def _job_row(self, reader: StoreReader, job: str) -> dict[str, Any]:
        row = reader.job(job)
        if row is not None:
            return row
        known = [row["job"] for row in reader.query("SELECT job FROM jobs")]
        raise NoSuchJob(f"no job {job!r} in run {self.id}{suggest(job, known)}")

    def tree(self, *, jobs: bool = True) -> str:
        """The run tree with counts, durations and peak memory, as text."""
        return "\n".join(row_text(row) for row in render(self.state, time.time(), jobs=jobs))
