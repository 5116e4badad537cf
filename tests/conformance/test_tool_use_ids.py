"""Tool-use ids as the Anthropic SDK sees them, from every upstream format, streamed and
not: they start with ``toolu_`` (in Anthropic's id alphabet) whoever issued them, and when
the client sends its assistant turn and tool results back, the upstream gets exactly the
ids it issued (a Gemini upstream gets no ids, but the thought signature the id carried).
An Anthropic upstream's own ``toolu_`` ids pass untouched."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest

from tests.conformance.case import public_model
from tests.conformance.clients import ClosableDriver
from tests.conformance.clients.anthropic import AnthropicDriver
from tests.conformance.matrix import UPSTREAMS
from tests.conformance.vendors import Vendor
from tests.support.fake_upstream import FakeUpstream
from tests.support.replies import Json, Reply, Stream

ANTHROPIC_ID = re.compile(r"toolu_[A-Za-z0-9_-]+")


def _payloads(reply: Reply) -> list[dict[str, Any]]:
    """The JSON objects a scripted reply sends: its body, or its frames' ``data:``."""
    if isinstance(reply, Json):
        return [reply.body]
    assert isinstance(reply, Stream)
    out = []
    for frame in reply.frames:
        for line in frame.splitlines():
            data = line.removeprefix(b"data:").strip()
            if line.startswith(b"data:") and data != b"[DONE]":
                out.append(orjson.loads(data))
    return out


def _issued(upstream: str, reply: Reply) -> list[str]:
    """The tool call ids the upstream's reply issues, in order (a Gemini reply: its
    functionCall thought signatures, which is what a Gemini upstream needs back)."""
    out: list[str] = []
    for item in _payloads(reply):
        if upstream == "openai":
            for choice in item.get("choices") or ():
                holder = choice.get("message") or choice.get("delta") or {}
                out += [c["id"] for c in holder.get("tool_calls") or () if c.get("id")]
        elif upstream == "openai-responses":
            items = item["output"] if item.get("object") == "response" else []
            if item.get("type") == "response.output_item.added":
                items = [item["item"]]
            out += [i["call_id"] for i in items if i["type"] == "function_call"]
        elif upstream == "anthropic":
            blocks = item.get("content") or [item.get("content_block") or {}]
            out += [b["id"] for b in blocks if b.get("type") == "tool_use"]
        else:
            for candidate in item.get("candidates") or ():
                parts = (candidate.get("content") or {}).get("parts") or ()
                out += [p["thoughtSignature"] for p in parts if "functionCall" in p and "thoughtSignature" in p]
    return out


def _turn(driver: AnthropicDriver, vendor: Vendor, messages: list[dict[str, Any]], stream: bool) -> Any:
    body: dict[str, Any] = {
        "model": public_model(vendor.format),
        "max_tokens": 1024,
        "messages": messages,
        "tools": [{"name": t.name, "description": t.description, "input_schema": t.parameters} for t in vendor.tools],
    }
    if not stream:
        return driver.sdk.messages.create(**body)
    with driver.sdk.messages.stream(**body) as live:
        return live.get_final_message()


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("upstream", UPSTREAMS)
def test_anthropic_clients_see_toolu_ids_and_the_upstream_gets_its_own_back(
    upstream: str,
    stream: bool,
    drivers: dict[str, ClosableDriver],
    vendors: dict[str, Vendor],
    fakes: dict[str, FakeUpstream],
) -> None:
    driver, vendor, fake = drivers["anthropic"], vendors[upstream], fakes[upstream]
    assert isinstance(driver, AnthropicDriver)
    for each in fakes.values():
        each.reset()
    called = vendor.streamed_tool_args() if stream else vendor.tool_call()
    fake.script(vendor.upstream_model, called.reply, vendor.text(stream=False).reply)
    issued = _issued(upstream, called.reply)
    assert issued, "the recording issues ids (or, from Gemini, signatures)"

    messages: list[dict[str, Any]] = [{"role": "user", "content": "What is the weather like?"}]
    first = _turn(driver, vendor, messages, stream)
    uses = [b for b in first.content if b.type == "tool_use"]
    assert uses and all(ANTHROPIC_ID.fullmatch(u.id) for u in uses), [u.id for u in uses]
    assert len({u.id for u in uses}) == len(uses)
    if upstream == "anthropic":
        assert [u.id for u in uses] == issued  # Anthropic's own ids, untouched

    messages.append({"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]})
    messages.append(
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": u.id, "content": "18°C"} for u in uses]}
    )
    second = _turn(driver, vendor, messages, False)
    assert second.stop_reason == "end_turn"

    sent = fake.requests[1]
    seen = vendor.read_request(sent)
    assert [c.name for c in seen.calls] == [u.name for u in uses]
    if upstream == "gemini":  # no ids on the Gemini wire: each call gets its signature back
        parts = [p for content in sent.json["contents"] for p in content["parts"]]
        signatures = [p.get("thoughtSignature") for p in parts if "functionCall" in p]
        assert [s for s in signatures if s] == issued
        assert [r.name for r in seen.results] == [u.name for u in uses]
    else:
        assert [c.id for c in seen.calls] == issued
        assert [r.call_id for r in seen.results] == issued
