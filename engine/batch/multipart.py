"""A ``multipart/form-data`` body read into fields and files (the Files API upload), with
the standard library's MIME parser."""

from __future__ import annotations

from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from engine.errors import BadRequest


@dataclass(frozen=True, slots=True)
class Part:
    name: str
    filename: str | None
    content: bytes


def form_parts(content_type: str, body: bytes) -> dict[str, Part]:
    """The named parts of the form; a ``BadRequest`` when it is not multipart/form-data."""
    if not content_type.lower().startswith("multipart/form-data") or "boundary=" not in content_type:
        raise BadRequest("expected a multipart/form-data body (fields 'file' and 'purpose')")
    header = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=policy.HTTP).parsebytes(header + body)
    if not isinstance(message, EmailMessage) or not message.is_multipart():
        raise BadRequest("the multipart/form-data body could not be read")
    parts: dict[str, Part] = {}
    for item in message.iter_parts():
        if not isinstance(item, EmailMessage):
            continue
        name = item.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = item.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        parts[name] = Part(name, item.get_filename(), content)
    return parts
