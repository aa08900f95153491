"""Settings in one place: ``$STOCKADE_HOME/config.toml`` overridden by ``STOCKADE_*`` variables.

Server and scheduler settings are explained in docs/server.md.

| setting            | env                        | default                               |
|--------------------|----------------------------|---------------------------------------|
| home               | STOCKADE_HOME              | ./.stockade                           |
| server_url         | STOCKADE_SERVER_URL        | http://127.0.0.1:8420                 |
| listen_host        | STOCKADE_LISTEN_HOST       | 127.0.0.1                             |
| listen_port        | STOCKADE_LISTEN_PORT       | 8420                                  |
| database_url       | STOCKADE_DATABASE_URL      | sqlite:///$STOCKADE_HOME/stockade.db  |
| policy_file        | STOCKADE_POLICY_FILE       | $STOCKADE_HOME/policy.yml, else packaged |
| sandbox_backend    | STOCKADE_SANDBOX_BACKEND   | crun                                  |
| sandbox_warm       | STOCKADE_SANDBOX_WARM      | true (agents prepare the next job's sandbox) |
| api_token          | STOCKADE_TOKEN             | (none; CLI credential for the server) |
| webhook_secret     | STOCKADE_WEBHOOK_SECRET    | (none: webhooks refused until set)    |
| lease_ttl_s        | STOCKADE_LEASE_TTL_S       | 30 (lease dies unless heartbeated)    |
| heartbeat_interval_s | STOCKADE_HEARTBEAT_INTERVAL_S | 10 (told to agents)              |
| max_infra_retries  | STOCKADE_MAX_INFRA_RETRIES | 2 (requeues, then the job is `lost`)  |
| job_timeout_grace_s | STOCKADE_JOB_TIMEOUT_GRACE_S | 60 (server backstop past timeout) |
| max_body_bytes     | STOCKADE_MAX_BODY_BYTES    | 10485760 (largest request body)       |
| registration_token_ttl_s | STOCKADE_REGISTRATION_TOKEN_TTL_S | 600         |
| reaper_interval_s  | STOCKADE_REAPER_INTERVAL_S | 1.0 (lease/timeout check period)      |
| issuer_url         | STOCKADE_ISSUER_URL        | server_url if set, else the listen URL |
| id_token_alg       | STOCKADE_ID_TOKEN_ALG      | ES256 (or RS256)                      |
| id_token_lifetime_s | STOCKADE_ID_TOKEN_LIFETIME_S | 300 (capped at 600)                |
| signing_key_rotation_s | STOCKADE_SIGNING_KEY_ROTATION_S | 604800 (7 days)              |
| master_key         | STOCKADE_MASTER_KEY        | (none: base64 of 32 bytes; else file) |
| master_key_file    | STOCKADE_MASTER_KEY_FILE   | $STOCKADE_HOME/master.key (made 0600) |

``issuer_url`` is exactly the ``iss`` of job tokens: when unset, ``server_url`` if it was
configured, else ``http://LISTEN_HOST:LISTEN_PORT``.

Identity and secrets settings are explained in docs/identity.md. The master key never lives in
the database: back up its file (or the variable) apart from the database backups.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from stockade.errors import InvalidInput

DEFAULT_PORT = 8420


@dataclass(frozen=True)
class Settings:
    home: Path
    server_url: str = f"http://127.0.0.1:{DEFAULT_PORT}"
    listen_host: str = "127.0.0.1"
    listen_port: int = DEFAULT_PORT
    database_url: str = ""
    policy_file: str = ""
    sandbox_backend: str = "crun"
    sandbox_warm: bool = True
    api_token: str = ""
    webhook_secret: str = ""
    lease_ttl_s: float = 30.0
    heartbeat_interval_s: float = 10.0
    max_infra_retries: int = 2
    job_timeout_grace_s: float = 60.0
    max_body_bytes: int = 10 * 1024 * 1024
    registration_token_ttl_s: float = 600.0
    reaper_interval_s: float = 1.0
    issuer_url: str = ""
    id_token_alg: str = "ES256"  # noqa: S105 (an algorithm name)
    id_token_lifetime_s: float = 300.0
    signing_key_rotation_s: float = 7 * 24 * 3600.0
    master_key: str = field(default="", repr=False)  # never printed
    master_key_file: str = ""

    @property
    def images_dir(self) -> Path:
        return self.home / "images"

    @property
    def work_dir(self) -> Path:
        """Per-job scratch space of agents on this machine (workspaces, bundles)."""
        return self.home / "work"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'stockade.db'}"

    @property
    def effective_issuer_url(self) -> str:
        """The OIDC issuer, exactly the ``iss`` of job tokens: the setting, else server_url when
        it was configured, else the address the server listens on."""
        if self.issuer_url:
            return self.issuer_url.rstrip("/")
        if self.server_url != Settings.server_url or self.listen_host in ("0.0.0.0", "::"):
            return self.server_url.rstrip("/")
        host = f"[{self.listen_host}]" if ":" in self.listen_host else self.listen_host
        return f"http://{host}:{self.listen_port}"

    @property
    def effective_master_key_file(self) -> Path:
        return Path(self.master_key_file) if self.master_key_file else self.home / "master.key"

    @property
    def effective_id_token_lifetime_s(self) -> float:
        """The token lifetime: the setting, never more than ten minutes."""
        return max(1.0, min(self.id_token_lifetime_s, 600.0))


_ENV = {
    "server_url": "STOCKADE_SERVER_URL",
    "listen_host": "STOCKADE_LISTEN_HOST",
    "listen_port": "STOCKADE_LISTEN_PORT",
    "database_url": "STOCKADE_DATABASE_URL",
    "policy_file": "STOCKADE_POLICY_FILE",
    "sandbox_backend": "STOCKADE_SANDBOX_BACKEND",
    "sandbox_warm": "STOCKADE_SANDBOX_WARM",
    "api_token": "STOCKADE_TOKEN",
    "webhook_secret": "STOCKADE_WEBHOOK_SECRET",
    "lease_ttl_s": "STOCKADE_LEASE_TTL_S",
    "heartbeat_interval_s": "STOCKADE_HEARTBEAT_INTERVAL_S",
    "max_infra_retries": "STOCKADE_MAX_INFRA_RETRIES",
    "job_timeout_grace_s": "STOCKADE_JOB_TIMEOUT_GRACE_S",
    "max_body_bytes": "STOCKADE_MAX_BODY_BYTES",
    "registration_token_ttl_s": "STOCKADE_REGISTRATION_TOKEN_TTL_S",
    "reaper_interval_s": "STOCKADE_REAPER_INTERVAL_S",
    "issuer_url": "STOCKADE_ISSUER_URL",
    "id_token_alg": "STOCKADE_ID_TOKEN_ALG",
    "id_token_lifetime_s": "STOCKADE_ID_TOKEN_LIFETIME_S",
    "signing_key_rotation_s": "STOCKADE_SIGNING_KEY_ROTATION_S",
    "master_key": "STOCKADE_MASTER_KEY",
    "master_key_file": "STOCKADE_MASTER_KEY_FILE",
}


def home_dir(env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ) if env is None else env
    return Path(env.get("STOCKADE_HOME") or ".stockade").absolute()


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Read ``config.toml`` from the home directory (if present), then apply the environment."""
    env = dict(os.environ) if env is None else env
    home = home_dir(env)
    settings = Settings(home=home)
    known = {f.name: f for f in fields(Settings) if f.name != "home"}
    path = home / "config.toml"
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise InvalidInput(f"{path}: {exc}", hint="fix the TOML syntax") from exc
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise InvalidInput(
                f"{path}: unknown setting(s) {', '.join(unknown)}",
                hint=f"known settings: {', '.join(sorted(known))}",
            )
        for name, value in data.items():
            expected = type(getattr(settings, name))
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                data[name] = float(value)
            elif not isinstance(value, expected) or isinstance(value, bool) != (expected is bool):
                raise InvalidInput(
                    f"{path}: setting {name} must be {expected.__name__}, "
                    f"not {type(value).__name__}",
                    hint=f"write {name} as a TOML {expected.__name__}",
                )
        settings = replace(settings, **data)
    overrides: dict[str, Any] = {}
    for name, var in _ENV.items():
        if var in env and env[var] != "":
            overrides[name] = _parse(name, var, env[var], type(getattr(settings, name)))
    return replace(settings, **overrides)


def _parse(name: str, var: str, text: str, kind: type) -> object:
    """An environment value as the setting's type (numbers are checked, not trusted)."""
    if kind is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise InvalidInput(f"{var}={text!r} is not a boolean", hint=f"set {name} to true or false")
    if kind not in (int, float):
        return text
    try:
        return kind(text)
    except ValueError as exc:
        raise InvalidInput(
            f"{var}={text!r} is not a valid {kind.__name__}", hint=f"set {name} to a number"
        ) from exc
