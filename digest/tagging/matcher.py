"""A phrase tagger: weighted phrases and patterns per theme, with context and exclusions."""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from digest.config import ThemeSettings
from digest.errors import TaggingError
from digest.models import Evidence, ThemeMatch

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'“‘(])|\n{2,}")
_SNIPPET_CHARS = 240


def phrase_pattern(phrase: str) -> str:
    """A regex for a phrase that tolerates case, hyphens or spaces, and simple inflection."""
    words = re.findall(r"[\w']+", phrase.lower())
    body = r"[\s\-‐–]*".join(re.escape(w) for w in words)
    # "launch" also finds "launches", "launched", "launching" and "launch's".
    return rf"\b{body}(?:s|es|ed|d|ing|'s|’s)?\b"


@dataclass(frozen=True, slots=True)
class _Theme:
    id: str
    settings: ThemeSettings
    positive: re.Pattern[str] | None
    weights: tuple[float, ...]
    labels: tuple[str, ...]
    negative: re.Pattern[str] | None
    negative_weights: tuple[float, ...]
    context: re.Pattern[str] | None


def _compile(theme_id: str, settings: ThemeSettings) -> _Theme:
    alternatives: list[str] = []
    weights: list[float] = []
    labels: list[str] = []
    for phrase, weight in settings.phrases.items():
        for wording in (phrase, *settings.aliases.get(phrase, [])):
            alternatives.append(phrase_pattern(wording))
            weights.append(weight)
            labels.append(phrase)
    for pattern, weight in settings.patterns.items():
        alternatives.append(pattern)
        weights.append(weight)
        labels.append(pattern)
    try:
        positive = _group(alternatives)
        negative = _group([phrase_pattern(p) for p in settings.exclusions])
        context = _group([phrase_pattern(p) for p in settings.context])
    except re.error as exc:
        raise TaggingError(theme_id, f"a phrase or pattern does not compile ({exc})") from None
    return _Theme(
        theme_id,
        settings,
        positive,
        tuple(weights),
        tuple(labels),
        negative,
        tuple(settings.exclusions.values()),
        context,
    )


def _group(alternatives: list[str]) -> re.Pattern[str] | None:
    if not alternatives:
        return None
    return re.compile("|".join(f"(?P<g{i}>{a})" for i, a in enumerate(alternatives)), re.IGNORECASE)


def split_sentences(text: str) -> list[str]:
    """Split plain text into sentences, good enough for evidence snippets."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


class PhraseTagger:
    """Scores each theme as 1 - exp(-sum of matched weights), per sentence, with evidence."""

    def __init__(self, themes: Mapping[str, ThemeSettings]) -> None:
        self._themes = [_compile(theme_id, settings) for theme_id, settings in themes.items()]

    def threshold(self, theme: str) -> float:
        for compiled in self._themes:
            if compiled.id == theme:
                return compiled.settings.threshold
        raise KeyError(theme)

    def tag(self, title: str, text: str) -> list[ThemeMatch]:
        title = html.unescape(title)
        sentences = [(True, title)] + [(False, s) for s in split_sentences(html.unescape(text))]
        matches = []
        for theme in self._themes:
            match = self._score(theme, sentences)
            if match.score > 0:
                matches.append(match)
        return matches

    def _score(self, theme: _Theme, sentences: list[tuple[bool, str]]) -> ThemeMatch:
        raw = 0.0
        evidence: list[Evidence] = []
        seen: set[tuple[str, str]] = set()
        for in_title, sentence in sentences:
            if theme.positive is None:
                break
            if theme.context is not None and not theme.context.search(sentence):
                continue
            factor = theme.settings.title_weight if in_title else 1.0
            for found in theme.positive.finditer(sentence):
                index = int((found.lastgroup or "g0")[1:])
                label = theme.labels[index]
                if (label, sentence) in seen:
                    continue
                seen.add((label, sentence))
                weight = theme.weights[index] * factor
                raw += weight
                evidence.append(Evidence(found.group(0), _snippet(sentence, found), weight))
            if theme.negative is not None:
                for found in theme.negative.finditer(sentence):
                    index = int((found.lastgroup or "g0")[1:])
                    raw -= theme.negative_weights[index] * factor
        score = 1.0 - math.exp(-raw) if raw > 0 else 0.0
        evidence.sort(key=lambda e: -e.weight)
        return ThemeMatch(theme.id, round(score, 4), tuple(evidence[:8]))


def _snippet(sentence: str, found: re.Match[str]) -> str:
    if len(sentence) <= _SNIPPET_CHARS:
        return sentence
    start = max(0, found.start() - _SNIPPET_CHARS // 2)
    end = min(len(sentence), start + _SNIPPET_CHARS)
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(sentence) else ""
    return prefix + sentence[start:end].strip() + suffix
