"""Render: golden emails from a fixed clock and Message-ID (DIGEST_UPDATE_GOLDEN=1 rewrites
them; a change fails with a unified diff)."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from digest.models import DeliveryKind
from digest.render import Renderer
from tests.digests import NOW, make_digest
from tests.render_fixtures import render

GOLDEN = Path(__file__).parent / "golden"


def assert_golden(name: str, actual: str) -> None:
    """Compare with tests/golden/NAME; DIGEST_UPDATE_GOLDEN=1 rewrites it instead."""
    path = GOLDEN / name
    if os.environ.get("DIGEST_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8", newline="")
        return
    expected = path.read_bytes().decode("utf-8") if path.exists() else ""
    if actual != expected:
        diff = difflib.unified_diff(
            expected.splitlines(keepends=True),
            actual.splitlines(keepends=True),
            f"tests/golden/{name}",
            "rendered now",
        )
        pytest.fail(
            "".join(diff)[:20_000] + "\nRun DIGEST_UPDATE_GOLDEN=1 pytest to accept the change.",
            pytrace=False,
        )


@pytest.mark.parametrize("kind", ["digest", "alert"])
def test_golden_html_and_text(renderer: Renderer, kind: DeliveryKind) -> None:
    digest = (
        make_digest(kind=kind)
        if kind == "digest"
        else make_digest(items_per_theme=(1,), kind="alert")
    )
    rendered = render(renderer, digest)
    assert_golden(f"{kind}.html", rendered.html)
    assert_golden(f"{kind}.txt", rendered.text)


def test_golden_message(renderer: Renderer) -> None:
    raw = renderer.build_message(
        render(renderer, make_digest()), recipient="analyst@example.org", date=NOW
    )
    assert_golden("digest.eml", raw.decode("ascii"))
