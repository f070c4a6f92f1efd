"""Keep values from the caller's environment out of what gator writes for others to read.

A spec's ``API_TOKEN: $MY_SECRET`` expands to the secret; the store and every report show
``${MY_SECRET}`` instead, which a shell of the same user expands back to the same value.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping

__all__ = ["redact_env", "shell_value"]

_MIN_SECRET = 4  # shorter values ("1", "yes", "C") say nothing and would be found everywhere
_REF = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")


def redact_env(env: Mapping[str, str], caller: Mapping[str, str]) -> dict[str, str]:
    """``env`` with every value taken from ``caller`` replaced by ``${NAME}``.

    GATOR_* variables are gator's own and kept; variables ``env`` sets that the caller
    also has are not sources of other values (their own value is the spec's).
    """
    sources = sorted(
        (
            (value, name)
            for name, value in caller.items()
            if len(value) >= _MIN_SECRET and not name.startswith("GATOR_")
        ),
        key=lambda pair: -len(pair[0]),
    )
    shown = {}
    for name, value in env.items():
        if not name.startswith("GATOR_"):
            for secret, source in sources:
                if secret in value:
                    value = value.replace(secret, "${" + source + "}")
        shown[name] = value
    return shown


def shell_value(value: str) -> str:
    """``value`` quoted for a POSIX shell, with ``${NAME}`` references left to expand."""
    if not _REF.search(value):
        return shlex.quote(value)
    parts, done = [], 0
    for match in _REF.finditer(value):
        if match.start() > done:
            parts.append(shlex.quote(value[done : match.start()]))
        parts.append(f'"{match.group()}"')
        done = match.end()
    if done < len(value):
        parts.append(shlex.quote(value[done:]))
    return "".join(parts)
