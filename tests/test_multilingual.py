"""Keyword retrieval in other languages: German and Spanish (diacritics), Arabic,
and Chinese and Japanese (no spaces between words: bigram index). With an
English-only embedder, a question in a non-Latin script is ranked by BM25 alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.retrieve import Retriever, cjk_query
from ingest.languages import cjk_bigrams, has_cjk, latin_share
from ingest.models import Document
from ingest.sources import Scan, Source
from ingest.store import Store
from ingest.sync import sync_source
from tests.fakes.embedders import HashEmbedder

DOCS = {
    "de-reise": (
        "Reisekosten",
        "Die Reisekostenabrechnung muss innerhalb von vier Wochen "
        "eingereicht werden. Überstunden werden mit Freizeit ausgeglichen.",
    ),
    "es-vacaciones": (
        "Vacaciones",
        "Cada empleado tiene derecho a veintidós días de "
        "vacaciones pagadas al año; la solicitud se envía al jefe de área.",
    ),
    "ar-remote": (
        "العمل عن بعد",
        "يمكن للموظفين العمل من المنزل يومين في الأسبوع بعد موافقة المدير المباشر.",
    ),
    "zh-leave": ("年假制度", "员工每年享有十五天带薪年假。请通过人事系统提交休假申请。"),
    "ja-expenses": ("経費精算", "経費精算は毎月末までに提出してください。領収書の原本が必要です。"),
    "en-vpn": ("VPN", "Connect to the VPN with TunnelGate before you deploy to production."),
    "en-meals": ("Meals", "The meal allowance is 75 dollars per travel day."),
}


class ListSource(Source):
    def __init__(self, name: str, docs: list[Document]) -> None:
        self.name, self.docs = name, docs

    def scan(self, cursor: str | None = None, *, full: bool = False) -> Scan:
        return Scan(documents=list(self.docs), total=len(self.docs))


class EnglishOnlyEmbedder(HashEmbedder):
    """Stands in for MiniLM: says it cannot read other scripts."""

    multilingual = False


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "kb.db")
    docs = [
        Document(source="docs", doc_id=doc_id, title=title, url=f"https://x/{doc_id}", body=body)
        for doc_id, (title, body) in DOCS.items()
    ]
    report = sync_source(store, ListSource("docs", docs), EnglishOnlyEmbedder())
    assert report.error is None
    return store


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Reisekostenabrechnung einreichen", "de-reise"),
        ("uberstunden", "de-reise"),  # typed without the umlaut
        ("vacaciones pagadas", "es-vacaciones"),
        ("dias de vacaciones", "es-vacaciones"),  # días without the accent
        ("العمل من المنزل", "ar-remote"),
        ("带薪年假", "zh-leave"),  # no spaces: found through bigrams
        ("怎么申请年假", "zh-leave"),  # a question around the two-character word
        ("経費精算の締め切り", "ja-expenses"),
        ("領収書", "ja-expenses"),
    ],
)
def test_keyword_search_finds_the_page_in_its_language(
    store: Store, query: str, expected: str
) -> None:
    result = Retriever(store, EnglishOnlyEmbedder()).search(query, k=len(DOCS))
    best_keyword_match = max(result.hits, key=lambda h: h.scores["bm25"])
    assert best_keyword_match.doc_id == expected
    assert best_keyword_match.scores["bm25"] > 0
    if latin_share(query) < 0.5:  # ranked by BM25 alone: first
        assert result.hits[0].doc_id == expected


def test_a_non_latin_question_is_ranked_by_bm25_alone(store: Store) -> None:
    retriever = Retriever(store, EnglishOnlyEmbedder())
    assert retriever.weights("العمل من المنزل")[0] == 0.0
    assert retriever.weights("带薪年假")[0] == 0.0
    assert retriever.weights("Reisekostenabrechnung einreichen")[0] > 0
    assert not retriever.search("العمل من المنزل", k=3).dense_trusted
    assert retriever.search("VPN TunnelGate", k=3).dense_trusted
    # A multilingual embedder keeps its dense side for every script.
    assert Retriever(store, HashEmbedder()).weights("带薪年假")[0] > 0


def test_cjk_text_is_indexed_as_bigrams() -> None:
    assert cjk_bigrams("東京都に住む") == ["東京", "京都", "都に", "に住", "住む"]
    assert cjk_bigrams("VPN 设置 A") == ["设置"]
    assert cjk_bigrams("猫") == ["猫"]
    assert cjk_bigrams("no cjk here") == []
    assert cjk_query('年假" OR *') == '"年假"'
    assert has_cjk("ｶﾀｶﾅ") and not has_cjk("Überstunden")


def test_script_share() -> None:
    assert latin_share("Überstunden café") == 1.0
    assert latin_share("العمل عن بعد") == 0.0
    assert latin_share("VPN 设置") == pytest.approx(3 / 5)
    assert latin_share("42 !") == 1.0


def test_an_upgraded_store_indexes_its_existing_cjk_chunks(tmp_path: Path, store: Store) -> None:
    """m003 backfills the bigram index and vector codes of chunks stored before it."""
    conn = store.conn
    for table in ("chunks_cjk", "chunk_codes", "chunk_vectors"):
        conn.execute(f"DROP TABLE {table}")
    conn.execute("DELETE FROM _migrations WHERE name = 'm003_search_indexes'")
    store.close()
    reopened = Store(store.path)
    assert reopened.cjk_search('"年假"', 5)
    (codes,) = reopened.conn.execute("SELECT count(*) FROM chunk_codes").fetchone()
    (chunks,) = reopened.conn.execute("SELECT count(*) FROM chunks").fetchone()
    assert codes == chunks
    vector = EnglishOnlyEmbedder().embed_query("meal allowance travel")
    coarse, exact = (
        reopened.vector_search(vector, 3, exact=False),
        reopened.vector_search(vector, 3),
    )
    assert coarse[0][0] == exact[0][0]  # (lower ranks tie on these hashed vectors)
    assert [s for _, s in coarse] == pytest.approx([s for _, s in exact], abs=1e-6)


def test_cjk_scores_are_real_bm25_scores(store: Store) -> None:
    """The bigram index holds a row per chunk, so a rare bigram has a real IDF (with
    only CJK chunks counted, a bigram in 1 of 2 documents would score ~0)."""
    (score,) = [s for _, s in store.cjk_search(cjk_query("带薪年假"), 5)]
    assert score > 1.0


def test_answers_in_a_language_the_embedder_cannot_read_need_shared_words(
    tmp_path: Path,
) -> None:
    """An Arabic question with no word in the docs abstains; one with shared words answers."""
    from bot.answer import Answerer
    from bot.retrieve import Retriever
    from ingest.sources.markdown import MarkdownSource
    from ingest.store import Store
    from ingest.sync import sync_source
    from tests.fakes.embedders import HashEmbedder

    docs = tmp_path / "docs"
    docs.mkdir()
    body = "يحصل كل موظف على ثلاثين يوما من الإجازة السنوية."
    (docs / "leave.md").write_text(f"# الإجازات\n\n{body}\n")
    store = Store(tmp_path / "db.sqlite")
    embedder = HashEmbedder()
    embedder.multilingual = False
    sync_source(store, MarkdownSource("docs", docs), embedder)
    answerer = Answerer(Retriever(store, embedder))
    assert answerer.ask("كم يوما من الإجازة السنوية؟").answer.abstained is False
    assert answerer.ask("ما هي عاصمة فرنسا؟").answer.abstained is True
