"""Strict YAML reading that remembers where every key and value came from.

PyYAML's composer gives nodes with line/column marks; we build plain Python data from them and keep
a map from each field path to its position, so a validation error deep in the data can point at
the exact line and column. Stricter than ``yaml.safe_load`` on purpose: duplicate keys, anchors and
aliases, non-scalar keys and oversized files are problems, not silently accepted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from stockade.pipeline.problems import Problem

MAX_FILE_BYTES = 1024 * 1024  # a pipeline or policy is text a person writes; 1 MiB is generous
MAX_DEPTH = 32  # our formats nest 5 deep; deeper input is a mistake or an attack

FieldPath = tuple[str | int, ...]


def format_path(path: FieldPath) -> str:
    """``("jobs", "test", "steps", 0, "run")`` → ``jobs.test.steps[0].run``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


@dataclass
class Document:
    """Data read from one file, with the 1-based (line, column) of every value and key."""

    filename: str
    data: object = None
    values: dict[FieldPath, tuple[int, int]] = field(default_factory=dict)
    keys: dict[FieldPath, tuple[int, int]] = field(default_factory=dict)

    def position(self, path: FieldPath, *, key: bool = False) -> tuple[int, int]:
        """Where ``path`` is; for a missing path, where its nearest present parent is."""
        if key and path in self.keys:
            return self.keys[path]
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            if prefix in self.values:
                return self.values[prefix]
        return (1, 1)

    def problem(
        self, path: FieldPath, message: str, hint: str = "", *, key: bool = False
    ) -> Problem:
        """A Problem located at ``path`` (at its key with ``key=True``)."""
        line, column = self.position(path, key=key)
        return Problem(self.filename, line, column, format_path(path), message, hint)


_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


def _pos(node: Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    """Turns composed nodes into data, recording positions and collecting problems."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.problems: list[Problem] = []
        self._scalars = SafeConstructor()

    def _add(self, node: Node, path: FieldPath, message: str, hint: str) -> None:
        line, column = _pos(node)
        self.problems.append(
            Problem(self.doc.filename, line, column, format_path(path), message, hint)
        )

    def build(self, node: Node, path: FieldPath) -> object:
        self.doc.values[path] = _pos(node)
        if isinstance(node, MappingNode | SequenceNode) and node.tag not in _PLAIN_TAGS:
            # Safe construction would refuse it; refuse it here with a position instead.
            self._add(node, path, f"YAML tag {node.tag!r} is not supported",
                      "remove the tag; write a plain mapping or list")
            return None
        if isinstance(node, MappingNode):
            return self._mapping(node, path)
        if isinstance(node, SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, ScalarNode)
        try:
            return self._scalars.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self._add(node, path, f"cannot read this value: {getattr(exc, 'problem', exc)}",
                      "write a plain string, number or boolean")
            return None

    def _mapping(self, node: MappingNode, path: FieldPath) -> dict[str, object]:
        out: dict[str, object] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                self._add(key_node, path, "keys must be plain names",
                          "write `name: value`; merge keys (<<) and complex keys are not supported")
                continue
            # The source text, not the YAML 1.1 value: `on:` is the key "on", not True.
            key = key_node.value
            child = (*path, key)
            if key in out:
                first_line = self.doc.keys[child][0]
                self._add(key_node, child, f"duplicate key {key!r} (first defined on line "
                          f"{first_line})", "remove one of them; YAML keeps only one silently")
                continue
            self.doc.keys[child] = _pos(key_node)
            out[key] = self.build(value_node, child)
        return out


def _scan(text: str, filename: str) -> Problem | None:
    """Refuse aliases and deep nesting before composing: PyYAML's parser is iterative, its
    composer recursive, and an alias lets a small file stand for a huge tree."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        mark = event.start_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        if isinstance(event, yaml.AliasEvent):
            return Problem(filename, line, column, "",
                           "anchors and aliases (*name) are not supported",
                           "repeat the value instead")
        if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                return Problem(filename, line, column, "",
                               f"nested more than {MAX_DEPTH} levels deep", "flatten it")
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            depth -= 1
    return None


def read_yaml(text: str, filename: str) -> tuple[Document, list[Problem]]:
    """Parse one YAML document; return it (data may be None) and every problem found."""
    doc = Document(filename)
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        return doc, [Problem(filename, 1, 1, "", f"file is larger than {MAX_FILE_BYTES} bytes",
                             "a pipeline or policy file is small text; split or shorten it")]
    loader = yaml.SafeLoader(text)
    try:
        refused = _scan(text, filename)
        if refused is not None:
            return doc, [refused]
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        hint = ("indent with spaces; YAML does not allow tabs" if "'\\t'" in str(exc.problem)
                else "check indentation, quoting and colons on this line")
        context = f"{exc.context}: " if exc.context else ""
        return doc, [Problem(filename, line, column, "", f"YAML syntax: {context}{exc.problem}",
                             hint)]
    except yaml.YAMLError as exc:
        return doc, [Problem(filename, 1, 1, "", f"YAML: {exc}", "save the file as UTF-8 YAML")]
    finally:
        loader.dispose()
    if root is None:
        return doc, [Problem(filename, 1, 1, "", "file is empty", "start with `version: 1`")]
    builder = _Builder(doc)
    doc.data = builder.build(root, ())
    return doc, builder.problems
