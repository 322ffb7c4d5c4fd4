"""Compose: what one subscriber receives for one window, ranked and grouped by theme."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from digest.config import Settings, ThemeSettings
from digest.models import DeliveryKind, Digest, DigestEntry, DigestSection, Subscriber
from digest.store import Store
from digest.store.items import Candidate


def digest_window(subscriber: Subscriber, now: datetime, first_digest_days: int) -> datetime:
    """Where a subscriber's next window starts: their last digest, else N days ago."""
    return subscriber.last_digest_at or now - timedelta(days=first_digest_days)


def build_digest(
    candidates: Sequence[Candidate],
    subscriber: Subscriber,
    themes: Mapping[str, ThemeSettings],
    *,
    title: str,
    window_start: datetime,
    window_end: datetime,
    kind: DeliveryKind = "digest",
) -> Digest:
    """Rank candidates, show each story once, group by theme in config order, cap the count.

    An item tagged with several of the subscriber's themes goes in the one it scores
    highest in. Items that report the same story (same story id) become one entry whose
    "also reported by" names the other sources.
    """
    best: dict[int, Candidate] = {}
    for c in candidates:
        held = best.get(c.item.id)
        if held is None or c.score > held.score:
            best[c.item.id] = c
    stories: dict[int, list[Candidate]] = {}
    for c in best.values():
        stories.setdefault(c.item.story_id or c.item.id, []).append(c)
    leads: list[DigestEntry] = []
    for members in stories.values():
        members.sort(key=_rank)
        lead = members[0]
        others = tuple(
            dict.fromkeys(
                m.source_title for m in members[1:] if m.source_title != lead.source_title
            )
        )
        leads.append(DigestEntry(lead.item, lead.source_title, lead.score, lead.evidence, others))
    leads.sort(key=lambda e: (-e.score, -e.item.when.timestamp(), e.item.id))
    kept = leads[: subscriber.max_items]
    theme_of = {e.item.id: best[e.item.id].theme for e in kept}
    sections = tuple(
        DigestSection(
            theme_id,
            themes[theme_id].label,
            tuple(e for e in kept if theme_of[e.item.id] == theme_id),
        )
        for theme_id in themes
        if theme_id in subscriber.themes and any(theme_of[e.item.id] == theme_id for e in kept)
    )
    return Digest(
        title=title,
        kind=kind,
        subscriber=subscriber,
        window_start=window_start,
        window_end=window_end,
        sections=sections,
        omitted=len(leads) - len(kept),
    )


def _rank(c: Candidate) -> tuple[float, float, int]:
    return (-c.score, -c.item.when.timestamp(), c.item.id)


def compose_digest(
    store: Store, settings: Settings, subscriber: Subscriber, now: datetime
) -> Digest:
    """The digest a subscriber would receive now: their themes, since their last digest."""
    start = digest_window(subscriber, now, settings.digest.first_digest_days)
    min_scores = {
        theme: max(settings.themes[theme].threshold, subscriber.min_score)
        for theme in subscriber.themes
        if theme in settings.themes
    }
    candidates = store.digest_candidates(subscriber.id, min_scores, start, now)
    return build_digest(
        candidates,
        subscriber,
        settings.themes,
        title=settings.digest.title,
        window_start=start,
        window_end=now,
    )
