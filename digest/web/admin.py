"""The pages for whoever runs digest: subscribers, digest previews, items and sources.

They answer only to this computer, or to anyone with the admin password (see guard.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from digest.errors import NotFoundError
from digest.ingest import configured_sources, refresh_source
from digest.models import Item, Subscriber, ThemeMatch
from digest.sources.fetch import make_client
from digest.store.web import DeliverySummary
from digest.web import present
from digest.web.context import Web, checked_form, url, web_of
from digest.web.preview import BadTime, build_preview, next_at, parse_at

# The email's HTML runs in a sandbox with no scripts, no forms, no network: only its own
# inline styles and inline images.
EMAIL_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
    "sandbox; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)
ITEM_LIMITS = (50, 100, 200, 500)


@dataclass(frozen=True, slots=True)
class SubscriberRow:
    subscriber: Subscriber
    themes: list[str]
    next_at: datetime | None
    last: DeliverySummary | None


def home(request: Request) -> Response:
    """Every subscriber: themes, cadence, next digest in their time, last delivery."""
    web = web_of(request)
    store = web.app.store
    now = web.app.clock()
    last = store.last_deliveries()
    rows = [
        SubscriberRow(
            sub,
            web.theme_labels(sub.themes),
            next_at(sub, now) if sub.status == "active" else None,
            last.get(sub.id),
        )
        for sub in store.list_subscribers()
    ]
    sources = store.list_sources()
    return web.page(
        request,
        "web/home.html.j2",
        {
            "rows": rows,
            "now": now,
            "item_count": store.count_items(),
            "source_count": len(sources),
            "failing": [s for s in sources if s.error_count],
            "outbox": store.count_messages(),
        },
    )


def _subscriber(web: Web, request: Request) -> Subscriber:
    return web.app.store.get_subscriber(int(request.path_params["subscriber_id"]))


def _at(request: Request, subscriber: Subscriber) -> datetime | None:
    value = request.query_params.get("at", "").strip()
    if not value:
        return None
    try:
        return parse_at(value, subscriber.timezone)
    except BadTime as exc:
        raise HTTPException(400, detail=str(exc)) from None


def subscriber_page(request: Request) -> Response:
    """A subscriber's next digest as it would be sent: headers, HTML (framed) and text."""
    web = web_of(request)
    sub = _subscriber(web, request)
    preview = build_preview(web, sub, _at(request, sub))
    token = web.signer.token(sub.id, sub.email, now=web.app.clock())
    return web.page(
        request,
        "web/subscriber.html.j2",
        {
            "sub": sub,
            "themes": web.theme_labels(sub.themes),
            "alert_themes": web.theme_labels(sub.alerts.themes),
            "preview": preview,
            "send_empty": web.app.settings.digest.send_empty,
            "email_src": url(
                request, "subscriber_email", {"at": present.iso(preview.at)}, subscriber_id=sub.id
            ),
            "at_value": present.form_time(preview.at, sub.timezone),
            "preferences_url": url(request, "preferences", token=token),
            "unsubscribe_url": url(request, "unsubscribe", token=token),
            "deliveries": web.app.store.deliveries_for(sub.id),
        },
    )


def subscriber_email(request: Request) -> Response:
    """The HTML part of a subscriber's next digest, alone, under a sandboxing CSP."""
    web = web_of(request)
    sub = _subscriber(web, request)
    preview = build_preview(web, sub, _at(request, sub))
    return HTMLResponse(
        preview.rendered.html,
        headers={"content-security-policy": EMAIL_CSP, "x-frame-options": "SAMEORIGIN"},
    )


@dataclass(frozen=True, slots=True)
class TagView:
    theme: str
    label: str
    score: float
    threshold: float
    snippets: list[tuple[Markup, list[str]]]

    @property
    def tagged(self) -> bool:
        return self.score >= self.threshold


@dataclass(frozen=True, slots=True)
class ItemView:
    item: Item
    source_title: str
    link: str | None
    excerpt: str
    tags: list[TagView] = field(default_factory=list)


def _tag_view(web: Web, match: ThemeMatch) -> TagView:
    theme = web.app.settings.themes.get(match.theme)
    phrases: dict[str, list[str]] = {}
    for evidence in match.evidence:
        phrases.setdefault(evidence.snippet, []).append(evidence.phrase)
    return TagView(
        match.theme,
        theme.label if theme else match.theme,
        match.score,
        theme.threshold if theme else 1.0,
        [(present.highlight(snippet, found), found) for snippet, found in phrases.items()],
    )


def items_page(request: Request) -> Response:
    """Stored items, newest first, by theme and source, with scores and their evidence."""
    web = web_of(request)
    store = web.app.store
    themes = web.app.settings.themes
    sources = store.list_sources(configured_only=False)
    titles = {s.id: s.title or s.id for s in sources}
    theme = request.query_params.get("theme") or None
    source = request.query_params.get("source") or None
    if theme is not None and theme not in themes:
        raise HTTPException(400, detail=f'There is no theme "{theme}".')
    if source is not None and source not in titles:
        raise HTTPException(400, detail=f'There is no source "{source}".')
    try:
        limit = int(request.query_params.get("limit", ITEM_LIMITS[0]))
    except ValueError:
        raise HTTPException(400, detail="limit must be a whole number.") from None
    limit = max(1, min(limit, ITEM_LIMITS[-1]))
    found = store.list_items(theme=theme, source_id=source, limit=limit)
    views = [
        ItemView(
            item,
            titles.get(item.source_id, item.source_id),
            present.href(item.url),
            present.excerpt(item.summary_html, item.text),
            sorted(
                (_tag_view(web, m) for m in matches),
                key=lambda t: (t.theme != theme, -t.score),
            ),
        )
        for item, matches in found
    ]
    more = next((n for n in ITEM_LIMITS if n > limit), None) if len(found) == limit else None
    return web.page(
        request,
        "web/items.html.j2",
        {
            "items": views,
            "themes": themes,
            "sources": sources,
            "theme": theme,
            "source": source,
            "more_url": url(request, "items", {"theme": theme, "source": source, "limit": more})
            if more
            else None,
        },
    )


def sources_page(request: Request) -> Response:
    """Each configured source's health: last success, errors, next check."""
    web = web_of(request)
    now = web.app.clock()
    enabled = {s.id for s in configured_sources(web.app.settings, web.app.store) if s.enabled}
    rows = [
        (source, present.source_health(source, now), source.id in enabled)
        for source in web.app.store.list_sources()
    ]
    return web.page(request, "web/sources.html.j2", {"rows": rows, "now": now})


async def refresh(request: Request) -> Response:
    """The "Refresh now" button: read one source now, as `digest ingest` would."""
    web = web_of(request)
    await checked_form(request)
    source_id = request.path_params["source_id"]
    configured = {s.id: s for s in configured_sources(web.app.settings, web.app.store) if s.enabled}
    if source_id not in configured:
        raise NotFoundError(f"No enabled source '{source_id}'.")

    def run() -> None:
        with make_client(web.app.settings.ingest) as client:
            refresh_source(
                web.app.store,
                web.app.settings,
                configured[source_id],
                client=client,
                tagger=web.app.tagger,
                now=web.app.clock(),
            )

    await run_in_threadpool(run)
    return RedirectResponse(url(request, "sources") + f"#source-{source_id}", status_code=303)


def routes() -> list[Route]:
    return [
        Route("/", home, name="home"),
        Route("/subscribers/{subscriber_id:int}", subscriber_page, name="subscriber"),
        Route(
            "/subscribers/{subscriber_id:int}/email.html",
            subscriber_email,
            name="subscriber_email",
        ),
        Route("/items", items_page, name="items"),
        Route("/sources", sources_page, name="sources"),
        Route("/sources/{source_id}/refresh", refresh, methods=["POST"], name="refresh_source"),
    ]
