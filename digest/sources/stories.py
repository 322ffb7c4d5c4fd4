"""The same story from several sources: MinHash signatures of word shingles, and an index.

Each item gets a 128-value MinHash of the 3-word shingles of its title and the opening of
its text (computed in the parsing process). When an item is stored, the index of recent
items from *other* sources is asked for candidates (LSH), the best candidate whose
estimated Jaccard similarity reaches the threshold is checked, and the new item joins that
candidate's story. Compose then shows the story once, with "also reported by".
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from datasketch import MinHash

NUM_PERM = 128
SCHEME = "affine32"
SHINGLE_WORDS = 3
MAX_WORDS = 100  # the opening is what syndicated copies share; more only costs time
MIN_SHINGLES = 8  # a few words are no evidence of anything
_WORD = re.compile(r"\w+")
_BASE = MinHash(num_perm=NUM_PERM, seed=1, scheme=SCHEME)


def signature(title: str, text: str) -> bytes:
    """The MinHash of the item's shingles as bytes, or b"" when there is too little text."""
    words = _WORD.findall(f"{title} {text}".casefold())[:MAX_WORDS]
    shingles = {
        " ".join(words[i : i + SHINGLE_WORDS]).encode()
        for i in range(len(words) - SHINGLE_WORDS + 1)
    }
    if len(shingles) < MIN_SHINGLES:
        return b""
    minhash = MinHash(
        num_perm=NUM_PERM,
        seed=1,
        permutations=_BASE.permutations,
        scheme=SCHEME,
        hashfunc=zlib.crc32,  # C-fast and stable across processes; the scheme mixes it anyway
    )
    minhash.update_batch(list(shingles))
    return bytes(minhash.hashvalues.astype("<u4").tobytes())


def similarity(a: bytes, b: bytes) -> float:
    """Estimated Jaccard similarity of two signatures."""
    if not a or not b or len(a) != len(b):
        return 0.0
    return float(np.count_nonzero(_values(a) == _values(b))) / NUM_PERM


def _values(sig: bytes) -> np.ndarray[Any, np.dtype[np.uint32]]:
    return np.frombuffer(sig, dtype="<u4")


@dataclass(frozen=True, slots=True)
class Known:
    item_id: int
    source_id: str
    story_id: int
    signature: bytes


class StoryIndex:
    """Recent items' signatures, to find the story a new item belongs to.

    Locality-sensitive hashing by banding: the 128 values are cut into bands, and two items
    that agree on a whole band become candidates, then compared in full. The band width
    follows the threshold so that a pair at the threshold is found 9 times in 10 or more:
    32 bands of 4 from 0.45 up (a pair at 0.5 is found with probability 0.87, at 0.6 0.99),
    42 of 3 from 0.3, else 64 of 2. Built from the store once per run and grown as items
    are added; it lives no longer than one refresh run.
    """

    def __init__(self, threshold: float, known: Iterable[Known] = ()) -> None:
        self.threshold = threshold
        rows = 4 if threshold >= 0.45 else 3 if threshold >= 0.3 else 2
        self._rows, self._bands_count = rows, NUM_PERM // rows
        self._buckets: dict[tuple[int, bytes], list[int]] = {}
        self._known: dict[int, Known] = {}
        for k in known:
            self.add(k)

    def __len__(self) -> int:
        return len(self._known)

    def _bands(self, sig: bytes) -> list[tuple[int, bytes]]:
        width = self._rows * 4  # bytes: 4 per value
        return [(i, sig[i * width : (i + 1) * width]) for i in range(self._bands_count)]

    def add(self, known: Known) -> None:
        if len(known.signature) != NUM_PERM * 4 or known.item_id in self._known:
            return
        self._add(known, self._bands(known.signature))

    def _add(self, known: Known, bands: list[tuple[int, bytes]]) -> None:
        self._known[known.item_id] = known
        for band in bands:
            self._buckets.setdefault(band, []).append(known.item_id)

    def story_for(self, source_id: str, sig: bytes) -> int | None:
        """The story id of the most similar recent item from another source, if one is."""
        if len(sig) != NUM_PERM * 4:
            return None
        return self._best(source_id, sig, self._bands(sig))

    def place(self, item_id: int, source_id: str, sig: bytes) -> int | None:
        """Find the new item's story (as `story_for`), then remember the item itself."""
        if len(sig) != NUM_PERM * 4 or item_id in self._known:
            return None
        bands = self._bands(sig)
        story = self._best(source_id, sig, bands)
        self._add(Known(item_id, source_id, story or item_id, sig), bands)
        return story

    def _best(self, source_id: str, sig: bytes, bands: list[tuple[int, bytes]]) -> int | None:
        candidates = {i for band in bands for i in self._buckets.get(band, ())}
        scored = [
            (similarity(sig, known.signature), -known.story_id)
            for known in (self._known[i] for i in candidates)
            if known.source_id != source_id
        ]
        good = [s for s in scored if s[0] >= self.threshold]
        return -max(good)[1] if good else None  # the most alike; on a tie, the oldest story
