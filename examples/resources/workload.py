"""Use memory and CPU in a known shape, for examples/resources.yaml.

    python3 resources/workload.py --mb 40 [--step 12] --seconds 2 [--cpu 0.5]

Grows to MB megabytes (plus STEP for each $GATOR_ARRAY_INDEX) over SECONDS, busy for
the CPU fraction of each 50 ms tick and asleep for the rest, then exits 0.
"""

from __future__ import annotations

import argparse
import os
import time

TICK_S = 0.05
MIB = 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, required=True, help="memory to grow to (MiB)")
    parser.add_argument("--step", type=float, default=0.0, help="extra MiB per array index")
    parser.add_argument("--seconds", type=float, required=True, help="how long to run")
    parser.add_argument("--cpu", type=float, default=0.1, help="busy fraction, 0 to 1")
    args = parser.parse_args()
    index = int(os.environ.get("GATOR_ARRAY_INDEX", "0"))
    target = int((args.mb + args.step * index) * MIB)
    ticks = max(1, round(args.seconds / TICK_S))
    chunks: list[bytes] = []
    held = 0
    for tick in range(1, ticks + 1):
        # b"x" * n writes every page, so the memory shows up in RSS (calloc'd zeros would not).
        grow = target * tick // ticks - held
        chunks.append(b"x" * grow)
        held += grow
        busy_until = time.monotonic() + TICK_S * args.cpu
        while time.monotonic() < busy_until:
            pass
        time.sleep(TICK_S * (1 - args.cpu))
        if tick % 10 == 0 or tick == ticks:
            print(f"INFO: {held / MIB:.0f} MiB held after {tick * TICK_S:.1f} s", flush=True)


if __name__ == "__main__":
    main()
