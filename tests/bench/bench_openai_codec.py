"""Micro-benchmark of the OpenAI chat hot paths (not a test: prints, asserts nothing).

Run: ``.venv/bin/python tests/bench/bench_openai_codec.py``. Prints microseconds per call
for request decode/encode, response decode/encode, and per chunk for the stream decoder,
the stream encoder and the passthrough relay, using the recorded 2026 text stream.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from engine.canonical import StreamEvent
from providers.base import Endpoint
from providers.openai.adapter import OpenAIChatAdapter
from providers.openai.codec import OpenAIChatCodec
from providers.openai.passthrough import (
    PassthroughStream,
    build_passthrough,
    rewrite_response,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "openai"
ENDPOINT = Endpoint("bench", "openai", "https://api.openai.com/v1", "sk-bench", "gpt-4o-2024-08-06")
REQUEST: dict[str, Any] = {
    "model": "gpt-4o",
    "messages": [
        {"role": "system", "content": "You are a helpful assistant. " * 10},
        {"role": "user", "content": "What's the weather in Paris and in Rome?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Paris"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18C, sunny"},
        {"role": "user", "content": [{"type": "text", "text": "And Rome?"}]},
    ],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "weather",
                "description": "Current weather for a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            },
        }
    ],
    "temperature": 0.3,
    "max_tokens": 256,
    "stream": True,
    "stream_options": {"include_usage": True},
}


def per_call(label: str, fn: Callable[[], object], *, units: int = 1, rounds: int = 40, seconds: float = 0.02) -> None:
    """Best of ``rounds`` timed rounds (the minimum is the least disturbed by other load)."""
    fn()
    best = float("inf")
    for _ in range(rounds):
        loops = 0
        start = time.perf_counter()
        while True:
            for _ in range(20):
                fn()
            loops += 20
            now = time.perf_counter()
            if now - start >= seconds:
                break
        best = min(best, (now - start) / (loops * units))
    print(f"{label:<48} {best * 1e6:8.2f} µs")


def stream_bytes() -> bytes:
    lines = (FIXTURES / "chat-stream" / "2026-text.chunks.txt").read_bytes().splitlines()
    return b"".join(b"data: " + line + b"\n\n" for line in lines if line) + b"data: [DONE]\n\n"


def main() -> None:
    codec, adapter = OpenAIChatCodec(), OpenAIChatAdapter()
    raw_request = orjson.dumps(REQUEST)
    request = codec.decode_request(REQUEST)
    completion = (FIXTURES / "2026-chat-completion.json").read_bytes()
    response = adapter.decode_response(completion, ENDPOINT)
    sse = stream_bytes()
    frames = [f + b"\n\n" for f in sse.split(b"\n\n") if f]
    n = len(frames)
    decoder = adapter.stream_decoder(ENDPOINT)
    events: list[StreamEvent] = [e for f in frames for e in decoder.feed(f)]

    print(f"stream fixture: {n} SSE frames, {len(events)} canonical events\n")
    chunk_payload = frames[5][6:-2]
    per_call("baseline: orjson.loads of the request body", lambda: orjson.loads(raw_request))
    per_call("baseline: orjson loads+dumps of one chunk", lambda: orjson.dumps(orjson.loads(chunk_payload)))
    per_call("decode_request (orjson.loads + decode)", lambda: codec.decode_request(orjson.loads(raw_request)))
    per_call("build_request (encode + orjson.dumps)", lambda: adapter.build_request(request, ENDPOINT))
    per_call("decode_response (recorded completion)", lambda: adapter.decode_response(completion, ENDPOINT))
    per_call("encode_response", lambda: codec.encode_response(response, request))
    per_call("build_passthrough", lambda: build_passthrough(REQUEST, ENDPOINT))
    per_call("rewrite_response (recorded completion)", lambda: rewrite_response(completion, "my-gpt"))

    def decode_stream() -> None:
        d = adapter.stream_decoder(ENDPOINT)
        for f in frames:
            d.feed(f)
        d.close()

    def encode_stream() -> None:
        e = codec.stream_encoder(request)
        for ev in events:
            e.encode(ev)

    def passthrough(wants_usage: bool) -> Callable[[], None]:
        def run() -> None:
            s = PassthroughStream("my-gpt", wants_usage)
            for f in frames:
                s.feed(f)
            s.close()

        return run

    def translate() -> None:
        d = adapter.stream_decoder(ENDPOINT)
        e = codec.stream_encoder(request)
        for f in frames:
            for ev in d.feed(f):
                e.encode(ev)

    print()
    per_call("stream decoder, per upstream chunk", decode_stream, units=n)
    per_call("stream encoder, per canonical event", encode_stream, units=len(events))
    per_call("translated relay (decode+encode), per chunk", translate, units=n)
    per_call("passthrough relay, per chunk (usage wanted)", passthrough(True), units=n)
    per_call("passthrough relay, per chunk (usage swallowed)", passthrough(False), units=n)
    per_call("passthrough relay, whole stream in one feed", lambda: _one_feed(sse), units=n)


def _one_feed(sse: bytes) -> None:
    s = PassthroughStream("my-gpt", True)
    s.feed(sse)
    s.close()


if __name__ == "__main__":
    main()
