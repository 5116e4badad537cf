"""Tool-call ids for Gemini function calls, and the thought signature they carry.

Gemini function calls usually have no id (matching is by name and order), so canonical
ids are synthesised, deterministically:

* ``call_<n>_<name>`` when decoding a client's request (``n`` counts the function calls
  of the whole conversation, so ids are unique within it) ;
* ``call_<scope>_<n>_<name>`` when decoding a response (``scope`` is the alphanumeric
  part of the ``responseId``, so ids stay unique across turns of a conversation) ;

``<name>`` is the function name with characters outside ``[A-Za-z0-9_-]`` replaced by
``_``. When Gemini does send an id, that id is used as is.

Gemini 3 rejects a follow-up request whose function-call part lost its
``thoughtSignature``. Most client formats (OpenAI chat, Anthropic, Responses) have no
place for it, but they all echo the call id back verbatim, so the signature rides in the
id: ``<base>_ts_<signature as unpadded base64url>_<length of that>``. Every character
stays in ``[A-Za-z0-9_-]`` (Anthropic's id alphabet) and the trailing length makes the
split unambiguous. Gemini's own codec and adapter take the signature back out and never
show such ids on the Gemini wire. ``wire_id`` gives the id to show a Gemini *client*
(none for a synthesised base); requests to the Gemini API carry no ids at all (see
``part_encoder``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_MARK = "_ts_"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_B64URL = re.compile(r"[A-Za-z0-9_-]+")
_B64 = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")


def safe_name(name: str) -> str:
    return _UNSAFE.sub("_", name)[:64] or "function"


def scope_of(response_id: str | None) -> str:
    """The id scope for calls of one response (alphanumerics of its ``responseId``)."""
    return re.sub(r"[^A-Za-z0-9]", "", response_id or "")


def synthesize(n: int, name: str, scope: str = "") -> str:
    return f"call_{scope}_{n}_{safe_name(name)}" if scope else f"call_{n}_{safe_name(name)}"


def is_synthesized(base: str, name: str) -> bool:
    return re.fullmatch(rf"call_(?:[A-Za-z0-9]+_)?\d+_{re.escape(safe_name(name))}", base) is not None


def is_base64(signature: str) -> bool:
    return _B64.fullmatch(signature) is not None


def attach_signature(base: str, signature: str | None) -> str:
    """The canonical id for a call: ``base`` plus the signature, if any (see module doc).

    ``signature`` must be base64 (standard or URL-safe; check with ``is_base64``)."""
    if not signature:
        return base
    url = signature.rstrip("=").replace("+", "-").replace("/", "_")
    return f"{base}{_MARK}{url}_{len(url)}"


@dataclass(frozen=True, slots=True)
class CallId:
    """A canonical call id taken apart: the id proper and the carried signature."""

    base: str
    signature: str | None


def split(call_id: str) -> CallId:
    head, sep, tail = call_id.rpartition("_")
    if not sep or not tail.isdigit() or tail.startswith("0"):
        return CallId(call_id, None)
    start = len(head) - int(tail)
    mark_at = start - len(_MARK)
    if mark_at < 1 or head[mark_at:start] != _MARK:
        return CallId(call_id, None)
    url = head[start:]
    if not _B64URL.fullmatch(url):
        return CallId(call_id, None)
    std = url.replace("-", "+").replace("_", "/")
    return CallId(head[:mark_at], std + "=" * (-len(std) % 4))


def wire_id(call_id: str, name: str) -> tuple[str | None, str | None]:
    """``(functionCall.id or None, thoughtSignature or None)`` to put on the Gemini wire."""
    parts = split(call_id)
    return (None if is_synthesized(parts.base, name) else parts.base), parts.signature
