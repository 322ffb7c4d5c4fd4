"""The preference center and unsubscribe links: signed tokens, forms, CSRF, RFC 8058."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import replace
from datetime import timedelta

import httpx2
import pytest
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from digest.alerts import send_alerts
from digest.app import App
from digest.compose import compose_digest
from digest.config import SubscriberSettings
from digest.links import LinkSigner
from digest.web import create_app
from tests.conftest import NOW, Clock
from tests.scenario import Items, delivered
from tests.web_fixtures import BASE, LOCAL, SECRET, csrf_of, token_for

ANALYST = "analyst@example.org"
ELSEWHERE = ("203.0.113.7", 40000)
WIRE = "peninsula-wire"  # a feed of the sample deployment


def preferences_form(**changes: object) -> dict[str, object]:
    form: dict[str, object] = {
        "themes": ["missile_tests", "alliance_coordination"],
        "frequency": "weekly",
        "day": "fri",
        "time": "06:30",
        "cron": "",
        "timezone": "Europe/Paris",
        "alert_themes": ["missile_tests"],
    }
    form.update(changes)
    return form


# -- links from emails: forged, expired, or somebody else's --------------------------------


def forged_tokens(app: App) -> list[str]:
    real = token_for(app, ANALYST)
    payload, stamp, signature = real.split(".")
    other = base64.urlsafe_b64encode(json.dumps({"s": 2, "e": "desk@example.org"}).encode())
    return [
        "forged",
        real[:-2] + ("AA" if not real.endswith("AA") else "BB"),
        f"{other.decode().rstrip('=')}.{stamp}.{signature}",
        LinkSigner("another key", app.settings.digest.public_url).token(1, ANALYST, now=NOW),
    ]


def test_forged_tokens_are_refused_and_show_nobodys_data(client: TestClient, web_app: App) -> None:
    for token in forged_tokens(web_app):
        for path in (f"/preferences/{token}", f"/unsubscribe/{token}"):
            page = client.get(path)
            assert page.status_code == 403, path
            assert "This link is not valid" in page.text
            assert "@example.org" not in page.text and "Analyst" not in page.text
        assert (
            client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"}).status_code
            == 403
        )
    assert {s.status for s in web_app.store.list_subscribers()} == {"active"}


def test_an_expired_link_says_so(client: TestClient, web_app: App) -> None:
    sub = web_app.store.get_subscriber(ANALYST)
    signer = LinkSigner(SECRET, web_app.settings.digest.public_url)
    old = signer.token(sub.id, sub.email, now=NOW - timedelta(days=3 * 365))
    page = client.get(f"/preferences/{old}")
    assert page.status_code == 410
    assert "expired" in page.text and ANALYST not in page.text


def test_a_token_for_an_address_that_changed_is_refused(client: TestClient) -> None:
    stale = LinkSigner(SECRET, "http://127.0.0.1:8000").token(1, "old-address@example.org", now=NOW)
    page = client.get(f"/preferences/{stale}")
    assert page.status_code == 404
    assert ANALYST not in page.text


# -- the preference center ----------------------------------------------------------------


def test_preference_center_shows_the_readers_choices(client: TestClient, web_app: App) -> None:
    page = client.get(f"/preferences/{token_for(web_app, ANALYST)}")
    assert page.status_code == 200
    assert 'id="theme-missile_tests" name="themes" value="missile_tests" checked' in page.text
    assert 'value="alliance_coordination">' in page.text  # not checked
    assert 'id="frequency-daily" name="frequency" value="daily" checked' in page.text
    assert "<option selected>Asia/Seoul</option>" in page.text
    assert "digest_csrf=" in page.headers["set-cookie"]
    assert "HttpOnly" in page.headers["set-cookie"] and "SameSite=lax" in page.headers["set-cookie"]


def test_saved_preferences_are_stored_at_once_and_shape_the_next_preview(
    client: TestClient, web_app: App
) -> None:
    path = f"/preferences/{token_for(web_app, ANALYST)}"
    form = preferences_form(csrf_token=csrf_of(client.get(path).text))
    saved = client.post(path, data=form, follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"] == path + "?saved=preferences"
    sub = web_app.store.get_subscriber(ANALYST)
    assert sub.themes == ("missile_tests", "alliance_coordination")
    assert (sub.cadence, sub.timezone, sub.origin) == ("weekly fri 06:30", "Europe/Paris", "web")
    assert sub.alerts.themes == ("missile_tests",)
    # A form without the newer fields (a page opened before they existed) keeps them.
    assert (sub.max_items, sub.min_score, sub.quiet_hours) == (30, 0.0, "22:00-07:00")
    assert "Your preferences are saved" in client.get(saved.headers["location"]).text
    preview = client.get(f"/subscribers/{sub.id}").text
    assert "== Alliance coordination (" in preview and "== China" not in preview
    assert "Weekly on Friday at 06:30, Europe/Paris" in preview
    web_app.sync()  # a later config sync leaves the reader's own choices alone
    assert web_app.store.get_subscriber(ANALYST).cadence == "weekly fri 06:30"


def test_a_custom_cron_schedule_can_be_chosen(client: TestClient, web_app: App) -> None:
    path = f"/preferences/{token_for(web_app, ANALYST)}"
    form = preferences_form(
        frequency="custom", cron="30 6 * * 1-5", csrf_token=csrf_of(client.get(path).text)
    )
    assert client.post(path, data=form, follow_redirects=False).status_code == 303
    assert web_app.store.get_subscriber(ANALYST).cadence == "30 6 * * 1-5"


def test_invalid_preferences_are_explained_and_change_nothing(
    client: TestClient, web_app: App
) -> None:
    path = f"/preferences/{token_for(web_app, ANALYST)}"
    token = csrf_of(client.get(path).text)
    form = preferences_form(
        themes=[], frequency="custom", cron="every tuesday", timezone="Mars/Olympus"
    )
    page = client.post(path, data={**form, "csrf_token": token})
    assert page.status_code == 400
    assert "Your changes were not saved" in page.text
    assert "Mars/Olympus" in page.text and "is not an IANA time zone" in page.text
    assert 'aria-invalid="true"' in page.text
    page = client.post(path, data={**preferences_form(themes=[]), "csrf_token": token})
    assert "Choose at least one theme" in page.text
    page = client.post(
        path, data={**preferences_form(cron="x", frequency="custom"), "csrf_token": token}
    )
    assert "is not a cadence" in page.text
    page = client.post(path, data={**preferences_form(), "admin": "1", "csrf_token": token})
    assert page.status_code == 400 and "unknown field" in page.text
    assert web_app.store.get_subscriber(ANALYST).cadence == "daily 07:00"


# -- how much, which items, quiet hours ---------------------------------------------------


def post_preferences(client: TestClient, path: str, **changes: object) -> httpx2.Response:
    form = preferences_form(csrf_token=csrf_of(client.get(path).text), **changes)
    return client.post(path, data=form, follow_redirects=False)


def test_preference_center_shows_digest_size_score_and_quiet_hours(
    client: TestClient, web_app: App
) -> None:
    page = client.get(f"/preferences/{token_for(web_app, ANALYST)}").text
    assert (
        '<input type="number" id="field-max_items" name="max_items" value="30" min="1" max="500"'
        in page
    )
    assert '<label for="field-max_items">Most items in one digest</label>' in page
    assert 'name="min_score" value="0" checked' in page
    assert 'name="min_score" value="0.8">' in page
    assert "<legend>Which items</legend>" in page
    assert "<legend>Quiet hours for alerts</legend>" in page
    assert 'id="quiet-on" name="quiet" value="on" checked' in page
    assert 'name="quiet_start" value="22:00"' in page and 'name="quiet_end" value="07:00"' in page
    assert "Times are in your time zone, Asia/Seoul." in page


def test_digest_size_score_and_quiet_hours_are_saved(client: TestClient, web_app: App) -> None:
    path = f"/preferences/{token_for(web_app, ANALYST)}"
    saved = post_preferences(
        client,
        path,
        max_items="5",
        min_score="0.8",
        quiet="on",
        quiet_start="23:00:00",  # as a browser may send it
        quiet_end="06:30",
    )
    assert saved.status_code == 303
    sub = web_app.store.get_subscriber(ANALYST)
    assert (sub.max_items, sub.min_score, sub.quiet_hours) == (5, 0.8, "23:00-06:30")
    assert sub.origin == "web"
    page = client.get(path).text
    assert 'name="max_items" value="5"' in page and 'name="min_score" value="0.8" checked' in page
    assert 'name="quiet_start" value="23:00"' in page


def test_quiet_hours_can_be_turned_off(client: TestClient, web_app: App) -> None:
    path = f"/preferences/{token_for(web_app, ANALYST)}"
    # With quiet hours off, the time fields are not read, whatever they hold.
    answer = post_preferences(client, path, quiet="off", quiet_start="", quiet_end="07:00")
    assert answer.status_code == 303
    assert web_app.store.get_subscriber(ANALYST).quiet_hours is None
    assert 'id="quiet-off" name="quiet" value="off" checked' in client.get(path).text


def test_a_smaller_digest_or_a_higher_score_changes_the_next_digest(
    client: TestClient, web_app: App
) -> None:
    """Through the real compose path, as the scheduler and the preview compose it."""
    now = web_app.clock()

    def next_digest() -> tuple[list[float], int]:
        sub = web_app.store.get_subscriber(ANALYST)
        digest = compose_digest(web_app.store, web_app.settings, sub, now)
        return [e.score for e in digest.entries], digest.omitted

    before, omitted = next_digest()
    assert len(before) > 5 and omitted == 0 and min(before) < 0.8
    path = f"/preferences/{token_for(web_app, ANALYST)}"
    post_preferences(client, path, themes=["missile_tests", "china_influence"], min_score="0.8")
    strong, _ = next_digest()
    assert strong and min(strong) >= 0.8 and len(strong) < len(before)
    post_preferences(client, path, themes=["missile_tests", "china_influence"], max_items="5")
    few, omitted = next_digest()  # the best five of the strong matches; the rest counted
    assert sorted(few) == sorted(strong)[-5:] and omitted == len(strong) - 5


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"max_items": "0"}, "max_items", 'Enter a whole number from 1 to 500; "0" is not one.'),
        ({"max_items": "501"}, "max_items", '"501" is not one.'),
        ({"max_items": "2.5"}, "max_items", '"2.5" is not one.'),
        ({"max_items": "lots"}, "max_items", '"lots" is not one.'),
        ({"max_items": ""}, "max_items", "Enter a whole number from 1 to 500."),
        ({"min_score": "1.5"}, "min_score", '(a score from 0 to 1); "1.5" is not one.'),
        ({"min_score": "-0.1"}, "min_score", '"-0.1" is not one.'),
        (
            {"quiet": "on", "quiet_start": "22:00", "quiet_end": "22:00"},
            "quiet_hours",
            '"22:00-22:00" starts and ends at the same time',
        ),
        (
            {"quiet": "on", "quiet_start": "22:00", "quiet_end": ""},
            "quiet_hours",
            "Enter both times, or choose no quiet hours.",
        ),
        (
            {"quiet": "on", "quiet_start": "25:00", "quiet_end": "07:00"},
            "quiet_hours",
            "is not a time range",
        ),
        ({"quiet": "maybe"}, "quiet_hours", '"maybe" is not one of the choices.'),
        ({"frequency": "custom", "cron": "0 0 30 2 *"}, "cron", "names a date that never comes"),
        (
            {"alert_daily_cap": "-1"},
            "alert_daily_cap",
            'Enter a whole number, 0 or more; "-1" is not one.',
        ),
        ({"alert_daily_cap": "1.5"}, "alert_daily_cap", '"1.5" is not one.'),
        ({"alert_daily_cap": "often"}, "alert_daily_cap", '"often" is not one.'),
        ({"alert_daily_cap": ""}, "alert_daily_cap", "Enter a whole number, 0 or more."),
        (
            {"alert_threshold": "0"},
            "alert_threshold",
            'Choose one of the options (a score above 0, up to 1); "0" is not one.',
        ),
        ({"alert_threshold": "1.5"}, "alert_threshold", '"1.5" is not one.'),
        ({"alert_threshold": "-0.2"}, "alert_threshold", '"-0.2" is not one.'),
        (
            {"alert_repeat_in_digest": "maybe"},
            "alert_repeat_in_digest",
            '"maybe" is not one of the choices.',
        ),
    ],
)
def test_a_bad_value_is_explained_next_to_its_field_and_changes_nothing(
    client: TestClient, web_app: App, changes: dict[str, str], field: str, message: str
) -> None:
    before = web_app.store.get_subscriber(ANALYST)
    path = f"/preferences/{token_for(web_app, ANALYST)}"
    page = post_preferences(client, path, **changes)
    assert page.status_code == 400
    text = page.text
    assert f'<a href="#field-{field}">' in text  # the summary links to the field
    error = re.search(rf'<p class="error-text" id="error-{field}">([^<]*)</p>', text)
    assert error and message in error.group(1).replace("&#34;", '"')
    for key, value in changes.items():
        if key in ("max_items", "quiet_start", "quiet_end", "cron", "alert_daily_cap") and value:
            assert f'name="{key}" value="{value}"' in text, key  # what the reader typed stays
    assert web_app.store.get_subscriber(ANALYST) == before


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("max_items", "1"),
        ("max_items", "500"),
        ("max_items", "0"),
        ("max_items", "501"),
        ("max_items", "12.0"),
        ("min_score", "0"),
        ("min_score", "1"),
        ("min_score", "0.35"),
        ("min_score", "1.01"),
        ("min_score", "nan"),
        ("alert_threshold", "1"),
        ("alert_threshold", "0.01"),
        ("alert_threshold", "0"),
        ("alert_threshold", "1.01"),
        ("alert_threshold", "nan"),
        ("alert_daily_cap", "0"),
        ("alert_daily_cap", "1000"),
        ("alert_daily_cap", "-1"),
        ("alert_daily_cap", "3.0"),
    ],
)
def test_the_page_accepts_exactly_what_config_toml_accepts(
    client: TestClient, web_app: App, key: str, value: str
) -> None:
    sub = web_app.store.get_subscriber(ANALYST)
    entry = sub.as_config_entry()
    if key.startswith("alert_"):  # [subscribers.alerts] threshold, daily_cap
        entry["alerts"] = {**entry["alerts"], key.removeprefix("alert_"): value}
    else:
        entry[key] = value
    try:
        SubscriberSettings.model_validate(entry)
        config_accepts = True
    except ValidationError:
        config_accepts = False
    path = f"/preferences/{token_for(web_app, ANALYST)}"
    answer = post_preferences(client, path, themes=list(sub.themes), **{key: value})
    assert answer.status_code == (303 if config_accepts else 400)


def test_a_form_without_the_alert_fields_keeps_the_stored_ones(
    client: TestClient, web_app: App
) -> None:
    """A page opened before the threshold, cap and repeat fields existed sends none of them."""
    sub = web_app.store.get_subscriber(ANALYST)
    alerts = replace(sub.alerts, threshold=0.9, daily_cap=2, repeat_in_digest=True)
    web_app.store.update_subscriber(sub.id, replace(sub, alerts=alerts), now=web_app.clock())
    post_preferences(client, f"/preferences/{token_for(web_app, ANALYST)}", alert_themes=[])
    stored = web_app.store.get_subscriber(ANALYST).alerts
    assert stored == replace(alerts, themes=())


def test_a_score_set_in_config_toml_stays_on_offer(client: TestClient, web_app: App) -> None:
    sub = web_app.store.get_subscriber(ANALYST)
    web_app.store.update_subscriber(sub.id, replace(sub, min_score=0.35), now=web_app.clock())
    path = f"/preferences/{token_for(web_app, ANALYST)}"
    page = client.get(path).text
    assert 'name="min_score" value="0.35" checked' in page
    assert "Keep my current setting (score 0.35 or more)" in page
    post_preferences(client, path, min_score="0.35", themes=list(sub.themes))
    assert web_app.store.get_subscriber(ANALYST).min_score == 0.35


# -- alerts: threshold, daily cap, repeat in digest ----------------------------------------


def test_preference_center_shows_the_alert_settings(client: TestClient, web_app: App) -> None:
    page = client.get(f"/preferences/{token_for(web_app, ANALYST)}").text
    assert "<legend>Alert me for</legend>" in page
    assert 'name="alert_threshold" value="0.8" checked' in page
    assert "Strong matches (0.8, the default)" in page and "Very strong matches only (0.9)" in page
    assert "Keep my current setting" not in page
    assert (
        '<input type="number" id="field-alert_daily_cap" name="alert_daily_cap" value="5" min="0"'
        in page
    )
    assert '<label for="field-alert_daily_cap">Most alert emails a day</label>' in page
    assert "0 turns alerts off." in page
    assert '<input type="hidden" name="alert_repeat_in_digest" value="off">' in page
    assert 'name="alert_repeat_in_digest" value="on">' in page  # not ticked


def test_an_alert_threshold_set_in_config_toml_stays_on_offer(
    client: TestClient, web_app: App
) -> None:
    sub = web_app.store.get_subscriber(ANALYST)
    alerts = replace(sub.alerts, threshold=0.75, repeat_in_digest=True)
    web_app.store.update_subscriber(sub.id, replace(sub, alerts=alerts), now=web_app.clock())
    path = f"/preferences/{token_for(web_app, ANALYST)}"
    page = client.get(path).text
    assert 'name="alert_threshold" value="0.75" checked' in page
    assert "Keep my current setting (0.75)" in page
    assert 'name="alert_repeat_in_digest" value="on" checked' in page
    post_preferences(client, path, alert_threshold="0.75", alert_repeat_in_digest=["off", "on"])
    assert web_app.store.get_subscriber(ANALYST).alerts == replace(alerts, threshold=0.75)


def test_alert_threshold_daily_cap_and_repeat_are_saved(client: TestClient, web_app: App) -> None:
    path = f"/preferences/{token_for(web_app, ANALYST)}"
    saved = post_preferences(
        client,
        path,
        alert_threshold="0.9",
        alert_daily_cap="2",
        alert_repeat_in_digest=["off", "on"],  # as the page sends a ticked box
    )
    assert saved.status_code == 303
    sub = web_app.store.get_subscriber(ANALYST)
    assert (sub.alerts.threshold, sub.alerts.daily_cap, sub.alerts.repeat_in_digest) == (
        0.9,
        2,
        True,
    )
    assert sub.alerts.themes == ("missile_tests",) and sub.origin == "web"
    page = client.get(path).text
    assert 'name="alert_threshold" value="0.9" checked' in page
    assert 'name="alert_daily_cap" value="2"' in page
    assert 'name="alert_repeat_in_digest" value="on" checked' in page
    # An unticked box sends only the hidden "off"; a cap of 0 turns alerts off.
    post_preferences(client, path, alert_repeat_in_digest="off", alert_daily_cap="0")
    alerts = web_app.store.get_subscriber(ANALYST).alerts
    assert (alerts.daily_cap, alerts.repeat_in_digest, alerts.threshold) == (0, False, 0.9)


def test_a_raised_alert_threshold_stops_an_alert_the_old_one_sent(
    client: TestClient, web_app: App, clock: Clock
) -> None:
    """Through the real alert path, as the scheduler runs it after each ingest."""
    stored = Items(web_app)
    path = f"/preferences/{token_for(web_app, ANALYST)}"
    send_alerts(web_app, clock.now)  # alerts start from now
    clock.now += timedelta(minutes=5)
    alerted = stored.add({"missile_tests": 0.85}, clock.now, source=WIRE)
    assert len(send_alerts(web_app, clock.now).queued) == 1  # at the default 0.8
    assert post_preferences(client, path, alert_threshold="0.9", quiet="off").status_code == 303
    clock.now += timedelta(minutes=5)
    stored.add({"missile_tests": 0.85}, clock.now, source=WIRE)
    assert send_alerts(web_app, clock.now).queued == []
    assert delivered(web_app, ANALYST, "alert") == [[alerted]]


def test_a_daily_cap_of_one_holds_the_second_alert_of_the_day(
    client: TestClient, web_app: App, clock: Clock
) -> None:
    stored = Items(web_app)
    path = f"/preferences/{token_for(web_app, ANALYST)}"
    assert post_preferences(client, path, alert_daily_cap="1", quiet="off").status_code == 303
    send_alerts(web_app, clock.now)  # alerts start from now
    clock.now += timedelta(minutes=5)
    alerted = stored.add({"missile_tests": 0.9}, clock.now, source=WIRE)
    assert len(send_alerts(web_app, clock.now).queued) == 1
    clock.now += timedelta(hours=1)
    stored.add({"missile_tests": 0.9}, clock.now, source=WIRE)
    second = send_alerts(web_app, clock.now)
    assert second.queued == [] and [s.email for s in second.capped] == [ANALYST]
    assert delivered(web_app, ANALYST, "alert") == [[alerted]]


def test_preference_forms_without_a_valid_csrf_token_are_refused(
    client: TestClient, web_app: App
) -> None:
    path = f"/preferences/{token_for(web_app, ANALYST)}"
    token = csrf_of(client.get(path).text)
    assert client.post(path, data=preferences_form()).status_code == 403
    assert client.post(path, data=preferences_form(csrf_token="0" * 64)).status_code == 403
    cross_site = client.post(
        path, data=preferences_form(csrf_token=token), headers={"origin": "https://evil.example"}
    )
    assert cross_site.status_code == 403
    with TestClient(create_app(web_app), base_url=BASE, client=LOCAL) as cookieless:
        # A token copied from another browser is no good without that browser's cookie.
        assert cookieless.post(path, data=preferences_form(csrf_token=token)).status_code == 403
    assert web_app.store.get_subscriber(ANALYST).cadence == "daily 07:00"


def test_every_form_route_checks_its_csrf_token(client: TestClient, web_app: App) -> None:
    token = token_for(web_app, ANALYST)
    params = {"token": token, "source_id": "seed-documents", "subscriber_id": 1}
    assert isinstance(client.app, Starlette)  # create_app's, as the client fixture builds it
    posts = [r for r in client.app.routes if isinstance(r, Route) and "POST" in (r.methods or ())]
    assert {r.name for r in posts} == {
        "preferences",
        "preferences_status",
        "unsubscribe",
        "refresh_source",
    }
    for route in posts:
        if route.name == "unsubscribe":
            continue  # RFC 8058 one-click: authenticated by its signed token, by design
        path = route.url_path_for(route.name, **{k: params[k] for k in route.param_convertors})
        answer = client.post(path, data={"action": "pause", **preferences_form()})
        assert answer.status_code == 403, route.name
        assert "security token" in answer.text
    assert web_app.store.get_subscriber(ANALYST).status == "active"


def test_pause_and_resume_from_the_preference_center(client: TestClient, web_app: App) -> None:
    path = f"/preferences/{token_for(web_app, ANALYST)}"
    token = csrf_of(client.get(path).text)
    paused = client.post(path + "/status", data={"action": "pause", "csrf_token": token})
    assert "Your digests are paused" in paused.text
    assert web_app.store.get_subscriber(ANALYST).status == "paused"
    web_app.sync()  # config.toml lists the analyst as active; the reader's pause wins
    assert web_app.store.get_subscriber(ANALYST).status == "paused"
    assert "Nothing is sent while they are paused" in client.get("/subscribers/1").text
    client.post(path + "/status", data={"action": "resume", "csrf_token": token})
    assert web_app.store.get_subscriber(ANALYST).status == "active"


# -- unsubscribe (RFC 8058) ---------------------------------------------------------------


def test_get_on_the_unsubscribe_link_only_asks(client: TestClient, web_app: App) -> None:
    page = client.get(f"/unsubscribe/{token_for(web_app, ANALYST)}")
    assert page.status_code == 200
    assert "Unsubscribe from Korea Watch?" in page.text
    assert '<input type="hidden" name="List-Unsubscribe" value="One-Click">' in page.text
    assert web_app.store.get_subscriber(ANALYST).status == "active"


def test_one_click_post_unsubscribes_with_no_further_step(web_app: App) -> None:
    """As a mail provider sends it: no cookie, no CSRF token, from anywhere."""
    token = token_for(web_app, ANALYST)
    with TestClient(create_app(web_app), base_url=BASE, client=ELSEWHERE) as provider:
        answer = provider.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
        assert answer.status_code == 200
        assert "You are unsubscribed" in answer.text
        assert web_app.store.get_subscriber(ANALYST).status == "unsubscribed"
        again = provider.post(
            f"/unsubscribe/{token}", files={"List-Unsubscribe": (None, "One-Click")}
        )
        assert again.status_code == 200  # multipart/form-data, and already done: still fine


def test_one_click_post_without_its_body_changes_nothing(client: TestClient, web_app: App) -> None:
    token = token_for(web_app, ANALYST)
    assert client.post(f"/unsubscribe/{token}", data={"x": "y"}).status_code == 400
    assert web_app.store.get_subscriber(ANALYST).status == "active"


def test_an_unsubscribe_holds_through_config_syncs_until_the_owner_returns(
    client: TestClient, web_app: App
) -> None:
    token = token_for(web_app, ANALYST)
    client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    web_app.sync()
    assert web_app.store.get_subscriber(ANALYST).status == "unsubscribed"
    page = client.get(f"/preferences/{token}")
    assert "You are <strong>unsubscribed</strong>" in page.text
    client.post(
        f"/preferences/{token}/status", data={"action": "resume", "csrf_token": csrf_of(page.text)}
    )
    assert web_app.store.get_subscriber(ANALYST).status == "active"
