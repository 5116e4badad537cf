"""OpenAI's ``/v1/images/generations`` (JSON) and ``/v1/images/edits`` (multipart) both
ways: the client's request -> ``ImageRequest`` and the answer back (``b64_json``, or the
URLs Turnout serves the images at), and an OpenAI-format upstream's request and answer.
Pure.

Upstreams are always asked for ``b64_json`` when the client wants ``url`` or ``b64_json``
alike: the gateway serves URLs itself (``engine.media.image_store``), so an upstream's own
short-lived URL never reaches the client. Fields the canonical request does not model
(``background``, ``style``, ``output_format``, ``output_compression``, ``moderation``,
``user``, ``input_fidelity``) are passed on to OpenAI-format upstreams as given.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from engine.canonical import Usage
from engine.errors import BadRequest, UpstreamError
from engine.media.canonical import GeneratedImage, ImageFile, ImageRequest, ImageResult
from providers.base import Endpoint, UpstreamRequest
from providers.multipart import FormField, encode_form
from providers.openai.fields import as_object, opt_int, opt_str, req_str
from providers.openai.target import request_headers

MAX_N = 10
PASSED_ON = ("background", "style", "output_format", "output_compression", "moderation", "user", "input_fidelity")
_IMAGE_TYPES = {"image/png", "image/jpeg", "image/webp", "image/gif"}


def decode_generation(body: Any) -> ImageRequest:
    obj = as_object(body, "body")
    request = ImageRequest(model=req_str(obj, "model", ""), prompt=req_str(obj, "prompt", ""))
    if not request.prompt:
        raise BadRequest("prompt: required (a description of the image)", param="prompt")
    _common(request, {k: v for k, v in obj.items() if k not in ("model", "prompt")})
    return request


def decode_edit(fields: list[FormField]) -> ImageRequest:
    """The multipart fields of an edit: ``image`` (or ``image[]``) once or more, ``mask``,
    ``prompt``, ``model`` and the options as text."""
    text: dict[str, Any] = {}
    images: list[ImageFile] = []
    mask: ImageFile | None = None
    for field in fields:
        if field.name in ("image", "image[]"):
            images.append(_file(field))
        elif field.name == "mask":
            mask = _file(field)
        elif field.filename is None:
            text[field.name] = field.text
    if not images:
        raise BadRequest("image: required (one or more image files)", param="image")
    model, prompt = text.pop("model", None), text.pop("prompt", None)
    if not model:
        raise BadRequest("model: required", param="model")
    if not prompt:
        raise BadRequest("prompt: required", param="prompt")
    if "n" in text:
        try:
            text["n"] = int(text["n"])
        except ValueError:
            raise BadRequest("n: expected an integer", param="n") from None
    request = ImageRequest(model=model, prompt=prompt, images=images, mask=mask)
    _common(request, text)
    return request


def _file(field: FormField) -> ImageFile:
    media = field.content_type or "application/octet-stream"
    if media == "application/octet-stream":
        media = _sniff(field.data)
    if media not in _IMAGE_TYPES:
        raise BadRequest(f"{field.name}: expected a PNG, JPEG, WebP or GIF image, got {media}", param=field.name)
    return ImageFile(field.data, media, field.filename or "image.png")


def _sniff(data: bytes) -> str:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:4] == b"GIF8":
        return "image/gif"
    return "application/octet-stream"


def _common(request: ImageRequest, obj: dict[str, Any]) -> None:
    n = opt_int(obj, "n", "")
    if n is not None:
        if not 1 <= n <= MAX_N:
            raise BadRequest(f"n: must be between 1 and {MAX_N}", param="n")
        request.n = n
    request.size = opt_str(obj, "size", "")
    request.quality = opt_str(obj, "quality", "")
    response_format = opt_str(obj, "response_format", "") or "b64_json"
    if response_format not in ("b64_json", "url"):
        raise BadRequest("response_format: expected 'b64_json' or 'url'", param="response_format")
    request.response_format = "url" if response_format == "url" else "b64_json"
    for key in PASSED_ON:
        value = obj.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool):
            request.extras[key] = value
    unknown = sorted(set(obj) - {"n", "size", "quality", "response_format", "stream", *PASSED_ON})
    if unknown:
        raise BadRequest(f"{unknown[0]}: unknown parameter", param=unknown[0])
    if obj.get("stream") not in (None, False):
        raise BadRequest("stream: streamed image generation is not supported by this gateway", param="stream")


def encode_result(result: ImageResult, request: ImageRequest, urls: list[str] | None) -> bytes:
    """The client's answer: each image as base64, or (``urls`` given) as the URL it is served at."""
    data: list[dict[str, Any]] = []
    for index, image in enumerate(result.images):
        item: dict[str, Any] = {"url": urls[index]} if urls is not None else {"b64_json": _b64(image.data)}
        if image.revised_prompt is not None:
            item["revised_prompt"] = image.revised_prompt
        data.append(item)
    body: dict[str, Any] = {"created": result.created, "data": data}
    usage = result.usage
    if usage.input_tokens or usage.output_tokens:
        body["usage"] = {
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "total_tokens": usage.input_tokens + usage.output_tokens,
        }
    return orjson.dumps(body)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# ---- upstream -------------------------------------------------------------------------


def _options(request: ImageRequest) -> dict[str, Any]:
    options: dict[str, Any] = {"n": request.n, "response_format": "b64_json"}
    if request.size is not None:
        options["size"] = request.size
    if request.quality is not None:
        options["quality"] = request.quality
    options.update(request.extras)
    return options


def build_image_request(request: ImageRequest, endpoint: Endpoint) -> UpstreamRequest:
    headers = request_headers(endpoint)
    if not request.edit:
        body = {"model": endpoint.upstream_model, "prompt": request.prompt, **_options(request)}
        return UpstreamRequest("POST", f"{endpoint.base_url}/images/generations", headers, orjson.dumps(body))
    fields = [FormField("model", endpoint.upstream_model.encode()), FormField("prompt", request.prompt.encode())]
    fields += [FormField(key, str(value).encode()) for key, value in _options(request).items()]
    name = "image[]" if len(request.images) > 1 else "image"
    fields += [FormField(name, image.data, image.filename, image.media_type) for image in request.images]
    if request.mask is not None:
        fields.append(FormField("mask", request.mask.data, request.mask.filename, request.mask.media_type))
    body_bytes, content_type = encode_form(fields)
    headers["content-type"] = content_type
    return UpstreamRequest("POST", f"{endpoint.base_url}/images/edits", headers, body_bytes)


def decode_image_response(body: bytes) -> ImageResult:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise UpstreamError("server", "images response is not JSON") from None
    data = parsed.get("data") if isinstance(parsed, dict) else None
    if not isinstance(data, list) or not data:
        raise UpstreamError("server", "images response has no data")
    images = []
    for item in data:
        encoded = item.get("b64_json") if isinstance(item, dict) else None
        if not isinstance(encoded, str):
            raise UpstreamError("server", "images response: an image has no b64_json (asked for b64_json)")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise UpstreamError("server", "images response: b64_json is not valid base64") from None
        revised = item.get("revised_prompt")
        images.append(GeneratedImage(raw, _sniff(raw), revised if isinstance(revised, str) else None))
    usage = parsed.get("usage")
    tokens = Usage()
    if isinstance(usage, dict):
        given_in, given_out = usage.get("input_tokens"), usage.get("output_tokens")
        tokens = Usage(
            input_tokens=given_in if type(given_in) is int else 0,
            output_tokens=given_out if type(given_out) is int else 0,
        )
    created = parsed.get("created")
    return ImageResult(created if type(created) is int else 0, images, tokens)


class OpenAIImages:
    """The ``ImagesUpstream`` of this format."""

    def build_image_request(self, request: ImageRequest, endpoint: Endpoint) -> UpstreamRequest:
        return build_image_request(request, endpoint)

    def decode_image_response(self, body: bytes) -> ImageResult:
        return decode_image_response(body)
