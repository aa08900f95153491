"""A job's effective limits under its tier's caps: asking for more is refused, never clamped."""

from __future__ import annotations

from stockade.errors import PolicyDenied
from stockade.pipeline import Job, format_duration, format_size
from stockade.policy.values import Limits


def job_limits(caps: Limits, job_name: str, job: Job) -> Limits:
    """The limits ``job`` runs with: its own values where it set them, else its defaults, each
    bounded by ``caps``. A value the job set above its cap raises :class:`PolicyDenied`."""
    res = job.resources
    asked = {
        "cpus": (res.cpus, "cpus" in res.model_fields_set, caps.cpus, f"{res.cpus:g}",
                 f"{caps.cpus:g}"),
        "memory": (res.memory, "memory" in res.model_fields_set, caps.memory,
                   format_size(res.memory), format_size(caps.memory)),
        "pids": (res.pids, "pids" in res.model_fields_set, caps.pids, str(res.pids),
                 str(caps.pids)),
        "disk": (res.disk, "disk" in res.model_fields_set, caps.disk, format_size(res.disk),
                 format_size(caps.disk)),
        "timeout": (job.timeout, "timeout" in job.model_fields_set, caps.timeout,
                    format_duration(job.timeout), format_duration(caps.timeout)),
    }
    over = [f"{key} {mine} > {cap_text}"
            for key, (value, explicit, cap, mine, cap_text) in asked.items()
            if explicit and value > cap]
    if over:
        raise PolicyDenied(
            f"job {job_name!r} asks for more than its tier allows: " + ", ".join(over),
            hint="lower the job's resources/timeout, or have the operator raise the tier's limits",
        )
    return Limits(
        cpus=min(res.cpus, caps.cpus), memory=min(res.memory, caps.memory),
        pids=min(res.pids, caps.pids), disk=min(res.disk, caps.disk),
        timeout=min(job.timeout, caps.timeout),
    )
