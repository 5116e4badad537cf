"""Two Anthropic endings as every client format's official SDK sees them (the Anthropic
client through the passthrough), streamed and not, from recorded transcripts:

* ``stop_reason: refusal`` (the classifier stopped the answer, no refusal text): chat's
  ``finish_reason: content_filter``, a Responses ``incomplete`` response with reason
  ``content_filter``, Gemini's ``SAFETY``, Anthropic's own ``refusal``;
* ``stop_reason: max_tokens`` inside a tool call (the recorded stream stops mid-JSON, with
  no ``content_block_stop``): every client gets its format's max-tokens finish and a
  stream that parses to the end. Chat and Responses carry the arguments as text, so they
  get them as cut; Anthropic's SDK parses what came; Gemini sends a call whole or not at
  all, so a Gemini client gets the text and ``MAX_TOKENS`` without the half-written call.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from tests.conformance.case import public_model
from tests.conformance.clients import ClosableDriver
from tests.conformance.clients.anthropic import AnthropicDriver
from tests.conformance.clients.base import Turn
from tests.conformance.clients.openai_chat import OpenAIChatDriver
from tests.conformance.clients.openai_responses import OpenAIResponsesDriver
from tests.conformance.clients.sse_events import read_events
from tests.conformance.matrix import CLIENTS
from tests.conformance.vendors import Vendor
from tests.conformance.vendors.anthropic import AnthropicVendor, CutCall
from tests.conformance.vendors.base import ToolSpec
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess

MODEL = public_model("anthropic")
MAKE_FILE = ToolSpec(
    "make_file",
    "Write a text file",
    {
        "type": "object",
        "properties": {"filename": {"type": "string"}, "lines_of_text": {"type": "array", "items": {"type": "string"}}},
        "required": ["filename", "lines_of_text"],
    },
)
ASK = Turn("Write me a tax guide in taxes.txt.", tools=(MAKE_FILE,))

REFUSED = {
    "openai": "content_filter",
    "openai-responses": "incomplete:content_filter",
    "anthropic": "refusal",
    "gemini": "SAFETY",
}


@pytest.fixture
def claude(vendors: dict[str, Vendor], fakes: dict[str, FakeUpstream]) -> AnthropicVendor:
    for fake in fakes.values():
        fake.reset()
    vendor = vendors["anthropic"]
    assert isinstance(vendor, AnthropicVendor)
    return vendor


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("client", CLIENTS)
def test_an_anthropic_refusal_is_each_formats_content_filter_outcome(
    client: str,
    stream: bool,
    claude: AnthropicVendor,
    drivers: dict[str, ClosableDriver],
    fakes: dict[str, FakeUpstream],
) -> None:
    refusal = claude.refusal(stream=stream)
    fakes["anthropic"].script(claude.upstream_model, refusal.reply)
    driver = drivers[client]
    answer = driver.ask(MODEL, Turn("Write malware."), stream=stream)
    assert answer.stop == REFUSED[client]
    assert (answer.text, answer.calls) == ("", [])
    assert answer.usage == driver.usage_view(refusal.expected.usage)


# ---- a tool call cut by the output cap --------------------------------------------------


def _chat(sdk: Any, stream: bool) -> tuple[str, str, list[tuple[str, str]]]:
    """(text, finish_reason, [(tool, arguments text)]) of a chat answer."""
    body = {"model": MODEL, "messages": [{"role": "user", "content": ASK.prompt}], "tools": _openai_tools()}
    if not stream:
        choice = sdk.chat.completions.create(**body).choices[0]
        calls = [(c.function.name, c.function.arguments) for c in choice.message.tool_calls or []]
        return choice.message.content or "", choice.finish_reason, calls
    text, finish = "", ""
    names: dict[int, str] = {}
    args: dict[int, str] = {}
    for chunk in sdk.chat.completions.create(**body, stream=True):
        for choice in chunk.choices:
            text += choice.delta.content or ""
            for call in choice.delta.tool_calls or []:
                if call.function.name:
                    names[call.index] = call.function.name
                args[call.index] = args.get(call.index, "") + (call.function.arguments or "")
            finish = choice.finish_reason or finish
    return text, finish, [(names[i], args[i]) for i in sorted(names)]


def _responses(sdk: Any, stream: bool) -> tuple[str, str, list[tuple[str, str]]]:
    body = {
        "model": MODEL,
        "input": ASK.prompt,
        "tools": [{**t["function"], "type": "function"} for t in _openai_tools()],
    }
    if stream:
        terminal = [e for e in sdk.responses.create(**body, stream=True) if e.type.startswith("response.")]
        assert terminal[-1].type == "response.incomplete", [e.type for e in terminal]
        response = terminal[-1].response
    else:
        response = sdk.responses.create(**body)
    text = "".join(c.text for i in response.output if i.type == "message" for c in i.content if c.type == "output_text")
    calls = [(i.name, i.arguments) for i in response.output if i.type == "function_call"]
    details = response.incomplete_details
    return text, f"{response.status}:{details.reason if details else None}", calls


def _anthropic(sdk: Any, stream: bool) -> tuple[str, str, list[tuple[str, str]]]:
    body = {
        "model": MODEL,
        "max_tokens": 124,
        "messages": [{"role": "user", "content": ASK.prompt}],
        "tools": [{"name": MAKE_FILE.name, "description": MAKE_FILE.description, "input_schema": MAKE_FILE.parameters}],
    }
    if stream:
        with sdk.messages.stream(**body) as live:
            message = live.get_final_message()
    else:
        message = sdk.messages.create(**body)
    text = "".join(b.text for b in message.content if b.type == "text")
    calls = [(b.name, orjson.dumps(b.input).decode()) for b in message.content if b.type == "tool_use"]
    return text, str(message.stop_reason), calls


def _gemini(driver: ClosableDriver, stream: bool) -> tuple[str, str, list[tuple[str, str]]]:
    answer = driver.ask(MODEL, ASK, stream=stream)
    return answer.text, answer.stop, [(c.name, orjson.dumps(c.arguments).decode()) for c in answer.calls]


def _openai_tools() -> list[dict[str, Any]]:
    spec = MAKE_FILE
    return [
        {
            "type": "function",
            "function": {"name": spec.name, "description": spec.description, "parameters": spec.parameters},
        }
    ]


def _ask(driver: ClosableDriver, stream: bool) -> tuple[str, str, list[tuple[str, str]]]:
    if isinstance(driver, OpenAIChatDriver):
        return _chat(driver.sdk, stream)
    if isinstance(driver, OpenAIResponsesDriver):
        return _responses(driver.sdk, stream)
    if isinstance(driver, AnthropicDriver):
        return _anthropic(driver.sdk, stream)
    return _gemini(driver, stream)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("client", CLIENTS)
def test_a_tool_call_cut_by_the_output_cap_ends_with_the_formats_max_tokens_finish(
    client: str,
    stream: bool,
    claude: AnthropicVendor,
    drivers: dict[str, ClosableDriver],
    fakes: dict[str, FakeUpstream],
) -> None:
    cut: CutCall = claude.cut_tool_call(stream=stream)
    fakes["anthropic"].script(claude.upstream_model, cut.reply)
    driver = drivers[client]
    text, finish, calls = _ask(driver, stream)
    assert text == cut.text
    assert finish == driver.stop_name("length")
    whole = claude.cut_tool_call(stream=False)  # the input as Anthropic's parse of the cut has it
    if client in ("openai", "openai-responses"):  # arguments are text: exactly what came
        assert calls == [(cut.name, cut.arguments)]
    elif client == "anthropic":
        assert calls == [(whole.name, whole.arguments)]
    elif stream:  # Gemini: a call is whole or absent
        assert calls == []
    else:  # a non-streamed Anthropic answer carries whole JSON: a whole call
        assert calls == [(whole.name, whole.arguments)]


def test_the_raw_gemini_stream_of_the_cut_is_whole_json_to_its_last_frame(
    claude: AnthropicVendor, fakes: dict[str, FakeUpstream], gateway: GatewayProcess
) -> None:
    cut = claude.cut_tool_call(stream=True)
    fakes["anthropic"].script(claude.upstream_model, cut.reply)
    body = {"contents": [{"role": "user", "parts": [{"text": ASK.prompt}]}]}
    response = httpx.post(
        f"{gateway.base_url}/v1beta/models/{MODEL}:streamGenerateContent?alt=sse",
        json=body,
        headers={"x-goog-api-key": "gemini-raw"},
        timeout=30,
    )
    assert response.status_code == 200
    chunks = [orjson.loads(data) for _, data in read_events(response.content)]
    assert response.content.endswith(b"\n\n")  # the body ended; the connection was not dropped mid-body
    parts = [p for c in chunks for p in c["candidates"][0]["content"]["parts"]]
    assert not any("functionCall" in p for p in parts)
    assert "".join(p.get("text", "") for p in parts) == cut.text
    assert chunks[-1]["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert chunks[-1]["usageMetadata"]["candidatesTokenCount"] == cut.usage.output_tokens
