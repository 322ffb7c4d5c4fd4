from pathlib import Path

import pytest

from digest.config import load_settings
from digest.errors import ConfigError
from tests.conftest import REPO, write_config


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    return caught.value.problems


def test_sample_config_is_valid() -> None:
    settings = load_settings(REPO / "config.toml")
    assert [s.id for s in settings.sources] == [
        "seed-documents",
        "peninsula-wire",
        "allied-monitor",
    ]
    assert list(settings.themes) == ["missile_tests", "china_influence", "alliance_coordination"]
    assert len(settings.subscribers) == 3


def test_config_reports_every_problem_at_once(tmp_path: Path) -> None:
    text = (REPO / "config.toml").read_text()
    text = text.replace('cadence = "daily 07:00"', 'cadence = "dialy 07:00"')
    text = text.replace("port = 1025", 'port = "abc"')
    text = text.replace('timezone = "Europe/London"', 'timezone = "Europe/Londn"')
    text = text.replace('themes = ["alliance_coordination"]', 'themes = ["alliances"]')
    problems = problems_of(write_config(tmp_path, text))
    assert problems == [
        'delivery.smtp.port: "abc" is not a whole number',
        'subscribers[0].cadence: "dialy 07:00" is not a cadence; expected "daily HH:MM", '
        '"weekly DAY HH:MM" or a cron expression',
        'subscribers[2].timezone: "Europe/Londn" is not an IANA time zone; '
        'expected a name like "Europe/Paris" or "UTC"',
        'subscribers[1].themes: "alliances" is not a theme; '
        "expected one of missile_tests, china_influence, alliance_coordination",
    ]


def test_unknown_key_is_an_error_naming_the_expected_keys(tmp_path: Path) -> None:
    problems = problems_of(write_config(tmp_path, '[delivery]\nbackend = "file"\ncolour = "red"\n'))
    assert len(problems) == 1
    assert problems[0].startswith("delivery.colour: unknown key; expected one of backend, outbox")


def test_bad_toml_names_the_file_and_line(tmp_path: Path) -> None:
    problems = problems_of(write_config(tmp_path, "[digest\ntitle = 1\n"))
    assert "is not valid TOML" in problems[0] and "line 1" in problems[0]


def test_missing_config_file_says_how_to_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path / "nope.toml")
    assert caught.value.problems == ["file not found"]


def test_bad_email_and_source_kind_are_named(tmp_path: Path) -> None:
    body = """
[[sources]]
id = "x"
kind = "ftp"
url = "ftp://example.org/feed"

[[subscribers]]
email = "not-an-address"
themes = []
"""
    problems = problems_of(write_config(tmp_path, body))
    assert (
        problems[0] == 'sources[0].kind: "ftp" is not a source kind; expected "documents" or "feed"'
    )
    assert problems[1].startswith('subscribers[0].email: "not-an-address" is not an email address')


def test_relative_database_path_is_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DIGEST_DATABASE_URL", raising=False)
    settings = load_settings(write_config(tmp_path, '[digest]\ndatabase = "sqlite:///data/x.db"\n'))
    assert settings.database_url == f"sqlite:///{tmp_path / 'data' / 'x.db'}"


def test_digest_database_url_overrides_the_configured_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGEST_DATABASE_URL", "postgresql+psycopg://u@127.0.0.1/d")
    settings = load_settings(write_config(tmp_path, '[digest]\ndatabase = "sqlite:///x.db"\n'))
    assert settings.database_url == "postgresql+psycopg://u@127.0.0.1/d"


def test_cron_weekday_numbers_mean_what_cron_means() -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from digest.cadence import cadence_trigger, next_run

    trigger = cadence_trigger("0 7 * * 1-5", ZoneInfo("Asia/Seoul"))
    # Sunday 22 Nov 2026: the next weekday 07:00 in Seoul is Monday 23 Nov.
    fire = next_run(trigger, datetime(2026, 11, 22, 0, 0, tzinfo=UTC))
    assert fire.isoformat() == "2026-11-23T07:00:00+09:00"


def test_every_setting_is_documented_in_the_sample_config() -> None:
    from digest.config import Settings
    from digest.starter import settings_tables

    text = (REPO / "config.toml").read_text()
    for table, model in settings_tables(Settings):
        assert f"[{table}]" in text, f"[{table}] is not in config.toml"
        for name, field in model.model_fields.items():
            if _is_table(field.annotation):
                continue
            assert f"{name} =" in text, f"{table}.{name} is not in config.toml"


def _is_table(annotation: object) -> bool:
    from pydantic import BaseModel

    return isinstance(annotation, type) and issubclass(annotation, BaseModel)
