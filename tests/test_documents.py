"""Local documents: odd encodings, binary and empty files, Markdown, dates and summaries."""

import codecs
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from digest.app import App
from digest.models import Entry
from digest.sources.documents import scan_documents
from tests.conftest import Clock, write_config
from tests.ingest_fixtures import THEMES, ingest


def scan(folder: Path) -> tuple[dict[str, Entry], list[str]]:
    entries, warnings = scan_documents("docs", folder)
    return {e.guid.removeprefix("file:"): e for e in entries}, warnings


# -- encodings --------------------------------------------------------------------------


def test_cp1252_and_latin1_files_are_decoded_and_the_guess_is_named(tmp_path: Path) -> None:
    (tmp_path / "quotes.txt").write_bytes(
        "Zebra “smart quotes” — cp1252\n\nzebra text €".encode("cp1252")
    )
    (tmp_path / "latin.txt").write_bytes(
        "Zebra café naïve résumé\n\nThe zebra crossed the café.".encode("latin-1")
    )
    (tmp_path / "utf8.txt").write_text("Déjà vu\n\nFine.", encoding="utf-8")
    entries, warnings = scan(tmp_path)
    assert entries["quotes.txt"].title == "Zebra “smart quotes” — cp1252"
    assert entries["quotes.txt"].text.endswith("zebra text €")
    assert entries["latin.txt"].title == "Zebra café naïve résumé"
    assert "\ufffd" not in entries["latin.txt"].text + entries["latin.txt"].summary_html
    assert entries["utf8.txt"].title == "Déjà vu"
    assert len(warnings) == 2
    assert "'latin.txt' is not UTF-8" in warnings[0] and "cp1252" in warnings[0]
    assert "'quotes.txt' is not UTF-8" in warnings[1]


def test_an_html_files_declared_charset_is_honoured(tmp_path: Path) -> None:
    (tmp_path / "page.html").write_bytes(
        '<html><head><meta charset="iso-8859-1"><title>Caf\xe9 \x93news\x94</title></head>'
        "<body><p>Body</p></body></html>".encode("latin-1")
    )
    entries, warnings = scan(tmp_path)
    assert entries["page.html"].title == "Café “news”" and warnings == []


@pytest.mark.parametrize(
    ("bom", "encoding"),
    [
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
        (codecs.BOM_UTF32_LE, "utf-32-le"),
        (codecs.BOM_UTF32_BE, "utf-32-be"),
        (codecs.BOM_UTF8, "utf-8"),
    ],
)
def test_files_with_a_byte_order_mark_are_decoded_by_it(
    tmp_path: Path, bom: bytes, encoding: str
) -> None:
    (tmp_path / "doc.txt").write_bytes(bom + "Zebra document\n\nA zebra, 한국어.".encode(encoding))
    entries, warnings = scan(tmp_path)
    entry = entries["doc.txt"]
    assert entry.title == "Zebra document" and entry.text.endswith("A zebra, 한국어.")
    assert "\x00" not in entry.text and "\ufeff" not in entry.text and warnings == []


def test_utf16_without_a_bom_is_recognised(tmp_path: Path) -> None:
    (tmp_path / "doc.txt").write_bytes("Zebra document\n\nA zebra.".encode("utf-16-le"))
    entries, _ = scan(tmp_path)
    assert entries["doc.txt"].title == "Zebra document"


def test_a_utf8_bom_does_not_hide_a_markdown_heading(tmp_path: Path) -> None:
    (tmp_path / "bom.md").write_bytes(codecs.BOM_UTF8 + b"# Zebra BOM heading\n\nzebra text")
    entries, _ = scan(tmp_path)
    assert entries["bom.md"].title == "Zebra BOM heading"
    assert entries["bom.md"].text == "Zebra BOM heading\n\nzebra text"


# -- binary, empty and control characters ---------------------------------------------------


def test_binary_and_empty_files_are_skipped_with_a_warning_each(tmp_path: Path) -> None:
    (tmp_path / "binary.txt").write_bytes(bytes(range(256)))
    (tmp_path / "controls.md").write_bytes(bytes(range(1, 32)) * 4 + b"text")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "blank.md").write_text("  \n\n\t\n")
    (tmp_path / "ok.txt").write_text("Fine\n\nText.")
    entries, warnings = scan(tmp_path)
    assert list(entries) == ["ok.txt"]
    assert warnings == [
        "skipped 'binary.txt': not a text file (it contains NUL bytes)",
        "skipped 'blank.md': it has no text",
        "skipped 'controls.md': not a text file (108 of its 128 characters are control codes)",
        "skipped 'empty.txt': the file is empty",
    ]


def test_control_characters_are_stripped_from_kept_text(tmp_path: Path) -> None:
    (tmp_path / "doc.txt").write_bytes(
        b"Title\x07 here\r\n\r\nBody\x1b[31m red\x7f and\ttabbed, a long line of words."
    )
    entries, _ = scan(tmp_path)
    assert entries["doc.txt"].title == "Title here"
    assert entries["doc.txt"].text == "Title here\n\nBody[31m red and tabbed, a long line of words."


def test_a_file_that_turns_binary_keeps_its_item_and_says_why(
    tmp_path: Path, open_app: Callable[[Path], App], clock: Clock
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("First\n\nOne.")
    config = write_config(
        tmp_path, '[[sources]]\nid = "docs"\nkind = "documents"\npath = "docs"\n' + THEMES
    )
    app = open_app(config)
    assert ingest(app)["docs"].new == 1
    (docs / "a.txt").write_bytes(b"\x00\x01\x02garbage")
    clock.now += timedelta(hours=1)
    result = ingest(app)["docs"]
    assert (result.new, result.updated) == (0, 0)
    assert result.warnings == ["skipped 'a.txt': not a text file (it contains NUL bytes)"]
    assert app.store.get_source("docs").last_warning == result.warnings[0]
    [(item, _)] = app.store.list_items()
    assert item.title == "First"


# -- Markdown -------------------------------------------------------------------------------


def test_markdown_links_keep_their_text_and_drop_their_urls(tmp_path: Path) -> None:
    (tmp_path / "plain.md").write_text(
        "# Zebra *MD* heading\n\nSome **bold** zebra and a [link](javascript:alert(1)) and "
        "[ok](http://ok.example), ![a chart](data:x) and [ref][r].\n\n- list item\n\n"
        "[r]: https://ref.example\n"
    )
    entries, _ = scan(tmp_path)
    entry = entries["plain.md"]
    assert entry.title == "Zebra MD heading"
    assert entry.text == (
        "Zebra MD heading\n\nSome bold zebra and a link and ok, a chart and ref.\n\nlist item"
    )
    assert "javascript" not in entry.summary_html and "http" not in entry.summary_html


def test_markdown_front_matter_gives_title_and_date_and_is_not_text(tmp_path: Path) -> None:
    (tmp_path / "post.md").write_text(
        '---\ntitle: "From front matter"\ndate: 2021-03-27T09:30:00+09:00\ntags: [a]\n---\n'
        "# A heading\n\nBody text.\n"
    )
    entries, _ = scan(tmp_path)
    entry = entries["post.md"]
    assert entry.title == "From front matter"
    assert entry.published_at == datetime(2021, 3, 27, 0, 30, tzinfo=UTC)
    assert entry.text == "A heading\n\nBody text."


# -- dates and summaries --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "body"),
    [
        ('<meta property="article:published_time" content="2021-03-27T00:00:00Z">', ""),
        ('<meta content="2021-03-27" name="date">', ""),
        ("", '<p>Posted <time datetime="2021-03-27">last spring</time></p>'),
    ],
)
def test_an_html_documents_date_comes_from_its_markup(tmp_path: Path, head: str, body: str) -> None:
    (tmp_path / "page.html").write_text(
        f"<html><head><title>T</title>{head}</head><body>{body}<p>Text.</p></body></html>"
    )
    entries, _ = scan(tmp_path)
    assert entries["page.html"].published_at == datetime(2021, 3, 27, tzinfo=UTC)


def test_a_plain_text_dateline_near_the_top_dates_the_document(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("A title\n\n- March 27, 2021\n\nSome text.")
    (tmp_path / "b.txt").write_text("A title\n\nPublished: 2021-03-27\n\nSome text.")
    (tmp_path / "c.txt").write_text("A title\n\nIt rained on March 27, 2021, all day.")
    entries, _ = scan(tmp_path)
    assert entries["a.txt"].published_at == datetime(2021, 3, 27, tzinfo=UTC)
    assert entries["b.txt"].published_at == datetime(2021, 3, 27, tzinfo=UTC)
    assert entries["c.txt"].published_at is None


def test_a_summary_does_not_repeat_the_title(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("First line is the title\n\nThe body.")
    (tmp_path / "b.md").write_text("# Heading\n\nThe body.")
    (tmp_path / "only.txt").write_text("Just a title")
    entries, _ = scan(tmp_path)
    assert entries["a.txt"].summary_html == "<p>The body.</p>"
    assert entries["b.md"].summary_html == "<p>The body.</p>"
    assert entries["only.txt"].summary_html == "<p>Just a title</p>"


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("Привет, как дела? Это короткий текст о погоде в Москве.", "cp1251"),
        ("북한이 동해상으로 탄도미사일을 발사했다고 합동참모본부가 밝혔다.", "cp949"),
        ("Größe und Übermaß, schöne Grüße aus München.", "cp1252"),
    ],
)
def test_other_legacy_encodings_are_detected(tmp_path: Path, text: str, encoding: str) -> None:
    (tmp_path / "doc.txt").write_bytes(text.encode(encoding))
    entries, warnings = scan(tmp_path)
    assert entries["doc.txt"].text == text and encoding in warnings[0]
