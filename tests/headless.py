"""Debian's Chromium for the real-browser tests (driven by Playwright).

Importing this module skips the importing test module where Chromium is not
installed, except in CI, which must have it (``.ci/run`` installs it).
"""

import os
import shutil
from pathlib import Path

import pytest

EXECUTABLE = shutil.which("chromium") or shutil.which("chromium-browser")
if EXECUTABLE is None:
    if os.environ.get("CI"):
        raise RuntimeError("CI must install Chromium for the browser tests (.ci/run)")
    pytest.skip("Chromium is not installed here", allow_module_level=True)

#: Headless, and no background traffic: this machine reaches no other host.
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch(playwright):
    """Start the headless Chromium with Playwright."""
    return playwright.chromium.launch(executable_path=EXECUTABLE, args=ARGS)


def screenshot(page, name: str) -> None:
    """Save a screenshot for the docs when SCREENSHOTS_DIR is set."""
    target = os.environ.get("SCREENSHOTS_DIR")
    if not target:
        return
    Path(target).mkdir(parents=True, exist_ok=True)
    # A viewport as tall as the page: sticky form buttons stay at the bottom.
    size = page.viewport_size
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": height})
    page.screenshot(path=str(Path(target) / f"{name}.png"))
    page.set_viewport_size(size)
