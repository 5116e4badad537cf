"""The Gemini ``generateContent`` wire format (v1beta REST JSON), both directions.

``GeminiCodec`` (``codec``) serves Gemini clients; ``GeminiAdapter`` (``adapter``) calls
Gemini upstreams; ``models_list`` renders ``GET /v1beta/models`` and ``countTokens``.
The modules between them each translate one thing: ``request_decoder`` /
``request_encoder``, ``response_decoder`` / ``response_encoder``,
``stream_decoder`` / ``stream_encoder``, ``part_decoder`` / ``part_encoder``,
``error_classifier`` / ``error_body``, with ``call_ids`` (tool-call ids and thought
signatures), ``extras``, ``media``, ``schema``, ``usage``, ``partial_args``, ``wire``
(vocabulary) and ``fields`` (typed JSON reading).
"""

from providers.gemini.adapter import GeminiAdapter
from providers.gemini.codec import GeminiCodec

__all__ = ["GeminiAdapter", "GeminiCodec"]
