"""Matrix rows: images and system prompt, checked where they land in the upstream request
(each in the upstream format's own field and shape) and pinned by snapshot."""

from __future__ import annotations

import base64

from syrupy.assertion import SnapshotAssertion

from tests.conformance.case import Case
from tests.conformance.checks import ask_or_refuse, assert_answer, sent_upstream
from tests.conformance.clients.base import Image, Turn
from tests.conformance.matrix import cell_test
from tests.conformance.vendors.base import SeenImage

# A 1x1 orange PNG, sent as a data URL (or the client format's inline base64): no fetching.
PIXEL = Image(
    "image/png",
    base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP438AAAAQBAYDFKhhdAAAAAElFTkSuQmCC"),
)
SYSTEM = "You are a meteorologist. Answer in one short sentence and never use emoji."


@cell_test("images")
def test_image_reaches_the_upstream_in_its_own_shape(case: Case, snapshot: SnapshotAssertion) -> None:
    scripted = case.vendor.text(stream=False)
    case.fake.script(case.vendor.upstream_model, scripted.reply)
    answer = ask_or_refuse(case, "images", Turn("What colour is this pixel?", image=PIXEL), stream=False)
    if answer is None:
        return
    assert_answer(case, answer, scripted.expected)
    seen = sent_upstream(case)
    assert seen.images == [SeenImage(PIXEL.mime, PIXEL.b64)]
    assert seen.user_texts == ["What colour is this pixel?"]
    assert case.fake.requests[0].json == snapshot


@cell_test("system")
def test_system_prompt_reaches_the_upstreams_own_field(case: Case, snapshot: SnapshotAssertion) -> None:
    scripted = case.vendor.text(stream=False)
    case.fake.script(case.vendor.upstream_model, scripted.reply)
    answer = ask_or_refuse(case, "system", Turn("Will it rain today?", system=SYSTEM), stream=False)
    if answer is None:
        return
    assert_answer(case, answer, scripted.expected)
    seen = sent_upstream(case)
    assert seen.system == SYSTEM
    assert seen.user_texts == ["Will it rain today?"]
    assert seen.extra.get("system_messages", []) == []  # Responses: `instructions`, not an input item
    assert case.fake.requests[0].json == snapshot
