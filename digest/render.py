"""Render: a Digest becomes a subject, an HTML part (MJML) and a text part.

MJML is compiled once per template, not once per subscriber. `NAME.mjml.j2` is an MJML
document with Jinja in it: expressions (`{{ }}`) in text and attribute values, and each
statement (`{% %}`) that stands between MJML elements alone in an `<mj-raw>`, whose
content mjml-python copies into the HTML untouched. `MjmlLoader` compiles the file to
HTML with the Jinja still in it; Jinja compiles and caches that as an ordinary template,
so each subscriber costs one Jinja render. The output is byte for byte what rendering the
MJML with Jinja first and compiling it per subscriber gives (tests/test_render.py proves
it for the packaged templates, hostile content included); `Renderer(compile_each=True)`
is that slower path. A Renderer checks each template once against the slow path and
falls back to it, with a warning, for a deployment's template that breaks the rules.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
from collections.abc import Callable, Hashable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.parser import Parser
from mjml import mjml2html

from digest import mime
from digest.config import Settings
from digest.dkim import DkimSigner
from digest.errors import RenderError
from digest.links import Links
from digest.models import Digest, DigestEntry, Evidence, Item, RenderedEmail
from digest.sources.clean import clean_title, html_to_text, safe_url

log = logging.getLogger(__name__)
SUMMARY_CHARS = 320
PACKAGED_TEMPLATES = Path(__file__).parent / "templates"
_STATEMENT = re.compile(r"\{%.*?%\}", re.S)
_COMMENT = re.compile(r"\{#.*?#\}", re.S)
# mjml-python drops a whitespace-only text with a line break between two tags. Rendered
# first, statements between two tags leave just such a text; compiled first, they would
# keep it. Removing that whitespace before the compile makes both give the same HTML.
_STATEMENTS_BETWEEN_TAGS = re.compile(r"(?<=>)\s*(?:\{%.*?%\}\s*)+(?=<)", re.S)


def _join_statements(match: re.Match[str]) -> str:
    text = match.group(0)
    return "".join(_STATEMENT.findall(text)) if "\n" in _STATEMENT.sub("", text) else text


def compile_mjml(source: str, name: str = "<string>") -> str:
    """MJML with Jinja in it to HTML with the same Jinja in it, checked to have survived."""
    source = _STATEMENTS_BETWEEN_TAGS.sub(_join_statements, _COMMENT.sub("", source))
    try:
        html = mjml2html(source, disable_comments=True, fonts={})
    except ValueError as exc:
        raise RenderError(
            f"Template {name} is not valid MJML: {exc}",
            hint="A Jinja statement that stands between MJML elements goes alone in <mj-raw>.",
        ) from None
    if _STATEMENT.findall(source) != _STATEMENT.findall(html):
        raise RenderError(
            f"Template {name}: the MJML compile moved or dropped a Jinja statement.",
            hint="Put each {% ... %} that stands between MJML elements alone in an <mj-raw>.",
        )
    return html


class FragmentCache(Extension):
    """`{% cache key %}...{% endcache %}`: the block's output, remembered by its key.

    For what many readers share: the text part's items are the same for every reader
    with the same themes, window and time zone. The block must depend on nothing but
    its key (the packaged text templates key their items by `items_key()`, the views of
    every entry); it is remembered per template and line, in a bounded memory.
    """

    tags = {"cache"}
    limit = 2048  # fragments; a digest's items are about 12 KB of text

    def __init__(self, environment: jinja2.Environment) -> None:
        super().__init__(environment)
        self.fragments: dict[tuple[str | None, int, Hashable], str] = {}

    def parse(self, parser: Parser) -> nodes.Node:
        lineno = next(parser.stream).lineno
        key = parser.parse_expression()
        body = parser.parse_statements(("name:endcache",), drop_needle=True)
        where = [nodes.Const(parser.name), nodes.Const(lineno), key]
        call = self.call_method("_fragment", where)
        return nodes.CallBlock(call, [], [], body).set_lineno(lineno)

    def _fragment(
        self, name: str | None, lineno: int, key: Hashable, caller: Callable[[], str]
    ) -> str:
        found = self.fragments.get((name, lineno, key))
        if found is None:
            if len(self.fragments) >= self.limit:
                self.fragments.clear()
            found = self.fragments[(name, lineno, key)] = caller()
        return found


class MjmlLoader(jinja2.BaseLoader):
    """Wraps a loader; serves every `*.mjml.j2` compiled to HTML (Jinja caches the result)."""

    def __init__(self, inner: jinja2.BaseLoader) -> None:
        self.inner = inner

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        source, filename, uptodate = self.inner.get_source(environment, template)
        if template.endswith(".mjml.j2"):
            source = compile_mjml(source, filename or template)
        return source, filename, uptodate

    def list_templates(self) -> list[str]:
        return self.inner.list_templates()


def template_loader(settings: Settings) -> jinja2.BaseLoader:
    """Templates from `templates/` beside config.toml first, then the packaged defaults."""
    return jinja2.ChoiceLoader(
        [
            jinja2.FileSystemLoader(settings.path("templates")),
            jinja2.FileSystemLoader(PACKAGED_TEMPLATES),
        ]
    )


def template_environment(settings: Settings, *, compiled: bool = True) -> jinja2.Environment:
    """The Jinja environment; `compiled=False` gives the MJML sources uncompiled."""
    loader = template_loader(settings)
    env = jinja2.Environment(
        loader=MjmlLoader(loader) if compiled else loader,
        # select_autoescape() does not know .mjml.j2, so decide here: escape every markup
        # template (feed content is untrusted); plain-text parts must stay unescaped.
        autoescape=_autoescape,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        extensions=[FragmentCache],
    )
    env.filters["wordwrap"] = _cached_wordwrap(env.filters["wordwrap"])
    return env


def _cached_wordwrap(wordwrap: Callable[..., str]) -> Callable[..., str]:
    """Jinja's wordwrap, remembered: the same summary is wrapped for many subscribers,
    and textwrap costs more than the rest of the text part."""

    @functools.lru_cache(maxsize=8192)
    def wrapped(env: jinja2.Environment, s: str, *args: Any, **kwargs: Any) -> str:
        return wordwrap(env, s, *args, **kwargs)

    @jinja2.pass_environment
    def cached(env: jinja2.Environment, s: str, *args: Any, **kwargs: Any) -> str:
        return wrapped(env, str(s), *args, **kwargs)

    return cached


def _autoescape(name: str | None) -> bool:
    return name is None or not name.endswith(".txt.j2")


def message_id(key: str, sender: str) -> str:
    """A Message-ID stable for one message key, so a resend can be spotted as the same."""
    return _message_id(key, mime.domain_of(sender))


def _message_id(key: str, domain: str) -> str:
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


class Renderer:
    """Renders digests and alerts with one template environment, shared across subscribers."""

    def __init__(
        self,
        settings: Settings,
        env: jinja2.Environment | None = None,
        *,
        compile_each: bool = False,
        verify: bool = True,
        dkim: DkimSigner | None = None,
    ) -> None:
        self.settings = settings
        self.compile_each = compile_each
        self.env = env or template_environment(settings)
        # The same templates uncompiled: for compile_each, and to check the compiled ones.
        inner = self.env.loader.inner if isinstance(self.env.loader, MjmlLoader) else None
        self.source_env = self.env.overlay(loader=inner) if inner else self.env
        self.verify = verify
        self.dkim = dkim if dkim is not None else DkimSigner.from_settings(settings)
        self.checked: set[str] = set()  # kinds whose compiled HTML matched the slow path
        self.fallback: set[str] = set()  # kinds that did not, now compiled per subscriber
        self._summaries: dict[tuple[int, str], str] = {}
        self._items: dict[tuple[int, str, str], tuple[str, str, str]] = {}
        self._periods: dict[tuple[datetime, datetime, str], str] = {}
        self._list_id = list_id(settings)
        self._sender_domain = mime.domain_of(settings.delivery.sender)

    def render_digest(
        self, digest: Digest, *, links: Links, key: str, now: datetime
    ) -> RenderedEmail:
        """Subject, HTML, text and list headers of one digest or alert for one subscriber."""
        context = self.context(digest, links)
        # The HTML and the text part show the same entries: work each view out once.
        context["view"] = _once_per_entry(context["view"])
        try:
            html = self._html(digest.kind, context)
            text = self.env.get_template(f"{digest.kind}.txt.j2").render(context)
        except jinja2.TemplateError as exc:
            raise RenderError(
                f"Template error while rendering {digest.kind} for "
                f"{digest.subscriber.email}: {exc}",
                hint="Check the templates/ folder beside config.toml.",
            ) from None
        except ValueError as exc:  # mjml-python, on the compile-per-subscriber path
            raise RenderError(f"The {digest.kind} MJML does not compile: {exc}") from None
        headers = {
            "List-Id": self._list_id,
            "List-Unsubscribe": _list_unsubscribe(links, self.settings),
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }
        if digest.kind == "alert":
            headers["Auto-Submitted"] = "auto-generated"
        return RenderedEmail(
            subject=context["subject"],
            text=text,
            html=html,
            headers=headers,
            message_id=_message_id(key, self._sender_domain),
        )

    def _html(self, kind: str, context: dict[str, Any]) -> str:
        name = f"{kind}.mjml.j2"
        if self.compile_each or kind in self.fallback:
            return _compile_rendered(self.source_env.get_template(name).render(context))
        html = self.env.get_template(name).render(context)
        if self.verify and kind not in self.checked:
            # Once per template: a deployment's own template may hold Jinja that the MJML
            # compile cannot carry (a loop around columns, say). Then use the slow path.
            reference = _compile_rendered(self.source_env.get_template(name).render(context))
            if reference != html:
                log.warning(
                    "template %s gives other HTML compiled once than compiled per "
                    "subscriber; compiling it per subscriber (see the notes at the top of "
                    "templates/digest.mjml.j2)",
                    name,
                    extra={"template": name},
                )
                self.fallback.add(kind)
                return reference
            self.checked.add(kind)
        return html

    def build_message(self, rendered: RenderedEmail, *, recipient: str, date: datetime) -> bytes:
        """The wire form with this deployment's sender, Reply-To and DKIM key."""
        delivery = self.settings.delivery
        return build_message(
            rendered,
            sender=delivery.sender,
            recipient=recipient,
            reply_to=delivery.reply_to,
            date=date,
            dkim=self.dkim,
        )

    def context(self, digest: Digest, links: Links) -> dict[str, Any]:
        """Everything a template sees."""
        zone = ZoneInfo(digest.subscriber.timezone)
        themes = self.settings.themes
        return {
            "digest": digest,
            "kind": digest.kind,
            "subject": digest_subject(digest),
            "preheader": preheader(digest),
            "period": self._period(digest, zone),
            "greeting": f"for {digest.subscriber.name}" if digest.subscriber.name else "",
            "item_count": len(digest.entries),
            "theme_labels": [themes[t].label for t in digest.subscriber.themes if t in themes],
            "preferences_url": links.preferences,
            "unsubscribe_url": links.unsubscribe,
            "sender": self.settings.delivery.sender,
            "lang": "en",
            "dir": "ltr",
            "view": self._viewer(zone),
            "items_key": items_key,
            "local_date": _local_date(zone),
            "summary": self.summary,
            "why": why,
            "link": link,
        }

    def _period(self, digest: Digest, zone: ZoneInfo) -> str:
        """`period()`, worked out once per window and zone for all readers."""
        key = (digest.window_start, digest.window_end, str(zone))
        found = self._periods.get(key)
        if found is None:
            if len(self._periods) > 1000:
                self._periods.clear()
            found = self._periods[key] = period(digest, zone)
        return found

    def _viewer(self, zone: ZoneInfo) -> Callable[[DigestEntry], EntryView]:
        """`view(entry)` for templates: what an entry shows, worked out once per item and
        zone for all subscribers (the same items go to many readers)."""
        zone_key = str(zone)

        def view(entry: DigestEntry) -> EntryView:
            item = entry.item
            key = (item.id, zone_key, item.summary_html)
            shown = self._items.get(key)
            if shown is None:
                if len(self._items) > 20_000:
                    self._items.clear()
                shown = self._items[key] = (
                    link(item.url),
                    f"{item.when.astimezone(zone):%-d %b %Y}",
                    self.summary(item),
                )
            return EntryView(
                item.title,
                shown[0],
                entry.source_title,
                shown[1],
                shown[2],
                tuple(why(entry.evidence)),
                ", ".join(entry.also_reported_by),
            )

        return view

    def summary(self, item: Item) -> str:
        """A short plain-text summary, worked out once per item for all subscribers."""
        key = (item.id, item.summary_html)
        found = self._summaries.get(key)
        if found is None:
            if len(self._summaries) > 10_000:
                self._summaries.clear()
            found = self._summaries[key] = _summary(item)
        return found


@jinja2.pass_context
def items_key(context: jinja2.runtime.Context) -> tuple[tuple[str, tuple[EntryView, ...]], ...]:
    """All that a digest's items show: each section's label and its entries' views.

    Readers with the same themes, window and time zone get the same key, so a template
    can share the rendering of the items with `{% cache items_key() %}`."""
    view = context["view"]
    return tuple((s.label, tuple(map(view, s.entries))) for s in context["digest"].sections)


def _once_per_entry(view: Callable[[DigestEntry], EntryView]) -> Callable[[DigestEntry], EntryView]:
    """`view`, remembered for the entries of one digest (held, so their ids stay unique)."""
    seen: dict[int, tuple[DigestEntry, EntryView]] = {}

    def once(entry: DigestEntry) -> EntryView:
        found = seen.get(id(entry))
        if found is None or found[0] is not entry:
            found = seen[id(entry)] = (entry, view(entry))
        return found[1]

    return once


class EntryView(NamedTuple):
    """One entry as templates show it: `{% set v = view(entry) %}` then `v.title` etc.

    A named tuple, so that comparing and hashing views (the key of the text part's
    shared items) is done in C, and fields that are the same object compare at once."""

    title: str
    url: str  # http(s) or mailto, else "" (then show no link)
    source: str
    date: str  # in the reader's time zone
    summary: str
    why: tuple[str, ...]  # the matched phrases: "why this is here"
    also: str  # "also reported by", joined


def _compile_rendered(mjml: str) -> str:
    return mjml2html(mjml, disable_comments=True, fonts={})


def build_message(
    rendered: RenderedEmail,
    *,
    sender: str,
    recipient: str,
    reply_to: str | None,
    date: datetime,
    dkim: DkimSigner | None = None,
) -> bytes:
    """The wire form: multipart/alternative, text first, then HTML, CRLF line ends."""
    try:
        sender_lines = _sender_lines(sender, reply_to)
        headers = [
            sender_lines[0],
            mime.encode_address("To", recipient),
            *sender_lines[1:],
        ]
        headers += [
            mime.encode_unstructured("Subject", rendered.subject),
            mime.date_header(date),
            mime.encode_raw("Message-ID", rendered.message_id),
            *(mime.encode_raw(name, value) for name, value in rendered.headers.items()),
        ]
    except mime.HeaderError as exc:
        raise RenderError(f"Cannot write the message to {recipient}: {exc}") from None
    raw = mime.multipart_alternative(
        headers,
        text=rendered.text,
        html=rendered.html,
        boundary=mime.boundary_for(rendered.message_id),
    )
    return dkim.sign(raw) if dkim is not None else raw


@functools.lru_cache(maxsize=64)
def _sender_lines(sender: str, reply_to: str | None) -> tuple[bytes, ...]:
    """From (and Reply-To) as written: the same for every message of a deployment."""
    lines = [mime.encode_address("From", sender)]
    if reply_to:
        lines.append(mime.encode_address("Reply-To", reply_to))
    return tuple(lines)


@functools.lru_cache(maxsize=4096)
def _clean_title(text: str) -> str:
    """clean_title, remembered: readers with the same themes get the same subject and
    preheader, and cleaning (a str.translate over a dict) costs more than the lookup."""
    return clean_title(text)


def digest_subject(digest: Digest) -> str:
    """Says what is inside: e.g. "Korea Watch: 5 new (Missile tests 3, Alliance 2)"."""
    if digest.is_empty:
        return f"{digest.title}: nothing new"
    entries = digest.entries
    if digest.kind == "alert":
        more = f" (+{len(entries) - 1} more)" if len(entries) > 1 else ""
        return _clean_title(f"{digest.title} alert: {entries[0].item.title}") + more
    counts = ", ".join(f"{s.label} {len(s.entries)}" for s in digest.sections)
    return _clean_title(f"{digest.title}: {len(entries)} new ({counts})")


PREHEADER_CHARS = 150  # inboxes show about this much after the subject


def preheader(digest: Digest) -> str:
    """The line mail clients show after the subject: the first few titles."""
    titles = [e.item.title for e in digest.entries[:3]]
    if not titles:
        return "Nothing new since your last digest."
    line = _clean_title(" · ".join(titles))
    if len(line) <= PREHEADER_CHARS:
        return line
    return line[: PREHEADER_CHARS - 1].rsplit(" ", 1)[0].rstrip(" ·") + "…"


def period(digest: Digest, zone: ZoneInfo) -> str:
    """The window in the reader's zone, e.g. "Sun 22 Nov 2026, 07:00–12:00 KST"."""
    start = digest.window_start.astimezone(zone)
    end = digest.window_end.astimezone(zone)
    if start.date() == end.date():
        return f"{end:%a %-d %b %Y}, {start:%H:%M}–{end:%H:%M} {end.tzname()}"
    return f"{start:%-d %b} – {end:%-d %b %Y}"


def _local_date(zone: ZoneInfo) -> Callable[[datetime], str]:
    def local_date(value: datetime) -> str:
        return f"{value.astimezone(zone):%-d %b %Y}"

    return local_date


def why(evidence: Sequence[Evidence], limit: int = 3) -> list[str]:
    """The distinct phrases behind a tag, strongest first, for "why this is here"."""
    phrases = dict.fromkeys(e.phrase.lower() for e in evidence)
    return list(phrases)[:limit]


def link(url: str) -> str:
    """The URL if it is http(s) or mailto, else "" (the template then shows no link)."""
    return safe_url(url)


def _summary(item: Item) -> str:
    text = html_to_text(item.summary_html) or item.text
    text = " ".join(text.split())
    if len(text) > SUMMARY_CHARS:
        text = text[:SUMMARY_CHARS].rsplit(" ", 1)[0] + " …"
    return text


def _list_unsubscribe(links: Links, settings: Settings) -> str:
    parts = [f"<{links.unsubscribe}>"]
    if settings.delivery.unsubscribe_mailto:
        parts.append(f"<mailto:{settings.delivery.unsubscribe_mailto}?subject=unsubscribe>")
    return ", ".join(parts)


def list_id(settings: Settings) -> str:
    """`Title <slug.domain>` (RFC 2919), the title encoded if it is not plain ASCII."""
    title = settings.digest.title
    slug = "".join(c if c.isascii() and c.isalnum() else "-" for c in title.lower()).strip("-")
    slug = re.sub(r"-{2,}", "-", slug) or "digest"
    ident = f"<{slug}.{mime.domain_of(settings.delivery.sender)}>"
    return f"{mime.phrase(title)} {ident}"
