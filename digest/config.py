"""config.toml: every setting declared once, validated in one place.

Each field's `description` is its help text; `digest config show` and the checks that
config.toml documents every setting derive from these declarations.
"""

from __future__ import annotations

import os
import re
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from digest.cadence import EXPECTED, cadence_trigger, next_run
from digest.errors import ConfigError

DEFAULT_CONFIG = Path("config.toml")
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def secret(description: str) -> Any:
    """A field whose value `digest config show` masks."""
    return Field(default=None, description=description, json_schema_extra={"secret": True})


class DigestSettings(Section):
    title: str = Field("Digest", description="Name of the digest, shown in subjects and headers.")
    database: str = Field(
        "sqlite:///data/digest.db",
        description="SQLAlchemy URL; a relative SQLite path is relative to config.toml. "
        "DIGEST_DATABASE_URL overrides it (keeps a PostgreSQL password out of the file).",
    )
    public_url: str = Field(
        "http://127.0.0.1:8000",
        description="Base URL of the web app, used for links in emails.",
    )
    first_digest_days: int = Field(
        7, ge=1, le=365, description="How many days a subscriber's first digest looks back."
    )
    send_empty: bool = Field(False, description="Send a digest even when it has no items.")
    secret_key: str | None = secret(
        "Key that signs preference-center links; DIGEST_SECRET_KEY overrides it."
    )

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f'"{value}" is not an http(s) URL')
        return value.rstrip("/")


class SmtpSettings(Section):
    host: str = Field("127.0.0.1", description="SMTP server host.")
    port: int = Field(25, ge=1, le=65535, description="SMTP server port.")
    security: Literal["none", "starttls", "ssl"] = Field(
        "none", description='"starttls", "ssl" or "none".'
    )
    username_env: str = Field(
        "DIGEST_SMTP_USERNAME", description="Environment variable holding the SMTP user name."
    )
    password_env: str = Field(
        "DIGEST_SMTP_PASSWORD", description="Environment variable holding the SMTP password."
    )
    timeout: float = Field(30.0, gt=0, description="Seconds to wait for the server.")
    rate_per_second: float = Field(
        0.0, ge=0, description="Most messages sent per second; 0 means no limit."
    )
    max_attempts: int = Field(
        5, ge=1, le=20, description="Attempts before a temporary failure becomes permanent."
    )
    retry_delay: float = Field(
        60.0, gt=0, description="Seconds before the first retry; each retry waits twice as long."
    )
    max_retry_delay: float = Field(
        3600.0, gt=0, description="Longest wait between two attempts, in seconds."
    )
    ca_file: str | None = Field(
        None,
        description="PEM file of certificates to trust instead of the system's (private server).",
    )


class DkimSettings(Section):
    key_file: str | None = Field(
        None, description="PEM private key; messages are DKIM-signed when it is set."
    )
    selector: str = Field("digest", description="DKIM selector: the key is at SELECTOR._domainkey.")
    domain: str | None = Field(None, description="Signing domain; defaults to the sender's.")

    @field_validator("selector", "domain")
    @classmethod
    def _label(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$", value):
            raise ValueError(f'"{value}" is not a DNS name')
        return value


class DeliverySettings(Section):
    backend: Literal["file", "smtp"] = Field("file", description='"file" or "smtp".')
    outbox: str = Field(
        "outbox", description="Folder the file backend writes .eml and .html files into."
    )
    sender: str = Field("Digest <digest@example.org>", description="From address of every message.")
    reply_to: str | None = Field(None, description="Reply-To address, if any.")
    unsubscribe_mailto: str | None = Field(
        None, description="Address for mailto: unsubscribe requests, if any."
    )
    smtp: SmtpSettings = Field(default_factory=SmtpSettings, description="SMTP backend.")
    dkim: DkimSettings = Field(default_factory=DkimSettings, description="DKIM signing.")

    @field_validator("sender", "reply_to", "unsubscribe_mailto")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        address = re.search(r"<([^<>]+)>\s*$", value)
        check_email(address.group(1) if address else value)
        return value


class IngestSettings(Section):
    interval_minutes: int = Field(
        60, ge=1, description="Default minutes between two checks of a source."
    )
    max_interval_hours: int = Field(
        24,
        ge=1,
        le=24 * 7,
        description="Longest wait a feed can ask for (TTL, Cache-Control, Expires).",
    )
    timeout_seconds: float = Field(
        30.0, gt=0, description="Seconds one fetch may take in all, redirects included."
    )
    connect_timeout_seconds: float = Field(
        10.0, gt=0, description="Seconds to wait for a server to accept the connection."
    )
    read_timeout_seconds: float = Field(
        15.0, gt=0, description="Seconds to wait for the next bytes from a server."
    )
    max_bytes: int = Field(
        10_000_000, ge=1024, description="Largest feed body accepted, counted decompressed."
    )
    concurrency: int = Field(8, ge=1, le=64, description="Feeds fetched at once.")
    per_host: int = Field(2, ge=1, le=16, description="Feeds fetched at once from one host.")
    user_agent: str = Field(
        "digest/0.1 (feed reader; +https://github.com/digest-newsletter/digest)",
        description="User-Agent sent with every fetch.",
    )
    error_limit: int = Field(
        8,
        ge=1,
        le=100,
        description="Failed checks in a row after which a source is paused.",
    )
    max_backoff_hours: int = Field(
        24, ge=1, le=24 * 7, description="Longest wait between two checks after errors."
    )
    parse_workers: int = Field(
        2, ge=1, le=32, description="Processes that parse feeds (about one per core)."
    )
    parse_timeout_seconds: float = Field(
        30.0, gt=0, description="Seconds one feed may take to parse before it is given up."
    )
    parse_memory_mb: int = Field(
        512, ge=128, description="Memory one parsing process may use, in MB."
    )
    max_items_per_feed: int = Field(
        1000, ge=1, description="Most items read from one feed at one check."
    )
    story_similarity: float = Field(
        0.5,
        gt=0,
        le=1,
        description="How alike two items from different sources must be to count as one story.",
    )
    story_window_days: int = Field(
        3, ge=1, le=60, description="How many days back an item is compared with for stories."
    )


class SourceBase(Section):
    """What every kind of source has."""

    id: str = Field(description="Stable identifier of the source.")
    title: str | None = Field(None, description="Display name; defaults to the id or the feed's.")
    interval_minutes: int | None = Field(None, ge=1, description="Minutes between checks.")
    enabled: bool = Field(True, description="Whether the source is read at all.")


class DocumentsSource(SourceBase):
    kind: Literal["documents"]
    path: str = Field(description="Folder of .txt, .md and .html files, relative to config.toml.")


class FeedSource(SourceBase):
    kind: Literal["feed"]
    url: str = Field(description="http(s) URL or a local path of an RSS, Atom or JSON feed.")

    @field_validator("url")
    @classmethod
    def _location(cls, value: str) -> str:
        scheme = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*):", value)
        if scheme and len(scheme.group(1)) > 1 and scheme.group(1).lower() not in ("http", "https"):
            raise ValueError(f'"{value}" is neither an http(s) URL nor a local path')
        return value


class WebSettings(Section):
    host: str = Field("127.0.0.1", description="Address `digest serve` listens on.")
    port: int = Field(8000, ge=0, le=65535, description="Port `digest serve` listens on.")
    admin_password_env: str = Field(
        "DIGEST_ADMIN_PASSWORD",
        description="Environment variable holding the admin password; when it is set, "
        "every page but the preference center asks for it (HTTP Basic, any user name) "
        "and answers clients other than this computer.",
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host names the web app answers to, besides localhost, 127.0.0.1, "
        "::1 and the host of public_url.",
    )
    token_max_age_days: int = Field(
        90, ge=1, le=3650, description="Days a preference or unsubscribe link stays valid."
    )

    @property
    def admin_password(self) -> str | None:
        """The admin password from the environment, or None when none is set."""
        return os.environ.get(self.admin_password_env) or None


class WorkersSettings(Section):
    backend: Literal["inprocess", "celery"] = Field(
        "inprocess",
        description='"inprocess": `digest run` composes and sends itself; "celery": it hands '
        "each due subscriber to the Celery workers that `digest worker` starts.",
    )
    broker_url: str = Field(
        "redis://127.0.0.1:6379/0",
        description="Celery broker (Redis) URL; DIGEST_BROKER_URL overrides it.",
    )
    visibility_timeout: float = Field(
        600.0,
        gt=0,
        description="Seconds before a task a worker took but never finished (it died) "
        "goes to another worker.",
    )
    send_timeout: float = Field(
        300.0,
        gt=0,
        description="Seconds after which a message a worker started sending but never "
        "recorded is sent again by another (keep it above [delivery.smtp] timeout).",
    )
    concurrency: int = Field(
        1, ge=1, le=64, description="Tasks one `digest worker` process runs at once (threads)."
    )

    @property
    def broker(self) -> str:
        return os.environ.get("DIGEST_BROKER_URL") or self.broker_url


SourceSettings = Annotated[DocumentsSource | FeedSource, Field(discriminator="kind")]


class RuleSettings(Section):
    """A co-occurrence rule: term groups that must (or must not) meet in one sentence."""

    all: list[str] = Field(
        default_factory=list, description="Term groups that must all appear in the sentence."
    )
    any: list[str] = Field(
        default_factory=list, description="Term groups of which at least `min_any` must appear."
    )
    min_any: int = Field(1, ge=1, description="How many different `any` groups must appear.")
    none: list[str] = Field(
        default_factory=list, description="Term groups that stop the rule when they appear."
    )
    weight: float = Field(gt=0, le=5, description="What a sentence matching the rule adds.")

    @model_validator(mode="after")
    def _needs_terms(self) -> RuleSettings:
        if not self.all and not self.any:
            raise ValueError("a rule needs term groups in `all` or `any`")
        if self.any and self.min_any > len(self.any):
            raise ValueError(
                f"min_any = {self.min_any} but `any` names only {len(self.any)} term groups"
            )
        return self


class ThemeSettings(Section):
    """One theme; the tagger compiles these into matchers (see digest/tagging).

    A wording matches whatever its case, its inflections ("launch" also finds "launched"),
    hyphens or spaces, possessives and HTML entities. Written all in capitals ("US") it
    matches only capitals; in double quotes it matches exactly that form; between slashes
    (/Hwasong-?\\d+/) it is a regular expression, matched without regard to case.
    """

    label: str = Field(description="Name shown to readers.")
    description: str = Field("", description="What belongs in the theme, for people.")
    threshold: float = Field(0.5, gt=0, le=1, description="Score at which an item is tagged.")
    title_weight: float = Field(
        1.5, ge=0, description="Multiplier for what a match in the title adds."
    )
    context: list[str] = Field(
        default_factory=list,
        description="Wordings or term group names; an item mentioning none of them scores 0.",
    )
    terms: dict[str, list[str]] = Field(
        default_factory=dict, description="Named groups of wordings that rules combine."
    )
    rules: list[RuleSettings] = Field(
        default_factory=list,
        description="Co-occurrence rules; each sentence adds the weight of its best rule.",
    )
    phrases: dict[str, float] = Field(
        default_factory=dict, description="Wording = weight a sentence containing it adds."
    )
    patterns: dict[str, float] = Field(
        default_factory=dict, description="Regular expression = weight (e.g. 'Hwasong-\\d+')."
    )
    aliases: dict[str, list[str]] = Field(
        default_factory=dict, description="Wording = other wordings that count as it anywhere."
    )
    exclusions: dict[str, float] = Field(
        default_factory=dict,
        description="Wording = weight taken off its sentence; its words count for nothing else.",
    )

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, value: dict[str, float]) -> dict[str, float]:
        for pattern, weight in value.items():
            _check_regex(pattern)
            if weight <= 0:
                raise ValueError(f'"{pattern}" = {weight}: a weight must be above 0')
        return value

    @field_validator("phrases")
    @classmethod
    def _phrase_weights(cls, value: dict[str, float]) -> dict[str, float]:
        for phrase, weight in value.items():
            _check_wording(phrase)
            if weight <= 0:
                raise ValueError(f'"{phrase}" = {weight}: a weight must be above 0')
        return value

    @field_validator("exclusions")
    @classmethod
    def _exclusion_weights(cls, value: dict[str, float]) -> dict[str, float]:
        for phrase, weight in value.items():
            _check_wording(phrase)
            if weight < 0:
                raise ValueError(f'"{phrase}" = {weight}: a weight cannot be negative')
        return value

    @field_validator("terms")
    @classmethod
    def _term_groups(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, wordings in value.items():
            if not _ID.match(name):
                raise ValueError(
                    f'"{name}" is not a group name; expected lowercase letters, digits, - and _'
                )
            if not wordings:
                raise ValueError(f'"{name}" is empty; list at least one wording')
            for wording in wordings:
                _check_wording(wording, where=f"{name}: ")
        return value

    @field_validator("aliases")
    @classmethod
    def _alias_wordings(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for phrase, wordings in value.items():
            for wording in wordings:
                _check_wording(wording, where=f'"{phrase}": ')
        return value

    @model_validator(mode="after")
    def _references(self) -> ThemeSettings:
        problems: list[str] = []
        groups = ", ".join(self.terms) or "none are defined"
        for i, rule in enumerate(self.rules):
            for key in ("all", "any", "none"):
                for name in getattr(rule, key):
                    if name not in self.terms:
                        problems.append(
                            f'rules[{i}].{key}: "{name}" is not a term group; expected one of '
                            + groups
                        )
        for wording in self.context:
            if wording not in self.terms:
                _check_wording(wording, where="context: ")
        used = {*self.phrases, *self.exclusions, *self.context}
        used.update(w for wordings in self.terms.values() for w in wordings)
        for phrase in self.aliases:
            if phrase not in used:
                problems.append(
                    f'aliases: "{phrase}" is not a phrase, term, context word or exclusion '
                    "of this theme, so its aliases would never count"
                )
        if not (self.rules or self.phrases or self.patterns):
            problems.append("the theme has no rules, phrases or patterns, so nothing can match")
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _check_wording(wording: str, *, where: str = "") -> None:
    """Reject wordings that can never match: empty ones and broken regular expressions."""
    if len(wording) > 2 and wording.startswith("/") and wording.endswith("/"):
        _check_regex(wording[1:-1], where=where)
    elif not re.search(r"\w", wording):
        raise ValueError(f'{where}"{wording}" has no letters or digits, so it cannot match')


def _check_regex(pattern: str, *, where: str = "") -> None:
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f'{where}"{pattern}" is not a regular expression ({exc})') from None
    if compiled.match(""):
        raise ValueError(f'{where}"{pattern}" matches empty text; it would match everywhere')


class AlertSettings(Section):
    themes: list[str] = Field(default_factory=list, description="Themes that trigger alerts.")
    threshold: float = Field(0.8, gt=0, le=1, description="Score at which an item is alerted.")
    daily_cap: int = Field(
        5, ge=0, description="Most alert emails a day (local time); 0 turns alerts off."
    )
    repeat_in_digest: bool = Field(False, description="Also list alerted items in the next digest.")


class SubscriberSettings(Section):
    email: str = Field(description="Address digests go to.")
    name: str = Field("", description="How the reader is greeted.")
    themes: list[str] = Field(description="Themes the reader follows.")
    cadence: str = Field(
        "daily 07:00", description='"daily HH:MM", "weekly DAY HH:MM" or a cron expression.'
    )
    timezone: str = Field("UTC", description="IANA time zone of the reader.")
    max_items: int = Field(30, ge=1, le=500, description="Most items in one digest.")
    min_score: float = Field(
        0.0, ge=0, le=1, description="Lowest score shown, above each theme's threshold."
    )
    alerts: AlertSettings | None = Field(None, description="Immediate alerts, if any.")
    quiet_hours: str | None = Field(
        None, description='Local "HH:MM-HH:MM" during which alerts wait.'
    )

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return check_email(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        check_timezone(value)
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str | None) -> str | None:
        if value is not None and not re.match(
            r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$", value
        ):
            raise ValueError(f'"{value}" is not a time range; expected "HH:MM-HH:MM"')
        if value is not None and value[:5] == value[6:]:
            raise ValueError(f'"{value}" starts and ends at the same time; expected two times')
        return value

    @field_validator("cadence")
    @classmethod
    def _cadence(cls, value: str) -> str:
        trigger = cadence_trigger(value, ZoneInfo("UTC"))  # the zone does not change what parses
        try:
            next_run(trigger, datetime(2000, 1, 1, tzinfo=UTC))  # leap years included
        except ValueError:
            raise ValueError(f'"{value}" names a date that never comes; {EXPECTED}') from None
        return value


class Settings(Section):
    digest: DigestSettings = Field(default_factory=DigestSettings, description="The digest.")
    delivery: DeliverySettings = Field(default_factory=DeliverySettings, description="Delivery.")
    ingest: IngestSettings = Field(default_factory=IngestSettings, description="Fetching.")
    web: WebSettings = Field(default_factory=WebSettings, description="The web app.")
    workers: WorkersSettings = Field(
        default_factory=WorkersSettings, description="Fan-out to Celery workers."
    )
    sources: list[SourceSettings] = Field(default_factory=list, description="Sources.")
    themes: dict[str, ThemeSettings] = Field(default_factory=dict, description="Themes.")
    subscribers: list[SubscriberSettings] = Field(default_factory=list, description="Subscribers.")
    # Where config.toml lives; relative paths in it are relative to this folder.
    base_dir: Path = Field(default=Path("."), exclude=True)

    def path(self, value: str) -> Path:
        """Resolve a path from config.toml against the folder config.toml is in."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    @property
    def database_url(self) -> str:
        """The database URL, with a relative SQLite path made relative to config.toml."""
        url = os.environ.get("DIGEST_DATABASE_URL") or self.digest.database
        prefix = "sqlite:///"
        if url.startswith(prefix) and url != "sqlite:///:memory:":
            return prefix + str(self.path(url[len(prefix) :]))
        return url

    @property
    def secret_key(self) -> str | None:
        return os.environ.get("DIGEST_SECRET_KEY") or self.digest.secret_key


def _of_type(value: Any, kind: type, default: Any) -> Any:
    return value if isinstance(value, kind) else default


def check_email(value: str) -> str:
    """Validate an address (no DNS lookups) and return its normalised form."""
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f'"{value}" is not an email address ({exc})') from None


def check_timezone(value: str) -> ZoneInfo:
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f'"{value}" is not an IANA time zone; expected a name like "Europe/Paris" or "UTC"'
        ) from None


def load_settings(path: Path = DEFAULT_CONFIG) -> Settings:
    """Read and validate config.toml, raising ConfigError with every problem at once."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            str(path), ["file not found"], hint="Run 'digest init' or pass --config PATH."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [f"cannot be read ({exc})"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [f"is not valid TOML: {exc}"]) from None
    return settings_from_dict(raw, base_dir=path.resolve().parent, origin=str(path))


def settings_from_dict(raw: dict[str, Any], *, base_dir: Path, origin: str) -> Settings:
    """Validate a parsed config mapping."""
    problems = reference_problems(raw)
    try:
        settings = Settings.model_validate({**raw, "base_dir": base_dir})
    except ValidationError as exc:
        raise ConfigError(origin, describe_errors(exc) + problems) from None
    if problems:
        raise ConfigError(origin, problems)
    return settings


def reference_problems(raw: dict[str, Any]) -> list[str]:
    """Problems between sections (unknown themes, repeated ids), found on the raw mapping.

    They are checked apart from the per-field validation so that one run reports both.
    """
    problems: list[str] = []
    sources: list[Any] = _of_type(raw.get("sources"), list, [])
    themes: dict[str, Any] = _of_type(raw.get("themes"), dict, {})
    subscribers: list[Any] = _of_type(raw.get("subscribers"), list, [])
    seen: set[str] = set()
    for i, source in enumerate(sources):
        source_id = source.get("id") if isinstance(source, dict) else None
        if not isinstance(source_id, str):
            continue
        if not _ID.match(source_id):
            problems.append(
                f'sources[{i}].id: "{source_id}" is not an id; '
                "expected lowercase letters, digits, - and _"
            )
        if source_id in seen:
            problems.append(f'sources[{i}].id: "{source_id}" is used by another source')
        seen.add(source_id)
    for theme_id in themes:
        if not _ID.match(theme_id):
            problems.append(
                f'themes.{theme_id}: "{theme_id}" is not an id; '
                "expected lowercase letters, digits, - and _"
            )
    known = ", ".join(themes) or "none are defined"
    emails: set[str] = set()
    for i, sub in enumerate(subscribers):
        if not isinstance(sub, dict):
            continue
        alerts: dict[str, Any] = _of_type(sub.get("alerts"), dict, {})
        for key, listed in (("themes", sub.get("themes")), ("alerts.themes", alerts.get("themes"))):
            for theme in listed if isinstance(listed, list) else []:
                if theme not in themes:
                    problems.append(
                        f'subscribers[{i}].{key}: "{theme}" is not a theme; expected one of {known}'
                    )
        email = sub.get("email")
        if isinstance(email, str):
            if email.lower() in emails:
                problems.append(f'subscribers[{i}].email: "{email}" is listed twice')
            emails.add(email.lower())
    return problems


def describe_errors(exc: ValidationError) -> list[str]:
    """Turn pydantic's errors into lines like `subscribers[2].cadence: "x" is not a cadence`."""
    lines: list[str] = []
    for error in exc.errors():
        loc = [part for part in error["loc"] if not _is_union_tag(part)]
        ctx_error = (error.get("ctx") or {}).get("error")
        key = _dotted(loc)
        kind = error["type"]
        value = error.get("input")
        if kind == "extra_forbidden":
            lines.append(f"{key}: unknown key; {_expected_keys(loc)}")
        elif kind == "missing":
            lines.append(f"{key}: missing; this key is required")
        elif kind in ("value_error", "assertion_error"):
            lines.append(f"{key}: {str(ctx_error) if ctx_error else error['msg']}")
        elif kind == "union_tag_invalid":
            lines.append(
                f"{key}.kind: {_show(value.get('kind') if isinstance(value, dict) else value)} "
                'is not a source kind; expected "documents" or "feed"'
            )
        elif kind == "union_tag_not_found":
            lines.append(f'{key}.kind: missing; expected "documents" or "feed"')
        elif kind in _TYPE_NAMES:
            lines.append(f"{key}: {_show(value)} is not {_TYPE_NAMES[kind]}")
        else:
            expected = error["msg"].removeprefix("Input should be ")
            lines.append(f"{key}: {_show(value)} is invalid; expected {expected}")
    return lines


_TYPE_NAMES = {
    "int_parsing": "a whole number",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_parsing": "a number",
    "float_type": "a number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "a table",
    "model_type": "a table",
}


def _is_union_tag(part: int | str) -> bool:
    return part in ("documents", "feed")


def _dotted(loc: list[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, dict | list):
        return type(value).__name__
    return repr(value)


def _expected_keys(loc: list[int | str]) -> str:
    model: type[BaseModel] | None = Settings
    for part in loc[:-1]:
        if model is None:
            break
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            # A theme id (themes.ID): what follows is that theme's table.
            model = (
                ThemeSettings if model in (Settings, ThemeSettings) and loc[0] == "themes" else None
            )
            continue
        model = _model_of(field.annotation)
    if model is None:
        return "check the spelling"
    names = [n for n, f in model.model_fields.items() if not f.exclude]
    if model in (DocumentsSource, FeedSource):
        names = sorted(set(DocumentsSource.model_fields) | set(FeedSource.model_fields))
    return "expected one of " + ", ".join(names)


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None
