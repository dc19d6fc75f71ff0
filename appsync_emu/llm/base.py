"""The one interface every LLM backend implements, and the error type they all raise.

Requests, responses and events use Bedrock Converse's JSON shapes: the request dict is
what boto3 sends for `converse` / `converse_stream` (without `modelId`), responses and
stream events are what botocore returns, except that blob members are base64 strings so
everything stays JSON-serialisable. The interface knows nothing about HTTP: the wire
routes (`wire.py`) and the AMAZON_BEDROCK_RUNTIME data source both sit on top of it.

Streaming calls are two-phase: awaiting `converse_stream(...)` either raises a
`BedrockError` (the request is rejected before any event: an HTTP error on the wire) or
returns an async generator whose iteration may raise a `BedrockError` later (an in-stream
exception event on the wire). Closing the generator early cancels the model call.
"""

from __future__ import annotations

import abc
import json
from collections.abc import AsyncGenerator, Mapping
from typing import Any, ClassVar, NamedTuple

#: HTTP status of each Bedrock Runtime error code, from botocore's service model.
ERROR_STATUS: dict[str, int] = {
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "ThrottlingException": 429,
    "ModelTimeoutException": 408,
    "InternalServerException": 500,
    "ServiceUnavailableException": 503,
    "ValidationException": 400,
    "ServiceQuotaExceededException": 400,
    "ModelNotReadyException": 429,
    "ModelErrorException": 424,
    "ModelStreamErrorException": 424,
}

Event = dict[str, Any]
EventStream = AsyncGenerator[Event, None]
ChunkStream = AsyncGenerator[bytes, None]


class BedrockError(Exception):
    """A Bedrock Runtime error with its code (either spelling), message and HTTP status.

    Raised before a stream starts it becomes an HTTP error (`x-amzn-ErrorType: <http_code>`);
    raised while iterating it becomes an in-stream exception event (`<stream_code>`).
    """

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status if status is not None else ERROR_STATUS.get(self.http_code, 500)

    @property
    def http_code(self) -> str:
        """The code as an HTTP error names it: `ThrottlingException`."""
        return self.code[:1].upper() + self.code[1:]

    @property
    def stream_code(self) -> str:
        """The code as an event-stream union member names it: `throttlingException`."""
        return self.code[:1].lower() + self.code[1:]


def validation_error(message: str) -> BedrockError:
    """A 400 ValidationException, the error for every malformed request."""
    return BedrockError("ValidationException", message, 400)


class ModelResponse(NamedTuple):
    """An InvokeModel answer: the model-native body, its content type and extra HTTP headers."""

    body: bytes
    content_type: str
    headers: dict[str, str]


class ModelStream(NamedTuple):
    """An InvokeModelWithResponseStream answer: content type and the model-native chunks."""

    content_type: str
    chunks: ChunkStream


class LLMBackend(abc.ABC):
    """Converse, ConverseStream, InvokeModel and InvokeModelWithResponseStream, async."""

    kind: ClassVar[str]

    @abc.abstractmethod
    async def converse(self, model_id: str, request: Mapping[str, Any]) -> dict[str, Any]:
        """One whole Converse response: `{output, stopReason, usage, metrics}`."""

    @abc.abstractmethod
    async def converse_stream(self, model_id: str, request: Mapping[str, Any]) -> EventStream:
        """Accept the request (or raise) and return its ConverseStream events, one-key dicts."""

    @abc.abstractmethod
    async def invoke_model(
        self, model_id: str, body: bytes, content_type: str | None = None, accept: str | None = None
    ) -> ModelResponse:
        """One model-native response body."""

    @abc.abstractmethod
    async def invoke_model_stream(
        self, model_id: str, body: bytes, content_type: str | None = None, accept: str | None = None
    ) -> ModelStream:
        """Accept the request (or raise) and return the model-native chunks (the `chunk.bytes`)."""

    async def aclose(self) -> None:  # noqa: B027
        """Release clients and threads; the default holds none."""


async def collect(events: EventStream) -> dict[str, Any]:
    """Fold ConverseStream events into the Converse response they stand for."""
    content: dict[int, dict[str, Any]] = {}
    tool_inputs: dict[int, list[str]] = {}
    result: dict[str, Any] = {}
    try:
        async for event in events:
            (name, body), *_ = event.items()
            if name == "contentBlockStart" and "toolUse" in body["start"]:
                content[body["contentBlockIndex"]] = {"toolUse": dict(body["start"]["toolUse"])}
                tool_inputs[body["contentBlockIndex"]] = []
            elif name == "contentBlockDelta":
                index, delta = body["contentBlockIndex"], body["delta"]
                if "text" in delta:
                    block = content.setdefault(index, {"text": ""})
                    block["text"] += delta["text"]
                elif "toolUse" in delta:
                    tool_inputs.setdefault(index, []).append(delta["toolUse"]["input"])
            elif name == "messageStop":
                result["stopReason"] = body["stopReason"]
            elif name == "metadata":
                result.update(body)
    finally:
        await events.aclose()
    for index, parts in tool_inputs.items():
        text = "".join(parts)
        content[index]["toolUse"]["input"] = json.loads(text) if text else {}
    message = {"role": "assistant", "content": [content[i] for i in sorted(content)]}
    return {"output": {"message": message}, **result}
