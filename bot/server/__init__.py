"""``docbot serve``: the long-running process (Socket Mode or HTTP, plus the scheduler).

``serve`` starts the Slack app and the sync scheduler; ``web`` is the ASGI app of
HTTP mode (Slack's requests, ``/healthz``, ``/metrics``, ``POST /api/ask``); ``intake``
is what a request must pass before anything parses it (size, signature, client address).
"""
