"""Measure tagging quality: classify labelled items, score predictions, cross-validate.

Items are JSON objects like the lines of `shared/eval/tagging/dev.jsonl`
(`{"id", "title", "summary", ...}`, `labels` when labelled); predictions are
`{"id", "labels", "scores"}`. Everything here is a pure function of its inputs.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from digest.errors import DigestError
from digest.tagging import Tagger

Item = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ThemeQuality:
    """Precision, recall and F1 of one theme."""

    theme: str
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        relevant = self.true_positives + self.false_negatives
        return self.true_positives / relevant if relevant else 1.0

    @property
    def f1(self) -> float:
        return _f1(self.true_positives, self.false_positives, self.false_negatives)

    @property
    def support(self) -> int:
        return self.true_positives + self.false_negatives


@dataclass(frozen=True, slots=True)
class WrongItem:
    """An item whose predicted labels differ from its gold labels."""

    id: str
    title: str
    expected: tuple[str, ...]
    predicted: tuple[str, ...]

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(t for t in self.expected if t not in self.predicted)

    @property
    def extra(self) -> tuple[str, ...]:
        return tuple(t for t in self.predicted if t not in self.expected)


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Per-theme quality, micro/macro-F1, exact-match ratio and the items got wrong."""

    themes: tuple[ThemeQuality, ...]
    items: int
    exact: int
    wrong: tuple[WrongItem, ...]

    @property
    def macro_f1(self) -> float:
        return sum(t.f1 for t in self.themes) / len(self.themes) if self.themes else 0.0

    @property
    def micro_f1(self) -> float:
        return _f1(
            sum(t.true_positives for t in self.themes),
            sum(t.false_positives for t in self.themes),
            sum(t.false_negatives for t in self.themes),
        )

    @property
    def exact_match(self) -> float:
        return self.exact / self.items if self.items else 0.0

    def theme(self, theme: str) -> ThemeQuality:
        return next(t for t in self.themes if t.theme == theme)


def _f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a JSONL file, one a line; blank lines are skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DigestError(f"{path}: cannot be read ({exc})") from None
    return list(parse_jsonl(lines, origin=str(path)))


def parse_jsonl(lines: Iterable[str], *, origin: str = "input") -> Iterator[dict[str, Any]]:
    """Parse JSONL lines, naming the line of the first one that is not a JSON object."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DigestError(f"{origin} line {number}: not JSON ({exc.msg})") from None
        if not isinstance(value, dict):
            raise DigestError(f"{origin} line {number}: expected a JSON object")
        yield value


def classify_item(tagger: Tagger, themes: Sequence[str], item: Item) -> dict[str, Any]:
    """One prediction line: `{"id", "labels", "scores"}`, themes in config order."""
    title = item.get("title")
    summary = item.get("summary", item.get("text"))
    matches = {
        m.theme: m.score
        for m in tagger.tag(title if isinstance(title, str) else "", str(summary or ""))
    }
    scores = {theme: matches.get(theme, 0.0) for theme in themes}
    labels = [theme for theme in themes if scores[theme] >= tagger.threshold(theme)]
    return {"id": item.get("id"), "labels": labels, "scores": scores}


def classify_items(
    tagger: Tagger, themes: Sequence[str], items: Iterable[Item]
) -> Iterator[dict[str, Any]]:
    """Predictions for each item, lazily, in input order."""
    for item in items:
        yield classify_item(tagger, themes, item)


def evaluate(
    gold: Iterable[Item], predictions: Iterable[Item], themes: Sequence[str]
) -> Evaluation:
    """Compare predicted labels with gold labels; an item without a prediction counts as []."""
    predicted = {str(p.get("id")): tuple(p.get("labels") or ()) for p in predictions}
    counts = {theme: [0, 0, 0] for theme in themes}
    wrong: list[WrongItem] = []
    items = exact = 0
    for item in gold:
        items += 1
        item_id = str(item.get("id"))
        expected = tuple(t for t in themes if t in (item.get("labels") or ()))
        got = tuple(t for t in themes if t in predicted.get(item_id, ()))
        for theme in themes:
            if theme in got and theme in expected:
                counts[theme][0] += 1
            elif theme in got:
                counts[theme][1] += 1
            elif theme in expected:
                counts[theme][2] += 1
        if got == expected:
            exact += 1
        else:
            wrong.append(WrongItem(item_id, str(item.get("title", "")), expected, got))
    qualities = tuple(ThemeQuality(t, *counts[t]) for t in themes)
    return Evaluation(qualities, items, exact, tuple(wrong))


def best_threshold(scored: Sequence[tuple[float, bool]], candidates: Sequence[float]) -> float:
    """The candidate threshold with the best F1 on (score, is-gold) pairs; ties go lower-middle."""
    best: tuple[float, float] | None = None
    results = []
    for threshold in candidates:
        tp = sum(1 for s, g in scored if s >= threshold and g)
        fp = sum(1 for s, g in scored if s >= threshold and not g)
        fn = sum(1 for s, g in scored if s < threshold and g)
        results.append((_f1(tp, fp, fn), threshold))
        if best is None or results[-1][0] > best[0]:
            best = results[-1]
    assert best is not None
    # Among equally good thresholds take the middle one: the widest margin either side.
    tied = [t for f, t in results if f == best[0]]
    return tied[(len(tied) - 1) // 2]


THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(2, 19))


def cross_validate(
    gold: Sequence[Item],
    predictions: Sequence[Item],
    themes: Sequence[str],
    *,
    folds: int = 5,
    seed: int = 0,
    candidates: Sequence[float] = THRESHOLDS,
) -> tuple[Evaluation, list[dict[str, float]]]:
    """K-fold CV of the per-theme thresholds: tune on k-1 folds, label the held-out fold.

    `predictions` must carry `scores` (as `classify_items` writes them). Returns the
    evaluation of the pooled held-out labels and the thresholds chosen for each fold.
    """
    scores = {str(p.get("id")): p.get("scores") or {} for p in predictions}
    order = list(range(len(gold)))
    random.Random(seed).shuffle(order)
    fold_of = {index: n % folds for n, index in enumerate(order)}
    pooled: list[dict[str, Any]] = []
    chosen: list[dict[str, float]] = []
    for fold in range(folds):
        train = [item for i, item in enumerate(gold) if fold_of[i] != fold]
        test = [item for i, item in enumerate(gold) if fold_of[i] == fold]
        thresholds = {}
        for theme in themes:
            pairs = [
                (
                    float(scores.get(str(item.get("id")), {}).get(theme, 0.0)),
                    theme in (item.get("labels") or ()),
                )
                for item in train
            ]
            thresholds[theme] = best_threshold(pairs, candidates)
        chosen.append(thresholds)
        for item in test:
            item_scores = scores.get(str(item.get("id")), {})
            labels = [t for t in themes if float(item_scores.get(t, 0.0)) >= thresholds[t]]
            pooled.append({"id": item.get("id"), "labels": labels})
    return evaluate(gold, pooled, themes), chosen
