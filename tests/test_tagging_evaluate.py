"""Measuring tagging quality: classify items, score predictions, cross-validate thresholds."""

from __future__ import annotations

import pytest

from digest.config import ThemeSettings
from digest.errors import DigestError
from digest.tagging.evaluate import (
    best_threshold,
    classify_items,
    cross_validate,
    evaluate,
    parse_jsonl,
)
from digest.tagging.matcher import RuleTagger

THEMES = ["a", "b"]


def test_classify_writes_id_labels_and_every_score() -> None:
    tagger = RuleTagger(
        {
            "a": ThemeSettings(label="A", phrases={"apple": 1.0}, threshold=0.5),
            "b": ThemeSettings(label="B", phrases={"banana": 0.1}, threshold=0.5),
        }
    )
    items = [{"id": "x", "title": "Apple and banana", "summary": ""}]
    [line] = classify_items(tagger, THEMES, items)
    assert line["id"] == "x"
    assert line["labels"] == ["a"]
    assert set(line["scores"]) == {"a", "b"} and 0 < line["scores"]["b"] < 0.5


def test_evaluate_counts_precision_recall_and_f1_per_theme() -> None:
    gold = [
        {"id": "1", "labels": ["a"]},
        {"id": "2", "labels": ["a", "b"]},
        {"id": "3", "labels": []},
    ]
    predicted = [
        {"id": "1", "labels": ["a"]},
        {"id": "2", "labels": ["b"]},
        {"id": "3", "labels": ["a"]},
    ]
    result = evaluate(gold, predicted, THEMES)
    a = result.theme("a")
    assert (a.true_positives, a.false_positives, a.false_negatives) == (1, 1, 1)
    assert a.precision == a.recall == a.f1 == 0.5
    assert result.theme("b").f1 == 1.0
    assert result.macro_f1 == 0.75
    assert result.micro_f1 == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))


def test_evaluate_lists_wrong_items_with_missing_and_extra() -> None:
    gold = [{"id": "1", "title": "T", "labels": ["a"]}, {"id": "2", "labels": []}]
    result = evaluate(gold, [{"id": "1", "labels": ["b"]}, {"id": "2", "labels": []}], THEMES)
    assert result.exact_match == 0.5
    [wrong] = result.wrong
    assert (wrong.id, wrong.title, wrong.missing, wrong.extra) == ("1", "T", ("a",), ("b",))


def test_item_without_prediction_counts_as_no_labels() -> None:
    result = evaluate([{"id": "1", "labels": []}, {"id": "2", "labels": ["a"]}], [], THEMES)
    assert result.exact == 1
    assert result.theme("a").false_negatives == 1


def test_best_threshold_maximises_f1_and_takes_the_middle_of_ties() -> None:
    scored = [(0.9, True), (0.6, True), (0.3, False), (0.1, False)]
    assert best_threshold(scored, [0.2, 0.4, 0.5, 0.6, 0.8]) == 0.5


def test_cross_validation_scores_every_item_once_on_held_out_folds() -> None:
    gold = [{"id": str(i), "labels": ["a"] if i % 2 else []} for i in range(20)]
    predictions = [
        {"id": str(i), "scores": {"a": 0.8 if i % 2 else 0.2, "b": 0.0}} for i in range(20)
    ]
    result, chosen = cross_validate(gold, predictions, THEMES, folds=5)
    assert result.items == 20 and result.theme("a").f1 == 1.0
    assert len(chosen) == 5 and all(0.2 < t["a"] <= 0.8 for t in chosen)


def test_jsonl_error_names_the_line() -> None:
    with pytest.raises(DigestError, match="items.jsonl line 2: not JSON"):
        list(parse_jsonl(['{"id": 1}', "{oops"], origin="items.jsonl"))
