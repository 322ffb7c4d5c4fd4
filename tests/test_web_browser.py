"""The web app in a real browser (Debian's chromium through Playwright) and the Nu HTML Checker.

Both tools come from outside Python: chromium from apt, the checker from npm's vnu-jar run
with Java. Without them these tests skip, unless DIGEST_REQUIRE_BROWSER=1 (as in CI), where
a missing tool is a failure. Screenshots of every page go to test-artifacts/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from digest.app import App
from tests.conftest import REPO
from tests.web_fixtures import LiveServer, csrf_of, token_for

pytestmark = pytest.mark.browser

CHROMIUM = Path(os.environ.get("DIGEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VNU_JAR = Path(
    os.environ.get("DIGEST_VNU_JAR", REPO / ".cache/vnu/node_modules/vnu-jar/build/dist/vnu.jar")
)
ARTIFACTS = REPO / "test-artifacts"
ANALYST, DESK, EDITOR = "analyst@example.org", "desk@example.org", "editor@example.org"


def need(ready: bool, reason: str) -> None:
    """Skip without the tool, or fail if CI said the tool must be there."""
    if ready:
        return
    if os.environ.get("DIGEST_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (DIGEST_REQUIRE_BROWSER=1 makes this a failure)")
    pytest.skip(reason)


def shot(page: Any, name: str, *, tall: int | None = None) -> None:
    """Screenshot the whole page; or, for pages with a frame (which chromium leaves blank in
    full-page shots), the top `tall` pixels through a viewport that tall."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = str(ARTIFACTS / f"{name}.png")
    if tall is None:
        page.screenshot(path=path, full_page=True)
        return
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": tall})
    page.wait_for_timeout(300)  # a resized frame is repainted a moment later
    page.screenshot(path=path)
    page.set_viewport_size(size)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    need(
        CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK),
        f"Debian's chromium is not at {CHROMIUM}: apt-get install chromium",
    )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def open_page(browser: Any, server: LiveServer, width: int = 1280, height: int = 900) -> Any:
    context = browser.new_context(viewport={"width": width, "height": height}, base_url=server.base)
    return context.new_page()


@pytest.fixture
def page(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    opened = open_page(browser, live_server)
    yield opened
    opened.context.close()


def test_open_home_and_a_preview(page: Any, live_server: LiveServer) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    expect(page.get_by_role("heading", name="Subscribers")).to_be_visible()
    expect(page.get_by_role("cell", name="Weekly on Monday at 08:30")).to_be_visible()
    shot(page, "home")
    page.get_by_role("link", name="Analyst").click()
    expect(page.get_by_role("heading", name="Next digest")).to_be_visible()
    email = page.frame_locator("iframe.email")
    expect(email.get_by_role("heading", name="Missile tests · 7")).to_be_visible()
    expect(email.get_by_role("heading", name=re.compile("^Alliance coordination"))).to_have_count(0)
    expect(page.locator("pre.text-part")).to_contain_text("== Missile tests (7) ==")
    shot(page, "preview", tall=1800)
    page.goto("/items?theme=missile_tests")
    expect(page.locator("mark").first).to_be_visible()
    shot(page, "items", tall=1400)
    page.goto("/sources")
    expect(page.get_by_text("ok", exact=True).first).to_be_visible()
    shot(page, "sources")


def test_a_preference_change_shows_in_the_next_preview(page: Any, live_server: LiveServer) -> None:
    from playwright.sync_api import expect

    page.goto("/subscribers/1")
    page.get_by_role("link", name="Open their preference center").click()
    expect(page.get_by_role("heading", name="Your preferences")).to_be_visible()
    # From the keyboard: Space toggles, Enter in a field sends the form.
    page.locator("#theme-china_influence").focus()
    page.keyboard.press("Space")
    page.locator("#theme-alliance_coordination").focus()
    page.keyboard.press("Space")
    page.locator("#frequency-weekly").focus()
    page.keyboard.press("Space")
    page.locator("#field-day").select_option("fri")
    page.locator("#field-timezone").select_option("Europe/Paris")
    shot(page, "preferences")
    page.locator("#field-cron").press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Your preferences are saved")
    sub = live_server.app.store.get_subscriber(ANALYST)
    assert sub.themes == ("missile_tests", "alliance_coordination")
    assert (sub.cadence, sub.timezone) == ("weekly fri 07:00", "Europe/Paris")
    page.goto("/subscribers/1")
    email = page.frame_locator("iframe.email")
    expect(email.get_by_role("heading", name=re.compile("^Alliance coordination"))).to_be_visible()
    expect(email.get_by_text("China's influence (")).to_have_count(0)
    expect(page.get_by_text("Weekly on Friday at 07:00, Europe/Paris")).to_be_visible()
    shot(page, "preview-after-change", tall=1800)


def test_digest_size_score_and_quiet_hours_are_set_from_the_page(
    browser: Any, live_server: LiveServer
) -> None:
    from playwright.sync_api import expect

    store = live_server.app.store
    page = open_page(browser, live_server, width=375, height=812)
    try:
        page.goto(f"/preferences/{token_for(live_server.app, ANALYST)}")
        size = page.get_by_label("Most items in one digest")
        expect(size).to_have_value("30")
        # A bad value: explained beside the field, kept as typed, nothing stored.
        size.fill("0")
        page.get_by_label("Until").fill("22:00")
        page.get_by_label("Most alert emails a day").fill("-1")
        page.get_by_role("button", name="Save preferences").click()
        expect(page.get_by_role("alert")).to_contain_text("Your changes were not saved")
        expect(page.locator("#error-max_items")).to_have_text(
            'Enter a whole number from 1 to 500; "0" is not one.'
        )
        expect(page.locator("#error-quiet_hours")).to_contain_text("starts and ends at the same")
        expect(page.locator("#error-alert_daily_cap")).to_have_text(
            'Enter a whole number, 0 or more; "-1" is not one.'
        )
        expect(page.get_by_label("Most alert emails a day")).to_have_value("-1")
        expect(size).to_have_value("0")
        expect(size).to_have_attribute("aria-invalid", "true")
        assert store.get_subscriber(ANALYST).max_items == 30
        assert store.get_subscriber(ANALYST).alerts.daily_cap == 5
        shot(page, "preferences-errors-375")
        # The summary's link takes the reader to the field.
        page.get_by_role("link", name="Most items in one digest").click()
        expect(page).to_have_url(re.compile("#field-max_items$"))
        page.get_by_role("link", name="Most alert emails a day").click()
        expect(page).to_have_url(re.compile("#field-alert_daily_cap$"))
        size.fill("5")
        page.get_by_label("Only strong matches (score 0.8 or more)").check()
        page.get_by_label("Hold alerts during these hours").check()
        page.get_by_label("From").fill("23:00")
        page.get_by_label("Until").fill("06:30")
        # The rest of the alert settings: threshold, daily cap, repeat in the digest.
        expect(page.get_by_label("Strong matches (0.8, the default)")).to_be_checked()
        page.get_by_label("Very strong matches only (0.9)").check()
        page.get_by_label("Most alert emails a day").fill("2")
        page.get_by_label("Also list alerted items in my next digest").check()
        page.get_by_role("button", name="Save preferences").click()
        expect(page.get_by_role("status")).to_contain_text("Your preferences are saved")
        sub = store.get_subscriber(ANALYST)
        assert (sub.max_items, sub.min_score, sub.quiet_hours) == (5, 0.8, "23:00-06:30")
        assert (sub.alerts.threshold, sub.alerts.daily_cap, sub.alerts.repeat_in_digest) == (
            0.9,
            2,
            True,
        )
        expect(size).to_have_value("5")
        expect(page.get_by_label("Only strong matches (score 0.8 or more)")).to_be_checked()
        expect(page.get_by_label("Very strong matches only (0.9)")).to_be_checked()
        expect(page.get_by_label("Also list alerted items in my next digest")).to_be_checked()
        page.get_by_label("Also list alerted items in my next digest").uncheck()
        page.get_by_label("No quiet hours: send alerts at any time").check()
        page.get_by_role("button", name="Save preferences").click()
        expect(page.get_by_role("status")).to_contain_text("Your preferences are saved")
        sub = store.get_subscriber(ANALYST)
        assert sub.quiet_hours is None and sub.alerts.repeat_in_digest is False
    finally:
        page.context.close()


def test_unsubscribe_with_one_click(page: Any, live_server: LiveServer) -> None:
    from playwright.sync_api import expect

    store = live_server.app.store
    page.goto(f"/unsubscribe/{token_for(live_server.app, DESK)}")
    expect(page.get_by_role("heading", name="Unsubscribe from Korea Watch?")).to_be_visible()
    assert store.get_subscriber(DESK).status == "active"  # opening the link changed nothing
    shot(page, "unsubscribe")
    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_role("heading", name="You are unsubscribed")).to_be_visible()
    assert store.get_subscriber(DESK).status == "unsubscribed"
    shot(page, "unsubscribed")
    # RFC 8058, as a mail provider sends it: a bare POST to the List-Unsubscribe URL.
    answer = page.request.post(
        f"/unsubscribe/{token_for(live_server.app, EDITOR)}",
        form={"List-Unsubscribe": "One-Click"},
    )
    assert answer.status == 200
    assert store.get_subscriber(EDITOR).status == "unsubscribed"


def test_a_forged_token_is_refused(page: Any, live_server: LiveServer) -> None:
    from playwright.sync_api import expect

    real = token_for(live_server.app, ANALYST)
    forged = real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB")
    answer = page.goto(f"/preferences/{forged}")
    assert answer is not None and answer.status == 403
    expect(page.get_by_role("heading", name="This link is not valid")).to_be_visible()
    assert "@example.org" not in page.content()
    shot(page, "forged-link")


def pages_to_check(app: App) -> dict[str, str]:
    token = token_for(app, ANALYST)
    return {
        "home": "/",
        "preview": "/subscribers/1",
        "items": "/items",
        "sources": "/sources",
        "preferences": f"/preferences/{token}",
        "unsubscribe": f"/unsubscribe/{token}",
        "error": "/preferences/forged",
    }


UNLABELLED = """() => [...document.querySelectorAll(
    'input:not([type=hidden]), select, textarea, button, iframe')]
  .filter(e => e.tagName === 'IFRAME' ? !e.title
    : e.tagName === 'BUTTON' ? !(e.textContent.trim() || e.getAttribute('aria-label'))
    : !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
  .map(e => e.outerHTML.slice(0, 80))"""


def test_pages_read_well_at_375px_and_label_every_field(
    browser: Any, live_server: LiveServer
) -> None:
    page = open_page(browser, live_server, width=375, height=812)
    try:
        for name, path in pages_to_check(live_server.app).items():
            page.goto(path)
            assert page.evaluate("document.documentElement.scrollWidth") <= 375, name
            assert page.evaluate(UNLABELLED) == [], name
            shot(page, f"{name}-375", tall={"preview": 2400, "items": 2000}.get(name))
    finally:
        page.context.close()


FOCUSABLE = """() => {
  const all = [...document.querySelectorAll(
    'a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex="0"]')];
  all.forEach((e, i) => e.dataset.k = i);
  // Tab stops once per radio group (on the checked one); arrows move inside it.
  return all.filter(e => !(e.type === 'radio' && !e.checked)).map(e => e.dataset.k);
}"""


def test_every_control_is_reached_with_the_keyboard(page: Any, live_server: LiveServer) -> None:
    for name in ("preferences", "preview", "sources"):
        page.goto(pages_to_check(live_server.app)[name])
        expected = set(page.evaluate(FOCUSABLE))
        reached: set[str] = set()
        # The framed email's own links take Tab presses too, so allow for those.
        for _ in range(len(expected) + 150):
            page.keyboard.press("Tab")
            key = page.evaluate("document.activeElement.dataset.k")
            if key is not None:
                reached.add(key)
            if expected <= reached:
                break
        assert expected <= reached, name
    page.goto(pages_to_check(live_server.app)["home"])
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"


# -- the Nu HTML Checker --------------------------------------------------------------------


def test_every_page_passes_the_nu_html_checker(
    client: TestClient, web_app: App, tmp_path: Path
) -> None:
    java = shutil.which("java")
    need(java is not None, "Java is not installed: apt-get install default-jre-headless")
    need(
        VNU_JAR.is_file(),
        f"the Nu HTML Checker is not at {VNU_JAR}: run make vnu",
    )
    token = token_for(web_app, ANALYST)
    pages = {f"{name}.html": client.get(path) for name, path in pages_to_check(web_app).items()}
    pages["items-theme.html"] = client.get("/items?theme=missile_tests&source=seed-documents")
    pages["preview-at.html"] = client.get("/subscribers/2?at=2026-11-01T08:00")
    pages["not-found.html"] = client.get("/nope")
    csrf = csrf_of(client.get(f"/preferences/{token}").text)
    pages["preferences-errors.html"] = client.post(
        f"/preferences/{token}",
        data={"csrf_token": csrf, "frequency": "custom", "cron": "x", "timezone": "Nowhere"},
    )
    pages["preferences-errors-size.html"] = client.post(
        f"/preferences/{token}",
        data={
            **{"csrf_token": csrf, "themes": "missile_tests", "max_items": "0"},
            **{"min_score": "2", "quiet": "on", "quiet_start": "22:00", "quiet_end": "22:00"},
            **{"alert_threshold": "0", "alert_daily_cap": "-1", "alert_repeat_in_digest": "x"},
        },
    )
    pages["preferences-saved.html"] = client.get(f"/preferences/{token}?saved=paused")
    pages["unsubscribed.html"] = client.post(
        f"/unsubscribe/{token_for(web_app, DESK)}", data={"List-Unsubscribe": "One-Click"}
    )
    files = []
    for name, response in pages.items():
        assert "text/html" in response.headers["content-type"], name
        (tmp_path / name).write_text(response.text, encoding="utf-8")
        files.append(str(tmp_path / name))
    css = tmp_path / "web.css"
    css.write_text(client.get("/static/web.css").text, encoding="utf-8")
    run = subprocess.run(
        [
            java or "java",
            "-jar",
            str(VNU_JAR),
            "--errors-only",
            "--format",
            "json",
            "--also-check-css",
            *files,
            str(css),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    messages = json.loads(run.stderr or run.stdout or '{"messages": []}')["messages"]
    problems = [
        f"{Path(m.get('url', '')).name}:{m.get('lastLine')}: {m.get('message')}"
        for m in messages
        if m.get("type") in ("error", "non-document-error")
    ]
    assert problems == [], "\n".join(problems)
