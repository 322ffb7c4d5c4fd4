"""`digest serve`: the local preview and the preference center."""

from __future__ import annotations

import click

from digest.cli.common import Context, pass_context
from digest.web.guard import is_loopback


@click.command("serve")
@click.option("--host", help="Address to listen on.  [default: [web] host, 127.0.0.1]")
@click.option("--port", type=click.IntRange(0, 65535), help="Port.  [default: [web] port, 8000]")
@pass_context
def serve(ctx: Context, host: str | None, port: int | None) -> None:
    """Serve digest previews, items, sources and the preference center over HTTP."""
    from digest.web.server import serve as run_server

    app = ctx.app()
    web = app.settings.web
    host = host or web.host
    port = web.port if port is None else port
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"digest web app on http://{shown}:{port}/ (Ctrl-C stops it)")
    if web.admin_password:
        click.echo(f"Admin pages ask for the password in ${web.admin_password_env}.")
    elif not _loopback_host(host):
        click.echo(
            "Admin pages answer only to this computer; set "
            f"${web.admin_password_env} to reach them from elsewhere. "
            "Preference and unsubscribe links work from anywhere."
        )
    click.echo(f"Links in emails point at {app.settings.digest.public_url}/")
    run_server(app, host=host, port=port)


def _loopback_host(host: str) -> bool:
    return host == "localhost" or is_loopback(host.strip("[]"))


def register(cli: click.Group) -> None:
    cli.add_command(serve)
