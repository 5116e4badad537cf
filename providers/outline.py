"""The routing outline of a request the canonical model cannot carry.

A client body that uses a feature with no canonical form (an Anthropic ``document`` block
or server tool result, an OpenAI ``input_audio`` part, a Gemini ``fileData`` part, a
Responses ``input_file`` item...) is refused by its codec, because no translation could
honour it. A same-format upstream can: the body is passed through untouched. So instead of
a 400 up front, the request is outlined: a ``ChatRequest`` with just what routing reads
(model, stream, output cap, whether it has tools and images, and all its text for the
token estimate and for rules), marked ``opaque`` with the codec's refusal. The output cap
is checked as every decoder checks it (``providers.output_cap``): a passthrough-only body
with ``max_tokens: 0`` is the same 400 as any other. Passthrough
attempts serve it; any other attempt is skipped with that refusal, and when no attempt
is left the client gets it (400, naming the feature).

Pure: parsed body in, ``ChatRequest`` out.
"""

from __future__ import annotations

from typing import Any

from engine.canonical import ChatRequest, ImagePart, Message, TextPart, Tool
from engine.errors import BadRequest, NoCanonicalForm
from providers.output_cap import output_cap

_MAX_TOKENS_FIELDS = {
    "openai": ("max_completion_tokens", "max_tokens"),
    "openai-responses": ("max_output_tokens",),
    "anthropic": ("max_tokens",),
}
_IMAGE_TYPES = frozenset({"image", "image_url", "input_image"})
_MEDIA_KEYS = ("inlineData", "inline_data", "fileData", "file_data")
_NOT_TEXT = frozenset(
    {"data", "signature", "encrypted_content", "model", "type", "role", "id", "mimeType", "mime_type"}
)


def outline_request(
    fmt: str, body: dict[str, Any], model: str | None, stream: bool | None, refusal: NoCanonicalForm
) -> ChatRequest:
    """``model``/``stream`` come from the path when the format puts them there (Gemini)."""
    model = model if model is not None else body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("model: required (a non-empty string)", param="model")
    if stream is None:
        stream = body.get("stream") is True
    texts: list[str] = []
    images = _walk(body, texts)
    parts: list[Any] = [TextPart("\n".join(texts))]
    parts.extend(ImagePart(url="") for _ in range(images))
    options = body.get("stream_options")
    return ChatRequest(
        model=model,
        messages=[Message(role="user", parts=parts)],
        tools=[Tool(name="", description=None, parameters={}) for _ in range(_tool_count(fmt, body))],
        max_tokens=_max_tokens(fmt, body),
        stream=stream,
        include_usage=isinstance(options, dict) and options.get("include_usage") is True,
        opaque=refusal,
    )


def _walk(value: Any, texts: list[str]) -> int:
    """Collect every string that is text (not ids, types or media bytes); count images."""
    images = 0
    if isinstance(value, dict):
        kind = value.get("type")
        if isinstance(kind, str) and kind in _IMAGE_TYPES:
            images += 1
        for key in _MEDIA_KEYS:
            media = value.get(key)
            if isinstance(media, dict) and str(media.get("mimeType", media.get("mime_type", ""))).startswith("image/"):
                images += 1
        for key, item in value.items():
            if key in _NOT_TEXT:
                continue
            if isinstance(item, str):
                if not item.startswith("data:"):
                    texts.append(item)
            else:
                images += _walk(item, texts)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, str):
                texts.append(item)
            else:
                images += _walk(item, texts)
    return images


def _tool_count(fmt: str, body: dict[str, Any]) -> int:
    tools = body.get("tools")
    if not isinstance(tools, list):
        return 0
    if fmt != "gemini":
        return len(tools)
    count = 0
    for tool in tools:
        declarations = None
        if isinstance(tool, dict):
            declarations = tool.get("functionDeclarations", tool.get("function_declarations"))
        count += len(declarations) if isinstance(declarations, list) else 1
    return count


def _max_tokens(fmt: str, body: dict[str, Any]) -> int | None:
    """The cap, each cap field checked as the format's decoder checks it (``output_cap``)."""
    if fmt == "gemini":
        config = body.get("generationConfig", body.get("generation_config"))
        if not isinstance(config, dict):
            return None
        value = config.get("maxOutputTokens", config.get("max_output_tokens"))
        return output_cap(value, "generationConfig.maxOutputTokens")
    caps = [output_cap(body.get(f), f) for f in _MAX_TOKENS_FIELDS.get(fmt, ())]
    return next((cap for cap in caps if cap is not None), None)
