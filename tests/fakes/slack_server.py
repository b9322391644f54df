"""A local fake Slack (Web API + Socket Mode) that the real slack_sdk clients talk to.

Why: handler tests are only worth something if the real ``WebClient`` and Bolt's real
Socket Mode client do the talking (bolt-python's own tests do this); a MagicMock
agrees with whatever the code under test believes. The fake keeps a small workspace
(messages per channel and thread, reactions, ephemeral posts, assistant-thread state),
answers with the shapes of the real responses in ``shared/data/slack/web_api``, enforces
Slack's message limits, records every request in full, and lets a test inject faults.

Usage::

    with FakeSlack() as slack:
        client = WebClient(base_url=slack.api_url, token="xoxb-test")
        client.chat_postMessage(channel="C0CHAN", text="hi")
        assert slack.messages("C0CHAN")[-1]["text"] == "hi"

It binds 127.0.0.1 on port 0 and runs aiohttp on its own thread and event loop, so
blocking test code (``wait_for``, ``wait_for_ack``) and the clients under test never
share a loop with it. All state sits behind one ``threading.Condition``.

Exception tree: :class:`WaitTimeout` (an ``AssertionError``) for every wait that ran out.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from slack_sdk.socket_mode import SocketModeClient

from tests.fakes import slack_payloads as P
from tests.fakes.slack_socket import (
    Ack,
    SentEnvelope,
    SocketConnection,
    SocketHub,
    WaitTimeout,
    wait_until,
)

__all__ = [
    "Ack",
    "Call",
    "FakeSlack",
    "Fault",
    "SentEnvelope",
    "SocketConnection",
    "WaitTimeout",
]

# Arguments slack_sdk may send as JSON-encoded strings inside a form body.
JSON_FIELDS = ("blocks", "attachments", "metadata", "chunks", "prompts", "view", "loading_messages")

Handler = Callable[["Request"], dict[str, Any]]


@dataclass(frozen=True)
class Call:
    """One HTTP request the fake received, in full, and what it answered."""

    method: str  # Web API method ("chat.postMessage"), or "response_url"
    http_method: str
    path: str
    headers: dict[str, str]
    query: dict[str, str]
    params: dict[str, Any]  # query + form/JSON body merged, values as sent
    raw_body: bytes
    token: str | None
    status: int
    response: Any
    at: float

    def header(self, name: str) -> str | None:
        """A request header, case-insensitively (HTTP header names are)."""
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)

    @property
    def decoded(self) -> dict[str, Any]:
        """``params`` with JSON-encoded fields (``blocks``, ``attachments``, ``view``, …) decoded.

        slack_sdk sends ``blocks`` as a JSON list in a JSON body but as a string in a form
        body; tests should not care which.
        """
        return decode_json_fields(self.params)

    @property
    def ok(self) -> bool:
        return isinstance(self.response, dict) and bool(self.response.get("ok"))


@dataclass
class Fault:
    """An injected failure: the next ``times`` calls of ``method`` get this answer instead."""

    method: str
    error: str
    status: int
    retry_after: int | None
    times: int | None  # None: until the test ends
    extra: dict[str, Any] = field(default_factory=dict)
    hits: int = 0

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times


@dataclass
class Request:
    """What a method handler gets: the merged params (JSON fields decoded) and the token."""

    method: str
    params: dict[str, Any]
    token: str | None

    def arg(self, key: str, default: str = "") -> str:
        value = self.params.get(key)
        return default if value is None else str(value)


def decode_json_fields(params: dict[str, Any]) -> dict[str, Any]:
    """Copy of ``params`` with string-encoded JSON fields parsed (left as-is if not JSON)."""
    out = dict(params)
    for key in JSON_FIELDS:
        value = out.get(key)
        if isinstance(value, str):
            with contextlib.suppress(json.JSONDecodeError):
                out[key] = json.loads(value)
    return out


def _ts_key(ts: str) -> tuple[int, int]:
    whole, _, frac = ts.partition(".")
    return int(whole or 0), int((frac or "0").ljust(6, "0")[:6])


class FakeSlack:
    """The fake workspace and its HTTP/websocket server. See the module docstring."""

    def __init__(
        self, *, single_use_tickets: bool = True, oauth_scopes: str = "app_mentions:read,chat:write"
    ) -> None:
        self._cond = threading.Condition(threading.RLock())
        self.socket = SocketHub(self._cond, single_use_tickets=single_use_tickets)
        self._oauth_scopes = oauth_scopes
        self._calls: list[Call] = []
        self._faults: list[Fault] = []
        self._channels: dict[str, dict[str, dict[str, Any]]] = {}  # channel -> ts -> message
        self._versions: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._streaming: set[tuple[str, str]] = set()
        self.deleted: list[dict[str, Any]] = []  # {"channel", "ts", "message"}
        self.ephemeral: list[dict[str, Any]] = []  # {"channel", "user", "thread_ts", "message"}
        self.assistant_threads: dict[tuple[str, str], dict[str, Any]] = {}
        self.home_views: dict[str, dict[str, Any]] = {}
        self.channels_info: dict[str, dict[str, Any]] = {}
        self.users_info: dict[str, dict[str, Any]] = {}
        self._response_urls: dict[str, dict[str, Any]] = {}
        self.errors: list[BaseException] = []  # raised inside the fake while serving: a bug in it
        self._handlers: dict[str, Handler] = self._method_table()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.host = "127.0.0.1"
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """What to pass as ``WebClient(base_url=...)``."""
        return f"{self.url}/api/"

    def start(self, timeout: float = 5.0) -> FakeSlack:
        """Start serving on a free port; returns self once it accepts connections."""
        ready = threading.Event()
        errors: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self.socket.bind(loop)
            try:
                loop.run_until_complete(self._start_site())
            except BaseException as exc:  # surfaced to start()'s caller
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._stop_site())
            loop.close()

        self._thread = threading.Thread(target=serve, name="fake-slack", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise RuntimeError("fake Slack did not start")
        if errors:
            raise errors[0]
        return self

    async def _start_site(self) -> None:
        app = web.Application(client_max_size=16 * 1024 * 1024, middlewares=[self._keep_errors])
        app.router.add_route("*", "/api/{method}", self._http_api)
        app.router.add_post("/hooks/{key}", self._http_response_url)
        app.router.add_get("/link/", self.socket.handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, 0).start()
        self.port = int(self._runner.addresses[0][1])

    @web.middleware
    async def _keep_errors(
        self, request: web.Request, handler: Callable[..., Any]
    ) -> web.StreamResponse:
        """Remember exceptions from the fake's own handlers; the client would only see a 500."""
        try:
            return await handler(request)  # type: ignore[no-any-return]
        except web.HTTPException:
            raise
        except Exception as exc:
            with self._cond:
                self.errors.append(exc)
            raise

    async def _stop_site(self) -> None:
        await self.socket.close_all()
        if self._runner is not None:
            await self._runner.cleanup()

    def stop(self) -> None:
        """Close sockets and stop the server thread."""
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- recorded calls ----------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[Call]:
        """Every recorded request, in arrival order; only ``method``'s when given."""
        with self._cond:
            return [c for c in self._calls if method is None or c.method == method]

    def wait_for(
        self, match: str | Callable[[Call], bool], timeout: float = 5.0, *, count: int = 1
    ) -> Call:
        """Block until ``count`` calls match (method name or predicate); return the ``count``-th.

        Tests dispatch events asynchronously (Socket Mode, Bolt's ack-then-work), so
        "the bot has replied" is something to wait for, not to assert at once.
        """
        pred: Callable[[Call], bool] = (
            (lambda c: c.method == match) if isinstance(match, str) else match
        )

        def found() -> Call | None:
            hits = [c for c in self._calls if pred(c)]
            return hits[count - 1] if len(hits) >= count else None

        return wait_until(  # type: ignore[no-any-return]
            self._cond,
            found,
            timeout,
            lambda: f"{count} call(s) matching {match!r}; got {[c.method for c in self._calls]}",
        )

    # -- faults ------------------------------------------------------------------------------

    def fail(
        self,
        method: str,
        error: str = "ratelimited",
        *,
        status: int | None = None,
        retry_after: int | None = None,
        times: int | None = 1,
        **extra: Any,
    ) -> Fault:
        """Make the next ``times`` calls of ``method`` fail (``times=None``: every call).

        ``ratelimited`` defaults to HTTP 429 with ``Retry-After: 1``, which slack_sdk's
        ``RateLimitErrorRetryHandler`` honours; other errors are Slack's usual HTTP 200
        ``{"ok": false, "error": …}``. E.g. a workspace without chat streaming:
        ``fail("chat.startStream", "unknown_method", times=None)``.
        """
        if error == "ratelimited":
            status = 429 if status is None else status
            retry_after = 1 if retry_after is None else retry_after
        fault = Fault(method, error, 200 if status is None else status, retry_after, times, extra)
        with self._cond:
            self._faults.append(fault)
        return fault

    def _take_fault(self, method: str) -> Fault | None:
        for fault in self._faults:
            if fault.method == method and not fault.exhausted:
                fault.hits += 1
                return fault
        return None

    # -- the workspace: seeding and reading ----------------------------------------------------

    def seed_message(
        self,
        channel: str,
        text: str,
        *,
        user: str = P.USER_ID,
        ts: str | None = None,
        thread_ts: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Put a human's message into the workspace (e.g. the earlier turns of a thread)."""
        msg: dict[str, Any] = {
            "type": "message",
            "user": user,
            "text": text,
            "ts": ts or P.new_ts(),
            **fields,
        }
        if thread_ts is not None:
            msg["thread_ts"] = thread_ts
            if thread_ts != msg["ts"]:
                root = self.message(channel, thread_ts)
                msg["parent_user_id"] = root.get("user", user) if root else user
        with self._cond:
            self._store(channel, msg)
        return copy.deepcopy(msg)

    def seed_event(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """Apply an Events API body to the workspace, as Slack has by the time it sends the event.

        A user message or app_mention is stored (once per ts: Slack sends both for one
        mention), ``message_changed`` edits and ``message_deleted`` removes. Returns the
        stored message, if any. ``socket_send`` does this for every ``events_api`` envelope.
        """
        event = body.get("event") or {}
        channel = event.get("channel")
        if event.get("type") not in ("message", "app_mention") or not channel:
            return None
        subtype = event.get("subtype")
        with self._cond:
            if subtype == "message_changed":
                new = event.get("message") or {}
                old = self._channels.get(channel, {}).get(str(new.get("ts")))
                if old is not None:
                    old.update(
                        {
                            k: v
                            for k, v in new.items()
                            if k in ("text", "blocks", "attachments", "edited")
                        }
                    )
                    self._version(channel, old)
                return copy.deepcopy(old)
            if subtype == "message_deleted":
                self._delete(channel, str(event.get("deleted_ts")))
                return None
            if subtype not in (None, "thread_broadcast", "file_share", "bot_message", "me_message"):
                return None
            if str(event.get("ts")) in self._channels.get(channel, {}):
                return copy.deepcopy(self._channels[channel][str(event["ts"])])
            skip = ("channel", "event_ts", "channel_type")
            msg = {k: copy.deepcopy(v) for k, v in event.items() if k not in skip}
            msg["type"] = "message"
            self._store(channel, msg)
            return copy.deepcopy(msg)

    def messages(self, channel: str, thread_ts: str | None = None) -> list[dict[str, Any]]:
        """Current messages, oldest first: a thread (root + replies), or the channel's top level."""
        with self._cond:
            if thread_ts is not None:
                return self._thread_messages(channel, thread_ts)
            return [
                self._decorate(channel, m) for m in self._sorted(channel) if self._is_top_level(m)
            ]

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """One current message, or None (never posted, or deleted)."""
        with self._cond:
            msg = self._channels.get(channel, {}).get(ts)
            return self._decorate(channel, msg) if msg is not None else None

    def last_message(self, channel: str, thread_ts: str | None = None) -> dict[str, Any]:
        """The newest message of a thread (or channel); ``AssertionError`` when there is none."""
        msgs = self.messages(channel, thread_ts)
        assert msgs, f"no messages in {channel} thread {thread_ts}"
        return msgs[-1]

    def message_versions(self, channel: str, ts: str) -> list[dict[str, Any]]:
        """Every state message ``ts`` has been in (post, each update or append), oldest first.

        For asserting "posted a placeholder, then replaced it with the answer".
        """
        with self._cond:
            return copy.deepcopy(self._versions.get((channel, ts), []))

    def reactions(self, channel: str, ts: str) -> list[str]:
        """Names of the reactions currently on a message."""
        msg = self.message(channel, ts)
        return [r["name"] for r in (msg or {}).get("reactions", [])]

    def add_channel(self, channel_id: str, **fields: Any) -> None:
        """Override what ``conversations.info`` says about a channel (merged over the default)."""
        with self._cond:
            self.channels_info[channel_id] = {**P.channel_info(channel_id), **fields}

    def add_user(self, user_id: str, **fields: Any) -> None:
        """Override what ``users.info`` says about a user (merged over the default)."""
        with self._cond:
            self.users_info[user_id] = {**P.user_info(user_id), **fields}

    def response_url(
        self, channel: str = P.CHANNEL_ID, *, user: str = P.USER_ID, message_ts: str | None = None
    ) -> str:
        """A ``response_url`` served by the fake, for slash-command and block_actions payloads.

        ``respond()`` to it then lands here: ``in_channel`` posts into ``channel``,
        ``replace_original``/``delete_original`` act on ``message_ts``, anything else is
        recorded as an ephemeral message to ``user``.
        """
        key = uuid.uuid4().hex
        with self._cond:
            self._response_urls[key] = {"channel": channel, "user": user, "message_ts": message_ts}
        return f"{self.url}/hooks/{key}"

    # -- Socket Mode (see slack_socket.py) ------------------------------------------------------

    def socket_send(
        self,
        envelope_or_payload: dict[str, Any],
        envelope_type: str | None = None,
        *,
        seed: bool = True,
        timeout: float = 5.0,
    ) -> str:
        """Push an envelope to the connected client; returns its ``envelope_id``.

        Pass a full envelope, or just a payload (an ``event_callback`` body, slash-command
        fields, an interactive payload) and it is wrapped, the type guessed unless given.
        Waits up to ``timeout`` for a client to connect. With ``seed``, an ``events_api``
        message is first stored in the workspace (see :meth:`seed_event`).
        """
        envelope = envelope_or_payload
        if "envelope_id" not in envelope or "payload" not in envelope:
            kind = envelope_type or P.envelope_type_for(envelope)
            envelope = P.socket_envelope(envelope, kind)
        if seed and envelope.get("type") == "events_api":
            self.seed_event(envelope["payload"])
        return self.socket.send(envelope, timeout=timeout)

    def socket_redeliver(
        self, envelope_id: str, *, retry_reason: str = "timeout", timeout: float = 5.0
    ) -> str:
        """Re-send an envelope as Slack does after a missing ack (``retry_attempt`` + 1)."""
        return self.socket.redeliver(envelope_id, retry_reason=retry_reason, timeout=timeout)

    def wait_for_ack(self, envelope_id: str, timeout: float = 5.0, *, count: int = 1) -> Ack:
        """Block until the client has acked ``envelope_id`` ``count`` times; return that ack."""
        return self.socket.wait_for_ack(envelope_id, timeout, count=count)

    def wait_for_socket(self, timeout: float = 5.0) -> SocketConnection:
        """Block until a Socket Mode client is connected and has been sent ``hello``."""
        return self.socket.wait_for_connection(timeout)

    def socket_reconnect(
        self, how: str = "disconnect", *, reason: str = "refresh_requested", timeout: float = 5.0
    ) -> SocketConnection:
        """Force the client onto a new connection (``"disconnect"`` frame or plain ``"close"``)."""
        return self.socket.reconnect(how, reason=reason, timeout=timeout)

    def socket_close_all(self, timeout: float = 5.0) -> None:
        """Close every open socket from the server side (close frame, code 1001).

        Also part of the quick way to stop slack_sdk's builtin client: see
        :meth:`stop_socket_client`.
        """
        self.socket.run(self.socket.close_all(), timeout)

    def stop_socket_client(self, client: SocketModeClient) -> None:
        """Stop slack_sdk's builtin Socket Mode client (Bolt's ``handler.client``) at once.

        Why: its plain ``close()`` takes about 3 s. Its receive thread sits in a blocking
        ``recv`` with a 3 s socket timeout, which closing the socket from another thread
        does not interrupt, and its message processor polls its queue once a second. So:
        no reconnecting, a close frame from here (wakes the ``recv``), a wake-up for the
        queue, then the real ``close()``. Waits at most about 2 s.
        """
        client.auto_reconnect_enabled = False
        self.socket_close_all()
        # Let the receive thread finish its own disconnect first: the builtin
        # Connection.disconnect() checks `sock is not None` outside its locks, so two
        # threads disconnecting at once can raise AttributeError on `None.close()`.
        deadline = time.monotonic() + 2.0
        while client.is_connected() and time.monotonic() < deadline:
            time.sleep(0.005)
        client.closed = True  # the message processor's loop condition...
        client.message_queue.put(None)  # ...checked now rather than after its 1 s poll
        client.close()

    @property
    def acks(self) -> list[Ack]:
        """Every ack received, in arrival order."""
        with self._cond:
            return list(self.socket.acks)

    @property
    def socket_sent(self) -> list[SentEnvelope]:
        """Every envelope pushed (redeliveries included), in order."""
        with self._cond:
            return list(self.socket.sent)

    # -- HTTP ----------------------------------------------------------------------------------

    async def _read_params(
        self, request: web.Request
    ) -> tuple[dict[str, str], dict[str, Any], bytes]:
        query = dict(request.query)
        raw = await request.read()
        body: dict[str, Any] = {}
        ctype = request.content_type
        if raw and ctype == "application/json":
            parsed = json.loads(raw)
            body = parsed if isinstance(parsed, dict) else {"_json": parsed}
        elif raw and ctype == "application/x-www-form-urlencoded":
            body = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        return query, {**query, **body}, raw

    async def _http_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        query, params, raw = await self._read_params(request)
        auth = request.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else params.get("token")
        with self._cond:
            status, body, headers = self._answer(method, params, token)
            self._record(method, request, query, params, raw, token, status, body)
        headers = {
            "X-Slack-Req-Id": uuid.uuid4().hex,
            "X-OAuth-Scopes": self._oauth_scopes,
            **headers,
        }
        return web.json_response(body, status=status, headers=headers)

    def _record(
        self,
        method: str,
        request: web.Request,
        query: dict[str, str],
        params: dict[str, Any],
        raw: bytes,
        token: str | None,
        status: int,
        body: Any,
    ) -> None:
        self._calls.append(
            Call(
                method=method,
                http_method=request.method,
                path=request.path_qs,
                headers=dict(request.headers),
                query=query,
                params=params,
                raw_body=raw,
                token=token,
                status=status,
                response=copy.deepcopy(body),
                at=time.time(),
            )
        )
        self._cond.notify_all()

    def _answer(
        self, method: str, params: dict[str, Any], token: str | None
    ) -> tuple[int, Any, dict[str, str]]:
        """Decide the response: unknown method, injected fault, token check, then the handler."""
        handler = self._handlers.get(method)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method", "req_method": method}, {}
        fault = self._take_fault(method)
        if fault is not None:
            headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
            return fault.status, {"ok": False, "error": fault.error, **fault.extra}, headers
        if not token:
            return 200, {"ok": False, "error": "not_authed"}, {}
        is_app_token = token.startswith("xapp-")
        if (method == "apps.connections.open") != is_app_token:
            return 200, {"ok": False, "error": "not_allowed_token_type"}, {}
        if not token.startswith(("xapp-", "xoxb-", "xoxp-")):
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        return 200, handler(Request(method, decode_json_fields(params), token)), {}

    async def _http_response_url(self, request: web.Request) -> web.Response:
        query, params, raw = await self._read_params(request)
        with self._cond:
            target = self._response_urls.get(request.match_info["key"])
            if target is None:
                status, body = 404, "no_service"
            else:
                status, body = self._respond_via_url(target, decode_json_fields(params))
            self._record("response_url", request, query, params, raw, None, status, body)
        return web.Response(status=status, text=body)

    def _respond_via_url(self, target: dict[str, Any], params: dict[str, Any]) -> tuple[int, str]:
        channel, original = target["channel"], target["message_ts"]
        if params.get("delete_original") and original:
            self._delete(channel, original)
            return 200, "ok"
        error = P.message_error(params)
        if error is not None:
            return 400, str(error["error"])
        if (
            params.get("replace_original")
            and original
            and original in self._channels.get(channel, {})
        ):
            self._update(channel, original, params)
        elif params.get("response_type") == "in_channel":
            self._post(channel, params)
        else:
            msg = self._bot_message(P.new_ts(), params)
            self.ephemeral.append(
                {
                    "channel": channel,
                    "user": target["user"],
                    "thread_ts": params.get("thread_ts"),
                    "message": msg,
                }
            )
        return 200, "ok"

    # -- the message store (callers hold the lock) ------------------------------------------------

    def _sorted(self, channel: str) -> list[dict[str, Any]]:
        return sorted(self._channels.get(channel, {}).values(), key=lambda m: _ts_key(m["ts"]))

    @staticmethod
    def _is_top_level(msg: dict[str, Any]) -> bool:
        thread_ts = msg.get("thread_ts")
        return (
            thread_ts is None or thread_ts == msg["ts"] or msg.get("subtype") == "thread_broadcast"
        )

    def _replies(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        return [
            m
            for m in self._sorted(channel)
            if m.get("thread_ts") == thread_ts and m["ts"] != thread_ts
        ]

    def _decorate(self, channel: str, msg: dict[str, Any]) -> dict[str, Any]:
        """A copy of ``msg`` with the thread summary Slack puts on a thread's parent."""
        out = copy.deepcopy(msg)
        replies = self._replies(channel, msg["ts"])
        if replies:
            users = list(dict.fromkeys(r.get("user", "") for r in replies))
            out.update(
                thread_ts=msg["ts"],
                reply_count=len(replies),
                reply_users=users,
                reply_users_count=len(users),
                latest_reply=replies[-1]["ts"],
            )
        return out

    def _thread_messages(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        root = self._channels.get(channel, {}).get(thread_ts)
        if root is not None and root.get("thread_ts") not in (None, thread_ts):
            return [self._decorate(channel, root)]  # ts of a reply: Slack returns just that reply
        head = [self._decorate(channel, root)] if root is not None else []
        return head + [copy.deepcopy(m) for m in self._replies(channel, thread_ts)]

    def _version(self, channel: str, msg: dict[str, Any]) -> None:
        self._versions.setdefault((channel, msg["ts"]), []).append(copy.deepcopy(msg))

    def _store(self, channel: str, msg: dict[str, Any]) -> None:
        self._channels.setdefault(channel, {})[msg["ts"]] = msg
        self._version(channel, msg)
        self._cond.notify_all()

    def _delete(self, channel: str, ts: str) -> bool:
        msg = self._channels.get(channel, {}).pop(ts, None)
        if msg is None:
            return False
        self.deleted.append({"channel": channel, "ts": ts, "message": msg})
        self._streaming.discard((channel, ts))
        self._cond.notify_all()
        return True

    @staticmethod
    def _bot_message(ts: str, params: dict[str, Any]) -> dict[str, Any]:
        return copy.deepcopy(P.posted_message(ts, params))

    def _post(self, channel: str, params: dict[str, Any]) -> dict[str, Any]:
        msg = self._bot_message(P.new_ts(), params)
        thread_ts = params.get("thread_ts")
        if thread_ts:
            msg["thread_ts"] = str(thread_ts)
            root = self._channels.get(channel, {}).get(str(thread_ts))
            msg["parent_user_id"] = root.get("user", P.USER_ID) if root else P.USER_ID
            if str(params.get("reply_broadcast", "")).lower() in ("true", "1"):
                msg["subtype"] = "thread_broadcast"
        self._store(channel, msg)
        return msg

    def _update(self, channel: str, ts: str, params: dict[str, Any]) -> dict[str, Any]:
        msg = self._channels[channel][ts]
        if "text" in params or "markdown_text" in params:
            msg["text"] = str(params.get("text") or params.get("markdown_text") or "")
        for key in ("blocks", "attachments", "metadata"):  # omitted: Slack keeps the old ones
            if key in params:
                msg[key] = copy.deepcopy(params[key])
        msg["edited"] = {"user": P.BOT_USER_ID, "ts": P.new_ts()}
        self._version(channel, msg)
        self._cond.notify_all()
        return msg

    # -- Web API methods (callers hold the lock) ----------------------------------------------

    def _method_table(self) -> dict[str, Handler]:
        return {
            "api.test": lambda r: {
                "ok": True,
                "args": {k: v for k, v in r.params.items() if k != "token"},
            },
            "auth.test": self._auth_test,
            "apps.connections.open": self._apps_connections_open,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "chat.startStream": self._chat_start_stream,
            "chat.appendStream": self._chat_append_stream,
            "chat.stopStream": self._chat_stop_stream,
            "reactions.add": self._reactions_add,
            "reactions.remove": self._reactions_remove,
            "conversations.replies": self._conversations_replies,
            "conversations.history": self._conversations_history,
            "conversations.info": self._conversations_info,
            "users.info": self._users_info,
            "assistant.threads.setStatus": self._assistant_thread("status", "status"),
            "assistant.threads.setSuggestedPrompts": self._assistant_thread("prompts", "prompts"),
            "assistant.threads.setTitle": self._assistant_thread("title", "title"),
            "views.publish": self._views_publish,
        }

    def _auth_test(self, r: Request) -> dict[str, Any]:
        return P.auth_test_response()

    def _apps_connections_open(self, r: Request) -> dict[str, Any]:
        return {"ok": True, "url": self.socket.issue_url(self.host, self.port)}

    def _existing(self, r: Request, ts_key: str = "ts") -> tuple[str, str, dict[str, Any] | None]:
        channel, ts = r.arg("channel"), r.arg(ts_key)
        return channel, ts, self._channels.get(channel, {}).get(ts)

    def _chat_post_message(self, r: Request) -> dict[str, Any]:
        channel = P.dm_channel_for(r.arg("channel"))
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        error = P.message_error(r.params)
        if error is not None:
            return error
        msg = self._post(channel, r.params)
        return {"ok": True, "channel": channel, "ts": msg["ts"], "message": copy.deepcopy(msg)}

    def _chat_update(self, r: Request) -> dict[str, Any]:
        channel, ts, msg = self._existing(r)
        if msg is None:
            return {"ok": False, "error": "message_not_found"}
        if msg.get("bot_id") != P.BOT_ID:
            return {"ok": False, "error": "cant_update_message"}
        error = P.message_error(r.params, require_text=False)
        if error is not None:
            return error
        msg = self._update(channel, ts, r.params)
        return {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "text": msg["text"],
            "message": copy.deepcopy(msg),
        }

    def _chat_delete(self, r: Request) -> dict[str, Any]:
        channel, ts, msg = self._existing(r)
        if msg is None:
            return {"ok": False, "error": "message_not_found"}
        if msg.get("bot_id") != P.BOT_ID:
            return {"ok": False, "error": "cant_delete_message"}
        self._delete(channel, ts)
        return {"ok": True, "channel": channel, "ts": ts}

    def _chat_post_ephemeral(self, r: Request) -> dict[str, Any]:
        channel, user = P.dm_channel_for(r.arg("channel")), r.arg("user")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if not user:
            return {"ok": False, "error": "user_not_in_channel"}
        error = P.message_error(r.params)
        if error is not None:
            return error
        msg = self._bot_message(P.new_ts(), r.params)
        self.ephemeral.append(
            {
                "channel": channel,
                "user": user,
                "thread_ts": r.params.get("thread_ts"),
                "message": msg,
            }
        )
        self._cond.notify_all()
        return {"ok": True, "message_ts": msg["ts"]}

    def _chat_get_permalink(self, r: Request) -> dict[str, Any]:
        channel, ts, msg = self._existing(r, "message_ts")
        if msg is None:
            return {"ok": False, "error": "message_not_found"}
        link = f"https://{P.TEAM_DOMAIN}.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        thread_ts = msg.get("thread_ts")
        if thread_ts and thread_ts != ts:
            link += f"?thread_ts={thread_ts}&cid={channel}"
        return {"ok": True, "channel": channel, "permalink": link}

    @staticmethod
    def _stream_text(r: Request) -> tuple[str, list[Any]]:
        """The markdown a stream call adds: ``markdown_text`` plus any ``markdown_text`` chunks."""
        chunks = r.params.get("chunks") or []
        chunks = chunks if isinstance(chunks, list) else []
        parts = [r.arg("markdown_text")] + [
            str(c.get("text", ""))
            for c in chunks
            if isinstance(c, dict) and c.get("type") == "markdown_text"
        ]
        return "".join(parts), chunks

    def _chat_start_stream(self, r: Request) -> dict[str, Any]:
        channel, thread_ts = P.dm_channel_for(r.arg("channel")), r.arg("thread_ts")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if not thread_ts:
            return {"ok": False, "error": "invalid_arguments"}
        text, chunks = self._stream_text(r)
        if len(text) > P.MAX_MARKDOWN_BLOCK_TEXT:
            return {"ok": False, "error": "msg_too_long"}
        msg = self._post(channel, {"markdown_text": text, "thread_ts": thread_ts})
        if chunks:
            msg["chunks"] = copy.deepcopy(chunks)
        self._streaming.add((channel, msg["ts"]))
        return {"ok": True, "channel": channel, "ts": msg["ts"]}

    def _stream_append(self, r: Request) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """Shared by appendStream/stopStream: (error, message) after appending this call's text."""
        channel, ts, msg = self._existing(r)
        if msg is None:
            return {"ok": False, "error": "message_not_found"}, None
        if (channel, ts) not in self._streaming:
            return {"ok": False, "error": "message_not_in_streaming_state"}, None
        text, chunks = self._stream_text(r)
        if len(text) > P.MAX_MARKDOWN_BLOCK_TEXT:
            return {"ok": False, "error": "msg_too_long"}, None
        msg["text"] = msg.get("text", "") + text
        if chunks:
            msg.setdefault("chunks", []).extend(copy.deepcopy(chunks))
        return None, msg

    def _chat_append_stream(self, r: Request) -> dict[str, Any]:
        error, msg = self._stream_append(r)
        if error is not None or msg is None:
            return error or {"ok": False, "error": "message_not_found"}
        self._version(r.arg("channel"), msg)
        self._cond.notify_all()
        return {"ok": True, "channel": r.arg("channel"), "ts": msg["ts"]}

    def _chat_stop_stream(self, r: Request) -> dict[str, Any]:
        blocks = r.params.get("blocks")
        if blocks is not None and P.block_errors(blocks):
            errors = P.block_errors(blocks)
            return {
                "ok": False,
                "error": "invalid_blocks",
                "errors": errors,
                "response_metadata": {"messages": errors},
            }
        error, msg = self._stream_append(r)
        if error is not None or msg is None:
            return error or {"ok": False, "error": "message_not_found"}
        channel = r.arg("channel")
        for key in ("blocks", "metadata"):
            if r.params.get(key) is not None:
                msg[key] = copy.deepcopy(r.params[key])
        self._streaming.discard((channel, msg["ts"]))
        self._version(channel, msg)
        self._cond.notify_all()
        return {"ok": True, "channel": channel, "ts": msg["ts"], "message": copy.deepcopy(msg)}

    def _reactions_add(self, r: Request) -> dict[str, Any]:
        _, _, msg = self._existing(r, "timestamp")
        name = r.arg("name")
        if msg is None:
            return {"ok": False, "error": "message_not_found"}
        if not name:
            return {"ok": False, "error": "invalid_name"}
        reactions: list[dict[str, Any]] = msg.setdefault("reactions", [])
        found = next((x for x in reactions if x["name"] == name), None)
        if found is not None and P.BOT_USER_ID in found["users"]:
            return {"ok": False, "error": "already_reacted"}
        if found is None:
            found = {"name": name, "users": [], "count": 0}
            reactions.append(found)
        found["users"].append(P.BOT_USER_ID)
        found["count"] += 1
        self._cond.notify_all()
        return {"ok": True}

    def _reactions_remove(self, r: Request) -> dict[str, Any]:
        _, _, msg = self._existing(r, "timestamp")
        if msg is None:
            return {"ok": False, "error": "message_not_found"}
        reactions: list[dict[str, Any]] = msg.get("reactions", [])
        found = next(
            (x for x in reactions if x["name"] == r.arg("name") and P.BOT_USER_ID in x["users"]),
            None,
        )
        if found is None:
            return {"ok": False, "error": "no_reaction"}
        found["users"].remove(P.BOT_USER_ID)
        found["count"] -= 1
        if not found["users"]:
            reactions.remove(found)
        self._cond.notify_all()
        return {"ok": True}

    @staticmethod
    def _page(msgs: list[dict[str, Any]], r: Request) -> dict[str, Any]:
        """Slack's cursor pagination: ``limit`` items; ``next_cursor`` is opaque (an offset)."""
        limit = int(r.arg("limit", "100") or 100) or 100
        start = int(r.arg("cursor", "0") or 0)
        page = msgs[start : start + limit]
        more = start + limit < len(msgs)
        return {
            "ok": True,
            "messages": page,
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def _conversations_replies(self, r: Request) -> dict[str, Any]:
        channel, ts = r.arg("channel"), r.arg("ts")
        if not ts:
            return {"ok": False, "error": "invalid_arguments"}
        msgs = self._thread_messages(channel, ts)
        if not msgs:
            return {"ok": False, "error": "thread_not_found"}
        return self._page(msgs, r)

    def _conversations_history(self, r: Request) -> dict[str, Any]:
        channel = r.arg("channel")
        oldest, latest = r.arg("oldest"), r.arg("latest")
        inclusive = r.arg("inclusive").lower() in ("true", "1")
        msgs = [
            self._decorate(channel, m)
            for m in reversed(self._sorted(channel))
            if self._is_top_level(m)
        ]
        if oldest:
            msgs = [
                m
                for m in msgs
                if _ts_key(m["ts"]) > _ts_key(oldest) or (inclusive and m["ts"] == oldest)
            ]
        if latest:
            msgs = [
                m
                for m in msgs
                if _ts_key(m["ts"]) < _ts_key(latest) or (inclusive and m["ts"] == latest)
            ]
        return {**self._page(msgs, r), "pin_count": 0}

    def _conversations_info(self, r: Request) -> dict[str, Any]:
        channel = r.arg("channel")
        info = self.channels_info.get(channel) or P.channel_info(channel)
        if not info:
            return {"ok": False, "error": "channel_not_found"}
        return {"ok": True, "channel": copy.deepcopy(info)}

    def _users_info(self, r: Request) -> dict[str, Any]:
        user = r.arg("user")
        info = self.users_info.get(user) or P.user_info(user)
        if not info:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": copy.deepcopy(info)}

    def _assistant_thread(self, field_name: str, param: str) -> Handler:
        """assistant.threads.set*: remember the value per (channel_id, thread_ts)."""

        def handle(r: Request) -> dict[str, Any]:
            channel, thread_ts = r.arg("channel_id"), r.arg("thread_ts")
            if not channel or not thread_ts:
                return {"ok": False, "error": "invalid_arguments"}
            state = self.assistant_threads.setdefault((channel, thread_ts), {})
            state[field_name] = copy.deepcopy(r.params.get(param))
            history = state.setdefault(f"{field_name}_history", [])
            history.append(state[field_name])
            self._cond.notify_all()
            return {"ok": True}

        return handle

    def _views_publish(self, r: Request) -> dict[str, Any]:
        user, view = r.arg("user_id"), r.params.get("view")
        if not user:
            return {"ok": False, "error": "invalid_arguments"}
        if not isinstance(view, dict) or view.get("type") != "home":
            return {"ok": False, "error": "invalid_arguments"}
        errors = P.block_errors(view.get("blocks", []), max_blocks=P.MAX_VIEW_BLOCKS)
        if errors:
            return {
                "ok": False,
                "error": "invalid_blocks",
                "errors": errors,
                "response_metadata": {"messages": errors},
            }
        stored = {
            "id": f"V{uuid.uuid4().hex[:10].upper()}",
            "team_id": P.TEAM_ID,
            "app_id": P.APP_ID,
            "bot_id": P.BOT_ID,
            "hash": uuid.uuid4().hex[:16],
            **copy.deepcopy(view),
        }
        self.home_views[user] = stored
        return {"ok": True, "view": copy.deepcopy(stored)}
