"""Render and send personalised digests to a local aiosmtpd sink, against two references.

    .venv/bin/python benchmarks/deliver.py              # 10,000 digests (takes minutes)
    .venv/bin/python benchmarks/deliver.py --count 500  # a quick look

What it does, in one run:
1. 10,000 digests (20 items each, 50 theme combinations, one subscriber each with their
   own signed links) are rendered, built into MIME and queued in a SQLite outbox.
2. They are sent by `flush_outbox` over the SMTP backend to an aiosmtpd sink running in
   its own process, in chunks; after each chunk, the same messages go again through raw
   `smtplib` over one reused connection (the reference), so both see the same sink.
3. Per digest, in alternating rounds: our render+build, a bare Jinja render of the same
   precompiled template with a ready context (the reference), MJML compiled per
   subscriber, and the same message built with the `email` package's default policy.
Medians over the rounds and chunks, their ratios, and cProfile summaries are printed.
Targets: render+build <= 2x bare Jinja; sending >= 0.8x raw smtplib.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import itertools
import pstats
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path
from typing import Any

from digest import mime
from digest.config import Settings, settings_from_dict
from digest.deliver import flush_outbox, make_mailer
from digest.links import Links, LinkSigner
from digest.models import (
    Digest,
    DigestEntry,
    DigestSection,
    Evidence,
    Item,
    RenderedEmail,
    Subscriber,
)
from digest.render import Renderer
from digest.store import Store

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
THEMES = [f"theme_{i}" for i in range(10)]
SINK = """
import sys, time
from aiosmtpd.controller import Controller

class Sink:
    count = 0
    async def handle_DATA(self, server, session, envelope):
        Sink.count += 1
        return "250 2.0.0 Ok"

controller = Controller(Sink(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("ready", flush=True)
sys.stdin.read()  # until the benchmark closes our stdin
controller.stop()
print(Sink.count, flush=True)
"""


def make_settings(folder: Path, port: int) -> Settings:
    raw: dict[str, Any] = {
        "digest": {"title": "Benchmark Watch", "database": "sqlite:///bench.db"},
        "delivery": {
            "backend": "smtp",
            "sender": "Benchmark Watch <digest@example.org>",
            "smtp": {"host": "127.0.0.1", "port": port, "timeout": 30.0},
        },
        "themes": {t: {"label": f"Theme {t[-1]} coverage", "phrases": {"x": 1.0}} for t in THEMES},
    }
    return settings_from_dict(raw, base_dir=folder, origin="benchmark")


def theme_combinations(count: int = 50) -> list[tuple[str, ...]]:
    pairs: list[tuple[str, ...]] = list(itertools.combinations(THEMES, 2))
    triples: list[tuple[str, ...]] = list(itertools.combinations(THEMES, 3))
    return (pairs + triples)[:count]


def make_items(n: int = 400) -> list[Item]:
    body = (
        "Officials said the launch was the third this month and came hours after allied "
        "forces began a joint exercise off the peninsula; analysts expect further tests "
        "before the party congress, and regional capitals called for restraint while "
        "diplomats prepared a statement for the Security Council meeting next week."
    )
    return [
        Item(
            id=i,
            source_id=f"source-{i % 7}",
            guid=f"g{i}",
            url=f"https://news.example.org/2026/11/{i}/a-story-about-the-peninsula?ref=rss",
            title=f"Story {i}: North Korea fires a ballistic missile into the sea, Seoul says",
            summary_html=f"<p>{body}</p>",
            text=body,
            published_at=NOW - timedelta(minutes=i),
            first_seen_at=NOW - timedelta(minutes=i),
        )
        for i in range(n)
    ]


def make_digests(count: int, items: list[Item]) -> list[Digest]:
    combos = theme_combinations()
    evidence = (
        Evidence("ballistic missile", "…fired a ballistic missile…", 0.5),
        Evidence("hwasong-18", "…a Hwasong-18…", 0.6),
        Evidence("launch", "…the launch…", 0.3),
    )
    digests = []
    for n in range(count):
        themes = combos[n % len(combos)]
        sub = Subscriber(
            id=n + 1,
            email=f"reader{n:05d}@example.org",
            name=f"Reader {n}",
            themes=themes,
            cadence="daily 07:00",
            timezone="Asia/Seoul",
        )
        offset = (n % len(combos)) * 7
        chosen = [items[(offset + k) % len(items)] for k in range(20)]
        per = -(-20 // len(themes))
        sections = tuple(
            DigestSection(
                t,
                f"Theme {t[-1]} coverage",
                tuple(
                    DigestEntry(it, f"Source {it.id % 7}", 0.9, evidence, ("Other Wire",) * (k % 2))
                    for k, it in enumerate(chosen[i * per : (i + 1) * per])
                ),
            )
            for i, t in enumerate(themes)
        )
        digests.append(
            Digest("Benchmark Watch", "digest", sub, NOW - timedelta(days=1), NOW, sections)
        )
    return digests


def start_sink() -> tuple[subprocess.Popen[str], int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    sink = subprocess.Popen(
        [sys.executable, "-c", SINK, str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sink.stdout is not None and sink.stdout.readline().strip() == "ready"
    return sink, port


def per_call(fn: Callable[[int], object], n: int) -> float:
    """Mean seconds of fn(0) ... fn(n - 1)."""
    start = time.perf_counter()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - start) / n


def profile(fn: Callable[[], object], sort: str, lines: int) -> str:
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).strip_dirs().sort_stats(sort).print_stats(lines)
    text = out.getvalue()
    return text[text.index("   ncalls") :] if "   ncalls" in text else text


def email_package_build(rendered: RenderedEmail, recipient: str) -> bytes:
    message = EmailMessage(policy=SMTP_POLICY.clone(max_line_length=998))
    message["From"] = "Benchmark Watch <digest@example.org>"
    message["To"] = recipient
    message["Subject"] = rendered.subject
    message["Date"] = "Sun, 22 Nov 2026 12:00:00 +0000"
    message["Message-ID"] = rendered.message_id
    for name, value in rendered.headers.items():
        message[name] = value
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message.as_bytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=10_000, help="Digests rendered and sent.")
    parser.add_argument("--rounds", type=int, default=5, help="Rounds of the per-digest timings.")
    parser.add_argument("--chunks", type=int, default=5, help="Chunks the sending is cut into.")
    args = parser.parse_args()

    items = make_items()
    digests = make_digests(args.count, items)
    sink, port = start_sink()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        settings = make_settings(folder, port)
        store = Store.open(settings.database_url)
        renderer = Renderer(settings)
        signer = LinkSigner("benchmark-key", "https://digest.example.org")
        links = [signer.links(d.subscriber.id, d.subscriber.email, now=NOW) for d in digests]

        def render_and_build(
            i: int, links: list[Links] = links, digests: list[Digest] = digests
        ) -> tuple[RenderedEmail, bytes]:
            d = digests[i]
            key = f"digest:{d.subscriber.id}:2026-11-22T12:00Z"
            rendered = renderer.render_digest(d, links=links[i], key=key, now=NOW)
            return rendered, renderer.build_message(
                rendered, recipient=d.subscriber.email, date=NOW
            )

        # 1. Render, build and queue every digest.
        render_time = 0.0
        sizes: list[tuple[int, int]] = []
        for i, d in enumerate(digests):
            t0 = time.perf_counter()
            rendered, raw = render_and_build(i)
            render_time += time.perf_counter() - t0
            sizes.append((len(rendered.html.encode()), len(raw)))
            store.queue_message(
                key=f"digest:{d.subscriber.id}:2026-11-22T12:00Z",
                kind="digest",
                subscriber_id=store_subscriber(store, d.subscriber),
                recipient=d.subscriber.email,
                window_start=d.window_start,
                window_end=d.window_end,
                subject=rendered.subject,
                message_id=rendered.message_id,
                message=raw,
                item_ids=(),
                now=NOW,
            )
        html_size = statistics.median(s[0] for s in sizes)
        message_size = statistics.median(s[1] for s in sizes)
        print(
            f"{args.count} digests rendered and built in {render_time:.1f} s "
            f"({args.count / render_time:.0f}/s); median HTML {html_size / 1024:.1f} KB, "
            f"message {message_size / 1024:.1f} KB"
        )

        # 2. Send them in chunks; after each, the same bytes again over raw smtplib.
        ids = [m.id for m in reversed(store.list_messages(limit=args.count))]
        chunk = -(-len(ids) // args.chunks)
        ours_rates, raw_rates = [], []
        envelope_from = "digest@example.org"
        send_profile = ""
        for c in range(args.chunks):
            part = ids[c * chunk : (c + 1) * chunk]
            if not part:
                break
            t0 = time.perf_counter()
            if c == 0:
                holder: dict[str, Any] = {}

                def first_chunk(part: list[int] = part, holder: dict[str, Any] = holder) -> None:
                    holder["r"] = flush_outbox(store, make_mailer(settings), NOW, ids=part)

                send_profile = profile(first_chunk, "tottime", 12)
                result = holder["r"]
            else:
                result = flush_outbox(store, make_mailer(settings), NOW, ids=part)
            ours = time.perf_counter() - t0
            assert len(result.sent) == len(part), (len(result.sent), result.stopped)
            # The reference sends messages of the same size (the newest ones), as they are.
            messages = [(m.recipient, m.message) for m in store.list_messages(limit=len(part))]
            t0 = time.perf_counter()
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as conn:
                for recipient, raw in messages:
                    conn.sendmail(envelope_from, [recipient], raw)
            plain = time.perf_counter() - t0
            ours_rates.append(len(part) / ours)
            raw_rates.append(len(messages) / plain)
            print(
                f"  chunk {c + 1}: ours {ours_rates[-1]:.0f} msg/s, raw smtplib "
                f"{raw_rates[-1]:.0f} msg/s"
            )
        counts = store.count_messages()
        print(f"outbox after sending: {counts}")

        # 3. Per-digest timings, alternating, medians over rounds. Each round gives every
        # reader new links and a new name, as a new run would give new readers: what
        # differs per reader is never remembered from an earlier round, only what
        # readers share.
        sample = list(range(0, len(digests), max(1, len(digests) // 500)))[:500]
        template = renderer.env.get_template("digest.mjml.j2")
        contexts = [renderer.context(digests[i], links[i]) for i in sample]
        slow = Renderer(settings, compile_each=True)
        timings: dict[str, list[float]] = {
            k: [] for k in ("ours", "bare", "each", "email", "mime", "cold")
        }
        for r in range(args.rounds):
            fresh = LinkSigner(f"benchmark-key-{r}", "https://digest.example.org")
            round_links = [
                fresh.links(d.subscriber.id, d.subscriber.email, now=NOW) for d in digests
            ]
            renamed = [
                replace(d, subscriber=replace(d.subscriber, name=f"{d.subscriber.name} {r}"))
                for d in digests
            ]

            def ours_build(
                i: int, rl: list[Links] = round_links, rd: list[Digest] = renamed
            ) -> tuple[RenderedEmail, bytes]:
                return render_and_build(sample[i], rl, rd)

            timings["ours"].append(per_call(ours_build, len(sample)))
            again = LinkSigner(f"benchmark-key-{r}-again", "https://digest.example.org")
            rendered_sample = [
                renderer.render_digest(
                    digests[i],
                    links=again.links(i, digests[i].subscriber.email, now=NOW),
                    key="k",
                    now=NOW,
                )
                for i in sample[:200]
            ]
            timings["bare"].append(per_call(lambda i: template.render(contexts[i]), len(sample)))
            timings["each"].append(
                per_call(
                    lambda i: slow.render_digest(
                        digests[sample[i]], links=links[sample[i]], key="k", now=NOW
                    ),
                    50,
                )
            )

            def email_build(i: int, rs: list[RenderedEmail] = rendered_sample) -> bytes:
                return email_package_build(rs[i], "r@x.org")

            def mime_build(i: int, rs: list[RenderedEmail] = rendered_sample) -> bytes:
                return renderer.build_message(rs[i], recipient="r@example.org", date=NOW)

            def cold_build(i: int, rs: list[RenderedEmail] = rendered_sample) -> bytes:
                mime._QP = mime.QuotedPrintable()
                return renderer.build_message(rs[100 + i], recipient="r@example.org", date=NOW)

            timings["email"].append(per_call(email_build, 100))
            timings["mime"].append(per_call(mime_build, 100))
            # The worst case: nothing shared with an earlier reader, nothing remembered.
            remembered = mime._QP
            timings["cold"].append(per_call(cold_build, 100))
            mime._QP = remembered
        med = {k: statistics.median(v) * 1000 for k, v in timings.items()}
        render_profile = profile(lambda: [render_and_build(i) for i in sample], "cumulative", 14)
        store.close()
    sink.communicate("")

    ours_send, raw_send = statistics.median(ours_rates), statistics.median(raw_rates)
    print()
    print("Per digest (median of rounds, ms):")
    print(f"  render+build (ours: Jinja into precompiled MJML, text, MIME)  {med['ours']:.3f}")
    print(f"  bare Jinja render of the same precompiled template           {med['bare']:.3f}")
    print(f"  Jinja into MJML, compiled per subscriber (no MIME)            {med['each']:.3f}")
    print(f"  MIME by hand (ours)                                           {med['mime']:.3f}")
    print(f"  MIME by hand, nothing remembered (no two readers alike)       {med['cold']:.3f}")
    print(f"  MIME with the email package (default policy)                  {med['email']:.3f}")
    print(f"  ratio render+build / bare Jinja = {med['ours'] / med['bare']:.2f}  (target <= 2.0)")
    print(f"  ratio compiled per subscriber / bare Jinja = {med['each'] / med['bare']:.2f}")
    print(f"  ratio email package / ours for MIME = {med['email'] / med['mime']:.1f}")
    print("Sending (median of chunks):")
    print(
        f"  ours {ours_send:.0f} msg/s, raw smtplib {raw_send:.0f} msg/s, "
        f"ratio {ours_send / raw_send:.2f}  (target >= 0.8)"
    )
    print()
    print("Profile, render+build of", len(sample), "digests (cumulative):")
    print(textwrap.indent(render_profile.rstrip(), "  "))
    print()
    print("Profile, sending the first chunk (tottime):")
    print(textwrap.indent(send_profile.rstrip(), "  "))


_subscriber_ids: dict[str, int] = {}


def store_subscriber(store: Store, sub: Subscriber) -> int:
    """The outbox needs a subscriber row for each message."""
    found = _subscriber_ids.get(sub.email)
    if found is None:
        found = _subscriber_ids[sub.email] = store.add_subscriber(sub, origin="cli", now=NOW).id
    return found


if __name__ == "__main__":
    main()
