"""The one composition function: settings in, wired components out.

The CLI, the Slack app and the HTTP API all get their store, embedder, retriever
and answerer from :func:`build`, so ``docbot ask`` and a Slack mention run the
same code with the same configuration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from bot.answer import Answerer
from bot.llm import LLM, OpenAIChat
from bot.retrieve import Retriever
from ingest.embedding import Embedder, make_embedder
from ingest.settings import Settings
from ingest.sources import Source, build_source
from ingest.store import Store
from ingest.sync import Progress, SyncReport, sync_source


@dataclass
class Docbot:
    """Everything a surface (CLI, Slack, API) needs, built lazily from settings."""

    settings: Settings
    _embedder: Embedder | None = field(default=None, repr=False)
    _llm: LLM | None = field(default=None, repr=False)

    @cached_property
    def store(self) -> Store:
        return Store(self.settings.db_path)

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            s = self.settings
            self._embedder = make_embedder(
                s.embedder, s.embed_model, api_key=s.openai_api_key, base_url=s.openai_base_url
            )
        return self._embedder

    @property
    def llm(self) -> LLM | None:
        if self._llm is None and self.settings.llm_enabled:
            s = self.settings
            assert s.openai_api_key is not None
            self._llm = OpenAIChat(
                s.chat_model, api_key=s.openai_api_key, base_url=s.openai_base_url
            )
        return self._llm

    @cached_property
    def retriever(self) -> Retriever:
        return Retriever(self.store, self.embedder)

    @cached_property
    def answerer(self) -> Answerer:
        return Answerer(self.retriever, self.llm, context_tokens=self.settings.context_tokens)

    def sources(self, name: str | None = None) -> list[Source]:
        configs = [self.settings.source(name)] if name else list(self.settings.sources)
        return [build_source(config, self.settings) for config in configs]

    def sync(
        self,
        name: str | None = None,
        *,
        full: bool = False,
        progress: Progress | None = None,
    ) -> list[SyncReport]:
        """Sync one or every configured source; a failing source does not stop the rest."""
        reports = []
        for config in [self.settings.source(name)] if name else self.settings.sources:
            try:
                source = build_source(config, self.settings)
            except Exception as exc:  # reported per source, like a failed run
                reports.append(SyncReport(source=config.name, error=str(exc)))
                continue
            reports.append(
                sync_source(self.store, source, self.embedder, full=full, progress=progress)
            )
        return reports


def build(
    settings: Settings, *, embedder: Embedder | None = None, llm: LLM | None = None
) -> Docbot:
    """Wire docbot from settings; tests may pass their own embedder or LLM."""
    return Docbot(settings, _embedder=embedder, _llm=llm)
