"""Summarise the regression from the result.json files the tests left behind.

Run by examples/regression.yaml as `python3 regression/report.py` once every test
has finished. Looks for results under $GATOR_RUN_DIR (or the directory given with
--results); runs that were killed or never started simply have no verdict.
Writes summary.json into $GATOR_JOB_DIR when gator provides one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from pathlib import Path


def load_results(root: Path) -> list[dict[str, object]]:
    """Every readable result.json under root; unreadable ones are reported, not fatal."""
    results = []
    for path in sorted(root.rglob("result.json")):
        try:
            results.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            print(f"skipping {path}: {exc}")
    return results


def verdict(result: dict[str, object]) -> str:
    """passed, failed, or no verdict (the run was stopped before it finished)."""
    status = str(result.get("status", ""))
    return status if status in ("passed", "failed") else "no verdict"


def summarise(results: list[dict[str, object]]) -> dict[str, dict[str, int]]:
    """Counts of each verdict per test name."""
    table: dict[str, dict[str, int]] = defaultdict(
        lambda: {"passed": 0, "failed": 0, "no verdict": 0}
    )
    for result in results:
        table[str(result.get("test", "?"))][verdict(result)] += 1
    return dict(sorted(table.items()))


def print_report(results: list[dict[str, object]]) -> None:
    """The table, then one line per run that did not pass."""
    table = summarise(results)
    print(f"{'test':<12}{'runs':>6}{'passed':>8}{'failed':>8}{'no verdict':>12}")
    for test, counts in table.items():
        runs = sum(counts.values())
        print(
            f"{test:<12}{runs:>6}{counts['passed']:>8}{counts['failed']:>8}"
            f"{counts['no verdict']:>12}"
        )
    for result in sorted(results, key=lambda r: (str(r.get("test")), str(r.get("seed")).zfill(9))):
        if verdict(result) == "passed":
            continue
        # The first error is quoted without its UVM_ERROR prefix: this report is a
        # summary, and its own log should not count as failing.
        why = result.get("first_error") or "stopped before the end (timeout?)"
        print(f"  {result.get('test')} seed {result.get('seed')}: {why}")
    passed = sum(counts["passed"] for counts in table.values())
    print(f"{passed} of {len(results)} runs passed")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", type=Path, default=None)
    options = parser.parse_args()
    root = options.results or Path(os.environ.get("GATOR_RUN_DIR", "."))
    results = load_results(root)
    if not results:
        print(f"no test results found under {root}")
        return 0
    print_report(results)
    job_dir = os.environ.get("GATOR_JOB_DIR")
    if job_dir:
        summary = {"tests": summarise(results), "runs": len(results)}
        Path(job_dir, "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
