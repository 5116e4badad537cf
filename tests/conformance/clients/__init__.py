"""Client drivers, one per client format: the official SDK pointed at the gateway."""

from __future__ import annotations

from typing import Protocol

from tests.conformance.clients.anthropic import AnthropicDriver
from tests.conformance.clients.base import Driver

__all__ = ["ClosableDriver", "all_drivers"]
from tests.conformance.clients.gemini import GeminiDriver
from tests.conformance.clients.openai_chat import OpenAIChatDriver
from tests.conformance.clients.openai_responses import OpenAIResponsesDriver


class ClosableDriver(Driver, Protocol):
    def close(self) -> None: ...


def all_drivers(base_url: str) -> dict[str, ClosableDriver]:
    """Client format -> its driver, every SDK pointed at the gateway at ``base_url``."""
    drivers: list[ClosableDriver] = [
        OpenAIChatDriver(base_url),
        OpenAIResponsesDriver(base_url),
        AnthropicDriver(base_url),
        GeminiDriver(base_url),
    ]
    return {d.format: d for d in drivers}
