"""A picture of an email: headless Chromium (Debian's, never a downloaded one) via Playwright.

One PNG holds the message twice, side by side: in a 600 px frame (desktop) and in a
375 px frame (mobile). Each frame is its own viewport, so MJML's media queries lay the
message out as a client of that width would.
"""

from __future__ import annotations

import html as html_lib
import os
import shutil
from pathlib import Path
from typing import Any

from digest.errors import RenderError

WIDTHS = (("Desktop", 600), ("Mobile", 375))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def find_chromium() -> str | None:
    """$DIGEST_CHROMIUM, else `chromium` (Debian's package) or `chromium-browser` on PATH."""
    return (
        os.environ.get("DIGEST_CHROMIUM")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
    )


def side_by_side(message_html: str, *, background: str = "#e5e7eb") -> str:
    """A page showing the message in a 600 px and a 375 px frame."""
    doc = html_lib.escape(message_html, quote=True)
    frames = "".join(
        f'<figure style="margin:0"><figcaption style="margin:0 0 8px;color:#57606a">'
        f"{label} · {width} px</figcaption>"
        f'<iframe class="mail" width="{width}" style="width:{width}px;height:400px;border:0;'
        f'display:block;background:transparent" srcdoc="{doc}"></iframe></figure>'
        for label, width in WIDTHS
    )
    return (
        '<!doctype html><html><head><meta charset="utf-8"></head>'
        f'<body style="margin:0;padding:16px;background:{background};'
        "font:13px -apple-system,'Segoe UI',Roboto,Arial,sans-serif;display:flex;gap:24px;"
        f'align-items:flex-start;width:max-content">{frames}</body></html>'
    )


def screenshot(message_html: str, out: Path, *, dark: bool = False) -> Path:
    """Write a PNG of the message at desktop and mobile widths, side by side."""
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise RenderError(
            "Screenshots need Playwright's Python package.",
            hint="pip install 'digest[screenshot]' (it drives the system chromium).",
        ) from None
    chromium = find_chromium()
    if chromium is None:
        raise RenderError(
            "Screenshots need Chromium, and none was found.",
            hint="Install Debian's chromium (apt-get install chromium) or set DIGEST_CHROMIUM.",
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    page_html = side_by_side(message_html, background="#010409" if dark else "#e5e7eb")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(
                    viewport={"width": 1100, "height": 800},
                    color_scheme="dark" if dark else "light",
                )
                page.set_default_timeout(30_000)
                page.set_content(page_html, wait_until="load")
                _fit_frames(page)
                page.screenshot(path=str(out), full_page=True)
            finally:
                browser.close()
    except PlaywrightError as exc:
        raise RenderError(
            f"Chromium ({chromium}) could not take the screenshot: {exc.message}"
        ) from None
    return out


def _fit_frames(page: Any) -> None:
    """Make each frame as tall as the message in it, so the full page shows all of it."""
    page.evaluate(
        """() => {
          for (const frame of document.querySelectorAll('iframe.mail')) {
            const doc = frame.contentDocument;
            frame.style.height = doc.documentElement.scrollHeight + 'px';
          }
        }"""
    )
