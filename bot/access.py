"""Who will see an answer, and so which documents it may come from.

Every surface describes its :class:`Audience` (where the answer is posted, who asked,
whether the channel is shared with another organisation) and gets a :class:`Decision`:
the :class:`~ingest.store.scope.Scope` retrieval, the answer cache and the closest-pages
list are all confined to, or a polite refusal.

The rules, safe by default:

- **A page not everyone may read is never shown where someone who may not read it
  could see it.** Channels (mentions, follow-ups, ``/ask``), the JSON API and
  ``docbot ask`` see public pages only. In a DM or the assistant panel, where only the
  asker reads the answer, restricted pages are added for an asker Slack knows by an
  email that is among their readers. A channel scope with ``include_restricted`` is
  the one exception: its admin vouches that everyone there may read them.
- **Scopes from docbot.toml** (``[scopes.NAME]``) choose the sources, spaces and labels
  a place answers from: a channel listed in a scope gets that scope, DMs and the
  assistant panel ``dm``, the API ``api``, everything else ``default``; a place without
  a configured scope gets every source.
- **Channels shared with other organisations** (Slack Connect) get only sources marked
  ``shareable = true``, never restricted pages, or a polite refusal when none is left.
"""

from __future__ import annotations

from dataclasses import dataclass

from ingest.settings import ScopeConfig, Settings
from ingest.store.scope import Scope

PRIVATE_SURFACES = frozenset({"dm", "assistant"})
"""Where only the asker reads the answer."""

NOT_SHAREABLE = (
    "This channel is shared with another organisation, so I can only answer here from "
    "docs marked as shareable, and none are. Ask me in a DM or an internal channel."
)


@dataclass(frozen=True)
class Audience:
    """Who will see an answer."""

    surface: str  # mention | thread | slash | dm | assistant | api | cli
    channel: str | None = None
    email: str | None = None
    """The asker's email (Slack's profile), used only where the answer is private."""
    shared: bool = False
    """The channel is shared with another organisation (Slack Connect)."""

    @property
    def private(self) -> bool:
        return self.surface in PRIVATE_SURFACES


@dataclass(frozen=True)
class Decision:
    """What an audience may be answered from."""

    scope: Scope
    name: str
    """The docbot.toml scope that applied (``default`` when none is configured)."""
    refusal: str | None = None
    """Set when nothing may be answered here: say this instead."""


def _configured(settings: Settings, audience: Audience) -> ScopeConfig | None:
    if audience.private:
        return settings.scope("dm") or settings.scope("default")
    if audience.surface == "api":
        return settings.scope("api") or settings.scope("default")
    return settings.scope_for_channel(audience.channel) or settings.scope("default")


def decide(settings: Settings, audience: Audience) -> Decision:
    """The scope for ``audience`` (see the module docstring for the rules)."""
    config = _configured(settings, audience)
    name = config.name if config else "default"
    sources = frozenset(config.sources) if config and config.sources is not None else None
    if audience.shared:
        shareable = frozenset(s.name for s in settings.sources if s.shareable)
        sources = shareable if sources is None else sources & shareable
        if not sources:
            return Decision(Scope(sources=frozenset()), name, refusal=NOT_SHAREABLE)
    vouched = bool(config and config.include_restricted) and not audience.shared
    scope = Scope(
        sources=sources,
        spaces=frozenset(config.spaces) if config and config.spaces is not None else None,
        labels=frozenset(config.labels) if config and config.labels is not None else None,
        reader=audience.email.lower() if audience.private and audience.email else None,
        all_restricted=vouched,
    )
    return Decision(scope, name)
