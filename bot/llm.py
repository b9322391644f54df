"""The chat-model seam: messages in, streamed text out.

``LLM`` has one abstract method, ``stream``; ``complete`` is derived. The
default implementation talks to any OpenAI-compatible server through the
``openai`` package (``OPENAI_BASE_URL`` selects Ollama, vLLM, LM Studio, Azure).
Its exceptions are translated here into ``LLMError`` subclasses so callers can
tell "rate limited" from "unreachable" without importing ``openai``.
"""

from __future__ import annotations

import copy
import queue
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ingest.embedding import describe_openai_error
from ingest.errors import LLMError, LLMRateLimited, LLMTimeout, LLMUnavailable

T = TypeVar("T")

Message = dict[str, str]


@dataclass
class Usage:
    """Tokens and timing of one generation (filled in while streaming)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    first_token_ms: float | None = None
    total_ms: float = 0.0
    extra: dict[str, object] = field(default_factory=dict)


class LLM(ABC):
    model: str

    @abstractmethod
    def stream(self, messages: Sequence[Message], usage: Usage | None = None) -> Iterator[str]:
        """Yield the reply in pieces; fill ``usage`` when the server reports it."""

    def complete(self, messages: Sequence[Message], usage: Usage | None = None) -> str:
        return "".join(self.stream(messages, usage))

    def tuned(self, *, timeout: float, max_tokens: int) -> LLM:
        """The same model for a short, deterministic side call (the rerank): no
        retries, temperature 0, ``timeout`` and ``max_tokens`` of its own. A model
        that cannot be reconfigured answers as it is, which is what a test's model
        wants."""
        return self


def until_deadline(pieces: Iterator[str], deadline: float, seconds: float) -> Iterator[str]:
    """``pieces`` as they come, until the monotonic ``deadline``; then
    :class:`LLMTimeout` (``seconds`` is the budget, for the message).

    A client's own timeout bounds one attempt, and it retries, so a model that hangs
    could hold a question for minutes. The pieces are read in a daemon thread and
    waited for with the time left: the asker is told at the deadline, whatever the
    client is doing. The abandoned thread ends when the client's timeout fires.
    """
    inbox: queue.Queue[tuple[str, Any]] = queue.Queue()
    stop = threading.Event()

    def read() -> None:
        try:
            for piece in pieces:
                inbox.put(("piece", piece))
                if stop.is_set():
                    return
            inbox.put(("done", None))
        except BaseException as exc:  # handed to the asking thread
            inbox.put(("error", exc))

    threading.Thread(target=read, name="docbot-llm", daemon=True).start()
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LLMTimeout(seconds)
            try:
                kind, value = inbox.get(timeout=remaining)
            except queue.Empty:
                raise LLMTimeout(seconds) from None
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()


def call_until_deadline(call: Callable[[], T], deadline: float, seconds: float) -> T:
    """``call()`` in a daemon thread, or :class:`LLMTimeout` at ``deadline``."""
    result: list[T] = []

    def run() -> Iterator[str]:
        result.append(call())
        yield ""

    for _ in until_deadline(run(), deadline, seconds):
        pass
    return result[0]


class OpenAIChat(LLM):
    def __init__(
        self,
        model: str,
        *,
        api_key: str,
        base_url: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        temperature: float = 0.1,
        max_tokens: int = 800,
    ) -> None:
        import openai

        self._openai = openai
        self.model = model
        self.temperature = temperature
        self.max_tokens = max_tokens
        self._client = openai.OpenAI(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
        )

    def tuned(self, *, timeout: float, max_tokens: int) -> OpenAIChat:
        """A copy sharing this client's connection pool (``with_options``): a rerank
        retried after a 429 only delays the answer, so it gets no retries."""
        side = copy.copy(self)
        side.temperature = 0.0
        side.max_tokens = max_tokens
        side._client = self._client.with_options(timeout=timeout, max_retries=0)
        return side

    def stream(self, messages: Sequence[Message], usage: Usage | None = None) -> Iterator[str]:
        usage = usage if usage is not None else Usage()
        started = time.perf_counter()
        try:
            response = self._client.chat.completions.create(  # type: ignore[call-overload]
                model=self.model,
                messages=list(messages),
                stream=True,
                stream_options={"include_usage": True},
                temperature=self.temperature,
                max_tokens=self.max_tokens,
            )
            for chunk in response:
                if chunk.usage is not None:
                    usage.prompt_tokens = chunk.usage.prompt_tokens
                    usage.completion_tokens = chunk.usage.completion_tokens
                for choice in chunk.choices:
                    refusal = getattr(choice.delta, "refusal", None) if choice.delta else None
                    if refusal:  # said apart from the content; the caller may want to know
                        usage.extra["refusal"] = str(usage.extra.get("refusal", "")) + refusal
                    piece = choice.delta.content if choice.delta else None
                    if piece:
                        if usage.first_token_ms is None:
                            usage.first_token_ms = (time.perf_counter() - started) * 1000
                        yield piece
        except self._openai.RateLimitError as exc:
            raise LLMRateLimited(
                f"the language model is rate limiting us ({describe_openai_error(exc)}); "
                "try again in a minute"
            ) from exc
        except (
            self._openai.APITimeoutError,
            self._openai.APIConnectionError,
            self._openai.InternalServerError,
        ) as exc:
            raise LLMUnavailable(
                f"the language model is unavailable ({describe_openai_error(exc)})"
            ) from exc
        except self._openai.APIError as exc:
            raise LLMError(f"the language model failed ({describe_openai_error(exc)})") from exc
        except ValueError as exc:  # malformed JSON in a reply escapes the client as-is
            raise LLMError("the language model sent a malformed reply") from exc
        finally:
            usage.total_ms = (time.perf_counter() - started) * 1000
