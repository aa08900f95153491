"""Secrets in real sandboxes: one step's secret is out of reach of every other step, a step that
prints its secret in any usual form leaves none of it in the log, and nothing of the agent's
memory or environment can be read from inside a job (the tj-actions attack).

These run the executor with the agent's own masking (``stockade.agent.masking.JobMasker``); the
end-to-end path through the server's broker is in tests/integration/agent/test_agent_secrets.py.
"""

from __future__ import annotations

import base64
import json
import os
import urllib.parse
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from stockade.agent.masking import JobMasker
from stockade.sandbox.executor import Executor
from stockade.sandbox.interface import JobResult, JobSpec, OutputLine, StepSpec

pytestmark = pytest.mark.root

SECRET = "s3cr3t-Value_With/Odd+Chars=42!"


@pytest.fixture(scope="module")
def executor(tmp_path_factory: pytest.TempPathFactory, image_store: Any) -> Iterator[Executor]:
    made = Executor(image_store, work_root=tmp_path_factory.mktemp("secrets-work"))
    yield made
    made.close()


class OneStepSecret:
    """Hooks giving ``secret`` to step ``index`` only, registering it with the masker first."""

    def __init__(self, index: int, secret: str, masker: JobMasker | None = None) -> None:
        self.index, self.secret, self.masker = index, secret, masker
        self.calls: list[tuple[str, int]] = []

    def before_step(self, index: int, step: StepSpec) -> Mapping[str, str]:
        self.calls.append(("before", index))
        if index != self.index:
            return {}
        if self.masker is not None:
            self.masker.add_secrets([self.secret])
        return {"MY_SECRET": self.secret}

    def after_step(self, index: int, step: StepSpec) -> None:
        self.calls.append(("after", index))
        if self.masker is not None:
            self.masker.flush()


def _run(executor: Executor, steps: list[tuple[str, str]], hooks: Any,
         masker: JobMasker | None = None,
         workspace: Path | None = None) -> tuple[JobResult, list[OutputLine]]:
    out: list[OutputLine] = []
    job = JobSpec(job_id="secret-job", image="default",
                  steps=tuple(StepSpec(name, run) for name, run in steps))
    sink = masker.put if masker is not None else out.append
    result = executor.run_job(job, workspace, sink, hooks=hooks)
    if masker is not None:
        masker.flush()
    return result, out


def test_a_secret_given_to_step_2_is_out_of_reach_of_steps_1_and_3(executor: Executor) -> None:
    snoop = r"""
        # A daemon left by step 1 that would read every process's environment and memory.
        ( setsid bash -c 'for i in $(seq 1 50); do
              cat /proc/[0-9]*/environ 2>/dev/null | tr "\0" "\n" >> /tmp/snooped
              sleep 0.1
          done' & ) ; sleep 0.3; echo planted
    """
    look = """
        env | grep -c s3cr3t || true
        cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep -c s3cr3t || true
        grep -rl s3cr3t /tmp /workspace /proc/[0-9]*/cmdline 2>/dev/null | head -3 || true
        test -e /tmp/snooped && grep -c s3cr3t /tmp/snooped || echo "snooper-gone-or-empty"
        echo looked
    """
    hooks = OneStepSecret(1, SECRET)
    result, out = _run(executor, [
        ("plant", snoop),
        ("use", 'test "$MY_SECRET" = "' + SECRET + '" && echo step2-has-it; sleep 0.3'),
        ("look", look),
    ], hooks)
    text = [line.text for line in out if line.step >= 0]
    assert result.outcome.value == "success", text
    assert "step2-has-it" in text
    by_step3 = [line.text for line in out if line.step == 2]
    assert by_step3[:2] == ["0", "0"], by_step3  # not in step 3's env, not in any /proc environ
    assert not any("/" in line and "s3cr3t" in line for line in by_step3)
    assert "snooper-gone-or-empty" in by_step3 or by_step3[2] == "0"
    assert hooks.calls == [("before", 0), ("after", 0), ("before", 1), ("after", 1),
                           ("before", 2), ("after", 2)]


def _forms(secret: str) -> dict[str, str]:
    raw = secret.encode()
    return {
        "raw": secret,
        "base64-0": base64.b64encode(raw).decode(),
        "base64-1": base64.b64encode(b"x" + raw).decode(),
        "base64-2": base64.b64encode(b"xy" + raw).decode(),
        "base64url": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
        "url": urllib.parse.quote(secret, safe=""),
        "json": json.dumps({"s": secret})[6:-1],
        "basic": base64.b64encode(b"user:" + raw).decode(),
    }


def test_a_step_printing_its_secret_in_every_form_leaves_none_in_the_log(
        executor: Executor) -> None:
    forms = _forms(SECRET)
    logged: list[OutputLine] = []
    masker = JobMasker(logged.append, fail_closed=False, on_leak=lambda: None)
    hooks = OneStepSecret(0, SECRET, masker)
    printing = r"""
        S="$MY_SECRET"
        echo "raw: $S"
        printf '%s' "$S" | base64 -w0; echo
        printf 'x%s' "$S" | base64 -w0; echo
        printf 'xy%s' "$S" | base64 -w0; echo
        printf '%s' "$S" | base64 -w0 | tr '+/' '-_' | tr -d '='; echo
        printf '%s' "$S" | od -An -tx1 | tr -d ' \n'; echo
        printf '%s' "$S" | od -An -tx1 | tr -d ' \n' | tr a-f A-F; echo
        python3 -c 'import os, urllib.parse; print(urllib.parse.quote(os.environ["MY_SECRET"], safe=""))'
        python3 -c 'import json, os; print(json.dumps({"s": os.environ["MY_SECRET"]}))'
        printf '%s' "${S:0:10}"; sleep 0.2; printf '%s\n' "${S:10}"
        echo "$S" | fold -w1
        printf '\033[31m%s\033[0m' "${S:0:5}"; printf '\033[1m%s\033[0m\n' "${S:5}"
        set -x; : "$S"; set +x
        curl -sv --max-time 2 -u "user:$S" http://127.0.0.1:9/ 2>&1 | grep -i authorization || true
        echo done-printing
    """
    result, _ = _run(executor, [("print", printing)], hooks, masker)
    text = "\n".join(line.text for line in logged)
    assert result.outcome.value == "success", text
    assert "done-printing" in text and "***" in text
    for name, form in forms.items():
        assert form not in text, f"{name} form left in the log"
    joined = "".join(line.text for line in logged)  # the one-character-per-line print
    assert SECRET not in joined
    assert SECRET[:12] not in text


def test_the_agents_memory_and_environment_are_out_of_reach(executor: Executor) -> None:
    tail = os.urandom(8).hex()
    marker = "agent-only-" + tail
    os.environ["STOCKADE_TEST_AGENT_MARKER"] = marker  # in this (agent) process's environment
    try:
        me = os.getpid()
        script = f"""
            ls -d /proc/[0-9]* | wc -l
            cat /proc/{me}/environ 2>&1 || true
            head -c 16 /proc/{me}/mem 2>&1 || true
            M=agent-only-; cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep -c "$M{tail}" || true
            for p in /proc/[0-9]*; do cat $p/cmdline 2>/dev/null | tr '\\0' ' '; echo; done
            echo checked
        """
        out: list[OutputLine] = []
        job = JobSpec(job_id="tj", image="default", steps=(StepSpec("peek", script),))
        result = executor.run_job(job, None, out.append)
    finally:
        del os.environ["STOCKADE_TEST_AGENT_MARKER"]
    text = "\n".join(line.text for line in out if line.step == 0)
    assert result.outcome.value == "success", text
    lines = text.splitlines()
    assert int(lines[0]) < 10  # only the job's own few processes are visible
    assert "No such file" in lines[1] and "No such file" in lines[2]
    assert marker not in text
    assert "stockade" not in " ".join(lines[4:-1]).replace("stockade-init", "")
