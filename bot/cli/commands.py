"""What each ``docbot`` subcommand does; ``bot/cli.py`` parses and dispatches.

Output is for people by default (a progress bar on a terminal, tables, links)
and for programs with ``--json`` (the shapes in DESIGN.md's interface contract).
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bot.access import Audience
from bot.app import Docbot
from bot.cli.output import EXIT_FAILED, EXIT_OK, print_json
from bot.cli.progress import TerminalProgress
from ingest.errors import ConfigError, InputError

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


STATUS_STYLE = {
    "ok": "[green]ok[/]",
    "partial": "[yellow]partial[/]",
    "held": "[red]held[/]",
    "failed": "[red]failed[/]",
    "skipped": "[cyan]skipped[/]",
}


def sync(args: argparse.Namespace, app: Docbot) -> int:
    if not app.settings.sources:
        raise ConfigError(
            "no sources configured: set DOCBOT_DOCS to a folder of Markdown files, "
            "or list [[sources]] in docbot.toml"
        )
    if args.rebuild and args.source:
        raise ConfigError(
            "--rebuild rebuilds every configured source together (the new index goes live "
            "only once it is complete); run `docbot sync --rebuild` without --source"
        )
    reports = app.sync(
        args.source,
        full=args.full,
        rebuild=args.rebuild,
        allow_mass_delete=args.allow_mass_delete,
        progress=TerminalProgress(),
    )
    if args.json:
        print_json([r.as_dict() for r in reports])
    else:
        table = Table(title="docbot rebuild" if args.rebuild else "docbot sync")
        columns = ("source", "added", "updated", "deleted", "unchanged", "chunks embedded",
                   "seconds", "status")  # fmt: skip
        for column in columns:
            table.add_column(column, justify="left" if column in ("source", "status") else "right")
        for r in reports:
            table.add_row(
                r.source, str(r.added), str(r.updated), str(r.deleted), str(r.unchanged),
                str(r.chunks_embedded), f"{r.seconds:.1f}", STATUS_STYLE[r.status],
            )  # fmt: skip
        out.print(table)
        for r in reports:
            if r.reason:
                colour = {"skipped": "cyan", "held": "red", "failed": "red"}[r.status]
                err.print(
                    f"[{colour}]docbot: source {r.source!r} {r.status}:[/] {r.reason}",
                    highlight=False,
                )
            for doc_id, reason in r.failures:
                err.print(
                    f"[yellow]docbot: {r.source}: skipped {doc_id}:[/] {reason}", highlight=False
                )
            for path, reason in r.refused:
                err.print(  # file names are the repository's: never rich markup
                    f"[yellow]docbot: {r.source}: not read {escape(path)}:[/] {escape(reason)}",
                    highlight=False,
                )
    return EXIT_FAILED if any(r.needs_attention for r in reports) else EXIT_OK


def ask(args: argparse.Namespace, app: Docbot) -> int:
    """Answer like the bot, and record the question like every other surface does
    (surface ``cli``), so ``docbot status`` and ``docbot feedback`` count it."""
    from bot.records import AnswerRecord, error_kind, new_answer_id

    started = time.perf_counter()
    record = AnswerRecord(id=new_answer_id(), surface="cli", question=args.question)
    stream = None
    try:
        # The answer a channel without a scope of its own would get: public pages only.
        stream = app.answerer.ask(args.question, scope=app.decide(Audience("cli")).scope)
        if args.json:
            answer = stream.answer
            record.fill(answer)
            print_json(answer.as_json())
            return EXIT_OK
        for piece in stream:
            out.print(piece, end="", markup=False, highlight=False)
        answer = stream.answer
        record.fill(answer)
        out.print()
        if answer.cited_sources and not answer.abstained:
            out.print("\nSources:", style="bold")
            for n, hit in answer.cited_sources:
                out.print(f"  [{n}] {hit.section} — {hit.link}", markup=False, highlight=False)
        return EXIT_OK
    except Exception as exc:
        record.outcome, record.error = "failed", error_kind(exc)
        if stream is not None:
            record.note_attempt(stream.partial)
        raise
    finally:
        record.latency_ms = round((time.perf_counter() - started) * 1000, 1)
        app.observer.finish_question(record)


def search(args: argparse.Namespace, app: Docbot) -> int:
    if args.k < 1:
        raise ConfigError("-k must be at least 1")
    from bot.answer import clean_question

    result = app.retriever.search(clean_question(args.query), k=args.k, per_document=args.k)
    if args.json:
        print_json(
            {
                "query": args.query,
                "results": [
                    {
                        "rank": i,
                        "score": round(h.score, 4),
                        "dense": round(h.scores.get("dense", 0.0), 4),
                        "bm25": round(h.scores.get("bm25", 0.0), 4),
                        "title": h.title,
                        "section": h.section,
                        "url": h.link,
                        "source": h.source,
                        "text": h.text,
                    }
                    for i, h in enumerate(result.hits, start=1)
                ],
                "timings_ms": {k: round(v, 2) for k, v in result.timings_ms.items()},
            }
        )
        return EXIT_OK
    if not result.hits:
        out.print("No matching passages. Has `docbot sync` been run?")
    for i, hit in enumerate(result.hits, start=1):
        out.print(
            f"{i}. {hit.score:.3f}  {hit.section}", style="bold", markup=False, highlight=False
        )
        out.print(f"   {hit.link}", markup=False, highlight=False)
        snippet = " ".join(hit.text.split())[:240]
        out.print(f"   {snippet}", markup=False, highlight=False)
    return EXIT_OK


def status(args: argparse.Namespace, app: Docbot) -> int:
    from bot.ops.status import render_status

    data = app.status()
    if args.json:
        print_json(data)
    else:
        out.print(render_status(data), markup=False, highlight=False)
    return EXIT_OK


def serve(args: argparse.Namespace, app: Docbot) -> int:
    from bot.server.serve import run

    return run(app, http=args.http, port=args.port)


def evaluate(args: argparse.Namespace, app: Docbot) -> int:
    """``docbot eval DATASET_DIR [-k N] [--run FILE] [--json] [--chunk-chars N] [--overlap N]
    [--rerank]``, or ``docbot eval --answers FILE --docs FOLDER [--store PATH] [--run FILE]
    [--json]``."""
    from bot.eval.evaluate import evaluate, load_dataset, render, write_run
    from ingest import chunking

    rerank = bool(getattr(args, "rerank", False))
    if getattr(args, "answers", None):
        if rerank:
            raise InputError(
                "--rerank measures retrieval (docbot eval DATASET_DIR --rerank); --answers "
                "judges extractive answers, which use no chat model and so no rerank"
            )
        return _evaluate_answers(args, app)
    if not args.dataset:
        raise InputError("give a dataset folder (docbot eval DATASET_DIR), or --answers FILE")

    if args.k < 1:
        raise InputError("-k must be at least 1")
    chunk_chars = args.chunk_chars or chunking.DEFAULT_CHUNK_CHARS
    overlap = chunking.DEFAULT_OVERLAP_CHARS if args.overlap is None else args.overlap
    if chunk_chars < 100 or not 0 <= overlap < chunk_chars:
        raise InputError("--chunk-chars must be at least 100, and --overlap from 0 to below it")
    dataset = load_dataset(args.dataset)
    reranker = app.make_reranker() if rerank else None  # ConfigError without a chat model
    # The default Fusion is the one the bot's Retriever uses (bot/app.py).
    report, run = evaluate(
        dataset,
        app.embedder,
        k=args.k,
        chunk_chars=chunk_chars,
        overlap_chars=overlap,
        progress=TerminalProgress("indexing"),
        multilingual=app.multilingual_embedder,
        reranker=reranker,
        settings=app.settings,
    )
    if args.run:
        write_run(args.run, run)
    if args.json:
        print_json(report.as_json())
    else:
        render(report, dataset, args.run)
    return EXIT_OK


def _evaluate_answers(args: argparse.Namespace, app: Docbot) -> int:
    from bot.eval.answers import evaluate_answers, load_answer_set, render_answers, write_details

    if args.dataset:
        raise InputError("--answers judges answers over --docs; do not give DATASET_DIR too")
    if not args.docs:
        raise InputError(
            "--answers needs --docs FOLDER: the Markdown pages the questions ask about"
        )
    questions = load_answer_set(args.answers)
    report = evaluate_answers(
        questions,
        args.docs,
        app.embedder,
        store_path=args.store,
        progress=TerminalProgress("indexing"),
    )
    if args.run:
        write_details(args.run, report)
    if args.json:
        print_json(report.as_json())
    else:
        render_answers(report, args.answers)
    return EXIT_OK


def feedback(args: argparse.Namespace, app: Docbot) -> int:
    """``docbot feedback``; a bad ``--since`` raises InputError (one line, exit 2)."""
    from bot.ops.feedback import build_report, parse_since, render_report

    since_text = "7d" if args.since is None else args.since
    age = parse_since(since_text)
    now = datetime.now(UTC)
    report = build_report(app.records, now - age, now)
    if args.json:
        print_json(report)
    else:
        print(render_report(report, since_text.strip()))
    return EXIT_OK


def migrate(args: argparse.Namespace, app: Docbot) -> int:
    """``docbot migrate --to URL [--force] [--json]``: the SQLite store ``DOCBOT_DB``
    copied into the store ``URL`` names (``ingest/migrate.py``)."""
    from bot.cli.progress import MigrationBar
    from ingest.migrate import migrate as copy_store
    from ingest.migrate import open_source, open_target

    source = open_source(app.settings)
    target = open_target(app.settings, args.to)
    try:
        report = copy_store(source, target, force=args.force, progress=MigrationBar())
    finally:
        target.close()
        source.close()
    if args.json:
        print_json(report.as_dict())
        return EXIT_OK
    table = Table(title=f"docbot migrate: {report.source} -> {report.target} ({report.backend})")
    for column in ("source", "documents", "chunks", "unchanged", "deleted", "runs"):
        table.add_column(column, justify="left" if column == "source" else "right")
    for s in report.sources:
        table.add_row(
            s.source, str(s.documents), str(s.chunks), str(s.unchanged), str(s.deleted),
            str(s.runs),
        )  # fmt: skip
    out.print(table)
    out.print(
        f"{report.answers} answer records, {report.feedback} votes and {report.threads} threads "
        f"copied in {report.seconds:.1f} s; embedding model {report.embed_model or 'none'} "
        "(vectors copied, nothing re-embedded)",
        markup=False,
        highlight=False,
    )
    return EXIT_OK
