"""Deliver while the SMTP server cannot be reached: the batch stops, no message is charged
an attempt, and everything goes once the server is back."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from digest.alerts import send_alerts
from digest.app import App
from digest.deliver import flush_outbox, make_mailer
from digest.schedule import send_due
from tests.conftest import Clock
from tests.digests import NOW
from tests.outbox_fixtures import Outbox, run_cli, write_config, wrong_password_outbox
from tests.scenario import Items, reader, write_deployment
from tests.smtp_fixtures import SmtpSink, free_port, hang_up_listener, start_sink

FAST_RETRY = "retry_delay = 1.0\n"


def untouched(outbox: Outbox) -> bool:
    """Every message still queued as it was queued: no attempt, no error, no retry time."""
    return all(
        m.status == "queued"
        and m.attempts == 0
        and m.last_error is None
        and m.next_attempt_at is None
        and m.sending_at is None
        for m in outbox.store.list_messages(limit=1000)
    )


def test_runs_against_a_server_that_is_down_charge_no_message_an_attempt(tmp_path: Path) -> None:
    outbox = Outbox(write_config(tmp_path, free_port(), FAST_RETRY))
    outbox.queue(3)
    for hour in range(8):  # more runs than max_attempts, each past any retry time
        result = flush_outbox(
            outbox.store, make_mailer(outbox.settings), NOW + timedelta(hours=hour)
        )
        assert result.unreachable is not None and result.failed == result.retrying == []
    assert untouched(outbox)


def test_the_server_coming_back_gets_every_message_once(tmp_path: Path) -> None:
    port = free_port()
    outbox = Outbox(write_config(tmp_path, port, FAST_RETRY))
    subs = outbox.queue(3)
    for hour in range(6):
        flush_outbox(outbox.store, make_mailer(outbox.settings), NOW + timedelta(hours=hour))
    sink, controller = start_sink(port)
    try:
        result = flush_outbox(outbox.store, make_mailer(outbox.settings), NOW + timedelta(hours=6))
    finally:
        controller.stop()
    assert len(result.sent) == 3 and result.unreachable is None
    assert sink.per_recipient() == {s.email: 1 for s in subs}
    assert {m.attempts for m in outbox.store.list_messages()} == {1}


def test_a_server_that_hangs_up_before_its_greeting_charges_no_attempt(tmp_path: Path) -> None:
    with hang_up_listener() as port:
        outbox = Outbox(write_config(tmp_path, port))
        outbox.queue(2)
        result = flush_outbox(outbox.store, make_mailer(outbox.settings), NOW)
    assert result.unreachable is not None and f"127.0.0.1:{port}" in str(result.unreachable)
    assert untouched(outbox)


def test_a_failed_tls_handshake_charges_no_attempt(
    tmp_path: Path, smtp_tls_sink: tuple[SmtpSink, str]
) -> None:
    sink, _ = smtp_tls_sink  # its certificate is not trusted without its ca_file
    outbox = Outbox(write_config(tmp_path, sink.port, 'security = "starttls"\n'))
    outbox.queue(2)
    result = flush_outbox(outbox.store, make_mailer(outbox.settings), NOW)
    assert result.unreachable is not None and "CERTIFICATE_VERIFY_FAILED" in str(result.unreachable)
    assert untouched(outbox) and sink.received == []


def test_a_refused_login_charges_no_attempt(
    tmp_path: Path, smtp_tls_sink: tuple[SmtpSink, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sink, ca_file = smtp_tls_sink
    outbox = wrong_password_outbox(tmp_path, sink, ca_file, monkeypatch)
    for hour in range(6):
        flush_outbox(outbox.store, make_mailer(outbox.settings), NOW + timedelta(hours=hour))
    assert untouched(outbox)


def test_the_file_backend_unable_to_write_charges_no_attempt(tmp_path: Path) -> None:
    (tmp_path / "outbox").write_text("a file where the folder should be")
    outbox = Outbox(write_config(tmp_path, 25, backend="file"))  # outbox = "outbox"
    outbox.queue(2)
    result = flush_outbox(outbox.store, make_mailer(outbox.settings), NOW)
    assert result.unreachable is not None and "Cannot write to the outbox folder" in str(
        result.unreachable
    )
    assert untouched(outbox)


# -- the command line ------------------------------------------------------------------------------


def test_send_with_the_server_down_prints_one_error_with_a_hint_and_exits_1(
    tmp_path: Path,
) -> None:
    port = free_port()
    config = write_config(tmp_path, port, FAST_RETRY)
    Outbox(config).queue(2)
    for _ in range(3):
        result = run_cli(config, "send")
        assert result.exit_code == 1, result.output
        errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
        assert errors == [
            f"Error: Cannot connect to the SMTP server 127.0.0.1:{port}: "
            "[Errno 111] Connection refused"
        ]
        assert f"Hint: Is the SMTP server at 127.0.0.1:{port} running and reachable?" in (
            result.output
        )
        assert "will retry" not in result.output and "failed" not in result.output
    listed = run_cli(config, "outbox")
    assert listed.exit_code == 0 and "0 failed" in listed.output
    assert untouched(Outbox(config))


def test_outbox_retry_with_the_server_down_exits_1_and_leaves_them_queued(tmp_path: Path) -> None:
    config = write_config(tmp_path, free_port())
    outbox = Outbox(config)
    outbox.queue(1)
    [message] = outbox.store.list_messages()
    outbox.store.mark_failed(message.id, "550 5.1.1 No such user", NOW, retry_at=None)
    result = run_cli(config, "outbox", "retry")
    assert result.exit_code == 1 and "Error: Cannot connect to the SMTP server" in result.output
    # Requeued, and not charged for the server being down.
    assert [(m.status, m.attempts) for m in outbox.store.list_messages()] == [("queued", 0)]


# -- alerts and digests ----------------------------------------------------------------------------


def test_an_alert_queued_while_the_server_is_down_still_reaches_the_reader_with_the_digest(
    tmp_path: Path, clock: Clock
) -> None:
    """The digest is composed without the alert's items while the alert waits; once the
    server is back the reader gets both, each once, and every item is in one of them."""
    port = free_port()
    config = write_deployment(
        tmp_path,
        reader(
            "a@example.org",
            ["alpha", "beta"],
            extra='[subscribers.alerts]\nthemes = ["alpha"]\nthreshold = 0.8\n',
        ),
    )
    config.write_text(
        config.read_text().replace('backend = "file"', 'backend = "smtp"')
        + f'\n[delivery.smtp]\nhost = "127.0.0.1"\nport = {port}\ntimeout = 5.0\n{FAST_RETRY}'
    )
    app = App.open(config, clock=clock)
    try:
        stored = Items(app)
        clock.now += timedelta(minutes=5)
        titles = ["Alert-worthy", "Only for the digest", "Beta news"]
        for title, scores in zip(
            titles, [{"alpha": 0.9}, {"alpha": 0.6}, {"beta": 0.7}], strict=True
        ):
            stored.add(scores, clock.now, title=title)
        assert len(send_alerts(app, clock.now).queued) == 1
        # Down through the reader's digest slot (daily 07:00) and well past max_attempts.
        clock.now = NOW.replace(hour=7, minute=1) + timedelta(days=1)
        for _ in range(7):
            result = send_due(app, clock.now)
            assert result.flushed.unreachable is not None and result.flushed.failed == []
            clock.now += timedelta(hours=1)
        messages = app.store.list_messages()
        assert sorted(m.kind for m in messages) == ["alert", "digest"]
        assert {(m.status, m.attempts) for m in messages} == {("queued", 0)}

        sink, controller = start_sink(port)
        try:
            result = send_due(app, clock.now)
        finally:
            controller.stop()
        assert len(result.flushed.sent) == 2
    finally:
        app.close()
    # Alerts are auto-generated; digests are not.
    by_kind = {
        ("alert" if got.message["Auto-Submitted"] else "digest"): got for got in sink.received
    }
    assert len(sink.received) == 2 and set(by_kind) == {"alert", "digest"}
    assert sink.per_recipient() == {"a@example.org": 2}
    texts = {kind: plain_text(got.message) for kind, got in by_kind.items()}
    assert "Alert-worthy" in texts["alert"]
    for title in titles:
        assert any(title in text for text in texts.values()), f"{title!r} reached neither"


def plain_text(message: EmailMessage) -> str:
    plain = message.get_body(("plain",))
    assert plain is not None
    return str(plain.get_content())
