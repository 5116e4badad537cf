"""Playwright driving Debian's Chromium (``apt-get install chromium``), for the console tests.

Playwright's own browser download cannot be fetched on these machines; the distribution's
build is launched by its path instead (``CHROMIUM``, or ``TURNOUT_TEST_CHROMIUM``). As root
it runs without the sandbox, which needs user namespaces a container may not offer.
"""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import Browser, Page, Playwright, ViewportSize

CHROMIUM = os.environ.get("TURNOUT_TEST_CHROMIUM", "/usr/bin/chromium")
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}  # an iPhone 12-15 in CSS pixels


def launch(playwright: Playwright) -> Browser:
    if not Path(CHROMIUM).exists():
        raise AssertionError(f"no Chromium at {CHROMIUM}: install it with `apt-get install -y chromium` (.ci/run does)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])


def horizontal_overflow(page: Page) -> int:
    """How many CSS pixels the document is wider than the viewport (0: no horizontal scrolling)."""
    width: int = page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
    return max(width, 0)
