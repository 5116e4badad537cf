"""The official SDKs as the rescue tests drive them, with what each call showed the client
made comparable: ``Got`` (text, finish, usage, the error raised mid-stream, headers, and
the raw bytes of the response as they came off the wire, read through ``Tap``).

The SDKs retry nothing (``max_retries=0``): every retry seen here is the gateway's.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import anthropic
import httpx2
import openai
import orjson

from engine.sse import SSEEvent, SSEParser

PROMPT = "count for me"
MAX_TOKENS = 64


class _Tee(httpx2.SyncByteStream):
    def __init__(self, inner: httpx2.SyncByteStream, sink: bytearray) -> None:
        self._inner = inner
        self._sink = sink

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            self._sink += chunk
            yield chunk

    def close(self) -> None:
        self._inner.close()


class Tap(httpx2.HTTPTransport):
    """A transport that keeps a copy of every response body the SDK reads."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[bytearray] = []

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = super().handle_request(request)
        sink = bytearray()
        self.bodies.append(sink)
        assert isinstance(response.stream, httpx2.SyncByteStream)
        response.stream = _Tee(response.stream, sink)
        return response

    @property
    def last(self) -> bytes:
        return bytes(self.bodies[-1])


@dataclass(slots=True)
class Got:
    """What one call showed its client."""

    text: str = ""
    finish: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    model: str | None = None
    error: Exception | None = None  # raised by the SDK mid-stream (the in-band error)
    headers: Mapping[str, str] = field(default_factory=dict)
    raw: bytes = b""

    @property
    def events(self) -> list[SSEEvent]:
        parser = SSEParser()
        return [*parser.feed(self.raw), *parser.end()]

    def tried(self) -> list[str]:
        """``x-turnout-route``'s ``tried=`` list: ``model@channel:why`` for every attempt that
        ended before the commit."""
        header = self.headers.get("x-turnout-route", "")
        for part in header.split("; "):
            if part.startswith("tried="):
                return part.removeprefix("tried=").split(", ")
        return []


class Clients:
    """One OpenAI and one Anthropic SDK client on a gateway, for one key."""

    def __init__(self, base_url: str, key: str) -> None:
        self.tap = Tap()
        self._http = httpx2.Client(transport=self.tap, timeout=30.0)
        self.openai = openai.OpenAI(base_url=f"{base_url}/v1", api_key=key, max_retries=0, http_client=self._http)
        self.anthropic = anthropic.Anthropic(base_url=base_url, api_key=key, max_retries=0, http_client=self._http)

    def close(self) -> None:
        self._http.close()

    def chat(self, model: str, *, stream: bool, prompt: str = PROMPT) -> Got:
        """An OpenAI chat completion (a stream asks for usage); an HTTP error raises the
        SDK's ``APIStatusError``."""
        messages: list[openai.types.chat.ChatCompletionMessageParam] = [{"role": "user", "content": prompt}]
        if not stream:
            raw = self.openai.chat.completions.with_raw_response.create(model=model, messages=messages)
            completion = raw.parse()
            usage = completion.usage
            return Got(
                completion.choices[0].message.content or "",
                completion.choices[0].finish_reason,
                usage.prompt_tokens if usage else None,
                usage.completion_tokens if usage else None,
                completion.model,
                headers=raw.headers,
                raw=self.tap.last,
            )
        streamed = self.openai.chat.completions.with_raw_response.create(
            model=model, messages=messages, stream=True, stream_options={"include_usage": True}
        )
        got = Got(headers=streamed.headers)
        try:
            for chunk in streamed.parse():
                got.model = chunk.model
                if chunk.usage is not None:
                    got.input_tokens, got.output_tokens = chunk.usage.prompt_tokens, chunk.usage.completion_tokens
                for choice in chunk.choices:
                    got.text += choice.delta.content or ""
                    got.finish = choice.finish_reason or got.finish
        except openai.APIError as exc:
            got.error = exc
        got.raw = self.tap.last
        return got

    def messages(self, model: str, *, stream: bool, prompt: str = PROMPT) -> Got:
        """An Anthropic Messages call; an HTTP error raises the SDK's ``APIStatusError``."""
        messages: list[anthropic.types.MessageParam] = [{"role": "user", "content": prompt}]
        if not stream:
            raw = self.anthropic.messages.with_raw_response.create(
                model=model, max_tokens=MAX_TOKENS, messages=messages
            )
            message = raw.parse()
            text = "".join(block.text for block in message.content if block.type == "text")
            usage = message.usage
            return Got(
                text,
                message.stop_reason,
                usage.input_tokens,
                usage.output_tokens,
                message.model,
                headers=raw.headers,
                raw=self.tap.last,
            )
        streamed = self.anthropic.messages.with_raw_response.create(
            model=model, max_tokens=MAX_TOKENS, messages=messages, stream=True
        )
        got = Got(headers=streamed.headers)
        try:
            for event in streamed.parse():
                if event.type == "message_start":
                    got.model, got.input_tokens = event.message.model, event.message.usage.input_tokens
                elif event.type == "content_block_delta" and event.delta.type == "text_delta":
                    got.text += event.delta.text
                elif event.type == "message_delta":
                    got.finish, got.output_tokens = event.delta.stop_reason, event.usage.output_tokens
                    if event.usage.input_tokens is not None:
                        got.input_tokens = event.usage.input_tokens
        except anthropic.APIStatusError as exc:
            got.error = exc
        got.raw = self.tap.last
        return got

    def call(self, client: str, model: str, *, stream: bool) -> Got:
        """``client`` is ``"openai"`` or ``"anthropic"``."""
        if client == "openai":
            return self.chat(model, stream=stream)
        return self.messages(model, stream=stream)


def last_event(got: Got) -> tuple[str | None, object]:
    """The last SSE event of a stream: its name and parsed data (``[DONE]`` as a string)."""
    event = got.events[-1]
    return event.event, (event.data if event.data == "[DONE]" else orjson.loads(event.data))


def clean_end(got: Got, client: str) -> bool:
    """The stream ended as its format ends a complete answer, with no error event in it."""
    names = [e.event for e in got.events]
    datas = [e.data for e in got.events]
    if client == "openai":
        payloads = [orjson.loads(d) for d in datas[:-1]]
        return datas[-1] == "[DONE]" and not any("error" in p for p in payloads)
    return names[-1] == "message_stop" and "error" not in names


def in_band_error(got: Got, client: str) -> dict[str, object]:
    """The in-band error a stream ended with, in the client's format (asserted); its ``error``."""
    name, data = last_event(got)
    assert isinstance(data, dict), got.raw[-300:]
    if client == "openai":
        assert b"[DONE]" not in got.raw and set(data) == {"error"}, got.raw[-300:]
    else:
        assert name == "error" and data["type"] == "error", got.raw[-300:]
        assert b"message_stop" not in got.raw
    error = data["error"]
    assert isinstance(error, dict) and error.get("message"), data
    return error


@dataclass(frozen=True, slots=True)
class Refused:
    """An HTTP error the SDK raised, read from the client format's own error shape."""

    status: int
    type: str  # OpenAI ``error.type`` / Anthropic ``error.type``
    code: str | None  # OpenAI ``error.code``; Anthropic's shape has none
    message: str
    headers: Mapping[str, str]
    sdk_error: str  # the SDK's exception class

    def tried(self) -> list[str]:
        return Got(headers=self.headers).tried()


def refused(clients: Clients, client: str, model: str, *, stream: bool) -> Refused:
    """Call, expecting the SDK to raise ``APIStatusError``; the error as the client saw it."""
    try:
        got = clients.call(client, model, stream=stream)
    except (openai.APIStatusError, anthropic.APIStatusError) as exc:
        body = exc.response.json()
        if client == "openai":
            assert set(body) == {"error"}, body
            error = body["error"]
            assert {"message", "type", "param", "code"} <= set(error), error
        else:
            assert body["type"] == "error" and set(body["error"]) == {"type", "message"}, body
            error = body["error"]
        return Refused(
            exc.status_code,
            str(error["type"]),
            error.get("code"),
            str(error["message"]),
            exc.response.headers,
            type(exc).__name__,
        )
    raise AssertionError(f"expected an HTTP error, got {got}")
