"""Compose: what one reader receives for one window, ranked and grouped by theme.

For a digest, the window runs from the reader's last delivered digest (or, for a first
digest, `first_digest_days` back) to now; for an alert, from where alerts last looked. The
rules are the same for both:

- only items first seen in the window, tagged with one of the reader's themes at or above
  both the theme's threshold and the reader's minimum score;
- never an item (nor another report of its story) already in a message to that reader;
- ranked by score, then recency; a story reported by several sources appears once, under
  its best-ranked report, with the other sources named;
- grouped by theme in config order (an item goes under the theme it scores highest in);
- at most `max_items`, with a count of what was left out.

Composing many readers at once is how the scheduler works, and it is cheap: readers whose
windows start together share one light query (ids and scores), readers who also follow the
same themes share one ranking, and only the items that will be shown are loaded.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from digest.config import Settings, ThemeSettings
from digest.models import (
    DeliveryKind,
    Digest,
    DigestEntry,
    DigestSection,
    Evidence,
    Item,
    Subscriber,
)
from digest.store import Store
from digest.store.items import Candidate, TagRow

ALL_KINDS = frozenset({"digest", "alert"})


@dataclass(frozen=True, slots=True)
class Selection:
    """What to compose for one reader: themes with their minimum scores, in a window."""

    subscriber: Subscriber
    min_scores: Mapping[str, float]  # theme -> lowest score shown, in config order
    start: datetime
    end: datetime
    kind: DeliveryKind = "digest"
    # Items already in messages of these kinds are not shown again.
    no_repeat: frozenset[str] = ALL_KINDS
    # Only items published (else first seen) after this time; None for no limit.
    published_after: datetime | None = None


def digest_window(subscriber: Subscriber, now: datetime, first_digest_days: int) -> datetime:
    """Where a subscriber's next window starts: their last digest, else N days ago."""
    return subscriber.last_digest_at or now - timedelta(days=first_digest_days)


def digest_selection(subscriber: Subscriber, settings: Settings, now: datetime) -> Selection:
    """A reader's next digest: their themes, since their last delivered digest."""
    return Selection(
        subscriber,
        _min_scores(settings.themes, subscriber.themes, subscriber.min_score),
        digest_window(subscriber, now, settings.digest.first_digest_days),
        now,
        "digest",
        frozenset({"digest"}) if subscriber.alerts.repeat_in_digest else ALL_KINDS,
    )


def alert_selection(
    subscriber: Subscriber, settings: Settings, start: datetime, now: datetime
) -> Selection:
    """A reader's alert: their alert themes at the alert threshold, since `start`, of
    items published in the last [digest] alert_max_age_hours (older news is no alert)."""
    return Selection(
        subscriber,
        _min_scores(settings.themes, subscriber.alerts.themes, subscriber.alerts.threshold),
        start,
        now,
        "alert",
        ALL_KINDS,
        now - timedelta(hours=settings.digest.alert_max_age_hours),
    )


def _min_scores(
    themes: Mapping[str, ThemeSettings], chosen: Iterable[str], floor: float
) -> dict[str, float]:
    wanted = set(chosen)
    return {
        theme: max(settings.threshold, floor)
        for theme, settings in themes.items()
        if theme in wanted
    }


def compose_digest(
    store: Store, settings: Settings, subscriber: Subscriber, now: datetime
) -> Digest:
    """The digest a subscriber would receive now: their themes, since their last digest."""
    return compose(store, settings, [digest_selection(subscriber, settings, now)])[0]


def compose_digests(
    store: Store, settings: Settings, subscribers: Sequence[Subscriber], now: datetime
) -> list[Digest]:
    """Every subscriber's digest as of `now`, in the order given."""
    return compose(store, settings, [digest_selection(s, settings, now) for s in subscribers])


def compose_in_chunks(
    store: Store,
    settings: Settings,
    subscribers: Sequence[Subscriber],
    now: datetime,
    *,
    chunk: int = 500,
) -> Iterator[list[Digest]]:
    """Every subscriber's digest as of `now`, a chunk at a time.

    Readers whose windows start together and who follow the same themes are put in the same
    chunk, so that they share one query and one ranking.
    """
    ordered = sorted(
        subscribers,
        key=lambda s: (
            s.last_digest_at is None,
            s.last_digest_at or now,
            tuple(sorted(s.themes)),
            s.min_score,
            s.id,
        ),
    )
    for start in range(0, len(ordered), chunk):
        yield compose_digests(store, settings, ordered[start : start + chunk], now)


def compose(store: Store, settings: Settings, selections: Sequence[Selection]) -> list[Digest]:
    """Compose every selection, sharing queries and rankings between similar readers."""
    by_window: dict[tuple[datetime, datetime], list[int]] = {}
    for i, selection in enumerate(selections):
        by_window.setdefault((selection.start, selection.end), []).append(i)
    plans: dict[
        tuple[datetime, datetime, tuple[tuple[str, float], ...], datetime | None], _Plan
    ] = {}
    picks: list[_Pick] = [_Pick(None, [], 0)] * len(selections)
    for (start, end), members in by_window.items():
        themes = list(dict.fromkeys(t for i in members for t in selections[i].min_scores))
        if not themes:
            continue
        floor = min(s for i in members for s in selections[i].min_scores.values())
        rows = _by_theme(store.window_tags(themes, floor, start, end))
        # A story can gain an item from another source up to story_window_days after its
        # first: look that far back for what the reader already got of it.
        sent_after = start - timedelta(days=settings.ingest.story_window_days)
        sent = store.sent_since([selections[i].subscriber.id for i in members], sent_after)
        for i in members:
            selection = selections[i]
            after = selection.published_after
            key = (start, end, tuple(selection.min_scores.items()), after)
            plan = plans.get(key)
            if plan is None:
                chosen = rows if after is None else _published_after(rows, after)
                plan = plans[key] = _Plan(_rank(chosen, selection.min_scores))
            excluded = {
                row.story
                for row in sent.get(selection.subscriber.id, ())
                if row.kind in selection.no_repeat
            }
            kept, omitted = plan.pick(excluded, selection.subscriber.max_items)
            # Readers with the same plan, limit and nothing to leave out get the same sections.
            picks[i] = _Pick(
                (id(plan), selection.subscriber.max_items) if not excluded else None, kept, omitted
            )
    shown = {(lead.item_id, lead.theme) for pick in picks for lead in pick.kept}
    items, evidence = store.items_with_evidence(
        [item_id for item_id, _ in shown], list(dict.fromkeys(theme for _, theme in shown))
    )
    titles = store.source_titles() if shown else {}
    entries = _Entries(items, evidence, titles)
    made: dict[tuple[int, int], tuple[DigestSection, ...]] = {}
    digests = []
    for selection, pick in zip(selections, picks, strict=True):
        sections = made.get(pick.shared) if pick.shared is not None else None
        if sections is None:
            sections = _sections(selection.min_scores, pick.kept, entries, settings.themes)
            if pick.shared is not None:
                made[pick.shared] = sections
        digests.append(
            Digest(
                title=settings.digest.title,
                kind=selection.kind,
                subscriber=selection.subscriber,
                window_start=selection.start,
                window_end=selection.end,
                sections=sections,
                omitted=pick.omitted,
            )
        )
    return digests


def _published_after(
    rows: Mapping[str, Sequence[TagRow]], after: datetime
) -> dict[str, list[TagRow]]:
    cutoff = after.timestamp()
    return {theme: [row for row in found if row.when > cutoff] for theme, found in rows.items()}


@dataclass(frozen=True, slots=True)
class _Pick:
    shared: tuple[int, int] | None  # set when other readers may get the very same sections
    kept: list[_Lead]
    omitted: int


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

    The pure form of `compose`, for candidates already in hand.
    """
    rows = [
        TagRow(
            c.item.id,
            c.theme,
            c.score,
            c.item.story_id or c.item.id,
            c.item.source_id,
            c.item.when.timestamp(),
        )
        for c in candidates
    ]
    min_scores = {t: 0.0 for t in themes if t in subscriber.themes}
    kept, omitted = _Plan(_rank(_by_theme(rows), min_scores)).pick(set(), subscriber.max_items)
    entries = _Entries(
        {c.item.id: c.item for c in candidates},
        {(c.item.id, c.theme): c.evidence for c in candidates},
        {c.item.source_id: c.source_title for c in candidates},
    )
    return Digest(
        title=title,
        kind=kind,
        subscriber=subscriber,
        window_start=window_start,
        window_end=window_end,
        sections=_sections(min_scores, kept, entries, themes),
        omitted=omitted,
    )


# -- ranking ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Lead:
    """The report that stands for a story, and the other sources that reported it."""

    story: int
    item_id: int
    theme: str
    score: float
    others: tuple[str, ...]  # source ids, in rank order


def _rank(rows: Mapping[str, Sequence[TagRow]], min_scores: Mapping[str, float]) -> list[_Lead]:
    """One lead per story, best first: by score, then recency, then id.

    `rows` holds a window's tag rows by theme.
    """
    best: dict[int, TagRow] = {}
    for theme, floor in min_scores.items():  # config order: on a tie, the earlier theme wins
        for row in rows.get(theme, ()):
            if row.score < floor:
                continue
            held = best.get(row.item_id)
            # An item goes under the theme it scores highest in.
            if held is None or row.score > held.score:
                best[row.item_id] = row
    stories: dict[int, list[TagRow]] = {}
    for row in best.values():
        stories.setdefault(row.story, []).append(row)
    leads = []
    for story, members in stories.items():
        if len(members) == 1:  # most stories have one report
            lead = members[0]
            leads.append((_rank_key(lead), _Lead(story, lead.item_id, lead.theme, lead.score, ())))
            continue
        members.sort(key=_rank_key)
        lead = members[0]
        others = tuple(
            dict.fromkeys(m.source_id for m in members[1:] if m.source_id != lead.source_id)
        )
        leads.append((_rank_key(lead), _Lead(story, lead.item_id, lead.theme, lead.score, others)))
    leads.sort(key=lambda pair: pair[0])
    return [lead for _, lead in leads]


def _by_theme(rows: Iterable[TagRow]) -> dict[str, list[TagRow]]:
    grouped: dict[str, list[TagRow]] = {}
    for row in rows:
        grouped.setdefault(row.theme, []).append(row)
    return grouped


def _rank_key(row: TagRow) -> tuple[float, float, int]:
    return (-row.score, -row.when, row.item_id)


class _Plan:
    """A ranking shared by every reader with the same window and themes."""

    __slots__ = ("leads", "stories")

    def __init__(self, leads: list[_Lead]) -> None:
        self.leads = leads
        self.stories = {lead.story for lead in leads}

    def pick(self, excluded: set[int], limit: int) -> tuple[list[_Lead], int]:
        """The first `limit` leads whose story is not excluded, and how many more there are."""
        if not excluded:
            kept = self.leads[:limit]
            return kept, len(self.leads) - len(kept)
        kept = []
        for lead in self.leads:
            if len(kept) == limit:
                break
            if lead.story not in excluded:
                kept.append(lead)
        available = len(self.leads) - len(excluded & self.stories)
        return kept, available - len(kept)


# -- assembly --------------------------------------------------------------------------------


class _Entries:
    """Digest entries made once per lead, from the loaded items, evidence and source names."""

    __slots__ = ("items", "evidence", "titles", "made")

    def __init__(
        self,
        items: Mapping[int, Item],
        evidence: Mapping[tuple[int, str], tuple[Evidence, ...]],
        titles: Mapping[str, str],
    ) -> None:
        self.items = items
        self.evidence = evidence
        self.titles = titles
        self.made: dict[int, DigestEntry | None] = {}  # by id(lead): leads live in plans

    def entry(self, lead: _Lead) -> DigestEntry | None:
        if id(lead) in self.made:
            return self.made[id(lead)]
        item = self.items.get(lead.item_id)
        made = None
        if item is not None:  # None only if the item was deleted since it was ranked
            source = self.titles.get(item.source_id, item.source_id)
            others = tuple(
                dict.fromkeys(
                    t for t in (self.titles.get(s, s) for s in lead.others) if t != source
                )
            )
            made = DigestEntry(
                item, source, lead.score, self.evidence.get((item.id, lead.theme), ()), others
            )
        self.made[id(lead)] = made
        return made


def _sections(
    min_scores: Mapping[str, float],
    kept: list[_Lead],
    entries: _Entries,
    themes: Mapping[str, ThemeSettings],
) -> tuple[DigestSection, ...]:
    """The kept leads as entries, grouped by theme in config order."""
    by_theme: dict[str, list[DigestEntry]] = {}
    for lead in kept:
        entry = entries.entry(lead)
        if entry is not None:
            by_theme.setdefault(lead.theme, []).append(entry)
    return tuple(
        DigestSection(theme, themes[theme].label if theme in themes else theme, tuple(found))
        for theme in min_scores
        if (found := by_theme.get(theme))
    )
