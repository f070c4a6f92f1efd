"""The store's schema, its SQL and the plan rows written before a run starts.

One line per job is never a row: lines live in ``logs/<job>.log``, ``blocks`` indexes
them and ``messages`` keeps only the non-INFO lines.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DB_NAME",
    "SCHEMA_VERSION",
    "GroupRow",
    "JobRow",
    "RunInfo",
    "connect_rw",
    "file_name_of",
    "log_path",
]

SCHEMA_VERSION = 2  # 2: test cases, metrics, artefacts, seeds, params, env overrides
DB_NAME = "run.sqlite"

# One line per job is never a row: lines live in logs/<job>.log, ``blocks`` indexes
# them and ``messages`` keeps only the non-INFO lines. Jobs are keyed by an integer
# id in the big tables (a text path would repeat ~30 bytes in every message row).
SCHEMA = f"""
BEGIN;
CREATE TABLE run (id TEXT PRIMARY KEY, spec TEXT, spec_text TEXT, status TEXT,
  start REAL, "end" REAL, cwd TEXT, argv TEXT, hostname TEXT, parent TEXT,
  backend TEXT, pid INTEGER, seed INTEGER, overrides TEXT);
CREATE TABLE groups (path TEXT PRIMARY KEY, parent TEXT, kind TEXT,
  "index" INTEGER, array_index INTEGER, params TEXT);
CREATE TABLE jobs (id INTEGER PRIMARY KEY, job TEXT NOT NULL UNIQUE, "group" TEXT,
  "index" INTEGER, array_index INTEGER, status TEXT NOT NULL DEFAULT 'pending',
  exit_code INTEGER, signal INTEGER, timed_out INTEGER NOT NULL DEFAULT 0,
  reason TEXT NOT NULL DEFAULT '', start REAL, "end" REAL, cpu_s REAL,
  peak_rss INTEGER, warnings INTEGER NOT NULL DEFAULT 0,
  errors INTEGER NOT NULL DEFAULT 0, first_error TEXT NOT NULL DEFAULT '',
  lines INTEGER NOT NULL DEFAULT 0, command TEXT, argv TEXT, cwd TEXT, env TEXT,
  cores INTEGER, memory INTEGER, licenses TEXT, timeout_s REAL, depends TEXT,
  pid INTEGER, hostname TEXT, attempt INTEGER, extra TEXT, queued_s REAL,
  tests INTEGER, tests_failed INTEGER, seed INTEGER, params TEXT, inputs TEXT,
  job_dir TEXT, peak_source TEXT);
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
CREATE TABLE tests (job_id INTEGER NOT NULL, suite TEXT NOT NULL, test TEXT NOT NULL,
  status TEXT NOT NULL, duration_s REAL, message TEXT NOT NULL);
CREATE INDEX tests_job ON tests (job_id);
CREATE TABLE artefacts (job_id INTEGER NOT NULL, name TEXT NOT NULL, path TEXT NOT NULL,
  bytes INTEGER NOT NULL);
CREATE INDEX artefacts_job ON artefacts (job_id);
CREATE TABLE metrics (job_id INTEGER NOT NULL, name TEXT NOT NULL, value REAL NOT NULL,
  time REAL NOT NULL, PRIMARY KEY (job_id, name)) WITHOUT ROWID;
PRAGMA user_version = {SCHEMA_VERSION};
"""

# A duplicate line number (a retry that restarts numbering) replaces the old index
# row instead of failing the whole batch.
SELECT_JOBS = (
    "SELECT j.*, s.cpu_percent_mean, s.peak_vms, s.read_bytes, s.write_bytes, s.max_rss"
    " FROM jobs j LEFT JOIN (SELECT job_id, avg(cpu_percent) AS cpu_percent_mean,"
    "  max(vms) AS peak_vms, max(read_bytes) AS read_bytes,"
    "  max(write_bytes) AS write_bytes, max(rss) AS max_rss"
    "  FROM samples GROUP BY job_id) s ON s.job_id = j.id"
    ' {where} ORDER BY j."index", j.id'
)
INSERT_BLOCK = "INSERT OR REPLACE INTO blocks VALUES (?, ?, ?, ?, ?, ?, ?)"
INSERT_MESSAGE = "INSERT OR REPLACE INTO messages VALUES (?, ?, ?, ?, ?, ?)"
INSERT_SAMPLE = "INSERT INTO samples VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
INSERT_TEST = "INSERT INTO tests VALUES (?, ?, ?, ?, ?, ?)"
INSERT_ARTEFACT = "INSERT INTO artefacts VALUES (?, ?, ?, ?)"
DELETE_ARTEFACTS = "DELETE FROM artefacts WHERE job_id = ?"
DELETE_TESTS = "DELETE FROM tests WHERE job_id = ?"  # a retry's cases replace the last try's
# The last value of a name within a job is its value.
INSERT_METRIC = "INSERT OR REPLACE INTO metrics VALUES (?, ?, ?, ?)"
INSERT_JOB = (
    'INSERT INTO jobs (id, job, "group", "index", array_index, command, argv, cwd,'
    " env, cores, memory, licenses, timeout_s, depends, seed, params, inputs, job_dir)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
UPDATE_STARTED = (
    "UPDATE jobs SET status = 'running', start = ?, \"end\" = NULL, pid = ?,"
    " command = ?, argv = ?, cwd = ?, hostname = ?, attempt = ?, queued_s = ? WHERE id = ?"
)
UPDATE_FINISHED = (
    'UPDATE jobs SET status = ?, "end" = ?, exit_code = ?, signal = ?,'
    " timed_out = ?, reason = ?, cpu_s = ?, peak_rss = ?, warnings = ?, errors = ?,"
    " first_error = ?, lines = ?, extra = ?, tests = ?, tests_failed = ?, peak_source = ?"
    " WHERE id = ?"
)
UPDATE_RUN = 'UPDATE run SET status = ?, "end" = ?'


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
    pid: int | None = None  # the engine's process, to tell a live run from a killed one
    seed: int | None = None  # the run's seed: each job's seed derives from it
    overrides: Mapping[str, str] | None = None  # -e NAME=VALUE, env=: win over the spec


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
    seed: int | None = None
    params: Mapping[str, str] | None = None
    inputs: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (artefact name, producer jobs)
    job_dir: str = ""  # its GATOR_JOB_DIR, RUN_DIR/jobs/NAME; NAME also names its log


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupRow:
    """One group or array node of the plan."""

    path: str
    parent: str | None
    kind: str
    index: int
    array_index: int | None
    params: tuple[tuple[str, str], ...] = ()  # an array copy's matrix values


def log_path(run_dir: Path, name: str) -> Path:
    """A job's raw log, ``name`` being its directory's name (its path, or shortened)."""
    return run_dir / "logs" / f"{name}.log"


def file_name_of(job: str, job_dir: str | None) -> str:
    """The name of a job's log and directory, as the plan chose it and the store keeps it
    (stores from before the ``job_dir`` column: the job's path)."""
    return Path(job_dir).name if job_dir else job


def connect_rw(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode = WAL")
    # NORMAL in WAL mode survives a killed process; only power loss can drop
    # the last commits, which is the trade the design accepts for throughput.
    db.execute("PRAGMA synchronous = NORMAL")
    return db
