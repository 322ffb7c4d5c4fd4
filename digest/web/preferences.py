"""The preference center and one-click unsubscribe, reached through signed links in emails.

The token in the URL says whose preferences these are; nothing here needs the admin
password, and nothing here shows anyone but the token's own subscriber.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from digest.config import AlertSettings
from digest.models import Subscriber
from digest.web.context import Web, checked_form, url, web_of
from digest.web.csrf import FIELD
from digest.web.forms import (
    FIELD_LABELS,
    QUIET_DEFAULT,
    SCORE_CHOICES,
    bounds,
    parse_preferences,
    score_text,
    threshold_choices,
)
from digest.web.present import DAY_NAMES, split_cadence
from digest.web.preview import next_at

NOTICES = {
    "preferences": "Your preferences are saved. Your next digest will follow them.",
    "paused": "Your digests are paused. Nothing will be sent until you resume them.",
    "resumed": "Your digests are on again.",
}


def current_values(sub: Subscriber) -> dict[str, Any]:
    """The form's fields as the subscriber's stored preferences fill them."""
    frequency, day, time = split_cadence(sub.cadence)
    start, _, end = (sub.quiet_hours or "").partition("-")
    return {
        "themes": list(sub.themes),
        "frequency": frequency,
        "day": day or "mon",
        "time": time or "07:00",
        "cron": sub.cadence if frequency == "custom" else "",
        "timezone": sub.timezone,
        "alert_themes": list(sub.alerts.themes),
        "max_items": str(sub.max_items),
        "min_score": score_text(sub.min_score),
        "quiet": "on" if sub.quiet_hours else "off",
        "quiet_start": start or QUIET_DEFAULT[0],
        "quiet_end": end or QUIET_DEFAULT[1],
        "alert_threshold": score_text(sub.alerts.threshold),
        "alert_daily_cap": str(sub.alerts.daily_cap),
        "alert_repeat_in_digest": "on" if sub.alerts.repeat_in_digest else "off",
    }


def submitted_values(data: Mapping[str, Sequence[str]], sub: Subscriber) -> dict[str, Any]:
    """The form's fields as the reader sent them, to show again beside the errors."""
    values = current_values(sub)
    for key in values:
        sent = list(data.get(key, []))
        if key in ("themes", "alert_themes"):
            values[key] = sent
        elif sent:
            values[key] = sent[-1]
    return values


def score_choices(sub: Subscriber) -> list[tuple[str, str]]:
    """The "Which items" options; a stored score that is none of them stays on offer."""
    choices = list(SCORE_CHOICES)
    mine = score_text(sub.min_score)
    if mine not in {value for value, _ in choices}:
        choices.append((mine, f"Keep my current setting (score {mine} or more)"))
    return sorted(choices, key=lambda choice: float(choice[0]))


def _page(
    request: Request,
    web: Web,
    sub: Subscriber,
    token: str,
    values: Mapping[str, Any],
    errors: Mapping[str, str],
    *,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    zones = web.zones if values["timezone"] in web.zones else (values["timezone"], *web.zones)
    now = web.app.clock()
    due = next_at(sub, now) if sub.status == "active" else None
    return web.page(
        request,
        "web/preferences.html.j2",
        {
            "sub": sub,
            "values": values,
            "errors": errors,
            "labels": FIELD_LABELS,
            "notice": notice,
            "themes": web.app.settings.themes,
            "zones": zones,
            "days": DAY_NAMES,
            "max_items_bounds": bounds("max_items"),
            "score_choices": score_choices(sub),
            "threshold_choices": threshold_choices(sub.alerts.threshold),
            "daily_cap_bounds": bounds("daily_cap", AlertSettings),
            "next_at": due,
            "now": now,
            "action": url(request, "preferences", token=token),
            "status_action": url(request, "preferences_status", token=token),
            "unsubscribe_action": url(request, "unsubscribe", token=token),
        },
        status=status,
    )


async def preferences(request: Request) -> Response:
    """Show (GET) or save (POST) the reader's themes, cadence, time zone, digest size,
    minimum score, alerts (themes, threshold, daily cap, repeat in digest) and quiet hours."""
    web = web_of(request)
    token = request.path_params["token"]
    sub = await run_in_threadpool(web.subscriber_for, token)
    if request.method != "POST":
        notice = NOTICES.get(request.query_params.get("saved", ""))
        return _page(request, web, sub, token, current_values(sub), {}, notice=notice)
    form = await checked_form(request)
    data: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if key != FIELD and isinstance(value, str):
            data.setdefault(key, []).append(value)
    changed, errors = parse_preferences(data, sub, list(web.app.settings.themes))
    if changed is None:
        values = submitted_values(data, sub)
        return _page(request, web, sub, token, values, errors, status=400)
    await run_in_threadpool(
        web.app.store.update_subscriber, sub.id, changed, now=web.app.clock(), origin="web"
    )
    return RedirectResponse(
        url(request, "preferences", {"saved": "preferences"}, token=token), status_code=303
    )


async def preferences_status(request: Request) -> Response:
    """Pause or resume digests; resuming after an unsubscribe is the owner's own choice."""
    web = web_of(request)
    token = request.path_params["token"]
    sub = await run_in_threadpool(web.subscriber_for, token)
    form = await checked_form(request)
    action = form.get("action")
    store, now = web.app.store, web.app.clock()

    def pause() -> None:
        # Marking the row as the reader's own keeps a later config sync from resuming it.
        store.update_subscriber(sub.id, sub, now=now, origin="web")
        store.set_status(sub.id, "paused", now=now, by_owner=True)

    def resume() -> None:
        store.set_status(sub.id, "active", now=now, by_owner=True)

    if action == "pause":
        await run_in_threadpool(pause)
        saved = "paused"
    elif action == "resume":
        await run_in_threadpool(resume)
        saved = "resumed"
    else:
        raise HTTPException(400, detail='action must be "pause" or "resume".')
    return RedirectResponse(url(request, "preferences", {"saved": saved}, token=token), 303)


async def _one_click_field(request: Request) -> str | None:
    form = await request.form(max_files=0, max_fields=20)
    value = form.get("List-Unsubscribe")
    if value is None and "content-type" not in request.headers:
        # RFC 8058 names the form types, but a sender that leaves the type out still means it.
        value = parse_qs((await request.body()).decode("utf-8", "replace")).get(
            "List-Unsubscribe", [None]
        )[-1]
    return value if isinstance(value, str) else None


async def unsubscribe(request: Request) -> Response:
    """RFC 8058: POST "List-Unsubscribe=One-Click" unsubscribes; GET only asks to confirm.

    Mail scanners follow links in emails, so a GET must change nothing. The POST needs no
    CSRF token: mail providers send it without cookies, and the signed token in the URL
    is its authentication.
    """
    web = web_of(request)
    token = request.path_params["token"]
    sub = await run_in_threadpool(web.subscriber_for, token)
    context = {
        "sub": sub,
        "action": url(request, "unsubscribe", token=token),
        "preferences_url": url(request, "preferences", token=token),
    }
    if request.method != "POST":
        return web.page(request, "web/unsubscribe.html.j2", context)
    if await _one_click_field(request) != "One-Click":
        raise HTTPException(
            400, detail='An unsubscribe request must send "List-Unsubscribe=One-Click".'
        )
    if sub.status != "unsubscribed":
        sub = await run_in_threadpool(
            web.app.store.set_status, sub.id, "unsubscribed", now=web.app.clock()
        )
    return web.page(request, "web/unsubscribed.html.j2", {**context, "sub": sub})


def routes() -> list[Route]:
    return [
        Route("/preferences/{token}", preferences, methods=["GET", "POST"], name="preferences"),
        Route(
            "/preferences/{token}/status",
            preferences_status,
            methods=["POST"],
            name="preferences_status",
        ),
        Route("/unsubscribe/{token}", unsubscribe, methods=["GET", "POST"], name="unsubscribe"),
    ]
