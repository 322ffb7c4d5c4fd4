"""digest: ingest documents and feeds, tag them against themes, mail each reader what is new."""

__version__ = "0.1.0"
