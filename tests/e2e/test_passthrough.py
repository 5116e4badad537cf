"""The OpenAI-to-OpenAI path forwards what it does not model, with the model rewritten."""

from __future__ import annotations

import openai

from tests.support.fake_upstream import FakeUpstream


def test_unknown_fields_reach_the_upstream_with_the_model_rewritten(
    client: openai.OpenAI, fake_a: FakeUpstream
) -> None:
    completion = client.chat.completions.create(
        model="smart",
        messages=[{"role": "user", "content": "keep my fields"}],
        temperature=0.3,
        extra_body={"x_custom": {"a": 1}, "seed": 7},
    )
    assert completion.choices[0].message.content == "keep my fields"
    [received] = fake_a.requests
    body = received.json
    assert body["model"] == "upstream-small"
    assert body["x_custom"] == {"a": 1}
    assert body["seed"] == 7
    assert body["temperature"] == 0.3
    assert body["messages"] == [{"role": "user", "content": "keep my fields"}]


def test_unknown_fields_reach_the_upstream_when_streaming(client: openai.OpenAI, fake_a: FakeUpstream) -> None:
    stream = client.chat.completions.create(
        model="smart",
        messages=[{"role": "user", "content": "stream mine"}],
        stream=True,
        extra_body={"x_custom": {"nested": [1, 2]}},
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "stream mine"
    [received] = fake_a.requests
    assert received.json["model"] == "upstream-small"
    assert received.json["x_custom"] == {"nested": [1, 2]}
