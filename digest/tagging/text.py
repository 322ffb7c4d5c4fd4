"""Text as the tagger sees it: markup removed, entities decoded, sentences found.

Every string derived here keeps the offsets of `Document.text`, so a match found in the
normalised form points straight at the words (and the sentence) a reader sees.
"""

from __future__ import annotations

import html
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from itertools import pairwise

_BLOCK_TAG = re.compile(
    r"<\s*(?:br\b[^>]*|/?\s*(?:p|div|li|ul|ol|h[1-6]|blockquote|tr|table|section|article)\b[^>]*)>",
    re.IGNORECASE,
)
_TAG = re.compile(r"<[^>]*>")

# Typographic characters mapped to ASCII one for one, so offsets do not move.
_TYPOGRAPHY = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u00a0": " ",
        "\u2009": " ",
        "\u202f": " ",
        "\u00ad": "-",
        "\u2026": ".",
    }
)

# Punctuation that separates words: turned into spaces for matching ("U.S." is "u s").
SEPARATORS = "-'\"`,;:()[]{}/\\|&*+=<>@#$%^~_.!?\t\n\r\f\v"
_TO_SPACE = str.maketrans(dict.fromkeys(SEPARATORS, " "))
_TO_SPACE_BYTES = bytes.maketrans(SEPARATORS.encode(), b" " * len(SEPARATORS))

_ABBREVIATIONS_2 = "Mr|Ms|Dr|St|No|Jr|Sr|vs|Lt|Co|Mt|Ft"
_ABBREVIATIONS_3 = (
    "Mrs|Gen|Col|Sgt|Rep|Sen|Gov|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Oct|Nov|Dec|Inc|Ltd|Adm|Maj"
)
_ABBREVIATIONS_4 = "Capt|Corp|Sept|Prof|Cmdr"
# A sentence ends at a full stop (not an initial's or a common abbreviation's) followed by
# space and a capital or a digit. The pattern starts with a literal "." so the regex engine
# can use its fast literal search: "!" and "?" are mapped to "." first when present.
_SENTENCE_END = re.compile(
    r"\."
    r"(?<!\b[A-Z]\.)"  # initials and "U.S."
    rf"(?<!\b(?:{_ABBREVIATIONS_2})\.)"
    rf"(?<!\b(?:{_ABBREVIATIONS_3})\.)"
    rf"(?<!\b(?:{_ABBREVIATIONS_4})\.)"
    r"[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])"
)
_PARAGRAPH_END = re.compile(r"\n[ \t]*\n\s*")
_MARKS = str.maketrans({"!": ".", "?": "."})


def strip_markup(fragment: str) -> str:
    """Plain text of an HTML fragment: tags dropped (block tags end paragraphs), entities read."""
    if "<" in fragment:
        fragment = _TAG.sub(" ", _BLOCK_TAG.sub("\n\n", fragment))
    if "&" in fragment:
        fragment = html.unescape(fragment)
    return fragment


# Written into `Document.words` where each sentence after the title begins (two characters
# before it, on the stop or space that ends the sentence before), so the one automaton pass
# that finds the wordings also reports sentence ends in text order.
SENTENCE_MARK = "\x01"
_MARK_BYTE = ord(SENTENCE_MARK)


@dataclass(slots=True)
class Document:
    """A title and its text, prepared once and shared by every theme.

    `text` is what readers see (title, blank line, body); `lower` is its lowercase form and
    `words` the same with word-separating punctuation turned into spaces, one space added
    at each end (so `words[i + 1]` is `text[i]`) and `SENTENCE_MARK` where a sentence ends.
    `starts` holds the offsets where the sentences after the title begin.
    """

    text: str
    title_end: int
    lower: str
    words: str
    starts: list[int]
    _sentences: dict[int, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, title: str, body: str) -> Document:
        """Prepare a title and a plain-text or HTML body for matching."""
        title = " ".join(strip_markup(title).split())
        text = f"{title}\n\n{strip_markup(body)}"
        if text.isascii():  # the common case, and bytes translate twice as fast
            starts = _sentence_starts(text, len(title))
            lower = text.lower()
            spaced = bytearray(lower.encode("ascii").translate(_TO_SPACE_BYTES))
            spaced[len(title)] = _MARK_BYTE
            for start in starts[1:]:
                spaced[start - 2] = _MARK_BYTE
            return cls(text, len(title), lower, f" {spaced.decode('ascii')} ", starts)
        text = text.translate(_TYPOGRAPHY)
        lower = text.lower()
        if len(lower) != len(text):  # "İ" lowercases to "i" and a dot: keep the "i" alone
            lower = "".join(c.lower()[:1] for c in text)
        starts = _sentence_starts(text, len(title))
        words = lower.translate(_TO_SPACE)
        marks = [len(title), *(start - 2 for start in starts[1:])]
        pieces = [words[: marks[0]]]
        pieces.extend(words[mark + 1 : after] for mark, after in pairwise(marks))
        pieces.append(words[marks[-1] + 1 :])
        return cls(text, len(title), lower, f" {SENTENCE_MARK.join(pieces)} ", starts)

    def sentence_index(self, offset: int) -> int:
        """Which sentence an offset of `text` is in; sentence 0 is the title."""
        return bisect_right(self.starts, offset)

    def sentence(self, index: int) -> str:
        """The text of one sentence, on one line."""
        known = self._sentences.get(index)
        if known is not None:
            return known
        starts = self.starts
        start = starts[index - 1] if index > 0 else 0
        end = starts[index] if index < len(starts) else len(self.text)
        sentence = self.text[start:end].strip()
        if "\n" in sentence or "  " in sentence or "\t" in sentence:
            sentence = " ".join(sentence.split())
        self._sentences[index] = sentence
        return sentence


def _sentence_starts(text: str, title_end: int) -> list[int]:
    """Offsets where the sentences after the title begin: the body's first, then one after
    each sentence or paragraph end. Each is at least two characters past the one before."""
    body = title_end + 2
    marked = text.translate(_MARKS) if "!" in text or "?" in text else text
    starts = [m.end() for m in _SENTENCE_END.finditer(marked, body)]
    if text.find("\n", body) >= 0:
        starts.extend(m.end() for m in _PARAGRAPH_END.finditer(text, body))
        starts = sorted(set(starts))
    starts.insert(0, title_end + 1)
    return starts
