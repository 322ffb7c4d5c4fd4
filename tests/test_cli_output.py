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
        feed(("r1", "http://r.example/1", ITEM, "Pyongyang tested a missile."), title=CHANNEL)
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
    monkeypatch.delenv("DIGEST_DATABASE_URL", raising=False)  # the file's database, here
    result = run(broken, "items")
    assert result.exit_code == 1 and "Check [digest] database in broken.toml." in result.output


def test_naming_config_leaves_paths_alone() -> None:
    text = "see /etc/digest/config.toml or config.toml.bak, then fix config.toml."
    assert naming_config(text, Path("watch.toml")) == (
        "see /etc/digest/config.toml or config.toml.bak, then fix watch.toml."
    )


def test_counts_agree_with_their_nouns(tmp_path: Path) -> None:
    config = hostile(tmp_path)
    ingested = run(config, "ingest").output
    assert "1 source " in ingested and "1 sources" not in ingested
    assert "1 item " in run(config, "items").output
    listed = run(config, "subscribers", "list").output
    assert "1 subscriber " in listed and "1 subscribers" not in listed
    checked = run(config, "config", "check").output
    assert "(1 source, 1 theme, 1 subscriber)" in checked


def test_items_from_an_unknown_source_is_an_error_naming_the_known_ones(tmp_path: Path) -> None:
    config = hostile(tmp_path)
    result = run(config, "items", "--source", "nope")
    assert result.exit_code == 2
    assert '"nope" is not a source; expected one of rich' in result.output


def test_pause_or_resume_says_when_a_subscriber_already_is_so(tmp_path: Path) -> None:
    config = hostile(tmp_path)
    assert "Paused b@example.org" in run(config, "subscribers", "pause", "b@example.org").output
    again = run(config, "subscribers", "pause", "b@example.org")
    assert again.exit_code == 0 and "b@example.org is already paused" in again.output
    assert "Resumed b@example.org" in run(config, "subscribers", "resume", "b@example.org").output
    assert "is already active" in run(config, "subscribers", "resume", "b@example.org").output


def test_run_once_names_the_outbox_only_when_it_wrote_there(tmp_path: Path) -> None:
    config = hostile(tmp_path)
    busy = run(config, "run", "--once")
    assert "b@example.org" in busy.output and "Digests are in" in busy.output
    run(config, "subscribers", "pause", "b@example.org")
    result = run(config, "run", "--once")
    assert result.exit_code == 0 and "Nothing is due." in result.output
    assert "Digests are in" not in result.output
