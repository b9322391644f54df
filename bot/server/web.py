"""HTTP mode as one ASGI app (Starlette): Slack's requests, health, and the JSON API.

- ``POST /slack/events``: events, slash commands and interactivity, handed to Bolt,
  which verifies the signature and the 5-minute replay window (401 otherwise) and
  answers ``url_verification``. Bolt's dispatch is blocking (it acks, then runs
  listeners on its own threads), so it runs in Starlette's thread pool and never
  stalls the event loop.
- ``GET /healthz``: 200 with the store's state; 503 when the store cannot be read.
- ``POST /api/ask``: the ``docbot ask --json`` answer for other clients; only routed
  when ``DOCBOT_API_TOKEN`` is set, and only with ``Authorization: Bearer <token>``.
  Rate limited like Slack (per client address, and the shared global budget): 429
  with ``Retry-After`` past a limit.
- ``GET /metrics``: Prometheus text format from the app's own registry.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Sequence
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.access import Audience
from bot.app import Docbot
from bot.records import AnswerRecord, error_kind, new_answer_id
from ingest.errors import InputError, LLMError

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024


def slack_events_endpoint(bolt_app: App) -> Any:
    async def slack_events(request: Request) -> Response:
        body = await request.body()
        bolt_response = await run_in_threadpool(bolt_app.dispatch, to_bolt_request(request, body))
        return to_starlette_response(bolt_response)

    return slack_events


def healthz_endpoint(docbot: Docbot) -> Any:
    def check() -> dict[str, Any]:
        row = docbot.store.conn.execute("SELECT count(*) FROM documents").fetchone()
        return {"documents": int(row[0])}

    async def healthz(request: Request) -> Response:
        try:
            store = await run_in_threadpool(check)
        except Exception as exc:  # a broken store is exactly what a health check reports
            log.warning("health check failed: %s", exc)
            return JSONResponse({"ok": False, "store": f"error: {exc}"}, status_code=503)
        return JSONResponse({"ok": True, "store": "ok", **store})

    return healthz


def metrics_endpoint(docbot: Docbot) -> Any:
    async def metrics(request: Request) -> Response:
        body = await run_in_threadpool(docbot.metrics.render)
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


def ask_endpoint(docbot: Docbot, token: str) -> Any:
    def answer(question: str, history: list[dict[str, str]], client: str) -> Response:
        started = time.perf_counter()
        record = AnswerRecord(id=new_answer_id(), surface="api", question=question)
        stream = None
        try:
            limited = docbot.limiter.limit(f"api:{client}")
            if limited:
                record.error = f"{limited.scope}_limit"
                docbot.metrics.observe_rate_limited("api", limited.scope)
                return _error(429, limited.message, **{"Retry-After": str(limited.retry_after)})
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
            raise
        finally:
            record.latency_ms = round((time.perf_counter() - started) * 1000, 1)
            docbot.observer.finish_question(record)

    async def api_ask(request: Request) -> Response:
        if not _authorized(request, token):
            return _error(401, "missing or wrong bearer token", **{"WWW-Authenticate": "Bearer"})
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            return _error(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
        client = request.client.host if request.client else "unknown"
        try:
            question, history = _parse_ask(raw)
            return await run_in_threadpool(answer, question, history, client)
        except InputError as exc:
            return _error(400, str(exc))
        except LLMError as exc:
            return _error(503, f"the language model failed: {exc}; try again later")
        except Exception:
            log.exception("POST /api/ask failed")
            return _error(500, "internal error; the server log has the details")

    return api_ask


def build_routes(docbot: Docbot, bolt_app: App) -> list[BaseRoute]:
    """Every HTTP route. ``/api/ask`` exists only when an API token is configured."""
    routes: list[BaseRoute] = [
        Route("/slack/events", slack_events_endpoint(bolt_app), methods=["POST"]),
        Route("/healthz", healthz_endpoint(docbot), methods=["GET"]),
    ]
    if docbot.settings.api_token:
        routes.append(
            Route("/api/ask", ask_endpoint(docbot, docbot.settings.api_token), methods=["POST"])
        )
    routes.append(Route("/metrics", metrics_endpoint(docbot), methods=["GET"]))
    return routes


def create_web_app(
    docbot: Docbot, bolt_app: App, extra_routes: Sequence[BaseRoute] = ()
) -> Starlette:
    """The ASGI app ``docbot serve --http`` runs under uvicorn."""
    return Starlette(routes=[*build_routes(docbot, bolt_app), *extra_routes])
