"""Whether a job passed, and why not: its exit, its messages against its ``limits``, its
test cases and its results files, in that order of precedence. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gator_nb.events import Reason, Status, TestCase

__all__ = ["DEFAULT_LIMITS", "Counts", "Verdict", "judge"]

# With no ``limits``, any ERROR or CRITICAL line fails a job; warnings never do.
DEFAULT_LIMITS: Mapping[str, int] = {"error": 0, "critical": 0}
_FAILED = ("failed", "error")


@dataclass(frozen=True, slots=True, kw_only=True)
class Counts:
    """A job's messages: ``errors`` counts ERROR and CRITICAL lines, as the jobs table does."""

    warnings: int = 0
    errors: int = 0
    criticals: int = 0
    first_error: str = ""
    first_warning: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    status: Status
    reason: Reason
    first_error: str  # what the job's row says failed first


def judge(
    *,
    exit_code: int | None,
    counts: Counts,
    cancelled: bool = False,
    launch_error: bool = False,
    timed_out: bool = False,
    tests: Sequence[TestCase] = (),
    bad_results: str = "",
    limits: Mapping[str, int] | None = None,
    missing_outputs: str = "",
) -> Verdict:
    """The job's status, reason and first error.

    A failed test case names the failure (``test-failed``, its message as the first error,
    so failures bucket by what failed) even when the tool also exited non-zero, as pytest
    does; a signal, timeout or missing command is the more basic cause and comes first.
    """
    first = counts.first_error

    def failed(reason: Reason, why: str = "") -> Verdict:
        return Verdict(status=Status.FAILED, reason=reason, first_error=why or first)

    if cancelled:
        return Verdict(status=Status.CANCELLED, reason=Reason.CANCELLED, first_error=first)
    if launch_error:
        return failed(Reason.LAUNCH)
    if timed_out:
        return failed(Reason.TIMEOUT)
    if exit_code is None:
        return failed(Reason.LOST)  # reaped elsewhere: the exit status is unknown
    if exit_code < 0:
        return failed(Reason.SIGNAL)
    broken = [t for t in tests if t.status in _FAILED]
    if broken:
        return failed(Reason.TEST_FAILED, _first_line(broken[0].message) or broken[0].test)
    if exit_code > 0:
        return failed(Reason.EXIT_CODE)
    if bad_results:
        return failed(Reason.BAD_RESULTS, bad_results)
    over = _within_limits(counts, limits or {})
    if over is not None:
        return over
    if missing_outputs:  # only a job that would have passed: else its failure says more
        return failed(Reason.MISSING_OUTPUT, missing_outputs)
    return Verdict(status=Status.PASSED, reason=Reason.NONE, first_error=first)


def _within_limits(counts: Counts, limits: Mapping[str, int]) -> Verdict | None:
    """A failure when the messages exceed the job's limits, else None."""
    allowed = {**DEFAULT_LIMITS, **limits}
    over = (
        ("critical", counts.criticals, counts.first_error),
        ("error", counts.errors - counts.criticals, counts.first_error),
        ("warning", counts.warnings, counts.first_warning),
    )
    for level, count, example in over:
        most = allowed.get(level)
        if most is None or count <= most:
            continue
        if level not in limits:  # the default: no ERROR or CRITICAL lines at all
            return Verdict(status=Status.FAILED, reason=Reason.ERROR_IN_LOG, first_error=example)
        why = f"{count} {level} messages, more than the limit of {most}"
        return Verdict(
            status=Status.FAILED,
            reason=Reason.LIMIT,
            first_error=f"{why}; the first: {example}" if example else why,
        )
    return None


def _first_line(text: str) -> str:
    return text.strip().split("\n", 1)[0].strip()
