"""Compose benchmark: 10,000 subscribers (50 theme combinations) over 100,000 stored items.

    .venv/bin/python -m benchmarks.compose [--subscribers N] [--items N] [--runs N] [--spread]

It builds a SQLite database in a temporary folder (items spread over a year, one to three
themes each, some stories reported twice, some alerts already sent), then composes every
subscriber's digest as `digest send` does: 500 readers at a time through
`compose_digests`. It prints the median rate over several runs and the database queries
per digest, counted with a SQLAlchemy event listener; then the same for composing one
reader at a time (as `digest preview` and `send --force --subscriber` do).

Most readers had their last digest at 07:00 in one of five zones, as daily readers do, so
readers share windows; `--spread` gives each reader a window of their own instead.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, update

from digest.compose import compose_digest, compose_in_chunks
from digest.config import Settings, settings_from_dict
from digest.models import Digest, Subscriber
from digest.store import Store
from digest.store.schema import items, subscribers, tags

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
THEMES = [f"theme{n}" for n in range(10)]
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Seoul", "Australia/Sydney"]
SOURCES = ["wire-a", "wire-b", "wire-c", "wire-d", "wire-e"]
CHUNK = 500  # what digest.schedule.send_due composes at once


def settings() -> Settings:
    raw: dict[str, Any] = {
        "digest": {"title": "Bench", "first_digest_days": 7},
        "themes": {t: {"label": t.title(), "threshold": 0.5} for t in THEMES},
    }
    return settings_from_dict(raw, base_dir=Path("."), origin="benchmark")


def theme_combinations(rng: random.Random, count: int) -> list[tuple[str, ...]]:
    found: set[tuple[str, ...]] = set()
    while len(found) < count:
        size = rng.choice([1, 2, 2, 3, 3, 4])
        found.add(tuple(sorted(rng.sample(THEMES, size))))
    return sorted(found)


def build(
    store: Store, n_items: int, n_subscribers: int, rng: random.Random, *, spread: bool = False
) -> None:
    """Fill the store: items over a year, their tags, subscribers, a few alerts sent."""
    store.sync_sources([(s, "feed", f"{s}.xml", s.title()) for s in SOURCES], NOW)
    item_rows: list[dict[str, Any]] = []
    tag_rows: list[dict[str, Any]] = []
    for n in range(1, n_items + 1):
        # Spread over the year before NOW, a little denser towards NOW as feeds are.
        seen = NOW - timedelta(minutes=int(365 * 24 * 60 * (1 - n / n_items) ** 1.2) + 1)
        item_rows.append(
            {
                "id": n,
                "source_id": SOURCES[n % len(SOURCES)],
                "guid": f"g{n}",
                "url": f"https://example.org/{n}",
                "title": f"Story {n}",
                "summary_html": f"<p>Text of story {n}</p>",
                "text": f"Text of story {n}",
                "author": "",
                "published_at": seen - timedelta(minutes=rng.randint(0, 600)),
                "first_seen_at": seen,
                "updated_at": seen,
                "content_hash": f"{n:064x}",
                # One report in twenty is another source's take on the story before it.
                "story_id": n - 1 if n % 20 == 0 else None,
            }
        )
        for theme in rng.sample(THEMES, rng.choice([1, 1, 2, 3])):
            score = round(rng.uniform(0.3, 1.0), 2)
            tag_rows.append(
                {"item_id": n, "theme": theme, "score": score, "evidence": [[theme, "why", score]]}
            )
    with store.write() as conn:
        conn.execute(items.insert(), item_rows)
        conn.execute(tags.insert(), tag_rows)
    made = n_items
    combos = theme_combinations(rng, 50)
    readers = []
    for n in range(n_subscribers):
        readers.append(
            Subscriber(
                0,
                f"reader{n}@example.org",
                f"Reader {n}",
                combos[n % len(combos)],
                "daily 07:00",
                ZONES[n % len(ZONES)],
                max_items=rng.choice([10, 20, 30]),
                min_score=rng.choice([0.0, 0.0, 0.6]),
            )
        )
    store.sync_subscribers(readers, NOW)
    # Most readers had yesterday's digest (at 07:00 in their zone); one in ten never had one.
    with store.write() as conn:
        for i, zone in enumerate(ZONES):
            from zoneinfo import ZoneInfo

            local = (NOW - timedelta(days=1)).astimezone(ZoneInfo(zone))
            last = local.replace(hour=7, minute=0, second=0, microsecond=0)
            conn.execute(
                update(subscribers)
                .where((subscribers.c.id % len(ZONES)) == (i + 1) % len(ZONES))
                .where(subscribers.c.id % 10 != 0)
                .values(last_digest_at=last)
            )
    if spread:  # the worst case: no two readers' windows start together
        with store.write() as conn:
            for sub in store.list_subscribers():
                conn.execute(
                    update(subscribers)
                    .where(subscribers.c.id == sub.id)
                    .values(last_digest_at=NOW - timedelta(seconds=rng.randint(60, 86_400)))
                )
    # One reader in twenty got an alert this morning: compose must leave its items out.
    recent = [i.id for i in store.get_items(range(max(1, made - 200), made + 1))]
    for sub in store.list_subscribers()[::20]:
        store.queue_message(
            key=f"alert:{sub.id}:bench",
            kind="alert",
            subscriber_id=sub.id,
            recipient=sub.email,
            window_start=NOW - timedelta(hours=6),
            window_end=NOW,
            subject="alert",
            message_id=f"<{sub.id}@bench>",
            message=b"x",
            item_ids=rng.sample(recent, min(3, len(recent))),
            now=NOW - timedelta(hours=1),
        )


class QueryCounter:
    """Counts the statements sent to the database (not the BEGINs around them)."""

    def __init__(self, store: Store) -> None:
        self.count = 0
        event.listen(store.engine, "before_cursor_execute", self._count)

    def _count(self, _conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            self.count += 1


def timed(
    work: Callable[[], list[Digest]], counter: QueryCounter
) -> tuple[float, int, list[Digest]]:
    start_queries = counter.count
    start = time.perf_counter()
    digests = work()
    return time.perf_counter() - start, counter.count - start_queries, digests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--single-sample", type=int, default=500)
    parser.add_argument(
        "--spread",
        action="store_true",
        help="Give every reader a different last digest time (the worst case for sharing).",
    )
    args = parser.parse_args()
    rng = random.Random(7)
    config = settings()
    with tempfile.TemporaryDirectory() as folder:
        store = Store.open(f"sqlite:///{Path(folder) / 'bench.db'}")
        started = time.perf_counter()
        build(store, args.items, args.subscribers, rng, spread=args.spread)
        readers = store.list_subscribers()
        print(
            f"built {store.count_items():,} items and {len(readers):,} subscribers "
            f"in {time.perf_counter() - started:.1f}s"
        )
        counter = QueryCounter(store)

        def batched() -> list[Digest]:
            out: list[Digest] = []
            for digests in compose_in_chunks(store, config, readers, NOW, chunk=CHUNK):
                out += digests
            return out

        runs = [timed(batched, counter) for _ in range(args.runs)]
        seconds = statistics.median(r[0] for r in runs)
        queries = runs[0][1]
        digests = runs[0][2]
        entries = sum(len(d.entries) for d in digests)
        print(
            f"batched, {CHUNK} readers at a time (digest send): median of {args.runs} runs "
            f"{seconds:.3f}s for {len(digests):,} digests = {len(digests) / seconds:,.0f} "
            f"digests/s; {queries} queries = {queries / len(digests):.3f} queries per digest; "
            f"{entries / len(digests):.1f} items per digest, "
            f"{sum(d.omitted for d in digests) / len(digests):.1f} left out by the limit"
        )
        sample = readers[: args.single_sample]

        def one_at_a_time() -> list[Digest]:
            return [compose_digest(store, config, s, NOW) for s in sample]

        singles = [timed(one_at_a_time, counter) for _ in range(max(1, args.runs // 2))]
        seconds = statistics.median(r[0] for r in singles)
        print(
            f"one reader at a time (preview, send --force --subscriber): "
            f"{len(sample) / seconds:,.0f} digests/s; "
            f"{singles[0][1] / len(sample):.1f} queries per digest"
        )
        by_reader = {d.subscriber.id: d for d in digests}
        assert one_at_a_time() == [by_reader[s.id] for s in sample], "batched and single differ"
        store.close()


if __name__ == "__main__":
    main()
