"""Cleaning untrusted content: sanitised HTML, plain text, one-line titles and safe links."""

from __future__ import annotations

import html
import re
import unicodedata
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import nh3

TITLE_MAX = 300
SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
IMAGE_SCHEMES = frozenset({"http", "https"})
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
_SPACE = re.compile(r"\s")
# Elements whose content goes too, not only their tags.
_DROP_WITH_CONTENT = {
    "script",
    "style",
    "noscript",
    "iframe",
    "object",
    "embed",
    "template",
    "form",
    "select",
    "textarea",
    "button",
    "svg",
    "math",
}
# nh3 writes every attribute as name="value", so its output can be matched reliably.
_IMG = re.compile(r"<img\b[^>]*>")
_ATTR = re.compile(r'\b(src|width|height)="([^"]*)"')
# Hosts and paths that serve invisible "web beacons" rather than pictures.
_TRACKER_HOSTS = (
    "feeds.feedburner.com",
    "feedproxy.google.com",
    "pixel.wp.com",
    "stats.wordpress.com",
    "pixel.quantserve.com",
    "www.google-analytics.com",
    "ssl.google-analytics.com",
    "pi.feedsportal.com",
    "rss.feedsportal.com",
    "feeds.wordpress.com",
    "www.facebook.com",
    "sb.scorecardresearch.com",
    "ad.doubleclick.net",
    "mf.feeds.reuters.com",
)
# Bidirectional embeddings, overrides and isolates: a feed's U+202E would show the rest of
# a line reversed ("Trojan Source"). The plain left-to-right and right-to-left marks stay.
_BIDI_CONTROL: dict[int, str | None] = dict.fromkeys(
    [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]
)
# Line and paragraph separators break email headers; other controls break terminals.
_CONTROL: dict[int, str | None] = {
    **dict.fromkeys([c for c in range(0x20) if c not in (0x09, 0x0A, 0x0D)] + [0x7F]),
    **dict.fromkeys(range(0x80, 0xA0)),
    **dict.fromkeys([0x85, 0x2028, 0x2029], " "),
    **_BIDI_CONTROL,
}
# Query parameters that only say where a click came from; dropped from links.
_TRACKING_PARAMS = re.compile(
    r"^(?:utm_\w+|fbclid|gclid|dclid|gbraid|wbraid|msclkid|yclid|mc_cid|mc_eid|_hsenc|_hsmi"
    r"|mkt_tok|igshid|oly_enc_id|oly_anon_id|vero_id|wickedid|__s|rb_clickid|s_cid|ncid"
    r"|cmpid|ito|at_medium|at_campaign|at_custom\d*|_ga|_gl|ref_src|ref_url)$",
    re.I,
)


def safe_url(
    url: str | None, base: str | None = None, *, schemes: frozenset[str] = SAFE_SCHEMES
) -> str:
    """An absolute http(s) or mailto URL, or "" when the link is anything else."""
    if not url or not isinstance(url, str):
        return ""
    if _SPACE.search(url):
        url = "".join(url.split())  # whitespace inside a URL is how `java\nscript:` sneaks by
    try:
        # Most links are already absolute; urljoin is only worth its cost for the others.
        if base and not url.startswith(("http://", "https://")):
            url = urljoin(base, url)
        parts = urlsplit(url)
    except ValueError:
        return ""
    scheme = parts.scheme.lower()
    if scheme not in schemes or (scheme != "mailto" and not parts.netloc):
        return ""
    return url


def canonical_url(url: str) -> str:
    """A link without click-tracking parameters, with a lowercase scheme and host.

    `https://Example.org/a?utm_source=rss&id=3#x` becomes `https://example.org/a?id=3#x`.
    """
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    if parts.scheme.lower() not in ("http", "https"):
        return url
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    if port and (parts.scheme.lower(), port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    if parts.username or parts.password:
        host = parts.netloc.rsplit("@", 1)[0] + "@" + host
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        kept = [(k, v) for k, v in pairs if not _TRACKING_PARAMS.match(k)]
        if len(kept) != len(pairs):  # re-encode only when something goes, to keep the link as is
            query = urlencode(kept)
    return urlunsplit((parts.scheme.lower(), host, parts.path or "/", query, parts.fragment))


def sanitize_html(fragment: str, base: str | None = None) -> str:
    """Untrusted HTML made safe to show: no scripts, handlers, forms, styles or odd URLs."""
    if not fragment:
        return ""

    def filter_attribute(tag: str, attribute: str, value: str) -> str | None:
        if attribute == "href":
            return safe_url(value, base) or None
        if attribute == "src":
            return safe_url(value, base, schemes=IMAGE_SCHEMES) or None
        return value

    cleaned = nh3.clean(
        fragment.translate(_BIDI_CONTROL),
        tags=_ALLOWED_TAGS,
        clean_content_tags=_DROP_WITH_CONTENT,
        attributes=_ALLOWED_ATTRIBUTES,
        attribute_filter=filter_attribute,
        url_schemes=set(SAFE_SCHEMES),
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    return _IMG.sub(_drop_tracking_image, cleaned).strip()


def _drop_tracking_image(match: re.Match[str]) -> str:
    """An <img> kept unless it is a beacon: no picture, 1x1 or smaller, or a tracker's."""
    attrs = dict(_ATTR.findall(match.group(0)))
    src = attrs.get("src", "")
    if not src:
        return ""
    if any(attrs.get(side, "").strip() in ("0", "1", "0px", "1px") for side in ("width", "height")):
        return ""
    try:
        host = (urlsplit(src).hostname or "").lower()
    except ValueError:
        return ""
    if host in _TRACKER_HOSTS or "/~r/" in src or "/~ff/" in src:
        return ""
    return match.group(0)


def html_to_text(fragment: str, *, sanitized: bool = False) -> str:
    """Plain text of an HTML fragment: block breaks kept as blank lines, entities decoded.

    `sanitized` says the fragment came from `sanitize_html`: its markup is well formed and
    its text escaped, so tags can simply be dropped, without a second pass of nh3.
    """
    if not fragment:
        return ""
    text = _BLOCK.sub("\n\n", fragment)
    if not sanitized:
        text = nh3.clean(text, tags=set(), strip_comments=True)
    text = html.unescape(_TAG.sub("", text))
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
