"""Every schema error names the file, line, column, field, what is wrong and what would be right."""

from __future__ import annotations

import pytest

from tests.unit.pipeline.helpers import only_problem, problems_of

JOB = "version: 1\njobs:\n  test:\n"


def job(*lines: str) -> str:
    """A one-job pipeline with ``lines`` under the job (indented for it)."""
    return JOB + "".join(f"    {line}\n" for line in lines)


STEP = "steps: [{name: s, run: x}]"


def test_problem_renders_as_file_line_column_field_message_hint() -> None:
    problem = only_problem(job("timeout: 10x", STEP))
    assert str(problem) == (
        ".stockade.yml:4:14: jobs.test.timeout: '10x' is not a duration "
        "(write whole numbers with h, m, s, largest first, e.g. 90s, 10m, 1h30m)"
    )


def test_unknown_key_points_at_the_key_and_suggests_the_spelling() -> None:
    problem = only_problem(job("timout: 10m", STEP))
    assert (problem.line, problem.column, problem.field) == (4, 5, "jobs.test.timout")
    assert problem.message == "unknown key 'timout'"
    assert "did you mean 'timeout'?" in problem.hint
    assert "allowed here: image, needs, tier, timeout" in problem.hint


def test_unknown_top_level_key() -> None:
    problem = only_problem("version: 1\non: push\njobs:\n  a: {" + STEP + "}\n")
    assert (problem.line, problem.column, problem.field) == (2, 1, "on")
    assert "allowed here: version, jobs" in problem.hint


def test_step_timeout_error_has_the_full_field_path() -> None:
    problem = only_problem(job("steps:", "  - name: a", "    run: x", "    timeout: 600"))
    assert (problem.line, problem.column) == (7, 18)
    assert problem.field == "jobs.test.steps[0].timeout"
    assert problem.message == "a duration needs a unit, got 600"
    assert problem.hint == "write 600s or 600m"


def test_ambiguous_size_is_refused_with_the_binary_spelling() -> None:
    problem = only_problem(job("resources: {memory: 100M}", STEP))
    assert (problem.line, problem.column, problem.field) == (4, 25, "jobs.test.resources.memory")
    assert "did you mean 100Mi?" in problem.hint


def test_missing_required_key_points_at_its_parent_and_says_what_to_add() -> None:
    problem = only_problem(job("steps:", "  - name: a"))
    assert problem.field == "jobs.test.steps[0].run"
    assert (problem.line, problem.column) == (5, 9)
    assert problem.message == "required key 'run' is missing"
    assert problem.hint == "add `run: make test`"


def test_missing_version_and_missing_jobs() -> None:
    problems = problems_of("name: x\n")
    assert {p.field for p in problems} == {"version", "jobs", "name"}


@pytest.mark.parametrize(
    ("lines", "field", "message_part", "hint_part"),
    [
        (("env: {KEY: 1}", STEP), "jobs.test.env.KEY", "expected a string, got a number (1)",
         "quote it: '1'"),
        (("env: {KEY: yes}", STEP), "jobs.test.env.KEY", "got a boolean (true)", "quote it"),
        (("env: {KEY: null}", STEP), "jobs.test.env.KEY", "got nothing (null)", ""),
        (("env: {1KEY: x}", STEP), "jobs.test.env.1KEY", "invalid name '1KEY'",
         "start with a letter or '_'"),
        (("needs: build", STEP), "jobs.test.needs", "expected a list, got a string", "[build]"),
        (("tier: admin", STEP), "jobs.test.tier", "('admin') is not allowed",
         "'untrusted', 'trusted' or 'release'"),
        (("resources: {cpus: '2'}", STEP), "jobs.test.resources.cpus",
         "expected a number, got a string", "cpus: 1"),
        (("resources: {cpus: 0}", STEP), "jobs.test.resources.cpus", "out of range",
         "more than 0"),
        (("resources: {pids: 5}", STEP), "jobs.test.resources.pids", "out of range",
         "at least 16"),
        (("image: 'sha256:abc'", STEP), "jobs.test.image", "not a full sha256 digest", "64"),
        (("image: 'Not An Image'", STEP), "jobs.test.image", "not an image name", "default"),
        (("steps: []",), "jobs.test.steps", "must not be empty", "steps:"),
        (("steps: [{name: a, run: x, continue_on_error: 'no'}]",),
         "jobs.test.steps[0].continue_on_error", "expected true or false", "false"),
        (("steps: [{name: '', run: x}]",), "jobs.test.steps[0].name", "must not be empty", ""),
        (("steps: [{name: a, run: x}, {name: a, run: y}]",), "jobs.test.steps[1].name",
         "step name 'a' is used twice", "its own name"),
        (("steps: [{name: a, run: \"x\\0y\"}]",), "jobs.test.steps[0].run", "NUL byte", ""),
        (("steps: {name: a, run: x}",), "jobs.test.steps", "expected a list, got a mapping", ""),
    ],
)
def test_error_kinds(lines: tuple[str, ...], field: str, message_part: str,
                     hint_part: str) -> None:
    problem = only_problem(job(*lines))
    assert problem.field == field
    assert message_part in problem.message
    assert hint_part in problem.hint
    assert problem.line >= 4 and problem.column >= 1


def test_version_must_be_the_number_one() -> None:
    problem = only_problem("version: '1'\njobs:\n  a: {" + STEP + "}\n")
    assert (problem.field, problem.line, problem.column) == ("version", 1, 10)


def test_invalid_job_name_points_at_the_name() -> None:
    problem = only_problem("version: 1\njobs:\n  'build it':\n    " + STEP + "\n")
    assert (problem.line, problem.column, problem.field) == (3, 3, "jobs.build it")
    assert "letters, digits" in problem.hint


def test_no_jobs_is_refused() -> None:
    problem = only_problem("version: 1\njobs: {}\n")
    assert (problem.field, problem.message) == ("jobs", "must not be empty")


def test_all_problems_are_reported_at_once_in_file_order() -> None:
    problems = problems_of(job("timeout: 5", "image: 'X'", "steps: [{name: a}]", "bogus: 1"))
    assert [p.line for p in problems] == sorted(p.line for p in problems)
    assert [p.field for p in problems] == [
        "jobs.test.timeout", "jobs.test.image", "jobs.test.steps[0].run", "jobs.test.bogus"]
