"""Validate YAML data against a pydantic model and turn every error into a located Problem.

pydantic reports errors by ``loc`` (a path of keys and indexes); the :class:`Document` knows the
line and column of each path. The messages are rewritten in the file's own terms (mapping, list,
string) with a hint saying what would be right: the field's example, the allowed keys, a likely
spelling.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from stockade.pipeline.problems import Problem
from stockade.pipeline.yamldoc import Document, FieldPath

M = TypeVar("M", bound=BaseModel)


def validate_document(model: type[M], doc: Document, *, skip: frozenset[str] = frozenset()
                      ) -> tuple[M | None, list[Problem]]:
    """The validated model, or None with a Problem for every error (types in ``skip`` dropped)."""
    try:
        return model.model_validate(doc.data), []
    except ValidationError as exc:
        errors = [e for e in exc.errors(include_url=False) if e["type"] not in skip]
        return None, [_problem(model, doc, err) for err in errors]


def yaml_type(value: object) -> str:
    """The YAML name of a value's type, as a user reads it in their file."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({value!r})" if len(value) < 40 else "a string"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__} ({value})"


_EXPECTED = {
    "string_type": "a string",
    "float_type": "a number",
    "int_type": "a whole number",
    "bool_type": "true or false",
    "dict_type": "a mapping (key: value)",
    "model_type": "a mapping (key: value)",
    "model_attributes_type": "a mapping (key: value)",
    "list_type": "a list",
}


def _problem(model: type[BaseModel], doc: Document, err: ErrorDetails) -> Problem:
    kind, value = err["type"], err.get("input")
    ctx: dict[str, Any] = dict(err.get("ctx") or {})
    # A model-level check may say which field inside the model it is about.
    loc: FieldPath = (*err["loc"], *ctx.get("at", ()))
    field = _field_at(model, loc)
    example = _example(field)
    if loc and loc[-1] == "[key]":  # a mapping key itself is wrong (e.g. a job name)
        path = loc[:-1]
        return doc.problem(path, f"invalid name {path[-1]!r}", _pattern_words(ctx), key=True)
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = (f"did you mean {close[0]!r}? " if close else "") + (
            "allowed here: " + ", ".join(allowed))
        return doc.problem(loc, f"unknown key {loc[-1]!r}", hint, key=True)
    if kind == "missing":
        hint = f"add `{loc[-1]}: {example}`" if example else f"add `{loc[-1]}`"
        return doc.problem(loc, f"required key {loc[-1]!r} is missing", hint)
    message, hint = _describe(kind, value, ctx, err["msg"])
    if not hint and example:
        hint = f"e.g. `{loc[-1] if loc else ''}: {example}`"
    return doc.problem(loc, message, hint)


def _describe(kind: str, value: object, ctx: dict[str, Any], default: str) -> tuple[str, str]:
    """What is wrong with a value, and (when known) what would be right."""
    hint = str(ctx.get("hint") or "")
    if kind in _EXPECTED:
        message = f"expected {_EXPECTED[kind]}, got {yaml_type(value)}"
        if not hint and kind == "string_type" and isinstance(value, int | float | bool):
            hint = f"quote it: '{_yaml_text(value)}'"
    elif kind == "literal_error":
        message = f"{yaml_type(value)} is not allowed"
        hint = hint or f"expected {ctx.get('expected', '')}"
    elif kind == "string_pattern_mismatch":
        message = f"{yaml_type(value)} is not allowed here"
        hint = _pattern_words(ctx)
    elif kind in _BOUNDS:
        message = f"{yaml_type(value)} is out of range"
        bound = next(iter(ctx.values()), "")
        hint = f"must be {_BOUNDS[kind]} {bound}"
    elif kind in ("too_short", "string_too_short") and isinstance(value, list | dict | str):
        message = "must not be empty"
    elif kind in ("too_long", "string_too_long"):
        unit = "characters" if kind == "string_too_long" else "entries"
        message = f"too long: at most {ctx.get('max_length')} {unit}"
        hint = hint or "split or shorten it"
    else:
        message = default
    return message, hint


def _yaml_text(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


_BOUNDS = {"greater_than": "more than", "greater_than_equal": "at least",
           "less_than": "less than", "less_than_equal": "at most"}
# Patterns in words, for hints; a pattern not registered is shown as it is.
_PATTERN_WORDS: dict[str, str] = {}


def named_pattern(pattern: str, words: str) -> str:
    """Register how to say ``pattern`` in words (for hints) and return it."""
    _PATTERN_WORDS[pattern] = words
    return pattern


def _pattern_words(ctx: dict[str, Any]) -> str:
    pattern = str(ctx.get("pattern", ""))
    return _PATTERN_WORDS.get(pattern, f"must match {pattern}")


def _example(field: FieldInfo | None) -> str:
    if field is None or not field.examples:
        return ""
    return str(field.examples[0])


def _unwrap(annotation: Any) -> Any:
    """Strip Optional and Annotated: the model/dict/list shape under a field's type."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            options = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = options[0] if len(options) == 1 else Any
        else:
            return annotation


def _walk(model: type[BaseModel], loc: FieldPath) -> tuple[Any, FieldInfo | None]:
    """The type found at ``loc`` inside ``model`` and the last field passed on the way."""
    current: Any = model
    field: FieldInfo | None = None
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = _field_named(current, str(part))
            if field is None:
                return Any, None
            current = field.annotation
        elif typing.get_origin(current) is dict:
            current, field = typing.get_args(current)[1], None  # an entry, not the field
        elif typing.get_origin(current) is list:
            current, field = typing.get_args(current)[0], None
        else:
            return Any, None
    return _unwrap(current), field


def _field_named(model: type[BaseModel], key: str) -> FieldInfo | None:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return info
    return None


def _field_at(model: type[BaseModel], loc: FieldPath) -> FieldInfo | None:
    return _walk(model, loc)[1]


def _allowed_keys(model: type[BaseModel], loc: FieldPath) -> list[str]:
    container, _ = _walk(model, loc)
    if isinstance(container, type) and issubclass(container, BaseModel):
        return [info.alias or name for name, info in container.model_fields.items()]
    return []
