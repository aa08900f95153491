"""A job's limits under its tier's caps: set too high is refused, defaults are bounded."""

from __future__ import annotations

import pytest

from stockade.errors import PolicyDenied
from stockade.pipeline import load_pipeline
from stockade.policy import Limits, job_limits

CAPS = Limits(cpus=2, memory=2 * 1024**3, pids=1024, disk=4 * 1024**3, timeout=1800)


def job(extra: str = ""):  # type: ignore[no-untyped-def]
    text = f"version: 1\njobs:\n  a:\n{extra}    steps: [{{name: s, run: x}}]\n"
    return load_pipeline(text).jobs["a"]


def test_defaults_are_bounded_by_the_caps() -> None:
    limits = job_limits(CAPS, "a", job())
    # The job said nothing: 1 cpu, 1Gi, 512 pids, 2Gi disk, but the 1h timeout is capped to 30m.
    assert limits == Limits(cpus=1, memory=1024**3, pids=512, disk=2 * 1024**3, timeout=1800)


def test_values_within_the_caps_are_kept() -> None:
    limits = job_limits(CAPS, "a", job("    timeout: 10m\n    resources: {cpus: 2, memory: 2Gi}\n"))
    assert (limits.cpus, limits.memory, limits.timeout) == (2, 2 * 1024**3, 600)


def test_asking_for_more_than_the_caps_is_refused_naming_each_excess() -> None:
    with pytest.raises(PolicyDenied) as caught:
        job_limits(CAPS, "a", job("    timeout: 2h\n    resources: {memory: 8Gi, pids: 512}\n"))
    assert caught.value.message == (
        "job 'a' asks for more than its tier allows: memory 8Gi > 2Gi, timeout 2h > 30m")
