"""The job graph: unknown needs, cycles (named), self-needs and repeats, with their positions."""

from __future__ import annotations

import textwrap

import pytest

from stockade.pipeline.graph import topological_order
from tests.unit.pipeline.helpers import only_problem, problems_of

S = "steps: [{name: s, run: x}]"


def jobs(*lines: str) -> str:
    return "version: 1\njobs:\n" + "".join(f"  {line}\n" for line in lines)


def test_unknown_need_points_at_it_and_suggests_a_job() -> None:
    problem = only_problem(jobs("build: {" + S + "}", "test: {needs: [biuld], " + S + "}"))
    assert (problem.line, problem.column, problem.field) == (4, 18, "jobs.test.needs[0]")
    assert problem.message == "unknown job 'biuld'"
    assert problem.hint == "did you mean 'build'?"


def test_unknown_need_without_a_close_name_lists_the_jobs() -> None:
    problem = only_problem(jobs("build: {" + S + "}", "test: {needs: [zzz], " + S + "}"))
    assert problem.hint == "jobs in this file: build, test"


def test_a_cycle_is_named_job_by_job() -> None:
    problem = only_problem(jobs(
        "a: {needs: [c], " + S + "}",
        "b: {needs: [a], " + S + "}",
        "c: {needs: [b], " + S + "}",
    ))
    assert problem.message == "jobs form a cycle: a → c → b → a"
    assert problem.field == "jobs.a.needs[0]"
    assert (problem.line, problem.column) == (3, 15)


def test_two_separate_cycles_are_both_reported() -> None:
    problems = problems_of(jobs(
        "a: {needs: [b], " + S + "}", "b: {needs: [a], " + S + "}",
        "c: {needs: [d], " + S + "}", "d: {needs: [c], " + S + "}",
    ))
    assert sorted(p.message for p in problems) == [
        "jobs form a cycle: a → b → a", "jobs form a cycle: c → d → c"]


def test_a_job_needing_itself() -> None:
    problem = only_problem(jobs("a: {needs: [a], " + S + "}"))
    assert problem.message == "job 'a' needs itself"


def test_a_need_listed_twice() -> None:
    problem = only_problem(jobs("a: {" + S + "}", "b: {needs: [a, a], " + S + "}"))
    assert (problem.field, problem.message) == ("jobs.b.needs[1]", "'a' is listed twice")


def test_graph_problems_come_with_schema_problems() -> None:
    problems = problems_of(jobs("a: {needs: [nope], timeout: 5, " + S + "}"))
    assert {p.field for p in problems} == {"jobs.a.needs[0]", "jobs.a.timeout"}


def test_a_long_chain_orders_without_recursion_limits() -> None:
    lines = ["j0: {" + S + "}"] + [f"j{i}: {{needs: [j{i - 1}], {S}}}" for i in range(1, 250)]
    text = jobs(*lines)
    from stockade.pipeline import load_pipeline

    assert load_pipeline(text).order() == [f"j{i}" for i in range(250)]


def test_topological_order_refuses_a_cycle_given_directly() -> None:
    with pytest.raises(ValueError, match="cycle"):
        topological_order({"a": ["b"], "b": ["a"]})


def test_a_pipeline_built_in_python_is_graph_checked_too() -> None:
    from pydantic import ValidationError

    from stockade.pipeline import Pipeline

    data = {"version": 1, "jobs": {"a": {"needs": ["b"], "steps": [{"name": "s", "run": "x"}]}}}
    with pytest.raises(ValidationError, match="unknown job 'b'"):
        Pipeline.model_validate(data)
    assert textwrap  # keeps the import used for readers copying the helpers
