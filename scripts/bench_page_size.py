"""What one large Confluence page costs to sync, by the size of its storage body.

    python scripts/bench_page_size.py [--sizes 0.5 1 2 5] [--embed]

For each size (MB of storage-format XHTML: headings, formatted paragraphs, links,
lists and tables, repeated), a fresh process converts the page to Markdown and chunks
it (with ``--embed``, also embeds the chunks with the bundled local model), and
reports seconds per step, the Markdown size, the chunk count and the peak resident
memory. This is what chose ``MAX_PAGE_BYTES`` in ``ingest/sources/confluence/pages.py``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BLOCK = (
    "<h2>Section</h2><p>Some <strong>bold</strong> text with a "
    "<a href='https://x.example/a'>link</a> and more words here to fill the line.</p>"
    "<ul><li>item one</li><li>item two</li></ul><table><tbody><tr><th>a</th><th>b</th>"
    "</tr><tr><td>1</td><td>2</td></tr></tbody></table>"
)


def measure(megabytes: float, embed: bool) -> dict[str, float]:
    """Runs in the child process: one page of ``megabytes`` through the sync steps."""
    sys.path.insert(0, str(REPO))
    from ingest.chunking import split_markdown
    from ingest.convert import storage_to_markdown
    from ingest.embedding import make_embedder
    from ingest.models import Document

    xhtml = BLOCK * int(megabytes * 1_000_000 / len(BLOCK))
    started = time.perf_counter()
    markdown = storage_to_markdown(xhtml)
    converted = time.perf_counter()
    doc = Document(source="bench", doc_id="1", title="Big", url="https://x/1", body=markdown)
    chunks = split_markdown(doc)
    chunked = time.perf_counter()
    result = {
        "storage_mb": round(len(xhtml.encode()) / 1e6, 2),
        "markdown_mb": round(len(markdown.encode()) / 1e6, 2),
        "chunks": len(chunks),
        "convert_s": round(converted - started, 2),
        "chunk_s": round(chunked - converted, 2),
    }
    if embed:
        make_embedder("local").embed([c.embed_text for c in chunks])
        result["embed_s"] = round(time.perf_counter() - chunked, 2)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[0.5, 1, 2, 5])
    parser.add_argument("--embed", action="store_true", help="also embed the chunks")
    parser.add_argument("--child", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(measure(args.child, args.embed)))
        return
    for size in args.sizes:
        command = [sys.executable, __file__, "--child", str(size)] + (["--embed"] * args.embed)
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        print(done.stdout.strip(), flush=True)


if __name__ == "__main__":
    main()
