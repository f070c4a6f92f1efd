"""Events flowing from the engine to the store and the run state, and ``Status``.

Imports nothing else from ``gator_nb``: every other module may depend on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

__all__ = [
    "Artefact",
    "Event",
    "JobFinished",
    "JobMetric",
    "JobOutput",
    "JobSampled",
    "JobStarted",
    "LineBlock",
    "Message",
    "Reason",
    "RunFinished",
    "Severity",
    "Status",
    "TestCase",
]


class Status(StrEnum):
    """Where a job, group or run stands."""

    PENDING = "pending"
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @property
    def done(self) -> bool:
        return self not in (Status.PENDING, Status.RUNNING)


class Reason(StrEnum):
    """Why a job ended as it did (``run.jobs.reason``); empty for a job that passed."""

    NONE = ""
    EXIT_CODE = "exit-code"  # exited non-zero
    SIGNAL = "signal"  # killed by a signal
    TIMEOUT = "timeout"  # ran past its ``timeout``
    ERROR_IN_LOG = "error-in-log"  # exited 0 but logged an ERROR or CRITICAL line
    LAUNCH = "launch"  # its command or cwd was not found
    LOST = "lost"  # reaped elsewhere: its exit status is unknown
    INTERNAL = "internal"  # gator itself failed around the job
    LICENSE = "license"  # it needs more licence seats than exist
    DEPENDENCY = "dependency"  # skipped: a dependency ended the wrong way
    CANCELLED = "cancelled"  # the run was stopped
    WORKER_LOST = "worker-lost"  # its Dask worker died while it ran
    SCHEDULER_LOST = "scheduler-lost"  # the Dask scheduler went away
    DASK_CANCELLED = "dask-cancelled"  # Dask cancelled it
    TEST_FAILED = "test-failed"  # a test case in its ``results`` failed or errored
    BAD_RESULTS = "bad-results"  # a ``results`` file is missing or not JUnit XML
    LIMIT = "limit"  # it logged more messages of a severity than its ``limits`` allow
    MISSING_OUTPUT = "missing-output"  # one of its ``outputs`` matched no file
    CLUSTER = "cluster"  # the cluster gator started for the run could not start workers
    JOB_DIR = "job-dir"  # its GATOR_JOB_DIR could not be created (full or unwritable disk)
    STORE = "store"  # its log or rows could not be written (full or unwritable disk)
    ENGINE_GONE = "engine-gone"  # the engine died (kill -9) while it ran or waited


class Severity(IntEnum):
    """Severity of a log line; values are the stdlib ``logging`` levels."""

    DEBUG = 10
    INFO = 20
    WARNING = 30
    ERROR = 40
    CRITICAL = 50


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """A line whose severity is not INFO (the lines worth counting and indexing)."""

    line_no: int  # 0-based, counted over both streams of the job
    severity: Severity
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LineBlock:
    """Whole lines read from one stream at one time, kept as raw bytes.

    Lines are stored raw (``data`` ends with a newline) so that a million lines
    cost one write, not a million; only ``messages`` are decoded.
    """

    stream: str  # "stdout" | "stderr" | "gator"
    time: float
    first_line: int
    count: int
    data: bytes
    messages: tuple[Message, ...] = ()
    metrics: tuple[tuple[str, float], ...] = ()  # (name, value) reported in these lines


@dataclass(frozen=True, slots=True, kw_only=True)
class JobStarted:
    job: str
    time: float
    pid: int
    command: tuple[str, ...]
    cwd: str
    hostname: str
    attempt: int = 1
    queued_s: float = 0.0  # from ready (dependencies met) to started


@dataclass(frozen=True, slots=True, kw_only=True)
class JobOutput:
    job: str
    blocks: tuple[LineBlock, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class JobSampled:
    job: str
    time: float
    cpu_percent: float
    rss: int
    vms: int
    num_procs: int
    read_bytes: int
    write_bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class JobMetric:
    """A value a job reported (``GATOR_METRIC name=value`` or a ``metrics`` rule); the last
    value of a name within a job is its value."""

    job: str
    time: float
    name: str
    value: float


@dataclass(frozen=True, slots=True, kw_only=True)
class TestCase:
    """One test case read from a job's ``results`` (JUnit XML)."""

    __test__ = False  # not a pytest test class, whatever its name says

    suite: str
    test: str
    status: str  # passed | failed | error | skipped
    duration_s: float | None = None
    message: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Artefact:
    """A file a job left that its ``outputs`` name."""

    name: str
    path: str  # absolute
    bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class JobFinished:
    job: str
    time: float
    status: Status
    exit_code: int | None = None
    signal: int | None = None
    timed_out: bool = False
    reason: Reason = Reason.NONE
    cpu_s: float = 0.0
    peak_rss: int = 0
    # How peak_rss was measured: "launcher" (the kernel's high-water mark of a job the
    # launcher process started, raised by the sampled tree sum if that was higher),
    # "engine" (the same for a job the engine started: trusted only above the engine's
    # own size), "samples" (only the samples: the kernel's figure could be the parent's),
    # "" (neither).
    peak_source: str = ""
    warnings: int = 0
    errors: int = 0
    first_error: str = ""
    lines: int = 0
    extra: dict[str, float] = field(default_factory=dict)
    tests: tuple[TestCase, ...] = ()  # from its ``results`` files, when it declares some
    criticals: int = 0  # CRITICAL messages (counted in ``errors`` too)
    artefacts: tuple[Artefact, ...] = ()  # the files its ``outputs`` matched


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFinished:
    time: float
    status: Status


Event = JobStarted | JobOutput | JobSampled | JobMetric | JobFinished | RunFinished
