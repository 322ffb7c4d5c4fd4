"""Tagging stored items: new items on ingest, and re-tagging when themes change."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from digest.config import ThemeSettings
from digest.models import Item, ThemeMatch
from digest.store import Store
from digest.tagging import Tagger, theme_fingerprints

BATCH = 500


def tag_items(
    store: Store, tagger: Tagger, items: Iterable[Item], *, only: Sequence[str] | None = None
) -> int:
    """Tag items and store the results (for the `only` themes, or all); returns how many."""
    count = 0
    batch: dict[int, list[ThemeMatch]] = {}
    for item in items:
        batch[item.id] = tagger.tag(item.title, item.text)
        count += 1
        if len(batch) >= BATCH:
            store.save_tags(batch, only=only)
            batch = {}
    store.save_tags(batch, only=only)
    return count


def retag(
    store: Store,
    themes: Mapping[str, ThemeSettings],
    tagger: Tagger,
    now: datetime,
    *,
    force: bool = False,
    progress: Callable[[int], None] | None = None,
) -> list[str]:
    """Re-tag the stored items for themes whose definition changed (all with `force`).

    Returns the themes that were re-tagged.
    """
    current = theme_fingerprints(themes)
    stored = store.theme_fingerprints()
    changed = [t for t, fp in current.items() if force or stored.get(t) != fp]
    if not changed:
        return []
    if store.count_items():

        def counted(items: Iterable[Item]) -> Iterable[Item]:
            for n, item in enumerate(items, 1):
                if progress is not None and n % BATCH == 0:
                    progress(BATCH)
                yield item

        tag_items(store, tagger, counted(store.iter_items()), only=changed)
    store.set_theme_fingerprints(
        {t: current[t] for t in changed}, {t: themes[t].threshold for t in changed}, now
    )
    return changed


@dataclass(frozen=True, slots=True)
class TagChange:
    """A stored item that re-tagging would put into a theme, or take out of it."""

    item_id: int
    title: str
    theme: str
    before: float  # the stored score (0 when the item has no stored tag for the theme)
    after: float
    gained: bool


@dataclass(frozen=True, slots=True)
class TagDiff:
    """What re-tagging the archive with the current themes would change."""

    themes: tuple[str, ...]
    changed: tuple[str, ...]  # themes whose definition differs from the one stored items used
    items: int
    changes: tuple[TagChange, ...]

    def gained(self, theme: str) -> list[TagChange]:
        return [c for c in self.changes if c.theme == theme and c.gained]

    def lost(self, theme: str) -> list[TagChange]:
        return [c for c in self.changes if c.theme == theme and not c.gained]


def diff_tags(
    store: Store,
    themes: Mapping[str, ThemeSettings],
    tagger: Tagger,
    *,
    only: Sequence[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> TagDiff:
    """Tag every stored item with the current themes and compare with its stored tags,
    storing nothing: which items would gain or lose each theme (a dry run of a re-tag)."""
    wanted = [t for t in themes if only is None or t in only]
    current = theme_fingerprints(themes)
    stored_fingerprints = store.theme_fingerprints()
    judged_by = store.theme_thresholds()  # the thresholds the stored scores were judged by
    changed = tuple(t for t in wanted if stored_fingerprints.get(t) != current[t])
    changes: list[TagChange] = []
    count = 0
    batch: list[Item] = []

    def compare(items: list[Item]) -> None:
        stored = store.tags_for([item.id for item in items])
        for item in items:
            before = {m.theme: m.score for m in stored.get(item.id, [])}
            after = {m.theme: m.score for m in tagger.tag(item.title, item.text)}
            for theme in wanted:
                threshold = tagger.threshold(theme)
                old, new = before.get(theme, 0.0), after.get(theme, 0.0)
                if (old >= judged_by.get(theme, threshold)) != (new >= threshold):
                    changes.append(
                        TagChange(item.id, item.title, theme, old, new, new >= threshold)
                    )
        if progress is not None:
            progress(len(items))

    for item in store.iter_items():
        batch.append(item)
        count += 1
        if len(batch) >= BATCH:
            compare(batch)
            batch = []
    if batch:
        compare(batch)
    return TagDiff(tuple(wanted), changed, count, tuple(changes))
