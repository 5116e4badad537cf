"""Hot reload: watch the policy directory and reload the store on any change in it; poll
the secret files and ``.env`` the policy reads (``watch_secrets``).

The *directory* is watched, not the files: after an editor's atomic rename-over, or a
Kubernetes ConfigMap swapping its ``..data`` symlink, a watch on a file path goes silent
and the file's name may never appear among the changes. Any change triggers
``store.reload()``, which compares the content hash, so noise (swap files, ``.git``)
costs one re-read and swaps nothing. Each outcome is logged by the store
(logger ``turnout.policy``). The reload runs in a worker thread so that reading and
compiling a large policy never stalls requests in flight; the swap itself is one
attribute assignment.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable

from watchfiles import Change, awatch

from engine.policy.secrets import fingerprint
from engine.policy.store import PolicyStore, ReloadOutcome

Changes = set[tuple[Change, str]]


async def watch_policy(
    store: PolicyStore,
    stop: asyncio.Event,
    *,
    debounce_ms: int = 50,
    ready: asyncio.Event | None = None,
    on_reload: Callable[[ReloadOutcome], None] | None = None,
) -> None:
    """Reload ``store`` on every change under its directory until ``stop`` is set.

    ``ready`` (optional) is set once the watch is in place: changes made after it are seen;
    ``on_reload`` (optional) is told each reload's outcome (for the metrics).
    """
    changes = awatch(
        store.directory,
        watch_filter=None,
        debounce=debounce_ms,
        step=min(50, debounce_ms),
        stop_event=stop,
    )
    pending = asyncio.ensure_future(_next(changes))
    await asyncio.sleep(0)  # the first step of `pending` creates the watcher, synchronously
    if ready is not None:
        ready.set()
    try:
        while True:
            try:
                await pending
            except StopAsyncIteration:
                return
            # load + compile off the event loop: requests keep flowing during a reload
            outcome = await asyncio.to_thread(store.reload)
            if on_reload is not None:
                on_reload(outcome)
            pending = asyncio.ensure_future(_next(changes))
    finally:
        if not pending.done():
            pending.cancel()
            await asyncio.wait([pending])
        await changes.aclose()


async def watch_secrets(
    store: PolicyStore,
    stop: asyncio.Event,
    *,
    interval: float = 1.0,
    on_reload: Callable[[ReloadOutcome], None] | None = None,
) -> None:
    """Reload ``store`` when a secret file it reads (``${file:...}``) or the ``.env`` file
    changes. They live outside the policy directory (a Kubernetes Secret is its own mount),
    so they are polled: a few ``stat`` calls every ``interval`` seconds."""
    seen = fingerprint(store.secret_sources())
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), interval)
            return
        except TimeoutError:
            pass
        now = fingerprint(store.secret_sources())
        if now != seen:
            seen = now  # (a reloaded policy naming other files differs next time: one more reload)
            outcome = await asyncio.to_thread(store.reload)
            if on_reload is not None:
                on_reload(outcome)


async def _next(changes: AsyncGenerator[Changes, None]) -> Changes:
    return await changes.__anext__()
