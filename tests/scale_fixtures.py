"""A sample deployment with many readers, for the fan-out tests and benchmarks/scale.py."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
THEMES = ["missile_tests", "china_influence", "alliance_coordination"]


def scale_deployment(
    folder: Path,
    *,
    readers: int,
    smtp_port: int,
    backend: str = "celery",
    broker_url: str = "redis://127.0.0.1:6379/0",
    visibility_timeout: float = 8.0,
    send_timeout: float = 4.0,
) -> Path:
    """config.toml with the sample's sources and themes, SMTP delivery and `readers` readers."""
    sample = (REPO / "config.toml").read_text(encoding="utf-8")
    text = sample[: sample.index("# Subscribers.")]
    changes = {
        r'^backend = "file"': 'backend = "smtp"',
        r"^port = 1025": f"port = {smtp_port}",
        r'^backend = "inprocess"': f'backend = "{backend}"',
        r"^broker_url = .*": f'broker_url = "{broker_url}"',
        r"^visibility_timeout = .*": f"visibility_timeout = {visibility_timeout}",
        r"^send_timeout = .*": f"send_timeout = {send_timeout}",
        r"^timeout = 30.0": "timeout = 3.0",
    }
    for pattern, value in changes.items():
        text, n = re.subn(pattern, value, text, count=1, flags=re.MULTILINE)
        assert n == 1, pattern
    for i in range(readers):
        text += (
            f'\n[[subscribers]]\nemail = "reader{i:05d}@example.org"\n'
            f'themes = ["{THEMES[i % 3]}", "{THEMES[(i + 1) % 3]}"]\n'
            'cadence = "daily 07:00"\ntimezone = "UTC"\n'
        )
    shutil.copytree(REPO / "sources", folder / "sources", dirs_exist_ok=True)
    config = folder / "config.toml"
    config.write_text(text, encoding="utf-8")
    return config
