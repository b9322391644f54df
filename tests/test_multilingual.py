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


# --- a question's terms weighed in its own language (Fusion.language_idf) ----------

ENGLISH_PAGES = {
    "en-vpn": ("VPN", "Connect to the VPN with the TunnelGate client before you deploy."),
    "en-meals": ("Meals", "The meal allowance is 75 dollars per travel day."),
    "en-laptop": ("Laptops", "New hires receive a laptop on their first day at work."),
    "en-badge": ("Badges", "A lost office badge is replaced by the front desk."),
    "en-parking": ("Parking", "Parking spaces are assigned by the facilities team."),
    "en-wifi": ("Guest wifi", "Visitors use the guest network; its password changes weekly."),
    "en-pto": ("Time off", "Request time off in the HR portal two weeks in advance."),
    "en-payroll": ("Payroll", "Salaries are paid on the last working day of the month."),
    "en-oncall": ("On-call", "The on-call engineer answers pages within fifteen minutes."),
    "en-security": ("Security", "Report a phishing email to the security team at once."),
}
SPANISH_PAGES = {
    "es-cafeteria": (
        "Cafetería",
        "La cafetería de la oficina abre de lunes a viernes; el menú del día se "
        "publica en la intranet y se paga con la tarjeta de empleado.",
    ),
    "es-mudanza": (
        "Mudanza",
        "Para la mudanza de la oficina, cada equipo recibe cajas y etiquetas; el "
        "traslado de los muebles lo organiza el equipo de instalaciones.",
    ),
    "es-formacion": (
        "Formación",
        "El presupuesto de formación es de mil euros al año por persona; la solicitud "
        "se envía al responsable del equipo antes de la inscripción.",
    ),
}


class MultilingualHash(HashEmbedder):
    """Stands in for the multilingual model: a second vector set of its own id."""

    multilingual = True

    def __init__(self) -> None:
        super().__init__(model_id="test:multilingual-hash")


def mixed_store(tmp_path: Path, pages: dict[str, tuple[str, str]]) -> Store:
    """``pages`` synced, with both vector sets (each chunk's language recorded)."""
    from ingest.multilingual import fill_multilingual

    store = Store(tmp_path / "mixed.db")
    docs = [
        Document(source="docs", doc_id=doc_id, title=title, url=f"https://x/{doc_id}", body=body)
        for doc_id, (title, body) in pages.items()
    ]
    assert sync_source(store, ListSource("docs", docs), EnglishOnlyEmbedder()).error is None
    fill_multilingual(store, MultilingualHash())
    return store


def keyword_ranking(store: Store, question: str, *, language_idf: bool) -> list[str]:
    """The documents BM25 alone ranks for ``question`` on the multilingual path."""
    from bot.retrieve import Fusion

    fusion = Fusion(dense_weight=0.0, lexical_weight=1.0, language_idf=language_idf)
    retriever = Retriever(store, EnglishOnlyEmbedder(), fusion, multilingual=MultilingualHash())
    result = retriever.search(question, k=5)
    assert result.language == "es"  # the multilingual path read it
    return [hit.doc_id for hit in result.hits if hit.scores["bm25"] > 0]


def test_the_function_words_of_a_minority_language_weigh_little(tmp_path: Path) -> None:
    """A Spanish question about an English page: by store-wide IDF, its function words
    ("de", "el", "para", "se") are as rare as names, and the Spanish pages, which hold
    them all, outrank the one English page that holds the question's identifier.
    Counted among the Spanish chunks, those words are common and weigh little."""
    store = mixed_store(tmp_path, {**ENGLISH_PAGES, **SPANISH_PAGES})
    question = "¿Dónde se descarga el programa TunnelGate para el equipo?"
    plain = keyword_ranking(store, question, language_idf=False)
    assert plain[0].startswith("es-")  # the failure this weighting removes
    weighted = keyword_ranking(store, question, language_idf=True)
    assert weighted[0] == "en-vpn"


def test_a_question_about_a_page_in_its_own_language_still_finds_it(tmp_path: Path) -> None:
    """Content words the other pages of the language do not share keep their weight."""
    store = mixed_store(tmp_path, {**ENGLISH_PAGES, **SPANISH_PAGES})
    question = "¿Cuál es el presupuesto de formación al año?"
    assert keyword_ranking(store, question, language_idf=True)[0] == "es-formacion"


def test_a_store_in_the_question_language_alone_keeps_plain_bm25(tmp_path: Path) -> None:
    """All chunks in Spanish: the two IDFs are the same, so is the ranking and its scores."""
    from bot.retrieve import Fusion

    store = mixed_store(tmp_path, SPANISH_PAGES)
    question = "¿Cuándo abre la cafetería de la oficina?"
    results = []
    for language_idf in (False, True):
        fusion = Fusion(language_idf=language_idf)
        retriever = Retriever(store, EnglishOnlyEmbedder(), fusion, multilingual=MultilingualHash())
        hits = retriever.search(question, k=3).hits
        results.append([(h.doc_id, round(h.scores["bm25"], 9)) for h in hits])
    assert results[0] == results[1]
    assert results[0][0][0] == "es-cafeteria"


def test_language_term_weight() -> None:
    from bot.retrieve import bm25_idf, language_term_weight

    # A word in 18 of the 20 Spanish chunks of a 9,000-chunk store: about no weight.
    assert language_term_weight(9000, 18, 20, 18) < 0.001
    # A word in 1 of them keeps more than one in 5 of them.
    rare, common = language_term_weight(9000, 1, 20, 1), language_term_weight(9000, 5, 20, 5)
    assert 0 < common < rare < 1
    # No chunk in the question's language: nothing to count, no change.
    assert language_term_weight(9000, 3, 0, 0) == 1.0
    # One language only: both IDFs are the same.
    assert language_term_weight(500, 40, 500, 40) == 1.0
    # A name common across the store but absent from the language's chunks is
    # never weighed up (at most 1).
    assert language_term_weight(9000, 4000, 20, 0) == 1.0
    assert bm25_idf(10, 6) == 1e-6  # FTS5's clamp, for a term in over half the chunks
