"""The providers registry: the one place the engine finds a wire format's codec, adapter or
same-format passthrough, and the optional capabilities a format has.

Formats: ``openai`` (chat completions, and every OpenAI-compatible vendor),
``openai-responses``, ``anthropic``, ``gemini``. Built once at startup and passed around;
codecs and adapters are stateless (per-request state lives in their stream objects).
Optional capabilities are small protocols found by type, never by format name:
``TokenCounting`` and ``StreamReframing`` on a codec; ``inline_images_only`` on an adapter;
``EmbeddingsUpstream`` and ``ImagesUpstream`` for the formats whose upstreams serve them
(``openai`` and ``gemini``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from providers.anthropic.adapter import AnthropicAdapter
from providers.anthropic.codec import AnthropicCodec
from providers.anthropic.passthrough import AnthropicPassthrough
from providers.base import (
    ClientCodec,
    EmbeddingsUpstream,
    ImagesUpstream,
    Passthrough,
    StreamReframing,
    TokenCounting,
    UpstreamAdapter,
)
from providers.gemini.adapter import GeminiAdapter
from providers.gemini.codec import GeminiCodec
from providers.gemini.embeddings import GeminiEmbeddings
from providers.gemini.images import GeminiImages
from providers.gemini.passthrough import GeminiPassthrough
from providers.openai.adapter import OpenAIChatAdapter
from providers.openai.codec import OpenAIChatCodec
from providers.openai.embeddings import OpenAIEmbeddings
from providers.openai.images import OpenAIImages
from providers.openai.passthrough import OpenAIChatPassthrough
from providers.openai_responses.adapter import ResponsesAdapter
from providers.openai_responses.codec import ResponsesCodec
from providers.openai_responses.passthrough import ResponsesPassthrough

FORMATS = ("openai", "openai-responses", "anthropic", "gemini")


@dataclass(frozen=True, slots=True)
class Registry:
    codecs: Mapping[str, ClientCodec]
    adapters: Mapping[str, UpstreamAdapter]
    passthroughs: Mapping[str, Passthrough]
    token_counters: Mapping[str, TokenCounting]
    reframings: Mapping[str, StreamReframing]
    embeddings: Mapping[str, EmbeddingsUpstream] = field(default_factory=dict)
    images: Mapping[str, ImagesUpstream] = field(default_factory=dict)

    def codec(self, fmt: str) -> ClientCodec:
        return self.codecs[fmt]

    def adapter(self, fmt: str) -> UpstreamAdapter:
        return self.adapters[fmt]

    def passthrough(self, fmt: str) -> Passthrough | None:
        """How a ``fmt`` client's body is forwarded to a ``fmt`` upstream untranslated."""
        return self.passthroughs.get(fmt)

    def token_counter(self, fmt: str) -> TokenCounting | None:
        """The codec's token-counting endpoint, for the formats that have one."""
        return self.token_counters.get(fmt)

    def stream_reframing(self, fmt: str) -> StreamReframing | None:
        """The codec's other stream framing, for the formats that have one."""
        return self.reframings.get(fmt)

    def embeddings_upstream(self, fmt: str) -> EmbeddingsUpstream | None:
        """How a ``fmt`` upstream is asked for embeddings, for the formats that serve them."""
        return self.embeddings.get(fmt)

    def images_upstream(self, fmt: str) -> ImagesUpstream | None:
        """How a ``fmt`` upstream is asked for images, for the formats that serve them."""
        return self.images.get(fmt)


def build_registry() -> Registry:
    anthropic, gemini = AnthropicCodec(), GeminiCodec()
    return Registry(
        codecs={
            "openai": OpenAIChatCodec(),
            "openai-responses": ResponsesCodec(),
            "anthropic": anthropic,
            "gemini": gemini,
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
        token_counters={"anthropic": anthropic, "gemini": gemini},
        reframings={"gemini": gemini},
        embeddings={"openai": OpenAIEmbeddings(), "gemini": GeminiEmbeddings()},
        images={"openai": OpenAIImages(), "gemini": GeminiImages()},
    )
