import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from digest.cli import cli


def run(config: Path, *args: str) -> click.testing.Result:
    return CliRunner().invoke(cli, ["--config", str(config), *args])


def test_every_command_has_help() -> None:
    def walk(group: click.Group, path: list[str]) -> None:
        for name, command in group.commands.items():
            assert command.help, f"digest {' '.join([*path, name])} has no help"
            result = CliRunner().invoke(cli, [*path, name, "--help"])
            assert result.exit_code == 0, result.output
            if isinstance(command, click.Group):
                walk(command, [*path, name])

    walk(cli, [])


def test_config_check_exits_2_with_every_problem_and_no_traceback(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[[subscribers]]\nemail = "a@example.org"\nthemes = ["x"]\ncadence = "dialy 07:00"\n'
    )
    result = run(config, "config", "check")
    assert result.exit_code == 2
    assert 'subscribers[0].cadence: "dialy 07:00" is not a cadence' in result.output
    assert 'subscribers[0].themes: "x" is not a theme' in result.output
    assert "Traceback" not in result.output


def test_config_check_finds_what_would_fail_at_run_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DIGEST_DATABASE_URL", raising=False)  # the file's database, here
    config = tmp_path / "config.toml"
    config.write_text(
        '[digest]\ndatabase = "nosuchdb://x"\n'
        '[[sources]]\nid = "docs"\nkind = "documents"\npath = "nodocs"\n'
        '[[sources]]\nid = "local"\nkind = "feed"\nurl = "feeds/none.xml"\n'
        '[[sources]]\nid = "web"\nkind = "feed"\nurl = "https://example.org/feed.xml"\n'
    )
    result = run(config, "config", "check")
    assert result.exit_code == 2, result.output
    assert "3 problems" in result.output
    assert "digest.database: 'nosuchdb://x' cannot be opened" in result.output
    assert 'sources[0].path: "nodocs" is no folder' in result.output
    assert 'sources[1].url: "feeds/none.xml" is no file' in result.output
    assert "Traceback" not in result.output


def test_config_check_passes_on_the_sample(sample_config: Path) -> None:
    result = run(sample_config, "config", "check")
    assert result.exit_code == 0 and "OK (3 sources, 3 themes, 3 subscribers)" in result.output


def test_run_once_then_items_json_lists_items_with_tags(sample_config: Path) -> None:
    assert run(sample_config, "run", "--once").exit_code == 0
    result = run(sample_config, "items", "--json", "--limit", "100")
    items = json.loads(result.output)
    assert len(items) == 34
    tagged = [i for i in items if any(t["tagged"] for t in i["tags"])]
    assert tagged and all(t["evidence"] for i in tagged for t in i["tags"] if t["tagged"])


def test_preview_writes_html_and_records_no_delivery(sample_config: Path, tmp_path: Path) -> None:
    run(sample_config, "ingest")
    out = tmp_path / "preview.html"
    result = run(sample_config, "preview", "analyst@example.org", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("<!doctype html>")
    assert "Outbox" in run(sample_config, "outbox").output
    assert "analyst@example.org" not in run(sample_config, "outbox").output


def test_unknown_subscriber_is_one_clear_line(sample_config: Path) -> None:
    result = run(sample_config, "preview", "nobody@example.org")
    assert result.exit_code == 1
    assert result.output.startswith("Error: No subscriber 'nobody@example.org'.")
    assert "Traceback" not in result.output


def test_sources_shows_health(sample_config: Path) -> None:
    run(sample_config, "ingest")
    output = run(sample_config, "sources").output
    assert "seed-documents" in output and "peninsula-wire" in output


def test_db_status_reports_up_to_date(sample_config: Path) -> None:
    run(sample_config, "db", "upgrade")
    assert "up to date" in run(sample_config, "db", "status").output


def test_init_writes_a_config_that_passes_check_and_runs(tmp_path: Path) -> None:
    config = tmp_path / "new" / "config.toml"
    assert run(config, "init").exit_code == 0
    (tmp_path / "new" / "sources" / "documents" / "a.md").write_text(
        "# An example phrase appears\n\nThe example phrase is here."
    )
    assert run(config, "config", "check").exit_code == 0
    assert run(config, "run", "--once").exit_code == 0
    assert len(list((tmp_path / "new" / "outbox").glob("*.eml"))) == 1
    again = run(config, "init")
    assert again.exit_code == 1 and "exists" in again.output


def test_config_show_masks_the_database_password_and_shows_the_url_in_force(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[digest]\ndatabase = "postgresql+psycopg://user:pgpass999@db.example/d"\n')
    wide = {"COLUMNS": "250"}
    # The file's URL: no DIGEST_DATABASE_URL (the PostgreSQL test run sets one).
    shown = CliRunner(env={**wide, "DIGEST_DATABASE_URL": None}).invoke(
        cli, ["--config", str(config), "config", "show"]
    )
    assert shown.exit_code == 0, shown.output
    assert "pgpass999" not in shown.output and "user:***@db.example/d" in shown.output
    in_force = "postgresql+psycopg://env:envpass1@env.example/d"
    shown = CliRunner(env={**wide, "DIGEST_DATABASE_URL": in_force}).invoke(
        cli, ["--config", str(config), "config", "show"]
    )
    assert "envpass1" not in shown.output and "pgpass999" not in shown.output
    assert "'postgresql+psycopg://env:***@env.example/d' (from $DIGEST_DATABASE_URL)" in (
        shown.output
    )
