"""`digest preview`, `digest send` and `digest run`."""

from __future__ import annotations

from pathlib import Path

import click

from digest.cli.common import Context, parse_time, pass_context, table
from digest.compose import compose_digest
from digest.links import signer_for
from digest.render import Renderer
from digest.schedule import SendResult, digest_key, run_cycle, run_scheduler, send_due


@click.command("preview")
@click.argument("subscriber")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), help="Write the HTML here.")
@click.option("--text", "show_text", is_flag=True, help="Print the plain-text part.")
@click.option("--at", "at", help="Compose as of this ISO time instead of now.")
@click.option(
    "--screenshot",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write a PNG: the HTML in headless Chromium at 600 px and 375 px, side by side.",
)
@click.option("--dark", is_flag=True, help="Take the screenshot in dark mode.")
@pass_context
def preview(
    ctx: Context,
    subscriber: str,
    out: Path | None,
    show_text: bool,
    at: str | None,
    screenshot: Path | None,
    dark: bool,
) -> None:
    """Render SUBSCRIBER's next digest (email, id or name) without sending or recording it."""
    app = ctx.app()
    now = parse_time(at) or app.clock()
    sub = app.store.get_subscriber(int(subscriber) if subscriber.isdigit() else subscriber)
    digest = compose_digest(app.store, app.settings, sub, now)
    links = signer_for(app.settings).links(sub.id, sub.email)
    rendered = Renderer(app.settings).render_digest(
        digest, links=links, key=digest_key(sub, now), now=now
    )
    click.echo(f"Subject: {rendered.subject}")
    click.echo(
        f"{len(digest.entries)} items in {len(digest.sections)} sections"
        + (f", {digest.omitted} left out by the item limit" if digest.omitted else "")
    )
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(rendered.html, encoding="utf-8")
        click.echo(f"HTML written to {out}")
    if screenshot is not None:
        from digest.screenshot import screenshot as take_screenshot

        take_screenshot(rendered.html, screenshot, dark=dark)
        click.echo(f"Screenshot (desktop 600 px and mobile 375 px, side by side): {screenshot}")
    if show_text:
        click.echo("")
        click.echo(rendered.text)


def _report(ctx: Context, result: SendResult) -> None:
    flushed = result.flushed
    rows = [(m.recipient, m.kind, "sent", flushed.replies.get(m.id, "")) for m in flushed.sent]
    rows += [(m.recipient, m.kind, "will retry", "") for m in flushed.retrying]
    rows += [(m.recipient, m.kind, "failed", "") for m in flushed.failed]
    rows += [(s.email, "digest", "nothing new, not sent", "") for s in result.skipped_empty]
    if rows:
        ctx.console.print(table("Delivery", ["recipient", "kind", "status", "detail"], rows))
    else:
        ctx.console.print("Nothing is due.")


@click.command("send")
@pass_context
def send(ctx: Context) -> None:
    """Compose and deliver the digests that are due now."""
    app = ctx.app()
    _report(ctx, send_due(app, app.clock()))


@click.command("run")
@click.option("--once", is_flag=True, help="Run one full cycle (ingest, tag, send) and exit.")
@click.option("--every", default=60, show_default=True, help="Seconds between scheduler checks.")
@pass_context
def run(ctx: Context, once: bool, every: int) -> None:
    """Run the scheduler (ingest what is due, send what is due) until stopped."""
    if not once:
        click.echo(f"digest scheduler running (checks every {every}s); Ctrl-C stops it.")
        run_scheduler(ctx.config, every_seconds=every)
        return
    app = ctx.app()
    result = run_cycle(app)
    from digest.cli.ingest_cmds import summary_table

    ctx.console.print(summary_table(result.refreshed))
    _report(ctx, result.sent)
    if app.settings.delivery.backend == "file":
        outbox = app.settings.path(app.settings.delivery.outbox)
        ctx.console.print(f"Digests are in {outbox.resolve()}")


def register(cli: click.Group) -> None:
    for command in (preview, send, run):
        cli.add_command(command)
