"""Micro benchmark of line splitting and severity tagging: typical simulation output in chunks.

Run: ``.venv/bin/python benchmarks/bench_lines.py [--lines N] [--bad FRACTION] [--repeat R]``.
Prints the best of R runs in lines/s, for stdout (default INFO) and stderr (default WARNING).
"""

from __future__ import annotations

import argparse
import random
import time

from gator_nb.engine.lines import Splitter
from gator_nb.events import Severity

__all__ = ["main"]

CHUNK = 65536  # what the engine reads from a pipe at a time

# Typical lines (~80 bytes) from UVM, cocotb, Python logging and plain simulator prints.
ORDINARY = (
    "UVM_INFO /proj/tb/env/agent_driver.sv({n}) @ {t}: uvm_test_top.env.agt.drv [DRV] item {n}",
    "{t:>10}.00ns INFO     cocotb.tb.monitor                 txn addr=0x{n:04x} data=0x{t:08x}",
    "2024-05-01 12:00:{s:02d},{n:03d} - tb.scoreboard - INFO - compared {n} of {t} transactions",
    "[{t:>10}] tb.dut.fifo: push data=0x{n:08x} level={s} (watermark {n})",
    "INFO:root:step {n} finished in {s}.{n:03d} s, checksum 0x{t:08x} matches golden",
    "sim: cycle {t} state=IDLE next=FETCH pc=0x{n:08x} instr=0x{t:08x} stall=0",
)
BAD = (
    "UVM_ERROR /proj/tb/env/scoreboard.sv(88) @ {t}: uvm_test_top.env.sb [SCBD] Mismatch {n}",
    "{t:>10}.00ns WARNING  cocotb.tb.monitor                 late response for txn {n}",
    "%Warning-WIDTH: rtl/top.v:{n}:3: Operator ASSIGN expects 8 bits on the Assign RHS",
)


def _output(lines: int, bad: float, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    out = []
    for _ in range(lines):
        template = rng.choice(BAD if rng.random() < bad else ORDINARY)
        out.append(
            template.format(n=rng.randrange(1000), t=rng.randrange(10**7), s=rng.randrange(60))
        )
    return ("\n".join(out) + "\n").encode()


def _time(data: bytes, stream: str, default: Severity, repeat: int) -> tuple[float, int, int]:
    """Best CPU time over ``repeat`` runs, and the lines and messages found."""
    chunks = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]
    best = float("inf")
    lines = messages = 0
    for _ in range(repeat):
        splitter = Splitter(stream, default)
        lines = messages = 0
        start = time.process_time()
        for chunk in chunks:
            block = splitter.feed(chunk, 0.0, lines)
            if block is not None:
                lines += block.count
                messages += len(block.messages)
        best = min(best, time.process_time() - start)
    return best, lines, messages


def main() -> None:
    """Split and tag the lines as stdout and as stderr; print lines/s."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--bad", type=float, default=0.03, help="fraction of WARNING/ERROR")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    data = _output(args.lines, args.bad)
    print(f"{args.lines:,} lines, {len(data) / args.lines:.0f} bytes/line, {CHUNK} B chunks")
    for stream, default in (("stdout", Severity.INFO), ("stderr", Severity.WARNING)):
        seconds, lines, messages = _time(data, stream, default, args.repeat)
        assert lines == args.lines, (lines, args.lines)
        print(
            f"{stream}: {lines / seconds:12,.0f} lines/s ({seconds:.3f} s CPU, "
            f"{messages:,} messages)"
        )


if __name__ == "__main__":
    main()
