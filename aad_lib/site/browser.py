"""A headless Chromium for the report site: Debian's ``chromium`` package driven through Playwright
(the ``test`` extra). Playwright's own browser download (``playwright install``) is never used: it
fetches a build from a CDN, which offline machines and CI cannot reach; ``make test`` installs
Debian's package instead."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..files import atomic_write_bytes
from ..validation import AadError

CHROMIUM = Path("/usr/bin/chromium")
VIEWPORT = {"width": 1280, "height": 900}


def launch(playwright: Any, executable: str | Path = CHROMIUM) -> Any:
    """A headless Chromium browser from ``executable`` (Debian's package by default), through a
    started ``playwright`` (``sync_playwright().start()`` or its context manager)."""
    if not Path(executable).is_file():
        raise AadError(f"{executable} not found: install Debian's Chromium (`apt-get install chromium`, done by "
                       "`make test`); `playwright install` is not used.")
    return playwright.chromium.launch(executable_path=str(executable))


def screenshot(page: str | Path, out: str | Path, executable: str | Path = CHROMIUM) -> Path:
    """A full-page PNG of the HTML file ``page`` (e.g. the site's ``index.html``), written
    atomically to ``out``."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as err:
        raise AadError("the screenshot needs playwright: pip install -e '.[test]' (or `make setup`).") from err
    page = Path(page).resolve()
    if not page.is_file():
        raise AadError(f"{page} not found: build the site first (`aad site`).")
    with sync_playwright() as playwright:
        browser = launch(playwright, executable)
        try:
            view = browser.new_page(viewport=VIEWPORT)
            view.goto(page.as_uri(), wait_until="load")
            image = view.screenshot(full_page=True)
        finally:
            browser.close()
    return atomic_write_bytes(out, image)
