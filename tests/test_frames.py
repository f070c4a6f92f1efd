"""Store rows -> DataFrames: the documented columns, their dtypes, and empty runs."""

from __future__ import annotations

import pandas as pd

from gator_nb import frames

DESIGN_JOB_COLUMNS = [
    "job", "status", "exit_code", "start", "end", "duration_s", "cpu_s", "peak_rss",
    "warnings", "errors", "first_error", "command", "cwd",
]  # fmt: skip


def test_empty_frames_still_have_their_columns() -> None:
    assert list(frames.jobs([]).columns)[: len(DESIGN_JOB_COLUMNS)] == DESIGN_JOB_COLUMNS
    assert list(frames.messages([]).columns)[:5] == ["time", "job", "severity", "stream", "message"]
    assert list(frames.resources([]).columns)[:5] == [
        "time", "job", "cpu_percent", "rss", "num_procs",
    ]  # fmt: skip
    assert len(frames.failures(frames.jobs([]))) == 0


def test_job_rows_become_typed_columns() -> None:
    table = frames.jobs([
        {"job": "a", "status": "failed", "start": 10.0, "end": 12.5, "exit_code": 3,
         "peak_rss": 2048, "first_error": "ERROR: x", "reason": "exit-code"},
        {"job": "b", "status": "pending"},
    ])  # fmt: skip
    assert table["start"].iloc[0] == pd.Timestamp(10.0, unit="s", tz="UTC")
    assert table["duration_s"].isna().all()  # computed by the store reader, not here
    assert table["exit_code"].isna().tolist() == [False, True]
    assert table["warnings"].tolist() == [0, 0]
    assert list(table["status"].cat.categories) == [
        "pending", "running", "passed", "failed", "skipped", "cancelled",
    ]  # fmt: skip
    failed = frames.failures(table)
    assert failed["job"].tolist() == ["a"] and failed["bucket"].tolist() == ["ERROR: x"]
