"""Tagging throughput: 100,000 generated items of 1-3 KB against the sample themes.

    python benchmarks/tagging.py [--items 100000] [--runs 3] [--config config.toml]

Items are generated deterministically and in batches, so memory stays flat however many
are tagged; only the tagger's own time is counted. Runs on one core (pinned where the OS
allows). Prints items/s for each run and their median, and the peak RSS after 10,000 and
after all items. Rates are per second of this process's CPU time, which other load on the
machine does not inflate; wall-clock rates are shown beside them.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from digest.config import load_settings
from digest.tagging import build_tagger

BATCH = 1_000

ACTORS = [
    "North Korea",
    "Pyongyang",
    "the North",
    "South Korea",
    "Seoul",
    "Japan",
    "Tokyo",
    "the United States",
    "Washington",
    "China",
    "Beijing",
    "Russia",
    "Moscow",
    "Kim Jong Un",
    "Xi Jinping",
    "the Pentagon",
    "South Korea's military",
]
ACTIONS = [
    "fired",
    "launched",
    "test-fired",
    "condemned",
    "agreed on",
    "discussed",
    "unveiled",
    "called for restraint over",
    "imposed sanctions after",
    "held talks on",
    "staged joint drills after",
    "tracked",
    "warned against",
]
OBJECTS = [
    "two short-range ballistic missiles",
    "an intercontinental ballistic missile",
    "a Hwasong-18",
    "a KN-23",
    "a spy satellite",
    "a cruise missile",
    "the launch",
    "the alliance",
    "extended deterrence",
    "trilateral security cooperation",
    "the THAAD deployment",
    "a new trade deal",
    "tariffs on steel",
    "the parade",
    "the nuclear test",
    "the summit",
    "a joint exercise",
    "the Korean Peninsula",
]
TAILS = [
    "on Thursday",
    "off its east coast",
    "into the East Sea",
    "at a parade in Pyongyang",
    "according to state media",
    "officials said",
    "the defence ministry said",
    "despite UN sanctions",
    "after weeks of talks",
    "in a statement",
]
FILLER = [
    "The central bank left interest rates unchanged as inflation eased for a third month.",
    "Retail sales rose 2.1 percent in the quarter, led by online shopping and travel.",
    "Heavy rain is expected across the southern provinces through the weekend.",
    "The film opened to strong reviews and topped the box office in its first week.",
    "Shares of chipmakers climbed after a rival reported record orders for AI servers.",
    "The city council approved a plan to expand bus lanes along the riverside avenue.",
    "Officials said the new rail line would cut travel times between the two cities by half.",
    "Researchers published a study on sleep patterns among office workers in their thirties.",
    "The football club confirmed the signing of a midfielder on a three-year contract.",
    "A museum exhibition of contemporary ceramics drew record crowds over the holiday.",
    "Analysts said consumer confidence had improved, though housing prices remained weak.",
    "The ministry announced subsidies for farmers hit by an unusually dry summer.",
]


CONNECTORS = ["days after", "hours before", "as", "while", "a week after", "even as"]
ASIDES = [
    "according to figures released on Monday",
    "the first such change in more than a decade",
    "a spokesperson said in a briefing",
    "though some economists urged caution",
    "in a move that surprised local observers",
    "with more details due later this month",
]


def _clause(rng: random.Random) -> str:
    return f"{rng.choice(ACTORS)} {rng.choice(ACTIONS)} {rng.choice(OBJECTS)}"


def generate(count: int, seed: int = 7, share: float = 0.33) -> Iterator[tuple[str, str]]:
    """Yield `count` (title, text) items of 1-3 KB, the same ones for the same seed.

    A third of the sentences (`share`) report theme events, in two clauses ("North Korea
    fired a KN-23 off its east coast, days after Seoul held talks on the alliance."); the
    rest are everyday news. That gives about 23 theme matches per KB in sentences of about
    110 characters, like the sample deployment's seed articles (21 per KB, 122 characters).
    """
    rng = random.Random(seed)
    for _ in range(count):
        target = rng.randint(1_000, 3_000)
        title = _clause(rng)
        parts: list[str] = []
        size = 0
        while size < target:
            if rng.random() < share:
                sentence = (
                    f"{_clause(rng)} {rng.choice(TAILS)}, {rng.choice(CONNECTORS)} {_clause(rng)}."
                )
                sentence = sentence[0].upper() + sentence[1:]
            else:
                sentence = f"{rng.choice(FILLER)[:-1]}, {rng.choice(ASIDES)}."
            parts.append(sentence)
            size += len(sentence) + 1
        yield title, " ".join(parts)[:target]


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (ru_maxrss is KB on Linux)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / (1024 if sys.platform == "darwin" else 1)


def run(
    tagger: object, items: int, *, share: float, report_at: int | None = None
) -> tuple[float, float, float | None]:
    """Tag `items` generated items; return items per CPU second and per wall-clock second,
    and the peak RSS at `report_at` items."""
    tag = tagger.tag  # type: ignore[attr-defined]
    source = generate(items, share=share)
    cpu = wall = 0.0
    done = 0
    rss_at: float | None = None
    while done < items:
        batch = [next(source) for _ in range(min(BATCH, items - done))]
        start_cpu, start_wall = time.process_time(), time.perf_counter()
        for title, text in batch:
            tag(title, text)
        cpu += time.process_time() - start_cpu
        wall += time.perf_counter() - start_wall
        done += len(batch)
        if report_at is not None and rss_at is None and done >= report_at:
            rss_at = peak_rss_mb()
    return items / cpu, items / wall, rss_at


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--share", type=float, default=0.33, help="Share of sentences about the themes."
    )
    parser.add_argument("--config", type=Path, default=Path(__file__).parents[1] / "config.toml")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    settings = load_settings(args.config)
    tagger = build_tagger(settings.themes)
    sizes = [len(title) + len(text) for title, text in generate(1_000, share=args.share)]
    print(
        f"{args.items:,} items of {min(sizes):,}-{max(sizes):,} bytes "
        f"(mean {statistics.mean(sizes):,.0f}), themes: {', '.join(settings.themes)}"
    )
    rates = []
    for number in range(args.runs):
        first = number == 0
        rate, wall_rate, rss_small = run(
            tagger, args.items, share=args.share, report_at=10_000 if first else None
        )
        rates.append(rate)
        print(f"run {number + 1}: {rate:,.0f} items/s ({wall_rate:,.0f} by the wall clock)")
        if first:
            print(
                f"peak RSS: {rss_small or peak_rss_mb():.1f} MB after 10,000 items, "
                f"{peak_rss_mb():.1f} MB after {args.items:,}"
            )
    print(f"median: {statistics.median(rates):,.0f} items/s on one core")


if __name__ == "__main__":
    main()
