"""Build alu.v once, or run its cocotb tests on that build: the two kinds of job of
examples/cocotb/regression.yaml. Uses cocotb's own Python runner with Icarus Verilog.

    python run.py build BUILD_DIR          (ALU_BUG=1 builds the buggy ALU)
    python run.py test BUILD_DIR/sim.vvp SEED RESULTS_XML
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from cocotb_tools.runner import get_runner

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    runner = get_runner("icarus")
    mode, built = argv[0], Path(argv[1]).resolve()
    build_dir = built if mode == "build" else built.parent
    if mode == "build":
        defines = {"ALU_BUG": 1} if os.environ.get("ALU_BUG", "0") not in ("", "0") else {}
        runner.build(
            sources=[HERE / "alu.v"],
            hdl_toplevel="alu",
            defines=defines,
            build_dir=build_dir,
            always=True,
        )
        return 0
    seed, results = argv[2], Path(argv[3]).resolve()
    runner.test(
        test_module="test_alu",
        hdl_toplevel="alu",
        hdl_toplevel_lang="verilog",  # the build ran in another process
        build_dir=build_dir,
        test_dir=results.parent,
        results_xml=str(results),
        seed=seed,
        extra_env={"PYTHONPATH": str(HERE)},
    )
    return 0  # cocotb's runner exits 0 even when tests fail: results.xml tells


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
