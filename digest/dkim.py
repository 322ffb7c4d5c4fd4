"""Optional DKIM signing with dkimpy (`pip install 'digest[dkim]'`), on when a key is set.

Messages are signed when they are built, before they go into the outbox, so the outbox
holds exactly the bytes that go on the wire and a retry resends the same signed message.
"""

from __future__ import annotations

from typing import Any

from digest import mime
from digest.config import Settings
from digest.errors import ConfigError, RenderError

# The headers a receiver checks for a list message (RFC 8058 wants List-Unsubscribe and
# List-Unsubscribe-Post signed for one-click unsubscribe to be trusted).
SIGNED_HEADERS = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "MIME-Version",
    "Content-Type",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "Auto-Submitted",
)


class DkimSigner:
    """Signs finished messages with one private key for one domain and selector."""

    def __init__(self, private_key: bytes, *, domain: str, selector: str) -> None:
        self._dkim = _import_dkim()
        self.private_key = private_key
        self.domain = domain
        self.selector = selector

    @classmethod
    def from_settings(cls, settings: Settings) -> DkimSigner | None:
        """The signer `[delivery.dkim]` describes, or None when it has no key_file."""
        dkim = settings.delivery.dkim
        if not dkim.key_file:
            return None
        path = settings.path(dkim.key_file)
        try:
            key = path.read_bytes()
        except OSError as exc:
            raise ConfigError(
                "config.toml",
                [f'delivery.dkim.key_file: "{dkim.key_file}" cannot be read ({exc.strerror})'],
            ) from None
        domain = dkim.domain or mime.domain_of(settings.delivery.sender)
        return cls(key, domain=domain, selector=dkim.selector)

    def sign(self, message: bytes) -> bytes:
        """The message with a DKIM-Signature header in front."""
        present = [h for h in SIGNED_HEADERS if _has_header(message, h)]
        try:
            signature: bytes = self._dkim.sign(
                message,
                self.selector.encode(),
                self.domain.encode(),
                self.private_key,
                canonicalize=(b"relaxed", b"relaxed"),
                include_headers=[h.encode() for h in present],
            )
        except self._dkim.DKIMException as exc:
            raise RenderError(
                f"DKIM signing failed for {self.selector}._domainkey.{self.domain}: {exc}",
                hint="Check delivery.dkim.key_file: it must be a PEM RSA private key.",
            ) from None
        return signature + message


def _has_header(message: bytes, name: str) -> bool:
    head = message.split(b"\r\n\r\n", 1)[0].lower()
    needle = name.lower().encode() + b":"
    return head.startswith(needle) or b"\r\n" + needle in head


def _import_dkim() -> Any:
    try:
        import dkim
    except ImportError:
        raise ConfigError(
            "config.toml",
            ["delivery.dkim.key_file is set but dkimpy is not installed"],
            hint="pip install 'digest[dkim]'",
        ) from None
    return dkim
