"""The rule tagger: per-sentence co-occurrence of term groups, scored with evidence.

One automaton pass finds the wordings of every theme and, from the marks `Document` puts
in the matched text, where each sentence ends. A theme whose context is never
mentioned scores 0. Otherwise each sentence adds the weight of the strongest rule it
satisfies, less the weight of the exclusions in it (the title counts `title_weight` times),
and the total `raw` becomes a score of `1 - exp(-raw)`, in [0, 1].
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from math import exp, floor
from operator import itemgetter
from typing import Any

from digest.config import ThemeSettings
from digest.models import Evidence, ThemeMatch
from digest.tagging.compiler import (
    SENTENCE_END,
    CompiledTheme,
    CompiledThemes,
    KeyValue,
    Rule,
    RuleTest,
    compile_themes,
)
from digest.tagging.text import SEPARATORS, Document
from digest.tagging.wordings import CaseCheck

_SNIPPET_CHARS = 300
_MAX_EVIDENCE = 2  # sentences
_MAX_VERDICTS = 16_384  # sentence masks remembered per theme; when full, it starts afresh
_TO_SPACE = str.maketrans(dict.fromkeys(SEPARATORS, " "))
# What Evidence(...) and ThemeMatch(...) call, without their Python-level frame.
_new = tuple.__new__
_END = itemgetter(0)  # of a Hit
_INDEX = itemgetter(0)  # of a Sentence

# Where a wording ends in Document.words (its end offset in Document.text) and its key's
# value: the pair the automaton yields, kept as it comes. `_hit` makes one for a pattern.
Hit = tuple[int, KeyValue]
Sentence = tuple[int, int, list[Hit]]  # index, OR of the hits' bits, hits
Verdict = tuple[float, "Rule | None", float]  # weight less exclusions, rule, exclusions


class RuleTagger:
    """Scores text against every configured theme; see the module docstring."""

    def __init__(self, themes: Mapping[str, ThemeSettings]) -> None:
        self._compiled = compile_themes(themes)
        self._thresholds = {theme.id: theme.threshold for theme in self._compiled.themes}
        # Per theme, the verdict on each of its sentence masks seen so far: a pure function
        # of the mask, and the same few combinations of a theme's terms recur (about 2,000
        # for a sample theme over 100,000 generated items).
        self._verdicts: tuple[dict[int, Verdict], ...] = tuple({} for _ in self._compiled.themes)

    @property
    def themes(self) -> tuple[str, ...]:
        """Theme ids, in config order."""
        return tuple(self._thresholds)

    def threshold(self, theme: str) -> float:
        return self._thresholds[theme]

    def tag(self, title: str, text: str) -> list[ThemeMatch]:
        return self._tag(title, text, explain=False)

    def explain(self, title: str, text: str) -> list[ThemeMatch]:
        """Like `tag`, with every theme (scores of 0 included) and the exclusions that took
        weight off (`ThemeMatch.penalties`)."""
        found = {m.theme: m for m in self._tag(title, text, explain=True)}
        return [found.get(theme, ThemeMatch(theme, 0.0)) for theme in self.themes]

    def _tag(self, title: str, text: str, *, explain: bool) -> list[ThemeMatch]:
        document = Document.parse(title, text)
        present, sentences = scan(self._compiled, document)
        themes = self._compiled.themes
        active = [may_match(theme, present) for theme in themes]
        if not any(active):
            return []
        return score(themes, active, document, sentences, self._verdicts, explain=explain)


def may_match(theme: CompiledTheme, present: int) -> bool:
    """Whether the item mentions the theme's context and holds, somewhere, the terms of one
    of its rules."""
    if theme.context_mask and not present & theme.context_mask:
        return False
    if present & theme.phrase_mask:
        return True
    for all_mask, _, any_mask, min_any, *_ in theme.rules:
        if present & all_mask == all_mask and (present & any_mask).bit_count() >= min_any:
            return True
    return False


def judge(theme: CompiledTheme, mask: int) -> Verdict:
    """What a sentence with these bits adds: its strongest rule's weight less its
    exclusions, with the rule (None if none holds) and the exclusions' weight."""
    best: RuleTest | None = None
    for test in theme.rules:  # strongest first
        all_mask, none_mask, any_mask, min_any = test[:4]
        if (
            mask & all_mask == all_mask
            and not mask & none_mask
            and (mask & any_mask).bit_count() >= min_any
        ):
            best = test
            break
    phrases = mask & theme.phrase_mask
    while phrases:  # one-term rules, found by their bits
        bit = phrases & -phrases
        if best is None or theme.phrases[bit][4] > best[4]:
            best = theme.phrases[bit]
        phrases ^= bit
    if best is None:
        return 0.0, None, 0.0
    penalty = 0.0
    excluded = mask & theme.exclusion_mask
    while excluded:
        bit = excluded & -excluded
        penalty += theme.exclusions[bit]
        excluded ^= bit
    return best[4] - penalty, best[5], penalty


def scan(compiled: CompiledThemes, document: Document) -> tuple[int, list[Sentence]]:
    """Find every theme's wordings and patterns; return the OR of all their bits and the
    sentences that hold any, in text order, each with the OR of its hits' bits."""
    found: list[Sentence] = []
    for automaton in compiled.automata:
        if automaton is not None:
            more = _scan(automaton, document)
            found = _merge(found, more) if found else more
    if compiled.patterns:
        found = _add_pattern_hits(compiled, document, found)
    present = 0
    for sentence in found:
        present |= sentence[1]
    return present, found


def _scan(automaton: Any, document: Document) -> list[Sentence]:
    """One automaton's hits, grouped by sentence as the sentence marks in the text go by."""
    words = document.words
    runs_on = str.isalnum
    found: list[Sentence] = []
    index = 0  # the title
    mask = 0  # the OR of the current sentence's bits so far
    hits: list[Hit] = []
    add = hits.append
    for hit in automaton.iter_long(words):
        end, key = hit
        if key is SENTENCE_END:
            if mask:
                found.append((index, mask, hits))
                mask = 0
                hits = []
                add = hits.append
            index += 1
            continue
        after = words[end + 1]
        if after != " " and runs_on(after):  # the word runs on: "fire" in "firebrand"
            parts = key[3]
            if not parts:
                continue
        else:
            parts = key[2]
            if parts is None:  # the common case: one hit, no case check
                mask |= key[1]
                add(hit)
                continue
        start = end - key[0] + 1
        for at, size, bits, checks, value in parts:  # a key themes read in parts, or checked
            if checks:
                bits |= _checked(document, start + at, checks)
                value = (size + 1, bits, None, ())
            if bits:
                mask |= bits
                add((start + at + size, value))
    if mask:
        found.append((index, mask, hits))
    return found


def _add_pattern_hits(
    compiled: CompiledThemes, document: Document, found: list[Sentence]
) -> list[Sentence]:
    """Put the patterns' matches into `found` (sentences in text order, changed in place),
    each in its sentence and among its hits in reading order."""
    lower = document.lower
    for pattern, boundary, bits in compiled.patterns:
        for match in pattern.finditer(lower):
            start, end = match.span()
            if end == start or (boundary and start and lower[start - 1].isalnum()):
                continue
            index = document.sentence_index(start)
            hit = _hit(start, end, bits)
            at = bisect_left(found, index, key=_INDEX)
            if at < len(found) and found[at][0] == index:
                _, mask, hits = found[at]
                hits.insert(bisect_left(hits, end, key=_END), hit)
                found[at] = (index, mask | bits, hits)
            else:
                found.insert(at, (index, bits, [hit]))
    return found


def _merge(found: list[Sentence], more: list[Sentence]) -> list[Sentence]:
    """Put another automaton's sentences into `found` (both in text order), in place; a
    sentence in both gets the hits of both. Each theme's hits come from one automaton, so
    each theme still reads its own in order."""
    for sentence in more:
        at = bisect_left(found, sentence[0], key=_INDEX)
        if at < len(found) and found[at][0] == sentence[0]:
            known = found[at]
            found[at] = (known[0], known[1] | sentence[1], known[2] + sentence[2])
        else:
            found.insert(at, sentence)
    return found


def _hit(start: int, end: int, bits: int) -> Hit:
    """A hit on `Document.text[start:end]` with these bits."""
    return end, (end - start + 1, bits, None, ())


def _checked(document: Document, start: int, checks: tuple[CaseCheck, ...]) -> int:
    """Bits of the case-sensitive wordings that match as written at `start`."""
    bits = 0
    for offset, size, form, extra in checks:
        found = document.text[start + offset : start + offset + size]
        if found.translate(_TO_SPACE) == form if form else found.isupper():
            bits |= extra
    return bits


def score(
    themes: tuple[CompiledTheme, ...],
    active: list[bool],
    document: Document,
    sentences: list[Sentence],
    verdicts: tuple[dict[int, Verdict], ...],
    *,
    explain: bool = False,
) -> list[ThemeMatch]:
    """Each active theme's score and evidence; themes that score 0 are left out.

    `verdicts` caches `judge` per theme. With `explain`, each match also lists the
    exclusions that took weight off.
    """
    matches = []
    for theme, on, known in zip(themes, active, verdicts, strict=True):
        if not on:
            continue
        own = theme.mask
        needed = theme.needed
        raw = 0.0
        fired: list[tuple[float, Rule, Sentence]] = []
        penalised: list[tuple[float, Sentence]] = []
        for sentence in sentences:
            mask = sentence[1] & own
            if not mask & needed:
                continue
            verdict = known.get(mask)
            if verdict is None:
                verdict = judge(theme, mask)
                if len(known) >= _MAX_VERDICTS:
                    known.clear()  # keeps memory flat however many items are tagged
                known[mask] = verdict
            gain, rule, penalty = verdict
            if rule is None:
                continue
            if explain and penalty > 0:
                penalised.append((penalty, sentence))
            if gain <= 0:
                continue
            if sentence[0] == 0:
                gain *= theme.title_weight
            raw += gain
            fired.append((gain, rule, sentence))
        if raw > 0:
            matches.append(_match(theme, document, raw, fired, penalised))
    return matches


def _match(
    theme: CompiledTheme,
    document: Document,
    raw: float,
    fired: list[tuple[float, Rule, Sentence]],
    penalised: list[tuple[float, Sentence]],
) -> ThemeMatch:
    if len(fired) > 1:
        fired.sort(key=_strongest)  # stable: ties keep reading order
    evidence: list[Evidence] = []
    for gain, rule, sentence in fired[:_MAX_EVIDENCE]:
        _evidence(evidence, document, sentence, rule.shown_mask, gain)
    penalties: list[Evidence] = []
    if penalised:
        penalised.sort(key=lambda p: (-p[0], p[1][0]))
        for penalty, sentence in penalised[:_MAX_EVIDENCE]:
            _evidence(penalties, document, sentence, theme.exclusion_mask, -penalty)
    score = _round4(1.0 - exp(-raw))
    return _new(ThemeMatch, (theme.id, score, tuple(evidence), tuple(penalties)))


def _strongest(fired: tuple[float, Rule, Sentence]) -> float:
    return -fired[0]


def _evidence(
    out: list[Evidence], document: Document, sentence: Sentence, shown: int, weight: float
) -> None:
    """Add one piece of evidence per matched phrase of a sentence, in reading order, each
    with the sentence and what the sentence added to the score."""
    text = document.text
    phrases: dict[str, None] = {}
    for end, key in sentence[2]:
        if key[1] & shown:
            phrases[text[end - key[0] + 1 : end]] = None
    if not phrases:
        return
    snippet = document.sentence(sentence[0])
    if len(snippet) > _SNIPPET_CHARS:
        snippet = _snippet(snippet, next(iter(phrases)))
    weight = _round4(weight)
    for phrase in phrases:
        if "\n" in phrase:
            phrase = " ".join(phrase.split())
        out.append(_new(Evidence, (phrase, snippet, weight)))


def _round4(number: float) -> float:
    """`number` to 4 decimals, as round() would but in a seventh of the time (round()
    goes through a decimal string; a few hundred nanoseconds, five times an item)."""
    return floor(number * 10_000 + 0.5) / 10_000


def _snippet(sentence: str, first: str) -> str:
    """A long sentence's snippet, centred on its first match."""
    at = max(sentence.find(first), 0)
    start = max(0, at - _SNIPPET_CHARS // 3)
    end = min(len(sentence), start + _SNIPPET_CHARS)
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(sentence) else ""
    return prefix + sentence[start:end].strip() + suffix
