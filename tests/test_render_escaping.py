"""Render: hostile titles and summaries stay text, in the HTML and in the headers."""

from __future__ import annotations

from dataclasses import replace

import pytest

from digest.config import Settings
from digest.render import Renderer, build_message, template_environment
from tests.digests import HOSTILE_TITLE, NOW, make_digest
from tests.render_fixtures import parse, render

# -- the HTML --------------------------------------------------------------------------------------


def test_hostile_titles_and_summaries_are_escaped(renderer: Renderer) -> None:
    rendered = render(renderer, make_digest(hostile=True))
    html = rendered.html
    assert "<script>" not in html and "javascript:" not in html and "onerror" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "{{ 7*7 }}" in html  # shown as text, never evaluated
    assert "49" not in html.split("<body")[1].split("Korea Watch")[0]
    assert "</mj-text>" not in html.replace("&lt;/mj-text&gt;", "")
    assert "javascript:" not in rendered.text


def test_autoescape_is_explicit_for_mjml_and_off_for_text(settings: Settings) -> None:
    env = template_environment(settings)
    assert env.autoescape("digest.mjml.j2") is True  # type: ignore[operator]
    assert env.autoescape("digest.txt.j2") is False  # type: ignore[operator]


# -- the headers -----------------------------------------------------------------------------------


@pytest.mark.parametrize("breaker", ["\r", "\n", "\r\n", "\u2028", "\u2029", "\x85", "\x0b"])
def test_no_header_injection_from_titles(renderer: Renderer, breaker: str) -> None:
    evil = f"Launch{breaker}Bcc: victim@example.net{breaker}{breaker}<b>body</b>"
    digest = make_digest(items_per_theme=(1,), kind="alert")
    first = digest.sections[0].entries[0]
    digest = replace(
        digest,
        sections=(
            replace(
                digest.sections[0], entries=(replace(first, item=replace(first.item, title=evil)),)
            ),
        ),
    )
    rendered = render(renderer, digest)
    # Even a subject that kept the breaker (a custom subject, say) cannot add a header.
    for subject in (rendered.subject, evil):
        raw = build_message(
            replace(rendered, subject=subject),
            sender="Korea Watch <digest@example.org>",
            recipient="analyst@example.org",
            reply_to=None,
            date=NOW,
        )
        message = parse(raw)
        assert message["Bcc"] is None
        assert "victim@example.net" in message["Subject"]
        head = raw.split(b"\r\n\r\n", 1)[0]
        assert all(line[:1] in (b" ", b"\t") or b":" in line for line in head.split(b"\r\n"))
        assert not message.defects


def test_header_text_fast_path_agrees_with_the_careful_one() -> None:
    import unicodedata

    from digest.mime import header_text

    def careful(value: str) -> str:
        kept = (" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in value)
        return " ".join("".join(kept).split())

    for code in [*range(0x3000), 0x3000, 0xFEFF, 0x1F600, 0xE000, 0x10FFFF]:
        value = f"Launch{chr(code)}Bcc: x {chr(code)}"
        assert header_text(value) == careful(value), hex(code)


def test_a_title_with_long_words_keeps_headers_within_the_hard_limit(renderer: Renderer) -> None:
    rendered = replace(render(renderer, make_digest()), subject="x" * 290 + " " + HOSTILE_TITLE)
    raw = renderer.build_message(rendered, recipient="a@example.org", date=NOW)
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
