"""Deliver: hand queued messages to a backend and record how each attempt went.

Every message is in the outbox table before it is sent (see digest/store/outbox.py). For
each one, `flush_outbox` marks the attempt as started, hands the stored bytes to the
backend, and records the server's reply (sent), a retry time (4xx, dropped connection)
or a permanent failure (5xx). When the backend cannot be reached at all (no connection,
TLS or login refused), the batch stops and no message is charged: they all wait for the
next run. Only one sender works the outbox at a time (a lease).

Backends ("mailers") follow the Mailer protocol and register in MAILERS. The file backend
writes .eml and .html into the outbox folder; the SMTP backend talks to a server.
"""

from __future__ import annotations

import email
import email.policy
import logging
import os
import re
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Protocol

from digest.config import Settings, SmtpSettings
from digest.errors import DeliveryError
from digest.smtp import SmtpMailer
from digest.store import Store
from digest.store.outbox import OutboxMessage

log = logging.getLogger(__name__)
LEASE = "outbox-sender"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry a temporary failure: exponential backoff."""

    max_attempts: int = 5
    delay: float = 60.0
    max_delay: float = 3600.0

    @classmethod
    def from_settings(cls, smtp: SmtpSettings) -> RetryPolicy:
        return cls(smtp.max_attempts, smtp.retry_delay, smtp.max_retry_delay)

    def next_attempt(self, attempts: int, now: datetime) -> datetime | None:
        """When to try again after `attempts` failed attempts; None when it is time to stop."""
        if attempts >= self.max_attempts:
            return None
        return now + timedelta(seconds=min(self.delay * 2 ** (attempts - 1), self.max_delay))


class Mailer(Protocol):
    """Sends stored messages; used as a context manager around one batch."""

    retry: RetryPolicy

    def __enter__(self) -> Mailer: ...

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def send(self, message: OutboxMessage, ready: Callable[[], None] | None = None) -> str:
        """Deliver one message and return the backend's reply; raise DeliveryError if not.

        `ready()` is called once before the message itself goes (the SMTP backend calls it
        while the server answers MAIL); if it raises, the message must not be sent and the
        exception passes through.
        """
        ...


class FileMailer:
    """Writes each message as .eml (exactly as it would be sent) and .html into a folder."""

    def __init__(self, folder: Path, retry: RetryPolicy | None = None) -> None:
        self.folder = folder
        self.retry = retry or RetryPolicy()

    def __enter__(self) -> FileMailer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def send(self, message: OutboxMessage, ready: Callable[[], None] | None = None) -> str:
        if ready is not None:
            ready()
        eml = self.folder / f"{file_stem(message)}.eml"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            eml.write_bytes(message.message)
            html = html_part(message.message)
            if html is not None:
                eml.with_name(f"{file_stem(message)}.html").write_text(html, encoding="utf-8")
        except OSError as exc:
            raise DeliveryError(
                f"Cannot write to the outbox folder '{self.folder}': {exc.strerror}",
                recipient=message.recipient,
                connection=True,
                hint="Check [delivery] outbox and that folder's permissions; every message "
                "stays queued, with no attempt counted, for the next run.",
            ) from None
        return f"written {eml}"


MAILERS: dict[str, Callable[[Settings], Mailer]] = {
    "file": lambda s: FileMailer(
        s.path(s.delivery.outbox), RetryPolicy.from_settings(s.delivery.smtp)
    ),
    "smtp": lambda s: SmtpMailer(s),
}


def make_mailer(settings: Settings) -> Mailer:
    return MAILERS[settings.delivery.backend](settings)


@dataclass(slots=True)
class FlushResult:
    sent: list[OutboxMessage] = field(default_factory=list)
    retrying: list[OutboxMessage] = field(default_factory=list)
    failed: list[OutboxMessage] = field(default_factory=list)
    replies: dict[int, str] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)
    # Set when another live sender holds the outbox: who it is.
    busy: str | None = None
    # Set when the batch stopped early: why.
    stopped: str | None = None
    # Set when the backend could not be reached at all (cannot connect, TLS or login
    # refused, outbox folder not writable): the batch stopped and no message was charged.
    unreachable: DeliveryError | None = None


def sender_id() -> str:
    """Who is sending: host, process id and a token, so a dead sender can be recognised."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class _NotQueued(Exception):
    """The message was sent or failed by someone else meanwhile: do not send it."""


Outcome = tuple[OutboxMessage, str | DeliveryError]


def flush_outbox(
    store: Store,
    mailer: Mailer,
    now: datetime,
    *,
    max_attempts: int | None = None,
    ids: Sequence[int] | None = None,
    lease_ttl: timedelta = timedelta(minutes=5),
    batch: int = 200,
    check: Callable[[], None] | None = None,
) -> FlushResult:
    """Send every due queued message (or only `ids`) over one backend session, recording each.

    Before a message's data goes, one transaction has recorded the previous message's
    outcome and marked this attempt as started; the SMTP backend runs it while the server
    answers MAIL, so the database costs the sender little (and no second thread competes
    with it for the GIL). A crash therefore leaves at most one message whose fate is
    unknown, marked as such, to be sent again with the same bytes and Message-ID.
    `check()` runs before each attempt starts; whatever it raises (a scheduler told to
    stop) ends the batch cleanly.
    """
    result = FlushResult()
    retry = mailer.retry
    if max_attempts is not None:
        retry = RetryPolicy(max_attempts, retry.delay, retry.max_delay)
    owner = sender_id()
    # The lease runs on the wall clock, whatever `now` says: it guards real processes.
    holder = _take_outbox(store, owner, datetime.now(UTC), lease_ttl)
    if holder is not None:
        result.busy = holder
        return result
    renewed = time.monotonic()
    previous: Outcome | None = None
    try:
        due = store.due_messages(now, limit=batch, ids=ids)
        if not due:
            return result
        with mailer, store.sending():
            while due:
                for message in due:
                    if check is not None:
                        check()
                    if time.monotonic() - renewed > lease_ttl.total_seconds() / 3:
                        if not store.acquire_lease(LEASE, owner, datetime.now(UTC), lease_ttl):
                            result.stopped = "another sender took over the outbox"
                            return result
                        renewed = time.monotonic()
                    start = _Start(store, previous, message, retry, now)
                    previous = None
                    try:
                        reply = mailer.send(message, start)
                    except _NotQueued:
                        continue
                    except DeliveryError as exc:
                        start.settle()
                        if exc.connection:
                            # Our side cannot reach the backend: that is no fault of this
                            # message, so it keeps its attempts and status and waits for
                            # the next run with the rest.
                            if start.started:
                                store.abandon_attempt(message.id)
                            _unreachable(result, exc)
                            return result
                        previous = (message, exc)
                        _count(result, message, exc, retry)
                        continue
                    finally:
                        start.settle()
                    previous = (message, reply)
                    result.sent.append(message)
                    result.replies[message.id] = reply
                due = store.due_messages(now, limit=batch, after_id=due[-1].id, ids=ids)
            if previous is not None:
                _record_and_start(store, previous, None, retry, now)
                previous = None
    finally:
        if previous is not None:  # an error ended the batch: keep what is known
            _record_and_start(store, previous, None, retry, now)
        store.release_lease(LEASE, owner)
    return result


class _Start:
    """The mailer's `ready()`: records the previous message's outcome and marks this
    attempt as started, in one transaction, before the data goes. If the mailer gave up
    before calling it, `settle()` still records the previous outcome."""

    def __init__(
        self,
        store: Store,
        previous: Outcome | None,
        message: OutboxMessage,
        retry: RetryPolicy,
        now: datetime,
    ) -> None:
        self.args = (store, previous, message, retry, now)
        self.done = False
        self.started = False  # this message's attempt is marked as started

    def __call__(self) -> None:
        if self.done:
            return
        self.done = True
        store, previous, message, retry, now = self.args
        if not _record_and_start(store, previous, message, retry, now):
            raise _NotQueued
        self.started = True

    def settle(self) -> None:
        if not self.done:
            self.done = True
            store, previous, _, retry, now = self.args
            _record_and_start(store, previous, None, retry, now)


def _record_and_start(
    store: Store,
    previous: Outcome | None,
    message: OutboxMessage | None,
    retry: RetryPolicy,
    now: datetime,
) -> bool:
    """Record the previous message's outcome and mark `message`'s attempt as started."""
    start = None if message is None else message.id
    if previous is not None:
        done, outcome = previous
        if isinstance(outcome, str):
            return store.mark_sent(done.id, outcome, now, start_next=start, known=done)
        store.mark_failed(done.id, str(outcome), now, retry_at=_retry_at(done, outcome, retry, now))
    return start is not None and store.start_attempt(start, now)


def _retry_at(
    message: OutboxMessage, exc: DeliveryError, retry: RetryPolicy, now: datetime
) -> datetime | None:
    return None if exc.permanent else retry.next_attempt(message.attempts + 1, now)


def _count(
    result: FlushResult, message: OutboxMessage, exc: DeliveryError, retry: RetryPolicy
) -> None:
    result.errors[message.id] = str(exc)
    permanent = exc.permanent or message.attempts + 1 >= retry.max_attempts
    (result.failed if permanent else result.retrying).append(message)
    log.info(
        "delivery of %s to %s failed (%s): %s",
        message.key,
        message.recipient,
        "permanent" if permanent else "will retry",
        exc,
        extra={"digest_id": message.key, "recipient": message.recipient},
    )


def _unreachable(result: FlushResult, exc: DeliveryError) -> None:
    result.unreachable = exc
    result.stopped = str(exc)
    log.info("delivery stopped, every message stays queued: %s", exc)


def _take_outbox(store: Store, owner: str, now: datetime, ttl: timedelta) -> str | None:
    """Take the sender lease; the holder's name if another live sender has it."""
    if store.acquire_lease(LEASE, owner, now, ttl):
        return None
    holder = store.lease_owner(LEASE)
    if holder is None:  # released in between
        return None if store.acquire_lease(LEASE, owner, now, ttl) else "another sender"
    if _is_dead_here(holder) and store.take_over_lease(LEASE, holder, owner, now + ttl):
        log.warning("took over the outbox from %s, a sender that is no longer running", holder)
        return None
    return holder


def _is_dead_here(owner: str) -> bool:
    """True if `owner` was a process on this host that has ended (killed, crashed)."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def file_stem(message: OutboxMessage) -> str:
    local = re.sub(r"[^A-Za-z0-9_.-]+", "_", message.recipient)
    return f"{message.queued_at:%Y%m%dT%H%M%SZ}-{message.kind}-{local}-{message.id}"


def html_part(raw: bytes) -> str | None:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    part = parsed.get_body(preferencelist=("html",))
    return None if part is None else str(part.get_content())
