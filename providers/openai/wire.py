"""Typed shapes of the OpenAI chat-completions JSON we emit, and the finish-reason tables.

Only what Turnout writes is typed here; what it reads from clients and upstreams is
checked field by field where it is read (``fields`` for client input, lenient reads for
upstream output, which is the vendor's to get right).
"""

from __future__ import annotations

from typing import Literal, TypedDict

from engine.canonical import StopReason

FORMAT = "openai"  # chat completions, and every OpenAI-compatible vendor


class WireFunction(TypedDict):
    name: str
    arguments: str


class WireToolCall(TypedDict):
    id: str
    type: Literal["function"]
    function: WireFunction


class WireMessage(TypedDict, total=False):
    role: Literal["assistant"]
    content: str | None
    refusal: str | None
    tool_calls: list[WireToolCall]
    reasoning_content: str  # DeepSeek's convention for visible reasoning


class WireChoice(TypedDict):
    index: int
    message: WireMessage
    logprobs: None
    finish_reason: str


class WirePromptDetails(TypedDict):
    cached_tokens: int


class WireCompletionDetails(TypedDict):
    reasoning_tokens: int


class WireUsage(TypedDict):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: WirePromptDetails
    completion_tokens_details: WireCompletionDetails


class WireCompletion(TypedDict):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[WireChoice]
    usage: WireUsage


class WireError(TypedDict):
    message: str
    type: str
    param: str | None
    code: str | None


class WireErrorEnvelope(TypedDict):
    error: WireError


# canonical -> OpenAI; "refusal" is decided by ``finish_reason`` below.
_FINISH_REASON: dict[StopReason, str] = {
    "end": "stop",
    "length": "length",
    "tool_use": "tool_calls",
    "stop_sequence": "stop",
    "content_filter": "content_filter",
}


def finish_reason(stop: StopReason, *, has_refusal_text: bool) -> str:
    """A refusal with refusal text ends with "stop", as OpenAI's own do (the text is in
    ``message.refusal``); one without (e.g. Anthropic's classifier stopping the answer)
    reads as "content_filter"."""
    if stop == "refusal":
        return "stop" if has_refusal_text else "content_filter"
    return _FINISH_REASON[stop]


# OpenAI (and OpenAI-compatible servers) -> canonical. Anything else reads as "end".
STOP_REASON: dict[str, StopReason] = {
    "stop": "end",
    "length": "length",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "content_filter",
}
