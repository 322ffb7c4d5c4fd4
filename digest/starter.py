"""A starter config.toml, written from the settings' own declarations and help texts."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from digest.config import Settings

_EXAMPLE = """
# Sources: a folder of documents, and feeds by http(s) URL or local path.
[[sources]]
id = "notes"
kind = "documents"
path = "sources/documents"

# [[sources]]
# id = "agency-news"
# kind = "feed"
# url = "https://example.org/news/rss.xml"

# Themes: weighted phrases (and patterns, aliases, context words, exclusions); an item is
# tagged when its score reaches `threshold`. `digest themes explain "TEXT"` shows why.
[themes.example]
label = "Example theme"
description = "What belongs here, in a sentence."
threshold = 0.5
[themes.example.phrases]
"example phrase" = 0.8

# Subscribers: cadence is "daily HH:MM", "weekly DAY HH:MM" or a cron expression.
[[subscribers]]
email = "you@example.org"
name = "You"
themes = ["example"]
cadence = "daily 07:00"
timezone = "UTC"
"""


def starter_config() -> str:
    """config.toml text with every setting at its default, each with its help as a comment."""
    lines = ["# digest configuration. `digest config check` validates it.", ""]
    for name, model in settings_tables(Settings):
        lines.append(f"[{name}]")
        for key, field in model.model_fields.items():
            if _table(field.annotation) is not None:
                continue
            default = field.get_default(call_default_factory=True)
            comment = f"  # {field.description}" if field.description else ""
            if default is None:
                lines.append(f"# {key} = ...{comment}")
            else:
                lines.append(f"{key} = {_toml(default)}{comment}")
        lines.append("")
    return "\n".join(lines) + _EXAMPLE


def settings_tables(model: type[BaseModel], prefix: str = "") -> list[tuple[str, type[BaseModel]]]:
    """The fixed tables of the configuration ([digest], [delivery.smtp], ...), in order.

    Lists and maps of tables ([[sources]], [themes.ID]) are the user's to write.
    """
    found: list[tuple[str, type[BaseModel]]] = []
    for key, field in model.model_fields.items():
        table = _table(field.annotation)
        if table is not None:
            found.append((f"{prefix}{key}", table))
            found.extend(settings_tables(table, f"{prefix}{key}."))
    return found


def _table(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)
