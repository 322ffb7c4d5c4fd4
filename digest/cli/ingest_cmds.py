"""`digest ingest`, `digest items` and `digest sources`."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from digest.app import App
from digest.cli import sources_cmds
from digest.cli.common import Context, counted, naming_config, pass_context, table, when
from digest.ingest import RefreshResult, configured_sources, refresh_all
from digest.models import Item, ThemeMatch
from digest.sources.abandon import stop_on_signals
from digest.sources.fetch import make_client


@click.command("ingest")
@click.option("--source", "only", multiple=True, help="Refresh only this source id (repeatable).")
@pass_context
def ingest(ctx: Context, only: tuple[str, ...]) -> None:
    """Read every source now, store and tag what is new, and show how each went."""
    app = ctx.app()
    known = configured_sources(app.settings, app.store)
    unknown = set(only) - {s.id for s in known}
    if unknown:
        raise click.BadParameter(
            f"no source {', '.join(sorted(unknown))}; 'digest sources' lists them",
            param_hint="--source",
        )
    count = sum(1 for s in known if s.enabled and (not only or s.id in only))
    with Progress(
        TextColumn("[bold]Ingesting"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}", markup=False),
        TimeElapsedColumn(),
        console=ctx.console,
        transient=True,
    ) as progress:
        task = progress.add_task("", total=count)

        def done(result: RefreshResult) -> None:
            progress.update(task, advance=1, description=result.source_id)

        stop = threading.Event()
        with make_client(app.settings.ingest) as client, stop_on_signals(stop) as received:
            results = refresh_all(
                app.store,
                app.settings,
                client=client,
                tagger=app.tagger,
                now=app.clock(),
                only=list(only) or None,
                on_done=done,
                stop=stop,
            )
    ctx.console.print(summary_table(results, ctx.config))
    failed = [r for r in results if r.failed and not r.skipped]
    if failed:
        ctx.console.print(
            f"{len(failed)} of {counted(len(results), 'source')} failed; "
            "'digest sources show ID' says why and what to do.",
            style="yellow",
        )
    if received:
        left = sum(r.abandoned for r in results)
        ctx.console.print(
            f"Stopped; {counted(left, 'source')} not refreshed "
            "(nothing recorded on them: they are still due).",
            style="yellow",
        )
        # Interrupted is not success: 128 + the signal, as a shell reports it.
        click.get_current_context().exit(128 + received[0])


def summary_table(results: list[RefreshResult], config: Path) -> Table:
    """new, updated, unchanged and failed per source, and a note on anything unusual."""
    rows: list[tuple[object, ...]] = []
    for r in results:
        # Errors and warnings quote feeds and settings ("[ingest] max_bytes"): plain text.
        if r.skipped:
            note = Text(naming_config(f"skipped: {r.status}. {r.advice}", config), style="yellow")
        elif r.abandoned:
            note = Text("not refreshed: stopped while reading", style="yellow")
        elif r.failed:
            note = Text(naming_config(f"{r.error}. {r.advice}", config), style="red")
        elif r.not_modified:
            note = Text("not modified")
        elif r.warnings:
            note = Text(naming_config("; ".join(r.warnings), config), style="yellow")
        else:
            note = Text("ok")
        failed = "yes" if r.failed and not r.skipped else ""
        rows.append((r.source_id, r.new, r.updated, r.unchanged, failed, note))
    totals = [sum(getattr(r, k) for r in results) for k in ("new", "updated", "unchanged")]
    failures = sum(1 for r in results if r.failed and not r.skipped)
    rows.append((Text("total", style="bold"), *totals, failures, counted(len(results), "source")))
    return table("Ingest", ["source", "new", "updated", "unchanged", "failed", "note"], rows)


@click.command("items")
@click.option("--theme", help="Only items tagged with this theme.")
@click.option("--source", "source_id", help="Only items from this source.")
@click.option("--limit", default=50, show_default=True, help="How many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@pass_context
def items(
    ctx: Context, theme: str | None, source_id: str | None, limit: int, as_json: bool
) -> None:
    """List stored items with their themes and scores."""
    app = ctx.app()
    if theme is not None and theme not in app.settings.themes:
        raise click.BadParameter(
            f'"{theme}" is not a theme; expected one of {", ".join(app.settings.themes)}',
            param_hint="--theme",
        )
    if source_id is not None:
        stored = app.store.list_sources(configured_only=False)  # a removed one keeps its items
        if source_id not in {s.id for s in stored}:
            shown = ", ".join(s.id for s in app.store.list_sources()) or "none"
            raise click.BadParameter(
                f'"{source_id}" is not a source; expected one of {shown}',
                param_hint="--source",
            )
    found = app.store.list_items(
        theme=theme,
        min_score=app.tagger.threshold(theme) if theme is not None else 0.0,
        source_id=source_id,
        limit=limit,
    )
    if as_json:
        click.echo(json.dumps([_item_json(item, tags, app) for item, tags in found], indent=2))
        return
    rows = []
    for item, matches in found:
        shown = ", ".join(
            f"{m.theme} {m.score:.2f}" for m in matches if m.score >= app.tagger.threshold(m.theme)
        )
        rows.append((item.id, when(item.when)[:10], item.source_id, item.title, shown or "-"))
    ctx.console.print(
        table(counted(len(found), "item"), ["id", "date", "source", "title", "themes"], rows)
    )


def _item_json(item: Item, tags: list[ThemeMatch], app: App) -> dict[str, object]:
    return {
        "id": item.id,
        "source_id": item.source_id,
        "guid": item.guid,
        "url": item.url,
        "title": item.title,
        "published_at": item.published_at and item.published_at.isoformat(),
        "first_seen_at": item.first_seen_at.isoformat(),
        "summary_html": item.summary_html,
        "story_id": item.story_id,
        "tags": [
            {
                "theme": m.theme,
                "score": m.score,
                "tagged": m.score >= app.tagger.threshold(m.theme),
                "evidence": [{"phrase": e.phrase, "sentence": e.snippet} for e in m.evidence],
            }
            for m in tags
        ],
    }


def register(cli: click.Group) -> None:
    cli.add_command(ingest)
    cli.add_command(items)
    cli.add_command(sources_cmds.sources)
