"""Candidate policies load as in production: every secret reference counts as set, unless
``--real-env``; a policy with errors is one line naming them."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.replay.load import PolicyLoadError, load
from tests.replay.builders import BASE_POLICY
from tests.support.policy_files import write_policy

FILE_KEYED = BASE_POLICY.replace(
    '[channels.spare]\nformat = "openai"\nbase_url = "https://spare.example.test/v1"\napi_key = "${REPLAY_TEST_KEY}"',
    '[channels.spare]\nformat = "openai"\nbase_url = "https://spare.example.test/v1"\n'
    'api_key = "${file:/nonexistent/turnout-replay-key}"',
)


def test_unset_variables_and_missing_secret_files_count_as_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REPLAY_TEST_KEY", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    assert "${file:" in FILE_KEYED
    write_policy(tmp_path / "p", FILE_KEYED)
    placeholder = load(tmp_path / "p", False, "p")
    assert placeholder.models["cheap"].channels == ("main", "spare")
    real = load(tmp_path / "p", True, "p")
    assert real.models["cheap"].channels == ()
    monkeypatch.setenv("REPLAY_TEST_KEY", "set")
    assert load(tmp_path / "p", True, "p").models["cheap"].channels == ("main",)


def test_a_policy_with_errors_is_one_line(tmp_path: Path) -> None:
    write_policy(tmp_path / "p", BASE_POLICY.replace('candidates = ["cheap"]\n', 'candidates = ["nowhere"]\n', 1))
    with pytest.raises(PolicyLoadError, match=r"^p: the policy has errors: .*nowhere") as raised:
        load(tmp_path / "p", False, "p")
    assert "\n" not in str(raised.value)
    with pytest.raises(PolicyLoadError, match="no policy directory"):
        load(tmp_path / "missing", False, "missing")
