"""Model-native InvokeModel formats the fake speaks, translated to and from Converse.

Each family turns its request body into a Converse request (so scripted rules and the
default reply work the same for every API) and renders the Converse result or events
back as that family's response body or stream chunks:

- `anthropic.*` Claude Messages API (`anthropic_version`, `messages`, `max_tokens`, tools);
- `amazon.nova-*` (Converse-shaped body and chunks);
- `amazon.titan-text-*` / `amazon.titan-tg1-*` (`inputText`, `textGenerationConfig`);
- `meta.llama*` (`prompt`, `max_gen_len`; Llama 2/3 chat templates are unwrapped);
- `mistral.*` text completion (`prompt`, `max_tokens`, `stop`);
- `amazon.titan-embed-text-*` embeddings (InvokeModel only; deterministic unit vectors).

Any other family (Cohere, AI21, gpt-oss, image models...) is a ValidationException that
says so: use Converse, which the fake answers for every model id.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .base import Event, validation_error
from .tokens import count_tokens

_GEO_PREFIX = re.compile(r"^(?:us|eu|apac|us-gov|global|jp|au|ca)\.")


@dataclass
class NativeContext:
    """Per-call state a family needs while rendering: ids, token counts, timings."""

    model_id: str
    input_tokens: int
    message_id: str = ""
    started: float = field(default_factory=time.monotonic)
    first_byte: float | None = None
    output_tokens: int = 0
    stop_reason: str = "end_turn"
    open_blocks: set[int] = field(default_factory=set)

    def metrics(self) -> dict[str, int]:
        """Bedrock's `amazon-bedrock-invocationMetrics`, added to the last chunk."""
        now = time.monotonic()
        first = self.first_byte if self.first_byte is not None else now
        return {
            "inputTokenCount": self.input_tokens,
            "outputTokenCount": self.output_tokens,
            "invocationLatency": round((now - self.started) * 1000),
            "firstByteLatency": round((first - self.started) * 1000),
        }

    def saw(self, event: Event) -> None:
        """Track the first delta, delta count and stop reason of a Converse event."""
        if "contentBlockDelta" in event:
            self.output_tokens += 1
            if self.first_byte is None:
                self.first_byte = time.monotonic()
        elif "messageStop" in event:
            self.stop_reason = event["messageStop"]["stopReason"]


class Family:
    """A model family's request/response format; subclasses override the three hooks."""

    name = "base"
    streams = True

    def to_converse(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """The Converse request equivalent to this native body."""
        raise NotImplementedError

    def response(self, result: Mapping[str, Any], ctx: NativeContext) -> dict[str, Any]:
        """The native InvokeModel body for a Converse response."""
        raise NotImplementedError

    def chunks(self, event: Event, ctx: NativeContext) -> list[dict[str, Any]]:
        """The native stream chunks (zero or more) for one Converse event."""
        raise NotImplementedError


def _text_of(result: Mapping[str, Any]) -> str:
    return "".join(b.get("text", "") for b in result["output"]["message"]["content"])


def _user(text: str, max_tokens: Any = None, stop: Any = None, system: str | None = None) -> dict[str, Any]:
    request: dict[str, Any] = {"messages": [{"role": "user", "content": [{"text": text}]}]}
    config = {k: v for k, v in (("maxTokens", max_tokens), ("stopSequences", stop)) if v is not None}
    if config:
        request["inferenceConfig"] = config
    if system:
        request["system"] = [{"text": system}]
    return request


def _require(body: Mapping[str, Any], *keys: str) -> None:
    for key in keys:
        if key not in body:
            raise validation_error(
                f"Malformed input request: #: required key [{key}] not found, please reformat your input and try again."
            )


_ANTHROPIC_STOP = {"end_turn", "tool_use", "max_tokens", "stop_sequence"}


class Anthropic(Family):
    """Claude's Messages API as Bedrock serves it (`bedrock-2023-05-31`)."""

    name = "anthropic"

    def to_converse(self, body: Mapping[str, Any]) -> dict[str, Any]:
        _require(body, "anthropic_version", "max_tokens", "messages")
        messages = [
            {"role": m.get("role", "user"), "content": self._blocks(m.get("content", []))} for m in body["messages"]
        ]
        request: dict[str, Any] = {"messages": messages, "inferenceConfig": {"maxTokens": body["max_tokens"]}}
        if body.get("stop_sequences"):
            request["inferenceConfig"]["stopSequences"] = body["stop_sequences"]
        system = body.get("system")
        if system:
            request["system"] = [{"text": system}] if isinstance(system, str) else self._blocks(system)
        if body.get("tools"):
            request["toolConfig"] = {
                "tools": [
                    {"toolSpec": {"name": t["name"], "inputSchema": {"json": t.get("input_schema", {})}}}
                    for t in body["tools"]
                ]
            }
        return request

    def _blocks(self, content: Any) -> list[dict[str, Any]]:
        if isinstance(content, str):
            return [{"text": content}]
        blocks: list[dict[str, Any]] = []
        for block in content:
            kind = block.get("type")
            if kind == "text":
                blocks.append({"text": block["text"]})
            elif kind == "tool_use":
                blocks.append({"toolUse": {"toolUseId": block["id"], "name": block["name"], "input": block["input"]}})
            elif kind == "tool_result":
                inner = self._blocks(block.get("content", []))
                blocks.append({"toolResult": {"toolUseId": block["tool_use_id"], "content": inner}})
        return blocks

    @staticmethod
    def _model(model_id: str) -> str:
        name = model_id.rsplit("/", 1)[-1].split("anthropic.", 1)[-1]
        return re.sub(r"-v\d+(?::\d+)?$", "", name)

    def _stop(self, reason: str) -> str:
        return reason if reason in _ANTHROPIC_STOP else "end_turn"

    def response(self, result: Mapping[str, Any], ctx: NativeContext) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        for block in result["output"]["message"]["content"]:
            if "text" in block:
                content.append({"type": "text", "text": block["text"]})
            elif "toolUse" in block:
                tool = block["toolUse"]
                content.append(
                    {
                        "type": "tool_use",
                        "id": tool["toolUseId"],
                        "name": tool["name"],
                        "input": tool["input"],
                    }
                )
        usage = result["usage"]
        return {
            "id": ctx.message_id,
            "type": "message",
            "role": "assistant",
            "model": self._model(ctx.model_id),
            "content": content,
            "stop_reason": self._stop(result["stopReason"]),
            "stop_sequence": None,
            "usage": {"input_tokens": usage["inputTokens"], "output_tokens": usage["outputTokens"]},
        }

    def chunks(self, event: Event, ctx: NativeContext) -> list[dict[str, Any]]:
        (name, body), *_ = event.items()
        if name == "messageStart":
            message: dict[str, Any] = {
                "id": ctx.message_id,
                "type": "message",
                "role": "assistant",
                "model": self._model(ctx.model_id),
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": ctx.input_tokens, "output_tokens": 1},
            }
            return [{"type": "message_start", "message": message}]
        if name == "contentBlockStart":
            ctx.open_blocks.add(body["contentBlockIndex"])
            tool = body["start"]["toolUse"]
            block = {"type": "tool_use", "id": tool["toolUseId"], "name": tool["name"], "input": {}}
            return [{"type": "content_block_start", "index": body["contentBlockIndex"], "content_block": block}]
        if name == "contentBlockDelta":
            index, delta = body["contentBlockIndex"], body["delta"]
            out: list[dict[str, Any]] = []
            if index not in ctx.open_blocks:
                ctx.open_blocks.add(index)
                out.append(
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "text", "text": ""},
                    }
                )
            if "text" in delta:
                out.append(
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "text_delta", "text": delta["text"]},
                    }
                )
            else:
                part = {"type": "input_json_delta", "partial_json": delta["toolUse"]["input"]}
                out.append({"type": "content_block_delta", "index": index, "delta": part})
            return out
        if name == "contentBlockStop":
            return [{"type": "content_block_stop", "index": body["contentBlockIndex"]}]
        if name == "metadata":
            delta = {"stop_reason": self._stop(ctx.stop_reason), "stop_sequence": None}
            return [
                {"type": "message_delta", "delta": delta, "usage": {"output_tokens": ctx.output_tokens}},
                {"type": "message_stop", "amazon-bedrock-invocationMetrics": ctx.metrics()},
            ]
        return []


class Nova(Family):
    """Amazon Nova: the native body and chunks are Converse's own shapes."""

    name = "nova"

    def to_converse(self, body: Mapping[str, Any]) -> dict[str, Any]:
        _require(body, "messages")
        request = {k: body[k] for k in ("messages", "system", "toolConfig") if k in body}
        config = body.get("inferenceConfig") or {}
        limits = {
            "maxTokens": config.get("max_new_tokens", config.get("maxTokens")),
            "stopSequences": config.get("stopSequences"),
        }
        request["inferenceConfig"] = {k: v for k, v in limits.items() if v is not None}
        return request

    def response(self, result: Mapping[str, Any], ctx: NativeContext) -> dict[str, Any]:
        return {"output": result["output"], "stopReason": result["stopReason"], "usage": result["usage"]}

    def chunks(self, event: Event, ctx: NativeContext) -> list[dict[str, Any]]:
        if "metadata" in event:
            meta = {"usage": event["metadata"]["usage"], "metrics": {}, "trace": {}}
            return [{"metadata": meta, "amazon-bedrock-invocationMetrics": ctx.metrics()}]
        return [event]


_TITAN_REASON = {"max_tokens": "LENGTH", "stop_sequence": "STOP_CRITERIA_MET"}


class TitanText(Family):
    """Amazon Titan Text (`inputText` + `textGenerationConfig`)."""

    name = "titan-text"

    def to_converse(self, body: Mapping[str, Any]) -> dict[str, Any]:
        _require(body, "inputText")
        config = body.get("textGenerationConfig") or {}
        return _user(str(body["inputText"]), config.get("maxTokenCount"), config.get("stopSequences"))

    def response(self, result: Mapping[str, Any], ctx: NativeContext) -> dict[str, Any]:
        usage = result["usage"]
        reason = _TITAN_REASON.get(result["stopReason"], "FINISH")
        return {
            "inputTextTokenCount": usage["inputTokens"],
            "results": [
                {
                    "tokenCount": usage["outputTokens"],
                    "outputText": _text_of(result),
                    "completionReason": reason,
                }
            ],
        }

    def chunks(self, event: Event, ctx: NativeContext) -> list[dict[str, Any]]:
        if "contentBlockDelta" in event and "text" in event["contentBlockDelta"]["delta"]:
            return [
                {
                    "outputText": event["contentBlockDelta"]["delta"]["text"],
                    "index": 0,
                    "totalOutputTextTokenCount": ctx.output_tokens,
                    "completionReason": None,
                    "inputTextTokenCount": ctx.input_tokens if ctx.output_tokens == 1 else None,
                }
            ]
        if "metadata" in event:
            last = {
                "outputText": "",
                "index": 0,
                "totalOutputTextTokenCount": ctx.output_tokens,
                "completionReason": _TITAN_REASON.get(ctx.stop_reason, "FINISH"),
                "inputTextTokenCount": None,
                "amazon-bedrock-invocationMetrics": ctx.metrics(),
            }
            return [last]
        return []


_LLAMA3_TURN = re.compile(r"<\|start_header_id\|>(\w+)<\|end_header_id\|>\s*(.*?)(?:<\|eot_id\|>|$)", re.S)
_INST = re.compile(r"\[INST\](.*?)\[/INST\]", re.S)
_SYS = re.compile(r"<<SYS>>(.*?)<</SYS>>", re.S)


def _unwrap_prompt(prompt: str) -> tuple[str, str | None]:
    """The last user turn and the system prompt of a Llama 3 / Llama 2 / Mistral chat prompt."""
    turns = [(role, text.strip()) for role, text in _LLAMA3_TURN.findall(prompt)]
    if turns:
        users = [text for role, text in turns if role == "user" and text]
        system = next((text for role, text in turns if role == "system"), None)
        return (users[-1] if users else prompt), system
    inst = _INST.findall(prompt)
    if inst:
        last = inst[-1]
        sys_match = _SYS.search(last) or _SYS.search(inst[0])
        return _SYS.sub("", last).strip(), sys_match.group(1).strip() if sys_match else None
    return re.sub(r"</?s>", "", prompt).strip(), None


def _llama_reason(reason: str) -> str:
    return "length" if reason == "max_tokens" else "stop"


class Llama(Family):
    """Meta Llama (`prompt`, `max_gen_len`) with `generation` chunks."""

    name = "llama"

    def to_converse(self, body: Mapping[str, Any]) -> dict[str, Any]:
        _require(body, "prompt")
        text, system = _unwrap_prompt(str(body["prompt"]))
        return _user(text, body.get("max_gen_len"), None, system)

    def response(self, result: Mapping[str, Any], ctx: NativeContext) -> dict[str, Any]:
        return {
            "generation": _text_of(result),
            "prompt_token_count": result["usage"]["inputTokens"],
            "generation_token_count": result["usage"]["outputTokens"],
            "stop_reason": _llama_reason(result["stopReason"]),
        }

    def chunks(self, event: Event, ctx: NativeContext) -> list[dict[str, Any]]:
        if "contentBlockDelta" in event and "text" in event["contentBlockDelta"]["delta"]:
            first = ctx.output_tokens == 1
            return [
                {
                    "generation": event["contentBlockDelta"]["delta"]["text"],
                    "prompt_token_count": ctx.input_tokens if first else None,
                    "generation_token_count": ctx.output_tokens,
                    "stop_reason": None,
                }
            ]
        if "metadata" in event:
            last = {
                "generation": "",
                "prompt_token_count": None,
                "generation_token_count": ctx.output_tokens,
                "stop_reason": _llama_reason(ctx.stop_reason),
                "amazon-bedrock-invocationMetrics": ctx.metrics(),
            }
            return [last]
        return []


class Mistral(Family):
    """Mistral text completion (`prompt`, `max_tokens`, `stop`) with `outputs` chunks."""

    name = "mistral"

    def to_converse(self, body: Mapping[str, Any]) -> dict[str, Any]:
        if "messages" in body:
            raise validation_error("The fake LLM backend speaks Mistral's text-completion format (`prompt`) only.")
        _require(body, "prompt")
        text, system = _unwrap_prompt(str(body["prompt"]))
        return _user(text, body.get("max_tokens"), body.get("stop"), system)

    def response(self, result: Mapping[str, Any], ctx: NativeContext) -> dict[str, Any]:
        return {"outputs": [{"text": _text_of(result), "stop_reason": _llama_reason(result["stopReason"])}]}

    def chunks(self, event: Event, ctx: NativeContext) -> list[dict[str, Any]]:
        if "contentBlockDelta" in event and "text" in event["contentBlockDelta"]["delta"]:
            return [{"outputs": [{"text": event["contentBlockDelta"]["delta"]["text"], "stop_reason": None}]}]
        if "metadata" in event:
            last = {"outputs": [{"text": "", "stop_reason": _llama_reason(ctx.stop_reason)}]}
            return [{**last, "amazon-bedrock-invocationMetrics": ctx.metrics()}]
        return []


class TitanEmbed(Family):
    """Amazon Titan text embeddings: a deterministic unit vector per input text."""

    name = "titan-embed"
    streams = False

    def embed(self, body: Mapping[str, Any], model_id: str) -> dict[str, Any]:
        """`{"embedding": [...], "inputTextTokenCount": n}` for `{"inputText": ...}`."""
        _require(body, "inputText")
        text = str(body["inputText"])
        size = int(body.get("dimensions") or (1024 if "v2" in model_id else 1536))
        rng = random.Random(hashlib.sha256(text.encode()).digest())
        vector = [rng.gauss(0.0, 1.0) for _ in range(size)]
        norm = math.sqrt(sum(v * v for v in vector)) or 1.0
        vector = [v / norm for v in vector]
        return {
            "embedding": vector,
            "embeddingsByType": {"float": vector},
            "inputTextTokenCount": count_tokens(text),
        }


_BY_PREFIX: list[tuple[str, Family]] = [
    ("anthropic.", Anthropic()),
    ("amazon.nova", Nova()),
    ("amazon.titan-text", TitanText()),
    ("amazon.titan-tg1", TitanText()),
    ("amazon.titan-embed-text", TitanEmbed()),
    ("meta.llama", Llama()),
    ("mistral.", Mistral()),
]


def family_for(model_id: str, body: Mapping[str, Any]) -> Family:
    """The family of a model id (ARNs and cross-region prefixes allowed), else a ValidationException."""
    name = _GEO_PREFIX.sub("", model_id.rsplit("/", 1)[-1])
    for prefix, family in _BY_PREFIX:
        if name.startswith(prefix):
            return family
    if "anthropic_version" in body:
        return _BY_PREFIX[0][1]
    known = ", ".join(f"{p}*" for p, _ in _BY_PREFIX)
    raise validation_error(
        f"The fake LLM backend does not speak the native InvokeModel format of {model_id!r} "
        f"(it speaks {known}). Use Converse, which it answers for any model id."
    )


def parse_body(body: bytes) -> dict[str, Any]:
    """An InvokeModel body as a JSON object, else Bedrock's malformed-input error."""
    try:
        parsed = json.loads(body or b"{}")
    except ValueError as exc:
        raise validation_error(f"Malformed input request: {exc}, please reformat your input and try again.") from exc
    if not isinstance(parsed, dict):
        raise validation_error(
            "Malformed input request: expected a JSON object, please reformat your input and try again."
        )
    return parsed
