"""What every command shares: the --config path, the opened app, the console, tables."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from digest.app import App, Clock, system_clock
from digest.config import DEFAULT_CONFIG


def plain_console() -> Console:
    """A console that prints a string as written: no markup, no :emoji: codes.

    Most of what the CLI prints comes from feeds, documents and readers, where "[red]" or
    "[/]" is text; our own styling goes in as `style=` or a `rich.text.Text`.
    """
    return Console(markup=False, emoji=False)


@dataclass(slots=True)
class Context:
    """Carried by click; opens the app the first time a command needs it."""

    config: Path
    console: Console = field(default_factory=plain_console)
    clock: Clock = system_clock
    _app: App | None = None

    def app(self, *, sync: bool = True) -> App:
        if self._app is None:
            self._app = App.open(self.config, sync=sync, clock=self.clock)
        return self._app

    def close(self) -> None:
        if self._app is not None:
            self._app.close()
            self._app = None


pass_context = click.make_pass_decorator(Context)

# "config.toml" as the pipeline's messages name the config file; not inside a path or URL.
_CONFIG_TOML = re.compile(r"(?<![\w./-])config\.toml(?![\w-]|\.\w)")


def config_label(config: Path) -> str:
    """The config file for a message: "config.toml", or the other file --config named."""
    return config.name if config.name == DEFAULT_CONFIG.name else str(config)


def naming_config(text: str, config: Path) -> str:
    """`text` with "config.toml" replaced by the config file in use (see `config_label`).

    The pipeline does not know which file its settings came from; the CLI does.
    """
    label = config_label(config)
    return _CONFIG_TOML.sub(lambda _: label, text)


def cell(value: object) -> Text:
    """A table cell shown as written; a `Text` (our own styling) is kept as it is."""
    if isinstance(value, Text):
        return value
    return Text("" if value is None else str(value))


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> Table:
    """A table whose titles and cells are never read as markup (see `cell`)."""
    out = Table(
        title=None if title is None else Text(title, style="table.title"),
        title_justify="left",
        header_style="bold",
    )
    for i, column in enumerate(columns):
        # The first column names the row (an id, an address): never wrap it.
        out.add_column(Text(column), overflow="fold", no_wrap=i == 0)
    for row in rows:
        out.add_row(*(cell(v) for v in row))
    return out


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """A count and its noun in the right number: "1 source", "2 sources", "0 sources"."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def when(value: datetime | None, zone: str | None = None) -> str:
    """A datetime for a table: local to `zone` if given, else UTC; "-" if unknown."""
    if value is None:
        return "-"
    if zone:
        from zoneinfo import ZoneInfo

        return f"{value.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M %Z}"
    return f"{value:%Y-%m-%d %H:%M} UTC"


def parse_time(value: str | None) -> datetime | None:
    """An ISO time from the command line; a time without a zone is taken as UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f'"{value}" is not an ISO time like 2026-11-23T07:00+09:00'
        ) from None
    if parsed.tzinfo is None:
        from datetime import UTC

        parsed = parsed.replace(tzinfo=UTC)
    return parsed
