"""Tagging: each item gets a score in [0, 1] per theme, with the evidence behind it.

Themes come from config.toml. `build_tagger(themes)` returns the tagger that the whole
pipeline uses; `theme_fingerprints(themes)` tells which themes changed since items were
last tagged, so only those are re-tagged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Protocol

from digest.config import ThemeSettings
from digest.models import ThemeMatch
from digest.tagging.matcher import RuleTagger

# Bump when the matching rules change in a way that moves scores, so stored tags refresh.
TAGGER_VERSION = "2"


class Tagger(Protocol):
    """Scores text against every configured theme."""

    def tag(self, title: str, text: str) -> list[ThemeMatch]:
        """Every theme with a score above zero, with its evidence."""
        ...

    def threshold(self, theme: str) -> float:
        """The score at which an item counts as being in the theme."""
        ...


def build_tagger(themes: Mapping[str, ThemeSettings]) -> Tagger:
    """Compile the configured themes into the tagger the pipeline uses."""
    return RuleTagger(themes)


def explain(tagger: Tagger, themes: Sequence[str], title: str, text: str) -> list[ThemeMatch]:
    """Every theme's match, zero scores included, with the exclusions when the tagger can
    tell them (`ThemeMatch.penalties`)."""
    if isinstance(tagger, RuleTagger):
        return tagger.explain(title, text)
    found = {m.theme: m for m in tagger.tag(title, text)}
    return [found.get(theme, ThemeMatch(theme, 0.0)) for theme in themes]


def theme_fingerprints(themes: Mapping[str, ThemeSettings]) -> dict[str, str]:
    """A short hash per theme of everything that decides its scores."""
    return {
        theme_id: hashlib.sha256(
            f"{TAGGER_VERSION}\n{theme.model_dump_json(exclude={'label', 'description'})}".encode()
        ).hexdigest()[:16]
        for theme_id, theme in themes.items()
    }


__all__ = ["Tagger", "build_tagger", "explain", "theme_fingerprints", "TAGGER_VERSION"]
