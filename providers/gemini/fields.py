"""Typed reading of parsed Gemini JSON, with field paths in every error.

Gemini's REST JSON is the proto3 JSON mapping: a field may be spelled lowerCamelCase
(``generationConfig``) or with its proto name (``generation_config``); parsers accept both,
and the official SDK really sends a mix (``thinkingConfig: {"thinking_budget": ...}``).
``JsonObject`` looks a field up under either spelling, checks its JSON type, remembers
which keys were read (``unread()`` lists the rest) and raises through a ``Failure`` that
names the exact path, e.g. ``contents[2].parts[0].functionCall.name``.

The failure decides the error class: a client's malformed request is a ``BadRequest``,
an upstream's malformed response an ``UpstreamError``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from engine.errors import BadRequest, GatewayError, NoCanonicalForm, UpstreamError
from providers.json_types import json_type_name as type_name

Failure = Callable[[str, str], GatewayError]
"""``(path, problem) -> exception`` to raise."""

_UPPER = re.compile(r"([A-Z])")


def bad_request(path: str, problem: str) -> GatewayError:
    """The failure for a client's request."""
    return BadRequest(f"invalid request: {path or 'body'}: {problem}", param=path or None)


def bad_upstream(path: str, problem: str) -> GatewayError:
    """The failure for an upstream's response."""
    return UpstreamError("server", f"malformed Gemini response: {path or 'body'}: {problem}")


def snake(name: str) -> str:
    """``generationConfig`` -> ``generation_config``."""
    return _UPPER.sub(r"_\1", name).lower()


def camel(name: str) -> str:
    """``generation_config`` -> ``generationConfig`` (camelCase names pass through)."""
    if name.startswith("_") or "_" not in name:
        return name
    head, *rest = name.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


class JsonObject:
    """A JSON object being read; see the module docstring."""

    __slots__ = ("data", "path", "fail", "_read")

    def __init__(self, data: dict[str, Any], path: str, fail: Failure) -> None:
        self.data = data
        self.path = path
        self.fail = fail
        self._read: set[str] = set()

    @classmethod
    def of(cls, value: object, path: str, fail: Failure) -> JsonObject:
        if not isinstance(value, dict):
            raise fail(path, f"expected an object, got {type_name(value)}")
        return cls(value, path, fail)

    def at(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def error(self, name: str, problem: str) -> GatewayError:
        return self.fail(self.at(name), problem)

    def unsupported(self, name: str, problem: str) -> GatewayError:
        """A well-formed feature the canonical model cannot carry (only a Gemini upstream can)."""
        err = self.fail(self.at(name), problem)
        if isinstance(err, BadRequest):  # the client's request: only a Gemini upstream can take it
            return NoCanonicalForm(err.message, param=err.param)
        err.code = "unsupported_feature"
        return err

    def has(self, name: str) -> bool:
        return name in self.data or snake(name) in self.data

    def value(self, name: str) -> Any:
        """The raw JSON value under either spelling (``None`` when absent or null)."""
        alt = snake(name)
        if name in self.data and alt != name and alt in self.data:
            raise self.error(name, f"given twice (as {name} and {alt})")
        self._read.add(name)
        self._read.add(alt)
        found = self.data.get(name)
        return self.data.get(alt) if found is None else found

    def string(self, name: str) -> str | None:
        v = self.value(name)
        if v is None or isinstance(v, str):
            return v
        raise self.error(name, f"expected a string, got {type_name(v)}")

    def require_string(self, name: str) -> str:
        v = self.string(name)
        if not v:
            raise self.error(name, "required")
        return v

    def integer(self, name: str) -> int | None:
        v = self.value(name)
        if v is None:
            return None
        if isinstance(v, str) and re.fullmatch(r"-?\d+", v):  # proto3 JSON int64 as string
            return int(v)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or int(v) != v:
            raise self.error(name, f"expected an integer, got {type_name(v)}")
        return int(v)

    def number(self, name: str) -> float | None:
        v = self.value(name)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise self.error(name, f"expected a number, got {type_name(v)}")
        return float(v)

    def boolean(self, name: str) -> bool | None:
        v = self.value(name)
        if v is None or isinstance(v, bool):
            return v
        raise self.error(name, f"expected a boolean, got {type_name(v)}")

    def obj(self, name: str) -> JsonObject | None:
        v = self.value(name)
        return None if v is None else JsonObject.of(v, self.at(name), self.fail)

    def dict_value(self, name: str) -> dict[str, Any] | None:
        v = self.value(name)
        if v is None or isinstance(v, dict):
            return v
        raise self.error(name, f"expected an object, got {type_name(v)}")

    def objects(self, name: str) -> list[JsonObject]:
        return [JsonObject.of(item, f"{self.at(name)}[{i}]", self.fail) for i, item in enumerate(self._list(name))]

    def strings(self, name: str) -> list[str]:
        out: list[str] = []
        for i, item in enumerate(self._list(name)):
            if not isinstance(item, str):
                raise self.fail(f"{self.at(name)}[{i}]", f"expected a string, got {type_name(item)}")
            out.append(item)
        return out

    def _list(self, name: str) -> list[Any]:
        v = self.value(name)
        if v is None:
            return []
        if not isinstance(v, list):
            raise self.error(name, f"expected an array, got {type_name(v)}")
        return v

    def unread(self) -> dict[str, Any]:
        """Keys not read so far (camelCased), with their values, in the order given."""
        return {camel(k): v for k, v in self.data.items() if k not in self._read}
