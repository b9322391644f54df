"""The fake Slack speaks what the real slack_sdk clients expect.

Every test drives a real ``WebClient`` or a real Socket Mode client over the loopback
to the fake, so a change in the SDK's wire format, or a drift in the fake, shows up
here before it confuses a bot test.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.socket_mode import SocketModeClient
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.webhook import WebhookClient

from tests.fakes import slack_payloads as payloads
from tests.fakes.slack_payloads import BOT_ID, BOT_USER_ID, CHANNEL_ID, SlackFixtures
from tests.fakes.slack_server import FakeSlack, WaitTimeout

pytest_plugins = ["tests.fakes.slack_fixtures"]

APP_TOKEN = "xapp-1-A0APP-1-test"


# -- Web API --------------------------------------------------------------------------------


def test_auth_test_names_the_bot_and_records_the_token(
    fake_slack: FakeSlack, slack_client: WebClient
) -> None:
    response = slack_client.auth_test()

    assert response["user_id"] == BOT_USER_ID
    assert response["bot_id"] == BOT_ID
    assert response["team_id"] == payloads.TEAM_ID
    assert response["url"].startswith("https://")
    (call,) = fake_slack.calls("auth.test")
    assert call.header("authorization") == "Bearer xoxb-test"
    assert call.token == "xoxb-test"


def test_update_shows_in_conversations_replies(
    fake_slack: FakeSlack, slack_client: WebClient
) -> None:
    question = fake_slack.seed_message(CHANNEL_ID, "How do I deploy?")
    root_ts = question["ts"]

    posted = slack_client.chat_postMessage(channel=CHANNEL_ID, thread_ts=root_ts, text="Thinking…")
    slack_client.chat_update(channel=CHANNEL_ID, ts=posted["ts"], text="Run `make deploy`.")
    replies = slack_client.conversations_replies(channel=CHANNEL_ID, ts=root_ts)

    assert [m["text"] for m in replies["messages"]] == ["How do I deploy?", "Run `make deploy`."]
    assert replies["messages"][0]["reply_count"] == 1
    reply = replies["messages"][1]
    assert (reply["bot_id"], reply["thread_ts"], reply["parent_user_id"]) == (
        BOT_ID,
        root_ts,
        payloads.USER_ID,
    )
    assert [v["text"] for v in fake_slack.message_versions(CHANNEL_ID, posted["ts"])] == [
        "Thinking…",
        "Run `make deploy`.",
    ]
    assert fake_slack.last_message(CHANNEL_ID, root_ts)["text"] == "Run `make deploy`."


def test_post_message_ts_is_fresh_and_increasing(slack_client: WebClient) -> None:
    stamps = [
        slack_client.chat_postMessage(channel=CHANNEL_ID, text=str(i))["ts"] for i in range(5)
    ]

    assert len(set(stamps)) == 5
    assert stamps == sorted(stamps, key=lambda ts: tuple(int(p) for p in ts.split(".")))


def test_form_and_json_bodies_are_recorded_alike(
    fake_slack: FakeSlack, slack_client: WebClient
) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]
    slack_client.chat_postMessage(channel=CHANNEL_ID, text="hi", blocks=blocks)  # JSON body
    slack_client.api_call(  # form body, blocks as a JSON string
        "chat.postMessage",
        params={"channel": CHANNEL_ID, "text": "hi", "blocks": json.dumps(blocks)},
    )

    as_json, as_form = fake_slack.calls("chat.postMessage")
    assert (as_json.header("content-type") or "").startswith("application/json")
    assert (as_form.header("content-type") or "").startswith("application/x-www-form-urlencoded")
    assert isinstance(as_form.params["blocks"], str)
    assert as_json.decoded["blocks"] == as_form.decoded["blocks"] == blocks
    assert [m["blocks"] for m in fake_slack.messages(CHANNEL_ID)] == [blocks, blocks]


def test_text_over_40000_chars_is_msg_too_long(slack_client: WebClient) -> None:
    slack_client.chat_postMessage(channel=CHANNEL_ID, text="x" * 40_000)

    with pytest.raises(SlackApiError) as err:
        slack_client.chat_postMessage(channel=CHANNEL_ID, text="x" * 40_001)
    assert err.value.response["error"] == "msg_too_long"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


@pytest.mark.parametrize(
    ("blocks", "pointer"),
    [
        ([_section("a")] * 51, "/blocks"),
        ([_section("a" * 3001)], "/blocks/0/text/text"),
        (
            [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
            "/blocks/0/text/text",
        ),
    ],
    ids=["51-blocks", "section-3001", "header-151"],
)
def test_oversized_blocks_are_invalid_blocks(
    fake_slack: FakeSlack, slack_client: WebClient, blocks: list[dict[str, Any]], pointer: str
) -> None:
    posted = slack_client.chat_postMessage(channel=CHANNEL_ID, text="ok", blocks=[_section("ok")])

    for method, args in (
        ("chat.postMessage", {"channel": CHANNEL_ID, "text": "t", "blocks": blocks}),
        ("chat.update", {"channel": CHANNEL_ID, "ts": posted["ts"], "text": "t", "blocks": blocks}),
    ):
        with pytest.raises(SlackApiError) as err:
            slack_client.api_call(method, json=args)
        assert err.value.response["error"] == "invalid_blocks"
        assert any(pointer in m for m in err.value.response["response_metadata"]["messages"])
    assert fake_slack.messages(CHANNEL_ID)[-1]["blocks"] == [_section("ok")]


def test_ratelimited_fault_is_retried_after_retry_after(fake_slack: FakeSlack) -> None:
    client = WebClient(
        base_url=fake_slack.api_url,
        token="xoxb-test",
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)],
    )
    fault = fake_slack.fail("chat.postMessage", "ratelimited", retry_after=1)

    response = client.chat_postMessage(channel=CHANNEL_ID, text="after the wait")

    assert response["ok"]
    first, second = fake_slack.calls("chat.postMessage")
    assert (first.status, first.response["error"]) == (429, "ratelimited")
    assert second.status == 200
    assert second.at - first.at >= 1.0
    assert fault.hits == 1
    assert [m["text"] for m in fake_slack.messages(CHANNEL_ID)] == ["after the wait"]


def test_ok_false_fault_and_unknown_method(fake_slack: FakeSlack, slack_client: WebClient) -> None:
    fake_slack.fail("chat.startStream", "unknown_method", times=None)

    for _ in range(2):
        with pytest.raises(SlackApiError) as err:
            slack_client.chat_startStream(channel=CHANNEL_ID, thread_ts="1.000001")
        assert err.value.response["error"] == "unknown_method"
    with pytest.raises(SlackApiError) as err:
        slack_client.api_call("files.frobnicate")
    assert err.value.response["error"] == "unknown_method"


def test_app_token_is_refused_outside_apps_connections_open(fake_slack: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as err:
        WebClient(base_url=fake_slack.api_url, token=APP_TOKEN).chat_postMessage(
            channel=CHANNEL_ID, text="hi"
        )
    assert err.value.response["error"] == "not_allowed_token_type"


def test_chat_stream_builds_one_threaded_message(
    fake_slack: FakeSlack, slack_client: WebClient
) -> None:
    root = fake_slack.seed_message(payloads.DM_CHANNEL_ID, "Where are the docs?")

    streamer = slack_client.chat_stream(
        channel=payloads.DM_CHANNEL_ID, thread_ts=root["ts"], buffer_size=8
    )
    for piece in ["See ", "the **wiki** ", "page [1]."]:
        streamer.append(markdown_text=piece)
    streamer.stop(blocks=[_section("Sources: [1] wiki")])

    methods = [c.method for c in fake_slack.calls()]
    assert methods == ["chat.startStream", "chat.appendStream", "chat.stopStream"]
    reply = fake_slack.last_message(payloads.DM_CHANNEL_ID, root["ts"])
    assert reply["text"] == "See the **wiki** page [1]."
    assert reply["blocks"] == [_section("Sources: [1] wiki")]
    with pytest.raises(SlackApiError) as err:  # a stopped stream takes no more text
        slack_client.chat_appendStream(
            channel=payloads.DM_CHANNEL_ID, ts=reply["ts"], markdown_text="x"
        )
    assert err.value.response["error"] == "message_not_in_streaming_state"


# -- signing ----------------------------------------------------------------------------------


def test_sign_matches_the_slack_docs_test_vector(slack_data: SlackFixtures) -> None:
    vector = slack_data.json("signing/slack_docs_signature_test_vector.json")
    timestamp = int(vector["headers"]["X-Slack-Request-Timestamp"])

    headers = payloads.sign(vector["signing_secret"], vector["raw_body"].encode(), timestamp)

    assert headers["X-Slack-Signature"] == vector["expected_signature"]
    assert headers["X-Slack-Request-Timestamp"] == str(timestamp)


def test_sign_is_accepted_by_slack_sdk_verifier() -> None:
    body = payloads.form_body(payloads.slash_command("How do I deploy?"))

    headers = payloads.sign("s3cret", body)

    verifier = SignatureVerifier("s3cret")
    assert verifier.is_valid_request(body, {k.lower(): v for k, v in headers.items()})
    assert not verifier.is_valid_request(body + "x", {k.lower(): v for k, v in headers.items()})


# -- Socket Mode ------------------------------------------------------------------------------


@pytest.fixture
def socket_client(fake_slack: FakeSlack) -> Iterator[tuple[SocketModeClient, list[dict[str, Any]]]]:
    """slack_sdk's builtin SocketModeClient (what Bolt's ``SocketModeHandler`` uses), acking all.

    Yields the client and every frame it received, in order.
    """
    client = SocketModeClient(
        app_token=APP_TOKEN, web_client=WebClient(base_url=fake_slack.api_url), ping_interval=1
    )
    frames: list[dict[str, Any]] = []

    def ack(c: BaseSocketModeClient, req: SocketModeRequest) -> None:
        c.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))

    client.message_listeners.append(lambda _c, message, _raw: frames.append(message))
    client.socket_mode_request_listeners.append(ack)
    client.connect()
    try:
        yield client, frames
    finally:
        fake_slack.stop_socket_client(client)


def test_socket_mode_client_connects_gets_hello_and_acks(
    fake_slack: FakeSlack, socket_client: tuple[SocketModeClient, list[dict[str, Any]]]
) -> None:
    _client, frames = socket_client
    conn = fake_slack.wait_for_socket()
    mention = payloads.app_mention(f"<@{BOT_USER_ID}> How do I deploy?")

    envelope_id = fake_slack.socket_send(mention)
    ack = fake_slack.wait_for_ack(envelope_id)

    (opened,) = fake_slack.calls("apps.connections.open")
    assert opened.token == APP_TOKEN
    assert opened.response["url"].startswith(f"ws://127.0.0.1:{fake_slack.port}/link/?ticket=")
    # listeners run on a thread pool, so only the set of frames is certain, not its order
    assert {"hello", "events_api"} <= {f["type"] for f in frames}
    (delivered,) = [f for f in frames if f.get("envelope_id") == envelope_id]
    assert delivered["payload"]["event"]["text"] == mention["event"]["text"]
    assert (ack.connection_id, ack.payload) == (conn.id, None)
    # the mention is now part of the workspace, as in Slack
    assert fake_slack.message(CHANNEL_ID, mention["event"]["ts"]) is not None


def test_reconnect_uses_a_new_url_and_redelivery_reaches_the_new_socket(
    fake_slack: FakeSlack, socket_client: tuple[SocketModeClient, list[dict[str, Any]]]
) -> None:
    _client, frames = socket_client
    first = fake_slack.wait_for_socket()
    envelope_id = fake_slack.socket_send(payloads.im_message("hello?"))
    fake_slack.wait_for_ack(envelope_id)

    second = fake_slack.socket_reconnect()  # Slack's "disconnect" frame
    fake_slack.socket_redeliver(envelope_id)
    fake_slack.wait_for_ack(envelope_id, count=2)

    assert second.id > first.id
    assert len(fake_slack.calls("apps.connections.open")) == 2
    assert fake_slack.socket.rejected_tickets == []
    retried = [f for f in frames if f.get("envelope_id") == envelope_id]
    assert [(f["retry_attempt"], f["retry_reason"]) for f in retried] == [(0, ""), (1, "timeout")]
    assert [a.connection_id for a in fake_slack.acks] == [first.id, second.id]
    assert len(fake_slack.messages(payloads.DM_CHANNEL_ID)) == 1  # redelivery is not a new message


def test_real_envelope_fixture_is_delivered_and_acked(
    fake_slack: FakeSlack,
    slack_data: SlackFixtures,
    socket_client: tuple[SocketModeClient, list[dict[str, Any]]],
) -> None:
    envelope = slack_data.json("socket_mode/envelope_2_events_api__python-slack-sdk.json")

    fake_slack.socket_send(envelope)

    assert fake_slack.wait_for_ack(envelope["envelope_id"]).envelope_id == envelope["envelope_id"]


def test_bolt_app_answers_a_mention_through_the_fake(fake_slack: FakeSlack) -> None:
    """The whole path a docbot test takes: Bolt + builtin Socket Mode handler + WebClient."""
    app = App(token="xoxb-test", client=WebClient(base_url=fake_slack.api_url, token="xoxb-test"))
    answered = threading.Event()

    @app.event("app_mention")
    def on_mention(event: dict[str, Any], say: Any) -> None:
        say(text="Run `make deploy`.", thread_ts=event.get("thread_ts") or event["ts"])
        answered.set()

    handler = SocketModeHandler(app, APP_TOKEN)
    handler.connect()  # type: ignore[no-untyped-call]
    try:
        mention = payloads.app_mention()
        envelope_id = fake_slack.socket_send(mention)
        fake_slack.wait_for_ack(envelope_id)
        fake_slack.wait_for("chat.postMessage")
    finally:
        fake_slack.stop_socket_client(handler.client)

    assert answered.wait(5)  # say() returned after the fake recorded its call
    thread = fake_slack.messages(CHANNEL_ID, thread_ts=mention["event"]["ts"])
    assert [m["text"] for m in thread] == [mention["event"]["text"], "Run `make deploy`."]


def test_fake_starts_fast_on_a_free_port() -> None:
    started = time.monotonic()
    with FakeSlack() as one, FakeSlack() as two:
        assert one.port != two.port
        assert one.port > 0
    assert time.monotonic() - started < 5


def test_close_reconnect_and_reused_tickets_are_refused(
    fake_slack: FakeSlack, socket_client: tuple[SocketModeClient, list[dict[str, Any]]]
) -> None:
    first = fake_slack.wait_for_socket()

    second = fake_slack.socket_reconnect("close")  # the client notices within ping_interval

    assert second.id > first.id
    assert first.closed_at is not None
    used = fake_slack.calls("apps.connections.open")[0].response["url"]
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(used.replace("ws://", "http://"), timeout=5)
    assert err.value.code == 401
    assert fake_slack.socket.rejected_tickets == [parse_qs(urlparse(used).query)["ticket"][0]]


def test_slash_command_ack_payload_and_response_url(
    fake_slack: FakeSlack, socket_client: tuple[SocketModeClient, list[dict[str, Any]]]
) -> None:
    client, _frames = socket_client
    client.socket_mode_request_listeners[:] = [
        lambda c, req: c.send_socket_mode_response(
            SocketModeResponse(envelope_id=req.envelope_id, payload={"text": "Looking…"})
        )
    ]
    url = fake_slack.response_url(CHANNEL_ID)

    envelope_id = fake_slack.socket_send(payloads.slash_command("deploy?", response_url=url))
    WebhookClient(url).send(text="Run `make deploy`.", response_type="in_channel")
    WebhookClient(url).send(text="Only you can see this.")

    assert fake_slack.wait_for_ack(envelope_id).payload == {"text": "Looking…"}
    assert [sent.envelope["type"] for sent in fake_slack.socket_sent] == ["slash_commands"]
    assert fake_slack.last_message(CHANNEL_ID)["text"] == "Run `make deploy`."
    assert fake_slack.ephemeral[-1]["message"]["text"] == "Only you can see this."
    assert [c.params["text"] for c in fake_slack.calls("response_url")] == [
        "Run `make deploy`.",
        "Only you can see this.",
    ]


def test_other_methods_answer_like_slack(fake_slack: FakeSlack, slack_client: WebClient) -> None:
    question = fake_slack.seed_message(CHANNEL_ID, "How do I deploy?")
    ts = question["ts"]

    slack_client.reactions_add(channel=CHANNEL_ID, timestamp=ts, name="eyes")
    with pytest.raises(SlackApiError, match="already_reacted"):
        slack_client.reactions_add(channel=CHANNEL_ID, timestamp=ts, name="eyes")
    assert fake_slack.reactions(CHANNEL_ID, ts) == ["eyes"]
    slack_client.reactions_remove(channel=CHANNEL_ID, timestamp=ts, name="eyes")
    assert fake_slack.reactions(CHANNEL_ID, ts) == []

    reply = slack_client.chat_postMessage(channel=CHANNEL_ID, thread_ts=ts, text="answer")
    link = slack_client.chat_getPermalink(channel=CHANNEL_ID, message_ts=reply["ts"])["permalink"]
    assert link.endswith(
        f"/archives/{CHANNEL_ID}/p{reply['ts'].replace('.', '')}?thread_ts={ts}&cid={CHANNEL_ID}"
    )
    with pytest.raises(SlackApiError, match="cant_delete_message"):
        slack_client.chat_delete(channel=CHANNEL_ID, ts=ts)  # not the bot's message
    slack_client.chat_delete(channel=CHANNEL_ID, ts=reply["ts"])
    assert [m["text"] for m in fake_slack.messages(CHANNEL_ID, ts)] == ["How do I deploy?"]
    assert fake_slack.deleted[-1]["message"]["text"] == "answer"

    slack_client.chat_postEphemeral(channel=CHANNEL_ID, user=payloads.USER_ID, text="psst")
    assert fake_slack.ephemeral[-1]["user"] == payloads.USER_ID

    assert slack_client.users_info(user=BOT_USER_ID)["user"]["is_bot"] is True
    assert slack_client.conversations_info(channel="D0DM")["channel"]["is_im"] is True
    with pytest.raises(SlackApiError, match="user_not_found"):
        slack_client.users_info(user="nobody")

    slack_client.assistant_threads_setStatus(channel_id="D0DM", thread_ts=ts, status="is thinking…")
    slack_client.assistant_threads_setTitle(channel_id="D0DM", thread_ts=ts, title="Deploying")
    slack_client.assistant_threads_setSuggestedPrompts(
        channel_id="D0DM", thread_ts=ts, prompts=[{"title": "Deploy", "message": "How?"}]
    )
    state = fake_slack.assistant_threads[("D0DM", ts)]
    assert (state["status"], state["title"]) == ("is thinking…", "Deploying")
    assert state["prompts"] == [{"title": "Deploy", "message": "How?"}]

    view = slack_client.views_publish(user_id=payloads.USER_ID, view={"type": "home", "blocks": []})
    assert view["view"]["id"].startswith("V")
    assert fake_slack.home_views[payloads.USER_ID]["type"] == "home"


def test_history_pages_newest_first(fake_slack: FakeSlack, slack_client: WebClient) -> None:
    for i in range(5):
        slack_client.chat_postMessage(channel=CHANNEL_ID, text=str(i))

    first = slack_client.conversations_history(channel=CHANNEL_ID, limit=3)
    rest = slack_client.conversations_history(
        channel=CHANNEL_ID, limit=3, cursor=first["response_metadata"]["next_cursor"]
    )

    assert [m["text"] for m in first["messages"]] == ["4", "3", "2"]
    assert first["has_more"] is True
    assert [m["text"] for m in rest["messages"]] == ["1", "0"]
    assert rest["response_metadata"]["next_cursor"] == ""


def test_seed_event_applies_edits_and_deletes(fake_slack: FakeSlack) -> None:
    posted = payloads.message("typo", channel=CHANNEL_ID)
    fake_slack.seed_event(posted)
    ts = posted["event"]["ts"]

    fake_slack.seed_event(payloads.message_changed("fixed", ts=ts, old_text="typo"))

    assert [v["text"] for v in fake_slack.message_versions(CHANNEL_ID, ts)] == ["typo", "fixed"]
    deleted = payloads.event_callback(
        {"type": "message", "subtype": "message_deleted", "channel": CHANNEL_ID, "deleted_ts": ts}
    )
    fake_slack.seed_event(deleted)
    assert fake_slack.messages(CHANNEL_ID) == []


def test_wait_for_times_out_with_what_it_saw(
    fake_slack: FakeSlack, slack_client: WebClient
) -> None:
    slack_client.auth_test()

    with pytest.raises(WaitTimeout, match=r"auth\.test"):
        fake_slack.wait_for("chat.postMessage", timeout=0.05)


def test_signed_http_requests_built_here_pass_bolt_verification(fake_slack: FakeSlack) -> None:
    """HTTP mode: the builders plus ``sign`` make requests Bolt accepts, with no shared data."""
    app = App(
        signing_secret="s3cret",
        client=WebClient(base_url=fake_slack.api_url, token="xoxb-test"),
        token="xoxb-test",
    )

    @app.command("/ask")
    def on_ask(ack: Any, respond: Any, command: dict[str, Any]) -> None:
        ack("Looking…")
        respond(text=f"Answer to {command['text']}", response_type="in_channel")

    @app.event("app_mention")
    def on_mention(event: dict[str, Any], client: WebClient) -> None:
        client.reactions_add(channel=event["channel"], timestamp=event["ts"], name="eyes")

    command = payloads.form_body(
        payloads.slash_command("deploy?", response_url=fake_slack.response_url())
    )
    mention = payloads.app_mention()
    fake_slack.seed_event(mention)  # in HTTP mode the test dispatches, so the test seeds
    mention_body = json.dumps(mention)

    def signed(
        body: str, secret: str = "s3cret", form: bool = False
    ) -> dict[str, str | Sequence[str]]:
        content_type = "application/x-www-form-urlencoded" if form else "application/json"
        return {"Content-Type": content_type, **payloads.sign(secret, body)}

    responses = [
        app.dispatch(BoltRequest(body=command, headers=signed(command, form=True))),
        app.dispatch(BoltRequest(body=mention_body, headers=signed(mention_body))),
        app.dispatch(BoltRequest(body=command, headers=signed(command, "wrong", form=True))),
    ]

    assert [r.status for r in responses] == [200, 200, 401]
    assert responses[0].body == "Looking…"
    fake_slack.wait_for("response_url")
    fake_slack.wait_for("reactions.add")
    assert fake_slack.last_message(CHANNEL_ID)["text"] == "Answer to deploy?"
    assert fake_slack.reactions(CHANNEL_ID, mention["event"]["ts"]) == ["eyes"]
