"""Gemini ``Part`` objects -> canonical parts (for requests and complete responses).

* ``text`` -> ``TextPart``; ``text`` with ``thought: true`` -> ``Thinking`` (its
  ``thoughtSignature`` on ``Thinking.signature``) ;
* a ``thoughtSignature`` on a non-thought, non-call part (Gemini 3 puts it on the last
  text part, or on an empty trailing text part when streaming) -> a ``Thinking`` with
  empty text and that signature right after the part (empty text parts are dropped) ;
* ``functionCall`` -> ``ToolCall`` (id per ``call_ids``; the signature rides in the id) ;
* ``functionResponse`` (requests only) -> ``ToolResult``: ``name`` kept, ``content`` the
  JSON text of ``response`` (plus any ``parts[].inlineData`` images), ``is_error`` when
  ``response`` is exactly ``{"error": ...}`` (Gemini's convention for failed calls) ;
* ``inlineData`` / ``fileData`` with an image (or unspecified) MIME type -> ``ImagePart``;
  per-part ``mediaResolution.level`` -> ``ImagePart.detail``.

Anything else (documents, audio, ``executableCode``, ``codeExecutionResult``,
``videoMetadata``, unknown fields) cannot be carried and fails with the part's path.
"""

from __future__ import annotations

from collections import deque

import orjson

from engine.canonical import ImagePart, Part, TextPart, Thinking, ToolCall, ToolResult
from providers.gemini import call_ids, media
from providers.gemini.fields import JsonObject

_PART_KEYS = frozenset(
    {
        "text",
        "thought",
        "thoughtSignature",
        "thought_signature",
        "functionCall",
        "function_call",
        "functionResponse",
        "function_response",
        "inlineData",
        "inline_data",
        "fileData",
        "file_data",
        "mediaResolution",
        "media_resolution",
    }
)


class CallLedger:
    """Numbers the function calls of one conversation or response and pairs each
    ``functionResponse`` with its call (by id when given, else the oldest unanswered call
    of that name)."""

    __slots__ = ("scope", "count", "_by_wire_id", "_open")

    def __init__(self, scope: str = "") -> None:
        self.scope = scope
        self.count = 0
        self._by_wire_id: dict[str, str] = {}
        self._open: dict[str, deque[str]] = {}

    def call(self, name: str, wire_id: str | None, signature: str | None) -> str:
        base = wire_id or call_ids.synthesize(self.count, name, self.scope)
        self.count += 1
        call_id = call_ids.attach_signature(base, signature)
        if wire_id:
            self._by_wire_id[wire_id] = call_id
        self._open.setdefault(name, deque()).append(call_id)
        return call_id

    def result(self, name: str, wire_id: str | None) -> str | None:
        if wire_id and wire_id in self._by_wire_id:
            call_id = self._by_wire_id[wire_id]
            queue = self._open.get(name)
            if queue and call_id in queue:
                queue.remove(call_id)
            return call_id
        queue = self._open.get(name)
        return queue.popleft() if queue else None


_DATA_KINDS = ("text", "inlineData", "fileData", "functionCall", "functionResponse")


def check_part_keys(part: JsonObject) -> None:
    """Refuse part fields the gateway cannot carry, and parts holding two kinds of data."""
    extra = [k for k in part.data if k not in _PART_KEYS]
    if extra:
        raise part.unsupported(extra[0], "this part type is not supported by the gateway")
    kinds = [k for k in _DATA_KINDS if part.has(k)]
    if len(kinds) > 1:
        raise part.fail(part.path, f"a part holds one kind of data, got {' and '.join(kinds)}")


def refuse_unread(obj: JsonObject) -> None:
    """In a client's request, a field we did not read would be lost: refuse it."""
    rest = obj.unread()
    if rest:
        raise obj.unsupported(next(iter(rest)), "not supported by the gateway")


def decode_part(part: JsonObject, ledger: CallLedger, *, requests: bool) -> list[Part]:
    """One Gemini part as canonical parts. ``requests``: decoding a client's request
    (function responses allowed, unknown nested fields refused)."""
    check_part_keys(part)
    signature = part.string("thoughtSignature")
    out: list[Part] = []
    if part.has("functionCall"):
        out.append(_call(part, ledger, signature, requests))
        signature = None  # it rides in the call id
    elif part.has("functionResponse"):
        if not requests:
            raise part.error("functionResponse", "not expected in a response")
        out.append(_result(part, ledger))
    elif part.has("inlineData") or part.has("fileData"):
        out.append(_image(part, requests))
    elif part.has("text"):
        text = part.string("text") or ""
        if part.boolean("thought"):
            out.append(Thinking(text, signature=signature))
            signature = None
        elif text:
            out.append(TextPart(text))
    else:
        raise part.fail(part.path, "a part needs text, inlineData, fileData, functionCall or functionResponse")
    if requests:
        refuse_unread(part)  # e.g. "thought" on a non-text part
    if signature:
        out.append(Thinking("", signature=signature))
    return out


def _call(part: JsonObject, ledger: CallLedger, signature: str | None, requests: bool) -> ToolCall:
    call = part.obj("functionCall")
    assert call is not None
    name = call.require_string("name")
    args = call.dict_value("args")
    if signature and not call_ids.is_base64(signature):
        raise part.error("thoughtSignature", "expected base64")
    call_id = ledger.call(name, call.string("id") or None, signature)
    if requests:
        refuse_unread(call)
    return ToolCall(call_id, name, orjson.dumps(args if args is not None else {}).decode())


def _result(part: JsonObject, ledger: CallLedger) -> ToolResult:
    resp = part.obj("functionResponse")
    assert resp is not None
    name = resp.require_string("name")
    response = resp.dict_value("response")
    if response is None:
        raise resp.error("response", "required")
    call_id = ledger.result(name, resp.string("id") or None)
    if call_id is None:
        raise resp.error("name", f"no earlier functionCall of {name!r} is waiting for this response")
    content: list[TextPart | ImagePart] = [TextPart(orjson.dumps(response).decode())]
    for item in resp.objects("parts"):
        blob = item.obj("inlineData")
        if blob is None:
            raise item.fail(item.path, "only inlineData parts are supported in a functionResponse")
        content.append(_inline_image(blob, True))
        refuse_unread(item)
    refuse_unread(resp)
    return ToolResult(call_id, content, is_error=set(response) == {"error"}, name=name)


def _image(part: JsonObject, requests: bool) -> ImagePart:
    detail = None
    resolution = part.obj("mediaResolution")
    if resolution is not None:
        level = resolution.string("level")
        if level is not None and level != "MEDIA_RESOLUTION_UNSPECIFIED":
            if level not in media.DETAIL_FROM_LEVEL:
                raise resolution.error("level", f"unknown media resolution {level!r}")
            detail = media.DETAIL_FROM_LEVEL[level]
        if requests:
            refuse_unread(resolution)
    blob = part.obj("inlineData")
    if blob is not None:
        image = _inline_image(blob, requests)
        image.detail = detail
        return image
    file_data = part.obj("fileData")
    assert file_data is not None
    _check_image_type(file_data, required=False)
    image = ImagePart(file_data.require_string("fileUri"), detail=detail)
    if requests:
        refuse_unread(file_data)
    return image


def _inline_image(blob: JsonObject, requests: bool) -> ImagePart:
    mime = _check_image_type(blob, required=True)
    image = ImagePart(media.data_url(mime, blob.require_string("data")))
    if requests:
        refuse_unread(blob)
    return image


def _check_image_type(obj: JsonObject, *, required: bool) -> str:
    mime = obj.require_string("mimeType") if required else (obj.string("mimeType") or "")
    if mime and not mime.startswith("image/"):
        raise obj.unsupported("mimeType", f"{mime} is not supported by the gateway (images only)")
    return mime


def decode_content_parts(content: JsonObject, ledger: CallLedger, *, requests: bool) -> list[Part]:
    out: list[Part] = []
    for part in content.objects("parts"):
        out.extend(decode_part(part, ledger, requests=requests))
    return out
