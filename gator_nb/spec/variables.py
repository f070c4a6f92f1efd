"""``$VAR`` expansion as a POSIX shell does it, without a shell: ``$VAR``, ``${VAR}``,
``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?message}``, ``${VAR?message}`` and ``$$``;
and ``{{ name }}`` params. Pure: the caller says where problems go.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["PARAM", "Unset", "expand_params", "expand_vars", "param_names"]

_VAR = re.compile(
    r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*)|(\$))"
)
PARAM = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class Unset:
    """What an expansion found missing: names left as written (warnings), and the
    ``${VAR:?message}`` forms whose variable was unset (errors)."""

    __slots__ = ("names", "required")

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.required: list[tuple[str, str]] = []  # (name, message)


def expand_vars(text: str, env: Mapping[str, str], unset: Unset | set[str] | None = None) -> str:
    """Expand variables in ``text`` from ``env``; unset plain ones stay as written."""
    if "$" not in text:
        return text
    found = unset if isinstance(unset, Unset) else Unset()

    def replace(match: re.Match[str]) -> str:
        if match.group(5):
            return "$"
        name = match.group(1) or match.group(4)
        operator, word = match.group(2), match.group(3) or ""
        value = env.get(name)
        missing = value is None or (operator is not None and operator.startswith(":") and not value)
        if operator in (":-", "-"):
            return expand_vars(word, env, found) if missing else str(value)
        if operator in (":?", "?"):
            if missing:
                found.required.append((name, word or "not set"))
                return ""
            return str(value)
        if value is not None:
            return value
        found.names.add(name)
        return match.group(0)

    result = _VAR.sub(replace, text)
    if isinstance(unset, set):
        unset.update(found.names)
    return result


def param_names(text: str) -> list[str]:
    """The ``{{ name }}`` params ``text`` uses, in order."""
    return PARAM.findall(text) if "{{" in text else []


def expand_params(text: str, params: Mapping[str, str]) -> str:
    """``text`` with each ``{{ name }}`` replaced by its value (names are checked at load)."""
    if "{{" not in text:
        return text
    return PARAM.sub(lambda m: params.get(m.group(1), m.group(0)), text)
