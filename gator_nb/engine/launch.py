"""What a backend is handed: one job's ``Launch`` (everything needed to run it, its
resource needs included) and the run's ``Limits``; and ``Sink``, where events go.

Backends see only these, never the ``Plan``: a local process and a Dask worker get the
same description of a job.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from gator_nb.events import Event

__all__ = ["Launch", "Limits", "Sink"]

Sink = Callable[[Event], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class Launch:
    """What to run for one leaf job, and what it needs while it runs."""

    job: str  # the job's path, e.g. "top.counting[2].echo_count"
    argv: tuple[str, ...]  # program and arguments, already expanded; run without a shell
    env: Mapping[str, str]  # the complete environment of the child
    cwd: str
    timeout_s: float | None = None
    grace_s: float = 2.0  # SIGTERM -> grace -> SIGKILL
    ready: float | None = None  # when its dependencies were met (for queued_s)
    attempt: int = 1  # 2 and up: a retry (the spec's ``retries``)
    first_line: int = 0  # a retry's lines follow the earlier attempts' in the job's log
    cores: int = 1  # the spec's !Cores
    memory: int | None = None  # the spec's !Memory, bytes
    licenses: tuple[tuple[str, int], ...] = ()  # the spec's !License (name, seats)
    severity: tuple[tuple[str, str], ...] = ()  # (regex, level): tried before built-ins
    limits: tuple[tuple[str, int], ...] = ()  # (warning|error|critical, most messages)
    metrics: tuple[tuple[str, str], ...] = ()  # (name, regex with one capture group)
    results: tuple[str, ...] = ()  # JUnit XML files (paths or globs from cwd)
    outputs: tuple[tuple[str, str], ...] = ()  # (artefact name, path or glob from cwd)


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """What may run at once: job slots (cores), a memory budget, licence seats."""

    parallel: int = field(default_factory=lambda: os.cpu_count() or 1)
    memory: int | None = None
    licenses: Mapping[str, int] = field(default_factory=dict)
    grace_s: float = 2.0
