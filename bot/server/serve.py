"""``docbot serve``: the Slack bot (Socket Mode or HTTP) plus the sync scheduler.

Socket Mode when ``SLACK_APP_TOKEN`` is set (and ``--http`` is not given): one
outbound websocket, no public URL. Otherwise HTTP mode: uvicorn serves
:mod:`bot.server.web` on ``DOCBOT_HOST`` (default 0.0.0.0) and ``--port`` / ``PORT`` /
3000. Both stop cleanly on SIGTERM or SIGINT (a platform's restart), stopping the
scheduler too. uvicorn's own ``X-Forwarded-For`` handling is off: it trusts
127.0.0.1 by default, and which proxies to trust is ``DOCBOT_TRUSTED_PROXIES``'s call
(:mod:`bot.server.intake`).

Metrics: ``GET /metrics`` on the HTTP port; in either mode also on
``DOCBOT_METRICS_PORT`` when set (Socket Mode has no other HTTP port). Every log
handler, including ones libraries installed, gets the secret-redacting filter.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler

from bot.app import Docbot
from bot.ops.logs import REDACTION, protect_handlers, secret_values
from bot.slack.app import create_app, make_web_client
from ingest.errors import ConfigError
from ingest.settings import Settings

log = logging.getLogger(__name__)


def check_settings(settings: Settings, http: bool) -> None:
    """Fail early with one line that says which setting is missing and where to find it."""
    if not settings.slack_bot_token:
        raise ConfigError(
            "SLACK_BOT_TOKEN is not set: copy the Bot User OAuth Token (xoxb-…) from your "
            "Slack app's OAuth & Permissions page"
        )
    if http and not settings.slack_signing_secret:
        raise ConfigError(
            "SLACK_SIGNING_SECRET is not set: HTTP mode needs it to verify requests from Slack "
            "(Basic Information → App Credentials), or set SLACK_APP_TOKEN to use Socket Mode"
        )
    if settings.slack_app_token and not settings.slack_app_token.startswith("xapp-"):
        raise ConfigError(
            "SLACK_APP_TOKEN must be an app-level token (xapp-…) with the connections:write "
            "scope (Basic Information → App-Level Tokens)"
        )


def socket_mode_handler(bolt_app: App, settings: Settings) -> SocketModeHandler:
    """Bolt's Socket Mode handler; ``apps.connections.open`` also uses SLACK_API_URL."""
    assert settings.slack_app_token is not None
    web_client = make_web_client(settings)
    return SocketModeHandler(bolt_app, settings.slack_app_token, web_client=web_client)


def start_scheduler(docbot: Docbot) -> Any:
    """Start periodic syncs when the scheduler module is present (else do nothing)."""
    try:
        from ingest.schedule import start_scheduler as start
    except ImportError:
        return None
    return start(docbot.settings, lambda name: docbot.sync(name), on_result=docbot.on_sync_outcome)


def _stop_on_signals(stop: threading.Event) -> None:
    def handle(signum: int, frame: FrameType | None) -> None:
        log.info("received %s; shutting down", signal.Signals(signum).name)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)


def run_socket_mode(bolt_app: App, settings: Settings, stop: threading.Event) -> None:
    handler = socket_mode_handler(bolt_app, settings)
    handler.connect()
    log.info("docbot is connected to Slack (Socket Mode)")
    try:
        stop.wait()
    finally:
        handler.close()


def http_server(docbot: Docbot, bolt_app: App, port: int) -> Any:
    """The uvicorn server of HTTP mode, on ``settings.host``:``port``."""
    import uvicorn

    from bot.server.web import create_web_app

    config = uvicorn.Config(
        create_web_app(docbot, bolt_app), host=docbot.settings.host, port=port,
        log_level="warning", lifespan="off",
        log_config=None,  # uvicorn's records go to our (redacting) handlers
        proxy_headers=False,  # X-Forwarded-For only from DOCBOT_TRUSTED_PROXIES
    )  # fmt: skip
    return uvicorn.Server(config)


def run_http(docbot: Docbot, bolt_app: App, port: int, stop: threading.Event | None = None) -> None:
    """Serve until SIGTERM/SIGINT (uvicorn's own handlers: stop accepting, finish the
    requests in flight, exit) or until ``stop`` is set."""
    server = http_server(docbot, bolt_app, port)
    if stop is not None:

        def watch() -> None:
            stop.wait()
            server.should_exit = True

        threading.Thread(target=watch, name="docbot-stop", daemon=True).start()
    log.info("docbot is serving HTTP on %s port %d (POST /slack/events)", docbot.settings.host,
             port)  # fmt: skip
    server.run()


def run(
    app: Docbot, http: bool = False, port: int | None = None, *, stop: threading.Event | None = None
) -> int:
    """Serve until stopped; returns the exit status. Raises ConfigError for bad settings."""
    settings = app.settings
    http = http or not settings.slack_app_token
    check_settings(settings, http)
    if logging.getLogger().getEffectiveLevel() > logging.INFO:
        logging.getLogger("bot").setLevel(logging.INFO)  # say which mode, and each failure
    REDACTION.add_secrets(secret_values(settings))
    bolt_app = create_app(app, settings)
    protect_handlers()  # after the libraries have set up their loggers
    stop_metrics = None
    if settings.metrics_port:
        try:
            stop_metrics = app.metrics.serve(settings.metrics_port, settings.host)
        except OSError as exc:
            raise ConfigError(
                f"DOCBOT_METRICS_PORT: cannot serve metrics on port {settings.metrics_port} "
                f"({exc.strerror or exc}); choose a free port or unset it"
            ) from None
        log.info("serving Prometheus metrics on port %d", settings.metrics_port)
    scheduler = start_scheduler(app)
    stop = stop or threading.Event()
    _stop_on_signals(stop)  # also what uvicorn re-raises after its graceful shutdown
    try:
        if http:
            run_http(app, bolt_app, port or settings.port, stop)
        else:
            run_socket_mode(bolt_app, settings, stop)
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        if stop_metrics is not None:
            stop_metrics()
    return 0
