"""Ingestion benchmark: end to end against bare feedparser, on one core and on all of them.

    python benchmarks/ingest.py [--feeds 40] [--rounds 3]

It generates realistic feeds (20-100 items each, HTML summaries with links, images and a
tracking pixel), serves them from a local HTTP server on 127.0.0.1, and ingests them with
`refresh_all`: fetch, parse, clean, dedupe, link stories, tag and store in a fresh SQLite
database ("cold": every item is new). A second pass over the same feeds gets only 304s
("warm"). In the same process it times bare `feedparser.parse` (default settings) on the
same bytes, pinned to one core, as the reference. Each round runs in a fresh process (so
the parsing processes start afresh too); the figures printed are medians over rounds.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# Everyday news vocabulary, with the sample themes' words now and then, as in real feeds.
COMMON = (
    "the a of to and in for on that with as by at from said was were is are has have had "
    "will would could after before over under about more than new year years week people "
    "government officials city council school police court report plan market prices "
    "company companies workers union hospital health water energy power local national "
    "state minister president election vote campaign budget tax rates housing rent "
    "weather storm rain season festival museum music film team game season coach players "
    "fans league record study researchers university data online service customers "
    "announced expected reported according statement spokesperson told reporters monday "
    "tuesday wednesday thursday friday weekend morning evening north south east west"
).split()
TOPICAL = (
    "missile launch pyongyang seoul tokyo beijing sanctions alliance drills envoy summit "
    "satellite rocket"
).split()


def sentence(rng: random.Random) -> str:
    words = [
        rng.choice(TOPICAL) if rng.random() < 0.03 else rng.choice(COMMON)
        for _ in range(rng.randint(12, 24))
    ]
    return " ".join(words).capitalize() + "."


def summary_html(rng: random.Random, n: int, i: int) -> str:
    """About 1.3 KB of the HTML that blogs and news sites put in their feeds."""
    parts = []
    for k in range(rng.randint(2, 4)):
        text = " ".join(sentence(rng) for _ in range(rng.randint(1, 3)))
        words = text.split(" ")
        at = rng.randrange(len(words))
        words[at] = (
            f'<a href="https://site{n}.example/topic/{words[at].strip(".").lower()}" '
            f'title="More on this">{words[at]}</a>'
        )
        words[rng.randrange(len(words))] = f"<strong>{rng.choice(COMMON)}</strong>"
        words[rng.randrange(len(words))] = f"<em>{rng.choice(COMMON)}</em>"
        parts.append(f'<p class="para-{k}">{" ".join(words)}</p>')
    image = (
        f'<figure class="wp-block-image size-large"><img class="wp-image-{i}" '
        f'src="/uploads/{n}/{i}.jpg" srcset="/uploads/{n}/{i}-300.jpg 300w, '
        f'/uploads/{n}/{i}-1024.jpg 1024w" sizes="(max-width: 1024px) 100vw" alt="Photo" '
        f'width="1024" height="683" style="max-width:100%"><figcaption>{sentence(rng)}'
        f"</figcaption></figure>"
    )
    parts.insert(1, image)
    if rng.random() < 0.3:
        parts.append("<ul>" + "".join(f"<li>{sentence(rng)}</li>" for _ in range(3)) + "</ul>")
    parts.append(
        f'<p>The post <a href="https://site{n}.example/{i}" rel="nofollow">appeared first</a> '
        f'on Site {n}.</p><img src="https://stats.example/p.gif?i={i}" width="1" height="1">'
    )
    return "".join(parts)


def make_feeds(count: int, seed: int = 7) -> dict[str, bytes]:
    """`count` RSS feeds of 20-100 items with HTML summaries, keyed by URL path."""
    rng = random.Random(seed)
    feeds = {}
    for n in range(count):
        items = []
        for i in range(rng.randint(20, 100)):
            title = sentence(rng).rstrip(".")[:90]
            items.append(
                f"<item><title>{title}</title>"
                f"<link>https://site{n}.example/{i}?utm_source=rss&amp;utm_medium=feed</link>"
                f'<guid isPermaLink="false">site{n}-{i}</guid>'
                f"<pubDate>Sun, 22 Nov 2026 {i % 24:02d}:{i % 60:02d}:00 GMT</pubDate>"
                f"<dc:creator>Reporter {i % 7}</dc:creator>"
                f"<description><![CDATA[{summary_html(rng, n, i)}]]></description></item>"
            )
        feeds[f"/feed{n}.xml"] = (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
            f"<title>Site {n}</title><link>https://site{n}.example/</link>"
            f"<description>Benchmark feed {n}</description>{''.join(items)}</channel></rss>"
        ).encode()
    return feeds


def serve(feeds: dict[str, bytes]) -> ThreadingHTTPServer:
    etags = {path: '"' + hashlib.sha1(body).hexdigest() + '"' for path, body in feeds.items()}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            return None

        def do_GET(self) -> None:  # noqa: N802
            body = feeds.get(self.path)
            if body is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if self.headers.get("If-None-Match") == etags[self.path]:
                self.send_response(304)
                self.send_header("ETag", etags[self.path])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("ETag", etags[self.path])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    ThreadingHTTPServer.request_queue_size = 128  # a real server's backlog, not socketserver's 5
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def one_round(base: str, feed_count: int, cores: str, folder: Path) -> dict[str, Any]:
    """One measurement, in this (fresh) process: bare parse, then cold and warm ingestion."""
    import feedparser

    from digest.app import App
    from digest.app import system_clock as now_utc
    from digest.config import settings_from_dict
    from digest.ingest import refresh_all
    from digest.sources.fetch import make_client
    from digest.sources.pool import ParseJob, ParserPool
    from digest.store import Store
    from digest.tagging import build_tagger

    first_cpu = min(os.sched_getaffinity(0))
    all_cpus = os.sched_getaffinity(0)
    feeds = make_feeds(feed_count)
    # The reference: bare feedparser with its default settings, on one core.
    os.sched_setaffinity(0, {first_cpu})

    def bare_parse() -> tuple[int, float, float]:
        """Items, wall seconds and CPU seconds of bare feedparser over every feed."""
        count, wall, cpu = 0, time.perf_counter(), time.process_time()
        for body in feeds.values():
            parsed = feedparser.parse(
                io.BytesIO(body), response_headers={"content-type": "application/rss+xml"}
            )
            count += len(parsed.entries)
        return count, time.perf_counter() - wall, time.process_time() - cpu

    items, bare_wall, bare_cpu = bare_parse()

    workers = 1 if cores == "one" else len(all_cpus)
    if cores != "one":
        os.sched_setaffinity(0, all_cpus)
    raw = tomllib.loads((REPO / "config.toml").read_text())  # the sample's themes
    raw["digest"] = {"database": f"sqlite:///{folder}/bench.db"}
    raw["ingest"] = {"parse_workers": workers, "concurrency": 8, "per_host": 8}
    raw["sources"] = [
        {"id": f"f{n}", "kind": "feed", "url": f"{base}/feed{n}.xml"} for n in range(feed_count)
    ]
    raw["subscribers"] = []
    settings = settings_from_dict(raw, base_dir=folder, origin="benchmark")
    app = App(settings, Store.open(settings.database_url), build_tagger(settings.themes), now_utc)
    app.sync()
    # Start the forkserver that parsing processes come from: a one-off cost per program run
    # (measured and printed apart), not part of the throughput.
    started = time.perf_counter()
    with ParserPool(1, timeout=30, memory_mb=512, tagger=app.tagger) as pool:
        pool.parse(ParseJob("warm-up", feeds["/feed0.xml"], {}, base, now_utc(), 1))
    startup = time.perf_counter() - started
    try:
        with make_client(app.settings.ingest) as client:
            started, cpu_before = time.perf_counter(), _cpu_seconds()
            cold = refresh_all(
                app.store, app.settings, client=client, tagger=app.tagger, now=app.clock()
            )
            cold_seconds = time.perf_counter() - started
            cold_cpu = _cpu_seconds() - cpu_before
            warm_rates = []
            for _ in range(5):
                started = time.perf_counter()
                warm = refresh_all(
                    app.store, app.settings, client=client, tagger=app.tagger, now=app.clock()
                )
                warm_rates.append(len(warm) / (time.perf_counter() - started))
                assert all(r.not_modified for r in warm), [r.error for r in warm]
        app_items = list(app.store.iter_items())
        tagger = app.tagger
    finally:
        app.close()
    new = sum(r.new for r in cold)
    assert new == items and not [r for r in cold if r.failed], [r.error for r in cold]
    # Bare feedparser again after, on one core: the machine's load drifts, so the mean of
    # the two is the reference for this round.
    os.sched_setaffinity(0, {first_cpu})
    _, again_wall, again_cpu = bare_parse()
    bare = 2 * items / (bare_wall + again_wall)
    bare_cpu_rate = 2 * items / (bare_cpu + again_cpu)
    # What tagging alone costs (the tagger is another module's): the same items, in process.
    texts = [(item.title, item.text) for item in app_items]
    cpu = time.process_time()
    for title, text in texts:
        tagger.tag(title, text)
    tag_cpu = time.process_time() - cpu
    return {
        "items": items,
        "bare_items_per_s": bare,
        "cold_items_per_s": new / cold_seconds,
        "ratio": (new / cold_seconds) / bare,
        "cpu_ratio": (new / cold_cpu) / bare_cpu_rate,
        "cores_busy": cold_cpu / cold_seconds,
        "untagged_cpu_ratio": (new / (cold_cpu - tag_cpu)) / bare_cpu_rate,
        "warm_feeds_per_s": statistics.median(warm_rates),
        "startup_s": startup,
    }


def _cpu_seconds() -> float:
    """CPU time of this process and of its parsing processes (which the forkserver reaps).

    Wall-clock figures on a shared machine move with everyone else's load; CPU time says
    what the work itself costs, whoever else is running.
    """
    own = os.times()
    total = own.user + own.system
    ticks = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid():  # a child: the forkserver, or a live worker
            utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
            total += (utime + stime + cutime + cstime) / ticks
    return total


def _busy_fraction(seconds: float = 0.5) -> float:
    """How busy the machine's CPUs are, from /proc/stat over a short interval."""

    def sample() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(values), values[3] + values[4]  # total, idle + iowait

    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


def wait_for_quiet(limit: float) -> bool:
    """Wait (up to `limit` seconds) until the machine is nearly idle; False if it never was.

    On a shared machine other people's work skews wall-clock figures; rounds that had to
    start anyway are counted and reported.
    """
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if _busy_fraction() < 0.15:
            return True
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=40, help="feeds to generate")
    parser.add_argument("--rounds", type=int, default=3, help="runs per setting (medians)")
    parser.add_argument(
        "--wait", type=float, default=60, help="seconds to wait for an idle machine per round"
    )
    parser.add_argument("--round", help=argparse.SUPPRESS)  # "BASE CORES": a child run
    args = parser.parse_args()
    if args.round:
        base, cores = args.round.split()
        with tempfile.TemporaryDirectory() as folder:
            print(json.dumps(one_round(base, args.feeds, cores, Path(folder))))
        return
    cpus = len(os.sched_getaffinity(0))
    server = serve(make_feeds(args.feeds))
    base = f"http://127.0.0.1:{server.server_address[1]}"
    print(f"{args.feeds} feeds, {args.rounds} rounds per setting, {cpus} cores available")
    results: dict[str, list[dict[str, Any]]] = {"one": [], "all": []}
    busy = 0
    for _ in range(args.rounds):
        for cores in results:  # alternate, so that drift hits both alike
            busy += not wait_for_quiet(args.wait)
            child = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--feeds",
                    str(args.feeds),
                    "--round",
                    f"{base} {cores}",
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            results[cores].append(json.loads(child.stdout.strip().splitlines()[-1]))
    server.shutdown()
    print(f"items per round: {results['one'][0]['items']}")
    if busy:
        print(f"{busy} of {2 * args.rounds} runs started while the machine was busy")
    print(f"{'':28}{'one core':>12}{f'{cpus} cores':>12}")
    for key, label in (
        ("bare_items_per_s", "bare feedparser, items/s"),
        ("cold_items_per_s", "cold end to end, items/s"),
        ("ratio", "ratio to bare feedparser"),
        ("cpu_ratio", "  same, per CPU second"),
        ("untagged_cpu_ratio", "  same, tagging left out"),
        ("warm_feeds_per_s", "warm (all 304), feeds/s"),
        ("cores_busy", "cores kept busy, cold"),
        ("startup_s", "parser start-up, s (once)"),
    ):
        one = statistics.median(r[key] for r in results["one"])
        every = statistics.median(r[key] for r in results["all"])
        fmt = "{:>12.0f}" if key.endswith("_per_s") else "{:>12.2f}"
        print(f"{label:28}" + fmt.format(one) + fmt.format(every))


if __name__ == "__main__":
    main()
