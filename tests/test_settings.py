"""Settings are a pure function of an environment dict and an optional docbot.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.errors import ConfigError
from ingest.settings import load_settings, parse_duration


def test_defaults_need_nothing() -> None:
    s = load_settings({})
    assert s.db_path == Path("docbot.db")
    assert s.sources == ()
    assert s.embedder == "local" and s.chat_model == "gpt-4o-mini"
    assert s.slack_api_url == "https://slack.com/api/"
    assert not s.llm_enabled


def test_docbot_docs_is_a_markdown_source() -> None:
    s = load_settings({"DOCBOT_DOCS": "docs/", "DOCBOT_DB": "/tmp/x.db"})
    (source,) = s.sources
    assert (source.name, source.type, source.path) == ("docs", "markdown", "docs/")
    assert s.db_path == Path("/tmp/x.db")


def test_toml_sources(tmp_path: Path) -> None:
    config = tmp_path / "docbot.toml"
    config.write_text(
        '[[sources]]\nname = "handbook"\ntype = "markdown"\npath = "docs/"\n'
        'url = "https://github.com/acme/h/blob/main/docs/{path}"\nevery = "30m"\n\n'
        '[[sources]]\nname = "wiki"\ntype = "confluence"\nurl = "https://acme.atlassian.net/wiki"\n'
        'spaces = ["ENG", "OPS"]\nevery = "15m"\n'
    )
    s = load_settings({}, config)
    handbook, wiki = s.sources
    assert handbook.every == 1800 and handbook.path == str(tmp_path / "docs/")
    assert wiki.spaces == ("ENG", "OPS") and wiki.every == 900


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[sources]]\nname = 'a'\npath = 'x'\ncolour = 'red'\n", "sources[0].colour"),
        ("[[sources]]\nname = 'a'\ntype = 'svn'\n", "sources[0].type"),
        ("[[sources]]\nname = 'a'\n", "sources[0].path"),
        ("[[sources]]\nname = 'a'\npath = 'x'\nevery = 'often'\n", "sources[0].every"),
        ("sources = 3\n", "array of tables"),
        ("[sources\nname=", "not valid TOML"),
        ("slack_token = 'x'\n", "unknown top-level key 'slack_token'"),
        ("[[sources]]\nname='w'\ntype='confluence'\nurl='https://x'\n", "sources[0].spaces"),
    ],
)
def test_malformed_config_names_the_bad_key(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "docbot.toml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_settings({}, config)


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"PORT": "eighty"}, "PORT"),
        ({"DOCBOT_SYNC_INTERVAL": "soon"}, "DOCBOT_SYNC_INTERVAL"),
        ({"DOCBOT_EMBEDDER": "magic"}, "DOCBOT_EMBEDDER"),
        ({"DOCBOT_LOG_FORMAT": "xml"}, "DOCBOT_LOG_FORMAT"),
        ({"DOCBOT_MULTILINGUAL_MODEL": "e5"}, "DOCBOT_MULTILINGUAL_MODEL"),
        ({"DOCBOT_RATE_LIMIT_PER_USER": "-1"}, "DOCBOT_RATE_LIMIT_PER_USER"),
        ({"CONFLUENCE_URL": "https://x/wiki"}, "CONFLUENCE_SPACES"),
    ],
)
def test_bad_environment_values_name_the_variable(env: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        load_settings(env)


def test_durations() -> None:
    assert parse_duration("90s", "k") == 90
    assert parse_duration("30m", "k") == 1800
    assert parse_duration("24h", "k") == 86400
    assert parse_duration(45, "k") == 45
    with pytest.raises(ConfigError):
        parse_duration("0s", "k")


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings({}, tmp_path / "nope.toml")


SCOPED = """
[[sources]]
name = "handbook"
path = "docs/"
shareable = true

[[sources]]
name = "wiki"
type = "confluence"
url = "https://acme.atlassian.net/wiki"
spaces = ["ENG", "HR"]
restricted_spaces = ["HR"]

[scopes.default]
sources = ["handbook"]

[scopes.dm]
sources = ["handbook", "wiki"]

[scopes.people]
channels = ["C0PEOPLE1", "G0PRIVATE"]
sources = ["wiki"]
spaces = ["HR"]
labels = ["hr-public"]
include_restricted = true
"""


def test_scopes_and_permission_options(tmp_path: Path) -> None:
    config = tmp_path / "docbot.toml"
    config.write_text(SCOPED, encoding="utf-8")
    settings = load_settings({}, config)
    assert [s.name for s in settings.scopes] == ["default", "dm", "people"]
    people = settings.scope_for_channel("G0PRIVATE")
    assert people is not None and people.spaces == ("HR",) and people.include_restricted
    assert settings.scope_for_channel("C0OTHER") is None
    assert settings.scope("default").sources == ("handbook",)  # type: ignore[union-attr]
    handbook, wiki = settings.sources
    assert handbook.shareable and not wiki.shareable
    assert wiki.options["restricted_spaces"] == ["HR"]


@pytest.mark.parametrize(
    ("scopes", "message"),
    [
        ('[scopes.x]\nsources = ["handbook"]\n', "scopes.x.channels: list the channel ids"),
        ('[scopes.x]\nchannels = ["#general"]\n', "'#general' is not a channel id"),
        ('[scopes.x]\nchannels = ["C0A1"]\n[scopes.y]\nchannels = ["C0A1"]\n', "already in"),
        ('[scopes.x]\nchannels = ["C0A1"]\nsources = ["nope"]\n', "no source named 'nope'"),
        ('[scopes.default]\nchannels = ["C0A1"]\n', "applies without a list"),
        ("[scopes.default]\ninclude_restricted = true\n", "not allowed for 'default'"),
        ("[scopes.api]\ninclude_restricted = true\n", "not allowed for 'api'"),
        ('[scopes.dm]\nwho = "me"\n', "scopes.dm.who: unknown key"),
        ('[scopes.dm]\ninclude_restricted = "yes"\n', "must be true or false"),
        ('[scopes.dm]\nspaces = "HR"\nlabels = [1]\n', "scopes.dm.labels: must be a list"),
        ("scopes = 3\n", "'scopes' must be tables"),
    ],
)
def test_malformed_scopes_name_the_bad_key(tmp_path: Path, scopes: str, message: str) -> None:
    config = tmp_path / "docbot.toml"
    sources = '[[sources]]\nname = "handbook"\npath = "docs/"\n'
    text = scopes + sources if scopes.startswith("scopes =") else sources + scopes
    config.write_text(text, "utf-8")
    with pytest.raises(ConfigError, match=message):
        load_settings({}, config)


def test_malformed_permission_options(tmp_path: Path) -> None:
    config = tmp_path / "docbot.toml"
    config.write_text('[[sources]]\nname = "h"\npath = "d/"\nshareable = "yes"\n', "utf-8")
    with pytest.raises(ConfigError, match=r"sources\[0\].shareable: must be true or false"):
        load_settings({}, config)


# -- citation URL templates are checked at load (issue 11) ----------------------------------

BAD_TEMPLATES = {
    "https://x/{nope}": "unknown placeholder {nope}",
    "https://x/{path.__class__}": "unknown placeholder {path.__class__}",
    "https://x/{path[0]}": "unknown placeholder {path[0]}",
    "https://x/{}": "unknown placeholder {}",
    "https://x/{0}": "unknown placeholder {0}",
    "https://x/{path!r}": "unknown placeholder {path!r}",
    "https://x/{path:>40}": "unknown placeholder {path:>40}",
    "https://x/{path": "is not a valid URL template",
    "https://x/}{path}": "is not a valid URL template",
}


def test_bad_url_templates_are_config_errors_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "docbot.toml"
    for template, message in BAD_TEMPLATES.items():
        with pytest.raises(ConfigError) as env_error:
            load_settings({"DOCBOT_DOCS": "docs", "DOCBOT_DOCS_URL": template})
        assert str(env_error.value).startswith("DOCBOT_DOCS_URL: ") and message in str(
            env_error.value
        )
        for kind, extra in (("markdown", 'path = "docs"'), ("git", 'repo = "https://g/a/b"')):
            config.write_text(
                f'[[sources]]\nname = "h"\ntype = "{kind}"\n{extra}\nurl = "{template}"\n'
            )
            with pytest.raises(ConfigError, match=r"sources\[0\]\.url: ") as toml_error:
                load_settings({}, config)
            assert message in str(toml_error.value) and "\n" not in str(toml_error.value)


def test_good_url_templates_load_and_render_safely(tmp_path: Path) -> None:
    from ingest.sources.markdown import MarkdownSource

    template = "https://docs.acme.io/{{v2}}/{stem}.html?src={path}"
    settings = load_settings({"DOCBOT_DOCS": str(tmp_path), "DOCBOT_DOCS_URL": template})
    assert settings.sources[0].url == template
    (tmp_path / "How to #1.md").write_text("# H\n")
    (doc,) = MarkdownSource("docs", tmp_path, url_template=template).scan().documents
    assert doc.url == "https://docs.acme.io/{v2}/How%20to%20%231.html?src=How%20to%20%231.md"
    with pytest.raises(ConfigError, match=r"source 'docs'\.url: unknown placeholder"):
        MarkdownSource("docs", tmp_path, url_template="https://x/{path.__class__}")


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"DOCBOT_HOST": "my host"}, "DOCBOT_HOST"),
        ({"DOCBOT_TRUSTED_PROXIES": "10.0.0.0/8, proxy.local"}, "DOCBOT_TRUSTED_PROXIES"),
        ({"DOCBOT_ANSWER_WORKERS": "0"}, "DOCBOT_ANSWER_WORKERS"),
        ({"DOCBOT_API_QUEUE": "-1"}, "DOCBOT_API_QUEUE"),
        ({"DOCBOT_SLACK_ACK_THREADS": "many"}, "DOCBOT_SLACK_ACK_THREADS"),
    ],
)
def test_bad_serving_settings_name_the_key(env: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        load_settings(env)


def test_serving_settings_are_read() -> None:
    s = load_settings({
        "DOCBOT_HOST": "::1", "DOCBOT_TRUSTED_PROXIES": "10.0.0.1, 192.168.0.0/16",
        "DOCBOT_SLACK_ACK_THREADS": "4", "DOCBOT_SLACK_REPLY_THREADS": "3",
        "DOCBOT_ANSWER_WORKERS": "2", "DOCBOT_ANSWER_QUEUE": "0",
        "DOCBOT_API_WORKERS": "1", "DOCBOT_API_QUEUE": "5",
    })  # fmt: skip
    assert s.host == "::1" and s.trusted_proxies == ("10.0.0.1/32", "192.168.0.0/16")
    assert (s.slack_ack_threads, s.slack_reply_threads) == (4, 3)
    assert (s.answer_workers, s.answer_queue, s.api_workers, s.api_queue) == (2, 0, 1, 5)
