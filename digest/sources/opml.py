"""OPML, the subscription lists feed readers exchange: read one, write one.

An OPML file comes from elsewhere, so it is read with the same care as a feed: no DTD,
no entities, a size cap, and only http(s) feed addresses are taken from it.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime

from digest.errors import DigestError

MAX_BYTES = 5_000_000
_DTD = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)


class OpmlError(DigestError):
    """An OPML file that cannot be read."""


@dataclass(frozen=True, slots=True)
class Outline:
    """One feed listed in an OPML file."""

    url: str
    title: str
    category: str = ""


def read_opml(data: bytes, name: str) -> tuple[list[Outline], list[str]]:
    """The feeds an OPML file lists, and what was skipped and why (`name` is for messages)."""
    if len(data) > MAX_BYTES:
        raise OpmlError(f"{name}: the file is larger than {MAX_BYTES:,} bytes")
    if _DTD.search(data):
        raise OpmlError(
            f"{name}: the file declares a DTD or entities, which OPML never needs; it was not read",
            hint="Export the list again from your feed reader.",
        )
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise OpmlError(
            f"{name}: not valid XML ({exc})", hint="Is this the OPML file your reader exported?"
        ) from None
    if root.tag.lower() != "opml":
        raise OpmlError(f"{name}: not an OPML file (its root element is <{root.tag}>)")
    body = root.find("body")
    if body is None:
        raise OpmlError(f"{name}: the OPML file has no <body>")
    found: list[Outline] = []
    skipped: list[str] = []
    _walk(body, "", found, skipped)
    return found, skipped


def _walk(node: ET.Element, category: str, found: list[Outline], skipped: list[str]) -> None:
    for outline in node.findall("outline"):
        attrs = {k.lower(): v.strip() for k, v in outline.attrib.items()}
        title = attrs.get("title") or attrs.get("text") or ""
        url = attrs.get("xmlurl", "")
        if url:
            if url.lower().startswith(("http://", "https://")):
                found.append(Outline(url, title, category))
            else:
                skipped.append(f"'{title or url}': only http(s) feeds are imported ({url})")
        _walk(outline, title if not url else category, found, skipped)


def write_opml(feeds: list[tuple[str, str]], *, title: str, now: datetime) -> str:
    """An OPML 2.0 document listing `feeds` (title, url)."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = title
    ET.SubElement(head, "dateCreated").text = format_datetime(now, usegmt=True)
    body = ET.SubElement(root, "body")
    for name, url in feeds:
        ET.SubElement(body, "outline", type="rss", text=name, title=name, xmlUrl=url)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
