"""Accounting after fail-over: one usage-log row for the request and one per attempt, and
the key charged for what reached the client, each attempt at its own model's price.

Failures before the first token cost the key nothing; a resumed stream pays for both of
its attempts (the cut one estimated from what it relayed); a hedge loser's row shows the
prompt it cost the operator, but the key pays only for the winner; a buffered attempt
restarted elsewhere is not charged; a stream that ended in error still pays for the words
it showed. Each test has its own prepaid key with $10, and reads the rows from the
gateway's SQLite database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.rescue.clients import Clients, Got
from tests.e2e.rescue.policy import MODELS
from tests.e2e.rescue.site import Site
from tests.e2e_keys.waiting import wait_until

CREDIT_MICROS = 10_000_000


@pytest.fixture
def account(site: Site, request: pytest.FixtureRequest) -> Iterator[tuple[str, Clients]]:
    """A prepaid key holding $10 (its account id), and SDK clients using it."""
    key = site.admin.create_key(f"pays-{request.node.name}"[:120], prepaid=True)
    site.admin.add_credits(key.account, "10")
    clients = Clients(site.gateway.base_url, key.secret)
    yield key.account, clients
    clients.close()


def cost(public: str, prompt: int, completion: int) -> int:
    """Micro-dollars at the model's price (USD per million tokens = micro-dollars per token)."""
    price_in, price_out = MODELS[public].price
    return int(prompt * price_in + completion * price_out)


def charged(site: Site, account: str, micros: int) -> None:
    """Wait until the account was charged exactly ``micros`` (the charge settles after the answer)."""

    def balance() -> bool:
        return bool(site.admin.account(account)["balance_micros"] == CREDIT_MICROS - micros)

    wait_until(balance, what=f"the account charged {micros} micro-dollars")


def rows(site: Site, got: Got, attempts: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    return site.usage(got.headers["x-request-id"], attempts)


def served(row: dict[str, Any]) -> tuple[Any, ...]:
    """Who the row is for, its status, and why it ended (an attempt cut or cancelled after a
    200 has no status of its own)."""
    return row["model_served"], row["status"] or None, row["error_type"]


def test_failures_before_the_first_token_cost_the_key_nothing(site: Site, account: tuple[str, Clients]) -> None:
    owner, clients = account
    got = clients.chat("unavailable", stream=False)
    request, attempts = rows(site, got, 3)
    assert [served(r) for r in attempts] == [("p503", 503, "server"), ("p503", 503, "server"), ("backup", 200, None)]
    assert [r["cost_micros"] for r in attempts[:2]] == [0, 0]
    answer = attempts[2]
    assert (answer["prompt_tokens"], answer["completion_tokens"]) == (got.input_tokens, got.output_tokens) == (3, 10)
    assert answer["cost_micros"] == cost("backup", 3, 10) and answer["estimated"] == 0
    assert served(request) == ("backup", 200, None)
    assert request["cost_micros"] == answer["cost_micros"]
    charged(site, owner, answer["cost_micros"])


def test_a_resumed_stream_pays_for_both_attempts_each_at_its_own_price(
    site: Site, account: tuple[str, Clients]
) -> None:
    owner, clients = account
    got = clients.messages("cut", stream=True)
    request, (cut, continued) = rows(site, got, 2)
    assert served(cut) == ("pcut", None, "stream_cut")
    assert cut["completion_tokens"] == 2 and cut["estimated"] == 1  # its 8 relayed characters; no usage came
    assert cut["cost_micros"] == cost("pcut", cut["prompt_tokens"], 2) > 0
    assert served(continued) == ("pf", 200, None)
    assert (continued["prompt_tokens"], continued["completion_tokens"]) == (6, 7)  # the prefill is prompt now
    assert continued["cost_micros"] == cost("pf", 6, 7) and continued["estimated"] == 0
    assert served(request) == ("pf", 200, None) and request["estimated"] == 1
    assert request["prompt_tokens"] == cut["prompt_tokens"] + 6 == got.input_tokens
    assert request["completion_tokens"] == 2 + 7 == got.output_tokens
    assert request["cost_micros"] == cut["cost_micros"] + continued["cost_micros"]
    charged(site, owner, request["cost_micros"])


def test_a_hedge_loser_is_logged_but_the_key_pays_for_the_winner_only(site: Site, account: tuple[str, Clients]) -> None:
    owner, clients = account
    got = clients.chat("hedged", stream=True)
    request, (loser, winner) = rows(site, got, 2)
    assert served(loser) == ("hslow", None, "hedge_lost")
    assert loser["completion_tokens"] == 0 and loser["prompt_tokens"] > 0 and loser["estimated"] == 1
    assert loser["cost_micros"] == cost("hslow", loser["prompt_tokens"], 0) > 0  # what it cost the operator
    assert served(winner) == ("backup", 200, None) and winner["cost_micros"] == cost("backup", 3, 10)
    assert request["cost_micros"] == winner["cost_micros"]
    charged(site, owner, winner["cost_micros"])


def test_a_buffered_attempt_restarted_elsewhere_is_not_charged(site: Site, account: tuple[str, Clients]) -> None:
    owner, clients = account
    got = clients.chat("buffer-window", stream=True)
    request, (hidden, answer) = rows(site, got, 2)
    assert served(hidden) == ("pcut", None, "stream_cut") and hidden["cost_micros"] == 0
    assert served(answer) == ("backup", 200, None) and answer["cost_micros"] == cost("backup", 3, 10)
    assert request["cost_micros"] == answer["cost_micros"]
    charged(site, owner, answer["cost_micros"])


def test_a_stream_that_ended_in_error_still_pays_for_the_words_it_showed(
    site: Site, account: tuple[str, Clients]
) -> None:
    owner, clients = account
    got = clients.chat("cut-honest", stream=True)
    assert got.error is not None
    request, (cut,) = rows(site, got, 1)
    assert (request["status"], request["error_type"]) == (502, "upstream_error")
    assert cut["completion_tokens"] == 2 and cut["estimated"] == 1
    assert request["cost_micros"] == cut["cost_micros"] == cost("pcut", cut["prompt_tokens"], 2) > 0
    charged(site, owner, cut["cost_micros"])
