"""Stricter than plain YAML: duplicate keys, aliases, odd tags and huge files are problems."""

from __future__ import annotations

from tests.unit.pipeline.helpers import only_problem, problems_of

S = "steps: [{name: s, run: x}]"


def test_duplicate_job_names_are_refused_not_silently_merged() -> None:
    problem = only_problem("version: 1\njobs:\n  a: {" + S + "}\n  a: {" + S + "}\n")
    assert (problem.line, problem.column, problem.field) == (4, 3, "jobs.a")
    assert problem.message == "duplicate key 'a' (first defined on line 3)"


def test_duplicate_keys_inside_a_job() -> None:
    problem = only_problem("version: 1\njobs:\n  a:\n    image: x\n    image: y\n    " + S + "\n")
    assert (problem.line, problem.field) == (5, "jobs.a.image")


def test_aliases_are_refused_at_their_position() -> None:
    problem = only_problem(
        "version: 1\njobs:\n  a: &j {" + S + "}\n  b: *j\n")
    assert (problem.line, problem.column) == (4, 6)
    assert "aliases" in problem.message and problem.hint == "repeat the value instead"


def test_a_billion_laughs_file_is_refused_quickly() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    problem = only_problem("\n".join(lines) + "\n")
    assert "aliases" in problem.message


def test_syntax_errors_have_a_position() -> None:
    problem = only_problem("version: 1\njobs:\n  a: {steps: [\n")
    assert problem.message.startswith("YAML syntax:")
    assert problem.line == 4


def test_python_tags_are_not_constructed() -> None:
    problem = only_problem("version: 1\njobs:\n  a: !!python/object:os.system {" + S + "}\n")
    assert problem.line == 3


def test_an_empty_file() -> None:
    problem = only_problem("# nothing here\n")
    assert (problem.message, problem.hint) == ("file is empty", "start with `version: 1`")


def test_a_file_that_is_not_a_mapping() -> None:
    problem = only_problem("- version: 1\n")
    assert problem.message == "the file must be a mapping"


def test_two_documents_are_refused() -> None:
    problems = problems_of("version: 1\n---\nversion: 1\n")
    assert "expected a single document" in problems[0].message


def test_files_over_one_mebibyte_are_refused() -> None:
    problem = only_problem("# " + "x" * (1024 * 1024) + "\n")
    assert "larger than" in problem.message


def test_yaml_1_1_booleans_as_keys_stay_names() -> None:
    # `on:` is True in YAML 1.1; we keep the text so the message names what the user wrote.
    problem = only_problem("version: 1\njobs:\n  on: {" + S + "}\n  a: {" + S + "}\n  yes: 1\n")
    assert problem.field == "jobs.yes"


def test_dates_are_not_strings() -> None:
    problem = only_problem("version: 1\njobs:\n  a:\n    env: {D: 2024-01-01}\n    " + S + "\n")
    assert (problem.field, problem.hint) == ("jobs.a.env.D", "")
    assert "expected a string" in problem.message


def test_deep_nesting_is_refused_without_recursion_errors() -> None:
    problem = only_problem("a: " + "[" * 50000 + "]" * 50000 + "\n")
    assert problem.message == "nested more than 32 levels deep"
    assert (problem.line, problem.column) == (1, 35)


def test_more_than_256_jobs_is_refused() -> None:
    jobs = "".join(f"  j{i}: {{{S}}}\n" for i in range(257))
    problem = only_problem("version: 1\njobs:\n" + jobs)
    assert (problem.field, problem.message) == ("jobs", "too long: at most 256 entries")


def test_tabs_get_a_hint_about_spaces() -> None:
    problem = only_problem("version: 1\njobs:\n\ta: 1\n")
    assert (problem.line, problem.hint) == (3, "indent with spaces; YAML does not allow tabs")
