"""Render: the email in Debian's chromium: contrast in light and dark mode, screenshots."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pytest

from digest.render import Renderer
from tests.digests import make_digest
from tests.render_fixtures import render

if TYPE_CHECKING:
    from playwright.sync_api import Browser


@pytest.fixture
def chromium() -> str:
    """Debian's chromium; a failure, not a skip, when CI says a browser must be there."""
    from digest.screenshot import find_chromium

    found = find_chromium()
    if found is None:
        if os.environ.get("DIGEST_REQUIRE_BROWSER") == "1":
            pytest.fail("DIGEST_REQUIRE_BROWSER=1 but no chromium was found")
        pytest.skip("no chromium on PATH (apt-get install chromium); browser tests skipped")
    return found


@pytest.fixture
def browser(chromium: str) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    from digest.screenshot import CHROMIUM_ARGS

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _luminance(rgb: str) -> float:
    r, g, b = (int(v) / 255 for v in re.findall(r"\d+", rgb)[:3])
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


@pytest.mark.browser
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_is_readable_in_light_and_dark_mode(
    browser: Browser, renderer: Renderer, scheme: Literal["light", "dark"]
) -> None:
    page = browser.new_page(viewport={"width": 600, "height": 800}, color_scheme=scheme)
    page.set_content(render(renderer, make_digest()).html)
    colours = page.evaluate(
        """() => {
          const card = document.querySelector('.card');
          const cell = card.querySelector('td');
          const bg = getComputedStyle(cell).backgroundColor !== 'rgba(0, 0, 0, 0)'
            ? getComputedStyle(cell).backgroundColor : getComputedStyle(card).backgroundColor;
          const pick = (sel) => getComputedStyle(document.querySelector(sel)).color;
          return {bg, title: pick('.item h3 a'), body: pick('.item p:not(.muted)'),
                  muted: pick('.item p.muted')};
        }"""
    )
    page.close()
    dark_background = _luminance(colours["bg"]) < 0.1
    assert dark_background == (scheme == "dark"), colours
    for name in ("title", "body", "muted"):
        assert _contrast(colours[name], colours["bg"]) >= 4.5, (name, colours)


@pytest.mark.browser
def test_preview_screenshot_shows_desktop_and_mobile(chromium: str, sample_config: Path) -> None:
    from click.testing import CliRunner

    from digest.cli import cli

    out = sample_config.parent / "preview.png"
    runner = CliRunner()
    assert runner.invoke(cli, ["--config", str(sample_config), "ingest"]).exit_code == 0
    result = runner.invoke(
        cli,
        [
            "--config",
            str(sample_config),
            "preview",
            "analyst@example.org",
            "--screenshot",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "600 px and mobile 375 px" in result.output
    png = out.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert width >= 600 + 375 and height > 600
