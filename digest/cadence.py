"""Cadences ("daily 07:00", "weekly mon 07:00", or a cron expression) as APScheduler triggers."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAILY = re.compile(r"^daily\s+(\d{1,2}):(\d{2})$", re.IGNORECASE)
_WEEKLY = re.compile(r"^weekly\s+([a-z]+)\s+(\d{1,2}):(\d{2})$", re.IGNORECASE)
EXPECTED = 'expected "daily HH:MM", "weekly DAY HH:MM" or a cron expression'


def cadence_trigger(cadence: str, timezone: tzinfo) -> CronTrigger:
    """Return the CronTrigger for a cadence in a time zone; raise ValueError if it is not one."""
    text = " ".join(cadence.split())
    if match := _DAILY.match(text):
        hour, minute = _clock(match.group(1), match.group(2), cadence)
        return CronTrigger(hour=hour, minute=minute, timezone=timezone)
    if match := _WEEKLY.match(text):
        day = DAYS_FULL.get(match.group(1).lower())
        if day is None:
            raise ValueError(
                f'"{cadence}" has no day of the week; expected one of {", ".join(DAYS)}'
            )
        hour, minute = _clock(match.group(2), match.group(3), cadence)
        return CronTrigger(day_of_week=day, hour=hour, minute=minute, timezone=timezone)
    if len(text.split()) == 5 and not text.split()[0].isalpha():
        try:
            minutes, hours, days, months, weekdays = text.split()
            return CronTrigger(
                minute=minutes,
                hour=hours,
                day=days,
                month=months,
                day_of_week=_cron_weekdays(weekdays),
                timezone=timezone,
            )
        except ValueError as exc:
            raise ValueError(f'"{cadence}" is not a valid cron expression ({exc})') from None
    raise ValueError(f'"{cadence}" is not a cadence; {EXPECTED}')


DAYS_FULL = {
    "monday": "mon",
    "tuesday": "tue",
    "wednesday": "wed",
    "thursday": "thu",
    "friday": "fri",
    "saturday": "sat",
    "sunday": "sun",
    **{d: d for d in DAYS},
}


_CRON_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _cron_weekdays(field: str) -> str:
    """Translate cron's weekday numbers (0 or 7 = Sunday) to names.

    APScheduler 3 numbers weekdays from Monday = 0, so "1-5" would silently mean Tue-Sat.
    """
    parts = []
    for part in field.split(","):
        days, _, step = part.partition("/")
        names = "-".join(
            _CRON_DAY_NAMES[int(d)] if d.isdigit() and int(d) <= 7 else d for d in days.split("-")
        )
        parts.append(f"{names}/{step}" if step else names)
    return ",".join(parts)


def _clock(hour: str, minute: str, cadence: str) -> tuple[int, int]:
    h, m = int(hour), int(minute)
    if not (0 <= h <= 23 and 0 <= m <= 59):
        raise ValueError(
            f'"{cadence}" has no valid time of day; expected HH:MM from 00:00 to 23:59'
        )
    return h, m


def next_run(trigger: CronTrigger, after: datetime) -> datetime:
    """The first fire time of `trigger` strictly after `after` (an aware datetime)."""
    # Step in UTC: wall-clock arithmetic on an aware local time goes wrong in a repeated
    # hour (02:30 fold=1 plus one second is still before 02:30 fold=1 in APScheduler's eyes).
    # Cron fire times fall on whole seconds, so one second later is "strictly after".
    start = after.astimezone(UTC) + timedelta(seconds=1)
    fire: datetime | None = trigger.get_next_fire_time(None, start)
    if fire is None:  # a cron expression can name a date that never comes (Feb 30)
        raise ValueError("this cadence never fires again")
    return fire


def next_digest_time(
    cadence: str, zone: str | tzinfo, *, now: datetime, previous: datetime | None = None
) -> datetime:
    """The next digest slot (in UTC) after `now` and after the `previous` slot.

    DST is handled the way a reader expects: a time that a spring-forward skips fires once,
    an hour later; a time that a fall-back repeats fires only the first time, because a
    slot must be later than the previous one on the local wall clock too.
    """
    tz = ZoneInfo(zone) if isinstance(zone, str) else zone
    trigger = cadence_trigger(cadence, tz)
    after = now if previous is None else max(now, previous)
    last_wall = None if previous is None else _wall(previous, tz)
    for _ in range(10_000):  # a repeated hour holds at most a few dozen cron slots
        fire = next_run(trigger, after).astimezone(UTC)
        if last_wall is None or _wall(fire, tz) > last_wall:
            return fire
        after = fire
    raise ValueError(f'"{cadence}" finds no slot after {after:%Y-%m-%d %H:%M} UTC')


def _wall(moment: datetime, tz: tzinfo) -> datetime:
    """The local wall-clock reading of an instant, without zone or fold."""
    return moment.astimezone(tz).replace(tzinfo=None, fold=0)
