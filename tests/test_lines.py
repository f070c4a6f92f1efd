"""Line splitting and severity tagging (gator_nb.engine.lines)."""

from __future__ import annotations

import time
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gator_nb.display import display_text
from gator_nb.engine.lines import Splitter, severity_of
from gator_nb.events import LineBlock, Message, Severity

DBG, INF, WRN, ERR, CRIT = (
    Severity.DEBUG,
    Severity.INFO,
    Severity.WARNING,
    Severity.ERROR,
    Severity.CRITICAL,
)

# (line as displayed, severity its content decides); grouped by the tool that prints it.
SEVERITIES = [
    # UVM (VCS/Xcelium print it bare, Questa prefixes its transcript with "# ")
    ("UVM_INFO /proj/tb/test.sv(42) @ 0: reporter [RNTST] Running test base_test...", INF),
    ("UVM_WARNING /proj/tb/env.sv(88) @ 1200: uvm_test_top.env [CFG] no config for agt", WRN),
    ("UVM_ERROR /path/tb.sv(123) @ 4500: uvm_test_top.env.sb [SCBD] Mismatch", ERR),
    ("UVM_FATAL /path/tb.sv(9) @ 10: uvm_test_top [TIMEOUT] Watchdog expired", CRIT),
    ("UVM_ERROR @ 4500: uvm_test_top.env.sb [SCBD] Mismatch exp=0x3f got=0x00", ERR),
    ("# UVM_ERROR /path/tb.sv(123) @ 4500 ns: uvm_test_top.env.sb [SCBD] Mismatch", ERR),
    # the UVM report summary counts messages; it is not one
    ("UVM_INFO :   12", None),
    ("UVM_WARNING :    0", None),
    ("UVM_ERROR :    3", None),
    ("UVM_FATAL :    0", None),
    ("# UVM_ERROR :    3", None),
    # Verilator
    ("%Error: rtl/top.v:12:3: syntax error, unexpected ')'", ERR),
    ("%Error-UNOPTFLAT: rtl/top.v:30:16: Signal unoptimizable: Circular logic: 'top.a'", ERR),
    ("%Warning-WIDTH: rtl/top.v:5:19: Operator ASSIGNW expects 8 bits on the Assign RHS", WRN),
    ("%Warning-UNUSED: rtl/top.v:8:15: Signal is not used: 'spare'", WRN),
    ("%Fatal: rtl/tb.v:10: Assertion failed in top.tb", CRIT),
    ("%Error: Exiting due to 3 error(s)", ERR),
    # Questa / ModelSim
    ("** Error: (vsim-3033) tb.sv(10): Instantiation of 'foo' failed.", ERR),
    ("# ** Warning: (vsim-8315) tb.sv(33): No condition is true in the unique/priority if", WRN),
    ("# ** Fatal: (vsim-3421) Value 300 is out of range 0 to 255.", CRIT),
    ("# ** Note: $finish    : tb.sv(20)", INF),
    # VCS and Xcelium
    ("Error-[SE] Syntax error", ERR),
    ("Warning-[TFIPC] Too few instance port connections", WRN),
    ("xmvlog: *E,EXPSMC (./tb.sv,12|5): expecting a semicolon (';') [12.3.4(IEEE)].", ERR),
    ("xmelab: *W,CUVWSP (./tb.sv,3|4): 1 output port was not connected:", WRN),
    ("xmelab: *F,CUVMUR: instance of module/unit/interface/program not found.", CRIT),
    ("xmsim: *N,DSEMEL: This SystemVerilog design will be simulated.", INF),
    # Vivado: a critical warning is still a warning
    ("CRITICAL WARNING: [Constraints 18-619] A clock with name 'clk' already exists", WRN),
    ("ERROR: [Synth 8-439] module 'foo' not found", ERR),
    ("WARNING: [Synth 8-3331] design top has unconnected port led[3]", WRN),
    # Python logging: the default format and common custom ones
    ("ERROR:root:could not open /dev/ttyUSB0", ERR),
    ("WARNING:tb.driver:retrying transaction 3", WRN),
    ("CRITICAL:root:out of memory", CRIT),
    ("DEBUG:asyncio:Using selector: EpollSelector", DBG),
    ("INFO:root:started", INF),
    ("2024-01-01 12:00:00,123 - tb.scoreboard - ERROR - mismatch at 0x40", ERR),
    ("2024-01-01 12:00:00,123 - root - INFO - all good", INF),
    ("2024-01-01 12:00:00 ERROR something failed", ERR),
    ("2024-01-01 12:00:00,123 WARNING tb.driver: slow response", WRN),
    ("2024-01-01T12:00:00.123Z CRITICAL power lost", CRIT),
    ("[2024-01-01 12:00:00] [ERROR] write failed", ERR),
    ("12:00:00.123 | DEBUG | connecting to 10.0.0.2", DBG),
    ("ERROR    tb.test:test.py:12 scoreboard mismatch", ERR),
    ("[ERROR] Failed to execute goal on project app: Compilation failure", ERR),
    ("[warn] 1234#0: conflicting server name", WRN),
    ("[INFO] Building app 1.0", INF),
    # cocotb, including the gpi lines printed before simulation time exists
    ("     0.00ns INFO     cocotb.regression                  running test_x (1/2)", INF),
    ("  5000.00ns ERROR    cocotb.regression                  test_x failed", ERR),
    ("  1200.00ns WARNING  cocotb.tb                          late response", WRN),
    ("  9000.00ns CRITICAL cocotb.regression                  simulator crashed", CRIT),
    ("     0.00ns DEBUG    cocotb.scheduler                   scheduling coroutine", DBG),
    (
        "     -.--ns INFO     gpi                                ..mbed/gpi_embed.cpp:109  in"
        " set_program_name_in_venv        Did not detect Python virtual environment.",
        INF,
    ),
    ("     -.--ns WARNING  gpi                                ..s/FliImpl.cpp:1012 in get", WRN),
    ("     0.00ns ERROR    gpi                                ..VpiCbHdl.cpp:123 in reg", ERR),
    # plain prefixes
    ("ERROR: could not open file", ERR),
    ("Error: timeout waiting for lock", ERR),
    ("error: linker command failed", ERR),
    ("FATAL: no licence available", CRIT),
    ("Fatal: bad configuration", CRIT),
    ("fatal: not a git repository (or any of the parent directories): .git", CRIT),
    ("WARNING: deprecated option --foo", WRN),
    ("Warning: clock skew detected", WRN),
    ("warning: unused parameter", WRN),
    # compilers and linkers
    ("src/main.c:12:5: error: 'x' undeclared (first use in this function)", ERR),
    ("src/main.c:7:10: warning: unused variable 'y' [-Wunused-variable]", WRN),
    ("src/main.c:3:10: fatal error: missing.h: No such file or directory", CRIT),
    ("src/main.c:12:5: note: each undeclared identifier is reported only once", INF),
    ("collect2: error: ld returned 1 exit status", ERR),
    ("tb.v:3: error: Unknown module type: foo", ERR),
    ("/tmp/t.py:3: DeprecationWarning: x is deprecated", WRN),
    ("make: *** [Makefile:3: all] Error 2", ERR),
    ("make[1]: *** [sub/Makefile:9: lib.o] Error 1", ERR),
    ("FAILED: CMakeFiles/app.dir/main.c.o", ERR),
    # pytest
    ("FAILED tests/test_x.py::test_add - assert 1 == 2", ERR),
    ("E       assert 1 == 2", ERR),
    ("E   AssertionError: boom", ERR),
    ("ERROR tests/test_x.py::test_y - fixture 'db' not found", ERR),
    ("tests/test_x.py::test_add PASSED", None),
    # leading whitespace and colour codes do not hide a level
    ("\x1b[31mERROR: red alert", ERR),
    ("   \x1b[1;33mWARNING:\x1b[0m careful", WRN),
    ("\t  error: indented", ERR),
    # blank lines say nothing worth counting
    ("", INF),
    ("   ", INF),
    # ordinary sentences and counters
    ("0 errors found", None),
    ("no error", None),
    ("error_count=0", None),
    ("errors: 0", None),
    ("Errors: 0, Warnings: 2", None),
    ("Total errors: 0", None),
    ("Warnings: 12", None),
    ("ERRORS: 0", None),
    ("ERROR COUNT: 0", None),
    ("Warning count = 2", None),
    ("Error rate: 0.1%", None),
    ("Error-free run completed", None),
    ("The ERROR register is clear", None),
    ("checking for error handling... yes", None),
    ("Simulation finished with 0 errors and 0 warnings", None),
    ("INFO_ERROR_MASK = 0x3", None),
    ("UVM_ERROR_COUNT=0", None),
    ("warnings_as_errors = False", None),
    ("DEBUG=1 make all", None),
    ("Notes: error handling improved", None),
    ("/usr/bin/ld: cannot find -lfoo", None),
    ("3 ERROR(S) in total", None),
]


@pytest.mark.parametrize(("text", "expected"), SEVERITIES)
def test_severity_of(text: str, expected: Severity | None) -> None:
    assert severity_of(text) is expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"plain", "plain"),
        (b"", ""),
        (b"10%\r20%\r30%", "30%"),
        (b"abc\r", "abc"),
        (b"abc\r\r", "abc"),
        (b"a\r\rb", "b"),
        (b"\rlate", "late"),
        (b"\x1b[31mred\x1b[0m text", "red text"),
        (b"\x1b]0;window title\x07text", "text"),
        (b"progress 50%\r\x1b[2Kdone", "done"),
        (b"\x1b\x1b[0m[31mnested", "nested"),
        (b"caf\xc3\xa9", "caf\u00e9"),
        (b"bad \xff\xfe bytes", "bad \ufffd\ufffd bytes"),
        (b"cut \xe2\x82", "cut \ufffd"),
    ],
)
def test_display_text(raw: bytes, expected: str) -> None:
    assert display_text(raw) == expected


def feed_all(splitter: Splitter, chunks: list[bytes], first_line: int = 0) -> list[LineBlock]:
    """Feed chunks and flush; number lines on as the engine does."""
    blocks = []
    line = first_line
    for chunk in chunks:
        block = splitter.feed(chunk, 1.5, line)
        if block is not None:
            blocks.append(block)
            line += block.count
    block = splitter.flush(2.5, line)
    if block is not None:
        blocks.append(block)
    return blocks


def messages(blocks: list[LineBlock]) -> list[tuple[int, Severity, str]]:
    return [(m.line_no, m.severity, m.text) for b in blocks for m in b.messages]


def test_feed_returns_whole_lines_and_keeps_the_rest() -> None:
    splitter = Splitter("stdout", INF)
    assert splitter.feed(b"partial", 1.0, 0) is None
    block = splitter.feed(b" line\nERROR: bad\nnext", 2.0, 7)
    assert block == LineBlock(
        stream="stdout",
        time=2.0,
        first_line=7,
        count=2,
        data=b"partial line\nERROR: bad\n",
        messages=(Message(line_no=8, severity=ERR, text="ERROR: bad"),),
    )
    last = splitter.flush(3.0, 9)
    assert last == LineBlock(stream="stdout", time=3.0, first_line=9, count=1, data=b"next\n")
    assert splitter.flush(4.0, 10) is None


def test_stdout_messages_are_the_lines_that_are_not_info() -> None:
    lines = [
        "UVM_INFO t.sv(1) @ 0: top [A] hello",
        "DEBUG:root:details",
        "plain output",
        "%Warning-WIDTH: t.v:1:2: width",
        "INFO:root:fine",
        "UVM_ERROR :    3",
        "E   assert False",
    ]
    blocks = feed_all(Splitter("stdout", INF), [("\n".join(lines) + "\n").encode()], 100)
    assert messages(blocks) == [
        (101, DBG, "DEBUG:root:details"),
        (103, WRN, "%Warning-WIDTH: t.v:1:2: width"),
        (106, ERR, "E   assert False"),
    ]


def test_stderr_lines_are_warnings_unless_their_content_says_otherwise() -> None:
    data = b"oops\nINFO:root:fine\nERROR: broken\n\n  \nUVM_ERROR :    3\n"
    blocks = feed_all(Splitter("stderr", WRN), [data])
    assert [b.stream for b in blocks] == ["stderr"]
    assert messages(blocks) == [
        (0, WRN, "oops"),
        (2, ERR, "ERROR: broken"),
        (5, WRN, "UVM_ERROR :    3"),
    ]


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_a_line_may_end_in_any_chunk(stream: str) -> None:
    data = "ERROR: caf\u00e9 \u2603 is cold\r\nnext line\n".encode()
    splitter_default = INF if stream == "stdout" else WRN
    want = feed_all(Splitter(stream, splitter_default), [data])
    for cut in range(1, len(data)):  # inside the multi-byte characters, between "\r" and "\n"
        got = feed_all(Splitter(stream, splitter_default), [data[:cut], data[cut:]])
        assert b"".join(b.data for b in got) == data
        assert messages(got) == messages(want)
    assert messages(want)[0] == (0, ERR, "ERROR: caf\u00e9 \u2603 is cold")


def test_byte_at_a_time() -> None:
    data = b"a\nb\r\nWARNING: c\n\nlast"
    blocks = feed_all(Splitter("stdout", INF), [data[i : i + 1] for i in range(len(data))])
    assert b"".join(b.data for b in blocks) == data + b"\n"
    assert [b.count for b in blocks] == [1, 1, 1, 1, 1]
    assert [b.first_line for b in blocks] == [0, 1, 2, 3, 4]
    assert messages(blocks) == [(2, WRN, "WARNING: c")]


def test_a_2_mb_line_over_many_chunks() -> None:
    line = b"ERROR: " + b"x" * (2 * 1024 * 1024) + b" end"
    data = line + b"\n"
    chunks = [data[i : i + 65536] for i in range(0, len(data), 65536)] + [b"after\n"]
    blocks = feed_all(Splitter("stdout", INF), chunks, 5)
    assert [b.count for b in blocks] == [1, 1]
    assert blocks[0].data == line + b"\n"
    assert messages(blocks) == [(5, ERR, line.decode())]


def test_a_huge_line_costs_linear_time() -> None:
    # Rescanning or re-joining the partial line per chunk would take minutes here.
    splitter = Splitter("stderr", WRN)
    chunk = b"y" * 4096
    start = time.process_time()
    for _ in range(8192):  # 32 MiB
        assert splitter.feed(chunk, 0.0, 0) is None
    block = splitter.feed(b"\n", 0.0, 0)
    assert time.process_time() - start < 5.0
    assert block is not None
    assert len(block.data) == 32 * 1024 * 1024 + 1
    assert len(block.messages[0].text) == 32 * 1024 * 1024


def test_progress_redraws_make_one_line() -> None:
    blocks = feed_all(Splitter("stderr", WRN), [b"10%\r20%\r", b"30%\n"])
    assert [(b.count, b.data) for b in blocks] == [(1, b"10%\r20%\r30%\n")]
    assert messages(blocks) == [(0, WRN, "30%")]


def test_only_the_final_redraw_decides_the_severity() -> None:
    data = b"ERROR: stale\rall good\nworking\rWARNING: now\n"
    blocks = feed_all(Splitter("stdout", INF), [data])
    assert messages(blocks) == [(1, WRN, "WARNING: now")]


def test_invalid_utf8_is_kept_raw_and_shown_replaced() -> None:
    data = b"ERROR: \xff\xfe bad\n\xc3\n"
    blocks = feed_all(Splitter("stderr", WRN), [data])
    assert b"".join(b.data for b in blocks) == data
    assert messages(blocks) == [(0, ERR, "ERROR: \ufffd\ufffd bad"), (1, WRN, "\ufffd")]


def test_final_line_without_newline_is_flushed() -> None:
    splitter = Splitter("stdout", INF)
    first = splitter.feed(b"one\nFATAL: tail", 1.0, 0)
    assert first is not None
    assert (first.count, first.data, first.messages) == (1, b"one\n", ())
    last = splitter.flush(2.0, 1)
    assert last == LineBlock(
        stream="stdout",
        time=2.0,
        first_line=1,
        count=1,
        data=b"FATAL: tail\n",
        messages=(Message(line_no=1, severity=CRIT, text="FATAL: tail"),),
    )


def test_a_final_redraw_without_newline() -> None:
    blocks = feed_all(Splitter("stderr", WRN), [b"done\n50%\r99%\r"])
    assert messages(blocks) == [(0, WRN, "done"), (1, WRN, "99%")]
    assert blocks[-1].data == b"50%\r99%\r\n"


def test_empty_lines_count_but_say_nothing() -> None:
    for stream, default in (("stdout", INF), ("stderr", WRN)):
        blocks = feed_all(Splitter(stream, default), [b"\n\n", b"\r\n\n"])
        assert sum(b.count for b in blocks) == 4
        assert messages(blocks) == []


def test_crlf_line_endings() -> None:
    data = b"ERROR: x\r\nok\r\n  warning: y\r\r\n"
    blocks = feed_all(Splitter("stdout", INF), [data])
    assert blocks[0].data == data
    assert blocks[0].count == 3
    assert messages(blocks) == [(0, ERR, "ERROR: x"), (2, WRN, "  warning: y")]


def test_ansi_colour_around_a_level() -> None:
    data = (
        b"\x1b[1;31mERROR:\x1b[0m boom\n"
        b"\x1b[33m  warning: soft\x1b[0m\n"
        b"fine \x1b[31mERROR\n"
        b"  5000.00ns \x1b[31mERROR   \x1b[39m cocotb.regression  test_x failed\n"
    )
    blocks = feed_all(Splitter("stdout", INF), [data])
    assert messages(blocks) == [
        (0, ERR, "ERROR: boom"),
        (1, WRN, "  warning: soft"),
        (3, ERR, "  5000.00ns ERROR    cocotb.regression  test_x failed"),
    ]


def test_first_line_of_every_block_is_classified() -> None:
    # Lowercase prefixes are found from the newline before them; the first line has none.
    chunks = [b"error: one\n", b"warning: two\nok\n", b"fatal: three\n"]
    blocks = feed_all(Splitter("stdout", INF), chunks)
    assert messages(blocks) == [
        (0, ERR, "error: one"),
        (1, WRN, "warning: two"),
        (3, CRIT, "fatal: three"),
    ]


# Pieces from which lines are built: fragments of every rule, plus noise that could confuse
# the one-pass scan (escapes, carriage returns, bytes that are not UTF-8).
TOKENS = [
    b"ERROR", b"Error", b"error", b"WARNING", b"WARN", b"Warning", b"warning", b"FATAL",
    b"Fatal", b"fatal", b"CRITICAL", b"DEBUG", b"INFO", b"Note", b"note", b"UVM_", b"%",
    b"** ", b"# ", b"#", b"[", b"]", b":", b": ", b" ", b"  ", b"\t", b"-", b" - ", b" | ",
    b"E", b"E   ", b"FAILED", b"::", b"3", b"12", b"0.00ns", b"-.--ns", b"5us",
    b"2024-01-01 12:00:00,123", b"12:00:00", b"T", b"Z", b"t.c", b"t.c:12:5:", b"tb.sb",
    b"*E,", b"*W,", b"*N,", b"X", b"make", b"make[1]", b": *** ", b"Error 2", b"UserWarning:",
    b"s", b"count", b"=", b"fatal error:", b"-[SE]", b"\x1b[31m", b"\x1b[0m", b"\x1b]0;t\x07",
    b"\x1b", b"\r", b"\xff", b"\xc3", b"\xc3\xa9", b"x",
]  # fmt: skip
LINES = st.lists(st.lists(st.sampled_from(TOKENS), max_size=8).map(b"".join), max_size=30)


def reference(lines: list[bytes], default: Severity) -> list[tuple[int, Severity, str]]:
    """What the block scan must find: every line classified one by one (on a stream whose
    default is not INFO, an indented line after a message continues it: not counted)."""
    found = []
    head = -1
    for number, line in enumerate(lines):
        text = display_text(line)
        indent = len(text) - len(text.lstrip(" \t"))
        if text.strip(" \t") and default is not INF and 0 <= head < indent:
            continue
        if text.strip(" \t"):
            head = indent
        severity = severity_of(text) or default
        if severity is not INF:
            found.append((number, severity, text))
    return found


@settings(max_examples=300, deadline=None)
@given(lines=LINES, cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=6))
def test_block_scan_agrees_with_line_by_line_classification(
    lines: list[bytes], cuts: list[int]
) -> None:
    data = b"".join(line + b"\n" for line in lines)
    bounds = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    chunks = [data[a:b] for a, b in pairwise(bounds)]
    for stream, default in (("stdout", INF), ("stderr", WRN)):
        blocks = feed_all(Splitter(stream, default), chunks)
        assert messages(blocks) == reference(lines, default)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=3000), cuts=st.lists(st.integers(min_value=0), max_size=12))
def test_blocks_hold_exactly_the_input(data: bytes, cuts: list[int]) -> None:
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    chunks = [data[a:b] for a, b in pairwise(bounds)]
    whole = data if data.endswith(b"\n") or not data else data + b"\n"
    for stream, default in (("stdout", INF), ("stderr", WRN)):
        blocks = feed_all(Splitter(stream, default), chunks, 3)
        assert b"".join(b.data for b in blocks) == whole
        assert sum(b.count for b in blocks) == whole.count(b"\n")
        assert all(b.count == b.data.count(b"\n") for b in blocks)
        starts = [b.first_line for b in blocks]
        assert starts == [3 + sum(b.count for b in blocks[:i]) for i in range(len(blocks))]
        for block in blocks:
            assert all(
                block.first_line <= m.line_no < block.first_line + block.count
                for m in block.messages
            )
