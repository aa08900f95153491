"""The pipeline file format, version 1, as pydantic models (unknown keys refused, values strict).

Defaults a job gets when it says nothing: image ``default``, timeout 1h, 1 CPU, 1Gi memory,
512 pids, 2Gi disk. The policy's tier caps bound all of them.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from stockade.pipeline.graph import graph_problems, topological_order
from stockade.pipeline.located import named_pattern
from stockade.pipeline.units import (
    UnitError,
    format_duration,
    format_size,
    parse_duration,
    parse_size,
)

TIER_NAMES = ("untrusted", "trusted", "release")  # lowest trust first
RESERVED_KEYS = ("artifacts",)  # accepted, not run yet

JOB_NAME = named_pattern(r"^[A-Za-z0-9_-]{1,64}$", "use 1 to 64 letters, digits, '_' or '-'")
ENV_NAME = named_pattern(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$",
                         "start with a letter or '_', then letters, digits or '_'")
# Host, *.domain, optional :port (see docs/egress.md for how they match).
HOST_PATTERN = named_pattern(
    r"^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*(:\d{1,5})?$",
    "write a host such as pypi.org, *.example.com or example.com:8443",
)
_IMAGE_NAME = re.compile(
    r"[a-z0-9][a-z0-9._-]{0,127}(/[a-z0-9][a-z0-9._-]{0,127}){0,4}(:[A-Za-z0-9._-]{1,128})?"
)
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def _unit(parse: Any, kind: str) -> Any:
    """A before-validator running a strict unit parser, with the parser's hint kept for the user."""

    def validate(value: object) -> object:
        try:
            return parse(value)
        except UnitError as exc:
            raise PydanticCustomError(kind, str(exc), {"hint": exc.hint}) from None

    return BeforeValidator(validate)


def _no_nul(value: object) -> object:
    # execve cannot pass a NUL byte; refuse it here rather than fail mysteriously in the sandbox.
    if isinstance(value, str) and "\x00" in value:
        raise PydanticCustomError("nul_byte", "contains a NUL byte", {"hint": "remove it"})
    return value


def _image_ref(value: object) -> object:
    if not isinstance(value, str):
        return value  # the str type check reports it
    if value.startswith("sha256:"):
        if not _DIGEST.fullmatch(value):
            raise PydanticCustomError(
                "image", "{value} is not a full sha256 digest",
                {"value": repr(value), "hint": "write sha256: and 64 lowercase hex digits"},
            )
    elif not _IMAGE_NAME.fullmatch(value):
        raise PydanticCustomError(
            "image", "{value} is not an image name or digest",
            {"value": repr(value), "hint": "write a name like `default` or `python:3.12`, "
                                     "or a digest `sha256:<64 hex>`"},
        )
    return value


# Serialized back to the strict text form, so ``model_validate(model_dump(by_alias=True))``
# round-trips (a stored pipeline reloads exactly).
Duration = Annotated[float, _unit(parse_duration, "duration"), PlainSerializer(format_duration)]
Size = Annotated[int, _unit(parse_size, "size"), PlainSerializer(format_size)]
JobName = Annotated[str, Field(pattern=JOB_NAME)]
EnvName = Annotated[str, Field(pattern=ENV_NAME)]
EnvValue = Annotated[str, BeforeValidator(_no_nul)]
Env = Annotated[dict[EnvName, EnvValue], Field(max_length=256)]
ImageRef = Annotated[str, BeforeValidator(_image_ref)]
TierName = Literal["untrusted", "trusted", "release"]
HostPattern = Annotated[str, Field(pattern=HOST_PATTERN)]
EgressMode = Literal["enforce", "audit"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)


class JobResources(_Strict):
    """What one job may use; each value is capped by its tier in the policy."""

    cpus: float = Field(default=1.0, gt=0, le=256, examples=[1, 0.5])
    memory: Size = Field(default=1024**3, examples=["1Gi", "512Mi"])
    pids: int = Field(default=512, ge=16, le=1_000_000, examples=[512])
    disk: Size = Field(default=2 * 1024**3, examples=["2Gi"])


def _egress_shorthand(value: object) -> object:
    # `egress: [pypi.org]` is short for `egress: {allow: [pypi.org]}`.
    return {"allow": value} if isinstance(value, list) else value


class JobEgress(_Strict):
    """What a job asks of its tier's egress: a narrower allowlist, or audit mode."""

    allow: list[HostPattern] | None = Field(default=None, max_length=1000,
                                            examples=["[pypi.org, files.pythonhosted.org]"])
    mode: EgressMode | None = Field(default=None, examples=["audit"])


ENVIRONMENT_NAME = named_pattern(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
                                 "use letters, digits, '_', '.' or '-' (at most 64)")


class Step(_Strict):
    """One shell script run in the job's sandbox."""

    name: str = Field(min_length=1, max_length=128, examples=["unit tests"])
    run: Annotated[str, BeforeValidator(_no_nul)] = Field(min_length=1, examples=["make test"])
    env: Env = Field(default_factory=dict, examples=["{KEY: value}"])
    # Secrets this step gets, fetched just before it and gone after it: each in the variable of
    # its own name. Never the job's other steps.
    secrets: list[EnvName] = Field(default_factory=list, max_length=64,
                                   examples=["[PYPI_TOKEN]"])
    timeout: Duration | None = Field(default=None, examples=["5m"])
    continue_on_error: bool = Field(default=False, examples=["false"])


class Job(_Strict):
    """One job: steps run in order in one fresh sandbox."""

    image: ImageRef = Field(default="default", examples=["default"])
    needs: list[JobName] = Field(default_factory=list, max_length=256, examples=["[build]"])
    tier: TierName | None = Field(default=None, examples=["untrusted"])
    timeout: Duration = Field(default=3600.0, examples=["10m", "1h30m"])
    resources: JobResources = Field(default_factory=JobResources,
                                    examples=["{cpus: 1, memory: 1Gi, pids: 512, disk: 2Gi}"])
    env: Env = Field(default_factory=dict, examples=["{KEY: value}"])
    steps: list[Step] = Field(min_length=1, max_length=256,
                              examples=["[{name: test, run: make test}]"])
    egress: Annotated[JobEgress | None, BeforeValidator(_egress_shorthand)] = Field(
        default=None, examples=["[pypi.org]", "{allow: [pypi.org], mode: audit}"])
    # The job may ask its agent for OIDC ID tokens (GET http://stockade.internal/token).
    id_token: bool = Field(default=False, alias="id-token", examples=["true"])
    # A deployment environment: secret grants and the token's `sub` name it.
    environment: Annotated[str, Field(pattern=ENVIRONMENT_NAME)] | None = Field(
        default=None, examples=["production"])
    # Secrets are declared per step (steps[].secrets); here only to explain that, never ignored.
    secrets: Any = None
    # Reserved for the next issues: accepted so files can be written ahead, never ignored:
    # a job that uses one is refused by the server until it is supported.
    artifacts: Any = None

    @model_validator(mode="after")
    def _secrets_per_step(self) -> Job:
        if self.secrets is not None:
            raise PydanticCustomError(
                "job_secrets", "secrets are declared per step, not per job",
                {"at": ("secrets",), "hint": "move them to `secrets: [NAME]` of the step that "
                 "needs them, so no other step of the job ever sees them"},
            )
        return self

    @model_validator(mode="after")
    def _unique_step_names(self) -> Job:
        seen: set[str] = set()
        for index, step in enumerate(self.steps):
            if step.name in seen:
                raise PydanticCustomError(
                    "duplicate_step", "step name {name} is used twice",
                    {"name": repr(step.name), "at": ("steps", index, "name"),
                     "hint": "give each step its own name"},
                )
            seen.add(step.name)
        return self

    def reserved_in_use(self) -> list[str]:
        """The reserved keys this job gives a value (YAML spelling), e.g. ``["egress"]``."""
        return [key for key in RESERVED_KEYS if getattr(self, key.replace("-", "_")) is not None]


class Pipeline(_Strict):
    """A whole ``.stockade.yml``: jobs in file order, forming a DAG through ``needs``."""

    version: Literal[1] = Field(examples=["1"])
    jobs: dict[JobName, Job] = Field(min_length=1, max_length=256,
                                     examples=["{test: {steps: [{name: test, run: make test}]}}"])

    @model_validator(mode="after")
    def _graph(self) -> Pipeline:
        found = graph_problems({name: list(job.needs) for name, job in self.jobs.items()})
        if found:
            path, message, hint = found[0]
            raise PydanticCustomError("pipeline_graph", "{where}: {message}",
                                      {"where": ".".join(map(str, path)), "message": message,
                                       "hint": hint})
        return self

    def order(self) -> list[str]:
        """Job names in an order where every job comes after its needs; file order among equals."""
        return topological_order({name: list(job.needs) for name, job in self.jobs.items()})
