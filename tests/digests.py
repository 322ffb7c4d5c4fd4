"""Digests built by hand, for render and delivery tests: no store, no tagger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from digest.links import Links
from digest.models import (
    DeliveryKind,
    Digest,
    DigestEntry,
    DigestSection,
    Evidence,
    Item,
    Subscriber,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
LINKS = Links(
    "https://digest.example.org/preferences/TOKEN", "https://digest.example.org/unsubscribe/TOKEN"
)
HOSTILE_TITLE = (
    'Missile <script>alert("x")</script> & "quotes" \'too\' </mj-text></mjml>{{ 7*7 }}{% raw %}'
)
HOSTILE_SUMMARY = (
    '<p>Seoul said <img src=x onerror="alert(1)"> the <a href="javascript:alert(1)">'
    "launch</a> &lt;b&gt; was {{ config }} {% for x in y %} </mj-raw> ]]> <!-- --></p>"
)

LOREM = (
    "Officials said the launch was the third this month and came hours after allied "
    "forces began a joint exercise off the peninsula; analysts expect further tests "
    "before the party congress, and regional capitals called for restraint while "
    "diplomats prepared a statement for the Security Council meeting next week."
)


def subscriber(
    id: int = 7,
    email: str = "analyst@example.org",
    themes: tuple[str, ...] = ("missile_tests", "china_influence"),
    name: str = "Analyst",
    timezone: str = "Asia/Seoul",
) -> Subscriber:
    return Subscriber(
        id=id,
        email=email,
        name=name,
        themes=themes,
        cadence="daily 07:00",
        timezone=timezone,
    )


def item(n: int, *, title: str | None = None, summary: str | None = None, url: str = "") -> Item:
    return Item(
        id=n,
        source_id="peninsula-wire",
        guid=f"guid-{n}",
        url=url or f"https://news.example.org/story/{n}?a=1&b=2",
        title=title if title is not None else f"North Korea test-fires missile number {n}",
        summary_html=summary if summary is not None else f"<p>{LOREM}</p>",
        text="",
        published_at=NOW - timedelta(hours=n),
        first_seen_at=NOW - timedelta(hours=n),
    )


def entry(it: Item, *, also: tuple[str, ...] = ()) -> DigestEntry:
    return DigestEntry(
        item=it,
        source_title="Peninsula Wire",
        score=0.9,
        evidence=(
            Evidence("ballistic missile", "…fired a ballistic missile…", 0.5),
            Evidence("Hwasong-18", "…a Hwasong-18…", 0.6),
        ),
        also_reported_by=also,
    )


def make_digest(
    sub: Subscriber | None = None,
    *,
    items_per_theme: tuple[int, ...] = (2, 1),
    kind: DeliveryKind = "digest",
    hostile: bool = False,
    omitted: int = 0,
) -> Digest:
    sub = sub or subscriber()
    labels = {
        "missile_tests": "Missile tests",
        "china_influence": "China's influence",
        "alliance_coordination": "Alliance coordination",
    }
    sections = []
    n = 1
    for theme, count in zip(sub.themes, items_per_theme, strict=False):
        entries = []
        for _ in range(count):
            if hostile and n == 1:
                it = item(
                    n, title=HOSTILE_TITLE, summary=HOSTILE_SUMMARY, url="javascript:alert(1)"
                )
            else:
                it = item(n)
            entries.append(entry(it, also=("Allied Monitor",) if n == 2 else ()))
            n += 1
        if entries:
            sections.append(DigestSection(theme, labels.get(theme, theme), tuple(entries)))
    return Digest(
        title="Korea Watch",
        kind=kind,
        subscriber=sub,
        window_start=NOW - timedelta(days=1),
        window_end=NOW,
        sections=tuple(sections),
        omitted=omitted,
    )
