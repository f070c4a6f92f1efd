"""Store rows -> pandas DataFrames with fixed columns and dtypes (the only pandas importer).

DESIGN.md's columns come first, in its order; timestamps are timezone-aware UTC.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from gator_nb.events import Severity, Status

__all__ = [
    "JOB_COLUMNS",
    "MESSAGE_COLUMNS",
    "RESOURCE_COLUMNS",
    "RUN_COLUMNS",
    "jobs",
    "messages",
    "resources",
    "runs",
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
    """One row per leaf job, in spec order."""
    rows = [{**r, "warnings": r.get("warnings") or 0, "errors": r.get("errors") or 0} for r in rows]
    return _frame(rows, JOB_COLUMNS)


def messages(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per log line."""
    return _frame(rows, MESSAGE_COLUMNS, renames={"line_no": "line"})


def resources(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per sample per job."""
    return _frame(rows, RESOURCE_COLUMNS)


def runs(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per run, oldest first."""
    return _frame(rows, RUN_COLUMNS)
