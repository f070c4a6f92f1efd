"""RunView without a browser: real runs, the rows and details it sends, comm messages counted
with a recording comm (the ipywidgets DummyComm pattern), and the final static HTML."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import comm
import pytest
from comm.base_comm import BaseComm

import gator_nb as gn
from gator_nb.events import JobMetric, JobStarted, Status
from gator_nb.notebook.tree import ROW_FIELDS
from gator_nb.notebook.view import RunView, final_bundle, mimebundle
from gator_nb.state import RunState

MIXED = """
!JobGroup
  id: top
  jobs:
    - !JobGroup
        id: units
        jobs:
          - !Job {id: a, command: echo, args: [a]}
          - !Job {id: b, command: echo, args: [b]}
    - !Job
        id: xss
        command: python3
        args:
          - -c
          - |
            import time
            print("WARNING: <img src=x onerror=alert(1)>")
            print("plain line")
            time.sleep(0.4)
    - !Job
        id: broken
        command: bash
        args: [-c, "echo 'ERROR: broke <script>alert(1)</script>'; exit 3"]
"""


@dataclass(frozen=True, slots=True)
class Sent:
    msg_type: str
    data: dict[str, Any]
    time: float


class RecordingComm(BaseComm):
    """A comm that keeps what it would send, serialised as the kernel would."""

    def __init__(self, sent: list[Sent], **kwargs: Any) -> None:
        self.sent = sent
        super().__init__(**kwargs)

    def publish_msg(self, msg_type: str, data: Any = None, *args: Any, **keys: Any) -> None:
        json.dumps(data)  # the kernel's session does this for every message
        self.sent.append(Sent(msg_type, data or {}, time.monotonic()))


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[Sent]:
    """Every comm message of widgets created during the test (ipywidgets' DummyComm idea)."""
    log: list[Sent] = []
    monkeypatch.setattr(comm, "create_comm", lambda **kw: RecordingComm(log, **kw))
    return log


@pytest.fixture
def mixed(write_spec: Callable[..., Path], tmp_path: Path) -> gn.Run:
    return gn.run(write_spec(MIXED), runs_dir=tmp_path / "runs", sample_interval=0.05)


def deltas(sent: list[Sent]) -> list[dict[str, Any]]:
    """The delta messages the view sent to the browser, in order."""
    out = []
    for s in sent:
        content = s.data.get("content", {}) if s.data.get("method") == "custom" else {}
        if content.get("type") == "delta":
            out.append(json.loads(json.dumps(content)))  # as the browser gets it
    return out


def field(values: list[Any], name: str) -> Any:
    return values[ROW_FIELDS.index(name)]


def test_the_snapshot_holds_every_row_once_with_array_copies_folded(mixed: gn.Run) -> None:
    view = RunView(mixed)
    assert view.attach() is False  # finished: nothing to follow
    snap = view.widget.snapshot
    assert snap["roots"] == ["top"]
    assert snap["kids"]["top"] == ["top.units", "top.xss", "top.broken"]
    assert set(snap["rows"]) == {"top", "top.units", "top.units.a", "top.units.b", "top.xss",
                                 "top.broken"}  # fmt: skip
    top = snap["rows"]["top"]
    assert (field(top, "done"), field(top, "passed"), field(top, "failed")) == (4, 3, 1)
    broken = snap["rows"]["top.broken"]
    assert field(broken, "status") == "failed"
    assert field(broken, "note") == "ERROR: broke <script>alert(1)</script>"  # text, not HTML
    assert snap["head"]["done"] == 4 and snap["head"]["status"] == "failed"
    assert snap["fields"] == list(ROW_FIELDS) and "tests" in ROW_FIELDS  # Row's own fields


def test_the_final_html_lists_failures_and_escapes_job_text(mixed: gn.Run) -> None:
    bundle = final_bundle(mixed)
    page = bundle["text/html"]
    assert "4/4 done: 3 passed, 1 failed" in page
    assert "<script>" not in page and "<img" not in page
    assert "ERROR: broke &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("<details") == page.count("</details>")
    # top's bar: 3 of 4 passed, 1 failed, stacked
    assert "width:75.0%;background:#2da44e" in page and "width:25.0%;background:#e5534b" in page
    assert bundle["text/plain"].startswith(f"gator run {mixed.id}: failed; 4/4 done")


def test_a_failed_jobs_detail_comes_with_its_row(
    sent: list[Sent], write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    run = gn.run(write_spec(MIXED), runs_dir=tmp_path / "runs", wait=False)
    view = RunView(run)
    assert view.attach() is True
    assert run.wait(timeout=20) == "failed"
    assert view.finished.wait(timeout=5)
    details = {job: d for delta in deltas(sent) for job, d in delta["details"].items()}
    assert list(details) == ["top.broken"]
    detail = details["top.broken"]
    assert detail["first_error"] == "ERROR: broke <script>alert(1)</script>"
    assert detail["lines"] == [["ERROR", "ERROR: broke <script>alert(1)</script>"]]
    assert "bash -c" in detail["command"]
    last = deltas(sent)[-1]
    assert last["head"]["done"] == 4 and last["head"]["status"] == "failed"


def test_the_browser_asks_for_a_jobs_log_and_samples(sent: list[Sent], mixed: gn.Run) -> None:
    view = RunView(mixed)
    view._message(view.widget, {"type": "detail", "job": "top.xss"})
    view._message(view.widget, {"type": "detail", "job": "no.such.job"})  # ignored
    view._message(view.widget, ["not", "a", "dict"])  # ignored
    replies = [s.data["content"] for s in sent if s.data.get("content", {}).get("type") == "detail"]
    [reply] = replies
    assert reply["job"] == "top.xss"
    detail = reply["detail"]
    assert ["WARNING", "WARNING: <img src=x onerror=alert(1)>"] in detail["lines"]
    assert ["INFO", "plain line"] in detail["lines"]
    assert detail["samples"] and all(len(point) == 3 for point in detail["samples"])
    assert "python3 -c" in detail["command"]


def test_a_2000_job_run_sends_few_deltas(
    sent: list[Sent], write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    spec = write_spec("""
        !JobArray
          id: many
          repeats: 2000
          jobs:
            - !Job {id: t, command: "true"}
    """)
    run = gn.run(spec, parallel=2, runs_dir=tmp_path / "runs", wait=False)
    started = time.monotonic()
    view = RunView(run)
    assert view.attach() is True
    assert run.wait(timeout=25) == "passed"
    assert view.finished.wait(timeout=5)
    elapsed = time.monotonic() - started
    sent_deltas = deltas(sent)
    print(f"2000 jobs in {elapsed:.1f}s: {len(sent_deltas)} deltas")
    # <= 4 a second from the refresher (+ the first and the final one).
    assert len(sent_deltas) <= 4 * elapsed + 3
    assert sent_deltas[-1]["head"]["done"] == 2000
    latest = {key: row for delta in sent_deltas for key, row in delta["rows"].items()}
    assert field(latest["many"], "passed") == 2000  # the browser's view after the last one
    assert run.state.version >= 4000


def test_a_10000_job_snapshot_has_every_job_and_the_array_lists_them(mixed: gn.Run) -> None:
    jobs = [(f"big.arr[{i}].sim", f"big.arr[{i}]") for i in range(10_000)]
    groups = [("big", None, "group"), ("big.arr", "big", "array")]
    groups += [(f"big.arr[{i}]", "big.arr", "copy") for i in range(10_000)]
    state = RunState(jobs, groups)
    view = RunView(mixed, state=state)
    snap = view.widget.snapshot
    assert len(snap["rows"]) == 10_002  # the copies are folded away
    assert len(snap["kids"]["big.arr"]) == 10_000
    assert field(snap["rows"]["big.arr[7].sim"], "name") == "arr[7].sim"
    bundle: Any = view.widget._repr_mimebundle_()
    bundle = bundle[0] if isinstance(bundle, tuple) else bundle  # anywidget: (data, metadata)
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"]


def test_text_plain_outside_a_kernel(mixed: gn.Run) -> None:
    bundle = mixed._repr_mimebundle_()
    assert list(bundle) == ["text/plain"]
    first, *tree = bundle["text/plain"].splitlines()
    assert first.startswith(f"gator run {mixed.id}: failed; 4/4 done: 3 passed, 1 failed")
    assert tree[0].startswith("  x top  4/4")
    assert mimebundle(mixed, exclude=["text/plain"]) == {}


def test_a_loaded_run_shows_the_same_rows_as_the_live_one(mixed: gn.Run) -> None:
    live = RunView(mixed).rows()
    loaded = RunView(gn.load(mixed.path)).rows()
    assert [(r.key, r.status, r.done, r.failed) for r in loaded] == [
        (r.key, r.status, r.done, r.failed) for r in live
    ]


def test_stop_cancels_the_run_without_blocking(
    write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    ready = tmp_path / "ready"
    spec = write_spec(f"""
        !JobGroup
          id: top
          jobs:
            - !Job
                id: stubborn
                command: python3
                args:
                  - -c
                  - |
                    import pathlib, signal, time
                    signal.signal(signal.SIGTERM, signal.SIG_IGN)
                    pathlib.Path("{ready}").touch()
                    time.sleep(30)
    """)
    run = gn.run(spec, runs_dir=tmp_path / "runs", wait=False)
    view = RunView(run)
    view.attach()
    deadline = time.monotonic() + 10
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.01)  # waiting for another process's file: nothing to await
    view._message(view.widget, {"type": "stop"})  # the browser's Stop button
    # The job ignores SIGTERM, so the cancel takes the 2 s grace before SIGKILL: elsewhere,
    # not in the kernel: the message was handled while the run still runs.
    assert run.status == "running"
    assert run.wait(timeout=20) == "cancelled"
    assert view.finished.wait(timeout=5)
    assert view.rows()[0].status == Status.CANCELLED


def test_a_panel_says_when_the_run_directory_is_gone(sent: list[Sent], mixed: gn.Run) -> None:
    view = RunView(mixed)
    shutil.rmtree(mixed.path)
    view._message(view.widget, {"type": "detail", "job": "top.broken"})
    [reply] = [s.data["content"] for s in sent if s.data.get("content", {}).get("type") == "detail"]
    assert "no run store here" in reply["detail"]["lines"][0][1]


def test_a_group_row_shows_its_metric_mean_live_in_deltas(sent: list[Sent], mixed: gn.Run) -> None:
    jobs = [(f"reg.seeds[{i}].sim", f"reg.seeds[{i}]") for i in range(4)]
    groups = [("reg", None, "group"), ("reg.seeds", "reg", "array")]
    groups += [(f"reg.seeds[{i}]", "reg.seeds", "copy") for i in range(4)]
    state = RunState(jobs, groups)
    view = RunView(mixed, state=state)

    def report(i: int, value: float) -> None:
        event = JobMetric(job=jobs[i][0], time=1.0, name="cov", value=value)
        state.apply(event)
        view.note(event)

    report(0, 0.0)
    report(1, 10.0)
    view.update()
    assert field(deltas(sent)[-1]["rows"]["reg.seeds"], "metrics") == [["cov", "mean 5 of 2"]]
    report(2, 20.0)
    report(3, 30.0)
    view.update()
    rows = deltas(sent)[-1]["rows"]
    assert field(rows["reg.seeds"], "metrics") == [["cov", "mean 15 of 4"]]  # 0, 10, 20, 30
    assert set(rows) == {"reg", "reg.seeds", "reg.seeds[2].sim", "reg.seeds[3].sim"}


def test_a_started_job_sends_only_its_chain(sent: list[Sent], mixed: gn.Run) -> None:
    jobs = [(f"g.j{i}", "g") for i in range(20)]
    state = RunState(jobs, [("g", None, "group")])
    view = RunView(mixed, state=state)
    event = JobStarted(job="g.j3", time=1.0, pid=1, command=("x",), cwd="/", hostname="h")
    state.apply(event)
    view.note(event)
    view.update()
    rows = deltas(sent)[-1]["rows"]
    assert set(rows) == {"g", "g.j3"}
    assert field(rows["g.j3"], "status") == "running" and field(rows["g.j3"], "start") == 1.0


def test_the_widget_opens_with_its_snapshot(sent: list[Sent], mixed: gn.Run) -> None:
    RunView(mixed)
    opens = [s for s in sent if s.msg_type == "comm_open" and "snapshot" in s.data.get("state", {})]
    [opened] = opens
    assert set(opened.data["state"]["snapshot"]["rows"]) >= {"top", "top.broken"}
    assert not [s for s in sent if "snapshot" in s.data.get("state", {}) and s not in opens]


def test_the_final_html_shows_test_counts_and_metrics(tmp_path: Path, write_spec) -> None:
    fixture = Path(__file__).parent / "fixtures" / "tools" / "cocotb-results.xml"
    code = (
        f"import shutil, os; shutil.copy({str(fixture)!r}, os.environ['GATOR_JOB_DIR']);"
        " print('GATOR_METRIC cov=42.5')"
    )
    spec = write_spec(f"""
        !JobGroup
          id: top
          jobs:
            - !Job {{id: sim, command: python3, args: ["-c", {code!r}],
                     results: $GATOR_JOB_DIR/cocotb-results.xml}}
    """)
    run = gn.run(spec, runs_dir=tmp_path / "runs")
    page = final_bundle(run)["text/html"]
    assert "3 tests, 1 failed" in page and "cov mean 42.5 of 1" in page and "cov 42.5" in page
