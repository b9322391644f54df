"""The ``docbot`` command (also ``python -m bot``).

Every subcommand follows DESIGN.md's interface contract. Errors a user can fix
(bad input, bad configuration, an unreachable service) print one line saying
what is wrong and what to do, and exit non-zero without a traceback; ``--debug``
shows the traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bot.cli.output import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from ingest import chunking
from ingest.errors import ConfigError, DocbotError, InputError

log = logging.getLogger("docbot")


def read_environment(cwd: Path | None = None) -> dict[str, str]:
    """``os.environ`` over the values of a ``.env`` file in the working directory."""
    from dotenv import dotenv_values

    env_file = (cwd or Path.cwd()) / ".env"
    values: dict[str, str] = {}
    if env_file.is_file():
        values = {k: v for k, v in dotenv_values(env_file).items() if v is not None}
    values.update(os.environ)
    return values


def config_path(arg: str | None, env: Mapping[str, str], cwd: Path | None = None) -> Path | None:
    """``--config``, else ``DOCBOT_CONFIG``, else ``./docbot.toml`` when present."""
    if arg:
        return Path(arg)
    if env.get("DOCBOT_CONFIG"):
        return Path(env["DOCBOT_CONFIG"])
    default = (cwd or Path.cwd()) / "docbot.toml"
    return default if default.is_file() else None


def installed_version() -> str:
    """The installed docbot release (a source checkout that is not installed: 'dev')."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("docbot")
    except PackageNotFoundError:
        return "dev"


COMMANDS = {
    "sync": "sync every configured source once",
    "ask": "answer a question the way the bot would",
    "search": "show the ranked passages for a query",
    "status": "sources, their last runs, the index and how questions fared",
    "serve": "run the Slack bot and the sync scheduler",
    "eval": "retrieval quality on a BEIR-format dataset, or answers on a judged set",
    "feedback": "👎 and unanswered questions, for doc owners",
    "migrate": "copy the SQLite store into PostgreSQL (or another store), vectors included",
}
"""Each subcommand's one-line description (in ``docbot --help`` and its own ``--help``)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="docbot",
        description="Answers questions from your docs, in Slack and on the command line.",
    )
    parser.add_argument("--config", metavar="PATH", help="docbot.toml with the source list")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument(
        "--version", action="version", version=f"docbot {installed_version()}",
        help="print the installed version and exit",
    )  # fmt: skip
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def command(name: str) -> argparse.ArgumentParser:
        text = COMMANDS[name]
        return sub.add_parser(name, help=text, description=f"{text[0].upper()}{text[1:]}.")

    p = command("sync")
    p.add_argument("--source", metavar="NAME", help="sync only this source")
    p.add_argument("--full", action="store_true", help="ignore incremental cursors; rescan all")
    p.add_argument(
        "--rebuild",
        action="store_true",
        help="build a new index of every source beside the live one and switch to it when "
        "complete (after changing the embedding model); a killed rebuild resumes",
    )
    p.add_argument(
        "--allow-mass-delete",
        action="store_true",
        help="let this run delete more than DOCBOT_MASS_DELETE_SHARE of a source's documents",
    )
    p.add_argument("--json", action="store_true", help="print the per-source summary as JSON")

    p = command("ask")
    p.add_argument("question", help="the question, in quotes")
    p.add_argument("--json", action="store_true", help="print the answer as JSON")

    p = command("search")
    p.add_argument("query", help="the search text, in quotes")
    p.add_argument("-k", type=int, default=5, metavar="N", help="how many results (default 5)")
    p.add_argument("--json", action="store_true", help="print results as JSON")

    p = command("status")
    p.add_argument("--json", action="store_true", help="print status as JSON")

    p = command("serve")
    p.add_argument(
        "--http", action="store_true", help="serve HTTP (Events API) instead of Socket Mode"
    )
    p.add_argument("--port", type=int, metavar="N", help="HTTP port (default $PORT or 3000)")

    p = command("eval")
    p.add_argument(
        "dataset",
        metavar="DATASET_DIR",
        nargs="?",
        help="folder with corpus.jsonl, queries.jsonl, qrels/ (not with --answers)",
    )
    p.add_argument(
        "--answers",
        metavar="FILE",
        help="judge answers instead: a question set (JSONL) over the folder given by --docs",
    )
    p.add_argument("--docs", metavar="FOLDER", help="with --answers: the Markdown pages")
    p.add_argument(
        "--store",
        metavar="PATH",
        help="with --answers: index into this store and reuse it next time (default: temporary)",
    )
    p.add_argument("-k", type=int, default=10, metavar="N", help="ranking depth (default 10)")
    p.add_argument(
        "--run",
        metavar="FILE",
        help="write a TREC run file (with --answers: one JSON line per judged answer)",
    )
    p.add_argument("--json", action="store_true", help="print metrics as JSON")
    p.add_argument(
        "--rerank",
        action="store_true",
        help="also rank every query with the chat model reordering the fused candidates "
        "(DOCBOT_RERANK=llm), and report both runs side by side: quality, latency, tokens",
    )
    p.add_argument(
        "--chunk-chars",
        type=int,
        metavar="N",
        help=f"chunk size to measure (default {chunking.DEFAULT_CHUNK_CHARS} characters)",
    )
    p.add_argument(
        "--overlap",
        type=int,
        metavar="N",
        help=f"chunk overlap to measure (default {chunking.DEFAULT_OVERLAP_CHARS} characters)",
    )

    p = command("feedback")
    p.add_argument("--since", default="7d", metavar="AGE", help="how far back (default 7d)")
    p.add_argument("--json", action="store_true", help="print as JSON")

    p = command("migrate")
    p.add_argument(
        "--to",
        required=True,
        metavar="URL",
        help="the target: postgresql://USER:PASSWORD@HOST/DB, or sqlite:///PATH",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="copy into a store that is not empty: make its documents equal this store's "
        "(skips those already copied, so a stopped migration resumes)",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    return parser


Command = Callable[[argparse.Namespace, Any], int]


def _commands() -> dict[str, Command]:
    from bot.cli import commands

    return {
        "sync": commands.sync,
        "ask": commands.ask,
        "search": commands.search,
        "status": commands.status,
        "serve": commands.serve,
        "eval": commands.evaluate,
        "feedback": commands.feedback,
        "migrate": commands.migrate,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        from bot.app import build
        from bot.ops.logs import configure_logging
        from ingest.settings import load_settings

        env = read_environment()
        settings = load_settings(env, config_path(args.config, env))
        default_format = "json" if args.command == "serve" else "text"
        configure_logging(settings, default_format=default_format, debug=args.debug)
        app = build(settings)
        try:
            return _commands()[args.command](args, app)
        finally:
            app.close()
    except DocbotError as exc:
        if args.debug:
            raise
        print(f"docbot: error: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, ConfigError | InputError) else EXIT_FAILED
    except KeyboardInterrupt:
        print("docbot: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
