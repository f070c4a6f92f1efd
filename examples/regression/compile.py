"""Pretend to Verilate and build a testbench: compiler-like output, CPU and memory.

Run by examples/regression.yaml as `python3 regression/compile.py --top tb_top`.
Writes build.json into $GATOR_JOB_DIR when gator provides one.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import time
from pathlib import Path

SOURCES = [
    "rtl/fifo.sv",
    "rtl/arbiter.sv",
    "rtl/bus_if.sv",
    "rtl/dut_top.sv",
    "tb/tb_pkg.sv",
    "tb/tb_top.sv",
]

# Two width warnings, printed the way Verilator prints them with -Wno-fatal.
WARNINGS = [
    (
        "rtl/fifo.sv:42:18",
        "Operator ASSIGN expects 8 bits on the Assign RHS, but Assign RHS's "
        "VARREF 'wr_ptr' generates 9 bits.",
        "tb_top.dut.u_fifo",
    ),
    (
        "rtl/arbiter.sv:77:25",
        "Operator EQ expects 4 bits on the RHS, but RHS's CONST '3'h5' generates 3 bits.",
        "tb_top.dut.u_arb",
    ),
]


def burn(seconds: float) -> int:
    """Keep one core busy for about `seconds`, so the CPU plot has a bump."""
    end = time.monotonic() + seconds
    digest = b"gator"
    rounds = 0
    while time.monotonic() < end:
        digest = hashlib.sha256(digest).digest()
        rounds += 1
    return rounds


def elaborate(top: str) -> list[bytes]:
    """Grow to about 50 MB in steps (filled bytes, so the pages are resident)."""
    netlist = []
    for step in range(5):
        netlist.append(bytes([step + 1]) * (10 << 20))
        print(f"- Elaborating {top}: {(step + 1) * 10} MB of netlist")
        time.sleep(0.06)
    return netlist


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--top", default="tb_top")
    options = parser.parse_args()
    if isinstance(sys.stdout, io.TextIOWrapper):
        # Line by line even into a pipe, so gator shows progress as it happens.
        sys.stdout.reconfigure(line_buffering=True)
    started = time.monotonic()

    print("- Verilator 5.020 2024-01-01 rev v5.020 (mod)")
    for source in SOURCES:
        print(f"- Parsing {source}")
        time.sleep(0.03)
    netlist = elaborate(options.top)
    for where, text, instance in WARNINGS:
        print(f"%Warning-WIDTH: {where}: {text}")
        print(f"                                  : ... In instance {instance}")
        print(
            "                ... For warning description see "
            "https://verilator.org/warn/WIDTH?v=5.020"
        )
    burn(0.35)
    print(f"- V e r i l a t i o n   R e p o r t: {options.top}, 2 warnings")
    for unit in ("Vtb_top__ALL", "Vtb_top__Syms", "verilated", "verilated_vpi"):
        print(f"g++ -O2 -std=c++17 -c -o obj_dir/{unit}.o obj_dir/{unit}.cpp")
        burn(0.08)
    print(f"g++ obj_dir/*.o -o obj_dir/V{options.top}")

    wall_s = time.monotonic() - started
    size_mb = sum(len(chunk) for chunk in netlist) / (1 << 20)
    print(
        f"- Verilator: Walltime {wall_s:.3f} s; cpu {time.process_time():.3f} s; "
        f"alloced {size_mb:.3f} MB"
    )
    job_dir = os.environ.get("GATOR_JOB_DIR")
    if job_dir:
        build = {"top": options.top, "sources": SOURCES, "warnings": len(WARNINGS)}
        Path(job_dir, "build.json").write_text(json.dumps(build, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
