"""The canonical embeddings and images requests and answers, between client codecs and
upstream adapters (as ``engine.canonical`` is for chat). Plain data.

An embeddings input is text, or a list of token ids (OpenAI's token arrays; only an
OpenAI-format upstream can take those). A vector is kept in the form its upstream sent
(floats, or OpenAI's base64 of little-endian float32) and converted by the client's codec
only when the client asked for the other form. Images travel as bytes
with their media type; an edit carries its input images and optional mask the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from engine.canonical import Usage

EmbeddingInput = str | list[int]
# A vector as the upstream sent it: floats, or base64 of little-endian float32 (OpenAI's
# ``encoding_format: "base64"``, already checked). Converted only when the client wants the
# other form, so base64 in and base64 out costs no float parsing.
Vector = list[float] | str
EncodingFormat = Literal["float", "base64"]
ImageResponseFormat = Literal["b64_json", "url"]


@dataclass(slots=True)
class EmbeddingRequest:
    model: str
    inputs: list[EmbeddingInput]
    dimensions: int | None = None
    encoding_format: EncodingFormat = "float"  # what the client wants back
    user: str | None = None
    task_type: str | None = None  # Gemini's retrieval hint (RETRIEVAL_QUERY...), kept for Gemini upstreams
    title: str | None = None  # Gemini's document title (with RETRIEVAL_DOCUMENT)


@dataclass(slots=True)
class EmbeddingResult:
    model: str
    vectors: list[Vector]
    usage: Usage = field(default_factory=Usage)


@dataclass(frozen=True, slots=True)
class ImageFile:
    """An image (or mask) a client sent, or an upstream produced."""

    data: bytes
    media_type: str = "image/png"
    filename: str = "image.png"


@dataclass(slots=True)
class ImageRequest:
    model: str
    prompt: str
    n: int = 1
    size: str | None = None  # "1024x1024", "auto"...; None: the upstream's default
    quality: str | None = None  # "low", "high", "standard", "hd", "auto"...
    response_format: ImageResponseFormat = "b64_json"  # what the client wants back
    images: list[ImageFile] = field(default_factory=list)  # an edit's input images
    mask: ImageFile | None = None
    # OpenAI fields passed to OpenAI-format upstreams as given (background, style,
    # output_format, moderation, user...); other formats refuse them by name
    extras: dict[str, str | int] = field(default_factory=dict)

    @property
    def edit(self) -> bool:
        return bool(self.images)


@dataclass(frozen=True, slots=True)
class GeneratedImage:
    data: bytes
    media_type: str = "image/png"
    revised_prompt: str | None = None


@dataclass(slots=True)
class ImageResult:
    created: int
    images: list[GeneratedImage]
    usage: Usage = field(default_factory=Usage)
