"""The run store: ``RUN_DIR/run.sqlite`` (plan, status, samples, indexed messages)
plus one raw log file per job in ``RUN_DIR/logs/``; one writer thread, many readers.
"""

from __future__ import annotations

from gator_nb.store.reader import StoreReader, list_runs
from gator_nb.store.schema import DB_NAME, SCHEMA_VERSION, GroupRow, JobRow, RunInfo
from gator_nb.store.writer import StoreWriter

__all__ = [
    "DB_NAME",
    "SCHEMA_VERSION",
    "GroupRow",
    "JobRow",
    "RunInfo",
    "StoreReader",
    "StoreWriter",
    "list_runs",
]
