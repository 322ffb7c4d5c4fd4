"""`digest config check|show` and `digest db upgrade|status`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
from pydantic import BaseModel
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from digest.cli.common import Context, counted, pass_context, table
from digest.config import Settings, load_settings
from digest.errors import ConfigError, DigestError
from digest.sources import KINDS
from digest.starter import starter_config
from digest.store import Store
from digest.store.copy import copy_database
from digest.store.dialects import redact


@click.group("config")
def config_group() -> None:
    """Check or show the configuration."""


@config_group.command("check")
@pass_context
def check(ctx: Context) -> None:
    """Validate config.toml and report every problem at once (exit 2 if any)."""
    settings = load_settings(ctx.config)
    problems = _unusable(settings)
    if problems:
        raise ConfigError(str(ctx.config), problems)
    click.echo(
        f"{ctx.config}: OK ({counted(len(settings.sources), 'source')}, "
        f"{counted(len(settings.themes), 'theme')}, "
        f"{counted(len(settings.subscribers), 'subscriber')})"
    )


def _unusable(settings: Settings) -> list[str]:
    """What parses but would fail at run time: a database no driver can open, a documents
    folder or a local feed file that is not there."""
    problems = []
    url = settings.database_url
    try:
        make_url(url).get_dialect()
    except (ArgumentError, ImportError) as exc:  # as Store.open: unknown dialect or driver
        where = (
            "$DIGEST_DATABASE_URL" if os.environ.get("DIGEST_DATABASE_URL") else "digest.database"
        )
        problems.append(f"{where}: {redact(url)!r} cannot be opened ({exc})")
    for i, source in enumerate(settings.sources):
        missing = KINDS[source.kind].missing(source, settings)
        if missing is not None:
            problems.append(f"sources[{i}].{missing}")
    return problems


@config_group.command("show")
@pass_context
def show(ctx: Context) -> None:
    """Print every setting in force, with secrets masked."""
    settings = load_settings(ctx.config)
    rows: list[tuple[str, str, str]] = []
    _flatten(settings, "", rows)
    ctx.console.print(table(str(ctx.config), ["key", "value", "help"], rows))


def _flatten(model: BaseModel, prefix: str, rows: list[tuple[str, str, str]]) -> None:
    for name, field in type(model).model_fields.items():
        if field.exclude:
            continue
        value: Any = getattr(model, name)
        key = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            _flatten(value, key + ".", rows)
        elif isinstance(value, list) and value and isinstance(value[0], BaseModel):
            for i, element in enumerate(value):
                _flatten(element, f"{key}[{i}].", rows)
        elif (
            isinstance(value, dict) and value and isinstance(next(iter(value.values())), BaseModel)
        ):
            for sub, element in value.items():
                _flatten(element, f"{key}.{sub}.", rows)
        else:
            extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
            rows.append((key, _shown(value, extra), field.description or ""))


def _shown(value: Any, extra: dict[str, Any]) -> str:
    """A setting's value as it is in force: secrets masked, a URL without its password, and
    the environment's value where a variable overrides the file."""
    env = extra.get("env")
    overridden = os.environ.get(env) if isinstance(env, str) else None
    if overridden:  # as Settings reads it: an empty variable does not count
        value = overridden
    if extra.get("secret") and value:
        shown = "********"
    elif extra.get("url") and isinstance(value, str):
        shown = repr(redact(value))
    else:
        shown = repr(value)
    return f"{shown} (from ${env})" if overridden else shown


@click.command("init")
@click.option("--force", is_flag=True, help="Overwrite an existing config.toml.")
@pass_context
def init(ctx: Context, force: bool) -> None:
    """Write a starter config.toml (at --config) with every setting explained."""
    if ctx.config.exists() and not force:
        raise click.ClickException(f"{ctx.config} exists; pass --force to overwrite it.")
    ctx.config.parent.mkdir(parents=True, exist_ok=True)
    ctx.config.write_text(starter_config(), encoding="utf-8")
    (ctx.config.parent / "sources" / "documents").mkdir(parents=True, exist_ok=True)
    click.echo(f"Wrote {ctx.config}. Edit its sources, themes and subscribers, then run")
    click.echo("  digest config check && digest run --once")


@click.group("db")
def db_group() -> None:
    """Database schema: status and upgrades."""


@db_group.command("status")
@pass_context
def db_status(ctx: Context) -> None:
    """Show the schema revision of the database and the newest one available."""
    settings = load_settings(ctx.config)
    store = Store.open(settings.database_url, upgrade=False)
    try:
        current, head = store.schema_status()
    finally:
        store.close()
    state = "up to date" if current == head else "needs 'digest db upgrade'"
    click.echo(f"database revision: {current or 'none (empty)'}; newest: {head} ({state})")


@db_group.command("upgrade")
@pass_context
def db_upgrade(ctx: Context) -> None:
    """Apply every pending migration."""
    settings = load_settings(ctx.config)
    store = Store.open(settings.database_url)
    try:
        current, _ = store.schema_status()
    finally:
        store.close()
    click.echo(f"database at revision {current}")


@db_group.command("copy")
@click.argument("source_url", metavar="SRC_URL")
@click.argument("destination_url", metavar="DST_URL")
@pass_context
def db_copy(ctx: Context, source_url: str, destination_url: str) -> None:
    """Copy every row of SRC_URL into the empty database DST_URL (e.g. SQLite to PostgreSQL).

    Stop `digest run` and the workers first; point [digest] database at DST_URL afterwards.
    """
    named = make_url(source_url)
    if named.get_backend_name() == "sqlite" and named.database not in (None, "", ":memory:"):
        if not Path(named.database).is_file():  # SQLite would create it, empty
            raise DigestError(
                f"There is no database file at {named.database} to copy from.",
                hint="Give SRC_URL as sqlite:///path/to/digest.db (relative to here), "
                "or sqlite:////absolute/path.",
            )
    source = Store.open(source_url, upgrade=False)
    try:
        destination = Store.open(destination_url, upgrade=False)
        try:
            result = copy_database(source, destination)
        finally:
            destination.close()
    finally:
        source.close()
    ctx.console.print(table(None, ["table", "rows"], list(result.rows.items())))
    copied = counted(sum(result.rows.values()), "row")
    click.echo(f"Copied {copied} into {redact(destination_url)}.")


def register(cli: click.Group) -> None:
    cli.add_command(init)
    cli.add_command(config_group)
    cli.add_command(db_group)
