"""Chromium for browser tests: Debian's ``chromium`` package driven by Playwright.

Playwright's own browser downloads are not used (``playwright install`` is never run): the
launcher points Playwright at the system browser. Without one, browser tests are skipped
with the reason, except where ``GRIDPORTAL_REQUIRE_BROWSER=1`` (set by ``make test``) turns
the skip into a failure, so that CI never passes by skipping them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

REQUIRE_ENV = "GRIDPORTAL_REQUIRE_BROWSER"
DEBIAN_CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",  # tests may run as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium_path() -> str | None:
    """The system Chromium, or None when it is not installed."""
    found = shutil.which("chromium")
    if found:
        return found
    return str(DEBIAN_CHROMIUM) if DEBIAN_CHROMIUM.is_file() else None


def require_chromium() -> str:
    """The system Chromium's path; skips the test (or fails it, when required) without one."""
    path = chromium_path()
    if path is not None:
        return path
    reason = "Debian's chromium package is not installed (`make system-deps` installs it)"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason}; {REQUIRE_ENV}=1 forbids skipping browser tests")
    pytest.skip(reason)


def launch_chromium(playwright: Playwright, **options: Any) -> Browser:
    """A headless Chromium from the system package, launched by ``playwright``."""
    return playwright.chromium.launch(
        executable_path=require_chromium(),
        args=list(CHROMIUM_ARGS),
        headless=True,
        **options,
    )


@contextmanager
def chromium() -> Iterator[Browser]:
    """Playwright and a browser for a block of tests (a module or session fixture)."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            yield browser
        finally:
            browser.close()


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's violations on the page as loaded (every rule axe enables by default).

    The engine is the copy the ``axe-playwright-python`` package ships; it is evaluated
    through the DevTools protocol, which the page's Content-Security-Policy does not govern
    (an injected <script> would be refused, as it should be).
    """
    from importlib.resources import files

    source = files("axe_playwright_python").joinpath("axe.min.js").read_text(encoding="utf-8")
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(source)
    result: dict[str, Any] = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:5],
        }
        for v in result["violations"]
    ]
