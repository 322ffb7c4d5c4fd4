"""The SMTP backend: one connection per batch, STARTTLS or SSL, AUTH from the environment.

Each message is one SMTP transaction (MAIL, RCPT, DATA) whose final reply is returned and
recorded. A 4xx or a lost connection is temporary; a 5xx is permanent. When the server
cannot be reached at all (no connection, no greeting, TLS or login refused), the error
says so (`connection=True`): the batch stops and no message is charged an attempt.
"""

from __future__ import annotations

import ipaddress
import os
import smtplib
import ssl
import time
from collections.abc import Callable
from email.utils import parseaddr
from typing import TYPE_CHECKING

from digest.config import Settings
from digest.errors import DeliveryError
from digest.store.outbox import OutboxMessage

if TYPE_CHECKING:
    from digest.deliver import RetryPolicy

# Said in every hint about a server that cannot be reached: what became of the messages.
_STAY = "every message stays queued, with no attempt counted, for the next run."


class SmtpMailer:
    """Sends over one reused SMTP connection, reconnecting after the server drops it."""

    def __init__(
        self,
        settings: Settings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from digest.deliver import RetryPolicy

        self.smtp = settings.delivery.smtp
        self.ca_file = settings.path(self.smtp.ca_file) if self.smtp.ca_file else None
        self.envelope_from = parseaddr(settings.delivery.sender)[1]
        self.retry: RetryPolicy = RetryPolicy.from_settings(self.smtp)
        self._sleep = sleep
        self._clock = clock
        self._conn: smtplib.SMTP | None = None
        self._last_send: float | None = None
        self.connections = 0  # how many connections this mailer opened (for tests, stats)

    def __enter__(self) -> SmtpMailer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def where(self) -> str:
        return f"{self.smtp.host}:{self.smtp.port}"

    def send(self, message: OutboxMessage, ready: Callable[[], None] | None = None) -> str:
        """One SMTP transaction; returns the server's final reply, e.g. "250 2.0.0 Ok".

        `ready()` runs while the server answers MAIL, so that its work (a database write)
        overlaps the round trip; if it raises, the transaction is reset and nothing is sent.
        """
        self._throttle()
        conn = self._connect()
        options: list[str] = []
        if not message.message.isascii():
            if not conn.has_extn("smtputf8"):
                raise DeliveryError(
                    f"{self.where} does not accept UTF-8 addresses (no SMTPUTF8)",
                    recipient=message.recipient,
                    permanent=True,
                )
            options = ["SMTPUTF8", "BODY=8BITMIME"]
        try:
            code, reply = self._mail(conn, options, ready)
            if code != 250:
                self._refused(code, reply, message)
            code, reply = conn.rcpt(message.recipient)
            if code not in (250, 251):
                self._refused(code, reply, message)
            code, reply = conn.data(message.message)
            if code != 250:
                self._refused(code, reply, message)
        except smtplib.SMTPResponseException as exc:  # DATA refused before the message
            self._refused(exc.smtp_code, exc.smtp_error, message)
        except (OSError, smtplib.SMTPException) as exc:
            self._drop()
            raise DeliveryError(
                f"connection to {self.where} lost: {exc or type(exc).__name__}",
                recipient=message.recipient,
            ) from None
        finally:
            self._last_send = self._clock()
        return f"{code} {_text(reply)}"

    def _mail(
        self, conn: smtplib.SMTP, options: list[str], ready: Callable[[], None] | None
    ) -> tuple[int, bytes]:
        """MAIL FROM, as smtplib's `mail()` sends it; `ready()` runs before the reply is read."""
        if "SMTPUTF8" in options:
            conn.command_encoding = "utf-8"
        extra = " " + " ".join(options) if options and conn.does_esmtp else ""
        conn.putcmd("mail", f"FROM:{smtplib.quoteaddr(self.envelope_from)}{extra}")
        if ready is not None:
            try:
                ready()
            except BaseException:
                try:  # read MAIL's answer, then undo the transaction; raise what ready() did
                    conn.getreply()
                    self._reset()
                except (OSError, smtplib.SMTPException):
                    self._drop()
                raise
        return conn.getreply()

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.quit()
            except (OSError, smtplib.SMTPException):
                self._conn.close()
            self._conn = None

    def _throttle(self) -> None:
        rate = self.smtp.rate_per_second
        if rate > 0 and self._last_send is not None:
            wait = self._last_send + 1 / rate - self._clock()
            if wait > 0:
                self._sleep(wait)

    def _refused(self, code: int, reply: bytes | str, message: OutboxMessage) -> None:
        text = f"{code} {_text(reply)}"
        if code == 421 or self._conn is None or self._conn.sock is None:
            self._drop()  # 421: the server is closing the connection
        else:
            try:
                self._conn.rset()
            except (OSError, smtplib.SMTPException):
                self._drop()
        raise DeliveryError(text, recipient=message.recipient, permanent=code >= 500)

    def _reset(self) -> None:
        try:
            if self._conn is not None:
                self._conn.rset()
        except (OSError, smtplib.SMTPException):
            self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connect(self) -> smtplib.SMTP:
        if self._conn is not None and self._conn.sock is not None:
            return self._conn
        smtp = self.smtp
        user = os.environ.get(smtp.username_env)
        if user and smtp.security == "none" and not _is_loopback(smtp.host):
            raise DeliveryError(
                f"Refusing to send the SMTP password to {self.where} unencrypted.",
                connection=True,
                hint='Set [delivery.smtp] security = "starttls" or "ssl".',
            )
        conn: smtplib.SMTP | None = None
        try:
            if smtp.security == "ssl":
                conn = smtplib.SMTP_SSL(
                    smtp.host, smtp.port, timeout=smtp.timeout, context=self._tls()
                )
            else:
                conn = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
            conn.ehlo()
            if smtp.security == "starttls":
                if not conn.has_extn("starttls"):
                    raise DeliveryError(
                        f"{self.where} does not offer STARTTLS",
                        connection=True,
                        hint='Check [delivery.smtp] security and port (465 is "ssl"); ' + _STAY,
                    )
                conn.starttls(context=self._tls())
                conn.ehlo()
            if user:
                conn.login(user, os.environ.get(smtp.password_env, ""))
        except smtplib.SMTPAuthenticationError as exc:
            _close_quietly(conn)
            raise DeliveryError(
                f"{self.where} refused the login of ${smtp.username_env}: "
                f"{exc.smtp_code} {_text(exc.smtp_error)}",
                connection=True,
                hint=f"Check ${smtp.username_env} and ${smtp.password_env}; {_STAY}",
            ) from None
        except ssl.SSLError as exc:
            _close_quietly(conn)
            raise DeliveryError(
                f"TLS with the SMTP server {self.where} failed: {exc}",
                connection=True,
                hint="Check [delivery.smtp] security, port and ca_file in config.toml; " + _STAY,
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            _close_quietly(conn)
            raise DeliveryError(
                f"Cannot connect to the SMTP server {self.where}: "
                f"{exc or 'it closed the connection before greeting'}",
                connection=True,
                hint=f"Is the SMTP server at {self.where} running and reachable? Check "
                f"[delivery.smtp] host and port in config.toml; {_STAY}",
            ) from None
        except DeliveryError:
            _close_quietly(conn)
            raise
        self._conn = conn
        self.connections += 1
        return conn

    def _tls(self) -> ssl.SSLContext:
        if self.ca_file is not None:
            return ssl.create_default_context(cafile=str(self.ca_file))
        return ssl.create_default_context()


def _close_quietly(conn: smtplib.SMTP | None) -> None:
    if conn is not None:
        conn.close()


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else reply
