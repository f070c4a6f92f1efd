"""Loading specs: the tree it builds and every problem it reports (error text is API)."""

from __future__ import annotations

import importlib
import textwrap

import pytest

import gator_nb as gn
from gator_nb.spec import Array, Cores, Group, Job, License, Memory


def problems(text: str) -> list[str]:
    with pytest.raises(gn.SpecError) as caught:
        gn.load_spec(text=textwrap.dedent(text).lstrip("\n"))
    assert str(caught.value) == "\n".join(str(p) for p in caught.value.problems)
    return [str(p) for p in caught.value.problems]


def test_builds_the_seed_example_tree() -> None:
    spec = gn.load_spec(
        text=textwrap.dedent("""\
        !JobGroup
          id  : top
          jobs:
          - !JobGroup
              id  : inner
              jobs:
              - !Job
                  id     : say_hi
                  command: echo
                  args   : ["hi", 3]
          - !JobArray
              id     : counting
              on_pass: [say_hi]
              repeats: 4
              jobs   :
              - !Job {id: echo_count, command: echo, args: ["$GATOR_ARRAY_INDEX"]}
        """)
    )
    top = spec.root
    assert isinstance(top, Group) and top.id == "top" and spec.file == "<text>"
    inner, counting = top.jobs
    assert isinstance(inner, Group) and isinstance(inner.jobs[0], Job)
    assert inner.jobs[0].args == ("hi", "3")
    assert isinstance(counting, Array) and counting.repeats == 4
    assert counting.on_pass == ("say_hi",) and counting.on_fail == ()
    assert (counting.at.line, counting.at.col, counting.at.path) == (11, 5, "$.jobs[1]")


def test_ident_is_an_alias_of_id_and_fields_parse() -> None:
    spec = gn.load_spec(
        text=textwrap.dedent("""
        !JobGroup
          id: top
          jobs:
          - !Job
              ident: build
              command: make
              cwd: sub
              env: {A: x, N: 3, F: 1.5}
              timeout: 2.5
              on_done: other
              resources: [!Cores [4], !Memory [1.5, GB], !License [vcs], !License [xc, 2], !Cores 2]
          - !Job {id: other, command: true, args: [yes, 1.0]}
        """)
    )
    assert isinstance(spec.root, Group)
    job, other = spec.root.jobs
    assert isinstance(other, Job) and other.argv == ("true", "yes", "1.0")
    assert isinstance(job, Job)
    assert job.id == "build" and job.cwd == "sub" and job.timeout == 2.5
    assert dict(job.env) == {"A": "x", "N": "3", "F": "1.5"}
    assert job.on_done == ("other",)
    assert job.resources == (
        Cores(count=4),
        Memory(size=int(1.5 * 1024**3)),
        License(name="vcs", count=1),
        License(name="xc", count=2),
        Cores(count=2),
    )


def test_reads_a_file_and_names_it(write_spec) -> None:
    path = write_spec("!JobGroup {id: top, jobs: [!Job {id: a, command: x, on_pass: [b]}]}\n")
    with pytest.raises(gn.SpecError) as caught:
        gn.load_spec(path)
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:1:63: error: $.jobs[0].on_pass[0]: no job 'b'"
    ]


def test_missing_file_is_a_spec_error(tmp_path) -> None:
    with pytest.raises(gn.SpecError, match=r"nope.yaml:1:1: error: \$: cannot read"):
        gn.load_spec(tmp_path / "nope.yaml")


def test_yaml_syntax_error_has_its_position() -> None:
    assert problems("""
        !JobGroup
          id: top
          jobs: [
        """) == [
        "<text>:4:1: error: $: invalid YAML: while parsing a flow node expected the node content, "
        "but found '<stream end>'"
    ]


def test_empty_document() -> None:
    assert problems("# nothing\n") == [
        "<text>:1:1: error: $: expected a !JobGroup, !JobArray or !Job, got an empty document"
    ]


def test_every_structural_problem_at_once() -> None:
    assert problems("""
        !JobGroup
          id: top
          jobs:
            - !Job
              id: a
              comand: echo
            - !Jbo
              id: b
            - !Job
              ident: c.d
              command: [echo]
              args: [1, {x: 1}]
            - !Job
              id: e
              id: e2
              command: echo
              repeats: 3
              env: {A: true, B: null, C: 3, D: [1]}
              timeout: -1
            - !JobArray
              id: arr
              repeats: -2
              jobs:
                - !Job {id: x, command: "true", resources: [!Cores [0], !Memory [4, GiB]]}
                - !Job {id: x, command: "true", resources: [!License [vcs, two], !Cpu 2]}
            - !JobGroup
              id: g
            - {id: plain, command: echo}
            - !JobArray {ident: arr2, repeats: 2.5, jobs: []}
            - !Job {id: top2, ident: z, command: echo}
            - !Job {command: echo, env: [A]}
            - !JobArray {id: noreps, jobs: [], on_pass: {a: 1}}
        """) == [
        "<text>:4:7: error: $.jobs[0]: missing 'command' (a !Job needs a program to run)",
        "<text>:6:7: error: $.jobs[0]: unknown key 'comand' for !Job (did you mean 'command'?)",
        "<text>:7:7: error: $.jobs[1]: unknown tag '!Jbo' (did you mean '!Job'?); "
        "expected !Job, !JobGroup or !JobArray",
        "<text>:10:14: error: $.jobs[2].ident: expected letters, digits, '_' or '-' "
        "(dots join paths), got 'c.d'",
        "<text>:11:16: error: $.jobs[2].command: expected a string, got a list",
        "<text>:12:17: error: $.jobs[2].args[1]: expected a string or number, got a mapping",
        "<text>:15:7: error: $.jobs[3].id: duplicate key 'id'",
        "<text>:17:7: error: $.jobs[3]: unknown key 'repeats' for !Job (only !JobArray has it)",
        "<text>:18:16: error: $.jobs[3].env.A: expected a string, got a boolean (quote it: 'true')",
        "<text>:18:25: error: $.jobs[3].env.B: expected a string, got nothing (null); "
        "write '' for empty",
        "<text>:18:40: error: $.jobs[3].env.D: expected a string, got a list",
        "<text>:19:16: error: $.jobs[3].timeout: expected a number of seconds > 0, "
        "got a number (-1)",
        "<text>:22:16: error: $.jobs[4].repeats: expected an integer >= 0, got a number (-2)",
        "<text>:24:53: error: $.jobs[4].jobs[0].resources[0]: !Cores expects [N] with N a whole "
        "number >= 1, got [0]",
        "<text>:24:77: error: $.jobs[4].jobs[0].resources[1]: !Memory: unknown unit 'GiB' "
        "(did you mean 'GB'?); expected one of B, KB, MB, GB, TB",
        "<text>:25:11: error: $.jobs[4].jobs[1].id: duplicate id 'x' (also at <text>:24:11)",
        "<text>:25:53: error: $.jobs[4].jobs[1].resources[0]: !License expects a whole count "
        ">= 1, got [two]",
        "<text>:25:74: error: $.jobs[4].jobs[1].resources[1]: expected !Cores, !Memory or "
        "!License, got tag '!Cpu'",
        "<text>:26:7: error: $.jobs[5]: missing 'jobs' (a list of !Job, !JobGroup or !JobArray)",
        "<text>:28:7: error: $.jobs[6]: expected a !Job, !JobGroup or !JobArray, got an untagged "
        "mapping (write !Job before it)",
        "<text>:29:40: error: $.jobs[7].repeats: expected an integer >= 0, got a number (2.5)",
        "<text>:30:23: error: $.jobs[8]: give 'id' or 'ident', not both",
        "<text>:31:7: error: $.jobs[9]: missing 'id'",
        "<text>:31:33: error: $.jobs[9].env: expected a mapping of variable names to strings, "
        "got a list",
        "<text>:32:7: error: $.jobs[10]: missing 'repeats' or 'matrix' (how many copies of 'jobs')",
        "<text>:32:49: error: $.jobs[10].on_pass: expected a list of job names, got a mapping",
    ]


def test_dependency_problems_are_reported_with_structural_ones() -> None:
    assert problems("""
        !JobGroup
          id: top
          jobs:
            - !Job {id: a, comand: echo}
            - !Job {id: b, command: echo, on_pass: [a, say_hii]}
            - !JobGroup
              id: inner
              jobs: [!Job {id: say_hi, command: echo}]
        """) == [
        "<text>:4:7: error: $.jobs[0]: missing 'command' (a !Job needs a program to run)",
        "<text>:4:20: error: $.jobs[0]: unknown key 'comand' for !Job (did you mean 'command'?)",
        "<text>:5:48: error: $.jobs[1].on_pass[1]: no job 'say_hii' (did you mean 'say_hi'?)",
    ]


@pytest.mark.parametrize(
    ("resource", "message"),
    [
        ("!Memory [0, GB]", "!Memory expects a size > 0, got [0]"),
        ("!Memory [1, GB, 3]", "!Memory expects [N, UNIT], got [1, GB, 3]"),
        ("!Cores [1.5]", "!Cores expects [N] with N a whole number >= 1, got [1.5]"),
        ("!Cores [a, b]", "!Cores expects [N] with N a whole number >= 1, got [a, b]"),
        ("!License [3]", "!License expects [NAME, N], got [3]"),
        ("!Cores {n: 1}", "expected !Cores [...], got a mapping"),
        ("cores", "expected !Cores, !Memory or !License, got a string 'cores'"),
    ],
)
def test_bad_resources(resource: str, message: str) -> None:
    assert problems(f"!Job {{id: a, command: x, resources: [{resource}]}}") == [
        f"<text>:1:38: error: $.resources[0]: {message}"
    ]


def test_memory_units_are_binary_and_default_to_megabytes() -> None:
    job = gn.load_spec(text="!Job {id: a, command: x, resources: [!Memory [2], !Memory [3, kb]]}")
    assert job.root.resources == (Memory(size=2 * 1024**2), Memory(size=3 * 1024))


def test_checking_a_spec_does_not_plan_it(monkeypatch: pytest.MonkeyPatch) -> None:
    planning = importlib.import_module("gator_nb.spec.plan")  # the module, not the function

    def no_planning(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("load_spec planned the spec")

    monkeypatch.setattr(planning._Planner, "build", no_planning)
    spec = gn.load_spec(
        text=textwrap.dedent("""
            !JobGroup
              id: top
              jobs:
                - !Job {id: build, command: make}
                - !JobArray
                    id: sims
                    repeats: 900000
                    on_pass: [build]
                    jobs: [!Job {id: sim, command: sim, on_done: [build]}]
        """)
    )
    assert spec.edges == (
        ("top.sims", "pass", "top.build"),
        ("top.sims.sim", "done", "top.build"),
    )
