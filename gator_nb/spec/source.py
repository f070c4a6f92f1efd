"""A spec's text, read with care: only a regular file (a FIFO would block, ``/dev/zero``
would never end), at most ``MAX_SPEC_BYTES``, and where YAML nests too deeply to compose.
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

import yaml

from gator_nb.errors import Problem, SpecError
from gator_nb.spec.size import MAX_DEPTH, MAX_SPEC_BYTES

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["read_spec", "too_big", "too_deep_at"]


def read_spec(path: Path) -> str:
    """The spec file's text.

    Raises:
        SpecError: the file cannot be read, is not a regular file, is too big or is
            not UTF-8.
    """
    file = str(path)

    def cannot(why: str) -> SpecError:
        return SpecError([Problem(file=file, line=1, col=1, path="$", message=why)])

    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise cannot(f"cannot read: {exc}") from None
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a FIFO" if stat.S_ISFIFO(mode) else "a device or other special file"
            if stat.S_ISDIR(mode):
                kind = "a directory"
            raise cannot(f"expected a regular file, got {kind}")
        try:
            data = handle.read(MAX_SPEC_BYTES + 1)
            if len(data) > MAX_SPEC_BYTES:
                raise SpecError([too_big(file)])
            return data.decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise cannot(f"cannot read: {exc}") from None


def too_big(file: str) -> Problem:
    """The problem of a spec longer than ``MAX_SPEC_BYTES``."""
    return Problem(
        file=file,
        line=1,
        col=1,
        path="$",
        message=f"expected a spec of at most {MAX_SPEC_BYTES >> 20} MiB, got more",
    )


def too_deep_at(text: str) -> tuple[int, int]:
    """Line and column where YAML nesting first passes what the composer can take.

    PyYAML composes recursively (about 240 levels at most); its event stream is flat,
    so it can be walked to find the place without a ``RecursionError``.
    """
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                mark = event.start_mark
                if depth > 2 * MAX_DEPTH + 2 and mark is not None:
                    return mark.line + 1, mark.column + 1
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        pass
    return 1, 1
