"""`digest preview`, `digest send`, `digest run` and `digest schedule`."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

import click

from digest.alerts import AlertResult
from digest.app import App
from digest.cli.common import Context, counted, parse_time, pass_context, table, when
from digest.compose import compose_digest
from digest.config import load_settings
from digest.deliver import FlushResult
from digest.errors import ConfigError, SubscriptionError
from digest.links import signer_for
from digest.models import Subscriber
from digest.render import Renderer
from digest.schedule import (
    Lease,
    SendResult,
    digest_key,
    run_cycle,
    send_due,
    send_now,
)


def next_digest_text(sub: Subscriber, now: datetime, *, utc: bool = False) -> str:
    """A subscriber's next digest for a table: local time (or UTC), or "due now"."""
    if sub.status != "active":
        return sub.status
    slot = sub.next_digest_at or now
    shown = when(slot) if utc else when(slot, sub.timezone)
    return f"due now (since {shown})" if slot <= now else shown


def find_subscriber(app: App, key: str) -> Subscriber:
    """A subscriber by email, id or name, as typed on the command line."""
    return app.store.get_subscriber(int(key) if key.isdigit() else key)


@click.command("preview")
@click.argument("subscriber")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), help="Write the HTML here.")
@click.option("--text", "show_text", is_flag=True, help="Print the plain-text part.")
@click.option(
    "--at", "at", metavar="ISO-TIME", help="Compose as of this time (e.g. 2026-11-23T07:00+09:00)."
)
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
    sub = find_subscriber(app, subscriber)
    digest = compose_digest(app.store, app.settings, sub, now)
    links = signer_for(app.settings).links(sub.id, sub.email, now=now)
    rendered = Renderer(app.settings).render_digest(
        digest, links=links, key=digest_key(sub.id, sub.next_digest_at or now), now=now
    )
    click.echo(f"Subject: {rendered.subject}")
    click.echo(f"Window: {when(digest.window_start, sub.timezone)} to {when(now, sub.timezone)}")
    click.echo(
        f"{counted(len(digest.entries), 'item')} in {counted(len(digest.sections), 'section')}"
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


def _flushed_rows(flushed: FlushResult) -> list[tuple[str, str, str, str]]:
    rows = [
        (m.recipient, m.kind, "sent", _short_reply(flushed.replies.get(m.id, "")))
        for m in flushed.sent
    ]
    # The error of this attempt: the messages as loaded carry the previous one, if any.
    rows += [
        (m.recipient, m.kind, "will retry", flushed.errors.get(m.id, "")) for m in flushed.retrying
    ]
    rows += [(m.recipient, m.kind, "failed", flushed.errors.get(m.id, "")) for m in flushed.failed]
    return rows


def _short_reply(reply: str) -> str:
    """A backend's reply for the table: the file backend's path shortened to its name
    (the command names the outbox folder once, below the table)."""
    if reply.startswith("written "):
        return Path(reply.removeprefix("written ")).name
    return reply


def _report(
    ctx: Context,
    result: SendResult,
    *,
    extra: FlushResult | None = None,
    alerts: AlertResult | None = None,
) -> None:
    rows = _flushed_rows(extra) if extra is not None else []
    rows += _flushed_rows(result.flushed)
    rows += [(s.email, "digest", "nothing new, not sent", "") for s in result.skipped_empty]
    for found in (alerts, result.alerts):
        if found is None:
            continue
        rows += [
            (s.email, "alert", "held for quiet hours", f"until {when(until, s.timezone)}")
            for s, until in found.held
        ]
        rows += [(s.email, "alert", "daily cap reached, not sent", "") for s in found.capped]
    unreachable = any(f is not None and f.unreachable for f in (extra, result.flushed))
    if rows:
        ctx.console.print(table("Delivery", ["recipient", "kind", "status", "detail"], rows))
    elif not result.dispatched and not unreachable:  # queued ones wait: the error says so
        ctx.console.print("Nothing is due.")
    if result.dispatched:
        handed = counted(result.dispatched, "digest")
        ctx.console.print(f"Handed {handed} to the Celery workers.")
    if result.stopped:
        ctx.console.print("Stopped early; the rest is still due or queued.", style="yellow")


def _fail_if_unreachable(*flushed: FlushResult) -> None:
    """When the backend could not be reached, end as an error: one `Error:` line, its
    hint, exit 1 (the messages are all still queued)."""
    for result in flushed:
        if result.unreachable is not None:
            raise result.unreachable


@click.command("send")
@click.option("--force", is_flag=True, help="Compose and deliver now, whatever the cadence.")
@click.option(
    "--subscriber",
    "chosen",
    multiple=True,
    metavar="EMAIL",
    help="With --force: only this subscriber (email, id or name; repeatable).",
)
@pass_context
def send(ctx: Context, force: bool, chosen: tuple[str, ...]) -> None:
    """Deliver the digests that are due now (--force: now, whatever the cadence)."""
    if chosen and not force:
        raise click.UsageError("--subscriber needs --force: 'digest send --force --subscriber X'")
    app = ctx.app()
    with Lease(app.store, app.clock).held() as lease:
        if not force:
            result = send_due(app, app.clock(), lease=lease)
            _report(ctx, result)
            _fail_if_unreachable(result.flushed)
            return
        if chosen:
            targets = [find_subscriber(app, key) for key in chosen]
            for sub in targets:
                if sub.status != "active":
                    raise SubscriptionError(
                        f"{sub.email} is {sub.status}; nothing is sent to them.",
                        hint=f"'digest subscribers resume {sub.email}' resumes a paused reader."
                        if sub.status == "paused"
                        else "Only its owner can subscribe again.",
                    )
        else:
            targets = app.store.list_subscribers(status="active")
        result = send_now(app, app.clock(), targets, lease=lease)
        _report(ctx, result)
        _fail_if_unreachable(result.flushed)


@click.command("run")
@click.option(
    "--once", is_flag=True, help="Run one full cycle (ingest, tag, alert, send) and exit."
)
@click.option(
    "--every",
    default=60,
    show_default=True,
    type=click.IntRange(1, 3600),
    help="Seconds between scheduler checks.",
)
@pass_context
def run(ctx: Context, once: bool, every: int) -> None:
    """Run the scheduler (ingest what is due, send what is due) until stopped."""
    app = ctx.app()
    if not once:
        from digest.scheduler import run_scheduler

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        click.echo(f"digest scheduler running (checks every {every}s); Ctrl-C stops it.")
        run_scheduler(app, every_seconds=every)
        click.echo("Stopped.")
        return
    with Lease(app.store, app.clock).held() as lease:
        result = run_cycle(app, lease=lease)
    from digest.cli.ingest_cmds import summary_table

    ctx.console.print(summary_table(result.refreshed, ctx.config))
    _report(ctx, result.sent, extra=result.ingest.flushed, alerts=result.ingest.alerts)
    _fail_if_unreachable(result.ingest.flushed, result.sent.flushed)
    written = result.sent.flushed.sent or result.ingest.flushed.sent
    if app.settings.delivery.backend == "file" and written:
        outbox = app.settings.path(app.settings.delivery.outbox)
        ctx.console.print(f"Digests are in {outbox.resolve()}")


@click.command("schedule")
@click.option("--at", "at", metavar="ISO-TIME", help="Show the schedule as of this time.")
@pass_context
def schedule(ctx: Context, at: str | None) -> None:
    """Show each subscriber's next digest (local time and UTC) and each source's next check."""
    app = ctx.app()
    now = parse_time(at) or app.clock()
    rows = [
        (
            sub.email,
            f"{sub.cadence} ({sub.timezone})",
            next_digest_text(sub, now),
            next_digest_text(sub, now, utc=True),
        )
        for sub in app.store.list_subscribers()
    ]
    ctx.console.print(
        table(
            f"Digests (as of {when(now)})",
            ["subscriber", "cadence", "next digest (local)", "(UTC)"],
            rows,
        )
    )
    configured = {s.id: s for s in app.settings.sources}
    source_rows = []
    for source in app.store.list_sources():
        settings = configured.get(source.id)
        minutes = (
            settings.interval_minutes if settings and settings.interval_minutes else None
        ) or app.settings.ingest.interval_minutes
        state = source.status if settings is None or settings.enabled else "disabled"
        due_at: datetime | None = source.next_check_at
        next_check = (
            "-"
            if state != "active"
            else "now (never checked)"
            if due_at is None
            else when(due_at) + (" (due now)" if due_at <= now else "")
        )
        source_rows.append(
            (source.id, state, f"every {minutes} min", when(source.last_checked_at), next_check)
        )
    ctx.console.print(
        table("Sources", ["source", "status", "interval", "last check", "next check"], source_rows)
    )


@click.command("worker")
@click.option(
    "--concurrency", type=click.IntRange(1, 64), help="Tasks at once ([workers] concurrency)."
)
@pass_context
def worker(ctx: Context, concurrency: int | None) -> None:
    """Run a Celery worker that composes and sends the digests `digest run` hands out.

    Needs [workers] backend = "celery" and a running broker (Redis); start as many as you
    like, on as many machines, all with the same config.toml and database.
    """
    from digest.workers import run_worker

    settings = load_settings(ctx.config)
    if settings.workers.backend != "celery":
        raise ConfigError(
            str(ctx.config),
            [f'workers.backend: "{settings.workers.backend}" hands nothing to workers'],
            hint='Set [workers] backend = "celery" (and broker_url) to use digest worker.',
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    run_worker(ctx.config, settings, concurrency=concurrency)


def register(cli: click.Group) -> None:
    for command in (preview, send, run, schedule, worker):
        cli.add_command(command)
