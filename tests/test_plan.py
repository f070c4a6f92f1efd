"""Planning: paths, inheritance, arrays, dependency resolution and cycles."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gator_nb as gn
from gator_nb.spec import Plan, plan
from gator_nb.spec.plan import expand_vars


def planned(text: str, **kwargs: Any) -> Plan:
    spec = gn.load_spec(text=textwrap.dedent(text).lstrip("\n"))
    return plan(spec, base_env={"HOME": "/home/u", "PATH": "/bin"}, cwd="/launch", **kwargs)


def plan_problems(text: str) -> list[str]:
    with pytest.raises(gn.SpecError) as caught:
        planned(text)
    return [str(p) for p in caught.value.problems]


SEED = (Path(__file__).parent / "specs" / "hello.yaml").read_text()  # the README's example


def test_seed_example_paths_and_dependencies() -> None:
    p = planned(SEED)
    assert [j.path for j in p.jobs] == [
        "top.inner.say_hi",
        "top.counting[0].echo_count",
        "top.counting[1].echo_count",
        "top.counting[2].echo_count",
        "top.counting[3].echo_count",
        "top.say_bye",
    ]
    assert [j.argv for j in p.jobs[1:5]] == [("echo", str(i)) for i in range(4)]
    assert [(c.kind, c.targets) for c in p.jobs[2].conditions] == [("pass", ("top.inner.say_hi",))]
    assert [(c.kind, c.targets) for c in p.jobs[5].conditions] == [("pass", ("top.counting",))]
    assert p.edges == (
        ("top.counting", "pass", "top.inner.say_hi"),
        ("top.say_bye", "pass", "top.counting"),
    )
    assert list(p.groups) == [
        "top",
        "top.inner",
        "top.counting",
        "top.counting[0]",
        "top.counting[1]",
        "top.counting[2]",
        "top.counting[3]",
    ]
    assert p.groups["top.counting"].children == tuple(f"top.counting[{i}]" for i in range(4))
    assert p.groups["top.counting[2]"].kind == "copy" and p.jobs[3].array_index == 2
    assert p.jobs[3].group == "top.counting[2]"
    assert p.leaves("top.counting") == range(1, 5) and p.leaves("top.say_bye") == range(5, 6)
    assert p.depth == 3 and p.root == "top"


def test_env_and_cwd_inherit_and_override() -> None:
    p = planned("""
        !JobGroup
          id: top
          cwd: /work
          env: {A: top, B: "${A}-b", P: "$PATH:/extra"}
          jobs:
          - !JobGroup
              id: inner
              cwd: sub
              env: {A: inner}
              jobs:
              - !Job {id: j, command: "$A", args: ["${B}", "$$HOME", "$HOME"], cwd: "dir_$A"}
          - !Job {id: k, command: env, cwd: /abs}
    """)
    j, k = p.jobs
    assert j.argv == ("inner", "top-b", "$HOME", "/home/u")
    assert j.cwd == "/work/sub/dir_inner" and k.cwd == "/abs"
    assert j.env["A"] == "inner" and j.env["B"] == "top-b" and j.env["P"] == "/bin:/extra"
    assert j.env["GATOR_JOB"] == "top.inner.j" and "HOME" not in j.env
    assert k.env["A"] == "top"


def test_default_cwd_is_the_launch_directory_and_spec_dir_is_known(write_spec) -> None:
    path = write_spec("!Job {id: a, command: ls, args: [$GATOR_SPEC_DIR]}")
    p = plan(gn.load_spec(path), base_env={}, cwd="/launch")
    assert p.jobs[0].cwd == "/launch" and p.jobs[0].args == (str(path.parent),)
    assert p.jobs[0].group is None and p.groups == {}


def test_run_variables_only_at_run_time() -> None:
    text = "!Job {id: a, command: ls, args: [$GATOR_JOB_DIR, $GATOR_RUN_ID, $GATOR_RUN_DIR]}"
    assert planned(text).jobs[0].args == ("$GATOR_JOB_DIR", "$GATOR_RUN_ID", "$GATOR_RUN_DIR")
    assert planned(text).warnings == ()
    p = planned(text, run_id="r1", run_dir="/runs/r1")
    assert p.jobs[0].args == ("/runs/r1/jobs/a", "r1", "/runs/r1")
    in_job_dir = planned("!Job {id: a, command: ls, cwd: $GATOR_JOB_DIR/out}", run_dir="/runs/r1")
    assert in_job_dir.jobs[0].cwd == "/runs/r1/jobs/a/out"


def test_unset_variables_stay_as_written_and_warn() -> None:
    p = planned("""
        !JobArray
          id: arr
          repeats: 3
          env: {X: "$NOPE_ENV"}
          jobs:
          - !Job {id: a, command: "$NOPE_CMD", args: ["${NOPE_ARG}"], cwd: "$NOPE_CWD"}
    """)
    assert p.jobs[0].argv == ("$NOPE_CMD", "${NOPE_ARG}")
    assert p.jobs[0].cwd == "/launch/$NOPE_CWD"
    assert [str(w) for w in p.warnings] == [
        "<text>:1:1: warning: $.env: $NOPE_ENV is not set; left as written",
        "<text>:6:5: warning: $.jobs[0].cwd: $NOPE_CWD is not set; left as written",
        "<text>:6:5: warning: $.jobs[0].command: $NOPE_CMD is not set; left as written",
        "<text>:6:5: warning: $.jobs[0].args: $NOPE_ARG is not set; left as written",
    ]


def test_expand_vars() -> None:
    env = {"A": "1", "B_2": "two"}
    unset: set[str] = set()
    assert expand_vars("$A/${B_2}/$C/$$A/${D}x/$", env, unset) == "1/two/$C/$A/${D}x/$"
    assert unset == {"C", "D"}


def test_nested_arrays_and_empty_array() -> None:
    p = planned("""
        !JobGroup
          id: top
          jobs:
          - !JobArray
              id: outer
              repeats: 2
              jobs:
              - !JobArray
                  id: inner
                  repeats: 3
                  jobs: [!Job {id: leaf, command: echo, args: [$GATOR_ARRAY_INDEX]}]
          - !JobArray {id: none, repeats: 0, jobs: [!Job {id: x, command: echo}]}
          - !Job {id: after, command: echo, on_pass: [none]}
    """)
    leaves = [j for j in p.jobs if j.path.endswith("leaf")]
    assert [j.path for j in leaves] == [
        f"top.outer[{o}].inner[{i}].leaf" for o in range(2) for i in range(3)
    ]
    assert [j.args for j in leaves] == [(str(i),) for _ in range(2) for i in range(3)]
    assert p.leaves("top.none") == range(6, 6)
    assert p.jobs[-1].conditions[0].targets == ("top.none",)


def test_siblings_inside_an_array_copy_refer_to_the_same_copy() -> None:
    p = planned("""
        !JobGroup
          id: top
          jobs:
          - !Job {id: build, command: make}
          - !JobArray
              id: tests
              repeats: 3
              jobs:
              - !Job {id: compile, command: cc, on_pass: [build]}
              - !Job {id: run, command: sim, on_pass: [compile]}
          - !Job {id: first, command: x, on_done: ["tests[0].run"]}
          - !Job {id: all_runs, command: x, on_done: [tests.run]}
          - !Job {id: report, command: x, on_done: [tests]}
    """)
    by_path = {j.path: j for j in p.jobs}
    assert by_path["top.tests[1].run"].conditions[0].targets == ("top.tests[1].compile",)
    assert by_path["top.tests[2].compile"].conditions[0].targets == ("top.build",)
    assert by_path["top.first"].conditions[0].targets == ("top.tests[0].run",)
    assert by_path["top.all_runs"].conditions[0].targets == tuple(
        f"top.tests[{i}].run" for i in range(3)
    )
    assert by_path["top.report"].conditions[0].targets == ("top.tests",)


def test_group_dependencies_apply_to_every_job_under_it() -> None:
    p = planned("""
        !JobGroup
          id: top
          jobs:
          - !Job {id: setup, command: x}
          - !JobGroup
              id: g
              on_pass: [setup]
              jobs:
              - !Job {id: a, command: x}
              - !Job {id: b, command: x, on_fail: [a]}
    """)
    a, b = p.jobs[1], p.jobs[2]
    assert [(c.kind, c.targets) for c in a.conditions] == [("pass", ("top.setup",))]
    assert [(c.kind, c.targets) for c in b.conditions] == [
        ("pass", ("top.setup",)),
        ("fail", ("top.g.a",)),
    ]


def test_lookup_prefers_siblings_then_relative_paths_then_unique_ids() -> None:
    p = planned("""
        !JobGroup
          id: top
          jobs:
          - !JobGroup
              id: a
              jobs:
              - !Job {id: x, command: x}
              - !Job {id: y, command: x, on_pass: [x]}
          - !JobGroup
              id: b
              jobs:
              - !Job {id: x, command: x}
              - !Job {id: z, command: x, on_pass: [a.x]}
          - !Job {id: w, command: x, on_pass: [b.x]}
          - !JobGroup
              id: deep
              jobs: [!JobGroup {id: d2, jobs: [!Job {id: unique, command: x}]}]
          - !Job {id: v, command: x, on_pass: [unique, d2.unique]}
    """)
    targets = {j.path: [c.targets for c in j.conditions] for j in p.jobs}
    assert targets["top.a.y"] == [("top.a.x",)]
    assert targets["top.b.z"] == [("top.a.x",)]
    assert targets["top.w"] == [("top.b.x",)]
    assert targets["top.v"] == [("top.deep.d2.unique",), ("top.deep.d2.unique",)]


def test_dependency_problems() -> None:
    assert plan_problems("""
        !JobGroup
          id: top
          jobs:
          - !JobGroup {id: a, jobs: [!Job {id: x, command: x}]}
          - !JobGroup {id: b, jobs: [!Job {id: x, command: x}]}
          - !Job {id: j, command: x, on_pass: [x, say_hii, j, top, "a[0]", "bad name"]}
          - !JobArray {id: arr, repeats: 2, jobs: [!Job {id: k, command: x}]}
          - !Job {id: say_hi, command: x, on_done: ["arr[2].k"]}
          - !JobGroup {id: g, on_fail: [g.h], jobs: [!Job {id: h, command: x}]}
    """) == [
        "<text>:6:40: error: $.jobs[2].on_pass[0]: 'x' is ambiguous: it names top.a.x, top.b.x; "
        "write more of the path",
        "<text>:6:43: error: $.jobs[2].on_pass[1]: no job 'say_hii' (did you mean 'say_hi'?)",
        "<text>:6:52: error: $.jobs[2].on_pass[2]: 'j' is this job itself",
        "<text>:6:55: error: $.jobs[2].on_pass[3]: 'top' contains this job, so it can never "
        "finish first",
        "<text>:6:60: error: $.jobs[2].on_pass[4]: 'a[0]': 'a' is not a !JobArray",
        "<text>:6:68: error: $.jobs[2].on_pass[5]: expected a job name or dotted path like "
        "'inner.say_hi', got 'bad name'",
        "<text>:8:45: error: $.jobs[4].on_done[0]: 'arr[2]': index out of range (arr has 2 copies)",
        "<text>:9:33: error: $.jobs[5].on_fail[0]: 'g.h' is inside this group, so it can never "
        "finish first",
    ]


def test_cycles_are_named() -> None:
    assert plan_problems("""
        !JobGroup
          id: top
          jobs:
          - !Job {id: a, command: x, on_pass: [c]}
          - !Job {id: b, command: x, on_pass: [a]}
          - !Job {id: c, command: x, on_done: [b]}
          - !JobArray
              id: arr
              repeats: 50
              jobs:
              - !Job {id: p, command: x, on_pass: [q]}
              - !Job {id: q, command: x, on_fail: [p]}
          - !Job {id: x, command: x, on_pass: [g]}
          - !JobGroup {id: g, on_pass: [x], jobs: [!Job {id: h, command: x}]}
    """) == [
        "<text>:5:40: error: $.jobs[1].on_pass[0]: dependency cycle: "
        "top.a -> top.c -> top.b -> top.a",
        "<text>:12:44: error: $.jobs[3].jobs[1].on_fail[0]: dependency cycle: "
        "top.arr.p -> top.arr.q -> top.arr.p",
        "<text>:14:33: error: $.jobs[5].on_pass[0]: dependency cycle: "
        "top.x -> top.g -> top.g.h -> top.x",
    ]


def test_resources_and_timeout_inherit() -> None:
    p = planned("""
        !JobGroup
          id: top
          timeout: 60
          resources: [!Cores [2], !License [vcs, 1], !Memory [1, GB]]
          jobs:
          - !Job {id: a, command: x}
          - !Job {id: b, command: x, timeout: 5, resources: [!Cores [4], !License [xc, 2]]}
    """)
    a, b = p.jobs
    assert (a.cores, a.memory, a.licenses, a.timeout_s) == (2, 1024**3, (("vcs", 1),), 60.0)
    assert (b.cores, b.memory, b.licenses, b.timeout_s) == (
        4,
        1024**3,
        (("vcs", 1), ("xc", 2)),
        5.0,
    )


# -- properties -----------------------------------------------------------------------

_ids = st.from_regex(r"[a-z][a-z0-9_]{0,5}", fullmatch=True)


@st.composite
def _trees(draw: st.DrawFn, depth: int = 0) -> tuple[str, int]:
    """A random valid spec node as YAML flow text, and how many leaf jobs it plans to."""
    kind = draw(st.sampled_from(["job", "group", "array"] if depth < 3 else ["job"]))
    if kind == "job":
        return "!Job {id: ID, command: echo, args: [$GATOR_ARRAY_INDEX]}", 1
    children = draw(st.lists(_trees(depth + 1), min_size=0, max_size=3))
    ids = draw(st.lists(_ids, min_size=len(children), max_size=len(children), unique=True))
    body = ", ".join(
        text.replace("ID", ident, 1) for (text, _), ident in zip(children, ids, strict=True)
    )
    count = sum(n for _, n in children)
    if kind == "group":
        return f"!JobGroup {{id: ID, jobs: [{body}]}}", count
    repeats = draw(st.integers(min_value=0, max_value=4))
    return f"!JobArray {{id: ID, repeats: {repeats}, jobs: [{body}]}}", count * repeats


@settings(max_examples=60, deadline=None)
@given(_trees())
def test_random_valid_trees_plan_to_the_product_of_repeats(tree: tuple[str, int]) -> None:
    text, expected = tree
    p = plan(gn.load_spec(text=text.replace("ID", "root", 1)), base_env={}, cwd="/")
    assert len(p.jobs) == expected
    assert len({j.path for j in p.jobs}) == expected
    assert [j.index for j in p.jobs] == list(range(expected))
    for group in p.groups.values():
        assert all(
            j.path.startswith(group.path + ("" if group.kind == "array" else "."))
            for j in p.jobs[group.first : group.end]
        )


def test_retries_inherit_and_are_checked() -> None:
    p = planned("""
        !JobGroup
          id: top
          retries: 2
          jobs:
          - !Job {id: a, command: x}
          - !Job {id: b, command: x, retries: 0}
          - !JobGroup {id: g, jobs: [!Job {id: c, command: x}]}
    """)
    assert [j.retries for j in p.jobs] == [2, 0, 2]
    assert plan_problems("!Job {id: a, command: x, retries: -1}") == [
        "<text>:1:35: error: $.retries: expected an integer >= 0, got a number (-1)"
    ]
