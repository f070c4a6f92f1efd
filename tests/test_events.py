"""Events and their vocabularies: statuses, reasons, severities (stored as their values)."""

from __future__ import annotations

from gator_nb.events import JobFinished, Reason, Severity, Status


def test_done_statuses() -> None:
    assert [s.value for s in Status if s.done] == ["passed", "failed", "skipped", "cancelled"]


def test_reasons_are_their_words_and_a_pass_has_none() -> None:
    assert JobFinished(job="j", time=0.0, status=Status.PASSED).reason == ""
    assert Reason("worker-lost") is Reason.WORKER_LOST
    assert {r.value for r in Reason} >= {
        "exit-code", "signal", "timeout", "error-in-log", "launch", "lost", "internal",
        "license", "dependency", "cancelled", "worker-lost", "scheduler-lost", "dask-cancelled",
    }  # fmt: skip


def test_severities_are_the_logging_levels() -> None:
    assert [(s.name, int(s)) for s in Severity] == [
        ("DEBUG", 10), ("INFO", 20), ("WARNING", 30), ("ERROR", 40), ("CRITICAL", 50),
    ]  # fmt: skip
