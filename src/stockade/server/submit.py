"""The one path from "run this commit" to a stored run, shared by POST /runs and webhooks:
resolve the commit, read its pipeline, classify with the server's policy, plan, store."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from urllib.parse import urlparse

from pydantic import ValidationError

from stockade.errors import InvalidInput
from stockade.pipeline import PIPELINE_FILENAME, Pipeline, load_pipeline
from stockade.policy import Event, classify
from stockade.server.gitsource import Source, local_path, resolve_and_read
from stockade.server.planner import plan_jobs
from stockade.server.state import ServerState
from stockade.store.ids import RunId
from stockade.store.records import Effects, PlannedRun
from stockade.store.runs import create_run


@dataclass(frozen=True)
class Submission:
    repository: str  # what the agent clones: URL or local path
    ref: str
    sha: str
    event: str
    actor: str
    author_association: str
    fork: bool = False
    requested_tier: str | None = None
    pipeline: str | None = None  # YAML text; None reads the pipeline file at the commit
    priority: int = 0
    repository_name: str | None = None  # what policy rules match (owner/name); derived if None
    delivery_id: str | None = None
    delivery_event: str = ""


def repository_name(repository: str) -> str:
    """``owner/name`` for a forge URL, the path itself for a local repository."""
    if local_path(repository) is None or repository.startswith("file://"):
        path = urlparse(repository).path if "://" in repository else repository.split(":", 1)[-1]
        name = path.strip("/").removesuffix(".git")
        return name or repository
    return repository


def event_ref(ref: str, sha: str) -> str:
    """The ref recorded and matched by policy: ``refs/...``; a bare branch name is a branch."""
    if ref.startswith("refs/"):
        return ref
    if ref and ref != "HEAD":
        return f"refs/heads/{ref}"
    return f"refs/detached/{sha}"


def _pipeline_text(sub: Submission, source: Source, text: str | None) -> str:
    if sub.pipeline is not None:
        return sub.pipeline
    if text is None:
        raise InvalidInput(
            f"commit {source.sha[:12]} has no {PIPELINE_FILENAME}",
            hint=f"commit a {PIPELINE_FILENAME} (see `stockade lint`), or send the pipeline text",
            code="no_pipeline",
        )
    return text


@functools.lru_cache(maxsize=64)
def _parsed(text: str) -> Pipeline:
    """The validated pipeline of ``text``. Pipelines are immutable, and resubmitting one commit
    is common (retries, several events for one push): it is parsed once, not on every submit.
    A text that fails validation raises every time (exceptions are not cached)."""
    return load_pipeline(text, PIPELINE_FILENAME)


def submit(state: ServerState, sub: Submission) -> tuple[RunId, Effects]:
    """Resolve, read, classify, plan and store one run. Blocking (git); call it off the loop."""
    source, at_commit = resolve_and_read(
        sub.repository, sub.ref, sub.sha, state.settings.home / "git", PIPELINE_FILENAME
    )
    text = _pipeline_text(sub, source, at_commit)
    pipeline = _parsed(text)
    name = sub.repository_name or repository_name(sub.repository)
    try:
        event = Event.model_validate(
            {
                "event": sub.event,
                "repository": name[-256:],
                "ref": event_ref(sub.ref, source.sha),
                "sha": source.sha,
                "fork": sub.fork,
                "author_association": sub.author_association,
                "actor": sub.actor[:256],
            }
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidInput(f"cannot classify this event: {problems}", code="invalid_event") from exc
    run_decision = classify(state.policy, event, sub.requested_tier)
    plan = plan_jobs(
        pipeline,
        run_decision,
        lambda tier: classify(state.policy, event, tier),
    )
    run = PlannedRun(
        repository=source.repo_url,
        ref=event.ref,
        sha=source.sha,
        event=sub.event,
        actor=sub.actor,
        fork=sub.fork,
        author_association=sub.author_association,
        tier=run_decision.tier,
        pool=run_decision.pool,
        rule=run_decision.rule or "(no rule matched)",
        policy_hash=run_decision.policy_hash,
        reason=run_decision.reason,
        requires_approval=plan.requires_approval,
        priority=sub.priority,
        pipeline=text,
        jobs=plan.jobs,
        delivery_id=sub.delivery_id,
        delivery_event=sub.delivery_event,
    )
    return create_run(state.db, run)
