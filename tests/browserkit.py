"""Chromium for the browser tests: one way to open a page as a resident's phone would."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.conftest import chromium_path

PHONE = {"width": 390, "height": 844}
# elements wider than the page (tables scroll in their own box), and text set justified
OVERFLOWING = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
  .filter(e => !e.closest('table'))
  .map(e => e.tagName + '.' + e.className)"""
JUSTIFIED = """() => [...document.querySelectorAll('body, body *')]
  .filter(e => getComputedStyle(e).textAlign === 'justify').map(e => e.tagName)"""
_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


@contextmanager
def phone_page(
    width: int = PHONE["width"], height: int = PHONE["height"], locale: str = "vi-VN"
) -> Iterator[Any]:
    """A page in Debian's Chromium at this size, asking for `locale` (Vietnamese unless told: Chromium
    would send en-US, and pages follow Accept-Language: web/language.py); closed with its browser."""
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=_ARGS)
        try:
            page = browser.new_context(viewport={"width": width, "height": height}, locale=locale).new_page()
            page.set_default_timeout(15_000)
            yield page
        finally:
            browser.close()


def page_errors(page: Any, *, failed_requests: bool = False) -> list[str]:
    """A list that fills with what the page logs as errors, its uncaught exceptions and, when asked,
    the requests that failed (an image that did not load): a test asserts it stays empty."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    if failed_requests:
        page.on("requestfailed", lambda request: errors.append(f"failed: {request.url}"))
    return errors
