"""The preference center's form: parsed at the edge, validated as config.toml is, then saved.

Two steps. `PreferencesForm` checks the form's own shape (which fields, which choices).
Then the reader's stored settings, with the form's values laid over them, go through
`SubscriberSettings`, the very model that validates `[[subscribers]]` in config.toml and
`digest subscribers add|update`: its limits (max_items 1-500, min_score 0-1, and
`AlertSettings`' alert threshold and daily cap) and its validators (cadence, time zone,
quiet hours) are the only rules, and its errors are shown next to the field that caused them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Literal
from zoneinfo import available_timezones

from annotated_types import Ge, Gt, Le
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from digest.config import AlertSettings, SubscriberSettings, check_timezone
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
# "Alert me for" offers these alert thresholds, strictest first; AlertSettings' default is
# named as such.
THRESHOLD_CHOICES = (
    ("0.9", "Very strong matches only"),
    ("0.8", "Strong matches"),
    ("0.6", "Likely matches"),
)
# The alert fields' names on the form, by their key in [subscribers.alerts].
ALERT_FIELDS = {
    "threshold": "alert_threshold",
    "daily_cap": "alert_daily_cap",
    "repeat_in_digest": "alert_repeat_in_digest",
}


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
    alert_threshold: str | None = None
    alert_daily_cap: str | None = None
    # The page sends "off" from a hidden field, then "on" if the box is ticked; the last wins.
    alert_repeat_in_digest: Literal["off", "on"] | None = None

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
    "alert_threshold": "Alert me for",
    "alert_daily_cap": "Most alert emails a day",
    "alert_repeat_in_digest": "Also list alerted items in my next digest",
}
# Form fields whose errors are shown under another field's name.
_SHOWN_AS = {"quiet": "quiet_hours", "quiet_start": "quiet_hours", "quiet_end": "quiet_hours"}


def _hhmm(value: str) -> str:
    # A browser may send seconds ("07:00:00"); the settings keep minutes.
    return value.strip()[:5]


def bounds(name: str, model: type[BaseModel] = SubscriberSettings) -> tuple[Any, Any]:
    """The (ge or gt, le) limits a settings model declares for a field, for the form's
    min/max and messages; None where there is no limit."""
    low: Any = None
    high: Any = None
    for limit in model.model_fields[name].metadata:
        if isinstance(limit, Ge):
            low = limit.ge
        elif isinstance(limit, Gt):
            low = limit.gt
        elif isinstance(limit, Le):
            high = limit.le
    return low, high


def threshold_choices(current: float) -> list[tuple[str, str]]:
    """The "Alert me for" options; a stored threshold that is none of them stays on offer."""
    default = score_text(AlertSettings.model_fields["threshold"].default)
    choices = [
        (value, f"{label} ({value}, the default)" if value == default else f"{label} ({value})")
        for value, label in THRESHOLD_CHOICES
    ]
    mine = score_text(current)
    if mine not in {value for value, _ in choices}:
        choices.append((mine, f"Keep my current setting ({mine})"))
    return sorted(choices, key=lambda choice: -float(choice[0]))


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
    alerts: dict[str, object] = {**settings["alerts"], "themes": form.alert_themes}
    if form.alert_threshold is not None:
        alerts["threshold"] = form.alert_threshold.strip()
    if form.alert_daily_cap is not None:
        alerts["daily_cap"] = form.alert_daily_cap.strip()
    if form.alert_repeat_in_digest is not None:
        alerts["repeat_in_digest"] = form.alert_repeat_in_digest == "on"
    settings["alerts"] = alerts
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
    checked_alerts = checked.alerts or AlertSettings()
    return replace(
        current,
        themes=tuple(t for t in theme_order if t in checked.themes),
        cadence=checked.cadence,
        timezone=checked.timezone,
        max_items=checked.max_items,
        min_score=checked.min_score,
        alerts=replace(
            current.alerts,
            themes=tuple(t for t in theme_order if t in checked_alerts.themes),
            threshold=checked_alerts.threshold,
            daily_cap=checked_alerts.daily_cap,
            repeat_in_digest=checked_alerts.repeat_in_digest,
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
        loc = error["loc"]
        name = str(loc[0]) if loc else "form"
        if name == "alerts" and len(loc) > 1 and str(loc[1]) in ALERT_FIELDS:
            name = ALERT_FIELDS[str(loc[1])]
        key = fields.get(name, name)
        if key not in FIELD_LABELS:
            key = "form"  # a stored value the form does not show (cannot happen from config)
        value = error.get("input")
        ctx_error = (error.get("ctx") or {}).get("error")
        message = _range_message(name)
        if message is None:
            message = str(ctx_error) if ctx_error else error["msg"]
        else:
            message += f'; "{value}" is not one.' if value != "" else "."
        errors.setdefault(key, message)
    return errors


def _range_message(name: str) -> str | None:
    """What a number field expects, from the limits its settings model declares."""
    if name == "max_items":
        low, high = bounds(name)
        return f"Enter a whole number from {low} to {high}"
    if name == "min_score":
        low, high = bounds(name)
        return f"Choose one of the options (a score from {low} to {high})"
    if name == "alert_daily_cap":
        low, high = bounds("daily_cap", AlertSettings)
        return f"Enter a whole number, {low} or more" + (
            f" up to {high}" if high is not None else ""
        )
    if name == "alert_threshold":
        low, high = bounds("threshold", AlertSettings)
        return f"Choose one of the options (a score above {low}, up to {high})"
    return None


def time_zones() -> tuple[str, ...]:
    """IANA zone names offered in the form: "Area/City" names, plus UTC."""
    names = {z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV"))}
    return ("UTC", *sorted(names))
