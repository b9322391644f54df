"""Confluence Cloud and Data Center as a source: the REST client, CQL, page mapping."""

from ingest.sources.confluence.source import ConfluenceSource

__all__ = ["ConfluenceSource"]
