"""Store rows -> pandas DataFrames with fixed columns and dtypes (the only pandas importer).

DESIGN.md's columns come first, in its order; timestamps are timezone-aware UTC.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gator_nb.events import Severity, Status

if TYPE_CHECKING:
    from gator_nb.store.reader import LineChunk

__all__ = [
    "ARTEFACT_COLUMNS",
    "GROUP_METRIC_COLUMNS",
    "JOB_COLUMNS",
    "MESSAGE_COLUMNS",
    "METRIC_COLUMNS",
    "RESOURCE_COLUMNS",
    "RUN_COLUMNS",
    "TEST_COLUMNS",
    "artefacts",
    "group_metrics",
    "jobs",
    "lines",
    "messages",
    "metrics",
    "resources",
    "runs",
    "tests",
]

JOB_COLUMNS = {
    "job": "string",
    "status": pd.CategoricalDtype([s.value for s in Status]),
    "exit_code": "Int64",
    "start": "datetime64[ns, UTC]",
    "end": "datetime64[ns, UTC]",
    "duration_s": "float64",
    "cpu_s": "float64",
    "peak_rss": "Int64",
    "warnings": "int64",
    "errors": "int64",
    "first_error": "string",
    "command": "string",
    "cwd": "string",
    "group": "string",
    "array_index": "Int64",
    "attempt": "Int64",
    "signal": "Int64",
    "timed_out": "boolean",
    "reason": "string",
    "seed": "Int64",
    "tests": "Int64",
    "tests_failed": "Int64",
    "lines": "Int64",
    "hostname": "string",
    "queued_s": "float64",
    "pid": "Int64",
    "cores": "Int64",
    "memory": "Int64",
    "timeout_s": "float64",
    "cpu_percent_mean": "float64",
    "peak_vms": "Int64",
    "read_bytes": "Int64",
    "write_bytes": "Int64",
    "job_dir": "string",
    "peak_source": "string",
}
_SEVERITIES = pd.CategoricalDtype([s.name for s in Severity], ordered=True)
MESSAGE_COLUMNS = {
    "time": "datetime64[ns, UTC]",
    "job": "string",
    "severity": _SEVERITIES,
    "stream": pd.CategoricalDtype(["stdout", "stderr", "gator"]),
    "message": "string",
    "line": "int64",
}
RESOURCE_COLUMNS = {
    "time": "datetime64[ns, UTC]",
    "job": "string",
    "cpu_percent": "float64",
    "rss": "int64",
    "num_procs": "int64",
    "vms": "int64",
    "read_bytes": "int64",
    "write_bytes": "int64",
}
RUN_COLUMNS = {
    "id": "string",
    "path": "string",
    "spec": "string",
    "status": pd.CategoricalDtype([s.value for s in Status]),
    "start": "datetime64[ns, UTC]",
    "end": "datetime64[ns, UTC]",
    "jobs": "int64",
    "passed": "int64",
    "failed": "int64",
}


def _frame(
    rows: Iterable[Mapping[str, Any]],
    columns: Mapping[str, Any],
    renames: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(list(rows))
    if renames:
        frame = frame.rename(columns=renames)
    data = {}
    for name, dtype in columns.items():
        values = frame[name] if name in frame else pd.Series([None] * len(frame), dtype=object)
        if str(dtype).startswith("datetime64"):
            data[name] = pd.to_datetime(values.astype("float64"), unit="s", utc=True)
        else:
            data[name] = values.astype(dtype)
    return pd.DataFrame(data, index=pd.RangeIndex(len(frame)))


def jobs(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per leaf job, in spec order; then a ``param_<name>`` column per param."""
    rows = [{**r, "warnings": r.get("warnings") or 0, "errors": r.get("errors") or 0} for r in rows]
    frame = _frame(rows, JOB_COLUMNS)
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row.get("params") or {}))
    for name in names:
        frame[f"param_{name}"] = pd.Series(
            [(row.get("params") or {}).get(name) for row in rows], dtype="string"
        )
    return frame


def artefacts(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per file a job's ``outputs`` matched."""
    return _frame(rows, ARTEFACT_COLUMNS)


_CHUNK = 8192  # rows turned into arrays at a time: their dicts are the transient cost


def _chunks(rows: Iterable[Mapping[str, Any]]) -> Iterator[list[Mapping[str, Any]]]:
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, _CHUNK)):
        yield chunk


def messages(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per log line; ``job``, ``severity`` and ``stream`` are categoricals.

    Rows are consumed in chunks straight into arrays, never all held as dicts (a
    20,000,000-line run took 9.9 GB that way): what stays is one string per line and a
    few bytes of codes, a small multiple of the log's size on disk.
    """
    columns = _Columns()
    for chunk in _chunks(rows):
        columns.rows(chunk)
    return columns.frame()


def lines(chunks: Iterable[LineChunk]) -> pd.DataFrame:
    """``messages`` built from the store's blocks of lines: no dict per line, no loop per
    line but the one that decodes it (``run.messages``)."""
    columns = _Columns()
    for chunk in chunks:
        columns.block(chunk)
    return columns.frame()


class _Columns:
    """The columns of a messages frame, gathered as arrays and one list of strings."""

    def __init__(self) -> None:
        self.codes: dict[str, dict[str, int]] = {
            "job": {},
            "severity": {name: i for i, name in enumerate(_SEVERITIES.categories)},
            "stream": {name: i for i, name in enumerate(MESSAGE_COLUMNS["stream"].categories)},
        }
        self.arrays: dict[str, list[np.ndarray]] = {
            "time": [], "line": [], "job": [], "severity": [], "stream": []
        }  # fmt: skip
        self.text: list[str] = []
        # From blocks: (lines, time, first line, job, stream, default severity) each, and
        # (row, severity) for the lines whose severity is not their stream's default.
        self.blocks: list[tuple[int, float, int, int, int, int]] = []
        self.overrides: list[tuple[int, int]] = []

    def rows(self, chunk: list[Mapping[str, Any]]) -> None:
        n, arrays = len(chunk), self.arrays
        arrays["time"].append(np.fromiter((r["time"] for r in chunk), "float64", n))
        arrays["line"].append(np.fromiter((r["line_no"] for r in chunk), "int64", n))
        for name, known in self.codes.items():
            values = (known.setdefault(r[name], len(known)) for r in chunk)
            arrays[name].append(np.fromiter(values, "int32", n))
        self.text.extend(r["message"] for r in chunk)

    def block(self, chunk: LineChunk) -> None:
        # Scalars per block, arrays only at the end: a fast job's log has tens of
        # thousands of blocks, and five small arrays each would cost more than the codes.
        n, codes = len(chunk.texts), self.codes
        if not n:
            return
        start = len(self.text)
        self.blocks.append(
            (n, chunk.time, chunk.first_line,
             codes["job"].setdefault(chunk.job, len(codes["job"])),
             codes["stream"][chunk.stream],
             codes["severity"]["WARNING" if chunk.stream == "stderr" else "INFO"])
        )  # fmt: skip
        for line_no, name in chunk.severities.items():
            self.overrides.append((start + line_no - chunk.first_line, codes["severity"][name]))
        self.text.extend(chunk.texts)

    def _flush_blocks(self) -> None:
        if not self.blocks:
            return
        columns = (np.array(c) for c in zip(*self.blocks, strict=True))
        n, time, first, job, stream, severity = columns
        self.blocks = []
        total = int(n.sum())
        starts = np.repeat(np.cumsum(n) - n, n)  # each line's block's first row
        self.arrays["line"].append(np.repeat(first, n) + np.arange(total) - starts)
        self.arrays["time"].append(np.repeat(time.astype("float64"), n))
        for name, values in (("job", job), ("stream", stream), ("severity", severity)):
            self.arrays[name].append(np.repeat(values.astype("int32"), n))
        for index, code in self.overrides:
            self.arrays["severity"][-1][index] = code
        self.overrides = []

    def joined(self, name: str, dtype: str) -> np.ndarray:
        found = self.arrays[name]
        return np.concatenate(found) if found else np.empty(0, dtype)

    def category(self, name: str, dtype: Any = None) -> pd.Categorical:
        found = self.joined(name, "int32")
        if dtype is not None:
            return pd.Categorical.from_codes(found, dtype=dtype)
        return pd.Categorical.from_codes(found, categories=list(self.codes[name]))

    def frame(self) -> pd.DataFrame:
        self._flush_blocks()  # one source per frame: rows or blocks, never both
        messages = pd.array(self.text, dtype="string")
        self.text = []  # the strings live in the array now: drop the list's pointers
        # Seconds to nanoseconds by hand: to_datetime(unit="s") takes ~35 bytes a row.
        nanoseconds = np.rint(self.joined("time", "float64") * 1e9).astype("int64")
        times = pd.DatetimeIndex(nanoseconds.view("datetime64[ns]")).tz_localize("UTC")
        return pd.DataFrame(
            {
                "time": times,
                "job": self.category("job"),
                "severity": self.category("severity", _SEVERITIES),
                "stream": self.category("stream", MESSAGE_COLUMNS["stream"]),
                "message": messages,
                "line": self.joined("line", "int64"),
            },
            copy=False,  # every column is a fresh array already
        )


def resources(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per sample per job."""
    return _frame(rows, RESOURCE_COLUMNS)


def tests(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per test case read from the jobs' results files."""
    return _frame(rows, TEST_COLUMNS)


def metrics(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per job per metric it reported (its last value)."""
    return _frame(rows, METRIC_COLUMNS)


def group_metrics(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per group per metric: count, sum, min, max, mean over the jobs under it."""
    return _frame(rows, GROUP_METRIC_COLUMNS)


def runs(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per run, oldest first."""
    return _frame(rows, RUN_COLUMNS)


TEST_COLUMNS = {
    "job": "string",
    "suite": "string",
    "test": "string",
    "status": pd.CategoricalDtype(["passed", "failed", "error", "skipped"]),
    "duration_s": "float64",
    "message": "string",
}
METRIC_COLUMNS = {"job": "string", "name": "string", "value": "float64"}
ARTEFACT_COLUMNS = {"job": "string", "name": "string", "path": "string", "bytes": "Int64"}
GROUP_METRIC_COLUMNS = {
    "group": "string",
    "name": "string",
    "count": "int64",
    "sum": "float64",
    "min": "float64",
    "max": "float64",
    "mean": "float64",
}
GROUP_COLUMNS = {
    "group": "string",
    "kind": "string",
    "parent": "string",
    "jobs": "int64",
    "pending": "int64",
    "running": "int64",
    "passed": "int64",
    "failed": "int64",
    "skipped": "int64",
    "cancelled": "int64",
    "status": pd.CategoricalDtype([s.value for s in Status]),
    "warnings": "int64",
    "errors": "int64",
    "cpu_s": "float64",
    "peak_rss": "Int64",
    "start": "datetime64[ns, UTC]",
    "end": "datetime64[ns, UTC]",
    "duration_s": "float64",
    "first_failure": "string",
    "first_error": "string",
}


def groups(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per group, array or array copy with its aggregates, in plan order."""
    return _frame(rows, GROUP_COLUMNS)


def failures(jobs: pd.DataFrame) -> pd.DataFrame:
    """Failed jobs with ``first_error``, ``reason`` and their failure ``bucket``."""
    from gator_nb.triage import bucket

    failed = jobs[jobs["status"] == Status.FAILED.value].reset_index(drop=True)
    columns = [
        "job",
        "reason",
        "first_error",
        "exit_code",
        "signal",
        "timed_out",
        "duration_s",
        "peak_rss",
        "group",
        "command",
        "cwd",
    ]
    out = failed[columns].copy()
    out["bucket"] = pd.Series(
        [
            bucket(str(e) if e is not pd.NA else "", str(r))
            for e, r in zip(failed["first_error"], failed["reason"], strict=True)
        ],
        dtype="string",
    )
    return out


def buckets(failed: pd.DataFrame) -> pd.DataFrame:
    """Failures per bucket, largest first, with an example job and its first error."""
    if failed.empty:
        return pd.DataFrame(
            {
                "bucket": pd.Series(dtype="string"),
                "jobs": pd.Series(dtype="int64"),
                "example": pd.Series(dtype="string"),
                "first_error": pd.Series(dtype="string"),
                "reasons": pd.Series(dtype="string"),
            }
        )
    grouped = failed.groupby("bucket", sort=False)
    out = pd.DataFrame(
        {
            "jobs": grouped.size(),
            "example": grouped["job"].first(),
            "first_error": grouped["first_error"].first(),
            "reasons": grouped["reason"].agg(lambda r: ", ".join(sorted(set(r)))),
        }
    ).reset_index()
    out = out.sort_values(["jobs", "bucket"], ascending=[False, True], kind="stable")
    return out.reset_index(drop=True).astype(
        {"bucket": "string", "example": "string", "first_error": "string", "reasons": "string"}
    )


def compare(
    before: pd.DataFrame,
    after: pd.DataFrame,
    *,
    rerun: bool = False,
    metrics: tuple[pd.DataFrame, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """Per job across two runs: status in each, ``change``, duration and peak-memory ratios,
    and for each metric NAME either run reported, ``NAME_a``, ``NAME_b`` and ``NAME_delta``.

    ``rerun``: ``after`` reran some of ``before``'s jobs, so the others are ``not-rerun``.
    """
    from gator_nb.triage import change

    keep = ["job", "status", "duration_s", "peak_rss"]
    merged = before[keep].merge(
        after[keep], on="job", how="outer", suffixes=("_a", "_b"), sort=False, indicator=True
    )
    order: dict[str, int] = {}
    for job in list(before["job"]) + list(after["job"]):  # first run's order, then new jobs
        order.setdefault(job, len(order))
    merged = merged.sort_values("job", key=lambda s: s.map(order), kind="stable")

    def status(value: Any) -> str | None:
        return None if value is None or value is pd.NA or value != value else str(value)

    changes = [
        change(status(a), status(b), rerun=rerun)
        for a, b in zip(merged["status_a"], merged["status_b"], strict=True)
    ]
    out = pd.DataFrame(
        {
            "job": merged["job"].astype("string"),
            "status_a": merged["status_a"].astype("string"),
            "status_b": merged["status_b"].astype("string"),
            "change": pd.Series(changes, index=merged.index, dtype="string"),
            "duration_ratio": merged["duration_s_b"] / merged["duration_s_a"],
            "peak_rss_ratio": merged["peak_rss_b"].astype("float64")
            / merged["peak_rss_a"].astype("float64"),
            "duration_s_a": merged["duration_s_a"],
            "duration_s_b": merged["duration_s_b"],
        }
    )
    if metrics is not None:
        out = _metric_deltas(out, *metrics)
    return out.reset_index(drop=True)


def _metric_deltas(out: pd.DataFrame, before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    columns = {}
    for name in sorted(set(before["name"].dropna()) | set(after["name"].dropna())):
        a = before[before["name"] == name].set_index("job")["value"]
        b = after[after["name"] == name].set_index("job")["value"]
        columns[f"{name}_a"] = out["job"].map(a).astype("float64")
        columns[f"{name}_b"] = out["job"].map(b).astype("float64")
        columns[f"{name}_delta"] = columns[f"{name}_b"] - columns[f"{name}_a"]
    return pd.concat([out, pd.DataFrame(columns, index=out.index)], axis=1) if columns else out
