"""The preference center's form: parsed at the edge, validated as config.toml is, then saved.

Two steps. `PreferencesForm` checks the form's own shape (which fields, which choices).
Then the reader's stored settings, with the form's values laid over them, go through
`SubscriberSettings`, the very model that validates `[[subscribers]]` in config.toml and
`digest subscribers add|update`: its limits (max_items 1-500, min_score 0-1) and its
validators (cadence, time zone, quiet hours) are the only rules, and its errors are shown
next to the field that caused them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Literal
from zoneinfo import available_timezones

from annotated_types import Ge, Le
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from digest.config import SubscriberSettings, check_timezone
from digest.models import Subscriber

LIST_FIELDS = ("themes", "alert_themes")
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")

# "Which items" offers these minimum scores, from everything the themes match to only
# strong matches (the alert threshold's default); 0 leaves each theme's own threshold.
SCORE_CHOICES = (
    ("0", "Everything that matches my themes"),
    ("0.6", "Likely matches only (score 0.6 or more)"),
    ("0.8", "Only strong matches (score 0.8 or more)"),
)
QUIET_DEFAULT = ("22:00", "07:00")


class PreferencesForm(BaseModel):
    """What the preference center's form sends (less its CSRF token).

    A field left out (a page from before it existed) keeps the stored value: None here.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    themes: list[str] = Field(default_factory=list)
    frequency: Literal["daily", "weekly", "custom"] = "daily"
    day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    time: str = "07:00"
    cron: str = ""
    timezone: str = "UTC"
    alert_themes: list[str] = Field(default_factory=list)
    max_items: str | None = None
    min_score: str | None = None
    quiet: Literal["off", "on"] | None = None
    quiet_start: str = ""
    quiet_end: str = ""

    @field_validator("time")
    @classmethod
    def _time(cls, value: str) -> str:
        value = _hhmm(value)
        if not _TIME.match(value):
            raise ValueError(f'"{value}" is not a time of day; expected HH:MM, e.g. 07:30')
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        check_timezone(value)
        return value

    @property
    def cadence(self) -> str:
        if self.frequency == "daily":
            return f"daily {self.time}"
        if self.frequency == "weekly":
            return f"weekly {self.day} {self.time}"
        return " ".join(self.cron.split())


FIELD_LABELS = {
    "themes": "Themes",
    "frequency": "How often",
    "day": "Day",
    "time": "Time",
    "cron": "Cron expression",
    "timezone": "Time zone",
    "alert_themes": "Alerts",
    "max_items": "Most items in one digest",
    "min_score": "Which items",
    "quiet_hours": "Quiet hours",
}
# Form fields whose errors are shown under another field's name.
_SHOWN_AS = {"quiet": "quiet_hours", "quiet_start": "quiet_hours", "quiet_end": "quiet_hours"}


def _hhmm(value: str) -> str:
    # A browser may send seconds ("07:00:00"); the settings keep minutes.
    return value.strip()[:5]


def bounds(name: str) -> tuple[Any, Any]:
    """The (ge, le) limits SubscriberSettings declares for a field, for the form's min/max."""
    low = high = None
    for limit in SubscriberSettings.model_fields[name].metadata:
        if isinstance(limit, Ge):
            low = limit.ge
        elif isinstance(limit, Le):
            high = limit.le
    return low, high


def score_text(score: float) -> str:
    """A score as the form writes it: 0.6 -> "0.6", 0.0 -> "0"."""
    return f"{score:g}"


def parse_preferences(
    data: Mapping[str, Sequence[str]], current: Subscriber, theme_order: Sequence[str]
) -> tuple[Subscriber | None, dict[str, str]]:
    """Validate the submitted fields; returns the changed subscriber, or None and an error
    per field (nothing is changed then)."""
    raw: dict[str, object] = {}
    for key, values in data.items():
        raw[key] = list(values) if key in LIST_FIELDS else (values[-1] if values else "")
    try:
        form = PreferencesForm.model_validate(raw)
    except ValidationError as exc:
        return None, _form_errors(exc)
    errors: dict[str, str] = {}
    known = set(theme_order)
    if not form.themes:
        errors["themes"] = "Choose at least one theme, or unsubscribe below."
    for key in LIST_FIELDS:
        unknown = [t for t in getattr(form, key) if t not in known]
        if unknown:
            errors[key] = f'"{unknown[0]}" is not a theme of this digest.'
    if form.frequency == "custom" and not form.cron.strip():
        errors["cron"] = 'Enter a cron expression, e.g. "0 18 * * 1-5", or pick daily or weekly.'
    if form.quiet == "on" and not (form.quiet_start.strip() and form.quiet_end.strip()):
        errors["quiet_hours"] = "Enter both times, or choose no quiet hours."
    settings = current.as_config_entry()
    settings.update(cadence=form.cadence, timezone=form.timezone, themes=form.themes)
    settings["alerts"] = {**settings["alerts"], "themes": form.alert_themes}
    if form.max_items is not None:
        settings["max_items"] = form.max_items.strip()
    if form.min_score is not None:
        settings["min_score"] = form.min_score.strip()
    if form.quiet == "off":
        settings["quiet_hours"] = None
    elif form.quiet == "on" and "quiet_hours" not in errors:
        settings["quiet_hours"] = f"{_hhmm(form.quiet_start)}-{_hhmm(form.quiet_end)}"
    try:
        checked = SubscriberSettings.model_validate(settings)
    except ValidationError as exc:
        for key, message in _settings_errors(exc, form).items():
            errors.setdefault(key, message)
        return None, errors
    if errors:
        return None, errors
    return replace(
        current,
        themes=tuple(t for t in theme_order if t in checked.themes),
        cadence=checked.cadence,
        timezone=checked.timezone,
        max_items=checked.max_items,
        min_score=checked.min_score,
        # Only the alert themes are on the form; threshold, cap and the rest stay.
        alerts=replace(
            current.alerts,
            themes=tuple(t for t in theme_order if checked.alerts and t in checked.alerts.themes),
        ),
        quiet_hours=checked.quiet_hours,
    ), {}


def _form_errors(exc: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in exc.errors():
        key = str(error["loc"][0]) if error["loc"] else "form"
        key = _SHOWN_AS.get(key, key)
        ctx_error = (error.get("ctx") or {}).get("error")
        if error["type"] == "extra_forbidden":
            errors.setdefault("form", f'The form sent an unknown field "{key}".')
        elif error["type"] == "literal_error":
            errors.setdefault(key, f'"{error["input"]}" is not one of the choices.')
        else:
            errors.setdefault(key, str(ctx_error) if ctx_error else error["msg"])
    return errors


def _settings_errors(exc: ValidationError, form: PreferencesForm) -> dict[str, str]:
    """SubscriberSettings' errors, each under the form field that sent the value."""
    fields = {
        "cadence": "cron" if form.frequency == "custom" else "time",
        "alerts": "alert_themes",
    }
    errors: dict[str, str] = {}
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "form"
        key = fields.get(name, name)
        if key not in FIELD_LABELS:
            key = "form"  # a stored value the form does not show (cannot happen from config)
        value = error.get("input")
        low, high = bounds(name) if name in ("max_items", "min_score") else (None, None)
        ctx_error = (error.get("ctx") or {}).get("error")
        if name == "max_items":
            message = f"Enter a whole number from {low} to {high}"
        elif name == "min_score":
            message = f"Choose one of the options (a score from {low} to {high})"
        else:
            message = str(ctx_error) if ctx_error else error["msg"]
        if name in ("max_items", "min_score"):
            message += f'; "{value}" is not one.' if value != "" else "."
        errors.setdefault(key, message)
    return errors


def time_zones() -> tuple[str, ...]:
    """IANA zone names offered in the form: "Area/City" names, plus UTC."""
    names = {z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV"))}
    return ("UTC", *sorted(names))
