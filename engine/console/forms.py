"""Reading an HTML form body (``application/x-www-form-urlencoded``) into a plain mapping."""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.requests import Request

MAX_FORM_BYTES = 256 * 1024


class Form(dict[str, str]):
    def text(self, name: str, default: str = "") -> str:
        return self.get(name, default).strip()

    def items_of(self, name: str) -> tuple[str, ...]:
        """A comma- or newline-separated field as its non-empty parts."""
        raw = self.get(name, "").replace("\n", ",")
        return tuple(part.strip() for part in raw.split(",") if part.strip())


def is_form(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")


async def read_form(request: Request) -> Form:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise ValueError("the form is too large")
    parsed = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return Form({name: values[-1] for name, values in parsed.items()})
