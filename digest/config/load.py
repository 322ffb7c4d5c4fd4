"""Loading config.toml: parse, validate everything at once, and say what is wrong."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    Field,
    ValidationError,
)

from digest.config.sections import (
    DEFAULT_CONFIG,
    ID,
    DeliverySettings,
    DigestSettings,
    DocumentsSource,
    FeedSource,
    IngestSettings,
    Section,
    SourceSettings,
    SubscriberSettings,
    WebSettings,
    WorkersSettings,
)
from digest.config.themes import ThemeSettings
from digest.errors import ConfigError


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
        if not ID.match(source_id):
            problems.append(
                f'sources[{i}].id: "{source_id}" is not an id; '
                "expected lowercase letters, digits, - and _"
            )
        if source_id in seen:
            problems.append(f'sources[{i}].id: "{source_id}" is used by another source')
        seen.add(source_id)
    for theme_id in themes:
        if not ID.match(theme_id):
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
