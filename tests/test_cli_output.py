"""What the CLI prints: feed and reader text shown as written, never read as rich markup."""

from pathlib import Path

from pytest import MonkeyPatch

from digest.cli.common import naming_config
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


def test_messages_name_the_config_file_in_use(tmp_path: Path, monkeypatch: MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = Path("watch.toml")
    config.write_text(
        '[[sources]]\nid = "docs"\nkind = "documents"\npath = "missing"\n' + THEMES,
        encoding="utf-8",
    )
    ingested = run(config, "ingest").output
    assert "fix the source's path in watch.toml." in ingested
    shown = run(config, "sources", "show", "docs").output
    assert "│ from " in shown and "watch.toml" in shown and "config.toml" not in shown
    broken = Path("broken.toml")
    broken.write_text('[digest]\ndatabase = "nosuchdb://x"\n', encoding="utf-8")
    result = run(broken, "items")
    assert result.exit_code == 1 and "Check [digest] database in broken.toml." in result.output


def test_naming_config_leaves_paths_alone() -> None:
    text = "see /etc/digest/config.toml or config.toml.bak, then fix config.toml."
    assert naming_config(text, Path("watch.toml")) == (
        "see /etc/digest/config.toml or config.toml.bak, then fix watch.toml."
    )
