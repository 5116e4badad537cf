"""Canonical parts -> Gemini ``Part`` objects (for upstream requests and client responses).

* ``TextPart`` / ``Refusal`` -> ``{"text"}`` (Gemini has no refusal part: the refusal's
  words travel as text) ;
* ``Thinking`` with text -> ``{"text", "thought": true, "thoughtSignature"?}`` ;
  a ``Thinking`` with only a signature -> that signature on the previous part when it is
  a text or media part without one (how Gemini sent it), else ``{"text": "",
  "thoughtSignature"}`` ; a redacted ``Thinking`` (another vendor's opaque payload) has
  no Gemini form and is refused where it matters (see ``encode_parts``) ;
* ``ToolCall`` -> ``{"functionCall": {"name", "args", "id"?}, "thoughtSignature"?}``
  (``args`` must be a JSON object; id and signature per ``call_ids``). The ``id`` goes
  to clients only: the Gemini API rejects ``functionCall.id`` / ``functionResponse.id``
  in requests ("Unknown name "id" at 'contents[..].parts[..].function_call'", reported
  across many client projects) and pairs calls with responses by order and name, which
  the canonical message order already gives ;
* ``ToolResult`` -> ``{"functionResponse": {"name", "response", "parts"?}}``:
  ``response`` must be an object, so content that is a JSON object is sent as is and
  anything else (other JSON, plain text) as ``{"result": <value>}``; an error result as
  ``{"error": <value>}`` (Gemini's convention) unless it already is one; images inside
  the result as ``parts[].inlineData`` ;
* ``ImagePart`` -> per ``media``.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson

from engine.canonical import (
    ImagePart,
    Part,
    Refusal,
    TextPart,
    Thinking,
    ToolCall,
    ToolResult,
)
from engine.errors import BadRequest, GatewayError, UnsupportedFeature
from providers.gemini import call_ids, media
from providers.gemini.wire import FORMAT

Side = Literal["request", "response"]
"""``request``: building an upstream request (remote images refused, redacted thinking
refused). ``response``: rendering a client response (remote images as ``fileData``,
redacted thinking left out: a Gemini client can neither show nor return it)."""


def encode_parts(parts: list[Part], side: Side, names: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """``names`` maps tool-call ids to tool names, for results that lack ``name``."""
    out: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, (TextPart, Refusal)):
            out.append({"text": part.text})
        elif isinstance(part, Thinking):
            _thinking(part, out, side)
        elif isinstance(part, ToolCall):
            out.append(tool_call(part, side))
        elif isinstance(part, ToolResult):
            out.append(tool_result(part, names or {}))  # only in requests: never with an id
        else:
            out.append(image(part, side))
    return out


def image(part: ImagePart, side: Side) -> dict[str, Any]:
    if side == "response" and not part.url.startswith("data:"):
        return {"fileData": {"fileUri": part.url}}
    return media.to_wire_part(part.url, FORMAT)


def _thinking(part: Thinking, out: list[dict[str, Any]], side: Side) -> None:
    if part.redacted is not None:
        if side == "request":
            raise UnsupportedFeature(["redacted thinking"], FORMAT)
        return
    # a signature another format issued (Thinking.origin) cannot be verified upstream: left out
    signature = part.signature if side == "response" or part.origin in (None, FORMAT) else None
    if part.text:
        item: dict[str, Any] = {"text": part.text, "thought": True}
        if signature:
            item["thoughtSignature"] = signature
        out.append(item)
    elif signature:
        prev = out[-1] if out else None
        if prev is not None and "thoughtSignature" not in prev and "functionCall" not in prev:
            prev["thoughtSignature"] = signature
        else:
            out.append({"text": "", "thoughtSignature": signature})


def tool_call(call: ToolCall, side: Side) -> dict[str, Any]:
    args = _arguments(call, side)
    wire_id, signature = call_ids.wire_id(call.id, call.name)
    fc: dict[str, Any] = {"name": call.name, "args": args}
    if wire_id and side == "response":
        fc["id"] = wire_id
    item: dict[str, Any] = {"functionCall": fc}
    if signature:
        item["thoughtSignature"] = signature
    return item


def arguments_object(call: ToolCall) -> dict[str, Any] | None:
    """The call's arguments as the object ``functionCall.args`` needs; None when they are
    not one (an output cap cut them mid-JSON, or the upstream sent other JSON)."""
    if not call.arguments.strip():
        return {}
    try:
        args = orjson.loads(call.arguments)
    except orjson.JSONDecodeError:
        return None
    return args if isinstance(args, dict) else None


def _arguments(call: ToolCall, side: Side) -> dict[str, Any]:
    args = arguments_object(call)
    if args is not None:
        return args
    problem = f"arguments of tool call {call.id} ({call.name}) are not a JSON object"
    if side == "request":
        raise BadRequest(problem, param="tool_calls.arguments")
    raise GatewayError(f"cannot render the response for a Gemini client: {problem}", kind="upstream_error", status=502)


def tool_result(result: ToolResult, names: dict[str, str]) -> dict[str, Any]:
    name = result.name or names.get(result.call_id)
    if not name:
        raise BadRequest(
            f"tool result {result.call_id!r} names no tool and answers no tool call in the conversation; "
            "Gemini needs the tool's name",
            param="tool_call_id",
        )
    texts = [p.text for p in result.content if isinstance(p, TextPart)]
    value = json_value("\n".join(texts))
    if result.is_error:
        response = value if isinstance(value, dict) and "error" in value else {"error": value}
    else:
        response = value if isinstance(value, dict) else {"result": value}
    fr: dict[str, Any] = {"name": name, "response": response}
    blobs = []
    for p in result.content:
        if isinstance(p, ImagePart):
            parsed = media.parse_data_url(p.url)
            if parsed is None:
                raise UnsupportedFeature(["tool_result image (not an inline base64 image)"], FORMAT)
            blobs.append({"inlineData": {"mimeType": parsed[0], "data": parsed[1]}})
    if blobs:
        fr["parts"] = blobs
    return {"functionResponse": fr}


def json_value(text: str) -> Any:
    """The JSON value ``text`` holds, or the text itself when it is not JSON."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
