"""Checks on a feed's bytes before feedparser sees them.

feedparser keeps a feed's "safe" internal entities (no nested references) and, when expat
refuses a document, its loose parser expands them itself. One entity of 100 KB used
10,000 times is then a gigabyte: the "quadratic blowup". Rather than refusing every entity
(real feeds declare a few), this module works out how much text the declared entities
would expand to and refuses only a document past a budget. External entities are refused:
digest never fetches them, and a feed that declares one is either broken or probing.
"""

from __future__ import annotations

import re
from collections import Counter

# More expanded entity text than this (in characters) and the feed is refused.
EXPANSION_BUDGET = 1_000_000
MAX_DECLARATIONS = 100

# feedparser's own notion of where the prolog ends: the first "<" followed by a word character.
_FIRST_ELEMENT = re.compile(r"<\w", re.ASCII)
_FIRST_ELEMENT_BYTES = re.compile(rb"<\w")
_ENTITY_KEYWORD = re.compile(r"<!ENTITY", re.IGNORECASE)
_ENTITY_KEYWORD_BYTES = re.compile(rb"<!ENTITY", re.IGNORECASE)
_DECLARATION = re.compile(
    r"""<!ENTITY\s+(?P<param>%\s+)?(?P<name>[^\s%"'>]+)\s+
        (?:(?P<external>SYSTEM|PUBLIC)\b(?P<ids>[^>]*)|"(?P<dq>[^"]*)"|'(?P<sq>[^']*)')
        \s*(?:NDATA\s+\S+\s*)?>""",
    re.IGNORECASE | re.VERBOSE,
)
_REFERENCE = re.compile(r"&([A-Za-z_:][\w.:-]*);")
_BOMS = (
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
)
_PATTERNS = (
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<\x00", "utf-16-be"),
    (b"<\x00", "utf-16-le"),
    (b"\x4c\x6f\xa7\x94", "cp037"),  # "<?xm" in EBCDIC, which feedparser also reads
)


def wide_codec(body: bytes) -> tuple[str, int] | None:
    """The codec and BOM length of a document whose markup is not ASCII bytes, if it is one."""
    for prefix, codec in _BOMS:
        if body.startswith(prefix):
            return codec, len(prefix)
    for prefix, codec in _PATTERNS:
        if body.startswith(prefix):
            return codec, 0
    return None


def entity_problem(body: bytes) -> str | None:
    """Why the document's entity declarations make it unsafe to parse, or None if they don't.

    Like feedparser, the declarations looked at are those before the first element.
    ASCII-compatible encodings (UTF-8, Latin-1, Shift-JIS, ...) keep markup bytes where they
    are; the wide ones are decoded first, or a UTF-16 document would hide its declarations.
    """
    wide = wide_codec(body)
    if wide is None:
        first_b = _FIRST_ELEMENT_BYTES.search(body)
        if not _ENTITY_KEYWORD_BYTES.search(body, 0, first_b.start() if first_b else len(body)):
            return None
        text = body.decode("latin-1")
    else:
        codec, skip = wide
        text = body[skip:].decode(codec, errors="replace")
    first = _FIRST_ELEMENT.search(text)
    prolog = text[: first.start()] if first else text
    declared = _ENTITY_KEYWORD.findall(prolog)
    if not declared:
        return None
    if len(declared) > MAX_DECLARATIONS:
        return (
            f"the feed declares {len(declared)} XML entities (at most {MAX_DECLARATIONS} are read)"
        )
    values: dict[str, str] = {}
    parsed = 0
    for match in _DECLARATION.finditer(prolog):
        parsed += 1
        if match.group("param"):
            continue  # parameter entities are never expanded in the document's text
        name = match.group("name")
        if match.group("external"):
            target = " ".join(match.group("ids").split()) or "an external file"
            return (
                f"the feed declares an external XML entity '{name}' ({target}); digest never "
                "fetches those, so the feed was not read"
            )
        values[name] = match.group("dq") if match.group("dq") is not None else match.group("sq")
    if parsed != len(declared):
        return "the feed has an XML entity declaration that cannot be checked, so it was not read"
    if not values:
        return None
    sizes: dict[str, int] = {}
    for name in values:
        size = _expanded_size(name, values, sizes, set())
        if size is None:
            return f"the XML entity '{name}' refers to itself"
    uses = Counter(m.group(1) for m in _REFERENCE.finditer(text, len(prolog)))
    total = sum(sizes[name] * count for name, count in uses.items() if name in sizes)
    if total > EXPANSION_BUDGET:
        return (
            f"the feed's XML entities would expand to more than {EXPANSION_BUDGET:,} characters "
            "(an entity-expansion attack, or a broken feed), so it was not read"
        )
    return None


def _expanded_size(
    name: str, values: dict[str, str], sizes: dict[str, int], visiting: set[str]
) -> int | None:
    """How many characters `&name;` becomes, following references, without expanding it.

    Sizes are capped just past the budget so that a nested bomb costs microseconds.
    """
    if name in sizes:
        return sizes[name]
    if name in visiting:
        return None
    visiting.add(name)
    value = values[name]
    size = len(_REFERENCE.sub("", value))
    for ref in _REFERENCE.findall(value):
        if ref in values:
            inner = _expanded_size(ref, values, sizes, visiting)
            if inner is None:
                return None
            size = min(size + inner, EXPANSION_BUDGET + 1)
    visiting.discard(name)
    sizes[name] = size
    return size
