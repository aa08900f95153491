"""Settings in one place: ``$STOCKADE_HOME/config.toml`` overridden by ``STOCKADE_*`` variables.

| setting            | env                        | default                               |
|--------------------|----------------------------|---------------------------------------|
| home               | STOCKADE_HOME              | ./.stockade                           |
| server_url         | STOCKADE_SERVER_URL        | http://127.0.0.1:8420                 |
| listen_host        | STOCKADE_LISTEN_HOST       | 127.0.0.1                             |
| listen_port        | STOCKADE_LISTEN_PORT       | 8420                                  |
| database_url       | STOCKADE_DATABASE_URL      | sqlite:///$STOCKADE_HOME/stockade.db  |
| policy_file        | STOCKADE_POLICY_FILE       | $STOCKADE_HOME/policy.yml, else the packaged default |
| sandbox_backend    | STOCKADE_SANDBOX_BACKEND   | crun                                  |
| api_token          | STOCKADE_TOKEN             | (none; CLI credential for the server) |
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path

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
    api_token: str = ""

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


_ENV = {
    "server_url": "STOCKADE_SERVER_URL",
    "listen_host": "STOCKADE_LISTEN_HOST",
    "listen_port": "STOCKADE_LISTEN_PORT",
    "database_url": "STOCKADE_DATABASE_URL",
    "policy_file": "STOCKADE_POLICY_FILE",
    "sandbox_backend": "STOCKADE_SANDBOX_BACKEND",
    "api_token": "STOCKADE_TOKEN",
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
        settings = replace(settings, **data)
    overrides: dict[str, object] = {}
    for name, var in _ENV.items():
        if var in env and env[var] != "":
            overrides[name] = int(env[var]) if name == "listen_port" else env[var]
    return replace(settings, **overrides)
