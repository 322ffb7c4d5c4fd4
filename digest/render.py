"""Render: a Digest becomes a subject, an HTML part (MJML) and a text part."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2
from markupsafe import Markup
from mjml import mjml2html

from digest.config import Settings
from digest.errors import RenderError
from digest.links import Links
from digest.models import Digest, Evidence, Item, RenderedEmail
from digest.sources.clean import clean_title, html_to_text

SUMMARY_CHARS = 320
# Long headers such as List-Unsubscribe must stay one <URL>, not be folded into
# RFC 2047 encoded words, which mail clients would not recognise as a link.
_POLICY = SMTP.clone(max_line_length=998)


def template_environment(settings: Settings) -> jinja2.Environment:
    """Templates from `templates/` beside config.toml first, then the packaged defaults."""
    packaged = Path(__file__).parent / "templates"
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [jinja2.FileSystemLoader(settings.path("templates")), jinja2.FileSystemLoader(packaged)]
        ),
        # select_autoescape() does not know .mjml.j2, so decide here: escape every markup
        # template (feed content is untrusted); plain-text parts must stay unescaped.
        autoescape=lambda name: name is None or not name.endswith(".txt.j2"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
        lstrip_blocks=False,
        keep_trailing_newline=True,
    )


def message_id(key: str, sender: str) -> str:
    """A Message-ID stable for one message key, so a resend can be spotted as the same."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "digest.invalid"
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


class Renderer:
    """Renders digests with one template environment, shared across subscribers."""

    def __init__(self, settings: Settings, env: jinja2.Environment | None = None) -> None:
        self.settings = settings
        self.env = env or template_environment(settings)

    def render_digest(
        self, digest: Digest, *, links: Links, key: str, now: datetime
    ) -> RenderedEmail:
        zone = ZoneInfo(digest.subscriber.timezone)
        subject = digest_subject(digest)
        context = {
            "digest": digest,
            "subject": subject,
            "preheader": preheader(digest),
            "period": _period(digest, zone),
            "greeting": f"for {digest.subscriber.name}" if digest.subscriber.name else "",
            "theme_labels": [
                self.settings.themes[t].label
                for t in digest.subscriber.themes
                if t in self.settings.themes
            ],
            "preferences_url": links.preferences,
            "unsubscribe_url": links.unsubscribe,
            "sender": self.settings.delivery.sender,
            "lang": "en",
            "local_date": _local_date(zone),
            "summary": _summary,
            "why": why,
        }
        try:
            mjml = self.env.get_template(f"{digest.kind}.mjml.j2").render(context)
            html = mjml2html(mjml)
            text = self.env.get_template(f"{digest.kind}.txt.j2").render(context)
        except jinja2.TemplateError as exc:
            raise RenderError(f"Template error while rendering {digest.kind}: {exc}") from None
        headers = {
            "List-Unsubscribe": _list_unsubscribe(links, self.settings),
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "List-Id": f"{clean_title(self.settings.digest.title)} <{_list_id(self.settings)}>",
        }
        if digest.kind == "alert":
            headers["Auto-Submitted"] = "auto-generated"
        return RenderedEmail(
            subject=subject,
            text=text,
            html=html,
            headers=headers,
            message_id=message_id(key, self.settings.delivery.sender),
        )


def build_message(
    rendered: RenderedEmail, *, sender: str, recipient: str, reply_to: str | None, date: datetime
) -> bytes:
    """The wire form: multipart/alternative, text first, then HTML."""
    message = EmailMessage(policy=_POLICY)
    message["From"] = sender
    message["To"] = recipient
    if reply_to:
        message["Reply-To"] = reply_to
    message["Subject"] = clean_title(rendered.subject)
    message["Date"] = format_datetime(date)
    message["Message-ID"] = rendered.message_id
    for name, value in rendered.headers.items():
        message[name] = value
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message.as_bytes()


def digest_subject(digest: Digest) -> str:
    """Says what is inside: e.g. "Korea Watch: 5 new (Missile tests 3, Alliance 2)"."""
    if digest.is_empty:
        return f"{digest.title}: nothing new"
    total = sum(len(s.entries) for s in digest.sections)
    counts = ", ".join(f"{s.label} {len(s.entries)}" for s in digest.sections)
    noun = "alert" if digest.kind == "alert" else "new"
    return clean_title(f"{digest.title}: {total} {noun} ({counts})")


def preheader(digest: Digest) -> str:
    titles = [e.item.title for e in digest.entries[:3]]
    return (
        clean_title(" · ".join(titles))[:150] if titles else "Nothing new since your last digest."
    )


def _period(digest: Digest, zone: ZoneInfo) -> str:
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


def _summary(item: Item) -> Markup | str:
    text = html_to_text(item.summary_html) or item.text
    if len(text) > SUMMARY_CHARS:
        text = text[:SUMMARY_CHARS].rsplit(" ", 1)[0] + " …"
    return " ".join(text.split())


def _list_unsubscribe(links: Links, settings: Settings) -> str:
    parts = [f"<{links.unsubscribe}>"]
    if settings.delivery.unsubscribe_mailto:
        parts.append(f"<mailto:{settings.delivery.unsubscribe_mailto}?subject=unsubscribe>")
    return ", ".join(parts)


def _list_id(settings: Settings) -> str:
    slug = "".join(c if c.isalnum() else "-" for c in settings.digest.title.lower()).strip("-")
    domain = parseaddr(settings.delivery.sender)[1].rpartition("@")[2] or "digest.invalid"
    return f"{slug or 'digest'}.{domain}"
