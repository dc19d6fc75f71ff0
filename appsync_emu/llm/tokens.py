"""Word-piece tokens and prompt text for the fake model.

A token is a word or a piece of a long word with its leading whitespace, or one
punctuation mark; joining the tokens gives back the text exactly. Token counts in usage
figures come from the same function, so they agree with the streamed deltas.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_TOKEN = re.compile(r"\s*\w+|\s*[^\w\s]|\s+$")
_PIECE = 6


def tokenize(text: str) -> list[str]:
    """Split text into tokens; `"".join(tokenize(t)) == t`."""
    tokens: list[str] = []
    for match in _TOKEN.finditer(text):
        token = match.group()
        word = token.lstrip()
        if len(word) <= _PIECE + 2:
            tokens.append(token)
            continue
        lead = len(token) - len(word) + _PIECE
        tokens.append(token[:lead])
        tokens.extend(token[i : i + _PIECE] for i in range(lead, len(token), _PIECE))
    return tokens


def count_tokens(text: str) -> int:
    """How many tokens `tokenize` would make of `text`."""
    return len(tokenize(text))


def block_text(block: Mapping[str, Any]) -> str:
    """The text a Converse content block contributes to the prompt (tool data as JSON)."""
    if "text" in block:
        return str(block["text"])
    if "toolUse" in block:
        return json.dumps(block["toolUse"].get("input", {}))
    if "toolResult" in block:
        return " ".join(block_text(part) for part in block["toolResult"].get("content", []))
    if "json" in block:
        return json.dumps(block["json"])
    return ""


def last_user_text(request: Mapping[str, Any]) -> str:
    """The text blocks of the last user message: what scripted rules match against."""
    for message in reversed(request.get("messages") or []):
        if message.get("role") == "user":
            return "\n".join(str(b["text"]) for b in message.get("content", []) if "text" in b)
    return ""


def last_tool_result(request: Mapping[str, Any]) -> str | None:
    """The tool results in the last user message as text, or None when it carries none."""
    messages = request.get("messages") or []
    if not messages or messages[-1].get("role") != "user":
        return None
    results = [b for b in messages[-1].get("content", []) if "toolResult" in b]
    return " ".join(block_text(b) for b in results) if results else None


def prompt_text(request: Mapping[str, Any]) -> str:
    """System prompt and every message, flattened: the input the usage figures count."""
    parts = [str(b.get("text", "")) for b in request.get("system") or []]
    for message in request.get("messages") or []:
        parts.extend(block_text(b) for b in message.get("content", []))
    return "\n".join(parts)
