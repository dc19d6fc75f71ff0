"""Subscription filters and grouped fan-out, without sockets."""

from __future__ import annotations

import json
from typing import Any

from graphql import parse

from appsync_emu.pubsub.filters import matches_arguments, matches_filter
from appsync_emu.pubsub.registry import PubSub, SubscriptionSpec
from appsync_emu.transport.realtime_protocol import data_frame_prefix


class Box:
    def __init__(self) -> None:
        self.frames: list[str] = []
        self.ended: list[str] = []

    def send_data(self, sub_id: str, payload_json: str) -> None:
        self.frames.append(data_frame_prefix(sub_id) + payload_json + "}")

    def end_subscription(self, sub_id: str) -> None:
        self.ended.append(sub_id)


def spec(arguments: dict[str, Any] | None = None, **kw: Any) -> SubscriptionSpec:
    query = "subscription { onMsg { id } }"
    return SubscriptionSpec("onMsg", query, parse(query), None, {}, arguments or {}, **kw)


def echo(spec: SubscriptionSpec, event: dict[str, Any]) -> dict[str, Any]:
    return {"data": {spec.field_name: event}}


def test_argument_left_out_matches_everything() -> None:
    assert matches_arguments({}, {"room": "a"})


def test_argument_compares_with_the_result_field_of_the_same_name() -> None:
    assert matches_arguments({"room": "a"}, {"room": "a", "x": 1})
    assert not matches_arguments({"room": "a"}, {"room": "b"})


def test_argument_on_a_field_the_mutation_did_not_select_matches_nothing() -> None:
    assert not matches_arguments({"room": "a"}, {"id": "1"})


def test_enhanced_filter_groups_are_ored_and_filters_anded() -> None:
    f = {
        "filterGroup": [
            {"filters": [{"fieldName": "severity", "operator": "ge", "value": 7}]},
            {
                "filters": [
                    {"fieldName": "priority", "operator": "in", "value": ["high", "medium"]},
                    {"fieldName": "meta.team", "operator": "beginsWith", "value": "dev"},
                ]
            },
        ]
    }
    assert matches_filter(f, {"severity": 8})
    assert matches_filter(f, {"severity": 1, "priority": "high", "meta": {"team": "devops"}})
    assert not matches_filter(f, {"severity": 1, "priority": "high", "meta": {"team": "ops"}})
    assert not matches_filter(f, {"severity": 1, "priority": "low"})


def test_enhanced_filter_operators() -> None:
    def one(op: str, value: Any, actual: Any) -> bool:
        return matches_filter(
            {"filterGroup": [{"filters": [{"fieldName": "f", "operator": op, "value": value}]}]},
            {"f": actual},
        )

    assert one("eq", 1, 1) and not one("eq", 1, 2)
    assert one("ne", 1, 2)
    assert one("lt", 5, 4) and one("le", 5, 5) and one("gt", 5, 6) and not one("gt", 5, "6")
    assert one("contains", "ell", "hello") and one("contains", "a", ["a", "b"])
    assert one("notContains", "z", "hello")
    assert one("between", [1, 3], 2) and not one("between", [1, 3], 4)
    assert one("containsAny", ["x", "b"], ["a", "b"])
    assert one("notIn", ["a"], "b")
    assert not one("noSuchOperator", 1, 1)


def test_publish_reaches_matching_groups_only_and_serializes_once_per_group() -> None:
    calls: list[str] = []

    def projector(s: SubscriptionSpec, event: dict[str, Any]) -> dict[str, Any]:
        calls.append(json.dumps(s.arguments))
        return echo(s, event)

    ps = PubSub(projector)
    a, b, c = Box(), Box(), Box()
    ps.add(a, "1", spec({"room": "r1"}))
    ps.add(b, "7", spec({"room": "r1"}))
    ps.add(c, "1", spec({"room": "r2"}))
    assert ps.publish(["onMsg"], {"id": "m", "room": "r1"}) == 2
    assert calls == ['{"room": "r1"}']
    assert json.loads(a.frames[0]) == {
        "id": "1",
        "type": "data",
        "payload": {"data": {"onMsg": {"id": "m", "room": "r1"}}},
    }
    assert json.loads(b.frames[0])["id"] == "7"
    assert c.frames == []


def test_each_subscriber_gets_messages_in_publish_order() -> None:
    ps = PubSub(echo)
    box = Box()
    ps.add(box, "s", spec())
    for i in range(5):
        ps.publish(["onMsg"], {"id": str(i)})
    assert [json.loads(f)["payload"]["data"]["onMsg"]["id"] for f in box.frames] == ["0", "1", "2", "3", "4"]


def test_removed_subscription_gets_nothing_more() -> None:
    ps = PubSub(echo)
    box = Box()
    ps.add(box, "s", spec())
    ps.remove(box, "s")
    ps.remove(box, "s")
    assert ps.publish(["onMsg"], {"id": "1"}) == 0
    assert ps.count() == 0


def test_oversized_message_is_not_delivered_and_is_counted() -> None:
    ps = PubSub(echo, max_payload_bytes=100)
    box = Box()
    ps.add(box, "s", spec())
    assert ps.publish(["onMsg"], {"id": "x" * 200}) == 0
    assert box.frames == [] and ps.dropped_oversize == 1
    assert ps.publish(["onMsg"], {"id": "small"}) == 1


def test_invalidation_ends_only_matching_subscriptions() -> None:
    ps = PubSub(echo)
    dev, ops = Box(), Box()
    inv = {"filterGroup": [{"filters": [{"fieldName": "group", "operator": "eq", "value": "dev"}]}]}
    ps.add(dev, "1", spec({"g": "dev"}, invalidation_filter=inv))
    ps.add(ops, "1", spec({"g": "ops"}))
    assert ps.invalidate("onMsg", {"group": "dev"}) == 1
    assert dev.ended == ["1"] and ops.ended == []
    assert ps.count() == 1
