"""What the CLI prints: feed and reader text shown as written, never read as rich markup."""

from pathlib import Path

from tests.ingest_fixtures import THEMES, feed, run

ITEM = "[/bold] Zebra [link=http://evil.example]click[/link] title"
CHANNEL = "[/] Rich [bold red]Wire"
NAME = "[red]Bob[/red] [link=http://evil.example]x[/link]"


def hostile(tmp_path: Path, ingest: str = "") -> Path:
    """A config whose feed, channel and subscriber are all named in rich markup."""
    (tmp_path / "rich.xml").write_bytes(
        feed(("r1", "http://r.example/1", ITEM, "a missile test"), title=CHANNEL)
    )
    config = tmp_path / "config.toml"
    config.write_text(
        f'[ingest]\n{ingest}\n[[sources]]\nid = "rich"\nkind = "feed"\nurl = "rich.xml"\n'
        + THEMES
        + f'[[subscribers]]\nemail = "b@example.org"\nname = "{NAME}"\n'
        'themes = ["missile_tests"]\n',
        encoding="utf-8",
    )
    return config


def test_items_and_sources_print_markup_in_feed_titles_literally(tmp_path: Path) -> None:
    config = hostile(tmp_path)
    assert run(config, "ingest").exit_code == 0
    for args, shown in (
        (("items",), ITEM),
        (("sources", "show", "rich"), CHANNEL),
        (("sources",), "rich"),
    ):
        result = run(config, *args)
        assert result.exit_code == 0, result.output
        assert shown in result.output and "Traceback" not in result.output


def test_subscribers_list_and_show_print_markup_in_names_literally(tmp_path: Path) -> None:
    config = hostile(tmp_path)
    for args in (("subscribers", "list"), ("subscribers", "show", "b@example.org")):
        result = run(config, *args)
        assert result.exit_code == 0, result.output
        assert NAME in result.output


def test_ingest_note_keeps_the_setting_it_names(tmp_path: Path) -> None:
    many = feed(*((f"g{n}", f"http://r.example/{n}", f"T{n}", "x") for n in range(3)))
    config = hostile(tmp_path, ingest="max_items_per_feed = 2")
    (tmp_path / "rich.xml").write_bytes(many)
    result = run(config, "ingest")
    assert result.exit_code == 0, result.output
    assert "([ingest] max_items_per_feed)" in result.output
