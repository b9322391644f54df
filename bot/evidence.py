"""Do the passages found actually address the question? The abstention gate's evidence.

A cosine floor cannot tell "the docs answer this" from "the docs talk about things
like this": on a company's own docs every question shares domain vocabulary with some
page (issue 12: best cosine of unanswerable questions median 0.58, answerable 0.72).
What separates them is whether the question's *distinctive* words — the ones rare in
this corpus, or absent from it ("Jaeger", "Vault", "Berlin") — are in the passages
that would be shown. A word's rarity is read from the store's own FTS5 index (how
many chunks match it, with the same porter stemming the search uses), so it is
calibrated to each corpus without training, and the same words matched in a passage
are matched the way BM25 matches them.

:func:`weigh` scores each passage by the share of the question's inverse document
frequency (IDF) mass it covers; the gate in ``bot/answer.py`` combines that with the
dense similarity relative to the embedder's own floor. The figures behind the
thresholds are in docs/BENCHMARKS.md ("Answers").
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.retrieve import fts_query
from ingest.models import Hit
from ingest.store.contract import StoreContract

QUESTION_WORDS = frozenset(
    """about actually after again all also am any anyone anything around back been before
    being both but could did doing each else ever every few get gets getting give go going
    got had has have having here him his her hers into just know let like lot make many
    may might more most much must need needs new no not now off one only other out over
    own please same say see she some someone something still such supposed take tell than
    them then these they thing things those through too two under up us use used using
    very want way well were whom would yes yet""".split()  # noqa: SIM905
)
"""Words of how people ask, not of what they ask about: they carry no evidence either
way (a page need not say "actually" to answer), so they are left out of the terms."""

RARE_SHARE = 0.001
"""A term in at most this share of the corpus's chunks (0.1%: 9 of the handbook's 9,306)
is distinctive, and so is one in none."""
ANCHOR_SHARE = 0.002
"""A term in at most this share of the chunks (or in one chunk, in a small corpus) that a
passage found does contain anchors the answer to the question's subject: the answer is
then given, naming what is missing, instead of abstaining."""
MISSING_IDF = 0.3
"""Abstain when distinctive terms that no passage found contains carry at least this
share of the question's IDF mass, and no passage holds an anchoring term. The three
values were chosen on the even-numbered questions of benchmarks/handbook-answers and
checked on the odd ones (docs/BENCHMARKS.md, "Answers")."""


_TOKEN = re.compile(r'"([^"]+)"')


def content_terms(question: str) -> list[str]:
    """The question's words as the search sees them, less the asking words."""
    return [
        t
        for t in _TOKEN.findall(fts_query(question))
        if (t not in QUESTION_WORDS and not t.isdigit()) or (t.isdigit() and len(t) >= 3)
    ]


@dataclass
class Evidence:
    """The question's terms, their rarity in the corpus, and which passages hold them."""

    terms: list[str]
    chunk_counts: dict[str, int]
    """How many chunks of the whole store match each term (0: the corpus never uses it)."""
    total_chunks: int
    covered: dict[int, set[str]] = field(default_factory=dict)
    """Per chunk id of the passages weighed: the question terms it matches."""

    def idf(self, term: str) -> float:
        """Smoothed inverse chunk frequency, 0 for a word in every chunk, largest for
        a word in none."""
        n = self.chunk_counts.get(term, 0)
        return math.log((self.total_chunks + 1) / (n + 1))

    @property
    def max_idf(self) -> float:
        return math.log(self.total_chunks + 1)

    def absent(self) -> list[str]:
        """Terms no chunk of the corpus contains."""
        return [t for t in self.terms if self.chunk_counts.get(t, 0) == 0]

    def distinctive(self, share: float) -> list[str]:
        """Terms in at most ``share`` of all chunks (absent ones included), rarest first."""
        limit = share * self.total_chunks
        rare = [t for t in self.terms if self.chunk_counts.get(t, 0) <= limit]
        return sorted(rare, key=lambda t: self.chunk_counts.get(t, 0))

    def coverage(self, chunk_ids: Sequence[int]) -> float:
        """Share of the question's IDF mass matched by the union of these passages."""
        total = sum(self.idf(t) for t in self.terms)
        if total <= 0:
            return 1.0
        held: set[str] = set()
        for cid in chunk_ids:
            held |= self.covered.get(cid, set())
        return sum(self.idf(t) for t in held) / total

    def missing_share(self, chunk_ids: Sequence[int], share: float) -> float:
        """Share of the question's IDF mass in distinctive terms none of these
        passages contains: the gate's measure of what the passages leave out."""
        total = sum(self.idf(t) for t in self.terms)
        if total <= 0:
            return 0.0
        return sum(self.idf(t) for t in self.missing(chunk_ids, share)) / total

    def anchored(self, chunk_ids: Sequence[int], share: float) -> list[str]:
        """Terms in at most ``share`` of all chunks (at least: in one) that these
        passages contain: evidence they are about what the question is about."""
        limit = max(share * self.total_chunks, 1)
        held: set[str] = set()
        for cid in chunk_ids:
            held |= self.covered.get(cid, set())
        return [t for t in self.terms if t in held and self.chunk_counts.get(t, 0) <= limit]

    def looked_for(self, limit: int = 4) -> list[str]:
        """The terms to name when nothing answers: the rarest in the corpus first."""
        return sorted(self.terms, key=lambda t: self.chunk_counts.get(t, 0))[:limit]

    def missing(self, chunk_ids: Sequence[int], share: float) -> list[str]:
        """Distinctive terms none of these passages contains, rarest first."""
        held: set[str] = set()
        for cid in chunk_ids:
            held |= self.covered.get(cid, set())
        return [t for t in self.distinctive(share) if t not in held]


def weigh(store: StoreContract, question: str, hits: Sequence[Hit]) -> Evidence:
    """The evidence for ``question`` in ``hits``, read from the store's FTS index."""
    terms = list(dict.fromkeys(content_terms(question)))
    counts, covered = store.term_frequencies(terms, [h.chunk_id for h in hits])
    return Evidence(
        terms=terms, chunk_counts=counts, total_chunks=store.chunk_count(), covered=covered
    )


_LEAD_IN = re.compile(r"^\s*(#{1,6}\s.+|\*\*[^*]+\*\*:?|__[^_]+__:?|.*:)\s*$")


def lead_in(store: StoreContract, hit: Hit) -> str:
    """The line that gives a passage its meaning when the chunker cut it from it: for a
    chunk that starts inside a list, the previous chunk's last line if it introduces the
    list ("**Do not:**", "## Steps", "... as follows:"); else ''."""
    first = next((line for line in hit.text.splitlines() if line.strip()), "")
    if not re.match(r"\s*(\d+[.)]|[-*+])\s", first):
        return ""
    previous = store.previous_chunk_text(hit.chunk_id)
    if previous is None:
        return ""
    last = next((line for line in reversed(previous.splitlines()) if line.strip()), "")
    return last.strip() if _LEAD_IN.match(last) and len(last) <= 200 else ""


# --- expected answer type ----------------------------------------------------------
#
# Every word of "How much does COBRA cost per month?" can be in a page about COBRA that
# gives no amount: term coverage cannot see that gap. Classic QA answer-type checking
# can: the question's wording says what kind of text answers it (an amount, a number, a
# date, an identifier), and a passage that answers holds text of that kind in the same
# sentence, list item or table row as one of the question's rarer terms.

_WH = re.compile(
    r"(^|[,.;:?!]\s*|\b(and|but|so|or)\s+)\W*((at|by|for|in|on|to|from|until|of)\s+)?"
    r"(what|what's|whats|which|how|when|who|whom|where)\b"
)
"""A question word opening the question or one of its clauses ("..., by when do I"),
not a relative pronoun inside a yes/no question ("is there budget for teammates who
live nearby?")."""
_HOW_MUCH = re.compile(r"\bhow much\b")
_MONEY_VERB = re.compile(
    r"\b(cost|costs|price|fee|fees|charge|charged|worth|money|salary|spend|put into"
    r"|contribute|contributes|reimburse|reimbursed)\b"
)
_MONEY_NOUN = re.compile(
    r"\b(cost|costs|price|prices|pricing|fee|fees|salary|salaries|deductible|stipend"
    r"|allowance|rate|budget|limit|maximum|payout|subsidy|amount)\b"
)
_IDENTIFIER = re.compile(
    r"\bwhat(?:'s| is| are)\b[^?]*\b(id|ids|password|passcode|pin"
    r"|(?:phone|account|serial|duns|tax|vat|routing) number)\b(?! of)"
)
_WHO = re.compile(r"\b(who|whom|whose)\b")
_TIME = re.compile(
    r"\b(when (is|are|was|were|will|does|do|did)\b|what (date|dates|day|days|time|hours"
    r"|month|year)\b|which (date|day|month|year)\b|exact dates?|by when|deadline"
    r"|how (many|long|often|soon|early|late|quickly|fast|far|big|large|old)\b)"
)


_CONTRACTED = frozenset(
    "doesn don isn aren won didn wasn weren shouldn couldn ll ve re".split()  # noqa: SIM905
)
"""What the search's tokenizer leaves of "doesn't", "I'll": no subject."""


def wanted_types(question: str) -> list[str]:
    """The kinds of text that would answer ``question`` (empty: no constraint):
    ``amount`` (money or a share: "how much does X cost", "what's the fee"),
    ``identifier`` ("what's the meeting ID"), ``time`` (a date, time, duration or
    count: "when is", "how long", "how many"). Yes/no questions ("is there a budget
    for ...?"), procedures ("how do I ...") and definitions want none: their answer
    can be a sentence without any of these. A question asking two things wants any
    of its types."""
    q = question.lower().replace("\u2019", "'")
    if not _WH.search(q):
        return []
    wanted: list[str] = []
    if _HOW_MUCH.search(q):
        money = _MONEY_VERB.search(q) or _MONEY_NOUN.search(q)
        wanted.append("amount" if money else "time")
    elif _MONEY_NOUN.search(q):
        wanted.append("amount")
    if _IDENTIFIER.search(q):
        wanted.append("identifier")
    if _TIME.search(q) and "time" not in wanted:
        wanted.append("time")
    if wanted and _WHO.search(q):
        wanted.append("person")  # "what fee ..., and who signs off?": either part answers
    return wanted


_MONEY = (
    r"[$€£¥₹]\s?\d|\d\s?(%|percent|usd|eur|gbp|dollars?|euros?|pounds?)\b|\b\d+(\.\d+)?x\b"
    r"|\b\d{1,3}(,\d{3})+\b"
)
_MONEY_MAGNITUDE = r"|\b\d+(\.\d+)?k\b"
"""A bare "5k" read as money (before): in company docs it is more often a count ("4.5k -
9k employees", "50k results") or a name ("401k"), and "$5k" is money by its sign
anyway. Kept as a setting only to measure the change (``BARE_K_IS_MONEY``)."""
BARE_K_IS_MONEY = False
_NUMBER_WORD = (
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty"
    r"|forty|fifty|sixty|ninety|hundred|thousand|once|twice|half|dozen|single"
)
_CALENDAR = (
    r"january|february|march|april|june|july|august|september|october|november|december"
    r"|jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec|monday|tuesday|wednesday|thursday"
    r"|friday|saturday|sunday|daily|weekly|biweekly|monthly|quarterly|annually|yearly"
    r"|quarter|noon|midnight"
)
_FOUND: dict[str, re.Pattern[str]] = {
    "amount": re.compile(_MONEY, re.IGNORECASE),
    "amount+k": re.compile(_MONEY + _MONEY_MAGNITUDE, re.IGNORECASE),
    "identifier": re.compile(r"\d{4,}|\b[A-Z0-9]{2,}-[A-Z0-9-]{3,}\b|\S+@\S+\.\w+"),
    "time": re.compile(rf"\d|\b({_NUMBER_WORD}|{_CALENDAR})\b", re.IGNORECASE),
    # Lenient on purpose: a "who" part only keeps a two-part question ("what fee ...,
    # and who signs off?") from abstaining when the other part's type is missing.
    "person": re.compile(
        r"\b(VP|Head|Director|Manager|Lead|Partner|Owner|Officer|Chief|CEO|CTO|CFO|COO"
        r"|[A-Z][a-z]+ [A-Z][a-z]+)\b|@\w+"
    ),
}
"""The text of each kind in a passage: money or a share for an amount; a long number,
code or address for an identifier; any number, number word, month, weekday or
frequency for a time, duration or count; a role or a name for a person."""

DESCRIBED = {
    "amount": "an amount",
    "identifier": "an identifier",
    "time": "a date, time or number",
    "person": "a person or role",
}
"""How the not-found message names what the passages lacked."""

_TYPE_WORDS = frozenset(
    """cost costs price prices pricing fee fees rate budget limit maximum id ids password
    passcode pin code number date dates day days time hours month year exact deadline
    long often soon early late quickly fast far much per""".split()  # noqa: SIM905
)
"""Words that name the type asked for rather than the subject: not used to find the
sentence that should hold the answer."""


TYPE_SHARE = 0.2
"""The answer a question's wording asks for must sit in a sentence, list item or table
row (or under a heading) with subject terms of the question carrying this share of
their IDF mass (docs/BENCHMARKS.md, "Answers": every share from 0.1 to 0.25 gives the
same figures on the even half; 0.2 is the middle of that plateau)."""

_UNIT_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9`*\[(\"'])|\n+")


def units(text: str) -> list[str]:
    """Sentences, list items and table rows of a passage: where a fact and what it is
    about sit together."""
    return [u.strip() for u in _UNIT_SPLIT.split(text) if u and u.strip()]


_LIST_MARK = re.compile(r"^\s*(\d+[.)]|[-*+]|#+)\s+")
NEAR = 1
"""A typed unit's neighbours on either side count as its context: "We cannot require any
notice. However, we encourage 2 weeks." holds the answer one sentence after its subject."""
_LINK_TARGET = re.compile(r"\]\([^)\s]*\)|<?https?://\S+")
_CONTACT = re.compile(
    r"\S+@\S+\.\w+"
    r"|(?<![\w-])(?:\+?\d{1,3}[-. ]?)?\(?\d{3}\)?[-. ]\d{3}[-. ]\d{4}(?![\w-])"
    r"|(?<![\w-])\+\d{1,3}(?:[-. ]\(?\d{1,4}\)?){2,}(?![\w-])"
)
"""An email address or a phone number ("1-844-891-3044", "+44 20 7946 0958"): the way
to reach someone, not a time, a count or an amount. It still counts as an identifier
("what's the support phone number?") and as a person's contact."""
CONTACTS_ARE_NO_TIME = True
"""Whether the digits of a phone number or an email address are left out when looking
for a time, a count or an amount ("what hours is the advocate team open?" was answered
from the team's phone number). A setting only to measure the change."""


def holds_type(text: str, wanted: Sequence[str]) -> bool:
    """True when ``text`` (less link targets and list marks) holds text of one of the
    ``wanted`` kinds; for an amount or a time, less phone numbers and email addresses
    too (they are an identifier, or the way to reach a person)."""
    plain = _LIST_MARK.sub("", _LINK_TARGET.sub("]", text))
    reachable = _CONTACT.sub(" ", plain) if CONTACTS_ARE_NO_TIME else plain
    for w in wanted:
        kind = "amount+k" if w == "amount" and BARE_K_IS_MONEY else w
        if _FOUND[kind].search(plain if w in ("identifier", "person") else reachable):
            return True
    return False


def typed_units(
    store: StoreContract,
    question: str,
    evidence: Evidence,
    hits: Sequence[Hit],
    share: float = TYPE_SHARE,
    about: Sequence[Name] = (),
) -> tuple[list[str], list[str]]:
    """(types wanted, the units of ``hits`` that hold one of them together with
    question subject terms carrying at least ``share`` of the subject terms' IDF mass;
    a unit's section heading counts as part of it). Link targets are not answer text
    (a URL's digits are no identifier). Terms are matched with the FTS5 porter
    stemming the search uses (``store.texts_holding``). With ``about`` (the question's
    rare names: "COBRA"), the unit's context must also hold one of them: an amount next
    to "leave" and "month" is not COBRA's cost."""
    wanted = wanted_types(question)
    if not wanted:
        return [], []
    subject = [
        t
        for t in evidence.terms
        if t not in _TYPE_WORDS and not t.isdigit() and len(t) > 1 and t not in _CONTRACTED
    ]
    candidates: list[tuple[str, str]] = []
    for h in hits:
        heading = h.section.rsplit(" > ", 1)[-1]
        parts = units(h.text)
        for i, u in enumerate(parts):
            if holds_type(u, wanted):
                near = "\n".join(parts[max(i - NEAR, 0) : i + NEAR + 1])
                candidates.append((u, f"{heading}\n{_LINK_TARGET.sub(']', near)}"))
    total = sum(evidence.idf(t) for t in subject)
    if not candidates or total <= 0 or share <= 0:
        return wanted, [c[0] for c in candidates]
    held: dict[int, float] = {}
    phrases = [name.phrase for name in about]
    found = store.texts_holding([context for _, context in candidates], [*subject, *phrases])
    for term in subject:
        for i in found.get(term, ()):
            held[i] = held.get(i, 0.0) + evidence.idf(term)
    if about:
        named: set[int] = set()
        for phrase in phrases:
            named |= found.get(phrase, set())
        held = {i: v for i, v in held.items() if i in named}
    return wanted, [candidates[i][0] for i in sorted(held) if held[i] / total >= share]


# --- names the question asks about ---------------------------------------------------
#
# A rare-term test weighs words one by one: "Microsoft Teams" passes on a page with
# "Microsoft" in one sentence and "teams" everywhere, "the People Partner for the Data &
# Analytics team" on the Data & Analytics page that names no People Partner, "the 2024
# offsite" on a page about the 2022 one. What such questions ask about is a *name*: a
# run of capitalised words, a code with digits ("FY25", "I-9"), or a year modifying a
# noun. A name is one thing; its words apart are not evidence for it.

_NAME_TOKEN = re.compile(r"[#@]?[A-Za-z0-9][\w'’-]*|&")
_NOT_NAME = frozenset({"I", "I'm", "I've", "I'd", "I'll", "I’m", "I’ve", "I’d", "I’ll"})
_YEAR = re.compile(r"(19|20)\d\d")
_CODE = re.compile(r"[A-Za-z][A-Za-z-]*\d[\w-]*")
_POSSESSIVE = re.compile(r"['’]s$")
_FUNCTION_WORDS = frozenset(
    """a an the and or but to of in on at for from with by is are do does can my your our
    how what when where who why which""".split()  # noqa: SIM905
)
"""Words a name does not hold capitalised: one in capitals mid-sentence means the
question is in Title Case or all capitals, so capitals mark no names."""

_AFTER_YEAR = frozenset(
    """and or but so the a an to of in on at for with by from as is are was were if
    then than that this""".split()  # noqa: SIM905
)
"""Words after a year that show it is not a modifier ("in 2020 and ...")."""


@dataclass(frozen=True)
class Name:
    """A name in a question: ``kind`` is ``phrase`` (two or more capitalised words),
    ``word`` (one capitalised word), ``code`` (letters with digits) or ``year`` (a year
    before a noun: "the 2024 offsite")."""

    text: str
    kind: str

    @property
    def phrase(self) -> str:
        """The name's words, matched by the store as one phrase (the lexical search's own
        tokenizer splits it the same)."""
        return " ".join(re.findall(r"\w+", self.text.lower()))


def names(question: str) -> list[Name]:
    """The names ``question`` asks about. A capitalised word opening a sentence is not
    taken (it may be capitalised only for that), nor "I"; a possessive ends a name
    ("Sourcegraph's DUNS number": two names); "&" joins ("Data & Analytics"). A year
    counts only before a content word ("the 2024 offsite", not "I joined in 2020 and")."""
    tokens = [(m.group(), m.start()) for m in _NAME_TOKEN.finditer(question)]
    # "How Do I Reset My Okta Password?", "WHERE IS THE VPN GUIDE": when a function word
    # is capitalised mid-sentence, capitals say nothing about names (codes and years
    # still do).
    cased = not any(
        t[:1].isupper()
        and t.lower() in _FUNCTION_WORDS
        and question[:at].rstrip()[-1:] not in ".?!:;"
        for t, at in tokens[1:]
    )
    found: list[Name] = []
    run: list[str] = []

    def close() -> None:
        while run and run[-1] == "&":
            run.pop()
        if len(run) > 1:
            found.append(Name(" ".join(run), "phrase"))
        elif run:
            found.append(Name(run[0], "code" if _CODE.fullmatch(run[0]) else "word"))
        run.clear()

    for i, (token, at) in enumerate(tokens):
        before = question[:at].rstrip()
        opening = not before or before[-1] in '.?!:;"(\n'
        word = _POSSESSIVE.sub("", token.lstrip("#@"))
        if _YEAR.fullmatch(word):
            close()
            nxt = tokens[i + 1][0].lower() if i + 1 < len(tokens) else ""
            if nxt and nxt[0].isalpha() and nxt not in _AFTER_YEAR:
                found.append(Name(word, "year"))
            continue
        capital = cased and word[:1].isupper() and not opening and token not in _NOT_NAME
        if (capital or (_CODE.fullmatch(word) and not word[:1].isdigit())) and word:
            run.append(word)
            if word != token.lstrip("#@"):
                close()  # "Sourcegraph's": the possessive ends the name
        elif token == "&" and run:
            run.append("&")
        else:
            close()
    close()
    return found


@dataclass(frozen=True)
class NameCounts:
    """A question's names counted once, for both name checks: how many chunks of the
    corpus hold each name (and each word of a phrase), and which of them the passages
    found hold. Counting is a whole-corpus lookup per term, so it is done once per
    question, not once per check."""

    found: list[Name]
    counts: dict[str, int]
    shown: set[str]
    words: dict[str, list[str]]


def count_names(store: StoreContract, question: str, hits: Sequence[Hit]) -> NameCounts:
    """Count the names of ``question`` in the corpus and in ``hits``."""
    found = names(question)
    words = {n.phrase: re.findall(r"\w+", n.text.lower()) for n in found if n.kind == "phrase"}
    if not found:
        return NameCounts(found, {}, set(), words)
    every = [n.phrase for n in found] + [w for ws in words.values() for w in ws]
    ids = [h.chunk_id for h in hits]
    counts, covered = store.term_frequencies(list(dict.fromkeys(every)), ids)
    shown: set[str] = set().union(*covered.values()) if covered else set()
    return NameCounts(found, counts, shown, words)


def unmet_names(
    store: StoreContract,
    question: str,
    hits: Sequence[Hit],
    counted: NameCounts | None = None,
) -> list[str]:
    """The names of ``question`` the passages ``hits`` do not bear out, when that means
    the docs do not answer it (empty: nothing against answering):

    - a phrase all of whose words the corpus uses, not found as a phrase in any
      passage ("Microsoft Teams", "People Partner" on a page that names neither);
    - a code or a year modifying a noun that no passage contains ("FY25", "2024");
    - a name the corpus never uses ("Gusto"), unless another name of the question is
      in a passage ("TSA PreCheck or Global Entry": the page may spell one otherwise).

    A phrase with a word the corpus never uses is left to the rare-term gate, which
    already weighs that word (the page may spell it otherwise: "Pre-Check")."""
    if not hits:
        return []
    counted = counted or count_names(store, question, hits)
    counts, words = counted.counts, counted.words
    unmet: list[str] = []
    absent: list[str] = []
    met = False
    for name in counted.found:
        if name.phrase in counted.shown:
            met = True
            continue
        if name.kind in ("code", "year"):
            unmet.append(name.text)
        elif name.kind == "phrase":
            if all(counts.get(w, 0) for w in words[name.phrase]):
                unmet.append(name.text)
        elif counts.get(name.phrase, 0) == 0:
            absent.append(name.text)
    if absent and not met:
        unmet.extend(absent)
    return unmet


def rare_names(
    store: StoreContract, question: str, share: float, counted: NameCounts | None = None
) -> list[Name]:
    """The question's names that at most ``share`` of the corpus's chunks use (and at
    least one does): what its answer must be about ("COBRA", "Clari"), unlike common
    names ("Sourcegraph", "US") that say little. ``counted``: the counts
    :func:`count_names` already made for this question."""
    counted = counted or count_names(store, question, [])
    if not counted.found:
        return []
    total = store.chunk_count()
    limit = max(share * total, 1)
    return [n for n in counted.found if 0 < counted.counts.get(n.phrase, 0) <= limit]


# --- the question's words together ---------------------------------------------------
#
# Every check above weighs the passages shown as one bag of words. "do engineers get
# extra pay for being on call?" passes them all on passages about the on-call rotation
# ("on-call engineer") and a payroll form ("Pay Rate", "the cost of extra hours"): each
# word is somewhere, no place says anything about extra pay for being on call. A
# passage that addresses a question holds its words *together*: in one sentence, list
# item or table row with its neighbours and its heading (the unit the answer-type
# check uses). Words that are only ever apart mean the passages are about near
# subjects, not about the question.

_CLAUSE_BREAK = re.compile(
    r"[,;:?!.](?=\s|$)|\b(?:once|when|whenever|if|while|because|since|after|before|until|unless"
    r"|though|although)\b",
    re.IGNORECASE,
)
"""Where a question's clause ends: punctuation before a space or the end ("sourcegraph.com"
and "10:30" stay whole), or a word opening a subordinate clause
("should I mark the page resolved *once I've fixed the problem*?"). A passage may answer
the main ask without restating its condition, so each clause is weighed on its own."""

TOGETHER_SHARE = 0.5
"""Abstain when, for every clause of the question, the best sentence window of the
passages shown holds less than this share of the IDF mass of the clause's terms that
the passages hold at all: less than half of what they have of the question is ever in
one place (docs/BENCHMARKS.md, "The question's words together")."""


_ASKED = re.compile(
    r"(?:^|[,.;:?!]\s*|\b(?:and|but|so|or)\s+)\W*(?:(?:at|by|for|in|on|to|from|of)\s+)?"
    r"(?:what|which|whose)\s+((?:(?:kinds?|sorts?|types?)\s+of\s+)?\w+)"
)
"""The noun a question word opening a clause asks for ("what *cut* does a partner get",
"which *countries* ..."; not "can my manager see what websites I visit"): it names the
kind of answer, which a page gives as a value ("10%", "Cuba") and seldom by that word,
like the type words of the answer-type check."""

SPLIT_CLAUSES = True
"""Whether each clause is weighed on its own (else the whole question is one clause); a
setting only to measure the choice."""
ASKED_NOUN = True
"""Whether the noun a question word asks for is left out of the clause's terms; a
setting only to measure the choice."""


def clauses(question: str) -> list[list[str]]:
    """The content terms of each clause of ``question`` (clauses split at punctuation
    and at subordinating words), in order; clauses without terms left out."""
    pieces = _CLAUSE_BREAK.split(question) if SPLIT_CLAUSES else [question]
    parts = [p for p in pieces if p and p.strip()]
    asked = (
        {w for m in _ASKED.finditer(question.lower()) for w in m.group(1).split()}
        if ASKED_NOUN
        else set()
    )
    terms = [
        [t for t in dict.fromkeys(content_terms(p)) if t not in _CONTRACTED and t not in asked]
        for p in parts
    ]
    return [t for t in terms if t]


@dataclass(frozen=True)
class Together:
    """How much of the question the passages hold in one place: ``share`` (the best
    clause's share, 1.0 when no clause has two terms the passages hold), the clause's
    terms the passages hold (``held``) and those of its best window (``window``)."""

    share: float
    held: list[str]
    window: list[str]

    def apart(self, evidence: Evidence) -> list[str]:
        """The held terms, rarest in the corpus first: what to name when they are
        never together."""
        return sorted(self.held, key=lambda t: evidence.chunk_counts.get(t, 0))


def together(
    store: StoreContract,
    question: str,
    evidence: Evidence,
    passages: Sequence[tuple[str, str]],
    near: int = NEAR,
) -> Together:
    """The share of the question's words the passages ``(heading, text)`` hold *in one
    place*: for each clause, the IDF mass of its terms in the best window (a unit of a
    passage, ``near`` units either side and the passage's heading) over the IDF mass
    of its terms in any passage; the best clause counts. Terms are matched with the
    search's porter stemming (``store.texts_holding``)."""
    terms = evidence.terms
    pieces: list[str] = []
    spans: list[tuple[int, int, int]] = []  # per passage: heading index, first unit, end
    for heading, text in passages:
        first = len(pieces)
        pieces.append(heading)
        pieces.extend(units(text))
        spans.append((first, first + 1, len(pieces)))
    found = store.texts_holding(pieces, terms) if pieces and terms else {}
    best = Together(1.0, [], [])
    scored = False
    for clause in clauses(question):
        held = [t for t in dict.fromkeys(clause) if t in terms and found.get(t)]
        mass = sum(evidence.idf(t) for t in held)
        if len(held) < 2 or mass <= 0:
            continue
        window: list[str] = []
        top = 0.0
        for title, start, end in spans:
            for i in range(start, end):
                rows = {title, *range(max(i - near, start), min(i + near + 1, end))}
                inside = [t for t in held if found[t] & rows]
                value = sum(evidence.idf(t) for t in inside)
                if value > top:
                    top, window = value, inside
        share = top / mass
        if not scored or share > best.share:
            best, scored = Together(share, held, window), True
    return best
