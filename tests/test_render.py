"""Render: templates, compile-once MJML, escaping, golden files, and the wire message."""

from __future__ import annotations

import difflib
import email
import os
import re
from dataclasses import replace
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from digest.config import Settings, load_settings
from digest.errors import RenderError
from digest.models import Digest, RenderedEmail
from digest.render import Renderer, build_message, compile_mjml, template_environment
from tests.conftest import REPO
from tests.digests import (
    HOSTILE_TITLE,
    LINKS,
    NOW,
    make_digest,
    subscriber,
)

GOLDEN = Path(__file__).parent / "golden"
KEY = "digest:7:2026-11-22T12:00Z"


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings(REPO / "config.toml")


@pytest.fixture(scope="module")
def renderer(settings: Settings) -> Renderer:
    return Renderer(settings)


def render(renderer: Renderer, digest: Digest) -> RenderedEmail:
    return renderer.render_digest(digest, links=LINKS, key=KEY, now=NOW)


def parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


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


# -- compile once ---------------------------------------------------------------------------

CASES = {
    "two-sections": make_digest(),
    "hostile": make_digest(hostile=True),
    "empty": make_digest(items_per_theme=(0, 0)),
    "omitted": make_digest(items_per_theme=(3, 2), omitted=4),
    "alert": make_digest(items_per_theme=(1,), kind="alert"),
    "alert-hostile": make_digest(items_per_theme=(2,), kind="alert", hostile=True),
    "thirty": make_digest(items_per_theme=(20, 10)),
}


@pytest.mark.parametrize("case", CASES)
def test_compiled_once_equals_compiling_per_subscriber(
    settings: Settings, renderer: Renderer, case: str
) -> None:
    once = Renderer(settings, verify=False)
    each = Renderer(settings, compile_each=True)
    assert render(once, CASES[case]).html == render(each, CASES[case]).html


def test_the_packaged_templates_pass_their_own_check(renderer: Renderer) -> None:
    render(renderer, make_digest())
    render(renderer, make_digest(items_per_theme=(1,), kind="alert"))  # type: ignore[arg-type]
    assert renderer.checked == {"digest", "alert"} and not renderer.fallback


def test_a_template_the_compile_cannot_carry_falls_back_to_compiling_each(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "digest.mjml.j2").write_text(
        "<mjml><mj-body><mj-section>{% for s in digest.sections %}<mj-column><mj-text>"
        "{{ s.label }}</mj-text></mj-column>{% endfor %}</mj-section></mj-body></mjml>"
    )
    settings = load_settings(REPO / "config.toml").model_copy(update={"base_dir": tmp_path})
    renderer = Renderer(settings)
    html = render(renderer, make_digest()).html
    assert renderer.fallback == {"digest"} and "compiling it per subscriber" in caplog.text
    assert html == render(Renderer(settings, compile_each=True), make_digest()).html
    assert "mj-column-per-50" in html  # two columns, as MJML lays out two


def test_mjml_is_compiled_once_per_template(settings: Settings) -> None:
    calls: list[str] = []
    env = template_environment(settings)
    loader = env.loader
    original = loader.get_source  # type: ignore[union-attr]

    def counting(environment, name):  # type: ignore[no-untyped-def]
        calls.append(name)
        return original(environment, name)

    loader.get_source = counting  # type: ignore[method-assign,union-attr]
    renderer = Renderer(settings, env)
    for n in range(5):
        render(renderer, make_digest(subscriber(id=n, email=f"r{n}@example.org")))
    assert calls.count("digest.mjml.j2") == 1


def test_a_statement_mjml_cannot_hold_is_refused_with_a_hint() -> None:
    source = (
        "<mjml><mj-head>{% if x %}<mj-title>t</mj-title>{% endif %}</mj-head>"
        "<mj-body></mj-body></mjml>"
    )
    with pytest.raises(RenderError) as caught:
        compile_mjml(source, "bad.mjml.j2")
    assert "mj-raw" in (caught.value.hint or "")


def test_broken_mjml_names_the_template() -> None:
    with pytest.raises(RenderError, match="bad.mjml.j2 is not valid MJML"):
        compile_mjml("<mjml><mj-body>", "bad.mjml.j2")


def test_templates_beside_config_override_the_packaged_ones(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "digest.txt.j2").write_text("Custom: {{ digest.title }}\n")
    settings = load_settings(REPO / "config.toml").model_copy(update={"base_dir": tmp_path})
    rendered = render(Renderer(settings), make_digest())
    assert rendered.text == "Custom: Korea Watch\n"
    assert "Missile tests" in rendered.html  # the HTML still comes from the packaged default


# -- what the HTML keeps ---------------------------------------------------------------------


def test_html_keeps_lang_dir_presentation_roles_and_preheader(renderer: Renderer) -> None:
    html = render(renderer, make_digest()).html
    assert html.startswith('<!doctype html><html lang="en" dir="ltr"')
    assert 'role="presentation"' in html
    assert re.search(r'<div style="display:none;[^"]*">North Korea test-fires missile number', html)
    assert '<meta name="color-scheme" content="light dark"' in html
    assert "prefers-color-scheme: dark" in html


def test_thirty_items_stay_under_90_kb(renderer: Renderer) -> None:
    html = render(renderer, CASES["thirty"]).html
    assert len(CASES["thirty"].entries) == 30
    assert len(html.encode()) < 90_000, len(html.encode())


def test_every_item_shows_title_link_source_date_summary_evidence_and_others(
    renderer: Renderer,
) -> None:
    rendered = render(renderer, make_digest())
    for part in (rendered.html, rendered.text):
        assert "North Korea test-fires missile number 2" in part
        assert "Peninsula Wire · 22 Nov 2026" in part
        assert "also reported by Allied Monitor" in part
        assert "Officials said the launch" in part
        assert "ballistic missile" in part and "hwasong-18" in part
        assert LINKS.unsubscribe in part and LINKS.preferences in part
        assert "Korea Watch" in part
    assert 'href="https://news.example.org/story/2?a=1&amp;b=2"' in rendered.html
    assert "Missile tests <span" in rendered.html and "· 2</span>" in rendered.html


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


def test_subject_says_what_is_inside(renderer: Renderer) -> None:
    assert (
        render(renderer, make_digest()).subject
        == "Korea Watch: 3 new (Missile tests 2, China's influence 1)"
    )
    assert (
        render(renderer, make_digest(items_per_theme=(2,), kind="alert")).subject
        == "Korea Watch alert: North Korea test-fires missile number 1 (+1 more)"
    )


def test_the_text_items_rendered_once_are_the_same_as_rendered_for_each_reader(
    settings: Settings,
) -> None:
    """`{% cache items_key() %}` in the text template shares the items between readers;
    each reader's text must still be what a renderer with nothing remembered gives."""
    from digest.links import LinkSigner

    signer = LinkSigner("test-key", "https://digest.example.org")
    digests = [
        make_digest(subscriber(id=n, email=f"r{n}@example.org", name=name, timezone=zone))
        for n, (name, zone) in enumerate(
            [("Ann", "Asia/Seoul"), ("", "Asia/Seoul"), ("Bo", "America/New_York")] * 2
        )
    ]
    digests += [make_digest(items_per_theme=(3, 2)), make_digest(hostile=True)]
    digests.append(replace(digests[0], sections=digests[0].sections[:1]))
    shared = Renderer(settings)
    texts = []
    for d in digests:
        links = signer.links(d.subscriber.id, d.subscriber.email, now=NOW)
        text = shared.render_digest(d, links=links, key=KEY, now=NOW).text
        alone = Renderer(settings).render_digest(d, links=links, key=KEY, now=NOW).text
        assert text == alone
        texts.append(text)
    assert len(set(texts)) == len(texts)


# -- golden files ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["digest", "alert"])
def test_golden_html_and_text(renderer: Renderer, kind: str) -> None:
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


# -- the message -------------------------------------------------------------------------------


def build(renderer: Renderer, digest: Digest) -> EmailMessage:
    raw = renderer.build_message(
        render(renderer, digest), recipient=digest.subscriber.email, date=NOW
    )
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only, as on the wire
    return parse(raw)


def test_quoted_printable_decodes_to_the_text_within_76_characters_a_line() -> None:
    """The remembering encoder: exact round trip, RFC 2045 line lengths, and the same
    bytes whether a piece was remembered or not (a tiny limit forgets all the time)."""
    import binascii
    import random

    from digest.mime import QuotedPrintable

    words = ["a", " ", "\t", "=", "<div", "é", "한", "\n", "\n\n", ".", "x" * 70, "y" * 75]
    words += ["\r\n", "\r", "  ", " \n", "=\n", "\u2028", "<table>", "…" * 30]
    words += ["<!--[if mso | IE]><table", " <table", "<table\n"]
    rng = random.Random(7)
    remembering, forgetful = QuotedPrintable(), QuotedPrintable(limit=40)
    for _ in range(3000):
        text = "".join(rng.choice(words) for _ in range(rng.randint(0, 40)))
        html = rng.random() < 0.5
        encoded = remembering.encode(text, html=html)
        assert encoded == remembering.encode(text, html=html) == forgetful.encode(text, html=html)
        lines = encoded.split(b"\r\n")
        assert all(len(line) <= 76 and line.isascii() for line in lines), text
        assert not any(line.endswith((b" ", b"\t")) for line in lines)
        decoded = binascii.a2b_qp(encoded.replace(b"\r\n", b"\n")).decode("utf-8")
        assert decoded == text.replace("\r\n", "\n").replace("\r", "\n")


def test_a_bare_address_is_written_as_parseaddr_reads_it() -> None:
    from email.utils import parseaddr

    from digest.mime import _PLAIN_ADDRESS, format_address

    plain = ["a@b.org", "first.last+tag@sub.example.co.uk", "o'brien@x.ie", "x{y}@z.org"]
    other = ["a..b@x.org", "a.@x.org", ".a@x.org", "a@b.", "a@b..org", "Ann <a@b.org>"]
    for address in plain:
        assert _PLAIN_ADDRESS.match(address) and parseaddr(address) == ("", address)
        assert format_address(address) == address.encode()
    assert not any(_PLAIN_ADDRESS.match(address) for address in other)
    assert format_address("Ann <a@b.org>") == b"Ann <a@b.org>"


def test_header_text_fast_path_agrees_with_the_careful_one() -> None:
    import unicodedata

    from digest.mime import header_text

    def careful(value: str) -> str:
        kept = (" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in value)
        return " ".join("".join(kept).split())

    for code in [*range(0x3000), 0x3000, 0xFEFF, 0x1F600, 0xE000, 0x10FFFF]:
        value = f"Launch{chr(code)}Bcc: x {chr(code)}"
        assert header_text(value) == careful(value), hex(code)


def test_message_is_text_then_html_with_no_defects(renderer: Renderer) -> None:
    rendered = render(renderer, make_digest())
    message = build(renderer, make_digest())
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.iter_parts()
    assert (text.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    assert text.get_content().replace("\r\n", "\n") == rendered.text
    assert html.get_content().replace("\r\n", "\n") == rendered.html
    assert not message.defects and not text.defects and not html.defects


def test_message_headers(settings: Settings) -> None:
    settings = settings.model_copy(
        update={
            "delivery": settings.delivery.model_copy(
                update={"unsubscribe_mailto": "unsubscribe@example.org"}
            )
        }
    )
    message = build(Renderer(settings), make_digest())
    assert message["From"] == "Korea Watch <digest@example.org>"
    assert message["To"] == "analyst@example.org"
    assert message["Date"] == "Sun, 22 Nov 2026 12:00:00 +0000"
    assert (
        message["Message-ID"]
        == f"<{__import__('hashlib').sha256(KEY.encode()).hexdigest()[:32]}@example.org>"
    )
    assert message["List-Id"] == "Korea Watch <korea-watch.example.org>"
    assert message["List-Unsubscribe"] == (
        f"<{LINKS.unsubscribe}>, <mailto:unsubscribe@example.org?subject=unsubscribe>"
    )
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Auto-Submitted"] is None


def test_alerts_are_marked_auto_submitted(renderer: Renderer) -> None:
    message = build(renderer, make_digest(items_per_theme=(1,), kind="alert"))  # type: ignore[arg-type]
    assert message["Auto-Submitted"] == "auto-generated"


def test_message_id_is_stable_per_digest_and_subscriber(renderer: Renderer) -> None:
    first = renderer.render_digest(make_digest(), links=LINKS, key="digest:1:A", now=NOW)
    again = renderer.render_digest(make_digest(), links=LINKS, key="digest:1:A", now=NOW)
    other = renderer.render_digest(make_digest(), links=LINKS, key="digest:2:A", now=NOW)
    assert first.message_id == again.message_id != other.message_id


@pytest.mark.parametrize("breaker", ["\r", "\n", "\r\n", "\u2028", "\u2029", "\x85", "\x0b"])
def test_no_header_injection_from_titles(renderer: Renderer, breaker: str) -> None:
    evil = f"Launch{breaker}Bcc: victim@example.net{breaker}{breaker}<b>body</b>"
    digest = make_digest(items_per_theme=(1,), kind="alert")  # type: ignore[arg-type]
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


def test_non_ascii_subject_and_names_are_encoded(settings: Settings) -> None:
    settings = settings.model_copy(
        update={
            "digest": settings.digest.model_copy(update={"title": "한반도 워치 — Korea"}),
            "delivery": settings.delivery.model_copy(
                update={"sender": '"Watch, Korea" <digest@example.org>'}
            ),
        }
    )
    renderer = Renderer(settings)
    digest = replace(make_digest(), title="한반도 워치 — Korea")
    raw = renderer.build_message(render(renderer, digest), recipient="a@example.org", date=NOW)
    assert raw.isascii()
    message = parse(raw)
    assert message["Subject"].startswith("한반도 워치 — Korea: 3 new")
    assert message["From"].addresses[0].display_name == "Watch, Korea"
    assert str(message["List-Id"]).startswith("한반도 워치 — Korea <korea.example.org>")
    encoded = [line for line in raw.split(b"\r\n\r\n")[0].split(b"\r\n") if b"=?utf-8?b?" in line]
    assert len(encoded) >= 3 and all(len(line) <= 78 for line in encoded)


def test_a_title_with_long_words_keeps_headers_within_the_hard_limit(renderer: Renderer) -> None:
    rendered = replace(render(renderer, make_digest()), subject="x" * 290 + " " + HOSTILE_TITLE)
    raw = renderer.build_message(rendered, recipient="a@example.org", date=NOW)
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))


# -- DKIM ----------------------------------------------------------------------------------------


def test_dkim_signs_the_message_and_a_receiver_verifies_it(tmp_path: Path) -> None:
    dkim = pytest.importorskip("dkim")
    rsa = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.rsa")
    serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "dkim.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    record = b"v=DKIM1; k=rsa; p=" + __import__("base64").b64encode(public)
    (tmp_path / "config.toml").write_text(
        (REPO / "config.toml")
        .read_text()
        .replace('# key_file = "keys/digest.private.pem"', 'key_file = "dkim.pem"')
    )
    renderer = Renderer(load_settings(tmp_path / "config.toml"))
    raw = renderer.build_message(
        render(renderer, make_digest(items_per_theme=(1,), kind="alert")),  # type: ignore[arg-type]
        recipient="analyst@example.org",
        date=NOW,
    )
    assert raw.startswith(b"DKIM-Signature: ")
    signed = parse(raw)["DKIM-Signature"]
    for header in ("list-unsubscribe", "list-unsubscribe-post", "auto-submitted", "from"):
        assert header in signed.lower()

    def dns(name: bytes, timeout: int = 5) -> bytes:
        return record if name == b"digest._domainkey.example.org." else b""

    assert dkim.verify(raw, dnsfunc=dns)
    assert not dkim.verify(raw.replace(b"Subject: Korea", b"Subject: Corea"), dnsfunc=dns)


def test_an_unreadable_dkim_key_is_a_config_error(tmp_path: Path) -> None:
    from digest.errors import ConfigError

    (tmp_path / "config.toml").write_text(
        (REPO / "config.toml")
        .read_text()
        .replace('# key_file = "keys/digest.private.pem"', 'key_file = "missing.pem"')
    )
    with pytest.raises(ConfigError, match='delivery.dkim.key_file: "missing.pem" cannot be read'):
        Renderer(load_settings(tmp_path / "config.toml"))


# -- in a browser --------------------------------------------------------------------------------


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
def browser(chromium: str):  # type: ignore[no-untyped-def]
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
def test_text_is_readable_in_light_and_dark_mode(browser, renderer: Renderer, scheme: str) -> None:  # type: ignore[no-untyped-def]
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


def test_a_long_preheader_ends_on_a_whole_word() -> None:
    from digest.render import PREHEADER_CHARS, preheader

    digest = make_digest(items_per_theme=(3, 3))
    long_titles = replace(
        digest,
        sections=tuple(
            replace(
                s,
                entries=tuple(
                    replace(e, item=replace(e.item, title="Pyongyang escalation " * 5))
                    for e in s.entries
                ),
            )
            for s in digest.sections
        ),
    )
    line = preheader(long_titles)
    assert len(line) <= PREHEADER_CHARS and line.endswith("escalation…")
