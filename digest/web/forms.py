"""The preference center's form: parsed and validated at the edge, then a new Subscriber."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Literal
from zoneinfo import ZoneInfo, available_timezones

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from digest.cadence import cadence_trigger
from digest.config import check_timezone
from digest.models import Alerts, Subscriber

LIST_FIELDS = ("themes", "alert_themes")
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class PreferencesForm(BaseModel):
    """What the preference center's form sends (less its CSRF token)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    themes: list[str] = Field(default_factory=list)
    frequency: Literal["daily", "weekly", "custom"] = "daily"
    day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    time: str = "07:00"
    cron: str = ""
    timezone: str = "UTC"
    alert_themes: list[str] = Field(default_factory=list)

    @field_validator("time")
    @classmethod
    def _time(cls, value: str) -> str:
        value = value.strip()[:5]  # a browser may send seconds: "07:00:00"
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
}


def parse_preferences(
    data: Mapping[str, Sequence[str]], known_themes: Sequence[str]
) -> tuple[PreferencesForm | None, dict[str, str]]:
    """Validate the submitted fields; returns the form, or None and an error per field."""
    raw: dict[str, object] = {}
    for key, values in data.items():
        raw[key] = list(values) if key in LIST_FIELDS else (values[-1] if values else "")
    errors: dict[str, str] = {}
    try:
        form = PreferencesForm.model_validate(raw)
    except ValidationError as exc:
        for error in exc.errors():
            key = str(error["loc"][0]) if error["loc"] else "form"
            ctx_error = (error.get("ctx") or {}).get("error")
            if error["type"] == "extra_forbidden":
                errors.setdefault("form", f'The form sent an unknown field "{key}".')
            elif error["type"] == "literal_error":
                errors.setdefault(key, f'"{error["input"]}" is not one of the choices.')
            else:
                errors.setdefault(key, str(ctx_error) if ctx_error else error["msg"])
        return None, errors
    known = set(known_themes)
    if not form.themes:
        errors["themes"] = "Choose at least one theme, or unsubscribe below."
    for key in LIST_FIELDS:
        unknown = [t for t in getattr(form, key) if t not in known]
        if unknown:
            errors[key] = f'"{unknown[0]}" is not a theme of this digest.'
    if form.frequency == "custom":
        if not form.cron.strip():
            errors["cron"] = (
                'Enter a cron expression, e.g. "0 18 * * 1-5", or pick daily or weekly.'
            )
        else:
            try:
                cadence_trigger(form.cron, ZoneInfo("UTC"))
            except ValueError as exc:
                errors["cron"] = str(exc)
    return (None, errors) if errors else (form, {})


def apply_preferences(
    subscriber: Subscriber, form: PreferencesForm, theme_order: Sequence[str]
) -> Subscriber:
    """The subscriber with the form's choices; themes kept in the config's order."""
    return replace(
        subscriber,
        themes=tuple(t for t in theme_order if t in form.themes),
        cadence=form.cadence,
        timezone=form.timezone,
        alerts=Alerts(
            tuple(t for t in theme_order if t in form.alert_themes),
            subscriber.alerts.threshold,
            subscriber.alerts.daily_cap,
        ),
    )


def time_zones() -> tuple[str, ...]:
    """IANA zone names offered in the form: "Area/City" names, plus UTC."""
    names = {z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV"))}
    return ("UTC", *sorted(names))
