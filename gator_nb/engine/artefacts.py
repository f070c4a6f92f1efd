"""A job's ``outputs`` found on disk after it ends: each name's files, absolute, with their
sizes; and the ``GATOR_INPUT_<NAME>`` a consumer gets from its producers' artefacts.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterable, Mapping, Sequence

from gator_nb.events import Artefact

__all__ = ["find_outputs", "input_env", "with_inputs"]

# $GATOR_INPUT_X or ${GATOR_INPUT_X} left in a command line by the planner: filled at launch.
_INPUT_VAR = re.compile(r"\$(?:\{(GATOR_INPUT_[A-Za-z0-9_]+)\}|(GATOR_INPUT_[A-Za-z0-9_]+))")


def find_outputs(
    outputs: Iterable[tuple[str, str]], cwd: str
) -> tuple[tuple[Artefact, ...], list[str]]:
    """The files each output names (the path as written first: job paths hold "[3]", which
    glob would read as a class), and the names that matched nothing."""
    found: list[Artefact] = []
    missing: list[str] = []
    for name, pattern in outputs:
        full = os.path.normpath(os.path.join(cwd, pattern))
        paths = [full] if os.path.exists(full) else sorted(glob.glob(full))
        if not paths:
            missing.append(f"{name} ({pattern})")
        for path in paths:
            try:
                size = os.path.getsize(path)
            except OSError:
                size = 0
            found.append(Artefact(name=name, path=os.path.abspath(path), bytes=size))
    return tuple(found), missing


def input_env(
    inputs: Sequence[tuple[str, Sequence[str]]],
    artefacts_of: Mapping[str, Sequence[Artefact]],
) -> dict[str, str]:
    """``GATOR_INPUT_<NAME>`` for each input: its producers' files of that name, joined
    with ``os.pathsep`` (one path for the usual single producer)."""
    env = {}
    for name, producers in inputs:
        paths = [a.path for p in producers for a in artefacts_of.get(p, ()) if a.name == name]
        env[f"GATOR_INPUT_{name.upper()}"] = os.pathsep.join(paths)
    return env


def with_inputs(text: str, env: Mapping[str, str]) -> str:
    """``text`` with the ``$GATOR_INPUT_<NAME>`` variables of ``env`` filled in."""
    if "GATOR_INPUT_" not in text:
        return text
    return _INPUT_VAR.sub(lambda m: env.get(m.group(1) or m.group(2), m.group(0)), text)
