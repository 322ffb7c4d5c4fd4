"""Fixtures for the render tests: the sample settings, one renderer per module, and how
a test renders a hand-built digest and reads the message back."""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage

import pytest

from digest.config import Settings, load_settings
from digest.models import Digest, RenderedEmail
from digest.render import Renderer
from tests.conftest import REPO
from tests.digests import LINKS, NOW

KEY = "digest:7:2026-11-22T12:00Z"


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings(REPO / "config.toml")


@pytest.fixture(scope="module")
def renderer(settings: Settings) -> Renderer:
    return Renderer(settings)


def render(renderer: Renderer, digest: Digest) -> RenderedEmail:
    return renderer.render_digest(digest, links=LINKS, key=KEY, now=NOW)


def parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=policy.default)
