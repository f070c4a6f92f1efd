"""RunView without a browser: real runs, widget trait values, and comm messages counted with a
recording comm (the ipywidgets DummyComm pattern)."""

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
from gator_nb.notebook.view import RunView, mimebundle
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


def updates(sent: list[Sent]) -> list[Sent]:
    return [s for s in sent if s.msg_type == "comm_msg" and s.data.get("method") == "update"]


def texts(view: RunView) -> list[str]:
    out = []
    for box in view.body.children:
        out.append(" ".join(str(getattr(w, "value", "")) for w in box.children))
    return out


def test_finished_run_shows_failed_first_and_escapes_output(mixed: gn.Run) -> None:
    view = RunView(mixed)
    assert view.attach() is False  # finished: nothing to refresh
    assert [r.key for r in view.rows()] == ["top", "top.broken", "top.units", "top.xss"]
    header = view.header.text.value
    assert mixed.id in header and "gator-failed" in header and "3/4 done" not in header
    assert "4/4 done" in header and "3 passed" in header and "1 failed" in header
    assert view.header.stop.layout.display == "none"
    shown = "\n".join(texts(view))
    assert "<script>" not in shown and "&lt;script&gt;alert(1)&lt;/script&gt;" in shown
    top = view.row_widget("top")
    assert top.parts["bar"].bar_style == "danger" and top.parts["bar"].value == 4.0
    assert view.row_widget("top.units").parts["bar"].bar_style == "success"


def test_clicking_a_group_expands_it_and_again_collapses_it(mixed: gn.Run) -> None:
    view = RunView(mixed)
    view.row_widget("top.units").parts["toggle"].click()
    keys = [r.key for r in view.rows()]
    assert keys[2:5] == ["top.units", "top.units.a", "top.units.b"]
    assert len(view.body.children) == 6
    assert view.row_widget("top.units").parts["toggle"].description == "▾"
    view.row_widget("top.units").parts["toggle"].click()
    assert len(view.body.children) == 4


def test_clicking_a_job_shows_its_log_command_and_resource_plot(mixed: gn.Run) -> None:
    view = RunView(mixed)
    view.row_widget("top.xss").parts["toggle"].click()
    panel = view.panel("top.xss")
    assert view.body.children[-1] is panel.box
    log = panel.log.value
    assert "&lt;img src=x onerror=alert(1)&gt;" in log and "<img" not in log
    assert "plain line" in log
    assert "cd " in panel.command.value and "python3 -c" in panel.command.value
    assert "GATOR_JOB=top.xss" in panel.command.value
    assert panel.box.children[-1] is panel.plot
    assert panel.plot.value[:8] == b"\x89PNG\r\n\x1a\n"
    panel.filter.value = "WARNING+"
    assert "plain line" not in panel.log.value and "onerror" in panel.log.value
    view.row_widget("top.xss").parts["toggle"].click()
    assert panel.box not in view.body.children


def test_apply_sends_only_what_changed(sent: list[Sent], mixed: gn.Run) -> None:
    state = RunState([("g.a", "g"), ("g.b", "g")], [("g", None, "group")])
    view = RunView(mixed, state=state)
    before = len(sent)
    view.update()
    assert sent[before:] == []  # nothing changed, nothing sent
    state.apply(JobStarted(job="g.b", time=time.time(), pid=1, command=("x",), cwd="/",
                           hostname="h"))  # fmt: skip
    view.update()
    changed = updates(sent[before:])
    assert sent[before:] == changed  # no widget was created
    # Only changed traits: the header's text, the group's bar colour (its value and max are
    # the same) and stats, the job's text, and the body's children (the running job moved up).
    assert sorted(tuple(sorted(s.data["state"])) for s in changed) == [
        ("bar_style",), ("children",), ("value",), ("value",), ("value",),
    ]  # fmt: skip


def test_rows_leaving_the_view_lend_their_widgets_to_rows_entering_it(
    sent: list[Sent], mixed: gn.Run
) -> None:
    state = RunState([(f"g.j{i}", "g") for i in range(30)], [("g", None, "group")])
    view = RunView(mixed, state=state, max_rows=5)
    opened = sum(1 for s in sent if s.msg_type == "comm_open")
    for i in range(10, 20):
        state.apply(JobStarted(job=f"g.j{i}", time=1.0, pid=1, command=("x",), cwd="/",
                               hostname="h"))  # fmt: skip
    view.update()
    assert [r.key for r in view.rows()][1:6] == [f"g.j{i}" for i in range(10, 15)]
    assert sum(1 for s in sent if s.msg_type == "comm_open") == opened


def test_a_2000_job_run_sends_few_coalesced_updates(
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
    assert "2000/2000 done" in view.header.text.value
    assert "2000 passed" in view.header.text.value
    # <= 4 renders a second from the refresher (+ the first and the final one).
    assert view.renders <= 4 * elapsed + 3
    changes = updates(sent)
    per_second: dict[int, int] = {}
    for message in changes:
        second = int(message.time - started)
        per_second[second] = per_second.get(second, 0) + 1
    print(f"2000 jobs in {elapsed:.1f}s: {view.renders} renders, {len(changes)} updates,"
          f" {sum(s.msg_type == 'comm_open' for s in sent)} widgets")  # fmt: skip
    assert len(changes) < 600, len(changes)  # vs 2000 jobs x (start + finish) events
    assert run.state.version >= 4000


def test_a_10000_job_view_shows_50_rows_of_the_expanded_array(
    sent: list[Sent], mixed: gn.Run
) -> None:
    jobs = [(f"big.arr[{i}].sim", f"big.arr[{i}]") for i in range(10_000)]
    groups = [("big", None, "group"), ("big.arr", "big", "array")]
    groups += [(f"big.arr[{i}]", "big.arr", "copy") for i in range(10_000)]
    state = RunState(jobs, groups)
    for i in range(0, 10_000, 7):
        state.apply(JobStarted(job=jobs[i][0], time=1.0, pid=1, command=("x",), cwd="/",
                               hostname="h"))  # fmt: skip
    state.nodes["big"].children  # noqa: B018 - built
    view = RunView(mixed, state=state)
    view.toggle_group("big.arr")
    bundle = view.widget._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"]
    assert len(view.body.children) == 2 + 50 + 1  # its time: benchmarks/bench_views.py


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
    view.stop()
    # The job ignores SIGTERM, so the cancel takes the 2 s grace before SIGKILL: elsewhere,
    # not in the kernel: stop() has returned while the run still runs.
    assert view.header.stop.disabled and run.status == "running"
    assert run.wait(timeout=20) == "cancelled"
    assert view.finished.wait(timeout=5)
    assert "cancelled" in view.header.text.value
    assert view.header.stop.layout.display == "none"
    assert view.rows()[0].status == Status.CANCELLED


def test_a_panel_says_when_the_run_directory_is_gone(mixed: gn.Run) -> None:
    view = RunView(mixed)
    shutil.rmtree(mixed.path)
    view.toggle_job("top.broken")
    assert "no run store here" in view.panel("top.broken").log.value


def test_a_group_row_shows_its_metric_mean_live_in_comm_updates(
    sent: list[Sent], mixed: gn.Run
) -> None:
    jobs = [(f"reg.seeds[{i}].sim", f"reg.seeds[{i}]") for i in range(4)]
    groups = [("reg", None, "group"), ("reg.seeds", "reg", "array")]
    groups += [(f"reg.seeds[{i}]", "reg.seeds", "copy") for i in range(4)]
    state = RunState(jobs, groups)
    view = RunView(mixed, state=state)  # the root is expanded: "reg" and "reg.seeds" show

    def stats_updates() -> list[str]:
        return [
            str(s.data["state"]["value"])
            for s in updates(sent)
            if "value" in s.data.get("state", {}) and "cov" in str(s.data["state"]["value"])
        ]

    for i, value in enumerate((0.0, 10.0)):
        state.apply(JobMetric(job=jobs[i][0], time=1.0, name="cov", value=value))
    view.update()
    assert any("cov mean 5 of 2" in text for text in stats_updates())
    state.apply(JobMetric(job=jobs[2][0], time=2.0, name="cov", value=20.0))
    state.apply(JobMetric(job=jobs[3][0], time=2.0, name="cov", value=30.0))
    view.update()
    assert any("cov mean 15 of 4" in text for text in stats_updates())  # 0, 10, 20, 30
    row = view.row_widget("reg.seeds")
    assert "cov mean 15 of 4" in row.parts["stats"].value
