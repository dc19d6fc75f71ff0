"""The shared keep-alive ticker: `ka` to every authorized connection, a close at end of life."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from appsync_emu.transport.realtime import KeepAlive, Outbox
from appsync_emu.transport.realtime_protocol import KA_FRAME


class FakeOutbox:
    def __init__(self) -> None:
        self.frames: list[str] = []
        self.closed: int | None = None

    def send_frame(self, text: str) -> None:
        self.frames.append(text)

    def close(self, code: int) -> None:
        self.closed = code


async def until(condition: Any) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never held")


async def test_every_connection_gets_ka_from_one_ticker_and_it_stops_with_the_last() -> None:
    keepalive = KeepAlive(interval_s=0.01, lifetime_s=3600)
    a, b = FakeOutbox(), FakeOutbox()
    keepalive.add(cast(Outbox, a))
    keepalive.add(cast(Outbox, b))
    await until(lambda: len(a.frames) >= 2 and len(b.frames) >= 2)
    assert set(a.frames) == {KA_FRAME} and a.closed is None
    keepalive.remove(cast(Outbox, a))
    seen = len(a.frames)
    await until(lambda: len(b.frames) >= seen + 3)
    assert len(a.frames) == seen, "a removed connection gets no more ka"
    keepalive.remove(cast(Outbox, b))
    assert keepalive._ticker is None


async def test_a_connection_past_its_lifetime_is_closed_normally() -> None:
    keepalive = KeepAlive(interval_s=0.01, lifetime_s=0.03)
    old = FakeOutbox()
    keepalive.add(cast(Outbox, old))
    await until(lambda: old.closed is not None)
    assert old.closed == 1000
    await until(lambda: keepalive._ticker is None)  # nobody left: the ticker ends
