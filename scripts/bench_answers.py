"""Answer-level settings replayed on one indexed store (docs/BENCHMARKS.md, "Answers").

``docbot eval --answers`` measures the shipped answer path; this script measures the
alternatives behind each choice: the abstention gate's thresholds, the answer-type
check's share (``--grid types``), the name checks (``--grid names``), which passages may anchor a
partial answer (``--grid anchors``), the share of the question's words that must sit
together (``--grid together``), what counts as an amount or a time (``--grid typefix``),
the quote rules
(``--grid quotes``), the section text quotes are chosen from (``--grid sections``), how
quote windows are scored and grown (``--grid windows``), how
many passages per page and how many quoted, and how much of each passage is quoted. The store is the
one ``docbot eval --answers ... --store PATH`` kept, so nothing is re-embedded; every
figure is printed for the even-numbered questions (what the defaults were chosen on),
the odd ones (held out) and all.

    docbot eval --answers benchmarks/handbook-answers/questions.jsonl \\
        --docs ../shared/data/markdown/sourcegraph-handbook --store /tmp/handbook-answers.db
    python scripts/bench_answers.py /tmp/handbook-answers.db \\
        benchmarks/handbook-answers/questions.jsonl \\
        [--grid gate|types|names|anchors|together|typefix|quotes|sections|windows|passages|
                length] \\
        [--answerable benchmarks/handbook-qa/queries.jsonl]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bot.evidence as evidence
import bot.extractive as extractive
import bot.sections as sections
from bot.answer import Answer, Answerer
from bot.eval.answers import JudgedQuestion, judge, load_answer_set, summarise
from bot.llm import LLM, OpenAIChat
from bot.retrieve import Retriever
from ingest.embedding import make_embedder
from ingest.settings import Settings
from ingest.store import Store

FIGURES = ("abstention_rate", "false_abstention_rate", "key_fact_rate", "page_cited_rate")


def grids(name: str) -> Iterator[dict[str, Any]]:
    """The settings of one family, each a dict of Answerer (or quote length) values."""
    if name == "gate":
        yield {"missing_idf": 2.0}  # no gate: the cosine floor alone (the old behaviour)
        for rare in (0.0, 0.0005, 0.001, 0.002):
            for anchor in (0.0, 0.002, 0.005):
                for missing in (0.2, 0.3, 0.4):
                    yield {"rare_share": rare, "anchor_share": anchor, "missing_idf": missing}
    elif name == "floor":
        for lexical in (0.75, 0.85, 1.0):
            for missing in (0.25, 0.3):
                yield {"lexical_floor": lexical, "missing_idf": missing}
    elif name == "types":
        yield {"type_share": None}  # no answer-type check (the gate before it)
        for share in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5):
            yield {"type_share": share}
    elif name == "names":
        yield {"check_names": False, "typed_names": False}  # the gates before the name check
        yield {"check_names": True, "typed_names": False}
        yield {"check_names": True, "typed_names": True}
    elif name == "quotes":
        off = {"faq_first": False, "list_to_end": False}
        yield {"refill": False, "prefix": 6, **off}  # before: no refill, prefixes from 6
        yield {"refill": True, "prefix": 6, **off}
        yield {"refill": False, "prefix": 4, **off}
        yield {"refill": True, "prefix": 4, "faq_first": False, "list_to_end": False}
        yield {"refill": True, "prefix": 4, "faq_first": True, "list_to_end": False}
        yield {"refill": True, "prefix": 4, "faq_first": True, "list_to_end": True}
    elif name == "windows":
        # issue 12, branch keyfacts: each quote rule on top of the ones before
        off = {
            "window_weights": "off",
            "word_forms": False,
            "step_images": False,
            "steps_after": False,
            "how_it_works": False,
            "drop_images": False,
        }
        yield off  # main before these rules
        yield {**off, "window_weights": "idf"}
        yield {**off, "window_weights": "count"}
        yield {**off, "window_weights": "count", "word_forms": True}
        on = {**off, "window_weights": "count", "word_forms": True, "step_images": True}
        yield on
        on = {**on, "steps_after": True}
        yield on
        on = {**on, "how_it_works": True}
        yield on
        on = {**on, "drop_images": True}
        yield on  # shipped
        for carry in (300, 100_000):
            yield {**on, "carry": carry}
    elif name == "together":
        yield {"together_share": 0.0}  # off: the checks before it
        for share in (0.3, 0.4, 0.5, 0.6, 0.7):
            yield {"together_share": share}
        yield {"together_share": 0.5, "split_clauses": False}  # the whole question as one
        yield {"together_share": 0.5, "asked_noun": False}  # "what cut": "cut" kept
    elif name == "typefix":
        yield {"contacts_are_no_time": False, "bare_k_is_money": True}  # before
        yield {"contacts_are_no_time": True, "bare_k_is_money": True}
        yield {"contacts_are_no_time": False, "bare_k_is_money": False}
        yield {"contacts_are_no_time": True, "bare_k_is_money": False}
    elif name == "lexical":
        # issue 12, branch keyfacts2: each rule on top of the ones before
        off = {"lexical_cover": None, "two_asks": False, "carry": 0}
        yield off  # main before these rules
        for cover in (0.5, 0.6, 0.75, 0.9, 1.0):
            yield {**off, "lexical_cover": cover}  # the best lexical match kept
        on = {**off, "lexical_cover": 0.6}
        yield {**on, "two_asks": True}
        for carry in (150, 300, 600, 100_000):
            yield {**on, "two_asks": True, "carry": carry}
        yield {**on, "carry": 150}  # shipped but for two asks
        # measured, not kept: more passages instead
        yield {**on, "two_asks": True, "quoted": 5}
        yield {**on, "two_asks": True, "per_document": 3}
        yield {**on, "two_asks": True, "k": 6}
    elif name == "anchors":
        for floor in (0.0, 0.75, 1.0, 1.2):
            yield {"anchor_floor": floor}
    elif name == "sections":
        yield {"sections": False}  # the chunk alone (before bot/sections.py)
        for before, after in ((0, 1), (0, 2), (2, 2), (2, 6)):
            yield {"section_before": before, "section_after": after}
    elif name == "passages":
        for per_document, quoted in ((1, 3), (2, 3), (2, 4), (3, 4), (1, 4)):
            yield {"per_document": per_document, "quoted": quoted}
    elif name == "length":
        for first, other in ((700, 420), (900, 420), (900, 600), (1200, 600), (1600, 800)):
            yield {"first_chars": first, "other_chars": other}


def print_scores(retriever: Retriever, questions: list[JudgedQuestion], extra: list[str]) -> int:
    """The share ``together`` gives each question answered with the check off (the
    margin behind ``TOGETHER_SHARE``), lowest first: id, answerable (A) or not (U)."""
    answerer = Answerer(retriever, together_share=0.0)
    asked = [(q.id, q.question, q.answerable) for q in questions]
    asked += [(f"extra-{n}", text, True) for n, text in enumerate(extra, 1)]
    rows: list[tuple[float, str, bool, str]] = []
    for qid, question, answerable in asked:
        answer = answerer.ask(question).answer
        if answer.abstained:
            continue
        _, texts = answerer._quote_texts(answer.sources)
        weighed = evidence.weigh(retriever.store, question, answer.sources)
        passages = [
            (h.section.rsplit(" > ", 1)[-1], texts.get(h.chunk_id, h.text)) for h in answer.sources
        ]
        share = evidence.together(retriever.store, question, weighed, passages).share
        rows.append((share, qid, answerable, question))
    for share, qid, answerable, question in sorted(rows):
        print(f"{share:.2f} {qid} {'A' if answerable else 'U'} {question}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", type=Path, help="a store kept by docbot eval --answers")
    parser.add_argument("questions", type=Path, help="the judged question set (JSONL)")
    parser.add_argument(
        "--grid",
        choices=(
            "gate",
            "floor",
            "types",
            "names",
            "anchors",
            "lexical",
            "together",
            "typefix",
            "quotes",
            "sections",
            "windows",
            "passages",
            "length",
        ),
        default="gate",
    )
    parser.add_argument(
        "--answerable",
        type=Path,
        help="also count abstentions on these questions, every one answerable (a BEIR "
        "queries.jsonl such as benchmarks/handbook-qa/queries.jsonl): false abstention "
        "on questions no setting was chosen on",
    )
    parser.add_argument(
        "--chat",
        action="store_true",
        help="answer through a chat model faked by tests/fakes/openai_server (its reply "
        "cites [1]): the gates' decisions in the model path, which weighs the chunks "
        "themselves; only the abstention figures mean anything then",
    )
    parser.add_argument(
        "--scores",
        action="store_true",
        help="instead of a grid: print each answered question's words-together share "
        "(bot/evidence.py together) with that check off, lowest first",
    )
    args = parser.parse_args()
    settings = Settings()
    embedder = make_embedder(settings.embedder, settings.embed_model)
    retriever = Retriever(Store(args.store), embedder)
    questions = load_answer_set(args.questions)
    extra: list[str] = []
    if args.answerable:
        lines = args.answerable.read_text(encoding="utf-8").splitlines()
        extra = [json.loads(line)["text"] for line in lines if line.strip()]
    if args.scores:
        return print_scores(retriever, questions, extra)
    with contextlib.ExitStack() as stack:
        chat: LLM | None = None
        if args.chat:
            from tests.fakes.openai_server import FakeOpenAI

            server = stack.enter_context(FakeOpenAI(reply="What the sources say [1]."))
            chat = OpenAIChat("gpt-4o-mini", api_key="sk-test", base_url=server.base_url)
        run_grid(args.grid, retriever, chat, questions, extra)
    return 0


def run_grid(
    grid: str,
    retriever: Retriever,
    chat: LLM | None,
    questions: list[JudgedQuestion],
    extra: list[str],
) -> None:
    """Print one row of figures per setting of ``grid``."""
    header = " | ".join(f"{h}: " + " / ".join(FIGURES) for h in ("even", "odd", "all"))
    print(
        f"setting | {header}"
        + (" | answerable set: abstained" if extra else "")
        + " | timings | median answer (answered answerable)"
    )
    for setting in grids(grid):
        values = dict(setting)
        extractive.FIRST_CHARS = values.pop("first_chars", 900)
        extractive.OTHER_CHARS = values.pop("other_chars", 600)
        extractive.REFILL = values.pop("refill", True)
        extractive.PREFIX = values.pop("prefix", 4)
        extractive.FAQ_FIRST = values.pop("faq_first", True)
        extractive.LIST_TO_END = values.pop("list_to_end", True)
        extractive.WINDOW_WEIGHTS = values.pop("window_weights", "count")
        extractive.WORD_FORMS = values.pop("word_forms", True)
        extractive.STEP_IMAGES = values.pop("step_images", True)
        extractive.STEPS_AFTER = values.pop("steps_after", True)
        extractive.HOW_IT_WORKS = values.pop("how_it_works", True)
        extractive.DROP_IMAGES = values.pop("drop_images", True)
        extractive.CARRY = values.pop("carry", 150)
        extractive.TWO_ASKS = values.pop("two_asks", True)
        sections.BEFORE = values.pop("section_before", 2)
        sections.AFTER = values.pop("section_after", 2)
        evidence.SPLIT_CLAUSES = values.pop("split_clauses", True)
        evidence.ASKED_NOUN = values.pop("asked_noun", True)
        evidence.CONTACTS_ARE_NO_TIME = values.pop("contacts_are_no_time", True)
        evidence.BARE_K_IS_MONEY = values.pop("bare_k_is_money", False)
        answerer = Answerer(retriever, chat, **values)
        answers = [answerer.ask(q.question).answer for q in questions]
        judged = [judge(q, a) for q, a in zip(questions, answers, strict=True)]
        cells = []
        for half in ("even", "odd", "all"):
            part = [j for j in judged if half == "all" or j.question.half == half]
            figures = summarise(part)
            cells.append(" / ".join(f"{figures[f]:.3f}" for f in FIGURES))
        if extra:
            abstained = sum(answerer.ask(q).answer.abstained for q in extra)
            cells.append(f"{abstained}/{len(extra)}")
        cells.append(
            "ms p50/p95: "
            + ", ".join(
                f"{key} {percentile(answers, key, 0.5):.1f}/{percentile(answers, key, 0.95):.1f}"
                for key in ("evidence_ms", "total_ms")
            )
        )
        answered = [len(j.text) for j in judged if j.question.answerable and not j.abstained]
        median = statistics.median(answered) if answered else 0
        cells.append(f"median {median:.0f} chars")
        print(f"{setting} | " + " | ".join(cells), flush=True)


def percentile(answers: list[Answer], key: str, share: float) -> float:
    """The ``share`` quantile of one timing over ``answers`` (noisy on a loaded machine:
    compare rows of one run)."""
    values = sorted(a.timings_ms.get(key, 0.0) for a in answers)
    return values[min(len(values) - 1, int(share * len(values)))] if values else 0.0


if __name__ == "__main__":
    sys.exit(main())
