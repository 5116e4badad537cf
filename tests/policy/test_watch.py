"""Hot reload from real file changes: in-place edits, editor rename-over, ConfigMap swaps."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.policy.compiled import CompiledPolicy
from engine.policy.store import PolicyStore
from engine.policy.watch import watch_policy

GOOD = """\
[channels.demo]
format = "openai"
base_url = "demo://local"
models = ["demo-echo"]

[models.demo-echo]
price = { input = 0.0, output = 0.0 }
"""
BROKEN = GOOD.replace("output = 0.0", 'output = "free"')
GUARD = 10.0  # seconds: only a hang guard, never a latency assertion


def priced(output: float) -> str:
    return GOOD.replace("output = 0.0", f"output = {output}")


def output_price(policy: CompiledPolicy) -> float:
    price = policy.models["demo-echo"].price
    assert price is not None
    return price.output


@dataclass
class Watched:
    store: PolicyStore
    swaps: asyncio.Queue[CompiledPolicy]

    async def next_swap(self) -> CompiledPolicy:
        async with asyncio.timeout(GUARD):
            return await self.swaps.get()

    async def failed_reload(self) -> list[str]:
        async with asyncio.timeout(GUARD):
            while self.store.last_error is None:
                await asyncio.sleep(0.01)
        return self.store.last_error


async def watching(directory: Path) -> AsyncIterator[Watched]:
    store = PolicyStore(directory, {})
    swaps: asyncio.Queue[CompiledPolicy] = asyncio.Queue()
    store.subscribe(swaps.put_nowait)
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(watch_policy(store, stop, ready=ready))
    async with asyncio.timeout(GUARD):
        await ready.wait()
    try:
        yield Watched(store, swaps)
    finally:
        stop.set()
        async with asyncio.timeout(GUARD):
            await task


@pytest.fixture
async def plain_dir(tmp_path: Path) -> AsyncIterator[Watched]:
    (tmp_path / "policy.toml").write_text(GOOD)
    async for watched in watching(tmp_path):
        yield watched


async def test_in_place_edit(plain_dir: Watched) -> None:
    path = plain_dir.store.directory / "policy.toml"
    with path.open("r+") as handle:
        handle.truncate(0)
        handle.write(priced(1.5))
    policy = await plain_dir.next_swap()
    assert output_price(policy) == 1.5
    assert plain_dir.store.current is policy


async def test_editor_rename_over(plain_dir: Watched) -> None:
    directory = plain_dir.store.directory
    for output in (2.0, 3.0):  # twice: a watch on the file itself would miss the second
        (directory / ".policy.toml.tmp").write_text(priced(output))
        os.replace(directory / ".policy.toml.tmp", directory / "policy.toml")
        assert output_price(await plain_dir.next_swap()) == output


async def test_new_file_in_a_subdirectory(plain_dir: Watched) -> None:
    extra = plain_dir.store.directory / "more" / "aliases.toml"
    extra.parent.mkdir()
    extra.write_text('[aliases.auto]\ncandidates = ["demo-echo"]\n')
    policy = await plain_dir.next_swap()
    assert set(policy.aliases) == {"auto"}


async def test_a_bad_edit_is_kept_out_then_a_fix_goes_live(plain_dir: Watched) -> None:
    store = plain_dir.store
    serving = store.current
    (store.directory / "policy.toml").write_text(BROKEN)
    errors = await plain_dir.failed_reload()
    assert errors == ["policy.toml:7: models.demo-echo.price.output: expected a number, got a string"]
    assert store.current is serving
    assert plain_dir.swaps.empty()

    (store.directory / "policy.toml").write_text(priced(4.0))
    policy = await plain_dir.next_swap()
    assert output_price(policy) == 4.0
    assert store.last_error is None


def configmap_revision(directory: Path, name: str, text: str) -> None:
    """Write a revision the way the kubelet does: new timestamped dir, then swap ..data."""
    revision = directory / name
    revision.mkdir()
    (revision / "policy.toml").write_text(text)
    (directory / "..data_tmp").symlink_to(name)
    os.replace(directory / "..data_tmp", directory / "..data")


async def test_configmap_symlink_swap(tmp_path: Path) -> None:
    configmap_revision(tmp_path, "..2026_11_22_10_00_00.000000001", GOOD)
    (tmp_path / "policy.toml").symlink_to("..data/policy.toml")
    async for watched in watching(tmp_path):
        for index, output in enumerate((5.0, 6.0), start=2):
            old = os.readlink(tmp_path / "..data")
            configmap_revision(tmp_path, f"..2026_11_22_10_00_00.00000000{index}", priced(output))
            shutil.rmtree(tmp_path / old)
            assert output_price(await watched.next_swap()) == output
        assert watched.store.last_error is None
