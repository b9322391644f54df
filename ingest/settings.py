"""Settings: read once into a frozen object by a pure function of the environment.

``load_settings(env, config_path)`` takes a mapping (tests pass a dict, the CLI
passes ``os.environ`` merged with ``.env``) and an optional ``docbot.toml`` that
lists sources. Every variable is documented in the README's configuration table
(a test checks it). A bad value raises :class:`ConfigError` naming the key.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from string import Formatter
from typing import Any

from ingest.errors import ConfigError

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_CHAT_MODEL = "gpt-4o-mini"
DEFAULT_CONTEXT_TOKENS = 3000
DEFAULT_PORT = 3000
MULTILINGUAL_CHOICES = ("use-multilingual", "off")
"""``DOCBOT_MULTILINGUAL_MODEL``: the models of ``ingest.embedding.MULTILINGUAL_MODELS``
and ``off`` (kept here so reading settings loads no model code)."""
DEFAULT_ANSWER_CACHE_SIZE = 1000
DEFAULT_PG_EF_SEARCH = 400
"""HNSW's ``ef_search`` on PostgreSQL: the smallest that reached the 0.95 recall@10
target at 1M chunks (0.96; 0.86 at 100, the default before), for ~1.5 ms more per
question there, and no measurable cost at 20k (docs/BENCHMARKS.md: "PostgreSQL +
pgvector" for 40 to 400 at 20k, "PostgreSQL at 1M chunks")."""
PG_EF_SEARCH_MAX = 1000
DEFAULT_PG_BUILD_MEMORY_MB = 1024
"""``maintenance_work_mem`` for building the HNSW index in one pass. pgvector slows
sharply once the graph no longer fits: at 1M 384-d chunks a 256 MB build had placed a
quarter of the vectors after 10 minutes (docs/BENCHMARKS.md, "PostgreSQL beside
SQLite"), so this is a setting; raise it for stores above ~300k chunks."""
DEFAULT_PG_LEXICAL_CANDIDATES = 2_000
"""How many chunks the PostgreSQL lexical search ranks at most: the postings of the
question's rarest words, chosen by their document frequency, up to this many
(``ingest/store/postgres/search.py``). 0 ranks every chunk holding any word (exact, and
at 1M chunks a second or more per question). Chosen as a cost bound: each candidate is a
heap row read and ranked, ~10-25 us on this loaded machine, so 2,000 keep the lexical
side near 30 ms at 1M (docs/BENCHMARKS.md, "PostgreSQL at 1M chunks", which also has the
quality on the handbook questions and dbpedia, unbounded and bounded)."""
DEFAULT_ANSWER_CACHE_TTL = 24 * 3600.0
DEFAULT_HOST = "0.0.0.0"  # container platforms route to the container's interface
DEFAULT_ACK_THREADS = 16
DEFAULT_REPLY_THREADS = 8
DEFAULT_ANSWER_WORKERS = 8
DEFAULT_ANSWER_QUEUE = 32
DEFAULT_API_WORKERS = 4
DEFAULT_API_QUEUE = 16
DEFAULT_MASS_DELETE_SHARE = 0.5
DEFAULT_ANSWER_TIMEOUT = 60.0
RERANK_CHOICES = ("off", "llm")
"""``DOCBOT_RERANK``: no rerank (the default: its benefit is unmeasured, README), or the
chat model reorders the fused candidates (``bot/rerank.py``)."""
DEFAULT_RERANK_CANDIDATES = 20
RERANK_CANDIDATES_MAX = 50
"""At most ``Fusion.candidates``: below the fused heads the order is a tie-break, and
every candidate is up to ~330 more prompt tokens per question."""
DEFAULT_RERANK_TIMEOUT = 5.0
"""Seconds a rerank may take (never more than half the question's time left): a rerank
that adds more than a few seconds to every answer would have to be much better to pay."""

SOURCE_TYPES = ("markdown", "confluence", "git")
_SOURCE_KEYS = {
    "common": {"name", "type", "every", "url", "shareable"},
    "markdown": {"path", "glob", "exclude"},
    "git": {"repo", "branch", "path", "glob", "exclude"},
    "confluence": {
        "spaces",
        "email",
        "cloud",
        "page_limit",
        "labels_exclude",
        "everyone_groups",
        "restricted_spaces",
    },
}
RESERVED_SCOPES = ("default", "dm", "api")
"""Scope names that select a place rather than list channels: every channel not listed
elsewhere (and ``docbot ask``), DMs with the assistant panel, and ``POST /api/ask``."""
_SCOPE_KEYS = {"channels", "sources", "spaces", "labels", "include_restricted"}
_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,}$")


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
    shareable: bool = False
    """May answer in channels shared with other organisations (Slack Connect)."""


@dataclass(frozen=True)
class ScopeConfig:
    """Which documents one place may be answered from (``[scopes.NAME]`` in docbot.toml).

    ``None`` means no limit. ``include_restricted`` lets restricted pages (that not
    everyone may read) be shown there: the admin vouches that everyone who can see the
    place may read them. It is refused for ``default`` and ``api``.
    """

    name: str
    channels: tuple[str, ...] = ()
    sources: tuple[str, ...] | None = None
    spaces: tuple[str, ...] | None = None
    labels: tuple[str, ...] | None = None
    include_restricted: bool = False


POSTGRES_SCHEMES = ("postgresql://", "postgres://")
"""How ``DOCBOT_DATABASE_URL`` may start (libpq accepts both)."""


@dataclass(frozen=True)
class Settings:
    db_path: Path = Path("docbot.db")
    database_url: str | None = None
    """``postgresql://…``: the store is that database instead of the SQLite file."""
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
    multilingual_model: str = "use-multilingual"
    """The second embedder, for questions not in English (``off``: none)."""
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
    scopes: tuple[ScopeConfig, ...] = ()
    redact_pii: bool = False
    """Also remove personal data (SSNs, card numbers) from documents at sync."""
    rerank: str = "off"
    """``llm``: the chat model reorders the top candidates before the answer (off by
    default; used only when a chat model is configured)."""
    rerank_candidates: int = DEFAULT_RERANK_CANDIDATES
    """How many fused candidates the rerank sees."""
    rerank_timeout: float = DEFAULT_RERANK_TIMEOUT
    """Seconds the rerank may take before the fused order is used."""

    def scope(self, name: str) -> ScopeConfig | None:
        return next((s for s in self.scopes if s.name == name), None)

    def scope_for_channel(self, channel: str | None) -> ScopeConfig | None:
        """The scope that lists ``channel``, if any (else the ``default`` one applies)."""
        return next((s for s in self.scopes if channel and channel in s.channels), None)

    host: str = DEFAULT_HOST
    """Address ``docbot serve --http`` (and the metrics port) listens on."""
    trusted_proxies: tuple[str, ...] = ()
    """Networks whose ``X-Forwarded-For`` names the client (default: none)."""
    slack_ack_threads: int = DEFAULT_ACK_THREADS
    """Threads that verify, ack and admit Slack requests (HTTP mode)."""
    slack_reply_threads: int = DEFAULT_REPLY_THREADS
    """Threads for short Slack calls: first reactions, busy replies, help, Home tab."""
    answer_workers: int = DEFAULT_ANSWER_WORKERS
    """Slack questions answered at once."""
    answer_queue: int = DEFAULT_ANSWER_QUEUE
    """Slack questions waiting for a worker; past that, a "busy" reply."""
    api_workers: int = DEFAULT_API_WORKERS
    """``POST /api/ask`` calls answered at once."""
    api_queue: int = DEFAULT_API_QUEUE
    """``POST /api/ask`` calls waiting; past that, 503 with ``Retry-After``."""
    pg_ef_search: int = DEFAULT_PG_EF_SEARCH
    pg_build_memory_mb: int = DEFAULT_PG_BUILD_MEMORY_MB
    """PostgreSQL: candidates pgvector's HNSW keeps per query (recall against speed)."""
    pg_lexical_candidates: int = DEFAULT_PG_LEXICAL_CANDIDATES
    """PostgreSQL: chunks the lexical search ranks at most (0: all that match)."""

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


URL_PLACEHOLDERS = ("path", "stem")
GIT_PROTOCOLS = ("https", "ssh", "file")
"""The only transports git may use for a git source (ext::, fd::, git://, http:// never)."""
_TRANSPORT_PREFIX = re.compile(r"^([A-Za-z0-9][A-Za-z0-9+.-]*)::")
_WILDCARDS = re.compile(r"[*?\[]")


def check_url_template(template: str, key: str) -> str:
    """``template`` if it is a citation URL template docbot can fill: ``{path}`` and
    ``{stem}`` only, no attribute or index access, conversion or format spec; ``{{``
    and ``}}`` stand for braces. Anything else is a ConfigError naming ``key``."""
    hint = "use {path} or {stem}, and {{ }} for literal braces"
    try:
        fields = list(Formatter().parse(template))
    except ValueError as exc:
        raise ConfigError(
            f"{key}: {template!r} is not a valid URL template ({exc}; {hint})"
        ) from None
    for _literal, name, spec, conversion in fields:
        if name is None:
            continue
        if name not in URL_PLACEHOLDERS or spec or conversion:
            shown = "{" + name + (f"!{conversion}" if conversion else "")
            shown += (f":{spec}" if spec else "") + "}"
            raise ConfigError(f"{key}: unknown placeholder {shown} in the URL template ({hint})")
    return template


def check_glob(pattern: str, key: str) -> str:
    """A glob may not climb with ``..`` once it has a wildcard: what it matches stays
    inside the folder before its first wildcard."""
    parts = PurePosixPath(pattern.replace("\\", "/")).parts
    wild = next((i for i, part in enumerate(parts) if _WILDCARDS.search(part)), len(parts))
    if ".." in parts[wild:]:
        raise ConfigError(
            f"{key}: '..' after a wildcard in {pattern!r} would leave the glob's folder; "
            "put the folder before the first wildcard"
        )
    return pattern


def check_inside(path: str, key: str, where: str) -> str:
    """A relative path that stays inside ``where`` (no leading ``/``, no ``..``)."""
    parts = PurePosixPath(path.replace("\\", "/")).parts
    if path.startswith(("/", "\\", "~")) or ".." in parts or re.match(r"^[A-Za-z]:", path):
        raise ConfigError(f"{key}: {path!r} must be a path inside {where}, without '..'")
    return path


def check_repo_url(repo: str, key: str) -> str:
    """A git repository docbot may fetch: an https://, ssh:// or file:// URL, an
    scp-like ``user@host:path`` (ssh) or a local path (file). Transports such as
    ``ext::`` (runs a command) or ``fd::`` are refused here, and git itself is run
    with only these protocols allowed (``ingest.sources.git``)."""
    allowed = ", ".join(f"{p}://" for p in GIT_PROTOCOLS)
    helper = _TRANSPORT_PREFIX.match(repo)
    if helper:
        raise ConfigError(
            f"{key}: the git transport {helper.group(1)}:: is not allowed (use {allowed})"
        )
    if "://" in repo:
        scheme = repo.split("://", 1)[0].lower()
        if scheme not in GIT_PROTOCOLS:
            raise ConfigError(f"{key}: {scheme}:// is not allowed for git (use {allowed})")
    if repo.startswith("-"):
        raise ConfigError(f"{key}: a repository URL cannot start with '-'")
    return repo


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


def _ef_search(env: Mapping[str, str]) -> int:
    """``DOCBOT_PG_EF_SEARCH``: 1 to 1000, pgvector's bounds for ``hnsw.ef_search``."""
    value = _int(env, "DOCBOT_PG_EF_SEARCH", DEFAULT_PG_EF_SEARCH, minimum=1)
    if value > PG_EF_SEARCH_MAX:
        raise ConfigError(f"DOCBOT_PG_EF_SEARCH: must be at most {PG_EF_SEARCH_MAX}, not {value}")
    return value


def _bool(env: Mapping[str, str], key: str) -> bool:
    raw = (env.get(key) or "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{key}: {raw!r} is not true or false (use 1 or 0)")


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


def _networks(value: str | None, key: str) -> tuple[str, ...]:
    """Comma-separated IP addresses or CIDR networks, normalised (``10.0.0.0/8``)."""
    networks = []
    for part in _csv(value):
        try:
            networks.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError:
            raise ConfigError(
                f"{key}: {part!r} is not an IP address or network (e.g. 10.0.0.0/8, 127.0.0.1)"
            ) from None
    return tuple(networks)


def _host(value: str | None, key: str) -> str:
    host = (value or "").strip() or DEFAULT_HOST
    if any(c.isspace() for c in host) or "/" in host:
        raise ConfigError(f"{key}: {host!r} is not an address to listen on (e.g. 0.0.0.0, ::1)")
    return host


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
    if kind == "git":
        check_repo_url(raw["repo"].strip(), f"{where}.repo")
        for key in ("path", "glob"):
            if raw.get(key):
                check_inside(raw[key], f"{where}.{key}", "the repository")
    if kind == "markdown":
        if raw.get("glob"):
            check_inside(raw["glob"], f"{where}.glob", "the source's path")
        elif _WILDCARDS.search(raw["path"]):
            check_glob(raw["path"], f"{where}.path")
    if kind in ("markdown", "git") and raw.get("url"):
        check_url_template(raw["url"], f"{where}.url")
    if kind == "confluence":
        if not raw.get("url"):
            raise ConfigError(f"{where}.url: a confluence source needs the site URL")
        if not spaces:
            raise ConfigError(f"{where}.spaces: list at least one space key")
    every = parse_duration(raw["every"], f"{where}.every") if "every" in raw else None
    shareable = raw.get("shareable", False)
    if not isinstance(shareable, bool):
        raise ConfigError(f"{where}.shareable: must be true or false")
    fixed = {"name", "type", "path", "url", "every", "spaces", "shareable"}
    options = {k: v for k, v in raw.items() if k not in fixed}
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
        shareable=shareable,
    )


def _names(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where}: must be a list of names")
    return tuple(value)


def _scopes_from_toml(raw: Any, path: Path, sources: list[SourceConfig]) -> list[ScopeConfig]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: 'scopes' must be tables ([scopes.NAME])")
    known = {s.name for s in sources}
    scopes: list[ScopeConfig] = []
    owner: dict[str, str] = {}
    for name, table in raw.items():
        where = f"{path}: scopes.{name}"
        if not isinstance(table, dict):
            raise ConfigError(f"{where} must be a table")
        for key in table:
            if key not in _SCOPE_KEYS:
                raise ConfigError(
                    f"{where}.{key}: unknown key (allowed: {', '.join(sorted(_SCOPE_KEYS))})"
                )
        channels = _names(table.get("channels", []), f"{where}.channels")
        if name in RESERVED_SCOPES and channels:
            raise ConfigError(f"{where}.channels: the {name!r} scope applies without a list")
        if name not in RESERVED_SCOPES and not channels:
            raise ConfigError(
                f"{where}.channels: list the channel ids (C…/G…) this scope is for, or name "
                f"the scope one of {', '.join(RESERVED_SCOPES)}"
            )
        for channel in channels:
            if not _CHANNEL_ID.match(channel):
                raise ConfigError(
                    f"{where}.channels: {channel!r} is not a channel id (C… or G…; channel "
                    "names change, ids do not: see the channel's details in Slack)"
                )
            if channel in owner:
                raise ConfigError(
                    f"{where}.channels: {channel} is already in scopes.{owner[channel]}"
                )
            owner[channel] = name
        fields: dict[str, tuple[str, ...] | None] = {}
        for key in ("sources", "spaces", "labels"):
            fields[key] = _names(table[key], f"{where}.{key}") if key in table else None
        for source in fields["sources"] or ():
            if source not in known:
                raise ConfigError(
                    f"{where}.sources: no source named {source!r} "
                    f"(configured: {', '.join(sorted(known)) or 'none'})"
                )
        restricted = table.get("include_restricted", False)
        if not isinstance(restricted, bool):
            raise ConfigError(f"{where}.include_restricted: must be true or false")
        if restricted and name in ("default", "api"):
            raise ConfigError(
                f"{where}.include_restricted: not allowed for {name!r}, which anyone can reach"
            )
        scopes.append(ScopeConfig(name, channels, include_restricted=restricted, **fields))
    return scopes


def load_settings(env: Mapping[str, str], config_path: Path | None = None) -> Settings:
    """Build settings from environment variables and an optional docbot.toml."""
    sources: list[SourceConfig] = []
    raw_scopes: Any = {}
    if config_path is not None:
        data = _read_toml(config_path)
        unknown = set(data) - {"sources", "scopes"}
        if unknown:
            raise ConfigError(
                f"{config_path}: unknown top-level key {sorted(unknown)[0]!r} "
                "(only [[sources]] and [scopes.NAME] tables belong in docbot.toml; other "
                "settings are environment variables)"
            )
        raw_scopes = data.get("scopes", {})
        raw_sources = data.get("sources", [])
        if not isinstance(raw_sources, list):
            raise ConfigError(f"{config_path}: 'sources' must be an array of tables ([[sources]])")
        sources = [_source_from_toml(raw, i, config_path) for i, raw in enumerate(raw_sources)]

    docs = _str(env, "DOCBOT_DOCS")
    docs_url = _str(env, "DOCBOT_DOCS_URL")
    if docs_url:
        check_url_template(docs_url, "DOCBOT_DOCS_URL")
    if docs and _WILDCARDS.search(docs):
        check_glob(docs, "DOCBOT_DOCS")
    if docs and not any(s.name == "docs" for s in sources):
        sources.append(SourceConfig(name="docs", type="markdown", path=docs, url=docs_url))
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
    scopes = _scopes_from_toml(raw_scopes, config_path, sources) if config_path else []

    interval = env.get("DOCBOT_SYNC_INTERVAL")
    database_url = _str(env, "DOCBOT_DATABASE_URL")
    if database_url is not None and not database_url.startswith(POSTGRES_SCHEMES):
        raise ConfigError(
            "DOCBOT_DATABASE_URL: must start with postgresql:// (or postgres://); "
            "unset it to keep the SQLite file DOCBOT_DB"
        )
    log_format = _str(env, "DOCBOT_LOG_FORMAT")
    if log_format not in (None, "json", "text"):
        raise ConfigError(f"DOCBOT_LOG_FORMAT: must be 'json' or 'text', not {log_format!r}")
    embedder = (_str(env, "DOCBOT_EMBEDDER") or "local").lower()
    if embedder not in ("local", "openai"):
        raise ConfigError(f"DOCBOT_EMBEDDER: must be 'local' or 'openai', not {embedder!r}")
    multilingual = (_str(env, "DOCBOT_MULTILINGUAL_MODEL") or "use-multilingual").lower()
    if multilingual not in MULTILINGUAL_CHOICES:
        raise ConfigError(
            "DOCBOT_MULTILINGUAL_MODEL: must be one of "
            f"{', '.join(MULTILINGUAL_CHOICES)}, not {multilingual!r}"
        )
    slack_api_url = _str(env, "SLACK_API_URL") or DEFAULT_SLACK_API_URL
    if not slack_api_url.endswith("/"):
        slack_api_url += "/"
    metrics_port = _int(env, "DOCBOT_METRICS_PORT", 0, minimum=0) or None
    cache_ttl = env.get("DOCBOT_ANSWER_CACHE_TTL")
    answer_timeout = env.get("DOCBOT_ANSWER_TIMEOUT")
    rerank = (_str(env, "DOCBOT_RERANK") or "off").lower()
    if rerank not in RERANK_CHOICES:
        raise ConfigError(
            f"DOCBOT_RERANK: must be one of {', '.join(RERANK_CHOICES)}, not {rerank!r}"
        )
    rerank_candidates = _int(env, "DOCBOT_RERANK_CANDIDATES", DEFAULT_RERANK_CANDIDATES, 2)
    if rerank_candidates > RERANK_CANDIDATES_MAX:
        raise ConfigError(
            f"DOCBOT_RERANK_CANDIDATES: must be at most {RERANK_CANDIDATES_MAX}, "
            f"not {rerank_candidates}"
        )
    rerank_timeout = env.get("DOCBOT_RERANK_TIMEOUT")

    return Settings(
        db_path=Path(_str(env, "DOCBOT_DB") or "docbot.db"),
        database_url=database_url,
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
        multilingual_model=multilingual,
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
        scopes=tuple(scopes),
        redact_pii=_bool(env, "DOCBOT_REDACT_PII"),
        rerank=rerank,
        rerank_candidates=rerank_candidates,
        rerank_timeout=parse_duration(rerank_timeout, "DOCBOT_RERANK_TIMEOUT")
        if rerank_timeout and rerank_timeout.strip()
        else DEFAULT_RERANK_TIMEOUT,
        host=_host(env.get("DOCBOT_HOST"), "DOCBOT_HOST"),
        trusted_proxies=_networks(env.get("DOCBOT_TRUSTED_PROXIES"), "DOCBOT_TRUSTED_PROXIES"),
        slack_ack_threads=_int(env, "DOCBOT_SLACK_ACK_THREADS", DEFAULT_ACK_THREADS, minimum=1),
        slack_reply_threads=_int(env, "DOCBOT_SLACK_REPLY_THREADS", DEFAULT_REPLY_THREADS, 1),
        answer_workers=_int(env, "DOCBOT_ANSWER_WORKERS", DEFAULT_ANSWER_WORKERS, minimum=1),
        answer_queue=_int(env, "DOCBOT_ANSWER_QUEUE", DEFAULT_ANSWER_QUEUE),
        api_workers=_int(env, "DOCBOT_API_WORKERS", DEFAULT_API_WORKERS, minimum=1),
        api_queue=_int(env, "DOCBOT_API_QUEUE", DEFAULT_API_QUEUE),
        pg_ef_search=_ef_search(env),
        pg_build_memory_mb=_int(
            env, "DOCBOT_PG_BUILD_MEMORY_MB", DEFAULT_PG_BUILD_MEMORY_MB, minimum=64
        ),
        pg_lexical_candidates=_int(
            env, "DOCBOT_PG_LEXICAL_CANDIDATES", DEFAULT_PG_LEXICAL_CANDIDATES, minimum=0
        ),
    )
