"""The default LLM backend: a deterministic fake model, scriptable and fault-injectable.

Without a script, the reply is derived from the conversation: it quotes the start of the
last user message and adds filler sentences chosen by a hash of the conversation and model
id, 20-80 word-piece tokens, so the same prompt always gets the same reply. Scripted rules
(`scripts.py`), from a file or set at run time, choose the reply text or tokens, tool
calls, pacing and faults. Pacing: `first_token_ms` before the first delta, then `tps`
deltas per second (0 = as fast as possible). `messageStart` is sent at once.

Demo controls (`set_controls`, served at `/_emu/llm` by `routes.py`): the pacing above and a
throttle that makes the next N calls fail with an in-stream `ThrottlingException` after some
tokens. Every call is recorded (`calls`) with its wall-clock moments (received, first token,
ended) and outcome, so a page can draw where the model's time went.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import logging
import os
import random
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .base import (
    BedrockError,
    ChunkStream,
    Event,
    EventStream,
    LLMBackend,
    ModelResponse,
    ModelStream,
    collect,
    validation_error,
)
from .native import Family, NativeContext, TitanEmbed, family_for, parse_body
from .scripts import Fault, Rule, Script, ScriptError, ToolUse, load_script, parse_rule
from .tokens import count_tokens, last_tool_result, last_user_text, prompt_text, tokenize

log = logging.getLogger(__name__)

_FRAGMENT = 16
#: Recorded calls kept; older ones are forgotten so a long demo session stays bounded.
MAX_CALLS = 1000
#: The exception a throttle control injects (the in-stream spelling is derived from it).
THROTTLE_CODE = "ThrottlingException"
#: The wall clock of recorded moments (bound once: pacing tests replace the module's `time`).
wall_clock = time.time
#: Unpaced streams still hand the event loop back this often, so one long reply cannot starve it.
_YIELD_EVERY = 64
_OPENERS = ['You asked: "{topic}".', 'About "{topic}":', 'On "{topic}", briefly.', 'Regarding "{topic}":']
_FILLER = [
    "This is a deterministic reply from the appsync-emu fake model.",
    "The same prompt always produces the same answer, token for token.",
    "Nothing here comes from a real language model.",
    "Script the fake to return exactly the text your test expects.",
    "Each word arrives as its own streamed token.",
    "Usage figures count the same tokens you receive.",
    "Set a tokens-per-second rate to watch the reply stream in.",
    "Tool calls, throttling and hangs can be scripted too.",
    "The answer stays plain so that assertions stay simple.",
    "A real model would say something more insightful here.",
    "Your Lambda code calls Bedrock exactly as it would on AWS.",
    "Subscribers should receive these tokens one by one.",
    "Switch to the bedrock backend to talk to a real model.",
    "Everything runs offline on your machine.",
]


@dataclass
class Call:
    """One request the fake received: operation, model id, Converse request, and what happened.

    Times are wall-clock epoch seconds (`wall_clock`, the clock the invoker's records use):
    when the request arrived, when the first token (delta) was handed out, when the call ended.
    `outcome` is the stop reason, the error code, `cancelled` (the client went away) or None
    while the call runs or hangs.
    """

    operation: str
    model_id: str
    request: dict[str, Any]
    body: bytes | None = None
    received_at: float = field(default_factory=lambda: wall_clock())
    first_token_at: float | None = None
    ended_at: float | None = None
    outcome: str | None = None
    output_tokens: int = 0
    number: int = 0

    def end(self, outcome: str) -> None:
        """Record the call's end (the first end only)."""
        if self.ended_at is None:
            self.ended_at = wall_clock()
            self.outcome = outcome

    def to_dict(self) -> dict[str, Any]:
        """The JSON view served on `/_emu/llm`: moments as millisecond ISO timestamps."""
        metadata = self.request.get("requestMetadata")
        return {
            "number": self.number,
            "operation": self.operation,
            "modelId": self.model_id,
            "messages": len(self.request.get("messages") or []),
            "requestMetadata": dict(metadata) if isinstance(metadata, Mapping) else None,
            "receivedAt": iso_ms(self.received_at),
            "firstTokenAt": iso_ms(self.first_token_at),
            "endedAt": iso_ms(self.ended_at),
            "outcome": self.outcome,
            "outputTokens": self.output_tokens,
        }


@dataclass
class Throttle:
    """The throttle control: the next `remaining` calls fail in the stream after `after_tokens` deltas."""

    after_tokens: int
    remaining: int


def iso_ms(epoch_s: float | None) -> str | None:
    """`2026-01-02T03:04:05.678Z` (milliseconds, truncated), as Lambda's and AppSync's timestamps read."""
    if epoch_s is None:
        return None
    moment = datetime.fromtimestamp(int(epoch_s * 1000) / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class _Plan:
    text: list[str]
    tools: list[tuple[str, str, list[str]]]
    stop_reason: str
    fault: Fault | None
    first_token_s: float
    tps: float
    input_tokens: int
    seed: bytes = b""
    items: list[tuple[bool, Event]] = field(default_factory=list)
    call: Call | None = None


class FakeBackend(LLMBackend):
    """A fake Bedrock model. Settings: pacing (`first_token_ms`, `tps`) and a script file.

    Fixture-facing: `script(rules)`, `add_rule(...)`, `set_reply(...)`, `reset()`, the
    `first_token_ms` / `tps` attributes, `calls` (requests received, the newest `MAX_CALLS`)
    and `active` (calls still generating or hanging, for checking that cancellation cleaned
    up). Demo-facing: `controls()` and `set_controls(...)`.
    """

    kind = "fake"

    def __init__(
        self,
        *,
        first_token_ms: float | None = None,
        tps: float | None = None,
        script: str | Path | None = None,
        rules: Iterable[Rule | Mapping[str, Any]] = (),
    ) -> None:
        self.first_token_ms = first_token_ms
        self.tps = tps
        self._initial_speed = (first_token_ms, tps)
        self.calls: list[Call] = []
        self._numbered = itertools.count(1)
        self.throttle: Throttle | None = None
        self._rules = [parse_rule(r) for r in rules]
        self._script_path = Path(script) if script is not None else None
        self._file = Script()
        self._file_mtime: int | None = None
        self._active = 0
        if self._script_path is not None:
            self._reload()

    @property
    def active(self) -> int:
        """Model calls in progress: streams being generated and hanging calls."""
        return self._active

    def script(self, rules: Iterable[Rule | Mapping[str, Any]]) -> None:
        """Replace the run-time rules (checked before the script file's)."""
        self._rules = [parse_rule(r) for r in rules]

    def add_rule(self, rule: Rule | Mapping[str, Any] | None = None, **fields: Any) -> Rule:
        """Append one run-time rule, given as a Rule, a dict or keyword fields."""
        parsed = parse_rule(rule if rule is not None else fields)
        self._rules.append(parsed)
        return parsed

    def set_reply(self, reply: str | None = None, **fields: Any) -> Rule:
        """Answer every request (or those the conditions in `fields` match) with `reply`."""
        self._rules = []
        return self.add_rule(reply=reply, **fields)

    def reset(self) -> None:
        """Forget run-time rules, the throttle and recorded calls; restore the initial pacing."""
        self._rules = []
        self.calls = []
        self.throttle = None
        self.first_token_ms, self.tps = self._initial_speed

    def controls(self) -> dict[str, Any]:
        """The demo controls' current values: pacing (None = the script file's or 0) and throttle."""
        throttle = self.throttle
        return {
            "firstTokenMs": self.first_token_ms,
            "tps": self.tps,
            "throttle": None
            if throttle is None
            else {"afterTokens": throttle.after_tokens, "remaining": throttle.remaining},
        }

    def set_controls(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Apply demo controls given in `controls()`'s shape; keys left out keep their value.

        `firstTokenMs` (slow model) and `tps` (pacing) take a number >= 0 or null (back to the
        script file's setting, else 0); `throttle` takes `{"afterTokens": n, "times": k}`
        (the next k calls, default 1, fail with an in-stream ThrottlingException after n
        deltas) or null. Raises `ValueError` naming what is wrong; nothing changes then.
        """
        unknown = set(changes) - {"firstTokenMs", "tps", "throttle"}
        if unknown:
            raise ValueError(f"unknown controls {sorted(unknown)}; known: firstTokenMs, tps, throttle")
        pacing = {name: _number(changes[key], key) for key, name in _PACING.items() if key in changes}
        throttle = _throttle(changes["throttle"]) if "throttle" in changes else self.throttle
        for name, value in pacing.items():
            setattr(self, name, value)
        self.throttle = throttle
        return self.controls()

    def _reload(self) -> None:
        assert self._script_path is not None
        mtime = os.stat(self._script_path).st_mtime_ns
        if mtime != self._file_mtime:
            self._file = load_script(self._script_path)
            self._file_mtime = mtime

    def _file_rules(self) -> list[Rule]:
        if self._script_path is None:
            return []
        try:
            self._reload()
        except (OSError, ScriptError) as exc:
            log.warning("fake LLM script %s: %s", self._script_path, exc)
            raise BedrockError("InternalServerException", f"appsync-emu fake LLM script: {exc}", 500) from exc
        return self._file.rules

    def _record(self, operation: str, model_id: str, request: Mapping[str, Any], body: bytes | None) -> Call:
        call = Call(operation, model_id, dict(request), body, number=next(self._numbered))
        self.calls.append(call)
        if len(self.calls) > MAX_CALLS:
            del self.calls[:-MAX_CALLS]
        return call

    def _throttle_fault(self) -> Fault | None:
        """The throttle control's fault for this call, counting it down."""
        throttle = self.throttle
        if throttle is None:
            return None
        throttle.remaining -= 1
        if throttle.remaining <= 0:
            self.throttle = None
        return Fault(code=THROTTLE_CODE, after_tokens=throttle.after_tokens)

    def _plan(self, operation: str, model_id: str, request: Mapping[str, Any], body: bytes | None = None) -> _Plan:
        call = self._record(operation, model_id, request, body)
        try:
            _validate(model_id, request)
        except BedrockError as exc:
            call.end(exc.http_code)
            raise
        rule = next((r for r in [*self._rules, *self._file_rules()] if r.matches(model_id, request)), None)
        if rule is not None:
            rule.used += 1
        seed = hashlib.sha256(f"{model_id}\0{prompt_text(request)}".encode()).digest()
        text, tools = self._reply(rule, request, seed)
        stop = rule.stop_reason if rule and rule.stop_reason else ("tool_use" if tools else "end_turn")
        config = request.get("inferenceConfig") or {}
        for sequence in config.get("stopSequences") or []:
            joined = "".join(text)
            if sequence and sequence in joined:
                text, tools, stop = tokenize(joined[: joined.index(sequence)]), [], "stop_sequence"
        calls = [(t.id or _tool_id(seed, i, t.name), t.name, _fragments(t.input)) for i, t in enumerate(tools)]
        max_tokens = config.get("maxTokens")
        if max_tokens is not None and len(text) + sum(len(c[2]) for c in calls) > int(max_tokens):
            text, calls, stop = text[: int(max_tokens)], [], "max_tokens"
        fault = rule.fault if rule else None
        plan = _Plan(
            text=text,
            tools=calls,
            stop_reason=stop,
            fault=fault if fault is not None else self._throttle_fault(),
            first_token_s=self._setting(rule, "first_token_ms") / 1000.0,
            tps=self._setting(rule, "tps"),
            input_tokens=max(1, count_tokens(prompt_text(request))),
            seed=seed,
            call=call,
        )
        plan.items = _items(plan)
        return plan

    def _setting(self, rule: Rule | None, name: str) -> float:
        for value in (getattr(rule, name, None), getattr(self, name), getattr(self._file, name)):
            if value is not None:
                return float(value)
        return 0.0

    def _reply(self, rule: Rule | None, request: Mapping[str, Any], seed: bytes) -> tuple[list[str], list[ToolUse]]:
        if rule is None or not rule.has_reply:
            return tokenize(default_reply(request, seed)), []
        if rule.tokens is not None:
            return list(rule.tokens), rule.tool_use
        reply = rule.reply(request) if callable(rule.reply) else rule.reply
        return tokenize(reply or ""), rule.tool_use

    async def _before_stream(self, plan: _Plan) -> None:
        fault = plan.fault
        if fault is None or fault.after_tokens is not None:
            return
        if fault.code is None:
            await self._hang()
            return
        error = BedrockError(fault.code, fault.text, fault.status)
        if plan.call is not None:
            plan.call.end(error.http_code)
        raise error

    async def _hang(self) -> None:
        self._active += 1
        try:
            await asyncio.get_running_loop().create_future()
        finally:
            self._active -= 1

    async def _in_stream(self, fault: Fault | None, sent: int, final: bool = False) -> None:
        if fault is None or fault.after_tokens is None:
            return
        if fault.after_tokens == sent or (final and fault.after_tokens > sent):
            if fault.code is None:
                await asyncio.get_running_loop().create_future()
                return
            raise BedrockError(fault.code, fault.text, fault.status)

    async def _events(self, plan: _Plan) -> EventStream:
        self._active += 1
        call = plan.call
        outcome = "cancelled"
        try:
            started = time.monotonic()
            yield {"messageStart": {"role": "assistant"}}
            sent = 0
            for paced, event in plan.items:
                if paced:
                    await self._in_stream(plan.fault, sent)
                    delay = started + plan.first_token_s + (sent / plan.tps if plan.tps else 0.0) - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    elif sent % _YIELD_EVERY == 0:
                        await asyncio.sleep(0)
                    sent += 1
                    if call is not None:
                        call.output_tokens = sent
                        if call.first_token_at is None:
                            call.first_token_at = wall_clock()
                yield event
            await self._in_stream(plan.fault, sent, final=True)
            outcome = plan.stop_reason
            yield {"messageStop": {"stopReason": plan.stop_reason}}
            usage = {
                "inputTokens": plan.input_tokens,
                "outputTokens": sent,
                "totalTokens": plan.input_tokens + sent,
            }
            latency = round((time.monotonic() - started) * 1000)
            yield {"metadata": {"usage": usage, "metrics": {"latencyMs": latency}}}
        except BedrockError as exc:
            outcome = exc.http_code
            raise
        finally:
            self._active -= 1
            if call is not None:
                call.end(outcome)

    async def converse(self, model_id: str, request: Mapping[str, Any]) -> dict[str, Any]:
        plan = self._plan("converse", model_id, request)
        await self._before_stream(plan)
        try:
            return await collect(self._events(plan))
        except BedrockError as exc:
            raise BedrockError(exc.http_code, exc.message, exc.status) from None

    async def converse_stream(self, model_id: str, request: Mapping[str, Any]) -> EventStream:
        plan = self._plan("converse_stream", model_id, request)
        await self._before_stream(plan)
        return self._events(plan)

    def _native(self, operation: str, model_id: str, body: bytes) -> tuple[Family, dict[str, Any], _Plan | None]:
        native = parse_body(body)
        family = family_for(model_id, native)
        if isinstance(family, TitanEmbed):
            self._record(operation, model_id, {}, body).end("embedded")
            return family, native, None
        return family, native, self._plan(operation, model_id, family.to_converse(native), body)

    async def invoke_model(
        self, model_id: str, body: bytes, content_type: str | None = None, accept: str | None = None
    ) -> ModelResponse:
        started = time.monotonic()
        family, native, plan = self._native("invoke_model", model_id, body)
        if plan is None:
            assert isinstance(family, TitanEmbed)
            answer = family.embed(native, model_id)
            counts = (answer["inputTextTokenCount"], 0)
        else:
            await self._before_stream(plan)
            try:
                result = await collect(self._events(plan))
            except BedrockError as exc:
                raise BedrockError(exc.http_code, exc.message, exc.status) from None
            ctx = NativeContext(model_id, plan.input_tokens, _message_id(plan.seed))
            answer = family.response(result, ctx)
            counts = (result["usage"]["inputTokens"], result["usage"]["outputTokens"])
        headers = {
            "X-Amzn-Bedrock-Input-Token-Count": str(counts[0]),
            "X-Amzn-Bedrock-Output-Token-Count": str(counts[1]),
            "X-Amzn-Bedrock-Invocation-Latency": str(round((time.monotonic() - started) * 1000)),
        }
        return ModelResponse(json.dumps(answer).encode(), "application/json", headers)

    async def invoke_model_stream(
        self, model_id: str, body: bytes, content_type: str | None = None, accept: str | None = None
    ) -> ModelStream:
        family, _native, plan = self._native("invoke_model_stream", model_id, body)
        if plan is None or not family.streams:
            raise validation_error(f"The model {model_id} does not support response streaming.")
        await self._before_stream(plan)
        ctx = NativeContext(model_id, plan.input_tokens, _message_id(plan.seed))
        return ModelStream("application/json", _native_chunks(family, ctx, self._events(plan)))


async def _native_chunks(family: Family, ctx: NativeContext, events: EventStream) -> ChunkStream:
    try:
        async for event in events:
            ctx.saw(event)
            for chunk in family.chunks(event, ctx):
                yield json.dumps(chunk, separators=(",", ":")).encode()
    finally:
        await events.aclose()


_PACING = {"firstTokenMs": "first_token_ms", "tps": "tps"}


def _number(value: Any, name: str) -> float | None:
    """A control's number (>= 0) or None; bools and strings are refused."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0 or value == float("inf"):
        raise ValueError(f"{name} must be a number >= 0 or null, got {value!r}")
    return float(value)


def _throttle(value: Any) -> Throttle | None:
    """The throttle control from `{"afterTokens": n, "times": k}` (k defaults to 1), or None."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValueError(f'throttle must be {{"afterTokens": n, "times": k}} or null, got {value!r}')
    unknown = set(value) - {"afterTokens", "times"}
    if unknown:
        raise ValueError(f"unknown throttle keys {sorted(unknown)}; known: afterTokens, times")
    if "afterTokens" not in value:
        raise ValueError("throttle needs afterTokens: the number of tokens streamed before the ThrottlingException")
    after, times = value["afterTokens"], value.get("times", 1)
    for name, number in (("throttle.afterTokens", after), ("throttle.times", times)):
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            raise ValueError(f"{name} must be a whole number >= 0, got {number!r}")
    if times == 0:
        return None
    return Throttle(after_tokens=after, remaining=times)


def _items(plan: _Plan) -> list[tuple[bool, Event]]:
    """The content events of a reply, each flagged when it is a paced delta (a token)."""
    items: list[tuple[bool, Event]] = []
    index = 0
    if plan.text:
        items.extend((True, {"contentBlockDelta": {"delta": {"text": t}, "contentBlockIndex": 0}}) for t in plan.text)
        items.append((False, {"contentBlockStop": {"contentBlockIndex": 0}}))
        index = 1
    for tool_id, name, fragments in plan.tools:
        start = {"start": {"toolUse": {"toolUseId": tool_id, "name": name}}, "contentBlockIndex": index}
        items.append((False, {"contentBlockStart": start}))
        for fragment in fragments:
            delta = {"delta": {"toolUse": {"input": fragment}}, "contentBlockIndex": index}
            items.append((True, {"contentBlockDelta": delta}))
        items.append((False, {"contentBlockStop": {"contentBlockIndex": index}}))
        index += 1
    return items


def default_reply(request: Mapping[str, Any], seed: bytes) -> str:
    """The deterministic reply: quotes the prompt, then 20-80 tokens of filler chosen by `seed`."""
    rng = random.Random(seed)
    tool_result = last_tool_result(request)
    words = (last_user_text(request) or tool_result or "").replace('"', "'").split()
    topic = " ".join(words[:12]) + ("..." if len(words) > 12 else "")
    if not last_user_text(request) and tool_result is not None:
        opener = f'Based on the tool result "{topic}", here is the answer.'
    else:
        opener = rng.choice(_OPENERS).format(topic=topic)
    target = rng.randint(20, 64)
    parts = [opener]
    for sentence in rng.sample(_FILLER, len(_FILLER)):
        if count_tokens(" ".join(parts)) >= target:
            break
        parts.append(sentence)
    text = " ".join(parts)
    tokens = tokenize(text)
    return text if len(tokens) <= 80 else "".join(tokens[:80])


def _validate(model_id: str, request: Mapping[str, Any]) -> None:
    if not model_id:
        raise validation_error("The provided model identifier is invalid.")
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages or messages[0].get("role") != "user":
        raise validation_error(
            "A conversation must start with a user message. "
            "Try again with a conversation that starts with a user message."
        )
    roles = [m.get("role") for m in messages]
    if any(a == b for a, b in itertools.pairwise(roles)) or set(roles) - {"user", "assistant"}:
        raise validation_error(
            "A conversation must alternate between user and assistant roles. "
            "Make sure the conversation alternates between user and assistant roles and try again."
        )
    uses_tools = any("toolUse" in b or "toolResult" in b for m in messages for b in m.get("content", []))
    if uses_tools and not request.get("toolConfig"):
        raise validation_error("The toolConfig field must be defined when using toolUse and toolResult content blocks.")


def _fragments(tool_input: Any) -> list[str]:
    """Tool input JSON in the string fragments a model streams, 16 characters each."""
    text = json.dumps(tool_input)
    return [text[i : i + _FRAGMENT] for i in range(0, len(text), _FRAGMENT)]


def _tool_id(seed: bytes, index: int, name: str) -> str:
    digest = hashlib.sha256(seed + f"{index}:{name}".encode()).digest()
    return "tooluse_" + base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")


def _message_id(seed: bytes) -> str:
    return "msg_bdrk_" + base64.b32encode(hashlib.sha256(seed).digest()[:15]).decode().lower()
