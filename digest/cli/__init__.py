"""The `digest` command: a thin shell over the pipeline's functions.

Each command group lives in its own module and registers itself below. Expected errors
(DigestError) print one clear line and a hint, never a traceback: exit 2 for a config
error, 1 for anything else.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

import click

from digest import __version__
from digest.cli import (
    config_cmds,
    ingest_cmds,
    outbox_cmds,
    send_cmds,
    subscribers_cmds,
    themes,
    web_cmds,
)
from digest.cli.common import Context, naming_config
from digest.config import DEFAULT_CONFIG
from digest.errors import ConfigError, DigestError


class UserError(click.ClickException):
    """A DigestError as the CLI shows it."""

    exit_code = 1

    def __init__(self, error: DigestError, config: Path) -> None:
        super().__init__(naming_config(str(error), config))
        self.hint = error.hint and naming_config(error.hint, config)

    def show(self, file: IO[Any] | None = None) -> None:
        click.secho(f"Error: {self.message}", fg="red", err=True, file=file)
        if self.hint:
            click.echo(f"Hint: {self.hint}", err=True, file=file)


class ConfigUserError(UserError):
    exit_code = 2


class DigestGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DigestError as exc:
            state = ctx.find_object(Context)
            config = state.config if state is not None else DEFAULT_CONFIG
            if isinstance(exc, ConfigError):
                raise ConfigUserError(exc, config) from None
            raise UserError(exc, config) from None


@click.group(cls=DigestGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config",
    type=click.Path(path_type=Path, dir_okay=False),
    default=DEFAULT_CONFIG,
    show_default=True,
    envvar="DIGEST_CONFIG",
    help="The config.toml to use.",
)
@click.version_option(__version__, prog_name="digest")
@click.pass_context
def cli(ctx: click.Context, config: Path) -> None:
    """Ingest documents and feeds, tag them against themes, and mail each reader what is
    new for them."""
    # A caller may hand in a clock as click's `obj` (tests do, to travel in time).
    state = Context(config, clock=ctx.obj) if callable(ctx.obj) else Context(config)
    ctx.obj = state
    ctx.call_on_close(state.close)


for module in (
    config_cmds,
    ingest_cmds,
    subscribers_cmds,
    send_cmds,
    outbox_cmds,
    themes,
    web_cmds,
):
    module.register(cli)

main = cli
