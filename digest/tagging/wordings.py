"""Wordings as config.toml writes them, turned into automaton keys and regexes.

A key is a wording's words, lowercase, with punctuation as single spaces and one space in
front ("North Korea's" is " north korea"); the text is normalised the same way (see
`Document.words`), so one comparison covers case, hyphens, possessives and entities.
"""

from __future__ import annotations

import re

from digest.tagging.text import SEPARATORS

_TO_SPACE = str.maketrans(dict.fromkeys(SEPARATORS, " "))
_VOWELS = frozenset("aeiou")
_PARTICLES = frozenset(
    "of to in on at for with off up down out from by into onto over as about".split()
)

# A case check on a match: (offset of the checked part, its length, the exact form or None
# for "must be capitals", the bits granted when it passes).
CaseCheck = tuple[int, int, str | None, int]


def inflections(word: str, *, verb: bool = True) -> set[str]:
    """The forms of a word that count as it: "launch" also "launches", "launched", "launching".

    Without `verb` (for names: "Scud", "North Korean"), only the plural.
    """
    forms = {word}
    if len(word) < 3 or not word.isalpha():
        return forms
    if not verb:
        if word.endswith(("s", "x", "z", "ch", "sh")):
            forms.add(word + "es")
        elif word.endswith("y") and word[-2] not in _VOWELS:
            forms.add(word[:-1] + "ies")
        else:
            forms.add(word + "s")
        return forms
    if word.endswith("e"):
        forms |= {word + "s", word + "d", word[:-1] + "ing", word + "ing"}
    elif word.endswith("y") and word[-2] not in _VOWELS:
        forms |= {word[:-1] + "ies", word[:-1] + "ied", word + "ing"}
    elif word.endswith(("s", "x", "z", "ch", "sh")):
        forms |= {word + "es", word + "ed", word + "ing"}
    else:
        forms |= {word + "s", word + "ed", word + "ing"}
        # "plan" -> "planned": a word ending consonant-vowel-consonant may double it.
        if word[-1] not in "aeiouwxy" and word[-2] in _VOWELS and word[-3] not in _VOWELS:
            forms |= {word + word[-1] + "ed", word + word[-1] + "ing"}
    return forms


def words_of(wording: str) -> str:
    """A wording as the matcher compares it: lowercase, punctuation as single spaces."""
    return " ".join(wording.lower().translate(_TO_SPACE).split())


def is_pattern(wording: str) -> bool:
    """Whether a wording is a regular expression (written between slashes)."""
    return len(wording) > 2 and wording.startswith("/") and wording.endswith("/")


def wording_keys(wording: str) -> list[tuple[str, CaseCheck | None]]:
    """Automaton keys for a plain wording, each with the case check it needs, if any.

    Unquoted: every inflection of the last word counts; a wording in capitals ("US") must
    be in capitals in the text. In double quotes: only that form, and that case if it has
    capitals.
    """
    exact = len(wording) > 2 and wording.startswith('"') and wording.endswith('"')
    body = wording[1:-1] if exact else wording
    base = words_of(body)
    if not base:
        return []
    if exact:
        cased = " ".join(body.translate(_TO_SPACE).split())
        exact_check: CaseCheck | None = (
            (0, len(cased), cased, 0) if cased != cased.lower() else None
        )
        return [(" " + base, exact_check)]
    words = base.split(" ")
    written = body.translate(_TO_SPACE).split()  # the same words, as written
    if len(words) > 1 and words[-1] == "s" and re.search(r"['\u2019]s$", body):
        # "Pyongyang's" is "Pyongyang": possessives match anyway, and a last word "s" would
        # swallow the start of the next word ("Pyongyang splashed").
        words.pop()
        written.pop()
        base = " ".join(words)
    capitals = body.upper() == body and body.lower() != body
    if capitals:
        # Acronyms take only a plural ("ICBMs"), and must be in capitals.
        capitals_check: CaseCheck = (0, len(base), None, 0)
        return [(" " + base, capitals_check), (" " + base + "s", capitals_check)]
    # Inflect the last word ("missile tests"), or the first when the last is a particle
    # ("warns of", "lifted off").
    at = 0 if len(words) > 1 and words[-1] in _PARTICLES else len(words) - 1
    # A capitalised word is a name: it takes a plural ("Scuds"), not verb forms.
    name = len(written) == len(words) and written[at][:1].isupper()
    return [
        (" " + " ".join([*words[:at], form, *words[at + 1 :]]), None)
        for form in sorted(inflections(words[at], verb=not name))
    ]


def compile_pattern(pattern: str) -> tuple[re.Pattern[str], bool]:
    """Compile a pattern for lowercase text: literal letters lowered, escapes kept.

    Matching lowercase text without re.IGNORECASE, from a literal, keeps the regex engine's
    fast literal search (ten to thirty times faster on 2 KB). So a leading word boundary
    before a letter is dropped, and the flag says to check it on each match instead.
    """
    out: list[str] = []
    escaped = False
    for char in pattern:
        out.append(char if escaped else char.lower())
        escaped = char == "\\" and not escaped
    lowered = "".join(out)
    boundary = lowered.startswith("\\b") and lowered[2:3].isalnum()
    return re.compile(lowered[2:] if boundary else lowered), boundary
