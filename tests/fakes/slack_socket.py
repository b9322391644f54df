"""The Socket Mode half of the fake Slack: tickets, the websocket endpoint, envelopes and acks.

Why it behaves as it does (Slack's docs and slack_sdk's clients, see PROTOCOL_NOTES.md):

* ``apps.connections.open`` hands out a URL with a one-time ``ticket``; a client that
  reuses an old URL after a reconnect is a bug, so a reused or unknown ticket is
  refused at the handshake (HTTP 401) and recorded in ``rejected_tickets``.
* The first frame on a new socket is ``hello``; slack_sdk's clients ignore it, but a
  client must tolerate it.
* A ``disconnect`` frame (reason ``refresh_requested``, ``warning``, …) makes
  slack_sdk's clients open a *new* URL at once; a close frame makes them notice the
  dead session later (the builtin client within ``ping_interval``). Both are offered
  by :meth:`SocketHub.reconnect`, because the two paths differ in real clients.
* Envelopes go to one connection (the newest, as Slack picks one of an app's sockets);
  the client acks with ``{"envelope_id": …}`` plus an optional ``payload``. Slack
  re-sends an unacked envelope with ``retry_attempt`` + 1: :meth:`SocketHub.redeliver`.

The hub runs its coroutines on the server's event loop thread; its public methods are
called from test threads and block, with a timeout, until the loop has done the work.
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

from aiohttp import WSMsgType, web

from tests.fakes.slack_payloads import APP_ID


class WaitTimeout(AssertionError):
    """Something a test waited for did not happen in time.

    An ``AssertionError`` so pytest reports it as a test failure with its message (which
    says what *was* seen), not as an error in the fixture.
    """


@dataclass
class SocketConnection:
    """One websocket session as the fake saw it."""

    id: int
    ticket: str
    opened_at: float
    ws: web.WebSocketResponse = field(repr=False)
    hello_sent: bool = False
    closed_at: float | None = None
    close_code: int | None = None

    @property
    def is_open(self) -> bool:
        """True while the socket is up and the client has been sent ``hello``."""
        return self.hello_sent and self.closed_at is None


@dataclass(frozen=True)
class Ack:
    """A client's acknowledgement of an envelope, as received."""

    envelope_id: str
    payload: dict[str, Any] | None
    connection_id: int
    raw: str
    at: float


@dataclass(frozen=True)
class SentEnvelope:
    """An envelope the fake pushed, and on which connection."""

    envelope: dict[str, Any]
    connection_id: int
    at: float

    @property
    def envelope_id(self) -> str:
        return str(self.envelope["envelope_id"])


def wait_until(
    cond: threading.Condition, check: Callable[[], Any], timeout: float, what: Callable[[], str]
) -> Any:
    """Block until ``check()`` returns something truthy and return it, else :class:`WaitTimeout`.

    Shared by the Web API and Socket Mode waits: the server thread ``notify_all``s the
    condition whenever it records something.
    """
    deadline = time.monotonic() + timeout
    with cond:
        while True:
            found = check()
            if found:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout(f"timed out after {timeout}s waiting for {what()}")
            cond.wait(remaining)


class SocketHub:
    """Socket Mode state and the aiohttp websocket handler; owned by ``FakeSlack``."""

    def __init__(
        self, cond: threading.Condition, *, app_id: str = APP_ID, single_use_tickets: bool = True
    ) -> None:
        self._cond = cond
        self._app_id = app_id
        self._single_use = single_use_tickets
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tickets: dict[str, bool] = {}  # ticket -> already used
        self.connections: list[SocketConnection] = []
        self.sent: list[SentEnvelope] = []
        self.acks: list[Ack] = []
        self.received: list[dict[str, Any]] = []  # every frame from clients, parsed
        self.rejected_tickets: list[str] = []

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach the server's event loop (known only once the server thread runs)."""
        self._loop = loop

    # -- tickets (called by apps.connections.open, on the loop thread, under the lock) --

    def issue_url(self, host: str, port: int) -> str:
        """A fresh ``ws://`` URL for ``apps.connections.open``, shaped like Slack's ``wss://…/link/?ticket=…&app_id=…``."""
        ticket = uuid.uuid4().hex
        self._tickets[ticket] = False
        return f"ws://{host}:{port}/link/?ticket={ticket}&app_id={self._app_id}"

    # -- the websocket endpoint -------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """``GET /link/``: check the ticket, upgrade, send ``hello``, record frames."""
        ticket = request.query.get("ticket", "")
        with self._cond:
            if ticket not in self._tickets or (self._single_use and self._tickets[ticket]):
                self.rejected_tickets.append(ticket)
                self._cond.notify_all()
                return web.Response(status=401, text="invalid_ticket")
            self._tickets[ticket] = True
        ws = web.WebSocketResponse(timeout=2.0)
        await ws.prepare(request)
        with self._cond:
            conn = SocketConnection(
                id=len(self.connections) + 1, ticket=ticket, opened_at=time.time(), ws=ws
            )
            self.connections.append(conn)
            hello = {
                "type": "hello",
                "num_connections": sum(1 for c in self.connections if c.closed_at is None),
                "debug_info": {
                    "host": "applink-fake",
                    "build_number": 1,
                    "approximate_connection_time": 18060,
                },
                "connection_info": {"app_id": self._app_id},
            }
        try:
            await ws.send_str(json.dumps(hello))
            with self._cond:
                conn.hello_sent = True
                self._cond.notify_all()
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_text(conn, msg.data)
        finally:
            with self._cond:
                conn.closed_at = time.time()
                conn.close_code = ws.close_code
                self._cond.notify_all()
        return ws

    def _on_text(self, conn: SocketConnection, raw: str) -> None:
        try:
            frame = json.loads(raw)
        except json.JSONDecodeError:
            frame = {"_unparsed": raw}
        with self._cond:
            self.received.append(frame)
            if isinstance(frame, dict) and "envelope_id" in frame:
                payload = frame.get("payload")
                self.acks.append(
                    Ack(
                        envelope_id=str(frame["envelope_id"]),
                        payload=payload if isinstance(payload, dict) else None,
                        connection_id=conn.id,
                        raw=raw,
                        at=time.time(),
                    )
                )
            self._cond.notify_all()

    # -- called from test threads ---------------------------------------------------------

    def run(self, coro: Any, timeout: float) -> Any:
        """Run a coroutine on the server loop and wait for its result."""
        if self._loop is None:
            raise RuntimeError("the fake Slack server is not running")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def open_connections(self) -> list[SocketConnection]:
        with self._cond:
            return [c for c in self.connections if c.is_open]

    def wait_for_connection(self, timeout: float = 5.0, *, newer_than: int = 0) -> SocketConnection:
        """The newest open connection with ``id > newer_than``, waiting for a client."""

        def newest() -> SocketConnection | None:
            live = [c for c in self.connections if c.is_open and c.id > newer_than]
            return live[-1] if live else None

        return wait_until(  # type: ignore[no-any-return]
            self._cond,
            newest,
            timeout,
            lambda: (
                f"a Socket Mode connection (id > {newer_than}); seen {self.connections}, "
                f"rejected tickets {self.rejected_tickets}"
            ),
        )

    def send_frame(
        self, frame: dict[str, Any], conn: SocketConnection, timeout: float = 5.0
    ) -> None:
        """Push any JSON frame to one connection."""
        self.run(conn.ws.send_str(json.dumps(frame)), timeout)

    def send(
        self,
        envelope: dict[str, Any],
        *,
        connection: SocketConnection | None = None,
        timeout: float = 5.0,
    ) -> str:
        """Push an envelope to ``connection`` (default: the newest open one) and record it."""
        conn = connection or self.wait_for_connection(timeout)
        self.send_frame(envelope, conn, timeout)
        with self._cond:
            self.sent.append(
                SentEnvelope(
                    envelope=copy.deepcopy(envelope), connection_id=conn.id, at=time.time()
                )
            )
            self._cond.notify_all()
        return str(envelope["envelope_id"])

    def redeliver(
        self, envelope_id: str, *, retry_reason: str = "timeout", timeout: float = 5.0
    ) -> str:
        """Re-send an envelope as Slack does when no ack came: same id, ``retry_attempt`` + 1."""
        with self._cond:
            previous = [s.envelope for s in self.sent if s.envelope_id == envelope_id]
        if not previous:
            raise KeyError(f"no envelope {envelope_id!r} was sent")
        envelope = copy.deepcopy(previous[-1])
        envelope["retry_attempt"] = int(envelope.get("retry_attempt", 0)) + 1
        envelope["retry_reason"] = retry_reason
        return self.send(envelope, timeout=timeout)

    def wait_for_ack(self, envelope_id: str, timeout: float = 5.0, *, count: int = 1) -> Ack:
        """The ``count``-th ack of ``envelope_id`` (a redelivery is acked again), waiting for it."""

        def find() -> Ack | None:
            hits = [a for a in self.acks if a.envelope_id == envelope_id]
            return hits[count - 1] if len(hits) >= count else None

        return wait_until(  # type: ignore[no-any-return]
            self._cond,
            find,
            timeout,
            lambda: (
                f"ack #{count} of {envelope_id}; acks so far {[a.envelope_id for a in self.acks]}"
            ),
        )

    def reconnect(
        self, how: str = "disconnect", *, reason: str = "refresh_requested", timeout: float = 5.0
    ) -> SocketConnection:
        """Make the client move to a new connection, and return it once it has its ``hello``.

        ``how="disconnect"`` sends Slack's ``disconnect`` frame first (the client reconnects
        at once) and then closes the old socket, as Slack does; ``how="close"`` just closes
        the socket (code 1001, going away), as when a Slack host goes away.
        """
        if how not in ("disconnect", "close"):
            raise ValueError(f"how must be 'disconnect' or 'close', not {how!r}")
        old = self.open_connections()
        if not old:
            old = [self.wait_for_connection(timeout)]
        last_id = max(c.id for c in old)
        for conn in old:
            if how == "disconnect":
                self.send_frame(
                    {
                        "type": "disconnect",
                        "reason": reason,
                        "debug_info": {"host": "applink-fake"},
                    },
                    conn,
                    timeout,
                )
            else:
                self.run(conn.ws.close(code=1001, message=b"going away"), timeout)
        new = self.wait_for_connection(timeout, newer_than=last_id)
        for conn in old:
            if conn.closed_at is None:
                self.run(conn.ws.close(code=1001, message=b"refreshed"), timeout)
        return new

    async def close_all(self) -> None:
        """Close every open socket (on the loop thread) so shutdown does not wait on clients."""
        for conn in list(self.connections):
            if conn.closed_at is None and not conn.ws.closed:
                with contextlib.suppress(TimeoutError, ConnectionError):
                    await asyncio.wait_for(conn.ws.close(code=1001, message=b"stopping"), 2.0)
