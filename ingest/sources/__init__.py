"""Sources: where documents come from (``base`` has the seam; one module per kind).

``build_source`` turns a configured source into its ``Source`` object; the
implementations import only ``ingest.sources.base``, so this registry sits above them.
"""

from __future__ import annotations

from ingest.errors import ConfigError
from ingest.settings import Settings, SourceConfig
from ingest.sources.base import Scan, Source

__all__ = ["Scan", "Source", "build_source"]


def build_source(config: SourceConfig, settings: Settings) -> Source:
    """The Source object for one configured source (secrets come from settings)."""
    if config.type == "markdown":
        from ingest.sources.markdown import MarkdownSource

        assert config.path is not None
        glob = config.options.get("glob")
        exclude = config.options.get("exclude", ())
        return MarkdownSource(
            config.name,
            f"{config.path.rstrip('/')}/{glob}" if glob else config.path,
            url_template=config.url,
            exclude=(exclude,) if isinstance(exclude, str) else tuple(exclude),
        )
    if config.type == "confluence":
        from ingest.sources.confluence import ConfluenceSource

        return ConfluenceSource.from_config(config, settings)
    if config.type == "git":
        from ingest.sources.git import GitSource

        return GitSource.from_config(config, settings)
    raise ConfigError(f"source {config.name!r}: unknown type {config.type!r}")
