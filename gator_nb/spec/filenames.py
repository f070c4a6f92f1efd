"""The file name of a job's directory and log: its path, escaped and shortened as needed.

A job path can be far longer than a file name may be (255 bytes; 6 groups with 45-character
ids already pass it), so long paths keep a readable head and a hash of the whole path.
The mapping is stable (the same path always gives the same name) and the store keeps it.
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["MAX_NAME", "file_name"]

MAX_NAME = 120  # bytes; leaves room for ".log" and for file systems with shorter limits
_SAFE = re.compile(r"[A-Za-z0-9_.\[\]-]+")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\[\]-]")


def file_name(job: str) -> str:
    """``job`` itself when it is a short, plain name; otherwise escaped and shortened.

    Spec paths hold only letters, digits, ``_``, ``-``, ``.``, ``[`` and ``]``; anything
    else (a "/" would make a subdirectory) becomes ``%XX``, and a name over ``MAX_NAME``
    bytes keeps its first 100 characters, ``~`` and a hash of the whole path.
    """
    name = job
    if not _SAFE.fullmatch(name) or name.startswith("."):  # "%" is unsafe: stays one-to-one
        name = _UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), name)
        name = "%2E" + name[1:] if name.startswith(".") else name
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(job.encode()).hexdigest()[:16]
    return f"{name[:100]}~{digest}"
