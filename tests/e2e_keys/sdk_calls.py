"""Chat calls through the official SDKs, in each client format the gateway serves, with
the outcome made comparable: ``Reply`` (the answer text) or ``Refusal`` (the error the
client saw, read from that client's own error shape, which is checked on the way).

Formats: ``openai`` (``openai`` SDK, ``Authorization: Bearer``), ``anthropic``
(``anthropic`` SDK, ``x-api-key``), ``anthropic-bearer`` (the same SDK given ``api_key``,
which this SDK version sends as ``Authorization: Bearer``), ``gemini`` (``google-genai``,
``x-goog-api-key``) and ``gemini-query`` (plain HTTP, the key in ``?key=``, which no SDK
sends).

``Callers(base_url)`` builds the SDK clients (one per key) on connection pools it shares,
and keeps the google-genai ones: a fresh pool, or a google-genai client, costs 0.1-0.25 s
of TLS setup even for plain HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import anthropic
import httpx
import httpx2
import openai
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

Format = Literal["openai", "anthropic", "anthropic-bearer", "gemini", "gemini-query"]
FORMATS: tuple[Format, ...] = ("openai", "anthropic", "anthropic-bearer", "gemini", "gemini-query")
TIMEOUT = 15.0


@dataclass(frozen=True, slots=True)
class Reply:
    text: str


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    message: str
    type: str  # OpenAI error.type, Anthropic error.type, Gemini error.status
    code: str | None  # OpenAI error.code, Gemini ErrorInfo.reason; Anthropic's shape has none
    headers: Mapping[str, str]
    sdk_error: str  # the SDK's exception class ("HTTPError" for plain HTTP)
    details: tuple[dict[str, Any], ...] = ()  # Gemini error.details


class Callers:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._pool = httpx.Client(timeout=TIMEOUT)  # google-genai and plain HTTP
        self._pool2 = httpx2.Client(timeout=TIMEOUT)  # the openai and anthropic SDKs use httpx2
        self._gemini_clients: dict[str, genai.Client] = {}

    def close(self) -> None:
        self._pool.close()
        self._pool2.close()

    def chat(
        self, fmt: Format, key: str, model: str, *, prompt: str = "hello", max_tokens: int = 16
    ) -> Reply | Refusal:
        if fmt == "openai":
            return self._openai(key, model, prompt, max_tokens)
        if fmt in ("anthropic", "anthropic-bearer"):
            return self._anthropic(key, model, prompt, max_tokens, bearer=fmt == "anthropic-bearer")
        if fmt == "gemini":
            return self._gemini(key, model, prompt, max_tokens)
        return self._gemini_query(key, model, prompt, max_tokens)

    def openai(self, key: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.base_url}/v1", api_key=key, max_retries=0, http_client=self._pool2)

    def anthropic(self, key: str, *, bearer: bool = False) -> anthropic.Anthropic:
        """The key in ``x-api-key`` (Anthropic's documented header), or as the SDK's ``api_key``."""
        if bearer:
            return anthropic.Anthropic(base_url=self.base_url, api_key=key, max_retries=0, http_client=self._pool2)
        return anthropic.Anthropic(
            base_url=self.base_url,
            api_key=None,
            default_headers={"x-api-key": key},
            max_retries=0,
            http_client=self._pool2,
        )

    def gemini(self, key: str) -> genai.Client:
        client = self._gemini_clients.get(key)
        if client is None:
            options = genai_types.HttpOptions(base_url=self.base_url, api_version="v1beta", httpx_client=self._pool)
            client = self._gemini_clients[key] = genai.Client(api_key=key, http_options=options)
        return client

    def _openai(self, key: str, model: str, prompt: str, max_tokens: int) -> Reply | Refusal:
        try:
            completion = self.openai(key).chat.completions.create(
                model=model, messages=[{"role": "user", "content": prompt}], max_tokens=max_tokens
            )
        except openai.APIStatusError as exc:
            raw = exc.response.json()
            assert isinstance(raw, dict) and set(raw) == {"error"}, raw
            error = raw["error"]
            assert {"message", "type", "param", "code"} <= set(error), error
            assert exc.code == error["code"] and exc.type == error["type"], (exc.code, exc.type, error)
            return Refusal(
                exc.status_code,
                str(error["message"]),
                str(error["type"]),
                error["code"],
                dict(exc.response.headers),
                type(exc).__name__,
            )
        return Reply(completion.choices[0].message.content or "")

    def _anthropic(self, key: str, model: str, prompt: str, max_tokens: int, *, bearer: bool) -> Reply | Refusal:
        try:
            message = self.anthropic(key, bearer=bearer).messages.create(
                model=model, max_tokens=max_tokens, messages=[{"role": "user", "content": prompt}]
            )
        except anthropic.APIStatusError as exc:
            raw = exc.response.json()
            assert isinstance(raw, dict) and set(raw) == {"type", "error"} and raw["type"] == "error", raw
            error = raw["error"]
            assert set(error) == {"type", "message"}, error
            return Refusal(
                exc.status_code,
                str(error["message"]),
                str(error["type"]),
                None,
                dict(exc.response.headers),
                type(exc).__name__,
            )
        return Reply("".join(block.text for block in message.content if block.type == "text"))

    def _gemini(self, key: str, model: str, prompt: str, max_tokens: int) -> Reply | Refusal:
        try:
            response = self.gemini(key).models.generate_content(
                model=model, contents=prompt, config=genai_types.GenerateContentConfig(max_output_tokens=max_tokens)
            )
        except genai_errors.APIError as exc:
            headers = dict(exc.response.headers) if exc.response is not None else {}
            return _gemini_refusal(exc.code, exc.details, headers, type(exc).__name__)
        return Reply(response.text or "")

    def _gemini_query(self, key: str, model: str, prompt: str, max_tokens: int) -> Reply | Refusal:
        body = {
            "contents": [{"role": "user", "parts": [{"text": prompt}]}],
            "generationConfig": {"maxOutputTokens": max_tokens},
        }
        response = self._pool.post(
            f"{self.base_url}/v1beta/models/{model}:generateContent", params={"key": key}, json=body
        )
        if response.status_code != 200:
            return _gemini_refusal(response.status_code, response.json(), dict(response.headers), "HTTPError")
        parts = response.json()["candidates"][0]["content"]["parts"]
        return Reply("".join(str(part.get("text", "")) for part in parts))


def _gemini_refusal(status: int, raw: Any, headers: Mapping[str, str], sdk_error: str) -> Refusal:
    assert isinstance(raw, dict) and set(raw) == {"error"}, raw
    error = raw["error"]
    assert {"code", "message", "status"} <= set(error) <= {"code", "message", "status", "details"}, error
    assert error["code"] == status, (error, status)
    details = tuple(error.get("details", ()))
    reasons = [d["reason"] for d in details if d.get("@type") == "type.googleapis.com/google.rpc.ErrorInfo"]
    assert len(reasons) <= 1, details
    reason = reasons[0] if reasons else None
    return Refusal(status, str(error["message"]), str(error["status"]), reason, headers, sdk_error, details)
