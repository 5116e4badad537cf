"""Canonical ``ChatRequest`` -> the JSON body of a Gemini ``generateContent`` request.

* ``system`` -> ``systemInstruction``, and so do system messages opening the
  conversation; a later system message (Gemini has no positioned one) is a user-turn text
  part marked ``<system>`` ... ``</system>`` at its position (``providers.system_turns``);
  messages -> ``contents`` (``assistant`` ->
  ``model``; ``user`` and ``tool`` -> ``user``; consecutive turns of one role are merged,
  so all results of one step form one turn as Gemini requires). Parts per
  ``part_encoder`` (no call ids: Gemini rejects them in requests and pairs by order and
  name); a tool result without ``name`` takes the name of the conversation's tool call
  with that id.
* ``tools`` -> ``functionDeclarations`` with ``parametersJsonSchema`` (without the root
  ``$schema`` keyword, which Gemini refuses and which constrains nothing). A ``strict`` tool
  under automatic choice selects mode ``VALIDATED`` (Gemini's constrained decoding of
  calls); ``ANY`` is always constrained. ``tool_choice``: auto -> ``AUTO``, none ->
  ``NONE``, required -> ``ANY``, a named tool -> ``ANY`` + ``allowedFunctionNames``.
* ``max_tokens``, ``temperature``, ``top_p``, ``stop`` -> ``generationConfig``
  (``maxOutputTokens``, ``temperature``, ``topP``, ``stopSequences``);
  ``response_format`` -> ``responseMimeType`` (+ ``responseJsonSchema``; the schema's
  ``name`` is a label with no Gemini equivalent and is not sent) ; image ``detail`` ->
  ``mediaResolution`` (one value per request).
* ``reasoning`` -> ``thinkingConfig``: ``budget_tokens`` -> ``thinkingBudget`` (it wins
  over ``effort``: Gemini refuses both at once); ``effort`` -> ``thinkingLevel``, or for
  Gemini 1.x/2.x models (budget only) the budget Google's OpenAI-compatible endpoint
  uses; ``include_thoughts`` -> ``includeThoughts``.
* ``metadata`` and ``user`` are caller bookkeeping with no Gemini field; they do not
  change the answer, so they are not sent (see ``engine.canonical``).
* Refused (``UnsupportedFeature``): ``parallel_tool_calls=false``, redacted thinking,
  remote image URLs, extras from another format, and ``generationConfig.candidateCount``
  > 1 (a canonical response holds one candidate).
* Gemini extras are applied per ``extras``; then the channel's ``params`` override:
  ``safetySettings``, ``cachedContent``, ``toolConfig`` and ``labels`` at the top level,
  every other key into ``generationConfig`` (objects merged key by key).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.canonical import (
    ChatRequest,
    ImagePart,
    Message,
    Refusal,
    Thinking,
    ToolCall,
    ToolResult,
)
from engine.errors import BadRequest, UnsupportedFeature
from providers import system_turns
from providers.gemini import extras as ex
from providers.gemini import media
from providers.gemini.part_encoder import encode_parts
from providers.gemini.wire import (
    BUDGET_FOR_LEVEL,
    FORMAT,
    LEVEL_TO_WIRE,
    takes_thinking_budget,
)

_TOP_LEVEL_PARAMS = frozenset({"safetySettings", "cachedContent", "toolConfig", "labels"})


def encode_request(request: ChatRequest, upstream_model: str, params: Mapping[str, Any]) -> dict[str, Any]:
    _refuse_unsupported(request)
    leading, messages = system_turns.leading(request.messages)
    body: dict[str, Any] = {"contents": _contents(messages)}
    system = [*request.system, *leading]
    if system:
        body["systemInstruction"] = {"parts": [{"text": p.text} for p in system]}
    if request.tools:
        body["tools"] = [
            {"functionDeclarations": [_declaration(t.name, t.description, t.parameters) for t in request.tools]}
        ]
    tool_config = _tool_config(request)
    if tool_config:
        body["toolConfig"] = tool_config
    generation = _generation(request, upstream_model)
    if generation:
        body["generationConfig"] = generation
    if request.extras:
        ex.apply(body, request.extras)
    _apply_params(body, params)
    return body


def _refuse_unsupported(request: ChatRequest) -> None:
    refused: list[str] = []
    if request.parallel_tool_calls is False:
        refused.append("parallel_tool_calls=false")
    if request.extras and request.extras_format != FORMAT:
        refused.extend(request.extras)
    count = request.extras.get(ex.GENERATION + "candidateCount") if request.extras_format == FORMAT else None
    if count not in (None, 1):
        refused.append(ex.GENERATION + "candidateCount")
    if refused:
        raise UnsupportedFeature(refused, FORMAT)


def _contents(messages: list[Message]) -> list[dict[str, Any]]:
    names = {p.id: p.name for m in messages for p in m.parts if isinstance(p, ToolCall)}
    contents: list[dict[str, Any]] = []
    for i, message in enumerate(system_turns.after_tool_results(messages)):
        if message.role == "system":
            message = Message("user", [system_turns.marked(message)])
        _check_roles(message, i)
        role = "model" if message.role == "assistant" else "user"
        parts = encode_parts(message.parts, "request", names)
        if not parts:
            continue
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    if not contents:
        raise BadRequest("the request has no message content", param="messages")
    return contents


def _check_roles(message: Message, index: int) -> None:
    for part in message.parts:
        if message.role == "assistant":
            ok = not isinstance(part, ToolResult)
        else:
            ok = not isinstance(part, (ToolCall, Thinking, Refusal))
        if not ok:
            raise BadRequest(
                f"messages[{index}]: a {message.role} message cannot hold a {type(part).__name__}",
                param=f"messages[{index}]",
            )


def _declaration(name: str, description: str | None, parameters: dict[str, Any]) -> dict[str, Any]:
    decl: dict[str, Any] = {"name": name}
    if description:
        decl["description"] = description
    # ``$schema`` names the dialect and constrains nothing; Gemini refuses the keyword
    # (Claude Code's and zod-built tool schemas carry it)
    decl["parametersJsonSchema"] = {k: v for k, v in parameters.items() if k != "$schema"}
    return decl


def _tool_config(request: ChatRequest) -> dict[str, Any]:
    choice = request.tool_choice
    if not request.tools:
        if choice is not None and choice.mode in ("required", "tool"):
            raise BadRequest(f"tool_choice {choice.mode!r} needs tools", param="tool_choice")
        return {}
    strict = any(t.strict for t in request.tools)
    if choice is None or choice.mode == "auto":
        return {"functionCallingConfig": {"mode": "VALIDATED"}} if strict else {}
    if choice.mode == "none":
        return {"functionCallingConfig": {"mode": "NONE"}}
    if choice.mode == "required":
        return {"functionCallingConfig": {"mode": "ANY"}}
    if not choice.name or all(t.name != choice.name for t in request.tools):
        raise BadRequest(f"tool_choice names an unknown tool {choice.name!r}", param="tool_choice")
    return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [choice.name]}}


def _generation(request: ChatRequest, upstream_model: str) -> dict[str, Any]:
    gen: dict[str, Any] = {}
    if request.max_tokens is not None:
        gen["maxOutputTokens"] = request.max_tokens
    if request.temperature is not None:
        gen["temperature"] = request.temperature
    if request.top_p is not None:
        gen["topP"] = request.top_p
    if request.stop:
        gen["stopSequences"] = list(request.stop)
    fmt = request.response_format
    if fmt is not None:
        gen["responseMimeType"] = "text/plain" if fmt.kind == "text" else "application/json"
        if fmt.kind == "json_schema":
            if fmt.schema is None:
                raise BadRequest("response_format json_schema needs a schema", param="response_format")
            gen["responseJsonSchema"] = fmt.schema
    thinking = _thinking(request, upstream_model)
    if thinking:
        gen["thinkingConfig"] = thinking
    resolution = _media_resolution(request.messages)
    if resolution:
        gen["mediaResolution"] = resolution
    return gen


def _thinking(request: ChatRequest, upstream_model: str) -> dict[str, Any]:
    reasoning = request.reasoning
    if reasoning is None:
        return {}
    out: dict[str, Any] = {}
    if reasoning.budget_tokens is not None:
        out["thinkingBudget"] = reasoning.budget_tokens
    elif reasoning.effort is not None:
        if takes_thinking_budget(upstream_model):
            out["thinkingBudget"] = BUDGET_FOR_LEVEL[reasoning.effort]
        else:
            out["thinkingLevel"] = LEVEL_TO_WIRE[reasoning.effort]
    if reasoning.include_thoughts is not None:
        out["includeThoughts"] = reasoning.include_thoughts
    return out


def _media_resolution(messages: list[Message]) -> str | None:
    details: set[str] = set()
    for message in messages:
        for part in message.parts:
            images = part.content if isinstance(part, ToolResult) else [part]
            for item in images:
                if isinstance(item, ImagePart) and item.detail not in (None, "auto"):
                    details.add(item.detail)
    if not details:
        return None
    if len(details) > 1:
        raise UnsupportedFeature(["image detail (different per image)"], FORMAT)
    detail = details.pop()
    level = media.LEVEL_FOR_DETAIL.get(detail)
    if level is None or detail == "ultra_high":
        raise UnsupportedFeature([f"image detail {detail!r}"], FORMAT)
    return level


def _apply_params(body: dict[str, Any], params: Mapping[str, Any]) -> None:
    for key, value in params.items():
        target = body if key in _TOP_LEVEL_PARAMS else body.setdefault("generationConfig", {})
        _override(target, key, value)


def _override(target: dict[str, Any], key: str, value: Any) -> None:
    current = target.get(key)
    if isinstance(current, dict) and isinstance(value, dict):
        for k, v in value.items():
            _override(current, k, v)
    else:
        target[key] = value
