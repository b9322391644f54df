"""Secrets in documents never leave: removed at sync, before chunking, so they are in no
chunk, no quote, no prompt sent to a model and no stored answer; a marker says what was
there. Placeholders that only name a secret are kept; personal data is optional."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.answer import Answerer
from bot.llm import OpenAIChat
from bot.retrieve import Retriever
from ingest.redact import redact_text
from ingest.sources.markdown import MarkdownSource
from ingest.store import Store
from ingest.sync import sync_source
from tests.fakes.embedders import HashEmbedder
from tests.fakes.openai_server import FakeOpenAI

AWS_KEY = "AKIAZ7QWERTYUIOPASDF"
SLACK_TOKEN = "xoxb-2741236478-7234523452345-QwErTyUiOpAsDfGhJkLzXcVb"
PASSWORD = "Tr0ub4dor&3-corral"
RUNBOOK = f"""# Deploy runbook

## Credentials

Log in to the deploy account with access key {AWS_KEY} and the region eu-west-1.

The notifier posts with the token {SLACK_TOKEN} to #deploys.

```yaml
database:
  password: "{PASSWORD}"
  user: deployer
```

-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
-----END OPENSSH PRIVATE KEY-----

Set `DEPLOY_TOKEN` from the vault: `export TOKEN=$DEPLOY_TOKEN`.
"""
SECRETS = (AWS_KEY, SLACK_TOKEN, PASSWORD, "b3BlbnNzaC1rZXktdjEA")


def test_secret_shapes_are_replaced_by_markers() -> None:
    text, kinds = redact_text(RUNBOOK)
    for secret in SECRETS:
        assert secret not in text
    assert "[secret removed: AWS Access Key]" in text
    assert "[secret removed: Slack Token]" in text
    assert "[secret removed: Private Key]" in text
    assert "[secret removed: Secret Keyword]" in text
    assert "`export TOKEN=$DEPLOY_TOKEN`" in text  # a placeholder names a secret: kept
    assert "region eu-west-1" in text and "user: deployer" in text
    assert len(kinds) == 4


def test_ordinary_prose_is_untouched() -> None:
    prose = "Our password policy needs 12 characters. Rotate API keys every 90 days."
    assert redact_text(prose) == (prose, [])


def test_personal_data_only_when_asked() -> None:
    text = "Ana's SSN is 123-45-6789 and her card 4111 1111 1111 1111; order 1234 5678 9012 3456."
    assert redact_text(text) == (text, [])
    redacted, kinds = redact_text(text, pii=True)
    assert "123-45-6789" not in redacted and "4111 1111 1111 1111" not in redacted
    assert "1234 5678 9012 3456" in redacted  # fails the Luhn check: not a card number
    assert len(kinds) == 2


@pytest.fixture
def store(tmp_path: Path) -> Store:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "runbook.md").write_text(RUNBOOK, encoding="utf-8")
    store = Store(tmp_path / "docbot.db")
    embedder = HashEmbedder()
    embedder.min_similarity = 0.2
    report = sync_source(store, MarkdownSource("docs", root), embedder)
    assert report.error is None and report.secrets_removed == 4
    return store


def test_a_key_in_a_page_is_in_no_chunk_quote_or_prompt(
    store: Store, fake_openai: FakeOpenAI
) -> None:
    rows = store.conn.execute("SELECT text FROM chunks").fetchall()
    stored = "\n".join(r[0] for r in rows)
    for secret in SECRETS:
        assert secret not in stored
    embedder = HashEmbedder()
    embedder.min_similarity = 0.2
    retriever = Retriever(store, embedder)

    quoted = Answerer(retriever).ask("Which access key does the deploy account use?").answer
    assert AWS_KEY not in quoted.text and "secret removed" in quoted.text

    fake_openai.reply = "Use the key shown in the runbook [1]."
    llm = OpenAIChat("gpt-4o-mini", api_key="sk-test", base_url=fake_openai.base_url)
    answer = Answerer(retriever, llm).ask("Which access key does the deploy account use?").answer
    assert AWS_KEY not in answer.text
    (request,) = fake_openai.chat_requests()
    prompt = request.body.decode()
    assert "[secret removed: AWS Access Key]" in prompt
    for secret in SECRETS:
        assert secret not in prompt


def test_the_sync_log_names_the_kinds_never_the_values(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "runbook.md").write_text(RUNBOOK, encoding="utf-8")
    with caplog.at_level("WARNING", logger="ingest.sync"):
        sync_source(Store(tmp_path / "db.sqlite"), MarkdownSource("docs", root), HashEmbedder())
    (line,) = [r.getMessage() for r in caplog.records if "removed" in r.getMessage()]
    assert "runbook.md" in line and "1 × AWS Access Key" in line
    for secret in SECRETS:
        assert secret not in caplog.text
