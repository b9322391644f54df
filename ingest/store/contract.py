"""The store contract: every store method used outside ``ingest/store/``.

Everything above the store (sync, rebuild, retrieval, the bot's records and answer
cache, status, eval) reaches the database only through these methods, so a second
backend is one class that satisfies :class:`StoreContract` (``tests/test_store_contract.py``
runs the same checks against each backend). Nothing here says SQL: arguments and
results are plain values or the small dataclasses of ``ingest.models``,
``ingest.store.history``, ``ingest.store.generations`` and ``ingest.store.rows``.

What every backend must guarantee, beyond each method's docstring:

- **Atomic writes.** ``replace_document`` and ``delete_documents`` are all-or-nothing;
  a reader sees a document fully old or fully new, never half-replaced. ``switch_build``
  makes a rebuilt generation live in one transaction.
- **Across processes.** Several processes (a ``docbot sync`` beside ``docbot serve``,
  or several replicas on one database) may share a store: ``claim_events`` is atomic
  (of callers racing for one key exactly one gets True), ``source_lock`` excludes every
  other holder of that source's lock in any process and is released when its holder
  dies, and each write is visible to other processes once it returns.
- **Deterministic rankings.** The same query against the same stored state returns
  the same (id, score) list in the same order, best first (a backend whose order of
  equal scores could vary between runs breaks ties itself, e.g. by chunk id).
- **Times.** Record and cache times are ISO-8601 UTC strings (as ``bot/records.py``
  writes them); ``since``/``expire_before`` compare against them as text does.
- **Threads.** One store object is shared by every thread of a process; each
  method may be called from any thread.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ingest.models import Chunk, Hit, StoredDocument
from ingest.store.codes import VectorCodes
from ingest.store.generations import BuildState, BuiltSource, IndexWriter
from ingest.store.history import DocumentChange, SyncRun
from ingest.store.rows import CachedAnswer, CitedChunk, FeedbackRecord, NearChunk
from ingest.store.scope import Scope
from ingest.store.vector_plan import VectorPlan


class StoreContract(IndexWriter, Protocol):
    """A docbot store: the live index (as an :class:`IndexWriter`), search, rebuilds,
    sync history, locks, the bot's records and the answer cache."""

    # --- identity and lifecycle ---------------------------------------------------

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"postgres"`` (shown by ``docbot status``)."""
        ...

    @property
    def location(self) -> str:
        """Where the data lives, fit to show: a file path, or a URL without its password."""
        ...

    def close(self) -> None:
        """Release this thread's connection (the store stays usable; it reconnects)."""
        ...

    def get_meta(self, key: str) -> str | None:
        """A value of the store's key/value metadata (e.g. ``chunking:<source>``)."""
        ...

    def set_meta(self, key: str, value: str) -> None: ...

    def stats(self) -> dict[str, Any]:
        """``documents``, ``chunks``, ``bytes`` (on disk), ``documents_per_source``,
        ``embed_model``, ``embed_dim``: the ``index`` part of ``docbot status``."""
        ...

    def has_restricted(self) -> bool:
        """Whether any stored document is readable only by some people."""
        ...

    # --- search (read side) ---------------------------------------------------------

    def fts_search(
        self,
        match: str,
        limit: int,
        weights: tuple[float, float, float] = ...,
        *,
        scope: Scope | None = None,
    ) -> list[tuple[int, float]]:
        """(chunk id, score; higher is better) of the best lexical matches of ``match``
        (an expression built by ``bot.retrieve.fts_query``: quoted terms joined by OR),
        title/heading/body weighted by ``weights``, only inside ``scope``. Never raises
        for any text a user can type (the caller quotes it)."""
        ...

    def cjk_search(
        self, match: str, limit: int, *, scope: Scope | None = None
    ) -> list[tuple[int, float]]:
        """As :meth:`fts_search`, over character n-grams of Chinese/Japanese/Korean text."""
        ...

    def vector_search(
        self, vector: np.ndarray, limit: int, *, exact: bool = False
    ) -> list[tuple[int, float]]:
        """(chunk id, cosine similarity) of the ``limit`` nearest chunks, best first;
        ``exact`` asks for exhaustive search (benchmarks compare against it)."""
        ...

    def index_search(
        self, vector: np.ndarray, limit: int, *, scope: Scope | None = None
    ) -> tuple[list[int], np.ndarray]:
        """The ``limit`` nearest chunks inside ``scope``, nearest first, with their
        vectors: what retrieval asks a store whose ``vector_plan().indexed`` is true
        (PostgreSQL's HNSW); the SQLite store answers it from its coarse pass."""
        ...

    def vectors(self, chunk_ids: Sequence[int]) -> tuple[list[int], np.ndarray]:
        """The stored vectors of those chunks that exist: (ids, float32 rows)."""
        ...

    def vector_matrix(self) -> tuple[np.ndarray, np.ndarray]:
        """(all chunk ids, all vectors): an exact in-memory pass for small stores."""
        ...

    def vector_codes(self) -> VectorCodes:
        """Binary codes of every vector for the coarse pass (``ingest/store/codes.py``)."""
        ...

    def scope_mask(self, codes: VectorCodes, scope: Scope | None) -> np.ndarray | None:
        """Which rows of ``codes`` lie inside ``scope`` (None: every row)."""
        ...

    def vector_plan(self) -> VectorPlan:
        """How vectors are searched at this size, and the last measured coarse recall."""
        ...

    def refresh_vector_plan(self) -> VectorPlan:
        """Measure the coarse pass's recall again (after a sync) and keep the plan."""
        ...

    def load_hits(self, scored: Sequence[tuple[int, float]]) -> list[Hit]:
        """The chunks of ``scored`` with their documents, in the given order; ids no
        longer stored are left out."""
        ...

    # --- corpus statistics (the abstention gate, health, eval) ----------------------

    def has_chunks(self) -> bool: ...

    def chunk_count(self) -> int: ...

    def document_count(self) -> int: ...

    def recent_titles(self, limit: int) -> list[str]:
        """Titles of documents everyone may read, most recently updated first (a
        restricted title is never returned)."""
        ...

    def term_frequencies(
        self, terms: Sequence[str], among: Sequence[int]
    ) -> tuple[dict[str, int], dict[int, set[str]]]:
        """({term: how many live chunks hold it}, {chunk id in ``among``: the terms it
        holds}), matched with the lexical search's own stemming; a term of several words
        is matched as one phrase."""
        ...

    def texts_holding(self, texts: Sequence[str], terms: Sequence[str]) -> dict[str, set[int]]:
        """{term: indexes of ``texts`` holding it}, with the lexical search's stemming;
        the stored index is not touched."""
        ...

    def previous_chunk_text(self, chunk_id: int) -> str | None:
        """The text of the chunk before ``chunk_id`` in its document (None: first or gone)."""
        ...

    def chunks_around(self, chunk_id: int, before: int, after: int) -> list[NearChunk]:
        """The chunks of ``chunk_id``'s document from ``before`` chunks ahead of it to
        ``after`` chunks past it, itself included, in document order (empty: gone)."""
        ...

    # --- rebuilds (``ingest/store/generations.py``) -----------------------------------

    def build_state(self) -> BuildState | None: ...

    def begin_build(self, model_id: str) -> tuple[IndexWriter, bool]:
        """The generation to rebuild into, and whether it resumes a killed rebuild."""
        ...

    def switch_build(self, built: Mapping[str, BuiltSource]) -> None:
        """Make the built generation live in one transaction."""
        ...

    def drop_retired(self) -> None:
        """Drop a generation a switch retired (left behind if a process died)."""
        ...

    # --- sync history ---------------------------------------------------------------

    def get_cursor(self, source: str) -> str | None: ...

    def start_run(self, source: str, kind: str = "sync") -> int:
        """Record a run as started; runs of ``source`` still ``running`` become
        ``interrupted`` (the caller holds the source lock, so their process died)."""
        ...

    def update_run_progress(self, run_id: int, progress: dict[str, Any]) -> None: ...

    def mark_interrupted(self, run_id: int, reason: str) -> None: ...

    def finish_run(
        self,
        run_id: int,
        *,
        status: str,
        counts: dict[str, int],
        seconds: float,
        error: str | None = None,
        failures: Sequence[tuple[str, str]] = (),
        cursor: str | None = None,
        reason: str | None = None,
        changes: Sequence[DocumentChange] = (),
        install_cursor: bool = True,
    ) -> None: ...

    def last_runs(self) -> dict[str, SyncRun]: ...

    def recent_runs(
        self, source: str, limit: int = 5, *, changes: bool = True
    ) -> list[SyncRun]: ...

    def running_runs(self) -> list[SyncRun]: ...

    def last_success(self, source: str) -> datetime | None: ...

    def source_generations(self) -> dict[str, int]:
        """{source: a number that grows with every change to its documents}."""
        ...

    def incomplete_sources(self) -> set[str]: ...

    # --- locks ----------------------------------------------------------------------

    def source_lock(self, source: str, *, timeout: float = 0.0) -> AbstractContextManager[None]:
        """Hold ``source``'s sync lock for the ``with`` block: excludes every other
        holder in this or any process; raises ``ingest.locks.SourceBusy`` (naming the
        holder when known) after ``timeout`` seconds; released if the holder dies."""
        ...

    def source_locks(self, sources: Sequence[str]) -> AbstractContextManager[None]:
        """Hold several sources' locks, or raise ``SourceBusy`` holding none."""
        ...

    def lock_held(self, source: str) -> bool | None:
        """Whether anyone holds ``source``'s lock now; None when that cannot be told."""
        ...

    # --- the bot's records ------------------------------------------------------------

    def claim_events(self, keys: Sequence[str], received_at: str, expire_before: str) -> bool:
        """Claim all ``keys`` or none, atomically across processes: False when any was
        claimed before. Claims older than ``expire_before`` may be forgotten."""
        ...

    def remember_thread(self, channel: str, thread_ts: str, kind: str, created_at: str) -> None:
        """Note a thread docbot answers in; one already noted keeps its first kind."""
        ...

    def thread_kind(self, channel: str, thread_ts: str) -> str | None: ...

    def save_answer(self, answer: Mapping[str, Any]) -> None:
        """Insert or replace the answer row ``answer["id"]`` (``rows.ANSWER_FIELDS``)."""
        ...

    def get_answer(self, answer_id: str) -> dict[str, Any] | None:
        """The row as saved (every ``ANSWER_FIELDS`` key; ``timings`` a dict)."""
        ...

    def answers_since(self, since: str, outcomes: Sequence[str]) -> list[dict[str, Any]]:
        """Rows created at or after ``since`` with one of ``outcomes``, oldest first."""
        ...

    def outcome_counts(self, since: str) -> dict[tuple[str, str], int]:
        """{(surface, outcome): count} of rows created at or after ``since``."""
        ...

    def save_feedback(
        self, record: FeedbackRecord, *, channel: str | None, message_ts: str | None
    ) -> None:
        """Keep a vote; a user's later vote on the same answer replaces the earlier."""
        ...

    def votes_since(self, since: str) -> list[tuple[FeedbackRecord, str | None]]:
        """Votes at or after ``since`` with their answer's surface, newest first."""
        ...

    # --- the answer cache -----------------------------------------------------------

    def cache_get(self, key: str) -> CachedAnswer | None: ...

    def cache_hit(self, key: str, at: str, *, stamp: str | None = None) -> None:
        """Count a hit at ``at`` (least recently used goes first), setting ``stamp`` if given."""
        ...

    def cache_drop(self, key: str) -> None: ...

    def cache_sources_unchanged(self, key: str) -> bool:
        """True when the entry cited chunks and every one is still stored with the same
        id, content hash, page URL, title and access."""
        ...

    def cited_chunks(self, chunk_ids: Sequence[int]) -> dict[int, CitedChunk]:
        """The chunks of ``chunk_ids`` still stored, as an entry would depend on them."""
        ...

    def cache_put(
        self,
        key: str,
        entry: CachedAnswer,
        *,
        question: str,
        mode: str,
        model: str | None,
        cited: Sequence[CitedChunk],
        expire_before: str,
        max_entries: int,
    ) -> None:
        """Replace entry ``key`` and its cited chunks, then drop entries created before
        ``expire_before`` and the least recently used beyond ``max_entries``: one
        transaction."""
        ...

    def cache_purge(self, expire_before: str, max_entries: int) -> int:
        """Drop entries whose cited chunks changed, expired ones and the excess; how many."""
        ...

    def cache_entries(self) -> int: ...


class ExportableStore(StoreContract, Protocol):
    """A store that can be read out whole, for ``docbot migrate`` (``ingest/migrate.py``):
    what the contract's own read methods do not give back as it was stored. The SQLite
    store provides it; a target only needs :class:`StoreContract`'s write methods."""

    def source_names(self) -> list[str]:
        """Every source the store knows: with documents, or with a cursor or runs."""
        ...

    def export_documents(
        self, source: str
    ) -> Iterator[tuple[StoredDocument, list[Chunk], list[bytes]]]:
        """Each live document of ``source`` as stored, with its chunks in order and each
        chunk's stored vector (float32 bytes, as ``replace_document`` takes them): the
        vectors come back as they are, never re-embedded. Streams, one document at a time."""
        ...

    def export_threads(self) -> list[tuple[str, str, str, str]]:
        """Every thread docbot answers in: (channel, thread_ts, kind, created_at)."""
        ...

    def export_feedback(self) -> list[tuple[FeedbackRecord, str | None, str | None]]:
        """Every vote with the channel and message it was cast on, oldest first."""
        ...


@runtime_checkable
class MultilingualVectors(Protocol):
    """A store that keeps the second, multilingual vector set beside the English one
    (``ingest/multilingual.py``), keyed by chunk content hash under its own model id, so
    the two models' vectors never mix. The SQLite store provides it; the PostgreSQL one
    does not yet, and docbot then runs without the multilingual model
    (``Docbot.multilingual_embedder``) rather than failing."""

    @property
    def multilingual_model(self) -> str | None:
        """The model the multilingual vectors came from (None: none yet)."""
        ...

    def bind_multilingual(self, model_id: str, dim: int) -> None:
        """Record the model; refuse vectors of another one."""
        ...

    def reset_multilingual(self) -> None:
        """Drop every multilingual vector and forget their model."""
        ...

    def chunks_missing_multilingual(self, limit: int) -> dict[str, str]:
        """Up to ``limit`` live chunk texts with no multilingual vector: sha -> text."""
        ...

    def add_multilingual_vectors(
        self, model_id: str, vectors: Mapping[str, tuple[bytes, str]]
    ) -> None:
        """Store float32 vectors by content hash, each with its chunk's language."""
        ...

    def prune_multilingual(self) -> int:
        """Drop vectors whose text no chunk holds any more; how many."""
        ...

    def release_log_space(self) -> None:
        """Give back the space a bulk write took (a backend may do nothing)."""
        ...

    def multilingual_coverage(self) -> tuple[int, int]:
        """(live chunks with a multilingual vector, live chunks)."""
        ...

    def multilingual_matrix(self, other_than: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(live chunk ids ascending, their multilingual vectors), optionally only the
        chunks not in the language ``other_than``."""
        ...

    def term_counts_in_language(
        self, table: str, terms: Sequence[str], lang: str
    ) -> tuple[int, int, dict[str, tuple[int, int]]]:
        """(live chunks, live chunks in ``lang``, term -> (chunks holding it, chunks in
        ``lang`` holding it)) in the keyword index ``table`` (``chunks_fts``, or
        ``chunks_cjk`` for CJK bigrams)."""
        ...
