"""Signed, expiring links from emails to the preference center and one-click unsubscribe."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from digest.config import Settings

TOKEN_MAX_AGE = 60 * 60 * 24 * 90  # a digest in an inbox stays actionable for 90 days
_SALT = "digest-subscriber-link"


def secret_key(settings: Settings) -> str:
    """The signing key: DIGEST_SECRET_KEY, [digest] secret_key, else one made once and kept.

    The made-up key lives in data/secret.key beside config.toml, never in the repo.
    """
    if settings.secret_key:
        return settings.secret_key
    path = settings.path("data/secret.key")
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(32)
        path.write_text(key, encoding="utf-8")
        path.chmod(0o600)
        return key


@dataclass(frozen=True, slots=True)
class Links:
    """URLs placed in one subscriber's emails."""

    preferences: str
    unsubscribe: str


class LinkSigner:
    def __init__(self, key: str, public_url: str) -> None:
        self._serializer = URLSafeTimedSerializer(key, salt=_SALT)
        self._base = public_url.rstrip("/")

    def token(self, subscriber_id: int, email: str) -> str:
        return self._serializer.dumps({"s": subscriber_id, "e": email.lower()})

    def links(self, subscriber_id: int, email: str) -> Links:
        token = self.token(subscriber_id, email)
        return Links(f"{self._base}/preferences/{token}", f"{self._base}/unsubscribe/{token}")

    def verify(self, token: str, *, max_age: int = TOKEN_MAX_AGE) -> tuple[int, str] | None:
        """The (subscriber id, email) a token was made for, or None if forged or expired."""
        try:
            data = self._serializer.loads(token, max_age=max_age)
        except (SignatureExpired, BadSignature):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("s"), int):
            return None
        return data["s"], str(data.get("e", ""))


def signer_for(settings: Settings) -> LinkSigner:
    return LinkSigner(secret_key(settings), settings.digest.public_url)


__all__ = ["LinkSigner", "Links", "signer_for", "secret_key"]
