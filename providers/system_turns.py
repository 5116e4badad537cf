"""Positioned ``system`` messages on formats that place system text differently.

A canonical ``Message("system", ...)`` is a system instruction at its place in the
conversation (Anthropic mid-conversation system turns). OpenAI chat and Responses have
a system message at any position; Anthropic (for every model but one) and Gemini have
only a system prompt ahead of the conversation. The rules all encoders share:

* ``leading``: system messages before the first other message are part of the system
  prompt (they precede everything, so nothing moves).
* ``after_tool_results``: a system message between an assistant turn's tool calls and
  the results answering them moves to just after those results (every format wants the
  results right after the calls).
* ``marked``: where a later system message has no place of its own, it travels as user
  text at its position, wrapped in ``<system>`` ... ``</system>`` so the model can tell it
  from what the user wrote.
"""

from __future__ import annotations

from engine.canonical import Message, TextPart, ToolCall, ToolResult

OPEN_MARK = "<system>\n"
CLOSE_MARK = "\n</system>"


def leading(messages: list[Message]) -> tuple[list[TextPart], list[Message]]:
    """The text of the system messages opening the conversation, and the messages after them."""
    parts: list[TextPart] = []
    for i, message in enumerate(messages):
        if message.role != "system":
            return parts, messages[i:]
        parts.extend(text_parts(message))
    return parts, []


def text_parts(message: Message) -> list[TextPart]:
    return [part for part in message.parts if isinstance(part, TextPart)]


def marked(message: Message) -> TextPart:
    """A system message as one user-visible text part, marked as system text; the cache
    hint of its last part is kept."""
    parts = text_parts(message)
    text = "\n\n".join(part.text for part in parts)
    return TextPart(OPEN_MARK + text + CLOSE_MARK, cache=parts[-1].cache if parts else None)


def after_tool_results(messages: list[Message]) -> list[Message]:
    """``messages`` with each system message that interrupts a tool call and its results
    moved to just after the results (a new list; the messages themselves are shared)."""
    out: list[Message] = []
    held: list[Message] = []
    pending: set[str] = set()
    for message in messages:
        if message.role == "system" and pending:
            held.append(message)
            continue
        if message.role == "tool":
            out.append(message)
            pending -= {part.call_id for part in message.parts if isinstance(part, ToolResult)}
            if not pending:
                out.extend(held)
                held.clear()
            continue
        out.extend(held)
        held.clear()
        pending = (
            {part.id for part in message.parts if isinstance(part, ToolCall)} if message.role == "assistant" else set()
        )
        out.append(message)
    out.extend(held)
    return out
