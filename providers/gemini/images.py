"""Image generation and edits on a Gemini image model (``gemini-2.5-flash-image`` and
kin), upstream side only: ``ImageRequest`` -> ``:generateContent`` asking for the IMAGE
modality, and the answer's ``inlineData`` parts -> ``ImageResult``. Pure.

An edit sends its input images as inline parts before the prompt. What Gemini cannot do is
refused by name (the attempt moves on to the next candidate): ``n`` above 1, a ``mask``, a
``size`` whose aspect ratio Gemini does not offer, an explicit ``quality``, and OpenAI-only
options (``background``, ``style``...). A size maps to Gemini's ``aspectRatio``.
"""

from __future__ import annotations

import base64
import binascii
import time
from math import gcd
from typing import Any

import orjson

from engine.canonical import Usage
from engine.errors import UnsupportedFeature, UpstreamError
from engine.media.canonical import GeneratedImage, ImageRequest, ImageResult
from providers.base import Endpoint, UpstreamRequest
from providers.gemini.adapter import model_path, request_headers
from providers.gemini.wire import FORMAT

ASPECT_RATIOS = frozenset({"1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"})
_NEAR = {"1536:1024": "3:2", "1024:1536": "2:3", "1792:1024": "16:9", "1024:1792": "9:16"}


def aspect_ratio(size: str) -> str | None:
    """``"1024x1024"`` -> ``"1:1"``; None when Gemini offers no such ratio."""
    width, _, height = size.partition("x")
    if not (width.isdigit() and height.isdigit()) or not int(width) or not int(height):
        return None
    w, h = int(width), int(height)
    if f"{w}:{h}" in _NEAR:
        return _NEAR[f"{w}:{h}"]
    d = gcd(w, h)
    ratio = f"{w // d}:{h // d}"
    return ratio if ratio in ASPECT_RATIOS else None


def build_image_request(request: ImageRequest, endpoint: Endpoint) -> UpstreamRequest:
    refused = [f"{key}" for key in sorted(request.extras) if key != "user"]
    if request.n > 1:
        refused.append("n (more than 1)")
    if request.mask is not None:
        refused.append("mask")
    if request.quality not in (None, "auto"):
        refused.append("quality")
    config: dict[str, Any] = {"responseModalities": ["IMAGE"]}
    if request.size not in (None, "auto"):
        assert request.size is not None
        ratio = aspect_ratio(request.size)
        if ratio is None:
            refused.append(f"size {request.size}")
        else:
            config["imageConfig"] = {"aspectRatio": ratio}
    if refused:
        raise UnsupportedFeature(refused, FORMAT)
    parts: list[dict[str, Any]] = [
        {"inlineData": {"mimeType": image.media_type, "data": base64.b64encode(image.data).decode("ascii")}}
        for image in request.images
    ]
    parts.append({"text": request.prompt})
    body = {"contents": [{"role": "user", "parts": parts}], "generationConfig": config}
    url = f"{endpoint.base_url}/{model_path(endpoint.upstream_model)}:generateContent"
    return UpstreamRequest("POST", url, request_headers(endpoint), orjson.dumps(body))


def decode_image_response(body: bytes) -> ImageResult:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise UpstreamError("server", "Gemini response is not JSON") from None
    candidates = parsed.get("candidates") if isinstance(parsed, dict) else None
    images: list[GeneratedImage] = []
    texts: list[str] = []
    for candidate in candidates if isinstance(candidates, list) else []:
        content = candidate.get("content") if isinstance(candidate, dict) else None
        parts = content.get("parts") if isinstance(content, dict) else None
        for part in parts if isinstance(parts, list) else []:
            inline = part.get("inlineData") if isinstance(part, dict) else None
            if isinstance(inline, dict) and isinstance(inline.get("data"), str):
                try:
                    raw = base64.b64decode(inline["data"], validate=True)
                except (binascii.Error, ValueError):
                    raise UpstreamError("server", "malformed Gemini response: inlineData is not base64") from None
                images.append(GeneratedImage(raw, str(inline.get("mimeType") or "image/png")))
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                texts.append(part["text"])
    if not images:
        said = " ".join(texts).strip()[:200]
        raise UpstreamError("content_filter", f"Gemini returned no image{': ' + said if said else ''}")
    meta = parsed.get("usageMetadata")
    usage = Usage()
    if isinstance(meta, dict):
        prompt, output = meta.get("promptTokenCount"), meta.get("candidatesTokenCount")
        usage = Usage(
            input_tokens=prompt if type(prompt) is int else 0,
            output_tokens=output if type(output) is int else 0,
        )
    return ImageResult(int(time.time()), images, usage)


class GeminiImages:
    """The ``ImagesUpstream`` of this format."""

    def build_image_request(self, request: ImageRequest, endpoint: Endpoint) -> UpstreamRequest:
        return build_image_request(request, endpoint)

    def decode_image_response(self, body: bytes) -> ImageResult:
        return decode_image_response(body)
