"""The fake OpenAI server speaks the wire format the real ``openai`` client expects.

Each test drives the real client (sync or async) over HTTP to the fake, so a change
in either the client's parsing or the fake's output shows up here first.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import struct
import time
from collections.abc import Iterator

import openai
import pytest
from openai import AsyncOpenAI, OpenAI
from openai.types.chat import ChatCompletionMessageParam

from tests.fakes.openai_server import FakeOpenAI

pytest_plugins = ["tests.fakes.openai_fixtures"]

MESSAGES: list[ChatCompletionMessageParam] = [
    {
        "role": "system",
        "content": "Answer from the sources.\n[1] VPN guide\n[2] SSO guide",
    },
    {"role": "user", "content": "How do I connect to the VPN?"},
]


@pytest.fixture
def client(fake_openai: FakeOpenAI) -> Iterator[OpenAI]:
    """A real sync client aimed at the fake; no retries unless a test asks for them."""
    with OpenAI(base_url=fake_openai.base_url, api_key="test", max_retries=0) as c:
        yield c


def cosine(a: list[float], b: list[float]) -> float:
    """The dot product, which is the cosine because the fake's vectors are unit-norm."""
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_chat_completion_echoes_the_question_and_cites_sources(
    client: OpenAI, fake_openai: FakeOpenAI
) -> None:
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    assert completion.object == "chat.completion"
    assert completion.model == "gpt-4o-mini"
    choice = completion.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.content == "Fake answer to: How do I connect to the VPN? [1][2]"
    usage = completion.usage
    assert usage is not None
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert completion._request_id is not None


def test_streamed_deltas_join_to_the_non_streamed_text(
    client: OpenAI, fake_openai: FakeOpenAI
) -> None:
    full = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
    )

    assert {c.object for c in chunks} == {"chat.completion.chunk"}
    assert len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    pieces = [c.choices[0].delta.content for c in chunks[1:] if c.choices]
    text = "".join(p for p in pieces if p)
    assert text == full.choices[0].message.content
    assert len([p for p in pieces if p]) > 3  # several small deltas, not one blob
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage == full.usage


def test_stream_without_include_usage_has_no_usage_chunk(client: OpenAI) -> None:
    chunks = list(client.chat.completions.create(model="m", messages=MESSAGES, stream=True))

    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)


def test_reply_can_be_a_fixed_string_or_a_function_of_the_request(
    client: OpenAI, fake_openai: FakeOpenAI
) -> None:
    fake_openai.reply = "Use the VPN client [1]."
    first = client.chat.completions.create(model="m", messages=MESSAGES)
    fake_openai.reply = lambda body: f"{len(body['messages'])} messages to {body['model']}"
    second = client.chat.completions.create(model="m2", messages=MESSAGES)

    assert first.choices[0].message.content == "Use the VPN client [1]."
    assert second.choices[0].message.content == "2 messages to m2"


def test_async_client_completes_and_streams(fake_openai: FakeOpenAI) -> None:
    async def run() -> tuple[str | None, str]:
        async with AsyncOpenAI(
            base_url=fake_openai.base_url, api_key="test", max_retries=0
        ) as client:
            full = await client.chat.completions.create(model="m", messages=MESSAGES)
            stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
            return full.choices[0].message.content, "".join(parts)

    full, streamed = asyncio.run(run())

    assert full == streamed == "Fake answer to: How do I connect to the VPN? [1][2]"


def test_embeddings_by_default_travel_as_base64_and_decode_to_unit_vectors(
    client: OpenAI, fake_openai: FakeOpenAI
) -> None:
    texts = [
        "reset my VPN password",
        "reset my VPN password",
        "VPN password",
        "lunch menu",
    ]
    result = client.embeddings.create(model="text-embedding-3-small", input=texts)

    # The client asks for base64 when no format is given, then decodes it itself.
    assert fake_openai.embedding_requests()[0].json["encoding_format"] == "base64"
    vectors = [d.embedding for d in result.data]
    assert [d.index for d in result.data] == [0, 1, 2, 3]
    assert all(len(v) == 64 for v in vectors)
    assert all(math.isclose(cosine(v, v), 1.0, rel_tol=1e-5) for v in vectors)
    assert vectors[0] == vectors[1]
    assert cosine(vectors[0], vectors[2]) > cosine(vectors[0], vectors[3])
    assert result.model == "text-embedding-3-small"
    assert result.usage.prompt_tokens == result.usage.total_tokens > 0


def test_float_and_base64_formats_carry_the_same_vector(
    client: OpenAI, fake_openai: FakeOpenAI
) -> None:
    floats = client.embeddings.create(
        model="e", input="single string", encoding_format="float", dimensions=16
    )
    encoded = client.embeddings.create(
        model="e", input="single string", encoding_format="base64", dimensions=16
    )

    raw = encoded.data[0].embedding
    assert isinstance(raw, str)  # an explicit format is left undecoded by the client
    assert list(struct.unpack("<16f", base64.b64decode(raw))) == floats.data[0].embedding
    assert len(floats.data) == 1


def test_embedding_dimension_is_configurable(fake_openai: FakeOpenAI, client: OpenAI) -> None:
    fake_openai.embedding_dimensions = 8
    result = client.embeddings.create(model="e", input=["a"])

    assert len(result.data[0].embedding) == 8


def test_rate_limit_is_retried_by_the_client(fake_openai: FakeOpenAI) -> None:
    # 1.5 s is three times the client's own first backoff (0.5 s at most), so a wait at
    # least that long shows the header was honoured; a lower bound holds on a loaded machine.
    fake_openai.fail_next(status=429, retry_after=1.5)
    started = time.monotonic()
    with OpenAI(base_url=fake_openai.base_url, api_key="test", max_retries=2) as client:
        completion = client.chat.completions.create(model="m", messages=MESSAGES)

    assert completion.choices[0].finish_reason == "stop"
    seen = fake_openai.chat_requests()
    assert len(seen) == 2
    assert seen[0].fault is not None and seen[0].fault.status == 429
    assert seen[1].headers["x-stainless-retry-count"] == "1"
    assert seen[0].json == seen[1].json
    assert time.monotonic() - started >= 1.5  # retry-after-ms was honoured
    assert fake_openai.pending_faults == []


def test_server_error_without_retries_raises_internal_server_error(
    client: OpenAI, fake_openai: FakeOpenAI
) -> None:
    fake_openai.fail_next(status=500)

    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="m", messages=MESSAGES)

    assert caught.value.status_code == 500
    assert caught.value.body == {
        "message": "The server had an error while processing your request.",
        "type": "server_error",
        "param": None,
        "code": None,
    }
    assert len(fake_openai.requests) == 1


def test_error_statuses_map_to_the_clients_exceptions(
    client: OpenAI, fake_openai: FakeOpenAI
) -> None:
    fake_openai.fail_next(status=503, message="overloaded", code="busy")
    with pytest.raises(openai.InternalServerError, match="overloaded"):
        client.chat.completions.create(model="m", messages=MESSAGES)

    fake_openai.fail_next(status=429)
    with pytest.raises(openai.RateLimitError):
        client.embeddings.create(model="e", input="x")

    with pytest.raises(openai.BadRequestError, match="messages"):
        client.chat.completions.create(model="m", messages=[])


def test_delay_makes_the_client_time_out(client: OpenAI, fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_next(delay=2)

    with pytest.raises(openai.APITimeoutError):
        client.with_options(timeout=0.2).chat.completions.create(model="m", messages=MESSAGES)

    # The server is still healthy for the next request.
    assert client.models.list().data


def test_dropped_stream_raises_connection_error_mid_iteration(
    client: OpenAI, fake_openai: FakeOpenAI
) -> None:
    fake_openai.fail_next(drop_stream_after=2)
    stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)

    assert next(stream).choices[0].delta.role == "assistant"
    assert next(stream).choices[0].delta.content == "Fake"
    with pytest.raises(openai.APIConnectionError):
        next(stream)


def test_disconnect_raises_connection_error(client: OpenAI, fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_next(disconnect=True)

    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="m", messages=MESSAGES)


def test_malformed_json_escapes_the_client_as_a_decode_error(
    client: OpenAI, fake_openai: FakeOpenAI
) -> None:
    # Pins the client's behaviour: a 200 with broken JSON is not an openai.APIError.
    fake_openai.fail_next(malformed=True)

    with pytest.raises(json.JSONDecodeError):
        client.chat.completions.create(model="m", messages=MESSAGES)


def test_malformed_stream_event_escapes_the_client_as_a_decode_error(
    client: OpenAI, fake_openai: FakeOpenAI
) -> None:
    fake_openai.fail_next(malformed=True)
    stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)

    assert next(stream).choices[0].delta.role == "assistant"
    with pytest.raises(json.JSONDecodeError):
        next(stream)


def test_a_failing_reply_is_reported_not_retried() -> None:
    def broken(body: dict[str, object]) -> str:
        raise KeyError("sources")

    with (
        FakeOpenAI(reply=broken) as server,
        OpenAI(base_url=server.base_url, api_key="t", max_retries=2) as client,
        pytest.raises(openai.InternalServerError, match="KeyError"),
    ):
        client.chat.completions.create(model="m", messages=MESSAGES)

    assert len(server.requests) == 1  # x-should-retry: false stopped the retries
    assert [type(e) for e in server.errors] == [KeyError]


def test_faults_can_target_one_path(client: OpenAI, fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_next(status=429, path="/v1/embeddings")

    client.chat.completions.create(model="m", messages=MESSAGES)
    with pytest.raises(openai.RateLimitError):
        client.embeddings.create(model="e", input="x")


def test_api_key_is_enforced_when_set(fake_openai: FakeOpenAI) -> None:
    fake_openai.api_key = "right"
    with (
        OpenAI(base_url=fake_openai.base_url, api_key="wrong", max_retries=0) as client,
        pytest.raises(openai.AuthenticationError),
    ):
        client.models.list()


def test_models_are_listed_and_unknown_urls_get_an_api_error(client: OpenAI) -> None:
    assert [m.id for m in client.models.list()] == [
        "gpt-4o-mini",
        "text-embedding-3-small",
    ]
    assert client.models.retrieve("gpt-4o-mini").owned_by == "fake-openai"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")


def test_every_request_is_recorded_in_full(client: OpenAI, fake_openai: FakeOpenAI) -> None:
    client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        temperature=0.1,
        extra_headers={"X-Docbot-Trace": "abc"},
    )
    client.embeddings.create(model="e", input=["one", "two"], encoding_format="float")

    chat, embedding = fake_openai.requests
    assert (chat.method, chat.path) == ("POST", "/v1/chat/completions")
    assert chat.json == {
        "model": "gpt-4o-mini",
        "messages": MESSAGES,
        "temperature": 0.1,
    }
    assert json.loads(chat.body) == chat.json
    assert chat.headers["authorization"] == "Bearer test"
    assert chat.headers["x-docbot-trace"] == "abc"
    assert embedding.json == {
        "model": "e",
        "input": ["one", "two"],
        "encoding_format": "float",
    }
    assert fake_openai.chat_requests() == [chat]
    fake_openai.clear()
    assert fake_openai.requests == []


def test_stop_is_prompt_even_with_a_request_still_waiting() -> None:
    server = FakeOpenAI().start()
    server.fail_next(delay=30)
    with (
        OpenAI(base_url=server.base_url, api_key="t", max_retries=0, timeout=0.1) as client,
        pytest.raises(openai.APITimeoutError),
    ):
        client.models.list()
    started = time.monotonic()
    server.stop()

    assert time.monotonic() - started < 10  # far below the 30 s the request still waits


def test_a_refusal_comes_in_the_refusal_field(client: OpenAI, fake_openai: FakeOpenAI) -> None:
    fake_openai.refusal = "I can't help with that."
    message = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert message.choices[0].message.content is None
    assert message.choices[0].message.refusal == "I can't help with that."
    chunks = list(
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    )
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert "".join(d.refusal or "" for d in deltas) == "I can't help with that."
    assert not "".join(d.content or "" for d in deltas)
