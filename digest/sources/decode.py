"""A local file's bytes as text: byte-order marks, UTF-8, then a detected legacy encoding.

The order is a browser's: a BOM wins; then an HTML document's own `<meta charset>`; then
strict UTF-8; only then a guess (charset-normalizer), and the caller is told it was one.
Nothing is decoded with replacement characters when a real decoding exists, and bytes that
are not text at all (NULs, control codes, no plausible encoding) are refused.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from charset_normalizer import from_bytes

# UTF-32 first: its little-endian BOM begins with UTF-16's.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
# The encodings a browser reads as windows-1252 whatever the label says (WHATWG Encoding).
_WINDOWS_1252_LABELS = {"ascii", "us-ascii", "latin1", "latin-1", "iso-8859-1", "iso8859-1", "l1"}
# Controls that never belong in text: all C0 but tab, newline, carriage return and form feed,
# DEL and C1. Separators become the line breaks they mean.
CONTROL: dict[int, str | None] = {
    **dict.fromkeys([c for c in range(0x20) if c not in (0x09, 0x0A, 0x0D, 0x0C)] + [0x7F]),
    **dict.fromkeys(range(0x80, 0xA0)),
    0x0C: "\n",
    0x85: "\n",
    0x2028: "\n",
    0x2029: "\n\n",
    0xFEFF: None,
}
# The legacy encodings a local file is guessed to be in, when it is not UTF-8.
_LEGACY = (
    *(f"cp{n}" for n in range(1250, 1259)),
    "cp874",
    "koi8_r",
    "koi8_u",
    "cp949",
    "euc_kr",
    "cp932",
    "shift_jis",
    "euc_jp",
    "gb18030",
    "big5",
)
_TIE = 0.02
# More than this share of control characters and it is not a text file.
_MAX_CONTROL_SHARE = 0.05


class NotText(ValueError):
    """The bytes are not text in any encoding worth trusting."""


@dataclass(frozen=True, slots=True)
class Decoded:
    text: str
    encoding: str
    # True when no BOM, declaration or valid UTF-8 said which encoding it is.
    guessed: bool = False


def decode_text(data: bytes, *, html: bool = False) -> Decoded:
    """The text of a file's bytes, its encoding and whether that encoding was a guess.

    Raises NotText for binary data. Control characters other than tab and line breaks are
    removed from what is returned, and so is a BOM.
    """
    decoded = _decode(data, html=html)
    if "\x00" in decoded.text:
        raise NotText("it contains NUL bytes")
    text = decoded.text.replace("\r\n", "\n").replace("\r", "\n")
    controls = sum(1 for ch in text if (ch < " " and ch not in "\t\n\x0c") or "\x7f" <= ch < "\xa0")
    if text and controls / len(text) > _MAX_CONTROL_SHARE:
        raise NotText(f"{controls} of its {len(text)} characters are control codes")
    return Decoded(text.translate(CONTROL), decoded.encoding, decoded.guessed)


def _decode(data: bytes, *, html: bool) -> Decoded:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return Decoded(data[len(bom) :].decode(encoding), encoding)
            except UnicodeDecodeError:
                raise NotText(
                    f"it starts with a {encoding} byte-order mark but is not {encoding}"
                ) from None
    if b"\x00" in data[:8192]:
        if not (utf16 := _utf16_without_bom(data)):
            raise NotText("it contains NUL bytes")
        try:
            return Decoded(data.decode(utf16), utf16, guessed=True)
        except UnicodeDecodeError:
            raise NotText("it contains NUL bytes") from None
    if html and (declared := _declared_charset(data)):
        try:
            return Decoded(data.decode(declared), declared)
        except (UnicodeDecodeError, LookupError):
            pass  # a wrong declaration is common; fall through to the bytes themselves
    try:
        return Decoded(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass
    return _detect(data)


def _declared_charset(data: bytes) -> str | None:
    found = _META_CHARSET.search(data[:1024])
    if not found:
        return None
    label = found.group(1).decode("ascii").lower()
    if label in _WINDOWS_1252_LABELS:
        return "cp1252"
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def _utf16_without_bom(data: bytes) -> str | None:
    """UTF-16 without a BOM, if mostly-ASCII text has a NUL in every other byte and no other."""
    sample = data[:8192]
    if len(sample) < 4 or len(sample) % 2:
        return None
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    if even == 0 and odd > len(sample) * 0.4:
        return "utf-16-le"
    if odd == 0 and even > len(sample) * 0.4:
        return "utf-16-be"
    return None


def _detect(data: bytes) -> Decoded:
    # Left to itself the detector picks DOS and Mac code pages for short Western text
    # ("cafķ" in cp775); legacy files are nearly always in a Windows or common CJK one.
    matches = from_bytes(data, cp_isolation=list(_LEGACY))
    best = matches.best()
    if best is None:
        raise NotText("no text encoding fits its bytes")
    # A short text fits several single-byte encodings equally well. Among the best, prefer
    # windows-1252: the most common legacy encoding and the browsers' fallback.
    tied = [
        m for m in matches if m.chaos == best.chaos and abs(m.coherence - best.coherence) <= _TIE
    ]
    if any("cp1252" in m.could_be_from_charset for m in tied):
        try:
            return Decoded(data.decode("cp1252"), "cp1252", guessed=True)
        except UnicodeDecodeError:
            pass  # one of the five bytes windows-1252 leaves undefined
    return Decoded(str(best), best.encoding, guessed=True)
