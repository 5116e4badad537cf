"""The OpenAI chat-completions wire format, both as a client format and as an upstream.

* ``OpenAIChatCodec`` (``codec``): the "openai" ``ClientCodec``.
* ``OpenAIChatAdapter`` (``adapter``): the "openai" ``UpstreamAdapter``.
* ``passthrough``: same-format forwarding with only ``model`` rewritten (the fast path).
"""

from providers.openai.adapter import OpenAIChatAdapter
from providers.openai.codec import OpenAIChatCodec

__all__ = ["OpenAIChatAdapter", "OpenAIChatCodec"]
