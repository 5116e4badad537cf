"""The OpenAI Responses API (``POST /v1/responses``), both as a client format and as an
upstream: ``codec.ResponsesCodec`` and ``adapter.ResponsesAdapter``, format
``"openai-responses"``."""
