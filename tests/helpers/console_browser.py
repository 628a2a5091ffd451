"""Driving the console in Debian's Chromium with Playwright (no browser download): launching,
signing in, and checking pages with axe-core (a vendored copy, injected)."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from testbed.programs import require_program
from tests.helpers.data import DATA

AXE = DATA / "vendor" / "axe-core" / "axe.min.js"
SCREENSHOTS_ENV = "CALLREEL_SCREENSHOT_DIR"
"""Set to a directory (docs/screenshots) to keep the run's screenshots of the main pages."""

_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these, Chromium tries Google's hosts at every start; the network is closed.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=require_program("chromium"), args=_FLAGS
        )
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def console_context(browser: Browser, *, bypass_csp: bool = False) -> Iterator[BrowserContext]:
    """A fresh profile. The vault's certificate is its own, pinned by agents; the browser is
    told to accept it rather than given a CA store (TLS pinning is tested elsewhere).
    `bypass_csp` only for injecting axe-core, which the console's policy rightly refuses."""
    context = browser.new_context(
        ignore_https_errors=True, bypass_csp=bypass_csp, viewport={"width": 1366, "height": 850}
    )
    try:
        yield context
    finally:
        context.close()


def sign_in(page: Page, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/console/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/console/sign-in" not in url)


def wait_in_page(page: Page, expression: str, timeout_s: float = 15.0) -> None:
    """Until the JavaScript `expression` is true in the page. Polled with page.evaluate:
    Playwright's wait_for_function evaluates strings inside the page, which the console's
    Content-Security-Policy (no 'unsafe-eval') rightly refuses."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout_s} s in the page: {expression}")
        page.wait_for_timeout(50)


def serious_accessibility_problems(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page, one line each."""
    page.add_script_tag(path=str(AXE))
    result: dict[str, Any] = page.evaluate("async () => await axe.run(document)")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def keep_screenshot(page: Page, name: str, fallback_dir: Path) -> Path:
    directory = Path(os.environ.get(SCREENSHOTS_ENV) or fallback_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.png"
    page.evaluate("window.scrollTo(0, 0)")  # a click may have scrolled the page
    page.screenshot(path=str(path), full_page=False)
    return path
