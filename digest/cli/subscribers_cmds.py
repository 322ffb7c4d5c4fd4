"""`digest subscribers list|show|add|update|pause|resume|remove`."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click
from pydantic import ValidationError

from digest.app import App, subscriber_from_settings
from digest.cli.common import Context, config_label, counted, pass_context, table, when
from digest.cli.send_cmds import find_subscriber, next_digest_text
from digest.config import SubscriberSettings, describe_errors
from digest.errors import SubscriptionError
from digest.models import Subscriber
from digest.store.subscribers import STATUSES

F = TypeVar("F", bound=Callable[..., Any])

# Where a SubscriberSettings key comes from on the command line, for error messages.
OPTION_OF = {
    "email": "EMAIL",
    "name": "--name",
    "themes": "--themes",
    "cadence": "--cadence",
    "timezone": "--timezone",
    "max_items": "--max-items",
    "min_score": "--min-score",
    "alerts.themes": "--alert-themes",
    "alerts.threshold": "--alert-threshold",
    "alerts.daily_cap": "--alert-cap",
    "alerts.repeat_in_digest": "--alerts-in-digest",
    "quiet_hours": "--quiet-hours",
}


def preference_options(command: F) -> F:
    """The options `add` and `update` share; each is optional for `update`."""
    options = [
        click.option("--name", help="How the reader is greeted."),
        click.option(
            "--themes",
            help="Themes to follow, comma-separated (see 'digest config show').",
        ),
        click.option("--cadence", help='"daily HH:MM", "weekly DAY HH:MM" or a cron expression.'),
        click.option("--timezone", help='IANA time zone, e.g. "Europe/Paris".'),
        click.option("--max-items", type=int, help="Most items in one digest."),
        click.option("--min-score", type=float, help="Lowest score shown (0 to 1)."),
        click.option(
            "--alert-themes",
            help='Themes that trigger immediate alerts, comma-separated ("" for none).',
        ),
        click.option("--alert-threshold", type=float, help="Score at which an item is alerted."),
        click.option("--alert-cap", type=int, help="Most alert emails a day; 0 turns them off."),
        click.option(
            "--alerts-in-digest/--no-alerts-in-digest",
            default=None,
            help="Also list alerted items in the next digest.",
        ),
        click.option(
            "--quiet-hours",
            metavar="HH:MM-HH:MM",
            help='Local hours during which alerts wait ("" for none).',
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.group("subscribers")
def subscribers_group() -> None:
    """List, add, change, pause, resume and remove subscribers."""


@subscribers_group.command("list")
@click.option("--status", type=click.Choice(STATUSES), help="Only subscribers with this status.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@pass_context
def list_cmd(ctx: Context, status: str | None, as_json: bool) -> None:
    """List subscribers with their themes, cadence and next digest."""
    app = ctx.app()
    found = app.store.list_subscribers(status=status)
    now = app.clock()
    if as_json:
        click.echo(json.dumps([_as_json(s) for s in found], indent=2))
        return
    rows = [
        (
            s.email,
            s.name,
            ", ".join(s.themes),
            f"{s.cadence} ({s.timezone})",
            next_digest_text(s, now),
        )
        for s in found
    ]
    ctx.console.print(
        table(
            counted(len(found), "subscriber"),
            ["email", "name", "themes", "cadence", "next digest"],
            rows,
        )
    )


@subscribers_group.command("show")
@click.argument("subscriber")
@pass_context
def show(ctx: Context, subscriber: str) -> None:
    """Show every setting of SUBSCRIBER (email, id or name) and where they are in time."""
    app = ctx.app()
    sub = find_subscriber(app, subscriber)
    zone = sub.timezone
    now = app.clock()
    next_digest = next_digest_text(sub, now)
    if sub.status == "active" and not next_digest.startswith("due"):
        next_digest += f" ({next_digest_text(sub, now, utc=True)})"
    alerts = sub.alerts
    rows = [
        ("email", sub.email),
        ("name", sub.name or "-"),
        ("status", sub.status),
        (
            "from",
            {
                "config": config_label(ctx.config),
                "cli": "the CLI",
                "web": "the preference center",
            }.get(sub.origin, sub.origin),
        ),
        ("themes", ", ".join(sub.themes) or "-"),
        ("cadence", sub.cadence),
        ("time zone", zone),
        ("max items", str(sub.max_items)),
        ("min score", str(sub.min_score)),
        ("alert themes", ", ".join(alerts.themes) or "none"),
        ("alert threshold", str(alerts.threshold)),
        ("alerts a day", str(alerts.daily_cap)),
        ("alerted items in digest", "yes" if alerts.repeat_in_digest else "no"),
        ("quiet hours", sub.quiet_hours or "none"),
        ("last digest", when(sub.last_digest_at, zone)),
        ("next digest", next_digest),
    ]
    ctx.console.print(table(f"Subscriber {sub.id}", ["setting", "value"], rows))


@subscribers_group.command("add")
@click.argument("email")
@preference_options
@pass_context
def add(ctx: Context, /, email: str, **options: Any) -> None:
    """Subscribe EMAIL; --themes is required, the rest has defaults."""
    app = ctx.app()
    if not options.get("themes"):
        raise SubscriptionError(
            "--themes: missing; a subscriber follows at least one theme.",
            hint=f"Themes: {', '.join(app.settings.themes) or 'none defined in config.toml'}.",
        )
    sub = app.store.add_subscriber(
        _validated(app, {"email": email}, options, command="add"), origin="cli", now=app.clock()
    )
    click.echo(
        f"Subscribed {sub.email} ({', '.join(sub.themes)}, {sub.cadence} {sub.timezone}); "
        "their first digest is due now."
    )


@subscribers_group.command("update")
@click.argument("subscriber")
@preference_options
@pass_context
def update_cmd(ctx: Context, /, subscriber: str, **options: Any) -> None:
    """Change SUBSCRIBER's settings; only the options given change."""
    app = ctx.app()
    current = find_subscriber(app, subscriber)
    if current.origin == "config":
        raise SubscriptionError(
            f"{current.email} is defined in config.toml; a change here would be undone at the "
            "next start.",
            hint="Edit their [[subscribers]] entry in config.toml instead.",
        )
    if not any(v is not None for v in options.values()):
        raise click.UsageError("nothing to change; give at least one option (see --help)")
    sub = app.store.update_subscriber(
        current.id,
        _validated(app, current.as_config_entry(), options, command="update"),
        now=app.clock(),
    )
    click.echo(f"Updated {sub.email}; next digest: {next_digest_text(sub, app.clock())}.")


@subscribers_group.command("pause")
@click.argument("subscriber")
@pass_context
def pause(ctx: Context, subscriber: str) -> None:
    """Stop sending to SUBSCRIBER until they are resumed (nothing is lost)."""
    app = ctx.app()
    current = find_subscriber(app, subscriber)
    if current.status == "paused":  # setting it again would change nothing (or who paused)
        click.echo(
            f"{current.email} is already paused; "
            f"'digest subscribers resume {current.email}' resumes them."
        )
        return
    sub = app.store.set_status(current.id, "paused", now=app.clock())
    click.echo(f"Paused {sub.email}; 'digest subscribers resume {sub.email}' resumes them.")


@subscribers_group.command("resume")
@click.argument("subscriber")
@pass_context
def resume(ctx: Context, subscriber: str) -> None:
    """Resume a paused SUBSCRIBER from their next scheduled digest."""
    app = ctx.app()
    current = find_subscriber(app, subscriber)
    if current.status == "active":
        click.echo(
            f"{current.email} is already active; "
            f"next digest: {next_digest_text(current, app.clock())}."
        )
        return
    sub = app.store.set_status(current.id, "active", now=app.clock())
    click.echo(f"Resumed {sub.email}; next digest: {next_digest_text(sub, app.clock())}.")


@subscribers_group.command("remove")
@click.argument("subscriber")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_context
def remove(ctx: Context, subscriber: str, yes: bool) -> None:
    """Unsubscribe SUBSCRIBER for good; only its owner can come back."""
    app = ctx.app()
    sub = find_subscriber(app, subscriber)
    if sub.status == "unsubscribed":
        click.echo(f"{sub.email} is already unsubscribed.")
        return
    if not yes:
        click.confirm(
            f"Unsubscribe {sub.email}? Only its owner can subscribe again, from the "
            "preference center ('pause' stops sending for a while instead)",
            abort=True,
        )
    app.store.set_status(sub.id, "unsubscribed", now=app.clock())
    click.echo(f"Unsubscribed {sub.email}.")
    if sub.origin == "config":
        click.echo(
            f"They stay unsubscribed while {config_label(ctx.config)} lists them; you may "
            "delete them there."
        )


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _validated(
    app: App, base: dict[str, Any], options: dict[str, Any], *, command: str
) -> Subscriber:
    """Overlay the options given on `base`, validate like config.toml, or raise one line."""
    raw = dict(base)
    alerts = dict(raw.get("alerts") or {})
    simple = {"name", "cadence", "timezone", "max_items", "min_score"}
    for key, value in options.items():
        if value is None:
            continue
        if key in simple:
            raw[key] = value
        elif key == "themes":
            raw["themes"] = _split(value)
        elif key == "quiet_hours":
            raw["quiet_hours"] = value or None
        elif key == "alert_themes":
            alerts["themes"] = _split(value)
        elif key == "alert_threshold":
            alerts["threshold"] = value
        elif key == "alert_cap":
            alerts["daily_cap"] = value
        elif key == "alerts_in_digest":
            alerts["repeat_in_digest"] = value
    if alerts:
        raw["alerts"] = alerts
    problems: list[str] = []
    try:
        settings = SubscriberSettings.model_validate(raw)
    except ValidationError as exc:
        problems = [_for_cli(line) for line in describe_errors(exc)]
        settings = None
    known = app.settings.themes
    for key, listed in (("themes", raw.get("themes")), ("alerts.themes", alerts.get("themes"))):
        for theme in listed or []:
            if theme not in known:
                problems.append(
                    f'{OPTION_OF[key]}: "{theme}" is not a theme; expected one of '
                    f"{', '.join(known) or 'none (config.toml defines no themes)'}"
                )
    if problems or settings is None:
        raise SubscriptionError(
            "; ".join(problems), hint=f"'digest subscribers {command} --help' lists the options."
        )
    return subscriber_from_settings(settings)


def _for_cli(line: str) -> str:
    key, _, message = line.partition(": ")
    return f"{OPTION_OF.get(key, key)}: {message}"


def _as_json(sub: Subscriber) -> dict[str, object]:
    return {
        "id": sub.id,
        **sub.as_config_entry(),
        "status": sub.status,
        "origin": sub.origin,
        "last_digest_at": sub.last_digest_at and sub.last_digest_at.isoformat(),
        "next_digest_at": sub.next_digest_at and sub.next_digest_at.isoformat(),
    }


def register(cli: click.Group) -> None:
    cli.add_command(subscribers_group)
