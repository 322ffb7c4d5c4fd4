"""Who may see what, and the security headers on every response.

- Only the Host names the app expects are answered (a DNS-rebinding page cannot reach it).
- The preference center, unsubscribe links and the style sheet answer anyone: a signed
  token in the URL is their authentication.
- Every other page (subscribers, previews, items, sources) answers only to this computer
  (loopback clients) or, when an admin password is configured, to anyone who gives it
  through HTTP Basic authentication, wherever they are.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
from collections.abc import Callable, Iterable

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PUBLIC_PREFIXES = ("/preferences/", "/unsubscribe/", "/static/")
# No scripts at all, styles only from our own sheet, frames only from ourselves.
PAGE_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": PAGE_CSP,
    "x-content-type-options": "nosniff",
    # Never tell other sites which page (with which token) a click came from. Same-origin
    # requests keep their Origin: with "no-referrer" browsers send "Origin: null".
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    "cache-control": "no-store",
}

Deny = Callable[[Request, int, str, str], Response]


def host_name(header: str | None) -> str | None:
    """The host name of a Host header, without its port: "[::1]:8000" -> "::1"."""
    if not header:
        return None
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0] or None
    name, _, port = header.rpartition(":") if header.count(":") == 1 else (header, "", "")
    if port and not port.isdigit():
        return None
    return name or None


def is_loopback(address: str | None) -> bool:
    """Whether a client address is this computer (127.0.0.0/8, ::1 or ::ffff:127.x)."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def basic_password(header: str | None) -> str | None:
    """The password of an HTTP Basic Authorization header, or None."""
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[2] if ":" in decoded else None


def is_public(path: str) -> bool:
    return path.startswith(PUBLIC_PREFIXES)


class Guard:
    """ASGI middleware: host check, access check, and security headers on every response."""

    def __init__(
        self, app: ASGIApp, *, hosts: Iterable[str], password: str | None, deny: Deny
    ) -> None:
        self.app = app
        self.hosts = frozenset(h.lower() for h in hosts)
        self.password = password
        self.deny = deny

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if static and "cache-control" not in headers:
                    headers["cache-control"] = "public, max-age=3600"
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        refusal = self.refusal(Request(scope))
        if refusal is not None:
            await refusal(scope, receive, send_with_headers)
        else:
            await self.app(scope, receive, send_with_headers)

    def refusal(self, request: Request) -> Response | None:
        """The response that refuses this request, or None to let it through."""
        if host_name(request.headers.get("host")) not in self.hosts:
            return self.deny(
                request,
                400,
                "Unknown host name",
                "This server does not answer to that host name. "
                "Add it to [web] allowed_hosts in config.toml if it is yours.",
            )
        if is_public(request.url.path):
            return None
        if self.password is not None:
            given = basic_password(request.headers.get("authorization"))
            if given is not None and hmac.compare_digest(
                given.encode("utf-8"), self.password.encode("utf-8")
            ):
                return None
            response = self.deny(
                request,
                401,
                "Password needed",
                "These pages need the admin password (any user name will do).",
            )
            response.headers["www-authenticate"] = 'Basic realm="digest", charset="UTF-8"'
            return response
        if is_loopback(request.client.host if request.client else None):
            return None
        return self.deny(
            request,
            403,
            "Only on this computer",
            "These pages are only shown to this computer. To open them from elsewhere, "
            "set an admin password (see [web] admin_password_env in config.toml).",
        )
