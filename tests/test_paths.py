"""Job paths: containment and array copies folded."""

from __future__ import annotations

from gator_nb.paths import ancestors, fold, is_under, jobs_under


def test_under_means_the_path_itself_or_inside_it() -> None:
    assert is_under("top.tests[3].sim", "top.tests")
    assert is_under("top.tests[3].sim", "top.tests[3]")
    assert is_under("top.tests", "top.tests")
    assert not is_under("top.tests2.sim", "top.tests")  # a sibling whose name starts alike
    jobs = ["top.a", "top.tests[0].sim", "top.tests[1].sim", "top.testsx.b"]
    assert jobs_under(jobs, ["top.tests", "top.a"]) == {
        "top.a", "top.tests[0].sim", "top.tests[1].sim",
    }  # fmt: skip


def test_ancestors_and_fold() -> None:
    assert list(ancestors("a.b[1].c")) == ["a.b[1]", "a.b", "a"]
    assert list(ancestors("a")) == []
    assert fold("top.tests[3].sims[12].x") == "top.tests.sims.x"
