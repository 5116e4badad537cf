"""Anthropic image sources <-> the canonical image URL (``https://...`` or a data URL).

``{"type": "base64", "media_type", "data"}`` is ``data:<media_type>;base64,<data>`` and
``{"type": "url", "url"}`` is the URL itself. File-API sources (``{"type": "file"}``)
refer to uploads only Anthropic holds, so they are rejected.
"""

from __future__ import annotations

from typing import Any

from engine.errors import BadRequest, NoCanonicalForm
from providers.anthropic.fields import as_object, as_str, join, required


def url_from_source(value: object, path: str) -> str:
    source = as_object(value, path)
    kind = as_str(required(source, "type", path), join(path, "type"))
    if kind == "base64":
        media_type = as_str(required(source, "media_type", path), join(path, "media_type"))
        data = as_str(required(source, "data", path), join(path, "data"))
        return f"data:{media_type};base64,{data}"
    if kind == "url":
        return as_str(required(source, "url", path), join(path, "url"))
    raise NoCanonicalForm(
        f"{join(path, 'type')}: image source type '{kind}' is not supported by this gateway (use 'base64' or 'url')",
        param=join(path, "type"),
    )


def source_from_url(url: str, path: str) -> dict[str, Any]:
    if url.startswith("data:"):
        header, sep, data = url[5:].partition(",")
        media_type, _, encoding = header.partition(";")
        if not sep or encoding != "base64" or not media_type:
            raise BadRequest(
                f"{path}: image data URLs must look like data:<media type>;base64,<data>",
                param=path,
            )
        return {"type": "base64", "media_type": media_type, "data": data}
    if url.startswith(("https://", "http://")):
        return {"type": "url", "url": url}
    raise BadRequest(f"{path}: image URL must be http(s) or a base64 data URL", param=path)
