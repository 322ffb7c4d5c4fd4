"""The web app through Starlette's TestClient: admin pages, who may see them, the command."""

from __future__ import annotations

import base64
import logging
import re
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from digest.app import App
from digest.compose import compose_digest
from digest.config import WebSettings
from digest.links import LinkSigner
from digest.models import Entry
from digest.render import Renderer
from digest.schedule import digest_key, send_due
from digest.tag import tag_items
from digest.web import create_app
from digest.web.guard import basic_password, host_name, is_loopback
from digest.web.server import RedactTokens
from tests.conftest import NOW, REPO, FeedServer
from tests.web_fixtures import BASE, LOCAL, SECRET, csrf_of, token_for

ANALYST = "analyst@example.org"
ELSEWHERE = ("203.0.113.7", 40000)


# -- admin pages ----------------------------------------------------------------------------


def test_home_lists_subscribers_with_themes_cadence_and_next_digest(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert "Analyst" in page.text and "desk@example.org" in page.text
    assert "Missile tests, China&#39;s influence" in page.text
    assert "Weekly on Monday at 08:30" in page.text
    assert "Cron: 0 18 * * 1-5" in page.text
    assert "due now" in page.text  # nobody has had a digest yet


def test_home_shows_next_digest_in_local_time_and_last_delivery(
    client: TestClient, web_app: App
) -> None:
    # The real send cycle: it queues and delivers the analyst's first digest and moves
    # them to their next slot.
    send_due(web_app, NOW)
    page = client.get("/").text
    # Sent at 12:00 UTC = 21:00 in Seoul; next daily 07:00 Seoul is the next morning.
    assert "Sun 22 Nov 2026, 21:00 KST" in page
    assert "Mon 23 Nov 2026, 07:00 KST" in page
    assert 'digest, <span class="ok">sent</span>' in page


def test_subscriber_page_frames_the_html_part_in_a_sandbox_and_shows_the_text(
    client: TestClient,
) -> None:
    page = client.get("/subscribers/1")
    assert page.status_code == 200
    frame = re.search(r"<iframe[^>]*>", page.text)
    assert frame is not None
    assert " sandbox " in frame.group(0) and "allow-scripts" not in frame.group(0)
    assert 'src="/subscribers/1/email.html?at=2026-11-22T12%3A00%3A00%2B00%3A00"' in frame.group(0)
    assert "== Missile tests (" in page.text  # the text part, escaped in a <pre>
    assert "List-Unsubscribe-Post" in page.text and "One-Click" in page.text


def test_email_route_serves_exactly_the_html_that_would_be_sent(
    client: TestClient, web_app: App
) -> None:
    sub = web_app.store.get_subscriber(ANALYST)
    digest = compose_digest(web_app.store, web_app.settings, sub, NOW)
    links = LinkSigner(SECRET, web_app.settings.digest.public_url).links(sub.id, sub.email, now=NOW)
    expected = Renderer(web_app.settings).render_digest(
        digest, links=links, key=digest_key(sub.id, sub.next_digest_at or NOW), now=NOW
    )
    served = client.get(f"/subscribers/{sub.id}/email.html", params={"at": NOW.isoformat()})
    assert served.text == expected.html
    csp = served.headers["content-security-policy"]
    assert "sandbox" in csp and "default-src 'none'" in csp and "script" not in csp
    assert served.headers["x-frame-options"] == "SAMEORIGIN"


def test_at_travels_in_time_in_the_subscribers_zone(client: TestClient) -> None:
    # Items were first seen at 12:00 UTC; 20:00 in Seoul is 11:00 UTC, before that.
    before = client.get("/subscribers/1", params={"at": "2026-11-22T20:00"}).text
    assert "Nothing new on your themes" in before
    assert "Sun 22 Nov 2026, 20:00 KST" in before
    after = client.get("/subscribers/1", params={"at": "2026-11-22T13:00:00+00:00"}).text
    assert "== Missile tests (" in after


def test_a_bad_at_is_a_clear_400(client: TestClient) -> None:
    page = client.get("/subscribers/1", params={"at": "tomorrow"})
    assert page.status_code == 400
    assert "&#34;tomorrow&#34; is not a time" in page.text


def test_unknown_subscriber_is_a_404_page(client: TestClient) -> None:
    page = client.get("/subscribers/999")
    assert page.status_code == 404
    assert "No subscriber" in page.text


def test_items_filter_by_theme_and_source_with_highlighted_evidence(client: TestClient) -> None:
    page = client.get("/items", params={"theme": "missile_tests", "source": "allied-monitor"})
    assert page.status_code == 200
    assert "Allied Monitor" in page.text and "USIP analysis ·" not in page.text
    assert re.search(r"<mark>[^<]*(missile|KN-23|fired)[^<]*</mark>", page.text, re.I)
    assert "Missile tests 0." in page.text
    assert '<option value="missile_tests" selected>' in page.text


def test_items_refuse_an_unknown_theme(client: TestClient) -> None:
    page = client.get("/items", params={"theme": "<b>nope</b>"})
    assert page.status_code == 400
    assert "&lt;b&gt;nope&lt;/b&gt;" in page.text and "<b>nope" not in page.text


def test_sources_page_shows_each_sources_health(client: TestClient, web_app: App) -> None:
    web_app.store.record_check(
        "peninsula-wire", NOW, next_check_at=NOW + timedelta(hours=2), error="timed out after 20s"
    )
    page = client.get("/sources").text
    assert "failing (1 error in a row)" in page
    assert "timed out after 20s" in page
    assert page.count("Refresh now</button>") == 3


def test_refresh_now_reads_the_source_again(client: TestClient, web_app: App) -> None:
    token = csrf_of(client.get("/sources").text)
    done = client.post(
        "/sources/seed-documents/refresh", data={"csrf_token": token}, follow_redirects=False
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/sources#source-seed-documents"
    assert web_app.store.get_source("seed-documents").last_checked_at == NOW


def test_feed_markup_is_escaped_on_every_page(client: TestClient, web_app: App) -> None:
    hostile = Entry(
        source_id="peninsula-wire",
        guid="evil-1",
        url="javascript:alert(1)",
        title='<script>alert("t")</script> North Korea missile test',
        summary_html="<p>North Korea fired a ballistic missile.</p>",
        text="<img src=x onerror=alert(1)> North Korea fired a ballistic missile in a test.",
    )
    result = web_app.store.upsert_entries("peninsula-wire", [hostile], NOW)
    tag_items(web_app.store, web_app.tagger, web_app.store.get_items(result.new))
    for path in ("/items", "/subscribers/1", "/subscribers/1/email.html"):
        text = client.get(path).text
        assert "<script>alert" not in text and "<img src=x" not in text, path
        assert "&lt;script&gt;" in text, path
    # Ingest already drops such links; the pages check again rather than trust the store.
    assert 'href="javascript:' not in client.get("/items").text


def test_every_page_has_a_strict_content_security_policy(client: TestClient, web_app: App) -> None:
    token = token_for(web_app, ANALYST)
    for path in ("/", "/subscribers/1", "/items", "/sources", f"/preferences/{token}", "/nope"):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src" not in csp, path
        assert "frame-ancestors 'none'" in csp, path
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"


def test_errors_come_as_json_to_clients_that_ask_for_it(client: TestClient) -> None:
    answer = client.get("/subscribers/999", headers={"accept": "application/json"})
    assert answer.status_code == 404
    assert answer.json()["title"] == "Not found"


def test_an_oversized_form_is_refused(client: TestClient) -> None:
    answer = client.post("/sources/seed-documents/refresh", content=b"x" * 70_000)
    assert answer.status_code == 413


# -- who may see what ---------------------------------------------------------------------


def test_admin_pages_refuse_clients_that_are_not_this_computer(web_app: App) -> None:
    token = token_for(web_app, ANALYST)
    with TestClient(create_app(web_app), base_url=BASE, client=ELSEWHERE) as remote:
        for path in ("/", "/subscribers/1", "/subscribers/1/email.html", "/items", "/sources"):
            page = remote.get(path)
            assert page.status_code == 403, path
            assert "Analyst" not in page.text and "@example.org" not in page.text
        assert remote.get(f"/preferences/{token}").status_code == 200
        assert remote.get(f"/unsubscribe/{token}").status_code == 200
        assert remote.get("/static/web.css").status_code == 200


def test_an_admin_password_opens_admin_pages_to_basic_auth_only(
    web_app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGEST_ADMIN_PASSWORD", "s3cret pass")
    with TestClient(create_app(web_app), base_url=BASE, client=ELSEWHERE) as remote:
        refused = remote.get("/")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Basic ")
        assert remote.get("/", auth=("admin", "wrong")).status_code == 401
        assert remote.get("/", auth=("anyone", "s3cret pass")).status_code == 200
    with TestClient(create_app(web_app), base_url=BASE, client=LOCAL) as local:
        # A password applies to this computer too: a reverse proxy here looks local.
        assert local.get("/").status_code == 401


def test_an_unknown_host_name_is_refused(web_app: App) -> None:
    """A DNS-rebinding page reaches 127.0.0.1 under its own host name; it gets nothing."""
    with TestClient(create_app(web_app), base_url="http://evil.example", client=LOCAL) as c:
        page = c.get("/")
        assert page.status_code == 400
        assert "Analyst" not in page.text


def test_host_and_address_helpers() -> None:
    assert host_name("[::1]:8000") == "::1"
    assert host_name("LocalHost:8000") == "localhost"
    assert host_name("example.org") == "example.org"
    assert is_loopback("127.0.0.5") and is_loopback("::1") and is_loopback("::ffff:127.0.0.1")
    assert not is_loopback("10.0.0.1") and not is_loopback("testclient")
    assert basic_password("Basic " + base64.b64encode(b"u:p:w").decode()) == "p:w"
    assert basic_password("Basic !!!") is None


def test_tokens_are_kept_out_of_the_access_log() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, "", 0, '%s - "%s %s"', ("127.0.0.1", "GET", "/x"), None
    )
    record.args = ("127.0.0.1:5", "POST", "/unsubscribe/eyJzIjoxfQ.abc.def?x=1")
    RedactTokens().filter(record)
    assert record.getMessage() == '127.0.0.1:5 - "POST /unsubscribe/…?x=1"'


# -- settings -------------------------------------------------------------------------------


def test_every_web_setting_is_in_the_sample_config() -> None:
    text = (REPO / "config.toml").read_text()
    assert "[web]" in text
    for name in WebSettings.model_fields:
        assert f"{name} =" in text, f"WebSettings.{name} is not in config.toml"


# -- the command ----------------------------------------------------------------------------


@pytest.mark.slow
def test_digest_serve_answers_on_loopback_until_stopped(
    sample_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("DIGEST_SECRET_KEY", SECRET)
    command = [sys.executable, "-c", "from digest.cli import main; main()"]
    server = subprocess.Popen(
        [*command, "--config", str(sample_config), "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                home = httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None and time.monotonic() < deadline, "did not start"
                time.sleep(0.1)
        assert home.status_code == 200 and "analyst@example.org" in home.text
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=15)
    assert f"digest web app on http://127.0.0.1:{port}/" in output
    # uvicorn stops gracefully, then lets SIGTERM end the process as it would have.
    assert "Finished server process" in output and server.returncode in (0, -15), output


def test_refresh_now_reads_a_feed_added_from_the_command_line(
    client: TestClient, web_app: App, feed_server: FeedServer
) -> None:
    web_app.store.add_source(
        "added", feed_server.url("small.xml?web"), title="Added", origin="cli", now=NOW
    )
    token = csrf_of(client.get("/sources").text)
    done = client.post("/sources/added/refresh", data={"csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303
    assert web_app.store.get_source("added").item_count == 3
