"""A local fake of the OpenAI HTTP API, for driving the real ``openai`` client in tests.

Why a real server rather than a patched client: the bugs worth catching live in the
wire format (SSE framing, base64 embeddings, retry headers, error bodies) and in how
the real client reacts to them. So tests point ``openai.OpenAI(base_url=server.base_url)``
at this server on ``127.0.0.1:<ephemeral port>`` and assert on what it recorded.

It is built on the stdlib ``ThreadingHTTPServer`` rather than an ASGI stack because the
faults we need are socket-level (stall, hang up mid-stream, answer garbage) and are
simplest to do exactly with a socket in hand; shutdown hangs up every open connection,
so ``stop()`` never waits on a client's keep-alive.

Usage::

    with FakeOpenAI() as server:
        client = OpenAI(base_url=server.base_url, api_key="test")
        server.reply = "Use the VPN [1]."
        server.fail_next(status=429, retry_after=0)
        client.chat.completions.create(model="gpt-4o-mini", messages=[...])
        assert len(server.chat_requests()) == 2

Endpoints: ``POST /v1/chat/completions`` (JSON or SSE), ``POST /v1/embeddings``
(float or base64), ``GET /v1/models`` and ``GET /v1/models/{id}``. Anything else gets
the API's own 404 error body.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import math
import re
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

DEFAULT_EMBEDDING_DIMENSIONS = 64
DEFAULT_MODELS = ("gpt-4o-mini", "text-embedding-3-small")
HANDLER_SOCKET_TIMEOUT = 10.0  # bounds an idle keep-alive connection's thread
CREATED = 1_700_000_000  # a fixed timestamp keeps responses byte-for-byte reproducible

Reply = str | Callable[[dict[str, Any]], str]

_SOURCE_MARK = re.compile(r"^\s*\[(\d+)\]", re.MULTILINE)
_TOKEN = re.compile(r"\w+|[^\w\s]")
_WORD = re.compile(r"\w+")
_STREAM_PIECE = re.compile(r"\s*\S+|\s+")

# Status -> (error type, code, message) as the real API words them.
_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Bad request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", None, "You are not allowed to access this resource."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist."),
    408: ("server_error", "timeout", "Request timed out."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached. Please try again later."),
    500: ("server_error", None, "The server had an error while processing your request."),
    502: ("server_error", "bad_gateway", "Bad gateway."),
    503: ("server_error", "service_unavailable", "The engine is currently overloaded."),
}


@dataclass(frozen=True)
class Fault:
    """One scripted misbehaviour, consumed by the first request it matches.

    Applied in this order: wait ``delay`` seconds; then ``disconnect`` (hang up with no
    response); else answer ``status`` with an OpenAI error body; else answer 200 with
    ``malformed`` JSON (a stream instead gets a broken second event); else respond
    normally but, for a streaming request, hang up after ``drop_stream_after`` SSE events
    (a non-streaming one is hung up on at once).
    """

    status: int | None = None
    retry_after: float | None = None
    delay: float = 0.0
    disconnect: bool = False
    drop_stream_after: int | None = None
    malformed: bool = False
    message: str | None = None
    code: str | None = None
    path: str | None = None  # only requests to this path consume it; None = any


@dataclass(frozen=True)
class RecordedRequest:
    """Everything the client sent, so tests assert on content rather than call counts."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]  # lower-cased names
    body: bytes
    json: Any  # parsed body, or None when it was empty or not JSON
    fault: Fault | None = None  # the fault this request consumed, if any


@dataclass
class _State:
    """Mutable state shared by the server threads; every access holds ``lock``."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: list[RecordedRequest] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    counter: int = 0


def count_tokens(text: str) -> int:
    """A crude but deterministic token count (words and punctuation marks)."""
    return len(_TOKEN.findall(text))


def message_text(message: Mapping[str, Any]) -> str:
    """The text of a chat message whose content is a string or a list of parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def echo_reply(request: Mapping[str, Any]) -> str:
    """The default answer: echoes the question and cites every numbered source.

    The question is the last non-empty line of the last user message (prompts usually
    end with it); sources are lines starting ``[n]`` anywhere in the prompt. So a bot
    that builds a correct prompt gets back an answer whose citations it can resolve.
    """
    messages = [m for m in request.get("messages") or [] if isinstance(m, dict)]
    users = [message_text(m) for m in messages if m.get("role") == "user"]
    lines = [line.strip() for line in (users[-1] if users else "").splitlines() if line.strip()]
    question = lines[-1][:80] if lines else ""
    prompt = "\n".join(message_text(m) for m in messages)
    sources = sorted({int(n) for n in _SOURCE_MARK.findall(prompt)})
    citations = "".join(f"[{n}]" for n in sources)
    return f"Fake answer to: {question}" + (f" {citations}" if citations else "")


def embed(text: str, dimensions: int) -> list[float]:
    """A unit vector from a hashed bag of words: texts sharing words point alike.

    blake2b (not ``hash()``) keeps vectors identical across processes. Values are
    rounded to float32 so the float and base64 encodings decode to equal lists.
    """
    vector = [0.0] * dimensions
    words = [w.lower() for w in _WORD.findall(text)] or [text]
    for word in words:
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        index = int.from_bytes(digest[:4], "little") % dimensions
        vector[index] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    packed = struct.pack(f"<{dimensions}f", *(v / norm for v in vector))
    return list(struct.unpack(f"<{dimensions}f", packed))


def error_body(status: int, message: str | None = None, code: str | None = None) -> dict[str, Any]:
    """An error body shaped like the API's, so the client builds the same exception."""
    kind, default_code, default_message = _ERRORS.get(status, ("server_error", None, "Error."))
    return {
        "error": {
            "message": message or default_message,
            "type": kind,
            "param": None,
            "code": code or default_code,
        }
    }


class FakeOpenAI:
    """A fake OpenAI API on ``127.0.0.1:<ephemeral port>``, served from a background thread.

    Scripting (plain attributes, safe to set from the test thread at any time):
      ``reply``: a string or ``(request_json) -> str``; ``None`` means ``echo_reply``.
      ``embedding_dimensions``: vector size when the request sends no ``dimensions``.
      ``models``: ids listed by ``GET /v1/models``.
      ``chunk_delay``: seconds to pause between SSE events (for slow-stream tests).
      ``api_key``: when set, requests without ``Bearer <api_key>`` get a 401.
      ``refusal``: a string or ``(request_json) -> str | None``: when it gives text, the
      chat reply refuses with it in the API's own ``refusal`` field, content empty (as a
      model's safety layer does), streamed or not.
    Faults: ``fail_next(...)`` queues them; ``pending_faults`` shows what is left.
    Recording: ``requests``, ``chat_requests()``, ``embedding_requests()``, ``clear()``;
    ``errors`` holds exceptions raised inside the fake (a bug there, or in a ``reply``).
    """

    def __init__(
        self,
        *,
        reply: Reply | None = None,
        embedding_dimensions: int = DEFAULT_EMBEDDING_DIMENSIONS,
        models: tuple[str, ...] = DEFAULT_MODELS,
        api_key: str | None = None,
        chunk_delay: float = 0.0,
    ) -> None:
        self.reply = reply
        self.embedding_dimensions = embedding_dimensions
        self.models = models
        self.api_key = api_key
        self.chunk_delay = chunk_delay
        self.refusal: str | Callable[[dict[str, Any]], str | None] | None = None
        self._state = _State()
        self._stopping = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> Self:
        """Bind an ephemeral port and serve from a daemon thread; returns self."""
        if self._httpd is not None:
            raise RuntimeError("FakeOpenAI is already running")
        self._stopping.clear()
        self._httpd = _Server(self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.01},
            name="fake-openai",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, hang up every open connection and wait for handler threads."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()  # wakes handlers sleeping on a `delay` fault
        httpd.shutdown()
        httpd.close_all_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, without the ``/v1`` prefix."""
        if self._httpd is None:
            raise RuntimeError("FakeOpenAI is not running; use it as a context manager")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def base_url(self) -> str:
        """The value to pass as ``OpenAI(base_url=...)``."""
        return self.url + "/v1"

    # -- faults -------------------------------------------------------------------
    def fail_next(
        self,
        status: int | None = None,
        *,
        retry_after: float | None = None,
        delay: float = 0.0,
        disconnect: bool = False,
        drop_stream_after: int | None = None,
        malformed: bool = False,
        message: str | None = None,
        code: str | None = None,
        path: str | None = None,
        times: int = 1,
    ) -> None:
        """Queue a fault for the next ``times`` requests (to ``path``, if given).

        ``retry_after`` (seconds) is sent as ``retry-after`` and ``retry-after-ms``; a 0
        goes out as 1 ms because the client ignores a zero and falls back to its own
        ~0.5 s backoff, which would make "retry at once" tests slow.
        """
        fault = Fault(
            status=status,
            retry_after=retry_after,
            delay=delay,
            disconnect=disconnect,
            drop_stream_after=drop_stream_after,
            malformed=malformed,
            message=message,
            code=code,
            path=path,
        )
        if fault == Fault(path=path):
            raise ValueError("fail_next() needs a status, delay, disconnect, malformed or drop")
        with self._state.lock:
            self._state.faults.extend([fault] * times)

    @property
    def pending_faults(self) -> list[Fault]:
        """Faults not yet consumed, so a test can check its script was used up."""
        with self._state.lock:
            return list(self._state.faults)

    def _take_fault(self, path: str) -> Fault | None:
        with self._state.lock:
            for i, fault in enumerate(self._state.faults):
                if fault.path is None or fault.path == path:
                    return self._state.faults.pop(i)
        return None

    # -- recording ----------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, oldest first."""
        with self._state.lock:
            return list(self._state.requests)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """The recorded requests whose path is exactly ``path``."""
        return [r for r in self.requests if r.path == path]

    def chat_requests(self) -> list[RecordedRequest]:
        """Recorded ``POST /v1/chat/completions`` requests."""
        return self.requests_to("/v1/chat/completions")

    def embedding_requests(self) -> list[RecordedRequest]:
        """Recorded ``POST /v1/embeddings`` requests."""
        return self.requests_to("/v1/embeddings")

    @property
    def errors(self) -> list[BaseException]:
        """Exceptions raised inside the fake while handling requests."""
        with self._state.lock:
            return list(self._state.errors)

    def clear(self) -> None:
        """Forget recorded requests, errors and pending faults."""
        with self._state.lock:
            self._state.requests.clear()
            self._state.faults.clear()
            self._state.errors.clear()

    def _record(self, request: RecordedRequest) -> None:
        with self._state.lock:
            self._state.requests.append(request)

    def _record_error(self, error: BaseException) -> None:
        with self._state.lock:
            self._state.errors.append(error)

    def _next_id(self) -> int:
        with self._state.lock:
            self._state.counter += 1
            return self._state.counter

    # -- endpoint logic (pure: JSON in, JSON out) -----------------------------------
    def _reply_text(self, body: dict[str, Any]) -> str:
        reply = self.reply
        if reply is None:
            return echo_reply(body)
        return reply if isinstance(reply, str) else reply(body)

    def _refusal_text(self, body: dict[str, Any]) -> str | None:
        refusal = self.refusal
        return refusal if refusal is None or isinstance(refusal, str) else refusal(body)

    def _chat(self, body: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, int]]:
        """Compute the reply text, the completion skeleton and usage for a chat request."""
        text = self._refusal_text(body) or self._reply_text(body)
        prompt = sum(count_tokens(message_text(m)) for m in body["messages"] if isinstance(m, dict))
        completion = count_tokens(text)
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        base = {
            "id": f"chatcmpl-fake{self._next_id()}",
            "created": CREATED,
            "model": body["model"],
            "system_fingerprint": "fp_fake",
        }
        return text, base, usage

    def _embeddings(self, body: dict[str, Any]) -> dict[str, Any]:
        raw = body["input"]
        if isinstance(raw, str) or (isinstance(raw, list) and raw and isinstance(raw[0], int)):
            raw = [raw]  # one string, or one list of token ids
        texts = [t if isinstance(t, str) else " ".join(map(str, t)) for t in raw]
        dimensions = int(body.get("dimensions") or self.embedding_dimensions)
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(texts):
            vector = embed(text, dimensions)
            encoded: list[float] | str = vector
            if as_base64:
                encoded = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        tokens = sum(count_tokens(t) for t in texts)
        return {
            "object": "list",
            "data": data,
            "model": body["model"],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    def _model(self, model_id: str) -> dict[str, Any]:
        return {
            "id": model_id,
            "object": "model",
            "created": CREATED,
            "owned_by": "fake-openai",
        }


def _missing(body: Any, *names: str) -> str | None:
    """The first required parameter absent from a JSON object body, if any."""
    if not isinstance(body, dict):
        return names[0]
    return next((n for n in names if body.get(n) in (None, "", [])), None)


class _Server(ThreadingHTTPServer):
    """Tracks open connections so ``stop()`` can hang them up instead of waiting."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, fake: FakeOpenAI) -> None:
        self.fake = fake
        self._open: dict[socket.socket, threading.Thread] = {}
        self._open_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name="fake-openai-connection",
            daemon=True,
        )
        with self._open_lock:
            self._open[request] = thread
        thread.start()

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.pop(request, None)
        super().shutdown_request(request)

    def close_all_connections(self) -> None:
        """Hang up every connection, then give their threads a moment to finish."""
        with self._open_lock:
            open_now = list(self._open.items())
        for sock, _ in open_now:
            with contextlib.suppress(OSError):  # already closed by the peer
                sock.shutdown(socket.SHUT_RDWR)
        for _, thread in open_now:
            thread.join(timeout=2)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Record unexpected errors; a client hanging up (timeout, dropped stream) is not one."""
        error = sys.exc_info()[1]
        if error is not None and not isinstance(error, (ConnectionError, TimeoutError)):
            self.fake._record_error(error)


class _Handler(BaseHTTPRequestHandler):
    """Parses, records and dispatches one request; all behaviour lives in FakeOpenAI."""

    protocol_version = "HTTP/1.1"  # keep-alive and chunked SSE, like the real API
    timeout = HANDLER_SOCKET_TIMEOUT
    disable_nagle_algorithm = True  # else keep-alive replies stall ~40 ms on delayed ACKs
    server: _Server

    _response_started = False

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging; ``server.requests`` is the record."""

    def send_response(self, code: int, message: str | None = None) -> None:
        """Note that a status line went out, after which an error can only hang up."""
        self._response_started = True
        super().send_response(code, message)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    # -- request flow -------------------------------------------------------------
    def _handle(self) -> None:
        fake = self.server.fake
        self._response_started = False
        path, _, query = self.path.partition("?")
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = _UNPARSEABLE
        fault = fake._take_fault(path)
        fake._record(
            RecordedRequest(
                method=self.command,
                path=path,
                query=query,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=raw,
                json=None if body is _UNPARSEABLE else body,
                fault=fault,
            )
        )
        try:
            self._respond(path, body, fault)
        except (ConnectionError, TimeoutError):
            self.close_connection = True  # the client gave up (timeout) or hung up
        except Exception as exc:  # a bug in the fake, or in a test's reply callable
            fake._record_error(exc)
            if self._response_started:
                self._hang_up()
            else:  # x-should-retry: false, so the client surfaces it at once
                message = f"fake server error: {exc!r}"
                self._send_json(500, error_body(500, message), {"x-should-retry": "false"})

    def _respond(self, path: str, body: Any, fault: Fault | None) -> None:
        fake = self.server.fake
        if fault is not None:
            if fault.delay and fake._stopping.wait(fault.delay):
                self._hang_up()
                return
            if fault.disconnect:
                self._hang_up()
                return
            if fault.status is not None:
                self._send_json(
                    fault.status,
                    error_body(fault.status, fault.message, fault.code),
                    _retry_headers(fault.retry_after),
                )
                return
            streaming = isinstance(body, dict) and bool(body.get("stream"))
            if fault.malformed and not streaming:  # a stream gets one broken event instead
                self._send_raw(200, b'{"id": "chatcmpl-broken", "choices": [', "application/json")
                return
        if (
            fake.api_key is not None
            and self.headers.get("Authorization") != f"Bearer {fake.api_key}"
        ):
            self._send_json(401, error_body(401))
            return
        if body is _UNPARSEABLE:
            message = "We could not parse the JSON body of your request."
            self._send_json(400, error_body(400, message))
            return
        self._route(path, body, fault)

    def _route(self, path: str, body: Any, fault: Fault | None) -> None:
        fake = self.server.fake
        if self.command == "POST" and path == "/v1/chat/completions":
            if missing := _missing(body, "model", "messages"):
                self._send_missing(missing)
            elif body.get("stream"):
                self._stream_chat(body, fault)
            elif fault is not None and fault.drop_stream_after is not None:
                self._hang_up()
            else:
                text, base, usage = fake._chat(body)
                refused = fake._refusal_text(body) is not None
                choice = {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": None if refused else text,
                        "refusal": text if refused else None,
                    },
                    "logprobs": None,
                    "finish_reason": "stop",
                }
                completion = {**base, "object": "chat.completion", "choices": [choice]}
                self._send_json(200, {**completion, "usage": usage})
        elif self.command == "POST" and path == "/v1/embeddings":
            if missing := _missing(body, "model", "input"):
                self._send_missing(missing)
            else:
                self._send_json(200, fake._embeddings(body))
        elif self.command == "GET" and path == "/v1/models":
            self._send_json(200, {"object": "list", "data": [fake._model(m) for m in fake.models]})
        elif self.command == "GET" and path.startswith("/v1/models/"):
            model_id = path.removeprefix("/v1/models/")
            if model_id in fake.models:
                self._send_json(200, fake._model(model_id))
            else:
                message = f"The model '{model_id}' does not exist"
                self._send_json(404, error_body(404, message))
        else:
            message = f"Invalid URL ({self.command} {path})"
            self._send_json(404, error_body(404, message, "unknown_url"))

    def _stream_chat(self, body: dict[str, Any], fault: Fault | None) -> None:
        """Answer as the API streams: role delta, content pieces, stop, usage, [DONE]."""
        fake = self.server.fake
        text, base, usage = fake._chat(body)
        kind = "refusal" if fake._refusal_text(body) is not None else "content"
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        drop_after = fault.drop_stream_after if fault is not None else None
        malformed = fault is not None and fault.malformed
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-request-id", f"req_fake{fake._next_id()}")
        self.end_headers()
        for sent, event in enumerate(_chunk_events(text, base, usage, include_usage, kind)):
            if drop_after is not None and sent >= drop_after:
                self._hang_up()
                return
            if malformed and sent == 1:
                event = "data: {not json\n\n"
            if sent and fake.chunk_delay:
                time.sleep(fake.chunk_delay)
            self._write_chunk(event.encode())
        self._write_chunk(b"")  # the zero-length chunk ends the body

    # -- wire helpers -------------------------------------------------------------
    def _send_missing(self, name: str) -> None:
        message = f"Missing required parameter: '{name}'."
        self._send_json(400, error_body(400, message, "missing_required_parameter"))

    def _send_json(
        self, status: int, payload: Any, headers: Mapping[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        self._send_raw(status, data, "application/json", headers)

    def _send_raw(
        self, status: int, data: bytes, content_type: str, headers: Mapping[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", f"req_fake{self.server.fake._next_id()}")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _hang_up(self) -> None:
        """Close the socket without finishing the response, as a dying proxy would."""
        self.close_connection = True
        with contextlib.suppress(OSError):  # the client hung up first
            self.connection.shutdown(socket.SHUT_RDWR)


_UNPARSEABLE = object()  # marks a request body that was not valid JSON


def _retry_headers(retry_after: float | None) -> dict[str, str]:
    if retry_after is None:
        return {}
    millis = max(1, round(retry_after * 1000))
    return {"retry-after": str(math.ceil(retry_after)), "retry-after-ms": str(millis)}


def _chunk_events(
    text: str,
    base: dict[str, Any],
    usage: dict[str, int],
    include_usage: bool,
    kind: str = "content",
) -> Iterator[str]:
    """The SSE events of a streamed chat completion, each ``data: {...}\\n\\n``; the
    text goes in the deltas' ``kind`` field (``content``, or ``refusal``)."""

    def chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        extra = {"usage": None} if include_usage else {}
        return {**base, "object": "chat.completion.chunk", "choices": [choice], **extra}

    payloads = [chunk({"role": "assistant", "content": "", "refusal": None}, None)]
    payloads += [chunk({kind: piece}, None) for piece in _STREAM_PIECE.findall(text)]
    payloads.append(chunk({}, "stop"))
    if include_usage:
        payloads.append({**base, "object": "chat.completion.chunk", "choices": [], "usage": usage})
    for payload in payloads:
        yield f"data: {json.dumps(payload)}\n\n"
    yield "data: [DONE]\n\n"
