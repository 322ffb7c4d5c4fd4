"""Fixtures for the delivery tests: a deployment's config.toml, an outbox with digests
queued in it, and the CLI run against that deployment."""

from __future__ import annotations

import textwrap
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from digest.cli import cli
from digest.config import Settings, load_settings
from digest.deliver import flush_outbox, make_mailer
from digest.models import Subscriber
from digest.render import Renderer
from digest.store import Store
from tests.digests import LINKS, NOW, make_digest, subscriber
from tests.smtp_fixtures import SmtpSink


def write_config(folder: Path, port: int, extra: str = "", backend: str = "smtp") -> Path:
    path = folder / "config.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            [digest]
            title = "Korea Watch"
            database = "sqlite:///data/digest.db"
            [delivery]
            backend = "{backend}"
            sender = "Korea Watch <digest@example.org>"
            [delivery.smtp]
            host = "127.0.0.1"
            port = {port}
            timeout = 5.0
            """
        )
        + extra
    )
    return path


class Outbox:
    """A store with subscribers and their digests queued, as queue_digest leaves them."""

    def __init__(self, config: Path) -> None:
        self.settings: Settings = load_settings(config)
        self.store = Store.open(self.settings.database_url)
        self.renderer = Renderer(self.settings)

    def queue(self, count: int) -> list[Subscriber]:
        subs = []
        for i in range(count):
            sub = self.store.add_subscriber(
                subscriber(id=0, email=f"reader{i:03d}@example.org"), origin="cli", now=NOW
            )
            digest = make_digest(sub, items_per_theme=(2, 1))
            key = f"digest:{sub.id}:2026-11-22T12:00Z"
            rendered = self.renderer.render_digest(digest, links=LINKS, key=key, now=NOW)
            self.store.queue_message(
                key=key,
                kind="digest",
                subscriber_id=sub.id,
                recipient=sub.email,
                window_start=digest.window_start,
                window_end=digest.window_end,
                subject=rendered.subject,
                message_id=rendered.message_id,
                message=self.renderer.build_message(rendered, recipient=sub.email, date=NOW),
                item_ids=(),
                now=NOW,
            )
            subs.append(sub)
        return subs

    def statuses(self) -> Counter[str]:
        return Counter(m.status for m in self.store.list_messages(limit=10_000))

    def flush_until_done(self, *, rounds: int = 12) -> int:
        """Flush as the scheduler would, moving time past every backoff; the rounds it took."""
        now = NOW
        for n in range(1, rounds + 1):
            flush_outbox(self.store, make_mailer(self.settings), now)
            if not self.statuses().get("queued"):
                return n
            now += timedelta(hours=2)
        raise AssertionError(f"still queued after {rounds} rounds: {self.statuses()}")


@pytest.fixture
def outbox(tmp_path: Path, smtp_sink: SmtpSink) -> Outbox:
    return Outbox(write_config(tmp_path, smtp_sink.port))


def wrong_password_outbox(
    folder: Path, sink: SmtpSink, ca_file: str, monkeypatch: pytest.MonkeyPatch
) -> Outbox:
    """An outbox for a STARTTLS server that refuses its login, with two messages queued."""
    monkeypatch.setenv("DIGEST_SMTP_USERNAME", "digest")
    monkeypatch.setenv("DIGEST_SMTP_PASSWORD", "wrong")
    outbox = Outbox(
        write_config(folder, sink.port, f'security = "starttls"\nca_file = "{ca_file}"\n')
    )
    outbox.queue(2)
    return outbox


def run_cli(config: Path, *args: str) -> Result:
    return CliRunner(env={"COLUMNS": "250"}).invoke(cli, ["--config", str(config), *args])
