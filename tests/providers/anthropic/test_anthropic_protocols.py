"""The codec and adapter satisfy the provider protocols (checked by mypy) under their format name."""

from __future__ import annotations

from providers.anthropic import AnthropicAdapter, AnthropicCodec
from providers.base import ClientCodec, UpstreamAdapter


def test_codec_and_adapter_are_the_anthropic_format() -> None:
    codec: ClientCodec = AnthropicCodec()
    adapter: UpstreamAdapter = AnthropicAdapter()
    assert (codec.format, adapter.format) == ("anthropic", "anthropic")
