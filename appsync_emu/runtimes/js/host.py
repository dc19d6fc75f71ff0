"""Values the JS prelude asks Python for: time-zone rules and parsed XML.

quickjs-ng refuses to call Python while a CPU time limit is set ("Can not call into Python
with a time limit set"), so the prelude cannot call these directly. Instead a handler that
needs one ends with a "host" outcome naming `(kind, arg)`; the runtime computes the value
here, hands it to the context (`__provide`) and runs the handler again. Only values that
depend on stable arguments qualify, so each is requested once per context.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_RULES_FROM = datetime(1900, 1, 1, tzinfo=UTC)
_RULES_TO = datetime(2100, 1, 1, tzinfo=UTC)
_STEP = timedelta(days=7)


def _offset_and_abbr(zone: ZoneInfo, at: datetime) -> tuple[int, str]:
    local = at.astimezone(zone)
    off = local.utcoffset() or timedelta(0)
    return int(off.total_seconds()), local.tzname() or ""


@lru_cache(maxsize=64)
def zone_rules(name: str) -> str:
    """JSON `{t, o, a, first, firstAbbr}`: UTC ms of each offset change 1900-2100, the offset (s)
    and abbreviation from then on, and the offset before the first change."""
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"Unknown time-zone ID: {name}") from None
    first, first_abbr = _offset_and_abbr(zone, _RULES_FROM)
    times: list[int] = []
    offsets: list[int] = []
    abbrs: list[str] = []
    prev = (first, first_abbr)
    lo = _RULES_FROM
    while lo < _RULES_TO:
        hi = lo + _STEP
        cur = _offset_and_abbr(zone, hi)
        if cur != prev:
            a, b = lo, hi
            while b - a > timedelta(seconds=1):
                mid = a + (b - a) / 2
                if _offset_and_abbr(zone, mid) == prev:
                    a = mid
                else:
                    b = mid
            b = b.replace(microsecond=0)
            times.append(int(b.timestamp() * 1000))
            offsets.append(cur[0])
            abbrs.append(cur[1])
            prev = cur
        lo = hi
    return json.dumps({"t": times, "o": offsets, "a": abbrs, "first": first, "firstAbbr": first_abbr})


def _scalar(text: str) -> Any:
    if re.fullmatch(r"-?(0|[1-9]\d*)", text):
        return int(text)
    if re.fullmatch(r"-?(0|[1-9]\d*)\.\d+([eE][+-]?\d+)?", text):
        return float(text)
    if text in ("true", "false"):
        return text == "true"
    return text


def _xml_value(el: ET.Element) -> Any:
    children = list(el)
    text = (el.text or "").strip()
    if not children and not el.attrib:
        return _scalar(text)
    out: dict[str, Any] = {k: _scalar(v) for k, v in el.attrib.items()}
    for child in children:
        v = _xml_value(child)
        if child.tag in out:
            prev = out[child.tag]
            out[child.tag] = [*prev, v] if isinstance(prev, list) else [prev, v]
        else:
            out[child.tag] = v
    if text:
        out["content"] = _scalar(text)
    return out


def xml_to_json(xml: str) -> str:
    """`util.xml.toMap` / `toJsonString`: the document as JSON, the root element as the one key."""
    try:
        root = ET.fromstring(xml.strip())
    except ET.ParseError as e:
        raise ValueError(f"invalid XML: {e}") from None
    return json.dumps({root.tag: _xml_value(root)}, separators=(",", ":"))


_KINDS: dict[str, Callable[[str], str]] = {
    "zone": zone_rules,
    "xml": xml_to_json,
}


def resolve(kind: str, arg: str) -> str:
    """JSON `{"ok": value}` or `{"err": message}` for the prelude's `__provide`; never raises."""
    fn = _KINDS.get(kind)
    try:
        if fn is None:
            raise ValueError(f"unknown host value kind {kind!r}")
        result = fn(arg)
        if kind == "zone":
            return '{"ok":' + result + "}"
        return json.dumps({"ok": result})
    except Exception as e:
        return json.dumps({"err": str(e) or type(e).__name__})
