"""Stopping a run: SIGINT/SIGTERM set a stop flag, reads under way are abandoned, and
`Abandoned` says so.

A read that is abandoned is not a failure of its source: nothing is recorded on it (no
error, no backoff, its validators untouched), so it is simply still due next time.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

log = logging.getLogger(__name__)

# How often a waiting fetch or parse looks at the stop flag; a stop is seen within this.
STOP_POLL_SECONDS = 0.2


class Abandoned(Exception):  # noqa: N818 - not an error: the run was asked to stop
    """The run was stopped while this source was being read; it was not refreshed."""

    def __init__(self, source_id: str = "") -> None:
        super().__init__(f"the run stopped before '{source_id}' was read" if source_id else "")
        self.source_id = source_id


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[list[int]]:
    """Inside the block, SIGINT and SIGTERM set `stop` (in the main thread only).

    Yields the list of signals received, so that a command can exit as interrupted.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s", signal.Signals(signum).name)
        received.append(signum)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
