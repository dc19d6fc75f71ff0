"""The live page at `/_emu/`: a static page, and the WebSocket that pushes it `observe.Observer`'s feed.

`GET /_emu/` serves `index.html` and `GET /_emu/live.js` its script (both shipped in the package,
nothing from a CDN). The script opens `/_emu/events`, which sends one `snapshot` frame (what the
observer keeps of the recent past), then, as things happen, frames holding a JSON array of the
events the page has not seen, at most one frame each `FEED_INTERVAL_S` so a busy emulator costs
the page (and the loop) a few frames a second, and at most `MAX_PER_FRAME` operations and log
lines in each. A page that fell behind the observer's bounded feed gets a new snapshot instead.
A WebSocket rather than Server-Sent Events: docs/DECISIONS.md.

The routes sit under `/_emu/`, so `EmulatorRoutesGuard` lets only same-origin or Origin-less
requests from a trusted Host read the page; browsers do not apply that rule to WebSockets, so
the feed checks it itself (a refused upgrade gets 403).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..observe import Event, Observer
from ..transport.origins import OriginPolicy

PAGE_PATH = "/_emu/"
EVENTS_PATH = "/_emu/events"
#: Shortest time between two frames to one page: events in between go in the same frame.
FEED_INTERVAL_S = 0.1
#: Operations, resolver log lines and function log lines sent per frame (each kind): past that,
#: the newest are sent and the others counted (a `skipped` event). No one reads thousands a
#: second, and serializing them is most of what a watching page costs the loop (docs/PERFORMANCE.md).
MAX_PER_FRAME = 100
_CAPPED = ("operation", "log", "line")
_HERE = Path(__file__).parent
#: The page runs only its own script; text from functions and resolvers is shown as text, never as markup.
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _asset(name: str, media_type: str) -> Response:
    headers = {"cache-control": "no-store", "content-security-policy": _CSP, "x-content-type-options": "nosniff"}
    return Response((_HERE / name).read_bytes(), media_type=media_type, headers=headers)


def dashboard_routes(observer: Observer, origins: OriginPolicy) -> list[BaseRoute]:
    """`/_emu/` (the page), `/_emu/live.js` (its script) and `/_emu/events` (the live feed)."""

    async def page(_request: Request) -> Response:
        return _asset("index.html", "text/html; charset=utf-8")

    async def script(_request: Request) -> Response:
        return _asset("live.js", "text/javascript; charset=utf-8")

    async def events(websocket: WebSocket) -> None:
        if not origins.emulator_route(websocket.scope):
            await websocket.close(code=1008)  # before accept: uvicorn answers 403
            return
        await websocket.accept()
        await feed(websocket, observer)

    return [
        Route(PAGE_PATH, page, methods=["GET"]),
        Route(PAGE_PATH + "live.js", script, methods=["GET"]),
        WebSocketRoute(EVENTS_PATH, events),
    ]


async def feed(websocket: WebSocket, observer: Observer, interval_s: float = FEED_INTERVAL_S) -> None:
    """Send the snapshot, then each batch of new events, until the page goes (or the server stops:
    uvicorn closes WebSockets with 1012 on shutdown, which ends this like any disconnect)."""
    wake = asyncio.Event()
    closed = False

    async def read_until_closed() -> None:
        nonlocal closed
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await websocket.receive_text()  # the page sends nothing; this notices it leaving
        closed = True
        wake.set()

    watch = observer.watch(wake.set)
    reader = asyncio.create_task(read_until_closed())
    try:
        await websocket.send_text(_snapshot_frame(observer))
        while True:
            await wake.wait()
            wake.clear()
            if closed:
                break
            events = watch.take()
            if events is None:
                await websocket.send_text(_snapshot_frame(observer))
            elif events:
                await websocket.send_text(frame_of(events))
            await asyncio.sleep(interval_s)
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass  # the page went while a frame was being sent
    finally:
        watch.close()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


def frame_of(events: list[Event]) -> str:
    """One frame: a JSON array of `events`, with at most `MAX_PER_FRAME` operations and log lines
    (the newest), and, first, a `skipped` event counting those left out."""
    budget = dict.fromkeys(_CAPPED, MAX_PER_FRAME)
    skipped = dict.fromkeys(_CAPPED, 0)
    kept: list[Event] = []
    for event in reversed(events):
        left = budget.get(event.kind)
        if left is not None:
            if left == 0:
                skipped[event.kind] += 1
                continue
            budget[event.kind] = left - 1
        kept.append(event)
    parts = [event.to_json() for event in reversed(kept)]
    if any(skipped.values()):
        note = {
            "kind": "skipped",
            "data": {"operations": skipped["operation"], "logs": skipped["log"], "lines": skipped["line"]},
        }
        parts.insert(0, json.dumps(note, separators=(",", ":")))
    return "[" + ",".join(parts) + "]"


def _snapshot_frame(observer: Observer) -> str:
    body = {"kind": "snapshot", "data": observer.snapshot()}
    return json.dumps(body, ensure_ascii=False, default=str, separators=(",", ":"))
