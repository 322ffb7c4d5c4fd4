"""Render: the wire message (MIME parts, encodings, headers) and its DKIM signature."""

from __future__ import annotations

from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path

import pytest

from digest.config import Settings, load_settings
from digest.models import Digest
from digest.render import Renderer
from tests.conftest import REPO
from tests.digests import LINKS, NOW, make_digest
from tests.render_fixtures import KEY, parse, render

# -- the message -----------------------------------------------------------------------------------


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
    message = build(renderer, make_digest(items_per_theme=(1,), kind="alert"))
    assert message["Auto-Submitted"] == "auto-generated"


def test_message_id_is_stable_per_digest_and_subscriber(renderer: Renderer) -> None:
    first = renderer.render_digest(make_digest(), links=LINKS, key="digest:1:A", now=NOW)
    again = renderer.render_digest(make_digest(), links=LINKS, key="digest:1:A", now=NOW)
    other = renderer.render_digest(make_digest(), links=LINKS, key="digest:2:A", now=NOW)
    assert first.message_id == again.message_id != other.message_id


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


# -- DKIM ------------------------------------------------------------------------------------------


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
        render(renderer, make_digest(items_per_theme=(1,), kind="alert")),
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
