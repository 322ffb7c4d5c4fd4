"""End to end: config.toml to the outbox, through every stage."""

import email
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from pathlib import Path

from digest.app import App
from digest.schedule import run_cycle
from digest.sources.documents import read_documents
from tests.conftest import REPO, Clock


def outbox_messages(folder: Path) -> list[EmailMessage]:
    return [
        email.message_from_bytes(p.read_bytes(), policy=policy.default)
        for p in sorted(folder.glob("*.eml"))
    ]


def test_each_seed_article_is_tagged_with_all_three_themes(
    open_app: Callable[[Path], App], sample_config: Path
) -> None:
    app = open_app(sample_config)
    for entry in read_documents("seed", REPO / "sources" / "documents"):
        tagged = {
            m.theme
            for m in app.tagger.tag(entry.title, entry.text)
            if m.score >= app.tagger.threshold(m.theme)
        }
        assert tagged == {"missile_tests", "china_influence", "alliance_coordination"}, entry.title


def test_one_cycle_delivers_a_digest_per_subscriber_into_the_outbox(
    open_app: Callable[[Path], App], sample_config: Path
) -> None:
    app = open_app(sample_config)
    result = run_cycle(app)
    assert not [r for r in result.refreshed if r.failed]
    messages = outbox_messages(sample_config.parent / "outbox")
    assert sorted(m["To"] for m in messages) == [
        "analyst@example.org",
        "desk@example.org",
        "editor@example.org",
    ]
    analyst = next(m for m in messages if m["To"] == "analyst@example.org")
    assert analyst.get_content_type() == "multipart/alternative"
    text, html = (part.get_content_type() for part in analyst.iter_parts())
    assert (text, html) == ("text/plain", "text/html")
    assert analyst["Subject"].startswith("Korea Watch: ")
    assert "Missile tests" in analyst["Subject"]
    assert analyst["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert analyst["List-Unsubscribe"].startswith("<http://127.0.0.1:8000/unsubscribe/")
    plain = analyst.get_body(("plain",))
    assert plain is not None
    body = plain.get_content()
    assert "== Missile tests" in body and "Why this is here:" in body
    # The analyst follows missile tests and China, not the alliance theme.
    assert "== Alliance coordination" not in body
    assert (sample_config.parent / "outbox").glob("*.html")


def test_a_second_cycle_delivers_nothing_new(
    open_app: Callable[[Path], App], sample_config: Path, clock: Clock
) -> None:
    app = open_app(sample_config)
    run_cycle(app)
    first = sorted((sample_config.parent / "outbox").glob("*.eml"))
    from datetime import timedelta

    clock.now += timedelta(days=8)  # every cadence has come round again
    second = run_cycle(app)
    assert second.sent.queued == [] and second.sent.flushed.sent == []
    assert sorted((sample_config.parent / "outbox").glob("*.eml")) == first
    assert len(second.sent.skipped_empty) == 3


def test_no_item_is_sent_twice_to_one_subscriber(
    open_app: Callable[[Path], App], sample_config: Path, clock: Clock
) -> None:
    from datetime import timedelta

    app = open_app(sample_config)
    run_cycle(app)
    feed = sample_config.parent / "sources" / "feeds" / "peninsula-wire.xml"
    feed.write_text(
        feed.read_text().replace(
            "</channel>",
            "<item><title>North Korea fires another ballistic missile</title>"
            "<guid>fresh-1</guid><description>Pyongyang fired a ballistic missile, "
            "Seoul said.</description></item></channel>",
        )
    )
    clock.now += timedelta(days=8)
    result = run_cycle(app)
    # The new launch scores above the analyst's alert threshold, so it may go out as an
    # alert instead of in the digest: either way, once.
    messages = [*result.ingest.alerts.queued, *result.sent.queued]
    sent_to_analyst = [d for d in messages if d.subscriber.email == "analyst@example.org"]
    assert [e.item.title for d in sent_to_analyst for e in d.entries] == [
        "North Korea fires another ballistic missile"
    ]
