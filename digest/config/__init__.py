"""config.toml: every setting declared once, validated in one place.

Each field's `description` is its help text; `digest init`, `digest config show` and the
test that config.toml documents every setting derive from these declarations.

    sections.py   the fixed tables ([digest], [delivery], [ingest], [web], [workers]),
                  sources and subscribers
    themes.py     [themes.ID]: what the tagger compiles
    load.py       Settings, reading the file, and errors that name key, value and need
"""

from digest.config.load import (
    Settings,
    describe_errors,
    load_settings,
    reference_problems,
    settings_from_dict,
)
from digest.config.sections import (
    DEFAULT_CONFIG,
    AlertSettings,
    DeliverySettings,
    DigestSettings,
    DkimSettings,
    DocumentsSource,
    FeedSource,
    IngestSettings,
    Section,
    SmtpSettings,
    SourceBase,
    SourceSettings,
    SubscriberSettings,
    WebSettings,
    WorkersSettings,
    check_email,
    check_timezone,
    secret,
)
from digest.config.themes import RuleSettings, ThemeSettings

__all__ = [
    "DEFAULT_CONFIG",
    "AlertSettings",
    "DeliverySettings",
    "DigestSettings",
    "DkimSettings",
    "DocumentsSource",
    "FeedSource",
    "IngestSettings",
    "RuleSettings",
    "Section",
    "Settings",
    "SmtpSettings",
    "SourceBase",
    "SourceSettings",
    "SubscriberSettings",
    "ThemeSettings",
    "WebSettings",
    "WorkersSettings",
    "check_email",
    "check_timezone",
    "describe_errors",
    "load_settings",
    "reference_problems",
    "secret",
    "settings_from_dict",
]
