"""A minimal raw AppSync real-time client for protocol-level tests (built on `websockets`)."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from appsync_emu.pytest_plugin import EmulatorHandle


def header_b64(obj: dict[str, str], *, urlsafe: bool = False, padded: bool = True) -> str:
    raw = json.dumps(obj).encode()
    text = (base64.urlsafe_b64encode(raw) if urlsafe else base64.b64encode(raw)).decode()
    return text if padded else text.rstrip("=")


def api_key_header(api: EmulatorHandle, key: str | None = None) -> dict[str, str]:
    host = api.graphql_url.split("/")[2]
    return {"host": host, "x-api-key": key if key is not None else (api.api_key or "")}


class RawClient:
    """One WebSocket connection speaking AppSync's protocol by hand."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    @classmethod
    async def open(
        cls,
        api: EmulatorHandle,
        *,
        path: str = "/graphql/realtime",
        header: dict[str, str] | None = None,
        via: str = "query",
        subprotocols: list[str] | None = None,
    ) -> RawClient:
        hdr = header if header is not None else api_key_header(api)
        base = api.realtime_url.rsplit("/graphql", 1)[0]
        url = base + path
        protocols = subprotocols if subprotocols is not None else ["graphql-ws"]
        if via == "query":
            url += f"?header={header_b64(hdr)}&payload=e30="
        elif via == "subprotocol":
            protocols = [*protocols, "header-" + header_b64(hdr, urlsafe=True, padded=False)]
        ws = await connect(url, subprotocols=protocols, compression=None)  # type: ignore[arg-type]
        return cls(ws)

    async def send(self, msg: dict[str, Any] | str) -> None:
        await self.ws.send(msg if isinstance(msg, str) else json.dumps(msg))

    async def recv(self, timeout: float = 5.0, skip_ka: bool = True) -> dict[str, Any]:
        while True:
            raw = await asyncio.wait_for(self.ws.recv(), timeout)
            msg: dict[str, Any] = json.loads(raw)
            if skip_ka and msg.get("type") == "ka":
                continue
            return msg

    async def init(self) -> dict[str, Any]:
        await self.send({"type": "connection_init"})
        return await self.recv()

    async def start(
        self,
        id: str,
        query: str,
        variables: dict[str, Any] | None = None,
        authorization: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {"data": json.dumps({"query": query, "variables": variables or {}})}
        if authorization is not None:
            payload["extensions"] = {"authorization": authorization}
        await self.send({"id": id, "type": "start", "payload": payload})
        return await self.recv()

    async def close(self) -> None:
        await self.ws.close()
