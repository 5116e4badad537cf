"""The providers registry: the one place the engine finds a wire format's codec, adapter or
same-format passthrough.

Formats: ``openai`` (chat completions, and every OpenAI-compatible vendor),
``openai-responses``, ``anthropic``, ``gemini``. Built once at startup and passed around;
codecs and adapters are stateless (per-request state lives in their stream objects).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.canonical import ChatRequest
from providers.anthropic.adapter import AnthropicAdapter
from providers.anthropic.codec import AnthropicCodec
from providers.anthropic.count_tokens import decode_count_tokens_request
from providers.anthropic.count_tokens import encode_count_tokens as encode_anthropic_count
from providers.anthropic.passthrough import AnthropicPassthrough
from providers.base import ClientCodec, Passthrough, UpstreamAdapter
from providers.gemini.adapter import GeminiAdapter
from providers.gemini.codec import GeminiCodec
from providers.gemini.models_list import encode_count_tokens as encode_gemini_count
from providers.gemini.passthrough import GeminiPassthrough
from providers.openai.chat_adapter import OpenAIChatAdapter
from providers.openai.chat_codec import OpenAIChatCodec
from providers.openai.passthrough import OpenAIChatPassthrough
from providers.openai_responses.adapter import ResponsesAdapter
from providers.openai_responses.codec import ResponsesCodec
from providers.openai_responses.passthrough import ResponsesPassthrough

FORMATS = ("openai", "openai-responses", "anthropic", "gemini")
INLINE_IMAGES_ONLY = frozenset({"gemini"})  # upstream formats that cannot fetch image URLs themselves


@dataclass(frozen=True, slots=True)
class Registry:
    codecs: Mapping[str, ClientCodec]
    adapters: Mapping[str, UpstreamAdapter]
    passthroughs: Mapping[str, Passthrough]

    def codec(self, fmt: str) -> ClientCodec:
        return self.codecs[fmt]

    def adapter(self, fmt: str) -> UpstreamAdapter:
        return self.adapters[fmt]

    def passthrough(self, fmt: str) -> Passthrough | None:
        """How a ``fmt`` client's body is forwarded to a ``fmt`` upstream untranslated."""
        return self.passthroughs.get(fmt)

    def decode_count_request(self, fmt: str, body: Any, model: str | None) -> ChatRequest:
        """A token-count request body (Anthropic ``count_tokens``, Gemini ``countTokens``)."""
        if fmt == "anthropic":
            return decode_count_tokens_request(body)
        inner = body.get("generateContentRequest", body) if isinstance(body, dict) else body
        return self.codecs[fmt].decode_request(inner, model=model, stream=False)

    def encode_count(self, fmt: str, tokens: int) -> bytes:
        return encode_gemini_count(tokens) if fmt == "gemini" else encode_anthropic_count(tokens)


def build_registry() -> Registry:
    return Registry(
        codecs={
            "openai": OpenAIChatCodec(),
            "openai-responses": ResponsesCodec(),
            "anthropic": AnthropicCodec(),
            "gemini": GeminiCodec(),
        },
        adapters={
            "openai": OpenAIChatAdapter(),
            "openai-responses": ResponsesAdapter(),
            "anthropic": AnthropicAdapter(),
            "gemini": GeminiAdapter(),
        },
        passthroughs={
            "openai": OpenAIChatPassthrough(),
            "openai-responses": ResponsesPassthrough(),
            "anthropic": AnthropicPassthrough(),
            "gemini": GeminiPassthrough(),
        },
    )
