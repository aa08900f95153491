"""Egress through the real agent and server: the policy's allowlist decides, denials show in the
job's log as one clear line, every decision is stored with the job and counted in metrics, and
`suggest` turns a run's denials into the allowlist it needed."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from stockade.policy import default_policy_path
from tests.integration.agent.harness import (
    get,
    job_lines,
    registration_token,
    start_agent,
    submit,
    wait_run_final,
)
from tests.integration.server.harness import ServerHandle, make_repo

pytestmark = [pytest.mark.root]

UPSTREAM = "127.0.0.2"  # the host's loopback, but not the server's address (127.0.0.1)


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"upstream says hello to {self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def upstream() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer((UPSTREAM, 0), _Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _policy(tmp_path: Path, port: int) -> Path:
    text = default_policy_path().read_text()
    # The trusted tier (manual runs) may reach the test's upstream, and its range only.
    text = text.replace(
        "    egress: [pypi.org, files.pythonhosted.org, deb.debian.org]\n    secret_classes: []\n"
        "    token_audiences: []\n\n  # Release",
        f"    egress: ['{UPSTREAM}:{port}']\n    egress_allow_cidrs: [{UPSTREAM}/32]\n"
        "    secret_classes: []\n    token_audiences: []\n\n  # Release", 1)
    assert f"{UPSTREAM}:{port}" in text
    path = tmp_path / "policy.yml"
    path.write_text(text)
    return path


PIPELINE = """\
version: 1
jobs:
  fetch:
    steps:
      - name: allowed
        run: curl -sS --max-time 10 http://{upstream}:{port}/from-the-job
      - name: denied
        run: curl -fsS --max-time 10 http://example.org/ || echo "curl failed as it should"
      - name: control plane
        run: curl -fsS --max-time 10 {server}/healthz || echo "server unreachable as it should"
      - name: internal
        run: curl -sS --max-time 10 http://stockade.internal/health
"""


def test_the_policy_decides_and_every_decision_is_recorded(
    server_factory: Callable[..., ServerHandle], image_store: object, tmp_path: Path,
    upstream: int,
) -> None:
    server = server_factory(policy_file=_policy(tmp_path, upstream))
    repo, sha = make_repo(tmp_path / "repo", PIPELINE.format(
        upstream=UPSTREAM, port=upstream, server=server.url))
    agent = start_agent(server, "trusted", tmp_path / "agent",
                        token=registration_token(server, "trusted"))
    try:
        run = submit(server, repo, sha)
        final = wait_run_final(server, run["id"], timeout_s=120)
    finally:
        assert agent.terminate() == 0
    said = "\n".join(line["text"] for line in job_lines(server, final["jobs"][0]["id"]))
    assert final["status"] == "success", said
    assert "upstream says hello to /from-the-job" in said
    assert "curl failed as it should" in said
    assert "server unreachable as it should" in said
    assert '"status":"ok"' in said.replace(" ", "")
    assert ("egress denied: example.org:80 is not in the allowlist of tier trusted "
            f"(allowed: {UPSTREAM}:{upstream})") in said

    egress = get(server, f"/runs/{run['id']}/egress")
    by_host = {(e["host"], e["decision"], e["reason"]) for e in egress["events"]}
    assert (UPSTREAM, "allow", "allowed") in by_host
    assert ("example.org", "deny", "not_listed") in by_host
    server_host = server.url.split("//")[1].split(":")[0]
    assert any(e["host"] == server_host and e["decision"] == "deny" for e in egress["events"])
    assert all(e["job"] == "fetch" for e in egress["events"])
    allowed = next(e for e in egress["events"] if e["host"] == UPSTREAM)
    assert allowed["ip"] == UPSTREAM and allowed["bytes_down"] > 0 and allowed["port"] == upstream

    suggestion = get(server, f"/runs/{run['id']}/egress/suggest")
    assert "example.org" in suggestion["allow"]

    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKADE_")}
    env.update(STOCKADE_SERVER_URL=server.url, STOCKADE_TOKEN=server.admin_token,
               COLUMNS="200")
    shown = subprocess.run([sys.executable, "-m", "stockade", "egress", "suggest", run["id"]],
                           env=env, capture_output=True, text=True, timeout=60, check=False)
    assert shown.returncode == 0, shown.stderr
    assert "  - example.org" in shown.stdout

    # Counted in metrics, with bounded labels.
    text = httpx.get(server.url + "/metrics").text
    assert 'stockade_jobs_completed_total{outcome="success",pool="trusted"} 1.0' in text
    # example.org and the server itself: neither is on the tier's allowlist.
    assert ('stockade_egress_decisions_total{decision="deny",kind="http",pool="trusted",'
            'reason="not_listed"} 2.0') in text
    assert 'stockade_egress_bytes_total{direction="down",pool="trusted"}' in text
    assert "example.org" not in text  # no host names in labels
