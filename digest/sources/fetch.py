"""Fetching feed bytes over HTTP: conditional GET, timeouts, a size cap, safe redirects.

One `FeedClient` (an httpx.Client) is shared by every fetch of a run. Besides httpx's
connect and read timeouts it enforces a *total* time per fetch: every socket operation
waits at most until the fetch's deadline, so a server that drips a byte a second (in its
headers or its body) is cut off like one that never answers. Bodies are decompressed
here, a bounded piece at a time, so a gzip bomb stops at the size cap.

A fetch given a `stop` event waits on the network in slices of STOP_POLL_SECONDS and gives
up with `Abandoned` once the event is set, so Ctrl-C does not wait for a stalled server.
Only waits for bytes are sliced: a recv that times out has consumed nothing, so trying
again is safe, which is not true of a half-written send or a connect.
"""

from __future__ import annotations

import re
import threading
import time
import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpcore
import httpx

from digest.config import IngestSettings
from digest.errors import FetchError
from digest.sources.abandon import STOP_POLL_SECONDS, Abandoned
from digest.sources.polling import retry_after_seconds

MAX_REDIRECTS = 5
_CHUNK = 64 * 1024
_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, "
    "application/rdf+xml;q=0.9, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)


class _Deadline(threading.local):
    """The monotonic time by which the current thread's fetch must be done, if any, and the
    event that abandons it."""

    at: float | None = None
    stop: threading.Event | None = None

    def check(self) -> None:
        if self.stop is not None and self.stop.is_set():
            raise Abandoned()

    def clamp(self, timeout: float | None) -> float | None:
        if self.at is None:
            return timeout
        left = max(0.001, self.at - time.monotonic())
        return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, deadline: _Deadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        limit = self._deadline.clamp(timeout)
        if self._deadline.stop is None:
            return self._inner.read(max_bytes, limit)
        until = None if limit is None else time.monotonic() + limit
        while True:
            self._deadline.check()
            left = None if until is None else max(0.001, until - time.monotonic())
            piece = STOP_POLL_SECONDS if left is None else min(left, STOP_POLL_SECONDS)
            try:
                return self._inner.read(max_bytes, piece)
            except httpcore.ReadTimeout:
                if left is not None and piece >= left:
                    raise

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._deadline.check()
        self._inner.write(buffer, self._deadline.clamp(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(ssl_context, server_hostname, self._deadline.clamp(timeout))
        return _DeadlineStream(inner, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, deadline: _Deadline) -> None:
        self._inner = httpcore.SyncBackend()
        self._deadline = deadline

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        self._deadline.check()
        stream = self._inner.connect_tcp(
            host, port, self._deadline.clamp(timeout), local_address, socket_options
        )
        return _DeadlineStream(stream, self._deadline)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_unix_socket(path, self._deadline.clamp(timeout))
        return _DeadlineStream(stream, self._deadline)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class FeedClient(httpx.Client):
    """The shared client: an httpx.Client whose fetches also have a total time limit."""

    def __init__(self, settings: IngestSettings) -> None:
        self.deadline = _Deadline()
        self.total_timeout = settings.timeout_seconds
        limits = httpx.Limits(
            max_connections=settings.concurrency * 2,
            max_keepalive_connections=settings.concurrency * 2,
        )
        transport = httpx.HTTPTransport(limits=limits)
        # httpx offers no hook for a network backend; its pool is swapped for one that has it.
        transport._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_DeadlineBackend(self.deadline),
        )
        super().__init__(
            timeout=httpx.Timeout(
                settings.read_timeout_seconds,
                connect=settings.connect_timeout_seconds,
                pool=settings.timeout_seconds,
            ),
            follow_redirects=False,
            headers={
                "User-Agent": settings.user_agent,
                "Accept": _ACCEPT,
                "Accept-Encoding": "gzip, deflate",
            },
            transport=transport,
        )


def make_client(settings: IngestSettings) -> FeedClient:
    """The one HTTP client that every fetch in a run shares."""
    return FeedClient(settings)


@dataclass(frozen=True, slots=True)
class Fetched:
    """A response worth parsing, or a 304 (`not_modified`) that needs no parse."""

    url: str
    status: int
    body: bytes
    headers: dict[str, str]
    not_modified: bool = False
    permanent_redirect: str | None = None


def fetch(
    client: httpx.Client,
    source_id: str,
    url: str,
    *,
    etag: str | None,
    last_modified: str | None,
    max_bytes: int,
    now: datetime,
    stop: threading.Event | None = None,
) -> Fetched:
    """GET a feed, following at most five http(s) redirects, reading at most `max_bytes`.

    Once `stop` is set, the fetch gives up within STOP_POLL_SECONDS with `Abandoned`.
    """
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    if stop is not None and stop.is_set():
        raise Abandoned(source_id)
    deadline: _Deadline | None = getattr(client, "deadline", None)
    total = float(getattr(client, "total_timeout", 0) or 0)
    started = time.monotonic()
    if deadline is not None:
        deadline.at = started + total if total else None
        deadline.stop = stop
    try:
        return _follow(client, source_id, url, headers, max_bytes, now, started, total)
    except Abandoned:
        raise Abandoned(source_id) from None
    finally:
        if deadline is not None:
            deadline.at = None
            deadline.stop = None


def _follow(
    client: httpx.Client,
    source_id: str,
    url: str,
    headers: dict[str, str],
    max_bytes: int,
    now: datetime,
    started: float,
    total: float,
) -> Fetched:
    all_permanent = True
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        try:
            with client.stream("GET", current, headers=headers) as response:
                if response.status_code in (301, 302, 303, 307, 308):
                    _drain(response)
                    target = _redirect_target(source_id, url, response)
                    all_permanent &= response.status_code in (301, 308)
                    current = target
                    continue
                moved = current if all_permanent and current != url else None
                return _finish(source_id, current, response, max_bytes, moved, now, started, total)
        except httpx.TimeoutException as exc:
            raise FetchError(
                source_id, _timeout_reason(client, exc, started, total), url=current
            ) from None
        except httpx.HTTPError as exc:
            raise FetchError(source_id, _connect_reason(current, exc), url=current) from None
    raise FetchError(source_id, f"more than {MAX_REDIRECTS} redirects (a redirect loop?)", url=url)


def _drain(response: httpx.Response, limit: int = 65536) -> None:
    """Read a small unwanted body to its end, so that the connection can be used again."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) <= limit:
        response.read()


def _redirect_target(source_id: str, url: str, response: httpx.Response) -> str:
    location = response.headers.get("location", "").strip()
    if not location:
        raise FetchError(
            source_id,
            f"the server answered HTTP {response.status_code} (a redirect) without saying where",
            url=str(response.url),
        )
    scheme = re.match(r"([a-zA-Z][a-zA-Z0-9+.-]*):", location)
    try:
        target = str(response.url.join(location))
    except (httpx.InvalidURL, ValueError):
        target = location
    if (
        scheme and scheme.group(1).lower() not in ("http", "https")
    ) or not target.lower().startswith(("http://", "https://")):
        raise FetchError(
            source_id,
            f"refused a redirect to '{location[:200]}': only http and https are followed",
            url=url,
        )
    return target


def _finish(
    source_id: str,
    url: str,
    response: httpx.Response,
    max_bytes: int,
    permanent: str | None,
    now: datetime,
    started: float,
    total: float,
) -> Fetched:
    headers = {k.lower(): v for k, v in response.headers.items()}
    if response.status_code == 304:
        response.read()  # nothing to read, but a response read to its end keeps its connection
        return Fetched(url, 304, b"", headers, not_modified=True, permanent_redirect=permanent)
    if response.status_code >= 400 or response.status_code < 200:
        _drain(response)
        raise FetchError(
            source_id,
            status_reason(response.status_code),
            url=url,
            status=response.status_code,
            retry_after=retry_after_seconds(headers.get("retry-after"), now)
            if response.status_code in (429, 503)
            else None,
        )
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes and "content-encoding" not in headers:
        raise FetchError(source_id, _too_big(max_bytes), url=url)
    body = _read_body(source_id, url, response, headers, max_bytes, started, total)
    return Fetched(url, response.status_code, body, headers, permanent_redirect=permanent)


def _read_body(
    source_id: str,
    url: str,
    response: httpx.Response,
    headers: dict[str, str],
    max_bytes: int,
    started: float,
    total: float,
) -> bytes:
    """The body, decompressed here a bounded piece at a time so that a bomb stops early."""
    encoding = headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("gzip", "x-gzip"):
        inflater: Any = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        inflater = _Deflate()
    elif encoding in ("identity", ""):
        inflater = None
    else:
        raise FetchError(source_id, f"the server used an unknown compression '{encoding}'", url=url)
    body = bytearray()
    try:
        for chunk in response.iter_raw(_CHUNK):
            if inflater is None:
                body.extend(chunk)
            else:
                data = inflater.decompress(chunk, max_bytes + 1 - len(body))
                body.extend(data)
                while inflater.unconsumed_tail and len(body) <= max_bytes:
                    body.extend(
                        inflater.decompress(inflater.unconsumed_tail, max_bytes + 1 - len(body))
                    )
            if len(body) > max_bytes:
                raise FetchError(source_id, _too_big(max_bytes), url=url)
            if total and time.monotonic() - started > total:
                raise FetchError(source_id, _total_reason(total), url=url)
    except zlib.error as exc:
        raise FetchError(
            source_id, f"the server sent broken {encoding} data ({exc})", url=url
        ) from None
    return bytes(body)


class _Deflate:
    """HTTP "deflate" is zlib-wrapped by the standard, raw deflate by some servers."""

    def __init__(self) -> None:
        self._inner: Any = None
        self.unconsumed_tail = b""

    def decompress(self, data: bytes, max_length: int) -> bytes:
        if self._inner is None:
            raw = not (
                len(data) >= 2 and (data[0] & 0x0F) == 8 and (data[0] << 8 | data[1]) % 31 == 0
            )
            self._inner = zlib.decompressobj(-zlib.MAX_WBITS if raw else zlib.MAX_WBITS)
        out: bytes = self._inner.decompress(data, max_length)
        self.unconsumed_tail = self._inner.unconsumed_tail
        return out


def _too_big(max_bytes: int) -> str:
    return f"the feed is larger than the {max_bytes:,} byte limit ([ingest] max_bytes)"


def _total_reason(total: float) -> str:
    return f"the download took longer than {total:g}s in all ([ingest] timeout_seconds)"


def _timeout_reason(
    client: httpx.Client, exc: httpx.TimeoutException, started: float, total: float
) -> str:
    if total and time.monotonic() - started >= total - 0.01:
        return _total_reason(total)
    if isinstance(exc, httpx.ConnectTimeout):
        return f"the server did not accept a connection within {client.timeout.connect:g}s"
    if isinstance(exc, httpx.PoolTimeout):
        return "no connection came free in time (too many fetches at once)"
    return f"the server stopped answering for {client.timeout.read:g}s"


def _connect_reason(url: str, exc: httpx.HTTPError) -> str:
    host = httpx.URL(url).host if url.startswith(("http://", "https://")) else url
    detail = str(exc) or type(exc).__name__
    lowered = detail.lower()
    if "name or service not known" in lowered or "nodename nor servname" in lowered:
        return f"the host name '{host}' does not exist (DNS lookup failed)"
    if "connection refused" in lowered:
        return f"{host} refused the connection"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"{host} broke the HTTP protocol ({detail})"
    if "certificate" in lowered or "ssl" in lowered:
        return f"the secure connection to {host} failed ({detail})"
    return f"could not fetch from {host} ({detail})"


def status_reason(status: int) -> str:
    """An HTTP error status as a sentence."""
    reasons = {
        401: "the server wants a login (HTTP 401)",
        403: "the server refused access (HTTP 403)",
        404: "the feed was not found (HTTP 404); check its address",
        410: "the server says the feed is gone for good (HTTP 410)",
        429: "the server asked us to slow down (HTTP 429)",
        500: "the server failed (HTTP 500)",
        502: "the server's gateway failed (HTTP 502)",
        503: "the server is unavailable (HTTP 503)",
        504: "the server's gateway timed out (HTTP 504)",
    }
    return reasons.get(status, f"the server answered HTTP {status}")
