"""Alerts: new items at or above a reader's alert threshold go out at once.

After each ingest, every reader with alerts gets one short message with every new item of
their alert themes that scores at or above their alert threshold (one message per run, not
one per item). Alerts look at items first seen since they last looked:

- in the reader's quiet hours the items wait, and go out when the quiet hours end;
- past the reader's daily cap (alert emails per local day) they are not alerted at all,
  and simply come in the next digest;
- an alerted item is not repeated in the next digest unless `repeat_in_digest` is set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from digest.app import App
from digest.cadence import next_digest_time
from digest.compose import alert_selection, compose
from digest.links import signer_for
from digest.models import Digest, Subscriber
from digest.outgoing import enqueue, stamp
from digest.render import Renderer


@dataclass(slots=True)
class AlertResult:
    queued: list[Digest] = field(default_factory=list)
    held: list[tuple[Subscriber, datetime]] = field(default_factory=list)
    capped: list[Subscriber] = field(default_factory=list)


def quiet_until(quiet_hours: str | None, zone: str, now: datetime) -> datetime | None:
    """When the quiet hours around `now` end (UTC); None if `now` is outside them.

    Quiet hours are local "HH:MM-HH:MM" and may run over midnight ("22:00-07:00").
    """
    if not quiet_hours:
        return None
    start, _, end = quiet_hours.partition("-")
    begins, ends = time.fromisoformat(start), time.fromisoformat(end)
    tz = ZoneInfo(zone)
    local = now.astimezone(tz).time()
    inside = begins <= local < ends if begins < ends else (local >= begins or local < ends)
    if not inside:
        return None
    return next_digest_time(f"daily {end}", tz, now=now)


def local_day_start(zone: str, now: datetime) -> datetime:
    """Midnight of the reader's current day, as an aware time."""
    local = now.astimezone(ZoneInfo(zone))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def send_alerts(
    app: App,
    now: datetime,
    *,
    renderer: Renderer | None = None,
    held_only: bool = False,
    check: Callable[[], None] | None = None,
) -> AlertResult:
    """Compose and queue each alert reader's new items; `held_only` for ended quiet hours.

    `check` is called between readers (the scheduler renews its lease there and stops
    when asked to).
    """
    result = AlertResult()
    store = app.store
    ready: list[Subscriber] = []
    for subscriber in store.alert_subscribers(now, held_only=held_only):
        if subscriber.alerts_checked_at is None:
            # Alerts start from now: what was stored before is for the digest.
            store.record_alert_check(subscriber.id, checked_at=now, held_until=None)
        else:
            ready.append(subscriber)
    if not ready:
        return result
    renderer = renderer or Renderer(app.settings)
    signer = signer_for(app.settings)
    sent_today = store.alert_times([s.id for s in ready], now - timedelta(days=1))
    digests = compose(
        store,
        app.settings,
        [alert_selection(s, app.settings, s.alerts_checked_at or now, now) for s in ready],
    )
    for subscriber, digest in zip(ready, digests, strict=True):
        if check is not None:
            check()
        if digest.is_empty:
            store.record_alert_check(subscriber.id, checked_at=now, held_until=None)
            continue
        until = quiet_until(subscriber.quiet_hours, subscriber.timezone, now)
        if until is not None:
            store.record_alert_check(subscriber.id, checked_at=None, held_until=until)
            result.held.append((subscriber, until))
            continue
        day_start = local_day_start(subscriber.timezone, now)
        today = [t for t in sent_today.get(subscriber.id, []) if t >= day_start]
        if len(today) >= subscriber.alerts.daily_cap:
            store.record_alert_check(subscriber.id, checked_at=now, held_until=None)
            result.capped.append(subscriber)
            continue
        key = f"alert:{subscriber.id}:{stamp(digest.window_start)}"
        if enqueue(app, renderer, digest, key=key, now=now, signer=signer):
            result.queued.append(digest)
        store.record_alert_check(subscriber.id, checked_at=now, held_until=None)
    return result
