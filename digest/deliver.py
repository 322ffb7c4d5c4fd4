"""Deliver: queue each message in the outbox, then hand it to a backend and record how it went.

Backends ("mailers") follow the Mailer protocol and register in MAILERS. The file backend
writes .eml and .html into the outbox folder; the SMTP backend talks to a server.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parseaddr
from pathlib import Path
from types import TracebackType
from typing import Protocol

from digest.config import Settings
from digest.errors import DeliveryError
from digest.store import Store
from digest.store.outbox import OutboxMessage

RETRY_BASE = timedelta(minutes=1)


class Mailer(Protocol):
    """Sends stored messages; used as a context manager around one batch."""

    def __enter__(self) -> Mailer: ...

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def send(self, message: OutboxMessage) -> str:
        """Deliver one message and return the backend's reply; raise DeliveryError if not."""
        ...


class FileMailer:
    """Writes each message as .eml (exactly as it would be sent) and .html into a folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __enter__(self) -> FileMailer:
        self.folder.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def send(self, message: OutboxMessage) -> str:
        eml = self.folder / f"{file_stem(message)}.eml"
        try:
            eml.write_bytes(message.message)
            html = html_part(message.message)
            if html is not None:
                eml.with_name(f"{file_stem(message)}.html").write_text(html, encoding="utf-8")
        except OSError as exc:
            raise DeliveryError(
                f"Cannot write to the outbox folder '{self.folder}': {exc.strerror}",
                recipient=message.recipient,
            ) from None
        return f"written {eml}"


class SmtpMailer:
    """One SMTP connection per batch, with STARTTLS or SSL, AUTH from the environment."""

    def __init__(self, settings: Settings, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.smtp = settings.delivery.smtp
        self.sender = settings.delivery.sender
        self._sleep = sleep
        self._conn: smtplib.SMTP | None = None
        self._last_send = 0.0

    def __enter__(self) -> SmtpMailer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._close()

    def _connect(self) -> smtplib.SMTP:
        if self._conn is not None:
            return self._conn
        try:
            if self.smtp.security == "ssl":
                conn: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.smtp.host,
                    self.smtp.port,
                    timeout=self.smtp.timeout,
                    context=ssl.create_default_context(),
                )
            else:
                conn = smtplib.SMTP(self.smtp.host, self.smtp.port, timeout=self.smtp.timeout)
                if self.smtp.security == "starttls":
                    conn.starttls(context=ssl.create_default_context())
            user = os.environ.get(self.smtp.username_env)
            if user:
                conn.login(user, os.environ.get(self.smtp.password_env, ""))
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(
                f"The SMTP server {self.smtp.host}:{self.smtp.port} refused the login "
                f"in ${self.smtp.username_env}: {exc.smtp_code} {exc.smtp_error!r}",
                permanent=True,
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(
                f"Cannot connect to the SMTP server {self.smtp.host}:{self.smtp.port}: {exc}"
            ) from None
        self._conn = conn
        return conn

    def _close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.quit()
            except (OSError, smtplib.SMTPException):
                pass
            self._conn = None

    def send(self, message: OutboxMessage) -> str:
        if self.smtp.rate_per_second > 0:
            wait = self._last_send + 1 / self.smtp.rate_per_second - time.monotonic()
            if wait > 0:
                self._sleep(wait)
        conn = self._connect()
        try:
            refused = conn.sendmail(
                _envelope_sender(self.sender), [message.recipient], message.message
            )
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise DeliveryError(
                f"{code} {_text(text)}",
                recipient=message.recipient,
                permanent=code >= 500,
            ) from None
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code >= 500:
                self._reset()
            raise DeliveryError(
                f"{exc.smtp_code} {_text(exc.smtp_error)}",
                recipient=message.recipient,
                permanent=exc.smtp_code >= 500,
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            self._conn = None  # the connection is gone; the next send opens a new one
            raise DeliveryError(f"connection lost: {exc}", recipient=message.recipient) from None
        finally:
            self._last_send = time.monotonic()
        if refused:
            raise DeliveryError(f"refused: {refused}", recipient=message.recipient)
        return "250 accepted"

    def _reset(self) -> None:
        try:
            if self._conn is not None:
                self._conn.rset()
        except (OSError, smtplib.SMTPException):
            self._conn = None


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else reply


def _envelope_sender(sender: str) -> str:
    return parseaddr(sender)[1]


def make_mailer(settings: Settings) -> Mailer:
    if settings.delivery.backend == "smtp":
        return SmtpMailer(settings)
    return FileMailer(settings.path(settings.delivery.outbox))


@dataclass(slots=True)
class FlushResult:
    sent: list[OutboxMessage] = field(default_factory=list)
    retrying: list[OutboxMessage] = field(default_factory=list)
    failed: list[OutboxMessage] = field(default_factory=list)
    replies: dict[int, str] = field(default_factory=dict)


def flush_outbox(
    store: Store, mailer: Mailer, now: datetime, *, max_attempts: int = 5
) -> FlushResult:
    """Send every due queued message over one backend session, recording each outcome."""
    result = FlushResult()
    due = store.due_messages(now)
    if not due:
        return result
    with mailer:
        for message in due:
            try:
                reply = mailer.send(message)
            except DeliveryError as exc:
                attempts = message.attempts + 1
                if exc.permanent or attempts >= max_attempts:
                    store.mark_failed(message.id, str(exc), now, retry_at=None)
                    result.failed.append(message)
                else:
                    retry_at = now + RETRY_BASE * (2 ** (attempts - 1))
                    store.mark_failed(message.id, str(exc), now, retry_at=retry_at)
                    result.retrying.append(message)
                continue
            store.mark_sent(message.id, reply, now)
            result.sent.append(message)
            result.replies[message.id] = reply
    return result


def file_stem(message: OutboxMessage) -> str:
    local = re.sub(r"[^A-Za-z0-9_.-]+", "_", message.recipient)
    return f"{message.queued_at:%Y%m%dT%H%M%SZ}-{message.kind}-{local}-{message.id}"


def html_part(raw: bytes) -> str | None:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    part = parsed.get_body(preferencelist=("html",))
    return None if part is None else str(part.get_content())
