"""Where images answered as ``url`` live: files under the data directory, each at an
unguessable name (32 random bytes, URL-safe), served by ``GET /v1/images/files/{name}``
until they expire (``TURNOUT_IMAGE_URL_TTL``, an hour by default), then deleted.

The files are shared by every worker of a host (the data directory); the expiry is the
file's modification time plus the TTL, so no index is kept. Expired files are swept when
a new image is saved (at most once a minute) and whenever one is asked for.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Callable
from pathlib import Path

EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}
MEDIA_TYPES = {ext: media for media, ext in EXTENSIONS.items()}
_NAME = re.compile(r"[A-Za-z0-9_-]{43}\.(png|jpg|webp|gif)")
SWEEP_EVERY = 60.0


class ImageStore:
    def __init__(self, directory: Path, ttl: float, clock: Callable[[], float] = time.time) -> None:
        self.directory = directory
        self.ttl = ttl
        self._clock = clock
        self._swept = 0.0

    def save(self, data: bytes, media_type: str) -> str:
        """Store one image; its file name (the unguessable part of its URL)."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = f"{secrets.token_urlsafe(32)}.{EXTENSIONS.get(media_type, 'png')}"
        path = self.directory / name
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
            out.write(data)
        now = self._clock()
        os.utime(path, (now, now))
        if now - self._swept > SWEEP_EVERY:
            self._swept = now
            self.sweep()
        return name

    def load(self, name: str) -> tuple[bytes, str] | None:
        """The image and its media type, or None when unknown or expired (then deleted)."""
        if _NAME.fullmatch(name) is None:
            return None
        path = self.directory / name
        try:
            stamp = path.stat().st_mtime
        except OSError:
            return None
        if self._clock() >= stamp + self.ttl:
            path.unlink(missing_ok=True)
            return None
        try:
            data = path.read_bytes()
        except OSError:
            return None
        return data, MEDIA_TYPES[name.rsplit(".", 1)[1]]

    def sweep(self) -> int:
        """Delete every expired image; how many were."""
        if not self.directory.is_dir():
            return 0
        limit = self._clock() - self.ttl
        removed = 0
        for path in self.directory.iterdir():
            try:
                if _NAME.fullmatch(path.name) and path.stat().st_mtime <= limit:
                    path.unlink()
                    removed += 1
            except OSError:
                continue
        return removed
