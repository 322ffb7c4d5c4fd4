"""JSON Feed 1.0 and 1.1 (https://jsonfeed.org/version/1.1), which feedparser 6 cannot read."""

from __future__ import annotations

import json
from datetime import datetime
from html import escape
from typing import Any

from digest.errors import ParseError
from digest.sources.feeds import RawEntry, clamp_date

VERSION_PREFIX = "https://jsonfeed.org/version/"


def parse_json_feed(
    source_id: str, body: bytes, final_url: str, now: datetime
) -> tuple[str, list[RawEntry], str, list[str]]:
    """The feed's title, raw entries, home page and warnings; ParseError if it is not one."""
    try:
        data = json.loads(body.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ParseError(
            source_id, f"the JSON is not UTF-8 (byte {exc.start})", url=final_url
        ) from None
    except RecursionError:
        raise ParseError(source_id, "the JSON is nested too deeply", url=final_url) from None
    except ValueError as exc:
        raise ParseError(source_id, f"not valid JSON ({exc})", url=final_url) from None
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise ParseError(source_id, 'JSON, but not a JSON Feed (no "items" list)', url=final_url)
    warnings: list[str] = []
    version = data.get("version")
    if not isinstance(version, str) or not version.startswith(VERSION_PREFIX):
        warnings.append(f"the JSON Feed has no known version ({_text(version) or 'none'})")
    raws = [_raw(item, now) for item in data["items"] if isinstance(item, dict)]
    if len(raws) != len(data["items"]):
        warnings.append("some items of the JSON Feed are not objects and were skipped")
    return _text(data.get("title")), raws, _text(data.get("home_page_url")), warnings


def _raw(item: dict[str, Any], now: datetime) -> RawEntry:
    html = _text(item.get("content_html"))
    if not html:
        plain = _text(item.get("content_text")) or _text(item.get("summary"))
        html = "".join(f"<p>{escape(p)}</p>" for p in plain.split("\n\n") if p.strip())
    summary = _text(item.get("summary"))
    if not html and summary:
        html = f"<p>{escape(summary)}</p>"
    attachments = item.get("attachments")
    return RawEntry(
        guid=_text(item.get("id")),
        link=_text(item.get("url")) or _text(item.get("external_url")),
        title=_text(item.get("title")),
        html=html,
        author=_author(item),
        published=clamp_date(
            _date(item.get("date_published")) or _date(item.get("date_modified")), now
        ),
        image=_text(item.get("image")) or _text(item.get("banner_image")),
        enclosures=tuple(
            _text(a.get("url"))
            for a in (attachments if isinstance(attachments, list) else [])
            if isinstance(a, dict) and a.get("url")
        ),
    )


def _author(item: dict[str, Any]) -> str:
    authors = item.get("authors")
    if isinstance(authors, list) and authors and isinstance(authors[0], dict):
        return _text(authors[0].get("name"))
    author = item.get("author")  # JSON Feed 1.0
    return _text(author.get("name")) if isinstance(author, dict) else ""


def _text(value: Any) -> str:
    """A string field, or "" when it is missing or of the wrong type (numbers are kept)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def _date(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.strip())
    except ValueError:
        return None
