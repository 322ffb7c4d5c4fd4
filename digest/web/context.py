"""What every request handler shares: the Web object, links' subscribers, page rendering."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import jinja2
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from digest.app import App
from digest.errors import NotFoundError
from digest.links import LinkSigner
from digest.models import Subscriber
from digest.render import Renderer
from digest.web.csrf import Csrf
from digest.web.guard import is_public


class LinkError(Exception):
    """A preference or unsubscribe link that is forged, expired or no longer anyone's."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


@dataclass(slots=True)
class Web:
    """What every request handler needs, made once when the server starts."""

    app: App
    signer: LinkSigner
    renderer: Renderer
    pages: jinja2.Environment
    csrf: Csrf
    token_max_age: int
    zones: tuple[str, ...]

    def page(
        self,
        request: Request,
        name: str,
        context: Mapping[str, Any],
        *,
        status: int = 200,
    ) -> HTMLResponse:
        """Render a page template; sets the CSRF cookie when the page made a token."""
        html = self.pages.get_template(name).render(
            {
                "request": request,
                "url": lambda route, query=None, **params: url(request, route, query, **params),
                "csrf_token": lambda: self.csrf.token(request),
                "site_title": self.app.settings.digest.title,
                "admin_nav": not is_public(request.url.path),
                **context,
            }
        )
        response = HTMLResponse(html, status_code=status)
        self.csrf.set_cookie(request, response)
        return response

    def error(self, request: Request, status: int, title: str, message: str) -> Response:
        """The one error response: an HTML page, or JSON for clients that ask only for it."""
        accept = request.headers.get("accept", "")
        if "application/json" in accept and "text/html" not in accept:
            return JSONResponse({"status": status, "title": title, "detail": message}, status)
        return self.page(
            request,
            "web/error.html.j2",
            {"status": status, "title": title, "message": message, "admin_nav": False},
            status=status,
        )

    def subscriber_for(self, token: str) -> Subscriber:
        """The subscriber a preference/unsubscribe token was made for, or LinkError."""
        now = self.app.clock()
        found = self.signer.verify(token, now=now, max_age=self.token_max_age)
        if found is None:
            if self.signer.verify(token, now=now, max_age=100 * 365 * 86400) is not None:
                raise LinkError(
                    410,
                    "This link has expired",
                    "Links in emails stay valid for a while only. Use the link in the "
                    "latest digest you received.",
                )
            raise LinkError(
                403,
                "This link is not valid",
                "The link may have been cut short or changed. Use the link in the latest "
                "digest you received, exactly as it is.",
            )
        subscriber_id, email = found
        try:
            subscriber = self.app.store.get_subscriber(subscriber_id)
        except NotFoundError:
            subscriber = None
        if subscriber is None or subscriber.email.lower() != email.lower():
            raise LinkError(
                404,
                "This link is no longer in use",
                "The subscription it was made for does not exist any more.",
            )
        return subscriber

    def theme_labels(self, themes: Iterable[str]) -> list[str]:
        known = self.app.settings.themes
        return [known[t].label if t in known else t for t in themes]


def url(request: Request, route: str, query: Mapping[str, Any] | None = None, **params: Any) -> str:
    """The path of a named route (under any root path), with an optional query string."""
    path = request.scope.get("root_path", "") + str(request.app.url_path_for(route, **params))
    kept = {k: v for k, v in (query or {}).items() if v not in (None, "")}
    return f"{path}?{urlencode(kept)}" if kept else path


def web_of(request: Request) -> Web:
    """The Web object of the app serving this request."""
    web = request.app.state.web
    assert isinstance(web, Web)
    return web


async def checked_form(request: Request) -> FormData:
    """The posted form, once its CSRF token has been checked (CsrfError if not valid)."""
    form = await request.form(max_files=0, max_fields=200)
    web_of(request).csrf.check(request, form)
    return form
