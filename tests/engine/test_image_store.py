"""The image store behind ``url`` answers: unguessable names, served until they expire,
expired files deleted (a clock is injected: no test waits)."""

from __future__ import annotations

from pathlib import Path

from engine.media.image_store import ImageStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_saved_images_are_served_until_they_expire(tmp_path: Path) -> None:
    clock = Clock()
    store = ImageStore(tmp_path / "images", ttl=60, clock=clock)
    name = store.save(b"\x89PNG data", "image/png")
    assert name.endswith(".png") and len(name) == 43 + 4
    assert store.load(name) == (b"\x89PNG data", "image/png")
    clock.now += 59
    assert store.load(name) is not None
    clock.now += 1
    assert store.load(name) is None
    assert not (tmp_path / "images" / name).exists()


def test_names_are_random_and_paths_cannot_escape(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "images", ttl=60)
    names = {store.save(b"x", "image/jpeg") for _ in range(20)}
    assert len(names) == 20 and all(n.endswith(".jpg") for n in names)
    (tmp_path / "secret.png").write_bytes(b"secret")
    assert store.load("../secret.png") is None
    assert store.load("short.png") is None


def test_sweep_deletes_only_expired_images(tmp_path: Path) -> None:
    clock = Clock()
    store = ImageStore(tmp_path / "images", ttl=10, clock=clock)
    old = store.save(b"old", "image/png")
    clock.now += 5
    young = store.save(b"young", "image/webp")
    clock.now += 6
    assert store.sweep() == 1
    assert store.load(old) is None and store.load(young) == (b"young", "image/webp")
