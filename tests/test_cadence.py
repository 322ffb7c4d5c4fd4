"""Cadences: the next digest slot in the reader's zone, across DST in several zones."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from digest.cadence import next_digest_time
from tests.scenario import at


def slots_through(cadence: str, zone: str, start: datetime, hours: int) -> list[datetime]:
    """The digests a scheduler checking every 5 minutes would send, as local times."""
    tz = ZoneInfo(zone)
    now = start
    slot = next_digest_time(cadence, zone, now=now)
    sent = []
    while now <= start + timedelta(hours=hours):
        if slot <= now:
            sent.append(slot.astimezone(tz))
            slot = next_digest_time(cadence, zone, now=now, previous=slot)
        now += timedelta(minutes=5)
    return sent


def local(moments: list[datetime]) -> list[str]:
    return [f"{m:%m-%d %H:%M%z}" for m in moments]


@pytest.mark.parametrize(
    ("zone", "day", "expected"),
    [
        # 02:30 does not exist on these days: the digest comes once, at 03:30 (the same instant).
        ("Europe/Berlin", "2026-03-28", ["03-29 03:30+0200", "03-30 02:30+0200"]),
        ("America/New_York", "2026-03-07", ["03-08 03:30-0400", "03-09 02:30-0400"]),
        ("Australia/Sydney", "2026-10-03", ["10-04 03:30+1100", "10-05 02:30+1100"]),
    ],
)
def test_a_daily_time_skipped_by_dst_is_sent_once_that_day(
    zone: str, day: str, expected: list[str]
) -> None:
    start = at(f"{day}T12:00").replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
    assert local(slots_through("daily 02:30", zone, start, 48)) == expected


@pytest.mark.parametrize(
    ("zone", "day", "expected"),
    [
        # 02:30 happens twice on these days: the digest goes out the first time only.
        ("Europe/Berlin", "2026-10-24", ["10-25 02:30+0200", "10-26 02:30+0100"]),
        ("Australia/Sydney", "2026-04-04", ["04-05 02:30+1100", "04-06 02:30+1000"]),
        ("America/New_York", "2026-10-31", ["11-01 01:30-0400", "11-02 01:30-0500"]),
    ],
)
def test_a_daily_time_repeated_by_dst_is_sent_once(
    zone: str, day: str, expected: list[str]
) -> None:
    start = at(f"{day}T12:00").replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
    cadence = "daily 01:30" if zone == "America/New_York" else "daily 02:30"
    assert local(slots_through(cadence, zone, start, 48)) == expected


def test_a_cron_cadence_never_fires_twice_in_a_repeated_hour() -> None:
    start = at("2026-10-24T22:00")  # Berlin, the night the clocks go back
    sent = slots_through("*/30 * * * *", "Europe/Berlin", start, 6)
    walls = [m.replace(tzinfo=None) for m in sent]
    assert walls == sorted(set(walls))  # strictly later on the wall clock each time
    assert "10-25 02:30+0200" in local(sent) and "10-25 02:30+0100" not in local(sent)


def test_lord_howe_half_hour_shift_sends_once_a_day() -> None:
    start = at("2026-04-04T12:00").replace(tzinfo=ZoneInfo("Australia/Lord_Howe"))
    sent = slots_through("daily 01:45", "Australia/Lord_Howe", start.astimezone(UTC), 72)
    assert Counter(m.date().isoformat() for m in sent) == {
        "2026-04-05": 1,
        "2026-04-06": 1,
        "2026-04-07": 1,
    }


def test_weekly_and_cron_cadences_fire_in_the_readers_zone() -> None:
    now = at("2026-11-22T12:00")  # a Sunday
    assert next_digest_time("weekly mon 08:30", "America/New_York", now=now) == at(
        "2026-11-23T13:30"
    )
    assert next_digest_time("0 18 * * 1-5", "Europe/London", now=now) == at("2026-11-23T18:00")


def test_the_next_slot_is_after_now_and_after_the_previous_slot() -> None:
    previous = at("2026-11-22T07:00")
    assert next_digest_time("daily 07:00", "UTC", now=previous, previous=previous) == at(
        "2026-11-23T07:00"
    )
    # Four days late: the next slot is the first one after now, not one per missed day.
    late = at("2026-11-26T12:00")
    assert next_digest_time("daily 07:00", "UTC", now=late, previous=previous) == at(
        "2026-11-27T07:00"
    )
