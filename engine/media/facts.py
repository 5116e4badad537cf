"""What the router knows about an embeddings or images request (``RequestFacts`` with its
kind), so ``engine.routing.plan`` routes these requests with the same code as chat. Pure.

Embeddings: the input's token estimate (token arrays count as given); images: the prompt's
estimate, and how many images of what size and quality are asked (for price estimates and
the reservation). Neither asks for tools, vision or JSON, so chat capabilities never drop
a candidate.
"""

from __future__ import annotations

from collections.abc import Mapping

from engine.media.canonical import EmbeddingRequest, ImageRequest
from engine.routing.facts import TEXT_LIMIT, RequestFacts
from providers.vectors import estimate_tokens


def _picked(headers: Mapping[str, str], allowed: frozenset[str]) -> dict[str, str]:
    return {name: headers[name] for name in allowed if name in headers}


def embedding_facts(request: EmbeddingRequest, headers: Mapping[str, str], allowed: frozenset[str]) -> RequestFacts:
    text = next((item for item in request.inputs if isinstance(item, str)), "")
    return RequestFacts(
        model=request.model,
        estimated_tokens=estimate_tokens(request.inputs),
        max_tokens=None,
        stream=False,
        has_tools=False,
        has_images=False,
        wants_json=False,
        message_count=len(request.inputs),
        text=text[:TEXT_LIMIT],
        headers=_picked(headers, allowed),
        kind="embedding",
    )


def image_facts(request: ImageRequest, headers: Mapping[str, str], allowed: frozenset[str]) -> RequestFacts:
    return RequestFacts(
        model=request.model,
        estimated_tokens=estimate_tokens([request.prompt]),
        max_tokens=None,
        stream=False,
        has_tools=False,
        has_images=False,  # an edit's inputs are not chat vision: image models declare no capabilities
        wants_json=False,
        message_count=1,
        text=request.prompt[-TEXT_LIMIT:],
        headers=_picked(headers, allowed),
        kind="image",
        images=request.n,
        image_size=request.size or "auto",
        image_quality=request.quality or "auto",
    )
