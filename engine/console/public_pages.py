"""The console pages anyone may see: models (the public catalogue with code snippets) and
status (breakers, p50 latency and error rate per channel and model; the policy version and
the last reload result). They read the same policy and health the gateway routes with."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.canary.monitor import CanaryMonitor
from engine.console.pages import UserPages
from engine.console.render import PREFIX
from engine.console.snippets import snippets
from engine.http.models_list import entries
from engine.http.status import status_document
from engine.policy.store import PolicyStore
from engine.routing.health import Health

FORMAT_NAMES = {
    "openai": "OpenAI chat",
    "openai-responses": "OpenAI Responses",
    "anthropic": "Anthropic",
    "gemini": "Gemini",
}
STATE_NAMES = {"closed": "healthy", "open": "open: in cooldown", "half-open": "half-open: probing"}


def base_url(request: Request, public_url: str | None) -> str:
    """Where clients reach this server: the configured public URL, else as this request came."""
    if public_url:
        return public_url.rstrip("/")
    return f"{request.url.scheme}://{request.url.netloc}"


def price_text(price: dict[str, float] | None) -> str:
    if price is None:
        return "not priced"
    text = f"${price['input']:g} in / ${price['output']:g} out"
    if "cached_input" in price:
        text += f" / ${price['cached_input']:g} cached"
    return text + " per 1M tokens"


class PublicPages:
    def __init__(
        self,
        pages: UserPages,
        store: PolicyStore,
        health: Callable[[], Health],
        public_url: str | None,
        canaries: Callable[[], CanaryMonitor | None] = lambda: None,
    ) -> None:
        self.pages = pages
        self.canaries = canaries
        self.store = store
        self.health = health
        self.public_url = public_url

    async def models(self, request: Request) -> Response:
        user = await self.pages.user_of(request)
        policy = self.store.current
        catalogue = entries(policy, self.health().open_pairs())
        preferred = [e.id for e in catalogue if e.available] or [e.id for e in catalogue] or [""]
        chosen = request.query_params.get("model") or preferred[0]
        if chosen not in {e.id for e in catalogue}:
            chosen = preferred[0]
        grouped: dict[str, list[Any]] = {}
        for snippet in snippets(base_url(request, self.public_url), chosen) if chosen else []:
            grouped.setdefault(FORMAT_NAMES[snippet.client_format], []).append(snippet)
        context: dict[str, Any] = {
            "catalogue": catalogue,
            "chosen": chosen,
            "snippets": grouped,
            "price_text": price_text,
            "policy_version": policy.version,
        }
        return self.pages.renderer.page(request, "models.html", user=user, **context)

    async def status(self, request: Request) -> Response:
        user = await self.pages.user_of(request)
        document = status_document(self.store, self.health(), self.canaries())
        return self.pages.renderer.page(request, "status.html", user=user, doc=document, state_names=STATE_NAMES)

    def routes(self) -> list[Route]:
        return [
            Route(f"{PREFIX}/models", self.models, methods=["GET"]),
            Route(f"{PREFIX}/status", self.status, methods=["GET"]),
        ]
