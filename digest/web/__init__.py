"""The web app: a local preview of every digest, items and sources, and the preference center."""

from digest.web.app import create_app

__all__ = ["create_app"]
