"""What the ``demo-echo`` model answers, computed from an OpenAI chat body (pure).

* last message from a tool: ``"tool result: <content>"``;
* last message from the user, with tools offered (and ``tool_choice`` not "none"): a call to
  the first tool (or the one ``tool_choice`` names) with ``{"input": "<user text>"}``;
* last message from the assistant (a prefill): the rest of ``"echo: <last user text>"``
  after that partial answer;
* otherwise ``"echo: <last user text>"``, cut to ``max_completion_tokens`` / ``max_tokens``
  (finish reason "length") when that is smaller.

Token counts are ``ceil(chars / 4)``: the prompt over all message text, the completion over
the output text (or the tool call's arguments), the same streamed or not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class EchoAnswer:
    text: str | None  # None when the answer is a tool call
    tool_name: str | None
    tool_arguments: str | None
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


def echo_answer(body: dict[str, Any]) -> EchoAnswer:
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    prompt_tokens = tokens(sum(len(message_text(m)) for m in messages))
    last = messages[-1] if messages else {}
    if last.get("role") == "tool":
        return _text(f"tool result: {message_text(last)}", body, prompt_tokens)
    if last.get("role") == "assistant":  # a prefill: continue the partial answer
        prefill = message_text(last)
        user_text = next((message_text(m) for m in reversed(messages) if m.get("role") == "user"), "")
        full = f"echo: {user_text}"
        return _text(full[len(prefill) :] if full.startswith(prefill) else full, body, prompt_tokens)
    user_text = next((message_text(m) for m in reversed(messages) if m.get("role") == "user"), "")
    tool = _chosen_tool(body) if last.get("role") == "user" else None
    if tool is not None:
        arguments = orjson.dumps({"input": user_text}).decode()
        return EchoAnswer(None, tool, arguments, "tool_calls", prompt_tokens, tokens(len(arguments)))
    return _text(f"echo: {user_text}", body, prompt_tokens)


def message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def tokens(chars: int) -> int:
    return -(-chars // 4)


def _chosen_tool(body: dict[str, Any]) -> str | None:
    tools = [t for t in body.get("tools") or [] if isinstance(t, dict) and isinstance(t.get("function"), dict)]
    choice = body.get("tool_choice")
    if not tools or choice == "none":
        return None
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        named = choice["function"].get("name")
        if isinstance(named, str):
            return named
    name = tools[0]["function"].get("name")
    return name if isinstance(name, str) else None


def _text(text: str, body: dict[str, Any], prompt_tokens: int) -> EchoAnswer:
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    finish = "stop"
    if isinstance(limit, int) and not isinstance(limit, bool) and limit >= 0 and tokens(len(text)) > limit:
        text, finish = text[: limit * 4], "length"
    return EchoAnswer(text, None, None, finish, prompt_tokens, tokens(len(text)))
