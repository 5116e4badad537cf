"""One agent turn against the agent upstream through each vendor's official SDK (openai,
anthropic, google-genai), streamed or not, read into a neutral ``Outcome``.

The first turn sends a system prompt, a user message and the tools; the second adds the
model's call and the tool's result, in each wire format's own shape. Used by
``tests/support/test_agent_upstream.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anthropic
import openai
import orjson
from google import genai
from google.genai import types
from openai.types.responses import Response

SYSTEM = "You are a coding agent."
PROMPT = "Read note.txt"
TOOL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"command": {"type": "string"}},
    "required": ["command"],
}


@dataclass(frozen=True, slots=True)
class Outcome:
    call_name: str | None
    call_id: str | None
    arguments: Any  # parsed JSON arguments of the call, None without one
    text: str
    finish: str
    cached: int
    pieces: int  # streamed argument or text fragments seen (1 when not streamed)


def _loads(text: str) -> Any:
    return orjson.loads(text) if text else None


# -- OpenAI chat ----------------------------------------------------------------------


def chat_tools(*names: str) -> list[Any]:
    return [{"type": "function", "function": {"name": n, "parameters": TOOL_SCHEMA}} for n in names]


def chat_turn(base_url: str, messages: list[Any], tools: list[Any], stream: bool) -> Outcome:
    client = openai.OpenAI(base_url=base_url, api_key="test-key", max_retries=0)
    with client:
        if not stream:
            done = client.chat.completions.create(model="gpt-test", messages=messages, tools=tools)
            choice = done.choices[0]
            calls = choice.message.tool_calls or []
            call = calls[0] if calls else None
            assert done.usage is not None and done.usage.prompt_tokens_details is not None
            return Outcome(
                call.function.name if call and call.type == "function" else None,
                call.id if call else None,
                _loads(call.function.arguments) if call and call.type == "function" else None,
                choice.message.content or "",
                choice.finish_reason,
                done.usage.prompt_tokens_details.cached_tokens or 0,
                1,
            )
        chunks = client.chat.completions.create(
            model="gpt-test", messages=messages, tools=tools, stream=True, stream_options={"include_usage": True}
        )
        name = ident = None
        args, text, finish, cached, pieces = "", "", "", -1, 0
        for chunk in chunks:
            if chunk.usage is not None and chunk.usage.prompt_tokens_details is not None:
                cached = chunk.usage.prompt_tokens_details.cached_tokens or 0
            for part in chunk.choices:
                finish = part.finish_reason or finish
                text += part.delta.content or ""
                pieces += bool(part.delta.content)
                for delta in part.delta.tool_calls or []:
                    ident = delta.id or ident
                    if delta.function is not None:
                        name = delta.function.name or name
                        args += delta.function.arguments or ""
                        pieces += bool(delta.function.arguments)
        return Outcome(name, ident, _loads(args), text, finish, cached, pieces)


def chat_second(first: Outcome, result: str) -> list[Any]:
    function = {"name": first.call_name, "arguments": orjson.dumps(first.arguments).decode()}
    return [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": first.call_id, "type": "function", "function": function}],
        },
        {"role": "tool", "tool_call_id": first.call_id, "content": result},
    ]


# -- OpenAI Responses -----------------------------------------------------------------


def responses_tools(*names: str) -> list[Any]:
    return [{"type": "function", "name": n, "parameters": TOOL_SCHEMA, "strict": False} for n in names]


def responses_turn(base_url: str, items: list[Any], tools: list[Any], stream: bool) -> Outcome:
    client = openai.OpenAI(base_url=base_url, api_key="test-key", max_retries=0)
    with client:
        pieces = 1
        if stream:
            with client.responses.stream(model="gpt-test", instructions=SYSTEM, input=items, tools=tools) as events:
                kinds = [e.type for e in events]
                final: Response = events.get_final_response()
            deltas = ("response.function_call_arguments.delta", "response.output_text.delta")
            pieces = sum(k in deltas for k in kinds)
        else:
            final = client.responses.create(model="gpt-test", instructions=SYSTEM, input=items, tools=tools)
        done = final
        assert done.usage is not None
        calls = [o for o in done.output if o.type == "function_call"]
        call = calls[0] if calls else None
        return Outcome(
            call.name if call else None,
            call.call_id if call else None,
            _loads(call.arguments) if call else None,
            done.output_text,
            done.status or "",
            done.usage.input_tokens_details.cached_tokens,
            pieces,
        )


def responses_second(first: Outcome, result: str) -> list[Any]:
    arguments = orjson.dumps(first.arguments).decode()
    return [
        {"type": "function_call", "call_id": first.call_id, "name": first.call_name, "arguments": arguments},
        {"type": "function_call_output", "call_id": first.call_id, "output": result},
    ]


# -- Anthropic Messages ---------------------------------------------------------------


def anthropic_tools(*names: str) -> list[Any]:
    return [{"name": n, "description": "run it", "input_schema": TOOL_SCHEMA} for n in names]


def anthropic_turn(base_url: str, messages: list[Any], tools: list[Any], stream: bool) -> Outcome:
    client = anthropic.Anthropic(base_url=base_url, api_key="test-key", max_retries=0)
    with client:
        pieces = 1
        request: dict[str, Any] = {"model": "claude-test", "max_tokens": 1000, "system": SYSTEM, "messages": messages}
        if stream:
            with client.messages.stream(**request, tools=tools) as events:
                kinds = [e.type for e in events]
                done = events.get_final_message()
            pieces = sum(k in ("input_json", "text") for k in kinds)
        else:
            done = client.messages.create(**request, tools=tools)
        calls = [b for b in done.content if b.type == "tool_use"]
        call = calls[0] if calls else None
        text = "".join(b.text for b in done.content if b.type == "text")
        cached = done.usage.cache_read_input_tokens or 0
        finish = done.stop_reason or ""
        return Outcome(
            call.name if call else None,
            call.id if call else None,
            call.input if call else None,
            text,
            finish,
            cached,
            pieces,
        )


def anthropic_second(first: Outcome, result: str) -> list[Any]:
    use = {"type": "tool_use", "id": first.call_id, "name": first.call_name, "input": first.arguments}
    return [
        {"role": "assistant", "content": [use]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": first.call_id, "content": result}]},
    ]


# -- Gemini ---------------------------------------------------------------------------


def gemini_tools(*names: str) -> list[Any]:
    declarations = [types.FunctionDeclaration(name=n, parameters_json_schema=TOOL_SCHEMA) for n in names]
    return [types.Tool(function_declarations=declarations)] if names else []


def anthropic_client(base_url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=base_url, api_key="test-key", max_retries=0)


def gemini_client(base_url: str) -> genai.Client:
    return genai.Client(api_key="test-key", http_options=types.HttpOptions(base_url=base_url))


def gemini_turn(base_url: str, contents: list[Any], tools: list[Any], stream: bool) -> Outcome:
    client = gemini_client(base_url)
    config = types.GenerateContentConfig(system_instruction=SYSTEM, tools=tools)
    if stream:
        chunks = list(client.models.generate_content_stream(model="gemini-test", contents=contents, config=config))
    else:
        chunks = [client.models.generate_content(model="gemini-test", contents=contents, config=config)]
    calls = [c for chunk in chunks for c in chunk.function_calls or []]
    text = "".join(p.text or "" for chunk in chunks for p in (chunk.parts or []))
    last = chunks[-1]
    assert last.candidates and last.usage_metadata is not None
    finish = last.candidates[0].finish_reason
    return Outcome(
        calls[0].name if calls else None,
        calls[0].id if calls else None,
        calls[0].args if calls else None,
        text,
        finish.value if finish is not None else "",
        last.usage_metadata.cached_content_token_count or 0,
        sum(bool(p.text) or p.function_call is not None for chunk in chunks for p in (chunk.parts or [])),
    )


def gemini_second(first: Outcome, result: str) -> list[Any]:
    call = {"functionCall": {"name": first.call_name, "args": first.arguments}}
    answer = {"functionResponse": {"name": first.call_name, "response": {"output": result}}}
    return [{"role": "model", "parts": [call]}, {"role": "user", "parts": [answer]}]
