"""What an HTTP request must pass before anything parses it: a size cap applied while
the body is read, Slack's signature and timestamp, and who the client is.

- :func:`read_body` streams the body and stops at the cap (a ``Content-Length``
  over it is refused before a byte is read), so an unauthenticated 200 MB body costs
  at most the cap in memory, not 200 MB.
- :func:`slack_signed` checks ``X-Slack-Signature`` over the raw bytes, and that
  ``X-Slack-Request-Timestamp`` is within five minutes, before any parsing.
- :func:`client_address` is the TCP peer, unless the peer is a configured proxy
  (``DOCBOT_TRUSTED_PROXIES``): then the address that proxy put in
  ``X-Forwarded-For``. Trusting that header from anyone would let every request pick
  its own per-client rate limit.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import time
from collections.abc import Sequence

from starlette.requests import Request

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_FORWARDED_CHARS = 100  # a client key longer than any address is not one
SIGNATURE_MAX_AGE = 5 * 60  # seconds; Slack's replay window


class BodyTooLarge(Exception):
    """The request body is over the cap (HTTP 413)."""


class BadRequest(Exception):
    """The request is malformed (HTTP 400); the message says how."""


async def read_body(request: Request, limit: int) -> bytes:
    """The body, read as it arrives and abandoned once it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise BadRequest("Content-Length is not a number") from None
        if size > limit:
            raise BodyTooLarge()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


def slack_signed(secret: str | None, body: bytes, request: Request) -> bool:
    """Whether Slack signed exactly these bytes within the last five minutes
    (``v0=`` HMAC-SHA256 of ``v0:<timestamp>:<body>``, over bytes: nothing decoded)."""
    timestamp = (request.headers.get("x-slack-request-timestamp") or "").strip()
    signature = request.headers.get("x-slack-signature") or ""
    if not secret or not timestamp.isdigit() or not signature:
        return False
    if abs(time.time() - int(timestamp)) > SIGNATURE_MAX_AGE:
        return False
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))


def trusted_networks(values: Sequence[str]) -> list[IPNetwork]:
    """The settings' proxy networks (already validated by ``load_settings``)."""
    return [ipaddress.ip_network(v, strict=False) for v in values]


def _is_proxy(address: str, proxies: Sequence[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def client_address(request: Request, proxies: Sequence[IPNetwork]) -> str:
    """Who is asking: the peer, or, from a trusted proxy, the nearest address in
    ``X-Forwarded-For`` that is not itself a trusted proxy (proxies append on the
    right, so what is further left was written by the client and is ignored)."""
    peer = request.client.host if request.client else "unknown"
    if not proxies or not _is_proxy(peer, proxies):
        return peer
    hops = [
        hop.strip()
        for header in request.headers.getlist("x-forwarded-for")
        for hop in header.split(",")
        if hop.strip()
    ]
    for hop in reversed(hops):
        if not _is_proxy(hop, proxies):
            return hop[:MAX_FORWARDED_CHARS]
    return hops[0][:MAX_FORWARDED_CHARS] if hops else peer
