"""Parsing processes: feeds are parsed apart from the program, with bounded memory and time.

feedparser has inputs that make it raise, loop for minutes or need gigabytes. Each parse
runs in a worker process whose address space is capped (RLIMIT_AS) and which is killed
and replaced if it takes longer than the time limit, so a hostile feed costs one error on
its source and nothing else. Several workers also put both cores to use.

Workers come from the "forkserver" start method: a clean process with the parsing modules
already imported forks each worker in milliseconds, and no thread of the program (the
fetchers, a web server) is ever forked. As with any multiprocessing program, a script that
ingests must keep its top level behind `if __name__ == "__main__":`, since the forkserver
imports the main module once.
"""

from __future__ import annotations

import multiprocessing
import pickle
import queue
import signal
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from types import TracebackType
from typing import Any

from digest.config import IngestSettings
from digest.errors import ParseError
from digest.sources.abandon import STOP_POLL_SECONDS, Abandoned
from digest.sources.feeds import ParsedFeed, parse_feed
from digest.tagging import Tagger

WORKER_MODULES = ["digest.sources.pool"]


@dataclass(frozen=True, slots=True)
class ParseJob:
    source_id: str
    body: bytes
    headers: dict[str, str]
    final_url: str
    now: datetime
    max_items: int


@dataclass(slots=True)
class _Worker:
    process: BaseProcess
    conn: Connection


class ParserPool:
    """A few parsing processes, started when first needed; `parse` is safe from any thread.

    Given a tagger that can be pickled, the processes also tag what they parse (tagging
    costs about as much as parsing, so it is worth the other cores too); the tags come
    back in `ParsedFeed.tags`.
    """

    def __init__(
        self, workers: int, *, timeout: float, memory_mb: int, tagger: Tagger | None = None
    ) -> None:
        self.workers = workers
        self.timeout = timeout
        self.memory_mb = memory_mb
        self.tagger = tagger
        self._tagger_bytes: bytes | None = None
        if tagger is not None:
            try:
                self._tagger_bytes = pickle.dumps(tagger)
            except Exception:  # noqa: BLE001 - a tagger that cannot travel tags at home
                self.tagger = None
        self._idle: queue.SimpleQueue[_Worker | None] = queue.SimpleQueue()
        for _ in range(workers):
            self._idle.put(None)  # a slot whose process has not been started yet
        self._all: list[_Worker] = []
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def from_settings(
        cls, settings: IngestSettings, *, workers: int | None = None, tagger: Tagger | None = None
    ) -> ParserPool:
        return cls(
            workers or settings.parse_workers,
            timeout=settings.parse_timeout_seconds,
            memory_mb=settings.parse_memory_mb,
            tagger=tagger,
        )

    def parse(self, job: ParseJob, *, stop: threading.Event | None = None) -> ParsedFeed:
        """Parse in a worker; ParseError if the feed is unusable, too slow or too big.

        Once `stop` is set, a parse under way is killed and `Abandoned` raised.
        """
        worker = self._idle.get()
        try:
            if self._closed or (stop is not None and stop.is_set()):
                raise Abandoned(job.source_id)
            if worker is None or not worker.process.is_alive():
                self._retire(worker)
                worker = self._start()
            try:
                status, payload, healthy = self._ask(worker, job, stop)
            except (ParseError, Abandoned):
                worker = None  # _ask retired it
                raise
            if not healthy:  # e.g. after a MemoryError: start afresh next time
                self._retire(worker)
                worker = None
        finally:
            self._idle.put(worker)  # the slot goes back, with its process or without
        if status == "error":
            raise ParseError(job.source_id, str(payload), url=job.final_url)
        assert isinstance(payload, ParsedFeed)
        return payload

    def _ask(
        self, worker: _Worker, job: ParseJob, stop: threading.Event | None
    ) -> tuple[str, object, bool]:
        try:
            worker.conn.send(job)
            if self._answered(worker, stop):
                answer: tuple[str, object, bool] = worker.conn.recv()
                return answer
            if stop is not None and stop.is_set():
                self._retire(worker)  # mid-parse: it cannot be told to stop, only killed
                raise Abandoned(job.source_id)
            reason = (
                f"parsing took longer than {self.timeout:g}s and was stopped "
                "([ingest] parse_timeout_seconds)"
            )
        except (EOFError, OSError):
            reason = (
                "the parsing process died, most likely for want of memory (limit "
                f"{self.memory_mb} MB more, [ingest] parse_memory_mb)"
            )
        self._retire(worker)
        raise ParseError(job.source_id, reason, url=job.final_url)

    def _answered(self, worker: _Worker, stop: threading.Event | None) -> bool:
        """Wait for the worker's answer, up to the time limit or until `stop` is set."""
        if stop is None:
            return worker.conn.poll(self.timeout)
        until = time.monotonic() + self.timeout
        while not stop.is_set():
            left = until - time.monotonic()
            if left <= 0:
                return False
            if worker.conn.poll(min(left, STOP_POLL_SECONDS)):
                return True
        return False

    def _start(self) -> _Worker:
        context = _context()
        parent, child = context.Pipe(duplex=True)
        process = context.Process(
            target=_serve,
            args=(child, self.memory_mb, self._tagger_bytes),
            daemon=True,
            name="digest-parser",
        )
        process.start()
        child.close()
        worker = _Worker(process, parent)
        with self._lock:
            self._all.append(worker)
        return worker

    def _retire(self, worker: _Worker | None) -> None:
        """Stop a worker for good (it is replaced when its slot is next used)."""
        if worker is None:
            return
        worker.conn.close()
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join(5)
        with self._lock:
            if worker in self._all:
                self._all.remove(worker)

    def close(self) -> None:
        """Stop every worker (each finishes nothing more: they only wait for jobs)."""
        self._closed = True
        with self._lock:
            workers, self._all = self._all, []
        for worker in workers:
            try:
                worker.conn.send(None)
            except OSError:
                pass
            worker.conn.close()
        for worker in workers:
            worker.process.join(2)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(2)

    def __enter__(self) -> ParserPool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _context() -> Any:
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if "forkserver" in methods:
        context.set_forkserver_preload(WORKER_MODULES)
    return context


def _limit_memory(memory_mb: int) -> None:
    """Cap the worker's address space at what it uses now plus `memory_mb`."""
    try:
        import resource

        with open("/proc/self/status", encoding="ascii") as status:
            size_kb = next(int(line.split()[1]) for line in status if line.startswith("VmSize:"))
        limit = (size_kb + memory_mb * 1024) * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, OSError, ValueError, StopIteration):
        pass  # not Linux: the time limit still holds


def _tagged(parsed: ParsedFeed, tagger: Tagger | None) -> ParsedFeed:
    if tagger is None:
        return parsed
    try:
        tags = [tagger.tag(entry.title, entry.text) for entry in parsed.entries]
    except Exception:  # noqa: BLE001 - the parent tags them instead
        return parsed
    return replace(parsed, tags=tags)


def _serve(conn: Connection, memory_mb: int, tagger_bytes: bytes | None) -> None:
    """A worker's loop: parse each job, answer (status, payload, still healthy)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    tagger: Tagger | None = pickle.loads(tagger_bytes) if tagger_bytes else None
    _limit_memory(memory_mb)
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        answer: tuple[str, object, bool]
        try:
            parsed = parse_feed(
                job.source_id,
                job.body,
                job.headers,
                job.final_url,
                job.now,
                max_items=job.max_items,
            )
            answer = ("ok", _tagged(parsed, tagger), True)
        except ParseError as exc:
            answer = ("error", exc.reason, True)
        except MemoryError:
            answer = (
                "error",
                f"parsing needed more than {memory_mb} MB and was stopped "
                "([ingest] parse_memory_mb)",
                False,
            )
        except RecursionError:
            answer = ("error", "the feed is nested too deeply to parse", False)
        except Exception as exc:  # noqa: BLE001 - the worker must answer, whatever happened
            answer = ("error", f"the parser failed ({type(exc).__name__}: {exc})"[:300], False)
        try:
            conn.send(answer)
        except MemoryError:
            conn.send(("error", "the parsed feed was too large to hand over", False))
        if not answer[2]:
            return


__all__ = ["ParseJob", "ParserPool"]
