"""The AppSync real-time protocol machine, driven by strings (no sockets, no clock)."""

from __future__ import annotations

import json
from typing import Any

from appsync_emu.transport.realtime_protocol import (
    KA_FRAME,
    AuthorizeConnection,
    CloseConnection,
    RealtimeConnection,
    SendFrame,
    StartSubscription,
    StopSubscription,
)


def frames(actions: list[Any]) -> list[dict[str, Any]]:
    return [json.loads(a.text) for a in actions if isinstance(a, SendFrame)]


def start(id: str | None = "1", query: str = "subscription { onX { id } }", **extra: Any) -> str:
    msg: dict[str, Any] = {"type": "start", "payload": {"data": json.dumps({"query": query, **extra})}}
    if id is not None:
        msg["id"] = id
    return json.dumps(msg)


def ready() -> RealtimeConnection:
    conn = RealtimeConnection()
    assert conn.receive('{"type":"connection_init"}') == [AuthorizeConnection()]
    conn.connection_accepted()
    return conn


def test_connection_init_asks_for_auth_then_acks_with_timeout_and_a_first_ka() -> None:
    conn = RealtimeConnection(connection_timeout_ms=300000)
    assert conn.receive('{"type":"connection_init","payload":{}}') == [AuthorizeConnection()]
    actions = conn.connection_accepted()
    assert frames(actions) == [
        {"type": "connection_ack", "payload": {"connectionTimeoutMs": 300000}},
        {"type": "ka"},
    ]
    assert actions[1] == SendFrame(KA_FRAME)


def test_refused_connection_sends_connection_error_with_code_then_closes() -> None:
    conn = RealtimeConnection()
    conn.receive('{"type":"connection_init"}')
    actions = conn.connection_refused("UnauthorizedException", "You are not authorized to make this call.")
    assert frames(actions) == [
        {
            "type": "connection_error",
            "payload": {
                "errors": [
                    {
                        "errorType": "UnauthorizedException",
                        "message": "You are not authorized to make this call.",
                        "errorCode": 401,
                    }
                ]
            },
        }
    ]
    assert isinstance(actions[-1], CloseConnection)
    assert conn.receive(start()) == []


def test_start_before_connection_init_is_deferred_until_the_connection_is_authorized() -> None:
    conn = RealtimeConnection()
    assert conn.receive(start("a")) == [AuthorizeConnection()]
    actions = conn.connection_accepted()
    starts = [a for a in actions if isinstance(a, StartSubscription)]
    assert [s.id for s in starts] == ["a"]
    assert frames(actions)[0]["type"] == "connection_ack"


def test_frames_arriving_while_authorizing_are_replayed_in_order() -> None:
    conn = RealtimeConnection()
    conn.receive('{"type":"connection_init"}')
    assert conn.receive(start("1")) == []
    assert conn.receive(start("2")) == []
    actions = conn.connection_accepted()
    assert [a.id for a in actions if isinstance(a, StartSubscription)] == ["1", "2"]


def test_start_parses_the_data_string_and_keeps_it_raw_for_iam_signing() -> None:
    conn = ready()
    data = json.dumps({"query": "subscription S($r: String) { onX(r: $r) { id } }", "variables": {"r": "a"}})
    msg = {
        "id": "s1",
        "type": "start",
        "payload": {"data": data, "extensions": {"authorization": {"x-api-key": "k", "host": "h"}}},
    }
    [action] = conn.receive(json.dumps(msg))
    assert isinstance(action, StartSubscription)
    assert action.variables == {"r": "a"}
    assert action.authorization == {"x-api-key": "k", "host": "h"}
    assert action.data == data
    assert frames(conn.start_succeeded("s1")) == [{"type": "start_ack", "id": "s1"}]


def test_apollo_style_start_with_an_object_payload_is_unsupported_and_gets_no_ack() -> None:
    conn = ready()
    msg = {"id": "x", "type": "start", "payload": {"query": "subscription { onX { id } }"}}
    [frame] = frames(conn.receive(json.dumps(msg)))
    assert frame["type"] == "error"
    assert frame["payload"]["errors"][0]["errorType"] == "UnsupportedOperation"
    assert frame["payload"]["errors"][0]["message"] == "unknown not supported through the realtime channel"
    assert conn.start_succeeded("x") == []


def test_data_that_is_not_json_is_unsupported() -> None:
    conn = ready()
    msg = {"id": "x", "type": "start", "payload": {"data": "{not json"}}
    [frame] = frames(conn.receive(json.dumps(msg)))
    assert frame["payload"]["errors"][0]["errorType"] == "UnsupportedOperation"


def test_duplicate_subscription_id_is_refused_and_the_first_stays() -> None:
    conn = ready()
    conn.receive(start("1"))
    [frame] = frames(conn.receive(start("1")))
    assert frame == {
        "type": "error",
        "id": "1",
        "payload": {"errors": [{"errorType": "DuplicatedOperationError", "message": "Duplicated operation with id 1"}]},
    }
    assert "1" in conn.active


def test_the_101st_subscription_is_refused_with_errors_as_an_object() -> None:
    conn = ready()
    for i in range(100):
        conn.receive(start(str(i)))
        conn.start_succeeded(str(i))
    [frame] = frames(conn.receive(start("100")))
    assert frame["id"] == "100"
    assert frame["payload"]["errors"] == {
        "errorType": "MaxSubscriptionsReachedError",
        "message": "Max number of 100 subscriptions reached",
    }
    assert len(conn.active) == 100


def test_a_failed_start_frees_its_id_for_reuse() -> None:
    conn = ready()
    conn.receive(start("1"))
    [frame] = frames(conn.start_failed("1", [{"message": "bad"}]))
    assert frame == {"type": "error", "id": "1", "payload": {"errors": [{"message": "bad"}]}}
    assert [type(a) for a in conn.receive(start("1"))] == [StartSubscription]


def test_stop_answers_complete_and_unregisters() -> None:
    conn = ready()
    conn.receive(start("1"))
    actions = conn.receive('{"type":"stop","id":"1"}')
    assert StopSubscription("1") in actions
    assert frames(actions) == [{"type": "complete", "id": "1"}]
    assert conn.active == set()


def test_stop_of_an_unknown_id_is_still_answered_with_complete() -> None:
    conn = ready()
    assert frames(conn.receive('{"type":"stop","id":"nope"}')) == [{"type": "complete", "id": "nope"}]


def test_malformed_frames_get_an_error_and_the_connection_stays_usable() -> None:
    conn = ready()
    for bad in ["not json", "[1,2]", '{"type":"start","payload":{}}']:
        [frame] = frames(conn.receive(bad))
        assert frame["type"] == "error"
        assert "id" not in frame
    [frame] = frames(conn.receive('{"type":"subscribe","id":"9"}'))
    assert frame["id"] == "9"
    assert frame["payload"]["errors"][0] == {
        "errorType": "UnsupportedOperation",
        "message": "subscribe not supported through the realtime channel",
    }
    assert [type(a) for a in conn.receive(start("ok"))] == [StartSubscription]


def test_server_ended_subscription_sends_complete_once() -> None:
    conn = ready()
    conn.receive(start("1"))
    assert frames(conn.subscription_ended("1")) == [{"type": "complete", "id": "1"}]
    assert conn.subscription_ended("1") == []


def test_closing_stops_every_active_subscription() -> None:
    conn = ready()
    conn.receive(start("1"))
    conn.receive(start("2"))
    assert conn.closed() == [StopSubscription("1"), StopSubscription("2")]
    assert conn.receive(start("3")) == []
