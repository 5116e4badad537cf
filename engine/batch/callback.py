"""The batch callback: a signed POST when a job finishes, retried with backoff.

The body is the job as ``GET /v1/batch/{id}`` shows it. ``X-Turnout-Signature`` is
``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed with the job's callback
secret>`` (the secret is returned once, when the job is submitted). Targets are checked
like fetched images (``engine.routing.image_fetch``): http(s) only, and every address the
host resolves to must be public, unless the operator allows private targets; the
connection goes through the resolver that refuses them, so a DNS rebind cannot pass.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import socket
import time
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver
from aiohttp.resolver import ThreadedResolver

from engine.errors import BadRequest
from engine.routing.image_fetch import PublicOnlyResolver

SIGNATURE_HEADER = "x-turnout-signature"
MAX_ATTEMPTS = 8
MAX_DELAY = 600.0
TIMEOUT = 10.0


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def retry_delay(attempts: int, base: float) -> float | None:
    """Seconds before the next try after ``attempts`` failed ones; None: give up."""
    if attempts >= MAX_ATTEMPTS:
        return None
    return float(min(base * 2 ** (attempts - 1), MAX_DELAY))


def _public(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_global
    except ValueError:
        return False


async def check_target(url: str, allow_private: bool) -> None:
    """A ``BadRequest`` for a callback URL that must not be called."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadRequest(f"callback_url {url!r}: must be an http(s) URL", param="callback_url")
    if allow_private:
        return
    host = parts.hostname.strip("[]")
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise BadRequest(f"callback_url {url!r}: cannot resolve {host} ({exc})", param="callback_url") from None
        addresses = [str(info[4][0]) for info in infos]
    blocked = [a for a in addresses if not _public(a)]
    if blocked:
        raise BadRequest(
            f"callback_url {url!r}: {host} is a loopback, private or link-local address ({blocked[0]}); "
            "the operator can allow such targets with TURNOUT_BATCH_CALLBACK_ALLOW_PRIVATE=true",
            param="callback_url",
        )


class CallbackSender:
    def __init__(self, allow_private: bool) -> None:
        self._allow_private = allow_private
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            resolver: AbstractResolver = ThreadedResolver() if self._allow_private else PublicOnlyResolver()
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(resolver=resolver, limit=16),
                timeout=aiohttp.ClientTimeout(total=TIMEOUT),
            )
        return self._session

    async def send(self, url: str, secret: str, body: bytes) -> str | None:
        """POST ``body``, signed; None when the receiver answered 2xx, else why not."""
        try:
            await check_target(url, self._allow_private)
            headers = {
                "content-type": "application/json",
                SIGNATURE_HEADER: signature(secret, int(time.time()), body),
            }
            async with self._client().post(url, data=body, headers=headers, allow_redirects=False) as response:
                if 200 <= response.status < 300:
                    return None
                return f"the receiver answered {response.status}"
        except BadRequest as exc:
            return exc.message
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            return f"{type(exc).__name__}: {exc}"

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
