"""The environment a job's processes get so that their tools use the proxy."""

from __future__ import annotations


def proxy_env(port: int, host: str = "127.0.0.1") -> dict[str, str]:
    """Proxy variables pointing at the job's listener; nothing bypasses it.

    ``NO_PROXY`` is empty: inside the sandbox there is no route out but the proxy, so a tool
    that bypasses it (because a build sets ``NO_PROXY``) simply fails to connect. ``ALL_PROXY``
    is set too, for tools (curl, git) that read it for schemes the others do not cover.
    """
    url = f"http://{host}:{port}"
    env = {}
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        env[name] = url
        env[name.lower()] = url
    env["NO_PROXY"] = env["no_proxy"] = ""
    return env
