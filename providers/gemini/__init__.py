"""The Gemini ``generateContent`` wire format (v1beta REST JSON), both directions.

``GeminiCodec`` (``codec``) serves Gemini clients; ``GeminiAdapter`` (``adapter``) calls
Gemini upstreams; ``models_list`` renders ``GET /v1beta/models`` and ``countTokens``.
The modules between them each translate one thing: ``request_decoding`` /
``request_encoding``, ``response_decoding`` / ``response_encoding``,
``stream_decoding`` / ``stream_encoding``, ``part_decoding`` / ``part_encoding``,
``error_classify`` / ``error_body``, with ``call_ids`` (tool-call ids and thought
signatures), ``extras``, ``media``, ``schema``, ``usage``, ``partial_args``, ``wire``
(vocabulary) and ``fields`` (typed JSON reading).
"""

from providers.gemini.adapter import GeminiAdapter
from providers.gemini.codec import GeminiCodec

__all__ = ["GeminiAdapter", "GeminiCodec"]
