"""What the field's real tools print, classified: Icarus and vvp, Verilator, cocotb on Icarus,
CPython tracebacks. The fixtures are the tools' own output (tests/fixtures/tools/capture.sh).
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest

from gator_nb.engine.lines import Splitter
from gator_nb.engine.rules import rules_for
from gator_nb.events import LineBlock, Severity

TOOLS = Path(__file__).parent / "fixtures" / "tools"
E, W, C = Severity.ERROR, Severity.WARNING, Severity.CRITICAL


def classify(
    data: bytes, default: Severity, *, cuts: int = 1, rules: object = None
) -> list[tuple[int, str, str]]:
    """(line, severity, text) of every counted line, the data fed in ``cuts`` chunks."""
    splitter = Splitter("s", default, rules)  # type: ignore[arg-type]
    size = max(len(data) // cuts, 1)
    bounds = [*range(0, len(data), size), len(data)]
    blocks: list[LineBlock] = []
    line = 0
    for a, b in pairwise(bounds):
        block = splitter.feed(data[a:b], 0.0, line)
        if block is not None:
            blocks.append(block)
            line += block.count
    last = splitter.flush(0.0, line)
    if last is not None:
        blocks.append(last)
    return [(m.line_no, m.severity.name, m.text) for b in blocks for m in b.messages]


def fixture(name: str) -> bytes:
    return (TOOLS / name).read_bytes()


@pytest.mark.parametrize("cuts", [1, 7, 200])
def test_icarus_syntax_errors_and_its_give_up(cuts: int) -> None:
    assert classify(fixture("iverilog.stderr"), W, cuts=cuts) == [
        (0, "ERROR", "bad.v:3: syntax error"),
        (1, "ERROR", "bad.v:3: error: invalid module item."),
        (2, "ERROR", "bad2.v:3: syntax error"),
        (3, "ERROR", "I give up."),
    ]


def test_vvp_system_tasks_with_their_time_lines() -> None:
    assert classify(fixture("vvp.stdout"), Severity.INFO) == [
        (0, "ERROR", "ERROR: rt.v:3: bad value 3"),
        (2, "WARNING", "WARNING: rt.v:4: careful"),
        (4, "CRITICAL", "FATAL: rt.v:5: giving up"),
    ]


@pytest.mark.parametrize("cuts", [1, 5, 300])
def test_a_verilator_diagnostic_with_continuation_lines_counts_once(cuts: int) -> None:
    found = classify(fixture("verilator.stderr"), W, cuts=cuts)
    assert [(n, s) for n, s, _ in found] == [
        (0, "WARNING"), (5, "WARNING"), (9, "WARNING"), (13, "ERROR"), (14, "ERROR"), (17, "ERROR"),
    ]  # fmt: skip
    assert fixture("verilator.stderr").count(b"\n") == 18  # 12 continuation lines not counted
    assert found[1][2].startswith("%Warning-WIDTH: w.v:2:12: Operator ASSIGNW expects 4 bits")


@pytest.mark.parametrize("cuts", [1, 9])
def test_cocotb_failed_test_is_an_error_whatever_level_cocotb_gave_it(cuts: int) -> None:
    found = classify(fixture("cocotb.stdout"), Severity.INFO, cuts=cuts)
    assert [(s, t.split()[-2:]) for _, s, t in found] == [
        ("WARNING", ["object", "NULL"]),  # vpi_iterate: harmless, and waivable (below)
        ("ERROR", ["test_alu.test_sub", "failed"]),  # cocotb 2.1 logs it at WARNING
    ]
    assert "WARNING  cocotb.regression" in found[1][2]


def test_cocotb_1x_logs_a_failure_at_info() -> None:
    line = b"  9.00ns INFO     cocotb.regression                  test_sub failed\n"
    assert classify(line, Severity.INFO) == [(0, "ERROR", line.decode().rstrip("\n"))]
    passed = b"  8.00ns INFO     cocotb.regression                  test_add passed\n"
    assert classify(passed, Severity.INFO) == []


@pytest.mark.parametrize("stream_default", [W, Severity.INFO])
@pytest.mark.parametrize("cuts", [1, 3, 700])
def test_a_python_traceback_is_one_error_carrying_its_last_line(
    stream_default: Severity, cuts: int
) -> None:
    data = fixture("python-traceback.stderr")
    found = classify(data, stream_default, cuts=cuts)
    last = data.decode().rstrip("\n").rsplit("\n", 1)[1]
    assert last.startswith("json.decoder.JSONDecodeError: Expecting property name")
    assert found == [(data.count(b"\n") - 1, "ERROR", last)]


def test_a_chained_traceback_is_one_error_per_exception() -> None:
    found = classify(fixture("python-chained.stderr"), W)
    assert [(s, t) for _, s, t in found] == [
        ("ERROR", "KeyError: 'key'"),
        ("ERROR", "RuntimeError: while handling the missing key"),
    ]


def test_lines_after_a_traceback_are_judged_again() -> None:
    data = b"Traceback (most recent call last):\n  File 'x'\nValueError: v\nWARNING: later\nplain\n"
    assert classify(data, Severity.INFO) == [
        (2, "ERROR", "ValueError: v"),
        (3, "WARNING", "WARNING: later"),
    ]
    # Inside a traceback, source lines that look like messages are part of it.
    inner = b"Traceback (most recent call last):\n    log('ERROR: not me')\nKeyError: k\n"
    assert classify(inner, Severity.INFO) == [(2, "ERROR", "KeyError: k")]


def test_severity_rules_waive_promote_and_the_nearest_wins() -> None:
    cocotb = fixture("cocotb.stdout")
    waive = rules_for((("vpi_iterate returned NULL", "INFO"),), ())
    assert [s for _, s, _ in classify(cocotb, Severity.INFO, rules=waive)] == ["ERROR"]
    ordered = rules_for((("Mismatch", "ERROR"), ("Mismatch at 0x0", "INFO")), ())
    data = b"Mismatch at 0x0\nMismatch at 0x1\nall fine\n"
    assert classify(data, Severity.INFO, rules=ordered) == [
        (0, "ERROR", "Mismatch at 0x0"),  # the first rule (the nearest node's) decides
        (1, "ERROR", "Mismatch at 0x1"),
    ]
    on_stderr = rules_for((("^note:", "INFO"),), ())
    assert classify(b"note: fyi\nsomething else\n", W, rules=on_stderr) == [
        (1, "WARNING", "something else")
    ]


def test_gator_metric_lines_and_metric_rules() -> None:
    rules = rules_for((), (("coverage", r"coverage: ([0-9.]+)%"),))
    splitter = Splitter("stdout", Severity.INFO, rules)
    data = (
        b"GATOR_METRIC hits=3 misses=1\n"
        b"[sim] $display: GATOR_METRIC hits=5\n"
        b"coverage: 40.5%\ncoverage: 87.5%\n"
        b"GATOR_METRIC bad=abc\n"
    )
    block = splitter.feed(data, 0.0, 0)
    assert block is not None
    assert block.metrics == (
        ("hits", 3.0), ("misses", 1.0), ("hits", 5.0), ("coverage", 40.5), ("coverage", 87.5),
    )  # fmt: skip
    assert splitter.unread == ["bad=abc"]
