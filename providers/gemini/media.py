"""Images between canonical URLs and Gemini's ``inlineData`` / ``fileData`` parts.

* ``data:<mime>;base64,<bytes>`` <-> ``{"inlineData": {"mimeType", "data"}}`` ;
* ``gs://...`` and Gemini Files API URIs (``https://generativelanguage.googleapis.com/...``)
  <-> ``{"fileData": {"fileUri", "mimeType"?}}`` (the MIME type guessed from the
  extension when it has one) ;
* any other ``http(s)`` URL: the Gemini API does not fetch arbitrary URLs, so the pure
  adapter refuses it (``UnsupportedFeature(["image_url (remote)"])``); the gateway may
  fetch and inline such images before ``build_request``.

``ImagePart.detail`` rides as ``generationConfig.mediaResolution`` (one value for the
whole request, see ``request_encoder``) ; per-part ``mediaResolution.level`` from a
Gemini client maps to ``detail``.
"""

from __future__ import annotations

import mimetypes
import re
from typing import Any
from urllib.parse import urlsplit

from engine.errors import UnsupportedFeature

_DATA_URL = re.compile(r"data:([\w.+-]+/[\w.+-]+)((?:;[\w.+-]+=[^;,]*)*);base64,(.*)", re.DOTALL)
_FILES_HOST = "generativelanguage.googleapis.com"

DETAIL_FROM_LEVEL = {
    "MEDIA_RESOLUTION_LOW": "low",
    "MEDIA_RESOLUTION_MEDIUM": "medium",
    "MEDIA_RESOLUTION_HIGH": "high",
    "MEDIA_RESOLUTION_ULTRA_HIGH": "ultra_high",
}
LEVEL_FOR_DETAIL = {v: k for k, v in DETAIL_FROM_LEVEL.items()}


def data_url(mime_type: str, data: str) -> str:
    return f"data:{mime_type};base64,{data}"


def parse_data_url(url: str) -> tuple[str, str] | None:
    """``(mime type, base64 data)`` of a base64 data URL, else ``None``."""
    m = _DATA_URL.fullmatch(url)
    return (m.group(1), m.group(3)) if m else None


def is_file_uri(url: str) -> bool:
    """URIs the Gemini API resolves itself: Cloud Storage and its own Files API."""
    parts = urlsplit(url)
    return parts.scheme == "gs" or (parts.scheme == "https" and parts.hostname == _FILES_HOST)


def to_wire_part(url: str, fmt: str) -> dict[str, Any]:
    """The Gemini part for an image URL; raises ``UnsupportedFeature`` for remote URLs."""
    if url.startswith("data:"):
        parsed = parse_data_url(url)
        if parsed is None:
            raise UnsupportedFeature(["image_url (data URL without base64)"], fmt)
        return {"inlineData": {"mimeType": parsed[0], "data": parsed[1]}}
    if is_file_uri(url):
        file_data: dict[str, Any] = {"fileUri": url}
        guessed, _ = mimetypes.guess_type(urlsplit(url).path)
        if guessed:
            file_data["mimeType"] = guessed
        return {"fileData": file_data}
    raise UnsupportedFeature(["image_url (remote)"], fmt)
