"""Secrets from files and ``.env``: ``${file:...}`` references, the ``.env`` file under the
environment, and a rotated secret swapping in at the next reload with the same public version."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from engine.policy.load import load_policy
from engine.policy.secrets import PolicyEnv, fingerprint
from engine.policy.store import PolicyStore
from engine.policy.watch import watch_secrets

POLICY = """\
[channels.openai]
format = "openai"
base_url = "https://api.example.com/v1"
api_key = "{reference}"
models = ["gpt"]

[models.gpt]
price = {{ input = 1.0, output = 2.0 }}
"""


def _policy(directory: Path, reference: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "policy.toml").write_text(POLICY.format(reference=reference))
    return directory


def test_a_secret_file_is_read_trimmed(tmp_path: Path) -> None:
    secret = tmp_path / "run" / "openai"
    secret.parent.mkdir()
    secret.write_text("sk-from-file\n")
    result = load_policy(_policy(tmp_path / "p", f"${{file:{secret}}}"), {})
    assert result.policy is not None
    channel = result.policy.channels["openai"]
    assert channel.enabled and channel.api_key == "sk-from-file"
    assert result.policy.secret_files == (str(secret),)


def test_a_relative_secret_file_is_read_from_the_policy_directory(tmp_path: Path) -> None:
    directory = _policy(tmp_path / "p", "${file:secrets/openai.key}")
    (directory / "secrets").mkdir()
    (directory / "secrets" / "openai.key").write_text("  sk-relative  \n")
    result = load_policy(directory, {})
    assert result.policy is not None and result.policy.channels["openai"].api_key == "sk-relative"


@pytest.mark.parametrize("content", [None, "", "\n  \n"])
def test_a_missing_or_empty_secret_file_disables_the_channel_with_a_warning(
    tmp_path: Path, content: str | None
) -> None:
    secret = tmp_path / "openai"
    if content is not None:
        secret.write_text(content)
    result = load_policy(_policy(tmp_path / "p", f"${{file:{secret}}}"), {})
    assert result.policy is not None
    channel = result.policy.channels["openai"]
    assert not channel.enabled and channel.api_key is None
    assert channel.skip_reason == f"secret file {secret} is missing or empty"
    assert [str(w) for w in result.policy.warnings] == [
        f"policy.toml:4: channels.openai.api_key: warning: secret file {secret} is missing or empty: the channel is disabled"
    ]


def test_dotenv_values_are_usable_and_the_environment_wins(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text('# comment\nexport OPENAI_API_KEY="sk-from-dotenv"\nOTHER=x\n')
    assert PolicyEnv({}, dotenv).read()["OPENAI_API_KEY"] == "sk-from-dotenv"
    assert PolicyEnv({"OPENAI_API_KEY": "sk-env"}, dotenv).read()["OPENAI_API_KEY"] == "sk-env"
    assert PolicyEnv({"A": "1"}, tmp_path / "absent.env").read() == {"A": "1"}
    store = PolicyStore(_policy(tmp_path / "p", "${OPENAI_API_KEY}"), PolicyEnv({}, dotenv))
    assert store.current.channels["openai"].api_key == "sk-from-dotenv"
    assert dotenv in store.secret_sources()


def test_a_rotated_secret_swaps_in_with_the_same_public_version(tmp_path: Path) -> None:
    secret = tmp_path / "openai"
    secret.write_text("sk-old")
    store = PolicyStore(_policy(tmp_path / "p", f"${{file:{secret}}}"), {})
    swapped: list[str | None] = []
    store.subscribe(lambda policy: swapped.append(policy.channels["openai"].api_key))
    before = store.current.version
    assert store.reload().status == "unchanged"
    secret.write_text("sk-new")
    outcome = store.reload()
    assert outcome.status == "swapped" and outcome.version == before
    assert store.current.channels["openai"].api_key == "sk-new" and swapped == ["sk-new"]
    assert "sk-new" not in store.current.secrets_digest and "sk-old" not in store.current.secrets_digest


def test_a_secret_file_appearing_enables_the_channel_and_changes_the_version(tmp_path: Path) -> None:
    secret = tmp_path / "openai"
    store = PolicyStore(_policy(tmp_path / "p", f"${{file:{secret}}}"), {})
    assert not store.current.channels["openai"].enabled
    before = store.current.version
    secret.write_text("sk-late")
    assert store.reload().status == "swapped"
    assert store.current.channels["openai"].enabled and store.current.version != before


def test_fingerprint_sees_a_symlink_swap(tmp_path: Path) -> None:
    (tmp_path / "v1").mkdir()
    (tmp_path / "v2").mkdir()
    (tmp_path / "v1" / "key").write_text("sk-1")
    (tmp_path / "v2" / "key").write_text("sk-2")
    os.symlink("v1", tmp_path / "..data")
    os.symlink("..data/key", tmp_path / "key")
    before = fingerprint([tmp_path / "key"])
    os.symlink("v2", tmp_path / "..data.tmp")
    os.replace(tmp_path / "..data.tmp", tmp_path / "..data")  # how Kubernetes swaps a mounted Secret
    assert fingerprint([tmp_path / "key"]) != before
    assert fingerprint([tmp_path / "missing"]) == (None,)


async def test_the_secret_watcher_reloads_on_rotation(tmp_path: Path) -> None:
    secret = tmp_path / "openai"
    secret.write_text("sk-old")
    store = PolicyStore(_policy(tmp_path / "p", f"${{file:{secret}}}"), {})
    stop = asyncio.Event()
    task = asyncio.create_task(watch_secrets(store, stop, interval=0.02))
    try:
        await asyncio.sleep(0.05)
        secret.write_text("sk-rotated-longer")
        for _ in range(200):
            if store.current.channels["openai"].api_key == "sk-rotated-longer":
                break
            await asyncio.sleep(0.02)
        assert store.current.channels["openai"].api_key == "sk-rotated-longer"
    finally:
        stop.set()
        await task


async def test_a_policy_directory_behind_a_swapped_symlink_is_reloaded(tmp_path: Path) -> None:
    """git-sync: ``current`` points at a checkout; a new commit is a new checkout and a swap."""
    _policy(tmp_path / "rev1", "${OPENAI_API_KEY}")
    _policy(tmp_path / "rev2", "${OPENAI_API_KEY}")
    (tmp_path / "rev2" / "policy.toml").write_text(
        (tmp_path / "rev2" / "policy.toml").read_text().replace("output = 2.0", "output = 3.0")
    )
    os.symlink("rev1", tmp_path / "current")
    store = PolicyStore(tmp_path / "current", {"OPENAI_API_KEY": "sk"})
    before = store.current.version
    stop = asyncio.Event()
    task = asyncio.create_task(watch_secrets(store, stop, interval=0.02))
    try:
        await asyncio.sleep(0.05)
        os.symlink("rev2", tmp_path / "current.tmp")
        os.replace(tmp_path / "current.tmp", tmp_path / "current")
        for _ in range(200):
            if store.current.version != before:
                break
            await asyncio.sleep(0.02)
        assert store.current.version != before
        price = store.current.models["gpt"].price
        assert price is not None and price.output == 3.0
    finally:
        stop.set()
        await task
