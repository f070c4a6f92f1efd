"""Exports: the self-contained HTML report and JUnit XML, from a run's frames."""

from __future__ import annotations

import html.parser
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import gator_nb as gn

PY = sys.executable


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.external: list[str] = []
        self.tags: list[str] = []
        self.images = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href") and value and not value.startswith("data:"):
                self.external.append(value)
            if tag == "img" and name == "src" and value and value.startswith("data:image/png"):
                self.images += 1


def test_html_report_is_self_contained_and_escaped(tmp_path: Path, write_spec) -> None:
    spec = write_spec(f"""
        !JobGroup
          id: top
          jobs:
          - !Job {{id: evil, command: {PY}, args: ["-c", "print('ERROR: <img src=x onerror=alert(1)>')"]}}
          - !Job {{id: fine, command: "true"}}
    """)  # noqa: E501
    run = gn.run(spec, runs_dir=tmp_path / "runs", sample_interval=0.05)
    page = run.report(tmp_path / "report.html").read_text()
    parser = _Links()
    parser.feed(page)
    assert parser.external == []
    plots = [m for m in ("timeline", "summary", "peak_memory", "resources") if hasattr(run.plot, m)]
    assert parser.images == len(plots)  # the plots, embedded
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert page.count('<td class="failed">failed</td>') == 1  # the job, in the jobs table
    assert '<span class="failed">x top  2/2 (1 failed, 1 passed)' in page  # the group tree


def test_junit_parses_and_counts_match(failed_run: gn.Run, tmp_path: Path) -> None:
    path = failed_run.to_junit(tmp_path / "results.xml")
    root = ET.parse(path).getroot()
    cases = root.findall(".//testcase")
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("7", "2", "1")
    assert len(cases) == 7
    failed = [c for c in cases if c.find("failure") is not None]
    assert [(c.get("classname"), c.get("name")) for c in failed] == [
        ("top.tests[1]", "sim"),
        ("top.tests[3]", "sim"),
    ]
    assert failed[0].find("failure").get("type") == "error-in-log"  # type: ignore[union-attr]
    suites = {s.get("name"): s.get("tests") for s in root.findall("testsuite")}
    assert suites["top"] == "3"
