"""Tagging stored items: new items on ingest, and re-tagging when themes change."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
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
    store.set_theme_fingerprints({t: current[t] for t in changed}, now)
    return changed
