"""What a local document says about itself: Markdown as text, front matter, its date."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token

from digest.sources.clean import html_to_text, sanitize_html

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)
_KEY_VALUE = re.compile(r"^([A-Za-z_][\w-]*)\s*:\s*(.*?)\s*$")
# Named formats people write dates in, after ISO 8601 and RFC 2822 have been tried.
_DATE_FORMATS = ("%B %d, %Y", "%b %d, %Y", "%b. %d, %Y", "%d %B %Y", "%d %b %Y", "%Y/%m/%d")
# A paragraph that is only a date, as a saved page's byline puts it: "- March 27, 2021",
# "Published: 2021-03-27".
_DATELINE = re.compile(
    r"^[\s\-–—•*|]*(?:(?:published|posted|updated|date)(?:\s+on)?\s*:?\s*)?(.{6,40}?)[\s.]*$",
    re.I,
)
_DATELINE_PARAGRAPHS = 8
# Meta tags that state when a page was published, in the order they are trusted.
_META_DATES = (
    "article:published_time",
    "date",
    "dc.date",
    "dc.date.issued",
    "dcterms.created",
    "pubdate",
    "publish-date",
)


def front_matter(raw: str) -> tuple[dict[str, str], str]:
    """A Markdown file's `---` front matter as simple `key: value` pairs, and the rest."""
    found = _FRONT_MATTER.match(raw)
    if not found:
        return {}, raw
    meta: dict[str, str] = {}
    for line in found.group(1).splitlines():
        if match := _KEY_VALUE.match(line):
            meta.setdefault(match.group(1).lower(), match.group(2).strip("\"'"))
    return meta, raw[found.end() :]


def markdown_text(raw: str) -> tuple[str, str]:
    """A Markdown document's first heading and its plain text (link text kept, URLs not)."""
    md = MarkdownIt("commonmark")
    # markdown-it leaves a link whose URL it distrusts as literal `[text](url)`; let every
    # link through and let the sanitiser drop the URLs instead, so the text stays readable.
    md.validateLink = lambda url: True  # type: ignore[method-assign]
    md.add_render_rule("image", _image_as_alt_text)
    renderer = md.renderer
    assert isinstance(renderer, RendererHTML)
    tokens = md.parse(raw)
    title = ""
    for i, token in enumerate(tokens[:-1]):
        if token.type == "heading_open" and tokens[i + 1].children is not None:
            title = html_to_text(
                renderer.renderInline(tokens[i + 1].children or [], md.options, {})
            )
            break
    text = html_to_text(sanitize_html(renderer.render(tokens, md.options, {})))
    return " ".join(title.split()), text


def _image_as_alt_text(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    token = tokens[idx]
    return str(self.renderInlineAsText(token.children or [], options, env))


def parse_date(value: str) -> datetime | None:
    """A date as documents state it (ISO 8601, RFC 2822, "March 27, 2021"), in UTC."""
    value = value.strip()
    if not value or len(value) > 64:
        return None
    when: datetime | None = None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        pass
    if when is None:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            pass
    for form in _DATE_FORMATS if when is None else ():
        try:
            when = datetime.strptime(value, form)
            break
        except ValueError:
            continue
    if when is None:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def dateline(text: str) -> datetime | None:
    """The date of a plain-text document: a paragraph near its top that is only a date."""
    for paragraph in text.split("\n\n")[:_DATELINE_PARAGRAPHS]:
        if len(paragraph) <= 60 and (match := _DATELINE.match(paragraph)):
            if when := parse_date(match.group(1)):
                return when
    return None


def html_date(raw: str) -> datetime | None:
    """When an HTML page says it was published: its meta tags, else its first `<time>`."""
    finder = _DateFinder()
    try:
        finder.feed(raw)
        finder.close()
    except AssertionError:  # html.parser gives up on some malformed markup this way
        pass
    for name in _META_DATES:
        if (when := parse_date(finder.meta.get(name, ""))) is not None:
            return when
    return parse_date(finder.time)


class _DateFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, str] = {}
        self.time = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k.lower(): v or "" for k, v in attrs}
        if tag == "meta":
            name = values.get("name") or values.get("property") or values.get("itemprop", "")
            if name and "content" in values:
                self.meta.setdefault(name.lower(), values["content"])
        elif tag == "time" and not self.time and values.get("datetime"):
            self.time = values["datetime"]
