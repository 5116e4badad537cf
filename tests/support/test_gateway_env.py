"""The gateway child's environment: basics inherited, secrets and settings not."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.gateway import gateway_env
from tests.support.policy_files import write_policy


def test_only_basics_are_inherited(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-outer-secret")
    monkeypatch.setenv("TURNOUT_API_KEYS", "outer")
    monkeypatch.setenv("PATH", "/usr/bin")
    env = gateway_env({"FAKE_KEY": "k", "TURNOUT_BODY_LIMIT": "10"}, tmp_path)
    assert "OPENAI_API_KEY" not in env and "TURNOUT_API_KEYS" not in env
    assert env["PATH"] == "/usr/bin"
    assert env["TURNOUT_DATA_DIR"] == str(tmp_path)
    assert (env["FAKE_KEY"], env["TURNOUT_BODY_LIMIT"]) == ("k", "10")


def test_given_env_overrides_the_defaults(tmp_path: Path) -> None:
    assert gateway_env({"TURNOUT_DATA_DIR": "/elsewhere"}, tmp_path)["TURNOUT_DATA_DIR"] == "/elsewhere"


def test_write_policy_replaces_the_file_whole(tmp_path: Path) -> None:
    first = write_policy(tmp_path / "p", "a = 1\n")
    second = write_policy(tmp_path / "p", "b = 2\n")
    assert first == second == tmp_path / "p" / "policy.toml"
    assert second.read_text() == "b = 2\n"
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == ["policy.toml"]
