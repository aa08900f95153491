"""POST /api/v1/webhooks/github: signed GitHub deliveries start runs through the submit path.

Order of checks: webhooks configured (else 503, fail closed), signature over the raw bytes,
headers, JSON, replay guard, then the same submit as POST /runs. A delivery refused at any step
stores nothing; an accepted one records its delivery id in the run's transaction.
"""

from __future__ import annotations

import json

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from stockade.errors import InvalidInput, StockadeError
from stockade.server.github import Ignored, translate, verify_signature
from stockade.server.state import ServerState, get_state
from stockade.server.submit import Submission, submit
from stockade.store.runs import ReplayedDelivery, delivery_seen

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])
log = structlog.get_logger("stockade.server")


class WebhooksDisabled(StockadeError):
    code = "webhooks_disabled"
    status = 503


@router.post("/github", status_code=201)
async def github(request: Request, state: ServerState = Depends(get_state)) -> JSONResponse:
    """Receive one GitHub delivery (push or pull_request)."""
    secret = state.settings.webhook_secret
    if not secret:
        raise WebhooksDisabled(
            "webhooks are disabled: no webhook secret is configured",
            hint="set STOCKADE_WEBHOOK_SECRET (or webhook_secret in config.toml) and restart",
        )
    body = await request.body()
    headers = request.headers
    verify_signature(
        secret, body, headers.get("x-hub-signature-256"), headers.get("x-hub-signature")
    )
    event = headers.get("x-github-event", "")
    delivery = headers.get("x-github-delivery", "")
    if not event or not delivery or len(delivery) > 128:
        raise InvalidInput(
            "X-GitHub-Event and X-GitHub-Delivery headers are required", code="missing_headers"
        )
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("the delivery body is not JSON", code="malformed_payload") from exc
    if await state.call(delivery_seen, state.db, delivery):
        raise ReplayedDelivery(f"delivery {delivery} was already received")
    what = translate(event, payload)
    if isinstance(what, Ignored):
        log.info("webhook_ignored", delivery=delivery, github_event=event, code=what.code)
        return JSONResponse({"code": what.code, "message": what.message, "status": 202}, 202)
    sub = Submission(
        repository=what.repository,
        repository_name=what.repository_name,
        ref=what.ref,
        sha=what.sha,
        event=what.event,
        actor=what.actor,
        author_association=what.author_association,
        fork=what.fork,
        delivery_id=delivery,
        delivery_event=event,
    )
    run_id, effects = await state.call(submit, state, sub)
    state.notifier.publish(effects)
    log.info(
        "webhook_run",
        delivery=delivery,
        github_event=event,
        run_id=run_id,
        sha=what.sha,
        fork=what.fork,
    )
    return JSONResponse({"run_id": run_id}, 201)
