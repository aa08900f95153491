"""A protocol-faithful stand-in server (real HTTP on loopback) and a scriptable executor.

The server speaks ``stockade.api.agent`` with its pydantic models, stores log chunks by seq like
the real one, and records everything the agent did so tests can assert on it.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from stockade.api.agent import (
    Checkout,
    CompleteRequest,
    JobPayload,
    Lease,
    LeaseRequest,
    LogAck,
    LogBatch,
    RegisterRequest,
    RegisterResponse,
    ReleaseRequest,
    ResourcesPayload,
    StepPayload,
    StepReport,
)
from stockade.sandbox.interface import (
    JobResult,
    JobSpec,
    Outcome,
    OutputCallback,
    OutputLine,
    StepResult,
)

REG_TOKEN = "reg-token-0123456789"
CREDENTIAL = "agent-credential-abcdef"


def make_lease(number: int, repo: Path, sha: str, steps: int = 1) -> Lease:
    return Lease(
        lease_id=f"lease-{number}", job_id=f"job-{number}", run_id="run-1", attempt=1,
        tier="untrusted", pool="untrusted", expires_at=time.time() + 30,
        job=JobPayload(
            name=f"job{number}", image="default",
            resources=ResourcesPayload(cpus=1, memory_bytes=1 << 28, pids=64,
                                       disk_bytes=1 << 26, timeout_s=60),
            steps=[StepPayload(name=f"step{i}", run="true") for i in range(steps)],
        ),
        checkout=Checkout(repo_url=str(repo), sha=sha),
    )


@dataclass
class Recorded:
    leases: list[Lease] = field(default_factory=list)  # waiting to be handed out
    handed: list[str] = field(default_factory=list)
    logs: dict[str, dict[int, str]] = field(default_factory=dict)
    steps: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    completed: dict[str, CompleteRequest] = field(default_factory=dict)
    released: dict[str, str] = field(default_factory=dict)
    cancel: set[str] = field(default_factory=set)
    lost: set[str] = field(default_factory=set)
    auth_seen: set[str] = field(default_factory=set)


class FakeServer:
    """Loopback HTTP server implementing the agent protocol for tests."""

    def __init__(self) -> None:
        self.rec = Recorded()
        self.lock = threading.Condition()
        handler = self._handler_class()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def offer(self, lease: Lease) -> None:
        with self.lock:
            self.rec.leases.append(lease)
            self.lock.notify_all()

    def wait_for(self, predicate: Any, timeout_s: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout_s
        with self.lock:
            while not predicate(self.rec):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.lock.wait(remaining)
            return True

    def handle(self, path: str, auth: str, body: bytes) -> tuple[int, Any]:
        parts = path.removeprefix("/api/v1/agents/").split("/")
        if parts == ["register"]:
            req = RegisterRequest.model_validate_json(body)
            if req.registration_token != REG_TOKEN:
                return 401, {"code": "unauthorized", "message": "bad token", "status": 401}
            return 200, RegisterResponse(agent_id="agent-1", credential=CREDENTIAL, pool=req.pool,
                                         heartbeat_interval_s=0.1, lease_ttl_s=5).model_dump()
        with self.lock:
            self.rec.auth_seen.add(auth)
        if auth != f"Bearer {CREDENTIAL}":
            return 401, {"code": "unauthorized", "message": "no", "status": 401}
        if parts == ["lease"]:
            wait = LeaseRequest.model_validate_json(body).wait_s
            with self.lock:
                self.lock.wait_for(lambda: bool(self.rec.leases), timeout=wait)
                if not self.rec.leases:
                    return 204, None
                lease = self.rec.leases.pop(0)
                self.rec.handed.append(lease.lease_id)
                return 200, lease.model_dump()
        lease_id, action = parts[1], parts[2]
        with self.lock:
            try:
                if lease_id in self.rec.lost and action != "release":
                    return 409, {"code": "lease_lost", "message": "gone", "status": 409}
                if action == "heartbeat":
                    return 200, {"expires_at": time.time() + 5,
                                 "cancel": lease_id in self.rec.cancel}
                if action == "logs":
                    store = self.rec.logs.setdefault(lease_id, {})
                    batch = LogBatch.model_validate_json(body)
                    for chunk in batch.chunks:
                        store.setdefault(chunk.seq, chunk.text)
                    acked = -1
                    while acked + 1 in store:
                        acked += 1
                    recorded = 0
                    if acked >= max((c.seq for c in batch.chunks), default=-1):
                        self.rec.steps.setdefault(lease_id, []).extend(
                            (r.index, r.status) for r in batch.steps
                        )
                        recorded = len(batch.steps)
                    return 200, LogAck(acked_seq=acked, steps_recorded=recorded).model_dump()
                if action == "steps":
                    report = StepReport.model_validate_json(body)
                    self.rec.steps.setdefault(lease_id, []).append((report.index, report.status))
                    return 204, None
                if action == "complete":
                    done = CompleteRequest.model_validate_json(body)
                    have = len(self.rec.logs.get(lease_id, {}))
                    if have < done.last_seq + 1:
                        return 409, {"code": "logs_incomplete", "message": "", "status": 409}
                    self.rec.completed[lease_id] = done
                    return 204, None
                if action == "release":
                    self.rec.released[lease_id] = ReleaseRequest.model_validate_json(body).reason
                    return 204, None
            finally:
                self.lock.notify_all()
        return 404, {"code": "not_found", "message": path, "status": 404}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer = server.handle(self.path, self.headers.get("Authorization", ""),
                                               body)
                data = b"" if answer is None else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: Any) -> None:
                pass

        return Handler


class ScriptedExecutor:
    """Prints ``lines`` lines per step, then sleeps ``sleep_s`` (stopping early when cancelled)."""

    def __init__(self, lines: int = 3, sleep_s: float = 0.0) -> None:
        self.lines = lines
        self.sleep_s = sleep_s
        self.specs: list[JobSpec] = []
        self.networks: list[Any] = []  # the NetworkAttachment each job got (None: no network)
        self.sources: list[list[str]] = []
        self.started = threading.Event()
        self.closed = False

    def close(self) -> None:
        self.closed = True

    def run_job(
        self, job: JobSpec, workspace_source: Path | None, on_output: OutputCallback,
        cancel: threading.Event | None = None, *, network: Any = None, hooks: Any = None,
    ) -> JobResult:
        self.specs.append(job)
        self.networks.append(network)
        assert workspace_source is not None
        self.sources.append(sorted(p.name for p in workspace_source.iterdir()))
        self.started.set()
        results = []
        for index, step in enumerate(job.steps):
            for n in range(self.lines):
                on_output(OutputLine(step=index, stream="stdout", text=f"{step.name} line {n}",
                                     ts=time.time()))
            if cancel is not None and cancel.wait(self.sleep_s):
                results.append(StepResult(step.name, Outcome.CANCELLED, None, self.sleep_s))
                return JobResult(Outcome.CANCELLED, tuple(results), 0.1, "cancelled")
            results.append(StepResult(step.name, Outcome.SUCCESS, 0, 0.01))
        return JobResult(Outcome.SUCCESS, tuple(results), 0.1)
