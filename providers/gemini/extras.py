"""How Gemini-only request fields ride in ``ChatRequest.extras`` (``extras_format="gemini"``).

Keys are dotted paths into the request body, so another adapter's
``UnsupportedFeature`` names exactly what it cannot carry:

* ``generationConfig.<field>`` -> ``generationConfig[field]`` (``topK``, ``seed``,
  ``candidateCount`` > 1, ``presencePenalty``, ``responseModalities``,
  ``thinkingConfig`` leftovers, ...) ;
* ``toolConfig.<field>`` -> ``toolConfig[field]`` (``retrievalConfig``, or a
  ``functionCallingConfig`` the canonical ``ToolChoice`` cannot express) ;
* ``tools.<kind>`` -> one ``tools[]`` entry ``{kind: value}`` (``googleSearch``,
  ``codeExecution``, ``urlContext``...) ;
* ``functionDeclarations.<name>`` -> fields merged into that function's declaration
  (``response``, ``responseJsonSchema``, ``behavior``) ;
* anything else -> the top-level field of that name (``safetySettings``,
  ``cachedContent``, fields this gateway does not know yet).

``apply`` writes them into a request body built from canonical fields; a value that
contradicts what the canonical fields produced is a ``BadRequest``.
"""

from __future__ import annotations

from typing import Any

from engine.errors import BadRequest

GENERATION = "generationConfig."
TOOL_CONFIG = "toolConfig."
TOOLS = "tools."
DECLARATIONS = "functionDeclarations."


def apply(body: dict[str, Any], extras: dict[str, Any]) -> None:
    for key, value in extras.items():
        if key.startswith(GENERATION):
            merge(body.setdefault("generationConfig", {}), key[len(GENERATION) :], value, key)
        elif key.startswith(TOOL_CONFIG):
            merge(body.setdefault("toolConfig", {}), key[len(TOOL_CONFIG) :], value, key)
        elif key.startswith(TOOLS):
            body.setdefault("tools", []).append({key[len(TOOLS) :]: value})
        elif key.startswith(DECLARATIONS):
            _merge_declaration(body, key[len(DECLARATIONS) :], value, key)
        else:
            merge(body, key, value, key)


def merge(target: dict[str, Any], field: str, value: Any, where: str) -> None:
    """Set ``target[field] = value``, merging objects key by key; conflicts raise."""
    if field not in target:
        target[field] = value
        return
    current = target[field]
    if isinstance(current, dict) and isinstance(value, dict):
        for k, v in value.items():
            merge(current, k, v, f"{where}.{k}")
    elif current != value:
        raise BadRequest(f"{where} conflicts with a value set by the request's standard fields", param=where)


def _merge_declaration(body: dict[str, Any], name: str, fields: Any, where: str) -> None:
    if not isinstance(fields, dict):
        raise BadRequest(f"{where}: expected an object", param=where)
    for tool in body.get("tools", []):
        for declaration in tool.get("functionDeclarations", []):
            if declaration.get("name") == name:
                for k, v in fields.items():
                    merge(declaration, k, v, f"{where}.{k}")
                return
    raise BadRequest(f"{where}: no function named {name!r} in the request's tools", param=where)
