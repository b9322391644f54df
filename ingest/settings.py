"""Settings: read once into a frozen object by a pure function of the environment.

``load_settings(env, config_path)`` takes a mapping (tests pass a dict, the CLI
passes ``os.environ`` merged with ``.env``) and an optional ``docbot.toml`` that
lists sources. Every variable is documented in the README's configuration table
(a test checks it). A bad value raises :class:`ConfigError` naming the key.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.errors import ConfigError

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_CHAT_MODEL = "gpt-4o-mini"
DEFAULT_CONTEXT_TOKENS = 3000
DEFAULT_PORT = 3000
DEFAULT_ANSWER_CACHE_SIZE = 1000
DEFAULT_ANSWER_CACHE_TTL = 24 * 3600.0
DEFAULT_MASS_DELETE_SHARE = 0.5
DEFAULT_ANSWER_TIMEOUT = 60.0

SOURCE_TYPES = ("markdown", "confluence", "git")
_SOURCE_KEYS = {
    "common": {"name", "type", "every", "url"},
    "markdown": {"path", "glob", "exclude"},
    "git": {"repo", "branch", "path", "glob", "exclude"},
    "confluence": {"spaces", "email", "cloud", "page_limit", "labels_exclude"},
}


@dataclass(frozen=True)
class SourceConfig:
    """One configured source. ``url`` is the citation template for Markdown
    (``{path}`` = file path relative to the folder) and the base URL for Confluence."""

    name: str
    type: str
    path: str | None = None
    url: str | None = None
    every: float | None = None
    spaces: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Settings:
    db_path: Path = Path("docbot.db")
    sources: tuple[SourceConfig, ...] = ()
    slack_bot_token: str | None = None
    slack_app_token: str | None = None
    slack_signing_secret: str | None = None
    slack_api_url: str = DEFAULT_SLACK_API_URL
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    chat_model: str = DEFAULT_CHAT_MODEL
    embedder: str = "local"
    embed_model: str | None = None
    confluence_email: str | None = None
    confluence_api_token: str | None = None
    confluence_token: str | None = None
    sync_interval: float | None = None
    port: int = DEFAULT_PORT
    api_token: str | None = None
    rate_limit_per_user: int = 10
    rate_limit_global: int = 120
    log_format: str | None = None
    context_tokens: int = DEFAULT_CONTEXT_TOKENS
    metrics_port: int | None = None
    answer_cache_size: int = DEFAULT_ANSWER_CACHE_SIZE
    """Answers kept for repeated questions (0 turns the answer cache off)."""
    answer_cache_ttl: float = DEFAULT_ANSWER_CACHE_TTL
    """Seconds a cached answer may be served, even when its sources are unchanged."""
    mass_delete_share: float = DEFAULT_MASS_DELETE_SHARE
    """A sync that would delete more than this share of a source's documents (or all
    of them) keeps them and is held, unless ``--allow-mass-delete``."""
    answer_timeout: float = DEFAULT_ANSWER_TIMEOUT
    """Seconds a question may take in all (model retries included) before the asker is
    told the model did not answer."""
    config_path: Path | None = None

    @property
    def llm_enabled(self) -> bool:
        """A chat model is used when a key (or a compatible server) is configured."""
        return bool(self.openai_api_key)

    def source(self, name: str) -> SourceConfig:
        for source in self.sources:
            if source.name == name:
                return source
        known = ", ".join(s.name for s in self.sources) or "none"
        raise ConfigError(f"no source named {name!r} (configured: {known})")


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: str | int | float, key: str) -> float:
    """'90s', '30m', '24h', '7d' or a number of seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ConfigError(f"{key}: {value!r} is not a duration (use e.g. 90s, 30m, 24h)")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ConfigError(f"{key}: the interval must be positive, not {value!r}")
    return seconds


def _int(env: Mapping[str, str], key: str, default: int, minimum: int = 0) -> int:
    raw = env.get(key)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{key}: {raw!r} is not a whole number") from None
    if value < minimum:
        raise ConfigError(f"{key}: must be at least {minimum}, not {value}")
    return value


def _share(env: Mapping[str, str], key: str, default: float) -> float:
    """A share of a whole: ``0.5`` or ``50%``, more than 0 and at most 1."""
    raw = (env.get(key) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise ConfigError(f"{key}: {raw!r} is not a share (use e.g. 0.5 or 50%)") from None
    if not 0 < value <= 1:
        raise ConfigError(f"{key}: must be more than 0 and at most 1 (100%), not {raw!r}")
    return value


def _str(env: Mapping[str, str], key: str) -> str | None:
    value = env.get(key)
    return value.strip() if value and value.strip() else None


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(p.strip() for p in (value or "").split(",") if p.strip())


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text") from None


def _source_from_toml(raw: Any, index: int, path: Path) -> SourceConfig:
    where = f"{path}: sources[{index}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a table ([[sources]])")
    kind = raw.get("type", "markdown")
    if kind not in SOURCE_TYPES:
        raise ConfigError(f"{where}.type: {kind!r} is not one of {', '.join(SOURCE_TYPES)}")
    allowed = _SOURCE_KEYS["common"] | _SOURCE_KEYS[kind]
    for key in raw:
        if key not in allowed:
            raise ConfigError(
                f"{where}.{key}: unknown key for a {kind} source "
                f"(allowed: {', '.join(sorted(allowed))})"
            )
    name = raw.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ConfigError(f"{where}.name: give each source a name of letters, digits, - or _")
    for key in ("path", "url", "glob", "repo", "branch", "email"):
        if key in raw and not isinstance(raw[key], str):
            raise ConfigError(f"{where}.{key}: must be a string")
    spaces = raw.get("spaces", [])
    if isinstance(spaces, str):
        spaces = _csv(spaces)
    if not isinstance(spaces, list | tuple) or not all(isinstance(s, str) for s in spaces):
        raise ConfigError(f"{where}.spaces: must be a list of space keys")
    if kind == "markdown" and not raw.get("path"):
        raise ConfigError(f"{where}.path: a markdown source needs a folder or glob")
    if kind == "git" and not raw.get("repo"):
        raise ConfigError(f"{where}.repo: a git source needs a repository URL")
    if kind == "confluence":
        if not raw.get("url"):
            raise ConfigError(f"{where}.url: a confluence source needs the site URL")
        if not spaces:
            raise ConfigError(f"{where}.spaces: list at least one space key")
    every = parse_duration(raw["every"], f"{where}.every") if "every" in raw else None
    options = {
        k: v for k, v in raw.items() if k not in {"name", "type", "path", "url", "every", "spaces"}
    }
    path_value = raw.get("path")
    if kind == "markdown" and path_value and not Path(path_value).is_absolute():
        path_value = str(path.parent / path_value)
    return SourceConfig(
        name=name,
        type=kind,
        path=path_value,
        url=raw.get("url"),
        every=every,
        spaces=tuple(spaces),
        options=options,
    )


def load_settings(env: Mapping[str, str], config_path: Path | None = None) -> Settings:
    """Build settings from environment variables and an optional docbot.toml."""
    sources: list[SourceConfig] = []
    if config_path is not None:
        data = _read_toml(config_path)
        unknown = set(data) - {"sources"}
        if unknown:
            raise ConfigError(
                f"{config_path}: unknown top-level key {sorted(unknown)[0]!r} "
                "(only [[sources]] tables belong in docbot.toml; other settings are "
                "environment variables)"
            )
        raw_sources = data.get("sources", [])
        if not isinstance(raw_sources, list):
            raise ConfigError(f"{config_path}: 'sources' must be an array of tables ([[sources]])")
        sources = [_source_from_toml(raw, i, config_path) for i, raw in enumerate(raw_sources)]

    docs = _str(env, "DOCBOT_DOCS")
    if docs and not any(s.name == "docs" for s in sources):
        sources.append(
            SourceConfig(name="docs", type="markdown", path=docs, url=_str(env, "DOCBOT_DOCS_URL"))
        )
    confluence_url = _str(env, "CONFLUENCE_URL")
    if confluence_url and not any(s.type == "confluence" for s in sources):
        spaces = _csv(env.get("CONFLUENCE_SPACES"))
        if not spaces:
            raise ConfigError("CONFLUENCE_SPACES: list the space keys to sync, e.g. ENG,OPS")
        sources.append(
            SourceConfig(name="confluence", type="confluence", url=confluence_url, spaces=spaces)
        )
    names = [s.name for s in sources]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ConfigError(f"source name {sorted(duplicates)[0]!r} is used twice")

    interval = env.get("DOCBOT_SYNC_INTERVAL")
    log_format = _str(env, "DOCBOT_LOG_FORMAT")
    if log_format not in (None, "json", "text"):
        raise ConfigError(f"DOCBOT_LOG_FORMAT: must be 'json' or 'text', not {log_format!r}")
    embedder = (_str(env, "DOCBOT_EMBEDDER") or "local").lower()
    if embedder not in ("local", "openai"):
        raise ConfigError(f"DOCBOT_EMBEDDER: must be 'local' or 'openai', not {embedder!r}")
    slack_api_url = _str(env, "SLACK_API_URL") or DEFAULT_SLACK_API_URL
    if not slack_api_url.endswith("/"):
        slack_api_url += "/"
    metrics_port = _int(env, "DOCBOT_METRICS_PORT", 0, minimum=0) or None
    cache_ttl = env.get("DOCBOT_ANSWER_CACHE_TTL")
    answer_timeout = env.get("DOCBOT_ANSWER_TIMEOUT")

    return Settings(
        db_path=Path(_str(env, "DOCBOT_DB") or "docbot.db"),
        sources=tuple(sources),
        slack_bot_token=_str(env, "SLACK_BOT_TOKEN"),
        slack_app_token=_str(env, "SLACK_APP_TOKEN"),
        slack_signing_secret=_str(env, "SLACK_SIGNING_SECRET"),
        slack_api_url=slack_api_url,
        openai_api_key=_str(env, "OPENAI_API_KEY"),
        openai_base_url=_str(env, "OPENAI_BASE_URL"),
        chat_model=_str(env, "DOCBOT_CHAT_MODEL") or DEFAULT_CHAT_MODEL,
        embedder=embedder,
        embed_model=_str(env, "DOCBOT_EMBED_MODEL"),
        confluence_email=_str(env, "CONFLUENCE_EMAIL"),
        confluence_api_token=_str(env, "CONFLUENCE_API_TOKEN"),
        confluence_token=_str(env, "CONFLUENCE_TOKEN"),
        sync_interval=parse_duration(interval, "DOCBOT_SYNC_INTERVAL") if interval else None,
        port=_int(env, "PORT", DEFAULT_PORT, minimum=1),
        api_token=_str(env, "DOCBOT_API_TOKEN"),
        rate_limit_per_user=_int(env, "DOCBOT_RATE_LIMIT_PER_USER", 10),
        rate_limit_global=_int(env, "DOCBOT_RATE_LIMIT_GLOBAL", 120),
        log_format=log_format,
        context_tokens=_int(env, "DOCBOT_CONTEXT_TOKENS", DEFAULT_CONTEXT_TOKENS, minimum=200),
        metrics_port=metrics_port,
        answer_cache_size=_int(env, "DOCBOT_ANSWER_CACHE_SIZE", DEFAULT_ANSWER_CACHE_SIZE),
        answer_cache_ttl=parse_duration(cache_ttl, "DOCBOT_ANSWER_CACHE_TTL")
        if cache_ttl and cache_ttl.strip()
        else DEFAULT_ANSWER_CACHE_TTL,
        mass_delete_share=_share(env, "DOCBOT_MASS_DELETE_SHARE", DEFAULT_MASS_DELETE_SHARE),
        answer_timeout=parse_duration(answer_timeout, "DOCBOT_ANSWER_TIMEOUT")
        if answer_timeout and answer_timeout.strip()
        else DEFAULT_ANSWER_TIMEOUT,
        config_path=config_path,
    )
