"""`digest ingest`, `digest items` and `digest sources`."""

from __future__ import annotations

import json

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from digest.app import App
from digest.cli.common import Context, pass_context, table, when
from digest.ingest import RefreshResult, refresh_all
from digest.models import Item, ThemeMatch
from digest.sources.fetch import make_client


@click.command("ingest")
@click.option("--source", "only", multiple=True, help="Refresh only this source id (repeatable).")
@pass_context
def ingest(ctx: Context, only: tuple[str, ...]) -> None:
    """Read every source now, store and tag what is new, and show how each went."""
    app = ctx.app()
    sources = [s for s in app.settings.sources if s.enabled and (not only or s.id in only)]
    unknown = set(only) - {s.id for s in app.settings.sources}
    if unknown:
        raise click.BadParameter(f"no source {', '.join(sorted(unknown))}", param_hint="--source")
    with Progress(
        TextColumn("[bold]Ingesting"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=ctx.console,
        transient=True,
    ) as progress:
        task = progress.add_task("", total=len(sources))

        def done(result: RefreshResult) -> None:
            progress.update(task, advance=1, description=result.source_id)

        with make_client(app.settings.ingest) as client:
            results = refresh_all(
                app.store,
                app.settings,
                client=client,
                tagger=app.tagger,
                now=app.clock(),
                only=[s.id for s in sources],
                on_done=done,
            )
    ctx.console.print(summary_table(results))
    failed = [r for r in results if r.failed]
    if failed:
        ctx.console.print(
            f"[yellow]{len(failed)} of {len(results)} sources failed; "
            "'digest sources' shows why.[/]"
        )


def summary_table(results: list[RefreshResult]) -> Table:
    rows = []
    for r in results:
        if r.failed:
            status = f"[red]failed: {r.error}[/]"
        elif r.not_modified:
            status = "not modified"
        elif r.warnings:
            status = f"[yellow]ok, {r.warnings[0]}[/]"
        else:
            status = "ok"
        rows.append((r.source_id, r.new, r.updated, r.unchanged, status))
    totals = [sum(getattr(r, k) for r in results) for k in ("new", "updated", "unchanged")]
    rows.append(("[bold]total[/]", *totals, f"{sum(r.failed for r in results)} failed"))
    return table("Ingest", ["source", "new", "updated", "unchanged", "status"], rows)


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
    found = app.store.list_items(theme=theme, source_id=source_id, limit=limit)
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
        table(f"{len(found)} items", ["id", "date", "source", "title", "themes"], rows)
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


@click.command("sources")
@pass_context
def sources(ctx: Context) -> None:
    """Show each source's health: last check, last success, errors, next check, items."""
    app = ctx.app()
    rows = [
        (
            s.id,
            s.kind,
            s.status,
            when(s.last_success_at),
            s.error_count,
            s.last_error or "-",
            when(s.next_check_at),
            s.item_count,
        )
        for s in app.store.list_sources()
    ]
    ctx.console.print(
        table(
            "Sources",
            ["id", "kind", "status", "last success", "errors", "last error", "next check", "items"],
            rows,
        )
    )


def register(cli: click.Group) -> None:
    cli.add_command(ingest)
    cli.add_command(items)
    cli.add_command(sources)
