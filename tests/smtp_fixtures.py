"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, recording every message it accepts.

`smtp_sink` is a fresh server per test. Its `fault` decides what each DATA command (the
n-th, counted from 1 across connections) meets: None accepts the message, a reply such as
"451 4.3.0 Try again" refuses it, and "drop" closes the connection in the middle of the
message, before any reply. Only accepted messages are recorded.
"""

from __future__ import annotations

import asyncio
import email
import socket
import ssl
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.servers import free_port

Fault = Callable[[int], str | None]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=policy.default)

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])


@dataclass
class SmtpSink:
    host: str
    port: int
    received: list[Received] = field(default_factory=list)
    data_commands: int = 0
    connections: int = 0
    fault: Fault | None = None
    # Called with each accepted message after it is recorded, before the 250 goes out.
    on_accept: Callable[[Received], None] | None = None
    logins: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def per_recipient(self) -> Counter[str]:
        return Counter(r for m in self.received for r in m.rcpt_tos)

    def decide(self) -> tuple[int, str | None]:
        with self.lock:
            self.data_commands += 1
            n = self.data_commands
        return n, (self.fault(n) if self.fault else None)


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:  # noqa: N802
        reply = getattr(server, "pending_reply", None)
        server.pending_reply = None
        if reply:
            return str(reply)
        # By DATA, aiosmtpd has the sender and, as decode_data is off, the content as bytes.
        assert envelope.mail_from is not None and isinstance(envelope.content, bytes)
        got = Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content))
        with self.sink.lock:
            self.sink.received.append(got)
        if self.sink.on_accept is not None:
            self.sink.on_accept(got)
        return f"250 2.0.0 Ok: queued as {len(self.sink.received)}"


class _FaultySMTP(SMTP):
    """aiosmtpd's SMTP, able to drop the connection in the middle of a message."""

    def __init__(self, handler: Any, sink: SmtpSink, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.sink = sink
        self.pending_reply: str | None = None
        with sink.lock:
            sink.connections += 1

    async def smtp_DATA(self, arg: str) -> None:  # noqa: N802
        if self.envelope is None or not self.envelope.rcpt_tos:
            await super().smtp_DATA(arg)
            return
        _, action = self.sink.decide()
        if action == "drop":
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            await self._reader.read(2048)  # part of the message, then the line goes dead
            assert isinstance(self.transport, asyncio.Transport)
            self.transport.abort()
            return
        self.pending_reply = action
        await super().smtp_DATA(arg)


class _Controller(Controller):
    def __init__(self, sink: SmtpSink, **kwargs: Any) -> None:
        self.sink = sink
        super().__init__(_Handler(sink), hostname=sink.host, port=sink.port, **kwargs)

    def factory(self) -> SMTP:
        return _FaultySMTP(self.handler, self.sink, **self.SMTP_kwargs)


def start_sink(port: int | None = None, **smtp_kwargs: Any) -> tuple[SmtpSink, Controller]:
    """Start a server, on `port` if given (a server coming back where it was down)."""
    sink = SmtpSink("127.0.0.1", port or free_port())
    controller = _Controller(sink, **smtp_kwargs)
    controller.start()
    sink.connections = 0  # the controller's own start-up probe is not a client
    return sink, controller


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A fresh aiosmtpd server on 127.0.0.1 for one test."""
    sink, controller = start_sink()
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture
def smtp_tls_sink(tmp_path: Path) -> Iterator[tuple[SmtpSink, str]]:
    """A server that requires STARTTLS and AUTH (user "digest", password "secret").

    Yields the sink and the path of the CA certificate that signed its certificate.
    """
    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    holder: dict[str, SmtpSink] = {}

    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: LoginPassword
    ) -> AuthResult:
        ok = data.login == b"digest" and data.password == b"secret"
        if ok:
            holder["sink"].logins.append(data.login.decode())
        return AuthResult(success=ok, handled=False)

    sink, controller = start_sink(
        tls_context=context, require_starttls=True, authenticator=authenticate
    )
    holder["sink"] = sink
    try:
        yield sink, cert
    finally:
        controller.stop()


@contextmanager
def hang_up_listener() -> Iterator[int]:
    """A port where something accepts connections and closes them before any greeting."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        done.set()
        thread.join()
        server.close()


def _self_signed(folder: Path) -> tuple[str, str]:
    from datetime import UTC, datetime, timedelta
    from ipaddress import IPv4Address

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


__all__ = [
    "Received",
    "SmtpSink",
    "free_port",
    "hang_up_listener",
    "smtp_sink",
    "smtp_tls_sink",
    "start_sink",
]
