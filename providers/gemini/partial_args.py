"""Function-call arguments streamed piecewise (Vertex AI ``streamFunctionCallArguments``).

Such a call arrives as ``{"functionCall": {"name", "willContinue": true}}``, then parts
carrying ``partialArgs: [{"jsonPath": "$.location", "stringValue": "Bos",
"willContinue": true}, ...]``, and ends with a ``functionCall`` without
``willContinue``. A ``stringValue`` whose previous piece for the same path said
``willContinue`` is appended to it; ``numberValue``, ``boolValue`` and ``nullValue`` set
the value. ``ArgsBuilder`` assembles the pieces into the arguments object.

JSON paths (RFC 9535) are supported in the form these streams use: ``$`` followed by
``.name``, ``['name']`` / ``["name"]`` and ``[index]`` segments.
"""

from __future__ import annotations

import re
from typing import Any

from providers.gemini.fields import JsonObject

_SEGMENT = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]|\['((?:[^'\\]|\\.)*)'\]|\[\"((?:[^\"\\]|\\.)*)\"\]")


def parse_path(path: str) -> list[str | int] | None:
    """``$.a[0]['b']`` -> ``["a", 0, "b"]``; ``None`` when not understood."""
    if not path.startswith("$"):
        return None
    out: list[str | int] = []
    pos = 1
    while pos < len(path):
        m = _SEGMENT.match(path, pos)
        if m is None:
            return None
        name, index, single, double = m.groups()
        if index is not None:
            out.append(int(index))
        else:
            raw = name if name is not None else (single if single is not None else double)
            out.append(re.sub(r"\\(.)", r"\1", raw) if name is None else raw)
        pos = m.end()
    return out


class ArgsBuilder:
    __slots__ = ("args", "_continuing")

    def __init__(self, initial: dict[str, Any] | None = None) -> None:
        self.args: dict[str, Any] = dict(initial or {})
        self._continuing: str | None = None  # the path whose string is still growing

    def add(self, piece: JsonObject) -> None:
        path_text = piece.require_string("jsonPath")
        path = parse_path(path_text)
        if not path:
            raise piece.error("jsonPath", f"unsupported JSON path {path_text!r}")
        value: Any
        if piece.has("stringValue"):
            value = piece.string("stringValue") or ""
            if self._continuing == path_text:
                value = self._get(path, piece) + value
        elif piece.has("numberValue"):
            number = piece.number("numberValue")
            value = int(number) if number is not None and number.is_integer() else number
        elif piece.has("boolValue"):
            value = piece.boolean("boolValue")
        elif piece.has("nullValue"):
            value = None
        else:
            raise piece.fail(piece.path, "a partial argument needs a value")
        self._set(path, value, piece)
        self._continuing = path_text if piece.boolean("willContinue") else None

    def _get(self, path: list[str | int], piece: JsonObject) -> str:
        node: Any = self.args
        for key in path:
            node = node[key] if isinstance(key, int) else node.get(key)
        if not isinstance(node, str):
            raise piece.error("stringValue", "continues a value that is not a string")
        return node

    def _set(self, path: list[str | int], value: Any, piece: JsonObject) -> None:
        node: Any = self.args
        for key, nxt in zip(path, [*path[1:], None], strict=True):
            last = nxt is None
            fresh: Any = value if last else ([] if isinstance(nxt, int) else {})
            if isinstance(key, int):
                if not isinstance(node, list) or key > len(node):
                    raise piece.error("jsonPath", "index out of order")
                if key == len(node):
                    node.append(fresh)
                elif last:
                    node[key] = value
            else:
                if not isinstance(node, dict):
                    raise piece.error("jsonPath", "names a field of a non-object")
                if last or key not in node:
                    node[key] = fresh
            if not last:
                node = node[key]
