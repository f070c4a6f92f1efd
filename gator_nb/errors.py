"""The exception hierarchy: every error gator raises is a ``GatorError``."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "GatorError",
    "LaunchError",
    "NoSuchJob",
    "Problem",
    "SpecError",
    "StoreError",
    "UsageError",
]


class GatorError(Exception):
    """Root of gator's own failures (a job that fails is data, not an error)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """One thing wrong with a spec, located as precisely as the YAML allows."""

    file: str
    line: int
    col: int
    path: str
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.severity}: {self.path}: {self.message}"


class SpecError(GatorError):
    """A spec that cannot run; ``problems`` lists every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class LaunchError(GatorError):
    """A run could not be started (bad runs directory, backend unavailable)."""


class StoreError(GatorError):
    """A run directory or its store cannot be read or written."""


class NoSuchJob(StoreError):
    """A job path that is not in the run (the message suggests the nearest one)."""


class UsageError(GatorError):
    """An argument of the API or the CLI that cannot be used (a bad severity name...)."""
