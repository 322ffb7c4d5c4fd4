"""`digest outbox` (what is queued, failed and sent) and `digest outbox retry`."""

from __future__ import annotations

import click

from digest.cli.common import Context, counted, pass_context, table, when
from digest.deliver import FlushResult, flush_outbox, make_mailer
from digest.store.outbox import OutboxMessage

STATUS_ORDER = ("queued", "failed", "sent")


@click.group("outbox", invoke_without_command=True)
@click.option("--status", type=click.Choice(STATUS_ORDER), help="Only messages in this state.")
@click.option("--limit", default=100, show_default=True, help="Most messages listed.")
@pass_context
@click.pass_context
def outbox(click_ctx: click.Context, ctx: Context, status: str | None, limit: int) -> None:
    """List queued, failed and sent messages, newest first."""
    if click_ctx.invoked_subcommand is not None:
        return
    app = ctx.app(sync=False)
    messages = app.store.list_messages(status=status, limit=limit, bodies=False)
    rows = [
        (
            m.id,
            m.kind,
            m.recipient,
            state(m),
            m.attempts,
            when(m.queued_at),
            when(m.sent_at or m.next_attempt_at),
            m.server_reply or m.last_error or "",
        )
        for m in messages
    ]
    columns = ["id", "kind", "to", "status", "tries", "queued", "sent / next try", "reply"]
    ctx.console.print(table("Outbox", columns, rows))
    counts = app.store.count_messages()
    click.echo(", ".join(f"{counts.get(s, 0)} {s}" for s in STATUS_ORDER))


def state(message: OutboxMessage) -> str:
    """The status as a reader needs it, with what a crash may have done to it."""
    if message.status == "sent" and message.interrupted:
        # The server may have accepted the attempt the crash cut short: the receiver can
        # drop the second copy by its Message-ID, which both copies share.
        return "sent (may have arrived twice)"
    if message.status == "queued" and message.sending_at is not None:
        return f"sending since {when(message.sending_at)}"
    if message.status == "queued" and message.next_attempt_at is not None:
        return "queued, will retry"
    return message.status


@outbox.command("retry")
@click.option("--id", "ids", type=int, multiple=True, help="Only this message (repeatable).")
@pass_context
def retry(ctx: Context, ids: tuple[int, ...]) -> None:
    """Send the failed messages again, and only those (sent ones are never resent)."""
    app = ctx.app(sync=False)
    requeued = app.store.requeue_failed(list(ids) if ids else None)
    if not requeued:
        click.echo("No failed messages" + (f" among {', '.join(map(str, ids))}." if ids else "."))
        return
    if app.settings.workers.backend == "celery":  # the workers send; only a claim sends
        from digest.fanout import SEND_MESSAGE
        from digest.workers import publisher

        publish = publisher(app.settings)
        for delivery_id in requeued:
            publish(SEND_MESSAGE, [delivery_id])
        handed = counted(len(requeued), "failed message")
        click.echo(f"Handed {handed} to the Celery workers.")
        return
    result = flush_outbox(
        app.store,
        make_mailer(app.settings),
        app.clock(),
        ids=requeued,
    )
    report(ctx, result, len(requeued))


def report(ctx: Context, result: FlushResult, tried: int) -> None:
    rows = [(m.id, m.recipient, "sent", result.replies.get(m.id, "")) for m in result.sent]
    rows += [
        (m.id, m.recipient, "will retry", result.errors.get(m.id, "")) for m in result.retrying
    ]
    rows += [(m.id, m.recipient, "failed", result.errors.get(m.id, "")) for m in result.failed]
    if rows:
        ctx.console.print(table("Retry", ["id", "to", "status", "reply"], rows))
    click.echo(
        f"Retried {tried}: {len(result.sent)} sent, {len(result.retrying)} will retry, "
        f"{len(result.failed)} failed."
    )
    if result.busy:
        click.echo(f"Another sender ({result.busy}) is working the outbox; it will send them.")
    if result.unreachable is not None:  # one Error line with its hint, exit 1
        raise result.unreachable
    if result.stopped:
        click.echo(f"Stopped: {result.stopped}. The rest stay queued.")


def register(cli: click.Group) -> None:
    cli.add_command(outbox)
