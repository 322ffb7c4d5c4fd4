"""A folder of local documents (.txt, .md, .html) as a source."""

from __future__ import annotations

import html
import re
from pathlib import Path

from digest.errors import ParseError
from digest.models import Entry
from digest.sources.clean import clean_title, html_to_text, sanitize_html
from digest.sources.feeds import SUMMARY_CHARS
from digest.sources.stories import signature

SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm")
_HTML_TITLE = re.compile(r"<(h1|title)\b[^>]*>(.*?)</\1>", re.IGNORECASE | re.DOTALL)
# A saved web page often starts with its breadcrumb trail: "Home > News > Title ...".
_NAVIGATION = re.compile(r"^\s*(?:[^>]{1,40}\s>\s){2,}")
_PROSE_WORDS = 12
_SENTENCE_END = re.compile(r"[.!?][\"'”’)]?(\s|$)")
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$")


def read_documents(source_id: str, folder: Path, *, max_bytes: int = 10_000_000) -> list[Entry]:
    """Every document in the folder (recursively), one entry each, in path order."""
    return scan_documents(source_id, folder, max_bytes=max_bytes)[0]


def scan_documents(
    source_id: str, folder: Path, *, max_bytes: int = 10_000_000
) -> tuple[list[Entry], list[str]]:
    """Every document in the folder (recursively) in path order, and warnings about the rest.

    Every read sees the folder as it is now: new files become new items and changed files
    update theirs (the store matches them by path, then by content). A file too large or
    unreadable is skipped with a warning; the others are still read.
    """
    if not folder.is_dir():
        raise ParseError(
            source_id,
            f"the folder '{folder}' does not exist; create it or fix the source's path in "
            "config.toml",
        )
    entries: list[Entry] = []
    warnings: list[str] = []
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() not in SUFFIXES or path.name.startswith("."):
            continue
        try:
            if not path.is_file():
                continue
            if path.stat().st_size > max_bytes:
                warnings.append(
                    f"skipped '{path.relative_to(folder)}': larger than {max_bytes:,} bytes"
                )
                continue
            entries.append(read_document(source_id, folder, path))
        except OSError as exc:
            warnings.append(f"skipped '{path.relative_to(folder)}': {exc.strerror}")
    if not entries and not warnings:
        warnings.append("the folder has no .txt, .md or .html files")
    return entries, warnings


def read_document(source_id: str, folder: Path, path: Path) -> Entry:
    raw = path.read_bytes().decode("utf-8", errors="replace")
    relative = path.relative_to(folder).as_posix()
    if path.suffix.lower() in (".html", ".htm"):
        found = _HTML_TITLE.search(raw)
        title = html_to_text(found.group(2)) if found else ""
        body = re.sub(r"<(script|style|head)\b.*?</\1>", "", raw, flags=re.I | re.S)
        text = html_to_text(sanitize_html(body))
    else:
        text = _markdown_text(raw) if path.suffix.lower() in (".md", ".markdown") else raw.strip()
        title = _first_heading(raw) if path.suffix.lower() != ".txt" else ""
        text = "\n\n".join(" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip())
    if not title:
        lines = (line for line in text.splitlines() if line.strip() and not _NAVIGATION.match(line))
        title = _headline(next(lines, path.stem))
    body = _from_first_prose(text)
    summary = body[:SUMMARY_CHARS]
    if len(body) > SUMMARY_CHARS:
        summary = summary.rsplit(" ", 1)[0] + " …"
    return Entry(
        source_id=source_id,
        guid=f"file:{relative}",
        url="",
        title=clean_title(title, fallback=path.stem),
        summary_html="".join(f"<p>{html.escape(p)}</p>" for p in summary.split("\n\n")),
        text=text,
        signature=signature(title, text),
    )


def _from_first_prose(text: str) -> str:
    """The text from its first paragraph of prose on, for the summary.

    A saved web page opens with its chrome (a breadcrumb, "142 views", the title again, a
    date line); a summary should open with what the document says. The full text is kept
    for tagging.
    """
    paragraphs = text.split("\n\n")
    for i, paragraph in enumerate(paragraphs):
        if (
            len(paragraph.split()) >= _PROSE_WORDS
            and _SENTENCE_END.search(paragraph)
            and not _NAVIGATION.match(paragraph)
        ):
            return "\n\n".join(paragraphs[i:])
    return text


def _headline(line: str, limit: int = 140) -> str:
    """A first line as a title: its first sentence when the line is a whole paragraph."""
    if len(line) <= limit:
        return line
    sentence = re.match(r"(.{20,}?[.!?])[\s\"'”’]", line)
    if sentence and len(sentence.group(1)) <= limit:
        return sentence.group(1)
    return line[:limit].rsplit(" ", 1)[0] + "…"


def _first_heading(raw: str) -> str:
    for line in raw.splitlines():
        if match := _MD_HEADING.match(line):
            return match.group(1)
    return ""


def _markdown_text(raw: str) -> str:
    """Markdown as plain text: headings, emphasis and link syntax removed."""
    text = re.sub(r"^\s{0,3}#{1,6}\s+", "", raw, flags=re.M)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"(\*\*|__|\*|_|`)(.+?)\1", r"\2", text).strip()
