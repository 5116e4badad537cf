"""A client's ``GenerateContentRequest`` (parsed JSON) -> canonical ``ChatRequest``.

* ``contents``: role ``user`` (or absent, or legacy ``function``) -> ``user`` messages,
  runs of ``functionResponse`` parts -> ``tool`` messages; ``model`` -> ``assistant``.
  Parts per ``part_decoder`` ; function calls get ids per ``call_ids``.
* ``systemInstruction`` -> ``system`` (text parts only).
* ``tools[].functionDeclarations`` -> ``Tool`` (``parametersJsonSchema`` as is,
  ``parameters`` converted per ``schema``; no parameters -> an empty object schema);
  other tool kinds -> extras.
* ``toolConfig.functionCallingConfig``: ``AUTO`` -> auto, ``NONE`` -> none, ``ANY`` ->
  required, ``ANY`` with one allowed name -> that tool; anything else (``VALIDATED``,
  several allowed names) goes to extras whole.
* ``generationConfig``: ``maxOutputTokens``, ``temperature``, ``topP``,
  ``stopSequences``; ``responseMimeType`` ``application/json`` (+ ``responseSchema`` /
  ``responseJsonSchema``) -> ``ResponseFormat`` json_object / json_schema, ``text/plain``
  -> text; ``thinkingConfig`` -> ``Reasoning`` (``thinkingBudget`` -1 = dynamic ->
  no budget, 0 = thinking off -> ``budget_tokens=0``; ``thinkingLevel`` -> effort).
  ``candidateCount`` 1 is the default and needs nothing; every other field -> extras.
* ``safetySettings``, ``cachedContent`` and unknown top-level fields -> extras (see
  ``extras``). Streams always carry usage, so ``include_usage`` is true.
"""

from __future__ import annotations

from typing import Any

from engine.canonical import (
    ChatRequest,
    Message,
    Part,
    Reasoning,
    ResponseFormat,
    Role,
    TextPart,
    Tool,
    ToolChoice,
    ToolResult,
)
from providers.gemini import extras as ex
from providers.gemini.fields import JsonObject, bad_request
from providers.gemini.part_decoder import (
    CallLedger,
    decode_content_parts,
    refuse_unread,
)
from providers.gemini.schema import to_json_schema
from providers.gemini.wire import FORMAT, LEVEL_FROM_WIRE
from providers.output_cap import output_cap

_EMPTY_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}


def decode_request(body: Any, *, model: str | None, stream: bool | None) -> ChatRequest:
    req = JsonObject.of(body, "", bad_request)
    body_model = req.string("model")
    name = model or body_model
    if not name:
        raise bad_request("model", "required (in the URL path)")
    extras: dict[str, Any] = {}
    out = ChatRequest(
        model=name.removeprefix("models/"),
        messages=_messages(req),
        system=_system(req),
        stream=bool(stream),
        include_usage=True,
    )
    out.tools = _tools(req, extras)
    out.tool_choice = _tool_choice(req, extras)
    gen = req.obj("generationConfig")
    if gen is not None:
        _generation(gen, out, extras)
    for key, value in req.unread().items():
        extras[key] = value
    if extras:
        out.extras = extras
        out.extras_format = FORMAT
    return out


def _messages(req: JsonObject) -> list[Message]:
    ledger = CallLedger()
    messages: list[Message] = []
    contents = req.objects("contents")
    if not contents:
        raise req.error("contents", "required (at least one content)")
    for content in contents:
        role = content.string("role") or "user"
        if role not in ("user", "model", "function"):
            raise content.error("role", f"must be 'user' or 'model', got {role!r}")
        parts = decode_content_parts(content, ledger, requests=True)
        refuse_unread(content)
        if role == "model":
            messages.append(Message("assistant", parts))
        else:
            messages.extend(_user_runs(parts))
    return messages


def _user_runs(parts: list[Part]) -> list[Message]:
    """Split a user turn into runs: tool results -> ``tool``, the rest -> ``user``."""
    out: list[Message] = []
    for part in parts:
        role: Role = "tool" if isinstance(part, ToolResult) else "user"
        if out and out[-1].role == role:
            out[-1].parts.append(part)
        else:
            out.append(Message(role, [part]))
    return out


def _system(req: JsonObject) -> list[TextPart]:
    content = req.obj("systemInstruction")
    if content is None:
        return []
    out: list[TextPart] = []
    for part in content.objects("parts"):
        text = part.string("text")
        if text is None or len(part.data) != 1:
            raise part.fail(part.path, "systemInstruction parts must be text")
        out.append(TextPart(text))
    return out


def _tools(req: JsonObject, extras: dict[str, Any]) -> list[Tool]:
    tools: list[Tool] = []
    for entry in req.objects("tools"):
        for decl in entry.objects("functionDeclarations"):
            name = decl.require_string("name")
            if any(t.name == name for t in tools):
                raise decl.error("name", f"duplicate function name {name!r}")
            json_schema = decl.dict_value("parametersJsonSchema")
            openapi = decl.dict_value("parameters")
            if json_schema is not None and openapi is not None:
                raise decl.error("parameters", "give parameters or parametersJsonSchema, not both")
            if json_schema is not None:
                params = json_schema
            elif openapi is not None:
                params = to_json_schema(openapi)
            else:
                params = dict(_EMPTY_PARAMETERS)
            tools.append(Tool(name, decl.string("description"), params))
            rest = decl.unread()
            if rest:
                extras[ex.DECLARATIONS + name] = rest
        for kind, value in entry.unread().items():
            key = ex.TOOLS + kind
            if key in extras:
                raise entry.error(kind, "the same tool kind is given twice")
            extras[key] = value
    return tools


def _tool_choice(req: JsonObject, extras: dict[str, Any]) -> ToolChoice | None:
    config = req.obj("toolConfig")
    if config is None:
        return None
    choice: ToolChoice | None = None
    calling = config.obj("functionCallingConfig")
    if calling is not None:
        mode = calling.string("mode") or "AUTO"
        names = calling.strings("allowedFunctionNames")
        if not calling.unread():  # with fields this gateway does not know, it is Gemini-only
            choice = _choice(mode, names)
        if choice is None:
            extras[ex.TOOL_CONFIG + "functionCallingConfig"] = calling.data
    for key, value in config.unread().items():
        extras[ex.TOOL_CONFIG + key] = value
    return choice


def _choice(mode: str, names: list[str]) -> ToolChoice | None:
    if mode == "AUTO" and not names:
        return ToolChoice("auto")
    if mode == "NONE" and not names:
        return ToolChoice("none")
    if mode == "ANY" and not names:
        return ToolChoice("required")
    if mode == "ANY" and len(names) == 1:
        return ToolChoice("tool", names[0])
    return None  # VALIDATED, several allowed names...: no canonical equivalent


def _generation(gen: JsonObject, out: ChatRequest, extras: dict[str, Any]) -> None:
    out.max_tokens = output_cap(gen.value("maxOutputTokens"), gen.at("maxOutputTokens"))
    out.temperature = gen.number("temperature")
    out.top_p = gen.number("topP")
    out.stop = gen.strings("stopSequences")
    count = gen.integer("candidateCount")
    if count is not None and count != 1:
        extras[ex.GENERATION + "candidateCount"] = count
    _response_format(gen, out, extras)
    thinking = gen.obj("thinkingConfig")
    if thinking is not None:
        out.reasoning = _reasoning(thinking)
        rest = thinking.unread()
        if rest:
            extras[ex.GENERATION + "thinkingConfig"] = rest
    for key, value in gen.unread().items():
        extras[ex.GENERATION + key] = value


def _response_format(gen: JsonObject, out: ChatRequest, extras: dict[str, Any]) -> None:
    mime = gen.string("responseMimeType")
    openapi = gen.dict_value("responseSchema")
    json_schema = gen.dict_value("responseJsonSchema")
    legacy = gen.dict_value("_responseJsonSchema")  # the proto's json_name for the unordered field
    if legacy is not None:
        if json_schema is not None:
            raise gen.error("_responseJsonSchema", "given together with responseJsonSchema")
        json_schema = legacy
    if mime is None and openapi is None and json_schema is None:
        return
    if openapi is not None and json_schema is not None:
        raise gen.error("responseSchema", "give responseSchema or responseJsonSchema, not both")
    schema = json_schema if json_schema is not None else (None if openapi is None else to_json_schema(openapi))
    if mime == "application/json":
        out.response_format = (
            ResponseFormat("json_object") if schema is None else ResponseFormat("json_schema", schema=schema)
        )
    elif mime in (None, "", "text/plain") and schema is None:
        if mime:
            out.response_format = ResponseFormat("text")
    elif mime in (None, ""):
        raise gen.error("responseSchema", "needs responseMimeType application/json")
    else:  # text/x.enum and other MIME types: Gemini-only
        extras[ex.GENERATION + "responseMimeType"] = mime
        if openapi is not None:
            extras[ex.GENERATION + "responseSchema"] = openapi
        if json_schema is not None:
            extras[ex.GENERATION + "responseJsonSchema"] = json_schema


def _reasoning(thinking: JsonObject) -> Reasoning:
    budget = thinking.integer("thinkingBudget")
    if budget is not None and budget < -1:
        raise thinking.error("thinkingBudget", "must be -1 (dynamic), 0 (off) or a positive token count")
    level = thinking.string("thinkingLevel")
    effort = None
    if level is not None and level != "THINKING_LEVEL_UNSPECIFIED":
        effort = LEVEL_FROM_WIRE.get(level.upper())
        if effort is None:
            raise thinking.error("thinkingLevel", f"unsupported level {level!r} (MINIMAL, LOW, MEDIUM or HIGH)")
    return Reasoning(
        effort=effort,
        budget_tokens=None if budget == -1 else budget,
        include_thoughts=thinking.boolean("includeThoughts"),
    )
