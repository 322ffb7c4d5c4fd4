"""The web app: one Starlette application over one opened App (settings, store, clock).

`create_app(app)` wires the routes of `admin.py` (preview, items, sources: this computer
or the admin password only) and `preferences.py` (the preference center and unsubscribe
links: anyone holding a signed token), the Guard middleware and one error handler.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

import jinja2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from digest.app import App
from digest.errors import DigestError, NotFoundError, SubscriptionError
from digest.links import LinkSigner, secret_key
from digest.render import Renderer
from digest.web import admin, preferences, present
from digest.web.context import LinkError, Web
from digest.web.csrf import Csrf, CsrfError
from digest.web.forms import time_zones
from digest.web.guard import Guard

PACKAGED = Path(__file__).resolve().parent.parent / "templates"
MAX_BODY = 64 * 1024  # every form here is a few hundred bytes
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
_TITLES = {
    400: "Bad request",
    401: "Password needed",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Not possible",
    410: "Link expired",
    413: "Too large",
}


def page_environment(app: App) -> jinja2.Environment:
    """Page templates: `templates/web/` beside config.toml first, then the packaged ones."""
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [
                jinja2.FileSystemLoader(app.settings.path("templates")),
                jinja2.FileSystemLoader(PACKAGED),
            ]
        ),
        autoescape=True,  # every page template is HTML, whatever its file name says
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        local_time=present.local_time,
        relative=present.relative,
        cadence=present.describe_cadence,
        highlight=present.highlight,
        href=present.href,
        iso=present.iso,
    )
    return env


def allowed_hosts(app: App, extra: Iterable[str] = ()) -> set[str]:
    """Host names to answer to: this computer's, public_url's, [web] allowed_hosts, extra."""
    public = urlsplit(app.settings.digest.public_url).hostname
    hosts = {*LOCAL_HOSTS, *app.settings.web.allowed_hosts, *extra}
    if public:
        hosts.add(public)
    return {h.strip("[]").lower() for h in hosts if h and h not in ("0.0.0.0", "::")}


def create_app(app: App, *, extra_hosts: Iterable[str] = ()) -> Starlette:
    """The ASGI application for `digest serve` (and for tests)."""
    settings = app.settings
    key = secret_key(settings)
    web = Web(
        app=app,
        signer=LinkSigner(key, settings.digest.public_url),
        renderer=Renderer(settings),
        pages=page_environment(app),
        csrf=Csrf(key, settings.digest.public_url),
        token_max_age=settings.web.token_max_age_days * 86400,
        zones=time_zones(),
    )

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        title = _TITLES.get(exc.status_code, "Error")
        detail = exc.detail if exc.detail and exc.detail != title else ""
        response = web.error(request, exc.status_code, title, detail)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    async def on_link(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LinkError)
        return web.error(request, exc.status, exc.title, exc.message)

    async def on_csrf(request: Request, exc: Exception) -> Response:
        return web.error(
            request,
            403,
            "The form could not be accepted",
            f"{exc} Go back, reload the page and send the form again.",
        )

    async def on_digest(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DigestError)
        status = 404 if isinstance(exc, NotFoundError) else 409
        if not isinstance(exc, NotFoundError | SubscriptionError):
            status = 500
        return web.error(request, status, _TITLES.get(status, "Something went wrong"), str(exc))

    async def on_crash(request: Request, exc: Exception) -> Response:
        return web.error(
            request,
            500,
            "Something went wrong",
            "The server met an unexpected error; it is in the server's log.",
        )

    starlette = Starlette(
        routes=[
            *admin.routes(),
            *preferences.routes(),
            Mount("/static", StaticFiles(directory=PACKAGED / "web" / "static"), name="static"),
        ],
        middleware=[
            Middleware(
                Guard,
                hosts=allowed_hosts(app, extra_hosts),
                password=settings.web.admin_password,
                deny=web.error,
            )
        ],
        exception_handlers={
            HTTPException: on_http,
            LinkError: on_link,
            CsrfError: on_csrf,
            DigestError: on_digest,
            500: on_crash,
        },
        max_body_size=MAX_BODY,
    )
    starlette.state.web = web
    return starlette
