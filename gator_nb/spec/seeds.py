"""Seeds: a run's seed, and each job's ``GATOR_SEED`` derived from it and the job's path, the
same on every run, machine and Python (a keyed BLAKE2 digest, not Python's salted ``hash``).
"""

from __future__ import annotations

import hashlib
import secrets

__all__ = ["MAX_SEED", "job_seed", "new_run_seed"]

MAX_SEED = 2**31 - 1  # simulators take 32-bit signed seeds


def new_run_seed() -> int:
    """A random run seed (recorded with the run, so it can be given again with --seed)."""
    return secrets.randbelow(MAX_SEED + 1)


def job_seed(run_seed: int, path: str) -> int:
    """The seed of job ``path`` in a run seeded ``run_seed``: 0 to 2**31 - 1."""
    digest = hashlib.blake2b(f"{run_seed}\0{path}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & MAX_SEED
