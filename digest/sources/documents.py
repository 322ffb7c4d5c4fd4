"""A folder of local documents (.txt, .md, .html) as a source."""

from __future__ import annotations

import html
import re
from pathlib import Path, PurePosixPath

from digest.errors import ParseError
from digest.models import Entry
from digest.sources.clean import clean_title, html_to_text, sanitize_html
from digest.sources.decode import NotText, decode_text
from digest.sources.docmeta import dateline, front_matter, html_date, markdown_text, parse_date
from digest.sources.feeds import SUMMARY_CHARS
from digest.sources.stories import signature

SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm")
_HTML_SUFFIXES = (".html", ".htm")
_HTML_TITLE = re.compile(r"<(h1|title)\b[^>]*>(.*?)</\1>", re.IGNORECASE | re.DOTALL)
# A saved web page often starts with its breadcrumb trail: "Home > News > Title ...".
_NAVIGATION = re.compile(r"^\s*(?:[^>]{1,40}\s>\s){2,}")
_PROSE_WORDS = 12
_SENTENCE_END = re.compile(r"[.!?][\"'”’)]?(\s|$)")


def read_documents(source_id: str, folder: Path, *, max_bytes: int = 10_000_000) -> list[Entry]:
    """Every document in the folder (recursively), one entry each, in path order."""
    return scan_documents(source_id, folder, max_bytes=max_bytes)[0]


def scan_documents(
    source_id: str, folder: Path, *, max_bytes: int = 10_000_000
) -> tuple[list[Entry], list[str]]:
    """Every document in the folder (recursively) in path order, and warnings about the rest.

    Every read sees the folder as it is now: new files become new items and changed files
    update theirs (the store matches them by path, then by content). A file too large,
    unreadable, empty or not text is skipped with a warning, and its earlier item is kept;
    the others are still read. A file whose encoding had to be guessed is read with a
    warning.
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
        relative = path.relative_to(folder).as_posix()
        try:
            if not path.is_file():
                continue
            if path.stat().st_size > max_bytes:
                warnings.append(f"skipped '{relative}': larger than {max_bytes:,} bytes")
                continue
            data = path.read_bytes()
        except OSError as exc:
            warnings.append(f"skipped '{relative}': {exc.strerror}")
            continue
        try:
            decoded = decode_text(data, html=path.suffix.lower() in _HTML_SUFFIXES)
        except NotText as exc:
            warnings.append(f"skipped '{relative}': not a text file ({exc})")
            continue
        entry = parse_document(source_id, relative, decoded.text)
        if entry is None:
            warnings.append(
                f"skipped '{relative}': " + ("it has no text" if data else "the file is empty")
            )
            continue
        if decoded.guessed:
            warnings.append(
                f"'{relative}' is not UTF-8; read it as {decoded.encoding} (a guess; save the "
                "file as UTF-8 to be sure)"
            )
        entries.append(entry)
    if not entries and not warnings:
        warnings.append("the folder has no .txt, .md or .html files")
    return entries, warnings


def parse_document(source_id: str, relative: str, raw: str) -> Entry | None:
    """One document's decoded text as an entry, or None when it has no text."""
    suffix = PurePosixPath(relative).suffix.lower()
    published = None
    if suffix in _HTML_SUFFIXES:
        found = _HTML_TITLE.search(raw)
        title = html_to_text(found.group(2)) if found else ""
        published = html_date(raw)
        body = re.sub(r"<(script|style|head)\b.*?</\1>", "", raw, flags=re.I | re.S)
        text = html_to_text(sanitize_html(body))
    elif suffix in (".md", ".markdown"):
        meta, raw = front_matter(raw)
        title, text = markdown_text(raw)
        title = meta.get("title") or title
        published = parse_date(meta.get("date", ""))
    else:
        title, text = "", raw
    text = "\n\n".join(" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip())
    if not text and not title:
        return None
    stem = PurePosixPath(relative).stem
    if not title:
        lines = (line for line in text.splitlines() if line.strip() and not _NAVIGATION.match(line))
        title = _headline(next(lines, stem))
    title = clean_title(title, fallback=stem)
    if published is None:
        published = dateline(text)
    body = _without_title(_from_first_prose(text), title)
    summary = body[:SUMMARY_CHARS]
    if len(body) > SUMMARY_CHARS:
        summary = summary.rsplit(" ", 1)[0] + " …"
    return Entry(
        source_id=source_id,
        guid=f"file:{relative}",
        url="",
        title=title,
        summary_html="".join(f"<p>{html.escape(p)}</p>" for p in summary.split("\n\n")),
        text=text,
        published_at=published,
        signature=signature(title, text),
    )


def _without_title(body: str, title: str) -> str:
    """The body without its opening paragraphs that only repeat the title, if more remains."""
    paragraphs = body.split("\n\n")
    bare = title.rstrip("…").strip().casefold()
    while len(paragraphs) > 1 and bare and paragraphs[0].casefold().startswith(bare):
        if len(paragraphs[0]) > len(title) + 40:
            break  # the title is only this paragraph's first sentence: keep the paragraph
        paragraphs.pop(0)
    return "\n\n".join(paragraphs)


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
