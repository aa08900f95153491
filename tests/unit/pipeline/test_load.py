"""Valid pipelines load into what the server runs: defaults, order, reserved keys, round trip."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from stockade.pipeline import Pipeline, PipelineError, load_pipeline, load_pipeline_file

FULL = textwrap.dedent("""\
    version: 1
    jobs:
      test:
        image: default              # image name or sha256 digest
        needs: []                   # names of jobs that must succeed first
        tier: untrusted             # optional; may only lower the classified tier
        timeout: 10m
        resources: {cpus: 1, memory: 1Gi, pids: 512, disk: 2Gi}
        env: {KEY: value}
        steps:
          - name: unit tests
            run: |
              make test
            env: {KEY: value}
            timeout: 5m
            continue_on_error: false
    """)


def test_the_issue_example_loads_exactly() -> None:
    pipeline = load_pipeline(FULL)
    job = pipeline.jobs["test"]
    assert job.image == "default"
    assert job.tier == "untrusted"
    assert job.timeout == 600
    assert (job.resources.cpus, job.resources.memory) == (1, 1024**3)
    assert (job.resources.pids, job.resources.disk) == (512, 2 * 1024**3)
    assert job.env == {"KEY": "value"}
    step = job.steps[0]
    assert (step.name, step.run, step.timeout, step.continue_on_error) == (
        "unit tests", "make test\n", 300, False)
    assert job.reserved_in_use() == []


def test_a_minimal_job_gets_documented_defaults() -> None:
    job = load_pipeline("version: 1\njobs:\n  a:\n    steps: [{name: s, run: 'true'}]\n").jobs["a"]
    assert job.image == "default"
    assert job.needs == [] and job.tier is None and job.env == {}
    assert job.timeout == 3600
    assert job.resources.cpus == 1 and job.resources.memory == 1024**3
    assert job.resources.pids == 512 and job.resources.disk == 2 * 1024**3
    assert job.steps[0].timeout is None and job.steps[0].continue_on_error is False


def test_order_puts_needs_first_and_keeps_file_order_among_equals() -> None:
    pipeline = load_pipeline(textwrap.dedent("""\
        version: 1
        jobs:
          deploy: {needs: [test, lint], steps: [{name: s, run: x}]}
          test: {needs: [build], steps: [{name: s, run: x}]}
          lint: {steps: [{name: s, run: x}]}
          build: {steps: [{name: s, run: x}]}
          docs: {steps: [{name: s, run: x}]}
        """))
    assert list(pipeline.jobs) == ["deploy", "test", "lint", "build", "docs"]
    assert pipeline.order() == ["lint", "build", "test", "deploy", "docs"]


@pytest.mark.parametrize("key", ["artifacts"])
def test_reserved_keys_are_accepted_and_reported_never_ignored(key: str) -> None:
    pipeline = load_pipeline(
        f"version: 1\njobs:\n  a:\n    {key}: [x]\n    steps: [{{name: s, run: x}}]\n")
    assert pipeline.jobs["a"].reserved_in_use() == [key]


def test_secrets_are_declared_per_step_and_id_token_is_a_boolean() -> None:
    pipeline = load_pipeline(
        "version: 1\njobs:\n  a:\n    id-token: true\n    environment: production\n"
        "    steps:\n      - {name: s, run: x, secrets: [PYPI_TOKEN]}\n      - {name: t, run: y}\n")
    job = pipeline.jobs["a"]
    assert job.id_token is True and job.environment == "production"
    assert job.steps[0].secrets == ["PYPI_TOKEN"] and job.steps[1].secrets == []
    with pytest.raises(PipelineError) as info:
        load_pipeline("version: 1\njobs:\n  a:\n    secrets: [X]\n    steps: [{name: s, run: x}]\n")
    problem = info.value.problems[0]
    assert "per step" in problem.message and problem.line == 4
    with pytest.raises(PipelineError):
        load_pipeline("version: 1\njobs:\n  a:\n    id-token: yes-please\n    steps: [{name: s, run: x}]\n")


def test_egress_is_a_list_of_hosts_or_a_mapping_with_a_mode() -> None:
    pipeline = load_pipeline(
        "version: 1\njobs:\n  a:\n    egress: [pypi.org, '*.npmjs.org:443']\n"
        "    steps: [{name: s, run: x}]\n  b:\n    egress: {mode: audit}\n"
        "    steps: [{name: s, run: x}]\n")
    a, b = pipeline.jobs["a"].egress, pipeline.jobs["b"].egress
    assert a is not None and a.allow == ["pypi.org", "*.npmjs.org:443"] and a.mode is None
    assert b is not None and b.allow is None and b.mode == "audit"
    assert pipeline.jobs["a"].reserved_in_use() == []


@pytest.mark.parametrize(("text", "where"), [
    ("egress: [pypi.org, 'https://evil/']", "jobs.a.egress.allow[1]"),
    ("egress: {mode: open}", "jobs.a.egress.mode"),
    ("egress: {allow: [x], extra: 1}", "jobs.a.egress.extra"),
])
def test_bad_egress_is_located(text: str, where: str) -> None:
    with pytest.raises(PipelineError) as info:
        load_pipeline(f"version: 1\njobs:\n  a:\n    {text}\n    steps: [{{name: s, run: x}}]\n")
    problem = info.value.problems[0]
    assert problem.field == where and problem.line == 4


def test_a_pipeline_round_trips_through_its_dump() -> None:
    pipeline = load_pipeline(FULL)
    again = Pipeline.model_validate(pipeline.model_dump(by_alias=True))
    assert again == pipeline
    assert again.jobs["test"].reserved_in_use() == []


def test_models_are_frozen() -> None:
    pipeline = load_pipeline(FULL)
    with pytest.raises(ValueError, match="frozen"):
        pipeline.jobs["test"].image = "other"  # type: ignore[misc]


def test_image_digests_and_tagged_names_are_accepted() -> None:
    digest = "sha256:" + "ab" * 32
    for image in (digest, "python:3.12", "acme/builder:v1"):
        text = f"version: 1\njobs:\n  a:\n    image: '{image}'\n    steps: [{{name: s, run: x}}]\n"
        assert load_pipeline(text).jobs["a"].image == image


def test_load_pipeline_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / ".stockade.yml"
    path.write_text("version: 1\njobs: {}\n")
    with pytest.raises(PipelineError) as caught:
        load_pipeline_file(path)
    assert caught.value.problems[0].file == str(path)
    assert caught.value.code == "invalid_pipeline"
    assert caught.value.status == 400


def test_a_missing_file_is_an_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="file not found"):
        load_pipeline_file(tmp_path / ".stockade.yml")


def test_non_utf8_file_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / ".stockade.yml"
    path.write_bytes(b"version: 1\njobs:\n  a: \xff\n")
    with pytest.raises(PipelineError) as caught:
        load_pipeline_file(path)
    assert (caught.value.problems[0].line, caught.value.problems[0].message) == (
        3, "not valid UTF-8 text")


def test_the_api_body_lists_every_problem() -> None:
    with pytest.raises(PipelineError) as caught:
        load_pipeline("version: 2\njobs: {}\n")
    body = caught.value.to_dict()
    assert body["code"] == "invalid_pipeline"
    problems = body["problems"]
    assert isinstance(problems, list)
    assert [p["field"] for p in problems] == ["version", "jobs"]
