"""Gemini's OpenAPI-subset ``Schema`` as a JSON Schema (canonical tools and formats use
JSON Schema).

The two differ in little: Gemini spells types in upper case (``"OBJECT"``), marks
nullability with ``nullable: true`` and may use proto field names
(``property_ordering``, ``any_of``, ``min_items``...). Everything else (``properties``,
``items``, ``enum``, ``format``, ``required``, bounds, ``propertyOrdering``, ``example``,
``default``...) is kept as is under its camelCase name, so no keyword is lost. The
adapter sends JSON Schema back through ``parametersJsonSchema`` /
``responseJsonSchema``, which Gemini accepts directly.
"""

from __future__ import annotations

from typing import Any

from providers.gemini.fields import camel

_SCHEMA_KEYS = frozenset({"items"})
_SCHEMA_MAP_KEYS = frozenset({"properties"})
_SCHEMA_LIST_KEYS = frozenset({"anyOf"})


def to_json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    nullable = False
    for raw_key, value in schema.items():
        key = camel(raw_key)
        if key == "type" and isinstance(value, str):
            out["type"] = value.lower()
        elif key == "nullable":
            nullable = value is True
        elif key in _SCHEMA_KEYS and isinstance(value, dict):
            out[key] = to_json_schema(value)
        elif key in _SCHEMA_MAP_KEYS and isinstance(value, dict):
            out[key] = {k: to_json_schema(v) if isinstance(v, dict) else v for k, v in value.items()}
        elif key in _SCHEMA_LIST_KEYS and isinstance(value, list):
            out[key] = [to_json_schema(v) if isinstance(v, dict) else v for v in value]
        else:
            out[key] = value
    if nullable:
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
        elif "anyOf" in out:
            out["anyOf"] = [*out["anyOf"], {"type": "null"}]
        else:
            out["nullable"] = True  # nothing to attach it to: keep it, never drop it
    return out
