"""The demo upstream, driven through the OpenAI adapter as the executor drives it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from engine.canonical import (
    ChatRequest,
    Message,
    PartStart,
    StreamEnd,
    StreamEvent,
    TextDelta,
    TextPart,
    Tool,
    ToolArgsDelta,
    ToolCall,
    ToolChoice,
    ToolResult,
    Usage,
)
from engine.errors import UpstreamError
from engine.sse import SSEParser
from providers.base import Endpoint, UpstreamRequest
from providers.demo.upstream import DemoReply, DemoUpstream, respond
from providers.openai.adapter import OpenAIChatAdapter

adapter = OpenAIChatAdapter()


def endpoint(model: str) -> Endpoint:
    return Endpoint(channel="demo", format="openai", base_url="demo://local", api_key=None, upstream_model=model)


def request(text: str = "hello there", **fields: Any) -> ChatRequest:
    return ChatRequest(model="public", messages=[Message("user", [TextPart(text)])], **fields)


async def read(body: AsyncIterator[bytes]) -> list[bytes]:
    return [chunk async for chunk in body]


async def call(model: str, req: ChatRequest) -> tuple[DemoReply, list[bytes]]:
    reply = await respond(adapter.build_request(req, endpoint(model)))
    return reply, await read(reply.body)


async def stream_events(model: str, req: ChatRequest) -> list[StreamEvent]:
    reply, chunks = await call(model, req)
    assert reply.status == 200 and reply.headers["content-type"] == "text/event-stream"
    decoder = adapter.stream_decoder(endpoint(model))
    events = [e for c in chunks for e in decoder.feed(c)]
    return events + decoder.close()


async def test_echo_non_streamed() -> None:
    reply, chunks = await call("demo-echo", request())
    assert reply.status == 200 and reply.headers["content-type"] == "application/json"
    assert len(chunks) == 1
    ChatCompletion.model_validate(orjson.loads(chunks[0]))
    response = adapter.decode_response(chunks[0], endpoint("demo-echo"))
    assert response.parts == [TextPart("echo: hello there")]
    assert response.stop_reason == "end"
    assert response.model == "demo-echo"
    # prompt "hello there" = 11 chars -> 3 tokens; "echo: hello there" = 17 chars -> 5 tokens
    assert response.usage == Usage(input_tokens=3, output_tokens=5)


async def test_echo_streamed_matches_non_streamed() -> None:
    req = request(stream=True)
    events = await stream_events("demo-echo", req)
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text == "echo: hello there"
    assert sum(isinstance(e, TextDelta) for e in events) == 3  # "echo:", " hello", " there"
    end = events[-1]
    assert isinstance(end, StreamEnd) and end.usage == Usage(input_tokens=3, output_tokens=5)


async def test_stream_honours_include_usage() -> None:
    upstream = await respond(adapter.build_request(request(stream=True), endpoint("demo-echo")))
    with_usage = [e.data for c in await read(upstream.body) for e in SSEParser().feed(c)]
    raw = orjson.dumps({"model": "demo-echo", "stream": True, "messages": [{"role": "user", "content": "hi"}]})
    bare = await respond(UpstreamRequest("POST", "demo://local/chat/completions", {}, raw))
    without = [e.data for c in await read(bare.body) for e in SSEParser().feed(c)]
    assert with_usage[-1] == without[-1] == "[DONE]"
    assert orjson.loads(with_usage[-2])["choices"] == [] and "usage" not in orjson.loads(without[-2])
    for data in with_usage[:-1]:
        ChatCompletionChunk.model_validate(orjson.loads(data))
    assert all(orjson.loads(d)["usage"] is None for d in with_usage[:-2])


async def test_echo_calls_the_first_tool() -> None:
    tools = [Tool("lookup", None, {"type": "object"}), Tool("other", None, {"type": "object"})]
    _, chunks = await call("demo-echo", request("find cats", tools=tools))
    response = adapter.decode_response(chunks[0], endpoint("demo-echo"))
    assert len(response.parts) == 1
    call_part = response.parts[0]
    assert isinstance(call_part, ToolCall) and call_part.name == "lookup"
    assert orjson.loads(call_part.arguments) == {"input": "find cats"}
    assert response.stop_reason == "tool_use"

    events = await stream_events("demo-echo", request("find cats", tools=tools, stream=True))
    starts = [e for e in events if isinstance(e, PartStart)]
    assert len(starts) == 1 and isinstance(starts[0].part, ToolCall)
    assert starts[0].part.name == "lookup" and starts[0].part.id.startswith("call_demo")
    assert "".join(e.fragment for e in events if isinstance(e, ToolArgsDelta)) == call_part.arguments
    end = events[-1]
    assert isinstance(end, StreamEnd) and end.stop_reason == "tool_use" and end.usage == response.usage


async def test_tool_choice_none_and_named() -> None:
    tools = [Tool("a", None, {}), Tool("b", None, {})]
    _, none = await call("demo-echo", request(tools=tools, tool_choice=ToolChoice("none")))
    assert adapter.decode_response(none[0], endpoint("demo-echo")).parts == [TextPart("echo: hello there")]
    _, named = await call("demo-echo", request(tools=tools, tool_choice=ToolChoice("tool", "b")))
    part = adapter.decode_response(named[0], endpoint("demo-echo")).parts[0]
    assert isinstance(part, ToolCall) and part.name == "b"


async def test_echo_answers_a_tool_result() -> None:
    req = ChatRequest(
        model="public",
        messages=[
            Message("user", [TextPart("find cats")]),
            Message("assistant", [ToolCall("call_1", "lookup", '{"input":"find cats"}')]),
            Message("tool", [ToolResult("call_1", [TextPart("3 cats")])]),
        ],
        tools=[Tool("lookup", None, {})],
    )
    _, chunks = await call("demo-echo", req)
    response = adapter.decode_response(chunks[0], endpoint("demo-echo"))
    assert response.parts == [TextPart("tool result: 3 cats")]


async def test_max_tokens_cuts_with_length() -> None:
    _, chunks = await call("demo-echo", request(max_tokens=2))
    response = adapter.decode_response(chunks[0], endpoint("demo-echo"))
    assert response.parts == [TextPart("echo: he")]
    assert response.stop_reason == "length"
    assert response.usage.output_tokens == 2


async def test_answers_are_deterministic() -> None:
    _, first = await call("demo-echo", request())
    _, second = await call("demo-echo", request())
    _, other = await call("demo-echo", request("different"))
    assert first == second
    assert orjson.loads(first[0])["id"] != orjson.loads(other[0])["id"]


async def test_fail_500() -> None:
    reply, chunks = await call("demo-fail-500", request())
    err = adapter.classify_error(reply.status, reply.headers, b"".join(chunks))
    assert (reply.status, err.failure, err.status) == (500, "server", 502)
    assert "server had an error" in err.message


async def test_fail_429_with_retry_after() -> None:
    reply, chunks = await call("demo-fail-429", request())
    assert reply.headers["retry-after"] == "1"
    err = adapter.classify_error(reply.status, reply.headers, b"".join(chunks))
    assert (reply.status, err.failure, err.retry_after) == (429, "rate_limit", 1.0)


async def test_context_and_refuse() -> None:
    reply, chunks = await call("demo-context", request())
    err = adapter.classify_error(reply.status, reply.headers, b"".join(chunks))
    assert (reply.status, err.failure, err.status, err.kind) == (400, "context_length", 400, "context_length")
    reply, chunks = await call("demo-refuse", request())
    err = adapter.classify_error(reply.status, reply.headers, b"".join(chunks))
    assert (reply.status, err.failure, err.kind) == (400, "content_filter", "content_filter")


async def test_unknown_model_is_not_found() -> None:
    reply, chunks = await call("gpt-nonexistent", request())
    err = adapter.classify_error(reply.status, reply.headers, b"".join(chunks))
    assert (reply.status, err.failure) == (404, "not_found")
    assert err.message == "The model `gpt-nonexistent` does not exist or you do not have access to it."


async def test_unknown_path_and_bad_json() -> None:
    reply = await respond(UpstreamRequest("POST", "demo://local/embeddings", {}, b"{}"))
    assert reply.status == 404
    reply = await respond(UpstreamRequest("POST", "demo://local/chat/completions", {}, b"{oops"))
    assert reply.status == 400
    assert orjson.loads(b"".join(await read(reply.body)))["error"]["type"] == "invalid_request_error"


async def test_cut_streamed() -> None:
    reply = await respond(adapter.build_request(request(stream=True), endpoint("demo-cut")))
    assert reply.status == 200
    decoder = adapter.stream_decoder(endpoint("demo-cut"))
    events: list[StreamEvent] = []
    with pytest.raises(ConnectionResetError):
        async for chunk in reply.body:
            events.extend(decoder.feed(chunk))
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["echo:", " hello"]
    with pytest.raises(UpstreamError) as info:
        decoder.close()
    assert info.value.failure == "stream_cut"


async def test_cut_non_streamed() -> None:
    with pytest.raises(ConnectionResetError):
        await respond(adapter.build_request(request(), endpoint("demo-cut")))


async def test_slow_waits_then_echoes() -> None:
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    upstream = DemoUpstream(sleep=fake_sleep)
    reply = await upstream.respond(adapter.build_request(request(), endpoint("demo-slow")))
    assert waits == [5.0]
    response = adapter.decode_response(b"".join(await read(reply.body)), endpoint("demo-slow"))
    assert response.parts == [TextPart("echo: hello there")]


async def test_slow_is_cancellable() -> None:
    started = asyncio.Event()

    async def blocking_sleep(seconds: float) -> None:
        started.set()
        await asyncio.Event().wait()  # never set: only cancellation ends it

    upstream = DemoUpstream(sleep=blocking_sleep)
    task = asyncio.create_task(upstream.respond(adapter.build_request(request(), endpoint("demo-slow"))))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_slow_with_the_real_sleep_is_cancellable() -> None:
    upstream = DemoUpstream(slow_delay=3600.0)
    task = asyncio.create_task(upstream.respond(adapter.build_request(request(), endpoint("demo-slow"))))
    await asyncio.sleep(0)  # let it reach its sleep
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
