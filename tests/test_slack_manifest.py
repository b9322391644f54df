"""manifest.yaml creates the app docbot's code expects: every event it handles is
subscribed, /ask exists, scopes are only what the features need, and the fields fit
Slack's manifest schema limits; the Procfile runs both modes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.conftest import REPO

# What the code uses, and why (keep in step with bot/slack/).
SCOPES = {
    "app_mentions:read",  # app_mention
    "chat:write",  # post / update / delete / ephemeral / stream / status
    "commands",  # /ask
    "im:history",  # message.im + conversations.replies in DMs
    "channels:history",  # message.channels + replies in public channels
    "groups:history",  # message.groups + replies in private channels
    "assistant:write",  # assistant threads: prompts, status, events
    "users:read",  # users.info (the asker's email, private answers only)
    "users:read.email",
    "channels:read",  # conversations.info: is /ask's channel shared (Slack Connect)?
    "groups:read",
    "im:read",
    "mpim:read",
}
EVENTS = {
    "app_mention",
    "message.im",
    "message.channels",
    "message.groups",
    "assistant_thread_started",
    "assistant_thread_context_changed",
    "app_home_opened",  # the Home tab's health summary
}


def _manifest() -> dict[str, Any]:
    data = yaml.safe_load((REPO / "manifest.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_scopes_and_events_are_exactly_what_docbot_uses() -> None:
    manifest = _manifest()
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == SCOPES
    assert set(manifest["settings"]["event_subscriptions"]["bot_events"]) == EVENTS
    assert "user" not in manifest["oauth_config"]["scopes"]  # no user token needed


def test_features_for_ask_dms_and_assistant_threads() -> None:
    manifest = _manifest()
    features, settings = manifest["features"], manifest["settings"]
    (ask,) = features["slash_commands"]
    assert ask["command"] == "/ask" and ask["usage_hint"]
    assert features["bot_user"]["display_name"] == "docbot"
    assert features["app_home"]["messages_tab_enabled"] is True
    assert features["app_home"]["home_tab_enabled"] is True  # the health summary
    assert features["app_home"]["messages_tab_read_only_enabled"] is False
    assert features["assistant_view"]["assistant_description"]  # required by assistant:write
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["socket_mode_enabled"] is True


def test_fields_fit_slacks_manifest_limits() -> None:
    info = _manifest()["display_information"]
    assert 1 <= len(info["name"]) <= 35
    assert 1 <= len(info["description"]) <= 140
    assert 175 <= len(info["long_description"]) <= 4000


def test_procfile_runs_http_and_socket_mode() -> None:
    lines = dict(
        line.split(":", 1) for line in Path(REPO / "Procfile").read_text().splitlines() if line
    )
    assert lines["web"].strip() == "docbot serve --http --port $PORT"
    assert lines["worker"].strip() == "docbot serve"
