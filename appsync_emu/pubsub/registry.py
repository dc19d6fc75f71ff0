"""The subscription registry and fan-out of mutation results to subscribers.

Subscribers that sent the same document with the same variables and filter form one
group: the filter is evaluated and the payload projected and serialized once per group
per event, and each member only costs a non-blocking `send_data` to its connection's
outbox, which frames it. Delivery order per connection follows publish order, because
publishing is synchronous on the event loop.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from graphql import DocumentNode

from .. import limits
from ..observe import Observer
from .filters import matches_arguments, matches_filter

log = logging.getLogger("appsync_emu.pubsub")


class Outbox(Protocol):
    """A connection's outgoing side, as the registry sees it."""

    def send_data(self, sub_id: str, payload_json: str) -> None:
        """Queue one event for subscription `sub_id` without blocking (the connection frames it)."""

    def end_subscription(self, sub_id: str) -> None:
        """The server ended this subscription (invalidation): tell the client `complete`."""


@dataclass
class SubscriptionSpec:
    """A started subscription: what it listens to, how it filters, what it selects."""

    field_name: str
    query: str
    document: DocumentNode
    operation_name: str | None
    variables: dict[str, Any]
    arguments: dict[str, Any]
    filter: dict[str, Any] | None = None
    invalidation_filter: dict[str, Any] | None = None

    def group_key(self) -> str:
        return json.dumps(
            [self.field_name, self.query, self.operation_name, self.variables, self.arguments, self.filter],
            sort_keys=True,
            default=str,
        )

    def matches(self, event: Any) -> bool:
        """Whether the filter (or else the arguments) match; a scalar or list result has no fields to match."""
        fields = event if isinstance(event, dict) else {}
        if self.filter is not None:
            return matches_filter(self.filter, fields)
        return matches_arguments(self.arguments, fields)


Projector = Callable[[SubscriptionSpec, Any], dict[str, Any]]


def subscription_view(outbox: Outbox, sub_id: str, spec: SubscriptionSpec) -> dict[str, Any]:
    """How the live page lists an open subscription (the connection's `label` when it has one)."""
    return {
        "id": sub_id,
        "connection": getattr(outbox, "label", None),
        "field": spec.field_name,
        "operationName": spec.operation_name,
        "arguments": spec.arguments,
        "filtered": spec.filter is not None,
    }


@dataclass
class _Group:
    spec: SubscriptionSpec
    members: dict[tuple[int, str], tuple[Outbox, str]] = field(default_factory=dict)  # -> (outbox, sub id)


class PubSub:
    """In-memory subscription registry with grouped fan-out."""

    def __init__(self, projector: Projector, *, max_payload_bytes: int = limits.MAX_SUBSCRIPTION_PAYLOAD_BYTES) -> None:
        self.projector = projector
        self.max_payload_bytes = max_payload_bytes
        self._by_field: dict[str, dict[str, _Group]] = {}
        self._where: dict[tuple[int, str], tuple[str, str]] = {}  # member -> (field, group key)
        self.delivered = 0
        self.dropped_oversize = 0
        self.observer: Observer | None = None  # the live page's recorder (`app.build_emulator` sets it)

    def add(self, outbox: Outbox, sub_id: str, spec: SubscriptionSpec) -> None:
        """Register a subscription; events published from now on reach it."""
        member = (id(outbox), sub_id)
        self.remove(outbox, sub_id)
        key = spec.group_key()
        groups = self._by_field.setdefault(spec.field_name, {})
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group(spec)
        group.members[member] = (outbox, sub_id)
        self._where[member] = (spec.field_name, key)
        if self.observer is not None:
            self.observer.subscription_opened(member, subscription_view(outbox, sub_id, spec))

    def remove(self, outbox: Outbox, sub_id: str) -> None:
        """Unregister a subscription (idempotent)."""
        member = (id(outbox), sub_id)
        where = self._where.pop(member, None)
        if where is None:
            return
        if self.observer is not None:
            self.observer.subscription_closed(member)
        field_name, key = where
        groups = self._by_field[field_name]
        group = groups[key]
        group.members.pop(member, None)
        if not group.members:
            del groups[key]
            if not groups:
                del self._by_field[field_name]

    def count(self) -> int:
        return len(self._where)

    def publish(self, subscription_fields: list[str], event: Any) -> int:
        """Deliver one mutation result (object, scalar or list) to every matching subscriber; returns deliveries."""
        delivered = 0
        for field_name in subscription_fields:
            groups = self._by_field.get(field_name)
            if not groups:
                continue
            for group in list(groups.values()):
                spec = group.spec
                if not spec.matches(event):
                    continue
                payload = json.dumps(self.projector(spec, event), separators=(",", ":"))
                if len(payload) > self.max_payload_bytes:
                    self.dropped_oversize += 1
                    log.warning(
                        "subscription message for %s not delivered: %d bytes is over the %d byte limit",
                        field_name,
                        len(payload),
                        self.max_payload_bytes,
                    )
                    continue
                for outbox, sub_id in list(group.members.values()):
                    outbox.send_data(sub_id, payload)
                delivered += len(group.members)
        self.delivered += delivered
        return delivered

    def retain(self, keep: Callable[[SubscriptionSpec], bool]) -> int:
        """End, as an invalidation does (`complete`), every subscription whose spec `keep` refuses.

        A hot reload calls it with "does the new schema still allow this document?" (`reload.py`).
        """
        ended = 0
        for groups in list(self._by_field.values()):
            for group in list(groups.values()):
                if not keep(group.spec):
                    ended += self._end_members(group)
        return ended

    def invalidate(self, subscription_field: str, payload: dict[str, Any]) -> int:
        """End every subscription on the field whose invalidation filter matches `payload`."""
        ended = 0
        for group in list(self._by_field.get(subscription_field, {}).values()):
            inv = group.spec.invalidation_filter
            if inv is not None and matches_filter(inv, payload):
                ended += self._end_members(group)
        return ended

    def _end_members(self, group: _Group) -> int:
        """End every subscription of one group, as an invalidation does; how many there were."""
        members = list(group.members.values())
        for outbox, sub_id in members:
            self.remove(outbox, sub_id)
            outbox.end_subscription(sub_id)
        return len(members)
