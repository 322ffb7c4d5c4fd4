"""Signed, expiring links from emails to the preference center and one-click unsubscribe."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

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


class _StampedSigner(TimestampSigner):
    """A TimestampSigner that reads the time it is given, not the wall clock."""

    def __init__(self, *args: Any, stamp: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stamp = stamp

    def get_timestamp(self) -> int:
        return self._stamp


class LinkSigner:
    """Signs links at the time of the message they are in (so a message's bytes depend on
    its time, not on when it was built) and checks them against the clock it is given."""

    def __init__(self, key: str, public_url: str) -> None:
        self._key = key
        self._base = public_url.rstrip("/")

    def _serializer(self, now: datetime) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(
            self._key,
            salt=_SALT,
            signer=_StampedSigner,
            signer_kwargs={"stamp": int(now.timestamp())},
        )

    def token(self, subscriber_id: int, email: str, *, now: datetime) -> str:
        return self._serializer(now).dumps({"s": subscriber_id, "e": email.lower()})

    def links(self, subscriber_id: int, email: str, *, now: datetime) -> Links:
        token = self.token(subscriber_id, email, now=now)
        return Links(f"{self._base}/preferences/{token}", f"{self._base}/unsubscribe/{token}")

    def verify(
        self, token: str, *, now: datetime, max_age: int = TOKEN_MAX_AGE
    ) -> tuple[int, str] | None:
        """The (subscriber id, email) a token was made for, or None if forged or expired."""
        try:
            data = self._serializer(now).loads(token, max_age=max_age)
        except (SignatureExpired, BadSignature):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("s"), int):
            return None
        return data["s"], str(data.get("e", ""))


def signer_for(settings: Settings) -> LinkSigner:
    return LinkSigner(secret_key(settings), settings.digest.public_url)


__all__ = ["LinkSigner", "Links", "signer_for", "secret_key"]
