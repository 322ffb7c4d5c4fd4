"""Deliver over SMTP: faults (4xx, 5xx, drops, no server), retries with backoff, TLS and
auth, and the rate limit."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from digest.config import load_settings
from digest.deliver import RetryPolicy, flush_outbox, make_mailer
from digest.errors import DeliveryError
from digest.smtp import SmtpMailer
from tests.digests import NOW
from tests.outbox_fixtures import Outbox, write_config, wrong_password_outbox
from tests.smtp_fixtures import SmtpSink

# -- faults ----------------------------------------------------------------------------------------


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
    assert attempts == [0, 0, 0] and outbox.statuses() == {"queued": 3}


# -- the connection --------------------------------------------------------------------------------


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
    outbox = wrong_password_outbox(tmp_path, sink, ca_file, monkeypatch)
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
