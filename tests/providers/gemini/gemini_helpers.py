"""Shared helpers for the Gemini provider tests: fixture files, endpoints, SSE framing,
and a google-genai client wired to an in-process handler (no network)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
from google import genai
from google.genai import types

from engine.canonical import StreamEvent
from providers.base import Endpoint
from providers.gemini import GeminiAdapter

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "gemini"
CLOCK = 1_700_000_000.0


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> Any:
    data = orjson.loads(fixture_bytes(name))
    if isinstance(data, dict):
        data.pop("_comment", None)
    return data


def chunk_lines(name: str) -> list[str]:
    return [line for line in (FIXTURES / name).read_text().splitlines() if line.strip()]


def sse_bytes(name: str) -> bytes:
    """A ``.chunks.txt`` recording framed as the real API frames it."""
    return b"".join(b"data: " + line.encode() + b"\r\n\r\n" for line in chunk_lines(name))


def endpoint(model: str = "gemini-3-pro-preview", **kw: Any) -> Endpoint:
    base: dict[str, Any] = {
        "channel": "google",
        "format": "gemini",
        "base_url": "https://generativelanguage.googleapis.com/v1beta",
        "api_key": "test-key-123",
        "upstream_model": model,
    }
    base.update(kw)
    return Endpoint(**base)


def adapter() -> GeminiAdapter:
    return GeminiAdapter(clock=lambda: CLOCK, new_id=lambda: "generated-id")


def decode_stream(data: bytes, *, step: int | None = None, model: str = "gemini-3-pro-preview") -> list[StreamEvent]:
    decoder = adapter().stream_decoder(endpoint(model))
    events: list[StreamEvent] = []
    size = step or len(data) or 1
    for start in range(0, len(data), size):
        events += decoder.feed(data[start : start + size])
    events += decoder.close()
    return events


Handler = Callable[[httpx.Request], httpx.Response]


def sdk_client(handler: Handler) -> genai.Client:
    """A google-genai client whose HTTP requests go to ``handler``."""
    transport = httpx.MockTransport(handler)
    options = types.HttpOptions(httpx_client=httpx.Client(transport=transport), api_version="v1beta")
    return genai.Client(api_key="client-key", http_options=options)
