"""Deliver: the outbox, the SMTP and file backends, retries, and exactly-once under faults."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from digest.cli import cli
from digest.config import Settings, load_settings
from digest.deliver import LEASE, FileMailer, RetryPolicy, flush_outbox, make_mailer
from digest.errors import DeliveryError
from digest.models import Subscriber
from digest.render import Renderer
from digest.smtp import SmtpMailer
from digest.store import Store
from tests.conftest import REPO
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


def run_cli(config: Path, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner(env={"COLUMNS": "250"}).invoke(cli, ["--config", str(config), *args])


# -- the plain path ------------------------------------------------------------------------------


def test_each_message_is_sent_once_over_one_connection_and_the_reply_kept(
    outbox: Outbox, smtp_sink: SmtpSink
) -> None:
    subs = outbox.queue(3)
    result = flush_outbox(outbox.store, make_mailer(outbox.settings), NOW)
    assert len(result.sent) == 3 and smtp_sink.connections == 1
    assert smtp_sink.per_recipient() == {s.email: 1 for s in subs}
    for message in outbox.store.list_messages():
        assert message.status == "sent"
        assert message.server_reply and message.server_reply.startswith("250 2.0.0 Ok: queued as")
    assert all(s.last_digest_at == NOW for s in outbox.store.list_subscribers())
    received = smtp_sink.received[0]
    assert received.mail_from == "digest@example.org"
    assert received.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_a_message_sent_meanwhile_is_not_sent_and_the_connection_goes_on(
    outbox: Outbox, smtp_sink: SmtpSink
) -> None:
    """The attempt is marked while the server answers MAIL; a message that is no longer
    queued by then is not sent (RSET), and the next one goes over the same connection."""
    subs = outbox.queue(3)
    second = next(m for m in outbox.store.list_messages() if m.recipient == subs[1].email)

    def meanwhile() -> None:  # another sender got there first
        if not outbox.store.list_messages(status="sent", bodies=False):
            outbox.store.mark_sent(second.id, "250 sent elsewhere", NOW)

    result = flush_outbox(outbox.store, make_mailer(outbox.settings), NOW, check=meanwhile)
    assert [m.recipient for m in result.sent] == [subs[0].email, subs[2].email]
    assert smtp_sink.per_recipient() == {subs[0].email: 1, subs[2].email: 1}
    assert smtp_sink.connections == 1
    assert outbox.statuses() == {"sent": 3}


def test_the_last_outcome_is_kept_when_the_next_attempt_fails_before_it_starts(
    outbox: Outbox, smtp_sink: SmtpSink
) -> None:
    """An attempt that fails before the mailer is ready (here, before MAIL) must still
    record the previous message as sent, or that one would go again."""
    subs = outbox.queue(3)

    class LostBeforeMail(SmtpMailer):
        def send(self, message, ready=None):  # type: ignore[no-untyped-def]
            if message.recipient == subs[1].email:
                self._drop()
                raise DeliveryError("connection lost before MAIL", recipient=message.recipient)
            return super().send(message, ready)

    result = flush_outbox(outbox.store, LostBeforeMail(outbox.settings), NOW)
    assert [m.recipient for m in result.sent] == [subs[0].email, subs[2].email]
    by_recipient = {m.recipient: m for m in outbox.store.list_messages()}
    assert by_recipient[subs[0].email].status == "sent"
    assert by_recipient[subs[1].email].status == "queued"
    assert by_recipient[subs[1].email].sending_at is None
    assert all(m.sending_at is None for m in by_recipient.values())
    outbox.flush_until_done()
    assert smtp_sink.per_recipient() == {s.email: 1 for s in subs}


def test_nothing_is_sent_twice_by_a_second_flush(outbox: Outbox, smtp_sink: SmtpSink) -> None:
    outbox.queue(2)
    flush_outbox(outbox.store, make_mailer(outbox.settings), NOW)
    again = flush_outbox(outbox.store, make_mailer(outbox.settings), NOW + timedelta(days=1))
    assert again.sent == [] and len(smtp_sink.received) == 2


# -- faults --------------------------------------------------------------------------------------


def test_451_every_7th_and_a_drop_every_11th_still_give_200_readers_one_digest_each(
    outbox: Outbox, smtp_sink: SmtpSink
) -> None:
    def fault(n: int) -> str | None:
        if n % 11 == 0:
            return "drop"
        return "451 4.3.0 Try again later" if n % 7 == 0 else None

    smtp_sink.fault = fault
    subs = outbox.queue(200)
    rounds = outbox.flush_until_done()
    assert rounds > 1  # some had to wait for their retry
    assert smtp_sink.per_recipient() == {s.email: 1 for s in subs}
    stored = {m.recipient: m for m in outbox.store.list_messages(limit=1000)}
    assert {m.status for m in stored.values()} == {"sent"}
    for got in smtp_sink.received:
        assert got.message_id == stored[got.rcpt_tos[0]].message_id
        assert got.data.replace(b"\r\n", b"\n") == stored[got.rcpt_tos[0]].message.replace(
            b"\r\n", b"\n"
        )
    retried = [m for m in stored.values() if m.attempts > 1]
    assert len(retried) >= 200 // 11
    assert smtp_sink.connections > 200 // 11  # a new connection after each drop


def test_a_5xx_is_permanent_and_that_readers_window_does_not_advance(
    outbox: Outbox, smtp_sink: SmtpSink
) -> None:
    smtp_sink.fault = lambda n: "550 5.1.1 No such user" if n == 2 else None
    subs = outbox.queue(3)
    result = flush_outbox(outbox.store, make_mailer(outbox.settings), NOW)
    assert [m.recipient for m in result.failed] == [subs[1].email]
    failed = outbox.store.list_messages(status="failed")[0]
    assert failed.last_error == "550 5.1.1 No such user" and failed.next_attempt_at is None
    windows = {s.email: s.last_digest_at for s in outbox.store.list_subscribers()}
    assert windows == {subs[0].email: NOW, subs[1].email: None, subs[2].email: NOW}
    later = flush_outbox(outbox.store, make_mailer(outbox.settings), NOW + timedelta(days=2))
    assert later.sent == [] and len(smtp_sink.received) == 2


def test_a_4xx_is_retried_later_with_exponential_backoff(
    outbox: Outbox, smtp_sink: SmtpSink
) -> None:
    smtp_sink.fault = lambda n: "451 4.7.1 Greylisted"
    outbox.queue(1)
    waits = []
    now = NOW
    for _ in range(5):
        flush_outbox(outbox.store, make_mailer(outbox.settings), now)
        message = outbox.store.list_messages()[0]
        if message.next_attempt_at is None:
            break
        waits.append((message.next_attempt_at - now).total_seconds())
        assert flush_outbox(outbox.store, make_mailer(outbox.settings), now).sent == []
        now = message.next_attempt_at
    assert waits == [60, 120, 240, 480]
    assert message.status == "failed" and message.attempts == 5  # max_attempts


def test_backoff_is_capped() -> None:
    policy = RetryPolicy(max_attempts=20, delay=60, max_delay=600)
    assert [
        (policy.next_attempt(n, NOW) - NOW).total_seconds()  # type: ignore[operator]
        for n in (1, 2, 3, 4, 5, 9)
    ] == [60, 120, 240, 480, 600, 600]
    assert policy.next_attempt(20, NOW) is None


def test_an_unreachable_server_stops_the_batch_and_loses_nothing(tmp_path: Path) -> None:
    from tests.smtp_fixtures import free_port

    outbox = Outbox(write_config(tmp_path, free_port()))
    outbox.queue(3)
    result = flush_outbox(outbox.store, make_mailer(outbox.settings), NOW)
    assert result.stopped and "Cannot connect to the SMTP server 127.0.0.1" in result.stopped
    attempts = sorted(m.attempts for m in outbox.store.list_messages())
    assert attempts == [0, 0, 1] and outbox.statuses() == {"queued": 3}


def test_starttls_and_auth_from_the_environment(
    tmp_path: Path, smtp_tls_sink: tuple[SmtpSink, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sink, ca_file = smtp_tls_sink
    monkeypatch.setenv("DIGEST_SMTP_USERNAME", "digest")
    monkeypatch.setenv("DIGEST_SMTP_PASSWORD", "secret")
    config = write_config(tmp_path, sink.port, f'security = "starttls"\nca_file = "{ca_file}"\n')
    outbox = Outbox(config)
    subs = outbox.queue(2)
    result = flush_outbox(outbox.store, make_mailer(outbox.settings), NOW)
    assert len(result.sent) == 2 and sink.logins == ["digest"]
    assert sink.per_recipient() == {s.email: 1 for s in subs}


def test_a_wrong_password_stops_the_batch_with_a_clear_error(
    tmp_path: Path, smtp_tls_sink: tuple[SmtpSink, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sink, ca_file = smtp_tls_sink
    monkeypatch.setenv("DIGEST_SMTP_USERNAME", "digest")
    monkeypatch.setenv("DIGEST_SMTP_PASSWORD", "wrong")
    outbox = Outbox(
        write_config(tmp_path, sink.port, f'security = "starttls"\nca_file = "{ca_file}"\n')
    )
    outbox.queue(2)
    result = flush_outbox(outbox.store, make_mailer(outbox.settings), NOW)
    assert result.stopped and "refused the login of $DIGEST_SMTP_USERNAME: 535" in result.stopped
    assert outbox.statuses() == {"queued": 2}


def test_the_password_is_never_sent_unencrypted_to_another_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGEST_SMTP_USERNAME", "digest")
    settings = load_settings(write_config(tmp_path, 25))
    settings = settings.model_copy(
        update={
            "delivery": settings.delivery.model_copy(
                update={"smtp": settings.delivery.smtp.model_copy(update={"host": "mail.invalid"})}
            )
        }
    )
    outbox = Outbox(write_config(tmp_path, 25))
    outbox.queue(1)
    with pytest.raises(DeliveryError, match="unencrypted") as caught:
        SmtpMailer(settings).send(outbox.store.list_messages()[0])
    assert caught.value.connection


def test_the_rate_limit_spaces_messages(outbox: Outbox, smtp_sink: SmtpSink) -> None:
    outbox.queue(4)
    settings = outbox.settings.model_copy(
        update={
            "delivery": outbox.settings.delivery.model_copy(
                update={
                    "smtp": outbox.settings.delivery.smtp.model_copy(
                        update={"rate_per_second": 5.0}
                    )
                }
            )
        }
    )
    slept: list[float] = []
    mailer = SmtpMailer(settings, sleep=lambda s: slept.append(s), clock=lambda: 100.0)
    flush_outbox(outbox.store, mailer, NOW)
    assert slept == [pytest.approx(0.2)] * 3


def test_a_live_sender_holds_the_outbox_and_a_dead_ones_lease_is_taken_over(
    outbox: Outbox, smtp_sink: SmtpSink
) -> None:
    import socket
    from datetime import UTC, datetime

    outbox.queue(1)
    host = socket.gethostname()
    alive = f"{host}:{os.getpid()}:other"
    outbox.store.acquire_lease(LEASE, alive, datetime.now(UTC), timedelta(minutes=5))
    busy = flush_outbox(outbox.store, make_mailer(outbox.settings), NOW)
    assert busy.busy == alive and busy.sent == []
    outbox.store.release_lease(LEASE, alive)
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True
    )
    dead = f"{host}:{int(done.stdout)}:gone"
    outbox.store.acquire_lease(LEASE, dead, datetime.now(UTC), timedelta(minutes=5))
    assert len(flush_outbox(outbox.store, make_mailer(outbox.settings), NOW).sent) == 1


# -- killed senders ------------------------------------------------------------------------------

SENDER = """
import sys
from datetime import UTC, datetime
from pathlib import Path
from digest.config import load_settings
from digest.deliver import flush_outbox, make_mailer
from digest.store import Store

settings = load_settings(Path(sys.argv[1]))
store = Store.open(settings.database_url)
while True:
    result = flush_outbox(store, make_mailer(settings), datetime.now(UTC))
    if not (result.sent or result.retrying or result.busy):
        break
"""


def start_sender(config: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", SENDER, str(config)], env=env, cwd=REPO)


def test_a_sender_killed_at_random_points_loses_nothing_and_repeats_only_in_flight(
    outbox: Outbox, smtp_sink: SmtpSink
) -> None:
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    subs = outbox.queue(100)
    config = outbox.settings.base_dir / "config.toml"
    kills = 0
    for _ in range(8):
        before = smtp_sink.data_commands
        sender = start_sender(config)
        deadline = time.monotonic() + 20
        while smtp_sink.data_commands == before and sender.poll() is None:
            assert time.monotonic() < deadline, "the sender never started sending"
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.04))
        if sender.poll() is None:
            sender.send_signal(signal.SIGKILL)
            kills += 1
        sender.wait()
    final = start_sender(config)
    assert final.wait(timeout=60) == 0
    counts = smtp_sink.per_recipient()
    assert set(counts) == {s.email for s in subs}, f"seed {seed}: a digest was lost"
    duplicated = {r for r, n in counts.items() if n > 1}
    assert all(counts[r] == 2 for r in duplicated) and len(duplicated) <= kills, (
        seed,
        kills,
        {r: counts[r] for r in duplicated},
    )
    stored = {m.recipient: m for m in outbox.store.list_messages(limit=1000)}
    assert {m.status for m in stored.values()} == {"sent"}
    for recipient in duplicated:  # only a message whose attempt a kill cut short
        assert stored[recipient].interrupted >= 1, (seed, recipient)
        copies = [m for m in smtp_sink.received if m.rcpt_tos == [recipient]]
        assert copies[0].data == copies[1].data  # same bytes, same Message-ID


def test_the_unavoidable_duplicate_carries_the_same_message_id(
    outbox: Outbox, smtp_sink: SmtpSink
) -> None:
    subs = outbox.queue(3)
    config = outbox.settings.base_dir / "config.toml"
    senders: list[subprocess.Popen[bytes]] = []

    def kill_after_accepting_the_second(received):  # type: ignore[no-untyped-def]
        if len(smtp_sink.received) == 2:  # accepted, but the 250 never reaches the sender
            senders[-1].send_signal(signal.SIGKILL)
            senders[-1].wait()

    smtp_sink.on_accept = kill_after_accepting_the_second
    senders.append(start_sender(config))
    assert senders[0].wait(timeout=60) == -signal.SIGKILL
    smtp_sink.on_accept = None
    senders.append(start_sender(config))
    assert senders[1].wait(timeout=60) == 0
    assert smtp_sink.per_recipient() == {subs[0].email: 1, subs[1].email: 2, subs[2].email: 1}
    first, second = (m for m in smtp_sink.received if m.rcpt_tos == [subs[1].email])
    assert first.message_id == second.message_id and first.data == second.data
    twice = outbox.store.list_messages(status="sent")
    assert [m.interrupted for m in sorted(twice, key=lambda m: m.id)] == [0, 1, 0]
    listing = run_cli(config, "outbox").output
    assert "may have arrived twice" in listing


# -- the file backend and the CLI ----------------------------------------------------------------


def test_the_file_backend_writes_eml_and_html_and_a_retry_overwrites(tmp_path: Path) -> None:
    outbox = Outbox(write_config(tmp_path, 25, backend="file"))
    outbox.queue(1)
    message = outbox.store.list_messages()[0]
    mailer = FileMailer(tmp_path / "out")
    mailer.send(message)
    mailer.send(message)
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert len(files) == 2 and files[0].endswith(".eml") and files[1].endswith(".html")
    assert (tmp_path / "out" / files[0]).read_bytes() == message.message
    assert (tmp_path / "out" / files[1]).read_text().startswith("<!doctype html>")


def test_outbox_lists_queued_failed_and_sent(outbox: Outbox, smtp_sink: SmtpSink) -> None:
    smtp_sink.fault = lambda n: {2: "550 5.1.1 No such user", 3: "451 4.3.0 Busy"}.get(n)
    outbox.queue(4)
    flush_outbox(outbox.store, make_mailer(outbox.settings), NOW)
    config = outbox.settings.base_dir / "config.toml"
    listing = run_cli(config, "outbox").output
    assert "550 5.1.1 No such user" in listing and "451 4.3.0 Busy" in listing
    assert "1 queued, 1 failed, 2 sent" in listing
    failed_only = run_cli(config, "outbox", "--status", "failed").output
    assert "reader001" in failed_only and "reader000" not in failed_only


def test_outbox_retry_resends_the_failed_and_only_those(
    outbox: Outbox, smtp_sink: SmtpSink
) -> None:
    smtp_sink.fault = lambda n: {2: "550 5.7.1 Blocked", 3: "451 4.3.0 Busy"}.get(n)
    subs = outbox.queue(4)
    flush_outbox(outbox.store, make_mailer(outbox.settings), NOW)
    assert outbox.statuses() == {"sent": 2, "failed": 1, "queued": 1}
    config = outbox.settings.base_dir / "config.toml"
    result = run_cli(config, "outbox", "retry")
    assert result.exit_code == 0, result.output
    assert "1 sent" in result.output
    assert smtp_sink.per_recipient() == {subs[0].email: 1, subs[1].email: 1, subs[3].email: 1}
    assert outbox.statuses() == {"sent": 3, "queued": 1}  # the 4xx one waits for its backoff
    assert run_cli(config, "outbox", "retry").output.startswith("No failed messages")


def test_migration_0004_moves_queued_bytes_to_their_own_table(empty_database_url: str) -> None:
    from alembic import command
    from sqlalchemy import text

    store = Store.open(empty_database_url, upgrade=False)
    with store.engine.begin() as conn:
        command.upgrade(store._alembic(conn), "0001")
        # Rows as revision 0001 knew them: raw SQL, not today's table definitions.
        conn.execute(
            text(
                "INSERT INTO subscribers (id, email, name, themes, cadence, timezone, max_items,"
                " min_score, alert_themes, alert_threshold, alert_daily_cap, status, origin,"
                " created_at, updated_at) VALUES (1, 'a@example.org', '', '[]', 'daily 07:00',"
                " 'UTC', 30, 0.0, '[]', 0.8, 5, 'active', 'cli', :t, :t)"
            ),
            {"t": NOW.replace(tzinfo=None)},
        )
        conn.execute(
            text(
                "INSERT INTO deliveries (id, key, kind, subscriber_id, window_start, window_end,"
                " recipient, subject, message_id, message, status, attempts, queued_at) VALUES"
                " (1, 'digest:1:x', 'digest', 1, :t, :t, 'a@example.org', 's', '<m@x>', :m,"
                " 'queued', 0, :t)"
            ),
            {"t": NOW.replace(tzinfo=None), "m": b"From: x\r\n\r\nbody\r\n"},
        )
    store.upgrade()
    (message,) = store.due_messages(NOW)
    assert message.message == b"From: x\r\n\r\nbody\r\n" and message.interrupted == 0
    current, head = store.schema_status()
    assert current == head
