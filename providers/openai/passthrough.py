"""Same-format forwarding: an OpenAI client's chat body to an OpenAI(-compatible) upstream.

Nothing is translated, so every field the client sent (``n``, ``logprobs``, ``audio``,
vendor extensions...) reaches the upstream and every field the upstream returns reaches
the client. Only ``model`` is rewritten (upstream id out, public id back), channel
``params`` are merged over the body, and streams always ask for usage
(``stream_options.include_usage``) so the gateway can meter them; the usage-only chunk is
swallowed again when the client did not ask for it.

A chunk that cannot be read (not JSON, ``choices`` not a list of objects) is skipped, not
relayed, and counted. A stream that ends without ``[DONE]`` after every choice sent its
finish_reason is complete: ``[DONE]`` is written for the client. ``started`` turns True
with the first relayed chunk carrying content, reasoning, a refusal, audio or a tool call's
name or arguments.

Hot path: orjson only, one parse and one dump per chunk, no pydantic, no canonical types.
SSE comment lines (keep-alives) are not forwarded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from engine.canonical import Usage
from engine.errors import GatewayError, UpstreamError
from engine.sse import SSEEvent, SSEParser
from providers.base import Endpoint, UpstreamRequest
from providers.openai.error_classifier import classify_in_band
from providers.openai.stream_decoder import carries_token, read_chunk
from providers.openai.target import chat_url, request_headers
from providers.openai.usage import parse_usage
from providers.openai.wire import FORMAT
from providers.passthrough_wire import upstream_object

_DONE = b"data: [DONE]\n\n"


class OpenAIChatPassthrough:
    """``Passthrough`` for OpenAI chat completions (see ``providers.base``)."""

    format = FORMAT

    def build(
        self, body: dict[str, Any], endpoint: Endpoint, stream: bool, client_headers: Mapping[str, str]
    ) -> UpstreamRequest:
        return build_passthrough(body, endpoint)

    def rewrite_response(self, body: bytes, public_model: str) -> tuple[bytes, Usage]:
        return rewrite_response(body, public_model)

    def stream(self, public_model: str, client_wants_usage: bool) -> PassthroughStream:
        return PassthroughStream(public_model, client_wants_usage)


def build_passthrough(body: dict[str, Any], endpoint: Endpoint) -> UpstreamRequest:
    out = dict(body)
    out.update(endpoint.params)
    out["model"] = endpoint.upstream_model
    if out.get("stream") is True:
        options = out.get("stream_options")
        out["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
    return UpstreamRequest(
        method="POST", url=chat_url(endpoint), headers=request_headers(endpoint), body=orjson.dumps(out)
    )


def delta_chars(choice: dict[str, Any]) -> int:
    """Characters of output in one streamed choice: content, reasoning, refusal, tool-call arguments."""
    delta = choice.get("delta")
    if not isinstance(delta, dict):
        return 0
    chars = 0
    for key in ("content", "reasoning_content", "reasoning", "refusal"):
        value = delta.get(key)
        if isinstance(value, str):
            chars += len(value)
    calls = delta.get("tool_calls")
    if isinstance(calls, list):
        for call in calls:
            function = call.get("function") if isinstance(call, dict) else None
            arguments = function.get("arguments") if isinstance(function, dict) else None
            if isinstance(arguments, str):
                chars += len(arguments)
    return chars


def client_wants_usage(body: dict[str, Any]) -> bool:
    """Whether the client's own body asked for the usage chunk."""
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def rewrite_response(body: bytes, public_model: str) -> tuple[bytes, Usage]:
    """A non-streamed completion with ``model`` set to the public id, and its usage."""
    data = upstream_object(body, "a response")
    if data.get("error"):
        raise classify_in_band(data["error"])
    data["model"] = public_model
    return orjson.dumps(data), parse_usage(data.get("usage"))


class PassthroughStream:
    """One per streamed response: upstream bytes in, client SSE frames out."""

    __slots__ = (
        "_parser",
        "_model",
        "_wants_usage",
        "_choices",
        "usage",
        "finished",
        "started",
        "malformed_events",
        "output_chars",
    )

    def __init__(self, public_model: str, client_wants_usage: bool) -> None:
        self._parser = SSEParser()
        self._model = public_model
        self._wants_usage = client_wants_usage
        self._choices: dict[int, bool] = {}  # choice index -> whether it sent its finish_reason
        self.usage: Usage | None = None
        self.finished = False  # [DONE] relayed
        self.started = False
        self.output_chars = 0
        self.malformed_events = 0

    def feed(self, chunk: bytes) -> bytes:
        events = self._parser.feed(chunk)
        return self._relay(events, last=False) if events else b""

    def close(self) -> bytes:
        """Complete without ``[DONE]`` once every choice sent its finish_reason (the usage
        chunk, if any, came before the end): ``[DONE]`` is written for the client then."""
        if self.finished:
            return b""
        out = self._relay(self._parser.end(), last=True)
        if self.finished:
            return out
        if not self._choices or not all(self._choices.values()):
            raise UpstreamError("stream_cut", "upstream stream ended before its finish_reason")
        self.finished = True
        return out + _DONE

    def error(self, err: GatewayError) -> bytes | None:
        return None  # OpenAI's in-band error chunk needs nothing from the stream: the codec writes it

    def _relay(self, events: list[SSEEvent], *, last: bool) -> bytes:
        """``last``: the event the end of the stream closed; unreadable, it was cut, not malformed."""
        out: list[bytes] = []
        for event in events:
            if self.finished:
                break
            data = event.data
            if not data.strip():
                continue  # an empty data line: a keep-alive
            if data == "[DONE]":
                self.finished = True
                out.append(_DONE)
                continue
            obj = read_chunk(data)
            if obj is None:
                if not last:
                    self.malformed_events += 1
                continue
            if obj.get("error"):
                raise classify_in_band(obj["error"])
            obj["model"] = self._model
            usage = obj.get("usage")
            if usage is not None:
                self.usage = parse_usage(usage)
            choices: list[dict[str, Any]] = obj.get("choices") or []
            for choice in choices:
                self.output_chars += delta_chars(choice)
                index = choice.get("index", 0)
                if type(index) is not int:
                    index = 0
                if type(choice.get("finish_reason")) is str:
                    self._choices[index] = True
                elif index not in self._choices:
                    self._choices[index] = False
            if not self._wants_usage and "usage" in obj:
                del obj["usage"]
                if usage is not None and not choices:
                    continue  # the usage-only chunk the client did not ask for
            out.append(b"data: " + orjson.dumps(obj) + b"\n\n")
            self.started = self.started or any(carries_token(choice) for choice in choices)
        return b"".join(out)
