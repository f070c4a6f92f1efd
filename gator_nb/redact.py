"""Keep values from the caller's environment out of what gator writes for others to read.

A spec's ``API_TOKEN: $MY_SECRET`` expands to the secret; the store and every report show
``${MY_SECRET}`` instead, which a shell of the same user expands back to the same value.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping

__all__ = ["Redactor", "shell_value"]

_MIN_SECRET = 4  # shorter values ("1", "yes", "C") say nothing and would be found everywhere
# Variables that are not secrets and whose values (paths, names) appear everywhere; PWD and
# OLDPWD would even change meaning after the reproduce line's `cd`.
_HARMLESS = frozenset(
    [
        "PATH",
        "HOME",
        "PWD",
        "OLDPWD",
        "USER",
        "LOGNAME",
        "SHELL",
        "TERM",
        "LANG",
        "LANGUAGE",
        "TMPDIR",
        "TZ",
        "HOSTNAME",
        "SHLVL",
        "_",
        "VIRTUAL_ENV",
        "PYTHONPATH",
        "MAIL",
        "EDITOR",
        "PAGER",
        "DISPLAY",
        "COLORTERM",
    ]
)
_REF = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")


class Redactor:
    """Replaces, in any text, the values of the caller's environment by ``${NAME}``."""

    def __init__(self, caller: Mapping[str, str]) -> None:
        # Longest first, so that a value containing another is replaced whole. GATOR_*
        # variables are gator's own and say nothing secret.
        self._sources = sorted(
            (
                (value, name)
                for name, value in caller.items()
                if len(value) >= _MIN_SECRET
                and not name.startswith(("GATOR_", "LC_", "XDG_"))
                and name not in _HARMLESS
                and not value.startswith("/")  # a path: not a secret, and found in paths
            ),
            key=lambda pair: -len(pair[0]),
        )

    def text(self, value: str) -> str:
        for secret, source in self._sources:
            if secret in value:
                value = value.replace(secret, "${" + source + "}")
        return value

    def env(self, env: Mapping[str, str]) -> dict[str, str]:
        """``env`` with caller values replaced; GATOR_* values are kept as they are."""
        return {n: v if n.startswith("GATOR_") else self.text(v) for n, v in env.items()}


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
