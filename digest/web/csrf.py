"""CSRF protection: a signed double-submit token.

The first page with a form sets a random cookie; each form carries an HMAC of that cookie
under the app's secret key. A POST is accepted only when the cookie and the form's token
match and, if the browser says where the request came from (Origin), it came from here.
Another site can make a browser send the cookie, but cannot read it to compute the token.
The one-click unsubscribe POST is exempt by design: mail providers send it without a
cookie, and the signed token in its URL is what authenticates it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

COOKIE = "digest_csrf"
FIELD = "csrf_token"


class CsrfError(Exception):
    """A form without a valid token, or posted from another site."""


class Csrf:
    def __init__(self, secret: str, public_url: str) -> None:
        self._key = hmac.new(secret.encode(), b"digest-csrf", hashlib.sha256).digest()
        self._public = urlsplit(public_url).netloc

    def _sign(self, value: str) -> str:
        return hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()

    def token(self, request: Request) -> str:
        """The token for this request's forms; makes a cookie value if there is none yet."""
        value = request.cookies.get(COOKIE) or getattr(request.state, "new_csrf", None)
        if not value:
            value = secrets.token_urlsafe(32)
            request.state.new_csrf = value
        return self._sign(value)

    def set_cookie(self, request: Request, response: Response) -> None:
        """Send the cookie that `token` made, if it made one."""
        value = getattr(request.state, "new_csrf", None)
        if value:
            response.set_cookie(
                COOKIE,
                value,
                httponly=True,
                samesite="lax",
                secure=request.url.scheme == "https",
                path=request.scope.get("root_path") or "/",
            )

    def check(self, request: Request, form: Mapping[str, object]) -> None:
        """Raise CsrfError unless the form's token matches the cookie and the origin is ours."""
        origin = request.headers.get("origin")
        if origin is not None and urlsplit(origin).netloc not in (
            request.headers.get("host", ""),
            self._public,
        ):
            raise CsrfError("The form was sent from another site.")
        cookie = request.cookies.get(COOKIE)
        sent = form.get(FIELD)
        if not cookie or not isinstance(sent, str) or not sent:
            raise CsrfError("The form's security token is missing.")
        if not hmac.compare_digest(self._sign(cookie), sent):
            raise CsrfError("The form's security token does not match.")
