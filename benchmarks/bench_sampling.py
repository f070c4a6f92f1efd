"""The monitor's cost at 1,000 short jobs a second: each job lives 50 ms, so every job gets
its early sample (20 ms) and about 50 are sampled at once. Printed, not asserted.

Stand-ins for the jobs are 8 real `sleep` processes (a thousand real process starts a
second would measure the spawning, not the sampling): each added job points at one of them.
"""

from __future__ import annotations

import asyncio
import resource
import subprocess
import sys
import time

from gator_nb.engine.monitor import Monitor


async def main() -> int:
    procs = [subprocess.Popen(["sleep", "60"]) for _ in range(8)]  # noqa: ASYNC220 - set-up
    samples = 0

    def sink(_event: object) -> None:
        nonlocal samples
        samples += 1

    monitor = Monitor(sink, interval_s=1.0)
    sampling = asyncio.create_task(monitor.run())
    try:
        before = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter()
        live: list[tuple[float, str]] = []
        for i in range(3000):  # 3 s at 1,000 a second
            job = f"j{i}"
            monitor.add(job, procs[i % len(procs)].pid)
            live.append((time.perf_counter() + 0.05, job))
            while live and live[0][0] <= time.perf_counter():
                monitor.remove(live.pop(0)[1])
            await asyncio.sleep(max(start + (i + 1) / 1000 - time.perf_counter(), 0))
        for _, job in live:
            monitor.remove(job)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_SELF)
    finally:
        sampling.cancel()
        for proc in procs:
            proc.kill()
            proc.wait()
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    print(
        f"sampling at 1,000 jobs/s for {wall:.1f}s: {monitor.sweeps} sweeps"
        f" ({monitor.sweeps / wall:.0f}/s), {samples} samples ({samples / 3000:.2f} per job),"
        f" sweeps' CPU {monitor.sweep_cpu_s:.2f}s"
        f" = {100 * monitor.sweep_cpu_s / wall:.1f}% of a core;"
        f" the whole process (adding and removing 3,000 jobs too) {100 * cpu / wall:.0f}%"
    )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
