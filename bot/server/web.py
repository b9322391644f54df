"""HTTP mode as one ASGI app (Starlette): Slack's requests, health, and the JSON API.

- ``POST /slack/events``: events, slash commands and interactivity. The body is read
  up to :data:`MAX_SLACK_BODY_BYTES` (413 past it) and its Slack signature and
  timestamp are checked before anything parses it (401); a signed body that does not
  parse is a 400. Then Bolt dispatches it, which acks at once (docbot's listeners only
  admit work, see :mod:`bot.slack.app`).
- ``GET /healthz``: 200 with the store's state; 503 when the store cannot be read.
- ``POST /api/ask``: the ``docbot ask --json`` answer for other clients; only routed
  when ``DOCBOT_API_TOKEN`` is set, and only with ``Authorization: Bearer <token>``.
  Rate limited like Slack (per client address, and the shared global budget): 429
  with ``Retry-After`` past a limit, checked before the question is queued; answered
  on its own bounded pool (``DOCBOT_API_WORKERS`` + ``DOCBOT_API_QUEUE``): 503 with
  ``Retry-After`` when that is full.
- ``GET /metrics``: Prometheus text format from the app's own registry.

Nothing shares a thread pool with anything else: Bolt's dispatch runs on its own
threads (``DOCBOT_SLACK_ACK_THREADS``), ``/healthz`` and ``/metrics`` on theirs, and
the API's answers on the API pool, so slow model answers never hold up Slack's acks
or a health check (they used to share Starlette's 40 default threads).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import parse_qs

import anyio
import anyio.to_thread
from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.access import Audience
from bot.app import Docbot
from bot.ops.admission import BoundedPool, stored_question
from bot.records import AnswerRecord, error_kind, new_answer_id
from bot.server.intake import (
    BadRequest,
    BodyTooLarge,
    client_address,
    read_body,
    slack_signed,
    trusted_networks,
)
from ingest.errors import InputError, LLMError

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024  # POST /api/ask
MAX_SLACK_BODY_BYTES = 1024 * 1024  # Slack's own requests are a few KB; views up to ~100 KB
OPS_THREADS = 4  # /healthz and /metrics
BUSY_RETRY_AFTER = 5  # seconds an API client is asked to wait when every place is taken

T = TypeVar("T")


class Threads:
    """One anyio thread limiter per concern, created on first use inside the event loop."""

    def __init__(self, sizes: dict[str, int]) -> None:
        self._sizes = sizes
        self._limiters: dict[str, anyio.CapacityLimiter] = {}

    async def run(self, concern: str, fn: Callable[..., T], *args: Any) -> T:
        limiter = self._limiters.get(concern)
        if limiter is None:
            limiter = self._limiters[concern] = anyio.CapacityLimiter(self._sizes[concern])
        return await anyio.to_thread.run_sync(fn, *args, limiter=limiter)


def _is_ssl_check(body: bytes) -> bool:
    """Slack's certificate probe (``ssl_check=1``): answered 200 with nothing done."""
    return len(body) < 2048 and parse_qs(body.decode("latin-1")).get("ssl_check") == ["1"]


def slack_events_endpoint(bolt_app: App, signing_secret: str | None, threads: Threads) -> Any:
    async def slack_events(request: Request) -> Response:
        try:
            body = await read_body(request, MAX_SLACK_BODY_BYTES)
        except BodyTooLarge:
            return _error(413, f"the body is larger than {MAX_SLACK_BODY_BYTES} bytes")
        except BadRequest as exc:
            return _error(400, str(exc))
        if not slack_signed(signing_secret, body, request):
            if _is_ssl_check(body):
                return Response(status_code=200)
            return _error(401, "invalid request signature or timestamp")
        try:
            bolt_request = to_bolt_request(request, body)
        except Exception as exc:  # signed, yet not a Slack payload: the sender's bug
            log.warning("POST /slack/events: a signed body that does not parse (%s)",
                        type(exc).__name__)  # fmt: skip
            return _error(400, "the body is not a Slack event, command or interaction")
        if not isinstance(bolt_request.body, dict):
            return _error(400, "the body is not a Slack event, command or interaction")
        bolt_response = await threads.run("slack", bolt_app.dispatch, bolt_request)
        return to_starlette_response(bolt_response)

    return slack_events


def healthz_endpoint(docbot: Docbot, threads: Threads) -> Any:
    def check() -> dict[str, Any]:
        return {"documents": docbot.store.document_count()}

    async def healthz(request: Request) -> Response:
        try:
            store = await threads.run("ops", check)
        except Exception as exc:  # a broken store is exactly what a health check reports
            log.warning("health check failed: %s", exc)
            return JSONResponse({"ok": False, "store": f"error: {exc}"}, status_code=503)
        return JSONResponse({"ok": True, "store": "ok", **store})

    return healthz


def metrics_endpoint(docbot: Docbot, threads: Threads) -> Any:
    async def metrics(request: Request) -> Response:
        body = await threads.run("ops", docbot.metrics.render)
        return Response(body, media_type=docbot.metrics.content_type)

    return metrics


def _error(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers or None)


def _authorized(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    given_token = given.strip().encode()
    return scheme.lower() == "bearer" and hmac.compare_digest(given_token, token.encode())


def _parse_ask(raw: bytes) -> tuple[str, list[dict[str, str]]]:
    """``{"question": str, "history": [{"role", "content"}...]}``; InputError otherwise."""
    try:
        data = json.loads(raw or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InputError('the body is not JSON; send {"question": "..."}') from None
    if not isinstance(data, dict) or not isinstance(data.get("question"), str):
        raise InputError('send a JSON object with a "question" string')
    history = data.get("history") or []
    if not isinstance(history, list) or not all(
        isinstance(m, dict)
        and m.get("role") in ("user", "assistant")
        and isinstance(m.get("content"), str)
        for m in history
    ):
        raise InputError('"history" must be a list of {"role": "user"|"assistant", "content": str}')
    return data["question"], history


def ask_endpoint(docbot: Docbot, token: str, threads: Threads) -> Any:
    settings = docbot.settings
    pool = BoundedPool(settings.api_workers, settings.api_queue, name="api-answers")
    proxies = trusted_networks(settings.trusted_proxies)

    def answer(record: AnswerRecord, question: str, history: list[dict[str, str]]) -> Response:
        """On the API pool: the answer, or the error response. Never raises."""
        started = time.perf_counter()
        stream = None
        try:
            decision = docbot.decide(Audience("api"))
            if decision.refusal:
                raise InputError(decision.refusal)
            stream = docbot.answerer.ask(question, history, scope=decision.scope)
            result = stream.answer
            record.fill(result)
            return JSONResponse(result.as_json())
        except Exception as exc:
            record.outcome, record.error = "failed", error_kind(exc)
            if stream is not None:
                record.note_attempt(stream.partial)
            if isinstance(exc, InputError):
                return _error(400, str(exc))
            if isinstance(exc, LLMError):
                return _error(503, f"the language model failed: {exc}; try again later")
            log.exception("POST /api/ask failed (request %s)", record.id)
            return _error(500, "internal error; the server log has the details")
        finally:
            record.latency_ms = round((time.perf_counter() - started) * 1000, 1)
            docbot.observer.finish_question(record)

    async def refuse(record: AnswerRecord, response: Response) -> Response:
        await threads.run("ops", docbot.observer.finish_question, record)
        return response

    async def api_ask(request: Request) -> Response:
        if not _authorized(request, token):
            return _error(401, "missing or wrong bearer token", **{"WWW-Authenticate": "Bearer"})
        try:
            raw = await read_body(request, MAX_BODY_BYTES)
        except BodyTooLarge:
            return _error(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
        except BadRequest as exc:
            return _error(400, str(exc))
        try:
            question, history = _parse_ask(raw)
        except InputError as exc:
            return _error(400, str(exc))
        record = AnswerRecord(id=new_answer_id(), surface="api", question=stored_question(question))
        slot = pool.reserve()  # limits are checked here, before the question is queued
        if slot is None:
            record.error = "busy"
            busy = "busy answering other questions; try again shortly"
            return await refuse(record, _error(503, busy, **{"Retry-After": str(BUSY_RETRY_AFTER)}))
        limited = docbot.limiter.limit(f"api:{client_address(request, proxies)}")
        if limited:
            slot.release()
            record.error = f"{limited.scope}_limit"
            docbot.metrics.observe_rate_limited("api", limited.scope)
            retry = {"Retry-After": str(limited.retry_after)}
            return await refuse(record, _error(429, limited.message, **retry))
        response: Response | None = await asyncio.wrap_future(
            pool.run(slot, answer, record, question, history)
        )
        return response or _error(500, "internal error; the server log has the details")

    return api_ask


def build_routes(docbot: Docbot, bolt_app: App) -> list[BaseRoute]:
    """Every HTTP route. ``/api/ask`` exists only when an API token is configured."""
    settings = docbot.settings
    threads = Threads({"slack": settings.slack_ack_threads, "ops": OPS_THREADS})
    slack = slack_events_endpoint(bolt_app, settings.slack_signing_secret, threads)
    routes: list[BaseRoute] = [
        Route("/slack/events", slack, methods=["POST"]),
        Route("/healthz", healthz_endpoint(docbot, threads), methods=["GET"]),
    ]
    if settings.api_token:
        ask = ask_endpoint(docbot, settings.api_token, threads)
        routes.append(Route("/api/ask", ask, methods=["POST"]))
    routes.append(Route("/metrics", metrics_endpoint(docbot, threads), methods=["GET"]))
    return routes


def create_web_app(
    docbot: Docbot, bolt_app: App, extra_routes: Sequence[BaseRoute] = ()
) -> Starlette:
    """The ASGI app ``docbot serve --http`` runs under uvicorn."""
    return Starlette(routes=[*build_routes(docbot, bolt_app), *extra_routes])
