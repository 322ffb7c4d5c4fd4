"""Deliver: the outbox's plain path, the file backend, the outbox CLI and its migration."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from digest.deliver import FileMailer, flush_outbox, make_mailer
from digest.errors import DeliveryError
from digest.smtp import SmtpMailer
from digest.store.outbox import OutboxMessage
from tests.digests import NOW
from tests.outbox_fixtures import Outbox, run_cli, write_config
from tests.smtp_fixtures import SmtpSink

# -- the plain path --------------------------------------------------------------------------------


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
        def send(self, message: OutboxMessage, ready: Callable[[], None] | None = None) -> str:
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


# -- the file backend and the CLI ------------------------------------------------------------------


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
