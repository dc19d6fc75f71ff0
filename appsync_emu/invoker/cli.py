"""`appsync-emu invocations`: print a running emulator's async invocations as a table or JSON."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

import httpx

from .routes import INVOCATIONS_PATH

_COLUMNS = ("REQUEST ID", "FUNCTION", "STATE", "TRIES", "ENQUEUED", "DETAIL")
_DETAIL_WIDTH = 60


def invocations_url(url: str) -> str:
    """The list endpoint for an emulator base URL (a URL already ending in the path is kept)."""
    url = url.rstrip("/")
    return url if url.endswith(INVOCATIONS_PATH) else url + INVOCATIONS_PATH


def _detail(item: dict[str, Any]) -> str:
    parts = []
    if item.get("condition") and item["condition"] != "Success":
        parts.append(str(item["condition"]))
    error = item.get("error") or {}
    response = item.get("response") or {}
    payload = response.get("payload") if response.get("functionError") else None
    if error:
        parts.append(f"{error.get('errorType')}: {error.get('errorMessage')}")
    elif isinstance(payload, dict):
        parts.append(f"{payload.get('errorType')}: {payload.get('errorMessage')}")
    if item.get("state") == "retry-wait" and item.get("nextAttemptAt"):
        parts.append(f"next attempt {item['nextAttemptAt'][11:23]}")
    text = " | ".join(parts).replace("\n", " ")
    return text if len(text) <= _DETAIL_WIDTH else text[: _DETAIL_WIDTH - 1] + "…"


def format_table(items: list[dict[str, Any]]) -> str:
    """A fixed-width table, one invocation a line."""
    rows = [
        (
            str(item.get("requestId", "")),
            str(item.get("function", "")),
            str(item.get("state", "")),
            str(item.get("approximateInvokeCount", "")),
            str(item.get("enqueuedAt", ""))[11:23],
            _detail(item),
        )
        for item in items
    ]
    widths = [max(len(col), *(len(row[i]) for row in rows)) for i, col in enumerate(_COLUMNS)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in [_COLUMNS, *rows]]
    return "\n".join(lines)


def run_invocations_command(
    url: str,
    function: str | None,
    state: str | None,
    as_json: bool,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    transport: httpx.BaseTransport | None = None,
) -> int:
    """GET the invocations of the emulator at `url` and print them; returns the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    params = {k: v for k, v in (("function", function), ("state", state)) if v}
    try:
        with httpx.Client(transport=transport, timeout=10.0) as client:
            response = client.get(invocations_url(url), params=params)
    except httpx.HTTPError as e:
        print(f"error: cannot reach the emulator at {url}: {e}", file=err)
        return 2
    if response.status_code != 200:
        try:
            message = response.json().get("message", response.text)
        except ValueError:
            message = response.text
        print(f"error: {response.status_code}: {message}", file=err)
        return 1
    items: list[dict[str, Any]] = response.json()
    if as_json:
        print(json.dumps(items, indent=2, ensure_ascii=False), file=out)
    elif items:
        print(format_table(items), file=out)
    else:
        print("no invocations", file=out)
    return 0
