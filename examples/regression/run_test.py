"""Pretend to run one seeded UVM simulation and print a UVM-style log.

Run by examples/regression.yaml as
`python3 regression/run_test.py --seed "{{ seed }}" --test NAME`, with the build that
regression/compile.py left in $GATOR_INPUT_BUILD.
Outcomes are fixed by (test, seed), so every run of the regression fails the same way:
see FAILURES. Writes result.json into $GATOR_JOB_DIR when gator provides one.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

# test name -> (transactions, seconds of wall time per 100 transactions)
TESTS = {"smoke": (200, 0.50), "random_rw": (600, 0.30), "stress": (1000, 0.28)}

# (test, seed) -> how that run goes wrong. Real simulators usually exit 0 after
# UVM_ERROR, so those runs fail only because of what they log.
FAILURES = {
    ("random_rw", 3): "mismatch",
    ("stress", 5): "mismatch",
    ("smoke", 6): "protocol",
    ("random_rw", 6): "fatal",
    ("stress", 2): "hang",
}

CYCLE_PS = 10_000  # 100 MHz clock; UVM times are printed in ps


class Log:
    """Prints UVM report lines and counts them, as the UVM report server does."""

    def __init__(self) -> None:
        self.severities: Counter[str] = Counter()
        self.ids: Counter[str] = Counter()
        self.first_error = ""

    def report(
        self, severity: str, where: str, time_ps: int, who: str, ident: str, text: str
    ) -> None:
        origin = f"{where} " if where else ""
        print(f"UVM_{severity} {origin}@ {time_ps}: {who} [{ident}] {text}")
        self.severities[severity] += 1
        self.ids[ident] += 1
        if severity in ("ERROR", "FATAL") and not self.first_error:
            self.first_error = f"[{ident}] {text}"

    def summary(self) -> None:
        print("\n--- UVM Report Summary ---\n")
        print("** Report counts by severity")
        for severity in ("INFO", "WARNING", "ERROR", "FATAL"):
            print(f"UVM_{severity} : {self.severities[severity]:4d}")
        print("** Report counts by id")
        for ident, count in sorted(self.ids.items()):
            print(f"[{ident}] {count:5d}")


def save(result: dict[str, object]) -> None:
    """Write result.json for the report job (nowhere when run by hand)."""
    job_dir = os.environ.get("GATOR_JOB_DIR")
    if job_dir:
        Path(job_dir, "result.json").write_text(json.dumps(result, indent=2) + "\n")


def go_wrong(log: Log, failure: str, rng: random.Random, now: int) -> None:
    """Log the failure planned for this (test, seed)."""
    if failure == "mismatch":
        for _ in range(2):
            addr = rng.randrange(0, 1 << 16, 4)
            want = rng.getrandbits(32)
            got = want ^ (1 << rng.randrange(32))
            log.report(
                "ERROR",
                "tb/env/scoreboard.sv(112)",
                now,
                "uvm_test_top.env.scoreboard",
                "SCBD",
                f"Mismatch at addr 0x{addr:08x}: expected 0x{want:08x}, got 0x{got:08x}",
            )
            now += rng.randrange(40, 400) * CYCLE_PS
    elif failure == "protocol":
        log.report(
            "ERROR",
            "tb/agent/bus_monitor.sv(201)",
            now,
            "uvm_test_top.env.agent.monitor",
            "PROTO",
            "VALID deasserted before READY (channel W, beat 3)",
        )


def simulate(log: Log, test: str, seed: int) -> bool:
    """Print the run; return False if it ended in UVM_FATAL."""
    transactions, per_100_s = TESTS[test]
    failure = FAILURES.get((test, seed), "")
    rng = random.Random(f"{test}:{seed}")
    now = 0
    scoreboard: list[bytes] = []  # grows as transactions complete, for the memory plot
    log.report("INFO", "", 0, "reporter", "RNTST", f"Running test {test}_test...")
    log.report(
        "INFO",
        "tb/env/tb_env.sv(41)",
        0,
        "uvm_test_top.env",
        "CFG",
        f"seed={seed} transactions={transactions}",
    )
    fail_at = 100 * rng.randrange(1, transactions // 100)  # never the last batch
    for done in range(100, transactions + 1, 100):
        time.sleep(per_100_s * rng.uniform(0.8, 1.2))
        now += rng.randrange(900, 1300) * CYCLE_PS
        scoreboard.append(bytes([done % 251 + 1]) * (3 << 20))
        log.report(
            "INFO",
            "tb/seq/rw_seq.sv(57)",
            now,
            "uvm_test_top.env.agent.sequencer@@seq",
            "SEQ",
            f"Sent {done}/{transactions} transactions",
        )
        if rng.random() < 0.15:
            log.report(
                "WARNING",
                "tb/agent/bus_monitor.sv(133)",
                now,
                "uvm_test_top.env.agent.monitor",
                "BUSIDLE",
                f"Bus idle for {rng.randrange(64, 512)} cycles",
            )
        if done == fail_at and failure == "hang":
            log.report(
                "INFO",
                "tb/agent/bus_driver.sv(88)",
                now,
                "uvm_test_top.env.agent.driver",
                "DRV",
                "Waiting for grant...",
            )
            time.sleep(30)  # never granted: the spec's timeout stops the run
        if done == fail_at and failure == "fatal":
            log.report(
                "FATAL",
                "tb/agent/bus_driver.sv(96)",
                now,
                "uvm_test_top.env.agent.driver",
                "DRVTO",
                "Timed out waiting for grant after 1000 cycles",
            )
            return False
        if done == fail_at:
            go_wrong(log, failure, rng, now)
    log.report(
        "INFO",
        "uvm_objection.svh(1271)",
        now,
        "reporter",
        "TEST_DONE",
        "'run' phase is ready to proceed to the 'extract' phase",
    )
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--test", choices=sorted(TESTS), required=True)
    options = parser.parse_args()
    if isinstance(sys.stdout, io.TextIOWrapper):
        # Line by line even into a pipe, so gator shows progress as it happens.
        sys.stdout.reconfigure(line_buffering=True)
    started = time.monotonic()
    result: dict[str, object] = {"test": options.test, "seed": options.seed, "status": "running"}
    save(result)  # a run that is killed leaves "running" behind for the report

    log = Log()
    build = os.environ.get("GATOR_INPUT_BUILD")
    if build:  # the compile job's artefact, handed over by gator
        top = json.loads(Path(build).read_text())["top"]
        print(f"- loading {top} from {build}")
    finished = simulate(log, options.test, options.seed)
    log.summary()
    print("- tb/tb_top.sv:32: Verilog $finish")
    errors = log.severities["ERROR"] + log.severities["FATAL"]
    result.update(
        status="passed" if errors == 0 else "failed",
        errors=log.severities["ERROR"],
        fatals=log.severities["FATAL"],
        warnings=log.severities["WARNING"],
        first_error=log.first_error,
        wall_s=round(time.monotonic() - started, 3),
    )
    save(result)
    # UVM_ERROR alone leaves the exit status at 0, as with most simulators;
    # this simulator exits 1 after UVM_FATAL.
    return 0 if finished else 1


if __name__ == "__main__":
    sys.exit(main())
