"""PolicyStore: transactional reloads, listeners, and what a failed reload leaves behind."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from engine.policy.compiled import CompiledPolicy
from engine.policy.store import PolicyLoadError, PolicyStore

GOOD = """\
[channels.demo]
format = "openai"
base_url = "demo://local"
models = ["demo-echo"]

[models.demo-echo]
price = { input = 0.0, output = 0.0 }
"""
CHANGED = GOOD.replace("output = 0.0", "output = 1.0")
BROKEN = GOOD.replace('models = ["demo-echo"]', 'models = ["demo-echoo"]')


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    (tmp_path / "policy.toml").write_text(GOOD)
    return tmp_path


def test_a_broken_initial_policy_raises_with_its_diagnostics(tmp_path: Path) -> None:
    (tmp_path / "policy.toml").write_text(BROKEN)
    with pytest.raises(PolicyLoadError) as caught:
        PolicyStore(tmp_path, {})
    assert [str(d) for d in caught.value.diagnostics] == [
        "policy.toml:4: channels.demo.models.0: unknown model 'demo-echoo' (known: demo-echo)",
        "policy.toml:6: models.demo-echo: no channel serves this model (list it in a channel's models)",
    ]
    assert "unknown model 'demo-echoo'" in str(caught.value)


def test_unchanged_content_swaps_nothing(policy_dir: Path) -> None:
    store = PolicyStore(policy_dir, {})
    before = store.current
    (policy_dir / "policy.toml").write_text("# a new comment\n" + GOOD)
    outcome = store.reload()
    assert (outcome.status, outcome.version, outcome.previous_version) == (
        "unchanged",
        before.version,
        before.version,
    )
    assert store.current is before


def test_a_change_swaps_and_notifies(policy_dir: Path) -> None:
    store = PolicyStore(policy_dir, {})
    before = store.current
    seen: list[CompiledPolicy] = []
    store.subscribe(seen.append)
    (policy_dir / "policy.toml").write_text(CHANGED)
    outcome = store.reload()
    assert outcome.swapped
    assert outcome.previous_version == before.version
    assert outcome.version == store.current.version != before.version
    assert seen == [store.current]
    assert store.loaded_at == store.current.loaded_at
    price = store.current.models["demo-echo"].price
    assert price is not None and price.output == 1.0


def test_a_failed_reload_keeps_serving_the_old_policy(policy_dir: Path) -> None:
    store = PolicyStore(policy_dir, {})
    before = store.current
    seen: list[CompiledPolicy] = []
    store.subscribe(seen.append)
    (policy_dir / "policy.toml").write_text(BROKEN)
    outcome = store.reload()
    assert outcome.status == "failed"
    assert outcome.version == before.version
    assert store.current is before
    assert store.last_error is not None
    assert store.last_error[0] == (
        "policy.toml:4: channels.demo.models.0: unknown model 'demo-echoo' (known: demo-echo)"
    )
    assert store.last_error_at is not None
    assert seen == []

    (policy_dir / "policy.toml").write_text(CHANGED)
    fixed = store.reload()
    assert fixed.swapped
    assert store.last_error is None and store.last_error_at is None
    assert seen == [store.current]


def test_reverting_a_bad_edit_clears_the_error(policy_dir: Path) -> None:
    store = PolicyStore(policy_dir, {})
    (policy_dir / "policy.toml").write_text(BROKEN)
    store.reload()
    (policy_dir / "policy.toml").write_text(GOOD)
    assert store.reload().status == "unchanged"
    assert store.last_error is None


def test_unsubscribe_and_a_failing_listener(policy_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = PolicyStore(policy_dir, {})
    seen: list[str] = []

    def explode(policy: CompiledPolicy) -> None:
        raise RuntimeError("listener bug")

    store.subscribe(explode)
    unsubscribe = store.subscribe(lambda p: seen.append(p.version))
    (policy_dir / "policy.toml").write_text(CHANGED)
    with caplog.at_level(logging.INFO, logger="turnout.policy"):
        assert store.reload().swapped
    assert seen == [store.current.version]
    assert "listener" in caplog.text
    unsubscribe()
    (policy_dir / "policy.toml").write_text(GOOD)
    assert store.reload().swapped
    assert seen == [seen[0]]


def test_reloads_are_logged_with_versions(policy_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = PolicyStore(policy_dir, {})
    old = store.current.version
    (policy_dir / "policy.toml").write_text(CHANGED)
    with caplog.at_level(logging.INFO, logger="turnout.policy"):
        store.reload()
        (policy_dir / "policy.toml").write_text(BROKEN)
        store.reload()
    new = store.current.version
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == f"policy reloaded: version {new} (was {old}), 0 warnings"
    assert messages[1].startswith(f"policy reload failed, still serving version {new}:\n")


def test_a_crashing_loader_is_a_failed_reload(policy_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = PolicyStore(policy_dir, {})
    serving = store.current

    def crash(directory: Path, env: object) -> None:
        raise RecursionError("too deep")

    monkeypatch.setattr("engine.policy.store.load_policy", crash)
    outcome = store.reload()
    assert outcome.status == "failed"
    assert store.current is serving
    assert store.last_error == [".:0: policy: internal error while loading: RecursionError('too deep')"]
