"""Extractive answers (no chat model configured): the sentences of the best passages
that cover the question, quoted verbatim and linked."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence

from bot.retrieve import fts_query
from ingest.models import Hit

_BOUNDARY = re.compile(r"(?<=[.!?])[ \t]+(?=[A-Z0-9`*\[(\"'])|\n")


_LIST_MARK = re.compile(r"\s*(\d+[.)]|[-*+])")


def _spans(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of sentences and lines in ``text``."""
    spans, start = [], 0
    for match in _BOUNDARY.finditer(text):
        line_start = text.rfind("\n", 0, match.start()) + 1
        if match.group() != "\n" and _LIST_MARK.fullmatch(text[line_start : match.start()]):
            continue  # "6. **Bold**" is a list item, not the end of a sentence
        if text[start : match.start()].strip():
            spans.append((start, match.start()))
        start = match.end()
    if text[start:].strip():
        spans.append((start, len(text)))
    return spans


_NUMBER_QUESTION = re.compile(
    r"\b(how (many|much|long|often|old|far|soon|early|late)|what (is|are) the "
    r"(limit|amount|number|rate|cap|budget|deadline|minimum|maximum)|when|what percent"
    r"|how large|how big)\b",
    re.IGNORECASE,
)
_PROCEDURE_QUESTION = re.compile(
    r"\b(how (do|can|should|would) (i|we|you)|how to|what (are the )?steps|step by step"
    r"|process (for|to)|what do i (\w+ )?(need to |have to )?do|walk me through|set ?up"
    r"|configure|install)\b",
    re.IGNORECASE,
)
_HOW_IT_WORKS = re.compile(r"\bhow (does|do|would) (it|that|this) work\b", re.IGNORECASE)
_ITEM = re.compile(r"\s*(\d+[.)]|[-*+])\s")
_NUMBERED = re.compile(r"\s*\d+[.)]\s")
_DIGIT = re.compile(r"\d")
_STEP = re.compile(r"^\s*\d+[.)]\s", re.MULTILINE)
FIRST_CHARS = 900
OTHER_CHARS = 600
"""How much of the best passage, and of each other one, is quoted (before the block a
":" introduces is added); measured in docs/BENCHMARKS.md, "Answers"."""
REFILL = True
"""When the best window starts with sentences that match nothing, they are dropped and
the room they took is given to the sentences after the window: the answer usually
follows the sentence that names its subject ("...phones/tablets. Access is limited to
Gmail, Calendar, Zoom..."). Not for a number question: one sentence answers it."""
PREFIX = 4
"""A question word matches a text word that starts with its first five letters when it
has at least this many letters ("phone" ~ "phones", "reimburse" ~ "reimbursed"): the
porter stemming of the search, roughly, without its rules."""
FAQ_FIRST = True
"""Under a heading that asks a question ("Q. Do our benefits cover us abroad?"), the
passage's first sentence is quoted with the window: it is the direct answer."""
LIST_TO_END = True
"""A quote that ends inside any list (not only a procedure's steps) runs to the list's
end, within ``BLOCK_CHARS``: "Zone 1 is ..." is half an answer to how the zones are set
when zones 2-4 follow (not for a number question: one item answers it)."""
WINDOW_WEIGHTS = "count"
"""How a window's question terms are scored when the answer path gives their IDF
(``extractive_answer(weights=...)``): ``count``, every content term 1 and the words of
how people ask (``bot/evidence.py`` ``QUESTION_WORDS``: "have", "give", "much") 0, so a
later window holding more asking words no longer beats the sentence that names the
subject ("If there is no contractual notice period ... we cannot require any minimum
notice"); ``idf``, each term by its rarity over the question's mean (measured: it trades
a gain for a loss on near ties, docs/BENCHMARKS.md "Quote windows"); ``off``, every
word of the question 1, as before."""
WORD_FORMS = True
"""A question term matches a text word when both are forms of one word: equal once a
common English ending is taken off ("zones" ~ "zone", "reimbursed" ~ "reimbursement"),
or one such stem starting the other, from five letters. Without it, any text word
sharing the term's first five letters matched ("transition" ~ "transferred",
"internal" ~ "interview"), which let a window of unrelated words win. Forms of one
word count once in a window's score."""
STEPS_AFTER = True
"""A "how do I" quote that holds no numbered step, in a section whose numbered
procedure starts soon after it (within the quote's length), brings that procedure
after an ellipsis: the steps are the answer, the paragraph before them says where."""
STEP_IMAGES = True
"""A line that is only an image or HTML tag (a step's screenshot) continues the list
item above it, so "5. Click 'Set Up':", its screenshot and "6. Touch the YubiKey" stay
one procedure."""
HOW_IT_WORKS = True
""""how does that work?" asks for the steps, as "how do I" does ("can I buy my old
laptop? how does that work?": the buyback procedure)."""
CARRY = 150
"""Characters of its limit a quote leaves unused (its section is short) that the next
quote may use, at most this many; the answer's total stays within the same budget
(``FIRST_CHARS`` + ``OTHER_CHARS`` per other passage). 150 is the least of the values
that gave the same figure on the half of the handbook set choices are made on (150 to
all of it), for a median answer 5% longer (docs/BENCHMARKS.md, "The best lexical match,
two asks, carried room")."""
TWO_ASKS = True
"""A number question that asks a second thing ("how much is the stipend, and do I have
to send receipts?", "how long does it last and how often do you meet?") is not
answered by one sentence: its quotes get the room and the lists other questions get
(``REFILL``, ``LIST_TO_END``), and still prefer a window stating a number."""
_ASK_START = re.compile(
    r"(?:^|[,;?]\s+|\band\s+(?:(?:for|in|on|at|to|by)\s+)?)"
    r"(?:how|what|what's|when\s+(?:do|does|did|is|are|was|will|can|should|would|must)"
    r"|where|who|which|why|do|does|did|is|are|can|could|should|will"
    r"|would|must)\b",
    re.IGNORECASE,
)
"""Where a clause that asks begins: at the start, after ",", ";" or "?", or after
"and" ("... and for how long?"); a clause that only sets the scene ("I just started
in the US, ...") does not count."""
DROP_IMAGES = True
"""Lines of a quote that are only an image, HTML tags or an HTML comment are left out:
Slack shows them as raw markup (a 400-character ``<!-- <iframe ...> -->``), and they
hold nothing a reader can use in a chat message; the link to the section has them."""
BLOCK_CHARS = 1500
"""The most a block brought in by its introducing sentence may add (a long table or
code listing is cut at a line, with an ellipsis)."""


def asks(question: str) -> int:
    """How many clauses of ``question`` ask something (``_ASK_START``)."""
    return len(_ASK_START.findall(question.strip()))


def question_kind(question: str) -> str:
    """``procedure`` ("how do I ..."), ``number`` ("how many ..."), or ``other``: how
    much an answer needs (the steps, one sentence, a short passage)."""
    if _PROCEDURE_QUESTION.search(question) or (HOW_IT_WORKS and _HOW_IT_WORKS.search(question)):
        return "procedure"
    if _NUMBER_QUESTION.search(question):
        return "number"
    return "other"


def _lines(text: str) -> list[tuple[int, int]]:
    """(start, end) of every line, newline excluded."""
    out, pos = [], 0
    for line in text.split("\n"):
        out.append((pos, pos + len(line)))
        pos += len(line) + 1
    return out


def _line_at(lines: list[tuple[int, int]], offset: int) -> int:
    for i, (a, b) in enumerate(lines):
        if a <= offset <= b:
            return i
    return len(lines) - 1


def _is_item(line: str) -> bool:
    return bool(_ITEM.match(line + " "))


_DECORATION = re.compile(r"\s*((<[^>]*>\s*)+|!\[[^\]]*\]\([^)]*\)\s*|<!--.*-->\s*)")


def _continues(line: str) -> bool:
    """Whether ``line`` belongs to the list item above it: indented, or (``STEP_IMAGES``)
    only an image or HTML tag, the screenshot of a step that the next step follows."""
    if line.startswith((" ", "\t")):
        return True
    return STEP_IMAGES and bool(line.strip()) and bool(_DECORATION.fullmatch(line))


def _list_top(text: str, lines: list[tuple[int, int]], at: int) -> int:
    """Index of the first line of the list that line ``at`` is in: up through items and
    their continuation lines, and (``STEP_IMAGES``) across blank lines between them."""
    top = at
    while top > 0:
        above = text[lines[top - 1][0] : lines[top - 1][1]]
        if _is_item(above) or (_continues(above) and above.strip()):
            top -= 1
            continue
        if STEP_IMAGES and not above.strip():
            k = top - 1
            while k > 0 and not text[lines[k][0] : lines[k][1]].strip():
                k -= 1
            line = text[lines[k][0] : lines[k][1]]
            if line.strip() and (_is_item(line) or _continues(line)):
                top = k
                continue
        break
    return top


def _block_end(text: str, lines: list[tuple[int, int]], first: int, numbered: bool) -> int:
    """Index of the last line of the block (list, code, table, paragraph) starting at
    line ``first``; with ``numbered``, a list stops at its last numbered item's lines."""
    line = text[lines[first][0] : lines[first][1]]
    if line.lstrip().startswith("```"):
        for j in range(first + 1, len(lines)):
            if text[lines[j][0] : lines[j][1]].lstrip().startswith("```"):
                return j
        return len(lines) - 1
    if line.lstrip().startswith("|"):
        j = first
        while j + 1 < len(lines) and text[lines[j + 1][0] : lines[j + 1][1]].lstrip().startswith(
            "|"
        ):
            j += 1
        return j
    if _is_item(line):
        j, last = first, first
        while j + 1 < len(lines):
            nxt = text[lines[j + 1][0] : lines[j + 1][1]]
            if not nxt.strip():
                # a blank line inside a list: go on only if an item (or its indented
                # continuation) follows
                k = j + 2
                if k < len(lines) and (
                    _is_item(text[lines[k][0] : lines[k][1]])
                    or _continues(text[lines[k][0] : lines[k][1]])
                ):
                    j += 1
                    continue
                break
            if _is_item(nxt) or _continues(nxt):
                if numbered and not _continues(nxt) and not _NUMBERED.match(nxt):
                    break
                j += 1
                last = j
                continue
            break
        return last
    j = first
    while j + 1 < len(lines) and text[lines[j + 1][0] : lines[j + 1][1]].strip():
        j += 1
    return j


def _cap(text: str, start: int, end: int, limit: int) -> int:
    """``end`` pulled back to a line boundary so the span stays within ``limit``."""
    if end - start <= limit:
        return end
    cut = text.rfind("\n", start, start + limit)
    return cut if cut > start else start + limit


def _widen(text: str, start: int, end: int, kind: str) -> tuple[int, int, str]:
    """The chosen span grown to what gives it its meaning: the block a sentence ending
    in ":" introduces, a whole numbered procedure, and the line that introduces a list
    the span starts inside ("Do not:"). Returns (start, end, intro) where ``intro`` is
    a line quoted before the span when it is not next to it."""
    lines = _lines(text)
    intro = ""
    first = _line_at(lines, start)
    # 1. Starting inside a list: find the list's first item and the line above it.
    if _is_item(text[lines[first][0] : lines[first][1]]) or _continues(
        text[lines[first][0] : lines[first][1]]
    ):
        top = _list_top(text, lines, first)
        if kind == "procedure" and _NUMBERED.match(text[lines[top][0] : lines[top][1]]):
            start = lines[top][0]  # the whole procedure, from step 1
        head = top - 1
        while head >= 0 and not text[lines[head][0] : lines[head][1]].strip():
            head -= 1
        if head >= 0:
            line = text[lines[head][0] : lines[head][1]].strip()
            if (
                line.endswith(":")
                or line.startswith("#")
                or (line.startswith("**") and line.endswith("**"))
            ):
                if lines[head][0] < start and start - lines[head][0] <= 300:
                    start = lines[head][0]
                elif lines[head][0] < start:
                    intro = line
    # 2. A sentence that introduces something (ends in ":") brings the whole block.
    last = _line_at(lines, max(end - 1, start))
    for i in range(_line_at(lines, start), last + 1):
        line = text[lines[i][0] : lines[i][1]].rstrip()
        if i == last:
            line = text[lines[i][0] : min(lines[i][1], end)].rstrip()
        following = i + 1
        while (
            following < len(lines) and not text[lines[following][0] : lines[following][1]].strip()
        ):
            following += 1
        if following >= len(lines):
            break
        nxt = text[lines[following][0] : lines[following][1]]
        steps = (
            kind == "procedure"
            and i == last
            and _is_item(nxt)
            and (_is_item(line) or line.endswith(":"))
        )
        if line.endswith(":") or steps:
            block_last = _block_end(text, lines, following, numbered=False)
            if lines[block_last][1] > end:
                end = _cap(text, start, lines[block_last][1], (end - start) + BLOCK_CHARS)
                break
    # 3. A whole numbered procedure (or, with LIST_TO_END, any list) the span ends inside.
    if kind == "procedure" or (LIST_TO_END and kind != "number"):
        last = _line_at(lines, max(end - 1, start))
        if _is_item(text[lines[last][0] : lines[last][1]]) or _continues(
            text[lines[last][0] : lines[last][1]]
        ):
            top = _list_top(text, lines, last)
            block_last = _block_end(text, lines, top, numbered=False)
            end = _cap(text, start, max(end, lines[block_last][1]), (end - start) + BLOCK_CHARS)
    return start, end, intro


_ENDINGS = (
    "ations",
    "ation",
    "ments",
    "ment",
    "ings",
    "ing",
    "ions",
    "ion",
    "ers",
    "er",
    "ies",
    "ed",
    "es",
    "s",
    "e",
)


@functools.lru_cache(maxsize=4096)
def _stem(word: str) -> str:
    """``word`` without one common English ending, when four letters or more remain
    (three for a plural "s": "days")."""
    for ending in _ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= (3 if ending == "s" else 4):
            return word[: -len(ending)]
    return word


def _same_word(term: str, word: str) -> bool:
    """Whether a text word is the question's term (``WORD_FORMS``; else equal, or
    sharing its first five letters from ``PREFIX`` letters up)."""
    if term == word:
        return True
    if not WORD_FORMS:
        return len(term) >= PREFIX and word.startswith(term[:5])
    a, b = _stem(term), _stem(word)
    if a == b:
        return True
    short, long = sorted((a, b), key=len)
    return len(short) >= 5 and long.startswith(short)


def _word_groups(terms: set[str]) -> dict[str, str]:
    """Each term's group: forms of one word ("zone", "zones") count once in a window's
    score, as one word of the question."""
    group: dict[str, str] = {}
    for term in sorted(terms, key=len):
        group[term] = next(
            (
                g
                for g in dict.fromkeys(group.values())
                if _same_word(g, term) or _same_word(term, g)
            ),
            term,
        )
    return group


_CONTRACTION = re.compile(r"\b(\w+)['’](t|s|m|re|ve|ll|d)\b", re.IGNORECASE)


def _contraction_pieces(question: str) -> set[str]:
    """The tokens a contraction splits into that carry no subject: the ending ("t",
    "s", "m", "re") and, for a negation, the verb before it ("didn", "isn")."""
    pieces: set[str] = set()
    for word, ending in _CONTRACTION.findall(question):
        pieces.add(ending.lower())
        if ending.lower() == "t":
            pieces.add(word.lower())
    return pieces


def term_weights(idf: Mapping[str, float], mode: str | None = None) -> dict[str, float] | None:
    """Each question term's weight for window scoring (``WINDOW_WEIGHTS`` unless
    ``mode``); ``None`` (every word of the question 1) when off or nothing weighs."""
    mode = WINDOW_WEIGHTS if mode is None else mode
    values = [v for v in idf.values() if v > 0]
    if mode == "off" or not values:
        return None
    if mode == "count":
        return {t: 1.0 if v > 0 else 0.0 for t, v in idf.items()}
    mean = sum(values) / len(values)
    return {t: max(v, 0.0) / mean for t, v in idf.items()}


def _steps_after(text: str, end: int, within: int) -> str:
    """The numbered procedure that starts within ``within`` characters after ``end``,
    with the line introducing it when that ends in ":" ("The workflow:"), at most
    ``BLOCK_CHARS`` long; "" when there is none."""
    step = _STEP.search(text, end)
    if step is None or step.start() - end > within:
        return ""
    lines = _lines(text)
    first = _line_at(lines, step.start() + 1)
    start = lines[first][0]
    head = first - 1
    while head >= 0 and not text[lines[head][0] : lines[head][1]].strip():
        head -= 1
    if (
        head >= 0
        and lines[head][0] >= end
        and text[lines[head][0] : lines[head][1]].rstrip().endswith(":")
    ):
        start = lines[head][0]
    last = _block_end(text, lines, first, numbered=False)
    stop = _cap(text, start, lines[last][1], BLOCK_CHARS)
    return text[start:stop].strip()


def best_passage(
    question: str,
    text: str,
    max_chars: int = 420,
    *,
    faq: bool = False,
    weights: Mapping[str, float] | None = None,
) -> str:
    """The run of consecutive sentences of ``text`` that best covers the question,
    cut verbatim from the text (lists, code and emphasis stay intact), grown to the
    block it introduces and the line that introduces it (``_widen``). With ``faq``
    (the passage answers a question its heading asks), a window that would start
    after the first sentence starts at it instead: "They do not. However, ..." is
    the answer to "Do our health benefits cover us abroad?", though it has none of
    the question's words. ``weights`` (term: weight, see ``term_weights``) make a
    window's score the weight of the terms it holds rather than their number; a term
    missing from them weighs nothing."""
    kind = question_kind(question)
    wants_number = kind == "number"
    if wants_number and TWO_ASKS and asks(question) >= 2:
        kind = "other"  # two things asked: not the one sentence a number needs
    if len(text) <= max_chars:
        return text.strip()
    terms = {t.strip('"') for t in fts_query(question).split(" OR ") if t}
    if weights is not None and any(weights.get(t, 0.0) > 0 for t in terms):
        pieces = _contraction_pieces(question)  # "didn't": "didn" and "t" say nothing
        terms = {t for t in terms if weights.get(t, 0.0) > 0 and t not in pieces} or terms
    else:
        weights = None
    spans = _spans(text)
    if not spans:
        return text[:max_chars].strip()

    group = _word_groups(terms) if WORD_FORMS else {t: t for t in terms}
    if weights is not None:
        weights = {
            g: max(weights.get(t, 0.0) for t in terms if group[t] == g) for g in group.values()
        }

    def covered(span: tuple[int, int]) -> set[str]:
        words = set(re.findall(r"\w+", text[span[0] : span[1]].lower()))
        return {group[t] for t in terms if any(_same_word(t, w) for w in words)}

    # The window covering the most distinct question terms wins; among equals the
    # earliest, since procedures and definitions start at the top of a section. A
    # number question prefers a window that states a number.
    found = [covered(span) for span in spans]
    best, best_score, best_end = 0, -1.0, 1
    for i in range(len(spans)):
        terms_here: set[str] = set()
        j = i
        while j < len(spans) and spans[j][1] - spans[i][0] <= max_chars:
            terms_here |= found[j]
            j += 1
        if weights is not None:
            score = sum(weights.get(t, 0.0) for t in terms_here)
        else:
            score = float(len(terms_here))
        if wants_number and terms_here:
            window = text[spans[i][0] : spans[max(j, i + 1) - 1][1]]
            score += 0.5 if _DIGIT.search(window) else 0.0
        if score > best_score:
            best, best_score, best_end = i, score, max(j, i + 1)
    room = max_chars
    if faq and FAQ_FIRST and best > 0 and spans[best_end - 1][1] - spans[0][0] <= max_chars * 1.5:
        best = 0  # the first sentence under a question heading is its direct answer
        room = int(max_chars * 1.5)  # ... and the window that matched still follows it
    while best < best_end - 1 and not found[best] and not (faq and FAQ_FIRST and best == 0):
        best += 1  # no filler before the sentences that match
    if REFILL and kind != "number":  # a number needs its one sentence, not more
        while best_end < len(spans) and spans[best_end][1] - spans[best][0] <= room:
            best_end += 1  # the room the filler took goes to what follows
    while best > 0 and text[spans[best][0] : spans[best][0] + 1] in (" ", "\t"):
        best -= 1  # a wrapped continuation line: start at its list item instead
    start, end = spans[best][0], spans[best_end - 1][1]
    if len(text[start:end]) > room:
        end = start + len(text[start : start + room].rsplit(" ", 1)[0])
        passage_cut = True
    else:
        passage_cut = False
    start, end, intro = _widen(text, start, end, kind)
    passage = text[start:end].strip()
    if passage_cut and end < len(text):
        passage += " …"
    if intro:
        passage = f"{intro}\n…\n{passage}"
    if kind == "procedure" and STEPS_AFTER and not _STEP.search(passage):
        steps = _steps_after(text, end, max_chars)
        if steps:
            passage = f"{passage}\n…\n{steps}"
    if "```" in passage and passage.count("```") % 2:
        passage += "\n```"
    return passage


def _without_images(passage: str) -> str:
    """``passage`` without its lines that are only an image, HTML tags or an HTML
    comment (``DROP_IMAGES``), outside code blocks, and without the blank lines they
    leave doubled."""
    kept: list[str] = []
    fenced = False
    for line in passage.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and line.strip() and _DECORATION.fullmatch(line):
            continue  # (HTML inside a code block is its content: kept)
        if not line.strip() and (not kept or not kept[-1].strip()):
            continue
        kept.append(line)
    return "\n".join(kept).strip() or passage


def _in_leading_list(text: str, passage: str) -> bool:
    """True when ``passage`` lies in the list ``text`` starts with."""
    at = text.find(passage[:60])
    if at < 0:
        return False
    for line in text[:at].splitlines():
        if line.strip() and not _is_item(line) and not line.startswith((" ", "\t")):
            return False
    return True


def extractive_answer(
    question: str,
    hits: Sequence[Hit],
    missing: Sequence[str] = (),
    lead_ins: Mapping[int, str] | None = None,
    texts: Mapping[int, str] | None = None,
    weights: Mapping[str, float] | None = None,
) -> str:
    """Quoted passages with links, labelled as quotes (no model configured); with
    ``missing``, the question's distinctive words no quoted passage contains are
    named at the end, so a partial answer says what it does not cover. ``lead_ins``
    (by chunk id) are the lines that introduce a list a chunk starts inside, cut off
    into the previous chunk ("Do not:"): quoted first, so the list keeps its meaning.
    ``texts`` (by chunk id) are the passages' section texts to quote from instead of
    the chunks alone (``bot/sections.py``). ``weights``: the question terms' weights
    for choosing each quote's window (``term_weights``)."""
    parts = ["Here is what the docs say (quoted passages; no language model is configured):"]
    carry = 0
    for n, hit in enumerate(hits, start=1):
        faq = hit.section.rsplit(" > ", 1)[-1].rstrip(" _*)(").endswith("?")
        limit = (FIRST_CHARS if n == 1 else OTHER_CHARS) + carry
        text = (texts or {}).get(hit.chunk_id) or hit.text
        passage = best_passage(question, text, max_chars=limit, faq=faq, weights=weights)
        carry = min(max(limit - len(passage), 0), CARRY)
        lead = (lead_ins or {}).get(hit.chunk_id, "")
        if lead and _in_leading_list(text, passage):
            gap = "\n" if text.lstrip().startswith(passage[:60]) else "\n…\n"
            passage = f"{lead}{gap}{passage}"
        if DROP_IMAGES:
            passage = _without_images(passage)
        quoted = "\n".join(f"> {line}" if line.strip() else ">" for line in passage.splitlines())
        parts.append(f"{quoted}\n— [{n}] [{hit.section}]({hit.link})")
    if missing:
        named = ", ".join(f"“{t}”" for t in missing[:4])
        parts.append(f"These passages do not mention {named}: that part may not be in the docs.")
    return "\n\n".join(parts)
