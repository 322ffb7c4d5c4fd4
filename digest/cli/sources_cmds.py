"""`digest sources`: health of every source, and adding, importing and exporting feeds."""

from __future__ import annotations

import re
from pathlib import Path

import click
from rich.text import Text

from digest.app import App
from digest.cli.common import (
    Context,
    config_label,
    counted,
    naming_config,
    pass_context,
    table,
    when,
)
from digest.config import FeedSource
from digest.errors import DigestError, SourceError
from digest.ingest import advice, configured_sources
from digest.sources import is_web
from digest.sources.discover import discover, source_id_for
from digest.sources.fetch import make_client
from digest.sources.opml import read_opml, write_opml
from digest.sources.pool import ParserPool

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")  # as config.toml's source ids
_ORIGINS = {
    "cli": "added with 'digest sources add'",
    "opml": "imported from OPML",
}


@click.group("sources", invoke_without_command=True)
@click.pass_context
def sources(click_ctx: click.Context) -> None:
    """Show each source's health (status, last success, last error, next check, items);
    the subcommands show, resume, add, remove, import and export sources."""
    if click_ctx.invoked_subcommand is None:
        ctx = click_ctx.find_object(Context)
        assert ctx is not None
        _health_table(ctx)


def _health_table(ctx: Context) -> None:
    rows = []
    for s in ctx.app().store.list_sources():
        if s.last_error:
            problem = Text(_sentence(s.last_error, ctx), style="red")
        elif s.last_warning:
            problem = Text(_sentence(s.last_warning, ctx), style="yellow")
        else:
            problem = Text("-")
        if s.status in ("paused", "disabled"):
            status = Text(s.status, style="red")
        elif s.last_checked_at is None and s.status == "active":
            status = Text("new")
        else:
            status = Text("failing", style="yellow") if s.error_count else Text("ok")
        rows.append(
            (
                s.id,
                status,
                when(s.last_success_at),
                problem,
                s.error_count,
                when(s.next_check_at) if s.status == "active" else "-",
                s.item_count,
            )
        )
    ctx.console.print(
        table(
            "Sources",
            ["id", "status", "last success", "last error", "errors", "next check", "items"],
            rows,
        )
    )


@sources.command("show")
@click.argument("source_id")
@pass_context
def show(ctx: Context, source_id: str) -> None:
    """Everything known about one source, and what to do about its problems."""
    s = ctx.app().store.get_source(source_id)
    rows: list[tuple[str, object]] = [
        ("id", s.id),
        ("title", s.title or "-"),
        ("kind", s.kind),
        (
            "from",
            config_label(ctx.config) if s.origin == "config" else _ORIGINS.get(s.origin, s.origin),
        ),
        ("address", s.location),
    ]
    if s.moved_to:
        update = f"permanent redirect; update {config_label(ctx.config)}"
        rows.append(("moved to", f"{s.moved_to} ({update})"))
    rows += [
        ("status", s.status),
        ("items", s.item_count),
        ("last check", when(s.last_checked_at)),
        ("last success", when(s.last_success_at)),
        ("errors in a row", s.error_count),
        ("last error", _sentence(s.last_error, ctx) if s.last_error else "-"),
        ("warning", _sentence(s.last_warning, ctx) if s.last_warning else "-"),
        ("next check", when(s.next_check_at) if s.status == "active" else "-"),
        ("ETag", s.etag or "-"),
        ("Last-Modified", s.last_modified or "-"),
    ]
    if s.last_error or s.status != "active":
        what_next = advice(s.id, s.status, s.next_check_at, more=False)
        rows.append(("what next", naming_config(what_next, ctx.config)))
    ctx.console.print(table(f"Source {s.id}", ["", ""], rows))


@sources.command("resume")
@click.argument("source_id")
@pass_context
def resume(ctx: Context, source_id: str) -> None:
    """Check a paused or disabled source again, from the next run on."""
    app = ctx.app()
    source = app.store.resume_source(source_id, app.clock())
    click.echo(
        f"Resumed '{source.id}'; it is checked on the next run "
        f"('digest ingest --source {source.id}' checks it now)."
    )


@sources.command("add")
@click.argument("url")
@click.option("--id", "source_id", help="Id for the new source (default: from its title).")
@click.option("--title", help="Display name (default: the feed's own title).")
@click.option("--interval", type=click.IntRange(min=1), help="Minutes between checks.")
@pass_context
def add(
    ctx: Context, url: str, source_id: str | None, title: str | None, interval: int | None
) -> None:
    """Add a feed by its address, or by a web page that links to one."""
    app = ctx.app()
    if source_id is not None and not _ID.match(source_id):
        raise click.BadParameter(
            f'"{source_id}" is not an id; expected lowercase letters, digits, - and _',
            param_hint="--id",
        )
    if not is_web(url):
        raise DigestError(
            f"Cannot add '{url}': only http(s) addresses can be added here.",
            hint="A local feed file goes in config.toml as a [[sources]] entry.",
        )
    settings = app.settings.ingest
    with make_client(settings) as client, ParserPool.from_settings(settings, workers=1) as pool:
        try:
            found = discover(
                client,
                url,
                parser=pool,
                max_bytes=settings.max_bytes,
                max_items=settings.max_items_per_feed,
                now=app.clock(),
            )
        except SourceError as exc:
            raise DigestError(
                f"Cannot add '{url}': {exc.reason}.",
                hint=exc.hint or "Check the address in a browser; is it a feed or a page?",
            ) from None
    existing = _same_address(app, found.url)
    if existing is not None:
        raise DigestError(
            f"Cannot add '{found.url}': source '{existing}' already reads it.",
            hint=f"'digest sources show {existing}' shows it.",
        )
    taken = {s.id for s in app.store.list_sources(configured_only=False)}
    new_id = source_id or source_id_for(title or found.title, found.url, taken)
    source = app.store.add_source(
        new_id,
        found.url,
        title=title or found.title or new_id,
        origin="cli",
        now=app.clock(),
        interval_minutes=interval,
    )
    if found.page:
        click.echo(f"Found the feed {found.url} on the page {found.page}.")
    click.echo(
        f"Added '{source.id}' ({source.title}, {found.items} items now). "
        f"'digest ingest --source {source.id}' reads it now."
    )
    if found.others:
        click.echo("The page also announces: " + ", ".join(found.others))


@sources.command("remove")
@click.argument("source_id")
@pass_context
def remove(ctx: Context, source_id: str) -> None:
    """Stop reading a source that was added or imported (its items are kept)."""
    ctx.app().store.remove_source(source_id)
    click.echo(f"Removed '{source_id}'; its items are kept.")


@sources.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@pass_context
def import_opml(ctx: Context, file: Path) -> None:
    """Add every feed listed in an OPML file (as feed readers export)."""
    app = ctx.app()
    outlines, skipped = read_opml(file.read_bytes(), str(file))
    taken = {s.id for s in app.store.list_sources(configured_only=False)}
    added: list[tuple[str, str, str]] = []
    for outline in outlines:
        existing = _same_address(app, outline.url)
        if existing is not None:
            skipped.append(f"'{outline.title or outline.url}': already read by '{existing}'")
            continue
        new_id = source_id_for(outline.title, outline.url, taken)
        taken.add(new_id)
        app.store.add_source(
            new_id, outline.url, title=outline.title or new_id, origin="opml", now=app.clock()
        )
        added.append((new_id, outline.title, outline.url))
    if added:
        ctx.console.print(
            table(f"Imported {counted(len(added), 'feed')}", ["id", "title", "url"], added)
        )
    else:
        click.echo("No new feeds in the file.")
    for line in skipped:
        click.echo(f"Skipped {line}")
    if added:
        click.echo("'digest ingest' reads them now; 'digest sources' shows how they went.")


@sources.command("export")
@click.option(
    "--output", "-o", type=click.Path(path_type=Path, dir_okay=False), help="File to write."
)
@pass_context
def export_opml(ctx: Context, output: Path | None) -> None:
    """Write every http(s) feed as OPML (to standard output, or --output FILE)."""
    app = ctx.app()
    states = app.store.source_states()
    feeds: list[tuple[str, str]] = []
    local: list[str] = []
    for source in configured_sources(app.settings, app.store):
        if not isinstance(source, FeedSource):
            continue
        state = states.get(source.id)
        url = (state.moved_to if state else None) or source.url
        if not is_web(url):
            local.append(source.id)
            continue
        feeds.append((source.title or (state.title if state else "") or source.id, url))
    text = write_opml(feeds, title=app.settings.digest.title, now=app.clock())
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"Wrote {counted(len(feeds), 'feed')} to {output}.", err=True)
    if local:
        click.echo(f"Left out local feed files: {', '.join(local)}.", err=True)


def _same_address(app: App, url: str) -> str | None:
    """The id of a shown source that already reads `url`, if one does."""
    wanted = url.rstrip("/")
    for source in app.store.list_sources():
        if wanted in (source.location.rstrip("/"), (source.moved_to or "").rstrip("/")):
            return source.id
    return None


def _sentence(text: str, ctx: Context) -> str:
    """A stored error or warning as a sentence that names the config file in use."""
    text = naming_config(text.strip(), ctx.config)
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?", ")")) else text + "."
