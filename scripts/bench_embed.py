"""Indexing speed of the local embedder, old pipeline against new, in one run.

    python scripts/bench_embed.py [DOCS_DIR] [--chunks N] [--rounds R] [--json]
        [--model DIR] [--ref FP32_DIR]

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

- ``old``: the pipeline before this change, frozen here (batches of 32 by character
  length within sync's groups of 128, no spinning);
- ``spin``: the same with onnxruntime's intra-op spinning allowed;
- ``tokens``: ``LocalEmbedder.embed``'s token-length batches under a padded-token
  budget, one model run at a time on 2 threads as before, sync groups of 128;
- ``groups``: the same with sync's current ``EMBED_BATCH_CHUNKS``;
- ``new``: the shipped default: the same with one single-threaded model run per
  core at once (``LocalEmbedder()``);
- one more per ``--model DIR`` (named after the folder): the same with that model
  (e.g. another export made by scripts/build_local_model.py).

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

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ingest.chunking import split_markdown  # noqa: E402
from ingest.embedding import DEFAULT_LOCAL_MODEL, MODELS_DIR, LocalEmbedder  # noqa: E402
from ingest.indexing import EMBED_BATCH_CHUNKS  # noqa: E402
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
        "tokens": in_groups(LocalEmbedder(shipped, threads=2, workers=1).embed, OLD_GROUP),
        "groups": in_groups(LocalEmbedder(shipped, threads=2, workers=1).embed, EMBED_BATCH_CHUNKS),
        "new": in_groups(LocalEmbedder(shipped).embed, EMBED_BATCH_CHUNKS),
    }
    for model_dir in args.model:
        variants[model_dir.name] = in_groups(LocalEmbedder(model_dir).embed, EMBED_BATCH_CHUNKS)

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
    old_rate = len(texts) / statistics.median(seconds["old"])
    rows = {}
    for name in variants:
        rate = len(texts) / statistics.median(seconds[name])
        cos = np.sum(vectors[name] * vectors["old"], axis=1)
        rows[name] = {
            "chunks_per_second": round(rate, 1),
            "ratio_to_old": round(rate / old_rate, 2),
            "cosine_to_old_mean": round(float(cos.mean()), 5),
            "cosine_to_old_min": round(float(cos.min()), 5),
            "cpu_seconds_per_1000": round(1000 * statistics.median(cpu[name]) / len(texts), 1),
            "seconds": [round(s, 2) for s in seconds[name]],
        }
        if ref is not None:
            to_ref = np.sum(vectors[name] * ref, axis=1)
            rows[name]["cosine_to_fp32_mean"] = round(float(to_ref.mean()), 5)
            rows[name]["cosine_to_fp32_min"] = round(float(to_ref.min()), 5)
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
            f"{'variant':8} {'chunks/s':>9} {'ratio':>6} {'cos mean':>9} {'cos min':>8} "
            f"{'cpu s/1000':>10}"
        )
        for name, row in rows.items():
            print(
                f"{name:8} {row['chunks_per_second']:9.1f} {row['ratio_to_old']:6.2f} "
                f"{row['cosine_to_old_mean']:9.5f} {row['cosine_to_old_min']:8.5f} "
                f"{row['cpu_seconds_per_1000']:10.1f}"
                + (
                    f"  fp32 cos {row['cosine_to_fp32_mean']:.5f} / {row['cosine_to_fp32_min']:.5f}"
                    if ref is not None
                    else ""
                )
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
