"""The file name of a job's directory and log: its path, shortened when too long.

A job path can be far longer than a file name may be (255 bytes; 6 groups with 45-character
ids already pass it), so long paths keep a readable head and a hash of the whole path.
The mapping is stable (the same path always gives the same name) and the store keeps it.
"""

from __future__ import annotations

import hashlib

__all__ = ["MAX_NAME", "file_name"]

MAX_NAME = 120  # bytes; leaves room for ".log" and for file systems with shorter limits


def file_name(job: str) -> str:
    """``job`` itself when short enough, else its first 100 characters, ``~`` and a hash.

    Job paths hold only letters, digits, ``_``, ``-``, ``.``, ``[`` and ``]``, so no
    character needs escaping; only the length does.
    """
    if len(job.encode()) <= MAX_NAME and not job.startswith("."):
        return job
    digest = hashlib.sha256(job.encode()).hexdigest()[:16]
    return f"{job[:100]}~{digest}"
