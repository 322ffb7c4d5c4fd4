"""Render: templates, compile-once MJML, and what the HTML and the text part show."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from jinja2 import Environment

from digest.config import Settings, load_settings
from digest.errors import RenderError
from digest.render import Renderer, compile_mjml, template_environment
from tests.conftest import REPO
from tests.digests import LINKS, NOW, make_digest, subscriber
from tests.render_fixtures import KEY, render

# -- compile once ----------------------------------------------------------------------------------


CASES = {
    "two-sections": make_digest(),
    "hostile": make_digest(hostile=True),
    "empty": make_digest(items_per_theme=(0, 0)),
    "omitted": make_digest(items_per_theme=(3, 2), omitted=4),
    "alert": make_digest(items_per_theme=(1,), kind="alert"),
    "alert-hostile": make_digest(items_per_theme=(2,), kind="alert", hostile=True),
    "thirty": make_digest(items_per_theme=(20, 10)),
}


@pytest.mark.parametrize("case", CASES)
def test_compiled_once_equals_compiling_per_subscriber(
    settings: Settings, renderer: Renderer, case: str
) -> None:
    once = Renderer(settings, verify=False)
    each = Renderer(settings, compile_each=True)
    assert render(once, CASES[case]).html == render(each, CASES[case]).html


def test_the_packaged_templates_pass_their_own_check(renderer: Renderer) -> None:
    render(renderer, make_digest())
    render(renderer, make_digest(items_per_theme=(1,), kind="alert"))
    assert renderer.checked == {"digest", "alert"} and not renderer.fallback


def test_a_template_the_compile_cannot_carry_falls_back_to_compiling_each(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "digest.mjml.j2").write_text(
        "<mjml><mj-body><mj-section>{% for s in digest.sections %}<mj-column><mj-text>"
        "{{ s.label }}</mj-text></mj-column>{% endfor %}</mj-section></mj-body></mjml>"
    )
    settings = load_settings(REPO / "config.toml").model_copy(update={"base_dir": tmp_path})
    renderer = Renderer(settings)
    html = render(renderer, make_digest()).html
    assert renderer.fallback == {"digest"} and "compiling it per subscriber" in caplog.text
    assert html == render(Renderer(settings, compile_each=True), make_digest()).html
    assert "mj-column-per-50" in html  # two columns, as MJML lays out two


def test_mjml_is_compiled_once_per_template(settings: Settings) -> None:
    calls: list[str] = []
    env = template_environment(settings)
    loader = env.loader
    assert loader is not None
    original = loader.get_source

    def counting(
        environment: Environment, name: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        calls.append(name)
        return original(environment, name)

    # This one loader counts its calls; mypy refuses any assignment to a method.
    loader.get_source = counting  # type: ignore[method-assign,assignment]
    renderer = Renderer(settings, env)
    for n in range(5):
        render(renderer, make_digest(subscriber(id=n, email=f"r{n}@example.org")))
    assert calls.count("digest.mjml.j2") == 1


def test_a_statement_mjml_cannot_hold_is_refused_with_a_hint() -> None:
    source = (
        "<mjml><mj-head>{% if x %}<mj-title>t</mj-title>{% endif %}</mj-head>"
        "<mj-body></mj-body></mjml>"
    )
    with pytest.raises(RenderError) as caught:
        compile_mjml(source, "bad.mjml.j2")
    assert "mj-raw" in (caught.value.hint or "")


def test_broken_mjml_names_the_template() -> None:
    with pytest.raises(RenderError, match="bad.mjml.j2 is not valid MJML"):
        compile_mjml("<mjml><mj-body>", "bad.mjml.j2")


def test_templates_beside_config_override_the_packaged_ones(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "digest.txt.j2").write_text("Custom: {{ digest.title }}\n")
    settings = load_settings(REPO / "config.toml").model_copy(update={"base_dir": tmp_path})
    rendered = render(Renderer(settings), make_digest())
    assert rendered.text == "Custom: Korea Watch\n"
    assert "Missile tests" in rendered.html  # the HTML still comes from the packaged default


# -- what the HTML and the text keep ---------------------------------------------------------------


def test_html_keeps_lang_dir_presentation_roles_and_preheader(renderer: Renderer) -> None:
    html = render(renderer, make_digest()).html
    assert html.startswith('<!doctype html><html lang="en" dir="ltr"')
    assert 'role="presentation"' in html
    assert re.search(r'<div style="display:none;[^"]*">North Korea test-fires missile number', html)
    assert '<meta name="color-scheme" content="light dark"' in html
    assert "prefers-color-scheme: dark" in html


def test_thirty_items_stay_under_90_kb(renderer: Renderer) -> None:
    html = render(renderer, CASES["thirty"]).html
    assert len(CASES["thirty"].entries) == 30
    assert len(html.encode()) < 90_000, len(html.encode())


def test_every_item_shows_title_link_source_date_summary_evidence_and_others(
    renderer: Renderer,
) -> None:
    rendered = render(renderer, make_digest())
    for part in (rendered.html, rendered.text):
        assert "North Korea test-fires missile number 2" in part
        assert "Peninsula Wire · 22 Nov 2026" in part
        assert "also reported by Allied Monitor" in part
        assert "Officials said the launch" in part
        assert "ballistic missile" in part and "hwasong-18" in part
        assert LINKS.unsubscribe in part and LINKS.preferences in part
        assert "Korea Watch" in part
    assert 'href="https://news.example.org/story/2?a=1&amp;b=2"' in rendered.html
    assert "Missile tests <span" in rendered.html and "· 2</span>" in rendered.html


def test_subject_says_what_is_inside(renderer: Renderer) -> None:
    assert (
        render(renderer, make_digest()).subject
        == "Korea Watch: 3 new (Missile tests 2, China's influence 1)"
    )
    assert (
        render(renderer, make_digest(items_per_theme=(2,), kind="alert")).subject
        == "Korea Watch alert: North Korea test-fires missile number 1 (+1 more)"
    )


def test_the_text_items_rendered_once_are_the_same_as_rendered_for_each_reader(
    settings: Settings,
) -> None:
    """`{% cache items_key() %}` in the text template shares the items between readers;
    each reader's text must still be what a renderer with nothing remembered gives."""
    from digest.links import LinkSigner

    signer = LinkSigner("test-key", "https://digest.example.org")
    digests = [
        make_digest(subscriber(id=n, email=f"r{n}@example.org", name=name, timezone=zone))
        for n, (name, zone) in enumerate(
            [("Ann", "Asia/Seoul"), ("", "Asia/Seoul"), ("Bo", "America/New_York")] * 2
        )
    ]
    digests += [make_digest(items_per_theme=(3, 2)), make_digest(hostile=True)]
    digests.append(replace(digests[0], sections=digests[0].sections[:1]))
    shared = Renderer(settings)
    texts = []
    for d in digests:
        links = signer.links(d.subscriber.id, d.subscriber.email, now=NOW)
        text = shared.render_digest(d, links=links, key=KEY, now=NOW).text
        alone = Renderer(settings).render_digest(d, links=links, key=KEY, now=NOW).text
        assert text == alone
        texts.append(text)
    assert len(set(texts)) == len(texts)


def test_a_long_preheader_ends_on_a_whole_word() -> None:
    from digest.render import PREHEADER_CHARS, preheader

    digest = make_digest(items_per_theme=(3, 3))
    long_titles = replace(
        digest,
        sections=tuple(
            replace(
                s,
                entries=tuple(
                    replace(e, item=replace(e.item, title="Pyongyang escalation " * 5))
                    for e in s.entries
                ),
            )
            for s in digest.sections
        ),
    )
    line = preheader(long_titles)
    assert len(line) <= PREHEADER_CHARS and line.endswith("escalation…")
