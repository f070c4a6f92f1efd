"""A job's ``results`` files: JUnit XML as cocotb, pytest ``--junitxml``, VUnit, ctest and
Verilator/VCS flows write it, read into ``TestCase`` rows after the job ends.

Parsed with defusedxml: entity declarations (the "billion laughs" and external entities)
are refused, not expanded. A file that is missing, unreadable, too big or not JUnit XML is
a ``ResultsProblem`` with a one-line reason; the job then fails as ``bad-results``.
"""

from __future__ import annotations

import glob
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from gator_nb.events import TestCase

__all__ = ["MAX_BYTES", "ResultsProblem", "read_results"]

MAX_BYTES = 256 * 2**20  # a results file bigger than this is a mistake, not a report
_MESSAGE_CHARS = 2000  # a case's message is kept up to this many characters


class ResultsProblem(Exception):
    """A declared results file that cannot be used; ``str()`` is the one-line reason."""


def read_results(patterns: Iterable[str], cwd: str) -> tuple[TestCase, ...]:
    """Every test case in the files ``patterns`` name (relative to ``cwd``), in order.

    Raises:
        ResultsProblem: a pattern matches no file, or a file is not readable JUnit XML.
    """
    cases: list[TestCase] = []
    for pattern in patterns:
        full = os.path.join(cwd, pattern)
        # The path as written first: job paths put "[3]" in file names, which glob would
        # read as a character class.
        files = [full] if os.path.isfile(full) else sorted(glob.glob(full))
        files = [f for f in files if os.path.isfile(f)]
        if not files:
            raise ResultsProblem(f"results file {pattern!r} was not written (in {cwd})")
        for path in files:
            cases += _read(path, pattern)
    return tuple(cases)


def _read(path: str, shown: str) -> list[TestCase]:
    try:
        size = os.path.getsize(path)
        if size > MAX_BYTES:
            raise ResultsProblem(f"results file {shown!r} is {size} bytes, over {MAX_BYTES}")
        root = SafeET.parse(path).getroot()
    except DefusedXmlException as exc:
        raise ResultsProblem(f"results file {shown!r} was refused: {exc}") from None
    except ET.ParseError as exc:
        raise ResultsProblem(f"results file {shown!r} is not well-formed XML: {exc}") from None
    except OSError as exc:
        raise ResultsProblem(f"results file {shown!r} cannot be read: {exc.strerror}") from None
    if root is None or root.tag not in ("testsuites", "testsuite"):
        raise ResultsProblem(
            f"results file {shown!r} is not JUnit XML: its root is "
            f"<{root.tag if root is not None else ''}>, "
            "expected <testsuites> or <testsuite>"
        )
    return list(_cases(root))


def _cases(root: ET.Element) -> Iterator[TestCase]:
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    for suite in suites:
        for case in suite.findall("testcase"):
            yield _case(suite.get("name", ""), case)


def _case(suite: str, case: ET.Element) -> TestCase:
    name = case.get("name", "")
    classname = case.get("classname", "")
    status, message = "passed", ""
    for tag, word in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
        found = case.find(tag)
        if found is not None:
            status = word
            message = found.get("message") or (found.text or "").strip()
            break
    if status in ("failed", "error") and not message.strip():
        message = f"{classname + '.' if classname else ''}{name} {status}"
    return TestCase(
        suite=suite or classname,
        test=f"{classname}.{name}" if classname and classname != suite else name,
        status=status,
        duration_s=_seconds(case.get("time")),
        message=message[:_MESSAGE_CHARS],
    )


def _seconds(text: str | None) -> float | None:
    try:
        value = float(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and value >= 0 else None
