"""The OpenAI chat-completions wire format, both as a client format and as an upstream.

* ``OpenAIChatCodec`` (``chat_codec``): the "openai" ``ClientCodec``.
* ``OpenAIChatAdapter`` (``chat_adapter``): the "openai" ``UpstreamAdapter``.
* ``passthrough``: same-format forwarding with only ``model`` rewritten (the fast path).
"""

from providers.openai.chat_adapter import OpenAIChatAdapter
from providers.openai.chat_codec import OpenAIChatCodec

__all__ = ["OpenAIChatAdapter", "OpenAIChatCodec"]
