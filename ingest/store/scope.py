"""Which documents a search may return: the permission and channel-scope filter.

Every store backend applies a :class:`Scope` inside its searches (lexical and vector),
not to their results, so a narrow scope still gets its best passages rather than
what is left of a global top 50. The bot builds scopes from ``docbot.toml`` and from
who will see the answer (``bot/access.py``); ``ingest`` only knows the value.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Scope:
    """A filter over documents; ``None`` fields do not filter.

    - ``sources``: only documents of these sources;
    - ``spaces``: of documents that belong to a space (Confluence), only these spaces;
    - ``labels``: only documents carrying at least one of these labels (tags);
    - ``reader``: restricted documents are kept only when this email is one of their
      readers; without a reader, only public documents are kept, unless
      ``all_restricted`` (the operator's own ``docbot search``) keeps them all.
    """

    sources: frozenset[str] | None = None
    spaces: frozenset[str] | None = None
    labels: frozenset[str] | None = None
    reader: str | None = None
    all_restricted: bool = False

    @classmethod
    def everything(cls) -> Scope:
        return cls(all_restricted=True)

    @property
    def filters_nothing(self) -> bool:
        return (
            self.sources is None
            and self.spaces is None
            and self.labels is None
            and self.all_restricted
        )

    @property
    def key(self) -> str:
        """A stable fingerprint: part of answer-cache keys and of cached vector masks."""
        data = [
            sorted(self.sources) if self.sources is not None else None,
            sorted(self.spaces) if self.spaces is not None else None,
            sorted(self.labels) if self.labels is not None else None,
            (self.reader or "").lower(),
            self.all_restricted,
        ]
        return hashlib.sha256(json.dumps(data).encode()).hexdigest()[:16]
