"""Planning jobs from a pipeline and the policy: caps, lowering, refusals."""

from __future__ import annotations

import json

from stockade.pipeline import load_pipeline
from stockade.policy import Event, classify, default_policy_path, load_policy_file
from stockade.server.planner import plan_jobs

POLICY = load_policy_file(default_policy_path())


def decide_for(event_name: str, ref: str = "refs/heads/main"):
    event = Event.model_validate({"event": event_name, "repository": "acme/app", "ref": ref, "sha": "c" * 40})
    return classify(POLICY, event), (lambda tier: classify(POLICY, event, tier))


def test_jobs_are_planned_in_dependency_order_with_capped_payloads() -> None:
    pipeline = load_pipeline(
        "version: 1\njobs:\n  test:\n    needs: [build]\n    steps: [{name: t, run: make test, timeout: 5h}]\n"
        "  build:\n    env: {A: b}\n    steps: [{name: b, run: make}]\n"
    )
    run_decision, decide = decide_for("push")
    plan = plan_jobs(pipeline, run_decision, decide)
    assert [j.name for j in plan.jobs] == ["build", "test"]
    build, test = plan.jobs
    assert (build.pool, build.denied, test.needs) == ("trusted", None, ("build",))
    payload = json.loads(test.payload)
    assert payload["steps"][0]["timeout_s"] == payload["resources"]["timeout_s"]  # step capped by job
    assert json.loads(build.payload)["env"] == {"A": "b"}
    assert plan.requires_approval is False


def test_refusals_are_planned_as_denied_with_the_reason() -> None:
    pipeline = load_pipeline(
        "version: 1\njobs:\n"
        "  secretive:\n    artifacts: [x]\n    steps: [{name: s, run: 'true'}]\n"
        "  greedy:\n    resources: {memory: 64Gi}\n    steps: [{name: s, run: 'true'}]\n"
        "  lowered:\n    tier: untrusted\n    steps: [{name: s, run: 'true'}]\n"
    )
    run_decision, decide = decide_for("push")
    by_name = {j.name: j for j in plan_jobs(pipeline, run_decision, decide).jobs}
    assert by_name["secretive"].denied == "artifacts is not supported yet"
    assert by_name["greedy"].denied is not None and "memory" in by_name["greedy"].denied
    assert (by_name["lowered"].denied, by_name["lowered"].pool) == (None, "untrusted")


def test_a_release_tier_job_needs_approval() -> None:
    pipeline = load_pipeline("version: 1\njobs:\n  ship:\n    steps: [{name: s, run: 'true'}]\n")
    run_decision, decide = decide_for("push", ref="refs/tags/v2.0")
    plan = plan_jobs(pipeline, run_decision, decide)
    assert plan.requires_approval is True and plan.jobs[0].pool == "release"
