"""The policy the embeddings and images end-to-end tests run on: an OpenAI-format fake and
a Gemini-format fake (real local servers that record what they received), and the demo
channel."""

from __future__ import annotations

from tests.support.fake_upstream import FakeUpstream

MEDIA_POLICY = """
[channels.oai]
format = "openai"
base_url = "{oai}"
api_key = "${{FAKE_KEY}}"
models = {{ "oai-embed" = "text-embedding-3-small", "oai-image" = "gpt-image-1", "oai-chat" = "gpt-4.1-mini" }}
timeout = {{ connect = 2, first_byte = 2, total = 10, idle = 2 }}

[channels.gem]
format = "gemini"
base_url = "{gem}"
api_key = "${{FAKE_KEY}}"
models = {{ "gem-embed" = "gemini-embedding-001", "gem-image" = "gemini-2.5-flash-image" }}

[channels.demo]
format = "openai"
base_url = "demo://local"
models = ["demo-embed", "demo-image"]

[models.oai-embed]
kind = "embedding"
price = {{ input = 0.02 }}

[models.gem-embed]
kind = "embedding"
price = {{ input = 0.15 }}

[models.demo-embed]
kind = "embedding"
price = {{ input = 0.0 }}

[models.oai-chat]
price = {{ input = 0.4, output = 1.6 }}

[models.oai-image]
kind = "image"
price = {{ images = {{ "1024x1024" = {{ low = 0.011, high = 0.167 }} }} }}

[models.gem-image]
kind = "image"
price = {{ images = {{ "1024x1024" = 0.039 }} }}

[models.demo-image]
kind = "image"
price = {{ images = {{ "64x64" = 0.0 }} }}

[aliases.embed-any]
candidates = ["oai-embed"]
fallback = ["gem-embed"]

[aliases.draw]
candidates = ["oai-image"]
fallback = ["gem-image"]

[retry]
attempts = 2
backoff = {{ base = 0.01, max = 0.05 }}

[breaker]
failures = 1000
cooldown = 0
"""


def media_policy(oai: FakeUpstream, gem: FakeUpstream) -> str:
    return MEDIA_POLICY.format(oai=oai.base_url, gem=gem.base_url)
