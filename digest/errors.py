"""Every error digest expects to meet, as one tree.

DigestError
  ConfigError                 config.toml is missing, unreadable or invalid (exit 2)
  SourceError                 one source could not be read; the others go on
    FetchError                the bytes could not be had (HTTP status, timeout, size cap)
    ParseError                the bytes were had but are not a usable feed or document
  StoreError                  the database refused or is at the wrong schema
  TaggingError                a theme definition cannot be compiled
  RenderError                 a template failed
  DeliveryError               a message could not be handed to its backend
  NotFoundError               a subscriber, source or item named by the user does not exist
  SubscriptionError           a subscription change that is not allowed (e.g. re-subscribing)

Exceptions carry fields and never log themselves; the CLI and web turn them into text.
"""

from __future__ import annotations


class DigestError(Exception):
    """Base of every error that digest reports to a user without a traceback."""

    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        return self.message


class ConfigError(DigestError):
    """The configuration is invalid; `problems` lists every problem found, one line each."""

    def __init__(self, path: str, problems: list[str], *, hint: str | None = None) -> None:
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        noun = "problem" if len(problems) == 1 else "problems"
        super().__init__(f"{path}: {len(problems)} {noun}:\n{lines}", hint=hint)


class SourceError(DigestError):
    """A source could not be read."""

    def __init__(
        self, source_id: str, reason: str, *, url: str | None = None, hint: str | None = None
    ) -> None:
        self.source_id = source_id
        self.url = url
        self.reason = reason
        where = f" ({url})" if url else ""
        super().__init__(f"Source '{source_id}'{where}: {reason}", hint=hint)


class FetchError(SourceError):
    """The source's bytes could not be fetched."""

    def __init__(
        self,
        source_id: str,
        reason: str,
        *,
        url: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        hint: str | None = None,
    ) -> None:
        self.status = status
        self.retry_after = retry_after
        super().__init__(source_id, reason, url=url, hint=hint)


class ParseError(SourceError):
    """The source's bytes are not a usable feed or document."""


class StoreError(DigestError):
    """The database failed or is not at the expected schema."""


class TaggingError(DigestError):
    """A theme definition cannot be used."""

    def __init__(self, theme: str, reason: str) -> None:
        self.theme = theme
        super().__init__(f"themes.{theme}: {reason}")


class RenderError(DigestError):
    """A template could not be rendered."""


class DeliveryError(DigestError):
    """A message could not be delivered.

    `permanent`: retrying will not help (a 5xx). `connection`: no message can go now (the
    server cannot be reached or refuses the login), so the batch stops.
    """

    def __init__(
        self,
        reason: str,
        *,
        recipient: str | None = None,
        permanent: bool = False,
        connection: bool = False,
        hint: str | None = None,
    ) -> None:
        self.recipient = recipient
        self.permanent = permanent
        self.connection = connection
        super().__init__(reason, hint=hint)


class NotFoundError(DigestError):
    """Something named by the user does not exist."""


class SubscriptionError(DigestError):
    """A subscription change that is not allowed."""
