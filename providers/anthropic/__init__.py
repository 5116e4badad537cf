"""Anthropic Messages API, both directions: ``AnthropicCodec`` (clients speaking
``/v1/messages``) and ``AnthropicAdapter`` (Anthropic as an upstream)."""

from providers.anthropic.adapter import AnthropicAdapter
from providers.anthropic.codec import AnthropicCodec

__all__ = ["AnthropicAdapter", "AnthropicCodec"]
