"""Small builders for pipeline tests."""

from __future__ import annotations

import textwrap

import pytest

from stockade.pipeline import PipelineError, Problem, load_pipeline


def problems_of(text: str) -> list[Problem]:
    """Every problem ``text`` has (it must be invalid)."""
    with pytest.raises(PipelineError) as caught:
        load_pipeline(textwrap.dedent(text).lstrip("\n"))
    return caught.value.problems


def only_problem(text: str) -> Problem:
    """The single problem ``text`` has."""
    problems = problems_of(text)
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]
