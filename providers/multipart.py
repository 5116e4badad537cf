"""``multipart/form-data`` both ways, for image edits: a body read into its fields, and
fields written into a body. Pure, standard library only (the MIME parser of ``email``).

A field is text (``filename`` None) or a file (its bytes, filename and content type);
several fields may share a name (``image[]``, or ``image`` repeated).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP

from engine.errors import BadRequest


@dataclass(frozen=True, slots=True)
class FormField:
    name: str
    data: bytes
    filename: str | None = None
    content_type: str | None = None

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


def parse_form(body: bytes, content_type: str) -> list[FormField]:
    """The fields of a ``multipart/form-data`` body (a 400 when it is not one)."""
    if not content_type.lower().startswith("multipart/form-data") or "boundary=" not in content_type:
        raise BadRequest("expected a multipart/form-data body with a boundary", code="invalid_multipart")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise BadRequest("the multipart body could not be read", code="invalid_multipart")
    parts = message.get_payload()
    fields = [_field(part) for part in parts if isinstance(part, Message)] if isinstance(parts, list) else []
    if not fields:
        raise BadRequest("the multipart body has no fields", code="invalid_multipart")
    return fields


def _field(part: Message) -> FormField:
    name = part.get_param("name", header="content-disposition")
    if not isinstance(name, str):
        raise BadRequest("a multipart field has no name", code="invalid_multipart")
    filename = part.get_filename()
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    content_type = part.get_content_type() if part.get("content-type") else None
    return FormField(name, data, filename, content_type)


def encode_form(fields: list[FormField]) -> tuple[bytes, str]:
    """The body and its content type (with a fresh boundary)."""
    boundary = f"turnout-{secrets.token_hex(16)}"
    out: list[bytes] = []
    for field in fields:
        disposition = f'form-data; name="{_quoted(field.name)}"'
        if field.filename is not None:
            disposition += f'; filename="{_quoted(field.filename)}"'
        head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
        if field.content_type is not None:
            head += f"Content-Type: {field.content_type}\r\n"
        out.append(head.encode("utf-8") + b"\r\n" + field.data + b"\r\n")
    out.append(f"--{boundary}--\r\n".encode("ascii"))
    return b"".join(out), f"multipart/form-data; boundary={boundary}"


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
