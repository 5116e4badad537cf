"""Encrypted reasoning a Responses client (the Codex CLI) hands back: it reaches only an upstream
of the format that issued it, and is left out (never forged) for any other."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from engine.canonical import ChatRequest, Message, TextPart, Thinking, ToolCall, ToolResult
from engine.exchange import Leg, TranslatedExchange
from providers.anthropic.adapter import AnthropicAdapter
from providers.base import Endpoint, UpstreamAdapter
from providers.gemini.adapter import GeminiAdapter
from providers.openai_responses.adapter import ResponsesAdapter
from providers.openai_responses.codec import ResponsesCodec

CODEC = ResponsesCodec()
ADAPTERS: dict[str, UpstreamAdapter] = {
    "anthropic": AnthropicAdapter(),
    "gemini": GeminiAdapter(),
    "openai-responses": ResponsesAdapter(),
}


def _endpoint(fmt: str) -> Endpoint:
    return Endpoint("c", fmt, "http://up/v1", "k", "m")


def _history(encrypted: str) -> dict[str, Any]:
    return {
        "model": "m",
        "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
        "input": [
            {"type": "message", "role": "user", "content": "go"},
            {
                "type": "reasoning",
                "summary": [{"type": "summary_text", "text": "thinking"}],
                "encrypted_content": encrypted,
            },
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "ok"},
        ],
    }


def _sent(fmt: str, request: ChatRequest) -> str:
    return ADAPTERS[fmt].build_request(request, _endpoint(fmt)).body.decode()


def test_client_reasoning_state_names_its_issuer() -> None:
    own = CODEC.decode_request(_history("gAAAA-openai")).messages[1].parts[0]
    assert own == Thinking("thinking", signature="gAAAA-openai", origin="openai-responses")
    foreign = CODEC.decode_request(_history("turnout:anthropic:EqQBsig")).messages[1].parts[0]
    assert foreign == Thinking("thinking", signature="EqQBsig", origin="anthropic")


@pytest.mark.parametrize(
    ("encrypted", "fmt", "sent"),
    [
        ("gAAAA-openai", "openai-responses", True),
        ("gAAAA-openai", "anthropic", False),
        ("gAAAA-openai", "gemini", False),
        ("turnout:anthropic:EqQBsig", "anthropic", True),
        ("turnout:anthropic:EqQBsig", "gemini", False),
        ("turnout:anthropic:EqQBsig", "openai-responses", False),
        ("turnout:gemini:CiQBsig", "gemini", True),
        ("turnout:gemini:CiQBsig", "anthropic", False),
    ],
)
def test_reasoning_state_reaches_only_its_issuers_format(encrypted: str, fmt: str, sent: bool) -> None:
    request = CODEC.decode_request(_history(encrypted))
    body = _sent(fmt, request)
    signature = encrypted.rpartition(":")[2] if encrypted.startswith("turnout:") else encrypted
    assert (signature in body) is sent, body
    assert "turnout:" not in body  # the gateway's marking never reaches an upstream


def test_unknown_origin_is_sent_as_before() -> None:
    """Reasoning from clients that do not mark it (an Anthropic client's thinking) keeps
    being sent: only a known other issuer is left out."""
    request = ChatRequest(
        model="m",
        messages=[
            Message("user", [TextPart("go")]),
            Message("assistant", [Thinking("t", signature="EqQBsig"), ToolCall("c1", "f", "{}")]),
            Message("tool", [ToolResult("c1", [TextPart("ok")])]),
        ],
    )
    assert "EqQBsig" in _sent("anthropic", request)


def test_a_translated_answer_marks_its_reasoning_for_the_responses_client() -> None:
    leg = Leg(_endpoint("anthropic"), ADAPTERS["anthropic"], CODEC, "codex-alias")
    request = CODEC.decode_request(_history("turnout:anthropic:old"))
    upstream_answer = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude",
        "content": [
            {"type": "thinking", "thinking": "next step", "signature": "EqQBnew"},
            {"type": "text", "text": "done"},
        ],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 10, "output_tokens": 5},
    }
    body, _ = TranslatedExchange(leg, request).finish(orjson.dumps(upstream_answer))
    reasoning = orjson.loads(body)["output"][0]
    assert reasoning["type"] == "reasoning" and reasoning["encrypted_content"] == "turnout:anthropic:EqQBnew"
    # and the client's next turn sends it back to Anthropic as Anthropic's own
    again = CODEC.decode_request(_history(reasoning["encrypted_content"]))
    assert "EqQBnew" in _sent("anthropic", again)


def test_a_translated_stream_marks_its_reasoning_for_the_responses_client() -> None:
    leg = Leg(_endpoint("anthropic"), ADAPTERS["anthropic"], CODEC, "codex-alias")
    request = CODEC.decode_request({**_history("gAAAA-openai"), "stream": True})
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
                                               "model": "claude", "content": [], "usage": {"input_tokens": 10}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "hmm"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "EqQBs"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 3}},
        {"type": "message_stop"},
    ]  # fmt: skip
    raw = b"".join(b"event: %s\ndata: %s\n\n" % (e["type"].encode(), orjson.dumps(e)) for e in events)
    relay = TranslatedExchange(leg, request).relay()
    out = (relay.feed(raw) + relay.close()).decode()
    assert '"encrypted_content":"turnout:anthropic:EqQBs"' in out
