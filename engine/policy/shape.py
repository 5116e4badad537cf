"""Check the merged document's shape against ``engine.policy.schema``, entry by entry.

Each channel, model, alias and group is validated on its own, so one broken entry does not
hide the problems of the others; pydantic's errors become diagnostics with plain messages
(``expected an integer, got a string``, ``unknown key (known: ...)``). A value is never
echoed back: it may be a secret.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from pydantic import BaseModel, ValidationError

from engine.policy.document import COLLECTIONS, Problems
from engine.policy.schema import (
    ENTRY_MODELS,
    SINGLE_MODELS,
    AliasRaw,
    BreakerRaw,
    CanaryRaw,
    ChannelRaw,
    GroupRaw,
    ModelRaw,
    Raw,
    RetryRaw,
    RouterRaw,
)

SECTIONS = sorted([*ENTRY_MODELS, *SINGLE_MODELS])
_FORBIDDEN_NAME_CHARS = frozenset(" \t\r\n*?[]")


@dataclass(slots=True)
class RawPolicy:
    """The sections that passed shape checks, plus every entry name that was written."""

    channels: dict[str, ChannelRaw] = field(default_factory=dict)
    models: dict[str, ModelRaw] = field(default_factory=dict)
    aliases: dict[str, AliasRaw] = field(default_factory=dict)
    groups: dict[str, GroupRaw] = field(default_factory=dict)
    retry: RetryRaw = field(default_factory=RetryRaw)
    breaker: BreakerRaw = field(default_factory=BreakerRaw)
    router: RouterRaw = field(default_factory=RouterRaw)
    canary: CanaryRaw | None = None
    written: dict[str, set[str]] = field(default_factory=dict)  # section -> names written
    dropped: set[tuple[str, ...]] = field(default_factory=set)  # (section, name, key) ignored

    def was_dropped(self, section: str, name: str, key: str) -> bool:
        """True when ``key`` of this entry was broken and is read as its default."""
        return (section, name, key) in self.dropped


def check_shape(problems: Problems) -> RawPolicy:
    raw = RawPolicy()
    data = problems.doc.data
    for section in sorted(data):
        value = data[section]
        if section not in ENTRY_MODELS and section not in SINGLE_MODELS:
            problems.add([section], f"unknown section (known: {', '.join(SECTIONS)})")
        elif not isinstance(value, dict):
            problems.add([section], f"expected a table, got {describe(value)}")
        elif section in COLLECTIONS:
            raw.written[section] = set(value)
            entries = getattr(raw, section)
            for name in sorted(value):
                _check_name(problems, section, name)
                path = [section, name]
                checked = _validate(problems, raw, ENTRY_MODELS[section], value[name], path)
                if checked is not None:
                    entries[name] = checked
        else:
            checked = _validate(problems, raw, SINGLE_MODELS[section], value, [section])
            if checked is not None:
                setattr(raw, section, checked)
    return raw


def _check_name(problems: Problems, section: str, name: str) -> None:
    if not name or _FORBIDDEN_NAME_CHARS & set(name):
        problems.add([section, name], "a name must be non-empty, without spaces or * ? [ ]")


def _validate(problems: Problems, raw: RawPolicy, model: type[Raw], value: Any, path: list[str]) -> Raw | None:
    """The validated entry. When some keys are broken (already reported), the entry is
    validated again without them, so its other keys still get their semantic checks; the
    policy fails either way."""
    if not isinstance(value, dict):
        problems.add(path, f"expected a table, got {describe(value)}")
        return None
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        broken: set[str] = set()
        for error in exc.errors(include_url=False):
            loc = [str(part) for part in error["loc"]]
            problems.add([*path, *loc], error_message(model, error, loc))
            if loc:
                broken.add(loc[0])
    try:
        partial = model.model_validate({k: v for k, v in value.items() if k not in broken})
    except ValidationError:
        return None
    raw.dropped.update((*path, key) for key in broken)
    return partial


def error_message(model: type[BaseModel], error: Any, loc: list[str]) -> str:
    """A pydantic error as a plain diagnostic message (never echoing the value)."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    got = describe(error.get("input"))
    expected = {
        "int_type": "an integer",
        "float_type": "a number",
        "string_type": "a string",
        "bool_type": "true or false",
        "list_type": "an array",
        "dict_type": "a table",
        "model_type": "a table",
        "model_attributes_type": "a table",
    }
    if kind in expected:
        return f"expected {expected[kind]}, got {got}"
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        known = _fields_at(model, loc[:-1])
        return f"unknown key (known: {', '.join(known)})" if known else "unknown key"
    if kind == "greater_than":
        return f"must be greater than {ctx['gt']:g}"
    if kind == "greater_than_equal":
        return f"must be at least {ctx['ge']:g}"
    if kind == "less_than_equal":
        return f"must be at most {ctx['le']:g}"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def describe(value: object) -> str:
    """What kind of TOML value this is, never the value itself."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, (datetime, date, time)):
        return "a date/time"
    return type(value).__name__


def _fields_at(model: type[BaseModel], loc: list[str]) -> list[str]:
    """The keys allowed at ``loc`` inside ``model`` (empty when not a table of fields)."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(part)
            if info is None:
                return []
            current = info.annotation
        elif typing.get_origin(current) in (list, dict):
            current = typing.get_args(current)[-1]
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted(current.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    """``X | None`` -> ``X``; ``Annotated[X, ...]`` -> ``X``."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation
