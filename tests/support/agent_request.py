"""One request the agent upstream received, with format-neutral accessors for assertions.

The record holds what arrived (time, format, endpoint kind, method, path, query, lower-cased
headers, the parsed JSON body, whether it asked for a stream) and, once answered, what the fake
did (``answered``, ``reply_text``, ``called_tool``, ``status``). The conversation accessors
(``tool_names``, ``roles``, ``tool_results``, ``system_text``, ``tool_calls``, ``user_texts``)
read the body through ``tests.support.agent_conversation`` whatever its wire format.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Literal

from tests.support.agent_conversation import EMPTY, Conversation, Format, Item

Kind = Literal["generate", "count_tokens", "probe", "models", "unknown"]


@dataclass
class AgentRequest:
    index: int  # 0-based position among every request the server received
    received_at: float  # time.monotonic() when it arrived
    format: Format | None  # None for probes and unknown paths
    kind: Kind
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: Any  # the parsed JSON body; None when empty or not JSON
    model: str | None  # from the body, or from the path for Gemini
    stream: bool = False
    conversation: Conversation = EMPTY
    answered: str = ""  # "tool-call" | "answer" | "side" | "no-such-tool" | "count" | "probe" | "models" | "error"
    reply_text: str = ""  # the text answered (the count for count-tokens), "" for a tool call
    called_tool: str | None = None  # the declared tool name the answer called
    call_arguments: str | None = None  # the call's arguments (JSON text, or a custom tool's input)
    status: int | None = None
    done: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)

    @property
    def tool_names(self) -> list[str]:
        """The names of the tools the request declares, in order."""
        return self.conversation.tool_names

    @property
    def roles(self) -> list[str]:
        """The kinds of the conversation items in order: system, developer, user, assistant,
        tool-call, tool-result (see ``tests.support.agent_conversation``)."""
        return self.conversation.roles

    @property
    def tool_results(self) -> list[str]:
        """The texts of the tool results in the conversation, in order."""
        return self.conversation.tool_results

    @property
    def tool_calls(self) -> list[Item]:
        """The tool calls in the conversation (name, call id, arguments as sent)."""
        return self.conversation.tool_calls

    @property
    def system_text(self) -> str:
        return self.conversation.system_text

    @property
    def user_texts(self) -> list[str]:
        return [i.text for i in self.conversation.items if i.kind == "user"]

    @property
    def items(self) -> tuple[Item, ...]:
        return self.conversation.items

    @property
    def has_tool_result(self) -> bool:
        return any(i.kind == "tool-result" for i in self.conversation.items)
