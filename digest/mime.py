"""The wire form of a message, built by hand: headers that cannot be injected, QP bodies.

The `email` package's default policy takes 10-16 ms to build a 60 KB digest, more than
rendering it; these few functions build the same multipart/alternative message in well
under a millisecond (see benchmarks/deliver.py). Every header value passes through
`header_text`, so no character from a feed (CR, LF, U+2028, U+2029, NEL or any other
control or separator) can start a new header line.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import re
import unicodedata
from collections.abc import Iterable
from datetime import datetime
from email.utils import format_datetime, parseaddr

CRLF = b"\r\n"
_LINE = 78  # RFC 5322's recommended line length; 998 is the hard limit
_ATEXT = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]*$")
_ADDRESS = re.compile(r"^[^\s<>,;:\"()\[\]\\@]+@[^\s<>,;:\"()\[\]\\@]+$")
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\Z")
# A header value may not even look like an RFC 2047 encoded word unless it is one.
_ENCODED_WORD = re.compile(r"=\?.*\?=")


class HeaderError(ValueError):
    """A header value that cannot be written safely (e.g. an address with a line break)."""


def header_text(value: str) -> str:
    """One line of text: every control, line or paragraph separator becomes a space."""
    if value.isprintable():  # no Cc, Zl or Zp (nor any other separator but the space)
        return " ".join(value.split())
    cleaned = "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in value)
    return " ".join(cleaned.split())


def encode_unstructured(name: str, value: str) -> bytes:
    """`Name: value` for free text, RFC 2047 encoded when not plain ASCII, folded at 78."""
    value = header_text(value)
    if value.isascii() and not _ENCODED_WORD.search(value):
        return _fold(name, value.split(" "))
    return _fold(name, _encoded_words(value))


def encode_address(name: str, value: str) -> bytes:
    """`Name: Display <local@domain>` with the display name quoted or encoded as needed."""
    return f"{name}: ".encode() + format_address(value) + CRLF


def format_address(value: str) -> bytes:
    value = header_text(value)
    if _PLAIN_ADDRESS.match(value):  # a bare ASCII dot-atom address: parseaddr keeps it as is
        return value.encode("ascii")
    display, address = parseaddr(value)
    if not _ADDRESS.match(address):
        raise HeaderError(f'"{value}" is not a single email address')
    local, _, domain = address.rpartition("@")
    if not domain.isascii():
        domain = domain.encode("idna").decode("ascii")
    # A non-ASCII local part stays UTF-8 (RFC 6531); the mailer then asks for SMTPUTF8.
    spec = f"{local}@{domain}"
    return (f"{phrase(display)} <{spec}>" if display else spec).encode("utf-8")


def phrase(display: str) -> str:
    """A display name as it may stand in a header: as is, quoted, or RFC 2047 encoded."""
    display = header_text(display)
    if display.isascii() and not _ENCODED_WORD.search(display):
        if _ATEXT.match(display):
            return display
        return '"' + display.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return " ".join(_encoded_words(display))


def encode_raw(name: str, value: str) -> bytes:
    """`Name: value` for a structured value we made ourselves (URLs, ids): ASCII, one line."""
    value = header_text(value)
    if not value.isascii():
        raise HeaderError(f"{name}: {value!r} is not ASCII")
    return f"{name}: {value}".encode("ascii") + CRLF


def domain_of(address: str) -> str:
    """The domain of an address like `Name <user@example.org>`, IDNA-encoded."""
    domain = parseaddr(address)[1].rpartition("@")[2]
    if not domain:
        return "digest.invalid"
    return domain if domain.isascii() else domain.encode("idna").decode("ascii")


def quoted_printable(text: str, *, html: bool = False) -> bytes:
    """UTF-8 quoted-printable with CRLF line ends, as it goes on the wire."""
    return _QP.encode(text, html=html)


class QuotedPrintable:
    """A quoted-printable encoder that remembers the pieces it has encoded.

    Most of a digest is the same for every reader with the same themes: only the
    greeting, the period and the links differ. HTML is cut before each section (see
    _CUTS: MJML makes each section a table) and the pieces are joined by soft line breaks (`=`
    CRLF), which a decoder removes; other text is cut at blank lines (the items of the
    text part). Each piece is encoded once by `binascii.b2a_qp` and remembered. So the
    part decodes to exactly the text, every encoded line stays within 76 characters,
    and the cost per reader is that of the pieces that are new (the links, the
    greeting). The memory is bounded (`limit` characters).
    """

    def __init__(self, limit: int = 16_000_000) -> None:
        self.limit = limit
        self._pieces: dict[str, bytes] = {}
        self._after_cut: dict[tuple[str, str], bytes] = {}  # (cut, piece): cut + piece
        self._size = 0

    def encode(self, text: str, *, html: bool = False) -> bytes:
        """`text` encoded; `html=True` cuts it at sections rather than at blank lines."""
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        get, remember = self._pieces.get, self._remember
        for cut in _CUTS if html else ():
            if cut in text:  # pieces joined by soft line breaks
                first, *rest = text.split(cut)
                after = self._after_cut.get
                pieces = [get(first) or remember(first)]
                pieces += [after((cut, piece)) or remember(piece, cut) for piece in rest]
                return b"=\r\n".join(pieces)
        return b"\r\n\r\n".join([get(b) or remember(b) for b in text.split("\n\n")])

    def _remember(self, piece: str, cut: str = "") -> bytes:
        """Encode `cut + piece` and remember it under `piece`."""
        if not piece and not cut:
            return b""
        encoded = binascii.b2a_qp((cut + piece).encode("utf-8"), quotetabs=False, istext=True)
        # b2a_qp lets a line reach 77 characters when it ends in encoded whitespace, and
        # fills the last line to 76, where the soft break that may follow needs one more.
        last = len(encoded) - encoded.rfind(b"\n") - 1
        if last >= _QP_LINE or b"=20\n" in encoded or b"=09\n" in encoded:
            lines = encoded.split(b"\n")
            encoded = b"\n".join(
                _rewrap(line) if len(line) > _QP_LINE - (k == len(lines) - 1) else line
                for k, line in enumerate(lines)
            )
        encoded = encoded.replace(b"\n", CRLF)
        if self._size + len(piece) > self.limit:
            self._pieces.clear()
            self._after_cut.clear()
            self._size = 0
        if cut:
            self._after_cut[(cut, piece)] = encoded
        else:
            self._pieces[piece] = encoded
        self._size += len(piece)
        return encoded


def _rewrap(line: bytes) -> bytes:
    """One encoded line as lines of at most 75 characters and a soft break each."""
    units = _QP_UNIT.findall(line)
    lines, current = [], b""
    for unit in units:
        if len(current) + len(unit) > _QP_LINE - 1:
            lines.append(current)
            current = b""
        current += unit
    lines.append(current)
    return b"=\n".join(lines)


_QP_UNIT = re.compile(rb"=[0-9A-F]{2}|=$|.", re.S)
# Where HTML is cut: before each section MJML wraps for Outlook (a long needle, which
# str.split finds faster), else before each table.
_CUTS = ("<!--[if mso | IE]><table", "<table")
_QP_LINE = 76  # RFC 2045: encoded lines of at most 76 characters, the soft break's "=" included
_QP = QuotedPrintable()


def boundary_for(seed: str) -> str:
    """A MIME boundary that cannot occur in a QP body: QP never writes "=_"."""
    return "=_digest_" + hashlib.sha256(seed.encode()).hexdigest()[:24]


def multipart_alternative(
    headers: Iterable[bytes], *, text: str, html: str, boundary: str
) -> bytes:
    """The whole message: headers, then the text part, then the HTML part."""
    marker = b"--" + boundary.encode("ascii")
    part_head = b'Content-Type: text/%s; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'  # noqa: E501
    return b"".join(
        [
            *headers,
            b"MIME-Version: 1.0\r\n",
            b'Content-Type: multipart/alternative; boundary="' + boundary.encode() + b'"\r\n',
            CRLF,
            marker,
            CRLF,
            part_head % b"plain",
            quoted_printable(text),
            CRLF,
            marker,
            CRLF,
            part_head % b"html",
            quoted_printable(html, html=True),
            CRLF,
            marker,
            b"--",
            CRLF,
        ]
    )


@functools.lru_cache(maxsize=16)
def date_header(date: datetime) -> bytes:
    if date.tzinfo is None:
        raise HeaderError("Date: a naive datetime has no zone")
    return b"Date: " + format_datetime(date).encode("ascii") + CRLF


def _fold(name: str, words: Iterable[str]) -> bytes:
    """Join words into `Name: ...` lines of at most 78 characters where the words allow."""
    lines: list[str] = []
    line = f"{name}:"
    for word in words:
        if not word:
            continue
        if len(line) + 1 + len(word) > _LINE and line != f"{name}:":
            lines.append(line)
            line = " " + word
        else:
            line += " " + word
    lines.append(line)
    return "\r\n".join(lines).encode("ascii") + CRLF


def _encoded_words(text: str) -> list[str]:
    """RFC 2047 base64 words of at most 64 characters, split between whole characters."""
    words: list[str] = []
    chunk = b""
    for char in text:
        encoded = char.encode("utf-8")
        if len(chunk) + len(encoded) > 39:  # 39 bytes -> 52 base64 characters -> 64 in all
            words.append(_word(chunk))
            chunk = b""
        chunk += encoded
    if chunk:
        words.append(_word(chunk))
    return words


def _word(chunk: bytes) -> str:
    return "=?utf-8?b?" + base64.b64encode(chunk).decode("ascii") + "?="
