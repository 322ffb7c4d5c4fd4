"""Compile the themes from config.toml into one automaton and bit-mask rules.

Every wording (term, phrase, context word, exclusion, alias) becomes keys of an
Aho-Corasick automaton over the normalised text, shared by all themes, so one pass finds
them all. Each theme owns a range of bits; a key carries the bits of what it is evidence
of, a sentence's mask is the OR of its matches, and a rule is a few mask comparisons.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import ahocorasick

from digest.config import ThemeSettings
from digest.errors import TaggingError
from digest.tagging.text import SENTENCE_MARK
from digest.tagging.wordings import CaseCheck, compile_pattern, is_pattern, wording_keys

# A part of an automaton key that counts for some themes: (offset of its leading space in
# the key, length of its words, bits, case checks).
Segment = tuple[int, int, int, tuple[CaseCheck, ...]]

# An automaton key's value: (key length, bits, parts or None, trimmed); see CompiledThemes.
KeyValue = tuple[int, int, "tuple[Part, ...] | None", "tuple[Part, ...]"]

# A segment as the scan reads it: the segment, then the value of its hit when it has no
# case checks, made once here rather than for each hit.
Part = tuple[int, int, int, tuple[CaseCheck, ...], KeyValue]

# What the automata report where a sentence ends (`Document.words` marks it): None, which
# is no key's value and, unlike a tuple, is still itself after the tagger is pickled for
# the ingest's worker processes.
SENTENCE_END = None

# A rule as the hot loop reads it: (all mask, none mask, any mask, min_any, weight, rule).
RuleTest = tuple[int, int, int, int, float, "Rule"]


@dataclass(frozen=True, slots=True)
class Rule:
    """A compiled rule: masks over the theme's bits, and what a sentence holding it adds."""

    all_mask: int
    any_mask: int
    min_any: int
    none_mask: int
    weight: float

    @property
    def test(self) -> RuleTest:
        """The rule as a tuple, for the hot loop."""
        return (self.all_mask, self.none_mask, self.any_mask, self.min_any, self.weight, self)

    @property
    def shown_mask(self) -> int:
        """Bits whose matches are shown as the rule's evidence."""
        return self.all_mask | self.any_mask


@dataclass(frozen=True, slots=True)
class CompiledTheme:
    """One theme's rules, as masks over its own range of bits."""

    id: str
    threshold: float
    title_weight: float
    mask: int  # every bit of this theme
    context_mask: int
    rules: tuple[RuleTest, ...]  # rules over term groups, strongest first
    phrases: dict[int, RuleTest]  # one-term rules (phrases and patterns), by their bit
    phrase_mask: int
    needed: int  # a sentence holding none of these bits satisfies no rule
    exclusions: dict[int, float]  # weight by bit
    exclusion_mask: int


@dataclass(frozen=True, slots=True)
class CompiledThemes:
    """Every theme, plus the automata and patterns that find all their wordings at once.

    Key values are `(key length, bits, None, trimmed)` when every theme reads the key whole
    and without a case check, else `(key length, 0, parts, trimmed)`; `trimmed` is the
    themes' reading of the key without its last word, which serves when the text's last
    word runs on past the key ("test fire" in "test fireworks"). The sentence mark's value
    is `SENTENCE_END` (None).
    """

    themes: tuple[CompiledTheme, ...]
    automata: tuple[Any, ...]
    # (pattern, whether a word boundary must precede each match, bits)
    patterns: tuple[tuple[re.Pattern[str], bool, int], ...]


class _Builder:
    """Collects one theme's keys; its bits start at `offset` in the shared bit space."""

    def __init__(self, theme_id: str, settings: ThemeSettings, offset: int) -> None:
        self.theme_id = theme_id
        self.settings = settings
        self.first_bit = 1 << offset
        self.next_bit = self.first_bit
        # key -> (plain bits, case checks)
        self.keys: dict[str, tuple[int, list[CaseCheck]]] = {}
        self.patterns: dict[tuple[re.Pattern[str], bool], int] = {}

    def bit(self) -> int:
        bit = self.next_bit
        self.next_bit <<= 1
        return bit

    @property
    def mask(self) -> int:
        return self.next_bit - self.first_bit

    def add(self, wording: str, bit: int) -> None:
        for each in (wording, *self.settings.aliases.get(wording, [])):
            if is_pattern(each):
                self.add_pattern(each[1:-1], bit)
                continue
            for key, check in wording_keys(each):
                plain, checks = self.keys.get(key, (0, []))
                if check is None:
                    plain |= bit
                else:
                    checks.append((check[0], check[1], check[2], bit))
                self.keys[key] = (plain, checks)

    def add_pattern(self, pattern: str, bit: int) -> None:
        try:
            compiled = compile_pattern(pattern)
        except re.error as exc:
            raise TaggingError(self.theme_id, f'"{pattern}" does not compile ({exc})') from None
        self.patterns[compiled] = self.patterns.get(compiled, 0) | bit

    def automaton(self) -> Any:
        """This theme's own automaton, to find how it reads other themes' keys."""
        automaton = ahocorasick.Automaton()
        for key, (plain, checks) in self.keys.items():
            automaton.add_word(key, (len(key), plain, tuple(checks)))
        if self.keys:
            automaton.make_automaton()
        return automaton

    def compile(self) -> CompiledTheme:
        settings = self.settings
        groups: dict[str, int] = {}
        for name, wordings in settings.terms.items():
            groups[name] = bit = self.bit()
            for wording in wordings:
                self.add(wording, bit)

        def mask(names: list[str]) -> int:
            total = 0
            for name in names:
                total |= groups[name]
            return total

        rules = [
            Rule(mask(r.all), mask(r.any), r.min_any if r.any else 0, mask(r.none), r.weight)
            for r in settings.rules
        ]
        phrases: dict[int, Rule] = {}
        for phrase, weight in settings.phrases.items():
            bit = self.bit()
            self.add(phrase, bit)
            phrases[bit] = Rule(bit, 0, 0, 0, weight)
        for pattern, weight in settings.patterns.items():
            bit = self.bit()
            self.add_pattern(pattern, bit)
            phrases[bit] = Rule(bit, 0, 0, 0, weight)
        exclusions: dict[int, float] = {}
        for phrase, weight in settings.exclusions.items():
            bit = self.bit()
            self.add(phrase, bit)
            exclusions[bit] = weight
        context_mask = 0
        context_bit = 0
        for wording in settings.context:
            if wording in groups:
                context_mask |= groups[wording]
            else:
                context_bit = context_bit or self.bit()
                self.add(wording, context_bit)
        rules.sort(key=lambda r: -r.weight)
        needed = sum(phrases)
        for rule in rules:
            needed |= rule.all_mask or rule.any_mask
        return CompiledTheme(
            id=self.theme_id,
            threshold=settings.threshold,
            title_weight=settings.title_weight,
            mask=self.mask,
            context_mask=context_mask | context_bit,
            rules=tuple(rule.test for rule in rules),
            phrases={bit: rule.test for bit, rule in phrases.items()},
            phrase_mask=sum(phrases),
            needed=needed,
            exclusions=exclusions,
            exclusion_mask=sum(exclusions),
        )


def compile_themes(themes: Mapping[str, ThemeSettings]) -> CompiledThemes:
    """Compile every theme; one automaton scan finds the wordings of all of them.

    Each theme reads any key the way its own automaton would read those words, so "Sea of
    Japan" hides "Japan" only in the theme that lists it, and a theme's scores never depend
    on another theme's wordings. Where a wording of one theme starts inside another's key
    and runs on past it, the automaton also gets the joined key, so both are found.
    """
    builders: list[_Builder] = []
    compiled: list[CompiledTheme] = []
    offset = 0
    for theme_id, settings in themes.items():
        builder = _Builder(theme_id, settings, offset)
        compiled.append(builder.compile())
        builders.append(builder)
        offset = builder.next_bit.bit_length() - 1
    own = [builder.automaton() for builder in builders]
    keys = _joined_keys(builders, own)
    if keys is None:  # too many joins: fall back on one scan per theme
        automata = tuple(
            _shared_automaton([b], [o], set(b.keys)) for b, o in zip(builders, own, strict=True)
        )
    else:
        automata = (_shared_automaton(builders, own, keys),)
    # One run of each distinct pattern, whichever themes use it.
    patterns: dict[tuple[re.Pattern[str], bool], int] = {}
    for builder in builders:
        for compiled_pattern, bits in builder.patterns.items():
            patterns[compiled_pattern] = patterns.get(compiled_pattern, 0) | bits
    return CompiledThemes(
        tuple(compiled), automata, tuple((p, b, bits) for (p, b), bits in patterns.items())
    )


_MAX_JOIN_ROUNDS = 8


def _joined_keys(builders: list[_Builder], own: list[Any]) -> set[str] | None:
    """Every theme's keys, plus keys joining one theme's key to a longer one it runs into.

    With " cruise missile" (one theme) and " missile warning data" (another), the text
    "cruise missile warning data" would otherwise be read as the first key and the second
    theme would miss its own. Returns None if joining does not settle.
    """
    everything: set[str] = set().union(*(b.keys for b in builders))
    if len(builders) < 2:
        return everything
    owners = {key: {i for i, b in enumerate(builders) if key in b.keys} for key in everything}
    pending = list(everything)
    for _ in range(_MAX_JOIN_ROUNDS):
        added: list[str] = []
        for key in pending:
            mine = owners.get(key, set())
            for at in range(1, len(key)):
                if key[at] != " ":
                    continue
                tail = key[at:]
                for i, automaton in enumerate(own):
                    if i in mine or not builders[i].keys:
                        continue
                    for longer in automaton.keys(tail):
                        joined = key[:at] + longer
                        if len(longer) > len(tail) and joined not in everything:
                            everything.add(joined)
                            added.append(joined)
        if not added:
            return everything
        pending = added
    return None


def _read(automaton: Any, keys: dict[str, tuple[int, list[CaseCheck]]], key: str) -> list[Segment]:
    """How a theme reads the words of a key: its own leftmost-longest matches inside it."""
    if key in keys:
        plain, checks = keys[key]
        return [(0, len(key) - 1, plain, tuple(checks))]
    if not keys:
        return []
    padded = key + " "
    segments: list[Segment] = []
    for end, (length, plain, checks) in automaton.iter_long(padded):
        if not padded[end + 1].isalnum():
            segments.append((end - length + 1, length - 1, plain, checks))
    return segments


def _reading(builders: list[_Builder], own: list[Any], key: str) -> tuple[Segment, ...]:
    """Every theme's reading of the words of a key, merged by position."""
    merged: dict[tuple[int, int], tuple[int, list[CaseCheck]]] = {}
    for builder, theirs in zip(builders, own, strict=True):
        for at, size, plain, checks in _read(theirs, builder.keys, key):
            bits, all_checks = merged.get((at, size), (0, []))
            merged[(at, size)] = (bits | plain, all_checks + list(checks))
    return tuple(
        (at, size, bits, tuple(checks)) for (at, size), (bits, checks) in sorted(merged.items())
    )


def _parts(segments: tuple[Segment, ...]) -> tuple[Part, ...]:
    return tuple((*segment, (segment[1] + 1, segment[2], None, ())) for segment in segments)


def _shared_automaton(builders: list[_Builder], own: list[Any], keys: set[str]) -> Any:
    if not keys:
        return None
    automaton = ahocorasick.Automaton()
    for key in keys:
        segments = _reading(builders, own, key)
        # When the text's last word runs on past the key, the themes read the words before it.
        cut = key.rfind(" ")
        trimmed = _reading(builders, own, key[:cut]) if cut > 0 else ()
        if len(segments) == 1 and segments[0][:2] == (0, len(key) - 1) and not segments[0][3]:
            automaton.add_word(key, (len(key), segments[0][2], None, _parts(trimmed)))
        else:
            automaton.add_word(key, (len(key), 0, _parts(segments), _parts(trimmed)))
    automaton.add_word(SENTENCE_MARK, SENTENCE_END)
    automaton.make_automaton()
    return automaton
