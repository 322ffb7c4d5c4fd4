"""Cleaning untrusted content: sanitised HTML, plain text, one-line titles and safe links."""

from __future__ import annotations

import html
import re
import unicodedata
from urllib.parse import urljoin, urlsplit

import nh3

TITLE_MAX = 300
SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
_ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "dd",
    "del",
    "dl",
    "dt",
    "em",
    "figcaption",
    "figure",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "li",
    "ol",
    "p",
    "pre",
    "q",
    "s",
    "small",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "u",
    "ul",
}
_ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
}
_BLOCK = re.compile(r"</?(?:p|div|br|li|ul|ol|h[1-6]|tr|table|blockquote|pre|hr)\b[^>]*>", re.I)
_TAG = re.compile(r"<[^>]+>")
_TRACKING_IMG = re.compile(
    r"<img\b[^>]*(?:\bwidth=\"?[01]\"?[^>]*\bheight=\"?[01]\"?|\bheight=\"?[01]\"?[^>]*"
    r"\bwidth=\"?[01]\"?)[^>]*>",
    re.I,
)
# Line and paragraph separators break email headers; other controls break terminals.
_CONTROL: dict[int, str | None] = {
    **dict.fromkeys([c for c in range(0x20) if c not in (0x09, 0x0A, 0x0D)] + [0x7F]),
    **dict.fromkeys([0x85, 0x2028, 0x2029], " "),
}


def safe_url(url: str | None, base: str | None = None) -> str:
    """An absolute http(s) or mailto URL, or "" when the link is anything else."""
    if not url:
        return ""
    url = "".join(url.split())  # whitespace inside a URL is how `java\nscript:` sneaks by
    if base:
        url = urljoin(base, url)
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return ""
    return url if scheme in SAFE_SCHEMES else ""


def sanitize_html(fragment: str, base: str | None = None) -> str:
    """Untrusted HTML made safe to show: no scripts, handlers, forms, styles or odd URLs."""
    if not fragment:
        return ""
    fragment = _TRACKING_IMG.sub("", fragment)

    def filter_attribute(tag: str, attribute: str, value: str) -> str | None:
        if attribute in ("href", "src"):
            return safe_url(value, base) or None
        return value

    return nh3.clean(
        fragment,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        attribute_filter=filter_attribute,
        url_schemes=set(SAFE_SCHEMES),
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    ).strip()


def html_to_text(fragment: str) -> str:
    """Plain text of an HTML fragment: block breaks kept as blank lines, entities decoded."""
    if not fragment:
        return ""
    text = _BLOCK.sub("\n\n", fragment)
    text = html.unescape(_TAG.sub("", nh3.clean(text, tags=set(), strip_comments=True)))
    text = text.translate(_CONTROL)
    paragraphs = (" ".join(p.split()) for p in re.split(r"\n\s*\n", text))
    return "\n\n".join(p for p in paragraphs if p)


def clean_title(title: str, *, fallback: str = "") -> str:
    """One line of plain text, no markup or control characters, at most TITLE_MAX long."""
    text = html_to_text(title) if "<" in title or "&" in title else title
    text = unicodedata.normalize("NFC", text.translate(_CONTROL))
    text = " ".join(text.split())
    if len(text) > TITLE_MAX:
        text = text[: TITLE_MAX - 1].rsplit(" ", 1)[0] + "…"
    return text or fallback
