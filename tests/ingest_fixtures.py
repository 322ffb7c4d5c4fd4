"""Fixtures and helpers for ingestion tests: configs with feeds, a refresh, the CLI, and a
watch on the memory of this process and its children."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from digest.app import App
from digest.cli import cli
from digest.ingest import RefreshResult, refresh_all
from digest.sources.fetch import make_client
from tests.conftest import write_config

THEMES = """
[themes.missile_tests]
label = "Missile tests"
context = ["north korea", "pyongyang"]
[themes.missile_tests.phrases]
"missile" = 0.8
"""


def config_with(tmp_path: Path, *feeds: tuple[str, str], ingest: str = "") -> Path:
    sources = "".join(
        f'[[sources]]\nid = "{source_id}"\nkind = "feed"\nurl = "{url}"\n\n'
        for source_id, url in feeds
    )
    return write_config(tmp_path, f"[ingest]\n{ingest}\n\n" + sources + THEMES)


def ingest(app: App, only: list[str] | None = None) -> dict[str, RefreshResult]:
    with make_client(app.settings.ingest) as client:
        results = refresh_all(
            app.store, app.settings, client=client, tagger=app.tagger, now=app.clock(), only=only
        )
    return {r.source_id: r for r in results}


def run(config: Path, *args: str) -> click.testing.Result:
    # A wide terminal, so that rich does not wrap the tables' sentences.
    return CliRunner(env={"COLUMNS": "250"}).invoke(cli, ["--config", str(config), *args])


def feed(*items: tuple[str, str, str, str], title: str = "F") -> bytes:
    """An RSS feed of (guid, link, title, text) items."""
    body = "".join(
        f'<item><guid isPermaLink="false">{guid}</guid><link>{link}</link><title>{title}</title>'
        f"<description>{text}</description></item>"
        for guid, link, title, text in items
    )
    return f'<rss version="2.0"><channel><title>{title}</title>{body}</channel></rss>'.encode()


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _family(root: int) -> list[int]:
    """`root` and every process descended from it (the parsing workers come via a forkserver)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


class MemoryWatch:
    """Samples the resident memory of this process and all its descendants, keeping the peak."""

    def __init__(self, every: float = 0.02) -> None:
        self.every = every
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.wait(self.every):
            total = sum(_rss_kb(pid) for pid in _family(me)) / 1024
            self.peak_mb = max(self.peak_mb, total)

    def __enter__(self) -> MemoryWatch:
        if not Path("/proc/self/status").exists():
            pytest.skip("memory is measured through /proc, which this system lacks")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture
def memory_watch() -> Iterator[MemoryWatch]:
    with MemoryWatch() as watch:
        yield watch
